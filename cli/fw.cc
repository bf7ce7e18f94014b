#include "fw.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "sfc/v1/firewall.grpc.pb.h"

namespace sfc::cli {
namespace {

using nlohmann::json;

constexpr const char* kFwUsage = R"(usage: sfcctl fw COMMAND CHAIN VNF [ARGS...] [-o table|json]

Edits the rules of a running firewall VNF. Every change builds the whole new
rule set beside the running one and switches in one step; it is saved in the
chain's spec. Invalid rules are refused with the offending field named, and
nothing changes.

commands:
  list (or list-rules) CHAIN VNF [--offset N] [--limit N]
                                     rules in order, with packet/byte counters
                                     (at most 10000 per call unless --limit)
  add-rule CHAIN VNF [--before ID] (-f FILE | RULE FLAGS)
                                     FILE: a rule object or an array of rules,
                                     as in a chain file ("-" for stdin)
  delete-rule CHAIN VNF ID [ID...]
  replace (or replace-rules) CHAIN VNF -f FILE [--default allow|drop]
                                     FILE: an array of rules, or a firewall
                                     config object with "rules" (and "default")
  set-default CHAIN VNF allow|drop

rule flags (add-rule):
  --id ID --src CIDR --dst CIDR --proto tcp|udp|icmp|icmpv6|any
  --sport P[-Q] --dport P[-Q] --tcp-flags VALUE/MASK (e.g. syn/syn,ack)
  --icmp-type N --state new,established,related,invalid --iif IFNAME
  --app NAME --app-category NAME   (nDPI names, from a dpi VNF earlier in
                                    the chain; sfcctl dpi protocols lists them)
  --action allow|drop|reject   (required)
)";

std::string Scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// A chain-file rule object as a message; the server validates the values and
// names the bad field, so only the shape is checked here.
bool RuleFromJson(const json& j, const std::string& where, v1::FirewallRule* r, std::string* err) {
  if (!j.is_object()) {
    *err = where + ": a rule must be an object";
    return false;
  }
  for (const auto& [k, v] : j.items()) {
    if (k == "id")
      r->set_id(Scalar(v));
    else if (k == "src")
      r->set_src(Scalar(v));
    else if (k == "dst")
      r->set_dst(Scalar(v));
    else if (k == "proto")
      r->set_proto(Scalar(v));
    else if (k == "sport")
      r->set_sport(Scalar(v));
    else if (k == "dport")
      r->set_dport(Scalar(v));
    else if (k == "tcp_flags") {
      if (v.is_object()) {
        std::string value = v.contains("value") ? Scalar(v["value"]) : "";
        r->set_tcp_flags((value == "0" ? "" : value) + "/" +
                         (v.contains("mask") ? Scalar(v["mask"]) : ""));
      } else {
        r->set_tcp_flags(Scalar(v));
      }
    } else if (k == "icmp_type") {
      if (!v.is_number_unsigned()) {
        *err = where + "/icmp_type: must be an integer 0-255";
        return false;
      }
      r->set_icmp_type(v.get<uint32_t>());
    } else if (k == "state") {
      if (v.is_string())
        r->add_state(v.get<std::string>());
      else if (v.is_array())
        for (const auto& s : v) r->add_state(Scalar(s));
      else {
        *err = where + "/state: must be a state or a list of states";
        return false;
      }
    } else if (k == "iif")
      r->set_iif(Scalar(v));
    else if (k == "app")
      r->set_app(Scalar(v));
    else if (k == "app_category")
      r->set_app_category(Scalar(v));
    else if (k == "action")
      r->set_action(Scalar(v));
    else {
      *err = where + "/" + k + ": unknown field";
      return false;
    }
  }
  return true;
}

bool RulesFromFile(const std::string& path,
                   google::protobuf::RepeatedPtrField<v1::FirewallRule>* out,
                   std::string* default_action, std::string* err) {
  std::string text;
  if (!ReadFile(path, &text)) {
    *err = "-f: cannot read " + path;
    return false;
  }
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    *err = path + ": not valid JSON";
    return false;
  }
  std::string where = "";
  if (doc.is_object() && doc.contains("rules")) {
    if (default_action && doc.contains("default")) *default_action = Scalar(doc["default"]);
    doc = doc["rules"];
    where = "/rules";
  } else if (doc.is_object()) {
    doc = json::array({doc});
  }
  if (!doc.is_array()) {
    *err = path + ": expected a rule, an array of rules or an object with \"rules\"";
    return false;
  }
  for (size_t i = 0; i < doc.size(); ++i)
    if (!RuleFromJson(doc[i], path + ":" + where + "/" + std::to_string(i), out->Add(), err))
      return false;
  return true;
}

std::string Match(const v1::FirewallRule& r) {
  std::string m;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) m += (m.empty() ? "" : " ") + k + "=" + v;
  };
  add("src", r.src());
  add("dst", r.dst());
  add("proto", r.proto());
  add("sport", r.sport());
  add("dport", r.dport());
  add("flags", r.tcp_flags());
  if (r.has_icmp_type()) add("icmp-type", std::to_string(r.icmp_type()));
  std::string states;
  for (const auto& s : r.state()) states += (states.empty() ? "" : ",") + s;
  add("state", states);
  add("iif", r.iif());
  add("app", r.app());
  add("app-category", r.app_category());
  return m.empty() ? "*" : m;
}

int Changed(Context& ctx, const v1::RulesChanged& resp) {
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
  std::printf("%u rules active (%llu classifier entries)\n", resp.rule_count(),
              static_cast<unsigned long long>(resp.match_entries()));
  for (const auto& n : resp.unknown_interfaces())
    std::fprintf(stderr, "sfcctl: warning: interface %s does not exist; its rules match nothing\n",
                 n.c_str());
  return kExitOk;
}

template <typename Req>
void Target(const Args& a, Req* req) {
  req->set_chain(a.positional()[1]);
  req->set_vnf(a.positional()[2]);
}

}  // namespace

int RunFw(Context& ctx, const std::vector<std::string>& argv) {
  Args a;
  std::string err;
  const std::vector<std::string> value_flags = {
      "-f",          "--before", "--default", "--offset", "--limit",        "--id",
      "--src",       "--dst",    "--proto",   "--sport",  "--dport",        "--tcp-flags",
      "--icmp-type", "--state",  "--iif",     "--app",    "--app-category", "--action"};
  if (!Args::Parse(argv, value_flags, {"--help", "-h"}, &a, &err)) return UsageError(kFwUsage, err);
  if (a.Has("--help") || a.Has("-h")) {
    std::fputs(kFwUsage, stdout);
    return kExitOk;
  }
  const auto& pos = a.positional();
  if (pos.size() < 3) return UsageError(kFwUsage, "expected COMMAND CHAIN VNF");
  // list-rules / replace-rules are accepted as long forms of list / replace.
  const std::string cmd = pos[0] == "list-rules"      ? "list"
                          : pos[0] == "replace-rules" ? "replace"
                                                      : pos[0];
  auto stub = v1::FirewallService::NewStub(ctx.Channel());
  grpc::ClientContext cc;
  SetDeadline(&cc, 120);

  if (cmd == "list") {
    if (pos.size() != 3) return UsageError(kFwUsage, "list takes CHAIN VNF");
    v1::ListRulesRequest req;
    Target(a, &req);
    for (const char* flag : {"--offset", "--limit"}) {
      if (!a.Has(flag)) continue;
      const std::string v = a.Get(flag);
      char* end = nullptr;
      unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end || n > 0xffffffffUL)
        return UsageError(kFwUsage, std::string(flag) + ": \"" + v + "\" is not a count");
      std::string_view(flag) == "--offset" ? req.set_offset(static_cast<uint32_t>(n))
                                           : req.set_limit(static_cast<uint32_t>(n));
    }
    v1::ListRulesResponse resp;
    auto st = stub->ListRules(&cc, req, &resp);
    if (!st.ok()) return ReportError("fw list", st);
    if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : resp.rules())
      rows.push_back({std::to_string(r.index()), r.rule().id(), r.rule().action(), Match(r.rule()),
                      std::to_string(r.packets()), std::to_string(r.bytes())});
    rows.push_back({"-", "(default)", resp.default_action(), "*", "", ""});
    PrintTable({"#", "ID", "ACTION", "MATCH", "PACKETS", "BYTES"}, rows);
    if (static_cast<uint32_t>(resp.rules_size()) < resp.total())
      std::printf("(%d of %u rules; --offset/--limit for more)\n", resp.rules_size(), resp.total());
    return kExitOk;
  }
  if (cmd == "add-rule") {
    if (pos.size() != 3)
      return UsageError(kFwUsage, "add-rule takes CHAIN VNF and -f FILE or rule flags");
    v1::AddRulesRequest req;
    Target(a, &req);
    req.set_before(a.Get("--before"));
    if (a.Has("-f")) {
      if (!RulesFromFile(a.Get("-f"), req.mutable_rules(), nullptr, &err))
        return UsageError(kFwUsage, err);
    } else {
      if (!a.Has("--action")) return UsageError(kFwUsage, "--action is required (or -f FILE)");
      auto* r = req.add_rules();
      r->set_id(a.Get("--id"));
      r->set_src(a.Get("--src"));
      r->set_dst(a.Get("--dst"));
      r->set_proto(a.Get("--proto"));
      r->set_sport(a.Get("--sport"));
      r->set_dport(a.Get("--dport"));
      r->set_tcp_flags(a.Get("--tcp-flags"));
      if (a.Has("--icmp-type")) {
        const std::string t = a.Get("--icmp-type");
        char* end = nullptr;
        unsigned long v = std::strtoul(t.c_str(), &end, 10);
        if (t.empty() || *end || v > 255)
          return UsageError(kFwUsage, "--icmp-type: \"" + t + "\" is not 0-255");
        r->set_icmp_type(static_cast<uint32_t>(v));
      }
      std::stringstream states(a.Get("--state"));
      for (std::string s; std::getline(states, s, ',');)
        if (!s.empty()) r->add_state(s);
      r->set_iif(a.Get("--iif"));
      r->set_app(a.Get("--app"));
      r->set_app_category(a.Get("--app-category"));
      r->set_action(a.Get("--action"));
    }
    v1::RulesChanged resp;
    auto st = stub->AddRules(&cc, req, &resp);
    if (!st.ok()) return ReportError("fw add-rule", st);
    return Changed(ctx, resp);
  }
  if (cmd == "delete-rule") {
    if (pos.size() < 4) return UsageError(kFwUsage, "delete-rule takes CHAIN VNF ID [ID...]");
    v1::DeleteRulesRequest req;
    Target(a, &req);
    for (size_t i = 3; i < pos.size(); ++i) req.add_ids(pos[i]);
    v1::RulesChanged resp;
    auto st = stub->DeleteRules(&cc, req, &resp);
    if (!st.ok()) return ReportError("fw delete-rule", st);
    return Changed(ctx, resp);
  }
  if (cmd == "replace") {
    if (pos.size() != 3 || !a.Has("-f"))
      return UsageError(kFwUsage, "replace takes CHAIN VNF -f FILE");
    v1::ReplaceRulesRequest req;
    Target(a, &req);
    std::string def;
    if (!RulesFromFile(a.Get("-f"), req.mutable_rules(), &def, &err))
      return UsageError(kFwUsage, err);
    req.set_default_action(a.Has("--default") ? a.Get("--default") : def);
    v1::RulesChanged resp;
    auto st = stub->ReplaceRules(&cc, req, &resp);
    if (!st.ok()) return ReportError("fw replace", st);
    return Changed(ctx, resp);
  }
  if (cmd == "set-default") {
    if (pos.size() != 4) return UsageError(kFwUsage, "set-default takes CHAIN VNF allow|drop");
    v1::SetDefaultRequest req;
    Target(a, &req);
    req.set_action(pos[3]);
    v1::RulesChanged resp;
    auto st = stub->SetDefault(&cc, req, &resp);
    if (!st.ok()) return ReportError("fw set-default", st);
    return Changed(ctx, resp);
  }
  return UsageError(kFwUsage, "unknown command \"" + cmd + "\"");
}

}  // namespace sfc::cli
