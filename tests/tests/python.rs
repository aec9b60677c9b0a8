//! Suite 2, Python raw client sockets: pipelining, HTTP/1.0, malformed
//! requests and slow headers, written byte by byte as curl never would.
//! The cases are in `tests/py/raw_client.py`.

use std::process::Command;
use std::time::Duration;

use tests::*;

const SUITE: &str = "python";

/// Runs raw_client.py's `name` against the server at `host` (127.0.0.1,
/// or ::1: Python's socket is then `AF_INET6`).
fn case_at(host: &'static str, name: &str, args: &[&str], extra: &[&str]) {
    let name = name.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    e2e(SUITE, &["python3", "tshark"], move || {
        let mut h = Httpd::start(&format!("python-{name}-{host}"), Opts { args, ..Opts::default() }.pcap());
        run_ok(
            Command::new(python())
                .arg(py("raw_client.py"))
                .args([&name, host, &PORT.to_string()])
                .arg(www())
                .args(&extra),
            Duration::from_secs(60),
        );
        // No connection left behind: every one was closed.
        h.wait_for(Duration::from_secs(5), "connections closed", |h| h.in_state("ESTABLISHED").is_empty());
        let client: Vec<_> = h.access_log().into_iter().filter(|(_, line, _)| !line.contains("/_stack.json")).collect();
        assert!(
            !client.is_empty() && client.iter().all(|(peer, _, _)| peer == host),
            "not all from {host}: {client:?}"
        );
        h.stop();
    });
}

fn case(name: &str, args: &[&str], extra: &[&str]) {
    case_at("127.0.0.1", name, args, extra);
}

/// Three requests in one write get three responses, in order, on one
/// connection; it stays open for a fourth.
#[test]
fn pipelined_requests_answered_in_order() {
    case("pipelined", &[], &[]);
}

/// The same from Python's `socket.AF_INET6` to [::1]:8080.
#[test]
fn pipelined_requests_answered_in_order_over_ipv6() {
    case_at("::1", "pipelined", &[], &[]);
}

/// Malformed requests over IPv6: the same statuses and FINs.
#[test]
fn malformed_requests_get_status_then_fin_over_ipv6() {
    case_at("::1", "malformed", &[], &[]);
}

/// HTTP/1.0 without keep-alive: one response, then the server's FIN; with
/// `Connection: keep-alive`: the connection serves another request.
#[test]
fn http_1_0_with_and_without_keep_alive() {
    case("http10", &[], &[]);
}

/// Each malformed request gets its status with `Connection: close`, then
/// the server's FIN; the valid request written after it is not answered.
#[test]
fn malformed_requests_get_status_then_fin() {
    case("malformed", &[], &[]);
}

/// Headers sent one byte a second get 408 when `--header-timeout` (3 s)
/// has passed since the first byte, then the server's FIN.
#[test]
fn slow_headers_get_408() {
    case("slow_headers", &["--header-timeout", "3"], &["3"]);
}
