/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dpi (application classification) types shared by the data plane
 * (dpi.bpf.c) and the daemon (daemon/dpi/). The program copies the first
 * packets of every new flow into a ring buffer; sfcd classifies them with nDPI
 * and writes the result into the flow's entry, from which the program labels
 * every later packet (struct sfc_pkt app and app_category).
 */
#ifndef SFC_DPI_H
#define SFC_DPI_H

#include <linux/types.h>

#include <sfc/abi.h>

/* Defaults of the config ("max_flows", "max_packets", "snap_bytes", "ring_bytes"). */
#define DPI_DEFAULT_MAX_FLOWS   65536
#define DPI_DEFAULT_MAX_PACKETS 8
#define DPI_DEFAULT_SNAP_BYTES  1024
#define DPI_DEFAULT_RING_BYTES  (4 * 1024 * 1024)
/* Upper bounds: the per-CPU copy buffer is sized for DPI_SNAP_MAX bytes, and
 * the per-flow packet count is a byte. */
#define DPI_SNAP_MAX            2048
#define DPI_MAX_PACKETS_LIMIT   32

/*
 * A TCP or UDP flow, both directions in one key: the endpoint (address, port)
 * that compares lower bytewise comes first, so A->B and B->A build the same
 * key. Addresses and ports in network byte order as sfc_pkt has them; IPv4
 * uses word 0. No ingress interface or VLAN: the two directions of a flow
 * often arrive on different ports of the same chain.
 */
struct dpi_flow_key {
	__u32 addr_lo[4];
	__u32 addr_hi[4];
	__u16 port_lo;
	__u16 port_hi;
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[2]; /* always zero: keys are hashed bytewise */
};

enum dpi_state {
	DPI_PENDING = 0,    /* first packets go to the classifier */
	DPI_CLASSIFIED = 1, /* app/master/category are nDPI's answer */
	DPI_GIVEN_UP = 2,   /* no answer (Unknown, or nDPI's guess): never fed again */
};

/* Why a flow was given up (struct dpi_flow.reason). */
enum dpi_giveup_reason {
	DPI_GIVEUP_NONE = 0,
	DPI_GIVEUP_PACKETS = 1,   /* max_packets seen without an answer */
	DPI_GIVEUP_RING_FULL = 2, /* a packet could not be copied: the classifier cannot follow */
	DPI_GIVEUP_EVICTED = 3,   /* the classifier had no room for its state (max_classifying) */
	DPI_GIVEUP_LOST = 4,      /* its classifier state was lost (sfcd restarted mid-flow) */
};

/*
 * One flow, in the `flows` LRU hash. The program creates it (PENDING) and
 * counts every packet into it; the daemon writes state, app, master, category
 * and reason when it has an answer. packets and bytes count both directions;
 * bytes are frame bytes at chain entry (L2 included). They are plain adds, not
 * atomic ones (which would cost the fast path 8 ns of its 30): when both
 * directions of a flow run on two CPUs at the same instant, an increment can
 * be lost. The exact per-application totals are in `app_stats`.
 * Times are the chain entry's bpf_ktime_get_coarse_ns().
 */
struct dpi_flow {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u32 fed;     /* packets the program tried to copy to the ring buffer */
	__u16 app;     /* nDPI protocol id (the most specific: app, else master) */
	__u16 master;  /* nDPI master protocol id ("TLS" under "Google"), 0 if none */
	__u8 category; /* nDPI category id */
	__u8 state;    /* enum dpi_state */
	__u8 reason;   /* enum dpi_giveup_reason when GIVEN_UP */
	__u8 pad[5];
};

/*
 * Per-application traffic, in the per-CPU array `app_stats` indexed by the
 * nDPI id the flow carried when the packet passed (0: Unknown, which includes
 * flows still pending). Exact: per-CPU counters need no atomics. Ids of
 * DPI_APP_SLOTS and above (custom protocols) are counted in slot 0.
 */
#define DPI_APP_SLOTS 1024
struct dpi_app_counters {
	__u64 packets;
	__u64 bytes; /* frame bytes at chain entry */
};

/* struct dpi_event.flags */
#define DPI_EV_F_REVERSE   (1U << 0) /* sent from the key's hi endpoint to its lo endpoint */
#define DPI_EV_F_TRUNCATED (1U << 1) /* cap_len < ip_len: only snap_bytes were copied */

/*
 * The head of one ring buffer record: a packet of a PENDING flow. cap_len
 * bytes of the packet, from its IP header on, follow it: a record is
 * sizeof(struct dpi_event) + cap_len bytes long.
 */
struct dpi_event {
	struct dpi_flow_key key;
	__u64 ts_ns;   /* the chain entry's coarse clock */
	__u32 ip_len;  /* bytes from the IP header to the end of the frame */
	__u16 cap_len; /* bytes in data[] */
	__u8 seq;      /* 1 for the flow's first packet, 2 for the second, ... */
	__u8 flags;    /* DPI_EV_F_* */
};

/* The per-CPU buffer a record is assembled in before bpf_ringbuf_output():
 * a struct dpi_event and up to DPI_SNAP_MAX bytes of packet. */
struct dpi_scratch {
	__u8 buf[sizeof(struct dpi_event) + DPI_SNAP_MAX];
};

/*
 * Counters of one dpi instance, in its `stats` map. The classifier's own
 * counts (classified, given up, evicted) are the daemon's: sfcctl dpi apps.
 * Packets that left labelled are counted per application in `app_stats`
 * (not here: a second cache line on the fast path).
 */
struct dpi_stats {
	SFC_VNF_COMMON_STATS;
	__u64 dpi_flows_created; /* entries this program inserted into `flows` */
	__u64 dpi_fed;           /* packets copied to the ring buffer */
	__u64 dpi_fed_bytes;     /* bytes of packet data copied */
	__u64 dpi_ring_full;     /* copies the ring buffer had no room for */
	__u64 dpi_gave_up_ring;  /* flows given up because of a full ring buffer */
	__u64 dpi_not_inspected; /* not TCP/UDP, or a later fragment: passed unlabelled */
	__u64 dpi_insert_fail;   /* flow could not be inserted: passed unlabelled */
	__u64 dpi_copy_fail;     /* bpf_xdp_load_bytes() failed: packet not fed */
};

#endif /* SFC_DPI_H */
