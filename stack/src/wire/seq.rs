//! Sequence numbers (RFC 9293 §3.4).
//!
//! Sequence numbers live on a circle of 2^32 values, so "less than" only makes
//! sense for two numbers less than 2^31 apart:
//!
//! ```text
//!            a < b                      b < a
//!   0 ... a ------> b ... 2^32    0 ... b ... a ----------> (wraps) ...
//!         (b - a) as i32 > 0            (b - a) as i32 < 0
//! ```
//!
//! `SeqNum` implements that modular order; plain `u32` arithmetic never appears
//! in the protocol code.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number, compared modulo 2^32.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Whether `self` lies in `[start, start + len)`.
    pub fn in_window(self, start: SeqNum, len: usize) -> bool {
        (self.0.wrapping_sub(start.0) as usize) < len
    }

    pub fn max(self, other: SeqNum) -> SeqNum {
        if self > other {
            self
        } else {
            other
        }
    }

    pub fn min(self, other: SeqNum) -> SeqNum {
        if self < other {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Not a total order over all 2^32 values (no modular order is), but total
/// over any window smaller than 2^31, which is all TCP ever compares.
impl Ord for SeqNum {
    fn cmp(&self, other: &SeqNum) -> Ordering {
        (self.0.wrapping_sub(other.0) as i32).cmp(&0)
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: usize) -> SeqNum {
        debug_assert!(n <= i32::MAX as usize, "sequence step too large");
        SeqNum(self.0.wrapping_add(n as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, n: usize) {
        *self = *self + n;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: usize) -> SeqNum {
        debug_assert!(n <= i32::MAX as usize, "sequence step too large");
        SeqNum(self.0.wrapping_sub(n as u32))
    }
}

/// The distance from `other` forward to `self`; `self` must not be behind.
impl Sub<SeqNum> for SeqNum {
    type Output = usize;
    fn sub(self, other: SeqNum) -> usize {
        let d = self.0.wrapping_sub(other.0) as i32;
        debug_assert!(d >= 0, "sequence difference {} - {} is negative", self.0, other.0);
        d.max(0) as usize
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_across_the_wrap() {
        let a = SeqNum(u32::MAX - 5);
        let b = a + 10;
        assert_eq!(b.0, 4);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b - a, 10);
        assert!(b.in_window(a, 11));
        assert!(!b.in_window(a, 10));
        assert!(!a.in_window(b, 100));
    }

    #[test]
    fn max_and_min_follow_the_modular_order() {
        let a = SeqNum(u32::MAX);
        let b = SeqNum(1);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }
}
