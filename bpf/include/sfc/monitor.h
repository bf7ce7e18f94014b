/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The drop and verdict monitor, data-plane side. The chain entry copies the
 * monitor mode into sfc_pkt.monitor; every stage tests that word (already in
 * cache: the stage has just read the packet context) before calling
 * sfc_monitor_report(), so a chain whose monitor is off pays one predictable
 * branch per stage. When it is on, the report filters by mode and stage,
 * samples 1 in N, applies a per-CPU token bucket and only then reserves a
 * ring buffer record: a flood of drops costs at most what the rate allows
 * plus a few counter updates per packet.
 *
 * The maps are chain-level: the daemon creates them once per chain and
 * hands the same fds to every object (like sfc_pktctx).
 */
#ifndef SFC_MONITOR_H
#define SFC_MONITOR_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SFC_EVENTS_BYTES);
} sfc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_monitor_config);
} sfc_monitor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_monitor_stats);
} sfc_mon_stats SEC(".maps");

static __always_inline __u32 sfc_monitor_stage_bit(__u32 stage)
{
	if (stage == SFC_STAGE_ENTRY)
		return SFC_MON_STAGE_ENTRY;
	if (stage == SFC_STAGE_EGRESS)
		return SFC_MON_STAGE_EGRESS;
	return 1U << (stage & 31);
}

/*
 * The slow path, only called with pkt->monitor set. Not inlined: one copy per
 * program instead of one per call site keeps the stages' fast paths short and
 * the verifier's work flat. Returns nothing the caller uses.
 */
static __noinline int sfc_monitor_report(const struct sfc_pkt *pkt, __u32 stage, __u32 action,
					 __u32 reason, __u32 detail)
{
	struct sfc_monitor_config *cfg;
	struct sfc_monitor_stats *ms;
	struct sfc_event *ev;
	__u32 zero = 0;

	if (!pkt)
		return 0;
	cfg = bpf_map_lookup_elem(&sfc_monitor, &zero);
	ms = bpf_map_lookup_elem(&sfc_mon_stats, &zero);
	if (!cfg || !ms)
		return 0;
	if (cfg->mode != SFC_MON_ALL && action != SFC_ACT_DROP && action != SFC_ACT_ABORTED &&
	    reason != SFC_REASON_TAIL_CALL_MISS)
		return 0;
	if (cfg->mode == SFC_MON_OFF || !(cfg->stages & sfc_monitor_stage_bit(stage)))
		return 0;

	/* One in `sample`: the first passes, the next sample - 1 do not. */
	if (cfg->sample > 1) {
		if (ms->sample_left > 1) {
			ms->sample_left--;
			ms->sampled_out++;
			return 0;
		}
		ms->sample_left = cfg->sample;
	}

	/* Token bucket on the entry's coarse clock: no extra clock read for the
	 * events it refuses. */
	if (cfg->cost_ns) {
		__u64 credit = ms->credit_ns + (pkt->ts_ns - ms->last_ns);

		if (credit > cfg->burst_ns)
			credit = cfg->burst_ns;
		ms->last_ns = pkt->ts_ns;
		if (credit < cfg->cost_ns) {
			ms->credit_ns = credit;
			ms->rate_limited++;
			return 0;
		}
		ms->credit_ns = credit - cfg->cost_ns;
	}

	ev = bpf_ringbuf_reserve(&sfc_events, sizeof(*ev), 0);
	if (!ev) {
		ms->lost++;
		return 0;
	}
	ev->ts_ns = bpf_ktime_get_ns();
	ev->ifindex = pkt->ifindex;
	ev->pkt_len = pkt->pkt_len;
	ev->detail = detail;
	ev->reason = reason;
	ev->action = action;
	ev->stage = stage;
	ev->l3_proto = pkt->l3_proto;
	ev->l4_proto = pkt->l4_proto;
	ev->tcp_flags = pkt->tcp_flags;
	ev->sport = pkt->sport;
	ev->dport = pkt->dport;
	ev->icmp_type = pkt->icmp_type;
	ev->icmp_code = pkt->icmp_code;
	ev->vlan = pkt->vlan_outer;
	__builtin_memcpy(ev->saddr, pkt->saddr, sizeof(ev->saddr));
	__builtin_memcpy(ev->daddr, pkt->daddr, sizeof(ev->daddr));
	bpf_ringbuf_submit(ev, 0);
	ms->events++;
	return 0;
}

#endif /* SFC_MONITOR_H */
