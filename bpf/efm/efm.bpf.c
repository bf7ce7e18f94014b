// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * eFM: per-flow accounting. Every packet that reaches it is counted in the
 * flow table (an LRU hash keyed by struct efm_flow_key) and accepted; the
 * daemon scans the table, expires flows and exports them (IPFIX, gRPC).
 *
 * Concurrency: a flow's packets can hit several CPUs (RSS rehash, generic
 * mode, several ingress ports), so counters use atomic adds on a shared entry
 * rather than a per-CPU LRU hash, whose memory grows with the CPU count
 * (1M flows x 64 CPUs does not fit). A flow usually stays on one CPU, so the
 * atomics rarely contend.
 */
#include <stdbool.h>

#include <sfc/vnf.h>

#include "efm.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efm_stats);
} stats SEC(".maps");

/* Resized by the daemon before load ("max_flows"). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EFM_DEFAULT_MAX_FLOWS);
	__type(key, struct efm_flow_key);
	__type(value, struct efm_flow);
} flows SEC(".maps");

/* Ports of fragmented datagrams, from their first fragment (see efm.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EFM_FRAG_ENTRIES);
	__type(key, struct efm_frag_key);
	__type(value, struct efm_frag_ports);
} frag_ports SEC(".maps");

/* The daemon's export state (struct efm_export_state); never touched here.
 * Not preallocated: only flows that outlive the active timeout have one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, EFM_DEFAULT_MAX_FLOWS);
	__type(key, struct efm_flow_key);
	__type(value, struct efm_export_state);
} exported SEC(".maps");

/*
 * Length of the IP datagram from its own header: the frame may carry Ethernet
 * padding (short frames) that IPFIX octet counts must not include.
 */
static __always_inline __u32 efm_ip_len(struct xdp_md *ctx, const struct sfc_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = pkt->l3_off;

	/* The parser bounded l3_off already; bound it again so the verifier
	 * knows the range of the pointer arithmetic below. */
	if (off > SFC_MAX_L4_OFF)
		return 0;
	if (pkt->l3_proto == ETH_P_IP) {
		struct iphdr *iph = data + off;

		if ((void *)(iph + 1) > data_end)
			return 0;
		return bpf_ntohs(iph->tot_len);
	}
	{
		struct ipv6hdr *ip6h = data + off;

		if ((void *)(ip6h + 1) > data_end)
			return 0;
		return sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	}
}

/*
 * The IP identification of a fragment, for frag_ports; false if it cannot be
 * read. IPv4 has it in the header. IPv6 has it in the fragment header, which
 * for a later fragment ends right at l4_off (the parser stops there), and for
 * a first fragment sits there when it is the last extension header, as RFC 8200
 * orders them and as senders do; the header's own next-header and offset
 * fields must agree, else we do not remember the datagram.
 */
static __always_inline bool efm_frag_id(struct xdp_md *ctx, const struct sfc_pkt *pkt, __u32 *id)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (pkt->l3_proto == ETH_P_IP) {
		__u32 off = pkt->l3_off;
		struct iphdr *iph;

		if (off > SFC_MAX_L4_OFF)
			return false;
		iph = data + off;
		if ((void *)(iph + 1) > data_end)
			return false;
		*id = iph->id;
		return true;
	}
	{
		__u32 off = pkt->l4_off;
		struct sfc_ipv6_frag_hdr *fh;

		if (off < sizeof(*fh))
			return false;
		off -= sizeof(*fh);
		if (off > SFC_MAX_L4_OFF)
			return false;
		fh = data + off;
		if ((void *)(fh + 1) > data_end)
			return false;
		if (!(pkt->flags & SFC_PKT_F_FRAG_LATER) &&
		    (fh->nexthdr != pkt->l4_proto ||
		     (fh->frag_off & bpf_htons(SFC_IPV6_FRAG_OFFSET)) ||
		     !(fh->frag_off & bpf_htons(SFC_IPV6_FRAG_MORE))))
			return false;
		*id = fh->identification;
		return true;
	}
}

static __always_inline void efm_frag_key_of(struct efm_frag_key *fk, const struct efm_flow_key *key,
					    __u32 id)
{
	__builtin_memset(fk, 0, sizeof(*fk));
	__builtin_memcpy(fk->saddr, key->saddr, sizeof(fk->saddr));
	__builtin_memcpy(fk->daddr, key->daddr, sizeof(fk->daddr));
	fk->id = id;
	fk->family = key->family;
	fk->proto = key->proto;
}

static __always_inline void efm_fill_key(struct xdp_md *ctx, struct efm_flow_key *key,
					 const struct sfc_pkt *pkt, struct efm_stats *st)
{
	struct efm_frag_key fk;
	__u32 id;

	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->saddr, pkt->saddr, sizeof(key->saddr));
	__builtin_memcpy(key->daddr, pkt->daddr, sizeof(key->daddr));
	key->ifindex = pkt->ifindex;
	key->vlan_outer = pkt->vlan_outer;
	key->vlan_inner = pkt->vlan_inner;
	key->family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
	key->proto = pkt->l4_proto;

	if (pkt->flags & SFC_PKT_F_FRAG_LATER) {
		struct efm_frag_ports *fp = NULL;

		st->fragments++;
		if (efm_frag_id(ctx, pkt, &id)) {
			efm_frag_key_of(&fk, key, id);
			fp = bpf_map_lookup_elem(&frag_ports, &fk);
		}
		if (fp) {
			key->sport = fp->sport;
			key->dport = fp->dport;
		} else {
			st->fragments_unmatched++;
		}
		return;
	}
	if (!(pkt->flags & SFC_PKT_F_L4))
		return; /* a protocol without ports */
	if (pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) {
		key->dport = (__u16)pkt->icmp_type << 8 | pkt->icmp_code;
		return;
	}
	if (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP)
		return;
	key->sport = pkt->sport;
	key->dport = pkt->dport;
	if ((pkt->flags & SFC_PKT_F_FRAG) && efm_frag_id(ctx, pkt, &id)) {
		/* First fragment: leave the ports for the rest of the datagram. */
		struct efm_frag_ports ports = {.sport = key->sport, .dport = key->dport};

		efm_frag_key_of(&fk, key, id);
		bpf_map_update_elem(&frag_ports, &fk, &ports, BPF_ANY);
	}
}

static __always_inline void efm_update(struct efm_flow *f, const struct sfc_pkt *pkt, __u64 bytes,
				       __u64 now, __u8 tcp_flags)
{
	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, bytes);
	/* Unordered across CPUs, so last_seen may trail the newest packet by the
	 * few nanoseconds two CPUs raced in; never lost. */
	if (now > f->last_seen_ns)
		f->last_seen_ns = now;
	if ((f->tcp_flags | tcp_flags) != f->tcp_flags) {
#ifdef SFC_BPF_ATOMICS
		__sync_fetch_and_or(&f->tcp_flags, tcp_flags);
#else
		/* Without BPF atomic OR (-mcpu=v3) a bit set by another CPU in
		 * the same instant can be lost; flags change rarely per flow. */
		f->tcp_flags |= tcp_flags;
#endif
	}
	/* The first application named, written once: later packets pay a
	 * test of a word the lookup brought into cache. Two CPUs racing here
	 * write the same flow's label. */
	if (!f->app && pkt->app) {
		f->app = pkt->app;
		f->app_category = pkt->app_category;
	}
}

static __always_inline void efm_account(struct xdp_md *ctx, const struct sfc_pkt *pkt,
					struct efm_stats *st)
{
	struct efm_flow_key key;
	struct efm_flow *f;
	__u8 tcp_flags = pkt->l4_proto == IPPROTO_TCP ? pkt->tcp_flags : 0;
	__u64 bytes = efm_ip_len(ctx, pkt);
	__u64 now = pkt->ts_ns;

	if (pkt->l3_proto == ETH_P_IP)
		st->ipv4_packets++;
	else
		st->ipv6_packets++;

	efm_fill_key(ctx, &key, pkt, st);
	f = bpf_map_lookup_elem(&flows, &key);
	if (f) {
		efm_update(f, pkt, bytes, now, tcp_flags);
		return;
	}

	{
		struct efm_flow init = {
			.packets = 1,
			.bytes = bytes,
			.first_seen_ns = now,
			.last_seen_ns = now,
			.tcp_flags = tcp_flags,
			.app = pkt->app,
			.app_category = pkt->app_category,
		};
		int err = bpf_map_update_elem(&flows, &key, &init, BPF_NOEXIST);

		if (!err) {
			st->flows_created++;
			return;
		}
		if (err != -17 /* EEXIST */) {
			st->flow_insert_fail++;
			return;
		}
	}
	/* Another CPU created the flow between our lookup and insert. */
	st->flow_insert_races++;
	f = bpf_map_lookup_elem(&flows, &key);
	if (f)
		efm_update(f, pkt, bytes, now, tcp_flags);
	else
		st->flow_insert_fail++; /* and evicted already: the table thrashes */
}

SEC("xdp")
int sfc_efm(struct xdp_md *ctx)
{
	struct efm_stats *st = sfc_vnf_stats_lookup(&stats);
	struct sfc_pkt *pkt = sfc_pkt_ctx();

	if (!st || !pkt)
		return sfc_vnf_broken();
	sfc_vnf_account_rx((struct sfc_vnf_stats *)st, pkt);
	efm_account(ctx, pkt, st);
	return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
