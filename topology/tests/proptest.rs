//! Properties: the parser never panics, whatever the input; the underlay
//! routes of random connected networks are loop-free shortest paths; the
//! route count is the table's size on any network, split or not.
#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;

use proptest::prelude::*;

mod common;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = topology::parse_str(&text, "fuzz.yaml");
    }

    /// Mutate hawk.yaml: replace a byte range with YAML-ish noise. Either it
    /// still loads, or every problem points inside the file.
    #[test]
    fn mutated_hawk_never_panics(pos in 0usize..4000, len in 0usize..20, noise in "[ :{}\\[\\],a-z0-9.\\-/\"\n]{0,12}") {
        let original = std::fs::read_to_string(common::topologies().join("hawk.yaml")).unwrap();
        let start = original.char_indices().map(|(i, _)| i).find(|&i| i >= pos % original.len()).unwrap_or(0);
        let end = original.char_indices().map(|(i, _)| i).find(|&i| i >= start + len).unwrap_or(original.len());
        let text = format!("{}{}{}", &original[..start], noise, &original[end..]);
        if let Err(e) = topology::parse_str(&text, "hawk.yaml") {
            let lines = text.lines().count() as u32 + 1;
            for p in e.problems() {
                prop_assert!(p.line <= lines, "{p:?} beyond {lines} lines");
            }
        }
    }

    /// Random connected router graphs with a host on each router: every
    /// route's cost is the true shortest distance and following next hops
    /// reaches every SID.
    #[test]
    fn routes_are_shortest_and_loop_free(
        n in 2usize..9,
        extra in proptest::collection::vec((0usize..8, 0usize..8, 1u32..50), 0..12),
        tree_metrics in proptest::collection::vec(1u32..50, 8),
        parents in proptest::collection::vec(0usize..8, 8),
    ) {
        let mut yaml = String::from("name: random\nnodes:\n");
        for i in 0..n {
            yaml += &format!("  r{i}: {{kind: router, sid: \"fcbb:bb00:{:x}::2\"}}\n", i + 1);
            yaml += &format!("  h{i}: {{kind: host, address: \"fcbb:cc00:{:x}::a\"}}\n", i + 1);
        }
        yaml += "links:\n";
        let mut pairs = std::collections::BTreeSet::new();
        let mut edges: Vec<(usize, usize, u32)> = Vec::new();
        for i in 1..n {
            let p = parents[i] % i;
            edges.push((p, i, tree_metrics[i]));
            pairs.insert((p, i));
        }
        for (a, b, m) in extra {
            let (a, b) = (a % n, b % n);
            let key = (a.min(b), a.max(b));
            if a != b && pairs.insert(key) {
                edges.push((a, b, m));
            }
        }
        for (a, b, m) in &edges {
            yaml += &format!("  - {{endpoints: [r{a}, r{b}], igp_metric: {m}}}\n");
        }
        for i in 0..n {
            yaml += &format!("  - {{endpoints: [h{i}, r{i}], igp_metric: 1}}\n");
        }
        let t = topology::parse_str(&yaml, "random.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let table = topology::routes::compute(&t);

        // Floyd–Warshall over routers as the reference distances.
        let inf = u64::MAX / 4;
        let mut d = vec![vec![inf; n]; n];
        for (i, row) in d.iter_mut().enumerate() { row[i] = 0; }
        for &(a, b, m) in &edges {
            d[a][b] = d[a][b].min(u64::from(m));
            d[b][a] = d[b][a].min(u64::from(m));
        }
        for k in 0..n { for i in 0..n { for j in 0..n {
            if d[i][k] + d[k][j] < d[i][j] { d[i][j] = d[i][k] + d[k][j]; }
        } } }
        for i in 0..n {
            let routes = &table[&format!("r{i}")];
            for j in (0..n).filter(|&j| j != i) {
                let r = routes.iter().find(|r| r.target == format!("r{j}")).unwrap();
                prop_assert_eq!(r.cost, d[i][j]);
                let h = routes.iter().find(|r| r.target == format!("h{j}")).unwrap();
                prop_assert_eq!(h.cost, d[i][j] + 1);
            }
        }
        // Walk from every host to every router SID.
        let by_addr: BTreeMap<std::net::Ipv6Addr, &str> = t.links.iter()
            .flat_map(|l| [(l.a.addr, l.a.node.as_str()), (l.b.addr, l.b.node.as_str())]).collect();
        for from in (0..n).map(|i| format!("h{i}")) {
            for to in 0..n {
                let sid = t.nodes[&format!("r{to}")].sid.unwrap();
                let mut at = from.clone();
                let mut hops = 0;
                while t.nodes[&at].sid != Some(sid) {
                    let r = table[&at].iter().filter(|r| r.prefix.contains(&sid)).max_by_key(|r| r.prefix.prefix_len()).unwrap();
                    at = by_addr[&r.via].to_owned();
                    hops += 1;
                    prop_assert!(hops <= 2 * n, "loop from {from} to r{to}");
                }
            }
        }
    }

    /// Random networks, then cut and rewired the way the admin API and a
    /// hand-made model can: links down (split networks), leaves on two
    /// routers or on each other. `count_by_node` equals the table's sizes.
    #[test]
    fn counts_match_the_table_on_any_network(
        n in 2usize..9,
        parents in proptest::collection::vec(0usize..8, 8),
        leaves in proptest::collection::vec((0usize..8, 0usize..2), 0..8),
        down in proptest::collection::vec(any::<bool>(), 24),
        rewire in proptest::collection::vec((0usize..24, 0usize..24), 0..6),
    ) {
        let kinds = ["host", "service-function"];
        let mut yaml = String::from("name: random\nnodes:\n");
        for i in 0..n {
            yaml += &format!("  r{i}: {{kind: router, sid: \"fcbb:bb00:{:x}::2\"}}\n", i + 1);
        }
        for (j, &(_, kind)) in leaves.iter().enumerate() {
            yaml += &match kinds[kind] {
                "service-function" => format!("  l{j}: {{kind: service-function, sid: \"fcbb:aa00:{:x}::2\", function: f}}\n", j + 1),
                k => format!("  l{j}: {{kind: {k}, address: \"fcbb:cc00:{:x}::a\"}}\n", j + 1),
            };
        }
        let mut links: Vec<String> = (1..n).map(|i| format!("[r{}, r{i}]", parents[i] % i)).collect();
        links.extend(leaves.iter().enumerate().map(|(j, &(r, _))| format!("[l{j}, r{}]", r % n)));
        yaml += &format!("links: [{}]\n", links.iter().map(|e| format!("{{endpoints: {e}}}")).collect::<Vec<_>>().join(", "));
        let mut t = topology::parse_str(&yaml, "random.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        for (l, &d) in t.links.iter_mut().zip(&down) {
            l.up = !d;
        }
        let names: Vec<String> = t.nodes.keys().cloned().collect();
        for (a, b) in rewire {
            let (a, b) = (&names[a % names.len()], &names[b % names.len()]);
            let mut extra = t.links[0].clone();
            extra.id = t.links.len();
            extra.a.node = a.clone();
            extra.b.node = b.clone();
            extra.a.ifname = format!("x{}a", extra.id);
            extra.b.ifname = format!("x{}b", extra.id);
            t.links.push(extra);
        }
        let lens: BTreeMap<String, usize> = topology::routes::compute(&t)
            .into_iter()
            .map(|(node, routes)| (node, routes.len()))
            .collect();
        prop_assert_eq!(topology::routes::count_by_node(&t), lens);
    }
}
