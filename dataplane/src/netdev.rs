//! What the loader must know about a device before attaching to it: its
//! link type, MTU and GSO/GRO limits, read over rtnetlink in the calling
//! thread's network namespace (sysfs shows the namespace it was mounted in,
//! not the thread's).

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkLayerType, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The largest GSO/GRO packet without BIG TCP: an IPv6 payload length
/// still describes it (`GSO_LEGACY_MAX_SIZE`).
pub const LEGACY_MAX_SIZE: u32 = 65536;

/// A device as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub link_type: LinkLayerType,
    pub mtu: u32,
    /// Largest IPv6 GSO packet the stack builds for the device (BIG TCP above 65536).
    pub gso_max_size: u32,
    /// Largest packet GRO builds on receive (BIG TCP above 65536).
    pub gro_max_size: u32,
}

impl LinkInfo {
    pub fn is_ethernet(&self) -> bool {
        self.link_type == LinkLayerType::Ether
    }

    /// Whether the stack may build IPv6 packets over 64 KiB on this device
    /// (payload length 0 plus a jumbo option, or none at all).
    pub fn big_tcp(&self) -> bool {
        self.gso_max_size > LEGACY_MAX_SIZE || self.gro_max_size > LEGACY_MAX_SIZE
    }
}

/// Reading a device's description failed.
#[derive(Debug, thiserror::Error)]
pub enum NetdevError {
    #[error("rtnetlink: {0}")]
    Io(#[from] std::io::Error),
    #[error("rtnetlink: cannot decode the answer about {interface}: {reason}")]
    Decode { interface: String, reason: String },
    #[error("rtnetlink: no link message in the answer about {interface}")]
    NoAnswer { interface: String },
}

/// Ask the kernel about `interface` (RTM_GETLINK by name).
pub fn link_info(interface: &str) -> Result<LinkInfo, NetdevError> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut link = LinkMessage::default();
    link.attributes
        .push(LinkAttribute::IfName(interface.to_string()));
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    let mut request = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(link)),
    );
    request.finalize();
    let mut buf = vec![0u8; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;
    // A link message with its statistics fits in one page or two.
    let mut answer = vec![0u8; 1 << 15];
    let n = socket.recv(&mut &mut answer[..], 0)?;
    let decode = |reason: String| NetdevError::Decode {
        interface: interface.to_string(),
        reason,
    };
    let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..n])
        .map_err(|e| decode(e.to_string()))?;
    match message.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => Ok(describe(&link)),
        NetlinkPayload::Error(err) if err.code.is_some() => Err(NetdevError::Io(err.to_io())),
        _ => Err(NetdevError::NoAnswer {
            interface: interface.to_string(),
        }),
    }
}

fn describe(link: &LinkMessage) -> LinkInfo {
    let mut info = LinkInfo {
        index: link.header.index,
        link_type: link.header.link_layer_type,
        mtu: 0,
        gso_max_size: 0,
        gro_max_size: 0,
    };
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::Mtu(v) => info.mtu = *v,
            LinkAttribute::GsoMaxSize(v) => info.gso_max_size = *v,
            LinkAttribute::GroMaxSize(v) => info.gro_max_size = *v,
            _ => {}
        }
    }
    info
}
