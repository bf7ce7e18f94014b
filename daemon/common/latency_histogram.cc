#include "common/latency_histogram.h"

#include <cmath>
#include <cstring>

namespace sfc {

LatencyHistogram LatencyHistogram::FromPerCpu(const void* data, size_t stride, int ncpus) {
  LatencyHistogram h;
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    sfc_latency_hist one;
    std::memcpy(&one, bytes + cpu * stride, sizeof(one));
    for (int b = 0; b < kBuckets; ++b) h.buckets_[b] += one.buckets[b];
  }
  return h;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int b = 0; b < kBuckets; ++b) buckets_[b] += other.buckets_[b];
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (uint64_t c : buckets_) n += c;
  return n;
}

uint64_t LatencyHistogram::QuantileNs(double q) const {
  const uint64_t total = count();
  if (total == 0) return 0;
  if (q <= 0) q = 0;
  if (q > 1) q = 1;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (seen >= rank) return b == kBuckets - 1 ? LowerNs(b) : UpperNs(b);
  }
  return LowerNs(kBuckets - 1);  // unreachable: seen == total >= rank
}

}  // namespace sfc
