// The VNF types built into sfcd.
#pragma once

#include "engine/chain_spec.h"

namespace sfc {
void RegisterBuiltinVnfs(VnfRegistry& registry);
}
