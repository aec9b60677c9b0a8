//! IPv6 headers (RFC 8200).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-------+---------------+---------------------------------------+
//! |Version| Traffic Class |              Flow Label               |
//! +-------+---------------+-------+---------------+---------------+
//! |        Payload Length         |  Next Header  |   Hop Limit   |
//! +-------------------------------+---------------+---------------+
//! |                                                               |
//! +                                                               +
//! |                        Source Address                         |
//! +                          (16 bytes)                           +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +---------------------------------------------------------------+
//! |                                                               |
//! +                                                               +
//! |                      Destination Address                      |
//! +                          (16 bytes)                           +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +---------------------------------------------------------------+
//! ```
//!
//! Unlike IPv4's, the header has a fixed length and no checksum (TCP's and
//! ICMPv6's pseudo-header covers the addresses, RFC 8200 §8.1); Payload
//! Length counts the bytes after these 40. What IPv4 kept in options and
//! in the fragment fields comes as extension headers between this header
//! and the upper layer, each naming the next (§4):
//!
//! ```text
//!   IPv6 header      Hop-by-Hop       Destination      TCP header
//!   Next Header=0 -> Next Header=60 -> Next Header=6 -> ...
//! ```
//!
//! [`Ipv6Packet::upper_layer`] walks that chain to the protocol, bounded
//! (`MAX_EXT_HEADERS`) so that a chain a peer makes long costs little.

use super::{be16, put16, Error};
use std::net::Ipv6Addr;

/// Next Header value of ICMPv6 (RFC 4443).
pub const PROTO_ICMPV6: u8 = 58;

/// The extension headers (RFC 8200 §4) by their Next Header value.
pub mod ext {
    /// Hop-by-Hop Options, for every node on the path; only right after
    /// the IPv6 header (§4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing: the nodes the packet is to visit (§4.4).
    pub const ROUTING: u8 = 43;
    /// Fragment: a piece of a larger packet (§4.5).
    pub const FRAGMENT: u8 = 44;
    /// Destination Options, for the destination only (§4.6).
    pub const DESTINATION: u8 = 60;
    /// Nothing follows (§4.7).
    pub const NO_NEXT_HEADER: u8 = 59;
}

/// The most extension headers `upper_layer` skips before giving up
/// (RFC 8200 §4.1 sets no limit; RFC 7112 notes that a chain must not be
/// used to make a node work without end). A real packet has a few at most.
pub const MAX_EXT_HEADERS: usize = 8;

/// Byte offsets of the header fields (`ip::Quote` reads them too).
pub(super) mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// A validated view of an IPv6 packet in a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Validates the header so the accessors can't fail. Checks, in order:
    /// len >= 40 (`Truncated`), version 6 (`Version`), 40 + payload
    /// length <= len (`PayloadLen`). A longer buffer is cut to the payload
    /// length (link padding), as IPv4's total length cuts it. The extension
    /// headers are checked by `upper_layer`.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        if buffer.len() < Ipv6Repr::HEADER_LEN {
            return Err(Error::Truncated);
        }
        if buffer[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(Error::Version);
        }
        let end = Ipv6Repr::HEADER_LEN + usize::from(be16(buffer, field::PAYLOAD_LEN));
        let buffer = buffer.get(..end).ok_or(Error::PayloadLen)?;
        Ok(Ipv6Packet { buffer })
    }

    /// The Traffic Class byte: the DSCP (6 bits, RFC 2474) and the ECN
    /// field (2 bits, RFC 3168), as IPv4's TOS byte.
    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer, field::VER_TC_FLOW) >> 4) as u8
    }

    /// Bytes after the 40-byte header, extension headers included.
    pub fn payload_len(&self) -> usize {
        self.buffer.len() - Ipv6Repr::HEADER_LEN
    }

    /// What follows the header: an extension header (`ext`) or the upper
    /// layer's protocol.
    pub fn next_header(&self) -> u8 {
        self.buffer[field::NEXT_HEADER]
    }

    /// IPv4's TTL under its true name: routers take one off, and drop the
    /// packet at zero.
    pub fn hop_limit(&self) -> u8 {
        self.buffer[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer, field::SRC)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer, field::DST)
    }

    /// The bytes after the 40-byte header, up to the payload length.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[Ipv6Repr::HEADER_LEN..]
    }

    /// The upper layer's protocol and bytes, past the extension headers
    /// (RFC 8200 §4). Skips Hop-by-Hop (first only, §4.1), Destination
    /// Options and Routing headers, at most `MAX_EXT_HEADERS` of them.
    /// Errors: `Fragment` for a Fragment header (this stack does not
    /// reassemble, and sends none); `ExtHeaders` for a chain past the bound,
    /// a Hop-by-Hop header elsewhere than first, an option we must not
    /// skip (§4.2), or a Routing header with segments left, for which we
    /// would be a router (§4.4); `Truncated` for a header cut short.
    pub fn upper_layer(&self) -> Result<(u8, &'a [u8]), Error> {
        let mut next = self.next_header();
        let mut rest = self.payload();
        for skipped in 0..=MAX_EXT_HEADERS {
            let header_len = match next {
                ext::HOP_BY_HOP | ext::DESTINATION | ext::ROUTING => {
                    // Next Header, then Hdr Ext Len in 8-byte units past the first 8.
                    let [_, len, ..] = *rest else { return Err(Error::Truncated) };
                    (usize::from(len) + 1) * 8
                }
                ext::FRAGMENT => return Err(Error::Fragment),
                protocol => return Ok((protocol, rest)),
            };
            if skipped == MAX_EXT_HEADERS || (next == ext::HOP_BY_HOP && skipped > 0) {
                return Err(Error::ExtHeaders);
            }
            let header = rest.get(..header_len).ok_or(Error::Truncated)?;
            let must_process = match next {
                ext::ROUTING => header[3] != 0, // Segments Left
                _ => !options_skippable(&header[2..])?,
            };
            if must_process {
                return Err(Error::ExtHeaders);
            }
            next = header[0];
            rest = &rest[header_len..];
        }
        unreachable!("the loop returns by its last turn")
    }
}

/// Whether every option of a Hop-by-Hop or Destination Options header may
/// be skipped by a node that does not know it (RFC 8200 §4.2): the two
/// high bits of an option's type say what to do with an unknown one, 00
/// skip it, anything else discard the packet. We know only the padding
/// options, Pad1 (a zero byte) and PadN. `Truncated` if an option runs
/// past the header.
fn options_skippable(mut options: &[u8]) -> Result<bool, Error> {
    const PAD1: u8 = 0;
    const PADN: u8 = 1;
    while let [kind, rest @ ..] = options {
        if *kind == PAD1 {
            options = rest;
            continue;
        }
        let [len, rest @ ..] = rest else { return Err(Error::Truncated) };
        if *kind != PADN && kind >> 6 != 0 {
            return Ok(false);
        }
        options = rest.get(usize::from(*len)..).ok_or(Error::Truncated)?;
    }
    Ok(true)
}

fn addr_at(buffer: &[u8], at: usize) -> Ipv6Addr {
    let octets: [u8; 16] = buffer[at..at + 16].try_into().expect("sixteen bytes");
    Ipv6Addr::from(octets)
}

/// The fields of an outgoing IPv6 header. No extension headers, flow
/// label 0 (RFC 6437 §2 allows it: "not labelled").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    /// The upper layer's protocol, as there is no extension header.
    pub next_header: u8,
    /// Bytes following the header.
    pub payload_len: usize,
    pub hop_limit: u8,
    /// The Traffic Class byte, as the sender chose it.
    pub traffic_class: u8,
}

impl Ipv6Repr {
    /// The fixed header's length.
    pub const HEADER_LEN: usize = 40;
    /// The hop limit Linux uses.
    pub const DEFAULT_HOP_LIMIT: u8 = 64;

    /// Writes the 40-byte header into `buf[..40]`.
    ///
    /// Panics if `buf` is shorter than 40 bytes or the payload exceeds
    /// 65535 bytes (a jumbogram's, RFC 2675, which we never send).
    pub fn emit(&self, buf: &mut [u8]) {
        let payload_len = u16::try_from(self.payload_len).expect("an IPv6 payload holds at most 65535 bytes");
        let header = &mut buf[..Self::HEADER_LEN];
        header[..4].copy_from_slice(&(6 << 28 | u32::from(self.traffic_class) << 20).to_be_bytes());
        put16(header, field::PAYLOAD_LEN, payload_len);
        header[field::NEXT_HEADER] = self.next_header;
        header[field::HOP_LIMIT] = self.hop_limit;
        header[field::SRC..field::SRC + 16].copy_from_slice(&self.src_addr.octets());
        header[field::DST..field::DST + 16].copy_from_slice(&self.dst_addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::PROTO_TCP;
    use proptest::prelude::*;

    /// The header of a 40-byte TCP segment from fd00::1 to fd00::2, laid
    /// out by hand from RFC 8200 §3: version 6, traffic class 0, flow label
    /// 0x00e4e, payload length 40, next header 6 (TCP), hop limit 64.
    fn known_header() -> Vec<u8> {
        let mut h = vec![0x60, 0x00, 0x0e, 0x4e, 0x00, 0x28, 0x06, 0x40];
        h.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        h.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        h
    }

    /// The known header with `payload` after it, the payload length and
    /// Next Header set to match.
    fn packet(next_header: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = known_header();
        put16(&mut p, field::PAYLOAD_LEN, payload.len() as u16);
        p[field::NEXT_HEADER] = next_header;
        p.extend_from_slice(payload);
        p
    }

    /// An extension header of `len` bytes (a multiple of 8), naming `next`,
    /// its options padded with PadN.
    fn ext_header(next: u8, len: usize) -> Vec<u8> {
        let mut h = vec![next, (len / 8 - 1) as u8, 1, (len - 4) as u8];
        h.resize(len, 0);
        h
    }

    fn repr_of(p: &Ipv6Packet) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
        }
    }

    #[test]
    fn parses_known_header() {
        let mut bytes = known_header();
        bytes.resize(80, 0xaa);
        let p = Ipv6Packet::new_checked(&bytes).unwrap();
        assert_eq!((p.traffic_class(), p.payload_len(), p.next_header(), p.hop_limit()), (0, 40, PROTO_TCP, 64));
        assert_eq!((p.src_addr(), p.dst_addr()), ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap()));
        assert_eq!(p.upper_layer().unwrap(), (PROTO_TCP, &bytes[40..]));
    }

    #[test]
    fn traffic_class_straddles_the_first_two_bytes() {
        let mut bytes = packet(PROTO_TCP, &[]);
        bytes[0] = 0x6a;
        bytes[1] = 0xbf;
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap().traffic_class(), 0xab);
    }

    #[test]
    fn payload_length_trims_padding_and_rejects_a_short_buffer() {
        let mut bytes = packet(PROTO_TCP, &[1, 2, 3, 4]);
        bytes.extend_from_slice(&[0; 6]); // link padding
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap().payload(), &[1, 2, 3, 4]);
        put16(&mut bytes, field::PAYLOAD_LEN, 11);
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap_err(), Error::PayloadLen);
        assert_eq!(Ipv6Packet::new_checked(&bytes[..39]).unwrap_err(), Error::Truncated);
        bytes[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap_err(), Error::Version);
    }

    #[test]
    fn upper_layer_skips_extension_headers() {
        let mut payload = ext_header(ext::DESTINATION, 8);
        payload.extend(ext_header(ext::ROUTING, 16));
        payload.extend([PROTO_TCP, 0, 0, 0, 0, 0, 0, 0]); // Routing, type 0, segments left 0
        payload.extend_from_slice(b"segment");
        let bytes = packet(ext::HOP_BY_HOP, &payload);
        let p = Ipv6Packet::new_checked(&bytes).unwrap();
        assert_eq!(p.upper_layer().unwrap(), (PROTO_TCP, &b"segment"[..]));
    }

    #[test]
    fn upper_layer_bounds_the_chain() {
        let chain = |n: usize| {
            let mut payload: Vec<u8> = (0..n).flat_map(|_| ext_header(ext::DESTINATION, 8)).collect();
            let last = payload.len() - 8;
            payload[last] = PROTO_TCP;
            payload.extend_from_slice(b"tcp");
            packet(ext::DESTINATION, &payload)
        };
        let bytes = chain(MAX_EXT_HEADERS);
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap().upper_layer().unwrap(), (PROTO_TCP, &b"tcp"[..]));
        let bytes = chain(MAX_EXT_HEADERS + 1);
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap().upper_layer().unwrap_err(), Error::ExtHeaders);
    }

    #[test]
    fn upper_layer_refuses_what_it_cannot_skip() {
        let refuse = |next_header: u8, payload: &[u8], err| {
            let bytes = packet(next_header, payload);
            assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap().upper_layer().unwrap_err(), err);
        };
        // A fragment, whatever follows.
        refuse(ext::FRAGMENT, &[PROTO_TCP, 0, 0, 1, 0, 0, 0, 7], Error::Fragment);
        refuse(ext::DESTINATION, &[ext::FRAGMENT, 0, 1, 4, 0, 0, 0, 0], Error::Fragment);
        // Hop-by-Hop after another header.
        refuse(
            ext::DESTINATION,
            &[ext::HOP_BY_HOP, 0, 1, 4, 0, 0, 0, 0, PROTO_TCP, 0, 1, 4, 0, 0, 0, 0],
            Error::ExtHeaders,
        );
        // An unknown option whose type says "discard" (0b01...).
        refuse(ext::DESTINATION, &[PROTO_TCP, 0, 0x42, 2, 0, 0, 1, 0], Error::ExtHeaders);
        // A Routing header with segments left.
        refuse(ext::ROUTING, &[PROTO_TCP, 0, 4, 1, 0, 0, 0, 0], Error::ExtHeaders);
        // Cut short: no length byte; a length past the payload; an option past the header.
        refuse(ext::HOP_BY_HOP, &[PROTO_TCP], Error::Truncated);
        refuse(ext::HOP_BY_HOP, &[PROTO_TCP, 1, 1, 4, 0, 0, 0, 0], Error::Truncated);
        refuse(ext::HOP_BY_HOP, &[PROTO_TCP, 0, 1, 5, 0, 0, 0, 0], Error::Truncated);
    }

    #[test]
    fn unknown_options_of_the_skip_kind_are_skipped() {
        // Pad1, then an unknown option 0x3e (high bits 00) of 3 bytes.
        let bytes = packet(ext::HOP_BY_HOP, &[PROTO_TCP, 0, 0, 0x3e, 3, 9, 9, 9]);
        assert_eq!(Ipv6Packet::new_checked(&bytes).unwrap().upper_layer().unwrap(), (PROTO_TCP, &[][..]));
    }

    #[test]
    fn emit_writes_the_known_header() {
        let repr = Ipv6Repr {
            src_addr: "fd00::1".parse().unwrap(),
            dst_addr: "fd00::2".parse().unwrap(),
            next_header: PROTO_TCP,
            payload_len: 40,
            hop_limit: Ipv6Repr::DEFAULT_HOP_LIMIT,
            traffic_class: 0,
        };
        let mut buf = [0xffu8; 40];
        repr.emit(&mut buf);
        let mut expected = known_header();
        expected[1..4].fill(0); // we send flow label 0
        assert_eq!(&buf[..], &expected[..]);
    }

    proptest! {
        #[test]
        fn new_checked_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(p) = Ipv6Packet::new_checked(&bytes) {
                let _ = (p.traffic_class(), p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
                let _ = (p.payload(), p.upper_layer());
            }
        }

        /// Any chain of extension headers, with any bytes in them: parsing
        /// never panics, and never reads past the payload.
        #[test]
        fn upper_layer_never_panics(
            next in prop_oneof![Just(0u8), Just(43), Just(44), Just(60), any::<u8>()],
            payload in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(43), Just(44), Just(60), any::<u8>()], 0..200),
        ) {
            let bytes = packet(next, &payload);
            let p = Ipv6Packet::new_checked(&bytes).unwrap();
            if let Ok((_, upper)) = p.upper_layer() {
                prop_assert!(upper.len() <= payload.len());
            }
        }

        #[test]
        fn emit_then_parse_round_trips(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), next_header in any::<u8>(),
            payload_len in 0usize..100, hop_limit in any::<u8>(), traffic_class in any::<u8>(),
        ) {
            let repr = Ipv6Repr {
                src_addr: Ipv6Addr::from(src),
                dst_addr: Ipv6Addr::from(dst),
                next_header,
                payload_len,
                hop_limit,
                traffic_class,
            };
            let mut buf = vec![0u8; Ipv6Repr::HEADER_LEN + payload_len];
            repr.emit(&mut buf);
            let p = Ipv6Packet::new_checked(&buf).unwrap();
            prop_assert_eq!(repr_of(&p), repr);
        }
    }
}
