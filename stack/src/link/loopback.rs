//! The loopback link: our TCP on 127.0.0.1, meeting the kernel's TCP over `lo`.
//!
//! Packets in: a packet socket on `lo` (`AF_PACKET`, bound to IPv4) gets a
//! copy of every IPv4 packet `lo` delivers, before the kernel's TCP sees it.
//! A classic BPF filter keeps only TCP segments to the served address and
//! port; without it we would also get every other connection's traffic, and
//! our own replies. The kernel writes what passes into a ring of frames
//! shared with us (`PACKET_RX_RING`, `TPACKET_V2`), so taking a packet costs
//! no system call and no copy into a buffer of ours: we read it in place and
//! hand the frame back. A frame holds `FRAME` bytes; a larger packet (the
//! kernel's TCP sends data up to 64 KiB at once on `lo`) leaves a marker in
//! its frame and waits whole in the socket's queue, read by `recv` when its
//! marker comes up, so packets still come out in the order they came in.
//! (`TPACKET_V3`, which hands over whole blocks of packets, would hold a
//! lone packet until its block timed out, a millisecond or more.)
//!
//! Packets out: a raw IPv4 socket for `IPPROTO_RAW` (so it receives nothing)
//! sends the whole IPv4 packets the stack built; they travel over `lo` into
//! the kernel's TCP.
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
//! Both directions are batched: `recv_batch` takes up to `RX_BATCH` frames
//! from the ring, and `send` queues for one `sendmmsg` in `flush`.
//!
//! One stack per core: `open_group` opens N links on one port, one per
//! stack, each with its own ring and raw socket. Their packet sockets join
//! one fanout group (`PACKET_FANOUT`, `PACKET_FANOUT_HASH`): the kernel
//! hands each packet to one ring only, chosen by a hash of its flow, the
//! addresses and ports (`__skb_get_hash_symmetric`: the flow's own fields
//! with a key drawn at boot, not the sending socket's `sk_txhash`, which
//! changes on a retransmission timeout). So a connection's segments, a
//! SYN,ACK's ACK and a SYN reopening a TIME-WAIT 4-tuple all come to the
//! stack that holds the connection. The hash is taken modulo the number of
//! rings in the group, so all of them join before the first connection is
//! served, and none leaves until the server stops. The placeholder listener
//! is one for the group: a kernel socket per port.

use std::io::{self, Read};
use std::mem::size_of;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use log::warn;
use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use super::sys::{interface_mtu, os_error};
use super::{check_mtu, Link, LinkCaps, LinkStats, RxChecksum};

/// The largest IPv4 packet: its length field has 16 bits. The kernel's TCP
/// sends segments this big on `lo` (segmentation offload never splits them).
const MAX_PACKET: usize = 65535;

/// Frames per `recv_batch` at most, so a flood cannot starve sending.
const RX_BATCH: usize = 256;
/// Bytes of a ring frame: its header (80 bytes) and a packet of up to 944
/// bytes, as ACKs, handshakes and most requests are; larger segments, which
/// come in bulk, go through the queue.
const FRAME: usize = 1024;
/// Frames in the ring (4 MiB, mapped into our memory from the start): a
/// burst of four thousand SYNs fits, or a tenth of a second of a flood
/// while the scheduler runs something else.
const FRAMES: usize = 4096;
/// The ring is made of blocks of contiguous pages, each holding whole frames.
const BLOCK: usize = 128 << 10;
/// Packets per `sendmmsg`.
const TX_BATCH: usize = 64;
/// Packets, and bytes, `send` may queue: past either it flushes, and drops
/// what the kernel will not take; `flush` empties the queue.
const TX_QUEUE: usize = 4096;
const TX_QUEUE_BYTES: usize = 16 << 20;
/// Socket buffer sizes: room for a burst from many busy clients (for the
/// receiving socket: of packets too large for a frame).
const SOCKET_BUFFER: usize = 8 << 20;

/// Raw-socket link over `lo` for one served address and port; see the module
/// documentation.
pub struct LoopbackLink {
    rx: RxRing,
    /// The raw socket packets leave by.
    raw: Socket,
    /// Never read: it exists so the kernel's TCP stays silent on the port;
    /// shared by the links of a group, and closed with the last of them.
    _placeholder: Arc<Socket>,
    mtu: usize,
    /// Packets the kernel dropped: the ring was full, or a large packet
    /// found the socket's queue full.
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
        let mut links = LoopbackLink::open_group(addr, mtu, 1)?;
        Ok(links.pop().expect("a group of one"))
    }

    /// `n` links serving `addr` that share its packets by flow, one for
    /// each stack; see the module documentation.
    pub fn open_group(addr: SocketAddrV4, mtu: Option<usize>, n: usize) -> io::Result<Vec<LoopbackLink>> {
        // The placeholder first: it reserves the port, so no other server
        // of it is running when the rings start taking its packets.
        let raw = raw_socket()?;
        let placeholder = Arc::new(placeholder_listener(addr)?);
        let lo_mtu = interface_mtu(&raw, "lo")?;
        let mtu = match mtu {
            None => lo_mtu,
            Some(mtu) => check_mtu(mtu, "lo", lo_mtu)?,
        }
        .min(MAX_PACKET);
        let mut raws = vec![raw];
        for _ in 1..n {
            raws.push(raw_socket()?);
        }
        let mut group = None;
        let mut links = Vec::with_capacity(n);
        for raw in raws {
            let rx = RxRing::open(addr)?;
            if n > 1 {
                group = Some(rx.join_fanout(group)?);
            }
            links.push(LoopbackLink {
                rx,
                raw,
                _placeholder: Arc::clone(&placeholder),
                mtu,
                kernel_drops: 0,
                tx: Vec::new(),
                tx_lens: Vec::new(),
                tx_drops: 0,
                tx_errors: 0,
            });
        }
        Ok(links)
    }

    /// Packets the kernel dropped because the ring (or, for a large packet,
    /// the socket's queue) was full, since the link was opened.
    pub fn kernel_drops(&self) -> u64 {
        self.kernel_drops
    }

    /// Packets `send` dropped because the send queue stayed full.
    pub fn tx_drops(&self) -> u64 {
        self.tx_drops
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
        let mut taken = 0;
        while taken < RX_BATCH {
            match self.rx.next(f) {
                Taken::Nothing => break,
                Taken::Packet => {}
                Taken::Lost => self.kernel_drops += 1,
            }
            taken += 1;
        }
        if taken > 0 {
            // Only under load can the ring have overflowed.
            self.kernel_drops += self.rx.drops()?;
        }
        Ok(taken)
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
        Some(self.rx.socket.as_raw_fd())
    }

    fn stats(&self) -> LinkStats {
        LinkStats { kernel_drops: self.kernel_drops, tx_drops: self.tx_drops, tx_errors: self.tx_errors }
    }
}

/// What `RxRing::next` found in the next frame.
enum Taken {
    /// Nothing yet: the kernel still owns the frame.
    Nothing,
    /// A packet, handed to the caller.
    Packet,
    /// A packet the kernel could keep only in part: too large for the
    /// frame, and the socket's queue was full.
    Lost,
}

/// The receiving side of the link: a packet socket on `lo` and its ring of
/// `FRAMES` frames, mapped into our memory; see the module documentation.
/// Frame `i` starts `i * FRAME` bytes into the mapping with a
/// `tpacket2_hdr`, whose `tp_status` says who owns it: the kernel
/// (`TP_STATUS_KERNEL`) until it has written a packet there, then we
/// (`TP_STATUS_USER`) until we set it back. The kernel fills frames in
/// order, so the next packet is always in frame `next`.
struct RxRing {
    socket: Socket,
    frames: NonNull<u8>,
    next: usize,
    /// Where a packet too large for a frame is read to.
    large: Box<[u8]>,
}

impl RxRing {
    fn open(addr: SocketAddrV4) -> io::Result<RxRing> {
        // Protocol 0: nothing arrives until `bind` names one, by when the
        // filter and the ring are in place.
        let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(0)))
            .map_err(|err| os_error(err, "opening a packet socket", "CAP_NET_RAW"))?;
        socket.attach_filter(&served_port_filter(addr))?;
        socket.set_nonblocking(true)?;
        set_buffer(&socket, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)?;
        set_packet_option(&socket, libc::PACKET_VERSION, libc::tpacket_versions::TPACKET_V2 as libc::c_int)?;
        // Frames too large for the ring also wait whole in the socket's queue.
        set_packet_option(&socket, libc::PACKET_COPY_THRESH, 1)?;
        let req = libc::tpacket_req {
            tp_block_size: BLOCK as libc::c_uint,
            tp_block_nr: (FRAMES * FRAME / BLOCK) as libc::c_uint,
            tp_frame_size: FRAME as libc::c_uint,
            tp_frame_nr: FRAMES as libc::c_uint,
        };
        // SAFETY: `req` is a valid tpacket_req for the whole call, and we
        // pass its exact size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                (&req as *const libc::tpacket_req).cast(),
                size_of::<libc::tpacket_req>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: maps the ring the kernel just made for this socket, whole;
        // nothing else in this process refers to that memory.
        let frames = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                FRAMES * FRAME,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                socket.as_raw_fd(),
                0,
            )
        };
        if frames == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = RxRing {
            socket,
            frames: NonNull::new(frames.cast()).expect("mmap does not return null on success"),
            next: 0,
            large: vec![0; MAX_PACKET].into_boxed_slice(),
        };
        // SAFETY: `c"lo"` is a NUL-terminated string.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        if lo == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain C struct; all zeroes is a valid value.
        let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        at.sll_family = libc::AF_PACKET as libc::c_ushort;
        at.sll_protocol = (libc::ETH_P_IP as u16).to_be();
        at.sll_ifindex = lo as libc::c_int;
        // SAFETY: `at` is a valid sockaddr_ll for the whole call, and we
        // pass its exact size.
        let rc = unsafe {
            libc::bind(
                ring.socket.as_raw_fd(),
                (&at as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ring)
    }

    /// Joins fanout group `group`, or with `None` makes a new one under an id
    /// the kernel picks, unused in this network namespace; returns the id.
    /// The mode is `PACKET_FANOUT_HASH` alone: with `FLAG_ROLLOVER` a full
    /// ring would send a flow's packets to another stack.
    fn join_fanout(&self, group: Option<u16>) -> io::Result<u16> {
        // The option's value: the mode and flags in the upper 16 bits, the
        // group's id in the lower.
        let hash = libc::PACKET_FANOUT_HASH as libc::c_int;
        let value = match group {
            Some(id) => hash << 16 | libc::c_int::from(id),
            None => (hash | libc::PACKET_FANOUT_FLAG_UNIQUEID as libc::c_int) << 16,
        };
        set_packet_option(&self.socket, libc::PACKET_FANOUT, value)
            .map_err(|err| io::Error::new(err.kind(), format!("joining a packet fanout group: {err}")))?;
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for the whole call, and `len`
        // says how many bytes `value` has.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value as u16)
    }

    /// Hands the packet in the next frame, if the kernel has written one, to
    /// `f`, and the frame back to the kernel.
    fn next(&mut self, f: &mut dyn FnMut(&[u8])) -> Taken {
        // SAFETY: frame `next` (< FRAMES) lies within the mapping.
        let frame = unsafe { self.frames.as_ptr().add(self.next * FRAME) };
        // SAFETY: the mapping lives as long as `self`; `tp_status`, a u32 at
        // the frame's start (frames are 16-byte aligned), is the one field
        // the kernel and we both write, so we access it atomically.
        let status = unsafe { &*frame.cast::<AtomicU32>() };
        // Acquire: the kernel wrote the packet before it set the status.
        let flags = status.load(Ordering::Acquire);
        if flags & libc::TP_STATUS_USER == 0 {
            return Taken::Nothing;
        }
        // SAFETY: the frame is ours until we set its status back; the kernel
        // wrote a whole tpacket2_hdr at its start.
        let header = unsafe { frame.cast::<libc::tpacket2_hdr>().read() };
        let (start, len) = (usize::from(header.tp_net), header.tp_snaplen as usize);
        let taken = if flags & libc::TP_STATUS_COPY != 0 {
            // Too large for the frame: the whole packet is next in the
            // queue (the kernel queued it before it set the status).
            match (&self.socket).read(&mut self.large) {
                Ok(n) => {
                    f(&self.large[..n]);
                    Taken::Packet
                }
                Err(_) => Taken::Lost,
            }
        } else if header.tp_len as usize != len || start + len > FRAME {
            Taken::Lost
        } else {
            // SAFETY: `start + len` bytes lie within this frame, which is
            // ours until we set its status back, after `f` returns.
            f(unsafe { std::slice::from_raw_parts(frame.add(start), len) });
            Taken::Packet
        };
        // Release: we are done reading the frame before the kernel reuses it.
        status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.next = (self.next + 1) % FRAMES;
        taken
    }

    /// Packets dropped because the ring was full, since the last call.
    fn drops(&self) -> io::Result<u64> {
        let mut stats = libc::tpacket_stats { tp_packets: 0, tp_drops: 0 };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `stats` and `len` are valid for the whole call, and `len`
        // says how many bytes `stats` has. Reading resets the counters.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(u64::from(stats.tp_drops))
    }
}

// SAFETY: the mapping belongs to this ring alone (nothing else in the
// process refers to it), so the thread that owns the ring may be any one.
unsafe impl Send for RxRing {}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `open` made; no reference into
        // it outlives `next`.
        unsafe { libc::munmap(self.frames.as_ptr().cast(), FRAMES * FRAME) };
    }
}

/// The raw socket a link sends by, non-blocking, with a large buffer.
fn raw_socket() -> io::Result<Socket> {
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
        .map_err(|err| os_error(err, "opening a raw socket", "CAP_NET_RAW"))?;
    raw.set_nonblocking(true)?;
    set_buffer(&raw, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)?;
    Ok(raw)
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

/// A classic BPF program over an IPv4 packet (a packet socket of type
/// `SOCK_DGRAM` sees it from the IP header on) that accepts TCP segments to
/// `addr` and drops the rest. A fragment other than the first (which `lo`
/// never carries) may pass; the stack drops it.
fn served_port_filter(addr: SocketAddrV4) -> [SockFilter; 9] {
    use libc::{BPF_ABS, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_MSH, BPF_RET, BPF_W};
    [
        // A = protocol; if not TCP, go to "drop" (6 ahead).
        SockFilter::new(bpf(BPF_LD | BPF_B | BPF_ABS), 0, 0, 9),
        SockFilter::new(bpf(BPF_JMP | BPF_JEQ | BPF_K), 0, 6, libc::IPPROTO_TCP as u32),
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
    setsockopt_int(socket, libc::SOL_SOCKET, option, value)
}

/// `setsockopt(SOL_PACKET, option, value)` for an integer option.
fn set_packet_option(socket: &Socket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    setsockopt_int(socket, libc::SOL_PACKET, option, value)
}

fn setsockopt_int(socket: &Socket, level: libc::c_int, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the option value is a valid c_int for the whole call, and we
    // pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::super::testutil::{checksum, in_netns, ipv4};
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

    /// Every packet the link has now, in order.
    fn drain(link: &mut LoopbackLink) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        while link.recv_batch(&mut |p| packets.push(p.to_vec())).unwrap() > 0 {}
        packets
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
            assert_eq!(drain(&mut link).len(), 0);

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
            assert_eq!(
                err.to_string(),
                "--mtu 70000 does not fit lo, which takes at most 65536: pick one from 68 to 65536"
            );
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

    /// A group of two splits the packets by flow: every packet comes to one
    /// link only, all of a 4-tuple's to the same one, and both get flows.
    /// The group's one placeholder holds the port until the last link goes.
    #[test]
    fn a_group_splits_packets_by_flow_and_shares_one_placeholder() {
        in_netns(|| {
            let mut links = LoopbackLink::open_group(SERVED, None, 2).unwrap();
            // An odd number, so that even a round robin would split flows.
            let ports = 9000..9063;
            for seq in 0..3 {
                for port in ports.clone() {
                    let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
                    links[0].send(&segment(src, SERVED, seq, 0, ACK, b"x")).unwrap();
                }
            }
            links[0].flush().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let got = links.iter_mut().map(drain).collect::<Vec<_>>();
            assert_eq!(got[0].len() + got[1].len(), 3 * ports.len(), "each packet comes to one link");
            let src_port = |p: &Vec<u8>| u16::from_be_bytes([tcp(p)[0], tcp(p)[1]]);
            let flows: Vec<std::collections::BTreeSet<u16>> =
                got.iter().map(|packets| packets.iter().map(src_port).collect()).collect();
            let both: Vec<_> = flows[0].intersection(&flows[1]).collect();
            assert!(both.is_empty(), "flows on both links from ports {both:?}");
            assert!(!flows[0].is_empty() && !flows[1].is_empty(), "one link got every flow");

            drop(links.remove(0));
            assert!(TcpListener::bind(SERVED).is_err(), "the port was freed with a link still open");
            drop(links);
            TcpListener::bind(SERVED).expect("the port is free once the group is closed");
        });
    }

    /// Large packets past the socket's queue and small ones past the ring
    /// are dropped, and counted, every one; the rest come through whole and
    /// in order, the large ones (read from the queue) among the small.
    #[test]
    fn kernel_drops_are_counted_and_the_rest_keep_their_order() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
            // Sequence numbers say the order; 1 in 5 is large: 1,000 of
            // 60 KB, several times the socket's queue, and 5,000 in all,
            // more than the ring's frames.
            let sent = 5000;
            for seq in 0..sent {
                let data = if seq % 5 == 0 { &[7; 60000][..] } else { b"small" };
                link.send(&segment(src, SERVED, seq, 0, ACK, data)).unwrap();
            }
            link.flush().unwrap();
            assert_eq!(link.tx_lens.len(), 0, "the kernel did not take the flood");
            let got = drain(&mut link);
            assert!(got.len() < sent as usize, "nothing was dropped");
            assert_eq!(got.len() as u64 + link.kernel_drops(), u64::from(sent));
            let seqs: Vec<u32> = got.iter().map(|p| u32_at(tcp(p), 4)).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order: {seqs:?}");
            let large = got.iter().filter(|p| payload(p).len() == 60000).count();
            assert!(large > 0 && large < 1000, "{large} large packets came through");
            assert!(got.iter().all(|p| payload(p) == b"small" || payload(p) == [7; 60000]));
        });
    }
}
