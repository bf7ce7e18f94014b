// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * eFW: stateful firewall VNF. Per packet:
 *   1. connection state from the conntrack table (new/established/related/
 *      invalid, or untracked for non-first fragments);
 *   2. classification against the active rule set (see efw.h): a bounded
 *      number of lookups per rule group, independent of the rule count;
 *   3. the first matching rule's action (or the default): allow (and track
 *      the connection), drop, or reject (a TCP RST or an ICMP/ICMPv6
 *      "administratively prohibited" built in place and sent with XDP_TX).
 */
#include <sfc/csum.h>
#include <sfc/vnf.h>

#include "efw.h"

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define NSEC_PER_SEC 1000000000ULL

/* Makes the compiler forget what it knows about x, so that the register the
 * verifier saw bounds-checked is the one used afterwards (clang otherwise
 * reuses an unchecked copy of a value loaded from the packet context). */
#define efw_barrier_var(x) asm volatile("" : "+r"(x))

/* Conntrack timeouts and size, set by the daemon from the config. */
const volatile __u64 efw_ct_tcp_syn_ns = 60 * NSEC_PER_SEC;
const volatile __u64 efw_ct_tcp_est_ns = 3600 * NSEC_PER_SEC;
const volatile __u64 efw_ct_tcp_close_ns = 10 * NSEC_PER_SEC;
const volatile __u64 efw_ct_udp_ns = 60 * NSEC_PER_SEC;
const volatile __u64 efw_ct_icmp_ns = 30 * NSEC_PER_SEC;
const volatile __s64 efw_ct_max = 65536;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_stats);
} stats SEC(".maps");

/* --- rule tables (rebuilt from the config; both sets live in each map) --- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_active);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EFW_SETS);
	__type(key, __u32);
	__type(value, struct efw_set_cfg);
} setcfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EFW_SETS * EFW_NGROUPS);
	__type(key, __u32);
	__type(value, struct efw_misc);
} misc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EFW_SETS * EFW_PORT_SLOTS);
	__type(key, __u32);
	__type(value, struct efw_ports);
} ports SEC(".maps");

/* Sized by the daemon ("max_rules"); LPM tries need BPF_F_NO_PREALLOC. */
#define EFW_LPM(name, keytype)                              \
	struct {                                            \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);        \
		__uint(max_entries, 65536);                 \
		__type(key, struct keytype);                \
		__type(value, struct efw_addr_regions);     \
		__uint(map_flags, BPF_F_NO_PREALLOC);       \
	} name SEC(".maps")

EFW_LPM(src4, efw_lpm4_key);
EFW_LPM(dst4, efw_lpm4_key);
EFW_LPM(src6, efw_lpm6_key);
EFW_LPM(dst6, efw_lpm6_key);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct efw_iif_key);
	__type(value, __u32);
} iifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct efw_match_key);
	__type(value, struct efw_match);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} matches SEC(".maps");

/* --- state kept across rule edits and re-applies --- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct efw_rule_stats);
} rule_stats SEC(".maps");

/* Counter slot -> rule id (empty: free). Only the daemon uses it; it lives
 * here so the mapping persists in bpffs across edits and restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct efw_rule_id);
} rule_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct efw_ct_key);
	__type(value, struct efw_ct_entry);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_ct_live);
} ct_live SEC(".maps");

/* Per-CPU copy of the packet's address regions, filled by the first group
 * that needs each direction: a packet decided by an address-less group (an
 * "established" rule on top) makes no LPM lookup at all. Kept in a map value
 * rather than on the stack so the group loop stays one verifier state. */
struct efw_addr_ctx {
	__u32 looked; /* bit 0: src filled, bit 1: dst filled */
	__u32 pad;
	__u32 src[EFW_ADDR_SLOTS];
	__u32 dst[EFW_ADDR_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_addr_ctx);
} scratch SEC(".maps");

/* ------------------------------------------------------------------------ */
/* Connection tracking                                                       */

struct efw_ct {
	struct efw_ct_key key;
	struct efw_ct_entry *entry; /* NULL: no live entry */
	__u8 from_a;                /* packet travels a -> b */
	__u8 trackable;             /* an allowed NEW packet creates an entry */
};

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

static __always_inline __u64 efw_ct_timeout(const struct efw_ct_key *k, const struct efw_ct_entry *e)
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

static __always_inline int efw_icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type < 128; /* ICMPv6 errors: 1..4 (and reserved 0..127) */
}

static __always_inline int efw_icmp_is_echo(__u8 proto, __u8 type, __u8 *is_request)
{
	if (proto == IPPROTO_ICMP) {
		*is_request = type == 8;
		return type == 8 || type == 0;
	}
	*is_request = type == 128;
	return type == 128 || type == 129;
}

/*
 * ICMP errors quote the packet they are about; if that packet belongs to a
 * tracked connection, the error is RELATED. The quoted header starts 8 bytes
 * into the ICMP message. Returns the state.
 */
static __always_inline __u32 efw_ct_related(struct xdp_md *ctx, const struct sfc_pkt *pkt, __u64 now,
					    struct efw_ct *ct, struct efw_stats *st)
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
		if (!efw_icmp_is_echo(proto, ih->type, &req))
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

		if (efw_icmp_is_error(proto, pkt->icmp_type))
			return efw_ct_related(ctx, pkt, now, ct, st);
		if (!efw_icmp_is_echo(proto, pkt->icmp_type, &req))
			return EFW_CT_NEW; /* other informational messages: untracked */
		sp = dp = pkt->sport; /* the echo identifier names the flow both ways */
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

/* ------------------------------------------------------------------------ */
/* Classification                                                            */

static __always_inline __u32 efw_proto_slot(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return EFW_PROTO_TCP;
	case IPPROTO_UDP:
		return EFW_PROTO_UDP;
	case IPPROTO_ICMP:
		return EFW_PROTO_ICMP;
	case IPPROTO_ICMPV6:
		return EFW_PROTO_ICMPV6;
	}
	return EFW_PROTO_OTHER;
}

static __always_inline __u32 efw_misc_key(const struct sfc_pkt *pkt, __u32 state)
{
	__u32 slot = efw_proto_slot(pkt->l4_proto);
	__u32 aux = 0;

	if (pkt->flags & SFC_PKT_F_FRAG_LATER)
		return efw_misc_index(slot + EFW_PROTO_FRAG, state, 0);
	if (slot == EFW_PROTO_TCP)
		aux = pkt->tcp_flags;
	else if (slot == EFW_PROTO_ICMP || slot == EFW_PROTO_ICMPV6)
		aux = pkt->icmp_type;
	return efw_misc_index(slot, state, aux);
}

static __always_inline struct efw_addr_regions *efw_lpm(int src, const struct sfc_pkt *pkt, __u8 set)
{
	const __u32 *addr = src ? pkt->saddr : pkt->daddr;

	if (pkt->l3_proto == ETH_P_IP) {
		struct efw_lpm4_key k = {.prefixlen = 8 + 32, .set = set};

		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(src ? (void *)&src4 : (void *)&dst4, &k);
	} else {
		struct efw_lpm6_key k = {.prefixlen = 8 + 128, .set = set};

		__builtin_memcpy(k.addr, addr, 16);
		return bpf_map_lookup_elem(src ? (void *)&src6 : (void *)&dst6, &k);
	}
}

/* A group's result packed in one scalar, so the group lookup can be a global
 * function: prio (32) | slot (24) | action (8); EFW_NO_MATCH when none. */
#define EFW_NO_MATCH (~0ULL)

static __always_inline __u64 efw_pack(const struct efw_match *m)
{
	return (__u64)m->prio << 32 | (__u64)(m->slot & 0xffffff) << 8 | m->action;
}

/*
 * One group's lookups. A global (non-inlined) function: the verifier checks
 * it once, instead of once per loop iteration and path of the caller, which
 * keeps the 32-group loop far below the instruction-processing limit.
 * `gs` is efw_gs(set, group); `iif_pslot` the interface id << 8 | port slot;
 * `addr` the packet's address regions for every group.
 */
__noinline __u64 efw_group_match(const struct sfc_pkt *pkt, __u32 gs, __u32 mkey, __u32 iif_pslot,
				 struct efw_addr_ctx *addr)
{
	struct efw_match_key key = {};
	__u32 set = (gs >> 5) & 1, g = gs & (EFW_NGROUPS - 1);
	struct efw_match *m;
	struct efw_misc *mr;
	__u32 idx;

	if (!pkt || !addr)
		return EFW_NO_MATCH;
	key.gs = gs;
	idx = set * EFW_NGROUPS + g;
	mr = bpf_map_lookup_elem(&misc, &idx);
	if (!mr)
		return EFW_NO_MATCH;
	key.misc = mr->region[mkey & (EFW_MISC_SIZE - 1)];
	if (!key.misc)
		return EFW_NO_MATCH;

	if (g & EFW_G_SRC) {
		if (!(addr->looked & 1)) {
			struct efw_addr_regions *r = efw_lpm(1, pkt, set);

			if (r)
				__builtin_memcpy(addr->src, r->region, sizeof(addr->src));
			else
				__builtin_memset(addr->src, 0, sizeof(addr->src));
			addr->looked |= 1;
		}
		key.src = addr->src[efw_src_slot(g)];
		if (!key.src)
			return EFW_NO_MATCH;
	}
	if (g & EFW_G_DST) {
		if (!(addr->looked & 2)) {
			struct efw_addr_regions *r = efw_lpm(0, pkt, set);

			if (r)
				__builtin_memcpy(addr->dst, r->region, sizeof(addr->dst));
			else
				__builtin_memset(addr->dst, 0, sizeof(addr->dst));
			addr->looked |= 2;
		}
		key.dst = addr->dst[efw_dst_slot(g)];
		if (!key.dst)
			return EFW_NO_MATCH;
	}
	if (g & (EFW_G_SPORT | EFW_G_DPORT)) {
		struct efw_ports *pr;
		__u32 pidx = iif_pslot & 0xff;

		/* The misc region already excluded packets without ports. */
		if (pidx >= EFW_PORT_SLOTS || !(pkt->flags & SFC_PKT_F_L4))
			return EFW_NO_MATCH;
		pidx += set * EFW_PORT_SLOTS;
		pr = bpf_map_lookup_elem(&ports, &pidx);
		if (!pr)
			return EFW_NO_MATCH;
		if (g & EFW_G_SPORT) {
			key.sport = pr->sport[bpf_ntohs(pkt->sport)];
			if (!key.sport)
				return EFW_NO_MATCH;
		}
		if (g & EFW_G_DPORT) {
			key.dport = pr->dport[bpf_ntohs(pkt->dport)];
			if (!key.dport)
				return EFW_NO_MATCH;
		}
	}
	if (g & EFW_G_IIF) {
		key.iif = iif_pslot >> 8;
		if (!key.iif)
			return EFW_NO_MATCH;
	}

	m = bpf_map_lookup_elem(&matches, &key);
	return m ? efw_pack(m) : EFW_NO_MATCH;
}

/*
 * The first rule matching the packet in set `set`, packed, or EFW_NO_MATCH.
 * Groups are visited by ascending best-rule priority, so once a match beats
 * the next group's best rule nothing later can win.
 */
static __always_inline __u64 efw_classify(const struct sfc_pkt *pkt, __u32 set,
					  const struct efw_set_cfg *cfg, __u32 state)
{
	__u32 mkey = efw_misc_key(pkt, state);
	__u32 ngroups = cfg->ngroups;
	struct efw_addr_ctx *ac;
	__u64 best = EFW_NO_MATCH;
	__u32 iif = 0, i, zero = 0;

	if (cfg->has_iif) {
		struct efw_iif_key ik = {.ifindex = pkt->ifindex, .set = set};
		__u32 *v = bpf_map_lookup_elem(&iifs, &ik);

		if (v)
			iif = *v & 0xffffff;
	}

	/* At most one LPM lookup per direction, by the first group needing it. */
	ac = bpf_map_lookup_elem(&scratch, &zero);
	if (!ac)
		return EFW_NO_MATCH;
	ac->looked = 0;

	for (i = 0; i < EFW_NGROUPS; i++) {
		__u32 g;
		__u64 m;

		if (i >= ngroups)
			break;
		if ((best >> 32) < cfg->gmin[i])
			break;
		g = cfg->groups[i] & (EFW_NGROUPS - 1);
		m = efw_group_match(pkt, efw_gs(set, g), mkey, iif << 8 | cfg->pslot[g], ac);
		if (m < best)
			best = m;
	}
	return best;
}

/* ------------------------------------------------------------------------ */
/* Verdict cache                                                             */

/*
 * The rule a connection's packets match does not change from one packet to
 * the next unless the rule set, the packet's connection state or its TCP
 * flags do (addresses, ports and protocol are the connection's own; rules on
 * the ingress interface turn the cache off). So the classification is kept in
 * the conntrack entry, per direction, as one word:
 *   epoch (24) | TCP flags (8) | state (3) | action (2) | counter slot (24)
 * and the next packet whose epoch, state and flags agree skips the
 * classifier: no LPM, port or match-table lookup.
 */
#define EFW_V_SLOT_DEFAULT 0xffffffULL /* no rule matched: the default action */

static __always_inline __u64 efw_verdict_pack(__u32 epoch, __u32 state, __u8 flags, __u32 slot,
					      __u8 action)
{
	return (__u64)(epoch & EFW_EPOCH_MASK) << 40 | (__u64)flags << 32 | (__u64)(state & 7) << 29 |
	       (__u64)(action & 3) << 24 | (slot & 0xffffff);
}

/* The flags a verdict depends on: none unless some rule looks at them. */
static __always_inline __u8 efw_verdict_flags(const struct sfc_pkt *pkt,
					      const struct efw_set_cfg *cfg)
{
	return cfg->has_tcp_flags && pkt->l4_proto == IPPROTO_TCP ? pkt->tcp_flags : 0;
}

/* ------------------------------------------------------------------------ */
/* Reject: build the reply in place                                          */

/* Longest L2 header the parser accepts: Ethernet + two VLAN tags. */
#define EFW_L2_MAX 22
#define EFW_QUOTE6_MAX 128
#define EFW_QUOTE_WORDS (EFW_QUOTE6_MAX / 4)

static __always_inline void efw_swap_macs(void *data)
{
	__u8 tmp[6];

	__builtin_memcpy(tmp, data, 6);
	__builtin_memcpy(data, data + 6, 6);
	__builtin_memcpy(data + 6, tmp, 6);
}

static __always_inline void efw_ipv4_hdr(struct iphdr *iph, __u16 tot_len, __u8 proto,
					 __be32 saddr, __be32 daddr)
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

	reply_len = l3 + (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) + sizeof(struct tcphdr);
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
		efw_ipv4_hdr(iph, sizeof(*iph) + sizeof(*th), IPPROTO_TCP, pkt->daddr[0], pkt->saddr[0]);
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
	th->check = ~sfc_csum_fold(sfc_csum_add(th, sizeof(*th),
						efw_pseudo_sum(pkt, IPPROTO_TCP, sizeof(*th))));
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
	    (pkt->flags & SFC_PKT_F_L4) && efw_icmp_is_error(pkt->l4_proto, pkt->icmp_type))
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

/* ------------------------------------------------------------------------ */

static __always_inline void efw_count_state(struct efw_stats *st, __u32 state)
{
	switch (state) {
	case EFW_CT_NEW:
		st->ct_new++;
		break;
	case EFW_CT_ESTABLISHED:
		st->ct_established++;
		break;
	case EFW_CT_RELATED:
		st->ct_related++;
		break;
	case EFW_CT_INVALID:
		st->ct_invalid++;
		break;
	default:
		st->ct_untracked++;
		break;
	}
}

SEC("xdp")
int sfc_efw(struct xdp_md *ctx)
{
	struct efw_stats *st = sfc_vnf_stats_lookup(&stats);
	struct sfc_pkt *pkt = sfc_pkt_ctx();
	__u64 best;
	struct efw_set_cfg *cfg;
	struct efw_active *act;
	struct efw_ct ct;
	__u32 zero = 0, set, state, slot, dir;
	__u64 now, verdict = 0;
	__u8 action, flags;

	if (!st || !pkt)
		return sfc_vnf_broken();
	sfc_vnf_account_rx((struct sfc_vnf_stats *)st, pkt);
	if (pkt->l3_proto != ETH_P_IP && pkt->l3_proto != ETH_P_IPV6)
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);

	act = bpf_map_lookup_elem(&active, &zero);
	if (!act)
		return sfc_vnf_broken();
	set = act->set & 1;
	cfg = bpf_map_lookup_elem(&setcfg, &set);
	if (!cfg)
		return sfc_vnf_broken();

	now = pkt->ts_ns; /* the chain entry's clock read serves every VNF */
	state = efw_ct_state(ctx, pkt, now, &ct, st);
	efw_count_state(st, state);

	/* A connection's verdict, cached or classified now. */
	flags = efw_verdict_flags(pkt, cfg);
	dir = ct.from_a & 1;
	if (ct.entry && !cfg->has_iif) {
		verdict = ct.entry->verdict[dir];
		if (verdict >> 40 != (act->epoch & EFW_EPOCH_MASK) || (verdict >> 32 & 0xff) != flags ||
		    (verdict >> 29 & 7) != state)
			verdict = 0;
	}
	if (verdict) {
		st->verdict_cached++;
	} else {
		best = efw_classify(pkt, set, cfg, state);
		verdict = efw_verdict_pack(act->epoch, state, flags,
					   best == EFW_NO_MATCH ? EFW_V_SLOT_DEFAULT : (best >> 8) & 0xffffff,
					   best == EFW_NO_MATCH ? cfg->default_action : best & 0xff);
		if (ct.entry && !cfg->has_iif)
			ct.entry->verdict[dir] = verdict;
	}

	slot = verdict & 0xffffff;
	action = (verdict >> 24) & 3;
	if (slot != EFW_V_SLOT_DEFAULT) {
		struct efw_rule_stats *rs = bpf_map_lookup_elem(&rule_stats, &slot);

		if (rs) {
			rs->packets++;
			rs->bytes += pkt->pkt_len;
		}
	} else if (action == EFW_ALLOW) {
		st->default_allow++;
	} else {
		st->default_drop++;
	}

	if (action == EFW_ALLOW) {
		st->allow++;
		efw_ct_commit(pkt, now, &ct, st);
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
	}
	if (action == EFW_REJECT) {
		if (efw_reject(ctx, pkt) == 0) {
			st->reject++;
			return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_TX);
		}
		st->reject_failed++;
	}
	return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
