#include "efw/tables.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "efw/compiler.h"
#include "efw/efw.h"

namespace sfc::efw {
namespace {

// Maps rebuilt for every new generation (everything else carries over).
constexpr const char* kRuleMaps[] = {"active", "setcfg", "misc",    "ports", "src4",   "dst4",
                                     "src6",   "dst6",   "iifs",    "matches", "scratch"};

Result<UniqueFd> Dup(int fd, const std::string& name) {
  if (fd < 0) return Internal("firewall map " + name + " is not loaded");
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return ErrnoStatus("duplicating fd of map " + name, errno);
  return UniqueFd(d);
}

Result<uint32_t> MaxEntries(int fd, const std::string& name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len)) return ErrnoStatus("reading info of map " + name, errno);
  return info.max_entries;
}

Result<uint32_t> MapId(int fd, const std::string& name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len)) return ErrnoStatus("reading info of map " + name, errno);
  return info.id;
}

// Every key of a map; `Key` is its key type.
template <typename Key>
Result<std::vector<Key>> Keys(int fd, const std::string& name) {
  std::vector<Key> keys;
  Key cur{}, next{};
  const Key* prev = nullptr;
  while (true) {
    int err = bpf_map_get_next_key(fd, prev, &next);
    if (err == -ENOENT || (err < 0 && errno == ENOENT)) break;
    if (err) return ErrnoStatus("listing map " + name, errno);
    keys.push_back(next);
    cur = next;
    prev = &cur;
  }
  return keys;
}

// Every key of a hash map, read in batches (one syscall per few thousand
// keys instead of one per key); falls back to Keys() without batch support.
template <typename Key, typename Value>
Result<std::vector<Key>> HashKeys(int fd, const std::string& name) {
  std::vector<Key> out;
  std::vector<Key> keys(4096);
  std::vector<Value> vals(keys.size());
  Key in{}, next{};
  bool first = true;
  while (true) {
    uint32_t count = keys.size();
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &next, keys.data(), vals.data(), &count, &opts);
    if (err && errno != ENOENT) {
      if (errno == ENOSPC) {  // a bucket larger than the buffer: grow it
        keys.resize(keys.size() * 2);
        vals.resize(keys.size());
        continue;
      }
      return Keys<Key>(fd, name);
    }
    out.insert(out.end(), keys.begin(), keys.begin() + count);
    if (err) return out;
    in = next;
    first = false;
  }
}

template <typename Key>
Status DeleteKeys(int fd, const std::vector<Key>& keys, const std::string& name) {
  if (keys.empty()) return Status::Ok();
  uint32_t count = keys.size();
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_delete_batch(fd, keys.data(), &count, &opts) == 0 && count == keys.size()) return Status::Ok();
  for (const auto& k : keys)
    if (bpf_map_delete_elem(fd, &k) && errno != ENOENT) return ErrnoStatus("clearing map " + name, errno);
  return Status::Ok();
}

template <typename Key>
Status ClearKeysOfSet(int fd, uint32_t set, const std::string& name, uint32_t (*set_of)(const Key&)) {
  SFC_ASSIGN_OR_RETURN(std::vector<Key> keys, Keys<Key>(fd, name));
  keys.erase(std::remove_if(keys.begin(), keys.end(), [&](const Key& k) { return set_of(k) != set; }), keys.end());
  return DeleteKeys(fd, keys, name);
}

uint32_t SetOfGs(uint8_t gs) { return (gs >> 5) & 1; }

}  // namespace

bool FirewallTables::IsStateMap(std::string_view name) {
  return std::find(std::begin(kRuleMaps), std::end(kRuleMaps), name) == std::end(kRuleMaps);
}

Result<FirewallTables> FirewallTables::FromObject(bpf_object* obj) {
  FirewallTables t;
  auto get = [&](const char* name, UniqueFd* out) -> Status {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    if (!m) return Internal(std::string("firewall object has no map ") + name);
    SFC_ASSIGN_OR_RETURN(*out, Dup(bpf_map__fd(m), name));
    return Status::Ok();
  };
  SFC_RETURN_IF_ERROR(get("active", &t.active_));
  SFC_RETURN_IF_ERROR(get("setcfg", &t.setcfg_));
  SFC_RETURN_IF_ERROR(get("misc", &t.misc_));
  SFC_RETURN_IF_ERROR(get("ports", &t.ports_));
  SFC_RETURN_IF_ERROR(get("src4", &t.src4_));
  SFC_RETURN_IF_ERROR(get("dst4", &t.dst4_));
  SFC_RETURN_IF_ERROR(get("src6", &t.src6_));
  SFC_RETURN_IF_ERROR(get("dst6", &t.dst6_));
  SFC_RETURN_IF_ERROR(get("iifs", &t.iifs_));
  SFC_RETURN_IF_ERROR(get("matches", &t.matches_));
  SFC_RETURN_IF_ERROR(get("rule_stats", &t.rule_stats_));
  SFC_RETURN_IF_ERROR(get("rule_ids", &t.rule_ids_));
  SFC_ASSIGN_OR_RETURN(uint32_t m, MaxEntries(t.matches_.get(), "matches"));
  SFC_ASSIGN_OR_RETURN(t.max_slots_, MaxEntries(t.rule_stats_.get(), "rule_stats"));
  t.max_matches_ = m / 2;
  SFC_ASSIGN_OR_RETURN(t.lpm_map_id_, MapId(t.src4_.get(), "src4"));
  return t;
}

Result<FirewallTables> FirewallTables::FromPins(const std::string& pin_dir) {
  FirewallTables t;
  auto get = [&](const char* name, UniqueFd* out) -> Status {
    std::string path = pin_dir + "/" + name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return errno == ENOENT ? NotFound(path + " is not pinned") : ErrnoStatus("opening " + path, errno);
    *out = UniqueFd(fd);
    return Status::Ok();
  };
  SFC_RETURN_IF_ERROR(get("active", &t.active_));
  SFC_RETURN_IF_ERROR(get("setcfg", &t.setcfg_));
  SFC_RETURN_IF_ERROR(get("misc", &t.misc_));
  SFC_RETURN_IF_ERROR(get("ports", &t.ports_));
  SFC_RETURN_IF_ERROR(get("src4", &t.src4_));
  SFC_RETURN_IF_ERROR(get("dst4", &t.dst4_));
  SFC_RETURN_IF_ERROR(get("src6", &t.src6_));
  SFC_RETURN_IF_ERROR(get("dst6", &t.dst6_));
  SFC_RETURN_IF_ERROR(get("iifs", &t.iifs_));
  SFC_RETURN_IF_ERROR(get("matches", &t.matches_));
  SFC_RETURN_IF_ERROR(get("rule_stats", &t.rule_stats_));
  SFC_RETURN_IF_ERROR(get("rule_ids", &t.rule_ids_));
  SFC_ASSIGN_OR_RETURN(uint32_t m, MaxEntries(t.matches_.get(), "matches"));
  SFC_ASSIGN_OR_RETURN(t.max_slots_, MaxEntries(t.rule_stats_.get(), "rule_stats"));
  t.max_matches_ = m / 2;
  SFC_ASSIGN_OR_RETURN(t.lpm_map_id_, MapId(t.src4_.get(), "src4"));
  return t;
}

Result<uint32_t> FirewallTables::ActiveSet() const {
  uint32_t zero = 0;
  efw_active a{};
  if (bpf_map_lookup_elem(active_.get(), &zero, &a)) return ErrnoStatus("reading the active rule set", errno);
  return a.set & 1;
}

namespace {

// The prefixes this process last wrote into each (LPM map, set): clearing a
// set then deletes just the prefixes the new rule set no longer has, instead
// of walking the tries key by key (which dominates a 100k-rule replace). A
// map this process has not written (sfcd restarted) is walked instead.
struct WrittenPrefixes {
  std::mutex mu;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<std::pair<bool, Prefix>>> by_map_set;
};
WrittenPrefixes& Written() {
  static WrittenPrefixes w;
  return w;
}

template <typename Key>
Key LpmKey(const Prefix& p, uint32_t set) {
  Key k{};
  k.prefixlen = 8 + p.len;
  k.set = static_cast<uint8_t>(set);
  std::memcpy(k.addr, p.addr.data(), sizeof(k.addr));
  return k;
}

}  // namespace

// Leftovers of the rule set that was active two installs ago, except what
// `next` (about to be written into the same set) overwrites anyway.
Status FirewallTables::ClearSet(uint32_t set, const std::vector<LpmEntry>& next) {
  {
    SFC_ASSIGN_OR_RETURN(auto keys, (HashKeys<efw_match_key, efw_match>(matches_.get(), "matches")));
    std::erase_if(keys, [&](const efw_match_key& k) { return SetOfGs(k.gs) != set; });
    SFC_RETURN_IF_ERROR(DeleteKeys(matches_.get(), keys, "matches"));
  }
  SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_iif_key>(iifs_.get(), set, "iifs",
                                                  +[](const efw_iif_key& k) { return k.set; }));

  std::vector<std::pair<bool, Prefix>> old;
  bool known = false;
  {
    auto& w = Written();
    std::lock_guard<std::mutex> lock(w.mu);
    auto it = w.by_map_set.find({lpm_map_id_, set});
    if (it != w.by_map_set.end()) {
      old = std::move(it->second);
      w.by_map_set.erase(it);
      known = true;
    }
  }
  if (!known) {
    for (auto [fd, name] : {std::pair{src4_.get(), "src4"}, {dst4_.get(), "dst4"}})
      SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_lpm4_key>(fd, set, name,
                                                       +[](const efw_lpm4_key& k) { return uint32_t{k.set}; }));
    for (auto [fd, name] : {std::pair{src6_.get(), "src6"}, {dst6_.get(), "dst6"}})
      SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_lpm6_key>(fd, set, name,
                                                       +[](const efw_lpm6_key& k) { return uint32_t{k.set}; }));
    return Status::Ok();
  }
  std::vector<std::pair<bool, Prefix>> keep;
  keep.reserve(next.size());
  for (const auto& e : next) keep.emplace_back(e.src, e.prefix);
  std::sort(keep.begin(), keep.end());
  for (const auto& [src, p] : old) {
    if (std::binary_search(keep.begin(), keep.end(), std::pair{src, p})) continue;
    int err;
    if (p.family == 4) {
      auto k = LpmKey<efw_lpm4_key>(p, set);
      err = bpf_map_delete_elem(src ? src4_.get() : dst4_.get(), &k);
    } else {
      auto k = LpmKey<efw_lpm6_key>(p, set);
      err = bpf_map_delete_elem(src ? src6_.get() : dst6_.get(), &k);
    }
    if (err && errno != ENOENT) return ErrnoStatus("clearing prefix " + p.ToString(), errno);
  }
  return Status::Ok();
}

void FirewallTables::RememberPrefixes(uint32_t set, const std::vector<LpmEntry>& written) {
  std::vector<std::pair<bool, Prefix>> list;
  list.reserve(written.size());
  for (const auto& e : written) list.emplace_back(e.src, e.prefix);
  auto& w = Written();
  std::lock_guard<std::mutex> lock(w.mu);
  w.by_map_set[{lpm_map_id_, set}] = std::move(list);
}

namespace {

// Every (id, slot) of rule_ids, read in batches.
Result<std::vector<std::pair<efw_rule_id, uint32_t>>> ReadRuleIds(int fd, uint32_t max_entries) {
  std::vector<std::pair<efw_rule_id, uint32_t>> out;
  std::vector<efw_rule_id> keys(std::min<uint32_t>(max_entries, 8192));
  std::vector<uint32_t> vals(keys.size());
  efw_rule_id in{}, next{};
  bool first = true;
  while (true) {
    uint32_t count = keys.size();
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &next, keys.data(), vals.data(), &count, &opts);
    if (err && errno != ENOENT) {
      if (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP || errno == 524) break;  // no batch ops: fall back below
      return ErrnoStatus("reading rule ids", errno);
    }
    for (uint32_t i = 0; i < count; ++i) out.emplace_back(keys[i], vals[i]);
    if (err) return out;  // ENOENT: done
    in = next;
    first = false;
  }
  out.clear();
  SFC_ASSIGN_OR_RETURN(std::vector<efw_rule_id> ids, Keys<efw_rule_id>(fd, "rule_ids"));
  for (const auto& id : ids) {
    uint32_t slot;
    if (bpf_map_lookup_elem(fd, &id, &slot) == 0) out.emplace_back(id, slot);
  }
  return out;
}

std::string IdString(const efw_rule_id& id) { return std::string(id.id, strnlen(id.id, sizeof(id.id))); }

efw_rule_id IdKey(const std::string& id) {
  efw_rule_id key{};
  std::memcpy(key.id, id.data(), std::min(id.size(), sizeof(key.id) - 1));
  return key;
}

}  // namespace

Result<std::vector<uint32_t>> FirewallTables::AssignSlots(const std::vector<Rule>& rules) {
  SFC_ASSIGN_OR_RETURN(auto existing, ReadRuleIds(rule_ids_.get(), max_slots_));
  std::unordered_map<std::string, uint32_t> slot_of;
  slot_of.reserve(existing.size() + rules.size());
  std::vector<bool> used(max_slots_, false);
  for (const auto& [id, slot] : existing) {
    slot_of.emplace(IdString(id), slot);
    if (slot < max_slots_) used[slot] = true;
  }
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus("counting CPUs", ncpu);

  std::vector<uint32_t> slots;
  std::vector<uint32_t> fresh_slots;
  std::vector<efw_rule_id> fresh_ids;
  std::vector<bool> kept(max_slots_, false);
  slots.reserve(rules.size());
  uint32_t next = 0;
  for (const auto& r : rules) {
    if (auto it = slot_of.find(r.id); it != slot_of.end()) {
      slots.push_back(it->second);
      if (it->second < max_slots_) kept[it->second] = true;
      continue;
    }
    while (next < max_slots_ && used[next]) ++next;
    if (next >= max_slots_)
      return FailedPrecondition("no free rule counter slot (max_rules " + std::to_string(max_slots_) +
                                "); raise max_rules and re-apply the chain");
    used[next] = true;
    kept[next] = true;
    slot_of.emplace(r.id, next);
    slots.push_back(next);
    fresh_slots.push_back(next);
    fresh_ids.push_back(IdKey(r.id));
  }
  // Ids of rules that are gone: released once the new set is active.
  stale_ids_.clear();
  for (const auto& [id, slot] : existing)
    if (slot >= max_slots_ || !kept[slot]) stale_ids_.push_back(id);
  if (fresh_slots.empty()) return slots;

  // A freed slot may hold a deleted rule's counts: new rules start from zero.
  std::vector<efw_rule_stats> zeros(fresh_slots.size() * ncpu);
  uint32_t count = fresh_slots.size();
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(rule_stats_.get(), fresh_slots.data(), zeros.data(), &count, &opts)) {
    for (uint32_t slot : fresh_slots)
      if (bpf_map_update_elem(rule_stats_.get(), &slot, zeros.data(), BPF_ANY))
        return ErrnoStatus("resetting rule counters", errno);
  }
  count = fresh_ids.size();
  if (bpf_map_update_batch(rule_ids_.get(), fresh_ids.data(), fresh_slots.data(), &count, &opts)) {
    for (size_t i = 0; i < fresh_ids.size(); ++i)
      if (bpf_map_update_elem(rule_ids_.get(), &fresh_ids[i], &fresh_slots[i], BPF_ANY))
        return ErrnoStatus("recording rule counter slots", errno);
  }
  return slots;
}

Status FirewallTables::ReleaseSlots() {
  Status st = DeleteKeys(rule_ids_.get(), stale_ids_, "rule_ids");
  stale_ids_.clear();
  return st;
}

Result<InstallStats> FirewallTables::Install(const std::vector<Rule>& rules, Action default_action) {
  SFC_ASSIGN_OR_RETURN(uint32_t cur, ActiveSet());
  const uint32_t next = cur ^ 1;
  // Compile first: a rule set that does not fit changes nothing, not even
  // the counter slots. Slots are filled in once assigned.
  CompileOptions opts;
  opts.max_match_entries = max_matches_;
  opts.resolve_iif = [](const std::string& name) { return static_cast<uint32_t>(if_nametoindex(name.c_str())); };
  std::vector<uint32_t> by_index(rules.size());
  for (size_t i = 0; i < by_index.size(); ++i) by_index[i] = static_cast<uint32_t>(i);
  InstallStats st;
  auto t0 = std::chrono::steady_clock::now();
  auto lap = [&t0](double* ms) {
    auto now = std::chrono::steady_clock::now();
    *ms = std::chrono::duration<double, std::milli>(now - t0).count();
    t0 = now;
  };
  SFC_ASSIGN_OR_RETURN(CompiledRuleSet cs, CompileRules(rules, default_action, by_index, opts));
  lap(&st.compile_ms);
  SFC_RETURN_IF_ERROR(ClearSet(next, cs.lpm));
  lap(&st.clear_ms);
  SFC_ASSIGN_OR_RETURN(std::vector<uint32_t> slots, AssignSlots(rules));
  lap(&st.slots_ms);
  for (auto& [k, v] : cs.matches) v.slot = slots[v.prio];

  auto misc = std::make_unique<efw_misc>();
  auto ports = std::make_unique<efw_ports>();
  for (const auto& g : cs.groups) {
    uint32_t idx = next * EFW_NGROUPS + g.group;
    std::copy(g.misc.begin(), g.misc.end(), misc->region);
    if (bpf_map_update_elem(misc_.get(), &idx, misc.get(), BPF_ANY))
      return ErrnoStatus("writing protocol/state table", errno);
    if (g.pslot != 0xff) {
      idx = next * EFW_PORT_SLOTS + g.pslot;
      std::copy(g.sport.begin(), g.sport.end(), ports->sport);
      std::copy(g.dport.begin(), g.dport.end(), ports->dport);
      if (bpf_map_update_elem(ports_.get(), &idx, ports.get(), BPF_ANY))
        return ErrnoStatus("writing port table", errno);
    }
  }
  for (const auto& e : cs.lpm) {
    efw_addr_regions val{};
    std::copy(e.regions.begin(), e.regions.end(), val.region);
    int err;
    if (e.prefix.family == 4) {
      auto k = LpmKey<efw_lpm4_key>(e.prefix, next);
      err = bpf_map_update_elem(e.src ? src4_.get() : dst4_.get(), &k, &val, BPF_ANY);
    } else {
      auto k = LpmKey<efw_lpm6_key>(e.prefix, next);
      err = bpf_map_update_elem(e.src ? src6_.get() : dst6_.get(), &k, &val, BPF_ANY);
    }
    if (err)
      return errno == E2BIG || errno == ENOSPC || errno == ENOMEM
                 ? FailedPrecondition("prefix table full; raise max_rules and re-apply the chain")
                 : ErrnoStatus("writing prefix " + e.prefix.ToString(), errno);
  }
  for (const auto& [ifindex, id] : cs.iifs) {
    efw_iif_key k{ifindex, next};
    if (bpf_map_update_elem(iifs_.get(), &k, &id, BPF_ANY)) return ErrnoStatus("writing interface table", errno);
  }
  if (!cs.matches.empty()) {
    std::vector<efw_match_key> keys;
    std::vector<efw_match> vals;
    keys.reserve(cs.matches.size());
    vals.reserve(cs.matches.size());
    for (auto [k, v] : cs.matches) {
      k.gs = efw_gs(next, k.gs & (EFW_NGROUPS - 1));
      keys.push_back(k);
      vals.push_back(v);
    }
    uint32_t count = keys.size();
    LIBBPF_OPTS(bpf_map_batch_opts, bopts);
    if (bpf_map_update_batch(matches_.get(), keys.data(), vals.data(), &count, &bopts)) {
      for (size_t i = 0; i < keys.size(); ++i)
        if (bpf_map_update_elem(matches_.get(), &keys[i], &vals[i], BPF_ANY))
          return ErrnoStatus("writing classifier table", errno);
    }
  }
  RememberPrefixes(next, cs.lpm);
  efw_set_cfg cfg = cs.SetConfig();
  if (bpf_map_update_elem(setcfg_.get(), &next, &cfg, BPF_ANY)) return ErrnoStatus("writing rule set header", errno);

  // The switch: one 4-byte value, read once per packet.
  uint32_t zero = 0;
  efw_active a{next};
  if (bpf_map_update_elem(active_.get(), &zero, &a, BPF_ANY)) return ErrnoStatus("activating the rule set", errno);

  SFC_RETURN_IF_ERROR(ReleaseSlots());
  lap(&st.write_ms);
  st.rules = rules.size();
  st.groups = cs.groups.size();
  st.match_entries = cs.matches.size();
  st.lpm_entries = cs.lpm.size();
  st.unresolved_iifs = cs.unresolved_iifs;
  return st;
}

Result<std::vector<RuleCounters>> FirewallTables::Counters(const std::vector<Rule>& rules) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus("counting CPUs", ncpu);
  std::vector<efw_rule_stats> per_cpu(ncpu);
  std::vector<RuleCounters> out(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    efw_rule_id key{};
    std::memcpy(key.id, rules[i].id.data(), std::min(rules[i].id.size(), sizeof(key.id) - 1));
    uint32_t slot;
    if (bpf_map_lookup_elem(rule_ids_.get(), &key, &slot)) continue;
    if (bpf_map_lookup_elem(rule_stats_.get(), &slot, per_cpu.data()))
      return ErrnoStatus("reading counters of rule " + rules[i].id, errno);
    for (const auto& c : per_cpu) {
      out[i].packets += c.packets;
      out[i].bytes += c.bytes;
    }
  }
  return out;
}

}  // namespace sfc::efw
