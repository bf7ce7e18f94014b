// From config (and backend health) to the contents of the eLB maps. Pure:
// the daemon computes the desired state here and the data-plane code only
// writes the difference, in an order packets can never see half-done.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "elb/config.h"
#include "elb/elb.h"
#include "elb/maglev.h"

namespace sfc::elb {

// Map keys as ordered byte strings, so they can index std::map.
struct SvcKeyBytes {
  elb_svc_key key{};
  bool operator<(const SvcKeyBytes& o) const;
  bool operator==(const SvcKeyBytes& o) const;
};
struct VipKeyBytes {
  elb_vip_key key{};
  bool operator<(const VipKeyBytes& o) const;
};

elb_svc_key MakeSvcKey(const ServiceSpec& s);
elb_vip_key MakeVipKey(const IpAddr& vip);
// "tcp/10.0.0.100:80" from a map key: matches ServiceSpec::Key().
std::string SvcKeyString(const elb_svc_key& key);

// What the health checker and neighbour resolution know about a backend.
// Backends not judged yet are usable.
struct BackendStatus {
  bool healthy = true;
  std::optional<MacAddr> resolved_mac;  // dsr backends configured without a MAC
  uint32_t weight_percent = 100;        // reported load-driven share of its weight
};

// A backend's weight in the table: its configured weight scaled by what it
// reported, never rounded down to 0 unless it reported 0.
uint32_t EffectiveWeight(uint32_t weight, uint32_t percent);
using HealthView = std::map<uint32_t, BackendStatus>;  // by backend id

enum class BackendState { kUp, kDown, kNoMac };
std::string_view ToString(BackendState s);

struct PlannedService {
  const ServiceSpec* spec = nullptr;
  elb_svc_key key{};
  elb_service value{};
  std::vector<MaglevBackend> table_input;  // every backend (id: its slot); weight 0 when not usable
  uint64_t fingerprint = 0;                // of table_size and table_input
};

struct PlannedBackend {
  const ServiceSpec* service = nullptr;
  const BackendSpec* spec = nullptr;
  uint32_t slot = 0;  // index in `backends` and `backend_stats`; what tables store
  elb_backend value{};
  BackendState state = BackendState::kUp;
  uint32_t weight = 0;  // effective: what the table got
};

struct LbPlan {
  std::vector<PlannedService> services;         // in config order
  std::map<uint32_t, PlannedBackend> backends;  // by id
  std::set<VipKeyBytes> vips;
  uint32_t settings_flags = 0;                                                     // ELB_SET_F_*
  std::vector<uint64_t> rnat_ports = std::vector<uint64_t>(ELB_RNAT_PORT_WORDS);   // bitmap
  std::vector<uint64_t> vip_filter = std::vector<uint64_t>(ELB_VIP_FILTER_WORDS);  // bitmap

  // The id of a service's backend; 0 when not in the plan.
  uint32_t BackendId(const ServiceSpec& s, const BackendSpec& b) const;
  uint32_t SlotOf(uint32_t id) const;                      // 0 when not in the plan
  std::map<std::string, uint32_t> ServiceIndices() const;  // by ServiceSpec::Key()
};

// Stable backend id: a hash of the service key and the backend key, never 0,
// probing on the (rare) collision in a deterministic order. The same config
// yields the same ids in every generation and after a daemon restart, so the
// connection table (which stores ids) stays valid across chain edits.
std::map<std::pair<std::string, std::string>, uint32_t> AssignBackendIds(const LbConfig& config);

// Where the running data plane has things. Kept for what stays: connections
// remember their service's index and their backend's slot, so neither may
// move under them (nor across a chain re-apply).
struct PriorLayout {
  std::map<std::string, uint32_t> service_index;  // by ServiceSpec::Key()
  std::map<uint32_t, uint32_t> backend_slot;      // backend id -> slot
};

inline constexpr uint32_t kMaxBackendSlots = ELB_MAX_BACKENDS;  // slot 0 unused

// New services take the lowest free index, new backends the lowest slot no
// prior backend holds (so a removed backend's slot is not reused by the same
// change). `config` must outlive the plan.
LbPlan BuildPlan(const LbConfig& config, const HealthView& health, const PriorLayout& prior);

}  // namespace sfc::elb
