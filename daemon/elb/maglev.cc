#include "elb/maglev.h"

#include <algorithm>
#include <numeric>
#include <set>

namespace sfc::elb {
namespace {

// Seeds of the two independent hashes that place a backend's permutation.
constexpr uint64_t kOffsetSeed = 0x6d61676c65763031ULL;  // "maglev01"
constexpr uint64_t kSkipSeed = 0x6d61676c65763032ULL;    // "maglev02"

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  if (n % 3 == 0) return n == 3;
  for (uint64_t d = 5; d * d <= n; d += 6)
    if (n % d == 0 || n % (d + 2) == 0) return false;
  return true;
}

uint64_t StableHash64(std::string_view s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ Mix64(seed);
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

Result<std::vector<uint32_t>> BuildMaglevTable(std::span<const MaglevBackend> backends,
                                               uint32_t size) {
  if (size > kMaglevMaxTableSize || !IsPrime(size))
    return InvalidArgument("table size " + std::to_string(size) + " is not a prime in [2, " +
                           std::to_string(kMaglevMaxTableSize) + "]");

  std::set<std::string_view> keys;
  std::set<uint32_t> ids;
  std::vector<const MaglevBackend*> active;
  for (const auto& b : backends) {
    if (b.id == kNoBackend) return InvalidArgument("backend " + b.key + ": id 0 is reserved");
    if (!keys.insert(b.key).second) return InvalidArgument("duplicate backend key " + b.key);
    if (!ids.insert(b.id).second)
      return InvalidArgument("backend " + b.key + ": duplicate id " + std::to_string(b.id));
    if (b.weight > 0) active.push_back(&b);
  }
  std::vector<uint32_t> table(size, kNoBackend);
  if (active.empty()) return table;
  if (active.size() > size)
    return InvalidArgument(std::to_string(active.size()) + " backends do not fit a table of " +
                           std::to_string(size) + " slots");
  // The permutation, turn order and tie-breaks depend on keys only, so the
  // table does not change when the config lists the same backends in another order.
  std::sort(active.begin(), active.end(),
            [](const MaglevBackend* a, const MaglevBackend* b) { return a->key < b->key; });

  const size_t n = active.size();
  uint64_t total_weight = 0;
  uint32_t max_weight = 0;
  for (const auto* b : active) {
    total_weight += b->weight;
    max_weight = std::max(max_weight, b->weight);
  }

  // Exact shares by the largest-remainder method: quota_i is floor or ceil of
  // size * w_i / W, and the quotas add up to size.
  std::vector<uint64_t> quota(n);
  std::vector<uint64_t> remainder(n);
  uint64_t assigned = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t scaled = uint64_t{size} * active[i]->weight;  // < 2^56
    quota[i] = scaled / total_weight;
    remainder[i] = scaled % total_weight;
    assigned += quota[i];
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t k = 0; assigned < size; k++, assigned++) quota[order[k]]++;

  struct Cursor {
    uint64_t offset, skip, next = 0, credit = 0;
  };
  std::vector<Cursor> cur(n);
  for (size_t i = 0; i < n; i++) {
    cur[i].offset = StableHash64(active[i]->key, kOffsetSeed) % size;
    cur[i].skip = size == 1 ? 1 : StableHash64(active[i]->key, kSkipSeed) % (size - 1) + 1;
  }

  // Weighted turns: every round each backend earns its weight in credit and
  // claims one slot per max_weight of credit, so heavier backends claim
  // proportionally more often and all quotas run out at about the same time.
  // A claim is the backend's next preferred slot that is still free; with a
  // prime size each permutation visits every slot, so one is always found.
  uint64_t filled = 0;
  while (filled < size) {
    for (size_t i = 0; i < n; i++) {
      Cursor& c = cur[i];
      if (quota[i] == 0) continue;
      c.credit += active[i]->weight;
      while (c.credit >= max_weight && quota[i] > 0) {
        c.credit -= max_weight;
        uint64_t slot;
        do {
          slot = (c.offset + c.next * c.skip) % size;
          c.next++;
        } while (table[slot] != kNoBackend);
        table[slot] = active[i]->id;
        quota[i]--;
        filled++;
      }
    }
  }
  return table;
}

}  // namespace sfc::elb
