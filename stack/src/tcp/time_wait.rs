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
//! TCB: the sequence numbers needed to answer, the window, the timestamps
//! and the deadline.

use std::collections::{BTreeMap, HashMap};

use ahash::RandomState;

use super::tcb::Segment;
use super::timestamps::{self, older};
use super::FourTuple;
use crate::time::Instant;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpOptions, TcpRepr, Timestamps};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    /// The window field of our ACKs, already scaled.
    pub window: u16,
    /// Set if the connection used timestamps.
    pub ts: Option<EntryTs>,
    pub expires: Instant,
    /// The application still holds the socket (it shut its side down and
    /// has not closed it): the 4-tuple is still its connection's, and no
    /// SYN reopens it (see `on_segment`).
    pub held: bool,
    /// Where its story is in the stack's recently closed table
    /// (`story::Recent`), if it is kept.
    pub story: Option<u32>,
}

/// The timestamps of a connection in TIME-WAIT: its clock offset, for the
/// TSval of our ACKs (RFC 7323 §3.2: every segment), and TS.Recent, to
/// echo and to judge a new SYN by (RFC 6191).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EntryTs {
    pub offset: u32,
    pub recent: u32,
}

/// What to do with a segment that arrived for a TIME-WAIT 4-tuple.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ignore,
    /// Answer with this ACK.
    Ack(TcpRepr),
    /// Answer with this challenge ACK (RFC 5961 §4), if the stack's budget
    /// allows (§7).
    Challenge(TcpRepr),
    /// A new SYN from the same peer and port, which may start a new
    /// incarnation: treat it as a new connection attempt whose ISS must
    /// exceed `snd_nxt`, and `remove` the entry once the connection is
    /// made. If it cannot be (no room; or nobody listens, and the SYN gets
    /// the RST of a closed port), TIME-WAIT goes on (RFC 6191 §2).
    Reopen {
        snd_nxt: SeqNum,
    },
    /// RFC 793's answer to a SYN in the window (RFC 5961 §4 off): this RST,
    /// and the entry is gone.
    Reset(TcpRepr),
}

#[derive(Debug, Default)]
pub struct TimeWaitTable {
    /// Each 4-tuple's entry, and the number it was inserted as.
    entries: HashMap<FourTuple, (Entry, u64), RandomState>,
    /// The same entries ordered by deadline, so expiry never scans. The
    /// insertion number tells equal deadlines apart, and is cheaper to
    /// compare than two socket addresses (an IPv6 one is 16 bytes).
    deadlines: BTreeMap<(Instant, u64), FourTuple>,
    inserted: u64,
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
        self.entries.get(tuple).map(|(entry, _)| entry)
    }

    pub fn insert(&mut self, tuple: FourTuple, entry: Entry) {
        let number = self.inserted;
        self.inserted += 1;
        if let Some((old, old_number)) = self.entries.insert(tuple, (entry, number)) {
            self.deadlines.remove(&(old.expires, old_number));
        }
        self.deadlines.insert((entry.expires, number), tuple);
    }

    pub fn remove(&mut self, tuple: &FourTuple) -> Option<Entry> {
        let (entry, number) = self.entries.remove(tuple)?;
        self.deadlines.remove(&(entry.expires, number));
        Some(entry)
    }

    /// The earliest deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.deadlines.first_key_value().map(|(&(t, _), _)| t)
    }

    /// The application closed the socket of the connection in TIME-WAIT:
    /// from now on a new SYN may reopen its 4-tuple.
    pub fn closed(&mut self, tuple: &FourTuple) {
        if let Some((entry, _)) = self.entries.get_mut(tuple) {
            entry.held = false;
        }
    }

    /// Delete the entries whose 2·MSL has passed, telling `expired` each
    /// one's 4-tuple (for its story); returns how many.
    pub fn expire(&mut self, now: Instant, expired: &mut dyn FnMut(FourTuple, &Entry)) -> usize {
        let mut n = 0;
        while let Some((&(t, _), &tuple)) = self.deadlines.first_key_value() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some((entry, _)) = self.entries.remove(&tuple) {
                expired(tuple, &entry);
            }
            n += 1;
        }
        n
    }

    /// A segment arrived for a 4-tuple in TIME-WAIT (§3.10.7.4).
    /// `timestamps`: whether we offer timestamps to a new connection;
    /// `syn_challenge`: `Config::syn_challenge`.
    pub fn on_segment(
        &mut self,
        now: Instant,
        two_msl: crate::time::Duration,
        tuple: FourTuple,
        seg: Segment,
        timestamps: bool,
        syn_challenge: bool,
    ) -> Verdict {
        let Some(&(entry, _)) = self.entries.get(&tuple) else { return Verdict::Ignore };
        let repr = seg.repr;
        let flags = repr.flags;
        // RFC 1337: an RST must not end TIME-WAIT early ("TIME-WAIT
        // assassination"), or an old duplicate could reach a new connection.
        if flags.contains(Flags::RST) {
            return Verdict::Ignore;
        }
        // Every segment after the SYN carries an ACK (§3.1): one with none
        // of ACK, RST and SYN is no TCP's, and is dropped unanswered, as in
        // every synchronized state (`Tcb::on_segment_other_states`).
        if !flags.intersects(Flags::ACK | Flags::SYN) {
            return Verdict::Ignore;
        }
        // Without RFC 5961 §4, RFC 793's rule comes first: a SYN in the
        // window is an error, and the connection is reset. (The window is
        // the field our ACKs carry: an entry keeps no scale, and reading it
        // short only turns a reset into the ACK below.)
        if flags.contains(Flags::SYN)
            && !syn_challenge
            && repr.seq_number.in_window(entry.rcv_nxt, usize::from(entry.window))
        {
            self.remove(&tuple);
            let ack = ack(now, &tuple, &entry);
            return Verdict::Reset(TcpRepr { flags: Flags::RST | Flags::ACK, window_len: 0, ..ack });
        }
        // A new SYN may open a new incarnation at once (MAY-2 of §3.6.1).
        // Under load the client's ephemeral ports wrap within seconds;
        // Linux allows this too. But not while the application still holds
        // the old connection's socket: the 4-tuple is still that
        // connection's. Any other SYN (an old duplicate, a SYN,ACK) gets a
        // challenge ACK, as in every synchronized state (§3.10.7.4
        // "fourth", RFC 5961 §4).
        if flags.contains(Flags::SYN) {
            if !flags.contains(Flags::ACK) && !entry.held && syn_may_reopen(&entry, repr, timestamps) {
                return Verdict::Reopen { snd_nxt: entry.snd_nxt };
            }
            // Without RFC 5961 §4, a SYN outside the window gets RFC 793's
            // plain ACK, not one counted against the challenge budget.
            let ack = ack(now, &tuple, &entry);
            return if syn_challenge { Verdict::Challenge(ack) } else { Verdict::Ack(ack) };
        }
        // "The only thing that can arrive in this state is a retransmission
        // of the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
        // But the sequence number is checked first, as in every state: that
        // retransmission is the FIN that RCV.NXT acknowledges (SEG.SEQ +
        // SEG.LEN = RCV.NXT). A FIN elsewhere, an old duplicate or a forgery,
        // gets the ACK and leaves the clock alone.
        if flags.contains(Flags::FIN) {
            if repr.seq_number + seg.len() == entry.rcv_nxt {
                self.insert(tuple, Entry { expires: now + two_msl, ..entry });
            }
            return Verdict::Ack(ack(now, &tuple, &entry));
        }
        // Anything else carrying sequence space is not acceptable: ACK it.
        if repr.seq_number != entry.rcv_nxt {
            return Verdict::Ack(ack(now, &tuple, &entry));
        }
        Verdict::Ignore
    }
}

/// RFC 6191 §2: may this SYN start a new incarnation? Its timestamp tells
/// best, if both incarnations have them: newer than the old connection's
/// last. Without timestamps on the new one, its sequence number must lie
/// above the old RCV.NXT (RFC 9293 MAY-2); a new one with timestamps after
/// an old one without may go ahead (the timestamps will protect it).
fn syn_may_reopen(entry: &Entry, syn: &TcpRepr, timestamps: bool) -> bool {
    let seq_above = syn.seq_number > entry.rcv_nxt;
    match (entry.ts, syn.options.timestamps.filter(|_| timestamps)) {
        (Some(old), Some(new)) => older(old.recent, new.tsval) || (old.recent == new.tsval && seq_above),
        (None, Some(_)) => true,
        (_, None) => seq_above,
    }
}

/// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with timestamps if the connection
/// had them.
pub fn ack(now: Instant, tuple: &FourTuple, e: &Entry) -> TcpRepr {
    let ts = e.ts.map(|ts| Timestamps { tsval: timestamps::tsval(now, ts.offset), tsecr: ts.recent });
    TcpRepr {
        src_port: tuple.local.port(),
        dst_port: tuple.remote.port(),
        seq_number: e.snd_nxt,
        ack_number: e.rcv_nxt,
        flags: Flags::ACK,
        window_len: e.window,
        options: TcpOptions { timestamps: ts, ..TcpOptions::default() },
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

    /// `t.on_segment` for a segment without payload.
    fn arrive(t: &mut TimeWaitTable, now: Instant, repr: &TcpRepr, offer_timestamps: bool) -> Verdict {
        t.on_segment(now, TWO_MSL, tuple(40000), Segment { repr, payload: &[] }, offer_timestamps, true)
    }

    const TWO_MSL: Duration = Duration::from_secs(60);

    fn table() -> TimeWaitTable {
        let mut t = TimeWaitTable::default();
        let e = Entry {
            snd_nxt: SeqNum(500),
            rcv_nxt: SeqNum(1000),
            window: 100,
            ts: None,
            expires: Instant::from_secs(60),
            held: false,
            story: None,
        };
        t.insert(tuple(40000), e);
        t
    }

    #[test]
    fn expires_after_exactly_two_msl() {
        let mut t = table();
        assert_eq!(t.expire(Instant::from_secs(60) - Duration::from_micros(1), &mut |_, _| {}), 0);
        assert_eq!(t.poll_at(), Some(Instant::from_secs(60)));
        assert_eq!(t.expire(Instant::from_secs(60), &mut |_, _| {}), 1);
        assert!(t.is_empty() && t.poll_at().is_none());
    }

    #[test]
    fn retransmitted_fin_is_acked_and_restarts_the_clock() {
        let mut t = table();
        let v = arrive(&mut t, Instant::from_secs(10), &seg(999, Flags::FIN | Flags::ACK), true);
        let Verdict::Ack(a) = v else { panic!("{v:?}") };
        assert_eq!((a.seq_number, a.ack_number, a.flags), (SeqNum(500), SeqNum(1000), Flags::ACK));
        assert_eq!(t.poll_at(), Some(Instant::from_secs(70)));
        assert_eq!(t.expire(Instant::from_secs(69), &mut |_, _| {}), 0);
    }

    /// A FIN not at RCV.NXT − 1, before or after, is answered but does not
    /// keep the entry longer.
    #[test]
    fn a_fin_elsewhere_is_acked_but_does_not_restart_the_clock() {
        let mut t = table();
        for seq in [500, 998, 1000, 1500] {
            let v = arrive(&mut t, Instant::from_secs(10), &seg(seq, Flags::FIN | Flags::ACK), true);
            assert!(matches!(v, Verdict::Ack(_)), "seq {seq}: {v:?}");
            assert_eq!(t.poll_at(), Some(Instant::from_secs(60)), "seq {seq}");
        }
    }

    #[test]
    fn rst_does_not_end_time_wait() {
        let mut t = table();
        assert_eq!(arrive(&mut t, Instant::ZERO, &seg(1000, Flags::RST), true), Verdict::Ignore);
        assert!(t.contains(&tuple(40000)));
    }

    /// With RFC 5961 §4 off, RFC 793's rule: a SYN in the window (RCV.NXT
    /// to RCV.NXT + 99 here) resets the entry, <SEQ=SND.NXT><ACK=RCV.NXT>,
    /// even one that could reopen; one outside it is ACKed or reopens.
    #[test]
    fn without_rfc_5961_a_syn_in_the_window_resets() {
        let mut t = table();
        let insecure = |t: &mut TimeWaitTable, seq: u32| {
            let repr = seg(seq, Flags::SYN);
            t.on_segment(Instant::ZERO, TWO_MSL, tuple(40000), Segment { repr: &repr, payload: &[] }, true, false)
        };
        assert!(matches!(insecure(&mut t, 999), Verdict::Ack(_)));
        assert!(matches!(insecure(&mut t, 1100), Verdict::Reopen { .. }));
        let v = insecure(&mut t, 1099);
        let Verdict::Reset(rst) = v else { panic!("{v:?}") };
        assert_eq!((rst.seq_number, rst.ack_number, rst.flags), (SeqNum(500), SeqNum(1000), Flags::RST | Flags::ACK));
        assert!(t.is_empty());
        t = table();
        assert!(matches!(insecure(&mut t, 1000), Verdict::Reset(_)));
    }

    #[test]
    fn new_syn_above_rcv_nxt_reopens_and_old_one_is_acked() {
        let mut t = table();
        assert!(matches!(arrive(&mut t, Instant::ZERO, &seg(900, Flags::SYN), true), Verdict::Challenge(_)));
        assert_eq!(
            arrive(&mut t, Instant::ZERO, &seg(5000, Flags::SYN), true),
            Verdict::Reopen { snd_nxt: SeqNum(500) }
        );
        // The entry stays until the stack has made the new connection.
        assert!(t.contains(&tuple(40000)));
        t.remove(&tuple(40000));
        assert!(t.is_empty() && t.poll_at().is_none());
    }

    /// While the application holds the old connection's socket, even a SYN
    /// that could reopen the 4-tuple gets a challenge ACK, as does a
    /// SYN,ACK; once it has closed the socket, the SYN reopens.
    #[test]
    fn a_syn_is_challenged_while_the_socket_is_held() {
        let mut t = table();
        let held = Entry { held: true, ..*t.get(&tuple(40000)).unwrap() };
        t.insert(tuple(40000), held);
        for flags in [Flags::SYN, Flags::SYN | Flags::ACK] {
            let v = arrive(&mut t, Instant::ZERO, &seg(5000, flags), true);
            assert!(matches!(v, Verdict::Challenge(a) if a.ack_number == SeqNum(1000)), "{flags:?}: {v:?}");
        }
        t.closed(&tuple(40000));
        assert!(matches!(
            arrive(&mut t, Instant::ZERO, &seg(5000, Flags::SYN | Flags::ACK), true),
            Verdict::Challenge(_)
        ));
        assert_eq!(
            arrive(&mut t, Instant::ZERO, &seg(5000, Flags::SYN), true),
            Verdict::Reopen { snd_nxt: SeqNum(500) }
        );
    }

    /// RFC 6191: with timestamps on both incarnations, a newer timestamp
    /// reopens whatever the sequence number, and an older one does not;
    /// without them on the new one, the sequence number decides.
    #[test]
    fn a_newer_timestamp_reopens_whatever_the_sequence_number() {
        let syn = |seq: u32, tsval: Option<u32>| {
            let mut s = seg(seq, Flags::SYN);
            s.options.timestamps = tsval.map(|tsval| Timestamps { tsval, tsecr: 0 });
            s
        };
        let old = EntryTs { offset: 0, recent: u32::MAX - 5 };
        let entry = Entry { ts: Some(old), ..*table().get(&tuple(40000)).unwrap() };
        let mut t = TimeWaitTable::default();
        let cases = [
            // (SYN's seq, its TSval, we offer timestamps, reopens)
            (900, Some(3), true, true), // newer across the wrap, seq below RCV.NXT
            (5000, Some(u32::MAX - 6), true, false), // older, though seq above
            (5000, Some(u32::MAX - 5), true, true), // same timestamp: the seq decides
            (900, Some(u32::MAX - 5), true, false),
            (5000, None, true, true), // no timestamps on the new one: the seq decides
            (900, None, true, false),
            (900, Some(3), false, false), // we would not use them: the seq decides
        ];
        for (seq, tsval, offer, reopens) in cases {
            t.insert(tuple(40000), entry);
            let v = arrive(&mut t, Instant::ZERO, &syn(seq, tsval), offer);
            assert_eq!(matches!(v, Verdict::Reopen { .. }), reopens, "seq {seq} tsval {tsval:?} offer {offer}: {v:?}");
            if let Verdict::Challenge(a) = v {
                let ts = a.options.timestamps.expect("the ACK carries timestamps");
                assert_eq!(ts.tsecr, old.recent);
            }
        }
        // An old incarnation without timestamps: a SYN with them may go ahead.
        t.insert(tuple(40000), Entry { ts: None, ..entry });
        let v = arrive(&mut t, Instant::ZERO, &syn(900, Some(1)), true);
        assert!(matches!(v, Verdict::Reopen { .. }), "{v:?}");
    }
}
