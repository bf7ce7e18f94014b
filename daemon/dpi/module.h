// dpi, the application classification VNF (type "dpi"): the chain engine's module.
#pragma once

#include <memory>

#include "engine/vnf_module.h"

namespace sfc {

std::unique_ptr<VnfModule> MakeDpiModule();

}  // namespace sfc
