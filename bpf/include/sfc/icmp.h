/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP and ICMPv6 as the VNFs need them: the shared header layout and which
 * messages are errors (they quote the packet they are about) or echoes (their
 * identifier names a flow both ways). linux/icmp.h pulls in libc socket
 * headers that do not build for the BPF target, hence our own.
 */
#ifndef SFC_ICMP_H
#define SFC_ICMP_H

#include <linux/in.h>
#include <linux/types.h>

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/* ICMP and ICMPv6 share this leading layout (type, code, checksum, and for
 * echo messages the identifier and sequence). */
struct sfc_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 echo_id;
	__be16 echo_seq;
};

/* An error message: destination unreachable, source quench, redirect, time
 * exceeded, parameter problem (RFC 792); ICMPv6 types below 128 (RFC 4443). */
static __always_inline int sfc_icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type < 128;
}

/* An echo request or reply; *is_request tells which. */
static __always_inline int sfc_icmp_is_echo(__u8 proto, __u8 type, __u8 *is_request)
{
	if (proto == IPPROTO_ICMP) {
		*is_request = type == 8;
		return type == 8 || type == 0;
	}
	*is_request = type == 128;
	return type == 128 || type == 129;
}

#endif /* SFC_ICMP_H */
