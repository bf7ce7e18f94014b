/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one packet parser of the project. It walks Ethernet, up to two VLAN
 * tags (802.1ad/802.1Q), IPv4 (with options) or IPv6 (with extension
 * headers), then TCP/UDP/ICMP/ICMPv6, and records the result in struct
 * sfc_pkt. Every read is bounds-checked right here, once; VNFs use the
 * offsets it records and re-check only the header they dereference.
 */
#ifndef SFC_PARSER_H
#define SFC_PARSER_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "abi.h"
#include "icmp.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Deepest header chain we accept: anything past this is malformed for us. */
#define SFC_MAX_VLAN_TAGS 2
#define SFC_MAX_IPV6_EXT  6
/* Offsets are kept in __u16 and bounded so the verifier can follow them. */
#define SFC_MAX_L4_OFF    512

enum sfc_parse_result {
	SFC_PARSE_OK = 0,
	SFC_PARSE_NOT_IP,    /* valid frame, but not IPv4/IPv6 */
	SFC_PARSE_MALFORMED, /* truncated or inconsistent headers */
};

struct sfc_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The IPv6 extension-header shape shared by hop-by-hop, routing, dest-opts. */
struct sfc_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct sfc_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3 | M flag */
	__be32 identification;
};

#define SFC_IPV4_MF          0x2000
#define SFC_IPV4_OFFSET      0x1fff
#define SFC_IPV6_FRAG_OFFSET 0xfff8
#define SFC_IPV6_FRAG_MORE   0x0001

static __always_inline int sfc_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH;
}

/* Parse L4 at pkt->l4_off; a header that does not fit makes the packet malformed. */
static __always_inline int sfc_parse_l4(void *data, void *data_end, struct sfc_pkt *pkt)
{
	__u32 off = pkt->l4_off;

	if (off > SFC_MAX_L4_OFF)
		return SFC_PARSE_MALFORMED;

	switch (pkt->l4_proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end)
			return SFC_PARSE_MALFORMED;
		if (th->doff < 5)
			return SFC_PARSE_MALFORMED;
		pkt->sport = th->source;
		pkt->dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end)
			return SFC_PARSE_MALFORMED;
		pkt->sport = uh->source;
		pkt->dport = uh->dest;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct sfc_icmp_hdr *ih = data + off;

		if ((void *)(ih + 1) > data_end)
			return SFC_PARSE_MALFORMED;
		pkt->icmp_type = ih->type;
		pkt->icmp_code = ih->code;
		pkt->sport = ih->echo_id;
		break;
	}
	default:
		/* Other protocols carry no ports; the L3 part is all we know. */
		return SFC_PARSE_OK;
	}
	pkt->flags |= SFC_PKT_F_L4;
	return SFC_PARSE_OK;
}

static __always_inline int sfc_parse_ipv4(void *data, void *data_end, struct sfc_pkt *pkt)
{
	struct iphdr *iph = data + pkt->l3_off;
	__u32 hlen;

	if ((void *)(iph + 1) > data_end)
		return SFC_PARSE_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return SFC_PARSE_MALFORMED;
	hlen = iph->ihl * 4;
	if ((void *)iph + hlen > data_end)
		return SFC_PARSE_MALFORMED;
	if (hlen > sizeof(*iph))
		pkt->flags |= SFC_PKT_F_IPV4_OPTS;

	pkt->l3_proto = ETH_P_IP;
	pkt->l4_proto = iph->protocol;
	pkt->ttl = iph->ttl;
	pkt->saddr[0] = iph->saddr;
	pkt->daddr[0] = iph->daddr;
	pkt->l4_off = pkt->l3_off + hlen;

	if (iph->frag_off & bpf_htons(SFC_IPV4_MF | SFC_IPV4_OFFSET)) {
		pkt->flags |= SFC_PKT_F_FRAG;
		if (iph->frag_off & bpf_htons(SFC_IPV4_OFFSET)) {
			pkt->flags |= SFC_PKT_F_FRAG_LATER;
			return SFC_PARSE_OK;
		}
	}
	return sfc_parse_l4(data, data_end, pkt);
}

static __always_inline int sfc_parse_ipv6(void *data, void *data_end, struct sfc_pkt *pkt)
{
	struct ipv6hdr *ip6h = data + pkt->l3_off;
	__u32 off = pkt->l3_off + sizeof(*ip6h);
	__u8 nexthdr;
	int i;

	if ((void *)(ip6h + 1) > data_end)
		return SFC_PARSE_MALFORMED;
	if (ip6h->version != 6)
		return SFC_PARSE_MALFORMED;

	pkt->l3_proto = ETH_P_IPV6;
	pkt->ttl = ip6h->hop_limit;
	__builtin_memcpy(pkt->saddr, &ip6h->saddr, 16);
	__builtin_memcpy(pkt->daddr, &ip6h->daddr, 16);
	nexthdr = ip6h->nexthdr;

#pragma unroll
	for (i = 0; i < SFC_MAX_IPV6_EXT; i++) {
		if (!sfc_ipv6_is_ext(nexthdr))
			break;
		if (off > SFC_MAX_L4_OFF)
			return SFC_PARSE_MALFORMED;

		if (nexthdr == IPPROTO_FRAGMENT) {
			struct sfc_ipv6_frag_hdr *fh = data + off;

			if ((void *)(fh + 1) > data_end)
				return SFC_PARSE_MALFORMED;
			pkt->flags |= SFC_PKT_F_FRAG | SFC_PKT_F_IPV6_EXT;
			nexthdr = fh->nexthdr;
			off += sizeof(*fh);
			if (fh->frag_off & bpf_htons(SFC_IPV6_FRAG_OFFSET)) {
				pkt->flags |= SFC_PKT_F_FRAG_LATER;
				pkt->l4_proto = nexthdr;
				pkt->l4_off = off;
				return SFC_PARSE_OK;
			}
			continue;
		}

		struct sfc_ipv6_opt_hdr *oh = data + off;

		if ((void *)(oh + 1) > data_end)
			return SFC_PARSE_MALFORMED;
		pkt->flags |= SFC_PKT_F_IPV6_EXT;
		/* AH counts its length in 4-byte units minus 2, the others in
		 * 8-byte units not counting the first 8 bytes. */
		if (nexthdr == IPPROTO_AH)
			off += ((__u32)oh->hdrlen + 2) * 4;
		else
			off += ((__u32)oh->hdrlen + 1) * 8;
		nexthdr = oh->nexthdr;
	}
	if (sfc_ipv6_is_ext(nexthdr))
		return SFC_PARSE_MALFORMED; /* deeper than we follow */

	pkt->l4_proto = nexthdr;
	pkt->l4_off = off;
	return sfc_parse_l4(data, data_end, pkt);
}

/*
 * Parse the frame in ctx into pkt (which the caller zeroed, or whose fields the
 * caller does not reuse). Returns an enum sfc_parse_result.
 */
static __always_inline int sfc_parse(struct xdp_md *ctx, struct sfc_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u16 proto;
	__u32 off;
	int i;

	if ((void *)(eth + 1) > data_end)
		return SFC_PARSE_MALFORMED;
	proto = eth->h_proto;
	off = sizeof(*eth);

#pragma unroll
	for (i = 0; i < SFC_MAX_VLAN_TAGS; i++) {
		struct sfc_vlan_hdr *vh = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return SFC_PARSE_MALFORMED;
		if (i == 0)
			pkt->vlan_outer = bpf_ntohs(vh->tci) & 0x0fff;
		else
			pkt->vlan_inner = bpf_ntohs(vh->tci) & 0x0fff;
		pkt->flags |= SFC_PKT_F_VLAN;
		proto = vh->encap_proto;
		off += sizeof(*vh);
	}

	pkt->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP))
		return sfc_parse_ipv4(data, data_end, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return sfc_parse_ipv6(data, data_end, pkt);
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return SFC_PARSE_MALFORMED; /* more tags than we follow */
	return SFC_PARSE_NOT_IP;
}

#endif /* SFC_PARSER_H */
