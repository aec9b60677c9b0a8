//! Congestion control: NewReno (RFC 5681 with RFC 6582's fast recovery).
//!
//! The sender may have at most `min(cwnd, SND.WND)` bytes in flight.
//!
//! ```text
//!  cwnd
//!   ^                      3 dup ACKs: fast retransmit,
//!   |                .-'   ssthresh = flight/2        timeout: cwnd = 1 MSS
//!   |          _.-'  |     /\__.--'''                 /
//!   |       .-'      | _.-'                          |   _.-'
//!   |     /  slow    |'  congestion avoidance        | /'  slow start again
//!   |    /   start   |   (+1 MSS per window)         |/
//!   +--------------------------------------------------------------> time
//! ```
//! Slow start adds up to one MSS per ACK until `ssthresh`; congestion
//! avoidance adds one MSS per window's worth of ACKed bytes. Three duplicate
//! ACKs mean one segment was lost but later ones arrived: retransmit it at
//! once and halve the window instead of waiting for the timer.

use super::seq::SeqNum;

#[derive(Clone, Debug)]
pub struct NewReno {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Bytes ACKed since cwnd last grew in congestion avoidance.
    acked_since_growth: usize,
    dup_acks: u32,
    /// RFC 6582's `recover`, stored as one past the highest sequence number
    /// sent when recovery began.
    recover: SeqNum,
    in_recovery: bool,
}

/// What the sender must do after telling congestion control about an ACK.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Retransmit the first unacknowledged segment now.
    RetransmitFirst,
}

impl NewReno {
    /// RFC 6928's initial window: min(10*MSS, max(2*MSS, 14600)).
    pub fn new(mss: usize, iss: SeqNum) -> NewReno {
        NewReno {
            mss,
            cwnd: (10 * mss).min((2 * mss).max(14600)),
            ssthresh: usize::MAX,
            acked_since_growth: 0,
            dup_acks: 0,
            recover: iss,
            in_recovery: false,
        }
    }

    pub fn window(&self) -> usize {
        self.cwnd
    }

    pub fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// SND.UNA advanced to `ack`, `acked` bytes newly acknowledged.
    pub fn on_ack(&mut self, ack: SeqNum, acked: usize, flight_after: usize) -> Action {
        self.dup_acks = 0;
        if self.in_recovery {
            if ack >= self.recover {
                // Full ACK (RFC 6582 §3.2 step 3): deflate the window.
                self.in_recovery = false;
                self.cwnd = self.ssthresh.min(flight_after.max(self.mss) + self.mss);
                return Action::None;
            }
            // Partial ACK: the next hole is lost too. Deflate by what was
            // ACKed, add back one MSS, retransmit the new first segment.
            self.cwnd = self.cwnd.saturating_sub(acked).max(self.mss);
            if acked >= self.mss {
                self.cwnd += self.mss;
            }
            return Action::RetransmitFirst;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += acked.min(self.mss);
        } else {
            self.acked_since_growth += acked;
            if self.acked_since_growth >= self.cwnd {
                self.acked_since_growth -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
        Action::None
    }

    /// A duplicate ACK (RFC 5681 §2 defines one) for `ack` == SND.UNA.
    pub fn on_dup_ack(&mut self, ack: SeqNum, snd_max: SeqNum, flight: usize) -> Action {
        if self.in_recovery {
            self.cwnd += self.mss; // each dup ACK means a segment left the network
            return Action::None;
        }
        self.dup_acks += 1;
        // Only enter fast retransmit when the ACK is past the last recovery
        // point, or the duplicates may be echoes of our own retransmissions.
        if self.dup_acks == 3 && ack > self.recover {
            self.ssthresh = (flight / 2).max(2 * self.mss);
            self.cwnd = self.ssthresh + 3 * self.mss;
            self.recover = snd_max;
            self.in_recovery = true;
            return Action::RetransmitFirst;
        }
        Action::None
    }

    /// The retransmission timer expired (RFC 5681 §3.1, equation 4).
    pub fn on_timeout(&mut self, flight: usize, snd_max: SeqNum) {
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.acked_since_growth = 0;
        self.dup_acks = 0;
        self.recover = snd_max;
        self.in_recovery = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn initial_window_follows_rfc_6928() {
        assert_eq!(NewReno::new(1460, SeqNum(0)).window(), 14600);
        assert_eq!(NewReno::new(536, SeqNum(0)).window(), 5360);
        assert_eq!(NewReno::new(65495, SeqNum(0)).window(), 2 * 65495);
    }

    #[test]
    fn slow_start_then_congestion_avoidance() {
        let mut cc = NewReno::new(MSS, SeqNum(0));
        let start = cc.window();
        cc.on_ack(SeqNum(1000), 1000, 0);
        assert_eq!(cc.window(), start + MSS);
        cc.on_timeout(20 * MSS, SeqNum(30_000));
        assert_eq!((cc.window(), cc.ssthresh()), (MSS, 10 * MSS));
        for i in 0..9 {
            cc.on_ack(SeqNum(31_000 + i * 1000), 1000, 0);
        }
        assert_eq!(cc.window(), 10 * MSS);
        // Now in congestion avoidance: a whole window of ACKs adds one MSS.
        for i in 0..10 {
            cc.on_ack(SeqNum(40_000 + i * 1000), 1000, 0);
        }
        assert_eq!(cc.window(), 11 * MSS);
    }

    #[test]
    fn three_dup_acks_then_partial_and_full_ack() {
        let mut cc = NewReno::new(MSS, SeqNum(0));
        let una = SeqNum(1);
        let max = SeqNum(10_001);
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::None);
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::None);
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::RetransmitFirst);
        assert_eq!(cc.window(), 5000 + 3000);
        cc.on_dup_ack(una, max, 10_000);
        assert_eq!(cc.window(), 9000);
        assert_eq!(cc.on_ack(SeqNum(3001), 3000, 7000), Action::RetransmitFirst);
        assert!(cc.in_recovery());
        assert_eq!(cc.on_ack(max, 7000, 0), Action::None);
        assert!(!cc.in_recovery());
        assert_eq!(cc.window(), 2000);
    }

    #[test]
    fn no_second_fast_retransmit_below_the_recovery_point() {
        let mut cc = NewReno::new(MSS, SeqNum(0));
        cc.on_timeout(10_000, SeqNum(10_001));
        for _ in 0..3 {
            assert_eq!(cc.on_dup_ack(SeqNum(5001), SeqNum(10_001), 5000), Action::None);
        }
    }
}
