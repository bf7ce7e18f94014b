#include "dpi/worker.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <chrono>

#include "common/failpoint.h"
#include "common/log.h"
#include "dpi/maps.h"
#include "engine/bpf_util.h"

namespace sfc::dpi {
namespace {

constexpr int kPollMs = 100;
constexpr uint64_t kNsPerSec = 1000000000ull;

}  // namespace

Worker::Worker(VnfInstanceInfo info, DpiConfig cfg) : info_(std::move(info)), cfg_(cfg) {}

Worker::~Worker() {
  Stop();
  ring_buffer__free(rb_);
}

Status Worker::Start() {
  // Tests that read the ring buffer themselves keep the classifier off.
  SFC_RETURN_IF_ERROR(Failpoint("dpi.classifier_start"));
  SFC_ASSIGN_OR_RETURN(ring_, OpenPinned(info_.pin_dir + "/ring"));
  SFC_ASSIGN_OR_RETURN(flows_, OpenPinned(info_.pin_dir + "/flows"));
  SFC_ASSIGN_OR_RETURN(stats_, OpenPinned(info_.pin_dir + "/stats"));
  SFC_ASSIGN_OR_RETURN(app_stats_, OpenPinned(info_.pin_dir + "/app_stats"));
  SFC_ASSIGN_OR_RETURN(bpf_map_info ri, MapInfo(ring_.get()));
  SFC_ASSIGN_OR_RETURN(bpf_map_info fi, MapInfo(flows_.get()));
  if (fi.key_size != sizeof(dpi_flow_key) || fi.value_size != sizeof(dpi_flow))
    return FailedPrecondition(info_.pin_dir + "/flows: key/value sizes " +
                              std::to_string(fi.key_size) + "/" + std::to_string(fi.value_size) +
                              " are not this sfcd's " + std::to_string(sizeof(dpi_flow_key)) + "/" +
                              std::to_string(sizeof(dpi_flow)));
  ring_id_ = ri.id;
  flows_id_ = fi.id;
  rb_ = ring_buffer__new(ring_.get(), &Worker::OnRecord, this, nullptr);
  if (rb_ == nullptr) return ErrnoStatus("reading " + info_.pin_dir + "/ring", errno);
  classifier_ =
      std::make_unique<Classifier>(Classifier::Options{cfg_.max_packets, cfg_.max_classifying});
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Worker::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

WorkerSnapshot Worker::Snapshot() const {
  std::lock_guard lock(mu_);
  return published_;
}

int Worker::OnRecord(void* self, void* data, size_t size) {
  auto* w = static_cast<Worker*>(self);
  if (size < sizeof(dpi_event)) return 0;
  const auto* ev = static_cast<const dpi_event*>(data);
  if (sizeof(dpi_event) + ev->cap_len > size) return 0;
  w->Handle(*ev, static_cast<const uint8_t*>(data) + sizeof(dpi_event));
  return 0;
}

void Worker::Handle(const dpi_event& ev, const uint8_t* data) {
  evicted_.clear();
  std::optional<Verdict> v = classifier_->Feed(ev, data, &evicted_);
  auto write = [this](const dpi_flow_key& key, const Verdict& verdict) {
    auto written = WriteVerdict(flows_.get(), key, verdict);
    if (!written.ok()) {
      if (work_.errors++ == 0)
        log::Warn(
            "dpi.verdict_write_failed",
            {{"chain", info_.chain}, {"vnf", info_.name}, {"error", written.status().message()}});
      return;
    }
    if (*written) {
      work_.verdicts_written++;
      if (verdict.state == DPI_CLASSIFIED) work_.classified_by_app[verdict.app]++;
    } else {
      work_.verdicts_stale++;
    }
  };
  for (const auto& [key, verdict] : evicted_) write(key, verdict);
  if (v) write(ev.key, *v);
}

void Worker::Publish() {
  work_.classifier = classifier_->counters();
  work_.classifier_flows = classifier_->active();
  std::lock_guard lock(mu_);
  published_ = work_;
}

void Worker::Run() {
  const uint64_t idle_ns = static_cast<uint64_t>(cfg_.idle_timeout_s) * kNsPerSec;
  // Sweep often enough that a flow leaves within a quarter of its timeout
  // late, and at most every second.
  const uint64_t sweep_every_ns = std::max<uint64_t>(kNsPerSec, idle_ns / 4);
  uint64_t next_sweep = 0, next_publish = 0;
  log::Info("dpi.classifier_started",
            {{"chain", info_.chain}, {"vnf", info_.name}, {"pin_dir", info_.pin_dir}});
  while (!stop_) {
    int n = ring_buffer__poll(rb_, kPollMs);
    if (n < 0 && n != -EINTR) {
      if (work_.errors++ == 0)
        log::Warn("dpi.ring_poll_failed",
                  {{"chain", info_.chain}, {"vnf", info_.name}, {"errno", std::to_string(-n)}});
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
    const uint64_t now = CoarseNowNs();
    if (now >= next_sweep) {
      next_sweep = now + sweep_every_ns;
      const uint64_t before = now > idle_ns ? now - idle_ns : 0;
      classifier_->Expire(before);
      auto swept = SweepFlows(flows_.get(), now, before, cfg_.max_packets,
                              [this](const dpi_flow_key& k) { return classifier_->Tracking(k); });
      if (swept.ok()) {
        work_.swept_expired += swept->expired;
        work_.swept_lost += swept->lost;
      } else if (work_.errors++ == 0) {
        log::Warn(
            "dpi.sweep_failed",
            {{"chain", info_.chain}, {"vnf", info_.name}, {"error", swept.status().message()}});
      }
    }
    if (n > 0 || now >= next_publish) {
      next_publish = now + kNsPerSec / 4;
      Publish();
    }
  }
  Publish();
  log::Info("dpi.classifier_stopped", {{"chain", info_.chain}, {"vnf", info_.name}});
}

}  // namespace sfc::dpi
