#include "efm/config.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>

#include "common/json_fields.h"

namespace sfc::efm {
namespace {

using json_fields::CheckMembers;
using nlohmann::json;

// An optional unsigned member within [lo, hi] into a uint32_t.
Status GetU32(const json& obj, const std::string& path, const char* key, uint32_t lo, uint32_t hi,
              uint32_t* out) {
  return json_fields::GetUintAs(obj, path, key, lo, hi, out);
}

Status ParseIpfix(const json& v, const std::string& path, IpfixConfig* out) {
  if (!v.is_object()) return json_fields::WrongType(path, "object", v);
  SFC_RETURN_IF_ERROR(
      CheckMembers(v, path, {"collectors", "observation_domain", "template_refresh_s"}));
  SFC_RETURN_IF_ERROR(
      GetU32(v, path, "observation_domain", 0, UINT32_MAX, &out->observation_domain));
  SFC_RETURN_IF_ERROR(GetU32(v, path, "template_refresh_s", 1, 86400, &out->template_refresh_s));
  auto it = v.find("collectors");
  if (it == v.end()) return Status::Ok();
  const std::string cpath = path + "/collectors";
  if (!it->is_array()) return json_fields::WrongType(cpath, "array", *it);
  if (it->size() > kMaxCollectors)
    return InvalidArgument(cpath + ": at most " + std::to_string(kMaxCollectors) + " collectors");
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string epath = cpath + "/" + std::to_string(i);
    const json& c = (*it)[i];
    if (!c.is_string()) return InvalidArgument(epath + ": expected a string \"ADDRESS:PORT\"");
    auto ep = ParseEndpoint(c.get<std::string>());
    if (!ep.ok()) return InvalidArgument(epath + ": " + ep.status().message());
    for (const auto& prev : out->collectors)
      if (prev == *ep) return InvalidArgument(epath + ": duplicate collector " + ep->text);
    out->collectors.push_back(std::move(ep).value());
  }
  return Status::Ok();
}

}  // namespace

Result<Endpoint> ParseEndpoint(const std::string& text) {
  Endpoint ep;
  ep.text = text;
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return InvalidArgument("\"" + text + "\" is not [IPV6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    ep.family = AF_INET6;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon)
      return InvalidArgument("\"" + text + "\" is not IPV4:PORT or [IPV6]:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    ep.family = AF_INET;
  }
  if (inet_pton(ep.family, host.c_str(), ep.addr.data()) != 1)
    return InvalidArgument("\"" + host + "\" is not a numeric " +
                           (ep.family == AF_INET ? "IPv4" : "IPv6") + " address");
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    return InvalidArgument("\"" + port + "\" is not a port (1-65535)");
  ep.port = static_cast<uint16_t>(p);
  return ep;
}

Result<FlowmonConfig> ParseFlowmonConfig(const nlohmann::json& config, const std::string& path) {
  FlowmonConfig c;
  if (config.is_null()) return c;
  if (!config.is_object()) return json_fields::WrongType(path, "object", config);
  SFC_RETURN_IF_ERROR(CheckMembers(
      config, path,
      {"max_flows", "idle_timeout_s", "active_timeout_s", "scan_interval_ms", "ipfix"}));
  SFC_RETURN_IF_ERROR(GetU32(config, path, "max_flows", 1, kMaxFlowsLimit, &c.max_flows));
  SFC_RETURN_IF_ERROR(GetU32(config, path, "idle_timeout_s", 1, 86400, &c.idle_timeout_s));
  SFC_RETURN_IF_ERROR(GetU32(config, path, "active_timeout_s", 1, 86400, &c.active_timeout_s));
  SFC_RETURN_IF_ERROR(GetU32(config, path, "scan_interval_ms", 100, 60000, &c.scan_interval_ms));
  // A flow that stops would always reach its active timeout first: its last
  // record would say activeTimeout, and nothing would be left for an idle end.
  if (c.idle_timeout_s >= c.active_timeout_s)
    return InvalidArgument(path + "/idle_timeout_s: must be less than " + path +
                           "/active_timeout_s (" + std::to_string(c.idle_timeout_s) +
                           " >= " + std::to_string(c.active_timeout_s) +
                           "): flows would get an active-timeout record before they could "
                           "idle out, and never an end record");
  if (auto it = config.find("ipfix"); it != config.end())
    SFC_RETURN_IF_ERROR(ParseIpfix(*it, path + "/ipfix", &c.ipfix));
  return c;
}

}  // namespace sfc::efm
