//! Timeouts (RFC 9293 §3.10.8). One retransmission timer serves three
//! uses, at most one at a time (RFC 8985 §8, `RtxTimer`): the
//! retransmission timeout of RFC 6298 (or, with nothing in flight and the
//! peer's window shut, the zero-window probe of §3.8.6.1), RACK's
//! reordering window, and the tail loss probe. Besides it, the delayed
//! ACK (§3.8.6.3) and the limit on an orphaned FIN-WAIT-2. R2, after
//! which the connection gives up (§3.8.3), is the retry limit of
//! `on_retransmission_timeout`, or the application's user timeout, a
//! timer of its own (`user_deadline`); TIME-WAIT's 2·MSL is kept by the
//! stack, not the TCB (`tcp/time_wait.rs`).
//!
//! What a timer decides to send leaves in `output.rs`, the next file.

use super::{Context, RtxTimer, Tcb};
use crate::tcp::rack::Tlp;
use crate::tcp::state::State;
use crate::tcp::Error;
use crate::time::{Duration, Instant};

impl Tcb {
    /// The earliest moment a timer of this connection fires.
    pub fn poll_at(&self) -> Option<Instant> {
        let timers = [self.delayed_ack, self.fin_wait_2_timer, self.user_deadline()];
        self.rtx_timer.map(|(at, _)| at).into_iter().chain(timers.into_iter().flatten()).min()
    }

    /// R2 as the application set it (MUST-21): when the connection gives
    /// up, if it is synchronized and waits on the peer.
    fn user_deadline(&self) -> Option<Instant> {
        let timeout = self.user_timeout.filter(|_| self.state.is_synchronized())?;
        Some(self.stalled_since? + timeout)
    }

    /// We wait on the peer (data in flight, or a window probe): the user
    /// timeout runs from now, unless it already runs. (Not for the SYN:
    /// its R2 is `syn_deadline`.)
    pub(super) fn stalled(&mut self, now: Instant) {
        if self.state.is_synchronized() {
            self.stalled_since.get_or_insert(now);
        }
    }

    /// The peer acknowledged new data, or answered a window probe: R2
    /// counts afresh.
    pub(super) fn peer_progressed(&mut self) {
        self.retries = 0;
        self.stalled_since = None;
    }

    /// Fire the timers that are due.
    pub fn on_timer(&mut self, cx: &mut Context) {
        self.fire_timers(cx);
        self.sample(cx);
    }

    fn fire_timers(&mut self, cx: &mut Context) {
        let now = cx.now;
        if self.user_deadline().is_some_and(|t| t <= now) {
            cx.counters.connections_timed_out += 1;
            self.fail(cx, Error::TimedOut, "user timeout");
            return;
        }
        if self.delayed_ack.is_some_and(|t| t <= now) {
            self.delayed_ack = None;
            self.ack_now = true;
        }
        if self.fin_wait_2_timer.is_some_and(|t| t <= now) {
            self.fin_wait_2_timer = None;
            self.set_state(cx, State::Closed, "FIN-WAIT-2 timeout");
        }
        if let Some((_, timer)) = self.rtx_timer.filter(|&(at, _)| at <= now) {
            self.rtx_timer = None;
            match timer {
                RtxTimer::Retransmission => self.on_retransmission_timeout(cx),
                // RFC 8985 §6.2 step 5 again, now the window has passed.
                RtxTimer::Reordering => match self.detect_losses(cx) {
                    Some(wait) => self.rtx_timer = Some((now + wait, RtxTimer::Reordering)),
                    None => self.restart_timer(now),
                },
                // RFC 8985 §7.3: probe, unless an ACK since made TLP moot.
                RtxTimer::LossProbe if self.tlp_allowed() => self.loss_probe = true,
                RtxTimer::LossProbe => self.restart_timer(now),
            }
        }
    }

    /// RFC 6298 §5.4–5.7: back off, tell the application at R1, and after
    /// too many tries in a row (for the SYN, too long) give up (§3.8.3,
    /// R2). What is presumed lost is sent again from SND.UNA, a window at a
    /// time from one segment, skipping what the peer SACKed (RFC 6675
    /// §5.1): without SACK everything outstanding, with it the first
    /// segment and those RACK's clock has run out for (RFC 8985 §6.3).
    /// With nothing outstanding it was the zero-window probe timer: a probe
    /// goes, and unanswered probes count as tries too (an answer resets
    /// them, `process_ack`: the connection stays open while the peer
    /// answers, MUST-37).
    fn on_retransmission_timeout(&mut self, cx: &mut Context) {
        let in_flight = self.snd.nxt - self.snd.una;
        if in_flight > 0 {
            cx.counters.rto_expirations += 1;
        }
        self.retries += 1;
        // R2 (§3.8.3): for data, a number of retransmissions, unless the
        // application set a time (`user_deadline`); for the SYN, a time, as
        // MUST-23 states it (`Config::syn_timeout`).
        let give_up = if self.state.is_synchronized() {
            self.user_timeout.is_none() && self.retries > cx.config.max_retries
        } else {
            cx.now >= self.syn_deadline
        };
        if give_up {
            cx.counters.connections_timed_out += 1;
            // An ICMP error that came meanwhile says why (§3.9.2.2).
            self.fail(cx, self.icmp_error.unwrap_or(Error::TimedOut), "retransmission limit reached");
            return;
        }
        // R1 (§3.8.3 (e), SHLD-9): tell the application, once for each
        // segment (an ACK of progress sets `retries` back to 0).
        if self.retries == cx.config.r1_retries {
            self.report_soft_error(Error::Retrying);
        }
        self.rtt.back_off();
        if in_flight == 0 {
            self.window_probe = true;
            return;
        }
        self.cc.on_timeout(in_flight, self.snd.nxt);
        self.rtt_timing = None; // Karn: never time a retransmitted segment
        self.tlp.end_episode();
        if self.options.sack_permitted {
            self.rack.mark_losses_on_rto(cx.now, self.reo_wnd(), &mut self.sent);
        } else {
            self.sent.mark_lost(self.snd.una, self.snd.nxt);
        }
        // §5.4: the earliest segment goes now, whatever the segments not
        // presumed lost leave of the one-segment window; §5.5: the timer
        // restarts, backed off.
        self.retransmit_first = true;
        self.rtx_timer = Some((cx.now + self.rtt.rto(), RtxTimer::Retransmission));
    }

    /// The timer after an ACK (RFC 8985 §8: arming one kind cancels the
    /// others): RACK's reordering timer if a segment's reordering window is
    /// still open; else, when SND.UNA advanced, the loss probe or the
    /// retransmission timer anew (RFC 6298 §5.3); else the retransmission
    /// timer keeps running, and a probe timer that TLP no longer allows
    /// (SACK blocks came) becomes one.
    pub(super) fn set_timer_after_ack(&mut self, now: Instant, advanced: bool, reordering: Option<Duration>) {
        if let Some(wait) = reordering {
            self.rtx_timer = Some((now + wait, RtxTimer::Reordering));
        } else if advanced || !matches!(self.rtx_timer, Some((_, RtxTimer::Retransmission)) | None) {
            self.restart_timer(now);
        }
    }

    /// Start the timer for what is in flight: the probe timeout where TLP
    /// may probe (RFC 8985 §7.2), else the retransmission timeout; none
    /// when all is acknowledged (RFC 6298 §5.2).
    pub(super) fn restart_timer(&mut self, now: Instant) {
        self.rtx_timer = if self.snd.nxt == self.snd.una {
            None
        } else if self.tlp_allowed() {
            let one_segment = self.snd.nxt - self.snd.una <= self.snd_mss;
            Some((now + Tlp::pto(self.rtt.srtt(), one_segment, self.rtt.rto()), RtxTimer::LossProbe))
        } else {
            Some((now + self.rtt.rto(), RtxTimer::Retransmission))
        };
    }

    /// RFC 8985 §7.2: a loss probe may be scheduled with SACK, data in
    /// flight, no recovery under way, no probe unanswered, and nothing
    /// SACKed (then RACK's own timer watches the flight).
    pub(super) fn tlp_allowed(&self) -> bool {
        self.options.sack_permitted
            && self.state.is_synchronized()
            && self.snd.nxt > self.snd.una
            && !self.cc.recovering(self.snd.una)
            && self.sack.is_empty()
            && !self.tlp.in_episode()
    }
}
