// A plain reference model of eFW rule matching: a linear scan over the rule
// list, written from the rule semantics (docs/firewall.md), sharing nothing
// with the compiler. The unit and bpf differential tests hold the compiled
// classifier (in C++ and in the kernel) against it.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "efw/config.h"

namespace sfc::efw::model {

// What a rule can look at, as the data plane sees a packet.
struct Packet {
  int family = 4;
  uint8_t saddr[16] = {}, daddr[16] = {};
  uint8_t proto = 6;
  bool frag_later = false;  // non-first fragment: no L4 header
  uint16_t sport = 0, dport = 0;
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint32_t state = 0;  // 0 new, 1 established, 2 related, 3 invalid, 4 untracked
  uint32_t ifindex = 1;
  uint16_t app = 0;  // nDPI ids a dpi VNF put in the packet context; 0: unknown
  uint8_t app_category = 0;
};

inline uint8_t ProtoNumber(Proto p) {
  switch (p) {
    case Proto::kTcp:
      return 6;
    case Proto::kUdp:
      return 17;
    case Proto::kIcmp:
      return 1;
    case Proto::kIcmpv6:
      return 58;
    case Proto::kAny:
      break;
  }
  return 0;
}

inline bool Matches(const Rule& r, const Packet& p,
                    const std::function<uint32_t(const std::string&)>& ifindex_of) {
  if (r.src && (r.src->family != p.family || !r.src->ContainsAddr(p.saddr))) return false;
  if (r.dst && (r.dst->family != p.family || !r.dst->ContainsAddr(p.daddr))) return false;
  if (r.proto != Proto::kAny && ProtoNumber(r.proto) != p.proto) return false;
  // Non-first fragments carry no L4 header: L4 conditions cannot hold.
  if ((r.sport || r.dport || r.tcp_flags || r.icmp_type) && p.frag_later) return false;
  if (r.sport && (p.sport < r.sport->lo || p.sport > r.sport->hi)) return false;
  if (r.dport && (p.dport < r.dport->lo || p.dport > r.dport->hi)) return false;
  if (r.tcp_flags && (p.tcp_flags & r.tcp_flags->mask) != r.tcp_flags->value) return false;
  if (r.icmp_type && p.icmp_type != *r.icmp_type) return false;
  if (r.states && (p.state > 3 || !(r.states & (1u << p.state)))) return false;
  if (!r.iif.empty()) {
    uint32_t idx = ifindex_of(r.iif);
    if (idx == 0 || idx != p.ifindex) return false;
  }
  if (r.app && *r.app != p.app) return false;
  if (r.app_category && *r.app_category != p.app_category) return false;
  return true;
}

// Index of the first matching rule, -1 for none (the default applies).
inline int FirstMatch(const std::vector<Rule>& rules, const Packet& p,
                      const std::function<uint32_t(const std::string&)>& ifindex_of) {
  for (size_t i = 0; i < rules.size(); ++i)
    if (Matches(rules[i], p, ifindex_of)) return static_cast<int>(i);
  return -1;
}

// Random rule sets and packets drawn from small pools, so prefixes nest,
// ranges overlap and packets hit rules often.
class Generator {
 public:
  // `with_apps`: rules also name applications and categories, packets carry
  // them (off keeps the draws, and so the rule sets, of the older tests).
  explicit Generator(uint32_t seed, bool with_apps = false) : rng_(seed), with_apps_(with_apps) {}

  // Small pools of nDPI application and category ids, 0 (unknown) included.
  static constexpr uint16_t kApps[] = {0, 7, 91, 126, 37};
  static constexpr uint8_t kCategories[] = {0, 5, 7};

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Pick(100) < percent; }

  Prefix RandomPrefix(int family) {
    Prefix p;
    p.family = family;
    // Addresses from 10.0.0.0/16 (or fd00::/16): lots of nesting.
    if (family == 4) {
      p.addr[0] = 10;
      p.addr[1] = 0;
      p.addr[2] = static_cast<uint8_t>(Pick(4));
      p.addr[3] = static_cast<uint8_t>(Pick(8));
    } else {
      p.addr[0] = 0xfd;
      p.addr[14] = static_cast<uint8_t>(Pick(4));
      p.addr[15] = static_cast<uint8_t>(Pick(8));
    }
    static const int kLens4[] = {0, 8, 16, 22, 24, 29, 30, 32};
    static const int kLens6[] = {0, 8, 64, 118, 120, 125, 126, 128};
    p.len = static_cast<uint8_t>(family == 4 ? kLens4[Pick(8)] : kLens6[Pick(8)]);
    for (int i = 0; i < 16; ++i) {
      int keep = std::clamp(static_cast<int>(p.len) - i * 8, 0, 8);
      p.addr[i] &= static_cast<uint8_t>(0xff00 >> keep);
    }
    return p;
  }

  PortRange RandomRange() {
    static const PortRange kRanges[] = {{80, 80},     {443, 443}, {0, 1023}, {1024, 65535},
                                        {8000, 8100}, {53, 53},   {80, 443}, {65535, 65535}};
    return kRanges[Pick(8)];
  }

  Rule RandomRule(int index) {
    Rule r;
    r.id = "r" + std::to_string(index);
    const int family = Chance(60) ? 4 : 6;
    if (Chance(50)) r.src = RandomPrefix(family);
    if (Chance(40)) r.dst = RandomPrefix(family);
    const bool has_prefix = r.src || r.dst;
    switch (Pick(6)) {
      case 0:
      case 1:
        r.proto = Proto::kTcp;
        break;
      case 2:
        r.proto = Proto::kUdp;
        break;
      case 3:
        r.proto = has_prefix ? (family == 4 ? Proto::kIcmp : Proto::kIcmpv6) : Proto::kIcmp;
        break;
      case 4:
        r.proto = has_prefix && family == 4 ? Proto::kIcmp : Proto::kIcmpv6;
        break;
      default:
        r.proto = Proto::kAny;
        break;
    }
    if (r.proto == Proto::kTcp || r.proto == Proto::kUdp) {
      if (Chance(25)) r.sport = RandomRange();
      if (Chance(50)) r.dport = RandomRange();
    }
    if (r.proto == Proto::kTcp && Chance(25)) {
      static const TcpFlags kFlags[] = {
          {0x12, 0x02}, {0x02, 0x02}, {0x04, 0x04}, {0x11, 0x11}, {0x10, 0x00}};
      r.tcp_flags = kFlags[Pick(5)];
    }
    if ((r.proto == Proto::kIcmp || r.proto == Proto::kIcmpv6) && Chance(50))
      r.icmp_type = static_cast<uint8_t>(std::array<int, 5>{0, 3, 8, 128, 129}[Pick(5)]);
    if (Chance(30)) r.states = static_cast<uint8_t>(1 + Pick(15));
    if (Chance(10)) r.iif = Chance(70) ? "lo" : "efwnosuch0";
    if (with_apps_) {
      if (Chance(30)) r.app = kApps[Pick(5)];
      if (Chance(15)) r.app_category = kCategories[Pick(3)];
    }
    r.action = static_cast<Action>(Pick(3));
    return r;
  }

  std::vector<Rule> RandomRules(int n) {
    std::vector<Rule> rules;
    for (int i = 0; i < n; ++i) rules.push_back(RandomRule(i));
    return rules;
  }

  Packet RandomPacket() {
    Packet p;
    p.family = Chance(60) ? 4 : 6;
    auto addr = [&](uint8_t* a) {
      std::memset(a, 0, 16);
      if (p.family == 4) {
        a[0] = Chance(90) ? 10 : 192;
        a[1] = static_cast<uint8_t>(Chance(90) ? 0 : 1);
        a[2] = static_cast<uint8_t>(Pick(5));
        a[3] = static_cast<uint8_t>(Pick(10));
      } else {
        a[0] = Chance(90) ? 0xfd : 0x20;
        a[14] = static_cast<uint8_t>(Pick(5));
        a[15] = static_cast<uint8_t>(Pick(10));
      }
    };
    addr(p.saddr);
    addr(p.daddr);
    static const uint8_t kProtos[] = {6, 6, 17, 1, 58, 47};
    p.proto = kProtos[Pick(6)];
    static const uint16_t kPorts[] = {80, 443, 22, 53, 1023, 1024, 8050, 65535, 0, 40000};
    p.frag_later = Chance(5);
    if (!p.frag_later && (p.proto == 6 || p.proto == 17)) {
      p.sport = kPorts[Pick(10)];
      p.dport = kPorts[Pick(10)];
    }
    if (!p.frag_later && p.proto == 6) p.tcp_flags = static_cast<uint8_t>(Pick(256));
    if (!p.frag_later && (p.proto == 1 || p.proto == 58))
      p.icmp_type = static_cast<uint8_t>(std::array<int, 6>{0, 3, 8, 128, 129, 11}[Pick(6)]);
    p.state = p.frag_later ? 4 : static_cast<uint32_t>(Pick(4));
    p.ifindex = Chance(50) ? 1 : 7;
    if (with_apps_) {
      p.app = kApps[Pick(5)];
      p.app_category = kCategories[Pick(3)];
    }
    return p;
  }

 private:
  std::mt19937 rng_;
  bool with_apps_ = false;
};

}  // namespace sfc::efw::model
