// The expiry engine: turns successive scans of the data plane's flow table
// into flow records, each packet exported exactly once. Pure: the caller
// reads the table and passes the clock, so unit tests drive it with a fake one.
//
// Delta export. The data plane only ever adds to an entry; the tracker keeps,
// per flow, what it has exported so far and emits differences:
//   - active timeout: a long flow's record covers [record start, last packet];
//     the entry stays, the tracker remembers the exported counters. The next
//     record's first packet is not known (the data plane would need per-packet
//     work to mark where a record ended, see docs/flowmon.md): it came after
//     the read the previous record was cut from, so that read's time is the
//     next record's start, unless that record holds a single packet (whose
//     time is then exact);
//   - idle timeout, TCP FIN/RST: the caller takes the entry out of the table
//     with one atomic lookup-and-delete and hands the final value to Taken();
//     the record is that value minus what was exported. A packet that finds
//     no entry afterwards creates a new one, i.e. a new flow; nothing is
//     counted twice. (What a kernel hash delete cannot close: a packet on
//     another CPU that looked the entry up just before the delete and adds to
//     it just after the copy; that window is a few instructions wide.)
//   - evictions: an LRU hash drops entries silently when full. A flow the
//     tracker knew that is gone (or came back with a new first-seen time) is
//     emitted from its last snapshot with reason lack-of-resources; packets it
//     got after that snapshot are lost. Flows created and evicted between two
//     scans are never seen, so the eviction count comes from the data plane's
//     flows_created counter: evicted = created - removed by us - still live.
//     Computed at the end of each scan with `created` read before it, this is
//     a lower bound (flows created during the scan look live), exact once the
//     table is quiet, and never decreases.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "efm/flow_record.h"

namespace sfc::efm {

// Where the tracker keeps what it exported of flows still in the table, so a
// restarted daemon continues their deltas (the exporter backs it with the
// pinned `exported` map). Only flows that had an active-timeout record are
// stored; only the first scan of a tracker looks them up.
struct SavedExport {
  uint64_t first_seen_ns = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t cut_ns = 0;  // read of the last record's counters: later packets came after
};
class ExportStateStore {
 public:
  virtual ~ExportStateStore() = default;
  virtual std::optional<SavedExport> Load(const FlowKey& key) = 0;
  virtual void Save(const FlowKey& key, const SavedExport& saved) = 0;
  virtual void Erase(const FlowKey& key) = 0;
};

struct TrackerConfig {
  uint64_t idle_timeout_ns = 15'000'000'000ull;
  uint64_t active_timeout_ns = 60'000'000'000ull;
  // A TCP flow that saw FIN or RST ends once quiet this long (capped by the
  // idle timeout), so the last ACKs of the close land in the same record.
  uint64_t tcp_end_linger_ns = 1'000'000'000ull;
};

struct TrackerTotals {
  uint64_t active_flows = 0;  // in the table at the last scan
  uint64_t evictions = 0;     // table-full evictions (lower bound, see above)
  uint64_t records = 0;       // records emitted
  uint64_t packets = 0;       // sum of exported packet counts
  uint64_t bytes = 0;
  uint64_t scans = 0;
};

// A live flow as queries see it: totals since the entry was created, and its
// rate between the last two scans.
struct FlowView {
  FlowKey key{};
  FlowCounters counters;
  double bytes_per_s = 0;
  double packets_per_s = 0;
};

class FlowTracker {
 public:
  explicit FlowTracker(TrackerConfig config = {}, ExportStateStore* store = nullptr)
      : config_(config), store_(store) {}

  void SetConfig(const TrackerConfig& config) { config_ = config; }
  const TrackerConfig& config() const { return config_; }

  // Starts a scan at `now_ns` (CLOCK_MONOTONIC). `flows_created` is the data
  // plane's counter, read before the scan. With `final`, every flow observed
  // expires with reason forced-end (the instance is going away).
  void BeginScan(uint64_t now_ns, uint64_t flows_created, bool final = false);
  // The entries passed to Observe() next were read from the table at
  // `read_ns` or later (the clock taken just before the read: a packet not in
  // what was read came after it). Defaults to the scan's `now_ns`; a large
  // table is read in batches, each later than the scan's start.
  void ReadAt(uint64_t read_ns) { read_ns_ = std::max(read_ns, now_ns_); }
  // One table entry. Appends active-timeout records to `out`; returns the end
  // reason when the caller must take the entry out of the table and call Taken().
  std::optional<EndReason> Observe(const FlowKey& key, const FlowCounters& c,
                                   std::vector<FlowRecord>* out);
  // The caller's lookup-and-delete of an entry Observe() expired: `taken` is the
  // value it removed, or nullptr if the entry was gone already.
  void Taken(const FlowKey& key, const FlowCounters* taken, EndReason reason,
             std::vector<FlowRecord>* out);
  // Completes a scan that saw the whole table: flows not seen were evicted.
  void EndScan(std::vector<FlowRecord>* out);
  // Drops a scan that failed half way; nothing is concluded from it.
  void AbortScan() { in_scan_ = false; }
  // Forgets everything (the table was replaced by a new, empty one).
  void Reset();
  // The table and its flows_created counter started at zero (a new
  // instance), so every flow created and no longer there by the first scan
  // was evicted. Without this, the first scan takes what it finds unexplained
  // as the baseline: an adopted table's earlier removals are not ours to count.
  void StartsEmpty() {
    have_base_ = true;
    unexplained_base_ = 0;
  }

  TrackerTotals totals() const { return totals_; }
  size_t tracked() const { return flows_.size(); }
  // Whether the store holds state for this flow on our behalf.
  bool Persisted(const FlowKey& key) const {
    auto it = flows_.find(key);
    return it != flows_.end() && it->second.persisted;
  }

  template <typename Fn>
  void ForEachFlow(Fn&& fn) const {
    for (const auto& [key, t] : flows_)
      fn(FlowView{key, t.last, static_cast<double>(t.bytes_per_s),
                  static_cast<double>(t.packets_per_s)});
  }

 private:
  struct Tracked {
    FlowCounters last;  // newest snapshot of the entry
    uint64_t exported_packets = 0;
    uint64_t exported_bytes = 0;
    uint64_t record_start_ns = 0;  // 0: no packet since the last export yet
    uint64_t observed_ns = 0;      // when `last` was read (ReadAt)
    float bytes_per_s = 0;
    float packets_per_s = 0;
    uint64_t seen_scan = 0;
    bool persisted = false;  // has an entry in store_
  };

  // Start of the open record when it was not known at the last observation:
  // exact for a single new packet, else the read time of that observation
  // (new packets arrived after it): at most one scan interval early.
  static uint64_t PendingStart(const Tracked& t, const FlowCounters& now);
  void Emit(const FlowKey& key, const Tracked& t, const FlowCounters& upto, EndReason reason,
            std::vector<FlowRecord>* out);
  // A flow leaves the tracker: drop its stored state.
  void Forget(const FlowKey& key, const Tracked& t);
  // First sight of a flow in the first scan: what an earlier daemon exported.
  void Restore(const FlowKey& key, const FlowCounters& c, Tracked* t);

  TrackerConfig config_;
  ExportStateStore* store_;
  bool first_scan_ = true;  // no scan completed since construction or Reset()
  std::unordered_map<FlowKey, Tracked, FlowKeyHash, FlowKeyEq> flows_;
  TrackerTotals totals_;

  bool in_scan_ = false;
  bool final_ = false;
  uint64_t scan_ = 0;
  uint64_t now_ns_ = 0;
  uint64_t read_ns_ = 0;  // of the entries being observed: ReadAt()
  uint64_t created_at_begin_ = 0;
  uint64_t removed_ = 0;  // entries we took out of the table
  bool have_base_ = false;
  int64_t unexplained_base_ = 0;  // created - removed - live before we first looked
};

}  // namespace sfc::efm
