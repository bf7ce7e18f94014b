#include "monitor/settings.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace sfc::monitor {

sfc_monitor_config ToConfig(const Settings& s) {
  sfc_monitor_config c{};
  c.mode = s.mode;
  c.stages = s.stages;
  c.sample = std::min(s.sample, kMaxSample);
  if (s.rate_per_cpu) {
    c.cost_ns = 1'000'000'000ull / s.rate_per_cpu;
    uint64_t burst = s.burst ? s.burst : s.rate_per_cpu;
    c.burst_ns = c.cost_ns * burst;
  }
  return c;
}

Settings Merge(const std::vector<Settings>& watchers) {
  Settings out;
  if (watchers.empty()) return out;
  out.stages = 0;
  out.sample = kMaxSample;
  out.rate_per_cpu = 1;
  bool unlimited = false;
  for (const auto& w : watchers) {
    out.mode = std::max(out.mode, w.mode);
    out.stages |= w.stages;
    out.sample = std::min(out.sample, std::max(w.sample, 1u));
    unlimited |= w.rate_per_cpu == 0;
    out.rate_per_cpu = std::max(out.rate_per_cpu, w.rate_per_cpu);
    out.burst = std::max(out.burst, w.burst);
  }
  if (unlimited) out.rate_per_cpu = 0;
  return out;
}

uint32_t StageBit(uint32_t stage) {
  if (stage == SFC_STAGE_ENTRY) return SFC_MON_STAGE_ENTRY;
  if (stage == SFC_STAGE_EGRESS) return SFC_MON_STAGE_EGRESS;
  return 1u << (stage & 31);
}

bool Wants(const Settings& s, const sfc_event& ev) {
  if (s.mode == SFC_MON_OFF) return false;
  if (!(s.stages & StageBit(ev.stage))) return false;
  if (s.mode == SFC_MON_ALL) return true;
  return ev.action == SFC_ACT_DROP || ev.action == SFC_ACT_ABORTED ||
         ev.reason == SFC_REASON_TAIL_CALL_MISS;
}

std::string_view ReasonName(uint32_t reason) {
  switch (reason) {
    case SFC_REASON_NONE:
      return "none";
    case SFC_REASON_MALFORMED:
      return "malformed";
    case SFC_REASON_NON_IP:
      return "non_ip";
    case SFC_REASON_TAIL_CALL_MISS:
      return "tail_call_miss";
    case SFC_REASON_FW_RULE:
      return "fw_rule";
    case SFC_REASON_FW_DEFAULT:
      return "fw_default";
    case SFC_REASON_FW_INVALID:
      return "fw_invalid_state";
    case SFC_REASON_LB_NO_BACKEND:
      return "lb_no_backend";
    case SFC_REASON_LB_FRAGMENT:
      return "lb_fragment";
    case SFC_REASON_LB_BAD_HEADER:
      return "lb_bad_header";
    case SFC_REASON_FIB_DROP:
      return "fib_drop";
    case SFC_REASON_FIB_PASS:
      return "fib_pass";
    case SFC_REASON_FIB_NO_NEIGH:
      return "fib_no_neigh";
    case SFC_REASON_TTL:
      return "ttl";
    case SFC_REASON_VLAN:
      return "vlan";
    case SFC_REASON_REDIRECT_ERR:
      return "redirect_error";
    default:
      return "unknown";
  }
}

std::string_view ActionName(uint32_t action) {
  switch (action) {
    case SFC_ACT_ABORTED:
      return "aborted";
    case SFC_ACT_DROP:
      return "drop";
    case SFC_ACT_PASS:
      return "pass";
    case SFC_ACT_TX:
      return "tx";
    case SFC_ACT_REDIRECT:
      return "redirect";
    case SFC_ACT_NEXT:
      return "next";
    default:
      return "unknown";
  }
}

std::string AddressText(uint16_t l3_proto, const uint32_t addr[4]) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (l3_proto == 0x0800) {
    inet_ntop(AF_INET, addr, buf, sizeof(buf));
  } else if (l3_proto == 0x86DD) {
    inet_ntop(AF_INET6, addr, buf, sizeof(buf));
  }
  return buf;
}

std::string_view ProtoName(uint8_t l4_proto) {
  switch (l4_proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    default:
      return "";
  }
}

}  // namespace sfc::monitor
