//! TCP as RFC 9293 describes it.
//!
//! - [`state`]: the eleven states and the state diagram.
//! - [`tcb`]: one connection — segment arrival, user calls, timers, output.
//! - [`reassembly`]: out-of-order segments waiting for a gap to fill.
//! - [`rtt`], [`congestion`]: when to retransmit, how much to send.
//! - [`options`], [`timestamps`]: the options the SYNs negotiate — window
//!   scaling and timestamps (RFC 7323) — and PAWS.
//! - [`autotune`]: a receive buffer that grows with the path.
//! - [`sack`]: what the peer selectively acknowledged.
//! - [`send_buffer`]: what the application wrote, copied or referenced,
//!   until the peer acknowledges it.
//! - [`rack`]: when each segment was sent, which are lost (RACK), and the
//!   tail loss probe (TLP), RFC 8985.
//! - [`isn`]: initial sequence numbers.
//! - [`listener`]: LISTEN (§3.10.7.2) — the SYN and accept queues, SYN
//!   cookies, and the answer to a segment that has no connection.
//! - [`time_wait`]: the compact TIME-WAIT table (§3.4.2).
//! - [`challenge_ack`], [`syn_cookie`]: defences against blind attacks
//!   (RFC 5961) and SYN floods (RFC 4987).
//! - [`icmp`]: which ICMP errors end a connection and which are reported
//!   (§3.9.2.2).
//!
//! It builds on [`crate::wire`] alone — the headers, and sequence numbers
//! modulo 2^32 ([`SeqNum`](crate::wire::seq::SeqNum)) — and knows nothing of
//! the stack's tables or of links above it.

#![forbid(unsafe_code)]

pub mod autotune;
pub mod challenge_ack;
pub mod congestion;
pub mod icmp;
pub mod isn;
pub mod listener;
pub mod options;
pub mod rack;
pub mod reassembly;
pub mod rtt;
pub mod sack;
pub mod send_buffer;
pub mod state;
pub mod story;
pub mod syn_cookie;
pub mod tcb;
pub mod time_wait;
pub mod timestamps;

use core::fmt;
use core::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::time::Duration;
use crate::wire::checksum::{RxChecksum, TxChecksum};
use crate::wire::ipv4::Ipv4Repr;
pub use congestion::Algorithm;
pub use story::Stories;

/// How a stack behaves; every limit on what a peer can make it hold is here.
#[derive(Clone, Debug)]
pub struct Config {
    /// The stack's own IPv4 address.
    pub addr: Ipv4Addr,
    /// The stack's own IPv6 address, if it speaks IPv6: a stack with one
    /// listens on both families. Needs an `mtu` of at least
    /// `IPV6_MIN_MTU` (`Stack::new` checks).
    pub addr6: Option<Ipv6Addr>,
    /// The prefix length of the subnet `addr` is in (24 for 10.0.0.2/24),
    /// if the link says: its broadcast address is then refused as a peer,
    /// like 255.255.255.255 (`valid_peer`). Unknown, it cannot be told from
    /// a host's address.
    pub prefix_len: Option<u8>,
    /// Largest IP packet the link carries, of either family; the MSS we
    /// offer is MTU − 40 over IPv4, MTU − 60 over IPv6 (`mss`).
    pub mtu: usize,
    /// The TTL of the packets we send (MUST-49), IPv6's hop limit; a
    /// connection may have its own (`Stack::set_ttl`).
    pub ttl: u8,
    /// The TOS byte (the Differentiated Services field, IPv6's Traffic
    /// Class) of a connection's segments until the application sets its
    /// own (MUST-48, `Stack::set_tos`).
    pub tos: u8,
    pub rx_checksum: RxChecksum,
    pub tx_checksum: TxChecksum,
    /// The secret of the ISN hash (§3.4.1): random in production.
    pub isn_key: [u8; 16],
    /// Maximum Segment Lifetime: TIME-WAIT lasts 2·MSL (§3.4.2).
    pub msl: Duration,
    /// Bytes the application may queue for sending, per connection.
    pub send_buffer: usize,
    /// The most bytes received but not yet read, per connection: how far
    /// the receive buffer may grow (see `autotune`). The window scale we
    /// offer is the one that lets a window this large be advertised.
    pub recv_buffer: usize,
    /// The receive buffer, and so the window, a connection starts with.
    pub recv_buffer_initial: usize,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3), for RTT measurement and PAWS.
    pub timestamps: bool,
    /// How long an ACK may wait for data to ride on (RFC 9293 §3.8.6.3).
    pub delayed_ack: Duration,
    /// How long an orphaned connection may sit in FIN-WAIT-2.
    pub fin_wait_2_timeout: Duration,
    /// Retransmissions in a row before a synchronized connection is
    /// aborted (R2 of §3.8.3: at least 100 s with the backoff).
    pub max_retries: u32,
    /// R1 of §3.8.3: after this many retransmissions of a segment in a
    /// row the application is told (`Error::Retrying`, SHLD-9); at least 3
    /// (SHLD-10).
    pub r1_retries: u32,
    /// R2 of §3.8.3 for an active open's SYN, as a time: the first
    /// retransmission timeout this long after the OPEN ends the attempt
    /// (with the RTO doubling from 1 s to its 60 s cap, at 183 s for 180 s).
    /// MUST-23: at least 3 minutes.
    pub syn_timeout: Duration,
    /// The same for the SYN,ACK of a passive open. Shorter, as Linux's:
    /// nobody waits on a half-open connection, and one that a SYN flood
    /// left should not hold its place in the SYN queue long (RFC 4987
    /// §3.2); the client's next SYN makes it anew.
    pub syn_ack_timeout: Duration,
    /// Out-of-order data held per connection, in runs: segments that
    /// overlap or touch make one run, and a segment that would need a run
    /// past this many is dropped. (The bytes held are bounded by the
    /// receive window.) Also the most duplicate ACKs owed at once.
    pub max_ooo_segments: usize,
    /// Offer selective acknowledgments (RFC 2018) in our SYNs.
    pub sack: bool,
    /// Blocks of the SACK scoreboard per connection: what a peer's SACK
    /// options can make us hold.
    pub max_sack_blocks: usize,
    /// Runs of the log of sent segments per connection (RACK's transmit
    /// times, `rack::SentLog`): a burst sent at once is one run. With this
    /// many in flight, new data waits for ACKs.
    pub max_sent_runs: usize,
    /// How congestion avoidance grows the window.
    pub congestion: Algorithm,
    /// Connections of all states but TIME-WAIT.
    pub max_connections: usize,
    /// Entries of the TIME-WAIT table.
    pub max_time_wait: usize,
    /// Which connections keep a story, a short log of their segments,
    /// states and samples (`story.rs`, `Stack::story`).
    pub stories: Stories,
    /// Records per connection's story; past it the oldest go.
    pub story_records: usize,
    /// Stories of closed connections kept (`Stack::stories_of`), at most
    /// this many...
    pub story_recent: usize,
    /// ...and at most this many bytes in all.
    pub story_recent_bytes: usize,
    /// Half-open connections (SYN-RECEIVED) per listening port.
    pub max_syn_queue: usize,
    /// Answer SYNs with SYN cookies (RFC 4987) when the SYN queue is full,
    /// rather than drop them.
    pub syn_cookies: bool,
    /// Challenge ACKs (RFC 5961 §7) the whole stack sends per second, on
    /// average.
    pub challenge_ack_limit: u32,
    /// RFC 5961 §3, which RFC 9293 §3.10.7.4 ("second, check the RST bit")
    /// makes a SHOULD: only an RST exactly at RCV.NXT resets; one elsewhere
    /// in the window gets a challenge ACK, so a blind attacker must guess
    /// RCV.NXT rather than merely land in the window. Off, RFC 793's rule:
    /// any RST in the window resets (FreeBSD's `insecure_rst=1`).
    pub rst_challenge: bool,
    /// RFC 5961 §4 (RFC 9293 §3.10.7.4, "fourth, check the SYN bit"): a SYN
    /// in a synchronized state gets a challenge ACK wherever it lands. Off,
    /// RFC 793's rule: a SYN in the window is an error that resets the
    /// connection (or a TIME-WAIT entry), one outside it gets an ACK
    /// (FreeBSD's `insecure_syn=1`).
    pub syn_challenge: bool,
    /// Drop a segment carrying both SYN and FIN at a listening port or in
    /// SYN-SENT, where it could only open a connection. RFC 9293 does not
    /// forbid SYN,FIN (the SYN is processed, then the FIN), but no TCP
    /// sends it and port scanners do (FreeBSD's `drop_synfin=1`).
    pub drop_syn_fin: bool,
    /// An ICMP hard error (protocol or port unreachable, administratively
    /// prohibited) ends a connection still in its handshake (RFC 9293
    /// §3.9.2.2, SHLD-26). Off, it is a soft error like the others, as
    /// with FreeBSD's `net.inet.tcp.icmp_may_rst=0`.
    pub icmp_may_abort: bool,
}

impl Config {
    pub fn new(addr: Ipv4Addr) -> Config {
        Config {
            addr,
            addr6: None,
            prefix_len: None,
            mtu: 1500,
            ttl: Ipv4Repr::DEFAULT_TTL,
            tos: 0,
            rx_checksum: RxChecksum::Verify,
            tx_checksum: TxChecksum::Complete,
            isn_key: [0; 16],
            msl: Duration::from_secs(30),
            send_buffer: 256 * 1024,
            recv_buffer: 4 << 20,
            recv_buffer_initial: 64 * 1024,
            window_scaling: true,
            timestamps: true,
            delayed_ack: Duration::from_millis(40),
            fin_wait_2_timeout: Duration::from_secs(60),
            max_retries: 12,
            r1_retries: 3,
            syn_timeout: Duration::from_secs(180),
            syn_ack_timeout: Duration::from_secs(120),
            max_ooo_segments: 64,
            sack: true,
            max_sack_blocks: 64,
            max_sent_runs: 1024,
            congestion: Algorithm::default(),
            max_connections: 100_000,
            max_time_wait: 200_000,
            stories: Stories::OnRequest,
            story_records: 512,
            story_recent: 256,
            story_recent_bytes: 4 << 20,
            max_syn_queue: 1024,
            syn_cookies: true,
            challenge_ack_limit: 1000,
            rst_challenge: true,
            syn_challenge: true,
            drop_syn_fin: false,
            icmp_may_abort: true,
        }
    }

    /// Whether `addr` can be a connection's other end (RFC 1122 §3.2.1.3,
    /// RFC 9293 MUST-46 and MUST-63): one host's address. TCP is a
    /// conversation between two hosts, so:
    ///
    /// - IPv4: not 0.0.0.0 ("this host", only a source while a host learns
    ///   its address), not a broadcast (255.255.255.255, or the subnet's,
    ///   when `prefix_len` says which it is), not multicast (224/4). Nor
    ///   127/8, which never leaves a host, unless the stack itself is on
    ///   the loopback link, where every peer has one.
    /// - IPv6 (RFC 4291 §2.5): not :: (unspecified), not multicast (ff00::/8;
    ///   IPv6 has no broadcast), not an IPv4 address in IPv6 clothes
    ///   (::ffff:a.b.c.d mapped, ::a.b.c.d compatible), which on the wire
    ///   can only be a trick to pass for an IPv4 host (RFC 4291 §2.5.5,
    ///   RFC 6890). Nor ::1 unless we are ::1.
    pub fn valid_peer(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(addr) => {
                // A /31 or /32 has no broadcast address (RFC 3021).
                let subnet_broadcast = self.prefix_len.filter(|&p| p < 31).is_some_and(|p| {
                    let host_bits = u32::MAX >> p;
                    u32::from(addr) & host_bits == host_bits
                        && u32::from(addr) & !host_bits == u32::from(self.addr) & !host_bits
                });
                !(addr.is_unspecified()
                    || addr.is_broadcast()
                    || subnet_broadcast
                    || addr.is_multicast()
                    || (addr.is_loopback() && !self.addr.is_loopback()))
            }
            IpAddr::V6(addr) => {
                let we_are_loopback = self.addr6.is_some_and(|a| a.is_loopback());
                if addr.is_loopback() {
                    return we_are_loopback;
                }
                // `to_ipv4` is Some for ::/96 (unspecified and compatible)
                // and ::ffff:0:0/96 (mapped).
                !(addr.is_multicast() || addr.to_ipv4().is_some())
            }
        }
    }

    /// Our address of `family_of`'s family, if we have one.
    pub fn addr_for(&self, family_of: IpAddr) -> Option<IpAddr> {
        match family_of {
            IpAddr::V4(_) => Some(self.addr.into()),
            IpAddr::V6(_) => self.addr6.map(IpAddr::V6),
        }
    }

    /// The MSS we offer to a peer at `family_of`'s family: the MTU less
    /// the IP and TCP headers (RFC 9293 §3.7.1), 20 + 20 bytes for IPv4,
    /// 40 + 20 for IPv6. A segment we send carries at most this much
    /// data, less the options it carries (see `Tcb::snd_mss`).
    pub fn mss(&self, family_of: IpAddr) -> usize {
        mss_of(self.mtu, family_of)
    }
}

/// The most data a segment to `family_of`'s family carries in a packet of
/// `mtu` bytes: less 20 + 20 bytes of headers for IPv4, 40 + 20 for IPv6.
pub fn mss_of(mtu: usize, family_of: IpAddr) -> usize {
    match family_of {
        IpAddr::V4(_) => mtu - 40,
        IpAddr::V6(_) => mtu - 60,
    }
}

/// The smallest path MTU we believe of IPv4: 576, the datagram every host
/// takes (RFC 791, RFC 1122 §3.3.3), and so the MSS every TCP may assume
/// (536, RFC 9293 §3.7.1). RFC 1191 allows 68; Linux stops at 552.
pub const IPV4_MIN_PATH_MTU: usize = 576;

/// The smallest MTU of a link that carries IPv6 (RFC 8200 §5).
pub const IPV6_MIN_MTU: usize = 1280;

/// A connection's identity: our address and port, the peer's, both of
/// one family.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Every arriving segment hashes its 4-tuple: one word per address and one
/// for both ports, a third of the writes of the derived hash (which also
/// feeds in each `SocketAddr`'s variant, and an IPv6 one's flow label and
/// scope). Tuples equal by `Eq` hash alike.
impl Hash for FourTuple {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for addr in [self.local, self.remote] {
            match addr.ip() {
                IpAddr::V4(ip) => state.write_u32(ip.to_bits()),
                IpAddr::V6(ip) => state.write_u128(ip.to_bits()),
            }
        }
        state.write_u32(u32::from(self.local.port()) << 16 | u32::from(self.remote.port()));
    }
}

/// The application's name for a connection: the index of the stack's slot
/// that holds it. The generation makes a handle of a deleted connection
/// invalid even when its slot is reused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Why a socket call failed, or why a connection ended; or, read with
/// `Stack::take_soft_error`, a soft error: what went wrong on a
/// connection that carries on (RFC 9293 §3.9.1.8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// No such socket (never was, or already deleted).
    InvalidSocket,
    /// Nothing to read, or no room to write, right now.
    WouldBlock,
    /// The sending side was closed: no more data may be sent.
    Closing,
    /// The peer answered our SYN with RST, or an ICMP hard error came
    /// back for it (port unreachable...: `tcp/icmp.rs`): "connection
    /// refused".
    Refused,
    /// The peer reset the connection ("connection reset").
    Reset,
    /// Retransmissions went unanswered ("connection timed out").
    TimedOut,
    /// An ICMP error said the peer's network cannot be reached.
    NetUnreachable,
    /// An ICMP error said the peer cannot be reached (host unreachable,
    /// time exceeded).
    HostUnreachable,
    /// An ICMP Parameter Problem: a router found our header bad.
    Protocol,
    /// A soft error only: retransmissions reached R1 unanswered; the
    /// connection keeps trying until R2 (§3.8.3, SHLD-9).
    Retrying,
    /// The port is already listening.
    AddrInUse,
    /// No free ephemeral port or connection slot.
    Exhausted,
    /// Not an address a connection can go to: broadcast, multicast,
    /// 0.0.0.0, :: (MUST-46; `Config::valid_peer`); or of a family the
    /// stack has no address of.
    InvalidAddress,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Error::InvalidSocket => "no such socket",
            Error::WouldBlock => "operation would block",
            Error::Closing => "connection closing",
            Error::Refused => "connection refused",
            Error::Reset => "connection reset",
            Error::TimedOut => "connection timed out",
            Error::NetUnreachable => "network unreachable",
            Error::HostUnreachable => "host unreachable",
            Error::Protocol => "protocol error",
            Error::Retrying => "retransmissions unanswered, still trying",
            Error::AddrInUse => "address in use",
            Error::Exhausted => "no free port or connection slot",
            Error::InvalidAddress => "not a host's address (broadcast, multicast or unspecified)",
        })
    }
}

impl std::error::Error for Error {}

bitflags::bitflags! {
    /// What happened on a socket since the application last looked.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
    pub struct Ready: u8 {
        /// The 3-way handshake completed.
        const CONNECTED = 1;
        /// Data (or the end of it) can be read.
        const READABLE = 2;
        /// Room in the send buffer again.
        const WRITABLE = 4;
        /// The peer sent FIN: it will send nothing more.
        const PEER_CLOSED = 8;
        /// The connection was reset, refused or timed out.
        const RESET = 16;
        /// The connection reached CLOSED or TIME-WAIT.
        const CLOSED = 32;
        /// A soft error for `Stack::take_soft_error`: an ICMP error, or
        /// retransmissions reaching R1. The connection carries on
        /// (§3.9.1.8, MUST-47).
        const SOFT_ERROR = 64;
        /// The peer's urgent pointer moved ahead of what has been read:
        /// urgent data is pending (RFC 9293 §3.8.5, MUST-32); how much,
        /// `Stack::urgent` says.
        const URGENT = 128;
    }
}

/// Packets dropped, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    pub malformed: u64,
    pub checksum: u64,
    pub fragment: u64,
    pub not_for_us: u64,
    pub other_protocol: u64,
    pub syn_queue_full: u64,
    pub accept_queue_full: u64,
    pub too_many_connections: u64,
    pub time_wait_full: u64,
    pub ooo_full: u64,
    pub replies_full: u64,
    /// Segments from our own address and port to themselves: the LAND
    /// attack, or our own segments looped back.
    pub land: u64,
    /// Old duplicates: a timestamp older than the newest seen (PAWS, RFC 7323 §5).
    pub paws: u64,
    /// Packets from an address no host has: broadcast, multicast, 0.0.0.0,
    /// ::, IPv4-mapped IPv6, loopback off the loopback link (MUST-63,
    /// `Config::valid_peer`).
    pub invalid_source: u64,
    /// Segments without the timestamps both ends agreed to send (RFC 7323 §3.2).
    pub no_timestamp: u64,
    /// IPv6 packets whose extension headers we did not skip: a chain
    /// past `wire::ipv6::MAX_EXT_HEADERS`, or a header or option that may
    /// not be skipped (RFC 8200 §4). Fragments count as `fragment`.
    pub ipv6_ext_headers: u64,
}

/// What the stack has done, for the status view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_in: u64,
    pub segments_in: u64,
    pub segments_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Segments sent again, loss probes not counted (`tlp_probes`).
    pub retransmissions: u64,
    /// Retransmission timer expirations (each is followed by a retransmission).
    pub rto_expirations: u64,
    /// Segments RACK presumed lost (RFC 8985 §6.2): sent before one that
    /// arrived, by more than the reordering window.
    pub rack_losses: u64,
    /// Tail loss probes sent (RFC 8985 §7.3): new data, or the last
    /// segment again, when no ACK came for two round trips.
    pub tlp_probes: u64,
    /// Losses a loss probe repaired alone (RFC 8985 §7.4.2).
    pub tlp_recoveries: u64,
    /// Times new data waited because the log of sent segments was full.
    pub sent_log_full: u64,
    /// Connections aborted because retransmissions went unanswered.
    pub connections_timed_out: u64,
    /// Losses repaired before the timer: entries into fast recovery.
    pub fast_retransmits: u64,
    /// SACK blocks not believed: outside SND.UNA..SND.NXT, without SACK
    /// negotiated, or with the scoreboard full.
    pub sack_blocks_ignored: u64,
    /// D-SACK blocks (RFC 2883) received: duplicates the peer reported.
    pub dsack_blocks: u64,
    pub rsts_sent: u64,
    pub rsts_received: u64,
    pub connections_opened: u64,
    /// Of `connections_opened`, those that started with a deleted
    /// connection's buffers rather than new allocations (`Tcb::adopt`).
    pub buffers_reused: u64,
    pub time_wait_reopened: u64,
    pub icmp_echo_replies: u64,
    /// ICMP error messages received whole (Destination Unreachable, Source
    /// Quench, Time Exceeded, Parameter Problem), quoting a whole header.
    pub icmp_errors: u64,
    /// Of `icmp_errors`, the Source Quenches, discarded (MUST-55).
    pub icmp_source_quench: u64,
    /// Of `icmp_errors`, those that changed nothing: about no connection
    /// of ours, quoting a sequence number outside SND.UNA..SND.NXT (forged,
    /// or too late: RFC 5927 §4.1), or a type TCP ignores.
    pub icmp_errors_ignored: u64,
    /// ACKs sent to challenge a suspicious RST, SYN or ACK (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs not sent: the second's budget was spent (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// SYN,ACKs sent with a SYN cookie as ISS (the SYN queue was full).
    pub syn_cookies_sent: u64,
    /// Connections created by an ACK that carried a valid SYN cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs checked for a SYN cookie that did not carry one of ours.
    pub syn_cookies_rejected: u64,
    pub drops: Drops,
}

impl Counters {
    /// How many counters `fields` gives.
    pub const FIELDS: usize = 46;

    /// Every counter by name, for the status view.
    pub fn fields(&self) -> [(&'static str, u64); Self::FIELDS] {
        let d = &self.drops;
        [
            ("packets_in", self.packets_in),
            ("segments_in", self.segments_in),
            ("segments_out", self.segments_out),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("retransmissions", self.retransmissions),
            ("rto_expirations", self.rto_expirations),
            ("rack_losses", self.rack_losses),
            ("tlp_probes", self.tlp_probes),
            ("tlp_recoveries", self.tlp_recoveries),
            ("sent_log_full", self.sent_log_full),
            ("connections_timed_out", self.connections_timed_out),
            ("fast_retransmits", self.fast_retransmits),
            ("sack_blocks_ignored", self.sack_blocks_ignored),
            ("dsack_blocks", self.dsack_blocks),
            ("rsts_sent", self.rsts_sent),
            ("rsts_received", self.rsts_received),
            ("connections_opened", self.connections_opened),
            ("buffers_reused", self.buffers_reused),
            ("time_wait_reopened", self.time_wait_reopened),
            ("icmp_echo_replies", self.icmp_echo_replies),
            ("icmp_errors", self.icmp_errors),
            ("icmp_source_quench", self.icmp_source_quench),
            ("icmp_errors_ignored", self.icmp_errors_ignored),
            ("challenge_acks", self.challenge_acks),
            ("challenge_acks_limited", self.challenge_acks_limited),
            ("syn_cookies_sent", self.syn_cookies_sent),
            ("syn_cookies_accepted", self.syn_cookies_accepted),
            ("syn_cookies_rejected", self.syn_cookies_rejected),
            ("drop_malformed", d.malformed),
            ("drop_checksum", d.checksum),
            ("drop_fragment", d.fragment),
            ("drop_not_for_us", d.not_for_us),
            ("drop_other_protocol", d.other_protocol),
            ("drop_syn_queue_full", d.syn_queue_full),
            ("drop_accept_queue_full", d.accept_queue_full),
            ("drop_too_many_connections", d.too_many_connections),
            ("drop_time_wait_full", d.time_wait_full),
            ("drop_ooo_full", d.ooo_full),
            ("drop_replies_full", d.replies_full),
            ("drop_land", d.land),
            ("drop_paws", d.paws),
            ("drop_invalid_source", d.invalid_source),
            ("drop_no_timestamp", d.no_timestamp),
            ("drop_ipv6_ext_headers", d.ipv6_ext_headers),
            ("drops_total", d.total()),
        ]
    }
}

impl Drops {
    pub fn total(&self) -> u64 {
        self.malformed
            + self.checksum
            + self.fragment
            + self.not_for_us
            + self.other_protocol
            + self.syn_queue_full
            + self.accept_queue_full
            + self.too_many_connections
            + self.time_wait_full
            + self.ooo_full
            + self.replies_full
            + self.land
            + self.paws
            + self.invalid_source
            + self.no_timestamp
            + self.ipv6_ext_headers
    }
}
