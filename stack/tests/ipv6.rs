//! IPv6 (RFC 8200) under the same TCP: the conversations of the other
//! suites, over both families through one code path, must come out the
//! same, but for what the family changes (the MSS, the header); IPv6
//! packets that are malformed or forged are dropped and counted; ICMPv6
//! (RFC 4443) is answered and reaches the connection it is about.

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::tcp::Drops;
use stack::time::Instant;
use stack::wire::checksum;
use stack::wire::icmp::IcmpPacket;
use stack::wire::icmpv6;
use stack::wire::ip::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use stack::wire::ipv6::{ext, Ipv6Packet, MAX_EXT_HEADERS};
use stack::wire::tcp::Flags;
use stack::{Config, Error, Ready, Stack};

/// The server's listening address in each family.
fn servers() -> [SocketAddr; 2] {
    [SocketAddr::new(SERVER_ADDR.into(), PORT), SocketAddr::new(SERVER_ADDR6.into(), PORT)]
}

/// What a conversation was, but for what the MSS changes (where a short
/// segment falls, and the ACKs that follow it): the handshake, the close,
/// and how many segments carried data each way.
fn outline(segs: &[Seg]) -> (Vec<String>, Vec<String>, [usize; 2]) {
    let data = |from_server| segs.iter().filter(|s| s.len > 0 && s.is_from_server() == from_server).count();
    let (start, end) = (picture(&segs[..3]), picture(&segs[segs.len() - 3..]));
    (start, end, [data(false), data(true)])
}

/// Handshake, data both ways, the server's close first and TIME-WAIT:
/// the same segments over IPv6 as over IPv4, each in a packet of its
/// family, carrying 20 bytes less per segment (the IPv6 header's 40
/// against 20).
#[test]
fn a_whole_conversation_is_the_same_over_both_families() {
    let mut pictures = Vec::new();
    for server in servers() {
        let mut net = pair(Faults::default());
        net.capture(true);
        let (c, s) = establish_to(&mut net, server);
        assert_eq!(stack(&mut net, CLIENT).peer(c), Some(server));
        let client = stack(&mut net, SERVER).peer(s).unwrap();
        assert_eq!(client.ip(), if server.is_ipv6() { IpAddr::from(CLIENT_ADDR6) } else { CLIENT_ADDR.into() });
        let info = stack(&mut net, SERVER).connections().next().unwrap();
        assert_eq!((info.local, info.remote), (server, client));
        let mss = if server.is_ipv6() { 1440 } else { 1460 };
        assert_eq!(info.snd_mss, mss);

        // As many segments in each family: full ones of IPv6's size.
        transfer_both_ways(&mut net, c, s, 60 * (1440 - 12));
        server_closes_first(&mut net, c, s);
        assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
        let delivered = net.take_captured();
        let version = if server.is_ipv6() { 6 } else { 4 };
        assert!(delivered.iter().all(|d| d.packet[0] >> 4 == version), "a packet of the other family");
        let segs: Vec<Seg> = delivered.iter().filter_map(|d| Seg::parse(d.to, d.at, &d.packet)).collect();
        assert_eq!(segs.len(), delivered.len());
        assert_eq!(segs.iter().map(|s| s.len).max(), Some(mss - 12), "full segments: the MSS less the timestamps");
        pictures.push(outline(&segs));

        idle(&mut net, MSL * 2);
        assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
    }
    assert_eq!(pictures[0], pictures[1]);
}

/// A SYN for a 4-tuple in TIME-WAIT reopens it (RFC 6191), in both families.
#[test]
fn time_wait_is_reopened_over_both_families() {
    for server in servers() {
        let mut net = pair(Faults::default());
        let (c, s) = establish_from_to(&mut net, 40000, server);
        server_closes_first(&mut net, c, s);
        assert_eq!(stack(&mut net, SERVER).time_wait_count(), 1);
        let (c, _) = establish_from_to(&mut net, 40000, server);
        assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::Established));
        assert_eq!(stack(&mut net, SERVER).counters().time_wait_reopened, 1, "{server}");
        assert_eq!(stack(&mut net, SERVER).time_wait_count(), 0);
    }
}

/// With the SYN queue full, SYN cookies (RFC 4987) make the connection,
/// and keep the family's MSS.
#[test]
fn syn_cookies_over_both_families() {
    for server in servers() {
        let cookies_only = Config { max_syn_queue: 0, ..config(SERVER_ADDR) };
        let mut net = pair_with(Faults::default(), config(CLIENT_ADDR), cookies_only);
        let (c, s) = establish_to(&mut net, server);
        let counters = stack(&mut net, SERVER).counters().clone();
        assert_eq!((counters.syn_cookies_sent, counters.syn_cookies_accepted), (1, 1), "{server}");
        assert_eq!(stack(&mut net, SERVER).tcb(s).unwrap().snd_mss, if server.is_ipv6() { 1440 } else { 1460 });
        transfer_both_ways(&mut net, c, s, 10_000);
    }
}

/// RFC 5961 §3 in both families: an RST in the window but not at RCV.NXT
/// gets a challenge ACK; one at RCV.NXT resets.
#[test]
fn rst_and_challenge_ack_over_both_families() {
    for server in servers() {
        let mut net = pair(Faults::default());
        let (c, s) = establish_to(&mut net, server);
        let client = stack(&mut net, CLIENT).tcb(c).unwrap().local;
        let rcv_nxt = stack(&mut net, SERVER).tcb(s).unwrap().rcv.nxt.0;
        let now = net.now();
        let rst = |seq| packet(client, server, &seg(client.port(), PORT, seq, 0, Flags::RST), &[]);
        stack(&mut net, SERVER).receive(now, &rst(rcv_nxt + 100));
        let out = output(stack(&mut net, SERVER), now);
        assert_eq!((out.len(), out[0].flags(), out[0].ack()), (1, Flags::ACK, rcv_nxt), "{server}: challenge ACK");
        assert_eq!(stack(&mut net, SERVER).counters().challenge_acks, 1);
        assert_eq!(stack(&mut net, SERVER).state(s), Some(State::Established));

        stack(&mut net, SERVER).receive(now, &rst(rcv_nxt));
        assert!(ready_of(&events(&mut net, SERVER), s).contains(Ready::RESET), "{server}: reset");
        assert_eq!(stack(&mut net, SERVER).recv(now, s, &mut [0; 8]), Err(Error::Reset));
    }
}

/// An OPEN goes only to one host's address, and only in a family the
/// stack has an address of (MUST-46).
#[test]
fn connect_refuses_addresses_no_host_has_and_a_family_we_lack() {
    let now = Instant::ZERO;
    let mut v4_only = Stack::new(Config::new(CLIENT_ADDR));
    let to = |addr: &str| SocketAddr::new(addr.parse().unwrap(), 80);
    assert_eq!(v4_only.connect(now, to("fd00::2")), Err(Error::InvalidAddress));
    assert_eq!(v4_only.connect_from(now, 5000, to("fd00::2")), Err(Error::InvalidAddress));
    let mut s = Stack::new(config(CLIENT_ADDR));
    for bad in ["::", "ff02::1", "ff0e::1", "::ffff:10.0.0.2", "::10.0.0.2", "::1"] {
        assert_eq!(s.connect(now, to(bad)), Err(Error::InvalidAddress), "OPEN to {bad}");
    }
    let h = s.connect(now, to("fd00::9")).unwrap();
    assert_eq!(s.tcb(h).unwrap().local.ip(), IpAddr::from(CLIENT_ADDR6));
    // On the loopback link, ::1 is every peer's.
    let mut lo = Stack::new(Config { addr6: Some(Ipv6Addr::LOCALHOST), ..Config::new([127, 0, 0, 1].into()) });
    assert!(lo.connect(now, to("::1")).is_ok());
}

/// A stack with an IPv6 address needs a link that carries IPv6's 1280.
#[test]
#[should_panic(expected = "IPv6 needs an MTU of at least 1280")]
fn ipv6_on_too_small_an_mtu_is_refused() {
    Stack::new(Config { mtu: 1279, ..config(SERVER_ADDR) });
}

const PEER6: SocketAddr = SocketAddr::new(IpAddr::V6(CLIENT_ADDR6), 40000);

/// A SYN from `src` to the server's IPv6 address, with 4 bytes of data.
fn syn_from(src: SocketAddr) -> Vec<u8> {
    packet(src, servers()[1], &seg(src.port(), PORT, 1000, 0, Flags::SYN), b"EVIL")
}

/// `p`, an IPv6 packet with no extension header, with `headers` put
/// between its header and its payload, each (Next Header value, bytes),
/// chained in order to the payload's protocol. The TCP checksum does not
/// cover them.
fn with_ext(p: &[u8], headers: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = p[..40].to_vec();
    let upper = out[6];
    out[6] = headers[0].0;
    for (i, (_, bytes)) in headers.iter().enumerate() {
        let mut h = bytes.to_vec();
        h[0] = headers.get(i + 1).map_or(upper, |next| next.0);
        out.extend(h);
    }
    out.extend_from_slice(&p[40..]);
    let payload_len = (out.len() - 40) as u16;
    out[4..6].copy_from_slice(&payload_len.to_be_bytes());
    out
}

/// 8 bytes of options: PadN.
const PAD: &[u8] = &[0, 0, 1, 4, 0, 0, 0, 0];

/// Which drop counter a case adds one to.
type Count = fn(&mut Drops);

/// Feed `packet` to `s` and check that it was dropped and counted by
/// `count` and nothing else, and that nothing was sent in answer.
fn assert_dropped(s: &mut Stack, name: &str, packet: &[u8], count: Count) {
    let now = Instant::ZERO;
    let mut expected = s.counters().clone();
    expected.packets_in += 1;
    count(&mut expected.drops);
    s.receive(now, packet);
    assert_eq!(s.counters(), &expected, "{name}: wrong counters");
    assert!(output(s, now).is_empty(), "{name}: something was sent in answer");
}

/// Each bad IPv6 packet is dropped and counted under its reason, and
/// the good ones, extension headers within the bound included, answered.
#[test]
fn malformed_and_forged_ipv6_packets_are_dropped_and_counted() {
    let mut s = Stack::new(config(SERVER_ADDR));
    s.listen(PORT, 4).unwrap();
    let good = syn_from(PEER6);
    let set_payload_len = |p: &[u8], len: u16| {
        let mut p = p.to_vec();
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p
    };
    let fragment: &[u8] = &[0, 0, 0, 1, 0, 0, 0, 7]; // offset 0, more fragments
    let too_long: Vec<(u8, &[u8])> = (0..=MAX_EXT_HEADERS).map(|_| (ext::DESTINATION, PAD)).collect();
    let mut bad_checksum = good.clone();
    *bad_checksum.last_mut().unwrap() ^= 1;
    let from = |addr: &str| syn_from(SocketAddr::new(addr.parse().unwrap(), 40000));
    let cases: Vec<(&str, Vec<u8>, Count)> = vec![
        ("header cut short", good[..39].to_vec(), |d| d.malformed += 1),
        ("payload length past the buffer", set_payload_len(&good, 45), |d| d.malformed += 1),
        ("payload length cutting the TCP header", set_payload_len(&good, 10), |d| d.malformed += 1),
        ("payload length cutting the data", set_payload_len(&good, 22), |d| d.checksum += 1),
        ("bad checksum", bad_checksum, |d| d.checksum += 1),
        ("extension headers past the bound", with_ext(&good, &too_long), |d| d.ipv6_ext_headers += 1),
        ("Hop-by-Hop after another header", with_ext(&good, &[(ext::DESTINATION, PAD), (ext::HOP_BY_HOP, PAD)]), |d| {
            d.ipv6_ext_headers += 1
        }),
        ("an option that says discard", with_ext(&good, &[(ext::DESTINATION, &[0, 0, 0x80, 2, 0, 0, 1, 0])]), |d| {
            d.ipv6_ext_headers += 1
        }),
        ("a routing header with segments left", with_ext(&good, &[(ext::ROUTING, &[0, 0, 4, 1, 0, 0, 0, 0])]), |d| {
            d.ipv6_ext_headers += 1
        }),
        ("an extension header cut short", with_ext(&good, &[(ext::HOP_BY_HOP, &[0, 4, 1, 4, 0, 0, 0, 0])]), |d| {
            d.malformed += 1
        }),
        ("a fragment", with_ext(&good, &[(ext::FRAGMENT, fragment)]), |d| d.fragment += 1),
        ("a fragment after options", with_ext(&good, &[(ext::HOP_BY_HOP, PAD), (ext::FRAGMENT, fragment)]), |d| {
            d.fragment += 1
        }),
        ("multicast source", from("ff02::1"), |d| d.invalid_source += 1),
        ("unspecified source", from("::"), |d| d.invalid_source += 1),
        ("IPv4-mapped source", from("::ffff:10.0.0.1"), |d| d.invalid_source += 1),
        ("IPv4-compatible source", from("::10.0.0.1"), |d| d.invalid_source += 1),
        ("loopback source off the loopback link", from("::1"), |d| d.invalid_source += 1),
        (
            "for another host",
            packet(PEER6, "[fd00::9]:80".parse::<SocketAddr>().unwrap(), &seg(40000, PORT, 1, 0, Flags::SYN), &[]),
            |d| d.not_for_us += 1,
        ),
        ("ICMP of IPv4 in IPv6", retyped(&good, PROTO_ICMP), |d| d.other_protocol += 1),
    ];
    let dropped = cases.len() as u64;
    for (name, packet, count) in cases {
        assert_dropped(&mut s, name, &packet, count);
    }
    // A stack without IPv6 takes none.
    let mut v4_only = Stack::new(Config::new(SERVER_ADDR));
    v4_only.listen(PORT, 4).unwrap();
    assert_dropped(&mut v4_only, "IPv6 to a stack without it", &good, |d| d.not_for_us += 1);

    // The good ones: extension headers up to the bound are skipped.
    let within: Vec<(u8, &[u8])> =
        std::iter::once((ext::HOP_BY_HOP, PAD)).chain((1..MAX_EXT_HEADERS).map(|_| (ext::DESTINATION, PAD))).collect();
    for (i, p) in [good.clone(), with_ext(&good, &within)].iter().enumerate() {
        let peer = SocketAddr::new(CLIENT_ADDR6.into(), 50000 + i as u16);
        let mut p = p.clone();
        rewrite_src_port(&mut p, peer);
        s.receive(Instant::ZERO, &p);
        let out = output(&mut s, Instant::ZERO);
        assert_eq!(out.len(), 1, "case {i}");
        assert_eq!(out[0].flags(), Flags::SYN | Flags::ACK);
    }
    assert_eq!(s.counters().drops.total(), dropped);
}

/// `p` (IPv6, no extension headers) with its Next Header set to `protocol`.
fn retyped(p: &[u8], protocol: u8) -> Vec<u8> {
    let mut p = p.to_vec();
    p[6] = protocol;
    p
}

/// Gives the TCP segment at the end of IPv6 packet `p` the source port of
/// `peer`, and its checksum again.
fn rewrite_src_port(p: &mut [u8], peer: SocketAddr) {
    let ip = Ipv6Packet::new_checked(p).unwrap();
    let (_, tcp) = ip.upper_layer().unwrap();
    let at = p.len() - tcp.len();
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let tcp = &mut p[at..];
    tcp[0..2].copy_from_slice(&peer.port().to_be_bytes());
    tcp[16..18].fill(0);
    let pseudo = checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, tcp.len());
    let sum = !checksum::combine(&[pseudo, checksum::data(tcp)]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
}

/// `ping -6`: the Echo Request comes back as an Echo Reply whose checksum
/// covers the reply's own pseudo-header; one with a bad checksum is
/// dropped.
#[test]
fn icmpv6_echo_is_answered() {
    let mut s = Stack::new(config(SERVER_ADDR));
    let request =
        icmp_packet(CLIENT_ADDR6.into(), SERVER_ADDR6.into(), icmpv6::TYPE_ECHO_REQUEST, 0, 0x0007_0001, b"ping!");
    let now = Instant::ZERO;
    s.receive(now, &request);
    let mut sent = Vec::new();
    s.transmit(now, &mut |p| sent.push(p.concat()));
    assert_eq!(sent.len(), 1);
    let ip = Ipv6Packet::new_checked(&sent[0]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.next_header()), (SERVER_ADDR6, CLIENT_ADDR6, PROTO_ICMPV6));
    let reply = IcmpPacket::new_checked(ip.payload(), SERVER_ADDR6.into(), CLIENT_ADDR6.into()).unwrap();
    assert_eq!((reply.msg_type(), reply.ident(), reply.seq_no()), (icmpv6::TYPE_ECHO_REPLY, 7, 1));
    assert_eq!(reply.data(), b"ping!");
    assert_eq!(s.counters().icmp_echo_replies, 1);

    let mut corrupt = request;
    *corrupt.last_mut().unwrap() ^= 1;
    assert_dropped(&mut s, "echo with a bad checksum", &corrupt, |d| d.checksum += 1);
}

/// Port unreachable (RFC 4443 §3.1 code 4) about our SYN refuses the
/// connect, as an RST would; host unreachable (code 3) is a soft error.
#[test]
fn icmpv6_unreachable_reaches_the_connection() {
    for (code, error) in
        [(icmpv6::unreachable::PORT, Error::Refused), (icmpv6::unreachable::ADDRESS, Error::HostUnreachable)]
    {
        let mut net = pair(Faults::default());
        let now = net.now();
        let c = stack(&mut net, CLIENT).connect(now, servers()[1]).unwrap();
        stack(&mut net, CLIENT).transmit(now, &mut |_| {}); // the SYN leaves
        let iss = stack(&mut net, CLIENT).tcb(c).unwrap().snd.iss.0;
        let (ours, theirs, quote) = quote_of(&mut net, CLIENT, c, iss);
        let p = icmp_packet(theirs, ours, icmpv6::TYPE_DEST_UNREACHABLE, code, 0, &quote);
        stack(&mut net, CLIENT).receive(now, &p);
        assert_eq!(stack(&mut net, CLIENT).counters().icmp_errors, 1);
        if error == Error::Refused {
            assert_eq!(stack(&mut net, CLIENT).send(now, c, b"x"), Err(Error::Refused));
        } else {
            assert_eq!(stack(&mut net, CLIENT).take_soft_error(c), Some(error));
            assert_eq!(stack(&mut net, CLIENT).state(c), Some(State::SynSent));
        }
    }
}
