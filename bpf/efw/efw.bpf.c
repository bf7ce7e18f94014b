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
#include <sfc/vnf.h>

#include "efw.h"
#include "efw_maps.h"
#include "conntrack.h"
#include "classifier.h"
#include "reject.h"

/* ------------------------------------------------------------------------ */
/* Verdict cache                                                             */

/*
 * The rule a connection's packets match does not change from one packet to
 * the next unless the rule set, the packet's connection state, its TCP
 * flags or its application do (addresses, ports and protocol are the
 * connection's own; rules on the ingress interface turn the cache off). So
 * the classification is kept in the conntrack entry, per direction, as one
 * word:
 *   epoch (24) | TCP flags or ICMP type (8) | state (3) | app sequence (3) |
 *   action (2) | counter slot (24)
 * and the next packet whose epoch, state and flags agree skips the
 * classifier: no LPM, port or match-table lookup.
 *
 * In rule sets with app fields a verdict also depends on the application a
 * dpi VNF found, which is unknown (0) on a flow's first packets and set
 * later. The application does not fit in the word, so the entry keeps it
 * once for both directions (app_tag) with a sequence number bumped on every
 * change, and each verdict carries the sequence it was made under: when the
 * application changes, both directions classify again, and a verdict another
 * CPU made for the old application meanwhile carries an old sequence and is
 * never reused for the new one.
 */
#define EFW_V_SLOT_DEFAULT 0xffffffULL /* no rule matched: the default action */
#define EFW_APP_SEQ_MASK   7

static __always_inline __u64 efw_verdict_pack(__u32 epoch, __u32 state, __u8 flags, __u32 seq,
					      __u32 slot, __u8 action)
{
	return (__u64)(epoch & EFW_EPOCH_MASK) << 40 | (__u64)flags << 32 |
	       (__u64)(state & 7) << 29 | (__u64)(seq & EFW_APP_SEQ_MASK) << 26 |
	       (__u64)(action & 3) << 24 | (slot & 0xffffff);
}

/* The flags a verdict depends on: none unless some rule looks at them.
 * ICMP: the type. An echo connection carries requests and replies, either
 * of which may go the same way, and rules may match one type and not the
 * other; without the type here, a reply took the request's cached verdict
 * (found by tests/bpf/torture_test.cc). */
static __always_inline __u8 efw_verdict_flags(const struct sfc_pkt *pkt,
					      const struct efw_set_cfg *cfg)
{
	if (pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6)
		return pkt->icmp_type;
	return cfg->has_tcp_flags && pkt->l4_proto == IPPROTO_TCP ? pkt->tcp_flags : 0;
}

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
	__u32 zero = 0, set, state, slot, dir, tag = 0, seq = 0, retag = 0;
	__u64 now, verdict = 0;
	__u32 reason, detail;
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
		if (cfg->has_app) {
			/* One 32-bit load: application and sequence agree. */
			__u32 et = *(volatile __u32 *)&ct.entry->app_tag;

			tag = efw_app_tag(pkt);
			seq = et & EFW_APP_SEQ_MASK;
			if ((et & ~0xffU) != tag)
				retag = 1;
		}
		if (retag || verdict >> 40 != (act->epoch & EFW_EPOCH_MASK) ||
		    (verdict >> 32 & 0xff) != flags || (verdict >> 29 & 7) != state ||
		    (verdict >> 26 & EFW_APP_SEQ_MASK) != seq)
			verdict = 0;
	}
	if (verdict) {
		st->verdict_cached++;
	} else {
		best = efw_classify(pkt, set, cfg, state);
		if (retag)
			seq = (seq + 1) & EFW_APP_SEQ_MASK;
		verdict = efw_verdict_pack(
			act->epoch, state, flags, seq,
			best == EFW_NO_MATCH ? EFW_V_SLOT_DEFAULT : (best >> 8) & 0xffffff,
			best == EFW_NO_MATCH ? cfg->default_action : best & 0xff);
		if (ct.entry && !cfg->has_iif) {
			/* The new application first: the other direction's
			 * verdict (old sequence) stops passing from here. */
			if (retag)
				*(volatile __u32 *)&ct.entry->app_tag = tag | seq;
			ct.entry->verdict[dir] = verdict;
		}
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

	/* For the monitor: the rule (by counter slot; the daemon names it
	 * from rule_ids) or the default, and the state it met. */
	if (slot != EFW_V_SLOT_DEFAULT) {
		reason = SFC_REASON_FW_RULE;
		detail = slot;
	} else {
		reason = state == EFW_CT_INVALID ? SFC_REASON_FW_INVALID : SFC_REASON_FW_DEFAULT;
		detail = state;
	}
	if (action == EFW_ALLOW) {
		st->allow++;
		efw_ct_commit(pkt, now, &ct, st);
		return sfc_vnf_finish_why(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_NEXT, reason,
					  detail);
	}
	if (action == EFW_REJECT) {
		if (efw_reject(ctx, pkt) == 0) {
			st->reject++;
			return sfc_vnf_finish_why(ctx, pkt, (struct sfc_vnf_stats *)st, SFC_TX,
						  reason, detail);
		}
		st->reject_failed++;
	}
	return sfc_vnf_drop(ctx, pkt, (struct sfc_vnf_stats *)st, reason, detail);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
