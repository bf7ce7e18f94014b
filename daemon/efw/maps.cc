#include "efw/maps.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>

#include "common/log.h"
#include "efw/compiler.h"
#include "efw/efw.h"
#include "engine/bpf_util.h"

namespace sfc::efw {
namespace {

// Maps rebuilt for every new generation (everything else carries over).
constexpr const char* kRuleMaps[] = {"active", "setcfg", "misc",    "ports",  "apps",
                                     "src4",   "dst4",   "src6",    "dst6",   "pfx4",
                                     "pfx6",   "iifs",   "matches", "scratch"};

Result<UniqueFd> Dup(int fd, const std::string& name) {
  if (fd < 0) return Internal("firewall map " + name + " is not loaded");
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return ErrnoStatus("duplicating fd of map " + name, errno);
  return UniqueFd(d);
}

Result<uint32_t> MaxEntries(int fd, const std::string& name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len))
    return ErrnoStatus("reading info of map " + name, errno);
  return info.max_entries;
}

Result<uint32_t> MapId(int fd, const std::string& name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len))
    return ErrnoStatus("reading info of map " + name, errno);
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
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &next, keys.data(), vals.data(),
                                   &count, &opts);
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
  if (bpf_map_delete_batch(fd, keys.data(), &count, &opts) == 0 && count == keys.size())
    return Status::Ok();
  for (const auto& k : keys)
    if (bpf_map_delete_elem(fd, &k) && errno != ENOENT)
      return ErrnoStatus("clearing map " + name, errno);
  return Status::Ok();
}

template <typename Key>
Status ClearKeysOfSet(int fd, uint32_t set, const std::string& name,
                      uint32_t (*set_of)(const Key&)) {
  SFC_ASSIGN_OR_RETURN(std::vector<Key> keys, Keys<Key>(fd, name));
  keys.erase(
      std::remove_if(keys.begin(), keys.end(), [&](const Key& k) { return set_of(k) != set; }),
      keys.end());
  return DeleteKeys(fd, keys, name);
}

uint32_t SetOfGs(uint8_t gs) { return (gs >> 5) & 1; }

}  // namespace

bool FirewallTables::IsStateMap(std::string_view name) {
  return std::find(std::begin(kRuleMaps), std::end(kRuleMaps), name) == std::end(kRuleMaps);
}

// Both ways in differ only in where each map's fd comes from.
Result<FirewallTables> FirewallTables::Open(const MapOpener& open) {
  FirewallTables t;
  const std::pair<const char*, UniqueFd*> maps[] = {
      {"active", &t.active_},    {"setcfg", &t.setcfg_},
      {"misc", &t.misc_},        {"ports", &t.ports_},
      {"apps", &t.apps_},        {"src4", &t.src4_},
      {"dst4", &t.dst4_},        {"src6", &t.src6_},
      {"dst6", &t.dst6_},        {"pfx4", &t.pfx4_},
      {"pfx6", &t.pfx6_},        {"iifs", &t.iifs_},
      {"matches", &t.matches_},  {"rule_stats", &t.rule_stats_},
      {"rule_ids", &t.rule_ids_}};
  for (const auto& [name, fd] : maps) {
    SFC_ASSIGN_OR_RETURN(*fd, open(name));
  }
  SFC_ASSIGN_OR_RETURN(uint32_t m, MaxEntries(t.matches_.get(), "matches"));
  SFC_ASSIGN_OR_RETURN(t.max_slots_, MaxEntries(t.rule_stats_.get(), "rule_stats"));
  t.max_matches_ = m / 2;
  SFC_ASSIGN_OR_RETURN(t.instance_id_, MapId(t.matches_.get(), "matches"));
  return t;
}

Result<FirewallTables> FirewallTables::FromObject(bpf_object* obj) {
  return Open([obj](const char* name) -> Result<UniqueFd> {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    if (!m) return Internal(std::string("firewall object has no map ") + name);
    return Dup(bpf_map__fd(m), name);
  });
}

Result<FirewallTables> FirewallTables::FromPins(const std::string& pin_dir) {
  return Open([&pin_dir](const char* name) { return OpenPinned(pin_dir + "/" + name); });
}

Result<efw_active> FirewallTables::Active() const {
  uint32_t zero = 0;
  efw_active a{};
  if (bpf_map_lookup_elem(active_.get(), &zero, &a))
    return ErrnoStatus("reading the active rule set", errno);
  return a;
}

Result<uint32_t> FirewallTables::ActiveEpoch(const std::string& pin_dir) {
  SFC_ASSIGN_OR_RETURN(UniqueFd fd, OpenPinned(pin_dir + "/active"));
  uint32_t zero = 0;
  efw_active a{};
  if (bpf_map_lookup_elem(fd.get(), &zero, &a))
    return ErrnoStatus("reading the active rule set", errno);
  return a.epoch;
}

// The next install's epoch: different from every epoch a cached verdict of
// this instance can carry (24 bits wrap after 16M installs), never 0.
static uint32_t NextEpoch(uint32_t a, uint32_t b) {
  uint32_t next = (std::max(a, b) + 1) & EFW_EPOCH_MASK;
  return next ? next : 1;
}

// What this process last wrote into each (instance, set). With it, filling a
// set becomes a diff against what the set already holds, so an edit of a
// large rule set writes only what changed. Sets this process has not written
// (sfcd restarted, or a write failed half-way) are cleared key by key first.
struct SetContents {
  std::vector<std::pair<efw_match_key, efw_match>> matches;  // set-0 keys, sorted
  std::vector<LpmEntry> lpm;                                 // by LpmLess
};

namespace {

template <typename Key>
Key LpmKey(const Prefix& p, uint32_t set) {
  Key k{};
  k.prefixlen = 8 + p.len;
  k.set = static_cast<uint8_t>(set);
  std::memcpy(k.addr, p.addr.data(), sizeof(k.addr));
  return k;
}

template <typename Key>
Key PfxKey(const LpmEntry& e, uint32_t set) {
  Key k{};
  k.set = static_cast<uint8_t>(set);
  k.table = static_cast<uint8_t>(efw_addr_table(e.src, e.prefix.family == 6));
  k.len = e.prefix.len;
  std::memcpy(k.addr, e.prefix.addr.data(), sizeof(k.addr));
  return k;
}

// A prefix moving between trie and hash is a delete in one and a put in the other.
bool LpmLess(const LpmEntry& a, const LpmEntry& b) {
  return std::tie(a.src, a.hashed, a.prefix) < std::tie(b.src, b.hashed, b.prefix);
}

struct WrittenSets {
  std::mutex mu;
  std::map<std::pair<uint32_t, uint32_t>, SetContents> by_instance_set;
};

WrittenSets& Written() {
  static WrittenSets w;
  return w;
}

std::optional<SetContents> TakeWritten(uint32_t instance, uint32_t set) {
  auto& w = Written();
  std::lock_guard<std::mutex> lock(w.mu);
  auto it = w.by_instance_set.find({instance, set});
  if (it == w.by_instance_set.end()) return std::nullopt;
  SetContents c = std::move(it->second);
  w.by_instance_set.erase(it);
  return c;
}

void StoreWritten(uint32_t instance, uint32_t set, SetContents c) {
  auto& w = Written();
  std::lock_guard<std::mutex> lock(w.mu);
  w.by_instance_set[{instance, set}] = std::move(c);
  // Forget instances whose maps are gone (chain deleted or re-applied).
  for (auto it = w.by_instance_set.begin(); it != w.by_instance_set.end();) {
    if (it->first.first == instance) {
      ++it;
      continue;
    }
    int fd = bpf_map_get_fd_by_id(it->first.first);
    if (fd >= 0) {
      close(fd);
      ++it;
    } else if (errno == ENOENT) {
      it = w.by_instance_set.erase(it);
    } else {
      ++it;
    }
  }
}

bool SameMatch(const efw_match& a, const efw_match& b) {
  return a.prio == b.prio && a.slot == b.slot && a.action == b.action;
}

}  // namespace

// Everything of `set` in the hash and LPM maps, found by walking them.
Status FirewallTables::ClearSet(uint32_t set) {
  SFC_ASSIGN_OR_RETURN(auto keys, (HashKeys<efw_match_key, efw_match>(matches_.get(), "matches")));
  std::erase_if(keys, [&](const efw_match_key& k) { return SetOfGs(k.gs) != set; });
  SFC_RETURN_IF_ERROR(DeleteKeys(matches_.get(), keys, "matches"));
  for (auto [fd, name] : {std::pair{src4_.get(), "src4"}, {dst4_.get(), "dst4"}})
    SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_lpm4_key>(
        fd, set, name, +[](const efw_lpm4_key& k) { return uint32_t{k.set}; }));
  for (auto [fd, name] : {std::pair{src6_.get(), "src6"}, {dst6_.get(), "dst6"}})
    SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_lpm6_key>(
        fd, set, name, +[](const efw_lpm6_key& k) { return uint32_t{k.set}; }));
  SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_pfx4_key>(
      pfx4_.get(), set, "pfx4", +[](const efw_pfx4_key& k) { return uint32_t{k.set}; }));
  SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_pfx6_key>(
      pfx6_.get(), set, "pfx6", +[](const efw_pfx6_key& k) { return uint32_t{k.set}; }));
  return Status::Ok();
}

// Brings the hash and LPM maps of `set` from `old` (what they hold) to `cs`.
Status FirewallTables::WriteSetDiff(uint32_t set, const SetContents& old, const CompiledRuleSet& cs,
                                    const std::vector<LpmEntry>& lpm_sorted, InstallStats* st) {
  // Match table: delete keys that went away, write new or changed entries.
  std::vector<efw_match_key> del_keys, put_keys;
  std::vector<efw_match> put_vals;
  auto with_set = [&](efw_match_key k) {
    k.gs = efw_gs(set, k.gs & (EFW_NGROUPS - 1));
    return k;
  };
  {
    size_t i = 0, j = 0;
    const auto& a = old.matches;
    const auto& b = cs.matches;
    while (i < a.size() || j < b.size()) {
      int c = i == a.size()   ? 1
              : j == b.size() ? -1
                              : std::memcmp(&a[i].first, &b[j].first, sizeof(efw_match_key));
      if (c < 0) {
        del_keys.push_back(with_set(a[i++].first));
      } else if (c > 0) {
        put_keys.push_back(with_set(b[j].first));
        put_vals.push_back(b[j++].second);
      } else {
        if (!SameMatch(a[i].second, b[j].second)) {
          put_keys.push_back(with_set(b[j].first));
          put_vals.push_back(b[j].second);
        }
        ++i, ++j;
      }
    }
  }
  SFC_RETURN_IF_ERROR(DeleteKeys(matches_.get(), del_keys, "matches"));
  if (!put_keys.empty()) {
    uint32_t count = put_keys.size();
    LIBBPF_OPTS(bpf_map_batch_opts, bopts);
    if (bpf_map_update_batch(matches_.get(), put_keys.data(), put_vals.data(), &count, &bopts)) {
      for (size_t k = 0; k < put_keys.size(); ++k)
        if (bpf_map_update_elem(matches_.get(), &put_keys[k], &put_vals[k], BPF_ANY))
          return errno == E2BIG || errno == ENOMEM
                     ? FailedPrecondition(
                           "classifier table full; raise max_rules and re-apply the chain")
                     : ErrnoStatus("writing classifier table", errno);
    }
  }

  // Address tables, the same way (tries have no batch operations).
  auto lpm_fd = [&](const LpmEntry& e) {
    if (e.hashed) return e.prefix.family == 4 ? pfx4_.get() : pfx6_.get();
    return e.prefix.family == 4 ? (e.src ? src4_.get() : dst4_.get())
                                : (e.src ? src6_.get() : dst6_.get());
  };
  // Calls op(fd, key) with the entry's key in the map that holds it.
  auto with_key = [&](const LpmEntry& e, auto op) {
    if (e.hashed) {
      if (e.prefix.family == 4) {
        auto k = PfxKey<efw_pfx4_key>(e, set);
        return op(lpm_fd(e), &k);
      }
      auto k = PfxKey<efw_pfx6_key>(e, set);
      return op(lpm_fd(e), &k);
    }
    if (e.prefix.family == 4) {
      auto k = LpmKey<efw_lpm4_key>(e.prefix, set);
      return op(lpm_fd(e), &k);
    }
    auto k = LpmKey<efw_lpm6_key>(e.prefix, set);
    return op(lpm_fd(e), &k);
  };
  auto lpm_delete = [&](const LpmEntry& e) -> Status {
    int err = with_key(e, [](int fd, const void* k) { return bpf_map_delete_elem(fd, k); });
    if (err && errno != ENOENT) return ErrnoStatus("removing prefix " + e.prefix.ToString(), errno);
    return Status::Ok();
  };
  auto lpm_put = [&](const LpmEntry& e) -> Status {
    efw_addr_regions val{};
    std::copy(e.regions.begin(), e.regions.end(), val.region);
    int err = with_key(
        e, [&val](int fd, const void* k) { return bpf_map_update_elem(fd, k, &val, BPF_ANY); });
    if (err)
      return errno == E2BIG || errno == ENOSPC || errno == ENOMEM
                 ? FailedPrecondition("prefix table full; raise max_rules and re-apply the chain")
                 : ErrnoStatus("writing prefix " + e.prefix.ToString(), errno);
    return Status::Ok();
  };
  size_t lpm_writes = 0;
  {
    size_t i = 0, j = 0;
    const auto& a = old.lpm;
    const auto& b = lpm_sorted;
    while (i < a.size() || j < b.size()) {
      if (j == b.size() || (i < a.size() && LpmLess(a[i], b[j]))) {
        SFC_RETURN_IF_ERROR(lpm_delete(a[i++]));
      } else if (i == a.size() || LpmLess(b[j], a[i])) {
        SFC_RETURN_IF_ERROR(lpm_put(b[j++]));
        ++lpm_writes;
      } else {
        if (a[i].regions != b[j].regions) {
          SFC_RETURN_IF_ERROR(lpm_put(b[j]));
          ++lpm_writes;
        }
        ++i, ++j;
      }
    }
  }
  st->match_writes = put_keys.size() + del_keys.size();
  st->lpm_writes = lpm_writes;
  return Status::Ok();
}

namespace {

std::string IdString(const efw_rule_id& id) {
  return std::string(id.id, strnlen(id.id, sizeof(id.id)));
}

efw_rule_id IdKey(const std::string& id) {
  efw_rule_id key{};
  std::memcpy(key.id, id.data(), std::min(id.size(), sizeof(key.id) - 1));
  return key;
}

// The owner of every counter slot (empty: free), read in batches.
Result<std::vector<efw_rule_id>> ReadSlotOwners(int fd, uint32_t slots) {
  std::vector<efw_rule_id> owners(slots);
  std::vector<uint32_t> keys(slots);
  uint32_t in = 0, next = 0, done = 0;
  bool first = true;
  while (done < slots) {
    uint32_t count = slots - done;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &next, keys.data() + done,
                                   owners.data() + done, &count, &opts);
    if (err && errno != ENOENT) break;  // no batch support: one by one below
    done += count;
    if (err) return owners;
    in = next;
    first = false;
  }
  if (done == slots) return owners;
  for (uint32_t i = 0; i < slots; ++i)
    if (bpf_map_lookup_elem(fd, &i, &owners[i])) return ErrnoStatus("reading rule ids", errno);
  return owners;
}

// Writes owners[k] at slots[k].
Status WriteSlotOwners(int fd, std::vector<uint32_t> slots, std::vector<efw_rule_id> owners) {
  if (slots.empty()) return Status::Ok();
  uint32_t count = slots.size();
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(fd, slots.data(), owners.data(), &count, &opts) == 0)
    return Status::Ok();
  for (size_t i = 0; i < slots.size(); ++i)
    if (bpf_map_update_elem(fd, &slots[i], &owners[i], BPF_ANY))
      return ErrnoStatus("recording rule ids", errno);
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint32_t>> FirewallTables::AssignSlots(const std::vector<Rule>& rules) {
  SFC_ASSIGN_OR_RETURN(std::vector<efw_rule_id> owners,
                       ReadSlotOwners(rule_ids_.get(), max_slots_));
  std::unordered_map<std::string, uint32_t> slot_of;
  slot_of.reserve(rules.size() * 2);
  std::vector<bool> used(max_slots_, false);
  for (uint32_t slot = 0; slot < max_slots_; ++slot) {
    if (!owners[slot].id[0]) continue;
    slot_of.emplace(IdString(owners[slot]), slot);
    used[slot] = true;
  }
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus("counting CPUs", ncpu);

  std::vector<uint32_t> slots, fresh_slots;
  std::vector<efw_rule_id> fresh_ids;
  std::vector<bool> kept(max_slots_, false);
  slots.reserve(rules.size());
  uint32_t next = 0;
  for (const auto& r : rules) {
    if (auto it = slot_of.find(r.id); it != slot_of.end()) {
      slots.push_back(it->second);
      kept[it->second] = true;
      continue;
    }
    while (next < max_slots_ && used[next]) ++next;
    if (next >= max_slots_)
      return FailedPrecondition("no free rule counter slot (max_rules " +
                                std::to_string(max_slots_) +
                                "); raise max_rules and re-apply the chain");
    used[next] = kept[next] = true;
    slot_of.emplace(r.id, next);
    slots.push_back(next);
    fresh_slots.push_back(next);
    fresh_ids.push_back(IdKey(r.id));
  }
  // Slots of rules that are gone: released once the new set is active.
  stale_slots_.clear();
  for (uint32_t slot = 0; slot < max_slots_; ++slot)
    if (owners[slot].id[0] && !kept[slot]) stale_slots_.push_back(slot);
  fresh_slots_ = fresh_slots;
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
  SFC_RETURN_IF_ERROR(WriteSlotOwners(rule_ids_.get(), fresh_slots, fresh_ids));
  return slots;
}

Status FirewallTables::ReleaseStaleSlots() {
  std::vector<efw_rule_id> empty(stale_slots_.size());
  Status st = WriteSlotOwners(rule_ids_.get(), stale_slots_, std::move(empty));
  stale_slots_.clear();
  fresh_slots_.clear();
  return st;
}

Status FirewallTables::ReleaseFreshSlots() {
  std::vector<efw_rule_id> empty(fresh_slots_.size());
  Status st = WriteSlotOwners(rule_ids_.get(), fresh_slots_, std::move(empty));
  fresh_slots_.clear();
  stale_slots_.clear();
  return st;
}

Result<InstallStats> FirewallTables::Install(const std::vector<Rule>& rules, Action default_action,
                                             SlotRelease release) {
  SFC_ASSIGN_OR_RETURN(efw_active cur, Active());
  const uint32_t next = (cur.set & 1) ^ 1;
  const uint32_t epoch = NextEpoch(cur.epoch, epoch_floor_);
  // Compile first: a rule set that does not fit changes nothing, not even
  // the counter slots. Slots are filled in once assigned.
  CompileOptions opts;
  opts.max_match_entries = max_matches_;
  opts.max_hash_lengths = max_hash_lengths_;
  opts.resolve_iif = [](const std::string& name) {
    return static_cast<uint32_t>(if_nametoindex(name.c_str()));
  };
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

  // What the inactive set holds now: known if this process wrote it,
  // otherwise found out by clearing it.
  std::optional<SetContents> old = TakeWritten(instance_id_, next);
  if (!old) {
    SFC_RETURN_IF_ERROR(ClearSet(next));
    old = SetContents{};
  }
  SFC_RETURN_IF_ERROR(ClearKeysOfSet<efw_iif_key>(
      iifs_.get(), next, "iifs", +[](const efw_iif_key& k) { return k.set; }));
  lap(&st.clear_ms);
  SFC_ASSIGN_OR_RETURN(std::vector<uint32_t> slots, AssignSlots(rules));
  for (auto& [k, v] : cs.matches) v.slot = slots[v.prio];
  lap(&st.slots_ms);

  auto misc = std::make_unique<efw_misc>();
  auto ports = std::make_unique<efw_ports>();
  auto apps = std::make_unique<efw_apps>();
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
    if (g.has_app()) {
      idx = next * EFW_NGROUPS + g.group;
      std::copy(g.app.begin(), g.app.end(), apps->app);
      std::copy(g.category.begin(), g.category.end(), apps->category);
      if (bpf_map_update_elem(apps_.get(), &idx, apps.get(), BPF_ANY))
        return ErrnoStatus("writing application table", errno);
    }
  }
  for (const auto& [ifindex, id] : cs.iifs) {
    efw_iif_key k{ifindex, next};
    if (bpf_map_update_elem(iifs_.get(), &k, &id, BPF_ANY))
      return ErrnoStatus("writing interface table", errno);
  }
  std::vector<LpmEntry> lpm_sorted = cs.lpm;
  std::sort(lpm_sorted.begin(), lpm_sorted.end(), LpmLess);
  SFC_RETURN_IF_ERROR(WriteSetDiff(next, *old, cs, lpm_sorted, &st));

  efw_set_cfg cfg = cs.SetConfig();
  if (bpf_map_update_elem(setcfg_.get(), &next, &cfg, BPF_ANY))
    return ErrnoStatus("writing rule set header", errno);

  // The switch: one 4-byte value, read once per packet.
  uint32_t zero = 0;
  efw_active a{next, epoch};
  if (bpf_map_update_elem(active_.get(), &zero, &a, BPF_ANY))
    return ErrnoStatus("activating the rule set", errno);
  StoreWritten(instance_id_, next, SetContents{cs.matches, std::move(lpm_sorted)});

  // The new rules are live: a failure from here on must not report the
  // install as failed. A slot not released now is released by the next one.
  if (release == SlotRelease::kNow)
    if (Status rs = ReleaseStaleSlots(); !rs.ok())
      log::Warn("efw.release_slots_failed", {{"error", rs.message()}});
  lap(&st.write_ms);
  st.rules = rules.size();
  st.groups = cs.groups.size();
  st.match_entries = cs.matches.size();
  st.lpm_entries = cs.lpm.size();
  for (const auto& lens : cs.hash_lens) st.hashed_tables += !lens.empty();
  st.unresolved_iifs = cs.unresolved_iifs;
  return st;
}

Result<std::vector<RuleCounters>> FirewallTables::Counters(const std::vector<Rule>& rules) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus("counting CPUs", ncpu);
  SFC_ASSIGN_OR_RETURN(std::vector<efw_rule_id> owners,
                       ReadSlotOwners(rule_ids_.get(), max_slots_));
  std::unordered_map<std::string, uint32_t> slot_of;
  for (uint32_t slot = 0; slot < max_slots_; ++slot)
    if (owners[slot].id[0]) slot_of.emplace(IdString(owners[slot]), slot);
  std::vector<efw_rule_stats> per_cpu(ncpu);
  std::vector<RuleCounters> out(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    auto it = slot_of.find(rules[i].id);
    if (it == slot_of.end()) continue;
    if (bpf_map_lookup_elem(rule_stats_.get(), &it->second, per_cpu.data()))
      return ErrnoStatus("reading counters of rule " + rules[i].id, errno);
    for (const auto& c : per_cpu) {
      out[i].packets += c.packets;
      out[i].bytes += c.bytes;
    }
  }
  return out;
}

Result<std::vector<RuleTotal>> FirewallTables::TopRules(size_t k) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus("counting CPUs", ncpu);
  constexpr uint32_t kBatch = 4096;
  std::vector<RuleCounters> totals(max_slots_);
  std::vector<uint32_t> keys(kBatch);
  std::vector<efw_rule_stats> values(size_t{kBatch} * ncpu);  // per key: one value per CPU
  uint32_t in = 0, next = 0;
  for (bool first = true;; first = false) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_lookup_batch(rule_stats_.get(), first ? nullptr : &in, &next,
                                         keys.data(), values.data(), &count, &opts);
    if (err && errno != ENOENT) return ErrnoStatus("reading rule counters", errno);
    for (uint32_t i = 0; i < count; ++i) {
      if (keys[i] >= max_slots_) continue;
      for (int cpu = 0; cpu < ncpu; ++cpu) {
        totals[keys[i]].packets += values[size_t{i} * ncpu + cpu].packets;
        totals[keys[i]].bytes += values[size_t{i} * ncpu + cpu].bytes;
      }
    }
    if (err) break;  // ENOENT: that was the last batch
    in = next;
  }

  std::vector<uint32_t> slots;
  for (uint32_t slot = 0; slot < max_slots_; ++slot)
    if (totals[slot].packets) slots.push_back(slot);
  auto more = [&](uint32_t a, uint32_t b) {
    if (totals[a].packets != totals[b].packets) return totals[a].packets > totals[b].packets;
    if (totals[a].bytes != totals[b].bytes) return totals[a].bytes > totals[b].bytes;
    return a < b;
  };
  // A freed slot keeps its counters until it is given out again: read the
  // owner of a few more than k, skip the free ones.
  const size_t want = std::min(slots.size(), 2 * k + 8);
  std::partial_sort(slots.begin(), slots.begin() + want, slots.end(), more);
  std::vector<RuleTotal> out;
  for (size_t i = 0; i < want && out.size() < k; ++i) {
    efw_rule_id owner{};
    if (bpf_map_lookup_elem(rule_ids_.get(), &slots[i], &owner))
      return ErrnoStatus("reading rule ids", errno);
    if (!owner.id[0]) continue;
    out.push_back({IdString(owner), totals[slots[i]]});
  }
  return out;
}

}  // namespace sfc::efw
