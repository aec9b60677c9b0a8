//! The story a connection keeps (`stack/src/tcp/story.rs`): what is
//! recorded, exactly, for a scripted conversation in the simulator; that
//! the story of a closed connection, TIME-WAIT's included, outlives it;
//! and that a host is shown only its own connections.

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::tcp::story::{Dir, Record, StoryView};
use stack::tcp::Stories;
use stack::time::Duration;
use stack::wire::seq::SeqNum;
use stack::Stack;

/// A client and a server that record every connection's story.
fn recording_all() -> stack::link::sim::Network<Node> {
    let (mut client, mut server) = (config(CLIENT_ADDR), config(SERVER_ADDR));
    client.stories = Stories::All;
    server.stories = Stories::All;
    pair_with(Faults::default(), client, server)
}

/// One record as a line: segments as tcpdump would show them, with
/// sequence numbers relative to the ISNs (`iss`, `irs` of the view), the
/// time in ms since `t0`.
fn lines(view: &StoryView) -> Vec<String> {
    let t0 = view.story.opened;
    let rel = |seq: SeqNum, dir: Dir, ack: bool| match (dir, ack) {
        (Dir::In, false) | (Dir::Out, true) => seq - view.irs,
        (Dir::Out, false) | (Dir::In, true) => seq - view.iss,
    };
    view.story
        .records()
        .map(|r| {
            let t = r.at().saturating_since(t0).as_millis();
            match *r {
                Record::Segment { dir, flags, seq, ack, len, kind, by, .. } => {
                    let ack = if flags.contains(stack::wire::tcp::Flags::ACK) {
                        format!(" ack {}", rel(ack, dir, true))
                    } else {
                        String::new()
                    };
                    let by = by.path().rsplit("::").next().unwrap_or("");
                    format!("{t} {dir:?} {flags:?} seq {}{ack} len {len} {} by {by}", rel(seq, dir, false), kind.name())
                }
                Record::State { from, to, reason, .. } => {
                    let from = from.map_or("LISTEN".to_string(), |s| s.to_string());
                    format!("{t} {from} -> {to} ({reason})")
                }
                Record::Sample { srtt_us, rto_us, cwnd, ssthresh, snd_wnd, .. } => {
                    let srtt = srtt_us.map_or("-".into(), |us| format!("{}", us / 1000));
                    let ssthresh = ssthresh.map_or("-".into(), |n| n.to_string());
                    format!(
                        "{t} sample srtt {srtt} rto {} cwnd {cwnd} ssthresh {ssthresh} wnd {snd_wnd}",
                        rto_us / 1000
                    )
                }
            }
        })
        .collect()
}

/// The server's story of one whole conversation, exactly: the handshake,
/// a request and a response whose first segment the client loses twice
/// (a loss probe, then the retransmission timeout), the server's close
/// through FIN-WAIT-1, FIN-WAIT-2 and TIME-WAIT, and TIME-WAIT's end
/// 2·MSL later, kept in the recently closed table.
#[test]
fn a_conversation_is_recorded_exactly() {
    let mut net = recording_all();
    let (c, s) = establish(&mut net);
    let client = stack(&mut net, CLIENT).story(c).unwrap();
    let (c_iss, c_irs) = (client.iss, client.irs);
    let server = stack(&mut net, SERVER).story(s).unwrap();
    assert_eq!((server.iss, server.irs), (c_irs, c_iss), "the ISNs of both sides");
    assert_eq!(server.state, State::Established);

    // The request, and a response whose first segment is lost twice.
    let now = net.now();
    stack(&mut net, CLIENT).send(now, c, &[b'q'; 100]).unwrap();
    run(&mut net, Duration::from_secs(1), |n| {
        let now = n.now();
        stack(n, SERVER).recv(now, s, &mut [0; 200]).is_ok_and(|got| got > 0)
    });
    let mut lost = 0;
    net.host_mut(CLIENT).drop_if = Some(Box::new(move |seg| {
        let drop = seg.len > 0 && lost < 2;
        lost += drop as u32;
        drop
    }));
    let now = net.now();
    stack(&mut net, SERVER).send(now, s, &[b'r'; 1000]).unwrap();
    run(&mut net, Duration::from_secs(5), |n| stack(n, SERVER).send_queue(s) == 0);
    net.host_mut(CLIENT).drop_if = None;

    server_closes_first(&mut net, c, s);
    let view = stack(&mut net, SERVER).stories_of(CLIENT_ADDR.into()).next().unwrap();
    assert_eq!(view.state, State::TimeWait);
    let until = view.time_wait_until.expect("TIME-WAIT's deadline");
    assert_eq!(until, view.closed_at.unwrap() + MSL * 2);
    idle(&mut net, MSL * 2 + Duration::from_millis(1));
    let view = stack(&mut net, SERVER).stories_of(CLIENT_ADDR.into()).next().unwrap();
    assert_eq!((view.iss, view.irs, view.state, view.time_wait_until), (c_irs, c_iss, State::Closed, None));
    let expected = [
        // The handshake (§3.5, Figure 6), as LISTEN saw it.
        "0 In S seq 0 len 0 normal by accept_syn",
        "0 LISTEN -> SYN-RECEIVED (SYN received)",
        "0 Out S. seq 0 ack 1 len 0 normal by emit_segment",
        "2 In . seq 1 ack 1 len 0 normal by on_segment",
        "2 SYN-RECEIVED -> ESTABLISHED (ACK of SYN)",
        "2 sample srtt 2 rto 200 cwnd 14600 ssthresh - wnd 65664",
        // The request; the response is lost, so the client sends its
        // request again. The loss probe (RFC 8985 §7) is lost too; the
        // retransmission timeout (RFC 6298 §5.4-5.6: backed off, cwnd to
        // one segment) resends it once more, and it arrives.
        "3 In P. seq 1 ack 1 len 100 normal by on_segment",
        "3 Out P. seq 1 ack 101 len 1000 normal by emit_segment",
        "203 In P. seq 1 ack 1 len 100 normal by on_segment",
        "203 Out P. seq 1 ack 101 len 1000 loss-probe by emit_segment",
        "403 In P. seq 1 ack 1 len 100 normal by on_segment",
        "403 sample srtt 2 rto 400 cwnd 1460 ssthresh 2920 wnd 65664",
        "403 Out P. seq 1 ack 101 len 1000 retransmission by emit_segment",
        "445 In . seq 101 ack 1001 len 0 normal by on_segment",
        "445 sample srtt 7 rto 200 cwnd 2460 ssthresh 2920 wnd 64640",
        // The server closes first (§3.6, Figure 12).
        "445 ESTABLISHED -> FIN-WAIT-1 (close)",
        "445 Out F. seq 1001 ack 101 len 0 normal by emit_segment",
        "447 In F. seq 101 ack 1002 len 0 normal by on_segment",
        "447 FIN-WAIT-1 -> FIN-WAIT-2 (ACK of FIN)",
        "447 FIN-WAIT-2 -> TIME-WAIT (FIN received)",
        "447 sample srtt 6 rto 200 cwnd 2460 ssthresh 2920 wnd 65664",
        "447 Out . seq 1002 ack 102 len 0 normal by enter_time_wait",
        "4447 TIME-WAIT -> CLOSED (2MSL expired)",
    ];
    assert_eq!(lines(&view), expected);
}

/// A third host on the network, with its own address.
const OTHER_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 0, 3);

/// `stories_of` gives one address's connections, live and closed, newest
/// first, and nobody else's.
#[test]
fn stories_of_gives_only_that_address() {
    let mut net = recording_all();
    let other =
        net.add_host(OTHER_ADDR, Node { stack: Stack::new(config(OTHER_ADDR)), drop_if: None, dropped: vec![] });
    let (c1, s1) = establish(&mut net);
    server_closes_first(&mut net, c1, s1);
    let (_c2, _s2) = establish(&mut net);
    let now = net.now();
    let o = stack(&mut net, other).connect(now, server_addr()).unwrap();
    run(&mut net, Duration::from_secs(1), |n| stack(n, other).state(o) == Some(State::Established));

    let server = stack(&mut net, SERVER);
    let mine: Vec<(u16, State)> = server.stories_of(CLIENT_ADDR.into()).map(|v| (v.remote.port(), v.state)).collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_ne!(mine[0].0, mine[1].0);
    assert_eq!((mine[0].1, mine[1].1), (State::Established, State::TimeWait), "newest first");
    let theirs: Vec<_> = server.stories_of(OTHER_ADDR.into()).map(|v| v.remote.ip()).collect();
    assert_eq!(theirs, [OTHER_ADDR]);
    assert_eq!(server.stories_of(std::net::Ipv4Addr::new(10, 0, 0, 9).into()).count(), 0);
}

/// The recently closed table keeps the newest `story_recent` stories.
#[test]
fn the_recent_table_keeps_the_newest() {
    let mut server = config(SERVER_ADDR);
    server.stories = Stories::All;
    server.story_recent = 2;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let mut ports = vec![];
    for _ in 0..3 {
        let (c, s) = establish(&mut net);
        ports.push(stack(&mut net, CLIENT).tcb(c).unwrap().local.port());
        server_closes_first(&mut net, c, s);
    }
    let kept: Vec<u16> = stack(&mut net, SERVER).stories_of(CLIENT_ADDR.into()).map(|v| v.remote.port()).collect();
    assert_eq!(kept, [ports[2], ports[1]]);
}

/// `Stories::Off` records nothing; `OnRequest` only what `record` asks
/// for, from then on.
#[test]
fn the_switch() {
    let mut server = config(SERVER_ADDR);
    server.stories = Stories::Off;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let (c, s) = establish(&mut net);
    stack(&mut net, SERVER).record(s);
    server_closes_first(&mut net, c, s);
    assert_eq!(stack(&mut net, SERVER).stories_of(CLIENT_ADDR.into()).count(), 0);

    let mut server = config(SERVER_ADDR);
    server.stories = Stories::OnRequest;
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), server);
    let (_, s) = establish(&mut net);
    assert!(stack(&mut net, SERVER).story(s).is_none());
    stack(&mut net, SERVER).record(s);
    let now = net.now();
    stack(&mut net, SERVER).send(now, s, b"hi").unwrap();
    idle(&mut net, Duration::from_millis(100));
    let view = stack(&mut net, SERVER).story(s).unwrap();
    let first = lines(&view).into_iter().find(|l| l.contains("Out"));
    assert!(first.is_some_and(|l| l.contains("P. seq 1 ack 1 len 2")), "{:?}", lines(&view));

    // A peer address asked for: its next connections, from their SYN.
    let until = net.now() + Duration::from_secs(60);
    stack(&mut net, SERVER).record_peer(CLIENT_ADDR.into(), until);
    let (_, s) = establish(&mut net);
    let view = stack(&mut net, SERVER).story(s).unwrap();
    assert_eq!(
        lines(&view)[..2],
        ["0 In S seq 0 len 0 normal by accept_syn", "0 LISTEN -> SYN-RECEIVED (SYN received)"]
    );
    idle(&mut net, Duration::from_secs(60));
    let (_, s) = establish(&mut net);
    assert!(stack(&mut net, SERVER).story(s).is_none(), "no longer asked for");
}
