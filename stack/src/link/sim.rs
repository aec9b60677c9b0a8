//! An in-memory network of hosts under a virtual clock.
//!
//! Tests of a TCP stack need a network that loses, duplicates and reorders on
//! demand, replays exactly, and runs a minute of protocol time in a
//! millisecond. The [`Network`] is that: it holds the hosts, and the clock.
//! Packets get out of a host when the network calls [`Host::transmit`]; the
//! destination address in the IPv4 or IPv6 header picks the receiving host
//! (a host may have an address of each family: [`Network::add_address`]), and the
//! packet waits in the [`FaultInjector`] of that direction of that pair until
//! its release time; then it gets into the receiver with [`Host::receive`].
//! Nothing sleeps: when nothing is due, the clock jumps to the next release
//! time or timer.
//!
//! With no delay on a path, a whole conversation happens at one instant. Two
//! hosts that answer each other's every packet forever then keep the clock
//! from moving; give such paths a delay.

use std::collections::HashMap;

use ahash::RandomState;
use std::net::IpAddr;

use super::faults::{FaultInjector, FaultStats, Faults};
use crate::time::Instant;
use crate::Stack;

/// What the simulator needs of a host: the same four calls an event loop
/// makes on the real stack.
pub trait Host {
    /// A packet arrives (one place where segments arrive).
    fn receive(&mut self, now: Instant, packet: &[u8]);
    /// Timers that are due fire.
    fn poll(&mut self, now: Instant);
    /// Packets leave, one call of `emit` each, with the packet in parts
    /// to be joined in order, the first holding at least the IP header
    /// (as `Stack::transmit` gives them).
    fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]]));
    /// When the host next needs `poll`, if ever.
    fn poll_at(&self) -> Option<Instant>;
}

/// The simulator drives a stack exactly as an event loop does.
impl Host for Stack {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        Stack::receive(self, now, packet);
    }
    fn poll(&mut self, now: Instant) {
        Stack::poll(self, now);
    }
    fn transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
        Stack::transmit(self, now, emit);
    }
    fn poll_at(&self) -> Option<Instant> {
        Stack::poll_at(self)
    }
}

/// The destination address of an IPv4 or IPv6 packet from its first part,
/// or `None` if that is too short or of another version. The header is
/// not checked: a router forwards on the address alone, and the receiver
/// judges the rest.
fn destination(packet: &[&[u8]]) -> Option<IpAddr> {
    let header = packet.first()?;
    match header.first()? >> 4 {
        4 => Some(<[u8; 4]>::try_from(header.get(16..20)?).ok()?.into()),
        6 => Some(<[u8; 16]>::try_from(header.get(24..40)?).ok()?.into()),
        _ => None,
    }
}

struct Node<H> {
    /// The address it was added with: it names the host in the stats and
    /// seeds its paths' fates, whichever family a packet is of.
    addr: IpAddr,
    host: H,
}

/// One direction between two hosts, by index.
struct Path {
    from: usize,
    to: usize,
    injector: FaultInjector,
}

/// The paths that have carried a packet (or were given faults), created on
/// first use so that a network of many hosts pays only for pairs that talk.
struct Paths {
    list: Vec<Path>,
    index: HashMap<(usize, usize), usize, RandomState>,
}

impl Paths {
    fn get(&mut self, from: usize, to: usize, faults: impl FnOnce() -> Faults) -> &mut FaultInjector {
        let i = self.position(from, to, faults);
        &mut self.list[i].injector
    }

    /// The index in `list` of the path from `from` to `to`, made if new.
    fn position(&mut self, from: usize, to: usize, faults: impl FnOnce() -> Faults) -> usize {
        *self.index.entry((from, to)).or_insert_with(|| {
            self.list.push(Path { from, to, injector: FaultInjector::new(faults()) });
            self.list.len() - 1
        })
    }
}

/// A packet as it was delivered, kept when capture is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub at: Instant,
    /// Index of the receiving host.
    pub to: usize,
    pub packet: Vec<u8>,
}

/// What happened to the packets hosts sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkStats {
    /// Packets handed to a receiving host.
    pub delivered: u64,
    /// Packets dropped for having no known destination (or no IP header).
    pub no_route: u64,
    /// What each path's injector did, in the order the paths were first used.
    pub paths: Vec<PathStats>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PathStats {
    /// The hosts' addresses, as `Network::addr` gives them.
    pub from: IpAddr,
    pub to: IpAddr,
    pub faults: FaultStats,
}

/// Hosts joined by paths with faults, under a virtual clock.
pub struct Network<H: Host> {
    now: Instant,
    /// Faults of each path not given its own.
    faults: Faults,
    hosts: Vec<Node<H>>,
    /// Every address: its host's index, and the address the host was added
    /// with (which seeds the paths).
    by_addr: HashMap<IpAddr, (usize, IpAddr), RandomState>,
    paths: Paths,
    delivered: u64,
    no_route: u64,
    capture: Option<Vec<Delivery>>,
}

impl<H: Host> Network<H> {
    /// A network whose every path has `faults`, each path with its own seed
    /// derived from `faults.seed` and its two addresses (so paths draw
    /// different fates, and adding a host changes no other path's fates).
    /// The clock starts at `Instant::ZERO`.
    pub fn new(faults: Faults) -> Self {
        Network {
            now: Instant::ZERO,
            faults,
            hosts: Vec::new(),
            by_addr: HashMap::default(),
            paths: Paths { list: Vec::new(), index: HashMap::default() },
            delivered: 0,
            no_route: 0,
            capture: None,
        }
    }

    /// Adds a host that receives the packets sent to `addr`; returns its index.
    ///
    /// # Panics
    /// If another host already has `addr`.
    pub fn add_host(&mut self, addr: impl Into<IpAddr>, host: H) -> usize {
        let (addr, i) = (addr.into(), self.hosts.len());
        self.hosts.push(Node { addr, host });
        self.add_address(i, addr);
        i
    }

    /// Host `i` receives the packets sent to `addr` too: a host with an
    /// IPv4 and an IPv6 address. Both families take the same path between
    /// two hosts, with its faults.
    ///
    /// # Panics
    /// If another host already has `addr`.
    pub fn add_address(&mut self, i: usize, addr: impl Into<IpAddr>) {
        let addr = addr.into();
        let previous = self.by_addr.insert(addr, (i, self.hosts[i].addr));
        assert!(previous.is_none_or(|(host, _)| host == i), "two hosts with address {addr}");
    }

    pub fn host(&self, i: usize) -> &H {
        &self.hosts[i].host
    }

    pub fn host_mut(&mut self, i: usize) -> &mut H {
        &mut self.hosts[i].host
    }

    /// The address host `i` was added with.
    pub fn addr(&self, i: usize) -> IpAddr {
        self.hosts[i].addr
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Gives the path from host `from` to host `to` its own faults (and seed)
    /// from now on; packets already on it keep their release times.
    pub fn set_path_faults(&mut self, from: usize, to: usize, faults: Faults) {
        self.paths.get(from, to, || faults.clone()).set_faults(faults);
    }

    /// Starts (`true`) or stops keeping a copy of every delivered packet;
    /// stopping discards what was kept.
    pub fn capture(&mut self, on: bool) {
        self.capture = on.then(|| self.capture.take().unwrap_or_default());
    }

    /// The packets delivered while capture was on, oldest first; they are
    /// removed from the capture.
    pub fn take_captured(&mut self) -> Vec<Delivery> {
        self.capture.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub fn stats(&self) -> NetworkStats {
        let paths = self.paths.list.iter().map(|path| PathStats {
            from: self.hosts[path.from].addr,
            to: self.hosts[path.to].addr,
            faults: path.injector.stats(),
        });
        NetworkStats { delivered: self.delivered, no_route: self.no_route, paths: paths.collect() }
    }

    /// One round at the current time: every host transmits, the packets
    /// enter the paths, every packet due by now is delivered, and due timers
    /// fire. No time passes.
    pub fn step(&mut self) {
        self.transmit_all();
        self.deliver_and_poll();
    }

    /// Sends what the hosts have queued; the application may have given them
    /// data since the last round, and `Host` has no way to ask.
    fn transmit_all(&mut self) {
        let Network { now, faults, hosts, by_addr, paths, no_route, .. } = self;
        for (from, node) in hosts.iter_mut().enumerate() {
            let from_addr = node.addr;
            // A host's packets mostly go where its last one went: that
            // path is remembered, not looked up in two maps per packet.
            let mut last: Option<(IpAddr, usize)> = None;
            node.host.transmit(*now, &mut |packet| {
                let Some(to_addr) = destination(packet) else {
                    *no_route += 1;
                    return;
                };
                let path = match last {
                    Some((addr, path)) if addr == to_addr => path,
                    _ => {
                        let Some(&(to, to_host)) = by_addr.get(&to_addr) else {
                            *no_route += 1;
                            return;
                        };
                        let path_faults =
                            || Faults { seed: path_seed(faults.seed, from_addr, to_host), ..faults.clone() };
                        let path = paths.position(from, to, path_faults);
                        last = Some((to_addr, path));
                        path
                    }
                };
                paths.list[path].injector.push(*now, packet);
            });
        }
    }

    fn deliver_and_poll(&mut self) {
        let now = self.now;
        for path in &mut self.paths.list {
            while let Some(packet) = path.injector.pop(now) {
                self.hosts[path.to].host.receive(now, &packet);
                self.delivered += 1;
                match &mut self.capture {
                    Some(captured) => captured.push(Delivery { at: now, to: path.to, packet }),
                    None => path.injector.recycle(packet),
                }
            }
        }
        for node in &mut self.hosts {
            if node.host.poll_at().is_some_and(|at| at <= now) {
                node.host.poll(now);
            }
        }
    }

    /// The earliest release time or timer, if anything is pending.
    fn next_event(&self) -> Option<Instant> {
        let hosts = self.hosts.iter().filter_map(|node| node.host.poll_at());
        let paths = self.paths.list.iter().filter_map(|path| path.injector.poll_at());
        hosts.chain(paths).min()
    }

    /// Moves the clock to the next event, but not beyond `limit`, and runs a
    /// round there. Returns false when nothing is pending by `limit`; the
    /// clock then stands at `limit` (idle time passes too).
    pub fn advance(&mut self, limit: Instant) -> bool {
        self.transmit_all();
        match self.next_event() {
            Some(at) if at <= limit => {
                // A timer already overdue runs now; the clock never goes back.
                self.now = self.now.max(at);
                self.deliver_and_poll();
                true
            }
            _ => {
                self.now = self.now.max(limit);
                false
            }
        }
    }

    /// Runs rounds until `done` is true or nothing is pending by `deadline`;
    /// returns whether done.
    pub fn run_until(&mut self, deadline: Instant, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if !self.advance(deadline) {
                return done(self);
            }
        }
    }
}

/// A seed for one direction between two hosts, by their addresses, so
/// that each path draws its own fates from the network's seed.
fn path_seed(seed: u64, from: IpAddr, to: IpAddr) -> u64 {
    let bits = |addr: IpAddr| match addr {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => {
            let b = a.to_bits();
            b as u64 ^ (b >> 64) as u64
        }
    };
    seed ^ (bits(from) << 32 | bits(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A 20-byte IPv4 header (no checksum; nothing here checks it) with
    /// `id` to tell packets apart, then `payload` zero bytes.
    fn packet(src: Ipv4Addr, dst: Ipv4Addr, id: u16, ttl: u8, payload: usize) -> Vec<u8> {
        let mut p = vec![0; 20 + payload];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(20 + payload as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.to_be_bytes());
        p[8] = ttl;
        p[9] = 253; // "use for experimentation and testing" (RFC 3692)
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        p
    }

    fn id(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[4], p[5]])
    }

    /// Sends what it is told to, keeps what it receives, answers packets
    /// whose TTL is above 1 with addresses swapped and TTL one less (so
    /// ping-pong ends), and has a timer that re-arms every `tick` if set.
    #[derive(Default)]
    struct TestHost {
        outbox: Vec<Vec<u8>>,
        received: Vec<(Instant, Vec<u8>)>,
        tick: Option<Duration>,
        timer: Option<Instant>,
        polls: u32,
    }

    impl Host for TestHost {
        fn receive(&mut self, now: Instant, packet: &[u8]) {
            self.received.push((now, packet.to_vec()));
            if packet.len() >= 20 && packet[8] > 1 {
                let mut echo = packet.to_vec();
                echo[8] -= 1;
                echo[12..20].rotate_left(4);
                self.outbox.push(echo);
            }
        }
        fn poll(&mut self, now: Instant) {
            self.polls += 1;
            self.timer = self.tick.map(|tick| now + tick);
        }
        fn transmit(&mut self, _now: Instant, emit: &mut dyn FnMut(&[&[u8]])) {
            for p in self.outbox.drain(..) {
                emit(&[&p]);
            }
        }
        fn poll_at(&self) -> Option<Instant> {
            self.timer
        }
    }

    fn pair(faults: &str) -> Network<TestHost> {
        let mut net = Network::new(faults.parse().unwrap());
        net.add_host(A, TestHost::default());
        net.add_host(B, TestHost::default());
        net
    }

    /// Host 0 sends `count` packets to host 1, one every 100us, each to be
    /// echoed back `echoes` times; then the network runs dry.
    fn exchange(net: &mut Network<TestHost>, count: u16, echoes: u8) {
        for n in 0..count {
            net.host_mut(0).outbox.push(packet(A, B, n, echoes + 1, 10));
            let next = net.now() + Duration::from_micros(100);
            net.run_until(next, |_| false);
        }
        net.run_until(Instant::from_secs(60), |_| false);
    }

    #[test]
    fn packets_reach_the_host_they_are_addressed_to() {
        let mut net = pair("");
        net.capture(true);
        net.host_mut(0).outbox.push(packet(A, B, 1, 1, 0));
        net.step();
        assert_eq!(net.host(1).received, [(Instant::ZERO, packet(A, B, 1, 1, 0))]);
        assert!(net.host(0).received.is_empty());
        assert_eq!(net.take_captured(), [Delivery { at: Instant::ZERO, to: 1, packet: packet(A, B, 1, 1, 0) }]);
        assert_eq!(net.stats().delivered, 1);
    }

    /// A 40-byte IPv6 header from `src` to `dst`, nothing after it.
    fn packet6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut p = vec![0; 40];
        p[0] = 0x60;
        p[6] = 253;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p
    }

    #[test]
    fn a_host_gets_the_packets_of_each_of_its_addresses_on_one_path() {
        let mut net = pair("");
        // Of the discard prefix (RFC 6666), whose first byte keeps
        // `TestHost` from echoing them.
        let (a6, b6): (Ipv6Addr, Ipv6Addr) = ("100::1".parse().unwrap(), "100::2".parse().unwrap());
        net.add_address(0, a6);
        net.add_address(1, b6);
        net.host_mut(0).outbox.extend([packet(A, B, 1, 1, 0), packet6(a6, b6)]);
        net.step();
        let received: Vec<&[u8]> = net.host(1).received.iter().map(|(_, p)| &p[..]).collect();
        assert_eq!(received, [&packet(A, B, 1, 1, 0)[..], &packet6(a6, b6)]);
        let stats = net.stats();
        assert_eq!(stats.paths.len(), 1);
        assert_eq!((stats.paths[0].from, stats.paths[0].to), (IpAddr::from(A), IpAddr::from(B)));
    }

    #[test]
    #[should_panic(expected = "two hosts with address 10.0.0.1")]
    fn an_address_belongs_to_one_host() {
        let mut net = pair("");
        net.add_address(1, A);
    }

    #[test]
    fn unroutable_packets_are_dropped_and_counted() {
        let mut net = pair("");
        let c = Ipv4Addr::new(10, 0, 0, 3);
        let mut not_ipv4 = packet(A, B, 2, 1, 0);
        not_ipv4[0] = 0x65;
        net.host_mut(0).outbox.extend([packet(A, c, 1, 1, 0), not_ipv4, vec![], vec![0x45; 19]]);
        net.step();
        let stats = net.stats();
        assert_eq!((stats.no_route, stats.delivered), (4, 0));
        assert!(net.host(1).received.is_empty());
    }

    #[test]
    fn packets_sent_together_to_several_hosts_each_reach_theirs() {
        let mut net = pair("");
        let (c, nowhere) = (Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 4));
        net.add_host(c, TestHost::default());
        let to = [B, B, c, nowhere, B, c, c];
        net.host_mut(0).outbox.extend(to.iter().enumerate().map(|(n, &dst)| packet(A, dst, n as u16, 1, 0)));
        net.step();
        let ids = |host: usize| net.host(host).received.iter().map(|(_, p)| id(p)).collect::<Vec<_>>();
        assert_eq!((ids(1), ids(2)), (vec![0, 1, 4], vec![2, 5, 6]));
        assert_eq!((net.stats().no_route, net.stats().paths.len()), (1, 2));
    }

    #[test]
    fn delay_delays_by_exactly_delay() {
        let mut net = pair("delay=10ms");
        net.host_mut(0).outbox.push(packet(A, B, 1, 2, 0));
        assert!(net.run_until(Instant::from_secs(1), |net| !net.host(0).received.is_empty()));
        assert_eq!(net.host(1).received[0].0, Instant::from_millis(10));
        assert_eq!(net.host(0).received[0].0, Instant::from_millis(20));
        assert_eq!(net.now(), Instant::from_millis(20));
    }

    #[test]
    fn same_seed_same_trace_other_seed_other_trace() {
        let trace = |seed: u64| {
            let mut net = pair(&format!("loss=10%,dup=5%,reorder=10%,corrupt=5%,delay=2ms,jitter=1ms,seed={seed}"));
            net.capture(true);
            exchange(&mut net, 300, 3);
            net.take_captured()
        };
        let one = trace(1);
        assert!(one.len() > 600, "{} delivered", one.len());
        assert_eq!(one, trace(1));
        assert_ne!(one, trace(2));
    }

    #[test]
    fn each_direction_draws_its_own_fates() {
        let mut net = pair("loss=50%,seed=1");
        net.host_mut(0).outbox.extend((0..64).map(|n| packet(A, B, n, 1, 0)));
        net.host_mut(1).outbox.extend((0..64).map(|n| packet(B, A, n, 1, 0)));
        net.step();
        let ids = |host: &TestHost| host.received.iter().map(|(_, p)| id(p)).collect::<Vec<_>>();
        assert_ne!(ids(net.host(0)), ids(net.host(1)));
    }

    #[test]
    fn a_path_can_have_its_own_faults() {
        let mut net = pair("");
        net.set_path_faults(0, 1, "loss=100%".parse().unwrap());
        exchange(&mut net, 10, 0);
        net.host_mut(1).outbox.push(packet(B, A, 1, 1, 0));
        net.step();
        assert!(net.host(1).received.is_empty());
        assert_eq!(net.host(0).received.len(), 1);
        let stats = net.stats();
        assert_eq!(
            stats.paths[0],
            PathStats { from: A.into(), to: B.into(), faults: FaultStats { lost: 10, ..FaultStats::default() } }
        );
        assert_eq!(stats.paths[1].faults.passed, 1);
    }

    #[test]
    fn faults_on_the_way_show_in_the_stats() {
        let mut net = pair("loss=20%,dup=20%,reorder=20%,delay=1ms,mtu=68,seed=5");
        exchange(&mut net, 1000, 0);
        net.host_mut(0).outbox.push(packet(A, B, 9999, 1, 49));
        net.step();
        let path = &net.stats().paths[0].faults;
        assert_eq!(path.passed + path.lost + path.too_big, 1001);
        assert_eq!(path.too_big, 1);
        assert!(path.lost > 150 && path.duplicated > 100 && path.reordered > 150, "{path:?}");
        assert_eq!(net.host(1).received.len() as u64, path.passed + path.duplicated);
        let ids: Vec<u16> = net.host(1).received.iter().map(|(_, p)| id(p)).collect();
        assert!(ids.windows(2).any(|w| w[0] > w[1]), "nothing was reordered");
    }

    #[test]
    fn timers_fire_when_due_and_run_until_stops_at_the_deadline() {
        let mut net = pair("");
        let tick = Duration::from_millis(10);
        net.host_mut(0).tick = Some(tick);
        net.host_mut(0).timer = Some(Instant::ZERO + tick);
        // A packet arriving before the timer is due does not fire it.
        net.host_mut(1).outbox.push(packet(B, A, 1, 1, 0));
        assert!(!net.run_until(Instant::from_millis(95), |_| false));
        assert_eq!(net.host(0).received.len(), 1);
        assert_eq!(net.host(0).polls, 9);
        assert_eq!(net.now(), Instant::from_millis(95));

        assert!(net.run_until(Instant::from_secs(10), |net| net.host(0).polls == 20));
        assert_eq!(net.now(), Instant::from_millis(200));
    }

    #[test]
    fn advance_on_an_idle_network_lets_time_pass() {
        let mut net = pair("delay=5ms");
        assert!(!net.advance(Instant::from_millis(3)));
        assert_eq!(net.now(), Instant::from_millis(3));
        net.host_mut(0).outbox.push(packet(A, B, 1, 1, 0));
        assert!(!net.advance(Instant::from_millis(4)), "packet released at 8ms");
        assert!(net.advance(Instant::from_millis(10)));
        assert_eq!(net.now(), Instant::from_millis(8));
        assert_eq!(net.host(1).received.len(), 1);

        // `done` has the last word, even once nothing is left to do.
        let deadline = Instant::from_millis(50);
        assert!(net.run_until(deadline, |net| net.now() == deadline));
    }
}
