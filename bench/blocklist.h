// The rule-scaling blocklist, generated one way for every consumer (the
// BPF_PROG_TEST_RUN micro bench, and through `sfc-bench blocklist` the
// line-rate runs and their nftables/iptables/ipset translations), so that
// every variant is aimed at the same rules.
//
// Shape: N source prefixes inside 10.0.0.0/8 (the /8 of the benchmark's own
// traffic) but outside 10.<net>.0.0/16 (its addresses), of lengths /16, /20,
// /24, /28 and /32. The lengths are dealt in turn, each capped to 2^20
// addresses (16 /16s, 256 /20s, 4,096 /24s, 65,536 /28s); /32s take the
// rest, so large lists are mostly host entries, as real blocklists are. The
// prefixes are pairwise disjoint (no rule hides another), randomly placed
// with a fixed seed, and listed in random order (so a linear rule list meets
// hits anywhere in it, not only at its head).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace sfc::bench {

struct BlockPrefix {
  uint32_t addr;  // host byte order, host bits clear
  uint8_t len;
};

class Blocklist {
 public:
  // At most kMaxPrefixes prefixes; `net` is the /16 to leave out (0..255).
  static Result<Blocklist> Make(size_t count, int net, uint64_t seed = 1);
  static constexpr size_t kMaxPrefixes = 4u << 20;

  const std::vector<BlockPrefix>& prefixes() const { return prefixes_; }
  // `count` sources, each a random address inside a random prefix of the
  // list (uniform over prefixes, with replacement): where "half the
  // packets hit a random blocklist rule" takes its sources from.
  std::vector<uint32_t> HitSources(size_t count, uint64_t seed = 2) const;

 private:
  std::vector<BlockPrefix> prefixes_;
};

std::string Ipv4String(uint32_t host_order);
std::string PrefixString(const BlockPrefix& p);  // "10.1.2.0/24"

}  // namespace sfc::bench
