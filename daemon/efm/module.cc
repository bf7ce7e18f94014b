#include "efm/module.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <map>
#include <mutex>
#include <set>

#include "common/log.h"
#include "efm.skel.h"
#include "efm/config.h"
#include "efm/exporter.h"
#include "efm/service.h"
#include "engine/bpf_util.h"

namespace sfc {
namespace {

using efm::FlowExporter;
using efm::FlowmonConfig;

// Pin dirs of instances whose table was new and empty when loaded, between
// Populate() and the exporter's start in OnInstanceUp().
class NewTables {
 public:
  void Add(const std::string& pin_dir) {
    std::lock_guard lock(mu_);
    dirs_.insert(pin_dir);
  }
  bool Take(const std::string& pin_dir) {
    std::lock_guard lock(mu_);
    return dirs_.erase(pin_dir) > 0;
  }

 private:
  std::mutex mu_;
  std::set<std::string> dirs_;
};

class EfmObject : public VnfObject {
 public:
  EfmObject(sfc_efm* skel, std::string pin_dir, NewTables& new_tables)
      : skel_(skel), pin_dir_(std::move(pin_dir)), new_tables_(new_tables) {}
  ~EfmObject() override { sfc_efm__destroy(skel_); }
  bpf_object* object() override { return skel_->obj; }
  bpf_program* program() override { return skel_->progs.sfc_efm; }
  // `flows`, `exported` and `stats` are all state: a re-applied chain keeps
  // counting into the same table (unless max_flows changed: new tables).
  bool KeepsState(std::string_view) const override { return true; }

  // Before any packet: a flows_created of zero means the engine created the
  // maps for this generation (a new instance, or new tables): every flow
  // counted from now on belongs to the exporter that starts with them.
  Status Populate() override {
    auto counters = ReadPerCpuCounters(bpf_map__fd(skel_->maps.stats));
    if (!counters.ok()) return counters.status();
    for (const auto& [name, value] : *counters)
      if (name == "flows_created" && value == 0) new_tables_.Add(pin_dir_);
    return Status::Ok();
  }
  void Abandoned() override { new_tables_.Take(pin_dir_); }

 private:
  sfc_efm* skel_;
  std::string pin_dir_;
  NewTables& new_tables_;
};

class EfmModule : public VnfModule, public efm::ExporterDirectory {
 public:
  ~EfmModule() override { Stop(); }

  std::string_view type() const override { return "flowmon"; }

  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    return efm::ParseFlowmonConfig(config, path).status();
  }

  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo& info,
                                          const nlohmann::json& config) const override {
    SFC_ASSIGN_OR_RETURN(FlowmonConfig cfg, efm::ParseFlowmonConfig(config, "config"));
    sfc_efm* skel = sfc_efm__open();
    if (!skel)
      return ErrnoStatus("opening flowmon object for " + info.chain + "/" + info.name, errno);
    auto obj = std::make_unique<EfmObject>(skel, info.pin_dir, new_tables_);
    for (bpf_map* map : {skel->maps.flows, skel->maps.exported})
      if (int err = bpf_map__set_max_entries(map, cfg.max_flows))
        return ErrnoStatus("sizing " + std::string(bpf_map__name(map)) + " to " +
                               std::to_string(cfg.max_flows) + " entries",
                           err);
    return std::unique_ptr<VnfObject>(std::move(obj));
  }

  void RegisterServices(grpc::ServerBuilder& builder, ChainEngine& engine) override {
    service_ = efm::MakeFlowService(engine, *this);
    builder.RegisterService(service_.get());
  }

  // Flow-table fill as the exporter's last scan counted it (the scan walks
  // the table anyway, every scan_interval_ms): no walk at scrape time.
  std::vector<VnfGauge> Gauges(const VnfInstanceInfo& info) const override {
    std::vector<VnfGauge> out;
    auto exporter = Find(info.chain, info.name);
    if (!exporter) return out;
    const efm::ExporterSummary s = exporter->Summary();
    if (s.scanned_at_wall_ns == 0) return out;  // no scan yet: no number to give
    out.push_back({"table_entries",
                   "entries in a VNF table (conntrack, flows)",
                   {{"table", "flows"}},
                   static_cast<double>(s.totals.active_flows)});
    out.push_back({"table_capacity",
                   "max_entries of a VNF table",
                   {{"table", "flows"}},
                   static_cast<double>(s.max_flows)});
    return out;
  }

  void OnInstanceUp(const VnfInstanceInfo& info, const nlohmann::json& config) override {
    auto cfg = efm::ParseFlowmonConfig(config, "config");
    if (!cfg.ok()) {  // validated before apply; only a corrupt saved spec gets here
      log::Error("efm.bad_config",
                 {{"chain", info.chain}, {"vnf", info.name}, {"error", cfg.status().message()}});
      return;
    }
    std::shared_ptr<FlowExporter> exporter;
    {
      std::lock_guard lock(mu_);
      auto& slot = exporters_[Key(info.chain, info.name)];
      if (slot && slot->info().pin_dir == info.pin_dir) {
        exporter = slot;
      } else {
        if (slot) slot->Stop(/*flush=*/false);
        slot = std::make_shared<FlowExporter>(info, *cfg);
        if (new_tables_.Take(info.pin_dir)) slot->TableStartsEmpty();
        slot->Start();
        log::Info("efm.exporter_started",
                  {{"chain", info.chain},
                   {"vnf", info.name},
                   {"collectors", std::to_string(cfg->ipfix.collectors.size())}});
        return;
      }
    }
    exporter->Reconfigure(*cfg);
  }

  void OnInstanceDown(const VnfInstanceInfo& info) override {
    std::shared_ptr<FlowExporter> exporter;
    {
      std::lock_guard lock(mu_);
      auto it = exporters_.find(Key(info.chain, info.name));
      if (it == exporters_.end()) return;
      exporter = std::move(it->second);
      exporters_.erase(it);
    }
    // Whatever the table still holds is exported as forced-end.
    exporter->Stop(/*flush=*/true);
    log::Info("efm.exporter_stopped", {{"chain", info.chain}, {"vnf", info.name}});
  }

  void Stop() override {
    std::map<std::string, std::shared_ptr<FlowExporter>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(exporters_);
    }
    // sfcd exits, the data plane stays: leave the table for the next sfcd.
    for (auto& [_, e] : all) e->Stop(/*flush=*/false);
  }

  std::shared_ptr<FlowExporter> Find(const std::string& chain,
                                     const std::string& vnf) const override {
    std::lock_guard lock(mu_);
    auto it = exporters_.find(Key(chain, vnf));
    return it == exporters_.end() ? nullptr : it->second;
  }

 private:
  static std::string Key(const std::string& chain, const std::string& vnf) {
    return chain + "/" + vnf;
  }

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FlowExporter>> exporters_;
  mutable NewTables new_tables_;  // filled by Open()'s objects (Open is const)
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace

std::unique_ptr<VnfModule> MakeEfmModule() { return std::make_unique<EfmModule>(); }

}  // namespace sfc
