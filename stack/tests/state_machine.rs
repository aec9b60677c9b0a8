//! One test per transition of the RFC 9293 state diagram (Figure 5) and per
//! close path, each checking every segment of the exchange.

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::tcp::Flags;
use stack::{Error, Event, Ready, Stack};
use std::net::SocketAddr;

fn server_states(net: &mut stack::link::sim::Network<Node>) -> Vec<State> {
    stack(net, SERVER).connections().map(|c| c.state).collect()
}

/// CLOSED → LISTEN → SYN-RECEIVED → ESTABLISHED on the server and
/// CLOSED → SYN-SENT → ESTABLISHED on the client (§3.5, Figure 6).
#[test]
fn three_way_handshake() {
    let mut net = pair(Faults::default());
    net.capture(true);
    let now = net.now();
    let c = stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent));

    // The SYN arrives: the server holds a half-open connection.
    run(&mut net, Duration::from_secs(1), |n| !server_states(n).is_empty());
    assert_eq!(server_states(&mut net), [State::SynReceived]);
    assert_eq!(stack(&mut net, SERVER).accept(PORT), None, "not accepted before the handshake completes");

    run(&mut net, Duration::from_secs(1), |n| server_states(n) == [State::Established]);
    let s = stack(&mut net, SERVER).accept(PORT).expect("the accept queue holds it");
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));

    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S S", "S>C S.", "C>S ."]);
    let (syn, syn_ack, ack) = (&segs[0], &segs[1], &segs[2]);
    assert_eq!(syn_ack.ack(), syn.seq().wrapping_add(1), "the SYN takes one sequence number");
    assert_eq!((ack.seq(), ack.ack()), (syn.seq().wrapping_add(1), syn_ack.seq().wrapping_add(1)));
    assert_eq!(syn.repr.options.mss, Some(1460), "MSS = MTU 1500 - 40");
    assert_eq!(syn_ack.repr.options.mss, Some(1460));
    assert!(syn.repr.window_len > 0 && syn_ack.repr.window_len > 0);
    let client_events = events(&mut net, CLIENT);
    assert!(ready_of(&client_events, c).contains(Ready::CONNECTED));
    assert!(events(&mut net, SERVER).contains(&Event::Incoming { port: PORT }));
}

/// The story's close: the server closes first. ESTABLISHED → FIN-WAIT-1 →
/// FIN-WAIT-2 → TIME-WAIT → (2·MSL) → CLOSED on the server; ESTABLISHED →
/// CLOSE-WAIT → LAST-ACK → CLOSED on the client (§3.6, Figure 12).
#[test]
fn server_closes_first_then_time_wait_for_exactly_two_msl() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, SERVER).send(now, s, b"HTTP/1.1 200 OK\r\n\r\nhello").unwrap();
    run(&mut net, Duration::from_secs(1), |n| read_all(n, CLIENT, c).len() == 24);
    idle(&mut net, Duration::from_secs(1)); // let the delayed ACK go

    net.capture(true);
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    assert_eq!(server_states(&mut net), [State::FinWait1]);

    // FIN from the server, ACK from the client...
    run(&mut net, Duration::from_secs(1), |n| server_states(n) == [State::FinWait2]);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::CloseWait));
    let mut buf = [0u8; 16];
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut buf), Ok(0), "end of stream");
    assert!(ready_of(&events(&mut net, CLIENT), c).contains(Ready::PEER_CLOSED));

    // ...then the client closes: FIN from the client, ACK from the server.
    idle(&mut net, Duration::from_millis(100));
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::LastAck));
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c).is_none());

    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["S>C F.", "C>S .", "C>S F.", "S>C ."]);
    let (fin1, ack1, fin2, ack2) = (&segs[0], &segs[1], &segs[2], &segs[3]);
    assert_eq!(ack1.ack(), fin1.seq().wrapping_add(1), "the FIN takes one sequence number");
    assert_eq!(fin2.ack(), fin1.seq().wrapping_add(1));
    assert_eq!((ack2.seq(), ack2.ack()), (fin1.seq().wrapping_add(1), fin2.seq().wrapping_add(1)));

    // The server keeps the 4-tuple in TIME-WAIT for exactly 2·MSL after the
    // client's FIN arrived, with no TCB left.
    assert!(server_states(&mut net).is_empty());
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let entered = fin2.at;
    let end = entered + MSL * 2;
    net.run_until(end - Duration::from_micros(1), |_| false);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "still in TIME-WAIT just before 2·MSL");
    net.run_until(end, |_| false);
    assert_eq!(net.now(), end);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0, "deleted at 2·MSL");
}

/// The peer closes first: ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED on
/// our side, and the client is the one left in TIME-WAIT.
#[test]
fn peer_closes_first() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::FinWait1));
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::CloseWait));
    assert!(ready_of(&events(&mut net, SERVER), s).contains(Ready::PEER_CLOSED));
    idle(&mut net, Duration::from_millis(100));
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::LastAck));
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s).is_none());
    assert_eq!(picture(&captured(&mut net)), ["C>S F.", "S>C .", "S>C F.", "C>S ."]);
    assert_eq!(stack(&mut net, CLIENT).time_wait_count(), 1);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0, "the side that closed second keeps nothing");
}

/// Both close at once: FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides
/// (§3.6, Figure 13). Each acknowledges the other's FIN with its own FIN
/// again (`next_segment`, 0.); that copy arrives wholly old, and is
/// answered with the bare ACK that completes the close.
#[test]
fn simultaneous_close_goes_through_closing() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    stack(&mut net, SERVER).close(now, s);
    let mut saw_closing = [false; 2];
    run(&mut net, Duration::from_secs(1), |n| {
        saw_closing[0] |= stack(n, CLIENT).state(c) == Some(State::Closing);
        saw_closing[1] |= stack(n, SERVER).state(s) == Some(State::Closing);
        stack(n, CLIENT).time_wait_count() == 1 && stack(n, SERVER).time_wait_count() == 1
    });
    assert_eq!(saw_closing, [true, true]);
    let mut pic = picture(&captured(&mut net));
    pic.sort();
    assert_eq!(pic, ["C>S .", "C>S F.", "C>S F.", "S>C .", "S>C F.", "S>C F."]);
}

/// Both close at once and the client's FIN is lost: in CLOSING, its ACK
/// of the server's FIN is its FIN again, so the close completes in a round
/// trip, without waiting for a retransmission timeout.
#[test]
fn a_fin_lost_in_a_simultaneous_close_rides_again_on_the_ack() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let mut first = true; // the server loses the first FIN it is sent
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| seg.has(Flags::FIN) && std::mem::take(&mut first)));
    net.capture(true);
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    stack(&mut net, SERVER).close(now, s);
    run(&mut net, Duration::from_secs(1), |n| {
        stack(n, CLIENT).time_wait_count() == 1 && stack(n, SERVER).time_wait_count() == 1
    });
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let counters = stack(&mut net, CLIENT).counters().clone();
    assert_eq!((counters.tlp_probes, counters.rto_expirations), (0, 0), "a timer sent the FIN again");
    // The lost FIN, the server's FIN, the client's FIN again with its ACK.
    assert_eq!(picture(&captured(&mut net)), ["C>S F.", "S>C F.", "C>S F.", "S>C ."]);
}

/// Both open at once: SYN-SENT → SYN-RECEIVED → ESTABLISHED on both sides
/// (§3.5, Figure 7).
#[test]
fn simultaneous_open() {
    let mut net = pair(Faults::default());
    let now = net.now();
    let a = stack(&mut net, CLIENT).connect_from(now, 5000, "10.0.0.2:6000".parse().unwrap()).unwrap();
    let b = stack(&mut net, SERVER).connect_from(now, 6000, "10.0.0.1:5000".parse().unwrap()).unwrap();
    net.capture(true);
    let mut saw = [false; 2];
    run(&mut net, Duration::from_secs(5), |n| {
        saw[0] |= stack(n, CLIENT).state(a) == Some(State::SynReceived);
        saw[1] |= stack(n, SERVER).state(b) == Some(State::SynReceived);
        stack(n, CLIENT).state(a) == Some(State::Established) && stack(n, SERVER).state(b) == Some(State::Established)
    });
    assert_eq!(saw, [true, true], "both passed through SYN-RECEIVED");
    let now = net.now();
    stack(&mut net, CLIENT).send(now, a, b"ping").unwrap();
    run(&mut net, Duration::from_secs(1), |n| read_all(n, SERVER, b) == b"ping");
}

/// A lost FIN is sent again, like data: here by the tail loss probe (RFC
/// 8985 §7.2: the only segment in flight, so its probe waits for a delayed
/// ACK, 2·SRTT + 200 ms, and no longer than the RTO).
#[test]
fn lost_fin_is_retransmitted() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let mut first = true;
    net.host_mut(CLIENT).drop_if = Some(Box::new(move |seg| seg.has(Flags::FIN) && std::mem::take(&mut first)));
    let start = net.now();
    stack(&mut net, SERVER).close(start, s);
    run(&mut net, Duration::from_secs(5), |n| stack(n, CLIENT).state(c) == Some(State::CloseWait));
    let dropped = &net.host(CLIENT).dropped;
    assert_eq!(dropped.len(), 1);
    let waited = net.now() - start;
    assert!(waited >= Duration::from_millis(200) && waited <= Duration::from_millis(1100), "after one RTO: {waited:?}");
    let sent = stack(&mut net, SERVER).counters().clone();
    assert_eq!((sent.tlp_probes, sent.retransmissions, sent.rto_expirations), (1, 0, 0));
}

/// TIME-WAIT answers a retransmitted FIN (our last ACK was lost) with
/// another ACK and restarts its 2·MSL clock (§3.10.7.4 "fifth", TIME-WAIT).
#[test]
fn retransmitted_fin_in_time_wait_is_acked_again_and_restarts_the_clock() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c) == Some(State::CloseWait));
    // The client loses the server's final ACK once.
    let mut first = true;
    net.host_mut(CLIENT).drop_if =
        Some(Box::new(move |seg| seg.flags() == Flags::ACK && seg.len == 0 && std::mem::take(&mut first)));
    net.capture(true);
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    run(&mut net, Duration::from_secs(5), |n| stack(n, CLIENT).state(c).is_none());
    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S F.", "S>C .", "C>S F.", "S>C ."], "FIN, (lost) ACK, FIN again, ACK again");
    let second_fin = segs.iter().filter(|s| s.has(Flags::FIN)).nth(1).unwrap().at;
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    net.run_until(second_fin + MSL * 2 - Duration::from_micros(1), |_| false);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "the clock restarted at the second FIN");
    net.run_until(second_fin + MSL * 2, |_| false);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
}

/// shutdown(write): our FIN goes, but we keep receiving (a half-closed
/// connection, §3.6.1).
#[test]
fn shutdown_write_keeps_receiving() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, SERVER).shutdown(now, s).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::FinWait2));
    assert_eq!(stack(&mut net, SERVER).send(now, s, b"x"), Err(Error::Closing));
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"still talking").unwrap();
    run(&mut net, Duration::from_secs(1), |n| read_all(n, SERVER, s) == b"still talking");
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).time_wait_count() == 1);
    // The socket stays, in TIME-WAIT, until the application closes it.
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::TimeWait));
    let now = net.now();
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 4]), Ok(0));
    stack(&mut net, SERVER).close(now, s);
    assert_eq!(stack(&mut net, SERVER).state(s), None);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
}

/// ABORT sends RST; the peer's connection is reset and its application told.
#[test]
fn abort_sends_rst_and_the_peer_is_reset() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let now = net.now();
    stack(&mut net, SERVER).abort(now, s);
    assert_eq!(stack(&mut net, SERVER).state(s), None, "deleted at once");
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    assert_eq!(picture(&captured(&mut net)), ["S>C R"]);
    assert!(ready_of(&events(&mut net, CLIENT), c).contains(Ready::RESET));
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut [0; 4]), Err(Error::Reset));
    stack(&mut net, CLIENT).close(now, c);
    assert_eq!(stack(&mut net, CLIENT).state(c), None);
}

/// A peer that ACKs our FIN but never sends its own must not pin an
/// orphaned connection in FIN-WAIT-2 forever.
#[test]
fn fin_wait_2_times_out() {
    let mut server = config(SERVER_ADDR);
    server.fin_wait_2_timeout = Duration::from_secs(10);
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let (_c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    run(&mut net, Duration::from_secs(1), |n| server_states(n) == [State::FinWait2]);
    let at = net.now();
    idle(&mut net, Duration::from_secs(9));
    assert_eq!(server_states(&mut net), [State::FinWait2]);
    run(&mut net, Duration::from_secs(2), |n| server_states(n).is_empty());
    assert!(net.now() - at >= Duration::from_secs(10));
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
}

/// A new SYN for a 4-tuple in TIME-WAIT, above the old RCV.NXT, opens the
/// new connection at once (MAY-2; what Linux does under port reuse).
#[test]
fn new_syn_reopens_a_time_wait_tuple() {
    let mut net = pair(Faults::default());
    let (c, s) = establish_from(&mut net, 40000);
    server_closes_first(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);

    // Same client port again, well within 2·MSL.
    net.capture(true);
    idle(&mut net, Duration::from_millis(10));
    let now = net.now();
    let c2 = stack(&mut net, CLIENT).connect_from(now, 40000, server_addr()).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).accept(PORT).is_some());
    assert_eq!(stack(&mut net, CLIENT).state(c2), Some(State::Established));
    assert_eq!(picture(&captured(&mut net)), ["C>S S", "S>C S.", "C>S ."]);
    assert_eq!(stack(&mut net, SERVER).counters().time_wait_reopened, 1);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
}

/// While the application still holds the socket of a connection in
/// TIME-WAIT (it shut its side down and has not closed), the 4-tuple is
/// that connection's: a new SYN gets a challenge ACK (§3.10.7.4 "fourth",
/// RFC 5961 §4), which the client answers with an RST that TIME-WAIT
/// ignores. Once the socket is closed, the client's next SYN reopens it
/// (MAY-2).
#[test]
fn a_syn_reopens_time_wait_only_once_the_socket_is_closed() {
    let mut net = pair(Faults::default());
    let (c, s) = establish_from(&mut net, 40000);
    server_time_wait_held(&mut net, c, s);

    net.capture(true);
    let now = net.now();
    let c2 = stack(&mut net, CLIENT).connect_from(now, 40000, server_addr()).unwrap();
    idle(&mut net, Duration::from_millis(500));
    assert_eq!(picture(&captured(&mut net)), ["C>S S", "S>C .", "C>S R"]);
    assert_eq!(stack(&mut net, SERVER).counters().time_wait_reopened, 0);

    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    run(&mut net, Duration::from_secs(3), |n| stack(n, SERVER).accept(PORT).is_some());
    assert_eq!(stack(&mut net, CLIENT).state(c2), Some(State::Established));
    assert_eq!(picture(&captured(&mut net)), ["C>S S", "S>C S.", "C>S ."]);
    assert_eq!(stack(&mut net, SERVER).counters().time_wait_reopened, 1);
}

/// §3.10.7.1: a SYN to a port nobody listens on gets <SEQ=0><ACK=SEG.SEQ+1>
/// <CTL=RST,ACK>, and the client is refused.
#[test]
fn syn_to_a_closed_port_is_refused_with_rst() {
    let mut net = pair(Faults::default());
    net.capture(true);
    let now = net.now();
    let c = stack(&mut net, CLIENT).connect(now, "10.0.0.2:81".parse().unwrap()).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S S", "S>C R."]);
    assert_eq!((segs[1].seq(), segs[1].ack()), (0, segs[0].seq().wrapping_add(1)));
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut [0; 4]), Err(Error::Refused));
}

/// An ACK that acknowledges nothing we sent gets <SEQ=SEG.ACK><CTL=RST>,
/// at a listening port and in SYN-RECEIVED (§3.10.7.2, §3.10.7.4).
#[test]
fn unacceptable_acks_get_rst() {
    let mut s = Stack::new(config(SERVER_ADDR));
    s.listen(PORT, 4).unwrap();
    let peer: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let now = Instant::ZERO;
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 100, 5555, Flags::ACK), &[]));
    let out = output(&mut s, now);
    assert_eq!((out.len(), out[0].flags(), out[0].seq()), (1, Flags::RST, 5555));

    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1000, 0, Flags::SYN), &[]));
    let syn_ack = output(&mut s, now).remove(0);
    assert_eq!(syn_ack.flags(), Flags::SYN | Flags::ACK);
    let bad_ack = syn_ack.seq().wrapping_add(100);
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1001, bad_ack, Flags::ACK), &[]));
    let out = output(&mut s, now);
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::RST, bad_ack));
    assert_eq!(s.connections().next().unwrap().state, State::SynReceived, "the half-open connection survives");
}

/// RST in SYN-RECEIVED sends a passive connection back to LISTEN: the
/// half-open TCB is deleted, the listener carries on (§3.10.7.4 "second").
#[test]
fn rst_in_syn_received_returns_to_listen() {
    let mut s = Stack::new(config(SERVER_ADDR));
    s.listen(PORT, 4).unwrap();
    let peer: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let now = Instant::ZERO;
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1000, 0, Flags::SYN), &[]));
    output(&mut s, now);
    assert_eq!(s.connections().count(), 1);
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1001, 0, Flags::RST), &[]));
    assert_eq!(s.connections().count(), 0);
    assert_eq!(s.next_event(), None, "the application never hears of it");
    // The port still listens.
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 9000, 0, Flags::SYN), &[]));
    assert_eq!(output(&mut s, now)[0].flags(), Flags::SYN | Flags::ACK);
}

/// `unlisten` resets the half-open connections as well as the accepted-but-
/// not-taken ones, and listening again starts afresh. (Found by fuzzing: the
/// ACK of a SYN,ACK sent before `unlisten` completed the handshake against
/// the new listener and took its SYN-queue count below zero; in a release
/// build the count wrapped and the port dropped every SYN after.)
#[test]
fn unlisten_resets_half_open_connections() {
    let mut c = config(SERVER_ADDR);
    c.max_syn_queue = 8;
    let mut s = Stack::new(c);
    s.listen(PORT, 4).unwrap();
    let peer: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let now = Instant::ZERO;
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1000, 0, Flags::SYN), &[]));
    let syn_ack = output(&mut s, now).remove(0);
    assert_eq!(syn_ack.flags(), Flags::SYN | Flags::ACK);
    s.unlisten(now, PORT);
    let rst = output(&mut s, now);
    assert_eq!((rst.len(), rst[0].flags(), rst[0].seq()), (1, Flags::RST, syn_ack.seq() + 1));
    assert_eq!(s.connections().count(), 0);

    s.listen(PORT, 4).unwrap();
    // The peer's ACK of the old SYN,ACK finds no connection (§3.10.7.2).
    s.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1001, syn_ack.seq() + 1, Flags::ACK), &[]));
    assert_eq!(output(&mut s, now)[0].flags(), Flags::RST);
    // The new listener's SYN queue holds max_syn_queue half-open connections, no fewer.
    for port in 0..s.config().max_syn_queue as u16 {
        let peer = std::net::SocketAddr::new(CLIENT_ADDR.into(), 50000 + port);
        s.receive(now, &packet(peer, server_addr(), &seg(50000 + port, PORT, 1000, 0, Flags::SYN), &[]));
    }
    assert_eq!(s.counters().drops.syn_queue_full, 0);
    assert_eq!(s.connections().count(), s.config().max_syn_queue);
}

/// A lost SYN,ACK: the client's retransmitted SYN makes the server send
/// its SYN,ACK again, and a lost SYN is retransmitted after 1 s.
#[test]
fn lost_syn_and_syn_ack_are_retransmitted() {
    let mut net = pair(Faults::default());
    let mut first = [true, true];
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| seg.has(Flags::SYN) && std::mem::take(&mut first[0])));
    net.host_mut(CLIENT).drop_if = Some(Box::new(move |seg| seg.has(Flags::SYN) && std::mem::take(&mut first[1])));
    net.capture(true);
    let (_c, _s) = establish(&mut net);
    let segs = captured(&mut net);
    // The first SYN is lost; its retransmission gets a SYN,ACK that is lost
    // too; the server's own retransmission of it completes the handshake.
    assert_eq!(picture(&segs), ["C>S S", "C>S S", "S>C S.", "S>C S.", "C>S ."]);
    let syns: Vec<_> = segs.iter().filter(|s| s.flags() == Flags::SYN).collect();
    assert_eq!(syns.len(), 2);
    assert_eq!(syns[1].at - syns[0].at, Duration::from_secs(1), "initial RTO is 1 s (RFC 6298 §2.1)");
    assert_eq!(syns[0].seq(), syns[1].seq(), "the same SYN again");
}

/// Six connections at once on one listening port, as a browser opens them.
#[test]
fn six_connections_on_one_listening_port() {
    let mut net = pair(Faults::default());
    let now = net.now();
    let clients: Vec<_> = (0..6).map(|_| stack(&mut net, CLIENT).connect(now, server_addr()).unwrap()).collect();
    let mut servers = Vec::new();
    run(&mut net, Duration::from_secs(1), |n| {
        while let Some(s) = stack(n, SERVER).accept(PORT) {
            servers.push(s);
        }
        servers.len() == 6
    });
    for (i, &c) in clients.iter().enumerate() {
        let now = net.now();
        stack(&mut net, CLIENT).send(now, c, format!("request {i}").as_bytes()).unwrap();
    }
    let mut got = vec![Vec::new(); 6];
    run(&mut net, Duration::from_secs(1), |n| {
        for (i, &s) in servers.iter().enumerate() {
            got[i].extend(read_all(n, SERVER, s));
        }
        got.iter().all(|g| !g.is_empty())
    });
    let mut got: Vec<String> = got.into_iter().map(|g| String::from_utf8(g).unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..6).map(|i| format!("request {i}")).collect::<Vec<_>>());
}

/// With SYN cookies off, a full SYN queue drops the SYN and counts it; the
/// client's retransmission gets in once there is room.
#[test]
fn full_queues_drop_syns_and_count_them() {
    let mut server = config(SERVER_ADDR);
    server.max_syn_queue = 2;
    server.syn_cookies = false;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    stack(&mut net, SERVER).unlisten(Instant::ZERO, PORT);
    stack(&mut net, SERVER).listen(PORT, 2).unwrap();
    let now = net.now();
    let clients: Vec<_> = (0..4).map(|_| stack(&mut net, CLIENT).connect(now, server_addr()).unwrap()).collect();
    idle(&mut net, Duration::from_millis(100));
    let established = clients.iter().filter(|&&c| stack(&mut net, CLIENT).state(c) == Some(State::Established)).count();
    assert_eq!(established, 2, "backlog 2: two complete, two wait");
    assert_eq!(stack(&mut net, SERVER).counters().drops.syn_queue_full, 2);
    // Accepting makes room; the retransmitted SYNs then get through.
    let mut accepted = 0;
    run(&mut net, Duration::from_secs(5), |n| {
        while stack(n, SERVER).accept(PORT).is_some() {
            accepted += 1;
        }
        accepted == 4
    });
}

/// Handles of deleted connections stay invalid even when the slot is reused.
#[test]
fn stale_handles_are_invalid() {
    let mut net = pair(Faults::default());
    let (c, _s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).abort(now, c);
    let (c2, _) = establish(&mut net);
    assert_ne!(c, c2);
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, b"x"), Err(Error::InvalidSocket));
    assert_eq!(stack(&mut net, CLIENT).send(now, c2, b"x"), Ok(1));
}

/// CLOSE in SYN-SENT: "delete the TCB" — nothing is sent (§3.10.4).
#[test]
fn close_in_syn_sent_deletes_the_connection() {
    let mut net = pair(Faults::default());
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    let now = net.now();
    let c = stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    idle(&mut net, Duration::from_millis(10));
    net.capture(true);
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    assert_eq!(stack(&mut net, CLIENT).state(c), None);
    idle(&mut net, Duration::from_secs(10));
    assert!(captured(&mut net).is_empty(), "no FIN, no more SYNs");
}

/// CLOSE in SYN-RECEIVED (reached by a simultaneous open): the FIN waits
/// until our SYN is acknowledged, then SYN-RECEIVED → ESTABLISHED →
/// FIN-WAIT-1 (§3.10.4).
#[test]
fn close_in_syn_received_sends_fin_after_the_handshake() {
    let mut net = pair(Faults::default());
    let now = net.now();
    let a = stack(&mut net, CLIENT).connect_from(now, 5000, "10.0.0.2:6000".parse().unwrap()).unwrap();
    let b = stack(&mut net, SERVER).connect_from(now, 6000, "10.0.0.1:5000".parse().unwrap()).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(a) == Some(State::SynReceived));
    let now = net.now();
    stack(&mut net, CLIENT).close(now, a);
    assert_eq!(stack(&mut net, CLIENT).state(a), Some(State::SynReceived));
    net.capture(true);
    run(&mut net, Duration::from_secs(5), |n| stack(n, SERVER).state(b) == Some(State::CloseWait));
    let segs = captured(&mut net);
    let syn_acks = segs.iter().filter(|s| s.has(Flags::SYN)).count();
    let first_fin = segs.iter().position(|s| s.has(Flags::FIN)).unwrap();
    assert!(segs[..first_fin].iter().filter(|s| s.has(Flags::SYN)).count() == syn_acks, "no FIN before the SYNs");
}

/// FIN-WAIT-1 → TIME-WAIT in one step: the peer's FIN carries the ACK of
/// ours (§3.10.7.4 "eighth": "If our FIN has been ACKed (perhaps in this
/// segment), then enter TIME-WAIT").
#[test]
fn fin_wait_1_to_time_wait_when_the_fin_acks_ours() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    // The client's application closes the moment it sees the end of stream,
    // so its FIN and the ACK of ours leave together.
    let mut states = Vec::new();
    run(&mut net, Duration::from_secs(1), |n| {
        if ready_of(&events(n, CLIENT), c).contains(Ready::PEER_CLOSED) {
            let now = n.now();
            stack(n, CLIENT).close(now, c);
        }
        states.extend(stack(n, SERVER).connections().map(|i| i.state));
        stack(n, SERVER).time_wait_count() == 1
    });
    assert_eq!(picture(&captured(&mut net))[..2], ["S>C F.", "C>S F."]);
    assert!(!states.contains(&State::FinWait2) && !states.contains(&State::Closing));
}

/// ABORT in LAST-ACK: the peer has closed and heard our FIN, so there is no
/// one to reset — "delete the TCB" without an RST (§3.10.5).
#[test]
fn abort_in_last_ack_sends_no_rst() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::CloseWait));
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true)); // our FIN is never ACKed
    let now = net.now();
    stack(&mut net, SERVER).shutdown(now, s).unwrap();
    idle(&mut net, Duration::from_millis(10));
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::LastAck));
    net.capture(true);
    let now = net.now();
    stack(&mut net, SERVER).abort(now, s);
    idle(&mut net, Duration::from_millis(10));
    assert_eq!(stack(&mut net, SERVER).state(s), None);
    assert!(captured(&mut net).iter().all(|seg| !seg.has(Flags::RST)));
}

/// MUST-23 (§3.8.3): R2 for a SYN must let it be retransmitted for at
/// least 3 minutes. A connect to a host that never answers is still
/// retrying at 180 s of virtual time, and gives up, timed out, at the
/// first retransmission timeout after (the RTO is capped at 60 s).
#[test]
fn an_active_open_retries_its_syn_for_three_minutes() {
    let three_minutes = Instant::from_secs(180);
    let mut s = Stack::new(config(CLIENT_ADDR));
    let c = s.connect(Instant::ZERO, server_addr()).unwrap();
    let mut syns = output(&mut s, Instant::ZERO).len();
    let mut gave_up = None;
    while let Some(at) = s.poll_at() {
        s.poll(at);
        syns += output(&mut s, at).iter().filter(|seg| seg.has(Flags::SYN)).count();
        if at <= three_minutes {
            assert_eq!(s.state(c), Some(State::SynSent), "gave up at {at}, before 3 minutes, after {syns} SYNs");
        } else if s.state(c) == Some(State::Closed) {
            gave_up = Some(at);
            break;
        }
    }
    let gave_up = gave_up.expect("the open attempt never ended");
    assert!(gave_up <= three_minutes + Duration::from_secs(60), "gave up only at {gave_up}");
    // Sent at 0, 1, 3, 7, 15, 31, 63, 123 s; the timeout at 183 s ends it.
    assert_eq!(syns, 8);
    assert_eq!(s.recv(gave_up, c, &mut [0; 4]), Err(Error::TimedOut));
    assert_eq!(s.counters().connections_timed_out, 1);
}
