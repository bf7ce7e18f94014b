/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared between bench_xdp.bpf.c and the sfc-bench tool. */
#ifndef SFC_BENCH_XDP_H
#define SFC_BENCH_XDP_H

#include <linux/types.h>

/* Ethernet + IPv4 (no options) + UDP: the header bench_gen rewrites every run. */
#define BENCH_GEN_HEADER_LEN 42

/* Header templates the generator cycles through (e.g. the client's own
 * flows interleaved with blocklisted sources). */
#define BENCH_GEN_MAX_FRAMES 8192

struct bench_gen_frame {
	__u8 header[BENCH_GEN_HEADER_LEN];
	__u8 pad[6];
};

/* Value of the per-CPU `counters` map: frames generated or sunk. */
struct bench_counters {
	__u64 packets;
	__u64 bytes;
};

#endif
