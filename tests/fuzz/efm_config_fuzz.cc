// Flow monitor configs: ParseFlowmonConfig(), and the collector endpoint
// parser on the raw input.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sfc;
  std::string text(reinterpret_cast<const char*>(data), size);
  Result<efm::Endpoint> ep = efm::ParseEndpoint(text);
  if (ep.ok()) fuzz::Check(ep->port != 0, "a collector endpoint with port 0 is accepted");
  auto doc = fuzz::ParseJson(data, size);
  if (!doc) return 0;
  Result<efm::FlowmonConfig> cfg = efm::ParseFlowmonConfig(*doc, "/config");
  if (!cfg.ok()) return 0;
  fuzz::Check(cfg->idle_timeout_s < cfg->active_timeout_s,
              "idle_timeout_s >= active_timeout_s is accepted");
  return 0;
}
