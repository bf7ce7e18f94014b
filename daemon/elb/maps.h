// The eLB maps of one instance, and the one routine that writes them: Sync()
// moves the maps from what they hold to a new plan in an order that packets
// can never observe half-done:
//
//   1. services that went away stop matching (their entries are deleted)
//   2. new and changed backends are written (and their counters created)
//   3. every table that changed is built off to the side as a new inner map
//      and swapped into `maglev` with one update
//   4. new and changed services start matching; VIPs are added
//   5. unused tables, backends (their connections then re-balance) and VIPs go
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "common/fd.h"
#include "common/status.h"
#include "elb/plan.h"

namespace sfc::elb {

// Map names, as pinned under <chain>/<vnf>/.
inline constexpr const char* kServicesMap = "services";
inline constexpr const char* kSettingsMap = "settings";
inline constexpr const char* kRnatPortsMap = "rnat_ports";
inline constexpr const char* kVipFilterMap = "vip_filter";
inline constexpr const char* kVipsMap = "vips";
inline constexpr const char* kMaglevMap = "maglev";
inline constexpr const char* kBackendsMap = "backends";
inline constexpr const char* kBackendStatsMap = "backend_stats";
inline constexpr const char* kConntrackMap = "conntrack";
inline constexpr const char* kReverseNatMap = "reverse_nat";

struct ElbMaps {
  UniqueFd services, settings, rnat_ports, vip_filter, vips, maglev, backends, backend_stats;

  // The maps pinned in an instance's directory (the running generation).
  static Result<ElbMaps> OpenPinned(const std::string& pin_dir);
  // Duplicates of the fds of a loaded object's maps.
  static Result<ElbMaps> FromObject(bpf_object* obj);
  uint32_t maglev_id() const;  // kernel id of the `maglev` map: identifies the generation
};

// What the maps hold, as far as Sync() is concerned.
struct AppliedState {
  uint32_t maglev_id = 0;  // the maps this describes
  std::map<SvcKeyBytes, elb_service> services;
  std::map<uint32_t, elb_backend> backends;  // by slot; only slots in use
  // Slot -> the backend id whose counters backend_stats holds there. A slot
  // that changes hands gets its counters zeroed.
  std::map<uint32_t, uint32_t> stats_owner;
  std::set<VipKeyBytes> vips;
  uint32_t settings_flags = 0;
  std::vector<uint64_t> rnat_ports = std::vector<uint64_t>(ELB_RNAT_PORT_WORDS);
  std::vector<uint64_t> vip_filter = std::vector<uint64_t>(ELB_VIP_FILTER_WORDS);
  // Table index -> fingerprint of the table in place. Unknown (after a
  // daemon restart) means rebuild.
  std::map<uint32_t, uint64_t> tables;
  // Table index -> backend slot -> how many table entries it owns (its
  // share of new connections), for the tables this process built.
  std::map<uint32_t, std::map<uint32_t, uint32_t>> table_shares;
};

// Reads services, backends and VIPs back from the maps (after a restart).
Result<AppliedState> ReadApplied(const ElbMaps& maps);
// Service indices and backend slots of what the maps hold.
PriorLayout LayoutOf(const AppliedState& applied);

// Brings the maps from `applied` to `plan` (see the file comment) and updates
// `applied` as it goes, so a failure midway leaves it describing the maps.
Status Sync(const ElbMaps& maps, const LbPlan& plan, AppliedState& applied);

// Counters of the backend in `slot`, summed over CPUs.
elb_backend_stats ReadBackendStats(const ElbMaps& maps, uint32_t slot);

}  // namespace sfc::elb
