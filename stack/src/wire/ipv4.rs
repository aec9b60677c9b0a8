//! IPv4 headers (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-------+-------+---------------+-------------------------------+
//! |Version|  IHL  |      TOS      |          Total Length         |
//! +-------+-------+---------------+-----+-------------------------+
//! |        Identification         |Flags|     Fragment Offset     |
//! +---------------+---------------+-----+-------------------------+
//! |      TTL      |   Protocol    |        Header Checksum        |
//! +---------------+---------------+-------------------------------+
//! |                        Source Address                         |
//! +---------------------------------------------------------------+
//! |                      Destination Address                      |
//! +---------------------------------------------------------------+
//! |               Options (IHL > 5), up to 40 bytes               |
//! +---------------------------------------------------------------+
//! ```
//!
//! IHL counts 32-bit words; Total Length counts bytes, header included.
//! Flags are (reserved, DF = don't fragment, MF = more fragments).

use super::{be16, be32, checksum, put16, Error};
use std::net::Ipv4Addr;

/// Protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// Protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// Byte offsets of the header fields (`ip::Quote` reads them too).
pub(super) mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A validated view of an IPv4 packet in a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Validates the header so the accessors can't fail. Checks, in order:
    /// len >= 20 (`Truncated`), version 4 (`Version`), IHL >= 5 and IHL*4 <= len
    /// (`HeaderLen`), IHL*4 <= total length <= len (`TotalLen`), header checksum
    /// (`Checksum`). Fragments are not rejected here: see `is_fragment`.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        if buffer.len() < Ipv4Repr::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let packet = Ipv4Packet { buffer };
        if buffer[field::VER_IHL] >> 4 != 4 {
            return Err(Error::Version);
        }
        let header_len = packet.header_len();
        if header_len < Ipv4Repr::HEADER_LEN || header_len > buffer.len() {
            return Err(Error::HeaderLen);
        }
        let total_len = packet.total_len();
        if total_len < header_len || total_len > buffer.len() {
            return Err(Error::TotalLen);
        }
        // A correct header, checksum field included, sums to all ones.
        if !checksum::data(&buffer[..header_len]) != 0 {
            return Err(Error::Checksum);
        }
        Ok(packet)
    }

    /// Header length in bytes, options included (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer[field::VER_IHL] & 0x0f) * 4
    }

    /// Length of header plus payload; the buffer may be longer (link padding).
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.buffer, field::TOTAL_LEN))
    }

    pub fn ttl(&self) -> u8 {
        self.buffer[field::TTL]
    }

    /// The TOS byte, now the Differentiated Services field: the DSCP (6
    /// bits, RFC 2474) and the ECN field (2 bits, RFC 3168).
    pub fn tos(&self) -> u8 {
        self.buffer[field::TOS]
    }

    /// Which protocol the payload carries: `PROTO_TCP`, `PROTO_ICMP`, ...
    pub fn protocol(&self) -> u8 {
        self.buffer[field::PROTOCOL]
    }

    /// DF: routers must drop rather than fragment this packet (RFC 791).
    pub fn dont_fragment(&self) -> bool {
        be16(self.buffer, field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// MF: more fragments of this datagram follow.
    pub fn more_fragments(&self) -> bool {
        be16(self.buffer, field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Where this fragment's data starts in the datagram, in units of 8 bytes.
    pub fn fragment_offset(&self) -> u16 {
        be16(self.buffer, field::FLAGS_FRAG) & FRAG_OFFSET_MASK
    }

    /// Whether this packet is only a piece of a datagram (MF set or offset
    /// non-zero). This stack does not reassemble, so callers drop these.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.fragment_offset() != 0
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        self.addr_at(field::SRC)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        self.addr_at(field::DST)
    }

    /// The bytes after the header (options skipped) up to the total length
    /// (link-layer padding cut off).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[self.header_len()..self.total_len()]
    }

    fn addr_at(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer, at))
    }
}

/// The fields of an outgoing IPv4 header. Everything else is fixed: no options,
/// no fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    /// Bytes following the header.
    pub payload_len: usize,
    pub ttl: u8,
    /// The TOS byte (Differentiated Services field), as the sender chose it.
    pub tos: u8,
}

impl Ipv4Repr {
    /// Length of a header without options, the only kind we send.
    pub const HEADER_LEN: usize = 20;
    /// The TTL Linux uses (RFC 1700 recommends 64).
    pub const DEFAULT_TTL: u8 = 64;

    /// Writes the 20-byte header into `buf[..20]`: version 4, IHL 5, TOS,
    /// total length, identification 0 (DF is set, so the ID is unused:
    /// RFC 6864 §4.1), flags DF, TTL, protocol and header checksum.
    ///
    /// Panics if `buf` is shorter than 20 bytes or the packet would exceed 65535 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let total_len =
            u16::try_from(Self::HEADER_LEN + self.payload_len).expect("an IPv4 packet holds at most 65535 bytes");
        let header = &mut buf[..Self::HEADER_LEN];
        header.fill(0);
        header[field::VER_IHL] = 0x45;
        header[field::TOS] = self.tos;
        put16(header, field::TOTAL_LEN, total_len);
        put16(header, field::FLAGS_FRAG, FLAG_DF);
        header[field::TTL] = self.ttl;
        header[field::PROTOCOL] = self.protocol;
        header[field::SRC..field::SRC + 4].copy_from_slice(&self.src_addr.octets());
        header[field::DST..field::DST + 4].copy_from_slice(&self.dst_addr.octets());
        let sum = !checksum::data(header);
        put16(header, field::CHECKSUM, sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A UDP packet's header from Wikipedia's "IPv4 header checksum" article:
    /// 192.168.0.1 -> 192.168.0.199, total length 0x73, checksum 0xb861.
    const KNOWN: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, //
        0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    /// The known header followed by the 0x73 - 20 payload bytes it announces.
    fn known_packet() -> Vec<u8> {
        let mut p = KNOWN.to_vec();
        p.resize(0x73, 0xaa);
        p
    }

    fn repr_of(p: &Ipv4Packet) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.payload().len(),
            ttl: p.ttl(),
            tos: p.tos(),
        }
    }

    /// Rewrites the header checksum after a test has changed the header.
    fn fix_checksum(header: &mut [u8]) {
        put16(header, field::CHECKSUM, 0);
        let sum = !checksum::data(header);
        put16(header, field::CHECKSUM, sum);
    }

    #[test]
    fn known_header_checksum() {
        let mut header = KNOWN;
        put16(&mut header, field::CHECKSUM, 0);
        assert_eq!(!checksum::data(&header), 0xb861);
    }

    #[test]
    fn parses_known_packet() {
        let bytes = known_packet();
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert_eq!((p.ttl(), p.protocol()), (64, 17));
        assert!(p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn payload_skips_options_and_cuts_padding() {
        // IHL 6: one word of options (four NOPs); then 4 payload bytes; then
        // 6 bytes of link padding beyond the total length.
        let mut bytes = vec![0x46, 0, 0, 28, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        bytes.extend_from_slice(&[1, 1, 1, 1, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0]);
        fix_checksum(&mut bytes[..24]);
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn fragments_are_reported_not_rejected() {
        let mut bytes = known_packet();
        put16(&mut bytes, field::FLAGS_FRAG, FLAG_MF);
        fix_checksum(&mut bytes[..20]);
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        assert!(p.more_fragments() && p.is_fragment() && !p.dont_fragment());

        put16(&mut bytes, field::FLAGS_FRAG, 185);
        fix_checksum(&mut bytes[..20]);
        let p = Ipv4Packet::new_checked(&bytes).unwrap();
        assert_eq!(p.fragment_offset(), 185);
        assert!(p.is_fragment() && !p.more_fragments());
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = known_packet();
        let check = |edit: &dyn Fn(&mut Vec<u8>), err| {
            let mut bytes = good.clone();
            edit(&mut bytes);
            if err != Error::Checksum && bytes.len() >= 20 {
                fix_checksum(&mut bytes[..20]);
            }
            assert_eq!(Ipv4Packet::new_checked(&bytes).unwrap_err(), err);
        };
        check(&|b| b.truncate(19), Error::Truncated);
        check(&|b| b[0] = 0x65, Error::Version);
        check(&|b| b[0] = 0x44, Error::HeaderLen);
        check(&|b| b.truncate(20), Error::TotalLen); // IHL says 20, total says 0x73
        check(&|b| put16(b, field::TOTAL_LEN, 19), Error::TotalLen);
        check(&|b| put16(b, field::TOTAL_LEN, 0x74), Error::TotalLen);
        check(&|b| b[field::TTL] = 63, Error::Checksum);
        // IHL of 15 words with a buffer of 40 bytes.
        check(
            &|b| {
                b[0] = 0x4f;
                b.truncate(40)
            },
            Error::HeaderLen,
        );
    }

    #[test]
    fn emit_writes_a_valid_header() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 9, 0, 1),
            dst_addr: Ipv4Addr::new(10, 9, 0, 2),
            protocol: PROTO_TCP,
            payload_len: 40,
            ttl: Ipv4Repr::DEFAULT_TTL,
            tos: 0,
        };
        let mut buf = [0xffu8; 60];
        repr.emit(&mut buf);
        assert_eq!(&buf[..12], &[0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, buf[10], buf[11]]);
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert_eq!(repr_of(&p), repr);
    }

    proptest! {
        #[test]
        fn new_checked_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Ipv4Packet::new_checked(&bytes) {
                let _ = (p.ttl(), p.protocol(), p.is_fragment(), p.dont_fragment());
                let _ = (p.src_addr(), p.dst_addr(), p.payload());
            }
        }

        #[test]
        fn emit_then_parse_round_trips(
            src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(),
            payload_len in 0usize..100, ttl in any::<u8>(), tos in any::<u8>(),
        ) {
            let repr = Ipv4Repr {
                src_addr: Ipv4Addr::from(src),
                dst_addr: Ipv4Addr::from(dst),
                protocol,
                payload_len,
                ttl,
                tos,
            };
            let mut buf = vec![0u8; Ipv4Repr::HEADER_LEN + payload_len];
            repr.emit(&mut buf);
            let p = Ipv4Packet::new_checked(&buf).unwrap();
            prop_assert_eq!(repr_of(&p), repr);
            prop_assert!(!p.is_fragment());
        }
    }
}
