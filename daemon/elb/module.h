// eLB (type "loadbalancer"): L4 load balancer with Maglev consistent hashing,
// connection affinity, DNAT or L2 DSR forwarding, and health checks.
#pragma once

#include <memory>

#include "engine/vnf_module.h"

namespace sfc {
std::unique_ptr<VnfModule> MakeElbModule();
}
