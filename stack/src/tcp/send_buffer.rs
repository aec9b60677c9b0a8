//! The send buffer: what the application wrote and the peer has not yet
//! acknowledged, as a queue of chunks. A write through `Stack::send` is
//! copied into one ring of bytes (consecutive copies make one chunk); a
//! write through `Stack::send_bytes` hands over a `Bytes`, which is kept by
//! reference, so a file cached in memory goes to the wire without being
//! copied into the buffer first (a small one is copied all the same: below
//! `SHARE_MIN`, the copy is cheaper than the bookkeeping).
//!
//! ```text
//!   stream offset:  start                                            start + len
//!                     |  chunk 0   |        chunk 1         | chunk 2  |
//!                     |  copied    |  shared (a `Bytes`)    |  copied  |
//!                     +------------+------------------------+----------+
//!                     ^ SND.UNA         ^ SND.NXT
//!                     |<- acked bytes leave from here
//!
//!   a segment [offset, offset + len) is gathered from every chunk it spans:
//!                           |<-------- segment -------->|
//!        parts:  [ header ] [ end of chunk 1 ] [ start of chunk 2 ]
//! ```
//!
//! The copied chunks' bytes lie in the ring one after the other, in order;
//! a chunk that wraps around the ring's end is two parts. An ACK that
//! covers part of a chunk releases that part: the ring drains, a shared
//! chunk's `Bytes` advances; a retransmission reads the rest where it is.
//! Offsets count from the first unacknowledged byte, as the TCB counts them
//! (`seq - tx_start`); the buffer knows nothing of sequence numbers.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};
use smallvec::SmallVec;

use crate::copy;

/// A shared write shorter than this is copied: a chunk and a part per
/// segment cost more than copying a few hundred bytes.
pub const SHARE_MIN: usize = 2048;

#[derive(Debug, Default)]
pub struct SendBuffer {
    /// Every copied chunk's bytes, in order.
    ring: VecDeque<u8>,
    /// Copied bytes that have left the ring since the connection began:
    /// the ring position of `ring[0]`.
    ring_start: u64,
    chunks: VecDeque<Chunk>,
    /// Stream offset (bytes written since the connection began) of the
    /// first byte held.
    start: u64,
    len: usize,
}

#[derive(Debug)]
struct Chunk {
    /// Stream offset of its first byte.
    start: u64,
    data: Data,
}

#[derive(Debug)]
enum Data {
    /// `len` bytes of the ring from ring position `at`.
    Copied { at: u64, len: usize },
    /// The application's bytes, referenced.
    Shared(Bytes),
}

impl Chunk {
    fn len(&self) -> usize {
        match &self.data {
            Data::Copied { len, .. } => *len,
            Data::Shared(bytes) => bytes.len(),
        }
    }

    fn end(&self) -> u64 {
        self.start + self.len() as u64
    }
}

impl SendBuffer {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `data`.
    pub fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let at = self.ring_start + self.ring.len() as u64;
        copy::append(&mut self.ring, data);
        match self.chunks.back_mut() {
            Some(Chunk { data: Data::Copied { len, .. }, .. }) => *len += data.len(),
            _ => self.chunks.push_back(Chunk { start: self.end(), data: Data::Copied { at, len: data.len() } }),
        }
        self.len += data.len();
    }

    /// Appends `bytes` by reference (by copy below `SHARE_MIN`).
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.len() < SHARE_MIN {
            return self.push_copy(&bytes);
        }
        let len = bytes.len();
        self.chunks.push_back(Chunk { start: self.end(), data: Data::Shared(bytes) });
        self.len += len;
    }

    /// The first `n` bytes were acknowledged: let them go.
    pub fn release(&mut self, n: usize) {
        assert!(n <= self.len, "releasing more than the send buffer holds");
        self.start += n as u64;
        self.len -= n;
        while let Some(front) = self.chunks.front_mut() {
            let gone = (self.start.min(front.end()) - front.start) as usize;
            match &mut front.data {
                Data::Copied { at, len } => {
                    self.ring.drain(..gone);
                    self.ring_start += gone as u64;
                    *at += gone as u64;
                    *len -= gone;
                }
                Data::Shared(bytes) => bytes.advance(gone),
            }
            front.start += gone as u64;
            if front.len() > 0 {
                break;
            }
            self.chunks.pop_front();
        }
        // An idle connection should hold no buffer memory: give back the
        // ring's allocation once it has grown past a page.
        if self.ring.is_empty() && self.ring.capacity() > 4096 {
            self.ring = VecDeque::new();
        }
    }

    /// A new buffer takes the allocations of a closed connection's buffer,
    /// emptied by `clear` (`Tcb::adopt`); one written to already keeps
    /// its own.
    pub fn adopt(&mut self, old: SendBuffer) {
        debug_assert!(old.is_empty() && old.chunks.is_empty(), "adopting a buffer not cleared");
        if self.ring.capacity() == 0 && self.chunks.capacity() == 0 {
            (self.ring, self.chunks) = (old.ring, old.chunks);
        }
    }

    /// Bytes of memory the buffer holds, besides shared chunks' own.
    pub fn allocated(&self) -> usize {
        self.ring.capacity() + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }

    /// Drops everything (the connection failed).
    pub fn clear(&mut self) {
        self.release(self.len);
    }

    /// Calls `f` with the `len` bytes from `offset`, where they lie: in
    /// order, in pieces (some perhaps empty). Most segments lie in one or
    /// two pieces (a ring that wraps, or the end of one chunk and the start
    /// of the next), gathered on the stack.
    pub fn gather<R>(&self, offset: usize, len: usize, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        if len == 0 {
            return f(&[]);
        }
        assert!(offset + len <= self.len, "gathering past the end of the send buffer");
        // Only copied writes, as with `Stack::send` alone: the ring's range.
        if let (1, Some(Chunk { data: Data::Copied { at, .. }, .. })) = (self.chunks.len(), self.chunks.front()) {
            let (a, b) = self.ring.as_slices();
            let (p, q) = slice_range(a, b, (at - self.ring_start) as usize + offset, len);
            return f(&[p, q]);
        }
        let (from, to) = (self.start + offset as u64, self.start + (offset + len) as u64);
        // The chunk that holds `from`: the last that starts at or before it.
        let first = self.chunks.partition_point(|c| c.start <= from) - 1;
        let mut parts = SmallVec::<[&[u8]; 4]>::new();
        for chunk in self.chunks.range(first..).take_while(|c| c.start < to) {
            let a = (from.max(chunk.start) - chunk.start) as usize;
            let b = (to.min(chunk.end()) - chunk.start) as usize;
            match &chunk.data {
                Data::Shared(bytes) => parts.push(&bytes[a..b]),
                Data::Copied { at, .. } => {
                    let (x, y) = self.ring.as_slices();
                    let (p, q) = slice_range(x, y, (at - self.ring_start) as usize + a, b - a);
                    parts.extend_from_slice(&[p, q]);
                }
            }
        }
        f(&parts)
    }

    /// Stream offset after the last byte held.
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }
}

/// `len` bytes from `offset` of the ring buffer whose halves are `a`, `b`.
fn slice_range<'a>(a: &'a [u8], b: &'a [u8], offset: usize, len: usize) -> (&'a [u8], &'a [u8]) {
    if offset >= a.len() {
        (&b[offset - a.len()..offset - a.len() + len], &[])
    } else {
        let in_a = len.min(a.len() - offset);
        (&a[offset..offset + in_a], &b[..len - in_a])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    fn gathered(buf: &SendBuffer, offset: usize, len: usize) -> Vec<u8> {
        buf.gather(offset, len, |parts| parts.concat())
    }

    /// copied | shared | copied: a segment across both boundaries comes in
    /// three parts, the shared one pointing into the application's `Bytes`.
    #[test]
    fn gathers_across_chunk_boundaries() {
        let (a, b, c) = (stream(100, 1), stream(5000, 2), stream(300, 3));
        let shared = Bytes::from(b.clone());
        let mut buf = SendBuffer::default();
        buf.push_copy(&a);
        buf.push_shared(shared.clone());
        buf.push_copy(&c);
        assert_eq!(buf.len(), 5400);
        let whole = [&a[..], &b, &c].concat();
        buf.gather(50, 5200, |parts| {
            let parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
            assert_eq!(parts.len(), 3);
            assert_eq!(parts[1].as_ptr(), shared.as_ptr(), "referenced, not copied");
            assert_eq!(parts.concat(), whole[50..5250]);
        });
        for (offset, len) in [(0, 1), (99, 2), (100, 5000), (5099, 2), (5399, 1), (0, 5400), (7, 0)] {
            assert_eq!(gathered(&buf, offset, len), whole[offset..offset + len], "{offset}+{len}");
        }
    }

    /// An ACK inside a chunk releases part of it; what is left is read from
    /// the same `Bytes` (a retransmission after a partial ACK).
    #[test]
    fn partial_release_keeps_the_rest_of_a_chunk() {
        let (a, b) = (stream(3000, 4), stream(10_000, 5));
        let shared = Bytes::from(b.clone());
        let mut buf = SendBuffer::default();
        buf.push_copy(&a);
        buf.push_shared(shared.clone());
        buf.release(1000); // inside the copied chunk
        assert_eq!(gathered(&buf, 0, 2000), a[1000..]);
        buf.release(2500); // the copied chunk and 500 bytes of the shared one
        assert_eq!(buf.len(), 9500);
        buf.gather(0, 1448, |parts| {
            assert_eq!(parts.len(), 1);
            assert_eq!(parts[0].as_ptr(), shared[500..].as_ptr());
            assert_eq!(parts[0], &b[500..1948]);
        });
        // Gathering again (a retransmission) reads the same bytes.
        assert_eq!(gathered(&buf, 0, 1448), b[500..1948]);
        buf.release(9500);
        assert!(buf.is_empty() && buf.chunks.is_empty());
        assert!(shared.is_unique(), "the buffer let go of the application's bytes");
    }

    /// Copied writes share one chunk, wrapping around the ring; a small
    /// shared write is copied into it.
    #[test]
    fn copied_writes_coalesce_and_wrap() {
        let mut buf = SendBuffer::default();
        let mut whole = Vec::new();
        for round in 0..50u8 {
            let data = stream(1000 + round as usize, round);
            if round % 2 == 0 {
                buf.push_copy(&data);
            } else {
                buf.push_shared(Bytes::from(data.clone()));
            }
            whole.extend_from_slice(&data);
            assert_eq!(buf.chunks.len(), 1);
            let release = buf.len() / 2;
            buf.release(release);
            whole.drain(..release);
            assert_eq!(gathered(&buf, 0, buf.len()), whole);
        }
    }
}
