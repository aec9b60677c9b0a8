//! High-speed TCP: window scaling and timestamps (RFC 7323) in every
//! combination, windows at the limit of the scale, PAWS across the
//! timestamp wrap, RTT from timestamps, TIME-WAIT reopened by timestamp
//! (RFC 6191), and a receive buffer that grows with the path.

mod common;

use std::net::SocketAddr;

use common::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::options::{Negotiated, WindowShifts};
use stack::tcp::state::State;
use stack::tcp::timestamps::older;
use stack::time::{Duration, Instant};
use stack::wire::tcp::{Flags, TcpOptions, Timestamps};
use stack::{Config, Error, SocketHandle, Stack};

/// The shift our SYNs offer with the default 4 MiB receive buffer bound.
const SHIFT: u8 = 7;

/// Send `len` bytes from `from` on `tx` to the reader `rx` at `to`, reading
/// everything as it comes; the stacks' invariants hold throughout. Returns
/// the receive buffer's size after each step.
fn transfer(net: &mut Network<Node>, from: (usize, SocketHandle), to: (usize, SocketHandle), len: usize) -> Vec<usize> {
    let data = pattern(len, 7);
    let (mut sent, mut got, mut sizes) = (0, Vec::new(), Vec::new());
    run(net, Duration::from_secs(600), |n| {
        let now = n.now();
        if let Ok(k) = stack(n, from.0).send(now, from.1, &data[sent..]) {
            sent += k;
        }
        got.extend(read_all(n, to.0, to.1));
        sizes.push(stack(n, to.0).tcb(to.1).unwrap().rcv_buf.size);
        for i in [CLIENT, SERVER] {
            invariants(&n.host(i).stack).unwrap();
        }
        got.len() == len
    });
    assert!(got == data, "the data arrived changed");
    sizes
}

fn tsval(seg: &Seg) -> u32 {
    seg.repr.options.timestamps.expect("timestamps").tsval
}

fn tsecr(seg: &Seg) -> u32 {
    seg.repr.options.timestamps.expect("timestamps").tsecr
}

/// Window scaling and timestamps, each offered or not by either side: 16
/// cases. The SYN offers what its side enables; the SYN,ACK carries only
/// what both offered; an option is in force only then, on both sides. Both
/// SYNs' windows are unscaled; after them, windows past 64 KiB appear only
/// with scaling, timestamps in every segment or in none, and a full segment
/// carries 12 bytes less data with them.
#[test]
fn each_option_is_in_force_only_when_both_offer_it() {
    for case in 0..16 {
        let offer = |ws_bit: u32, ts_bit: u32, addr| {
            let mut c = config(addr);
            c.window_scaling = case & ws_bit != 0;
            c.timestamps = case & ts_bit != 0;
            c.recv_buffer_initial = 256 << 10;
            c
        };
        let (client, server) = (offer(1, 2, CLIENT_ADDR), offer(4, 8, SERVER_ADDR));
        let what = format!(
            "client ws={} ts={}, server ws={} ts={}",
            client.window_scaling, client.timestamps, server.window_scaling, server.timestamps
        );
        let ws = client.window_scaling && server.window_scaling;
        let ts = client.timestamps && server.timestamps;
        let mut net = pair_with(Faults::default(), client.clone(), server);
        net.capture(true);
        let (c, s) = establish(&mut net);
        transfer(&mut net, (CLIENT, c), (SERVER, s), 300_000);
        transfer(&mut net, (SERVER, s), (CLIENT, c), 300_000);

        let segs = captured(&mut net);
        let (syn, syn_ack) = (&segs[0], &segs[1]);
        assert_eq!(picture(&segs[..2]), ["C>S S", "S>C S."]);
        assert_eq!(syn.repr.options.window_scale, client.window_scaling.then_some(SHIFT), "{what}");
        assert_eq!(syn.repr.options.timestamps.is_some(), client.timestamps, "{what}");
        assert_eq!(syn_ack.repr.options.window_scale, ws.then_some(SHIFT), "{what}");
        assert_eq!(syn_ack.repr.options.timestamps.is_some(), ts, "{what}");
        if ts {
            assert_eq!(tsecr(syn), 0, "a SYN echoes nothing");
            assert_eq!(tsecr(syn_ack), tsval(syn), "the SYN,ACK echoes the SYN");
        }
        assert_eq!((syn.repr.window_len, syn_ack.repr.window_len), (65535, 65535), "{what}: SYN windows unscaled");

        let window_scale = ws.then_some(WindowShifts { rcv: SHIFT, snd: SHIFT });
        let agreed = Negotiated { window_scale, timestamps: ts, sack_permitted: true };
        for (i, h) in [(CLIENT, c), (SERVER, s)] {
            assert_eq!(stack(&mut net, i).tcb(h).unwrap().options, agreed, "{what}");
        }
        let after = &segs[2..];
        assert!(after.iter().all(|seg| seg.repr.options.timestamps.is_some() == ts), "{what}");
        let shift = if ws { SHIFT } else { 0 };
        let window = |seg: &Seg| usize::from(seg.repr.window_len) << shift;
        let largest = after.iter().map(window).max().unwrap();
        assert_eq!(largest > 65535, ws, "{what}: largest window {largest}");
        // The sender's SND.WND is the receiver's last window, scaled.
        let last_from_server = after.iter().rev().find(|seg| seg.is_from_server()).unwrap();
        assert_eq!(stack(&mut net, CLIENT).tcb(c).unwrap().snd.wnd, window(last_from_server), "{what}");
        let full = if ts { 1460 - 12 } else { 1460 };
        assert_eq!(after.iter().map(|seg| seg.len).max(), Some(full), "{what}");
    }
}

/// The largest shift, 14 (RFC 7323 §2.3), for a 1 GiB buffer: the window
/// reaches 65535 << 14 = 2^30 - 2^14, and every window is a multiple of
/// 2^14; the SYN,ACK's stays unscaled.
#[test]
fn shift_14_offers_a_window_of_almost_2_to_the_30() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer = 1 << 30;
    server.recv_buffer_initial = 1 << 30;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    net.capture(true);
    let (c, s) = establish(&mut net);
    transfer(&mut net, (CLIENT, c), (SERVER, s), 1 << 20);
    idle(&mut net, Duration::from_millis(100));
    let segs = captured(&mut net);
    assert_eq!(segs[1].repr.options.window_scale, Some(14));
    assert_eq!(segs[1].repr.window_len, 65535);
    assert!(segs[2..].iter().filter(|seg| seg.is_from_server()).all(|seg| seg.repr.window_len > 0));
    assert_eq!(stack(&mut net, CLIENT).tcb(c).unwrap().snd.wnd, 65535 << 14);
    assert_eq!(65535 << 14, (1 << 30) - (1 << 14));
}

/// A lone server and a peer played by hand, whose timestamps wrap past
/// 2^32 - 1 right after its SYN.
struct HandPeer {
    stack: Stack,
    addr: SocketAddr,
    /// The server's ISS + 1: what the peer acknowledges.
    ack: u32,
}

impl HandPeer {
    /// The handshake, the peer offering window scale 15 and TSval 2^32 - 3.
    fn connect(now: Instant, server: Config) -> (HandPeer, SocketHandle, Seg) {
        let mut stack = Stack::new(server);
        stack.listen(PORT, 4).unwrap();
        let addr = "10.0.0.1:40000".parse().unwrap();
        let mut syn = seg(40000, PORT, 1000, 0, Flags::SYN);
        let ts = Some(Timestamps { tsval: u32::MAX - 2, tsecr: 0 });
        syn.options = TcpOptions { mss: Some(1460), window_scale: Some(15), timestamps: ts, ..TcpOptions::default() };
        stack.receive(now, &packet(addr, server_addr(), &syn, &[]));
        let syn_ack = output(&mut stack, now).remove(0);
        let mut peer = HandPeer { stack, addr, ack: syn_ack.seq().wrapping_add(1) };
        let mut ack = seg(40000, PORT, 1001, peer.ack, Flags::ACK);
        ack.window_len = 1;
        ack.options.timestamps = Some(Timestamps { tsval: u32::MAX - 1, tsecr: tsval(&syn_ack) });
        peer.stack.receive(now, &packet(addr, server_addr(), &ack, &[]));
        let h = peer.stack.accept(PORT).expect("established");
        (peer, h, syn_ack)
    }

    /// A segment from the peer; returns what the server sends at once.
    fn send(&mut self, now: Instant, seq: u32, flags: Flags, tsval: Option<u32>, data: &[u8]) -> Vec<Seg> {
        let mut repr = seg(40000, PORT, seq, self.ack, flags);
        repr.options.timestamps = tsval.map(|tsval| Timestamps { tsval, tsecr: 0 });
        self.stack.receive(now, &packet(self.addr, server_addr(), &repr, data));
        output(&mut self.stack, now)
    }

    fn read(&mut self, now: Instant, h: SocketHandle) -> Result<Vec<u8>, Error> {
        let mut buf = [0; 64];
        let n = self.stack.recv(now, h, &mut buf)?;
        Ok(buf[..n].to_vec())
    }
}

/// PAWS (RFC 7323 §5): a segment in the window whose TSval is older than
/// the newest seen is an old duplicate: dropped, counted, and answered with
/// an ACK (§5.3 R1). "Older" is modulo 2^32: TSval 1 is newer than 2^32 - 1.
/// A segment without timestamps is dropped too (§3.2). After 24 days idle
/// TS.Recent is no longer valid (§5.5); an RST is never subject to PAWS.
#[test]
fn paws_drops_old_duplicates_across_the_timestamp_wrap() {
    let t0 = Instant::from_secs(1);
    let (mut peer, h, syn_ack) = HandPeer::connect(t0, config(SERVER_ADDR));
    assert_eq!(tsecr(&syn_ack), u32::MAX - 2);
    let tcb = peer.stack.tcb(h).unwrap();
    assert_eq!(tcb.options.snd_shift(), 14, "a shift of 15 is taken as 14");
    assert_eq!(tcb.snd.wnd, 1 << 14, "window 1, scaled");

    let data = Flags::ACK | Flags::PSH;
    assert!(peer.send(t0, 1001, data, Some(1), b"a").is_empty(), "past the wrap: newer; the ACK is delayed");
    assert_eq!(peer.read(t0, h), Ok(b"a".to_vec()));

    // Right at RCV.NXT, but from before the wrap.
    let out = peer.send(t0, 1002, data, Some(u32::MAX), b"b");
    assert_eq!(peer.stack.counters().drops.paws, 1);
    assert_eq!((out.len(), out[0].ack(), tsecr(&out[0])), (1, 1002, 1), "an ACK echoing TS.Recent");
    assert_eq!(peer.read(t0, h), Err(Error::WouldBlock));

    assert!(peer.send(t0, 1002, data, None, b"b").is_empty(), "no timestamps: dropped silently");
    assert_eq!(peer.stack.counters().drops.no_timestamp, 1);
    assert_eq!(peer.read(t0, h), Err(Error::WouldBlock));

    peer.send(t0, 1002, data, Some(2), b"b");
    assert_eq!(peer.read(t0, h), Ok(b"b".to_vec()));

    let later = t0 + Duration::from_secs(25 * 24 * 3600);
    peer.send(later, 1003, data, Some(u32::MAX - 100), b"c");
    assert_eq!(peer.read(later, h), Ok(b"c".to_vec()), "TS.Recent idle 24 days: not compared");
    assert_eq!(peer.stack.counters().drops.paws, 1);

    peer.send(later, 1004, Flags::RST, Some(u32::MAX - 200), b"");
    assert_eq!(peer.read(later, h), Err(Error::Reset), "an RST is exempt from PAWS");
}

/// RFC 7323 §2.4: a window the scaled field cannot carry exactly is
/// announced short, by less than a unit, of the edge offered before, but
/// what the earlier window allowed is still accepted. Here 1460 bytes of
/// buffer (one segment: rounding to whole segments leaves it so) and shift
/// 7: the SYN,ACK (unscaled) offers 1460 bytes; after 200 the ACK offers
/// 1152 (9 units), not 1260; the other 1260 all arrive.
#[test]
fn a_retracted_window_still_accepts_up_to_the_edge_offered_before() {
    let mut server = config(SERVER_ADDR);
    server.recv_buffer_initial = 1460;
    let t0 = Instant::from_secs(1);
    let (mut peer, h, syn_ack) = HandPeer::connect(t0, server);
    assert_eq!(syn_ack.repr.window_len, 1460);
    let data = pattern(1460, 4);
    let flags = Flags::ACK | Flags::PSH;
    peer.send(t0, 1001, flags, Some(1), &data[..100]);
    let out = peer.send(t0, 1101, flags, Some(1), &data[100..200]);
    assert_eq!((out[0].ack(), usize::from(out[0].repr.window_len) << SHIFT), (1201, 1152));
    peer.send(t0, 1201, flags, Some(1), &data[200..]);
    let mut got = Vec::new();
    while let Ok(chunk @ [_, ..]) = peer.read(t0, h).as_deref() {
        got.extend_from_slice(chunk);
    }
    assert!(got == data, "{} bytes of 1460", got.len());
}

/// What ACKs echo (TS.Recent, RFC 7323 §4.3): a delayed ACK echoes the
/// earliest segment it acknowledges, so the sender's RTT counts the delay;
/// duplicate ACKs for a hole echo the last segment in order, not those past
/// the hole; the retransmission that fills the hole is echoed next.
#[test]
fn acks_echo_the_earliest_segment_in_order() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    idle(&mut net, Duration::from_secs(1));
    stack(&mut net, CLIENT).set_nodelay(c, true);
    net.capture(true);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"first").unwrap();
    idle(&mut net, Duration::from_millis(10));
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"second").unwrap();
    idle(&mut net, Duration::from_millis(5));
    let segs = captured(&mut net);
    assert_eq!(picture(&segs), ["C>S P. len=5", "C>S P. len=6", "S>C ."], "two segments: ACKed at once");
    assert_eq!(tsval(&segs[1]), tsval(&segs[0]) + 10);
    assert_eq!(tsecr(&segs[2]), tsval(&segs[0]), "the ACK echoes the earlier segment");
    idle(&mut net, Duration::from_millis(100));
    read_all(&mut net, SERVER, s);

    // Four segments, the first lost once: three duplicate ACKs, then fast
    // retransmit fills the hole.
    let mut first = true;
    net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| seg.len > 0 && std::mem::take(&mut first)));
    captured(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &pattern(4 * FULL, 1)).unwrap();
    run(&mut net, Duration::from_secs(1), |n| read_all(n, SERVER, s).len() == 4 * FULL);
    idle(&mut net, Duration::from_millis(100));
    let segs = captured(&mut net);
    let burst = tsval(&segs[0]);
    let hole = segs[0].seq();
    let dup_acks: Vec<&Seg> = segs.iter().filter(|seg| seg.is_from_server() && seg.ack() == hole).collect();
    assert_eq!(dup_acks.len(), 3);
    assert!(dup_acks.iter().all(|a| older(tsecr(a), burst)), "duplicate ACKs echo what came before the hole");
    let again = segs.iter().rfind(|seg| !seg.is_from_server() && seg.seq() == hole).unwrap();
    assert!(older(burst, tsval(again)), "the retransmission is later");
    let filled = segs.iter().find(|seg| seg.is_from_server() && seg.ack() != hole && seg.at > again.at).unwrap();
    assert_eq!(tsecr(filled), tsval(again), "the ACK of the filled hole echoes the retransmission");
}

/// RTT measurement by timestamps (RFC 7323 §4): the ACK of a retransmitted
/// segment still measures, since it echoes the copy that arrived. With its
/// SYN lost once, Karn's rule leaves the handshake with no sample; the
/// timestamp gives the true round trip. Over a transfer, one sample per
/// ACK keeps SRTT at the path's round trip.
#[test]
fn timestamps_measure_the_rtt_even_of_a_retransmitted_syn() {
    for ts in [true, false] {
        let mut client = config(CLIENT_ADDR);
        client.timestamps = ts;
        let delay = Faults { delay: Duration::from_millis(10), ..Faults::default() };
        let mut net = pair_exact(delay, client, config(SERVER_ADDR));
        let mut first = true;
        net.host_mut(SERVER).drop_if = Some(Box::new(move |seg| seg.has(Flags::SYN) && std::mem::take(&mut first)));
        let (c, s) = establish(&mut net);
        let srtt = stack(&mut net, CLIENT).tcb(c).unwrap().rtt.srtt();
        assert_eq!(srtt, ts.then_some(Duration::from_millis(20)), "timestamps {ts}");
        if ts {
            transfer(&mut net, (CLIENT, c), (SERVER, s), 2 << 20);
            let srtt = stack(&mut net, CLIENT).tcb(c).unwrap().rtt.srtt().unwrap();
            assert!(srtt >= Duration::from_millis(20) && srtt <= Duration::from_millis(25), "{srtt:?}");
        }
    }
}

/// RFC 6191: a server in TIME-WAIT takes a new SYN from the same port at
/// once when its timestamp is newer than the old connection's, though its
/// sequence number lies below the old RCV.NXT (the client sent 1 MiB since
/// its last ISN). Without timestamps that SYN is an old duplicate for all
/// TIME-WAIT can tell: it is answered with an ACK and must wait.
#[test]
fn time_wait_takes_a_new_syn_whose_timestamp_is_newer() {
    for ts in [true, false] {
        let mut client = config(CLIENT_ADDR);
        client.timestamps = ts;
        let mut net = pair_with(Faults::default(), client, config(SERVER_ADDR));
        let (c, s) = establish(&mut net);
        transfer(&mut net, (CLIENT, c), (SERVER, s), 1 << 20);
        let old = stack(&mut net, CLIENT).tcb(c).unwrap();
        let (port, old_end) = (old.local.port(), old.snd.nxt);
        server_closes_first(&mut net, c, s);
        assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);

        let now = net.now();
        let c2 = stack(&mut net, CLIENT).connect_from(now, port, server_addr()).unwrap();
        assert!(stack(&mut net, CLIENT).tcb(c2).unwrap().snd.iss < old_end, "the new ISS is below the old RCV.NXT");
        idle(&mut net, Duration::from_millis(200));
        let reopened = stack(&mut net, SERVER).counters().time_wait_reopened;
        let state = stack(&mut net, CLIENT).state(c2);
        if ts {
            assert_eq!((reopened, state), (1, Some(State::Established)));
        } else {
            assert_eq!((reopened, state), (0, Some(State::SynSent)));
        }
    }
}

/// Receive-buffer auto-tuning: over a 10 ms round trip a reader that keeps
/// up sees its buffer grow from 64 KiB to the bound, never shrinking nor
/// passing it, and the transfer runs far faster than with a fixed 64 KiB;
/// a reader that reads slowly keeps the small buffer.
#[test]
fn the_receive_buffer_grows_with_the_path_up_to_its_bound() {
    let path = |bound: usize| {
        let mut client = config(CLIENT_ADDR);
        client.send_buffer = 4 << 20;
        let mut server = config(SERVER_ADDR);
        server.recv_buffer = bound;
        // A little jitter spreads a window's segments out in time, as a
        // real link's rate does, so the receiver's ACKs clock the sender.
        let path = Faults { delay: Duration::from_millis(5), jitter: Duration::from_millis(1), ..Faults::default() };
        let mut net = pair_exact(path, client, server);
        let (c, s) = establish(&mut net);
        (net, c, s)
    };
    let timed = |bound: usize| {
        let (mut net, c, s) = path(bound);
        let start = net.now();
        let sizes = transfer(&mut net, (CLIENT, c), (SERVER, s), 16 << 20);
        (net.now() - start, sizes)
    };
    let (fixed, sizes) = timed(64 << 10);
    assert!(sizes.iter().all(|&size| size == 64 << 10));
    let (tuned, sizes) = timed(1 << 20);
    assert_eq!(sizes[0], 45 * 1460, "starts small: 64 KiB, in whole segments");
    assert!(sizes.windows(2).all(|w| w[1] >= w[0]), "never shrinks");
    assert_eq!(sizes.last(), Some(&(1 << 20)), "grows to the bound and no further");
    assert!(tuned * 5 < fixed, "16 MiB in {tuned:?} tuned, {fixed:?} with 64 KiB");

    // 4 KiB read every 10 ms: the buffer stays as it started.
    let (mut net, c, s) = path(1 << 20);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &pattern(1 << 20, 3)).unwrap();
    for _ in 0..200 {
        idle(&mut net, Duration::from_millis(10));
        let now = net.now();
        stack(&mut net, SERVER).recv(now, s, &mut [0; 4096]).unwrap();
    }
    assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().rcv_buf.size, 45 * 1460);
}
