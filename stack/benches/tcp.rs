//! The stack against smoltcp, in process: two hosts joined by the in-memory
//! simulator (no syscalls, zero delay, no faults), once with our `Stack` on
//! both ends and once with smoltcp on both ends, through the same simulator
//! and an equivalent device (see `tests/smol`).
//!
//! - `bulk/*`: one connection moves 8 MiB one way; throughput in bytes/s
//!   (Gbit/s = GB/s × 8).
//! - `churn/*`: connect, 1 KiB request, 1 KiB response, the server closes
//!   first and holds TIME-WAIT; one connection per iteration. Virtual time
//!   moves 10 ms per connection and TIME-WAIT lasts 10 s on both (smoltcp's
//!   is fixed at 10 s), so each server holds about 1,000 TIME-WAIT entries.
//!
//! `cargo bench -p stack`

#[path = "../tests/smol/mod.rs"]
mod smol;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration as WallDuration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smol::SmolHost;
use smoltcp::socket::tcp::State as SmolState;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::time::{Duration, Instant};
use stack::{Config, SocketHandle, Stack};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const SERVER_ENDPOINT: SocketAddrV4 = SocketAddrV4::new(SERVER, PORT);
const BULK: usize = 8 << 20;
/// Buffers of both stacks: our `Config` defaults.
const SEND_BUFFER: usize = 256 * 1024;
const RECV_BUFFER: usize = 64 * 1024;
/// Virtual time per connection in the churn benchmark.
const CHURN_STEP: Duration = Duration::from_millis(10);
const DEADLINE: Instant = Instant::from_secs(1 << 30);

fn our_pair(mtu: usize) -> Network<Stack> {
    let mut net = Network::new(Faults::default());
    for addr in [CLIENT, SERVER] {
        let mut config = Config::new(addr);
        config.mtu = mtu;
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

fn our_bulk(mtu: usize) {
    let mut net = our_pair(mtu);
    let c = net.host_mut(0).connect(Instant::ZERO, SERVER_ENDPOINT).unwrap();
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

fn smol_bulk(mtu: usize) {
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
    let c = net.host_mut(0).connect(now, SERVER_ENDPOINT).unwrap();
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

fn bulk(c: &mut Criterion) {
    for mtu in [65535, 1500] {
        let mut group = c.benchmark_group(format!("bulk_mtu{mtu}"));
        group.throughput(Throughput::BytesDecimal(BULK as u64));
        group.bench_function("ours", |b| b.iter(|| our_bulk(mtu)));
        group.bench_function("smoltcp", |b| b.iter(|| smol_bulk(mtu)));
        group.finish();
    }
}

fn churn(c: &mut Criterion) {
    let request = vec![b'q'; 1024];
    let response = vec![b'r'; 1024];
    let mut buf = vec![0; 4096];
    let mut group = c.benchmark_group("churn");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ours", |b| {
        let mut net = our_pair(1500);
        b.iter(|| our_connection(&mut net, &request, &response, &mut buf));
    });
    group.bench_function("smoltcp", |b| {
        let mut net = smol_pair(1500);
        let (mut pool, mut port) = (VecDeque::new(), 49151);
        b.iter(|| smol_connection(&mut net, &mut pool, &mut port, &request, &response, &mut buf));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(WallDuration::from_secs(1))
        .measurement_time(WallDuration::from_secs(3));
    targets = bulk, churn
}
criterion_main!(benches);
