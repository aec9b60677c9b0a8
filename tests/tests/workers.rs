//! Suite workers: `httpd --workers N`, a stack per thread, the kernel
//! sharing the connections out between their links by a hash of each
//! flow. Under wrk every connection completes and closes, every worker
//! serves, the access log's lines stay whole; a client reopening a
//! 4-tuple from TIME-WAIT comes to the worker that holds the entry.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use tests::*;

const SUITE: &str = "workers";

/// Each worker's `counter` in `/_stack.json`.
fn per_worker(v: &Value, counter: &str) -> Vec<u64> {
    let workers = v["workers"].as_array().unwrap_or_else(|| panic!("no workers in {v}"));
    workers.iter().map(|w| w["counters"][counter].as_u64().unwrap_or_else(|| panic!("no {counter} in {w}"))).collect()
}

/// Each worker's TIME-WAIT entries.
fn time_wait(v: &Value) -> Vec<u64> {
    v["workers"].as_array().unwrap().iter().map(|w| w["time_wait"].as_u64().unwrap()).collect()
}

/// With `workers` workers: wrk with `Connection: close`, then with
/// keep-alive, over `family`. Every worker opened connections (the
/// kernel's flow hash spreads IPv6 flows too); every connection the
/// server opened closed, through TIME-WAIT; nothing is left after 2·MSL;
/// every access-log line is whole, one per response at least; SIGTERM
/// stops them all.
fn under_wrk(workers: usize, family: Family) {
    let n = workers.to_string();
    let mut h = Httpd::start(&format!("workers-{n}-{family:?}"), Opts::args(&["--workers", &n, "--msl", "1"]));
    let closed = wrk(&h.base(family), 2, 5, &["-H", "Connection: close"]);
    let v = h.stack();
    let opened = per_worker(&v, "connections_opened");
    assert_eq!(opened.len(), workers, "{v}");
    assert!(opened.iter().all(|&o| o > 0), "a worker got no connection: {opened:?}");
    assert!(opened.iter().sum::<u64>() >= closed, "{closed} responses on fewer connections: {v}");
    let kept = wrk(&h.base(family), 2, 5, &[]);
    say(&format!(
        "--workers {n}: {closed} connections closed, {kept} requests kept alive; opened by worker {opened:?}"
    ));

    h.wait_for(Duration::from_secs(5), "no connection left", |h| {
        h.stack()["connections"].as_array().unwrap().is_empty()
    });
    h.wait_for(Duration::from_secs(5), "TIME-WAIT drained", |h| h.time_wait() == 0);
    let v = h.stack();
    let opened: u64 = per_worker(&v, "connections_opened").iter().sum();
    assert_eq!(v["counters"]["connections_opened"].as_u64(), Some(opened), "the sum is the workers': {v}");

    let log = h.stop();
    assert!(log.contains("INFO  httpd] stopped"), "SIGTERM did not stop every worker:\n{log}");
    // Lines from N threads: any line that is neither env_logger's nor a
    // whole access-log line was torn or interleaved.
    let torn: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with('[') && !l.starts_with("httpd: serving"))
        .filter(|l| {
            !((l.starts_with("127.") || l.starts_with("::1 ")) && l.ends_with('"') && l.matches('"').count() == 6)
        })
        .collect();
    assert!(torn.is_empty(), "access-log lines torn: {:?}", &torn[..torn.len().min(5)]);
    let logged = h.access_statuses().iter().filter(|(line, _)| line.contains("/files/1KiB.txt")).count() as u64;
    assert!(logged >= closed + kept, "{logged} access-log lines for {} responses", closed + kept);
}

#[test]
fn two_workers_under_wrk() {
    e2e(SUITE, &["wrk"], || {
        let _heavy = heavy();
        under_wrk(2, Family::V4);
    });
}

/// The same over ::1: the fanout's hash spreads IPv6 flows over the
/// workers' rings as it does IPv4's.
#[test]
fn two_workers_under_wrk_over_ipv6() {
    e2e(SUITE, &["wrk"], || {
        let _heavy = heavy();
        under_wrk(2, Family::V6);
    });
}

#[test]
fn four_workers_under_wrk() {
    e2e(SUITE, &["wrk"], || {
        let _heavy = heavy();
        under_wrk(4, Family::V4);
    });
}

/// One `GET` with `Connection: close` from 127.0.0.1:`port` (SO_REUSEADDR,
/// so the port can be bound again as soon as this ends); the server closes
/// first and keeps the 4-tuple in TIME-WAIT; we read to the end and close.
fn close_from(h: &Httpd, port: u16) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_reuse_address(true).unwrap();
    sock.bind(&SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port).into()).unwrap();
    sock.connect_timeout(&h.addr.into(), Duration::from_secs(5)).unwrap_or_else(|e| panic!("from port {port}: {e}"));
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /files/1KiB.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200 "), "from port {port}: {}", String::from_utf8_lossy(&response));
}

/// 16 client ports, each used twice: the first connection leaves its
/// 4-tuple in TIME-WAIT at one worker, and the second one's SYN, which
/// reopens it (RFC 6191), comes to that same worker; the ports' entries
/// are spread over both workers.
#[test]
fn a_time_wait_reopen_lands_on_the_worker_holding_the_entry() {
    e2e(SUITE, &[], || {
        let h = Httpd::start("workers-reopen", Opts::args(&["--workers", "2"]));
        let mut holders = Vec::new();
        for port in 41000..41016 {
            let before = time_wait(&h.stack());
            close_from(&h, port);
            let mut holder = None;
            h.wait_for(Duration::from_secs(2), "a new TIME-WAIT entry", |h| {
                let now = time_wait(&h.stack());
                holder = (0..now.len()).find(|&w| now[w] == before[w] + 1);
                holder.is_some()
            });
            let holder = holder.unwrap();
            let reopened = per_worker(&h.stack(), "time_wait_reopened");
            close_from(&h, port);
            let mut at = None;
            h.wait_for(Duration::from_secs(2), "a reopen counted", |h| {
                let now = per_worker(&h.stack(), "time_wait_reopened");
                at = (0..now.len()).find(|&w| now[w] > reopened[w]);
                at.is_some()
            });
            assert_eq!(at, Some(holder), "port {port}: worker {holder} holds the TIME-WAIT entry");
            holders.push(holder);
        }
        say(&format!("TIME-WAIT entries of 16 ports held, and reopened, by workers {holders:?}"));
        assert!(holders.contains(&0) && holders.contains(&1), "all on one worker: {holders:?}");
    });
}
