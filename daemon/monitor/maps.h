// A chain's monitor maps, pinned by the chain engine: <chain>/monitor (the
// settings the data plane reads), <chain>/monitor_stats (its counters) and
// <chain>/events (the ring buffer). Thin: open, write, read.
#pragma once

#include <cstdint>
#include <string>

#include <sfc/abi.h>
#include "common/fd.h"
#include "common/status.h"
#include "engine/pin_layout.h"

namespace sfc::monitor {

struct Counters {
  uint64_t events = 0;        // written to the ring buffer
  uint64_t lost = 0;          // ring buffer full
  uint64_t rate_limited = 0;  // over the rate limit
  uint64_t sampled_out = 0;   // skipped by sampling
};

class ChainMonitorMaps {
 public:
  // NOT_FOUND when the chain has no monitor maps; FAILED_PRECONDITION when an
  // entry program of the chain does not read them (loaded by an older sfcd).
  static Result<ChainMonitorMaps> Open(const PinLayout& pins, const std::string& chain);

  Status Write(const sfc_monitor_config& config) const;
  Result<sfc_monitor_config> Read() const;
  Result<Counters> ReadCounters() const;  // summed over CPUs
  int events_fd() const { return events_.get(); }

 private:
  UniqueFd events_, config_, stats_;
};

}  // namespace sfc::monitor
