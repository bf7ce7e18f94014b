// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Chain entry: the program attached to each interface of a chain. It parses
 * the packet once into the chain's packet context and jumps to whatever the
 * chain's root slot holds (the first VNF of the live generation, or the egress
 * stage of an empty chain). The daemon switches a chain to a new generation by
 * writing that single slot, so packets see the old chain or the new, never a mix.
 */
#include <sfc/chain.h>
#include <sfc/parser.h>

/* Timing of the VNFs starts at the end of the entry program. */
const volatile __u8 sfc_timing = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sfc_root SEC(".maps");

SEC("xdp")
int sfc_entry(struct xdp_md *ctx)
{
	struct sfc_chain_stats *cs = sfc_chain_counters();
	struct sfc_pkt *pkt = sfc_pkt_ctx();
	int ret;

	if (!pkt || !cs)
		return sfc_tail_call_failed();

	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->ts_ns = bpf_ktime_get_ns();
	pkt->pkt_len = ctx->data_end - ctx->data;
	pkt->ifindex = ctx->ingress_ifindex;

	cs->rx_packets++;
	cs->rx_bytes += pkt->pkt_len;

	ret = sfc_parse(ctx, pkt);
	if (ret == SFC_PARSE_NOT_IP) {
		/* ARP, LLDP and friends keep the host reachable. */
		cs->non_ip++;
		return XDP_PASS;
	}
	if (ret != SFC_PARSE_OK) {
		cs->malformed++;
		return XDP_DROP;
	}

	if (sfc_timing)
		pkt->stage_ns = bpf_ktime_get_ns();
	bpf_tail_call(ctx, &sfc_root, 0);
	return sfc_tail_call_failed();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
