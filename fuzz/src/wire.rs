//! The parsers of `stack::wire` on arbitrary bytes.
//!
//! Input: one byte of switches, then a packet, IPv4 or (version nibble 6)
//! IPv6. A fuzzer cannot find a valid checksum by mutating bytes, so the
//! switches have the harness write them: bit 0 the IPv4 header checksum,
//! bit 1 the TCP checksum, bit 2 the ICMP or ICMPv6 checksum (over the IP
//! payload past any extension headers, or over the whole packet when it is
//! not IP). Properties, besides never panicking:
//! - a parsed IPv4 header, emitted again as an `Ipv4Repr`, parses back to
//!   the same fields and payload; a parsed IPv6 header, emitted again as an
//!   `Ipv6Repr`, the same, and its extension headers lead to the same upper
//!   layer;
//! - a parsed TCP segment, emitted again, verifies and parses back to the
//!   same header — except SACK blocks that do not fit beside the other
//!   options in our layout, of which a prefix is kept — and emitting that
//!   once more changes nothing;
//! - the reply to an ICMP or ICMPv6 echo request parses (its ICMPv6
//!   checksum the other way round) and mirrors the request; what an error
//!   quotes parses as a `Quote` or not, without panicking.

use std::net::{IpAddr, Ipv4Addr};

use stack::wire::checksum;
use stack::wire::icmp::{self, IcmpPacket, Kind};
use stack::wire::ip::Quote;
use stack::wire::ipv4::{Ipv4Packet, Ipv4Repr, PROTO_ICMP, PROTO_TCP};
use stack::wire::ipv6::{Ipv6Packet, Ipv6Repr, PROTO_ICMPV6};
use stack::wire::tcp::{TcpOptions, TcpRepr, TcpSegment};

/// Addresses for the TCP checksum of a segment that came without an IPv4 header.
const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

pub fn check(data: &[u8]) {
    let Some((&switches, packet)) = data.split_first() else { return };
    let mut packet = packet.to_vec();
    if packet.first().is_some_and(|b| b >> 4 == 6) {
        return check_ipv6(switches, packet);
    }
    if switches & 1 != 0 && packet.len() >= 20 {
        let header_len = (usize::from(packet[0] & 0x0f) * 4).clamp(20, packet.len());
        write_checksum(&mut packet[..header_len], 10, 0);
    }
    // Where the transport header lies, and the addresses its checksum covers.
    let (body, src, dst) = match Ipv4Packet::new_checked(&packet) {
        Ok(ip) => (ip.header_len()..ip.total_len(), ip.src_addr(), ip.dst_addr()),
        Err(_) => (0..packet.len(), SRC, DST),
    };
    let transport = &mut packet[body];
    if switches & 2 != 0 && transport.len() >= 20 {
        let pseudo = checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, transport.len());
        write_checksum(transport, 16, pseudo);
    }
    if switches & 4 != 0 && transport.len() >= 8 {
        write_checksum(transport, 2, 0);
    }

    match Ipv4Packet::new_checked(&packet) {
        Ok(ip) => {
            ipv4_round_trip(&ip);
            match ip.protocol() {
                PROTO_TCP => tcp_round_trip(ip.payload(), ip.src_addr().into(), ip.dst_addr().into()),
                PROTO_ICMP => icmp_echo(ip.payload(), ip.src_addr().into(), ip.dst_addr().into()),
                _ => {}
            }
        }
        Err(_) => {
            tcp_round_trip(&packet, SRC.into(), DST.into());
            icmp_echo(&packet, SRC.into(), DST.into());
        }
    }
    options_round_trip(&packet[..packet.len().min(40)]);
}

/// Zero the 16-bit checksum field at `at`, then write the complement of the
/// sum of `bytes` and `pseudo` there.
fn write_checksum(bytes: &mut [u8], at: usize, pseudo: u16) {
    bytes[at..at + 2].fill(0);
    let sum = !checksum::combine(&[pseudo, checksum::data(bytes)]);
    bytes[at..at + 2].copy_from_slice(&sum.to_be_bytes());
}

fn ipv4_round_trip(ip: &Ipv4Packet) {
    assert!(Ipv4Repr::HEADER_LEN <= ip.header_len() && ip.header_len() <= ip.total_len());
    let _ = (ip.dont_fragment(), ip.more_fragments(), ip.fragment_offset(), ip.is_fragment());
    let repr = Ipv4Repr {
        src_addr: ip.src_addr(),
        dst_addr: ip.dst_addr(),
        protocol: ip.protocol(),
        payload_len: ip.payload().len(),
        ttl: ip.ttl(),
        tos: ip.tos(),
    };
    let mut buf = vec![0; Ipv4Repr::HEADER_LEN + repr.payload_len];
    buf[Ipv4Repr::HEADER_LEN..].copy_from_slice(ip.payload());
    repr.emit(&mut buf);
    let again = Ipv4Packet::new_checked(&buf).expect("an emitted IPv4 header parses");
    assert_eq!(
        (again.src_addr(), again.dst_addr(), again.protocol(), again.ttl()),
        (repr.src_addr, repr.dst_addr, repr.protocol, repr.ttl)
    );
    assert_eq!(again.payload(), ip.payload());
    assert!(again.dont_fragment() && !again.is_fragment());
}

/// Emit `repr` with `payload`, check the checksum verifies, and parse it back.
fn emit_and_parse(repr: &TcpRepr, payload: &[u8], src: IpAddr, dst: IpAddr) -> TcpRepr {
    let header_len = repr.header_len();
    assert!(header_len <= 60 && header_len.is_multiple_of(4), "header of {header_len} bytes");
    let mut buf = vec![0; header_len + payload.len()];
    buf[header_len..].copy_from_slice(payload);
    repr.emit(&mut buf, src, dst);
    let segment = TcpSegment::new_checked(&buf).expect("an emitted segment parses");
    assert!(segment.verify_checksum(src, dst), "an emitted segment's checksum verifies");
    assert_eq!(segment.header_len(), header_len);
    assert_eq!(segment.payload(), payload);
    TcpRepr::parse(&segment).expect("emitted options parse")
}

fn tcp_round_trip(bytes: &[u8], src: IpAddr, dst: IpAddr) {
    let Ok(segment) = TcpSegment::new_checked(bytes) else { return };
    assert!(TcpRepr::MIN_HEADER_LEN <= segment.header_len() && segment.header_len() <= bytes.len().min(60));
    let _ = (segment.verify_checksum(src, dst), segment.checksum());
    let Ok(repr) = TcpRepr::parse(&segment) else { return };
    let _ = repr.to_string();
    let again = emit_and_parse(&repr, segment.payload(), src, dst);
    assert_sack_prefix(&repr.options, &again.options);
    let mut expected = repr;
    expected.options.sack_blocks = again.options.sack_blocks;
    assert_eq!(again, expected);
    assert_eq!(emit_and_parse(&again, segment.payload(), src, dst), again, "emitting is a fixed point");
}

/// `emitted` kept a prefix of `original`'s SACK blocks, and only dropped
/// blocks for lack of room.
fn assert_sack_prefix(original: &TcpOptions, emitted: &TcpOptions) {
    let kept = emitted.sack_blocks.iter().flatten().count();
    let wanted = original.sack_blocks.iter().flatten().count();
    assert!(kept <= wanted);
    assert_eq!(emitted.sack_blocks[..kept], original.sack_blocks[..kept]);
    assert!(emitted.sack_blocks[kept..].iter().all(Option::is_none));
    if kept < wanted {
        // One more block (with the SACK option's own 4 bytes if none was sent) would not fit.
        let extra = if kept == 0 { 12 } else { 8 };
        assert!(emitted.buffer_len() + extra > 40, "a SACK block was dropped though it fitted");
    }
}

fn options_round_trip(bytes: &[u8]) {
    let Ok(options) = TcpOptions::parse(bytes) else { return };
    let mut buf = [0; 40];
    let len = options.emit(&mut buf);
    assert!(len <= 40 && len.is_multiple_of(4) && len == options.buffer_len());
    let again = TcpOptions::parse(&buf[..len]).expect("emitted options parse");
    assert_sack_prefix(&options, &again);
    assert_eq!(again, TcpOptions { sack_blocks: again.sack_blocks, ..options });
}

/// `check` for an IPv6 packet.
fn check_ipv6(switches: u8, mut packet: Vec<u8>) {
    // Where the upper layer lies, its protocol, and the addresses.
    let Ok(ip) = Ipv6Packet::new_checked(&packet) else { return };
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let end = 40 + ip.payload_len();
    let Ok((protocol, upper)) = ip.upper_layer() else { return };
    let upper = end - upper.len()..end;
    let body = &mut packet[upper.clone()];
    if switches & 2 != 0 && protocol == PROTO_TCP && body.len() >= 20 {
        write_checksum(body, 16, checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, body.len()));
    }
    if switches & 4 != 0 && protocol == PROTO_ICMPV6 && body.len() >= 8 {
        write_checksum(body, 2, checksum::pseudo_header(src.into(), dst.into(), PROTO_ICMPV6, body.len()));
    }
    let ip = Ipv6Packet::new_checked(&packet).expect("checksums are not the IPv6 header's");
    ipv6_round_trip(&ip);
    let body = &packet[upper];
    match protocol {
        PROTO_TCP => tcp_round_trip(body, src.into(), dst.into()),
        PROTO_ICMPV6 => icmp_echo(body, src.into(), dst.into()),
        _ => {}
    }
}

fn ipv6_round_trip(ip: &Ipv6Packet) {
    let repr = Ipv6Repr {
        src_addr: ip.src_addr(),
        dst_addr: ip.dst_addr(),
        next_header: ip.next_header(),
        payload_len: ip.payload_len(),
        hop_limit: ip.hop_limit(),
        traffic_class: ip.traffic_class(),
    };
    let mut buf = vec![0; Ipv6Repr::HEADER_LEN + repr.payload_len];
    buf[Ipv6Repr::HEADER_LEN..].copy_from_slice(ip.payload());
    repr.emit(&mut buf);
    let again = Ipv6Packet::new_checked(&buf).expect("an emitted IPv6 header parses");
    assert_eq!(
        (again.src_addr(), again.dst_addr(), again.next_header()),
        (repr.src_addr, repr.dst_addr, repr.next_header)
    );
    assert_eq!(
        (again.hop_limit(), again.traffic_class(), again.payload()),
        (repr.hop_limit, repr.traffic_class, ip.payload())
    );
    assert_eq!(again.upper_layer(), ip.upper_layer(), "the same extension headers lead to the same upper layer");
}

/// What an error quotes: a `Quote`, or not, of either family.
fn quote(bytes: &[u8]) {
    if let Ok(q) = Quote::new_checked(bytes) {
        let _ = (q.protocol(), q.src_addr(), q.dst_addr(), q.src_port(), q.dst_port(), q.seq_number());
    }
}

/// An ICMP or ICMPv6 message from `src` to `dst`: what an error quotes
/// parses or not; an echo request's reply parses, from `dst` back to `src`
/// (for ICMPv6 its checksum so), and mirrors it.
fn icmp_echo(bytes: &[u8], src: IpAddr, dst: IpAddr) {
    let Ok(icmp) = IcmpPacket::new_checked(bytes, src, dst) else { return };
    quote(icmp.quoted());
    let _ = (icmp.code(), icmp.mtu(), icmp.protocol());
    if icmp.kind() != Kind::EchoRequest {
        return;
    }
    let mut buf = vec![0; bytes.len()];
    assert_eq!(icmp::emit_echo_reply(&icmp, &mut buf), bytes.len());
    let reply = IcmpPacket::new_checked(&buf, dst, src).expect("an echo reply parses, from us to the peer");
    assert_eq!((reply.code(), reply.kind()), (0, Kind::Other), "a reply is not a request");
    assert_eq!((reply.ident(), reply.seq_no(), reply.data()), (icmp.ident(), icmp.seq_no(), icmp.data()));
}
