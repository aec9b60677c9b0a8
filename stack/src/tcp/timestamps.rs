//! Timestamps (RFC 7323 §3–5): once both SYNs carried the option, every
//! segment carries the sender's clock (TSval) and an echo of the peer's
//! latest one (TSecr).
//!
//! ```text
//!   A (clock 100)                               B
//!   data  TSval=100 TSecr=7   ------------>     TS.Recent = 100
//!              <------------  ACK TSval=9 TSecr=100
//!   A at 103: RTT = 103 - 100 = 3 ms
//! ```
//! Two uses. Round-trip times from every ACK that advances SND.UNA, even for
//! retransmitted data, whose echo tells which copy arrived (RTTM, §4). And
//! Protection Against Wrapped Sequences (PAWS, §5): at gigabytes per second
//! the 2^32 sequence numbers wrap within seconds, so an old duplicate
//! could land in the window again; its timestamp, older than the newest the
//! peer sent, gives it away.
//!
//! Timestamps are compared on their own 2^32 circle, like sequence numbers
//! (§5.2); the clock ticks every millisecond (§5.4 asks for 1 ms to 1 s).

use crate::time::{Duration, Instant};
use crate::wire::seq::SeqNum;
use crate::wire::tcp::Timestamps;

/// One tick of the timestamp clock.
pub const TICK: Duration = Duration::from_millis(1);

/// §5.5: at 1 ms a tick, TSval moves half way round its circle in 24.8
/// days, after which "older" means nothing. A TS.Recent not updated for 24
/// days is invalid: PAWS does not test against it.
pub const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 60 * 60);

/// Whether timestamp `a` is older than `b` (modulo 2^32).
pub fn older(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// TSval at `now` of a connection whose clock starts at `offset`: our clock
/// in milliseconds, plus the offset.
pub fn tsval(now: Instant, offset: u32) -> u32 {
    (now.total_millis() as u32).wrapping_add(offset)
}

/// One connection's timestamp state.
#[derive(Clone, Debug)]
pub struct TsState {
    /// Added to the clock, so that TSval does not tell the host's uptime.
    /// A keyed hash of the 4-tuple, like the ISN's (RFC 9293 §3.4.1), so a
    /// new incarnation of a connection carries on the old one's clock and
    /// TIME-WAIT can tell its SYN from an old duplicate (RFC 6191).
    pub offset: u32,
    /// TS.Recent (§4.3): the peer's TSval to echo in TSecr.
    pub recent: u32,
    /// When TS.Recent was last set; `None` before the peer's first TSval.
    recent_at: Option<Instant>,
    /// Last.ACK.sent (§4.3): the ACK field of the last segment we sent.
    pub last_ack_sent: SeqNum,
}

impl TsState {
    pub fn new(offset: u32) -> TsState {
        TsState { offset, recent: 0, recent_at: None, last_ack_sent: SeqNum(0) }
    }

    pub fn tsval(&self, now: Instant) -> u32 {
        tsval(now, self.offset)
    }

    /// The option of a segment we send. TSecr echoes TS.Recent, and is
    /// zero in a segment without ACK (§3.2), where it means nothing.
    pub fn option(&self, now: Instant, ack: bool) -> Timestamps {
        Timestamps { tsval: self.tsval(now), tsecr: if ack { self.recent } else { 0 } }
    }

    /// §4.1 (RTTM): the time since we sent the TSval an ACK echoes. `None`
    /// for an echo of a time not yet come, which only a broken peer sends.
    pub fn rtt(&self, now: Instant, tsecr: u32) -> Option<Duration> {
        let ticks = self.tsval(now).wrapping_sub(tsecr) as i32;
        (ticks >= 0).then(|| TICK * ticks as u32)
    }

    /// The peer's SYN (or SYN,ACK): its TSval is the first TS.Recent.
    pub fn synchronize(&mut self, now: Instant, tsval: u32) {
        self.recent = tsval;
        self.recent_at = Some(now);
    }

    /// §5.5: TS.Recent is valid once set, until 24 days without an update.
    fn recent_valid(&self, now: Instant) -> bool {
        self.recent_at.is_some_and(|at| now - at < PAWS_IDLE)
    }

    /// §5.3 R1: a segment whose TSval is older than a valid TS.Recent is an
    /// old duplicate. (RSTs are exempt; the caller checks.)
    pub fn paws_rejects(&self, now: Instant, tsval: u32) -> bool {
        self.recent_valid(now) && older(tsval, self.recent)
    }

    /// §4.3 (2) and §5.3 R3, for a segment that passed PAWS and the window
    /// check: it becomes TS.Recent if it is not older and begins at or below
    /// Last.ACK.sent. So when ACKs are delayed, the ACK echoes the earliest
    /// segment it acknowledges, and the sender's RTT includes the delay.
    /// A segment beyond a hole does not update it: the duplicate ACKs echo
    /// the last segment in order, and the one that fills the hole (a
    /// retransmission, at Last.ACK.sent) is the next echoed.
    pub fn update(&mut self, now: Instant, seq: SeqNum, tsval: u32) {
        if (!self.recent_valid(now) || !older(tsval, self.recent)) && seq <= self.last_ack_sent {
            self.synchronize(now, tsval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_is_modulo_2_to_the_32() {
        assert!(older(1, 2));
        assert!(!older(2, 2));
        assert!(older(u32::MAX, 5), "5 came after the wrap");
        assert!(!older(5, u32::MAX));
    }

    #[test]
    fn tsval_is_milliseconds_plus_the_offset_and_wraps() {
        let ts = TsState::new(u32::MAX - 1);
        assert_eq!(ts.tsval(Instant::ZERO), u32::MAX - 1);
        assert_eq!(ts.tsval(Instant::from_millis(3)), 1);
        assert_eq!(ts.rtt(Instant::from_millis(3), u32::MAX), Some(Duration::from_millis(2)));
        assert_eq!(ts.rtt(Instant::from_millis(3), 2), None, "an echo from the future");
    }

    #[test]
    fn paws_across_the_wrap_and_the_24_day_rule() {
        let mut ts = TsState::new(0);
        let t0 = Instant::from_secs(1);
        assert!(!ts.paws_rejects(t0, 0), "no TS.Recent yet");
        ts.synchronize(t0, u32::MAX - 10);
        assert!(ts.paws_rejects(t0, u32::MAX - 11));
        assert!(!ts.paws_rejects(t0, 3), "newer, past the wrap");
        ts.last_ack_sent = SeqNum(1000);
        ts.update(t0, SeqNum(1000), 3);
        assert_eq!(ts.recent, 3);
        assert!(ts.paws_rejects(t0, u32::MAX - 10), "from before the wrap: old");
        ts.update(t0, SeqNum(1001), 5);
        assert_eq!(ts.recent, 3, "beyond Last.ACK.sent: not recorded");
        let later = t0 + PAWS_IDLE;
        assert!(!ts.paws_rejects(later, u32::MAX - 10), "TS.Recent idle for 24 days is invalid");
        ts.update(later, SeqNum(999), u32::MAX - 10);
        assert_eq!(ts.recent, u32::MAX - 10, "and any TSval replaces it");
    }
}
