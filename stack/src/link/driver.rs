//! The event loop that joins a stack to a real link.
//!
//! Packets in: the link's file descriptor is registered with a `mio::Poll`;
//! when it is readable (or a deadline comes), each turn reads every packet
//! the link has and gives it to `Stack::receive`. Packets out: after the
//! application has acted, `Stack::transmit` hands each packet to the link,
//! and `flush` sends them. Only here and in the link files are there
//! syscalls; the stack itself never blocks and never reads a clock.
//!
//! One turn, in this order:
//!
//! ```text
//!   wait     until the link is readable, another source fires, or the
//!            earliest of the stack's, the link's and the caller's deadlines
//!   receive  every packet the link has
//!   poll     fire the timers that are due
//!   app      the caller's closure: next_event, accept, send, recv, close...
//!   transmit every segment that should leave, then flush the link
//! ```
//!
//! A server's loop is then `loop { driver.turn(None, |stack, now, fired| ...)? }`.
//! Other sources (a signal pipe, a listening kernel socket for a status page)
//! go into [`Driver::registry`] with tokens of the caller's choosing; the
//! closure gets the tokens that fired.

use std::io;
use std::time::Duration;

use log::warn;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::{monotonic_now, Link, LinkStats};
use crate::time::Instant;
use crate::{Config, Stack};

/// The token of the link's file descriptor; callers use any other.
pub const LINK: Token = Token(usize::MAX);

/// A stack, its link and the poller that waits on them; see the module
/// documentation.
pub struct Driver<L: Link> {
    stack: Stack,
    link: L,
    poll: Poll,
    events: Events,
    /// Tokens other than `LINK` that fired in the current turn.
    fired: Vec<Token>,
    /// The last turn read packets, so the link may have more: mio is
    /// edge-triggered, and a link may stop reading before its device is
    /// empty; the next turn must not wait for a new edge.
    more: bool,
}

impl<L: Link> Driver<L> {
    /// A stack built from `config` over `link`. The link's capabilities
    /// override `config.mtu`, `config.rx_checksum` and `config.tx_checksum`:
    /// only the link knows them.
    pub fn new(link: L, mut config: Config) -> io::Result<Self> {
        let caps = link.caps();
        config.mtu = caps.mtu;
        config.rx_checksum = caps.rx_checksum;
        config.tx_checksum = caps.tx_checksum;
        let fd = link
            .as_raw_fd()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the link has no file descriptor to poll"))?;
        let poll = Poll::new()?;
        poll.registry().register(&mut SourceFd(&fd), LINK, Interest::READABLE)?;
        Ok(Driver {
            stack: Stack::new(config),
            link,
            poll,
            events: Events::with_capacity(64),
            fired: Vec::new(),
            more: false,
        })
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    pub fn link(&self) -> &L {
        &self.link
    }

    /// What the link lost on its own (kernel drops for the loopback link).
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats()
    }

    /// Where to register other event sources, with tokens other than `LINK`.
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// The current time on the clock the stack runs by.
    pub fn now(&self) -> Instant {
        monotonic_now()
    }

    /// One turn of the loop (see the module documentation). Waits at most
    /// until `deadline`, if given. `app` gets the stack, the time, and the
    /// tokens other than `LINK` that fired. Fails only when the link cannot
    /// be read or the poller fails; a packet the link cannot send is lost,
    /// as on any network, and TCP sends it again.
    pub fn turn(
        &mut self,
        deadline: Option<Instant>,
        app: impl FnOnce(&mut Stack, Instant, &[Token]),
    ) -> io::Result<()> {
        let wake = [deadline, self.stack.poll_at(), self.link.poll_at()].into_iter().flatten().min();
        let timeout = match wake {
            _ if self.more => Some(Duration::ZERO),
            Some(wake) => Some(wake.saturating_since(monotonic_now())),
            None => None,
        };
        match self.poll.poll(&mut self.events, timeout) {
            Err(err) if err.kind() != io::ErrorKind::Interrupted => return Err(err),
            _ => {}
        }
        self.fired.clear();
        self.fired.extend(self.events.iter().map(|e| e.token()).filter(|&t| t != LINK));

        // Read even without an event: a fault link may have packets due.
        let now = monotonic_now();
        let stack = &mut self.stack;
        self.more = self.link.recv_batch(&mut |packet| stack.receive(now, packet))? > 0;
        self.stack.poll(now);
        app(&mut self.stack, now, &self.fired);

        let link = &mut self.link;
        let mut failed = None;
        self.stack.transmit(now, &mut |packet| {
            if let Err(err) = link.send(packet) {
                failed.get_or_insert(err);
            }
        });
        let flushed = self.link.flush();
        if let Some(err) = failed.or(flushed.err()) {
            warn!("a packet was not sent: {err}");
        }
        Ok(())
    }
}
