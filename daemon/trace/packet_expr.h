// The packet a trace runs through a chain, written the way tcpdump prints it:
//
//   tcp 10.0.0.1:1234 > 10.0.0.100:80 flags S iif eth0
//   udp [2001:db8::1]:5353 > [2001:db8::2]:53 vlan 100 len 64
//   icmp 10.0.0.1 > 10.0.0.2 type 8 id 7       icmp6 fd00::1 > fd00::2
//
// Grammar (keywords in any order after the addresses, each at most once):
//   PROTO SRC > DST [flags F] [vlan ID [vlan ID]] [ttl N] [len N]
//                   [type N] [code N] [id N] [iif IFNAME]
//                   [smac MAC] [dmac MAC]
//   PROTO  tcp | udp | icmp | icmp6
//   SRC    IPv4[:PORT] | IPv6 | [IPv6]:PORT  (ports for tcp and udp only)
//   F      letters of S A F R P U E C, e.g. SA
// Pure: no syscalls, so it is unit-tested and fuzzed without root.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sfc::trace {

enum class L4 { kTcp, kUdp, kIcmp };

struct PacketSpec {
  L4 l4 = L4::kTcp;
  bool ipv6 = false;
  std::array<uint8_t, 16> src{}, dst{};  // IPv4 in the first 4 bytes
  uint16_t sport = 0, dport = 0;         // host order; tcp/udp
  uint8_t tcp_flags = 0x02;              // SYN unless "flags" says otherwise
  std::vector<uint16_t> vlans;           // outer first; at most 2 (802.1ad outer)
  uint8_t ttl = 64;
  uint16_t payload_len = 0;
  uint8_t icmp_type = 0, icmp_code = 0;  // default: echo request
  uint16_t icmp_id = 0;
  std::string iif;  // ingress interface; empty: the chain's first
  std::array<uint8_t, 6> smac{0x02, 0, 0, 0, 0, 0x01}, dmac{0x02, 0, 0, 0, 0, 0x02};
};

// At most this many payload bytes: one frame fits a standard MTU.
constexpr uint16_t kMaxPayload = 1400;

// Errors name the token (1-based word position and text) and what was expected.
Result<PacketSpec> ParsePacketExpr(std::string_view expr);

// The TCP flag letters of `flags`, in S A F R P U E C order ("" for none).
std::string TcpFlagLetters(uint8_t flags);

}  // namespace sfc::trace
