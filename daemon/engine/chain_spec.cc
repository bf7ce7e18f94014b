#include "engine/chain_spec.h"

#include <cctype>
#include <set>

#include "common/json_fields.h"
#include "engine/pin_layout.h"

#include <sfc/abi.h>

namespace sfc {
namespace {

using json_fields::CheckMembers;
using json_fields::GetString;
using json_fields::Quoted;
using json_fields::WrongType;
using nlohmann::json;

Status ParseName(const json& obj, const std::string& path, std::string* out) {
  SFC_RETURN_IF_ERROR(GetString(obj, path, "name", true, out));
  if (!IsSafeName(*out))
    return InvalidArgument(path + "/name: " + Quoted(*out) +
                           " is not a safe name (1-32 of A-Z a-z 0-9 _ -, starting with a "
                           "letter or digit)");
  return Status::Ok();
}

Status ParseInterface(const json& v, const std::string& path, InterfaceSpec* out) {
  if (v.is_string()) {  // shorthand: "eth1"
    out->name = v.get<std::string>();
  } else if (v.is_object()) {
    SFC_RETURN_IF_ERROR(CheckMembers(v, path, {"name", "mode"}));
    SFC_RETURN_IF_ERROR(GetString(v, path, "name", true, &out->name));
    std::string mode = "native";
    SFC_RETURN_IF_ERROR(GetString(v, path, "mode", false, &mode));
    if (mode == "native")
      out->mode = XdpMode::kNative;
    else if (mode == "generic")
      out->mode = XdpMode::kGeneric;
    else
      return InvalidArgument(path + "/mode: " + Quoted(mode) + " is not one of native, generic");
  } else {
    return WrongType(path, "object or string", v);
  }
  // Linux interface names (the kernel's dev_valid_name): 1-15 bytes, not "."
  // or "..", no '/', ':' or whitespace; and no NUL, which would cut the name
  // short in every system call.
  const std::string& n = out->name;
  bool ok = !n.empty() && n.size() < 16 && n != "." && n != "..";
  for (char c : n)
    ok &= c != '/' && c != ':' && c != '\0' && !std::isspace(static_cast<unsigned char>(c));
  if (!ok)
    return InvalidArgument(path + (v.is_string() ? "" : "/name") + ": " + Quoted(n) +
                           " is not a valid interface name");
  return Status::Ok();
}

Status ParseEgress(const json& v, const std::string& path, EgressSpec* out) {
  if (!v.is_object()) return WrongType(path, "object", v);
  SFC_RETURN_IF_ERROR(CheckMembers(v, path, {"action", "port"}));
  std::string action = "pass";
  SFC_RETURN_IF_ERROR(GetString(v, path, "action", false, &action));
  if (action == "pass")
    out->action = EgressAction::kPass;
  else if (action == "tx")
    out->action = EgressAction::kTx;
  else if (action == "redirect")
    out->action = EgressAction::kRedirect;
  else if (action == "fib")
    out->action = EgressAction::kFib;
  else
    return InvalidArgument(path + "/action: " + Quoted(action) +
                           " is not one of pass, tx, redirect, fib");
  SFC_RETURN_IF_ERROR(GetString(v, path, "port", false, &out->port));
  if (out->action == EgressAction::kRedirect && out->port.empty())
    return InvalidArgument(path + "/port: required when action is \"redirect\"");
  if (out->action != EgressAction::kRedirect && !out->port.empty())
    return InvalidArgument(path + "/port: only valid when action is \"redirect\"");
  return Status::Ok();
}

}  // namespace

std::string_view ToString(XdpMode m) { return m == XdpMode::kNative ? "native" : "generic"; }
std::string_view ToString(FailPolicy p) { return p == FailPolicy::kDrop ? "drop" : "pass"; }
std::string_view ToString(EgressAction a) {
  switch (a) {
    case EgressAction::kPass:
      return "pass";
    case EgressAction::kTx:
      return "tx";
    case EgressAction::kRedirect:
      return "redirect";
    case EgressAction::kFib:
      return "fib";
  }
  return "?";
}

bool IsSafeName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

void VnfRegistry::Add(std::unique_ptr<VnfModule> module) {
  std::string type(module->type());
  modules_[type] = std::move(module);
}

VnfModule* VnfRegistry::Find(std::string_view type) const {
  auto it = modules_.find(type);
  return it == modules_.end() ? nullptr : it->second.get();
}

std::vector<std::string> VnfRegistry::Types() const {
  std::vector<std::string> out;
  for (const auto& [t, _] : modules_) out.push_back(t);
  return out;
}

json ChainSpec::ToJson() const {
  json j;
  j["name"] = name;
  j["interfaces"] = json::array();
  for (const auto& i : interfaces)
    j["interfaces"].push_back({{"name", i.name}, {"mode", std::string(ToString(i.mode))}});
  j["vnfs"] = json::array();
  for (const auto& v : vnfs)
    j["vnfs"].push_back({{"name", v.name}, {"type", v.type}, {"config", v.config}});
  j["egress"] = {{"action", std::string(ToString(egress.action))}};
  if (!egress.port.empty()) j["egress"]["port"] = egress.port;
  j["fail_policy"] = std::string(ToString(fail_policy));
  j["timing"] = timing;
  return j;
}

Result<ChainSpec> ParseChainSpecText(std::string_view text, const VnfRegistry& registry) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    // e.what() carries the byte position: "[json.exception.parse_error.101] parse error at line 3,
    // column 5: ..." Not only parse_error: a number no double holds ("1e999") is an
    // out_of_range.406; uncaught, it took sfcd down (found by fuzzing).
    return InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  return ParseChainSpec(doc, registry);
}

Result<ChainSpec> ParseChainSpec(const json& doc, const VnfRegistry& registry) {
  if (!doc.is_object()) return WrongType("/", "object", doc);
  SFC_RETURN_IF_ERROR(CheckMembers(
      doc, "",
      {"$schema", "name", "description", "interfaces", "vnfs", "egress", "fail_policy", "timing"}));
  ChainSpec spec;
  SFC_RETURN_IF_ERROR(ParseName(doc, "", &spec.name));

  auto ifs = doc.find("interfaces");
  if (ifs == doc.end()) return InvalidArgument("/interfaces: required");
  if (!ifs->is_array()) return WrongType("/interfaces", "array", *ifs);
  if (ifs->empty()) return InvalidArgument("/interfaces: at least one interface is required");
  std::set<std::string> if_names;
  for (size_t i = 0; i < ifs->size(); ++i) {
    std::string path = "/interfaces/" + std::to_string(i);
    InterfaceSpec is;
    SFC_RETURN_IF_ERROR(ParseInterface((*ifs)[i], path, &is));
    if (!if_names.insert(is.name).second)
      return InvalidArgument(path + ": interface " + Quoted(is.name) + " is listed twice");
    spec.interfaces.push_back(std::move(is));
  }

  auto vnfs = doc.find("vnfs");
  if (vnfs != doc.end()) {
    if (!vnfs->is_array()) return WrongType("/vnfs", "array", *vnfs);
    if (vnfs->size() > SFC_MAX_VNFS)
      return InvalidArgument("/vnfs: " + std::to_string(vnfs->size()) + " VNFs, at most " +
                             std::to_string(SFC_MAX_VNFS) +
                             " fit in one chain (the kernel allows 33 tail calls per packet)");
    std::set<std::string> names;
    for (size_t i = 0; i < vnfs->size(); ++i) {
      const json& v = (*vnfs)[i];
      std::string path = "/vnfs/" + std::to_string(i);
      if (!v.is_object()) return WrongType(path, "object", v);
      SFC_RETURN_IF_ERROR(CheckMembers(v, path, {"name", "type", "config"}));
      VnfSpec vs;
      SFC_RETURN_IF_ERROR(ParseName(v, path, &vs.name));
      if (PinLayout::IsReservedVnfName(vs.name))
        return InvalidArgument(path + "/name: \"" + vs.name +
                               "\" is reserved for a chain-level pin (progs, root, stats, pktctx, "
                               "config, latency, tx_port, events, monitor, monitor_stats, entry*)");
      if (!names.insert(vs.name).second)
        return InvalidArgument(path + "/name: duplicate VNF name " + Quoted(vs.name));
      SFC_RETURN_IF_ERROR(GetString(v, path, "type", true, &vs.type));
      VnfModule* module = registry.Find(vs.type);
      if (!module) {
        std::string known;
        for (const auto& t : registry.Types()) known += (known.empty() ? "" : ", ") + t;
        return InvalidArgument(path + "/type: unknown VNF type " + Quoted(vs.type) +
                               " (known: " + known + ")");
      }
      if (auto c = v.find("config"); c != v.end()) {
        if (!c->is_object()) return WrongType(path + "/config", "object", *c);
        vs.config = *c;
      }
      SFC_RETURN_IF_ERROR(module->Validate(vs.config, path + "/config"));
      spec.vnfs.push_back(std::move(vs));
    }
  }

  if (auto e = doc.find("egress"); e != doc.end())
    SFC_RETURN_IF_ERROR(ParseEgress(*e, "/egress", &spec.egress));

  std::string policy = "drop";
  SFC_RETURN_IF_ERROR(GetString(doc, "", "fail_policy", false, &policy));
  if (policy == "drop")
    spec.fail_policy = FailPolicy::kDrop;
  else if (policy == "pass")
    spec.fail_policy = FailPolicy::kPass;
  else
    return InvalidArgument("/fail_policy: " + Quoted(policy) + " is not one of drop, pass");

  SFC_RETURN_IF_ERROR(json_fields::GetBool(doc, "", "timing", &spec.timing));
  return spec;
}

}  // namespace sfc
