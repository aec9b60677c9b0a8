//! The loopback link: our TCP on 127.0.0.1, meeting the kernel's TCP over `lo`.
//!
//! Packets in: a raw IPv4 socket for protocol TCP gets a copy of every TCP
//! segment the machine receives, before the kernel's TCP sees it. A classic
//! BPF filter keeps only segments to the served address and port; without it
//! we would also get every other connection's traffic, and our own replies.
//!
//! Packets out: the same raw socket with `IP_HDRINCL` sends the whole IPv4
//! packets the stack built; they travel over `lo` into the kernel's TCP.
//!
//! The kernel's TCP also sees the segments to our port. With no kernel
//! socket there it would answer each SYN with a RST. So we hold a placeholder
//! kernel listener on the port with a socket filter that drops everything:
//! the kernel's TCP runs a socket's filter first and discards a filtered
//! segment silently, while raw sockets have already received their copy.
//! The placeholder also reserves the port against other programs.
//!
//! On `lo` the kernel leaves the TCP checksums of its segments partial (the
//! "hardware" would finish them; `lo` has none and the bytes never leave
//! memory), so the stack must not verify them: `RxChecksum::Offloaded`.
//!
//! Both directions are batched: `recvmmsg` takes up to `RX_BATCH` packets
//! per syscall, and `send` queues for one `sendmmsg` in `flush`.

use std::io;
use std::mem::size_of;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, RawFd};

use log::warn;
use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use super::tun::interface_mtu;
use super::{Link, LinkCaps, LinkStats, RxChecksum};

/// The largest IPv4 packet: its length field has 16 bits. The kernel's TCP
/// sends segments this big on `lo` (segmentation offload never splits them).
const MAX_PACKET: usize = 65535;

/// Packets per `recvmmsg`.
const RX_BATCH: usize = 32;
/// `recvmmsg` calls per `recv_batch` at most, so a flood cannot starve sending.
const RX_ROUNDS: usize = 8;
/// Packets per `sendmmsg`.
const TX_BATCH: usize = 64;
/// Packets, and bytes, `send` may queue: past either it flushes, and drops
/// what the kernel will not take; `flush` empties the queue.
const TX_QUEUE: usize = 4096;
const TX_QUEUE_BYTES: usize = 16 << 20;
/// Socket buffer sizes: room for a burst from many busy clients.
const SOCKET_BUFFER: usize = 8 << 20;

/// Raw-socket link over `lo` for one served address and port; see the module
/// documentation.
pub struct LoopbackLink {
    raw: Socket,
    /// Never read: it exists so the kernel's TCP stays silent on the port.
    _placeholder: Socket,
    mtu: usize,
    /// `RX_BATCH` receive buffers of `MAX_PACKET` bytes each.
    rx: Box<[u8]>,
    kernel_drops: u64,
    /// Queued packets back to back, and their lengths.
    tx: Vec<u8>,
    tx_lens: Vec<usize>,
    tx_drops: u64,
    tx_errors: u64,
}

impl LoopbackLink {
    /// Serves `addr` (e.g. 127.0.0.1:8080). `mtu` lowers the MTU of `lo`.
    pub fn open(addr: SocketAddrV4, mtu: Option<usize>) -> io::Result<LoopbackLink> {
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))
            .map_err(|err| os_error(err, "opening a raw socket", "CAP_NET_RAW"))?;
        let placeholder = placeholder_listener(addr)?;
        raw.attach_filter(&served_port_filter(addr))?;
        raw.set_header_included_v4(true)?;
        raw.set_nonblocking(true)?;
        set_buffer(&raw, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)?;
        set_buffer(&raw, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)?;
        set_int_option(&raw, libc::SO_RXQ_OVFL, 1)?;

        let lo_mtu = interface_mtu(&raw, "lo")?;
        let mtu = match mtu {
            None => lo_mtu.min(MAX_PACKET),
            Some(mtu) if (68..=lo_mtu).contains(&mtu) => mtu.min(MAX_PACKET),
            Some(mtu) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("MTU {mtu} does not fit lo: pick one from 68 to {lo_mtu}"),
                ))
            }
        };
        let mut link = LoopbackLink {
            raw,
            _placeholder: placeholder,
            mtu,
            rx: vec![0; RX_BATCH * MAX_PACKET].into_boxed_slice(),
            kernel_drops: 0,
            tx: Vec::new(),
            tx_lens: Vec::new(),
            tx_drops: 0,
            tx_errors: 0,
        };
        // Segments that arrived between socket() and the filter were not
        // filtered; throw them away.
        while link.recv_into(&mut [0; RX_BATCH])? > 0 {}
        Ok(link)
    }

    /// Packets the kernel dropped because our receive buffer was full, since
    /// the link was opened (as last reported by the kernel).
    pub fn kernel_drops(&self) -> u64 {
        self.kernel_drops
    }

    /// Packets `send` dropped because the send queue stayed full.
    pub fn tx_drops(&self) -> u64 {
        self.tx_drops
    }

    /// One `recvmmsg` into the receive buffers; returns how many arrived.
    /// The first ones of `self.rx`, each in its own `MAX_PACKET` slot, hold
    /// them, and `lens` their lengths.
    fn recv_into(&mut self, lens: &mut [usize; RX_BATCH]) -> io::Result<usize> {
        // Room for one control message: the SO_RXQ_OVFL drop counter.
        let mut control = [[0u64; 4]; RX_BATCH];
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; RX_BATCH];
        // SAFETY: `mmsghdr` is a plain C struct; all zeroes (null pointers,
        // zero lengths) is a valid value.
        let mut msgs: [libc::mmsghdr; RX_BATCH] = unsafe { std::mem::zeroed() };
        for (((msg, iov), buf), control) in
            msgs.iter_mut().zip(&mut iov).zip(self.rx.chunks_mut(MAX_PACKET)).zip(&mut control)
        {
            *iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
            msg.msg_hdr.msg_control = control.as_mut_ptr().cast();
            msg.msg_hdr.msg_controllen = size_of::<[u64; 4]>() as _;
        }
        // SAFETY: each of the RX_BATCH headers points at its own iovec, its
        // own MAX_PACKET-byte buffer and its own control buffer, all of which
        // outlive the call and are not otherwise borrowed during it.
        let n = unsafe {
            libc::recvmmsg(
                self.raw.as_raw_fd(),
                msgs.as_mut_ptr(),
                RX_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        let n = n as usize;
        for (len, msg) in lens.iter_mut().zip(&msgs[..n]) {
            *len = msg.msg_len as usize;
            // SAFETY: the kernel filled `msg_control`/`msg_controllen` of
            // this received message; the CMSG macros stay within them.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg.msg_hdr);
                if !cmsg.is_null() && (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_RXQ_OVFL {
                    let drops = libc::CMSG_DATA(cmsg).cast::<u32>().read_unaligned();
                    self.kernel_drops = u64::from(drops);
                }
            }
        }
        Ok(n)
    }

    /// One `sendmmsg` of up to `TX_BATCH` queued packets, starting with
    /// packet `first`, which begins at byte `offset` of the queue. Returns
    /// how many packets the kernel took.
    fn send_some(&self, first: usize, offset: usize) -> io::Result<usize> {
        let lens = &self.tx_lens[first..(first + TX_BATCH).min(self.tx_lens.len())];
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; TX_BATCH];
        // SAFETY: plain C structs; all zeroes is a valid value of each.
        let (mut dests, mut msgs): ([libc::sockaddr_in; TX_BATCH], [libc::mmsghdr; TX_BATCH]) =
            unsafe { std::mem::zeroed() };
        let mut start = offset;
        for (((len, iov), dest), msg) in lens.iter().zip(&mut iov).zip(&mut dests).zip(&mut msgs) {
            let packet = &self.tx[start..start + len];
            start += len;
            // The kernel routes a raw packet by this address, not its header.
            dest.sin_family = libc::AF_INET as libc::sa_family_t;
            dest.sin_addr.s_addr = u32::from_ne_bytes(packet[16..20].try_into().unwrap());
            *iov = libc::iovec { iov_base: packet.as_ptr() as *mut _, iov_len: packet.len() };
            msg.msg_hdr.msg_name = (dest as *mut libc::sockaddr_in).cast();
            msg.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first `lens.len()` headers point at their own iovec
        // and address, and the iovecs into `self.tx`, which the kernel only
        // reads; all outlive the call.
        let sent = unsafe {
            libc::sendmmsg(self.raw.as_raw_fd(), msgs.as_mut_ptr(), lens.len() as libc::c_uint, libc::MSG_DONTWAIT)
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

impl Link for LoopbackLink {
    fn caps(&self) -> LinkCaps {
        LinkCaps { mtu: self.mtu, rx_checksum: RxChecksum::Offloaded }
    }

    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut lens = [0; RX_BATCH];
        let mut delivered = 0;
        for _ in 0..RX_ROUNDS {
            let n = self.recv_into(&mut lens)?;
            for (buf, &len) in self.rx.chunks(MAX_PACKET).zip(&lens[..n]) {
                f(&buf[..len]);
            }
            delivered += n;
            if n < RX_BATCH {
                break;
            }
        }
        Ok(delivered)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if packet.len() < 20 || packet.len() > MAX_PACKET {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {}-byte packet cannot be an IPv4 packet", packet.len()),
            ));
        }
        let full = |link: &Self| link.tx_lens.len() == TX_QUEUE || link.tx.len() + packet.len() > TX_QUEUE_BYTES;
        if full(self) {
            self.flush()?;
            if full(self) {
                // The kernel takes nothing now; dropping is what a full NIC
                // queue does, and TCP retransmits.
                self.tx_drops += 1;
                return Ok(());
            }
        }
        self.tx.extend_from_slice(packet);
        self.tx_lens.push(packet.len());
        Ok(())
    }

    /// Sends what the kernel takes now. What it refuses for lack of buffer
    /// space (EAGAIN, ENOBUFS) stays queued for the next flush. A packet it
    /// refuses outright (no route to a spoofed SYN's source, say) is
    /// dropped and counted, as a router drops what it cannot deliver, and
    /// the packets behind it go on: a flood of those must not hold up the
    /// honest ones.
    fn flush(&mut self) -> io::Result<()> {
        let (mut sent, mut sent_bytes) = (0, 0);
        while sent < self.tx_lens.len() {
            match self.send_some(sent, sent_bytes) {
                Ok(n) => {
                    sent_bytes += self.tx_lens[sent..sent + n].iter().sum::<usize>();
                    sent += n;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock || err.raw_os_error() == Some(libc::ENOBUFS) => {
                    break;
                }
                Err(err) => {
                    let len = self.tx_lens[sent];
                    if self.tx_errors == 0 {
                        warn!(
                            "a {len}-byte packet was not sent on lo: {err}; the link counts such packets in tx_errors"
                        );
                    }
                    self.tx_errors += 1;
                    sent_bytes += len;
                    sent += 1;
                }
            }
        }
        self.tx.drain(..sent_bytes);
        self.tx_lens.drain(..sent);
        Ok(())
    }

    fn as_raw_fd(&self) -> Option<RawFd> {
        Some(self.raw.as_raw_fd())
    }

    fn stats(&self) -> LinkStats {
        LinkStats { kernel_drops: self.kernel_drops, tx_drops: self.tx_drops, tx_errors: self.tx_errors }
    }
}

/// A kernel TCP listener on `addr` that silently drops every segment; see the
/// module documentation.
fn placeholder_listener(addr: SocketAddrV4) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket
        .attach_filter(&[SockFilter::new(bpf(libc::BPF_RET | libc::BPF_K), 0, 0, 0)])
        .map_err(|err| os_error(err, "filtering the placeholder listener", "CAP_NET_ADMIN"))?;
    socket.bind(&addr.into()).map_err(|err| match err.raw_os_error() {
        Some(libc::EADDRINUSE) => io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("port {} is already in use by another program: stop it or pick another with --port", addr.port()),
        ),
        Some(libc::EADDRNOTAVAIL) => io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{} is not an address of this machine: serve 127.0.0.1 or another local address", addr.ip()),
        ),
        _ if err.kind() == io::ErrorKind::PermissionDenied => io::Error::new(
            err.kind(),
            format!(
                "port {} is below 1024, which only root may serve: run with sudo, or pick another with --port",
                addr.port()
            ),
        ),
        _ => io::Error::new(err.kind(), format!("binding {addr}: {err}")),
    })?;
    socket.listen(1)?;
    Ok(socket)
}

/// A classic BPF program over an IPv4 packet (the raw socket sees it from
/// the IP header on) that accepts TCP segments to `addr` and drops the rest.
/// Fragments need no care: the kernel reassembles before raw delivery.
fn served_port_filter(addr: SocketAddrV4) -> [SockFilter; 7] {
    use libc::{BPF_ABS, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_MSH, BPF_RET, BPF_W};
    [
        // A = destination address; if not ours, go to "drop" (4 ahead).
        SockFilter::new(bpf(BPF_LD | BPF_W | BPF_ABS), 0, 0, 16),
        SockFilter::new(bpf(BPF_JMP | BPF_JEQ | BPF_K), 0, 4, u32::from(*addr.ip())),
        // X = IP header length; A = TCP destination port.
        SockFilter::new(bpf(BPF_LDX | BPF_B | BPF_MSH), 0, 0, 0),
        SockFilter::new(bpf(BPF_LD | BPF_H | BPF_IND), 0, 0, 2),
        SockFilter::new(bpf(BPF_JMP | BPF_JEQ | BPF_K), 0, 1, u32::from(addr.port())),
        // Accept the whole packet, or none of it.
        SockFilter::new(bpf(BPF_RET | BPF_K), 0, 0, u32::MAX),
        SockFilter::new(bpf(BPF_RET | BPF_K), 0, 0, 0),
    ]
}

/// A BPF opcode from libc's constants, which are u32 while opcodes are u16.
fn bpf(code: u32) -> u16 {
    code as u16
}

/// Sets a socket buffer to `SOCKET_BUFFER` bytes: with `force` (which may
/// exceed the system limit, with CAP_NET_ADMIN) or else `plain` (capped at
/// `net.core.[rw]mem_max`).
fn set_buffer(socket: &Socket, force: libc::c_int, plain: libc::c_int) -> io::Result<()> {
    set_int_option(socket, force, SOCKET_BUFFER as libc::c_int)
        .or_else(|_| set_int_option(socket, plain, SOCKET_BUFFER as libc::c_int))
}

/// `setsockopt(SOL_SOCKET, option, value)` for an integer option.
fn set_int_option(socket: &Socket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the option value is a valid c_int for the whole call, and we
    // pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One line for a failed step: how to get the privilege when that is what
/// was missing, else what failed and why.
pub(crate) fn os_error(err: io::Error, action: &str, capability: &str) -> io::Error {
    let message = if err.kind() == io::ErrorKind::PermissionDenied {
        format!(
            "{action} needs {capability}: run with sudo, or grant it once with \
             `sudo setcap cap_net_raw,cap_net_admin+ep ./target/release/httpd`"
        )
    } else {
        format!("{action}: {err}")
    };
    io::Error::new(err.kind(), message)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::super::tun::testutil::{checksum, in_netns, ipv4};
    use super::*;

    const SERVED: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080);
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    /// The TCP header and payload of an IPv4 packet.
    fn tcp(packet: &[u8]) -> &[u8] {
        &packet[usize::from(packet[0] & 0x0f) * 4..]
    }

    fn payload(packet: &[u8]) -> &[u8] {
        let tcp = tcp(packet);
        &tcp[usize::from(tcp[12] >> 4) * 4..]
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    /// A TCP segment without options in an IPv4 packet, checksums complete.
    fn segment(src: SocketAddrV4, dst: SocketAddrV4, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&src.port().to_be_bytes());
        tcp.extend_from_slice(&dst.port().to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(data);
        let pseudo = [&src.ip().octets()[..], &dst.ip().octets(), &[0, 6], &(tcp.len() as u16).to_be_bytes()];
        let sum = checksum(&[&pseudo.concat(), &tcp]);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        ipv4(*src.ip(), *dst.ip(), 6, &tcp)
    }

    /// The first packet from the link that `wanted` accepts, within 3 s.
    fn recv_until(link: &mut LoopbackLink, wanted: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut found = None;
        while found.is_none() && Instant::now() < deadline {
            link.recv_batch(&mut |p| {
                if found.is_none() && wanted(p) {
                    found = Some(p.to_vec());
                }
            })
            .unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        found.expect("the awaited packet did not come through the link")
    }

    fn drain(link: &mut LoopbackLink) -> usize {
        let mut total = 0;
        while let n @ 1.. = link.recv_batch(&mut |_| {}).unwrap() {
            total += n;
        }
        total
    }

    #[test]
    fn kernel_client_handshakes_with_packets_sent_through_the_link() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            assert_eq!(link.caps(), LinkCaps { mtu: 65535, rx_checksum: RxChecksum::Offloaded });
            let (connected, connect_done) = mpsc::channel();
            let client = std::thread::spawn(move || {
                let result = TcpStream::connect_timeout(&SERVED.into(), Duration::from_secs(5));
                connected.send(()).unwrap();
                let mut stream = result?;
                stream.write_all(b"hello")?;
                Ok::<_, io::Error>(stream)
            });

            let syn = recv_until(&mut link, |p| tcp(p)[13] == SYN);
            assert_eq!(&tcp(&syn)[2..4], &SERVED.port().to_be_bytes());
            let client_addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, u16::from_be_bytes([tcp(&syn)[0], tcp(&syn)[1]]));
            // A RST from the kernel's TCP would have failed connect() already.
            assert!(connect_done.recv_timeout(Duration::from_millis(300)).is_err(), "connect() ended early");

            let isn = u32_at(tcp(&syn), 4);
            link.send(&segment(SERVED, client_addr, 1000, isn.wrapping_add(1), SYN | ACK, b"")).unwrap();
            link.flush().unwrap();
            connect_done.recv_timeout(Duration::from_secs(2)).expect("connect() did not complete");
            let data = recv_until(&mut link, |p| !payload(p).is_empty());
            assert_eq!((payload(&data), u32_at(tcp(&data), 8)), (&b"hello"[..], 1001));
            client.join().unwrap().expect("the kernel client failed");
        });
    }

    #[test]
    fn only_segments_to_the_served_port_come_through() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            let other = TcpListener::bind("127.0.0.1:8081").unwrap();
            let mut client = TcpStream::connect("127.0.0.1:8081").unwrap();
            client.write_all(b"not for us").unwrap();
            drop(other.accept().unwrap());
            assert_eq!(drain(&mut link), 0);

            let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            socket.set_nonblocking(true).unwrap();
            let _ = socket.connect(&SERVED.into()); // in progress: the SYN is out
            recv_until(&mut link, |p| tcp(p)[13] == SYN);
        });
    }

    #[test]
    fn port_in_use_is_a_clear_error() {
        in_netns(|| {
            let _other = TcpListener::bind(SERVED).unwrap();
            let err = LoopbackLink::open(SERVED, None).err().unwrap();
            assert_eq!(
                err.to_string(),
                "port 8080 is already in use by another program: stop it or pick another with --port"
            );
        });
    }

    #[test]
    fn mtu_override_must_fit_lo() {
        in_netns(|| {
            assert_eq!(LoopbackLink::open(SERVED, Some(1500)).unwrap().caps().mtu, 1500);
            let err = LoopbackLink::open(SERVED, Some(70000)).err().unwrap();
            assert_eq!(err.to_string(), "MTU 70000 does not fit lo: pick one from 68 to 65536");
        });
    }

    /// SYN,ACKs to the spoofed sources of a flood cannot be routed: each is
    /// dropped and counted, and the packets queued behind them still go.
    #[test]
    fn unroutable_packets_are_counted_and_do_not_hold_up_the_rest() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1234);
            for _ in 0..3 {
                link.send(&segment(SERVED, nowhere, 0, 0, SYN | ACK, b"")).unwrap();
            }
            let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
            link.send(&segment(src, SERVED, 0, 0, ACK, b"behind them")).unwrap();
            link.flush().unwrap();
            assert_eq!((link.stats().tx_errors, link.tx_lens.len()), (3, 0));
            recv_until(&mut link, |p| payload(p) == b"behind them");
        });
    }

    #[test]
    fn kernel_drops_are_reported_after_a_flood() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
            let big = segment(src, SERVED, 0, 0, ACK, &[0; 60000]);
            // About 60 MB: several times the receive buffer.
            for _ in 0..1000 {
                link.send(&big).unwrap();
            }
            link.flush().unwrap();
            assert_eq!(link.tx_lens.len(), 0, "the kernel did not take the flood");
            let delivered = drain(&mut link);
            assert!(delivered < 1000, "nothing was dropped");
            // The count rides on the next packet that is queued.
            link.send(&segment(src, SERVED, 0, 0, ACK, b"")).unwrap();
            link.flush().unwrap();
            recv_until(&mut link, |_| true);
            assert!(link.kernel_drops() > 0);
        });
    }
}
