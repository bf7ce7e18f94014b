/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eFW, the stateful firewall VNF: the layout of every map it shares with the
 * daemon (daemon/efw/). docs/firewall.md explains the classifier; in short:
 *
 * Rules are partitioned into "groups" by shape, i.e. by which of the fields
 * src, dst, sport, dport, iif they constrain (5 bits, 32 groups). Within a
 * group every rule constrains the same fields, so the group is classified by
 * one cross-product lookup: each constrained field maps the packet to a
 * region id (LPM trie or prefix hash for prefixes, an array for ports, a
 * hash for the ingress interface), and (group, misc region, field regions...) is looked up
 * in one hash whose value is the first rule of the group covering that
 * region tuple. The protocol/state/TCP-flags/ICMP-type predicate ("misc")
 * is a small array per group. The packet's verdict is the lowest-priority
 * result over the active groups; groups are visited in order of their best
 * rule so the scan stops early. Per-packet cost is bounded by the number of
 * groups, never by the number of rules. Rules on the application a dpi VNF
 * found (struct sfc_pkt app, app_category) add no shapes: a group holding
 * some gets two more key fields, the regions of the packet's application and
 * category ids from `apps`.
 *
 * Every table key carries a set bit: the daemon builds the inactive set (A/B)
 * completely, then flips `active` with one word write, so a packet sees either
 * the old rule set or the new one, never a mix.
 */
#ifndef SFC_EFW_H
#define SFC_EFW_H

#include <linux/types.h>

#include <sfc/abi.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Shape bits of a rule group. */
#define EFW_G_SRC      (1U << 0)
#define EFW_G_DST      (1U << 1)
#define EFW_G_SPORT    (1U << 2)
#define EFW_G_DPORT    (1U << 3)
#define EFW_G_IIF      (1U << 4)
#define EFW_NGROUPS    32
#define EFW_SETS       2
/* Groups with a port field get a dense slot in the `ports` map. */
#define EFW_PORT_SLOTS 16

/* (set, group) packed into one byte: the first byte of every table key. */
static __always_inline __u8 efw_gs(__u32 set, __u32 group)
{
	return (__u8)((set & 1) << 5 | (group & (EFW_NGROUPS - 1)));
}

/* Misc key: protocol slot x conntrack state x aux byte (TCP flags for TCP,
 * ICMP type for ICMP/ICMPv6, 0 otherwise). Non-first fragments use the
 * protocol slot + EFW_PROTO_FRAG: rules with ports, flags or ICMP type never
 * cover those slots (they carry no L4 header). */
enum efw_proto_slot {
	EFW_PROTO_OTHER = 0,
	EFW_PROTO_TCP = 1,
	EFW_PROTO_UDP = 2,
	EFW_PROTO_ICMP = 3,
	EFW_PROTO_ICMPV6 = 4,
	EFW_PROTO_FRAG = 5, /* added to the above for non-first fragments */
	EFW_PROTO_SLOTS = 10,
};

/* Connection state of a packet, as rules match it. */
enum efw_ct_state {
	EFW_CT_NEW = 0,
	EFW_CT_ESTABLISHED = 1,
	EFW_CT_RELATED = 2,
	EFW_CT_INVALID = 3,
	EFW_CT_UNTRACKED = 4, /* non-first fragments: only rules without a state match */
	EFW_CT_STATES = 5,
};

#define EFW_MISC_KEYS (EFW_PROTO_SLOTS * EFW_CT_STATES * 256)
/* The region array is padded to a power of two so a mask bounds the index. */
#define EFW_MISC_SIZE 16384

static __always_inline __u32 efw_misc_index(__u32 proto_slot, __u32 state, __u32 aux)
{
	return (proto_slot * EFW_CT_STATES + state) * 256 + (aux & 0xff);
}

enum efw_action {
	EFW_ALLOW = 0,
	EFW_DROP = 1,
	EFW_REJECT = 2,
};

/* `active` map value: which set packets use, and which install made it.
 * The epoch changes with every install (and carries over to a re-applied
 * instance), never 0, 24 bits: a verdict cached under another epoch is stale. */
struct efw_active {
	__u32 set;
	__u32 epoch;
};
#define EFW_EPOCH_MASK 0xffffff

/* The four address tables: a direction and a family. */
enum efw_addr_table {
	EFW_ADDR_SRC4 = 0,
	EFW_ADDR_DST4 = 1,
	EFW_ADDR_SRC6 = 2,
	EFW_ADDR_DST6 = 3,
	EFW_ADDR_TABLES = 4,
};

static __always_inline __u32 efw_addr_table(int src, int v6)
{
	return (v6 ? EFW_ADDR_SRC6 : EFW_ADDR_SRC4) + (src ? 0 : 1);
}

/* An address table whose prefixes come in at most this many lengths is a
 * prefix hash rather than a trie (see `pfx4`/`pfx6` below). */
#define EFW_HASH_LENS 8

/* `setcfg` map, one entry per set: what a packet needs before the lookups. */
struct efw_set_cfg {
	__u8 ngroups;        /* entries used in groups[] */
	__u8 default_action; /* enum efw_action when no rule matches */
	__u8 has_iif;        /* some group matches the ingress interface */
	__u8 has_addr;       /* bit 0: some group has src, bit 1: dst */
	__u8 has_tcp_flags;  /* some rule matches TCP flags */
	__u8 has_app;        /* some rule matches app or app_category */
	__u8 pad[2];
	__u8 groups[EFW_NGROUPS]; /* active groups, by ascending gmin */
	__u8 pslot[EFW_NGROUPS];  /* per group: its slot in `ports`, 0xff none */
	__u32 app_groups;         /* bit g: group g matches app fields (its `apps` entry) */
	__u32 gmin[EFW_NGROUPS];  /* per groups[] entry: priority of its best rule */
	/* Per address table (enum efw_addr_table): 0 when its prefixes are in
	 * the trie, else how many prefix lengths lens[] lists (longest first)
	 * for the prefix hash. */
	__u8 nlens[EFW_ADDR_TABLES];
	__u8 lens[EFW_ADDR_TABLES][EFW_HASH_LENS];
};

/* `misc` map value, index set * EFW_NGROUPS + group: region of each misc key
 * (0: no rule of the group covers it). */
struct efw_misc {
	__u16 region[EFW_MISC_SIZE];
};

/* `ports` map value, index set * EFW_PORT_SLOTS + slot: region of each port
 * (host order index; 0: no rule of the group covers it). */
struct efw_ports {
	__u16 sport[65536];
	__u16 dport[65536];
};

/* `apps` map value, index set * EFW_NGROUPS + group, for groups with rules
 * on app or app_category: region of each nDPI application and category id
 * (0: no rule of the group covers it). Each of the two is cut into the ids
 * the group's rules name, one region each, and region 1 for every other id;
 * rules without the field cover all of them. Ids from EFW_APP_IDS - 1 up
 * share the last entry, which no rule can name (the parser refuses them):
 * nDPI's ids, custom protocols included, stay below 512 (NDPI_NUM_BITS). */
#define EFW_APP_IDS        1024
#define EFW_APP_CATEGORIES 256

struct efw_apps {
	__u16 app[EFW_APP_IDS];
	__u16 category[EFW_APP_CATEGORIES];
};

/* LPM tries `src4`/`dst4` and `src6`/`dst6`: one per direction and family,
 * shared by every group, so a packet makes at most one lookup per direction.
 * The set byte leads the key, so prefixlen = 8 + prefix length. The value of
 * prefix P holds, for each group constraining that direction, the group's
 * region of the longest prefix of that group containing P (0: none). */
#define EFW_ADDR_SLOTS 16

struct efw_lpm4_key {
	__u32 prefixlen;
	__u8 set;
	__u8 addr[4];
};

struct efw_lpm6_key {
	__u32 prefixlen;
	__u8 set;
	__u8 addr[16];
};

/* Prefix hashes `pfx4`/`pfx6`: the trie's entries, for an address table
 * with few distinct prefix lengths, plus a marker (no regions) at the
 * table's shortest length for every longer prefix not covered by a real
 * entry there. A lookup probes the shortest length (a miss ends it), then
 * the others longest first, each with the address masked to that length;
 * the first hit is the longest stored prefix containing the address, which
 * is what the trie returns (efw_pfx_hash). The trie's cost grows with its
 * depth, i.e. with the number of prefixes (a 1M-entry blocklist inside one
 * /8 is 20-odd dependent node loads); the hash costs one probe for an
 * address outside every prefix and at most one per length otherwise,
 * whatever the number of prefixes. */
struct efw_pfx4_key {
	__u8 set;
	__u8 table; /* enum efw_addr_table */
	__u8 len;
	__u8 pad;
	__u8 addr[4]; /* masked to len */
};

struct efw_pfx6_key {
	__u8 set;
	__u8 table;
	__u8 len;
	__u8 pad;
	__u8 addr[16];
};

struct efw_addr_regions {
	__u32 region[EFW_ADDR_SLOTS];
};

/* The 16 groups with EFW_G_SRC (odd ids) and the 16 with EFW_G_DST, each
 * numbered densely. */
static __always_inline __u32 efw_src_slot(__u32 group)
{
	return (group >> 1) & (EFW_ADDR_SLOTS - 1);
}

static __always_inline __u32 efw_dst_slot(__u32 group)
{
	return ((group >> 2) << 1 | (group & 1)) & (EFW_ADDR_SLOTS - 1);
}

/* `iifs` key; value __u32 interface id (>= 1). */
struct efw_iif_key {
	__u32 ifindex;
	__u32 set;
};

/* `matches`: the per-group cross product. Fields a group does not
 * constrain are 0. */
struct efw_match_key {
	__u8 gs;
	__u8 pad;
	__u16 misc;
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u32 iif;
	__u16 app; /* regions from `apps`, in groups that have a slot there */
	__u16 category;
};

struct efw_match {
	__u32 prio;  /* rule index: lower wins */
	__u32 slot;  /* counter slot in `rule_stats` */
	__u8 action; /* enum efw_action */
	__u8 pad[3];
};

/* `rule_stats` (PERCPU_ARRAY, one entry per counter slot). */
struct efw_rule_stats {
	__u64 packets;
	__u64 bytes;
};

/* `rule_ids` (ARRAY, one entry per counter slot): the id of the rule that
 * owns the slot, empty when free. Kept across edits and daemon restarts so a
 * rule's counters follow its id. */
#define EFW_RULE_ID_LEN 64
struct efw_rule_id {
	char id[EFW_RULE_ID_LEN];
};

/* Connection tracking. Keys are canonical: the (address, port) pair that
 * sorts lower is `a`, so both directions share one entry. */
struct efw_ct_key {
	__u32 a[4];
	__u32 b[4];
	__u16 aport;
	__u16 bport;
	__u8 proto;
	__u8 family; /* 4 or 6 */
	__u16 pad;
};

enum efw_tcp_state {
	EFW_TCP_SYN_SENT = 0, /* originator's SYN seen */
	EFW_TCP_ESTABLISHED,  /* reply seen */
	EFW_TCP_FIN_WAIT,     /* one side sent FIN */
	EFW_TCP_CLOSING,      /* both sides sent FIN, or RST */
};

struct efw_ct_entry {
	__u64 last_seen_ns;
	__u8 orig_is_a;  /* the originator is key.a */
	__u8 seen_reply; /* traffic seen in the reply direction */
	__u8 tcp_state;  /* enum efw_tcp_state */
	__u8 fin_seen;   /* bit 0: from a, bit 1: from b */
	/* The application the cached verdicts were made for, in rule sets
	 * matching on it: app (16) | app_category (8) | sequence (8). The
	 * sequence (its low 3 bits) is bumped whenever the application changes
	 * and stamped into each verdict, so a verdict made for the previous
	 * application never passes for the new one (efw.bpf.c). */
	__u32 app_tag;
	/* The classification of the last packet each way ([1]: a -> b), reused
	 * by the next packets of the connection while nothing it depends on
	 * changed. One word each, so a reader sees a whole verdict (see
	 * efw_verdict_*() in efw.bpf.c). 0: none. */
	__u64 verdict[2];
};

/* `ct_live`: entries we inserted minus entries we removed. When an insert
 * finds it at max_entries, the LRU must have evicted one: ct_evicted++. */
struct efw_ct_live {
	__s64 live;
};

struct efw_stats {
	SFC_VNF_COMMON_STATS;
	__u64 allow;         /* accepted (by a rule or the default) */
	__u64 reject;        /* answered with a TCP RST or ICMP unreachable */
	__u64 reject_failed; /* reject could not build a reply: dropped */
	__u64 default_allow; /* no rule matched, default allow */
	__u64 default_drop;  /* no rule matched, default drop */
	__u64 ct_new;        /* packet states as rules saw them */
	__u64 ct_established;
	__u64 ct_related;
	__u64 ct_invalid;
	__u64 ct_untracked;   /* non-first fragments */
	__u64 ct_inserted;    /* connections added to the table */
	__u64 ct_evicted;     /* inserts that found the table full (LRU evicted one) */
	__u64 ct_expired;     /* entries found past their timeout and removed */
	__u64 ct_closed;      /* TCP connections removed on RST */
	__u64 verdict_cached; /* decided by the verdict cached in the connection */
};

#endif /* SFC_EFW_H */
