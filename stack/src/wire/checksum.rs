//! The Internet checksum (RFC 1071), used by IPv4, ICMP, ICMPv6 and TCP.
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
//!   of a 64-byte block, the compiler turns the loop into vector additions;
//!   on x86-64 one SSE2 instruction, PMADDWD, does the widening and the first
//!   additions at once (`blocks_sum`), a quarter faster.
//!
//! - (B) position: a run of bytes that starts at an odd offset of the data
//!   lands in the other halves of the words, so its sum is the byte-swapped
//!   sum of the run on its own; `parts` uses that to sum a packet held in
//!   pieces.
//!
//! The functions here return the sum *not* complemented, so sums of pieces can
//! be `combine`d. To verify, check `!combine(&[pseudo, data(seg)]) == 0`; to
//! emit, zero the checksum field, then write `!combine(..)`.

use std::net::IpAddr;

/// How the checksums of received packets are to be treated. The link knows
/// (`LinkCaps`) and tells the stack through `Config::rx_checksum`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RxChecksum {
    /// Checksums arrive complete and must be verified (TUN, the simulator).
    Verify,
    /// The kernel offloaded the checksum and left it partial (Linux `lo`);
    /// the packet never left the machine, so there is nothing to verify.
    Offloaded,
}

/// How the checksums of sent TCP segments are to be written. The link knows
/// (`LinkCaps`) and tells the stack through `Config::tx_checksum`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TxChecksum {
    /// The stack writes each checksum whole (TUN, the simulator).
    Complete,
    /// Whatever lies below finishes it, as a NIC with checksum offload does
    /// (Linux's `CHECKSUM_PARTIAL`): the stack writes only the pseudo-header's
    /// sum into the field, and the finisher adds the segment's bytes from
    /// the TCP header on (`tcp::finish_offloaded_checksum`). On Linux `lo`
    /// no one needs to finish it, so no one reads a payload to sum it.
    Offloaded,
}

/// Bytes summed at a time by the vector code: 32 words.
const BLOCK: usize = 64;

/// One's-complement sum of `bytes`, folded to 16 bits. An odd last byte is
/// padded with a zero byte on the right (RFC 1071 §4.1).
pub fn data(bytes: &[u8]) -> u16 {
    let (blocks, rest) = bytes.as_chunks::<BLOCK>();
    let mut sum = blocks_sum(blocks);
    // The rest (and a short header entirely) 32 bits at a time: a 32-bit
    // word is two 16-bit ones, and as 2^16 = 1 modulo 2^16 - 1, adding it
    // adds both ("parallel summation", RFC 1071 §2).
    let (quads, rest) = rest.as_chunks::<4>();
    sum += quads.iter().map(|&quad| u64::from(u32::from_ne_bytes(quad))).sum::<u64>();
    let (word, odd) = rest.as_chunks::<2>();
    if let [word] = word {
        sum += u64::from(u16::from_ne_bytes(*word));
    }
    if let [last] = odd {
        sum += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    // The sum of native words is the big-endian sum in native byte order.
    u16::from_be(fold(sum))
}

/// The sum of the 16-bit native words of `blocks`, as a plain number (no
/// carry folded yet), with SSE2, which every x86-64 processor has.
///
/// PMADDWD multiplies eight pairs of signed 16-bit words and adds adjacent
/// products into four 32-bit lanes: multiplying by 1, it adds pairs of words
/// into 32-bit lanes in one instruction, where widening them takes two
/// shuffles and two additions. Its words are signed: flipping each word's
/// top bit (XOR 0x8000) turns an unsigned word `w` into the signed `w - 32768`,
/// so each block's sum comes out 32 * 32768 short, added back at the end.
#[cfg(target_arch = "x86_64")]
fn blocks_sum(blocks: &[[u8; BLOCK]]) -> u64 {
    use safe_arch::{
        add_i32_m128i, bitxor_m128i, load_unaligned_m128i, mul_i16_horizontal_add_m128i, set_splat_i16_m128i,
        zeroed_m128i,
    };
    /// Blocks summed before the lanes are widened: each adds at most 2^16
    /// in magnitude to a lane, and the four accumulators' lanes, added
    /// together first, must stay below 2^31.
    const BLOCKS_PER_FLUSH: usize = 1 << 12;
    let (ones, top_bits) = (set_splat_i16_m128i(1), set_splat_i16_m128i(i16::MIN));
    let mut sum = 0u64;
    for group in blocks.chunks(BLOCKS_PER_FLUSH) {
        // Four accumulators, one per 16 bytes of a block, so that the
        // additions do not wait for each other.
        let mut lanes = [zeroed_m128i(); 4];
        for block in group {
            for (lane, words) in lanes.iter_mut().zip(block.as_chunks::<16>().0) {
                let signed = bitxor_m128i(load_unaligned_m128i(words), top_bits);
                *lane = add_i32_m128i(*lane, mul_i16_horizontal_add_m128i(signed, ones));
            }
        }
        let [a, b, c, d] = lanes;
        let lanes = <[i32; 4]>::from(add_i32_m128i(add_i32_m128i(a, b), add_i32_m128i(c, d)));
        let signed_sum: i64 = lanes.iter().map(|&lane| i64::from(lane)).sum();
        sum += (signed_sum + (group.len() * BLOCK / 2 * 32768) as i64) as u64;
    }
    sum
}

#[cfg(not(target_arch = "x86_64"))]
fn blocks_sum(blocks: &[[u8; BLOCK]]) -> u64 {
    lanes_sum(blocks)
}

/// `blocks_sum` in portable code: each word of a block into its own 32-bit
/// lane, which the compiler turns into vector additions.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn lanes_sum(blocks: &[[u8; BLOCK]]) -> u64 {
    const LANES: usize = BLOCK / 2;
    /// Blocks a lane can take before it might overflow: each adds at most 0xffff.
    const BLOCKS_PER_FLUSH: usize = (u32::MAX / 0xffff) as usize;
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
    sum
}

/// One's-complement sum of `parts` taken one after the other as one run of
/// bytes, such as a segment's header and its payload where it lies. A part
/// after an odd number of bytes has its sum byte-swapped (property B).
pub fn parts(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u64;
    let mut odd_offset = false;
    // (A ring buffer's range often comes as one part and an empty one.)
    for part in parts.iter().filter(|part| !part.is_empty()) {
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

/// Sum of the pseudo-header that TCP's checksum (and ICMPv6's) also
/// covers, for either family:
///
/// ```text
///   IPv4 (RFC 9293 §3.1)                   IPv6 (RFC 8200 §8.1)
///   source address         4 bytes         source address        16 bytes
///   destination address    4 bytes         destination address   16 bytes
///   zero, protocol         1 + 1 byte      upper-layer length     4 bytes
///   segment length         2 bytes         zero, next header     3 + 1 bytes
/// ```
///
/// Laid out differently, the two sum the same way: the addresses' words,
/// the protocol and the length (a 32-bit length is two 16-bit words, and
/// adding it as one number adds both, as in `data`).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: usize) -> u16 {
    fn words(addr: IpAddr) -> u64 {
        match addr {
            // Each address as 32-bit numbers: two words at once.
            IpAddr::V4(a) => u64::from(a.to_bits()),
            IpAddr::V6(a) => a.octets().as_chunks::<4>().0.iter().map(|&w| u64::from(u32::from_be_bytes(w))).sum(),
        }
    }
    // A segment inside an IPv4 packet is shorter than 2^16 bytes, inside an
    // IPv6 one than 2^32.
    fold(words(src) + words(dst) + u64::from(protocol) + u64::from(length as u32))
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
    use std::net::{Ipv4Addr, Ipv6Addr};

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
    fn long_runs_of_the_largest_words_do_not_overflow_a_lane() {
        // More blocks than either vector sum takes between flushes.
        let blocks = vec![[0xff; BLOCK]; 70_000];
        let words = (blocks.len() * BLOCK / 2) as u64;
        assert_eq!(blocks_sum(&blocks), words * 0xffff);
        assert_eq!(lanes_sum(&blocks), words * 0xffff);
    }

    #[test]
    fn pseudo_header_sum() {
        // 10.9.0.1 -> 10.9.0.2, TCP, 40 bytes: 0x0a09+0x0001+0x0a09+0x0002+6+40.
        let sum = pseudo_header(Ipv4Addr::new(10, 9, 0, 1).into(), Ipv4Addr::new(10, 9, 0, 2).into(), 6, 40);
        assert_eq!(sum, 0x0a09 + 0x0001 + 0x0a09 + 0x0002 + 6 + 40);
    }

    #[test]
    fn ipv6_pseudo_header_sum() {
        // The 40 bytes of RFC 8200 §8.1 laid out and summed word by word.
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ("2001:db8::1".parse().unwrap(), "fe80::ffff:1".parse().unwrap());
        let length = 0x1_0004u32; // a length past 16 bits, as IPv6 allows
        let mut header = Vec::new();
        header.extend_from_slice(&src.octets());
        header.extend_from_slice(&dst.octets());
        header.extend_from_slice(&length.to_be_bytes());
        header.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header(src.into(), dst.into(), 58, length as usize), slow(&header));
    }

    proptest! {
        #[test]
        fn vector_sums_agree(bytes in proptest::collection::vec(any::<u8>(), 0..1000)) {
            let blocks = bytes.as_chunks::<BLOCK>().0;
            prop_assert_eq!(blocks_sum(blocks), lanes_sum(blocks));
        }

        #[test]
        fn fast_sum_matches_definition(bytes in proptest::collection::vec(any::<u8>(), 0..1000)) {
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
