// Rule-set compilation: turns an ordered rule list into the classifier tables
// of bpf/efw/efw.h. Pure (no syscalls): interface names are resolved through
// a caller-supplied function.
//
// Scheme (docs/firewall.md has the long form): rules are partitioned into
// groups by shape (which of src, dst, sport, dport, iif they constrain).
// The application fields do not make shapes of their own: a group with
// rules on app or app_category cuts both into the ids its rules name plus
// one region for every other id, and its rules without them cover all.
// Inside a group, each constrained field is cut into regions, the distinct
// prefixes for addresses (an LPM lookup yields the longest one) and the
// elementary intervals for ports; the protocol/state/flags/ICMP-type byte
// ("misc") is cut into regions of identical rule coverage. A rule covers a
// contiguous run of regions per field, and the group's match table holds,
// for every region tuple some rule covers, the first such rule. Entries:
//   sum over rules r of  prod over fields f of |regions_f covered by r|
// which is about one per rule unless prefixes nest or ranges overlap.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "efw/config.h"
#include "efw/efw.h"

namespace sfc::efw {

// One prefix of the src or dst address table (shared by all groups): for
// each group constraining that direction (slot efw_src_slot/efw_dst_slot),
// the group's region of its longest prefix containing this one, 0 if none.
// The table is a trie, or a prefix hash when its prefixes come in few
// lengths (`hashed`; see efw_pfx4_key). A hash also holds markers: a
// longer prefix cut to the table's shortest length, with no regions.
struct LpmEntry {
  bool src = true;
  bool hashed = false;
  bool marker = false;
  Prefix prefix;
  std::array<uint32_t, EFW_ADDR_SLOTS> regions{};
};

struct CompiledGroup {
  uint8_t group = 0;                   // shape bits, EFW_G_*
  uint32_t gmin = 0;                   // priority (index) of its first rule
  uint8_t pslot = 0xff;                // slot in the ports map, 0xff when no ports
  std::vector<uint16_t> misc;          // EFW_MISC_SIZE regions
  std::vector<uint16_t> sport, dport;  // 65536 regions each, with ports
  // With rules on app or app_category (else empty): EFW_APP_IDS and
  // EFW_APP_CATEGORIES regions, the group's entry in the apps map.
  std::vector<uint16_t> app, category;
  bool has_app() const { return !app.empty(); }
};

struct CompiledRuleSet {
  Action default_action = Action::kDrop;
  std::vector<CompiledGroup> groups;  // by ascending gmin
  std::vector<LpmEntry> lpm;
  // Per hashed address table (enum efw_addr_table): its prefix lengths,
  // longest first; empty for a trie.
  std::array<std::vector<uint8_t>, EFW_ADDR_TABLES> hash_lens;
  std::vector<std::pair<uint32_t, uint32_t>> iifs;  // ifindex -> interface id
  // Keys carry set 0 in gs; the writer sets the set bit.
  std::vector<std::pair<efw_match_key, efw_match>> matches;
  // Rules naming an interface that does not exist: they match nothing.
  std::vector<std::string> unresolved_iifs;
  // Some rule matches TCP flags: a connection's packets may then differ in verdict.
  bool uses_tcp_flags = false;
  // Some rule matches app or app_category: a connection's verdict then
  // depends on the application a dpi VNF found, which changes once.
  bool uses_app = false;

  // The setcfg entry for this rule set.
  efw_set_cfg SetConfig() const;
};

struct CompileOptions {
  // Upper bound on match-table entries (the map holds two sets).
  size_t max_match_entries = 1u << 20;
  // An address table with at most this many prefix lengths is a prefix hash;
  // 0 keeps every table a trie.
  uint32_t max_hash_lengths = EFW_HASH_LENS;
  // Interface name -> ifindex, 0 when unknown.
  std::function<uint32_t(const std::string&)> resolve_iif;
};

// `slots[i]` is the counter slot of rules[i]. Fails (INVALID_ARGUMENT) when
// the tables would exceed their capacity, naming the group that does.
Result<CompiledRuleSet> CompileRules(const std::vector<Rule>& rules, Action default_action,
                                     const std::vector<uint32_t>& slots,
                                     const CompileOptions& options);

// The shape of a rule: EFW_G_* bits of the fields it constrains.
uint8_t RuleGroup(const Rule& rule);

// Whether a rule's protocol/state/flags/ICMP-type predicate covers the misc
// key (proto slot, state, aux) of efw.h. Exposed for tests.
bool MiscCovers(const Rule& rule, uint32_t proto_slot, uint32_t state, uint32_t aux);

}  // namespace sfc::efw
