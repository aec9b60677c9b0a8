//! The server's part of each turn of the event loop: accept connections,
//! move bytes between each TCP connection and its HTTP state machine, fire
//! HTTP deadlines, and close — the server first — when a connection is done.
//!
//! ```text
//!   stack events ──> Incoming: accept ─> a Conn per connection
//!                    Socket:   recv ─> Conn::on_readable
//!                              Conn::write_to ─> send (what fits)
//!                              Wants::Linger ─> shutdown: our FIN goes first
//!                              Wants::Close ─> close: TCP finishes alone
//!                              Wants::Abort ─> abort: RST, all freed now
//!                              Wants::Live ─> what the stack knows,
//!                                            for the Site to answer with
//! ```
//!
//! A connection the server is done with stays here, shut down, until the
//! peer has acknowledged everything: only then does TCP get it to finish on
//! its own. A peer that takes nothing for the send timeout is reset rather
//! than closed. A FIN would queue behind the unsent bytes, and a peer that
//! keeps its window shut while answering our zero-window probes would hold
//! the connection and its send buffer in FIN-WAIT-1 as long as it liked;
//! an RST frees both at once and tells the peer (nginx's
//! `reset_timedout_connection`).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::SystemTime;

use bytes::Bytes;
use log::info;
use stack::link::LinkStats;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::{Error, Event, SocketHandle, Stack};

use crate::conn::{Conn, Limits, Timeout, Transport, Wants};
use crate::live::{self, MAX_FEEDS};
use crate::shards::Shard;
use crate::site::{Live, Supplied};
use crate::status::Counters;
use crate::{Now, Site};

/// How long a stopping server waits for its connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Entry {
    conn: Conn,
    /// The deadline this connection is filed under in `Server::deadlines`.
    deadline: Option<Instant>,
}

pub struct Server {
    site: Site,
    limits: Limits,
    port: u16,
    max_connections: usize,
    conns: HashMap<SocketHandle, Entry>,
    /// Every connection's next HTTP deadline, earliest first.
    deadlines: BTreeSet<(Instant, SocketHandle)>,
    /// Connections to drive this turn.
    touched: Vec<SocketHandle>,
    buf: Vec<u8>,
    /// When the server began to stop, after SIGINT or SIGTERM.
    stopping: Option<Instant>,
    counters: Counters,
    /// What the link lost, as of this turn, for `/_stack.json`.
    link: LinkStats,
    /// The open feeds (`/_conn/feed`), at most `MAX_FEEDS`, each with the
    /// signature of what its last event showed (`live::signature`).
    feeds: HashMap<SocketHandle, u64>,
    /// This worker's place among the others (`--workers`).
    shard: Shard,
}

/// The TCP connection under one `Conn`.
struct Tcp<'a> {
    stack: &'a mut Stack,
    handle: SocketHandle,
    now: Instant,
}

impl Transport for Tcp<'_> {
    fn send(&mut self, bytes: &[u8]) -> usize {
        self.stack.send(self.now, self.handle, bytes).unwrap_or(0)
    }

    fn send_bytes(&mut self, bytes: &Bytes) -> usize {
        self.stack.send_bytes(self.now, self.handle, bytes.clone()).unwrap_or(0)
    }

    /// What the peer may still acknowledge: nothing once the connection
    /// is CLOSED (an RST in LAST-ACK leaves bytes in the buffer for good).
    fn unacknowledged(&self) -> usize {
        match self.stack.state(self.handle) {
            Some(State::Closed) | None => 0,
            Some(_) => self.stack.send_queue(self.handle),
        }
    }
}

impl Server {
    pub fn new(site: Site, limits: Limits, port: u16, max_connections: usize, shard: Shard) -> Server {
        Server {
            site,
            limits,
            port,
            max_connections,
            conns: HashMap::new(),
            deadlines: BTreeSet::new(),
            touched: Vec::new(),
            buf: vec![0; 64 * 1024],
            stopping: None,
            counters: Counters::default(),
            link: LinkStats::default(),
            feeds: HashMap::new(),
            shard,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// What the link has lost so far, to show in `/_stack.json`.
    pub fn set_link_stats(&mut self, link: LinkStats) {
        self.link = link;
    }

    /// The earliest HTTP deadline (header timeout, keep-alive idle...), or
    /// the time to publish this worker's part of `/_stack.json`.
    pub fn poll_at(&self) -> Option<Instant> {
        let stop = self.stopping.map(|t| t + SHUTDOWN_GRACE);
        [self.deadlines.first().map(|&(t, _)| t), stop, self.shard.poll_at()].into_iter().flatten().min()
    }

    /// Stopping, and every connection has finished its close (the ones in
    /// TIME-WAIT need no more from us), or the grace period is over.
    pub fn finished(&self, stack: &Stack, now: Instant) -> bool {
        self.stopping.is_some_and(|t| {
            let closing = stack.connections().filter(|c| c.state != State::TimeWait).count();
            (self.conns.is_empty() && closing == 0) || now >= t + SHUTDOWN_GRACE
        })
    }

    /// Stop accepting (new SYNs get RST), close idle connections, let the
    /// ones mid-response finish with `Connection: close`.
    pub fn stop(&mut self, stack: &mut Stack, now: Instant) {
        if self.stopping.is_some() {
            return;
        }
        info!("stopping: finishing {} connection(s)", self.conns.len());
        self.stopping = Some(now);
        stack.unlisten(now, self.port);
        for (&h, e) in &mut self.conns {
            e.conn.stop();
            self.touched.push(h);
        }
        self.drive_touched(stack, now);
    }

    /// The server's work for one turn, after the stack took in what arrived.
    pub fn on_turn(&mut self, stack: &mut Stack, now: Instant) {
        while let Some(event) = stack.next_event() {
            match event {
                Event::Incoming { port } => self.accept(stack, now, port),
                Event::Socket { socket, .. } => self.touched.push(socket),
            }
        }
        while let Some(&(t, h)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(e) = self.conns.get_mut(&h) {
                e.deadline = None;
                let tcp = Tcp { stack, handle: h, now };
                let timeout = e.conn.on_timeout(&mut self.site, Now { mono: now, wall: SystemTime::now() }, &tcp);
                match timeout {
                    Some(Timeout::Header) => self.counters.header_timeouts += 1,
                    Some(Timeout::Idle) => self.counters.idle_timeouts += 1,
                    Some(Timeout::Send) => self.counters.send_timeouts += 1,
                    None => {}
                }
                self.touched.push(h);
            }
        }
        self.drive_touched(stack, now);
        self.site.access.flush();
        self.shard.after_turn(stack, &self.counters, self.link, now);
    }

    fn accept(&mut self, stack: &mut Stack, now: Instant, port: u16) {
        while let Some(h) = stack.accept(port) {
            if self.conns.len() >= self.max_connections || self.stopping.is_some() {
                self.counters.refused += 1;
                stack.abort(now, h);
                continue;
            }
            // Responses are written whole; Nagle would hold their tails.
            stack.set_nodelay(h, true);
            let peer = stack.peer(h).map_or(Ipv4Addr::UNSPECIFIED.into(), |peer| peer.ip());
            self.conns.insert(h, Entry { conn: Conn::new(peer, self.limits, now), deadline: None });
            self.touched.push(h);
        }
    }

    fn drive_touched(&mut self, stack: &mut Stack, now: Instant) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &h in &touched {
            self.drive(stack, now, h);
        }
        touched.clear();
        self.touched = touched;
    }

    /// Move bytes between one TCP connection and its `Conn`.
    fn drive(&mut self, stack: &mut Stack, now: Instant, h: SocketHandle) {
        let Some(e) = self.conns.get_mut(&h) else { return };
        loop {
            let room = e.conn.input_room().min(self.buf.len());
            if room == 0 {
                break; // the rest waits in TCP; its window closes
            }
            match stack.recv(now, h, &mut self.buf[..room]) {
                Ok(0) => {
                    e.conn.on_peer_closed();
                    break;
                }
                Ok(n) => {
                    e.conn.on_readable(&self.buf[..n], now);
                }
                Err(Error::WouldBlock) => break,
                Err(_) => {
                    // Reset or timed out: nothing more to say to this peer.
                    self.forget(h);
                    return stack.close(now, h);
                }
            }
        }
        let wall = SystemTime::now();
        let wants = loop {
            match e.conn.write_to(&mut self.site, Now { mono: now, wall }, &mut Tcp { stack, handle: h, now }) {
                // The server answers what needs the stack: only it sees it.
                Wants::Live(what) => {
                    if what != Live::Stack {
                        record_reader(stack, now, h);
                    }
                    let (feeds, shard, counters, link) = (&mut self.feeds, &self.shard, &self.counters, self.link);
                    let status = |stack: &Stack| shard.status(stack, counters, link);
                    self.site.supply(answer(stack, now, h, what, feeds, status));
                }
                wants => break wants,
            }
        };
        match wants {
            // The server closes first: its FIN follows the last byte of the
            // response, and its side of the connection ends in TIME-WAIT.
            Wants::Close => {
                self.forget(h);
                return stack.close(now, h);
            }
            Wants::Abort => {
                self.forget(h);
                return stack.abort(now, h);
            }
            // Once shut down, the socket is still ours to read from: what
            // arrives is dropped, and the peer's FIN or the CLOSED event
            // brings us back to see whether everything was acknowledged.
            Wants::Linger => {
                let _ = stack.shutdown(now, h);
            }
            Wants::Read | Wants::Write | Wants::Live(_) => {}
        }
        let deadline = e.conn.deadline();
        if deadline != e.deadline {
            if let Some(old) = e.deadline {
                self.deadlines.remove(&(old, h));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, h));
            }
            e.deadline = deadline;
        }
    }

    /// Drops a connection's `Conn` and deadline; the caller closes or
    /// aborts its socket.
    fn forget(&mut self, h: SocketHandle) {
        self.feeds.remove(&h);
        if let Some(e) = self.conns.remove(&h) {
            if let Some(t) = e.deadline {
                self.deadlines.remove(&(t, h));
            }
        }
    }
}

/// How long a reader's new connections are recorded after they last asked
/// to see them.
const RECORD_READER: Duration = Duration::from_secs(600);

/// A reader asked for their own connections (`/_conn/...`): the stack
/// records this one from now on, and every new one from the same address,
/// from its SYN, for `RECORD_READER` (stories are recorded only on request:
/// recording every connection costs more than the 3 % they may cost).
fn record_reader(stack: &mut Stack, now: Instant, h: SocketHandle) {
    if let Some(peer) = stack.peer(h) {
        stack.record(h);
        stack.record_peer(peer.ip(), now + RECORD_READER);
    }
}

/// The answer for connection `h` to a resource made of what the stack
/// knows: `status` makes `/_stack.json`. `/_conn/...` show the stories of
/// its own remote address only, as this stack keeps them: with
/// `--workers`, those of its connections that came to this worker. A
/// feed is admitted if fewer than `MAX_FEEDS` are open; then each of its
/// looks has news only if the stories changed since its last event.
fn answer(
    stack: &Stack,
    now: Instant,
    h: SocketHandle,
    what: Live,
    feeds: &mut HashMap<SocketHandle, u64>,
    status: impl FnOnce(&Stack) -> String,
) -> Supplied {
    // The address as TCP knows it, never a header; a connection the stack
    // no longer knows is nobody's.
    let remote = stack.peer(h).map_or(Ipv4Addr::UNSPECIFIED.into(), |peer| peer.ip());
    match what {
        Live::Stack => Supplied::Json(status(stack)),
        Live::ConnSelf => stack.story(h).map_or(Supplied::Nothing, |view| Supplied::Json(live::one(&view, now))),
        Live::ConnRecent => Supplied::Json(live::recent(stack.stories_of(remote), now)),
        Live::Feed => {
            let signature = live::signature(stack.stories_of(remote));
            let open = feeds.len();
            match feeds.get(&h) {
                Some(&last) if last == signature => return Supplied::Nothing,
                None if open >= MAX_FEEDS => return Supplied::Nothing,
                _ => feeds.insert(h, signature),
            };
            Supplied::Json(live::recent(stack.stories_of(remote), now))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use stack::link::faults::Faults;
    use stack::link::sim::Network;
    use stack::Config;

    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const OTHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// `n` connections from each of two clients, accepted by the server:
    /// the network and the server's handles, `CLIENT`'s first.
    fn connected(n: usize) -> (Network<Stack>, Vec<SocketHandle>) {
        let mut net = Network::new(Faults { delay: Duration::from_millis(1), ..Faults::default() });
        let clients = [CLIENT, OTHER].map(|a| net.add_host(a, Stack::new(Config::new(a))));
        let s = net.add_host(SERVER, Stack::new(live::recording(SERVER)));
        net.host_mut(s).listen(80, 2 * n).unwrap();
        let mut accepted = Vec::new();
        for c in clients {
            for _ in 0..n {
                let now = net.now();
                net.host_mut(c).connect(now, SocketAddr::new(SERVER.into(), 80)).unwrap();
                net.run_until(now + Duration::from_secs(1), |n| {
                    n.host_mut(s).accept(80).map(|h| accepted.push(h)).is_some()
                });
            }
        }
        (net, accepted)
    }

    /// At most `MAX_FEEDS` feeds; each gets news only when its address's
    /// stories changed; a feed forgotten frees its place.
    #[test]
    fn feeds_are_bounded_and_told_only_of_changes() {
        let (mut net, handles) = connected(MAX_FEEDS + 1);
        let stack = net.host(2);
        let now = net.now();
        let mut feeds = HashMap::new();
        let status = |_: &Stack| String::new();
        let feed = |feeds: &mut _, h| answer(stack, now, h, Live::Feed, feeds, status);
        for &h in &handles[..MAX_FEEDS] {
            assert!(matches!(feed(&mut feeds, h), Supplied::Json(_)));
        }
        assert!(feed(&mut feeds, handles[MAX_FEEDS]) == Supplied::Nothing, "one too many");
        assert!(feed(&mut feeds, handles[0]) == Supplied::Nothing, "nothing changed");
        feeds.remove(&handles[1]);
        assert!(matches!(feed(&mut feeds, handles[MAX_FEEDS]), Supplied::Json(_)));

        // Each sees its own address only: CLIENT's feed, then OTHER's.
        let Supplied::Json(mine) = answer(stack, now, handles[0], Live::ConnRecent, &mut feeds, status) else {
            panic!("no JSON")
        };
        let Supplied::Json(theirs) = answer(stack, now, handles[MAX_FEEDS + 1], Live::ConnRecent, &mut feeds, status)
        else {
            panic!("no JSON")
        };
        // Of the MAX_FEEDS + 1 of each, the newest MAX_SHOWN.
        let shown = live::MAX_SHOWN.min(MAX_FEEDS + 1);
        assert_eq!((mine.matches("\"remote\":\"10.0.0.1:").count(), mine.contains("10.0.0.3")), (shown, false));
        assert_eq!((theirs.matches("\"remote\":\"10.0.0.3:").count(), theirs.contains("10.0.0.1")), (shown, false));

        // A change on CLIENT's address (a new connection): news for its feed.
        let now = net.now();
        net.host_mut(0).connect(now, SocketAddr::new(SERVER.into(), 80)).unwrap();
        net.run_until(now + Duration::from_millis(100), |_| false);
        let stack = net.host(2);
        let now = net.now();
        assert!(matches!(answer(stack, now, handles[0], Live::Feed, &mut feeds, status), Supplied::Json(_)));
    }
}
