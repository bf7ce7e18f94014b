// Chain files: ParseChainSpecText() with every VNF type's real validator.
// A spec that parses must survive its normalized form: ToJson() is what the
// state directory stores and what sfcd re-reads at start.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sfc;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<ChainSpec> spec = ParseChainSpecText(text, fuzz::Registry());
  if (!spec.ok()) {
    fuzz::Check(!spec.status().message().empty(), "a rejected chain names no reason");
    return 0;
  }
  Result<ChainSpec> again = ParseChainSpec(spec->ToJson(), fuzz::Registry());
  fuzz::Check(again.ok(), "the normalized form of a valid chain is rejected");
  fuzz::Check(*again == *spec, "the normalized form of a chain parses to another chain");
  return 0;
}
