#include "efw/top_rules.h"

#include <utility>

#include "common/log.h"

namespace sfc::efw {

TopRulesCache::TopRulesCache(std::chrono::milliseconds interval, size_t k)
    : interval_(interval), k_(k) {}

TopRulesCache::~TopRulesCache() { Stop(); }

void TopRulesCache::Track(const VnfInstanceInfo& info) {
  std::lock_guard lock(mu_);
  if (stop_) return;
  entries_[Key(info.chain, info.name)].pin_dir = info.pin_dir;
  wanted_ = true;  // read the new instance at once, not an interval later
  cv_.notify_all();
}

void TopRulesCache::Untrack(const VnfInstanceInfo& info) {
  std::lock_guard lock(mu_);
  entries_.erase(Key(info.chain, info.name));
}

std::vector<RuleTotal> TopRulesCache::Get(const std::string& chain, const std::string& vnf) {
  std::lock_guard lock(mu_);
  if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { Run(); });
  auto it = entries_.find(Key(chain, vnf));
  return it == entries_.end() ? std::vector<RuleTotal>{} : it->second.top;
}

void TopRulesCache::RefreshNow() {
  std::lock_guard pass(refresh_mu_);
  std::map<std::string, std::string> dirs;  // key -> pin dir
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, e] : entries_) dirs.emplace(key, e.pin_dir);
  }
  // Outside mu_: a pass over a large table must not hold up scrapes.
  for (const auto& [key, dir] : dirs) {
    auto tables = FirewallTables::FromPins(dir);
    auto top = tables.ok() ? tables->TopRules(k_) : Result<std::vector<RuleTotal>>(tables.status());
    if (!top.ok()) {
      // The instance went away during the pass, or its pins did.
      log::Debug("fw.top_rules_failed", {{"instance", key}, {"error", top.status().message()}});
      continue;
    }
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end() && it->second.pin_dir == dir)
      it->second.top = std::move(top).value();
  }
}

void TopRulesCache::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wanted_ = false;
    lock.unlock();
    RefreshNow();
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stop_ || wanted_; });
  }
}

void TopRulesCache::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sfc::efw
