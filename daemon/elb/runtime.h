// State the eLB module keeps per running instance: its config, what its maps
// hold, backend health; and the one background thread that probes backends,
// resolves DSR MACs, swaps tables when health changes and sweeps closed
// connections out of the connection table.
//
// Locking: the engine's chain lock (held around Apply, Populate, OnInstance*
// and WithVnf) is always taken before an Instance's mutex, never after.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "elb/config.h"
#include "elb/health.h"
#include "elb/maps.h"
#include "elb/plan.h"
#include "engine/chain_engine.h"

namespace sfc::elb {

struct BackendHealth {
  HealthTracker tracker;
  std::string last_error;
  std::optional<MacAddr> resolved_mac;
  uint32_t weight_percent = 100;  // last `Sfc-Weight` reported (load_weight services)
};

struct Instance {
  std::mutex mu;
  VnfInstanceInfo info;
  LbConfig config;
  std::map<uint32_t, BackendHealth> health;  // by backend id
  AppliedState applied;                      // of the pinned maps
  bool dirty = false;         // the maps lag behind config/health: sync at the next pass
  uint64_t health_epoch = 0;  // bumped by every change of View()
  bool removed = false;       // OnInstanceDown happened
  std::map<std::string, std::chrono::steady_clock::time_point> next_probe;  // by service
  std::chrono::steady_clock::time_point next_sweep{};                       // of closed connections
  // Entries of the connection table after the last sweep, which reads them
  // all anyway (for /metrics: no walk at scrape time); -1: no sweep yet.
  int64_t conn_entries = -1;
  uint32_t conn_capacity = 0;

  // Health as it applies to `cfg`: services without checks count their
  // backends as up; configured MACs win over resolved ones.
  HealthView ViewFor(const LbConfig& cfg) const;
  HealthView View() const { return ViewFor(config); }
  // Forgets health of backends that left the config, and of services that
  // no longer check health (their backends count as up).
  void PruneHealth();
  // Plans from config + health against the pinned maps and syncs them.
  // Caller holds mu (and the engine's chain lock, when there is an engine).
  Status SyncPinned();
};

class ElbRuntime {
 public:
  ~ElbRuntime() { Stop(); }

  void SetEngine(ChainEngine* engine) { engine_ = engine; }
  ChainEngine* engine() const { return engine_; }

  std::shared_ptr<Instance> Find(const std::string& chain, const std::string& vnf);
  // Populate() of a new generation hands over what it wrote; OnInstanceUp
  // adopts it if those maps are the ones that went live.
  // `epoch`: the instance's health_epoch the plan was made with.
  void StorePending(const std::string& chain, const std::string& vnf, AppliedState state,
                    uint64_t epoch);
  // Makes the thread run a pass now (an instance needs a sync).
  void Wake();
  void InstanceUp(const VnfInstanceInfo& info, LbConfig config);
  void InstanceDown(const VnfInstanceInfo& info);
  void Stop();

 private:
  static std::string Key(const std::string& chain, const std::string& vnf) {
    return chain + "/" + vnf;
  }
  void EnsureThread();
  void Run();
  // One pass: probe what is due, resolve MACs, sync what changed. Returns
  // when the next probe is due.
  std::chrono::steady_clock::time_point Pass();
  void SyncInstance(const std::shared_ptr<Instance>& inst);
  // Removes the instance's closed connections if its sweep is due; lowers
  // `next` to when the next one is.
  void SweepInstance(const std::shared_ptr<Instance>& inst,
                     std::chrono::steady_clock::time_point now,
                     std::chrono::steady_clock::time_point* next);

  ChainEngine* engine_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;
  std::map<std::string, std::shared_ptr<Instance>> instances_;
  std::map<std::string, std::pair<AppliedState, uint64_t>> pending_;
  std::chrono::steady_clock::time_point last_neigh_{};
};

}  // namespace sfc::elb
