//! Playing a parsed script against a fresh `Stack` (the rules are in the
//! module doc of `drill`).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use stack::tcp::state::State;
use stack::tcp::Algorithm;
use stack::time::Instant;
use stack::wire::checksum;
use stack::wire::ip::{IpRepr, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use stack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use stack::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use stack::wire::tcp::{Flags, TcpRepr, TcpSegment};
use stack::{Config, Error, SocketHandle, Stack};

use super::parse::{Event, Expr, Icmp, Kind, Options, Packet, Script, Syscall, TcpOpt, Time};

/// The TCP under test, and the peer the script plays (packetdrill's
/// defaults: RFC 1918 private space and RFC 5737's TEST-NET-1).
pub const LOCAL_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
pub const REMOTE_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The same with `--ip_version=ipv6`: a unique local address (RFC 4193)
/// in packetdrill's fd3d:fa7b:d17d::/48, and the documentation prefix
/// (RFC 3849).
pub const LOCAL_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1);
pub const REMOTE_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// The port `bind(..., ...)` and `connect(..., ...)` mean.
pub const SCRIPT_PORT: u16 = 8080;
/// The peer's port when it opens the connection.
pub const PEER_PORT: u16 = 40000;
/// The peer's initial sequence number: relative 0 in the script.
pub const PEER_ISN: u32 = 0x1000_0000;
/// packetdrill's default tolerance for the time of a segment.
pub const DEFAULT_TOLERANCE_USECS: i64 = 4_000;
/// How long a `*` event may wait for its segment.
const ANY_TIME_LIMIT_USECS: i64 = 600_000_000;
/// The first file descriptor `socket` returns.
const FIRST_FD: i64 = 3;

/// How one script ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass { notes: Vec<String> },
    Fail { line: usize, message: String, notes: Vec<String> },
    Skip(String),
}

/// Why a script stopped early.
#[derive(Debug)]
enum Stop {
    Fail(usize, String),
    Skip(String),
}

type Step = Result<(), Stop>;

fn fail<T>(line: usize, message: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(line, message.into()))
}

fn skip<T>(reason: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Skip(reason.into()))
}

/// Play `script`.
pub fn run(script: &Script) -> Outcome {
    let mut runner = Runner::default();
    // Settings after the last other event restore the defaults for the
    // next script: there is nothing left to play them on.
    let cleanup = |e: &Event| matches!(&e.kind, Kind::Shell(cmd) if commands(cmd).all(|c| setting(c).is_some()));
    let played = script.events.iter().rposition(|e| !cleanup(e)).map_or(0, |last| last + 1);
    let events = &script.events[..played];
    let result = (runner.configure(script))
        .and_then(|()| events.iter().try_for_each(|e| runner.event(e)))
        .and_then(|()| runner.finish_pending());
    let notes = runner.notes;
    match result {
        Ok(()) => Outcome::Pass { notes },
        Err(Stop::Fail(line, message)) => Outcome::Fail { line, message, notes },
        Err(Stop::Skip(reason)) => Outcome::Skip(reason),
    }
}

/// What a file descriptor of the script stands for.
#[derive(Debug, Clone, Copy)]
enum Socket {
    /// `socket()`, perhaps `bind()`, nothing more yet.
    Fresh {
        bound: bool,
    },
    Listener {
        port: u16,
    },
    Connection(SocketHandle),
}

#[derive(Debug, Clone, Copy)]
struct Fd {
    socket: Socket,
    nonblocking: bool,
    /// SO_LINGER with a zero time: `close` aborts (RST).
    linger_zero: bool,
    nodelay: bool,
    /// TCP_NOOPT: the SYN `connect` sends carries no options.
    noopt: bool,
    /// SO_ERROR reports a connection's error once, as BSD clears it.
    error_reported: bool,
}

/// A system call's outcome: returned, or waiting for the stack.
enum Call {
    Done(Result<i64, &'static str>),
    Blocks(Wait),
}

/// What a blocked call waits for.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// Something the same call sees when tried again: a connection to
    /// accept, data or EOF to read, an event to poll.
    Again,
    /// A blocking connect: the handshake's end, or its failure.
    Connect(SocketHandle),
    /// A blocking write with this much already in the send buffer.
    Write(usize),
}

/// The system call started and not yet returned: packetdrill runs it in
/// a thread of its own while the script goes on, so the lines after it
/// (the peer's segments, ours) are played while it waits.
#[derive(Debug)]
struct Pending {
    line: usize,
    call: Syscall,
    /// When the script says it returns.
    end: i64,
    /// When a blocked `poll` gives up and returns 0.
    timeout_at: Option<i64>,
    wait: Wait,
}

struct Runner {
    config: Config,
    /// Our address and the peer's, of the script's family.
    local: IpAddr,
    remote: IpAddr,
    /// Made at the first event that is not a shell command, so that the
    /// `sysctl`s before it can shape `config`.
    stack: Option<Stack>,
    now: Instant,
    /// The script time relative times count from, in microseconds.
    last: i64,
    tolerance: i64,
    /// Our port and the peer's on the connection the segments belong to.
    our_port: u16,
    peer_port: u16,
    /// Our ISN, learned from our first SYN; 0 (absolute numbers) until then.
    our_isn: Option<u32>,
    /// The last timestamp we sent, which the peer's `ecr` echoes.
    last_tsval: u32,
    fds: BTreeMap<i64, Fd>,
    /// The socket `%{ tcpi_... }%` asks about: the last one created.
    under_test: Option<i64>,
    /// Segments sent and not yet matched by a `>` line, with when.
    sent: VecDeque<(Instant, Vec<u8>)>,
    /// The call blocked now, if any (one at a time, as in packetdrill).
    pending: Option<Pending>,
    /// Connections `poll` took from a listener's queue to see them,
    /// which `accept` hands out first.
    ready: BTreeMap<u16, VecDeque<SocketHandle>>,
    notes: Vec<String>,
}

impl Default for Runner {
    fn default() -> Runner {
        Runner {
            config: Config::new(LOCAL_ADDR),
            local: LOCAL_ADDR.into(),
            remote: REMOTE_ADDR.into(),
            stack: None,
            now: Instant::ZERO,
            last: 0,
            tolerance: DEFAULT_TOLERANCE_USECS,
            our_port: SCRIPT_PORT,
            peer_port: PEER_PORT,
            our_isn: None,
            last_tsval: 0,
            fds: BTreeMap::new(),
            under_test: None,
            sent: VecDeque::new(),
            pending: None,
            ready: BTreeMap::new(),
            notes: Vec::new(),
        }
    }
}

fn instant(micros: i64) -> Instant {
    Instant::from_micros(micros.max(0) as u64)
}

fn micros(t: Instant) -> i64 {
    t.total_micros() as i64
}

impl Runner {
    /// The script's `--options`.
    fn configure(&mut self, script: &Script) -> Step {
        // The family first: it picks the addresses the others may change.
        let ip_version = script.options.iter().rev().find(|(n, _)| n == "ip_version").map(|(_, v)| v.as_str());
        match ip_version.unwrap_or("ipv4") {
            // AF_INET6 sockets speaking IPv4 on the wire: the stack's
            // sockets have no family, so this is IPv4 here.
            "ipv4" | "ipv4-mapped-ipv6" => {}
            "ipv6" => (self.local, self.remote) = (LOCAL_ADDR6.into(), REMOTE_ADDR6.into()),
            other => return fail(0, format!("bad --ip_version={other}")),
        }
        let family = if self.local.is_ipv4() { "IPv4" } else { "IPv6" };
        for (name, value) in &script.options {
            match name.as_str() {
                "ip_version" => {}
                "tolerance_usecs" => match value.parse() {
                    Ok(t) => self.tolerance = t,
                    Err(_) => return fail(0, format!("bad --tolerance_usecs={value}")),
                },
                "mtu" => match value.parse() {
                    Ok(mtu) if (68..=65535).contains(&mtu) => self.config.mtu = mtu,
                    _ => return fail(0, format!("bad --mtu={value}")),
                },
                "local_ip" | "remote_ip" => match value.parse::<IpAddr>() {
                    Ok(addr) if addr.is_ipv4() != self.local.is_ipv4() => {
                        return skip(format!("--{name}={value}: not an {family} address"))
                    }
                    Ok(addr) if name == "local_ip" => self.local = addr,
                    Ok(addr) if addr == self.remote => {}
                    Ok(_) => return skip(format!("--remote_ip other than {}", self.remote)),
                    Err(_) => return skip(format!("--{name}={value}: not an {family} address")),
                },
                _ => self.notes.push(format!("option --{name} ignored")),
            }
        }
        match self.local {
            IpAddr::V4(addr) => self.config.addr = addr,
            IpAddr::V6(addr) => self.config.addr6 = Some(addr),
        }
        // RFC 8200 §5: every IPv6 link carries 1280-byte packets.
        if self.local.is_ipv6() && self.config.mtu < 1280 {
            return skip(format!("--mtu={}: under IPv6's minimum of 1280 (RFC 8200 §5)", self.config.mtu));
        }
        Ok(())
    }

    fn stack(&mut self) -> &mut Stack {
        let config = &self.config;
        self.stack.get_or_insert_with(|| Stack::new(config.clone()))
    }

    fn event(&mut self, event: &Event) -> Step {
        let line = event.line;
        let base = |relative: bool, t: i64| if relative { self.last.saturating_add(t) } else { t };
        let (start, end) = match event.time {
            Time::Any => (self.last, None),
            Time::At { relative, start, end } => (base(relative, start), end.map(|(r, e)| base(r, e))),
            // The end counts from the same base as the start (syntax.md:
            // `+0...0.100` returns 0.1 s after the previous event).
            Time::Blocking { relative, start, end } => (base(relative, start), Some(base(relative, end))),
        };
        if let Kind::Outbound(packet) = &event.kind {
            return self.expect(line, packet, start, end, event.time == Time::Any);
        }
        if let Kind::Shell(cmd) = &event.kind {
            if self.stack.is_none() {
                // Before the stack starts: settings that shape its config.
                self.last = start;
                return self.shell(line, cmd);
            }
        }
        self.advance(line, instant(start))?;
        self.check_unexpected(line, start)?;
        if let Kind::Syscall(_) = &event.kind {
            // One call at a time, as packetdrill's single system call
            // thread: a call still blocked must return first.
            self.finish_pending()?;
        }
        match &event.kind {
            Kind::Inbound(packet) => self.inbound(line, packet)?,
            Kind::Icmp(icmp) => self.icmp(line, icmp)?,
            Kind::Syscall(call) => {
                // A call without `...` must return at once (within the
                // tolerance), whether or not its socket blocks.
                let end = if matches!(event.time, Time::Blocking { .. }) { end.unwrap_or(start) } else { start };
                self.syscall(line, call, end)?
            }
            Kind::Shell(cmd) => self.shell(line, cmd)?,
            Kind::Python(code) => self.python(line, code)?,
            Kind::Outbound(_) => unreachable!("handled above"),
        }
        self.collect();
        self.resume()?;
        // Like packetdrill, the next relative time counts from when this
        // event started, even a blocking call that returns later.
        self.last = start;
        Ok(())
    }

    /// Take what the stack sends now.
    fn collect(&mut self) {
        let now = self.now;
        let sent = &mut self.sent;
        self.stack
            .get_or_insert_with(|| Stack::new(self.config.clone()))
            .transmit(now, &mut |parts| sent.push_back((now, parts.concat())));
    }

    /// When something is next due: a timer of the stack, or the timeout of
    /// a blocked `poll`.
    fn next_due(&mut self) -> Option<Instant> {
        let timeout = self.pending.as_ref().and_then(|p| p.timeout_at).map(instant);
        match (self.stack().poll_at(), timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time moves to `due`: the stack's timers run, what they send is
    /// taken, and a blocked call returns if it now can.
    fn tick(&mut self, due: Instant) -> Step {
        self.now = self.now.max(due);
        let now = self.now;
        self.stack().poll(now);
        self.collect();
        self.resume()
    }

    /// Let time pass up to `until`, firing the stack's timers on the way.
    fn advance(&mut self, line: usize, until: Instant) -> Step {
        for _ in 0..1_000_000 {
            self.collect();
            match self.next_due() {
                Some(due) if due <= until => self.tick(due)?,
                _ => {
                    self.now = self.now.max(until);
                    return Ok(());
                }
            }
        }
        fail(line, "the stack's timers keep firing without time passing")
    }

    /// A segment sent longer ago than the tolerance, which no `>` line took:
    /// the TCP sent what the script does not expect.
    fn check_unexpected(&mut self, line: usize, at: i64) -> Step {
        match self.sent.front() {
            Some((when, packet)) if micros(*when) + self.tolerance < at => {
                let (when, what) = (*when, self.describe(packet));
                fail(line, format!("unexpected segment {what} sent at {when}, before this line"))
            }
            _ => Ok(()),
        }
    }

    /// Render a sent packet in the script's terms.
    fn describe(&self, packet: &[u8]) -> String {
        match tcp_of(packet) {
            Some(sent) => self.describe_segment(sent.tcp),
            None => format!("a non-TCP packet of {} bytes", packet.len()),
        }
    }

    fn describe_segment(&self, tcp: &[u8]) -> String {
        match parse_tcp(tcp) {
            Some((repr, len, _)) => {
                let seq = repr.seq_number.0.wrapping_sub(self.our_isn.unwrap_or(0));
                let ack = repr.ack_number.0.wrapping_sub(PEER_ISN);
                let mut s = format!("{} {}:{}({})", flag_letters(repr.flags), seq, seq.wrapping_add(len as u32), len);
                if repr.flags.contains(Flags::ACK) {
                    s += &format!(" ack {ack}");
                }
                s + &format!(" win {}", repr.window_len)
            }
            None => format!("a malformed TCP segment of {} bytes", tcp.len()),
        }
    }

    /// A `>` line: the next segment sent must match it, within the tolerance.
    fn expect(&mut self, line: usize, want: &Packet, start: i64, end: Option<i64>, any: bool) -> Step {
        let tol = self.tolerance;
        let deadline = if any { start + ANY_TIME_LIMIT_USECS } else { end.unwrap_or(start) + tol };
        if !any {
            self.advance(line, instant(start))?;
        }
        while self.sent.is_empty() {
            match self.next_due() {
                Some(due) if micros(due) <= deadline => self.tick(due)?,
                _ => break,
            }
        }
        let Some((when, packet)) = self.sent.pop_front() else {
            // Nothing by the deadline: the time moves on to it.
            self.advance(line, instant(deadline))?;
            return fail(line, format!("expected {}, but nothing was sent by {}", show(want), instant(deadline)));
        };
        let Some(sent) = tcp_of(&packet) else {
            return fail(line, format!("expected {}, got {}", show(want), self.describe(&packet)));
        };
        if (sent.src, sent.dst) != (self.local, self.remote) {
            let (src, dst) = (sent.src, sent.dst);
            return fail(line, format!("expected {} to {}, got one from {src} to {dst}", show(want), self.remote));
        }
        let pseudo = checksum::pseudo_header(sent.src, sent.dst, PROTO_TCP, sent.tcp.len());
        if !checksum::combine(&[pseudo, checksum::data(sent.tcp)]) != 0 {
            return fail(line, format!("expected {}, got {} with a bad checksum", show(want), self.describe(&packet)));
        }
        let ecn = sent.ecn;
        let tcp = self.coalesce(sent.tcp.to_vec(), when, want.len);
        if !any && micros(when) < start - tol {
            let what = self.describe_segment(&tcp);
            return fail(line, format!("expected {} at {}, but {what} was sent at {when}", show(want), instant(start)));
        }
        self.compare(line, want, ecn, &tcp)?;
        // Like packetdrill, relative times after a segment count from when
        // it actually left.
        self.last = micros(when);
        Ok(())
    }

    /// A `>` segment longer than the one sent may be made of the segments
    /// sent right after it: Linux hands its device one large segment (TSO,
    /// GSO) where the stack sends MSS-sized ones, and Linux's scripts
    /// expect the large one. Contiguous segments with the same ACK, sent
    /// at the same moment, are joined (flags OR'd) up to `want_len` bytes.
    fn coalesce(&mut self, mut tcp: Vec<u8>, when: Instant, want_len: u32) -> Vec<u8> {
        while let Some((repr, len, _)) = parse_tcp(&tcp) {
            let next_seq = repr.seq_number.0.wrapping_add(len as u32);
            let joins = |(at, next): &(Instant, Vec<u8>)| {
                *at == when
                    && tcp_of(next).and_then(|s| parse_tcp(s.tcp)).is_some_and(|(r, l, _)| {
                        r.seq_number.0 == next_seq
                            && r.ack_number == repr.ack_number
                            && l > 0
                            && len + l <= want_len as usize
                    })
            };
            if len == 0
                || (len as u32) >= want_len
                || repr.flags.contains(Flags::FIN)
                || !self.sent.front().is_some_and(joins)
            {
                break;
            }
            let (_, next) = self.sent.pop_front().expect("checked");
            let next = TcpSegment::new_checked(tcp_of(&next).expect("checked").tcp).expect("checked");
            tcp.extend_from_slice(next.payload());
            tcp[13] |= next.flags().bits();
        }
        tcp
    }

    /// Check a sent segment against the script's `>` line.
    fn compare(&mut self, line: usize, want: &Packet, codepoint: u8, tcp: &[u8]) -> Step {
        let got = self.describe_segment(tcp);
        let mismatch = |what: &str| Stop::Fail(line, format!("expected {}, got {got}: {what}", show(want)));
        let Some((repr, len, raw_options)) = parse_tcp(tcp) else { return Err(mismatch("not TCP")) };
        if let Some(ecn) = &want.ecn {
            let ok = match ecn.as_str() {
                "noecn" => codepoint == 0,
                "ect1" => codepoint == 1,
                "ect0" => codepoint == 2,
                "ce" => codepoint == 3,
                "ect01" => codepoint == 1 || codepoint == 2,
                _ => return skip(format!("ECN codepoint [{ecn}]")),
            };
            if !ok {
                return Err(mismatch("ECN codepoint"));
            }
        }
        if repr.flags != flags(&want.flags) {
            return Err(mismatch("flags"));
        }
        if let Some((start, _)) = want.seq {
            if repr.flags.contains(Flags::SYN) && self.our_isn.is_none() {
                self.our_isn = Some(repr.seq_number.0.wrapping_sub(start));
            }
            if repr.seq_number.0.wrapping_sub(self.our_isn.unwrap_or(0)) != start {
                return Err(mismatch("SEQ"));
            }
        }
        if len as u32 != want.len {
            return Err(mismatch("payload length"));
        }
        if let Some(ack) = want.ack {
            if repr.ack_number.0.wrapping_sub(PEER_ISN) != ack {
                return Err(mismatch("ACK"));
            }
        }
        if let Some(win) = want.win {
            let got_win = u32::from(repr.window_len);
            // The window rule: open or closed must match, except on RST.
            if !repr.flags.contains(Flags::RST) && (win == 0) != (got_win == 0) {
                return Err(mismatch("window (closed vs open)"));
            }
            if win != got_win {
                self.notes.push(format!("line {line}: win {got_win}, script {win}"));
            }
        }
        if let Some(ts) = repr.options.timestamps {
            self.last_tsval = ts.tsval;
        }
        let listed: &[TcpOpt] = match &want.options {
            Options::Any => return Ok(()),
            Options::None => &[],
            Options::List(list) => list,
        };
        if repr.flags.contains(Flags::SYN) {
            let mut want_kinds: Vec<u8> = listed.iter().filter_map(TcpOpt::kind).filter(|&k| k > 1).collect();
            let mut got_kinds: Vec<u8> = option_kinds(raw_options);
            want_kinds.sort_unstable();
            got_kinds.sort_unstable();
            if want_kinds != got_kinds {
                return Err(mismatch(&format!("option kinds {got_kinds:?}, script {want_kinds:?}")));
            }
            for opt in listed {
                match *opt {
                    TcpOpt::Mss(mss) if repr.options.mss != Some(mss) => return Err(mismatch("MSS")),
                    TcpOpt::WScale(shift) if repr.options.window_scale != Some(shift) => {
                        self.notes.push(format!("line {line}: wscale {:?}, script {shift}", repr.options.window_scale))
                    }
                    _ => {}
                }
            }
        }
        // We SACK the peer's data: blocks are in its sequence space.
        let want_sack: Vec<(u32, u32)> = listed
            .iter()
            .find_map(|o| if let TcpOpt::Sack(b) = o { Some(b.clone()) } else { None })
            .unwrap_or_default();
        let got_sack: Vec<(u32, u32)> = (repr.options.sack_blocks.iter().flatten())
            .map(|(l, r)| (l.0.wrapping_sub(PEER_ISN), r.0.wrapping_sub(PEER_ISN)))
            .collect();
        if want_sack != got_sack {
            return Err(mismatch(&format!("SACK blocks {got_sack:?}, script {want_sack:?}")));
        }
        for opt in listed {
            if let (TcpOpt::Timestamp { val, ecr }, Some(ts)) = (opt, repr.options.timestamps) {
                if (ts.tsval, ts.tsecr) != (*val, *ecr) {
                    self.notes.push(format!("line {line}: TS val {} ecr {}, script {val} {ecr}", ts.tsval, ts.tsecr));
                }
            }
        }
        Ok(())
    }

    /// A `<` line: build the segment and hand it to the stack.
    fn inbound(&mut self, line: usize, p: &Packet) -> Step {
        match p.ecn.as_deref() {
            None | Some("noecn") => {}
            Some(ecn) => return skip(format!("an inbound ECN codepoint [{ecn}]")),
        }
        let Some((start, _)) = p.seq else { return fail(line, "an inbound segment needs its sequence numbers") };
        let Ok(window) = u16::try_from(p.win.unwrap_or(65535)) else { return fail(line, "win above 65535") };
        let our_isn = self.our_isn.unwrap_or(0);
        let mut options = Vec::new();
        if let Options::List(list) = &p.options {
            for opt in list {
                match opt {
                    TcpOpt::Eol => options.push(0),
                    TcpOpt::Nop => options.push(1),
                    TcpOpt::Mss(mss) => options.extend([2, 4, (mss >> 8) as u8, *mss as u8]),
                    TcpOpt::WScale(shift) => options.extend([3, 3, *shift]),
                    TcpOpt::SackOk => options.extend([4, 2]),
                    TcpOpt::Sack(blocks) => {
                        options.extend([5, 2 + 8 * blocks.len() as u8]);
                        for (l, r) in blocks {
                            options.extend(our_isn.wrapping_add(*l).to_be_bytes());
                            options.extend(our_isn.wrapping_add(*r).to_be_bytes());
                        }
                    }
                    TcpOpt::Timestamp { val, ecr } => {
                        // The peer echoes the last timestamp we sent.
                        let ecr = if *ecr == 0 { 0 } else { self.last_tsval };
                        options.extend([8, 10]);
                        options.extend(val.to_be_bytes());
                        options.extend(ecr.to_be_bytes());
                    }
                    TcpOpt::Other(name) => return skip(format!("the TCP option {name}")),
                }
            }
        }
        while options.len() % 4 != 0 {
            options.push(0);
        }
        if options.len() > 40 {
            return fail(line, "more than 40 bytes of options");
        }
        let header_len = TcpRepr::MIN_HEADER_LEN + options.len();
        let too_long = || fail(line, format!("{} bytes of payload: more than an IP packet holds", p.len));
        // No IP packet holds more than 65535 bytes of payload (RFC 791, RFC 8200 §3).
        let tcp_len = header_len + p.len as usize;
        if tcp_len > usize::from(u16::MAX) {
            return too_long();
        }
        let mut tcp = vec![0u8; tcp_len];
        let ack = p.ack.map_or(0, |a| our_isn.wrapping_add(a));
        tcp[0..2].copy_from_slice(&self.peer_port.to_be_bytes());
        tcp[2..4].copy_from_slice(&self.our_port.to_be_bytes());
        tcp[4..8].copy_from_slice(&PEER_ISN.wrapping_add(start).to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = ((header_len / 4) as u8) << 4;
        tcp[13] = flags(&p.flags).bits();
        tcp[14..16].copy_from_slice(&window.to_be_bytes());
        tcp[18..20].copy_from_slice(&(p.urg.unwrap_or(0) as u16).to_be_bytes());
        tcp[20..header_len].copy_from_slice(&options);
        let sum = self.upper_checksum(PROTO_TCP, &tcp);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        let Some(packet) = self.peer_packet(PROTO_TCP, &tcp) else { return too_long() };
        let now = self.now;
        self.stack().receive(now, &packet);
        Ok(())
    }

    /// A `< icmp` line: an ICMP error from the peer's address quoting the
    /// IP header and first 8 bytes of a segment of ours (RFC 792, RFC 4443
    /// §3: as much as fits, of which the stack needs no more).
    fn icmp(&mut self, line: usize, icmp: &Icmp) -> Step {
        let v6 = self.local.is_ipv6();
        let (kind, code) = match icmp_type_code(v6, &icmp.kind, icmp.code.as_deref()) {
            Some(tc) => tc,
            None => return skip(format!("ICMP {} {}", icmp.kind, icmp.code.as_deref().unwrap_or(""))),
        };
        let mut message = vec![kind, code, 0, 0, 0, 0, 0, 0];
        // Fragmentation Needed's next-hop MTU is 16 bits (RFC 1191 §4),
        // Packet Too Big's 32 (RFC 4443 §3.2).
        match (icmp.mtu, v6) {
            (Some(mtu), false) => message[6..8].copy_from_slice(&(mtu as u16).to_be_bytes()),
            (Some(mtu), true) => message[4..8].copy_from_slice(&mtu.to_be_bytes()),
            (None, _) => {}
        }
        // The quoted segment: our IP header, then ports and SEQ.
        let quoted_len = TcpRepr::MIN_HEADER_LEN + icmp.len as usize;
        let Some(quoted) = ip_header(self.local, self.remote, PROTO_TCP, quoted_len) else {
            return fail(line, format!("{} bytes of payload: more than an IP packet holds", icmp.len));
        };
        message.extend(quoted);
        let mut tcp = [0; 8];
        tcp[0..2].copy_from_slice(&self.our_port.to_be_bytes());
        tcp[2..4].copy_from_slice(&self.peer_port.to_be_bytes());
        tcp[4..8].copy_from_slice(&self.our_isn.unwrap_or(0).wrapping_add(icmp.seq.0).to_be_bytes());
        message.extend(tcp);
        // ICMPv6's checksum covers the pseudo-header (RFC 4443 §2.3),
        // ICMP's only the message (RFC 792).
        let (protocol, sum) = match v6 {
            true => (PROTO_ICMPV6, self.upper_checksum(PROTO_ICMPV6, &message)),
            false => (PROTO_ICMP, !checksum::data(&message)),
        };
        message[2..4].copy_from_slice(&sum.to_be_bytes());
        let packet = self.peer_packet(protocol, &message).expect("an ICMP error fits in a packet");
        let now = self.now;
        self.stack().receive(now, &packet);
        Ok(())
    }

    /// The checksum of a segment the peer sends, over the pseudo-header of
    /// its family.
    fn upper_checksum(&self, protocol: u8, bytes: &[u8]) -> u16 {
        let pseudo = checksum::pseudo_header(self.remote, self.local, protocol, bytes.len());
        !checksum::combine(&[pseudo, checksum::data(bytes)])
    }

    /// A packet from the peer to us carrying `payload`, or `None` if it
    /// does not fit in one.
    fn peer_packet(&self, protocol: u8, payload: &[u8]) -> Option<Vec<u8>> {
        let mut packet = ip_header(self.remote, self.local, protocol, payload.len())?;
        packet.extend_from_slice(payload);
        Some(packet)
    }

    fn fd(&self, line: usize, call: &Syscall) -> Result<(i64, Fd), Stop> {
        let n = call.args.first().and_then(Expr::int);
        match n.and_then(|n| self.fds.get(&n).map(|fd| (n, *fd))) {
            Some(found) => Ok(found),
            None => fail(line, format!("{}: no such file descriptor {n:?}", call.name)),
        }
    }

    /// A new descriptor: the number the script expects if it is free (as in
    /// packetdrill, which maps the script's numbers to its own), else the
    /// lowest free one.
    fn new_fd(&mut self, socket: Socket, nonblocking: bool, want: Option<i64>) -> i64 {
        let free = |n: &i64| *n >= 0 && !self.fds.contains_key(n);
        let n = want.filter(free).unwrap_or_else(|| (FIRST_FD..).find(free).expect("a free descriptor"));
        let fd = Fd { socket, nonblocking, linger_zero: false, nodelay: false, noopt: false, error_reported: false };
        self.fds.insert(n, fd);
        self.under_test = Some(n);
        n
    }

    /// A system call: run it on the stack, then check its result and that
    /// it returned at `end` (within the tolerance); a call that must wait
    /// becomes the pending one, played on as time passes (`resume`).
    fn syscall(&mut self, line: usize, call: &Syscall, end: i64) -> Step {
        match self.attempt(line, call, None, false)? {
            Call::Done(got) => self.returned(line, call, end, got),
            Call::Blocks(wait) => {
                // poll's timeout is in milliseconds; negative waits forever.
                let timeout = (call.name == "poll").then(|| call.args.get(2).and_then(Expr::int)).flatten();
                let timeout_at =
                    timeout.filter(|&t| t >= 0).map(|t| micros(self.now).saturating_add(t.saturating_mul(1000)));
                self.pending = Some(Pending { line, call: call.clone(), end, timeout_at, wait });
                Ok(())
            }
        }
    }

    /// A call returned `got` now: it must be the script's result, at `end`.
    fn returned(&self, line: usize, call: &Syscall, end: i64, got: Result<i64, &'static str>) -> Step {
        let now = micros(self.now);
        if (now - end).abs() > self.tolerance {
            let (at, want) = (self.now, instant(end));
            return fail(line, format!("{} returned at {at}, the script expects it at {want}", call.name));
        }
        self.check_result(line, call, got)
    }

    /// Try the pending call again, if there is one.
    fn resume(&mut self) -> Step {
        let Some(p) = self.pending.take() else { return Ok(()) };
        let timed_out = p.timeout_at.is_some_and(|t| t <= micros(self.now));
        match self.attempt(p.line, &p.call, Some(p.wait), timed_out)? {
            Call::Done(got) => self.returned(p.line, &p.call, p.end, got),
            Call::Blocks(wait) => {
                self.pending = Some(Pending { wait, ..p });
                Ok(())
            }
        }
    }

    /// Let time pass until the pending call returns; it fails if it is
    /// still blocked when the tolerance after its return time has passed.
    pub(crate) fn finish_pending(&mut self) -> Step {
        let Some(p) = &self.pending else { return Ok(()) };
        let (line, deadline) = (p.line, instant(p.end + self.tolerance));
        self.advance(line, deadline)?;
        match self.pending.take() {
            Some(p) => fail(p.line, format!("{} still blocked at {}", p.call.name, self.now.max(deadline))),
            None => Ok(()),
        }
    }

    /// Run a call on the stack: its result, or what it waits for. `wait`
    /// is what it was waiting for when it is tried again; `timed_out` says
    /// a blocked `poll`'s time is up.
    fn attempt(&mut self, line: usize, call: &Syscall, wait: Option<Wait>, timed_out: bool) -> Result<Call, Stop> {
        if let Some(Wait::Connect(h)) = wait {
            // A blocking connect returns when the handshake has ended.
            return Ok(match self.stack().tcb(h).map(|t| (t.state, t.error)) {
                Some((_, Some(e))) => Call::Done(Err(errno(e))),
                Some((State::SynSent | State::SynReceived, None)) => Call::Blocks(Wait::Connect(h)),
                Some(_) => Call::Done(Ok(0)),
                None => Call::Done(Err("ECONNREFUSED")),
            });
        }
        let fd = call.args.first().and_then(Expr::int);
        if FD_CALLS.contains(&call.name.as_str()) && fd.is_some_and(|n| !self.fds.contains_key(&n)) {
            return Ok(Call::Done(Err("EBADF")));
        }
        let now = self.now;
        let arg = |i: usize| call.args.get(i).cloned().unwrap_or(Expr::Ellipsis);
        let got: Result<i64, &'static str> = match call.name.as_str() {
            "socket" => {
                let kind = names(&arg(1));
                if !kind.contains(&"SOCK_STREAM".to_string()) {
                    return skip(format!("socket type {:?}", arg(1)));
                }
                let nonblocking = kind.contains(&"SOCK_NONBLOCK".to_string());
                Ok(self.new_fd(Socket::Fresh { bound: false }, nonblocking, call.ret.int()))
            }
            "bind" => {
                let (n, fd) = self.fd(line, call)?;
                if arg(1) != Expr::Ellipsis {
                    return skip("bind to an address other than `...`");
                }
                match fd.socket {
                    Socket::Fresh { .. } => {
                        self.fds.get_mut(&n).expect("found").socket = Socket::Fresh { bound: true };
                        Ok(0)
                    }
                    _ => Err("EINVAL"),
                }
            }
            "listen" => {
                let (n, fd) = self.fd(line, call)?;
                let backlog = arg(1).int().unwrap_or(1).max(1) as usize;
                if fd.noopt {
                    return skip("TCP_NOOPT on a listening socket: the stack's options are per stack, not per port");
                }
                match fd.socket {
                    Socket::Fresh { .. } => match self.stack().listen(SCRIPT_PORT, backlog) {
                        Ok(()) => {
                            self.fds.get_mut(&n).expect("found").socket = Socket::Listener { port: SCRIPT_PORT };
                            Ok(0)
                        }
                        Err(e) => Err(errno(e)),
                    },
                    Socket::Listener { .. } => Ok(0),
                    Socket::Connection(_) => Err("EINVAL"),
                }
            }
            "accept" | "accept4" => {
                let (_, fd) = self.fd(line, call)?;
                let Socket::Listener { port } = fd.socket else { return Ok(Call::Done(Err("EINVAL"))) };
                // A connection `poll` took from the queue comes first.
                let stashed = self.ready.get_mut(&port).and_then(VecDeque::pop_front);
                match stashed.or_else(|| self.stack().accept(port)) {
                    Some(h) => {
                        if fd.nodelay {
                            self.stack().set_nodelay(h, true);
                        }
                        // As on BSD, the new socket inherits O_NONBLOCK.
                        Ok(self.new_fd(Socket::Connection(h), fd.nonblocking, call.ret.int()))
                    }
                    None if fd.nonblocking => Err("EAGAIN"),
                    None => return Ok(Call::Blocks(Wait::Again)),
                }
            }
            "connect" => {
                let (n, fd) = self.fd(line, call)?;
                let Socket::Fresh { bound } = fd.socket else { return Ok(Call::Done(Err("EISCONN"))) };
                let remote = SocketAddr::new(self.remote, SCRIPT_PORT);
                let result = if bound {
                    self.stack().connect_from(now, SCRIPT_PORT, remote)
                } else {
                    self.stack().connect(now, remote)
                };
                match result {
                    Ok(h) => {
                        self.our_port = self.stack().tcb(h).map_or(SCRIPT_PORT, |t| t.local.port());
                        self.peer_port = SCRIPT_PORT;
                        self.stack().set_nodelay(h, fd.nodelay);
                        if fd.noopt {
                            self.stack().set_no_options(h);
                        }
                        self.fds.get_mut(&n).expect("found").socket = Socket::Connection(h);
                        if !fd.nonblocking {
                            // A blocking connect returns with the handshake.
                            return Ok(Call::Blocks(Wait::Connect(h)));
                        }
                        Err("EINPROGRESS")
                    }
                    Err(e) => Err(errno(e)),
                }
            }
            "write" | "send" | "sendto" | "writev" | "sendmsg" => {
                let (_, fd) = self.fd(line, call)?;
                let (len, flags) = io_shape(line, call)?;
                let nonblocking = fd.nonblocking || flags.iter().any(|f| f == "MSG_DONTWAIT");
                let urgent = flags.iter().any(|f| f == "MSG_OOB");
                if let Some(flag) =
                    flags.iter().find(|f| !["MSG_DONTWAIT", "MSG_NOSIGNAL", "MSG_OOB"].contains(&f.as_str()))
                {
                    return skip(format!("{} with {flag}: not mapped to the stack", call.name));
                }
                let Socket::Connection(h) = fd.socket else { return Ok(Call::Done(Err("ENOTCONN"))) };
                let done = match wait {
                    Some(Wait::Write(done)) => done,
                    _ => 0,
                };
                // No more than fits: the script's length may be anything.
                let data = vec![0; (len - done).min(self.stack().send_capacity(h).max(1))];
                // A blocking write returns when all of it is in the send
                // buffer; a non-blocking one with what fit.
                let sent =
                    if urgent { self.stack().send_urgent(now, h, &data) } else { self.stack().send(now, h, &data) };
                match sent {
                    Ok(k) if nonblocking || done + k == len => Ok((done + k) as i64),
                    Ok(k) => return Ok(Call::Blocks(Wait::Write(done + k))),
                    Err(Error::WouldBlock) if !nonblocking => return Ok(Call::Blocks(Wait::Write(done))),
                    Err(_) if done > 0 => Ok(done as i64),
                    Err(e) => Err(errno(e)),
                }
            }
            "read" | "recv" | "recvfrom" | "readv" | "recvmsg" => {
                let (_, fd) = self.fd(line, call)?;
                let (len, flags) = io_shape(line, call)?;
                let peek = flags.iter().any(|f| f == "MSG_PEEK");
                let nonblocking = fd.nonblocking || flags.iter().any(|f| f == "MSG_DONTWAIT");
                if let Some(flag) = flags.iter().find(|f| !["MSG_DONTWAIT", "MSG_PEEK"].contains(&f.as_str())) {
                    return skip(format!("{} with {flag}: not mapped to the stack", call.name));
                }
                let Socket::Connection(h) = fd.socket else { return Ok(Call::Done(Err("ENOTCONN"))) };
                // No more than the stack's receive buffer can hold.
                let mut buf = vec![0; len.min(self.config.recv_buffer)];
                let read = if peek { self.stack().peek(h, &mut buf) } else { self.stack().recv(now, h, &mut buf) };
                match read {
                    Ok(k) => Ok(k as i64),
                    Err(Error::WouldBlock) if !nonblocking => return Ok(Call::Blocks(Wait::Again)),
                    Err(e) => Err(errno(e)),
                }
            }
            "close" => {
                let (n, fd) = self.fd(line, call)?;
                match fd.socket {
                    Socket::Connection(h) if fd.linger_zero => self.stack().abort(now, h),
                    Socket::Connection(h) => self.stack().close(now, h),
                    Socket::Listener { port } => {
                        for h in self.ready.remove(&port).unwrap_or_default() {
                            self.stack().abort(now, h);
                        }
                        self.stack().unlisten(now, port)
                    }
                    Socket::Fresh { .. } => {}
                }
                self.fds.remove(&n);
                Ok(0)
            }
            "shutdown" => {
                let (_, fd) = self.fd(line, call)?;
                let (read, write) = match names(&arg(1)).join("|").as_str() {
                    "SHUT_RD" => (true, false),
                    "SHUT_WR" => (false, true),
                    "SHUT_RDWR" => (true, true),
                    other => return fail(line, format!("shutdown({other}): no such way")),
                };
                let Socket::Connection(h) = fd.socket else { return Ok(Call::Done(Err("ENOTCONN"))) };
                let stack = self.stack();
                let shut_read = if read { stack.shutdown_read(now, h) } else { Ok(()) };
                let shut = shut_read.and_then(|()| if write { stack.shutdown(now, h) } else { Ok(()) });
                shut.map(|()| 0).map_err(errno)
            }
            "fcntl" => {
                let (n, fd) = self.fd(line, call)?;
                match names(&arg(1)).first().map(String::as_str) {
                    Some("F_GETFL") => Ok(O_RDWR | if fd.nonblocking { O_NONBLOCK } else { 0 }),
                    Some("F_SETFL") => {
                        let flags = names(&arg(2));
                        self.fds.get_mut(&n).expect("found").nonblocking = flags.iter().any(|f| f == "O_NONBLOCK");
                        Ok(0)
                    }
                    other => return skip(format!("fcntl {other:?}")),
                }
            }
            // ioctl FIONREAD/SIOCINQ and TIOCOUTQ/SIOCOUTQ: the bytes waiting
            // to be read, and those written and not yet acknowledged.
            "ioctl" => {
                let (_, fd) = self.fd(line, call)?;
                let request = names(&arg(1)).join("|");
                let stack = self.stack();
                let h = match fd.socket {
                    Socket::Connection(h) => Some(h),
                    _ => None,
                };
                let got = match request.as_str() {
                    "FIONREAD" | "SIOCINQ" => h.and_then(|h| stack.tcb(h)).map_or(0, |t| t.recv_queue()),
                    "TIOCOUTQ" | "SIOCOUTQ" => h.map_or(0, |h| stack.send_queue(h)),
                    other => return skip(format!("ioctl {other}")),
                };
                match arg(2).int() {
                    Some(want) if want != got as i64 => {
                        return fail(line, format!("ioctl {request} gave {got}, the script expects {want}"))
                    }
                    _ => Ok(0),
                }
            }
            "poll" => match self.poll(line, call, timed_out)? {
                Some(count) => Ok(count),
                None => return Ok(Call::Blocks(Wait::Again)),
            },
            "setsockopt" => self.setsockopt(line, call)?,
            "getsockopt" => self.getsockopt(line, call)?,
            other => return skip(format!("the system call {other}: not mapped to the stack")),
        };
        Ok(Call::Done(got))
    }

    /// Compare a call's result with the script's `= value [ERRNO]`.
    fn check_result(&self, line: usize, call: &Syscall, got: Result<i64, &'static str>) -> Step {
        let want_ret = call.ret.int();
        let same_errno = |a: &str, b: &str| {
            let norm = |e: &str| if e == "EWOULDBLOCK" { "EAGAIN".to_string() } else { e.to_string() };
            norm(a) == norm(b)
        };
        let ok = match (&got, want_ret, call.errno.as_deref()) {
            (Ok(v), Some(w), None) => *v == w,
            (Err(e), Some(-1), Some(want)) => same_errno(e, want),
            // `= -1` alone: any error.
            (Err(_), Some(-1), None) => true,
            _ => false,
        };
        if ok {
            return Ok(());
        }
        let want = match &call.errno {
            Some(e) => format!("-1 {e}"),
            None => format!("{:?}", call.ret),
        };
        let got = match got {
            Ok(v) => v.to_string(),
            Err(e) => format!("-1 {e}"),
        };
        fail(line, format!("{} returned {got}, expected {want}", call.name))
    }

    /// `poll([{fd=4, events=POLLIN, revents=POLLIN}, ...], n, timeout)`:
    /// how many descriptors have events, each descriptor's `revents`
    /// checked against the script's when it returns. It waits (the call
    /// blocks) while none has and the timeout is not 0 or up.
    fn poll(&mut self, line: usize, call: &Syscall, timed_out: bool) -> Result<Option<i64>, Stop> {
        let Some(Expr::List(entries)) = call.args.first() else { return fail(line, "poll: expected [{fd=...}]") };
        let timeout = call.args.get(2).and_then(Expr::int).unwrap_or(0);
        let mut got = Vec::new();
        for entry in entries {
            let Expr::Struct(fields) = entry else { return fail(line, "poll: expected {fd=..., events=...}") };
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let Some(fd) = field("fd").and_then(Expr::int) else { return fail(line, "poll: no fd") };
            let events = match field("events") {
                Some(e) => poll_mask(line, e)?,
                None => 0,
            };
            // Errors and hang-ups are reported whether asked for or not.
            let revents = self.readiness(fd) & (events | POLLERR | POLLHUP | POLLNVAL);
            got.push((fd, revents, field("revents")));
        }
        let count = got.iter().filter(|(_, r, _)| *r != 0).count() as i64;
        if count == 0 && timeout != 0 && !timed_out {
            return Ok(None);
        }
        for (fd, revents, want) in got {
            let Some(want) = want else { continue };
            let want = poll_mask(line, want)?;
            if want != revents {
                let (got, want) = (poll_names(revents), poll_names(want));
                return fail(line, format!("poll: fd {fd} revents {got}, the script expects {want}"));
            }
        }
        Ok(Some(count))
    }

    /// The events a descriptor has now, as Linux and FreeBSD report them:
    /// POLLIN with data or at EOF (POLLRDHUP too once the peer's FIN is in),
    /// POLLOUT with room in an open connection or once sending is shut,
    /// POLLERR and all of the above after an error, POLLHUP once neither
    /// side can send (or the socket is not connected), POLLPRI with urgent
    /// data; a listener is readable with a connection to accept.
    fn readiness(&mut self, n: i64) -> i64 {
        let Some(fd) = self.fds.get(&n).copied() else { return POLLNVAL };
        let h = match fd.socket {
            Socket::Fresh { .. } => return POLLHUP,
            Socket::Listener { port } => {
                if self.ready.get(&port).is_none_or(VecDeque::is_empty) {
                    if let Some(h) = self.stack().accept(port) {
                        self.ready.entry(port).or_default().push_back(h);
                    }
                }
                return if self.ready.get(&port).is_some_and(|q| !q.is_empty()) { POLLIN | POLLRDNORM } else { 0 };
            }
            Socket::Connection(h) => h,
        };
        let stack = self.stack();
        let room = stack.send_capacity(h) > 0;
        let urgent = stack.urgent(h).is_some();
        let Some(tcb) = stack.tcb(h) else { return POLLHUP };
        let readable = tcb.peek(&mut [0]);
        let mut mask = 0;
        if tcb.error.is_some() {
            return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP | POLLRDHUP;
        }
        let state = tcb.state;
        let send_shut = !matches!(state, State::SynSent | State::SynReceived | State::Established | State::CloseWait);
        match readable {
            Ok(0) => mask |= POLLIN | POLLRDNORM | if state.fin_received() { POLLRDHUP } else { 0 },
            Ok(_) => mask |= POLLIN | POLLRDNORM,
            Err(_) => {}
        }
        if (room && matches!(state, State::Established | State::CloseWait)) || send_shut {
            mask |= POLLOUT | POLLWRNORM;
        }
        if send_shut && (state.fin_received() || state == State::Closed) {
            mask |= POLLHUP;
        }
        if urgent {
            mask |= POLLPRI;
        }
        mask
    }

    fn setsockopt(&mut self, line: usize, call: &Syscall) -> Result<Result<i64, &'static str>, Stop> {
        let (n, fd) = self.fd(line, call)?;
        let name = names(&call.args.get(2).cloned().unwrap_or(Expr::Ellipsis)).join("|");
        let value = call.args.get(3).cloned().unwrap_or(Expr::Ellipsis);
        match name.as_str() {
            // No effect on the wire (SO_DEBUG), or per stack rather than per
            // socket (the buffer sizes, which the rule above makes notes).
            "SO_REUSEADDR" | "SO_REUSEPORT" | "SO_DEBUG" => {}
            "SO_SNDBUF" | "SO_RCVBUF" => self.notes.push(format!("line {line}: setsockopt {name} ignored")),
            "SO_LINGER" => {
                let field = |k: &str| match &value {
                    Expr::Struct(fields) => fields.iter().find(|(f, _)| f == k).and_then(|(_, v)| v.int()),
                    _ => None,
                };
                match (field("l_onoff").or(field("onoff")), field("l_linger").or(field("linger"))) {
                    (Some(0), _) => self.fds.get_mut(&n).expect("found").linger_zero = false,
                    (Some(_), Some(0)) => self.fds.get_mut(&n).expect("found").linger_zero = true,
                    _ => return skip("SO_LINGER with a nonzero time: the stack's close does not wait"),
                }
            }
            "TCP_NODELAY" => {
                let on = value.int().unwrap_or(0) != 0;
                self.fds.get_mut(&n).expect("found").nodelay = on;
                if let Socket::Connection(h) = fd.socket {
                    self.stack().set_nodelay(h, on);
                }
            }
            "TCP_NOOPT" if matches!(fd.socket, Socket::Fresh { .. }) => {
                self.fds.get_mut(&n).expect("found").noopt = value.int().unwrap_or(0) != 0;
            }
            "TCP_KEEPINIT" => {
                return skip(
                    "setsockopt TCP_KEEPINIT: the stack's SYN timeout is per stack (MUST-23: at least 3 minutes)",
                )
            }
            other => return skip(format!("setsockopt {other}: the stack has no such per-socket option")),
        }
        Ok(Ok(0))
    }

    fn getsockopt(&mut self, line: usize, call: &Syscall) -> Result<Result<i64, &'static str>, Stop> {
        let (n, fd) = self.fd(line, call)?;
        let name = names(&call.args.get(2).cloned().unwrap_or(Expr::Ellipsis)).join("|");
        let want = call.args.get(3).cloned().unwrap_or(Expr::Ellipsis);
        let handle = match fd.socket {
            Socket::Connection(h) => Some(h),
            _ => None,
        };
        match name.as_str() {
            // FreeBSD's SO_ERROR is the error that ended the connection,
            // read once; its soft errors (`t_softerror`, our
            // `take_soft_error`) stay out of it, and the scripts expect 0
            // after one.
            "SO_ERROR" => {
                let error = handle.and_then(|h| self.stack().tcb(h).and_then(|t| t.error));
                let got = match error {
                    Some(e) if !fd.error_reported => {
                        self.fds.get_mut(&n).expect("found").error_reported = true;
                        errno(e)
                    }
                    _ => "0",
                };
                let want = match &want {
                    Expr::List(v) if v.len() == 1 => match &v[0] {
                        Expr::Int(0) => "0".to_string(),
                        Expr::Name(e) => e.clone(),
                        other => return fail(line, format!("SO_ERROR: cannot read {other:?}")),
                    },
                    Expr::Ellipsis => got.to_string(),
                    other => return fail(line, format!("SO_ERROR: cannot read {other:?}")),
                };
                if want != got {
                    return fail(line, format!("getsockopt SO_ERROR gave {got}, expected {want}"));
                }
            }
            "SO_RCVBUF" | "SO_SNDBUF" => {
                let config = &self.config;
                let size = if name == "SO_SNDBUF" {
                    config.send_buffer
                } else {
                    let tcb = handle.and_then(|h| self.stack.as_ref().and_then(|s| s.tcb(h)));
                    tcb.map_or(config.recv_buffer_initial, |t| t.rcv_buf.size)
                };
                if let Some(script) = want.int().filter(|&w| w != size as i64) {
                    self.notes.push(format!("line {line}: {name} {size}, script {script}"));
                }
            }
            other => return skip(format!("getsockopt {other}")),
        }
        Ok(Ok(0))
    }

    /// A sysctl, FreeBSD's (`net.inet.tcp.*`) or Linux's (`net.ipv4.tcp_*`):
    /// the ones that set the defaults the suites assume, or behaviour the
    /// stack has anyway, are ignored; the ones the stack has a switch for
    /// configure it (before it starts: after, a change skips); the rest skip.
    fn sysctl(&mut self, name: &str, value: &str) -> Step {
        let text = value.trim().trim_matches('"');
        let v: i64 = text.parse().unwrap_or(-1);
        // Linux's `tcp_rmem`/`tcp_wmem` are "min default max".
        let default_of_three = || text.split_whitespace().nth(1).and_then(|d| d.parse::<usize>().ok());
        let mut c = self.config.clone();
        let name = name.trim();
        match (name.strip_prefix("net.inet.tcp.").or(name.strip_prefix("net.ipv4.")).unwrap_or(name), v) {
            ("rfc1323", 0 | 1) => (c.window_scaling, c.timestamps) = (v == 1, v == 1),
            ("sack.enable" | "tcp_sack", 0 | 1) => c.sack = v == 1,
            ("tcp_timestamps", 0..=2) => c.timestamps = v != 0,
            ("tcp_window_scaling", 0 | 1) => c.window_scaling = v == 1,
            ("syncookies" | "tcp_syncookies", 0 | 1) => c.syn_cookies = v == 1,
            ("icmp_may_rst", 0 | 1) => c.icmp_may_abort = v == 1,
            ("recvspace", v) if v > 0 => c.recv_buffer_initial = v as usize,
            ("sendspace", v) if v > 0 => c.send_buffer = v as usize,
            ("tcp_rmem", _) if default_of_three().is_some() => c.recv_buffer_initial = default_of_three().unwrap_or(0),
            ("tcp_wmem", _) if default_of_three().is_some() => c.send_buffer = default_of_three().unwrap_or(0),
            // Linux's "reno" is NewReno (RFC 5681, RFC 6582).
            ("cc.algorithm" | "tcp_congestion_control", _) => {
                match (if text == "reno" { "newreno" } else { text }).parse::<Algorithm>() {
                    Ok(algorithm) => c.congestion = algorithm,
                    Err(_) => return skip(format!("sysctl {name}={text}: the stack has newreno and cubic")),
                }
            }
            ("insecure_rst", 0 | 1) => c.rst_challenge = v == 0,
            ("insecure_syn", 0 | 1) => c.syn_challenge = v == 0,
            ("drop_synfin", 0 | 1) => c.drop_syn_fin = v == 1,
            ("rexmit_drop_options", 1) => {
                return skip(
                    "sysctl rexmit_drop_options=1: FreeBSD's SYN retransmissions without options, \
                     a middlebox workaround RFC 9293 does not ask for",
                )
            }
            // FreeBSD's defaults, the suite sets them all: ignored, though
            // the stack differs from some (it has no ECN to answer with
            // (ecn.enable=2), no RTO slop (rexmit_slop)). Others are what
            // the stack does anyway: RST to closed ports, a 1 s initial RTO,
            // options kept on SYN retransmissions, RFC 6928's initial window
            // of 10 segments (initcwnd_segments=10). Linux's: no ECN
            // (tcp_ecn=0) or ECN only when asked (2), no Fast Open.
            ("ecn.enable", 0 | 2)
            | ("ecn.maxretries", _)
            | ("blackhole", 0)
            | ("rexmit_initial", 1000)
            | ("rexmit_slop", 200)
            | ("rexmit_drop_options", 0)
            | ("keepinit", 75000)
            | ("syncookies_only", 0)
            | ("tolerate_missing_ts", 0)
            | ("hostcache.purgenow", _)
            | ("tcp_ecn", 0 | 2)
            | ("tcp_fastopen", 0)
            | ("initcwnd_segments", 10) => {}
            ("kern.ipc.maxsockbuf", _) => {}
            _ => return skip(format!("sysctl {name}={text}: the stack has no such switch")),
        }
        if format!("{c:?}") != format!("{:?}", self.config) {
            if self.stack.is_some() {
                return skip(format!("sysctl {name}={text} after the stack started"));
            }
            self.config = c;
        }
        Ok(())
    }

    /// A backtick command: one or more lines of shell. Settings (sysctls,
    /// Linux's `set_sysctls.py`, `echo N > /proc/sys/...`, and the scripts
    /// that set or restore the suite's defaults) go to `sysctl`; `sockstat
    /// ... | grep -c STATE | grep N` counts the stack's connections; any
    /// other command skips.
    fn shell(&mut self, line: usize, cmd: &str) -> Step {
        for command in commands(cmd) {
            match setting(command) {
                Some(settings) => {
                    for (name, value) in settings {
                        self.sysctl(&name, &value)?;
                    }
                }
                None if command.starts_with("sockstat") => self.sockstat(line, command)?,
                None => {
                    let program = command.split_whitespace().next().unwrap_or(command);
                    return skip(format!("the shell command `{program}`"));
                }
            }
        }
        Ok(())
    }

    /// `sockstat -4 -P tcp [-p PORT] -s | grep packetdril | grep -c STATE | grep N`
    fn sockstat(&mut self, line: usize, cmd: &str) -> Step {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let port: Option<u16> = words.iter().position(|w| *w == "-p").and_then(|i| words.get(i + 1)?.parse().ok());
        let state = words.iter().position(|w| *w == "-c").and_then(|i| words.get(i + 1));
        let want = cmd.rsplit("grep").next().and_then(|n| n.trim().parse::<usize>().ok());
        let (Some(state), Some(want)) = (state, want) else { return skip(format!("the shell command `{cmd}`")) };
        let got = self.count_state(state, port);
        if got != want {
            return fail(line, format!("{got} sockets in {state}, the script expects {want}"));
        }
        Ok(())
    }

    /// Sockets in the state `name` (sockstat's spelling), on `port` if given.
    fn count_state(&mut self, name: &str, port: Option<u16>) -> usize {
        if name == "TIME_WAIT" {
            return self.stack().time_wait_count();
        }
        if name == "LISTEN" {
            return (self.fds.values())
                .filter(|fd| matches!(fd.socket, Socket::Listener { port: p } if port.is_none_or(|q| q == p)))
                .count();
        }
        let stack = self.stack();
        (stack.tcbs())
            .filter(|t| t.state != State::TimeWait && sockstat_name(t.state) == name)
            .filter(|t| port.is_none_or(|p| t.local.port() == p || t.remote.port() == p))
            .count()
    }

    /// `%{ assert tcpi_state == TCPI_X }%` and `tcpi_options == N`, asked
    /// of the socket created last; any other Python skips.
    fn python(&mut self, line: usize, code: &str) -> Step {
        let statements = code.split(['\n', ';']).map(str::trim).filter(|s| !s.is_empty());
        for statement in statements {
            self.assert(line, statement)?;
        }
        Ok(())
    }

    /// One `assert tcpi_X == Y[, message]`, with FreeBSD's (`TCPI_...`) or
    /// Linux's (`TCP_...`) names of states.
    fn assert(&mut self, line: usize, statement: &str) -> Step {
        let unknown = || skip(format!("Python `{statement}`"));
        let Some(check) = statement.strip_prefix("assert").map(|c| c.split(',').next().unwrap_or(c).trim()) else {
            return unknown();
        };
        let Some((what, want)) = check.split_once("==").map(|(a, b)| (a.trim(), b.trim())) else {
            return unknown();
        };
        let fd = self.under_test.and_then(|n| self.fds.get(&n).copied());
        let tcb = match fd.map(|f| f.socket) {
            Some(Socket::Connection(h)) => self.stack().tcb(h),
            _ => None,
        };
        let got = match what {
            "tcpi_state" => match fd.map(|f| f.socket) {
                Some(Socket::Listener { .. }) => "LISTEN".to_string(),
                _ => tcb.map_or("CLOSED", |t| sockstat_name(t.state)).to_string(),
            },
            "tcpi_options" => {
                let o = tcb.map(|t| t.options);
                let bits = o.map_or(0, |o| {
                    u8::from(o.timestamps) | u8::from(o.sack_permitted) << 1 | u8::from(o.window_scale.is_some()) << 2
                });
                bits.to_string()
            }
            _ => return unknown(),
        };
        let want = want.strip_prefix("TCPI_").or(want.strip_prefix("TCP_")).unwrap_or(want);
        let want = match want {
            "SYN_RECV" | "SYN_RECEIVED" => "SYN_RCVD",
            "FIN_WAIT1" => "FIN_WAIT_1",
            "FIN_WAIT2" => "FIN_WAIT_2",
            "CLOSE" => "CLOSED",
            other => other,
        };
        if got != want {
            return fail(line, format!("{what} is {got}, the script asserts {want}"));
        }
        Ok(())
    }
}

/// The length and flags of a read or write call: `write(fd, buf, len)`,
/// `send(fd, buf, len, flags)`, `sendto(fd, buf, len, flags, addr, len)`,
/// `writev(fd, [{..., 100}, ...], n)`, `sendmsg(fd, {msg_iov(1)=[...],
/// ...}, flags)`, and the same for reading. The address of `sendto` is
/// ignored: the socket is connected. Ancillary data (`msg_control`) skips.
fn io_shape(line: usize, call: &Syscall) -> Result<(usize, Vec<String>), Stop> {
    let arg = |i: usize| call.args.get(i).cloned().unwrap_or(Expr::Ellipsis);
    // An iovec array: each `{base, len}` or `{iov_base=..., iov_len=N}`.
    let iov_len = |e: &Expr| -> Result<usize, Stop> {
        let Expr::List(iovs) = e else { return skip(format!("{}: an iovec that is not a list", call.name)) };
        iovs.iter().try_fold(0, |sum, iov| match iov {
            Expr::Struct(fields) => match fields.iter().rev().find(|(k, _)| k.is_empty() || k == "iov_len") {
                Some((_, v)) => Ok(sum + v.int().unwrap_or(0).max(0) as usize),
                None => fail(line, format!("{}: an iovec without a length", call.name)),
            },
            _ => fail(line, format!("{}: an iovec that is not {{base, len}}", call.name)),
        })
    };
    let (len, flags) = match call.name.as_str() {
        "write" | "read" => (arg(2).int(), Expr::Ellipsis),
        "writev" | "readv" => (Some(iov_len(&arg(1))? as i64), Expr::Ellipsis),
        "sendmsg" | "recvmsg" => {
            let Expr::Struct(msg) = arg(1) else { return skip(format!("{}: a msghdr it cannot read", call.name)) };
            let field = |name: &str| msg.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            if field("msg_control").is_some_and(|c| c != Expr::Ellipsis && c != Expr::List(Vec::new())) {
                return skip(format!("{} with ancillary data (msg_control)", call.name));
            }
            (Some(iov_len(&field("msg_iov").unwrap_or(Expr::List(Vec::new())))? as i64), arg(2))
        }
        _ => (arg(2).int(), arg(3)),
    };
    let flags = names(&flags).into_iter().filter(|f| f != "0").collect();
    Ok((len.unwrap_or(0).max(0) as usize, flags))
}

/// The commands of a backtick block: one a line (or split by `;`), with
/// `#` comments and blank lines dropped.
fn commands(block: &str) -> impl Iterator<Item = &str> {
    (block.split(['\n', ';']))
        .map(|c| c.split_once(" #").map_or(c, |(c, _)| c).trim())
        .filter(|c| !c.is_empty() && !c.starts_with('#'))
}

/// The `(name, value)` settings a command makes, or `None` if it is not a
/// setting. The scripts that set the suite's defaults (Linux's
/// `defaults.sh`) or restore them afterwards set nothing here: the stack's
/// defaults are what the scripts assume, and their differences are notes.
fn setting(command: &str) -> Option<Vec<(String, String)>> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let program = words.first()?.rsplit('/').next()?;
    let from_proc = |path: &str| path.trim_start_matches("/proc/sys/").replace('/', ".");
    match program {
        "defaults.sh" => Some(Vec::new()),
        p if p.starts_with("sysctl_restore") => Some(Vec::new()),
        "sysctl" => {
            let assignment = words[1..].iter().filter(|w| !w.starts_with('-')).copied().collect::<Vec<_>>().join(" ");
            let (name, value) = assignment.split_once('=')?;
            Some(vec![(name.trim().to_string(), value.trim().to_string())])
        }
        "set_sysctls.py" => {
            let rest = command.split_once(char::is_whitespace)?.1;
            // `path=value` pairs; a quoted value may hold spaces.
            let mut out = Vec::new();
            let mut rest = rest.trim();
            while let Some((path, after)) = rest.split_once('=') {
                let (value, next) = match after.strip_prefix('"') {
                    Some(q) => q.split_once('"')?,
                    None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
                };
                out.push((from_proc(path.trim()), value.to_string()));
                rest = next.trim();
            }
            Some(out)
        }
        "echo" if words.get(2) == Some(&">") => Some(vec![(from_proc(words.get(3)?), words[1].to_string())]),
        _ => None,
    }
}

/// packetdrill's names of ICMP types and codes: ICMPv4's (RFC 792, RFC
/// 1812), or with `v6` ICMPv6's (RFC 4443).
fn icmp_type_code(v6: bool, kind: &str, code: Option<&str>) -> Option<(u8, u8)> {
    const UNREACHABLE: [&str; 16] = [
        "net_unreachable",
        "host_unreachable",
        "protocol_unreachable",
        "port_unreachable",
        "frag_needed",
        "source_route_failed",
        "net_unknown",
        "host_unknown",
        "source_host_isolated",
        "net_prohibited",
        "host_prohibited",
        "net_unreachable_for_tos",
        "host_unreachable_for_tos",
        "packet_filtered",
        "precedence_violation",
        "precedence_cutoff",
    ];
    const UNREACHABLE_V6: [&str; 5] =
        ["no_route", "admin_prohibited", "not_neighbour", "address_unreachable", "port_unreachable"];
    let index = |names: &[&str]| names.iter().position(|n| Some(*n) == code).map(|i| i as u8);
    match (v6, kind) {
        (false, "unreachable") => Some((3, index(&UNREACHABLE)?)),
        (false, "time_exceeded") => Some((11, index(&["ttl_exceeded_in_transit", "frag_reass_exceeded"])?)),
        (false, "parameter_problem") => Some((12, code?.strip_prefix("code_")?.parse().ok()?)),
        (false, "source_quench") if code.is_none() => Some((4, 0)),
        (false, "redirect") if code.is_none() => Some((5, 0)),
        (true, "unreachable") => Some((1, index(&UNREACHABLE_V6)?)),
        (true, "packet_too_big") if code.is_none() => Some((2, 0)),
        (true, "time_exceeded") => Some((3, index(&["exceeded_hop_limit", "exceeded_frag_time"])?)),
        (true, "parameter_problem") => Some((4, index(&["header_field", "unknown_next_header", "unknown_option"])?)),
        _ => None,
    }
}

/// The calls mapped to the stack whose first argument is a descriptor:
/// one the script has not opened is EBADF.
const FD_CALLS: [&str; 21] = [
    "ioctl",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "write",
    "send",
    "sendto",
    "writev",
    "sendmsg",
    "read",
    "recv",
    "recvfrom",
    "readv",
    "recvmsg",
    "close",
    "shutdown",
    "fcntl",
    "setsockopt",
    "getsockopt",
];

/// poll's events (Linux's values; only the names meet the script).
const POLL_EVENTS: [(&str, i64); 9] = [
    ("POLLIN", POLLIN),
    ("POLLPRI", POLLPRI),
    ("POLLOUT", POLLOUT),
    ("POLLERR", POLLERR),
    ("POLLHUP", POLLHUP),
    ("POLLNVAL", POLLNVAL),
    ("POLLRDNORM", POLLRDNORM),
    ("POLLWRNORM", POLLWRNORM),
    ("POLLRDHUP", POLLRDHUP),
];
const POLLIN: i64 = 0x1;
const POLLPRI: i64 = 0x2;
const POLLOUT: i64 = 0x4;
const POLLERR: i64 = 0x8;
const POLLHUP: i64 = 0x10;
const POLLNVAL: i64 = 0x20;
const POLLRDNORM: i64 = 0x40;
const POLLWRNORM: i64 = 0x100;
const POLLRDHUP: i64 = 0x2000;

/// `POLLIN | POLLOUT` or a number, as a mask.
fn poll_mask(line: usize, e: &Expr) -> Result<i64, Stop> {
    if let Some(n) = e.int() {
        return Ok(n);
    }
    names(e).iter().try_fold(0, |mask, name| match POLL_EVENTS.iter().find(|(n, _)| n == name) {
        Some((_, bit)) => Ok(mask | bit),
        None => fail(line, format!("poll: unknown event {name}")),
    })
}

fn poll_names(mask: i64) -> String {
    let names: Vec<&str> = POLL_EVENTS.iter().filter(|(_, bit)| mask & bit != 0).map(|(n, _)| *n).collect();
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

const O_RDWR: i64 = 0x2;
const O_NONBLOCK: i64 = 0x4;

/// A state as sockstat and `tcpi_state` name it.
fn sockstat_name(state: State) -> &'static str {
    match state {
        State::Closed => "CLOSED",
        State::SynSent => "SYN_SENT",
        State::SynReceived => "SYN_RCVD",
        State::Established => "ESTABLISHED",
        State::FinWait1 => "FIN_WAIT_1",
        State::FinWait2 => "FIN_WAIT_2",
        State::CloseWait => "CLOSE_WAIT",
        State::Closing => "CLOSING",
        State::LastAck => "LAST_ACK",
        State::TimeWait => "TIME_WAIT",
    }
}

fn errno(e: Error) -> &'static str {
    match e {
        Error::InvalidSocket => "ENOTCONN",
        Error::WouldBlock => "EAGAIN",
        Error::Closing => "EPIPE",
        Error::Refused => "ECONNREFUSED",
        Error::Reset => "ECONNRESET",
        Error::TimedOut => "ETIMEDOUT",
        Error::NetUnreachable => "ENETUNREACH",
        Error::HostUnreachable => "EHOSTUNREACH",
        Error::Protocol => "EPROTO",
        // Only ever a soft error, which SO_ERROR does not read (`getsockopt`).
        Error::Retrying => "ETIMEDOUT",
        Error::AddrInUse => "EADDRINUSE",
        Error::Exhausted => "EADDRNOTAVAIL",
        Error::InvalidAddress => "EAFNOSUPPORT", // FreeBSD's tcp_usr_connect to broadcast or multicast
    }
}

/// The symbols of an argument: `O_RDWR | O_NONBLOCK` gives both.
fn names(e: &Expr) -> Vec<String> {
    match e {
        Expr::Name(n) => vec![n.clone()],
        Expr::Or(terms) => terms.iter().flat_map(names).collect(),
        _ => Vec::new(),
    }
}

fn flags(letters: &str) -> Flags {
    letters.chars().fold(Flags::empty(), |f, c| {
        f | match c {
            'F' => Flags::FIN,
            'S' => Flags::SYN,
            'R' => Flags::RST,
            'P' => Flags::PSH,
            '.' => Flags::ACK,
            'U' => Flags::URG,
            'E' => Flags::ECE,
            'W' | 'C' => Flags::CWR,
            _ => Flags::empty(),
        }
    })
}

fn flag_letters(f: Flags) -> String {
    let mut s: String = [(Flags::FIN, 'F'), (Flags::SYN, 'S'), (Flags::RST, 'R'), (Flags::PSH, 'P')]
        .into_iter()
        .chain([(Flags::URG, 'U'), (Flags::ECE, 'E'), (Flags::CWR, 'W')])
        .filter(|(flag, _)| f.contains(*flag))
        .map(|(_, c)| c)
        .collect();
    if f.contains(Flags::ACK) {
        s.push('.');
    }
    s
}

/// The script's own words for a packet it expects.
fn show(p: &Packet) -> String {
    let mut s = p.flags.clone();
    match p.seq {
        Some((a, b)) => s += &format!(" {a}:{b}({})", p.len),
        None => s += &format!(" ...({})", p.len),
    }
    if let Some(ack) = p.ack {
        s += &format!(" ack {ack}");
    }
    if let Some(win) = p.win {
        s += &format!(" win {win}");
    }
    s
}

/// The IP header of a packet from `src` to `dst` carrying `payload_len`
/// bytes of `protocol`, or `None` if they do not fit in one packet (IPv4's
/// total length and IPv6's payload length are 16 bits).
fn ip_header(src: IpAddr, dst: IpAddr, protocol: u8, payload_len: usize) -> Option<Vec<u8>> {
    let hop_limit = if src.is_ipv4() { Ipv4Repr::DEFAULT_TTL } else { Ipv6Repr::DEFAULT_HOP_LIMIT };
    let mut ip = IpRepr::new(src, dst, protocol, hop_limit, 0);
    let limit = match ip {
        IpRepr::V4(_) => usize::from(u16::MAX) - Ipv4Repr::HEADER_LEN,
        IpRepr::V6(_) => usize::from(u16::MAX),
    };
    if payload_len > limit {
        return None;
    }
    ip.set_payload_len(payload_len);
    let mut header = vec![0; ip.header_len()];
    ip.emit(&mut header);
    Some(header)
}

/// A TCP segment we sent, with what its IP header says of it.
struct Sent<'a> {
    src: IpAddr,
    dst: IpAddr,
    /// The low two bits of IPv4's TOS byte or IPv6's Traffic Class (RFC
    /// 3168 §5).
    ecn: u8,
    tcp: &'a [u8],
}

/// The TCP segment in a packet we sent, if it carries one: the version
/// picks the header.
fn tcp_of(packet: &[u8]) -> Option<Sent<'_>> {
    let (src, dst, protocol, class, tcp) = match packet.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(packet).ok()?;
            (ip.src_addr().into(), ip.dst_addr().into(), ip.protocol(), ip.tos(), ip.payload())
        }
        6 => {
            let ip = Ipv6Packet::new_checked(packet).ok()?;
            let (protocol, payload) = ip.upper_layer().ok()?;
            (ip.src_addr().into(), ip.dst_addr().into(), protocol, ip.traffic_class(), payload)
        }
        _ => return None,
    };
    (protocol == PROTO_TCP).then_some(Sent { src, dst, ecn: class & 3, tcp })
}

/// A TCP segment's header, payload length and raw options.
fn parse_tcp(tcp: &[u8]) -> Option<(TcpRepr, usize, &[u8])> {
    let tcp = TcpSegment::new_checked(tcp).ok()?;
    let repr = TcpRepr::parse(&tcp).ok()?;
    Some((repr, tcp.payload().len(), tcp.options()))
}

/// The kinds of the options in `raw`, without NOP and EOL padding.
fn option_kinds(raw: &[u8]) -> Vec<u8> {
    let mut kinds = Vec::new();
    let mut rest = raw;
    while let Some(&kind) = rest.first() {
        match kind {
            0 => break,
            1 => rest = &rest[1..],
            _ => {
                kinds.push(kind);
                let len = usize::from(*rest.get(1).unwrap_or(&2)).max(2);
                rest = rest.get(len..).unwrap_or(&[]);
            }
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::parse::parse;

    /// An active open, a close from our side, and a retransmitted FIN
    /// ACKed in TIME-WAIT.
    const SCRIPT: &str = "--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,nop,sackOK,TS val 1 ecr 0,nop,wscale 7>
+0.1 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>
+0 > . 1:1(0) ack 1 win 65535
+0 %{ assert tcpi_state == TCPI_ESTABLISHED }%
+0.1 shutdown(3, SHUT_WR) = 0
+0 > F. 1:1(0) ack 1 win 65535
+0.1 < F. 1:1(0) ack 2 win 32767
+0 > . 2:2(0) ack 2 win 65535
+0 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1`
+0.1 < F. 1:1(0) ack 2 win 32767
+0 > . 2:2(0) ack 2 win 65535
+0.1 close(3) = 0
";

    fn play(text: &str) -> Outcome {
        run(&parse(text).unwrap())
    }

    /// The script with line `n` (1-based) replaced by `with`.
    fn edit(n: usize, with: &str) -> String {
        edit_of(SCRIPT, n, with)
    }

    /// `script` with line `n` (1-based) replaced by `with`.
    fn edit_of(script: &str, n: usize, with: &str) -> String {
        let mut lines: Vec<&str> = script.lines().collect();
        lines[n - 1] = with;
        lines.join("\n")
    }

    fn failed_at(outcome: Outcome) -> (usize, String) {
        match outcome {
            Outcome::Fail { line, message, .. } => (line, message),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_conversation_the_stack_holds_passes() {
        assert!(matches!(play(SCRIPT), Outcome::Pass { .. }), "{:?}", play(SCRIPT));
    }

    /// The same conversation over IPv6: the peer's segments under IPv6
    /// headers with RFC 8200 §8.1's pseudo-header in their checksum (the
    /// stack drops them otherwise), ours read from IPv6 packets, and the
    /// MSS of a 1500-byte MTU less 60 bytes of headers, not 40.
    #[test]
    fn the_conversation_plays_over_ipv6() {
        let v6 = format!("--ip_version=ipv6\n{}", SCRIPT.replace("<mss 1460,nop", "<mss 1440,nop"));
        assert!(matches!(play(&v6), Outcome::Pass { .. }), "{:?}", play(&v6));
        let (line, message) = failed_at(play(&format!("--ip_version=ipv6\n{SCRIPT}")));
        assert_eq!(line, 7);
        assert!(message.ends_with("MSS"), "{message}");
        // An IPv4 address for an IPv6 script is refused.
        let local4 = format!("--ip_version=ipv6\n--local_ip=192.168.0.1\n{v6}");
        assert!(matches!(play(&local4), Outcome::Skip(r) if r.contains("not an IPv6 address")));
    }

    /// Packets of both families built and read back: the version, the
    /// addresses, the length limits, the ECN codepoint in IPv4's TOS byte
    /// and IPv6's Traffic Class.
    #[test]
    fn ip_headers_of_both_families() {
        let tcp = [0x1f, 0x90, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
        let families: [(IpAddr, IpAddr, usize); 2] =
            [(LOCAL_ADDR.into(), REMOTE_ADDR.into(), 20), (LOCAL_ADDR6.into(), REMOTE_ADDR6.into(), 40)];
        for (src, dst, header_len) in families {
            let mut packet = ip_header(src, dst, PROTO_TCP, tcp.len()).expect("fits");
            assert_eq!((packet.len(), packet[0] >> 4), (header_len, if src.is_ipv4() { 4 } else { 6 }));
            packet.extend_from_slice(&tcp);
            let sent = tcp_of(&packet).expect("a TCP packet");
            assert_eq!((sent.src, sent.dst, sent.ecn, sent.tcp), (src, dst, 0, &tcp[..]));
            // ECT(0) in the TOS byte, or in the Traffic Class, which
            // straddles the first two bytes of IPv6's header.
            let mut ect0 = IpRepr::new(src, dst, PROTO_TCP, 64, 0b10);
            ect0.set_payload_len(tcp.len());
            ect0.emit(&mut packet);
            assert_eq!(tcp_of(&packet).expect("a TCP packet").ecn, 0b10);
            // A packet too short for its header is not read.
            assert!(tcp_of(&packet[..header_len - 1]).is_none());
        }
        // IPv4's total length holds the header, IPv6's payload length not.
        let (v4, v6): (IpAddr, IpAddr) = (LOCAL_ADDR.into(), LOCAL_ADDR6.into());
        assert!(ip_header(v4, v4, PROTO_TCP, 65515).is_some() && ip_header(v4, v4, PROTO_TCP, 65516).is_none());
        assert!(ip_header(v6, v6, PROTO_TCP, 65535).is_some() && ip_header(v6, v6, PROTO_TCP, 65536).is_none());
    }

    /// An ICMPv6 error reaches the connection whose segment it quotes
    /// (RFC 4443 §2.4, RFC 5927 §4.1): Port Unreachable quoting a sequence
    /// number we have not sent is ignored, quoting our SYN it ends the
    /// attempt. The stack drops it if the runner leaves the pseudo-header
    /// out of its checksum (RFC 4443 §2.3), as ICMPv4 would.
    #[test]
    fn an_icmpv6_error_ends_an_attempt() {
        let text = "--ip_version=ipv6
0 `sysctl -w net.inet.tcp.icmp_may_rst=1`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <...>
+0.1 < icmp unreachable port_unreachable [1:1(0)]
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0.1 < icmp unreachable port_unreachable [0:0(0)]
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0";
        assert!(matches!(play(text), Outcome::Pass { .. }), "{:?}", play(text));
        // ICMPv4's names are not ICMPv6's.
        let v4_name = text.replace("port_unreachable [0", "protocol_unreachable [0");
        assert!(matches!(play(&v4_name), Outcome::Skip(r) if r.contains("protocol_unreachable")));
    }

    /// packetdrill's ICMPv6 names (RFC 4443 §3), apart from ICMPv4's.
    #[test]
    fn icmpv6_types_and_codes() {
        assert_eq!(icmp_type_code(true, "unreachable", Some("admin_prohibited")), Some((1, 1)));
        assert_eq!(icmp_type_code(true, "unreachable", Some("port_unreachable")), Some((1, 4)));
        assert_eq!(icmp_type_code(true, "packet_too_big", None), Some((2, 0)));
        assert_eq!(icmp_type_code(true, "time_exceeded", Some("exceeded_hop_limit")), Some((3, 0)));
        assert_eq!(icmp_type_code(true, "parameter_problem", Some("unknown_next_header")), Some((4, 1)));
        assert_eq!(icmp_type_code(false, "unreachable", Some("port_unreachable")), Some((3, 3)));
        // Names of one family are not the other's.
        assert_eq!(icmp_type_code(true, "unreachable", Some("frag_needed")), None);
        assert_eq!(icmp_type_code(false, "packet_too_big", None), None);
        assert_eq!(icmp_type_code(true, "source_quench", None), None);
    }

    #[test]
    fn a_wrong_ack_fails_at_its_line() {
        let (line, message) = failed_at(play(&edit(16, "+0 > . 2:2(0) ack 1 win 65535")));
        assert_eq!(line, 16);
        assert!(message.ends_with("ACK"), "{message}");
    }

    #[test]
    fn wrong_flags_and_option_kinds_fail() {
        assert!(failed_at(play(&edit(11, "+0 > . 1:1(0) ack 1 win 65535"))).1.ends_with("flags"));
        let (line, message) = failed_at(play(&edit(6, "+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 7>")));
        assert_eq!(line, 6);
        assert!(message.contains("option kinds"), "{message}");
        assert!(failed_at(play(&edit(6, "+0 > S 0:0(0) win 65535 <mss 1000,sackOK,TS val 1 ecr 0,wscale 7>")))
            .1
            .ends_with("MSS"));
        // A closed window where the stack's is open.
        assert!(failed_at(play(&edit(8, "+0 > . 1:1(0) ack 1 win 0"))).1.contains("window"));
    }

    #[test]
    fn an_unexpected_segment_fails() {
        // The TIME-WAIT ACK is sent but no line expects it.
        let (line, message) = failed_at(play(&edit(16, "// nothing")));
        assert_eq!(line, 17);
        assert!(message.starts_with("unexpected segment . 2:2(0) ack 2"), "{message}");
    }

    #[test]
    fn a_missing_segment_fails() {
        let (line, message) = failed_at(play(&edit(17, "+0.1 > . 2:2(0) ack 2 win 65535")));
        assert_eq!(line, 17);
        assert!(message.contains("nothing was sent"), "{message}");
    }

    #[test]
    fn a_segment_outside_the_tolerance_fails() {
        let (line, message) = failed_at(play(&edit(11, "+0.5 > F. 1:1(0) ack 1 win 65535")));
        assert_eq!(line, 11);
        assert!(message.contains("was sent at 0.200000s"), "{message}");
        // Within the tolerance it passes.
        assert!(matches!(play(&edit(11, "+0.009 > F. 1:1(0) ack 1 win 65535")), Outcome::Pass { .. }));
        assert!(matches!(
            play(&edit(11, "-0.005~+0.2 > F. 1:1(0) ack 1 win 65535").replace("-0.005", "+0.0")),
            Outcome::Pass { .. }
        ));
    }

    #[test]
    fn results_states_and_counts_are_checked() {
        assert!(failed_at(play(&edit(17, "+0.1 close(3) = -1 EBADF (Bad file descriptor)")))
            .1
            .contains("close returned 0"));
        let no_socket = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = -1 EMFILE (Too many open files)";
        assert!(failed_at(play(&edit(2, no_socket))).1.contains("returned 3"));
        assert!(failed_at(play(&edit(9, "+0 %{ assert tcpi_state == TCPI_SYN_SENT }%"))).1.contains("ESTABLISHED"));
        let sockstat = "+0 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 0`";
        assert!(failed_at(play(&edit(14, sockstat))).1.contains("1 sockets in TIME_WAIT"));
    }

    #[test]
    fn what_cannot_be_played_skips_with_the_reason() {
        let skipped = |text: &str| match play(text) {
            Outcome::Skip(reason) => reason,
            other => panic!("expected a skip, got {other:?}"),
        };
        assert!(skipped(&format!("--ip_version=ipv6\n--mtu=1200\n{SCRIPT}")).contains("1280"));
        let keepinit = "+0 setsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [5], 4) = 0";
        assert!(skipped(&edit(4, keepinit)).contains("TCP_KEEPINIT"));
        assert!(skipped(&format!("0 `sysctl -w net.inet.tcp.ecn.enable=1`\n{SCRIPT}")).contains("ecn.enable"));
    }

    /// A passive open with a blocking accept and blocking reads: each
    /// returns when the segment the script sends later arrives.
    const BLOCKING: &str = "--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0...0.200 accept(3, ..., ...) = 4
+.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 257
+0...0.100 read(4, ..., 1000) = 1000
+.1 < P. 1:1001(1000) ack 1 win 257
+.04 > . 1:1(0) ack 1001 <...>
+.06...0.360 read(4, ..., 1000) = 500
+.3 < P. 1001:1501(500) ack 1 win 257
+.04 > . 1:1(0) ack 1501 <...>";

    #[test]
    fn a_blocking_read_returns_when_a_later_segment_arrives() {
        assert!(matches!(play(BLOCKING), Outcome::Pass { .. }), "{:?}", play(BLOCKING));
        // The read returns at 0.3 s, when the data comes: not at 0.25 s.
        let early = BLOCKING.replace("+0...0.100 read", "+0...0.050 read");
        let (line, message) = failed_at(play(&early));
        assert_eq!(line, 9);
        assert!(message.contains("read returned at 0.300000s, the script expects it at 0.250000s"), "{message}");
        // Without the data it never returns.
        let starved = BLOCKING.replace("+.3 < P. 1001:1501(500) ack 1 win 257\n+.04 > . 1:1(0) ack 1501 <...>", "");
        assert!(failed_at(play(&starved)).1.contains("read still blocked"), "{:?}", play(&starved));
        // A socket without O_NONBLOCK blocks in a call without `...` too,
        // which must then return at once.
        let late = BLOCKING.replace("+.06...0.360 read", "+.06 read");
        assert!(failed_at(play(&late)).1.contains("returned at 0.700000s"), "{:?}", play(&late));
    }

    /// A blocking connect returns with the handshake; a blocking write
    /// returns when all of it is in the send buffer.
    #[test]
    fn a_blocking_connect_and_write_wait_for_the_peer() {
        let text = "0 `sysctl -w net.inet.tcp.sendspace=2000`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+.1...0.200 connect(3, ..., ...) = 0
+0 > S 0:0(0) <...>
+.1 < S. 0:0(0) ack 1 win 65535 <mss 1000>
+0 > . 1:1(0) ack 1
+0...0.1 write(3, ..., 3000) = 3000
+0 > . 1:1001(1000) ack 1
+0 > P. 1001:2001(1000) ack 1
+.1 < . 1:1(0) ack 2001 win 65535
+0 > P. 2001:3001(1000) ack 1";
        assert!(matches!(play(text), Outcome::Pass { .. }), "{:?}", play(text));
        // The write cannot return before the peer's ACK makes room.
        let early = text.replace("+0...0.1 write", "+0 write");
        assert!(failed_at(play(&early)).1.contains("write returned at 0.300000s"), "{:?}", play(&early));
    }

    /// poll: readiness now (timeout 0), a poll that blocks until data
    /// comes, POLLRDHUP after the peer's FIN, a timeout that returns 0.
    #[test]
    fn poll_reports_the_stack_readiness() {
        let established = SCRIPT.lines().take(8).collect::<Vec<_>>().join("\n");
        let text = format!(
            "{established}
+0 poll([{{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}}], 1, 0) = 1
+0...0.1 poll([{{fd=3, events=POLLIN, revents=POLLIN}}], 1, 1000) = 1
+.1 < P. 1:11(10) ack 1 win 32767
+0 read(3, ..., 100) = 10
+0 < F. 11:11(0) ack 1 win 32767
+0 > . 1:1(0) ack 12 <...>
+0 poll([{{fd=3, events=POLLIN|POLLOUT|POLLRDHUP, revents=POLLIN|POLLOUT|POLLRDHUP}}], 1, 0) = 1
+0...0.05 poll([{{fd=3, events=POLLPRI, revents=0}}], 1, 50) = 0"
        );
        assert!(matches!(play(&text), Outcome::Pass { .. }), "{:?}", play(&text));
        let with = |n: usize, line: &str| edit_of(&text, n, line);
        // Nothing to read yet: no POLLIN.
        let readable = with(9, "+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLIN|POLLOUT}], 1, 0) = 1");
        assert!(failed_at(play(&readable)).1.contains("revents POLLOUT, the script expects POLLIN|POLLOUT"));
        // The blocking poll returns when the data comes, at 0.2 s.
        let early = with(10, "+0...0.05 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 1000) = 1");
        assert!(failed_at(play(&early)).1.contains("poll returned at 0.200000s"), "{:?}", play(&early));
    }

    /// A Linux script: an untimed `defaults.sh`, `set_sysctls.py` with a
    /// switch the stack has (tcp_sack=0: no sackOK in the SYN,ACK), the
    /// TSO segment Linux sends matched by the stack's MSS-sized ones, and
    /// the things it cannot play skipping with their names.
    #[test]
    fn a_linux_script_plays_or_skips_with_the_reason() {
        let text = "--local_ip=192.168.0.1
`../common/defaults.sh
../common/set_sysctls.py /proc/sys/net/ipv4/tcp_sack=0 # no SACK`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 writev(4, [{..., 1000}, {iov_base=..., iov_len=1000}], 2) = 2000
+0 > P. 1:2001(2000) ack 1
+.1 < . 1:1(0) ack 2001 win 257
+0 %{ assert tcpi_state == TCP_ESTABLISHED, tcpi_state }%";
        assert!(matches!(play(text), Outcome::Pass { .. }), "{:?}", play(text));
        // With SACK on, the SYN,ACK carries sackOK.
        let sack = text.replace("tcp_sack=0", "tcp_sack=1");
        assert!(failed_at(play(&sack)).1.contains("option kinds"), "{:?}", play(&sack));
        let skipped = |extra: &str| match play(&format!("{text}\n{extra}\n+0 close(4) = 0")) {
            Outcome::Skip(reason) => reason,
            other => panic!("expected a skip for {extra}, got {other:?}"),
        };
        assert_eq!(
            skipped("+0 `../common/set_sysctls.py /proc/sys/net/ipv4/tcp_min_tso_segs=10`"),
            "sysctl net.ipv4.tcp_min_tso_segs=10: the stack has no such switch"
        );
        assert!(skipped("+0 getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=1}, [100]) = 0").contains("TCP_INFO"));
        let congestion = "+0 setsockopt(4, IPPROTO_TCP, TCP_CONGESTION, \"bbr\", 3) = 0";
        assert!(skipped(congestion).contains("TCP_CONGESTION"));
        assert!(skipped("+0 sendto(4, ..., 10, MSG_FASTOPEN, ..., ...) = 10").contains("MSG_FASTOPEN"));
        assert!(skipped("+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%").contains("tcpi_snd_cwnd"));
        assert!(skipped("+0 `tc qdisc add dev tun0 root fq`").contains("`tc`"));
        assert!(skipped("+0 epoll_create(1) = 5").contains("epoll_create"));
        assert!(skipped("+0 ioctl(4, SIOCOUTQNSD, [0]) = 0").contains("SIOCOUTQNSD"));
        // What is waiting to be read and to be acknowledged.
        let queues = "+0 write(4, ..., 100) = 100\n+0 ioctl(4, SIOCOUTQ, [100]) = 0\n+0 ioctl(4, FIONREAD, [0]) = 0";
        let queued = format!("{text}\n{queues}");
        assert!(matches!(play(&queued), Outcome::Pass { .. }), "{:?}", play(&queued));
        let wrong = queued.replace("SIOCOUTQ, [100]", "SIOCOUTQ, [0]");
        assert!(failed_at(play(&wrong)).1.contains("ioctl SIOCOUTQ gave 100"), "{:?}", play(&wrong));
        // A well-formed line with a word the parser does not know.
        let unknown = crate::drill::parse::parse(&format!("{text}\n+0 < . 1:1(0) ack 2001 win 257 <tcp_future 1>"));
        assert!(unknown.is_err_and(|e| e.unsupported && e.message.contains("tcp_future")));
    }

    /// MSG_PEEK reads without taking; SHUT_RD makes reads return 0 while
    /// later data is still ACKed; SHUT_RDWR sends the FIN too.
    #[test]
    fn peek_and_shutdown_of_the_receiving_side() {
        let established = SCRIPT.lines().take(8).collect::<Vec<_>>().join("\n");
        let text = format!(
            "{established}
+0.1 < P. 1:11(10) ack 1 win 32767
+0 recv(3, ..., 100, MSG_PEEK) = 10
+0 read(3, ..., 4) = 4
+0 recv(3, ..., 100, MSG_PEEK) = 6
+0.04 > . 1:1(0) ack 11 win 65535
+0.1 shutdown(3, SHUT_RD) = 0
+0 read(3, ..., 100) = 0
+0.1 < P. 11:21(10) ack 1 win 32767
+0.04 > . 1:1(0) ack 21 win 65535
+0 read(3, ..., 100) = 0
+0.1 shutdown(3, SHUT_RDWR) = 0
+0 > F. 1:1(0) ack 21 win 65535"
        );
        assert!(matches!(play(&text), Outcome::Pass { .. }), "{:?}", play(&text));
        let with = |n: usize, line: &str| edit_of(&text, n, line);
        // A peek takes nothing: the second peek sees what the read left.
        assert!(failed_at(play(&with(12, "+0 recv(3, ..., 100, MSG_PEEK) = 10"))).1.contains("returned 6"));
        // After SHUT_RD what was received is gone.
        assert!(failed_at(play(&with(15, "+0 read(3, ..., 100) = 6"))).1.contains("returned 0"));
        // SHUT_RD alone leaves the sending side open: no FIN.
        let rd_only = with(19, "+0.1 shutdown(3, SHUT_RD) = 0");
        assert!(failed_at(play(&rd_only)).1.contains("nothing was sent"), "{:?}", play(&rd_only));
    }

    /// TCP_NOOPT before connect: a SYN without options, not even the MSS.
    #[test]
    fn tcp_noopt_sends_a_syn_without_options() {
        let noopt = "+0 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0";
        let bare = edit(6, "+0 > S 0:0(0) win 65535").replace("+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)", noopt);
        let bare: String = bare.lines().take(6).collect::<Vec<_>>().join("\n");
        assert!(matches!(play(&bare), Outcome::Pass { .. }), "{:?}", play(&bare));
        let with_options = bare.replace(noopt, "+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)");
        assert!(failed_at(play(&with_options)).1.contains("option kinds"), "{:?}", play(&with_options));
        let listening = format!("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n{noopt}\n+0 listen(3, 1) = 0");
        assert!(matches!(play(&listening), Outcome::Skip(r) if r.contains("TCP_NOOPT")));
    }

    /// insecure_syn=1: a SYN in the window resets (RFC 793), where the
    /// default answers with a challenge ACK (RFC 5961 §4); the `sysctl`
    /// after the last line, which restores the default, is not played.
    #[test]
    fn insecure_syn_configures_the_stack() {
        let established = SCRIPT.lines().take(8).collect::<Vec<_>>().join("\n");
        let reset = format!(
            "{established}\n+0.1 < S 1:1(0) win 32767\n+0 > R. 1:1(0) ack 1 win 0\n\
             +0 read(3, ..., 10) = -1 ECONNRESET (Connection reset by peer)\n\
             +0 `sysctl -w net.inet.tcp.insecure_syn=0`"
        );
        let insecure = format!("0 `sysctl -w net.inet.tcp.insecure_syn=1`\n{reset}");
        assert!(matches!(play(&insecure), Outcome::Pass { .. }), "{:?}", play(&insecure));
        assert!(failed_at(play(&reset)).1.ends_with("flags"), "{:?}", play(&reset));
    }

    /// insecure_rst=1: an RST anywhere in the window resets (RFC 793).
    #[test]
    fn insecure_rst_configures_the_stack() {
        let established = SCRIPT.lines().take(8).collect::<Vec<_>>().join("\n");
        let reset = format!("{established}\n+0.1 < R 10:10(0) win 32767\n+0 read(3, ..., 10) = -1 ECONNRESET");
        let insecure = format!("0 `sysctl -w net.inet.tcp.insecure_rst=1`\n{reset}");
        assert!(matches!(play(&insecure), Outcome::Pass { .. }), "{:?}", play(&insecure));
        assert!(failed_at(play(&reset)).1.contains("read returned -1 EAGAIN"), "{:?}", play(&reset));
    }

    /// drop_synfin=1: a SYN,FIN at a listening port is not answered.
    #[test]
    fn drop_synfin_configures_the_stack() {
        let listen = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n\
                      +0 listen(3, 1) = 0\n+0.1 < SF 0:0(0) win 32767 <mss 1460>\n+1 close(3) = 0";
        let dropping = format!("0 `sysctl -w net.inet.tcp.drop_synfin=1`\n{listen}");
        assert!(matches!(play(&dropping), Outcome::Pass { .. }), "{:?}", play(&dropping));
        assert!(failed_at(play(listen)).1.contains("unexpected segment S."), "{:?}", play(listen));
    }

    #[test]
    fn sysctls_configure_the_stack() {
        // Without SACK and RFC 7323 options our SYN offers only the MSS.
        let text = edit(6, "+0 > S 0:0(0) win 65535 <mss 1460>");
        assert!(matches!(play(&text), Outcome::Fail { line: 6, .. }));
        let off = "0 `sysctl -w net.inet.tcp.sack.enable=0`\n0 `sysctl -w net.inet.tcp.rfc1323=0`\n";
        assert!(matches!(play(&format!("{off}{text}")), Outcome::Pass { .. }), "{:?}", play(&format!("{off}{text}")));
    }
}
