//! Property tests: whatever the network does (loss, duplication,
//! reordering, corruption, delay, a small MTU) and however the applications
//! write, read and close, TCP delivers each byte stream complete, in order
//! and unaltered, and both ends get back to CLOSED (RFC 9293 §1, §3.6).
//!
//! Each case draws the faults, the stream lengths, an application seed
//! (write sizes, read moments, read sizes, and whether each write is copied,
//! `send`, or shared, `send_bytes`), who closes first, and the family (IPv4
//! or IPv6: one code path, so one set of properties). The number
//! of cases is `PROPTEST_CASES`, 64 by default, so `cargo test` stays quick;
//! raise it for a longer hunt, e.g. `PROPTEST_CASES=1000 cargo test -p stack
//! --test properties`.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::time::{Duration, Instant};
use stack::{Config, Error, Ready, SocketHandle};

/// How the two applications end the connection.
#[derive(Copy, Clone, Debug)]
enum Close {
    /// The client closes once it has read everything; the server closes
    /// when it has read the end of the stream (Figure 12 of §3.6).
    ClientFirst,
    /// The same with the roles swapped.
    ServerFirst,
    /// Both close at the same instant (Figure 13 of §3.6).
    Simultaneous,
    /// Each side shuts down its sending side as soon as its last byte is
    /// written, reads to the end of the peer's stream, then closes: the FIN
    /// travels behind the data through the faults.
    HalfCloseWhenDone,
}

/// One case: the network's faults, what each side sends, and the
/// applications' behaviour.
#[derive(Clone, Debug)]
struct Scenario {
    faults: Faults,
    to_server: usize,
    to_client: usize,
    app_seed: u64,
    close: Close,
    client_mtu: usize,
    server_mtu: usize,
    /// The connection runs over IPv6 (both stacks have both families).
    ipv6: bool,
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, max_shrink_iters: 200, ..ProptestConfig::default() }
}

fn close_strategy() -> impl Strategy<Value = Close> {
    prop_oneof![
        Just(Close::ClientFirst),
        Just(Close::ServerFirst),
        Just(Close::Simultaneous),
        Just(Close::HalfCloseWhenDone)
    ]
}

/// A probability from 0 to `max_percent` %, in steps of 0.1 %.
fn percent(max_percent: u32) -> impl Strategy<Value = f64> {
    (0..=max_percent * 10).prop_map(|permille| f64::from(permille) / 1000.0)
}

/// Loss, duplication, reordering and corruption each up to 20 %, streams
/// up to `max_len` bytes each way, over either family.
fn scenario(max_len: usize) -> impl Strategy<Value = Scenario> {
    (
        percent(20),
        percent(20),
        percent(20),
        percent(20),
        any::<u64>(),
        0..=max_len,
        0..=max_len,
        any::<u64>(),
        close_strategy(),
        any::<bool>(),
    )
        .prop_map(|(loss, dup, reorder, corrupt, seed, to_server, to_client, app_seed, close, ipv6)| Scenario {
            faults: Faults { loss, dup, reorder, corrupt, seed, delay: Duration::from_millis(1), ..Faults::default() },
            to_server,
            to_client,
            app_seed,
            close,
            client_mtu: 1500,
            server_mtu: 1500,
            ipv6,
        })
}

/// A stack's configuration for these tests. Under 20 % loss and 20 %
/// corruption each way a segment and its ACK both get through only two
/// times in five, so the default limits (3 minutes for a SYN, 2 for a
/// SYN,ACK, 12 retries for data) would now and then give up, which is
/// correct behaviour but not what these tests are about: they are raised.
fn test_config(addr: std::net::Ipv4Addr, mtu: usize) -> Config {
    let mut c = config(addr);
    c.mtu = mtu;
    c.addr6 = c.addr6.filter(|_| mtu >= stack::tcp::IPV6_MIN_MTU);
    c.syn_timeout = Duration::from_secs(30 * 60);
    c.syn_ack_timeout = Duration::from_secs(30 * 60);
    c.max_retries = 30;
    c
}

/// One application: the stream it writes, how far it got, what it read.
struct App {
    h: SocketHandle,
    out: Bytes,
    /// Whether each write is copied or shared: a generator of its own, so
    /// the other choices stay as they were.
    sharing: AppRng,
    written: usize,
    got: Vec<u8>,
    eof: bool,
    shut: bool,
    closed: bool,
}

impl App {
    fn new(h: SocketHandle, out: Vec<u8>, seed: u64) -> App {
        let (out, sharing) = (Bytes::from(out), AppRng::new(seed));
        App { h, out, sharing, written: 0, got: Vec::new(), eof: false, shut: false, closed: false }
    }

    /// Maybe write a chunk of random size (1 byte to 64 KB), copied or by
    /// reference, maybe read into a buffer of random size (1 byte to 16 KB).
    /// Returns whether anything was written or read.
    fn step(&mut self, net: &mut Network<Node>, i: usize, rng: &mut AppRng, half_close: bool) -> bool {
        let now = net.now();
        let s = stack(net, i);
        if self.closed {
            return false;
        }
        let before = (self.written, self.got.len(), self.eof);
        if self.written < self.out.len() && rng.one_in(2) {
            let most = rng.size(16);
            let n = most.min(self.out.len() - self.written);
            let piece = self.out.slice(self.written..self.written + n);
            let sent =
                if self.sharing.one_in(2) { s.send_bytes(now, self.h, piece) } else { s.send(now, self.h, &piece) };
            match sent {
                Ok(k) => self.written += k,
                Err(Error::WouldBlock) => {}
                Err(e) => panic!("side {i}: send failed: {e}"),
            }
        }
        if half_close && self.written == self.out.len() && !self.shut {
            s.shutdown(now, self.h).unwrap();
            self.shut = true;
        }
        if !self.eof && rng.one_in(3) {
            let mut buf = vec![0; rng.size(14)];
            match s.recv(now, self.h, &mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => {}
                Err(e) => panic!("side {i}: recv failed: {e}"),
            }
        }
        before != (self.written, self.got.len(), self.eof)
    }

    fn close(&mut self, net: &mut Network<Node>, i: usize) {
        let now = net.now();
        stack(net, i).close(now, self.h);
        self.closed = true;
    }
}

/// Assert the invariants of both stacks, and one between them: a receiver
/// never has more than its peer sent (RCV.NXT ≤ the peer's SND.NXT).
fn check(net: &mut Network<Node>, c: SocketHandle, s: SocketHandle) {
    for i in [CLIENT, SERVER] {
        if let Err(e) = invariants(&net.host(i).stack) {
            panic!("at {}: stack {i}: {e}", net.now());
        }
    }
    if let (Some(ct), Some(st)) = (net.host(CLIENT).stack.tcb(c), net.host(SERVER).stack.tcb(s)) {
        let sound =
            |a: &stack::tcp::tcb::Tcb, b: &stack::tcp::tcb::Tcb| !a.state.is_synchronized() || a.rcv.nxt <= b.snd.nxt;
        assert!(sound(ct, st) && sound(st, ct), "at {}: received more than was sent: {:#?}", net.now(), summaries(net));
    }
}

/// Run a scenario to the end and check everything the module promises.
fn run_scenario(sc: &Scenario, faults: Faults) {
    let mut net = pair_exact(faults, test_config(CLIENT_ADDR, sc.client_mtu), test_config(SERVER_ADDR, sc.server_mtu));
    // Under the worst faults a segment is lost again and again, and the
    // retransmission timer backs off up to 60 s: allow hours of virtual
    // time (it costs little real time).
    let deadline = Instant::ZERO + Duration::from_secs(6 * 3600);
    let server = if sc.ipv6 { SocketAddr::new(SERVER_ADDR6.into(), PORT) } else { server_addr() };
    let (c, s) = establish_within(&mut net, server, deadline);
    let to_server = pattern(sc.to_server, sc.app_seed);
    let to_client = pattern(sc.to_client, !sc.app_seed);
    let mut apps = [App::new(c, to_server.clone(), sc.app_seed ^ 1), App::new(s, to_client.clone(), sc.app_seed ^ 2)];
    let mut rng = AppRng::new(sc.app_seed);
    let half_close = matches!(sc.close, Close::HalfCloseWhenDone);

    // The applications run at random moments, 0 to 5 ms apart while they
    // get something done, further apart (up to a second) while they wait,
    // until everything is read and the closes are done.
    let mut closing_started = false;
    let mut pause = 5000;
    while net.now() < deadline {
        let mut busy = false;
        for (i, app) in apps.iter_mut().enumerate() {
            busy |= app.step(&mut net, i, &mut rng, half_close);
        }
        pause = if busy { 5000 } else { (pause * 2).min(1_000_000) };
        check(&mut net, c, s);
        let [client, server] = &mut apps;
        let all_read = client.got.len() == sc.to_client && server.got.len() == sc.to_server;
        assert!(client.got.len() <= sc.to_client && server.got.len() <= sc.to_server, "more bytes than were sent");
        if all_read && !closing_started {
            // Everything arrived; it must be the very bytes sent. (close
            // discards unread data, so the check comes before.)
            assert!(client.got == to_client, "the stream to the client differs");
            assert!(server.got == to_server, "the stream to the server differs");
            closing_started = true;
            match sc.close {
                Close::ClientFirst => client.close(&mut net, CLIENT),
                Close::ServerFirst => server.close(&mut net, SERVER),
                Close::Simultaneous => {
                    client.close(&mut net, CLIENT);
                    server.close(&mut net, SERVER);
                }
                Close::HalfCloseWhenDone => {}
            }
        }
        // The one left open closes once it has read the end of the stream.
        for (i, app) in [(CLIENT, &mut *client), (SERVER, &mut *server)] {
            if closing_started && app.eof && !app.closed {
                app.close(&mut net, i);
            }
        }
        if client.closed && server.closed {
            break;
        }
        let next = net.now() + Duration::from_micros(rng.below(pause));
        net.run_until(next, |_| false);
    }
    assert!(
        apps.iter().all(|a| a.closed),
        "not closed by {deadline}: read {} and {}; TCBs: {:#?}",
        apps[0].got.len(),
        apps[1].got.len(),
        summaries(&net)
    );

    // Both ends reach CLOSED: no TCB left, and TIME-WAIT over after 2·MSL.
    let gone = net.run_until(deadline, |n| {
        stack(n, CLIENT).connections().count() == 0 && stack(n, SERVER).connections().count() == 0
    });
    assert!(gone, "TCBs left: {:#?}", summaries(&net));
    // Segments still on the way (a reordered duplicate FIN) may restart a
    // TIME-WAIT clock: wait for the network to empty, then 2·MSL.
    idle(&mut net, Duration::from_secs(2));
    idle(&mut net, MSL * 2);
    check(&mut net, c, s);
    for i in [CLIENT, SERVER] {
        assert_eq!(stack(&mut net, i).time_wait_count(), 0, "stack {i} still in TIME-WAIT after 2·MSL");
    }

    // Every corrupted copy was caught by a checksum (or, for a flip in a
    // length field, a length check; for one that turns version 4 into 6,
    // the IPv6 destination it then has, which is nobody's; for IPv6's next
    // header, the protocol) and counted; none was taken for data. IPv6 has
    // no header checksum, and TCP's pseudo-header leaves out its traffic
    // class, flow label and hop limit (RFC 8200 §8.1): a flip there changes
    // nothing we read, and the packet counts as good, so over IPv6 a few
    // may go uncaught (and the streams' integrity, above, shows they did
    // no harm).
    let corrupted: u64 = net.stats().paths.iter().map(|p| p.faults.corrupted).sum();
    let caught: u64 = [CLIENT, SERVER]
        .iter()
        .map(|&i| {
            let d = &net.host(i).stack.counters().drops;
            d.checksum + d.malformed + d.not_for_us + d.other_protocol
        })
        .sum();
    if sc.ipv6 {
        assert!(caught <= corrupted, "{caught} drops counted for {corrupted} corrupted packets");
    } else {
        assert_eq!(caught, corrupted, "corrupted packets vs drops counted");
    }
    let too_big: u64 = net.stats().paths.iter().map(|p| p.faults.too_big).sum();
    assert_eq!(too_big, 0, "a packet exceeded the path MTU");
}

/// `establish_to` with a deadline long enough for SYNs lost many times over.
fn establish_within(net: &mut Network<Node>, server: SocketAddr, deadline: Instant) -> (SocketHandle, SocketHandle) {
    let now = net.now();
    let c = stack(net, CLIENT).connect(now, server).unwrap();
    let mut s = None;
    let done = net.run_until(deadline, |n| {
        s = s.or_else(|| stack(n, SERVER).accept(PORT));
        s.is_some() && stack(n, CLIENT).state(c) == Some(stack::tcp::state::State::Established)
    });
    assert!(done, "no connection by {deadline}");
    (c, s.unwrap())
}

proptest! {
    #![proptest_config(cases(64))]

    /// Under up to 20 % loss, duplication, reordering and corruption, with
    /// random write sizes and reads at random moments, 0–300 KB each way
    /// arrive complete, in order and unaltered (§3.4, §3.10.7.4 "seventh":
    /// the retransmission queue, the out-of-order queue, trimming overlaps,
    /// checksums); then whoever closes first, both ends reach CLOSED and
    /// TIME-WAIT lasts no longer than 2·MSL (§3.6).
    #[test]
    fn streams_arrive_intact_through_faults_and_both_ends_close(sc in scenario(300 * 1024)) {
        run_scenario(&sc, sc.faults.clone());
    }

    /// The same on a path whose MTU is 576 (so IPv4: IPv6 needs 1280): the
    /// server's stack has that MTU and says so with its MSS option; the
    /// client's has 576 or 1500 and must never send a segment larger than
    /// the peer's MSS allows (§3.7.1).
    /// A packet over the path MTU is lost, so one would stall the transfer
    /// and show in the path's `too_big` count.
    #[test]
    fn small_mtu_is_respected_through_the_mss_option(
        sc in scenario(100 * 1024),
        client_mtu in prop_oneof![Just(576usize), Just(1500usize)],
    ) {
        let sc = Scenario { client_mtu, server_mtu: 576, ipv6: false, ..sc };
        run_scenario(&sc, Faults { mtu: Some(576), ..sc.faults.clone() });
    }

    /// The same on a long, jittery path (100–200 ms each way, up to 50 ms
    /// jitter): the RTT estimate (RFC 6298) and the windows must cope with
    /// many segments in flight and no spurious give-up.
    #[test]
    fn long_jittery_paths(sc in scenario(100 * 1024), delay in 100u64..=200, jitter in 0u64..=50) {
        let faults = Faults {
            delay: Duration::from_millis(delay),
            jitter: Duration::from_millis(jitter),
            ..sc.faults.clone()
        };
        run_scenario(&sc, faults);
    }
}

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

/// Both sides retransmit after a timeout, resending from SND.UNA (RFC 6298
/// §5.4), while each has in fact received everything the other sent. An
/// ACK must then carry a sequence number the peer accepts (§3.10.7.4
/// "first"): SND.NXT, which a retransmission never moves back, not the
/// sequence number being resent, which lies below the peer's RCV.NXT and
/// makes the peer drop the ACK and answer with its own unacceptable ACK: an
/// ACK storm, until both connections time out. (Found by
/// `streams_arrive_intact_...` with loss and reordering, when a timeout
/// pulled SND.NXT back.)
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
            t.snd.una == t.snd.nxt
        };
        to_client.len() == data.len() && to_server.len() == data.len() && acked(n, CLIENT, c) && acked(n, SERVER, s)
    });
    assert!(to_client == data && to_server == data);
    for i in [CLIENT, SERVER] {
        assert!(stack(&mut net, i).counters().retransmissions > 0, "the test needs both sides to time out");
        assert_eq!(stack(&mut net, i).counters().connections_timed_out, 0);
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

/// Fast retransmit (RFC 5681 §3.2) sends the first unacknowledged segment
/// again: only bytes sent before, up to SND.NXT. Here 100 bytes are in
/// flight (the peer's whole window) and more wait behind them; the
/// retransmission must carry those 100 bytes, not a full MSS, or it would
/// send new data beyond the peer's window without counting it in SND.NXT,
/// after which every ACK of it looks like an ACK of unsent data and is
/// dropped (§3.10.7.4 "fifth"), until the connection times out. (Found by
/// `streams_arrive_intact_...` with duplication and a closing window.)
#[test]
fn fast_retransmit_resends_only_what_was_sent() {
    use stack::wire::seq::SeqNum;
    use stack::wire::tcp::Flags;
    let mut client = stack::Stack::new(config(CLIENT_ADDR));
    let me = std::net::SocketAddr::new(CLIENT_ADDR.into(), 40000);
    let now = Instant::ZERO;
    let c = client.connect_from(now, 40000, server_addr()).unwrap();
    let syn = output(&mut client, now).remove(0);
    let mut syn_ack = seg(PORT, 40000, 5000, syn.seq().wrapping_add(1), Flags::SYN | Flags::ACK);
    syn_ack.window_len = 100;
    client.receive(now, &packet(server_addr(), me, &syn_ack, &[]));
    output(&mut client, now);
    assert_eq!(client.send(now, c, &pattern(5000, 9)), Ok(5000));
    let first = output(&mut client, now);
    assert_eq!(first.iter().map(|s| s.len).collect::<Vec<_>>(), [100], "the peer's window: 100 bytes");

    let una = client.tcb(c).unwrap().snd.una.0;
    let mut dup_ack = seg(PORT, 40000, 5001, una, Flags::ACK);
    dup_ack.window_len = 100;
    let mut sent = Vec::new();
    for _ in 0..3 {
        client.receive(now, &packet(server_addr(), me, &dup_ack, &[]));
        sent.extend(output(&mut client, now));
    }
    assert_eq!(sent.iter().map(|s| (s.seq(), s.len)).collect::<Vec<_>>(), [(una, 100)], "one retransmission");
    let t = client.tcb(c).unwrap();
    assert_eq!(t.snd.nxt, SeqNum(una) + 100);
}
