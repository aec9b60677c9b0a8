//! Suite slow: clients that are slow on purpose. slowhttptest opens 1,000
//! connections that send their headers a line at a time (slowloris) or read
//! the response a few bytes at a time (slow read), while curl fetches a page
//! every 100 ms. Every fetch must succeed, and the server must end the slow
//! connections itself when their timeouts pass: 408 and close for the
//! headers, a reset for the reader. The timeouts are short (2 s) so that
//! each case takes about 20 s.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tests::*;

const SUITE: &str = "slow";
const CONNECTIONS: u64 = 1000;

/// httpd with 2 s header and send timeouts.
fn httpd(name: &str) -> Httpd {
    Httpd::start(name, Opts::args(&["--header-timeout", "2", "--send-timeout", "2"]))
}

/// curl fetching `/` every 100 ms until told to stop: each fetch's status
/// and total time in seconds.
struct Fetcher {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<(String, f64)>>,
}

impl Fetcher {
    fn start(url: String) -> Fetcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut fetches = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let out = run(
                    Command::new("curl").args(["-sS", "-o", "/dev/null", "--max-time", "5"]).args([
                        "-w",
                        "%{http_code} %{time_total}",
                        &url,
                    ]),
                    Duration::from_secs(10),
                );
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let (code, time) = text.split_once(' ').unwrap_or(("000", "0"));
                let code = if out.status.success() { code.to_string() } else { format!("curl failed: {code}") };
                fetches.push((code, time.parse().unwrap_or(f64::NAN)));
                thread::sleep(Duration::from_millis(100));
            }
            fetches
        });
        Fetcher { stop, thread }
    }

    /// Stops, checks that every fetch got 200, and returns the latency
    /// median and maximum in milliseconds.
    fn finish(self, what: &str) -> (f64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let fetches = self.thread.join().expect("fetcher");
        let failed: Vec<_> = fetches.iter().filter(|(code, _)| code != "200").collect();
        assert!(fetches.len() >= 20, "{what}: only {} fetches", fetches.len());
        assert!(failed.is_empty(), "{what}: {} of {} fetches failed: {failed:?}", failed.len(), fetches.len());
        let mut ms: Vec<f64> = fetches.iter().map(|(_, t)| t * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let (p50, max) = (ms[ms.len() / 2], ms[ms.len() - 1]);
        say(&format!("{what}: {} fetches, all 200; latency p50 {p50:.1} ms, max {max:.1} ms", ms.len()));
        (p50, max)
    }
}

/// slowhttptest's report without its terminal colours.
fn plain(s: &[u8]) -> String {
    let s = String::from_utf8_lossy(s);
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC '[' parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs slowhttptest with `mode` options against `h` for at most 25 s;
/// checks that it found the service available throughout, that it saw its
/// connections open, and that it ended because none was left open (the
/// server closed them all before its time limit).
fn slowhttptest(h: &Httpd, mode: &[&str]) {
    let dir = scratch();
    let prefix = dir.path().join("report");
    let out = run(
        Command::new("slowhttptest")
            .args(mode)
            .args(["-c", &CONNECTIONS.to_string(), "-r", "200", "-l", "25", "-p", "2", "-g", "-o"])
            .arg(&prefix)
            .args(["-u", &h.url("/files/1MiB.bin")]),
        Duration::from_secs(60),
    );
    let report = plain(&out.stdout);
    let tail: String =
        report.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(out.status.success(), "slowhttptest {mode:?} failed ({}):\n{tail}", out.status);
    assert!(!report.contains("service available:   NO"), "slowhttptest found the service unavailable:\n{tail}");
    assert!(
        report.contains("Exit status: No open connections left"),
        "slowhttptest {mode:?} ended with connections still open:\n{tail}"
    );
    // Its per-second CSV: seconds, closed, pending, connected, ...
    let csv = std::fs::read_to_string(prefix.with_extension("csv")).expect("slowhttptest's CSV");
    let most_connected =
        csv.lines().skip(1).filter_map(|l| l.split(',').nth(3)?.parse::<u64>().ok()).max().unwrap_or(0);
    say(&format!("slowhttptest {mode:?}: up to {most_connected} slow connections open at once"));
    assert!(most_connected >= 50, "the attack never got going: at most {most_connected} connections open\n{csv}");
}

/// The kernel's connections to the server, as the clients' side sees them.
fn kernel_established() -> usize {
    run_ok(Command::new("ss").args(["-Htn", "state", "established", "( dport = :8080 )"]), Duration::from_secs(10))
        .lines()
        .count()
}

/// After the attack: httpd holds no connection (but the asker's), and
/// neither does the clients' kernel.
fn nothing_left(h: &Httpd) {
    h.wait_for(Duration::from_secs(5), "httpd holds no connection", |h| {
        h.stack()["connections"].as_array().is_some_and(|c| c.is_empty())
    });
    assert_eq!(kernel_established(), 0, "the kernel still has connections to the server");
}

/// Slowloris: `slowhttptest -H` sends a header line every second and never
/// ends the head. Each connection gets 408 and a close when its 2 s pass
/// (`header_timeouts` counts them), curl is served throughout.
#[test]
fn slowloris_gets_408_and_close() {
    e2e(SUITE, &["slowhttptest", "curl", "ss"], || {
        let _heavy = heavy();
        let h = httpd("slow-headers");
        let fetcher = Fetcher::start(h.url("/"));
        slowhttptest(&h, &["-H", "-i", "1"]);
        fetcher.finish("fetches during slowloris");
        nothing_left(&h);
        let http = &h.stack()["http"];
        assert_eq!(http["header_timeouts"].as_u64(), Some(CONNECTIONS), "{http}");
        assert_eq!(http["send_timeouts"].as_u64(), Some(0), "{http}");
        let timed_out = h.access_statuses().iter().filter(|(_, status)| *status == 408).count() as u64;
        assert_eq!(timed_out, CONNECTIONS, "408s in the access log");
    });
}

/// Slow read: `slowhttptest -X` pipelines three requests for 1 MiB, offers
/// a window of at most about a kilobyte and reads it every 5 s. The peer
/// takes nothing for the 2 s send timeout, so the server resets each
/// connection (`send_timeouts`, and an RST each in `rsts_sent`); the reader
/// finds the reset once it has read what its kernel held.
#[test]
fn slow_readers_are_reset() {
    e2e(SUITE, &["slowhttptest", "curl", "ss"], || {
        let _heavy = heavy();
        let h = httpd("slow-read");
        let fetcher = Fetcher::start(h.url("/"));
        slowhttptest(&h, &["-X", "-k", "3", "-w", "512", "-y", "1024", "-n", "5", "-z", "4096"]);
        fetcher.finish("fetches during slow read");
        nothing_left(&h);
        let v = h.stack();
        assert_eq!(v["http"]["send_timeouts"].as_u64(), Some(CONNECTIONS), "{}", v["http"]);
        assert!(v["counters"]["rsts_sent"].as_u64().unwrap() >= CONNECTIONS, "{}", v["counters"]);
    });
}

/// A response that fits in TCP's send buffer, then `Connection: close`:
/// the server hands it all over and sends its FIN behind it, but the client
/// never reads, so its window stays shut. The server must not leave the
/// connection in FIN-WAIT-1 for as long as the client answers its window
/// probes: after the send timeout it resets it, and holds nothing.
#[test]
fn a_closed_connection_that_is_never_read_is_reset() {
    e2e(SUITE, &[], || {
        use std::io::Write;
        let h = httpd("slow-linger");
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(1024).unwrap(); // before connect: the window it offers
        sock.connect(&h.addr.into()).unwrap();
        let mut s: std::net::TcpStream = sock.into();
        s.write_all(b"GET /files/1MiB.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-99999\r\nConnection: close\r\n\r\n")
            .unwrap();
        h.wait_for(Duration::from_secs(10), "the send timeout", |h| h.stack()["http"]["send_timeouts"] == 1);
        nothing_left(&h);
        assert_eq!(h.time_wait(), 0, "reset, not closed");
        drop(s);
    });
}

/// An idle keep-alive connection is closed by the server, FIN first, when
/// `--keep-alive-timeout` passes; the client reads the end of the stream.
#[test]
fn idle_keep_alive_is_closed() {
    e2e(SUITE, &[], || {
        use std::io::{Read, Write};
        let h = Httpd::start("slow-idle", Opts::args(&["--keep-alive-timeout", "1"]));
        let mut s = std::net::TcpStream::connect(h.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /files/1KiB.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        // The response, then — after the idle second — the end of the stream.
        loop {
            let n = s.read(&mut buf).expect("the server closes before the 10 s read timeout");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(got.ends_with(&std::fs::read(www().join("files/1KiB.txt")).unwrap()));
        assert_eq!(h.stack()["http"]["idle_timeouts"].as_u64(), Some(1));
    });
}
