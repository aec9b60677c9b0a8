//! Suite 9, SYN flood: hping3 sends SYNs to the server's port for 10 s
//! while curl fetches a page every 100 ms. Every fetch gets through, in
//! well under a second, and the server's memory stays bounded: once the SYN
//! queue is full, SYNs are answered with SYN cookies (RFC 4987),
//! which hold nothing. Each case also checks that the flood happened:
//! hping3's count of the SYNs it sent against a floor, and the stack's
//! counters of what it answered.
//!
//! The flood stays in the test's own network namespace, on `lo`. hping3 runs
//! at the lowest priority: a real flood comes over the network and spends
//! the attacker's CPU, but on one machine hping3 and the kernel's work of
//! delivering its packets would take the server's, and the test would
//! measure the scheduler.

use std::process::{Command, Output};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tests::*;

const SUITE: &str = "flood";

/// How long hping3 floods.
const FLOOD: Duration = Duration::from_secs(10);

/// The server's resident memory may not pass this during a flood. Idle it
/// is 3-5 MiB; the flood can add at most what the bounded tables hold — a
/// full SYN queue (1,024 half-open TCBs, a few hundred bytes each), 4,096
/// queued replies, the link's 4,096-packet send queue of 44-byte SYN,ACKs
/// — about 2 MiB in all; and the link's receive ring, 4 MiB the kernel
/// shares with us, counted from the start. A SYN cookie itself costs
/// nothing. 20 MiB leaves room for the allocator, and is far below what
/// one kept TCB per SYN would take (several hundred thousand SYNs).
const RSS_BOUND_KIB: u64 = 20 * 1024;

/// The honest client's address. hping3 sends from 127.0.0.1 and walks
/// through every source port, so a client there would now and then share a
/// 4-tuple with a SYN of the flood; a client is another host.
const CLIENT: &str = "127.0.0.3";

/// One fetch: (status, seconds curl took).
fn fetch(url: &str) -> (String, f64) {
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--max-time", "5", "--interface", CLIENT]);
    let out = run_ok(curl.args(["-o", "/dev/null", "-w", "%{http_code} %{time_total}", url]), Duration::from_secs(10));
    let (code, secs) = out.split_once(' ').unwrap_or_else(|| panic!("curl said {out:?}"));
    (code.to_string(), secs.parse().unwrap_or_else(|_| panic!("curl said {out:?}")))
}

/// hping3 sends SYNs to 127.0.0.1:8080 with `extra` options for `FLOOD`, on
/// a thread; its output says how many it sent.
fn hping3(extra: &[&str]) -> JoinHandle<Output> {
    let (duration, port) = (FLOOD.as_secs().to_string(), PORT.to_string());
    let mut hping3 = Command::new("timeout");
    // SIGINT, on which hping3 says how many packets it sent. Quiet (`-q`):
    // a line per reply would be printed as the signal lands, and hping3's
    // handler, printing too, then hung now and then until killed.
    // At nice 19 on two cores the flooded server and the fetches share,
    // hping3 may take many seconds to get the CPU to print and exit
    // (20 s seen once, on a host taking CPU from this VM); `-k` kills it
    // if even that is not enough, before `run` calls it overstayed.
    hping3.args(["-s", "INT", "-k", "25", &duration, "nice", "-n", "19", "hping3", "-q", "-S", "-p", &port]);
    hping3.args(extra).arg("127.0.0.1");
    thread::spawn(move || run(&mut hping3, FLOOD + Duration::from_secs(30)))
}

/// How many SYNs hping3 says it sent ("N packets transmitted"), at least
/// `floor`: hping3's own rate is one a second, so fewer means it did not
/// flood (a lost option, a failed raw socket).
fn sent(hping3: JoinHandle<Output>, floor: u64) -> u64 {
    let out = hping3.join().expect("hping3 thread");
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let sent = said
        .lines()
        .find_map(|l| l.split_once(" packets transmitted").and_then(|(n, _)| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("hping3 did not say how many packets it sent:\n{said}"));
    assert!(sent >= floor, "hping3 sent {sent} SYNs, fewer than {floor}: no flood:\n{said}");
    sent
}

/// A counter of `/_stack.json`.
fn counter(v: &Value, name: &str) -> u64 {
    v["counters"][name].as_u64().unwrap_or_else(|| panic!("no counter {name}: {v}"))
}

/// SYNs the stack answered: with a SYN,ACK from the SYN queue or with a
/// cookie. (A connection made by a returning cookie counts as opened too.)
fn answered(v: &Value) -> u64 {
    counter(v, "syn_cookies_sent") + counter(v, "connections_opened") - counter(v, "syn_cookies_accepted")
}

/// The value at quantile `q` (0 to 1) of `sorted`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// What a flood left: `/_stack.json` after it, how many SYNs hping3 sent,
/// and how many fetches the honest client made meanwhile and after.
struct Flooded {
    stack: Value,
    sent: u64,
    fetches: u64,
}

/// hping3 floods 127.0.0.1:8080 with `extra` options, sending at least
/// `floor` SYNs, while curl fetches `/` every 100 ms once the flood has
/// reached the stack: every fetch is a 200 within 1 s; the RSS stays below
/// `RSS_BOUND_KIB`; afterwards the server still serves. Says what the stack
/// did.
fn flood(name: &str, extra: &[&str], floor: u64) -> Flooded {
    let _heavy = heavy();
    let h = Httpd::start(name, Opts::default());
    let rss_before = h.rss_kib();
    let hping3 = hping3(extra);
    let start = Instant::now();
    // Fetch once the stack has answered more SYNs than its SYN queue holds
    // (1,024): the flood is on, and a queue it can fill is full. Then fetch
    // until just before it ends.
    h.wait_for(Duration::from_secs(5), "the flood reaching the stack", |h| answered(&h.stack()) > 1100);
    let (mut latencies, mut rss_max) = (Vec::new(), rss_before);
    while start.elapsed() < FLOOD - Duration::from_millis(500) {
        let began = Instant::now();
        let (code, secs) = fetch(&h.url("/"));
        assert_eq!(code, "200", "fetch {} during the flood", latencies.len());
        latencies.push(secs);
        rss_max = rss_max.max(h.rss_kib());
        thread::sleep(Duration::from_millis(100).saturating_sub(began.elapsed()));
    }
    let sent = sent(hping3, floor);
    // Served throughout: under a second each, but for the odd fetch whose
    // SYN the flood crowded out of the link's ring (the kernel client
    // sends it again after 1 s; seen once in CI with the host taking CPU
    // from this VM): at most 1 in 20, and never a second retransmission.
    let slow: Vec<_> = latencies.iter().filter(|&&secs| secs >= 1.0).collect();
    assert!(
        slow.len() * 20 <= latencies.len() && slow.iter().all(|&&secs| secs < 3.0),
        "fetches during the flood that took a second or more: {slow:?} of {}",
        latencies.len()
    );
    assert!(rss_max <= RSS_BOUND_KIB, "RSS reached {rss_max} KiB during the flood (bound {RSS_BOUND_KIB} KiB)");

    // The server still serves, and says what it did.
    let (code, _) = fetch(&h.url("/"));
    assert_eq!(code, "200", "a fetch after the flood");
    let v = h.stack();
    let n = |k: &str| counter(&v, k);
    latencies.sort_by(f64::total_cmp);
    let secs = FLOOD.as_secs_f64();
    let answered = answered(&v);
    say(&format!(
        "{name}: hping3 sent {sent} SYNs ({:.0}/s); the stack answered {answered} ({:.0}/s: {} with SYN cookies, \
         {} through the SYN queue; cookies accepted {}, rejected {}; RSTs received {}), kernel drops {}, \
         unsendable {}, send queue overflows {}; {} fetches, p50 {:.1} ms, max {:.1} ms; RSS {rss_before} -> max \
         {rss_max} KiB",
        sent as f64 / secs,
        answered as f64 / secs,
        n("syn_cookies_sent"),
        answered - n("syn_cookies_sent"),
        n("syn_cookies_accepted"),
        n("syn_cookies_rejected"),
        n("rsts_received"),
        v["link"]["kernel_drops"],
        v["link"]["tx_errors"],
        v["link"]["tx_drops"],
        latencies.len(),
        quantile(&latencies, 0.5) * 1000.0,
        quantile(&latencies, 1.0) * 1000.0,
    ));
    Flooded { stack: v, sent, fetches: latencies.len() as u64 + 1 }
}

/// SYNs from 127.0.0.1 itself, at hping3's `--faster` rate (about 12,000
/// to 15,000 a second here; at least 2,000 asked): the kernel answers each
/// of our SYN,ACKs with an RST, which deletes the half-open connection at
/// once, so the SYN queue seldom fills: cookies are reported, not required.
/// What is required: the stack answered at least half the SYNs, and the
/// kernel's RSTs came back for at least half of those.
///
/// Not `--flood`: from the same machine hping3 then offers 150,000 to
/// 350,000 SYNs a second (as busy as the machine lets it), and every
/// SYN,ACK we send costs our core about 4 µs of kernel work we cannot avoid:
/// on `lo` the packet is delivered inside our own `sendmmsg`, where the
/// kernel's TCP finds no socket at hping3's port, builds an RST and delivers
/// that too, past hping3's capture. The stack's own work is a tenth of its
/// 6-7 µs per SYN. So it answers at most about 150,000 SYNs a second; the
/// kernel drops the rest from the link's receive ring before the stack sees
/// them, now and then an honest client's SYN among them, and curl waits 1 s
/// to send it again. (With the kernel's own TCP the same work happens
/// inside hping3's `sendto`: against nginx hping3 manages only 80,000 SYNs
/// a second, and nginx itself spends no CPU on them. With `--rand-source`
/// no RSTs come back, and the stack keeps up with `--flood`: the case
/// below.)
#[test]
fn syn_flood_from_one_address() {
    e2e(SUITE, &["hping3", "timeout", "nice", "curl"], || {
        let f = flood("flood-one-address", &["--faster"], 2_000 * FLOOD.as_secs());
        let answered = answered(&f.stack);
        assert!(answered >= f.sent / 2, "the stack answered {answered} of {} SYNs: {}", f.sent, f.stack);
        let rsts = counter(&f.stack, "rsts_received");
        assert!(rsts >= answered / 2, "{rsts} RSTs for {answered} SYN,ACKs: {}", f.stack);
    });
}

/// SYNs from random source addresses at hping3's `--flood` rate (about
/// 50,000 a second here; at least 10,000 asked): no one answers our
/// SYN,ACKs (in this namespace they cannot even be routed: the kernel drops
/// them past `lo`, and they never hold up the packets behind them in the
/// link's send queue), so the SYN queue fills with the first 1,024 and
/// stays full (a half-open connection lives two minutes, through its
/// SYN,ACK's retransmissions), and every SYN after them is answered with a
/// cookie: most of the flood, and each of the honest client's, whose
/// connection is then made by its ACK returning the cookie. No ACK brings a
/// wrong one.
#[test]
fn syn_flood_from_random_addresses() {
    e2e(SUITE, &["hping3", "timeout", "nice", "curl"], || {
        let f = flood("flood-random-sources", &["--flood", "--rand-source"], 10_000 * FLOOD.as_secs());
        let v = &f.stack;
        let n = |k: &str| counter(v, k);
        assert!(n("syn_cookies_sent") >= f.sent / 2, "{} SYNs sent, few SYN cookies: {v}", f.sent);
        assert!(n("syn_cookies_accepted") >= f.fetches, "{} fetches, not all through a cookie: {v}", f.fetches);
        assert_eq!(n("syn_cookies_rejected"), 0, "an honest ACK's cookie rejected: {v}");
        assert_eq!(v["link"]["tx_drops"], 0, "the unroutable SYN,ACKs held up the link's send queue: {v}");
    });
}

/// SIGTERM in the middle of a flood, with faults and a capture on (an old
/// build, so run, once ignored SIGTERM and grew without end): the server
/// stops at once, since it has no connection to finish (the half-open ones
/// of the flood go with the listener), long before its 5 s grace period
/// would end it; and while flooded its memory stays bounded — each fault
/// injector holds at most its buffer (`faults::BUFFER`, 16 MiB) of delayed
/// packets, the capture writes through a small buffer. No loss among the
/// faults, so that no connection of the harness is still closing when the
/// signal comes. The flood is real: the stack answered more SYNs than its
/// queue holds before the signal, and hping3 sent at least 10,000 a second.
#[test]
fn sigterm_stops_a_flooded_server_with_faults_and_capture() {
    e2e(SUITE, &["hping3", "timeout", "nice"], || {
        let _heavy = heavy();
        let dir = scratch();
        let pcap = dir.path().join("flood.pcap");
        let faults = "dup=1%,reorder=5%,delay=10ms,jitter=2ms,seed=9";
        let opts = Opts::args(&["--faults", faults, "--pcap", pcap.to_str().expect("utf-8 path")]);
        let mut h = Httpd::start("flood-sigterm", opts);
        let hping3 = hping3(&["--flood"]);
        let mut rss_max = 0;
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(200));
            rss_max = rss_max.max(h.rss_kib());
        }
        let v = h.stack();
        assert!(answered(&v) > 1100, "the flood did not reach the stack: {v}");
        let began = Instant::now();
        h.stop();
        let took = began.elapsed();
        let sent = sent(hping3, 10_000 * FLOOD.as_secs());
        let bound = RSS_BOUND_KIB + 2 * (16 << 10);
        assert!(rss_max <= bound, "RSS reached {rss_max} KiB during the flood (bound {bound} KiB)");
        assert!(took < Duration::from_secs(3), "httpd took {took:?} to stop after SIGTERM");
        let captured = std::fs::metadata(&pcap).expect("the capture").len();
        say(&format!(
            "flood-sigterm: hping3 sent {sent} SYNs; stopped {took:?} after SIGTERM; RSS max {rss_max} KiB; capture \
             {captured} bytes"
        ));
    });
}
