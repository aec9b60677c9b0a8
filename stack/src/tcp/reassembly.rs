//! Segments that arrived ahead of RCV.NXT, held until the gap before them
//! fills (RFC 9293 §3.10.7.4: "segments with higher beginning sequence
//! numbers SHOULD be held for later processing").
//!
//! ```text
//!   RCV.NXT        held               held
//!      |  gap   [=======]   gap   [=========]
//!      v
//!   ---+--------+-------+---------+---------+------------> sequence space
//! ```
//! When the segment at RCV.NXT arrives, the held ones that now touch it are
//! delivered in order, their overlaps trimmed. Everything held lies inside the
//! receive window, and the number of held segments is bounded.
//!
//! The held runs are what a SACK option reports (RFC 2018 §4): each block is
//! one contiguous run, the run that most recently received a segment first.

use crate::wire::seq::SeqNum;

#[derive(Debug)]
struct Held {
    seq: SeqNum,
    data: Vec<u8>,
    fin: bool,
    /// When it last arrived (a count of arrivals), for the order of SACK blocks.
    arrival: u64,
}

impl Held {
    fn end(&self) -> SeqNum {
        self.seq + self.data.len()
    }
}

#[derive(Debug, Default)]
pub struct Reassembly {
    /// Sorted by sequence number; may overlap.
    held: Vec<Held>,
    /// Segments that arrived out of order so far.
    arrivals: u64,
}

/// Why a segment was not held.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Full;

impl Reassembly {
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn segments(&self) -> usize {
        self.held.len()
    }

    /// Hold a segment that starts after RCV.NXT. A segment already covered by
    /// one held is a duplicate and is dropped silently.
    pub fn insert(&mut self, seq: SeqNum, data: &[u8], fin: bool, limit: usize) -> Result<(), Full> {
        let end = seq + data.len();
        self.arrivals += 1;
        let arrival = self.arrivals;
        if let Some(h) = self.held.iter_mut().find(|h| h.seq <= seq && end <= h.end() && (h.fin || !fin)) {
            h.arrival = arrival; // its block is again the most recent
            return Ok(());
        }
        if self.held.len() >= limit {
            return Err(Full);
        }
        let at = self.held.iter().position(|h| h.seq > seq).unwrap_or(self.held.len());
        self.held.insert(at, Held { seq, data: data.to_vec(), fin, arrival });
        Ok(())
    }

    /// The SACK blocks to report (RFC 2018 §4): each contiguous run of held
    /// data as `[left, right)`, the most recently added-to first ("the first
    /// SACK block MUST specify the contiguous block of data containing the
    /// segment which triggered this ACK"), at most four: all a SACK option
    /// can carry.
    pub fn sack_blocks(&self) -> [Option<(SeqNum, SeqNum)>; 4] {
        let mut runs: Vec<(SeqNum, SeqNum, u64)> = Vec::new();
        for h in self.held.iter().filter(|h| !h.data.is_empty()) {
            match runs.last_mut() {
                Some(run) if h.seq <= run.1 => {
                    run.1 = run.1.max(h.end());
                    run.2 = run.2.max(h.arrival);
                }
                _ => runs.push((h.seq, h.end(), h.arrival)),
            }
        }
        runs.sort_unstable_by_key(|run| std::cmp::Reverse(run.2));
        let mut runs = runs.into_iter().map(|(left, right, _)| (left, right));
        std::array::from_fn(|_| runs.next())
    }

    /// Deliver what is now contiguous with `rcv_nxt`, in order. Returns the
    /// new RCV.NXT (not counting a FIN) and whether a FIN was reached.
    pub fn drain(&mut self, mut rcv_nxt: SeqNum, mut deliver: impl FnMut(&[u8])) -> (SeqNum, bool) {
        let mut fin = false;
        let mut taken = 0;
        for h in &self.held {
            if h.seq > rcv_nxt || fin {
                break;
            }
            taken += 1;
            if h.end() >= rcv_nxt {
                let fresh = &h.data[rcv_nxt - h.seq..];
                deliver(fresh);
                rcv_nxt += fresh.len();
                fin = h.fin;
            }
        }
        self.held.drain(..taken);
        if fin {
            self.clear(); // nothing can follow a FIN
        }
        (rcv_nxt, fin)
    }

    /// Forget everything held: the stream ended before it.
    pub fn clear(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn duplicates_are_not_held_twice_and_the_limit_holds() {
        let mut r = Reassembly::default();
        r.insert(SeqNum(100), b"abcd", false, 2).unwrap();
        r.insert(SeqNum(101), b"bc", false, 2).unwrap();
        assert_eq!(r.segments(), 1);
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
}
