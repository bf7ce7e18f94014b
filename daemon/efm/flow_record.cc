#include "efm/flow_record.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace sfc::efm {

std::string_view ToString(EndReason r) {
  switch (r) {
    case EndReason::kIdleTimeout:
      return "idle-timeout";
    case EndReason::kActiveTimeout:
      return "active-timeout";
    case EndReason::kEndOfFlow:
      return "end-of-flow";
    case EndReason::kForcedEnd:
      return "forced-end";
    case EndReason::kLackOfResources:
      return "evicted";
  }
  return "unknown";
}

FlowCounters ToCounters(const efm_flow& f) {
  return FlowCounters{
      f.packets, f.bytes,       f.first_seen_ns, f.last_seen_ns, static_cast<uint8_t>(f.tcp_flags),
      f.app,     f.app_category};
}

bool IsIcmp(const FlowKey& k) { return k.proto == IPPROTO_ICMP || k.proto == IPPROTO_ICMPV6; }
uint16_t SrcPort(const FlowKey& k) { return ntohs(k.sport); }
// ICMP keys carry type/code in host order already (see efm.h).
uint16_t DstPort(const FlowKey& k) { return IsIcmp(k) ? k.dport : ntohs(k.dport); }
uint16_t IcmpTypeCode(const FlowKey& k) { return IsIcmp(k) ? k.dport : 0; }

static std::string AddrString(const FlowKey& k, const uint32_t* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(k.family == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf));
  return buf;
}
std::string SrcAddress(const FlowKey& k) { return AddrString(k, k.saddr); }
std::string DstAddress(const FlowKey& k) { return AddrString(k, k.daddr); }

std::string ProtocolName(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "ipv6-icmp";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_GRE:
      return "gre";
    case IPPROTO_ESP:
      return "esp";
  }
  return std::to_string(proto);
}

std::string TcpFlagsString(uint8_t flags) {
  static constexpr char kLetters[] = "FSRPAUEC";  // bit 0 (FIN) .. bit 7 (CWR)
  std::string s;
  for (int bit = 7; bit >= 0; --bit)
    if (flags & (1u << bit)) s += kLetters[bit];
  return s;
}

bool MakeFlowKey(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
                 uint16_t dport, FlowKey* out) {
  FlowKey k{};
  if (inet_pton(AF_INET, src.c_str(), k.saddr) == 1) {
    if (inet_pton(AF_INET, dst.c_str(), k.daddr) != 1) return false;
    k.family = 4;
  } else if (inet_pton(AF_INET6, src.c_str(), k.saddr) == 1) {
    if (inet_pton(AF_INET6, dst.c_str(), k.daddr) != 1) return false;
    k.family = 6;
  } else {
    return false;
  }
  k.proto = proto;
  if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
    k.dport = dport;
  } else {
    k.sport = htons(sport);
    k.dport = htons(dport);
  }
  *out = k;
  return true;
}

}  // namespace sfc::efm
