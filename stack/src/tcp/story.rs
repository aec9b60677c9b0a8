//! The story of a connection: a short log of what happened to it, recorded
//! where it happens, so that a reader can see their own connection as the
//! stack lived it (issue 15, `www/live.html`).
//!
//! Three kinds of record:
//!
//! - every segment in and out ([`Record::Segment`]): recorded where a
//!   segment arrives (`Tcb::on_segment`, `Tcb::accept_syn`), where it
//!   leaves (`Tcb::transmit`), and for the segments outside the stream (an
//!   RST, a TIME-WAIT ACK) where the stack sends them;
//! - every state transition with its reason ([`Record::State`]), from
//!   `Tcb::set_state`, the one place states change;
//! - samples of SRTT, RTO, cwnd, ssthresh and the peer's window
//!   ([`Record::Sample`]), when one of them changed, at most once per event.
//!
//! The log is bounded: at most `Config::story_records` records; when full,
//! the oldest goes and is counted in [`Dropped`]. A record is small (at
//! most 48 bytes: the code that sent a segment is a one-byte [`By`], not a
//! string) and the ring grows only as records come, so an idle connection
//! holds a few hundred bytes of story, not 512 records' worth.
//!
//! When a connection ends, or enters TIME-WAIT, its story moves to the
//! stack's table of recently closed connections ([`Recent`]), bounded in
//! entries and bytes, where the TIME-WAIT entry's segments and its expiry
//! are still recorded.
//!
//! Which connections record is `Config::stories` ([`Stories`]). Recording
//! every one costs more than 3 % on some workloads (about 6 % of bulk
//! throughput at MTU 1500 and 11 % of the connection rate, `cargo bench
//! -p stack --bench ratio`), so by default only those asked for record:
//! one connection from the moment the application asks (`Stack::record`),
//! or a peer address's next connections from their SYN
//! (`Stack::record_peer`): a page that shows readers their connections
//! asks for the reader's address.

use std::collections::VecDeque;
use std::mem::size_of;
use std::net::SocketAddr;

use super::state::State;
use super::{Config, FourTuple};
use crate::time::Instant;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

/// Which connections keep a story (`Config::stories`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Stories {
    /// None: nothing is recorded, the recently closed table stays empty.
    Off,
    /// Only those the application asks for: one connection from the
    /// moment it asks (`Stack::record`), or every connection a peer
    /// address makes for a while, from its first segment
    /// (`Stack::record_peer`). The default: recording every connection
    /// costs more than 3 % of the stack's throughput on some workloads
    /// (`cargo bench -p stack --bench ratio`).
    #[default]
    OnRequest,
    /// Every connection, from its first segment.
    All,
}

/// Which way a segment went.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

/// Why a segment was sent (or, for one that arrived, `Normal`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Anything not below: new data, an ACK, a SYN or FIN sent the first
    /// time.
    Normal,
    /// Sequence space sent before, again (RFC 6298 timeout, fast
    /// retransmit, RACK).
    Retransmission,
    /// A tail loss probe (RFC 8985 §7.3).
    LossProbe,
    /// A zero window's probe (§3.8.6.1).
    WindowProbe,
    /// An ACK that answers a suspicious segment (RFC 5961 §§3–5).
    ChallengeAck,
    /// A SYN,ACK whose ISN is a SYN cookie (RFC 4987 §3.6).
    SynCookie,
    /// An RST.
    Reset,
}

impl SegmentKind {
    /// The name the JSON uses.
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::Normal => "normal",
            SegmentKind::Retransmission => "retransmission",
            SegmentKind::LossProbe => "loss-probe",
            SegmentKind::WindowProbe => "window-probe",
            SegmentKind::ChallengeAck => "challenge-ack",
            SegmentKind::SynCookie => "syn-cookie",
            SegmentKind::Reset => "reset",
        }
    }
}

/// The code that sent a segment, or processed one that arrived: one byte
/// in a record; [`By::path`] gives it as README's code map names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum By {
    /// A segment for a connection, SEGMENT ARRIVES (§3.10.7).
    OnSegment,
    /// The SYN a listener took (§3.10.7.2).
    AcceptSyn,
    /// The ACK that returned a SYN cookie.
    FromSynCookie,
    /// The SYN, data, FIN, and their retransmissions.
    EmitSegment,
    /// ACKs and window probes.
    Dispatch,
    /// An RST answering a segment.
    ResetFor,
    /// The RST of ABORT (§3.10.5).
    Abort,
    /// The ACK of the FIN that took the connection to TIME-WAIT.
    EnterTimeWait,
    /// A segment for a TIME-WAIT entry, and its answer.
    TimeWait,
}

impl By {
    /// "file::function", as in README's code map.
    pub fn path(self) -> &'static str {
        match self {
            By::OnSegment => "stack/src/tcp/tcb/arrival.rs::Tcb::on_segment",
            By::AcceptSyn => "stack/src/tcp/tcb/arrival.rs::Tcb::accept_syn",
            By::FromSynCookie => "stack/src/tcp/tcb/arrival.rs::Tcb::from_syn_cookie",
            By::EmitSegment => "stack/src/tcp/tcb/output.rs::Tcb::emit_segment",
            By::Dispatch => "stack/src/tcp/tcb/output.rs::Tcb::dispatch",
            By::ResetFor => "stack/src/tcp/tcb/arrival.rs::reset_for",
            By::Abort => "stack/src/tcp/tcb/user.rs::Tcb::abort",
            By::EnterTimeWait => "stack/src/stack.rs::Stack::enter_time_wait",
            By::TimeWait => "stack/src/tcp/time_wait.rs::TimeWaitTable::on_segment",
        }
    }
}

/// The options of a segment, in short: what tcpdump shows.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionSummary {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
    /// How many SACK blocks it carried.
    pub sack_blocks: u8,
}

impl OptionSummary {
    pub fn of(options: &TcpOptions) -> OptionSummary {
        OptionSummary {
            mss: options.mss,
            wscale: options.window_scale,
            sack_permitted: options.sack_permitted,
            timestamps: options.timestamps.is_some(),
            sack_blocks: options.sack_blocks.iter().flatten().count() as u8,
        }
    }
}

/// One thing that happened to a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A segment in or out, its header as it was on the wire.
    Segment {
        at: Instant,
        dir: Dir,
        flags: Flags,
        /// SEG.SEQ and SEG.ACK, absolute.
        seq: SeqNum,
        ack: SeqNum,
        /// Data bytes (SYN and FIN not counted).
        len: u32,
        /// The window field as sent or received, unscaled.
        wnd: u16,
        options: OptionSummary,
        kind: SegmentKind,
        by: By,
    },
    /// A state transition, with the reason `set_state` logs. `from` is
    /// `None` for LISTEN, which is no state of a TCB here (`state.rs`).
    State { at: Instant, from: Option<State>, to: State, reason: &'static str },
    /// The sender's variables, when one changed. `srtt` and `rto` in
    /// microseconds; `srtt` none before the first RTT sample, `ssthresh`
    /// none while it is still "infinite".
    Sample { at: Instant, srtt_us: Option<u32>, rto_us: u32, cwnd: u32, ssthresh: Option<u32>, snd_wnd: u32 },
}

impl Record {
    /// A segment's record, from its header.
    pub fn segment(at: Instant, dir: Dir, repr: &TcpRepr, len: usize, kind: SegmentKind, by: By) -> Record {
        Record::Segment {
            at,
            dir,
            flags: repr.flags,
            seq: repr.seq_number,
            ack: repr.ack_number,
            len: len as u32,
            wnd: repr.window_len,
            options: OptionSummary::of(&repr.options),
            kind,
            by,
        }
    }

    pub fn at(&self) -> Instant {
        match *self {
            Record::Segment { at, .. } | Record::State { at, .. } | Record::Sample { at, .. } => at,
        }
    }
}

/// Records dropped from the front of a full story, by kind.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub segments: u32,
    pub states: u32,
    pub samples: u32,
}

impl Dropped {
    pub fn total(&self) -> u32 {
        self.segments + self.states + self.samples
    }
}

/// A sample's values, without its time: (SRTT, RTO, cwnd, ssthresh,
/// SND.WND), as in `Record::Sample`.
type SampleValues = (Option<u32>, u32, u32, Option<u32>, u32);

/// The records of a story's first allocation.
const FIRST_RECORDS: usize = 8;

/// One connection's story: a ring of at most `limit` records.
#[derive(Clone, Debug, Default)]
pub struct Story {
    records: VecDeque<Record>,
    dropped: Dropped,
    /// Whether this connection records (`Stories`).
    on: bool,
    /// The last sample recorded, to record the next only on a change.
    last_sample: Option<SampleValues>,
    /// A number unique in this stack, in the order connections opened.
    pub id: u64,
    /// When the connection was made.
    pub opened: Instant,
}

impl Story {
    pub fn new(on: bool, opened: Instant) -> Story {
        Story { on, opened, ..Story::default() }
    }

    /// Whether it records: the callers on the per-segment path ask first,
    /// so that a connection that does not record builds no record.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Start recording (`Stack::record`).
    pub fn turn_on(&mut self) {
        self.on = true;
    }

    /// Add a record, dropping the oldest if `limit` are kept already.
    /// Without allocation but when the ring grows (doubling, up to `limit`).
    #[inline]
    pub fn push(&mut self, limit: usize, record: Record) {
        if !self.on || limit == 0 {
            return;
        }
        if self.records.capacity() == 0 {
            // Room for a handshake and a few more at once: an idle
            // connection needs no more, and a busy one grows by doubling.
            self.records.reserve_exact(FIRST_RECORDS.min(limit));
        } else if self.records.len() >= limit {
            match self.records.pop_front() {
                Some(Record::Segment { .. }) => self.dropped.segments += 1,
                Some(Record::State { .. }) => self.dropped.states += 1,
                Some(Record::Sample { .. }) => self.dropped.samples += 1,
                None => {}
            }
        }
        self.records.push_back(record);
    }

    /// Record a sample if any of its values differs from the last one's.
    pub fn sample(&mut self, limit: usize, record: Record) {
        let Record::Sample { srtt_us, rto_us, cwnd, ssthresh, snd_wnd, .. } = record else { return };
        let values = Some((srtt_us, rto_us, cwnd, ssthresh, snd_wnd));
        if self.on && self.last_sample != values {
            self.last_sample = values;
            self.push(limit, record);
        }
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = &Record> + ExactSizeIterator + Clone {
        self.records.iter()
    }

    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// The memory the story holds, for the recently closed table's bound.
    fn bytes(&self) -> usize {
        size_of::<Story>() + self.records.capacity() * size_of::<Record>()
    }
}

/// The most peer addresses `Stack::record_peer` watches at once.
pub const WATCHED: usize = 64;

/// The peer addresses whose new connections record their story, and until
/// when (`Stories::OnRequest`): at most `WATCHED`.
#[derive(Debug, Default)]
pub struct Watched(Vec<(std::net::IpAddr, Instant)>);

impl Watched {
    /// Watch `addr` until `until`, in place of the address whose time
    /// ends first if the list is full.
    pub fn insert(&mut self, addr: std::net::IpAddr, until: Instant) {
        if let Some(entry) = self.0.iter_mut().find(|(a, _)| *a == addr) {
            entry.1 = entry.1.max(until);
        } else if self.0.len() < WATCHED {
            self.0.push((addr, until));
        } else if let Some(soonest) = self.0.iter_mut().min_by_key(|(_, t)| *t) {
            *soonest = (addr, until);
        }
    }

    /// Whether a connection of `addr` made `now` records its story.
    pub fn story(&self, now: Instant, addr: std::net::IpAddr) -> bool {
        self.0.iter().any(|&(a, until)| a == addr && now < until)
    }
}

/// A connection's story as the application reads it (`Stack::story`,
/// `Stack::stories_of`).
#[derive(Clone, Debug)]
pub struct StoryView<'a> {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Our ISN and the peer's (IRS; zero before its SYN arrived).
    pub iss: SeqNum,
    pub irs: SeqNum,
    /// The state now: CLOSED for a connection that is gone, TIME-WAIT for
    /// one whose entry has not expired.
    pub state: State,
    /// When the TCB ended (for TIME-WAIT, when it entered it).
    pub closed_at: Option<Instant>,
    /// When the TIME-WAIT entry expires (2·MSL after the last FIN).
    pub time_wait_until: Option<Instant>,
    pub story: &'a Story,
}

/// A connection that ended, kept for its story.
#[derive(Debug)]
struct Closed {
    tuple: FourTuple,
    iss: SeqNum,
    irs: SeqNum,
    state: State,
    closed_at: Instant,
    time_wait_until: Option<Instant>,
    story: Story,
}

impl Closed {
    fn bytes(&self) -> usize {
        size_of::<Closed>() - size_of::<Story>() + self.story.bytes()
    }
}

/// The stories of recently closed connections, oldest first, bounded in
/// entries and in bytes: the oldest go first.
///
/// Each entry has a serial number, in the order they came, so that a
/// TIME-WAIT entry finds its story at once, without a search: `first` is
/// the serial of `entries[0]`, and a story's place is its serial less it.
#[derive(Debug, Default)]
pub struct Recent {
    entries: VecDeque<Closed>,
    first: u32,
    /// The sum of the entries' `bytes`.
    bytes: usize,
    /// Entries evicted to keep the bounds.
    pub evicted: u64,
}

/// The bounds of `Recent` (from `Config`).
#[derive(Copy, Clone, Debug)]
pub struct RecentLimits {
    pub entries: usize,
    pub bytes: usize,
    /// Records per story.
    pub records: usize,
}

impl RecentLimits {
    pub fn of(config: &Config) -> RecentLimits {
        RecentLimits { entries: config.story_recent, bytes: config.story_recent_bytes, records: config.story_records }
    }
}

impl Recent {
    /// Keep the story of a connection that ended now, in `state` (CLOSED,
    /// or TIME-WAIT until `time_wait_until`). Returns its serial, for
    /// `time_wait`, if it is kept.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        limits: RecentLimits,
        tuple: FourTuple,
        (iss, irs): (SeqNum, SeqNum),
        state: State,
        closed_at: Instant,
        time_wait_until: Option<Instant>,
        story: Story,
    ) -> Option<u32> {
        if !story.on || limits.entries == 0 {
            return None;
        }
        let closed = Closed { tuple, iss, irs, state, closed_at, time_wait_until, story };
        self.bytes += closed.bytes();
        self.entries.push_back(closed);
        let serial = self.first.wrapping_add(self.entries.len() as u32 - 1);
        self.shrink(limits);
        Some(serial)
    }

    /// Evict the oldest entries until both bounds hold.
    fn shrink(&mut self, limits: RecentLimits) {
        while self.entries.len() > limits.entries || (self.bytes > limits.bytes && self.entries.len() > 1) {
            let Some(old) = self.entries.pop_front() else { break };
            self.first = self.first.wrapping_add(1);
            self.bytes -= old.bytes();
            self.evicted += 1;
        }
    }

    /// Record on the story `serial` of `tuple`'s TIME-WAIT entry, if it is
    /// still kept. A state record (TIME-WAIT -> CLOSED: expiry, reopening,
    /// reset) changes the entry's state too.
    pub fn time_wait(&mut self, limits: RecentLimits, serial: u32, tuple: &FourTuple, record: Record) {
        let place = serial.wrapping_sub(self.first) as usize;
        let Some(entry) = self.entries.get_mut(place).filter(|e| e.tuple == *tuple && e.state == State::TimeWait)
        else {
            return;
        };
        let before = entry.bytes();
        if let Record::State { to, .. } = record {
            entry.state = to;
        }
        entry.story.push(limits.records, record);
        self.bytes = self.bytes - before + entry.bytes();
        self.shrink(limits);
    }

    /// The stories of connections with `remote` for peer address, newest
    /// first.
    pub fn of(&self, remote: std::net::IpAddr) -> impl Iterator<Item = StoryView<'_>> {
        self.entries.iter().rev().filter(move |e| e.tuple.remote.ip() == remote).map(Closed::view)
    }

    /// The story of the TIME-WAIT entry of `tuple`, if kept.
    pub fn get(&self, tuple: &FourTuple) -> Option<StoryView<'_>> {
        self.entries.iter().rev().find(|e| e.tuple == *tuple).map(Closed::view)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes the table holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Closed {
    fn view(&self) -> StoryView<'_> {
        StoryView {
            local: self.tuple.local,
            remote: self.tuple.remote,
            iss: self.iss,
            irs: self.irs,
            state: self.state,
            closed_at: Some(self.closed_at),
            time_wait_until: self.time_wait_until.filter(|_| self.state == State::TimeWait),
            story: &self.story,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(at: u64) -> Record {
        Record::State { at: Instant::from_millis(at), from: None, to: State::SynReceived, reason: "SYN received" }
    }

    #[test]
    fn a_record_is_small() {
        assert!(size_of::<Record>() <= 48, "{}", size_of::<Record>());
    }

    #[test]
    fn a_full_story_drops_the_oldest_and_counts_it() {
        let mut story = Story::new(true, Instant::ZERO);
        for i in 0..513 {
            story.push(512, state(i));
        }
        assert_eq!(story.records().len(), 512);
        assert_eq!(story.records().next().map(Record::at), Some(Instant::from_millis(1)));
        assert_eq!(story.dropped(), Dropped { states: 1, ..Dropped::default() });
    }

    #[test]
    fn a_story_off_records_nothing() {
        let mut story = Story::new(false, Instant::ZERO);
        story.push(512, state(0));
        assert_eq!(story.records().len(), 0);
    }

    #[test]
    fn the_recent_table_evicts_the_oldest_beyond_its_bounds() {
        let tuple = |port| FourTuple {
            local: "10.0.0.2:80".parse().unwrap(),
            remote: SocketAddr::new([10, 0, 0, 1].into(), port),
        };
        let story = || {
            let mut s = Story::new(true, Instant::ZERO);
            s.push(512, state(0));
            s
        };
        let mut limits = RecentLimits { entries: 2, bytes: usize::MAX, records: 512 };
        let mut recent = Recent::default();
        let seqs = (SeqNum(1), SeqNum(2));
        for port in 1..=3 {
            recent.insert(limits, tuple(port), seqs, State::Closed, Instant::ZERO, None, story());
        }
        let ports: Vec<u16> = recent.of([10, 0, 0, 1].into()).map(|v| v.remote.port()).collect();
        assert_eq!(ports, [3, 2]);
        assert_eq!(recent.evicted, 1);
        // In bytes: room for two entries only.
        limits = RecentLimits { entries: 100, bytes: recent.bytes(), records: 512 };
        recent.insert(limits, tuple(4), seqs, State::Closed, Instant::ZERO, None, story());
        let ports: Vec<u16> = recent.of([10, 0, 0, 1].into()).map(|v| v.remote.port()).collect();
        assert_eq!(ports, [4, 3]);
        assert!(recent.bytes() <= limits.bytes);
    }
}
