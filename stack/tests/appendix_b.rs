//! Requirements of RFC 9293 Appendix B that need a test of their own: the
//! sender against a peer that shrinks its window (§3.8.6), silly window
//! avoidance on both sides and Nagle (§3.8.6.2, §3.7.4), the first window
//! probe (§3.8.6.1), ACKs aggregated over a batch (§3.10.7.4), the OPEN
//! call (§3.9.1.1), the MSS option (§3.2), R2 (§3.8.3) and an RST with data
//! (§3.5.3). Each test names its row of `stack/RFC9293.md`.
//!
//! Most play the peer by hand (`ByHand`): its segments are built here and
//! fed to the stack, and what the stack sends in answer is taken off its
//! link at once, so every value can be asserted exactly. The peer offers
//! an MSS of 1000 and no other option: no timestamps, no window scaling,
//! no SACK, so window fields are bytes and segments carry 1000 bytes.

mod common;

use std::net::SocketAddr;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::ipv4::Ipv4Packet;
use stack::wire::seq::SeqNum;
use stack::wire::tcp::{Flags, TcpOptions};
use stack::{Config, Error, SocketHandle, Stack};

/// The MSS the peer offers: every full segment carries this much.
const MSS: usize = 1000;

/// A stack with one connection to a peer played by hand. The peer's
/// sequence numbers are its own business (`seq`); the stack's are
/// relative to its ISS (`iss`), so that byte n of its stream is `iss + 1 + n`.
struct ByHand {
    stack: Stack,
    now: Instant,
    peer: SocketAddr,
    h: SocketHandle,
    /// The peer's SND.NXT: the stack's RCV.NXT once all is received.
    seq: u32,
    iss: u32,
}

impl ByHand {
    /// The stack, configured by `config`, listening on PORT; the peer
    /// opens a connection from 10.0.0.1:40000 offering `window`, and the
    /// stack accepts it. The handshake takes 10 ms: the RTT measured.
    fn open(config: Config, window: u16) -> ByHand {
        let mut stack = Stack::new(config);
        stack.listen(PORT, 4).unwrap();
        let peer: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let mut syn = seg(peer.port(), PORT, 1000, 0, Flags::SYN);
        syn.options = TcpOptions { mss: Some(MSS as u16), ..TcpOptions::default() };
        syn.window_len = window;
        stack.receive(Instant::ZERO, &packet(peer, server_addr(), &syn, &[]));
        let iss = output(&mut stack, Instant::ZERO)[0].seq();
        let now = Instant::ZERO + Duration::from_millis(10);
        let mut ack = seg(peer.port(), PORT, 1001, iss.wrapping_add(1), Flags::ACK);
        ack.window_len = window;
        stack.receive(now, &packet(peer, server_addr(), &ack, &[]));
        let h = stack.accept(PORT).unwrap();
        ByHand { stack, now, peer, h, seq: 1001, iss }
    }

    /// The peer sends `flags` (ACK added) and `payload` at its SND.NXT,
    /// acknowledging the stack's stream up to byte `acked` (relative, the
    /// SYN being 0) with `window`. Returns what the stack sends at once.
    fn send(&mut self, flags: Flags, acked: u32, window: u16, payload: &[u8]) -> Vec<Seg> {
        let mut repr = seg(self.peer.port(), PORT, self.seq, self.iss.wrapping_add(acked), flags | Flags::ACK);
        repr.window_len = window;
        self.stack.receive(self.now, &packet(self.peer, server_addr(), &repr, payload));
        self.seq = self.seq.wrapping_add(payload.len() as u32);
        output(&mut self.stack, self.now)
    }

    /// A zero-window probe from the peer: no data, at its SND.NXT − 1.
    fn probe(&mut self) -> Vec<Seg> {
        let repr = seg(self.peer.port(), PORT, self.seq.wrapping_sub(1), self.iss.wrapping_add(1), Flags::ACK);
        self.stack.receive(self.now, &packet(self.peer, server_addr(), &repr, &[]));
        output(&mut self.stack, self.now)
    }

    /// A pure ACK from the peer.
    fn ack(&mut self, acked: u32, window: u16) -> Vec<Seg> {
        self.send(Flags::empty(), acked, window, &[])
    }

    /// The application writes `data`; returns what the stack sends at once.
    fn write(&mut self, data: &[u8]) -> Vec<Seg> {
        assert_eq!(self.stack.send(self.now, self.h, data), Ok(data.len()));
        output(&mut self.stack, self.now)
    }

    /// Let `d` pass: every timer that falls due fires at its time; returns
    /// what the stack sent, each segment with its time.
    fn wait(&mut self, d: Duration) -> Vec<Seg> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.stack.poll_at().filter(|&at| at <= end) {
            self.now = at.max(self.now);
            self.stack.poll(self.now);
            out.extend(output(&mut self.stack, self.now));
        }
        self.now = end;
        out
    }

    /// Let time pass until a timer sends something, at most `limit`;
    /// returns what it sent.
    fn wait_for_output(&mut self, limit: Duration) -> Vec<Seg> {
        let end = self.now + limit;
        while let Some(at) = self.stack.poll_at().filter(|&at| at <= end) {
            self.now = at.max(self.now);
            self.stack.poll(self.now);
            let out = output(&mut self.stack, self.now);
            if !out.is_empty() {
                return out;
            }
        }
        self.now = end;
        Vec::new()
    }

    /// A segment's first byte in the stack's stream (the SYN being 0).
    fn rel(&self, s: &Seg) -> u32 {
        s.seq().wrapping_sub(self.iss)
    }

    /// A sequence number of the stack's, relative to its ISS.
    fn rel_seq(&self, seq: SeqNum) -> u32 {
        seq.0.wrapping_sub(self.iss)
    }

    /// (relative seq, data bytes) of each segment of `out`.
    fn data(&self, out: &[Seg]) -> Vec<(u32, usize)> {
        out.iter().map(|s| (self.rel(s), s.len)).collect()
    }

    fn tcb(&self) -> &stack::tcp::tcb::Tcb {
        self.stack.tcb(self.h).unwrap()
    }
}

/// The stack's configuration in these tests: timestamps on (the peer
/// declines them), 8 KiB of receive buffer that does not grow.
fn lone_config() -> Config {
    let mut c = config(SERVER_ADDR);
    c.recv_buffer = 8192;
    c.recv_buffer_initial = 8192;
    c
}

// ----------------------------------------------------------------------
// §3.8.6: a peer that shrinks its window
// ----------------------------------------------------------------------

/// MUST-34, SHLD-15, SHLD-16: the peer offers 4000 bytes, takes the first
/// 1000 and then offers only 1000 more: the right edge moves left, from
/// byte 4001 to 2001, behind SND.NXT (4001), and the usable window
/// (SND.UNA + SND.WND − SND.NXT) is negative. The stack sends no new data
/// however much waits; the timer resends the old data within the window,
/// at SND.UNA; when the window opens again the stream resumes where it
/// stopped, and all of it arrives.
#[test]
fn a_shrunk_window_gets_no_new_data_and_the_old_is_resent_within_it() {
    let mut p = ByHand::open(lone_config(), 4000);
    let data = pattern(8000, 1);
    let out = p.write(&data);
    assert_eq!(p.data(&out), [(1, 1000), (1001, 1000), (2001, 1000), (3001, 1000)]);
    // The right edge moves from 1 + 4000 to 1001 + 1000.
    let out = p.ack(1001, 1000);
    assert_eq!(p.data(&out), [], "nothing new past a shrunk window");
    let t = p.tcb();
    assert_eq!((p.rel_seq(t.snd.una), p.rel_seq(t.snd.nxt), t.snd.wnd), (1001, 4001, 1000));
    let out = p.write(&[]);
    assert_eq!(p.data(&out), []);

    // Then the timer resends SND.UNA's segment, with backoff (the peer is
    // silent): 200 ms (the RTO), 400, 800, 1600 later; nothing new.
    let shrunk = p.now;
    let out = p.wait(Duration::from_secs(3));
    let ms = |s: &Seg| (s.at - shrunk).as_millis();
    let sent: Vec<_> = out.iter().map(|s| (p.rel(s), s.len, ms(s))).collect();
    assert_eq!(sent, [(1001, 1000, 200), (1001, 1000, 600), (1001, 1000, 1400), (1001, 1000, 3000)]);

    // The peer takes all four and opens its window: the new data goes,
    // from 4001 where the stream stopped.
    let out = p.ack(4001, 8000);
    assert_eq!(out.first().map(|s| (p.rel(s), s.len)), Some((4001, 1000)), "{:?}", p.data(&out));
    assert_eq!(p.rel_seq(p.tcb().snd.una), 4001);
    invariants(&p.stack).unwrap();
}

/// SHLD-17, MUST-34: the window shrinks to zero with 3000 bytes in flight
/// past it. The stack resends the first segment as the timer says, past
/// the edge (MAY-7), with backoff; the peer, whose window is shut, drops it
/// and answers each time with an ACK of SND.UNA and a zero window. That is
/// no failure of the path: with `max_retries` of 3 the connection is still
/// open after 8 retransmissions and 51 s, and finishes when the window
/// opens.
#[test]
fn data_past_a_window_shrunk_to_zero_does_not_time_the_connection_out() {
    let mut config = lone_config();
    config.max_retries = 3;
    let mut p = ByHand::open(config, 4000);
    let data = pattern(4000, 2);
    let out = p.write(&data);
    assert_eq!(p.data(&out), [(1, 1000), (1001, 1000), (2001, 1000), (3001, 1000)]);
    let out = p.ack(1001, 0);
    assert_eq!(p.data(&out), []);
    let shrunk = p.now;
    let mut resent = Vec::new();
    for _ in 0..8 {
        let out = p.wait_for_output(Duration::from_secs(120));
        resent.extend(out.iter().map(|s| (p.rel(s), s.len, (s.at - shrunk).as_millis())));
        let out = p.ack(1001, 0);
        assert_eq!(p.data(&out), []);
    }
    let times = [200, 600, 1400, 3000, 6200, 12600, 25400, 51000];
    assert_eq!(resent, times.map(|ms| (1001, 1000, ms)), "resent with backoff, past the edge");
    assert_eq!(p.stack.state(p.h), Some(State::Established), "not timed out");
    p.ack(4001, 8000);
    assert_eq!(p.tcb().send_queue(), 0, "all acknowledged");
    assert_eq!(p.stack.state(p.h), Some(State::Established));
}

// ----------------------------------------------------------------------
// §3.8.6.1: the first zero-window probe
// ----------------------------------------------------------------------

/// SHLD-29: the peer takes the 4000 bytes its window held and shuts it,
/// 2000 more waiting. The first probe (no data, at SND.UNA − 1) leaves one
/// RTO after the window closed, not before: 200 ms, the least RTO, on
/// this 10 ms path.
#[test]
fn the_first_zero_window_probe_leaves_one_rto_after_the_window_closed() {
    let mut p = ByHand::open(lone_config(), 4000);
    let out = p.write(&pattern(6000, 3));
    assert_eq!(p.data(&out).len(), 4);
    p.now += Duration::from_millis(10);
    let out = p.ack(4001, 0);
    assert_eq!(p.data(&out), []);
    let closed = p.now;
    let rto = p.tcb().rtt.rto();
    assert_eq!(rto, Duration::from_millis(200));
    let out = p.wait(rto - Duration::from_millis(1));
    assert_eq!(p.data(&out), [], "nothing before one RTO");
    let out = p.wait(Duration::from_millis(1));
    assert_eq!(out.iter().map(|s| (p.rel(s), s.len, s.at - closed)).collect::<Vec<_>>(), [(4000, 0, rto)]);
}

// ----------------------------------------------------------------------
// §3.8.6.2, §3.7.4: silly window avoidance and Nagle
// ----------------------------------------------------------------------

/// MUST-38: the peer offers 3500 bytes and 5000 wait. Three full segments
/// go; the 500 bytes left in the window are not sent: less than a full
/// segment, less than half the largest window (1750), and data in flight.
/// When an ACK moves the window 1000 on, a full segment goes, and again
/// the 500 left in the window wait; the next ACK lets the last 1000 go.
#[test]
fn the_sender_waits_for_a_full_segment_not_a_sliver_of_window() {
    let mut p = ByHand::open(lone_config(), 3500);
    let out = p.write(&pattern(5000, 3));
    assert_eq!(p.data(&out), [(1, 1000), (1001, 1000), (2001, 1000)], "no 500-byte sliver");
    let out = p.ack(1001, 3500);
    assert_eq!(p.data(&out), [(3001, 1000)], "a full segment, and no sliver after it");
    let out = p.ack(4001, 3500);
    assert_eq!(p.data(&out), [(4001, 1000)], "the last full segment");
}

/// SHLD-7: with 100 bytes in flight, short writes wait (Nagle) and
/// gather; the ACK of the first releases them as one segment.
#[test]
fn nagle_holds_short_segments_while_data_is_in_flight() {
    let mut p = ByHand::open(lone_config(), 60_000);
    let out = p.write(&[1; 100]);
    assert_eq!(p.data(&out), [(1, 100)], "nothing in flight: at once");
    let out = p.write(&[2; 50]);
    assert_eq!(p.data(&out), [], "100 bytes in flight: held");
    let out = p.write(&[3; 50]);
    assert_eq!(p.data(&out), [], "held");
    let out = p.ack(101, 60_000);
    assert_eq!(p.data(&out), [(101, 100)], "one segment of both writes");
}

/// MUST-39: the receive window's edge moves only by min(buffer/2, MSS)
/// (our MSS is 1460). The peer fills the buffer and the window closes; the
/// reader takes all but one byte of that: the window stays shut (a window
/// probe's answer shows it) and no update is sent; one more byte, and an
/// update goes at once, offering exactly that much. With 8192 bytes of
/// buffer it is the MSS, 1460; with 2000, half the buffer, 1000.
#[test]
fn the_receive_window_opens_by_at_least_min_half_buffer_mss() {
    for (buffer, threshold) in [(8192, 1460), (2000, 1000)] {
        let mut config = lone_config();
        config.recv_buffer = buffer;
        config.recv_buffer_initial = buffer;
        let mut p = ByHand::open(config, 60_000);
        for chunk in pattern(buffer, 4).chunks(1000) {
            p.send(Flags::PSH, 1, 60_000, chunk);
        }
        p.wait(Duration::from_millis(100));
        let window = |out: &[Seg]| out.iter().map(|s| (s.ack(), s.repr.window_len)).collect::<Vec<_>>();
        assert_eq!(window(&p.probe()), [(p.seq, 0)], "the buffer is full");

        let (h, now) = (p.h, p.now);
        let mut buf = vec![0; threshold];
        assert_eq!(p.stack.recv(now, h, &mut buf[..threshold - 1]), Ok(threshold - 1));
        assert_eq!(window(&output(&mut p.stack, now)), [], "{} free: no update", threshold - 1);
        assert_eq!(window(&p.probe()), [(p.seq, 0)], "{} free: still shut", threshold - 1);
        assert_eq!(p.stack.recv(now, h, &mut buf[..1]), Ok(1));
        assert_eq!(window(&output(&mut p.stack, now)), [(p.seq, threshold as u16)], "{threshold} free: an update");
    }
}

// ----------------------------------------------------------------------
// §3.10.7.4: ACKs aggregated
// ----------------------------------------------------------------------

/// MUST-59: five segments received in one batch (before the stack's next
/// `transmit`) are all processed before any ACK is built: one ACK, of all
/// five; in order, or not (each out-of-order one would have had its
/// duplicate ACK at once, RFC 5681 §4.2, had the batch ended there).
#[test]
fn segments_received_in_one_batch_get_one_ack_of_all() {
    for order in [[0, 1, 2, 3, 4], [1, 0, 2, 4, 3]] {
        let mut p = ByHand::open(lone_config(), 60_000);
        let first = p.seq;
        for i in order {
            let mut repr = seg(p.peer.port(), PORT, first + 1000 * i, p.iss.wrapping_add(1), Flags::ACK);
            repr.window_len = 60_000;
            p.stack.receive(p.now, &packet(p.peer, server_addr(), &repr, &[i as u8; 1000]));
        }
        let out = output(&mut p.stack, p.now);
        let acks: Vec<_> = out.iter().map(|s| (s.flags(), s.ack() - first, s.len)).collect();
        assert_eq!(acks, [(Flags::ACK, 5000, 0)], "order {order:?}");
    }
}

// ----------------------------------------------------------------------
// §3.5.3: an RST with data
// ----------------------------------------------------------------------

/// SHLD-2: an RST at RCV.NXT that carries data (a diagnostic, as some
/// stacks send) resets the connection like any other.
#[test]
fn an_rst_carrying_data_resets_the_connection() {
    let mut p = ByHand::open(lone_config(), 60_000);
    let out = p.send(Flags::RST, 1, 0, b"connection reset: the server is going down");
    assert_eq!(picture(&out), [] as [&str; 0], "an RST is never answered");
    assert_eq!(p.stack.state(p.h), Some(State::Closed));
    let now = p.now;
    assert_eq!(p.stack.recv(now, p.h, &mut [0; 64]), Err(Error::Reset));
}

// ----------------------------------------------------------------------
// §3.9.1.1: OPEN
// ----------------------------------------------------------------------

/// MUST-41: a passive OPEN creates a listener or fails, and touches no
/// connection. Listening on the local port of an established active
/// connection sends nothing, leaves it established and out of the accept
/// queue, and data still flows; listening again on a port that listens
/// fails and leaves its accept queue as it was.
#[test]
fn a_passive_open_leaves_existing_connections_alone() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    let active = stack(&mut net, CLIENT).connect_from(now, 5000, server_addr()).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(active) == Some(State::Established));
    idle(&mut net, Duration::from_secs(1));
    net.capture(true);

    assert_eq!(stack(&mut net, CLIENT).listen(5000, 4), Ok(()));
    assert_eq!(stack(&mut net, SERVER).listen(PORT, 4), Err(Error::AddrInUse));
    idle(&mut net, Duration::from_secs(1));
    assert_eq!(captured(&mut net).len(), 0, "nothing sent");
    assert_eq!(stack(&mut net, CLIENT).state(active), Some(State::Established));
    assert_eq!(stack(&mut net, CLIENT).accept(5000), None, "not in the new listener's queue");
    let served = stack(&mut net, SERVER).accept(PORT).expect("the second connection still waits to be accepted");
    transfer_both_ways(&mut net, c, s, 10_000);
    transfer_both_ways(&mut net, active, served, 10_000);
}

/// MUST-42: LISTEN on a port while a connection from it is in SYN-SENT
/// (an active OPEN from port 5000), and while another is in SYN-RECEIVED
/// (port 6000, a simultaneous open): both listens succeed, both
/// connections complete, and the listener on 5000 takes a new one.
#[test]
fn listen_on_a_port_whose_connection_is_in_syn_sent_or_syn_received() {
    let mut s = Stack::new(lone_config());
    let a: SocketAddr = "10.0.0.1:7000".parse().unwrap();
    let (at_5000, at_6000): (SocketAddr, SocketAddr) =
        ("10.0.0.2:5000".parse().unwrap(), "10.0.0.2:6000".parse().unwrap());
    let now = Instant::ZERO;

    // Port 5000: SYN-SENT, then LISTEN.
    let sent = s.connect_from(now, 5000, a).unwrap();
    let syn = output(&mut s, now);
    assert_eq!(s.state(sent), Some(State::SynSent));
    assert_eq!(s.listen(5000, 4), Ok(()));
    let iss = syn[0].seq();
    s.receive(now, &packet(a, at_5000, &seg(7000, 5000, 100, iss.wrapping_add(1), Flags::SYN | Flags::ACK), &[]));
    assert_eq!(output(&mut s, now).iter().map(|s| (s.flags(), s.ack())).collect::<Vec<_>>(), [(Flags::ACK, 101)]);
    assert_eq!(s.state(sent), Some(State::Established));

    // Port 6000: SYN-RECEIVED by a simultaneous open, then LISTEN.
    let received = s.connect_from(now, 6000, a).unwrap();
    let iss = output(&mut s, now)[0].seq();
    s.receive(now, &packet(a, at_6000, &seg(7000, 6000, 500, 0, Flags::SYN), &[]));
    assert_eq!(
        output(&mut s, now).iter().map(|s| (s.flags(), s.seq(), s.ack())).collect::<Vec<_>>(),
        [(Flags::SYN | Flags::ACK, iss, 501)]
    );
    assert_eq!(s.state(received), Some(State::SynReceived));
    assert_eq!(s.listen(6000, 4), Ok(()));
    s.receive(now, &packet(a, at_6000, &seg(7000, 6000, 501, iss.wrapping_add(1), Flags::ACK), &[]));
    assert_eq!(s.state(received), Some(State::Established));
    assert_eq!(s.accept(6000), None, "an active open is nobody's to accept");

    // A new peer calls port 5000: the listener answers and accepts it.
    let b: SocketAddr = "10.0.0.3:7000".parse().unwrap();
    s.receive(now, &packet(b, at_5000, &seg(7000, 5000, 900, 0, Flags::SYN), &[]));
    let syn_ack = output(&mut s, now);
    assert_eq!(syn_ack.iter().map(|s| (s.flags(), s.ack())).collect::<Vec<_>>(), [(Flags::SYN | Flags::ACK, 901)]);
    s.receive(now, &packet(b, at_5000, &seg(7000, 5000, 901, syn_ack[0].seq().wrapping_add(1), Flags::ACK), &[]));
    let h = s.accept(5000).expect("accepted");
    assert_eq!(s.peer(h), Some(b));
    assert_eq!(s.state(sent), Some(State::Established));
}

/// A conversation between two stacks with something of everything: the
/// handshake, data both ways through loss (retransmissions, SACK, loss
/// probes), a reader that shuts its window for a while (window probes),
/// the close and TIME-WAIT; then a connection aborted (an RST) and a SYN
/// to a closed port (refused by an RST). Returns every packet delivered,
/// as (to, packet), and whether all went as it should: the tests look at
/// the packets first.
fn conversation() -> (Vec<(usize, Vec<u8>)>, bool) {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 8192;
    server.recv_buffer_initial = 8192;
    let mut net = pair_with(Faults { loss: 0.05, seed: 7, ..Faults::default() }, config(CLIENT_ADDR), server);
    net.capture(true);
    let (c, s) = establish(&mut net);
    let (up, down) = (pattern(200_000, 1), pattern(200_000, 2));
    let (mut sent_up, mut sent_down, mut got_up, mut got_down) = (0, 0, 0, 0);
    let deadline = net.now() + Duration::from_secs(60);
    let moved = net.run_until(deadline, |n| {
        let now = n.now();
        sent_up += stack(n, CLIENT).send(now, c, &up[sent_up..]).unwrap_or(0);
        sent_down += stack(n, SERVER).send(now, s, &down[sent_down..]).unwrap_or(0);
        got_up += read_all(n, SERVER, s).len();
        got_down += read_all(n, CLIENT, c).len();
        got_up == up.len() && got_down == down.len()
    });
    let now = net.now();
    let written = stack(&mut net, CLIENT).send(now, c, &pattern(20_000, 5)) == Ok(20_000);
    idle(&mut net, Duration::from_secs(2));
    let shut = written && stack(&mut net, CLIENT).tcb(c).unwrap().snd.wnd == 0;
    let (deadline, mut got) = (net.now() + Duration::from_secs(10), 0);
    let read = net.run_until(deadline, |n| {
        got += read_all(n, SERVER, s).len();
        got == 20_000
    });
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    stack(&mut net, CLIENT).close(now, c);
    idle(&mut net, Duration::from_secs(1));
    let closed = stack(&mut net, CLIENT).state(c).is_none() && net.host(SERVER).stack.time_wait_count() == 1;

    let now = net.now();
    let aborted = stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    idle(&mut net, Duration::from_millis(100));
    let accepted = stack(&mut net, SERVER).accept(PORT);
    let now = net.now();
    stack(&mut net, CLIENT).abort(now, aborted);
    idle(&mut net, Duration::from_millis(100));
    let reset = accepted.is_some_and(|h| stack(&mut net, SERVER).state(h) == Some(State::Closed));
    let now = net.now();
    let refused = stack(&mut net, CLIENT).connect(now, SocketAddr::new(SERVER_ADDR.into(), PORT + 1)).unwrap();
    idle(&mut net, Duration::from_millis(100));
    let now = net.now();
    let refused = stack(&mut net, CLIENT).recv(now, refused, &mut [0; 8]) == Err(Error::Refused);

    let lossy = [CLIENT, SERVER].map(|i| net.host(i).stack.counters().retransmissions > 0) == [true; 2];
    let packets = net.take_captured().into_iter().map(|d| (d.to, d.packet)).collect();
    (packets, lossy && moved && shut && read && closed && reset && refused)
}

/// MUST-45: every packet of a conversation leaves from its connection's
/// local address, to its remote one: the client's from 10.0.0.1, the
/// server's from 10.0.0.2.
#[test]
fn every_segment_leaves_from_the_connections_local_address() {
    let (packets, all_well) = conversation();
    assert!(packets.len() > 300, "{} packets", packets.len());
    for (to, p) in &packets {
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        let (src, dst) = if *to == SERVER { (CLIENT_ADDR, SERVER_ADDR) } else { (SERVER_ADDR, CLIENT_ADDR) };
        assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
    }
    assert!(all_well, "the conversation went wrong");
}

/// MUST-65: the MSS option is in the SYNs, and in no other segment of a
/// conversation.
#[test]
fn only_syns_carry_the_mss_option() {
    let (packets, all_well) = conversation();
    let segs: Vec<Seg> = packets.iter().map(|(to, p)| Seg::parse(*to, Instant::ZERO, p).unwrap()).collect();
    let (syns, others): (Vec<&Seg>, Vec<&Seg>) = segs.iter().partition(|s| s.has(Flags::SYN));
    assert_eq!(
        syns.iter().map(|s| s.repr.options.mss).collect::<Vec<_>>(),
        [Some(1460); 5],
        "two handshakes, a SYN refused"
    );
    assert!(others.len() > 300);
    assert!(others.iter().all(|s| s.repr.options.mss.is_none()), "an MSS option outside a SYN");
    assert!(all_well, "the conversation went wrong");
}

// ----------------------------------------------------------------------
// §3.8.3: R2
// ----------------------------------------------------------------------

/// SHLD-11: with the default configuration, a connection whose peer
/// vanishes goes on retransmitting for at least 100 s (R2) before it is
/// aborted.
#[test]
fn a_vanished_peer_is_given_at_least_100_seconds() {
    let mut net = pair(Faults::default());
    let (c, _s) = establish(&mut net);
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    let start = net.now();
    stack(&mut net, CLIENT).send(start, c, b"anyone there?").unwrap();
    run(&mut net, Duration::from_secs(1000), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    let lasted = net.now() - start;
    assert!(lasted >= Duration::from_secs(100), "gave up after {lasted:?}");
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut [0; 8]), Err(Error::TimedOut));
}
