//! RACK-TLP (RFC 8985): which segments are lost, judged by when they were
//! sent; and a probe that makes a lost tail show itself.
//!
//! RFC 6675 calls a hole lost once three segments above it are SACKed.
//! That cannot see two losses: a retransmission lost again (the segments
//! SACKed above the hole were SACKed long ago, and no new ones arrive above
//! it), and the last segments of a flight (nothing is sent after them to be
//! SACKed). Both then wait for the retransmission timeout.
//!
//! RACK ("recent acknowledgment") asks a question about time instead: has
//! a segment *sent after* this one been delivered? If so, and a reordering
//! window has passed, this one is lost, whether it was sent once or resent.
//!
//! ```text
//!   sent at:   t1      t2      t3              t4
//!   segment:  [ A ]   [ B ]   [ A again ]     [ C ]
//!   arrives:   lost    yes     lost            yes
//!   sender:   B is SACKed and was sent after A: A is lost once
//!             t1 + RACK.rtt + reo_wnd has passed; resent at t3.
//!             C is SACKed and was sent after A's resend: the resend is
//!             lost too (RFC 6675 cannot tell), and A goes a third time.
//! ```
//!
//! What is lost is marked in the log of sent segments; RFC 6675's pipe and
//! NextSeg() (`tcb/output.rs`) then read it with the SACK scoreboard.
//!
//! TLP ("tail loss probe") covers the tail: when no ACK comes for two round
//! trips, it sends one segment (new data, or the last segment again) so that
//! the peer's ACK, with SACK blocks, gives RACK something to judge by.
//!
//! ```text
//!   data ... [last]  ---- 2·SRTT, no ACK ---->  probe: [last] again
//!       peer SACKs the probe  ->  RACK: the segments before it are lost
//!       peer ACKs everything  ->  the probe repaired the one loss (§7.4.2)
//! ```
//!
//! The per-segment state lives in [`SentLog`], RACK's per-connection state
//! in [`Rack`], TLP's in [`Tlp`]; `tcb/ack.rs` feeds them ACKs and
//! `tcb/timers.rs` fires their timers (one timer serves RACK, TLP and the
//! RTO, RFC 8985 §8).

use std::collections::VecDeque;

use super::sack::Scoreboard;
use crate::time::{Duration, Instant};
use crate::wire::seq::SeqNum;

/// RFC 8985 §5.2's per-segment variables, for a run of bytes that share
/// them: sent at the same instant and in the same condition. A burst of
/// segments sent at once is one run; a run is split where an ACK or a
/// retransmission treats its parts differently.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Segment.end_seq: one past the run's last byte. It starts where the
    /// run before it ends.
    pub end: SeqNum,
    /// Segment.xmit_ts: when it was last sent.
    pub xmit_ts: Instant,
    /// Which burst (`SentLog::new_burst`) sent it last: of two sendings
    /// at the same instant, the later burst's went after.
    pub burst: u64,
    /// Segment.retransmitted: it was sent more than once, so an ACK of it
    /// may be the ACK of either copy.
    pub retransmitted: bool,
    /// Segment.lost: presumed lost (by RACK, or by fast retransmit or a
    /// timeout without SACK).
    pub lost: bool,
    /// A copy sent again is in the network, not known lost (Linux's
    /// "retrans_out"): a lost run waits to be resent while this is false.
    pub resent: bool,
}

impl Sent {
    /// Presumed lost, or resent: not simply in flight once.
    fn marked(&self) -> bool {
        self.lost || self.resent
    }

    /// Presume it lost: the original, and any copy resent.
    fn mark_lost(&mut self) {
        self.lost = true;
        self.resent = false;
    }

    /// Same time, same condition: two neighbours that can be one run.
    fn alike(&self, other: &Sent) -> bool {
        (self.xmit_ts, self.burst, self.retransmitted, self.lost, self.resent)
            == (other.xmit_ts, other.burst, other.retransmitted, other.lost, other.resent)
    }
}

/// Every byte between SND.UNA and SND.NXT, in runs, with when it was sent
/// and what became of it: what RFC 6675's scoreboard does not know.
///
/// Bounded: at `limit` runs no new data is sent (`is_full`) until ACKs free
/// some; splitting by retransmissions and loss marks may need more, and
/// then neighbours merge, the merged run taking the later time and the
/// milder condition, which can only delay a loss verdict.
#[derive(Clone, Debug)]
pub struct SentLog {
    /// The first sequence number logged: SND.UNA once anything was sent.
    start: SeqNum,
    runs: VecDeque<Sent>,
    limit: usize,
    /// How many runs are `marked`: while none is, the log is just the
    /// flight in the order sent, and the questions below are answered
    /// without walking it.
    marked: usize,
    /// The burst now sending (`new_burst`).
    burst: u64,
}

impl SentLog {
    pub fn new(start: SeqNum, limit: usize) -> SentLog {
        SentLog { start, runs: VecDeque::new(), limit: limit.max(2), marked: 0, burst: 0 }
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// A new log takes the allocation of a closed connection's log,
    /// emptied by `clear` (`Tcb::adopt`); one that has logged something
    /// already keeps its own.
    pub fn adopt(&mut self, old: SentLog) {
        debug_assert!(old.runs.is_empty(), "adopting a log not cleared");
        if self.runs.capacity() == 0 {
            self.runs = old.runs;
        }
    }

    /// Forget every run (the connection is gone).
    pub fn clear(&mut self) {
        self.runs.clear();
        self.shrink_if_idle();
    }

    /// An idle connection holds little: the room for a few runs stays.
    fn shrink_if_idle(&mut self) {
        if self.allocated() > 4096 {
            self.runs = VecDeque::new();
        }
    }

    /// Bytes of memory the log holds.
    pub fn allocated(&self) -> usize {
        self.runs.capacity() * std::mem::size_of::<Sent>()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// No room for a run of new data.
    pub fn is_full(&self) -> bool {
        self.runs.len() >= self.limit
    }

    fn end(&self) -> SeqNum {
        self.runs.back().map_or(self.start, |r| r.end)
    }

    fn run_start(&self, i: usize) -> SeqNum {
        if i == 0 {
            self.start
        } else {
            self.runs[i - 1].end
        }
    }

    /// The runs, each with its first sequence number.
    pub fn runs(&self) -> impl Iterator<Item = (SeqNum, &Sent)> + '_ {
        let mut start = self.start;
        self.runs.iter().map(move |run| (std::mem::replace(&mut start, run.end), run))
    }

    /// The segments sent from now on leave in a new burst: one event's
    /// sending. RACK orders sendings by time, and those of one instant in
    /// a burst by sequence number (RFC 8985 §6.2 step 2, RACK_sent_after,
    /// for segments that share a timestamp). Across bursts that order does
    /// not hold: a retransmission sent at the instant an earlier burst
    /// sent the segments above it went after them, and their SACK says
    /// nothing of its fate.
    pub fn new_burst(&mut self) {
        self.burst += 1;
    }

    /// Segments from `seq` up to `end` left at `now` (RFC 8985 §6.1): new
    /// data is logged; data sent before gets the new time and is marked
    /// retransmitted, its copy in flight.
    pub fn sent(&mut self, seq: SeqNum, end: SeqNum, now: Instant) {
        if self.runs.is_empty() {
            self.start = seq;
        }
        let old_end = self.end();
        if seq >= old_end && self.runs.len() < self.limit {
            self.append(end, now); // new data, said quickly
            return;
        }
        let burst = self.burst;
        self.update(seq, end, |run| {
            run.xmit_ts = now;
            run.burst = burst;
            run.retransmitted = true;
            run.resent = true;
        });
        if end > old_end {
            self.append(end, now);
        }
        self.squeeze();
    }

    /// New data up to `end` left at `now`: a run of its own, or the last
    /// run longer if that left in the same burst.
    fn append(&mut self, end: SeqNum, now: Instant) {
        let new = Sent { end, xmit_ts: now, burst: self.burst, retransmitted: false, lost: false, resent: false };
        match self.runs.back_mut() {
            Some(last) if last.alike(&new) => last.end = end,
            _ => self.runs.push_back(new),
        }
    }

    /// Presume `[from, to)` lost: the original, and any copy resent.
    pub fn mark_lost(&mut self, from: SeqNum, to: SeqNum) {
        self.update(from, to, Sent::mark_lost);
        self.squeeze();
    }

    /// The cumulative ACK reached `ack`: forget what lies below it, telling
    /// `delivered` of each run's part newly acknowledged (start, end, run).
    pub fn acked(&mut self, ack: SeqNum, delivered: &mut dyn FnMut(SeqNum, SeqNum, &Sent)) {
        while let Some(&first) = self.runs.front() {
            if ack <= self.start {
                return;
            }
            delivered(self.start, first.end.min(ack), &first);
            if first.end > ack {
                self.start = ack;
                return;
            }
            self.start = first.end;
            self.marked -= usize::from(first.marked());
            self.runs.pop_front();
        }
        self.start = self.start.max(ack);
        self.shrink_if_idle();
    }

    /// The runs `[from, to)` overlaps, each with the end of its part in it.
    pub fn pieces(&self, from: SeqNum, to: SeqNum, f: &mut dyn FnMut(SeqNum, &Sent)) {
        let mut i = self.runs.partition_point(|r| r.end <= from);
        while i < self.runs.len() && self.run_start(i) < to {
            f(self.runs[i].end.min(to), &self.runs[i]);
            i += 1;
        }
    }

    /// The first unSACKed bytes presumed lost and not resent yet (RFC
    /// 6675's NextSeg() rule 1): where they start and where the run ends.
    pub fn first_lost(&self, sack: &Scoreboard) -> Option<(SeqNum, SeqNum)> {
        if self.marked == 0 {
            return None;
        }
        self.runs()
            .filter(|(_, run)| run.lost && !run.resent)
            .find_map(|(start, run)| sack.next_unsacked(start, run.end))
    }

    /// RFC 6675's SetPipe(): the bytes in the network. Each unSACKed byte
    /// counts once unless it is lost, and once more if a copy resent is in
    /// flight. Without SACK and without loss it is SND.NXT − SND.UNA.
    pub fn pipe(&self, sack: &Scoreboard) -> usize {
        if self.marked == 0 && sack.is_empty() {
            return self.end() - self.start; // the common case, said quickly
        }
        self.runs()
            .map(|(start, run)| {
                let copies = usize::from(!run.lost) + usize::from(run.resent);
                if copies == 0 {
                    return 0;
                }
                let sacked = if sack.is_empty() { 0 } else { sack.sacked_between(start, run.end) };
                copies * ((run.end - start) - sacked)
            })
            .sum()
    }

    /// The index of the run that starts at `at`, splitting the run that
    /// holds it; `at` within the log.
    fn split(&mut self, at: SeqNum) -> usize {
        let i = self.runs.partition_point(|r| r.end <= at);
        if i < self.runs.len() && self.run_start(i) < at {
            let left = Sent { end: at, ..self.runs[i] };
            self.marked += usize::from(left.marked());
            self.runs.insert(i, left);
            return i + 1;
        }
        i
    }

    /// Apply `f` to the runs in `[from, to)`, splitting at the edges; the
    /// neighbours left alike merge again.
    fn update(&mut self, from: SeqNum, to: SeqNum, f: impl Fn(&mut Sent)) {
        let (from, to) = (from.max(self.start), to.min(self.end()));
        if from >= to {
            return;
        }
        let first = self.split(from);
        let last = self.split(to);
        for i in first..last {
            self.change(i, &f);
        }
        self.merge(first.saturating_sub(1), (last + 1).min(self.runs.len()));
    }

    /// Apply `f` to run `i`, keeping count of the marked ones.
    fn change(&mut self, i: usize, f: impl Fn(&mut Sent)) {
        let run = &mut self.runs[i];
        let before = run.marked();
        f(run);
        self.marked = self.marked + usize::from(run.marked()) - usize::from(before);
    }

    /// Merge the neighbours alike within `runs[from..to]`.
    fn merge(&mut self, from: usize, to: usize) {
        for i in (from + 1..to).rev() {
            if self.runs[i - 1].alike(&self.runs[i]) {
                self.runs[i - 1].end = self.runs[i].end;
                self.marked -= usize::from(self.runs[i].marked());
                self.runs.remove(i);
            }
        }
    }

    /// Keep within the limit: merge neighbours, alike ones first; a merged
    /// run is lost only if both were, and takes the later time.
    fn squeeze(&mut self) {
        if self.runs.len() <= self.limit {
            return;
        }
        self.merge(0, self.runs.len());
        while self.runs.len() > self.limit {
            let b = self.runs.remove(1).expect("limit is at least 2");
            let a = &mut self.runs[0];
            let (xmit_ts, burst) = (a.xmit_ts, a.burst).max((b.xmit_ts, b.burst));
            *a = Sent {
                end: b.end,
                xmit_ts,
                burst,
                retransmitted: a.retransmitted || b.retransmitted,
                lost: a.lost && b.lost,
                resent: a.resent || b.resent,
            };
        }
        self.marked = self.runs.iter().filter(|run| run.marked()).count();
    }

    /// Split the log so that no run straddles `at`.
    fn split_at(&mut self, at: SeqNum) {
        if self.start < at && at < self.end() {
            self.split(at);
        }
    }
}

/// Recoveries without a D-SACK before a widened reordering window narrows
/// back (RFC 8985 §6.2 step 4).
const REO_WND_PERSIST: u32 = 16;

/// RFC 8985 §5.3's per-connection RACK variables.
#[derive(Clone, Debug)]
pub struct Rack {
    /// RACK.xmit_ts (with its burst) and RACK.end_seq: the most recently
    /// sent segment known delivered, `None` before any.
    latest: Option<(Instant, u64, SeqNum)>,
    /// RACK.rtt: the round trip of the segment last delivered.
    rtt: Duration,
    /// RACK.min_RTT: the least round trip seen.
    min_rtt: Option<Duration>,
    /// RACK.fack: the highest sequence number known delivered.
    fack: SeqNum,
    /// RACK.reordering_seen: a segment arrived after one sent later.
    reordering_seen: bool,
    /// RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round: D-SACKs
    /// widen the window for 16 recoveries.
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<SeqNum>,
    /// The last ACK delivered something new: loss detection has news.
    advanced: bool,
}

/// Was segment 1, sent at `t1` in burst `b1`, sent after segment 2 (RFC
/// 8985 §6.2 step 2, RACK_sent_after)? At the same instant, the one of the
/// later burst was; in the same burst, the higher one.
fn sent_after(t1: Instant, b1: u64, end1: SeqNum, t2: Instant, b2: u64, end2: SeqNum) -> bool {
    (t1, b1) > (t2, b2) || ((t1, b1) == (t2, b2) && end1 > end2)
}

impl Rack {
    pub fn new(iss: SeqNum) -> Rack {
        Rack {
            latest: None,
            rtt: Duration::ZERO,
            min_rtt: None,
            fack: iss,
            reordering_seen: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: REO_WND_PERSIST,
            dsack_round: None,
            advanced: false,
        }
    }

    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// §6.2 step 1: an RTT sample (RFC 6298's) updates RACK.min_RTT.
    pub fn rtt_sample(&mut self, r: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
    }

    /// §6.2 steps 2 and 3, for a run's part newly acknowledged or SACKed,
    /// ending at `end`.
    pub fn delivered(&mut self, now: Instant, end: SeqNum, run: &Sent) {
        // Step 3: delivered below what was delivered before, and sent only
        // once: the network reordered it.
        if end > self.fack {
            self.fack = end;
        } else if end < self.fack && !run.retransmitted {
            self.reordering_seen = true;
        }
        // Step 2: the ACK of a retransmitted run may be that of the first
        // copy; a round trip shorter than the least ever seen says so, and
        // then it tells nothing. (The RFC also trusts a timestamp echo older
        // than the resend to say so; but a receiver echoes the last segment
        // that arrived in order (RFC 7323 §4.3), so the SACK of a resend
        // that arrived out of order, a loss probe's, always echoes older.)
        let rtt = now - run.xmit_ts;
        if run.retransmitted && self.min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        if !run.retransmitted {
            self.rtt_sample(rtt); // step 1 too, to the microsecond
        }
        self.rtt = rtt;
        self.advanced = true;
        if self.latest.is_none_or(|(t, b, e)| sent_after(run.xmit_ts, run.burst, end, t, b, e)) {
            self.latest = Some((run.xmit_ts, run.burst, end));
        }
    }

    /// Whether an ACK since the last call delivered something.
    pub fn take_advanced(&mut self) -> bool {
        std::mem::take(&mut self.advanced)
    }

    /// §6.2 step 4, what each ACK changes: a D-SACK (a spurious resend:
    /// the reordering was longer than the window) widens the window by
    /// min_RTT/4 once per round trip; after 16 recoveries without one it
    /// narrows back.
    pub fn on_ack(&mut self, dsack: bool, snd_una: SeqNum, snd_nxt: SeqNum, recovery_ended: bool) {
        if self.dsack_round.is_some_and(|round| snd_una >= round) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && dsack {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult += 1;
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if recovery_ended {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// §6.2 step 4: RACK.reo_wnd, how long a segment may trail one sent
    /// after it before it is lost. Until reordering is seen, none in
    /// recovery or once DupThresh segments are SACKed (as RFC 6675 would
    /// call the hole lost then); otherwise min_RTT/4, widened by D-SACKs,
    /// at most SRTT.
    pub fn reo_wnd(&self, recovering: bool, dup_thresh_sacked: bool, srtt: Option<Duration>) -> Duration {
        if !self.reordering_seen && (recovering || dup_thresh_sacked) {
            return Duration::ZERO;
        }
        let wnd = self.min_rtt.unwrap_or(Duration::ZERO) / 4 * self.reo_wnd_mult;
        srtt.map_or(wnd, |srtt| wnd.min(srtt))
    }

    /// §6.2 step 5 (RACK_detect_loss): every run sent before the latest
    /// delivered one, not SACKed, whose time is up (sent more than RACK.rtt
    /// plus `reo_wnd` ago), is lost; a run already lost and waiting to be
    /// resent is passed over. Returns the segments newly marked lost (of
    /// `mss` bytes), and how long until the next run's time is up, if one
    /// is waiting.
    pub fn detect_loss(
        &self,
        now: Instant,
        reo_wnd: Duration,
        log: &mut SentLog,
        sack: &Scoreboard,
        mss: usize,
    ) -> (usize, Option<Duration>) {
        let Some((xmit_ts, burst, end_seq)) = self.latest else {
            return (0, None);
        };
        // Sent in the same burst, the bytes below RACK.end_seq went first;
        // split there, a run lies wholly below or above it.
        log.split_at(end_seq);
        // With nothing marked, the runs are first sendings in the order
        // sent: past the first one sent after RACK's, none is before it.
        let in_order = log.marked == 0;
        let (mut lost, mut timeout) = (0, None);
        for i in 0..log.runs.len() {
            let (run_start, run) = (log.run_start(i), log.runs[i]);
            let sent_before = sent_after(xmit_ts, burst, end_seq, run.xmit_ts, run.burst, run_start);
            if !sent_before && in_order {
                break;
            }
            if (run.lost && !run.resent) || !sent_before {
                continue;
            }
            let unsacked = (run.end - run_start) - sack.sacked_between(run_start, run.end);
            if unsacked == 0 {
                continue;
            }
            let due = run.xmit_ts + self.rtt + reo_wnd;
            if due <= now {
                log.change(i, Sent::mark_lost);
                lost += unsacked.div_ceil(mss.max(1));
            } else {
                timeout = timeout.max(Some(due - now));
            }
        }
        log.merge(0, log.runs.len());
        (lost, timeout)
    }

    /// §6.3 (RACK_mark_losses_on_RTO): at a retransmission timeout the
    /// first segment is lost, and every other whose time is up; the rest
    /// may still arrive.
    pub fn mark_losses_on_rto(&self, now: Instant, reo_wnd: Duration, log: &mut SentLog) {
        for i in 0..log.runs.len() {
            if i == 0 || log.runs[i].xmit_ts + self.rtt + reo_wnd <= now {
                log.change(i, Sent::mark_lost);
            }
        }
        log.merge(0, log.runs.len());
    }
}

/// WCDelAckT (RFC 8985 §7.2): the longest a receiver may delay an ACK, for
/// a probe timeout when only one segment is in flight and its ACK may be
/// delayed.
pub const WC_DEL_ACK_T: Duration = Duration::from_millis(200);

/// The least probe timeout, as Linux's (two ticks): a round trip of
/// microseconds, on loopback, would otherwise make every pause a probe.
pub const MIN_PTO: Duration = Duration::from_millis(2);

/// RFC 8985 §7's TLP state: one probe per episode.
#[derive(Clone, Debug, Default)]
pub struct Tlp {
    /// TLP.end_seq: SND.NXT after the probe of the episode under way.
    end_seq: Option<SeqNum>,
    /// TLP.is_retrans: that probe sent data again rather than new data.
    is_retrans: bool,
}

impl Tlp {
    /// A probe was sent and no ACK has told yet what became of it.
    pub fn in_episode(&self) -> bool {
        self.end_seq.is_some()
    }

    /// §7.2: the probe timeout, PTO = 2·SRTT (at least `MIN_PTO`), plus
    /// WCDelAckT when the one segment in flight may have its ACK delayed;
    /// never past the RTO.
    pub fn pto(srtt: Option<Duration>, one_segment: bool, rto: Duration) -> Duration {
        let Some(srtt) = srtt else { return rto };
        let pto = (2 * srtt).max(MIN_PTO);
        let pto = if one_segment { pto + WC_DEL_ACK_T } else { pto };
        pto.min(rto)
    }

    /// §7.3: a probe left; SND.NXT is `snd_nxt` after it.
    pub fn sent(&mut self, snd_nxt: SeqNum, is_retrans: bool) {
        self.end_seq = Some(snd_nxt);
        self.is_retrans = is_retrans;
    }

    /// Fast recovery or a timeout began: it responds to any loss the
    /// probe would have shown, so the episode is over.
    pub fn end_episode(&mut self) {
        self.end_seq = None;
    }

    /// §7.4.2 (TLP_process_ack): did the probe repair a loss? An ACK
    /// beyond the probe, with no D-SACK saying the probe was a duplicate,
    /// means the probe's copy was the one that arrived: the original was
    /// lost, a congestion signal. An ACK of exactly the probe is ambiguous
    /// until a D-SACK comes, or a duplicate ACK without SACK blocks (the
    /// receiver got it twice, RFC 8985's "case 2").
    pub fn on_ack(&mut self, ack: SeqNum, dsack: Option<(SeqNum, SeqNum)>, plain_dup_ack: bool) -> bool {
        let Some(end_seq) = self.end_seq.filter(|&end| ack >= end) else {
            return false;
        };
        let repaired = self.is_retrans && ack > end_seq && dsack.is_none_or(|(_, right)| right != end_seq);
        if !self.is_retrans || repaired || dsack.is_some_and(|(_, right)| right == end_seq) || plain_dup_ack {
            self.end_seq = None;
        }
        repaired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn runs(log: &SentLog) -> Vec<(u32, u32, u64, bool, bool)> {
        assert_eq!(log.marked, log.runs().filter(|(_, r)| r.marked()).count(), "marked runs counted");
        log.runs().map(|(s, r)| (s.0, r.end.0, r.xmit_ts.total_millis(), r.lost, r.resent)).collect()
    }

    #[test]
    fn the_log_keeps_runs_split_and_merged() {
        let mut log = SentLog::new(SeqNum(0), 64);
        // A burst at one instant is one run.
        log.sent(SeqNum(0), SeqNum(100), at(1));
        log.sent(SeqNum(100), SeqNum(200), at(1));
        log.sent(SeqNum(200), SeqNum(300), at(2));
        assert_eq!(runs(&log), [(0, 200, 1, false, false), (200, 300, 2, false, false)]);
        // A retransmission splits its run.
        log.mark_lost(SeqNum(50), SeqNum(150));
        assert_eq!(log.first_lost(&Scoreboard::default()), Some((SeqNum(50), SeqNum(150))));
        log.sent(SeqNum(50), SeqNum(100), at(3));
        assert_eq!(
            runs(&log),
            [
                (0, 50, 1, false, false),
                (50, 100, 3, true, true),
                (100, 150, 1, true, false),
                (150, 200, 1, false, false),
                (200, 300, 2, false, false)
            ]
        );
        // pipe: 50 + 50 (lost, resent) + 0 (lost) + 50 + 100.
        assert_eq!(log.pipe(&Scoreboard::default()), 250);
        let mut delivered = Vec::new();
        log.acked(SeqNum(120), &mut |s, e, r| delivered.push((s.0, e.0, r.retransmitted)));
        assert_eq!(delivered, [(0, 50, false), (50, 100, true), (100, 120, false)]);
        assert_eq!(runs(&log)[0], (120, 150, 1, true, false));
        log.acked(SeqNum(300), &mut |_, _, _| {});
        assert!(log.is_empty());
    }

    #[test]
    fn the_log_is_bounded() {
        let mut log = SentLog::new(SeqNum(0), 4);
        for i in 0..4u32 {
            log.sent(SeqNum(i * 10), SeqNum(i * 10 + 10), at(u64::from(i)));
        }
        assert!(log.is_full());
        // Retransmissions split runs; neighbours merge to stay in bounds.
        log.mark_lost(SeqNum(5), SeqNum(15));
        log.sent(SeqNum(5), SeqNum(8), at(10));
        assert_eq!((log.len(), log.start, log.end()), (4, SeqNum(0), SeqNum(40)));
    }

    /// Segments 0..10 of 100 bytes, one per millisecond; RTT 10 ms.
    fn flight() -> (SentLog, Rack) {
        let mut log = SentLog::new(SeqNum(0), 64);
        for i in 0..10u32 {
            log.sent(SeqNum(i * 100), SeqNum(i * 100 + 100), at(u64::from(i)));
        }
        let mut rack = Rack::new(SeqNum(0));
        rack.rtt_sample(Duration::from_millis(10));
        (log, rack)
    }

    fn sack_of(blocks: &[(u32, u32)], una: u32, nxt: u32) -> Scoreboard {
        let mut s = Scoreboard::default();
        let mut option = [None; 4];
        for (slot, &(l, r)) in option.iter_mut().zip(blocks) {
            *slot = Some((SeqNum(l), SeqNum(r)));
        }
        s.update(&option, SeqNum(una), SeqNum(una), SeqNum(nxt), 8, &mut |_, _| {});
        s
    }

    #[test]
    fn rack_marks_what_was_sent_before_a_delivered_segment_once_the_window_passes() {
        let (mut log, mut rack) = flight();
        // Segment 3 (sent at 3 ms) SACKed at 13 ms: 0..3 were sent before.
        let sack = sack_of(&[(300, 400)], 0, 1000);
        log.pieces(SeqNum(300), SeqNum(400), &mut |end, run| rack.delivered(at(13), end, run));
        let reo_wnd = rack.reo_wnd(false, false, Some(Duration::from_millis(10)));
        assert_eq!(reo_wnd, Duration::from_micros(2500), "min_RTT / 4");
        // Segment 0 is due at 0 + 10 + 2.5 ms; 2 at 14.5 ms.
        let (lost, timeout) = rack.detect_loss(at(13), reo_wnd, &mut log, &sack, 100);
        assert_eq!((lost, timeout), (1, Some(Duration::from_micros(1500))));
        let (lost, timeout) = rack.detect_loss(at(15), reo_wnd, &mut log, &sack, 100);
        assert_eq!((lost, timeout), (2, None));
        assert_eq!(log.first_lost(&sack), Some((SeqNum(0), SeqNum(100))));
        let lost: Vec<bool> = log.runs().map(|(_, r)| r.lost).collect();
        assert_eq!(lost, [true, true, true, false, false, false, false, false, false, false]);
        assert!(!rack.reordering_seen());
    }

    #[test]
    fn a_lost_retransmission_is_lost_again() {
        let (mut log, mut rack) = flight();
        let sack = sack_of(&[(100, 1000)], 0, 1000);
        log.pieces(SeqNum(100), SeqNum(1000), &mut |end, run| rack.delivered(at(19), end, run));
        rack.detect_loss(at(19), Duration::ZERO, &mut log, &sack, 100);
        assert_eq!(log.first_lost(&sack), Some((SeqNum(0), SeqNum(100))));
        log.sent(SeqNum(0), SeqNum(100), at(20));
        log.sent(SeqNum(1000), SeqNum(1100), at(21));
        assert_eq!(log.first_lost(&sack), None);
        // New data sent after the resend arrives; the resend does not.
        let sack = sack_of(&[(100, 1100)], 0, 1100);
        log.pieces(SeqNum(1000), SeqNum(1100), &mut |end, run| rack.delivered(at(31), end, run));
        let (lost, _) = rack.detect_loss(at(31), Duration::ZERO, &mut log, &sack, 100);
        assert_eq!(lost, 1);
        assert_eq!(log.first_lost(&sack), Some((SeqNum(0), SeqNum(100))));
    }

    #[test]
    fn reordering_is_seen_and_widens_nothing_until_then() {
        let (log, mut rack) = flight();
        log.pieces(SeqNum(300), SeqNum(400), &mut |end, run| rack.delivered(at(13), end, run));
        assert_eq!(rack.reo_wnd(true, false, None), Duration::ZERO, "in recovery, no reordering yet");
        // Segment 1, sent once, arrives below RACK.fack: reordering.
        log.pieces(SeqNum(100), SeqNum(200), &mut |end, run| rack.delivered(at(14), end, run));
        assert!(rack.reordering_seen());
        assert_eq!(rack.reo_wnd(true, true, None), Duration::from_micros(2500));
        // A D-SACK widens it by a quarter min_RTT, once per round trip.
        rack.on_ack(true, SeqNum(0), SeqNum(1000), false);
        rack.on_ack(true, SeqNum(0), SeqNum(1000), false);
        assert_eq!(rack.reo_wnd(false, false, None), Duration::from_millis(5));
        assert_eq!(rack.reo_wnd(false, false, Some(Duration::from_millis(4))), Duration::from_millis(4), "≤ SRTT");
        for _ in 0..REO_WND_PERSIST {
            rack.on_ack(false, SeqNum(1000), SeqNum(1000), true);
        }
        assert_eq!(rack.reo_wnd(false, false, None), Duration::from_micros(2500));
    }

    #[test]
    fn an_ambiguous_ack_of_a_retransmission_is_not_a_sample() {
        let (mut log, mut rack) = flight();
        log.mark_lost(SeqNum(0), SeqNum(100));
        log.sent(SeqNum(0), SeqNum(100), at(12));
        // ACKed 1 ms after the resend: faster than min_RTT, so the first copy.
        log.acked(SeqNum(100), &mut |_, end, run| rack.delivered(at(13), end, run));
        assert!(!rack.take_advanced());
        log.acked(SeqNum(200), &mut |_, end, run| rack.delivered(at(13), end, run));
        assert!(rack.take_advanced());
    }

    #[test]
    fn rto_marks_the_first_segment_and_those_whose_time_is_up() {
        let (mut log, mut rack) = flight();
        rack.rtt_sample(Duration::from_millis(10));
        log.pieces(SeqNum(0), SeqNum(100), &mut |end, run| rack.delivered(at(10), end, run));
        log.acked(SeqNum(100), &mut |_, _, _| {});
        // RACK.rtt 10 ms: at 15 ms segments sent up to 5 ms are lost, and
        // the first whatever its time.
        rack.mark_losses_on_rto(at(15), Duration::ZERO, &mut log);
        let lost: Vec<bool> = log.runs().map(|(_, r)| r.lost).collect();
        assert_eq!(lost, [true, true, true, true, true, false, false, false, false]);
        rack.mark_losses_on_rto(at(1), Duration::ZERO, &mut log);
        assert_eq!(runs(&log)[5], (600, 700, 6, false, false), "only the first whatever its time");
    }

    #[test]
    fn tlp_episodes() {
        // Pto: 2·SRTT, with room for a delayed ACK when one segment is out.
        let srtt = Some(Duration::from_millis(10));
        let rto = Duration::from_millis(300);
        assert_eq!(Tlp::pto(srtt, false, rto), Duration::from_millis(20));
        assert_eq!(Tlp::pto(srtt, true, rto), Duration::from_millis(220));
        assert_eq!(Tlp::pto(srtt, true, Duration::from_millis(200)), Duration::from_millis(200));
        assert_eq!(Tlp::pto(Some(Duration::from_micros(20)), false, rto), MIN_PTO);
        // A probe of new data: delivered, the episode ends, nothing repaired.
        let mut tlp = Tlp::default();
        tlp.sent(SeqNum(1000), false);
        assert!(!tlp.on_ack(SeqNum(900), None, false) && tlp.in_episode());
        assert!(!tlp.on_ack(SeqNum(1000), None, false) && !tlp.in_episode());
        // A resend, then an ACK beyond it without D-SACK: it repaired a loss.
        tlp.sent(SeqNum(1000), true);
        assert!(!tlp.on_ack(SeqNum(1000), None, false) && tlp.in_episode(), "ambiguous");
        assert!(tlp.on_ack(SeqNum(1500), None, false) && !tlp.in_episode());
        // A D-SACK of the probe: the original had arrived.
        tlp.sent(SeqNum(1000), true);
        assert!(!tlp.on_ack(SeqNum(1000), Some((SeqNum(900), SeqNum(1000))), false) && !tlp.in_episode());
    }
}
