//! Packet capture: a pcap file of every packet a link moves, for Wireshark.
//!
//! [`PcapLink`] wraps any link and passes packets through unchanged, writing
//! each one, received or sent, to a classic pcap file with the wall-clock
//! time of its passing (the link layer is the I/O side, so reading the clock
//! here keeps the protocol core free of it). The link type is
//! `LINKTYPE_RAW` (101): records are bare IPv4 packets, as links carry them.
//! [`PcapWriter`] writes such a file on its own, e.g. from the simulator.
//!
//! A link that leaves TCP checksums to the hardware (`TxChecksum::Offloaded`)
//! sends segments whose checksum field holds only the pseudo-header's sum;
//! [`PcapLink`] records them with the checksum finished, as a NIC would
//! have put them on the wire, so the capture shows (and Wireshark checks)
//! the checksum the peer gets.
//!
//! Writes are buffered; the buffer goes to the file on `flush` and on drop.
//! A file stops growing at `LIMIT` bytes: a flood must not fill the disk.
//! The packets after that are counted, not recorded, and a warning says so.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use log::warn;

use super::{Link, LinkCaps, LinkStats};
use crate::copy;
use crate::time::Instant;
use crate::wire::checksum::TxChecksum;
use crate::wire::ipv4::{Ipv4Packet, PROTO_TCP};
use crate::wire::tcp::finish_offloaded_checksum;

/// `LINKTYPE_RAW`: each record is an IPv4 (or IPv6) packet, no link header.
const LINKTYPE_RAW: u32 = 101;
/// Longest record kept; an IPv4 packet is never longer.
const SNAPLEN: u32 = 65535;
/// Bytes of the file header and of a record's header.
const FILE_HEADER: u64 = 24;
const RECORD_HEADER: u64 = 16;
/// Largest file written: about ten million small packets.
pub const LIMIT: u64 = 1 << 30;

/// Writes packets as a pcap file with microsecond timestamps.
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    /// Bytes written so far, and at most.
    written: u64,
    limit: u64,
    /// Packets not recorded because the file reached `limit`.
    skipped: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`.
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = BufWriter::new(out);
        // Magic (its byte order tells readers ours), version 2.4, time zone
        // and accuracy 0, snapshot length, link type.
        for field in [0xa1b2_c3d4, 0x0004_0002, 0, 0, SNAPLEN, LINKTYPE_RAW] {
            out.write_all(&u32::to_le_bytes(field))?;
        }
        Ok(PcapWriter { out, written: FILE_HEADER, limit: LIMIT, skipped: 0 })
    }

    /// Stops the file at `bytes` instead of `LIMIT`.
    pub fn with_limit(self, bytes: u64) -> Self {
        PcapWriter { limit: bytes, ..self }
    }

    /// Packets not recorded because the file was full.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records `packet`, seen `ts_micros` microseconds after the Unix epoch,
    /// if the file has room for it. The packet comes in parts, as links
    /// take it (`Link::send`).
    pub fn write_packet(&mut self, ts_micros: u64, packet: &[&[u8]]) -> io::Result<()> {
        let full_len: usize = packet.iter().map(|part| part.len()).sum();
        let len = full_len.min(SNAPLEN as usize);
        let record = RECORD_HEADER + len as u64;
        if self.written + record > self.limit {
            if self.skipped == 0 {
                warn!("the pcap file reached {} bytes: the packets after it are not recorded", self.written);
            }
            self.skipped += 1;
            return Ok(());
        }
        self.written += record;
        let header = [(ts_micros / 1_000_000) as u32, (ts_micros % 1_000_000) as u32, len as u32, full_len as u32];
        for field in header {
            self.out.write_all(&field.to_le_bytes())?;
        }
        let mut left = len;
        for part in packet {
            let part = &part[..part.len().min(left)];
            self.out.write_all(part)?;
            left -= part.len();
        }
        Ok(())
    }

    /// Sends buffered records to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl PcapWriter<File> {
    /// Creates (or truncates) the pcap file at `path`.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path)
            .map_err(|err| io::Error::new(err.kind(), format!("creating pcap file {}: {err}", path.display())))?;
        PcapWriter::new(file)
    }
}

/// A link that records all its traffic; see the module documentation.
pub struct PcapLink<L: Link, W: Write = File> {
    inner: L,
    writer: PcapWriter<W>,
    /// The inner link leaves TCP checksums partial: finish them in `sent`.
    finish_checksums: bool,
    /// A sent packet, joined to have its checksum finished.
    sent: Vec<u8>,
}

impl<L: Link, W: Write> PcapLink<L, W> {
    pub fn new(inner: L, writer: PcapWriter<W>) -> Self {
        let finish_checksums = inner.caps().tx_checksum == TxChecksum::Offloaded;
        PcapLink { inner, writer, finish_checksums, sent: Vec::new() }
    }

    /// The wrapped link, e.g. for its statistics.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

/// Microseconds since the Unix epoch, now.
fn now_micros() -> u64 {
    // A clock before 1970 is broken enough to stamp its packets 0.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_micros() as u64)
}

impl<L: Link, W: Write> Link for PcapLink<L, W> {
    fn caps(&self) -> LinkCaps {
        self.inner.caps()
    }

    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut written = Ok(());
        let writer = &mut self.writer;
        let n = self.inner.recv_batch(&mut |packet| {
            if written.is_ok() {
                written = writer.write_packet(now_micros(), &[packet]);
            }
            f(packet);
        })?;
        written.map(|()| n)
    }

    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()> {
        if self.finish_checksums {
            copy::join(&mut self.sent, packet);
            if let Ok(ip) = Ipv4Packet::new_checked(&self.sent) {
                let segment = ip.header_len()..ip.total_len();
                if ip.protocol() == PROTO_TCP && !ip.is_fragment() && segment.len() >= 20 {
                    finish_offloaded_checksum(&mut self.sent[segment]);
                }
            }
            self.writer.write_packet(now_micros(), &[&self.sent])?;
        } else {
            self.writer.write_packet(now_micros(), packet)?;
        }
        self.inner.send(packet)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        self.writer.flush()
    }

    fn as_raw_fd(&self) -> Option<RawFd> {
        self.inner.as_raw_fd()
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn stats(&self) -> LinkStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::Ipv4Addr;
    use std::process::Command;

    use super::super::netns::{installed, skip};
    use super::super::testutil::ipv4;
    use super::super::QueueLink;
    use super::*;
    use crate::wire::checksum;
    use crate::wire::tcp::TcpSegment;

    fn udp(src: u8, dst: u8, payload: &[u8]) -> Vec<u8> {
        let mut udp = vec![0, 9, 0, 9, 0, 8 + payload.len() as u8, 0, 0];
        udp.extend_from_slice(payload);
        ipv4(Ipv4Addr::new(10, 0, 0, src), Ipv4Addr::new(10, 0, 0, dst), 17, &udp)
    }

    #[test]
    fn writer_output_is_classic_pcap() {
        let mut out = Vec::new();
        let mut writer = PcapWriter::new(&mut out).unwrap();
        writer.write_packet(1_700_000_000_123_456, &[&[0x45], &[1, 2]]).unwrap();
        drop(writer);
        let field = |i: usize| u32::from_le_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!((field(0), field(1), field(4), field(5)), (0xa1b2c3d4, 0x0004_0002, 65535, 101));
        assert_eq!((field(6), field(7), field(8), field(9)), (1_700_000_000, 123_456, 3, 3));
        assert_eq!((out.len(), &out[40..]), (43, &[0x45, 1, 2][..]));
    }

    #[test]
    fn link_records_both_directions_and_tshark_reads_them() {
        let path = std::env::temp_dir().join(format!("pcap-link-test-{}.pcap", std::process::id()));
        let inner = QueueLink { rx: VecDeque::from([udp(1, 2, b"in")]), ..QueueLink::default() };
        let mut link = PcapLink::new(inner, PcapWriter::create(&path).unwrap());
        let mut received = Vec::new();
        assert_eq!(link.recv_batch(&mut |p| received.push(p.to_vec())).unwrap(), 1);
        let out = udp(2, 1, b"out");
        link.send(&[&out[..20], &out[20..]]).unwrap();
        link.flush().unwrap();
        assert_eq!(received, [udp(1, 2, b"in")]);
        assert_eq!(link.inner().tx, [udp(2, 1, b"out")]);
        drop(link);

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24 + (16 + 30) + (16 + 31));
        if !installed("tshark") {
            std::fs::remove_file(&path).unwrap();
            return skip("stack", "tshark not installed: checked the record sizes only");
        }
        let fields = "-Tfields -e ip.src -e ip.dst -e udp.length";
        let out = Command::new("tshark").arg("-r").arg(&path).args(fields.split(' ')).output().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text, "10.0.0.1\t10.0.0.2\t10\n10.0.0.2\t10.0.0.1\t11\n");
    }

    /// Over a link that offloads TCP checksums, the capture shows a sent
    /// segment's checksum finished, as the wire would carry it; the link
    /// gets the segment as it was.
    #[test]
    fn offloaded_checksums_are_recorded_finished() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut tcp = [0u8; 25];
        tcp[12] = 5 << 4;
        tcp[20..].copy_from_slice(b"hello");
        let pseudo = checksum::pseudo_header(src.into(), dst.into(), PROTO_TCP, tcp.len());
        tcp[16..18].copy_from_slice(&pseudo.to_be_bytes());
        let packet = ipv4(src, dst, PROTO_TCP, &tcp);

        let mut out = Vec::new();
        let inner = QueueLink { offloaded: true, ..QueueLink::default() };
        let mut link = PcapLink::new(inner, PcapWriter::new(&mut out).unwrap());
        link.send(&[&packet[..30], &packet[30..]]).unwrap();
        link.flush().unwrap();
        assert_eq!(link.inner().tx, std::slice::from_ref(&packet));
        drop(link);
        let recorded = &out[24 + 16..];
        let segment = TcpSegment::new_checked(&recorded[20..]).unwrap();
        assert!(segment.verify_checksum(src.into(), dst.into()), "the recorded checksum is not finished");
        assert_eq!((&recorded[..36], &recorded[38..]), (&packet[..36], &packet[38..]));
    }

    #[test]
    fn the_file_stops_at_its_limit() {
        let mut out = Vec::new();
        let mut writer = PcapWriter::new(&mut out).unwrap().with_limit(24 + 2 * (16 + 40));
        for _ in 0..5 {
            writer.write_packet(0, &[&[0x45; 40]]).unwrap();
        }
        assert_eq!(writer.skipped(), 3);
        drop(writer);
        assert_eq!(out.len(), 24 + 2 * (16 + 40));
    }
}
