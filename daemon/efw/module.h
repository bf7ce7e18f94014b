// eFW, the stateful firewall VNF (type "firewall"): the chain engine's module.
#pragma once

#include <memory>

#include "engine/vnf_module.h"

namespace sfc {

std::unique_ptr<VnfModule> MakeEfwModule();

}  // namespace sfc
