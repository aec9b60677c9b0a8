//! SYN cookies (RFC 4987 §3.6): answering a SYN without remembering it.
//!
//! A SYN flood fills a listener's SYN queue with half-open connections
//! whose SYN,ACKs go nowhere, and an honest SYN then finds no room. So when
//! the queue is full the stack keeps nothing: it puts what the connection
//! needs into the one number the client must send back, our initial
//! sequence number. The client's ACK returns it as SEG.ACK − 1, its own ISN
//! as SEG.SEQ − 1; if the ISS is a cookie we made, lately, for this 4-tuple
//! and this client ISN, the connection is created there and then, straight
//! into ESTABLISHED.
//!
//! ```text
//!    31       27 26    24 23                                            0
//!   +-----------+--------+-----------------------------------------------+
//!   |     t     |  MSS   |  MAC: the low 24 bits of SipHash under the    |
//!   |  mod 32   | index  |  stack's secret of (4-tuple, client ISN, t,   |
//!   |           |        |  MSS index)                                   |
//!   +-----------+--------+-----------------------------------------------+
//!   t:         a counter that ticks every 64 s; a cookie is good while t
//!              is the same or one more (64 to 128 s)
//!   MSS index: into MSS_TABLE, the largest entry not above the client's MSS
//!              (as `tcb::peer_mss` takes it: at least 48, the first entry)
//!   MAC:       what a forger must guess: 1 chance in 2^24 per try
//! ```
//!
//! What a cookie costs: options other than the MSS do not fit, so the
//! SYN,ACK offers only the MSS (no window scaling, SACK or timestamps on
//! such a connection); the MSS is rounded down to a table entry; the
//! SYN,ACK is never retransmitted, since nothing remembers it (the client's
//! retransmitted SYN gets a new one); only a segment at the client's ISN + 1
//! brings the cookie back (if the client's ACK and first data segment are
//! lost, its second one is answered with RST, as in Linux); and a SYN that
//! would reopen a 4-tuple in TIME-WAIT cannot be promised an ISS above the
//! old connection's (MAY-2 of RFC 9293 §3.6.1), so it gets no cookie but is
//! dropped, and TIME-WAIT goes on (RFC 6191 §2). A cookie's ISS does not
//! follow the ISN clock of RFC 9293 §3.4.1; its 24-bit MAC is the
//! unpredictable part.
//! The stack sends cookies only while the queue is full, and looks for them
//! in ACKs only until the last one sent has expired.

use core::hash::Hasher;
use std::net::SocketAddr;

use super::isn::keyed_hash;
use super::tcb::{peer_mss, MIN_PEER_MSS};
use crate::time::{Duration, Instant};
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

/// The MSS values a cookie can keep: the usual ones of IPv4 and IPv6
/// paths, from the least we take from any peer (RFC 9293 only promises
/// 536, but some peers say less) over IPv6's minimum (1220), tunnels,
/// PPPoE and Ethernet (1440 over IPv6, 1460 over IPv4) to jumbo frames and
/// Linux's `lo` (IPv6's 65476 on `lo` keeps 8960).
pub const MSS_TABLE: [u16; 8] = [MIN_PEER_MSS as u16, 536, 1220, 1380, 1440, 1460, 8960, 65495];

/// How often the cookie's time counter ticks.
const PERIOD: Duration = Duration::from_secs(64);

/// A cookie made now is still good this long from now at most (made at the
/// start of a period, checked at the end of the next).
pub const LIFETIME: Duration = Duration::from_secs(2 * 64);

const MAC_BITS: u32 = 24;
const MSS_SHIFT: u32 = 24;
const TIME_SHIFT: u32 = 27;

/// Makes and checks SYN cookies under the stack's secret.
#[derive(Clone, Debug)]
pub struct SynCookies {
    key: [u8; 16],
}

impl SynCookies {
    pub fn new(key: [u8; 16]) -> SynCookies {
        SynCookies { key }
    }

    /// The ISS that answers a SYN from `remote` to `local` with ISN `irs`
    /// and MSS option `syn_mss`: it keeps the MSS the connection would have
    /// used (`peer_mss`), rounded down to the table.
    pub fn make(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        irs: SeqNum,
        syn_mss: Option<u16>,
    ) -> SeqNum {
        let t = counter(now);
        let mss = peer_mss(syn_mss, remote.ip());
        // Entry 0 is MIN_PEER_MSS, which `peer_mss` never goes below.
        let index = MSS_TABLE.iter().rposition(|&m| usize::from(m) <= mss).unwrap_or(0) as u32;
        let mac = self.mac(local, remote, irs, t, index);
        SeqNum(((t as u32 % 32) << TIME_SHIFT) | (index << MSS_SHIFT) | mac)
    }

    /// If `iss` is a cookie made by `make` for this 4-tuple and client ISN,
    /// and not expired: the MSS it keeps.
    pub fn check(&self, now: Instant, local: SocketAddr, remote: SocketAddr, irs: SeqNum, iss: SeqNum) -> Option<u16> {
        let c = iss.0;
        let now_t = counter(now);
        // How many ticks ago the cookie was made, from the 5 bits it keeps.
        let age = (now_t as u32).wrapping_sub(c >> TIME_SHIFT) % 32;
        if age > 1 {
            return None;
        }
        let t = now_t.checked_sub(u64::from(age))?;
        let index = (c >> MSS_SHIFT) & 0b111;
        (self.mac(local, remote, irs, t, index) == c & mask(MAC_BITS)).then(|| MSS_TABLE[index as usize])
    }

    /// The keyed hash that makes a cookie ours. It covers the whole `t`,
    /// not just the 5 bits the cookie shows, so a cookie does not come back
    /// to life when the counter wraps.
    fn mac(&self, local: SocketAddr, remote: SocketAddr, irs: SeqNum, t: u64, index: u32) -> u32 {
        let mut f = keyed_hash(&self.key, local, remote);
        f.write_u32(irs.0);
        f.write_u64(t);
        f.write_u32(index);
        f.finish() as u32 & mask(MAC_BITS)
    }
}

/// The SYN,ACK that carries cookie `iss` in answer to `syn`: MSS only, and
/// our full receive `window` (§3.10.7.2, with nothing remembered).
pub fn syn_ack(syn: &TcpRepr, iss: SeqNum, mss: u16, window: u16) -> TcpRepr {
    TcpRepr {
        src_port: syn.dst_port,
        dst_port: syn.src_port,
        seq_number: iss,
        ack_number: syn.seq_number + 1,
        flags: Flags::SYN | Flags::ACK,
        window_len: window,
        options: TcpOptions { mss: Some(mss), ..TcpOptions::default() },
        ..TcpRepr::default()
    }
}

/// The time counter: 64-second periods since the clock's origin.
fn counter(now: Instant) -> u64 {
    now.total_micros() / PERIOD.as_micros() as u64
}

const fn mask(bits: u32) -> u32 {
    (1 << bits) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        ("10.0.0.2:80".parse().unwrap(), "10.0.0.1:40000".parse().unwrap())
    }

    const IRS: SeqNum = SeqNum(123_456_789);

    #[test]
    fn a_cookie_keeps_the_mss_and_checks_out_for_64_to_128_s() {
        let c = SynCookies::new([9; 16]);
        let (l, r) = addrs();
        let made = Instant::from_secs(1000 * 64 + 63);
        let iss = c.make(made, l, r, IRS, Some(1460));
        assert_eq!(c.check(made, l, r, IRS, iss), Some(1460));
        // The next period still takes it: just over 64 s later.
        assert_eq!(c.check(Instant::from_secs(1001 * 64 + 63), l, r, IRS, iss), Some(1460));
        // Two periods on it is too old, even a microsecond into the period.
        assert_eq!(c.check(Instant::from_secs(1002 * 64), l, r, IRS, iss), None);
        // And it does not come back when the 5-bit counter wraps.
        assert_eq!(c.check(Instant::from_secs(1032 * 64), l, r, IRS, iss), None);
    }

    #[test]
    fn the_mss_is_rounded_down_to_the_table() {
        let c = SynCookies::new([9; 16]);
        let (l, r) = addrs();
        let now = Instant::from_secs(5);
        let cases = [(65495, 65495), (1460, 1460), (1400, 1380), (536, 536), (1000, 536), (100, 48), (1, 48), (0, 48)];
        for (offered, kept) in cases.map(|(o, k)| (Some(o), k)).into_iter().chain([(None, 536)]) {
            let iss = c.make(now, l, r, IRS, offered);
            assert_eq!(c.check(now, l, r, IRS, iss), Some(kept), "MSS {offered:?}");
        }
    }

    #[test]
    fn an_ipv6_syn_without_mss_keeps_ipv6s_default() {
        let c = SynCookies::new([9; 16]);
        let (l, r) = ("[fd00::2]:80".parse().unwrap(), "[fd00::1]:40000".parse().unwrap());
        let now = Instant::from_secs(5);
        let iss = c.make(now, l, r, IRS, None);
        assert_eq!(c.check(now, l, r, IRS, iss), Some(1220));
        assert_eq!(c.check(now, addrs().0, addrs().1, IRS, iss), None, "not the IPv4 tuple's");
    }

    #[test]
    fn forged_cookies_are_rejected() {
        let c = SynCookies::new([9; 16]);
        let (l, r) = addrs();
        let now = Instant::from_secs(5);
        let iss = c.make(now, l, r, IRS, Some(1460));
        let other: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        assert_eq!(c.check(now, l, other, IRS, iss), None, "another 4-tuple");
        assert_eq!(c.check(now, l, r, IRS + 1, iss), None, "another client ISN");
        assert_eq!(SynCookies::new([8; 16]).check(now, l, r, IRS, iss), None, "another secret");
        for bit in 0..32 {
            let flipped = SeqNum(iss.0 ^ (1 << bit));
            assert_eq!(c.check(now, l, r, IRS, flipped), None, "bit {bit} flipped");
        }
    }

    #[test]
    fn cookies_differ_by_tuple_and_client_isn() {
        let c = SynCookies::new([9; 16]);
        let (l, r) = addrs();
        let now = Instant::from_secs(5);
        let other: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        let a = c.make(now, l, r, IRS, Some(1460));
        assert_ne!(a, c.make(now, l, other, IRS, Some(1460)));
        assert_ne!(a, c.make(now, l, r, IRS + 1, Some(1460)));
    }
}
