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

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::{AAAA, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;
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

/// A catalog with one authoritative in-memory zone per [`zones`] entry.
pub fn catalog(records: &BTreeMap<String, Ipv6Addr>) -> Result<Catalog> {
    let mut catalog = Catalog::new();
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
        let handlers: Vec<Arc<dyn ZoneHandler>> = vec![Arc::new(handler)];
        catalog.upsert(LowerName::new(&origin), handlers);
    }
    Ok(catalog)
}

/// Serve `records` on an already bound UDP socket and TCP listener until the task is dropped.
pub async fn serve(
    records: &BTreeMap<String, Ipv6Addr>,
    udp: UdpSocket,
    tcp: TcpListener,
) -> Result<()> {
    let mut server = Server::new(catalog(records)?);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
    server
        .block_until_done()
        .await
        .map_err(|e| Error::Dns(e.to_string()))
}

/// Entry point of `labctl __dns`: serve the lab's records on the dns node's
/// address (the process already runs in that node's namespace).
pub fn run_child(state_dir: &Path) -> Result<()> {
    let meta = crate::state::read_meta(state_dir)?;
    let topo_path = state_dir.join("topology.yaml");
    let text = topology::read_input_file(&topo_path, topology::MAX_INPUT_FILE_BYTES)
        .map_err(topology::LoadError::Read)?;
    let topo = topology::parse_str(&text, &meta.source.display().to_string())?;
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
        tracing::info!("serving {} records on {sa}", topo.dns_records.len());
        let mut out = std::io::stdout();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        serve(&topo.dns_records, udp, tcp).await
    })
}

/// Whether the DNS server at `server` answers an AAAA query for `name`
/// within `limit`: any response to our query id counts (it is serving).
/// Blocking; run it where `server` is reachable (`status` runs it in the
/// dns node's namespace). A stopped or hung server does not answer.
pub fn answers(server: SocketAddr, name: &str, limit: Duration) -> bool {
    lookup_aaaa(server, name, limit).is_some()
}

/// The AAAA addresses the DNS server at `server` answers for `name` within
/// `limit` (empty: it answered without one, e.g. NXDOMAIN); `None` when it
/// did not answer. Blocking, like [`answers`].
pub fn lookup_aaaa(server: SocketAddr, name: &str, limit: Duration) -> Option<Vec<Ipv6Addr>> {
    // Any id works; a varying one keeps a late answer to an earlier probe from counting.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let id = (std::process::id() as u16) ^ (nanos as u16);
    let Ok(qname) = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))) else {
        return None;
    };
    let mut m = Message::query();
    m.metadata.id = id;
    m.add_query(Query::query(qname, RecordType::AAAA));
    let Ok(query) = m.to_vec() else {
        return None;
    };
    let local = if server.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let Ok(sock) = std::net::UdpSocket::bind(local) else {
        return None;
    };
    if sock
        .connect(server)
        .and_then(|()| sock.send(&query))
        .is_err()
    {
        return None;
    }
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                let ours = Message::from_vec(&buf[..n])
                    .ok()
                    .filter(|r| r.metadata.id == id);
                if let Some(r) = ours {
                    return Some(aaaa_of(&r));
                }
            }
            Err(_) => return None,
        }
    }
}

/// The AAAA addresses among a response's answers.
fn aaaa_of(response: &Message) -> Vec<Ipv6Addr> {
    response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect()
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
