// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP_PASS for the client and server ends of the test topology. A veth only
 * schedules its peer's NAPI after an XDP_TX when the peer has an XDP program
 * of its own (GRO alone is not enough, unlike for XDP_REDIRECT): without
 * one, replies a VNF bounces back (firewall rejects) sit in the peer's ring
 * until unrelated traffic flushes it. Physical NICs and VFs need nothing.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int sfc_endpoint_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
