//! smoltcp as a host of the simulator: a second, independent TCP for the
//! interop test and the in-process benchmarks. Shared by
//! `tests/smoltcp_interop.rs` and `benches/tcp.rs`.
#![allow(dead_code)] // each user takes its own part

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpCidr};
use stack::link::sim::Host;
use stack::time::Instant;

/// An IP-medium device between smoltcp and the simulator: at most one
/// packet in (the simulator hands them over one by one), and the packets
/// out back to back in one buffer, so no packet costs an allocation.
pub struct SimDevice {
    mtu: usize,
    rx: Vec<u8>,
    rx_full: bool,
    tx: Vec<u8>,
    tx_lens: Vec<usize>,
}

pub struct Rx<'a>(&'a [u8]);

pub struct Tx<'a> {
    bytes: &'a mut Vec<u8>,
    lens: &'a mut Vec<usize>,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        self.lens.push(len);
        f(&mut self.bytes[start..])
    }
}

impl Device for SimDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(Rx<'_>, Tx<'_>)> {
        if !std::mem::take(&mut self.rx_full) {
            return None;
        }
        Some((Rx(&self.rx), Tx { bytes: &mut self.tx, lens: &mut self.tx_lens }))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx { bytes: &mut self.tx, lens: &mut self.tx_lens })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

/// One smoltcp interface with its sockets.
pub struct SmolHost {
    pub iface: Interface,
    pub device: SimDevice,
    pub sockets: SocketSet<'static>,
    /// `Interface::poll_at` needs `&mut`; `Host::poll_at` has `&`.
    next_poll: Option<Instant>,
}

fn smol_now(now: Instant) -> SmolInstant {
    SmolInstant::from_micros(now.total_micros() as i64)
}

impl SmolHost {
    pub fn new(addr: Ipv4Addr, mtu: usize) -> SmolHost {
        let mut device = SimDevice { mtu, rx: Vec::new(), rx_full: false, tx: Vec::new(), tx_lens: Vec::new() };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from(addr.to_bits());
        let mut iface = Interface::new(config, &mut device, SmolInstant::ZERO);
        iface.update_ip_addrs(|addrs| addrs.push(IpCidr::new(addr.into(), 24)).unwrap());
        SmolHost { iface, device, sockets: SocketSet::new(Vec::new()), next_poll: None }
    }

    /// A TCP socket with buffers of the given sizes.
    pub fn add_socket(&mut self, rx: usize, tx: usize) -> SocketHandle {
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; rx]), tcp::SocketBuffer::new(vec![0; tx]));
        self.sockets.add(socket)
    }

    pub fn socket(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut(h)
    }

    pub fn connect(&mut self, h: SocketHandle, remote: SocketAddrV4, local_port: u16) {
        let socket = self.sockets.get_mut::<tcp::Socket>(h);
        socket.connect(self.iface.context(), (*remote.ip(), remote.port()), local_port).unwrap();
    }

    /// Runs the interface: takes in the pending packet, lets timers fire,
    /// queues what the sockets have to send.
    pub fn run(&mut self, now: Instant) {
        let t = smol_now(now);
        self.iface.poll(t, &mut self.device, &mut self.sockets);
        self.next_poll =
            self.iface.poll_at(t, &self.sockets).map(|at| Instant::from_micros(at.total_micros().max(0) as u64));
    }
}

impl Host for SmolHost {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.device.rx.clear();
        self.device.rx.extend_from_slice(packet);
        self.device.rx_full = true;
        self.run(now);
    }

    fn poll(&mut self, now: Instant) {
        self.run(now);
    }

    fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
        self.run(now);
        let mut start = 0;
        for &len in &self.device.tx_lens {
            emit(&[&self.device.tx[start..start + len]]);
            start += len;
        }
        self.device.tx.clear();
        self.device.tx_lens.clear();
    }

    fn poll_at(&self) -> Option<Instant> {
        self.next_poll
    }
}
