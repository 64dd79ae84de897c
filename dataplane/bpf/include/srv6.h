/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between the eBPF programs and user space: map key/value layouts,
 * counter indices and limits. Mirrored by `dataplane/src/maps.rs` (`#[repr(C)]`
 * types and `Counter`), whose tests check that sizes and values agree with the
 * object file's BTF. Never renumber a counter; append new ones before
 * COUNTER_MAX.
 */
#ifndef SRV6_H
#define SRV6_H

#include <linux/types.h>
#include <linux/in6.h>

/* SIDs a path may hold (travel order, without the final destination). */
#define MAX_SIDS 16
/* Segments in an SRH we build or learn: final destination + SIDs. */
#define MAX_SEGMENTS (MAX_SIDS + 1)
#define SRH_FIXED_LEN 8
#define MAX_SRH_LEN (SRH_FIXED_LEN + 16 * MAX_SEGMENTS)
/* Wire-format DNS names are at most 255 bytes; the key is zero padded. */
#define DNS_NAME_LEN 256

/* (address, port, protocol): the client's destination application, or the
 * server's learned peer. Port in host byte order. */
struct flow_key {
	struct in6_addr addr;
	__u16 port;
	__u8 proto;
	__u8 pad; /* always zero: part of the hash key */
};

/* A standalone-mode path for every address DNS snooping learns for a service. */
struct service_key {
	__u32 service_id;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

/*
 * A ready-to-insert SRH. User space (client paths) or the server's ingress
 * program (learned flows) builds the whole header once, so the per-packet
 * work is one copy. Segment 0 (the final destination) is rewritten from the
 * packet on insert, so one blob serves every address of a service.
 */
struct srh_blob {
	__u16 srh_len;       /* bytes used in srh[]: 8 + 16 * n_segments */
	__u8 n_segments;     /* 1..MAX_SEGMENTS */
	__u8 pad[5];
	struct in6_addr first_hop; /* IPv6 destination after insert: segments[n-1] */
	__u8 srh[MAX_SRH_LEN];
};

struct dns_name {
	__u8 wire[DNS_NAME_LEN]; /* lower-case wire format, zero padded */
};

struct service_value {
	__u32 service_id;
	__u32 pad;
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct client_config {
	__u32 dns_names; /* names in client_names: 0 skips the DNS lookups on egress */
	__u32 pad;
};

struct server_config {
	__u32 trusted_only; /* u32, not bool: no padding surprises across the boundary */
	__u32 pad;
};

/* Per-CPU decision counters; index = reason. */
enum counter {
	CNT_PASSED = 0,         /* not ours: no SRH / no matching path */
	CNT_ENCAPSULATED = 1,   /* SRH inserted */
	CNT_DECAPSULATED = 2,   /* SRH stripped */
	CNT_LEARNED = 3,        /* server flow stored (new or changed path) */
	CNT_MALFORMED = 4,      /* invalid SRH: passed untouched */
	CNT_TOO_BIG = 5,        /* would exceed the MTU after insert: dropped */
	CNT_FRAGMENT = 6,       /* IPv6 fragment: passed without insert / learn */
	CNT_NOT_LOCAL = 7,      /* SRH with SL > 0 or not addressed to us: passed */
	CNT_UNTRUSTED = 8,      /* SRH from outside the trusted prefixes: stripped, not learned */
	CNT_DNS_LEARNED = 9,    /* AAAA answer stored for a configured name */
	CNT_DNS_IGNORED = 10,   /* DNS reply truncated / malformed / not a usable answer */
	CNT_ERROR = 11,         /* a helper failed (adjust_room, store): dropped */
	CNT_MSS_CLAMPED = 12,   /* TCP SYN MSS lowered to fit the SRH */
	CNT_LEARN_UNCHANGED = 13, /* server flow already stored with this path */
	COUNTER_MAX
};

#endif
