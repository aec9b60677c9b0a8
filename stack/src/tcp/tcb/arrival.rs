//! SEGMENT ARRIVES (RFC 9293 §3.10.7), in the RFC's order: a segment for
//! no connection (§3.10.7.1, `reset_for`), a SYN at a listening port
//! (§3.10.7.2, `accept_syn`: the listener itself is `tcp/listener.rs`),
//! SYN-SENT (§3.10.7.3), and every other state (§3.10.7.4), whose checks
//! come in the RFC's order: first the sequence number, second RST, fourth
//! SYN, fifth ACK, sixth URG, seventh the text, eighth FIN.
//!
//! An ICMP error about one of our segments arrives here too
//! (`on_icmp_error`, §3.9.2.2).
//!
//! The fifth check, the ACK, is a sender's whole work (the send window,
//! round-trip times, SACK, loss detection, congestion control): it has its
//! own file, `ack.rs`, which comes next.

use std::net::SocketAddr;

use log::debug;

use super::{peer_mss, Context, Segment, Tcb, IDLE_KEEP};
use crate::copy;
use crate::tcp::autotune::RcvBuf;
use crate::tcp::congestion::Congestion;
use crate::tcp::icmp::IcmpError;
use crate::tcp::isn::Start;
use crate::tcp::options::MAX_UNSCALED_WINDOW;
use crate::tcp::state::State;
use crate::tcp::story::{By, Dir, Record, SegmentKind};
use crate::tcp::{mss_of, Error, Ready};
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpRepr};

/// The reset answering a segment that has no connection to go to
/// (§3.10.7.1): if the segment had an ACK, <SEQ=SEG.ACK><CTL=RST>;
/// otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
pub fn reset_for(repr: &TcpRepr, payload_len: usize) -> TcpRepr {
    let mut rst = TcpRepr { src_port: repr.dst_port, dst_port: repr.src_port, ..TcpRepr::default() };
    if repr.flags.contains(Flags::ACK) {
        rst.seq_number = repr.ack_number;
        rst.flags = Flags::RST;
    } else {
        let seg_len = payload_len + repr.flags.contains(Flags::SYN) as usize + repr.flags.contains(Flags::FIN) as usize;
        rst.ack_number = repr.seq_number + seg_len;
        rst.flags = Flags::RST | Flags::ACK;
    }
    rst
}

/// A connection request (§3.10.7.2 "third"): SYN, without ACK or RST. Its
/// other bits do not change what it asks: an ECN-setup SYN carries ECE and
/// CWR (RFC 3168 §6.1.1). LISTEN opens a connection for it, and
/// SYN-RECEIVED answers the same request again with its SYN,ACK.
pub fn is_connection_request(flags: Flags) -> bool {
    flags.contains(Flags::SYN) && !flags.intersects(Flags::ACK | Flags::RST)
}

impl Tcb {
    /// A SYN arrived at a listening port (§3.10.7.2): create the TCB in
    /// SYN-RECEIVED with RCV.NXT = SEG.SEQ + 1; the SYN,ACK leaves with the
    /// next `dispatch`.
    pub fn accept_syn(cx: &Context, local: SocketAddr, remote: SocketAddr, start: Start, syn: &TcpRepr) -> Tcb {
        let mut tcb = Tcb::new(cx, local, remote, start, State::SynReceived);
        let limit = cx.config.story_records;
        tcb.story.push(limit, Record::segment(cx.now, Dir::In, syn, 0, SegmentKind::Normal, By::AcceptSyn));
        let reason = "SYN received";
        tcb.story.push(limit, Record::State { at: cx.now, from: None, to: State::SynReceived, reason });
        tcb.synchronize_receive(cx, syn);
        tcb.update_window(syn);
        debug!("{} > {}: LISTEN -> SYN-RECEIVED ({reason})", local, remote);
        tcb
    }

    /// An ACK returned one of our SYN cookies (RFC 4987 §3.6): the TCB as it
    /// would have been had we kept it, SYN-RECEIVED with our SYN (ISS = the
    /// cookie) sent, from the client's SYN as the cookie kept it (`syn`: its
    /// ISN and MSS). The ACK, processed next, completes the handshake.
    pub fn from_syn_cookie(cx: &Context, local: SocketAddr, remote: SocketAddr, start: Start, syn: &TcpRepr) -> Tcb {
        let mut tcb = Tcb::accept_syn(cx, local, remote, start, syn);
        // The listener kept nothing of the SYN,ACK it sent: the story shows
        // it as it must have been, now.
        let syn_ack = tcb.header(cx, start.iss, Flags::SYN | Flags::ACK);
        let record = Record::segment(cx.now, Dir::Out, &syn_ack, 0, SegmentKind::SynCookie, By::FromSynCookie);
        tcb.story.push(cx.config.story_records, record);
        tcb.snd.nxt = start.iss + 1;
        debug!("{} > {}: SYN-RECEIVED from a SYN cookie", local, remote);
        tcb
    }

    /// Learn the peer's initial sequence number and options from its SYN
    /// (or SYN,ACK), and settle which options both sides use.
    fn synchronize_receive(&mut self, cx: &Context, syn: &TcpRepr) {
        self.rcv.irs = syn.seq_number;
        self.rcv.nxt = syn.seq_number + 1;
        self.rx_start = self.rcv.nxt;
        self.rcv.up = self.rcv.nxt; // no urgent data yet
        self.options = self.options.agree(&syn.options);
        if let (true, Some(ts)) = (self.options.timestamps, syn.options.timestamps) {
            self.ts.synchronize(cx.now, ts.tsval);
            self.ts.last_ack_sent = self.rcv.nxt; // what our next segment acknowledges
        }
        self.snd_mss = peer_mss(syn.options.mss, self.remote.ip()).min(cx.config.mss(self.remote.ip()));
        if self.passive {
            // A half-open connection of a listener, which a SYN flood may
            // have made, is offered no more than its SYN,ACK can say (a
            // SYN's window is never scaled, RFC 7323 §2.2) until the
            // handshake completes.
            let size = self.rcv_buf.size.min(MAX_UNSCALED_WINDOW);
            self.rcv_buf = RcvBuf::new(size, cx.now, self.rcv.nxt);
            self.rcv.adv = self.rcv.nxt + size;
        } else {
            self.rcv.adv = self.rcv.nxt; // what our SYN offered counted from nothing
            self.size_receive_buffer(cx);
        }
        self.cc = Congestion::new(cx.config.congestion, self.snd_mss, self.snd.iss, self.options.sack_permitted);
    }

    /// The receive buffer once the MSS is known: the initial size rounded up
    /// to whole segments (as BSD sizes it), so that the window's last
    /// segment is a full one, not a runt. RCV.WND is all of it, however
    /// little of it a 16-bit window field can say (`receive_window`).
    fn size_receive_buffer(&mut self, cx: &Context) {
        let initial = cx.config.recv_buffer_initial.min(cx.config.recv_buffer);
        let size = initial.next_multiple_of(self.snd_mss).min(cx.config.recv_buffer.max(initial));
        self.rcv_buf = RcvBuf::new(size, cx.now, self.rcv.nxt);
        self.rcv.adv = self.rcv.adv.max(self.rcv.nxt + size);
    }

    /// A segment for this connection arrived. Returns any segment to send
    /// that is not part of the connection's own stream (an RST).
    /// The story records the segment, any RST in answer, and the sender's
    /// variables if they changed.
    pub fn on_segment(&mut self, cx: &mut Context, seg: Segment) -> Option<TcpRepr> {
        let limit = cx.config.story_records;
        if self.story.is_on() {
            let record =
                Record::segment(cx.now, Dir::In, seg.repr, seg.payload.len(), SegmentKind::Normal, By::OnSegment);
            self.story.push(limit, record);
        }
        let rst = match self.state {
            State::SynSent => self.on_segment_syn_sent(cx, seg),
            _ => self.on_segment_other_states(cx, seg),
        };
        if let Some(rst) = &rst {
            self.story.push(limit, Record::segment(cx.now, Dir::Out, rst, 0, SegmentKind::Reset, By::ResetFor));
        }
        self.sample(cx);
        rst
    }

    /// §3.10.7.3: SYN-SENT.
    fn on_segment_syn_sent(&mut self, cx: &mut Context, seg: Segment) -> Option<TcpRepr> {
        let repr = seg.repr;
        let flags = repr.flags;
        // First, check the ACK bit: it must acknowledge our SYN.
        let ack_ok = flags.contains(Flags::ACK) && repr.ack_number > self.snd.iss && repr.ack_number <= self.snd.nxt;
        if flags.contains(Flags::ACK) && !ack_ok {
            return (!flags.contains(Flags::RST)).then(|| reset_for(repr, seg.payload.len()));
        }
        // Second, the RST bit: with an acceptable ACK the peer refused us.
        if flags.contains(Flags::RST) {
            if ack_ok {
                cx.counters.rsts_received += 1;
                self.fail(cx, Error::Refused, "connection refused");
            }
            return None;
        }
        // Fourth, the SYN bit (a SYN,FIN dropped, if so configured).
        if !flags.contains(Flags::SYN) || (flags.contains(Flags::FIN) && cx.config.drop_syn_fin) {
            return None;
        }
        self.synchronize_receive(cx, repr);
        if ack_ok {
            self.rtt_sample(cx, repr);
            self.snd.una = repr.ack_number;
            self.update_window(repr);
            self.sent.acked(self.snd.una, &mut |_, _, _| {});
            self.rtx_timer = None;
            self.set_state(cx, State::Established, "SYN,ACK received");
            self.ready |= Ready::CONNECTED | Ready::WRITABLE;
            self.ack_now = true;
            // "If there are other controls or text in the segment, then
            // continue processing at the sixth step": its text and FIN.
            self.receive_text(cx, seg);
        } else {
            // Simultaneous open (§3.5, Figure 7): both SYNs crossed. Send
            // our SYN again, now as SYN,ACK.
            self.set_state(cx, State::SynReceived, "SYN received (simultaneous open)");
            self.presume_first_lost();
            self.update_window(repr);
            // "If there are other controls or text in the segment, queue
            // them for processing after the ESTABLISHED state has been
            // reached": held with the out-of-order data (`deliver_held`).
            let text = &seg.payload[..seg.payload.len().min(self.rcv.wnd())];
            let fin = flags.contains(Flags::FIN) && text.len() == seg.payload.len();
            if (!text.is_empty() || fin)
                && self.ooo.insert(self.rcv.nxt, text, fin, cx.config.max_ooo_segments).is_err()
            {
                cx.counters.drops.ooo_full += 1;
            }
        }
        None
    }

    /// §3.10.7.4, "Other States": SYN-RECEIVED and every state after it,
    /// the checks in the RFC's order.
    fn on_segment_other_states(&mut self, cx: &mut Context, seg: Segment) -> Option<TcpRepr> {
        let repr = seg.repr;
        let flags = repr.flags;

        // Once a connection is synchronized every segment carries an ACK
        // (§3.1: "once a connection is established, this is always sent"),
        // and the fifth check drops one without it. A segment with none of
        // ACK, RST and SYN is no TCP's: drop it before the first check, so
        // that it is not answered either (as Linux and FreeBSD do).
        if !flags.intersects(Flags::ACK | Flags::RST | Flags::SYN) {
            return None;
        }

        // Timestamps in force: every segment but an RST must carry them
        // (RFC 7323 §3.2), and an old duplicate is dropped before its
        // sequence number is looked at (PAWS, §5.3 R1).
        let ts = repr.options.timestamps.filter(|_| self.options.timestamps);
        if self.options.timestamps && !flags.contains(Flags::RST) {
            let Some(ts) = ts else {
                cx.counters.drops.no_timestamp += 1;
                return None;
            };
            if self.ts.paws_rejects(cx.now, ts.tsval) {
                cx.counters.drops.paws += 1;
                self.ack_now = true;
                return None;
            }
        }

        // A retransmitted SYN in SYN-RECEIVED (the request that made it,
        // SEG.SEQ = IRS): our SYN,ACK was lost, so send it again now rather
        // than wait for our timer.
        if self.state == State::SynReceived && is_connection_request(flags) && repr.seq_number == self.rcv.irs {
            self.presume_first_lost();
            return None;
        }

        // First, check the sequence number (Table 6). A SYN gets a challenge
        // ACK whatever its sequence number (RFC 5961 §4, under its budget);
        // without RFC 5961, the ACK any unacceptable segment gets.
        if !self.acceptable(&seg) {
            if flags.contains(Flags::SYN) && cx.config.syn_challenge {
                self.challenge_ack(cx);
                return None;
            }
            if !flags.contains(Flags::RST) {
                self.ack_now = true;
            }
            // "If the RCV.WND is zero, no segments will be acceptable, but
            // special allowance should be made to accept valid ACKs, URGs,
            // and RSTs" (MUST-66): text at RCV.NXT (the peer probing our
            // shut window) goes on for its RST, ACK and URG; the seventh
            // step finds no room for its text.
            if !(self.rcv.wnd() == 0 && repr.seq_number == self.rcv.nxt) {
                return None;
            }
        }
        // §4.3, §5.3 R3: the segment is in the window; it may be the newest.
        if let Some(ts) = ts {
            self.ts.update(cx.now, repr.seq_number, ts.tsval);
        }

        // Second, check the RST bit: only one exactly at RCV.NXT resets
        // (RFC 5961 §3); one elsewhere in the window is challenged. Without
        // RFC 5961 (`Config::rst_challenge` off), any RST in the window resets.
        if flags.contains(Flags::RST) {
            if repr.seq_number != self.rcv.nxt && cx.config.rst_challenge {
                self.challenge_ack(cx);
                return None;
            }
            cx.counters.rsts_received += 1;
            if self.state == State::SynReceived && self.passive {
                self.set_state(cx, State::Closed, "RST in SYN-RECEIVED: back to LISTEN");
                self.orphaned = true;
            } else if self.state == State::SynReceived {
                self.fail(cx, Error::Refused, "RST in SYN-RECEIVED: connection refused");
            } else {
                // CLOSING and LAST-ACK too: the RFC only closes, but the
                // application may still hold the socket after `shutdown`,
                // and our data may not all have arrived (FreeBSD and Linux
                // report ECONNRESET there too).
                self.fail(cx, Error::Reset, "RST: connection reset");
            }
            return None;
        }

        // Third, security: no compartments here.

        // Fourth, check the SYN bit. A passive SYN-RECEIVED goes back to
        // LISTEN; synchronized states answer with a challenge ACK (RFC 5961
        // §4) rather than the reset RFC 793 prescribed, unless
        // `Config::syn_challenge` is off: then the SYN, in the window, is an
        // error, and the connection is reset, <SEQ=SND.NXT><ACK=RCV.NXT>.
        if flags.contains(Flags::SYN) {
            if self.state == State::SynReceived && self.passive {
                self.set_state(cx, State::Closed, "SYN in SYN-RECEIVED: back to LISTEN");
                self.orphaned = true;
            } else if cx.config.syn_challenge {
                self.challenge_ack(cx);
            } else {
                let rst = self.header(cx, self.snd.nxt, Flags::RST | Flags::ACK);
                self.fail(cx, Error::Reset, "SYN in the window: connection reset");
                return Some(rst);
            }
            return None;
        }

        // Fifth, check the ACK field.
        if !flags.contains(Flags::ACK) {
            return None;
        }
        if self.state == State::SynReceived {
            if !(repr.ack_number > self.snd.una && repr.ack_number <= self.snd.nxt) {
                return Some(reset_for(repr, seg.payload.len()));
            }
            self.set_state(cx, State::Established, "ACK of SYN");
            if self.passive {
                self.size_receive_buffer(cx);
            }
            self.rtt_sample(cx, repr);
            self.snd.una = self.snd.iss + 1;
            self.sent.acked(self.snd.una, &mut |_, _, _| {});
            self.rtx_timer = None; // RFC 6298 §5.2: all that was sent is acknowledged
            self.update_window(repr);
            self.ready |= Ready::CONNECTED | Ready::WRITABLE;
            if self.fin_queued {
                // CLOSE was called in SYN-RECEIVED: now the FIN may go.
                self.set_state(cx, State::FinWait1, "close queued in SYN-RECEIVED");
            }
            self.deliver_held(cx);
        }
        if !self.process_ack(cx, repr, seg.payload.len()) {
            return None;
        }
        match self.state {
            State::FinWait1 if self.fin_acked() => self.enter_fin_wait_2(cx),
            State::Closing if self.fin_acked() => self.set_state(cx, State::TimeWait, "ACK of FIN"),
            State::LastAck if self.fin_acked() => {
                self.set_state(cx, State::Closed, "ACK of FIN");
                return None;
            }
            _ => {}
        }

        // Sixth, check the URG bit.
        self.receive_urgent(repr);

        // Seventh, process the segment text; eighth, the FIN bit.
        self.receive_text(cx, seg);
        None
    }

    /// RFC 5961's challenge ACK, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, if the
    /// stack's budget for this second allows (§7, `challenge_ack.rs`).
    pub(super) fn challenge_ack(&mut self, cx: &mut Context) {
        if cx.challenge_acks.allow(cx.now) {
            cx.counters.challenge_acks += 1;
            self.ack_now = true;
            self.challenge_owed = true;
        } else {
            cx.counters.challenge_acks_limited += 1;
        }
    }

    /// Table 6 of §3.10.7.4: does any part of the segment fall in the
    /// receive window?
    fn acceptable(&self, seg: &Segment) -> bool {
        let seq = seg.repr.seq_number;
        let wnd = self.rcv.wnd();
        match (seg.len(), wnd) {
            (0, 0) => seq == self.rcv.nxt,
            (0, _) => seq.in_window(self.rcv.nxt, wnd),
            (_, 0) => false,
            (len, _) => seq.in_window(self.rcv.nxt, wnd) || (seq + (len - 1)).in_window(self.rcv.nxt, wnd),
        }
    }

    /// §3.10.7.4 "sixth": the urgent pointer, read as RFC 6093 and MUST-62
    /// have it: SEG.SEQ + SEG.UP is the first octet *after* the urgent
    /// data, which stays in line, read like any other. RCV.UP keeps the
    /// furthest mark, which may lie past what has arrived, a window or many
    /// segments ahead (urgent data of any length, MUST-31). The application
    /// hears of it, as `Ready::URGENT`, whenever the mark moves ahead of
    /// what it has read (MUST-32), and asks `urgent` how far it is
    /// (MUST-33). "Robust to invalid urgent pointer values": a mark behind
    /// RCV.UP is ignored; one ahead costs nothing to hold. Once the peer's
    /// FIN has come (CLOSE-WAIT and after), URG "should not occur": ignored.
    fn receive_urgent(&mut self, repr: &TcpRepr) {
        if !repr.flags.contains(Flags::URG)
            || !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2)
        {
            return;
        }
        let mark = repr.seq_number + usize::from(repr.urgent_at);
        // RCV.UP is never behind the application's read point (`recv`),
        // so a mark past RCV.UP is urgent data not yet read.
        if mark > self.rcv.up {
            self.rcv.up = mark;
            self.ready |= Ready::URGENT;
        }
    }

    /// §3.10.7.4 "seventh" and "eighth": deliver the text, then the FIN.
    fn receive_text(&mut self, cx: &mut Context, seg: Segment) {
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            // CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN has come, so
            // any text or FIN is a retransmission; ACK it again.
            if seg.len() > 0 {
                self.ack_now = true;
                self.ack_answers_text = true;
            }
            return;
        }
        // Trim the segment to the window: what lies before RCV.NXT was
        // received already; what lies past the right edge is not allowed.
        // (On a SYN,ACK, the text begins after the SYN.)
        let mut seq = seg.repr.seq_number + usize::from(seg.repr.flags.contains(Flags::SYN));
        let mut data = seg.payload;
        let mut fin = seg.repr.flags.contains(Flags::FIN);
        if seq < self.rcv.nxt {
            let old = self.rcv.nxt - seq;
            if old > data.len() {
                fin = false; // the FIN itself is old
            }
            data = &data[old.min(data.len())..];
            seq = self.rcv.nxt;
        }
        let room = self.rcv.adv.max(self.rcv.nxt) - seq; // to the right edge
        if data.len() >= room && (data.len() > room || fin) {
            data = &data[..room.min(data.len())];
            fin = false;
        }
        if data.is_empty() && !fin {
            return;
        }
        cx.counters.bytes_in += data.len() as u64;

        if seq != self.rcv.nxt {
            // Out of order: hold it and send a duplicate ACK at once, one per
            // segment (RFC 5681 §4.2), so fast retransmit can count them.
            if self.ooo.insert(seq, data, fin, cx.config.max_ooo_segments).is_err() {
                cx.counters.drops.ooo_full += 1;
            }
            if self.dup_acks_owed.len() < cx.config.max_ooo_segments {
                let blocks = if self.options.sack_permitted { self.ooo.sack_blocks() } else { [None; 4] };
                self.dup_acks_owed.push(blocks);
            }
            return;
        }
        let filled_gap = !self.ooo.is_empty();
        if filled_gap {
            // The duplicate ACKs owed to segments held past the hole would
            // leave with the new RCV.NXT, duplicates of nothing: the one ACK
            // owed now stands for them all (§3.10.7.4, MUST-58, MUST-59).
            self.dup_acks_owed.clear();
        }
        self.deliver(cx, data);
        if fin {
            // Nothing follows the FIN: what is held lies past the end of
            // the stream, and is no data of the peer's.
            self.ooo.clear();
        } else {
            fin = self.drain_held();
        }
        if !data.is_empty() || filled_gap {
            self.ready |= Ready::READABLE;
            // ACK every second segment at once, otherwise after the delay;
            // a filled gap is ACKed at once (RFC 5681 §4.2).
            self.segs_unacked += 1;
            if self.segs_unacked >= 2 || filled_gap {
                self.ack_now = true;
            } else if self.delayed_ack.is_none() {
                self.delayed_ack = Some(cx.now + cx.config.delayed_ack);
            }
        }
        if fin {
            self.receive_fin(cx);
        }
        self.ack_answers_text = true;
    }

    /// The held data that now follows RCV.NXT: to the receive buffer, and
    /// RCV.NXT past it. Returns whether a FIN ends it.
    fn drain_held(&mut self) -> bool {
        let keep = self.keeps_text();
        let rx = &mut self.rx;
        let (rcv_nxt, held_fin) = self.ooo.drain(self.rcv.nxt, |d| {
            if keep {
                copy::append(rx, d);
            }
        });
        self.rcv.nxt = rcv_nxt;
        held_fin
    }

    /// ESTABLISHED at last: text and a FIN that came on a simultaneous
    /// open's SYN, held until now (§3.10.7.3), are processed, the text
    /// acknowledged as any segment of data is.
    fn deliver_held(&mut self, cx: &Context) {
        let before = self.rcv.nxt;
        let fin = self.drain_held();
        if self.rcv.nxt != before {
            self.ready |= Ready::READABLE;
            self.segs_unacked += 1;
            self.delayed_ack.get_or_insert(cx.now + cx.config.delayed_ack);
        }
        if fin {
            self.receive_fin(cx);
        }
    }

    /// Whether anyone will read the text that arrives: not once the
    /// application closed the socket or shut its receiving side.
    fn keeps_text(&self) -> bool {
        !self.orphaned && !self.read_shut
    }

    /// In-order data: to the receive buffer (unless nobody will read it),
    /// and RCV.NXT past it.
    fn deliver(&mut self, cx: &mut Context, data: &[u8]) {
        if self.keeps_text() && !data.is_empty() {
            if self.rx.is_empty() && data.len() >= self.segment_size().min(IDLE_KEEP) {
                // A full-sized segment (as large as ours: MSS and options
                // are mostly the same both ways; with timestamps it carries
                // 12 bytes less than the MSS) starts a bulk transfer, which
                // may fill the window we advertised: room for all of it at
                // once, in a buffer a burst before left on the shelf if
                // there is one, rather than growing the buffer segment by
                // segment. A shorter one (a request) gets what it needs,
                // an allocation small enough to be kept when drained.
                if self.rx.capacity() < self.rcv.wnd() {
                    if let Some(shelved) = cx.rx_shelf.take() {
                        self.rx = shelved;
                    }
                }
                self.rx.reserve(self.rcv.wnd());
            }
            copy::append(&mut self.rx, data);
        }
        self.rcv.nxt += data.len();
    }

    /// §3.10.7.4 "eighth": the peer has no more to send; nor any urgent
    /// data past the end of the stream, so RCV.UP stops at the FIN.
    fn receive_fin(&mut self, cx: &Context) {
        self.rcv.up = self.rcv.up.min(self.rcv.nxt);
        self.rcv.nxt += 1;
        self.ack_now = true;
        self.ready |= Ready::READABLE | Ready::PEER_CLOSED;
        match self.state {
            State::SynReceived | State::Established => self.set_state(cx, State::CloseWait, "FIN received"),
            State::FinWait1 if self.fin_acked() => self.set_state(cx, State::TimeWait, "FIN received, our FIN acked"),
            State::FinWait1 => self.set_state(cx, State::Closing, "FIN received (simultaneous close)"),
            State::FinWait2 => {
                self.fin_wait_2_timer = None;
                self.set_state(cx, State::TimeWait, "FIN received");
            }
            _ => {}
        }
    }

    /// Our FIN is acknowledged in FIN-WAIT-1 (§3.10.7.4 "fifth").
    fn enter_fin_wait_2(&mut self, cx: &Context) {
        self.set_state(cx, State::FinWait2, "ACK of FIN");
        // A peer that never sends its FIN must not pin an orphaned
        // connection forever.
        if self.orphaned {
            self.fin_wait_2_timer = Some(cx.now + cx.config.fin_wait_2_timeout);
        }
    }

    /// An ICMP error quoting a segment of ours that began at `seq`
    /// (§3.9.2.2, MUST-54; see `tcp/icmp.rs`). Believed only if `seq` is
    /// in flight, SND.UNA =< seq < SND.NXT (RFC 5927 §4.1): an attacker
    /// who cannot see the connection must guess a number in that range.
    /// A hard error ends a connection still in its handshake, SYN-SENT
    /// (`connect` fails) or SYN-RECEIVED (back to LISTEN, as an RST
    /// would, §3.10.7.4); Fragmentation Needed or Packet Too Big lowers
    /// the MSS (`path_narrower`); anything else is a soft error, reported.
    pub fn on_icmp_error(&mut self, cx: &mut Context, seq: SeqNum, error: IcmpError) {
        if self.state == State::Closed || !seq.in_window(self.snd.una, self.snd.nxt - self.snd.una) {
            cx.counters.icmp_errors_ignored += 1;
            return;
        }
        match error {
            IcmpError::PacketTooBig { mtu } => self.path_narrower(seq, mss_of(mtu, self.remote.ip())),
            IcmpError::Hard(e) if !self.state.is_synchronized() && cx.config.icmp_may_abort => {
                self.fail(cx, e, "ICMP hard error")
            }
            IcmpError::Hard(e) | IcmpError::Soft(e) => {
                self.icmp_error = Some(e);
                self.report_soft_error(e);
            }
        }
    }

    /// The path takes packets of at most `mss` bytes of data (RFC 1191
    /// §6.4, RFC 8201 §5.2: TCP lowers its MSS; never raised here). The
    /// segment quoted at `seq` was dropped, and the ones sent after it at
    /// the old size with it: they are presumed lost and go again now, cut
    /// to the new size, rather than a retransmission timeout later. A
    /// router that cannot forward a packet says nothing of congestion, so
    /// the congestion window stays (as Linux's `tcp_simple_retransmit`).
    fn path_narrower(&mut self, seq: SeqNum, mss: usize) {
        if mss >= self.snd_mss {
            return; // a report of a packet sent before the MSS came down
        }
        self.snd_mss = mss;
        if self.state.is_synchronized() {
            self.sent.mark_lost(seq, self.snd.nxt);
        }
    }
}
