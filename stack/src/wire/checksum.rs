//! The Internet checksum (RFC 1071), used by IPv4, ICMP and TCP.
//!
//! It is the one's-complement sum of the data taken as 16-bit big-endian
//! words. One's-complement addition is addition modulo 2^16 - 1, where a carry
//! out of the top "wraps around" into the bottom. Two properties make it fast
//! (RFC 1071 §2):
//!
//! - (A) byte order: summing the words in the machine's own order gives the
//!   byte-swapped sum, so we add native words and swap once at the end;
//! - (C) deferred carries: we add 16-bit words into 32-bit lanes and fold the
//!   carries down only at the end. With 32 independent lanes, one per word
//!   of a 64-byte block, the compiler turns the loop into vector additions.
//!
//! - (B) position: a run of bytes that starts at an odd offset of the data
//!   lands in the other halves of the words, so its sum is the byte-swapped
//!   sum of the run on its own; `parts` uses that to sum a packet held in
//!   pieces.
//!
//! The functions here return the sum *not* complemented, so sums of pieces can
//! be `combine`d. To verify, check `!combine(&[pseudo, data(seg)]) == 0`; to
//! emit, zero the checksum field, then write `!combine(..)`.

use std::net::Ipv4Addr;

/// Words per block: one per 32-bit lane.
const LANES: usize = 32;
/// Blocks a lane can take before it might overflow: each adds at most 0xffff.
const BLOCKS_PER_FLUSH: usize = (u32::MAX / 0xffff) as usize;

/// One's-complement sum of `bytes`, folded to 16 bits. An odd last byte is
/// padded with a zero byte on the right (RFC 1071 §4.1).
pub fn data(bytes: &[u8]) -> u16 {
    let (blocks, rest) = bytes.as_chunks::<{ 2 * LANES }>();
    let mut sum = 0u64;
    for group in blocks.chunks(BLOCKS_PER_FLUSH) {
        let mut lanes = [0u32; LANES];
        for block in group {
            for (lane, word) in lanes.iter_mut().zip(block.as_chunks::<2>().0) {
                *lane += u32::from(u16::from_ne_bytes(*word));
            }
        }
        sum += lanes.iter().map(|&lane| u64::from(lane)).sum::<u64>();
    }
    let (words, odd) = rest.as_chunks::<2>();
    sum += words.iter().map(|&word| u64::from(u16::from_ne_bytes(word))).sum::<u64>();
    if let [last] = odd {
        sum += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    // The sum of native words is the big-endian sum in native byte order.
    u16::from_be(fold(sum))
}

/// One's-complement sum of `parts` taken one after the other as one run of
/// bytes, such as a segment's header and its payload where it lies. A part
/// after an odd number of bytes has its sum byte-swapped (property B).
pub fn parts(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u64;
    let mut odd_offset = false;
    for part in parts {
        let part_sum = data(part);
        sum += u64::from(if odd_offset { part_sum.swap_bytes() } else { part_sum });
        odd_offset ^= part.len() % 2 == 1;
    }
    fold(sum)
}

/// One's-complement sum of already folded sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Sum of the IPv4 pseudo-header that TCP's checksum also covers
/// (RFC 9293 §3.1): source, destination, zero, protocol, segment length.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: usize) -> u16 {
    let mut header = [0u8; 12];
    header[0..4].copy_from_slice(&src.octets());
    header[4..8].copy_from_slice(&dst.octets());
    header[9] = protocol;
    // A segment inside an IPv4 packet is always shorter than 2^16 bytes.
    header[10..12].copy_from_slice(&(length as u16).to_be_bytes());
    data(&header)
}

/// Folds a sum of 16- or 32-bit words into a 16-bit one's-complement sum.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook definition, 16 bits at a time, to check the fast one against.
    fn slow(bytes: &[u8]) -> u16 {
        let mut acc = 0u32;
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: these bytes sum to 0xddf2.
        assert_eq!(data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
    }

    #[test]
    fn odd_byte_is_the_high_half() {
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56]), 0x6834);
    }

    #[test]
    fn carries_wrap_around() {
        // 0xffff + 0x0001 = 0x1_0000, which wraps to 0x0001.
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(data(&[0xff; 64]), 0xffff);
        assert_eq!(combine(&[0xffff, 0x0002]), 0x0002);
    }

    #[test]
    fn pseudo_header_sum() {
        // 10.9.0.1 -> 10.9.0.2, TCP, 40 bytes: 0x0a09+0x0001+0x0a09+0x0002+6+40.
        let sum = pseudo_header(Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2), 6, 40);
        assert_eq!(sum, 0x0a09 + 0x0001 + 0x0a09 + 0x0002 + 6 + 40);
    }

    proptest! {
        #[test]
        fn fast_sum_matches_definition(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(data(&bytes), slow(&bytes));
        }

        #[test]
        fn sum_of_even_split_is_combined_sums(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            split in 0usize..100,
        ) {
            let at = (split * 2).min(bytes.len() & !1);
            let (a, b) = bytes.split_at(at);
            prop_assert_eq!(!combine(&[data(a), data(b)]), !data(&bytes));
        }

        #[test]
        fn sum_of_parts_is_sum_of_whole(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..4),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                pieces.push(&bytes[from..cut]);
                from = cut;
            }
            prop_assert_eq!(!parts(&pieces), !data(&bytes));
        }
    }
}
