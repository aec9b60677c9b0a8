//! Sequence numbers across the 2^32 wrap (RFC 9293 §3.4: "the sequence
//! number space ranges from 0 to 2^32 − 1 ... all arithmetic dealing with
//! sequence numbers must be performed modulo 2^32").
//!
//! Both initial sequence numbers are put just below 2^32, so that every
//! comparison the stack makes — acceptability, ACK ranges, windows,
//! reassembly, the FIN — is made across the wrap in both directions.

mod common;

use std::net::SocketAddr;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::isn::IsnGenerator;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};

const MB: u32 = 1 << 20;
const CLIENT_PORT: u16 = 40000;
const LEN: usize = 10 * 1024 * 1024;

/// The ISN a generator with `key` gives `local`/`remote` at `at`.
fn isn(key: [u8; 16], at: Instant, local: SocketAddr, remote: SocketAddr) -> u32 {
    IsnGenerator::new(key).start(at, local, remote).iss.0
}

/// 10 MB each way, both ISNs within 1 MB below 2^32, the last segment
/// before the wrap lost each way: both streams arrive complete and
/// unaltered, the segments past the wrap are held while the lost one is
/// retransmitted, both directions' sequence numbers really wrap, and the
/// connection then closes normally with its FINs past the wrap.
#[test]
fn ten_megabytes_each_way_across_the_wrap() {
    let client = SocketAddr::new(CLIENT_ADDR.into(), CLIENT_PORT);
    let server = server_addr();
    let client_config = config(CLIENT_ADDR);

    // ISN = (now_micros / 4 + F(tuple, key)) mod 2^32 (§3.4.1). Pick the
    // moment the client connects so that its ISN is 512 KB below 2^32...
    let f_client = isn(client_config.isn_key, Instant::ZERO, client, server);
    let ticks = (u32::MAX - MB / 2 + 1).wrapping_sub(f_client);
    let start = Instant::from_micros(u64::from(ticks) * 4);
    assert_eq!(isn(client_config.isn_key, start, client, server), u32::MAX - MB / 2 + 1);
    // ...and search for a server key that puts the server's ISN, when the
    // SYN arrives 1 ms later, between 1 MB and 64 KB below 2^32.
    let syn_arrives = start + Duration::from_millis(1);
    let server_key = (0u64..)
        .map(|i| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&i.to_le_bytes());
            key
        })
        .find(|&key| (u32::MAX - MB..u32::MAX - 64 * 1024).contains(&isn(key, syn_arrives, server, client)))
        .unwrap();
    let mut server_config = config(SERVER_ADDR);
    server_config.isn_key = server_key;

    let mut net = pair_with(Faults::default(), client_config, server_config);
    net.run_until(start, |_| false);
    assert_eq!(net.now(), start);
    let c = stack(&mut net, CLIENT).connect_from(start, CLIENT_PORT, server).unwrap();
    let mut s = None;
    run(&mut net, Duration::from_secs(5), |n| {
        s = s.or_else(|| stack(n, SERVER).accept(PORT));
        s.is_some() && stack(n, CLIENT).state(c) == Some(State::Established)
    });
    let s = s.unwrap();
    let iss = |n: &mut _, i, h| stack(n, i).tcb(h).unwrap().snd.iss.0;
    let (client_iss, server_iss) = (iss(&mut net, CLIENT, c), iss(&mut net, SERVER, s));
    for (who, iss) in [("client", client_iss), ("server", server_iss)] {
        assert!(iss >= u32::MAX - MB, "{who} ISS {iss} is not within 1 MB below 2^32");
    }

    // Each way, the segment that starts in the last MSS before 2^32 is lost.
    for i in [CLIENT, SERVER] {
        let mut first = true;
        net.host_mut(i).drop_if =
            Some(Box::new(move |seg| seg.len > 0 && seg.seq() >= u32::MAX - 1459 && std::mem::take(&mut first)));
    }

    // 10 MB each way, written as fast as the send buffers take it.
    let (up, down) = (pattern(LEN, 7), pattern(LEN, 8));
    let (mut sent_up, mut sent_down) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::with_capacity(LEN), Vec::with_capacity(LEN));
    run(&mut net, Duration::from_secs(600), |n| {
        let now = n.now();
        sent_up += stack(n, CLIENT).send(now, c, &up[sent_up..]).unwrap_or(0);
        sent_down += stack(n, SERVER).send(now, s, &down[sent_down..]).unwrap_or(0);
        got_up.extend(read_all(n, SERVER, s));
        got_down.extend(read_all(n, CLIENT, c));
        got_up.len() == LEN && got_down.len() == LEN
    });
    assert!(got_up == up, "the client's stream arrived altered");
    assert!(got_down == down, "the server's stream arrived altered");
    // One segment was lost each way, the last one before the wrap: the
    // segments after it, past the wrap, must have been held as in the
    // window (§3.10.7.4), so that one fast retransmission filled the gap.
    // Taken for segments outside the window, they would have been dropped
    // and sent again too.
    for i in [CLIENT, SERVER] {
        assert_eq!(net.host(i).dropped.len(), 1);
        assert_eq!(stack(&mut net, i).counters().retransmissions, 1, "stack {i}");
    }

    // Both directions wrapped: SND.UNA is now numerically below the ISS,
    // and exactly SYN + 10 MB beyond it modulo 2^32; RCV.NXT agrees.
    run(&mut net, Duration::from_secs(5), |n| {
        let all_acked = |t: &stack::tcp::tcb::Tcb| t.snd.una == t.snd.nxt;
        all_acked(n.host(CLIENT).stack.tcb(c).unwrap()) && all_acked(n.host(SERVER).stack.tcb(s).unwrap())
    });
    for (i, h, other, iss) in [(CLIENT, c, s, client_iss), (SERVER, s, c, server_iss)] {
        let una = stack(&mut net, i).tcb(h).unwrap().snd.una.0;
        assert!(una < iss, "stack {i}: SND.UNA {una} did not wrap past 2^32 (ISS {iss})");
        assert_eq!(una.wrapping_sub(iss), LEN as u32 + 1);
        assert_eq!(stack(&mut net, 1 - i).tcb(other).unwrap().rcv.nxt.0, una);
    }

    // The FINs, too, are past the wrap; both ends reach CLOSED.
    let now = net.now();
    stack(&mut net, CLIENT).close(now, c);
    run(&mut net, Duration::from_secs(5), |n| stack(n, SERVER).state(s) == Some(State::CloseWait));
    let now = net.now();
    stack(&mut net, SERVER).close(now, s);
    run(&mut net, Duration::from_secs(5), |n| {
        stack(n, CLIENT).connections().count() == 0 && stack(n, SERVER).connections().count() == 0
    });
    assert_eq!(stack(&mut net, CLIENT).time_wait_count(), 1);
}
