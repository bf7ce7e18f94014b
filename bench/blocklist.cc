#include "blocklist.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <random>
#include <unordered_set>

namespace sfc::bench {
namespace {

constexpr std::array<uint8_t, 5> kLengths = {16, 20, 24, 28, 32};
constexpr uint32_t kSlash8 = 10u << 24;

uint32_t Mask(uint8_t len) { return len == 0 ? 0 : ~0u << (32 - len); }

// How many prefixes of each length a list of `count` gets: dealt in turn,
// each length capped at 2^20 addresses, except /32 which takes the rest.
std::array<size_t, kLengths.size()> DealLengths(size_t count) {
  std::array<size_t, kLengths.size()> n{};
  auto cap = [](size_t i) -> size_t {
    return kLengths[i] == 32 ? SIZE_MAX : size_t{1} << (kLengths[i] - 12);
  };
  size_t dealt = 0;
  // Whole rounds while every length has room, then the rest goes round the
  // lengths that still have it.
  while (dealt < count) {
    bool any = false;
    for (size_t i = 0; i < kLengths.size() && dealt < count; ++i) {
      if (n[i] >= cap(i)) continue;
      ++n[i];
      ++dealt;
      any = true;
    }
    if (!any) break;  // cannot happen: /32 has no cap
  }
  return n;
}

}  // namespace

Result<Blocklist> Blocklist::Make(size_t count, int net, uint64_t seed) {
  if (net < 0 || net > 255)
    return InvalidArgument("net must be within 0..255, got " + std::to_string(net));
  if (count > kMaxPrefixes)
    return InvalidArgument("at most " + std::to_string(kMaxPrefixes) + " prefixes, got " +
                           std::to_string(count));
  const uint32_t excluded = kSlash8 | static_cast<uint32_t>(net) << 16;
  auto counts = DealLengths(count);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> in_slash8(0, (1u << 24) - 1);
  // Chosen prefixes per length, by masked address. Shorter lengths are placed
  // first, so a new prefix can only overlap a chosen one by lying inside it:
  // checking its ancestors is enough to keep the list disjoint.
  std::array<std::unordered_set<uint32_t>, kLengths.size()> chosen;
  Blocklist out;
  out.prefixes_.reserve(count);
  for (size_t i = 0; i < kLengths.size(); ++i) {
    const uint8_t len = kLengths[i];
    chosen[i].reserve(counts[i]);
    while (chosen[i].size() < counts[i]) {
      uint32_t addr = (kSlash8 | in_slash8(rng)) & Mask(len);
      if ((addr & Mask(16)) == excluded) continue;
      bool inside = false;
      for (size_t j = 0; j < i && !inside; ++j)
        inside = chosen[j].count(addr & Mask(kLengths[j])) > 0;
      if (inside || !chosen[i].insert(addr).second) continue;
      out.prefixes_.push_back({addr, len});
    }
  }
  std::shuffle(out.prefixes_.begin(), out.prefixes_.end(), rng);
  return out;
}

std::vector<uint32_t> Blocklist::HitSources(size_t count, uint64_t seed) const {
  std::vector<uint32_t> out;
  if (prefixes_.empty()) return out;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, prefixes_.size() - 1);
  std::uniform_int_distribution<uint32_t> any;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const BlockPrefix& p = prefixes_[pick(rng)];
    out.push_back(p.addr | (any(rng) & ~Mask(p.len)));
  }
  return out;
}

std::string Ipv4String(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::string PrefixString(const BlockPrefix& p) {
  return Ipv4String(p.addr) + "/" + std::to_string(p.len);
}

}  // namespace sfc::bench
