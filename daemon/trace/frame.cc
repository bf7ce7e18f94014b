#include "trace/frame.h"

#include <arpa/inet.h>

#include <cstdio>

namespace sfc::trace {
namespace {

constexpr uint16_t kEthIp = 0x0800, kEthIpv6 = 0x86dd, kEth8021Q = 0x8100, kEth8021AD = 0x88a8;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmp6 = 58;

void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void Put32(Bytes& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v >> 16));
  Put16(b, static_cast<uint16_t>(v));
}
void Set16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// One's complement sum of 16-bit big-endian words, folded at the end.
uint32_t Sum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += Get16(p + i);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1]) << 8;
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint8_t ProtoNumber(const PacketSpec& s) {
  switch (s.l4) {
    case L4::kTcp:
      return kProtoTcp;
    case L4::kUdp:
      return kProtoUdp;
    case L4::kIcmp:
      return s.ipv6 ? kProtoIcmp6 : kProtoIcmp;
  }
  return 0;
}

Bytes L4Header(const PacketSpec& s) {
  Bytes h;
  switch (s.l4) {
    case L4::kTcp:
      Put16(h, s.sport);
      Put16(h, s.dport);
      Put32(h, 1);                             // seq
      Put32(h, (s.tcp_flags & 0x10) ? 1 : 0);  // ack
      h.push_back(5 << 4);                     // data offset: 20 bytes
      h.push_back(s.tcp_flags);
      Put16(h, 65535);  // window
      Put32(h, 0);      // checksum, urgent
      break;
    case L4::kUdp:
      Put16(h, s.sport);
      Put16(h, s.dport);
      Put16(h, static_cast<uint16_t>(8 + s.payload_len));
      Put16(h, 0);
      break;
    case L4::kIcmp:
      h.push_back(s.icmp_type);
      h.push_back(s.icmp_code);
      Put16(h, 0);
      Put16(h, s.icmp_id);
      Put16(h, 1);  // sequence
      break;
  }
  return h;
}

size_t ChecksumOffset(L4 l4) { return l4 == L4::kTcp ? 16 : l4 == L4::kUdp ? 6 : 2; }

}  // namespace

Bytes BuildFrame(const PacketSpec& s) {
  Bytes f(s.dmac.begin(), s.dmac.end());
  f.insert(f.end(), s.smac.begin(), s.smac.end());
  for (size_t i = 0; i < s.vlans.size(); ++i) {
    Put16(f, s.vlans.size() == 2 && i == 0 ? kEth8021AD : kEth8021Q);
    Put16(f, s.vlans[i]);
  }
  Put16(f, s.ipv6 ? kEthIpv6 : kEthIp);

  Bytes l4 = L4Header(s);
  l4.resize(l4.size() + s.payload_len, 0);
  const uint8_t proto = ProtoNumber(s);
  const size_t addr_len = s.ipv6 ? 16 : 4;
  // Pseudo-header: addresses, protocol, L4 length (ICMPv4 has none).
  uint32_t pseudo = Sum(s.src.data(), addr_len, Sum(s.dst.data(), addr_len));
  pseudo += proto + static_cast<uint32_t>(l4.size());
  if (proto == kProtoIcmp) pseudo = 0;
  Set16(l4, ChecksumOffset(s.l4), Fold(Sum(l4.data(), l4.size(), pseudo)));
  if (proto == kProtoUdp && Get16(l4.data() + 6) == 0) Set16(l4, 6, 0xffff);

  const size_t l3 = f.size();
  if (s.ipv6) {
    Put32(f, 6U << 28);
    Put16(f, static_cast<uint16_t>(l4.size()));
    f.push_back(proto);
    f.push_back(s.ttl);
    f.insert(f.end(), s.src.begin(), s.src.begin() + 16);
    f.insert(f.end(), s.dst.begin(), s.dst.begin() + 16);
  } else {
    f.push_back(0x45);
    f.push_back(0);
    Put16(f, static_cast<uint16_t>(20 + l4.size()));
    Put16(f, 0x1234);  // id
    Put16(f, 0);       // not a fragment
    f.push_back(s.ttl);
    f.push_back(proto);
    Put16(f, 0);
    f.insert(f.end(), s.src.begin(), s.src.begin() + 4);
    f.insert(f.end(), s.dst.begin(), s.dst.begin() + 4);
    Set16(f, l3 + 10, Fold(Sum(f.data() + l3, 20)));
  }
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

std::string DescribeFrame(const uint8_t* p, size_t len) {
  char buf[128];
  std::string out;
  auto mac = [&](const uint8_t* m) {
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return std::string(buf);
  };
  if (len < 14) return "truncated Ethernet header (" + std::to_string(len) + " bytes)";
  out = mac(p + 6) + " > " + mac(p);
  size_t off = 12;
  uint16_t type = Get16(p + off);
  while ((type == kEth8021Q || type == kEth8021AD) && off + 6 <= len) {
    out += " vlan " + std::to_string(Get16(p + off + 2) & 0x0fff);
    off += 4;
    type = Get16(p + off);
  }
  off += 2;
  auto tail = [&] { return out + " len " + std::to_string(len); };
  uint8_t proto = 0, ttl = 0;
  char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
  bool v6 = false;
  if (type == kEthIp) {
    if (off + 20 > len || (p[off] >> 4) != 4) {
      out += " IPv4 truncated";
      return tail();
    }
    size_t ihl = (p[off] & 0x0f) * 4u;
    if (ihl < 20 || off + ihl > len) {
      out += " IPv4 bad header length";
      return tail();
    }
    proto = p[off + 9];
    ttl = p[off + 8];
    inet_ntop(AF_INET, p + off + 12, src, sizeof(src));
    inet_ntop(AF_INET, p + off + 16, dst, sizeof(dst));
    if (Get16(p + off + 6) & 0x3fff) {
      out += std::string(" IPv4 ") + src + " > " + dst + " fragment proto " +
             std::to_string(proto) + " ttl " + std::to_string(ttl);
      return tail();
    }
    off += ihl;
  } else if (type == kEthIpv6) {
    if (off + 40 > len) {
      out += " IPv6 truncated";
      return tail();
    }
    v6 = true;
    proto = p[off + 6];
    ttl = p[off + 7];
    inet_ntop(AF_INET6, p + off + 8, src, sizeof(src));
    inet_ntop(AF_INET6, p + off + 24, dst, sizeof(dst));
    off += 40;
  } else {
    std::snprintf(buf, sizeof(buf), " ethertype 0x%04x", type);
    out += buf;
    return tail();
  }
  auto ep = [&](const char* a, uint16_t port) {
    return v6 ? "[" + std::string(a) + "]:" + std::to_string(port)
              : std::string(a) + ":" + std::to_string(port);
  };
  out += v6 ? " IPv6 " : " IPv4 ";
  if ((proto == kProtoTcp && off + 20 <= len) || (proto == kProtoUdp && off + 8 <= len)) {
    out += ep(src, Get16(p + off)) + " > " + ep(dst, Get16(p + off + 2));
    if (proto == kProtoTcp) {
      std::string flags = TcpFlagLetters(p[off + 13]);
      out += " tcp flags " + (flags.empty() ? std::string("none") : flags);
    } else {
      out += " udp";
    }
  } else if ((proto == kProtoIcmp || proto == kProtoIcmp6) && off + 8 <= len) {
    out += std::string(src) + " > " + dst + (proto == kProtoIcmp ? " icmp" : " icmp6") + " type " +
           std::to_string(p[off]) + " code " + std::to_string(p[off + 1]) + " id " +
           std::to_string(Get16(p + off + 4));
  } else {
    out += std::string(src) + " > " + dst + " proto " + std::to_string(proto);
  }
  out += (v6 ? " hlim " : " ttl ") + std::to_string(ttl);
  return tail();
}

}  // namespace sfc::trace
