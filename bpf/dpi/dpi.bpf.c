// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dpi: application classification. Every TCP/UDP packet is counted in its
 * flow's entry (an LRU hash keyed by both directions' common struct
 * dpi_flow_key). While a flow is PENDING, its first max_packets packets (both
 * directions) are copied, up to snap_bytes from the IP header on, into a ring
 * buffer that sfcd's classifier (nDPI) reads; sfcd writes the answer into the
 * entry. Once a flow is classified or given up, a packet costs one lookup:
 * the entry's app and category go into pkt->app and pkt->app_category for the
 * stages after this one.
 *
 * No packet ever waits for the classifier: every packet goes on to the next
 * stage at once, labelled or not. A full ring buffer does not slow the data
 * plane either: the copy is skipped, counted (dpi_ring_full) and the flow is
 * given up, since the classifier would see a hole in it.
 */
#include <stdbool.h>

#include <sfc/vnf.h>

#include "dpi.h"

/* Set by the daemon before load from the config; see dpi.h for defaults. */
const volatile __u32 dpi_max_packets = DPI_DEFAULT_MAX_PACKETS;
const volatile __u32 dpi_snap_bytes = DPI_DEFAULT_SNAP_BYTES;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpi_stats);
} stats SEC(".maps");

/* Resized by the daemon before load ("max_flows"). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPI_DEFAULT_MAX_FLOWS);
	__type(key, struct dpi_flow_key);
	__type(value, struct dpi_flow);
} flows SEC(".maps");

/* struct dpi_event records for the classifier; resized ("ring_bytes"). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, DPI_DEFAULT_RING_BYTES);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpi_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DPI_APP_SLOTS);
	__type(key, __u32);
	__type(value, struct dpi_app_counters);
} app_stats SEC(".maps");

static __always_inline void dpi_count_app(__u32 app, __u32 len)
{
	struct dpi_app_counters *c;

	if (app >= DPI_APP_SLOTS)
		app = 0;
	c = bpf_map_lookup_elem(&app_stats, &app);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/*
 * The flow key of the packet, the same for both directions: the endpoint
 * (address, then port) that compares lower word by word comes first. Returns
 * true when the packet goes from the key's hi endpoint to its lo endpoint.
 */
static __always_inline bool dpi_fill_key(struct dpi_flow_key *key, const struct sfc_pkt *pkt)
{
	bool reverse = pkt->sport > pkt->dport;
	int i;

#pragma unroll
	for (i = 3; i >= 0; i--)
		if (pkt->saddr[i] != pkt->daddr[i])
			reverse = pkt->saddr[i] > pkt->daddr[i];

	__builtin_memset(key, 0, sizeof(*key));
	if (reverse) {
		__builtin_memcpy(key->addr_lo, pkt->daddr, sizeof(key->addr_lo));
		__builtin_memcpy(key->addr_hi, pkt->saddr, sizeof(key->addr_hi));
		key->port_lo = pkt->dport;
		key->port_hi = pkt->sport;
	} else {
		__builtin_memcpy(key->addr_lo, pkt->saddr, sizeof(key->addr_lo));
		__builtin_memcpy(key->addr_hi, pkt->daddr, sizeof(key->addr_hi));
		key->port_lo = pkt->sport;
		key->port_hi = pkt->dport;
	}
	key->family = pkt->l3_proto == ETH_P_IP ? 4 : 6;
	key->proto = pkt->l4_proto;
	return reverse;
}

/*
 * Copies the packet from its IP header on (at most snap_bytes) into a ring
 * buffer record. Returns 0 when the record was written or the packet cannot
 * be copied at all (counted: dpi_copy_fail), -1 when the ring buffer is full.
 */
static __always_inline int dpi_feed(struct xdp_md *ctx, const struct sfc_pkt *pkt,
				    const struct dpi_flow_key *key, __u32 seq, bool reverse,
				    struct dpi_stats *st)
{
	struct dpi_scratch *s;
	struct dpi_event *ev;
	__u32 zero = 0;
	__u32 off = pkt->l3_off;
	__u32 ip_len, len;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || off >= pkt->pkt_len) {
		st->dpi_copy_fail++;
		return 0;
	}
	ip_len = pkt->pkt_len - off;
	len = ip_len;
	if (len > dpi_snap_bytes)
		len = dpi_snap_bytes;
	/* Bounds the verifier can see whatever the read-only data says. */
	if (len > DPI_SNAP_MAX)
		len = DPI_SNAP_MAX;
	if (len == 0 || bpf_xdp_load_bytes(ctx, off, s->buf + sizeof(*ev), len)) {
		st->dpi_copy_fail++;
		return 0;
	}
	ev = (struct dpi_event *)s->buf;
	__builtin_memcpy(&ev->key, key, sizeof(ev->key));
	ev->ts_ns = pkt->ts_ns;
	ev->ip_len = ip_len;
	ev->cap_len = len;
	ev->seq = seq;
	ev->flags = (reverse ? DPI_EV_F_REVERSE : 0) | (len < ip_len ? DPI_EV_F_TRUNCATED : 0);
	if (bpf_ringbuf_output(&ring, s->buf, sizeof(*ev) + len, 0)) {
		st->dpi_ring_full++;
		return -1;
	}
	st->dpi_fed++;
	st->dpi_fed_bytes += len;
	return 0;
}

/* The entry of the packet's flow, created PENDING if it is new; NULL if the
 * table refused it. */
static __always_inline struct dpi_flow *dpi_flow_of(const struct dpi_flow_key *key, __u64 now,
						    struct dpi_stats *st)
{
	struct dpi_flow *f = bpf_map_lookup_elem(&flows, key);
	int err;

	if (f)
		return f;
	{
		/* Counters start at zero: the caller counts this packet. */
		struct dpi_flow init = {.first_seen_ns = now, .last_seen_ns = now};

		err = bpf_map_update_elem(&flows, key, &init, BPF_NOEXIST);
	}
	if (!err)
		st->dpi_flows_created++;
	else if (err != -17 /* EEXIST: another CPU created it first */)
		goto fail;
	f = bpf_map_lookup_elem(&flows, key);
	if (f)
		return f;
fail:
	st->dpi_insert_fail++;
	return NULL;
}

static __always_inline void dpi_inspect(struct xdp_md *ctx, struct sfc_pkt *pkt,
					struct dpi_stats *st)
{
	struct dpi_flow_key key;
	struct dpi_flow *f;
	__u64 now = pkt->ts_ns;
	__u32 seq;
	bool reverse;

	if (!(pkt->flags & SFC_PKT_F_L4) || (pkt->flags & SFC_PKT_F_FRAG_LATER) ||
	    (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP)) {
		st->dpi_not_inspected++;
		return;
	}
	reverse = dpi_fill_key(&key, pkt);
	f = dpi_flow_of(&key, now, st);
	if (!f)
		return;

	/* Plain adds: see struct dpi_flow. */
	f->packets++;
	f->bytes += pkt->pkt_len;
	if (now > f->last_seen_ns)
		f->last_seen_ns = now;

	if (f->state != DPI_PENDING) {
		/* The fast path: classified (or given up) for good. */
		pkt->app = f->app;
		pkt->app_category = f->category;
		dpi_count_app(f->app, pkt->pkt_len);
		return;
	}
	dpi_count_app(0, pkt->pkt_len);
	/* Pending: feed the classifier until it answers or max_packets were
	 * copied; after that it gives up on what it has. */
	seq = __sync_fetch_and_add(&f->fed, 1) + 1;
	if (seq > dpi_max_packets)
		return;
	if (dpi_feed(ctx, pkt, &key, seq, reverse, st) < 0) {
		/* The classifier would miss this packet: do not let it guess
		 * from a flow with a hole in it. */
		f->reason = DPI_GIVEUP_RING_FULL;
		f->state = DPI_GIVEN_UP;
		st->dpi_gave_up_ring++;
	}
}

SEC("xdp")
int sfc_dpi(struct xdp_md *ctx)
{
	struct dpi_stats *st = sfc_vnf_stats_lookup(&stats);
	struct sfc_pkt *pkt = sfc_pkt_ctx();

	if (!st || !pkt)
		return sfc_vnf_broken();
	sfc_vnf_account_rx((struct sfc_vnf_stats *)st, pkt);
	dpi_inspect(ctx, pkt, st);
	return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
