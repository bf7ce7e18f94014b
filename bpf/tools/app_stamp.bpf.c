// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * app_stamp: a test-only VNF that labels every packet with the application
 * held in its `app` map, as a dpi VNF earlier in a chain labels the packets
 * of a classified flow (struct sfc_pkt app, app_category). Tests write the
 * map between runs to play a flow before and after classification.
 */
#include <sfc/vnf.h>

#include "app_stamp.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_vnf_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct app_stamp);
} app SEC(".maps");

SEC("xdp")
int sfc_app_stamp(struct xdp_md *ctx)
{
	struct sfc_vnf_stats *st = sfc_vnf_stats_lookup(&stats);
	struct sfc_pkt *pkt = sfc_pkt_ctx();
	struct app_stamp *a;
	__u32 zero = 0;

	if (!st || !pkt)
		return sfc_vnf_broken();
	sfc_vnf_account_rx(st, pkt);
	a = bpf_map_lookup_elem(&app, &zero);
	if (a) {
		pkt->app = a->app;
		pkt->app_category = a->app_category;
	}
	return sfc_vnf_finish(ctx, pkt, st, SFC_NEXT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
