//! A whole `Stack`, as a server of both families, fed a script: segments
//! from a few peers over IPv4 or IPv6, raw packets, the passing of time and
//! the server application's socket calls. After every step the stack's
//! invariants are checked.
//!
//! ## The script
//!
//! A fuzz input is a sequence of [`Record`]s, each a tag byte and its fields
//! (little-endian; an input that ends early reads as zeros). Most are
//! segments that the harness builds with valid IP (IPv4 or IPv6, as the
//! record picks) and TCP headers and checksums, so mutations get past the
//! parsers into the state machine:
//! their sequence and acknowledgment numbers are offsets from what the peer
//! has seen on the wire (what the server last acknowledged, how far it has
//! sent), so they stay in or near the windows as the connection moves.
//! Raw packets (with checksums fixed on request) cover the rest. Each peer
//! has an IPv6 twin ([`PEERS6`]), and both families go through the same
//! code here as in the stack: an `IpAddr`, an `IpRepr`, one parser of what
//! the stack sends.
//!
//! ## What is checked
//!
//! - For every connection: SND.UNA ≤ SND.NXT; the send and receive
//!   buffers and the out-of-order queue within their configured bounds.
//! - The tables: connections, TIME-WAIT entries within their bounds; every
//!   event names a live socket.
//! - The counters: every packet received is counted once, as a segment or
//!   under one drop reason (or as ICMP); every TCP segment sent is counted.
//! - Every packet the stack sends is well formed (from our address of the
//!   destination's family; lengths, checksums with that family's
//!   pseudo-header, sizes, flags; echo replies of the family's ICMP),
//!   advertises no more window than the receive buffer, never moves the
//!   right edge of its window left, and carries the bytes the application
//!   wrote at the sequence numbers it claims.
//! - What the application reads is the peer's stream, in order: built
//!   segments carry `peer_byte(seq)` at each sequence number, so any
//!   reassembly of any overlap must read back as that.
//! - Timers: after `poll(now)` and `transmit(now)`, nothing is due at `now`
//!   (an event loop would spin).
//! - Nothing panics (the core's debug assertions are on in fuzz builds).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::sync::OnceLock;

use stack::time::{Duration, Instant};
use stack::wire::checksum;
use stack::wire::icmp::IcmpPacket;
use stack::wire::ip::{IpRepr, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use stack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use stack::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use stack::wire::seq::SeqNum;
use stack::wire::tcp::{Flags, TcpOptions, TcpRepr, TcpSegment, Timestamps};
use stack::wire::{icmpv4, icmpv6};
use stack::{Config, Event, SocketHandle, Stack};

/// The server: the stack under test, with an address of each family.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// The port it listens on.
pub const PORT: u16 = 80;
/// The peers a script speaks as. The first is the client of the
/// established connection; the last uses a port below 1024, as nothing else does.
pub const PEERS: [SocketAddrV4; 4] = [
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000),
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40001),
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 40000),
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7),
];
/// The peers' IPv6 twins, fd00::1 and fd00::3 with the same ports: a
/// record speaks as one with its family bit (see `peer`).
pub const PEERS6: [SocketAddrV6; 4] = [
    SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 40000, 0, 0),
    SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 40001, 0, 0),
    SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3), 40000, 0, 0),
    SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 7, 0, 0),
];
/// The server ports a segment can go to: the listener, a closed port, and
/// the first two ephemeral ports, which `connect` takes.
pub const SERVER_PORTS: [u16; 4] = [PORT, 81, 49152, 49153];
/// Most records one input runs, so that every input is quick.
const MAX_RECORDS: usize = 256;
/// Largest payload of a built segment.
const MAX_PAYLOAD: usize = 4096;

/// `PEERS[index % 4]`, or its IPv6 twin.
pub fn peer(index: u8, v6: bool) -> SocketAddr {
    let i = usize::from(index % 4);
    if v6 {
        PEERS6[i].into()
    } else {
        PEERS[i].into()
    }
}

/// The server's address of `peer`'s family.
pub fn server_for(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => SERVER.into(),
        IpAddr::V6(_) => SERVER6.into(),
    }
}

/// Small limits, so that a short input reaches every bound.
pub fn config() -> Config {
    let mut c = Config::new(SERVER);
    c.addr6 = Some(SERVER6);
    c.isn_key = [7; 16];
    // IPv6's least (RFC 8200 §5), which a stack with an IPv6 address needs:
    // MSS 1240 over IPv4, 1220 over IPv6, so the buffers below hold a few segments.
    c.mtu = 1280;
    c.msl = Duration::from_secs(1);
    c.send_buffer = 8 * 1024;
    c.recv_buffer = 4 * 1024;
    // No timestamps: once agreed, a built segment is dropped unless its
    // TSval is no older than the peer's last (PAWS, RFC 7323 §5), and a
    // seed cannot know that value.
    c.timestamps = false;
    c.fin_wait_2_timeout = Duration::from_secs(5);
    c.max_retries = 4;
    // Two retransmissions of a SYN or SYN,ACK (at 1 and 3 s), then give up at 7 s.
    c.syn_timeout = Duration::from_secs(5);
    c.syn_ack_timeout = Duration::from_secs(5);
    c.max_ooo_segments = 4;
    c.max_connections = 6;
    c.max_time_wait = 3;
    c.max_syn_queue = 3;
    c
}

/// The byte at offset `k` of everything a server application writes to a
/// connection, so any segment's payload can be checked against its sequence numbers.
pub fn app_byte(k: usize) -> u8 {
    (k.wrapping_mul(31) % 251) as u8
}

/// The byte a peer sends at sequence number `seq`: a function of the
/// sequence number alone, so that overlapping retransmissions agree and
/// what the server application reads can be checked, however the segments
/// were cut, reordered or repeated.
pub fn peer_byte(seq: SeqNum) -> u8 {
    (seq.0.wrapping_mul(2_654_435_761) >> 24) as u8
}

// ----------------------------------------------------------------------
// The records of a script
// ----------------------------------------------------------------------

/// A sequence or acknowledgment number, relative to what the peer has seen.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rel {
    /// For SEG.SEQ: from what the server last acknowledged (its RCV.NXT).
    /// For SEG.ACK: from the end of what the server has sent (its SND.NXT).
    Primary(i16),
    /// For SEG.SEQ: from the end of what this peer has sent.
    /// For SEG.ACK: from the start of the server's last segment (a partial ACK).
    Secondary(i16),
    Raw(u32),
}

/// A segment from one of the `PEERS` (or `PEERS6`) to one of the
/// `SERVER_PORTS` at the server's address of its family, built with
/// correct headers and checksums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSpec {
    /// Bits 0–1: the peer; bits 2–3: the server port; bit 4 (`TUPLE_V6`): the
    /// peer's IPv6 twin.
    pub tuple: u8,
    pub flags: Flags,
    pub seq: Rel,
    pub ack: Rel,
    pub window: u16,
    /// The edges of SACK blocks are offsets from SEG.ACK.
    pub options: TcpOptions,
    /// Data bytes (at most `MAX_PAYLOAD`), each the `peer_byte` of its sequence number.
    pub len: u16,
}

/// `SegmentSpec::tuple`'s bit for IPv6.
pub const TUPLE_V6: u8 = 0x10;
/// The bit of `Icmp::peer` and `Connect::peer` for IPv6; bits 0–1 are the peer.
pub const PEER_V6: u8 = 0x04;

/// The server application's socket calls. `which` picks one of the sockets
/// it holds (accepted or connected), in order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AppCall {
    /// Accept every completed connection waiting on `PORT`.
    Accept,
    Send {
        which: u8,
        len: u16,
    },
    Recv {
        which: u8,
        len: u16,
    },
    Shutdown {
        which: u8,
    },
    Close {
        which: u8,
    },
    Abort {
        which: u8,
    },
    /// Active open to one of the `PEERS`, or (`PEER_V6`) its IPv6 twin.
    Connect {
        peer: u8,
    },
    NoDelay {
        which: u8,
    },
    /// Stop listening on `PORT`, or listen again.
    ToggleListen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Segment(SegmentSpec),
    /// Raw bytes for `Stack::receive`, after the fixes in `fix`, of the
    /// family its version nibble says (IPv4 unless 6): bit 0 sets the
    /// destination to the server, bit 1 the IPv4 total length or the IPv6
    /// payload length to the packet's, bit 2 the IPv4 header checksum
    /// (IPv6 has none), bit 3 the TCP checksum, bit 4 the ICMP one (over
    /// the IPv4 payload; ICMPv6's with its pseudo-header, RFC 4443 §2.3).
    /// TCP and ICMPv6 are found past IPv6 extension headers.
    Packet {
        fix: u8,
        bytes: Vec<u8>,
    },
    /// Time passes, then timers fire. Values with the top bit set are seconds, others milliseconds.
    Advance(u16),
    App(AppCall),
    /// An ICMP message with a correct checksum from a peer (ICMPv6, its
    /// checksum over the pseudo-header too, from an IPv6 one: `PEER_V6`):
    /// type, code, the second word, and `len` data bytes counting up from `fill`.
    Icmp {
        peer: u8,
        msg_type: u8,
        code: u8,
        rest: u32,
        len: u8,
        fill: u8,
    },
}

/// Reads fields off the front of an input; past its end, zeros.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken.to_vec()
    }
}

impl Rel {
    fn decode(r: &mut Reader) -> Rel {
        match r.u8() % 3 {
            0 => Rel::Primary(r.u16() as i16),
            1 => Rel::Secondary(r.u16() as i16),
            _ => Rel::Raw(r.u32()),
        }
    }
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Rel::Primary(d) => push(out, &[&[0], &d.to_le_bytes()]),
            Rel::Secondary(d) => push(out, &[&[1], &d.to_le_bytes()]),
            Rel::Raw(v) => push(out, &[&[2], &v.to_le_bytes()]),
        }
    }
}

fn push(out: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// Options: a byte of which are present, then each present one's fields.
fn decode_options(r: &mut Reader) -> TcpOptions {
    let present = r.u8();
    let mut o = TcpOptions::default();
    if present & 1 != 0 {
        o.mss = Some(r.u16());
    }
    if present & 2 != 0 {
        o.window_scale = Some(r.u8());
    }
    o.sack_permitted = present & 4 != 0;
    if present & 8 != 0 {
        o.timestamps = Some(Timestamps { tsval: r.u32(), tsecr: r.u32() });
    }
    if present & 16 != 0 {
        for block in o.sack_blocks.iter_mut().take(usize::from(r.u8() % 4) + 1) {
            *block = Some((SeqNum(r.u32()), SeqNum(r.u32())));
        }
    }
    o
}

fn encode_options(o: &TcpOptions, out: &mut Vec<u8>) {
    let blocks: Vec<_> = o.sack_blocks.iter().flatten().collect();
    let present = o.mss.is_some() as u8
        | (o.window_scale.is_some() as u8) << 1
        | (o.sack_permitted as u8) << 2
        | (o.timestamps.is_some() as u8) << 3
        | (!blocks.is_empty() as u8) << 4;
    out.push(present);
    if let Some(mss) = o.mss {
        out.extend_from_slice(&mss.to_le_bytes());
    }
    if let Some(shift) = o.window_scale {
        out.push(shift);
    }
    if let Some(ts) = o.timestamps {
        push(out, &[&ts.tsval.to_le_bytes(), &ts.tsecr.to_le_bytes()]);
    }
    if !blocks.is_empty() {
        out.push(blocks.len() as u8 - 1);
        for (left, right) in blocks {
            push(out, &[&left.0.to_le_bytes(), &right.0.to_le_bytes()]);
        }
    }
}

impl Record {
    fn decode(r: &mut Reader) -> Record {
        match r.u8() % 8 {
            // Segments are half the tags: they are what reaches deep.
            0..=3 => Record::Segment(SegmentSpec {
                tuple: r.u8(),
                flags: Flags::from_bits_retain(r.u8()),
                seq: Rel::decode(r),
                ack: Rel::decode(r),
                window: r.u16(),
                options: decode_options(r),
                len: r.u16() % (MAX_PAYLOAD as u16 + 1),
            }),
            4 => {
                let fix = r.u8();
                let len = usize::from(r.u16());
                Record::Packet { fix, bytes: r.bytes(len) }
            }
            5 => Record::Advance(r.u16()),
            6 => Record::App(match r.u8() % 9 {
                0 => AppCall::Accept,
                1 => AppCall::Send { which: r.u8(), len: r.u16() },
                2 => AppCall::Recv { which: r.u8(), len: r.u16() },
                3 => AppCall::Shutdown { which: r.u8() },
                4 => AppCall::Close { which: r.u8() },
                5 => AppCall::Abort { which: r.u8() },
                6 => AppCall::Connect { peer: r.u8() },
                7 => AppCall::NoDelay { which: r.u8() },
                _ => AppCall::ToggleListen,
            }),
            _ => {
                Record::Icmp { peer: r.u8(), msg_type: r.u8(), code: r.u8(), rest: r.u32(), len: r.u8(), fill: r.u8() }
            }
        }
    }

    /// The bytes `decode` reads back as this record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Segment(s) => {
                push(out, &[&[0, s.tuple, s.flags.bits()]]);
                s.seq.encode(out);
                s.ack.encode(out);
                out.extend_from_slice(&s.window.to_le_bytes());
                encode_options(&s.options, out);
                out.extend_from_slice(&s.len.to_le_bytes());
            }
            Record::Packet { fix, bytes } => {
                push(out, &[&[4, *fix], &(bytes.len() as u16).to_le_bytes(), bytes]);
            }
            Record::Advance(v) => push(out, &[&[5], &v.to_le_bytes()]),
            Record::App(call) => {
                out.push(6);
                match *call {
                    AppCall::Accept => out.push(0),
                    AppCall::Send { which, len } => push(out, &[&[1, which], &len.to_le_bytes()]),
                    AppCall::Recv { which, len } => push(out, &[&[2, which], &len.to_le_bytes()]),
                    AppCall::Shutdown { which } => out.extend_from_slice(&[3, which]),
                    AppCall::Close { which } => out.extend_from_slice(&[4, which]),
                    AppCall::Abort { which } => out.extend_from_slice(&[5, which]),
                    AppCall::Connect { peer } => out.extend_from_slice(&[6, peer]),
                    AppCall::NoDelay { which } => out.extend_from_slice(&[7, which]),
                    AppCall::ToggleListen => out.push(8),
                }
            }
            Record::Icmp { peer, msg_type, code, rest, len, fill } => {
                push(out, &[&[7, *peer, *msg_type, *code], &rest.to_le_bytes(), &[*len, *fill]]);
            }
        }
    }
}

/// The records of a script, at most `MAX_RECORDS`.
pub fn decode(input: &[u8]) -> Vec<Record> {
    let mut r = Reader(input);
    let mut records = Vec::new();
    while !r.0.is_empty() && records.len() < MAX_RECORDS {
        records.push(Record::decode(&mut r));
    }
    records
}

/// A whole script as bytes.
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        r.encode(&mut out);
    }
    out
}

// ----------------------------------------------------------------------
// Running a script
// ----------------------------------------------------------------------

/// What a peer knows of its conversation with one server port, from the
/// segments that crossed.
#[derive(Copy, Clone, Debug, Default)]
struct Seen {
    /// The server's last acknowledgment to this peer: its RCV.NXT.
    server_ack: Option<SeqNum>,
    /// The end of what the server has sent: its SND.NXT.
    server_end: Option<SeqNum>,
    /// Where the server's last segment started.
    server_last: Option<SeqNum>,
    /// The server's ISS, from its SYN: where the application's bytes start.
    server_iss: Option<SeqNum>,
    /// The right edge of the window the server last advertised.
    right_edge: Option<SeqNum>,
    /// The end of what this peer has sent.
    peer_end: Option<SeqNum>,
    /// The peer sent bytes that are not the `peer_byte` of their sequence
    /// numbers (raw packets do), so what the server reads cannot be checked.
    tainted: bool,
}

/// The setup a fuzz target starts from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Setup {
    /// A server listening on `PORT`, nothing else.
    Listen,
    /// The same, with one connection from `PEERS[0]` established through a
    /// real handshake with a client `Stack`, 6000 bytes of the server's
    /// written (four segments of them in flight) and 100 bytes of the
    /// client's unread: see [`Harness::established`].
    Established,
    /// The same over IPv6, from `PEERS6[0]`.
    Established6,
}

pub struct Harness {
    pub stack: Stack,
    pub now: Instant,
    /// Sockets the application holds, in the order it got them.
    pub sockets: Vec<SocketHandle>,
    /// Bytes the application has written to, and read from, each socket.
    written: HashMap<SocketHandle, usize>,
    read: HashMap<SocketHandle, usize>,
    listening: bool,
    seen: HashMap<(SocketAddr, u16), Seen>,
    /// Packets handed to `Stack::receive`.
    received: u64,
    /// TCP segments the stack has sent.
    tcp_sent: u64,
    /// Everything the stack sent at the last `transmit`, for a peer to receive.
    pub sent: Vec<Vec<u8>>,
}

impl Harness {
    pub fn new() -> Harness {
        let mut stack = Stack::new(config());
        stack.listen(PORT, 2).expect("a fresh stack listens");
        Harness {
            stack,
            now: Instant::ZERO,
            sockets: Vec::new(),
            written: HashMap::new(),
            read: HashMap::new(),
            listening: true,
            seen: HashMap::new(),
            received: 0,
            tcp_sent: 0,
            sent: Vec::new(),
        }
    }

    /// The `Established` setup: `from` (`PEERS[0]`, or `PEERS6[0]` for
    /// `Established6`), a real `Stack`, connects; the server accepts and
    /// writes 6000 bytes (five segments, so that duplicate ACKs can SACK
    /// three above a loss), of which the client receives the first segment
    /// only; the client writes 100 bytes, which the server acknowledges but
    /// does not read. Returns the client and its socket too, for a seed
    /// generator to go on with.
    pub fn established(from: SocketAddr) -> (Harness, Stack, SocketHandle) {
        let mut h = Harness::new();
        let mut client_config = Config::new(*PEERS[0].ip());
        client_config.addr6 = Some(*PEERS6[0].ip());
        client_config.isn_key = [1; 16];
        let mut client = Stack::new(client_config);
        let server = SocketAddr::new(server_for(from.ip()), PORT);
        let c = client.connect_from(h.now, from.port(), server).expect("connect");
        h.exchange(&mut client);
        h.app(AppCall::Accept);
        assert_eq!(h.sockets.len(), 1, "the handshake completed");
        let data_seq = client.tcb(c).expect("the client's socket").snd.iss + 1;
        let data: Vec<u8> = (0..100).map(|k| peer_byte(data_seq + k)).collect();
        client.send(h.now, c, &data).expect("client send");
        h.app(AppCall::Send { which: 0, len: 6000 });
        h.transmit();
        // The first segment reaches the client; the rest is in flight.
        let first = h.sent.first().cloned().expect("the server sent data");
        client.receive(h.now, &first);
        client.transmit(h.now, &mut |p| h.receive(&p.concat()));
        h.transmit();
        // The server's delayed ACK of those bytes leaves (and is lost).
        h.advance(config().delayed_ack);
        h.transmit();
        h.check();
        (h, client, c)
    }

    /// Let the client's and the server's packets cross until both are quiet.
    pub fn exchange(&mut self, client: &mut Stack) {
        for _ in 0..100 {
            let mut from_client = Vec::new();
            client.transmit(self.now, &mut |p| from_client.push(p.concat()));
            for p in &from_client {
                self.receive(p);
            }
            self.transmit();
            self.check();
            if from_client.is_empty() && self.sent.is_empty() {
                return;
            }
            for p in std::mem::take(&mut self.sent) {
                client.receive(self.now, &p);
            }
        }
        panic!("the client and the server never went quiet");
    }

    /// Run a fuzz input from `setup`.
    pub fn run(setup: Setup, input: &[u8]) {
        let mut h = match setup {
            Setup::Listen => Harness::new(),
            Setup::Established => Harness::established(PEERS[0].into()).0,
            Setup::Established6 => Harness::established(PEERS6[0].into()).0,
        };
        for record in decode(input) {
            h.step(&record);
        }
    }

    /// One record, then `transmit`, then the checks. With `FUZZ_TRACE` set
    /// in the environment, each record and the segments it caused are
    /// printed, to read what a crashing input does.
    pub fn step(&mut self, record: &Record) {
        static TRACE: OnceLock<bool> = OnceLock::new();
        let trace = *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some());
        if trace {
            eprintln!("{} {record:?}", self.now);
            if let Record::Segment(spec) = record {
                eprintln!("    in:  {}", describe(&self.build_segment(spec)));
            }
        }
        match record {
            Record::Segment(spec) => {
                let packet = self.build_segment(spec);
                self.receive(&packet);
            }
            Record::Packet { fix, bytes } => {
                let mut packet = bytes.clone();
                fix_packet(&mut packet, *fix);
                self.receive(&packet);
            }
            Record::Advance(v) => self.advance(if v & 0x8000 != 0 {
                Duration::from_secs(u64::from(v & 0x7fff))
            } else {
                Duration::from_millis(u64::from(*v))
            }),
            Record::App(call) => self.app(*call),
            Record::Icmp { peer: n, msg_type, code, rest, len, fill } => {
                let mut icmp = vec![*msg_type, *code, 0, 0];
                icmp.extend_from_slice(&rest.to_be_bytes());
                icmp.extend((0..*len).map(|i| fill.wrapping_add(i)));
                let from = peer(*n, n & PEER_V6 != 0).ip();
                let sum = icmp_checksum(from, server_for(from), &icmp);
                icmp[2..4].copy_from_slice(&sum.to_be_bytes());
                self.receive(&ip_packet(from, icmp_protocol(from), &icmp));
            }
        }
        self.transmit();
        if trace {
            for p in &self.sent {
                eprintln!("    out: {}", describe(p));
            }
            for t in self.stack.tcbs() {
                eprintln!("    {} {} una={} nxt={}", t.remote, t.state, t.snd.una, t.snd.nxt);
            }
        }
        self.check();
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.stack.poll(self.now);
    }

    pub fn receive(&mut self, packet: &[u8]) {
        self.note_incoming(packet);
        self.received += 1;
        self.stack.receive(self.now, packet);
    }

    /// The peer's side of the bookkeeping: how far it has sent.
    fn note_incoming(&mut self, packet: &[u8]) {
        let Some((ip, seg, repr)) = parse_tcp(packet) else { return };
        if ip.dst != server_for(ip.src) {
            return;
        }
        let seen = self.seen.entry((SocketAddr::new(ip.src, repr.src_port), repr.dst_port)).or_default();
        let end = repr.seq_number + seg_len(&repr, seg.payload().len());
        if repr.flags.contains(Flags::SYN) || seen.peer_end.is_none_or(|e| end > e) {
            seen.peer_end = Some(end);
        }
        let data_seq = repr.seq_number + repr.flags.contains(Flags::SYN) as usize;
        seen.tainted |= seg.payload().iter().enumerate().any(|(i, &b)| b != peer_byte(data_seq + i));
    }

    /// Build the packet a `SegmentSpec` describes, from what its peer has seen.
    pub fn build_segment(&self, spec: &SegmentSpec) -> Vec<u8> {
        let peer = peer(spec.tuple, spec.tuple & TUPLE_V6 != 0);
        let port = SERVER_PORTS[usize::from(spec.tuple >> 2 & 3)];
        let seen = self.seen.get(&(peer, port)).copied().unwrap_or_default();
        // Before anything has crossed, a peer's sequence numbers start at an ISS of its own.
        let own_iss = SeqNum(0x1000_0000 * (u32::from(spec.tuple & 3) + 1));
        let resolve = |rel: Rel, primary: Option<SeqNum>, secondary: Option<SeqNum>, default: SeqNum| match rel {
            Rel::Primary(d) => SeqNum(primary.unwrap_or(default).0.wrapping_add(d as i32 as u32)),
            Rel::Secondary(d) => SeqNum(secondary.unwrap_or(default).0.wrapping_add(d as i32 as u32)),
            Rel::Raw(v) => SeqNum(v),
        };
        let seq = resolve(spec.seq, seen.server_ack.or(seen.peer_end), seen.peer_end, own_iss);
        let ack = resolve(spec.ack, seen.server_end, seen.server_last, SeqNum(0));
        let repr = TcpRepr {
            src_port: peer.port(),
            dst_port: port,
            seq_number: seq,
            ack_number: ack,
            flags: spec.flags,
            window_len: spec.window,
            urgent_at: 0,
            options: TcpOptions {
                // SACK blocks are given from SEG.ACK, like the numbers above.
                sack_blocks: spec.options.sack_blocks.map(|block| {
                    block.map(|(left, right)| (SeqNum(ack.0.wrapping_add(left.0)), SeqNum(ack.0.wrapping_add(right.0))))
                }),
                ..spec.options
            },
        };
        let data_seq = seq + spec.flags.contains(Flags::SYN) as usize;
        let payload: Vec<u8> = (0..usize::from(spec.len)).map(|i| peer_byte(data_seq + i)).collect();
        let mut tcp = vec![0; repr.header_len() + payload.len()];
        tcp[repr.header_len()..].copy_from_slice(&payload);
        repr.emit(&mut tcp, peer.ip(), server_for(peer.ip()));
        ip_packet(peer.ip(), PROTO_TCP, &tcp)
    }

    pub fn app(&mut self, call: AppCall) {
        let now = self.now;
        let pick = |sockets: &[SocketHandle], which: u8| {
            (!sockets.is_empty()).then(|| sockets[usize::from(which) % sockets.len()])
        };
        match call {
            AppCall::Accept => {
                while let Some(s) = self.stack.accept(PORT) {
                    self.sockets.push(s);
                }
            }
            AppCall::Send { which, len } => {
                if let Some(s) = pick(&self.sockets, which) {
                    let written = self.written.get(&s).copied().unwrap_or(0);
                    let data: Vec<u8> = (written..written + usize::from(len)).map(app_byte).collect();
                    if let Ok(n) = self.stack.send(now, s, &data) {
                        assert!(n <= data.len());
                        *self.written.entry(s).or_default() += n;
                    }
                }
            }
            AppCall::Recv { which, len } => {
                if let Some(s) = pick(&self.sockets, which) {
                    let mut buf = vec![0; usize::from(len)];
                    if let Ok(n) = self.stack.recv(now, s, &mut buf) {
                        self.check_read(s, &buf[..n]);
                    }
                }
            }
            AppCall::Shutdown { which } => {
                if let Some(s) = pick(&self.sockets, which) {
                    let _ = self.stack.shutdown(now, s);
                }
            }
            AppCall::Close { which } => {
                if let Some(s) = pick(&self.sockets, which) {
                    self.stack.close(now, s);
                    self.forget(s);
                }
            }
            AppCall::Abort { which } => {
                if let Some(s) = pick(&self.sockets, which) {
                    self.stack.abort(now, s);
                    self.forget(s);
                }
            }
            AppCall::Connect { peer: n } => {
                if let Ok(s) = self.stack.connect(now, peer(n, n & PEER_V6 != 0)) {
                    self.sockets.push(s);
                }
            }
            AppCall::NoDelay { which } => {
                if let Some(s) = pick(&self.sockets, which) {
                    self.stack.set_nodelay(s, which & 1 == 0);
                }
            }
            AppCall::ToggleListen => {
                if self.listening {
                    self.stack.unlisten(now, PORT);
                } else {
                    self.stack.listen(PORT, 2).expect("the port was free");
                }
                self.listening = !self.listening;
            }
        }
    }

    fn forget(&mut self, s: SocketHandle) {
        self.sockets.retain(|&x| x != s);
        self.written.remove(&s);
        self.read.remove(&s);
    }

    /// What the application reads is what the peer sent, in order, once each.
    fn check_read(&mut self, s: SocketHandle, data: &[u8]) {
        let tcb = self.stack.tcb(s).expect("a socket that read is live");
        let offset = self.read.entry(s).or_default();
        let start = *offset;
        *offset += data.len();
        if self.seen.get(&(tcb.remote, tcb.local.port())).is_none_or(|seen| seen.tainted) {
            return;
        }
        for (i, &b) in data.iter().enumerate() {
            let seq = tcb.rcv.irs + 1 + (start + i);
            assert_eq!(b, peer_byte(seq), "byte {} of the peer's stream was read wrong", start + i);
        }
    }

    /// Take what the stack sends now, check every packet, and note what the
    /// peers learn from it.
    pub fn transmit(&mut self) {
        let mut sent = Vec::new();
        self.stack.transmit(self.now, &mut |p| sent.push(p.concat()));
        for p in &sent {
            self.check_sent(p);
        }
        self.sent = sent;
    }

    fn check_sent(&mut self, packet: &[u8]) {
        let config = self.stack.config();
        assert!(packet.len() <= config.mtu, "a packet of {} bytes exceeds the MTU", packet.len());
        let ip = Ip::parse(packet).expect("the stack sends valid IP headers");
        assert_eq!(Some(ip.src), config.addr_for(ip.dst), "not from our address of the destination's family");
        assert!(!ip.fragment && ip.total_len == packet.len(), "the IP header's length is not the packet's");
        assert_eq!(packet.len() - ip.payload.len(), ip.header_len(), "IPv4 options or IPv6 extension headers");
        if ip.protocol == icmp_protocol(ip.dst) {
            let icmp = IcmpPacket::new_checked(ip.payload, ip.src, ip.dst).expect("valid ICMP");
            let echo_reply = if ip.dst.is_ipv6() { icmpv6::TYPE_ECHO_REPLY } else { icmpv4::TYPE_ECHO_REPLY };
            assert_eq!(icmp.msg_type(), echo_reply);
            return;
        }
        assert_eq!(ip.protocol, PROTO_TCP);
        self.tcp_sent += 1;
        let seg = TcpSegment::new_checked(ip.payload).expect("the stack sends valid TCP headers");
        assert!(seg.verify_checksum(ip.src, ip.dst), "the stack's TCP checksum verifies");
        let repr = TcpRepr::parse(&seg).expect("the stack sends valid options");
        let payload = seg.payload();
        let flags = repr.flags;
        assert!(payload.len() <= config.mss(ip.dst), "{} bytes of data exceed the MSS", payload.len());
        assert!(
            flags.contains(Flags::ACK) || flags == Flags::SYN || flags == Flags::RST,
            "a segment without ACK: {repr}"
        );
        assert!(!flags.contains(Flags::RST) || payload.is_empty(), "an RST with data");
        assert!(
            usize::from(repr.window_len) <= config.recv_buffer,
            "window {} beyond the receive buffer",
            repr.window_len
        );

        let key = (SocketAddr::new(ip.dst, repr.dst_port), repr.src_port);
        let seen = self.seen.entry(key).or_default();
        if flags.contains(Flags::RST) {
            return; // the end of a connection, or an answer to a stray segment
        }
        if flags.contains(Flags::SYN) {
            *seen = Seen {
                peer_end: seen.peer_end,
                tainted: seen.tainted,
                server_iss: Some(repr.seq_number),
                ..Seen::default()
            };
        }
        let end = repr.seq_number + seg_len(&repr, payload.len());
        seen.server_last = Some(repr.seq_number);
        if seen.server_end.is_none_or(|e| end > e) {
            seen.server_end = Some(end);
        }
        if flags.contains(Flags::ACK) {
            seen.server_ack = Some(repr.ack_number);
            // §3.8.6: the right edge of the window must not move left.
            let edge = repr.ack_number + usize::from(repr.window_len);
            if let Some(old) = seen.right_edge {
                assert!(edge >= old, "the window's right edge moved left: {} < {} ({repr})", edge.0, old.0);
            }
            seen.right_edge = Some(edge);
        }
        // The data is what the application wrote at these sequence numbers.
        if let (Some(iss), false) = (seen.server_iss, payload.is_empty()) {
            let offset = repr.seq_number - (iss + 1);
            for (i, &b) in payload.iter().enumerate() {
                assert_eq!(b, app_byte(offset + i), "byte {} of the stream is not what was written", offset + i);
            }
        }
    }

    /// The invariants that hold between any two steps.
    pub fn check(&mut self) {
        // Every event names a socket that still exists.
        while let Some(event) = self.stack.next_event() {
            if let Event::Socket { socket, .. } = event {
                assert!(self.stack.tcb(socket).is_some(), "an event for a deleted socket");
            }
        }
        let config = self.stack.config().clone();
        let mut live = 0;
        for tcb in self.stack.tcbs() {
            live += 1;
            assert!(tcb.snd.una <= tcb.snd.nxt, "{}: SND.UNA {} SND.NXT {}", tcb.state, tcb.snd.una.0, tcb.snd.nxt.0);
            // The SYN and the FIN take a sequence number each.
            assert!(tcb.snd.nxt - tcb.snd.una <= config.send_buffer + 2, "more in flight than the send buffer");
            assert!(tcb.send_queue() <= config.send_buffer, "send buffer over its bound");
            assert!(tcb.recv_queue() <= config.recv_buffer, "receive buffer over its bound");
            assert!(tcb.ooo_runs() <= config.max_ooo_segments, "out-of-order queue over its bound");
            assert!(tcb.ooo_bytes() <= tcb.rcv.wnd(), "more held out of order than the window");
            assert!(tcb.scoreboard().blocks().len() <= config.max_sack_blocks, "scoreboard over its bound");
            assert!(tcb.sent_runs() <= config.max_sent_runs, "log of sent segments over its bound");
        }
        assert!(live <= config.max_connections, "{live} connections");
        assert!(self.stack.time_wait_count() <= config.max_time_wait);

        let c = self.stack.counters();
        let d = &c.drops;
        assert_eq!(c.packets_in, self.received, "packets_in");
        assert_eq!(
            c.packets_in,
            c.segments_in
                + c.icmp_echo_replies
                + c.icmp_errors
                + d.malformed
                + d.checksum
                + d.fragment
                + d.not_for_us
                + d.other_protocol
                + d.invalid_source
                + d.ipv6_ext_headers,
            "a packet counted twice or not at all: {c:?}"
        );
        assert_eq!(c.segments_out, self.tcp_sent, "segments_out");

        // Nothing is due: an event loop would spin.
        if let Some(t) = self.stack.poll_at() {
            assert!(t > self.now, "a timer due at {t} is still pending at {}", self.now);
        }
    }
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

/// A packet in one line, tcpdump style.
fn describe(packet: &[u8]) -> String {
    match parse_tcp(packet) {
        Some((ip, seg, repr)) => format!(
            "{} > {} {repr} len={}",
            SocketAddr::new(ip.src, repr.src_port),
            SocketAddr::new(ip.dst, repr.dst_port),
            seg.payload().len()
        ),
        None => format!("{} bytes, not TCP", packet.len()),
    }
}

/// SEG.LEN: data, plus one each for SYN and FIN.
fn seg_len(repr: &TcpRepr, payload_len: usize) -> usize {
    payload_len + repr.flags.contains(Flags::SYN) as usize + repr.flags.contains(Flags::FIN) as usize
}

fn parse_tcp(packet: &[u8]) -> Option<(Ip<'_>, TcpSegment<'_>, TcpRepr)> {
    let ip = Ip::parse(packet)?;
    if ip.protocol != PROTO_TCP {
        return None;
    }
    let seg = TcpSegment::new_checked(ip.payload).ok()?;
    let repr = TcpRepr::parse(&seg).ok()?;
    Some((ip, seg, repr))
}

/// What the checks read of an IP header, of either family.
struct Ip<'a> {
    src: IpAddr,
    dst: IpAddr,
    /// The upper layer's, past any IPv6 extension headers.
    protocol: u8,
    payload: &'a [u8],
    /// The packet's length by its header.
    total_len: usize,
    fragment: bool,
}

impl<'a> Ip<'a> {
    /// A packet that parses as the family its version nibble says.
    fn parse(packet: &'a [u8]) -> Option<Ip<'a>> {
        match packet.first()? >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(packet).ok()?;
                Some(Ip {
                    src: ip.src_addr().into(),
                    dst: ip.dst_addr().into(),
                    protocol: ip.protocol(),
                    payload: ip.payload(),
                    total_len: ip.total_len(),
                    fragment: ip.is_fragment(),
                })
            }
            6 => {
                let ip = Ipv6Packet::new_checked(packet).ok()?;
                // A Fragment header is an error here.
                let (protocol, payload) = ip.upper_layer().ok()?;
                Some(Ip {
                    src: ip.src_addr().into(),
                    dst: ip.dst_addr().into(),
                    protocol,
                    payload,
                    total_len: Ipv6Repr::HEADER_LEN + ip.payload_len(),
                    fragment: false,
                })
            }
            _ => None,
        }
    }

    /// The length of the header the stack writes: no IPv4 options, no
    /// IPv6 extension headers.
    fn header_len(&self) -> usize {
        if self.src.is_ipv6() {
            Ipv6Repr::HEADER_LEN
        } else {
            Ipv4Repr::HEADER_LEN
        }
    }
}

/// ICMP's protocol number in `peer`'s family: ICMPv6's over IPv6.
fn icmp_protocol(peer: IpAddr) -> u8 {
    if peer.is_ipv6() {
        PROTO_ICMPV6
    } else {
        PROTO_ICMP
    }
}

/// The checksum field of an ICMP message: ICMP's covers the message alone,
/// ICMPv6's a pseudo-header too (RFC 4443 §2.3). Over `message` with its
/// checksum field zero.
fn icmp_checksum(src: IpAddr, dst: IpAddr, message: &[u8]) -> u16 {
    let pseudo = if src.is_ipv6() { checksum::pseudo_header(src, dst, PROTO_ICMPV6, message.len()) } else { 0 };
    !checksum::combine(&[pseudo, checksum::data(message)])
}

/// A packet from `src` to the server's address of its family around `payload`.
fn ip_packet(src: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut ip = IpRepr::new(src, server_for(src), protocol, 64, 0);
    ip.set_payload_len(payload.len());
    let mut packet = vec![0; ip.header_len()];
    ip.emit(&mut packet);
    packet.extend_from_slice(payload);
    packet
}

/// The fixes of `Record::Packet`: the IP header's, by its family, then
/// the checksum of what it carries.
fn fix_packet(p: &mut [u8], fix: u8) {
    let fixed = if p.first().is_some_and(|b| b >> 4 == 6) { fix_ipv6(p, fix) } else { fix_ipv4(p, fix) };
    let Some((src, dst, body)) = fixed else { return };
    let body = &mut p[body];
    if fix & 8 != 0 && body.len() >= 20 {
        body[16..18].fill(0);
        let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, body.len());
        let sum = !checksum::combine(&[pseudo, checksum::data(body)]);
        body[16..18].copy_from_slice(&sum.to_be_bytes());
    }
    if fix & 16 != 0 && body.len() >= 8 {
        body[2..4].fill(0);
        let sum = icmp_checksum(src, dst, body);
        body[2..4].copy_from_slice(&sum.to_be_bytes());
    }
}

/// An IPv4 header's fixes; its addresses and where its payload lies.
fn fix_ipv4(p: &mut [u8], fix: u8) -> Option<(IpAddr, IpAddr, Range<usize>)> {
    if p.len() < 20 {
        return None;
    }
    if fix & 1 != 0 {
        p[16..20].copy_from_slice(&SERVER.octets());
    }
    if fix & 2 != 0 && p.len() <= usize::from(u16::MAX) {
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
    }
    let header_len = (usize::from(p[0] & 0x0f) * 4).clamp(20, p.len());
    if fix & 4 != 0 {
        p[10..12].fill(0);
        let sum = !checksum::data(&p[..header_len]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(header_len, p.len());
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    Some((src.into(), dst.into(), header_len..total))
}

/// An IPv6 header's fixes; its addresses and where the upper layer's bytes
/// lie, past the extension headers (none if the chain does not parse:
/// the stack drops such a packet before any checksum).
fn fix_ipv6(p: &mut [u8], fix: u8) -> Option<(IpAddr, IpAddr, Range<usize>)> {
    const HEADER_LEN: usize = Ipv6Repr::HEADER_LEN;
    if p.len() < HEADER_LEN {
        return None;
    }
    if fix & 1 != 0 {
        p[24..40].copy_from_slice(&SERVER6.octets());
    }
    if fix & 2 != 0 && p.len() - HEADER_LEN <= usize::from(u16::MAX) {
        let len = (p.len() - HEADER_LEN) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
    }
    let ip = Ipv6Packet::new_checked(p).ok()?;
    let (_, upper) = ip.upper_layer().ok()?;
    // The upper layer's bytes end the payload.
    let end = HEADER_LEN + ip.payload_len();
    Some((ip.src_addr().into(), ip.dst_addr().into(), end - upper.len()..end))
}
