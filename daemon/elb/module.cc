#include "elb/module.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include "common/log.h"
#include "elb.skel.h"
#include "elb/config.h"
#include "elb/maps.h"
#include "elb/runtime.h"
#include "elb/service.h"

namespace sfc {
namespace {

using elb::ElbRuntime;
using elb::LbConfig;

static_assert(elb::kMaxServices == ELB_MAX_SERVICES);
static_assert(elb::kMaxBackends < ELB_MAX_BACKENDS);  // slot 0 is never used

class ElbObject : public VnfObject {
 public:
  ElbObject(sfc_elb* skel, VnfInstanceInfo info, LbConfig config, ElbRuntime& runtime)
      : skel_(skel), info_(std::move(info)), config_(std::move(config)), runtime_(runtime) {}
  ~ElbObject() override { sfc_elb__destroy(skel_); }

  bpf_object* object() override { return skel_->obj; }
  bpf_program* program() override { return skel_->progs.sfc_elb; }

  // Connections, reverse NAT entries and counters carry over a chain edit;
  // services, VIPs, backends and tables are rebuilt from the config, so the
  // running generation never sees them half-written.
  bool KeepsState(std::string_view map) const override {
    return map != elb::kServicesMap && map != elb::kSettingsMap && map != elb::kRnatPortsMap &&
           map != elb::kVipFilterMap && map != elb::kVipsMap && map != elb::kMaglevMap &&
           map != elb::kBackendsMap;
  }

  Status Populate() override {
    SFC_ASSIGN_OR_RETURN(elb::ElbMaps maps, elb::ElbMaps::FromObject(skel_->obj));
    elb::HealthView view;
    uint64_t epoch = 0;
    if (auto inst = runtime_.Find(info_.chain, info_.name)) {
      std::lock_guard lock(inst->mu);
      view = inst->ViewFor(config_);
      epoch = inst->health_epoch;
    }
    // A re-applied instance keeps its service indices and backend slots:
    // the connection table (kept) refers to them.
    elb::AppliedState running;
    if (auto pinned = elb::ElbMaps::OpenPinned(info_.pin_dir); pinned.ok()) {
      auto read = elb::ReadApplied(*pinned);
      if (!read.ok()) return read.status().Wrap("reading the running instance's maps");
      running = std::move(read).value();
    }
    elb::LbPlan plan = elb::BuildPlan(config_, view, elb::LayoutOf(running));
    elb::AppliedState applied;
    applied.maglev_id = maps.maglev_id();
    applied.stats_owner = running.stats_owner;  // backend_stats is carried over
    SFC_RETURN_IF_ERROR(elb::Sync(maps, plan, applied));
    runtime_.StorePending(info_.chain, info_.name, std::move(applied), epoch);
    return Status::Ok();
  }

 private:
  sfc_elb* skel_;
  VnfInstanceInfo info_;
  LbConfig config_;
  ElbRuntime& runtime_;
};

class ElbModule : public VnfModule {
 public:
  ~ElbModule() override { Stop(); }

  std::string_view type() const override { return "loadbalancer"; }

  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    return elb::ParseLbConfig(config, path).status();
  }

  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo& info,
                                          const nlohmann::json& config) const override {
    SFC_ASSIGN_OR_RETURN(LbConfig cfg, elb::ParseLbConfig(config, "/config"));
    sfc_elb* skel = sfc_elb__open();
    if (!skel)
      return ErrnoStatus("opening loadbalancer object for " + info.chain + "/" + info.name, errno);
    auto obj = std::make_unique<ElbObject>(skel, info, cfg, *runtime_);
    for (bpf_map* m : {skel->maps.conntrack, skel->maps.reverse_nat})
      if (int err = bpf_map__set_max_entries(m, cfg.max_connections))
        return ErrnoStatus(std::string("sizing ") + bpf_map__name(m) + " to " +
                               std::to_string(cfg.max_connections),
                           err);
    return std::unique_ptr<VnfObject>(std::move(obj));
  }

  void RegisterServices(grpc::ServerBuilder& builder, ChainEngine& engine) override {
    runtime_->SetEngine(&engine);
    service_ = elb::MakeLoadBalancerService(engine, *runtime_);
    builder.RegisterService(service_.get());
  }

  void OnInstanceUp(const VnfInstanceInfo& info, const nlohmann::json& config) override {
    auto cfg = elb::ParseLbConfig(config, "/config");
    if (!cfg.ok()) {  // validated before apply; only a corrupt saved spec gets here
      log::Error("lb.bad_config",
                 {{"chain", info.chain}, {"vnf", info.name}, {"error", cfg.status().message()}});
      return;
    }
    runtime_->InstanceUp(info, std::move(cfg).value());
  }

  void OnInstanceDown(const VnfInstanceInfo& info) override { runtime_->InstanceDown(info); }

  std::vector<VnfGauge> Gauges(const VnfInstanceInfo& info) const override {
    return elb::BackendGauges(*runtime_, info);
  }

  void Stop() override { runtime_->Stop(); }

 private:
  std::unique_ptr<ElbRuntime> runtime_ = std::make_unique<ElbRuntime>();
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace

std::unique_ptr<VnfModule> MakeElbModule() { return std::make_unique<ElbModule>(); }

}  // namespace sfc
