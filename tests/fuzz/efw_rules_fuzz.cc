// Firewall configs: the rule parser, the rule-set compiler and the live
// edits, on one config object per input.
#include <cstddef>
#include <cstdint>
#include <numeric>

#include "efw/compiler.h"
#include "efw/edits.h"
#include "fuzz_support.h"

namespace {

using namespace sfc;
using namespace sfc::efw;

// Small tables: inputs that would need more fail with the capacity error
// instead of making the fuzzer slow.
constexpr size_t kMaxMatchEntries = 1u << 14;

void CompileAll(const FirewallConfig& cfg) {
  std::vector<uint32_t> slots(cfg.rules.size());
  std::iota(slots.begin(), slots.end(), 0);
  CompileOptions opts;
  opts.max_match_entries = kMaxMatchEntries;
  // Some names exist, some do not: both paths of the compiler run.
  opts.resolve_iif = [](const std::string& name) -> uint32_t {
    return name.size() % 2 ? static_cast<uint32_t>(name.size()) : 0;
  };
  Result<CompiledRuleSet> set = CompileRules(cfg.rules, cfg.default_action, slots, opts);
  if (!set.ok()) {
    fuzz::Check(set.status().code() == Code::kInvalidArgument,
                "the compiler fails with something other than a capacity error");
    return;
  }
  fuzz::Check(set->matches.size() <= kMaxMatchEntries, "the compiler exceeds max_match_entries");
}

// Deleting the first rule and adding it back before the new first rule
// gives the same list.
void DeleteAndReAdd(const FirewallConfig& cfg) {
  if (cfg.rules.empty()) return;
  FirewallConfig edited = cfg;
  const Rule first = cfg.rules.front();
  fuzz::Check(DeleteRules(edited, {first.id}).ok(), "deleting an existing rule id fails");
  std::string before = edited.rules.empty() ? "" : edited.rules.front().id;
  fuzz::Check(AddRules(edited, {first}, before).ok(), "re-adding a deleted rule fails");
  fuzz::Check(edited.rules == cfg.rules, "delete + re-add changed the rule list");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto doc = fuzz::ParseJson(data, size);
  if (!doc) return 0;
  Result<FirewallConfig> cfg = ParseFirewallConfig(*doc, "/config");
  if (!cfg.ok()) return 0;
  Result<FirewallConfig> again = ParseFirewallConfig(cfg->ToJson(), "/config");
  fuzz::Check(again.ok(), "the normalized form of a valid firewall config is rejected");
  fuzz::Check(again->rules == cfg->rules && again->default_action == cfg->default_action &&
                  again->conntrack == cfg->conntrack && again->max_rules == cfg->max_rules,
              "the normalized form of a firewall config parses to another config");
  CompileAll(*cfg);
  DeleteAndReAdd(*cfg);
  return 0;
}
