//! Links carry whole IPv4 packets between the stack and the world.

pub mod faults;
pub mod sim;

use std::io;
use std::os::fd::RawFd;

pub mod loopback;
pub mod pcap;
pub mod tun;

/// How a link treats checksums of packets it delivers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RxChecksum {
    /// Checksums arrive complete and must be verified (TUN, the simulator).
    Verify,
    /// The kernel offloaded the checksum and left it partial (Linux `lo`);
    /// the packet never left the machine, so there is nothing to verify.
    Offloaded,
}

/// What the stack needs to know about a link.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LinkCaps {
    /// Largest IPv4 packet the link carries, header included.
    pub mtu: usize,
    pub rx_checksum: RxChecksum,
}

/// A device that moves IPv4 packets. Implementations are non-blocking.
pub trait Link {
    fn caps(&self) -> LinkCaps;

    /// Deliver the packets waiting now, one call of `f` each; returns how many
    /// were delivered (0 when none was waiting).
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
}
