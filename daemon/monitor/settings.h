// The drop and verdict monitor's settings and vocabulary, without syscalls:
// what a watcher asks for, how it becomes struct sfc_monitor_config, and the
// names of reasons, actions and stages as the API and sfcctl print them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sfc/abi.h>

namespace sfc::monitor {

// Defaults: what a watcher gets without asking.
constexpr uint32_t kDefaultRatePerCpu = 1000;  // events per second, per CPU
constexpr uint32_t kMaxSample = 1u << 20;

struct Settings {
  uint32_t mode = SFC_MON_OFF;                 // enum sfc_monitor_mode
  uint32_t stages = SFC_MON_STAGES_ALL;        // SFC_MON_STAGE_* bits
  uint32_t sample = 1;                         // 1 in N; 0 and 1: every event
  uint32_t rate_per_cpu = kDefaultRatePerCpu;  // events/s per CPU; 0: no limit
  uint32_t burst = 0;                          // bucket depth in events; 0: one second's worth

  bool operator==(const Settings&) const = default;
};

// What the data plane reads. A rate of r events per second is a cost of
// 1e9/r ns of credit per event; the bucket holds `burst` events.
sfc_monitor_config ToConfig(const Settings& s);

// The settings that serve every watcher at once: the widest mode, the union
// of stages, the finest sampling and the highest rate. Each watcher then
// filters its own events (Wants()). Empty: off.
Settings Merge(const std::vector<Settings>& watchers);

// Whether an event belongs to what `s` asked for (mode and stage).
bool Wants(const Settings& s, const sfc_event& ev);

// The stage bit of a VNF slot, SFC_STAGE_EGRESS or SFC_STAGE_ENTRY.
uint32_t StageBit(uint32_t stage);

std::string_view ReasonName(uint32_t reason);  // "fw_rule", "lb_no_backend", ...
std::string_view ActionName(uint32_t action);  // "drop", "pass", "tx", "redirect", "next", ...
// Dotted quad or RFC 5952 text of an event's address (network order words).
std::string AddressText(uint16_t l3_proto, const uint32_t addr[4]);
std::string_view ProtoName(uint8_t l4_proto);  // "tcp", "udp", "icmp", "icmpv6", or ""

}  // namespace sfc::monitor
