// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Chain entry: the program attached to each interface of a chain. It parses
 * the packet once into the chain's packet context and jumps to whatever the
 * chain's root slot holds (the first VNF of the live generation, or the egress
 * stage of an empty chain). The daemon switches a chain to a new generation by
 * writing that single slot, so packets see the old chain or the new, never a mix.
 *
 * The entry outlives generations (it is attached once per interface), so what
 * a re-apply may change is read from the chain's `config` map, never baked
 * into this program's read-only data.
 */
#include <sfc/chain.h>
#include <sfc/parser.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sfc_root SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_chain_config);
} sfc_config SEC(".maps");

/* The root slot was empty (or the tail call failed): the chain's policy. */
static __always_inline int sfc_entry_root_missed(const struct sfc_chain_config *cfg,
						 struct sfc_chain_stats *cs)
{
	cs->tail_call_miss++;
	if (cfg->fail_policy == SFC_FAIL_PASS) {
		cs->fail_pass++;
		return XDP_PASS;
	}
	cs->fail_drop++;
	return XDP_DROP;
}

SEC("xdp")
int sfc_entry(struct xdp_md *ctx)
{
	struct sfc_chain_stats *cs = sfc_chain_counters();
	struct sfc_pkt *pkt = sfc_pkt_ctx();
	struct sfc_monitor_config *mon;
	struct sfc_chain_config *cfg;
	__u32 zero = 0;
	int ret;

	cfg = bpf_map_lookup_elem(&sfc_config, &zero);
	mon = bpf_map_lookup_elem(&sfc_monitor, &zero);
	if (!pkt || !cs || !cfg || !mon)
		return sfc_tail_call_failed();

	__builtin_memset(pkt, 0, sizeof(*pkt));
	/* One clock read per packet serves every VNF's timeouts and flow
	 * times. The coarse clock (jiffies resolution) costs a few ns where
	 * the fine one costs tens in a VM. */
	pkt->ts_ns = bpf_ktime_get_coarse_ns();
	pkt->pkt_len = ctx->data_end - ctx->data;
	pkt->ifindex = ctx->ingress_ifindex;
	pkt->monitor = mon->mode;

	cs->rx_packets++;
	cs->rx_bytes += pkt->pkt_len;

	ret = sfc_parse(ctx, pkt);
	if (ret == SFC_PARSE_NOT_IP) {
		/* ARP, LLDP and friends keep the host reachable. */
		cs->non_ip++;
		if (pkt->monitor)
			sfc_monitor_report(pkt, SFC_STAGE_ENTRY, SFC_ACT_PASS, SFC_REASON_NON_IP,
					   0);
		return XDP_PASS;
	}
	if (ret != SFC_PARSE_OK) {
		cs->malformed++;
		if (pkt->monitor)
			sfc_monitor_report(pkt, SFC_STAGE_ENTRY, SFC_ACT_DROP, SFC_REASON_MALFORMED,
					   ret);
		return XDP_DROP;
	}

	if (cfg->timing)
		pkt->stage_ns = bpf_ktime_get_ns();
	bpf_tail_call(ctx, &sfc_root, 0);
	ret = sfc_entry_root_missed(cfg, cs);
	if (pkt->monitor)
		sfc_monitor_report(pkt, SFC_STAGE_ENTRY, ret, SFC_REASON_TAIL_CALL_MISS, 0);
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
