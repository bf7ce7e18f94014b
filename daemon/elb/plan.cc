#include "elb/plan.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sfc::elb {

bool SvcKeyBytes::operator<(const SvcKeyBytes& o) const {
  return std::memcmp(&key, &o.key, sizeof(key)) < 0;
}
bool SvcKeyBytes::operator==(const SvcKeyBytes& o) const {
  return std::memcmp(&key, &o.key, sizeof(key)) == 0;
}
bool VipKeyBytes::operator<(const VipKeyBytes& o) const {
  return std::memcmp(&key, &o.key, sizeof(key)) < 0;
}

static void CopyAddr(__u32 out[4], const IpAddr& a) {
  std::memset(out, 0, 16);
  std::memcpy(out, a.bytes.data(), a.family == 4 ? 4 : 16);
}

elb_svc_key MakeSvcKey(const ServiceSpec& s) {
  elb_svc_key k{};
  CopyAddr(k.vip, s.vip);
  k.port = htons(s.port);
  k.proto = static_cast<uint8_t>(s.proto);
  k.family = static_cast<uint8_t>(s.vip.family);
  return k;
}

elb_vip_key MakeVipKey(const IpAddr& vip) {
  elb_vip_key k{};
  CopyAddr(k.addr, vip);
  k.family = static_cast<uint8_t>(vip.family);
  return k;
}

std::string SvcKeyString(const elb_svc_key& key) {
  ServiceSpec s;
  s.vip.family = key.family;
  std::memcpy(s.vip.bytes.data(), key.vip, key.family == 4 ? 4 : 16);
  s.port = ntohs(key.port);
  s.proto = static_cast<L4Proto>(key.proto);
  return s.Key();
}

std::map<std::pair<std::string, std::string>, uint32_t> AssignBackendIds(const LbConfig& config) {
  std::vector<std::pair<std::string, std::string>> all;
  for (const auto& s : config.services)
    for (const auto& b : s.backends) all.emplace_back(s.Key(), b.Key());
  std::sort(all.begin(), all.end());  // probing order independent of config order

  std::map<std::pair<std::string, std::string>, uint32_t> ids;
  std::set<uint32_t> taken;
  for (auto& sb : all) {
    uint32_t id = static_cast<uint32_t>(StableHash64(sb.first + "|" + sb.second) >> 32);
    while (id == kNoBackend || taken.count(id)) id++;
    taken.insert(id);
    ids.emplace(std::move(sb), id);
  }
  return ids;
}

uint32_t EffectiveWeight(uint32_t weight, uint32_t percent) {
  if (weight == 0 || percent == 0) return 0;
  uint64_t w = (uint64_t{weight} * percent + 50) / 100;
  return w == 0 ? 1 : static_cast<uint32_t>(w);
}

std::string_view ToString(BackendState s) {
  switch (s) {
    case BackendState::kUp:
      return "up";
    case BackendState::kDown:
      return "down";
    case BackendState::kNoMac:
      return "no-mac";
  }
  return "?";
}

uint32_t LbPlan::SlotOf(uint32_t id) const {
  auto it = backends.find(id);
  return it == backends.end() ? 0 : it->second.slot;
}

uint32_t LbPlan::BackendId(const ServiceSpec& s, const BackendSpec& b) const {
  for (const auto& [id, pb] : backends)
    if (pb.service->Key() == s.Key() && pb.spec->Key() == b.Key()) return id;
  return 0;
}

std::map<std::string, uint32_t> LbPlan::ServiceIndices() const {
  std::map<std::string, uint32_t> out;
  for (const auto& s : services) out[s.spec->Key()] = s.value.index;
  return out;
}

static uint64_t Fingerprint(uint32_t table_size, std::vector<MaglevBackend> in) {
  std::sort(in.begin(), in.end(),
            [](const MaglevBackend& a, const MaglevBackend& b) { return a.key < b.key; });
  std::string s = std::to_string(table_size);
  for (const auto& b : in)
    s += "|" + b.key + "#" + std::to_string(b.id) + "#" + std::to_string(b.weight);
  return StableHash64(s);
}

LbPlan BuildPlan(const LbConfig& config, const HealthView& health, const PriorLayout& prior) {
  LbPlan plan;
  auto ids = AssignBackendIds(config);
  const auto& prior_index = prior.service_index;

  // Backend slots: kept where the running data plane has them.
  std::map<uint32_t, uint32_t> slot_of;
  std::set<uint32_t> taken;
  for (const auto& [id, slot] : prior.backend_slot) taken.insert(slot);
  for (const auto& [key, id] : ids)
    if (auto it = prior.backend_slot.find(id); it != prior.backend_slot.end())
      slot_of[id] = it->second;
  uint32_t next_slot = 1;
  std::set<uint32_t> assigned;
  for (const auto& [_, slot] : slot_of) assigned.insert(slot);
  for (const auto& [key, id] : ids) {  // sorted by key: deterministic
    if (slot_of.count(id)) continue;
    while (next_slot < kMaxBackendSlots && (taken.count(next_slot) || assigned.count(next_slot)))
      next_slot++;
    uint32_t slot = next_slot;
    if (slot >= kMaxBackendSlots) {
      // Full of former backends' slots: reuse one nobody keeps.
      slot = 1;
      while (assigned.count(slot)) slot++;
    }
    slot_of[id] = slot;
    assigned.insert(slot);
  }

  std::set<uint32_t> used;
  for (const auto& s : config.services) {
    auto it = prior_index.find(s.Key());
    if (it != prior_index.end()) used.insert(it->second);
  }
  uint32_t next_free = 0;
  for (const auto& s : config.services) {
    PlannedService ps;
    ps.spec = &s;
    ps.key = MakeSvcKey(s);
    auto it = prior_index.find(s.Key());
    if (it != prior_index.end()) {
      ps.value.index = it->second;
    } else {
      while (used.count(next_free)) next_free++;
      ps.value.index = next_free;
      used.insert(next_free);
    }
    ps.value.table_size = s.table_size;
    ps.value.mode = s.mode == ForwardMode::kDsr ? ELB_MODE_DSR : ELB_MODE_DNAT;
    ps.value.flags = (s.mode == ForwardMode::kDsr && s.dsr_tx) ? ELB_SVC_F_DSR_TX : 0;

    for (const auto& b : s.backends) {
      uint32_t id = ids.at({s.Key(), b.Key()});
      PlannedBackend pb;
      pb.service = &s;
      pb.spec = &b;
      pb.slot = slot_of.at(id);
      pb.value.id = id;
      std::optional<MacAddr> mac = b.mac;
      uint32_t percent = 100;
      if (auto h = health.find(id); h != health.end()) {
        percent = h->second.weight_percent;
        if (!h->second.healthy) pb.state = BackendState::kDown;
        if (!mac) mac = h->second.resolved_mac;
      }
      if (s.mode == ForwardMode::kDsr && !mac && pb.state == BackendState::kUp)
        pb.state = BackendState::kNoMac;  // cannot forward until resolved
      CopyAddr(pb.value.addr, b.address);
      pb.value.port = htons(b.port);
      pb.value.family = static_cast<uint8_t>(b.address.family);
      pb.value.flags = pb.state == BackendState::kUp ? 0 : ELB_BE_F_DOWN;
      if (mac) std::memcpy(pb.value.mac, mac->data(), 6);
      pb.value.svc_index = ps.value.index;
      pb.value.svc_mode = ps.value.mode;
      pb.value.svc_flags = ps.value.flags;
      if (s.mode == ForwardMode::kDnat) {
        if (b.port == 0)
          plan.settings_flags |= ELB_SET_F_RNAT_ANY_PORT;
        else
          plan.rnat_ports[b.port >> 6] |= uint64_t{1} << (b.port & 63);
      }
      pb.weight = pb.state == BackendState::kUp ? EffectiveWeight(b.weight, percent) : 0;
      ps.table_input.push_back({b.Key(), pb.slot, pb.weight});
      plan.backends.emplace(id, pb);
    }
    ps.fingerprint = Fingerprint(s.table_size, ps.table_input);
    plan.vips.insert(VipKeyBytes{MakeVipKey(s.vip)});
    const elb_vip_key vk = MakeVipKey(s.vip);
    const uint32_t bit = elb_vip_bit(vk.addr);
    plan.vip_filter[bit >> 6] |= uint64_t{1} << (bit & 63);
    if (s.port == 0) plan.settings_flags |= ELB_SET_F_ANY_PORT;
    if (s.mode == ForwardMode::kDnat) plan.settings_flags |= ELB_SET_F_DNAT;
    plan.services.push_back(std::move(ps));
  }
  return plan;
}

}  // namespace sfc::elb
