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

use std::net::IpAddr;

use stack::time::{Duration, Instant};

use crate::access;
use crate::request::{self, Parsed, Request, MAX_HEAD};
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
    pub max_requests: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for a request head, or idle between requests if none of one
    /// has arrived.
    ReadingRequest,
    /// Handing the current response to the transport.
    WritingResponse,
    /// Finished: the server closes the connection (its TCP sends FIN).
    Closed,
}

/// The TCP connection under a `Conn`, as the `Conn` sees it.
pub trait Transport {
    /// Queue bytes for sending; returns how many were taken (0 when the
    /// send buffer is full: back-pressure).
    fn send(&mut self, bytes: &[u8]) -> usize;
    /// The body of `/_stack.json`: the stack seen from inside.
    fn stack_json(&self) -> String;
}

/// What the connection waits for after `write_to`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Wants {
    /// More input (or the deadline).
    Read,
    /// Room in the transport: the sink took less than it was offered.
    Write,
    /// The server closes now; everything has been handed to the transport.
    Close,
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
    /// Start of the current wait: for a request's head since its first
    /// byte, idle since the last response, writing since the last progress.
    since: Instant,
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
        if self.state == State::ReadingRequest && self.inbuf.is_empty() {
            self.since = now; // the header timeout runs from the first byte
        }
        let skip = usize::try_from(self.discard).unwrap_or(usize::MAX).min(data.len());
        self.discard -= skip as u64;
        let keep = (MAX_HEAD - self.inbuf.len()).min(data.len() - skip);
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

    /// When `on_timeout` should be called, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        let wait = match self.state {
            State::ReadingRequest if !self.inbuf.is_empty() => self.limits.header_timeout,
            // A new connection gets as long for its first byte as for its head.
            State::ReadingRequest if self.requests == 0 => self.limits.header_timeout,
            State::ReadingRequest | State::WritingResponse => self.limits.keep_alive_timeout,
            State::Closed => return None,
        };
        Some(self.since + wait)
    }

    /// The deadline passed: a half-received head gets 408; an idle
    /// connection or a client that stopped reading is simply closed.
    pub fn on_timeout(&mut self, site: &mut Site, now: Now) {
        if self.deadline().is_none_or(|d| now.mono < d) {
            return;
        }
        if self.state == State::ReadingRequest && !self.inbuf.is_empty() {
            self.inbuf.clear();
            self.reject(site, now, Status::RequestTimeout, None);
        } else {
            self.state = State::Closed;
        }
    }

    /// Answers the requests in the input, offering bytes to the transport,
    /// which takes what fits. Returns what the connection waits for next.
    pub fn write_to(&mut self, site: &mut Site, now: Now, transport: &mut impl Transport) -> Wants {
        loop {
            match self.state {
                State::Closed => return Wants::Close,
                State::ReadingRequest => {
                    if !self.start_next(site, now, transport) {
                        if !self.peer_closed {
                            return Wants::Read;
                        }
                        self.state = State::Closed;
                    }
                }
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
                    self.since = now.mono;
                }
            }
        }
    }

    /// Parses the request at the front of the input and starts its
    /// response; false if no complete head is there yet.
    fn start_next(&mut self, site: &mut Site, now: Now, transport: &impl Transport) -> bool {
        match request::parse(&self.inbuf) {
            Parsed::Partial => false,
            Parsed::Rejected(r) => {
                // The framing is unknown, so nothing after it can be trusted.
                self.inbuf.clear();
                self.reject(site, now, r.status, r.line.as_deref());
                true
            }
            Parsed::Complete(req, head_len) => {
                // Skip the body: what is buffered now, the rest as it arrives.
                let buffered = (self.inbuf.len() - head_len).min(req.content_length as usize);
                self.inbuf.drain(..head_len + buffered);
                self.discard = req.content_length - buffered as u64;

                let response = site.respond(&req, now.mono, &|| transport.stack_json());
                self.requests += 1;
                let last = !req.keep_alive || self.requests >= self.limits.max_requests || self.stopping;
                let connection = match (last, req.minor_version) {
                    (true, _) => Some("close"),
                    (false, 0) => Some("keep-alive"), // 1.0 persists only if told
                    (false, _) => None,
                };
                self.log(site, now, &response, Some(&req.line), Some(&req));
                self.begin(site, now, response, connection);
                true
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
        self.since = now.mono;
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
