//! The seed corpora in `fuzz/seeds/`: made here, and replayed through the
//! fuzz harnesses, every file of each directory. A change to what the stack
//! sends changes the recorded seeds a little, which is harmless; the
//! recorded conversation must still replay to its end, or it has gone stale
//! (`the_recorded_conversation_still_replays`).
//!
//! The TCP seeds are conversations in the simulator (`stack::link::sim`)
//! between a client `Stack` and the server under the fuzz harness, recorded
//! as the harness's script: every packet the client sent, as captured, the
//! passing of time, and the server application's calls; and scripts of
//! built segments. Each comes in both families (the `v6_` seeds of
//! `stack_listen`, all of `stack_established6`). The wire seeds are
//! the packets of such a conversation; the HTTP seeds are requests as
//! curl and browsers send them, and the attacks the server must refuse.
//!
//! `FUZZ_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml` writes
//! them after a change.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fuzz::tcp::{
    self, server_for, AppCall, Harness, Record, Rel, SegmentSpec, Setup, PEERS, PEERS6, PEER_V6, PORT, TUPLE_V6,
};
use stack::link::faults::Faults;
use stack::link::sim::{Host, Network};
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::seq::SeqNum;
use stack::wire::tcp::{Flags, TcpOptions, Timestamps};
use stack::{Config, Stack};

// ----------------------------------------------------------------------
// Recording a conversation in the simulator
// ----------------------------------------------------------------------

/// The server's host in the simulator: the fuzz harness, writing down
/// everything that happens to it as the records that replay it.
struct Recorder {
    h: Harness,
    records: Vec<Record>,
}

impl Recorder {
    /// Time passes for the server: whole milliseconds, as a record can say.
    fn catch_up(&mut self, now: Instant) {
        let mut behind = now.saturating_since(self.h.now);
        while !behind.is_zero() {
            let step = if behind >= Duration::from_secs(1) {
                let secs = behind.as_secs().min(0x7fff);
                (0x8000 | secs as u16, Duration::from_secs(secs))
            } else {
                let ms = behind.as_micros().div_ceil(1000) as u16;
                (ms, Duration::from_millis(u64::from(ms)))
            };
            self.records.push(Record::Advance(step.0));
            self.h.advance(step.1);
            behind = behind.saturating_sub(step.1);
        }
    }

    fn app(&mut self, call: AppCall) {
        self.records.push(Record::App(call));
        self.h.app(call);
    }
}

enum Node {
    Client(Box<Stack>),
    Server(Box<Recorder>),
}

impl Host for Node {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Node::Client(s) => s.receive(now, packet),
            Node::Server(r) => {
                r.catch_up(now);
                r.records.push(Record::Packet { fix: 0, bytes: packet.to_vec() });
                r.h.receive(packet);
            }
        }
    }
    fn poll(&mut self, now: Instant) {
        match self {
            Node::Client(s) => s.poll(now),
            Node::Server(r) => r.catch_up(now),
        }
    }
    fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
        match self {
            Node::Client(s) => s.transmit(now, emit),
            Node::Server(r) => {
                r.catch_up(now);
                r.h.transmit();
                r.h.check();
                r.h.sent.iter().for_each(|p| emit(&[p]));
            }
        }
    }
    fn poll_at(&self) -> Option<Instant> {
        match self {
            Node::Client(s) => s.poll_at(),
            Node::Server(r) => r.h.stack.poll_at(),
        }
    }
}

const CLIENT: usize = 0;
const SERVER_HOST: usize = 1;

struct Sim {
    net: Network<Node>,
}

impl Sim {
    /// The client at `client`'s address, the server at its own of that family.
    fn new(h: Harness, client: Stack, client_addr: SocketAddr) -> Sim {
        let mut net = Network::new(Faults::default());
        net.add_host(client_addr.ip(), Node::Client(Box::new(client)));
        net.add_host(server_for(client_addr.ip()), Node::Server(Box::new(Recorder { h, records: Vec::new() })));
        Sim { net }
    }

    fn client(&mut self) -> &mut Stack {
        match self.net.host_mut(CLIENT) {
            Node::Client(s) => s,
            Node::Server(_) => unreachable!(),
        }
    }

    fn server(&mut self) -> &mut Recorder {
        match self.net.host_mut(SERVER_HOST) {
            Node::Server(r) => r,
            Node::Client(_) => unreachable!(),
        }
    }

    /// Run until `done`, within `limit` of virtual time.
    fn run(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) {
        let deadline = self.net.now() + limit;
        while !done(self) {
            if !self.net.advance(deadline) {
                let st: Vec<_> =
                    self.server().h.stack.tcbs().map(|t| (t.state, t.recv_queue(), t.send_queue())).collect();
                let cs: Vec<_> = self.client().tcbs().map(|t| t.state).collect();
                panic!(
                    "not done after {limit:?}: server {st:?} client {cs:?} tw {}",
                    self.server().h.stack.time_wait_count()
                );
            }
        }
    }

    fn records(mut self) -> Vec<Record> {
        std::mem::take(&mut self.server().records)
    }
}

/// The client: `PEERS[0]`'s host, `PEERS6[0]`'s too.
fn client_stack() -> Stack {
    let mut c = Config::new(*PEERS[0].ip());
    c.addr6 = Some(*PEERS6[0].ip());
    c.isn_key = [1; 16];
    Stack::new(c)
}

/// `PEERS[0]` or its IPv6 twin.
fn client_addr(v6: bool) -> SocketAddr {
    tcp::peer(0, v6)
}

/// The whole story, from the listening server: handshake, request,
/// response, the server closes first, TIME-WAIT, expiry.
fn conversation(v6: bool) -> Vec<Record> {
    let mut sim = Sim::new(Harness::new(), client_stack(), client_addr(v6));
    let now = sim.net.now();
    let server = SocketAddr::new(server_for(client_addr(v6).ip()), PORT);
    let c = sim.client().connect(now, server).unwrap();
    sim.run(Duration::from_secs(1), |s| s.server().h.stack.tcbs().any(|t| t.state == State::Established));
    sim.server().app(AppCall::Accept);
    let now = sim.net.now();
    sim.client().send(now, c, b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n").unwrap();
    sim.run(Duration::from_secs(1), |s| s.server().h.stack.tcbs().any(|t| t.recv_queue() > 0));
    sim.server().app(AppCall::Recv { which: 0, len: 4096 });
    sim.server().app(AppCall::Send { which: 0, len: 3000 });
    sim.server().app(AppCall::Close { which: 0 });
    sim.run(Duration::from_secs(5), |s| s.client().state(c) == Some(State::CloseWait));
    let now = sim.net.now();
    sim.client().close(now, c);
    sim.run(Duration::from_secs(5), |s| s.server().h.stack.time_wait_count() == 1);
    // 2·MSL later the entry is gone.
    sim.run(Duration::from_secs(5), |s| s.server().h.stack.time_wait_count() == 0);
    sim.records()
}

/// The server opens: SYN-SENT, the client's SYN,ACK, data both ways, and
/// the client closes first.
fn active_open(v6: bool) -> Vec<Record> {
    let mut client = client_stack();
    client.listen(PEERS[0].port(), 4).unwrap();
    let mut sim = Sim::new(Harness::new(), client, client_addr(v6));
    sim.server().app(AppCall::Connect { peer: if v6 { PEER_V6 } else { 0 } });
    let mut accepted = None;
    sim.run(Duration::from_secs(1), |s| {
        accepted = accepted.or_else(|| s.client().accept(PEERS[0].port()));
        accepted.is_some()
    });
    sim.server().app(AppCall::Send { which: 0, len: 100 });
    let now = sim.net.now();
    sim.client().close(now, accepted.unwrap());
    sim.run(Duration::from_secs(5), |s| s.server().h.stack.tcbs().all(|t| t.state == State::CloseWait));
    sim.server().app(AppCall::Close { which: 0 });
    sim.run(Duration::from_secs(5), |s| s.server().h.stack.tcbs().count() == 0);
    sim.records()
}

/// From the `Established` setup: the client reads the response as the
/// server retransmits what it lost, sends more, and closes first.
fn established_conversation(v6: bool) -> Vec<Record> {
    let (h, client, c) = Harness::established(client_addr(v6));
    let mut sim = Sim::new(h, client, client_addr(v6));
    sim.run(Duration::from_secs(10), |s| s.server().h.stack.tcbs().all(|t| t.snd.una == t.snd.nxt));
    sim.server().app(AppCall::Recv { which: 0, len: 4096 });
    let now = sim.net.now();
    sim.client().send(now, c, &[b'd'; 2000]).unwrap();
    sim.client().shutdown(now, c).unwrap();
    sim.run(Duration::from_secs(5), |s| s.server().h.stack.tcbs().all(|t| t.state == State::CloseWait));
    sim.server().app(AppCall::Close { which: 0 });
    sim.run(Duration::from_secs(5), |s| s.server().h.stack.tcbs().count() == 0);
    sim.records()
}

// ----------------------------------------------------------------------
// Built segments
// ----------------------------------------------------------------------

/// A segment of `peer` to the listening port.
fn seg(peer: u8, flags: Flags, seq: Rel, ack: Rel) -> SegmentSpec {
    SegmentSpec { tuple: peer, flags, seq, ack, window: 65535, options: TcpOptions::default(), len: 0 }
}

fn syn(peer: u8) -> Record {
    let options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        ..TcpOptions::default()
    };
    Record::Segment(SegmentSpec { options, ..seg(peer, Flags::SYN, Rel::Primary(0), Rel::Raw(0)) })
}

fn ack(peer: u8) -> Record {
    Record::Segment(seg(peer, Flags::ACK, Rel::Primary(0), Rel::Primary(0)))
}

/// Data (or a FIN) at `seq`, acknowledging everything.
fn data(peer: u8, seq: Rel, len: u16, flags: Flags) -> Record {
    Record::Segment(SegmentSpec { len, ..seg(peer, flags | Flags::ACK, seq, Rel::Primary(0)) })
}

/// The same script spoken by the peers' IPv6 twins. (ICMP types differ
/// by family: a script with ICMP is written for its family.)
fn in_v6(records: Vec<Record>) -> Vec<Record> {
    let v6 = |r| match r {
        Record::Segment(s) => Record::Segment(SegmentSpec { tuple: s.tuple | TUPLE_V6, ..s }),
        Record::App(AppCall::Connect { peer }) => Record::App(AppCall::Connect { peer: peer | PEER_V6 }),
        Record::Icmp { .. } => panic!("ICMP types differ by family"),
        r => r,
    };
    records.into_iter().map(v6).collect()
}

/// The listener's seeds.
fn listen_seeds() -> Vec<(&'static str, Vec<Record>)> {
    let secs = |s: u16| Record::Advance(0x8000 | s);
    let built_handshake_data_fin = vec![
        syn(0),
        ack(0),
        Record::App(AppCall::Accept),
        data(0, Rel::Primary(0), 100, Flags::PSH),
        data(0, Rel::Secondary(0), 0, Flags::FIN),
        Record::App(AppCall::Recv { which: 0, len: 200 }),
        Record::App(AppCall::Close { which: 0 }),
        ack(0),
        secs(3),
    ];
    vec![
        ("conversation", conversation(false)),
        ("active_open", active_open(false)),
        ("built_handshake_data_fin", built_handshake_data_fin.clone()),
        // Four connections the server closes first: the TIME-WAIT table holds three.
        ("time_wait_full", (0..4).flat_map(server_closes_first).chain([secs(3)]).collect()),
        // Peers 1 and 2 and the low port fill the SYN queue (3); a fourth SYN gets a SYN cookie.
        ("syn_queue_full", vec![syn(0), syn(1), syn(2), syn(3), secs(1), secs(2), secs(4), secs(8)]),
        (
            "closed_port_and_stray_ack",
            vec![syn(4), ack(1), Record::Segment(seg(0, Flags::RST, Rel::Primary(0), Rel::Raw(0)))],
        ),
        (
            "ping",
            vec![
                Record::Icmp { peer: 0, msg_type: 8, code: 0, rest: 0x0001_0001, len: 32, fill: 0 },
                Record::Icmp { peer: 1, msg_type: 3, code: 3, rest: 0, len: 28, fill: 0x45 },
            ],
        ),
        ("v6_conversation", conversation(true)),
        ("v6_active_open", active_open(true)),
        ("v6_built_handshake_data_fin", in_v6(built_handshake_data_fin)),
        // An ICMPv6 Echo Request, and a Packet Too Big quoting an IPv6 header.
        (
            "v6_ping",
            vec![
                Record::Icmp { peer: PEER_V6, msg_type: 128, code: 0, rest: 0x0001_0001, len: 32, fill: 0 },
                Record::Icmp { peer: 1 | PEER_V6, msg_type: 2, code: 0, rest: 1280, len: 48, fill: 0x60 },
            ],
        ),
        // One peer number in both families: two connections.
        ("v6_beside_v4", vec![syn(0), syn(TUPLE_V6), ack(TUPLE_V6), ack(0), Record::App(AppCall::Accept)]),
        ("v6_raw_syn_fixed", vec![v6_raw_syn()]),
    ]
}

/// A SYN from `PEERS6[0]` behind a Destination Options header, written
/// raw with its payload length and TCP checksum zero for `Record::Packet`'s
/// fixes (bits 1 and 3) to write.
fn v6_raw_syn() -> Record {
    let mut h = Harness::new();
    let mut packet = h.build_segment(&seg(TUPLE_V6, Flags::SYN, Rel::Primary(0), Rel::Raw(0)));
    h.stack.receive(h.now, &packet); // checks that it was valid
    assert_eq!(h.stack.counters().segments_in, 1);
    const DESTINATION_OPTIONS: u8 = 60;
    let pad_n = [packet[6], 0, 1, 4, 0, 0, 0, 0];
    packet[6] = DESTINATION_OPTIONS;
    packet.splice(40..40, pad_n);
    packet[4..6].fill(0);
    packet[40 + 8 + 16..40 + 8 + 18].fill(0);
    Record::Packet { fix: 2 | 8, bytes: packet }
}

/// `peer` connects, the server accepts and closes, the peer closes too: TIME-WAIT.
fn server_closes_first(peer: u8) -> Vec<Record> {
    vec![
        syn(peer),
        ack(peer),
        Record::App(AppCall::Accept),
        Record::App(AppCall::Close { which: 0 }),
        ack(peer),
        data(peer, Rel::Secondary(0), 0, Flags::FIN),
    ]
}

/// The established connection's seeds, over IPv6 from `PEERS6[0]` if `v6`.
fn established_seeds(v6: bool) -> Vec<(&'static str, Vec<Record>)> {
    let (h, ..) = Harness::established(client_addr(v6));
    let tcb = h.stack.tcbs().next().unwrap();
    // The server's SND.UNA, from the end of what it has sent.
    let una = -((tcb.snd.nxt - tcb.snd.una) as i16);
    // Duplicate ACKs of SND.UNA, each SACKing one more segment above it (the
    // client negotiated SACK), the third up to SND.NXT: the first segment
    // is retransmitted.
    let mss = tcb.snd_mss as u32;
    let in_flight = (tcb.snd.nxt - tcb.snd.una) as u32;
    let dup_ack = |k: u32| {
        let mut sack_blocks = [None; 4];
        sack_blocks[0] = Some((SeqNum(mss), SeqNum((mss * (k + 1)).min(in_flight))));
        let options = TcpOptions { sack_blocks, ..TcpOptions::default() };
        Record::Segment(SegmentSpec { options, ..seg(0, Flags::ACK, Rel::Secondary(0), Rel::Primary(una)) })
    };
    let secs = |s: u16| Record::Advance(0x8000 | s);
    let zero_window = SegmentSpec { window: 0, ..seg(0, Flags::ACK, Rel::Primary(0), Rel::Primary(0)) };
    let seeds = vec![
        ("conversation", established_conversation(v6)),
        ("dup_acks", vec![dup_ack(1), dup_ack(2), dup_ack(3), ack(0)]),
        // Out of order, then the gap fills.
        (
            "out_of_order",
            vec![
                data(0, Rel::Primary(1000), 500, Flags::empty()),
                data(0, Rel::Primary(500), 500, Flags::empty()),
                data(0, Rel::Primary(1500), 10, Flags::FIN),
                data(0, Rel::Primary(0), 500, Flags::empty()),
                Record::App(AppCall::Recv { which: 0, len: 4096 }),
            ],
        ),
        // More out-of-order segments than the queue holds (4).
        ("out_of_order_full", (1..=6).map(|k| data(0, Rel::Primary(200 * k), 100, Flags::empty())).collect()),
        ("rst_exact", vec![Record::Segment(seg(0, Flags::RST, Rel::Primary(0), Rel::Raw(0)))]),
        ("rst_in_window", vec![Record::Segment(seg(0, Flags::RST, Rel::Primary(100), Rel::Raw(0)))]),
        ("syn_in_established", vec![syn(0)]),
        ("ack_far_outside", vec![Record::Segment(seg(0, Flags::ACK, Rel::Primary(0), Rel::Primary(20000)))]),
        ("zero_window_probe", vec![ack(0), Record::Segment(zero_window), secs(2), secs(4), secs(8), ack(0)]),
        ("retransmit_until_timeout", vec![secs(1), secs(2), secs(4), secs(8), secs(16), secs(32), secs(64)]),
        (
            "close_both",
            vec![Record::App(AppCall::Close { which: 0 }), ack(0), data(0, Rel::Primary(0), 0, Flags::FIN), secs(3)],
        ),
    ];
    match v6 {
        true => seeds.into_iter().map(|(name, records)| (name, in_v6(records))).collect(),
        false => seeds,
    }
}

// ----------------------------------------------------------------------
// Wire and HTTP
// ----------------------------------------------------------------------

/// Every packet of the conversation, both ways, with no checksum fixes.
fn wire_seeds() -> Vec<(String, Vec<u8>)> {
    let mut packets = Vec::new();
    for record in conversation(false) {
        if let Record::Packet { bytes, .. } = record {
            packets.push(bytes);
        }
    }
    // The server's side: replay and keep what it sent.
    let mut h = Harness::new();
    for record in conversation(false) {
        h.step(&record);
        packets.extend(h.sent.iter().cloned());
    }
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for p in packets {
        let flags = stack::wire::ipv4::Ipv4Packet::new_checked(&p)
            .ok()
            .and_then(|ip| stack::wire::tcp::TcpSegment::new_checked(ip.payload()).ok().map(|s| s.flags()));
        let name =
            format!("{:02}_{}", seeds.len(), flags.map_or("x".to_string(), |f| format!("{f}").replace('.', "A")));
        seeds.push((name, [&[0u8][..], &p].concat()));
    }
    // A ping, and an ICMP error quoting a segment.
    let mut ping = vec![0x45, 0, 0, 36, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0, 1, 0, 1];
    ping.extend_from_slice(b"abcdefgh");
    seeds.push(("ping".to_string(), [&[1u8 | 4][..], &ping].concat()));
    // IPv6: the first SYN of the conversation behind Hop-by-Hop and
    // Destination Options headers, a ping, a Packet Too Big quoting a
    // segment; checksums written by the harness (switches 2 and 4).
    let ipv6 = |next_header: u8, payload: &[u8]| {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, next_header, 64];
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(payload);
        p
    };
    let syn = seeds[0].1[1..].to_vec();
    let tcp = &syn[usize::from(syn[0] & 0x0f) * 4..];
    let options = [[60, 0, 1, 4, 0, 0, 0, 0], [6, 0, 1, 4, 0, 0, 0, 0]].concat();
    seeds.push(("v6_syn_ext_headers".to_string(), [&[2u8][..], &ipv6(0, &[&options[..], tcp].concat())].concat()));
    seeds.push(("v6_ping".to_string(), [&[4u8][..], &ipv6(58, b"\x80\0\0\0\0\x01\0\x01abcdefgh")].concat()));
    let quoted = ipv6(6, &tcp[..8]);
    let too_big = [&[2u8, 0, 0, 0, 0, 0, 5, 0][..], &quoted].concat();
    seeds.push(("v6_packet_too_big".to_string(), [&[4u8][..], &ipv6(58, &too_big)].concat()));
    seeds
}

fn http_seeds() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("curl", b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n\r\n"),
        (
            "browser",
            b"GET /sub/ HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive\r\n\
              User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36\r\n\
              Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
              Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\
              If-None-Match: \"abc\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        ),
        (
            "pipelined",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\n\r\n\
              GET /sub HTTP/1.1\r\nHost: x\r\n\r\nGET /_stack.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
        ("post_with_body", b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=worldGET / HTTP/1.0\r\n\r\n"),
        ("http10_keep_alive", b"GET /empty.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET http://x/a.txt HTTP/1.0\r\n\r\n"),
        (
            "traversal",
            b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /%252e%252e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /leak.txt HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /up/secret.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /%c0%ae%c0%ae/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /..%5csecret.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt%00 HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /socket HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/alias.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        ("slow_head", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "),
        ("chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("bad", b"GET / HTTP/2.0\r\n\r\n"),
    ]
}

// ----------------------------------------------------------------------
// The tests
// ----------------------------------------------------------------------

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target)
}

/// Write the seeds, with `FUZZ_WRITE_SEEDS` set; else check that each is there.
fn sync(target: &str, seeds: &[(String, Vec<u8>)]) {
    let dir = seeds_dir(target);
    let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
    if write {
        fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in seeds {
        let path = dir.join(name);
        if write {
            fs::write(&path, bytes).unwrap();
        }
        assert!(path.exists(), "{} is missing: {REMAKE}", path.display());
    }
}

const REMAKE: &str = "FUZZ_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml makes the seeds again";

/// Every file in a target's seed directory.
fn each_file(target: &str, mut f: impl FnMut(&Path, &[u8])) {
    let mut paths: Vec<_> = fs::read_dir(seeds_dir(target)).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert!(!paths.is_empty());
    for path in paths {
        f(&path, &fs::read(&path).unwrap());
    }
}

fn named(seeds: Vec<(&'static str, Vec<Record>)>) -> Vec<(String, Vec<u8>)> {
    seeds.into_iter().map(|(n, r)| (n.to_string(), tcp::encode(&r))).collect()
}

#[test]
fn listen_seeds_run_clean() {
    sync("stack_listen", &named(listen_seeds()));
    each_file("stack_listen", |_, bytes| Harness::run(Setup::Listen, bytes));
}

#[test]
fn established_seeds_run_clean() {
    sync("stack_established", &named(established_seeds(false)));
    each_file("stack_established", |_, bytes| Harness::run(Setup::Established, bytes));
}

#[test]
fn established6_seeds_run_clean() {
    sync("stack_established6", &named(established_seeds(true)));
    each_file("stack_established6", |_, bytes| Harness::run(Setup::Established6, bytes));
}

#[test]
fn wire_seeds_run_clean() {
    sync("wire", &wire_seeds());
    each_file("wire", |_, bytes| fuzz::wire::check(bytes));
}

#[test]
fn http_seeds_run_clean() {
    let seeds: Vec<_> = http_seeds().into_iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect();
    sync("http", &seeds);
    each_file("http", |_, bytes| fuzz::http::check(bytes));
}

/// The recorded conversations, as committed, replayed by the harness, go
/// where they went in the simulator: a connection opened, closed through
/// TIME-WAIT, gone; over IPv4 and over IPv6.
#[test]
fn the_recorded_conversation_still_replays() {
    for name in ["conversation", "v6_conversation"] {
        let mut h = Harness::new();
        let committed = fs::read(seeds_dir("stack_listen").join(name)).unwrap();
        let mut saw_time_wait = false;
        for r in &tcp::decode(&committed) {
            h.step(r);
            saw_time_wait |= h.stack.time_wait_count() == 1;
        }
        let c = h.stack.counters();
        let ended = (c.connections_opened, c.rsts_sent, h.stack.time_wait_count(), c.bytes_out) == (1, 0, 0, 3000);
        assert!(saw_time_wait && ended, "the recorded {name} no longer replays ({c:?}): {REMAKE}");
    }
}

/// The built seeds do what their names say, each over the family its name
/// says (every connection's peer of that family).
#[test]
fn built_seeds_reach_their_states() {
    let run = |setup, records: &[Record]| {
        let mut h = match setup {
            Setup::Listen => Harness::new(),
            Setup::Established => Harness::established(PEERS[0].into()).0,
            Setup::Established6 => Harness::established(PEERS6[0].into()).0,
        };
        let mut states = Vec::new();
        let mut families = Vec::new();
        for r in records {
            h.step(r);
            states.extend(h.stack.tcbs().map(|t| t.state));
            families.extend(h.stack.tcbs().map(|t| t.remote.is_ipv6()));
        }
        families.dedup();
        (h, states, families)
    };
    let seeds = listen_seeds();
    let find = |name| seeds.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    for (name, v6) in [("built_handshake_data_fin", false), ("v6_built_handshake_data_fin", true)] {
        let (h, states, families) = run(Setup::Listen, &find(name));
        assert!(states.contains(&State::Established) && states.contains(&State::LastAck), "{name}");
        assert_eq!(h.stack.counters().bytes_in, 100, "{name}");
        assert_eq!(families, [v6], "{name}");
    }
    let (h, ..) = run(Setup::Listen, &find("syn_queue_full"));
    assert_eq!(h.stack.counters().syn_cookies_sent, 1);
    let (h, ..) = run(Setup::Listen, &find("time_wait_full"));
    assert_eq!(h.stack.counters().drops.time_wait_full, 1);
    for name in ["ping", "v6_ping"] {
        let (h, ..) = run(Setup::Listen, &find(name));
        assert_eq!((h.stack.counters().icmp_echo_replies, h.stack.counters().icmp_errors), (1, 1), "{name}");
    }
    let (h, ..) = run(Setup::Listen, &find("v6_beside_v4"));
    let remotes: Vec<_> = h.sockets.iter().map(|&s| h.stack.tcb(s).unwrap().remote).collect();
    assert_eq!(remotes, [SocketAddr::from(PEERS6[0]), PEERS[0].into()], "in the order the handshakes completed");
    let (h, states, families) = run(Setup::Listen, &find("v6_raw_syn_fixed"));
    assert_eq!(
        (h.stack.counters().segments_in, &states[..], &families[..]),
        (1, &[State::SynReceived][..], &[true][..])
    );

    for (setup, v6) in [(Setup::Established, false), (Setup::Established6, true)] {
        let seeds = established_seeds(v6);
        let find = |name| seeds.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        let (h, _, families) = run(setup, &find("dup_acks"));
        assert!(h.stack.counters().retransmissions >= 1);
        assert_eq!(families, [v6]);
        let (h, ..) = run(setup, &find("out_of_order"));
        assert_eq!(h.stack.tcbs().next().unwrap().state, State::CloseWait);
        assert_eq!(h.stack.tcbs().next().unwrap().recv_queue(), 0, "all read, and checked");
        let (h, ..) = run(setup, &find("out_of_order_full"));
        assert_eq!(h.stack.counters().drops.ooo_full, 2);
        let (h, ..) = run(setup, &find("rst_exact"));
        assert_eq!(h.stack.counters().rsts_received, 1);
        let (h, ..) = run(setup, &find("retransmit_until_timeout"));
        assert_eq!(h.stack.counters().connections_timed_out, 1);
        let (h, ..) = run(setup, &find("close_both"));
        assert_eq!(h.stack.time_wait_count(), 0);
        assert!(h.stack.counters().connections_opened == 1);
    }
}
