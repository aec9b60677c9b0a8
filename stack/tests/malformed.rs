//! Malformed input: whatever arrives from the link, the stack drops what it
//! cannot use, counts it under the right reason, answers nothing, leaves
//! its connections as they were and never panics (RFC 9293 §3.1 and
//! §3.10.7: a segment is only processed once its header and checksum are
//! sound; RFC 1122 §3.2.1 for the IPv4 header checks).

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use proptest::prelude::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::checksum;
use stack::wire::ipv4::PROTO_TCP;
use stack::wire::tcp::{Flags, TcpOptions, TcpRepr, Timestamps};
use stack::{Config, Counters, Error, SocketHandle, Stack};

// ----------------------------------------------------------------------
// Building bad packets
// ----------------------------------------------------------------------

/// Recompute the IPv4 header checksum, so that a test breaks one thing only.
fn fix_ip_checksum(p: &mut [u8]) {
    let ihl = (usize::from(p[0] & 0x0f) * 4).clamp(20, p.len());
    p[10..12].fill(0);
    let sum = !checksum::data(&p[..ihl]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Recompute the TCP checksum over the segment the IPv4 header delimits.
fn fix_tcp_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let tcp = &mut p[ihl..total];
    tcp[16..18].fill(0);
    let sum = !checksum::combine(&[
        checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, tcp.len()),
        checksum::data(tcp),
    ]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
}

fn fix_both(p: &mut [u8]) {
    fix_ip_checksum(p);
    fix_tcp_checksum(p);
}

fn set_total_len(p: &mut [u8], len: usize) {
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
}

/// Put raw option bytes (a multiple of 4) between the TCP header and the
/// payload, with lengths and checksums made right around them.
fn with_options(p: &[u8], options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut q = p[..40].to_vec();
    q.extend_from_slice(options);
    q.extend_from_slice(&p[40..]);
    q[32] = (((20 + options.len()) / 4) as u8) << 4;
    let len = q.len();
    set_total_len(&mut q, len);
    fix_both(&mut q);
    q
}

/// Which drop counter a bad packet must land in.
#[derive(Copy, Clone, Debug)]
enum Reason {
    Malformed,
    Checksum,
    Fragment,
    NotForUs,
    OtherProtocol,
    InvalidSource,
}

impl Reason {
    fn count(self, c: &mut Counters) {
        let d = &mut c.drops;
        match self {
            Reason::Malformed => d.malformed += 1,
            Reason::Checksum => d.checksum += 1,
            Reason::Fragment => d.fragment += 1,
            Reason::NotForUs => d.not_for_us += 1,
            Reason::OtherProtocol => d.other_protocol += 1,
            Reason::InvalidSource => d.invalid_source += 1,
        }
    }
}

/// Every kind of bad packet, made from a valid one (`p`: a 20-byte IPv4
/// header, a 20-byte TCP header, a payload), with the counter it must
/// land in.
fn bad_packets(p: &[u8]) -> Vec<(String, Vec<u8>, Reason)> {
    use Reason::*;
    let mut cases: Vec<(String, Vec<u8>, Reason)> = Vec::new();
    let mut case = |name: &str, f: &dyn Fn(&mut Vec<u8>), reason: Reason| {
        let mut q = p.to_vec();
        f(&mut q);
        cases.push((name.to_string(), q, reason));
    };
    // IPv4 (RFC 791, RFC 1122 §3.2.1.1–3.2.1.2).
    case("empty packet", &|q| q.clear(), Malformed);
    case("IPv4 header cut short", &|q| q.truncate(19), Malformed);
    case(
        // (6 would make it an IPv6 packet, which has cases of its own.)
        "IP version 5",
        &|q| {
            q[0] = 0x55;
            fix_ip_checksum(q)
        },
        Malformed,
    );
    for ihl in 0..5u8 {
        case(
            &format!("IHL {ihl} (< 5 words)"),
            &move |q| {
                q[0] = 0x40 | ihl;
                fix_ip_checksum(q)
            },
            Malformed,
        );
    }
    case(
        "IHL 15, beyond the packet",
        &|q| {
            q[0] = 0x4f;
            fix_ip_checksum(q)
        },
        Malformed,
    );
    case(
        "total length below the header",
        &|q| {
            set_total_len(q, 19);
            fix_ip_checksum(q)
        },
        Malformed,
    );
    case(
        "total length beyond the packet",
        &|q| {
            let len = q.len();
            set_total_len(q, len + 1);
            fix_ip_checksum(q)
        },
        Malformed,
    );
    // The IPv4 header is sound but cuts the segment short: only the TCP
    // checksum can tell.
    case(
        "total length cuts the payload",
        &|q| {
            let len = q.len();
            set_total_len(q, len - 2);
            fix_ip_checksum(q)
        },
        Checksum,
    );
    case("bad IPv4 header checksum", &|q| q[10] ^= 0x40, Checksum);
    case(
        "fragment (more fragments)",
        &|q| {
            q[6] |= 0x20;
            fix_ip_checksum(q)
        },
        Fragment,
    );
    case(
        "fragment (offset 8)",
        &|q| {
            q[6..8].copy_from_slice(&[0x40, 0x01]);
            fix_ip_checksum(q)
        },
        Fragment,
    );
    case(
        "UDP",
        &|q| {
            q[9] = 17;
            fix_ip_checksum(q)
        },
        OtherProtocol,
    );
    case(
        "protocol 253",
        &|q| {
            q[9] = 253;
            fix_ip_checksum(q)
        },
        OtherProtocol,
    );
    case(
        "another address",
        &|q| {
            q[19] = 99;
            fix_both(q)
        },
        NotForUs,
    );
    // TCP header (RFC 9293 §3.1).
    case(
        "TCP header cut short",
        &|q| {
            q.truncate(30);
            set_total_len(q, 30);
            fix_ip_checksum(q);
        },
        Malformed,
    );
    for offset in 0..5u8 {
        case(
            &format!("data offset {offset} (< 5 words)"),
            &move |q| {
                q[32] = offset << 4;
                fix_both(q)
            },
            Malformed,
        );
    }
    case(
        "data offset 15, beyond the segment",
        &|q| {
            q[32] = 15 << 4;
            fix_both(q)
        },
        Malformed,
    );
    case("bad TCP checksum", &|q| *q.last_mut().unwrap() ^= 1, Checksum);
    // The TCP checksum covers the pseudo-header: a changed source address
    // with a correct IPv4 header checksum is caught (§3.1).
    case(
        "source address outside the TCP checksum",
        &|q| {
            q[15] ^= 4;
            fix_ip_checksum(q)
        },
        Checksum,
    );
    // A source address no host has (RFC 1122 §3.2.1.3, MUST-63): broadcast,
    // multicast, "this host", loopback from the wire.
    for source in ["255.255.255.255", "224.0.0.1", "239.1.2.3", "0.0.0.0", "127.0.0.1"] {
        case(
            &format!("source address {source}"),
            &|q| {
                q[12..16].copy_from_slice(&source.parse::<Ipv4Addr>().unwrap().octets());
                fix_both(q)
            },
            InvalidSource,
        );
    }
    // Each illegal option length (§3.1, RFC 7323, RFC 2018).
    let options: [(&str, &[u8]); 16] = [
        ("option length byte missing", &[1, 1, 1, 2]),
        ("option length 0", &[2, 0, 0, 0]),
        ("option length 1", &[99, 1, 0, 0]),
        ("option running past the header", &[2, 8, 5, 0xb4]),
        ("unknown option running past the header", &[99, 9, 0, 0]),
        ("MSS of length 3", &[2, 3, 5, 0]),
        ("MSS of length 5", &[2, 5, 5, 0xb4, 0, 0, 0, 0]),
        ("window scale of length 2", &[3, 2, 0, 0]),
        ("window scale of length 4", &[3, 4, 7, 0]),
        ("SACK-permitted of length 3", &[4, 3, 0, 0]),
        ("SACK-permitted of length 4", &[4, 4, 0, 0]),
        ("SACK of length 2", &[5, 2, 0, 0]),
        ("SACK of length 6", &[5, 6, 0, 0, 0, 0, 0, 0]),
        ("SACK of length 11", &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("timestamps of length 8", &[8, 8, 0, 0, 0, 0, 0, 0]),
        ("timestamps of length 12", &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for (name, bytes) in options {
        cases.push((name.to_string(), with_options(p, bytes), Malformed));
    }
    cases
}

/// Feed `packet` to `s` and check that it was dropped and counted under
/// `reason` and nothing else, and that nothing was sent in answer.
fn assert_dropped(s: &mut Stack, now: Instant, name: &str, packet: &[u8], reason: Reason) {
    let mut expected = s.counters().clone();
    expected.packets_in += 1;
    reason.count(&mut expected);
    s.receive(now, packet);
    assert_eq!(s.counters(), &expected, "{name}: wrong counters");
    assert!(output(s, now).is_empty(), "{name}: something was sent in answer");
    invariants(s).unwrap_or_else(|e| panic!("{name}: {e}"));
}

const PEER: Ipv4Addr = CLIENT_ADDR;

/// A valid packet from `src` to the server: the base of the bad ones.
fn valid(src: SocketAddr, seq: u32, ack: u32, flags: Flags) -> Vec<u8> {
    let repr = seg(src.port(), PORT, seq, ack, flags);
    let p = packet(src, server_addr(), &repr, b"EVIL");
    assert_eq!(p.len(), 44);
    p
}

/// Every bad packet sent to a listening port is dropped and counted under
/// its reason, and creates no connection; the port still accepts a valid
/// SYN afterwards (§3.10.7.2).
#[test]
fn bad_packets_to_a_listening_port_are_dropped_and_counted() {
    let mut s = Stack::new(config(SERVER_ADDR));
    s.listen(PORT, 16).unwrap();
    let now = Instant::ZERO;
    let syn = valid(SocketAddr::new(PEER.into(), 40000), 1000, 0, Flags::SYN);
    let cases = bad_packets(&syn);
    assert!(cases.len() > 40);
    for (name, bad, reason) in &cases {
        assert_dropped(&mut s, now, name, bad, *reason);
        assert_eq!(s.connections().count(), 0, "{name}: created a connection");
    }
    // The unaltered SYN is good: it is the alteration that was refused.
    s.receive(now, &syn);
    assert_eq!(s.connections().map(|c| c.state).collect::<Vec<_>>(), [State::SynReceived]);
    assert_eq!(output(&mut s, now)[0].flags(), Flags::SYN | Flags::ACK);
}

/// MUST-46 and MUST-63: no connection to or from an address that is no one
/// host's. An OPEN to broadcast, multicast or 0.0.0.0 is an error and sends
/// nothing; where the stack knows its subnet, the subnet's broadcast
/// address counts too, a SYN from it ignored and counted. On the loopback
/// link, peers at 127.0.0.1 are ordinary.
#[test]
fn no_connection_to_or_from_an_address_no_host_has() {
    let mut c = config(SERVER_ADDR);
    c.prefix_len = Some(24);
    let mut s = Stack::new(c);
    s.listen(PORT, 16).unwrap();
    let now = Instant::ZERO;
    let subnet_broadcast = Ipv4Addr::new(10, 0, 0, 255);
    let syn = valid(SocketAddr::new(subnet_broadcast.into(), 40000), 1000, 0, Flags::SYN);
    assert_dropped(&mut s, now, "SYN from the subnet's broadcast address", &syn, Reason::InvalidSource);
    for to in [subnet_broadcast, Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 1), Ipv4Addr::UNSPECIFIED] {
        assert_eq!(s.connect(now, SocketAddr::new(to.into(), 80)), Err(Error::InvalidAddress), "OPEN to {to}");
        assert_eq!(s.connect_from(now, 5000, SocketAddr::new(to.into(), 80)), Err(Error::InvalidAddress), "{to}");
    }
    assert!(output(&mut s, now).is_empty());
    assert_eq!(s.connections().count(), 0);
    // A neighbour at .254 is a host like any.
    let neighbour = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 254).into(), 40000);
    s.receive(now, &valid(neighbour, 1000, 0, Flags::SYN));
    assert!(s.connect(now, SocketAddr::new(neighbour.ip(), 80)).is_ok());
    assert_eq!(output(&mut s, now).len(), 2, "a SYN,ACK and a SYN");
    // Without a prefix, .255 may be a host's address.
    assert!(Stack::new(config(SERVER_ADDR)).connect(now, SocketAddr::new(subnet_broadcast.into(), 80)).is_ok());

    let lo = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), PORT);
    let mut s = Stack::new(config(Ipv4Addr::LOCALHOST));
    s.listen(PORT, 16).unwrap();
    let peer = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 40000);
    s.receive(now, &packet(peer, lo, &seg(peer.port(), PORT, 1000, 0, Flags::SYN), &[]));
    let out = output(&mut s, now);
    assert_eq!(out.iter().map(|a| a.flags()).collect::<Vec<_>>(), [Flags::SYN | Flags::ACK], "loopback");
}

/// Every bad packet aimed at an established connection's 4-tuple, carrying
/// data at exactly RCV.NXT, is dropped and counted; the connection's
/// variables do not move and no data is delivered; and the connection
/// then carries data both ways as before.
#[test]
fn bad_packets_to_an_established_connection_are_dropped_and_it_carries_on() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    idle(&mut net, Duration::from_secs(1));
    let client = stack(&mut net, CLIENT).tcb(c).unwrap().local;
    let (rcv_nxt, snd_nxt) = {
        let t = stack(&mut net, SERVER).tcb(s).unwrap();
        (t.rcv.nxt, t.snd.nxt)
    };
    let good = valid(client, rcv_nxt.0, snd_nxt.0, Flags::ACK | Flags::PSH);
    let now = net.now();
    for (name, bad, reason) in &bad_packets(&good) {
        let server = stack(&mut net, SERVER);
        assert_dropped(server, now, name, bad, *reason);
        let t = server.tcb(s).unwrap();
        assert_eq!(
            (t.state, t.rcv.nxt, t.snd.una, t.snd.nxt),
            (State::Established, rcv_nxt, snd_nxt, snd_nxt),
            "{name}"
        );
        assert_eq!(t.recv_queue(), 0, "{name}: data delivered");
    }
    transfer_both_ways(&mut net, c, s, 20_000);
}

/// The replies a stack queues for `transmit` (RSTs, TIME-WAIT ACKs) are
/// bounded: a flood of SYNs to a closed port between two transmits
/// queues at most 4096 RSTs and counts the rest as dropped.
#[test]
fn queued_replies_are_bounded() {
    let mut s = Stack::new(config(SERVER_ADDR));
    let now = Instant::ZERO;
    for i in 0..5000u32 {
        let src = SocketAddr::new(PEER.into(), 1024 + (i % 60000) as u16);
        s.receive(
            now,
            &packet(src, SocketAddr::new(SERVER_ADDR.into(), 81), &seg(src.port(), 81, i, 0, Flags::SYN), &[]),
        );
    }
    let mut sent = 0;
    s.transmit(now, &mut |_| sent += 1);
    assert_eq!(sent, 4096);
    assert_eq!(s.counters().drops.replies_full, 5000 - 4096);
}

// ----------------------------------------------------------------------
// Random input
// ----------------------------------------------------------------------

/// A stack with small limits, so that random input can reach them.
fn small_config() -> Config {
    let mut c = config(SERVER_ADDR);
    c.recv_buffer = 4096;
    c.send_buffer = 8192;
    c.max_connections = 6;
    c.max_time_wait = 3;
    c.max_syn_queue = 3;
    c.max_ooo_segments = 4;
    c
}

/// A test bed: a client and a server (small limits) with one established
/// connection, the server holding unacknowledged data.
struct Bed {
    net: Network<Node>,
    s: SocketHandle,
    client: SocketAddr,
}

fn bed() -> Bed {
    let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), small_config());
    let (c, s) = establish(&mut net);
    let now = net.now();
    stack(&mut net, SERVER).send(now, s, &pattern(6000, 3)).unwrap();
    let client = stack(&mut net, CLIENT).tcb(c).unwrap().local;
    Bed { net, s, client }
}

/// Feed one packet to the server and check its invariants; what it sends
/// in answer is taken off the link and must be a handful of packets.
fn feed(bed: &mut Bed, packet: &[u8]) -> Result<(), TestCaseError> {
    let now = bed.net.now();
    let s = stack(&mut bed.net, SERVER);
    s.receive(now, packet);
    let mut sent = 0;
    s.transmit(now, &mut |_| sent += 1);
    // At most one reply, plus what one ACK can release of the send buffer.
    let most = 1 + s.tcbs().map(|t| t.send_queue() / t.snd_mss.max(1) + 2).sum::<usize>();
    prop_assert!(sent <= most, "{} packets sent in answer to one", sent);
    invariants(s).map_err(TestCaseError::fail)
}

/// A segment whose fields are all random, but whose options are well
/// formed and whose checksums are right, so that it gets past the parser
/// into the state machine.
#[derive(Clone, Debug)]
struct RandomSegment {
    to_connection: bool,
    src_port: u16,
    flags: u8,
    /// Relative to RCV.NXT (seq) and SND.UNA (ack) of the connection, so
    /// that many land near the windows; or absolute for the listener.
    seq: i64,
    ack: i64,
    window: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

fn options_strategy() -> impl Strategy<Value = TcpOptions> {
    let sack = prop::collection::vec((any::<u32>(), any::<u32>()), 0..=4);
    (
        prop::option::of(any::<u16>()),
        prop::option::of(0u8..=20),
        any::<bool>(),
        sack,
        prop::option::of(any::<(u32, u32)>()),
    )
        .prop_map(|(mss, window_scale, sack_permitted, blocks, ts)| {
            let mut sack_blocks = [None; 4];
            for (slot, (l, r)) in sack_blocks.iter_mut().zip(blocks) {
                *slot = Some((stack::wire::seq::SeqNum(l), stack::wire::seq::SeqNum(r)));
            }
            TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            }
        })
}

fn segment_strategy() -> impl Strategy<Value = RandomSegment> {
    let near = prop_oneof![-70_000i64..70_000, any::<u32>().prop_map(i64::from)];
    (
        any::<bool>(),
        prop_oneof![Just(40000u16), any::<u16>()],
        any::<u8>(),
        near.clone(),
        near,
        any::<u16>(),
        options_strategy(),
        prop::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(to_connection, src_port, flags, seq, ack, window, options, payload)| RandomSegment {
            to_connection,
            src_port,
            flags,
            seq,
            ack,
            window,
            options,
            payload,
        })
}

impl RandomSegment {
    fn packet(&self, bed: &Bed) -> Vec<u8> {
        let (src, seq, ack) = match bed.net.host(SERVER).stack.tcb(bed.s) {
            Some(t) if self.to_connection => {
                (bed.client, t.rcv.nxt.0.wrapping_add(self.seq as u32), t.snd.una.0.wrapping_add(self.ack as u32))
            }
            _ => (SocketAddr::new(PEER.into(), self.src_port), self.seq as u32, self.ack as u32),
        };
        let repr = TcpRepr {
            src_port: src.port(),
            dst_port: PORT,
            seq_number: stack::wire::seq::SeqNum(seq),
            ack_number: stack::wire::seq::SeqNum(ack),
            flags: Flags::from_bits_retain(self.flags),
            window_len: self.window,
            urgent_at: 0,
            options: self.options,
        };
        packet(src, server_addr(), &repr, &self.payload)
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// Arbitrary bytes — alone, behind a valid IPv4 header addressed to the
    /// server, or also with a valid TCP checksum so that they reach the TCP
    /// header checks — never make the stack panic and leave its invariants
    /// intact; the client's connection is not disturbed.
    #[test]
    fn arbitrary_bytes_never_panic(
        packets in prop::collection::vec((0..3u8, prop::collection::vec(any::<u8>(), 0..80)), 1..20)
    ) {
        let mut bed = bed();
        for (wrapping, bytes) in &packets {
            let packet = if *wrapping == 0 {
                bytes.clone()
            } else {
                let mut p = vec![0u8; 20];
                p.extend_from_slice(bytes);
                p[0] = 0x45;
                let len = p.len();
                set_total_len(&mut p, len);
                p[8] = 64;
                p[9] = PROTO_TCP;
                p[12..16].copy_from_slice(&PEER.octets());
                p[16..20].copy_from_slice(&SERVER_ADDR.octets());
                fix_ip_checksum(&mut p);
                if *wrapping == 2 && bytes.len() >= 18 {
                    fix_tcp_checksum(&mut p);
                }
                p
            };
            feed(&mut bed, &packet)?;
        }
        let c = bed.net.host(CLIENT).stack.tcbs().count();
        prop_assert_eq!(c, 1);
    }

    /// Random segments with valid checksums — random flags, sequence and
    /// acknowledgment numbers (many near the windows), windows, options and
    /// payloads — aimed at the listening port and at the established
    /// connection never make the stack panic, and after each one: SND.UNA
    /// ≤ SND.NXT for every TCB, buffers within their sizes, no
    /// more TCBs than `max_connections`, TIME-WAIT within its limit, and a
    /// bounded answer. Then an hour passes: every timer that fires keeps
    /// them too.
    #[test]
    fn random_valid_segments_keep_the_invariants(segments in prop::collection::vec(segment_strategy(), 1..40)) {
        let mut bed = bed();
        for seg in &segments {
            let p = seg.packet(&bed);
            feed(&mut bed, &p)?;
        }
        for _ in 0..60 {
            idle(&mut bed.net, Duration::from_secs(60));
            invariants(&bed.net.host(SERVER).stack).map_err(TestCaseError::fail)?;
            invariants(&bed.net.host(CLIENT).stack).map_err(TestCaseError::fail)?;
        }
    }
}
