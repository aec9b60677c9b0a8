//! The TUN link: a virtual network interface whose other end is this process.
//!
//! Opening `/dev/net/tun` with `IFF_TUN | IFF_NO_PI` creates an interface
//! (default `tcp0`) that carries bare IP packets: every packet the host
//! routes into it comes out of `read()` on our file descriptor, and every
//! packet we `write()` enters the host as if it arrived on a wire. Without
//! the packet-information header (`IFF_NO_PI`) the kernel takes a written
//! packet's protocol from its first nibble, 4 or 6. The host side gets an
//! address (default 10.0.0.1/24), so the kernel routes the whole subnet to
//! us; the stack answers as another address of it (e.g. 10.0.0.2). With
//! IPv6 the host side gets an IPv6 address too (default fd00::1/64, a
//! unique local address, RFC 4193) and the stack answers as another
//! (fd00::2). A TUN interface has no link layer, so IPv6 needs no neighbour
//! discovery on it; the host's address skips duplicate address detection
//! (`accept_dad` 0), which would leave it unusable for a second or two.
//! The host also sends multicast listener reports on it; the stack drops
//! them, not being addressed to it.
//!
//! Unlike `lo`, this is a real path for the kernel: it computes full checksums
//! on what it sends, so the stack must verify them (`RxChecksum::Verify`).
//! The interface is not persistent: closing the descriptor (dropping the
//! link) removes it, with its address and route.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use socket2::{Domain, Socket, Type};

use super::sys::{add_ipv6_address, ifreq, interface_ioctl, os_error, set_up};
use super::{check_mtu, Link, LinkCaps, RxChecksum, TxChecksum};
use crate::tcp::IPV6_MIN_MTU;

/// How many packets one `recv_batch` reads at most, so that a flood cannot
/// starve the rest of the event loop.
const RX_BATCH: usize = 256;

/// The largest MTU a TUN interface takes: the largest IPv4 packet.
const MAX_MTU: usize = 65535;

/// Where the TUN interface goes and how the host side is addressed.
#[derive(Clone, Debug)]
pub struct TunConfig {
    /// Interface name, at most 15 bytes.
    pub name: String,
    /// The host's address on the interface; the stack uses another one.
    pub host_addr: Ipv4Addr,
    pub prefix_len: u8,
    /// The host's IPv6 address on the interface and its prefix length, or
    /// `None` for IPv4 only.
    pub host_addr6: Option<(Ipv6Addr, u8)>,
    pub mtu: usize,
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig {
            name: "tcp0".into(),
            host_addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix_len: 24,
            host_addr6: Some((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 64)),
            mtu: 1500,
        }
    }
}

/// A TUN interface; see the module documentation.
pub struct TunLink {
    dev: File,
    name: String,
    mtu: usize,
    /// IPv6 packets are the stack's too (else only IPv4 ones are).
    ipv6: bool,
    buf: Box<[u8]>,
}

impl TunLink {
    /// Creates the interface, addresses it and brings it up.
    pub fn open(config: &TunConfig) -> io::Result<TunLink> {
        let name = &config.name;
        let mtu = check_mtu(config.mtu, "a TUN interface", MAX_MTU)?;
        if config.prefix_len > 32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("prefix /{} is longer than an IPv4 address: pick one from 0 to 32", config.prefix_len),
            ));
        }
        if let Some((_, prefix)) = config.host_addr6.filter(|&(_, prefix)| prefix > 128) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("prefix /{prefix} is longer than an IPv6 address: pick one from 0 to 128"),
            ));
        }
        if config.host_addr6.is_some() && mtu < IPV6_MIN_MTU {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--mtu {mtu} is below IPv6's least, {IPV6_MIN_MTU} (RFC 8200 §5): pick a larger one, or IPv4 only"
                ),
            ));
        }
        let control = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        if interface_ioctl(&control, libc::SIOCGIFINDEX, &mut ifreq(name)?).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("network interface {name} already exists: remove it (sudo ip link delete {name}) or choose another TUN name"),
            ));
        }
        let dev =
            OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK).open("/dev/net/tun").map_err(
                |err| match err.kind() {
                    io::ErrorKind::NotFound => {
                        io::Error::new(err.kind(), "/dev/net/tun is missing: load the tun module: sudo modprobe tun")
                    }
                    _ => os_error(err, "opening /dev/net/tun", "CAP_NET_ADMIN"),
                },
            )?;

        let creating = format!("creating TUN interface {name}");
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        interface_ioctl(&dev, libc::TUNSETIFF, &mut req).map_err(|err| os_error(err, &creating, "CAP_NET_ADMIN"))?;

        let netmask = u32::MAX.checked_shl(32 - u32::from(config.prefix_len)).unwrap_or(0);
        let configure = |request, set: &dyn Fn(&mut libc::ifreq)| {
            let mut req = ifreq(name)?;
            set(&mut req);
            interface_ioctl(&control, request, &mut req)
                .map_err(|err| os_error(err, &format!("configuring {name}"), "CAP_NET_ADMIN"))
        };
        configure(libc::SIOCSIFADDR, &|r| r.ifr_ifru.ifru_addr = sockaddr(config.host_addr))?;
        configure(libc::SIOCSIFNETMASK, &|r| r.ifr_ifru.ifru_netmask = sockaddr(netmask.into()))?;
        configure(libc::SIOCSIFMTU, &|r| r.ifr_ifru.ifru_mtu = mtu as libc::c_int)?;
        if let Some((addr6, prefix)) = config.host_addr6 {
            let configuring = format!("configuring {name} for IPv6 ({addr6}/{prefix})");
            let dad = format!("/proc/sys/net/ipv6/conf/{name}/accept_dad");
            std::fs::write(&dad, "0")
                .and_then(|()| add_ipv6_address(name, addr6, prefix))
                .map_err(|err| os_error(err, &configuring, "CAP_NET_ADMIN"))?;
        }
        set_up(&control, name).map_err(|err| os_error(err, &format!("bringing {name} up"), "CAP_NET_ADMIN"))?;
        if let Some((addr6, _)) = config.host_addr6 {
            usable(addr6)?;
        }

        let ipv6 = config.host_addr6.is_some();
        Ok(TunLink { dev, name: name.clone(), mtu, ipv6, buf: vec![0; 65535].into_boxed_slice() })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Link for TunLink {
    fn caps(&self) -> LinkCaps {
        LinkCaps { mtu: self.mtu, rx_checksum: RxChecksum::Verify, tx_checksum: TxChecksum::Complete }
    }

    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut delivered = 0;
        for _ in 0..RX_BATCH {
            match self.dev.read(&mut self.buf) {
                // Without IPv6 the host still sends IPv6 here (multicast
                // listener reports): not the stack's.
                Ok(n) if n == 0 || !(self.buf[0] >> 4 == 4 || self.ipv6 && self.buf[0] >> 4 == 6) => {}
                Ok(n) => {
                    f(&self.buf[..n]);
                    delivered += 1;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(delivered)
    }

    /// Writes the packet at once: one `write()` is one packet into the host.
    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()> {
        let parts: Vec<IoSlice> = packet.iter().map(|part| IoSlice::new(part)).collect();
        match self.dev.write_vectored(&parts) {
            // A full interface queue drops the packet, as a busy wire would;
            // TCP retransmits.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
            result => result.map(drop),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn as_raw_fd(&self) -> Option<RawFd> {
        Some(self.dev.as_raw_fd())
    }
}

/// Waits until the host can use its IPv6 address `addr`: even without
/// duplicate address detection a new address is tentative until a kernel
/// worker clears the flag, a moment after the interface comes up; until
/// then no socket may bind to it, which is how we tell.
fn usable(addr: Ipv6Addr) -> io::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, None)?;
        match socket.bind(&SocketAddr::from((addr, 0)).into()) {
            Err(err) if err.raw_os_error() == Some(libc::EADDRNOTAVAIL) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            result => {
                return result.map_err(|err| io::Error::new(err.kind(), format!("{addr} is not usable: {err}")));
            }
        }
    }
}

/// `addr` as the generic `sockaddr` that interface requests carry.
fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(addr).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` are both 16-byte plain C structs;
    // the kernel reads this one as `sockaddr_in` because of its family.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr, SocketAddrV4, UdpSocket};
    use std::time::{Duration, Instant};

    use super::super::testutil::{checksum, in_netns, ipv4, ipv6};
    use super::*;

    const STACK: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// The address the kernel holds on `name`.
    fn interface_addr(name: &str) -> io::Result<Ipv4Addr> {
        let control = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        let mut req = ifreq(name)?;
        interface_ioctl(&control, libc::SIOCGIFADDR, &mut req)?;
        // SAFETY: SIOCGIFADDR succeeded, so the field holds an AF_INET address.
        let sin: libc::sockaddr_in = unsafe { std::mem::transmute(req.ifr_ifru.ifru_addr) };
        Ok(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    }

    /// Waits up to a second for the link to deliver a packet to `dst`
    /// (the host also sends multicast: router solicitations, listener
    /// reports).
    fn recv_to(link: &mut TunLink, dst: IpAddr) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut got = None;
        let to = |p: &[u8]| match dst {
            IpAddr::V4(dst) => p[0] >> 4 == 4 && p[16..20] == dst.octets(),
            IpAddr::V6(dst) => p[0] >> 4 == 6 && p[24..40] == dst.octets(),
        };
        while got.is_none() && Instant::now() < deadline {
            link.recv_batch(&mut |p| {
                if got.is_none() && to(p) {
                    got = Some(p.to_vec());
                }
            })
            .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        got.unwrap_or_else(|| panic!("no packet to {dst} came out of the TUN"))
    }

    #[test]
    fn tun_moves_packets_both_ways_and_vanishes_on_drop() {
        in_netns(|| {
            let mut link = TunLink::open(&TunConfig::default()).unwrap();
            assert_eq!(interface_addr("tcp0").unwrap(), Ipv4Addr::new(10, 0, 0, 1));
            let caps = LinkCaps { mtu: 1500, rx_checksum: RxChecksum::Verify, tx_checksum: TxChecksum::Complete };
            assert_eq!(link.caps(), caps);

            // Host to stack: a kernel UDP datagram to 10.0.0.2 comes out of the TUN.
            let host = UdpSocket::bind("10.0.0.1:4000").unwrap();
            host.send_to(b"ping", SocketAddrV4::new(STACK, 7)).unwrap();
            let packet = recv_to(&mut link, STACK.into());
            assert_eq!(packet[9], 17);
            assert_eq!(&packet[28..], b"ping");

            // Stack to host: a datagram written to the TUN reaches the socket.
            let udp = [0, 7, 0x0f, 0xa0, 0, 12, 0, 0, b'p', b'o', b'n', b'g']; // no UDP checksum
            link.send(&[&ipv4(STACK, Ipv4Addr::new(10, 0, 0, 1), 17, &udp)]).unwrap();
            link.flush().unwrap();
            host.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut buf = [0; 16];
            let (n, from) = host.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"pong"[..], SocketAddrV4::new(STACK, 7).into()));

            drop(link);
            assert_eq!(interface_addr("tcp0").unwrap_err().raw_os_error(), Some(libc::ENODEV));
        });
    }

    /// With IPv6, the host holds fd00::1 at once (no duplicate address
    /// detection to wait for), a datagram of the host's to fd00::2 comes
    /// out of the TUN, and one written to it reaches the host's socket;
    /// without, IPv6 packets do not come out.
    #[test]
    fn tun_moves_ipv6_packets_both_ways() {
        in_netns(|| {
            let (host, stack): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
            let mut link = TunLink::open(&TunConfig::default()).unwrap();
            let socket = UdpSocket::bind((host, 4000)).expect("fd00::1 is the host's at once");
            socket.send_to(b"ping", (stack, 7)).unwrap();
            let packet = recv_to(&mut link, stack.into());
            assert_eq!(packet[6], 17);
            assert_eq!(&packet[48..], b"ping");

            let mut udp = vec![0, 7, 0x0f, 0xa0, 0, 12, 0, 0, b'p', b'o', b'n', b'g'];
            // UDP's checksum is not optional over IPv6 (RFC 8200 §8.1).
            let pseudo = [&stack.octets()[..], &host.octets(), &12u32.to_be_bytes(), &[0, 0, 0, 17]].concat();
            let sum = checksum(&[&pseudo, &udp]);
            udp[6..8].copy_from_slice(&sum.to_be_bytes());
            link.send(&[&ipv6(stack, host, 17, &udp)]).unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut buf = [0; 16];
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"pong"[..], SocketAddr::from((stack, 7))));
            drop(link);

            let mut link = TunLink::open(&TunConfig { host_addr6: None, ..TunConfig::default() }).unwrap();
            assert!(UdpSocket::bind((host, 4000)).is_err(), "fd00::1 without IPv6");
            let mut ipv6_out = 0;
            std::thread::sleep(Duration::from_millis(200));
            link.recv_batch(&mut |p| ipv6_out += usize::from(p[0] >> 4 == 6)).unwrap();
            assert_eq!(ipv6_out, 0, "IPv6 packets came out of an IPv4 link");
        });
    }

    /// IPv6 needs an MTU of 1280 at least (RFC 8200 §5).
    #[test]
    fn ipv6_below_1280_is_a_clear_error() {
        in_netns(|| {
            let err = TunLink::open(&TunConfig { mtu: 1279, ..TunConfig::default() }).err().unwrap().to_string();
            assert!(err.starts_with("--mtu 1279 is below IPv6's least, 1280"), "{err}");
            TunLink::open(&TunConfig { mtu: 1279, host_addr6: None, ..TunConfig::default() }).expect("IPv4 only");
        });
    }

    #[test]
    fn taken_interface_name_is_a_clear_error() {
        in_netns(|| {
            let config = TunConfig { name: "lo".into(), ..TunConfig::default() };
            let err = TunLink::open(&config).err().unwrap().to_string();
            assert!(err.starts_with("network interface lo already exists"), "{err}");
        });
    }
}
