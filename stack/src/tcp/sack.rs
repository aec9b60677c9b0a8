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
//!     |<------------------ lost ----------------->|<-- not yet lost -->|
//!                                         lost_edge
//! ```
//!
//! A hole is *lost* (RFC 6675's IsLost) once three SACKed blocks, or more
//! than two segments' worth of SACKed bytes, lie above it: that many later
//! segments arriving means this one is not just late. A hole below a lost
//! hole is lost too, so "lost" is everything unSACKed below one point, the
//! `lost_edge`. The top hole, above the highest block, is never lost by
//! this rule: nothing has arrived after it yet.
//!
//! The scoreboard holds the SACKed blocks, sorted, disjoint and never
//! touching; what lies below SND.UNA is dropped as the cumulative ACK moves.
//! A peer can send any numbers in its SACK option, so a block counts only if
//! it lies inside SND.UNA..SND.NXT, and the number of blocks is bounded: a
//! peer that SACKs every other byte fills the scoreboard, and the blocks
//! that do not fit are ignored (counted). Nothing here ever frees send
//! buffer: SACKed data stays until cumulatively acknowledged (RFC 2018 §8),
//! since a receiver may discard it again ("renege").

use super::seq::SeqNum;

/// RFC 6675's DupThresh: three segments arriving above a hole mark it lost.
pub const DUP_THRESH: usize = 3;

/// What one ACK's SACK option told the scoreboard.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Bytes SACKed for the first time.
    pub newly_sacked: usize,
    /// Blocks outside SND.UNA..SND.NXT, empty or reversed, or that found
    /// the scoreboard full.
    pub ignored: u32,
    /// D-SACK blocks (RFC 2883): a duplicate the receiver got, which says
    /// nothing about holes.
    pub dsack: u32,
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
    /// blocks.
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
    ) -> Update {
        self.acked(snd_una);
        let mut update = Update::default();
        let second = sack.get(1).copied().flatten();
        for (i, &(left, right)) in sack.iter().flatten().enumerate() {
            if i == 0 && (right <= ack || second.is_some_and(|(l, r)| l <= left && right <= r)) {
                update.dsack += 1;
                continue;
            }
            // Offsets from SND.UNA, so the check holds across the wrap
            // whatever numbers the peer sent.
            let (l, r) = (offset(snd_una, left), offset(snd_una, right));
            if !(l < r && r <= snd_nxt - snd_una) {
                update.ignored += 1;
                continue;
            }
            match self.insert(left, right, limit) {
                Some(new) => update.newly_sacked += new,
                None => update.ignored += 1,
            }
        }
        update
    }

    /// Merge `[left, right)` with the blocks it overlaps or touches. Returns
    /// the bytes it newly covers, or `None` if it needs a slot and none is left.
    fn insert(&mut self, left: SeqNum, right: SeqNum, limit: usize) -> Option<usize> {
        let first = self.blocks.partition_point(|b| b.1 < left);
        let last = first + self.blocks[first..].iter().take_while(|b| b.0 <= right).count();
        if first == last && self.blocks.len() >= limit {
            return None;
        }
        let touched = &self.blocks[first..last];
        let covered: usize = touched.iter().map(|&b| overlap(b, (left, right))).sum();
        let merged = touched.iter().fold((left, right), |(l, r), b| (l.min(b.0), r.max(b.1)));
        self.blocks.splice(first..last, [merged]);
        Some((right - left) - covered)
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

    /// Where the lost holes end (RFC 6675's IsLost()): the left edge of the
    /// highest block with DupThresh blocks, or more than (DupThresh − 1)
    /// segments of SACKed bytes, from it upwards. Every unSACKed byte below
    /// it is lost. `None` when no hole is lost.
    pub fn lost_edge(&self, mss: usize) -> Option<SeqNum> {
        let mut sacked_above = 0;
        for (count, &(left, right)) in self.blocks.iter().rev().enumerate() {
            sacked_above += right - left;
            if count + 1 >= DUP_THRESH || sacked_above > (DUP_THRESH - 1) * mss {
                return Some(left);
            }
        }
        None
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

    /// Update with SND.UNA = the ACK = `una` and SND.NXT = `nxt`.
    fn update(s: &mut Scoreboard, una: u32, nxt: u32, b: &[(u32, u32)]) -> Update {
        s.update(&sack(b), SeqNum(una), SeqNum(una), SeqNum(nxt), 8)
    }

    #[test]
    fn blocks_merge_and_count_only_new_bytes() {
        let mut s = Scoreboard::default();
        let u = update(&mut s, 1000, 2000, &[(1300, 1400), (1100, 1200)]);
        assert_eq!((u.newly_sacked, u.ignored, u.dsack), (200, 0, 0));
        assert_eq!(blocks(&s), [(1100, 1200), (1300, 1400)]);
        // Touching and overlapping blocks merge; repeated ones add nothing.
        let u = update(&mut s, 1000, 2000, &[(1200, 1350), (1300, 1400), (1100, 1200)]);
        assert_eq!(u.newly_sacked, 100);
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
        let u = update(&mut s, 1000, 2000, &[(1900, 2100), (1500, 1400), (1500, 1500), (900, 1100)]);
        assert_eq!((u.newly_sacked, u.ignored, u.dsack), (0, 4, 0));
        let u = update(&mut s, 1000, 2000, &[(1100, 1200), (0x8000_1000, 0x8000_1100)]);
        assert_eq!((u.newly_sacked, u.ignored), (100, 1));
        // D-SACK: a first block below the ACK, or inside the second block.
        let u = update(&mut s, 1000, 2000, &[(900, 1000), (1100, 1200)]);
        assert_eq!((u.newly_sacked, u.ignored, u.dsack), (0, 0, 1));
        let u = update(&mut s, 1000, 2000, &[(1500, 1600), (1400, 1700)]);
        assert_eq!((u.newly_sacked, u.ignored, u.dsack), (300, 0, 1));
        assert_eq!(blocks(&s), [(1100, 1200), (1400, 1700)]);
    }

    #[test]
    fn the_scoreboard_is_bounded() {
        let mut s = Scoreboard::default();
        let mut ignored = 0;
        for i in 0..20u32 {
            let l = 1010 + 20 * i;
            ignored += s.update(&sack(&[(l, l + 10)]), SeqNum(1000), SeqNum(1000), SeqNum(2000), 8).ignored;
        }
        assert_eq!((s.blocks().len(), ignored), (8, 12));
        // A block that merges with one held still counts.
        let u = s.update(&sack(&[(1020, 1030)]), SeqNum(1000), SeqNum(1000), SeqNum(2000), 8);
        assert_eq!((u.newly_sacked, u.ignored), (10, 0));
    }

    #[test]
    fn is_lost_needs_three_blocks_or_more_than_two_segments_above() {
        let mut s = Scoreboard::default();
        update(&mut s, 0, 2000, &[(100, 200)]);
        assert_eq!(s.lost_edge(MSS), None, "one segment above: maybe just reordered");
        update(&mut s, 0, 2000, &[(300, 400)]);
        assert_eq!(s.lost_edge(MSS), None);
        update(&mut s, 0, 2000, &[(500, 550)]);
        assert_eq!(s.lost_edge(MSS), Some(SeqNum(100)), "three blocks above the first hole");
        update(&mut s, 0, 2000, &[(700, 1000)]);
        // 300 bytes above the hole at 550..700: more than 2 × MSS.
        assert_eq!(s.lost_edge(MSS), Some(SeqNum(700)));
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
        let u = update(&mut s, una, 500, &[(u32::MAX - 49, 50), (100, 200)]);
        assert_eq!((u.newly_sacked, u.ignored), (200, 0));
        assert_eq!(s.sacked_between(SeqNum(una), SeqNum(500)), 200);
        let first = s.next_unsacked(SeqNum(una), SeqNum(500)).unwrap();
        assert_eq!(first, (SeqNum(una), SeqNum(u32::MAX - 49)));
    }
}
