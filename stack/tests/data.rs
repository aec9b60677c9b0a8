//! Data transfer: segmentation, acknowledgment, windows, retransmission and
//! congestion control (RFC 9293 §3.7, §3.8; RFC 5681, 6298, 6582).

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::seq::SeqNum;
use stack::wire::tcp::Flags;
use stack::{Error, Ready, Stack};
use std::net::SocketAddr;

fn data_segments(segs: &[Seg], from_server: bool) -> Vec<&Seg> {
    segs.iter().filter(|s| s.is_from_server() == from_server && s.len > 0).collect()
}

/// Segments never exceed the MSS, and PSH marks the last segment of what
/// the application wrote (§3.7.1, §3.9.1).
#[test]
fn segments_fit_the_mss_and_psh_ends_a_write() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    net.capture(true);
    let data = pattern(100_000, 1);
    assert_eq!(transfer(&mut net, CLIENT, c, SERVER, s, &data), data);
    idle(&mut net, Duration::from_secs(1));
    let segs = captured(&mut net);
    let sent = data_segments(&segs, false);
    assert!(sent.iter().all(|s| s.len <= FULL));
    assert_eq!(sent.iter().filter(|s| s.len == FULL).count(), 100_000 / FULL);
    assert!(sent.last().unwrap().has(Flags::PSH));
    assert!(sent.iter().rev().skip(1).all(|s| !s.has(Flags::PSH)), "one write: one PSH");
}

/// The peer's MSS option is honoured, less the options each segment
/// carries; without one, 536 (§3.7.1, MUST-15).
#[test]
fn the_peers_mss_is_honoured_and_536_without_one() {
    let mut client = config(CLIENT_ADDR);
    client.mtu = 576;
    client.addr6 = None; // too small an MTU for IPv6
    let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
    let (c, s) = establish(&mut net);
    net.capture(true);
    let data = pattern(20_000, 2);
    assert_eq!(transfer(&mut net, SERVER, s, CLIENT, c, &data), data);
    let segs = captured(&mut net);
    assert_eq!(data_segments(&segs, true).iter().map(|s| s.len).max(), Some(536 - 12), "MTU 576, timestamps");

    // A SYN without the option.
    let mut lone = Stack::new(config(SERVER_ADDR));
    lone.listen(PORT, 4).unwrap();
    let peer: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let now = Instant::ZERO;
    lone.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1000, 0, Flags::SYN), &[]));
    let iss = output(&mut lone, now)[0].seq();
    lone.receive(now, &packet(peer, server_addr(), &seg(40000, PORT, 1001, iss.wrapping_add(1), Flags::ACK), &[]));
    let h = lone.accept(PORT).unwrap();
    lone.set_nodelay(h, true); // send the short tail at once, too
    lone.send(now, h, &[7; 3000]).unwrap();
    let out = output(&mut lone, now);
    assert_eq!(out.iter().map(|s| s.len).collect::<Vec<_>>(), [536, 536, 536, 536, 536, 320]);
}

/// One segment is ACKed after the delayed-ACK time, two at once
/// (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
#[test]
fn delayed_ack_waits_for_one_segment_but_not_for_two() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    idle(&mut net, Duration::from_secs(1));
    net.capture(true);
    let t0 = net.now();
    stack(&mut net, CLIENT).send(t0, c, b"one small request").unwrap();
    idle(&mut net, Duration::from_millis(200));
    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S P. len=17", "S>C ."]);
    // Both times are arrivals: 40 ms of delayed ACK plus the 1 ms path.
    assert_eq!(segs[1].at - segs[0].at, Duration::from_millis(41), "the delayed ACK timer");

    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &[1; 2 * FULL]).unwrap();
    idle(&mut net, Duration::from_millis(10));
    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S . len=1448", "C>S P. len=1448", "S>C ."]);
    assert_eq!(segs[2].at - segs[1].at, Duration::from_millis(1), "the second full segment is ACKed at once");
    assert_eq!(read_all(&mut net, SERVER, s).len(), 17 + 2 * FULL);
}

/// Out-of-order data is held and answered with an immediate duplicate ACK;
/// when the gap fills, everything is delivered in order (§3.10.7.4).
#[test]
fn out_of_order_segments_are_held_and_reassembled() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let mut first = true;
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| seg.len > 0 && std::mem::take(&mut first)));
    net.capture(true);
    let data = pattern(5 * FULL, 3);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &data).unwrap();
    idle(&mut net, Duration::from_millis(1));
    assert_eq!(net.host(SERVER).stack.tcb(s).unwrap().recv_queue(), 0, "nothing delivered past a gap");
    idle(&mut net, Duration::from_millis(10));
    let acks: Vec<_> = captured(&mut net).into_iter().filter(|s| s.is_from_server()).collect();
    assert_eq!(acks.len(), 5);
    assert!(
        acks[..4].iter().all(|a| a.ack() == acks[0].ack()),
        "a duplicate ACK for each of the 4 segments after the gap"
    );
    assert_eq!(acks[4].ack().wrapping_sub(acks[0].ack()), data.len() as u32, "the repaired gap ACKs everything");
    run(&mut net, Duration::from_secs(2), |n| n.host(SERVER).stack.tcb(s).unwrap().recv_queue() == data.len());
    assert_eq!(read_all(&mut net, SERVER, s), data);
}

/// Losing one segment in a long transfer is repaired by fast retransmit on
/// three duplicate ACKs, well before the RTO (RFC 5681 §3.2, RFC 6582).
#[test]
fn one_loss_is_repaired_by_fast_retransmit() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let mut n_data = 0;
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| {
        n_data += (seg.len > 0) as u32;
        seg.len > 0 && n_data == 30
    }));
    let data = pattern(300_000, 4);
    let t0 = net.now();
    assert_eq!(transfer(&mut net, CLIENT, c, SERVER, s, &data), data);
    let counters = net.host(CLIENT).stack.counters().clone();
    assert_eq!(counters.retransmissions, 1, "exactly the lost segment");
    assert_eq!(counters.rto_expirations, 0);
    assert!(net.now() - t0 < Duration::from_millis(200), "no RTO waited: {:?}", net.now() - t0);
}

/// The receive window: a reader that does not read closes it; the sender
/// probes with backoff for as long as the receiver answers, without
/// giving up (§3.8.6.1, MUST-26); reading opens the window again.
#[test]
fn zero_window_is_probed_and_may_last_long() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 8192;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let (c, s) = establish(&mut net);
    net.capture(true);
    let data = pattern(20_000, 5);
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &data), Ok(20_000));
    idle(&mut net, Duration::from_secs(600));
    assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established), "ten minutes of zero window is fine");
    let segs = captured(&mut net);
    assert!(segs.iter().any(|s| s.is_from_server() && s.repr.window_len == 0));
    let una = stack(&mut net, CLIENT).tcb(c).unwrap().snd.una;
    let probes: Vec<_> = segs.iter().filter(|s| !s.is_from_server() && s.seq() == (una - 1).0).collect();
    assert!(probes.len() >= 5, "probes: {}", probes.len());
    let gaps: Vec<_> = probes.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "backoff: {gaps:?}");
    assert!(*gaps.last().unwrap() <= Duration::from_secs(60));

    let mut all = Vec::new();
    run(&mut net, Duration::from_secs(120), |n| {
        all.extend(read_all(n, SERVER, s));
        all.len() == data.len()
    });
    assert_eq!(all, data);
}

/// A peer whose window stays shut while it goes on sending to us (its
/// application writes but does not read). A zero-window probe is
/// SND.UNA − 1 with no data, as Linux's (§3.8.6.1), and leaves SND.NXT
/// where it is: every ACK we send after it still sits at the peer's
/// RCV.NXT, the one sequence number a shut window accepts (§3.10.7.4
/// "first"), so the peer hears our ACKs of its data and does not time
/// out, for minutes.
#[test]
fn zero_window_probes_leave_our_acks_acceptable() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 8192;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let (c, s) = establish(&mut net);
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &pattern(20_000, 8)), Ok(20_000));
    idle(&mut net, Duration::from_millis(100));
    let una = stack(&mut net, CLIENT).tcb(c).unwrap().snd.una;
    assert_eq!(stack(&mut net, CLIENT).tcb(c).unwrap().snd.wnd, 0, "the server's window is shut");
    net.capture(true);
    let down = pattern(600_000, 9);
    let (mut sent, mut got) = (0, Vec::new());
    for second in 1..=600 {
        let now = net.now();
        sent += stack(&mut net, SERVER).send(now, s, &down[sent..1000 * second]).unwrap_or(0);
        idle(&mut net, Duration::from_secs(1));
        got.extend(read_all(&mut net, CLIENT, c));
    }
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established), "ten minutes with our window shut");
    assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().send_queue(), 0, "the server's data all acknowledged");
    assert_eq!(got, down);
    let segs = captured(&mut net);
    let ours: Vec<_> = segs.iter().filter(|s| !s.is_from_server()).map(|s| (s.seq(), s.len)).collect();
    let probes = ours.iter().filter(|&&(seq, _)| seq == (una - 1).0).count();
    assert!(probes >= 5, "probes: {probes}");
    assert!(ours.iter().all(|&(seq, len)| len == 0 && (seq == una.0 || seq == (una - 1).0)), "{ours:?}");
}

/// A peer that vanishes while its window is shut: the connection stays
/// open only as long as the probes are answered (§3.8.6.1, MUST-37);
/// unanswered, each counts as a retry, and after `max_retries` of them
/// the connection is aborted and the application told (§3.8.3).
#[test]
fn unanswered_zero_window_probes_give_up() {
    let mut client = config(CLIENT_ADDR);
    client.max_retries = 5;
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 8192;
    let mut net = pair_with(Faults::default(), client, server);
    let (c, _s) = establish(&mut net);
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &pattern(20_000, 10)), Ok(20_000));
    idle(&mut net, Duration::from_millis(100));
    assert_eq!(stack(&mut net, CLIENT).tcb(c).unwrap().snd.wnd, 0, "the server's window is shut");
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    run(&mut net, Duration::from_secs(600), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut [0; 8]), Err(Error::TimedOut));
    assert_eq!(net.host(CLIENT).stack.counters().connections_timed_out, 1);
}

/// ABORT of a connection whose peer keeps its window shut, after our window
/// probes: the RST must sit inside its window (here exactly RCV.NXT), or
/// the peer drops it and never learns the connection is gone.
#[test]
fn abort_reaches_a_peer_with_a_zero_window() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 8192;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let (c, s) = establish(&mut net);
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &pattern(20_000, 7)), Ok(20_000));
    idle(&mut net, Duration::from_secs(10));
    let tcb = stack(&mut net, CLIENT).tcb(c).unwrap();
    assert_eq!((tcb.snd.wnd, tcb.snd.nxt), (0, tcb.snd.una), "probed, nothing past the window");
    let now = net.now();
    stack(&mut net, CLIENT).abort(now, c);
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::Closed));
    assert!(ready_of(&events(&mut net, SERVER), s).contains(Ready::RESET));
}

/// The right edge of the receive window (SEG.ACK + SEG.WND) never moves
/// left, whatever the reader does (§3.8.6, "should not be reduced"). With a
/// window scale of 14 the field carries windows in 16 KiB units, and an
/// edge it cannot express is announced less than a unit short (RFC 7323
/// §2.4) while the furthest is still honoured: the data arrives intact and
/// the buffer never holds more than its size.
#[test]
fn the_right_edge_of_the_window_never_moves_left() {
    for (bound, initial) in [(20_000, 20_000), (1 << 30, 100_000)] {
        let mut server = config(SERVER_ADDR);
        server.recv_buffer = bound;
        server.recv_buffer_initial = initial;
        let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
        let (c, s) = establish(&mut net);
        net.capture(true);
        let data = pattern(200_000, 6);
        let mut sent = 0;
        let mut got = 0;
        // A reader that wakes every millisecond and reads an odd amount.
        for turn in 0.. {
            assert!(turn < 100_000, "transfer stalled");
            idle(&mut net, Duration::from_millis(1));
            let now = net.now();
            if let Ok(k) = stack(&mut net, CLIENT).send(now, c, &data[sent..]) {
                sent += k;
            }
            let mut buf = vec![0; (turn * 997) % 3000];
            if let Ok(k) = stack(&mut net, SERVER).recv(now, s, &mut buf) {
                got += k;
            }
            invariants(&net.host(SERVER).stack).unwrap();
            if got == data.len() {
                break;
            }
        }
        let shift = stack(&mut net, SERVER).tcb(s).unwrap().options.rcv_shift();
        assert_eq!(shift, if bound == 20_000 { 0 } else { 14 });
        let edges: Vec<SeqNum> = captured(&mut net)
            .iter()
            .filter(|s| s.is_from_server() && s.has(Flags::ACK))
            .map(|s| SeqNum(s.ack()) + (usize::from(s.repr.window_len) << shift))
            .collect();
        let unit = 1 << shift;
        assert!(edges.windows(2).all(|w| w[1] + unit > w[0]), "right edge moved left (shift {shift})");
    }
}

/// A peer that vanishes: after a loss probe (RFC 8985 §7) and a bounded
/// number of retransmissions with exponential backoff the connection is
/// aborted and the application told (§3.8.3, RFC 6298 §5.5).
#[test]
fn retransmissions_give_up_and_tell_the_application() {
    let mut client = config(CLIENT_ADDR);
    client.max_retries = 5;
    let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
    let (c, _s) = establish(&mut net);
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    net.capture(true);
    let t0 = net.now();
    stack(&mut net, CLIENT).send(t0, c, b"anyone there?").unwrap();
    run(&mut net, Duration::from_secs(600), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    let sends: Vec<_> = captured(&mut net).into_iter().filter(|s| s.len > 0).map(|s| s.at).collect();
    assert_eq!(sends.len(), 7, "the first send, a loss probe and 5 retransmissions");
    let gaps: Vec<_> = sends.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert!(gaps[0] <= gaps[1], "the probe comes no later than the timeout would: {gaps:?}");
    assert!(gaps[1..].windows(2).all(|g| g[1] == 2 * g[0]), "each wait doubles: {gaps:?}");
    assert_eq!(net.host(CLIENT).stack.counters().tlp_probes, 1);
    assert!(ready_of(&events(&mut net, CLIENT), c).contains(Ready::RESET));
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut [0; 8]), Err(Error::TimedOut));
    assert_eq!(net.host(CLIENT).stack.counters().connections_timed_out, 1);
    assert_eq!(net.host(CLIENT).stack.counters().rto_expirations, 6, "5 retransmissions, then the 6th expiry gives up");
}

/// MUST-21: the application sets R2 for a connection, as a time (the user
/// timeout of §3.9.1). With the peer gone silent, the connection ends that
/// long after the data it waits on left: not after the two retransmission
/// timeouts `max_retries` allows (1.6 s here), nor at the first timeout
/// past the deadline, but at 10 s exactly. While the peer acknowledges, it
/// never runs out.
#[test]
fn the_user_timeout_ends_a_connection_at_the_set_time() {
    let mut client = config(CLIENT_ADDR);
    client.max_retries = 2;
    let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).set_user_timeout(now, c, Duration::from_secs(10));
    for _ in 0..3 {
        // Acknowledged data, 8 s apart: each ACK restarts the clock.
        transfer(&mut net, CLIENT, c, SERVER, s, &pattern(5000, 1));
        idle(&mut net, Duration::from_secs(8));
    }
    net.host_mut(SERVER).drop_if = Some(Box::new(|_| true));
    let t0 = net.now();
    stack(&mut net, CLIENT).send(t0, c, b"anyone there?").unwrap();
    run(&mut net, Duration::from_secs(600), |n| stack(n, CLIENT).state(c) == Some(State::Closed));
    let now = net.now();
    assert_eq!(now - t0, Duration::from_secs(10));
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut [0; 8]), Err(Error::TimedOut));
    assert_eq!(net.host(CLIENT).stack.counters().connections_timed_out, 1);
}

/// `send` takes what fits and says how much; a full buffer would block, and
/// WRITABLE comes once ACKs make room (back-pressure, bounded memory).
#[test]
fn send_takes_what_fits_and_writable_follows() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let capacity = stack(&mut net, CLIENT).config().send_buffer;
    let now = net.now();
    let big = vec![9u8; capacity + 1000];
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &big), Ok(capacity));
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &big), Err(Error::WouldBlock));
    events(&mut net, CLIENT);
    let mut writable = false;
    run(&mut net, Duration::from_secs(10), |n| {
        read_all(n, SERVER, s);
        writable |= ready_of(&events(n, CLIENT), c).contains(Ready::WRITABLE);
        writable
    });
    assert!(stack(&mut net, CLIENT).send_capacity(c) > 0);
}

/// RTT estimation follows the path: with 50 ms each way, SRTT settles near
/// 100 ms and the RTO stays above it (RFC 6298).
#[test]
fn rtt_is_measured_on_the_path() {
    let mut net = pair(Faults { delay: Duration::from_millis(50), ..Faults::default() });
    net.set_path_faults(CLIENT, SERVER, Faults { delay: Duration::from_millis(50), ..Faults::default() });
    net.set_path_faults(SERVER, CLIENT, Faults { delay: Duration::from_millis(50), ..Faults::default() });
    let (c, s) = establish(&mut net);
    let data = pattern(200_000, 7);
    assert_eq!(transfer(&mut net, CLIENT, c, SERVER, s, &data), data);
    let info = stack(&mut net, CLIENT).connections().next().unwrap();
    let srtt = info.srtt.unwrap();
    assert!(srtt >= Duration::from_millis(100) && srtt < Duration::from_millis(160), "srtt {srtt:?}");
    assert!(info.rto >= srtt);
}

/// A segment's payload may wrap around the end of the send buffer, at an odd
/// byte too. It then leaves in two pieces, and the checksum must add the
/// second one's bytes to the other halves of the 16-bit words (RFC 1071 §2
/// (B), `checksum::parts`). An odd-sized send buffer puts the wrap at odd
/// offsets.
#[test]
fn payload_wrapping_the_send_buffer_at_an_odd_byte_keeps_its_checksum() {
    let mut client = config(CLIENT_ADDR);
    client.send_buffer = 10_001;
    let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
    let (c, s) = establish(&mut net);
    let data = pattern(200_001, 3);
    assert_eq!(transfer(&mut net, CLIENT, c, SERVER, s, &data), data);
    assert_eq!(stack(&mut net, SERVER).counters().drops.checksum, 0);
}

/// A lone client in SYN-SENT: the stack, the handle, its address and port,
/// and the SYN it sent.
fn syn_sent(now: Instant) -> (Stack, stack::SocketHandle, std::net::SocketAddr, Seg) {
    let mut s = Stack::new(config(CLIENT_ADDR));
    let h = s.connect(now, server_addr()).unwrap();
    let syn = output(&mut s, now).remove(0);
    let local = s.tcb(h).unwrap().local;
    (s, h, local, syn)
}

/// §3.10.7.3: text and a FIN on the SYN,ACK are processed as in ESTABLISHED
/// ("continue processing at the sixth step"): the data is delivered, the
/// FIN takes the connection to CLOSE-WAIT, and the ACK covers both.
#[test]
fn text_and_fin_on_a_syn_ack_are_delivered() {
    let now = Instant::from_secs(1);
    let (mut s, h, local, syn) = syn_sent(now);
    let irs = 5000;
    let syn_ack = seg(PORT, local.port(), irs, syn.seq() + 1, Flags::SYN | Flags::ACK | Flags::FIN);
    s.receive(now, &packet(server_addr(), local, &syn_ack, b"abc"));
    let out = output(&mut s, now);
    assert_eq!(out.iter().map(|o| (o.flags(), o.ack())).collect::<Vec<_>>(), [(Flags::ACK, irs + 5)]);
    assert_eq!(s.state(h), Some(State::CloseWait));
    let mut buf = [0; 8];
    assert_eq!(s.recv(now, h, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(s.recv(now, h, &mut buf), Ok(0));
}

/// §3.10.7.3: text and a FIN on a simultaneous open's SYN are queued "for
/// processing after the ESTABLISHED state has been reached": the SYN,ACK
/// acknowledges the SYN alone, nothing is readable in SYN-RECEIVED, and
/// the ACK of our SYN,ACK delivers the data and the FIN.
#[test]
fn text_and_fin_on_a_simultaneous_syn_wait_for_established() {
    let now = Instant::from_secs(1);
    let (mut s, h, local, syn) = syn_sent(now);
    let irs = 5000;
    s.receive(now, &packet(server_addr(), local, &seg(PORT, local.port(), irs, 0, Flags::SYN | Flags::FIN), b"abc"));
    let out = output(&mut s, now);
    assert_eq!(out.iter().map(|o| (o.flags(), o.ack())).collect::<Vec<_>>(), [(Flags::SYN | Flags::ACK, irs + 1)]);
    assert_eq!(s.state(h), Some(State::SynReceived));
    let mut buf = [0; 8];
    assert!(!matches!(s.recv(now, h, &mut buf), Ok(n) if n > 0), "readable in SYN-RECEIVED");

    s.receive(now, &packet(server_addr(), local, &seg(PORT, local.port(), irs + 5, syn.seq() + 1, Flags::ACK), &[]));
    assert_eq!(s.state(h), Some(State::CloseWait));
    assert_eq!(s.recv(now, h, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(s.recv(now, h, &mut buf), Ok(0));
    let out = output(&mut s, now);
    assert_eq!(out.iter().map(|o| (o.flags(), o.ack())).collect::<Vec<_>>(), [(Flags::ACK, irs + 5)]);
}

/// MUST-49, MUST-48, SHLD-21, SHLD-22: the TTL and the TOS byte (the
/// Differentiated Services field) of a connection's segments are the
/// application's: from the Config until it sets its own, changed during
/// the connection from the next segment on, and sent as given, as the
/// bytes on the wire show. Each direction has its own.
#[test]
fn the_application_sets_ttl_and_tos_for_each_connection() {
    let mut client = config(CLIENT_ADDR);
    (client.ttl, client.tos) = (33, 0x10);
    let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
    net.capture(true);
    // (ttl, tos) of the packets each side sent since the last look.
    let sent = |net: &mut stack::link::sim::Network<Node>| {
        let mut by = [Vec::new(), Vec::new()];
        for d in net.take_captured() {
            by[1 - d.to].push((d.packet[8], d.packet[1]));
        }
        by.map(|mut v| {
            v.dedup();
            v
        })
    };
    let (c, s) = establish(&mut net);
    assert_eq!(sent(&mut net), [vec![(33, 0x10)], vec![(64, 0)]], "the Config's, then the default");
    stack(&mut net, CLIENT).set_tos(c, 0xb8); // DSCP EF (46), ECN bits 0
    stack(&mut net, CLIENT).set_ttl(c, 7);
    stack(&mut net, SERVER).set_tos(s, 0x29); // DSCP AF11 (10), ECN bits 1: passed as given
    transfer_both_ways(&mut net, c, s, 20_000);
    assert_eq!(sent(&mut net), [vec![(7, 0xb8)], vec![(64, 0x29)]]);
    let now = net.now();
    stack(&mut net, CLIENT).abort(now, c);
    idle(&mut net, Duration::from_millis(10));
    assert_eq!(sent(&mut net), [vec![(7, 0xb8)], vec![]], "the RST of ABORT too");
}

/// MSG_PEEK: `peek` shows what `recv` will return, and takes nothing.
#[test]
fn peek_leaves_the_data_to_be_read() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"hello, world").unwrap();
    idle(&mut net, Duration::from_millis(100));
    let mut buf = [0u8; 5];
    assert_eq!(stack(&mut net, SERVER).peek(s, &mut buf), Ok(5));
    assert_eq!(&buf, b"hello");
    assert_eq!(stack(&mut net, SERVER).peek(s, &mut buf), Ok(5), "a second peek sees the same");
    assert_eq!(read_all(&mut net, SERVER, s), b"hello, world");
    assert_eq!(stack(&mut net, SERVER).peek(s, &mut buf), Err(Error::WouldBlock));
}

/// SHUT_RD: what was buffered and what arrives later is discarded but
/// acknowledged, reads return end of file, and the other direction
/// carries on.
#[test]
fn shutdown_read_discards_what_arrives_and_sending_goes_on() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &pattern(3000, 1)).unwrap();
    idle(&mut net, Duration::from_millis(100));
    let now = net.now();
    stack(&mut net, SERVER).shutdown_read(now, s).unwrap();
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Ok(0));
    // Later data is ACKed (the client's send buffer empties) and dropped.
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &pattern(100_000, 2)).unwrap();
    run(&mut net, Duration::from_secs(10), |n| stack(n, CLIENT).send_queue(c) == 0);
    assert_eq!(stack(&mut net, CLIENT).send_queue(c), 0);
    assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().recv_queue(), 0);
    let now = net.now();
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Ok(0));
    // The server still sends.
    assert_eq!(transfer(&mut net, SERVER, s, CLIENT, c, &pattern(20_000, 3)), pattern(20_000, 3));
}

/// TCP_NOOPT: the SYN carries no options, not even the MSS, so none is in
/// force and the server sends segments of 536 bytes (§3.7.1); once the SYN
/// has left, the call changes nothing.
#[test]
fn a_syn_without_options_agrees_on_none() {
    let mut net = pair(Faults::default());
    net.capture(true);
    let now = net.now();
    let c = stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    assert!(stack(&mut net, CLIENT).set_no_options(c));
    let mut s = None;
    run(&mut net, Duration::from_secs(5), |n| {
        s = s.or_else(|| stack(n, SERVER).accept(PORT));
        s.is_some()
    });
    let s = s.unwrap();
    let syn = captured(&mut net).into_iter().find(|seg| seg.flags() == Flags::SYN).unwrap();
    assert_eq!(syn.repr.options, Default::default(), "the SYN carries options");
    assert!(!stack(&mut net, CLIENT).set_no_options(c), "too late: the SYN has left");
    let server = stack(&mut net, SERVER).tcb(s).unwrap();
    assert!(server.options.window_scale.is_none() && !server.options.timestamps && !server.options.sack_permitted);
    assert_eq!(server.snd_mss, 536);
    assert_eq!(transfer(&mut net, SERVER, s, CLIENT, c, &pattern(5000, 1)), pattern(5000, 1));
    let largest = captured(&mut net).iter().filter(|seg| seg.is_from_server()).map(|seg| seg.len).max();
    assert_eq!(largest, Some(536));
}
