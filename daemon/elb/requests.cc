#include "elb/requests.h"

#include "common/json_fields.h"

namespace sfc::elb {

using json_fields::Quoted;
using nlohmann::json;

json BackendToJson(const v1::LbBackendSpec& b) {
  json j = {{"address", b.address()}};
  if (b.port()) j["port"] = b.port();
  if (b.has_weight()) j["weight"] = b.weight();
  if (!b.mac().empty()) j["mac"] = b.mac();
  return j;
}

json ServiceToJson(const v1::LbServiceSpec& s) {
  json j = {{"name", s.name()}, {"vip", s.vip()}, {"port", s.port()}};
  if (!s.proto().empty()) j["proto"] = s.proto();
  if (!s.mode().empty()) j["mode"] = s.mode();
  if (s.table_size()) j["table_size"] = s.table_size();
  if (s.has_dsr_tx()) j["dsr_tx"] = s.dsr_tx();
  if (s.has_health() && !s.health().type().empty()) {
    const v1::LbHealthSpec& h = s.health();
    json hj = {{"type", h.type()}};
    if (h.interval_ms()) hj["interval_ms"] = h.interval_ms();
    if (h.timeout_ms()) hj["timeout_ms"] = h.timeout_ms();
    if (h.rise()) hj["rise"] = h.rise();
    if (h.fall()) hj["fall"] = h.fall();
    if (h.port()) hj["port"] = h.port();
    if (!h.path().empty()) hj["path"] = h.path();
    if (h.expect_status()) hj["expect_status"] = h.expect_status();
    if (h.load_weight()) hj["load_weight"] = true;
    j["health"] = hj;
  }
  j["backends"] = json::array();
  for (const auto& b : s.backends()) j["backends"].push_back(BackendToJson(b));
  return j;
}

void ToProto(const ServiceSpec& s, v1::LbServiceSpec* out) {
  out->set_name(s.name);
  out->set_vip(s.vip.ToString());
  out->set_proto(std::string(ToString(s.proto)));
  out->set_port(s.port);
  out->set_mode(std::string(ToString(s.mode)));
  out->set_table_size(s.table_size);
  if (s.mode == ForwardMode::kDsr) out->set_dsr_tx(s.dsr_tx);
  v1::LbHealthSpec* h = out->mutable_health();
  h->set_type(std::string(ToString(s.health.type)));
  if (s.health.type != HealthType::kNone) {
    h->set_interval_ms(s.health.interval_ms);
    h->set_timeout_ms(s.health.timeout_ms);
    h->set_rise(s.health.rise);
    h->set_fall(s.health.fall);
    h->set_port(s.health.port);
    if (s.health.type == HealthType::kHttp) {
      h->set_path(s.health.path);
      h->set_expect_status(s.health.expect_status);
      h->set_load_weight(s.health.load_weight);
    }
  }
  for (const auto& b : s.backends) {
    v1::LbBackendSpec* bs = out->add_backends();
    bs->set_address(b.address.ToString());
    bs->set_port(b.port);
    bs->set_weight(static_cast<int32_t>(b.weight));
    if (b.mac) bs->set_mac(MacToString(*b.mac));
  }
}

Status NoService(const std::string& name) {
  return NotFound("/service: no service " + Quoted(name));
}

Status CheckWeight(int32_t weight) {
  if (weight < 0)
    return InvalidArgument("/weight: must not be negative (got " + std::to_string(weight) + ")");
  if (static_cast<uint32_t>(weight) > kMaxWeight)
    return InvalidArgument("/weight: " + std::to_string(weight) + " is out of range [0, " +
                           std::to_string(kMaxWeight) + "]");
  return Status::Ok();
}

Result<std::pair<ServiceSpec*, BackendSpec*>> FindBackend(LbConfig& cfg, const std::string& service,
                                                          const std::string& address,
                                                          uint32_t port) {
  ServiceSpec* s = cfg.FindService(service);
  if (!s) return NoService(service);
  auto addr = IpAddr::Parse(address);
  if (!addr) return InvalidArgument("/address: " + Quoted(address) + " is not an IP address");
  if (port > 65535) return InvalidArgument("/port: " + std::to_string(port) + " is out of range");
  if (port == 0) {
    // No port: the address alone, if it names one backend.
    BackendSpec* only = nullptr;
    for (auto& b : s->backends) {
      if (b.address != *addr) continue;
      if (only)
        return InvalidArgument("/port: required, " + addr->ToString() +
                               " has several backends in service " + Quoted(service));
      only = &b;
    }
    if (!only)
      return NotFound("/address: no backend " + addr->ToString() + " in service " +
                      Quoted(service));
    return std::make_pair(s, only);
  }
  BackendSpec* b = s->FindBackend(*addr, static_cast<uint16_t>(port));
  if (!b) {
    BackendSpec probe;
    probe.address = *addr;
    probe.port = static_cast<uint16_t>(port);
    return NotFound("/address: no backend " + probe.Key() + " in service " + Quoted(service));
  }
  return std::make_pair(s, b);
}

}  // namespace sfc::elb
