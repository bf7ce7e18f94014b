/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types and constants shared by the data plane (bpf/) and the control plane
 * (daemon/, tests/). Everything here crosses the kernel/user boundary through
 * maps or read-only data, so layouts are fixed-size and explicitly padded.
 */
#ifndef SFC_ABI_H
#define SFC_ABI_H

#ifdef __BPF__
#include <linux/types.h>
#else
#include <linux/types.h>
#endif

/* Slots in a chain's prog array: VNFs occupy 0..n-1, the egress stage slot n.
 * A packet makes one tail call from the entry plus one per VNF, so the kernel's
 * limit of 33 tail calls bounds a chain at 32 VNFs; we keep a margin. */
#define SFC_MAX_VNFS   30
#define SFC_PROG_SLOTS (SFC_MAX_VNFS + 1)

/* What a chain does when a tail call fails (empty slot, limit reached). */
enum sfc_fail_policy {
	SFC_FAIL_DROP = 0, /* safe default: a firewall's verdict is never skipped */
	SFC_FAIL_PASS = 1,
};

/* The chain's egress stage: what happens to a packet every VNF accepted. */
enum sfc_egress_action {
	SFC_EGRESS_PASS = 0,     /* hand to the kernel stack */
	SFC_EGRESS_TX = 1,       /* bounce out of the ingress port */
	SFC_EGRESS_REDIRECT = 2, /* out of a named port, through a devmap */
	SFC_EGRESS_FIB = 3,      /* route with bpf_fib_lookup, rewrite MACs, redirect */
};

/*
 * Chain settings the entry program reads per packet, one ARRAY entry pinned at
 * <chain>/config. The entry is loaded once per interface and not per
 * generation, so whatever a re-apply may change lives here rather than in
 * its read-only data; the daemon writes it in the same step that switches the
 * chain to a new generation. `bpftool map dump pinned <chain>/config` shows
 * which generation is live.
 */
struct sfc_chain_config {
	__u64 generation;  /* live generation; bookkeeping only, no program reads it */
	__u32 fail_policy; /* enum sfc_fail_policy for the entry's own tail call */
	__u32 timing;      /* non-zero: stamp pkt->stage_ns for per-VNF run_ns */
};

/* Flags in struct sfc_pkt.flags. */
#define SFC_PKT_F_L4         (1U << 0) /* l4_off points at a complete L4 header */
#define SFC_PKT_F_FRAG       (1U << 1) /* packet is a fragment (first or later) */
#define SFC_PKT_F_FRAG_LATER (1U << 2) /* non-first fragment: carries no L4 header */
#define SFC_PKT_F_VLAN       (1U << 3) /* at least one VLAN tag was present */
#define SFC_PKT_F_IPV4_OPTS  (1U << 4) /* IPv4 header has options */
#define SFC_PKT_F_IPV6_EXT   (1U << 5) /* IPv6 extension headers were skipped */

/*
 * The parse result of one packet. The entry program fills it once into the
 * chain's per-CPU scratch map; every VNF of the chain reads it instead of
 * parsing again. Offsets are from the start of the frame. Addresses and ports
 * are in network byte order; IPv4 addresses use word 0 and leave 1..3 zero.
 */
struct sfc_pkt {
	/* bpf_ktime_get_coarse_ns() at chain entry: for state timeouts and flow
	 * times, not for measuring. */
	__u64 ts_ns;
	__u64 stage_ns;   /* end of the previous stage when timing is on, else 0 */
	__u32 pkt_len;    /* frame length at chain entry */
	__u32 ifindex;    /* ingress interface */
	__u16 l3_off;     /* IPv4/IPv6 header */
	__u16 l4_off;     /* TCP/UDP/ICMP header, valid if SFC_PKT_F_L4 */
	__u16 l3_proto;   /* ETH_P_IP or ETH_P_IPV6, host byte order */
	__u8 l4_proto;    /* IPPROTO_*, after IPv6 extension headers */
	__u8 flags;       /* SFC_PKT_F_* */
	__u16 vlan_outer; /* VLAN id of the outer tag, 0 if none */
	__u16 vlan_inner; /* VLAN id of the inner tag (QinQ), 0 if none */
	__u16 sport;      /* TCP/UDP source port; ICMP echo identifier */
	__u16 dport;      /* TCP/UDP destination port; 0 for ICMP */
	__u8 tcp_flags;   /* FIN..CWR bits of the TCP header */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 ttl; /* IPv4 TTL or IPv6 hop limit */
	__u32 saddr[4];
	__u32 daddr[4];
	/* enum sfc_monitor_mode, copied by the entry from <chain>/monitor; 0:
	 * off, and then the only monitor cost per stage is a test of this byte. */
	__u8 monitor;
	/* The flow's application as a dpi VNF earlier in the chain knows it (nDPI
	 * protocol and category ids, docs/dpi.md); 0 (nDPI's "Unknown") until it
	 * is classified, and always 0 in a chain without dpi. These three bytes and
	 * monitor fill what was tail padding, so the struct keeps its size (80):
	 * an entry program of an older sfcd stored monitor as a 32-bit word,
	 * which leaves them zero. */
	__u8 app_category;
	__u16 app;
};

/* TCP flag bits as they appear in byte 13 of the TCP header. */
#define SFC_TCP_FIN 0x01
#define SFC_TCP_SYN 0x02
#define SFC_TCP_RST 0x04
#define SFC_TCP_PSH 0x08
#define SFC_TCP_ACK 0x10
#define SFC_TCP_URG 0x20
#define SFC_TCP_ECE 0x40
#define SFC_TCP_CWR 0x80

/*
 * Chain-level counters, one PERCPU_ARRAY entry pinned at <chain>/stats.
 * Written by the entry program, the tail-call failure path and the egress stage.
 */
struct sfc_chain_stats {
	__u64 rx_packets; /* frames seen by the entry program */
	__u64 rx_bytes;
	__u64 non_ip;              /* not IPv4/IPv6 (ARP, LLDP, ...): passed to the kernel */
	__u64 malformed;           /* truncated or invalid IP/L4 headers: dropped */
	__u64 tail_call_miss;      /* a tail call failed; fail policy applied */
	__u64 fail_drop;           /* dropped by the fail policy */
	__u64 fail_pass;           /* passed by the fail policy */
	__u64 egress_pass;         /* egress stage: XDP_PASS */
	__u64 egress_tx;           /* egress stage: XDP_TX */
	__u64 egress_redirect;     /* egress stage: redirected (redirect or fib) */
	__u64 egress_redirect_err; /* bpf_redirect*() refused the frame */
	__u64 fib_no_neigh;        /* route found, neighbour unresolved: passed to the kernel */
	__u64 fib_pass; /* local, unroutable here, TTL expiring, needs fragmenting: passed */
	__u64 fib_drop; /* blackhole/unreachable/prohibit route: dropped */
};

/*
 * Counters every VNF keeps, as the leading fields of its own stats struct, so
 * that `bpftool map dump` shows them flat and by name.
 */
#define SFC_VNF_COMMON_STATS                                            \
	__u64 rx_packets; /* packets that reached this VNF */           \
	__u64 rx_bytes;                                                 \
	__u64 pass;     /* accepted: handed to the next stage */        \
	__u64 drop;     /* dropped by this VNF */                       \
	__u64 tx;       /* answered out of the ingress port (XDP_TX) */ \
	__u64 redirect; /* redirected by this VNF */                    \
	__u64 aborted;  /* tail call to the next stage failed */        \
	__u64 run_ns    /* time spent in this VNF, if timing is enabled */

/* The base every VNF stats struct starts with; also what a plain VNF uses. */
struct sfc_vnf_stats {
	SFC_VNF_COMMON_STATS;
};

/*
 * The drop and verdict monitor (docs/monitor.md). Stages report events into
 * the chain's ring buffer (<chain>/events) while <chain>/monitor says so; the
 * daemon turns it on while someone watches and off after.
 */
enum sfc_monitor_mode {
	SFC_MON_OFF = 0,
	SFC_MON_DROPS = 1, /* drops, aborts and tail-call misses */
	SFC_MON_ALL = 2,   /* every verdict of every stage */
};

/* Why a stage decided what it did. struct sfc_event.detail qualifies it. */
enum sfc_reason {
	SFC_REASON_NONE = 0,           /* the stage's ordinary path */
	SFC_REASON_MALFORMED = 1,      /* truncated or invalid headers; detail: parser result */
	SFC_REASON_NON_IP = 2,         /* not IPv4/IPv6: to the kernel */
	SFC_REASON_TAIL_CALL_MISS = 3, /* detail: the empty slot; fail policy applied */
	SFC_REASON_FW_RULE = 4,       /* firewall rule; detail: its counter slot (<vnf>/rule_ids) */
	SFC_REASON_FW_DEFAULT = 5,    /* firewall default action; detail: connection state */
	SFC_REASON_FW_INVALID = 6,    /* firewall default, packet in invalid connection state */
	SFC_REASON_LB_NO_BACKEND = 7, /* load balancer: service without a usable backend */
	SFC_REASON_LB_FRAGMENT = 8,   /* load balancer: fragment addressed to a VIP */
	SFC_REASON_LB_BAD_HEADER = 9, /* load balancer: the rewrite did not fit the headers */
	SFC_REASON_FIB_DROP = 10,     /* blackhole, unreachable or prohibit route; detail: fib rc */
	SFC_REASON_FIB_PASS = 11, /* fib: local, unroutable here, must fragment; detail: fib rc */
	SFC_REASON_FIB_NO_NEIGH = 12, /* fib: neighbour unresolved, to the kernel */
	SFC_REASON_TTL = 13,          /* TTL or hop limit would expire: to the kernel */
	SFC_REASON_VLAN = 14,         /* fib: tagged frames are routed by the kernel */
	SFC_REASON_REDIRECT_ERR = 15, /* bpf_redirect*() refused the frame */
	SFC_REASON_COUNT
};

/* struct sfc_event.action: the XDP action, or NEXT for "handed to the next stage". */
enum sfc_event_action {
	SFC_ACT_ABORTED = 0,
	SFC_ACT_DROP = 1,
	SFC_ACT_PASS = 2,
	SFC_ACT_TX = 3,
	SFC_ACT_REDIRECT = 4,
	SFC_ACT_NEXT = 5,
};

/* struct sfc_event.stage: a VNF's slot, or one of these. */
#define SFC_STAGE_EGRESS     0xfe
#define SFC_STAGE_ENTRY      0xff
/* struct sfc_monitor_config.stages: bit <slot> per VNF, and these two. */
#define SFC_MON_STAGE_EGRESS (1U << 30)
#define SFC_MON_STAGE_ENTRY  (1U << 31)
#define SFC_MON_STAGES_ALL   0xffffffffU

/* <chain>/events: a BPF ring buffer of struct sfc_event. */
#define SFC_EVENTS_BYTES (256 * 1024)

/* <chain>/monitor, one ARRAY entry: written by the daemon only. */
struct sfc_monitor_config {
	__u32 mode;   /* enum sfc_monitor_mode */
	__u32 stages; /* SFC_MON_STAGE_* bits of the stages to report */
	__u32 sample; /* report one event in `sample` per CPU; 0 and 1: every one */
	__u32 pad;
	/* Per-CPU token bucket, in nanoseconds of credit: an event costs
	 * cost_ns (1e9 / events per second), the bucket holds burst_ns.
	 * cost_ns 0: no limit. */
	__u64 cost_ns;
	__u64 burst_ns;
};

/* <chain>/monitor_stats, one PERCPU_ARRAY entry: the monitor's own counters
 * and the token bucket, written by the data plane only. */
struct sfc_monitor_stats {
	__u64 events;       /* written to the ring buffer */
	__u64 lost;         /* ring buffer full (the reader is behind): not written */
	__u64 rate_limited; /* over the rate limit: not written */
	__u64 sampled_out;  /* skipped by 1-in-N sampling */
	__u64 credit_ns;    /* token bucket state */
	__u64 last_ns;
	__u32 sample_left;
	__u32 pad;
};

/* One ring buffer record. */
struct sfc_event {
	__u64 ts_ns;    /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 ifindex;  /* ingress interface */
	__u32 pkt_len;  /* frame length at chain entry */
	__u32 detail;   /* what the reason says it is */
	__u16 reason;   /* enum sfc_reason */
	__u8 action;    /* enum sfc_event_action */
	__u8 stage;     /* VNF slot, SFC_STAGE_EGRESS or SFC_STAGE_ENTRY */
	__u16 l3_proto; /* ETH_P_IP or ETH_P_IPV6 (host order); 0 if not parsed */
	__u8 l4_proto;  /* IPPROTO_* */
	__u8 tcp_flags; /* as in struct sfc_pkt */
	__u16 sport;    /* network order, as in struct sfc_pkt */
	__u16 dport;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 vlan;     /* outer VLAN id, 0 if none */
	__u32 saddr[4]; /* as in struct sfc_pkt */
	__u32 daddr[4];
};

#endif /* SFC_ABI_H */
