//! The wire format: zero-copy views over byte slices for parsing, plain
//! structs for building.
//!
//! Parsing goes through a view (`Ipv4Packet`, `Ipv6Packet`, `TcpSegment`,
//! `IcmpPacket` for ICMP of both families, and `Quote`, the start of our
//! datagram an ICMP error quotes) whose `new_checked` validates every length once, so its accessors can then
//! index the bytes without further checks and without panicking. Building goes
//! the other way: fill in a `*Repr` struct and `emit` it into a buffer.
//!
//! [`seq`] is here too: a sequence number is a header field before it is
//! protocol state, and the TCP core above builds on this module, never the
//! other way round.

#![forbid(unsafe_code)]

pub mod checksum;
pub mod icmp;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod seq;
pub mod tcp;

use core::fmt;

/// Why a packet was dropped while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than its fixed header.
    Truncated,
    /// IP version other than the one expected (4 or 6).
    Version,
    /// IPv4 header length field below 5 words or beyond the buffer.
    HeaderLen,
    /// IPv4 total length shorter than the header or longer than the buffer.
    TotalLen,
    /// Checksum does not verify.
    Checksum,
    /// IPv6 payload length longer than the buffer.
    PayloadLen,
    /// A fragment, which this stack does not reassemble.
    Fragment,
    /// IPv6 extension headers past `ipv6::MAX_EXT_HEADERS`, or one that may
    /// not be skipped (RFC 8200 §4).
    ExtHeaders,
    /// TCP data offset below 5 words or beyond the buffer.
    DataOffset,
    /// A TCP option whose length byte is missing, too small, too large, or
    /// wrong for its kind.
    OptionLen,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated",
            Error::Version => "bad version",
            Error::HeaderLen => "bad header length",
            Error::TotalLen => "bad total length",
            Error::Checksum => "bad checksum",
            Error::PayloadLen => "bad payload length",
            Error::Fragment => "fragment",
            Error::ExtHeaders => "extension headers not skipped",
            Error::DataOffset => "bad data offset",
            Error::OptionLen => "bad option length",
        })
    }
}

impl std::error::Error for Error {}

/// Reads the big-endian (network order) `u16` at `at`. Callers have checked the length.
fn be16(bytes: &[u8], at: usize) -> u16 {
    // One bounds check for the whole field, then one load.
    u16::from_be_bytes(bytes[at..at + 2].try_into().expect("two bytes"))
}

/// Reads the big-endian (network order) `u32` at `at`. Callers have checked the length.
fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// Writes `value` in network order at `at`.
fn put16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Writes `value` in network order at `at`.
fn put32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_as_short_phrases() {
        assert_eq!(Error::Truncated.to_string(), "truncated");
        assert_eq!(Error::DataOffset.to_string(), "bad data offset");
    }

    #[test]
    fn big_endian_helpers_round_trip() {
        let mut b = [0u8; 6];
        put16(&mut b, 0, 0x1234);
        put32(&mut b, 2, 0xdead_beef);
        assert_eq!(b, [0x12, 0x34, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(be16(&b, 0), 0x1234);
        assert_eq!(be32(&b, 2), 0xdead_beef);
    }
}
