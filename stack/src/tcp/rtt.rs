//! The retransmission timeout (RFC 6298).
//!
//! ```text
//!   first sample R:   SRTT <- R            RTTVAR <- R/2
//!   later samples R': RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|
//!                     SRTT   <- 7/8 SRTT   + 1/8 R'
//!   RTO <- SRTT + max(G, 4 RTTVAR), clamped to [200 ms, 60 s]
//! ```
//! Until the first sample the RTO is 1 s (§2.1). Each expiry doubles it
//! ("back off the timer", §5.5) until a new sample arrives. Samples come only
//! from segments sent once (Karn's algorithm, §3): the caller never times a
//! retransmitted segment.

use crate::time::Duration;

/// RFC 6298 §2.4 says 1 s; Linux and this stack use 200 ms, as the issue
/// allows, because loopback round trips are microseconds.
pub const MIN_RTO: Duration = Duration::from_millis(200);
pub const MAX_RTO: Duration = Duration::from_secs(60);
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Clock granularity G: our clock is in microseconds.
const GRANULARITY: Duration = Duration::from_micros(1);

#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator { srtt: None, rttvar: Duration::ZERO, rto: INITIAL_RTO }
    }
}

impl RttEstimator {
    pub fn rto(&self) -> Duration {
        self.rto
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// A round-trip time measured on a segment that was sent only once.
    pub fn sample(&mut self, r: Duration) {
        self.sample_of(r, 1);
    }

    /// One of `per_window` samples taken in one round trip, as timestamps
    /// give one per ACK. RFC 7323 Appendix G divides the gains by the number
    /// of samples expected, so that SRTT and RTTVAR keep the memory of the
    /// same number of round trips as with one sample each:
    ///
    /// ```text
    ///   alpha' = (1/8) / per_window     beta' = (1/4) / per_window
    /// ```
    pub fn sample_of(&mut self, r: Duration, per_window: u32) {
        let n = per_window.max(1);
        let (srtt, rttvar) = match self.srtt {
            None => (r, r / 2),
            Some(srtt) => {
                (srtt - srtt / (8 * n) + r / (8 * n), self.rttvar - self.rttvar / (4 * n) + srtt.abs_diff(r) / (4 * n))
            }
        };
        self.srtt = Some(srtt);
        self.rttvar = rttvar;
        self.rto = (srtt + GRANULARITY.max(rttvar * 4)).clamp(MIN_RTO, MAX_RTO);
    }

    /// The timer expired: double the RTO (RFC 6298 §5.5).
    pub fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(MAX_RTO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_one_second_and_follows_the_formulas() {
        let mut e = RttEstimator::default();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        // SRTT 100, RTTVAR 50: RTO = 100 + 200 = 300 ms.
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(200));
        // RTTVAR = 37.5 + 25 = 62.5; SRTT = 87.5 + 25 = 112.5; RTO = 362.5 ms.
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn per_ack_samples_move_the_estimate_less_each() {
        let mut one = RttEstimator::default();
        let mut four = RttEstimator::default();
        one.sample(Duration::from_millis(100));
        four.sample(Duration::from_millis(100));
        one.sample(Duration::from_millis(180));
        for _ in 0..4 {
            four.sample_of(Duration::from_millis(180), 4);
        }
        // One sample: SRTT 110 ms. Four at a quarter of the gain: about the same.
        assert_eq!(one.srtt(), Some(Duration::from_millis(110)));
        let srtt = four.srtt().unwrap();
        assert!(srtt > Duration::from_millis(109) && srtt < Duration::from_millis(110), "{srtt:?}");
    }

    #[test]
    fn is_clamped_and_backs_off_to_the_maximum() {
        let mut e = RttEstimator::default();
        e.sample(Duration::from_micros(20));
        assert_eq!(e.rto(), MIN_RTO);
        for _ in 0..20 {
            e.back_off();
        }
        assert_eq!(e.rto(), MAX_RTO);
    }
}
