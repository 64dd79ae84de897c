//! Standalone mode with real BPF maps (loaded, not attached; needs root):
//! SID lists from the configuration, names resolved at start and again at
//! every TTL expiry, vanished addresses removed. And the resolver itself
//! (hickory) against a real DNS server (the lab's, hickory-server) on
//! loopback port 0.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agent::plan::Origin;
use agent::resolve::{HickoryLookup, Lookup, LookupOutcome, StaticLookup};
use common::*;

const CONFIG: &str = "
services:
  webserver-b:
    domain_name: wb.hawk.net
    applications:
      - port: 80
        sid: [fcbb:bb00:1::2, fcbb:bb00:2::2, fcbb:bb00:4::2, fcbb:bb00:6::2]
  webserver-c:
    ipv6_addresses: [fcbb:cc00:3::a]
    applications:
      - port: 8080
        proto: udp
        sid: [fcbb:bb00:1::2, fcbb:bb00:3::2, fcbb:bb00:5::2, fcbb:bb00:6::2]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sid_lists_follow_the_names_answers_until_they_vanish() {
    let dns = Arc::new(StaticLookup::new());
    dns.set("wb.hawk.net", &[a(HOST_B)], Duration::from_millis(50));
    let agent = start_agent(CONFIG, None, dns.clone()).await;
    let held = |dst: &'static str, port: u16| {
        let agent = &agent;
        move || async move {
            let report = agent.report().await.ok_or("stopped")?;
            let p = path(&report, dst, port)?.clone();
            Ok::<_, String>((p.sids, p.origin, report))
        }
    };
    let (sids_b, origin, _) = eventually("the name's path", held(HOST_B, 80)).await;
    assert_eq!((sids_b, origin), (sids(&UPPER), Origin::Config));
    let (sids_c, _, report) =
        eventually("the fixed address's path", held("fcbb:cc00:3::a", 8080)).await;
    assert_eq!(sids_c, sids(&LOWER));
    assert_eq!(report.mode, "client (standalone)");
    // The resolvers it was given are the dataplane's (read back from the map).
    assert_eq!(report.resolvers, [a(RESOLVER)]);
    assert!(report.controller.is_none());
    // The answer is asked for again when its TTL runs out.
    let first = report.agent.dns_answers;
    eventually("re-resolution at TTL expiry", || async {
        let n = agent.report().await.ok_or("stopped")?.agent.dns_answers;
        if n >= first + 3 {
            Ok(())
        } else {
            Err(format!("{n} answers"))
        }
    })
    .await;
    // A second address appears, then the first vanishes.
    dns.set(
        "wb.hawk.net",
        &[a(HOST_B), a("fcbb:cc00:2::b")],
        Duration::from_millis(50),
    );
    eventually("the new address steered", held("fcbb:cc00:2::b", 80)).await;
    dns.set(
        "wb.hawk.net",
        &[a("fcbb:cc00:2::b")],
        Duration::from_millis(50),
    );
    eventually("the vanished address removed", || async {
        let report = agent.report().await.ok_or("stopped")?;
        let dsts: Vec<_> = report.paths.iter().map(|p| p.destination).collect();
        if dsts == [a("fcbb:cc00:2::b"), a("fcbb:cc00:3::a")] {
            Ok(())
        } else {
            Err(format!("{dsts:?}"))
        }
    })
    .await;
    // The name disappears (NXDOMAIN): no address of it stays steered.
    dns.set("wb.hawk.net", &[], Duration::from_millis(50));
    eventually("every address of the name removed", || async {
        let report = agent.report().await.ok_or("stopped")?;
        let name = &report.dns[0];
        match (report.paths.len(), name.error.as_deref()) {
            (1, Some("no AAAA record")) => Ok(()),
            other => Err(format!("{other:?} {:?}", report.paths)),
        }
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hickory_resolves_through_a_real_dns_server() {
    let records = BTreeMap::from([("wb.hawk.net".to_string(), a(HOST_B))]);
    let udp = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = tokio::spawn(async move { labctl::dns::serve(&records, udp, tcp).await });
    let lookup = HickoryLookup::with_servers(&[addr]).unwrap();
    match lookup.aaaa("wb.hawk.net").await {
        LookupOutcome::Found { addresses, ttl } => {
            assert_eq!(addresses.into_iter().collect::<Vec<_>>(), [a(HOST_B)]);
            assert!(
                ttl <= Duration::from_secs(u64::from(labctl::dns::TTL))
                    && ttl > Duration::from_secs(50),
                "{ttl:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match lookup.aaaa("nope.hawk.net").await {
        LookupOutcome::NoAddresses { reason, .. } => assert_eq!(reason, "NXDOMAIN"),
        other => panic!("{other:?}"),
    }
    server.abort();
}
