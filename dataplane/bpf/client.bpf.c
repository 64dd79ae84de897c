// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Client side: TC egress inserts the SRH of the application's path; ingress
 * (TC or XDP, one source) strips SRHs addressed to us and snoops DNS replies
 * for configured names (standalone mode).
 */
#include "srv6_helpers.h"

#define DNS_PORT 53
#define DNS_HDR_LEN 12
#define DNS_MAX_ANSWERS 16
#define DNS_MAX_LABELS 16   /* labels skipped per answer owner name before giving up */
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define UDP_HDR_LEN 8

/* (destination, port, proto) -> SRH: paths from the controller or config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, struct srh_blob);
} client_paths SEC(".maps");

/* (service, port, proto) -> SRH: standalone paths for DNS-learned addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct service_key);
	__type(value, struct srh_blob);
} client_service_paths SEC(".maps");

/* Configured DNS names (lower-case wire format) -> service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct dns_name);
	__type(value, struct service_value);
} client_names SEC(".maps");

/* Addresses learned from DNS answers -> service. LRU: bounded memory. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct in6_addr);
	__type(value, struct service_value);
} client_dns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct client_config);
} client_config SEC(".maps");

/* Whether any name is configured: saves the LRU lookup per unmatched packet
 * in controller mode, where nothing is snooped. */
static __always_inline bool dns_snooping(void)
{
	__u32 zero = 0;
	struct client_config *cfg = bpf_map_lookup_elem(&client_config, &zero);

	return cfg && cfg->dns_names;
}

SEC("classifier")
int client_egress(struct __sk_buff *skb)
{
	struct l3_hdrs h;
	struct flow_key key;
	struct srh_blob *blob;

	if (!egress_steerable(skb, &h, &key))
		return TC_ACT_OK;
	blob = bpf_map_lookup_elem(&client_paths, &key);
	if (!blob && dns_snooping()) {
		struct service_value *svc = bpf_map_lookup_elem(&client_dns, &key.addr);
		struct service_key skey = {};

		if (svc) {
			skey.service_id = svc->service_id;
			skey.port = key.port;
			skey.proto = key.proto;
			blob = bpf_map_lookup_elem(&client_service_paths, &skey);
		}
	}
	if (!blob) {
		count(CNT_PASSED);
		return TC_ACT_OK;
	}
	return insert_srh(skb, &h, blob);
}

/* Skip a (possibly compressed) name at *off. 0 on success. */
static __always_inline int skip_name(void *ctx, bool xdp, __u32 *off)
{
	__u8 b;
	int i;

	for (i = 0; i < DNS_MAX_LABELS; i++) {
		if (ctx_load(ctx, xdp, *off, &b, 1) < 0)
			return -1;
		if (b == 0) {
			*off += 1;
			return 0;
		}
		if ((b & 0xC0) == 0xC0) {
			*off += 2;
			return 0;
		}
		if (b & 0xC0)
			return -1;
		*off += (__u32)b + 1;
	}
	return -1;
}

struct dns_hdr {
	__u16 id;
	__u16 flags;
	__u16 qdcount;
	__u16 ancount;
	__u16 nscount;
	__u16 arcount;
};

struct rr_hdr {
	__u16 type;
	__u16 class;
	__u32 ttl;
	__u16 rdlength;
} __attribute__((packed));

/*
 * A DNS reply (UDP from port 53) at `off` (the UDP header): if its question
 * names a configured service, remember every AAAA answer. Answers of a
 * CNAME chain all answer the question, so no chain walk is needed. Truncated
 * (TC bit), failed, or malformed replies are ignored.
 */
static __always_inline void snoop_dns(void *ctx, bool xdp, __u32 off)
{
	struct scratch *s = get_scratch();
	struct service_value *svc;
	struct dns_hdr dh;
	__u32 pkt_len = ctx_len(ctx, xdp), qoff, pos = 0, end = 0, i;
	__u16 flags, ancount;

	if (!s)
		return;
	off += UDP_HDR_LEN;
	if (ctx_load(ctx, xdp, off, &dh, sizeof(dh)) < 0)
		goto ignored;
	flags = bpf_ntohs(dh.flags);
	/* QR = 1 (response), TC = 0, RCODE = 0, exactly one question. */
	if (!(flags & 0x8000) || (flags & 0x0200) || (flags & 0x000F) || bpf_ntohs(dh.qdcount) != 1)
		goto ignored;
	ancount = bpf_ntohs(dh.ancount);
	qoff = off + DNS_HDR_LEN;
	if (qoff >= pkt_len)
		goto ignored;
	__builtin_memset(&s->name, 0, sizeof(s->name));
	/* Copy the question name label by label, so that only name bytes land in
	 * the key (the rest stays zero). Positions are masked to prove bounds to
	 * the verifier; name_buf has one label of slack past the 256-byte key. */
	for (i = 0; i < 128; i++) {
		__u8 l;

		if (ctx_load(ctx, xdp, qoff + pos, &l, 1) < 0)
			goto ignored;
		if (l == 0) {
			end = pos + 1;
			break;
		}
		if (l > 63 || pos + l + 1 >= DNS_NAME_LEN - 1)
			goto ignored;
		if (ctx_load(ctx, xdp, qoff + pos, &s->name.wire[pos & 0xff], ((__u32)l & 0x3f) + 1) < 0)
			goto ignored;
		pos += (__u32)l + 1;
	}
	if (!end)
		goto ignored;
	/* Lower-case (names compare case-insensitively; resolvers may randomise
	 * case). Length bytes are <= 63, so they are never in 'A'..'Z'. */
	for (i = 0; i < DNS_NAME_LEN; i++) {
		__u8 c = s->name.wire[i];

		if (c >= 'A' && c <= 'Z')
			s->name.wire[i] = c + ('a' - 'A');
	}
	svc = bpf_map_lookup_elem(&client_names, &s->name);
	if (!svc)
		return; /* not a configured name: nothing to count */
	{
		struct service_value val = {.service_id = svc->service_id};
		__u32 aoff = qoff + end + 4; /* QTYPE + QCLASS */
		int a;

		for (a = 0; a < DNS_MAX_ANSWERS; a++) {
			struct rr_hdr rr;
			struct in6_addr addr;
			__u16 rdlen;

			if (a >= ancount)
				return;
			if (skip_name(ctx, xdp, &aoff))
				goto ignored;
			if (ctx_load(ctx, xdp, aoff, &rr, sizeof(rr)) < 0)
				goto ignored;
			rdlen = bpf_ntohs(rr.rdlength);
			aoff += sizeof(rr);
			if (rr.type == bpf_htons(DNS_TYPE_AAAA) && rr.class == bpf_htons(DNS_CLASS_IN)) {
				if (rdlen != sizeof(addr))
					goto ignored;
				if (ctx_load(ctx, xdp, aoff, &addr, sizeof(addr)) < 0)
					goto ignored;
				bpf_map_update_elem(&client_dns, &addr, &val, BPF_ANY);
				count(CNT_DNS_LEARNED);
			}
			aoff += rdlen;
			if (aoff > pkt_len)
				goto ignored;
		}
		return;
	}
ignored:
	count(CNT_DNS_IGNORED);
}

static __always_inline int client_ingress(void *ctx, bool xdp)
{
	const int pass = xdp ? XDP_PASS : TC_ACT_OK;
	const int drop = xdp ? XDP_DROP : TC_ACT_SHOT;
	struct srh_fixed srh;
	struct l3_hdrs h;
	__u32 total = 0;
	int kind = classify_ingress(ctx, xdp, &h, &srh, &total);

	if (kind == INGRESS_SKIP)
		return pass;
	if (kind == INGRESS_OURS) {
		if (strip_srh(ctx, xdp, &h, &srh, total)) {
			count(CNT_ERROR);
			return drop;
		}
		count(CNT_DECAPSULATED);
	}
	/* After a strip the packet is plain IPv6: the upper layer is at L4_OFF. */
	if (h.ip6.nexthdr == IPPROTO_UDP) {
		__u16 sport, dport;

		if (!load_ports(ctx, xdp, L4_OFF, &sport, &dport) && sport == DNS_PORT)
			snoop_dns(ctx, xdp, L4_OFF);
	}
	if (kind == INGRESS_PLAIN)
		count(CNT_PASSED);
	return pass;
}

SEC("classifier")
int client_ingress_tc(struct __sk_buff *skb)
{
	return client_ingress(skb, false);
}

SEC("xdp")
int client_ingress_xdp(struct xdp_md *ctx)
{
	return client_ingress(ctx, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
