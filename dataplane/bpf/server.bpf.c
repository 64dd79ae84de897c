// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Server side: ingress (TC or XDP, one source) validates an SRH with SL 0
 * addressed to us, learns the reversed segment list for the client's
 * (address, port, proto), strips it and passes the packet up; TC egress
 * inserts the learned SRH into replies of that flow.
 */
#include "srv6_helpers.h"

/* Learned flows; capacity set by the loader. LRU: bounded memory under any load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} server_flows SEC(".maps");

/* Attempts of egress at a whole copy: failing one takes two rewrites of
 * the same flow during one copy of a few hundred bytes. */
#define SEQ_READ_TRIES 4

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6_key);
	__type(value, __u32);
} trusted_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct server_config);
} server_config SEC(".maps");

static __always_inline struct server_config *config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&server_config, &zero);
}

static __always_inline bool trusted(const struct in6_addr *src)
{
	struct server_config *cfg = config();
	struct lpm_v6_key k = {.prefixlen = 128};

	if (cfg && cfg->trust_any)
		return true;
	__builtin_memcpy(k.addr, src, sizeof(k.addr));
	return bpf_map_lookup_elem(&trusted_prefixes, &k) != NULL;
}

/*
 * How replies of a flow learned from `h` reach their first SID (enum
 * handoff). By default (LEARNED_HANDOFF_AUTO) they keep the stack's
 * neighbour when it is the one this request arrived from: a router on the
 * path, which reaches the last SID the request passed; a reply to an
 * on-link client, or through another router, is handed to the first SID's
 * neighbour. The server has no routes to compare (bpf_fib_lookup refuses on
 * a host that does not forward), but it has the request's source MAC.
 */
static __always_inline void set_handoff(struct srh_blob *b, const struct l3_hdrs *h)
{
	struct server_config *cfg = config();
	__u32 mode = cfg ? cfg->handoff : LEARNED_HANDOFF_AUTO;

	if (b->n_segments <= 1) {
		b->handoff = HANDOFF_STACK; /* no SID: replies go straight to the client */
		return;
	}
	if (mode == LEARNED_HANDOFF_STACK) {
		b->handoff = HANDOFF_STACK;
		return;
	}
	if (mode == LEARNED_HANDOFF_NEIGHBOUR) {
		b->handoff = HANDOFF_NEIGHBOUR;
		return;
	}
	b->handoff = HANDOFF_UNLESS_VIA;
	__builtin_memcpy(b->via_mac, h->eth.h_source, sizeof(b->via_mac));
}

static __always_inline bool same_blob(const struct srh_blob *a, const struct srh_blob *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	/* Compare the used part only: the header fields, first_hop, srh_len bytes. */
	__u32 words = (offsetof(struct srh_blob, srh) + (__u32)a->srh_len + 7) / 8, i;

	if (a->srh_len != b->srh_len)
		return false;
	for (i = 0; i < sizeof(struct srh_blob) / 8; i++) {
		if (i >= words)
			break;
		if (x[i] != y[i])
			return false;
	}
	return true;
}

/*
 * Whether replies may go back along the received list: the source (where
 * the replies end) and every SID they would visit must be usable
 * addresses. Segments are in scratch (loaded by build_reverse).
 */
static __always_inline bool safe_return_path(const struct l3_hdrs *h, const struct scratch *s,
					     __u32 n)
{
	__u32 i;

	if (unusable_address(&h->ip6.saddr))
		return false;
	for (i = 1; i < MAX_SEGMENTS; i++) {
		if (i >= n)
			break;
		if (unusable_address(&s->segs[i]))
			return false;
	}
	return true;
}

/*
 * Build, in scratch, the SRH that sends replies back along the same path:
 * [0] = the client (IPv6 source), [i] = received segment n-i. Returns 0 on
 * success.
 */
static __always_inline int build_reverse(void *ctx, bool xdp, const struct l3_hdrs *h,
					 const struct srh_fixed *srh, __u8 proto,
					 struct scratch *s)
{
	struct srh_blob *b = &s->flow.blob[0];
	__u32 n = (__u32)srh->last_entry + 1, i;
	struct srh_fixed out = {
		.next_header = proto,
		.hdr_ext_len = (__u8)(n * SRH_SEGMENT_LEN / 8), /* 8-octet units past the first */
		.routing_type = SRH_ROUTING_TYPE,
		.segments_left = srh->last_entry,
		.last_entry = srh->last_entry,
	};

	if (n < 1 || n > MAX_SEGMENTS)
		return -1;
	if (ctx_load(ctx, xdp, L4_OFF + SRH_FIXED_LEN, s->segs, n * SRH_SEGMENT_LEN) < 0)
		return -1;
	__builtin_memset(b, 0, sizeof(*b));
	b->srh_len = SRH_FIXED_LEN + SRH_SEGMENT_LEN * n;
	b->n_segments = n;
	__builtin_memcpy(b->srh, &out, sizeof(out));
	__builtin_memcpy(b->srh + SRH_FIXED_LEN, &h->ip6.saddr, SRH_SEGMENT_LEN);
	for (i = 1; i < MAX_SEGMENTS; i++) {
		__u32 j = n - i;

		if (i >= n)
			break;
		if (j >= MAX_SEGMENTS)
			return -1;
		__builtin_memcpy(b->srh + SRH_FIXED_LEN + SRH_SEGMENT_LEN * i, &s->segs[j],
				 SRH_SEGMENT_LEN);
	}
	/* Replies go first to the last SID the request passed: segment n-1 = received 1. */
	if (n > 1)
		b->first_hop = s->segs[1];
	else
		b->first_hop = h->ip6.saddr;
	set_handoff(b, h);
	return 0;
}

#define SEQ_BUSY 1U
#define SEQ_GENERATION(seq) ((seq) >> 1)
/* The copy of the SRH a generation uses. */
#define SEQ_COPY(seq) (SEQ_GENERATION(seq) & 1)

/* The SRH a flow uses now (for comparing, and for user space). */
static __always_inline struct srh_blob *flow_in_use(struct flow_value *v)
{
	return &v->blob[SEQ_COPY(v->seq)];
}

/*
 * Replace a stored flow's path in place: claim the writer bit, write the
 * copy not in use, then start the next generation (which clears the bit).
 * Never replacing the element means no reader's element is recycled.
 */
static __always_inline int rewrite_flow(struct flow_value *v, const struct srh_blob *blob)
{
	__u32 seq = v->seq;

	/* Another CPU is storing this flow's path right now: leave it to it. */
	if ((seq & SEQ_BUSY) || __sync_val_compare_and_swap(&v->seq, seq, seq | SEQ_BUSY) != seq)
		return CNT_LEARN_UNCHANGED;
	__builtin_memcpy(&v->blob[SEQ_COPY(seq) ^ 1], blob, sizeof(*blob));
	__sync_fetch_and_add(&v->seq, SEQ_BUSY); /* (g, busy) + 1 = (g + 1, idle) */
	return CNT_LEARNED;
}

/* Store the path built in scratch for `key`: a new element for a new flow,
 * an in-place rewrite for a known one whose path changed. */
static __always_inline int store_flow(const struct flow_key *key, struct scratch *s)
{
	struct flow_value *old = bpf_map_lookup_elem(&server_flows, key);

	if (old && same_blob(flow_in_use(old), &s->flow.blob[0]))
		return CNT_LEARN_UNCHANGED; /* skip the write when nothing changed */
	if (old)
		return rewrite_flow(old, &s->flow.blob[0]);
	s->flow.seq = 0; /* generation 0 uses copy 0 */
	s->flow.pad = 0;
	if (!bpf_map_update_elem(&server_flows, key, &s->flow, BPF_NOEXIST))
		return CNT_LEARNED;
	/* Another CPU stored the flow meanwhile: rewrite its element. */
	old = bpf_map_lookup_elem(&server_flows, key);
	return old ? rewrite_flow(old, &s->flow.blob[0]) : CNT_ERROR;
}

/*
 * Copy the SRH a flow uses. The copy is whole unless the writer reached the
 * copy being read: that takes a second generation begun before the read
 * ended. The atomic adds of 0 are full barriers around the copy. NULL if no
 * whole copy was had.
 */
static __always_inline struct srh_blob *copy_flow(struct flow_value *v)
{
	struct scratch *s = get_scratch();

	if (!v || !s)
		return NULL;
	for (int i = 0; i < SEQ_READ_TRIES; i++) {
		__u32 before = __sync_fetch_and_add(&v->seq, 0), after;

		__builtin_memcpy(&s->path, &v->blob[SEQ_COPY(before)], sizeof(s->path));
		after = __sync_fetch_and_add(&v->seq, 0);
		if (SEQ_GENERATION(after) == SEQ_GENERATION(before) ||
		    (SEQ_GENERATION(after) == SEQ_GENERATION(before) + 1 && !(after & SEQ_BUSY)))
			return &s->path;
	}
	return NULL;
}

/*
 * Learn the reversed segment list of a valid SRH (SL 0, to us) for the
 * client's (address, port, proto). Returns the outcome to count, or
 * NO_OUTCOME for an upper layer without ports (ICMPv6, ...). Whatever it
 * returns, the SRH is ours and is stripped.
 */
static __always_inline int learn_flow(void *ctx, bool xdp, const struct l3_hdrs *h,
				      const struct srh_fixed *srh, __u32 total)
{
	struct scratch *s;
	struct flow_key key = {};
	__u16 sport, dport;

	if (srh->next_header == IPPROTO_FRAGMENT_HDR)
		return CNT_FRAGMENT; /* no ports to learn: strip only */
	if (srh->next_header != IPPROTO_TCP && srh->next_header != IPPROTO_UDP)
		return NO_OUTCOME;
	if (!trusted(&h->ip6.saddr))
		return CNT_UNTRUSTED;
	/* The upper layer the SRH announces is not there: its ports cannot be
	 * read, so nothing is learned; the host's stack judges the rest. */
	if (load_ports(ctx, xdp, L4_OFF + total, &sport, &dport))
		return CNT_MALFORMED;
	s = get_scratch();
	if (!s || build_reverse(ctx, xdp, h, srh, srh->next_header, s))
		return CNT_ERROR; /* validated above: only an odd helper failure lands here */
	if (!safe_return_path(h, s, (__u32)srh->last_entry + 1))
		return CNT_UNSAFE_PATH;
	key.addr = h->ip6.saddr;
	key.port = sport;
	key.proto = srh->next_header;
	return store_flow(&key, s);
}

/*
 * A packet of a learned flow that arrives without an SRH: the client no
 * longer steers the flow (its path was removed, perhaps because it failed),
 * so neither do the replies. The path is emptied in place (an element
 * removed would be recycled under readers); egress takes an empty path for
 * none. Returns the outcome.
 */
static __always_inline int withdraw_flow(void *ctx, bool xdp, const struct l3_hdrs *h)
{
	struct scratch *s;
	struct flow_key key = {};
	struct flow_value *v;
	__u16 sport, dport;

	if (h->ip6.nexthdr != IPPROTO_TCP && h->ip6.nexthdr != IPPROTO_UDP)
		return NO_OUTCOME;
	if (load_ports(ctx, xdp, L4_OFF, &sport, &dport))
		return NO_OUTCOME;
	key.addr = h->ip6.saddr;
	key.port = sport;
	key.proto = h->ip6.nexthdr;
	v = bpf_map_lookup_elem(&server_flows, &key);
	s = get_scratch();
	if (!v || !s || flow_in_use(v)->n_segments == 0)
		return NO_OUTCOME;
	__builtin_memset(&s->flow.blob[0], 0, sizeof(s->flow.blob[0]));
	return rewrite_flow(v, &s->flow.blob[0]) == CNT_LEARNED ? CNT_WITHDRAWN : NO_OUTCOME;
}

static __always_inline int server_ingress_verdict(void *ctx, bool xdp)
{
	struct srh_fixed srh;
	struct l3_hdrs h;
	__u32 total = 0;
	int reason;
	int kind = classify_ingress(ctx, xdp, &h, &srh, &total, &reason);

	if (kind == INGRESS_NOT_OURS)
		return reason;
	if (kind == INGRESS_PLAIN) {
		count_outcome(withdraw_flow(ctx, xdp, &h));
		return CNT_PASSED;
	}
	count_outcome(learn_flow(ctx, xdp, &h, &srh, total));
	if (strip_srh(ctx, xdp, &h, &srh, total))
		return DROP(CNT_ERROR);
	return CNT_DECAPSULATED;
}

SEC("classifier")
int server_ingress_tc(struct __sk_buff *skb)
{
	return verdict(false, server_ingress_verdict(skb, false));
}

SEC("xdp")
int server_ingress_xdp(struct xdp_md *ctx)
{
	return verdict(true, server_ingress_verdict(ctx, true));
}

static __always_inline int server_egress_verdict(struct __sk_buff *skb)
{
	struct l3_hdrs h;
	struct flow_key key;
	struct flow_value *flow;
	struct srh_blob *blob;
	int reason;

	if (!egress_steerable(skb, &h, &key, &reason))
		return reason;
	flow = bpf_map_lookup_elem(&server_flows, &key);
	if (!flow)
		return CNT_PASSED;
	blob = copy_flow(flow);
	if (!blob)
		return CNT_ERROR; /* no whole copy: the reply leaves unsteered, never torn */
	if (blob->n_segments == 0)
		return CNT_PASSED; /* withdrawn: the client sends this flow plain */
	return steer(skb, &h, blob);
}

SEC("classifier")
int server_egress(struct __sk_buff *skb)
{
	return verdict(false, server_egress_verdict(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
