#include "vnfs.h"

#include "noop/module.h"
#ifdef SFC_WITH_EFW
#include "efw/module.h"
#endif
#ifdef SFC_WITH_EFM
#include "efm/module.h"
#endif
#ifdef SFC_WITH_ELB
#include "elb/module.h"
#endif
#ifdef SFC_WITH_DPI
#include "dpi/module.h"
#endif

namespace sfc {

// A build without some VNF folders (-DSFC_VNF_MODULES=...) simply lacks those types.
void RegisterBuiltinVnfs(VnfRegistry& registry) {
  registry.Add(MakeNoopModule());
#ifdef SFC_WITH_EFW
  registry.Add(MakeEfwModule());
#endif
#ifdef SFC_WITH_EFM
  registry.Add(MakeEfmModule());
#endif
#ifdef SFC_WITH_ELB
  registry.Add(MakeElbModule());
#endif
#ifdef SFC_WITH_DPI
  registry.Add(MakeDpiModule());
#endif
}

}  // namespace sfc
