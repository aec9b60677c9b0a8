//! The Transmission Control Block: one connection's state, and what happens
//! to it when a segment arrives, when the application calls, and when a
//! timer fires (RFC 9293 §3.10).
//!
//! The send and receive sequence spaces (RFC 9293 §3.3.1):
//!
//! ```text
//!   send:        1          2          3          4
//!           ----------|----------|----------|----------
//!                  SND.UNA    SND.NXT    SND.UNA
//!                                       +SND.WND
//!   1 - old sequence numbers that have been acknowledged
//!   2 - sequence numbers of unacknowledged data
//!   3 - sequence numbers allowed for new data transmission
//!   4 - future sequence numbers that are not yet allowed
//!
//!   receive:     1          2          3
//!           ----------|----------|----------
//!                  RCV.NXT    RCV.NXT
//!                            +RCV.WND
//!   1 - old sequence numbers that have been acknowledged
//!   2 - sequence numbers allowed for new reception
//!   3 - future sequence numbers that are not yet allowed
//! ```
//!
//! The SYN takes the sequence number ISS and the FIN the one after the last
//! data byte, so both are acknowledged, and retransmitted, like data.
//!
//! What is sent next, a retransmission, a loss probe or new data, is decided
//! in one place, `next_segment`; what is lost, in one place too,
//! `detect_losses` (RACK, RFC 8985, with SACK) or where fast retransmit and
//! the timer presume it without SACK.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use log::debug;

use super::autotune::RcvBuf;
use super::challenge_ack::ChallengeAcks;
use super::congestion::{Action, Congestion};
use super::isn::Start;
use super::options::{Negotiated, MAX_UNSCALED_WINDOW};
use super::rack::{Rack, SentLog, Tlp};
use super::reassembly::Reassembly;
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::seq::SeqNum;
use super::state::State;
use super::timestamps::TsState;
use super::{Config, Counters, Error, Ready};
use crate::copy;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

/// The MSS to assume when the peer sends none (RFC 9293 §3.7.1, MUST-15).
pub const DEFAULT_MSS: usize = 536;

/// What the stack must do with a connection after an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    Keep,
    /// Enter TIME-WAIT: the stack keeps only the compact entry.
    TimeWait,
    /// The connection is gone (RFC: "delete the TCB").
    Delete,
}

/// Everything a TCB method needs from the stack around it.
pub struct Context<'a> {
    pub now: Instant,
    pub config: &'a Config,
    pub counters: &'a mut Counters,
    /// The stack's budget of challenge ACKs, shared by every connection.
    pub challenge_acks: &'a mut ChallengeAcks,
}

/// What the retransmission timer is set for: one timer, three uses, since
/// at most one of them is needed at a time (RFC 8985 §8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RtxTimer {
    /// RFC 6298's retransmission timeout; with nothing in flight and the
    /// peer's window shut, the zero-window probe (§3.8.6.1).
    Retransmission,
    /// RACK's reordering window ends for a segment sent before one that
    /// was delivered (RFC 8985 §6.2 step 5).
    Reordering,
    /// The tail loss probe's timeout, PTO (RFC 8985 §7.2).
    LossProbe,
}

/// A segment as the TCB sees it: header fields and payload.
#[derive(Copy, Clone, Debug)]
pub struct Segment<'a> {
    pub repr: &'a TcpRepr,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    /// SEG.LEN: the sequence numbers the segment occupies (RFC 9293 §3.4).
    #[allow(clippy::len_without_is_empty)] // SEG.LEN is the RFC's name
    pub fn len(&self) -> usize {
        self.payload.len()
            + self.repr.flags.contains(Flags::SYN) as usize
            + self.repr.flags.contains(Flags::FIN) as usize
    }
}

/// A segment the TCB wants sent: header fields, and the payload as the two
/// halves of a ring buffer range.
pub struct Outgoing<'a> {
    pub repr: TcpRepr,
    pub payload: (&'a [u8], &'a [u8]),
}

#[derive(Debug)]
pub struct Tcb {
    pub state: State,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Came from LISTEN (a passive open); an RST then sends it back there.
    pub passive: bool,

    // Send sequence variables (RFC 9293 §3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    /// The next new sequence number to send: retransmissions resend what
    /// lies below it and leave it where it is.
    pub snd_nxt: SeqNum,
    pub snd_wnd: usize,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// MAX.SND.WND of RFC 5961 §5 and the "maximum window" of §3.8.6.2.1.
    pub max_snd_wnd: usize,
    /// The effective send MSS (§3.7.1): the peer's MSS option, capped by
    /// our MTU, less the options every segment carries.
    pub snd_mss: usize,

    // Receive sequence variables.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// RCV.NXT + RCV.WND, the furthest advertised: the right edge of the
    /// window, which must never move left (§3.8.6). (With window scaling
    /// an ACK may announce up to a unit less; see `receive_window`.)
    pub rcv_adv: SeqNum,
    /// How much the window may offer; grows with the path (`autotune`).
    pub rcv_buf: RcvBuf,

    /// Window scaling, timestamps, SACK: offered, then agreed (`options`).
    pub options: Negotiated,
    /// TS.Recent and our timestamp clock (`timestamps`).
    pub ts: TsState,

    /// Bytes written by the application, from the first unacknowledged one.
    tx: VecDeque<u8>,
    /// Sequence number of `tx[0]`.
    tx_start: SeqNum,
    /// The application closed its sending side: a FIN follows the data.
    fin_queued: bool,
    /// Bytes received in order, not yet read by the application.
    rx: VecDeque<u8>,
    ooo: Reassembly,

    pub rtt: RttEstimator,
    /// The segment being timed for an RTT sample when there are no
    /// timestamps (a SYN is timed before we know): (its last sequence
    /// number + 1, when it was sent). Never a retransmitted one (Karn).
    rtt_timing: Option<(SeqNum, Instant)>,
    pub cc: Congestion,
    /// What the peer has SACKed of what we sent.
    sack: Scoreboard,
    /// When each byte in flight was sent, and whether it is presumed lost
    /// or was resent (RFC 8985 §5.2): what the scoreboard does not know.
    sent: SentLog,
    /// RACK's per-connection state (RFC 8985 §5.3), with SACK.
    rack: Rack,
    /// The tail loss probe's episode (RFC 8985 §7), with SACK.
    tlp: Tlp,
    /// The probe timer fired: send a loss probe now (RFC 8985 §7.3).
    loss_probe: bool,
    /// Retransmission timeouts in a row without progress.
    pub retries: u32,

    // Timers (RFC 9293 §3.10.8): retransmission (or zero-window probe,
    // RACK's reordering window, the loss probe), the delayed ACK, and the
    // FIN-WAIT-2 limit.
    rtx_timer: Option<(Instant, RtxTimer)>,
    delayed_ack: Option<Instant>,
    fin_wait_2_timer: Option<Instant>,

    /// An ACK must go out now (a FIN, a filled gap, a window update...).
    ack_now: bool,
    /// Out-of-order segments received since the last dispatch: each gets
    /// its own duplicate ACK, or the sender could not count three of them,
    /// with the SACK blocks as they were when it arrived, so that each ACK
    /// reports something new (RFC 2018 §4, RFC 6675 §2). At most
    /// `max_ooo_segments`.
    dup_acks_owed: Vec<[Option<(SeqNum, SeqNum)>; 4]>,
    /// Data segments received since we last sent an ACK.
    segs_unacked: u32,
    /// Fast retransmit, a partial ACK or a retransmitted SYN asked for the
    /// first unacknowledged segment again, now.
    retransmit_first: bool,
    /// The peer's window is zero and the probe timer fired: send one byte.
    window_probe: bool,
    /// SND.NXT − SND.UNA after the last `dispatch`.
    flight_sent: usize,
    /// Disable Nagle's algorithm (TCP_NODELAY).
    pub nodelay: bool,
    /// The application closed the socket: nobody will read or write again.
    pub orphaned: bool,
    /// Why the connection ended, for the application.
    pub error: Option<Error>,
    /// Events not yet reported to the application.
    pub ready: Ready,
    /// Whether a `send` found the buffer full, so WRITABLE is owed later.
    tx_blocked: bool,
}

impl Tcb {
    fn new(cx: &Context, local: SocketAddrV4, remote: SocketAddrV4, start: Start, state: State) -> Tcb {
        let Start { iss, ts_offset } = start;
        let mss = cx.config.mss();
        Tcb {
            state,
            local,
            remote,
            passive: state == State::SynReceived,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_mss: DEFAULT_MSS.min(mss),
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_buf: RcvBuf::new(cx.config.recv_buffer_initial.min(cx.config.recv_buffer), cx.now, SeqNum(0)),
            options: Negotiated::offer(cx.config),
            ts: TsState::new(ts_offset),
            tx: VecDeque::new(),
            tx_start: iss + 1,
            fin_queued: false,
            rx: VecDeque::new(),
            ooo: Reassembly::default(),
            rtt: RttEstimator::default(),
            rtt_timing: None,
            cc: Congestion::new(cx.config.congestion, mss, iss, false),
            sack: Scoreboard::default(),
            sent: SentLog::new(iss, cx.config.max_sent_runs),
            rack: Rack::new(iss),
            tlp: Tlp::default(),
            loss_probe: false,
            retries: 0,
            rtx_timer: None,
            delayed_ack: None,
            fin_wait_2_timer: None,
            ack_now: false,
            dup_acks_owed: Vec::new(),
            segs_unacked: 0,
            retransmit_first: false,
            window_probe: false,
            flight_sent: 0,
            nodelay: false,
            orphaned: false,
            error: None,
            ready: Ready::empty(),
            tx_blocked: false,
        }
    }

    /// Active OPEN (§3.10.1): create the TCB in SYN-SENT; the SYN leaves
    /// with the next `dispatch`.
    pub fn connect(cx: &Context, local: SocketAddrV4, remote: SocketAddrV4, start: Start) -> Tcb {
        let tcb = Tcb::new(cx, local, remote, start, State::SynSent);
        debug!("{} > {}: CLOSED -> SYN-SENT (connect)", local, remote);
        tcb
    }

    /// A SYN arrived at a listening port (§3.10.7.2): create the TCB in
    /// SYN-RECEIVED with RCV.NXT = SEG.SEQ + 1; the SYN,ACK leaves with the
    /// next `dispatch`.
    pub fn accept_syn(cx: &Context, local: SocketAddrV4, remote: SocketAddrV4, start: Start, syn: &TcpRepr) -> Tcb {
        let mut tcb = Tcb::new(cx, local, remote, start, State::SynReceived);
        tcb.synchronize_receive(cx, syn);
        tcb.update_window(syn);
        debug!("{} > {}: LISTEN -> SYN-RECEIVED (SYN received)", local, remote);
        tcb
    }

    /// An ACK returned one of our SYN cookies (RFC 4987 §3.6): the TCB as it
    /// would have been had we kept it, SYN-RECEIVED with our SYN (ISS = the
    /// cookie) sent, from the client's SYN as the cookie kept it (`syn`: its
    /// ISN and MSS). The ACK, processed next, completes the handshake.
    pub fn from_syn_cookie(
        cx: &Context,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        start: Start,
        syn: &TcpRepr,
    ) -> Tcb {
        let mut tcb = Tcb::accept_syn(cx, local, remote, start, syn);
        tcb.snd_nxt = start.iss + 1;
        debug!("{} > {}: SYN-RECEIVED from a SYN cookie", local, remote);
        tcb
    }

    /// Learn the peer's initial sequence number and options from its SYN
    /// (or SYN,ACK), and settle which options both sides use.
    fn synchronize_receive(&mut self, cx: &Context, syn: &TcpRepr) {
        self.irs = syn.seq_number;
        self.rcv_nxt = syn.seq_number + 1;
        self.options = self.options.agree(&syn.options);
        if let (true, Some(ts)) = (self.options.timestamps, syn.options.timestamps) {
            self.ts.synchronize(cx.now, ts.tsval);
            self.ts.last_ack_sent = self.rcv_nxt; // what our next segment acknowledges
        }
        self.rcv_buf = RcvBuf::new(self.rcv_buf.size, cx.now, self.rcv_nxt);
        self.rcv_adv = self.rcv_nxt + self.rcv_buf.size.min(MAX_UNSCALED_WINDOW);
        let peer_mss = syn.options.mss.map_or(DEFAULT_MSS, usize::from);
        self.snd_mss = peer_mss.clamp(1, cx.config.mss());
        self.cc = Congestion::new(cx.config.congestion, self.snd_mss, self.iss, self.options.sack_permitted);
    }

    fn set_state(&mut self, new: State, why: &str) {
        debug!("{} > {}: {} -> {} ({})", self.local, self.remote, self.state, new, why);
        self.state = new;
        if matches!(new, State::Closed | State::TimeWait) {
            self.ready |= Ready::CLOSED;
        }
    }

    fn tx_end(&self) -> SeqNum {
        self.tx_start + self.tx.len()
    }

    fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.tx_end() + 1
    }

    /// The window we advertise, in bytes, for a window field scaled by
    /// `shift`: the free buffer space, as much as the field can carry; but
    /// no less than was promised (the right edge must not move left,
    /// §3.8.6); and moving the edge only when the gain is worth a segment
    /// (receiver-side silly window avoidance, §3.8.6.2.2).
    ///
    /// A scaled field carries whole units of 2^shift, and RCV.NXT moves by
    /// any amount, so a promise may not fit: it is rounded down, and the
    /// edge announced falls back by less than a unit. RFC 7323 §2.4 allows
    /// that retraction, provided segments up to the edge announced before
    /// are still accepted: `rcv_adv` keeps the furthest. Rounding up instead
    /// would let the edge creep right with every segment while the
    /// application reads nothing (when a unit exceeds a segment, the window
    /// would never close).
    fn receive_window(&self, cx: &Context, shift: u8) -> usize {
        let unit = 1 << shift;
        let largest = MAX_UNSCALED_WINDOW << shift;
        let buffer = self.rcv_buf.size;
        let promised = (self.rcv_adv.max(self.rcv_nxt) - self.rcv_nxt).min(largest) / unit * unit;
        let free = (buffer.saturating_sub(self.rx.len()) / unit * unit).min(largest);
        let threshold = (buffer / 2).min(cx.config.mss());
        if free >= promised + threshold || free == (buffer / unit * unit).min(largest) {
            free.max(promised)
        } else {
            promised
        }
    }

    /// Window scaling, sending side (RFC 7323 §2.2–2.3): the shift of the
    /// window field in a segment we send. A SYN's is never scaled.
    fn window_shift(&self, flags: Flags) -> u8 {
        if flags.contains(Flags::SYN) {
            0
        } else {
            self.options.rcv_shift()
        }
    }

    /// Window scaling, receiving side: the window a segment offers, in
    /// bytes (SND.WND = SEG.WND << Snd.Wind.Shift; a SYN's is never scaled).
    fn peer_window(&self, repr: &TcpRepr) -> usize {
        let shift = if repr.flags.contains(Flags::SYN) { 0 } else { self.options.snd_shift() };
        usize::from(repr.window_len) << shift
    }

    // ------------------------------------------------------------------
    // The application's calls (RFC 9293 §3.10.1 – §3.10.5)
    // ------------------------------------------------------------------

    /// SEND (§3.10.2): queue as much as fits in the send buffer.
    pub fn send(&mut self, cx: &Context, data: &[u8]) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued
            || !matches!(self.state, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
        {
            return Err(Error::Closing);
        }
        let room = cx.config.send_buffer - self.tx.len();
        let n = room.min(data.len());
        if n == 0 && !data.is_empty() {
            self.tx_blocked = true;
            return Err(Error::WouldBlock);
        }
        copy::append(&mut self.tx, &data[..n]);
        Ok(n)
    }

    /// Room left in the send buffer.
    pub fn send_room(&self, config: &Config) -> usize {
        config.send_buffer.saturating_sub(self.tx.len())
    }

    /// RECEIVE (§3.10.3): copy out what has arrived in order. `Ok(0)` means
    /// the peer closed and everything it sent has been read.
    pub fn recv(&mut self, cx: &Context, buf: &mut [u8]) -> Result<usize, Error> {
        if self.rx.is_empty() {
            return match self.error {
                Some(e) => Err(e),
                // CLOSED without an error: nothing more can ever arrive.
                None if self.state.fin_received() || self.state == State::Closed => Ok(0),
                None => Err(Error::WouldBlock),
            };
        }
        let shift = self.window_shift(Flags::ACK);
        let before = self.receive_window(cx, shift);
        let n = self.rx.len().min(buf.len());
        let (a, b) = self.rx.as_slices();
        let from_a = n.min(a.len());
        copy::copy(&mut buf[..from_a], &a[..from_a]);
        copy::copy(&mut buf[from_a..n], &b[..n - from_a]);
        self.rx.drain(..n);
        release_if_empty(&mut self.rx);
        if let Some(srtt) = self.rtt.srtt() {
            let read_seq = self.rcv_nxt - self.rx.len();
            self.rcv_buf.on_read(cx.now, read_seq, srtt, cx.config.recv_buffer);
        }
        // Tell the peer when the window opened by enough to matter,
        // especially when it had been closed.
        let after = self.receive_window(cx, shift);
        if after > before && (before == 0 || after - before >= 2 * self.snd_mss.min(cx.config.mss())) {
            self.ack_now = true;
        }
        Ok(n)
    }

    /// Bytes waiting to be read.
    pub fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    /// What the peer has SACKed of what we sent.
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.sack
    }

    /// Runs in the log of sent segments: at most `Config::max_sent_runs`.
    pub fn sent_runs(&self) -> usize {
        self.sent.len()
    }

    /// Bytes written and not yet acknowledged: the send buffer in use.
    pub fn send_queue(&self) -> usize {
        self.tx.len()
    }

    /// Out-of-order segments held: at most `Config::max_ooo_segments`.
    pub fn ooo_segments(&self) -> usize {
        self.ooo.segments()
    }

    /// CLOSE of the sending side (§3.10.4): a FIN follows the queued data.
    pub fn shutdown(&mut self) {
        match self.state {
            State::SynSent => self.set_state(State::Closed, "close in SYN-SENT"),
            // "Queue for processing after entering ESTABLISHED state": the
            // FIN follows the ACK of our SYN.
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1, "close");
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck, "close");
            }
            _ => {}
        }
    }

    /// CLOSE (§3.10.4) and the application lets go of the socket: unread
    /// data is discarded; the TCB lives on until the close completes.
    pub fn close(&mut self) {
        self.orphaned = true;
        self.rx.clear();
        self.ready = Ready::empty();
        self.shutdown();
    }

    /// ABORT (§3.10.5): send RST in synchronized states and delete the TCB.
    /// Returns the RST to send, if any.
    /// In CLOSING, LAST-ACK and TIME-WAIT the peer has nothing left to hear:
    /// "delete the TCB" without an RST. The RST carries SND.NXT, but never
    /// past the window's right edge, SND.UNA + SND.WND: a zero-window probe
    /// lies beyond it, and a peer that keeps its window shut accepts an RST
    /// only at exactly RCV.NXT (§3.10.7.4 "first"), else drops it unseen.
    /// (Linux picks the same, `tcp_acceptable_seq`.)
    pub fn abort(&mut self, cx: &Context) -> Option<TcpRepr> {
        let seq = self.snd_nxt.min(self.snd_una + self.snd_wnd);
        let rst = matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        )
        .then(|| self.control(cx, seq, Flags::RST));
        self.set_state(State::Closed, "abort");
        self.orphaned = true;
        rst
    }

    // ------------------------------------------------------------------
    // SEGMENT ARRIVES (RFC 9293 §3.10.7)
    // ------------------------------------------------------------------

    /// A segment for this connection arrived. Returns any segment to send
    /// that is not part of the connection's own stream (an RST).
    pub fn on_segment(&mut self, cx: &mut Context, seg: Segment) -> Option<TcpRepr> {
        match self.state {
            State::SynSent => self.on_segment_syn_sent(cx, seg),
            _ => self.on_segment_synchronizing(cx, seg),
        }
    }

    /// §3.10.7.3: SYN-SENT.
    fn on_segment_syn_sent(&mut self, cx: &mut Context, seg: Segment) -> Option<TcpRepr> {
        let repr = seg.repr;
        let flags = repr.flags;
        // First, check the ACK bit: it must acknowledge our SYN.
        let ack_ok = flags.contains(Flags::ACK) && repr.ack_number > self.iss && repr.ack_number <= self.snd_nxt;
        if flags.contains(Flags::ACK) && !ack_ok {
            return (!flags.contains(Flags::RST)).then(|| reset_for(repr, seg.payload.len()));
        }
        // Second, the RST bit: with an acceptable ACK the peer refused us.
        if flags.contains(Flags::RST) {
            if ack_ok {
                cx.counters.rsts_received += 1;
                self.fail(Error::Refused, "connection refused");
            }
            return None;
        }
        // Fourth, the SYN bit.
        if !flags.contains(Flags::SYN) {
            return None;
        }
        self.synchronize_receive(cx, repr);
        if ack_ok {
            self.rtt_sample(cx, repr);
            self.snd_una = repr.ack_number;
            self.update_window(repr);
            self.sent.acked(self.snd_una, &mut |_, _, _| {});
            self.rtx_timer = None;
            self.set_state(State::Established, "SYN,ACK received");
            self.ready |= Ready::CONNECTED | Ready::WRITABLE;
            self.ack_now = true;
        } else {
            // Simultaneous open (§3.5, Figure 7): both SYNs crossed. Send
            // our SYN again, now as SYN,ACK.
            self.set_state(State::SynReceived, "SYN received (simultaneous open)");
            self.presume_first_lost();
            self.update_window(repr);
        }
        None
    }

    /// §3.10.7.4: every state from SYN-RECEIVED on, in the RFC's order.
    fn on_segment_synchronizing(&mut self, cx: &mut Context, seg: Segment) -> Option<TcpRepr> {
        let repr = seg.repr;
        let flags = repr.flags;

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

        // A retransmitted SYN in SYN-RECEIVED: our SYN,ACK was lost, so send
        // it again now rather than wait for our timer.
        if self.state == State::SynReceived && flags == Flags::SYN && repr.seq_number == self.irs {
            self.presume_first_lost();
            return None;
        }

        // First, check the sequence number (Table 6). A SYN gets a challenge
        // ACK whatever its sequence number (RFC 5961 §4, under its budget).
        if !self.acceptable(&seg) {
            if flags.contains(Flags::SYN) {
                self.challenge_ack(cx);
            } else if !flags.contains(Flags::RST) {
                self.ack_now = true;
            }
            return None;
        }
        // §4.3, §5.3 R3: the segment is in the window; it may be the newest.
        if let Some(ts) = ts {
            self.ts.update(cx.now, repr.seq_number, ts.tsval);
        }

        // Second, check the RST bit: only one exactly at RCV.NXT resets
        // (RFC 5961 §3); one elsewhere in the window is challenged.
        if flags.contains(Flags::RST) {
            if repr.seq_number != self.rcv_nxt {
                self.challenge_ack(cx);
                return None;
            }
            cx.counters.rsts_received += 1;
            if self.state == State::SynReceived && self.passive {
                self.set_state(State::Closed, "RST in SYN-RECEIVED: back to LISTEN");
                self.orphaned = true;
            } else if self.state == State::SynReceived {
                self.fail(Error::Refused, "RST in SYN-RECEIVED: connection refused");
            } else if matches!(self.state, State::Closing | State::LastAck) {
                self.set_state(State::Closed, "RST");
            } else {
                self.fail(Error::Reset, "RST: connection reset");
            }
            return None;
        }

        // Third, security: no compartments here.

        // Fourth, check the SYN bit. A passive SYN-RECEIVED goes back to
        // LISTEN; synchronized states answer with a challenge ACK (RFC 5961
        // §4) rather than the reset RFC 793 prescribed.
        if flags.contains(Flags::SYN) {
            if self.state == State::SynReceived && self.passive {
                self.set_state(State::Closed, "SYN in SYN-RECEIVED: back to LISTEN");
                self.orphaned = true;
            } else {
                self.challenge_ack(cx);
            }
            return None;
        }

        // Fifth, check the ACK field.
        if !flags.contains(Flags::ACK) {
            return None;
        }
        if self.state == State::SynReceived {
            if !(repr.ack_number > self.snd_una && repr.ack_number <= self.snd_nxt) {
                return Some(reset_for(repr, seg.payload.len()));
            }
            self.set_state(State::Established, "ACK of SYN");
            self.rtt_sample(cx, repr);
            self.snd_una = self.iss + 1;
            self.sent.acked(self.snd_una, &mut |_, _, _| {});
            self.rtx_timer = None; // RFC 6298 §5.2: all that was sent is acknowledged
            self.update_window(repr);
            self.ready |= Ready::CONNECTED | Ready::WRITABLE;
            if self.fin_queued {
                // CLOSE was called in SYN-RECEIVED: now the FIN may go.
                self.set_state(State::FinWait1, "close queued in SYN-RECEIVED");
            }
        }
        if !self.process_ack(cx, repr, seg.payload.len()) {
            return None;
        }
        match self.state {
            State::FinWait1 if self.fin_acked() => self.enter_fin_wait_2(cx),
            State::Closing if self.fin_acked() => self.set_state(State::TimeWait, "ACK of FIN"),
            State::LastAck if self.fin_acked() => {
                self.set_state(State::Closed, "ACK of FIN");
                return None;
            }
            _ => {}
        }

        // Sixth, the URG bit: urgent data is delivered inline, like any data.

        // Seventh, process the segment text; eighth, the FIN bit.
        self.receive_text(cx, seg);
        None
    }

    /// RFC 5961's challenge ACK, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, if the
    /// stack's budget for this second allows (§7, `challenge_ack.rs`).
    fn challenge_ack(&mut self, cx: &mut Context) {
        if cx.challenge_acks.allow(cx.now) {
            cx.counters.challenge_acks += 1;
            self.ack_now = true;
        } else {
            cx.counters.challenge_acks_limited += 1;
        }
    }

    /// Table 6 of §3.10.7.4: does any part of the segment fall in the
    /// receive window?
    fn acceptable(&self, seg: &Segment) -> bool {
        let seq = seg.repr.seq_number;
        let wnd = self.rcv_adv.max(self.rcv_nxt) - self.rcv_nxt;
        match (seg.len(), wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq.in_window(self.rcv_nxt, wnd),
            (_, 0) => false,
            (len, _) => seq.in_window(self.rcv_nxt, wnd) || (seq + (len - 1)).in_window(self.rcv_nxt, wnd),
        }
    }

    /// The ACK processing of §3.10.7.4 "fifth" for ESTABLISHED and the
    /// states that do the same. Returns false when the segment is dropped.
    fn process_ack(&mut self, cx: &mut Context, repr: &TcpRepr, payload_len: usize) -> bool {
        let ack = repr.ack_number;
        // "If the ACK acks something not yet sent, send an ACK, drop it."
        // RFC 5961 §5: also drop ACKs too far behind to be honest; the ACK
        // we send is a challenge ACK, under its budget.
        if ack > self.snd_nxt || ack < SeqNum(self.snd_una.0.wrapping_sub(self.max_snd_wnd as u32)) {
            self.challenge_ack(cx);
            return false;
        }
        let window_changed = self.peer_window(repr) != self.snd_wnd;
        // A duplicate ACK in the sense of RFC 5681 §2.
        let same_ack = ack == self.snd_una
            && self.snd_nxt > self.snd_una
            && payload_len == 0
            && !repr.flags.contains(Flags::SYN)
            && !repr.flags.contains(Flags::FIN)
            && !window_changed;
        let advanced = ack > self.snd_una;
        let was_recovering = self.cc.recovering(self.snd_una);
        if advanced {
            self.on_new_ack(cx, repr);
        }
        let dsack = self.update_scoreboard(cx, repr);
        let mut reordering = None;
        if self.options.sack_permitted {
            // RFC 8985 §6.2 step 4, and §7.4.2: what this ACK says of the
            // reordering window and of the loss probe.
            let recovery_ended = was_recovering && !self.cc.recovering(self.snd_una);
            self.rack.on_ack(dsack.is_some(), self.snd_una, self.snd_nxt, recovery_ended);
            let plain_dup_ack = same_ack && repr.options.sack_blocks[0].is_none();
            if self.tlp.on_ack(ack, dsack, plain_dup_ack) {
                cx.counters.tlp_recoveries += 1;
                self.cc.on_probe_repaired(self.snd_nxt - self.snd_una);
            }
            if self.rack.take_advanced() {
                reordering = self.detect_losses(cx);
            }
        } else if same_ack {
            self.on_duplicate_ack(cx);
        }
        self.set_timer_after_ack(cx.now, advanced, reordering);
        if self.snd_wnd == 0 && ack == self.snd_una {
            self.retries = 0; // the peer answers our window probes: it is alive
        }
        // Update the send window from the newest segment only.
        if self.snd_wl1 < repr.seq_number || (self.snd_wl1 == repr.seq_number && self.snd_wl2 <= ack) {
            self.update_window(repr);
        }
        true
    }

    /// The timer after an ACK (RFC 8985 §8: arming one kind cancels the
    /// others): RACK's reordering timer if a segment's reordering window is
    /// still open; else, when SND.UNA advanced, the loss probe or the
    /// retransmission timer anew (RFC 6298 §5.3); else the retransmission
    /// timer keeps running, and a probe timer that TLP no longer allows
    /// (SACK blocks came) becomes one.
    fn set_timer_after_ack(&mut self, now: Instant, advanced: bool, reordering: Option<Duration>) {
        if let Some(wait) = reordering {
            self.rtx_timer = Some((now + wait, RtxTimer::Reordering));
        } else if advanced || !matches!(self.rtx_timer, Some((_, RtxTimer::Retransmission)) | None) {
            self.restart_timer(now);
        }
    }

    /// Start the timer for what is in flight: the probe timeout where TLP
    /// may probe (RFC 8985 §7.2), else the retransmission timeout; none
    /// when all is acknowledged (RFC 6298 §5.2).
    fn restart_timer(&mut self, now: Instant) {
        self.rtx_timer = if self.snd_nxt == self.snd_una {
            None
        } else if self.tlp_allowed() {
            let one_segment = self.snd_nxt - self.snd_una <= self.snd_mss;
            Some((now + Tlp::pto(self.rtt.srtt(), one_segment, self.rtt.rto()), RtxTimer::LossProbe))
        } else {
            Some((now + self.rtt.rto(), RtxTimer::Retransmission))
        };
    }

    /// RFC 8985 §7.2: a loss probe may be scheduled with SACK, data in
    /// flight, no recovery under way, no probe unanswered, and nothing
    /// SACKed (then RACK's own timer watches the flight).
    fn tlp_allowed(&self) -> bool {
        self.options.sack_permitted
            && self.state.is_synchronized()
            && self.snd_nxt > self.snd_una
            && !self.cc.recovering(self.snd_una)
            && self.sack.is_empty()
            && !self.tlp.in_episode()
    }

    /// SND.UNA < SEG.ACK: data, SYN or FIN newly acknowledged.
    fn on_new_ack(&mut self, cx: &mut Context, repr: &TcpRepr) {
        let ack = repr.ack_number;
        self.rtt_sample(cx, repr);
        let acked = ack - self.snd_una;
        let data_acked = (ack.min(self.tx_end()).max(self.tx_start)) - self.tx_start;
        self.tx.drain(..data_acked);
        self.tx_start += data_acked;
        release_if_empty(&mut self.tx);
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
        self.snd_una = ack;
        self.retries = 0;
        // What was in flight when the ACKed data left: the ACKs of one batch
        // are all processed before anything more is sent.
        let sent = (self.snd_nxt - self.snd_una + acked).max(self.flight_sent);
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
        let update = self.sack.update(blocks, repr.ack_number, self.snd_una, self.snd_nxt, limit, &mut |from, to| {
            sent.pieces(from, to, &mut |end, run| rack.delivered(now, end, run));
        });
        cx.counters.sack_blocks_ignored += u64::from(update.ignored);
        cx.counters.dsack_blocks += u64::from(update.dsack.is_some());
        if self.sack.reneged(self.snd_una) {
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
    fn detect_losses(&mut self, cx: &mut Context) -> Option<Duration> {
        let reo_wnd = self.reo_wnd();
        let (lost, reordering) = self.rack.detect_loss(cx.now, reo_wnd, &mut self.sent, &self.sack, self.snd_mss);
        if lost > 0 {
            cx.counters.rack_losses += lost as u64;
            let flight = (self.snd_nxt - self.snd_una).max(self.flight_sent);
            if self.cc.on_loss(self.snd_una, self.snd_nxt, flight) == Action::RetransmitFirst {
                cx.counters.fast_retransmits += 1;
                self.tlp.end_episode();
                self.retransmit_first = true;
            }
        }
        reordering
    }

    /// RACK.reo_wnd now (RFC 8985 §6.2 step 4).
    fn reo_wnd(&self) -> Duration {
        let recovering = self.cc.recovering(self.snd_una);
        self.rack.reo_wnd(recovering, self.sack.dup_thresh_sacked(self.snd_mss), self.rtt.srtt())
    }

    /// Without SACK, a duplicate ACK: the third starts fast retransmit.
    fn on_duplicate_ack(&mut self, cx: &mut Context) {
        // FlightSize as it was when the peer sent these ACKs: the ACKs of
        // one batch are all processed before anything is sent (MUST-59), so
        // the window a cumulative ACK among them opened is not refilled yet.
        let flight = (self.snd_nxt - self.snd_una).max(self.flight_sent);
        if self.cc.on_dup_ack(self.snd_una, self.snd_nxt, flight) == Action::RetransmitFirst {
            cx.counters.fast_retransmits += 1;
            self.presume_first_lost();
        }
    }

    /// Fast retransmit without SACK (RFC 5681 §3.2), a partial ACK in
    /// NewReno's recovery (RFC 6582 §3.2 step 4), or the peer's SYN again:
    /// the first unacknowledged segment is presumed lost and goes at once.
    fn presume_first_lost(&mut self) {
        let end = self.snd_una + self.segment_size().min(self.snd_nxt - self.snd_una);
        self.sent.mark_lost(self.snd_una, end);
        self.retransmit_first = true;
    }

    /// `repr` advances SND.UNA (not yet updated): measure the round trip
    /// (RFC 6298). With timestamps every such ACK is a sample, from the
    /// TSval it echoes, even for retransmitted data: the echo tells which
    /// copy arrived (RFC 7323 §4); as a window brings several, each counts
    /// for less (Appendix G: one per two segments, for delayed ACKs).
    /// Without them, only the timed segment, never retransmitted (Karn).
    fn rtt_sample(&mut self, cx: &Context, repr: &TcpRepr) {
        let timed = self.rtt_timing.filter(|&(end, _)| repr.ack_number >= end);
        if timed.is_some() {
            self.rtt_timing = None;
        }
        if self.options.timestamps {
            if let Some(r) = repr.options.timestamps.and_then(|ts| self.ts.rtt(cx.now, ts.tsecr)) {
                let flight = self.snd_nxt - self.snd_una;
                self.rtt.sample_of(r, flight.div_ceil(2 * self.snd_mss) as u32);
                self.rack.rtt_sample(r);
            }
        } else if let Some((_, sent)) = timed {
            self.rtt.sample(cx.now - sent);
            self.rack.rtt_sample(cx.now - sent);
        }
    }

    fn update_window(&mut self, repr: &TcpRepr) {
        self.snd_wnd = self.peer_window(repr);
        self.snd_wl1 = repr.seq_number;
        self.snd_wl2 = repr.ack_number;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
    }

    /// §3.10.7.4 "seventh" and "eighth": deliver the text, then the FIN.
    fn receive_text(&mut self, cx: &mut Context, seg: Segment) {
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            // CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN has come, so
            // any text or FIN is a retransmission; ACK it again.
            if seg.len() > 0 {
                self.ack_now = true;
            }
            return;
        }
        // Trim the segment to the window: what lies before RCV.NXT was
        // received already; what lies past the right edge is not allowed.
        let mut seq = seg.repr.seq_number;
        let mut data = seg.payload;
        let mut fin = seg.repr.flags.contains(Flags::FIN);
        if seq < self.rcv_nxt {
            let old = self.rcv_nxt - seq;
            if old > data.len() {
                fin = false; // the FIN itself is old
            }
            data = &data[old.min(data.len())..];
            seq = self.rcv_nxt;
        }
        let room = self.rcv_adv.max(self.rcv_nxt) - seq;
        if data.len() >= room && (data.len() > room || fin) {
            data = &data[..room.min(data.len())];
            fin = false;
        }
        if data.is_empty() && !fin {
            return;
        }
        cx.counters.bytes_in += data.len() as u64;

        if seq != self.rcv_nxt {
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
        self.deliver(data);
        let (rcv_nxt, held_fin) = {
            let rx = &mut self.rx;
            let orphaned = self.orphaned;
            self.ooo.drain(self.rcv_nxt, |d| {
                if !orphaned {
                    copy::append(rx, d);
                }
            })
        };
        self.rcv_nxt = rcv_nxt;
        let fin = fin || held_fin;
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
            self.receive_fin();
        }
    }

    fn deliver(&mut self, data: &[u8]) {
        if !self.orphaned {
            if self.rx.is_empty() {
                // The peer may fill the window we advertised: room for all
                // of it in one allocation, rather than growing the buffer
                // segment by segment each time `recv` has given it back.
                self.rx.reserve(self.rcv_adv.max(self.rcv_nxt) - self.rcv_nxt);
            }
            copy::append(&mut self.rx, data);
        }
        self.rcv_nxt += data.len();
    }

    /// §3.10.7.4 "eighth": the peer has no more to send.
    fn receive_fin(&mut self) {
        self.rcv_nxt += 1;
        self.ack_now = true;
        self.ready |= Ready::READABLE | Ready::PEER_CLOSED;
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait, "FIN received"),
            State::FinWait1 if self.fin_acked() => self.set_state(State::TimeWait, "FIN received, our FIN acked"),
            State::FinWait1 => self.set_state(State::Closing, "FIN received (simultaneous close)"),
            State::FinWait2 => {
                self.fin_wait_2_timer = None;
                self.set_state(State::TimeWait, "FIN received");
            }
            _ => {}
        }
    }

    /// Our FIN is acknowledged in FIN-WAIT-1 (§3.10.7.4 "fifth").
    fn enter_fin_wait_2(&mut self, cx: &Context) {
        self.set_state(State::FinWait2, "ACK of FIN");
        // A peer that never sends its FIN must not pin an orphaned
        // connection forever.
        if self.orphaned {
            self.fin_wait_2_timer = Some(cx.now + cx.config.fin_wait_2_timeout);
        }
    }

    /// The connection failed: tell the application, drop everything queued.
    fn fail(&mut self, error: Error, why: &str) {
        self.set_state(State::Closed, why);
        self.error = Some(error);
        self.ready |= Ready::RESET;
        self.tx.clear();
    }

    // ------------------------------------------------------------------
    // Timeouts (RFC 9293 §3.10.8)
    // ------------------------------------------------------------------

    /// The earliest moment a timer of this connection fires.
    pub fn poll_at(&self) -> Option<Instant> {
        self.rtx_timer.map(|(at, _)| at).into_iter().chain(self.delayed_ack).chain(self.fin_wait_2_timer).min()
    }

    /// Fire the timers that are due.
    pub fn on_timer(&mut self, cx: &mut Context) {
        let now = cx.now;
        if self.delayed_ack.is_some_and(|t| t <= now) {
            self.delayed_ack = None;
            self.ack_now = true;
        }
        if self.fin_wait_2_timer.is_some_and(|t| t <= now) {
            self.fin_wait_2_timer = None;
            self.set_state(State::Closed, "FIN-WAIT-2 timeout");
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

    /// RFC 6298 §5.4–5.7: back off, and after too many tries in a row give
    /// up (§3.8.3, R2). What is presumed lost is sent again from SND.UNA, a
    /// window at a time from one segment, skipping what the peer SACKed
    /// (RFC 6675 §5.1): without SACK everything outstanding, with it the
    /// first segment and those RACK's clock has run out for (RFC 8985 §6.3).
    fn on_retransmission_timeout(&mut self, cx: &mut Context) {
        let in_flight = self.snd_nxt - self.snd_una;
        if in_flight == 0 {
            // Nothing outstanding: this was the zero-window probe timer.
            self.window_probe = true;
            self.rtt.back_off();
            return;
        }
        cx.counters.rto_expirations += 1;
        self.retries += 1;
        let limit = if self.state.is_synchronized() { cx.config.max_retries } else { cx.config.syn_retries };
        if self.retries > limit {
            cx.counters.connections_timed_out += 1;
            self.fail(Error::TimedOut, "retransmission limit reached");
            return;
        }
        self.cc.on_timeout(in_flight, self.snd_nxt);
        self.rtt.back_off();
        self.rtt_timing = None; // Karn: never time a retransmitted segment
        self.tlp.end_episode();
        if self.options.sack_permitted {
            self.rack.mark_losses_on_rto(cx.now, self.reo_wnd(), &mut self.sent);
        } else {
            self.sent.mark_lost(self.snd_una, self.snd_nxt);
        }
        // §5.4: the earliest segment goes now, whatever the segments not
        // presumed lost leave of the one-segment window; §5.5: the timer
        // restarts, backed off.
        self.retransmit_first = true;
        self.rtx_timer = Some((cx.now + self.rtt.rto(), RtxTimer::Retransmission));
    }

    // ------------------------------------------------------------------
    // Segments leave
    // ------------------------------------------------------------------

    /// Send what `next_segment` chooses, for as long as it chooses, then
    /// any ACK that is owed.
    pub fn dispatch(&mut self, cx: &mut Context, emit: &mut dyn FnMut(&Tcb, Outgoing)) {
        if matches!(self.state, State::Closed | State::Listen | State::TimeWait) {
            return;
        }
        let (mut sent, mut sent_new, mut probed) = (false, false, false);
        // Nothing that sets the segment size changes while segments leave.
        let full = self.segment_size();
        while let Some((seq, len, probe)) = self.next_segment(full) {
            let end = self.emit_segment(cx, seq, len, emit);
            let resent = seq < self.snd_nxt;
            self.sent.sent(seq, end, cx.now);
            if probe {
                cx.counters.tlp_probes += 1;
                self.tlp.sent(self.snd_nxt.max(end), resent);
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
            // A queued FIN rides along when it follows the last data byte.
            self.snd_nxt = self.snd_nxt.max(end);
            sent = true;
            sent_new |= !resent && !probe;
            probed |= probe;
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
            let mut ack = self.control(cx, self.snd_nxt, Flags::ACK);
            ack.options.sack_blocks = sack_blocks;
            self.transmit(cx, ack, 0, 0, emit);
        }
        if owed.is_empty() && !sent && self.ack_now {
            let ack = self.control(cx, self.snd_nxt, Flags::ACK);
            self.transmit(cx, ack, 0, 0, emit);
        }
        self.flight_sent = self.snd_nxt - self.snd_una;
        let waiting = self.tx_end() > self.snd_nxt || (self.fin_queued && self.snd_nxt <= self.tx_end());
        if waiting && self.sent.is_full() {
            cx.counters.sent_log_full += 1; // data waits for ACKs to free runs of the log
        }
        // While data is outstanding a timer runs (RFC 6298 §5.1); with a
        // zero window, data waiting and nothing in flight, the probe timer
        // (§3.8.6.1), with the retransmission timer's backoff.
        let zero_window = waiting && self.state.is_synchronized() && self.snd_wnd == 0;
        if self.rtx_timer.is_none() && (self.snd_nxt > self.snd_una || zero_window) {
            self.rtx_timer = Some((cx.now + self.rtt.rto(), RtxTimer::Retransmission));
        }
    }

    /// What to send next, as (first sequence number, data bytes, whether it
    /// is a loss probe), or `None`; `full` is `segment_size()`. The one place
    /// where the sender chooses between sending again and sending new; in
    /// this order:
    ///
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
    ///    2), as Nagle and silly window avoidance allow, then the FIN, or
    ///    one byte into a zero window, as a probe (§3.8.6.1).
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
        if self.snd_nxt == self.iss {
            return Some((self.iss, 0, false)); // 1.
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
        let unsent = self.tx_end().max(self.snd_nxt) - self.snd_nxt;
        let usable = self.snd_wnd.saturating_sub(self.snd_nxt - self.snd_una);
        if unsent > 0 && usable > 0 {
            return Some((self.snd_nxt, unsent.min(usable).min(full)));
        }
        if self.snd_nxt == self.snd_una {
            return None;
        }
        let data_end = self.tx_end().min(self.snd_nxt);
        let seq = (data_end - full.min(data_end - self.snd_una)).max(self.snd_una);
        Some((seq, data_end - seq))
    }

    /// How many bytes of new data go at SND.NXT, with `room` left in the
    /// congestion window, in segments of `full` bytes. The FIN counts as
    /// zero bytes here.
    fn next_new_data(&mut self, room: usize, full: usize) -> Option<(SeqNum, usize)> {
        let seq = self.snd_nxt;
        let unsent = self.tx_end().max(seq) - seq;
        let fin_unsent = self.fin_queued && seq <= self.tx_end();
        if unsent == 0 {
            return fin_unsent.then_some((seq, 0));
        }
        let in_flight = seq - self.snd_una;
        let usable = self.snd_wnd.saturating_sub(in_flight).min(room);
        if usable == 0 {
            if self.window_probe && in_flight == 0 {
                self.window_probe = false;
                return Some((seq, 1));
            }
            return None;
        }
        let len = unsent.min(usable).min(full);
        // Sender silly window avoidance and Nagle (§3.7.4, §3.8.6.2.1):
        // send a full segment, or everything left when nothing is in flight
        // (or Nagle is off), or at least half the largest window seen.
        let all = len == unsent;
        if len == full
            || (all && (self.nodelay || in_flight == 0))
            || len >= self.max_snd_wnd / 2
            || (in_flight == 0 && self.snd_wnd < self.snd_mss)
        {
            Some((seq, len))
        } else {
            None
        }
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
    fn segment_size(&self) -> usize {
        // The options' length, not their values: any time will do.
        let room = self.snd_mss.saturating_sub(self.options(Instant::ZERO, true).buffer_len()).max(1);
        let half = self.max_snd_wnd / 2;
        if half >= DEFAULT_MSS {
            room.min(half)
        } else {
            room
        }
    }

    /// Build and emit the segment that starts at `seq` and carries up to
    /// `max_data` bytes, with SYN and FIN where they belong. Returns the
    /// sequence number after it.
    fn emit_segment(
        &mut self,
        cx: &mut Context,
        seq: SeqNum,
        max_data: usize,
        emit: &mut dyn FnMut(&Tcb, Outgoing),
    ) -> SeqNum {
        if seq == self.iss && !self.state.is_synchronized() {
            let flags = if self.state == State::SynReceived { Flags::SYN | Flags::ACK } else { Flags::SYN };
            let mut repr = self.control(cx, seq, flags);
            let mss = cx.config.mss().min(u16::MAX as usize) as u16;
            repr.options = TcpOptions { timestamps: repr.options.timestamps, ..self.options.syn_options(mss) };
            self.transmit(cx, repr, 0, 0, emit);
            return seq + 1;
        }
        let mut repr = self.control(cx, seq, Flags::ACK);
        let offset = seq - self.tx_start;
        // `next_segment` chose `max_data` within `segment_size`, which left
        // the options their room in the MSS.
        let len = max_data.min(self.tx.len().saturating_sub(offset));
        let mut end = seq + len;
        if len > 0 && end == self.tx_end() {
            repr.flags |= Flags::PSH; // the last segment of what was written
        }
        if self.fin_queued && end == self.tx_end() {
            repr.flags |= Flags::FIN;
            end += 1;
        }
        self.transmit(cx, repr, offset, len, emit);
        end
    }

    /// Hand one segment to the stack, with `len` bytes of the send buffer
    /// from `offset`. Every segment we send carries the current ACK and
    /// window, so any owed ACK is now paid.
    fn transmit(
        &mut self,
        cx: &mut Context,
        repr: TcpRepr,
        offset: usize,
        len: usize,
        emit: &mut dyn FnMut(&Tcb, Outgoing),
    ) {
        cx.counters.segments_out += 1;
        cx.counters.bytes_out += len as u64;
        if repr.flags.contains(Flags::ACK) {
            self.ack_now = false;
            self.delayed_ack = None;
            self.segs_unacked = 0;
            self.ts.last_ack_sent = repr.ack_number;
        }
        let edge = self.rcv_nxt + (usize::from(repr.window_len) << self.window_shift(repr.flags));
        self.rcv_adv = self.rcv_adv.max(edge);
        let (a, b) = self.tx.as_slices();
        let payload = slice_range(a, b, offset, len);
        emit(self, Outgoing { repr, payload });
    }

    /// A segment header from this connection: our sequence number, the
    /// current RCV.NXT and window, and the options.
    fn control(&self, cx: &Context, seq: SeqNum, flags: Flags) -> TcpRepr {
        let shift = self.window_shift(flags);
        let ack = flags.contains(Flags::ACK);
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ack_number: if ack { self.rcv_nxt } else { SeqNum(0) },
            flags,
            window_len: (self.receive_window(cx, shift) >> shift) as u16,
            options: self.options(cx.now, ack),
            ..TcpRepr::default()
        }
    }

    /// The options of a segment we send: the timestamps once they are in
    /// use (in every segment, RFC 7323 §3.2); and while data waits out of
    /// order, the SACK blocks that describe it (RFC 2018 §4: in every ACK).
    fn options(&self, now: Instant, ack: bool) -> TcpOptions {
        let mut options = TcpOptions {
            timestamps: self.options.timestamps.then(|| self.ts.option(now, ack)),
            ..TcpOptions::default()
        };
        if ack && self.options.sack_permitted && !self.ooo.is_empty() {
            options.sack_blocks = self.ooo.sack_blocks();
        }
        options
    }

    /// What the stack does with this TCB now.
    pub fn disposition(&self) -> Disposition {
        match self.state {
            State::TimeWait => Disposition::TimeWait,
            State::Closed if self.orphaned => Disposition::Delete,
            _ => Disposition::Keep,
        }
    }
}

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

/// An idle connection should hold no buffer memory: give back the
/// allocation of a drained buffer once it has grown past a page.
fn release_if_empty(buf: &mut VecDeque<u8>) {
    if buf.is_empty() && buf.capacity() > 4096 {
        *buf = VecDeque::new();
    }
}

/// `len` bytes from `offset` of the ring buffer whose halves are `a`, `b`.
fn slice_range<'a>(a: &'a [u8], b: &'a [u8], offset: usize, len: usize) -> (&'a [u8], &'a [u8]) {
    if offset >= a.len() {
        (&b[offset - a.len()..offset - a.len() + len], &[])
    } else {
        let in_a = len.min(a.len() - offset);
        (&a[offset..offset + in_a], &b[..len - in_a])
    }
}
