// DpiService requests and replies, converted and checked. Pure: no maps, no
// classifier (the fuzz and unit tests call it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "dpi/dpi.h"
#include "sfc/v1/dpi.pb.h"

namespace sfc::dpi {

// "pending", "classified", "given-up".
std::string StateName(uint8_t state);
// "max-packets", "ring-full", "evicted", "lost"; "" for none.
std::string ReasonName(uint8_t reason);

struct FlowFilter {
  std::optional<uint16_t> app;  // matches app or master
  bool all = false;             // pending and given-up flows too
  size_t top = 10000;
};

inline constexpr size_t kMaxListedFlows = 10000;

// "app: \"Foo\" is not a protocol nDPI <version> knows (sfcctl dpi protocols)".
Result<FlowFilter> ParseFlowFilter(const v1::ListDpiFlowsRequest& req);
bool Matches(const FlowFilter& f, const dpi_flow& v);

// One flow as the API shows it; now_ns on the entry's clock (CoarseNowNs).
void FillFlow(const dpi_flow_key& k, const dpi_flow& v, uint64_t now_ns, v1::DpiFlow* out);

}  // namespace sfc::dpi
