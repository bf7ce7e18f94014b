// The queue between the exporter and one WatchFlows stream. Pure (threads
// only), so its overflow behaviour is unit-tested.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "efm/flow_record.h"

namespace sfc::efm {

// A FlowRecord plus what turns its monotonic times into wall-clock time.
struct ExportedRecord {
  FlowRecord record;
  int64_t wall_offset_ns = 0;
};

// One WatchFlows stream's queue. The exporter never blocks on a slow reader:
// past kMaxQueued the oldest records are dropped and counted.
class FlowWatcher {
 public:
  static constexpr size_t kMaxQueued = 65536;

  explicit FlowWatcher(size_t max_queued = kMaxQueued) : max_queued_(max_queued) {}

  void Push(const std::vector<ExportedRecord>& records);
  // Waits up to `timeout_ms` for records; false once closed and drained.
  bool Pop(std::vector<ExportedRecord>* out, int timeout_ms);
  void Close();
  uint64_t dropped() const;

 private:
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ExportedRecord> queue_;
  uint64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace sfc::efm
