//! The fifth check of SEGMENT ARRIVES (RFC 9293 §3.10.7.4, "fifth, check
//! the ACK field") for ESTABLISHED and the states that do the same: what
//! the peer acknowledged moves SND.UNA and frees the send buffer; it gives
//! a round-trip sample (RFC 6298, RFC 7323 §4), updates the send window
//! (SND.WND, SND.WL1, SND.WL2), what the peer SACKed (RFC 2018, RFC 6675),
//! what is lost (RACK, RFC 8985, or three duplicate ACKs without SACK, RFC
//! 5681), and the congestion window (`congestion.rs`).
//!
//! It is called from `arrival.rs`; the timer it sets is in `timers.rs`,
//! and the segments it asks for leave in `output.rs`.

use super::{Context, Tcb};
use crate::tcp::congestion::Action;
use crate::tcp::Ready;
use crate::time::Duration;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpRepr};

impl Tcb {
    /// The ACK processing of §3.10.7.4 "fifth" for ESTABLISHED and the
    /// states that do the same. Returns false when the segment is dropped.
    pub(super) fn process_ack(&mut self, cx: &mut Context, repr: &TcpRepr, payload_len: usize) -> bool {
        let ack = repr.ack_number;
        // "If the ACK acks something not yet sent, send an ACK, drop it."
        // RFC 5961 §5: also drop ACKs too far behind to be honest; the ACK
        // we send is a challenge ACK, under its budget.
        if ack > self.snd.nxt || ack < SeqNum(self.snd.una.0.wrapping_sub(self.snd.max_wnd as u32)) {
            self.challenge_ack(cx);
            return false;
        }
        let window_changed = self.peer_window(repr) != self.snd.wnd;
        // A duplicate ACK in the sense of RFC 5681 §2.
        let same_ack = ack == self.snd.una
            && self.snd.nxt > self.snd.una
            && payload_len == 0
            && !repr.flags.contains(Flags::SYN)
            && !repr.flags.contains(Flags::FIN)
            && !window_changed;
        let advanced = ack > self.snd.una;
        let was_recovering = self.cc.recovering(self.snd.una);
        if advanced {
            self.on_new_ack(cx, repr);
        }
        let dsack = self.update_scoreboard(cx, repr);
        let mut reordering = None;
        if self.options.sack_permitted {
            // RFC 8985 §6.2 step 4, and §7.4.2: what this ACK says of the
            // reordering window and of the loss probe.
            let recovery_ended = was_recovering && !self.cc.recovering(self.snd.una);
            self.rack.on_ack(dsack.is_some(), self.snd.una, self.snd.nxt, recovery_ended);
            let plain_dup_ack = same_ack && repr.options.sack_blocks[0].is_none();
            if self.tlp.on_ack(ack, dsack, plain_dup_ack) {
                cx.counters.tlp_recoveries += 1;
                self.cc.on_probe_repaired(self.snd.nxt - self.snd.una);
            }
            if self.rack.take_advanced() {
                reordering = self.detect_losses(cx);
            }
        } else if same_ack {
            self.on_duplicate_ack(cx);
        }
        self.set_timer_after_ack(cx.now, advanced, reordering);
        if self.snd.wnd == 0 && ack == self.snd.una {
            self.peer_progressed(); // the peer answers our window probes: it is alive
        }
        // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
        // updated", from the newest segment only: not an old ACK, however
        // new its sequence number. (SND.UNA is SEG.ACK by now if it moved.)
        let newest = self.snd.wl1 < repr.seq_number || (self.snd.wl1 == repr.seq_number && self.snd.wl2 <= ack);
        if self.snd.una <= ack && newest {
            self.update_window(repr);
        }
        true
    }

    /// SND.UNA < SEG.ACK: data, SYN or FIN newly acknowledged.
    fn on_new_ack(&mut self, cx: &mut Context, repr: &TcpRepr) {
        let ack = repr.ack_number;
        self.rtt_sample(cx, repr);
        let acked = ack - self.snd.una;
        let data_acked = (ack.min(self.tx_end()).max(self.tx_start)) - self.tx_start;
        self.tx.release(data_acked);
        self.tx_start += data_acked;
        // RACK hears of each part newly delivered (RFC 8985 §6.2 steps 2
        // and 3); what was SACKed was delivered already, when it was SACKed.
        let (sack, rack, now) = (&self.sack, &mut self.rack, cx.now);
        self.sent.acked(ack, &mut |from, to, run| {
            let mut at = from;
            while let Some((_, end)) = sack.next_unsacked(at, to) {
                rack.delivered(now, end, run);
                at = end;
            }
        });
        self.snd.una = ack;
        // Urgent mode is over once the urgent data is acknowledged
        // (§3.8.5); SND.UP moves along, lest it fall 2^31 behind, where
        // the modular order would put it ahead again.
        self.snd.up = self.snd.up.max(ack);
        self.peer_progressed();
        // What was in flight when the ACKed data left: the ACKs of one batch
        // are all processed before anything more is sent.
        let sent = (self.snd.nxt - self.snd.una + acked).max(self.flight_sent);
        if self.cc.on_ack(ack, acked, sent, cx.now, self.rtt.srtt()) == Action::RetransmitFirst {
            self.presume_first_lost();
        }
        if self.tx_blocked && data_acked > 0 {
            self.tx_blocked = false;
            self.ready |= Ready::WRITABLE;
        }
    }

    /// RFC 6675's Update(): record what the ACK's SACK option says the peer
    /// holds, and tell RACK of each range SACKed for the first time.
    /// Returns the ACK's D-SACK block, if any.
    fn update_scoreboard(&mut self, cx: &mut Context, repr: &TcpRepr) -> Option<(SeqNum, SeqNum)> {
        let blocks = &repr.options.sack_blocks;
        if !self.options.sack_permitted {
            // Not negotiated: a peer that sends blocks anyway is not heard.
            cx.counters.sack_blocks_ignored += blocks.iter().flatten().count() as u64;
            return None;
        }
        if blocks[0].is_none() && self.sack.is_empty() {
            return None; // the common case: nothing to learn, nothing to forget
        }
        let limit = cx.config.max_sack_blocks;
        let (sent, rack, now) = (&self.sent, &mut self.rack, cx.now);
        let update = self.sack.update(blocks, repr.ack_number, self.snd.una, self.snd.nxt, limit, &mut |from, to| {
            sent.pieces(from, to, &mut |end, run| rack.delivered(now, end, run));
        });
        cx.counters.sack_blocks_ignored += u64::from(update.ignored);
        cx.counters.dsack_blocks += u64::from(update.dsack.is_some());
        if self.sack.reneged(self.snd.una) {
            // RFC 2018 §8: the receiver discarded what it had SACKed. Forget
            // every report, so that the data is sent again.
            self.sack.clear();
        }
        update.dsack
    }

    /// RACK's loss detection (RFC 8985 §6.2 step 5), after an ACK that
    /// delivered something or when the reordering timer fires: the one
    /// place that decides what is lost on a connection with SACK. The first
    /// loss starts fast recovery (§9.3), which ends any probe's episode.
    /// Returns how long until a segment's reordering window closes.
    pub(super) fn detect_losses(&mut self, cx: &mut Context) -> Option<Duration> {
        let reo_wnd = self.reo_wnd();
        let (lost, reordering) = self.rack.detect_loss(cx.now, reo_wnd, &mut self.sent, &self.sack, self.snd_mss);
        if lost > 0 {
            cx.counters.rack_losses += lost as u64;
            let flight = (self.snd.nxt - self.snd.una).max(self.flight_sent);
            if self.cc.on_loss(self.snd.una, self.snd.nxt, flight) == Action::RetransmitFirst {
                cx.counters.fast_retransmits += 1;
                self.tlp.end_episode();
                self.retransmit_first = true;
            }
        }
        reordering
    }

    /// RACK.reo_wnd now (RFC 8985 §6.2 step 4).
    pub(super) fn reo_wnd(&self) -> Duration {
        let recovering = self.cc.recovering(self.snd.una);
        self.rack.reo_wnd(recovering, self.sack.dup_thresh_sacked(self.snd_mss), self.rtt.srtt())
    }

    /// Without SACK, a duplicate ACK: the third starts fast retransmit.
    fn on_duplicate_ack(&mut self, cx: &mut Context) {
        // FlightSize as it was when the peer sent these ACKs: the ACKs of
        // one batch are all processed before anything is sent (MUST-59), so
        // the window a cumulative ACK among them opened is not refilled yet.
        let flight = (self.snd.nxt - self.snd.una).max(self.flight_sent);
        if self.cc.on_dup_ack(self.snd.una, self.snd.nxt, flight) == Action::RetransmitFirst {
            cx.counters.fast_retransmits += 1;
            self.presume_first_lost();
        }
    }

    /// Fast retransmit without SACK (RFC 5681 §3.2), a partial ACK in
    /// NewReno's recovery (RFC 6582 §3.2 step 4), or the peer's SYN again:
    /// the first unacknowledged segment is presumed lost and goes at once.
    pub(super) fn presume_first_lost(&mut self) {
        let end = self.snd.una + self.segment_size().min(self.snd.nxt - self.snd.una);
        self.sent.mark_lost(self.snd.una, end);
        self.retransmit_first = true;
    }

    /// `repr` advances SND.UNA (not yet updated): measure the round trip
    /// (RFC 6298). With timestamps every such ACK is a sample, from the
    /// TSval it echoes, even for retransmitted data: the echo tells which
    /// copy arrived (RFC 7323 §4); as a window brings several, each counts
    /// for less (Appendix G: one per two segments, for delayed ACKs).
    /// Without them, only the timed segment, never retransmitted (Karn).
    pub(super) fn rtt_sample(&mut self, cx: &Context, repr: &TcpRepr) {
        let timed = self.rtt_timing.filter(|&(end, _)| repr.ack_number >= end);
        if timed.is_some() {
            self.rtt_timing = None;
        }
        if self.options.timestamps {
            if let Some(r) = repr.options.timestamps.and_then(|ts| self.ts.rtt(cx.now, ts.tsecr)) {
                let flight = self.snd.nxt - self.snd.una;
                self.rtt.sample_of(r, flight.div_ceil(2 * self.snd_mss) as u32);
                self.rack.rtt_sample(r);
            }
        } else if let Some((_, sent)) = timed {
            self.rtt.sample(cx.now - sent);
            self.rack.rtt_sample(cx.now - sent);
        }
    }

    /// SND.WND from `repr`, and SND.WL1, SND.WL2 to remember which segment
    /// set it (§3.10.7.4 "fifth").
    pub(super) fn update_window(&mut self, repr: &TcpRepr) {
        self.snd.wnd = self.peer_window(repr);
        self.snd.wl1 = repr.seq_number;
        self.snd.wl2 = repr.ack_number;
        self.snd.max_wnd = self.snd.max_wnd.max(self.snd.wnd);
    }

    /// Window scaling, receiving side: the window a segment offers, in
    /// bytes (SND.WND = SEG.WND << Snd.Wind.Shift; a SYN's is never scaled).
    fn peer_window(&self, repr: &TcpRepr) -> usize {
        let shift = if repr.flags.contains(Flags::SYN) { 0 } else { self.options.snd_shift() };
        usize::from(repr.window_len) << shift
    }
}
