// eFM, the flow monitor VNF (type "flowmon"): the chain engine's module.
#pragma once

#include <memory>

#include "engine/vnf_module.h"

namespace sfc {

std::unique_ptr<VnfModule> MakeEfmModule();

}  // namespace sfc
