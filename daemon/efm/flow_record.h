// The flow model of eFM as the daemon sees it: keys and counters straight from
// the data plane's flow table (bpf/efm/efm.h), and the finished records the
// exporter hands to IPFIX and to FlowService watchers. Pure: no syscalls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <efm/efm.h>

namespace sfc::efm {

using FlowKey = efm_flow_key;

struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const noexcept {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(&k), sizeof(k)));
  }
};
struct FlowKeyEq {
  bool operator()(const FlowKey& a, const FlowKey& b) const noexcept {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
  }
};

// Why a flow record ended: the values of IPFIX flowEndReason (IE 136).
enum class EndReason : uint8_t {
  kIdleTimeout = 1,
  kActiveTimeout = 2,    // a long flow's periodic record; the flow goes on
  kEndOfFlow = 3,        // TCP FIN or RST
  kForcedEnd = 4,        // the instance stopped
  kLackOfResources = 5,  // the table evicted the flow (LRU, table full)
};
std::string_view ToString(EndReason r);

// One entry of the flow table, converted from struct efm_flow.
struct FlowCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t first_seen_ns = 0;  // CLOCK_MONOTONIC
  uint64_t last_seen_ns = 0;
  uint8_t tcp_flags = 0;
  // The flow's application as a dpi VNF earlier in the chain named it (nDPI
  // ids, daemon/dpi/app_catalog.h); 0: unknown or no dpi.
  uint16_t app = 0;
  uint8_t app_category = 0;
};
FlowCounters ToCounters(const efm_flow& f);

// What the flow did between two exports. Times are CLOCK_MONOTONIC ns; the
// exporter converts them to wall-clock time.
struct FlowRecord {
  FlowKey key{};
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint8_t tcp_flags = 0;
  uint16_t app = 0;  // as in FlowCounters
  uint8_t app_category = 0;
  EndReason reason = EndReason::kIdleTimeout;
};

// Accessors in host order; ports are 0 for protocols without them.
uint16_t SrcPort(const FlowKey& k);
uint16_t DstPort(const FlowKey& k);
bool IsIcmp(const FlowKey& k);
// ICMP type << 8 | code, for ICMP and ICMPv6 flows.
uint16_t IcmpTypeCode(const FlowKey& k);
std::string SrcAddress(const FlowKey& k);
std::string DstAddress(const FlowKey& k);
// "tcp", "udp", "icmp", "ipv6-icmp", or the number.
std::string ProtocolName(uint8_t proto);
// "SAF" style: one letter per flag set (CWR ECE URG ACK PSH RST SYN FIN).
std::string TcpFlagsString(uint8_t flags);

// Builds a key for tests and filters: addresses as text, ports in host order.
// Returns false if an address does not parse or the families differ.
bool MakeFlowKey(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
                 uint16_t dport, FlowKey* out);

}  // namespace sfc::efm
