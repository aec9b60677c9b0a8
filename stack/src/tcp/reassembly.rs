//! Segments that arrived ahead of RCV.NXT, held until the gap before them
//! fills (RFC 9293 §3.10.7.4: "segments with higher beginning sequence
//! numbers SHOULD be held for later processing").
//!
//! ```text
//!   RCV.NXT        run                run
//!      |  gap   [=======]   gap   [=========]
//!      v
//!   ---+--------+-------+---------+---------+------------> sequence space
//! ```
//! What is held is kept as runs: ranges of bytes, sorted, disjoint and never
//! touching. A segment that overlaps or touches runs is merged with them,
//! each byte kept once, so what a peer can make us hold is bounded in bytes,
//! not segments: everything held lies inside the receive window (the caller
//! trims each segment to it), so at most RCV.WND bytes, however many
//! overlapping copies arrive. The number of runs is bounded too (a peer
//! sending every other byte would otherwise make one allocation per byte).
//! When the segment at RCV.NXT arrives, the runs it reaches are delivered
//! in order.
//!
//! The runs are what a SACK option reports (RFC 2018 §4): one block each,
//! the run that most recently received a segment first.

use crate::wire::seq::SeqNum;

/// A range of held bytes, `[seq, seq + data.len())`.
#[derive(Debug)]
struct Run {
    seq: SeqNum,
    data: Vec<u8>,
    /// When a segment last arrived in it (a count of arrivals), for the
    /// order of SACK blocks.
    arrival: u64,
}

impl Run {
    fn end(&self) -> SeqNum {
        self.seq + self.data.len()
    }
}

#[derive(Debug, Default)]
pub struct Reassembly {
    /// Sorted by sequence number, disjoint, never touching.
    runs: Vec<Run>,
    /// Where a FIN that arrived out of order ends the stream: nothing is
    /// held past it.
    fin: Option<SeqNum>,
    /// Segments that arrived out of order so far.
    arrivals: u64,
}

/// Why a segment was not held: it would need a run of its own, and the
/// runs are at their limit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Full;

impl Reassembly {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.fin.is_none()
    }

    /// The runs held: each is a hole's right side, a SACK block.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The bytes held, each counted once.
    pub fn bytes(&self) -> usize {
        self.runs.iter().map(|r| r.data.len()).sum()
    }

    /// Hold a segment that starts after RCV.NXT and ends inside the receive
    /// window, merging it with the runs it overlaps or touches; bytes
    /// already held are kept as they are. Holds at most `max_runs` runs.
    pub fn insert(&mut self, seq: SeqNum, data: &[u8], fin: bool, max_runs: usize) -> Result<(), Full> {
        self.arrivals += 1;
        let mut data = data;
        if let Some(end) = self.fin {
            // The stream ends there: what lies past it is no data of the
            // peer's (and a second FIN elsewhere is not believed).
            data = &data[..(end.max(seq) - seq).min(data.len())];
        } else if fin {
            self.fin = Some(seq + data.len());
            self.truncate(seq + data.len());
        }
        if data.is_empty() {
            return Ok(());
        }
        let end = seq + data.len();
        // Runs `first..last` overlap or touch [seq, end).
        let first = self.runs.partition_point(|r| r.end() < seq);
        let last = first + self.runs[first..].iter().take_while(|r| r.seq <= end).count();
        let arrival = self.arrivals;
        if first == last {
            if self.runs.len() >= max_runs {
                return Err(Full);
            }
            self.runs.insert(first, Run { seq, data: data.to_vec(), arrival });
            return Ok(());
        }
        // One run from `seq.min(runs[first].seq)`: held bytes where there
        // are runs, the segment's bytes in the gaps between them.
        let mut run = Run { seq: self.runs[first].seq, data: std::mem::take(&mut self.runs[first].data), arrival };
        if seq < run.seq {
            let mut joined = Vec::with_capacity(run.end().max(end) - seq);
            joined.extend_from_slice(&data[..run.seq - seq]);
            joined.append(&mut run.data);
            run = Run { seq, data: joined, arrival };
        }
        for next in &self.runs[first + 1..last] {
            run.data.extend_from_slice(&data[run.end() - seq..next.seq - seq]);
            run.data.extend_from_slice(&next.data);
        }
        if run.end() < end {
            run.data.extend_from_slice(&data[run.end() - seq..]);
        }
        self.runs.splice(first..last, [run]);
        Ok(())
    }

    /// Forget what is held at or past `end`.
    fn truncate(&mut self, end: SeqNum) {
        self.runs.retain(|r| r.seq < end);
        if let Some(last) = self.runs.last_mut() {
            last.data.truncate(end.max(last.seq) - last.seq);
        }
    }

    /// The SACK blocks to report (RFC 2018 §4): each run as `[left,
    /// right)`, the most recently added-to first ("the first SACK block MUST
    /// specify the contiguous block of data containing the segment which
    /// triggered this ACK"), at most four: all a SACK option can carry.
    pub fn sack_blocks(&self) -> [Option<(SeqNum, SeqNum)>; 4] {
        let mut newest: [Option<&Run>; 4] = [None; 4];
        for run in &self.runs {
            // Insertion into the four newest so far, newest first.
            let mut run = Some(run);
            for slot in &mut newest {
                let newer = match (*slot, run) {
                    (None, _) => true,
                    (Some(s), Some(r)) => r.arrival > s.arrival,
                    (Some(_), None) => false,
                };
                if newer {
                    run = std::mem::replace(slot, run);
                }
            }
        }
        newest.map(|run| run.map(|r| (r.seq, r.end())))
    }

    /// Deliver what is now contiguous with `rcv_nxt`, in order. Returns the
    /// new RCV.NXT (not counting a FIN) and whether a FIN was reached.
    pub fn drain(&mut self, mut rcv_nxt: SeqNum, mut deliver: impl FnMut(&[u8])) -> (SeqNum, bool) {
        let mut taken = 0;
        for run in &self.runs {
            if run.seq > rcv_nxt {
                break;
            }
            taken += 1;
            if run.end() > rcv_nxt {
                // (Data that arrived in order may have covered its start.)
                deliver(&run.data[rcv_nxt - run.seq..]);
                rcv_nxt = run.end();
            }
        }
        self.runs.drain(..taken);
        let fin = self.fin == Some(rcv_nxt);
        if fin || self.fin.is_some_and(|end| end < rcv_nxt) {
            // Nothing can follow a FIN (and one that data arriving in order
            // overran was not the end after all).
            self.clear();
        }
        (rcv_nxt, fin)
    }

    /// Forget everything held: the stream ended before it.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.fin = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain_all(r: &mut Reassembly, rcv_nxt: u32) -> (Vec<u8>, SeqNum, bool) {
        let mut out = Vec::new();
        let (nxt, fin) = r.drain(SeqNum(rcv_nxt), |d| out.extend_from_slice(d));
        (out, nxt, fin)
    }

    #[test]
    fn holds_until_the_gap_fills_and_trims_overlaps() {
        let mut r = Reassembly::default();
        r.insert(SeqNum(20), b"klmno", false, 8).unwrap();
        r.insert(SeqNum(13), b"defghij", false, 8).unwrap();
        r.insert(SeqNum(18), b"ijkl", false, 8).unwrap();
        // Nothing at 10 yet: nothing to deliver.
        assert_eq!(drain_all(&mut r, 10).0, b"");
        // "abc" arrived in order, so RCV.NXT is now 13.
        let (data, nxt, fin) = drain_all(&mut r, 13);
        assert_eq!(data, b"defghijklmno");
        assert_eq!((nxt, fin), (SeqNum(25), false));
        assert!(r.is_empty());
    }

    #[test]
    fn duplicates_are_not_held_twice_and_the_run_limit_holds() {
        let mut r = Reassembly::default();
        r.insert(SeqNum(100), b"abcd", false, 2).unwrap();
        r.insert(SeqNum(101), b"bc", false, 2).unwrap();
        assert_eq!(r.runs(), 1);
        r.insert(SeqNum(200), b"x", false, 2).unwrap();
        assert_eq!(r.insert(SeqNum(300), b"y", false, 2), Err(Full));
    }

    #[test]
    fn sack_blocks_are_runs_most_recent_first() {
        let mut r = Reassembly::default();
        let blocks = |r: &Reassembly| r.sack_blocks().iter().flatten().map(|(l, r)| (l.0, r.0)).collect::<Vec<_>>();
        r.insert(SeqNum(20), b"kl", false, 8).unwrap();
        r.insert(SeqNum(30), b"uv", false, 8).unwrap();
        r.insert(SeqNum(22), b"mn", false, 8).unwrap();
        assert_eq!(blocks(&r), [(20, 24), (30, 32)], "the run just added to comes first");
        r.insert(SeqNum(40), b"x", false, 8).unwrap();
        r.insert(SeqNum(50), b"y", false, 8).unwrap();
        r.insert(SeqNum(60), b"z", false, 8).unwrap();
        assert_eq!(blocks(&r), [(60, 61), (50, 51), (40, 41), (20, 24)], "four fit; the oldest is left out");
        // A duplicate makes its run the most recent again.
        r.insert(SeqNum(30), b"u", false, 8).unwrap();
        assert_eq!(blocks(&r)[0], (30, 32));
    }

    #[test]
    fn a_held_fin_is_reported_across_the_wrap() {
        let mut r = Reassembly::default();
        r.insert(SeqNum(u32::MAX - 1), b"abcd", true, 4).unwrap();
        let (data, nxt, fin) = drain_all(&mut r, u32::MAX - 1);
        assert_eq!(data, b"abcd");
        assert_eq!((nxt, fin), (SeqNum(2), true));
    }

    #[test]
    fn overlapping_copies_are_held_once() {
        let mut r = Reassembly::default();
        // 64 segments of 64 bytes, each one byte further: 127 bytes in all.
        let stream: Vec<u8> = (0..200u8).collect();
        for k in 0..64 {
            r.insert(SeqNum(100 + k), &stream[k as usize..k as usize + 64], false, 4).unwrap();
        }
        assert_eq!((r.runs(), r.bytes()), (1, 127));
        // Touching runs merge too: one block, not two.
        r.insert(SeqNum(227), &stream[127..137], false, 4).unwrap();
        assert_eq!((r.runs(), r.bytes()), (1, 137));
        let (data, nxt, _) = drain_all(&mut r, 100);
        assert_eq!((data.as_slice(), nxt), (&stream[..137], SeqNum(237)));
    }

    #[test]
    fn a_segment_across_runs_fills_only_the_gaps() {
        let mut r = Reassembly::default();
        for at in [10, 30, 50] {
            r.insert(SeqNum(at), &[b'h'; 10], false, 4).unwrap();
        }
        r.insert(SeqNum(5), &[b'n'; 60], false, 4).unwrap();
        assert_eq!((r.runs(), r.bytes()), (1, 60));
        let (data, nxt, _) = drain_all(&mut r, 5);
        let expected = [&[b'n'; 5][..], &[b'h'; 10], &[b'n'; 10], &[b'h'; 10], &[b'n'; 10], &[b'h'; 10], &[b'n'; 5]];
        assert_eq!((data, nxt), (expected.concat(), SeqNum(65)));
    }

    #[test]
    fn nothing_is_held_past_a_fin() {
        let mut r = Reassembly::default();
        r.insert(SeqNum(30), b"late", false, 4).unwrap();
        r.insert(SeqNum(20), b"end", true, 4).unwrap();
        r.insert(SeqNum(21), b"ndmore", false, 4).unwrap();
        assert_eq!((r.runs(), r.bytes()), (1, 3));
        assert_eq!(drain_all(&mut r, 20), (b"end".to_vec(), SeqNum(23), true));
        assert!(r.is_empty());
    }

    proptest! {
        /// Whatever pieces of a stream arrive, in whatever order and
        /// overlap: at most the window is held, the runs stay disjoint and
        /// apart, and once the hole at the start fills the stream comes out
        /// once, in order.
        #[test]
        fn pieces_in_any_order_come_out_once_in_order(
            pieces in proptest::collection::vec((1usize..300, 1usize..200), 1..60),
            isn in any::<u32>(),
        ) {
            const WINDOW: usize = 500;
            let stream: Vec<u8> = (0..WINDOW).map(|i| (i * 7 % 251) as u8).collect();
            let mut r = Reassembly::default();
            let start = SeqNum(isn);
            for (at, len) in pieces {
                let end = (at + len).min(WINDOW);
                r.insert(start + at, &stream[at..end], false, 64).unwrap();
                prop_assert!(r.bytes() <= WINDOW);
                for pair in r.runs.windows(2) {
                    prop_assert!(pair[0].end() < pair[1].seq, "runs apart");
                }
            }
            let held = r.bytes();
            let mut out = stream[..1].to_vec(); // the hole's byte, in order
            let (nxt, _) = r.drain(start + 1, |d| out.extend_from_slice(d));
            prop_assert_eq!(&out[..], &stream[..nxt - start]);
            prop_assert!(out.len() - 1 <= held);
        }
    }
}
