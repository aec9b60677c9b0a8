//! ICMP errors reaching their connection (RFC 9293 §3.9.2.2, RFC 5927
//! §4.1): a hard error ends a handshake, a soft error never ends a
//! connection but is reported to the application once, an error quoting
//! a sequence number not in flight is ignored, Source Quench is discarded,
//! and a malformed message is dropped and counted. And the report when
//! retransmissions reach R1 (§3.8.3, SHLD-9).

mod common;

use std::net::SocketAddr;

use common::*;
use proptest::prelude::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::state::State;
use stack::time::Duration;
use stack::wire::checksum;
use stack::wire::icmpv4::{
    self, TYPE_DEST_UNREACHABLE as UNREACHABLE, TYPE_PARAMETER_PROBLEM, TYPE_SOURCE_QUENCH, TYPE_TIME_EXCEEDED,
};
use stack::wire::icmpv6;
use stack::wire::ip::{IpRepr, PROTO_ICMP, PROTO_TCP};
use stack::{Config, Error, Ready, SocketHandle};

const PORT_UNREACHABLE: u8 = 3;
const HOST_UNREACHABLE: u8 = 1;

/// The ICMP message (header and quote, checksum made) of `msg_type` and
/// `code` about a segment from `ours` to `theirs` with sequence number `seq`.
fn icmp_message(msg_type: u8, code: u8, ours: SocketAddr, theirs: SocketAddr, seq: u32) -> Vec<u8> {
    let mut m = vec![msg_type, code, 0, 0, 0, 0, 0, 0];
    let mut ip = IpRepr::new(ours.ip(), theirs.ip(), PROTO_TCP, 64, 0);
    ip.set_payload_len(20);
    let mut quote = vec![0u8; ip.header_len()];
    ip.emit(&mut quote);
    quote.extend_from_slice(&ours.port().to_be_bytes());
    quote.extend_from_slice(&theirs.port().to_be_bytes());
    quote.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&quote);
    with_checksum(m)
}

fn with_checksum(mut m: Vec<u8>) -> Vec<u8> {
    m[2..4].fill(0);
    let sum = !checksum::data(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// `message` in an IPv4 packet from `theirs` (the peer, or a router on
/// the way: the stack does not care which) to `ours`.
fn ip_packet(message: &[u8], theirs: SocketAddr, ours: SocketAddr) -> Vec<u8> {
    let mut ip = IpRepr::new(theirs.ip(), ours.ip(), PROTO_ICMP, 64, 0);
    ip.set_payload_len(message.len());
    let mut p = vec![0u8; ip.header_len()];
    ip.emit(&mut p);
    p.extend_from_slice(message);
    p
}

/// Deliver to `i` an ICMP error about the segment of `h` that began at
/// `seq`.
fn icmp_to(net: &mut Network<Node>, i: usize, h: SocketHandle, msg_type: u8, code: u8, seq: u32) {
    let tcb = stack(net, i).tcb(h).unwrap();
    let (ours, theirs) = (tcb.local, tcb.remote);
    let packet = ip_packet(&icmp_message(msg_type, code, ours, theirs, seq), theirs, ours);
    let now = net.now();
    stack(net, i).receive(now, &packet);
}

/// A client whose SYN has left and that nobody answers: SYN-SENT, ISS
/// in flight. Returns the connection and its ISS.
fn syn_sent(client: Config) -> (Network<Node>, SocketHandle, u32) {
    let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    let now = net.now();
    let c = stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    idle(&mut net, Duration::from_millis(10));
    let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
    assert_eq!((tcb.state, tcb.snd.nxt - tcb.snd.una), (State::SynSent, 1), "the SYN is in flight");
    let iss = tcb.snd.iss.0;
    (net, c, iss)
}

/// An established connection with 100 bytes from the client in flight
/// (the server hears nothing more). Returns it and SND.UNA.
fn data_in_flight() -> (Network<Node>, SocketHandle, u32) {
    let mut net = pair(Faults::default());
    let (c, _s) = establish(&mut net);
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &[7; 100]), Ok(100));
    idle(&mut net, Duration::from_millis(5));
    let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
    assert_eq!(tcb.snd.nxt - tcb.snd.una, 100);
    let una = tcb.snd.una.0;
    events(&mut net, CLIENT);
    (net, c, una)
}

fn recv_error(net: &mut Network<Node>, c: SocketHandle) -> Result<usize, Error> {
    let now = net.now();
    stack(net, CLIENT).recv(now, c, &mut [0; 8])
}

/// MUST-54, SHLD-26: a port unreachable about our SYN ends the connect
/// with `Refused`, as an RST would.
#[test]
fn port_unreachable_in_syn_sent_refuses_the_connect() {
    let (mut net, c, iss) = syn_sent(config(CLIENT_ADDR));
    icmp_to(&mut net, CLIENT, c, UNREACHABLE, PORT_UNREACHABLE, iss);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Closed));
    assert_eq!(recv_error(&mut net, c), Err(Error::Refused));
    assert!(ready_of(&events(&mut net, CLIENT), c).contains(Ready::RESET));
    assert_eq!(net.host(CLIENT).stack.counters().icmp_errors, 1);
}

/// RFC 5927 §4.1: an error quoting a sequence number that is not in
/// flight (SND.UNA =< SEQ < SND.NXT), or a 4-tuple of no connection, is
/// forged or stale: ignored, and counted.
#[test]
fn hard_error_quoting_what_is_not_in_flight_is_ignored() {
    let (mut net, c, iss) = syn_sent(config(CLIENT_ADDR));
    for seq in [iss.wrapping_sub(1), iss.wrapping_add(1), iss.wrapping_add(1 << 31)] {
        icmp_to(&mut net, CLIENT, c, UNREACHABLE, PORT_UNREACHABLE, seq);
    }
    let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
    let (ours, theirs) = (tcb.local, tcb.remote);
    let other_port = SocketAddr::new(theirs.ip(), theirs.port() + 1);
    let packet = ip_packet(&icmp_message(UNREACHABLE, PORT_UNREACHABLE, ours, other_port, iss), theirs, ours);
    let now = net.now();
    stack(&mut net, CLIENT).receive(now, &packet);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent));
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), None);
    let counters = net.host(CLIENT).stack.counters();
    assert_eq!((counters.icmp_errors, counters.icmp_errors_ignored), (4, 4));
}

/// The server's address in each family, with the message that says a
/// packet to it was too big: (address, type, code).
fn too_big_reports() -> [(SocketAddr, u8, u8); 2] {
    [
        (SocketAddr::new(SERVER_ADDR.into(), PORT), icmpv4::TYPE_DEST_UNREACHABLE, icmpv4::unreachable::FRAG_NEEDED),
        (SocketAddr::new(SERVER_ADDR6.into(), PORT), icmpv6::TYPE_PACKET_TOO_BIG, 0),
    ]
}

/// A path narrower than our packets (RFC 1191, RFC 8201): ICMP's
/// Fragmentation Needed (our IPv4 packets have DF set) or ICMPv6's Packet
/// Too Big about a segment in flight lowers the MSS to what the path
/// takes, never below the family's floor (576 bytes, 1280) and never back
/// up; one quoting a number not in flight is ignored (RFC 5927 §4.1). The
/// data then goes through in segments that fit.
#[test]
fn path_mtu_errors_lower_the_mss() {
    for (server, msg_type, code) in too_big_reports() {
        let (headers, floor) = if server.is_ipv6() { (60, 1280) } else { (40, 576) };
        let mut net = pair(Faults::default());
        let (c, s) = establish_to(&mut net, server);
        let now = net.now();
        stack(&mut net, SERVER).send(now, s, &pattern(50_000, 3)).unwrap();
        // The MTU goes in the second word: ICMPv6's is all of it, ICMP's
        // its low half.
        let report = |net: &mut Network<Node>, mtu: u32, seq: u32| {
            let (ours, theirs, quote) = quote_of(net, SERVER, s, seq);
            let now = net.now();
            stack(net, SERVER).receive(now, &icmp_packet(theirs, ours, msg_type, code, mtu, &quote));
            stack(net, SERVER).tcb(s).unwrap().snd_mss
        };
        let una = stack(&mut net, SERVER).tcb(s).unwrap().snd.una.0;
        assert_eq!(report(&mut net, 1400, una.wrapping_sub(1000)), 1500 - headers, "{server}: not in flight, ignored");
        assert_eq!(stack(&mut net, SERVER).counters().icmp_errors_ignored, 1);
        stack(&mut net, SERVER).transmit(now, &mut |_| {}); // the data leaves (and is lost)
        assert_eq!(report(&mut net, 1400, una), 1400 - headers, "{server}");
        assert_eq!(report(&mut net, 300, una), floor - headers, "{server}: never below the floor");
        assert_eq!(report(&mut net, 0, una), floor - headers, "{server}: no MTU given, the floor");
        assert_eq!(report(&mut net, 1400, una), floor - headers, "{server}: never raised");
        net.capture(true);
        let mut got = 0;
        run(&mut net, Duration::from_secs(30), |n| {
            got += read_all(n, CLIENT, c).len();
            got == 50_000
        });
        let largest = captured(&mut net).iter().filter(|s| s.is_from_server()).map(|s| s.len).max().unwrap();
        assert!(largest <= floor - headers - 12, "{server}: a segment of {largest} bytes");
    }
}

/// A path narrower than the segments in flight dropped them: once the
/// report lowers the MSS, the quoted segment and those after it go again
/// at once, cut to the new size, with the congestion window as it was (a
/// router's report is no sign of congestion). A second report of the
/// same size resends nothing more.
#[test]
fn a_narrower_path_gets_the_lost_segments_again_at_once() {
    for (server, msg_type, code) in too_big_reports() {
        let headers = if server.is_ipv6() { 60 } else { 40 };
        let mut net = pair(Faults::default());
        let (_, s) = establish_to(&mut net, server);
        let now = net.now();
        stack(&mut net, SERVER).send(now, s, &pattern(20_000, 5)).unwrap();
        let lost = output(stack(&mut net, SERVER), now);
        assert!(lost.len() > 2 && lost.iter().all(|seg| seg.len == 1500 - headers - 12), "{server}: {lost:?}");
        let una = stack(&mut net, SERVER).tcb(s).unwrap().snd.una.0;
        let cwnd = stack(&mut net, SERVER).tcb(s).unwrap().cc.window();
        let (ours, theirs, quote) = quote_of(&mut net, SERVER, s, una);
        let report = icmp_packet(theirs, ours, msg_type, code, 1400, &quote);
        stack(&mut net, SERVER).receive(now, &report);

        let again = output(stack(&mut net, SERVER), now);
        let resent: Vec<_> = again.iter().filter(|seg| seg.len > 0).collect();
        assert_eq!(resent.first().map(|seg| seg.seq()), Some(una), "{server}: the quoted segment first, now");
        assert!(resent.iter().all(|seg| seg.len <= 1400 - headers - 12), "{server}: {resent:?}");
        let lost_bytes: usize = lost.iter().map(|seg| seg.len).sum();
        assert_eq!(resent.iter().map(|seg| seg.len).sum::<usize>(), lost_bytes.min(cwnd), "{server}");
        assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().cc.window(), cwnd, "{server}: cwnd as it was");

        stack(&mut net, SERVER).receive(now, &report);
        assert!(output(stack(&mut net, SERVER), now).is_empty(), "{server}: nothing more for the same size");
    }
}

/// With `icmp_may_abort` off (FreeBSD's icmp_may_rst=0), a hard error in
/// SYN-SENT is only reported.
#[test]
fn hard_error_without_icmp_may_abort_is_soft() {
    let mut client = config(CLIENT_ADDR);
    client.icmp_may_abort = false;
    let (mut net, c, iss) = syn_sent(client);
    icmp_to(&mut net, CLIENT, c, UNREACHABLE, PORT_UNREACHABLE, iss);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent));
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(Error::Refused));
}

/// SHLD-26 for a passive open: a hard error about our SYN,ACK takes the
/// half-open connection out of the SYN queue, as an RST would.
#[test]
fn hard_error_in_syn_received_deletes_the_half_open_connection() {
    let mut net = pair(Faults::default());
    net.host_mut(CLIENT).drop_if = Some(Box::new(|_| true));
    let now = net.now();
    stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    idle(&mut net, Duration::from_millis(10));
    let server = &net.host(SERVER).stack;
    let tcb = server.tcbs().next().expect("a half-open connection");
    assert_eq!(tcb.state, State::SynReceived);
    let (ours, theirs, iss) = (tcb.local, tcb.remote, tcb.snd.iss.0);
    let packet = ip_packet(&icmp_message(UNREACHABLE, PORT_UNREACHABLE, ours, theirs, iss), theirs, ours);
    let now = net.now();
    stack(&mut net, SERVER).receive(now, &packet);
    assert_eq!(net.host(SERVER).stack.tcbs().count(), 0);
}

/// MUST-56, SHLD-25, MUST-47: in ESTABLISHED a soft error leaves the
/// connection as it was, and the application reads it once. A hard error
/// is soft there too (RFC 5927 §7.2).
#[test]
fn soft_error_in_established_is_reported_once() {
    let (mut net, c, una) = data_in_flight();
    icmp_to(&mut net, CLIENT, c, UNREACHABLE, HOST_UNREACHABLE, una);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
    assert_eq!(ready_of(&events(&mut net, CLIENT), c), Ready::SOFT_ERROR);
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(Error::HostUnreachable));
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), None, "read once");

    icmp_to(&mut net, CLIENT, c, UNREACHABLE, PORT_UNREACHABLE, una + 50);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(Error::Refused));
    assert_eq!(recv_error(&mut net, c), Err(Error::WouldBlock), "the connection carries on");
}

/// MUST-56 (Time Exceeded, Parameter Problem): never an end, in SYN-SENT
/// or ESTABLISHED.
#[test]
fn time_exceeded_and_parameter_problem_never_abort() {
    let cases = [(TYPE_TIME_EXCEEDED, 0, Error::HostUnreachable), (TYPE_PARAMETER_PROBLEM, 0, Error::Protocol)];
    for (msg_type, code, error) in cases {
        let (mut net, c, iss) = syn_sent(config(CLIENT_ADDR));
        icmp_to(&mut net, CLIENT, c, msg_type, code, iss);
        assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent));
        assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(error));

        let (mut net, c, una) = data_in_flight();
        icmp_to(&mut net, CLIENT, c, msg_type, code, una);
        assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
        assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(error));
    }
}

/// A SYN that drew a soft error goes on (MUST-56); if it then times out,
/// the connect fails with that error, not `TimedOut` (as BSD and Linux
/// report it).
#[test]
fn timeout_after_a_soft_error_reports_it() {
    let (mut net, c, iss) = syn_sent(config(CLIENT_ADDR));
    icmp_to(&mut net, CLIENT, c, UNREACHABLE, HOST_UNREACHABLE, iss);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent), "MUST-56: the SYN is retried");
    run(&mut net, Duration::from_secs(600), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    assert_eq!(recv_error(&mut net, c), Err(Error::HostUnreachable));
}

/// MUST-55: Source Quench is discarded silently, and counted.
#[test]
fn source_quench_is_discarded_and_counted() {
    let (mut net, c, una) = data_in_flight();
    icmp_to(&mut net, CLIENT, c, TYPE_SOURCE_QUENCH, 0, una);
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
    assert!(events(&mut net, CLIENT).is_empty());
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), None);
    let counters = net.host(CLIENT).stack.counters();
    assert_eq!((counters.icmp_errors, counters.icmp_source_quench), (1, 1));
}

/// A message too short to quote a header and 8 bytes, a quote that is
/// not IPv4, or a bad checksum: dropped and counted, nothing changes.
#[test]
fn malformed_icmp_is_dropped_and_counted() {
    let (mut net, c, iss) = syn_sent(config(CLIENT_ADDR));
    let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
    let (ours, theirs) = (tcb.local, tcb.remote);
    let whole = icmp_message(UNREACHABLE, PORT_UNREACHABLE, ours, theirs, iss);
    let mut bad = vec![];
    for len in [8, 8 + 19, 8 + 27] {
        bad.push(with_checksum(whole[..len].to_vec()));
    }
    let mut long_ihl = whole.clone();
    long_ihl[8] = 0x46; // IHL 6: the 8 bytes after the header are cut
    bad.push(with_checksum(long_ihl));
    let mut v6 = whole.clone();
    v6[8] = 0x65;
    bad.push(with_checksum(v6));
    let mut bad_sum = whole;
    bad_sum[30] ^= 1;
    bad.push(bad_sum);
    for m in &bad {
        let now = net.now();
        stack(&mut net, CLIENT).receive(now, &ip_packet(m, theirs, ours));
    }
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent));
    let counters = net.host(CLIENT).stack.counters();
    assert_eq!((counters.drops.malformed, counters.drops.checksum, counters.icmp_errors), (5, 1, 0));
}

/// SHLD-9, SHLD-10: when retransmissions of a segment reach R1 = 3, the
/// application is told, and the connection keeps trying.
#[test]
fn r1_tells_the_application() {
    let (mut net, c, _) = data_in_flight();
    let mut ready = Ready::empty();
    run(&mut net, Duration::from_secs(60), |n| {
        ready |= ready_of(&events(n, CLIENT), c);
        ready.contains(Ready::SOFT_ERROR)
    });
    let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
    assert_eq!((tcb.state, tcb.retries), (State::Established, 3));
    assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(Error::Retrying));
}

proptest! {
    /// Whatever follows an ICMP error's header, with a good checksum, the
    /// stack never panics and counts the packet once.
    #[test]
    fn any_icmp_error_is_counted_once(
        msg_type in prop_oneof![Just(3u8), Just(4u8), Just(11u8), Just(12u8)],
        code in 0u8..16,
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (mut net, c, _) = syn_sent(config(CLIENT_ADDR));
        let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
        let (ours, theirs) = (tcb.local, tcb.remote);
        let mut m = vec![msg_type, code, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&body);
        let now = net.now();
        stack(&mut net, CLIENT).receive(now, &ip_packet(&with_checksum(m), theirs, ours));
        let k = net.host(CLIENT).stack.counters();
        prop_assert_eq!(k.icmp_errors + k.drops.malformed, 1);
    }
}
