//! Urgent data (RFC 9293 §3.8.5, §3.10.7.4 "sixth"), read as RFC 6093
//! asks: the urgent bytes stay in line, and the urgent pointer marks the
//! octet after them (MUST-62). The receiver keeps the furthest mark, RCV.UP,
//! raises `Ready::URGENT` when it moves ahead of what was read (MUST-32)
//! and says how far it is (`Stack::urgent`, MUST-33); the sender marks
//! every segment before SND.UP until the urgent data is acknowledged.

mod common;

use std::net::SocketAddr;

use common::*;
use stack::link::faults::Faults;
use stack::time::{Duration, Instant};
use stack::wire::tcp::{Flags, TcpOptions, TcpRepr};
use stack::{Config, Event, Ready, SocketHandle, Stack};

/// The peer of a lone server stack: a script of raw segments.
struct Peer {
    stack: Stack,
    h: SocketHandle,
    addr: SocketAddr,
    /// Our next sequence number (the peer's RCV.NXT once all has arrived).
    seq: u32,
    /// The server's SND.NXT, which we acknowledge.
    ack: u32,
}

const PEER_PORT: u16 = 40000;
const PEER_ISN: u32 = 1000;

impl Peer {
    /// Open a connection to a lone server of `config` with a SYN without
    /// options: no timestamps, no window scaling, and the handle accepted.
    fn connect(config: Config) -> Peer {
        Peer::connect_with(config, TcpOptions::default())
    }

    /// The same, with a SYN that carries `options`.
    fn connect_with(config: Config, options: TcpOptions) -> Peer {
        let mut stack = Stack::new(config);
        stack.listen(PORT, 4).unwrap();
        let addr: SocketAddr = format!("10.0.0.1:{PEER_PORT}").parse().unwrap();
        let now = Instant::ZERO;
        let syn = TcpRepr { options, ..seg(PEER_PORT, PORT, PEER_ISN, 0, Flags::SYN) };
        stack.receive(now, &packet(addr, server_addr(), &syn, &[]));
        let iss = output(&mut stack, now)[0].seq();
        let (seq, ack) = (PEER_ISN + 1, iss.wrapping_add(1));
        stack.receive(now, &packet(addr, server_addr(), &seg(PEER_PORT, PORT, seq, ack, Flags::ACK), &[]));
        let h = stack.accept(PORT).unwrap();
        let mut peer = Peer { stack, h, addr, seq, ack };
        peer.events();
        peer
    }

    /// Send `data` at `seq` (ACK set), with URG and `up` if `up` is given.
    fn send_at(&mut self, seq: u32, data: &[u8], up: Option<u16>) {
        let mut repr = seg(PEER_PORT, PORT, seq, self.ack, Flags::ACK);
        if let Some(up) = up {
            repr.flags |= Flags::URG;
            repr.urgent_at = up;
        }
        self.stack.receive(Instant::ZERO, &packet(self.addr, server_addr(), &repr, data));
    }

    /// Send `data` next in order, with URG and `up` if given.
    fn send(&mut self, data: &[u8], up: Option<u16>) {
        self.send_at(self.seq, data, up);
        self.seq = self.seq.wrapping_add(data.len() as u32);
    }

    /// The peer's FIN, next in order.
    fn fin(&mut self) {
        let repr = seg(PEER_PORT, PORT, self.seq, self.ack, Flags::FIN | Flags::ACK);
        self.stack.receive(Instant::ZERO, &packet(self.addr, server_addr(), &repr, &[]));
        self.seq = self.seq.wrapping_add(1);
    }

    /// What the server sends now.
    fn output(&mut self) -> Vec<Seg> {
        output(&mut self.stack, Instant::ZERO)
    }

    /// Acknowledge up to `ack`, the server's sequence number.
    fn ack(&mut self, ack: u32) {
        self.ack = ack;
        self.send(&[], None);
    }

    /// The events the server reports for the connection, drained.
    fn events(&mut self) -> Ready {
        let all: Vec<Event> = std::iter::from_fn(|| self.stack.next_event()).collect();
        ready_of(&all, self.h)
    }

    fn read(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        let k = self.stack.recv(Instant::ZERO, self.h, &mut buf).unwrap();
        buf.truncate(k);
        buf
    }

    fn urgent(&self) -> Option<usize> {
        self.stack.urgent(self.h)
    }
}

/// A segment with URG: the pointer, added to its sequence number, is the
/// octet after the urgent data (MUST-62), so "abc" of "abcdefgh" with a
/// pointer of 3 is urgent. The application is told at once (MUST-32) and
/// learns how much is left to read before the mark (MUST-33); reading past
/// it ends urgent mode. A mark that does not move tells nothing new; one
/// behind what was read is ignored; one further on tells again.
#[test]
fn urgent_data_sets_the_mark_and_tells_the_application() {
    let mut p = Peer::connect(config(SERVER_ADDR));
    p.send(b"plain", None);
    assert!(!p.events().contains(Ready::URGENT));
    assert_eq!(p.urgent(), None, "no URG, no urgent data");

    p.send(b"abcdefgh", Some(3));
    let ready = p.events();
    assert!(ready.contains(Ready::URGENT | Ready::READABLE), "{ready:?}");
    assert_eq!(p.urgent(), Some(5 + 3), "the unread plain bytes, then abc");
    assert_eq!(p.read(6), b"plaina", "urgent data is read in line");
    assert_eq!(p.urgent(), Some(2));

    // Plain data after the urgent data: the mark stays where it was.
    p.send(b"ij", None);
    assert!(!p.events().contains(Ready::URGENT));
    assert_eq!(p.urgent(), Some(2));

    assert_eq!(p.read(2), b"bc");
    assert_eq!(p.urgent(), None, "read up to the mark: normal mode");
    assert_eq!(p.read(2), b"de");
    // A retransmission that overlaps new data ("KL"), its mark (after
    // "abcd") behind what was read: the data is taken, the mark changes
    // nothing.
    p.send_at(PEER_ISN + 1 + 5, b"abcdefghijKL", Some(4));
    p.seq += 2;
    assert_eq!((p.urgent(), p.events().contains(Ready::URGENT)), (None, false));

    // A further mark tells again.
    p.send(b"xyz", Some(2));
    assert!(p.events().contains(Ready::URGENT));
    assert_eq!(p.urgent(), Some(7 + 2), "fghijKL unread, then xy");
    assert_eq!(p.read(100), b"fghijKLxyz");
    assert_eq!(p.urgent(), None);
}

/// Urgent data of any length (MUST-31): the pointer may reach far past its
/// segment, and the mark counts bytes that have not arrived yet; the
/// segments that bring them point to the same mark, which is told once.
/// The stream's end ends the urgent data too: a FIN before the mark
/// brings the mark back to it.
#[test]
fn the_urgent_pointer_may_point_far_past_the_segment() {
    let mut p = Peer::connect(config(SERVER_ADDR));
    p.send(b"0123456789", Some(60_000));
    assert!(p.events().contains(Ready::URGENT));
    assert_eq!(p.urgent(), Some(60_000), "59,990 of them not here yet");
    for _ in 0..20 {
        let up = 60_000 - (p.seq - PEER_ISN - 1);
        p.send(&[7; 1000], Some(up as u16));
    }
    assert!(!p.events().contains(Ready::URGENT), "the same mark: told once");
    assert_eq!(p.urgent(), Some(60_000));
    assert_eq!(p.read(5000).len(), 5000);
    assert_eq!(p.urgent(), Some(55_000));

    p.fin();
    assert_eq!(p.urgent(), Some(15_010), "no urgent data past the FIN");
    assert_eq!(p.read(20_000).len(), 15_010);
    assert_eq!(p.urgent(), None);
    assert_eq!(p.read(10), b"", "the end of the stream");
}

/// URG is heard while our window is shut (MUST-66): a zero-length segment
/// at RCV.NXT is acceptable and its urgent pointer counts; so does that of
/// data at RCV.NXT that finds no room, though the data is not taken.
#[test]
fn urgent_is_heard_with_a_zero_window() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 4000;
    server.recv_buffer_initial = 4000;
    let mut p = Peer::connect(server);
    for _ in 0..4 {
        p.send(&[1; 1000], None);
    }
    assert_eq!(p.output().last().map(|s| s.repr.window_len), Some(0), "the window is shut");
    p.events();

    p.send(&[], Some(10));
    assert!(p.events().contains(Ready::URGENT));
    assert_eq!(p.urgent(), Some(4000 + 10));

    p.send_at(p.seq, &[2; 100], Some(50));
    assert!(p.events().contains(Ready::URGENT));
    assert_eq!(p.urgent(), Some(4000 + 50));
    assert_eq!(p.stack.tcb(p.h).unwrap().recv_queue(), 4000, "the data found no room");
}

/// The sender's side: after SEND with URGENT, every segment before SND.UP
/// carries URG and points to the octet after the urgent data, SND.UP −
/// SEG.SEQ (MUST-62): here a full segment of plain data and the segment
/// that ends with the two urgent bytes. The receiving stack learns the
/// mark. Once the urgent data is acknowledged, URG stops.
#[test]
fn urgent_data_is_sent_with_urg_until_acknowledged() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let now = net.now();
    let plain = pattern(FULL + 100, 3);
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &plain), Ok(FULL + 100));
    assert_eq!(stack(&mut net, CLIENT).send_urgent(now, c, b"!!"), Ok(2));
    assert_eq!(stack(&mut net, CLIENT).send_urgent(now, c, b""), Ok(0), "no data, no urgent mark");
    run(&mut net, Duration::from_secs(1), |n| n.host(SERVER).stack.tcb(s).unwrap().recv_queue() == FULL + 102);
    assert!(ready_of(&events(&mut net, SERVER), s).contains(Ready::URGENT));
    assert_eq!(stack(&mut net, SERVER).urgent(s), Some(FULL + 102));

    let data: Vec<Seg> = captured(&mut net).into_iter().filter(|s| !s.is_from_server() && s.len > 0).collect();
    let pointers: Vec<_> = data.iter().map(|s| (s.len, s.has(Flags::URG), s.repr.urgent_at)).collect();
    assert_eq!(pointers, [(FULL, true, FULL as u16 + 102), (102, true, 102)]);

    let got = read_all(&mut net, SERVER, s);
    assert_eq!((&got[..FULL + 100], &got[FULL + 100..]), (&plain[..], &b"!!"[..]), "in line");
    assert_eq!(stack(&mut net, SERVER).urgent(s), None);

    // Acknowledged: what follows is plain, and so are the client's ACKs.
    idle(&mut net, Duration::from_secs(1));
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"more").unwrap();
    stack(&mut net, SERVER).send(now, s, b"reply").unwrap();
    idle(&mut net, Duration::from_secs(1));
    let after = captured(&mut net);
    assert!(after.iter().any(|s| !s.is_from_server() && s.len == 4));
    assert!(after.iter().all(|s| !s.has(Flags::URG)), "{:?}", picture(&after));
    assert_eq!(stack(&mut net, SERVER).urgent(s), None);

    // Plain data sent after urgent data, before the ACK: its segment lies
    // past SND.UP, and has no URG.
    let now = net.now();
    stack(&mut net, CLIENT).set_nodelay(c, true);
    assert_eq!(stack(&mut net, CLIENT).send_urgent(now, c, b"^C"), Ok(2));
    idle(&mut net, Duration::from_micros(100)); // sent, not yet acknowledged
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, b"after"), Ok(5));
    idle(&mut net, Duration::from_secs(1));
    let data: Vec<Seg> = captured(&mut net).into_iter().filter(|s| !s.is_from_server() && s.len > 0).collect();
    let pointers: Vec<_> = data.iter().map(|s| (s.len, s.has(Flags::URG), s.repr.urgent_at)).collect();
    assert_eq!(pointers, [(2, true, 2), (5, false, 0)]);
}

/// Urgent data longer than the pointer field reaches (MUST-31): segments
/// more than 65535 octets before SND.UP point 65535 ahead, the rest
/// exactly to SND.UP; the receiver's mark moves on with them and reaches
/// the end of the urgent data.
#[test]
fn urgent_data_of_any_length_is_sent_with_the_pointer_clamped() {
    const LEN: usize = 100_000;
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let data = pattern(LEN, 4);
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send_urgent(now, c, &data), Ok(LEN));
    let (mut got, mut marks) = (Vec::new(), Vec::new());
    run(&mut net, Duration::from_secs(10), |n| {
        if let Some(m) = stack(n, SERVER).urgent(s) {
            marks.push(got.len() + m); // the mark, as an offset in the stream
        }
        got.extend(read_all(n, SERVER, s));
        got.len() == LEN
    });
    assert_eq!(got, data);
    assert!(marks.windows(2).all(|w| w[0] <= w[1]), "the mark never recedes");
    assert!(marks[0] < LEN, "first a mark short of the end, {}: the pointer was clamped", marks[0]);
    assert_eq!(marks.last(), Some(&LEN));
    assert_eq!(stack(&mut net, SERVER).urgent(s), None);

    let sent: Vec<Seg> = captured(&mut net).into_iter().filter(|s| !s.is_from_server() && s.len > 0).collect();
    let start = sent[0].seq();
    for seg in &sent {
        let to_end = LEN - seg.seq().wrapping_sub(start) as usize;
        assert!(seg.has(Flags::URG), "every segment before SND.UP");
        assert_eq!(usize::from(seg.repr.urgent_at), to_end.min(65535), "at offset {}", LEN - to_end);
    }
    assert!(sent.iter().any(|s| s.repr.urgent_at == 65535) && sent.iter().any(|s| s.repr.urgent_at < 65535));
}

/// SND.UP moves along with SND.UNA once the urgent data is acknowledged:
/// left behind, it would seem ahead of SND.UNA again after 2^31 more
/// bytes (the modular order of §3.4 turns around there), and plain data
/// would go out marked urgent. One urgent byte, then 2^31 + 64 MB plain,
/// with no URG after the first byte's ACK.
#[test]
fn urgent_mode_does_not_come_back_after_2_to_the_31_bytes() {
    let mut server = config(SERVER_ADDR);
    server.mtu = 65535;
    server.send_buffer = 16 << 20;
    let options = TcpOptions { mss: Some(65495), window_scale: Some(14), ..TcpOptions::default() };
    let mut p = Peer::connect_with(server, options);
    let now = Instant::ZERO;
    p.stack.send_urgent(now, p.h, b"!").unwrap();
    let first = p.output();
    assert_eq!(first.iter().map(|s| (s.len, s.has(Flags::URG), s.repr.urgent_at)).collect::<Vec<_>>(), [(1, true, 1)]);
    p.ack(p.ack.wrapping_add(1));

    let chunk = vec![0; 16 << 20];
    let (mut sent, mut urgent) = (0usize, 0);
    while sent < (1 << 31) + (64 << 20) || p.stack.send_queue(p.h) > 0 {
        if sent < (1 << 31) + (64 << 20) {
            sent += p.stack.send(now, p.h, &chunk).unwrap();
        }
        let out = p.output();
        urgent += out.iter().filter(|s| s.has(Flags::URG)).count();
        let end = out.iter().map(|s| s.seq().wrapping_add(s.len as u32)).max_by_key(|&e| e.wrapping_sub(p.ack));
        p.ack(end.expect("the window is open"));
    }
    assert_eq!(urgent, 0, "no URG after the urgent byte was acknowledged");
}
