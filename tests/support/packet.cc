#include "support/packet.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace sfc::test {
namespace {

void Put16(Bytes& b, uint16_t v) {
  b.push_back(v >> 8);
  b.push_back(v & 0xff);
}
void Put32(Bytes& b, uint32_t v) {
  Put16(b, v >> 16);
  Put16(b, v & 0xffff);
}
void Set16(Bytes& b, size_t off, uint16_t v) {
  b[off] = v >> 8;
  b[off + 1] = v & 0xff;
}
uint16_t Get16(const Bytes& b, size_t off) { return (b[off] << 8) | b[off + 1]; }

Bytes Addr(int family, const std::string& text) {
  Bytes out(family == AF_INET ? 4 : 16);
  if (inet_pton(family, text.c_str(), out.data()) != 1)
    throw std::invalid_argument("bad address " + text);
  return out;
}

uint8_t L4Proto(bool v6, int l4, uint8_t raw) {
  switch (l4) {
    case 1:
      return IPPROTO_TCP;
    case 2:
      return IPPROTO_UDP;
    case 3:
      return v6 ? uint8_t{IPPROTO_ICMPV6} : uint8_t{IPPROTO_ICMP};
    case 4:
      return raw;
  }
  return 59;  // IPv6 "no next header"; for IPv4 a harmless unassigned use
}

// Pseudo-header sum for TCP/UDP/ICMPv6 checksums.
uint32_t PseudoSum(const Bytes& src, const Bytes& dst, uint8_t proto, uint32_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i < src.size(); i += 2) sum += (src[i] << 8) | src[i + 1];
  for (size_t i = 0; i < dst.size(); i += 2) sum += (dst[i] << 8) | dst[i + 1];
  sum += proto;
  sum += len >> 16;
  sum += len & 0xffff;
  return sum;
}

}  // namespace

uint16_t OnesSum(const uint8_t* data, size_t len, uint32_t seed) {
  uint64_t sum = seed;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len & 1) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

Bytes MacBytes(const std::string& mac) {
  unsigned v[6];
  if (std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    throw std::invalid_argument("bad MAC " + mac);
  return Bytes(v, v + 6);
}

std::string MacString(const uint8_t* m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

PacketBuilder& PacketBuilder::Eth(const std::string& src, const std::string& dst) {
  src_mac_ = src;
  dst_mac_ = dst;
  return *this;
}
PacketBuilder& PacketBuilder::Vlan(uint16_t vid, uint16_t tpid) {
  vlans_.emplace_back(tpid, vid);
  return *this;
}
PacketBuilder& PacketBuilder::EtherType(uint16_t type) {
  ether_type_ = type;
  return *this;
}
PacketBuilder& PacketBuilder::Ipv4(const std::string& src, const std::string& dst, uint8_t ttl) {
  l3_ = L3::kV4;
  src_ip_ = src;
  dst_ip_ = dst;
  ttl_ = ttl;
  return *this;
}
PacketBuilder& PacketBuilder::Ipv4Options(const Bytes& options) {
  v4_options_ = options;
  while (v4_options_.size() % 4) v4_options_.push_back(0);
  return *this;
}
PacketBuilder& PacketBuilder::Ipv4Fragment(uint16_t off, bool more) {
  v4_frag_ = off;
  v4_more_ = more;
  return *this;
}
PacketBuilder& PacketBuilder::Ipv6(const std::string& src, const std::string& dst, uint8_t hl) {
  l3_ = L3::kV6;
  src_ip_ = src;
  dst_ip_ = dst;
  ttl_ = hl;
  return *this;
}
PacketBuilder& PacketBuilder::Ipv6Ext(uint8_t type, uint8_t len8) {
  v6_ext_.push_back({type, len8, 0, false, 0});
  return *this;
}
PacketBuilder& PacketBuilder::Ipv6Fragment(uint16_t off, bool more, uint32_t id) {
  v6_ext_.push_back({44, 0, off, more, id});
  return *this;
}
PacketBuilder& PacketBuilder::Tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                                  uint32_t ack) {
  l4_ = L4::kTcp;
  sport_ = sport;
  dport_ = dport;
  tcp_flags_ = flags;
  seq_ = seq;
  ack_ = ack;
  return *this;
}
PacketBuilder& PacketBuilder::Udp(uint16_t sport, uint16_t dport) {
  l4_ = L4::kUdp;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
PacketBuilder& PacketBuilder::Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
  l4_ = L4::kIcmp;
  icmp_type_ = type;
  icmp_code_ = code;
  icmp_id_ = id;
  icmp_seq_ = seq;
  return *this;
}
PacketBuilder& PacketBuilder::Proto(uint8_t proto) {
  l4_ = L4::kRaw;
  raw_proto_ = proto;
  return *this;
}
PacketBuilder& PacketBuilder::Payload(size_t len, uint8_t fill) {
  payload_.assign(len, fill);
  return *this;
}
PacketBuilder& PacketBuilder::Payload(const Bytes& bytes) {
  payload_ = bytes;
  return *this;
}

Bytes PacketBuilder::Build() const {
  const bool v6 = l3_ == L3::kV6;
  const int family = v6 ? AF_INET6 : AF_INET;
  const uint8_t proto = L4Proto(v6, static_cast<int>(l4_), raw_proto_);

  // L4 header + payload first; checksums are filled once addresses are known.
  Bytes l4;
  switch (l4_) {
    case L4::kTcp:
      Put16(l4, sport_);
      Put16(l4, dport_);
      Put32(l4, seq_);
      Put32(l4, ack_);
      l4.push_back(5 << 4);
      l4.push_back(tcp_flags_);
      Put16(l4, 65535);
      Put16(l4, 0);
      Put16(l4, 0);
      break;
    case L4::kUdp:
      Put16(l4, sport_);
      Put16(l4, dport_);
      Put16(l4, 8 + payload_.size());
      Put16(l4, 0);
      break;
    case L4::kIcmp:
      l4.push_back(icmp_type_);
      l4.push_back(icmp_code_);
      Put16(l4, 0);
      Put16(l4, icmp_id_);
      Put16(l4, icmp_seq_);
      break;
    case L4::kRaw:
    case L4::kNone:
      break;
  }
  l4.insert(l4.end(), payload_.begin(), payload_.end());

  Bytes frame;
  Bytes dst = MacBytes(dst_mac_), src = MacBytes(src_mac_);
  frame.insert(frame.end(), dst.begin(), dst.end());
  frame.insert(frame.end(), src.begin(), src.end());
  for (const auto& [tpid, vid] : vlans_) {
    Put16(frame, tpid);
    Put16(frame, vid & 0x0fff);
  }
  if (l3_ == L3::kNone) {
    Put16(frame, ether_type_);
    frame.insert(frame.end(), l4.begin(), l4.end());
    return frame;
  }
  Put16(frame, v6 ? 0x86dd : 0x0800);

  Bytes saddr = Addr(family, src_ip_), daddr = Addr(family, dst_ip_);
  const bool later_fragment = v6 ? false : v4_frag_ != 0;
  bool v6_later = false;
  for (const auto& e : v6_ext_)
    if (e.type == 44 && e.frag_offset) v6_later = true;
  // Checksum over the L4 segment as carried (for fragments: a test artefact,
  // meaningful only when the datagram is not split).
  if (l4_ != L4::kNone && l4_ != L4::kRaw && !later_fragment && !v6_later) {
    uint32_t seed = (v6 || l4_ != L4::kIcmp) ? PseudoSum(saddr, daddr, proto, l4.size()) : 0;
    uint16_t csum = ~OnesSum(l4.data(), l4.size(), seed);
    if (l4_ == L4::kUdp && csum == 0) csum = 0xffff;
    Set16(l4, l4_ == L4::kTcp ? 16 : (l4_ == L4::kUdp ? 6 : 2), csum);
  }

  if (!v6) {
    const size_t ihl = 20 + v4_options_.size();
    Bytes ip;
    ip.push_back(0x40 | (ihl / 4));
    ip.push_back(0);
    Put16(ip, ihl + l4.size());
    Put16(ip, 0x1234);
    Put16(ip, (v4_more_ ? 0x2000 : 0) | (v4_frag_ / 8));
    ip.push_back(ttl_);
    ip.push_back(proto);
    Put16(ip, 0);
    ip.insert(ip.end(), saddr.begin(), saddr.end());
    ip.insert(ip.end(), daddr.begin(), daddr.end());
    ip.insert(ip.end(), v4_options_.begin(), v4_options_.end());
    Set16(ip, 10, ~OnesSum(ip.data(), ip.size()));
    frame.insert(frame.end(), ip.begin(), ip.end());
  } else {
    Bytes exts;
    for (size_t i = 0; i < v6_ext_.size(); ++i) {
      const Ext& e = v6_ext_[i];
      uint8_t next = i + 1 < v6_ext_.size() ? v6_ext_[i + 1].type : proto;
      if (e.type == 44) {
        exts.push_back(next);
        exts.push_back(0);
        Put16(exts, (e.frag_offset & 0xfff8) | (e.more ? 1 : 0));
        Put32(exts, e.id);
      } else {
        exts.push_back(next);
        exts.push_back(e.len8);
        // Options area: PadN filling the rest of the header.
        size_t len = 8 * (e.len8 + 1) - 2;
        exts.push_back(1);
        exts.push_back(len - 2);
        for (size_t j = 2; j < len; ++j) exts.push_back(0);
      }
    }
    Bytes ip;
    Put32(ip, 0x60000000);
    Put16(ip, exts.size() + l4.size());
    ip.push_back(v6_ext_.empty() ? proto : v6_ext_[0].type);
    ip.push_back(ttl_);
    ip.insert(ip.end(), saddr.begin(), saddr.end());
    ip.insert(ip.end(), daddr.begin(), daddr.end());
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), exts.begin(), exts.end());
  }
  frame.insert(frame.end(), l4.begin(), l4.end());
  return frame;
}

FrameInfo CheckFrame(const Bytes& f) {
  FrameInfo info;
  auto fail = [&](const std::string& why) {
    info.ok = false;
    info.error = why;
    return info;
  };
  if (f.size() < 14) return fail("short ethernet");
  size_t off = 12;
  uint16_t type = Get16(f, off);
  off += 2;
  while (type == 0x8100 || type == 0x88a8) {
    if (f.size() < off + 4) return fail("short vlan");
    type = Get16(f, off + 2);
    off += 4;
  }
  info.l3_off = off;
  Bytes saddr, daddr;
  uint8_t proto = 0;
  size_t l4_len = 0;
  bool later = false;
  if (type == 0x0800) {
    info.family = 4;
    if (f.size() < off + 20) return fail("short ipv4");
    size_t ihl = (f[off] & 0x0f) * 4;
    if (f.size() < off + ihl) return fail("short ipv4 options");
    info.l3_csum_ok = OnesSum(&f[off], ihl) == 0xffff;
    size_t tot = Get16(f, off + 2);
    if (f.size() < off + tot) return fail("ipv4 total length beyond frame");
    if (tot < ihl) return fail("ipv4 total length shorter than its header");
    proto = f[off + 9];
    saddr.assign(&f[off + 12], &f[off + 16]);
    daddr.assign(&f[off + 16], &f[off + 20]);
    later = (Get16(f, off + 6) & 0x1fff) != 0;
    info.l4_off = off + ihl;
    l4_len = tot - ihl;
  } else if (type == 0x86dd) {
    info.family = 6;
    if (f.size() < off + 40) return fail("short ipv6");
    size_t plen = Get16(f, off + 4);
    if (f.size() < off + 40 + plen) return fail("ipv6 payload length beyond frame");
    proto = f[off + 6];
    saddr.assign(&f[off + 8], &f[off + 24]);
    daddr.assign(&f[off + 24], &f[off + 40]);
    size_t p = off + 40;
    while (proto == 0 || proto == 43 || proto == 60 || proto == 44) {
      if (f.size() < p + 8) return fail("short ipv6 extension header");
      uint8_t next = f[p];
      if (proto == 44) {
        later = (Get16(f, p + 2) & 0xfff8) != 0;
        p += 8;
      } else {
        p += 8 * (f[p + 1] + 1);
      }
      proto = next;
    }
    info.l4_off = p;
    if (p > off + 40 + plen) return fail("ipv6 extension headers beyond payload length");
    l4_len = off + 40 + plen - p;
  } else {
    return fail("not ip");
  }
  info.proto = proto;
  if (!later && (proto == 6 || proto == 17 || proto == 1 || proto == 58)) {
    if (f.size() < info.l4_off + l4_len) return fail("short l4");
    uint32_t seed = (proto == 1) ? 0 : PseudoSum(saddr, daddr, proto, l4_len);
    bool udp_no_csum = proto == 17 && info.family == 4 && Get16(f, info.l4_off + 6) == 0;
    info.l4_csum_ok = udp_no_csum || OnesSum(&f[info.l4_off], l4_len, seed) == 0xffff;
  }
  info.ok = true;
  return info;
}

}  // namespace sfc::test
