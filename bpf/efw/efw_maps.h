/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * eFW's maps and load-time constants (set by the daemon before load).
 * Included once, by efw.bpf.c.
 */
#ifndef EFW_MAPS_BPF_H
#define EFW_MAPS_BPF_H

#define NSEC_PER_SEC 1000000000ULL

/* Conntrack timeouts and size, set by the daemon from the config. */
const volatile __u64 efw_ct_tcp_syn_ns = 60 * NSEC_PER_SEC;
const volatile __u64 efw_ct_tcp_est_ns = 3600 * NSEC_PER_SEC;
const volatile __u64 efw_ct_tcp_close_ns = 10 * NSEC_PER_SEC;
const volatile __u64 efw_ct_udp_ns = 60 * NSEC_PER_SEC;
const volatile __u64 efw_ct_icmp_ns = 30 * NSEC_PER_SEC;
const volatile __s64 efw_ct_max = 65536;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_stats);
} stats SEC(".maps");

/* --- rule tables (rebuilt from the config; both sets live in each map) --- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_active);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EFW_SETS);
	__type(key, __u32);
	__type(value, struct efw_set_cfg);
} setcfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (EFW_SETS * EFW_NGROUPS));
	__type(key, __u32);
	__type(value, struct efw_misc);
} misc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (EFW_SETS * EFW_PORT_SLOTS));
	__type(key, __u32);
	__type(value, struct efw_ports);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (EFW_SETS * EFW_NGROUPS));
	__type(key, __u32);
	__type(value, struct efw_apps);
} apps SEC(".maps");

/* Sized by the daemon ("max_rules"); LPM tries need BPF_F_NO_PREALLOC. */
#define EFW_LPM(name, keytype)                          \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);    \
		__uint(max_entries, 65536);             \
		__type(key, struct keytype);            \
		__type(value, struct efw_addr_regions); \
		__uint(map_flags, BPF_F_NO_PREALLOC);   \
	} name SEC(".maps")

EFW_LPM(src4, efw_lpm4_key);
EFW_LPM(dst4, efw_lpm4_key);
EFW_LPM(src6, efw_lpm6_key);
EFW_LPM(dst6, efw_lpm6_key);

/* Sized by the daemon like the tries; no preallocation, so a chain whose
 * tables are tries pays nothing for them. */
#define EFW_PFX_HASH(name, keytype)                     \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_HASH);        \
		__uint(max_entries, 65536);             \
		__type(key, struct keytype);            \
		__type(value, struct efw_addr_regions); \
		__uint(map_flags, BPF_F_NO_PREALLOC);   \
	} name SEC(".maps")

EFW_PFX_HASH(pfx4, efw_pfx4_key);
EFW_PFX_HASH(pfx6, efw_pfx6_key);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct efw_iif_key);
	__type(value, __u32);
} iifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct efw_match_key);
	__type(value, struct efw_match);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} matches SEC(".maps");

/* --- state kept across rule edits and re-applies --- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct efw_rule_stats);
} rule_stats SEC(".maps");

/* Counter slot -> rule id (empty: free). Only the daemon uses it; it lives
 * here so the mapping persists in bpffs across edits and restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct efw_rule_id);
} rule_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct efw_ct_key);
	__type(value, struct efw_ct_entry);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_ct_live);
} ct_live SEC(".maps");

/* Per-CPU copy of the packet's address regions, filled by the first group
 * that needs each direction: a packet decided by an address-less group (an
 * "established" rule on top) makes no LPM lookup at all. Kept in a map value
 * rather than on the stack so the group loop stays one verifier state. */
struct efw_addr_ctx {
	__u32 looked; /* bit 0: src filled, bit 1: dst filled */
	__u32 pad;
	__u32 src[EFW_ADDR_SLOTS];
	__u32 dst[EFW_ADDR_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct efw_addr_ctx);
} scratch SEC(".maps");

#endif /* EFW_MAPS_BPF_H */
