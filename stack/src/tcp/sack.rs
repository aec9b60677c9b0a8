//! The sender's SACK scoreboard (RFC 2018, RFC 6675 §3 and §4).
//!
//! With selective acknowledgments the receiver tells the sender which blocks
//! it holds above the cumulative ACK, so one round trip can reveal every
//! hole in a window, and the sender resends only the holes.
//!
//! ```text
//!  SND.UNA                                                           SND.NXT
//!     | hole  [==SACKed==]  hole  [=SACKed=]  hole  [====SACKed====]  hole |
//!     v                                                                     v
//!  ---+------+------------+------+-----------+------+----------------+-----+--->
//! ```
//!
//! The scoreboard says only what arrived. Which holes are lost is decided
//! from the time each segment was sent (RACK, `rack.rs`): a hole is lost
//! once a segment sent after it has arrived and a reordering window has
//! passed. RFC 6675's own rule, three segments SACKed above a hole, lives
//! on as RACK's signal that no reordering window is needed
//! (`dup_thresh_sacked`).
//!
//! The scoreboard holds the SACKed blocks, sorted, disjoint and never
//! touching; what lies below SND.UNA is dropped as the cumulative ACK moves.
//! A peer can send any numbers in its SACK option, so a block counts only if
//! it lies inside SND.UNA..SND.NXT, and the number of blocks is bounded: a
//! peer that SACKs every other byte fills the scoreboard, and the blocks
//! that do not fit are ignored (counted). Nothing here ever frees send
//! buffer: SACKed data stays until cumulatively acknowledged (RFC 2018 §8),
//! since a receiver may discard it again ("renege").

use crate::wire::seq::SeqNum;

/// RFC 6675's DupThresh: three segments arriving above a hole mean it is
/// lost, not reordered.
pub const DUP_THRESH: usize = 3;

/// What one ACK's SACK option told the scoreboard.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Blocks outside SND.UNA..SND.NXT, empty or reversed, or that found
    /// the scoreboard full.
    pub ignored: u32,
    /// A D-SACK block (RFC 2883): a duplicate the receiver got, which says
    /// nothing about holes (but tells RACK and TLP of spurious resends).
    pub dsack: Option<(SeqNum, SeqNum)>,
}

#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    /// SACKed ranges `[left, right)`, ascending.
    blocks: Vec<(SeqNum, SeqNum)>,
}

impl Scoreboard {
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The SACKed ranges, ascending.
    pub fn blocks(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// RFC 6675's Update(): record the blocks of an ACK's SACK option, after
    /// the cumulative ACK (`ack`) has moved SND.UNA. Holds at most `limit`
    /// blocks. `newly` hears of each range SACKed for the first time.
    ///
    /// The first block is a D-SACK (RFC 2883 §4) when it lies below the
    /// segment's ACK or inside the second block: it reports a duplicate the
    /// receiver got, says nothing about holes, and is counted and skipped.
    pub fn update(
        &mut self,
        sack: &[Option<(SeqNum, SeqNum)>],
        ack: SeqNum,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        limit: usize,
        newly: &mut dyn FnMut(SeqNum, SeqNum),
    ) -> Update {
        self.acked(snd_una);
        let mut update = Update::default();
        let second = sack.get(1).copied().flatten();
        for (i, &(left, right)) in sack.iter().flatten().enumerate() {
            if i == 0 && (right <= ack || second.is_some_and(|(l, r)| l <= left && right <= r)) {
                update.dsack = Some((left, right));
                continue;
            }
            // Offsets from SND.UNA, so the check holds across the wrap
            // whatever numbers the peer sent.
            let (l, r) = (offset(snd_una, left), offset(snd_una, right));
            if !(l < r && r <= snd_nxt - snd_una) {
                update.ignored += 1;
                continue;
            }
            if !self.insert(left, right, limit, newly) {
                update.ignored += 1;
            }
        }
        update
    }

    /// Merge `[left, right)` with the blocks it overlaps or touches, telling
    /// `newly` of each run of bytes it covers for the first time. Returns
    /// false if it needs a slot and none is left.
    fn insert(&mut self, left: SeqNum, right: SeqNum, limit: usize, newly: &mut dyn FnMut(SeqNum, SeqNum)) -> bool {
        let first = self.blocks.partition_point(|b| b.1 < left);
        let last = first + self.blocks[first..].iter().take_while(|b| b.0 <= right).count();
        if first == last && self.blocks.len() >= limit {
            return false;
        }
        let touched = &self.blocks[first..last];
        // The gaps the new block fills between the blocks it touches.
        let mut at = left;
        for &(l, r) in touched.iter().chain([(right, right)].iter()) {
            if at < l.min(right) {
                newly(at, l.min(right));
            }
            at = at.max(r);
        }
        let merged = touched.iter().fold((left, right), |(l, r), b| (l.min(b.0), r.max(b.1)));
        self.blocks.splice(first..last, [merged]);
        true
    }

    /// The cumulative ACK reached `snd_una`: forget what lies below it.
    fn acked(&mut self, snd_una: SeqNum) {
        let gone = self.blocks.partition_point(|b| b.1 <= snd_una);
        self.blocks.drain(..gone);
        match self.blocks.first_mut() {
            Some(first) => first.0 = first.0.max(snd_una),
            None => self.blocks = Vec::new(), // an idle connection holds nothing
        }
    }

    /// Whether the receiver seems to have discarded data it had SACKed
    /// (RFC 2018 §8): a block starts right at SND.UNA, yet the cumulative
    /// ACK, which would cover it, stops there.
    pub fn reneged(&self, snd_una: SeqNum) -> bool {
        self.blocks.first().is_some_and(|b| b.0 == snd_una)
    }

    /// Whether RFC 6675's DupThresh is reached: DupThresh blocks, or more
    /// than (DupThresh − 1) segments of bytes, are SACKed. RACK then needs
    /// no reordering window before it calls a hole lost (RFC 8985 §6.2
    /// step 4), as RFC 6675's IsLost() would call it lost.
    pub fn dup_thresh_sacked(&self, mss: usize) -> bool {
        let sacked: usize = self.blocks.iter().map(|&(l, r)| r - l).sum();
        self.blocks.len() >= DUP_THRESH || sacked > (DUP_THRESH - 1) * mss
    }

    /// SACKed bytes in `[from, to)`.
    pub fn sacked_between(&self, from: SeqNum, to: SeqNum) -> usize {
        self.blocks.iter().map(|&b| overlap(b, (from, to))).sum()
    }

    /// The first unSACKed sequence number at or after `from`, and where the
    /// unSACKed run that starts there ends (the next block, or `limit`).
    pub fn next_unsacked(&self, from: SeqNum, limit: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut at = from;
        for &(left, right) in &self.blocks {
            if right <= at {
                continue;
            }
            if left > at {
                return (at < limit).then_some((at, left.min(limit)));
            }
            at = right; // inside a SACKed block: skip it
        }
        (at < limit).then_some((at, limit))
    }
}

/// The bytes two ranges share.
fn overlap(a: (SeqNum, SeqNum), b: (SeqNum, SeqNum)) -> usize {
    let (left, right) = (a.0.max(b.0), a.1.min(b.1));
    if left < right {
        right - left
    } else {
        0
    }
}

/// How far `b` lies ahead of `a`, modulo 2^32.
fn offset(a: SeqNum, b: SeqNum) -> usize {
    b.0.wrapping_sub(a.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 100;

    fn sack(blocks: &[(u32, u32)]) -> [Option<(SeqNum, SeqNum)>; 4] {
        let mut out = [None; 4];
        for (slot, &(l, r)) in out.iter_mut().zip(blocks) {
            *slot = Some((SeqNum(l), SeqNum(r)));
        }
        out
    }

    fn blocks(s: &Scoreboard) -> Vec<(u32, u32)> {
        s.blocks().iter().map(|&(l, r)| (l.0, r.0)).collect()
    }

    /// Update with SND.UNA = the ACK = `una` and SND.NXT = `nxt`; returns
    /// what `update` says and the bytes SACKed for the first time.
    fn update(s: &mut Scoreboard, una: u32, nxt: u32, b: &[(u32, u32)]) -> (Update, u32) {
        let (u, newly) = updated(s, una, nxt, b);
        (u, newly.iter().map(|(l, r)| r - l).sum())
    }

    /// The same, with the ranges SACKed for the first time.
    fn updated(s: &mut Scoreboard, una: u32, nxt: u32, b: &[(u32, u32)]) -> (Update, Vec<(u32, u32)>) {
        let mut newly = Vec::new();
        let u = s.update(&sack(b), SeqNum(una), SeqNum(una), SeqNum(nxt), 8, &mut |l, r| newly.push((l.0, r.0)));
        (u, newly)
    }

    #[test]
    fn blocks_merge_and_count_only_new_bytes() {
        let mut s = Scoreboard::default();
        let (u, new) = update(&mut s, 1000, 2000, &[(1300, 1400), (1100, 1200)]);
        assert_eq!((new, u.ignored, u.dsack), (200, 0, None));
        assert_eq!(blocks(&s), [(1100, 1200), (1300, 1400)]);
        // Touching and overlapping blocks merge; repeated ones add nothing.
        let (u, newly) = updated(&mut s, 1000, 2000, &[(1200, 1350), (1300, 1400), (1100, 1200)]);
        assert_eq!((u.ignored, newly), (0, vec![(1200, 1300)]));
        // A block across two held ones: only the gaps are new.
        let (u, newly) = updated(&mut s, 1000, 2000, &[(1450, 1500), (1600, 1700)]);
        assert_eq!((u.ignored, newly), (0, vec![(1450, 1500), (1600, 1700)]));
        let (u, newly) = updated(&mut s, 1000, 2000, &[(1420, 1800)]);
        assert_eq!((u.ignored, newly), (0, vec![(1420, 1450), (1500, 1600), (1700, 1800)]));
        let mut s = Scoreboard::default();
        update(&mut s, 1000, 2000, &[(1100, 1400)]);
        assert_eq!(blocks(&s), [(1100, 1400)]);
        // The cumulative ACK drops and trims what lies below it.
        update(&mut s, 1150, 2000, &[]);
        assert_eq!(blocks(&s), [(1150, 1400)]);
        assert!(s.reneged(SeqNum(1150)), "a block at SND.UNA that the ACK does not cover");
        update(&mut s, 1400, 2000, &[]);
        assert!(s.is_empty());
    }

    #[test]
    fn blocks_outside_the_window_are_ignored_and_dsack_is_recognised() {
        let mut s = Scoreboard::default();
        // Beyond SND.NXT, reversed, empty, partly below SND.UNA, far away.
        let (u, new) = update(&mut s, 1000, 2000, &[(1900, 2100), (1500, 1400), (1500, 1500), (900, 1100)]);
        assert_eq!((new, u.ignored, u.dsack), (0, 4, None));
        let (u, new) = update(&mut s, 1000, 2000, &[(1100, 1200), (0x8000_1000, 0x8000_1100)]);
        assert_eq!((new, u.ignored), (100, 1));
        // D-SACK: a first block below the ACK, or inside the second block.
        let (u, new) = update(&mut s, 1000, 2000, &[(900, 1000), (1100, 1200)]);
        assert_eq!((new, u.ignored, u.dsack), (0, 0, Some((SeqNum(900), SeqNum(1000)))));
        let (u, new) = update(&mut s, 1000, 2000, &[(1500, 1600), (1400, 1700)]);
        assert_eq!((new, u.ignored, u.dsack), (300, 0, Some((SeqNum(1500), SeqNum(1600)))));
        assert_eq!(blocks(&s), [(1100, 1200), (1400, 1700)]);
    }

    #[test]
    fn the_scoreboard_is_bounded() {
        let mut s = Scoreboard::default();
        let mut ignored = 0;
        for i in 0..20u32 {
            let l = 1010 + 20 * i;
            ignored += update(&mut s, 1000, 2000, &[(l, l + 10)]).0.ignored;
        }
        assert_eq!((s.blocks().len(), ignored), (8, 12));
        // A block that merges with one held still counts.
        let (u, new) = update(&mut s, 1000, 2000, &[(1020, 1030)]);
        assert_eq!((new, u.ignored), (10, 0));
    }

    #[test]
    fn dup_thresh_needs_three_blocks_or_more_than_two_segments() {
        let mut s = Scoreboard::default();
        update(&mut s, 0, 2000, &[(100, 200)]);
        assert!(!s.dup_thresh_sacked(MSS), "one segment: maybe just reordered");
        update(&mut s, 0, 2000, &[(300, 400)]);
        assert!(!s.dup_thresh_sacked(MSS));
        update(&mut s, 0, 2000, &[(500, 550)]);
        assert!(s.dup_thresh_sacked(MSS), "three blocks");
        let mut s = Scoreboard::default();
        update(&mut s, 0, 2000, &[(700, 1000)]);
        assert!(s.dup_thresh_sacked(MSS), "300 bytes: more than 2 × MSS");
    }

    #[test]
    fn next_unsacked_skips_sacked_blocks() {
        let mut s = Scoreboard::default();
        update(&mut s, 0, 1000, &[(100, 200), (300, 400)]);
        let run = |from, limit| s.next_unsacked(SeqNum(from), SeqNum(limit)).map(|(a, b)| (a.0, b.0));
        assert_eq!(run(0, 1000), Some((0, 100)));
        assert_eq!(run(150, 1000), Some((200, 300)));
        assert_eq!(run(350, 1000), Some((400, 1000)));
        assert_eq!(run(350, 400), None);
        assert_eq!(run(50, 80), Some((50, 80)));
        assert_eq!(s.sacked_between(SeqNum(150), SeqNum(350)), 100);
    }

    #[test]
    fn works_across_the_wrap() {
        let mut s = Scoreboard::default();
        let una = u32::MAX - 150;
        // 2^32 − 50 up to 50: 100 bytes across the wrap.
        let (u, new) = updated(&mut s, una, 500, &[(u32::MAX - 49, 50), (100, 200)]);
        assert_eq!((u.ignored, new), (0, vec![(u32::MAX - 49, 50), (100, 200)]));
        assert_eq!(s.sacked_between(SeqNum(una), SeqNum(500)), 200);
        let first = s.next_unsacked(SeqNum(una), SeqNum(500)).unwrap();
        assert_eq!(first, (SeqNum(una), SeqNum(u32::MAX - 49)));
    }
}
