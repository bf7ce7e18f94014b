#include "elb/service.h"

#include <map>

#include "api/convert.h"
#include "common/json_fields.h"
#include "common/log.h"
#include "elb/maglev.h"
#include "elb/requests.h"
#include "sfc/v1/loadbalancer.grpc.pb.h"

namespace sfc::elb {
namespace {

using json_fields::Quoted;
namespace v1 = sfc::v1;

constexpr std::string_view kType = "loadbalancer";

// Status of one service: spec, and per backend its state, health, Maglev
// share and data-plane counters. Caller holds inst.mu.
void Describe(const Instance& inst, const ServiceSpec& s, const LbPlan& plan, const ElbMaps* maps,
              v1::LbService* out) {
  out->set_chain(inst.info.chain);
  out->set_vnf(inst.info.name);
  ToProto(s, out->mutable_spec());
  const PlannedService* ps = nullptr;
  for (const auto& p : plan.services)
    if (p.spec->name == s.name) ps = &p;
  std::map<uint32_t, uint32_t> slots;
  if (ps) {
    out->set_table_index(ps->value.index);
    // What Sync() built is what runs; after a restart (nothing built yet
    // by this process) the table is computed the same way.
    auto live = inst.applied.table_shares.find(ps->value.index);
    if (live != inst.applied.table_shares.end() && inst.applied.tables.count(ps->value.index) &&
        inst.applied.tables.at(ps->value.index) == ps->fingerprint) {
      slots = live->second;
    } else if (auto table = BuildMaglevTable(ps->table_input, ps->value.table_size); table.ok()) {
      for (uint32_t slot : *table) slots[slot]++;
    }
  }
  for (const auto& b : s.backends) {
    uint32_t id = plan.BackendId(s, b);
    v1::LbBackendStatus* st = out->add_backends();
    st->set_id(id);
    st->set_address(b.address.ToString());
    st->set_port(b.port);
    st->set_weight(b.weight);
    st->set_slots(slots[plan.SlotOf(id)]);
    auto pb = plan.backends.find(id);
    BackendState state = pb == plan.backends.end() ? BackendState::kUp : pb->second.state;
    if (pb != plan.backends.end()) st->set_effective_weight(pb->second.weight);
    std::string name(ToString(state));
    if (state == BackendState::kUp && b.weight == 0) name = "draining";
    st->set_state(name);
    if (s.mode == ForwardMode::kDsr && pb != plan.backends.end() && state != BackendState::kNoMac) {
      MacAddr mac;
      std::copy(std::begin(pb->second.value.mac), std::end(pb->second.value.mac), mac.begin());
      st->set_mac(MacToString(mac));
    }
    if (auto h = inst.health.find(id); h != inst.health.end()) {
      st->set_last_error(h->second.last_error);
      st->set_health_checks(h->second.tracker.checks());
      st->set_health_failures(h->second.tracker.failures());
    }
    if (maps) {
      elb_backend_stats c = ReadBackendStats(*maps, plan.SlotOf(id));
      st->set_packets(c.packets);
      st->set_bytes(c.bytes);
      st->set_connections(c.connections);
    }
  }
}

class LoadBalancerServiceImpl final : public v1::LoadBalancerService::Service {
 public:
  LoadBalancerServiceImpl(ChainEngine& engine, ElbRuntime& runtime)
      : engine_(engine), runtime_(runtime) {}

  grpc::Status ListServices(grpc::ServerContext*, const v1::ListLbServicesRequest* req,
                            v1::ListLbServicesResponse* resp) override {
    return api::ToGrpc(Read(req->chain(), req->vnf(),
                            [&](const Instance& inst, const LbPlan& plan, const ElbMaps* maps) {
                              for (const auto& s : inst.config.services)
                                Describe(inst, s, plan, maps, resp->add_services());
                              return Status::Ok();
                            }));
  }

  grpc::Status GetService(grpc::ServerContext*, const v1::GetLbServiceRequest* req,
                          v1::LbService* resp) override {
    return api::ToGrpc(Read(req->chain(), req->vnf(),
                            [&](const Instance& inst, const LbPlan& plan, const ElbMaps* maps) {
                              const ServiceSpec* s = inst.config.FindService(req->service());
                              if (!s) return NoService(req->service());
                              Describe(inst, *s, plan, maps, resp);
                              return Status::Ok();
                            }));
  }

  grpc::Status AddService(grpc::ServerContext*, const v1::AddLbServiceRequest* req,
                          v1::LbService* resp) override {
    std::string name = req->service().name();
    return api::ToGrpc(Mutate(req->chain(), req->vnf(), name, resp, [&](LbConfig& cfg) -> Status {
      SFC_ASSIGN_OR_RETURN(ServiceSpec s, ParseService(ServiceToJson(req->service()), "/service"));
      if (cfg.FindService(s.name))
        return AlreadyExists("/service/name: service " + Quoted(s.name) + " already exists");
      for (const auto& o : cfg.services)
        if (o.Key() == s.Key())
          return AlreadyExists("/service: service " + Quoted(o.name) + " already serves " +
                               s.Key());
      cfg.services.push_back(std::move(s));
      return Status::Ok();
    }));
  }

  grpc::Status UpdateService(grpc::ServerContext*, const v1::UpdateLbServiceRequest* req,
                             v1::LbService* resp) override {
    std::string name = req->service().name();
    return api::ToGrpc(Mutate(req->chain(), req->vnf(), name, resp, [&](LbConfig& cfg) -> Status {
      ServiceSpec* cur = cfg.FindService(name);
      if (!cur) return NotFound("/service/name: no service " + Quoted(name));
      SFC_ASSIGN_OR_RETURN(ServiceSpec s, ParseService(ServiceToJson(req->service()), "/service"));
      for (const auto& o : cfg.services)
        if (o.name != name && o.Key() == s.Key())
          return AlreadyExists("/service: service " + Quoted(o.name) + " already serves " +
                               s.Key());
      *cur = std::move(s);
      return Status::Ok();
    }));
  }

  grpc::Status DeleteService(grpc::ServerContext*, const v1::DeleteLbServiceRequest* req,
                             v1::DeleteLbServiceResponse*) override {
    return api::ToGrpc(Mutate(req->chain(), req->vnf(), "", nullptr, [&](LbConfig& cfg) -> Status {
      auto n = std::erase_if(cfg.services,
                             [&](const ServiceSpec& s) { return s.name == req->service(); });
      if (!n) return NoService(req->service());
      return Status::Ok();
    }));
  }

  grpc::Status AddBackend(grpc::ServerContext*, const v1::AddLbBackendRequest* req,
                          v1::LbService* resp) override {
    return api::ToGrpc(
        Mutate(req->chain(), req->vnf(), req->service(), resp, [&](LbConfig& cfg) -> Status {
          ServiceSpec* s = cfg.FindService(req->service());
          if (!s) return NoService(req->service());
          SFC_ASSIGN_OR_RETURN(BackendSpec b,
                               ParseBackend(BackendToJson(req->backend()), "/backend", *s));
          if (s->FindBackend(b.address, b.port))
            return AlreadyExists("/backend: " + b.Key() + " is already a backend of service " +
                                 Quoted(s->name));
          if (s->backends.size() + 1 > s->table_size)
            return FailedPrecondition("/backend: service " + Quoted(s->name) + " has " +
                                      std::to_string(s->backends.size()) +
                                      " backends, as many as its table has slots");
          s->backends.push_back(std::move(b));
          return Status::Ok();
        }));
  }

  grpc::Status RemoveBackend(grpc::ServerContext*, const v1::RemoveLbBackendRequest* req,
                             v1::LbService* resp) override {
    return api::ToGrpc(
        Mutate(req->chain(), req->vnf(), req->service(), resp, [&](LbConfig& cfg) -> Status {
          SFC_ASSIGN_OR_RETURN(auto found,
                               FindBackend(cfg, req->service(), req->address(), req->port()));
          auto& list = found.first->backends;
          list.erase(list.begin() + (found.second - list.data()));
          return Status::Ok();
        }));
  }

  grpc::Status SetWeight(grpc::ServerContext*, const v1::SetLbWeightRequest* req,
                         v1::LbService* resp) override {
    if (Status st = CheckWeight(req->weight()); !st.ok()) return api::ToGrpc(st);
    return api::ToGrpc(SetBackendWeight(req->chain(), req->vnf(), req->service(), req->address(),
                                        req->port(), req->weight(), resp));
  }

  grpc::Status Drain(grpc::ServerContext*, const v1::DrainLbBackendRequest* req,
                     v1::LbService* resp) override {
    return api::ToGrpc(SetBackendWeight(req->chain(), req->vnf(), req->service(), req->address(),
                                        req->port(), 0, resp));
  }

 private:
  using ReadFn = std::function<Status(const Instance&, const LbPlan&, const ElbMaps*)>;
  using EditFn = std::function<Status(LbConfig&)>;

  static Status CheckTarget(const std::string& chain, const std::string& vnf) {
    if (chain.empty()) return InvalidArgument("/chain: required");
    if (vnf.empty()) return InvalidArgument("/vnf: required");
    return Status::Ok();
  }

  Result<std::shared_ptr<Instance>> Running(const std::string& chain, const std::string& vnf) {
    auto inst = runtime_.Find(chain, vnf);
    if (!inst) return FailedPrecondition("loadbalancer " + chain + "/" + vnf + " is not running");
    return inst;
  }

  Status Read(const std::string& chain, const std::string& vnf, const ReadFn& fn) {
    SFC_RETURN_IF_ERROR(CheckTarget(chain, vnf));
    return engine_.WithVnf(chain, vnf, kType, [&](VnfRef&) -> Status {
      SFC_ASSIGN_OR_RETURN(auto inst, Running(chain, vnf));
      std::lock_guard lock(inst->mu);
      LbPlan plan = BuildPlan(inst->config, inst->View(), LayoutOf(inst->applied));
      auto maps = ElbMaps::OpenPinned(inst->info.pin_dir);
      return fn(*inst, plan, maps.ok() ? &*maps : nullptr);
    });
  }

  // Edits the instance's config, syncs its maps, saves the config in the
  // chain's spec and describes `service` (when not empty) into `out`.
  Status Mutate(const std::string& chain, const std::string& vnf, const std::string& service,
                v1::LbService* out, const EditFn& edit) {
    SFC_RETURN_IF_ERROR(CheckTarget(chain, vnf));
    return engine_.WithVnf(chain, vnf, kType, [&](VnfRef& ref) -> Status {
      SFC_ASSIGN_OR_RETURN(auto inst, Running(chain, vnf));
      std::lock_guard lock(inst->mu);
      LbConfig old = inst->config;
      LbConfig cfg = old;
      SFC_RETURN_IF_ERROR(edit(cfg));
      SFC_RETURN_IF_ERROR(ValidateLbConfig(cfg, ""));
      inst->config = cfg;
      Status st = inst->SyncPinned();
      if (!st.ok()) {
        inst->config = old;
        Status back = inst->SyncPinned();
        if (!back.ok()) {
          inst->dirty = true;
          log::Error("lb.rollback_failed",
                     {{"chain", chain}, {"vnf", vnf}, {"error", back.message()}});
        }
        return st;
      }
      inst->PruneHealth();
      SFC_RETURN_IF_ERROR(engine_.StoreVnfConfig(ref, ToJson(cfg)));
      log::Info(
          "lb.config_changed",
          {{"chain", chain}, {"vnf", vnf}, {"services", std::to_string(cfg.services.size())}});
      if (out && !service.empty()) {
        const ServiceSpec* s = inst->config.FindService(service);
        if (!s) return Status::Ok();
        LbPlan plan = BuildPlan(inst->config, inst->View(), LayoutOf(inst->applied));
        auto maps = ElbMaps::OpenPinned(inst->info.pin_dir);
        Describe(*inst, *s, plan, maps.ok() ? &*maps : nullptr, out);
      }
      return Status::Ok();
    });
  }

  Status SetBackendWeight(const std::string& chain, const std::string& vnf,
                          const std::string& service, const std::string& address, uint32_t port,
                          uint32_t weight, v1::LbService* out) {
    return Mutate(chain, vnf, service, out, [&](LbConfig& cfg) -> Status {
      SFC_ASSIGN_OR_RETURN(auto found, FindBackend(cfg, service, address, port));
      found.second->weight = weight;
      return Status::Ok();
    });
  }

  ChainEngine& engine_;
  ElbRuntime& runtime_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeLoadBalancerService(ChainEngine& engine, ElbRuntime& runtime) {
  return std::make_unique<LoadBalancerServiceImpl>(engine, runtime);
}

std::vector<VnfGauge> BackendGauges(ElbRuntime& runtime, const VnfInstanceInfo& info) {
  std::vector<VnfGauge> out;
  auto inst = runtime.Find(info.chain, info.name);
  if (!inst) return out;
  std::lock_guard lock(inst->mu);
  if (inst->conn_entries >= 0) {
    out.push_back({"table_entries",
                   "entries in a VNF table (conntrack, flows)",
                   {{"table", "conntrack"}},
                   static_cast<double>(inst->conn_entries)});
    out.push_back({"table_capacity",
                   "max_entries of a VNF table",
                   {{"table", "conntrack"}},
                   static_cast<double>(inst->conn_capacity)});
  }
  LbPlan plan = BuildPlan(inst->config, inst->View(), LayoutOf(inst->applied));
  for (const auto& s : inst->config.services) {
    v1::LbService svc;
    Describe(*inst, s, plan, nullptr, &svc);
    uint64_t total = 0;
    for (const auto& b : svc.backends()) total += b.slots();
    for (const auto& b : svc.backends()) {
      std::string backend = b.address() + ":" + std::to_string(b.port());
      bool up = b.state() == "up" || b.state() == "draining";
      out.push_back({"lb_backend_up",
                     "1 when the backend takes traffic (state: up, draining, ...)",
                     {{"service", s.name}, {"backend", backend}, {"state", b.state()}},
                     up ? 1.0 : 0.0});
      out.push_back({"lb_backend_share",
                     "the backend's share of its service's Maglev table",
                     {{"service", s.name}, {"backend", backend}},
                     total ? static_cast<double>(b.slots()) / static_cast<double>(total) : 0.0});
    }
  }
  return out;
}

}  // namespace sfc::elb
