/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eFW classification: the first rule of the active set that matches a
 * packet, by rule group (docs/firewall.md, "Classifier"). Included once, by
 * efw.bpf.c.
 */
#ifndef EFW_CLASSIFIER_H
#define EFW_CLASSIFIER_H

#include "efw_maps.h"

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

/* The network-order mask of the bits a prefix of `len` keeps in the address
 * word starting at bit `word_start`. */
static __always_inline __u32 efw_word_mask(__u32 len, __u32 word_start)
{
	if (len <= word_start)
		return 0;
	if (len - word_start >= 32)
		return 0xffffffff;
	return bpf_htonl(~0U << (32 - (len - word_start)));
}

static __always_inline struct efw_addr_regions *efw_pfx_probe(const __u32 *addr, int v6,
							      __u32 table, __u8 set, __u32 len)
{
	if (!v6) {
		struct efw_pfx4_key k = {.set = set, .table = table, .len = len};
		__u32 a = addr[0] & efw_word_mask(len, 0);

		__builtin_memcpy(k.addr, &a, 4);
		return bpf_map_lookup_elem(&pfx4, &k);
	} else {
		struct efw_pfx6_key k = {.set = set, .table = table, .len = len};
		__u32 a[4] = {
			addr[0] & efw_word_mask(len, 0),
			addr[1] & efw_word_mask(len, 32),
			addr[2] & efw_word_mask(len, 64),
			addr[3] & efw_word_mask(len, 96),
		};

		__builtin_memcpy(k.addr, a, 16);
		return bpf_map_lookup_elem(&pfx6, &k);
	}
}

/* Longest-prefix match in a prefix hash. Every stored prefix has an entry
 * at the table's shortest length (itself, or a marker without regions), so
 * that length is probed first and a miss there is a miss: an address
 * outside every prefix costs one probe. Otherwise the longer lengths are
 * probed longest first, and the shortest length's entry is the answer when
 * none of them holds the address. */
static __always_inline struct efw_addr_regions *
efw_pfx_hash(const __u32 *addr, int v6, __u32 table, __u8 set, const struct efw_set_cfg *cfg)
{
	struct efw_addr_regions *shortest, *r;
	__u32 i, n = cfg->nlens[table];

	if (!n || n > EFW_HASH_LENS)
		return NULL;
	shortest = efw_pfx_probe(addr, v6, table, set,
				 cfg->lens[table][(n - 1) & (EFW_HASH_LENS - 1)]);
	if (!shortest)
		return NULL;
	for (i = 0; i < EFW_HASH_LENS - 1; i++) {
		if (i >= n - 1)
			break;
		r = efw_pfx_probe(addr, v6, table, set, cfg->lens[table][i]);
		if (r)
			return r;
	}
	return shortest;
}

/* The regions of the packet's source or destination address in `set`: from
 * the prefix hash or the trie, whichever holds that address table. */
static __always_inline struct efw_addr_regions *efw_addr_lookup(int src, const struct sfc_pkt *pkt,
								__u32 set)
{
	const __u32 *addr = src ? pkt->saddr : pkt->daddr;
	int v6 = pkt->l3_proto != ETH_P_IP;
	__u32 table = efw_addr_table(src, v6) & (EFW_ADDR_TABLES - 1);
	struct efw_set_cfg *cfg = bpf_map_lookup_elem(&setcfg, &set);

	if (!cfg)
		return NULL;
	if (cfg->nlens[table])
		return efw_pfx_hash(addr, v6, table, set, cfg);
	if (!v6) {
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

/* A group's interface id and tables, packed for efw_group_match (a global
 * function takes at most five arguments): interface id (16) | the group
 * matches app fields (bit 8) | port slot (8). Interface ids are at most the
 * `iifs` map's size. */
#define EFW_SLOTS_APP (1U << 8)

static __always_inline __u32 efw_slots(__u32 iif, __u32 app, __u32 pslot)
{
	return (iif & 0xffff) << 16 | (app ? EFW_SLOTS_APP : 0) | (pslot & 0xff);
}

/*
 * One group's lookups. A global (non-inlined) function: the verifier checks
 * it once, instead of once per loop iteration and path of the caller, which
 * keeps the 32-group loop far below the instruction-processing limit.
 * `gs` is efw_gs(set, group); `slots` efw_slots() of the group;
 * `addr` the packet's address regions for every group.
 */
__noinline __u64 efw_group_match(const struct sfc_pkt *pkt, __u32 gs, __u32 mkey, __u32 slots,
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
			struct efw_addr_regions *r = efw_addr_lookup(1, pkt, set);

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
			struct efw_addr_regions *r = efw_addr_lookup(0, pkt, set);

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
		__u32 pidx = slots & 0xff;

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
		key.iif = slots >> 16;
		if (!key.iif)
			return EFW_NO_MATCH;
	}
	/* Rule sets without app fields pay this one test per group. */
	if (slots & EFW_SLOTS_APP) {
		__u32 aidx = set * EFW_NGROUPS + g;
		__u32 app = pkt->app < EFW_APP_IDS ? pkt->app : EFW_APP_IDS - 1;
		struct efw_apps *ar = bpf_map_lookup_elem(&apps, &aidx);

		if (!ar)
			return EFW_NO_MATCH;
		key.app = ar->app[app & (EFW_APP_IDS - 1)];
		key.category = ar->category[pkt->app_category];
		if (!key.app || !key.category)
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
			iif = *v & 0xffff;
	}

	/* At most one address lookup per direction, by the first group needing it. */
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
		m = efw_group_match(pkt, efw_gs(set, g), mkey,
				    efw_slots(iif, cfg->app_groups & (1U << g), cfg->pslot[g]), ac);
		if (m < best)
			best = m;
	}
	return best;
}

#endif /* EFW_CLASSIFIER_H */
