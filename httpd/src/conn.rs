//! One HTTP connection as a state machine driven by bytes and by time. It
//! never touches a socket: the event loop hands it what TCP received, gives
//! it a sink that takes what TCP can send, and tells it the time.
//!
//! ```text
//!              complete head / bad head / 408
//!   ReadingRequest ─────────────────────────────▶ WritingResponse
//!        ▲   │                                        │     │
//!        │   │ idle timeout, or peer closed           │     │ response sent and
//!        │   ▼ between requests                       │     │ Connection: close
//!        │  Closed ◀───────────────────────────────────┼─────┘
//!        │                                            │
//!        └──────────── response sent, keep-alive ─────┘
//!
//!   WritingResponse ── head of /_conn/feed sent ──▶ Streaming ──▶ Closed
//! ```
//!
//! `Streaming` is a response that goes on (Server-Sent Events, darkhttpd
//! keeps such states explicit too): every `FEED_INTERVAL` the connection
//! asks the server (`Wants::Live`) whether the asker's connections changed,
//! and sends an event if they did, a comment if it has been quiet for
//! `FEED_KEEP_ALIVE`; after `FEED_LIFETIME` it closes.
//!
//! One response is in flight at a time; pipelined requests wait in the
//! input buffer and are answered in order as each response finishes.
//!
//! Three clocks guard against clients that are slow or gone:
//!
//! - the header timeout: a request head must be complete within it of its
//!   first byte (slowloris), else 408 and close;
//! - the keep-alive timeout: an idle persistent connection is closed;
//! - the send timeout, in every state: while bytes wait for the peer — in
//!   our buffer or in TCP's, sent but not acknowledged — the peer must take
//!   some of them within it, else the connection is reset (slow read). A
//!   response counts as delivered when the peer has acknowledged it, not
//!   when TCP took it: a reader that stops would otherwise keep a closed
//!   connection in FIN-WAIT-1, its send buffer full, for as long as it
//!   answers our zero-window probes.

use std::net::IpAddr;

use bytes::{Buf, Bytes};
use stack::tcp::send_buffer::SHARE_MIN;
use stack::time::{Duration, Instant};

use crate::access;
use crate::request::{self, Method, Parsed, Request, MAX_HEAD};
use crate::response::{After, Body, Response, Status};
use crate::site::{self, Live, Site, Supplied};
use crate::Now;

/// Most body bytes read ahead of the transport; also the first segment's
/// worth of response (head and first body bytes go out in one write).
pub const CHUNK: usize = 64 * 1024;

/// Room for a response head, a file's with `Connection` included (about
/// 300 bytes); a longer one grows the buffer.
const HEAD_ROOM: usize = 512;

/// What an idle connection's output buffer may keep of its allocation.
const IDLE_OUT: usize = CHUNK / 4;

/// How often a feed looks for changes: its events come at most this often.
pub const FEED_INTERVAL: Duration = Duration::from_millis(250);
/// A quiet feed sends a comment this often, so proxies and the reader's
/// own timeouts see it alive.
pub const FEED_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A feed ends after this long: the browser's `EventSource` reconnects,
/// and a reader that forgot the tab does not hold a place for ever.
pub const FEED_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The comment that keeps a quiet feed alive.
const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

/// The configuration a connection obeys (see `Config::limits`).
#[derive(Copy, Clone, Debug)]
pub struct Limits {
    pub keep_alive_timeout: Duration,
    pub header_timeout: Duration,
    /// How long the peer may take nothing while bytes wait for it.
    pub send_timeout: Duration,
    pub max_requests: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for a request head, or idle between requests if none of one
    /// has arrived.
    ReadingRequest,
    /// Handing the current response to the transport.
    WritingResponse,
    /// A response that goes on: a feed's events, until `FEED_LIFETIME`,
    /// the peer's FIN or the server's stop.
    Streaming,
    /// Finished: the server closes the connection (its TCP sends FIN), or
    /// resets it if the peer stopped taking data.
    Closed,
}

/// The TCP connection under a `Conn`, as the `Conn` sees it.
pub trait Transport {
    /// Queue bytes for sending; returns how many were taken (0 when the
    /// send buffer is full: back-pressure).
    fn send(&mut self, bytes: &[u8]) -> usize;
    /// Queue bytes by reference, without copying them, if the transport
    /// can; returns how many were taken, as `send`.
    fn send_bytes(&mut self, bytes: &Bytes) -> usize {
        self.send(bytes)
    }
    /// Bytes taken by `send` that the peer has not acknowledged yet.
    fn unacknowledged(&self) -> usize;
}

/// What the connection waits for after `write_to`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Wants {
    /// More input (or the deadline).
    Read,
    /// Room in the transport: the sink took less than it was offered.
    Write,
    /// The server is done and the peer has acknowledged everything: close
    /// the socket (our FIN goes first) and let TCP finish on its own.
    Close,
    /// The server is done but the peer has not acknowledged everything
    /// yet: send FIN after it (shut down the sending side) and keep the
    /// socket, reading and dropping what arrives, until the peer has it all
    /// (`Close`) or the send timeout passes (`Abort`).
    Linger,
    /// The peer took nothing for the send timeout: reset the connection, so
    /// that neither the connection nor its unsent bytes stay pinned.
    Abort,
    /// The next request asks for a resource only the event loop can
    /// describe (`/_stack.json`, `/_conn/...`), or a feed is due to look
    /// for changes: give the answer to `Site::supply`, then call
    /// `write_to` again.
    Live(Live),
}

/// What `Conn::start_next` found at the front of the input.
enum Next {
    /// A request, whose response has begun.
    Started,
    /// No complete request head yet.
    Partial,
    /// A request for a `Live` resource with no answer supplied yet; left
    /// in the input.
    Live(Live),
}

/// A feed's clocks (`State::Streaming`).
#[derive(Copy, Clone, Debug)]
struct Stream {
    /// When to ask the server whether anything changed.
    next_look: Instant,
    /// When something was last sent: the keep-alive comment runs from here.
    last_sent: Instant,
    /// `FEED_LIFETIME` after the feed began.
    ends: Instant,
}

impl Stream {
    fn new(now: Instant) -> Stream {
        Stream { next_look: now + FEED_INTERVAL, last_sent: now, ends: now + FEED_LIFETIME }
    }

    /// The earliest of its clocks.
    fn deadline(&self) -> Instant {
        self.next_look.min(self.last_sent + FEED_KEEP_ALIVE).min(self.ends)
    }
}

/// Which clock ran out in `Conn::on_timeout`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// A request head did not complete in time: 408, then close.
    Header,
    /// Nothing arrived on an idle connection: close without a word.
    Idle,
    /// The peer took nothing while bytes waited for it: reset.
    Send,
}

pub struct Conn {
    peer: IpAddr,
    limits: Limits,
    state: State,
    /// Received bytes not yet parsed; never more than `MAX_HEAD`.
    inbuf: Vec<u8>,
    /// Bytes of a request body still to arrive, skipped as they do.
    discard: u64,
    /// The current response's next bytes, sent from `out_pos`, refilled
    /// from `body` one chunk at a time.
    out: Vec<u8>,
    out_pos: usize,
    body: Body,
    /// What follows the current response: the next request, a close, or
    /// a stream of events.
    after: After,
    /// The feed's clocks, while `Streaming`.
    stream: Stream,
    requests: u32,
    peer_closed: bool,
    /// The server is shutting down: no request after the current one.
    stopping: bool,
    /// Start of the current wait for input: for a request's head since its
    /// first byte, idle since the last response was handed over.
    since: Instant,
    /// Bytes the transport held unacknowledged when last looked at.
    unacked: usize,
    /// When the peer last took something: the transport took bytes, or the
    /// peer acknowledged some. The send timeout runs from here.
    progress: Instant,
    /// The send timeout passed: reset rather than close.
    reset: bool,
}

/// The buffers of an ended connection, emptied, their allocations kept
/// for a new one (`Conn::reusing`): a connection that lives for one request
/// then allocates none of its own.
#[derive(Default)]
pub struct Spare {
    inbuf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    pub fn new(peer: IpAddr, limits: Limits, now: Instant) -> Conn {
        Conn::reusing(Spare::default(), peer, limits, now)
    }

    /// A new connection, with the buffers of one that ended.
    pub fn reusing(spare: Spare, peer: IpAddr, limits: Limits, now: Instant) -> Conn {
        let Spare { inbuf, out } = spare;
        debug_assert!(inbuf.is_empty() && out.is_empty(), "a spare not emptied");
        Conn {
            peer,
            limits,
            state: State::ReadingRequest,
            inbuf,
            discard: 0,
            out,
            out_pos: 0,
            body: Body::empty(),
            after: After::Next,
            stream: Stream::new(now),
            requests: 0,
            peer_closed: false,
            stopping: false,
            since: now,
            unacked: 0,
            progress: now,
            reset: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The connection ended: its buffers, emptied of everything it put in
    /// them, and no larger than an idle connection keeps.
    pub fn into_spare(self) -> Spare {
        let Conn { mut inbuf, mut out, .. } = self;
        inbuf.clear();
        out.clear();
        if out.capacity() > IDLE_OUT {
            out = Vec::new();
        }
        Spare { inbuf, out }
    }

    /// How many received bytes `on_readable` would take now. Bytes left in
    /// TCP's receive buffer close its window: that is how a client that
    /// pipelines faster than we answer is slowed down.
    pub fn input_room(&self) -> usize {
        match self.state {
            // Nothing more is read: what comes is dropped, so the peer's
            // FIN is still seen.
            State::Closed | State::Streaming => usize::MAX,
            _ => usize::try_from(self.discard).unwrap_or(usize::MAX).saturating_add(MAX_HEAD - self.inbuf.len()),
        }
    }

    /// Takes received bytes; returns how many were taken (the rest must stay
    /// with the transport until `write_to` has made room). Call `write_to` next.
    pub fn on_readable(&mut self, data: &[u8], now: Instant) -> usize {
        if matches!(self.state, State::Closed | State::Streaming) {
            // Closing, or a response that ends with the connection: no
            // request can follow, whatever comes is dropped.
            return data.len();
        }
        let skip = usize::try_from(self.discard).unwrap_or(usize::MAX).min(data.len());
        self.discard -= skip as u64;
        let keep = (MAX_HEAD - self.inbuf.len()).min(data.len() - skip);
        // The header timeout runs from a head's first byte. Body bytes being
        // skipped do not restart any clock: trickling them buys no time.
        if self.state == State::ReadingRequest && self.inbuf.is_empty() && keep > 0 {
            self.since = now;
        }
        self.inbuf.extend_from_slice(&data[skip..skip + keep]);
        skip + keep
    }

    /// The client sent FIN: answer the complete requests already received,
    /// then close.
    pub fn on_peer_closed(&mut self) {
        self.peer_closed = true;
    }

    /// The server is stopping: finish the response in flight, if any, with
    /// `Connection: close` where it has not started yet, then close; an idle
    /// connection, or a feed, closes now. Call `write_to` next.
    pub fn stop(&mut self) {
        self.stopping = true;
        if (self.state == State::ReadingRequest && self.inbuf.is_empty()) || self.state == State::Streaming {
            self.state = State::Closed;
        }
    }

    /// When `on_timeout` should be called, if ever: the earlier of the
    /// input clock (header or keep-alive timeout) and the send timeout.
    pub fn deadline(&self) -> Option<Instant> {
        [self.input_deadline(), self.send_deadline()].into_iter().flatten().min()
    }

    fn input_deadline(&self) -> Option<Instant> {
        let wait = match self.state {
            State::ReadingRequest if !self.inbuf.is_empty() => self.limits.header_timeout,
            // A new connection gets as long for its first byte as for its head.
            State::ReadingRequest if self.requests == 0 => self.limits.header_timeout,
            State::ReadingRequest => self.limits.keep_alive_timeout,
            // Bytes still waiting for the peer: the send timeout watches.
            State::Streaming if self.out_pos < self.out.len() => return None,
            State::Streaming => return Some(self.stream.deadline()),
            State::WritingResponse | State::Closed => return None,
        };
        Some(self.since + wait)
    }

    /// While bytes wait for the peer, in our buffer or unacknowledged in
    /// TCP's, it must take some within the send timeout.
    fn send_deadline(&self) -> Option<Instant> {
        let waiting = self.state == State::WritingResponse || self.out_pos < self.out.len() || self.unacked > 0;
        (waiting && !self.reset).then(|| self.progress + self.limits.send_timeout)
    }

    /// Acknowledgements since the last look are progress. Looking happens
    /// on every event and at the deadline, so a peer is dropped between one
    /// and two send timeouts after it last took anything.
    fn observe(&mut self, transport: &impl Transport, now: Instant) {
        let unacked = transport.unacknowledged();
        if unacked < self.unacked {
            self.progress = now;
        }
        self.unacked = unacked;
    }

    /// The deadline passed: a half-received head gets 408; an idle
    /// connection is closed; a peer that took nothing for the send timeout
    /// is reset. Returns which clock ran out, if one did. Call `write_to` next.
    pub fn on_timeout(&mut self, site: &mut Site, now: Now, transport: &impl Transport) -> Option<Timeout> {
        self.observe(transport, now.mono);
        if self.send_deadline().is_some_and(|d| now.mono >= d) {
            self.state = State::Closed;
            self.reset = true;
            return Some(Timeout::Send);
        }
        // A feed's clocks are looked at by `write_to`, which comes next.
        if self.state == State::Streaming || self.input_deadline().is_none_or(|d| now.mono < d) {
            return None;
        }
        if !self.inbuf.is_empty() {
            self.inbuf.clear();
            self.reject(site, now, Status::RequestTimeout, None);
            Some(Timeout::Header)
        } else {
            self.state = State::Closed;
            Some(Timeout::Idle)
        }
    }

    /// Answers the requests in the input, offering bytes to the transport,
    /// which takes what fits. Returns what the connection waits for next.
    pub fn write_to(&mut self, site: &mut Site, now: Now, transport: &mut impl Transport) -> Wants {
        let wants = self.write(site, now, transport);
        self.observe(transport, now.mono);
        match wants {
            Wants::Close if self.reset => Wants::Abort,
            Wants::Close if self.unacked > 0 => Wants::Linger,
            wants => wants,
        }
    }

    /// `write_to` without the delivery bookkeeping: `Close` once the
    /// server has nothing more to say.
    fn write(&mut self, site: &mut Site, now: Now, transport: &mut impl Transport) -> Wants {
        loop {
            match self.state {
                State::Closed => return Wants::Close,
                State::ReadingRequest => match self.start_next(site, now) {
                    Next::Started => {}
                    Next::Live(live) => return Wants::Live(live),
                    Next::Partial if !self.peer_closed => return Wants::Read,
                    Next::Partial => self.state = State::Closed,
                },
                State::WritingResponse if self.out_pos == self.out.len() => match &mut self.body {
                    // A file in memory goes by reference, after the head.
                    Body::Shared(bytes) if !bytes.is_empty() => {
                        let taken = transport.send_bytes(bytes).min(bytes.len());
                        if taken == 0 {
                            return Wants::Write;
                        }
                        bytes.advance(taken);
                        self.progress = now.mono;
                    }
                    _ => self.refill(now),
                },
                State::Streaming if self.out_pos == self.out.len() => {
                    if let Some(wants) = self.stream_next(site, now.mono) {
                        return wants;
                    }
                }
                State::WritingResponse | State::Streaming => {
                    let taken = transport.send(&self.out[self.out_pos..]).min(self.out.len() - self.out_pos);
                    if taken == 0 {
                        return Wants::Write;
                    }
                    self.out_pos += taken;
                    self.progress = now.mono;
                }
            }
        }
    }

    /// Parses the request at the front of the input and starts its response.
    fn start_next(&mut self, site: &mut Site, now: Now) -> Next {
        match request::parse(&self.inbuf) {
            Parsed::Partial => Next::Partial,
            Parsed::Rejected(r) => {
                // The framing is unknown, so nothing after it can be trusted.
                self.inbuf.clear();
                self.reject(site, now, r.status, r.line.as_deref());
                Next::Started
            }
            Parsed::Complete(req, head_len) => {
                // A request for a `Live` resource stays in the input until
                // the server supplies its answer; it is parsed again then.
                let response = match site.respond(&req, now.mono) {
                    Ok(response) => response,
                    Err(live) => return Next::Live(live),
                };
                // Skip the body: what is buffered now, the rest as it arrives.
                let buffered = (self.inbuf.len() - head_len).min(req.content_length as usize);
                self.inbuf.drain(..head_len + buffered);
                self.discard = req.content_length - buffered as u64;
                self.requests += 1;
                // A body sent with a method we refuse is not waited for: the
                // answer and a close cost less than skipping up to MAX_BODY
                // bytes that a client may trickle in.
                let refused_body = req.content_length > 0 && !matches!(req.method, Method::Get | Method::Head);
                let last = !req.keep_alive
                    || self.requests >= self.limits.max_requests
                    || self.stopping
                    || refused_body
                    || response.after != After::Next;
                let connection = match (last, req.minor_version) {
                    (true, _) => Some("close"),
                    (false, 0) => Some("keep-alive"), // 1.0 persists only if told
                    (false, _) => None,
                };
                self.log(site, now, &response, Some(req.line()), Some(&req));
                self.begin(site, now, response, connection);
                Next::Started
            }
        }
    }

    /// Answers with an error page and closes after it.
    fn reject(&mut self, site: &mut Site, now: Now, status: Status, line: Option<&str>) {
        let response = Response::page(status);
        self.log(site, now, &response, line, None);
        self.begin(site, now, response, Some("close"));
    }

    fn log(&self, site: &mut Site, now: Now, response: &Response, line: Option<&str>, req: Option<&Request>) {
        site.date.refresh(now.wall);
        access::Entry {
            peer: self.peer,
            time: &site.date.log,
            line,
            status: response.status.code(),
            body_bytes: response.body.remaining(),
            referer: req.and_then(|r| r.referer.as_deref()),
            user_agent: req.and_then(|r| r.user_agent.as_deref()),
        }
        .write(&mut site.access);
    }

    /// Queues the head and the first body bytes together, so a small
    /// response leaves in one write (and one TCP segment).
    fn begin(&mut self, site: &mut Site, now: Now, response: Response, connection: Option<&str>) {
        site.date.refresh(now.wall);
        // Everything queued before was taken (`refill` came first): the
        // buffer is reused, so a small response allocates nothing here.
        self.out.clear();
        // A new connection's buffer is empty: one allocation for the head
        // and the first body bytes, rather than growing into them; none for
        // a body that goes by reference.
        let shared = matches!(&response.body, Body::Shared(bytes) if bytes.len() >= SHARE_MIN);
        let first_body =
            if shared { 0 } else { usize::try_from(response.body.remaining()).unwrap_or(usize::MAX).min(CHUNK) };
        self.out.reserve(HEAD_ROOM + first_body);
        response.head_into(&site.date.http, connection, &mut self.out);
        self.out_pos = 0;
        self.body = response.body;
        self.after = match connection {
            Some("close") if response.after == After::Stream => After::Stream,
            Some("close") => After::Close,
            _ => After::Next,
        };
        self.state = State::WritingResponse;
        // The send clock starts when something starts to wait for the peer:
        // an idle spell before is not the peer's delay. A response queued
        // behind unacknowledged ones gets no fresh start.
        if self.unacked == 0 {
            self.progress = now.mono;
        }
        // A file in memory follows the head by reference, unless the stack
        // would copy it anyway: then it goes with the head, in one write.
        if shared {
            return;
        }
        let room = CHUNK.saturating_sub(self.out.len());
        if let Err(e) = self.body.read_into(&mut self.out, room) {
            self.fail(e);
        }
    }

    /// Everything queued was taken: read the next chunk, or end the response.
    fn refill(&mut self, now: Now) {
        self.out.clear();
        self.out_pos = 0;
        if self.body.remaining() > 0 {
            if let Err(e) = self.body.read_into(&mut self.out, CHUNK) {
                self.fail(e);
            }
            return;
        }
        self.state = match self.after {
            After::Next => State::ReadingRequest,
            After::Close => State::Closed,
            After::Stream => {
                self.stream = Stream::new(now.mono);
                State::Streaming
            }
        };
        self.since = now.mono;
        // An idle keep-alive connection should not pin a chunk of memory.
        if self.out.capacity() > IDLE_OUT {
            self.out = Vec::new();
        }
    }

    /// A feed whose last bytes were all taken: close it if it is over;
    /// ask the server for news if it is time (`Some(Wants::Live)`), and
    /// queue the event it supplies, if any; else a keep-alive comment if
    /// it is due. `Some(Wants::Read)` when there is nothing to do until
    /// the deadline or the peer's FIN.
    fn stream_next(&mut self, site: &mut Site, now: Instant) -> Option<Wants> {
        if self.peer_closed || self.stopping || now >= self.stream.ends {
            self.state = State::Closed;
            return None;
        }
        let next = if now >= self.stream.next_look {
            let Some(supplied) = site.take_supplied() else { return Some(Wants::Live(Live::Feed)) };
            self.stream.next_look = now + FEED_INTERVAL;
            match supplied {
                Supplied::Json(json) => site::event(&json),
                Supplied::Nothing => return self.stream_next(site, now),
            }
        } else if now >= self.stream.last_sent + FEED_KEEP_ALIVE {
            KEEP_ALIVE_COMMENT.to_vec()
        } else {
            return Some(Wants::Read);
        };
        self.out = next;
        self.out_pos = 0;
        self.stream.last_sent = now;
        None
    }

    /// The file failed mid-response. The head already promised its length,
    /// so the only honest signal left is to close.
    fn fail(&mut self, e: std::io::Error) {
        log::warn!("{}: response body failed: {e}", self.peer);
        self.after = After::Close;
        self.body = Body::empty();
    }
}
