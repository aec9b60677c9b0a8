//! The workloads of both benchmarks (`tcp.rs` with criterion, `ratio.rs`
//! interleaved), on our stack and on smoltcp over the same simulator.
#![allow(dead_code)] // each benchmark takes its own part

#[path = "../../tests/smol/mod.rs"]
pub mod smol;

use smol::SmolHost;
use smoltcp::socket::tcp::State as SmolState;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::Stories;
use stack::time::{Duration, Instant};
use stack::{Config, SocketHandle, Stack};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const SERVER_ENDPOINT: SocketAddrV4 = SocketAddrV4::new(SERVER, PORT);
pub const BULK: usize = 8 << 20;
/// Buffers of both stacks: our `Config` defaults. (Our receive buffer starts
/// at 64 KiB and auto-tuning grows it once per round trip; with zero delay
/// the virtual clock never moves, so here it stays at 64 KiB.)
const SEND_BUFFER: usize = 256 * 1024;
const RECV_BUFFER: usize = 64 * 1024;
/// Virtual time per connection in the churn benchmark.
const CHURN_STEP: Duration = Duration::from_millis(10);
const DEADLINE: Instant = Instant::from_secs(1 << 30);

/// Two of our stacks; `stories`: whether they record what happens to each
/// connection (`Config::stories`), to measure what recording costs.
fn our_pair(mtu: usize, stories: Stories) -> Network<Stack> {
    let mut net = Network::new(Faults::default());
    for addr in [CLIENT, SERVER] {
        let mut config = Config::new(addr);
        config.mtu = mtu;
        config.stories = stories;
        // TIME-WAIT = 2·MSL = 10 s, as smoltcp's.
        config.msl = Duration::from_secs(5);
        net.add_host(addr, Stack::new(config));
    }
    net.host_mut(1).listen(PORT, 1024).unwrap();
    net
}

fn smol_pair(mtu: usize) -> Network<SmolHost> {
    let mut net = Network::new(Faults::default());
    net.add_host(CLIENT, SmolHost::new(CLIENT, mtu));
    net.add_host(SERVER, SmolHost::new(SERVER, mtu));
    net
}

pub fn our_bulk(mtu: usize, stories: Stories) {
    let mut net = our_pair(mtu, stories);
    let c = net.host_mut(0).connect(Instant::ZERO, SERVER_ENDPOINT.into()).unwrap();
    let data = vec![0x5a; SEND_BUFFER];
    let mut buf = vec![0; RECV_BUFFER];
    let (mut s, mut sent, mut got) = (None, 0, 0);
    assert!(net.run_until(DEADLINE, |net| {
        let now = net.now();
        let client = net.host_mut(0);
        while sent < BULK {
            match client.send(now, c, &data[..(BULK - sent).min(data.len())]) {
                Ok(n @ 1..) => sent += n,
                _ => break,
            }
        }
        let server = net.host_mut(1);
        s = s.or_else(|| server.accept(PORT));
        if let Some(h) = s {
            while let Ok(n @ 1..) = server.recv(now, h, &mut buf) {
                got += n;
            }
        }
        got == BULK
    }));
}

pub fn smol_bulk(mtu: usize) {
    let mut net = smol_pair(mtu);
    let s = net.host_mut(1).add_socket(RECV_BUFFER, SEND_BUFFER);
    net.host_mut(1).socket(s).listen(PORT).unwrap();
    let c = net.host_mut(0).add_socket(RECV_BUFFER, SEND_BUFFER);
    net.host_mut(0).connect(c, SERVER_ENDPOINT, 49152);
    let data = vec![0x5a; SEND_BUFFER];
    let mut buf = vec![0; RECV_BUFFER];
    let (mut sent, mut got) = (0, 0);
    assert!(net.run_until(DEADLINE, |net| {
        let client = net.host_mut(0).socket(c);
        while sent < BULK && client.can_send() {
            match client.send_slice(&data[..(BULK - sent).min(data.len())]) {
                Ok(n @ 1..) => sent += n,
                _ => break,
            }
        }
        let server = net.host_mut(1).socket(s);
        while server.can_recv() {
            got += server.recv_slice(&mut buf).unwrap();
        }
        got == BULK
    }));
}

/// One connection of the churn benchmark on our stacks.
fn our_connection(net: &mut Network<Stack>, request: &[u8], response: &[u8], buf: &mut [u8]) {
    let now = net.now();
    let c = net.host_mut(0).connect(now, SERVER_ENDPOINT.into()).unwrap();
    let mut s: Option<SocketHandle> = None;
    let (mut asked, mut answered, mut got) = (false, false, 0);
    assert!(net.run_until(DEADLINE, |net| {
        let now = net.now();
        let server = net.host_mut(1);
        s = s.or_else(|| server.accept(PORT));
        if let (Some(h), false) = (s, answered) {
            if matches!(server.recv(now, h, buf), Ok(n) if n == request.len()) {
                server.send(now, h, response).unwrap();
                server.close(now, h);
                answered = true;
            }
        }
        let client = net.host_mut(0);
        if !asked && client.send(now, c, request) == Ok(request.len()) {
            asked = true;
        }
        loop {
            match client.recv(now, c, buf) {
                Ok(0) => {
                    client.close(now, c);
                    break;
                }
                Ok(n) => got += n,
                Err(_) => break,
            }
        }
        got == response.len() && client.state(c).is_none()
    }));
    net.run_until(net.now() + CHURN_STEP, |_| false);
}

/// One connection of the churn benchmark on smoltcp. A server socket
/// serves one connection, then sits in TIME-WAIT; `pool` holds them oldest
/// first, and one whose TIME-WAIT ended listens again.
fn smol_connection(
    net: &mut Network<SmolHost>,
    pool: &mut VecDeque<smoltcp::iface::SocketHandle>,
    port: &mut u16,
    request: &[u8],
    response: &[u8],
    buf: &mut [u8],
) {
    let server = net.host_mut(1);
    let s = match pool.front() {
        Some(&h) if server.socket(h).state() == SmolState::Closed => pool.pop_front().unwrap(),
        _ => server.add_socket(8 * 1024, 8 * 1024),
    };
    server.socket(s).listen(PORT).unwrap();
    pool.push_back(s);
    let client = net.host_mut(0);
    let c = client.add_socket(RECV_BUFFER, SEND_BUFFER);
    *port = if *port == u16::MAX { 49152 } else { *port + 1 };
    client.connect(c, SERVER_ENDPOINT, *port);
    let (mut asked, mut answered, mut got) = (false, false, 0);
    assert!(net.run_until(DEADLINE, |net| {
        let server = net.host_mut(1).socket(s);
        if !answered && server.recv_queue() == request.len() {
            server.recv_slice(buf).unwrap();
            server.send_slice(response).unwrap();
            server.close();
            answered = true;
        }
        let client = net.host_mut(0).socket(c);
        if !asked && client.can_send() {
            client.send_slice(request).unwrap();
            asked = true;
        }
        while client.can_recv() {
            got += client.recv_slice(buf).unwrap();
        }
        if client.state() == SmolState::CloseWait {
            client.close();
        }
        got == response.len() && client.state() == SmolState::Closed
    }));
    net.host_mut(0).sockets.remove(c);
    net.run_until(net.now() + CHURN_STEP, |_| false);
}

/// A churn workload on our stacks: each call runs one connection.
pub fn our_churn(stories: Stories) -> impl FnMut() {
    let (request, response, mut buf) = churn_buffers();
    let mut net = our_pair(1500, stories);
    move || our_connection(&mut net, &request, &response, &mut buf)
}

/// The same on smoltcp.
pub fn smol_churn() -> impl FnMut() {
    let (request, response, mut buf) = churn_buffers();
    let mut net = smol_pair(1500);
    let (mut pool, mut port) = (VecDeque::new(), 49151);
    move || smol_connection(&mut net, &mut pool, &mut port, &request, &response, &mut buf)
}

/// A 1 KiB request, a 1 KiB response, a buffer to read them.
fn churn_buffers() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    (vec![b'q'; 1024], vec![b'r'; 1024], vec![0; 4096])
}
