//! Selective acknowledgments (RFC 2018) and the loss recovery they allow
//! (RFC 6675, with RACK-TLP's loss detection and tail loss probe, RFC
//! 8985), limited transmit (RFC 3042) and CUBIC (RFC 9438): between two
//! stacks in the simulator, and against a scripted peer where a test needs
//! exact control of what the peer reports, and when.

mod common;

use std::net::SocketAddr;

use common::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::Algorithm;
use stack::time::{Duration, Instant};
use stack::wire::seq::SeqNum;
use stack::wire::tcp::{Flags, TcpRepr};
use stack::{Config, Counters, SocketHandle, Stack};

/// The data of a full segment: the MSS less the timestamps option.
const MSS: usize = FULL;

fn config_with(addr: std::net::Ipv4Addr, sack: bool, congestion: Algorithm) -> Config {
    let mut c = config(addr);
    c.sack = sack;
    c.congestion = congestion;
    c
}

fn counters(net: &Network<Node>, i: usize) -> Counters {
    net.host(i).stack.counters().clone()
}

/// The SACK blocks of a segment, relative to `base`.
fn blocks(seg: &Seg, base: u32) -> Vec<(u32, u32)> {
    seg.repr
        .options
        .sack_blocks
        .iter()
        .flatten()
        .map(|(l, r)| (l.0.wrapping_sub(base), r.0.wrapping_sub(base)))
        .collect()
}

/// SACK-permitted goes in the SYN when the client offers it, and in the
/// SYN,ACK only when both do (RFC 2018 §2); only then do ACKs carry SACK
/// blocks. Every combination repairs a loss and delivers intact.
#[test]
fn sack_is_used_only_when_both_syns_offer_it() {
    for (client, server) in [(true, true), (true, false), (false, true), (false, false)] {
        let both = client && server;
        let case = format!("client offers {client}, server {server}");
        let mut net = pair_with(
            Faults::default(),
            config_with(CLIENT_ADDR, client, Algorithm::NewReno),
            config_with(SERVER_ADDR, server, Algorithm::NewReno),
        );
        net.capture(true);
        let (c, s) = establish(&mut net);
        let segs = captured(&mut net);
        let syn = segs.iter().find(|s| s.flags() == Flags::SYN).unwrap();
        let syn_ack = segs.iter().find(|s| s.flags() == Flags::SYN | Flags::ACK).unwrap();
        assert_eq!(syn.repr.options.sack_permitted, client, "{case}: SYN");
        assert_eq!(syn_ack.repr.options.sack_permitted, both, "{case}: SYN,ACK");
        assert_eq!(net.host(CLIENT).stack.tcb(c).unwrap().options.sack_permitted, both, "{case}");
        assert_eq!(net.host(SERVER).stack.tcb(s).unwrap().options.sack_permitted, both, "{case}");

        // The third data segment is lost: the duplicate ACKs report what
        // arrived after it, if SACK was negotiated.
        let mut n = 0;
        net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| {
            n += (seg.len > 0) as u32;
            seg.len > 0 && n == 3
        }));
        let data = pattern(50 * MSS, 1);
        assert_eq!(transfer(&mut net, CLIENT, c, SERVER, s, &data), data, "{case}");
        let with_blocks = captured(&mut net).iter().filter(|s| s.repr.options.sack_blocks[0].is_some()).count();
        assert_eq!(with_blocks > 0, both, "{case}: {with_blocks} segments with SACK blocks");
        assert_eq!(counters(&net, CLIENT).retransmissions, 1, "{case}");
    }
}

/// The receiver reports the runs it holds: first the one the segment just
/// went into, then the others, most recently added to first; as many as
/// fit: three beside the timestamps option (RFC 2018 §3, §4). Each
/// duplicate ACK reports the blocks as they were when its segment arrived.
#[test]
fn the_receiver_reports_the_most_recent_blocks_first() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    stack(&mut net, CLIENT).set_nodelay(c, true);
    let base = net.host(CLIENT).stack.tcb(c).unwrap().snd.nxt.0;
    // Segments 0..12 of 100 bytes, one every 100 µs; 1, 3, 5, 7, 9 are lost
    // (once).
    let mut to_lose = vec![1, 3, 5, 7, 9];
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| {
        let i = seg.seq().wrapping_sub(base) / 100;
        let lose = seg.len > 0 && to_lose.contains(&i);
        to_lose.retain(|&k| !lose || k != i);
        lose
    }));
    net.capture(true);
    for i in 0..12 {
        let now = net.now();
        stack(&mut net, CLIENT).send(now, c, &[i; 100]).unwrap();
        idle(&mut net, Duration::from_micros(100));
    }
    idle(&mut net, Duration::from_millis(3));
    let segs = captured(&mut net);
    let reported: Vec<Vec<(u32, u32)>> = segs
        .iter()
        .filter(|seg| seg.is_from_server() && seg.ack().wrapping_sub(base) == 100)
        .map(|seg| blocks(seg, base))
        .collect();
    assert_eq!(
        reported,
        [
            vec![(200, 300)],
            vec![(400, 500), (200, 300)],
            vec![(600, 700), (400, 500), (200, 300)],
            vec![(800, 900), (600, 700), (400, 500)],
            vec![(1000, 1100), (800, 900), (600, 700)],
            vec![(1000, 1200), (800, 900), (600, 700)],
        ]
    );
    let mut got = Vec::new();
    run(&mut net, Duration::from_secs(2), |n| {
        got.extend(read_all(n, SERVER, s));
        got.len() == 1200
    });
    assert_eq!(got, (0..12).flat_map(|i| [i; 100]).collect::<Vec<u8>>());
}

/// Send `data` from the client to the server; returns the virtual time it
/// took.
fn timed_transfer(net: &mut Network<Node>, c: SocketHandle, s: SocketHandle, data: &[u8]) -> Duration {
    let t0 = net.now();
    assert!(transfer(net, CLIENT, c, SERVER, s, data) == data, "transfer corrupted");
    net.now() - t0
}

/// With random loss on the data path, SACK recovery resends exactly the
/// segments that were lost: every retransmission is counted against the
/// packets the simulator dropped (RFC 6675: only the holes).
#[test]
fn sack_recovery_resends_exactly_the_lost_segments() {
    for (seed, congestion) in
        (1..=6).map(|seed| (seed, if seed % 2 == 0 { Algorithm::Cubic } else { Algorithm::NewReno }))
    {
        let config = |addr| config_with(addr, true, congestion);
        let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), config(SERVER_ADDR));
        let (c, s) = establish(&mut net);
        let lossy = Faults { loss: 0.01, delay: Duration::from_millis(1), seed, ..Faults::default() };
        net.set_path_faults(CLIENT, SERVER, lossy);
        timed_transfer(&mut net, c, s, &pattern(2 << 20, seed));
        // Lost on the path, or dropped by the receiver for want of room
        // out of order (a window beyond its `max_ooo_segments`).
        let lost = net.stats().paths.iter().find(|p| p.from == CLIENT_ADDR).unwrap().faults.lost
            + counters(&net, SERVER).drops.ooo_full;
        let sent = counters(&net, CLIENT);
        eprintln!(
            "seed {seed}, {congestion}: {lost} lost, {} retransmitted, {} fast retransmits, {} timeouts, \
             {} loss probes",
            sent.retransmissions, sent.fast_retransmits, sent.rto_expirations, sent.tlp_probes
        );
        assert!(lost >= 5, "seed {seed}: only {lost} lost");
        assert_eq!(sent.retransmissions + sent.tlp_probes, lost, "seed {seed}: {sent:?}");
        assert!(sent.fast_retransmits > 0);
    }
}

/// Several segments lost from one window: SACK shows every hole in the
/// first round trip and resends them all at once, where NewReno learns of
/// one hole per round trip (RFC 6582 §3.2 step 4). The same window, the
/// same losses: with SACK it arrives in less than half the time.
#[test]
fn sack_repairs_several_holes_in_one_round_trip() {
    let repair = |sack: bool| {
        let config = |addr| config_with(addr, sack, Algorithm::NewReno);
        let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), config(SERVER_ADDR));
        let (c, s) = establish(&mut net);
        // Open the congestion window to the peer's window first.
        timed_transfer(&mut net, c, s, &pattern(4 << 20, 1));
        let base = net.host(CLIENT).stack.tcb(c).unwrap().snd.nxt.0;
        // Then every 7th segment of the next window is lost, once.
        let mut dropped = Vec::new();
        net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| {
            let k = seg.seq().wrapping_sub(base) as usize / MSS;
            let lose = seg.len > 0 && k < 40 && k % 7 == 3 && !dropped.contains(&k);
            if lose {
                dropped.push(k);
            }
            lose
        }));
        let took = timed_transfer(&mut net, c, s, &pattern(40 * MSS, 2));
        let sent = counters(&net, CLIENT);
        assert_eq!((sent.retransmissions, sent.rto_expirations), (6, 0), "sack {sack}: {sent:?}");
        took
    };
    let (with, without) = (repair(true), repair(false));
    eprintln!("one window with 6 losses: {with:?} with SACK, {without:?} without");
    assert!(with * 2 <= without, "{with:?} with SACK, {without:?} without");
}

/// Transfer `segments` full segments from a new connection with SACK,
/// the server losing the copies of data segments `lose` picks (segment
/// index from the first, copy number from 1). Returns the client's counters
/// and the network, for more.
fn transfer_losing(
    segments: usize,
    mut lose: impl FnMut(usize, u32) -> bool + 'static,
) -> (Counters, Network<Node>, SocketHandle, SocketHandle) {
    let config = |addr| config_with(addr, true, Algorithm::NewReno);
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), config(SERVER_ADDR));
    let (c, s) = establish(&mut net);
    let base = net.host(CLIENT).stack.tcb(c).unwrap().snd.nxt.0;
    let mut copies = std::collections::HashMap::new();
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| {
        let k = seg.seq().wrapping_sub(base) as usize / MSS;
        let copy = copies.entry(k).or_insert(0);
        *copy += (seg.len > 0) as u32;
        seg.len > 0 && lose(k, *copy)
    }));
    timed_transfer(&mut net, c, s, &pattern(segments * MSS, 5));
    idle(&mut net, Duration::from_millis(50)); // the last ACKs come back
    (counters(&net, CLIENT), net, c, s)
}

/// A retransmission lost again: RFC 6675 cannot see it (the segments
/// SACKed above the hole were SACKed long before), so only the timer could
/// repair it. RACK sees that new data sent after the retransmission
/// arrived, and resends the hole once more (RFC 8985 §6.2 step 5).
#[test]
fn a_lost_retransmission_is_repaired_without_a_timeout() {
    let (sent, ..) = transfer_losing(200, |k, copy| k == 30 && copy <= 2);
    eprintln!("{sent:?}");
    assert_eq!((sent.retransmissions, sent.rto_expirations), (2, 0), "{sent:?}");
    assert_eq!((sent.rack_losses, sent.fast_retransmits), (2, 1), "{sent:?}");
}

/// The last three segments of a transfer are lost: nothing follows them to
/// be SACKed. Two round trips without an ACK, and the tail loss probe
/// resends the last segment; its SACK shows RACK the two before it lost
/// (RFC 8985 §7): repaired without the retransmission timeout.
#[test]
fn a_lost_tail_is_repaired_by_a_loss_probe_without_a_timeout() {
    let (sent, ..) = transfer_losing(100, |k, copy| k >= 97 && copy == 1);
    eprintln!("{sent:?}");
    assert_eq!((sent.tlp_probes, sent.retransmissions, sent.rto_expirations), (1, 2, 0), "{sent:?}");
    assert_eq!(sent.rack_losses, 2, "{sent:?}");
}

/// Only the last segment is lost: the probe is the repair, and the ACK of
/// what is sent next, beyond the probe and without a D-SACK, shows it was
/// (RFC 8985 §7.4.2): a loss, so the window is reduced, without recovery.
#[test]
fn a_probe_that_repaired_a_loss_reduces_the_window() {
    let (sent, mut net, c, s) = transfer_losing(100, |k, copy| k == 99 && copy == 1);
    assert_eq!((sent.tlp_probes, sent.retransmissions, sent.rto_expirations), (1, 0, 0), "{sent:?}");
    assert_eq!(sent.tlp_recoveries, 0, "the ACK of the probe alone cannot tell");
    assert_eq!(net.host(CLIENT).stack.tcb(c).unwrap().cc.ssthresh(), usize::MAX, "slow start, no loss seen");
    timed_transfer(&mut net, c, s, &pattern(10 * MSS, 6));
    idle(&mut net, Duration::from_millis(50));
    let sent = counters(&net, CLIENT);
    assert_eq!((sent.tlp_recoveries, sent.fast_retransmits, sent.rto_expirations), (1, 0, 0), "{sent:?}");
    assert!(net.host(CLIENT).stack.tcb(c).unwrap().cc.ssthresh() < usize::MAX);
}

/// 4 MiB from the client to the server through 1 % loss on the data path
/// (1 ms each way), with SACK (and so RACK-TLP) or without, for seeds
/// 1..=20, the same losses both ways for a seed. Returns the virtual time
/// each way and the retransmission timeouts each way, over all seeds.
fn through_one_percent_loss(congestion: Algorithm, burst: f64) -> ((Duration, u64), (Duration, u64)) {
    let time = |sack: bool, seed: u64| {
        let config = |addr| config_with(addr, sack, congestion);
        let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), config(SERVER_ADDR));
        let (c, s) = establish(&mut net);
        let lossy = Faults { loss: 0.01, burst, delay: Duration::from_millis(1), seed, ..Faults::default() };
        net.set_path_faults(CLIENT, SERVER, lossy);
        (timed_transfer(&mut net, c, s, &pattern(4 << 20, seed)), counters(&net, CLIENT).rto_expirations)
    };
    let (mut with, mut without) = ((Duration::ZERO, 0), (Duration::ZERO, 0));
    for seed in 1..=20 {
        let (w, wo) = (time(true, seed), time(false, seed));
        eprintln!("{congestion}, burst {burst}, seed {seed}: {w:?} with SACK, {wo:?} without (time, timeouts)");
        (with, without) = ((with.0 + w.0, with.1 + w.1), (without.0 + wo.0, without.1 + wo.1));
    }
    let ratio = without.0.as_secs_f64() / with.0.as_secs_f64();
    eprintln!("{congestion}, burst {burst}: 20 × 4 MiB in {with:?} with SACK, {without:?} without: {ratio:.2}×");
    (with, without)
}

/// Throughput through 1 % independent random loss, with and without SACK.
///
/// What is possible: at loss rate p the window of an AIMD sender settles
/// near 1.22/√p segments per round trip (Mathis et al., 1997): 12 segments
/// at 1 %, 8.8 MB/s over the 2 ms round trip here, 4 MiB in 0.48 s. That
/// bound holds with SACK or without, as long as no timeout strikes, and
/// losses this sparse seldom hit one window twice, where NewReno's one hole
/// per round trip would cost more. So the gain is the timeouts avoided, and
/// no more: over these 20 seeds (timestamps on), with SACK, RACK and TLP
/// there are none and a transfer takes 0.47–0.54 s on average, at the
/// bound; without SACK there are 3 (NewReno) and 8 (CUBIC), 200 ms or more
/// each, and 1.08× and 1.19× the time. The seeds without a timeout either
/// way take about the same time both ways: 1.05× and 1.02× (0.91–1.13× per
/// seed). So 2× through independent loss is out of reach by construction;
/// see the bursty test below for where it is not. With RFC 6675 alone,
/// before RACK-TLP, a lost retransmission or tail still needed the timer:
/// the same seeds took 7 and 6 timeouts with SACK, for 0.95× and 1.04×.
#[test]
fn sack_is_faster_through_one_percent_loss() {
    for congestion in [Algorithm::NewReno, Algorithm::Cubic] {
        let (with, without) = through_one_percent_loss(congestion, 0.0);
        assert_eq!(with.1, 0, "{congestion}: no timeout with SACK, RACK and TLP");
        assert!(without.1 >= 3, "{congestion}: {without:?} without SACK: the timeouts the test is about");
        assert!(with.0.mul_f64(1.05) < without.0, "{congestion}: {with:?} with SACK, {without:?} without");
    }
}

/// The same 1 % loss in bursts of 4 packets on average (`burst=4`), as a
/// drop-tail queue loses them: now one window often loses several
/// segments, which SACK repairs in one round trip and NewReno's recovery in
/// one round trip each, or by the timer. Over 20 seeds: with SACK 3 and 4
/// timeouts (NewReno, CUBIC), without 10 and 10; 1.41× and 1.31× faster
/// (about 1.18× and 1.14× over the seeds without a timeout either way).
/// (Before the receiver merged what it holds out of order, it dropped
/// segments past 64 held ones, and without SACK that cost 15 and 23
/// timeouts, for 1.63× and 2.01×.) The timeouts left with SACK are whole
/// flights lost, their probe with them.
#[test]
fn sack_is_much_faster_through_bursty_loss() {
    for congestion in [Algorithm::NewReno, Algorithm::Cubic] {
        let (with, without) = through_one_percent_loss(congestion, 4.0);
        assert!(with.1 * 2 <= without.1, "{congestion}: timeouts {with:?} with SACK, {without:?} without");
        assert!(with.0.mul_f64(1.25) < without.0, "{congestion}: {with:?} with SACK, {without:?} without");
    }
}

/// CUBIC moves data intact through loss in both directions, and recovers
/// by fast retransmit, with and without SACK.
#[test]
fn cubic_transfers_intact_through_loss() {
    for sack in [true, false] {
        let config = |addr| config_with(addr, sack, Algorithm::Cubic);
        let faults = Faults { loss: 0.02, seed: 11, ..Faults::default() };
        let mut net = pair_with(faults, config(CLIENT_ADDR), config(SERVER_ADDR));
        let (c, s) = establish(&mut net);
        timed_transfer(&mut net, c, s, &pattern(2 << 20, 3));
        let t = net.host(CLIENT).stack.tcb(c).unwrap();
        assert_eq!(t.cc.algorithm(), Algorithm::Cubic);
        assert!(counters(&net, CLIENT).fast_retransmits > 0);
    }
}

// A scripted peer: our stack as the client, every segment from the peer
// written by the test.

fn me() -> SocketAddr {
    SocketAddr::new(CLIENT_ADDR.into(), 40000)
}

/// The scripted peer's round trip: its SYN,ACK comes this long after our
/// SYN, and its ACKs (`answer`) this long after the data left.
const RTT: Duration = Duration::from_millis(10);
/// When the data leaves; the ACKs come at `SENT + RTT`.
const SENT: Instant = Instant::from_millis(10);

/// Our client, connected to a peer whose SYN,ACK offers an MSS of 1000 and
/// SACK if `peer_sack`, with 10 segments of 1000 bytes in flight and
/// `queued` more bytes waiting. Returns the stack, the socket and SND.UNA.
fn scripted(peer_sack: bool, queued: usize) -> (Stack, SocketHandle, u32) {
    let mut client = Stack::new(config(CLIENT_ADDR));
    let c = client.connect_from(Instant::ZERO, 40000, server_addr()).unwrap();
    let syn = output(&mut client, Instant::ZERO).remove(0);
    let now = SENT;
    assert!(syn.repr.options.sack_permitted);
    let mut syn_ack = seg(PORT, 40000, 5000, syn.seq().wrapping_add(1), Flags::SYN | Flags::ACK);
    syn_ack.options.mss = Some(1000);
    syn_ack.options.sack_permitted = peer_sack;
    client.receive(now, &packet(server_addr(), me(), &syn_ack, &[]));
    output(&mut client, now);
    client.send(now, c, &pattern(10_000 + queued, 4)).unwrap();
    let sent = output(&mut client, now);
    assert_eq!(sent.len(), 10, "the initial window: ten segments");
    (client, c, syn.seq().wrapping_add(1))
}

/// An ACK from the scripted peer with SACK blocks, all relative to `una`.
fn sack_ack(una: u32, ack: u32, sack: &[(u32, u32)]) -> TcpRepr {
    let mut repr = seg(PORT, 40000, 5001, una.wrapping_add(ack), Flags::ACK);
    for (slot, &(l, r)) in repr.options.sack_blocks.iter_mut().zip(sack) {
        *slot = Some((SeqNum(una.wrapping_add(l)), SeqNum(una.wrapping_add(r))));
    }
    repr
}

/// What the client sends after receiving `repr` a round trip after the
/// data left: (offset from `una`, length).
fn answer(client: &mut Stack, una: u32, repr: &TcpRepr) -> Vec<(u32, usize)> {
    answer_at(client, una, repr, SENT + RTT)
}

/// The same at `now`, after the timers due by then.
fn answer_at(client: &mut Stack, una: u32, repr: &TcpRepr, now: Instant) -> Vec<(u32, usize)> {
    client.receive(now, &packet(server_addr(), me(), repr, &[]));
    sent_by(client, una, now)
}

/// What the client sends by `now` with no ACK: its timers fire.
fn sent_by(client: &mut Stack, una: u32, now: Instant) -> Vec<(u32, usize)> {
    client.poll(now);
    output(client, now).iter().filter(|s| s.len > 0).map(|s| (s.seq().wrapping_sub(una), s.len)).collect()
}

/// D-SACK blocks (RFC 2883) report duplicates the peer received; the
/// sender counts them and otherwise ignores them: no duplicate ACK, no
/// retransmission, nothing in the scoreboard.
#[test]
fn dsack_blocks_are_ignored() {
    let (mut client, c, una) = scripted(true, 0);
    answer(&mut client, una, &sack_ack(una, 0, &[]));
    assert!(answer(&mut client, una, &sack_ack(una, 2000, &[])).is_empty());
    // A first block below the ACK: the peer got segment 1 twice.
    for _ in 0..3 {
        assert_eq!(answer(&mut client, una, &sack_ack(una, 2000, &[(1000, 2000)])), []);
    }
    // One segment SACKed: not yet a loss.
    assert_eq!(answer(&mut client, una, &sack_ack(una, 2000, &[(4000, 5000)])), []);
    // A first block inside the second: a duplicate of SACKed data.
    for _ in 0..3 {
        assert_eq!(answer(&mut client, una, &sack_ack(una, 2000, &[(4200, 4800), (4000, 5000)])), []);
    }
    let sent = client.counters().clone();
    assert_eq!((sent.dsack_blocks, sent.sack_blocks_ignored, sent.fast_retransmits), (6, 0, 0));
    let board: Vec<_> = client.tcb(c).unwrap().scoreboard().blocks().to_vec();
    assert_eq!(board, [(SeqNum(una + 4000), SeqNum(una + 5000))]);
    // Three segments SACKed above the hole: it is lost (RFC 6675 IsLost),
    // and both its segments are resent, nothing else (cwnd = 0.7 × 8000).
    assert_eq!(answer(&mut client, una, &sack_ack(una, 2000, &[(4000, 7000)])), [(2000, 1000), (3000, 1000)]);
    assert_eq!(client.counters().fast_retransmits, 1);
}

/// A peer cannot make the scoreboard grow without bound: SACKing every
/// other byte fills it to `max_sack_blocks`, and the rest is ignored and
/// counted, as are blocks outside SND.UNA..SND.NXT and blocks from a peer
/// that never offered SACK. Retransmissions stay bounded too, and the
/// connection goes on once the peer acknowledges normally.
#[test]
fn malicious_sack_blocks_are_bounded() {
    let (mut client, c, una) = scripted(true, 0);
    let limit = client.config().max_sack_blocks;
    let mut resent = Vec::new();
    for i in 0..40u32 {
        let single_bytes: Vec<(u32, u32)> = (4 * i..4 * i + 4).map(|k| (2 * k + 1, 2 * k + 2)).collect();
        resent.extend(answer(&mut client, una, &sack_ack(una, 0, &single_bytes)));
    }
    // Beyond SND.NXT, reversed, and far outside the window.
    resent.extend(answer(&mut client, una, &sack_ack(una, 0, &[(1, 2), (9000, 12_000), (500, 400), (1 << 31, 5)])));
    let t = client.tcb(c).unwrap();
    assert_eq!(t.scoreboard().blocks().len(), limit);
    assert_eq!(client.counters().sack_blocks_ignored, (160 - limit as u64) + 3);
    assert!(resent.len() <= limit + 1, "{} retransmissions", resent.len());
    assert!(resent.iter().all(|&(at, len)| at + len as u32 <= 10_000), "only data sent before");
    // The peer ACKs everything: the scoreboard empties, the data goes on.
    answer(&mut client, una, &sack_ack(una, 10_000, &[]));
    let t = client.tcb(c).unwrap();
    assert!(t.scoreboard().is_empty() && t.snd.una == t.snd.nxt);

    // A peer that did not offer SACK is not heard when it sends blocks.
    let (mut client, c, una) = scripted(false, 0);
    for _ in 0..3 {
        answer(&mut client, una, &sack_ack(una, 0, &[(1000, 5000), (6000, 7000)]));
    }
    assert_eq!(client.counters().sack_blocks_ignored, 6);
    assert!(client.tcb(c).unwrap().scoreboard().is_empty());
}

/// Limited transmit (RFC 3042): each of the first two duplicate ACKs lets
/// one new segment out beyond cwnd, so the third duplicate comes sooner;
/// without SACK by counting duplicates, with SACK because SACKed segments
/// leave `pipe` (RFC 6675 §5 (2)). The third starts fast retransmit.
#[test]
fn limited_transmit_sends_new_data_on_the_first_two_duplicates() {
    for peer_sack in [false, true] {
        let (mut client, _c, una) = scripted(peer_sack, 3000);
        let blocks = |n: u32| if peer_sack { vec![(1000, 1000 + 1000 * n)] } else { vec![] };
        assert_eq!(answer(&mut client, una, &sack_ack(una, 0, &blocks(1))), [(10_000, 1000)], "sack {peer_sack}");
        assert_eq!(answer(&mut client, una, &sack_ack(una, 0, &blocks(2))), [(11_000, 1000)], "sack {peer_sack}");
        assert_eq!(answer(&mut client, una, &sack_ack(una, 0, &blocks(3))), [(0, 1000)], "sack {peer_sack}");
        assert_eq!(client.counters().fast_retransmits, 1);
    }
}

/// Reordering within RACK's window is not loss: segment 1 arrives before
/// segment 0, which comes min_RTT/4 later at most (RFC 8985 §6.2 step 4).
/// Nothing is resent. Had segment 0 not come, the reordering timer would
/// have called it lost when the window closed, and resent it.
#[test]
fn reordering_within_the_window_is_not_loss() {
    // min_RTT = RACK.rtt = 10 ms: the window is 2.5 ms; segment 0, sent at
    // 10 ms, is lost at 10 + 10 + 2.5 ms unless it arrives before.
    let deadline = SENT + RTT + RTT / 4;
    let (mut client, _c, una) = scripted(true, 0);
    assert_eq!(answer(&mut client, una, &sack_ack(una, 0, &[(1000, 2000)])), []);
    assert_eq!(answer_at(&mut client, una, &sack_ack(una, 2000, &[]), deadline - RTT / 10), []);
    assert_eq!(sent_by(&mut client, una, deadline + RTT), []);
    assert_eq!(client.counters().rack_losses, 0);

    let (mut client, _c, una) = scripted(true, 0);
    assert_eq!(answer(&mut client, una, &sack_ack(una, 0, &[(1000, 2000)])), []);
    assert_eq!(sent_by(&mut client, una, deadline - Duration::from_micros(1)), []);
    assert_eq!(sent_by(&mut client, una, deadline), [(0, 1000)]);
    let sent = client.counters();
    assert_eq!((sent.rack_losses, sent.fast_retransmits, sent.retransmissions), (1, 1, 1));
}

/// A retransmission is judged by the segments sent after it, not by those
/// sent at the same instant before it (RFC 8985 §6.2 step 2,
/// RACK_sent_after). Here the peer's ACKs come back at the instant the
/// data left (a round trip of zero, as in a packetdrill script): segment 0
/// is lost, the SACKs resend it once, and then the SACK of the last
/// segment, sent in the first burst before the resend, says nothing of the
/// resend: it is not resent again. The ACK of everything that follows ends
/// the recovery with nothing more sent.
#[test]
fn a_resend_is_not_judged_by_segments_sent_before_it_at_the_same_instant() {
    let (mut client, _c, una) = scripted(true, 0);
    let mut resent = Vec::new();
    for n in 1..=3 {
        resent.extend(answer_at(&mut client, una, &sack_ack(una, 0, &[(1000, 1000 + 1000 * n)]), SENT));
    }
    assert_eq!(resent, [(0, 1000)]);
    assert_eq!(answer_at(&mut client, una, &sack_ack(una, 0, &[(1000, 10_000)]), SENT), []);
    assert_eq!(answer_at(&mut client, una, &sack_ack(una, 10_000, &[]), SENT), []);
    assert_eq!(sent_by(&mut client, una, SENT + Duration::from_secs(1)), []);
    let sent = client.counters();
    assert_eq!((sent.fast_retransmits, sent.retransmissions), (1, 1));
}
