//! What can go wrong between two hosts: loss, duplication, reordering,
//! corruption, delay and a size limit.
//!
//! TCP exists because networks misbehave. To watch it cope, we misbehave on
//! purpose. A [`FaultInjector`] sits on one direction of a path: packets go in
//! with [`push`](FaultInjector::push) and come out later with
//! [`pop`](FaultInjector::pop), possibly never, twice, out of order or with a
//! bit flipped. It does no I/O and reads no clock, so the same piece serves
//! the in-memory simulator (between two stacks) and a link wrapper around a
//! real network device (to show retransmission against a real peer). Its
//! randomness comes from a seed, so every run with the same seed is the same.
//!
//! [`FaultLink`] is that wrapper: it puts an injector on each direction of a
//! real link and runs them on the real monotonic clock.
//!
//! [`Faults`] describes the misbehaviour and reads the command-line form
//! `loss=5%,burst=4,dup=1%,reorder=5%,delay=10ms,jitter=2ms,corrupt=0.1%,mtu=1500,seed=7`.
//!
//! Losses are independent unless `burst` is given. Real losses come in
//! runs: a drop-tail queue that overflows drops every packet that arrives
//! until it drains. `burst` makes them so, by the Gilbert model: a path is
//! good (nothing lost) or bad (everything lost); from good it turns bad
//! with a chance q per packet, from bad good again with 1/`burst`, so runs
//! of losses average `burst` packets, and q = loss / (burst · (1 − loss))
//! keeps the share lost at `loss`. A run also ends when the path has
//! carried nothing for `BURST_IDLE_END`, as a queue drains when nothing
//! arrives: otherwise the chain, which moves only with packets, would keep
//! a sender that waits out a timeout in the bad state however long it waits.
//!
//! ```text
//!              q                       good: packets pass
//!        .-----------.                 bad:  packets are lost
//!   ( good )       ( bad )   1 − 1/burst
//!        '-----------'  <-'
//!          1/burst
//! ```

use core::cmp::Reverse;
use core::fmt;
use core::str::FromStr;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::RawFd;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{monotonic_now, Link, LinkCaps, LinkStats};
use crate::copy;
use crate::time::{Duration, Instant};

/// What can go wrong on a path, each as a probability 0.0..=1.0 or a duration.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Faults {
    /// Chance that a packet vanishes.
    pub loss: f64,
    /// Mean length of a run of losses (the Gilbert model above); 1 or less
    /// (or 0, unset) for independent losses.
    pub burst: f64,
    /// Chance that a packet arrives twice.
    pub dup: f64,
    /// Chance that a packet is held back so that later ones overtake it.
    pub reorder: f64,
    /// Chance that one bit of a packet is flipped.
    pub corrupt: f64,
    /// Time every packet spends on the path.
    pub delay: Duration,
    /// Extra random time, 0..=jitter, added to each packet's delay.
    pub jitter: Duration,
    /// Largest packet the path carries; larger ones are dropped.
    pub mtu: Option<usize>,
    /// Seed of the random choices.
    pub seed: u64,
}

/// A run of losses ends when the path has been idle this long.
const BURST_IDLE_END: Duration = Duration::from_millis(10);

/// How long a reordered packet is held back at least, so that packets sent
/// just after it overtake it even on a path without delay.
const REORDER_HOLD_MIN: Duration = Duration::from_millis(1);

/// How many times the path delay a reordered packet may be held back, on top
/// of `REORDER_HOLD_MIN`.
const REORDER_HOLD_DELAYS: u32 = 3;

/// Bytes of packets one [`FaultInjector`] holds at most, counting each
/// packet's buffer and its place in the queue, like a router's buffer: a
/// flood into a long delay must not take the memory of the machine. The
/// largest window a stack here keeps in flight (a 4 MiB receive buffer)
/// fits several times over.
pub const BUFFER: usize = 16 << 20;

/// Spare buffers kept for reuse at most; `pop` and `recycle` come in pairs,
/// so a few are enough, and more would hold memory the queue gave back.
const SPARE: usize = 64;

/// Counters of what a [`FaultInjector`] did. Every pushed packet is counted
/// once in `passed`, `lost`, `too_big` or `overflowed`; the other counters
/// count copies.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Packets that got through (at least one copy).
    pub passed: u64,
    /// Packets dropped at random.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies held back to be overtaken.
    pub reordered: u64,
    /// Copies with a flipped bit.
    pub corrupted: u64,
    /// Packets dropped for being larger than the MTU.
    pub too_big: u64,
    /// Packets dropped because the buffer (`BUFFER`) was full.
    pub overflowed: u64,
}

/// A packet waiting for its release time. Ordered by release time, then by
/// arrival (`seq` is unique, so the bytes are never compared).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    release: Instant,
    seq: u64,
    packet: Vec<u8>,
}

/// Packets in, packets out later: possibly lost, duplicated, reordered,
/// delayed or with a flipped bit.
pub struct FaultInjector {
    faults: Faults,
    rng: ChaCha8Rng,
    /// Packets not chosen for reordering, oldest first: their release
    /// times never decrease (`in_order_until`), so a queue keeps them in
    /// (release, seq) order without sorting.
    in_order: VecDeque<Held>,
    /// Min-heap on (release, seq) of the reordered ones. The next packet
    /// out is the earlier of the two heads.
    reordered: BinaryHeap<Reverse<Held>>,
    next_seq: u64,
    /// Release time of the latest packet not chosen for reordering. Jitter
    /// alone never reorders (a wire is first in, first out); only `reorder`
    /// does, so the `reordered` counter tells the whole story.
    in_order_until: Instant,
    /// Bytes held in `in_order` and `reordered`, as `held_bytes` counts them.
    held: usize,
    /// Buffers handed back with `recycle`, reused by `push`.
    spare: Vec<Vec<u8>>,
    /// The Gilbert model's state: in a run of losses since this packet's
    /// time (the last pushed).
    in_burst: Option<Instant>,
    stats: FaultStats,
}

/// What a held packet costs: its buffer and its entry in the queue.
fn held_bytes(packet: &Vec<u8>) -> usize {
    packet.capacity() + core::mem::size_of::<Held>()
}

impl FaultInjector {
    pub fn new(faults: Faults) -> Self {
        FaultInjector {
            rng: ChaCha8Rng::seed_from_u64(faults.seed),
            faults,
            in_order: VecDeque::new(),
            reordered: BinaryHeap::new(),
            next_seq: 0,
            in_order_until: Instant::ZERO,
            held: 0,
            spare: Vec::new(),
            in_burst: None,
            stats: FaultStats::default(),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Changes the faults from now on and reseeds. Packets already on the
    /// path keep their release times.
    pub fn set_faults(&mut self, faults: Faults) {
        self.rng = ChaCha8Rng::seed_from_u64(faults.seed);
        self.faults = faults;
    }

    /// Decides the fate of `packet`, sent at `now`, given in parts to be
    /// joined in order (see `Stack::transmit`).
    pub fn push(&mut self, now: Instant, packet: &[&[u8]]) {
        let len: usize = packet.iter().map(|part| part.len()).sum();
        if self.faults.mtu.is_some_and(|mtu| len > mtu) {
            self.stats.too_big += 1;
            return;
        }
        if self.lose(now) {
            self.stats.lost += 1;
            return;
        }
        let twice = self.chance(self.faults.dup);
        if !self.send_copy(now, packet) {
            self.stats.overflowed += 1;
            return;
        }
        self.stats.passed += 1;
        // The second copy takes its own way through the network, if the
        // buffer has room for it too.
        if twice && self.send_copy(now, packet) {
            self.stats.duplicated += 1;
        }
    }

    /// Queues one copy of `packet`; false if the buffer has no room for it.
    fn send_copy(&mut self, now: Instant, packet: &[&[u8]]) -> bool {
        let mut copy = self.spare.pop().unwrap_or_default();
        copy::join(&mut copy, packet);
        let cost = held_bytes(&copy);
        if self.held + cost > BUFFER {
            self.recycle(copy);
            return false;
        }
        let on_time = now + self.faults.delay + self.random_up_to(self.faults.jitter);
        let reorder = self.chance(self.faults.reorder);
        let release = if reorder {
            self.stats.reordered += 1;
            let most = self.faults.delay.saturating_mul(REORDER_HOLD_DELAYS);
            on_time + REORDER_HOLD_MIN + self.random_up_to(most)
        } else {
            self.in_order_until = self.in_order_until.max(on_time);
            self.in_order_until
        };

        // An empty packet has no bit to flip.
        if !copy.is_empty() && self.chance(self.faults.corrupt) {
            self.stats.corrupted += 1;
            let bit = self.rng.random_range(0..copy.len() * 8);
            copy[bit / 8] ^= 1 << (bit % 8);
        }

        let seq = self.next_seq;
        self.next_seq += 1;
        self.held += cost;
        let held = Held { release, seq, packet: copy };
        if reorder {
            self.reordered.push(Reverse(held));
        } else {
            self.in_order.push_back(held);
        }
        true
    }

    /// The next packet whose release time is `now` or earlier.
    pub fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.poll_at()? > now {
            return None;
        }
        let reordered_first = match (self.in_order.front(), self.reordered.peek()) {
            (Some(in_order), Some(Reverse(reordered))) => reordered < in_order,
            (None, _) => true,
            (Some(_), None) => false,
        };
        let held =
            if reordered_first { self.reordered.pop().map(|Reverse(held)| held) } else { self.in_order.pop_front() }?;
        self.held -= held_bytes(&held.packet);
        Some(held.packet)
    }

    /// Hands back a buffer from `pop` for reuse.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < SPARE {
            self.spare.push(buffer);
        }
    }

    /// Bytes of packets held now (at most `BUFFER`).
    pub fn held(&self) -> usize {
        self.held
    }

    /// When the next packet is due out, if any is waiting.
    pub fn poll_at(&self) -> Option<Instant> {
        let reordered = self.reordered.peek().map(|Reverse(held)| held.release);
        self.in_order.front().map(|held| held.release).into_iter().chain(reordered).min()
    }

    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    /// Whether the next packet is lost: at random, or by the Gilbert model
    /// when losses come in bursts.
    fn lose(&mut self, now: Instant) -> bool {
        let (loss, burst) = (self.faults.loss, self.faults.burst);
        if burst.is_nan() || burst <= 1.0 {
            return self.chance(loss);
        }
        let bad = match self.in_burst {
            Some(last) if now - last < BURST_IDLE_END => !self.chance(1.0 / burst),
            _ => self.chance(loss / (burst * (1.0 - loss))),
        };
        self.in_burst = bad.then_some(now);
        bad
    }

    /// True with probability `p`; out-of-range values count as 0 or 1.
    fn chance(&mut self, p: f64) -> bool {
        // `p > 0.0` is false for NaN, and skips drawing for absent faults.
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    /// A duration picked uniformly from 0..=most, to the microsecond.
    fn random_up_to(&mut self, most: Duration) -> Duration {
        let most = u64::try_from(most.as_micros()).unwrap_or(u64::MAX);
        if most == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.rng.random_range(0..=most))
    }
}

/// A link that misbehaves on purpose: the faults apply to the packets the
/// inner link delivers and to those sent through it, each direction with its
/// own injector and seed.
///
/// Packets in: `recv_batch` takes everything the inner link has into the
/// receive injector and delivers those due now; the others wait there
/// until `poll_at`, when the driver calls again (a packet is lost only if the
/// injector's buffer is full, as a router's would be). Packets out:
/// `send` puts them into the send injector; `flush` hands those due to the
/// inner link. So a delayed packet never blocks the event loop.
pub struct FaultLink<L: Link> {
    inner: L,
    rx: FaultInjector,
    tx: FaultInjector,
}

impl<L: Link> FaultLink<L> {
    /// Sending uses `faults.seed`; receiving a seed derived from it, so the
    /// two directions do not lose the same packets in step.
    pub fn new(inner: L, faults: Faults) -> Self {
        let rx_faults = Faults { seed: faults.seed ^ 0x9e37_79b9_7f4a_7c15, ..faults.clone() };
        FaultLink { inner, rx: FaultInjector::new(rx_faults), tx: FaultInjector::new(faults) }
    }

    /// The wrapped link, e.g. for its statistics.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Hands the sent packets that are due to the inner link.
    fn release_tx(&mut self, now: Instant) -> io::Result<()> {
        while let Some(packet) = self.tx.pop(now) {
            let sent = self.inner.send(&[&packet]);
            self.tx.recycle(packet);
            sent?;
        }
        Ok(())
    }
}

impl<L: Link> Link for FaultLink<L> {
    fn caps(&self) -> LinkCaps {
        self.inner.caps()
    }

    /// Returns how many packets the inner link gave, not how many came out:
    /// the caller must keep reading until the device is empty.
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let now = monotonic_now();
        let rx = &mut self.rx;
        let taken = self.inner.recv_batch(&mut |packet| rx.push(now, &[packet]))?;
        while let Some(packet) = self.rx.pop(now) {
            f(&packet);
            self.rx.recycle(packet);
        }
        Ok(taken)
    }

    fn send(&mut self, packet: &[&[u8]]) -> io::Result<()> {
        self.tx.push(monotonic_now(), packet);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.release_tx(monotonic_now())?;
        self.inner.flush()
    }

    fn as_raw_fd(&self) -> Option<RawFd> {
        self.inner.as_raw_fd()
    }

    fn poll_at(&self) -> Option<Instant> {
        [self.rx.poll_at(), self.tx.poll_at(), self.inner.poll_at()].into_iter().flatten().min()
    }

    fn stats(&self) -> LinkStats {
        self.inner.stats()
    }
}

/// A `Faults` item that could not be read, with what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFaultsError {
    item: String,
    problem: &'static str,
}

impl fmt::Display for ParseFaultsError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "bad fault \"{}\": {}", self.item, self.problem)
    }
}

impl std::error::Error for ParseFaultsError {}

impl FromStr for Faults {
    type Err = ParseFaultsError;

    /// Reads comma-separated `name=value` items, any subset in any order,
    /// each at most once. Probabilities are percentages, with or without
    /// `%` (`loss=5` is 5%); durations need a unit: `200us`, `10ms`, `1.5s`.
    fn from_str(s: &str) -> Result<Faults, ParseFaultsError> {
        let mut faults = Faults::default();
        let mut seen = Vec::new();
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let bad = |problem| ParseFaultsError { item: item.to_string(), problem };
            let (name, value) = item.split_once('=').ok_or_else(|| bad(NAME_VALUE))?;
            let (name, value) = (name.trim(), value.trim());
            if seen.contains(&name) {
                return Err(bad(TWICE));
            }
            seen.push(name);
            match name {
                "loss" => faults.loss = parse_percent(value).map_err(bad)?,
                "burst" => faults.burst = parse_burst(value).map_err(bad)?,
                "dup" => faults.dup = parse_percent(value).map_err(bad)?,
                "reorder" => faults.reorder = parse_percent(value).map_err(bad)?,
                "corrupt" => faults.corrupt = parse_percent(value).map_err(bad)?,
                "delay" => faults.delay = parse_duration(value).map_err(bad)?,
                "jitter" => faults.jitter = parse_duration(value).map_err(bad)?,
                "mtu" => faults.mtu = Some(parse_mtu(value).map_err(bad)?),
                "seed" => faults.seed = value.parse().map_err(|_| bad(SEED))?,
                _ => return Err(bad(UNKNOWN)),
            }
        }
        Ok(faults)
    }
}

const NAME_VALUE: &str = "expected name=value, e.g. loss=5%";
const TWICE: &str = "given twice: keep one";
const UNKNOWN: &str = "unknown name; expected loss, burst, dup, reorder, corrupt, delay, jitter, mtu or seed";
const PERCENT: &str = "expected a percentage from 0% to 100%, e.g. 5% or 0.1";
const DURATION: &str = "expected a duration with its unit: us, ms or s, e.g. 200us, 10ms or 1.5s";
const MTU: &str = "expected an MTU in bytes from 68 (RFC 791's smallest) to 65535";
const SEED: &str = "expected a whole number from 0 to 18446744073709551615";
const BURST: &str = "expected a mean burst length in packets from 1 to 1000000";

fn parse_burst(value: &str) -> Result<f64, &'static str> {
    match value.parse::<f64>() {
        Ok(burst) if (1.0..=1e6).contains(&burst) => Ok(burst),
        _ => Err(BURST),
    }
}

/// The largest packet the path carries: an IPv4 packet, so no smaller than
/// the least every host must take whole and no larger than 16 bits count.
fn parse_mtu(value: &str) -> Result<usize, &'static str> {
    match value.parse::<usize>() {
        Ok(mtu) if (super::MIN_MTU..=65535).contains(&mtu) => Ok(mtu),
        _ => Err(MTU),
    }
}

fn parse_percent(value: &str) -> Result<f64, &'static str> {
    let number = value.strip_suffix('%').unwrap_or(value).trim();
    match number.parse::<f64>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(percent / 100.0),
        _ => Err(PERCENT),
    }
}

/// Reads a duration to the microsecond, the resolution of `Instant`.
fn parse_duration(value: &str) -> Result<Duration, &'static str> {
    let (number, micros_per_unit) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = value.strip_suffix("us") {
        (n, 1.0)
    } else {
        (value.strip_suffix('s').ok_or(DURATION)?, 1e6)
    };
    match number.trim().parse::<f64>() {
        // `as` saturates a too-large number; the guard rejects NaN too.
        Ok(n) if n >= 0.0 => Ok(Duration::from_micros((n * micros_per_unit).round() as u64)),
        _ => Err(DURATION),
    }
}

impl fmt::Display for Faults {
    /// The form `FromStr` reads, leaving out what is absent; the seed is
    /// always shown, as it is what a run is replayed with.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let percents = [("loss", self.loss), ("dup", self.dup), ("reorder", self.reorder)];
        for (name, p) in percents.into_iter().filter(|&(_, p)| p != 0.0) {
            write!(f, "{name}={},", Percent(p))?;
            if name == "loss" && self.burst != 0.0 {
                write!(f, "burst={},", self.burst)?;
            }
        }
        let durations = [("delay", self.delay), ("jitter", self.jitter)];
        for (name, d) in durations.into_iter().filter(|&(_, d)| !d.is_zero()) {
            write!(f, "{name}={},", Micros(d))?;
        }
        if self.corrupt != 0.0 {
            write!(f, "corrupt={},", Percent(self.corrupt))?;
        }
        if let Some(mtu) = self.mtu {
            write!(f, "mtu={mtu},")?;
        }
        write!(f, "seed={}", self.seed)
    }
}

/// A probability shown as a percentage, without the float noise of `* 100`.
struct Percent(f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let digits = format!("{:.10}", self.0 * 100.0);
        let digits = digits.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{digits}%")
    }
}

/// A duration in the largest unit that shows it exactly.
struct Micros(Duration);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let us = self.0.as_micros();
        let (count, unit) = match (us % 1_000_000, us % 1000) {
            (0, _) => (us / 1_000_000, "s"),
            (_, 0) => (us / 1000, "ms"),
            _ => (us, "us"),
        };
        write!(f, "{count}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::super::QueueLink;
    use super::*;

    fn faults(s: &str) -> Faults {
        s.parse().unwrap()
    }

    /// A packet of `len` bytes whose first two bytes are its number.
    fn numbered(n: u16, len: usize) -> Vec<u8> {
        let mut p = vec![0xa5; len.max(2)];
        p[..2].copy_from_slice(&n.to_be_bytes());
        p
    }

    fn number(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[0], p[1]])
    }

    /// Pushes `count` numbered packets `gap` apart, then drains everything;
    /// returns (release time, packet) in the order they came out.
    fn run(inj: &mut FaultInjector, count: u16, gap: Duration) -> Vec<(Instant, Vec<u8>)> {
        let mut now = Instant::ZERO;
        let mut out = Vec::new();
        for n in 0..count {
            inj.push(now, &[&numbered(n, 40)]);
            now += gap;
            while let Some(p) = inj.pop(now) {
                out.push((now, p));
            }
        }
        while let Some(at) = inj.poll_at() {
            out.push((at, inj.pop(at).unwrap()));
        }
        out
    }

    #[test]
    fn without_faults_packets_pass_unchanged_and_at_once() {
        let mut inj = FaultInjector::new(Faults::default());
        let out = run(&mut inj, 100, Duration::ZERO);
        let numbers: Vec<u16> = out.iter().map(|(_, p)| number(p)).collect();
        assert_eq!(numbers, (0..100).collect::<Vec<_>>());
        assert!(out.iter().all(|(at, p)| *at == Instant::ZERO && p[2..] == [0xa5; 38]));
        assert_eq!(inj.stats(), FaultStats { passed: 100, ..FaultStats::default() });
    }

    #[test]
    fn same_seed_same_fates_other_seed_other_fates() {
        let all = "loss=10%,dup=10%,reorder=10%,corrupt=10%,delay=5ms,jitter=3ms";
        let trace = |seed| {
            let mut inj = FaultInjector::new(faults(&format!("{all},seed={seed}")));
            run(&mut inj, 1000, Duration::from_micros(300))
        };
        assert_eq!(trace(1), trace(1));
        assert_ne!(trace(1), trace(2));
    }

    #[test]
    fn loss_rate_is_near_the_configured_one() {
        let mut inj = FaultInjector::new(faults("loss=10%,seed=3"));
        let out = run(&mut inj, 10_000, Duration::from_micros(10));
        // Binomial standard deviation is 30; allow five of them.
        assert!((8850..=9150).contains(&out.len()), "{} got through", out.len());
        let stats = inj.stats();
        assert_eq!(stats.lost + stats.passed, 10_000);
        assert_eq!(stats.passed, out.len() as u64);
    }

    #[test]
    fn bursts_keep_the_loss_rate_and_have_the_mean_length() {
        let mut inj = FaultInjector::new(faults("loss=2%,burst=4,seed=3"));
        let out = run(&mut inj, 50_000, Duration::from_micros(10));
        let numbers: Vec<u16> = out.iter().map(|(_, p)| number(p)).collect();
        let lost = inj.stats().lost;
        // Runs of lost packets: gaps in the numbers (mod 2^16).
        let runs: Vec<u16> = numbers.windows(2).map(|w| w[1].wrapping_sub(w[0]) - 1).filter(|&g| g > 0).collect();
        let mean = f64::from(runs.iter().map(|&g| u32::from(g)).sum::<u32>()) / runs.len() as f64;
        assert!((850..=1150).contains(&lost), "{lost} of 50000 lost");
        assert!((3.5..=4.5).contains(&mean), "mean burst {mean} over {} bursts", runs.len());
        // The same rate without bursts: runs of one, mostly.
        let mut inj = FaultInjector::new(faults("loss=2%,seed=3"));
        let numbers: Vec<u16> =
            run(&mut inj, 50_000, Duration::from_micros(10)).iter().map(|(_, p)| number(p)).collect();
        let runs = numbers.windows(2).filter(|w| w[1].wrapping_sub(w[0]) > 1).count() as u64;
        assert!(runs * 10 > inj.stats().lost * 9, "{runs} runs for {} lost", inj.stats().lost);

        // A run ends when the path is idle: each packet alone, 10 ms apart,
        // is lost with the chance of starting a run.
        let mut inj = FaultInjector::new(faults("loss=10%,burst=100,seed=3"));
        run(&mut inj, 10_000, Duration::from_millis(10));
        let lost = inj.stats().lost;
        assert!((3..=25).contains(&lost), "{lost} lost: each a run begun, at 0.11 %, none continued");
    }

    #[test]
    fn duplication_sends_a_second_copy() {
        let mut inj = FaultInjector::new(faults("dup=100%"));
        let numbers: Vec<u16> = run(&mut inj, 3, Duration::ZERO).iter().map(|(_, p)| number(p)).collect();
        assert_eq!(numbers, [0, 0, 1, 1, 2, 2]);

        let mut inj = FaultInjector::new(faults("dup=10%,seed=5"));
        let out = run(&mut inj, 10_000, Duration::from_micros(10));
        assert!((10_850..=11_150).contains(&out.len()), "{} came out", out.len());
        assert_eq!(inj.stats().duplicated, out.len() as u64 - 10_000);
    }

    #[test]
    fn reordering_lets_later_packets_overtake() {
        let mut inj = FaultInjector::new(faults("reorder=10%,delay=1ms,seed=9"));
        let numbers: Vec<u16> =
            run(&mut inj, 1000, Duration::from_micros(100)).iter().map(|(_, p)| number(p)).collect();
        let overtaken = numbers.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(overtaken > 50, "only {overtaken} out of order");
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "every packet arrives once");
        assert!((70..=130).contains(&inj.stats().reordered));
    }

    /// Reordered packets wait apart from the others; whichever is due first
    /// leaves first, and none before its delay is over.
    #[test]
    fn reordered_or_not_no_packet_leaves_early() {
        let mut inj = FaultInjector::new(faults("reorder=20%,delay=10ms,seed=3"));
        let gap = Duration::from_millis(1);
        for (at, p) in run(&mut inj, 1000, gap) {
            let sent = Instant::ZERO + gap * u32::from(number(&p));
            assert!(at >= sent + Duration::from_millis(10), "packet {} left at {at:?}", number(&p));
        }
    }

    #[test]
    fn jitter_alone_keeps_order() {
        let mut inj = FaultInjector::new(faults("delay=1ms,jitter=5ms,seed=4"));
        let out = run(&mut inj, 1000, Duration::from_micros(100));
        let numbers: Vec<u16> = out.iter().map(|(_, p)| number(p)).collect();
        assert_eq!(numbers, (0..1000).collect::<Vec<_>>());
        let spread = out.iter().map(|(at, _)| at.total_micros() % 100).filter(|&us| us != 0).count();
        assert!(spread > 0, "jitter changed no release time");
    }

    #[test]
    fn corruption_flips_exactly_one_bit() {
        let mut inj = FaultInjector::new(faults("corrupt=100%,seed=11"));
        let out = run(&mut inj, 1000, Duration::ZERO);
        for (n, (_, p)) in out.iter().enumerate() {
            let flipped: u32 = p.iter().zip(numbered(n as u16, 40)).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert_eq!(flipped, 1, "packet {n}");
        }
        assert_eq!(inj.stats().corrupted, 1000);

        // Nothing to flip in an empty packet, and no panic either.
        inj.push(Instant::ZERO, &[]);
        assert_eq!(inj.pop(Instant::ZERO), Some(vec![]));
        assert_eq!(inj.stats().corrupted, 1000);
    }

    #[test]
    fn delay_without_jitter_is_exact() {
        let mut inj = FaultInjector::new(faults("delay=10ms"));
        let sent = Instant::from_millis(3);
        inj.push(sent, &[&[1, 2, 3]]);
        let due = sent + Duration::from_millis(10);
        assert_eq!(inj.poll_at(), Some(due));
        assert_eq!(inj.pop(Instant::from_micros(due.total_micros() - 1)), None);
        assert_eq!(inj.pop(due), Some(vec![1, 2, 3]));
        assert_eq!(inj.poll_at(), None);
    }

    #[test]
    fn packets_over_the_mtu_are_dropped() {
        let mut inj = FaultInjector::new(faults("mtu=100"));
        inj.push(Instant::ZERO, &[&[0; 101]]);
        inj.push(Instant::ZERO, &[&[0; 100]]);
        assert_eq!(inj.pop(Instant::ZERO).map(|p| p.len()), Some(100));
        assert_eq!(inj.pop(Instant::ZERO), None);
        assert_eq!(inj.stats(), FaultStats { passed: 1, too_big: 1, ..FaultStats::default() });
    }

    #[test]
    fn out_of_range_probabilities_do_not_panic() {
        let mut inj = FaultInjector::new(Faults { loss: 7.0, dup: f64::NAN, ..Faults::default() });
        inj.push(Instant::ZERO, &[&[1]]);
        assert_eq!(inj.stats().lost, 1);
    }

    #[test]
    fn recycled_buffers_are_reused() {
        let mut inj = FaultInjector::new(Faults::default());
        inj.push(Instant::ZERO, &[&[1; 64]]);
        let first = inj.pop(Instant::ZERO).unwrap();
        let address = first.as_ptr();
        inj.recycle(first);
        inj.push(Instant::ZERO, &[&[2; 8]]);
        let second = inj.pop(Instant::ZERO).unwrap();
        assert_eq!((second.as_ptr(), second), (address, vec![2; 8]));
    }

    /// A flood into a long delay fills the buffer and no more: the rest is
    /// dropped and counted, duplicates included, and what leaves makes room.
    #[test]
    fn a_full_buffer_drops_and_counts() {
        let mut inj = FaultInjector::new(faults("delay=10s,dup=50%"));
        for _ in 0..400_000 {
            inj.push(Instant::ZERO, &[&[0; 60]]);
        }
        let s = inj.stats();
        assert!(inj.held() <= BUFFER && inj.held() > BUFFER - 200, "held {}", inj.held());
        assert!(s.overflowed > 200_000, "{s:?}");
        assert_eq!(s.passed + s.overflowed, 400_000);
        assert_eq!((inj.in_order.len() + inj.reordered.len()) as u64, s.passed + s.duplicated);

        let later = Instant::ZERO + Duration::from_secs(10);
        let out = inj.pop(later).unwrap();
        inj.recycle(out);
        inj.push(later, &[&[1; 60]]);
        assert_eq!(inj.stats().passed, s.passed + 1, "a packet that left made room");
        while let Some(p) = inj.pop(later + Duration::from_secs(10)) {
            inj.recycle(p);
        }
        assert_eq!((inj.held(), inj.spare.len()), (0, SPARE));
    }

    #[test]
    fn fault_link_holds_delayed_packets_until_due_both_ways() {
        let inner = QueueLink { rx: VecDeque::from([vec![1]]), ..QueueLink::default() };
        let mut link = FaultLink::new(inner, faults("delay=20ms"));
        let mut got = Vec::new();
        assert_eq!(link.recv_batch(&mut |p| got.push(p.to_vec())).unwrap(), 1, "taken from the device");
        link.send(&[&[2]]).unwrap();
        link.flush().unwrap();
        assert!(got.is_empty() && link.inner().tx.is_empty(), "nothing is due yet");
        let due = link.poll_at().expect("packets are held");
        while monotonic_now() < due {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(link.recv_batch(&mut |p| got.push(p.to_vec())).unwrap(), 0);
        link.flush().unwrap();
        assert_eq!((got, &link.inner().tx), (vec![vec![1]], &vec![vec![2]]));
        assert_eq!(link.poll_at(), None);
    }

    #[test]
    fn parse_reads_every_item_in_any_order() {
        let f = faults(" seed=7, mtu=1500,corrupt=0.1%,jitter=200us ,delay=1.5s,reorder=5,dup=1%,loss = 5%,burst=2.5 ");
        let expected = Faults {
            loss: 0.05,
            burst: 2.5,
            dup: 0.01,
            reorder: 0.05,
            corrupt: 0.001,
            delay: Duration::from_millis(1500),
            jitter: Duration::from_micros(200),
            mtu: Some(1500),
            seed: 7,
        };
        assert_eq!(f, expected);
        assert_eq!(faults(""), Faults::default());
        assert_eq!(faults("delay=10ms").delay, Duration::from_millis(10));
    }

    #[test]
    fn display_gives_the_form_back() {
        let form = "loss=5%,burst=4,dup=1%,reorder=5%,delay=10ms,jitter=2ms,corrupt=0.1%,mtu=1500,seed=7";
        assert_eq!(faults(form).to_string(), form);
        assert_eq!(Faults::default().to_string(), "seed=0");
        assert_eq!(faults("delay=1.5s,jitter=2s").to_string(), "delay=1500ms,jitter=2s,seed=0");
        for form in ["loss=33.3%,seed=1", "dup=0.07%,jitter=1us,seed=2", "reorder=100%,mtu=68,seed=3"] {
            let f = faults(form);
            assert_eq!(f.to_string(), form);
            assert_eq!(faults(&f.to_string()), f);
        }
    }

    #[test]
    fn parse_errors_name_the_bad_item() {
        for (input, item) in [
            ("loss=5%,dup=abc", "dup=abc"),
            ("loss=150%", "loss=150%"),
            ("loss=-1", "loss=-1"),
            ("loss=NaN", "loss=NaN"),
            ("delay=10", "delay=10"),
            ("jitter=-2ms", "jitter=-2ms"),
            ("delay=fastms", "delay=fastms"),
            ("mtu=big", "mtu=big"),
            ("mtu=67", "mtu=67"),
            ("mtu=65536", "mtu=65536"),
            ("loss=1%,loss=2%", "loss=2%"),
            ("burst=0.5", "burst=0.5"),
            ("burst=many", "burst=many"),
            ("seed=-1", "seed=-1"),
            ("loss", "loss"),
            ("speed=10", "speed=10"),
        ] {
            let err = input.parse::<Faults>().unwrap_err().to_string();
            assert!(err.contains(&format!("\"{item}\"")), "{input}: {err}");
        }
        let err = "speed=10".parse::<Faults>().unwrap_err().to_string();
        assert_eq!(err, format!("bad fault \"speed=10\": {UNKNOWN}"));
    }
}
