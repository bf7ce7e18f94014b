#include "elb/runtime.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <span>

#include <time.h>

#include "common/log.h"
#include "elb/conn_sweep.h"
#include "elb/neigh.h"

namespace sfc::elb {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kIdlePass = std::chrono::seconds(1);  // pass interval with nothing due
constexpr auto kNeighbourRefresh = std::chrono::seconds(1);
constexpr size_t kProbeBatch = 256;  // concurrent probes (sockets) at most

}  // namespace

HealthView Instance::ViewFor(const LbConfig& cfg) const {
  HealthView view;
  auto ids = AssignBackendIds(cfg);
  for (const auto& s : cfg.services)
    for (const auto& b : s.backends) {
      uint32_t id = ids.at({s.Key(), b.Key()});
      auto it = health.find(id);
      if (it == health.end()) continue;
      view[id] = {s.health.type == HealthType::kNone || it->second.tracker.up(),
                  b.mac ? std::nullopt : it->second.resolved_mac,
                  s.health.load_weight ? it->second.weight_percent : 100};
    }
  return view;
}

Status Instance::SyncPinned() {
  SFC_ASSIGN_OR_RETURN(ElbMaps maps, ElbMaps::OpenPinned(info.pin_dir));
  if (maps.maglev_id() != applied.maglev_id) {
    // Not the maps we wrote (adopted, or replaced): learn what they hold.
    SFC_ASSIGN_OR_RETURN(applied, ReadApplied(maps));
  }
  LbPlan plan = BuildPlan(config, View(), LayoutOf(applied));
  SFC_RETURN_IF_ERROR(Sync(maps, plan, applied));
  dirty = false;
  return Status::Ok();
}

void Instance::PruneHealth() {
  Instance& inst = *this;
  auto ids = AssignBackendIds(inst.config);
  std::set<uint32_t> keep;
  for (const auto& s : inst.config.services)
    for (const auto& b : s.backends) {
      uint32_t id = ids.at({s.Key(), b.Key()});
      auto it = inst.health.find(id);
      if (it == inst.health.end()) continue;
      keep.insert(id);
      if (s.health.type == HealthType::kNone) it->second.tracker = HealthTracker(true);
      if (b.mac) it->second.resolved_mac.reset();
    }
  std::erase_if(inst.health, [&](const auto& kv) { return !keep.count(kv.first); });
  std::set<std::string> names;
  for (const auto& s : inst.config.services) names.insert(s.name);
  std::erase_if(inst.next_probe, [&](const auto& kv) { return !names.count(kv.first); });
}

std::shared_ptr<Instance> ElbRuntime::Find(const std::string& chain, const std::string& vnf) {
  std::lock_guard lock(mu_);
  auto it = instances_.find(Key(chain, vnf));
  return it == instances_.end() ? nullptr : it->second;
}

void ElbRuntime::StorePending(const std::string& chain, const std::string& vnf, AppliedState state,
                              uint64_t epoch) {
  std::lock_guard lock(mu_);
  pending_[Key(chain, vnf)] = {std::move(state), epoch};
}

void ElbRuntime::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void ElbRuntime::InstanceUp(const VnfInstanceInfo& info, LbConfig config) {
  std::shared_ptr<Instance> inst;
  std::optional<std::pair<AppliedState, uint64_t>> pending;
  {
    std::lock_guard lock(mu_);
    auto& slot = instances_[Key(info.chain, info.name)];
    if (!slot) slot = std::make_shared<Instance>();
    inst = slot;
    if (auto it = pending_.find(Key(info.chain, info.name)); it != pending_.end()) {
      pending = std::move(it->second);
      pending_.erase(it);
    }
  }
  {
    std::lock_guard lock(inst->mu);
    const bool adopted = inst->info.pin_dir.empty();  // first sight of it in this daemon
    inst->info = info;
    inst->config = std::move(config);
    inst->removed = false;
    auto maps = ElbMaps::OpenPinned(info.pin_dir);
    if (!maps.ok()) {
      log::Error("lb.maps_missing",
                 {{"chain", info.chain}, {"vnf", info.name}, {"error", maps.status().message()}});
      inst->dirty = true;
    } else if (pending && pending->first.maglev_id == maps->maglev_id()) {
      inst->applied = std::move(pending->first);  // what Populate() wrote, live now
      // Health may have changed between Populate and the switch.
      if (pending->second != inst->health_epoch) inst->dirty = true;
    } else if (auto applied = ReadApplied(*maps); applied.ok()) {
      inst->applied = std::move(*applied);
      if (adopted) {
        // A restarted daemon resumes the health the last one saw, so that a
        // failed backend does not come back until it passes its checks.
        auto ids = AssignBackendIds(inst->config);
        for (const auto& s : inst->config.services) {
          if (s.health.type == HealthType::kNone) continue;
          for (const auto& b : s.backends) {
            uint32_t id = ids.at({s.Key(), b.Key()});
            bool down = false;
            for (const auto& [slot, be] : inst->applied.backends)
              down |= be.id == id && (be.flags & ELB_BE_F_DOWN) &&
                      !(s.mode == ForwardMode::kDsr && !b.mac);
            if (down) inst->health[id].tracker = HealthTracker(false);
          }
        }
      }
      inst->dirty = true;
    } else {
      inst->dirty = true;
    }
    inst->PruneHealth();
  }
  EnsureThread();
  Wake();
}

void ElbRuntime::InstanceDown(const VnfInstanceInfo& info) {
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(Key(info.chain, info.name));
    if (it == instances_.end()) return;
    inst = it->second;
    instances_.erase(it);
    pending_.erase(Key(info.chain, info.name));
  }
  std::lock_guard lock(inst->mu);
  inst->removed = true;
}

void ElbRuntime::EnsureThread() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Run(); });
}

void ElbRuntime::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ElbRuntime::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Clock::time_point next = Pass();
    lock.lock();
    cv_.wait_until(lock, next, [&] { return stop_ || wake_; });
    wake_ = false;
  }
}

void ElbRuntime::SyncInstance(const std::shared_ptr<Instance>& inst) {
  auto sync = [&]() -> Status {
    std::lock_guard lock(inst->mu);
    if (inst->removed || !inst->dirty) return Status::Ok();
    return inst->SyncPinned();
  };
  VnfInstanceInfo info;
  {
    std::lock_guard lock(inst->mu);
    info = inst->info;
  }
  // Under the chain lock, so an Apply cannot swap the maps mid-sync.
  Status st = engine_ ? engine_->WithVnf(info.chain, info.name, "loadbalancer",
                                         [&](VnfRef&) { return sync(); })
                      : sync();
  if (!st.ok() && st.code() != Code::kNotFound)
    log::Error("lb.sync_failed",
               {{"chain", info.chain}, {"vnf", info.name}, {"error", st.message()}});
}

void ElbRuntime::SweepInstance(const std::shared_ptr<Instance>& inst, Clock::time_point now,
                               Clock::time_point* next) {
  VnfInstanceInfo info;
  uint64_t timeout_ns;
  {
    std::lock_guard lock(inst->mu);
    if (inst->removed || inst->info.pin_dir.empty()) return;
    // Every close timeout: a closed connection goes between one and two
    // timeouts after its last segment.
    const auto interval = std::chrono::seconds(inst->config.tcp_close_timeout_s);
    if (inst->next_sweep > now) {
      *next = std::min(*next, inst->next_sweep);
      return;
    }
    inst->next_sweep = now + interval;
    *next = std::min(*next, inst->next_sweep);
    info = inst->info;
    timeout_ns = std::chrono::nanoseconds(interval).count();
  }
  // Outside the instance's lock: API calls need not wait for a large table.
  // The maps it touches are kept across re-applies.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the data plane's clock
  const uint64_t now_ns = uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
  auto swept = SweepClosedConnections(info.pin_dir, now_ns, timeout_ns);
  if (!swept.ok()) {
    if (swept.status().code() != Code::kNotFound)  // the instance went away meanwhile
      log::Warn("lb.sweep_failed",
                {{"chain", info.chain}, {"vnf", info.name}, {"error", swept.status().message()}});
    return;
  }
  {
    std::lock_guard lock(inst->mu);
    inst->conn_entries = static_cast<int64_t>(swept->scanned - swept->removed);
    inst->conn_capacity = swept->capacity;
  }
  if (swept->removed)
    log::Debug("lb.connections_swept", {{"chain", info.chain},
                                        {"vnf", info.name},
                                        {"removed", std::to_string(swept->removed)},
                                        {"scanned", std::to_string(swept->scanned)}});
}

Clock::time_point ElbRuntime::Pass() {
  const auto now = Clock::now();
  auto next = now + kIdlePass;
  std::vector<std::shared_ptr<Instance>> snapshot;
  {
    std::lock_guard lock(mu_);
    for (const auto& [_, inst] : instances_) snapshot.push_back(inst);
  }

  struct Job {
    std::shared_ptr<Instance> inst;
    uint32_t id, rise, fall;
    bool load_weight;
    std::string service, backend;
  };
  std::vector<ProbeTarget> targets;
  std::vector<Job> jobs;
  bool need_neigh = false;
  for (const auto& inst : snapshot) {
    std::lock_guard lock(inst->mu);
    if (inst->removed) continue;
    auto ids = AssignBackendIds(inst->config);
    for (const auto& s : inst->config.services) {
      if (s.mode == ForwardMode::kDsr)
        for (const auto& b : s.backends) need_neigh |= !b.mac;
      const HealthSpec& h = s.health;
      if (h.type == HealthType::kNone) continue;
      auto& due = inst->next_probe[s.name];
      if (due > now) {
        next = std::min(next, due);
        continue;
      }
      due = now + std::chrono::milliseconds(h.interval_ms);
      next = std::min(next, due);
      for (const auto& b : s.backends) {
        ProbeTarget t;
        t.address = b.address;
        t.port = h.port ? h.port : b.port;
        t.type = h.type;
        t.path = h.path;
        t.expect_status = h.expect_status;
        t.timeout = std::chrono::milliseconds(h.timeout_ms);
        t.want_weight = h.load_weight;
        targets.push_back(std::move(t));
        jobs.push_back(
            {inst, ids.at({s.Key(), b.Key()}), h.rise, h.fall, h.load_weight, s.name, b.Key()});
      }
    }
  }

  if (!targets.empty()) {
    // In batches, so thousands of backends never run the daemon out of fds.
    std::vector<ProbeResult> results;
    results.reserve(targets.size());
    for (size_t at = 0; at < targets.size(); at += kProbeBatch) {
      size_t n = std::min(kProbeBatch, targets.size() - at);
      auto part = ProbeAll(std::span(targets).subspan(at, n), std::chrono::milliseconds(60000));
      std::move(part.begin(), part.end(), std::back_inserter(results));
    }
    for (size_t i = 0; i < jobs.size(); i++) {
      Job& j = jobs[i];
      std::lock_guard lock(j.inst->mu);
      if (j.inst->removed) continue;
      BackendHealth& h = j.inst->health[j.id];
      if (!results[i].ok) h.last_error = results[i].error;
      if (j.load_weight && results[i].ok) {
        // No header: full weight. A change rebuilds the service's table.
        uint32_t pct = results[i].weight_percent.value_or(100);
        if (pct != h.weight_percent) {
          log::Info("lb.backend_weight", {{"chain", j.inst->info.chain},
                                          {"vnf", j.inst->info.name},
                                          {"service", j.service},
                                          {"backend", j.backend},
                                          {"percent", std::to_string(pct)}});
          h.weight_percent = pct;
          j.inst->dirty = true;
          j.inst->health_epoch++;
        }
      }
      if (!h.tracker.Record(results[i].ok, j.rise, j.fall)) continue;
      j.inst->dirty = true;
      j.inst->health_epoch++;
      log::Warn(h.tracker.up() ? "lb.backend_up" : "lb.backend_down",
                {{"chain", j.inst->info.chain},
                 {"vnf", j.inst->info.name},
                 {"service", j.service},
                 {"backend", j.backend},
                 {"error", h.tracker.up() ? std::string() : results[i].error}});
    }
  }

  if (need_neigh && now - last_neigh_ >= kNeighbourRefresh) {
    last_neigh_ = now;
    auto neigh = ReadNeighbours();
    if (!neigh.ok()) {
      log::Warn("lb.neighbours_unreadable", {{"error", neigh.status().message()}});
    } else {
      for (const auto& inst : snapshot) {
        std::lock_guard lock(inst->mu);
        if (inst->removed) continue;
        auto ids = AssignBackendIds(inst->config);
        for (const auto& s : inst->config.services) {
          if (s.mode != ForwardMode::kDsr) continue;
          for (const auto& b : s.backends) {
            if (b.mac) continue;
            std::optional<MacAddr> mac;
            if (auto it = neigh->find(b.address); it != neigh->end()) mac = it->second;
            BackendHealth& h = inst->health[ids.at({s.Key(), b.Key()})];
            if (h.resolved_mac == mac) continue;
            h.resolved_mac = mac;
            inst->dirty = true;
            inst->health_epoch++;
            log::Info("lb.backend_mac", {{"chain", inst->info.chain},
                                         {"vnf", inst->info.name},
                                         {"service", s.name},
                                         {"backend", b.Key()},
                                         {"mac", mac ? MacToString(*mac) : "unresolved"}});
          }
        }
      }
    }
  }

  for (const auto& inst : snapshot) {
    bool dirty;
    {
      std::lock_guard lock(inst->mu);
      dirty = inst->dirty && !inst->removed;
    }
    if (dirty) SyncInstance(inst);
  }
  for (const auto& inst : snapshot) SweepInstance(inst, now, &next);
  return next;
}

}  // namespace sfc::elb
