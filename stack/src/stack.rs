//! The stack: every connection, listener and TIME-WAIT entry of one host,
//! behind the socket calls of the story (`listen`, `accept`, `connect`,
//! `send`, `recv`, `peek`, `shutdown`, `shutdown_read`, `close`, `abort`).
//!
//! An event loop drives it with four calls, and the stack never blocks or
//! reads a clock:
//!
//! ```text
//!   link ──packet──> receive(now, packet)      a segment arrives
//!                    poll(now)                 timers fire
//!   link <──packet── transmit(now, emit)       segments leave
//!                    poll_at()                 when to call poll again
//! ```
//! Between them the application makes socket calls and reads `next_event`.
//!
//! The stack is the demultiplexer and the tables — connection slots, the
//! 4-tuple index, TIME-WAIT, timers; what a connection does is in
//! `tcp/tcb.rs`, what a listening port does in `tcp/listener.rs`.

#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use ahash::RandomState;
use bytes::Bytes;
use log::{log_enabled, trace, Level};
use smallvec::SmallVec;

use crate::tcp::challenge_ack::ChallengeAcks;
use crate::tcp::icmp::IcmpError;
use crate::tcp::isn::IsnGenerator;
use crate::tcp::listener::{Decision, Listeners, Queue};
use crate::tcp::state::State;
use crate::tcp::story::{By, Dir, Recent, RecentLimits, Record, SegmentKind, Stories, StoryView, Watched};
use crate::tcp::tcb::{Context, Disposition, Outgoing, RxShelf, Segment, Spare, Tcb};
use crate::tcp::time_wait::{self, EntryTs, TimeWaitTable, Verdict};
use crate::tcp::{Config, Counters, Error, FourTuple, Ready, SocketHandle, IPV6_MIN_MTU};
use crate::time::{Duration, Instant};
use crate::wire::checksum::{RxChecksum, TxChecksum};
use crate::wire::icmp::{self, IcmpPacket, Kind as IcmpKind};
use crate::wire::ip::{IpRepr, Quote, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpRepr, TcpSegment};
use crate::wire::Error as WireError;

/// What the application should look at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection completed its handshake on this listening port:
    /// `accept` will return it.
    Incoming { port: u16 },
    /// Something happened on a socket.
    Socket { socket: SocketHandle, ready: Ready },
}

/// A connection's key variables, for a status view.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: State,
    pub snd_una: u32,
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    pub snd_wnd: usize,
    pub rcv_wnd: usize,
    pub cwnd: usize,
    pub ssthresh: usize,
    /// SACK negotiated (RFC 2018).
    pub sack_permitted: bool,
    pub srtt: Option<Duration>,
    pub rto: Duration,
    pub snd_mss: usize,
    /// The receive buffer as auto-tuning has sized it.
    pub rcv_buf: usize,
    /// Window scaling in force: (our shift, the peer's).
    pub window_scale: Option<(u8, u8)>,
    pub timestamps: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    tcb: Option<Tcb>,
    /// The deadline under which this slot sits in `Stack::timers`.
    timer: Option<Instant>,
    /// Listed in `Stack::dirty`: may have segments to send.
    dirty: bool,
    /// Listed in `Stack::ready`: has events to report.
    in_ready: bool,
    queue: Queue,
    /// The connection is in CLOSED, or in TIME-WAIT, which the TIME-WAIT
    /// table handles, but the application has not closed the socket: the
    /// TCB stays, out of `by_tuple` and the timers, only so that what was
    /// received, or the error, can still be read. Deleted when the
    /// application closes it.
    detached: bool,
}

/// A segment or packet that belongs to no connection's stream: an RST, a
/// TIME-WAIT ACK, a ping reply. Kept until `transmit`.
#[derive(Debug)]
enum Reply {
    Tcp {
        ip: IpRepr,
        repr: TcpRepr,
    },
    /// An ICMP or ICMPv6 message, under `ip` (its length set at `transmit`).
    Icmp {
        ip: IpRepr,
        packet: Vec<u8>,
    },
}

/// Replies waiting for `transmit`; past this they are dropped (a flood of
/// segments to closed ports must not grow memory).
const MAX_REPLIES: usize = 4096;

/// What every connection's calls use besides its own TCB, lent to it as a
/// `Context` for each call. Kept apart from the tables so that a TCB in
/// `Stack::slots` and its context can be borrowed at the same time.
#[derive(Debug)]
struct Shared {
    config: Config,
    counters: Counters,
    /// The budget of challenge ACKs, one for the whole stack (RFC 5961 §7).
    challenge_acks: ChallengeAcks,
    rx_shelf: RxShelf,
}

impl Shared {
    /// The `Context` of a TCB call at `now`.
    fn context(&mut self, now: Instant) -> Context<'_> {
        let story = self.config.stories == Stories::All;
        Context {
            now,
            config: &self.config,
            counters: &mut self.counters,
            challenge_acks: &mut self.challenge_acks,
            story,
            rx_shelf: &mut self.rx_shelf,
        }
    }
}

pub struct Stack {
    shared: Shared,
    isn: IsnGenerator,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Deleted connections' buffers, for new ones (`Tcb::into_spare`): at
    /// most `SPARES`, and with the live connections never more than
    /// `max_connections`, so they hold no more than connections could.
    spares: Vec<Spare>,
    /// Keyed by what peers choose, so hashed with a random key (HashDoS).
    by_tuple: HashMap<FourTuple, SocketHandle, RandomState>,
    /// LISTEN: the listening ports, their queues, SYN cookies.
    listeners: Listeners,
    time_wait: TimeWaitTable,
    /// Every connection's next deadline, earliest first.
    timers: BTreeSet<(Instant, u32)>,
    dirty: Vec<u32>,
    ready: VecDeque<u32>,
    incoming: VecDeque<u16>,
    replies: VecDeque<Reply>,
    /// The stories of recently closed connections (`story.rs`).
    recent: Recent,
    /// The peers whose new connections record their story
    /// (`Stories::OnRequest`, `record_peer`).
    watched: Watched,
    /// TIME-WAIT entries that expired in this `poll`, reused.
    expired: Vec<(FourTuple, Option<u32>)>,
    next_port: u16,
    /// Headers being built, reused for every packet sent.
    scratch: [u8; IpRepr::MAX_HEADER_LEN + TcpRepr::MAX_HEADER_LEN],
}

const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

/// Most spare buffers kept (`Stack::spares`): enough for a turn's worth of
/// short connections to reuse those of the ones that ended before them.
const SPARES: usize = 64;

impl Stack {
    /// A stack with no connection and no listener.
    ///
    /// Panics if `config` gives an IPv6 address with an `mtu` below
    /// IPv6's minimum of 1280 (RFC 8200 §5): whoever builds the
    /// configuration must leave IPv6 off on such a link.
    pub fn new(config: Config) -> Stack {
        assert!(
            config.addr6.is_none() || config.mtu >= IPV6_MIN_MTU,
            "IPv6 needs an MTU of at least {IPV6_MIN_MTU}, not {}",
            config.mtu
        );
        Stack {
            isn: IsnGenerator::new(config.isn_key),
            listeners: Listeners::new(config.isn_key),
            scratch: [0; IpRepr::MAX_HEADER_LEN + TcpRepr::MAX_HEADER_LEN],
            shared: Shared {
                challenge_acks: ChallengeAcks::new(config.isn_key, config.challenge_ack_limit),
                rx_shelf: RxShelf::new(config.recv_buffer),
                config,
                counters: Counters::default(),
            },
            slots: Vec::new(),
            free: Vec::new(),
            spares: Vec::new(),
            by_tuple: HashMap::default(),
            time_wait: TimeWaitTable::default(),
            timers: BTreeSet::new(),
            dirty: Vec::new(),
            ready: VecDeque::new(),
            incoming: VecDeque::new(),
            replies: VecDeque::new(),
            recent: Recent::default(),
            watched: Watched::default(),
            expired: Vec::new(),
            next_port: *EPHEMERAL_PORTS.start(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn time_wait_count(&self) -> usize {
        self.time_wait.len()
    }

    fn two_msl(&self) -> Duration {
        self.shared.config.msl * 2
    }

    // ------------------------------------------------------------------
    // The socket calls
    // ------------------------------------------------------------------

    /// Passive OPEN (§3.10.1): accept connections on `port`, keeping up to
    /// `backlog` completed ones until `accept` takes them. Of both
    /// families, if the stack has an IPv6 address (as a Linux socket bound
    /// to `[::]` without IPV6_V6ONLY).
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<(), Error> {
        self.listeners.listen(port, backlog)
    }

    /// Stop listening: new SYNs to the port are answered with RST.
    /// Connections already accepted carry on.
    pub fn unlisten(&mut self, now: Instant, port: u16) {
        if let Some(accept_queue) = self.listeners.unlisten(port) {
            // Half-open connections go too: nobody will accept them, and a
            // later `listen` on the port starts with an empty SYN queue.
            let half_open: Vec<SocketHandle> = (self.slots.iter().enumerate())
                .filter(|(_, s)| s.queue == Queue::Syn && s.tcb.as_ref().is_some_and(|t| t.local.port() == port))
                .map(|(i, s)| SocketHandle { index: i as u32, generation: s.generation })
                .collect();
            for h in accept_queue.into_iter().chain(half_open) {
                self.abort(now, h);
            }
        }
    }

    /// Take a connection that completed its handshake on `port`.
    pub fn accept(&mut self, port: u16) -> Option<SocketHandle> {
        loop {
            let h = self.listeners.accept(port)?;
            let Some(slot) = self.slot_mut(h) else { continue };
            slot.queue = Queue::None;
            return Some(h);
        }
    }

    /// Active OPEN (§3.10.1): send a SYN to `remote` from an ephemeral
    /// port, and from the stack's address of `remote`'s family.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr) -> Result<SocketHandle, Error> {
        let local = self.shared.config.addr_for(remote.ip()).ok_or(Error::InvalidAddress)?;
        let span = EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start() + 1;
        let port = (0..span)
            .map(|i| EPHEMERAL_PORTS.start() + (self.next_port - EPHEMERAL_PORTS.start() + i) % span)
            .find(|&port| self.tuple_free(FourTuple { local: SocketAddr::new(local, port), remote }))
            .ok_or(Error::Exhausted)?;
        self.next_port = if port == *EPHEMERAL_PORTS.end() { *EPHEMERAL_PORTS.start() } else { port + 1 };
        self.connect_from(now, port, remote)
    }

    /// Active OPEN from a chosen local port. An OPEN to an address that is
    /// no one host's (broadcast, multicast, 0.0.0.0, ::) is refused
    /// (MUST-46), and so is one to a family the stack has no address of.
    pub fn connect_from(&mut self, now: Instant, port: u16, remote: SocketAddr) -> Result<SocketHandle, Error> {
        let config = &self.shared.config;
        let Some(local) = config.addr_for(remote.ip()).filter(|_| config.valid_peer(remote.ip())) else {
            return Err(Error::InvalidAddress);
        };
        let local = SocketAddr::new(local, port);
        if !self.tuple_free(FourTuple { local, remote }) {
            return Err(Error::AddrInUse);
        }
        let start = self.isn.start(now, local, remote);
        let mut cx = self.shared.context(now);
        cx.story |= self.watched.story(now, remote.ip());
        let tcb = Tcb::connect(&cx, local, remote, start);
        let h = self.insert(tcb).ok_or(Error::Exhausted)?;
        self.after(h.index, now);
        Ok(h)
    }

    fn tuple_free(&self, tuple: FourTuple) -> bool {
        !self.by_tuple.contains_key(&tuple) && !self.time_wait.contains(&tuple)
    }

    /// SEND (§3.10.2): queue data; returns how much fit.
    pub fn send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.with_tcb(now, h, |tcb, cx| tcb.send(cx, data))?
    }

    /// SEND of shared bytes: as much of `data` as fits is queued by
    /// reference, not copied (`tcp::send_buffer`); returns how much. The
    /// bytes are the application's still: a later change to what they
    /// point to would be sent, so give bytes that stay as they are.
    pub fn send_bytes(&mut self, now: Instant, h: SocketHandle, data: Bytes) -> Result<usize, Error> {
        self.with_tcb(now, h, |tcb, cx| tcb.send_bytes(cx, data))?
    }

    /// SEND with the URGENT flag (§3.10.2): queue data, all of it urgent;
    /// returns how much fit. It goes in line, and the peer learns where it
    /// ends (§3.8.5). New applications should not use it (SHLD-13).
    pub fn send_urgent(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.with_tcb(now, h, |tcb, cx| tcb.send_urgent(cx, data))?
    }

    /// The urgent mark (§3.8.5, MUST-33): how many bytes are left to read
    /// up to the end of the peer's urgent data, or `None` when none is
    /// pending (and for a closed handle). `Ready::URGENT` says when it
    /// moves.
    pub fn urgent(&self, h: SocketHandle) -> Option<usize> {
        self.tcb(h).filter(|t| !t.orphaned).and_then(|t| t.urgent())
    }

    /// RECEIVE (§3.10.3): `Ok(0)` once the peer has closed and all is read.
    pub fn recv(&mut self, now: Instant, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.with_tcb(now, h, |tcb, cx| tcb.recv(cx, buf))?
    }

    /// RECEIVE without taking (MSG_PEEK): what `recv` would return, left to
    /// be read again.
    pub fn peek(&self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.tcb(h).filter(|t| !t.orphaned).ok_or(Error::InvalidSocket)?.peek(buf)
    }

    /// Room left in the send buffer.
    pub fn send_capacity(&self, h: SocketHandle) -> usize {
        self.tcb(h).map_or(0, |t| t.send_room(&self.shared.config))
    }

    /// TCP_NOOPT: the SYN of a connection just opened by `connect` carries
    /// no options at all (`Tcb::offer_no_options`). False once it has left.
    pub fn set_no_options(&mut self, h: SocketHandle) -> bool {
        self.tcb_mut(h).is_some_and(|t| t.offer_no_options())
    }

    /// Turn Nagle's algorithm off (TCP_NODELAY) or on.
    pub fn set_nodelay(&mut self, h: SocketHandle, nodelay: bool) {
        if let Some(tcb) = self.tcb_mut(h) {
            tcb.nodelay = nodelay;
        }
    }

    /// R2 for this connection, as a time (MUST-21, the USER TIMEOUT of
    /// §3.9.1): once established, it ends with `Error::TimedOut` when the
    /// peer has acknowledged nothing for `timeout` while data waited on it.
    /// `Duration::MAX` never gives up. Without it, R2 is
    /// `Config::max_retries` retransmission timeouts in a row.
    pub fn set_user_timeout(&mut self, now: Instant, h: SocketHandle, timeout: Duration) {
        let _ = self.with_tcb(now, h, |tcb, _| tcb.user_timeout = Some(timeout));
    }

    /// The TTL of the connection's segments (MUST-49), from the next one on.
    pub fn set_ttl(&mut self, h: SocketHandle, ttl: u8) {
        if let Some(tcb) = self.tcb_mut(h) {
            tcb.ttl = ttl;
        }
    }

    /// The TOS byte, the Differentiated Services field (DSCP and ECN bits),
    /// of the connection's segments, from the next one on (MUST-48,
    /// SHLD-21); IP sends it as given (SHLD-22).
    pub fn set_tos(&mut self, h: SocketHandle, tos: u8) {
        if let Some(tcb) = self.tcb_mut(h) {
            tcb.tos = tos;
        }
    }

    /// CLOSE of the sending side only: the FIN follows the queued data,
    /// and the application may still read.
    pub fn shutdown(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        self.with_tcb(now, h, |tcb, cx| tcb.shutdown(cx))
    }

    /// Shut the receiving side (`shutdown(SHUT_RD)`): what is buffered and
    /// what arrives later is discarded, and `recv` returns `Ok(0)`. The
    /// sending side stays open (`shutdown` closes it: both is SHUT_RDWR).
    pub fn shutdown_read(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        self.with_tcb(now, h, |tcb, cx| tcb.shutdown_read(cx))
    }

    /// CLOSE (§3.10.4): the application is done with the socket. The
    /// connection finishes on its own (FIN-WAIT, TIME-WAIT) and is deleted
    /// when it reaches CLOSED. Closing a handle twice is harmless.
    pub fn close(&mut self, now: Instant, h: SocketHandle) {
        let _ = self.with_tcb(now, h, |tcb, cx| tcb.close(cx));
    }

    /// ABORT (§3.10.5): send RST and delete the connection now.
    pub fn abort(&mut self, now: Instant, h: SocketHandle) {
        let slot = self.slots.get_mut(h.index as usize).filter(|s| s.generation == h.generation);
        let Some(slot) = slot.filter(|s| s.tcb.is_some()) else { return };
        if slot.detached {
            // CLOSED or TIME-WAIT: "respond with ok and delete the TCB"
            // (§3.10.5); nothing is sent.
            return self.release(h.index, now);
        }
        let tcb = slot.tcb.as_mut().expect("checked above");
        if let Some(rst) = tcb.abort(&self.shared.context(now)) {
            let ip = connection_header(tcb);
            self.send_tcp(ip, rst);
        }
        self.release(h.index, now);
    }

    /// The connection's last soft error not yet read (an ICMP error, or
    /// retransmissions reaching R1: `Ready::SOFT_ERROR`), cleared by
    /// reading, like SO_ERROR (RFC 9293 §3.9.1.8, MUST-47). The
    /// connection carries on; why it ended, if it did, `send` and `recv`
    /// say.
    pub fn take_soft_error(&mut self, h: SocketHandle) -> Option<Error> {
        self.tcb_mut(h)?.take_soft_error()
    }

    /// A connection's state, or `None` once it is deleted.
    pub fn state(&self, h: SocketHandle) -> Option<State> {
        self.tcb(h).map(|t| t.state)
    }

    /// The peer's address and port, or `None` once the connection is deleted.
    pub fn peer(&self, h: SocketHandle) -> Option<SocketAddr> {
        self.tcb(h).map(|t| t.remote)
    }

    /// Bytes written to the connection that the peer has not acknowledged
    /// yet, sent or not: the send buffer in use (0 once it is deleted).
    pub fn send_queue(&self, h: SocketHandle) -> usize {
        self.tcb(h).map_or(0, |t| t.send_queue())
    }

    /// The TCB, read-only, for inspection and tests.
    pub fn tcb(&self, h: SocketHandle) -> Option<&Tcb> {
        let slot = self.slots.get(h.index as usize)?;
        slot.tcb.as_ref().filter(|_| slot.generation == h.generation)
    }

    /// Every TCB, read-only, for inspection and tests (TIME-WAIT entries
    /// are not TCBs: see `time_wait_count`).
    pub fn tcbs(&self) -> impl Iterator<Item = &Tcb> + '_ {
        self.slots.iter().filter_map(|s| s.tcb.as_ref())
    }

    fn tcb_mut(&mut self, h: SocketHandle) -> Option<&mut Tcb> {
        self.slot_mut(h)?.tcb.as_mut()
    }

    fn slot_mut(&mut self, h: SocketHandle) -> Option<&mut Slot> {
        let slot = self.slots.get_mut(h.index as usize)?;
        (slot.generation == h.generation && slot.tcb.is_some()).then_some(slot)
    }

    /// Run a user call on a live, not orphaned TCB, then bring the stack's
    /// tables up to date.
    fn with_tcb<R>(
        &mut self,
        now: Instant,
        h: SocketHandle,
        f: impl FnOnce(&mut Tcb, &mut Context) -> R,
    ) -> Result<R, Error> {
        let slot = self.slots.get_mut(h.index as usize).filter(|s| s.generation == h.generation);
        let tcb = slot.and_then(|s| s.tcb.as_mut()).filter(|t| !t.orphaned).ok_or(Error::InvalidSocket)?;
        let r = f(tcb, &mut self.shared.context(now));
        self.after(h.index, now);
        Ok(r)
    }

    /// Record the story of `h` from now on (with `Stories::OnRequest`;
    /// with `All` it is recorded already, with `Off` never).
    pub fn record(&mut self, h: SocketHandle) {
        if self.shared.config.stories != Stories::Off {
            if let Some(tcb) = self.tcb_mut(h) {
                tcb.story.turn_on();
            }
        }
    }

    /// With `Stories::OnRequest`: record the story of every connection
    /// `remote` makes or accepts from now until `until`, from its first
    /// segment (a page that shows a reader their own connections asks for
    /// the next ones, its handshakes included). At most `story::WATCHED`
    /// addresses at once; past that the one whose time ends first goes.
    pub fn record_peer(&mut self, remote: IpAddr, until: Instant) {
        if self.shared.config.stories == Stories::OnRequest {
            self.watched.insert(remote, until);
        }
    }

    /// The story of connection `h`, so far (`story.rs`): live, or in
    /// TIME-WAIT while the application holds the socket.
    pub fn story(&self, h: SocketHandle) -> Option<StoryView<'_>> {
        let tcb = self.tcb(h)?;
        if !tcb.story.is_on() {
            // In TIME-WAIT the story moved to the recently closed table.
            let tuple = FourTuple { local: tcb.local, remote: tcb.remote };
            return self.recent.get(&tuple).filter(|v| v.story.id == tcb.story.id);
        }
        Some(live_story(tcb))
    }

    /// The stories of every connection with the peer address `remote`,
    /// live and recently closed (TIME-WAIT included), newest first: what
    /// one host may be shown of its own connections, and nobody else's.
    pub fn stories_of(&self, remote: IpAddr) -> impl Iterator<Item = StoryView<'_>> + '_ {
        let mut live: Vec<StoryView> =
            self.tcbs().filter(|t| t.remote.ip() == remote && t.story.is_on()).map(live_story).collect();
        live.sort_unstable_by_key(|v| std::cmp::Reverse(v.story.id));
        live.into_iter().chain(self.recent.of(remote))
    }

    /// Every connection's key variables (all but TIME-WAIT, which is only
    /// counted).
    pub fn connections(&self) -> impl Iterator<Item = ConnectionInfo> + '_ {
        self.tcbs().map(|t| ConnectionInfo {
            local: t.local,
            remote: t.remote,
            state: t.state,
            snd_una: t.snd.una.0,
            snd_nxt: t.snd.nxt.0,
            rcv_nxt: t.rcv.nxt.0,
            snd_wnd: t.snd.wnd,
            rcv_wnd: t.rcv.wnd(),
            cwnd: t.cc.window(),
            ssthresh: t.cc.ssthresh(),
            sack_permitted: t.options.sack_permitted,
            srtt: t.rtt.srtt(),
            rto: t.rtt.rto(),
            snd_mss: t.snd_mss,
            rcv_buf: t.rcv_buf.size,
            window_scale: t.options.window_scale.map(|w| (w.rcv, w.snd)),
            timestamps: t.options.timestamps,
        })
    }

    /// The next thing the application should look at.
    pub fn next_event(&mut self) -> Option<Event> {
        if let Some(port) = self.incoming.pop_front() {
            return Some(Event::Incoming { port });
        }
        while let Some(index) = self.ready.pop_front() {
            let slot = &mut self.slots[index as usize];
            slot.in_ready = false;
            let Some(tcb) = slot.tcb.as_mut() else { continue };
            let ready = std::mem::take(&mut tcb.ready);
            if !ready.is_empty() && !tcb.orphaned && slot.queue == Queue::None {
                return Some(Event::Socket { socket: SocketHandle { index, generation: slot.generation }, ready });
            }
        }
        None
    }

    // ------------------------------------------------------------------
    // A packet arrives
    // ------------------------------------------------------------------

    /// One IP packet from the link, IPv4 or IPv6 by its version nibble.
    /// Anything malformed is dropped and counted; nothing a peer sends can
    /// make this panic.
    pub fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.shared.counters.packets_in += 1;
        match packet.first().map(|b| b >> 4) {
            Some(6) => self.receive_ipv6(now, packet),
            // Anything else too: the view says what is wrong with it.
            _ => self.receive_ipv4(now, packet),
        }
    }

    fn receive_ipv4(&mut self, now: Instant, packet: &[u8]) {
        let ip = match Ipv4Packet::new_checked(packet) {
            Ok(ip) => ip,
            Err(e) => return self.drop_malformed(e),
        };
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        if !self.addressed_to_us(src, dst) {
            return;
        }
        if ip.is_fragment() {
            self.shared.counters.drops.fragment += 1; // no reassembly (RFC 9293 leaves it to IP)
            return;
        }
        self.receive_upper(now, src, dst, ip.protocol(), ip.payload());
    }

    /// An IPv6 packet (RFC 8200): its extension headers skipped (or the
    /// packet dropped: a fragment, a chain too long) on the way to the
    /// upper layer, which is the same as over IPv4 from there on.
    fn receive_ipv6(&mut self, now: Instant, packet: &[u8]) {
        let ip = match Ipv6Packet::new_checked(packet) {
            Ok(ip) => ip,
            Err(e) => return self.drop_malformed(e),
        };
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        if !self.addressed_to_us(src, dst) {
            return;
        }
        match ip.upper_layer() {
            Ok((protocol, payload)) => self.receive_upper(now, src, dst, protocol, payload),
            Err(e) => self.drop_malformed(e),
        }
    }

    /// Whether a packet from `src` to `dst` is ours to take; if not, it is
    /// counted.
    fn addressed_to_us(&mut self, src: IpAddr, dst: IpAddr) -> bool {
        let drops = &mut self.shared.counters.drops;
        if self.shared.config.addr_for(dst) != Some(dst) {
            drops.not_for_us += 1;
            return false;
        }
        if !self.shared.config.valid_peer(src) {
            // RFC 1122 §3.2.1.3: a source address no host has. For TCP this
            // is MUST-63, a SYN from it ignored; and anything else too: no
            // connection can have such a peer, and an RST or an echo reply
            // in answer would go to a broadcast or multicast group.
            drops.invalid_source += 1;
            return false;
        }
        true
    }

    /// The payload of an IP packet for us, by its protocol; ICMP of the
    /// packet's own family only.
    fn receive_upper(&mut self, now: Instant, src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) {
        match (protocol, src, dst) {
            (PROTO_TCP, _, _) => self.receive_tcp(now, src, dst, payload),
            (PROTO_ICMP, IpAddr::V4(_), _) | (PROTO_ICMPV6, IpAddr::V6(_), _) => {
                self.receive_icmp(now, src, dst, payload)
            }
            _ => self.shared.counters.drops.other_protocol += 1,
        }
    }

    fn drop_malformed(&mut self, e: WireError) {
        let drops = &mut self.shared.counters.drops;
        match e {
            WireError::Checksum => drops.checksum += 1,
            WireError::Fragment => drops.fragment += 1,
            WireError::ExtHeaders => drops.ipv6_ext_headers += 1,
            _ => drops.malformed += 1,
        }
    }

    fn receive_tcp(&mut self, now: Instant, src: IpAddr, dst: IpAddr, segment: &[u8]) {
        let seg = match TcpSegment::new_checked(segment) {
            Ok(seg) => seg,
            Err(e) => return self.drop_malformed(e),
        };
        if self.shared.config.rx_checksum == RxChecksum::Verify && !seg.verify_checksum(src, dst) {
            return self.drop_malformed(WireError::Checksum);
        }
        let repr = match TcpRepr::parse(&seg) {
            Ok(repr) => repr,
            Err(e) => return self.drop_malformed(e),
        };
        let payload = seg.payload();
        self.shared.counters.segments_in += 1;
        let tuple =
            FourTuple { local: SocketAddr::new(dst, repr.dst_port), remote: SocketAddr::new(src, repr.src_port) };
        if log_enabled!(Level::Trace) {
            trace!("{} > {} {} len={}", tuple.remote, tuple.local, repr, payload.len());
        }
        if tuple.local == tuple.remote {
            // Only we hold our address and port, so this is forged (the LAND
            // attack) or ours looped back; answering would talk to ourselves.
            self.shared.counters.drops.land += 1;
            return;
        }
        if let Some(&h) = self.by_tuple.get(&tuple) {
            return self.segment_for_connection(now, h, &repr, payload);
        }
        if self.time_wait.contains(&tuple) {
            let seg = Segment { repr: &repr, payload };
            let by = By::TimeWait;
            let story = self.time_wait.get(&tuple).and_then(|e| e.story);
            self.time_wait_story(
                tuple,
                story,
                Record::segment(now, Dir::In, &repr, payload.len(), SegmentKind::Normal, by),
            );
            let config = &self.shared.config;
            let verdict =
                self.time_wait.on_segment(now, self.two_msl(), tuple, seg, config.timestamps, config.syn_challenge);
            let (reply, kind) = match verdict {
                Verdict::Ignore => return,
                Verdict::Ack(ack) => (ack, SegmentKind::Normal),
                Verdict::Challenge(ack) => {
                    if !self.shared.challenge_acks.allow(now) {
                        self.shared.counters.challenge_acks_limited += 1;
                        return;
                    }
                    self.shared.counters.challenge_acks += 1;
                    (ack, SegmentKind::ChallengeAck)
                }
                Verdict::Reset(rst) => (rst, SegmentKind::Reset),
                Verdict::Reopen { snd_nxt } => {
                    return self.segment_for_listener(now, tuple, &repr, payload, Some(snd_nxt));
                }
            };
            self.time_wait_story(tuple, story, Record::segment(now, Dir::Out, &reply, 0, kind, by));
            self.reply_tcp(&tuple, reply);
            if kind == SegmentKind::Reset {
                self.time_wait_story(tuple, story, time_wait_closed(now, "SYN in the window: reset (RFC 793)"));
                self.time_wait_reset(now, tuple);
            }
            return;
        }
        self.segment_for_listener(now, tuple, &repr, payload, None)
    }

    /// A TIME-WAIT entry was reset (`Config::syn_challenge` off): a socket
    /// the application still holds on it (`Slot::detached`) learns that the
    /// connection was reset. A search of the slots, but only on this path,
    /// which the default configuration never takes.
    fn time_wait_reset(&mut self, now: Instant, tuple: FourTuple) {
        let held = self.slots.iter().position(|s| {
            s.detached && s.tcb.as_ref().is_some_and(|t| t.local == tuple.local && t.remote == tuple.remote)
        });
        if let Some(index) = held {
            let tcb = self.slots[index].tcb.as_mut().expect("checked above");
            tcb.fail(&self.shared.context(now), Error::Reset, "SYN in the window in TIME-WAIT: connection reset");
            self.update(index as u32, now);
        }
    }

    fn segment_for_connection(&mut self, now: Instant, h: SocketHandle, repr: &TcpRepr, payload: &[u8]) {
        let slot = &mut self.slots[h.index as usize];
        let Some(tcb) = slot.tcb.as_mut() else { return };
        // The handshake would complete, but the accept queue has no room:
        // ignore the ACK; the peer will send again (as Linux does).
        if tcb.state == State::SynReceived
            && slot.queue == Queue::Syn
            && repr.flags.contains(Flags::ACK)
            && self.listeners.accept_queue_full(tcb.local.port())
        {
            self.shared.counters.drops.accept_queue_full += 1;
            return;
        }
        if let Some(rst) = tcb.on_segment(&mut self.shared.context(now), Segment { repr, payload }) {
            let ip = connection_header(tcb);
            self.send_tcp(ip, rst);
        }
        self.after(h.index, now);
    }

    /// §3.10.7.1 CLOSED and §3.10.7.2 LISTEN: a segment with no connection.
    /// The listeners decide (`tcp/listener.rs`); this carries the decision
    /// out on the tables. With `after_time_wait`, a SYN that may reopen a
    /// 4-tuple in TIME-WAIT: the entry goes only when the new connection
    /// is made (RFC 6191 §2).
    fn segment_for_listener(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        repr: &TcpRepr,
        payload: &[u8],
        after_time_wait: Option<SeqNum>,
    ) {
        let mut cx = self.shared.context(now);
        cx.story |= self.watched.story(now, tuple.remote.ip());
        let seg = Segment { repr, payload };
        match self.listeners.on_segment(&mut cx, &self.isn, tuple, seg, after_time_wait) {
            Decision::Drop => {}
            Decision::Reset(reply) | Decision::SynCookie(reply) => self.reply_tcp(&tuple, reply),
            Decision::Open(start) => {
                let tcb = Tcb::accept_syn(&cx, tuple.local, tuple.remote, start, repr);
                if let Some(h) = self.insert_half_open(tcb) {
                    if after_time_wait.is_some() {
                        let story = self.time_wait.remove(&tuple).and_then(|e| e.story);
                        self.shared.counters.time_wait_reopened += 1;
                        self.time_wait_story(tuple, story, time_wait_closed(now, "a new SYN reopened the 4-tuple"));
                    }
                    self.after(h.index, now);
                }
            }
            Decision::CookieReturned { start, syn } => {
                let tcb = Tcb::from_syn_cookie(&cx, tuple.local, tuple.remote, start, &syn);
                if let Some(h) = self.insert_half_open(tcb) {
                    self.shared.counters.syn_cookies_accepted += 1;
                    // Through the SYN queue, like any handshake: the ACK
                    // makes it ESTABLISHED, and `update` moves it on to the
                    // accept queue.
                    self.segment_for_connection(now, h, repr, payload);
                }
            }
        }
    }

    /// A TCB created in SYN-RECEIVED by LISTEN: into the tables and its
    /// listener's SYN queue.
    fn insert_half_open(&mut self, tcb: Tcb) -> Option<SocketHandle> {
        let port = tcb.local.port();
        let Some(h) = self.insert(tcb) else {
            self.shared.counters.drops.too_many_connections += 1;
            return None;
        };
        self.slots[h.index as usize].queue = Queue::Syn;
        self.listeners.enter_syn_queue(port);
        Some(h)
    }

    /// ICMP (RFC 792) or ICMPv6 (RFC 4443), from `src` to `dst`: answer
    /// echo requests; take errors to the connection whose segment they
    /// quote (RFC 9293 §3.9.2.2, MUST-54, `tcp/icmp.rs`). Source Quench is
    /// discarded (MUST-55). The rest (ICMPv6's Neighbor Discovery, RFC
    /// 4861, and the others) is the link's or nobody's here: counted as
    /// another protocol.
    fn receive_icmp(&mut self, now: Instant, src: IpAddr, dst: IpAddr, message: &[u8]) {
        let icmp = match IcmpPacket::new_checked(message, src, dst) {
            Ok(icmp) => icmp,
            Err(e) => return self.drop_malformed(e),
        };
        match icmp.kind() {
            IcmpKind::EchoRequest => {
                let mut packet = vec![0; message.len()];
                let n = icmp::emit_echo_reply(&icmp, &mut packet);
                packet.truncate(n);
                self.shared.counters.icmp_echo_replies += 1;
                self.reply_icmp(src, icmp.protocol(), packet);
            }
            IcmpKind::SourceQuench => {
                self.shared.counters.icmp_errors += 1;
                self.shared.counters.icmp_source_quench += 1;
            }
            IcmpKind::Error => self.icmp_error(now, src, icmp.quoted(), IcmpError::of(&icmp)),
            IcmpKind::Other => self.shared.counters.drops.other_protocol += 1,
        }
    }

    /// An ICMP or ICMPv6 error from `from` that quotes `quoted`, the start
    /// of a datagram of ours, and means `error` to TCP (`tcp/icmp.rs`):
    /// to the connection whose segment it is, if any, which judges it.
    /// A quote of the other family than the message's is malformed.
    fn icmp_error(&mut self, now: Instant, from: IpAddr, quoted: &[u8], error: Option<IcmpError>) {
        let quote = match Quote::new_checked(quoted) {
            Ok(quote) if quote.src_addr().is_ipv6() == from.is_ipv6() => quote,
            Ok(_) => return self.drop_malformed(WireError::Version),
            Err(e) => return self.drop_malformed(e),
        };
        self.shared.counters.icmp_errors += 1;
        let tuple = FourTuple {
            local: SocketAddr::new(quote.src_addr(), quote.src_port()),
            remote: SocketAddr::new(quote.dst_addr(), quote.dst_port()),
        };
        let h = if quote.protocol() == PROTO_TCP { self.by_tuple.get(&tuple).copied() } else { None };
        let tcb = h.and_then(|h| self.slots[h.index as usize].tcb.as_mut());
        let (Some(error), Some(h), Some(tcb)) = (error, h, tcb) else {
            self.shared.counters.icmp_errors_ignored += 1;
            return;
        };
        tcb.on_icmp_error(&mut self.shared.context(now), quote.seq_number(), error);
        self.after(h.index, now);
    }

    /// A segment of no connection in answer to one that came to `tuple`:
    /// the stack's own TTL and TOS.
    fn reply_tcp(&mut self, tuple: &FourTuple, repr: TcpRepr) {
        let config = &self.shared.config;
        self.send_tcp(tcp_header(tuple.local.ip(), tuple.remote.ip(), config.ttl, config.tos), repr);
    }

    /// An ICMP message of `protocol` (ICMP or ICMPv6) to `dst`, from our
    /// address of its family.
    fn reply_icmp(&mut self, dst: IpAddr, protocol: u8, packet: Vec<u8>) {
        let config = &self.shared.config;
        let src = config.addr_for(dst).expect("we answer only packets sent to our address of their family");
        self.push_reply(Reply::Icmp { ip: IpRepr::new(src, dst, protocol, config.ttl, 0), packet });
    }

    /// A segment outside the stream, under the IP header `ip`.
    fn send_tcp(&mut self, ip: IpRepr, repr: TcpRepr) {
        if repr.flags.contains(Flags::RST) {
            self.shared.counters.rsts_sent += 1;
        }
        self.push_reply(Reply::Tcp { ip, repr });
    }

    fn push_reply(&mut self, reply: Reply) {
        if self.replies.len() >= MAX_REPLIES {
            self.shared.counters.drops.replies_full += 1;
        } else {
            self.replies.push_back(reply);
        }
    }

    // ------------------------------------------------------------------
    // Timers fire
    // ------------------------------------------------------------------

    /// The earliest moment `poll` has work.
    pub fn poll_at(&self) -> Option<Instant> {
        let conn = self.timers.first().map(|&(t, _)| t);
        [conn, self.time_wait.poll_at()].into_iter().flatten().min()
    }

    /// Fire every timer that is due at `now`.
    pub fn poll(&mut self, now: Instant) {
        while let Some(&(t, index)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let slot = &mut self.slots[index as usize];
            slot.timer = None;
            if let Some(tcb) = slot.tcb.as_mut() {
                tcb.on_timer(&mut self.shared.context(now));
                self.after(index, now);
            }
        }
        let mut expired = std::mem::take(&mut self.expired);
        self.time_wait.expire(now, &mut |tuple, entry| expired.push((tuple, entry.story)));
        for &(tuple, story) in &expired {
            self.time_wait_story(tuple, story, time_wait_closed(now, "2MSL expired"));
        }
        // Keep the allocation for next time.
        expired.clear();
        self.expired = expired;
    }

    // ------------------------------------------------------------------
    // Segments leave
    // ------------------------------------------------------------------

    /// Build every segment that should leave now and hand each, as a whole
    /// IPv4 or IPv6 packet, to `emit`. ACKs for everything received since the last
    /// call go out together (RFC 9293 MUST-58/59: aggregate ACKs).
    ///
    /// A packet comes in parts, to be sent one after the other: the first
    /// holds the IP and TCP headers, the others the payload as it lies in
    /// the send buffer, so that it is copied only where the packet goes (a
    /// link's queue, the simulator's wire). `[T]::concat` makes one piece.
    pub fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
        let tx_checksum = self.shared.config.tx_checksum;
        while let Some(reply) = self.replies.pop_front() {
            match reply {
                Reply::Tcp { ip, repr } => {
                    self.shared.counters.segments_out += 1;
                    write_segment(&mut self.scratch, ip, &repr, &[], tx_checksum, emit);
                }
                Reply::Icmp { mut ip, packet } => {
                    ip.set_payload_len(packet.len());
                    let header = &mut self.scratch[..ip.header_len()];
                    ip.emit(header);
                    emit(&[header, &packet]);
                }
            }
        }
        let dirty = std::mem::take(&mut self.dirty);
        for &index in &dirty {
            let slot = &mut self.slots[index as usize];
            slot.dirty = false;
            let Some(tcb) = slot.tcb.as_mut() else { continue };
            let mut cx = self.shared.context(now);
            let scratch = &mut self.scratch;
            tcb.dispatch(&mut cx, &mut |tcb: &Tcb, out: Outgoing| {
                write_segment(scratch, connection_header(tcb), &out.repr, out.payload, tx_checksum, emit);
            });
            self.update(index, now);
        }
        // Keep the allocation for next time.
        self.dirty = dirty;
        self.dirty.clear();
    }

    // ------------------------------------------------------------------
    // Bookkeeping after every event
    // ------------------------------------------------------------------

    fn insert(&mut self, mut tcb: Tcb) -> Option<SocketHandle> {
        if self.slots.len() - self.free.len() >= self.shared.config.max_connections {
            return None;
        }
        if let Some(spare) = self.spares.pop() {
            tcb.adopt(spare);
            self.shared.counters.buffers_reused += 1;
        }
        let tuple = FourTuple { local: tcb.local, remote: tcb.remote };
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    tcb: None,
                    timer: None,
                    dirty: false,
                    in_ready: false,
                    queue: Queue::None,
                    detached: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.tcb = Some(tcb);
        let h = SocketHandle { index, generation: slot.generation };
        self.by_tuple.insert(tuple, h);
        self.shared.counters.connections_opened += 1;
        slot.tcb.as_mut().expect("just set").story.id = self.shared.counters.connections_opened;
        Some(h)
    }

    /// After anything but `transmit` touched a connection: bring the tables
    /// up to date and note that it may have segments to send.
    fn after(&mut self, index: u32, now: Instant) {
        self.update(index, now);
        let slot = &mut self.slots[index as usize];
        if slot.tcb.is_some() && !slot.dirty {
            slot.dirty = true;
            self.dirty.push(index);
        }
    }

    /// Move a connection between the listener's queues, into TIME-WAIT or
    /// out of existence; reschedule its timer; queue its events.
    fn update(&mut self, index: u32, now: Instant) {
        let slot = &mut self.slots[index as usize];
        let Some(tcb) = slot.tcb.as_mut() else { return };
        let h = SocketHandle { index, generation: slot.generation };
        let port = tcb.local.port();

        if slot.queue == Queue::Syn && tcb.state != State::SynReceived {
            // Out of SYN-RECEIVED: on to the accept queue if the handshake
            // completed and the port still listens.
            let established = tcb.state.is_synchronized() && !tcb.orphaned;
            slot.queue = self.listeners.leave_syn_queue(port, established.then_some(h));
            if slot.queue == Queue::Accept {
                self.incoming.push_back(port);
            } else {
                tcb.orphaned = true; // nobody will accept it
            }
        }

        match tcb.disposition() {
            Disposition::Keep => {}
            Disposition::TimeWait | Disposition::Detach if slot.detached => {
                if tcb.orphaned {
                    return self.release(index, now);
                }
            }
            Disposition::TimeWait => {
                self.enter_time_wait(index, now);
                if self.slots[index as usize].tcb.as_ref().expect("checked above").orphaned {
                    return self.release(index, now);
                }
                self.detach(index);
            }
            Disposition::Detach => self.detach(index),
            Disposition::Delete => return self.release(index, now),
        }

        let slot = &mut self.slots[index as usize];
        let tcb = slot.tcb.as_ref().expect("checked above");
        let deadline = if slot.detached { None } else { tcb.poll_at() };
        // A deadline that moved later (the retransmission timer restarts on
        // every ACK) keeps its earlier place: it fires early, the TCB finds
        // nothing due, and this re-arms it. Cheaper than moving it each time.
        let earlier = match (slot.timer, deadline) {
            (Some(old), Some(new)) => new < old,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if earlier {
            if let Some(old) = slot.timer {
                self.timers.remove(&(old, index));
            }
            self.timers.insert((deadline.expect("earlier"), index));
            slot.timer = deadline;
        }
        if !tcb.ready.is_empty() && !slot.in_ready {
            slot.in_ready = true;
            self.ready.push_back(index);
        }
    }

    /// The connection has ended, but received data or the error may be
    /// unread: keep the TCB for the application (as Linux keeps the
    /// socket, in CLOSED), out of the lookup table and the timers.
    fn detach(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let tcb = slot.tcb.as_ref().expect("live connection");
        self.by_tuple.remove(&FourTuple { local: tcb.local, remote: tcb.remote });
        if let Some(t) = slot.timer.take() {
            self.timers.remove(&(t, index));
        }
        slot.detached = true;
    }

    /// Replace the TCB by a compact TIME-WAIT entry, and send the ACK of
    /// the peer's FIN that took us there.
    fn enter_time_wait(&mut self, index: u32, now: Instant) {
        let two_msl = self.two_msl();
        let tcb = self.slots[index as usize].tcb.as_mut().expect("live connection");
        let tuple = FourTuple { local: tcb.local, remote: tcb.remote };
        let shift = tcb.options.rcv_shift();
        let window = tcb.rcv.wnd().div_ceil(1 << shift);
        let entry = time_wait::Entry {
            snd_nxt: tcb.snd.nxt,
            rcv_nxt: tcb.rcv.nxt,
            window: window.min(u16::MAX as usize) as u16,
            ts: tcb.options.timestamps.then_some(EntryTs { offset: tcb.ts.offset, recent: tcb.ts.recent }),
            expires: now + two_msl,
            held: !tcb.orphaned,
            story: None,
        };
        let ack = time_wait::ack(now, &tuple, &entry);
        // The story goes on in the recently closed table, where the entry's
        // segments and its end are recorded (`time_wait_story`).
        let mut story = None;
        if tcb.story.is_on() {
            let limits = RecentLimits::of(&self.shared.config);
            let mut taken = std::mem::take(&mut tcb.story);
            tcb.story.id = taken.id; // so that `Stack::story` finds it
            taken.push(limits.records, Record::segment(now, Dir::Out, &ack, 0, SegmentKind::Normal, By::EnterTimeWait));
            let seqs = (tcb.snd.iss, tcb.rcv.irs);
            story = self.recent.insert(limits, tuple, seqs, State::TimeWait, now, Some(entry.expires), taken);
        }
        let tcb = self.slots[index as usize].tcb.as_ref().expect("live connection");
        self.send_tcp(connection_header(tcb), ack);
        if self.time_wait.len() >= self.shared.config.max_time_wait {
            self.shared.counters.drops.time_wait_full += 1; // deleted at once instead
            self.time_wait_story(tuple, story, time_wait_closed(now, "TIME-WAIT table full: deleted at once"));
        } else {
            self.time_wait.insert(tuple, time_wait::Entry { story, ..entry });
        }
    }

    /// Record on the story of `tuple`'s TIME-WAIT entry, `story` in the
    /// recently closed table, if it is kept still.
    fn time_wait_story(&mut self, tuple: FourTuple, story: Option<u32>, record: Record) {
        if let Some(serial) = story {
            self.recent.time_wait(RecentLimits::of(&self.shared.config), serial, &tuple, record);
        }
    }

    /// Delete the TCB and free its slot ("delete the TCB" of the RFC).
    /// Its story, unless TIME-WAIT took it already, goes to the table of
    /// recently closed connections.
    fn release(&mut self, index: u32, now: Instant) {
        let slot = &mut self.slots[index as usize];
        let Some(mut tcb) = slot.tcb.take() else { return };
        if let Some(t) = slot.timer.take() {
            self.timers.remove(&(t, index));
        }
        if slot.queue == Queue::Syn {
            self.listeners.leave_syn_queue(tcb.local.port(), None);
        }
        slot.queue = Queue::None;
        slot.generation = slot.generation.wrapping_add(1);
        let tuple = FourTuple { local: tcb.local, remote: tcb.remote };
        if tcb.story.is_on() {
            let limits = RecentLimits::of(&self.shared.config);
            let story = std::mem::take(&mut tcb.story);
            self.recent.insert(limits, tuple, (tcb.snd.iss, tcb.rcv.irs), tcb.state, now, None, story);
        }
        if std::mem::take(&mut slot.detached) {
            // The application let go of a connection in TIME-WAIT, whose
            // 4-tuple left `by_tuple` when it entered TIME-WAIT (it may
            // belong to a new connection by now): a SYN may reopen it.
            self.time_wait.closed(&tuple);
        } else {
            self.by_tuple.remove(&tuple);
        }
        self.free.push(index);
        let live = self.slots.len() - self.free.len();
        if self.spares.len() < SPARES.min(self.shared.config.max_connections.saturating_sub(live)) {
            let spare = tcb.into_spare();
            if spare.allocated() > 0 {
                self.spares.push(spare);
            }
        }
    }
}

/// The story of a live connection.
fn live_story(tcb: &Tcb) -> StoryView<'_> {
    StoryView {
        local: tcb.local,
        remote: tcb.remote,
        iss: tcb.snd.iss,
        irs: tcb.rcv.irs,
        state: tcb.state,
        closed_at: None,
        time_wait_until: None,
        story: &tcb.story,
    }
}

/// The story's record of a TIME-WAIT entry's end (§3.10.8: "delete the
/// TCB", which the entry stands for).
fn time_wait_closed(at: Instant, reason: &'static str) -> Record {
    Record::State { at, from: Some(State::TimeWait), to: State::Closed, reason }
}

/// The IP header of a TCP segment from `src` to `dst`, but for its
/// length, which `write_segment` fills in.
fn tcp_header(src: IpAddr, dst: IpAddr, ttl: u8, tos: u8) -> IpRepr {
    IpRepr::new(src, dst, PROTO_TCP, ttl, tos)
}

/// The IP header of a connection's segments: its TTL (hop limit) and TOS
/// (traffic class), as the application set them (MUST-48, MUST-49).
fn connection_header(tcb: &Tcb) -> IpRepr {
    tcp_header(tcb.local.ip(), tcb.remote.ip(), tcb.ttl, tcb.tos)
}

/// Write one TCP segment's IP and TCP headers into `buf` and emit the
/// packet as those headers followed by the payload where it lies, in the
/// send buffer (gather I/O): its bytes are copied once, by whoever takes the
/// packet, and summed for the checksum where they are (unless the link
/// finishes the checksum: `tx_checksum`). The one place the IP header of
/// a TCP segment is written, for both families.
fn write_segment(
    buf: &mut [u8],
    mut ip: IpRepr,
    repr: &TcpRepr,
    payload: &[&[u8]],
    tx_checksum: TxChecksum,
    emit: &mut dyn FnMut(&[&[u8]]),
) {
    let payload_len: usize = payload.iter().map(|part| part.len()).sum();
    if log_enabled!(Level::Trace) {
        let src = SocketAddr::new(ip.src(), repr.src_port);
        trace!("{} > {} {} len={}", src, SocketAddr::new(ip.dst(), repr.dst_port), repr, payload_len);
    }
    let ip_len = ip.header_len();
    let (ip_header, tcp_header) = buf.split_at_mut(ip_len);
    let tcp_len = repr.emit_header(tcp_header, payload, ip.src(), ip.dst(), tx_checksum);
    ip.set_payload_len(tcp_len + payload_len);
    ip.emit(ip_header);
    let header = &buf[..ip_len + tcp_len];
    // The headers, then the payload's pieces: on the stack for the usual
    // few (`SendBuffer::gather`).
    if let [a, b] = payload {
        emit(&[header, a, b]);
    } else {
        let packet: SmallVec<[&[u8]; 5]> = std::iter::once(header).chain(payload.iter().copied()).collect();
        emit(&packet);
    }
}
