/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eLB map layouts, shared by elb.bpf.c and the daemon (daemon/elb/). Keys and
 * values are fixed-size and explicitly padded: they cross the kernel/user
 * boundary and stay pinned across daemon restarts.
 *
 * Addresses and ports are in network byte order; IPv4 uses word 0 of an
 * address and leaves 1..3 zero (as struct sfc_pkt does).
 */
#ifndef SFC_ELB_H
#define SFC_ELB_H

#include <linux/types.h>

#include <sfc/abi.h>

#define ELB_MAX_SERVICES 1024
#define ELB_MAX_BACKENDS 16384

/* Forwarding modes (struct elb_service.mode). */
enum elb_mode {
	ELB_MODE_DNAT = 0, /* rewrite dst to the backend, reverse-translate replies */
	ELB_MODE_DSR = 1,  /* rewrite the dst MAC only; the backend holds the VIP */
};

/* struct elb_service.flags */
#define ELB_SVC_F_DSR_TX (1U << 0) /* dsr: XDP_TX out of the ingress port */

/* struct elb_backend.flags */
#define ELB_BE_F_DOWN (1U << 0) /* failed its health check: connections are re-balanced */

/* services: which traffic is load-balanced. A lookup tries the exact port,
 * then port 0 (a service for every port of the VIP). */
struct elb_svc_key {
	__u32 vip[4];
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family; /* 4 or 6 */
};

struct elb_service {
	__u32 index;      /* slot of this service's table in `maglev` */
	__u32 table_size; /* prime; the inner table's max_entries */
	__u8 mode;        /* enum elb_mode */
	__u8 flags;       /* ELB_SVC_F_* */
	__u16 pad;
};

/* settings (one ARRAY entry): what the program may skip for this config. */
#define ELB_SET_F_ANY_PORT      (1U << 0) /* some service takes every port of its VIP */
#define ELB_SET_F_DNAT          (1U << 1) /* some service uses dnat: replies need reverse NAT */
/* A dnat backend keeps the client's port: replies may come from any port. */
#define ELB_SET_F_RNAT_ANY_PORT (1U << 2)

/* rnat_ports: a bitmap of the ports dnat backends listen on (word port / 64,
 * bit port % 64, host order). A packet from another source port cannot be a
 * reply of a DNAT-ed connection and skips the reverse-NAT lookup. */
#define ELB_RNAT_PORT_WORDS 1024

struct elb_settings {
	__u32 flags; /* ELB_SET_F_* */
	__u32 pad;
};

/* vip_filter: a bitmap over VIP addresses (word bit / 64, bit % 64), one bit
 * set per VIP by elb_vip_bit(). A packet whose destination's bit is clear is
 * for no service, and skips the connection and service lookups; a set bit
 * may be a collision, and costs those lookups only. */
#define ELB_VIP_BITS_LOG2    16
#define ELB_VIP_FILTER_WORDS ((1U << ELB_VIP_BITS_LOG2) / 64)

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

static __always_inline __u32 elb_vip_bit(const __u32 *addr)
{
	__u32 h = (addr[0] ^ addr[1] ^ addr[2] ^ addr[3]) * 0x9e3779b1u;

	return h >> (32 - ELB_VIP_BITS_LOG2);
}

/* vips: every VIP address with at least one service; lets the program
 * recognise fragments (which carry no ports) addressed to a VIP. */
struct elb_vip_key {
	__u32 addr[4];
	__u8 family;
	__u8 pad[3];
};

/* backends: slot -> where to send. Slots are dense indices the daemon keeps
 * stable for as long as a backend exists (an inlined array lookup per
 * packet); `id` tells a slot's current backend from a former one. Slot 0 is
 * never used: a table entry 0 means "no backend". */
struct elb_backend {
	__u32 id; /* stable hash of service + address + port; 0: free slot */
	__u32 addr[4];
	__be16 port; /* 0: keep the client's destination port */
	__u8 flags;  /* ELB_BE_F_* */
	__u8 family;
	__u8 mac[6];     /* dsr: the backend's MAC */
	__u8 svc_mode;   /* the owning service's enum elb_mode and ELB_SVC_F_* flags: */
	__u8 svc_flags;  /* what a known connection needs, without a service lookup */
	__u32 svc_index; /* owning service: a connection never moves across services */
};

/* backend_stats (per-CPU array, by backend slot): zeroed by the daemon when
 * a slot changes hands, read by the API. */
struct elb_backend_stats {
	__u64 packets;
	__u64 bytes;
	__u64 connections; /* new connections assigned to this backend */
};

/*
 * conntrack (LRU): client-side 5-tuple -> the backend the connection uses.
 *
 * TCP: a SYN (without ACK) is a new connection even when its tuple has an
 * entry (a client reusing its ports): it gets a fresh Maglev pick and the
 * entry is overwritten, unless it is the entry's own SYN sent again (same
 * initial sequence number). FIN from both sides, or an RST from either,
 * marks the entry closed; sfcd removes closed entries (and their reverse
 * entries) once they have been quiet for the close timeout. Only SYN, FIN and
 * RST segments do any of this: other segments never look at `state`.
 */
struct elb_flow_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* struct elb_conn.state */
#define ELB_CONN_F_SYN         (1U << 0) /* opened by a SYN: syn_seq holds its ISN */
#define ELB_CONN_F_FIN_CLIENT  (1U << 1) /* the client sent FIN */
#define ELB_CONN_F_FIN_BACKEND (1U << 2) /* the backend sent FIN (seen on dnat replies) */
#define ELB_CONN_F_CLOSED      (1U << 3) /* FIN both ways (dsr: the client's) or RST */

struct elb_conn {
	__u32 backend_id; /* valid while backends[slot].id still equals it */
	__u32 slot;
	__u16 svc_index;
	__u8 state; /* ELB_CONN_F_*; a plain read-modify-write, see elb.bpf.c */
	__u8 pad;
	__u32 syn_seq; /* initial sequence number (network order), with ELB_CONN_F_SYN */
	/* Last refresh of the reverse entry (at most once a second; dnat), and
	 * the time the connection closed: the close timeout counts from it. */
	__u64 seen_ns;
};

/* reverse_nat (LRU, dnat only): backend-side 5-tuple of the reply
 * (backend -> client) -> the VIP and port to put back as its source. */
struct elb_rnat {
	__u32 vip[4];
	__be16 vport;
	__u16 pad;
	__u32 pad2;
};

/* Counters in map `stats` (one PERCPU_ARRAY entry). */
struct elb_stats {
	SFC_VNF_COMMON_STATS;
	__u64 vip_packets;    /* packets that matched a service */
	__u64 new_conns;      /* connections given a backend by the Maglev table */
	__u64 reused_conns;   /* packets of known connections */
	__u64 repicked_conns; /* known connection whose backend is gone or down: re-balanced */
	__u64 no_backend;     /* service has no usable backend: dropped */
	__u64 dnat;           /* destination rewritten to a backend */
	__u64 snat;           /* reply source rewritten back to the VIP */
	__u64 dsr;            /* MAC rewritten towards a backend */
	__u64 frag_drop;      /* IP fragment addressed to a VIP: dropped (carries no ports) */
	__u64 ct_full;        /* connection table insert failed: forwarded untracked */
	__u64 bad_header;     /* L3/L4 header out of reach: dropped */
	__u64 icmp_nat;       /* ICMP error about a DNAT-ed connection translated */
	__u64 reopened_conns; /* SYN of a new connection on the tuple of a known one */
	__u64 closed_conns; /* connections seen closing: FIN both ways (dsr: the client's) or RST */
};

#endif /* SFC_ELB_H */
