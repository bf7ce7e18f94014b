/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-VNF latency histograms: log2 buckets of nanoseconds, one PERCPU_ARRAY
 * per chain pinned at <chain>/latency, keyed by the VNF's slot. A VNF records
 * into it from sfc_vnf_finish() only when its chain has "timing" on.
 *
 * Bucket b counts samples in [2^b, 2^(b+1)) ns; bucket 0 also holds 0 and 1,
 * the last bucket everything from 2^31 ns (~2.1 s) up. This header is shared
 * by the data plane and user space, so both use the same bucket function.
 */
#ifndef SFC_LATENCY_H
#define SFC_LATENCY_H

#include <linux/types.h>

#define SFC_LAT_BUCKETS 32

struct sfc_latency_hist {
	__u64 buckets[SFC_LAT_BUCKETS];
};

/* floor(log2(ns)) clamped to [0, SFC_LAT_BUCKETS - 1], without loops so the
 * verifier sees straight-line code; five compare-and-shift steps on 32 bits. */
static inline __attribute__((always_inline)) __u32 sfc_lat_bucket(__u64 ns)
{
	__u32 v, b = 0;

	if (ns >= (1ULL << (SFC_LAT_BUCKETS - 1)))
		return SFC_LAT_BUCKETS - 1;
	v = (__u32)ns;
	if (v >> 16) {
		v >>= 16;
		b += 16;
	}
	if (v >> 8) {
		v >>= 8;
		b += 8;
	}
	if (v >> 4) {
		v >>= 4;
		b += 4;
	}
	if (v >> 2) {
		v >>= 2;
		b += 2;
	}
	if (v >> 1)
		b += 1;
	return b;
}

#endif /* SFC_LATENCY_H */
