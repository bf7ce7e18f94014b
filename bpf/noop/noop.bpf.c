// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * noop: a VNF that counts and accepts every packet. It measures what the chain
 * engine itself costs per stage, and serves as a placeholder in test chains.
 */
#include <sfc/vnf.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_vnf_stats);
} stats SEC(".maps");

SEC("xdp")
int sfc_noop(struct xdp_md *ctx)
{
	struct sfc_vnf_stats *st = sfc_vnf_stats_lookup(&stats);
	struct sfc_pkt *pkt = sfc_pkt_ctx();

	if (!st || !pkt)
		return sfc_vnf_broken();
	sfc_vnf_account_rx(st, pkt);
	return sfc_vnf_finish(ctx, pkt, st, SFC_NEXT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
