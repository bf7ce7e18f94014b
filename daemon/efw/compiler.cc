#include "efw/compiler.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace sfc::efw {
namespace {

uint32_t ProtoSlot(Proto p) {
  switch (p) {
    case Proto::kTcp:
      return EFW_PROTO_TCP;
    case Proto::kUdp:
      return EFW_PROTO_UDP;
    case Proto::kIcmp:
      return EFW_PROTO_ICMP;
    case Proto::kIcmpv6:
      return EFW_PROTO_ICMPV6;
    case Proto::kAny:
      break;
  }
  return EFW_PROTO_OTHER;
}

// The fields of a rule MiscCovers() looks at; rules equal here share misc regions.
using MiscPredicate = std::tuple<Proto, bool, uint8_t, uint8_t, bool, uint8_t, uint8_t, bool>;

MiscPredicate PredicateOf(const Rule& r) {
  return {r.proto,
          r.tcp_flags.has_value(),
          r.tcp_flags ? r.tcp_flags->mask : uint8_t{0},
          r.tcp_flags ? r.tcp_flags->value : uint8_t{0},
          r.icmp_type.has_value(),
          r.icmp_type.value_or(0),
          r.states,
          r.sport || r.dport};
}

// Contiguous run [first, last) of sorted `prefixes` inside `p`.
std::pair<size_t, size_t> CoveredPrefixes(const std::vector<Prefix>& prefixes, const Prefix& p) {
  size_t lo = std::lower_bound(prefixes.begin(), prefixes.end(), p) - prefixes.begin();
  size_t hi = lo;
  while (hi < prefixes.size() && p.Contains(prefixes[hi])) ++hi;
  return {lo, hi};
}

// Cuts 0..65535 into the elementary intervals of `ranges`; ids (1-based) go
// to intervals some range covers. Fails if there are more than 65535.
Result<std::vector<uint16_t>> PortRegions(const std::vector<PortRange>& ranges) {
  std::vector<int32_t> delta(65537, 0);
  std::vector<uint32_t> bounds = {0, 65536};
  for (const auto& r : ranges) {
    delta[r.lo]++;
    delta[r.hi + 1]--;
    bounds.push_back(r.lo);
    bounds.push_back(r.hi + 1u);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::vector<int32_t> cover(65536);
  int32_t run = 0;
  for (uint32_t p = 0; p < 65536; ++p) cover[p] = (run += delta[p]);

  std::vector<uint16_t> regions(65536, 0);
  uint32_t next = 1;
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    if (cover[bounds[k]] == 0) continue;
    if (next > 0xffff)
      return InvalidArgument("more than 65535 distinct port intervals in one rule group");
    std::fill(regions.begin() + bounds[k], regions.begin() + bounds[k + 1],
              static_cast<uint16_t>(next));
    ++next;
  }
  return regions;
}

// Regions of an application or category id table of `size` entries: the
// ids in `named` (sorted, distinct) get 2, 3, ... in order; every other id
// gets 1 when some rule of the group leaves the field open, else 0.
std::vector<uint16_t> IdRegions(const std::vector<uint32_t>& named, bool open, size_t size) {
  std::vector<uint16_t> regions(size, open ? 1 : 0);
  for (size_t k = 0; k < named.size(); ++k) regions[named[k]] = static_cast<uint16_t>(k + 2);
  return regions;
}

// The regions a rule covers in an id table: the one of its id, or all of
// them when it leaves the field open.
std::vector<uint16_t> CoveredIdRegions(std::optional<uint32_t> id,
                                       const std::vector<uint32_t>& named) {
  if (id) {
    auto it = std::lower_bound(named.begin(), named.end(), *id);
    return {static_cast<uint16_t>(it - named.begin() + 2)};
  }
  std::vector<uint16_t> all{1};
  for (size_t k = 0; k < named.size(); ++k) all.push_back(static_cast<uint16_t>(k + 2));
  return all;
}

bool KeyLess(const std::pair<efw_match_key, efw_match>& a,
             const std::pair<efw_match_key, efw_match>& b) {
  return std::memcmp(&a.first, &b.first, sizeof(efw_match_key)) < 0;
}

bool KeyEqual(const std::pair<efw_match_key, efw_match>& a,
              const std::pair<efw_match_key, efw_match>& b) {
  return std::memcmp(&a.first, &b.first, sizeof(efw_match_key)) == 0;
}

std::string GroupName(uint8_t g) {
  std::string out;
  const char* names[] = {"src", "dst", "sport", "dport", "iif"};
  for (int i = 0; i < 5; ++i)
    if (g & (1 << i)) out += (out.empty() ? "" : "+") + std::string(names[i]);
  return out.empty() ? "protocol/state only" : out;
}

// The shared trie of one direction: every group's prefixes, each carrying the
// region, per group, of that group's longest prefix containing it. Sorted by
// (family, address, length), prefixes come in depth-first order of their
// nesting, so one stack per group tracks the group's enclosing prefix.
void BuildTrie(bool src, const std::vector<std::vector<Prefix>>& groups,
               std::vector<LpmEntry>& out) {
  std::vector<Prefix> all;
  for (const auto& g : groups) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  struct Open {
    std::vector<std::pair<Prefix, uint32_t>> stack;
    size_t next = 0;
  };
  std::vector<Open> open(groups.size());
  for (const Prefix& p : all) {
    LpmEntry e;
    e.src = src;
    e.prefix = p;
    for (uint32_t g = 0; g < groups.size(); ++g) {
      const auto& list = groups[g];
      if (list.empty()) continue;
      Open& o = open[g];
      while (!o.stack.empty() && !o.stack.back().first.Contains(p)) o.stack.pop_back();
      if (o.next < list.size() && list[o.next] == p) {
        o.stack.emplace_back(p, static_cast<uint32_t>(o.next + 1));
        ++o.next;
      }
      const uint32_t slot = src ? efw_src_slot(g) : efw_dst_slot(g);
      e.regions[slot] = o.stack.empty() ? 0 : o.stack.back().second;
    }
    out.push_back(e);
  }
}

// `p` cut to its first `len` bits.
Prefix Truncated(const Prefix& p, uint8_t len) {
  Prefix t = p;
  t.len = len;
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(static_cast<int>(len) - i * 8, 0, 8);
    t.addr[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return t;
}

// Makes each address table with at most `max_lengths` distinct prefix
// lengths a prefix hash: one probe per length, where a trie costs a node
// load per level whatever the packet. Every prefix longer than the table's
// shortest length also leaves a marker at that length (the prefix cut to
// it, with no regions) unless a real prefix is there, so the lookup probes
// the shortest length first and a miss there ends it: an address outside
// every prefix costs one probe (see efw_pfx_hash).
void ChooseHashedTables(uint32_t max_lengths, CompiledRuleSet& out) {
  auto table_of = [](const LpmEntry& e) { return efw_addr_table(e.src, e.prefix.family == 6); };
  std::array<std::set<uint8_t, std::greater<>>, EFW_ADDR_TABLES> lens;
  for (const LpmEntry& e : out.lpm) lens[table_of(e)].insert(e.prefix.len);
  for (uint32_t t = 0; t < EFW_ADDR_TABLES; ++t)
    if (!lens[t].empty() && lens[t].size() <= std::min<uint32_t>(max_lengths, EFW_HASH_LENS))
      out.hash_lens[t].assign(lens[t].begin(), lens[t].end());

  std::array<std::set<Prefix>, EFW_ADDR_TABLES> at_shortest, markers;
  for (LpmEntry& e : out.lpm) {
    const auto& hl = out.hash_lens[table_of(e)];
    e.hashed = !hl.empty();
    if (e.hashed && e.prefix.len == hl.back()) at_shortest[table_of(e)].insert(e.prefix);
  }
  for (const LpmEntry& e : out.lpm) {
    const uint32_t t = table_of(e);
    if (!e.hashed || e.prefix.len == out.hash_lens[t].back()) continue;
    Prefix m = Truncated(e.prefix, out.hash_lens[t].back());
    if (!at_shortest[t].count(m)) markers[t].insert(m);
  }
  for (uint32_t t = 0; t < EFW_ADDR_TABLES; ++t)
    for (const Prefix& m : markers[t]) {
      LpmEntry e;
      e.src = t == EFW_ADDR_SRC4 || t == EFW_ADDR_SRC6;
      e.hashed = true;
      e.marker = true;
      e.prefix = m;
      out.lpm.push_back(e);
    }
}

}  // namespace

uint8_t RuleGroup(const Rule& r) {
  uint8_t g = 0;
  if (r.src) g |= EFW_G_SRC;
  if (r.dst) g |= EFW_G_DST;
  if (r.sport) g |= EFW_G_SPORT;
  if (r.dport) g |= EFW_G_DPORT;
  if (!r.iif.empty()) g |= EFW_G_IIF;
  return g;
}

bool MiscCovers(const Rule& r, uint32_t proto_slot, uint32_t state, uint32_t aux) {
  const bool frag = proto_slot >= EFW_PROTO_FRAG;
  const uint32_t base = frag ? proto_slot - EFW_PROTO_FRAG : proto_slot;
  if (r.proto != Proto::kAny && ProtoSlot(r.proto) != base) return false;
  if (r.states) {
    if (state >= EFW_CT_UNTRACKED || !(r.states & (1u << state))) return false;
  }
  if (frag) return !r.sport && !r.dport && !r.tcp_flags && !r.icmp_type;
  if (r.tcp_flags && (aux & r.tcp_flags->mask) != r.tcp_flags->value) return false;
  if (r.icmp_type && aux != *r.icmp_type) return false;
  return true;
}

efw_set_cfg CompiledRuleSet::SetConfig() const {
  efw_set_cfg cfg{};
  cfg.ngroups = static_cast<uint8_t>(groups.size());
  cfg.default_action = static_cast<uint8_t>(default_action);
  cfg.has_tcp_flags = uses_tcp_flags ? 1 : 0;
  cfg.has_app = uses_app ? 1 : 0;
  std::memset(cfg.pslot, 0xff, sizeof(cfg.pslot));
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    cfg.groups[i] = g.group;
    cfg.gmin[i] = g.gmin;
    cfg.pslot[g.group] = g.pslot;
    if (g.has_app()) cfg.app_groups |= 1u << g.group;
    if (g.group & EFW_G_IIF) cfg.has_iif = 1;
    if (g.group & EFW_G_SRC) cfg.has_addr |= 1;
    if (g.group & EFW_G_DST) cfg.has_addr |= 2;
  }
  for (uint32_t t = 0; t < EFW_ADDR_TABLES; ++t) {
    cfg.nlens[t] = static_cast<uint8_t>(hash_lens[t].size());
    std::copy(hash_lens[t].begin(), hash_lens[t].end(), cfg.lens[t]);
  }
  return cfg;
}

Result<CompiledRuleSet> CompileRules(const std::vector<Rule>& rules, Action default_action,
                                     const std::vector<uint32_t>& slots,
                                     const CompileOptions& options) {
  if (slots.size() != rules.size())
    return Internal("compiling rules: one counter slot per rule needed");
  CompiledRuleSet out;
  out.default_action = default_action;
  for (const auto& r : rules) {
    out.uses_tcp_flags |= r.tcp_flags.has_value();
    if (r.app && *r.app >= EFW_APP_IDS - 1)
      return InvalidArgument("rule \"" + r.id + "\": application id " + std::to_string(*r.app) +
                             " is above the firewall's limit " + std::to_string(EFW_APP_IDS - 2));
  }

  // Interfaces: one id per distinct ifindex.
  std::map<std::string, uint32_t> iif_id;  // name -> id, 0: unresolved
  std::map<uint32_t, uint32_t> ifindex_id;
  for (const auto& r : rules) {
    if (r.iif.empty() || iif_id.count(r.iif)) continue;
    uint32_t ifindex = options.resolve_iif ? options.resolve_iif(r.iif) : 0;
    if (!ifindex) {
      iif_id[r.iif] = 0;
      out.unresolved_iifs.push_back(r.iif);
      continue;
    }
    auto [it, fresh] = ifindex_id.emplace(ifindex, static_cast<uint32_t>(ifindex_id.size() + 1));
    iif_id[r.iif] = it->second;
    (void)fresh;
  }
  for (const auto& [ifindex, id] : ifindex_id) out.iifs.emplace_back(ifindex, id);

  std::vector<std::vector<uint32_t>> members(EFW_NGROUPS);
  for (uint32_t i = 0; i < rules.size(); ++i) {
    if (!rules[i].iif.empty() && iif_id[rules[i].iif] == 0) continue;  // can never match
    members[RuleGroup(rules[i])].push_back(i);
  }

  std::vector<std::vector<Prefix>> group_src(EFW_NGROUPS), group_dst(EFW_NGROUPS);
  uint8_t next_pslot = 0;
  for (uint8_t g = 0; g < EFW_NGROUPS; ++g) {
    const auto& idx = members[g];
    if (idx.empty()) continue;
    CompiledGroup cg;
    cg.group = g;
    cg.gmin = idx.front();

    // Misc regions: misc keys with the same set of covering predicates.
    std::map<MiscPredicate, uint32_t> pred_id;
    std::vector<const Rule*> preds;
    std::vector<uint32_t> rule_pred(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) {
      auto [it, fresh] =
          pred_id.emplace(PredicateOf(rules[idx[k]]), static_cast<uint32_t>(preds.size()));
      if (fresh) preds.push_back(&rules[idx[k]]);
      rule_pred[k] = it->second;
    }
    cg.misc.assign(EFW_MISC_SIZE, 0);
    std::map<std::vector<uint32_t>, uint16_t> region_of_set;
    std::vector<std::vector<uint16_t>> pred_regions(preds.size());
    std::vector<uint32_t> covering;
    for (uint32_t slot = 0; slot < EFW_PROTO_SLOTS; ++slot) {
      for (uint32_t state = 0; state < EFW_CT_STATES; ++state) {
        for (uint32_t aux = 0; aux < 256; ++aux) {
          covering.clear();
          for (uint32_t p = 0; p < preds.size(); ++p)
            if (MiscCovers(*preds[p], slot, state, aux)) covering.push_back(p);
          if (covering.empty()) continue;
          auto [it, fresh] =
              region_of_set.emplace(covering, static_cast<uint16_t>(region_of_set.size() + 1));
          if (fresh)
            for (uint32_t p : covering) pred_regions[p].push_back(it->second);
          cg.misc[efw_misc_index(slot, state, aux)] = it->second;
        }
      }
    }

    // Address regions: the distinct prefixes of the group, per direction.
    std::vector<Prefix> srcs, dsts;
    for (uint32_t i : idx) {
      if (rules[i].src) srcs.push_back(*rules[i].src);
      if (rules[i].dst) dsts.push_back(*rules[i].dst);
    }
    for (auto* v : {&srcs, &dsts}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }

    // Port regions.
    if (g & (EFW_G_SPORT | EFW_G_DPORT)) {
      std::vector<PortRange> sp, dp;
      for (uint32_t i : idx) {
        if (rules[i].sport) sp.push_back(*rules[i].sport);
        if (rules[i].dport) dp.push_back(*rules[i].dport);
      }
      auto s = PortRegions(sp);
      if (!s.ok()) return s.status().Wrap("rule group " + GroupName(g));
      auto d = PortRegions(dp);
      if (!d.ok()) return d.status().Wrap("rule group " + GroupName(g));
      cg.sport = std::move(s).value();
      cg.dport = std::move(d).value();
      // Each set has EFW_PORT_SLOTS port tables, but up to 24 groups match on
      // ports: a slot past them indexed the other set's tables (overwriting
      // the live set's) or past the map (found by tests/bpf/torture_test.cc).
      if (next_pslot == EFW_PORT_SLOTS)
        return InvalidArgument("rule group " + GroupName(g) + ": rule set needs more than " +
                               std::to_string(EFW_PORT_SLOTS) +
                               " groups matching on ports (by src/dst/sport/dport/iif shape)");
      cg.pslot = next_pslot++;
    }

    // Application regions, in groups with rules on app or app_category.
    std::vector<uint32_t> apps, cats;
    bool app_open = false, cat_open = false;
    for (uint32_t i : idx) {
      if (rules[i].app)
        apps.push_back(*rules[i].app);
      else
        app_open = true;
      if (rules[i].app_category)
        cats.push_back(*rules[i].app_category);
      else
        cat_open = true;
    }
    if (!apps.empty() || !cats.empty()) {
      for (auto* v : {&apps, &cats}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
      }
      cg.app = IdRegions(apps, app_open, EFW_APP_IDS);
      cg.category = IdRegions(cats, cat_open, EFW_APP_CATEGORIES);
      out.uses_app = true;
    }
    const bool with_app = cg.has_app();

    // The cross product, first rule first: the first entry of a key wins.
    const size_t group_start = out.matches.size();
    for (size_t k = 0; k < idx.size(); ++k) {
      const Rule& r = rules[idx[k]];
      auto [s_lo, s_hi] = r.src ? CoveredPrefixes(srcs, *r.src) : std::pair<size_t, size_t>{0, 1};
      auto [d_lo, d_hi] = r.dst ? CoveredPrefixes(dsts, *r.dst) : std::pair<size_t, size_t>{0, 1};
      uint32_t sp_lo = 0, sp_hi = 0, dp_lo = 0, dp_hi = 0;
      if (r.sport) sp_lo = cg.sport[r.sport->lo], sp_hi = cg.sport[r.sport->hi];
      if (r.dport) dp_lo = cg.dport[r.dport->lo], dp_hi = cg.dport[r.dport->hi];
      const auto& mregs = pred_regions[rule_pred[k]];
      // Outside app groups the key's app and category stay 0.
      const std::vector<uint16_t> aregs =
          with_app ? CoveredIdRegions(r.app, apps) : std::vector<uint16_t>{0};
      const std::vector<uint16_t> cregs =
          with_app ? CoveredIdRegions(r.app_category, cats) : std::vector<uint16_t>{0};
      const size_t count = mregs.size() * (s_hi - s_lo) * (d_hi - d_lo) * (sp_hi - sp_lo + 1) *
                           (dp_hi - dp_lo + 1) * aregs.size() * cregs.size();
      if (out.matches.size() + count > options.max_match_entries)
        return InvalidArgument("rule set needs more than " +
                               std::to_string(options.max_match_entries) +
                               " classifier entries (rule group " + GroupName(g) + ", at rule \"" +
                               r.id + "\"); raise max_rules or split overlapping prefixes/ranges");
      efw_match val{};
      val.prio = idx[k];
      val.slot = slots[idx[k]];
      val.action = static_cast<uint8_t>(r.action);
      const uint32_t iif = r.iif.empty() ? 0 : iif_id[r.iif];
      for (uint16_t m : mregs)
        for (size_t s = s_lo; s < s_hi; ++s)
          for (size_t d = d_lo; d < d_hi; ++d)
            for (uint32_t sp = sp_lo; sp <= sp_hi; ++sp)
              for (uint32_t dp = dp_lo; dp <= dp_hi; ++dp)
                for (uint16_t a : aregs)
                  for (uint16_t c : cregs) {
                    efw_match_key key{};
                    key.gs = efw_gs(0, g);
                    key.misc = m;
                    key.src = r.src ? static_cast<uint32_t>(s + 1) : 0;
                    key.dst = r.dst ? static_cast<uint32_t>(d + 1) : 0;
                    key.sport = static_cast<uint16_t>(sp);
                    key.dport = static_cast<uint16_t>(dp);
                    key.iif = iif;
                    key.app = a;
                    key.category = c;
                    out.matches.emplace_back(key, val);
                  }
    }
    auto first = out.matches.begin() + static_cast<std::ptrdiff_t>(group_start);
    std::stable_sort(first, out.matches.end(), KeyLess);
    out.matches.erase(std::unique(first, out.matches.end(), KeyEqual), out.matches.end());
    out.groups.push_back(std::move(cg));
    group_src[g] = std::move(srcs);
    group_dst[g] = std::move(dsts);
  }
  BuildTrie(true, group_src, out.lpm);
  BuildTrie(false, group_dst, out.lpm);
  ChooseHashedTables(options.max_hash_lengths, out);
  std::sort(out.groups.begin(), out.groups.end(),
            [](const CompiledGroup& a, const CompiledGroup& b) { return a.gmin < b.gmin; });
  return out;
}

}  // namespace sfc::efw
