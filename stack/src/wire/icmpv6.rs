//! ICMPv6 (RFC 4443): enough to answer `ping -6` and to read the errors
//! routers send back about our packets.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+-------------------------------+
//! |     Type      |     Code      |           Checksum            |
//! +---------------+---------------+-------------------------------+
//! | Identifier, Sequence (echo) / unused, MTU or pointer (errors) |
//! +---------------------------------------------------------------+
//! |   Echo data / as much of the invoking packet as fits in 1280  |
//! +---------------------------------------------------------------+
//! ```
//!
//! The layout is ICMP's (`icmpv4.rs`) with new type numbers: errors below
//! 128, informational messages from 128 (§2.1). Unlike ICMP's, the
//! checksum covers an IPv6 pseudo-header too (§2.3, RFC 8200 §8.1), as
//! TCP's does, so a message is checked against the addresses it came with.
//! An error quotes the start of the packet it is about, which `ip::Quote`
//! reads.

use super::ipv6::PROTO_ICMPV6;
use super::{be16, be32, checksum, put16, Error};
use std::net::Ipv6Addr;

/// Destination Unreachable (§3.1), its reason in the code: see `unreachable`.
pub const TYPE_DEST_UNREACHABLE: u8 = 1;
/// Packet Too Big (§3.2): a link on the way takes no packet this large;
/// the MTU field says what it takes. IPv6 routers never fragment.
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
/// Time Exceeded (§3.3): the hop limit ran out in transit.
pub const TYPE_TIME_EXCEEDED: u8 = 3;
/// Parameter Problem (§3.4): a header field was bad.
pub const TYPE_PARAMETER_PROBLEM: u8 = 4;
/// Echo Request (§4.1), a ping.
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// Echo Reply (§4.2), the answer to a ping.
pub const TYPE_ECHO_REPLY: u8 = 129;

/// The codes of Destination Unreachable (RFC 4443 §3.1).
pub mod unreachable {
    /// No route to the destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with the destination administratively prohibited.
    pub const PROHIBITED: u8 = 1;
    /// Beyond the scope of the source address (a link-local source, say).
    pub const BEYOND_SCOPE: u8 = 2;
    /// The address could not be reached (no answer to Neighbor Discovery).
    pub const ADDRESS: u8 = 3;
    /// Nothing listens on the port: the ICMPv6 form of an RST.
    pub const PORT: u8 = 4;
    /// The source address failed an ingress/egress policy.
    pub const POLICY: u8 = 5;
    /// A route to the destination rejects it.
    pub const REJECT_ROUTE: u8 = 6;
}

/// Byte offsets of the fields.
mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    pub const MTU: usize = 4;
    pub const DATA: usize = 8;
}

/// A view of an ICMPv6 message whose length and checksum have been
/// validated.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv6Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Icmpv6Packet<'a> {
    /// Checks len >= 8 (`Truncated`) and the checksum over the pseudo-header
    /// of `src` and `dst`, the IPv6 header's addresses, and the whole
    /// message (`Checksum`).
    pub fn new_checked(buffer: &'a [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self, Error> {
        if buffer.len() < field::DATA {
            return Err(Error::Truncated);
        }
        let pseudo = checksum::pseudo_header(src.into(), dst.into(), PROTO_ICMPV6, buffer.len());
        if !checksum::combine(&[pseudo, checksum::data(buffer)]) != 0 {
            return Err(Error::Checksum);
        }
        Ok(Icmpv6Packet { buffer })
    }

    /// One of the `TYPE_*` constants (or another type, to be ignored).
    pub fn msg_type(&self) -> u8 {
        self.buffer[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer[field::CODE]
    }

    /// Echo identifier: ping uses it to tell its own replies apart.
    pub fn ident(&self) -> u16 {
        be16(self.buffer, field::IDENT)
    }

    /// Echo sequence number: counts the pings.
    pub fn seq_no(&self) -> u16 {
        be16(self.buffer, field::SEQ_NO)
    }

    /// For Packet Too Big, the MTU of the link that refused the packet.
    pub fn mtu(&self) -> u32 {
        be32(self.buffer, field::MTU)
    }

    /// Everything after the first 8 bytes: for echoes, the data to send back.
    pub fn data(&self) -> &'a [u8] {
        &self.buffer[field::DATA..]
    }

    /// For the error messages (types below 128 that we know), the quoted
    /// start of the packet that caused the error. Empty for other types.
    pub fn quoted(&self) -> &'a [u8] {
        match self.msg_type() {
            TYPE_DEST_UNREACHABLE | TYPE_PACKET_TOO_BIG | TYPE_TIME_EXCEEDED | TYPE_PARAMETER_PROBLEM => self.data(),
            _ => &[],
        }
    }
}

/// Writes into `buf` the Echo Reply to `request`, which came from `peer`
/// to `us`: type 129, code 0, the same identifier, sequence number and data
/// (§4.2), and the checksum with the reply's pseudo-header (from `us` to
/// `peer`). Returns its length, the request's length.
///
/// Panics if `buf` is shorter than the request.
pub fn emit_echo_reply(request: &Icmpv6Packet, us: Ipv6Addr, peer: Ipv6Addr, buf: &mut [u8]) -> usize {
    let len = request.buffer.len();
    let reply = &mut buf[..len];
    reply.copy_from_slice(request.buffer);
    reply[field::TYPE] = TYPE_ECHO_REPLY;
    reply[field::CODE] = 0;
    put16(reply, field::CHECKSUM, 0);
    let pseudo = checksum::pseudo_header(us.into(), peer.into(), PROTO_ICMPV6, len);
    let sum = !checksum::combine(&[pseudo, checksum::data(reply)]);
    put16(reply, field::CHECKSUM, sum);
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap())
    }

    /// A message of `msg_type` from fd00::1 to fd00::2 with `rest` after
    /// its first 4 bytes, checksum filled in.
    fn message(msg_type: u8, code: u8, rest: &[u8]) -> Vec<u8> {
        let (src, dst) = addrs();
        let mut m = vec![msg_type, code, 0, 0];
        m.extend_from_slice(rest);
        let pseudo = checksum::pseudo_header(src.into(), dst.into(), PROTO_ICMPV6, m.len());
        let sum = !checksum::combine(&[pseudo, checksum::data(&m)]);
        put16(&mut m, field::CHECKSUM, sum);
        m
    }

    #[test]
    fn parses_an_echo_request() {
        let (src, dst) = addrs();
        let m = message(TYPE_ECHO_REQUEST, 0, b"\x1f\x2e\x00\x01abcdefghijklmnopq");
        let p = Icmpv6Packet::new_checked(&m, src, dst).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.ident(), p.seq_no()), (TYPE_ECHO_REQUEST, 0, 0x1f2e, 1));
        assert_eq!(p.data(), b"abcdefghijklmnopq");
        assert!(p.quoted().is_empty());
    }

    /// The pseudo-header is in the checksum: the same bytes from another
    /// address fail, unlike ICMP's.
    #[test]
    fn the_checksum_covers_the_addresses() {
        let (src, dst) = addrs();
        let m = message(TYPE_ECHO_REQUEST, 0, &[0, 1, 0, 1]);
        assert!(Icmpv6Packet::new_checked(&m, src, dst).is_ok());
        let other: Ipv6Addr = "fd00::3".parse().unwrap();
        assert_eq!(Icmpv6Packet::new_checked(&m, other, dst).unwrap_err(), Error::Checksum);
        assert_eq!(Icmpv6Packet::new_checked(&m[..7], src, dst).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn echo_reply_mirrors_the_request_and_verifies_the_other_way() {
        let (peer, us) = addrs();
        let m = message(TYPE_ECHO_REQUEST, 0, b"\x00\x07\x00\x09odd");
        let request = Icmpv6Packet::new_checked(&m, peer, us).unwrap();
        let mut buf = [0u8; 64];
        let len = emit_echo_reply(&request, us, peer, &mut buf);
        let reply = Icmpv6Packet::new_checked(&buf[..len], us, peer).unwrap();
        assert_eq!((reply.msg_type(), reply.code()), (TYPE_ECHO_REPLY, 0));
        assert_eq!((reply.ident(), reply.seq_no(), reply.data()), (7, 9, &b"odd"[..]));
    }

    #[test]
    fn errors_quote_and_packet_too_big_gives_the_mtu() {
        let (src, dst) = addrs();
        let mut rest = 1280u32.to_be_bytes().to_vec();
        rest.extend_from_slice(&[0x60; 48]);
        let m = message(TYPE_PACKET_TOO_BIG, 0, &rest);
        let p = Icmpv6Packet::new_checked(&m, src, dst).unwrap();
        assert_eq!((p.mtu(), p.quoted()), (1280, &[0x60; 48][..]));
    }

    proptest! {
        #[test]
        fn new_checked_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let (src, dst) = addrs();
            if let Ok(p) = Icmpv6Packet::new_checked(&bytes, src, dst) {
                let _ = (p.msg_type(), p.code(), p.ident(), p.seq_no(), p.mtu(), p.data(), p.quoted());
            }
        }
    }
}
