//! What the link tests share: a private network namespace and packet building.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::netns::run_isolated_or_skip;

/// Runs `f` in a fresh network namespace; `None` when the test skips
/// for want of the privilege (see `netns::skip`).
pub fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    run_isolated_or_skip("stack", f)
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`,
/// each of even length except perhaps the last.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in parts.iter().flat_map(|part| part.chunks(2)) {
        sum += u32::from(u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet from `src` to `dst` carrying `payload` of `protocol`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, protocol, 0, 0];
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let sum = checksum(&[&packet]);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// An IPv6 packet from `src` to `dst` carrying `payload` of `next_header`,
/// hop limit 64 (RFC 8200 §3).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[next_header, 64]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    packet.extend_from_slice(payload);
    packet
}
