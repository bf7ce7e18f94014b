// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Chain egress stage: the last slot of every chain's prog array. It sends a
 * packet that every VNF accepted on its way, as the chain's spec says: to the
 * kernel (pass), back out the ingress port (tx), out of a named port
 * (redirect, through a devmap), or routed by the kernel's FIB (fib).
 */
#include <sfc/chain.h>
#include <sfc/parser.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

const volatile __u32 sfc_egress_action = SFC_EGRESS_PASS;

/* Key 0: the port of the `redirect` action. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sfc_tx_port SEC(".maps");

/* RFC 1624 incremental update of the IPv4 header checksum for a TTL decrement:
 * the TTL is the high byte of a 16-bit word, so the sum drops by 0x0100. */
static __always_inline void sfc_ipv4_dec_ttl(struct iphdr *iph)
{
	__u32 sum = iph->check;

	sum += bpf_htons(0x0100);
	iph->check = (__sum16)(sum + (sum >= 0xffff));
	iph->ttl--;
}

/* The stage's action, reported to the monitor when it is on. */
static __always_inline int sfc_egress_done(const struct sfc_pkt *pkt, int action, __u32 reason,
					   __u32 detail)
{
	if (pkt->monitor)
		sfc_monitor_report(pkt, SFC_STAGE_EGRESS, action, reason, detail);
	return action;
}

static __always_inline int sfc_egress_fib(struct xdp_md *ctx, struct sfc_pkt *pkt,
					  struct sfc_chain_stats *cs)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth = data;
	struct iphdr *iph = NULL;
	struct ipv6hdr *ip6h = NULL;
	__u32 l3_off = pkt->l3_off;
	int rc;

	if ((void *)(eth + 1) > data_end || l3_off > 64)
		return sfc_egress_done(pkt, XDP_DROP, SFC_REASON_MALFORMED, 0);
	/* Tagged frames keep their tags through a redirect; let the kernel's
	 * VLAN devices route those. */
	if (pkt->flags & SFC_PKT_F_VLAN) {
		cs->fib_pass++;
		return sfc_egress_done(pkt, XDP_PASS, SFC_REASON_VLAN, 0);
	}

	if (pkt->l3_proto == ETH_P_IP) {
		iph = data + l3_off;
		if ((void *)(iph + 1) > data_end)
			return sfc_egress_done(pkt, XDP_DROP, SFC_REASON_MALFORMED, 0);
		if (iph->ttl <= 1) {
			cs->fib_pass++; /* the kernel sends Time Exceeded */
			return sfc_egress_done(pkt, XDP_PASS, SFC_REASON_TTL, iph->ttl);
		}
		fib.family = AF_INET;
		fib.tos = iph->tos;
		fib.l4_protocol = iph->protocol;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else {
		ip6h = data + l3_off;
		if ((void *)(ip6h + 1) > data_end)
			return sfc_egress_done(pkt, XDP_DROP, SFC_REASON_MALFORMED, 0);
		if (ip6h->hop_limit <= 1) {
			cs->fib_pass++;
			return sfc_egress_done(pkt, XDP_PASS, SFC_REASON_TTL, ip6h->hop_limit);
		}
		fib.family = AF_INET6;
		fib.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0FFFFFFF);
		fib.l4_protocol = pkt->l4_proto;
		fib.tot_len = bpf_ntohs(ip6h->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, 16);
	}
	fib.sport = pkt->sport;
	fib.dport = pkt->dport;
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		/* The kernel resolves the neighbour; the next packets take the fast path. */
		cs->fib_no_neigh++;
		return sfc_egress_done(pkt, XDP_PASS, SFC_REASON_FIB_NO_NEIGH, rc);
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		cs->fib_drop++;
		return sfc_egress_done(pkt, XDP_DROP, SFC_REASON_FIB_DROP, rc);
	default:
		/* Local delivery, forwarding disabled, needs fragmenting, ... */
		cs->fib_pass++;
		return sfc_egress_done(pkt, XDP_PASS, SFC_REASON_FIB_PASS, rc);
	}

	if (iph)
		sfc_ipv4_dec_ttl(iph);
	else if (ip6h)
		ip6h->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);

	rc = bpf_redirect(fib.ifindex, 0);
	if (rc == XDP_REDIRECT) {
		cs->egress_redirect++;
		return sfc_egress_done(pkt, rc, SFC_REASON_NONE, fib.ifindex);
	}
	cs->egress_redirect_err++;
	return sfc_egress_done(pkt, rc, SFC_REASON_REDIRECT_ERR, fib.ifindex);
}

SEC("xdp")
int sfc_egress(struct xdp_md *ctx)
{
	struct sfc_chain_stats *cs = sfc_chain_counters();
	struct sfc_pkt *pkt = sfc_pkt_ctx();
	int rc;

	if (!pkt || !cs)
		return sfc_tail_call_failed();

	switch (sfc_egress_action) {
	case SFC_EGRESS_TX: {
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;
		struct ethhdr *eth = data;
		__u8 tmp[ETH_ALEN];

		if ((void *)(eth + 1) > data_end)
			return sfc_egress_done(pkt, XDP_DROP, SFC_REASON_MALFORMED, 0);
		__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
		cs->egress_tx++;
		return sfc_egress_done(pkt, XDP_TX, SFC_REASON_NONE, 0);
	}
	case SFC_EGRESS_REDIRECT:
		rc = bpf_redirect_map(&sfc_tx_port, 0, 0);
		if (rc == XDP_REDIRECT) {
			cs->egress_redirect++;
			return sfc_egress_done(pkt, rc, SFC_REASON_NONE, 0);
		}
		cs->egress_redirect_err++;
		return sfc_egress_done(pkt, rc, SFC_REASON_REDIRECT_ERR, 0);
	case SFC_EGRESS_FIB:
		return sfc_egress_fib(ctx, pkt, cs);
	case SFC_EGRESS_PASS:
	default:
		cs->egress_pass++;
		return sfc_egress_done(pkt, XDP_PASS, SFC_REASON_NONE, 0);
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
