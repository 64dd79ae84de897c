//! What the loader must know about a device before attaching to it (its
//! link type, MTU and GSO/GRO limits) and what the path writer must know
//! about routes (which device and gateway an address leaves through), read
//! over rtnetlink in the namespace the socket was opened in (sysfs shows the
//! namespace it was mounted in, not the thread's).

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use std::net::Ipv6Addr;

use netlink_packet_route::link::{LinkAttribute, LinkLayerType, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
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
    #[error("rtnetlink: cannot decode the answer about {about}: {reason}")]
    Decode { about: String, reason: String },
    #[error("rtnetlink: no answer about {about}")]
    NoAnswer { about: String },
}

/// A `NETLINK_ROUTE` socket of the namespace it was opened in: its answers
/// describe that namespace, whichever thread (in whichever namespace) asks
/// through it later.
#[derive(Debug)]
pub struct RouteSocket {
    socket: Socket,
}

/// The route the kernel takes to an address (`ip -6 route get`): the device
/// and, unless the address is on-link, the gateway. Two addresses whose
/// routes name the same gateway on the same device leave through the same
/// neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub oif: u32,
    pub gateway: Option<Ipv6Addr>,
}

impl RouteSocket {
    /// Open a socket in the calling thread's namespace.
    pub fn open() -> Result<Self, NetdevError> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(RouteSocket { socket })
    }

    /// Send one request, return the one answer (an error answer as its errno).
    fn ask(
        &self,
        request: RouteNetlinkMessage,
        about: &str,
    ) -> Result<RouteNetlinkMessage, NetdevError> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        let mut request = NetlinkMessage::new(header, NetlinkPayload::from(request));
        request.finalize();
        let mut buf = vec![0u8; request.buffer_len()];
        request.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        // A link message with its statistics fits in one page or two.
        let mut answer = vec![0u8; 1 << 15];
        let n = self.socket.recv(&mut &mut answer[..], 0)?;
        let message =
            NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..n]).map_err(|e| {
                NetdevError::Decode {
                    about: about.to_string(),
                    reason: e.to_string(),
                }
            })?;
        match message.payload {
            NetlinkPayload::InnerMessage(inner) => Ok(inner),
            NetlinkPayload::Error(err) if err.code.is_some() => Err(NetdevError::Io(err.to_io())),
            _ => Err(NetdevError::NoAnswer {
                about: about.to_string(),
            }),
        }
    }

    /// Ask the kernel about `interface` (RTM_GETLINK by name).
    pub fn link_info(&self, interface: &str) -> Result<LinkInfo, NetdevError> {
        let mut link = LinkMessage::default();
        link.attributes
            .push(LinkAttribute::IfName(interface.to_string()));
        match self.ask(RouteNetlinkMessage::GetLink(link), interface)? {
            RouteNetlinkMessage::NewLink(link) => Ok(describe(&link)),
            _ => Err(NetdevError::NoAnswer {
                about: interface.to_string(),
            }),
        }
    }

    /// The route the kernel takes to `destination` (RTM_GETROUTE), as for
    /// a packet this host sends from no particular source.
    pub fn route_to(&self, destination: Ipv6Addr) -> Result<NextHop, NetdevError> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet6;
        route.header.destination_prefix_length = 128;
        route
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet6(
                destination,
            )));
        let about = destination.to_string();
        let RouteNetlinkMessage::NewRoute(answer) =
            self.ask(RouteNetlinkMessage::GetRoute(route), &about)?
        else {
            return Err(NetdevError::NoAnswer { about });
        };
        let mut hop = NextHop {
            oif: 0,
            gateway: None,
        };
        for attribute in &answer.attributes {
            match attribute {
                RouteAttribute::Oif(oif) => hop.oif = *oif,
                RouteAttribute::Gateway(RouteAddress::Inet6(gw)) => hop.gateway = Some(*gw),
                _ => {}
            }
        }
        Ok(hop)
    }
}

/// Ask the kernel about `interface` of the calling thread's namespace.
pub fn link_info(interface: &str) -> Result<LinkInfo, NetdevError> {
    RouteSocket::open()?.link_info(interface)
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
