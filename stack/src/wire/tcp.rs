//! TCP headers and options (RFC 9293 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-------------------------------+-------------------------------+
//! |          Source Port          |       Destination Port        |
//! +-------------------------------+-------------------------------+
//! |                        Sequence Number                        |
//! +---------------------------------------------------------------+
//! |                    Acknowledgment Number                      |
//! +-------+-------+-+-+-+-+-+-+-+-+-------------------------------+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-------+-------+-+-+-+-+-+-+-+-+-------------------------------+
//! |           Checksum            |         Urgent Pointer        |
//! +-------------------------------+-------------------------------+
//! |               Options (Data Offset > 5), up to 40 bytes       |
//! +---------------------------------------------------------------+
//! |                             Data                              |
//! +---------------------------------------------------------------+
//! ```
//!
//! Data Offset counts 32-bit words of header, options included. The checksum
//! covers a pseudo-header (addresses, protocol, length) plus the whole segment.

use super::checksum::TxChecksum;
use super::ipv4::PROTO_TCP;
use super::seq::SeqNum;
use super::{be16, be32, checksum, put16, put32, Error};
use core::fmt;
use std::net::IpAddr;

/// Byte offsets of the header fields (`ip::Quote` reads the first three).
pub(super) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

bitflags::bitflags! {
    /// TCP control bits (RFC 9293 §3.1; ECE and CWR from RFC 3168).
    #[derive(Copy, Clone, PartialEq, Eq, Default, Hash)]
    pub struct Flags: u8 {
        /// No more data from sender.
        const FIN = 0x01;
        /// Synchronize sequence numbers.
        const SYN = 0x02;
        /// Reset the connection.
        const RST = 0x04;
        /// Push function.
        const PSH = 0x08;
        /// Acknowledgment field is significant.
        const ACK = 0x10;
        /// Urgent pointer field is significant.
        const URG = 0x20;
        /// ECN-Echo.
        const ECE = 0x40;
        /// Congestion Window Reduced.
        const CWR = 0x80;
    }
}

/// tcpdump style: letters F S R P U E W in that order, then "." for ACK;
/// "S." is a SYN+ACK, "." a bare ACK, "none" no flag at all.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let letters = [
            (Flags::FIN, 'F'),
            (Flags::SYN, 'S'),
            (Flags::RST, 'R'),
            (Flags::PSH, 'P'),
            (Flags::URG, 'U'),
            (Flags::ECE, 'E'),
            (Flags::CWR, 'W'),
            (Flags::ACK, '.'),
        ];
        for (flag, letter) in letters {
            if self.contains(flag) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A view of a TCP segment (header, options, payload) whose header lengths
/// have been validated.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    buffer: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Checks len >= 20 (`Truncated`), then data offset >= 5 words and
    /// data offset * 4 <= len (`DataOffset`). The checksum is left to
    /// `verify_checksum`, since some links have already verified it.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        if buffer.len() < TcpRepr::MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let segment = TcpSegment { buffer };
        let header_len = segment.header_len();
        if header_len < TcpRepr::MIN_HEADER_LEN || header_len > buffer.len() {
            return Err(Error::DataOffset);
        }
        Ok(segment)
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer, field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer, field::DST_PORT)
    }

    pub fn seq_number(&self) -> SeqNum {
        SeqNum(be32(self.buffer, field::SEQ))
    }

    /// Meaningful only when the ACK flag is set.
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(be32(self.buffer, field::ACK))
    }

    pub fn flags(&self) -> Flags {
        Flags::from_bits_retain(self.buffer[field::FLAGS])
    }

    /// The advertised receive window, before window scaling (RFC 7323).
    pub fn window_len(&self) -> u16 {
        be16(self.buffer, field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer, field::CHECKSUM)
    }

    /// Meaningful only when the URG flag is set.
    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer, field::URGENT)
    }

    /// Header length in bytes, options included (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer[field::DATA_OFFSET] >> 4) * 4
    }

    /// The raw option bytes, for `TcpOptions::parse`.
    pub fn options(&self) -> &'a [u8] {
        &self.buffer[TcpRepr::MIN_HEADER_LEN..self.header_len()]
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[self.header_len()..]
    }

    /// Whether the checksum over the pseudo-header and the whole segment is valid.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, self.buffer.len());
        !checksum::combine(&[pseudo, checksum::data(self.buffer)]) == 0
    }
}

/// The timestamps option (RFC 7323 §3): the sender's clock and the echo of
/// the peer's latest one, for RTT measurement and PAWS.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Timestamps {
    pub tsval: u32,
    pub tsecr: u32,
}

/// Option kinds (RFC 9293 §3.1, RFC 7323, RFC 2018).
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Options never exceed 40 bytes: data offset is at most 15 words, 5 of them fixed.
const MAX_OPTIONS_LEN: usize = 40;

/// Options of one segment. RFC 9293 §3.1: EOL (0), NOP (1), MSS (2, len 4);
/// window scale (3, len 3) and timestamps (8, len 10) from RFC 7323;
/// SACK-permitted (4, len 2) and SACK (5, len 2+8n, n 1..=4) from RFC 2018.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Largest segment the sender can receive; only in SYNs.
    pub mss: Option<u16>,
    /// Window shift count as sent; RFC 7323 §2.3 says to treat > 14 as 14,
    /// which is the TCP layer's business, not the parser's.
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// Blocks of data received above the cumulative ACK, as (left, right) edges.
    pub sack_blocks: [Option<(SeqNum, SeqNum)>; 4],
    pub timestamps: Option<Timestamps>,
}

impl TcpOptions {
    /// Parses options in any order and at any alignment. Unknown kinds are
    /// skipped by their length. A length byte missing, < 2, or running past the
    /// end, or a known kind with the wrong length gives `Err(OptionLen)`.
    /// EOL ends parsing. Never panics, whatever the bytes.
    pub fn parse(bytes: &[u8]) -> Result<TcpOptions, Error> {
        // Once timestamps are agreed, nearly every segment carries exactly
        // NOP, NOP, timestamps (the layout of RFC 7323 Appendix A, which
        // `emit` and Linux use): recognised whole, as Linux's header
        // prediction does, before the general walk below.
        if bytes.len() == 12 && bytes[..4] == [kind::NOP, kind::NOP, kind::TIMESTAMPS, 10] {
            let timestamps = Timestamps { tsval: be32(bytes, 4), tsecr: be32(bytes, 8) };
            return Ok(TcpOptions { timestamps: Some(timestamps), ..TcpOptions::default() });
        }
        let mut options = TcpOptions::default();
        let mut rest = bytes;
        while let Some((&kind, after_kind)) = rest.split_first() {
            match kind {
                kind::EOL => break,
                kind::NOP => {
                    rest = after_kind;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*after_kind.first().ok_or(Error::OptionLen)?);
            if len < 2 || len > rest.len() {
                return Err(Error::OptionLen);
            }
            let (option, after) = rest.split_at(len);
            let value = &option[2..];
            match (kind, len) {
                (kind::MSS, 4) => options.mss = Some(be16(value, 0)),
                (kind::WINDOW_SCALE, 3) => options.window_scale = Some(value[0]),
                (kind::SACK_PERMITTED, 2) => options.sack_permitted = true,
                (kind::SACK, 10 | 18 | 26 | 34) => {
                    let mut blocks = [None; 4];
                    for (slot, edges) in blocks.iter_mut().zip(value.chunks_exact(8)) {
                        *slot = Some((SeqNum(be32(edges, 0)), SeqNum(be32(edges, 4))));
                    }
                    options.sack_blocks = blocks;
                }
                (kind::TIMESTAMPS, 10) => {
                    options.timestamps = Some(Timestamps { tsval: be32(value, 0), tsecr: be32(value, 4) })
                }
                // A known kind with the wrong length.
                (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::SACK | kind::TIMESTAMPS, _) => {
                    return Err(Error::OptionLen)
                }
                _ => {} // unknown kind: skipped
            }
            rest = after;
        }
        Ok(options)
    }

    /// Bytes `emit` writes: always a multiple of 4, at most 40.
    pub fn buffer_len(&self) -> usize {
        self.write(Writer { buf: None, at: 0 })
    }

    /// Writes the options and returns `buffer_len()`. Like Linux, every option
    /// is padded in front with NOPs so its 32-bit fields fall on 4-byte
    /// boundaries, which also makes the total a multiple of 4:
    ///
    /// ```text
    /// MSS:           | 2 4 mss mss |
    /// window scale:  | 1 3 3 shift |
    /// SACK-permitted | 1 1 4 2 |      or, with timestamps, | 4 2 8 10 | tsval | tsecr |
    /// timestamps:    | 1 1 8 10 | tsval | tsecr |
    /// SACK:          | 1 1 5 2+8n | left | right | ... as many blocks as fit in 40 bytes
    /// ```
    ///
    /// Panics if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        self.write(Writer { buf: Some(buf), at: 0 })
    }

    /// The layout `emit` describes, written or only measured. Inlined into
    /// both, so that measuring compiles to a little arithmetic.
    #[inline(always)]
    fn write(&self, mut w: Writer) -> usize {
        use kind::*;
        if let Some(mss) = self.mss {
            w.put(&[MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        if let Some(shift) = self.window_scale {
            w.put(&[NOP, WINDOW_SCALE, 3, shift]);
        }
        match (self.sack_permitted, self.timestamps.is_some()) {
            (true, true) => w.put(&[SACK_PERMITTED, 2]), // fills the timestamps' NOPs
            (true, false) => w.put(&[NOP, NOP, SACK_PERMITTED, 2]),
            (false, true) => w.put(&[NOP, NOP]),
            (false, false) => {}
        }
        if let Some(ts) = self.timestamps {
            w.put(&[TIMESTAMPS, 10]);
            w.put(&ts.tsval.to_be_bytes());
            w.put(&ts.tsecr.to_be_bytes());
        }
        let room = (MAX_OPTIONS_LEN - w.at).saturating_sub(4) / 8;
        let count = self.sack_blocks.iter().filter(|block| block.is_some()).count().min(room);
        if count > 0 {
            w.put(&[NOP, NOP, SACK, (2 + 8 * count) as u8]);
            for (left, right) in self.sack_blocks.iter().flatten().take(count) {
                w.put(&left.0.to_be_bytes());
                w.put(&right.0.to_be_bytes());
            }
        }
        w.at
    }
}

/// Appends bytes to a buffer, remembering where it is; without a buffer it
/// only counts them.
struct Writer<'b> {
    buf: Option<&'b mut [u8]>,
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(buf) = &mut self.buf {
            buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

/// The header fields of a segment as a plain struct. The payload is not part of it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: SeqNum,
    pub ack_number: SeqNum,
    pub flags: Flags,
    pub window_len: u16,
    pub urgent_at: u16,
    pub options: TcpOptions,
}

impl TcpRepr {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = 20;
    /// Length of a header with the most options.
    pub const MAX_HEADER_LEN: usize = Self::MIN_HEADER_LEN + MAX_OPTIONS_LEN;

    /// Reads the header and parses the options. Does NOT check the checksum.
    pub fn parse(segment: &TcpSegment) -> Result<TcpRepr, Error> {
        Ok(TcpRepr {
            src_port: segment.src_port(),
            dst_port: segment.dst_port(),
            seq_number: segment.seq_number(),
            ack_number: segment.ack_number(),
            flags: segment.flags(),
            window_len: segment.window_len(),
            urgent_at: segment.urgent_at(),
            options: TcpOptions::parse(segment.options())?,
        })
    }

    /// Header bytes `emit` writes: 20 plus the options.
    pub fn header_len(&self) -> usize {
        Self::MIN_HEADER_LEN + self.options.buffer_len()
    }

    /// `buf` is the whole segment: `header_len()` bytes of header followed by
    /// the payload, which the caller has already copied into `buf[header_len()..]`.
    /// Writes header and options, then the checksum over all of `buf` with the
    /// pseudo-header.
    ///
    /// Panics if `buf` is shorter than `header_len()`.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) {
        let (header, payload) = buf.split_at_mut(self.header_len());
        self.emit_header(header, &[payload], src, dst, TxChecksum::Complete);
    }

    /// Writes header and options at the start of `header` and returns their
    /// length, `header_len()`, with the checksum of the segment they make
    /// with `payload`, which stays where it is, in pieces (gather I/O:
    /// whoever sends the segment copies them after the header). With
    /// `TxChecksum::Offloaded` the checksum field holds only the
    /// pseudo-header's sum, for the link to finish.
    ///
    /// Panics if `header` is shorter than `header_len()`.
    pub fn emit_header(
        &self,
        header: &mut [u8],
        payload: &[&[u8]],
        src: IpAddr,
        dst: IpAddr,
        tx_checksum: TxChecksum,
    ) -> usize {
        let header_len = Self::MIN_HEADER_LEN + self.options.emit(&mut header[Self::MIN_HEADER_LEN..]);
        let header = &mut header[..header_len];
        put16(header, field::SRC_PORT, self.src_port);
        put16(header, field::DST_PORT, self.dst_port);
        put32(header, field::SEQ, self.seq_number.0);
        put32(header, field::ACK, self.ack_number.0);
        header[field::DATA_OFFSET] = ((header_len / 4) as u8) << 4;
        header[field::FLAGS] = self.flags.bits();
        put16(header, field::WINDOW, self.window_len);
        put16(header, field::CHECKSUM, 0);
        put16(header, field::URGENT, self.urgent_at);
        let payload_len: usize = payload.iter().map(|part| part.len()).sum();
        let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, header_len + payload_len);
        let sum = match tx_checksum {
            // The header is whole 32-bit words, so the payload's sum starts
            // on an even offset and adds as it is.
            TxChecksum::Complete => !checksum::combine(&[pseudo, checksum::data(header), checksum::parts(payload)]),
            // Not complemented: the finisher adds the rest to it, then
            // complements (as Linux's `tcp_v4_send_check` leaves it).
            TxChecksum::Offloaded => pseudo,
        };
        put16(header, field::CHECKSUM, sum);
        header_len
    }
}

/// Finishes an offloaded checksum (`TxChecksum::Offloaded`) as a NIC
/// would: `segment` is a whole TCP segment whose checksum field holds the
/// pseudo-header's sum, so the sum of all its bytes, complemented, is its
/// checksum. Panics if `segment` is shorter than a TCP header.
pub fn finish_offloaded_checksum(segment: &mut [u8]) {
    let sum = !checksum::data(segment);
    put16(segment, field::CHECKSUM, sum);
}

/// tcpdump-like: `[S.] seq=100 ack=200 win=65535 mss=1460 wscale=7 sackOK ts=1/0 sack=10-20`;
/// `urg=` only with URG, each option only when present.
impl fmt::Display for TcpRepr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "[{}] seq={} ack={} win={}", self.flags, self.seq_number, self.ack_number, self.window_len)?;
        if self.flags.contains(Flags::URG) {
            write!(f, " urg={}", self.urgent_at)?;
        }
        let o = &self.options;
        if let Some(mss) = o.mss {
            write!(f, " mss={mss}")?;
        }
        if let Some(shift) = o.window_scale {
            write!(f, " wscale={shift}")?;
        }
        if o.sack_permitted {
            f.write_str(" sackOK")?;
        }
        if let Some(ts) = o.timestamps {
            write!(f, " ts={}/{}", ts.tsval, ts.tsecr)?;
        }
        for (i, (left, right)) in o.sack_blocks.iter().flatten().enumerate() {
            let sep = if i == 0 { " sack=" } else { "," };
            write!(f, "{sep}{left}-{right}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use std::net::Ipv4Addr;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
    const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));

    /// A SYN Linux 6.x sent to 10.9.0.2:80 over a TUN device (so its checksum
    /// is complete, not offloaded), read from the TUN fd and hexdumped:
    ///
    /// ```text
    /// 4500 003c 31e6 4000 4006 f4c1 0a09 0001 0a09 0002   IPv4, 60 bytes
    /// d10a 0050 c7f8 4d6c 0000 0000 a002 faf0 5990 0000   53514 -> 80, SYN
    /// 0204 05b4 0402 080a ba08 3e9f 0000 0000 0103 030a   mss, sackOK, TS, NOP, wscale
    /// ```
    const LINUX_SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x31, 0xe6, 0x40, 0x00, 0x40, 0x06, //
        0xf4, 0xc1, 0x0a, 0x09, 0x00, 0x01, 0x0a, 0x09, 0x00, 0x02, //
        0xd1, 0x0a, 0x00, 0x50, 0xc7, 0xf8, 0x4d, 0x6c, 0x00, 0x00, //
        0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x59, 0x90, 0x00, 0x00, //
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xba, 0x08, //
        0x3e, 0x9f, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    fn linux_syn_repr() -> TcpRepr {
        TcpRepr {
            src_port: 53514,
            dst_port: 80,
            seq_number: SeqNum(0xc7f8_4d6c),
            ack_number: SeqNum(0),
            flags: Flags::SYN,
            window_len: 64240,
            urgent_at: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(10),
                sack_permitted: true,
                sack_blocks: [None; 4],
                timestamps: Some(Timestamps { tsval: 0xba08_3e9f, tsecr: 0 }),
            },
        }
    }

    /// Emits `repr` with `payload` and parses it back, checking the checksum.
    fn round_trip(repr: &TcpRepr, payload: &[u8]) -> TcpRepr {
        let mut buf = vec![0u8; repr.header_len() + payload.len()];
        buf[repr.header_len()..].copy_from_slice(payload);
        repr.emit(&mut buf, CLIENT, SERVER);
        let segment = TcpSegment::new_checked(&buf).unwrap();
        assert!(segment.verify_checksum(CLIENT, SERVER));
        assert_eq!(segment.payload(), payload);
        TcpRepr::parse(&segment).unwrap()
    }

    #[test]
    fn parses_a_linux_syn() {
        let ip = super::super::ipv4::Ipv4Packet::new_checked(&LINUX_SYN).unwrap();
        let segment = TcpSegment::new_checked(ip.payload()).unwrap();
        assert!(segment.verify_checksum(ip.src_addr().into(), ip.dst_addr().into()));
        assert_eq!(segment.checksum(), 0x5990);
        assert_eq!(segment.header_len(), 40);
        assert!(segment.payload().is_empty());
        assert_eq!(TcpRepr::parse(&segment).unwrap(), linux_syn_repr());
    }

    #[test]
    fn corrupted_segment_fails_checksum() {
        let mut bytes = LINUX_SYN;
        bytes[20 + 14] ^= 0x01; // window
        let segment = TcpSegment::new_checked(&bytes[20..]).unwrap();
        assert!(!segment.verify_checksum(CLIENT, SERVER));
        // And the right bytes with the wrong addresses fail too.
        let segment = TcpSegment::new_checked(&LINUX_SYN[20..]).unwrap();
        assert!(!segment.verify_checksum(CLIENT, Ipv4Addr::new(10, 9, 0, 3).into()));
    }

    #[test]
    fn emit_reproduces_linux_layout() {
        // Our option order differs from Linux's (window scale comes second),
        // but the alignment rules are the same, so the length is too.
        let repr = linux_syn_repr();
        assert_eq!(repr.header_len(), 40);
        let mut buf = [0u8; 40];
        repr.emit(&mut buf, CLIENT, SERVER);
        assert_eq!(&buf[20..], &[2, 4, 0x05, 0xb4, 1, 3, 3, 10, 4, 2, 8, 10, 0xba, 0x08, 0x3e, 0x9f, 0, 0, 0, 0]);
        assert_eq!(round_trip(&repr, &[]), repr);
    }

    /// The urgent pointer is bytes 18–19 of the header, big-endian, and
    /// the URG bit 0x20 of byte 13 says it is meaningful (RFC 9293 §3.1).
    #[test]
    fn urgent_pointer_is_read_from_its_field() {
        let mut bytes = [0u8; 20];
        bytes[12] = 5 << 4; // data offset: 5 words, no options
        bytes[13] = 0x20 | 0x10; // URG, ACK
        bytes[18..20].copy_from_slice(&[0x12, 0x34]);
        let segment = TcpSegment::new_checked(&bytes[..]).unwrap();
        let repr = TcpRepr::parse(&segment).unwrap();
        assert_eq!(repr.flags, Flags::URG | Flags::ACK);
        assert_eq!(repr.urgent_at, 0x1234);
        let mut out = [0u8; 20];
        repr.emit(&mut out, CLIENT, SERVER);
        assert_eq!((out[13], &out[18..20]), (0x30, &[0x12, 0x34][..]), "written back where it was read");
    }

    #[test]
    fn round_trip_with_payload_and_sack() {
        let mut repr = TcpRepr {
            src_port: 80,
            dst_port: 53514,
            seq_number: SeqNum(u32::MAX),
            ack_number: SeqNum(7),
            flags: Flags::PSH | Flags::ACK,
            window_len: 501,
            ..TcpRepr::default()
        };
        repr.options.timestamps = Some(Timestamps { tsval: 1, tsecr: 2 });
        repr.options.sack_blocks[0] = Some((SeqNum(100), SeqNum(200)));
        repr.options.sack_blocks[1] = Some((SeqNum(300), SeqNum(400)));
        assert_eq!(repr.header_len(), 20 + 12 + 4 + 16);
        assert_eq!(round_trip(&repr, b"hello, odd length"), repr);
    }

    #[test]
    fn sack_blocks_beyond_40_bytes_are_dropped() {
        let mut options = TcpOptions { timestamps: Some(Timestamps::default()), ..TcpOptions::default() };
        for i in 0..4u32 {
            options.sack_blocks[i as usize] = Some((SeqNum(i * 10), SeqNum(i * 10 + 5)));
        }
        // 12 bytes of timestamps leave room for 3 blocks: 12 + 4 + 24 = 40.
        let mut buf = [0u8; 40];
        assert_eq!(options.emit(&mut buf), 40);
        let parsed = TcpOptions::parse(&buf).unwrap();
        assert_eq!(parsed.sack_blocks[..3], options.sack_blocks[..3]);
        assert_eq!(parsed.sack_blocks[3], None);
        // Without timestamps all four fit.
        options.timestamps = None;
        assert_eq!(options.buffer_len(), 36);
        let len = options.emit(&mut buf);
        assert_eq!(TcpOptions::parse(&buf[..len]).unwrap(), options);
    }

    #[test]
    fn options_at_odd_alignment() {
        // A single NOP shifts every option off its usual alignment.
        let bytes = [1, 3, 3, 7, 2, 4, 0x05, 0xb4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 4, 2, 5, 10, 0, 0, 0, 9, 0, 0, 0, 10];
        let options = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(options.window_scale, Some(7));
        assert_eq!(options.mss, Some(1460));
        assert_eq!(options.timestamps, Some(Timestamps { tsval: 1, tsecr: 2 }));
        assert!(options.sack_permitted);
        assert_eq!(options.sack_blocks[0], Some((SeqNum(9), SeqNum(10))));
    }

    #[test]
    fn unknown_option_is_skipped_and_eol_ends_parsing() {
        // Kind 30 (MPTCP) with 4 bytes of value, then MSS, then EOL and junk.
        let bytes = [30, 6, 0xff, 0xff, 0xff, 0xff, 2, 4, 0x05, 0xb4, 0, 2, 1, 0xff];
        let options = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(options, TcpOptions { mss: Some(1460), ..TcpOptions::default() });
    }

    #[test]
    fn illegal_option_lengths() {
        let cases: &[&[u8]] = &[
            &[2],                         // length byte missing
            &[30, 1],                     // length < 2
            &[30, 0],                     // length 0 would loop forever
            &[30, 5, 0, 0],               // runs past the end
            &[2, 3, 5],                   // MSS must be 4
            &[3, 4, 7, 0],                // window scale must be 3
            &[4, 3, 0],                   // SACK-permitted must be 2
            &[5, 2],                      // SACK without blocks
            &[5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK with a partial block
            &[8, 8, 0, 0, 0, 0, 0, 0],    // timestamps must be 10
            &[1, 1, 2, 4, 0x05, 0xb4, 8], // timestamps' length missing, after good options
        ];
        for bytes in cases {
            assert_eq!(TcpOptions::parse(bytes), Err(Error::OptionLen), "{bytes:?}");
        }
        let mut five_blocks = vec![5, 42];
        five_blocks.resize(42, 0);
        assert_eq!(TcpOptions::parse(&five_blocks), Err(Error::OptionLen));
    }

    #[test]
    fn repr_parse_reports_bad_options() {
        let mut bytes = LINUX_SYN;
        bytes[20 + 21] = 5; // MSS length 5
        let segment = TcpSegment::new_checked(&bytes[20..]).unwrap();
        assert_eq!(TcpRepr::parse(&segment), Err(Error::OptionLen));
    }

    #[test]
    fn rejects_truncated_and_bad_offsets() {
        let segment = &LINUX_SYN[20..];
        assert_eq!(TcpSegment::new_checked(&segment[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(TcpSegment::new_checked(&segment[..39]).unwrap_err(), Error::DataOffset);
        let mut bytes = LINUX_SYN;
        bytes[20 + 12] = 0x40; // 4 words: shorter than the fixed header
        assert_eq!(TcpSegment::new_checked(&bytes[20..]).unwrap_err(), Error::DataOffset);
    }

    #[test]
    fn flags_display_like_tcpdump() {
        use Flags as F;
        let cases = [
            (F::SYN, "S"),
            (F::SYN | F::ACK, "S."),
            (F::ACK, "."),
            (F::PSH | F::ACK, "P."),
            (F::FIN | F::ACK, "F."),
            (F::RST, "R"),
            (F::RST | F::ACK, "R."),
            (F::FIN | F::PSH | F::ACK, "FP."),
            (F::SYN | F::ECE | F::CWR, "SEW"),
            (F::default(), "none"),
        ];
        for (flags, text) in cases {
            assert_eq!(flags.to_string(), text);
            assert_eq!(format!("{flags:?}"), text);
        }
        let mut f = F::SYN;
        f |= F::ACK;
        assert!(f.contains(F::SYN) && f.contains(F::SYN | F::ACK) && !f.contains(F::FIN | F::ACK));
        assert_eq!(f & F::ACK, F::ACK);
        assert!((f & F::RST).is_empty());
    }

    #[test]
    fn repr_displays_like_tcpdump() {
        let mut repr = TcpRepr {
            seq_number: SeqNum(100),
            ack_number: SeqNum(200),
            flags: Flags::SYN | Flags::ACK,
            window_len: 65535,
            ..TcpRepr::default()
        };
        assert_eq!(repr.to_string(), "[S.] seq=100 ack=200 win=65535");
        repr.options = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: [Some((SeqNum(10), SeqNum(20))), Some((SeqNum(30), SeqNum(40))), None, None],
            timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        };
        assert_eq!(repr.to_string(), "[S.] seq=100 ack=200 win=65535 mss=1460 wscale=7 sackOK ts=1/0 sack=10-20,30-40");
    }

    fn arb_options() -> impl Strategy<Value = TcpOptions> {
        let seq = || any::<u32>().prop_map(SeqNum);
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::collection::vec((seq(), seq()), 0..=4),
            proptest::option::of((any::<u32>(), any::<u32>())),
        )
            .prop_map(|(mss, window_scale, sack_permitted, blocks, ts)| {
                let mut sack_blocks = [None; 4];
                for (slot, block) in sack_blocks.iter_mut().zip(blocks) {
                    *slot = Some(block);
                }
                TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    sack_blocks,
                    timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                }
            })
    }

    fn arb_repr() -> impl Strategy<Value = TcpRepr> {
        (any::<(u16, u16, u32, u32, u8, u16, u16)>(), arb_options()).prop_map(
            |((src_port, dst_port, seq, ack, flags, window_len, urgent_at), options)| TcpRepr {
                src_port,
                dst_port,
                seq_number: SeqNum(seq),
                ack_number: SeqNum(ack),
                flags: Flags::from_bits_retain(flags),
                window_len,
                urgent_at,
                options,
            },
        )
    }

    proptest! {
        #[test]
        fn options_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = TcpOptions::parse(&bytes);
        }

        #[test]
        fn segment_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(segment) = TcpSegment::new_checked(&bytes) {
                let _ = (segment.src_port(), segment.dst_port(), segment.flags(), segment.payload());
                let _ = segment.verify_checksum(CLIENT, SERVER);
                let _ = TcpRepr::parse(&segment);
            }
        }

        #[test]
        fn emit_then_parse_round_trips(
            repr in arb_repr(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let parsed = round_trip(&repr, &payload);
            prop_assert!(parsed.header_len() <= 60);
            prop_assert_eq!(parsed.header_len() % 4, 0);
            // SACK blocks are sent as many as fit, so compare those separately.
            let sent = parsed.options.sack_blocks.iter().flatten().count();
            let wanted = repr.options.sack_blocks.iter().flatten().count();
            prop_assert_eq!(&parsed.options.sack_blocks[..sent], &repr.options.sack_blocks[..sent]);
            if sent < wanted {
                // One more block (plus the SACK header when none was sent) would not fit.
                let extra = if sent == 0 { 12 } else { 8 };
                prop_assert!(parsed.options.buffer_len() + extra > MAX_OPTIONS_LEN);
            }
            let mut expected = repr;
            expected.options.sack_blocks = parsed.options.sack_blocks;
            prop_assert_eq!(parsed, expected);
        }
    }
}
