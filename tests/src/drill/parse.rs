//! The packetdrill grammar (google/packetdrill `syntax.md`), as far as a
//! runner for an IPv4 stack needs it.
//!
//! A script is command-line options (`--tolerance_usecs=75000`) and then
//! events, one a line, each starting with a time:
//!
//! ```text
//! +0.10 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>   the peer sends
//! +0.00 >  . 1:1(0) ack 1 win 65535                             the TCP must send
//! +0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
//! +0.00 `sysctl -w net.inet.tcp.sack.enable=1`                   a shell command
//! +0.00 %{ assert tcpi_state == TCPI_ESTABLISHED }%              a Python check
//! ```
//!
//! `#ifdef NAME` ... `#else` ... `#endif` keep the lines of the names in
//! [`DEFINED`] (`STANDARD`: what the RFCs say) and drop the others. A
//! backtick command or `%{ }%` block may come without a time (Linux scripts
//! open with `` `../common/defaults.sh` ``): it happens at `+0`.
//!
//! Two kinds of error ([`ParseError::unsupported`]): a line that breaks
//! packetdrill's own grammar (an unterminated bracket, string or command, a
//! time that is not a number, a call without `= result`) is *malformed*;
//! a well-formed line using a word this parser does not know (a TCP option,
//! a segment field, a protocol such as `udp`, a fuzzing annotation such as
//! `{ mut tcp mss }`) is *unsupported*. The runner
//! fails the first and skips the second, naming it. A construct known but
//! not playable (IPv6, an option the stack lacks) is parsed and refused
//! later by the runner, so that the reason names it.

use std::fmt;

/// The `#ifdef` names taken: the RFC behaviour, not FreeBSD's or Linux's.
pub const DEFINED: &[&str] = &["STANDARD"];

#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// `--name=value` lines, in order.
    pub options: Vec<(String, String)>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The script's line number (1-based), for reports.
    pub line: usize,
    pub time: Time,
    pub kind: Kind,
}

/// When an event happens, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Time {
    /// `*`: any time.
    Any,
    /// `t`, `+t`, or the window `a~b` (`b` relative to the same base as
    /// `a` when it has a `+`). `end` is set for a window.
    At { relative: bool, start: i64, end: Option<(bool, i64)> },
    /// `a...b`: a blocking system call that starts at `a` and returns at `b`.
    Blocking { relative: bool, start: i64, end: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `<`: a segment the peer sends.
    Inbound(Packet),
    /// `>`: a segment the TCP under test must send.
    Outbound(Packet),
    /// `< icmp ...`: an ICMP error from the peer's side about a segment we sent.
    Icmp(Icmp),
    Syscall(Syscall),
    /// A backtick shell command.
    Shell(String),
    /// `%{ ... }%`: Python run after the event, with `tcpi_*` in scope.
    Python(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Packet {
    /// Flag letters as written, `.` for ACK (`S.`, `F.`, `SEW`).
    pub flags: String,
    /// `[noecn]`, `[ect0]`, `[ect1]`, `[ce]`, `[ect01]`.
    pub ecn: Option<String>,
    /// `start:end(len)`; `None` for `...(len)` (any sequence number).
    pub seq: Option<(u32, u32)>,
    pub len: u32,
    pub ack: Option<u32>,
    pub win: Option<u32>,
    pub urg: Option<u32>,
    pub options: Options,
}

/// The option list after a segment.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Options {
    /// No `<...>` at all.
    #[default]
    None,
    /// `<...>`: any options.
    Any,
    List(Vec<TcpOpt>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TcpOpt {
    Nop,
    Eol,
    Mss(u16),
    WScale(u8),
    SackOk,
    /// Blocks of relative sequence numbers.
    Sack(Vec<(u32, u32)>),
    Timestamp {
        val: u32,
        ecr: u32,
    },
    /// Any other option packetdrill knows (`FO`, `md5`, `exp`...): named only.
    Other(String),
}

impl TcpOpt {
    /// The option's kind number (RFC 9293 §3.1, RFC 7323, RFC 2018).
    pub fn kind(&self) -> Option<u8> {
        Some(match self {
            TcpOpt::Eol => 0,
            TcpOpt::Nop => 1,
            TcpOpt::Mss(_) => 2,
            TcpOpt::WScale(_) => 3,
            TcpOpt::SackOk => 4,
            TcpOpt::Sack(_) => 5,
            TcpOpt::Timestamp { .. } => 8,
            TcpOpt::Other(_) => return None,
        })
    }
}

/// `icmp unreachable port_unreachable [0:0(0)]`, `icmp unreachable
/// frag_needed mtu 1234 [0:0(0)]`: the message's type and code by name, and
/// the sequence numbers of the segment of ours it quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Icmp {
    pub kind: String,
    pub code: Option<String>,
    pub mtu: Option<u32>,
    pub seq: (u32, u32),
    pub len: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Syscall {
    pub name: String,
    pub args: Vec<Expr>,
    /// The expected return value.
    pub ret: Expr,
    /// `-1 ECONNRESET (Connection reset by peer)`: the errno's name.
    pub errno: Option<String>,
}

/// An argument or a return value.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `...`: whatever the runner chooses (an address, a buffer).
    Ellipsis,
    Int(i64),
    /// A symbol: `SOCK_STREAM`, `SHUT_WR`, `ECONNRESET`.
    Name(String),
    /// `A | B`.
    Or(Vec<Expr>),
    /// `[1]`, `[65536]`, `[ECONNRESET]`: a value passed by pointer.
    List(Vec<Expr>),
    /// `{onoff=1, linger=0}` or `{fd=3, events=POLLIN}`; a field without
    /// a name (`{..., 1000}`, an iovec) has an empty one, and `msg_iov(1)`
    /// is named `msg_iov`.
    Struct(Vec<(String, Expr)>),
    /// `"text"`.
    Str(String),
    /// `inet_addr("192.0.2.1")`, `htons(8080)`: a function of packetdrill's.
    Call(String, Vec<Expr>),
}

impl Expr {
    pub fn int(&self) -> Option<i64> {
        match self {
            Expr::Int(n) => Some(*n),
            Expr::List(v) if v.len() == 1 => v[0].int(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
    /// Well-formed packetdrill this parser does not know (a SKIP), rather
    /// than malformed (a FAIL).
    pub unsupported: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { line, message: message.into(), unsupported: false })
}

fn unsupported<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { line, message: message.into(), unsupported: true })
}

/// Parse a whole script.
pub fn parse(text: &str) -> Result<Script, ParseError> {
    let mut script = Script { options: Vec::new(), events: Vec::new() };
    // The stack of `#ifdef`s: is each level's current branch taken?
    let mut taken: Vec<bool> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let mut line = strip_comment(lines[i]).trim().to_string();
        i += 1;
        // A `%{ }%` block or a backtick command may span lines.
        let mut code = false;
        for (open, close) in [("%{", "}%"), ("`", "`")] {
            if let Some(at) = line.find(open) {
                code = true;
                while !line[at + open.len()..].contains(close) && i < lines.len() {
                    line.push('\n');
                    line.push_str(lines[i]);
                    i += 1;
                }
            }
        }
        // So may a system call whose brackets are still open.
        while !code && open_brackets(&line) > 0 && i < lines.len() {
            line.push(' ');
            line.push_str(strip_comment(lines[i]).trim());
            i += 1;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("#ifdef") {
            taken.push(DEFINED.contains(&name.trim()));
            continue;
        }
        if let Some(name) = line.strip_prefix("#ifndef") {
            taken.push(!DEFINED.contains(&name.trim()));
            continue;
        }
        if line.starts_with("#else") {
            match taken.last_mut() {
                Some(t) => *t = !*t,
                None => return err(line_no, "#else without #ifdef"),
            }
            continue;
        }
        if line.starts_with("#endif") {
            if taken.pop().is_none() {
                return err(line_no, "#endif without #ifdef");
            }
            continue;
        }
        if !taken.iter().all(|&t| t) {
            continue;
        }
        if let Some(option) = line.strip_prefix("--") {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            script.options.push((name.trim().to_string(), value.trim().to_string()));
            continue;
        }
        script.events.push(parse_event(line_no, &line)?);
    }
    if !taken.is_empty() {
        return err(lines.len(), "#ifdef without #endif");
    }
    Ok(script)
}

/// How many `(`, `[` and `{` are not closed yet (outside strings).
fn open_brackets(line: &str) -> i32 {
    let mut depth = 0;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// Remove a `//` comment, but not from a backtick command or Python.
fn strip_comment(line: &str) -> &str {
    let quoted = line.find(['`', '%', '"']).unwrap_or(line.len());
    match line.find("//") {
        Some(at) if at < quoted => &line[..at],
        _ => line,
    }
}

/// One event: a time, then what happens.
pub fn parse_event(line: usize, text: &str) -> Result<Event, ParseError> {
    let untimed = text.trim_start().starts_with(['`', '%']);
    let (time, rest) =
        if untimed { (Time::At { relative: true, start: 0, end: None }, text) } else { parse_time(line, text)? };
    let rest = rest.trim();
    let kind = if let Some(p) = rest.strip_prefix('<') {
        let p = p.trim_start();
        if let Some(icmp) = p.strip_prefix("icmp") {
            Kind::Icmp(parse_icmp(line, icmp)?)
        } else {
            Kind::Inbound(parse_packet(line, p)?)
        }
    } else if let Some(p) = rest.strip_prefix('>') {
        Kind::Outbound(parse_packet(line, p.trim_start())?)
    } else if let Some(cmd) = rest.strip_prefix('`') {
        match cmd.strip_suffix('`') {
            Some(cmd) => Kind::Shell(cmd.trim().to_string()),
            None => return err(line, "unterminated backtick command"),
        }
    } else if let Some(code) = rest.strip_prefix("%{") {
        match code.strip_suffix("}%") {
            Some(code) => Kind::Python(code.trim().to_string()),
            None => return err(line, "unterminated %{ }%"),
        }
    } else if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        Kind::Syscall(parse_syscall(line, rest)?)
    } else {
        return err(line, format!("not an event: {rest:?}"));
    };
    Ok(Event { line, time, kind })
}

/// A number of seconds (`0.10`, `.1`, `3`) in microseconds.
fn seconds(line: usize, s: &str) -> Result<i64, ParseError> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && !s.is_empty() => Ok((v * 1e6).round() as i64),
        _ => err(line, format!("bad time {s:?}")),
    }
}

/// `+0.1`, `+ 0.1`: whether relative, and the rest.
fn sign(s: &str) -> (bool, &str) {
    match s.trim_start().strip_prefix('+') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s.trim_start()),
    }
}

fn parse_time(line: usize, text: &str) -> Result<(Time, &str), ParseError> {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('*') {
        return Ok((Time::Any, rest));
    }
    let (relative, after) = sign(text);
    let number_end = |s: &str| s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    // `a...b`: the first `...` after digits.
    let end = number_end(after);
    let first = &after[..end];
    if first.is_empty() {
        return err(line, format!("expected a time at the start of {:?}", text.trim()));
    }
    let rest = &after[end..];
    // `a...b`, `a ... b`: the first `...` after digits.
    let dots = match first.find("...") {
        Some(dots) => Some((dots, dots + 3)),
        None => rest.trim_start().starts_with("...").then(|| (end, end + (rest.len() - rest.trim_start().len()) + 3)),
    };
    if let Some((dots, after_dots)) = dots {
        let start = seconds(line, &first[..dots])?;
        let (_, rest) = sign(&after[after_dots..]);
        let e = number_end(rest);
        let stop = seconds(line, &rest[..e])?;
        return Ok((Time::Blocking { relative, start, end: stop }, &rest[e..]));
    }
    let start = seconds(line, first)?;
    if let Some(window) = rest.strip_prefix('~') {
        let (end_relative, window) = sign(window);
        let e = number_end(window);
        let stop = seconds(line, &window[..e])?;
        return Ok((Time::At { relative, start, end: Some((end_relative, stop)) }, &window[e..]));
    }
    Ok((Time::At { relative, start, end: None }, rest))
}

fn number<T: std::str::FromStr>(line: usize, what: &str, s: Option<&str>) -> Result<T, ParseError> {
    match s.map(|s| s.parse::<T>()) {
        Some(Ok(v)) => Ok(v),
        _ => err(line, format!("{what}: expected a number, got {s:?}")),
    }
}

/// `a:b(len)`: a range of sequence numbers and its length.
fn parse_range(line: usize, s: &str) -> Result<((u32, u32), u32), ParseError> {
    let Some((range, len)) = s.strip_suffix(')').and_then(|s| s.split_once('(')) else {
        return err(line, format!("bad sequence range {s:?}"));
    };
    let Some((start, end)) = range.split_once(':') else { return err(line, format!("bad range {range:?}")) };
    Ok(((number(line, "seq", Some(start))?, number(line, "seq end", Some(end))?), number(line, "length", Some(len))?))
}

/// After `icmp`: `TYPE [CODE] [mtu N] [a:b(len)]`.
fn parse_icmp(line: usize, text: &str) -> Result<Icmp, ParseError> {
    let Some((head, quoted)) = text.split_once('[') else { return err(line, "icmp: expected [a:b(len)]") };
    let Some(quoted) = quoted.trim_end().strip_suffix(']') else { return err(line, "icmp: unterminated [") };
    let (seq, len) = parse_range(line, quoted.trim())?;
    let mut words = head.split_whitespace();
    let Some(kind) = words.next() else { return err(line, "icmp: expected a type") };
    let (mut code, mut mtu) = (None, None);
    while let Some(word) = words.next() {
        match word {
            "mtu" => mtu = Some(number(line, "mtu", words.next())?),
            _ if code.is_none() => code = Some(word.to_string()),
            _ => return err(line, format!("icmp: unexpected {word:?}")),
        }
    }
    Ok(Icmp { kind: kind.to_string(), code, mtu, seq, len })
}

/// `S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK>`.
fn parse_packet(line: usize, text: &str) -> Result<Packet, ParseError> {
    let mut p = Packet::default();
    let mut rest = text.trim_start();
    if let Some(r) = rest.strip_prefix('[') {
        let Some(close) = r.find(']') else { return err(line, "unterminated [ecn]") };
        p.ecn = Some(r[..close].trim().to_string());
        rest = r[close + 1..].trim_start();
    }
    // A fuzzing annotation (`{ mut tcp mss }`, `{rep tcp seq_num 5}`)
    // mutates the segment in ways this runner does not play.
    if let Some(at) = rest.find('{') {
        return match rest[at..].trim_end().ends_with('}') {
            true => unsupported(line, format!("the fuzzing annotation {}", rest[at..].trim_end())),
            false => err(line, "unterminated {"),
        };
    }
    let (header, options) = match rest.find('<') {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    let mut words = header.split_whitespace();
    p.flags = words.next().map(str::to_string).unwrap_or_default();
    if ["udp", "udplite", "gre", "mpls", "icmp"].contains(&p.flags.as_str()) || p.flags.starts_with('(') {
        return unsupported(line, format!("a {} packet", p.flags.trim_start_matches('(')));
    }
    // `A` is AccECN's AE bit (RFC 9768), refused by the runner by name.
    if p.flags.is_empty() || !p.flags.chars().all(|c| "FSRP.EWUCA".contains(c)) {
        return err(line, format!("bad flags {:?}", p.flags));
    }
    let seq = words.next().unwrap_or("");
    match seq.strip_prefix("...(").and_then(|s| s.strip_suffix(')')) {
        Some(len) => p.len = number(line, "length", Some(len))?,
        None => (p.seq, p.len) = parse_range(line, seq).map(|(seq, len)| (Some(seq), len))?,
    }
    while let Some(word) = words.next() {
        let value = words.next();
        match word {
            "ack" => p.ack = Some(number(line, "ack", value)?),
            "win" => p.win = Some(number(line, "win", value)?),
            "urg" => p.urg = Some(number(line, "urg", value)?),
            _ => return unsupported(line, format!("the segment field {word:?}")),
        }
    }
    if let Some(options) = options {
        let Some(inner) = options.trim_end().strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
            return err(line, "bad option list");
        };
        p.options = if inner.trim() == "..." { Options::Any } else { Options::List(parse_options(line, inner)?) };
    }
    Ok(p)
}

/// `mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,sack 1:2 3:4,eol`.
fn parse_options(line: usize, text: &str) -> Result<Vec<TcpOpt>, ParseError> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let mut words = item.split_whitespace();
        let Some(name) = words.next() else { return err(line, "empty option") };
        let opt = match name {
            "nop" => TcpOpt::Nop,
            "eol" => TcpOpt::Eol,
            "sackOK" => TcpOpt::SackOk,
            "mss" => TcpOpt::Mss(number(line, "mss", words.next())?),
            "wscale" => TcpOpt::WScale(number(line, "wscale", words.next())?),
            "TS" => {
                let (Some("val"), val, Some("ecr"), ecr) = (words.next(), words.next(), words.next(), words.next())
                else {
                    return err(line, "TS: expected `TS val N ecr N`");
                };
                // `TS val ... ecr 0`: any value, which the runner only notes.
                let value = |what, v| if v == Some("...") { Ok(0) } else { number(line, what, v) };
                TcpOpt::Timestamp { val: value("TS val", val)?, ecr: value("TS ecr", ecr)? }
            }
            "sack" => {
                let blocks = words
                    .by_ref()
                    .map(|b| match b.split_once(':') {
                        Some((l, r)) => Ok((number(line, "sack", Some(l))?, number(line, "sack", Some(r))?)),
                        None => err(line, format!("bad SACK block {b:?}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                TcpOpt::Sack(blocks)
            }
            "FO" | "FOEXP" | "md5" | "exp" | "mptcp" | "tarr" => {
                words.by_ref().for_each(drop);
                TcpOpt::Other(name.to_string())
            }
            _ => return unsupported(line, format!("the TCP option {name:?}")),
        };
        if words.next().is_some() {
            return err(line, format!("trailing words in option {item:?}"));
        }
        out.push(opt);
    }
    Ok(out)
}

/// `name(args) = ret [ERRNO (text)]`.
fn parse_syscall(line: usize, text: &str) -> Result<Syscall, ParseError> {
    let Some(open) = text.find('(') else { return err(line, format!("not an event: {text:?}")) };
    let name = text[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return err(line, format!("bad system call name {name:?}"));
    }
    let mut lexer = Lexer { s: &text[open..], line };
    let Expr::List(args) = lexer.atom()? else { return err(line, format!("{name}: bad arguments")) };
    let rest = lexer.s.trim_start();
    let Some(ret) = rest.strip_prefix('=') else { return err(line, format!("{name}: expected `= value`")) };
    let mut lexer = Lexer { s: ret, line };
    let ret = lexer.expr()?;
    let tail = lexer.s.trim();
    let errno = match tail.split_whitespace().next() {
        Some(e) if e.starts_with('E') => Some(e.to_string()),
        Some(e) if !e.starts_with('(') => return err(line, format!("{name}: unexpected {e:?} after the result")),
        _ => None,
    };
    Ok(Syscall { name: name.to_string(), args, ret, errno })
}

/// Expressions of system call arguments and results.
struct Lexer<'a> {
    s: &'a str,
    line: usize,
}

impl<'a> Lexer<'a> {
    /// The next name or number, or "" if none comes.
    fn word(&mut self) -> &'a str {
        let t = self.s.trim_start();
        let end = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(t.len());
        self.s = &t[end..];
        &t[..end]
    }

    /// The fields of a struct, after its `{`: `name=value` (a name may
    /// carry a count in brackets, `msg_iov(1)=...`) or a bare value.
    fn fields(&mut self) -> Result<Expr, ParseError> {
        let mut fields = Vec::new();
        if self.eat("}") {
            return Ok(Expr::Struct(fields));
        }
        loop {
            let before = self.s;
            let word = self.word();
            let mut named = !word.is_empty() && !word.starts_with(|c: char| c.is_ascii_digit() || c == '-');
            if named && self.s.starts_with('(') {
                let Some(close) = self.s.find(')') else { return err(self.line, "unterminated (") };
                self.s = &self.s[close + 1..];
            }
            named = named && self.eat("=");
            let field = if named {
                (word.to_string(), self.expr()?)
            } else {
                self.s = before;
                (String::new(), self.expr()?)
            };
            fields.push(field);
            if self.eat("}") {
                return Ok(Expr::Struct(fields));
            }
            if !self.eat(",") {
                return err(self.line, format!("expected `,` or `}}` at {:?}", self.s.trim()));
            }
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        let t = self.s.trim_start();
        match t.strip_prefix(token) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    /// A list of expressions up to `close`, after its opening bracket.
    fn items(&mut self, close: &str) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(",") {
                return err(self.line, format!("expected `,` or `{close}` at {:?}", self.s.trim()));
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.atom()?;
        let mut terms = vec![first];
        while self.eat("|") {
            terms.push(self.atom()?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { Expr::Or(terms) })
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        if self.eat("...") {
            return Ok(Expr::Ellipsis);
        }
        // A call's argument list is a list in round brackets.
        if self.eat("(") {
            return Ok(Expr::List(self.items(")")?));
        }
        if self.eat("[") {
            return Ok(Expr::List(self.items("]")?));
        }
        if self.eat("{") {
            return self.fields();
        }
        let t = self.s.trim_start();
        if let Some(rest) = t.strip_prefix('"') {
            let Some(end) = rest.find('"') else { return err(self.line, "unterminated string") };
            self.s = &rest[end + 1..];
            return Ok(Expr::Str(rest[..end].to_string()));
        }
        let word = self.word();
        if word.is_empty() {
            return match t.chars().next() {
                Some(c) => unsupported(self.line, format!("the character {c:?} in an expression")),
                None => err(self.line, "the line ends inside an expression"),
            };
        }
        if self.s.starts_with('(') {
            let Expr::List(args) = self.atom()? else { unreachable!("a bracket gives a list") };
            return Ok(Expr::Call(word.to_string(), args));
        }
        Ok(if let Some(hex) = word.strip_prefix("0x") {
            match i64::from_str_radix(hex, 16) {
                Ok(n) => Expr::Int(n),
                Err(_) => return err(self.line, format!("bad number {word:?}")),
            }
        } else if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            match word.parse() {
                Ok(n) => Expr::Int(n),
                Err(_) => return err(self.line, format!("bad number {word:?}")),
            }
        } else {
            Expr::Name(word.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Event {
        parse_event(1, text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn packet(text: &str) -> Packet {
        match event(text).kind {
            Kind::Inbound(p) | Kind::Outbound(p) => p,
            other => panic!("not a packet: {other:?}"),
        }
    }

    fn call(text: &str) -> Syscall {
        match event(text).kind {
            Kind::Syscall(c) => c,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn times() {
        let at = |relative, start, end| Time::At { relative, start, end };
        assert_eq!(event("0.00 close(3) = 0").time, at(false, 0, None));
        assert_eq!(event(" 1.5 close(3) = 0").time, at(false, 1_500_000, None));
        assert_eq!(event("+0.10 close(3) = 0").time, at(true, 100_000, None));
        assert_eq!(event("+ 0.00 close(3) = 0").time, at(true, 0, None));
        assert_eq!(event("+.1 close(3) = 0").time, at(true, 100_000, None));
        assert_eq!(event("0.1~0.2 > . 1:1(0) ack 1").time, at(false, 100_000, Some((false, 200_000))));
        assert_eq!(event("+0.1~+0.3 > . 1:1(0) ack 1").time, at(true, 100_000, Some((true, 300_000))));
        assert_eq!(event("*  > S 0:0(0) win 65535 <...>").time, Time::Any);
        assert_eq!(
            event(" 1.00...6.00 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)").time,
            Time::Blocking { relative: false, start: 1_000_000, end: 6_000_000 }
        );
        assert!(parse_event(7, "+x close(3) = 0").is_err());
    }

    #[test]
    fn segments() {
        let p = packet("+0.00 > S  0:0(0)       win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>");
        assert_eq!((p.flags.as_str(), p.seq, p.len, p.ack, p.win), ("S", Some((0, 0)), 0, None, Some(65535)));
        assert_eq!(
            p.options,
            Options::List(vec![
                TcpOpt::Mss(1460),
                TcpOpt::Nop,
                TcpOpt::WScale(6),
                TcpOpt::SackOk,
                TcpOpt::Timestamp { val: 100, ecr: 0 }
            ])
        );
        let p = packet("+0.10 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>");
        assert!(matches!(event("+0 < S. 0:0(0) ack 1").kind, Kind::Inbound(_)));
        assert_eq!((p.flags.as_str(), p.ack), ("S.", Some(1)));
        assert_eq!(p.options, Options::List(vec![TcpOpt::Mss(1460), TcpOpt::SackOk, TcpOpt::Eol, TcpOpt::Eol]));
        let p = packet("+0.00 <  . 17:20(3) ack 34 win 32767");
        assert_eq!((p.seq, p.len, p.options), (Some((17, 20)), 3, Options::None));
        let p = packet("+0.00 > S.     ...(0)     ack 65537 win 65535 <...>");
        assert_eq!((p.seq, p.ack, p.options), (None, Some(65537), Options::Any));
        let p = packet("+0 > P. 1:1001(1000) ack 1 <nop,nop,sack 1:2 3:4>");
        assert_eq!((p.len, p.win), (1000, None));
        assert_eq!(p.options, Options::List(vec![TcpOpt::Nop, TcpOpt::Nop, TcpOpt::Sack(vec![(1, 2), (3, 4)])]));
        let p = packet("+0.00 >[ect0] P. 1:1(0) ack 1");
        assert_eq!((p.ecn.as_deref(), p.flags.as_str()), (Some("ect0"), "P."));
        assert_eq!(packet("+0 <[noecn] . 1:1(0) ack 1 win 0").ecn.as_deref(), Some("noecn"));
        assert_eq!(packet("+0 > SEW 0:0(0) win 65535 <...>").flags, "SEW");
        assert_eq!(packet("+0 < R 0:0(0) win 0 urg 5").urg, Some(5));
        let icmp = |text| match event(text).kind {
            Kind::Icmp(icmp) => icmp,
            other => panic!("not ICMP: {other:?}"),
        };
        let i = icmp("+0 < icmp unreachable port_unreachable [4294967295:4294967295(0)]");
        assert_eq!(
            (i.kind.as_str(), i.code.as_deref(), i.seq, i.len),
            ("unreachable", Some("port_unreachable"), (u32::MAX, u32::MAX), 0)
        );
        let i = icmp("+0 <icmp redirect [0:0(0)]");
        assert_eq!((i.kind.as_str(), i.code), ("redirect", None));
        assert_eq!(icmp("+0 < icmp unreachable frag_needed mtu 1234 [0:0(0)]").mtu, Some(1234));
        assert!(parse_event(1, "+0 < icmp unreachable").is_err());
        let opts = packet("+0 < S 0:0(0) win 1 <mss 1460,wscale 7,TS val 5 ecr 0,sackOK, eol>").options;
        assert!(matches!(opts, Options::List(ref v) if v.len() == 5));
        assert_eq!(
            packet("+0 < S 0:0(0) win 1 <FO abcd,nop>").options,
            Options::List(vec![TcpOpt::Other("FO".into()), TcpOpt::Nop])
        );
        for bad in
            ["+0 > X 0:0(0)", "+0 > S 0:0", "+0 > S 0:0(0) bogus 1", "+0 > S 0:0(0) <wat 1>", "+0 > S 0:0(0) <mss>"]
        {
            assert!(parse_event(1, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn system_calls() {
        let c = call("+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
        assert_eq!(c.name, "connect");
        assert_eq!(c.args, vec![Expr::Int(3), Expr::Ellipsis, Expr::Ellipsis]);
        assert_eq!((c.ret, c.errno.as_deref()), (Expr::Int(-1), Some("EINPROGRESS")));
        let c = call("+0.00 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)");
        assert_eq!((c.args[1].clone(), c.ret, c.errno), (Expr::Name("F_GETFL".into()), Expr::Int(2), None));
        let c = call("+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0");
        assert_eq!(c.args[2], Expr::Or(vec![Expr::Name("O_RDWR".into()), Expr::Name("O_NONBLOCK".into())]));
        let c = call("+0.00 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0");
        assert_eq!(c.args[3], Expr::List(vec![Expr::Name("ECONNRESET".into())]));
        assert_eq!(c.args[4].int(), Some(4));
        let c = call("+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0");
        assert_eq!(c.args[3], Expr::Struct(vec![("onoff".into(), Expr::Int(1)), ("linger".into(), Expr::Int(0))]));
        let c = call("+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1");
        assert!(matches!(&c.args[0], Expr::List(v) if matches!(&v[0], Expr::Struct(f) if f.len() == 3)));
        assert_eq!(call("+0.00 write (3, ..., 10) = 10").name, "write");
        assert_eq!(call("+0 recv(4, ..., 100, MSG_PEEK) = 3").args[3], Expr::Name("MSG_PEEK".into()));
        assert_eq!(call("+0 shutdown(4, SHUT_RDWR) = 0").args[1], Expr::Name("SHUT_RDWR".into()));
        assert_eq!(call("+0 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0").args[3].int(), Some(1));
        assert_eq!(
            call("+0 read(3, ..., 100) = -1 EWOULDBLOCK (Operation would block)").errno.as_deref(),
            Some("EWOULDBLOCK")
        );
        assert_eq!(call("+0 write(3, \"abc\", 3) = 3").args[1], Expr::Str("abc".into()));
        assert!(parse_event(1, "+0 close(3)").is_err());
        assert!(parse_event(1, "+0 close(3 = 0").is_err());
    }

    #[test]
    fn commands_and_python() {
        let shell = event("+0.00 `sysctl -w net.inet.tcp.sack.enable=1`").kind;
        assert_eq!(shell, Kind::Shell("sysctl -w net.inet.tcp.sack.enable=1".into()));
        let py = event("+0.00 %{ assert tcpi_state == TCPI_SYN_RECEIVED }%").kind;
        assert_eq!(py, Kind::Python("assert tcpi_state == TCPI_SYN_RECEIVED".into()));
    }

    #[test]
    fn scripts_with_ifdefs_comments_and_options() {
        let text = "// a comment\n--ip_version=ipv4\n--tolerance_usecs=75000\n\n\
                    +0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                    #ifdef STANDARD\n+0 close(3) = 0//glued\n#else\n+0 bogus line\n#endif\n\
                    #ifdef FreeBSD\n+0 also bogus\n#endif\n\
                    +0 %{\nassert tcpi_state == TCPI_CLOSED\n}%\n";
        let s = parse(text).unwrap();
        assert_eq!(s.options, vec![("ip_version".into(), "ipv4".into()), ("tolerance_usecs".into(), "75000".into())]);
        assert_eq!(s.events.len(), 3);
        assert_eq!(s.events[1].line, 7);
        assert!(matches!(&s.events[2].kind, Kind::Python(code) if code == "assert tcpi_state == TCPI_CLOSED"));
        assert_eq!(parse("#ifdef STANDARD\n").unwrap_err().line, 1);
        assert!(parse("#endif\n").is_err());
        assert!(parse("+0 what is this\n").is_err());
    }

    /// Linux's scripts: untimed commands, `a ... b`, calls over several
    /// lines, addresses, iovecs and msghdrs, fuzzing annotations, AccECN's
    /// AE flag; and the two kinds of error.
    #[test]
    fn linux_constructs() {
        let s = parse("`../common/defaults.sh\nsysctl -q net.ipv4.tcp_ecn=0\n`\n%{ import os }%\n").unwrap();
        assert_eq!(s.events[0].time, Time::At { relative: true, start: 0, end: None });
        assert!(matches!(&s.events[0].kind, Kind::Shell(c) if c.ends_with("tcp_ecn=0")));
        assert!(matches!(&s.events[1].kind, Kind::Python(c) if c == "import os"));
        assert_eq!(
            event("+.002 ... 0.052 connect(4, ..., ...) = 0").time,
            Time::Blocking { relative: true, start: 2_000, end: 52_000 }
        );
        let s = parse("0...0.1 poll([{fd=3,\n   events=POLLIN,   // wait\n  revents=POLLIN}], 1, 100) = 1\n").unwrap();
        let Kind::Syscall(c) = &s.events[0].kind else { panic!("not a call") };
        assert!(matches!(&c.args[0], Expr::List(v) if matches!(&v[0], Expr::Struct(f) if f[2].0 == "revents")));
        let c =
            call("+0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0");
        let Expr::Struct(addr) = &c.args[1] else { panic!("not a struct") };
        assert_eq!(addr[2], ("sin_addr".into(), Expr::Call("inet_addr".into(), vec![Expr::Str("192.0.2.1".into())])));
        assert_eq!(
            call("+0 getsockopt(3, SOL_TCP, TCP_INFO, [...], [100]) = 0").args[3],
            Expr::List(vec![Expr::Ellipsis])
        );
        let c = call("+0 writev(4, [{..., 10}, {iov_base=..., iov_len=20}], 2) = 30");
        let Expr::List(iov) = &c.args[1] else { panic!("not a list") };
        assert_eq!(iov[0], Expr::Struct(vec![(String::new(), Expr::Ellipsis), (String::new(), Expr::Int(10))]));
        let c = call("+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0}, 0) = 100");
        assert!(matches!(&c.args[1], Expr::Struct(f) if f[1].0 == "msg_iov" && f[0].0 == "msg_name"));
        let fuzz = parse_event(1, "+0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8> { mut tcp mss }");
        assert!(fuzz.is_err_and(|e| e.unsupported && e.message.contains("fuzzing")));
        assert_eq!(packet("+.002 > [noecn] SEWA 0:0(0) <...>").flags, "SEWA");
        // Unknown words are unsupported; broken grammar is malformed.
        for unknown in ["+0 > . 1:1(0) ack 1 <tcp_future 1>", "+0 < udp (1472)", "+0 > . 1:1(0) ack 1 ttl 3"] {
            assert!(parse_event(1, unknown).is_err_and(|e| e.unsupported), "{unknown}");
        }
        for broken in ["+0 close(3", "+0 write(3, \"abc, 3) = 3", "+x close(3) = 0", "+0 ^ what", "+0 > . 1:1(0) { mut"]
        {
            assert!(parse_event(1, broken).is_err_and(|e| !e.unsupported), "{broken}");
        }
    }

    /// Every script of the FreeBSD suite parses (a reason to SKIP comes
    /// later, from the runner).
    #[test]
    fn the_freebsd_suite_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/packetdrill/freebsd");
        let root = if root.exists() { root } else { std::path::PathBuf::from("/work/shared/packetdrill/freebsd") };
        if !root.exists() {
            eprintln!("SKIPPED: no packetdrill scripts at {}", root.display());
            return;
        }
        let files = crate::drill::scripts(&[root]).unwrap();
        assert!(files.len() > 600, "{} scripts", files.len());
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            if let Err(e) = parse(&text) {
                panic!("{}: {e}", file.display());
            }
        }
    }
}
