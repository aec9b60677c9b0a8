//! Every option with a value that makes no sense: the binary says so in its
//! first line of error, naming the option, and exits with status 2, before
//! it opens any link (so these run without root) and without a panic.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Given with every case, after the bad value: were that value let through,
/// the server would stop here, at its first check of the machine, before
/// opening a link, and the first line would name `--root` instead.
const MISSING_ROOT: &str = "/nonexistent/httpd-options-test";

/// Runs httpd with `args`; returns its exit status and the first line of
/// its standard error, and checks that it did not panic.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting httpd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("waiting for httpd").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("killing httpd");
            panic!("httpd {args:?} is still running: it took the options");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("httpd's output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "httpd {args:?} panicked: {stderr}");
    (out.status.code(), stderr.lines().next().unwrap_or("").to_string())
}

/// Each bad value, and what the first line of the error must contain.
const CASES: &[(&[&str], &str)] = &[
    (&["--port", "0"], "'--port <N>': 0 is not in 1..=65535"),
    (&["--port", "-1"], "'--port <N>'"),
    (&["--port", "65536"], "'--port <N>'"),
    (&["--mtu", "67"], "'--mtu <BYTES>': 67 is not in 68..=65535"),
    (&["--mtu", "70000"], "'--mtu <BYTES>': 70000 is not in 68..=65535"),
    (&["--msl", "0"], "'--msl <SECONDS>': expected a number of seconds above 0"),
    (&["--msl", "-1"], "'--msl <SECONDS>': expected a number of seconds above 0"),
    (&["--msl", "soon"], "'--msl <SECONDS>': expected a number of seconds above 0"),
    (&["--msl", "NaN"], "'--msl <SECONDS>': expected a number of seconds above 0"),
    (&["--msl", "1e30"], "'--msl <SECONDS>': expected at most"),
    (&["--keep-alive-timeout", "0"], "'--keep-alive-timeout <SECONDS>': expected a number of seconds above 0"),
    (&["--header-timeout", "0"], "'--header-timeout <SECONDS>': expected a number of seconds above 0"),
    (&["--header-timeout", "0.0000001"], "'--header-timeout <SECONDS>': expected a number of seconds above 0"),
    (&["--send-timeout", "0"], "'--send-timeout <SECONDS>': expected a number of seconds above 0"),
    (&["--max-connections", "0"], "'--max-connections <N>': 0 is not in 1..="),
    (&["--max-requests", "0"], "'--max-requests <N>': 0 is not in 1..="),
    (&["--faults", "loss=150%"], "'--faults <SPEC>': bad fault \"loss=150%\": expected a percentage from 0% to 100%"),
    (&["--faults", "dup=-1"], "'--faults <SPEC>': bad fault \"dup=-1\": expected a percentage from 0% to 100%"),
    (&["--faults", "delay=10"], "'--faults <SPEC>': bad fault \"delay=10\": expected a duration with its unit"),
    (&["--faults", "jitter=2h"], "'--faults <SPEC>': bad fault \"jitter=2h\": expected a duration with its unit"),
    (&["--faults", "mtu=40"], "'--faults <SPEC>': bad fault \"mtu=40\": expected an MTU in bytes from 68"),
    (&["--faults", "burst=0.5"], "'--faults <SPEC>': bad fault \"burst=0.5\": expected a mean burst length"),
    (&["--faults", "seed=x"], "'--faults <SPEC>': bad fault \"seed=x\": expected a whole number"),
    (&["--faults", "loss"], "'--faults <SPEC>': bad fault \"loss\": expected name=value"),
    (&["--faults", "speed=1"], "'--faults <SPEC>': bad fault \"speed=1\": unknown name"),
    (&["--faults", "loss=1%,loss=2%"], "'--faults <SPEC>': bad fault \"loss=2%\": given twice"),
    (&["--host-addr", "10.0.0.1/33"], "'--host-addr <IPV4/PREFIX>': prefix /33: expected a prefix length from 0 to 32"),
    (&["--host-addr", "10.0.0.1"], "'--host-addr <IPV4/PREFIX>': expected IPV4/PREFIX"),
    (&["--host-addr", "10.0.0/24"], "'--host-addr <IPV4/PREFIX>': 10.0.0: expected an IPv4 address"),
    (&["--addr", "10.0.0"], "'--addr <IPV4>'"),
    (&["--tun-name", ""], "'--tun-name <NAME>': bad interface name \"\""),
    (&["--tun-name", "a-name-too-long-for-linux"], "'--tun-name <NAME>': bad interface name"),
    (&["--tun-name", "a/b"], "'--tun-name <NAME>': bad interface name"),
    (&["--link", "wifi"], "'--link <LINK>'"),
    (&["--congestion", "bbr"], "'--congestion <ALGORITHM>'"),
    (&["--link", "tun", "--addr", "10.0.0.1"], "--addr 10.0.0.1 is the host's own (--host-addr 10.0.0.1/24)"),
    (&["--link", "tun", "--addr", "10.0.1.2"], "--addr 10.0.1.2 is outside --host-addr 10.0.0.1/24"),
    (&["--link", "tun", "--host-addr", "10.0.0.1/32"], "--addr 10.0.0.2 is outside --host-addr 10.0.0.1/32"),
];

#[test]
fn every_bad_value_is_one_line_naming_its_option() {
    for (args, expected) in CASES {
        let (status, first) = run(&[args, &["--root", MISSING_ROOT][..]].concat());
        assert_eq!(status, Some(2), "httpd {args:?}: {first}");
        assert!(first.starts_with("error: ") && first.contains(expected), "httpd {args:?}: {first}");
    }
}

/// What only the machine can tell is found at start, before the link too.
#[test]
fn a_root_that_is_no_directory_is_one_line() {
    let file = env!("CARGO_MANIFEST_DIR").to_string() + "/Cargo.toml";
    for (root, problem) in [(MISSING_ROOT, "No such file or directory"), (&file, "is not a directory")] {
        let (status, first) = run(&["--root", root]);
        assert_eq!(status, Some(2), "--root {root}: {first}");
        assert!(first.starts_with(&format!("httpd: --root {root}: ")), "{first}");
        assert!(first.contains(problem) && first.ends_with("point --root at the directory to serve"), "{first}");
    }
}
