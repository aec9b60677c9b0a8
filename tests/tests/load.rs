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

/// wrk with keep-alive over `family`: no socket errors, no non-2xx; then
/// nothing left ESTABLISHED and no TIME-WAIT after 2·MSL.
fn wrk_keep_alive_over(family: Family) {
    e2e(SUITE, &["wrk"], move || {
        let _heavy = heavy();
        let h = Httpd::start(&format!("load-wrk-keep-alive-{family:?}"), Opts::args(&["--msl", MSL]));
        wrk(&h.base(family), 1, 10, &[]);
        settles(&h);
    });
}

#[test]
fn wrk_keep_alive() {
    wrk_keep_alive_over(Family::V4);
}

/// The same to `http://[::1]:8080/`.
#[test]
fn wrk_keep_alive_over_ipv6() {
    wrk_keep_alive_over(Family::V6);
}

/// wrk with `Connection: close` (a connection per request, the server
/// closing first) over `family`: no errors; the server's side ends in
/// TIME-WAIT, which drains to 0 after 2·MSL.
fn wrk_connection_close_over(family: Family) {
    e2e(SUITE, &["wrk"], move || {
        let _heavy = heavy();
        let h = Httpd::start(&format!("load-wrk-close-{family:?}"), Opts::args(&["--msl", MSL]));
        wrk(&h.base(family), 1, 10, &["-H", "Connection: close"]);
        let v = h.stack();
        let opened = v["counters"]["connections_opened"].as_u64().unwrap();
        assert!(opened > 1000, "Connection: close should open a connection per request: {v}");
        assert!(v["time_wait"].as_u64().unwrap() > 0, "the server closed first, so its side waits in TIME-WAIT: {v}");
        settles(&h);
    });
}

#[test]
fn wrk_connection_close() {
    wrk_connection_close_over(Family::V4);
}

/// The same to `http://[::1]:8080/`.
#[test]
fn wrk_connection_close_over_ipv6() {
    wrk_connection_close_over(Family::V6);
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
