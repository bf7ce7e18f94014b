// The per-VNF latency histograms of a timed chain (bpf/include/sfc/latency.h)
// as user space sees them: log2 buckets of nanoseconds, summed over CPUs, and
// the percentiles sfcctl and /metrics show. Pure logic, no syscalls.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <sfc/latency.h>

namespace sfc {

class LatencyHistogram {
 public:
  static constexpr int kBuckets = SFC_LAT_BUCKETS;

  // Bucket b holds samples in [LowerNs(b), UpperNs(b)); the last one is open.
  static uint64_t LowerNs(int bucket) { return bucket == 0 ? 0 : uint64_t{1} << bucket; }
  static uint64_t UpperNs(int bucket) {
    return bucket >= kBuckets - 1 ? UINT64_MAX : uint64_t{1} << (bucket + 1);
  }
  // The bucket the data plane puts a sample of `ns` in.
  static int BucketOf(uint64_t ns) { return static_cast<int>(sfc_lat_bucket(ns)); }

  // Sums the per-CPU values of one map entry: `ncpus` copies of struct
  // sfc_latency_hist, `stride` bytes apart (what a PERCPU_ARRAY lookup returns).
  static LatencyHistogram FromPerCpu(const void* data, size_t stride, int ncpus);

  void Add(int bucket, uint64_t n) { buckets_[bucket] += n; }
  void Record(uint64_t ns) { Add(BucketOf(ns), 1); }
  void Merge(const LatencyHistogram& other);

  uint64_t count() const;
  const std::array<uint64_t, kBuckets>& buckets() const { return buckets_; }

  // The q-quantile (0 < q <= 1) as the upper edge of the bucket holding the
  // sample of rank ceil(q * count): "p99 = 1024" means 99 % took less than
  // 1024 ns. The open last bucket answers its lower edge (2^31 ns, "at
  // least"). 0 for an empty histogram.
  uint64_t QuantileNs(double q) const;

 private:
  std::array<uint64_t, kBuckets> buckets_{};
};

}  // namespace sfc
