//! Challenge ACKs and their budget (RFC 5961).
//!
//! An attacker who cannot see a connection's segments can still guess its
//! 4-tuple and spray segments at it, hoping one lands in the window. RFC 5961
//! takes most of the profit out of a lucky guess:
//!
//! ```text
//!   arrives (synchronized states)               RFC 793             RFC 5961
//!   RST, SEG.SEQ = RCV.NXT exactly              reset               reset
//!   RST, SEG.SEQ elsewhere in the window        reset               challenge ACK (§3)
//!   SYN, SEG.SEQ in the window (or not)         reset (or ACK)      challenge ACK (§4)
//!   SEG.ACK < SND.UNA - MAX.SND.WND             take its data       drop it, challenge ACK (§5)
//! ```
//! A challenge ACK is an ordinary ACK, <SEQ=SND.NXT><ACK=RCV.NXT>: the
//! attacker never sees it, and a true peer that did lose its connection
//! answers it with an RST at exactly RCV.NXT, which is then accepted.
//!
//! Each challenge costs a segment, so §7 bounds how many leave: a budget per
//! second for the whole stack. A budget that is the same every second is a
//! side channel, though (CVE-2016-5696): an attacker with a connection of its
//! own spends the budget and counts the challenge ACKs it still gets, and so
//! learns whether its guesses at someone else's connection hit. So, as Linux
//! has done since, each second's budget is drawn between half and one and a
//! half times the limit — from a keyed hash of the second, so the core stays
//! deterministic.

use core::hash::Hasher;

use siphasher::sip::SipHasher13;

use crate::time::Instant;

/// The stack's budget of challenge ACKs.
#[derive(Clone, Debug)]
pub struct ChallengeAcks {
    key: [u8; 16],
    /// Challenge ACKs per second, on average.
    limit: u32,
    /// The second the budget is for, and what is left of it.
    second: Option<u64>,
    left: u32,
}

impl ChallengeAcks {
    pub fn new(key: [u8; 16], limit: u32) -> ChallengeAcks {
        ChallengeAcks { key, limit, second: None, left: 0 }
    }

    /// Whether a challenge ACK may leave at `now`; if so it is taken from
    /// the second's budget.
    pub fn allow(&mut self, now: Instant) -> bool {
        let second = now.total_micros() / 1_000_000;
        if self.second != Some(second) {
            self.second = Some(second);
            self.left = self.budget(second);
        }
        let allowed = self.left > 0;
        self.left = self.left.saturating_sub(1);
        allowed
    }

    /// The budget of one second: from limit/2 to 3·limit/2 − 1.
    fn budget(&self, second: u64) -> u32 {
        if self.limit == 0 {
            return 0;
        }
        let mut f = SipHasher13::new_with_key(&self.key);
        f.write_u64(second);
        self.limit / 2 + (f.finish() % u64::from(self.limit)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `tries` challenges in second `s` are allowed.
    fn allowed(c: &mut ChallengeAcks, s: u64, tries: u32) -> u32 {
        (0..tries).filter(|&i| c.allow(Instant::from_micros(s * 1_000_000 + u64::from(i)))).count() as u32
    }

    #[test]
    fn each_second_allows_between_half_and_one_and_a_half_times_the_limit() {
        let mut c = ChallengeAcks::new([3; 16], 100);
        let budgets: Vec<u32> = (0..50).map(|s| allowed(&mut c, s, 1000)).collect();
        assert!(budgets.iter().all(|&b| (50..150).contains(&b)), "{budgets:?}");
        assert!(budgets.windows(2).any(|w| w[0] != w[1]), "the budget varies: {budgets:?}");
    }

    #[test]
    fn a_spent_budget_refills_the_next_second() {
        let mut c = ChallengeAcks::new([3; 16], 10);
        let first = allowed(&mut c, 7, 100);
        assert!(first < 15);
        assert!(!c.allow(Instant::from_millis(7_999)));
        assert!(c.allow(Instant::from_secs(8)));
    }

    #[test]
    fn a_zero_limit_allows_none() {
        assert_eq!(allowed(&mut ChallengeAcks::new([3; 16], 0), 1, 10), 0);
    }
}
