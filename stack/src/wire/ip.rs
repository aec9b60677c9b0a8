//! The IP header of either family, for what is the same in both: a TCP
//! segment or an ICMP message goes under an IPv4 or an IPv6 header
//! according to its addresses, and everything above builds one `IpRepr`.

use super::ipv4::Ipv4Repr;
use super::ipv6::Ipv6Repr;
use std::net::IpAddr;

pub use super::ipv4::{PROTO_ICMP, PROTO_TCP};
pub use super::ipv6::PROTO_ICMPV6;

/// The fields of an outgoing IP header, of one family or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRepr {
    V4(Ipv4Repr),
    V6(Ipv6Repr),
}

impl IpRepr {
    /// The longest header `emit` writes: IPv6's.
    pub const MAX_HEADER_LEN: usize = Ipv6Repr::HEADER_LEN;

    /// The header of a packet of `protocol` from `src` to `dst`, its
    /// payload length 0 until `set_payload_len`. `hop_limit` is IPv4's
    /// TTL, `traffic_class` its TOS byte: the same fields under new names.
    ///
    /// Panics if the addresses are of two families: a connection's two
    /// ends are always of one (the stack makes them so).
    pub fn new(src: IpAddr, dst: IpAddr, protocol: u8, hop_limit: u8, traffic_class: u8) -> IpRepr {
        match (src, dst) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => IpRepr::V4(Ipv4Repr {
                src_addr,
                dst_addr,
                protocol,
                payload_len: 0,
                ttl: hop_limit,
                tos: traffic_class,
            }),
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => IpRepr::V6(Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: protocol,
                payload_len: 0,
                hop_limit,
                traffic_class,
            }),
            _ => panic!("addresses of two families: {src} > {dst}"),
        }
    }

    /// Bytes `emit` writes.
    pub fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(_) => Ipv4Repr::HEADER_LEN,
            IpRepr::V6(_) => Ipv6Repr::HEADER_LEN,
        }
    }

    pub fn src(&self) -> IpAddr {
        match self {
            IpRepr::V4(ip) => ip.src_addr.into(),
            IpRepr::V6(ip) => ip.src_addr.into(),
        }
    }

    pub fn dst(&self) -> IpAddr {
        match self {
            IpRepr::V4(ip) => ip.dst_addr.into(),
            IpRepr::V6(ip) => ip.dst_addr.into(),
        }
    }

    /// Bytes following the header.
    pub fn set_payload_len(&mut self, len: usize) {
        match self {
            IpRepr::V4(ip) => ip.payload_len = len,
            IpRepr::V6(ip) => ip.payload_len = len,
        }
    }

    /// Writes the header into `buf[..header_len()]`. Panics as the
    /// family's own `emit` does.
    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            IpRepr::V4(ip) => ip.emit(buf),
            IpRepr::V6(ip) => ip.emit(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::ipv6::Ipv6Packet;

    #[test]
    fn the_addresses_pick_the_family() {
        let mut buf = [0u8; IpRepr::MAX_HEADER_LEN + 4];
        for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut ip = IpRepr::new(src, dst, PROTO_TCP, 7, 0x20);
            ip.set_payload_len(4);
            assert_eq!((ip.src(), ip.dst()), (src, dst));
            ip.emit(&mut buf);
            let packet = &buf[..ip.header_len() + 4];
            match ip {
                IpRepr::V4(_) => {
                    let p = Ipv4Packet::new_checked(packet).unwrap();
                    assert_eq!((p.protocol(), p.ttl(), p.tos(), p.payload().len()), (PROTO_TCP, 7, 0x20, 4));
                }
                IpRepr::V6(_) => {
                    let p = Ipv6Packet::new_checked(packet).unwrap();
                    assert_eq!(
                        (p.next_header(), p.hop_limit(), p.traffic_class(), p.payload_len()),
                        (PROTO_TCP, 7, 0x20, 4)
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "two families")]
    fn two_families_cannot_make_a_header() {
        IpRepr::new("10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap(), PROTO_TCP, 64, 0);
    }
}
