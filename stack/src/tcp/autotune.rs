//! Receive-buffer auto-tuning ("dynamic right-sizing", as Linux's
//! `tcp_rcv_space_adjust`).
//!
//! A sender can have at most one window in flight, so a transfer moves at
//! most one window per round trip. A buffer sized for the fastest path
//! would let every slow or stalled connection hold that much memory; so
//! each connection starts small and grows its buffer while the application
//! keeps up:
//!
//! ```text
//!   once per RTT:  read = bytes the application read in that RTT
//!                  buffer = max(buffer, min(2 * read, bound))
//! ```
//! A window-limited sender delivers one window per RTT; when the
//! application read about that much, the window, not the application, was
//! the limit. Twice that leaves room for the sender's slow start, which
//! doubles its rate every RTT. An application that reads slowly never reads
//! much in one RTT, so its buffer stays small. The buffer never shrinks: the
//! right edge of a window already offered must not move left.

use crate::time::{Duration, Instant};
use crate::wire::seq::SeqNum;

/// The shortest measurement: one tick of the timestamp clock, as Linux
/// measures with timestamps. On loopback the RTT is microseconds, and reads
/// that close together measure the application's rhythm, not the path.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

#[derive(Clone, Debug)]
pub struct RcvBuf {
    /// The buffer the window may offer now.
    pub size: usize,
    /// The measurement under way: when it began, and the sequence number of
    /// the next byte the application was to read then.
    started: Instant,
    read_seq: SeqNum,
}

impl RcvBuf {
    pub fn new(size: usize, now: Instant, read_seq: SeqNum) -> RcvBuf {
        RcvBuf { size, started: now, read_seq }
    }

    /// The application has read everything before `read_seq`; `rtt` is
    /// the connection's smoothed round-trip time, `bound` the largest buffer
    /// allowed.
    pub fn on_read(&mut self, now: Instant, read_seq: SeqNum, rtt: Duration, bound: usize) {
        if now - self.started < rtt.max(MIN_INTERVAL) {
            return;
        }
        let read = read_seq - self.read_seq;
        self.started = now;
        self.read_seq = read_seq;
        self.size = self.size.max((2 * read).min(bound));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(10);

    #[test]
    fn grows_to_twice_what_was_read_in_one_rtt_up_to_the_bound() {
        let mut b = RcvBuf::new(64 << 10, Instant::ZERO, SeqNum(1000));
        // Within the RTT: no measurement yet.
        b.on_read(Instant::from_millis(5), SeqNum(1000 + (64 << 10)), RTT, 1 << 20);
        assert_eq!(b.size, 64 << 10);
        b.on_read(Instant::from_millis(10), SeqNum(1000 + (64 << 10)), RTT, 1 << 20);
        assert_eq!(b.size, 128 << 10);
        // A slow reader: no growth, and no shrinking either.
        b.on_read(Instant::from_millis(20), SeqNum(1000 + (65 << 10)), RTT, 1 << 20);
        assert_eq!(b.size, 128 << 10);
        // Fast again, past the bound: held at the bound.
        b.on_read(Instant::from_millis(30), SeqNum(1000 + (2 << 20)), RTT, 1 << 20);
        assert_eq!(b.size, 1 << 20);
    }

    #[test]
    fn measures_at_least_a_millisecond_and_across_the_wrap() {
        let mut b = RcvBuf::new(1000, Instant::ZERO, SeqNum(u32::MAX - 10));
        b.on_read(Instant::from_micros(999), SeqNum(5000), Duration::ZERO, 1 << 20);
        assert_eq!(b.size, 1000);
        b.on_read(Instant::from_millis(1), SeqNum(5000), Duration::ZERO, 1 << 20);
        assert_eq!(b.size, 2 * 5011);
    }
}
