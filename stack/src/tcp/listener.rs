//! A listening port (the passive OPEN of RFC 9293 §3.10.1) and its two
//! queues: connections still in the handshake (SYN-RECEIVED), and
//! connections that completed it and wait for the application's `accept`.
//!
//! ```text
//!   SYN ──> [ SYN queue: SYN-RECEIVED ] ──ACK──> [ accept queue ] ──accept()──> app
//! ```
//! Both are bounded; a SYN that finds either full is dropped and counted,
//! and the client's retransmission tries again later.

use std::collections::VecDeque;

use crate::SocketHandle;

#[derive(Debug)]
pub struct Listener {
    pub port: u16,
    /// The accept queue's bound (`listen`'s backlog).
    pub backlog: usize,
    /// Connections of this port in SYN-RECEIVED.
    pub syn_queue: usize,
    pub accept_queue: VecDeque<SocketHandle>,
}

impl Listener {
    pub fn new(port: u16, backlog: usize) -> Listener {
        Listener { port, backlog: backlog.max(1), syn_queue: 0, accept_queue: VecDeque::new() }
    }

    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
}
