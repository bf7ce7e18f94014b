// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights.
//
// A lookup table of prime size M maps a flow hash to a backend. Every backend
// has its own permutation of the slots, derived from its key (not its position
// in the config), and backends take turns claiming their next preferred free
// slot. Two properties follow, and the unit tests hold us to them:
//
//  * Balance: each backend gets its exact share of the M slots, rounded
//    (largest-remainder), so |slots_i - M * w_i / sum(w)| < 1.
//  * Minimal disruption: removing one of N equal backends moves its M/N slots
//    and only a few percent of the others' (the turn order shifts a little);
//    see maglev_test.cc for the measured bound.
//
// Pure computation: no syscalls, no BPF.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace sfc::elb {

// Backend id 0 never names a backend: an empty table slot.
inline constexpr uint32_t kNoBackend = 0;

struct MaglevBackend {
  std::string key;      // stable identity, e.g. "10.0.1.2:8080"; orders the permutation
  uint32_t id = 0;      // what the table stores; nonzero and unique
  uint32_t weight = 0;  // 0: gets no slot (draining or down)
};

// Largest table size we build; tables are BPF arrays of 4-byte ids.
inline constexpr uint32_t kMaglevMaxTableSize = 16777213;  // largest prime < 2^24
inline constexpr uint32_t kMaglevDefaultTableSize = 65537;

bool IsPrime(uint64_t n);

// Builds the table. Backends with weight 0 get no slot; when no backend has a
// weight, every slot is kNoBackend. The order of `backends` does not matter.
// Errors: size not prime or out of range, duplicate keys or ids, id 0.
Result<std::vector<uint32_t>> BuildMaglevTable(std::span<const MaglevBackend> backends,
                                               uint32_t size);

// 64-bit hash of a string, stable across runs and builds (FNV-1a, then the
// splitmix64 finalizer for avalanche). Used for permutations and backend ids.
uint64_t StableHash64(std::string_view s, uint64_t seed = 0);

}  // namespace sfc::elb
