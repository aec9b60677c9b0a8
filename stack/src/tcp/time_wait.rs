//! TIME-WAIT (RFC 9293 §3.4.2, §3.6): the side that closed first keeps the
//! connection's 4-tuple for 2·MSL after the last ACK, so that a late
//! retransmitted FIN is answered, and so a segment of the old connection
//! cannot be taken for one of a new connection on the same ports.
//!
//! ```text
//!   server                                    client
//!   FIN-WAIT-1  --- FIN ------------------->  CLOSE-WAIT
//!   FIN-WAIT-2  <-- ACK --------------------
//!               <-- FIN -------------------   LAST-ACK
//!   TIME-WAIT   --- ACK ------------------->  CLOSED
//!       |   (the ACK is lost? the client resends its FIN;
//!       |    TIME-WAIT answers it again and restarts the clock)
//!       |  2·MSL
//!       v
//!   CLOSED: the entry is deleted
//! ```
//! A busy server holds many of these, so an entry keeps no buffers and no
//! TCB: the sequence numbers needed to answer, the window and the deadline.

use std::collections::{BTreeSet, HashMap};

use ahash::RandomState;

use super::seq::SeqNum;
use crate::time::Instant;
use crate::wire::tcp::{Flags, TcpRepr};
use crate::FourTuple;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    pub window: u16,
    pub expires: Instant,
}

/// What to do with a segment that arrived for a TIME-WAIT 4-tuple.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ignore,
    /// Answer with this ACK.
    Ack(TcpRepr),
    /// A new SYN from the same peer and port: the entry is gone; treat the
    /// SYN as a new connection attempt whose ISS must exceed `snd_nxt`.
    Reopen {
        snd_nxt: SeqNum,
    },
}

#[derive(Debug, Default)]
pub struct TimeWaitTable {
    entries: HashMap<FourTuple, Entry, RandomState>,
    /// The same entries ordered by deadline, so expiry never scans.
    deadlines: BTreeSet<(Instant, FourTuple)>,
}

impl TimeWaitTable {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, tuple: &FourTuple) -> bool {
        self.entries.contains_key(tuple)
    }

    pub fn get(&self, tuple: &FourTuple) -> Option<&Entry> {
        self.entries.get(tuple)
    }

    pub fn insert(&mut self, tuple: FourTuple, entry: Entry) {
        if let Some(old) = self.entries.insert(tuple, entry) {
            self.deadlines.remove(&(old.expires, tuple));
        }
        self.deadlines.insert((entry.expires, tuple));
    }

    fn remove(&mut self, tuple: &FourTuple) -> Option<Entry> {
        let entry = self.entries.remove(tuple)?;
        self.deadlines.remove(&(entry.expires, *tuple));
        Some(entry)
    }

    /// The earliest deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(t, _)| t)
    }

    /// Delete the entries whose 2·MSL has passed; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(&(t, tuple)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            self.entries.remove(&tuple);
            n += 1;
        }
        n
    }

    /// A segment arrived for a 4-tuple in TIME-WAIT (§3.10.7.4).
    pub fn on_segment(
        &mut self,
        now: Instant,
        two_msl: crate::time::Duration,
        tuple: FourTuple,
        repr: &TcpRepr,
    ) -> Verdict {
        let Some(&entry) = self.entries.get(&tuple) else { return Verdict::Ignore };
        let flags = repr.flags;
        // RFC 1337: an RST must not end TIME-WAIT early ("TIME-WAIT
        // assassination"), or an old duplicate could reach a new connection.
        if flags.contains(Flags::RST) {
            return Verdict::Ignore;
        }
        // RFC 9293 §3.10.7.4 "fourth" with MAY-2 of §3.6.1: a SYN above the
        // old RCV.NXT may open a new incarnation at once. Under load the
        // client's ephemeral ports wrap within seconds; Linux allows this too.
        if flags.contains(Flags::SYN) && !flags.contains(Flags::ACK) {
            if repr.seq_number > entry.rcv_nxt {
                self.remove(&tuple);
                return Verdict::Reopen { snd_nxt: entry.snd_nxt };
            }
            return Verdict::Ack(ack(&tuple, &entry));
        }
        // "The only thing that can arrive in this state is a retransmission
        // of the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
        if flags.contains(Flags::FIN) {
            self.insert(tuple, Entry { expires: now + two_msl, ..entry });
            return Verdict::Ack(ack(&tuple, &entry));
        }
        // Anything else carrying sequence space is not acceptable: ACK it.
        if repr.seq_number != entry.rcv_nxt {
            return Verdict::Ack(ack(&tuple, &entry));
        }
        Verdict::Ignore
    }
}

/// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
pub fn ack(tuple: &FourTuple, e: &Entry) -> TcpRepr {
    TcpRepr {
        src_port: tuple.local.port(),
        dst_port: tuple.remote.port(),
        seq_number: e.snd_nxt,
        ack_number: e.rcv_nxt,
        flags: Flags::ACK,
        window_len: e.window,
        ..TcpRepr::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn tuple(port: u16) -> FourTuple {
        FourTuple { local: "10.0.0.2:80".parse().unwrap(), remote: format!("10.0.0.1:{port}").parse().unwrap() }
    }

    fn seg(seq: u32, flags: Flags) -> TcpRepr {
        TcpRepr { src_port: 40000, dst_port: 80, seq_number: SeqNum(seq), flags, ..TcpRepr::default() }
    }

    const TWO_MSL: Duration = Duration::from_secs(60);

    fn table() -> TimeWaitTable {
        let mut t = TimeWaitTable::default();
        let e = Entry { snd_nxt: SeqNum(500), rcv_nxt: SeqNum(1000), window: 100, expires: Instant::from_secs(60) };
        t.insert(tuple(40000), e);
        t
    }

    #[test]
    fn expires_after_exactly_two_msl() {
        let mut t = table();
        assert_eq!(t.expire(Instant::from_secs(60) - Duration::from_micros(1)), 0);
        assert_eq!(t.poll_at(), Some(Instant::from_secs(60)));
        assert_eq!(t.expire(Instant::from_secs(60)), 1);
        assert!(t.is_empty() && t.poll_at().is_none());
    }

    #[test]
    fn retransmitted_fin_is_acked_and_restarts_the_clock() {
        let mut t = table();
        let v = t.on_segment(Instant::from_secs(10), TWO_MSL, tuple(40000), &seg(999, Flags::FIN | Flags::ACK));
        let Verdict::Ack(a) = v else { panic!("{v:?}") };
        assert_eq!((a.seq_number, a.ack_number, a.flags), (SeqNum(500), SeqNum(1000), Flags::ACK));
        assert_eq!(t.poll_at(), Some(Instant::from_secs(70)));
        assert_eq!(t.expire(Instant::from_secs(69)), 0);
    }

    #[test]
    fn rst_does_not_end_time_wait() {
        let mut t = table();
        assert_eq!(t.on_segment(Instant::ZERO, TWO_MSL, tuple(40000), &seg(1000, Flags::RST)), Verdict::Ignore);
        assert!(t.contains(&tuple(40000)));
    }

    #[test]
    fn new_syn_above_rcv_nxt_reopens_and_old_one_is_acked() {
        let mut t = table();
        assert!(matches!(t.on_segment(Instant::ZERO, TWO_MSL, tuple(40000), &seg(900, Flags::SYN)), Verdict::Ack(_)));
        assert_eq!(
            t.on_segment(Instant::ZERO, TWO_MSL, tuple(40000), &seg(5000, Flags::SYN)),
            Verdict::Reopen { snd_nxt: SeqNum(500) }
        );
        assert!(t.is_empty() && t.poll_at().is_none());
    }
}
