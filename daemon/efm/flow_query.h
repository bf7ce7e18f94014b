// ListFlows' filters and ordering over live flows. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "efm/flow_tracker.h"

namespace sfc::efm {

struct Prefix {
  int family = 0;  // 4 or 6
  std::array<uint8_t, 16> addr{};
  uint8_t len = 0;
};
// "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix).
Result<Prefix> ParsePrefix(const std::string& text);
bool PrefixContains(const Prefix& p, int family, const uint32_t addr[4]);

enum class SortBy { kBytes, kPackets, kRate };
// "bytes" (also empty), "packets", "rate" (bytes per second).
Result<SortBy> ParseSortBy(std::string_view text);

struct FlowQuery {
  std::optional<Prefix> prefix;  // source or destination inside it
  std::optional<uint16_t> port;  // source or destination port (TCP, UDP)
  std::optional<uint8_t> proto;
  std::optional<uint16_t> app;  // nDPI application id; 0: flows not classified
  SortBy sort = SortBy::kBytes;
  size_t top = 0;  // 0: every match
};

bool Matches(const FlowQuery& q, const FlowView& v);

// Collects the best `top` matches of a stream of flows without sorting them all.
class FlowSelection {
 public:
  explicit FlowSelection(FlowQuery q) : q_(std::move(q)) {}
  void Offer(const FlowView& v);
  // Best first: highest sort value, ties broken by key for a stable order.
  std::vector<FlowView> Take();
  size_t matched() const { return matched_; }

 private:
  bool Better(const FlowView& a, const FlowView& b) const;

  FlowQuery q_;
  std::vector<FlowView> heap_;  // min-heap on Better when bounded
  size_t matched_ = 0;
};

}  // namespace sfc::efm
