//! Captured frames of a run, per link, and their files: one classic pcap
//! per link (pcap-file; nanosecond timestamps, Ethernet; readable by
//! Wireshark and tcpdump) plus `captures.json`, which says which file is
//! which link, how many frames the capture ring dropped, and each frame's
//! direction (classic pcap has no field for it).
//!
//! Classic pcap, not pcapng: pcap-file 2.0 writes wrong pcapng timestamps
//! (DESIGN §10).
//!
//! # Public API
//! - [`Direction`], [`CapturedPacket`], [`LinkCapture`]: what the capture
//!   rings deliver and the asserter reads.
//! - [`pcap_file_name`]`(&Topology, link) -> String`
//! - [`write_captures`]`(dir, &Topology, &[LinkCapture])`, [`read_captures`]`(dir)`
//! - [`write_pcap`], [`read_pcap`]: one file.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use serde::{Deserialize, Serialize};
use topology::Topology;

/// Which way a frame crossed a link, relative to the topology's `a` and `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AToB,
    BToA,
}

/// One frame as the capture ring delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Wall-clock time since the UNIX epoch (the ring's timestamp).
    pub ts: Duration,
    pub direction: Direction,
    /// The bytes captured.
    pub frame: Vec<u8>,
    /// The frame's length on the wire (more than `frame.len()` if cut by the snap length).
    pub orig_len: u32,
}

/// Everything one link's capture saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkCapture {
    /// Link id in the topology.
    pub link: usize,
    pub packets: Vec<CapturedPacket>,
    /// Frames the ring dropped (its statistics): expectations judged on this
    /// link are marked.
    pub dropped: u64,
}

/// Longest frame kept: a 64 KiB GSO super-frame plus headers fits.
pub const SNAPLEN: u32 = 262_144;

/// Why capture files could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Pcap {
        path: PathBuf,
        #[source]
        source: pcap_file::PcapError,
    },
    #[error("{}: {message}", path.display())]
    Index { path: PathBuf, message: String },
}

/// One entry of `captures.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureIndex {
    pub link: usize,
    pub a: String,
    pub b: String,
    /// File name in the same directory.
    pub file: String,
    pub packets: usize,
    pub dropped: u64,
    /// One character per frame, in file order: `>` a to b, `<` b to a.
    pub directions: String,
}

/// Name of the index file beside the pcaps.
pub const INDEX_FILE: &str = "captures.json";

/// `site-a_vpp1.pcap` (node names never contain `_`).
pub fn pcap_file_name(topo: &Topology, link: usize) -> String {
    match topo.links.get(link) {
        Some(l) => format!("{}_{}.pcap", l.a.node, l.b.node),
        None => format!("link{link}.pcap"),
    }
}

/// Write one link's frames as a classic pcap file.
pub fn write_pcap(path: &Path, capture: &LinkCapture) -> Result<(), CaptureError> {
    let pcap_err = |source| CaptureError::Pcap {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(|source| CaptureError::Io {
        path: path.to_owned(),
        source,
    })?;
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::native(),
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(BufWriter::new(file), header).map_err(pcap_err)?;
    for p in &capture.packets {
        let orig_len = p
            .orig_len
            .max(u32::try_from(p.frame.len()).unwrap_or(u32::MAX));
        writer
            .write_packet(&PcapPacket::new(p.ts, orig_len, &p.frame))
            .map_err(pcap_err)?;
    }
    Ok(())
}

/// Every frame of a pcap file: timestamp, bytes, original length.
pub fn read_pcap(path: &Path) -> Result<Vec<(Duration, Vec<u8>, u32)>, CaptureError> {
    let pcap_err = |source| CaptureError::Pcap {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(|source| CaptureError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = PcapReader::new(BufReader::new(file)).map_err(pcap_err)?;
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let p = packet.map_err(pcap_err)?;
        out.push((p.timestamp, p.data.into_owned(), p.orig_len));
    }
    Ok(out)
}

/// Write every link's pcap and `captures.json` into `dir` (which must exist).
pub fn write_captures(
    dir: &Path,
    topo: &Topology,
    captures: &[LinkCapture],
) -> Result<(), CaptureError> {
    let mut index = Vec::with_capacity(captures.len());
    for c in captures {
        let file = pcap_file_name(topo, c.link);
        write_pcap(&dir.join(&file), c)?;
        let (a, b) = topo
            .links
            .get(c.link)
            .map(|l| (l.a.node.clone(), l.b.node.clone()))
            .unwrap_or_default();
        index.push(CaptureIndex {
            link: c.link,
            a,
            b,
            file,
            packets: c.packets.len(),
            dropped: c.dropped,
            directions: c
                .packets
                .iter()
                .map(|p| match p.direction {
                    Direction::AToB => '>',
                    Direction::BToA => '<',
                })
                .collect(),
        });
    }
    let path = dir.join(INDEX_FILE);
    let text = serde_json::to_string_pretty(&index).map_err(|e| CaptureError::Index {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(|source| CaptureError::Io { path, source })
}

/// Read back what [`write_captures`] wrote.
pub fn read_captures(dir: &Path) -> Result<Vec<LinkCapture>, CaptureError> {
    let path = dir.join(INDEX_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| CaptureError::Io {
        path: path.clone(),
        source,
    })?;
    let index: Vec<CaptureIndex> =
        serde_json::from_str(&text).map_err(|e| CaptureError::Index {
            path: path.clone(),
            message: e.to_string(),
        })?;
    index
        .into_iter()
        .map(|entry| {
            let pcap = dir.join(&entry.file);
            let frames = read_pcap(&pcap)?;
            if frames.len() != entry.directions.chars().count() {
                return Err(CaptureError::Index {
                    path: path.clone(),
                    message: format!(
                        "{} holds {} frames but the index gives {} directions",
                        entry.file,
                        frames.len(),
                        entry.directions.chars().count()
                    ),
                });
            }
            let packets = frames
                .into_iter()
                .zip(entry.directions.chars())
                .map(|((ts, frame, orig_len), d)| CapturedPacket {
                    ts,
                    direction: if d == '<' {
                        Direction::BToA
                    } else {
                        Direction::AToB
                    },
                    frame,
                    orig_len,
                })
                .collect();
            Ok(LinkCapture {
                link: entry.link,
                packets,
                dropped: entry.dropped,
            })
        })
        .collect()
}
