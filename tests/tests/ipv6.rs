//! Suite 12, IPv6 (issue 17): one server, our TCP, on both loopbacks at
//! once; `localhost` as ::1 first, as a usual Debian `/etc/hosts` and
//! Chromium have it, meets our stack and not the kernel's refusal; `ping -6`
//! of the stack's TUN address is answered by the stack. (The other suites
//! run their IPv6 twins: load, workers, close, python, chromium, live_page,
//! scapy, tshark.)

use std::process::Command;
use std::time::Duration;

use tests::*;

const SUITE: &str = "ipv6";

/// curl `-4` to 127.0.0.1 and `-6` to [::1], both on port 8080 of one
/// server: the same page, each connection from its own family's address
/// (`%{remote_ip}`, and the access log's client address as nginx writes
/// it: `::1`), and `/_stack.json` shows a connection of each family.
#[test]
fn curl_over_both_families_meets_one_server() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("ipv6-curl", Opts::default());
        let page = std::fs::read(www().join("index.html")).unwrap();
        for (family, url) in [(Family::V4, h.url("/")), (Family::V6, h.url6("/"))] {
            let dir = scratch();
            let body = dir.path().join("body");
            let out = curl(&[family.flag(), "-o", body.to_str().unwrap(), "-w", "%{http_code} %{remote_ip}", &url]);
            assert_eq!(out, format!("200 {}", family.loopback()), "curl {} {url}", family.flag());
            assert!(std::fs::read(&body).unwrap() == page, "{url}: not the page");
        }
        let peers: Vec<String> = h
            .access_log()
            .into_iter()
            .filter(|(_, line, _)| line == "GET / HTTP/1.1")
            .map(|(peer, _, status)| format!("{peer} {status}"))
            .collect();
        assert_eq!(peers, ["127.0.0.1 200", "::1 200"], "the access log:\n{}", h.log());

        // Two connections held open, one of each family, as TCP knows them.
        let mut held: Vec<std::net::TcpStream> =
            [h.addr, h.addr6].iter().map(|a| std::net::TcpStream::connect(a).unwrap()).collect();
        h.wait_for(Duration::from_secs(5), "both connections ESTABLISHED", |h| h.in_state("ESTABLISHED").len() == 2);
        let remotes: Vec<String> =
            h.in_state("ESTABLISHED").iter().map(|c| c["remote"].as_str().unwrap().to_string()).collect();
        for (stream, family) in held.iter_mut().zip([Family::V4, Family::V6]) {
            let me = stream.local_addr().unwrap().to_string();
            assert!(remotes.contains(&me), "{me} not among {remotes:?}");
            assert_eq!(me.starts_with('['), family == Family::V6, "{me}: an IPv6 peer is written [::1]:port");
        }
    });
}

/// The "done when": with `localhost` as ::1 first in this
/// namespace's own `/etc/hosts`, `curl -v http://localhost:8080/` says
/// `Connected to localhost (::1)`, and our access log has the line from
/// `::1`. That is a curl of 8.2 or later (curl PR #11466 puts ::1 first; it
/// resolves `localhost` itself, as RFC 6761 allows): Debian 12's curl, 7.88,
/// tries 127.0.0.1 first whatever `/etc/hosts` says, so the test runs
/// curl 8 from Debian's backports (`tests/install`). wget resolves by the
/// system (getaddrinfo, so `/etc/hosts`) and connects to ::1 first too.
#[test]
fn localhost_as_ipv6_first_meets_our_stack() {
    e2e(SUITE, &["bpo:curl", "wget"], || {
        let _hosts = own_hosts("::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 localhost\n");
        let h = Httpd::start("ipv6-localhost", Opts::default());
        let verbose = |cmd: &mut Command| {
            let out = run(cmd, Duration::from_secs(30));
            let verbose = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{cmd:?} failed:\n{verbose}");
            verbose
        };
        let wget =
            verbose(Command::new("wget").args(["-O", "/dev/null", "-t", "1", "-T", "20", "http://localhost:8080/"]));
        assert!(wget.contains("Connecting to localhost (localhost)|::1|:8080... connected."), "{wget}");
        let curl = verbose(Command::new(backport("curl")).args([
            "-v",
            "-sS",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "http://localhost:8080/",
        ]));
        // The first address tried is ::1, and it is the one that answers.
        let tried = curl.lines().find(|l| l.contains("Trying"));
        assert_eq!(tried, Some("*   Trying [::1]:8080..."), "curl -v said:\n{curl}");
        assert!(curl.contains("Connected to localhost (::1) port 8080"), "curl -v said:\n{curl}");
        let lines: Vec<_> = h.access_log().into_iter().filter(|(_, line, _)| line == "GET / HTTP/1.1").collect();
        let from_v6 = ("::1".to_string(), "GET / HTTP/1.1".to_string(), 200);
        assert_eq!(lines, vec![from_v6; 2], "the access log:\n{}", h.log());
        let version = run(Command::new(backport("curl")).arg("--version"), Duration::from_secs(10));
        say(&format!(
            "ipv6: localhost as ::1 first: `{}` -v http://localhost:8080/ and wget connected to ::1, the access log has their lines from ::1",
            String::from_utf8_lossy(&version.stdout).split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        ));
    });
}

/// `ping -6` of the stack's address on the TUN link (fd00::2) is answered,
/// by the stack: the kernel holds fd00::1 only.
#[test]
fn ping6_of_the_tun_address_is_answered() {
    e2e(SUITE, &["ping"], || {
        let h = Httpd::start("ipv6-ping", Opts::default().tun());
        let out = run_ok(
            Command::new("ping").args(["-6", "-c", "3", "-i", "0.2", "-W", "2"]).arg(h.addr6.ip().to_string()),
            Duration::from_secs(20),
        );
        assert!(out.contains("3 packets transmitted, 3 received"), "{out}");
    });
}
