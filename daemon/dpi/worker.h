// The classifier thread of one dpi instance: reads the instance's ring
// buffer, feeds the classifier, writes verdicts into the flow table, expires
// idle flows from both in step, and keeps the counters the API shows.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/fd.h"
#include "common/status.h"
#include "dpi/classifier.h"
#include "dpi/config.h"
#include "engine/vnf_module.h"

struct ring_buffer;

namespace sfc::dpi {

struct WorkerSnapshot {
  ClassifierCounters classifier;
  uint64_t classifier_flows = 0;
  uint64_t verdicts_written = 0;
  uint64_t verdicts_stale = 0;  // flow gone or already classified when the verdict came
  uint64_t swept_expired = 0;
  uint64_t swept_lost = 0;
  uint64_t errors = 0;
  std::map<uint16_t, uint64_t> classified_by_app;
};

class Worker {
 public:
  Worker(VnfInstanceInfo info, DpiConfig cfg);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens the pinned ring buffer and flow table and starts the thread.
  Status Start();
  // Joins the thread. Idempotent.
  void Stop();

  const VnfInstanceInfo& info() const { return info_; }
  const DpiConfig& config() const { return cfg_; }
  int flows_fd() const { return flows_.get(); }
  int stats_fd() const { return stats_.get(); }
  int app_stats_fd() const { return app_stats_.get(); }
  // The map ids it reads: a re-apply that made new maps needs a new worker.
  uint32_t ring_id() const { return ring_id_; }
  uint32_t flows_id() const { return flows_id_; }
  WorkerSnapshot Snapshot() const;

 private:
  static int OnRecord(void* self, void* data, size_t size);
  void Run();
  void Handle(const dpi_event& ev, const uint8_t* data);
  void Publish();

  VnfInstanceInfo info_;
  DpiConfig cfg_;
  UniqueFd ring_, flows_, stats_, app_stats_;
  uint32_t ring_id_ = 0, flows_id_ = 0;
  ring_buffer* rb_ = nullptr;
  std::unique_ptr<Classifier> classifier_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  // Only the thread touches these...
  WorkerSnapshot work_;
  std::vector<std::pair<dpi_flow_key, Verdict>> evicted_;
  // ...and publishes them here.
  mutable std::mutex mu_;
  WorkerSnapshot published_;
};

}  // namespace sfc::dpi
