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
//! Packets out: a second packet socket on `lo` (`SOCK_RAW`, protocol 0, so
//! it receives nothing) takes whole Ethernet frames, each after a
//! virtio-net header (`PACKET_VNET_HDR`: what a virtual NIC is told about a
//! packet). A packet comes from the stack in parts, its headers and then
//! its payload where it lies in the send buffer; `send` copies them once,
//! behind those two headers, into a queue, and `flush` hands the queue to
//! `sendmmsg`, `TX_BATCH` packets a call. The kernel copies each packet once
//! more, into its own buffer, and passes it through `lo` to its TCP.
//!
//! Checksum offload: the virtio-net header can say "checksum partial"
//! (`VIRTIO_NET_HDR_F_NEEDS_CSUM`, with where the TCP header starts and
//! where in it the checksum lies), which makes the kernel's buffer
//! `CHECKSUM_PARTIAL`, as if a NIC were to finish the sum on the way out.
//! `lo` has no NIC and its receiving side takes a partial checksum as good,
//! as the bytes never left memory. So the stack writes only the
//! pseudo-header's sum (`TxChecksum::Offloaded`), and no one reads the
//! payload to sum it: not we, and not the kernel's TCP, which verified
//! every segment (in software, on our core, inside our `sendmmsg`) when
//! they came from a raw IPv4 socket. With faults that corrupt packets the
//! link sends whole checksums without the flag (`set_tx_checksum`), so the
//! kernel catches the flipped bits; a capture records the checksums
//! finished (`pcap`), as they would be on a wire.
//!
//! Unlike the kernel's own, a packet put on `lo` by a packet socket comes
//! with no route attached: the kernel routes it as if from a wire, and
//! drops it as a martian (to 127.0.0.0/8, from a local address) unless two
//! settings of `lo` are on, which `open` turns on
//! (`accept_injected_packets_on_lo`).
//!
//! The kernel's TCP also sees the segments to our port. With no kernel
//! socket there it would answer each SYN with a RST. So we hold a placeholder
//! kernel listener on the port with a socket filter that drops everything:
//! the kernel's TCP runs a socket's filter first and discards a filtered
//! segment silently, while packet sockets have already received their copy.
//! The placeholder also reserves the port against other programs.
//!
//! On `lo` the kernel leaves the TCP checksums of its own segments partial
//! too, so the stack must not verify them: `RxChecksum::Offloaded`.
//!
//! Both directions are batched: `recv_batch` takes up to `RX_BATCH` frames
//! from the ring, and `send` queues for `sendmmsg` in `flush`.
//!
//! What the sending side was measured to gain (issue 16; httpd under
//! `wrk -t1` in a network namespace; instructions of ours by callgrind, the
//! kernel's share by `perf record -e cpu-clock` samples of httpd, as this
//! machine has no hardware counters; per 1 KiB keep-alive request and per
//! 1 MiB response):
//!
//! - the parts copied once into the queue, where the driver first joined
//!   them into one buffer: 33.6 k → 33.1 k and 3.64 M → 2.31 M instructions;
//! - the packet socket with checksum offload, where a raw IPv4 socket
//!   (`IPPROTO_RAW`) sent complete checksums: 33.1 k → 32.3 k and
//!   2.31 M → 1.87 M instructions. On 1 MiB responses our sum (5.3 % of
//!   httpd's samples) and the kernel's `csum_partial` (4.1 %) are gone; on
//!   1 KiB requests the kernel's IPv4 output path (`raw_sendmsg`, route
//!   lookups, `ip_finish_output2`: about 4 %) gives way to
//!   `packet_sendmsg` (1 %), as the receiving side finds the route in the
//!   connection (early demux);
//! - not taken, as no gain showed: `PACKET_QDISC_BYPASS` (`lo` has no
//!   queueing discipline to skip; 15.9 against 13.6 µs of CPU per request,
//!   medians of 6 alternating runs on a busy machine, where runs spread by
//!   ±30 %; it would also hide our packets from `tcpdump` on the way out),
//!   and 256 packets per `sendmmsg` instead of 64 (16.0 against 13.6 µs;
//!   `strace` counts one `sendmmsg` per 46 requests with 50 connections);
//! - not taken, as they cannot help here: `MSG_ZEROCOPY`, which Linux
//!   (6.18) refuses on packet and raw sockets alike (`SO_ZEROCOPY`:
//!   EOPNOTSUPP), and which on `lo` would copy anyway, on receipt.
//!   `PACKET_TX_RING` would replace our queue by a mapped ring the kernel
//!   sends from without copying, but on `lo` it marks those pages as
//!   borrowed and the receiving side copies them (`skb_orphan_frags_rx`):
//!   the same two copies, with frames sized for 64 KiB packets mapped for
//!   good.
//!
//! One stack per core: `open_group` opens N links on one port, one per
//! stack, each with its own ring and sending socket. Their rings join
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
use crate::copy;
use crate::wire::checksum::TxChecksum;
use crate::wire::ipv4::PROTO_TCP;

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
/// Bytes of the virtio-net header before each packet on the sending socket
/// (`PACKET_VNET_HDR`, `struct virtio_net_hdr` in linux/virtio_net.h): what
/// a virtual NIC is told about a packet's checksum and segmentation.
const VNET_HEADER: usize = 10;
/// Its flag for a partial checksum: sum from `csum_start` to the end and
/// store the result at `csum_start + csum_offset`.
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// Where the checksum lies in a TCP header (RFC 9293 §3.1).
const TCP_CHECKSUM_AT: u16 = 16;
/// The Ethernet header `lo` takes: it is an Ethernet device whose
/// addresses are all zero; type IPv4.
const ETHERNET: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
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
    /// The packet socket packets leave by.
    tx_socket: Socket,
    tx_checksum: TxChecksum,
    /// Never read: it exists so the kernel's TCP stays silent on the port;
    /// shared by the links of a group, and closed with the last of them.
    _placeholder: Arc<Socket>,
    mtu: usize,
    /// Packets the kernel dropped: the ring was full, or a large packet
    /// found the socket's queue full.
    kernel_drops: u64,
    /// Queued packets back to back, each after its virtio-net and
    /// Ethernet headers, and their lengths with those headers.
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
        let first = tx_socket()?;
        // The placeholder before the rings: it reserves the port, so no
        // other server of it is running when they start taking its packets.
        let placeholder = Arc::new(placeholder_listener(addr)?);
        accept_injected_packets_on_lo()?;
        let lo_mtu = interface_mtu(&first, "lo")?;
        let mtu = match mtu {
            None => lo_mtu,
            Some(mtu) => check_mtu(mtu, "lo", lo_mtu)?,
        }
        .min(MAX_PACKET);
        let mut tx_sockets = vec![first];
        for _ in 1..n {
            tx_sockets.push(tx_socket()?);
        }
        let mut group = None;
        let mut links = Vec::with_capacity(n);
        for tx_socket in tx_sockets {
            let rx = RxRing::open(addr)?;
            if n > 1 {
                group = Some(rx.join_fanout(group)?);
            }
            links.push(LoopbackLink {
                rx,
                tx_socket,
                tx_checksum: TxChecksum::Offloaded,
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

    /// Has the stack write whole checksums, and the kernel's TCP verify
    /// them, instead of the default `TxChecksum::Offloaded`: for a fault
    /// link that corrupts packets, whose flipped bits a partial checksum,
    /// taken as good on `lo`, would let through.
    pub fn set_tx_checksum(&mut self, tx_checksum: TxChecksum) {
        self.tx_checksum = tx_checksum;
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
        // SAFETY: a plain C struct; all zeroes is a valid value.
        let mut msgs: [libc::mmsghdr; TX_BATCH] = unsafe { std::mem::zeroed() };
        let mut start = offset;
        for ((len, iov), msg) in lens.iter().zip(&mut iov).zip(&mut msgs) {
            let packet = &self.tx[start..start + len];
            start += len;
            // No address: the socket is bound to `lo`.
            *iov = libc::iovec { iov_base: packet.as_ptr() as *mut _, iov_len: packet.len() };
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first `lens.len()` headers point at their own iovec,
        // and the iovecs into `self.tx`, which the kernel only reads; all
        // outlive the call.
        let sent = unsafe {
            libc::sendmmsg(
                self.tx_socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                lens.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

impl Link for LoopbackLink {
    fn caps(&self) -> LinkCaps {
        LinkCaps { mtu: self.mtu, rx_checksum: RxChecksum::Offloaded, tx_checksum: self.tx_checksum }
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

    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()> {
        let len: usize = packet.iter().map(|part| part.len()).sum();
        if !(20..=MAX_PACKET).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {len}-byte packet cannot be an IPv4 packet"),
            ));
        }
        let framed = VNET_HEADER + ETHERNET.len() + len;
        let full = |link: &Self| link.tx_lens.len() == TX_QUEUE || link.tx.len() + framed > TX_QUEUE_BYTES;
        if full(self) {
            self.flush()?;
            if full(self) {
                // The kernel takes nothing now; dropping is what a full NIC
                // queue does, and TCP retransmits.
                self.tx_drops += 1;
                return Ok(());
            }
        }
        let start = self.tx.len();
        self.tx.extend_from_slice(&[0; VNET_HEADER]);
        self.tx.extend_from_slice(&ETHERNET);
        copy::extend(&mut self.tx, packet);
        let vnet = vnet_header(self.tx_checksum, &self.tx[start + VNET_HEADER + ETHERNET.len()..]);
        self.tx[start..start + VNET_HEADER].copy_from_slice(&vnet);
        self.tx_lens.push(framed);
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
        bind_to_lo(&ring.socket, libc::ETH_P_IP as u16)?;
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

/// Turns on the two settings of `lo` under which the kernel takes in the
/// packets we send, which come with no route attached: `route_localnet`
/// (else a packet to 127.0.0.0/8 coming in is a martian) and
/// `accept_local` (else one from a local address is: the kernel takes it
/// for a forgery). Both concern only packets that come in on `lo` without
/// a route: the kernel's own loopback packets carry theirs and never meet
/// these checks, and only a packet socket (CAP_NET_RAW) can inject others.
/// Left on: another server on the same namespace may rely on them.
fn accept_injected_packets_on_lo() -> io::Result<()> {
    for setting in ["route_localnet", "accept_local"] {
        let path = format!("/proc/sys/net/ipv4/conf/lo/{setting}");
        if std::fs::read_to_string(&path).is_ok_and(|value| value.trim() == "1") {
            continue;
        }
        std::fs::write(&path, "1").map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "setting net.ipv4.conf.lo.{setting} to 1, which sending on lo needs: {err}; \
                     run as root, or set it once with `sudo sysctl -w net.ipv4.conf.lo.{setting}=1`"
                ),
            )
        })?;
    }
    Ok(())
}

/// Binds packet socket `socket` to `lo`, for packets of Ethernet type
/// `protocol` (0: none, for a socket that only sends).
fn bind_to_lo(socket: &Socket, protocol: u16) -> io::Result<()> {
    // SAFETY: `c"lo"` is a NUL-terminated string.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if lo == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain C struct; all zeroes is a valid value.
    let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    at.sll_family = libc::AF_PACKET as libc::c_ushort;
    at.sll_protocol = protocol.to_be();
    at.sll_ifindex = lo as libc::c_int;
    // SAFETY: `at` is a valid sockaddr_ll for the whole call, and we pass
    // its exact size.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&at as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The virtio-net header that goes before `packet` (an IPv4 packet, at
/// least 20 bytes) on the sending socket; see `VNET_HEADER` and the module
/// documentation. Its `hdr_len`, the length of the Ethernet, IPv4 and TCP
/// headers, has the kernel put them in its buffer's linear part, where its
/// TCP reads them, and a payload of more than a page in pages.
fn vnet_header(tx_checksum: TxChecksum, packet: &[u8]) -> [u8; VNET_HEADER] {
    let ip_len = usize::from(packet[0] & 0x0f) * 4;
    let tcp = (packet[9] == PROTO_TCP).then(|| &packet[ip_len.min(packet.len())..]).filter(|tcp| tcp.len() >= 20);
    let headers = ETHERNET.len() + ip_len + tcp.map_or(0, |tcp| usize::from(tcp[12] >> 4) * 4);
    let mut header = [0; VNET_HEADER];
    // flags, gso_type (none), hdr_len, gso_size, csum_start, csum_offset.
    header[2..4].copy_from_slice(&(headers.min(ETHERNET.len() + packet.len()) as u16).to_le_bytes());
    if tx_checksum == TxChecksum::Offloaded && tcp.is_some() {
        header[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        header[6..8].copy_from_slice(&((ETHERNET.len() + ip_len) as u16).to_le_bytes());
        header[8..10].copy_from_slice(&TCP_CHECKSUM_AT.to_le_bytes());
    }
    header
}

/// The packet socket a link sends by: protocol 0, so it receives nothing;
/// non-blocking, with a large buffer, and a virtio-net header before each
/// packet (`vnet_header`).
fn tx_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
        .map_err(|err| os_error(err, "opening a packet socket", "CAP_NET_RAW"))?;
    socket.set_nonblocking(true)?;
    set_buffer(&socket, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)?;
    set_packet_option(&socket, libc::PACKET_VNET_HDR, 1)?;
    bind_to_lo(&socket, 0)?;
    Ok(socket)
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
    use std::io::{Read, Write};
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

    /// `packet` with its TCP checksum partial, as the stack leaves it for
    /// offload (`TxChecksum::Offloaded`): the pseudo-header's sum only.
    fn partial(mut packet: Vec<u8>) -> Vec<u8> {
        let (src, dst) = (Ipv4Addr::from(u32_at(&packet, 12)).into(), Ipv4Addr::from(u32_at(&packet, 16)).into());
        let sum = crate::wire::checksum::pseudo_header(src, dst, 6, packet.len() - 20);
        packet[36..38].copy_from_slice(&sum.to_be_bytes());
        packet
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
            let caps = LinkCaps { mtu: 65535, rx_checksum: RxChecksum::Offloaded, tx_checksum: TxChecksum::Offloaded };
            assert_eq!(link.caps(), caps);
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
            link.send(&[&segment(SERVED, client_addr, 1000, isn.wrapping_add(1), SYN | ACK, b"")]).unwrap();
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

    /// SYN,ACKs to the spoofed sources of a flood leave (the kernel drops
    /// them past `lo`, having nowhere to deliver them) and do not hold up
    /// the packets behind them. Packets the kernel refuses outright (here:
    /// `lo` is down) are dropped and counted, not kept forever.
    #[test]
    fn undeliverable_and_refused_packets_do_not_hold_up_the_rest() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1234);
            for _ in 0..3 {
                link.send(&[&segment(SERVED, nowhere, 0, 0, SYN | ACK, b"")]).unwrap();
            }
            let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
            link.send(&[&segment(src, SERVED, 0, 0, ACK, b"behind them")]).unwrap();
            link.flush().unwrap();
            assert_eq!((link.stats().tx_errors, link.tx_lens.len()), (0, 0));
            recv_until(&mut link, |p| payload(p) == b"behind them");

            let ip_link = |state: &str| {
                let status = std::process::Command::new("ip").args(["link", "set", "lo", state]).status();
                assert!(status.unwrap().success(), "ip link set lo {state} failed");
            };
            ip_link("down");
            for _ in 0..2 {
                link.send(&[&segment(src, SERVED, 0, 0, ACK, b"refused")]).unwrap();
            }
            link.flush().unwrap();
            assert_eq!((link.stats().tx_errors, link.tx_lens.len()), (2, 0));
            ip_link("up");
        });
    }

    /// With checksum offload, a segment whose checksum field holds only the
    /// pseudo-header's sum (as the stack leaves it) is taken by the kernel's
    /// TCP; without, the kernel verifies it, finds it wrong and drops it,
    /// and takes the same segment with its checksum complete.
    #[test]
    fn a_partial_checksum_is_taken_with_offload_and_dropped_without() {
        in_netns(|| {
            let mut link = LoopbackLink::open(SERVED, None).unwrap();
            assert_eq!(link.caps().tx_checksum, TxChecksum::Offloaded);
            let client = std::thread::spawn(move || {
                let mut stream = TcpStream::connect_timeout(&SERVED.into(), Duration::from_secs(2))?;
                stream.set_read_timeout(Some(Duration::from_millis(500)))?;
                let mut got = Vec::new();
                let mut buf = [0; 64];
                // Reads until a timeout: what came through, in order.
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                }
                Ok::<_, io::Error>(got)
            });
            let syn = recv_until(&mut link, |p| tcp(p)[13] == SYN);
            let client_addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, u16::from_be_bytes([tcp(&syn)[0], tcp(&syn)[1]]));
            let ack = u32_at(tcp(&syn), 4).wrapping_add(1);
            let send = |link: &mut LoopbackLink, packet: Vec<u8>| {
                link.send(&[&packet]).unwrap();
                link.flush().unwrap();
            };
            send(&mut link, partial(segment(SERVED, client_addr, 1000, ack, SYN | ACK, b"")));
            send(&mut link, partial(segment(SERVED, client_addr, 1001, ack, ACK, b"taken ")));
            link.set_tx_checksum(TxChecksum::Complete);
            send(&mut link, partial(segment(SERVED, client_addr, 1007, ack, ACK, b"dropped ")));
            send(&mut link, segment(SERVED, client_addr, 1007, ack, ACK, b"complete"));
            let got = client.join().unwrap().expect("the kernel client failed to connect");
            assert_eq!(String::from_utf8_lossy(&got), "taken complete");
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
                    links[0].send(&[&segment(src, SERVED, seq, 0, ACK, b"x")]).unwrap();
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
                link.send(&[&segment(src, SERVED, seq, 0, ACK, data)]).unwrap();
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
