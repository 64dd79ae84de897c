//! The lab DNS server: hickory-server answering the topology's AAAA records
//! (TTL 60) authoritatively, on `[dns address]:53` over UDP and TCP.
//!
//! `labctl up` runs it as `labctl __dns --lab NAME --state DIR`, a child
//! started already inside the dns node's namespace (setns between fork and
//! exec), in its own session so it outlives `up`. It reads the topology copy
//! in the state directory, binds, prints `ready` on stdout and serves until
//! killed by `labctl down`.
//!
//! Zones: each record `a.b.c` lives in the zone `b.c` (its parent), with a
//! synthetic SOA; names in a zone without a record answer NXDOMAIN.
//!
//! Records change while the lab runs ([`set_record`], a scenario's `dns`
//! step): the changes are kept in `dns-records.json` in the state
//! directory, and on SIGHUP the server serves the topology's records with
//! those changes on top (a name in a zone the topology does not have is
//! not served). [`set_record`] returns once the server answers the new
//! address.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::{AAAA, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;
use labns::{Signal, Wait};
use tokio::net::{TcpListener, UdpSocket};

use crate::error::{Error, Result};

/// TTL of every record served.
pub const TTL: u32 = 60;

/// Group records by zone: the parent of each name (a one-label name is its own zone).
pub fn zones(records: &BTreeMap<String, Ipv6Addr>) -> BTreeMap<String, Vec<(String, Ipv6Addr)>> {
    let mut out: BTreeMap<String, Vec<(String, Ipv6Addr)>> = BTreeMap::new();
    for (name, addr) in records {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let zone = match name.split_once('.') {
            Some((_, parent)) => parent.to_string(),
            None => name.clone(),
        };
        out.entry(zone).or_default().push((name, *addr));
    }
    out
}

fn name(s: &str) -> Result<Name> {
    Name::from_ascii(format!("{s}.")).map_err(|e| Error::Dns(format!("invalid name {s:?}: {e}")))
}

/// Zone name -> its handler, to change records while serving.
pub type Zones = BTreeMap<String, Arc<InMemoryZoneHandler>>;

/// A catalog with one authoritative in-memory zone per [`zones`] entry,
/// and the zones' handlers.
pub fn catalog(records: &BTreeMap<String, Ipv6Addr>) -> Result<(Catalog, Zones)> {
    let mut catalog = Catalog::new();
    let mut handlers = Zones::new();
    for (zone, recs) in zones(records) {
        let origin = name(&zone)?;
        let mut handler: InMemoryZoneHandler =
            InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            name(&format!("ns.{zone}"))?,
            name(&format!("hostmaster.{zone}"))?,
            1,
            3600,
            600,
            86400,
            TTL,
        );
        handler.upsert_mut(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)), 1);
        for (n, addr) in recs {
            handler.upsert_mut(
                Record::from_rdata(name(&n)?, TTL, RData::AAAA(AAAA(addr))),
                1,
            );
        }
        let handler = Arc::new(handler);
        handlers.insert(zone, Arc::clone(&handler));
        let list: Vec<Arc<dyn ZoneHandler>> = vec![handler];
        catalog.upsert(LowerName::new(&origin), list);
    }
    Ok((catalog, handlers))
}

/// Serve exactly `records` from now on: every AAAA record of every zone
/// is replaced. Returns the names not served (their zone is not).
pub async fn replace_records(served: &Zones, records: &BTreeMap<String, Ipv6Addr>) -> Vec<String> {
    let wanted = zones(records);
    for (zone, handler) in served {
        let mut recs = handler.records_mut().await;
        recs.retain(|k, _| k.record_type != RecordType::AAAA);
        for (n, addr) in wanted.get(zone).into_iter().flatten() {
            let Ok(rname) = name(n) else { continue };
            let mut set = RecordSet::new(rname.clone(), RecordType::AAAA, 1);
            set.insert(
                Record::from_rdata(rname.clone(), TTL, RData::AAAA(AAAA(*addr))),
                1,
            );
            recs.insert(
                RrKey::new(LowerName::new(&rname), RecordType::AAAA),
                Arc::new(set),
            );
        }
    }
    wanted
        .into_iter()
        .filter(|(zone, _)| !served.contains_key(zone))
        .flat_map(|(_, recs)| recs.into_iter().map(|(n, _)| n))
        .collect()
}

/// Serve `records` on an already bound UDP socket and TCP listener until
/// the task is dropped.
pub async fn serve(
    records: &BTreeMap<String, Ipv6Addr>,
    udp: UdpSocket,
    tcp: TcpListener,
) -> Result<()> {
    let (server, _) = server(records, udp, tcp)?;
    run_server(server).await
}

/// [`serve`], and on SIGHUP serve what `reload` returns instead (a
/// scenario's `dns` step changes the lab's records this way).
pub async fn serve_reloading(
    records: &BTreeMap<String, Ipv6Addr>,
    udp: UdpSocket,
    tcp: TcpListener,
    reload: impl Fn() -> Result<BTreeMap<String, Ipv6Addr>> + Send + 'static,
) -> Result<()> {
    let (server, handlers) = server(records, udp, tcp)?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| Error::Dns(format!("SIGHUP handler: {e}")))?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reload() {
                Ok(recs) => {
                    let skipped = replace_records(&handlers, &recs).await;
                    tracing::info!("records reloaded; not served (no such zone): {skipped:?}");
                }
                Err(e) => tracing::error!("records not reloaded: {e}"),
            }
        }
    });
    run_server(server).await
}

/// A server of `records` on the sockets, and its zones' handlers.
fn server(
    records: &BTreeMap<String, Ipv6Addr>,
    udp: UdpSocket,
    tcp: TcpListener,
) -> Result<(Server<Catalog>, Zones)> {
    let (catalog, handlers) = catalog(records)?;
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
    Ok((server, handlers))
}

async fn run_server(mut server: Server<Catalog>) -> Result<()> {
    server
        .block_until_done()
        .await
        .map_err(|e| Error::Dns(e.to_string()))
}

/// Entry point of `labctl __dns`: serve the lab's records on the dns node's
/// address (the process already runs in that node's namespace).
pub fn run_child(state_dir: &Path) -> Result<()> {
    let topo = crate::state::read_topology(state_dir)?;
    let records = effective_records(state_dir)?;
    let dir = state_dir.to_path_buf();
    let addr = topo
        .nodes_of_kind(topology::NodeKind::Dns)
        .find_map(|n| n.address)
        .ok_or_else(|| Error::Dns("the topology has no dns node with an address".to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Dns(format!("runtime: {e}")))?;
    rt.block_on(async {
        let sa = SocketAddr::from((addr, 53));
        let udp = UdpSocket::bind(sa)
            .await
            .map_err(|e| Error::Dns(format!("bind udp {sa}: {e}")))?;
        let tcp = TcpListener::bind(sa)
            .await
            .map_err(|e| Error::Dns(format!("bind tcp {sa}: {e}")))?;
        tracing::info!("serving {} records on {sa}", records.len());
        let mut out = std::io::stdout();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        serve_reloading(&records, udp, tcp, move || effective_records(&dir)).await
    })
}

/// The file of a lab's record changes.
const CHANGES: &str = "dns-records.json";
/// How long a changed record gets to be served.
const CHANGE_WAIT: Duration = Duration::from_secs(5);

/// The record changes of the lab in `state_dir` (none: empty).
pub fn read_changes(state_dir: &Path) -> Result<BTreeMap<String, Ipv6Addr>> {
    crate::state::read_json(state_dir, CHANGES)
}

/// The records the lab serves now: every node's name (`NODE`, `NODE.LAB`:
/// [`topology::Topology::node_records`]), the topology's records over them,
/// the changes on top.
pub fn effective_records(state_dir: &Path) -> Result<BTreeMap<String, Ipv6Addr>> {
    let topo = crate::state::read_topology(state_dir)?;
    let lab = state_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| topo.name.clone());
    let mut records = topo.node_records(&lab);
    records.extend(topo.dns_records);
    records.extend(read_changes(state_dir)?);
    Ok(records)
}

/// Serve `name` as `addr` in lab `lab` (`None`: as the topology has it),
/// and return once the server answers so.
pub fn set_record(lab: &str, name: &str, addr: Option<Ipv6Addr>) -> Result<()> {
    let dir = crate::state::lab_dir(lab);
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut changes = read_changes(&dir)?;
    match addr {
        Some(a) => changes.insert(name.clone(), a),
        None => changes.remove(&name),
    };
    crate::state::write_json(&dir, CHANGES, &changes)?;
    let want = effective_records(&dir)?.get(&name).copied();
    let plan = crate::plan::from_topology(&crate::state::read_topology(&dir)?, lab);
    let Some(dns) = plan.dns.as_ref() else {
        return Err(Error::Dns(format!("lab {lab} has no dns node")));
    };
    let journal = crate::state::read_journal(&dir, lab)?;
    let Some(id) = crate::procs::running(&journal.entries, "dns") else {
        return Err(Error::Dns(format!(
            "the dns server of lab {lab} is not running"
        )));
    };
    id.signal(Signal::SIGHUP)?;
    let server = SocketAddr::from((dns.listen, 53));
    let netns = plan.namespaces[dns.ns].netns.clone();
    Wait::new(
        format!("the dns server to answer {name} with {want:?}"),
        CHANGE_WAIT,
    )
    .every(Duration::from_millis(10))
    .try_until(|| {
        let n = name.clone();
        let got = labns::run_in(&netns, move || {
            query_aaaa(server, &n, Duration::from_millis(500))
        })?;
        let first = got.as_ref().and_then(|a| a.first().copied());
        Ok::<_, Error>(match got.is_some() && first == want {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(format!("answers {got:?}")),
        })
    })
}

/// Send an AAAA query for `name` to `server` and return the response to
/// it (matched by id) within `limit`. Blocking.
fn exchange(server: SocketAddr, name: &str, limit: Duration) -> Option<Message> {
    // Any id works; a varying one keeps a late answer to an earlier probe from counting.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let id = (std::process::id() as u16) ^ (nanos as u16);
    let qname = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()?;
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(qname, RecordType::AAAA));
    let query = m.to_vec().ok()?;
    let local = if server.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let sock = std::net::UdpSocket::bind(local).ok()?;
    sock.connect(server).and_then(|()| sock.send(&query)).ok()?;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        let n = sock.recv(&mut buf).ok()?;
        if let Ok(r) = Message::from_vec(&buf[..n]) {
            if r.metadata.id == id {
                return Some(r);
            }
        }
    }
}

/// Whether the DNS server at `server` answers an AAAA query for `name`
/// within `limit`: any response to our query id counts (it is serving).
/// Blocking; run it where `server` is reachable (`status` runs it in the
/// dns node's namespace). A stopped or hung server does not answer.
pub fn answers(server: SocketAddr, name: &str, limit: Duration) -> bool {
    exchange(server, name, limit).is_some()
}

/// The AAAA addresses `server` gives for `name` (`Some(empty)`: NXDOMAIN
/// or no record; `None`: no answer within `limit`). Blocking; run it where
/// `server` is reachable (from a lab node's namespace): the query leaves
/// that node like any application's lookup.
pub fn query_aaaa(server: SocketAddr, name: &str, limit: Duration) -> Option<Vec<Ipv6Addr>> {
    let r = exchange(server, name, limit)?;
    Some(
        r.answers
            .iter()
            .filter_map(|a| match &a.data {
                RData::AAAA(x) => Some(x.0),
                _ => None,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;

    fn records() -> BTreeMap<String, Ipv6Addr> {
        [
            ("wb.hawk.net".to_string(), "fcbb:cc00:2::a".parse().unwrap()),
            ("wc.hawk.net".to_string(), "fcbb:cc00:3::a".parse().unwrap()),
            (
                "other.example".to_string(),
                "fcbb:cc00:9::1".parse().unwrap(),
            ),
        ]
        .into()
    }

    #[test]
    fn records_are_grouped_by_parent_zone() {
        let z = zones(&records());
        assert_eq!(z.keys().collect::<Vec<_>>(), ["example", "hawk.net"]);
        assert_eq!(z["hawk.net"].len(), 2);
    }

    async fn ask(server: SocketAddr, q: &str, t: RecordType) -> Message {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(q).unwrap(), t));
        let sock = UdpSocket::bind("[::1]:0").await.unwrap();
        sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("dns answer within 5 s")
            .unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    }

    /// DNS over TCP: the message with a 2-byte length prefix (RFC 1035 §4.2.2).
    async fn ask_tcp(server: SocketAddr, q: &str) -> Message {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut m = Message::query();
        m.metadata.id = 77;
        m.add_query(Query::query(Name::from_ascii(q).unwrap(), RecordType::AAAA));
        let body = m.to_vec().unwrap();
        let mut c = tokio::net::TcpStream::connect(server).await.unwrap();
        c.write_all(&(body.len() as u16).to_be_bytes())
            .await
            .unwrap();
        c.write_all(&body).await.unwrap();
        let read = async {
            let len = c.read_u16().await.unwrap() as usize;
            let mut buf = vec![0u8; len];
            c.read_exact(&mut buf).await.unwrap();
            buf
        };
        let buf = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("tcp answer within 5 s");
        Message::from_vec(&buf).unwrap()
    }

    #[tokio::test]
    async fn answers_aaaa_over_udp_and_tcp_with_ttl_60_and_nxdomain_for_unknown_names() {
        let udp = UdpSocket::bind("[::1]:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind("[::1]:0").await.unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let recs = records();
        let server = tokio::spawn(async move { serve(&recs, udp, tcp).await });

        let r = ask(addr, "wb.hawk.net.", RecordType::AAAA).await;
        assert_eq!(r.metadata.id, 4242);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].ttl, TTL);
        match &r.answers[0].data {
            RData::AAAA(a) => assert_eq!(a.0, "fcbb:cc00:2::a".parse::<Ipv6Addr>().unwrap()),
            other => panic!("not AAAA: {other:?}"),
        }
        let r = ask_tcp(tcp_addr, "wc.hawk.net.").await;
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        match &r.answers[0].data {
            RData::AAAA(a) => assert_eq!(a.0, "fcbb:cc00:3::a".parse::<Ipv6Addr>().unwrap()),
            other => panic!("not AAAA: {other:?}"),
        }
        let r = ask(addr, "nope.hawk.net.", RecordType::AAAA).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        assert!(r.answers.is_empty());
        // The liveness probe of `status`, known and unknown names alike.
        for name in ["wb.hawk.net", "nope.hawk.net", "."] {
            let asked =
                tokio::task::spawn_blocking(move || answers(addr, name, Duration::from_secs(5)));
            assert!(asked.await.unwrap(), "{name}");
        }
        server.abort();
    }

    /// A record changed while serving (a scenario's `dns` step): the new
    /// address is answered at once, a name of a zone not served is refused,
    /// and dropping the change brings the topology's answer back.
    #[tokio::test]
    async fn records_are_replaced_while_serving() {
        let udp = UdpSocket::bind("[::1]:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let (catalog, zones) = catalog(&records()).unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        let served = tokio::spawn(async move { server.block_until_done().await });
        let aaaa = |m: &Message| -> Vec<Ipv6Addr> {
            m.answers
                .iter()
                .filter_map(|a| match &a.data {
                    RData::AAAA(x) => Some(x.0),
                    _ => None,
                })
                .collect()
        };
        let wb = || ask(addr, "wb.hawk.net.", RecordType::AAAA);
        assert_eq!(
            aaaa(&wb().await),
            ["fcbb:cc00:2::a".parse::<Ipv6Addr>().unwrap()]
        );
        let mut changed = records();
        changed.insert("wb.hawk.net".into(), "fcbb:cc00:3::a".parse().unwrap());
        changed.insert(
            "new.elsewhere.org".into(),
            "fcbb:cc00:9::9".parse().unwrap(),
        );
        let skipped = replace_records(&zones, &changed).await;
        assert_eq!(skipped, ["new.elsewhere.org"]);
        assert_eq!(
            aaaa(&wb().await),
            ["fcbb:cc00:3::a".parse::<Ipv6Addr>().unwrap()]
        );
        let wc = ask(addr, "wc.hawk.net.", RecordType::AAAA).await;
        assert_eq!(
            aaaa(&wc),
            ["fcbb:cc00:3::a".parse::<Ipv6Addr>().unwrap()],
            "untouched"
        );
        replace_records(&zones, &records()).await;
        assert_eq!(
            aaaa(&wb().await),
            ["fcbb:cc00:2::a".parse::<Ipv6Addr>().unwrap()]
        );
        // The lookup the runner's clients do: the same answer.
        let got = tokio::task::spawn_blocking(move || {
            query_aaaa(addr, "wb.hawk.net", Duration::from_secs(5))
        });
        assert_eq!(
            got.await.unwrap(),
            Some(vec!["fcbb:cc00:2::a".parse().unwrap()])
        );
        served.abort();
    }

    #[test]
    fn a_socket_that_never_answers_is_not_a_dns_server() {
        // Bound, so the query is queued and never read: what a stopped
        // (SIGSTOP) server looks like from outside.
        let silent = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let started = Instant::now();
        assert!(!answers(
            silent.local_addr().unwrap(),
            "wb.hawk.net",
            Duration::from_millis(200)
        ));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
