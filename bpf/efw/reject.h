/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eFW reject: the reply (a TCP RST, or an ICMP/ICMPv6 "administratively
 * prohibited" quoting the packet) built in place of the packet, to be sent
 * back with XDP_TX. Included once, by efw.bpf.c.
 */
#ifndef EFW_REJECT_H
#define EFW_REJECT_H

#include <sfc/csum.h>
#include <sfc/icmp.h>

/* Makes the compiler forget what it knows about x, so that the register the
 * verifier saw bounds-checked is the one used afterwards (clang otherwise
 * reuses an unchecked copy of a value loaded from the packet context). */
#define efw_barrier_var(x) asm volatile("" : "+r"(x))

/* Longest L2 header the parser accepts: Ethernet + two VLAN tags. */
#define EFW_L2_MAX      22
#define EFW_QUOTE6_MAX  128
#define EFW_QUOTE_WORDS (EFW_QUOTE6_MAX / 4)

static __always_inline void efw_swap_macs(void *data)
{
	__u8 tmp[6];

	__builtin_memcpy(tmp, data, 6);
	__builtin_memcpy(data, data + 6, 6);
	__builtin_memcpy(data + 6, tmp, 6);
}

static __always_inline void efw_ipv4_hdr(struct iphdr *iph, __u16 tot_len, __u8 proto, __be32 saddr,
					 __be32 daddr)
{
	iph->version = 4;
	iph->ihl = 5;
	iph->tos = 0;
	iph->tot_len = bpf_htons(tot_len);
	iph->id = 0;
	iph->frag_off = 0;
	iph->ttl = 64;
	iph->protocol = proto;
	iph->check = 0;
	iph->saddr = saddr;
	iph->daddr = daddr;
	iph->check = ~sfc_csum_fold(sfc_csum_add(iph, sizeof(*iph), 0));
}

static __always_inline void efw_ipv6_hdr(struct ipv6hdr *ip6h, __u16 payload_len, __u8 nexthdr,
					 const __u32 *saddr, const __u32 *daddr)
{
	ip6h->version = 6;
	ip6h->priority = 0;
	ip6h->flow_lbl[0] = 0;
	ip6h->flow_lbl[1] = 0;
	ip6h->flow_lbl[2] = 0;
	ip6h->payload_len = bpf_htons(payload_len);
	ip6h->nexthdr = nexthdr;
	ip6h->hop_limit = 64;
	__builtin_memcpy(&ip6h->saddr, saddr, 16);
	__builtin_memcpy(&ip6h->daddr, daddr, 16);
}

struct efw_pseudo4 {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

struct efw_pseudo6 {
	__u32 saddr[4];
	__u32 daddr[4];
	__be32 len;
	__u8 zero[3];
	__u8 nexthdr;
};

/* One's-complement sum of the pseudo header of a reply from pkt's
 * destination to its source. */
static __always_inline __u64 efw_pseudo_sum(const struct sfc_pkt *pkt, __u8 proto, __u32 len)
{
	if (pkt->l3_proto == ETH_P_IP) {
		struct efw_pseudo4 ph = {
			.saddr = pkt->daddr[0],
			.daddr = pkt->saddr[0],
			.proto = proto,
			.len = bpf_htons(len),
		};

		return sfc_csum_add(&ph, sizeof(ph), 0);
	} else {
		struct efw_pseudo6 ph = {.len = bpf_htonl(len), .nexthdr = proto};

		__builtin_memcpy(ph.saddr, pkt->daddr, 16);
		__builtin_memcpy(ph.daddr, pkt->saddr, 16);
		return sfc_csum_add(&ph, sizeof(ph), 0);
	}
}

/* TCP RST answering the segment in ctx (RFC 9293 3.10.7.1). 0 on success. */
static __always_inline int efw_reply_rst(struct xdp_md *ctx, const struct sfc_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = pkt->l3_off, l4 = pkt->l4_off, iplen, seglen, reply_len;
	int v4 = pkt->l3_proto == ETH_P_IP;
	__be32 seq, ack_seq;
	__be16 sport, dport;
	struct tcphdr *th;
	__u8 flags;

	if (l3 > EFW_L2_MAX || l4 > SFC_MAX_L4_OFF)
		return -1;
	efw_barrier_var(l3);
	efw_barrier_var(l4);
	th = data + l4;
	if ((void *)(th + 1) > data_end)
		return -1;
	flags = ((__u8 *)th)[13];
	if (flags & SFC_TCP_RST)
		return -1; /* never answer a RST */
	if (v4) {
		struct iphdr *iph = data + l3;

		if ((void *)(iph + 1) > data_end)
			return -1;
		iplen = bpf_ntohs(iph->tot_len);
	} else {
		struct ipv6hdr *ip6h = data + l3;

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		iplen = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	}
	/* Segment length for the ACK: payload plus SYN and FIN. */
	seglen = iplen - (l4 - l3) - th->doff * 4;
	if (seglen > 0xffff)
		seglen = 0;
	seglen += !!(flags & SFC_TCP_SYN) + !!(flags & SFC_TCP_FIN);
	seq = th->seq;
	ack_seq = th->ack_seq;
	sport = th->source;
	dport = th->dest;

	reply_len =
		l3 + (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) + sizeof(struct tcphdr);
	if (bpf_xdp_adjust_tail(ctx, (int)reply_len - (int)(data_end - data)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return -1;
	efw_swap_macs(data);

	if (v4) {
		struct iphdr *iph = data + l3;

		th = (void *)(iph + 1);
		if ((void *)(th + 1) > data_end)
			return -1;
		efw_ipv4_hdr(iph, sizeof(*iph) + sizeof(*th), IPPROTO_TCP, pkt->daddr[0],
			     pkt->saddr[0]);
	} else {
		struct ipv6hdr *ip6h = data + l3;

		th = (void *)(ip6h + 1);
		if ((void *)(th + 1) > data_end)
			return -1;
		efw_ipv6_hdr(ip6h, sizeof(*th), IPPROTO_TCP, pkt->daddr, pkt->saddr);
	}

	__builtin_memset(th, 0, sizeof(*th));
	th->source = dport;
	th->dest = sport;
	th->doff = 5;
	if (flags & SFC_TCP_ACK) {
		th->seq = ack_seq;
		((__u8 *)th)[13] = SFC_TCP_RST;
	} else {
		th->ack_seq = bpf_htonl(bpf_ntohl(seq) + seglen);
		((__u8 *)th)[13] = SFC_TCP_RST | SFC_TCP_ACK;
	}
	th->check = ~sfc_csum_fold(
		sfc_csum_add(th, sizeof(*th), efw_pseudo_sum(pkt, IPPROTO_TCP, sizeof(*th))));
	return 0;
}

/*
 * ICMP (type 3 code 13) or ICMPv6 (type 1 code 1) "administratively
 * prohibited", quoting the offending packet: its IPv4 header plus 8 bytes
 * (RFC 792), or up to EFW_QUOTE6_MAX bytes of the IPv6 packet (RFC 4443
 * allows any prefix). 0 on success.
 */
static __always_inline int efw_reply_unreach(struct xdp_md *ctx, const struct sfc_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int v4 = pkt->l3_proto == ETH_P_IP;
	__u32 l3 = pkt->l3_off, hdr, quote, avail, i;
	__u64 sum;
	__u8 *q;

	/* One comparison per bound: clang folds a range check into a single
	 * subtract-and-compare on a copy the verifier cannot relate to l3. */
	if (l3 > EFW_L2_MAX)
		return -1;
	efw_barrier_var(l3);
	if (pkt->flags & SFC_PKT_F_FRAG_LATER)
		return -1; /* errors answer first fragments only */
	if ((pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) &&
	    (pkt->flags & SFC_PKT_F_L4) && sfc_icmp_is_error(pkt->l4_proto, pkt->icmp_type))
		return -1; /* never an error about an error */
	if (data + l3 > data_end)
		return -1;
	avail = data_end - (data + l3);
	if (v4) {
		struct iphdr *iph = data + l3;

		if ((void *)(iph + 1) > data_end)
			return -1;
		hdr = sizeof(struct iphdr) + 8;
		quote = iph->ihl * 4 + 8;
	} else {
		hdr = sizeof(struct ipv6hdr) + 8;
		quote = EFW_QUOTE6_MAX;
	}
	if (quote > avail)
		quote = avail;
	quote &= ~3U;
	if (quote > EFW_QUOTE6_MAX)
		return -1;

	/* Cut the frame to L2 + quote, then open room for the new headers. */
	if (bpf_xdp_adjust_tail(ctx, (int)(l3 + quote) - (int)(data_end - data)))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)hdr))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	/* hdr >= 28 > EFW_L2_MAX: source and destination do not overlap. The
	 * frame holds at least hdr + L2 + a 20-byte IPv4 header, so the fixed
	 * EFW_L2_MAX-byte copy stays inside it. */
	if (v4) {
		if (data + sizeof(struct iphdr) + 8 + EFW_L2_MAX > data_end)
			return -1;
		__builtin_memcpy(data, data + sizeof(struct iphdr) + 8, EFW_L2_MAX);
	} else {
		if (data + sizeof(struct ipv6hdr) + 8 + EFW_L2_MAX > data_end)
			return -1;
		__builtin_memcpy(data, data + sizeof(struct ipv6hdr) + 8, EFW_L2_MAX);
	}
	efw_swap_macs(data);

	if (v4) {
		struct iphdr *iph = data + l3;
		struct sfc_icmp_hdr *ih = (void *)(iph + 1);

		if ((void *)(ih + 1) > data_end)
			return -1;
		efw_ipv4_hdr(iph, hdr + quote, IPPROTO_ICMP, pkt->daddr[0], pkt->saddr[0]);
		ih->type = 3;
		ih->code = 13;
		ih->checksum = 0;
		ih->echo_id = 0;
		ih->echo_seq = 0;
		sum = sfc_csum_add(ih, sizeof(*ih), 0);
		q = (void *)(ih + 1);
	} else {
		struct ipv6hdr *ip6h = data + l3;
		struct sfc_icmp_hdr *ih = (void *)(ip6h + 1);

		if ((void *)(ih + 1) > data_end)
			return -1;
		efw_ipv6_hdr(ip6h, 8 + quote, IPPROTO_ICMPV6, pkt->daddr, pkt->saddr);
		ih->type = 1;
		ih->code = 1;
		ih->checksum = 0;
		ih->echo_id = 0;
		ih->echo_seq = 0;
		sum = sfc_csum_add(ih, sizeof(*ih), efw_pseudo_sum(pkt, IPPROTO_ICMPV6, 8 + quote));
		q = (void *)(ih + 1);
	}

	for (i = 0; i < EFW_QUOTE_WORDS; i++) {
		__u32 *w = (void *)(q + i * 4);

		if (i * 4 >= quote)
			break;
		if ((void *)(w + 1) > data_end)
			return -1;
		sum += *w;
	}
	sum = sfc_csum_fold(sum);
	if (v4) {
		struct sfc_icmp_hdr *ih = data + l3 + sizeof(struct iphdr);

		if ((void *)(ih + 1) > data_end)
			return -1;
		ih->checksum = ~(__u16)sum;
	} else {
		struct sfc_icmp_hdr *ih = data + l3 + sizeof(struct ipv6hdr);

		if ((void *)(ih + 1) > data_end)
			return -1;
		ih->checksum = ~(__u16)sum;
	}
	return 0;
}

static __always_inline int efw_reject(struct xdp_md *ctx, const struct sfc_pkt *pkt)
{
	if (pkt->l4_proto == IPPROTO_TCP && (pkt->flags & SFC_PKT_F_L4))
		return efw_reply_rst(ctx, pkt);
	return efw_reply_unreach(ctx, pkt);
}

#endif /* EFW_REJECT_H */
