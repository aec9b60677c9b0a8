//! A listening port (the passive OPEN of RFC 9293 §3.10.1) and its two
//! queues: connections still in the handshake (SYN-RECEIVED), and
//! connections that completed it and wait for the application's `accept`.
//!
//! ```text
//!   SYN ──> [ SYN queue: SYN-RECEIVED ] ──ACK──> [ accept queue ] ──accept()──> app
//! ```
//! Both are bounded. A SYN that finds the accept queue full is dropped and
//! counted, and the client's retransmission tries again later; one that
//! finds the SYN queue full is answered with a SYN cookie (`syn_cookie.rs`),
//! which takes no room at all (or, with cookies off, dropped the same way).

use std::collections::VecDeque;

use crate::time::Instant;
use crate::SocketHandle;

#[derive(Debug)]
pub struct Listener {
    pub port: u16,
    /// The accept queue's bound (`listen`'s backlog).
    pub backlog: usize,
    /// Connections of this port in SYN-RECEIVED.
    pub syn_queue: usize,
    pub accept_queue: VecDeque<SocketHandle>,
    /// When the last SYN cookie went out: until it expires, ACKs to the port
    /// are checked for a cookie.
    pub last_cookie: Option<Instant>,
}

impl Listener {
    pub fn new(port: u16, backlog: usize) -> Listener {
        Listener { port, backlog: backlog.max(1), syn_queue: 0, accept_queue: VecDeque::new(), last_cookie: None }
    }

    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
}
