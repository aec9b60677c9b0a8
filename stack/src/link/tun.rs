//! The TUN link: a virtual network interface whose other end is this process.
//!
//! Opening `/dev/net/tun` with `IFF_TUN | IFF_NO_PI` creates an interface
//! (default `tcp0`) that carries bare IPv4 packets: every packet the host
//! routes into it comes out of `read()` on our file descriptor, and every
//! packet we `write()` enters the host as if it arrived on a wire. The host
//! side gets an address (default 10.0.0.1/24), so the kernel routes the whole
//! subnet to us; the stack answers as another address of it (e.g. 10.0.0.2).
//!
//! Unlike `lo`, this is a real path for the kernel: it computes full checksums
//! on what it sends, so the stack must verify them (`RxChecksum::Verify`).
//! The interface is not persistent: closing the descriptor (dropping the
//! link) removes it, with its address and route.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use socket2::{Domain, Socket, Type};

use super::sys::{ifreq, interface_ioctl, os_error, set_up};
use super::{check_mtu, Link, LinkCaps, RxChecksum, TxChecksum};

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
    pub mtu: usize,
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig { name: "tcp0".into(), host_addr: Ipv4Addr::new(10, 0, 0, 1), prefix_len: 24, mtu: 1500 }
    }
}

/// A TUN interface; see the module documentation.
pub struct TunLink {
    dev: File,
    name: String,
    mtu: usize,
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
        set_up(&control, name).map_err(|err| os_error(err, &format!("bringing {name} up"), "CAP_NET_ADMIN"))?;

        Ok(TunLink { dev, name: name.clone(), mtu, buf: vec![0; 65535].into_boxed_slice() })
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
                // The host also sends IPv6 here (router solicitations, MLD
                // reports); links carry IPv4 only.
                Ok(n) if n == 0 || self.buf[0] >> 4 != 4 => {}
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
    use std::net::{SocketAddrV4, UdpSocket};
    use std::time::{Duration, Instant};

    use super::super::testutil::{in_netns, ipv4};
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

    /// Waits up to a second for the link to deliver a packet.
    fn recv_one(link: &mut TunLink) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut got = Vec::new();
        while got.is_empty() && Instant::now() < deadline {
            link.recv_batch(&mut |p| got.push(p.to_vec())).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        got.into_iter().next().expect("no packet came out of the TUN")
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
            let packet = recv_one(&mut link);
            assert_eq!((packet[9], &packet[16..20]), (17, &STACK.octets()[..]));
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

    #[test]
    fn taken_interface_name_is_a_clear_error() {
        in_netns(|| {
            let config = TunConfig { name: "lo".into(), ..TunConfig::default() };
            let err = TunLink::open(&config).err().unwrap().to_string();
            assert!(err.starts_with("network interface lo already exists"), "{err}");
        });
    }
}
