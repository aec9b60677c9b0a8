//! Property tests: whatever the network does (loss, duplication,
//! reordering, corruption, delay, a small MTU) and however the applications
//! write, read and close, TCP delivers each byte stream complete, in order
//! and unaltered, and both ends get back to CLOSED (RFC 9293 §1, §3.6).
//!
//! Each case draws the faults, the stream lengths, an application seed
//! (write sizes, read moments, read sizes) and who closes first. The number
//! of cases is `PROPTEST_CASES`, 64 by default, so `cargo test` stays quick;
//! raise it for a longer hunt, e.g. `PROPTEST_CASES=1000 cargo test -p stack
//! --test properties`.

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::time::Duration;
use stack::{Error, Ready};

// ----------------------------------------------------------------------
// Regressions found by the properties above, kept as plain tests.
// ----------------------------------------------------------------------

/// A socket that shut down its sending side and then receives the peer's
/// data and FIN goes FIN-WAIT-2 → TIME-WAIT (§3.6) before its application
/// has read anything. The data was acknowledged, so it must still be
/// readable, followed by the end of the stream, and the handle must stay
/// valid until the application closes it; the TIME-WAIT duties go to the
/// TIME-WAIT table meanwhile. (Found by `streams_arrive_intact_...` with
/// `HalfCloseWhenDone`: the stack deleted the TCB, unread data and all, on
/// entering TIME-WAIT, and `recv` said "no such socket".)
#[test]
fn unread_data_survives_time_wait_until_the_application_closes() {
    use stack::tcp::state::State;
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, SERVER).shutdown(now, s).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::FinWait2));
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"last words").unwrap();
    stack(&mut net, CLIENT).close(now, c);
    run(&mut net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c).is_none());
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "the TIME-WAIT table holds the 4-tuple");
    assert_eq!(stack(&mut net, SERVER).state(s), Some(State::TimeWait), "the application still holds the socket");

    let events = events(&mut net, SERVER);
    assert!(ready_of(&events, s).contains(Ready::READABLE | Ready::PEER_CLOSED | Ready::CLOSED), "{events:?}");
    let now = net.now();
    let mut buf = [0u8; 64];
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"last words");
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut buf), Ok(0), "then the end of the stream");
    assert_eq!(stack(&mut net, SERVER).send(now, s, b"x"), Err(Error::Closing));
    stack(&mut net, SERVER).close(now, s);
    assert_eq!(stack(&mut net, SERVER).state(s), None);
    assert_eq!(stack(&mut net, SERVER).connections().count(), 0);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1, "closing the socket does not end TIME-WAIT");
    idle(&mut net, MSL * 2);
    assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
}

/// Both sides retransmit after a timeout, so each pulls SND.NXT back to
/// SND.UNA (RFC 6298 §5.4 and the go-back-N of this stack), while each has
/// in fact received everything the other sent. An ACK must then carry a
/// sequence number the peer accepts (§3.10.7.4 "first"): the highest ever
/// sent, SND.MAX (the RFC's SND.NXT, which never moves back), not the
/// pulled-back SND.NXT, which lies below the peer's RCV.NXT and makes the
/// peer drop the ACK and answer with its own unacceptable ACK: an ACK
/// storm, until both connections time out. (Found by
/// `streams_arrive_intact_...` with loss and reordering.)
#[test]
fn acks_after_a_timeout_carry_a_sequence_number_the_peer_accepts() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let data = pattern(3 * 1460, 1);
    // Every pure ACK is lost for 700 ms: each side receives all the
    // other's data, but hears nothing of its own, so both time out (twice).
    let until = net.now() + Duration::from_millis(700);
    for i in [CLIENT, SERVER] {
        net.host_mut(i).drop_if = Some(Box::new(move |seg| seg.len == 0 && seg.at < until));
    }
    let now = net.now();
    assert_eq!(stack(&mut net, CLIENT).send(now, c, &data), Ok(data.len()));
    assert_eq!(stack(&mut net, SERVER).send(now, s, &data), Ok(data.len()));
    let (mut to_client, mut to_server) = (Vec::new(), Vec::new());
    run(&mut net, Duration::from_secs(5), |n| {
        to_client.extend(read_all(n, CLIENT, c));
        to_server.extend(read_all(n, SERVER, s));
        let acked = |n: &mut Network<Node>, i, h| {
            let t = stack(n, i).tcb(h).unwrap();
            t.snd_una == t.snd_max
        };
        to_client.len() == data.len() && to_server.len() == data.len() && acked(n, CLIENT, c) && acked(n, SERVER, s)
    });
    assert!(to_client == data && to_server == data);
    for i in [CLIENT, SERVER] {
        assert!(stack(&mut net, i).counters().retransmissions > 0, "the test needs both sides to time out");
        assert_eq!(stack(&mut net, i).counters().timeouts, 0);
    }
}

/// The other way to CLOSED (§3.6, Figure 12, the side that closes second):
/// CLOSE-WAIT → LAST-ACK → CLOSED with the application still holding the
/// socket, having shut down its sending side but not read the end of the
/// peer's stream. Nothing more can ever arrive, so after the data `recv`
/// must report the end of the stream, not "would block" forever. (Found by
/// `small_mtu_...` with `HalfCloseWhenDone`.)
#[test]
fn end_of_stream_is_readable_after_last_ack() {
    use stack::tcp::state::State;
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, b"bye").unwrap();
    stack(&mut net, CLIENT).shutdown(now, c).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::CloseWait));
    let now = net.now();
    stack(&mut net, SERVER).shutdown(now, s).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, SERVER).state(s) == Some(State::Closed));

    let now = net.now();
    let mut buf = [0u8; 16];
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"bye");
    assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut buf), Ok(0), "end of stream in CLOSED");
    assert_eq!(stack(&mut net, CLIENT).recv(now, c, &mut buf), Ok(0), "and in TIME-WAIT");
}
