// The background side of one flowmon instance: a thread that scans the
// instance's pinned flow table every scan interval, lets the FlowTracker decide
// what ends, takes expired entries out atomically, and sends the records to
// IPFIX collectors and FlowService watchers. Queries read its latest view.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "efm/config.h"
#include "efm/flow_query.h"
#include "efm/flow_tracker.h"
#include "efm/ipfix.h"
#include "efm/watcher.h"
#include "engine/vnf_module.h"

namespace sfc::efm {

struct ExporterSummary {
  TrackerTotals totals;
  uint32_t max_flows = 0;
  uint32_t idle_timeout_s = 0, active_timeout_s = 0;
  uint64_t flows_created = 0;
  uint64_t insert_failures = 0;
  double packets_per_s = 0, bytes_per_s = 0, new_flows_per_s = 0;
  std::vector<std::string> collectors;
  uint64_t ipfix_messages = 0;
  uint64_t ipfix_errors = 0;
  int64_t scanned_at_wall_ns = 0;  // 0: no scan yet
  double scan_ms = 0;
};

class FlowExporter {
 public:
  FlowExporter(VnfInstanceInfo info, FlowmonConfig config);
  ~FlowExporter();
  FlowExporter(const FlowExporter&) = delete;
  FlowExporter& operator=(const FlowExporter&) = delete;

  // Call before Start() when the instance's table is new and empty: then the
  // eviction count includes what the table lost before the first scan.
  void TableStartsEmpty();
  void Start();
  // New timeouts and collectors, from the next scan on; that scan also
  // re-opens the pinned maps, so a table the engine had to recreate
  // (max_flows changed) is picked up.
  void Reconfigure(const FlowmonConfig& config);
  // With `flush`, every flow still in the table is exported as forced-end
  // first (the instance is going away); without, the table is left for the
  // next sfcd to pick up.
  void Stop(bool flush);

  // Runs one scan now, on the caller's thread (tests, and the thread's loop).
  Status ScanOnce(bool final = false);

  struct Listing {
    std::vector<FlowView> flows;
    size_t matched = 0;
    uint64_t active_flows = 0;
    int64_t wall_offset_ns = 0;
    int64_t scanned_at_wall_ns = 0;
  };
  Listing List(const FlowQuery& query) const;
  ExporterSummary Summary() const;

  std::shared_ptr<FlowWatcher> Watch();
  void Unwatch(const std::shared_ptr<FlowWatcher>& w);

  const VnfInstanceInfo& info() const { return info_; }

 private:
  class IpfixSender;
  struct Maps {
    UniqueFd flows, stats, exported;
    uint32_t flows_id = 0;
  };
  // The tracker's ExportStateStore: the instance's pinned `exported` map.
  class MapStore : public ExportStateStore {
   public:
    explicit MapStore(const Maps* maps) : maps_(maps) {}
    std::optional<SavedExport> Load(const FlowKey& key) override;
    void Save(const FlowKey& key, const SavedExport& saved) override;
    void Erase(const FlowKey& key) override;

   private:
    const Maps* maps_;
  };

  void Run();
  Status OpenMaps(Maps* out) const;
  Status ScanTable(const Maps& maps, bool final, std::vector<FlowRecord>* records);
  // Drops saved export state no tracked flow owns (flows that ended while no
  // sfcd was watching); once, after the first scan of a table.
  void PurgeExportState(const Maps& maps);
  void Publish(const std::vector<FlowRecord>& records, int64_t wall_offset_ns);

  const VnfInstanceInfo info_;

  // Scan state: used by the scanning thread (or ScanOnce callers) only.
  std::mutex scan_mu_;
  Maps maps_;
  MapStore store_{&maps_};
  bool reopen_ = false;
  bool purged_ = false;
  std::unique_ptr<IpfixSender> ipfix_;
  uint64_t last_created_ = 0, last_rx_packets_ = 0, last_rx_bytes_ = 0, last_scan_ns_ = 0;

  // Shared with queries.
  mutable std::mutex mu_;
  FlowmonConfig config_;
  bool reconfigured_ = false;  // config_ changed; the next scan applies it
  FlowTracker tracker_;
  ExporterSummary summary_;
  int64_t wall_offset_ns_ = 0;
  std::vector<std::shared_ptr<FlowWatcher>> watchers_;

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// CLOCK_MONOTONIC (what bpf_ktime_get_ns() returns) and the offset to Unix time.
uint64_t MonotonicNowNs();
int64_t WallOffsetNs();

}  // namespace sfc::efm
