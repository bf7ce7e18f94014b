#include "efw/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "dpi/app_catalog.h"
#include "efw/efw.h"

namespace sfc::efw {

using nlohmann::json;

std::string_view ToString(Action a) {
  switch (a) {
    case Action::kAllow:
      return "allow";
    case Action::kDrop:
      return "drop";
    case Action::kReject:
      return "reject";
  }
  return "?";
}

std::string_view ToString(Proto p) {
  switch (p) {
    case Proto::kAny:
      return "any";
    case Proto::kTcp:
      return "tcp";
    case Proto::kUdp:
      return "udp";
    case Proto::kIcmp:
      return "icmp";
    case Proto::kIcmpv6:
      return "icmpv6";
  }
  return "?";
}

namespace {

// Pointer of a member of the object at `path` (RFC 6901 escaping).
std::string Member(const std::string& path, std::string_view key) {
  std::string out = path + "/";
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

Status Bad(const std::string& path, const std::string& what) {
  return InvalidArgument(path + ": " + what);
}

Result<uint32_t> ParseUint(const json& v, const std::string& path, uint64_t min, uint64_t max) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) return Bad(path, "must be an integer");
  if (v.is_number_integer() && v.get<int64_t>() < 0) return Bad(path, "must not be negative");
  uint64_t n = v.get<uint64_t>();
  if (n < min || n > max)
    return Bad(path, std::to_string(n) + " is out of range [" + std::to_string(min) + ", " +
                         std::to_string(max) + "]");
  return static_cast<uint32_t>(n);
}

Status CheckKeys(const json& obj, const std::string& path,
                 std::initializer_list<std::string_view> known) {
  for (const auto& [k, _] : obj.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      return Bad(Member(path, k), "unknown field (known: " + list + ")");
    }
  }
  return Status::Ok();
}

bool ParseNumber(std::string_view s, uint32_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

Result<PortRange> ParsePorts(const json& v, const std::string& path) {
  if (v.is_number()) {
    SFC_ASSIGN_OR_RETURN(uint32_t p, ParseUint(v, path, 0, 65535));
    return PortRange{static_cast<uint16_t>(p), static_cast<uint16_t>(p)};
  }
  if (!v.is_string()) return Bad(path, "must be a port (0-65535) or a range \"lo-hi\"");
  std::string s = v.get<std::string>();
  size_t dash = s.find('-');
  uint32_t lo, hi;
  if (dash == std::string::npos) {
    if (!ParseNumber(s, &lo) || lo > 65535)
      return Bad(path, "\"" + s + "\" is not a port (0-65535)");
    hi = lo;
  } else if (!ParseNumber(std::string_view(s).substr(0, dash), &lo) ||
             !ParseNumber(std::string_view(s).substr(dash + 1), &hi) || lo > 65535 || hi > 65535) {
    return Bad(path, "\"" + s + "\" is not a port range \"lo-hi\" (0-65535)");
  }
  if (lo > hi)
    return Bad(path, "port range \"" + s + "\" is reversed (" + std::to_string(lo) + " > " +
                         std::to_string(hi) + ")");
  return PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

constexpr std::pair<std::string_view, uint8_t> kTcpFlagNames[] = {
    {"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08},
    {"ack", 0x10}, {"urg", 0x20}, {"ece", 0x40}, {"cwr", 0x80},
};

// "syn,ack" or an integer 0-255.
Result<uint8_t> ParseFlagSet(const json& v, const std::string& path) {
  if (v.is_number()) {
    SFC_ASSIGN_OR_RETURN(uint32_t n, ParseUint(v, path, 0, 255));
    return static_cast<uint8_t>(n);
  }
  if (!v.is_string()) return Bad(path, "must be TCP flag names (\"syn,ack\") or an integer 0-255");
  std::string s = v.get<std::string>();
  uint8_t bits = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string name =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto it = std::find_if(std::begin(kTcpFlagNames), std::end(kTcpFlagNames),
                           [&](const auto& f) { return f.first == name; });
    if (it == std::end(kTcpFlagNames))
      return Bad(path, "unknown TCP flag \"" + name +
                           "\" (known: fin, syn, rst, psh, ack, urg, ece, cwr)");
    bits |= it->second;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return bits;
}

std::string FlagNames(uint8_t bits) {
  std::string out;
  for (const auto& [name, bit] : kTcpFlagNames)
    if (bits & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out.empty() ? "none" : out;
}

// "syn/syn,ack" (value/mask: SYN set, ACK clear), "syn,ack" (all set), or
// {"mask": ..., "value": ...}.
Result<TcpFlags> ParseTcpFlags(const json& v, const std::string& path) {
  TcpFlags f;
  if (v.is_object()) {
    SFC_RETURN_IF_ERROR(CheckKeys(v, path, {"mask", "value"}));
    if (!v.contains("mask")) return Bad(Member(path, "mask"), "required");
    SFC_ASSIGN_OR_RETURN(f.mask, ParseFlagSet(v["mask"], Member(path, "mask")));
    if (v.contains("value")) {
      SFC_ASSIGN_OR_RETURN(f.value, ParseFlagSet(v["value"], Member(path, "value")));
    }
  } else if (v.is_string()) {
    std::string s = v.get<std::string>();
    size_t slash = s.find('/');
    if (slash == std::string::npos) {
      SFC_ASSIGN_OR_RETURN(f.value, ParseFlagSet(s, path));
      f.mask = f.value;
    } else {
      // An empty value ("/syn,ack") means all of the mask's flags clear.
      if (slash > 0) {
        SFC_ASSIGN_OR_RETURN(f.value, ParseFlagSet(s.substr(0, slash), path));
      }
      SFC_ASSIGN_OR_RETURN(f.mask, ParseFlagSet(s.substr(slash + 1), path));
    }
  } else {
    return Bad(path,
               "must be \"value/mask\" flag names (e.g. \"syn/syn,ack\") or {\"mask\", \"value\"}");
  }
  if (f.mask == 0) return Bad(path, "mask selects no flags");
  if (f.value & ~f.mask)
    return Bad(path,
               "value " + FlagNames(f.value) + " has flags outside the mask " + FlagNames(f.mask));
  return f;
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

}  // namespace

bool Prefix::ContainsAddr(const uint8_t* a) const {
  int full = len / 8, rest = len % 8;
  if (!std::equal(addr.begin(), addr.begin() + full, a)) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == addr[full];
}

bool Prefix::Contains(const Prefix& other) const {
  return other.family == family && other.len >= len && ContainsAddr(other.addr.data());
}

std::string Prefix::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(len);
}

Result<Prefix> ParsePrefix(std::string_view text) {
  std::string s(text);
  std::string addr = s, len_text;
  size_t slash = s.find('/');
  if (slash != std::string::npos) {
    addr = s.substr(0, slash);
    len_text = s.substr(slash + 1);
  }
  Prefix p;
  if (inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1) {
    p.family = 4;
  } else if (inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1) {
    p.family = 6;
  } else {
    return InvalidArgument("\"" + s + "\" is not an IPv4 or IPv6 prefix");
  }
  uint32_t len = p.bits();
  if (slash != std::string::npos &&
      (!ParseNumber(len_text, &len) || len > static_cast<uint32_t>(p.bits())))
    return InvalidArgument("\"" + s + "\" has an invalid prefix length (0-" +
                           std::to_string(p.bits()) + ")");
  p.len = static_cast<uint8_t>(len);
  Prefix masked = p;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(static_cast<int>(len) - i * 8, 0, 8);
    masked.addr[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  if (masked.addr != p.addr)
    return InvalidArgument("\"" + s + "\" has host bits set (did you mean " + masked.ToString() +
                           "?)");
  return p;
}

Result<Action> ParseDefaultAction(const json& v, const std::string& path) {
  if (v == "allow") return Action::kAllow;
  if (v == "drop") return Action::kDrop;
  return Bad(path, "must be \"allow\" or \"drop\"");
}

Result<Rule> ParseRule(const json& r, const std::string& path) {
  if (!r.is_object()) return Bad(path, "a rule must be an object");
  SFC_RETURN_IF_ERROR(CheckKeys(r, path,
                                {"id", "src", "dst", "proto", "sport", "dport", "tcp_flags",
                                 "icmp_type", "state", "iif", "app", "app_category", "action"}));
  Rule rule;
  if (r.contains("id")) {
    const auto& v = r["id"];
    std::string p = Member(path, "id");
    if (!v.is_string()) return Bad(p, "must be a string");
    rule.id = v.get<std::string>();
    if (rule.id.empty() || rule.id.size() > kMaxRuleIdLen)
      return Bad(p, "must be 1-" + std::to_string(kMaxRuleIdLen) + " characters");
    if (!std::all_of(rule.id.begin(), rule.id.end(), IsIdChar))
      return Bad(p, "\"" + rule.id + "\" may only use letters, digits and _ - . :");
  }
  for (const char* field : {"src", "dst"}) {
    if (!r.contains(field)) continue;
    std::string p = Member(path, field);
    if (!r[field].is_string()) return Bad(p, "must be a CIDR string");
    auto pre = ParsePrefix(r[field].get<std::string>());
    if (!pre.ok()) return Bad(p, pre.status().message());
    (std::string_view(field) == "src" ? rule.src : rule.dst) = *pre;
  }
  if (rule.src && rule.dst && rule.src->family != rule.dst->family)
    return Bad(Member(path, "dst"), "is IPv" + std::to_string(rule.dst->family) +
                                        " but src is IPv" + std::to_string(rule.src->family));
  const int family = rule.src ? rule.src->family : rule.dst ? rule.dst->family : 0;

  if (r.contains("proto")) {
    std::string p = Member(path, "proto");
    const auto& v = r["proto"];
    if (v == "tcp")
      rule.proto = Proto::kTcp;
    else if (v == "udp")
      rule.proto = Proto::kUdp;
    else if (v == "icmp")
      rule.proto = Proto::kIcmp;
    else if (v == "icmpv6")
      rule.proto = Proto::kIcmpv6;
    else if (v == "any")
      rule.proto = Proto::kAny;
    else
      return Bad(p, "must be one of tcp, udp, icmp, icmpv6, any");
    if (rule.proto == Proto::kIcmp && family == 6)
      return Bad(p, "icmp is IPv4; use icmpv6 with IPv6 prefixes");
    if (rule.proto == Proto::kIcmpv6 && family == 4)
      return Bad(p, "icmpv6 is IPv6; use icmp with IPv4 prefixes");
  }
  const bool ports_ok = rule.proto == Proto::kTcp || rule.proto == Proto::kUdp;
  for (const char* field : {"sport", "dport"}) {
    if (!r.contains(field)) continue;
    std::string p = Member(path, field);
    if (!ports_ok)
      return Bad(p, "ports need \"proto\": \"tcp\" or \"udp\" (proto is " +
                        std::string(ToString(rule.proto)) + ")");
    SFC_ASSIGN_OR_RETURN(PortRange pr, ParsePorts(r[field], p));
    (std::string_view(field) == "sport" ? rule.sport : rule.dport) = pr;
  }
  if (r.contains("tcp_flags")) {
    std::string p = Member(path, "tcp_flags");
    if (rule.proto != Proto::kTcp) return Bad(p, "needs \"proto\": \"tcp\"");
    SFC_ASSIGN_OR_RETURN(rule.tcp_flags, ParseTcpFlags(r["tcp_flags"], p));
  }
  if (r.contains("icmp_type")) {
    std::string p = Member(path, "icmp_type");
    if (rule.proto != Proto::kIcmp && rule.proto != Proto::kIcmpv6)
      return Bad(p, "needs \"proto\": \"icmp\" or \"icmpv6\"");
    SFC_ASSIGN_OR_RETURN(uint32_t t, ParseUint(r["icmp_type"], p, 0, 255));
    rule.icmp_type = static_cast<uint8_t>(t);
  }
  if (r.contains("state")) {
    std::string p = Member(path, "state");
    json list = r["state"].is_string() ? json::array({r["state"]}) : r["state"];
    if (!list.is_array() || list.empty())
      return Bad(p, "must be a state or a non-empty list of states");
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& s = list[i];
      std::string sp = r["state"].is_string() ? p : p + "/" + std::to_string(i);
      uint8_t bit;
      if (s == "new")
        bit = kStateNew;
      else if (s == "established")
        bit = kStateEstablished;
      else if (s == "related")
        bit = kStateRelated;
      else if (s == "invalid")
        bit = kStateInvalid;
      else
        return Bad(sp, "must be one of new, established, related, invalid");
      if (rule.states & bit) return Bad(sp, "listed twice");
      rule.states |= bit;
    }
  }
  if (r.contains("iif")) {
    std::string p = Member(path, "iif");
    if (!r["iif"].is_string()) return Bad(p, "must be an interface name");
    rule.iif = r["iif"].get<std::string>();
    if (rule.iif.empty() || rule.iif.size() > 15 ||
        std::any_of(rule.iif.begin(), rule.iif.end(),
                    [](char c) { return c == '/' || c <= ' ' || c == ':'; }))
      return Bad(p, "\"" + rule.iif + "\" is not a valid interface name");
  }
  const auto& catalog = dpi::AppCatalog::Get();
  if (r.contains("app")) {
    std::string p = Member(path, "app");
    if (!r["app"].is_string()) return Bad(p, "must be an application name (a string)");
    const std::string name = r["app"].get<std::string>();
    rule.app = catalog.AppId(name);
    if (!rule.app)
      return Bad(p, "unknown application \"" + name + "\" (sfcctl dpi protocols lists them)");
    if (*rule.app >= EFW_APP_IDS - 1)
      return Bad(p, "application \"" + name + "\" has id " + std::to_string(*rule.app) +
                        ", above the firewall's limit " + std::to_string(EFW_APP_IDS - 2));
  }
  if (r.contains("app_category")) {
    std::string p = Member(path, "app_category");
    if (!r["app_category"].is_string()) return Bad(p, "must be a category name (a string)");
    const std::string name = r["app_category"].get<std::string>();
    rule.app_category = catalog.CategoryId(name);
    if (!rule.app_category)
      return Bad(p, "unknown application category \"" + name +
                        "\" (sfcctl dpi protocols lists them with their categories)");
  }
  if (!r.contains("action")) return Bad(Member(path, "action"), "required (allow, drop or reject)");
  {
    const auto& v = r["action"];
    if (v == "allow")
      rule.action = Action::kAllow;
    else if (v == "drop")
      rule.action = Action::kDrop;
    else if (v == "reject")
      rule.action = Action::kReject;
    else
      return Bad(Member(path, "action"), "must be one of allow, drop, reject");
  }
  return rule;
}

Status AssignRuleIds(std::vector<Rule>& rules, const std::string& path) {
  std::set<std::string, std::less<>> seen;
  for (size_t i = 0; i < rules.size(); ++i)
    if (rules[i].id.empty()) rules[i].id = "rule-" + std::to_string(i + 1);
  for (size_t i = 0; i < rules.size(); ++i)
    if (!seen.insert(rules[i].id).second)
      return Bad(path + "/" + std::to_string(i) + "/id",
                 "duplicate rule id \"" + rules[i].id + "\"");
  return Status::Ok();
}

json Rule::ToJson() const {
  json j = json::object();
  j["id"] = id;
  if (src) j["src"] = src->ToString();
  if (dst) j["dst"] = dst->ToString();
  if (proto != Proto::kAny) j["proto"] = ToString(proto);
  auto ports = [](const PortRange& p) -> json {
    if (p.lo == p.hi) return p.lo;
    return std::to_string(p.lo) + "-" + std::to_string(p.hi);
  };
  if (sport) j["sport"] = ports(*sport);
  if (dport) j["dport"] = ports(*dport);
  if (tcp_flags) {
    if (tcp_flags->value)
      j["tcp_flags"] = FlagNames(tcp_flags->value) + "/" + FlagNames(tcp_flags->mask);
    else
      j["tcp_flags"] = {{"mask", FlagNames(tcp_flags->mask)}, {"value", 0}};
  }
  if (icmp_type) j["icmp_type"] = *icmp_type;
  if (states) {
    json s = json::array();
    if (states & kStateNew) s.push_back("new");
    if (states & kStateEstablished) s.push_back("established");
    if (states & kStateRelated) s.push_back("related");
    if (states & kStateInvalid) s.push_back("invalid");
    j["state"] = s;
  }
  if (!iif.empty()) j["iif"] = iif;
  if (app) j["app"] = dpi::AppCatalog::Get().AppName(*app);
  if (app_category) j["app_category"] = dpi::AppCatalog::Get().CategoryName(*app_category);
  j["action"] = ToString(action);
  return j;
}

json FirewallConfig::ToJson() const {
  json rs = json::array();
  for (const auto& r : rules) rs.push_back(r.ToJson());
  return {
      {"default", ToString(default_action)},
      {"max_rules", max_rules},
      {"conntrack",
       {{"max_entries", conntrack.max_entries},
        {"tcp_syn_timeout_s", conntrack.tcp_syn_timeout_s},
        {"tcp_established_timeout_s", conntrack.tcp_established_timeout_s},
        {"tcp_close_timeout_s", conntrack.tcp_close_timeout_s},
        {"udp_timeout_s", conntrack.udp_timeout_s},
        {"icmp_timeout_s", conntrack.icmp_timeout_s}}},
      {"rules", rs},
  };
}

Result<FirewallConfig> ParseFirewallConfig(const json& c, const std::string& path) {
  if (!c.is_object()) return Bad(path, "must be an object");
  SFC_RETURN_IF_ERROR(CheckKeys(c, path, {"default", "conntrack", "max_rules", "rules"}));
  FirewallConfig cfg;
  if (c.contains("default")) {
    SFC_ASSIGN_OR_RETURN(cfg.default_action,
                         ParseDefaultAction(c["default"], Member(path, "default")));
  }
  if (c.contains("max_rules")) {
    SFC_ASSIGN_OR_RETURN(cfg.max_rules,
                         ParseUint(c["max_rules"], Member(path, "max_rules"), 1, kMaxRulesLimit));
  }
  if (c.contains("conntrack")) {
    const auto& ct = c["conntrack"];
    std::string p = Member(path, "conntrack");
    if (!ct.is_object()) return Bad(p, "must be an object");
    SFC_RETURN_IF_ERROR(CheckKeys(ct, p,
                                  {"max_entries", "tcp_syn_timeout_s", "tcp_established_timeout_s",
                                   "tcp_close_timeout_s", "udp_timeout_s", "icmp_timeout_s"}));
    struct {
      const char* name;
      uint32_t* field;
      uint64_t min, max;
    } fields[] = {
        {"max_entries", &cfg.conntrack.max_entries, 16, 1u << 26},
        {"tcp_syn_timeout_s", &cfg.conntrack.tcp_syn_timeout_s, 1, 86400},
        {"tcp_established_timeout_s", &cfg.conntrack.tcp_established_timeout_s, 1, 30 * 86400},
        {"tcp_close_timeout_s", &cfg.conntrack.tcp_close_timeout_s, 1, 86400},
        {"udp_timeout_s", &cfg.conntrack.udp_timeout_s, 1, 86400},
        {"icmp_timeout_s", &cfg.conntrack.icmp_timeout_s, 1, 86400},
    };
    for (const auto& f : fields) {
      if (!ct.contains(f.name)) continue;
      SFC_ASSIGN_OR_RETURN(*f.field, ParseUint(ct[f.name], Member(p, f.name), f.min, f.max));
    }
  }
  if (c.contains("rules")) {
    const auto& rs = c["rules"];
    std::string p = Member(path, "rules");
    if (!rs.is_array()) return Bad(p, "must be an array");
    if (rs.size() > cfg.max_rules)
      return Bad(p, std::to_string(rs.size()) + " rules exceed max_rules " +
                        std::to_string(cfg.max_rules));
    cfg.rules.reserve(rs.size());
    for (size_t i = 0; i < rs.size(); ++i) {
      SFC_ASSIGN_OR_RETURN(Rule r, ParseRule(rs[i], p + "/" + std::to_string(i)));
      cfg.rules.push_back(std::move(r));
    }
    SFC_RETURN_IF_ERROR(AssignRuleIds(cfg.rules, p));
  }
  return cfg;
}

}  // namespace sfc::efw
