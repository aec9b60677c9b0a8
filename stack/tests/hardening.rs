//! What a hostile network can do, and what it cannot: blind attacks met by
//! challenge ACKs under a budget (RFC 5961), SYN floods met by SYN cookies
//! (RFC 4987), TIME-WAIT that an RST cannot end (RFC 1337), and every table
//! a peer can fill bounded and counted.
//!
//! The attacker's segments are forged: built by hand and fed straight to
//! the server, which answers at once; what it sends is taken off its link.

mod common;

use std::net::SocketAddr;

use common::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::tcp::{Flags, TcpRepr};
use stack::{Config, Error, Event, SocketHandle, Stack};

/// Feed the server one forged segment from `from` and take what it sends
/// in answer.
fn forge(s: &mut Stack, now: Instant, from: SocketAddr, repr: &TcpRepr, payload: &[u8]) -> Vec<Seg> {
    s.receive(now, &packet(from, SocketAddr::new(SERVER_ADDR.into(), repr.dst_port), repr, payload));
    output(s, now)
}

/// An idle connection: the network, the client's and the server's handles,
/// and the client's address and port (what a blind attacker must guess).
/// The client offers no timestamps: with them, a forged segment would have
/// to carry one too, or be dropped unseen (RFC 7323 §3.2).
fn connection(server: Config) -> (Network<Node>, SocketHandle, SocketHandle, SocketAddr) {
    let mut client = config(CLIENT_ADDR);
    client.timestamps = false;
    let mut net = pair_with(Faults::default(), client, server);
    let (c, s) = establish(&mut net);
    idle(&mut net, Duration::from_secs(1));
    let client = stack(&mut net, CLIENT).tcb(c).unwrap().local;
    (net, c, s, client)
}

/// The server's (RCV.NXT, SND.NXT) for `s`.
fn rcv_snd(net: &mut Network<Node>, s: SocketHandle) -> (u32, u32) {
    let t = stack(net, SERVER).tcb(s).unwrap();
    (t.rcv.nxt.0, t.snd.nxt.0)
}

/// Asserts that `out` is exactly one challenge ACK, <SEQ=SND.NXT><ACK=RCV.NXT>.
fn assert_challenge_ack(out: &[Seg], rcv_nxt: u32, snd_nxt: u32, what: &str) {
    let got: Vec<_> = out.iter().map(|s| (s.flags(), s.seq(), s.ack(), s.len)).collect();
    assert_eq!(got, [(Flags::ACK, snd_nxt, rcv_nxt, 0)], "{what}: want one challenge ACK");
}

// ----------------------------------------------------------------------
// RFC 5961: blind RST, SYN and data injection
// ----------------------------------------------------------------------

/// §3: an RST in the window but not exactly at RCV.NXT is answered with a
/// challenge ACK and the connection lives on, carrying data both ways.
#[test]
fn rst_in_the_window_but_not_at_rcv_nxt_gets_a_challenge_ack() {
    let (mut net, c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    for offset in [1, 100, 60_000] {
        let out = forge(
            stack(&mut net, SERVER),
            now,
            client,
            &seg(client.port(), PORT, rcv_nxt + offset, 0, Flags::RST),
            &[],
        );
        assert_challenge_ack(&out, rcv_nxt, snd_nxt, &format!("RST at RCV.NXT + {offset}"));
    }
    let counters = stack(&mut net, SERVER).counters().clone();
    assert_eq!((counters.challenge_acks, counters.rsts_received), (3, 0));
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));
    transfer_both_ways(&mut net, c, s, 20_000);
}

/// §3: an RST exactly at RCV.NXT resets the connection, and the
/// application hears of it.
#[test]
fn rst_exactly_at_rcv_nxt_resets() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, _) = rcv_snd(&mut net, s);
    let now = net.now();
    let out = forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, rcv_nxt, 0, Flags::RST), &[]);
    assert!(out.is_empty(), "an RST is never answered: {out:?}");
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Closed));
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Err(Error::Reset));
    assert_eq!(stack(&mut net, SERVER).counters().rsts_received, 1);
}

/// An RST in LAST-ACK closes the connection, and the application, which
/// still holds the socket after `shutdown`, hears of it: the peer may not
/// have had all our data.
#[test]
fn rst_in_last_ack_is_reported() {
    let (mut net, c, s, client) = connection(config(SERVER_ADDR));
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    run(&mut net, Duration::from_secs(5), |n| stack(n, SERVER).state(s) == Some(State::CloseWait));
    let now = net.now();
    stack(&mut net, SERVER).shutdown(now, s).unwrap();
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::LastAck));
    let (rcv_nxt, _) = rcv_snd(&mut net, s);
    forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, rcv_nxt, 0, Flags::RST), &[]);
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Closed));
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Err(Error::Reset));
}

/// An RST outside the window is dropped without an answer (§3.10.7.4
/// "first": "if the RST bit is set, drop the segment and return").
#[test]
fn rst_outside_the_window_is_dropped_silently() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, _) = rcv_snd(&mut net, s);
    let now = net.now();
    for seq in [rcv_nxt.wrapping_sub(1), rcv_nxt + 70_000, rcv_nxt + (1 << 30)] {
        let out = forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, seq, 0, Flags::RST), &[]);
        assert!(out.is_empty(), "RST at {seq}: answered {out:?}");
    }
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));
    assert_eq!(stack(&mut net, SERVER).counters().challenge_acks, 0);
}

/// The window is the whole receive buffer, 64 KiB rounded up to whole
/// segments (45 of 1460 bytes: 65700), even where the field can say only
/// 65535 (no window scaling): an RST at its last sequence number is in the
/// window, and challenged; one past it is dropped.
#[test]
fn the_window_is_the_buffer_rounded_to_whole_segments_whatever_the_field_says() {
    let (mut net, _c, s, client) = connection(Config { window_scaling: false, ..config(SERVER_ADDR) });
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let tcb = stack(&mut net, SERVER).tcb(s).unwrap();
    assert_eq!((tcb.rcv_buf.size, tcb.rcv.wnd()), (45 * 1460, 45 * 1460));
    let now = net.now();
    let rst = |seq| seg(client.port(), PORT, seq, 0, Flags::RST);
    let out = forge(stack(&mut net, SERVER), now, client, &rst(rcv_nxt + 65_699), &[]);
    assert_challenge_ack(&out, rcv_nxt, snd_nxt, "RST at RCV.NXT + 65699");
    assert_eq!(out[0].repr.window_len, 65535, "the field says what it can");
    let out = forge(stack(&mut net, SERVER), now, client, &rst(rcv_nxt + 65_700), &[]);
    assert!(out.is_empty(), "RST past the window: answered {out:?}");
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));
}

/// §4: a SYN in a synchronized state, whatever its sequence number, gets a
/// challenge ACK instead of the reset RFC 793 sent; the connection lives.
#[test]
fn syn_on_an_established_connection_gets_a_challenge_ack() {
    let (mut net, c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    for seq in [rcv_nxt, rcv_nxt + 1000, rcv_nxt.wrapping_sub(1000), rcv_nxt + (1 << 30)] {
        let out = forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, seq, 0, Flags::SYN), &[]);
        assert_challenge_ack(&out, rcv_nxt, snd_nxt, &format!("SYN at {seq}"));
    }
    assert_eq!(stack(&mut net, SERVER).counters().challenge_acks, 4);
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));
    transfer_both_ways(&mut net, c, s, 20_000);
}

/// `Config::rst_challenge` off: RFC 793's rule, which RFC 9293 §3.10.7.4
/// still describes: any RST in the window resets; outside it, nothing.
#[test]
fn without_rfc_5961_an_rst_anywhere_in_the_window_resets() {
    let mut server = config(SERVER_ADDR);
    server.rst_challenge = false;
    let (mut net, _c, s, client) = connection(server);
    let (rcv_nxt, _) = rcv_snd(&mut net, s);
    let now = net.now();
    let outside = seg(client.port(), PORT, rcv_nxt.wrapping_sub(1), 0, Flags::RST);
    assert!(forge(stack(&mut net, SERVER), now, client, &outside, &[]).is_empty());
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));
    let inside = seg(client.port(), PORT, rcv_nxt + 100, 0, Flags::RST);
    assert!(forge(stack(&mut net, SERVER), now, client, &inside, &[]).is_empty());
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Err(Error::Reset));
    assert_eq!(stack(&mut net, SERVER).counters().challenge_acks, 0);
}

/// `Config::syn_challenge` off: RFC 793's rule. A SYN outside the window
/// gets the ACK any unacceptable segment gets; one in it resets the
/// connection, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>.
#[test]
fn without_rfc_5961_a_syn_in_the_window_resets() {
    let mut server = config(SERVER_ADDR);
    server.syn_challenge = false;
    let (mut net, _c, s, client) = connection(server);
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    let outside = seg(client.port(), PORT, rcv_nxt.wrapping_sub(1000), 0, Flags::SYN);
    let out = forge(stack(&mut net, SERVER), now, client, &outside, &[]);
    assert_challenge_ack(&out, rcv_nxt, snd_nxt, "SYN before the window");
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));
    let inside = seg(client.port(), PORT, rcv_nxt + 1000, 0, Flags::SYN);
    let out = forge(stack(&mut net, SERVER), now, client, &inside, &[]);
    let got: Vec<_> = out.iter().map(|s| (s.flags(), s.seq(), s.ack())).collect();
    assert_eq!(got, [(Flags::RST | Flags::ACK, snd_nxt, rcv_nxt)]);
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Err(Error::Reset));
    assert_eq!(stack(&mut net, SERVER).counters().challenge_acks, 0);
}

/// `Config::syn_challenge` off, in TIME-WAIT: a SYN in the window resets
/// the entry, and an application that still holds the socket (it shut
/// down, did not close) reads ECONNRESET.
#[test]
fn without_rfc_5961_a_syn_in_the_window_resets_time_wait() {
    let mut server = config(SERVER_ADDR);
    server.syn_challenge = false;
    let (mut net, c, s, client) = connection(server);
    server_time_wait_held(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    let syn = seg(client.port(), PORT, rcv_nxt + 10, 0, Flags::SYN);
    let out = forge(stack(&mut net, SERVER), now, client, &syn, &[]);
    let got: Vec<_> = out.iter().map(|s| (s.flags(), s.seq(), s.ack())).collect();
    assert_eq!(got, [(Flags::RST | Flags::ACK, snd_nxt, rcv_nxt)]);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Err(Error::Reset));
}

/// `Config::drop_syn_fin`: a SYN,FIN at a listening port opens nothing and
/// gets no answer; by default it is taken as a SYN (RFC 9293 allows it).
#[test]
fn a_syn_fin_at_a_listening_port_is_dropped_if_so_configured() {
    for drop in [false, true] {
        let mut server = config(SERVER_ADDR);
        server.drop_syn_fin = drop;
        let mut s = Stack::new(server);
        s.listen(PORT, 8).unwrap();
        let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
        let out = forge(&mut s, Instant::ZERO, from, &seg(40000, PORT, 1000, 0, Flags::SYN | Flags::FIN), &[]);
        let flags: Vec<_> = out.iter().map(|s| s.flags()).collect();
        if drop {
            assert!(flags.is_empty(), "{flags:?}");
        } else {
            assert_eq!(flags, [Flags::SYN | Flags::ACK]);
        }
    }
}

/// §5: data whose ACK lies outside [SND.UNA − MAX.SND.WND, SND.NXT] is
/// dropped with a challenge ACK: its data is not taken and nothing moves.
/// Just inside the range it is an old duplicate ACK, and its data is taken.
#[test]
fn data_with_an_ack_outside_the_acceptable_range_is_dropped_with_an_ack() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let max_snd_wnd = stack(&mut net, SERVER).tcb(s).unwrap().snd.max_wnd as u32;
    let oldest = snd_nxt.wrapping_sub(max_snd_wnd); // SND.UNA = SND.NXT here
    let now = net.now();
    for (ack, what) in [(snd_nxt + 1, "ahead of SND.NXT"), (snd_nxt + 100_000, "far ahead"), (oldest - 1, "too old")] {
        let data = seg(client.port(), PORT, rcv_nxt, ack, Flags::ACK | Flags::PSH);
        let out = forge(stack(&mut net, SERVER), now, client, &data, b"injected");
        assert_challenge_ack(&out, rcv_nxt, snd_nxt, what);
        let t = stack(&mut net, SERVER).tcb(s).unwrap();
        assert_eq!((t.rcv.nxt.0, t.snd.una.0, t.recv_queue()), (rcv_nxt, snd_nxt, 0), "{what}: state moved");
    }
    assert_eq!(stack(&mut net, SERVER).counters().challenge_acks, 3);
    let data = seg(client.port(), PORT, rcv_nxt, oldest, Flags::ACK | Flags::PSH);
    forge(stack(&mut net, SERVER), now, client, &data, b"accepted");
    assert_eq!(read_all(&mut net, SERVER, s), b"accepted");
}

/// §7: challenge ACKs come out of one budget for the whole stack, of
/// between half and one and a half times the limit per second; the rest are
/// counted, and the next second brings a new budget.
#[test]
fn challenge_acks_are_limited_per_second_across_the_stack() {
    let mut server = config(SERVER_ADDR);
    server.challenge_ack_limit = 10;
    let (mut net, _c1, s1, client1) = connection(server);
    let (c2, s2) = establish(&mut net);
    let client2 = stack(&mut net, CLIENT).tcb(c2).unwrap().local;
    idle(&mut net, Duration::from_secs(1));
    let start = Instant::from_secs(net.now().total_micros() / 1_000_000 + 1);
    let mut acks = 0;
    for i in 0..100 {
        let (s, client) = if i % 2 == 0 { (s1, client1) } else { (s2, client2) };
        let (rcv_nxt, _) = rcv_snd(&mut net, s);
        let rst = seg(client.port(), PORT, rcv_nxt + 10, 0, Flags::RST);
        acks += forge(stack(&mut net, SERVER), start + Duration::from_millis(i), client, &rst, &[]).len() as u64;
    }
    let counters = stack(&mut net, SERVER).counters().clone();
    assert!((5..15).contains(&acks), "{acks} challenge ACKs in one second, limit 10");
    assert_eq!((counters.challenge_acks, counters.challenge_acks_limited), (acks, 100 - acks));
    // A second later there is a budget again.
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s1);
    let rst = seg(client1.port(), PORT, rcv_nxt + 10, 0, Flags::RST);
    let out = forge(stack(&mut net, SERVER), start + Duration::from_secs(1), client1, &rst, &[]);
    assert_challenge_ack(&out, rcv_nxt, snd_nxt, "the next second");
    assert_eq!([s1, s2].map(|s| stack(&mut net, SERVER).state(s)), [Some(State::Established); 2]);
}

/// A segment from our own address and port to itself (the LAND attack, or
/// our own segment looped back) is dropped and counted, never answered:
/// answering it would be talking to ourselves, ACK after ACK.
#[test]
fn segments_from_our_own_address_and_port_are_dropped() {
    let mut s = Stack::new(config(SERVER_ADDR));
    s.listen(PORT, 4).unwrap();
    let now = Instant::ZERO;
    let out = forge(&mut s, now, server_addr(), &seg(PORT, PORT, 1000, 0, Flags::SYN), &[]);
    assert!(out.is_empty(), "answered {out:?}");
    assert_eq!((s.connections().count(), s.counters().drops.land), (0, 1));
}

// ----------------------------------------------------------------------
// RFC 1337: TIME-WAIT assassination
// ----------------------------------------------------------------------

/// An RST, even one exactly at the right sequence number, does not end
/// TIME-WAIT early: the entry stays, still answers a retransmitted FIN,
/// and goes only after 2·MSL.
#[test]
fn rst_does_not_end_time_wait() {
    let (mut net, c, s, client) = connection(config(SERVER_ADDR));
    // The client's FIN will take the sequence number after all it sent.
    let (fin_seq, _) = rcv_snd(&mut net, s);
    server_closes_first(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let entered = net.now();
    let now = net.now();
    let out = forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, fin_seq + 1, 0, Flags::RST), &[]);
    assert!(out.is_empty(), "an RST is never answered: {out:?}");
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "the RST ended TIME-WAIT");
    let fin = seg(client.port(), PORT, fin_seq, 0, Flags::FIN | Flags::ACK);
    let out = forge(stack(&mut net, SERVER), now, client, &fin, &[]);
    assert_eq!(out.iter().map(|s| (s.flags(), s.ack())).collect::<Vec<_>>(), [(Flags::ACK, fin_seq + 1)]);
    run(&mut net, MSL * 2 + Duration::from_secs(1), |n| stack(n, SERVER).time_wait_count() == 0);
    assert!(net.now() - entered >= MSL * 2);
}

// ----------------------------------------------------------------------
// RFC 4987: SYN floods and SYN cookies
// ----------------------------------------------------------------------

/// `n` SYNs from spoofed addresses that will never answer (10.0.9.x, which
/// the simulator cannot route), as a flood brings them.
fn syn_flood(net: &mut Network<Node>, n: u16) {
    let now = net.now();
    for i in 0..n {
        let from = SocketAddr::new([10, 0, 9, (i % 200) as u8].into(), 1024 + i);
        let mut syn = seg(from.port(), PORT, u32::from(i) * 7919, 0, Flags::SYN);
        syn.options.mss = Some(1460);
        stack(net, SERVER).receive(now, &packet(from, server_addr(), &syn, &[]));
    }
}

/// A flood fills the SYN queue; from then on SYNs are answered with
/// cookies, and a real client's handshake completes by cookie, straight
/// into ESTABLISHED, with its MSS kept, and carries data both ways. The
/// flood's half-open connections stay within the queue's bound.
#[test]
fn syn_flood_fills_the_queue_and_a_real_handshake_gets_through_by_cookie() {
    let mut server = config(SERVER_ADDR);
    server.max_syn_queue = 8;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    syn_flood(&mut net, 500);
    idle(&mut net, Duration::from_millis(10));
    let counters = stack(&mut net, SERVER).counters().clone();
    assert_eq!((counters.syn_cookies_sent, counters.drops.syn_queue_full), (492, 0));
    let half_open: Vec<State> = stack(&mut net, SERVER).connections().map(|c| c.state).collect();
    assert_eq!(half_open, [State::SynReceived; 8]);

    net.capture(true);
    let (c, s) = establish(&mut net);
    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S S", "S>C S.", "C>S ."]);
    let o = &segs[1].repr.options;
    assert_eq!(
        (o.mss, o.window_scale, o.sack_permitted, o.timestamps.is_some()),
        (Some(1460), None, false, false),
        "a cookie's SYN,ACK offers the MSS only"
    );
    let counters = stack(&mut net, SERVER).counters().clone();
    assert_eq!((counters.syn_cookies_sent, counters.syn_cookies_accepted, counters.syn_cookies_rejected), (493, 1, 0));
    let t = stack(&mut net, SERVER).tcb(s).unwrap();
    assert_eq!((t.state, t.snd_mss, t.snd.iss.0), (State::Established, 1460, segs[1].seq()));
    transfer_both_ways(&mut net, c, s, 100_000);
    assert_eq!(stack(&mut net, SERVER).connections().filter(|c| c.state == State::SynReceived).count(), 8);
}

/// A listener with a SYN queue of one, already full, at `now`.
fn full_listener(config: Config, now: Instant) -> Stack {
    let mut s = Stack::new(Config { max_syn_queue: 1, ..config });
    s.listen(PORT, 8).unwrap();
    let from = SocketAddr::new(CLIENT_ADDR.into(), 30000);
    forge(&mut s, now, from, &seg(from.port(), PORT, 1, 0, Flags::SYN), &[]);
    s
}

/// A SYN to the full listener from `from`, offering `mss`: the cookie
/// SYN,ACK it gets.
fn cookie_for(s: &mut Stack, now: Instant, from: SocketAddr, irs: u32, mss: Option<u16>) -> Seg {
    let mut syn = seg(from.port(), PORT, irs, 0, Flags::SYN);
    syn.options.mss = mss;
    let out = forge(s, now, from, &syn, &[]);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].ack()), (Flags::SYN | Flags::ACK, irs + 1));
    out.into_iter().next().unwrap()
}

/// ACKs that do not return one of our cookies get the RST any stray ACK to
/// a listening port gets (§3.10.7.2), are counted, and create nothing: a
/// made-up cookie, a real one from another port or for another client ISN,
/// and one that has expired. A real one still works after all that.
#[test]
fn forged_and_expired_cookies_are_rejected() {
    let t0 = Instant::from_secs(1000);
    let mut s = full_listener(config(SERVER_ADDR), t0);
    let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
    let cookie = cookie_for(&mut s, t0, from, 5000, Some(1460)).seq();
    let other = SocketAddr::new(CLIENT_ADDR.into(), 40001);
    let forgeries = [
        (from, 5001, cookie.wrapping_add(2), "a made-up cookie"),
        (from, 5001, (cookie ^ 0x0100_0000) + 1, "its MSS index changed"),
        (other, 5001, cookie + 1, "another port"),
        (from, 6001, cookie + 1, "another client ISN"),
    ];
    for (i, &(src, seq, ack, what)) in forgeries.iter().enumerate() {
        let out = forge(&mut s, t0, src, &seg(src.port(), PORT, seq, ack, Flags::ACK), &[]);
        assert_eq!(out.iter().map(|r| (r.flags(), r.seq())).collect::<Vec<_>>(), [(Flags::RST, ack)], "{what}");
        assert_eq!(s.counters().syn_cookies_rejected, i as u64 + 1, "{what}");
    }
    assert_eq!(s.connections().count(), 1, "only the first SYN's half-open connection");

    // Expired: made at t0, returned 129 s later (cookies went out since,
    // so ACKs are still checked for one).
    let late = t0 + Duration::from_secs(129);
    cookie_for(&mut s, late, SocketAddr::new(CLIENT_ADDR.into(), 40002), 1, None);
    let out = forge(&mut s, late, from, &seg(from.port(), PORT, 5001, cookie + 1, Flags::ACK), &[]);
    assert_eq!(out.iter().map(|r| r.flags()).collect::<Vec<_>>(), [Flags::RST], "an expired cookie");
    assert_eq!((s.counters().syn_cookies_rejected, s.counters().syn_cookies_accepted), (5, 0));

    // A fresh one from the same client is good.
    let cookie = cookie_for(&mut s, late, from, 7000, Some(1460)).seq();
    assert!(forge(&mut s, late, from, &seg(from.port(), PORT, 7001, cookie + 1, Flags::ACK), &[]).is_empty());
    assert_eq!(s.counters().syn_cookies_accepted, 1);
    assert_eq!(s.next_event(), Some(Event::Incoming { port: PORT }));
    let h = s.accept(PORT).unwrap();
    assert_eq!(s.state(h), Some(State::Established));
}

/// Once the last cookie has expired, ACKs to the port are not checked for
/// one: they get their RST without being counted as rejected cookies.
#[test]
fn acks_are_checked_for_cookies_only_while_cookies_are_out() {
    let t0 = Instant::from_secs(10);
    let mut s = full_listener(config(SERVER_ADDR), t0);
    let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
    let stray = seg(from.port(), PORT, 1, 1, Flags::ACK);
    forge(&mut s, t0, from, &stray, &[]);
    assert_eq!(s.counters().syn_cookies_rejected, 0, "no cookie sent yet");
    let cookie = cookie_for(&mut s, t0, from, 5000, None).seq();
    forge(&mut s, t0, from, &stray, &[]);
    assert_eq!(s.counters().syn_cookies_rejected, 1);
    let later = t0 + Duration::from_secs(128);
    let out = forge(&mut s, later, from, &seg(from.port(), PORT, 5001, cookie + 1, Flags::ACK), &[]);
    assert_eq!(out.iter().map(|r| r.flags()).collect::<Vec<_>>(), [Flags::RST]);
    assert_eq!(s.counters().syn_cookies_rejected, 1);
}

/// The cookie keeps the client's MSS, rounded down to its table, and the
/// connection uses it (capped by our own, 8960 at MTU 9000); no MSS option
/// means 536 (RFC 9293 §3.7.1).
#[test]
fn the_cookie_keeps_the_mss() {
    let now = Instant::from_secs(1);
    let mut s = full_listener(Config { mtu: 9000, ..config(SERVER_ADDR) }, now);
    for (i, (offered, kept)) in
        [(Some(1460), 1460), (None, 536), (Some(1300), 1220), (Some(65495), 8960)].into_iter().enumerate()
    {
        let from = SocketAddr::new(CLIENT_ADDR.into(), 40000 + i as u16);
        let syn_ack = cookie_for(&mut s, now, from, 100, offered);
        assert_eq!(syn_ack.repr.options.mss, Some(8960), "we offer our own MSS");
        forge(&mut s, now, from, &seg(from.port(), PORT, 101, syn_ack.seq() + 1, Flags::ACK), &[]);
        let h = s.accept(PORT).unwrap();
        assert_eq!(s.tcb(h).unwrap().snd_mss, kept, "MSS offered {offered:?}");
    }
}

/// The client's ACK of the cookie SYN,ACK was lost, and its first data
/// segment brings the cookie back: the connection is created and the data
/// delivered.
#[test]
fn a_cookie_returned_with_data_delivers_it() {
    let now = Instant::from_secs(1);
    let mut s = full_listener(config(SERVER_ADDR), now);
    let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
    let cookie = cookie_for(&mut s, now, from, 100, Some(1460)).seq();
    forge(
        &mut s,
        now,
        from,
        &seg(from.port(), PORT, 101, cookie + 1, Flags::ACK | Flags::PSH),
        b"GET / HTTP/1.1\r\n\r\n",
    );
    let h = s.accept(PORT).unwrap();
    let mut buf = [0; 64];
    let n = s.recv(now, h, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
}

// ----------------------------------------------------------------------
// Every table bounded and counted
// ----------------------------------------------------------------------

/// Connections: past `max_connections` a SYN creates nothing and is
/// counted, and so is an ACK that returns a cookie.
#[test]
fn connections_are_bounded_and_the_rest_counted() {
    let now = Instant::ZERO;
    let mut s = Stack::new(Config { max_connections: 3, ..config(SERVER_ADDR) });
    s.listen(PORT, 8).unwrap();
    for port in 40000..40004 {
        forge(&mut s, now, SocketAddr::new(CLIENT_ADDR.into(), port), &seg(port, PORT, 1, 0, Flags::SYN), &[]);
    }
    assert_eq!((s.connections().count(), s.counters().drops.too_many_connections), (3, 1));

    let mut s = full_listener(Config { max_connections: 1, ..config(SERVER_ADDR) }, now);
    let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
    let cookie = cookie_for(&mut s, now, from, 100, None).seq();
    forge(&mut s, now, from, &seg(from.port(), PORT, 101, cookie + 1, Flags::ACK), &[]);
    assert_eq!((s.connections().count(), s.counters().drops.too_many_connections), (1, 1));
    assert_eq!(s.counters().syn_cookies_accepted, 0);
}

/// The accept queue (`listen`'s backlog): a handshake that would complete
/// into a full queue is ignored and a SYN that finds it full is dropped,
/// both counted; once the application accepts, the clients' retransmissions
/// get in.
#[test]
fn the_accept_queue_is_bounded_and_overflow_counted() {
    let mut net = pair(Faults::default());
    stack(&mut net, SERVER).unlisten(Instant::ZERO, PORT);
    stack(&mut net, SERVER).listen(PORT, 1).unwrap();
    let now = net.now();
    let clients: Vec<_> = (0..3).map(|_| stack(&mut net, CLIENT).connect(now, server_addr()).unwrap()).collect();
    idle(&mut net, Duration::from_millis(100));
    let full = stack(&mut net, SERVER).counters().drops.accept_queue_full;
    assert_eq!(full, 2, "two handshakes completed into a full queue");
    let now = net.now();
    let late = stack(&mut net, CLIENT).connect(now, server_addr()).unwrap();
    idle(&mut net, Duration::from_millis(100));
    assert_eq!(stack(&mut net, SERVER).counters().drops.accept_queue_full, full + 1, "a SYN to a full queue");
    assert_eq!(stack(&mut net, CLIENT).state(late), Some(State::SynSent), "its SYN was not answered");
    let mut accepted = 0;
    run(&mut net, Duration::from_secs(10), |n| {
        while stack(n, SERVER).accept(PORT).is_some() {
            accepted += 1;
        }
        accepted == 4
    });
    for c in clients.into_iter().chain([late]) {
        assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
    }
}

/// The TIME-WAIT table: past `max_time_wait` a connection that would enter
/// TIME-WAIT is deleted at once (its last ACK still sent), and counted.
#[test]
fn the_time_wait_table_is_bounded_and_overflow_counted() {
    let mut server = config(SERVER_ADDR);
    server.max_time_wait = 2;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    for _ in 0..3 {
        let (c, s) = establish(&mut net);
        server_closes_first(&mut net, c, s);
    }
    let s = stack(&mut net, SERVER);
    assert_eq!((s.time_wait_count(), s.counters().drops.time_wait_full, s.connections().count()), (2, 1, 0));
}

/// Out-of-order segments: a connection holds at most `max_ooo_segments`;
/// the rest are dropped and counted, and what was held is delivered when
/// the gap fills.
#[test]
fn out_of_order_segments_are_bounded_per_connection() {
    let mut server = config(SERVER_ADDR);
    server.max_ooo_segments = 4;
    let (mut net, _c, s, client) = connection(server);
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    // Ten segments of 10 bytes, each with a gap before it.
    for k in 1..=10 {
        let data = seg(client.port(), PORT, rcv_nxt + 20 * k, snd_nxt, Flags::ACK);
        forge(stack(&mut net, SERVER), now, client, &data, &[b'a' + k as u8; 10]);
    }
    assert_eq!(stack(&mut net, SERVER).counters().drops.ooo_full, 6);
    // Fill every gap up to the fourth segment: 90 bytes arrive in order.
    for k in 0..4 {
        let data = seg(client.port(), PORT, rcv_nxt + 20 * k + if k == 0 { 0 } else { 10 }, snd_nxt, Flags::ACK);
        forge(stack(&mut net, SERVER), now, client, &data, &vec![b'-'; if k == 0 { 20 } else { 10 }]);
    }
    assert_eq!(read_all(&mut net, SERVER, s).len(), 90);
}

/// Overlapping segments beyond a hole are merged, each byte held once:
/// however many copies a peer sends, what is held out of order never
/// exceeds the window (not 64 segments of it), and when the hole fills the
/// data is delivered once, in order.
#[test]
fn overlapping_segments_beyond_a_hole_are_held_once() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let wnd = stack(&mut net, SERVER).tcb(s).unwrap().rcv.wnd();
    let stream = pattern(wnd, 4);
    let now = net.now();
    // 64 segments of up to 32 KiB from a byte past RCV.NXT, each starting
    // 100 bytes after the one before.
    let mut end = 0;
    for k in 0..64 {
        let at = 1 + 100 * k;
        end = (at + 32 * 1024).min(wnd);
        let data = seg(client.port(), PORT, rcv_nxt + at as u32, snd_nxt, Flags::ACK);
        let out = forge(stack(&mut net, SERVER), now, client, &data, &stream[at..end]);
        let block = out.last().and_then(|a| a.repr.options.sack_blocks[0]).map(|(l, r)| (l.0, r.0));
        assert_eq!(block, Some((rcv_nxt + 1, rcv_nxt + end as u32)), "one block, all that is held");
        let t = stack(&mut net, SERVER).tcb(s).unwrap();
        assert!(t.ooo_bytes() <= t.rcv.wnd(), "{} bytes held against a window of {}", t.ooo_bytes(), t.rcv.wnd());
    }
    let t = stack(&mut net, SERVER).tcb(s).unwrap();
    assert_eq!((t.ooo_runs(), t.ooo_bytes()), (1, end - 1));
    let hole = seg(client.port(), PORT, rcv_nxt, snd_nxt, Flags::ACK);
    let out = forge(stack(&mut net, SERVER), now, client, &hole, &stream[..1]);
    assert_eq!(out.iter().map(|a| a.ack()).collect::<Vec<_>>(), [rcv_nxt + end as u32]);
    assert!(read_all(&mut net, SERVER, s) == stream[..end], "delivered once, in order");
    assert_eq!(stack(&mut net, SERVER).counters().drops.ooo_full, 0);
}

/// A connection that reached CLOSED while the application still holds it
/// (here reset by the peer) leaves the lookup table: the application can
/// still read why it ended, and a segment for its 4-tuple gets the answer
/// of a connection that does not exist, an RST (§3.10.7.1), not silence.
#[test]
fn a_closed_connection_no_longer_swallows_segments() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, rcv_nxt, 0, Flags::RST), &[]);
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Closed));
    let data = seg(client.port(), PORT, rcv_nxt, snd_nxt, Flags::ACK);
    let out = forge(stack(&mut net, SERVER), now, client, &data, b"late");
    let got: Vec<_> = out.iter().map(|r| (r.flags(), r.seq())).collect();
    assert_eq!(got, [(Flags::RST, snd_nxt)], "<SEQ=SEG.ACK><CTL=RST>");
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 10]), Err(Error::Reset), "the error, still");
    stack(&mut net, SERVER).close(now, s);
    assert_eq!(stack(&mut net, SERVER).state(s), None);
}

/// A SYN that repeats the one that made a SYN-RECEIVED connection (SEG.SEQ
/// = IRS) is answered with the SYN,ACK again, whatever its ECE and CWR
/// bits: an ECN-setup SYN (RFC 3168 §6.1.1) is a connection request like
/// any, and deserves no challenge ACK.
#[test]
fn a_retransmitted_syn_gets_the_syn_ack_again_with_or_without_ecn_bits() {
    for flags in [Flags::SYN, Flags::SYN | Flags::ECE | Flags::CWR] {
        let mut server = Stack::new(config(SERVER_ADDR));
        server.listen(PORT, 8).unwrap();
        let client = SocketAddr::new(CLIENT_ADDR.into(), 40000);
        let syn = seg(client.port(), PORT, 1000, 0, flags);
        let now = Instant::ZERO;
        let first = forge(&mut server, now, client, &syn, &[]);
        let again = forge(&mut server, now + Duration::from_millis(200), client, &syn, &[]);
        let got = |out: &[Seg]| out.iter().map(|a| (a.flags(), a.seq(), a.ack())).collect::<Vec<_>>();
        assert_eq!(got(&first).len(), 1);
        assert_eq!(got(&first)[0].0, Flags::SYN | Flags::ACK, "{flags:?}");
        assert_eq!(got(&again), got(&first), "{flags:?}: the SYN,ACK again");
        assert_eq!(server.counters().challenge_acks, 0);
    }
}

/// Buffers: a peer that ignores our window cannot make us hold more than
/// the receive buffer; what lies past the window is not taken.
#[test]
fn data_past_the_window_is_not_buffered() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 1000;
    let (mut net, _c, s, client) = connection(server);
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, rcv_nxt, snd_nxt, Flags::ACK), &[7; 5000]);
    let t = stack(&mut net, SERVER).tcb(s).unwrap();
    assert_eq!((t.recv_queue(), t.rcv.nxt.0), (1000, rcv_nxt + 1000));
    let out = forge(
        stack(&mut net, SERVER),
        now,
        client,
        &seg(client.port(), PORT, rcv_nxt + 1000, snd_nxt, Flags::ACK),
        &[8; 100],
    );
    assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().recv_queue(), 1000);
    let acks: Vec<_> = out.iter().map(|a| (a.ack(), a.repr.window_len)).collect();
    assert_eq!(acks, [(rcv_nxt + 1000, 0)], "an ACK of what fit, with a zero window");
}

/// At our zero window no segment with text is acceptable, "but special
/// allowance should be made to accept valid ACKs" (§3.10.7.4 "first"): a
/// peer probing our shut window with a byte at RCV.NXT has its ACK
/// processed, its byte dropped, and is answered with the window.
#[test]
fn an_ack_is_processed_at_our_zero_window() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 1000;
    let (mut net, _c, s, client) = connection(server);
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, rcv_nxt, snd_nxt, Flags::ACK), &[7; 1000]);
    stack(&mut net, SERVER).send(now, s, &[1; 100]).unwrap();
    output(stack(&mut net, SERVER), now);
    let probe = seg(client.port(), PORT, rcv_nxt + 1000, snd_nxt + 100, Flags::ACK);
    let out = forge(stack(&mut net, SERVER), now, client, &probe, &[8]);
    let t = stack(&mut net, SERVER).tcb(s).unwrap();
    assert_eq!((t.snd.una.0, t.recv_queue()), (snd_nxt + 100, 1000), "the ACK taken, the byte not");
    let acks: Vec<_> = out.iter().map(|a| (a.seq(), a.ack(), a.repr.window_len)).collect();
    assert_eq!(acks, [(snd_nxt + 100, rcv_nxt + 1000, 0)], "the probe answered");
}

/// The FIN takes a sequence number, so it waits for room in the peer's
/// window like data (§3.8.6): sent past the right edge it would carry
/// SND.NXT where a shut window accepts none of our ACKs. It goes when the
/// window opens.
#[test]
fn the_fin_waits_for_room_in_the_window() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let unit = 1 << stack(&mut net, SERVER).tcb(s).unwrap().options.snd_shift();
    let now = net.now();
    let shut = |ack, window_len| TcpRepr { window_len, ..seg(client.port(), PORT, rcv_nxt, ack, Flags::ACK) };
    forge(stack(&mut net, SERVER), now, client, &shut(snd_nxt, 1), &[]);
    stack(&mut net, SERVER).send(now, s, &vec![1; unit]).unwrap();
    stack(&mut net, SERVER).shutdown(now, s).unwrap();
    let out = output(stack(&mut net, SERVER), now);
    assert_eq!(out.iter().map(|d| (d.len, d.has(Flags::FIN))).collect::<Vec<_>>(), [(unit, false)]);
    let out = forge(stack(&mut net, SERVER), now, client, &shut(snd_nxt + unit as u32, 0), &[]);
    assert!(out.is_empty(), "no FIN into a shut window: {:?}", picture(&out));
    assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().snd.nxt.0, snd_nxt + unit as u32);
    let out = forge(stack(&mut net, SERVER), now, client, &shut(snd_nxt + unit as u32, 1), &[]);
    assert_eq!(out.iter().map(|f| (f.seq(), f.has(Flags::FIN))).collect::<Vec<_>>(), [(snd_nxt + unit as u32, true)]);
}

/// An in-order FIN ends the stream: data held out of order past it
/// (which a conforming peer never sent) is discarded, not delivered
/// (§3.10.7.4 "eighth"), and no longer reported in SACK blocks.
#[test]
fn held_data_past_an_in_order_fin_is_discarded() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    for (at, len) in [(10, 10), (3, 12)] {
        let held = seg(client.port(), PORT, rcv_nxt + at, snd_nxt, Flags::ACK);
        forge(stack(&mut net, SERVER), now, client, &held, &vec![b'x'; len]);
    }
    let fin = seg(client.port(), PORT, rcv_nxt, snd_nxt, Flags::ACK | Flags::FIN);
    let out = forge(stack(&mut net, SERVER), now, client, &fin, b"hello");
    assert_eq!(read_all(&mut net, SERVER, s), b"hello");
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 10]), Ok(0), "then end of stream");
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::CloseWait));
    assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().ooo_runs(), 0);
    let acks: Vec<_> = out.iter().map(|a| (a.ack(), a.repr.options.sack_blocks[0])).collect();
    assert_eq!(acks, [(rcv_nxt + 6, None)], "the FIN acknowledged, nothing past it SACKed");
}

/// The send window is taken only from an ACK within SND.UNA ≤ SEG.ACK ≤
/// SND.NXT (§3.10.7.4 "fifth"): an old ACK, below SND.UNA, does not set
/// it, however new its sequence number.
#[test]
fn an_old_ack_does_not_update_the_send_window() {
    let (mut net, _c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let now = net.now();
    stack(&mut net, SERVER).send(now, s, &[1; 100]).unwrap();
    output(stack(&mut net, SERVER), now);
    let new = seg(client.port(), PORT, rcv_nxt, snd_nxt + 100, Flags::ACK);
    forge(stack(&mut net, SERVER), now, client, &new, b"0123456789");
    let wnd = stack(&mut net, SERVER).tcb(s).unwrap().snd.wnd;
    let old = TcpRepr { window_len: 1000, ..seg(client.port(), PORT, rcv_nxt + 10, snd_nxt, Flags::ACK) };
    forge(stack(&mut net, SERVER), now, client, &old, b"abcde");
    let t = stack(&mut net, SERVER).tcb(s).unwrap();
    assert_eq!((t.snd.una.0, t.recv_queue()), (snd_nxt + 100, 15));
    assert_eq!((t.snd.wnd, t.snd.wl1.0), (wnd, rcv_nxt), "SEG.ACK < SND.UNA: the window stays");
}

/// A half-open connection whose client vanished (a spoofed SYN's) gives up
/// at the first retransmission timeout past `syn_ack_timeout` (2 minutes:
/// SYN,ACKs at 0, 1, 3, 7, 15, 31 and 63 s, the end at 123 s), is counted,
/// and frees its place in the SYN queue.
#[test]
fn a_half_open_connection_whose_client_vanished_is_freed() {
    let mut s = Stack::new(Config { max_syn_queue: 1, syn_cookies: false, ..config(SERVER_ADDR) });
    s.listen(PORT, 8).unwrap();
    let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
    let mut syn_acks = forge(&mut s, Instant::ZERO, from, &seg(from.port(), PORT, 1, 0, Flags::SYN), &[]).len();
    let mut last = Instant::ZERO;
    while let Some(at) = s.poll_at() {
        s.poll(at);
        syn_acks += output(&mut s, at).len();
        last = at;
    }
    assert_eq!(last, Instant::from_secs(123));
    assert_eq!((syn_acks, s.connections().count(), s.counters().connections_timed_out), (7, 0, 1));
    let now = Instant::from_secs(600);
    let other = SocketAddr::new(CLIENT_ADDR.into(), 40001);
    let out = forge(&mut s, now, other, &seg(other.port(), PORT, 1, 0, Flags::SYN), &[]);
    assert_eq!((out[0].flags(), s.connections().count()), (Flags::SYN | Flags::ACK, 1), "the SYN queue has room again");
}

// ----------------------------------------------------------------------
// TIME-WAIT reopened, or not (RFC 6191, RFC 9293 §3.6.1 MAY-2)
// ----------------------------------------------------------------------

/// A SYN that may reopen a 4-tuple in TIME-WAIT but that the listener
/// cannot admit — its SYN queue is full (a cookie's ISS could not be kept
/// above the old SND.NXT), or nobody listens any more — leaves the entry
/// in place (RFC 6191 §2): no SYN,ACK, and TIME-WAIT goes on.
#[test]
fn a_syn_that_cannot_reopen_time_wait_leaves_the_entry() {
    let (mut net, c, s, client) = connection(Config { max_syn_queue: 1, ..config(SERVER_ADDR) });
    let (fin_seq, _) = rcv_snd(&mut net, s);
    server_closes_first(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let now = net.now();
    // Someone else's SYN fills the SYN queue.
    let other = SocketAddr::new(CLIENT_ADDR.into(), 30000);
    forge(stack(&mut net, SERVER), now, other, &seg(other.port(), PORT, 1, 0, Flags::SYN), &[]);
    // A new SYN from the client's port, well above the old RCV.NXT.
    let syn = seg(client.port(), PORT, fin_seq.wrapping_add(100_000), 0, Flags::SYN);
    let out = forge(stack(&mut net, SERVER), now, client, &syn, &[]);
    assert!(out.iter().all(|o| !o.has(Flags::SYN)), "answered with a cookie: {out:?}");
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "the SYN queue was full");

    stack(&mut net, SERVER).unlisten(now, PORT);
    forge(stack(&mut net, SERVER), now, client, &syn, &[]);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "nobody listens");
    assert_eq!(stack(&mut net, SERVER).counters().time_wait_reopened, 0);
}

/// §3.10.7.4: a FIN in TIME-WAIT restarts the 2·MSL clock only if it is
/// the peer's FIN again (the one RCV.NXT acknowledges). An old FIN from
/// elsewhere in the sequence space gets an ACK, and the clock runs on.
#[test]
fn an_old_fin_does_not_extend_time_wait() {
    let (mut net, c, s, client) = connection(config(SERVER_ADDR));
    let (fin_seq, _) = rcv_snd(&mut net, s);
    server_closes_first(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let entered = net.now();
    idle(&mut net, MSL);
    let now = net.now();
    let old_fin = seg(client.port(), PORT, fin_seq.wrapping_sub(5000), 0, Flags::FIN | Flags::ACK);
    let out = forge(stack(&mut net, SERVER), now, client, &old_fin, &[]);
    assert_eq!(out.iter().map(|s| (s.flags(), s.ack())).collect::<Vec<_>>(), [(Flags::ACK, fin_seq + 1)]);
    net.run_until(entered + MSL * 2, |_| false);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0, "the old FIN restarted the clock");
}

// ----------------------------------------------------------------------
// The peer's MSS (RFC 9293 §3.7.1; Linux's TCP_MIN_SND_MSS, CVE-2019-11479)
// ----------------------------------------------------------------------

/// A peer that says its MSS is 1 (or 0) would have us cut data into
/// segments of a byte, 40 bytes of headers each: its MSS is taken as 48
/// at least, the same on the SYN queue's path and the cookie's, and data
/// leaves in segments of 48 bytes (the last may be shorter).
#[test]
fn a_tiny_peer_mss_is_raised_to_48() {
    let now = Instant::from_secs(1);
    for mss in [1, 0, 47] {
        for cookie in [false, true] {
            let mut s = if cookie {
                full_listener(config(SERVER_ADDR), now)
            } else {
                let mut s = Stack::new(config(SERVER_ADDR));
                s.listen(PORT, 8).unwrap();
                s
            };
            let from = SocketAddr::new(CLIENT_ADDR.into(), 40000);
            let mut syn = seg(from.port(), PORT, 100, 0, Flags::SYN);
            syn.options.mss = Some(mss);
            let syn_ack = forge(&mut s, now, from, &syn, &[]);
            assert_eq!(syn_ack.len(), 1);
            forge(&mut s, now, from, &seg(from.port(), PORT, 101, syn_ack[0].seq() + 1, Flags::ACK), &[]);
            let h = s.accept(PORT).expect("the handshake completed");
            assert_eq!(s.tcb(h).unwrap().snd_mss, 48, "MSS {mss}, cookie {cookie}");
            s.set_nodelay(h, true);
            s.send(now, h, &[7; 200]).unwrap();
            let sizes: Vec<usize> = output(&mut s, now).iter().map(|o| o.len).collect();
            assert_eq!(sizes, [48, 48, 48, 48, 8], "MSS {mss}, cookie {cookie}");
        }
    }
}

// ----------------------------------------------------------------------
// Segments no TCP sends
// ----------------------------------------------------------------------

/// Once a connection is synchronized every segment carries an ACK (§3.1),
/// so one with none of ACK, RST and SYN is dropped unanswered wherever its
/// sequence number lies (in the window, before it, past it), in
/// ESTABLISHED and in TIME-WAIT; its FIN closes nothing, its data is not
/// taken.
#[test]
fn a_segment_without_ack_rst_or_syn_is_dropped_unanswered() {
    let (mut net, c, s, client) = connection(config(SERVER_ADDR));
    let (rcv_nxt, snd_nxt) = rcv_snd(&mut net, s);
    let seqs = |rcv_nxt: u32| [rcv_nxt, rcv_nxt.wrapping_sub(1), rcv_nxt.wrapping_sub(2), rcv_nxt + 70_000];
    let now = net.now();
    for seq in seqs(rcv_nxt) {
        for (flags, payload) in [(Flags::FIN, &b""[..]), (Flags::PSH, b"x"), (Flags::FIN | Flags::PSH, b"x")] {
            let out =
                forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, seq, snd_nxt, flags), payload);
            assert!(out.is_empty(), "{flags:?} at {seq} in ESTABLISHED: answered {out:?}");
        }
    }
    assert_eq!(rcv_snd(&mut net, s), (rcv_nxt, snd_nxt));
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));

    server_closes_first(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
    let now = net.now();
    for seq in seqs(rcv_nxt + 1) {
        let out =
            forge(stack(&mut net, SERVER), now, client, &seg(client.port(), PORT, seq, snd_nxt + 1, Flags::FIN), &[]);
        assert!(out.is_empty(), "FIN without ACK at {seq} in TIME-WAIT: answered {out:?}");
    }
}
