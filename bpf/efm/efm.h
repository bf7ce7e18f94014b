/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eFM (flow monitor) types shared by the data plane (efm.bpf.c) and the
 * daemon's exporter (daemon/efm/). Layouts are fixed-size, explicitly padded,
 * and carried in BTF so `bpftool map dump pinned .../flows` shows them named.
 */
#ifndef SFC_EFM_H
#define SFC_EFM_H

#include <linux/types.h>

#include <sfc/abi.h>

/* Default size of the flow table ("max_flows"). */
#define EFM_DEFAULT_MAX_FLOWS 1048576

/*
 * One unidirectional flow. Addresses and ports are in network byte order as
 * sfc_pkt has them; IPv4 uses word 0 of each address. ICMP and ICMPv6 carry
 * no ports: dport holds type << 8 | code (host order), the convention NetFlow
 * and IPFIX collectors use, and sport is 0. Non-first fragments carry no L4
 * header, so they count towards the flow with both ports 0.
 * The ingress interface and VLAN tags are part of the key: the same 5-tuple on
 * two VLANs is two flows.
 */
struct efm_flow_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 ifindex; /* ingress interface */
	__u16 sport;
	__u16 dport;
	__u16 vlan_outer; /* 0 when untagged */
	__u16 vlan_inner; /* inner (customer) tag of QinQ, else 0 */
	__u8 family;      /* 4 or 6 */
	__u8 proto;       /* IPPROTO_*, after IPv6 extension headers */
	__u8 pad[2];      /* always zero: keys are hashed bytewise */
};

/* A fragmented datagram: addresses, protocol and IP identification. */
struct efm_frag_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 id; /* IPv4: the 16-bit ID; IPv6: the fragment header's 32 bits */
	__u8 family;
	__u8 proto;
	__u8 pad[2];
};

/* The ports of a fragmented datagram, as its first fragment carried them. */
struct efm_frag_ports {
	__u16 sport;
	__u16 dport;
};

/* Datagrams in reassembly we remember ports for: fragments of one datagram
 * arrive within milliseconds, so a small LRU covers a lot of fragmented traffic. */
#define EFM_FRAG_ENTRIES 8192

/*
 * Counters of one flow. packets and bytes are updated with atomic adds, so no
 * update is lost when the flow's packets hit several CPUs at once. bytes count
 * the IP datagram (IP header and payload, no L2), as IPFIX octetDeltaCount
 * defines it. Times are the chain entry's bpf_ktime_get_coarse_ns()
 * (CLOCK_MONOTONIC_COARSE: jiffy resolution).
 */
struct efm_flow {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u32 tcp_flags; /* OR of the TCP flags byte of every packet */
	/* The first application a dpi VNF earlier in the chain named for a
	 * packet of the flow (struct sfc_pkt app, app_category; nDPI ids), 0
	 * while none did. Kept once set: nDPI labels a flow once. */
	__u16 app;
	__u8 app_category;
	__u8 pad;
};

/*
 * What the daemon exported of a flow that is still in the table (a long flow
 * after an active-timeout record), in the `exported` map. Only the daemon
 * reads and writes it; it is pinned with the instance so that a restarted
 * sfcd goes on exporting deltas instead of the flow's packets once more.
 */
struct efm_export_state {
	__u64 first_seen_ns; /* the table entry this belongs to */
	__u64 packets;       /* exported so far */
	__u64 bytes;
	/* When the last record's counters were read: later packets came after
	 * (CLOCK_MONOTONIC). */
	__u64 cut_ns;
};

/*
 * Counters of one eFM instance, in its `stats` map. Table-full evictions are
 * not here: an LRU hash evicts silently, so the daemon derives them from
 * flows_created (see daemon/efm/flow_tracker.h).
 */
struct efm_stats {
	SFC_VNF_COMMON_STATS;
	__u64 flows_created;     /* entries this program inserted into `flows` */
	__u64 flow_insert_races; /* another CPU inserted the same flow first */
	__u64 flow_insert_fail;  /* insert failed: packet accounted nowhere */
	__u64 ipv4_packets;
	__u64 ipv6_packets;
	__u64 fragments;           /* non-first fragments */
	__u64 fragments_unmatched; /* ... whose first fragment was not seen: port-less flow */
};

#endif /* SFC_EFM_H */
