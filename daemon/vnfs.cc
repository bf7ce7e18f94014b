#include "vnfs.h"

#include "noop/module.h"

namespace sfc {

void RegisterBuiltinVnfs(VnfRegistry& registry) {
  registry.Add(MakeNoopModule());
}

}  // namespace sfc
