// noop: counts packets and passes them on. The chain engine's own cost per
// stage, and a placeholder in test chains.
#pragma once

#include <memory>

#include "engine/vnf_module.h"

namespace sfc {
std::unique_ptr<VnfModule> MakeNoopModule();
}
