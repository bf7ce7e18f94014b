// The frame a trace sends, built from a PacketSpec, and a one-line decoding
// of any frame (what the chain handed back). Pure: no syscalls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trace/packet_expr.h"

namespace sfc::trace {

using Bytes = std::vector<uint8_t>;

// Ethernet, VLAN tags (two: 802.1ad outer, 802.1Q inner), IPv4 or IPv6, TCP,
// UDP or ICMP/ICMPv6 with correct checksums and `payload_len` zero bytes.
Bytes BuildFrame(const PacketSpec& spec);

// tcpdump-like: "02:..:01 > 02:..:02 vlan 100 IPv4 10.0.0.1:1234 > 10.0.0.2:80
// tcp flags S ttl 64 len 54". Never fails: what does not parse is named.
std::string DescribeFrame(const uint8_t* data, size_t len);
inline std::string DescribeFrame(const Bytes& b) { return DescribeFrame(b.data(), b.size()); }

}  // namespace sfc::trace
