// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark's own XDP programs (not part of any chain):
 *
 *   bench_pass  XDP_PASS and nothing else: the floor every per-packet cost is
 *               compared with (BPF_PROG_TEST_RUN ns/packet). Also the
 *               `kernel-xdp-pass` variant: attached to the SFC host's veths,
 *               it puts them in XDP mode with the kernel forwarding behind.
 *   bench_parse the reference for the chain's own cost: the project's shared
 *               parser (sfc/parser.h) into a per-CPU struct, as the chain's
 *               entry does, then XDP_PASS. Entry + egress is measured over it.
 *   bench_redirect  the bare XDP forwarder (`xdp-redirect` variant): fixed
 *               MACs, out of the one port in `redirect_port`. No parsing, no
 *               FIB, no TTL: the ceiling of XDP forwarding on this path.
 *   bench_gen   the small-packet generator. Run through BPF_PROG_TEST_RUN with
 *               BPF_F_TEST_XDP_LIVE_FRAMES in the client namespace, with the
 *               client's eth0 as ingress: XDP_TX turns into a real transmit
 *               out of that veth, so the frame reaches the SFC host exactly as
 *               one sent by the client would. It spreads the packets over
 *               `gen_flows` UDP source ports so conntrack, flow tables and
 *               load balancers see many flows, not one.
 *               Live frames come from a page pool whose pages are recycled
 *               WITHOUT being reset, and whoever consumed the frame before
 *               (the SFC host forwarding it: new MACs, TTL - 1) wrote into
 *               the same page. So every run rewrites the whole header from
 *               a template (Ethernet + IPv4 + UDP, with its IPv4 checksum):
 *               `gen_frames` holds `gen_nframes` of them, used in turn, so a
 *               load can interleave sources (the client's flows and, for the
 *               rule-scaling runs, blocklisted ones).
 *   bench_sink  attached to the servers' eth0: counts and drops the UDP
 *               datagrams to `sink_port`, passes everything else (ARP, ping,
 *               TCP), so every variant pays the same, small, receive cost.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <sfc/parser.h>

#include "bench_xdp.h"

/* Ethernet + IPv4 without options + UDP: the only frames the generator builds. */
struct bench_udp_frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
} __attribute__((packed));

_Static_assert(sizeof(struct bench_udp_frame) == BENCH_GEN_HEADER_LEN, "header template size");

const volatile __u32 gen_flows = 1;   /* distinct UDP source ports, >= 1 */
const volatile __u32 gen_nframes = 1; /* templates in gen_frames, 1..BENCH_GEN_MAX_FRAMES */
const volatile __u16 gen_base_port = 10000;
const volatile __u16 sink_port = 9; /* host order */

/* bench_redirect's rewrite. Not const: clang would fold a const array's
 * (zero) initializer into the copy. */
struct {
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
} redirect_macs;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BENCH_GEN_MAX_FRAMES);
	__type(key, __u32);
	__type(value, struct bench_gen_frame);
} gen_frames SEC(".maps");

/* Key 0: the ifindex bench_redirect sends everything to. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} redirect_port SEC(".maps");

/* bench_parse's parse result, like the chain's per-CPU packet context. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sfc_pkt);
} parse_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_counters);
} counters SEC(".maps");

SEC("xdp")
int bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bench_parse(struct xdp_md *ctx)
{
	struct sfc_pkt *pkt;
	__u32 key = 0;

	pkt = bpf_map_lookup_elem(&parse_scratch, &key);
	if (!pkt)
		return XDP_ABORTED;
	__builtin_memset(pkt, 0, sizeof(*pkt));
	if (sfc_parse(ctx, pkt) == SFC_PARSE_MALFORMED)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int bench_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, redirect_macs.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, redirect_macs.smac, ETH_ALEN);
	return bpf_redirect_map(&redirect_port, 0, 0);
}

SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_udp_frame *f = data;
	struct bench_gen_frame *t;
	struct bench_counters *c;
	__u32 key = 0, idx;
	__u64 n;

	if ((void *)(f + 1) > data_end)
		return XDP_ABORTED;
	c = bpf_map_lookup_elem(&counters, &key);
	if (!c)
		return XDP_ABORTED;
	n = c->packets;
	idx = n % gen_nframes;
	t = bpf_map_lookup_elem(&gen_frames, &idx);
	if (!t)
		return XDP_ABORTED;
	__builtin_memcpy(f, t->header, sizeof(*f));
	/* Source ports advance once per round of templates too, so every
	 * template sees every port even when gen_nframes and gen_flows share
	 * a factor. The UDP checksum is optional over IPv4; 0 keeps it valid
	 * after the port edit. */
	f->udp.source = bpf_htons(gen_base_port + (__u16)((n / gen_nframes + idx) % gen_flows));
	f->udp.check = 0;
	c->packets++;
	c->bytes += data_end - data;
	return XDP_TX;
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_udp_frame *f = data;
	struct bench_counters *c;
	__u32 key = 0;

	if ((void *)(f + 1) > data_end)
		return XDP_PASS;
	if (f->eth.h_proto != bpf_htons(ETH_P_IP) || f->ip.ihl != 5 ||
	    f->ip.protocol != IPPROTO_UDP || f->udp.dest != bpf_htons(sink_port))
		return XDP_PASS;
	c = bpf_map_lookup_elem(&counters, &key);
	if (!c)
		return XDP_PASS;
	c->packets++;
	c->bytes += data_end - data;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
