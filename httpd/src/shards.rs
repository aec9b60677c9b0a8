//! One stack per core (`--workers N`): what the workers' threads share.
//!
//! Each worker runs its own stack, link and event loop (`main.rs`), and
//! the kernel gives each link the packets of its own flows (see
//! `stack::link::loopback`), so a connection, and its TIME-WAIT entry after
//! it, lives in one worker only. What no worker sees alone is the whole
//! server's `/_stack.json`: each worker publishes its part on a shared
//! `Board` at most every `PUBLISH`, and the one that answers the request
//! merges its own part, as it is now, with the others' last.

use std::sync::{Arc, Mutex};

use stack::link::LinkStats;
use stack::time::{Duration, Instant};
use stack::Stack;

use crate::status::{self, Counters, Part};

/// How often a busy worker publishes its part: how old the others' parts
/// in `/_stack.json` may be. Each time copies its connection table (about
/// 1 MB for 10,000 connections), so not every turn.
pub const PUBLISH: Duration = Duration::from_millis(50);

/// Every worker's last published part (none before its first turn).
pub struct Board {
    parts: Vec<Mutex<Option<Part>>>,
}

impl Board {
    pub fn new(workers: usize) -> Arc<Board> {
        Arc::new(Board { parts: (0..workers).map(|_| Mutex::new(None)).collect() })
    }
}

/// One worker's place on the board.
pub struct Shard {
    board: Arc<Board>,
    index: usize,
    /// When the worker last published its part.
    published: Option<Instant>,
    /// A turn ran since then: the part on the board may be stale.
    stale: bool,
}

impl Shard {
    pub fn new(board: Arc<Board>, index: usize) -> Shard {
        let stale = board.parts.len() > 1;
        Shard { board, index, published: None, stale }
    }

    /// The only worker, for a server of one.
    pub fn alone() -> Shard {
        Shard::new(Board::new(1), 0)
    }

    /// After each turn: publishes this worker's part if `PUBLISH` has
    /// passed since the last time, and otherwise remembers to (`poll_at`).
    /// A worker alone has nobody to publish for.
    pub fn after_turn(&mut self, stack: &Stack, http: &Counters, link: LinkStats, now: Instant) {
        if self.board.parts.len() == 1 {
            return;
        }
        if self.published.is_some_and(|t| now < t + PUBLISH) {
            self.stale = true;
            return;
        }
        let part = Part::of(stack, http, link);
        *self.board.parts[self.index].lock().unwrap_or_else(|p| p.into_inner()) = Some(part);
        (self.published, self.stale) = (Some(now), false);
    }

    /// When the part on the board must be brought up to date: at once
    /// before the first time.
    pub fn poll_at(&self) -> Option<Instant> {
        let due = self.published.map_or(Instant::ZERO, |t| t + PUBLISH);
        self.stale.then_some(due)
    }

    /// `/_stack.json` of the whole server: this worker's part as it is
    /// now, the others' as last published (each publishes in its first
    /// turn, which does not wait).
    pub fn status(&self, stack: &Stack, http: &Counters, link: LinkStats) -> String {
        let parts: Vec<Part> = (0..self.board.parts.len())
            .filter_map(|i| match i == self.index {
                true => Some(Part::of(stack, http, link)),
                false => self.board.parts[i].lock().unwrap_or_else(|p| p.into_inner()).clone(),
            })
            .collect();
        status::json(&parts)
    }
}
