//! LISTEN (RFC 9293 §3.10.7.2): the listening ports, what they do with a
//! segment that belongs to no connection, and their two queues —
//! connections still in the handshake (SYN-RECEIVED), and connections that
//! completed it and wait for the application's `accept`.
//!
//! ```text
//!          SYN                          ACK of our SYN,ACK
//!   peer ───────> [ SYN queue ] ─────────────────────────> [ accept queue ] ──accept()──> app
//!          │       SYN-RECEIVED                             ESTABLISHED
//!          │       (a TCB each)                                  ^
//!          │ SYN queue full:                                     │
//!          └──> SYN,ACK, ISS = cookie ── ACK returns it ──> TCB created
//!               (nothing kept)                              from the cookie
//! ```
//! Both queues are bounded. A SYN that finds the accept queue full is
//! dropped and counted, and the client's retransmission tries again later;
//! one that finds the SYN queue full is answered with a SYN cookie
//! (`syn_cookie.rs`), which takes no room at all (or, with cookies off,
//! dropped the same way).
//!
//! This module decides; the stack, which holds the connections, carries the
//! decision out on its tables ([`Decision`]) and tells the listener when a
//! connection enters or leaves the SYN queue.

use std::collections::{HashMap, VecDeque};

use ahash::RandomState;

use super::isn::{IsnGenerator, Start};
use super::syn_cookie::{self, SynCookies};
use super::tcb::{is_connection_request, reset_for, Context, Segment};
use super::{Error, FourTuple, SocketHandle};
use crate::time::Instant;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr};

/// One listening port (the passive OPEN of §3.10.1).
#[derive(Debug)]
struct Listener {
    /// The accept queue's bound (`listen`'s backlog).
    backlog: usize,
    /// Connections of this port in SYN-RECEIVED.
    syn_queue: usize,
    accept_queue: VecDeque<SocketHandle>,
    /// When the last SYN cookie went out: until it expires, ACKs to the port
    /// are checked for a cookie.
    last_cookie: Option<Instant>,
}

impl Listener {
    fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
}

/// Where a connection that came from LISTEN stands with its listener.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Queue {
    /// In no queue: opened actively, or accepted, or given up.
    None,
    Syn,
    Accept,
}

/// What to do with a segment that found no connection.
#[derive(Copy, Clone, Debug)]
pub enum Decision {
    /// Nothing (counted, where it is a drop).
    Drop,
    /// Answer with this RST: no one listens (§3.10.7.1), or an ACK that
    /// acknowledges nothing we sent (§3.10.7.2).
    Reset(TcpRepr),
    /// The SYN queue is full: answer with this SYN,ACK, whose ISS is a SYN
    /// cookie, and keep nothing (RFC 4987 §3.6).
    SynCookie(TcpRepr),
    /// A SYN with room: create a TCB in SYN-RECEIVED with this ISS
    /// (`Tcb::accept_syn`) and put it in the SYN queue; its SYN,ACK leaves
    /// with the TCB's first output.
    Open(Start),
    /// The ACK returned one of our cookies: create the TCB as its
    /// SYN-RECEIVED would have been, from the client's `syn` as the cookie
    /// kept it (`Tcb::from_syn_cookie`), put it in the SYN queue, and let
    /// it process the ACK, which completes the handshake.
    CookieReturned { start: Start, syn: TcpRepr },
}

/// Every listening port, and the secret its SYN cookies are made under.
#[derive(Debug)]
pub struct Listeners {
    /// Keyed by the ports we listen on, nothing a peer picks: ahash, faster
    /// than std's SipHash, looked up for every SYN and handshake's end.
    ports: HashMap<u16, Listener, RandomState>,
    cookies: SynCookies,
}

impl Listeners {
    pub fn new(key: [u8; 16]) -> Listeners {
        Listeners { ports: HashMap::default(), cookies: SynCookies::new(key) }
    }

    /// Passive OPEN (§3.10.1) on `port`, keeping up to `backlog` completed
    /// connections until `accept` takes them.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<(), Error> {
        if self.ports.contains_key(&port) {
            return Err(Error::AddrInUse);
        }
        let listener =
            Listener { backlog: backlog.max(1), syn_queue: 0, accept_queue: VecDeque::new(), last_cookie: None };
        self.ports.insert(port, listener);
        Ok(())
    }

    /// Stop listening on `port`; returns the connections that were waiting
    /// in its accept queue, for the stack to delete. (Those in its SYN queue
    /// the stack finds itself: they are its connections.)
    pub fn unlisten(&mut self, port: u16) -> Option<VecDeque<SocketHandle>> {
        self.ports.remove(&port).map(|l| l.accept_queue)
    }

    /// The next connection of `port`'s accept queue. It may have been
    /// deleted meanwhile: the stack checks its handle.
    pub fn accept(&mut self, port: u16) -> Option<SocketHandle> {
        self.ports.get_mut(&port)?.accept_queue.pop_front()
    }

    /// Whether `port` listens and its accept queue is full: a handshake
    /// must not complete now.
    pub fn accept_queue_full(&self, port: u16) -> bool {
        self.ports.get(&port).is_some_and(Listener::accept_queue_full)
    }

    /// A TCB this module decided to create entered SYN-RECEIVED.
    pub fn enter_syn_queue(&mut self, port: u16) {
        if let Some(l) = self.ports.get_mut(&port) {
            l.syn_queue += 1;
        }
    }

    /// A connection of `port`'s SYN queue left SYN-RECEIVED, or was deleted.
    /// With `accepted`, the handle of a connection whose handshake
    /// completed, it moves on to the accept queue if the port still listens;
    /// returns the queue it is in now.
    pub fn leave_syn_queue(&mut self, port: u16, accepted: Option<SocketHandle>) -> Queue {
        let Some(l) = self.ports.get_mut(&port) else { return Queue::None };
        l.syn_queue -= 1;
        match accepted {
            Some(h) => {
                l.accept_queue.push_back(h);
                Queue::Accept
            }
            None => Queue::None,
        }
    }

    /// §3.10.7.1 CLOSED and §3.10.7.2 LISTEN: a segment that found neither
    /// a connection nor a TIME-WAIT entry, or a SYN that may reopen one:
    /// then `after_time_wait` is SND.NXT of the TIME-WAIT connection, which
    /// the stack ends only if this opens a new one (§3.6.1, MAY-2).
    pub fn on_segment(
        &mut self,
        cx: &mut Context,
        isn: &IsnGenerator,
        tuple: FourTuple,
        seg: Segment,
        after_time_wait: Option<SeqNum>,
    ) -> Decision {
        let repr = seg.repr;
        let flags = repr.flags;
        // First, check for an RST: it is never answered.
        if flags.contains(Flags::RST) {
            return Decision::Drop;
        }
        let Some(listener) = self.ports.get_mut(&tuple.local.port()) else {
            // CLOSED: no such port. Say so with an RST.
            return Decision::Reset(reset_for(repr, seg.payload.len()));
        };
        // Second, check for an ACK: it acknowledges nothing we sent, unless
        // it answers one of our SYN cookies.
        if flags.contains(Flags::ACK) {
            let cookies_out = listener.last_cookie.is_some_and(|t| cx.now < t + syn_cookie::LIFETIME);
            if cookies_out && !flags.contains(Flags::SYN) {
                return self.cookie_returned(cx, isn, tuple, seg);
            }
            return Decision::Reset(reset_for(repr, seg.payload.len()));
        }
        // Third, check for a SYN; fourth, anything else is dropped, and so
        // is a SYN,FIN if so configured (`Config::drop_syn_fin`).
        if !is_connection_request(flags) || (flags.contains(Flags::FIN) && cx.config.drop_syn_fin) {
            return Decision::Drop;
        }
        if listener.accept_queue_full() {
            cx.counters.drops.accept_queue_full += 1;
            return Decision::Drop;
        }
        if listener.syn_queue >= cx.config.max_syn_queue {
            // A cookie's ISS could not be kept above the TIME-WAIT
            // incarnation's: drop the SYN instead (RFC 6191 §2).
            if !cx.config.syn_cookies || after_time_wait.is_some() {
                cx.counters.drops.syn_queue_full += 1;
                return Decision::Drop;
            }
            listener.last_cookie = Some(cx.now);
            return Decision::SynCookie(self.cookie_syn_ack(cx, tuple, repr));
        }
        let mut start = isn.start(cx.now, tuple.local, tuple.remote);
        if let Some(old_snd_nxt) = after_time_wait {
            // MAY-2 (1): the new ISS must exceed every sequence number the
            // old incarnation used.
            if start.iss <= old_snd_nxt {
                start.iss = old_snd_nxt + 1;
            }
        }
        Decision::Open(start)
    }

    /// The SYN queue is full: the SYN,ACK whose ISS is a SYN cookie
    /// (RFC 4987 §3.6, `syn_cookie.rs`).
    fn cookie_syn_ack(&self, cx: &mut Context, tuple: FourTuple, syn: &TcpRepr) -> TcpRepr {
        let iss = self.cookies.make(cx.now, tuple.local, tuple.remote, syn.seq_number, syn.options.mss);
        let mss = cx.config.mss(tuple.remote.ip()).min(u16::MAX as usize) as u16;
        let window = cx.config.recv_buffer.min(u16::MAX as usize) as u16;
        cx.counters.syn_cookies_sent += 1;
        syn_cookie::syn_ack(syn, iss, mss, window)
    }

    /// An ACK at a listening port while SYN cookies are out. If it returns
    /// one (SEG.ACK − 1), the connection is created as its SYN-RECEIVED would
    /// have been and the ACK completes the handshake; if not, it gets the
    /// RST any stray ACK at a listening port gets (§3.10.7.2).
    fn cookie_returned(&self, cx: &mut Context, isn: &IsnGenerator, tuple: FourTuple, seg: Segment) -> Decision {
        let ack = seg.repr;
        let irs = SeqNum(ack.seq_number.0.wrapping_sub(1));
        let iss = SeqNum(ack.ack_number.0.wrapping_sub(1));
        let Some(mss) = self.cookies.check(cx.now, tuple.local, tuple.remote, irs, iss) else {
            cx.counters.syn_cookies_rejected += 1;
            return Decision::Reset(reset_for(ack, seg.payload.len()));
        };
        if self.accept_queue_full(tuple.local.port()) {
            // As for a handshake completing into a full accept queue: ignore
            // the ACK; the client's next segment brings the cookie again.
            cx.counters.drops.accept_queue_full += 1;
            return Decision::Drop;
        }
        // The client's SYN, as much of it as the cookie kept.
        let syn = TcpRepr {
            src_port: ack.src_port,
            dst_port: ack.dst_port,
            seq_number: irs,
            flags: Flags::SYN,
            window_len: ack.window_len,
            options: TcpOptions { mss: Some(mss), ..TcpOptions::default() },
            ..TcpRepr::default()
        };
        let start = Start { iss, ..isn.start(cx.now, tuple.local, tuple.remote) };
        Decision::CookieReturned { start, syn }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::challenge_ack::ChallengeAcks;
    use crate::tcp::tcb::RxShelf;
    use crate::tcp::{Config, Counters};

    /// Port 80 listens, with room for `syn_queue` half-open connections.
    fn setup(syn_queue: usize) -> (Listeners, IsnGenerator, Config, Counters, ChallengeAcks) {
        let mut listeners = Listeners::new([7; 16]);
        listeners.listen(80, 4).unwrap();
        let config = Config { max_syn_queue: syn_queue, ..Config::new("10.0.0.2".parse().unwrap()) };
        (listeners, IsnGenerator::new([7; 16]), config, Counters::default(), ChallengeAcks::new([7; 16], 1000))
    }

    /// The context of a call at time zero, over `setup`'s parts.
    fn context<'a>(
        config: &'a Config,
        counters: &'a mut Counters,
        acks: &'a mut ChallengeAcks,
        rx_shelf: &'a mut RxShelf,
    ) -> Context<'a> {
        Context { now: Instant::ZERO, config, counters, challenge_acks: acks, story: false, rx_shelf }
    }

    fn tuple(port: u16) -> FourTuple {
        FourTuple { local: format!("10.0.0.2:{port}").parse().unwrap(), remote: "10.0.0.1:40000".parse().unwrap() }
    }

    fn seg(port: u16, seq: u32, ack: u32, flags: Flags) -> TcpRepr {
        let options = TcpOptions { mss: Some(1460), ..TcpOptions::default() };
        TcpRepr {
            src_port: 40000,
            dst_port: port,
            seq_number: SeqNum(seq),
            ack_number: SeqNum(ack),
            flags,
            options,
            ..TcpRepr::default()
        }
    }

    #[test]
    fn closed_port_is_reset_and_a_reset_never_answered() {
        let (mut l, isn, config, mut counters, mut acks) = setup(8);
        let mut shelf = RxShelf::new(0);
        let mut cx = context(&config, &mut counters, &mut acks, &mut shelf);
        let syn = seg(81, 1000, 0, Flags::SYN);
        let d = l.on_segment(&mut cx, &isn, tuple(81), Segment { repr: &syn, payload: &[] }, None);
        let Decision::Reset(rst) = d else { panic!("{d:?}") };
        assert_eq!((rst.ack_number, rst.flags), (SeqNum(1001), Flags::RST | Flags::ACK));
        let rst = seg(80, 1000, 0, Flags::RST);
        let d = l.on_segment(&mut cx, &isn, tuple(80), Segment { repr: &rst, payload: &[] }, None);
        assert!(matches!(d, Decision::Drop), "{d:?}");
    }

    #[test]
    fn syn_with_room_opens_above_the_time_wait_incarnation() {
        let (mut l, isn, config, mut counters, mut acks) = setup(8);
        let mut shelf = RxShelf::new(0);
        let mut cx = context(&config, &mut counters, &mut acks, &mut shelf);
        let syn = seg(80, 1000, 0, Flags::SYN);
        let old_snd_nxt = isn.start(Instant::ZERO, tuple(80).local, tuple(80).remote).iss + 100;
        let d = l.on_segment(&mut cx, &isn, tuple(80), Segment { repr: &syn, payload: &[] }, Some(old_snd_nxt));
        let Decision::Open(start) = d else { panic!("{d:?}") };
        assert_eq!(start.iss, old_snd_nxt + 1);
    }

    #[test]
    fn full_syn_queue_answers_with_a_cookie_that_the_ack_returns() {
        let (mut l, isn, config, mut counters, mut acks) = setup(0);
        let mut shelf = RxShelf::new(0);
        let mut cx = context(&config, &mut counters, &mut acks, &mut shelf);
        let syn = seg(80, 1000, 0, Flags::SYN);
        let d = l.on_segment(&mut cx, &isn, tuple(80), Segment { repr: &syn, payload: &[] }, None);
        let Decision::SynCookie(syn_ack) = d else { panic!("{d:?}") };
        assert_eq!((syn_ack.ack_number, syn_ack.flags), (SeqNum(1001), Flags::SYN | Flags::ACK));

        // An ACK that does not return the cookie is a stray ACK: RST.
        let iss = syn_ack.seq_number;
        let wrong = seg(80, 1001, (iss + 2).0, Flags::ACK);
        let d = l.on_segment(&mut cx, &isn, tuple(80), Segment { repr: &wrong, payload: &[] }, None);
        assert!(matches!(d, Decision::Reset(_)), "{d:?}");

        let ack = seg(80, 1001, (iss + 1).0, Flags::ACK);
        let d = l.on_segment(&mut cx, &isn, tuple(80), Segment { repr: &ack, payload: &[] }, None);
        let Decision::CookieReturned { start, syn } = d else { panic!("{d:?}") };
        assert_eq!((start.iss, syn.seq_number, syn.options.mss), (iss, SeqNum(1000), Some(1460)));
        assert_eq!((counters.syn_cookies_sent, counters.syn_cookies_rejected), (1, 1));
    }

    #[test]
    fn handshakes_move_from_the_syn_queue_to_the_accept_queue() {
        let (mut l, ..) = setup(8);
        let h = SocketHandle { index: 3, generation: 0 };
        l.enter_syn_queue(80);
        l.enter_syn_queue(80);
        assert_eq!(l.leave_syn_queue(80, Some(h)), Queue::Accept);
        assert_eq!(l.leave_syn_queue(80, None), Queue::None);
        assert_eq!(l.ports[&80].syn_queue, 0);
        assert_eq!(l.accept(80), Some(h));
        assert_eq!(l.accept(80), None);
        // After `unlisten`, a handshake has nowhere to go.
        l.enter_syn_queue(80);
        assert!(l.unlisten(80).is_some_and(|q| q.is_empty()));
        assert_eq!(l.leave_syn_queue(80, Some(h)), Queue::None);
    }
}
