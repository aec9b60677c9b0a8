//! The Transmission Control Block: one connection's variables (RFC 9293
//! §3.3.1), and what happens to them when the application calls, when a
//! segment arrives and when a timer fires (the event processing of
//! §3.10), and how segments leave.
//!
//! This file holds the variables and what every part shares: the
//! `Tcb` struct, with the send and receive sequence variables grouped as
//! the RFC groups them (`SendSequence`, `ReceiveSequence`), and the types
//! the stack passes in and gets back. The events follow, one file each,
//! in the RFC's order; read them in this order:
//!
//! - `user.rs`: the user calls, OPEN to STATUS (§3.10.1–§3.10.6).
//! - `arrival.rs`: SEGMENT ARRIVES (§3.10.7), state by state, and in the
//!   other states the RFC's checks in order: sequence number, RST, SYN,
//!   ACK, text, FIN. Most state transitions are here.
//! - `ack.rs`: the ACK check, a sender's whole work: SND.UNA, the send
//!   window, round-trip times, SACK, loss detection, congestion control.
//! - `timers.rs`: timeouts (§3.10.8): retransmission, loss probe, RACK's
//!   reordering window, delayed ACK, FIN-WAIT-2.
//! - `output.rs`: segments leave: what to send next, how much, and every
//!   header.
//!
//! The SYN takes the sequence number ISS and the FIN the one after the last
//! data byte, so both are acknowledged, and retransmitted, like data.
//!
//! What is sent next, a retransmission, a loss probe or new data, is decided
//! in one place, `next_segment` (`output.rs`); what is lost, in one place
//! too, `detect_losses` (`ack.rs`: RACK, RFC 8985, with SACK) or where fast
//! retransmit and the timer presume it without SACK.

mod ack;
mod arrival;
mod output;
mod timers;
mod user;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use log::debug;

use super::autotune::RcvBuf;
use super::challenge_ack::ChallengeAcks;
use super::congestion::Congestion;
use super::isn::Start;
use super::options::Negotiated;
use super::rack::{Rack, SentLog, Tlp};
use super::reassembly::Reassembly;
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::send_buffer::SendBuffer;
use super::state::State;
use super::story::{Record, Story};
use super::timestamps::TsState;
use super::{Config, Counters, Error, Ready};
use crate::time::{Duration, Instant};
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpRepr};

pub use arrival::{is_connection_request, reset_for};

/// The MSS to assume of an IPv4 peer that sends none (RFC 9293 §3.7.1,
/// MUST-15): what fits in the 576-byte datagram every IPv4 host takes.
pub const DEFAULT_MSS: usize = 536;

/// The same for an IPv6 peer: what fits in IPv6's minimum MTU of 1280
/// (RFC 8200 §5), less 60 bytes of headers.
pub const DEFAULT_MSS_IPV6: usize = 1220;

/// The MSS to assume of `peer` if it says none (MUST-15), by its family.
pub fn default_mss(peer: IpAddr) -> usize {
    match peer {
        IpAddr::V4(_) => DEFAULT_MSS,
        IpAddr::V6(_) => DEFAULT_MSS_IPV6,
    }
}

/// The smallest MSS taken from a peer, whatever its SYN says: room for the
/// most options a header carries (40 bytes) and 8 bytes of data, Linux's
/// TCP_MIN_SND_MSS. §3.7.1 sets no floor, but an MSS of 1 would have us
/// cut the send buffer into segments of a byte under 40 bytes of headers
/// each, as many as a peer cares to make us send (CVE-2019-11479).
pub const MIN_PEER_MSS: usize = 48;

/// The MSS a SYN from `peer` announces (§3.7.1): its MSS option, the
/// family's default without one (`default_mss`), and at least
/// `MIN_PEER_MSS`. A connection learns it from the SYN itself
/// (`synchronize_receive`) or from a SYN cookie (`syn_cookie.rs`), both
/// through here.
pub fn peer_mss(option: Option<u16>, peer: IpAddr) -> usize {
    option.map_or(default_mss(peer), usize::from).max(MIN_PEER_MSS)
}

/// What the stack must do with a connection after an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    Keep,
    /// Enter TIME-WAIT: the stack keeps only the compact entry.
    TimeWait,
    /// CLOSED, but the application still holds the socket, to read what
    /// arrived or why the connection ended: the connection is out of the
    /// lookup table, so a segment for its 4-tuple gets the answer of a
    /// connection that does not exist (§3.10.7.1).
    Detach,
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
    /// A connection made in this call records its story (`story.rs`): all
    /// do with `Stories::All`; with `OnRequest`, those of a peer address
    /// the application asked for (`Stack::record_peer`).
    pub story: bool,
    /// Drained bulk receive buffers, for the next burst of any connection.
    pub rx_shelf: &'a mut RxShelf,
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

/// A segment the TCB wants sent: header fields, and the payload in the
/// pieces it lies in, in the send buffer.
pub struct Outgoing<'a> {
    pub repr: TcpRepr,
    pub payload: &'a [&'a [u8]],
}

/// The Send Sequence Variables (RFC 9293 §3.3.1, Table 2), read as the RFC
/// writes them: `snd.una` is SND.UNA. The send sequence space (Figure 3):
///
/// ```text
///                  1         2          3          4
///             ----------|----------|----------|----------
///                    SND.UNA    SND.NXT    SND.UNA
///                                         +SND.WND
///
///       1 - old sequence numbers that have been acknowledged
///       2 - sequence numbers of unacknowledged data
///       3 - sequence numbers allowed for new data transmission
///       4 - future sequence numbers that are not yet allowed
/// ```
///
/// Urgent data is sent in line (RFC 6093): SND.UP only marks where it
/// ends, and the segments before that mark say so (`header`).
#[derive(Copy, Clone, Debug)]
pub struct SendSequence {
    /// SND.UNA: the oldest sequence number not yet acknowledged.
    pub una: SeqNum,
    /// SND.NXT: the next new sequence number to send: retransmissions
    /// resend what lies below it and leave it where it is.
    pub nxt: SeqNum,
    /// SND.WND: the window the peer offers, in bytes from SND.UNA.
    pub wnd: usize,
    /// SND.WL1: the sequence number of the segment that last set SND.WND;
    /// an older segment must not set it again (§3.10.7.4 "fifth").
    pub wl1: SeqNum,
    /// SND.WL2: the acknowledgment number of that segment.
    pub wl2: SeqNum,
    /// ISS: our initial sequence number, the one our SYN takes.
    pub iss: SeqNum,
    /// MAX.SND.WND of RFC 5961 §5, the "maximum window" of §3.8.6.2.1: the
    /// largest SND.WND the peer has offered.
    pub max_wnd: usize,
    /// SND.UP: the sequence number after the last urgent byte written
    /// (§3.8.5, MUST-62). Urgent mode while SND.UNA is below it; it moves
    /// along with SND.UNA otherwise, so it never falls 2^31 behind.
    pub up: SeqNum,
}

/// The Receive Sequence Variables (RFC 9293 §3.3.1, Table 3): `rcv.nxt` is
/// RCV.NXT. The receive sequence space (Figure 4):
///
/// ```text
///                      1          2          3
///                  ----------|----------|----------
///                         RCV.NXT    RCV.NXT
///                                   +RCV.WND
///
///       1 - old sequence numbers that have been acknowledged
///       2 - sequence numbers allowed for new reception
///       3 - future sequence numbers that are not yet allowed
/// ```
///
/// RCV.WND is kept as the right edge it reaches, `adv`, since that edge,
/// not the window's size, is what a receiver promises; `wnd()` gives
/// RCV.WND. Urgent data arrives in line, as data (RFC 6093); RCV.UP marks
/// where it ends.
#[derive(Copy, Clone, Debug)]
pub struct ReceiveSequence {
    /// RCV.NXT: the next sequence number expected.
    pub nxt: SeqNum,
    /// RCV.NXT + RCV.WND, the furthest advertised: the right edge of the
    /// window, which must never move left (§3.8.6). (With window scaling
    /// an ACK may announce up to a unit less; see `receive_window`.)
    pub adv: SeqNum,
    /// IRS: the peer's initial sequence number, the one its SYN took.
    pub irs: SeqNum,
    /// RCV.UP: the sequence number after the last urgent byte the peer has
    /// announced (§3.8.5), perhaps past what has arrived. Urgent data is
    /// pending while the application has not read up to it; once it has,
    /// RCV.UP moves along with its reading (`recv`).
    pub up: SeqNum,
}

impl ReceiveSequence {
    /// RCV.WND: the window we last advertised, measured from RCV.NXT
    /// (§3.3.1): what the peer may still send. It shrinks as data arrives
    /// and grows only when we advertise a further edge; zero once RCV.NXT
    /// has reached the edge.
    pub fn wnd(&self) -> usize {
        self.adv.max(self.nxt) - self.nxt
    }
}

/// One connection: the RFC's Transmission Control Block (§3.3.1), with
/// its buffers, and the state of the algorithms that the RFC leaves to
/// others (RTT, congestion control, SACK, RACK-TLP).
#[derive(Debug)]
pub struct Tcb {
    pub state: State,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Came from LISTEN (a passive open); an RST then sends it back there.
    pub passive: bool,

    /// The send sequence variables (§3.3.1): SND.UNA, SND.NXT...
    pub snd: SendSequence,
    /// The effective send MSS (§3.7.1): the peer's MSS option, capped by
    /// our MTU, less the options every segment carries.
    pub snd_mss: usize,

    /// The receive sequence variables (§3.3.1): RCV.NXT, RCV.WND, IRS.
    pub rcv: ReceiveSequence,
    /// How much the window may offer; grows with the path (`autotune`).
    pub rcv_buf: RcvBuf,

    /// Window scaling, timestamps, SACK: offered, then agreed (`options`).
    pub options: Negotiated,
    /// TS.Recent and our timestamp clock (`timestamps`).
    pub ts: TsState,

    /// Bytes written by the application, from the first unacknowledged one.
    tx: SendBuffer,
    /// Sequence number of `tx[0]`.
    tx_start: SeqNum,
    /// The application closed its sending side: a FIN follows the data.
    fin_queued: bool,
    /// Bytes received in order, not yet read by the application.
    rx: VecDeque<u8>,
    /// Sequence number of `rx[0]`: where the application reads next.
    rx_start: SeqNum,
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
    /// The application's R2 for this connection, as a time (§3.8.3,
    /// MUST-21; the USER TIMEOUT of §3.9.1): once synchronized, the
    /// connection ends when the peer has acknowledged nothing for this long
    /// while data or a window probe waited on it. `None`: R2 is
    /// `Config::max_retries` timeouts in a row. (The SYN keeps
    /// `syn_deadline`.)
    pub user_timeout: Option<Duration>,
    /// Since when we have waited on the peer (data in flight, or a window
    /// probe unanswered) without it acknowledging anything new.
    stalled_since: Option<Instant>,
    /// R2 for our SYN or SYN,ACK (§3.8.3, MUST-23), as a time: past it, a
    /// retransmission timeout before the handshake completes ends it.
    syn_deadline: Instant,

    // Timers (RFC 9293 §3.10.8): retransmission (or zero-window probe,
    // RACK's reordering window, the loss probe), the delayed ACK, and the
    // FIN-WAIT-2 limit.
    rtx_timer: Option<(Instant, RtxTimer)>,
    delayed_ack: Option<Instant>,
    fin_wait_2_timer: Option<Instant>,

    /// An ACK must go out now (a FIN, a filled gap, a window update...).
    ack_now: bool,
    /// The ACK owed is for the peer's text or FIN: in CLOSING and LAST-ACK
    /// it goes as our FIN again (`next_segment`, 0.).
    ack_answers_text: bool,
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
    /// The peer's window is zero and the probe timer fired: send a probe,
    /// SND.UNA − 1 with no data (`dispatch`).
    window_probe: bool,
    /// SND.NXT − SND.UNA after the last `dispatch`.
    flight_sent: usize,
    /// Disable Nagle's algorithm (TCP_NODELAY).
    pub nodelay: bool,
    /// The TTL (MUST-49) and the TOS byte, the Differentiated Services
    /// field (MUST-48), of the IPv4 header of every segment the connection
    /// sends, as the application set them, passed to IP unchanged
    /// (SHLD-22). They may change at any time (SHLD-21): the next segment
    /// carries the new value.
    pub ttl: u8,
    pub tos: u8,
    /// The application closed the socket: nobody will read or write again.
    pub orphaned: bool,
    /// The application shut the receiving side (`shutdown_read`): what
    /// arrives is acknowledged and discarded.
    pub read_shut: bool,
    /// Our SYN carries no options at all (`offer_no_options`, TCP_NOOPT).
    pub no_options: bool,
    /// Why the connection ended, for the application.
    pub error: Option<Error>,
    /// A soft error the application has not read (§3.9.1.8, MUST-47):
    /// `take_soft_error`.
    soft_error: Option<Error>,
    /// The last ICMP error believed, read or not: a timeout reports it
    /// rather than `TimedOut` (as BSD's `t_softerror`).
    icmp_error: Option<Error>,
    /// Events not yet reported to the application.
    pub ready: Ready,
    /// What happened to the connection, for a reader to see (`story.rs`).
    pub(crate) story: Story,
    /// Whether a `send` found the buffer full, so WRITABLE is owed later.
    tx_blocked: bool,
    /// The ACK owed is a challenge ACK (RFC 5961): for the story only.
    challenge_owed: bool,
}

impl Tcb {
    /// A TCB in `state` (SYN-SENT or SYN-RECEIVED), nothing sent yet:
    /// SND.UNA = SND.NXT = ISS (§3.3.1); what it learns of the peer comes
    /// with the peer's SYN (`synchronize_receive`, `arrival.rs`).
    fn new(cx: &Context, local: SocketAddr, remote: SocketAddr, start: Start, state: State) -> Tcb {
        let Start { iss, ts_offset } = start;
        let mss = cx.config.mss(remote.ip());
        Tcb {
            state,
            local,
            remote,
            passive: state == State::SynReceived,
            snd: SendSequence { una: iss, nxt: iss, wnd: 0, wl1: SeqNum(0), wl2: iss, iss, max_wnd: 0, up: iss },
            snd_mss: default_mss(remote.ip()).min(mss),
            rcv: ReceiveSequence { nxt: SeqNum(0), adv: SeqNum(0), irs: SeqNum(0), up: SeqNum(0) },
            rcv_buf: RcvBuf::new(cx.config.recv_buffer_initial.min(cx.config.recv_buffer), cx.now, SeqNum(0)),
            options: Negotiated::offer(cx.config),
            ts: TsState::new(ts_offset),
            tx: SendBuffer::default(),
            tx_start: iss + 1,
            fin_queued: false,
            rx: VecDeque::new(),
            rx_start: SeqNum(0),
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
            user_timeout: None,
            stalled_since: None,
            syn_deadline: cx.now
                + if state == State::SynReceived { cx.config.syn_ack_timeout } else { cx.config.syn_timeout },
            rtx_timer: None,
            delayed_ack: None,
            fin_wait_2_timer: None,
            ack_now: false,
            ack_answers_text: false,
            dup_acks_owed: Vec::new(),
            segs_unacked: 0,
            retransmit_first: false,
            window_probe: false,
            flight_sent: 0,
            nodelay: false,
            ttl: cx.config.ttl,
            tos: cx.config.tos,
            orphaned: false,
            read_shut: false,
            no_options: false,
            error: None,
            soft_error: None,
            icmp_error: None,
            ready: Ready::empty(),
            tx_blocked: false,
            challenge_owed: false,
            story: Story::new(cx.story, cx.now),
        }
    }

    /// Every state transition goes through here, and shows in the log.
    fn set_state(&mut self, cx: &Context, new: State, why: &'static str) {
        debug!("{} > {}: {} -> {} ({})", self.local, self.remote, self.state, new, why);
        let record = Record::State { at: cx.now, from: Some(self.state), to: new, reason: why };
        self.story.push(cx.config.story_records, record);
        self.state = new;
        if matches!(new, State::Closed | State::TimeWait) {
            self.ready |= Ready::CLOSED;
        }
    }

    /// Record the sender's variables in the story, if one changed since the
    /// last sample: after each segment and timer, so at most one per ACK.
    fn sample(&mut self, cx: &Context) {
        if !self.story.is_on() {
            return;
        }
        let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let record = Record::Sample {
            at: cx.now,
            srtt_us: self.rtt.srtt().map(micros),
            rto_us: micros(self.rtt.rto()),
            cwnd: clamp(self.cc.window()),
            // "Infinite" (usize::MAX) until the first loss.
            ssthresh: u32::try_from(self.cc.ssthresh()).ok(),
            snd_wnd: clamp(self.snd.wnd),
        };
        self.story.sample(cx.config.story_records, record);
    }

    /// The sequence number after the last byte written: where the FIN goes.
    fn tx_end(&self) -> SeqNum {
        self.tx_start + self.tx.len()
    }

    /// Our FIN was sent and acknowledged.
    fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd.una == self.tx_end() + 1
    }

    /// Our FIN was sent and is not acknowledged yet (FIN-WAIT-1, CLOSING,
    /// LAST-ACK).
    fn fin_outstanding(&self) -> bool {
        self.fin_queued && self.snd.nxt > self.tx_end() && !self.fin_acked()
    }

    /// The connection failed: tell the application, drop everything queued.
    pub(crate) fn fail(&mut self, cx: &Context, error: Error, why: &'static str) {
        self.set_state(cx, State::Closed, why);
        self.error = Some(error);
        self.ready |= Ready::RESET;
        self.tx.clear();
    }

    /// A soft error (§3.9.1.8, MUST-47): the connection carries on; the
    /// application is told, and reads it once with `take_soft_error`. A
    /// newer one replaces one not read.
    fn report_soft_error(&mut self, error: Error) {
        self.soft_error = Some(error);
        self.ready |= Ready::SOFT_ERROR;
    }

    /// The last soft error not yet read, cleared by reading (as SO_ERROR).
    pub fn take_soft_error(&mut self) -> Option<Error> {
        self.soft_error.take()
    }

    /// What the stack does with this TCB now.
    pub fn disposition(&self) -> Disposition {
        match self.state {
            State::TimeWait => Disposition::TimeWait,
            State::Closed if self.orphaned => Disposition::Delete,
            State::Closed => Disposition::Detach,
            _ => Disposition::Keep,
        }
    }
}

/// An idle connection should hold no buffer memory: give back the
/// allocation of a drained buffer once it has grown past a page.
fn release_if_empty(buf: &mut VecDeque<u8>) {
    if buf.is_empty() && buf.capacity() > IDLE_KEEP {
        *buf = VecDeque::new();
    }
}

/// Receive buffers that bulk transfers drained, kept for their next burst
/// (`Tcb::consume` shelves one, `Tcb::deliver` takes one). A reader that
/// keeps up empties its buffer after every burst; were the buffer freed,
/// the allocator would hand its pages back to the system, and the next
/// burst's window-sized allocation would fault every page in again. One
/// shelf for the whole stack, holding no more than one connection's
/// largest receive buffer (`Config::recv_buffer`): idle connections still
/// hold no more than `IDLE_KEEP` each.
#[derive(Debug)]
pub struct RxShelf {
    buffers: Vec<VecDeque<u8>>,
    bytes: usize,
    max_bytes: usize,
}

impl RxShelf {
    pub fn new(max_bytes: usize) -> RxShelf {
        RxShelf { buffers: Vec::new(), bytes: 0, max_bytes }
    }

    /// Shelve a drained buffer if there is room; free it otherwise.
    fn put(&mut self, buf: VecDeque<u8>) {
        debug_assert!(buf.is_empty(), "shelving a buffer with data in it");
        if self.bytes + buf.capacity() <= self.max_bytes {
            self.bytes += buf.capacity();
            self.buffers.push(buf);
        }
    }

    fn take(&mut self) -> Option<VecDeque<u8>> {
        let buf = self.buffers.pop()?;
        self.bytes -= buf.capacity();
        Some(buf)
    }
}

/// What a drained receive buffer may keep of its allocation.
const IDLE_KEEP: usize = 4096;

/// The buffers of a deleted connection, emptied, their allocations kept
/// for a new connection (`Tcb::adopt`): a connection that lives for one
/// request then allocates none of its own. Each keeps no more than an idle
/// connection's buffer does.
#[derive(Debug)]
pub struct Spare {
    rx: VecDeque<u8>,
    tx: SendBuffer,
    sent: SentLog,
}

impl Spare {
    /// Bytes of memory it holds.
    pub fn allocated(&self) -> usize {
        self.rx.capacity() + self.tx.allocated() + self.sent.allocated()
    }
}

impl Tcb {
    /// The TCB is deleted: its buffers, emptied of everything this
    /// connection put in them, and no larger than an idle one's.
    pub fn into_spare(self) -> Spare {
        let Tcb { mut rx, mut tx, mut sent, .. } = self;
        rx.clear();
        release_if_empty(&mut rx);
        tx.clear();
        sent.clear();
        Spare { rx, tx, sent }
    }

    /// A new TCB takes a spare's allocations for the buffers it has not
    /// allocated yet; nothing else of the old connection comes with them.
    pub fn adopt(&mut self, spare: Spare) {
        let Spare { rx, tx, sent } = spare;
        debug_assert!(rx.is_empty(), "adopting a receive buffer not cleared");
        if self.rx.capacity() == 0 {
            self.rx = rx;
        }
        self.tx.adopt(tx);
        self.sent.adopt(sent);
    }
}
