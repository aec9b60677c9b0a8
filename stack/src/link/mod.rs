//! Links carry whole IP packets, IPv4 or IPv6, between the stack and the
//! world.
//!
//! [`driver`] runs a stack over a link in an event loop; [`monotonic_now`]
//! is the clock it and the links that hold packets back share. [`open`]
//! opens a device with the capture and the faults a program asks for.

pub mod driver;
pub mod faults;
pub mod loopback;
pub mod netns;
pub mod pcap;
pub mod sim;
mod sys;
#[cfg(test)]
mod testutil;
pub mod tun;

use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::OnceLock;

pub use sys::check_interface_name;

use crate::time::Instant;
use crate::wire::checksum::{RxChecksum, TxChecksum};
use faults::{FaultLink, Faults};
use loopback::{LoopbackLink, Served};
use pcap::{PcapLink, PcapWriter};
use tun::{TunConfig, TunLink};

/// The smallest MTU there is: every IPv4 host must take a 68-byte packet
/// whole (RFC 791, "Fragmentation and Reassembly").
pub const MIN_MTU: usize = 68;

/// `mtu`, if it is one that `device`, which takes packets of at most `max`
/// bytes, can use: from `MIN_MTU` to `max`. The error names `--mtu`, the
/// option the programs here take it from.
pub fn check_mtu(mtu: usize, device: &str, max: usize) -> io::Result<usize> {
    if !(MIN_MTU..=max).contains(&mtu) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--mtu {mtu} does not fit {device}, which takes at most {max}: pick one from {MIN_MTU} to {max}"),
        ));
    }
    Ok(mtu)
}

/// The device under a program's link.
#[derive(Clone, Debug)]
pub enum Device {
    /// Linux's `lo`, for one port on the served addresses (127.0.0.1,
    /// ::1); `mtu` lowers lo's (see [`loopback`]).
    Loopback { served: Served, mtu: Option<usize> },
    /// A TUN interface (see [`tun`]).
    Tun(TunConfig),
}

/// Opens `device`, recording to the pcap file `pcap` and misbehaving by
/// `faults` if given, always in this order:
///
/// ```text
///   Stack
///    │  ▲
///   FaultLink    faults: a bad path between the stack and the wire
///    │  ▲
///   PcapLink     the capture: what crosses here, both ways
///    │  ▲
///   device       lo or TUN: the kernel
/// ```
///
/// So the capture shows what crossed the wire, as `tcpdump` on the
/// interface would: a packet the stack sent that the faults dropped is not
/// in it, a duplicated one is in it twice, a delayed one at the time it
/// left, a corrupted one corrupted; a packet the kernel sent is in it even
/// if the faults lose it before the stack sees it. Between the capture and
/// the stack's own view, the difference is what the faults did.
///
/// Faults that corrupt packets turn the loopback link's checksum offload
/// off: the kernel's TCP must verify the checksums it gets, or a flipped
/// bit would pass for data.
pub fn open(device: &Device, faults: Option<Faults>, pcap: Option<&Path>) -> io::Result<Box<dyn Link + Send>> {
    let mut link: Box<dyn Link + Send> = match device {
        Device::Loopback { served, mtu } => {
            let mut lo = LoopbackLink::open(*served, *mtu)?;
            if faults.as_ref().is_some_and(|faults| faults.corrupt > 0.0) {
                lo.set_tx_checksum(TxChecksum::Complete);
            }
            Box::new(lo)
        }
        Device::Tun(config) => Box::new(TunLink::open(config)?),
    };
    if let Some(path) = pcap {
        link = Box::new(PcapLink::new(link, PcapWriter::create(path)?));
    }
    if let Some(faults) = faults {
        link = Box::new(FaultLink::new(link, faults));
    }
    Ok(link)
}

/// `n` links to `device` for `n` stacks, one per thread, that share its
/// packets by flow, each misbehaving by `faults` if given: every packet of
/// a connection comes to the same link (see [`loopback`]). Only `lo` can
/// be shared so (a TUN device would need a queue per stack,
/// `IFF_MULTI_QUEUE`).
pub fn open_group(device: &Device, n: usize, faults: Option<Faults>) -> io::Result<Vec<Box<dyn Link + Send>>> {
    let links: Vec<Box<dyn Link + Send>> = match device {
        Device::Loopback { served, mtu } => LoopbackLink::open_group(*served, *mtu, n)?
            .into_iter()
            .map(|link| Box::new(link) as Box<dyn Link + Send>)
            .collect(),
        Device::Tun(_) => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a TUN link serves one stack only"));
        }
    };
    Ok(match faults {
        Some(faults) => links
            .into_iter()
            .map(|link| Box::new(FaultLink::new(link, faults.clone())) as Box<dyn Link + Send>)
            .collect(),
        None => links,
    })
}

/// The real monotonic clock as the core's `Instant`: microseconds since the
/// first call in this process. One origin for the whole process, so that the
/// driver's deadlines and a link's release times can be compared.
pub fn monotonic_now() -> Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    Instant::from_micros(origin.elapsed().as_micros() as u64)
}

/// What the stack needs to know about a link.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LinkCaps {
    /// Largest IP packet the link carries, header included.
    pub mtu: usize,
    pub rx_checksum: RxChecksum,
    pub tx_checksum: TxChecksum,
}

/// What a link lost on its own, for the status view.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets the kernel dropped before we could read them (receive ring
    /// or buffer full).
    pub kernel_drops: u64,
    /// Packets dropped on sending because the device queue stayed full.
    pub tx_drops: u64,
    /// Packets the kernel refused to send, such as SYN,ACKs to the
    /// unroutable source of a spoofed SYN.
    pub tx_errors: u64,
}

/// A device that moves IP packets. Implementations are non-blocking.
pub trait Link {
    fn caps(&self) -> LinkCaps;

    /// Deliver the packets waiting now, one call of `f` each; returns how many
    /// it took from the device (0 when none was waiting). A link may stop
    /// before the device is empty, so a caller woken by an edge-triggered
    /// poller calls again until it gets 0.
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize>;

    /// Queue one packet for sending; it may wait for `flush`. The packet
    /// comes in parts, to be sent one after the other: from the stack, its
    /// headers and then its payload where it lies in the send buffer
    /// (`Stack::transmit`), so that a link copies the bytes once, where
    /// they go (its queue, the kernel), and never joins them first.
    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()>;

    /// Send everything queued.
    fn flush(&mut self) -> io::Result<()>;

    /// The file descriptor that becomes readable when `recv_batch` has
    /// packets, to register with a poller (e.g. `mio::unix::SourceFd`);
    /// `None` for links without one, such as the simulator.
    fn as_raw_fd(&self) -> Option<RawFd> {
        None
    }

    /// When packets the link holds back (as a delaying fault link does) are
    /// due: the caller must call `recv_batch` and `flush` again by then, even
    /// if the file descriptor stays quiet.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
}

/// A boxed link is a link, so that a program can pick one at run time.
impl<L: Link + ?Sized> Link for Box<L> {
    fn caps(&self) -> LinkCaps {
        (**self).caps()
    }
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        (**self).recv_batch(f)
    }
    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()> {
        (**self).send(packet)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
    fn as_raw_fd(&self) -> Option<RawFd> {
        (**self).as_raw_fd()
    }
    fn poll_at(&self) -> Option<Instant> {
        (**self).poll_at()
    }
    fn stats(&self) -> LinkStats {
        (**self).stats()
    }
}

/// A link made of two queues, for the tests of the middlewares: it delivers
/// what was put in `rx` and keeps what is sent in `tx`.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct QueueLink {
    pub rx: std::collections::VecDeque<Vec<u8>>,
    pub tx: Vec<Vec<u8>>,
    /// It says it leaves TCP checksums partial (`TxChecksum::Offloaded`).
    pub offloaded: bool,
}

#[cfg(test)]
impl Link for QueueLink {
    fn caps(&self) -> LinkCaps {
        let tx_checksum = if self.offloaded { TxChecksum::Offloaded } else { TxChecksum::Complete };
        LinkCaps { mtu: 1500, rx_checksum: RxChecksum::Verify, tx_checksum }
    }
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let n = self.rx.len();
        self.rx.drain(..).for_each(|p| f(&p));
        Ok(n)
    }
    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()> {
        self.tx.push(packet.concat());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use socket2::{Domain, Socket, Type};

    use super::testutil::{in_netns, ipv4};
    use super::*;

    /// With every packet lost to the faults, the capture still has what the
    /// kernel sent (a client's SYN), and not what the stack sent.
    #[test]
    fn the_capture_is_the_wire_below_the_faults() {
        in_netns(|| {
            let path = std::env::temp_dir().join(format!("link-open-test-{}.pcap", std::process::id()));
            let served = Served::localhost(8080);
            let device = Device::Loopback { served, mtu: None };
            let mut link = open(&device, Some("loss=100%".parse().unwrap()), Some(&path)).unwrap();
            let udp = [0, 9, 0, 9, 0, 8, 0, 0];
            link.send(&[&ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 17, &udp)]).unwrap();
            link.flush().unwrap();
            let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            client.set_nonblocking(true).unwrap();
            let _ = client.connect(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)).into()); // in progress: the SYN is out
            let mut delivered = 0;
            for _ in 0..50 {
                link.recv_batch(&mut |_| delivered += 1).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(link);

            let bytes = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            let mut protocols = Vec::new();
            let mut at = 24;
            while at < bytes.len() {
                let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
                protocols.push(bytes[at + 16 + 9]);
                at += 16 + len;
            }
            assert_eq!(delivered, 0, "the faults lose every packet");
            assert!(!protocols.is_empty() && protocols.iter().all(|&p| p == 6), "captured protocols {protocols:?}");
        });
    }

    #[test]
    fn mtu_must_be_from_68_to_the_devices() {
        assert_eq!(check_mtu(68, "lo", 65536).unwrap(), 68);
        assert_eq!(check_mtu(65536, "lo", 65536).unwrap(), 65536);
        for (mtu, max) in [(67, 65536), (0, 65536), (1501, 1500), (70000, 65535)] {
            let err = check_mtu(mtu, "the device", max).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let expected =
                format!("--mtu {mtu} does not fit the device, which takes at most {max}: pick one from 68 to {max}");
            assert_eq!(err.to_string(), expected);
        }
    }
}
