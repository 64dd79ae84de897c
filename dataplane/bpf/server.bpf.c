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
	__type(value, struct srh_blob);
} server_flows SEC(".maps");

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

static __always_inline bool trusted(const struct in6_addr *src)
{
	__u32 zero = 0;
	struct server_config *cfg = bpf_map_lookup_elem(&server_config, &zero);
	struct lpm_v6_key k = {.prefixlen = 128};

	if (!cfg || !cfg->trusted_only)
		return true;
	__builtin_memcpy(k.addr, src, sizeof(k.addr));
	return bpf_map_lookup_elem(&trusted_prefixes, &k) != NULL;
}

static __always_inline bool same_blob(const struct srh_blob *a, const struct srh_blob *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u32 words = (8 + 16 + (__u32)a->srh_len + 7) / 8, i;

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
 * Build, in scratch, the SRH that sends replies back along the same path:
 * [0] = the client (IPv6 source), [i] = received segment n-i. Returns 0 on
 * success.
 */
static __always_inline int build_reverse(void *ctx, bool xdp, const struct l3_hdrs *h,
					 const struct srh_fixed *srh, __u8 proto,
					 struct scratch *s)
{
	struct srh_blob *b = &s->blob;
	__u32 n = (__u32)srh->last_entry + 1, i;
	struct srh_fixed out = {
		.next_header = proto,
		.hdr_ext_len = (__u8)(2 * n),
		.routing_type = SRH_ROUTING_TYPE,
		.segments_left = srh->last_entry,
		.last_entry = srh->last_entry,
	};

	if (n < 1 || n > MAX_SEGMENTS)
		return -1;
	if (ctx_load(ctx, xdp, L4_OFF + SRH_FIXED_LEN, s->segs, n * 16) < 0)
		return -1;
	__builtin_memset(b, 0, sizeof(*b));
	b->srh_len = SRH_FIXED_LEN + 16 * n;
	b->n_segments = n;
	__builtin_memcpy(b->srh, &out, sizeof(out));
	__builtin_memcpy(b->srh + SRH_FIXED_LEN, &h->ip6.saddr, 16);
	for (i = 1; i < MAX_SEGMENTS; i++) {
		__u32 j = n - i;

		if (i >= n)
			break;
		if (j >= MAX_SEGMENTS)
			return -1;
		__builtin_memcpy(b->srh + SRH_FIXED_LEN + 16 * i, &s->segs[j], 16);
	}
	/* Replies go first to the last SID the request passed: segment n-1 = received 1. */
	if (n > 1)
		b->first_hop = s->segs[1];
	else
		b->first_hop = h->ip6.saddr;
	return 0;
}

static __always_inline int server_ingress(void *ctx, bool xdp)
{
	const int pass = xdp ? XDP_PASS : TC_ACT_OK;
	const int drop = xdp ? XDP_DROP : TC_ACT_SHOT;
	struct srh_fixed srh;
	struct l3_hdrs h;
	__u32 total = 0;
	int kind = classify_ingress(ctx, xdp, &h, &srh, &total);

	if (kind == INGRESS_SKIP)
		return pass;
	if (kind == INGRESS_PLAIN) {
		count(CNT_PASSED);
		return pass;
	}
	if (srh.next_header == IPPROTO_FRAGMENT_HDR) {
		count(CNT_FRAGMENT); /* no ports to learn: strip only */
	} else if (srh.next_header == IPPROTO_TCP || srh.next_header == IPPROTO_UDP) {
		if (!trusted(&h.ip6.saddr)) {
			count(CNT_UNTRUSTED);
		} else {
			struct scratch *s = get_scratch();
			struct flow_key key = {};
			struct srh_blob *old;
			__u16 sport, dport;

			if (!s || load_ports(ctx, xdp, L4_OFF + total, &sport, &dport) ||
			    build_reverse(ctx, xdp, &h, &srh, srh.next_header, s)) {
				/* Validated above, so only an odd helper failure lands here. */
				count(CNT_ERROR);
				return pass;
			}
			key.addr = h.ip6.saddr;
			key.port = sport;
			key.proto = srh.next_header;
			/* Skip the (costly) LRU update when the path is unchanged. */
			old = bpf_map_lookup_elem(&server_flows, &key);
			if (old && same_blob(old, &s->blob)) {
				count(CNT_LEARN_UNCHANGED);
			} else if (bpf_map_update_elem(&server_flows, &key, &s->blob, BPF_ANY)) {
				count(CNT_ERROR);
			} else {
				count(CNT_LEARNED);
			}
		}
	}
	if (strip_srh(ctx, xdp, &h, &srh, total)) {
		count(CNT_ERROR);
		return drop;
	}
	count(CNT_DECAPSULATED);
	return pass;
}

SEC("classifier")
int server_ingress_tc(struct __sk_buff *skb)
{
	return server_ingress(skb, false);
}

SEC("xdp")
int server_ingress_xdp(struct xdp_md *ctx)
{
	return server_ingress(ctx, true);
}

SEC("classifier")
int server_egress(struct __sk_buff *skb)
{
	struct l3_hdrs h;
	struct flow_key key;
	struct srh_blob *blob;

	if (!egress_steerable(skb, &h, &key))
		return TC_ACT_OK;
	blob = bpf_map_lookup_elem(&server_flows, &key);
	if (!blob) {
		count(CNT_PASSED);
		return TC_ACT_OK;
	}
	return insert_srh(skb, &h, blob);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
