/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Internet checksum helpers (RFC 1071/1624) for programs that rewrite headers
 * (DNAT, replies). Incremental updates are exact for any value, including the
 * 0x0000/0xffff corner cases of RFC 1624 eqn. 3.
 */
#ifndef SFC_CSUM_H
#define SFC_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 sfc_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)((sum & 0xffff) + (sum >> 16));
}

/* New checksum field after 16-bit word `from` became `to` (all network order). */
static __always_inline __sum16 sfc_csum_replace2(__sum16 check, __be16 from, __be16 to)
{
	__u64 sum = (__u16)~check;

	sum += (__u16)~from;
	sum += to;
	return (__sum16)~sfc_csum_fold(sum);
}

/* New checksum field after 32-bit word `from` became `to`. */
static __always_inline __sum16 sfc_csum_replace4(__sum16 check, __be32 from, __be32 to)
{
	__u64 sum = (__u16)~check;

	sum += (__u16) ~(from & 0xffff);
	sum += (__u16) ~(from >> 16);
	sum += to & 0xffff;
	sum += to >> 16;
	return (__sum16)~sfc_csum_fold(sum);
}

/* New checksum after a 16-byte address changed (IPv6 pseudo-header). */
static __always_inline __sum16 sfc_csum_replace16(__sum16 check, const __u32 *from, const __u32 *to)
{
	__u64 sum = (__u16)~check;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		sum += (__u16) ~(from[i] & 0xffff);
		sum += (__u16) ~(from[i] >> 16);
		sum += to[i] & 0xffff;
		sum += to[i] >> 16;
	}
	return (__sum16)~sfc_csum_fold(sum);
}

/* One's-complement sum of `len` bytes (len a multiple of 4, at most 512)
 * plus `seed`, unfolded. Use it for a full recomputation over a header that
 * the program built itself (e.g. a reply); bpf_csum_diff does the work. */
static __always_inline __u64 sfc_csum_add(const void *data, __u32 len, __u64 seed)
{
	__s64 r = bpf_csum_diff(0, 0, (__be32 *)data, len, (__u32)seed);

	return r < 0 ? 0 : (__u64)r;
}

#endif /* SFC_CSUM_H */
