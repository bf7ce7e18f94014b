// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * eLB: L4 load balancer. Traffic to a service (VIP, protocol, port) gets a
 * backend from the service's Maglev table, keeps it for the life of the
 * connection (LRU connection table) and is either DNAT-ed to the backend
 * (replies coming back through the chain get their source turned back into
 * the VIP) or, in DSR mode, sent to the backend's MAC untouched above L2.
 * Everything else passes untouched.
 */
#include <sfc/vnf.h>
#include <sfc/csum.h>

#include "elb.h"

/* Sized by the daemon from the config (max_connections) before load. */
#define ELB_DEFAULT_CONNS 1048576
/* Refresh a connection's reverse-NAT entry (and its timestamp) at most this often. */
#define ELB_REFRESH_NS    1000000000ULL
/* TCP flags that start or end a connection: only segments with one of them
 * take the connection-state paths below. */
#define ELB_TCP_LIFECYCLE (SFC_TCP_SYN | SFC_TCP_FIN | SFC_TCP_RST)

_Static_assert(ELB_MAX_SERVICES <= 65536, "struct elb_conn keeps the service index in 16 bits");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elb_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ELB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct elb_svc_key);
	__type(value, struct elb_service);
} services SEC(".maps");

/* Lets traffic that is not for a service skip lookups it cannot need. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elb_settings);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_RNAT_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} rnat_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_VIP_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} vip_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ELB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct elb_vip_key);
	__type(value, __u32); /* number of services on the VIP */
} vips SEC(".maps");

/* Tables of different (prime) sizes share one template: BPF_F_INNER_MAP lets
 * the daemon swap in arrays whose max_entries differ from the template's. */
struct elb_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32); /* backend slot, 0: none */
};

/* Service index -> its Maglev table; replaced whole, with one update, whenever
 * the backend set, a weight or a backend's health changes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ELB_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct elb_table);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct elb_backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct elb_backend_stats);
} backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ELB_DEFAULT_CONNS);
	__type(key, struct elb_flow_key);
	__type(value, struct elb_conn);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ELB_DEFAULT_CONNS);
	__type(key, struct elb_flow_key);
	__type(value, struct elb_rnat);
} reverse_nat SEC(".maps");

static __always_inline __u32 elb_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* Flow hash over the client-side 5-tuple. Fixed seed: every LB instance (and
 * every restart) maps a flow to the same table slot. */
static __always_inline __u32 elb_flow_hash(const struct sfc_pkt *pkt)
{
	__u32 h = 0x5bd1e995u ^ pkt->l4_proto;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		h = elb_rotl(h ^ pkt->saddr[i], 7) * 0x9e3779b1u;
		h = elb_rotl(h ^ pkt->daddr[i], 7) * 0x9e3779b1u;
	}
	h = elb_rotl(h ^ (((__u32)pkt->sport << 16) | pkt->dport), 7) * 0x9e3779b1u;
	/* Avalanche, so that the modulo by the table size sees every input bit. */
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

/* Whether the packet's destination may be a VIP (see vip_filter in elb.h). */
static __always_inline int elb_maybe_vip(const struct sfc_pkt *pkt)
{
	__u32 bit = elb_vip_bit(pkt->daddr);
	__u32 word = bit >> 6;
	__u64 *bits = bpf_map_lookup_elem(&vip_filter, &word);

	return bits && (*bits & (1ULL << (bit & 63)));
}

static __always_inline void elb_flow_key_of(struct elb_flow_key *k, const struct sfc_pkt *pkt)
{
	__builtin_memcpy(k->saddr, pkt->saddr, sizeof(k->saddr));
	__builtin_memcpy(k->daddr, pkt->daddr, sizeof(k->daddr));
	k->sport = pkt->sport;
	k->dport = pkt->dport;
	k->proto = pkt->l4_proto;
	k->family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
}

/*
 * Rewrites the destination (dst != 0) or source address, and the port unless
 * `port` is 0, and patches the IPv4 header checksum and the TCP/UDP checksum
 * (its pseudo-header covers the addresses) incrementally. Returns 0, or -1
 * when a header is out of reach.
 */
static __always_inline int elb_nat(struct xdp_md *ctx, const struct sfc_pkt *pkt, int dst,
				   const __u32 *addr, __be16 port)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = pkt->l3_off;
	__u32 l4_off = pkt->l4_off;
	__sum16 *csum_p;
	__be16 *port_p;
	__sum16 csum;
	int udp = pkt->l4_proto == IPPROTO_UDP;

	if (l3_off > SFC_MAX_L4_OFF || l4_off > SFC_MAX_L4_OFF)
		return -1;
	if (udp) {
		struct udphdr *uh = data + l4_off;

		if ((void *)(uh + 1) > data_end)
			return -1;
		csum_p = &uh->check;
		port_p = dst ? &uh->dest : &uh->source;
	} else {
		struct tcphdr *th = data + l4_off;

		if ((void *)(th + 1) > data_end)
			return -1;
		csum_p = &th->check;
		port_p = dst ? &th->dest : &th->source;
	}
	csum = *csum_p;

	if (pkt->l3_proto == ETH_P_IP) {
		struct iphdr *iph = data + l3_off;
		__be32 old;

		if ((void *)(iph + 1) > data_end)
			return -1;
		old = dst ? iph->daddr : iph->saddr;
		iph->check = sfc_csum_replace4(iph->check, old, addr[0]);
		csum = sfc_csum_replace4(csum, old, addr[0]);
		if (dst)
			iph->daddr = addr[0];
		else
			iph->saddr = addr[0];
		/* IPv4 UDP may go without a checksum; keep it that way. */
		if (udp && *csum_p == 0)
			goto ports_only;
	} else {
		struct ipv6hdr *ip6h = data + l3_off;
		__u32 old[4];
		__u32 *a;

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		a = dst ? (__u32 *)&ip6h->daddr : (__u32 *)&ip6h->saddr;
		__builtin_memcpy(old, a, sizeof(old));
		csum = sfc_csum_replace16(csum, old, addr);
		__builtin_memcpy(a, addr, sizeof(old));
	}

	if (port && port != *port_p)
		csum = sfc_csum_replace2(csum, *port_p, port);
	/* In UDP a computed 0 is sent as 0xffff; 0 means "no checksum". */
	if (udp && csum == 0)
		csum = 0xffff;
	*csum_p = csum;
ports_only:
	if (port)
		*port_p = port;
	return 0;
}

/* L2 DSR: the frame goes to the backend's MAC, from ours (the MAC the client
 * addressed); IP and L4 stay as they are, the backend holds the VIP. */
static __always_inline int elb_dsr(struct xdp_md *ctx, const struct elb_backend *be)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	return 0;
}

static __always_inline void elb_count_backend(__u32 slot, const struct sfc_pkt *pkt, int new_conn)
{
	struct elb_backend_stats *bs = bpf_map_lookup_elem(&backend_stats, &slot);

	if (!bs)
		return;
	bs->packets++;
	bs->bytes += pkt->pkt_len;
	if (new_conn)
		bs->connections++;
}

/* Key of the reverse-NAT entry of a connection to `be`: the reply's tuple
 * (backend:port -> client). */
static __always_inline void
elb_reverse_key_of(struct elb_flow_key *rk, const struct elb_backend *be, const struct sfc_pkt *pkt)
{
	__builtin_memcpy(rk->saddr, be->addr, sizeof(rk->saddr));
	__builtin_memcpy(rk->daddr, pkt->saddr, sizeof(rk->daddr));
	rk->sport = be->port ? be->port : pkt->dport;
	rk->dport = pkt->sport;
	rk->proto = pkt->l4_proto;
	rk->family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
}

/* --- TCP connection life: SYN, FIN and RST segments only ---------------------
 *
 * `state` is updated with plain read-modify-writes, not atomics: the FINs of
 * the two sides racing on two CPUs within the same few nanoseconds can lose a
 * bit, and then the entry is not marked closed and stays until the LRU
 * recycles it or a SYN reuses its tuple. Nothing is misrouted by that.
 */

/* A SYN that opens a connection: not a SYN-ACK, no RST. */
static __always_inline int elb_is_syn(__u8 flags)
{
	return (flags & (SFC_TCP_SYN | SFC_TCP_ACK | SFC_TCP_RST)) == SFC_TCP_SYN;
}

/* The segment's sequence number (network order; only compared), 0 if the
 * header is out of reach (it cannot be: the parser checked it). */
static __always_inline __u32 elb_tcp_seq(struct xdp_md *ctx, const struct sfc_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = pkt->l4_off;
	struct tcphdr *th;

	if (off > SFC_MAX_L4_OFF)
		return 0;
	th = data + off;
	if ((void *)(th + 1) > data_end)
		return 0;
	return th->seq;
}

static __always_inline void elb_conn_close(struct elb_conn *ct, const struct sfc_pkt *pkt,
					   struct elb_stats *st)
{
	if (ct->state & ELB_CONN_F_CLOSED)
		return;
	ct->state |= ELB_CONN_F_CLOSED;
	ct->seen_ns = pkt->ts_ns; /* the close timeout starts now */
	st->closed_conns++;
}

/* FIN or RST from the client. DSR replies bypass us, so there the client's
 * FIN is all we will see of the end. */
static __always_inline void elb_conn_client_end(struct elb_conn *ct, const struct sfc_pkt *pkt,
						const struct elb_service *svc, struct elb_stats *st)
{
	if (pkt->tcp_flags & SFC_TCP_RST) {
		elb_conn_close(ct, pkt, st);
		return;
	}
	ct->state |= ELB_CONN_F_FIN_CLIENT;
	if ((ct->state & ELB_CONN_F_FIN_BACKEND) || svc->mode == ELB_MODE_DSR)
		elb_conn_close(ct, pkt, st);
}

/*
 * A SYN, FIN or RST from the client of a known connection. Returns the entry
 * to go on with, or NULL when the segment is the SYN of a new connection on
 * the same tuple (a client reusing its ports): that one takes a fresh pick,
 * which honours weight 0 and health, and overwrites the entry.
 */
static __always_inline struct elb_conn *
elb_conn_lifecycle(struct xdp_md *ctx, const struct sfc_pkt *pkt, struct elb_stats *st,
		   const struct elb_service *svc, struct elb_conn *ct)
{
	if (elb_is_syn(pkt->tcp_flags)) {
		struct elb_flow_key rk = {};
		struct elb_backend *old;
		__u32 slot = ct->slot;

		/* Its own SYN again (the SYN-ACK was lost): the same connection. */
		if ((ct->state & (ELB_CONN_F_SYN | ELB_CONN_F_CLOSED)) == ELB_CONN_F_SYN &&
		    ct->syn_seq == elb_tcp_seq(ctx, pkt))
			return ct;
		/* The old connection's reverse entry goes with it. */
		old = bpf_map_lookup_elem(&backends, &slot);
		if (svc->mode == ELB_MODE_DNAT && old && old->id == ct->backend_id) {
			elb_reverse_key_of(&rk, old, pkt);
			bpf_map_delete_elem(&reverse_nat, &rk);
		}
		st->reopened_conns++;
		return NULL;
	}
	if (pkt->tcp_flags & (SFC_TCP_FIN | SFC_TCP_RST))
		elb_conn_client_end(ct, pkt, svc, st);
	return ct;
}

/*
 * A FIN or RST from the backend, on the reply path of a DNAT-ed connection:
 * marks its entry (keyed by the client's tuple: client -> VIP:port). The
 * backend must be the one the entry names; the tuple may have moved on to a
 * new connection on another backend since.
 */
static __always_inline void elb_conn_backend_end(const struct sfc_pkt *pkt, struct elb_stats *st,
						 const struct elb_rnat *rn)
{
	struct elb_flow_key k = {};
	struct elb_backend *be;
	struct elb_conn *ct;
	__u32 slot;

	__builtin_memcpy(k.saddr, pkt->daddr, sizeof(k.saddr));
	__builtin_memcpy(k.daddr, rn->vip, sizeof(k.daddr));
	k.sport = pkt->dport;
	k.dport = rn->vport;
	k.proto = pkt->l4_proto;
	k.family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
	ct = bpf_map_lookup_elem(&conntrack, &k);
	if (!ct)
		return;
	slot = ct->slot;
	be = bpf_map_lookup_elem(&backends, &slot);
	if (!be || be->id != ct->backend_id || (be->port ? be->port : rn->vport) != pkt->sport ||
	    be->addr[0] != pkt->saddr[0] || be->addr[1] != pkt->saddr[1] ||
	    be->addr[2] != pkt->saddr[2] || be->addr[3] != pkt->saddr[3])
		return;
	if (pkt->tcp_flags & SFC_TCP_RST) {
		elb_conn_close(ct, pkt, st);
		return;
	}
	ct->state |= ELB_CONN_F_FIN_BACKEND;
	if (ct->state & ELB_CONN_F_FIN_CLIENT)
		elb_conn_close(ct, pkt, st);
}

/* Maglev pick for a connection the table does not know (or must re-balance). */
static __always_inline struct elb_backend *elb_pick(const struct sfc_pkt *pkt,
						    const struct elb_service *svc, __u32 *slot_out)
{
	__u32 pos, *slot;
	void *table;

	table = bpf_map_lookup_elem(&maglev, &svc->index);
	if (!table || !svc->table_size)
		return NULL;
	pos = elb_flow_hash(pkt) % svc->table_size;
	slot = bpf_map_lookup_elem(table, &pos);
	if (!slot || !*slot)
		return NULL;
	*slot_out = *slot;
	return bpf_map_lookup_elem(&backends, slot);
}

/*
 * Sends a packet of a connection to its backend: DSR (MAC only) or DNAT. The
 * service's mode comes with the backend (struct elb_backend.svc_mode), so a
 * known connection needs no service lookup. `ct` is the connection's entry
 * (NULL when it was just created).
 */
static __always_inline int elb_send(struct xdp_md *ctx, struct sfc_pkt *pkt, struct elb_stats *st,
				    struct elb_conn *ct, const struct elb_backend *be, __u32 slot,
				    int new_conn)
{
	elb_count_backend(slot, pkt, new_conn);

	if (be->svc_mode == ELB_MODE_DSR) {
		if (elb_dsr(ctx, be)) {
			st->bad_header++;
			return sfc_vnf_drop(ctx, pkt, (struct sfc_vnf_stats *)st,
					    SFC_REASON_LB_BAD_HEADER, 0);
		}
		st->dsr++;
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st,
				      (be->svc_flags & ELB_SVC_F_DSR_TX) ? SFC_TX : SFC_NEXT);
	}

	/* DNAT. The reply (backend:port -> client) finds its way back to the VIP
	 * through reverse_nat; re-assert that entry with the connection, and at
	 * most once a second after, in case the LRU evicted it. */
	if (new_conn || (ct && pkt->ts_ns - ct->seen_ns > ELB_REFRESH_NS)) {
		struct elb_flow_key rk = {};
		struct elb_rnat rn = {};

		elb_reverse_key_of(&rk, be, pkt);
		__builtin_memcpy(rn.vip, pkt->daddr, sizeof(rn.vip));
		rn.vport = pkt->dport;
		bpf_map_update_elem(&reverse_nat, &rk, &rn, BPF_ANY);
		if (ct)
			ct->seen_ns = pkt->ts_ns;
	}
	if (elb_nat(ctx, pkt, 1, be->addr, be->port)) {
		st->bad_header++;
		return sfc_vnf_drop(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_REASON_LB_BAD_HEADER,
				    0);
	}
	/* Later stages (fib egress, other VNFs) read the parse result. */
	__builtin_memcpy(pkt->daddr, be->addr, sizeof(pkt->daddr));
	if (be->port)
		pkt->dport = be->port;
	st->dnat++;
	return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
}

/* The backend a known connection keeps: the one it has, unless that was
 * removed (its slot is empty or someone else's now) or failed; drained
 * backends (weight 0) keep their connections. NULL: re-balance. */
static __always_inline struct elb_backend *elb_conn_backend(const struct elb_conn *ct,
							    __u32 svc_index)
{
	__u32 slot = ct->slot;
	struct elb_backend *be = bpf_map_lookup_elem(&backends, &slot);

	if (be && be->id == ct->backend_id && be->svc_index == svc_index &&
	    ct->svc_index == svc_index && !(be->flags & ELB_BE_F_DOWN))
		return be;
	return NULL;
}

/* A packet for service `svc`: its connection's backend, or a new pick.
 * `ct` is the entry the caller found for the packet's 5-tuple `fk`, if any. */
static __always_inline int elb_forward(struct xdp_md *ctx, struct sfc_pkt *pkt,
				       struct elb_stats *st, const struct elb_service *svc,
				       struct elb_conn *ct, const struct elb_flow_key *fk)
{
	struct elb_backend *be = NULL;
	__u32 slot = 0;
	int new_conn = 0;

	st->vip_packets++;
	/* UDP has no TCP flags; TCP segments without SYN/FIN/RST skip this. */
	if (ct && (pkt->tcp_flags & ELB_TCP_LIFECYCLE))
		ct = elb_conn_lifecycle(ctx, pkt, st, svc, ct);
	if (ct) {
		be = elb_conn_backend(ct, svc->index);
		if (be) {
			slot = ct->slot;
			st->reused_conns++;
		} else {
			st->repicked_conns++;
		}
	}
	if (!be) {
		struct elb_conn nc = {};

		be = elb_pick(pkt, svc, &slot);
		if (!be || !be->id || be->svc_index != svc->index) {
			st->no_backend++;
			return sfc_vnf_drop(ctx, pkt, (struct sfc_vnf_stats *)st,
					    SFC_REASON_LB_NO_BACKEND, svc->index);
		}
		/* The entry found (if any) is replaced or left alone below:
		 * nothing may write through this pointer any more. */
		ct = NULL;
		/* An RST of a connection we do not know (or one being
		 * re-balanced) goes where the table says, but opens nothing. */
		if (!(pkt->tcp_flags & SFC_TCP_RST)) {
			nc.backend_id = be->id;
			nc.slot = slot;
			nc.svc_index = svc->index;
			nc.seen_ns = pkt->ts_ns;
			if (elb_is_syn(pkt->tcp_flags)) {
				nc.state = ELB_CONN_F_SYN;
				nc.syn_seq = elb_tcp_seq(ctx, pkt);
			} else if (pkt->tcp_flags & SFC_TCP_FIN) {
				elb_conn_client_end(&nc, pkt, svc, st);
			}
			if (bpf_map_update_elem(&conntrack, fk, &nc, BPF_ANY))
				st->ct_full++;
			st->new_conns++;
			new_conn = 1;
		}
	}
	return elb_send(ctx, pkt, st, ct, be, slot, new_conn);
}

/*
 * Where an ICMP error's quoted TCP/UDP header sits, and what in it must follow
 * a rewrite of the quoted address and port.
 */
struct elb_quote {
	__be16 *ports;   /* [0] source, [1] destination */
	__sum16 *l4csum; /* NULL when not quoted (or UDP without checksum) */
};

static __always_inline void elb_quote_ports(void *l4, void *data_end, __u8 proto,
					    struct elb_quote *q)
{
	q->ports = l4;
	q->l4csum = NULL;
	if (proto == IPPROTO_TCP) {
		if (l4 + 18 <= data_end)
			q->l4csum = l4 + 16;
	} else if (l4 + 8 <= data_end && *(__sum16 *)(l4 + 6)) {
		q->l4csum = l4 + 6;
	}
}

/*
 * Rewrites quoted port `idx` (0 source, 1 destination) to `port` and updates
 * the quoted L4 checksum and the ICMP checksum (which covers the quote) for
 * it and for the quoted address change (old -> new, `words` 32-bit words)
 * the caller made. Returns the new ICMP checksum.
 */
static __always_inline __sum16 elb_quote_fix(struct elb_quote *q, int idx, __be16 port,
					     const __u32 *old, const __u32 *new, int words,
					     __sum16 icmp)
{
	__be16 old_port = q->ports[idx];
	int i;

	if (q->l4csum) {
		__sum16 was = *q->l4csum, now = was;

#pragma unroll
		for (i = 0; i < 4; i++)
			if (i < words)
				now = sfc_csum_replace4(now, old[i], new[i]);
		if (port && port != old_port)
			now = sfc_csum_replace2(now, old_port, port);
		*q->l4csum = now;
		icmp = sfc_csum_replace2(icmp, was, now);
	}
	if (port && port != old_port) {
		q->ports[idx] = port;
		icmp = sfc_csum_replace2(icmp, old_port, port);
	}
	return icmp;
}

/*
 * An ICMP error about a DNAT-ed connection. The client knows its connection
 * as client <-> VIP, the backend as client <-> backend, so an error quoting
 * one side's view must be turned into the other's before it gets there:
 *  - quote client -> backend:port (e.g. fragmentation needed on the way to
 *    the backend, or the backend's port unreachable), going to the client:
 *    the quoted destination becomes VIP:port (found in reverse_nat), and so
 *    does the outer source when the backend itself sent it;
 *  - quote VIP:port -> client (about a reply), sent to the VIP: the quoted
 *    source and the outer destination become the backend (found in conntrack).
 * Only quotes with a plain IP header (no IPv4 options, no IPv6 extension
 * headers) are translated; anything else passes as it is.
 */
static __always_inline int elb_icmp_error(struct xdp_md *ctx, struct sfc_pkt *pkt,
					  struct elb_stats *st)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = pkt->l3_off, l4_off = pkt->l4_off;
	struct sfc_icmp_hdr *ic;
	struct elb_flow_key k = {};
	struct elb_quote q;
	__u32 old[4], new[4] = {};
	int v4 = pkt->l3_proto == ETH_P_IP;
	void *qip, *ql4;
	__u8 qproto;
	__u32 *qsrc, *qdst;
	__be16 port;
	int to_client;

	if (l3_off > SFC_MAX_L4_OFF || l4_off > SFC_MAX_L4_OFF)
		return 0;
	ic = data + l4_off;
	qip = (void *)(ic + 1);
	if (v4) {
		struct iphdr *q4 = qip;

		if ((void *)(q4 + 1) > data_end || q4->version != 4 || q4->ihl != 5)
			return 0;
		qproto = q4->protocol;
		qsrc = &q4->saddr;
		qdst = &q4->daddr;
		ql4 = q4 + 1;
	} else {
		struct ipv6hdr *q6 = qip;

		if ((void *)(q6 + 1) > data_end || q6->version != 6)
			return 0;
		qproto = q6->nexthdr;
		qsrc = (__u32 *)&q6->saddr;
		qdst = (__u32 *)&q6->daddr;
		ql4 = q6 + 1;
	}
	if (qproto != IPPROTO_TCP && qproto != IPPROTO_UDP)
		return 0;
	if (ql4 + 4 > data_end)
		return 0;
	elb_quote_ports(ql4, data_end, qproto, &q);

	/* The quoted packet went one way; the connection tables are keyed by the
	 * other direction's tuple: the reply for reverse_nat, the request for
	 * conntrack. Both swap the quote's source and destination. */
	k.proto = qproto;
	k.family = v4 ? 4 : 6;
	k.sport = q.ports[1];
	k.dport = q.ports[0];
	if (v4) {
		k.saddr[0] = *qdst;
		k.daddr[0] = *qsrc;
	} else {
		__builtin_memcpy(k.saddr, qdst, 16);
		__builtin_memcpy(k.daddr, qsrc, 16);
	}

	struct elb_rnat *rn = bpf_map_lookup_elem(&reverse_nat, &k);

	if (rn) {
		to_client = 1;
		__builtin_memcpy(new, rn->vip, sizeof(new));
		port = rn->vport;
	} else {
		struct elb_conn *ct = bpf_map_lookup_elem(&conntrack, &k);
		struct elb_backend *be;
		__u32 slot;

		if (!ct)
			return 0;
		slot = ct->slot;
		be = bpf_map_lookup_elem(&backends, &slot);
		if (!be || be->id != ct->backend_id)
			return 0;
		to_client = 0;
		__builtin_memcpy(new, be->addr, sizeof(new));
		port = be->port;
	}

	/* Re-check the pointers the verifier knows are in range (it does not
	 * carry them through the map lookups above). */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ic = data + l4_off;
	if ((void *)(ic + 1) > data_end)
		return 0;

	__sum16 icmp = ic->checksum;
	__u32 *qaddr;

	if (v4) {
		struct iphdr *q4 = (void *)(ic + 1);
		struct iphdr *oip = data + l3_off;
		__sum16 qcheck;

		if ((void *)(q4 + 1) > data_end || (void *)(oip + 1) > data_end)
			return 0;
		ql4 = q4 + 1;
		if (ql4 + 4 > data_end)
			return 0;
		elb_quote_ports(ql4, data_end, qproto, &q);
		qaddr = to_client ? &q4->daddr : &q4->saddr;
		old[0] = *qaddr;
		*qaddr = new[0];
		qcheck = q4->check;
		q4->check = sfc_csum_replace4(qcheck, old[0], new[0]);
		icmp = sfc_csum_replace4(icmp, old[0], new[0]);
		icmp = sfc_csum_replace2(icmp, qcheck, q4->check);
		icmp = elb_quote_fix(&q, to_client ? 1 : 0, port, old, new, 1, icmp);
		ic->checksum = icmp;
		/* Outer header: the backend's own error comes from the VIP; an
		 * error sent to the VIP goes to the backend. */
		if (to_client && oip->saddr == old[0]) {
			oip->check = sfc_csum_replace4(oip->check, oip->saddr, new[0]);
			oip->saddr = new[0];
			pkt->saddr[0] = new[0];
		} else if (!to_client) {
			oip->check = sfc_csum_replace4(oip->check, oip->daddr, new[0]);
			oip->daddr = new[0];
			pkt->daddr[0] = new[0];
		}
	} else {
		struct ipv6hdr *q6 = (void *)(ic + 1);
		struct ipv6hdr *oip6 = data + l3_off;
		__u32 outer_old[4];

		if ((void *)(q6 + 1) > data_end || (void *)(oip6 + 1) > data_end)
			return 0;
		ql4 = q6 + 1;
		if (ql4 + 4 > data_end)
			return 0;
		elb_quote_ports(ql4, data_end, qproto, &q);
		qaddr = to_client ? (__u32 *)&q6->daddr : (__u32 *)&q6->saddr;
		__builtin_memcpy(old, qaddr, sizeof(old));
		__builtin_memcpy(qaddr, new, sizeof(new));
		icmp = sfc_csum_replace16(icmp, old, new);
		icmp = elb_quote_fix(&q, to_client ? 1 : 0, port, old, new, 4, icmp);
		/* ICMPv6's checksum covers the outer addresses too. */
		__u32 *osrc = (__u32 *)&oip6->saddr;

		if (to_client && osrc[0] == old[0] && osrc[1] == old[1] && osrc[2] == old[2] &&
		    osrc[3] == old[3]) {
			__builtin_memcpy(outer_old, &oip6->saddr, 16);
			icmp = sfc_csum_replace16(icmp, outer_old, new);
			__builtin_memcpy(&oip6->saddr, new, 16);
			__builtin_memcpy(pkt->saddr, new, 16);
		} else if (!to_client) {
			__builtin_memcpy(outer_old, &oip6->daddr, 16);
			icmp = sfc_csum_replace16(icmp, outer_old, new);
			__builtin_memcpy(&oip6->daddr, new, 16);
			__builtin_memcpy(pkt->daddr, new, 16);
		}
		ic->checksum = icmp;
	}
	st->icmp_nat++;
	return 0;
}

/* A reply of a DNAT-ed connection: its source becomes the VIP again. */
static __always_inline int elb_reverse(struct xdp_md *ctx, struct sfc_pkt *pkt,
				       struct elb_stats *st, const struct elb_rnat *rn)
{
	if (pkt->tcp_flags & (SFC_TCP_FIN | SFC_TCP_RST))
		elb_conn_backend_end(pkt, st, rn);
	if (elb_nat(ctx, pkt, 0, rn->vip, rn->vport)) {
		st->bad_header++;
		return sfc_vnf_drop(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_REASON_LB_BAD_HEADER,
				    0);
	}
	__builtin_memcpy(pkt->saddr, rn->vip, sizeof(pkt->saddr));
	pkt->sport = rn->vport;
	st->snat++;
	return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
}

SEC("xdp")
int sfc_elb(struct xdp_md *ctx)
{
	struct elb_stats *st = sfc_vnf_stats_lookup(&stats);
	struct sfc_pkt *pkt = sfc_pkt_ctx();
	struct elb_svc_key sk = {};
	struct elb_flow_key rk = {};
	struct elb_settings *set;
	struct elb_service *svc;
	struct elb_rnat *rn;
	__u32 zero = 0;

	if (!st || !pkt)
		return sfc_vnf_broken();
	sfc_vnf_account_rx((struct sfc_vnf_stats *)st, pkt);

	if (pkt->l3_proto != ETH_P_IP && pkt->l3_proto != ETH_P_IPV6)
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);

	/* Fragments carry ports in the first piece only, so no piece can be
	 * given a backend consistently: those addressed to a VIP are dropped. */
	if (pkt->flags & SFC_PKT_F_FRAG) {
		struct elb_vip_key vk = {};

		__builtin_memcpy(vk.addr, pkt->daddr, sizeof(vk.addr));
		vk.family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
		if (bpf_map_lookup_elem(&vips, &vk)) {
			st->frag_drop++;
			return sfc_vnf_drop(ctx, pkt, (struct sfc_vnf_stats *)st,
					    SFC_REASON_LB_FRAGMENT, 0);
		}
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
	}
	if (!(pkt->flags & SFC_PKT_F_L4))
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
	if (pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) {
		__u32 zero_key = 0;
		struct elb_settings *s = bpf_map_lookup_elem(&settings, &zero_key);

		if (s && (s->flags & ELB_SET_F_DNAT) &&
		    sfc_icmp_is_error(pkt->l4_proto, pkt->icmp_type))
			elb_icmp_error(ctx, pkt, st);
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
	}
	if (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP)
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);

	set = bpf_map_lookup_elem(&settings, &zero);
	if (!set)
		return sfc_vnf_broken();
	if (elb_maybe_vip(pkt)) {
		struct elb_flow_key fk = {};
		struct elb_conn *ct;

		/* A known connection first: its entry names the backend, and the
		 * backend its service's mode, so no service lookup. */
		elb_flow_key_of(&fk, pkt);
		ct = bpf_map_lookup_elem(&conntrack, &fk);
		if (ct && !(pkt->tcp_flags & ELB_TCP_LIFECYCLE)) {
			struct elb_backend *be = elb_conn_backend(ct, ct->svc_index);

			if (be) {
				st->vip_packets++;
				st->reused_conns++;
				return elb_send(ctx, pkt, st, ct, be, ct->slot, 0);
			}
		}
		__builtin_memcpy(sk.vip, pkt->daddr, sizeof(sk.vip));
		sk.port = pkt->dport;
		sk.proto = pkt->l4_proto;
		sk.family = fk.family;
		svc = bpf_map_lookup_elem(&services, &sk);
		if (!svc && (set->flags & ELB_SET_F_ANY_PORT)) {
			sk.port = 0;
			svc = bpf_map_lookup_elem(&services, &sk);
		}
		if (svc)
			return elb_forward(ctx, pkt, st, svc, ct, &fk);
	}

	if (!(set->flags & ELB_SET_F_DNAT))
		return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
	if (!(set->flags & ELB_SET_F_RNAT_ANY_PORT)) {
		__u16 sport = bpf_ntohs(pkt->sport);
		__u32 word = sport >> 6;
		__u64 *bits = bpf_map_lookup_elem(&rnat_ports, &word);

		if (!bits || !(*bits & (1ULL << (sport & 63))))
			return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
	}
	elb_flow_key_of(&rk, pkt);
	rn = bpf_map_lookup_elem(&reverse_nat, &rk);
	if (rn)
		return elb_reverse(ctx, pkt, st, rn);
	return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
