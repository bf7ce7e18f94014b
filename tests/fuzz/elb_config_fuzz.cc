// Load balancer configs: ParseLbConfig() and its normalized form.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sfc;
  auto doc = fuzz::ParseJson(data, size);
  if (!doc) return 0;
  Result<elb::LbConfig> cfg = elb::ParseLbConfig(*doc, "/config");
  if (!cfg.ok()) return 0;
  Result<elb::LbConfig> again = elb::ParseLbConfig(elb::ToJson(*cfg), "/config");
  fuzz::Check(again.ok(), "the normalized form of a valid lb config is rejected");
  fuzz::Check(*again == *cfg, "the normalized form of an lb config parses to another config");
  return 0;
}
