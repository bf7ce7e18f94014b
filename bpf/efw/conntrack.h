/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eFW connection tracking: a connection's canonical key, its state as rules
 * see it (new, established, related, invalid, untracked), timeouts, and the
 * update an allowed packet makes. Included once, by efw.bpf.c.
 */
#ifndef EFW_CONNTRACK_H
#define EFW_CONNTRACK_H

#include <sfc/icmp.h>

#include "efw_maps.h"

struct efw_ct {
	struct efw_ct_key key;
	struct efw_ct_entry *entry; /* NULL: no live entry */
	__u8 from_a;                /* packet travels a -> b */
	__u8 trackable;             /* an allowed NEW packet creates an entry */
};

/* The packet's application as efw_ct_entry.app_tag holds it, sequence 0. */
static __always_inline __u32 efw_app_tag(const struct sfc_pkt *pkt)
{
	return (__u32)pkt->app << 16 | (__u32)pkt->app_category << 8;
}

static __always_inline int efw_addr_cmp(const __u32 *x, const __u32 *y)
{
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

/* Canonical key of (s:sp -> d:dp); returns whether s became `a`. */
static __always_inline __u8 efw_ct_key_make(struct efw_ct_key *k, const __u32 *s, __u16 sp,
					    const __u32 *d, __u16 dp, __u8 proto, __u8 family)
{
	int c = efw_addr_cmp(s, d);
	__u8 s_is_a = c < 0 || (c == 0 && sp <= dp);

	__builtin_memset(k, 0, sizeof(*k));
	if (s_is_a) {
		__builtin_memcpy(k->a, s, 16);
		__builtin_memcpy(k->b, d, 16);
		k->aport = sp;
		k->bport = dp;
	} else {
		__builtin_memcpy(k->a, d, 16);
		__builtin_memcpy(k->b, s, 16);
		k->aport = dp;
		k->bport = sp;
	}
	k->proto = proto;
	k->family = family;
	return s_is_a;
}

static __always_inline __u64 efw_ct_timeout(const struct efw_ct_key *k,
					    const struct efw_ct_entry *e)
{
	if (k->proto == IPPROTO_TCP) {
		if (e->tcp_state == EFW_TCP_SYN_SENT)
			return efw_ct_tcp_syn_ns;
		if (e->tcp_state == EFW_TCP_CLOSING)
			return efw_ct_tcp_close_ns;
		return efw_ct_tcp_est_ns;
	}
	if (k->proto == IPPROTO_UDP)
		return efw_ct_udp_ns;
	return efw_ct_icmp_ns;
}

static __always_inline void efw_ct_live_add(__s64 delta)
{
	__u32 zero = 0;
	struct efw_ct_live *l = bpf_map_lookup_elem(&ct_live, &zero);

	if (l)
		__sync_fetch_and_add(&l->live, delta);
}

static __always_inline void efw_ct_remove(const struct efw_ct_key *k)
{
	/* Only a delete that found the entry changes the live count: the LRU
	 * may have evicted it already. */
	if (bpf_map_delete_elem(&conntrack, k) == 0)
		efw_ct_live_add(-1);
}

/* A live (not expired) entry for k, or NULL; expired entries are removed. */
static __always_inline struct efw_ct_entry *efw_ct_find(const struct efw_ct_key *k, __u64 now,
							struct efw_stats *st)
{
	struct efw_ct_entry *e = bpf_map_lookup_elem(&conntrack, k);

	if (!e)
		return NULL;
	/* Another CPU may have stamped the entry with a later time than this
	 * packet's entry timestamp: that is fresh, not 2^64 ns old. */
	if (now > e->last_seen_ns && now - e->last_seen_ns > efw_ct_timeout(k, e)) {
		st->ct_expired++;
		efw_ct_remove(k);
		return NULL;
	}
	return e;
}

/*
 * ICMP errors quote the packet they are about; if that packet belongs to a
 * tracked connection, the error is RELATED. The quoted header starts 8 bytes
 * into the ICMP message. Returns the state.
 */
static __always_inline __u32 efw_ct_related(struct xdp_md *ctx, const struct sfc_pkt *pkt,
					    __u64 now, struct efw_ct *ct, struct efw_stats *st)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = pkt->l4_off;
	__u32 s[4] = {}, d[4] = {};
	__u16 sp = 0, dp = 0;
	__u8 proto, family;

	if (off > SFC_MAX_L4_OFF)
		return EFW_CT_INVALID;
	off += 8;
	if (pkt->l3_proto == ETH_P_IP) {
		struct iphdr *iph = data + off;

		if ((void *)(iph + 1) > data_end)
			return EFW_CT_INVALID;
		s[0] = iph->saddr;
		d[0] = iph->daddr;
		proto = iph->protocol;
		off += iph->ihl * 4;
		family = 4;
	} else {
		struct ipv6hdr *ip6h = data + off;

		if ((void *)(ip6h + 1) > data_end)
			return EFW_CT_INVALID;
		__builtin_memcpy(s, &ip6h->saddr, 16);
		__builtin_memcpy(d, &ip6h->daddr, 16);
		proto = ip6h->nexthdr; /* quoted extension headers are not followed */
		off += sizeof(*ip6h);
		family = 6;
	}
	if (off > SFC_MAX_L4_OFF + 128)
		return EFW_CT_INVALID;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 *p = data + off;

		if ((void *)(p + 2) > data_end)
			return EFW_CT_INVALID;
		sp = p[0];
		dp = p[1];
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		struct sfc_icmp_hdr *ih = data + off;
		__u8 req;

		if ((void *)(ih + 1) > data_end)
			return EFW_CT_INVALID;
		if (!sfc_icmp_is_echo(proto, ih->type, &req))
			return EFW_CT_INVALID;
		sp = dp = ih->echo_id;
	} else {
		return EFW_CT_INVALID;
	}
	efw_ct_key_make(&ct->key, s, sp, d, dp, proto, family);
	return efw_ct_find(&ct->key, now, st) ? EFW_CT_RELATED : EFW_CT_INVALID;
}

/* The state rules see for this packet; fills ct for efw_ct_commit(). */
static __always_inline __u32 efw_ct_state(struct xdp_md *ctx, const struct sfc_pkt *pkt, __u64 now,
					  struct efw_ct *ct, struct efw_stats *st)
{
	__u8 family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
	__u8 proto = pkt->l4_proto;
	__u16 sp = pkt->sport, dp = pkt->dport;
	struct efw_ct_entry *e;
	__u8 from_a;

	ct->entry = NULL;
	ct->trackable = 0;
	if (pkt->flags & SFC_PKT_F_FRAG_LATER)
		return EFW_CT_UNTRACKED;
	if (!(pkt->flags & SFC_PKT_F_L4))
		return EFW_CT_NEW; /* a protocol we do not track: every packet is new */

	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		__u8 req;

		if (sfc_icmp_is_error(proto, pkt->icmp_type))
			return efw_ct_related(ctx, pkt, now, ct, st);
		if (!sfc_icmp_is_echo(proto, pkt->icmp_type, &req))
			return EFW_CT_NEW; /* other informational messages: untracked */
		sp = dp = pkt->sport;      /* the echo identifier names the flow both ways */
		from_a = efw_ct_key_make(&ct->key, pkt->saddr, sp, pkt->daddr, dp, proto, family);
		e = efw_ct_find(&ct->key, now, st);
		ct->from_a = from_a;
		if (!e) {
			if (!req)
				return EFW_CT_INVALID; /* a reply to nothing we saw */
			ct->trackable = 1;
			return EFW_CT_NEW;
		}
		ct->entry = e;
		return (e->seen_reply || from_a != e->orig_is_a) ? EFW_CT_ESTABLISHED : EFW_CT_NEW;
	}

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return EFW_CT_NEW;

	from_a = efw_ct_key_make(&ct->key, pkt->saddr, sp, pkt->daddr, dp, proto, family);
	ct->from_a = from_a;
	e = efw_ct_find(&ct->key, now, st);
	if (proto == IPPROTO_TCP) {
		__u8 fl = pkt->tcp_flags;
		int syn_only = (fl & (SFC_TCP_SYN | SFC_TCP_ACK | SFC_TCP_RST)) == SFC_TCP_SYN;

		if (e && syn_only && e->tcp_state == EFW_TCP_CLOSING) {
			/* A new connection reusing the ports of a closing one. */
			efw_ct_remove(&ct->key);
			e = NULL;
		}
		if (!e) {
			if (!syn_only)
				return EFW_CT_INVALID; /* mid-stream or stray packet */
			ct->trackable = 1;
			return EFW_CT_NEW;
		}
	} else if (!e) {
		ct->trackable = 1;
		return EFW_CT_NEW;
	}
	ct->entry = e;
	return (e->seen_reply || from_a != e->orig_is_a) ? EFW_CT_ESTABLISHED : EFW_CT_NEW;
}

/* The packet was allowed: create or advance its connection. */
static __always_inline void efw_ct_commit(const struct sfc_pkt *pkt, __u64 now, struct efw_ct *ct,
					  struct efw_stats *st)
{
	struct efw_ct_entry *e = ct->entry;

	if (!e) {
		struct efw_ct_entry ne = {};
		__u32 zero = 0;
		struct efw_ct_live *l;

		if (!ct->trackable)
			return;
		ne.last_seen_ns = now;
		ne.orig_is_a = ct->from_a;
		ne.tcp_state = EFW_TCP_SYN_SENT;
		/* The application the first packet carried, so the connection's
		 * next packets with the same one keep its cached verdicts. */
		ne.app_tag = efw_app_tag(pkt);
		if (bpf_map_update_elem(&conntrack, &ct->key, &ne, BPF_NOEXIST))
			return; /* another CPU created it first */
		st->ct_inserted++;
		l = bpf_map_lookup_elem(&ct_live, &zero);
		if (!l)
			return;
		/* At capacity the LRU made room by evicting an entry: the live
		 * count stays, the eviction is counted. */
		if (l->live >= efw_ct_max)
			st->ct_evicted++;
		else
			__sync_fetch_and_add(&l->live, 1);
		return;
	}

	if (e->last_seen_ns != now) /* the coarse clock moves every few ms */
		e->last_seen_ns = now;
	if (ct->from_a != e->orig_is_a)
		e->seen_reply = 1;
	if (ct->key.proto != IPPROTO_TCP)
		return;
	if (pkt->tcp_flags & SFC_TCP_RST) {
		st->ct_closed++;
		efw_ct_remove(&ct->key);
		return;
	}
	if (pkt->tcp_flags & SFC_TCP_FIN)
		e->fin_seen |= ct->from_a ? 1 : 2;
	if (e->fin_seen == 3)
		e->tcp_state = EFW_TCP_CLOSING;
	else if (e->fin_seen)
		e->tcp_state = EFW_TCP_FIN_WAIT;
	else if (e->seen_reply)
		e->tcp_state = EFW_TCP_ESTABLISHED;
}

#endif /* EFW_CONNTRACK_H */
