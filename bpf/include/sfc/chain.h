/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps and helpers every program of a chain shares: the per-CPU packet
 * context the entry program fills, the chain counters, and the fail policy
 * for a tail call that did not happen. The daemon creates each map once per
 * chain and hands the same fd to every object it loads (bpf_map__reuse_fd).
 */
#ifndef SFC_CHAIN_H
#define SFC_CHAIN_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "abi.h"
#include "monitor.h"

/* Chain configuration fixed at load time. */
const volatile __u32 sfc_fail_policy = SFC_FAIL_DROP;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_pkt);
} sfc_pktctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_chain_stats);
} sfc_chain_stats SEC(".maps");

static __always_inline struct sfc_pkt *sfc_pkt_ctx(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sfc_pktctx, &zero);
}

static __always_inline struct sfc_chain_stats *sfc_chain_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sfc_chain_stats, &zero);
}

/*
 * A tail call returned, so it failed: the slot is empty (mid-update, or the
 * daemon lost the prog array) or the 33-call limit was hit. Count it and apply
 * the chain's policy; never fall through silently, or a packet could skip a
 * firewall further down the chain.
 */
static __always_inline int sfc_tail_call_failed(void)
{
	struct sfc_chain_stats *cs = sfc_chain_counters();

	if (sfc_fail_policy == SFC_FAIL_PASS) {
		if (cs) {
			cs->tail_call_miss++;
			cs->fail_pass++;
		}
		return XDP_PASS;
	}
	if (cs) {
		cs->tail_call_miss++;
		cs->fail_drop++;
	}
	return XDP_DROP;
}

#endif /* SFC_CHAIN_H */
