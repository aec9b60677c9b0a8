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
//! ```
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

use stack::time::{Duration, Instant};

use crate::access;
use crate::request::{self, Method, Parsed, Request, MAX_HEAD};
use crate::response::{Body, Response, Status};
use crate::site::Site;
use crate::Now;

/// Most body bytes read ahead of the transport; also the first segment's
/// worth of response (head and first body bytes go out in one write).
pub const CHUNK: usize = 64 * 1024;

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
    /// Finished: the server closes the connection (its TCP sends FIN), or
    /// resets it if the peer stopped taking data.
    Closed,
}

/// The TCP connection under a `Conn`, as the `Conn` sees it.
pub trait Transport {
    /// Queue bytes for sending; returns how many were taken (0 when the
    /// send buffer is full: back-pressure).
    fn send(&mut self, bytes: &[u8]) -> usize;
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
    /// The next request asks for `/_stack.json`, which only the event loop
    /// can describe: give its body to `Site::set_stack_json`, then call
    /// `write_to` again.
    StackJson,
}

/// What `Conn::start_next` found at the front of the input.
enum Next {
    /// A request, whose response has begun.
    Started,
    /// No complete request head yet.
    Partial,
    /// A request for `/_stack.json` with no body supplied; left in the input.
    StackJson,
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
    /// Whether the current response is the connection's last.
    close_after: bool,
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

impl Conn {
    pub fn new(peer: IpAddr, limits: Limits, now: Instant) -> Conn {
        Conn {
            peer,
            limits,
            state: State::ReadingRequest,
            inbuf: Vec::new(),
            discard: 0,
            out: Vec::new(),
            out_pos: 0,
            body: Body::empty(),
            close_after: false,
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

    /// How many received bytes `on_readable` would take now. Bytes left in
    /// TCP's receive buffer close its window: that is how a client that
    /// pipelines faster than we answer is slowed down.
    pub fn input_room(&self) -> usize {
        match self.state {
            State::Closed => usize::MAX,
            _ => usize::try_from(self.discard).unwrap_or(usize::MAX).saturating_add(MAX_HEAD - self.inbuf.len()),
        }
    }

    /// Takes received bytes; returns how many were taken (the rest must stay
    /// with the transport until `write_to` has made room). Call `write_to` next.
    pub fn on_readable(&mut self, data: &[u8], now: Instant) -> usize {
        if self.state == State::Closed {
            return data.len(); // closing: whatever comes is dropped
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
    /// connection closes now. Call `write_to` next.
    pub fn stop(&mut self) {
        self.stopping = true;
        if self.state == State::ReadingRequest && self.inbuf.is_empty() {
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
            State::WritingResponse | State::Closed => return None,
        };
        Some(self.since + wait)
    }

    /// While bytes wait for the peer, in our buffer or unacknowledged in
    /// TCP's, it must take some within the send timeout.
    fn send_deadline(&self) -> Option<Instant> {
        let waiting = self.state == State::WritingResponse || self.unacked > 0;
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
        if self.input_deadline().is_none_or(|d| now.mono < d) {
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
                    Next::StackJson => return Wants::StackJson,
                    Next::Partial if !self.peer_closed => return Wants::Read,
                    Next::Partial => self.state = State::Closed,
                },
                State::WritingResponse => {
                    if self.out_pos == self.out.len() {
                        self.refill(now);
                        continue;
                    }
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
                // A request for `/_stack.json` stays in the input until the
                // server supplies its body; it is parsed again then.
                let Some(response) = site.respond(&req, now.mono) else { return Next::StackJson };
                // Skip the body: what is buffered now, the rest as it arrives.
                let buffered = (self.inbuf.len() - head_len).min(req.content_length as usize);
                self.inbuf.drain(..head_len + buffered);
                self.discard = req.content_length - buffered as u64;
                self.requests += 1;
                // A body sent with a method we refuse is not waited for: the
                // answer and a close cost less than skipping up to MAX_BODY
                // bytes that a client may trickle in.
                let refused_body = req.content_length > 0 && !matches!(req.method, Method::Get | Method::Head);
                let last =
                    !req.keep_alive || self.requests >= self.limits.max_requests || self.stopping || refused_body;
                let connection = match (last, req.minor_version) {
                    (true, _) => Some("close"),
                    (false, 0) => Some("keep-alive"), // 1.0 persists only if told
                    (false, _) => None,
                };
                self.log(site, now, &response, Some(&req.line), Some(&req));
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
        self.out = response.head(&site.date.http, connection);
        self.out_pos = 0;
        self.body = response.body;
        self.close_after = connection == Some("close");
        self.state = State::WritingResponse;
        // The send clock starts when something starts to wait for the peer:
        // an idle spell before is not the peer's delay. A response queued
        // behind unacknowledged ones gets no fresh start.
        if self.unacked == 0 {
            self.progress = now.mono;
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
        self.state = if self.close_after { State::Closed } else { State::ReadingRequest };
        self.since = now.mono;
        // An idle keep-alive connection should not pin a chunk of memory.
        if self.out.capacity() > CHUNK / 4 {
            self.out = Vec::new();
        }
    }

    /// The file failed mid-response. The head already promised its length,
    /// so the only honest signal left is to close.
    fn fail(&mut self, e: std::io::Error) {
        log::warn!("{}: response body failed: {e}", self.peer);
        self.close_after = true;
        self.body = Body::empty();
    }
}
