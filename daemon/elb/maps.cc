#include "elb/maps.h"

#include <bpf/libbpf.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <numeric>
#include <vector>

#include "engine/bpf_util.h"

namespace sfc::elb {
namespace {

bool SameBytes(const void* a, const void* b, size_t n) { return std::memcmp(a, b, n) == 0; }

Status Update(int fd, const void* key, const void* value, const char* what,
              uint64_t flags = BPF_ANY) {
  if (bpf_map_update_elem(fd, key, value, flags) != 0)
    return ErrnoStatus(std::string("updating ") + what, errno);
  return Status::Ok();
}

Status Delete(int fd, const void* key, const char* what) {
  if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT)
    return ErrnoStatus(std::string("deleting from ") + what, errno);
  return Status::Ok();
}

// A new inner table holding `table`, ready to be swapped in.
Result<UniqueFd> MakeTable(const std::vector<uint32_t>& table, uint32_t index) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
  std::string name = "elb_tbl_" + std::to_string(index);
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, name.c_str(), sizeof(uint32_t), sizeof(uint32_t),
                             table.size(), &opts));
  if (!fd) return ErrnoStatus("creating Maglev table of " + std::to_string(table.size()), errno);
  std::vector<uint32_t> keys(table.size());
  std::iota(keys.begin(), keys.end(), 0);
  uint32_t count = table.size();
  LIBBPF_OPTS(bpf_map_batch_opts, bopts);
  if (bpf_map_update_batch(fd.get(), keys.data(), table.data(), &count, &bopts) != 0) {
    // Kernels without batch ops on arrays: one slot at a time.
    for (uint32_t i = 0; i < table.size(); i++)
      if (table[i] != kNoBackend && bpf_map_update_elem(fd.get(), &i, &table[i], BPF_ANY) != 0)
        return ErrnoStatus("filling Maglev table", errno);
  }
  return fd;
}

Result<UniqueFd> DupMapFd(bpf_object* obj, const char* name) {
  bpf_map* m = bpf_object__find_map_by_name(obj, name);
  if (!m || bpf_map__fd(m) < 0)
    return Internal(std::string("elb object has no loaded map ") + name);
  UniqueFd fd(::fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(std::string("duplicating fd of map ") + name, errno);
  return fd;
}

}  // namespace

Result<ElbMaps> ElbMaps::OpenPinned(const std::string& dir) {
  ElbMaps m;
  SFC_ASSIGN_OR_RETURN(m.services, sfc::OpenPinned(dir + "/" + kServicesMap));
  SFC_ASSIGN_OR_RETURN(m.settings, sfc::OpenPinned(dir + "/" + kSettingsMap));
  SFC_ASSIGN_OR_RETURN(m.rnat_ports, sfc::OpenPinned(dir + "/" + kRnatPortsMap));
  SFC_ASSIGN_OR_RETURN(m.vip_filter, sfc::OpenPinned(dir + "/" + kVipFilterMap));
  SFC_ASSIGN_OR_RETURN(m.vips, sfc::OpenPinned(dir + "/" + kVipsMap));
  SFC_ASSIGN_OR_RETURN(m.maglev, sfc::OpenPinned(dir + "/" + kMaglevMap));
  SFC_ASSIGN_OR_RETURN(m.backends, sfc::OpenPinned(dir + "/" + kBackendsMap));
  SFC_ASSIGN_OR_RETURN(m.backend_stats, sfc::OpenPinned(dir + "/" + kBackendStatsMap));
  return m;
}

Result<ElbMaps> ElbMaps::FromObject(bpf_object* obj) {
  ElbMaps m;
  SFC_ASSIGN_OR_RETURN(m.services, DupMapFd(obj, kServicesMap));
  SFC_ASSIGN_OR_RETURN(m.settings, DupMapFd(obj, kSettingsMap));
  SFC_ASSIGN_OR_RETURN(m.rnat_ports, DupMapFd(obj, kRnatPortsMap));
  SFC_ASSIGN_OR_RETURN(m.vip_filter, DupMapFd(obj, kVipFilterMap));
  SFC_ASSIGN_OR_RETURN(m.vips, DupMapFd(obj, kVipsMap));
  SFC_ASSIGN_OR_RETURN(m.maglev, DupMapFd(obj, kMaglevMap));
  SFC_ASSIGN_OR_RETURN(m.backends, DupMapFd(obj, kBackendsMap));
  SFC_ASSIGN_OR_RETURN(m.backend_stats, DupMapFd(obj, kBackendStatsMap));
  return m;
}

uint32_t ElbMaps::maglev_id() const {
  auto info = MapInfo(maglev.get());
  return info.ok() ? info->id : 0;
}

Result<AppliedState> ReadApplied(const ElbMaps& maps) {
  AppliedState a;
  a.maglev_id = maps.maglev_id();
  {
    uint32_t zero = 0;
    elb_settings s{};
    if (bpf_map_lookup_elem(maps.settings.get(), &zero, &s) == 0) a.settings_flags = s.flags;
    for (uint32_t w = 0; w < ELB_RNAT_PORT_WORDS; w++)
      if (bpf_map_lookup_elem(maps.rnat_ports.get(), &w, &a.rnat_ports[w]) != 0)
        return ErrnoStatus("reading rnat_ports", errno);
    for (uint32_t w = 0; w < ELB_VIP_FILTER_WORDS; w++)
      if (bpf_map_lookup_elem(maps.vip_filter.get(), &w, &a.vip_filter[w]) != 0)
        return ErrnoStatus("reading vip_filter", errno);
  }
  {
    elb_svc_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(maps.services.get(), prev, &next) == 0) {
      elb_service v{};
      if (bpf_map_lookup_elem(maps.services.get(), &next, &v) == 0)
        a.services[SvcKeyBytes{next}] = v;
      key = next;
      prev = &key;
    }
  }
  for (uint32_t slot = 1; slot < kMaxBackendSlots; slot++) {
    elb_backend v{};
    if (bpf_map_lookup_elem(maps.backends.get(), &slot, &v) != 0)
      return ErrnoStatus("reading backend slot " + std::to_string(slot), errno);
    if (v.id == 0) continue;
    a.backends[slot] = v;
    a.stats_owner[slot] = v.id;
  }
  {
    elb_vip_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(maps.vips.get(), prev, &next) == 0) {
      a.vips.insert(VipKeyBytes{next});
      key = next;
      prev = &key;
    }
  }
  return a;
}

PriorLayout LayoutOf(const AppliedState& applied) {
  PriorLayout p;
  for (const auto& [k, v] : applied.services) p.service_index[SvcKeyString(k.key)] = v.index;
  for (const auto& [slot, b] : applied.backends) p.backend_slot[b.id] = slot;
  return p;
}

Status Sync(const ElbMaps& maps, const LbPlan& plan, AppliedState& applied) {
  std::map<SvcKeyBytes, const PlannedService*> want_services;
  std::set<uint32_t> want_tables;
  for (const auto& ps : plan.services) {
    want_services[SvcKeyBytes{ps.key}] = &ps;
    want_tables.insert(ps.value.index);
  }

  // 0. Lookups the new services need are on before they can match; the
  // ones only the old needed go at the end.
  auto set_flags = [&](uint32_t flags) -> Status {
    if (flags == applied.settings_flags) return Status::Ok();
    uint32_t zero = 0;
    elb_settings s{flags, 0};
    SFC_RETURN_IF_ERROR(Update(maps.settings.get(), &zero, &s, kSettingsMap));
    applied.settings_flags = flags;
    return Status::Ok();
  };
  // Bitmaps (reply ports, VIP filter): the union of old and new while
  // services change, the new alone at the end.
  auto set_bits = [&](int fd, const char* name, std::vector<uint64_t>& have,
                      const std::vector<uint64_t>& want) -> Status {
    for (uint32_t w = 0; w < want.size(); w++) {
      if (have[w] == want[w]) continue;
      SFC_RETURN_IF_ERROR(Update(fd, &w, &want[w], name));
      have[w] = want[w];
    }
    return Status::Ok();
  };
  auto set_ports = [&](const std::vector<uint64_t>& want) {
    return set_bits(maps.rnat_ports.get(), kRnatPortsMap, applied.rnat_ports, want);
  };
  auto set_vips = [&](const std::vector<uint64_t>& want) {
    return set_bits(maps.vip_filter.get(), kVipFilterMap, applied.vip_filter, want);
  };
  auto both = [](const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    std::vector<uint64_t> out(a.size());
    for (size_t w = 0; w < a.size(); w++) out[w] = a[w] | b[w];
    return out;
  };
  SFC_RETURN_IF_ERROR(set_ports(both(applied.rnat_ports, plan.rnat_ports)));
  SFC_RETURN_IF_ERROR(set_vips(both(applied.vip_filter, plan.vip_filter)));
  SFC_RETURN_IF_ERROR(set_flags(applied.settings_flags | plan.settings_flags));

  // 1. Services that go away, or whose table moves, stop matching first.
  for (auto it = applied.services.begin(); it != applied.services.end();) {
    auto w = want_services.find(it->first);
    if (w != want_services.end() && w->second->value.index == it->second.index) {
      ++it;
      continue;
    }
    SFC_RETURN_IF_ERROR(Delete(maps.services.get(), &it->first.key, kServicesMap));
    it = applied.services.erase(it);
  }

  // 2. Backends, before any table can name them. Counters survive chain
  // edits; a slot that changes hands starts from zero.
  std::set<uint32_t> want_slots;
  for (const auto& [id, pb] : plan.backends) {
    uint32_t slot = pb.slot;
    want_slots.insert(slot);
    auto it = applied.backends.find(slot);
    if (it != applied.backends.end() && SameBytes(&it->second, &pb.value, sizeof(pb.value)))
      continue;
    auto owner = applied.stats_owner.find(slot);
    if (owner == applied.stats_owner.end() || owner->second != id) {
      std::vector<elb_backend_stats> zero(libbpf_num_possible_cpus());
      SFC_RETURN_IF_ERROR(Update(maps.backend_stats.get(), &slot, zero.data(), kBackendStatsMap));
      applied.stats_owner[slot] = id;
    }
    SFC_RETURN_IF_ERROR(Update(maps.backends.get(), &slot, &pb.value, kBackendsMap));
    applied.backends[slot] = pb.value;
  }

  // 3. Tables: built whole, swapped in with one update.
  for (const auto& ps : plan.services) {
    auto t = applied.tables.find(ps.value.index);
    if (t != applied.tables.end() && t->second == ps.fingerprint) continue;
    SFC_ASSIGN_OR_RETURN(std::vector<uint32_t> table,
                         BuildMaglevTable(ps.table_input, ps.value.table_size));
    bool empty = true;
    for (uint32_t id : table) empty &= id == kNoBackend;
    uint32_t index = ps.value.index;
    if (empty) {
      // No usable backend: no table, and the program counts no_backend.
      SFC_RETURN_IF_ERROR(Delete(maps.maglev.get(), &index, kMaglevMap));
    } else {
      SFC_ASSIGN_OR_RETURN(UniqueFd inner, MakeTable(table, index));
      int inner_fd = inner.get();
      SFC_RETURN_IF_ERROR(Update(maps.maglev.get(), &index, &inner_fd, kMaglevMap));
      // The outer map holds the table now; our fd goes.
    }
    applied.tables[index] = ps.fingerprint;
    auto& shares = applied.table_shares[index];
    shares.clear();
    for (uint32_t slot : table)
      if (slot != kNoBackend) shares[slot]++;
  }

  // 4. Services start (or keep) matching; VIPs for fragments.
  for (const auto& ps : plan.services) {
    SvcKeyBytes k{ps.key};
    auto it = applied.services.find(k);
    if (it != applied.services.end() && SameBytes(&it->second, &ps.value, sizeof(ps.value)))
      continue;
    SFC_RETURN_IF_ERROR(Update(maps.services.get(), &ps.key, &ps.value, kServicesMap));
    applied.services[k] = ps.value;
  }
  for (const auto& v : plan.vips) {
    if (applied.vips.count(v)) continue;
    uint32_t one = 1;
    SFC_RETURN_IF_ERROR(Update(maps.vips.get(), &v.key, &one, kVipsMap));
    applied.vips.insert(v);
  }

  // 5. What nothing refers to any more.
  for (auto it = applied.tables.begin(); it != applied.tables.end();) {
    if (want_tables.count(it->first)) {
      ++it;
      continue;
    }
    uint32_t index = it->first;
    SFC_RETURN_IF_ERROR(Delete(maps.maglev.get(), &index, kMaglevMap));
    applied.table_shares.erase(it->first);
    it = applied.tables.erase(it);
  }
  for (auto it = applied.backends.begin(); it != applied.backends.end();) {
    if (want_slots.count(it->first)) {
      ++it;
      continue;
    }
    // Freed: connections that still name this slot see id 0 and re-balance.
    uint32_t slot = it->first;
    elb_backend empty{};
    SFC_RETURN_IF_ERROR(Update(maps.backends.get(), &slot, &empty, kBackendsMap));
    it = applied.backends.erase(it);
  }
  for (auto it = applied.vips.begin(); it != applied.vips.end();) {
    if (plan.vips.count(*it)) {
      ++it;
      continue;
    }
    SFC_RETURN_IF_ERROR(Delete(maps.vips.get(), &it->key, kVipsMap));
    it = applied.vips.erase(it);
  }
  SFC_RETURN_IF_ERROR(set_flags(plan.settings_flags));
  SFC_RETURN_IF_ERROR(set_vips(plan.vip_filter));
  return set_ports(plan.rnat_ports);
}

elb_backend_stats ReadBackendStats(const ElbMaps& maps, uint32_t slot) {
  elb_backend_stats sum{};
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return sum;
  std::vector<elb_backend_stats> per_cpu(ncpus);
  if (bpf_map_lookup_elem(maps.backend_stats.get(), &slot, per_cpu.data()) != 0) return sum;
  for (const auto& c : per_cpu) {
    sum.packets += c.packets;
    sum.bytes += c.bytes;
    sum.connections += c.connections;
  }
  return sum;
}

}  // namespace sfc::elb
