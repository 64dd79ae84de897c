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
#define UDP_HDR_LEN 8
/* Options examined in a SYN before giving up: stacks put MSS first, and a
 * bound this small keeps the verifier's state count low. */
#define TCP_OPTIONS_SCAN 10
/* TCP option kinds and the MSS option's length (RFC 9293 §3.2). */
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOLEN_MSS 4
/* The IPv6 + TCP headers an MSS leaves out of the MTU. */
#define IPV6_TCP_HLEN (sizeof(struct ipv6hdr) + sizeof(struct tcphdr))
/* Never clamp below this: a device too small for it is left to PMTU discovery. */
#define MSS_FLOOR 64
/* bpf_l4_csum_replace/bpf_l3_csum_replace take the replaced field's size in
 * the low bits of their flags (BPF_F_HDR_FIELD_MASK). */
#define CSUM_FIELD_U16 sizeof(__u16)

/*
 * A verdict: the counter index (enum counter) a packet is passed under, or
 * DROP(index) for one that is dropped. Helpers return one; `verdict()` is
 * every program's single exit.
 */
#define DROP(reason) (-(int)(reason))
/* A verdict for a packet handed on with bpf_redirect*(): counted under
 * `reason`, the hook returns TC_ACT_REDIRECT. Counter indices stay below it. */
#define VERDICT_REDIRECT 0x100
#define REDIRECTED(reason) ((int)(reason) | VERDICT_REDIRECT)

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
	struct flow_value flow; /* server ingress: the return path being learned */
	struct srh_blob path;   /* egress: the path copied out of its map, whole */
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

/* No outcome to count (see enum counter). */
#define NO_OUTCOME (-1)

static __always_inline void count_outcome(int outcome)
{
	if (outcome >= 0)
		count((__u32)outcome);
}

/* The single exit of every program: count the verdict, return the hook's action. */
static __always_inline int verdict(bool xdp, int reason)
{
	bool drop = reason < 0;

	if (!drop && (reason & VERDICT_REDIRECT)) {
		count((__u32)(reason & ~VERDICT_REDIRECT));
		return TC_ACT_REDIRECT; /* only TC programs redirect */
	}
	count((__u32)(drop ? -reason : reason));
	if (xdp)
		return drop ? XDP_DROP : XDP_PASS;
	return drop ? TC_ACT_SHOT : TC_ACT_OK;
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
	/* A helper, not data_end - data: read directly, those fields become
	 * packet pointers that alu32 code would spill as 32-bit values. */
	if (xdp)
		return (__u32)bpf_xdp_get_buff_len(ctx);
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
	len = ((__u32)srh->hdr_ext_len + 1) * 8; /* RFC 8200 §4.4: 8-octet units, first one not counted */
	if (len < SRH_FIXED_LEN + SRH_SEGMENT_LEN * n)
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

/*
 * An address no path may name (RFC 4291 §2.4-2.5): multicast (ff00::/8),
 * link-local (fe80::/10), ::/96 (unspecified, loopback, IPv4-compatible),
 * IPv4-mapped (::ffff:0:0/96), or one of this host's own. Mirrored by
 * `dataplane::address::unusable` (which cannot know the local addresses).
 */
static __always_inline bool unusable_address(const struct in6_addr *a)
{
	const __u32 *w = a->s6_addr32;

	if (a->s6_addr[0] == 0xff)
		return true;
	if (a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80)
		return true;
	if (w[0] == 0 && w[1] == 0 && (w[2] == 0 || w[2] == bpf_htonl(0xffff)))
		return true;
	return is_local(a);
}

enum ingress_kind {
	INGRESS_NOT_OURS = 0, /* pass untouched under the verdict in *reason */
	INGRESS_PLAIN = 1,    /* IPv6 without a routing header */
	INGRESS_OURS = 2,     /* valid SRH, SL 0, addressed to a local address */
};

/*
 * The ingress rule both sides share: an SRH is ours to strip (and, on the
 * server, to learn) only when it is valid, has SL 0 and is addressed to one
 * of our addresses. On INGRESS_OURS, *srh and *total describe it; on
 * INGRESS_NOT_OURS, *reason is the verdict.
 */
static __always_inline int classify_ingress(void *ctx, bool xdp, struct l3_hdrs *h,
					    struct srh_fixed *srh, __u32 *total, int *reason)
{
	int r;

	*reason = CNT_PASSED;
	if (load_ipv6(ctx, xdp, h))
		return INGRESS_NOT_OURS;
	r = check_srh(ctx, xdp, h, srh, total);
	if (r == SRH_NONE)
		return INGRESS_PLAIN;
	if (r == SRH_INVALID) {
		*reason = CNT_MALFORMED;
		return INGRESS_NOT_OURS;
	}
	if (srh->segments_left != 0 || !is_local(&h->ip6.daddr)) {
		*reason = CNT_NOT_LOCAL;
		return INGRESS_NOT_OURS;
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
	/* FIXED_GSO: a GRO packet's segment size is what each segment carried,
	 * SRH or not (and UDP GRO packets are refused without it); the same
	 * flag as the insert on the other side (DESIGN §10: mismatched flags
	 * cost ~20 %). NO_CSUM_RESET: the transport checksum covers the final
	 * destination and the payload, neither of which the strip changes, so
	 * a checksum already verified stays verified. */
	if (bpf_skb_adjust_room(ctx, -(__s32)total, BPF_ADJ_ROOM_NET,
				BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_NO_CSUM_RESET))
		return -1;
	if (bpf_skb_store_bytes(ctx, OFF_IP6_PLEN, &h->ip6.payload_len,
				sizeof(h->ip6.payload_len), BPF_F_RECOMPUTE_CSUM))
		return -1;
	if (bpf_skb_store_bytes(ctx, OFF_IP6_NEXTHDR, &h->ip6.nexthdr, sizeof(h->ip6.nexthdr),
				BPF_F_RECOMPUTE_CSUM))
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
 * Outcome: CNT_MSS_CLAMPED or NO_OUTCOME.
 */
static __always_inline int clamp_mss(struct __sk_buff *skb, __u32 srh_len)
{
	struct tcphdr tcp;
	__u32 mtu = 0, optlen, i, off;
	__u16 new_mss;

	if (bpf_skb_load_bytes(skb, L4_OFF, &tcp, sizeof(tcp)) < 0 || !tcp.syn)
		return NO_OUTCOME;
	optlen = (__u32)tcp.doff * 4;
	if (optlen <= sizeof(tcp))
		return NO_OUTCOME;
	optlen -= sizeof(tcp);
	if (bpf_check_mtu(skb, 0, &mtu, 0, 0) < 0 || mtu <= IPV6_TCP_HLEN + srh_len + MSS_FLOOR)
		return NO_OUTCOME;
	new_mss = mtu - IPV6_TCP_HLEN - srh_len;
	/* Walk the options with small reads; reads past the end simply fail. */
	i = 0;
	for (int step = 0; step < TCP_OPTIONS_SCAN; step++) {
		__u8 opt[TCPOLEN_MSS] = {};

		if (i >= optlen)
			return NO_OUTCOME;
		off = L4_OFF + sizeof(tcp) + i;
		if (bpf_skb_load_bytes(skb, off, opt, 1) < 0)
			return NO_OUTCOME;
		if (opt[0] == TCPOPT_EOL)
			return NO_OUTCOME;
		if (opt[0] == TCPOPT_NOP) {
			i++;
			continue;
		}
		/* kind, length: a length below 2 would never advance */
		if (i + 2 > optlen || bpf_skb_load_bytes(skb, off, opt, 2) < 0 || opt[1] < 2)
			return NO_OUTCOME;
		if (opt[0] == TCPOPT_MSS && opt[1] == TCPOLEN_MSS) {
			__u16 old_be, new_be;

			if (i + TCPOLEN_MSS > optlen ||
			    bpf_skb_load_bytes(skb, off, opt, TCPOLEN_MSS) < 0)
				return NO_OUTCOME;
			__builtin_memcpy(&old_be, &opt[2], sizeof(old_be));
			if (bpf_ntohs(old_be) <= new_mss)
				return NO_OUTCOME;
			new_be = bpf_htons(new_mss);
			/* Not a pseudo-header field: with CHECKSUM_PARTIAL the kernel
			 * leaves the (pseudo-header only) checksum alone, as it must. */
			bpf_l4_csum_replace(skb, L4_OFF + offsetof(struct tcphdr, check), old_be,
					    new_be, CSUM_FIELD_U16);
			bpf_skb_store_bytes(skb, off + 2, &new_be, sizeof(new_be), 0);
			return CNT_MSS_CLAMPED;
		}
		i += opt[1];
	}
	return NO_OUTCOME;
}

/* The transport header's length: TCP's data offset, or UDP's 8 bytes. */
static __always_inline __u32 l4_header_len(struct __sk_buff *skb, const struct l3_hdrs *h)
{
	struct tcphdr tcp;

	if (h->ip6.nexthdr != IPPROTO_TCP)
		return UDP_HDR_LEN;
	if (bpf_skb_load_bytes(skb, L4_OFF, &tcp, sizeof(tcp)) < 0)
		return sizeof(tcp);
	return (__u32)tcp.doff * 4;
}

/*
 * The adjust_room flags that insert `len` bytes, or -1 for a packet that
 * must not grow (too big, counted). A GSO packet whose segments still fit
 * the device with the SRH keeps its segment size (FIXED_GSO): the SYN's MSS
 * clamp already sized TCP segments for the SRH, so shrinking them again
 * would cost every segment the SRH's length; UDP GSO segments are
 * datagrams and may not be resized at all. A TCP GSO packet that does not
 * fit (its path grew after the handshake) lets the kernel lower its segment
 * size. A packet without GSO must fit whole.
 */
static __always_inline long insert_room_flags(struct __sk_buff *skb, const struct l3_hdrs *h,
					      __u32 len)
{
	__u32 mtu = 0, segment;

	if (!skb->gso_size) {
		if (bpf_check_mtu(skb, 0, &mtu, (__s32)len, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED)
			return -1;
		return BPF_F_ADJ_ROOM_FIXED_GSO; /* no GSO: the flag changes nothing */
	}
	bpf_check_mtu(skb, 0, &mtu, 0, 0); /* fills in the device MTU */
	segment = sizeof(struct ipv6hdr) + l4_header_len(skb, h) + skb->gso_size;
	if (segment + len <= mtu)
		return BPF_F_ADJ_ROOM_FIXED_GSO;
	if (h->ip6.nexthdr == IPPROTO_TCP)
		return 0;
	return -1;
}

/* ICMPv6 Packet Too Big (RFC 4443 §3.2). */
#define IPPROTO_ICMPV6_HDR 58
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_HDR_LEN 8
#define IPV6_MIN_MTU 1280
/* What the PTB quotes: the IPv6 header and the start of the transport
 * header, ports and TCP sequence number (what the stack matches the socket
 * and window by). 24 transport bytes: a CHECKSUM_PARTIAL skb cannot be cut
 * short of its checksum field (TCP's ends at 18). */
#define PTB_QUOTE_LEN (sizeof(struct ipv6hdr) + 24)
#define PTB_LEN (sizeof(struct ipv6hdr) + ICMPV6_HDR_LEN + PTB_QUOTE_LEN)

/* The ICMPv6 checksum's input: pseudo-header (RFC 8200 §8.1), message. */
struct ptb_sum {
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be32 len;
	__u8 zero[3];
	__u8 nexthdr;
	__u8 icmp[ICMPV6_HDR_LEN];
	__u8 quote[PTB_QUOTE_LEN];
};

static __always_inline __u16 fold_csum(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * A packet too big for its path once the SRH is in becomes an ICMPv6
 * Packet Too Big for `mtu`, from the first SID to the packet's sender --
 * this host -- handed to this device's ingress. The sender's stack lowers
 * its path MTU and sends smaller, as it would for a router's PTB: a live
 * TCP connection whose path grew re-segments instead of stalling on a
 * segment that never fits. Returns the verdict.
 */
static __always_inline int packet_too_big(struct __sk_buff *skb, const struct l3_hdrs *h,
					  const struct in6_addr *from, __u32 mtu)
{
	struct ptb_sum sum = {};
	struct ethhdr eth = {};
	struct ipv6hdr ip6 = {};
	__be32 mtu_be = bpf_htonl(mtu);
	__u16 csum;

	if (mtu < IPV6_MIN_MTU)
		return DROP(CNT_TOO_BIG); /* the stack ignores a PTB below the IPv6 minimum */
	if (bpf_skb_change_tail(skb, ETH_HLEN + PTB_QUOTE_LEN, 0) ||
	    bpf_skb_adjust_room(skb, PTB_LEN - PTB_QUOTE_LEN, BPF_ADJ_ROOM_MAC, 0) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + PTB_LEN - PTB_QUOTE_LEN, sum.quote, PTB_QUOTE_LEN))
		return DROP(CNT_TOO_BIG);
	sum.saddr = *from;
	sum.daddr = h->ip6.saddr;
	sum.len = bpf_htonl(ICMPV6_HDR_LEN + PTB_QUOTE_LEN);
	sum.nexthdr = IPPROTO_ICMPV6_HDR;
	sum.icmp[0] = ICMPV6_PKT_TOOBIG;
	__builtin_memcpy(&sum.icmp[4], &mtu_be, sizeof(mtu_be));
	csum = fold_csum(bpf_csum_diff(NULL, 0, (__be32 *)&sum, sizeof(sum), 0));
	__builtin_memcpy(&sum.icmp[2], &csum, sizeof(csum));
	/* Addressed to this device, so that its ingress takes it as ours. */
	__builtin_memcpy(eth.h_dest, h->eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, h->eth.h_dest, ETH_ALEN);
	eth.h_proto = bpf_htons(ETH_P_IPV6);
	ip6.version = 6;
	ip6.payload_len = bpf_htons(ICMPV6_HDR_LEN + PTB_QUOTE_LEN);
	ip6.nexthdr = IPPROTO_ICMPV6_HDR;
	ip6.hop_limit = 255;
	ip6.saddr = *from;
	ip6.daddr = h->ip6.saddr;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) ||
	    bpf_skb_store_bytes(skb, L3_OFF, &ip6, sizeof(ip6), 0) ||
	    bpf_skb_store_bytes(skb, L4_OFF, sum.icmp, sizeof(sum.icmp), 0))
		return DROP(CNT_TOO_BIG);
	if (bpf_redirect(skb->ifindex, BPF_F_INGRESS) != TC_ACT_REDIRECT)
		return DROP(CNT_TOO_BIG);
	return REDIRECTED(CNT_TOO_BIG);
}

/* Whether the stack's neighbour (the frame's destination MAC) is `mac`. */
static __always_inline bool same_mac(const struct l3_hdrs *h, const __u8 *mac)
{
	__u32 a, b;
	__u16 c, d;

	__builtin_memcpy(&a, h->eth.h_dest, sizeof(a));
	__builtin_memcpy(&b, mac, sizeof(b));
	__builtin_memcpy(&c, h->eth.h_dest + sizeof(a), sizeof(c));
	__builtin_memcpy(&d, mac + sizeof(b), sizeof(d));
	return a == b && c == d;
}

/*
 * The verdict of an encapsulated packet, by the path's handoff (enum
 * handoff): on the stack's route and neighbour, or handed to the first
 * SID's (the kernel routes the new destination on this device and resolves
 * its neighbour: an on-link server must not receive packets for the SID).
 * A redirected packet crosses this egress hook once more, SRH in: passed.
 */
static __always_inline int hand_off(struct __sk_buff *skb, const struct l3_hdrs *h,
				    const struct srh_blob *blob)
{
	if (blob->handoff == HANDOFF_STACK ||
	    (blob->handoff == HANDOFF_UNLESS_VIA && same_mac(h, blob->via_mac)))
		return CNT_ENCAPSULATED;
	if (bpf_redirect_neigh(skb->ifindex, NULL, 0, 0) != TC_ACT_REDIRECT)
		return DROP(CNT_ERROR);
	return REDIRECTED(CNT_ENCAPSULATED);
}

/*
 * Insert the SRH of `blob` after the IPv6 header (TC only). Segment 0 becomes
 * the packet's destination, the destination becomes the first hop. Returns
 * the verdict.
 */
static __always_inline int insert_srh(struct __sk_buff *skb, struct l3_hdrs *h,
				      const struct srh_blob *blob)
{
	struct in6_addr final_dst = h->ip6.daddr;
	__u32 len = blob->srh_len;
	__u16 plen;
	__u8 nexthdr = IPPROTO_ROUTING_HDR;
	long flags;

	if (len < SRH_FIXED_LEN + SRH_SEGMENT_LEN || len > MAX_SRH_LEN || (len & 7))
		return CNT_ERROR; /* a corrupt map value never reaches the wire: passed as is */
	flags = insert_room_flags(skb, h, len);
	if (flags < 0) {
		__u32 mtu = 0;

		bpf_check_mtu(skb, 0, &mtu, 0, 0); /* fills in the device MTU */
		return packet_too_big(skb, h, &blob->first_hop, mtu - len);
	}
	if (h->ip6.nexthdr == IPPROTO_TCP)
		count_outcome(clamp_mss(skb, len));
	plen = bpf_htons(bpf_ntohs(h->ip6.payload_len) + len);
	/* From here on the packet may be half rewritten: a failure drops it. */
	if (bpf_skb_adjust_room(skb, (__s32)len, BPF_ADJ_ROOM_NET, (__u64)flags))
		return DROP(CNT_ERROR);
	if (bpf_skb_store_bytes(skb, L4_OFF, blob->srh, len, 0))
		return DROP(CNT_ERROR);
	if (bpf_skb_store_bytes(skb, L4_OFF + SRH_FIXED_LEN, &final_dst, sizeof(final_dst), 0))
		return DROP(CNT_ERROR);
	if (bpf_skb_store_bytes(skb, OFF_IP6_DADDR, &blob->first_hop, sizeof(blob->first_hop), 0))
		return DROP(CNT_ERROR);
	if (bpf_skb_store_bytes(skb, OFF_IP6_PLEN, &plen, sizeof(plen), 0))
		return DROP(CNT_ERROR);
	if (bpf_skb_store_bytes(skb, OFF_IP6_NEXTHDR, &nexthdr, sizeof(nexthdr), 0))
		return DROP(CNT_ERROR);
	return hand_off(skb, h, blob);
}

/*
 * Steer a packet that has a path: only one this host originates (source is
 * a local address). RFC 8200 §4: extension headers are added by the source,
 * never by a node the packet passes. Returns the verdict.
 */
static __always_inline int steer(struct __sk_buff *skb, struct l3_hdrs *h,
				 const struct srh_blob *blob)
{
	if (!is_local(&h->ip6.saddr))
		return CNT_NOT_LOCAL;
	return insert_srh(skb, h, blob);
}

/*
 * Egress classification: true with `key` = (destination, destination port,
 * proto) for a TCP/UDP packet that could be steered; false with *reason =
 * the verdict for anything else. IPv6 fragments carry no ports after the
 * first: they are passed unencapsulated, under their own reason.
 */
static __always_inline bool egress_steerable(struct __sk_buff *skb, struct l3_hdrs *h,
					     struct flow_key *key, int *reason)
{
	__u16 sport, dport;

	*reason = CNT_PASSED;
	if (load_ipv6(skb, false, h))
		return false;
	if (h->ip6.nexthdr == IPPROTO_FRAGMENT_HDR) {
		*reason = CNT_FRAGMENT;
		return false;
	}
	if (h->ip6.nexthdr != IPPROTO_TCP && h->ip6.nexthdr != IPPROTO_UDP)
		return false;
	if (load_ports(skb, false, L4_OFF, &sport, &dport))
		return false;
	__builtin_memset(key, 0, sizeof(*key));
	key->addr = h->ip6.daddr;
	key->port = dport;
	key->proto = h->ip6.nexthdr;
	return true;
}

#endif
