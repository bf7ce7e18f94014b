// Log2 latency buckets: the edges the data plane uses (the same function
// compiled for user space), merging per-CPU copies, and the percentiles
// sfcctl stats --latency and /metrics report.
#include "common/latency_histogram.h"

#include <gtest/gtest.h>

#include <vector>

namespace sfc {
namespace {

TEST(LatencyHistogram, BucketEdgesAreExactPowersOfTwo) {
  EXPECT_EQ(LatencyHistogram::BucketOf(0), 0);
  EXPECT_EQ(LatencyHistogram::BucketOf(1), 0);
  EXPECT_EQ(LatencyHistogram::BucketOf(2), 1);
  EXPECT_EQ(LatencyHistogram::BucketOf(3), 1);
  for (int b = 1; b < LatencyHistogram::kBuckets; ++b) {
    const uint64_t edge = uint64_t{1} << b;
    EXPECT_EQ(LatencyHistogram::BucketOf(edge - 1), b - 1) << b;
    EXPECT_EQ(LatencyHistogram::BucketOf(edge), b) << b;
    EXPECT_EQ(LatencyHistogram::LowerNs(b), edge) << b;
    EXPECT_EQ(LatencyHistogram::UpperNs(b - 1), edge) << b;
  }
  // Everything from 2^31 ns up lands in the open last bucket.
  EXPECT_EQ(LatencyHistogram::BucketOf(uint64_t{1} << 40), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::UpperNs(LatencyHistogram::kBuckets - 1), UINT64_MAX);
}

TEST(LatencyHistogram, EmptyHasNoPercentiles) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.QuantileNs(0.5), 0u);
  EXPECT_EQ(h.QuantileNs(0.99), 0u);
}

TEST(LatencyHistogram, QuantilesAreUpperBucketEdges) {
  LatencyHistogram h;
  for (int i = 0; i < 50; ++i) h.Record(100);  // [64, 128)
  for (int i = 0; i < 40; ++i) h.Record(300);  // [256, 512)
  for (int i = 0; i < 9; ++i) h.Record(5000);  // [4096, 8192)
  h.Record(70000);                             // [65536, 131072)
  ASSERT_EQ(h.count(), 100u);
  EXPECT_EQ(h.QuantileNs(0.5), 128u);   // rank 50: last of the 100 ns samples
  EXPECT_EQ(h.QuantileNs(0.51), 512u);  // rank 51
  EXPECT_EQ(h.QuantileNs(0.9), 512u);   // rank 90
  EXPECT_EQ(h.QuantileNs(0.99), 8192u);
  EXPECT_EQ(h.QuantileNs(1.0), 131072u);
}

TEST(LatencyHistogram, OpenLastBucketReportsItsLowerEdge) {
  LatencyHistogram h;
  h.Record(uint64_t{5} << 31);
  EXPECT_EQ(h.QuantileNs(0.5), uint64_t{1} << 31);
}

TEST(LatencyHistogram, MergesPerCpuCopies) {
  // What a PERCPU_ARRAY lookup returns: one value per CPU, 8-byte aligned.
  constexpr int kCpus = 3;
  std::vector<sfc_latency_hist> percpu(kCpus);
  for (auto& v : percpu) v = {};
  percpu[0].buckets[3] = 2;
  percpu[1].buckets[3] = 5;
  percpu[2].buckets[10] = 1;
  percpu[2].buckets[0] = 4;
  auto h = LatencyHistogram::FromPerCpu(percpu.data(), sizeof(sfc_latency_hist), kCpus);
  EXPECT_EQ(h.buckets()[3], 7u);
  EXPECT_EQ(h.buckets()[10], 1u);
  EXPECT_EQ(h.buckets()[0], 4u);
  EXPECT_EQ(h.count(), 12u);

  LatencyHistogram other;
  other.Add(3, 1);
  h.Merge(other);
  EXPECT_EQ(h.buckets()[3], 8u);
  EXPECT_EQ(h.count(), 13u);
}

}  // namespace
}  // namespace sfc
