// The dpi instance's flow table (<pin_dir>/flows) as the daemon reads and
// writes it: verdicts in, listings and sweeps out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "common/status.h"
#include "dpi/classifier.h"
#include "dpi/dpi.h"

namespace sfc::dpi {

// CLOCK_MONOTONIC_COARSE, the clock of the entry's bpf_ktime_get_coarse_ns().
uint64_t CoarseNowNs();

// Writes a verdict into the flow's entry, unless the entry is gone (evicted
// or expired: false) or already CLASSIFIED (a classification is never
// replaced). The counters the program adds meanwhile may lose the few
// packets of this read-modify-write window.
Result<bool> WriteVerdict(int flows_fd, const dpi_flow_key& key, const Verdict& v);

struct FlowEntry {
  dpi_flow_key key;
  dpi_flow value;
};

// Every entry, in table order; stops after `limit`.
Result<std::vector<FlowEntry>> ReadFlows(int flows_fd, size_t limit = SIZE_MAX);

// The per-application packet and byte counters (`app_stats`), summed over
// CPUs; slots that counted nothing are left out.
Result<std::map<uint16_t, dpi_app_counters>> ReadAppCounters(int app_stats_fd);

struct SweepResult {
  uint64_t scanned = 0;
  uint64_t expired = 0;  // idle entries deleted
  uint64_t lost = 0;     // pending entries nobody classifies any more, given up
};

// Deletes entries idle since before `idle_before_ns`, and gives up (LOST)
// pending entries that were fed max_packets, have no classifier state
// (`tracking` false) and were quiet for a second: their packets went to a
// classifier that is gone (a restarted sfcd), so no verdict will come.
Result<SweepResult> SweepFlows(int flows_fd, uint64_t now_ns, uint64_t idle_before_ns,
                               uint32_t max_packets,
                               const std::function<bool(const dpi_flow_key&)>& tracking);

}  // namespace sfc::dpi
