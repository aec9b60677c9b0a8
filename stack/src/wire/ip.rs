//! The IP header of either family, for what is the same in both: a TCP
//! segment or an ICMP message goes under an IPv4 or an IPv6 header
//! according to its addresses, and everything above builds one `IpRepr`;
//! an ICMP or ICMPv6 error quotes the start of one of our datagrams, which
//! one `Quote` reads.

use super::ipv4::{self, Ipv4Repr};
use super::ipv6::{self, Ipv6Repr};
use super::seq::SeqNum;
use super::{be16, be32, tcp, Error};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The start of a datagram of ours that an ICMP (RFC 792) or ICMPv6
/// (RFC 4443 §2.4: "as much of the invoking packet as possible") error
/// quotes: its IP header, then at least 8 bytes of what followed, which
/// for TCP are the ports and the sequence number:
///
/// ```text
/// +-------------------------------------+----------+----------+-------------+
/// | IPv4 header (IHL * 4) or IPv6 (40)  | src port | dst port | sequence no |
/// +-------------------------------------+----------+----------+-------------+
/// ```
///
/// The source is us, the destination the peer: the 4-tuple of the
/// connection, the other way round from a segment we receive. We send no
/// IPv6 extension headers, so a quote of ours has none: one that has
/// names another protocol than TCP, and is about no connection.
#[derive(Debug, Clone, Copy)]
pub struct Quote<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> Quote<'a> {
    /// Checks that a whole IP header and 8 bytes after it are there: the
    /// version, 4 or 6 (`Version`), its fixed header (`Truncated`), for
    /// IPv4 an IHL of at least 5 (`HeaderLen`), and the 8 bytes
    /// (`Truncated`). The lengths and the IPv4 checksum are the whole
    /// datagram's, of which this is the start, so they cannot be checked.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        let header_len = match buffer.first().ok_or(Error::Truncated)? >> 4 {
            4 if buffer.len() < Ipv4Repr::HEADER_LEN => return Err(Error::Truncated),
            4 => {
                let header_len = usize::from(buffer[ipv4::field::VER_IHL] & 0x0f) * 4;
                if header_len < Ipv4Repr::HEADER_LEN {
                    return Err(Error::HeaderLen);
                }
                header_len
            }
            6 => Ipv6Repr::HEADER_LEN,
            _ => return Err(Error::Version),
        };
        if buffer.len() < header_len + 8 {
            return Err(Error::Truncated);
        }
        Ok(Quote { buffer, header_len })
    }

    fn is_ipv6(&self) -> bool {
        self.buffer[0] >> 4 == 6
    }

    /// The quoted datagram's protocol: `PROTO_TCP` for a segment.
    pub fn protocol(&self) -> u8 {
        if self.is_ipv6() {
            self.buffer[ipv6::field::NEXT_HEADER]
        } else {
            self.buffer[ipv4::field::PROTOCOL]
        }
    }

    /// Who sent the quoted datagram: us, if it is ours.
    pub fn src_addr(&self) -> IpAddr {
        if self.is_ipv6() {
            self.v6_at(ipv6::field::SRC).into()
        } else {
            Ipv4Addr::from(be32(self.buffer, ipv4::field::SRC)).into()
        }
    }

    pub fn dst_addr(&self) -> IpAddr {
        if self.is_ipv6() {
            self.v6_at(ipv6::field::DST).into()
        } else {
            Ipv4Addr::from(be32(self.buffer, ipv4::field::DST)).into()
        }
    }

    fn v6_at(&self, at: usize) -> Ipv6Addr {
        <[u8; 16]>::try_from(&self.buffer[at..at + 16]).expect("sixteen bytes").into()
    }

    /// For TCP, our port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer, self.header_len + tcp::field::SRC_PORT)
    }

    /// For TCP, the peer's port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer, self.header_len + tcp::field::DST_PORT)
    }

    /// For TCP, the quoted segment's SEG.SEQ.
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(be32(self.buffer, self.header_len + tcp::field::SEQ))
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

    /// A quote of a TCP segment 10.0.0.1:4000 > 10.0.0.2:80 (or
    /// fd00::1 > fd00::2), SEQ 1000, with `options` bytes of IPv4 options.
    fn quote(v6: bool, options: usize) -> Vec<u8> {
        let (src, dst) = if v6 { ("fd00::1", "fd00::2") } else { ("10.0.0.1", "10.0.0.2") };
        let mut ip = IpRepr::new(src.parse().unwrap(), dst.parse().unwrap(), PROTO_TCP, 64, 0);
        ip.set_payload_len(20);
        let mut q = vec![0u8; ip.header_len() + options + 8];
        ip.emit(&mut q);
        if !v6 {
            q[0] = 0x45 + (options / 4) as u8;
        }
        let at = ip.header_len() + options;
        q[at..].copy_from_slice(&[0x0f, 0xa0, 0, 80, 0, 0, 0x03, 0xe8]);
        q
    }

    #[test]
    fn quote_gives_the_four_tuple_and_seq() {
        for (v6, options) in [(false, 0), (false, 12), (true, 0)] {
            let bytes = quote(v6, options);
            let q = Quote::new_checked(&bytes).unwrap();
            let (src, dst): (IpAddr, IpAddr) = match v6 {
                true => ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap()),
                false => ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            };
            assert_eq!((q.protocol(), q.src_addr(), q.dst_addr()), (PROTO_TCP, src, dst));
            assert_eq!((q.src_port(), q.dst_port(), q.seq_number()), (4000, 80, SeqNum(1000)));
        }
    }

    #[test]
    fn quote_rejects_what_is_not_a_header_and_8_bytes() {
        let bytes = quote(false, 12);
        assert_eq!(Quote::new_checked(&bytes[..19]).unwrap_err(), Error::Truncated);
        // The 8 bytes after the options are cut short.
        assert_eq!(Quote::new_checked(&bytes[..39]).unwrap_err(), Error::Truncated);
        let mut v5 = bytes.clone();
        v5[0] = 0x55;
        assert_eq!(Quote::new_checked(&v5).unwrap_err(), Error::Version);
        let mut short_ihl = bytes;
        short_ihl[0] = 0x44;
        assert_eq!(Quote::new_checked(&short_ihl).unwrap_err(), Error::HeaderLen);
        let v6 = quote(true, 0);
        assert_eq!(Quote::new_checked(&v6[..47]).unwrap_err(), Error::Truncated);
        assert_eq!(Quote::new_checked(&[]).unwrap_err(), Error::Truncated);
    }

    proptest::proptest! {
        #[test]
        fn quote_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            if let Ok(q) = Quote::new_checked(&bytes) {
                let _ = (q.protocol(), q.src_addr(), q.dst_addr(), q.src_port(), q.dst_port(), q.seq_number());
            }
        }
    }

    #[test]
    #[should_panic(expected = "two families")]
    fn two_families_cannot_make_a_header() {
        IpRepr::new("10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap(), PROTO_TCP, 64, 0);
    }
}
