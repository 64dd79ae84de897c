// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Baselines for the per-packet benchmarks: the cost of running any program. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("classifier")
int noop_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("xdp")
int noop_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
