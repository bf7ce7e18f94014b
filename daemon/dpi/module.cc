#include "dpi/module.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <map>
#include <mutex>

#include "common/log.h"
#include "dpi.skel.h"
#include "dpi/config.h"
#include "dpi/service.h"
#include "dpi/worker.h"
#include "engine/bpf_util.h"

namespace sfc {
namespace {

using dpi::DpiConfig;
using dpi::Worker;

class DpiObject : public VnfObject {
 public:
  explicit DpiObject(sfc_dpi* skel) : skel_(skel) {}
  ~DpiObject() override { sfc_dpi__destroy(skel_); }
  bpf_object* object() override { return skel_->obj; }
  bpf_program* program() override { return skel_->progs.sfc_dpi; }
  // The flow table (with its labels), the ring buffer (with the records the
  // classifier has not read yet) and the counters carry over a re-apply and
  // an sfcd restart. `scratch` is a per-CPU work buffer, nothing to keep.
  bool KeepsState(std::string_view map) const override { return map != "scratch"; }

 private:
  sfc_dpi* skel_;
};

bool SameConfig(const DpiConfig& a, const DpiConfig& b) {
  return a.max_flows == b.max_flows && a.max_packets == b.max_packets &&
         a.snap_bytes == b.snap_bytes && a.ring_bytes == b.ring_bytes &&
         a.max_classifying == b.max_classifying && a.idle_timeout_s == b.idle_timeout_s;
}

// The id of the map pinned at `path`, 0 if none.
uint32_t PinnedMapId(const std::string& path) {
  auto fd = OpenPinned(path);
  if (!fd.ok()) return 0;
  auto info = MapInfo(fd->get());
  return info.ok() ? info->id : 0;
}

class DpiModule : public VnfModule, public dpi::WorkerDirectory {
 public:
  ~DpiModule() override { Stop(); }

  std::string_view type() const override { return "dpi"; }

  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    return dpi::ParseDpiConfig(config, path).status();
  }

  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo& info,
                                          const nlohmann::json& config) const override {
    SFC_ASSIGN_OR_RETURN(DpiConfig cfg, dpi::ParseDpiConfig(config, "config"));
    sfc_dpi* skel = sfc_dpi__open();
    if (!skel) return ErrnoStatus("opening dpi object for " + info.chain + "/" + info.name, errno);
    auto obj = std::make_unique<DpiObject>(skel);
    skel->rodata->dpi_max_packets = cfg.max_packets;
    skel->rodata->dpi_snap_bytes = cfg.snap_bytes;
    if (int err = bpf_map__set_max_entries(skel->maps.flows, cfg.max_flows))
      return ErrnoStatus("sizing flows to " + std::to_string(cfg.max_flows) + " entries", err);
    if (int err = bpf_map__set_max_entries(skel->maps.ring, cfg.ring_bytes))
      return ErrnoStatus("sizing ring to " + std::to_string(cfg.ring_bytes) + " bytes", err);
    return std::unique_ptr<VnfObject>(std::move(obj));
  }

  void RegisterServices(grpc::ServerBuilder& builder, ChainEngine& engine) override {
    service_ = dpi::MakeDpiService(engine, *this);
    builder.RegisterService(service_.get());
  }

  // Starts the instance's classifier, or keeps the running one when it reads
  // the same maps with the same settings (a re-apply that changed nothing
  // here). After an sfcd restart this adopts the pinned ring buffer and flow
  // table: labelled flows keep their labels, new flows are classified.
  void OnInstanceUp(const VnfInstanceInfo& info, const nlohmann::json& config) override {
    auto cfg = dpi::ParseDpiConfig(config, "config");
    if (!cfg.ok()) {  // validated before apply; only a corrupt saved spec gets here
      log::Error("dpi.bad_config",
                 {{"chain", info.chain}, {"vnf", info.name}, {"error", cfg.status().message()}});
      return;
    }
    std::shared_ptr<Worker> old;
    {
      std::lock_guard lock(mu_);
      auto it = workers_.find(Key(info.chain, info.name));
      if (it != workers_.end()) {
        const Worker& w = *it->second;
        if (w.info().pin_dir == info.pin_dir && SameConfig(w.config(), *cfg) &&
            w.ring_id() == PinnedMapId(info.pin_dir + "/ring") &&
            w.flows_id() == PinnedMapId(info.pin_dir + "/flows"))
          return;
        old = std::move(it->second);
        workers_.erase(it);
      }
    }
    if (old) old->Stop();
    auto worker = std::make_shared<Worker>(info, *cfg);
    if (Status st = worker->Start(); !st.ok()) {
      log::Error("dpi.classifier_failed",
                 {{"chain", info.chain}, {"vnf", info.name}, {"error", st.message()}});
      return;
    }
    std::lock_guard lock(mu_);
    workers_[Key(info.chain, info.name)] = std::move(worker);
  }

  void OnInstanceDown(const VnfInstanceInfo& info) override {
    std::shared_ptr<Worker> worker;
    {
      std::lock_guard lock(mu_);
      auto it = workers_.find(Key(info.chain, info.name));
      if (it == workers_.end()) return;
      worker = std::move(it->second);
      workers_.erase(it);
    }
    worker->Stop();
  }

  void Stop() override {
    std::map<std::string, std::shared_ptr<Worker>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(workers_);
    }
    // The data plane goes on: pending flows are fed into the pinned ring
    // buffer, and the next sfcd reads what is left of it.
    for (auto& [_, w] : all) w->Stop();
  }

  std::vector<VnfGauge> Gauges(const VnfInstanceInfo& info) const override {
    auto w = Find(info.chain, info.name);
    if (!w) return {};
    dpi::WorkerSnapshot s = w->Snapshot();
    return {{"dpi_classifier_flows",
             "Flows the dpi classifier holds nDPI state for",
             {},
             static_cast<double>(s.classifier_flows)},
            {"dpi_classified_flows",
             "Flows the dpi classifier named since it started",
             {},
             static_cast<double>(s.classifier.classified)},
            {"dpi_given_up_flows",
             "Flows the dpi classifier gave up on since it started",
             {},
             static_cast<double>(s.classifier.given_up + s.classifier.evicted)}};
  }

  std::shared_ptr<Worker> Find(const std::string& chain, const std::string& vnf) const override {
    std::lock_guard lock(mu_);
    auto it = workers_.find(Key(chain, vnf));
    return it == workers_.end() ? nullptr : it->second;
  }

 private:
  static std::string Key(const std::string& chain, const std::string& vnf) {
    return chain + "/" + vnf;
  }

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Worker>> workers_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace

std::unique_ptr<VnfModule> MakeDpiModule() { return std::make_unique<DpiModule>(); }

}  // namespace sfc
