//! Links carry whole IPv4 packets between the stack and the world.
//!
//! [`driver`] runs a stack over a link in an event loop; [`monotonic_now`]
//! is the clock it and the links that hold packets back share.

pub mod driver;
pub mod faults;
pub mod loopback;
pub mod netns;
pub mod pcap;
pub mod sim;
pub mod tun;

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;

use crate::time::Instant;
use crate::wire::checksum::RxChecksum;

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
    /// Largest IPv4 packet the link carries, header included.
    pub mtu: usize,
    pub rx_checksum: RxChecksum,
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

/// A device that moves IPv4 packets. Implementations are non-blocking.
pub trait Link {
    fn caps(&self) -> LinkCaps;

    /// Deliver the packets waiting now, one call of `f` each; returns how many
    /// it took from the device (0 when none was waiting). A link may stop
    /// before the device is empty, so a caller woken by an edge-triggered
    /// poller calls again until it gets 0.
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize>;

    /// Queue one packet for sending; it may wait for `flush`.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;

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
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
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
}

#[cfg(test)]
impl Link for QueueLink {
    fn caps(&self) -> LinkCaps {
        LinkCaps { mtu: 1500, rx_checksum: RxChecksum::Verify }
    }
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let n = self.rx.len();
        self.rx.drain(..).for_each(|p| f(&p));
        Ok(n)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.tx.push(packet.to_vec());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
