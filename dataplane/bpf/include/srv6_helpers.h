/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the client and server programs. Every packet read goes
 * through the load/store helpers (bounds-checked by the kernel, work on
 * non-linear skbs), so no pointer can outlive an adjust_room/adjust_head.
 * Ingress code takes `xdp` as a compile-time constant: one source, two hooks.
 */
#ifndef SRV6_HELPERS_H
#define SRV6_HELPERS_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "srv6.h"

#define IPPROTO_ROUTING_HDR 43
#define IPPROTO_FRAGMENT_HDR 44
#define SRH_ROUTING_TYPE 4
#define L3_OFF ETH_HLEN
#define L4_OFF (ETH_HLEN + sizeof(struct ipv6hdr))
#define OFF_IP6_PLEN (L3_OFF + 4)
#define OFF_IP6_NEXTHDR (L3_OFF + 6)
#define OFF_IP6_SADDR (L3_OFF + 8)
#define OFF_IP6_DADDR (L3_OFF + 24)
/* Options examined in a SYN before giving up: stacks put MSS first, and a
 * bound this small keeps the verifier's state count low. */
#define TCP_OPTIONS_SCAN 10

/* The fixed part of an SRH (RFC 8754 §2). */
struct srh_fixed {
	__u8 next_header;
	__u8 hdr_ext_len;
	__u8 routing_type;
	__u8 segments_left;
	__u8 last_entry;
	__u8 flags;
	__u16 tag;
};

/* Per-CPU scratch: too big for the 512-byte BPF stack. */
struct scratch {
	struct srh_blob blob;
	struct in6_addr segs[MAX_SEGMENTS];
	struct dns_name name;
	__u8 name_slack[64]; /* a label copied at the last position may spill here */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* This host's addresses: an SRH is only stripped when addressed to one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct in6_addr);
	__type(value, __u32);
} local_addrs SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline long ctx_load(void *ctx, bool xdp, __u32 off, void *buf, __u32 len)
{
	if (xdp)
		return bpf_xdp_load_bytes(ctx, off, buf, len);
	return bpf_skb_load_bytes(ctx, off, buf, len);
}

static __always_inline __u32 ctx_len(void *ctx, bool xdp)
{
	if (xdp) {
		struct xdp_md *x = ctx;

		return x->data_end - x->data;
	}
	return ((struct __sk_buff *)ctx)->len;
}

/* Ethernet + IPv6 header, read in one go. The 2-byte pad keeps the IPv6
 * header 4-byte aligned (Ethernet is 14 bytes); never part of I/O. */
struct l3_hdrs {
	__u16 pad;
	struct ethhdr eth;
	struct ipv6hdr ip6;
};
#define L3_HDRS_LEN (sizeof(struct ethhdr) + sizeof(struct ipv6hdr))

/* 0: IPv6 headers loaded; -1: not IPv6 (or too short). */
static __always_inline int load_ipv6(void *ctx, bool xdp, struct l3_hdrs *h)
{
	if (ctx_load(ctx, xdp, 0, &h->eth, L3_HDRS_LEN) < 0)
		return -1;
	if (h->eth.h_proto != bpf_htons(ETH_P_IPV6) || h->ip6.version != 6)
		return -1;
	return 0;
}

enum srh_check {
	SRH_NONE = 0,  /* next header is not Routing */
	SRH_VALID = 1,
	SRH_INVALID = -1,
};

/*
 * Strict RFC 8754 validation of the routing header right after the IPv6
 * header. On SRH_VALID, *total is the header's length in bytes (TLVs
 * included). A routing header of another type counts as invalid: the
 * programs only ever expect SRHs.
 */
static __always_inline int check_srh(void *ctx, bool xdp, const struct l3_hdrs *h,
				     struct srh_fixed *srh, __u32 *total)
{
	__u32 n, len, plen;

	if (h->ip6.nexthdr != IPPROTO_ROUTING_HDR)
		return SRH_NONE;
	if (ctx_load(ctx, xdp, L4_OFF, srh, sizeof(*srh)) < 0)
		return SRH_INVALID;
	if (srh->routing_type != SRH_ROUTING_TYPE)
		return SRH_INVALID;
	if (srh->last_entry >= MAX_SEGMENTS)
		return SRH_INVALID;
	if (srh->segments_left > srh->last_entry)
		return SRH_INVALID;
	n = (__u32)srh->last_entry + 1;
	len = ((__u32)srh->hdr_ext_len + 1) * 8;
	if (len < SRH_FIXED_LEN + 16 * n)
		return SRH_INVALID;
	plen = bpf_ntohs(h->ip6.payload_len);
	if (len > plen || L4_OFF + plen > ctx_len(ctx, xdp))
		return SRH_INVALID;
	*total = len;
	return SRH_VALID;
}

static __always_inline bool is_local(const struct in6_addr *addr)
{
	return bpf_map_lookup_elem(&local_addrs, addr) != NULL;
}

enum ingress_kind {
	INGRESS_SKIP = 0,  /* not ours: pass untouched (already counted, unless not IPv6) */
	INGRESS_PLAIN = 1, /* IPv6 without a routing header */
	INGRESS_OURS = 2,  /* valid SRH, SL 0, addressed to a local address */
};

/*
 * The ingress rule both sides share: an SRH is ours to strip (and, on the
 * server, to learn) only when it is valid, has SL 0 and is addressed to one
 * of our addresses. On INGRESS_OURS, *srh and *total describe it.
 */
static __always_inline int classify_ingress(void *ctx, bool xdp, struct l3_hdrs *h,
					    struct srh_fixed *srh, __u32 *total)
{
	int r;

	if (load_ipv6(ctx, xdp, h))
		return INGRESS_SKIP;
	r = check_srh(ctx, xdp, h, srh, total);
	if (r == SRH_NONE)
		return INGRESS_PLAIN;
	if (r == SRH_INVALID) {
		count(CNT_MALFORMED);
		return INGRESS_SKIP;
	}
	if (srh->segments_left != 0 || !is_local(&h->ip6.daddr)) {
		count(CNT_NOT_LOCAL);
		return INGRESS_SKIP;
	}
	return INGRESS_OURS;
}

/*
 * Remove the SRH (total bytes) that follows the IPv6 header. IPv6 next header
 * becomes the SRH's, payload length shrinks; the destination is already the
 * final one (SL 0). 0 on success.
 */
static __always_inline int strip_srh(void *ctx, bool xdp, struct l3_hdrs *h,
				     const struct srh_fixed *srh, __u32 total)
{
	h->ip6.nexthdr = srh->next_header;
	h->ip6.payload_len = bpf_htons(bpf_ntohs(h->ip6.payload_len) - total);
	if (xdp) {
		/* Move the head past the SRH, then write Ethernet + IPv6 back in front. */
		if (bpf_xdp_adjust_head(ctx, (int)total))
			return -1;
		if (bpf_xdp_store_bytes(ctx, 0, &h->eth, L3_HDRS_LEN))
			return -1;
		return 0;
	}
	/* Same flags (none) as the insert on the other side, so GSO sizes are
	 * adjusted symmetrically (DESIGN §10: mismatched flags cost ~20 %). */
	if (bpf_skb_adjust_room(ctx, -(__s32)total, BPF_ADJ_ROOM_NET, 0))
		return -1;
	if (bpf_skb_store_bytes(ctx, OFF_IP6_PLEN, &h->ip6.payload_len, 2, BPF_F_RECOMPUTE_CSUM))
		return -1;
	if (bpf_skb_store_bytes(ctx, OFF_IP6_NEXTHDR, &h->ip6.nexthdr, 1, BPF_F_RECOMPUTE_CSUM))
		return -1;
	return 0;
}

/* Read the two ports at the start of a TCP/UDP header. */
static __always_inline int load_ports(void *ctx, bool xdp, __u32 off, __u16 *sport, __u16 *dport)
{
	__u16 ports[2];

	if (ctx_load(ctx, xdp, off, ports, sizeof(ports)) < 0)
		return -1;
	*sport = bpf_ntohs(ports[0]);
	*dport = bpf_ntohs(ports[1]);
	return 0;
}

/*
 * Lower the MSS option of an outgoing TCP SYN so that a full-size segment
 * plus the SRH still fits the device MTU: the peer then never sends us more
 * than fits, and our own stack learns the same MSS from the peer's SYN(-ACK)
 * which the other side clamps the same way. Called before the insert.
 */
static __always_inline void clamp_mss(struct __sk_buff *skb, __u32 srh_len)
{
	struct tcphdr tcp;
	__u32 mtu = 0, optlen, i, off;
	__u16 new_mss;

	if (bpf_skb_load_bytes(skb, L4_OFF, &tcp, sizeof(tcp)) < 0 || !tcp.syn)
		return;
	optlen = (__u32)tcp.doff * 4;
	if (optlen <= sizeof(tcp))
		return;
	optlen -= sizeof(tcp);
	if (bpf_check_mtu(skb, 0, &mtu, 0, 0) < 0 || mtu <= 60 + srh_len + 64)
		return;
	new_mss = mtu - sizeof(struct ipv6hdr) - sizeof(struct tcphdr) - srh_len;
	/* Walk the options with small reads; reads past the end simply fail. */
	i = 0;
	for (int step = 0; step < TCP_OPTIONS_SCAN; step++) {
		__u8 opt[4] = {};

		if (i >= optlen)
			return;
		off = L4_OFF + sizeof(tcp) + i;
		if (bpf_skb_load_bytes(skb, off, opt, 1) < 0)
			return;
		if (opt[0] == 0)
			return;
		if (opt[0] == 1) {
			i++;
			continue;
		}
		if (i + 2 > optlen || bpf_skb_load_bytes(skb, off, opt, 2) < 0 || opt[1] < 2)
			return;
		if (opt[0] == 2 && opt[1] == 4) {
			__u16 old_be, new_be;

			if (i + 4 > optlen || bpf_skb_load_bytes(skb, off, opt, 4) < 0)
				return;
			__builtin_memcpy(&old_be, &opt[2], 2);
			if (bpf_ntohs(old_be) <= new_mss)
				return;
			new_be = bpf_htons(new_mss);
			/* Not a pseudo-header field: with CHECKSUM_PARTIAL the kernel
			 * leaves the (pseudo-header only) checksum alone, as it must. */
			bpf_l4_csum_replace(skb, L4_OFF + offsetof(struct tcphdr, check), old_be,
					    new_be, 2);
			bpf_skb_store_bytes(skb, off + 2, &new_be, 2, 0);
			count(CNT_MSS_CLAMPED);
			return;
		}
		i += opt[1];
	}
}

/*
 * Insert the SRH of `blob` after the IPv6 header (TC only). Segment 0 becomes
 * the packet's destination, the destination becomes the first hop. Returns a
 * TC action.
 */
static __always_inline int insert_srh(struct __sk_buff *skb, struct l3_hdrs *h,
				      const struct srh_blob *blob)
{
	struct in6_addr final_dst = h->ip6.daddr;
	__u32 len = blob->srh_len, mtu = 0;
	__u16 plen;
	__u8 nexthdr = IPPROTO_ROUTING_HDR;

	if (len < SRH_FIXED_LEN + 16 || len > MAX_SRH_LEN || (len & 7)) {
		count(CNT_ERROR);
		return TC_ACT_OK; /* a corrupt map value never reaches the wire */
	}
	/* Non-GSO packets that would outgrow the device are dropped and
	 * counted; GSO packets get a smaller gso_size from adjust_room. */
	if (bpf_check_mtu(skb, 0, &mtu, (__s32)len, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED) {
		count(CNT_TOO_BIG);
		return TC_ACT_SHOT;
	}
	if (h->ip6.nexthdr == IPPROTO_TCP)
		clamp_mss(skb, len);
	plen = bpf_htons(bpf_ntohs(h->ip6.payload_len) + len);
	if (bpf_skb_adjust_room(skb, (__s32)len, BPF_ADJ_ROOM_NET, 0))
		goto err;
	if (bpf_skb_store_bytes(skb, L4_OFF, blob->srh, len, 0))
		goto err;
	if (bpf_skb_store_bytes(skb, L4_OFF + SRH_FIXED_LEN, &final_dst, sizeof(final_dst), 0))
		goto err;
	if (bpf_skb_store_bytes(skb, OFF_IP6_DADDR, &blob->first_hop, sizeof(blob->first_hop), 0))
		goto err;
	if (bpf_skb_store_bytes(skb, OFF_IP6_PLEN, &plen, sizeof(plen), 0))
		goto err;
	if (bpf_skb_store_bytes(skb, OFF_IP6_NEXTHDR, &nexthdr, 1, 0))
		goto err;
	count(CNT_ENCAPSULATED);
	return TC_ACT_OK;
err:
	/* The packet may be half rewritten: never let it out. */
	count(CNT_ERROR);
	return TC_ACT_SHOT;
}

/*
 * Egress classification: true with `key` = (destination, destination port,
 * proto) for a TCP/UDP packet that could be steered; false (counted, to be
 * passed) for anything else. IPv6 fragments carry no ports after the first:
 * they are passed unencapsulated and counted.
 */
static __always_inline bool egress_steerable(struct __sk_buff *skb, struct l3_hdrs *h,
					     struct flow_key *key)
{
	__u16 sport, dport;

	if (load_ipv6(skb, false, h))
		goto passed;
	if (h->ip6.nexthdr == IPPROTO_FRAGMENT_HDR) {
		count(CNT_FRAGMENT);
		return false;
	}
	if (h->ip6.nexthdr != IPPROTO_TCP && h->ip6.nexthdr != IPPROTO_UDP)
		goto passed;
	if (load_ports(skb, false, L4_OFF, &sport, &dport))
		goto passed;
	__builtin_memset(key, 0, sizeof(*key));
	key->addr = h->ip6.daddr;
	key->port = dport;
	key->proto = h->ip6.nexthdr;
	return true;
passed:
	count(CNT_PASSED);
	return false;
}

#endif
