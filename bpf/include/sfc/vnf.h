/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a VNF program includes: the chain's prog array, its own slot in it, and
 * sfc_vnf_finish(), which counts the VNF's verdict and moves the packet on.
 *
 * A VNF program looks like:
 *
 *   SEC("xdp") int my_vnf(struct xdp_md *ctx)
 *   {
 *       struct sfc_pkt *pkt = sfc_pkt_ctx();
 *       struct my_stats *st = sfc_vnf_stats_lookup(&stats);
 *       if (!pkt || !st) return sfc_vnf_broken();
 *       ...decide...
 *       return sfc_vnf_finish(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT);
 *   }
 */
#ifndef SFC_VNF_H
#define SFC_VNF_H

#include "chain.h"
#include "latency.h"
#include "parser.h"

/* This program's slot in sfc_progs; the next stage sits at sfc_slot + 1.
 * Being read-only data, the verifier sees a constant key and turns the tail
 * call into a direct jump. */
const volatile __u32 sfc_slot = 0;
/* Account time spent in the VNF (costs a bpf_ktime_get_ns() per packet). */
const volatile __u8 sfc_timing = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SFC_PROG_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sfc_progs SEC(".maps");

/* The chain's latency histograms (latency.h), one entry per slot. Shared by
 * every VNF of the chain like sfc_progs; only touched when sfc_timing is on. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SFC_MAX_VNFS);
	__type(key, __u32);
	__type(value, struct sfc_latency_hist);
} sfc_latency SEC(".maps");

enum sfc_verdict {
	SFC_NEXT = 0, /* accepted: run the next stage */
	SFC_DROP,     /* XDP_DROP */
	SFC_TX,       /* the VNF rewrote the frame into a reply: XDP_TX */
};

static __always_inline void *sfc_vnf_stats_lookup(void *stats_map)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(stats_map, &zero);
}

/* A per-CPU array lookup at index 0 cannot fail; this keeps the verifier
 * happy and still obeys the fail policy if it ever does. */
static __always_inline int sfc_vnf_broken(void)
{
	return sfc_tail_call_failed();
}

/* A VNF verdict as the monitor reports it (enum sfc_event_action). */
static __always_inline __u32 sfc_verdict_action(enum sfc_verdict verdict)
{
	if (verdict == SFC_DROP)
		return SFC_ACT_DROP;
	return verdict == SFC_TX ? SFC_ACT_TX : SFC_ACT_NEXT;
}

/* The tail call to the next stage failed: the fail policy, reported. */
static __always_inline int sfc_vnf_tail_call_missed(const struct sfc_pkt *pkt)
{
	int action = sfc_tail_call_failed();

	if (pkt->monitor)
		sfc_monitor_report(pkt, sfc_slot, action, SFC_REASON_TAIL_CALL_MISS, sfc_slot + 1);
	return action;
}

static __always_inline void sfc_vnf_account_rx(struct sfc_vnf_stats *st, const struct sfc_pkt *pkt)
{
	st->rx_packets++;
	st->rx_bytes += pkt->pkt_len;
}

/* One sample of this VNF's time into its slot's per-CPU histogram. */
static __always_inline void sfc_vnf_record_latency(__u64 ns)
{
	__u32 slot = sfc_slot;
	struct sfc_latency_hist *h = bpf_map_lookup_elem(&sfc_latency, &slot);

	if (h)
		h->buckets[sfc_lat_bucket(ns) & (SFC_LAT_BUCKETS - 1)]++;
}

/*
 * sfc_vnf_finish() with the reason the monitor reports for the verdict
 * (enum sfc_reason; `detail` qualifies it, e.g. a firewall rule's slot).
 */
static __always_inline int sfc_vnf_finish_why(struct xdp_md *ctx, struct sfc_pkt *pkt,
					      struct sfc_vnf_stats *st, enum sfc_verdict verdict,
					      __u32 reason, __u32 detail)
{
	/* stage_ns is 0 when the entry did not stamp the packet: a packet that
	 * entered just before timing was switched on. */
	if (sfc_timing && pkt->stage_ns) {
		/* From the previous stage's end to ours: includes the tail call. */
		__u64 now = bpf_ktime_get_ns();

		st->run_ns += now - pkt->stage_ns;
		sfc_vnf_record_latency(now - pkt->stage_ns);
		pkt->stage_ns = now;
	}

	if (pkt->monitor)
		sfc_monitor_report(pkt, sfc_slot, sfc_verdict_action(verdict), reason, detail);

	switch (verdict) {
	case SFC_DROP:
		st->drop++;
		return XDP_DROP;
	case SFC_TX:
		st->tx++;
		return XDP_TX;
	case SFC_NEXT:
	default:
		break;
	}

	st->pass++;
	bpf_tail_call(ctx, &sfc_progs, sfc_slot + 1);
	st->aborted++;
	return sfc_vnf_tail_call_missed(pkt);
}

static __always_inline int sfc_vnf_finish(struct xdp_md *ctx, struct sfc_pkt *pkt,
					  struct sfc_vnf_stats *st, enum sfc_verdict verdict)
{
	return sfc_vnf_finish_why(ctx, pkt, st, verdict, SFC_REASON_NONE, 0);
}

/* A drop, with its reason for the monitor. */
static __always_inline int sfc_vnf_drop(struct xdp_md *ctx, struct sfc_pkt *pkt,
					struct sfc_vnf_stats *st, __u32 reason, __u32 detail)
{
	return sfc_vnf_finish_why(ctx, pkt, st, SFC_DROP, reason, detail);
}

#endif /* SFC_VNF_H */
