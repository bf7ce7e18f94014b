#include "elb/maglev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace sfc::elb {
namespace {

std::vector<MaglevBackend> Backends(int n, uint32_t weight = 1, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::vector<MaglevBackend> out;
  for (int i = 0; i < n; i++)
    out.push_back({"10." + std::to_string(rng() % 256) + "." + std::to_string(i / 256) + "." +
                       std::to_string(i % 256) + ":8080",
                   static_cast<uint32_t>(i + 1), weight});
  return out;
}

std::map<uint32_t, uint64_t> Counts(const std::vector<uint32_t>& table) {
  std::map<uint32_t, uint64_t> c;
  for (uint32_t id : table) c[id]++;
  return c;
}

// Slots whose owner changed, not counting those of `except` (whose slots must move).
double Disruption(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, uint32_t except) {
  uint64_t moved = 0;
  for (size_t i = 0; i < a.size(); i++)
    if (a[i] != b[i] && a[i] != except && b[i] != except) moved++;
  return static_cast<double>(moved) / a.size();
}

TEST(Maglev, IsPrime) {
  for (uint64_t p : {2, 3, 5, 7, 251, 65537, 655373, 16777213}) EXPECT_TRUE(IsPrime(p)) << p;
  for (uint64_t n : {0, 1, 4, 9, 65535, 65536, 16777215, 25, 49}) EXPECT_FALSE(IsPrime(n)) << n;
}

TEST(Maglev, RejectsBadInput) {
  auto b = Backends(3);
  EXPECT_FALSE(BuildMaglevTable(b, 65536).ok());
  EXPECT_FALSE(BuildMaglevTable(b, 0).ok());
  EXPECT_FALSE(BuildMaglevTable(b, 16777259).ok());  // prime, but over the limit
  auto dup_key = b;
  dup_key[1].key = dup_key[0].key;
  EXPECT_FALSE(BuildMaglevTable(dup_key, 251).ok());
  auto dup_id = b;
  dup_id[1].id = dup_id[0].id;
  EXPECT_FALSE(BuildMaglevTable(dup_id, 251).ok());
  auto zero_id = b;
  zero_id[2].id = kNoBackend;
  EXPECT_FALSE(BuildMaglevTable(zero_id, 251).ok());
  EXPECT_FALSE(BuildMaglevTable(Backends(10), 7).ok());  // more backends than slots
}

TEST(Maglev, EmptyAndAllDrainedGiveEmptyTable) {
  auto t = BuildMaglevTable({}, 251);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 251u);
  EXPECT_TRUE(std::all_of(t->begin(), t->end(), [](uint32_t id) { return id == kNoBackend; }));
  auto drained = Backends(4, 0);
  t = BuildMaglevTable(drained, 251);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(std::all_of(t->begin(), t->end(), [](uint32_t id) { return id == kNoBackend; }));
}

TEST(Maglev, SingleBackendTakesEverySlot) {
  auto t = BuildMaglevTable(Backends(1), 65537);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Counts(*t)[1], 65537u);
}

// Equal weights: every backend within one slot of M/N, so within 1% of its
// share whenever it has at least 100 slots.
TEST(Maglev, BalanceEqualWeights) {
  for (int n : {2, 3, 7, 10, 64, 100, 655}) {
    auto t = BuildMaglevTable(Backends(n), 65537);
    ASSERT_TRUE(t.ok());
    auto c = Counts(*t);
    ASSERT_EQ(c.count(kNoBackend), 0u);
    ASSERT_EQ(c.size(), static_cast<size_t>(n));
    double ideal = 65537.0 / n;
    for (auto [id, count] : c) {
      EXPECT_LT(std::abs(count - ideal), 1.0) << "n=" << n << " id=" << id;
      EXPECT_LE(std::abs(count - ideal) / ideal, 0.01) << "n=" << n;
    }
  }
}

TEST(Maglev, BalanceFollowsWeights) {
  std::mt19937 rng(42);
  for (int round = 0; round < 20; round++) {
    int n = 2 + rng() % 30;
    auto b = Backends(n, 1, round);
    uint64_t total = 0;
    for (auto& x : b) total += (x.weight = 1 + rng() % 100);
    auto t = BuildMaglevTable(b, 65537);
    ASSERT_TRUE(t.ok());
    auto c = Counts(*t);
    for (const auto& x : b) {
      double ideal = 65537.0 * x.weight / total;
      EXPECT_LT(std::abs(c[x.id] - ideal), 1.0) << "weight " << x.weight << " of " << total;
      if (ideal >= 100) {
        EXPECT_LE(std::abs(c[x.id] - ideal) / ideal, 0.01);
      }
    }
  }
}

TEST(Maglev, ExtremeWeights) {
  auto b = Backends(3);
  b[0].weight = 65535;
  b[1].weight = 1;
  b[2].weight = 0;
  auto t = BuildMaglevTable(b, 65537);
  ASSERT_TRUE(t.ok());
  auto c = Counts(*t);
  EXPECT_EQ(c[b[2].id], 0u);  // weight 0: drained, no slot
  EXPECT_EQ(c[b[1].id], 1u);  // 65537 / 65536 rounds to one slot
  EXPECT_EQ(c[b[0].id], 65536u);
}

TEST(Maglev, IndependentOfInputOrder) {
  auto b = Backends(25);
  for (size_t i = 0; i < b.size(); i++) b[i].weight = 1 + i % 4;
  auto t1 = BuildMaglevTable(b, 65537);
  std::mt19937 rng(3);
  std::shuffle(b.begin(), b.end(), rng);
  auto t2 = BuildMaglevTable(b, 65537);
  ASSERT_TRUE(t1.ok() && t2.ok());
  EXPECT_EQ(*t1, *t2);
}

// The disruption bound we promise (docs/loadbalancer.md): removing one of N
// backends moves its own M/N slots plus at most 1.5% of the table (measured:
// under 1% for N up to 1000 at M = 65537). Adding one is symmetric.
constexpr double kExtraDisruption = 0.015;

TEST(Maglev, RemovingOneBackendMovesLittleElse) {
  for (int n : {3, 5, 10, 50, 100, 500}) {
    auto b = Backends(n);
    auto before = BuildMaglevTable(b, 65537);
    ASSERT_TRUE(before.ok());
    for (int r = 0; r < std::min(n, 5); r++) {
      auto fewer = b;
      uint32_t removed = fewer[r].id;
      fewer.erase(fewer.begin() + r);
      auto after = BuildMaglevTable(fewer, 65537);
      ASSERT_TRUE(after.ok());
      double extra = Disruption(*before, *after, removed);
      EXPECT_LE(extra, kExtraDisruption) << "n=" << n << " removed " << r;
      // Total moved: its share plus the extra.
      uint64_t moved = 0;
      for (size_t i = 0; i < before->size(); i++) moved += (*before)[i] != (*after)[i];
      EXPECT_LE(static_cast<double>(moved) / 65537, 1.0 / n + kExtraDisruption);
    }
  }
}

TEST(Maglev, AddingOneBackendMovesLittleElse) {
  for (int n : {3, 10, 100}) {
    auto b = Backends(n);
    auto before = BuildMaglevTable(b, 65537);
    auto more = b;
    more.push_back({"192.0.2.99:8080", 999999, 1});
    auto after = BuildMaglevTable(more, 65537);
    ASSERT_TRUE(before.ok() && after.ok());
    EXPECT_LE(Disruption(*before, *after, 999999), kExtraDisruption) << "n=" << n;
    auto c = Counts(*after);
    EXPECT_LT(std::abs(c[999999] - 65537.0 / (n + 1)), 1.0);
  }
}

// Draining (weight 0) frees exactly the slots removal would: the same table.
TEST(Maglev, DrainEqualsRemovalForNewConnections) {
  auto b = Backends(10);
  auto drained = b;
  drained[4].weight = 0;
  auto removed = b;
  removed.erase(removed.begin() + 4);
  auto t1 = BuildMaglevTable(drained, 65537);
  auto t2 = BuildMaglevTable(removed, 65537);
  ASSERT_TRUE(t1.ok() && t2.ok());
  EXPECT_EQ(*t1, *t2);
}

TEST(Maglev, ReweightingMovesOnlyWhatItMust) {
  auto b = Backends(10);
  auto before = BuildMaglevTable(b, 65537);
  b[3].weight = 2;  // its share goes from 1/10 to 2/11
  auto after = BuildMaglevTable(b, 65537);
  ASSERT_TRUE(before.ok() && after.ok());
  uint64_t moved = 0;
  for (size_t i = 0; i < before->size(); i++) moved += (*before)[i] != (*after)[i];
  double necessary = 2.0 / 11 - 1.0 / 10;
  EXPECT_LE(static_cast<double>(moved) / 65537, necessary + kExtraDisruption);
}

TEST(Maglev, StableHashIsStable) {
  // Pinned values: tables (and backend ids) must not change between builds.
  EXPECT_EQ(StableHash64(""), StableHash64(""));
  EXPECT_NE(StableHash64("a"), StableHash64("b"));
  EXPECT_NE(StableHash64("a", 1), StableHash64("a", 2));
  EXPECT_EQ(StableHash64("10.0.1.2:8080"), 0xf7f3e0102bab7a4eULL)
      << std::hex << StableHash64("10.0.1.2:8080");
}

}  // namespace
}  // namespace sfc::elb
