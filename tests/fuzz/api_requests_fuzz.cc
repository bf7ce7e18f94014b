// gRPC requests as they arrive off the wire: the first input byte picks the
// request type, the rest is parsed as that message (ParseFromArray) and goes
// through the same validation and conversion the service runs before it
// touches an instance (daemon/api/convert.cc, daemon/*/requests.cc).
#include <cstddef>
#include <cstdint>

#include "api/convert.h"
#include "efm/requests.h"
#include "efw/edits.h"
#include "efw/requests.h"
#include "elb/requests.h"
#include "fuzz_support.h"
#include "sfc/v1/firewall.pb.h"
#include "sfc/v1/flowmon.pb.h"
#include "sfc/v1/loadbalancer.pb.h"

namespace {

using namespace sfc;

void Apply(const v1::ApplyRequest& req) {
  Result<ChainSpec> spec = api::SpecOfRequest(req, fuzz::Registry());
  if (!spec.ok()) return;
  // What Get and List answer for it must convert back.
  v1::ChainSpec msg;
  fuzz::Check(api::JsonToSpecMessage(spec->ToJson(), &msg).ok(),
              "a valid chain does not convert to a ChainSpec message");
  v1::ApplyRequest again;
  *again.mutable_spec() = msg;
  Result<ChainSpec> reparsed = api::SpecOfRequest(again, fuzz::Registry());
  fuzz::Check(reparsed.ok() && *reparsed == *spec, "a chain changes through its message form");
}

// Rules a request carries; valid ones must survive ListRules' message form.
void Rules(const google::protobuf::RepeatedPtrField<v1::FirewallRule>& msgs) {
  Result<std::vector<efw::Rule>> rules = efw::ParseRuleMessages(msgs);
  if (!rules.ok()) return;
  for (const efw::Rule& r : *rules) {
    v1::FirewallRule m;
    efw::RuleToProto(r, &m);
    Result<efw::Rule> back = efw::ParseRule(efw::RuleToJson(m), "rule");
    fuzz::Check(back.ok() && *back == r, "a rule changes through its message form");
  }
  efw::FirewallConfig cfg;
  (void)efw::AddRules(cfg, std::move(rules).value(), "");
}

void AddRules(const v1::AddRulesRequest& req) { Rules(req.rules()); }

void ReplaceRules(const v1::ReplaceRulesRequest& req) {
  Rules(req.rules());
  if (!req.default_action().empty())
    (void)efw::ParseDefaultAction(req.default_action(), "default_action");
}

void DeleteRules(const v1::DeleteRulesRequest& req) {
  efw::FirewallConfig cfg;
  for (const char* id : {"a", "b", "rule-3"}) {
    efw::Rule r;
    r.id = id;
    cfg.rules.push_back(r);
  }
  std::vector<std::string> ids(req.ids().begin(), req.ids().end());
  const size_t before = cfg.rules.size();
  if (!efw::DeleteRules(cfg, ids).ok())
    fuzz::Check(cfg.rules.size() == before, "a failed delete changed the rules");
}

void SetDefault(const v1::SetDefaultRequest& req) {
  (void)efw::ParseDefaultAction(req.action(), "action");
}

void LbService(const v1::LbServiceSpec& msg) {
  Result<elb::ServiceSpec> s = elb::ParseService(elb::ServiceToJson(msg), "/service");
  if (!s.ok()) return;
  v1::LbServiceSpec shown;
  elb::ToProto(*s, &shown);
  Result<elb::ServiceSpec> back = elb::ParseService(elb::ServiceToJson(shown), "/service");
  fuzz::Check(back.ok() && *back == *s, "a service changes through its message form");
}

void AddService(const v1::AddLbServiceRequest& req) { LbService(req.service()); }
void UpdateService(const v1::UpdateLbServiceRequest& req) { LbService(req.service()); }

// One service per forwarding mode, for the backend requests to edit.
elb::LbConfig BackendTargets() {
  auto cfg = elb::ParseLbConfig(
      {{"services",
        {{{"name", "web"},
          {"vip", "10.0.0.100"},
          {"port", 80},
          {"backends",
           {{{"address", "10.0.1.2"}, {"port", 8080}}, {{"address", "10.0.1.3"}, {"port", 8080}}}}},
         {{"name", "dsr"},
          {"vip", "10.0.0.101"},
          {"mode", "dsr"},
          {"backends", {{{"address", "10.0.1.2"}}, {{"address", "10.0.1.3"}}}}}}}},
      "/config");
  fuzz::Check(cfg.ok(), "the fixed lb config is invalid");
  return std::move(cfg).value();
}

void AddBackend(const v1::AddLbBackendRequest& req) {
  elb::LbConfig cfg = BackendTargets();
  elb::ServiceSpec* s = cfg.FindService(req.service());
  if (!s) return;
  Result<elb::BackendSpec> b = elb::ParseBackend(elb::BackendToJson(req.backend()), "/backend", *s);
  if (!b.ok()) return;
  if (s->FindBackend(b->address, b->port)) return;
  s->backends.push_back(std::move(b).value());
  (void)elb::ValidateLbConfig(cfg, "");
}

void RemoveBackend(const v1::RemoveLbBackendRequest& req) {
  elb::LbConfig cfg = BackendTargets();
  auto found = elb::FindBackend(cfg, req.service(), req.address(), req.port());
  if (!found.ok()) return;
  auto& list = found->first->backends;
  fuzz::Check(found->second >= list.data() && found->second < list.data() + list.size(),
              "FindBackend points outside its service's backends");
}

void SetWeight(const v1::SetLbWeightRequest& req) {
  if (!elb::CheckWeight(req.weight()).ok()) return;
  elb::LbConfig cfg = BackendTargets();
  auto found = elb::FindBackend(cfg, req.service(), req.address(), req.port());
  if (!found.ok()) return;
  found->second->weight = static_cast<uint32_t>(req.weight());
  fuzz::Check(elb::ValidateLbConfig(cfg, "").ok(), "a checked weight makes the config invalid");
}

void ListFlows(const v1::ListFlowsRequest& req) {
  (void)efm::ParseFilters(req);
  (void)efm::ParseSortBy(req.sort());
}

void WatchFlows(const v1::WatchFlowsRequest& req) { (void)efm::ParseFilters(req); }

// Parses the message and runs `fn` on it; undecodable bytes are dropped
// before any service code, as gRPC does.
template <typename Msg>
void Run(const uint8_t* data, size_t size, void (*fn)(const Msg&)) {
  Msg msg;
  if (msg.ParseFromArray(data, static_cast<int>(size))) fn(msg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t kind = data[0];
  ++data, --size;
  switch (kind) {
    case 0:
      Run(data, size, Apply);
      break;
    case 1:
      Run(data, size, AddRules);
      break;
    case 2:
      Run(data, size, ReplaceRules);
      break;
    case 3:
      Run(data, size, DeleteRules);
      break;
    case 4:
      Run(data, size, SetDefault);
      break;
    case 5:
      Run(data, size, AddService);
      break;
    case 6:
      Run(data, size, UpdateService);
      break;
    case 7:
      Run(data, size, AddBackend);
      break;
    case 8:
      Run(data, size, RemoveBackend);
      break;
    case 9:
      Run(data, size, SetWeight);
      break;
    case 10:
      Run(data, size, ListFlows);
      break;
    case 11:
      Run(data, size, WatchFlows);
      break;
    default:
      break;  // new request types get new numbers: seeds keep their meaning
  }
  return 0;
}
