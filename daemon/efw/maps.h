// The maps of one firewall instance and the one operation that changes its
// rules: Install(), which compiles a rule set into the inactive table set and
// then flips the `active` word, so packets see the old rules or the new ones,
// never a mix. Used by the module (a new generation) and the gRPC service
// (live edits on the pinned maps of a running instance).
#pragma once

#include <bpf/libbpf.h>
#include <functional>

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "efw/compiler.h"
#include "efw/config.h"
#include "efw/efw.h"

namespace sfc::efw {

struct RuleCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct RuleTotal {
  std::string id;
  RuleCounters counters;
};

struct InstallStats {
  size_t rules = 0;
  size_t groups = 0;
  size_t match_entries = 0;
  size_t lpm_entries = 0;
  size_t hashed_tables = 0;  // address tables held as prefix hashes, not tries
  std::vector<std::string> unresolved_iifs;
  // Where the time went: compiling, clearing the stale set, counter slots,
  // writing the new set (the switch itself is one map write).
  double compile_ms = 0, clear_ms = 0, slots_ms = 0, write_ms = 0;
  // Kernel map writes the install needed (a diff against the inactive set).
  size_t match_writes = 0, lpm_writes = 0;
};

struct SetContents;

class FirewallTables {
 public:
  // Map names of the instance, and whether each survives a re-apply.
  static bool IsStateMap(std::string_view name);

  // The maps of a loaded object (fds are duplicated).
  static Result<FirewallTables> FromObject(bpf_object* obj);
  // The maps a running instance pinned under `pin_dir`.
  static Result<FirewallTables> FromPins(const std::string& pin_dir);

  // When the counter slots of rules that are gone are given up: at once (a
  // live edit: the flip of `active` is the switch), or by the caller once
  // the new rules are live for good (a new generation: the switch comes later
  // and may be rolled back).
  enum class SlotRelease { kNow, kDeferred };
  // Makes `rules` with `default_action` the active rule set.
  Result<InstallStats> Install(const std::vector<Rule>& rules, Action default_action,
                               SlotRelease release = SlotRelease::kNow);
  // After a deferred install: the new rules stay; free the slots of rules that went.
  Status ReleaseStaleSlots();
  // After a deferred install: the new rules never ran for good; free the slots
  // given to rules the running set does not have, so their ids and counters
  // are as they were.
  Status ReleaseFreshSlots();
  // The next install's epoch will be above `epoch`: a new generation's fresh
  // tables continue the running instance's epochs, because conntrack entries
  // (kept across generations) cache verdicts under them.
  void set_epoch_floor(uint32_t epoch) { epoch_floor_ = epoch; }
  // Address tables with at most this many prefix lengths become prefix
  // hashes (0: tries only). Tests and benches set it to compare the two.
  void set_max_hash_lengths(uint32_t n) { max_hash_lengths_ = n; }
  // The epoch of the rule set active in a running instance's pinned maps.
  static Result<uint32_t> ActiveEpoch(const std::string& pin_dir);

  // Counters of each rule, by id (rules never installed read zero).
  Result<std::vector<RuleCounters>> Counters(const std::vector<Rule>& rules) const;
  // The `k` rules with the most packets (ties: bytes; rules with none are
  // left out), from one batched read of every counter slot and `k` id
  // lookups: no rule list, no per-rule syscall.
  Result<std::vector<RuleTotal>> TopRules(size_t k) const;

 private:
  using MapOpener = std::function<Result<UniqueFd>(const char* name)>;
  static Result<FirewallTables> Open(const MapOpener& open);
  FirewallTables() = default;
  Result<efw_active> Active() const;
  Status ClearSet(uint32_t set);
  Status WriteSetDiff(uint32_t set, const SetContents& old, const CompiledRuleSet& cs,
                      const std::vector<LpmEntry>& lpm_sorted, InstallStats* st);
  Result<std::vector<uint32_t>> AssignSlots(const std::vector<Rule>& rules);

  UniqueFd active_, setcfg_, misc_, ports_, apps_, src4_, dst4_, src6_, dst6_, pfx4_, pfx6_, iifs_,
      matches_, rule_stats_, rule_ids_;
  std::vector<uint32_t> stale_slots_;  // between AssignSlots and ReleaseStaleSlots
  std::vector<uint32_t> fresh_slots_;  // given to new rule ids by the last AssignSlots
  uint32_t max_matches_ = 0;           // per set
  uint32_t instance_id_ = 0;           // kernel id of `matches`: names this instance's tables
  uint32_t max_slots_ = 0;
  uint32_t epoch_floor_ = 0;
  uint32_t max_hash_lengths_ = EFW_HASH_LENS;
};

}  // namespace sfc::efw
