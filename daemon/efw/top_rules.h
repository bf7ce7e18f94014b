// The busiest firewall rules of every running instance, for /metrics.
//
// Reading every rule's counters costs a pass over the per-CPU counter slots
// (1M rules x CPUs at the limit), which a scrape must not pay. A background
// thread makes that pass for each instance every `interval` and keeps the top
// `k`; a scrape reads the cached list. The thread starts with the first Get(),
// so an sfcd nobody scrapes makes no passes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "efw/maps.h"
#include "engine/vnf_module.h"

namespace sfc::efw {

class TopRulesCache {
 public:
  TopRulesCache(std::chrono::milliseconds interval, size_t k);
  ~TopRulesCache();
  TopRulesCache(const TopRulesCache&) = delete;
  TopRulesCache& operator=(const TopRulesCache&) = delete;

  // An instance started (or was re-applied) / went away; a tracked instance
  // is read at once if the thread runs.
  void Track(const VnfInstanceInfo& info);
  void Untrack(const VnfInstanceInfo& info);

  // The instance's top rules at the last pass (empty before the first).
  // The first call starts the thread.
  std::vector<RuleTotal> Get(const std::string& chain, const std::string& vnf);

  // One pass over every tracked instance, on the caller's thread.
  void RefreshNow();

  // Joins the thread; Track() after Stop() starts no new one.
  void Stop();

 private:
  struct Entry {
    std::string pin_dir;
    std::vector<RuleTotal> top;
  };
  static std::string Key(const std::string& chain, const std::string& vnf) {
    return chain + "/" + vnf;
  }
  void Run();

  const std::chrono::milliseconds interval_;
  const size_t k_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_;
  bool stop_ = false;
  bool wanted_ = false;  // a pass before the interval is up
  std::thread thread_;
  std::mutex refresh_mu_;  // one pass at a time
};

}  // namespace sfc::efw
