// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark's own XDP programs (not part of any chain):
 *
 *   bench_pass  XDP_PASS and nothing else: the floor every per-packet cost is
 *               compared with (BPF_PROG_TEST_RUN ns/packet).
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
 *               `gen_header` (Ethernet + IPv4 + UDP, set before load).
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

#include "bench_xdp.h"

/* Ethernet + IPv4 without options + UDP: the only frames the generator builds. */
struct bench_udp_frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
} __attribute__((packed));

_Static_assert(sizeof(struct bench_udp_frame) == BENCH_GEN_HEADER_LEN, "header template size");

const volatile __u32 gen_flows = 1;      /* distinct UDP source ports, >= 1 */
const volatile __u16 gen_base_port = 10000;
const volatile __u16 sink_port = 9;      /* host order */
/* Not const: clang would fold a const array's (zero) initializer into the copy. */
__u8 gen_header[BENCH_GEN_HEADER_LEN] __attribute__((aligned(8)));

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
int bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_udp_frame *f = data;
	struct bench_counters *c;
	__u32 key = 0;

	if ((void *)(f + 1) > data_end)
		return XDP_ABORTED;
	c = bpf_map_lookup_elem(&counters, &key);
	if (!c)
		return XDP_ABORTED;
	__builtin_memcpy(f, gen_header, sizeof(*f));
	/* The UDP checksum is optional over IPv4; 0 keeps it valid after the
	 * port edit. */
	f->udp.source = bpf_htons(gen_base_port + (__u16)(c->packets % gen_flows));
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
