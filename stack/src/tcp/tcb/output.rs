//! Segments leave: after every event the stack calls `dispatch`, which
//! sends what `next_segment` chooses (the SYN, a retransmission, a loss
//! probe, new data, the FIN), then a window probe or any ACK owed. Every
//! header is built by `header`: our sequence number, RCV.NXT, the window
//! we advertise (`receive_window`, §3.8.6), the urgent pointer and the
//! options.
//!
//! This is the last part of the TCB; `tcp/congestion.rs` and
//! `tcp/rack.rs` say how much may be in flight and what is lost.

use super::{Context, Outgoing, RtxTimer, Tcb, DEFAULT_MSS};
use crate::tcp::options::MAX_UNSCALED_WINDOW;
use crate::tcp::state::State;
use crate::tcp::story::{By, Dir, Record, SegmentKind};
use crate::time::Instant;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

impl Tcb {
    /// Send what `next_segment` chooses, for as long as it chooses, then a
    /// zero window's probe if its timer fired, then any ACK that is owed.
    pub fn dispatch(&mut self, cx: &mut Context, emit: &mut dyn FnMut(&Tcb, Outgoing)) {
        if matches!(self.state, State::Closed | State::TimeWait) {
            return;
        }
        let (mut sent, mut sent_new, mut probed) = (false, false, false);
        // Nothing that sets the segment size changes while segments leave.
        let full = self.segment_size();
        self.sent.new_burst();
        while let Some((seq, len, probe)) = self.next_segment(full) {
            let resent = seq < self.snd.nxt;
            let kind = match (probe, resent) {
                (true, _) => SegmentKind::LossProbe,
                (false, true) => SegmentKind::Retransmission,
                (false, false) => SegmentKind::Normal,
            };
            let end = self.emit_segment(cx, seq, len, kind, emit);
            self.sent.sent(seq, end, cx.now);
            if probe {
                cx.counters.tlp_probes += 1;
                self.tlp.sent(self.snd.nxt.max(end), resent);
            } else if resent {
                cx.counters.retransmissions += 1;
            }
            if !resent && self.rtt_timing.is_none() {
                self.rtt_timing = Some((end, cx.now));
            } else if resent && self.rtt_timing.is_some_and(|(timed, _)| seq < timed) {
                // Karn (RFC 6298 §3): the ACK of the timed segment may now
                // be waiting for this retransmission.
                self.rtt_timing = None;
            }
            // A queued FIN rides along when it follows the last data byte
            // and fits in the window.
            self.snd.nxt = self.snd.nxt.max(end);
            sent = true;
            sent_new |= !resent && !probe;
            probed |= probe;
        }
        let waiting = self.tx_end() > self.snd.nxt || (self.fin_queued && self.snd.nxt <= self.tx_end());
        let zero_window = waiting && self.state.is_synchronized() && self.snd.wnd == 0;
        if std::mem::take(&mut self.window_probe) && zero_window && self.snd.nxt == self.snd.una {
            // The zero-window probe (§3.8.6.1), as Linux sends it: no data,
            // the old sequence number SND.UNA − 1. Outside the peer's
            // window, it must be answered with an ACK and the window
            // (§3.10.7.4 "first"); taking no sequence number, it leaves
            // SND.NXT at the peer's RCV.NXT, the one number a shut window
            // accepts, so the peer still hears every ACK we send. (A byte
            // of new data would move SND.NXT past the window for good.)
            let probe = self.header(cx, self.snd.una - 1, Flags::ACK);
            self.transmit(cx, probe, 0, 0, (SegmentKind::WindowProbe, By::Dispatch), emit);
            sent = true;
        }
        if probed {
            // One probe per episode; then the retransmission timer (RFC
            // 8985 §7.3).
            self.rtx_timer = Some((cx.now + self.rtt.rto(), RtxTimer::Retransmission));
        } else if sent_new && self.tlp_allowed() {
            self.restart_timer(cx.now); // new data: the probe timer anew (§7.2)
        }
        let owed = std::mem::take(&mut self.dup_acks_owed);
        for &sack_blocks in &owed {
            let mut ack = self.header(cx, self.snd.nxt, Flags::ACK);
            ack.options.sack_blocks = sack_blocks;
            self.transmit(cx, ack, 0, 0, (SegmentKind::Normal, By::Dispatch), emit);
        }
        let challenge = std::mem::take(&mut self.challenge_owed);
        if owed.is_empty() && !sent && self.ack_now {
            let ack = self.header(cx, self.snd.nxt, Flags::ACK);
            let kind = if challenge { SegmentKind::ChallengeAck } else { SegmentKind::Normal };
            self.transmit(cx, ack, 0, 0, (kind, By::Dispatch), emit);
        }
        self.flight_sent = self.snd.nxt - self.snd.una;
        if waiting && self.sent.is_full() {
            cx.counters.sent_log_full += 1; // data waits for ACKs to free runs of the log
        }
        // While data is outstanding a timer runs (RFC 6298 §5.1); with a
        // zero window, data waiting and nothing in flight, the probe timer
        // (§3.8.6.1), with the retransmission timer's backoff.
        if self.snd.nxt > self.snd.una || zero_window {
            self.stalled(cx.now);
            if self.rtx_timer.is_none() {
                self.rtx_timer = Some((cx.now + self.rtt.rto(), RtxTimer::Retransmission));
            }
        }
    }

    /// What to send next, as (first sequence number, data bytes, whether it
    /// is a loss probe), or `None`; `full` is `segment_size()`. The one place
    /// where the sender chooses between sending again and sending new; in
    /// this order:
    ///
    /// 0. our FIN again, in place of the ACK owed for the peer's FIN, in
    ///    CLOSING and LAST-ACK;
    /// 1. the SYN (§3.10.1), or SYN,ACK in SYN-RECEIVED;
    /// 2. the first segment presumed lost and not resent yet, at once,
    ///    whatever cwnd says, when fast retransmit (RFC 5681 §3.2, RFC 6675
    ///    (4.3), RACK's first loss), a partial ACK in NewReno's recovery
    ///    (RFC 6582 §3.2) or a retransmitted SYN asks for it;
    /// 3. a loss probe when its timer fired, whatever cwnd says (RFC 8985
    ///    §7.3): new data if the peer's window takes it, else the last
    ///    segment again;
    /// 4. the first lost segment not resent yet (RFC 6675's NextSeg() rule
    ///    1, lost as RACK or the timer says), if cwnd − pipe holds it;
    /// 5. new data within cwnd − pipe and the peer's window (NextSeg() rule
    ///    2), as Nagle and silly window avoidance allow, then the FIN, when
    ///    the window has room for it (`fin_fits`).
    ///
    /// A zero window's probe is no segment of the stream: `dispatch` sends
    /// it after these.
    ///
    /// RFC 6675's rule 3, resending a hole not yet known lost when nothing
    /// new is left, is RACK's reordering timer's work here: it calls the
    /// hole lost once the segments after it have had time to arrive.
    fn next_segment(&mut self, full: usize) -> Option<(SeqNum, usize, bool)> {
        let synchronized = match self.state {
            State::SynSent | State::SynReceived => false,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck => true,
            _ => return None,
        };
        let closing = matches!(self.state, State::Closing | State::LastAck);
        if std::mem::take(&mut self.ack_answers_text) && closing && self.ack_now && self.fin_outstanding() {
            // The peer sent its FIN without acknowledging ours: it had not
            // seen ours, which is perhaps lost. A FIN is "retransmitted
            // until acknowledged" (§3.6) at any time; riding on the ACK it
            // spares a timeout (BSD sends every ACK of these states so,
            // <SEQ=FIN's><CTL=FIN,ACK>; Linux a bare ACK). If ours was only
            // late, the copy arrives wholly old, and a receiver as strict
            // as §3.10.7.4 "first" drops it, ACK and all, and answers with
            // an ACK: one segment more each way, and the close completes
            // all the same. Not in FIN-WAIT-1: there the peer may still be
            // sending, and an ACK of its data lost that way would stall it
            // for a round trip. The ACKs whose form the RFC gives,
            // <SEQ=SND.NXT><CTL=ACK> (§3.10.7.4 "first", RFC 5961's
            // challenge ACK), stay bare.
            return Some((self.tx_end(), 0, false)); // 0.
        }
        if self.snd.nxt == self.snd.iss {
            return Some((self.snd.iss, 0, false)); // 1.
        }
        let lost = self.sent.first_lost(&self.sack).map(|(seq, end)| (seq, full.min(end - seq)));
        if std::mem::take(&mut self.retransmit_first) {
            if let Some((seq, len)) = lost {
                return Some((seq, len, false)); // 2.
            }
        }
        if synchronized && std::mem::take(&mut self.loss_probe) {
            if let Some((seq, len)) = self.loss_probe_segment(full) {
                return Some((seq, len, true)); // 3.
            }
        }
        let pipe = self.pipe();
        if let Some((seq, len)) = lost {
            return (self.cc.window().saturating_sub(pipe) >= len).then_some((seq, len, false));
            // 4.
        }
        if !synchronized || self.sent.is_full() {
            return None;
        }
        let room = (self.cc.window() + self.cc.limited_transmit()).saturating_sub(pipe);
        self.next_new_data(room, full).map(|(seq, len)| (seq, len, false)) // 5.
    }

    /// The loss probe (RFC 8985 §7.3): a new segment if one waits and the
    /// peer's window takes it, else the last segment sent, again (with the
    /// FIN if it was sent), in segments of `full` bytes.
    fn loss_probe_segment(&self, full: usize) -> Option<(SeqNum, usize)> {
        let unsent = self.tx_end().max(self.snd.nxt) - self.snd.nxt;
        let usable = self.snd.wnd.saturating_sub(self.snd.nxt - self.snd.una);
        if unsent > 0 && usable > 0 {
            return Some((self.snd.nxt, unsent.min(usable).min(full)));
        }
        if self.snd.nxt == self.snd.una {
            return None;
        }
        let data_end = self.tx_end().min(self.snd.nxt);
        let seq = (data_end - full.min(data_end - self.snd.una)).max(self.snd.una);
        Some((seq, data_end - seq))
    }

    /// How many bytes of new data go at SND.NXT, with `room` left in the
    /// congestion window, in segments of `full` bytes. The FIN counts as
    /// zero bytes here.
    fn next_new_data(&mut self, room: usize, full: usize) -> Option<(SeqNum, usize)> {
        let seq = self.snd.nxt;
        let unsent = self.tx_end().max(seq) - seq;
        let fin_unsent = self.fin_queued && seq <= self.tx_end();
        if unsent == 0 {
            return (fin_unsent && self.fin_fits()).then_some((seq, 0));
        }
        let in_flight = seq - self.snd.una;
        let usable = self.snd.wnd.saturating_sub(in_flight).min(room);
        if usable == 0 {
            return None;
        }
        let len = unsent.min(usable).min(full);
        // Sender silly window avoidance and Nagle (§3.7.4, §3.8.6.2.1):
        // send a full segment, or everything left when nothing is in flight
        // (or Nagle is off), or at least half the largest window seen.
        let all = len == unsent;
        if len == full
            || (all && (self.nodelay || in_flight == 0))
            || len >= self.snd.max_wnd / 2
            || (in_flight == 0 && self.snd.wnd < self.snd_mss)
        {
            Some((seq, len))
        } else {
            None
        }
    }

    /// The FIN takes a sequence number, so it goes only where the peer's
    /// window has room for it (§3.8.6), unless it was sent before: past
    /// the right edge it would carry SND.NXT beyond the one number a shut
    /// window accepts, and the peer would hear none of our ACKs (as a
    /// window probe of new data would).
    fn fin_fits(&self) -> bool {
        self.snd.nxt > self.tx_end() || self.tx_end() < self.snd.una + self.snd.wnd
    }

    /// RFC 6675's SetPipe(): the bytes still in the network (`SentLog::pipe`).
    fn pipe(&self) -> usize {
        self.sent.pipe(&self.sack)
    }

    /// The most data one segment carries: the peer's MSS less the options
    /// each segment carries (the MSS counts data only, RFC 9293 §3.7.1), but
    /// no more than half the largest window it offered (as Linux's
    /// `tcp_bound_to_half_wnd`). A window that holds a single segment (64 KiB
    /// without window scaling, against an MSS of 65495 on `lo`) leaves a
    /// peer that ACKs every second segment holding each one for its whole
    /// delayed-ACK time.
    pub(super) fn segment_size(&self) -> usize {
        // The options' length, not their values: any time will do.
        let room = self.snd_mss.saturating_sub(self.header_options(Instant::ZERO, true).buffer_len()).max(1);
        let half = self.snd.max_wnd / 2;
        if half >= DEFAULT_MSS {
            room.min(half)
        } else {
            room
        }
    }

    /// Build and emit the segment that starts at `seq` and carries up to
    /// `max_data` bytes, with SYN and FIN where they belong; `kind` says
    /// why, for the story. Returns the sequence number after it.
    fn emit_segment(
        &mut self,
        cx: &mut Context,
        seq: SeqNum,
        max_data: usize,
        kind: SegmentKind,
        emit: &mut dyn FnMut(&Tcb, Outgoing),
    ) -> SeqNum {
        if seq == self.snd.iss && !self.state.is_synchronized() {
            let flags = if self.state == State::SynReceived { Flags::SYN | Flags::ACK } else { Flags::SYN };
            let mut repr = self.header(cx, seq, flags);
            let mss = cx.config.mss(self.remote.ip()).min(u16::MAX as usize) as u16;
            repr.options = if self.no_options {
                TcpOptions::default()
            } else {
                TcpOptions { timestamps: repr.options.timestamps, ..self.options.syn_options(mss) }
            };
            self.transmit(cx, repr, 0, 0, (kind, By::EmitSegment), emit);
            return seq + 1;
        }
        let mut repr = self.header(cx, seq, Flags::ACK);
        let offset = seq - self.tx_start;
        // `next_segment` chose `max_data` within `segment_size`, which left
        // the options their room in the MSS.
        let len = max_data.min(self.tx.len().saturating_sub(offset));
        let mut end = seq + len;
        if len > 0 && end == self.tx_end() {
            repr.flags |= Flags::PSH; // the last segment of what was written
        }
        if self.fin_queued && end == self.tx_end() && self.fin_fits() {
            repr.flags |= Flags::FIN;
            end += 1;
        }
        self.transmit(cx, repr, offset, len, (kind, By::EmitSegment), emit);
        end
    }

    /// Hand one segment to the stack, with `len` bytes of the send buffer
    /// from `offset`, and tell its story (`why`: its kind and sender).
    /// Every segment we send carries the current ACK and window, so any
    /// owed ACK is now paid.
    fn transmit(
        &mut self,
        cx: &mut Context,
        repr: TcpRepr,
        offset: usize,
        len: usize,
        (kind, by): (SegmentKind, By),
        emit: &mut dyn FnMut(&Tcb, Outgoing),
    ) {
        if self.story.is_on() {
            let record = Record::segment(cx.now, Dir::Out, &repr, len, kind, by);
            self.story.push(cx.config.story_records, record);
        }
        cx.counters.segments_out += 1;
        cx.counters.bytes_out += len as u64;
        if repr.flags.contains(Flags::ACK) {
            self.ack_now = false;
            self.ack_answers_text = false;
            self.delayed_ack = None;
            self.segs_unacked = 0;
            self.ts.last_ack_sent = repr.ack_number;
        }
        let edge = self.rcv.nxt + self.receive_window(cx, self.window_shift(repr.flags));
        self.rcv.adv = self.rcv.adv.max(edge);
        let tcb: &Tcb = self;
        tcb.tx.gather(offset, len, |payload| emit(tcb, Outgoing { repr, payload }));
    }

    /// The header of every segment we send, data or control (ACK, SYN,
    /// RST): our sequence number, the current RCV.NXT and window (as much
    /// of it as the field, scaled by `shift`, can say: RFC 7323 §2.3), the
    /// urgent pointer, and the options.
    ///
    /// Urgent mode (§3.8.5), while SND.UNA is below SND.UP: every segment
    /// that starts before SND.UP carries URG and points to it, SND.UP −
    /// SEG.SEQ, the octet after the urgent data (MUST-62), pure ACKs too,
    /// so a peer whose window is shut still hears (MUST-66). From farther
    /// than the 16-bit field reaches, it points as far as it can, and a
    /// later segment carries the rest: urgent data of any length (MUST-31).
    /// Never on a SYN (urgent data waits for ESTABLISHED, §3.10.1) or an RST.
    pub(super) fn header(&self, cx: &Context, seq: SeqNum, flags: Flags) -> TcpRepr {
        let shift = self.window_shift(flags);
        let ack = flags.contains(Flags::ACK);
        let urgent = self.snd.una < self.snd.up && seq < self.snd.up && !flags.intersects(Flags::SYN | Flags::RST);
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ack_number: if ack { self.rcv.nxt } else { SeqNum(0) },
            flags: if urgent { flags | Flags::URG } else { flags },
            window_len: (self.receive_window(cx, shift) >> shift).min(MAX_UNSCALED_WINDOW) as u16,
            urgent_at: if urgent { (self.snd.up - seq).min(u16::MAX as usize) as u16 } else { 0 },
            options: self.header_options(cx.now, ack),
        }
    }

    /// The options of a segment we send: the timestamps once they are in
    /// use (in every segment, RFC 7323 §3.2); and while data waits out of
    /// order, the SACK blocks that describe it (RFC 2018 §4: in every ACK).
    fn header_options(&self, now: Instant, ack: bool) -> TcpOptions {
        let mut options = TcpOptions {
            timestamps: self.options.timestamps.then(|| self.ts.option(now, ack)),
            ..TcpOptions::default()
        };
        if ack && self.options.sack_permitted && !self.ooo.is_empty() {
            options.sack_blocks = self.ooo.sack_blocks();
        }
        options
    }

    /// The window we offer, RCV.WND, in bytes, for a window field scaled
    /// by `shift`: the free buffer space; but no less than was promised
    /// (the right edge must not move left, §3.8.6); and moving the edge
    /// only when the gain is worth a segment (receiver-side silly window
    /// avoidance, §3.8.6.2.2). We accept what fits in the buffer even where
    /// the field cannot say it all: without window scaling it says at most
    /// 65535 of a buffer that may be larger (65700, 45 segments of 1460),
    /// and the peer's segments stop at the edge it heard, so the difference
    /// only lets a segment near that edge, an RST or a SYN, be judged
    /// against the window we truly have (§3.10.7.4, RFC 5961).
    ///
    /// A scaled field carries whole units of 2^shift, and RCV.NXT moves by
    /// any amount, so a promise may not fit: it is rounded down, and the
    /// edge announced falls back by less than a unit. RFC 7323 §2.4 allows
    /// that retraction, provided segments up to the edge announced before
    /// are still accepted: `rcv.adv` keeps the furthest. Rounding up instead
    /// would let the edge creep right with every segment while the
    /// application reads nothing (when a unit exceeds a segment, the window
    /// would never close).
    pub(super) fn receive_window(&self, cx: &Context, shift: u8) -> usize {
        let unit = 1 << shift;
        let buffer = self.rcv_buf.size;
        let promised = self.rcv.wnd() / unit * unit;
        let free = buffer.saturating_sub(self.rx.len()) / unit * unit;
        let threshold = (buffer / 2).min(cx.config.mss(self.remote.ip()));
        if free >= promised + threshold || free == buffer / unit * unit {
            free.max(promised)
        } else {
            promised
        }
    }

    /// Window scaling, sending side (RFC 7323 §2.2–2.3): the shift of the
    /// window field in a segment we send. A SYN's is never scaled.
    pub(super) fn window_shift(&self, flags: Flags) -> u8 {
        if flags.contains(Flags::SYN) {
            0
        } else {
            self.options.rcv_shift()
        }
    }
}
