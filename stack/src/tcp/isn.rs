//! Initial sequence numbers (RFC 9293 §3.4.1, formerly RFC 6528).
//!
//! ```text
//!   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! ```
//! `M` is a clock that ticks every 4 microseconds, so a new incarnation of
//! the same connection starts above the old one's sequence numbers; `F` is a
//! keyed hash (SipHash) of the 4-tuple, so an off-path attacker who does not
//! know the key cannot guess the ISN of someone else's connection. The
//! hash's other bits offset the connection's timestamp clock (RFC 7323).

use core::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher13;

use crate::time::Instant;
use crate::wire::seq::SeqNum;

/// What a connection starts from: its initial sequence number and the
/// offset of its timestamp clock.
#[derive(Copy, Clone, Debug)]
pub struct Start {
    pub iss: SeqNum,
    pub ts_offset: u32,
}

/// Chooses initial sequence numbers. The key comes from the caller (random
/// at start-up in the server, fixed in tests), so the core stays deterministic.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl IsnGenerator {
    pub fn new(key: [u8; 16]) -> IsnGenerator {
        IsnGenerator { key }
    }

    /// What a new connection starts from, both from one keyed hash of the
    /// 4-tuple: the ISN (low bits), and the offset of its timestamp clock
    /// (high bits; see `timestamps::TsState`), so that TSval tells nothing
    /// of the uptime yet is the same function of time for every
    /// incarnation of the connection.
    pub fn start(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Start {
        let f = keyed_hash(&self.key, local, remote).finish();
        let m = now.total_micros() / 4;
        Start { iss: SeqNum((m as u32).wrapping_add(f as u32)), ts_offset: (f >> 32) as u32 }
    }
}

/// SipHash under the secret `key`, fed the 4-tuple; callers that need more
/// than the 4-tuple bound to the secret (SYN cookies) write more to it.
pub fn keyed_hash(key: &[u8; 16], local: SocketAddr, remote: SocketAddr) -> SipHasher13 {
    let mut f = SipHasher13::new_with_key(key);
    for end in [local, remote] {
        // The address's 4 or 16 bytes: the two families' tuples differ in
        // length, so they never feed the hash the same bytes.
        match end.ip() {
            IpAddr::V4(a) => f.write(&a.octets()),
            IpAddr::V6(a) => f.write(&a.octets()),
        }
        f.write_u16(end.port());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        ("10.0.0.2:80".parse().unwrap(), "10.0.0.1:40000".parse().unwrap())
    }

    #[test]
    fn grows_with_the_clock_by_one_every_four_microseconds() {
        let g = IsnGenerator::new([7; 16]);
        let (l, r) = addrs();
        let a = g.start(Instant::from_micros(1000), l, r).iss;
        let b = g.start(Instant::from_micros(1400), l, r).iss;
        assert_eq!(b - a, 100);
    }

    #[test]
    fn differs_by_tuple_and_by_key() {
        let (l, r) = addrs();
        let now = Instant::from_secs(1);
        let g = IsnGenerator::new([7; 16]);
        let other: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        assert_ne!(g.start(now, l, r).iss, g.start(now, l, other).iss);
        assert_ne!(g.start(now, l, r).iss, IsnGenerator::new([8; 16]).start(now, l, r).iss);
    }

    #[test]
    fn an_ipv6_tuple_has_its_own() {
        let now = Instant::from_secs(1);
        let g = IsnGenerator::new([7; 16]);
        let (l, r) = addrs();
        let (l6, r6) = ("[fd00::2]:80".parse().unwrap(), "[fd00::1]:40000".parse().unwrap());
        let other: SocketAddr = "[fd00::1]:40001".parse().unwrap();
        assert_ne!(g.start(now, l6, r6).iss, g.start(now, l, r).iss);
        assert_ne!(g.start(now, l6, r6).iss, g.start(now, l6, other).iss);
    }
}
