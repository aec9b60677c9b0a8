//! Congestion control (RFC 5681): how much data may be in flight, how that
//! grows while the network delivers, and what a loss does to it.
//!
//! The sender may have at most `min(cwnd, SND.WND)` bytes in flight.
//!
//! ```text
//!  cwnd
//!   ^                      3 dup ACKs: fast retransmit,
//!   |                .-'   ssthresh = flight·β          timeout: cwnd = 1 MSS
//!   |          _.-'  |     /\__.--'''                 /
//!   |       .-'      | _.-'                          |   _.-'
//!   |     /  slow    |'  congestion avoidance        | /'  slow start again
//!   |    /   start   |   (NewReno or CUBIC)          |/
//!   +--------------------------------------------------------------> time
//! ```
//! Slow start adds up to one MSS per ACK until `ssthresh`. Congestion
//! avoidance then grows the window by one of two [`Algorithm`]s:
//!
//! - NewReno (RFC 5681): one MSS per window's worth of ACKed bytes; a loss
//!   halves the window (β = 1/2).
//! - CUBIC (RFC 9438): along a cubic curve of the time since the last loss,
//!   flat around the window where that loss happened (W_max), so it returns
//!   there fast and then probes beyond it carefully; a loss takes the window
//!   to 70 % (β = 0.7). Never slower than NewReno would be (§4.3).
//!
//! Three duplicate ACKs mean one segment was lost but later ones arrived:
//! retransmit it at once and reduce the window instead of waiting for the
//! timer (fast retransmit), then keep the ACK clock going until everything
//! sent before the loss is acknowledged (fast recovery). Without SACK the
//! sender learns of one hole per round trip: NewReno's fast recovery
//! (RFC 6582) inflates the window by one MSS per duplicate ACK and resends
//! the next hole on each partial ACK. With SACK the scoreboard shows every
//! hole, RACK (RFC 8985, `rack.rs`) rather than the duplicate count says
//! which are lost, and RFC 6675's recovery (`tcb/output.rs`) keeps the window at
//! ssthresh and counts what is in flight instead.

use core::fmt;
use core::str::FromStr;

use super::sack::DUP_THRESH;
use crate::time::{Duration, Instant};
use crate::wire::seq::SeqNum;

/// How congestion avoidance grows the window. CUBIC is the default: in the
/// simulator (20 seeds each, 0.1 % to 5 % loss, 1 to 10 ms each way) it
/// moved the same data 8–28 % faster, winning 12 to 20 seeds of 20; without
/// loss the two never leave slow start and do not differ.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    NewReno,
    #[default]
    Cubic,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Algorithm::NewReno => "newreno",
            Algorithm::Cubic => "cubic",
        })
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Algorithm, String> {
        match s {
            "newreno" => Ok(Algorithm::NewReno),
            "cubic" => Ok(Algorithm::Cubic),
            _ => Err(format!("{s}: expected newreno or cubic")),
        }
    }
}

/// What the sender must do after telling congestion control about an ACK.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Retransmit the first unacknowledged segment now.
    RetransmitFirst,
}

/// One connection's congestion window and loss recovery state.
#[derive(Clone, Debug)]
pub struct Congestion {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    growth: Growth,
    /// SACK drives loss recovery (RFC 6675): no window inflation, no
    /// retransmission on partial ACKs; the scoreboard says what is lost.
    sack: bool,
    dup_acks: u32,
    /// RFC 6582's `recover`, RFC 6675's RecoveryPoint: one past the highest
    /// sequence number sent when recovery (or a timeout) began.
    recover: SeqNum,
    in_recovery: bool,
}

#[derive(Clone, Debug)]
enum Growth {
    /// Bytes ACKed since cwnd last grew in congestion avoidance.
    NewReno {
        acked_since_growth: usize,
    },
    Cubic(Cubic),
}

impl Congestion {
    /// RFC 6928's initial window: min(10*MSS, max(2*MSS, 14600)).
    pub fn new(algorithm: Algorithm, mss: usize, iss: SeqNum, sack: bool) -> Congestion {
        Congestion {
            mss,
            cwnd: (10 * mss).min((2 * mss).max(14600)),
            ssthresh: usize::MAX,
            growth: match algorithm {
                Algorithm::NewReno => Growth::NewReno { acked_since_growth: 0 },
                Algorithm::Cubic => Growth::Cubic(Cubic::default()),
            },
            sack,
            dup_acks: 0,
            recover: iss,
            in_recovery: false,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.growth {
            Growth::NewReno { .. } => Algorithm::NewReno,
            Growth::Cubic(_) => Algorithm::Cubic,
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

    /// Limited transmit (RFC 3042): the first two duplicate ACKs each let
    /// one new segment go beyond cwnd, so that a small window still brings
    /// the three duplicates fast retransmit needs. With SACK, RFC 6675's
    /// pipe does the same: SACKed segments no longer count as in flight.
    pub fn limited_transmit(&self) -> usize {
        if self.sack || self.in_recovery {
            0
        } else {
            self.dup_acks.min(2) as usize * self.mss
        }
    }

    /// SND.UNA advanced to `ack`, `acked` bytes newly acknowledged; `sent`
    /// is what was in flight when the ACKed data left, and `srtt` the
    /// smoothed RTT.
    pub fn on_ack(&mut self, ack: SeqNum, acked: usize, sent: usize, now: Instant, srtt: Option<Duration>) -> Action {
        self.dup_acks = 0;
        if self.in_recovery {
            if ack >= self.recover {
                // Full ACK (RFC 6582 §3.2 step 3, RFC 6675 step (A)):
                // recovery is over, and the window is ssthresh (RFC 6582's
                // second option: the first, FlightSize + 1 MSS, would take
                // the flight of a moment when a whole batch of ACKs has
                // been processed and nothing sent yet, often almost none).
                self.in_recovery = false;
                self.cwnd = self.ssthresh;
                return Action::None;
            }
            if self.sack {
                return Action::None; // RFC 6675 (B): the scoreboard decides
            }
            // Partial ACK (RFC 6582 §3.2 step 4): the next hole is lost too.
            // Deflate by what was ACKed, add back one MSS, resend the hole.
            self.cwnd = self.cwnd.saturating_sub(acked).max(self.mss);
            if acked >= self.mss {
                self.cwnd += self.mss;
            }
            return Action::RetransmitFirst;
        }
        // The window grows only while it is what limits the sender (RFC 9438
        // §5.8, RFC 7661): a sender held back by the peer's window or by the
        // application shows nothing about what the network would carry, and
        // CUBIC would aim at a W_max never tried.
        if sent + self.mss <= self.cwnd {
            return Action::None;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += acked.min(self.mss); // slow start (RFC 5681 §3.1)
            return Action::None;
        }
        match &mut self.growth {
            Growth::NewReno { acked_since_growth } => {
                *acked_since_growth += acked;
                if *acked_since_growth >= self.cwnd {
                    *acked_since_growth -= self.cwnd;
                    self.cwnd += self.mss;
                }
            }
            Growth::Cubic(cubic) => {
                let rtt = srtt.unwrap_or(Duration::ZERO);
                self.cwnd = cubic.grow_bytes(self.cwnd, acked, self.mss, now, rtt);
            }
        }
        Action::None
    }

    /// Whether a recovery, fast or after a timeout, is under way: not all
    /// that was sent when it began is acknowledged yet.
    pub fn recovering(&self, snd_una: SeqNum) -> bool {
        self.in_recovery || snd_una < self.recover
    }

    /// A duplicate ACK for `ack` == SND.UNA, in RFC 5681 §2's sense, on a
    /// connection without SACK: the third starts fast retransmit. (With
    /// SACK, RACK decides what is lost and calls `on_loss`.)
    pub fn on_dup_ack(&mut self, ack: SeqNum, snd_nxt: SeqNum, flight: usize) -> Action {
        if self.in_recovery {
            if !self.sack {
                self.cwnd += self.mss; // a segment left the network (RFC 6582 step 4)
            }
            return Action::None;
        }
        self.dup_acks += 1;
        if self.dup_acks as usize >= DUP_THRESH {
            return self.on_loss(ack, snd_nxt, flight);
        }
        Action::None
    }

    /// A loss was detected with SND.UNA at `ack`: three duplicate ACKs, or
    /// RACK (RFC 8985 §9.3: RACK's first loss starts fast recovery). Only
    /// when the ACK covers all that was sent before the last recovery or
    /// timeout, or the losses may be echoes of that episode's own
    /// (RFC 6582 §3.2 step 2, RFC 6675 §5 (3)).
    pub fn on_loss(&mut self, ack: SeqNum, snd_nxt: SeqNum, flight: usize) -> Action {
        if self.in_recovery || ack < self.recover {
            return Action::None;
        }
        self.ssthresh = self.reduce(flight);
        // RFC 5681 §3.2 step 3 inflates by the three segments that left
        // the network; RFC 6675 (4.2) counts them in pipe instead.
        self.cwnd = if self.sack { self.ssthresh } else { self.ssthresh + 3 * self.mss };
        self.recover = snd_nxt;
        self.in_recovery = true;
        Action::RetransmitFirst
    }

    /// A tail loss probe repaired a loss (RFC 8985 §7.4.2): the loss is a
    /// congestion signal like any other, but it is already repaired, so
    /// the window is reduced at once and no recovery follows.
    pub fn on_probe_repaired(&mut self, flight: usize) {
        self.ssthresh = self.reduce(flight);
        self.cwnd = self.ssthresh;
        self.dup_acks = 0;
    }

    /// The retransmission timer expired (RFC 5681 §3.1, equation 4; RFC 9438
    /// §4.8): one segment at a time again, and no fast retransmit until
    /// everything sent so far is acknowledged (RFC 6582 §4, RFC 6675 §5.1).
    pub fn on_timeout(&mut self, flight: usize, snd_nxt: SeqNum) {
        self.ssthresh = self.reduce(flight);
        if let Growth::Cubic(cubic) = &mut self.growth {
            cubic.w_max = None;
        }
        self.cwnd = self.mss;
        self.dup_acks = 0;
        self.recover = snd_nxt;
        self.in_recovery = false;
    }

    /// A congestion event: the new ssthresh, from the flight size
    /// (RFC 5681 equation 4, RFC 9438 §4.6), at least two segments.
    fn reduce(&mut self, flight: usize) -> usize {
        let ssthresh = match &mut self.growth {
            Growth::NewReno { acked_since_growth } => {
                *acked_since_growth = 0;
                flight / 2
            }
            Growth::Cubic(cubic) => {
                let mss = self.mss as f64;
                (cubic.reduce(self.cwnd as f64 / mss, flight as f64 / mss) * mss) as usize
            }
        };
        ssthresh.max(2 * self.mss)
    }
}

/// RFC 9438 §4.1.1: C, which sets how fast the curve climbs.
pub const C: f64 = 0.4;
/// β_cubic: the window keeps this fraction of itself on a loss.
pub const BETA: f64 = 0.7;
/// α_cubic = 3(1 − β)/(1 + β): the additive increase that makes an AIMD
/// with CUBIC's β as fast, on average, as NewReno's AIMD(1, 0.5) (§4.3).
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC's variables (RFC 9438 §4.1.2), windows in segments and times in
/// seconds, as the RFC writes its formulas.
///
/// ```text
///   cwnd            W_cubic(t) = C·(t − K)³ + W_max
///    ^                                         .'   convex: probing
///    |                 ___________________..--'     beyond W_max
///  W_max  - - - - - -.'- - - - - - - - - - - - -
///    |            .-'   concave: back to W_max fast, then slowly
///    |          /
///  β·W_max ---'  (the loss)
///    +------------|-------------------------|-------> t
///               epoch                     epoch + K
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cubic {
    /// W_max: the window just before the last reduction (lowered by fast
    /// convergence, §4.7). `None` before any loss and after a timeout: the
    /// next congestion avoidance takes its starting window (§4.8).
    w_max: Option<f64>,
    /// cwnd_prior: the window just before the last reduction.
    cwnd_prior: f64,
    /// t_epoch: when the current congestion avoidance stage began.
    epoch: Option<Instant>,
    /// K: how long the curve takes from the epoch back to W_max.
    k: f64,
    /// W_est: the window NewReno's AIMD would have by now (§4.3).
    w_est: f64,
    /// Growth, in bytes, too small yet to add to cwnd.
    carry: f64,
}

impl Cubic {
    /// W_cubic(t) = C·(t − K)³ + W_max (§4.2, Figure 1).
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max.unwrap_or(0.0)
    }

    /// K = ∛((W_max − cwnd_epoch) / C) (§4.2, Figure 2); 0 when the stage
    /// starts at or above W_max.
    pub fn k(w_max: f64, cwnd_epoch: f64) -> f64 {
        if cwnd_epoch >= w_max {
            0.0
        } else {
            ((w_max - cwnd_epoch) / C).cbrt()
        }
    }

    /// Congestion avoidance: an ACK of `acked` segments arrived at `now`
    /// with the window at `cwnd`; returns the new window (§4.2 – §4.5).
    pub fn grow(&mut self, cwnd: f64, acked: f64, now: Instant, rtt: Duration) -> f64 {
        let epoch = match self.epoch {
            Some(epoch) => epoch,
            None => {
                // A new stage: the curve starts at the current window.
                let w_max = *self.w_max.get_or_insert(cwnd);
                self.k = Cubic::k(w_max, cwnd);
                self.w_est = cwnd;
                self.carry = 0.0;
                *self.epoch.insert(now)
            }
        };
        let t = (now - epoch).as_secs_f64();
        // §4.3: W_est grows as NewReno's window would, at α_cubic per
        // round trip, and at 1 once past the window before the loss.
        let alpha = if self.w_est >= self.cwnd_prior { 1.0 } else { ALPHA };
        self.w_est += alpha * acked / cwnd;
        if self.w_cubic(t) < self.w_est {
            // The Reno-friendly region: short RTTs, where AIMD is faster.
            return self.w_est.max(cwnd);
        }
        // §4.4, §4.5: aim at where the curve will be one RTT from now, but
        // no faster than slow start (1.5×) and never shrinking.
        let target = self.w_cubic(t + rtt.as_secs_f64()).clamp(cwnd, 1.5 * cwnd);
        cwnd + (target - cwnd) / cwnd * acked
    }

    /// `grow` in bytes: fractions of a byte are carried to the next ACK,
    /// since near W_max the curve adds less than a byte per ACK.
    fn grow_bytes(&mut self, cwnd: usize, acked: usize, mss: usize, now: Instant, rtt: Duration) -> usize {
        let mss_f = mss as f64;
        let next = self.grow(cwnd as f64 / mss_f, acked as f64 / mss_f, now, rtt) * mss_f;
        self.carry += next - cwnd as f64;
        let whole = self.carry.floor();
        self.carry -= whole;
        cwnd + whole as usize
    }

    /// A congestion event with the window at `cwnd` and `flight` in flight
    /// (§4.6, §4.7); returns the new ssthresh. A new stage starts with the
    /// next congestion avoidance.
    pub fn reduce(&mut self, cwnd: f64, flight: f64) -> f64 {
        // Fast convergence: a loss below the last W_max means the share of
        // this flow is shrinking; aim lower, and leave room to newcomers.
        self.w_max = Some(match self.w_max {
            Some(w_max) if cwnd < w_max => cwnd * (1.0 + BETA) / 2.0,
            _ => cwnd,
        });
        self.cwnd_prior = cwnd;
        self.epoch = None;
        flight * BETA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const T0: Instant = Instant::ZERO;

    fn newreno(sack: bool) -> Congestion {
        Congestion::new(Algorithm::NewReno, MSS, SeqNum(0), sack)
    }

    #[test]
    fn initial_window_follows_rfc_6928() {
        let window = |mss| Congestion::new(Algorithm::NewReno, mss, SeqNum(0), false).window();
        assert_eq!(window(1460), 14600);
        assert_eq!(window(536), 5360);
        assert_eq!(window(65495), 2 * 65495);
    }

    #[test]
    fn slow_start_then_congestion_avoidance() {
        let mut cc = newreno(false);
        let start = cc.window();
        cc.on_ack(SeqNum(1000), 1000, start, T0, None);
        assert_eq!(cc.window(), start + MSS);
        cc.on_ack(SeqNum(2000), 1000, 1000, T0, None);
        assert_eq!(cc.window(), start + MSS, "no growth when the window is not what limits");
        cc.on_timeout(20 * MSS, SeqNum(30_000));
        assert_eq!((cc.window(), cc.ssthresh()), (MSS, 10 * MSS));
        for i in 0..9 {
            cc.on_ack(SeqNum(31_000 + i * 1000), 1000, cc.window(), T0, None);
        }
        assert_eq!(cc.window(), 10 * MSS);
        // Now in congestion avoidance: a whole window of ACKs adds one MSS.
        for i in 0..10 {
            cc.on_ack(SeqNum(40_000 + i * 1000), 1000, cc.window(), T0, None);
        }
        assert_eq!(cc.window(), 11 * MSS);
    }

    #[test]
    fn three_dup_acks_then_partial_and_full_ack() {
        let mut cc = newreno(false);
        let una = SeqNum(1);
        let max = SeqNum(10_001);
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::None);
        assert_eq!(cc.limited_transmit(), MSS, "RFC 3042: one new segment on the first duplicate");
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::None);
        assert_eq!(cc.limited_transmit(), 2 * MSS);
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::RetransmitFirst);
        assert_eq!(cc.window(), 5000 + 3000);
        assert_eq!(cc.limited_transmit(), 0);
        cc.on_dup_ack(una, max, 10_000);
        assert_eq!(cc.window(), 9000);
        assert_eq!(cc.on_ack(SeqNum(3001), 3000, 7000, T0, None), Action::RetransmitFirst);
        assert!(cc.in_recovery());
        assert_eq!(cc.on_ack(max, 7000, 0, T0, None), Action::None);
        assert!(!cc.in_recovery());
        assert_eq!(cc.window(), 5000, "deflated to ssthresh");
    }

    #[test]
    fn with_sack_the_window_is_ssthresh_and_partial_acks_resend_nothing() {
        let mut cc = newreno(true);
        let (una, max) = (SeqNum(1), SeqNum(10_001));
        assert_eq!(cc.on_dup_ack(una, max, 10_000), Action::None);
        assert_eq!(cc.limited_transmit(), 0, "pipe does limited transmit with SACK");
        // RACK's loss enters recovery before the third duplicate.
        assert_eq!(cc.on_loss(una, max, 10_000), Action::RetransmitFirst);
        assert_eq!(cc.window(), 5000);
        assert!(cc.recovering(una));
        cc.on_dup_ack(una, max, 10_000);
        assert_eq!(cc.window(), 5000, "no inflation");
        assert_eq!(cc.on_ack(SeqNum(3001), 3000, 7000, T0, None), Action::None);
        assert_eq!(cc.on_ack(max, 7000, 0, T0, None), Action::None);
        assert!(!cc.in_recovery());
        assert_eq!(cc.window(), 5000);
    }

    #[test]
    fn no_second_fast_retransmit_below_the_recovery_point() {
        let mut cc = newreno(false);
        cc.on_timeout(10_000, SeqNum(10_001));
        for _ in 0..3 {
            assert_eq!(cc.on_dup_ack(SeqNum(5001), SeqNum(10_001), 5000), Action::None);
        }
        assert_eq!(cc.on_loss(SeqNum(5001), SeqNum(10_001), 5000), Action::None);
        assert!(cc.recovering(SeqNum(5001)) && !cc.recovering(SeqNum(10_001)));
    }

    // CUBIC against RFC 9438's formulas, in segments and seconds.

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn cubic_constants() {
        assert!(close(ALPHA, 9.0 / 17.0));
        assert!(close(BETA, 0.7) && close(C, 0.4));
    }

    #[test]
    fn cubic_k_and_the_curve_pass_through_the_epoch_window_and_w_max() {
        // A loss at 100 segments: W_max 100, the stage starts at 70.
        let mut cubic = Cubic::default();
        assert!(close(cubic.reduce(100.0, 100.0), 70.0));
        cubic.grow(70.0, 1.0, T0, Duration::ZERO);
        let k = (30.0f64 / 0.4).cbrt();
        assert!(close(cubic.k, k), "K = {}", cubic.k);
        assert!(close(Cubic::k(100.0, 70.0), 4.217163326508746));
        assert!(close(cubic.w_cubic(0.0), 70.0), "W_cubic(0) = cwnd_epoch");
        assert!(close(cubic.w_cubic(k), 100.0), "W_cubic(K) = W_max");
        assert!(close(cubic.w_cubic(k + 2.0), 100.0 + 0.4 * 8.0), "convex beyond K");
        assert!(close(cubic.w_cubic(k - 1.0), 100.0 - 0.4), "concave before K");
        assert_eq!(Cubic::k(50.0, 60.0), 0.0, "a stage above W_max starts at K = 0");
    }

    #[test]
    fn cubic_fast_convergence_lowers_w_max() {
        let mut cubic = Cubic::default();
        cubic.reduce(100.0, 100.0);
        assert_eq!(cubic.w_max, Some(100.0));
        // The next loss comes below W_max: W_max = cwnd·(1 + β)/2.
        assert!(close(cubic.reduce(90.0, 80.0), 56.0), "ssthresh = flight·β");
        assert!(close(cubic.w_max.unwrap(), 90.0 * 0.85));
        // A loss above W_max just records the window.
        cubic.reduce(120.0, 120.0);
        assert_eq!(cubic.w_max, Some(120.0));
    }

    #[test]
    fn cubic_follows_w_cubic_on_a_long_rtt() {
        // RTT 100 ms: the curve is faster than AIMD. One ACK per segment.
        let rtt = Duration::from_millis(100);
        let mut cubic = Cubic::default();
        cubic.reduce(100.0, 100.0);
        let mut cwnd = 70.0;
        let mut now = T0;
        let k = Cubic::k(100.0, 70.0);
        while now.total_micros() < (k * 1e6) as u64 {
            for _ in 0..cwnd as usize {
                cwnd = cubic.grow(cwnd, 1.0, now, rtt);
            }
            now += rtt;
        }
        // Every ACK aims at W_cubic(t + RTT): by K the window is at W_max.
        assert!((cwnd - 100.0).abs() < 1.0, "cwnd {cwnd} at t = K");
        assert!(cubic.w_est < cwnd, "not in the Reno-friendly region");
    }

    #[test]
    fn cubic_is_never_slower_than_reno_on_a_short_rtt() {
        // RTT 1 ms: W_cubic hardly moves in 100 round trips, while W_est
        // grows by α_cubic per round trip, and by 1 once past the window
        // before the loss (cwnd_prior = 100); cwnd follows W_est (the
        // Reno-friendly region).
        let rtt = Duration::from_millis(1);
        let mut cubic = Cubic::default();
        cubic.reduce(100.0, 100.0);
        let mut cwnd = 70.0;
        let mut now = T0;
        for _ in 0..100 {
            let acks = cwnd as usize;
            let before = cwnd;
            for _ in 0..acks {
                cwnd = cubic.grow(cwnd, 1.0, now, rtt);
            }
            let alpha = if before >= 100.0 { 1.0 } else { ALPHA };
            // One round trip: `acks` ACKs of α/cwnd each.
            let expected = alpha * acks as f64 / before;
            assert!((cwnd - before - expected).abs() < 0.05 || before < 100.0 && cwnd > 100.0, "{before} -> {cwnd}");
            now += rtt;
        }
        assert!(close(cwnd, cubic.w_est) && cubic.w_cubic(0.1) < cwnd, "{cwnd} {}", cubic.w_est);
        assert!(cwnd > 100.0 + 40.0 * 0.95, "{cwnd}");
    }

    #[test]
    fn cubic_after_a_timeout_starts_the_curve_at_the_window_it_reaches() {
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, SeqNum(0), true);
        cc.on_timeout(100 * MSS, SeqNum(100_000));
        assert_eq!((cc.window(), cc.ssthresh()), (MSS, 70 * MSS), "ssthresh = flight·β_cubic");
        // Slow start up to ssthresh, then a new stage with K = 0, W_max = 70.
        let mut ack = 100_000;
        while cc.window() < cc.ssthresh() {
            ack += MSS as u32;
            cc.on_ack(SeqNum(ack), MSS, cc.window(), T0, None);
        }
        cc.on_ack(SeqNum(ack + 1000), MSS, cc.window(), T0, None);
        let Growth::Cubic(cubic) = &cc.growth else { unreachable!() };
        assert_eq!((cubic.w_max, cubic.k), (Some(70.0), 0.0));
    }

    #[test]
    fn cubic_congestion_event_uses_beta() {
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, SeqNum(0), true);
        let (una, max) = (SeqNum(1), SeqNum(100_001));
        for _ in 0..3 {
            cc.on_dup_ack(una, max, 100 * MSS);
        }
        assert!(cc.in_recovery());
        assert_eq!((cc.window(), cc.ssthresh()), (70 * MSS, 70 * MSS));
    }
}
