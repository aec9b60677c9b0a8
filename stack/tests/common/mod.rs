//! Test harness: two stacks joined by the simulator, and the segments that
//! crossed between them in a form a test can assert on.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use stack::link::faults::Faults;
use stack::link::sim::{Host, Network};
use stack::tcp::state::State;
use stack::time::{Duration, Instant};
use stack::wire::ipv4::Ipv4Packet;
use stack::wire::ipv6::Ipv6Packet;
use stack::wire::tcp::{Flags, TcpRepr, TcpSegment};
use stack::{Config, Event, Ready, SocketHandle, Stack};

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The hosts' IPv6 addresses (a unique local prefix, RFC 4193), which
/// `config` gives them beside the IPv4 ones.
pub const CLIENT_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
pub const SERVER_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
pub const PORT: u16 = 80;
pub const MSL: Duration = Duration::from_secs(2);
/// The data of a full segment between two stacks of `config`: the MSS
/// (MTU 1500 - 40) less the 12 bytes of the timestamps option every
/// segment carries.
pub const FULL: usize = 1460 - 12;

/// A stack in the simulator, with a filter that can drop chosen incoming
/// segments ("this FIN is lost").
/// Decides whether an incoming segment is lost.
pub type DropFilter = Box<dyn FnMut(&Seg) -> bool>;

pub struct Node {
    pub stack: Stack,
    pub drop_if: Option<DropFilter>,
    pub dropped: Vec<Seg>,
}

impl Host for Node {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        if let (Some(filter), Some(seg)) = (self.drop_if.as_mut(), Seg::parse(0, now, packet)) {
            if filter(&seg) {
                self.dropped.push(seg);
                return;
            }
        }
        self.stack.receive(now, packet);
    }
    fn poll(&mut self, now: Instant) {
        self.stack.poll(now);
    }
    fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
        self.stack.transmit(now, emit);
    }
    fn poll_at(&self) -> Option<Instant> {
        self.stack.poll_at()
    }
}

/// A host's configuration: `addr`, and fd00::N for 10.0.0.N.
pub fn config(addr: Ipv4Addr) -> Config {
    let mut c = Config::new(addr);
    c.addr6 = Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(addr.octets()[3])));
    c.isn_key = [addr.octets()[3]; 16];
    c.msl = MSL;
    c
}

/// A client and a server (listening on PORT) on a network with `faults`
/// and a 1 ms one-way delay.
pub fn pair(faults: Faults) -> Network<Node> {
    pair_with(faults, config(CLIENT_ADDR), config(SERVER_ADDR))
}

pub fn pair_with(faults: Faults, client: Config, server: Config) -> Network<Node> {
    pair_exact(Faults { delay: Duration::from_millis(1), ..faults }, client, server)
}

/// Like `pair_with`, but the paths get exactly `faults`, delay included.
pub fn pair_exact(faults: Faults, client: Config, server: Config) -> Network<Node> {
    let mut net = Network::new(faults);
    let addr6 = [client.addr6, server.addr6];
    net.add_host(CLIENT_ADDR, Node { stack: Stack::new(client), drop_if: None, dropped: Vec::new() });
    net.add_host(SERVER_ADDR, Node { stack: Stack::new(server), drop_if: None, dropped: Vec::new() });
    for (host, addr6) in [CLIENT, SERVER].into_iter().zip(addr6) {
        if let Some(addr6) = addr6 {
            net.add_address(host, addr6);
        }
    }
    net.host_mut(SERVER).stack.listen(PORT, 16).unwrap();
    net
}

pub fn stack(net: &mut Network<Node>, i: usize) -> &mut Stack {
    &mut net.host_mut(i).stack
}

pub fn server_addr() -> SocketAddr {
    SocketAddr::new(SERVER_ADDR.into(), PORT)
}

/// Run until `done`, at most `limit` of virtual time; panics on timeout.
pub fn run(net: &mut Network<Node>, limit: Duration, mut done: impl FnMut(&mut Network<Node>) -> bool) {
    let deadline = net.now() + limit;
    assert!(net.run_until(deadline, &mut done), "not done after {limit:?} (virtual)");
}

/// Let `d` of virtual time pass, with everything it brings.
pub fn idle(net: &mut Network<Node>, d: Duration) {
    let deadline = net.now() + d;
    net.run_until(deadline, |n| n.now() >= deadline);
}

/// Connect the client to the server and accept: returns (client, server).
pub fn establish(net: &mut Network<Node>) -> (SocketHandle, SocketHandle) {
    establish_to(net, server_addr())
}

/// The same to the server's `remote`, of either family.
pub fn establish_to(net: &mut Network<Node>, remote: SocketAddr) -> (SocketHandle, SocketHandle) {
    let now = net.now();
    let c = stack(net, CLIENT).connect(now, remote).unwrap();
    accepted(net, c)
}

/// The same from the client's `port`, for tests that come back to the
/// same 4-tuple.
pub fn establish_from(net: &mut Network<Node>, port: u16) -> (SocketHandle, SocketHandle) {
    establish_from_to(net, port, server_addr())
}

pub fn establish_from_to(net: &mut Network<Node>, port: u16, remote: SocketAddr) -> (SocketHandle, SocketHandle) {
    let now = net.now();
    let c = stack(net, CLIENT).connect_from(now, port, remote).unwrap();
    accepted(net, c)
}

/// The client's connection `c` established and the server's accepted.
fn accepted(net: &mut Network<Node>, c: SocketHandle) -> (SocketHandle, SocketHandle) {
    let mut s = None;
    run(net, Duration::from_secs(5), |n| {
        s = s.or_else(|| stack(n, SERVER).accept(PORT));
        s.is_some() && stack(n, CLIENT).state(c) == Some(State::Established)
    });
    (c, s.unwrap())
}

/// The server shuts its side down and the client closes: the server's
/// connection is in TIME-WAIT while its application still holds the
/// socket (it has not called `close`).
pub fn server_time_wait_held(net: &mut Network<Node>, c: SocketHandle, s: SocketHandle) {
    let now = net.now();
    stack(net, SERVER).shutdown(now, s).unwrap();
    run(net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c) == Some(State::CloseWait));
    let now = net.now();
    stack(net, CLIENT).close(now, c);
    run(net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c).is_none());
    assert_eq!(stack(net, SERVER).state(s), Some(State::TimeWait));
}

/// Send `data` from `from` on `tx` to the reader `rx` at `to`, feeding the
/// send buffer as it drains; returns what was read.
pub fn transfer(
    net: &mut Network<Node>,
    from: usize,
    tx: SocketHandle,
    to: usize,
    rx: SocketHandle,
    data: &[u8],
) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    run(net, Duration::from_secs(600), |n| {
        let now = n.now();
        if let Ok(k) = stack(n, from).send(now, tx, &data[sent..]) {
            sent += k;
        }
        got.extend(read_all(n, to, rx));
        got.len() == data.len()
    });
    got
}

/// Everything readable on `h` now.
pub fn read_all(net: &mut Network<Node>, i: usize, h: SocketHandle) -> Vec<u8> {
    let now = net.now();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = stack(net, i).recv(now, h, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Send `len` bytes each way and check they arrive.
pub fn transfer_both_ways(net: &mut Network<Node>, c: SocketHandle, s: SocketHandle, len: usize) {
    let (up, down) = (pattern(len, 1), pattern(len, 2));
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let (mut sent_up, mut sent_down) = (0, 0);
    run(net, Duration::from_secs(10), |n| {
        let now = n.now();
        sent_up += stack(n, CLIENT).send(now, c, &up[sent_up..]).unwrap_or(0);
        sent_down += stack(n, SERVER).send(now, s, &down[sent_down..]).unwrap_or(0);
        got_up.extend(read_all(n, SERVER, s));
        got_down.extend(read_all(n, CLIENT, c));
        got_up.len() == len && got_down.len() == len
    });
    assert!(got_up == up && got_down == down, "the streams differ");
}

/// The web's close: the server closes first, the client answers with its
/// own FIN once it has seen the server's, and the server is left in
/// TIME-WAIT.
pub fn server_closes_first(net: &mut Network<Node>, c: SocketHandle, s: SocketHandle) {
    let now = net.now();
    stack(net, SERVER).close(now, s);
    run(net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c) == Some(State::CloseWait));
    let now = net.now();
    stack(net, CLIENT).close(now, c);
    run(net, Duration::from_secs(1), |n| stack(n, CLIENT).state(c).is_none());
}

/// Drain the events of a stack.
pub fn events(net: &mut Network<Node>, i: usize) -> Vec<Event> {
    std::iter::from_fn(|| stack(net, i).next_event()).collect()
}

pub fn ready_of(events: &[Event], h: SocketHandle) -> Ready {
    events.iter().fold(Ready::empty(), |acc, e| match *e {
        Event::Socket { socket, ready } if socket == h => acc | ready,
        _ => acc,
    })
}

/// One TCP segment as delivered: who got it, when, and its header.
#[derive(Clone, Debug)]
pub struct Seg {
    pub to: usize,
    pub at: Instant,
    pub repr: TcpRepr,
    pub len: usize,
}

impl Seg {
    pub fn parse(to: usize, at: Instant, packet: &[u8]) -> Option<Seg> {
        let tcp = TcpSegment::new_checked(ip_payload(packet)?).ok()?;
        let repr = TcpRepr::parse(&tcp).ok()?;
        Some(Seg { to, at, repr, len: tcp.payload().len() })
    }

    pub fn flags(&self) -> Flags {
        self.repr.flags
    }
    pub fn seq(&self) -> u32 {
        self.repr.seq_number.0
    }
    pub fn ack(&self) -> u32 {
        self.repr.ack_number.0
    }
    pub fn is_from_server(&self) -> bool {
        self.to == CLIENT
    }
    pub fn has(&self, f: Flags) -> bool {
        self.repr.flags.contains(f)
    }
}

/// What an IPv4 or IPv6 packet carries, past its header (and extension
/// headers).
pub fn ip_payload(packet: &[u8]) -> Option<&[u8]> {
    match packet.first()? >> 4 {
        4 => Some(Ipv4Packet::new_checked(packet).ok()?.payload()),
        6 => Some(Ipv6Packet::new_checked(packet).ok()?.upper_layer().ok()?.1),
        _ => None,
    }
}

/// The TCP segments delivered since the last call (capture must be on).
pub fn captured(net: &mut Network<Node>) -> Vec<Seg> {
    net.take_captured().into_iter().filter_map(|d| Seg::parse(d.to, d.at, &d.packet)).collect()
}

/// A compact picture of an exchange: "C>S S", "S>C S.", "C>S ." ...
pub fn picture(segs: &[Seg]) -> Vec<String> {
    segs.iter()
        .map(|s| {
            let dir = if s.is_from_server() { "S>C" } else { "C>S" };
            if s.len > 0 {
                format!("{dir} {} len={}", s.flags(), s.len)
            } else {
                format!("{dir} {}", s.flags())
            }
        })
        .collect()
}

/// Deterministic pseudo-random bytes for transfers.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A whole IPv4 or IPv6 packet (by the addresses' family) carrying `repr`
/// and `payload`, with correct checksums.
pub fn packet(src: impl Into<SocketAddr>, dst: impl Into<SocketAddr>, repr: &TcpRepr, payload: &[u8]) -> Vec<u8> {
    use stack::wire::ip::{IpRepr, PROTO_TCP};
    let (src, dst) = (src.into(), dst.into());
    let tcp_len = repr.header_len() + payload.len();
    let mut ip = IpRepr::new(src.ip(), dst.ip(), PROTO_TCP, 64, 0);
    ip.set_payload_len(tcp_len);
    let header_len = ip.header_len();
    let mut buf = vec![0u8; header_len + tcp_len];
    ip.emit(&mut buf[..header_len]);
    buf[header_len + repr.header_len()..].copy_from_slice(payload);
    repr.emit(&mut buf[header_len..], src.ip(), dst.ip());
    buf
}

/// An ICMP or ICMPv6 message (by the addresses' family) in an IP packet
/// from `src` to `dst`: `msg_type`, `code`, the second word `word`, then
/// `body`; the checksum made, for ICMPv6 over the pseudo-header too.
pub fn icmp_packet(src: IpAddr, dst: IpAddr, msg_type: u8, code: u8, word: u32, body: &[u8]) -> Vec<u8> {
    use stack::wire::checksum;
    use stack::wire::ip::{IpRepr, PROTO_ICMP, PROTO_ICMPV6};
    let mut m = vec![msg_type, code, 0, 0];
    m.extend_from_slice(&word.to_be_bytes());
    m.extend_from_slice(body);
    let protocol = if src.is_ipv6() { PROTO_ICMPV6 } else { PROTO_ICMP };
    let pseudo = if src.is_ipv6() { checksum::pseudo_header(src, dst, protocol, m.len()) } else { 0 };
    let sum = !checksum::combine(&[pseudo, checksum::data(&m)]);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut ip = IpRepr::new(src, dst, protocol, 64, 0);
    ip.set_payload_len(m.len());
    let mut p = vec![0; ip.header_len()];
    ip.emit(&mut p);
    p.extend(m);
    p
}

/// The start of a segment of `h`'s on stack `i` (its IP header and 8
/// bytes: the ports and `seq`), as an ICMP error quotes it; with the
/// connection's addresses, ours and the peer's.
pub fn quote_of(net: &mut Network<Node>, i: usize, h: SocketHandle, seq: u32) -> (IpAddr, IpAddr, Vec<u8>) {
    use stack::wire::ip::{IpRepr, PROTO_TCP};
    let tcb = stack(net, i).tcb(h).unwrap();
    let (ours, theirs) = (tcb.local, tcb.remote);
    let mut ip = IpRepr::new(ours.ip(), theirs.ip(), PROTO_TCP, 64, 0);
    ip.set_payload_len(20);
    let mut q = vec![0; ip.header_len()];
    ip.emit(&mut q);
    q.extend_from_slice(&ours.port().to_be_bytes());
    q.extend_from_slice(&theirs.port().to_be_bytes());
    q.extend_from_slice(&seq.to_be_bytes());
    (ours.ip(), theirs.ip(), q)
}

/// What a lone stack sends now, parsed.
pub fn output(stack: &mut Stack, now: Instant) -> Vec<Seg> {
    let mut out = Vec::new();
    stack.transmit(now, &mut |p| out.extend(Seg::parse(CLIENT, now, &p.concat())));
    out
}

/// A segment header from `src_port` to `dst_port`.
pub fn seg(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: Flags) -> TcpRepr {
    TcpRepr {
        src_port,
        dst_port,
        seq_number: stack::wire::seq::SeqNum(seq),
        ack_number: stack::wire::seq::SeqNum(ack),
        flags,
        window_len: 65535,
        ..TcpRepr::default()
    }
}

/// Check what must hold of a stack after any event, whatever a peer sent:
/// for every TCB SND.UNA ≤ SND.NXT (RFC 9293 §3.3.1), the buffers within
/// their sizes (what is held out of order within the window), and the
/// tables within their limits. Returns what is wrong,
/// if anything.
pub fn invariants(s: &Stack) -> Result<(), String> {
    let c = s.config();
    for t in s.tcbs() {
        let who = format!("{} > {} in {}", t.local, t.remote, t.state);
        if t.snd.una > t.snd.nxt {
            return Err(format!("{who}: SND.UNA {} past SND.NXT {}", t.snd.una, t.snd.nxt));
        }
        if t.rcv_buf.size > c.recv_buffer || t.recv_queue() > t.rcv_buf.size {
            return Err(format!("{who}: {} bytes received, buffer {}", t.recv_queue(), t.rcv_buf.size));
        }
        if t.send_queue() > c.send_buffer {
            return Err(format!("{who}: {} bytes to send, buffer {}", t.send_queue(), c.send_buffer));
        }
        if t.ooo_bytes() > t.rcv.wnd() || t.ooo_runs() > c.max_ooo_segments {
            let (bytes, runs) = (t.ooo_bytes(), t.ooo_runs());
            return Err(format!("{who}: {bytes} bytes in {runs} runs held out of order, window {}", t.rcv.wnd()));
        }
        if t.scoreboard().blocks().len() > c.max_sack_blocks || t.sent_runs() > c.max_sent_runs {
            return Err(format!("{who}: {} SACK blocks, {} runs sent", t.scoreboard().blocks().len(), t.sent_runs()));
        }
    }
    let tcbs = s.tcbs().count();
    if tcbs > c.max_connections {
        return Err(format!("{tcbs} TCBs, limit {}", c.max_connections));
    }
    if s.time_wait_count() > c.max_time_wait {
        return Err(format!("{} in TIME-WAIT, limit {}", s.time_wait_count(), c.max_time_wait));
    }
    Ok(())
}

/// A small seeded generator for the application's choices in a test (how
/// much to write, when to read): xorshift64*, good enough and replayable.
pub struct AppRng(u64);

impl AppRng {
    pub fn new(seed: u64) -> AppRng {
        AppRng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A size from 1 to 2^`max_log2`, spread evenly over the powers of two
    /// so that small sizes come up as often as large ones.
    pub fn size(&mut self, max_log2: u32) -> usize {
        let bits = self.below(u64::from(max_log2) + 1);
        1 + self.below(1 << bits) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A TCB's key variables on one line, for failure messages.
pub fn summary(t: &stack::tcp::tcb::Tcb) -> String {
    format!(
        "{} > {} {} una={} nxt={} wnd={} cwnd={} ssthresh={} mss={} rcv_nxt={} tx={} rx={} retries={} rto={:?} srtt={:?} timer={:?}",
        t.local,
        t.remote,
        t.state,
        t.snd.una,
        t.snd.nxt,
        t.snd.wnd,
        t.cc.window(),
        t.cc.ssthresh(),
        t.snd_mss,
        t.rcv.nxt,
        t.send_queue(),
        t.recv_queue(),
        t.retries,
        t.rtt.rto(),
        t.rtt.srtt(),
        t.poll_at().map(|at| at.to_string()),
    )
}

/// Every TCB of both stacks, summarised.
pub fn summaries(net: &Network<Node>) -> Vec<String> {
    [CLIENT, SERVER].iter().flat_map(|&i| net.host(i).stack.tcbs().map(summary)).collect()
}
