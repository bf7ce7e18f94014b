#include "elb/config.h"

#include <arpa/inet.h>

#include <cstdio>
#include <set>

#include "common/json_fields.h"
#include "elb/maglev.h"

namespace sfc::elb {
namespace {

using nlohmann::json;

using json_fields::CheckMembers;
using json_fields::GetString;
using json_fields::GetUint;
using json_fields::GetUintAs;
using json_fields::Quoted;
using json_fields::WrongType;

bool IsServiceName(std::string_view n) {
  if (n.empty() || n.size() > 32 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      return false;
  return true;
}

bool IsUsableUnicast(const IpAddr& a) {
  if (a.family == 4) {
    uint8_t b0 = a.bytes[0];
    uint32_t all =
        (uint32_t{a.bytes[0]} << 24) | (a.bytes[1] << 16) | (a.bytes[2] << 8) | a.bytes[3];
    return all != 0 && all != 0xffffffff && (b0 < 224 || b0 >= 240);
  }
  bool zero = true;
  for (uint8_t b : a.bytes) zero &= (b == 0);
  return !zero && a.bytes[0] != 0xff;
}

Status ParseHealth(const json& v, const std::string& path, HealthSpec* out) {
  if (!v.is_object()) return WrongType(path, "object", v);
  SFC_RETURN_IF_ERROR(CheckMembers(v, path,
                                   {"type", "interval_ms", "timeout_ms", "rise", "fall", "path",
                                    "expect_status", "port", "load_weight"}));
  std::string type = "tcp";
  SFC_RETURN_IF_ERROR(GetString(v, path, "type", false, &type));
  if (type == "tcp")
    out->type = HealthType::kTcp;
  else if (type == "http")
    out->type = HealthType::kHttp;
  else if (type == "none")
    out->type = HealthType::kNone;
  else
    return InvalidArgument(path + "/type: " + Quoted(type) + " is not one of tcp, http, none");
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "interval_ms", 50, 3600000, &out->interval_ms));
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "timeout_ms", 10, 60000, &out->timeout_ms));
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "rise", 1, 100, &out->rise));
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "fall", 1, 100, &out->fall));
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "expect_status", 100, 599, &out->expect_status));
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "port", 1, 65535, &out->port));
  SFC_RETURN_IF_ERROR(GetString(v, path, "path", false, &out->path));
  if (auto it = v.find("load_weight"); it != v.end()) {
    if (!it->is_boolean()) return WrongType(path + "/load_weight", "boolean", *it);
    out->load_weight = it->get<bool>();
    if (out->load_weight && out->type != HealthType::kHttp)
      return InvalidArgument(path + "/load_weight: only valid when type is \"http\"");
  }
  if (out->timeout_ms > out->interval_ms)
    return InvalidArgument(path + "/timeout_ms: " + std::to_string(out->timeout_ms) +
                           " exceeds interval_ms " + std::to_string(out->interval_ms));
  if (out->type == HealthType::kHttp) {
    if (out->path.empty() || out->path[0] != '/')
      return InvalidArgument(path + "/path: " + Quoted(out->path) + " must start with '/'");
    for (char c : out->path)
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
        return InvalidArgument(path + "/path: must not contain spaces or control characters");
  } else if (v.contains("path") || v.contains("expect_status")) {
    return InvalidArgument(path + (v.contains("path") ? "/path" : "/expect_status") +
                           ": only valid when type is \"http\"");
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------

std::optional<IpAddr> IpAddr::Parse(const std::string& text) {
  IpAddr a;
  if (text.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.family = 4;
  } else {
    if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.family = 6;
  }
  return a;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = "";
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<MacAddr> ParseMac(const std::string& text) {
  MacAddr m{};
  unsigned v[6];
  char tail;
  if (text.size() != 17 || std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1],
                                       &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    return std::nullopt;
  for (int i = 0; i < 6; i++) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

std::string MacToString(const MacAddr& mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

std::string_view ToString(L4Proto p) { return p == L4Proto::kTcp ? "tcp" : "udp"; }
std::string_view ToString(ForwardMode m) { return m == ForwardMode::kDnat ? "dnat" : "dsr"; }
std::string_view ToString(HealthType t) {
  switch (t) {
    case HealthType::kNone:
      return "none";
    case HealthType::kTcp:
      return "tcp";
    case HealthType::kHttp:
      return "http";
  }
  return "?";
}

static std::string HostPort(const IpAddr& a, uint16_t port) {
  std::string host = a.family == 6 ? "[" + a.ToString() + "]" : a.ToString();
  return host + ":" + (port ? std::to_string(port) : std::string("*"));
}

std::string BackendSpec::Key() const { return HostPort(address, port); }

std::string ServiceSpec::Key() const {
  return std::string(elb::ToString(proto)) + "/" + HostPort(vip, port);
}

const BackendSpec* ServiceSpec::FindBackend(const IpAddr& addr, uint16_t p) const {
  for (const auto& b : backends)
    if (b.address == addr && b.port == p) return &b;
  return nullptr;
}
BackendSpec* ServiceSpec::FindBackend(const IpAddr& addr, uint16_t p) {
  return const_cast<BackendSpec*>(std::as_const(*this).FindBackend(addr, p));
}

const ServiceSpec* LbConfig::FindService(std::string_view name) const {
  for (const auto& s : services)
    if (s.name == name) return &s;
  return nullptr;
}
ServiceSpec* LbConfig::FindService(std::string_view name) {
  return const_cast<ServiceSpec*>(std::as_const(*this).FindService(name));
}

Result<BackendSpec> ParseBackend(const json& v, const std::string& path,
                                 const ServiceSpec& service) {
  if (!v.is_object()) return WrongType(path, "object", v);
  SFC_RETURN_IF_ERROR(CheckMembers(v, path, {"address", "port", "weight", "mac"}));
  BackendSpec b;
  std::string addr;
  SFC_RETURN_IF_ERROR(GetString(v, path, "address", true, &addr));
  auto ip = IpAddr::Parse(addr);
  if (!ip) return InvalidArgument(path + "/address: " + Quoted(addr) + " is not an IP address");
  if (!IsUsableUnicast(*ip))
    return InvalidArgument(path + "/address: " + Quoted(addr) + " is not a unicast address");
  if (ip->family != service.vip.family)
    return InvalidArgument(path + "/address: " + Quoted(addr) + " is IPv" +
                           std::to_string(ip->family) + " but the VIP is IPv" +
                           std::to_string(service.vip.family));
  b.address = *ip;
  b.port = service.port;
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "port", 1, 65535, &b.port));
  if (v.contains("port") && service.port == 0)
    return InvalidArgument(path +
                           "/port: an all-ports service keeps the client's port; "
                           "backends take no port");
  if (service.mode == ForwardMode::kDsr && b.port != service.port)
    return InvalidArgument(path +
                           "/port: dsr does not rewrite ports; must equal the service "
                           "port " +
                           std::to_string(service.port));
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "weight", 0, kMaxWeight, &b.weight));
  if (auto it = v.find("mac"); it != v.end()) {
    if (!it->is_string()) return WrongType(path + "/mac", "string", *it);
    auto mac = ParseMac(it->get<std::string>());
    if (!mac)
      return InvalidArgument(path + "/mac: " + Quoted(it->get<std::string>()) +
                             " is not a MAC address (xx:xx:xx:xx:xx:xx)");
    if (service.mode != ForwardMode::kDsr)
      return InvalidArgument(path + "/mac: only valid for mode \"dsr\"");
    b.mac = *mac;
  }
  return b;
}

Result<ServiceSpec> ParseService(const json& v, const std::string& path) {
  if (!v.is_object()) return WrongType(path, "object", v);
  SFC_RETURN_IF_ERROR(CheckMembers(
      v, path,
      {"name", "vip", "proto", "port", "mode", "dsr_tx", "table_size", "health", "backends"}));
  ServiceSpec s;
  SFC_RETURN_IF_ERROR(GetString(v, path, "name", true, &s.name));
  if (!IsServiceName(s.name))
    return InvalidArgument(path + "/name: " + Quoted(s.name) +
                           " is not a valid name (1-32 of A-Z a-z 0-9 _ - ., starting with a "
                           "letter or digit)");
  std::string vip;
  SFC_RETURN_IF_ERROR(GetString(v, path, "vip", true, &vip));
  auto ip = IpAddr::Parse(vip);
  if (!ip) return InvalidArgument(path + "/vip: " + Quoted(vip) + " is not an IP address");
  if (!IsUsableUnicast(*ip))
    return InvalidArgument(path + "/vip: " + Quoted(vip) + " is not a unicast address");
  s.vip = *ip;

  std::string proto = "tcp";
  SFC_RETURN_IF_ERROR(GetString(v, path, "proto", false, &proto));
  if (proto == "tcp")
    s.proto = L4Proto::kTcp;
  else if (proto == "udp")
    s.proto = L4Proto::kUdp;
  else
    return InvalidArgument(path + "/proto: " + Quoted(proto) + " is not one of tcp, udp");
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "port", 0, 65535, &s.port));

  std::string mode = "dnat";
  SFC_RETURN_IF_ERROR(GetString(v, path, "mode", false, &mode));
  if (mode == "dnat")
    s.mode = ForwardMode::kDnat;
  else if (mode == "dsr")
    s.mode = ForwardMode::kDsr;
  else
    return InvalidArgument(path + "/mode: " + Quoted(mode) + " is not one of dnat, dsr");
  if (auto it = v.find("dsr_tx"); it != v.end()) {
    if (!it->is_boolean()) return WrongType(path + "/dsr_tx", "boolean", *it);
    if (s.mode != ForwardMode::kDsr)
      return InvalidArgument(path + "/dsr_tx: only valid for mode \"dsr\"");
    s.dsr_tx = it->get<bool>();
  }

  if (auto it = v.find("table_size"); it != v.end()) {
    SFC_RETURN_IF_ERROR(GetUintAs(v, path, "table_size", 2, kMaglevMaxTableSize, &s.table_size));
    if (!IsPrime(s.table_size))
      return InvalidArgument(path + "/table_size: " + std::to_string(s.table_size) +
                             " is not prime (Maglev needs a prime, e.g. 251, 65537, 655373)");
  }
  if (auto it = v.find("health"); it != v.end())
    SFC_RETURN_IF_ERROR(ParseHealth(*it, path + "/health", &s.health));

  auto bit = v.find("backends");
  if (bit != v.end()) {
    if (!bit->is_array()) return WrongType(path + "/backends", "array", *bit);
    for (size_t i = 0; i < bit->size(); i++) {
      const std::string bp = path + "/backends/" + std::to_string(i);
      SFC_ASSIGN_OR_RETURN(BackendSpec b, ParseBackend((*bit)[i], bp, s));
      if (s.FindBackend(b.address, b.port))
        return InvalidArgument(bp + ": duplicate backend " + b.Key());
      s.backends.push_back(std::move(b));
    }
  }
  if (s.backends.size() > s.table_size)
    return InvalidArgument(path + "/table_size: " + std::to_string(s.table_size) +
                           " slots cannot hold " + std::to_string(s.backends.size()) + " backends");
  if (s.health.type != HealthType::kNone && s.port == 0 && s.health.port == 0)
    return InvalidArgument(path +
                           "/health/port: required for an all-ports service "
                           "(its backends have no port to probe)");
  return s;
}

Status ValidateLbConfig(const LbConfig& c, const std::string& path) {
  if (c.services.size() > kMaxServices)
    return InvalidArgument(path + "/services: " + std::to_string(c.services.size()) +
                           " services exceed the limit of " + std::to_string(kMaxServices));
  std::set<std::string> names, keys;
  size_t backends = 0;
  for (size_t i = 0; i < c.services.size(); i++) {
    const ServiceSpec& s = c.services[i];
    const std::string sp = path + "/services/" + std::to_string(i);
    if (!names.insert(s.name).second)
      return InvalidArgument(sp + "/name: duplicate service name " + Quoted(s.name));
    if (!keys.insert(s.Key()).second)
      return InvalidArgument(sp + ": another service already serves " + s.Key());
    backends += s.backends.size();
  }
  if (backends > kMaxBackends)
    return InvalidArgument(path + "/services: " + std::to_string(backends) +
                           " backends exceed the limit of " + std::to_string(kMaxBackends));
  return Status::Ok();
}

Result<LbConfig> ParseLbConfig(const json& v, const std::string& path) {
  if (!v.is_object()) return WrongType(path, "object", v);
  SFC_RETURN_IF_ERROR(
      CheckMembers(v, path, {"services", "max_connections", "tcp_close_timeout_s"}));
  LbConfig c;
  SFC_RETURN_IF_ERROR(GetUintAs(v, path, "max_connections", 1024, 1u << 26, &c.max_connections));
  SFC_RETURN_IF_ERROR(
      GetUintAs(v, path, "tcp_close_timeout_s", 1, kMaxTcpCloseTimeoutS, &c.tcp_close_timeout_s));
  if (auto it = v.find("services"); it != v.end()) {
    if (!it->is_array()) return WrongType(path + "/services", "array", *it);
    for (size_t i = 0; i < it->size(); i++) {
      SFC_ASSIGN_OR_RETURN(ServiceSpec s,
                           ParseService((*it)[i], path + "/services/" + std::to_string(i)));
      c.services.push_back(std::move(s));
    }
  }
  SFC_RETURN_IF_ERROR(ValidateLbConfig(c, path));
  return c;
}

json ToJson(const BackendSpec& b, const ServiceSpec& s) {
  json j = {{"address", b.address.ToString()}, {"weight", b.weight}};
  if (s.port != 0 && s.mode == ForwardMode::kDnat) j["port"] = b.port;
  if (b.mac) j["mac"] = MacToString(*b.mac);
  return j;
}

json ToJson(const ServiceSpec& s) {
  json j = {{"name", s.name},
            {"vip", s.vip.ToString()},
            {"proto", std::string(ToString(s.proto))},
            {"port", s.port},
            {"mode", std::string(ToString(s.mode))},
            {"table_size", s.table_size}};
  if (s.mode == ForwardMode::kDsr) j["dsr_tx"] = s.dsr_tx;
  const HealthSpec& h = s.health;
  json hj = {{"type", std::string(ToString(h.type))}};
  if (h.type != HealthType::kNone) {
    hj["interval_ms"] = h.interval_ms;
    hj["timeout_ms"] = h.timeout_ms;
    hj["rise"] = h.rise;
    hj["fall"] = h.fall;
    if (h.port) hj["port"] = h.port;
    if (h.type == HealthType::kHttp) {
      hj["path"] = h.path;
      hj["expect_status"] = h.expect_status;
      if (h.load_weight) hj["load_weight"] = true;
    }
  }
  j["health"] = hj;
  j["backends"] = json::array();
  for (const auto& b : s.backends) j["backends"].push_back(ToJson(b, s));
  return j;
}

json ToJson(const LbConfig& c) {
  json j = {{"max_connections", c.max_connections},
            {"tcp_close_timeout_s", c.tcp_close_timeout_s},
            {"services", json::array()}};
  for (const auto& s : c.services) j["services"].push_back(ToJson(s));
  return j;
}

}  // namespace sfc::elb
