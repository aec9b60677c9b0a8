//! ICMP messages of both families: ICMP for IPv4 (RFC 792) and ICMPv6
//! (RFC 4443) share their header, so one view reads both and one builder
//! answers an echo in either.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+-------------------------------+
//! |     Type      |     Code      |           Checksum            |
//! +---------------+---------------+-------------------------------+
//! | Identifier, Sequence (echo) / unused, MTU or pointer (errors) |
//! +---------------------------------------------------------------+
//! |  Echo data / the start of the datagram the error is about     |
//! +---------------------------------------------------------------+
//! ```
//!
//! What differs by family: the type numbers (`icmpv4.rs`, `icmpv6.rs`
//! hold them and the codes), and the checksum. ICMP's covers the message
//! alone; ICMPv6's covers an IPv6 pseudo-header too (RFC 4443 §2.3,
//! RFC 8200 §8.1), as TCP's does, so a message is checked against the
//! addresses it came with. An error quotes the start of the datagram it is
//! about, which `ip::Quote` reads for TCP to find the connection and the
//! segment (RFC 9293 §3.9.2.2).

use super::ipv4::PROTO_ICMP;
use super::ipv6::PROTO_ICMPV6;
use super::{be16, be32, checksum, icmpv4, icmpv6, put16, Error};
use std::net::IpAddr;

/// Byte offsets of the fields.
mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    /// ICMPv6 Packet Too Big's MTU: the whole second word.
    pub const MTU_V6: usize = 4;
    /// ICMP Fragmentation Needed's next-hop MTU: its low half (RFC 1191 §4).
    pub const MTU_V4: usize = 6;
    pub const DATA: usize = 8;
}

/// What a message is to us, whichever family's numbers it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A ping, to answer.
    EchoRequest,
    /// ICMP's Source Quench: deprecated (RFC 6633), TCP discards it
    /// (RFC 9293 MUST-55). ICMPv6 has none.
    SourceQuench,
    /// An error about a datagram we sent, which it quotes: Destination
    /// Unreachable, Time Exceeded, Parameter Problem, and ICMPv6's Packet
    /// Too Big.
    Error,
    /// Anything else (echo replies, Neighbor Discovery, ...): not ours.
    Other,
}

/// A view of an ICMP or ICMPv6 message whose length and checksum have been
/// validated, with the addresses it came from and to.
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<'a> {
    buffer: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
}

impl<'a> IcmpPacket<'a> {
    /// Checks len >= 8 (`Truncated`), that `src` and `dst`, the IP header's
    /// addresses, are of one family (`Version`), and the checksum
    /// (`Checksum`): over the message, and for ICMPv6 over the
    /// pseudo-header of `src` and `dst` too.
    pub fn new_checked(buffer: &'a [u8], src: IpAddr, dst: IpAddr) -> Result<Self, Error> {
        if buffer.len() < field::DATA {
            return Err(Error::Truncated);
        }
        if src.is_ipv6() != dst.is_ipv6() {
            return Err(Error::Version);
        }
        if !sum(buffer, src, dst) != 0 {
            return Err(Error::Checksum);
        }
        Ok(IcmpPacket { buffer, src, dst })
    }

    /// ICMPv6 (over IPv6), else ICMP.
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The IP protocol number this message travels under.
    pub fn protocol(&self) -> u8 {
        if self.is_ipv6() {
            PROTO_ICMPV6
        } else {
            PROTO_ICMP
        }
    }

    /// The family's `TYPE_*` number (`icmpv4`, `icmpv6`).
    pub fn msg_type(&self) -> u8 {
        self.buffer[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer[field::CODE]
    }

    /// What the message is to us, by its family's type numbers.
    pub fn kind(&self) -> Kind {
        match (self.is_ipv6(), self.msg_type()) {
            (false, icmpv4::TYPE_ECHO_REQUEST) | (true, icmpv6::TYPE_ECHO_REQUEST) => Kind::EchoRequest,
            (false, icmpv4::TYPE_SOURCE_QUENCH) => Kind::SourceQuench,
            (false, icmpv4::TYPE_DEST_UNREACHABLE | icmpv4::TYPE_TIME_EXCEEDED | icmpv4::TYPE_PARAMETER_PROBLEM)
            | (
                true,
                icmpv6::TYPE_DEST_UNREACHABLE
                | icmpv6::TYPE_PACKET_TOO_BIG
                | icmpv6::TYPE_TIME_EXCEEDED
                | icmpv6::TYPE_PARAMETER_PROBLEM,
            ) => Kind::Error,
            _ => Kind::Other,
        }
    }

    /// Echo identifier: ping uses it to tell its own replies apart.
    pub fn ident(&self) -> u16 {
        be16(self.buffer, field::IDENT)
    }

    /// Echo sequence number: counts the pings.
    pub fn seq_no(&self) -> u16 {
        be16(self.buffer, field::SEQ_NO)
    }

    /// The MTU field of ICMPv6's Packet Too Big (32 bits) or of ICMP's
    /// Fragmentation Needed (the next-hop MTU, 16 bits; 0 from a router
    /// older than RFC 1191): what the link that refused our packet takes.
    pub fn mtu(&self) -> u32 {
        if self.is_ipv6() {
            be32(self.buffer, field::MTU_V6)
        } else {
            u32::from(be16(self.buffer, field::MTU_V4))
        }
    }

    /// Everything after the first 8 bytes: for echoes, the data to send back.
    pub fn data(&self) -> &'a [u8] {
        &self.buffer[field::DATA..]
    }

    /// For an error (`Kind::Error`), the quoted start of the datagram that
    /// caused it: its IP header and at least 8 bytes more, which hold the
    /// TCP ports and sequence number. Empty for other messages.
    pub fn quoted(&self) -> &'a [u8] {
        match self.kind() {
            Kind::Error => self.data(),
            _ => &[],
        }
    }
}

/// The checksum sum of `message` from `src` to `dst`: the message alone for
/// ICMP, with the IPv6 pseudo-header for ICMPv6.
fn sum(message: &[u8], src: IpAddr, dst: IpAddr) -> u16 {
    match src {
        IpAddr::V4(_) => checksum::data(message),
        IpAddr::V6(_) => checksum::combine(&[
            checksum::pseudo_header(src, dst, PROTO_ICMPV6, message.len()),
            checksum::data(message),
        ]),
    }
}

/// Writes into `buf` the echo reply to `request`: the family's reply type,
/// code 0, the same identifier, sequence number and data (RFC 792,
/// RFC 4443 §4.2), and a fresh checksum, for ICMPv6 with the reply's
/// pseudo-header (back from the request's destination to its source).
/// Returns its length, the request's length.
///
/// Panics if `buf` is shorter than the request.
pub fn emit_echo_reply(request: &IcmpPacket, buf: &mut [u8]) -> usize {
    let len = request.buffer.len();
    let reply = &mut buf[..len];
    reply.copy_from_slice(request.buffer);
    reply[field::TYPE] = if request.is_ipv6() { icmpv6::TYPE_ECHO_REPLY } else { icmpv4::TYPE_ECHO_REPLY };
    reply[field::CODE] = 0;
    put16(reply, field::CHECKSUM, 0);
    let sum = !sum(reply, request.dst, request.src);
    put16(reply, field::CHECKSUM, sum);
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A peer and us, in each family.
    fn families() -> [(IpAddr, IpAddr); 2] {
        [
            (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into()),
            ("fd00::1".parse::<Ipv6Addr>().unwrap().into(), "fd00::2".parse::<Ipv6Addr>().unwrap().into()),
        ]
    }

    /// A message of `msg_type` from `src` to `dst` with `rest` after its
    /// first 4 bytes, checksum filled in.
    fn message(src: IpAddr, dst: IpAddr, msg_type: u8, code: u8, rest: &[u8]) -> Vec<u8> {
        let mut m = vec![msg_type, code, 0, 0];
        m.extend_from_slice(rest);
        let s = !sum(&m, src, dst);
        put16(&mut m, field::CHECKSUM, s);
        m
    }

    fn echo_request_type(src: IpAddr) -> u8 {
        if src.is_ipv6() {
            icmpv6::TYPE_ECHO_REQUEST
        } else {
            icmpv4::TYPE_ECHO_REQUEST
        }
    }

    #[test]
    fn parses_an_echo_request() {
        for (src, dst) in families() {
            let m = message(src, dst, echo_request_type(src), 0, b"\x1f\x2e\x00\x01abcdefghijklmnopq");
            let p = IcmpPacket::new_checked(&m, src, dst).unwrap();
            assert_eq!((p.kind(), p.code(), p.ident(), p.seq_no()), (Kind::EchoRequest, 0, 0x1f2e, 1));
            assert_eq!(p.data(), b"abcdefghijklmnopq");
            assert!(p.quoted().is_empty());
            assert_eq!(p.protocol(), if src.is_ipv6() { PROTO_ICMPV6 } else { PROTO_ICMP });
        }
    }

    /// Type 8, code 0, ident 1, seq 1, no data: sum 0x0802, checksum 0xf7fd.
    #[test]
    fn known_icmp_checksum() {
        let [(src, dst), _] = families();
        assert!(IcmpPacket::new_checked(&[8, 0, 0xf7, 0xfd, 0, 1, 0, 1], src, dst).is_ok());
    }

    /// ICMPv6's checksum covers the addresses: the same bytes from another
    /// address fail; ICMP's does not.
    #[test]
    fn only_the_icmpv6_checksum_covers_the_addresses() {
        for (src, dst) in families() {
            let m = message(src, dst, echo_request_type(src), 0, &[0, 1, 0, 1]);
            let other = if src.is_ipv6() { "fd00::3".parse().unwrap() } else { Ipv4Addr::new(10, 0, 0, 3).into() };
            let from_other = IcmpPacket::new_checked(&m, other, dst);
            assert_eq!(
                from_other.map(|p| p.kind()),
                if src.is_ipv6() { Err(Error::Checksum) } else { Ok(Kind::EchoRequest) }
            );
        }
    }

    #[test]
    fn rejects_short_corrupt_and_mixed_family_messages() {
        let [(src4, dst4), (src6, dst6)] = families();
        for (src, dst) in families() {
            let mut m = message(src, dst, echo_request_type(src), 0, b"\x00\x01\x00\x01abc");
            assert_eq!(IcmpPacket::new_checked(&m[..7], src, dst).unwrap_err(), Error::Truncated);
            m[9] ^= 0x10;
            assert_eq!(IcmpPacket::new_checked(&m, src, dst).unwrap_err(), Error::Checksum);
        }
        let m = message(src4, dst4, icmpv4::TYPE_ECHO_REQUEST, 0, &[0; 4]);
        assert_eq!(IcmpPacket::new_checked(&m, src4, dst6).unwrap_err(), Error::Version);
        assert_eq!(IcmpPacket::new_checked(&m, src6, dst4).unwrap_err(), Error::Version);
    }

    #[test]
    fn echo_reply_mirrors_the_request_and_verifies_the_other_way() {
        for (peer, us) in families() {
            let m = message(peer, us, echo_request_type(peer), 0, b"\x00\x07\x00\x09odd");
            let request = IcmpPacket::new_checked(&m, peer, us).unwrap();
            let mut buf = [0u8; 64];
            let len = emit_echo_reply(&request, &mut buf);
            assert_eq!(len, m.len());
            let reply = IcmpPacket::new_checked(&buf[..len], us, peer).unwrap();
            let echo_reply = if peer.is_ipv6() { icmpv6::TYPE_ECHO_REPLY } else { icmpv4::TYPE_ECHO_REPLY };
            assert_eq!((reply.msg_type(), reply.code(), reply.kind()), (echo_reply, 0, Kind::Other));
            assert_eq!((reply.ident(), reply.seq_no(), reply.data()), (7, 9, &b"odd"[..]));
        }
    }

    /// Each family's errors quote the datagram and give the MTU field where
    /// they have one; the other family's type numbers mean nothing.
    #[test]
    fn errors_quote_and_give_the_mtu() {
        let [(src4, dst4), (src6, dst6)] = families();
        let m = message(src4, dst4, icmpv4::TYPE_DEST_UNREACHABLE, 4, &[0, 0, 0x05, 0xdc, 0x45, 0x00, 0x00, 0x28]);
        let p = IcmpPacket::new_checked(&m, src4, dst4).unwrap();
        assert_eq!((p.kind(), p.mtu(), p.quoted()), (Kind::Error, 1500, &[0x45, 0, 0, 0x28][..]));
        let mut rest = 1280u32.to_be_bytes().to_vec();
        rest.extend_from_slice(&[0x60; 48]);
        let m = message(src6, dst6, icmpv6::TYPE_PACKET_TOO_BIG, 0, &rest);
        let p = IcmpPacket::new_checked(&m, src6, dst6).unwrap();
        assert_eq!((p.kind(), p.mtu(), p.quoted()), (Kind::Error, 1280, &[0x60; 48][..]));
        let m = message(src4, dst4, icmpv4::TYPE_SOURCE_QUENCH, 0, &[0; 32]);
        assert_eq!(IcmpPacket::new_checked(&m, src4, dst4).unwrap().kind(), Kind::SourceQuench);
        // ICMP's Source Quench (4) is ICMPv6's Parameter Problem; ICMPv6's
        // Packet Too Big (2) is nothing in ICMP.
        let m = message(src6, dst6, icmpv4::TYPE_SOURCE_QUENCH, 0, &[0; 32]);
        assert_eq!(IcmpPacket::new_checked(&m, src6, dst6).unwrap().kind(), Kind::Error);
        let m = message(src4, dst4, icmpv6::TYPE_PACKET_TOO_BIG, 0, &[0; 32]);
        let p = IcmpPacket::new_checked(&m, src4, dst4).unwrap();
        assert_eq!((p.kind(), p.quoted()), (Kind::Other, &[][..]));
    }

    proptest! {
        #[test]
        fn new_checked_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), v6 in any::<bool>()) {
            let (src, dst) = families()[usize::from(v6)];
            if let Ok(p) = IcmpPacket::new_checked(&bytes, src, dst) {
                let _ = (p.kind(), p.code(), p.ident(), p.seq_no(), p.mtu(), p.data(), p.quoted());
                let mut buf = [0u8; 80];
                emit_echo_reply(&p, &mut buf);
            }
        }
    }
}
