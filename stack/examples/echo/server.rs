//! The echo server: its options, the link it opens, and what it does with
//! each connection. `main.rs` runs it; the kernel tests run it in-process.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use stack::link::driver::Driver;
use stack::link::faults::Faults;
use stack::link::loopback::Served;
use stack::link::tun::TunConfig;
use stack::link::{self, Device, Link};
use stack::time::Instant;
use stack::{Config, Error, Event, SocketHandle, Stack};

/// The stack's address behind the TUN interface (the host is 10.0.0.1).
pub const TUN_STACK_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Echo server on the project's own TCP.
#[derive(Parser, Clone, Debug)]
pub struct Options {
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, value_enum, default_value_t = LinkKind::Loopback)]
    pub link: LinkKind,
    /// Largest IPv4 packet (loopback: up to lo's MTU, the default; TUN: 1500).
    #[arg(long)]
    pub mtu: Option<usize>,
    /// Record every packet to this pcap file.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Misbehave on purpose, e.g. loss=5%,delay=10ms,seed=7.
    #[arg(long)]
    pub faults: Option<Faults>,
    #[arg(long, value_enum, default_value_t = Mode::Echo)]
    pub mode: Mode,
    /// Size of the reply in sink-source and http modes.
    #[arg(long, default_value_t = 1 << 20)]
    pub bytes: u64,
}

#[derive(ValueEnum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// 127.0.0.1 through a raw socket on lo.
    Loopback,
    /// 10.0.0.2 behind the TUN interface tcp0 (10.0.0.1/24).
    Tun,
}

#[derive(ValueEnum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send back everything; close after the peer closes.
    Echo,
    /// Read `bytes` bytes of the pattern (a wrong byte resets the
    /// connection), then send `bytes` bytes of it and close first.
    SinkSource,
    /// Read an HTTP request head, answer with `bytes` bytes of the pattern
    /// and close first, as an HTTP/1.0 server does.
    Http,
}

/// Byte `i` of every stream this server sources: a prime period, so that a
/// byte lost, doubled or moved by a power of two shows.
pub fn pattern(offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = ((offset + i as u64) % 251) as u8;
    }
}

/// A stack on a link, serving one port.
pub struct Server {
    pub driver: Driver<Box<dyn Link + Send>>,
    app: Echo,
}

impl Server {
    /// Opens the link the options ask for, with capture and faults (in
    /// the order `link::open` documents), and listens on the port.
    pub fn open(opts: &Options) -> io::Result<Server> {
        let (device, addr) = match opts.link {
            LinkKind::Loopback => {
                let served = Served { addr: Ipv4Addr::LOCALHOST, addr6: None, port: opts.port };
                (Device::Loopback { served, mtu: opts.mtu }, Ipv4Addr::LOCALHOST)
            }
            LinkKind::Tun => {
                let config = TunConfig::default();
                (
                    Device::Tun(TunConfig { mtu: opts.mtu.unwrap_or(config.mtu), host_addr6: None, ..config }),
                    TUN_STACK_ADDR,
                )
            }
        };
        let link = link::open(&device, opts.faults.clone(), opts.pcap.as_deref())?;
        let mut config = Config::new(addr);
        // Predictable ISNs let an off-path attacker inject segments (RFC 6528).
        getrandom::fill(&mut config.isn_key).map_err(|err| io::Error::other(format!("no randomness: {err}")))?;
        let mut driver = Driver::new(link, config)?;
        driver.stack_mut().listen(opts.port, 128).map_err(io::Error::other)?;
        let app = Echo {
            port: opts.port,
            mode: opts.mode,
            bytes: opts.bytes,
            conns: HashMap::new(),
            buf: vec![0; 64 * 1024],
        };
        Ok(Server { driver, app })
    }

    /// One turn of the event loop, waiting at most until `deadline`.
    pub fn turn(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let app = &mut self.app;
        self.driver.turn(deadline, |stack, now, _| app.on_turn(stack, now))
    }
}

/// What each connection is doing.
struct Echo {
    port: u16,
    mode: Mode,
    bytes: u64,
    conns: HashMap<SocketHandle, Conn>,
    /// Scratch for reading and for building the reply.
    buf: Vec<u8>,
}

#[derive(Default)]
struct Conn {
    /// Bytes read so far.
    received: u64,
    /// Echo: bytes read that the send buffer has not taken yet.
    pending: Vec<u8>,
    peer_closed: bool,
    /// Http: how much of the "\r\n\r\n" ending a request head was just read.
    head_end: usize,
    /// Sink-source and http: the reply (head, then pattern) once begun, and
    /// how much of it is queued.
    reply: Option<(Vec<u8>, u64)>,
}

/// Where a connection stands after it was served.
enum Step {
    /// Waiting for data or room to send.
    Wait,
    /// Done: FIN after the queued data.
    Close,
    /// Broken: reset it (a no-op once the stack has deleted it).
    Abort,
}

/// An error other than "not now" ends the connection.
fn outcome<T>(result: Result<T, Error>) -> Result<T, Step> {
    result.map_err(|err| if err == Error::WouldBlock { Step::Wait } else { Step::Abort })
}

impl Echo {
    fn on_turn(&mut self, stack: &mut Stack, now: Instant) {
        while let Some(event) = stack.next_event() {
            match event {
                Event::Incoming { .. } => {
                    while let Some(socket) = stack.accept(self.port) {
                        self.conns.insert(socket, Conn::default());
                        self.serve(stack, now, socket);
                    }
                }
                Event::Socket { socket, .. } => self.serve(stack, now, socket),
            }
        }
    }

    /// Moves a connection as far as it can go now.
    fn serve(&mut self, stack: &mut Stack, now: Instant, socket: SocketHandle) {
        let Some(conn) = self.conns.get_mut(&socket) else { return };
        let step = match self.mode {
            Mode::Echo => echo(conn, stack, now, socket, &mut self.buf),
            Mode::SinkSource | Mode::Http => {
                sink_source(conn, self.mode, self.bytes, stack, now, socket, &mut self.buf)
            }
        };
        match step.unwrap_or_else(|step| step) {
            Step::Wait => return,
            Step::Close => stack.close(now, socket),
            Step::Abort => stack.abort(now, socket),
        }
        self.conns.remove(&socket);
    }
}

/// Send back what was read; after the peer's FIN, send the rest and close.
fn echo(conn: &mut Conn, stack: &mut Stack, now: Instant, socket: SocketHandle, buf: &mut [u8]) -> Result<Step, Step> {
    loop {
        while !conn.pending.is_empty() {
            let n = outcome(stack.send(now, socket, &conn.pending))?;
            conn.pending.drain(..n);
        }
        if conn.peer_closed {
            return Ok(Step::Close);
        }
        match outcome(stack.recv(now, socket, buf))? {
            0 => conn.peer_closed = true,
            n => conn.pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// Read the request, then send the reply and close first.
fn sink_source(
    conn: &mut Conn,
    mode: Mode,
    bytes: u64,
    stack: &mut Stack,
    now: Instant,
    socket: SocketHandle,
    buf: &mut [u8],
) -> Result<Step, Step> {
    while conn.reply.is_none() {
        let n = outcome(stack.recv(now, socket, buf))?;
        if n == 0 {
            return Ok(Step::Close); // the peer gave up before asking
        }
        let data = &buf[..n];
        let complete = match mode {
            Mode::Http => data.iter().any(|&b| {
                conn.head_end = match b {
                    _ if b == b"\r\n\r\n"[conn.head_end] => conn.head_end + 1,
                    b'\r' => 1,
                    _ => 0,
                };
                conn.head_end == 4
            }),
            _ => {
                let wanted = &data[..n.min((bytes - conn.received) as usize)];
                let mut expected = vec![0; wanted.len()];
                pattern(conn.received, &mut expected);
                if wanted != expected {
                    eprintln!("echo: the request differs from the pattern near byte {}", conn.received);
                    return Err(Step::Abort);
                }
                conn.received + n as u64 >= bytes
            }
        };
        conn.received += n as u64;
        if complete {
            let head = match mode {
                Mode::Http => format!("HTTP/1.0 200 OK\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"),
                _ => String::new(),
            };
            conn.reply = Some((head.into_bytes(), 0));
        }
    }
    let (head, sent) = conn.reply.as_mut().expect("set above");
    let total = head.len() as u64 + bytes;
    while *sent < total {
        // At least one byte, so that a full buffer says WouldBlock and the
        // stack reports WRITABLE when room comes.
        let room = stack.send_capacity(socket).max(1);
        let len = buf.len().min(room).min((total - *sent) as usize);
        let chunk = &mut buf[..len];
        let head_left = &head[(*sent as usize).min(head.len())..];
        let in_head = head_left.len().min(len);
        chunk[..in_head].copy_from_slice(&head_left[..in_head]);
        pattern((*sent + in_head as u64).saturating_sub(head.len() as u64), &mut chunk[in_head..]);
        *sent += outcome(stack.send(now, socket, chunk))? as u64;
    }
    Ok(Step::Close)
}
