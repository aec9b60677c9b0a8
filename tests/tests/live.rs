//! Suite "live": the server shows each client its own connections, as the
//! stack recorded them (`/_conn/self`, `/_conn/recent`, `/_conn/feed`), and
//! nobody else's. Two clients on two addresses of the namespace's `lo`:
//! curl from 127.0.0.1, and curl from 127.0.0.3 (`--interface`; the
//! harness asks `/_stack.json` from 127.0.0.2).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tests::*;

const SUITE: &str = "live";

/// The other client's address.
const OTHER: &str = "127.0.0.3";

/// GET `path` with curl from `from` (None: the default, 127.0.0.1), as JSON.
fn json(h: &Httpd, from: Option<&str>, path: &str) -> Value {
    let mut args = vec!["-f"];
    if let Some(addr) = from {
        args.extend(["--interface", addr]);
    }
    let url = h.url(path);
    args.push(&url);
    let body = curl(&args);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The remote addresses (without port) of a `/_conn/recent` answer.
fn remotes(recent: &Value) -> Vec<String> {
    let conns = recent["conns"].as_array().expect("conns");
    conns.iter().map(|c| c["remote"].as_str().unwrap().split(':').next().unwrap().to_string()).collect()
}

/// `/_conn/self` shows the handshake of the very connection that asks:
/// its SYN in, our SYN,ACK out with its ISS, the ACK of it in. Stories are
/// recorded on request: a first look at `/_conn/...` asks for the reader's
/// next connections from their SYN; before it, the stack recorded nothing.
#[test]
fn self_shows_its_own_handshake() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("live-self", Opts::default());
        let before = json(&h, None, "/_conn/self");
        let seen = before["conn"]["events"].as_array().unwrap();
        assert!(seen.iter().all(|e| e["flags"] != "S"), "recorded before anyone asked: {before}");
        let me = json(&h, None, "/_conn/self");
        let conn = &me["conn"];
        assert!(me["now_ms"].as_f64().is_some(), "{me}");
        assert!(conn["remote"].as_str().unwrap().starts_with("127.0.0.1:"), "{conn}");
        assert_eq!(conn["local"], "127.0.0.1:8080");
        let (iss, irs) = (conn["iss"].as_u64().unwrap(), conn["irs"].as_u64().unwrap());
        let segments: Vec<&Value> =
            conn["events"].as_array().unwrap().iter().filter(|e| e["type"] == "segment").collect();
        let first: Vec<(&str, &str, u64, u64)> = segments
            .iter()
            .take(3)
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap();
                (s("dir"), s("flags"), e["seq"].as_u64().unwrap(), e["ack"].as_u64().unwrap())
            })
            .collect();
        let plus1 = |n: u64| (n + 1) % (1 << 32);
        assert_eq!((first[0].0, first[0].1, first[0].2), ("in", "S", irs), "{conn}");
        assert_eq!(first[1], ("out", "S.", iss, plus1(irs)), "{conn}");
        assert_eq!((first[2].0, first[2].1, first[2].3), ("in", ".", plus1(iss)), "{conn}");
        let states: Vec<&str> = conn["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "state")
            .map(|e| e["to"].as_str().unwrap())
            .collect();
        assert!(states.contains(&"ESTABLISHED"), "{conn}");
    });
}

/// Two clients on two addresses each see only their own connections.
#[test]
fn recent_shows_only_the_askers_address() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("live-recent", Opts::default());
        // Each asks once, so its next connections are recorded.
        json(&h, None, "/_conn/recent");
        json(&h, Some(OTHER), "/_conn/recent");
        for _ in 0..2 {
            curl(&["-o", "/dev/null", &h.url("/")]);
        }
        curl(&["--interface", OTHER, "-o", "/dev/null", &h.url("/")]);
        let mine = json(&h, None, "/_conn/recent");
        let theirs = json(&h, Some(OTHER), "/_conn/recent");
        let (mine, theirs) = (remotes(&mine), remotes(&theirs));
        // Two earlier ones and the asking ones.
        assert!(mine.len() >= 3 && mine.iter().all(|a| a == "127.0.0.1"), "{mine:?}");
        assert!(theirs.len() >= 2 && theirs.iter().all(|a| a == OTHER), "{theirs:?}");
    });
}

/// `curl -N /_conn/feed` gets its first event within a second, with the
/// asker's connections only.
#[test]
fn feed_delivers_an_event_within_a_second() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("live-feed", Opts::default());
        json(&h, Some(OTHER), "/_conn/recent");
        curl(&["--interface", OTHER, "-o", "/dev/null", &h.url("/")]);
        let started = Instant::now();
        let mut child = Command::new("curl")
            .args(["-sS", "-N", "--max-time", "5", &h.url("/_conn/feed")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = loop {
            let left = Duration::from_secs(1).saturating_sub(started.elapsed());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("data: ") => break line,
                Ok(_) => continue,
                Err(e) => panic!("no event within a second ({e})"),
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        let event: Value = serde_json::from_str(&line["data: ".len()..]).expect("an event's JSON");
        let seen = remotes(&event);
        assert!(!seen.is_empty() && seen.iter().all(|a| a == "127.0.0.1"), "{seen:?}");
    });
}
