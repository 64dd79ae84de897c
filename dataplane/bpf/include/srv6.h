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
#include <linux/bpf.h> /* struct bpf_spin_lock */

/* SIDs a path may hold (travel order, without the final destination). */
#define MAX_SIDS 16
/* Segments in an SRH we build or learn: final destination + SIDs. */
#define MAX_SEGMENTS (MAX_SIDS + 1)
#define SRH_FIXED_LEN 8
#define SRH_SEGMENT_LEN 16 /* one IPv6 address */
#define MAX_SRH_LEN (SRH_FIXED_LEN + SRH_SEGMENT_LEN * MAX_SEGMENTS)
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
	__u8 handoff;        /* enum handoff: how an encapsulated packet reaches first_hop */
	__u8 via_mac[6];     /* HANDOFF_UNLESS_VIA: the neighbour the request came from */
	__u8 routed;         /* user space only: 1 when the path writer chose the handoff
			      * from the routes (and re-chooses it when they change) */
	__u8 pad[5];
	struct in6_addr first_hop; /* IPv6 destination after insert: segments[n-1] */
	__u8 srh[MAX_SRH_LEN];
};

/*
 * How a packet leaves once its SRH is in. The stack chose the route and
 * neighbour for the final destination before the egress hook; the packet
 * now goes to the first SID. Where both take the same neighbour nothing
 * needs to change; where they differ (an on-link destination, a SID routed
 * elsewhere on a multi-homed host), the packet must be handed to the first
 * SID's neighbour (bpf_redirect_neigh), which costs a route lookup and a
 * second pass through the egress path. Mirrored by `dataplane::maps::Handoff`.
 */
enum handoff {
	/* The stack's neighbour also leads to the first SID (the path writer
	 * compared both routes): TC_ACT_OK. */
	HANDOFF_STACK = 0,
	/* Hand every packet to the first SID's neighbour. */
	HANDOFF_NEIGHBOUR = 1,
	/* Learned flows: keep the stack's neighbour when it is the one the
	 * request arrived from (a router on the path that reaches the last
	 * SID), else hand the packet to the first SID's neighbour. */
	HANDOFF_UNLESS_VIA = 2,
};

/*
 * A client path (client_paths, client_service_paths): the SRH behind a
 * lock. User space replaces it in place (BPF_F_LOCK), the programs copy it
 * out under the lock, so no packet carries half of one version and half of
 * another. (A hash element replaced without the lock is recycled while a
 * program may still read it.)
 */
struct path_value {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct srh_blob blob;
};

/*
 * A learned flow (server_flows): two copies of the SRH and a sequence word
 * (bit 0: a writer is at work; the rest: the generation, whose low bit
 * names the copy in use). The ingress program writes the copy not in use,
 * then moves the generation on; egress copies the one in use and keeps its
 * copy only if no second generation began meanwhile. A writer stopped in
 * the middle (preempted) blocks no reader. (LRU maps take no spin lock, and
 * an element replaced by bpf_map_update_elem is recycled under readers.)
 */
struct flow_value {
	__u32 seq;
	__u32 pad;
	struct srh_blob blob[2];
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

/* A DNS-learned address: its service, until the answer's TTL runs out. */
struct dns_entry {
	__u64 expires_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 service_id;
	__u32 pad;
};

/* A query seen leaving: to `resolver`, from our UDP `port` (host order),
 * with DNS `id` (as on the wire). Only a reply matching one is believed. */
struct dns_query_key {
	struct in6_addr resolver;
	__u16 port;
	__u16 id;
};

struct client_config {
	__u32 dns_names; /* names in client_names: 0 skips the DNS lookups on egress */
	__u32 pad;
};

/* server_config.handoff: how replies of learned flows reach their first SID. */
enum learned_handoff {
	LEARNED_HANDOFF_AUTO = 0,      /* HANDOFF_UNLESS_VIA (a fresh map) */
	LEARNED_HANDOFF_NEIGHBOUR = 1, /* HANDOFF_NEIGHBOUR: every reply redirected */
	LEARNED_HANDOFF_STACK = 2,     /* HANDOFF_STACK: never */
};

struct server_config {
	/* 1: learn from any source (an explicit opt-in); 0, the state of a
	 * fresh map: only from sources in trusted_prefixes. u32, not bool: no
	 * padding surprises across the boundary. */
	__u32 trust_any;
	__u32 handoff; /* enum learned_handoff */
};

/*
 * Reason codes, each the index of its per-CPU counter. Mirrored by
 * `dataplane::maps::Counter` (dataplane/src/maps.rs), whose test checks every
 * value against this text: never renumber, append new ones before COUNTER_MAX.
 *
 * V (verdict): why a program passed or dropped a packet. Helpers decide and
 * return one; each program counts it at its single exit (`verdict()` in
 * srv6_helpers.h), so every packet a program sees has exactly one verdict.
 * O (outcome): what else was decided about a packet on the way (a flow
 * learned or refused, an MSS lowered, a DNS answer stored): counted where it
 * is decided, at most once per packet (once per answer for DNS).
 */
enum counter {
	CNT_PASSED = 0,         /* V: not ours (not IPv6, no SRH, no matching path): passed */
	CNT_ENCAPSULATED = 1,   /* V: SRH inserted */
	CNT_DECAPSULATED = 2,   /* V: SRH stripped */
	CNT_LEARNED = 3,        /* O: server flow stored (new or changed path) */
	CNT_MALFORMED = 4,      /* V: invalid SRH: passed untouched; O (server ingress): valid
				 * SRH before a TCP/UDP header that is not there: stripped,
				 * nothing learned */
	CNT_TOO_BIG = 5,        /* V: would exceed the MTU after insert: turned into an ICMPv6
				 * Packet Too Big to this host's stack (dropped below 1280) */
	CNT_FRAGMENT = 6,       /* V (egress): IPv6 fragment, passed without insert;
				 * O (server ingress): SRH stripped, nothing learned */
	CNT_NOT_LOCAL = 7,      /* V: ingress: SRH with SL > 0 or not addressed to us; egress:
				 * a packet with a path that this host did not originate
				 * (its source is not local): passed untouched */
	CNT_UNTRUSTED = 8,      /* O: SRH from outside the trusted prefixes: stripped, not learned */
	CNT_DNS_LEARNED = 9,    /* O: AAAA answer stored for a configured name */
	CNT_DNS_IGNORED = 10,   /* O: DNS reply truncated / malformed / not usable, or an answer not stored */
	CNT_ERROR = 11,         /* V: a helper failed (adjust_room, store): dropped, or passed
				 * untouched when nothing was changed yet; O: learning failed */
	CNT_MSS_CLAMPED = 12,   /* O: TCP SYN MSS lowered to fit the SRH */
	CNT_LEARN_UNCHANGED = 13, /* O: server flow already stored with this path */
	CNT_UNSAFE_PATH = 14,   /* O: a return path naming a multicast, link-local, loopback,
				 * unspecified, IPv4-compatible/-mapped or local address: stripped,
				 * not learned */
	CNT_DNS_UNSOLICITED = 15, /* O: a DNS reply not from a configured resolver, not to a
				   * local address, with a zero UDP checksum, or answering no
				   * query seen leaving: not read */
	CNT_DNS_EXPIRED = 16,   /* O: a DNS-learned address past its TTL: removed, not used */
	CNT_WITHDRAWN = 17,     /* O: a learned flow's packet arrived without an SRH: its
				 * return path is emptied, replies go plain */
	COUNTER_MAX
};

#endif
