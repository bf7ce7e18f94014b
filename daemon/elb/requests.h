// LoadBalancerService request messages to and from the config model, and
// the request checks that need no running instance. Pure: request messages
// become config JSON, so the one parser validates both and its errors name
// the request field ("/service/backends/1/weight: ...").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/status.h"
#include "elb/config.h"
#include "sfc/v1/loadbalancer.pb.h"

namespace sfc::elb {

nlohmann::json BackendToJson(const v1::LbBackendSpec& b);
nlohmann::json ServiceToJson(const v1::LbServiceSpec& s);
void ToProto(const ServiceSpec& s, v1::LbServiceSpec* out);

// NOT_FOUND "/service: no service \"<name>\"".
Status NoService(const std::string& name);

// SetWeight's weight: [0, kMaxWeight].
Status CheckWeight(int32_t weight);

// The backend `address` (and `port`, 0: the address's only backend) of
// `service` in `cfg`.
Result<std::pair<ServiceSpec*, BackendSpec*>> FindBackend(LbConfig& cfg, const std::string& service,
                                                          const std::string& address,
                                                          uint32_t port);

}  // namespace sfc::elb
