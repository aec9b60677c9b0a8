//! Suite 3, load: wrk (HTTP/1.1, 100 connections) and ab (HTTP/1.0
//! keep-alive) against the server; afterwards nothing is left ESTABLISHED
//! and TIME-WAIT drains after 2·MSL.

use std::process::Command;
use std::time::{Duration, Instant};

use tests::*;

const SUITE: &str = "load";
/// MSL for these runs: TIME-WAIT lasts 2 s.
const MSL: &str = "1";

/// After the load: no connection ESTABLISHED (other than the asker's), and
/// TIME-WAIT empties within 2·MSL (plus slack for the clients' closes).
fn settles(h: &Httpd) {
    h.wait_for(Duration::from_secs(5), "no connection ESTABLISHED", |h| h.in_state("ESTABLISHED").is_empty());
    let start = Instant::now();
    h.wait_for(Duration::from_secs(5), "TIME-WAIT drained", |h| h.time_wait() == 0);
    assert!(start.elapsed() <= Duration::from_secs(5));
    let v = h.stack();
    let conns = v["connections"].as_array().unwrap();
    assert!(conns.is_empty(), "connections left: {conns:?}");
}

/// wrk with keep-alive: no socket errors, no non-2xx; then nothing left
/// ESTABLISHED and no TIME-WAIT after 2·MSL.
#[test]
fn wrk_keep_alive() {
    e2e(SUITE, &["wrk"], || {
        let _heavy = heavy();
        let h = Httpd::start("load-wrk-keep-alive", Opts::args(&["--msl", MSL]));
        wrk(&h, 1, 10, &[]);
        settles(&h);
    });
}

/// wrk with `Connection: close` (a connection per request, the server
/// closing first): no errors; the server's side ends in TIME-WAIT, which
/// drains to 0 after 2·MSL.
#[test]
fn wrk_connection_close() {
    e2e(SUITE, &["wrk"], || {
        let _heavy = heavy();
        let h = Httpd::start("load-wrk-close", Opts::args(&["--msl", MSL]));
        wrk(&h, 1, 10, &["-H", "Connection: close"]);
        let v = h.stack();
        let opened = v["counters"]["connections_opened"].as_u64().unwrap();
        assert!(opened > 1000, "Connection: close should open a connection per request: {v}");
        assert!(v["time_wait"].as_u64().unwrap() > 0, "the server closed first, so its side waits in TIME-WAIT: {v}");
        settles(&h);
    });
}

/// ab -k (HTTP/1.0 keep-alive), 20,000 requests, 50 at a time: all complete,
/// none failed, all 2xx.
#[test]
fn ab_keep_alive() {
    e2e(SUITE, &["ab"], || {
        let _heavy = heavy();
        let h = Httpd::start("load-ab", Opts::args(&["--msl", MSL]));
        let out = run_ok(
            Command::new("ab").args(["-q", "-k", "-n", "20000", "-c", "50", "-s", "10"]).arg(h.url("/files/1KiB.txt")),
            Duration::from_secs(120),
        );
        assert!(out.contains("Complete requests:      20000"), "{out}");
        assert!(out.contains("Failed requests:        0"), "{out}");
        assert!(!out.contains("Non-2xx"), "{out}");
        assert!(out.contains("Keep-Alive requests:    20000"), "ab's requests were not all kept alive:\n{out}");
        settles(&h);
    });
}
