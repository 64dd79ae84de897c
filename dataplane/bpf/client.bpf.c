// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Client side: TC egress inserts the SRH of the application's path; ingress
 * (TC or XDP, one source) strips SRHs addressed to us and snoops DNS replies
 * for configured names (standalone mode).
 */
#include "srv6_helpers.h"

/* DNS wire format (RFC 1035 §4.1). */
#define DNS_PORT 53
#define DNS_HDR_LEN 12
#define DNS_FLAG_QR 0x8000     /* a response */
#define DNS_FLAG_TC 0x0200     /* truncated */
#define DNS_RCODE_MASK 0x000F  /* 0: no error */
#define DNS_QTYPE_QCLASS_LEN 4 /* after the question name */
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_LABEL_MAX 63       /* 2^6 - 1: also the mask that proves a label's bound */
#define DNS_PTR_BITS 0xC0      /* both top bits: a compression pointer */
#define DNS_PTR_LEN 2
/* Bounds of the walks (verifier-friendly; a reply beyond them is ignored). */
#define DNS_MAX_ANSWERS 16
#define DNS_MAX_LABELS 16        /* labels skipped per answer owner name */
#define DNS_QNAME_MAX_LABELS 128 /* a 255-byte name holds at most 127 labels + the root */
#define DNS_NAME_POS_MASK (DNS_NAME_LEN - 1) /* positions inside the 256-byte key */
/* How long a query waits for its reply (resolvers give up well before). */
#define DNS_QUERY_TIMEOUT_NS (30ULL * NSEC_PER_SEC)
/* RFC 2181 §8: a TTL with the top bit set is taken as 0. */
#define DNS_TTL_MAX 0x7fffffffU
#define NSEC_PER_SEC 1000000000ULL

/* (destination, port, proto) -> SRH: paths from the controller or config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, struct path_value);
} client_paths SEC(".maps");

/* (service, port, proto) -> SRH: standalone paths for DNS-learned addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct service_key);
	__type(value, struct path_value);
} client_service_paths SEC(".maps");

/* Configured DNS names (lower-case wire format) -> service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct dns_name);
	__type(value, struct service_value);
} client_names SEC(".maps");

/* Addresses learned from DNS answers -> service, until their TTL. Not LRU:
 * a full table first drops its expired entries, then refuses (counted),
 * rather than evicting live ones. Capacity set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct in6_addr);
	__type(value, struct dns_entry);
} client_dns SEC(".maps");

/* The resolvers whose replies are believed (the namespace's resolv.conf). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct in6_addr);
	__type(value, __u32);
} client_resolvers SEC(".maps");

/* Queries seen leaving -> when they stop waiting. LRU: bounded, and a
 * query pushed out only loses its answer's steering. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct dns_query_key);
	__type(value, __u64);
} dns_queries SEC(".maps");

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

/* The service of a DNS-learned address, unless its TTL ran out (then the
 * entry is removed, counted). */
static __always_inline struct dns_entry *dns_learned(const struct in6_addr *addr)
{
	struct dns_entry *e = bpf_map_lookup_elem(&client_dns, addr);

	if (e && e->expires_ns <= bpf_ktime_get_ns()) {
		bpf_map_delete_elem(&client_dns, addr);
		count(CNT_DNS_EXPIRED);
		return NULL;
	}
	return e;
}

/* Copy a path out under its lock: user space replaces it in place with
 * BPF_F_LOCK, so the copy is one whole version. Only the words in use are
 * copied (the header and srh_len bytes of SRH, a quarter of the blob for a
 * few SIDs): the lock is held as briefly as it can be, and nothing reads the
 * scratch copy past srh_len. NULL without scratch. */
#define BLOB_WORDS (sizeof(struct srh_blob) / 8)
static __always_inline struct srh_blob *copy_path(struct path_value *v)
{
	struct scratch *s = get_scratch();
	__u64 *dst, *src;
	__u32 words;

	if (!v || !s)
		return NULL;
	dst = (__u64 *)&s->path;
	src = (__u64 *)&v->blob;
	bpf_spin_lock(&v->lock);
	words = (offsetof(struct srh_blob, srh) + v->blob.srh_len + 7) / 8;
	for (__u32 i = 0; i < BLOB_WORDS; i++) {
		if (i >= words)
			break;
		dst[i] = src[i];
	}
	bpf_spin_unlock(&v->lock);
	return &s->path;
}

/* The path for a steerable packet: its own, or its DNS-learned service's. */
static __always_inline struct srh_blob *client_path(const struct flow_key *key)
{
	struct path_value *v = bpf_map_lookup_elem(&client_paths, key);
	struct dns_entry *svc;
	struct service_key skey = {};

	if (v || !dns_snooping())
		return copy_path(v);
	svc = dns_learned(&key->addr);
	if (!svc)
		return NULL;
	skey.service_id = svc->service_id;
	skey.port = key->port;
	skey.proto = key->proto;
	return copy_path(bpf_map_lookup_elem(&client_service_paths, &skey));
}

/* UDP header + the start of a DNS message, read in one go. */
struct udp_dns_start {
	__be16 sport;
	__be16 dport;
	__be16 len;
	__be16 check;
	__u16 id;
	__be16 flags;
};

static __always_inline bool is_resolver(const struct in6_addr *addr)
{
	return bpf_map_lookup_elem(&client_resolvers, addr) != NULL;
}

/* A DNS query from this host to a configured resolver: remember (resolver,
 * our port, ID) so that its reply, and only its reply, is read. */
static __always_inline void note_dns_query(struct __sk_buff *skb, const struct l3_hdrs *h)
{
	struct udp_dns_start u;
	struct dns_query_key key = {};
	__u64 expires;

	if (!dns_snooping() || !is_resolver(&h->ip6.daddr) || !is_local(&h->ip6.saddr))
		return;
	if (bpf_skb_load_bytes(skb, L4_OFF, &u, sizeof(u)) < 0 ||
	    (bpf_ntohs(u.flags) & DNS_FLAG_QR))
		return;
	key.resolver = h->ip6.daddr;
	key.port = bpf_ntohs(u.sport);
	key.id = u.id;
	expires = bpf_ktime_get_ns() + DNS_QUERY_TIMEOUT_NS;
	bpf_map_update_elem(&dns_queries, &key, &expires, BPF_ANY);
}

static __always_inline int client_egress_verdict(struct __sk_buff *skb)
{
	struct l3_hdrs h;
	struct flow_key key;
	struct srh_blob *blob;
	int reason;

	if (!egress_steerable(skb, &h, &key, &reason))
		return reason;
	if (key.proto == IPPROTO_UDP && key.port == DNS_PORT)
		note_dns_query(skb, &h);
	blob = client_path(&key);
	if (!blob)
		return CNT_PASSED;
	return steer(skb, &h, blob);
}

SEC("classifier")
int client_egress(struct __sk_buff *skb)
{
	return verdict(false, client_egress_verdict(skb));
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
		if ((b & DNS_PTR_BITS) == DNS_PTR_BITS) {
			*off += DNS_PTR_LEN;
			return 0;
		}
		if (b & DNS_PTR_BITS)
			return -1; /* the reserved label types 01 and 10 */
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

static long drop_if_expired(void *map, const void *key, void *value, void *ctx)
{
	const struct dns_entry *e = value;

	if (e->expires_ns <= *(__u64 *)ctx)
		bpf_map_delete_elem(map, key);
	return 0; /* keep walking */
}

/*
 * Remember `addr` for `service_id` for `ttl` seconds. A full table first
 * drops its expired entries (one walk, only then). Returns the outcome:
 * CNT_DNS_LEARNED only when the address is really stored.
 */
static __always_inline int store_answer(const struct in6_addr *addr, __u32 service_id, __u32 ttl)
{
	__u64 now = bpf_ktime_get_ns();
	struct dns_entry e = {.service_id = service_id};

	if (ttl == 0 || ttl > DNS_TTL_MAX)
		return CNT_DNS_IGNORED; /* not to be cached */
	e.expires_ns = now + (__u64)ttl * NSEC_PER_SEC;
	if (!bpf_map_update_elem(&client_dns, addr, &e, BPF_ANY))
		return CNT_DNS_LEARNED;
	bpf_for_each_map_elem(&client_dns, drop_if_expired, &now, 0);
	if (!bpf_map_update_elem(&client_dns, addr, &e, BPF_ANY))
		return CNT_DNS_LEARNED;
	return CNT_DNS_IGNORED;
}

/*
 * Store every AAAA answer (class IN) of the `ancount` records from `aoff`
 * for `service_id`, counting each (store_answer). Returns CNT_DNS_IGNORED
 * for a record that cannot be walked, else NO_OUTCOME.
 */
static __always_inline int store_answers(void *ctx, bool xdp, __u32 aoff, __u16 ancount,
					 __u32 service_id)
{
	__u32 pkt_len = ctx_len(ctx, xdp);

	for (int a = 0; a < DNS_MAX_ANSWERS; a++) {
		struct rr_hdr rr;
		struct in6_addr addr;
		__u16 rdlen;

		if (a >= ancount)
			return NO_OUTCOME;
		if (skip_name(ctx, xdp, &aoff) || ctx_load(ctx, xdp, aoff, &rr, sizeof(rr)) < 0)
			return CNT_DNS_IGNORED;
		rdlen = bpf_ntohs(rr.rdlength);
		aoff += sizeof(rr);
		if (rr.type == bpf_htons(DNS_TYPE_AAAA) && rr.class == bpf_htons(DNS_CLASS_IN)) {
			if (rdlen != sizeof(addr) || ctx_load(ctx, xdp, aoff, &addr, sizeof(addr)) < 0)
				return CNT_DNS_IGNORED;
			count(store_answer(&addr, service_id, bpf_ntohl(rr.ttl)));
		}
		aoff += rdlen;
		if (aoff > pkt_len)
			return CNT_DNS_IGNORED;
	}
	return NO_OUTCOME;
}

/*
 * A DNS reply (UDP from port 53) at `off` (the UDP header): if its question
 * names a configured service, remember every AAAA answer. Answers of a
 * CNAME chain all answer the question, so no chain walk is needed. Truncated
 * (TC bit), failed, or malformed replies are ignored. Counts its outcomes:
 * CNT_DNS_LEARNED per answer stored, CNT_DNS_IGNORED per reply (or answer)
 * not used; nothing for a name that is not configured.
 */
static __always_inline void snoop_dns(void *ctx, bool xdp, __u32 off)
{
	struct scratch *s = get_scratch();
	struct service_value *svc;
	struct dns_hdr dh;
	__u32 qoff, pos = 0, end = 0, i;
	__u16 flags;

	if (!s)
		return;
	off += UDP_HDR_LEN;
	if (ctx_load(ctx, xdp, off, &dh, sizeof(dh)) < 0)
		goto ignored;
	flags = bpf_ntohs(dh.flags);
	qoff = off + DNS_HDR_LEN;
	/* A response, not truncated, no error, exactly one question. */
	if (!(flags & DNS_FLAG_QR) || (flags & DNS_FLAG_TC) || (flags & DNS_RCODE_MASK) ||
	    bpf_ntohs(dh.qdcount) != 1 || qoff >= ctx_len(ctx, xdp))
		goto ignored;
	__builtin_memset(&s->name, 0, sizeof(s->name));
	/* Copy the question name label by label, so that only name bytes land in
	 * the key (the rest stays zero). Positions are masked to prove bounds to
	 * the verifier; scratch.name_slack takes a label copied at the last
	 * position past the 256-byte key. */
	for (i = 0; i < DNS_QNAME_MAX_LABELS; i++) {
		__u8 l;

		if (ctx_load(ctx, xdp, qoff + pos, &l, 1) < 0)
			goto ignored;
		if (l == 0) {
			end = pos + 1;
			break;
		}
		if (l > DNS_LABEL_MAX || pos + l + 1 >= DNS_NAME_LEN - 1)
			goto ignored;
		if (ctx_load(ctx, xdp, qoff + pos, &s->name.wire[pos & DNS_NAME_POS_MASK],
			     ((__u32)l & DNS_LABEL_MAX) + 1) < 0)
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
	count_outcome(store_answers(ctx, xdp, qoff + end + DNS_QTYPE_QCLASS_LEN,
				    bpf_ntohs(dh.ancount), svc->service_id));
	return;
ignored:
	count(CNT_DNS_IGNORED);
}

/*
 * Whether a UDP reply from the DNS port may be read: from a configured
 * resolver, to one of our addresses, with a UDP checksum (zero is invalid
 * in IPv6, RFC 8200 §8.1), answering a query seen leaving (its entry is
 * consumed: one reply per query).
 */
static __always_inline bool dns_reply_solicited(void *ctx, bool xdp, const struct l3_hdrs *h,
						const struct udp_dns_start *u)
{
	struct dns_query_key key = {};
	__u64 *expires, until;

	if (!is_resolver(&h->ip6.saddr) || !is_local(&h->ip6.daddr) || u->check == 0)
		return false;
	key.resolver = h->ip6.saddr;
	key.port = bpf_ntohs(u->dport);
	key.id = u->id;
	expires = bpf_map_lookup_elem(&dns_queries, &key);
	if (!expires)
		return false;
	until = *expires; /* read before the entry goes */
	bpf_map_delete_elem(&dns_queries, &key);
	return until > bpf_ktime_get_ns();
}

/* Snoop a UDP reply from the DNS port (the upper layer is at L4_OFF). */
static __always_inline void maybe_snoop_dns(void *ctx, bool xdp, const struct l3_hdrs *h)
{
	struct udp_dns_start u;

	if (h->ip6.nexthdr != IPPROTO_UDP || !dns_snooping())
		return;
	if (ctx_load(ctx, xdp, L4_OFF, &u, sizeof(u)) < 0 || bpf_ntohs(u.sport) != DNS_PORT)
		return;
	if (!dns_reply_solicited(ctx, xdp, h, &u)) {
		count(CNT_DNS_UNSOLICITED);
		return;
	}
	snoop_dns(ctx, xdp, L4_OFF);
}

static __always_inline int client_ingress_verdict(void *ctx, bool xdp)
{
	struct srh_fixed srh;
	struct l3_hdrs h;
	__u32 total = 0;
	int reason;
	int kind = classify_ingress(ctx, xdp, &h, &srh, &total, &reason);

	if (kind == INGRESS_NOT_OURS)
		return reason;
	reason = CNT_PASSED;
	if (kind == INGRESS_OURS) {
		if (strip_srh(ctx, xdp, &h, &srh, total))
			return DROP(CNT_ERROR);
		reason = CNT_DECAPSULATED;
	}
	/* After a strip the packet is plain IPv6 (h describes it). */
	maybe_snoop_dns(ctx, xdp, &h);
	return reason;
}

SEC("classifier")
int client_ingress_tc(struct __sk_buff *skb)
{
	return verdict(false, client_ingress_verdict(skb, false));
}

SEC("xdp")
int client_ingress_xdp(struct xdp_md *ctx)
{
	return verdict(true, client_ingress_verdict(ctx, true));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
