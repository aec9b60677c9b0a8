//! Interop with a second, independent TCP: a smoltcp client against our
//! server through the simulator, with and without loss. The bytes must
//! arrive intact both ways and both ends must finish their close.

mod common;
mod smol;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::pattern;
use smol::SmolHost;
use smoltcp::socket::tcp::State as SmolState;
use stack::link::faults::Faults;
use stack::link::sim::{Host, Network};
use stack::time::{Duration, Instant};
use stack::{Config, Stack};

const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;

enum Peer {
    Ours(Box<Stack>),
    Smol(Box<SmolHost>),
}

impl Peer {
    fn ours(&mut self) -> &mut Stack {
        match self {
            Peer::Ours(s) => s,
            Peer::Smol(_) => unreachable!("host 1 is ours"),
        }
    }
    fn smol(&mut self) -> &mut SmolHost {
        match self {
            Peer::Smol(s) => s,
            Peer::Ours(_) => unreachable!("host 0 is smoltcp"),
        }
    }
}

impl Host for Peer {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Peer::Ours(s) => s.receive(now, packet),
            Peer::Smol(s) => s.receive(now, packet),
        }
    }
    fn poll(&mut self, now: Instant) {
        match self {
            Peer::Ours(s) => s.poll(now),
            Peer::Smol(s) => Host::poll(&mut **s, now),
        }
    }
    fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
        match self {
            Peer::Ours(s) => s.transmit(now, emit),
            Peer::Smol(s) => s.transmit(now, emit),
        }
    }
    fn poll_at(&self) -> Option<Instant> {
        match self {
            Peer::Ours(s) => s.poll_at(),
            Peer::Smol(s) => s.poll_at(),
        }
    }
}

/// The smoltcp client sends a request; our server reads all of it, answers
/// with a larger response and closes first; the client reads to the end
/// and closes. Checks every byte, and that both sides finished. Returns
/// how many packets the network lost.
fn exchange(faults: &str, mtu: usize) -> u64 {
    let faults = Faults { delay: Duration::from_millis(1), ..faults.parse().unwrap() };
    let mut net = Network::new(faults);
    let client = net.add_host(CLIENT_ADDR, Peer::Smol(Box::new(SmolHost::new(CLIENT_ADDR, mtu))));
    let mut config = Config::new(SERVER_ADDR);
    config.mtu = mtu;
    config.msl = Duration::from_secs(1);
    let server = net.add_host(SERVER_ADDR, Peer::Ours(Box::new(Stack::new(config))));
    net.host_mut(server).ours().listen(PORT, 4).unwrap();

    let request = pattern(100_000, 1);
    let response = pattern(300_000, 2);
    let smol = net.host_mut(client).smol();
    let c = smol.add_socket(64 * 1024, 64 * 1024);
    smol.connect(c, SocketAddrV4::new(SERVER_ADDR, PORT), 49152);

    let (mut sent, mut got) = (0, Vec::new());
    let (mut s, mut s_got, mut s_sent, mut s_closed) = (None, Vec::new(), 0, false);
    let mut buf = vec![0; 64 * 1024];
    let done = net.run_until(Instant::from_secs(600), |net| {
        let now = net.now();
        let smol = net.host_mut(client).smol();
        let socket = smol.socket(c);
        if socket.can_send() {
            sent += socket.send_slice(&request[sent..]).unwrap();
        }
        while socket.can_recv() {
            let n = socket.recv_slice(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        if socket.state() == SmolState::CloseWait {
            socket.close();
        }
        let client_done = socket.state() == SmolState::Closed;

        let ours = net.host_mut(server).ours();
        s = s.or_else(|| ours.accept(PORT));
        if let Some(h) = s {
            while let Ok(n @ 1..) = ours.recv(now, h, &mut buf) {
                s_got.extend_from_slice(&buf[..n]);
            }
            if s_got.len() == request.len() && s_sent < response.len() {
                s_sent += ours.send(now, h, &response[s_sent..]).unwrap_or(0);
            }
            if s_sent == response.len() && !s_closed {
                ours.close(now, h);
                s_closed = true;
            }
        }
        client_done && got.len() == response.len()
    });
    assert!(done, "not done: client sent {sent}, got {}; server got {}, sent {s_sent}", got.len(), s_got.len());
    assert!(s_got == request, "request corrupted");
    assert!(got == response, "response corrupted");
    // Our side closed first: it ends in TIME-WAIT, then forgets.
    let stack = net.host_mut(server).ours();
    assert_eq!(stack.time_wait_count(), 1);
    net.run_until(net.now() + Duration::from_secs(3), |_| false);
    assert_eq!(net.host_mut(server).ours().time_wait_count(), 0);
    net.stats().paths.iter().map(|path| path.faults.lost).sum()
}

#[test]
fn smoltcp_client_and_our_server_exchange_intact_bytes() {
    assert_eq!(exchange("", 1500), 0);
}

#[test]
fn smoltcp_client_and_our_server_with_large_segments() {
    assert_eq!(exchange("", 65535), 0);
}

#[test]
fn smoltcp_client_and_our_server_with_5_percent_loss() {
    for seed in 1..=4 {
        let lost = exchange(&format!("loss=5%,seed={seed}"), 1500);
        assert!(lost > 10, "seed {seed}: only {lost} packets lost");
    }
}
