// A small fluent builder for test frames, with correct checksums, and the
// parsing/checksum helpers tests use to check what a program wrote.
//
//   auto frame = PacketBuilder()
//                    .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
//                    .Vlan(100)
//                    .Ipv4("10.0.0.1", "10.0.0.2")
//                    .Tcp(40000, 80, kTcpSyn)
//                    .Payload(32)
//                    .Build();
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sfc::test {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10;

class PacketBuilder {
 public:
  PacketBuilder& Eth(const std::string& src_mac, const std::string& dst_mac);
  // Adds a tag; the first call is the outer one. `tpid` 0x8100 or 0x88a8.
  PacketBuilder& Vlan(uint16_t vid, uint16_t tpid = 0x8100);
  // EtherType to use when no IP layer follows (e.g. 0x0806 for ARP).
  PacketBuilder& EtherType(uint16_t type);
  PacketBuilder& Ipv4(const std::string& src, const std::string& dst, uint8_t ttl = 64);
  // IPv4 options appended to the header (padded to 4 bytes with EOL).
  PacketBuilder& Ipv4Options(const Bytes& options);
  // frag_offset in bytes (multiple of 8); more: the MF bit.
  PacketBuilder& Ipv4Fragment(uint16_t frag_offset, bool more);
  PacketBuilder& Ipv6(const std::string& src, const std::string& dst, uint8_t hop_limit = 64);
  // Extension header of `type` (0 hop-by-hop, 43 routing, 60 dest opts) with
  // `len8` 8-byte units after the first 8.
  PacketBuilder& Ipv6Ext(uint8_t type, uint8_t len8 = 0);
  PacketBuilder& Ipv6Fragment(uint16_t frag_offset, bool more, uint32_t id = 1);
  PacketBuilder& Tcp(uint16_t sport, uint16_t dport, uint8_t flags = kTcpAck, uint32_t seq = 1,
                     uint32_t ack = 0);
  PacketBuilder& Udp(uint16_t sport, uint16_t dport);
  // ICMP for IPv4 packets, ICMPv6 for IPv6 packets.
  PacketBuilder& Icmp(uint8_t type, uint8_t code = 0, uint16_t id = 0, uint16_t seq = 0);
  // Any other IP protocol number, with no header of its own.
  PacketBuilder& Proto(uint8_t proto);
  PacketBuilder& Payload(size_t len, uint8_t fill = 0xab);
  PacketBuilder& Payload(const Bytes& bytes);

  Bytes Build() const;

 private:
  enum class L3 { kNone, kV4, kV6 };
  enum class L4 { kNone, kTcp, kUdp, kIcmp, kRaw };
  struct Ext {
    uint8_t type;
    uint8_t len8;
    uint16_t frag_offset;
    bool more;
    uint32_t id;
  };

  std::string src_mac_ = "02:00:00:00:00:01", dst_mac_ = "02:00:00:00:00:02";
  std::vector<std::pair<uint16_t, uint16_t>> vlans_;  // (tpid, vid)
  uint16_t ether_type_ = 0;
  L3 l3_ = L3::kNone;
  std::string src_ip_, dst_ip_;
  uint8_t ttl_ = 64;
  Bytes v4_options_;
  uint16_t v4_frag_ = 0;
  bool v4_more_ = false;
  std::vector<Ext> v6_ext_;
  L4 l4_ = L4::kNone;
  uint8_t raw_proto_ = 0;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t tcp_flags_ = 0;
  uint32_t seq_ = 0, ack_ = 0;
  uint8_t icmp_type_ = 0, icmp_code_ = 0;
  uint16_t icmp_id_ = 0, icmp_seq_ = 0;
  Bytes payload_;
};

// RFC 1071 one's-complement sum folded to 16 bits (not inverted).
uint16_t OnesSum(const uint8_t* data, size_t len, uint32_t seed = 0);

// What CheckFrame() learned about a frame.
struct FrameInfo {
  bool ok = false;
  std::string error;  // why not ok
  size_t l3_off = 0, l4_off = 0;
  int family = 0;  // 4 or 6
  uint8_t proto = 0;
  bool l3_csum_ok = true;  // IPv4 header checksum
  bool l4_csum_ok = true;  // TCP/UDP/ICMP(v6) checksum over the whole datagram
};

// Walks Ethernet/VLAN/IP(v6 ext)/L4 and verifies every checksum by full
// recomputation. Non-first fragments get no L4 check.
FrameInfo CheckFrame(const Bytes& frame);

Bytes MacBytes(const std::string& mac);
std::string MacString(const uint8_t* mac);

}  // namespace sfc::test
