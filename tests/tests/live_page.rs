//! Suite 4b, the live page: headless Chromium, driven by chromedriver and
//! Selenium (`tests/py/live_page.py`), loads `www/live.html` and the test
//! checks from the DOM that the page draws what the stack recorded.
//!
//! Two tests: one against a fixture (the JSON of `/_conn/recent` written
//! below, with a retransmission the loopback never shows), and one against
//! the real server, which closes a connection first and holds it in
//! TIME-WAIT while the page counts down.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tests::*;

const SUITE: &str = "live_page";
const TOOLS: &[&str] = &["chromium", "chromedriver", "python3-selenium", "python3-pil", "ip"];

/// Runs `tests/py/live_page.py` over `base` in `mode` ("live" or
/// "fixture"): what the page showed, as JSON; the screenshots are checked
/// not blank and left in `shots`.
fn drive(base: &str, shots: &Path, mode: &str) -> Value {
    let out =
        run_ok(Command::new(python()).arg(py("live_page.py")).arg(base).arg(shots).arg(mode), Duration::from_secs(120));
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    for name in ["desktop", "phone"] {
        let size = format!("{},{}", v[name][0], v[name][1]);
        let png = shots.join(format!("{name}.png"));
        let out = run_ok(Command::new(python()).arg(py("not_blank.py")).arg(&png).arg(&size), Duration::from_secs(30));
        say(&format!("live_page: {mode} {name} screenshot {}: {}", png.display(), out.trim()));
    }
    assert_eq!(v["errors"], json!([]), "the page logged errors");
    v
}

/// What every drawing of a server-first close must show: the handshake with
/// the connection's own ISNs, our FIN before the browser's, FIN-WAIT-2 and
/// TIME-WAIT on our side, the browser's states marked inferred, a countdown
/// that goes down, and a hovered segment's fields with the code that sent it.
fn check_close(v: &Value, conn: &Value) {
    let (iss, irs) = (conn["iss"].as_u64().expect("iss"), conn["irs"].as_u64().expect("irs"));
    let segs = v["segments"].as_array().expect("segments");
    let field = |i: usize, k: &str| segs[i][k].as_str().unwrap_or_else(|| panic!("{k} of {}", segs[i])).to_string();
    let num = |i: usize, k: &str| field(i, k).parse::<u64>().expect("a number");
    assert_eq!((field(0, "dir"), field(0, "flags")), ("in".into(), "SYN".into()), "{segs:?}");
    assert_eq!(num(0, "seq"), irs, "the browser's SYN carries its ISN");
    assert_eq!((field(1, "dir"), field(1, "flags")), ("out".into(), "SYN,ACK".into()), "{segs:?}");
    assert_eq!((num(1, "seq"), num(1, "ack")), (iss, (irs + 1) % (1 << 32)), "our SYN,ACK");
    assert_eq!((field(2, "dir"), field(2, "flags")), ("in".into(), "ACK".into()), "{segs:?}");
    assert_eq!(num(2, "ack"), (iss + 1) % (1 << 32), "the ACK of our SYN");
    let fin = |dir: &str| segs.iter().position(|s| s["dir"] == dir && s["flags"].as_str().unwrap().contains("FIN"));
    let (ours, theirs) = (fin("out").expect("our FIN drawn"), fin("in").expect("the browser's FIN drawn"));
    assert!(ours < theirs, "the server's FIN comes first: {segs:?}");
    let states: Vec<&str> = v["server_states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for s in ["ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"] {
        assert!(states.contains(&s), "server state {s} not drawn: {states:?}");
    }
    let client: Vec<&str> = v["client_states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(client, ["SYN-SENT", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"], "the browser's, inferred");
    assert_eq!(v["inferred_tags"].as_u64(), Some(client.len() as u64), "each inferred state says so");
    let cd = v["countdown"].as_array().unwrap();
    let (a, b) = (cd[0][0].as_u64().unwrap(), cd[1][0].as_u64().unwrap());
    assert!(b < a && a - b >= 1000 && a - b < 3000, "countdown {a} ms then {b} ms, 1.5 s apart: {cd:?}");
    assert!(cd[1][1].as_str().unwrap().ends_with(" s"), "{cd:?}");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("SYN,ACK") && detail.contains(&format!("absolute {iss}")), "{detail}");
    assert!(detail.contains("sent by stack/src/"), "the code that sent it: {detail}");
}

/// Both widths fit: at 375 px the page itself does not scroll sideways,
/// only the diagram's box does.
fn check_layout(v: &Value) {
    let s = &v["phone_scroll"];
    let (client, scroll, doc) = (s[0].as_u64().unwrap(), s[1].as_u64().unwrap(), s[2].as_u64().unwrap());
    assert!(doc <= 375, "the page is wider than the phone: {s}");
    assert!(client < 375 && scroll > client, "the diagram scrolls in its box: {s}");
}

/// The page against a fixture: the drawing, and a download's graph with
/// its retransmission marked.
#[test]
fn live_page_draws_the_fixture() {
    e2e(SUITE, TOOLS, || {
        let root = scratch();
        copy_dir(&www(), root.path());
        let fixture = fixture();
        std::fs::write(root.path().join("fixture.json"), fixture.to_string()).unwrap();
        let _h = Httpd::start("live_page", Opts::default().root(root.path()));
        let shots = scratch();
        let v = drive(&format!("http://{}:{PORT}", "127.0.0.1"), shots.path(), "fixture");
        let conn = &fixture["conns"][1];
        assert_eq!(v["conn"], conn["id"], "the page drew the oldest open connection");
        check_close(&v, conn);
        assert!(v["bars"].as_u64().unwrap() >= 40, "one bar per data segment: {v}");
        assert_eq!(v["retx_bars"], 1, "the retransmission is marked");
        assert_eq!(v["cwnd_line"], 1);
        keep_shots(shots.path(), "fixture");
        check_layout(&v);
    });
}

/// The page against the real server (with a 5 s MSL): the browser's own
/// connection, closed by the server first, followed through FIN-WAIT-2 and
/// TIME-WAIT until the server deletes it; the ISNs drawn are the ones
/// `/_conn/recent` gives, and the ones on the wire (the capture, read by
/// tshark); a download is graphed. Over `family`: on
/// `http://[::1]:8080/` the page shows the browser's connections over IPv6
/// (`/_conn/recent` answers by the asker's address, ::1), and the picker
/// names the connection by its port.
fn live_page_follows_a_server_first_close_over(family: Family) {
    e2e(SUITE, &[TOOLS, &["tshark"]].concat(), move || {
        let h = Httpd::start(&format!("live_page-{family:?}"), Opts::args(&["--msl", "5"]).pcap());
        let shots = scratch();
        let v = drive(&h.base(family), shots.path(), "live");
        keep_shots(shots.path(), if family == Family::V4 { "live" } else { "live-ipv6" });
        let conns = v["recent"]["conns"].as_array().expect("/_conn/recent from the browser's address");
        let conn =
            conns.iter().find(|c| c["id"] == v["conn"]).unwrap_or_else(|| panic!("{} not in {conns:?}", v["conn"]));
        check_close(&v, conn);
        let remote = conn["remote"].as_str().unwrap();
        let ip = remote.parse::<std::net::SocketAddr>().unwrap_or_else(|e| panic!("{remote}: {e}")).ip();
        assert_eq!(ip, family.loopback(), "{remote}: not the browser's address");
        // The SYN and SYN,ACK of that connection as they crossed the wire.
        let port = remote.rsplit(':').next().unwrap().to_string();
        let picked = v["picked"].as_str().unwrap();
        assert!(picked.contains(&format!(", port {port}: ")), "the picker says {picked:?}");
        let rows =
            tshark_fields(&h.pcap(), &["tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.seq"]);
        let server = PORT.to_string();
        let syn_seq = |src: &str, dst: &str, ack: &str| {
            let row = rows.iter().find(|r| r[0] == src && r[1] == dst && r[2] == "1" && r[3] == ack);
            let row = row.unwrap_or_else(|| panic!("no SYN {src} > {dst} (ACK bit {ack}) in the capture"));
            row[4].parse::<u64>().unwrap()
        };
        assert_eq!(syn_seq(&port, &server, "0"), conn["irs"].as_u64().unwrap(), "the browser's ISN, as on the wire");
        assert_eq!(syn_seq(&server, &port, "1"), conn["iss"].as_u64().unwrap(), "our ISN, as on the wire");
        assert!(v["deleted"].as_str().unwrap().contains("deleted"), "{v}");
        assert!(v["bars"].as_u64().unwrap() >= 10, "the download graphed: {v}");
        assert_eq!(v["cwnd_line"], 1, "cwnd drawn: {v}");
        check_layout(&v);
    });
}

#[test]
fn live_page_follows_a_server_first_close() {
    live_page_follows_a_server_first_close_over(Family::V4);
}

#[test]
fn live_page_follows_a_server_first_close_over_ipv6() {
    live_page_follows_a_server_first_close_over(Family::V6);
}

/// Copies `www/` (files and folders) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Leaves the screenshots where a person can look at them:
/// `$LIVE_PAGE_SHOTS/<mode>-{desktop,phone}.png` when that is set.
fn keep_shots(shots: &Path, mode: &str) {
    if let Some(dir) = std::env::var_os("LIVE_PAGE_SHOTS") {
        for name in ["desktop", "phone"] {
            let to = Path::new(&dir).join(format!("{mode}-{name}.png"));
            std::fs::copy(shots.join(format!("{name}.png")), &to).unwrap();
            say(&format!("live_page: kept {}", to.display()));
        }
    }
}

/// A segment event of the fixture.
#[allow(clippy::too_many_arguments)]
fn seg(t: f64, dir: &str, flags: &str, seq: u32, ack: u32, len: u32, win: u32, kind: &str, by: &str) -> Value {
    let options = if flags.contains('S') { "mss 1460,sackOK,TS,nop,wscale 7" } else { "" };
    json!({"t_ms": t, "type": "segment", "dir": dir, "flags": flags, "seq": seq, "ack": ack, "len": len,
           "win": win, "options": options, "kind": kind, "by": by})
}

fn state(t: f64, from: &str, to: &str, reason: &str) -> Value {
    json!({"t_ms": t, "type": "state", "from": from, "to": to, "reason": reason})
}

const OUT: &str = "stack/src/tcp/tcb/output.rs::Tcb::emit_segment";
const IN: &str = "stack/src/tcp/tcb/arrival.rs::Tcb::on_segment";
const LISTEN: &str = "stack/src/tcp/listener.rs::Listener::on_segment";

/// A handshake at `t` between the browser's `irs` and our `iss`.
fn handshake(t: f64, iss: u32, irs: u32) -> Vec<Value> {
    vec![
        seg(t, "in", "S", irs, 0, 0, 65495, "normal", LISTEN),
        state(t, "LISTEN", "SYN-RECEIVED", "SYN received (RFC 9293 §3.10.7.2)"),
        seg(t + 0.02, "out", "S.", iss, irs.wrapping_add(1), 0, 65535, "normal", OUT),
        seg(t + 0.09, "in", ".", irs.wrapping_add(1), iss.wrapping_add(1), 0, 512, "normal", IN),
        state(t + 0.09, "SYN-RECEIVED", "ESTABLISHED", "our SYN acknowledged (RFC 9293 §3.10.7.4)"),
        json!({"t_ms": t + 0.09, "type": "sample", "srtt_ms": 0.07, "rto_ms": 1000.0, "cwnd": 14600,
               "ssthresh": null, "snd_wnd": 65536}),
    ]
}

/// `/_conn/recent` as the endpoint would answer it: a download of 60
/// segments with one lost and retransmitted after three duplicate ACKs
/// (newest), the page's own connection closed by the server and now in
/// TIME-WAIT (its ISN near 2^32, so relative numbers wrap), and an older
/// connection already deleted.
fn fixture() -> Value {
    let now = 5000.0;
    // The page's connection: the page, then /close-me, closed by us first.
    let (iss, irs) = (4_294_967_000u32, 1_130_371_232u32);
    let (c, s) = (irs.wrapping_add(1), iss.wrapping_add(1));
    let mut ev = handshake(1000.0, iss, irs);
    ev.extend([
        seg(1000.2, "in", "P.", c, s, 420, 512, "normal", IN),
        seg(1000.3, "out", ".", s, c.wrapping_add(420), 1460, 512, "normal", OUT),
        seg(1000.3, "out", "P.", s.wrapping_add(1460), c.wrapping_add(420), 1460, 512, "normal", OUT),
        seg(1000.4, "in", ".", c.wrapping_add(420), s.wrapping_add(2920), 0, 506, "normal", IN),
        seg(3200.0, "in", "P.", c.wrapping_add(420), s.wrapping_add(2920), 380, 512, "normal", IN),
        seg(3200.2, "out", "P.", s.wrapping_add(2920), c.wrapping_add(800), 180, 512, "normal", OUT),
        seg(3200.2, "out", "F.", s.wrapping_add(3100), c.wrapping_add(800), 0, 512, "normal", OUT),
        state(3200.2, "ESTABLISHED", "FIN-WAIT-1", "close(): FIN sent (RFC 9293 §3.10.4)"),
        seg(3200.3, "in", ".", c.wrapping_add(800), s.wrapping_add(3101), 0, 512, "normal", IN),
        state(3200.3, "FIN-WAIT-1", "FIN-WAIT-2", "our FIN acknowledged (RFC 9293 §3.10.7.4)"),
        seg(3200.5, "in", "F.", c.wrapping_add(800), s.wrapping_add(3101), 0, 512, "normal", IN),
        seg(3200.5, "out", ".", s.wrapping_add(3101), c.wrapping_add(801), 0, 512, "normal", OUT),
        state(3200.5, "FIN-WAIT-2", "TIME-WAIT", "FIN received (RFC 9293 §3.10.7.4)"),
    ]);
    let page = json!({"id": "127.0.0.1:51234-127.0.0.1:8080#7", "local": "127.0.0.1:8080",
        "remote": "127.0.0.1:51234", "state": "TIME-WAIT", "iss": iss, "irs": irs, "opened_ms": 1000.0,
        "time_wait_until_ms": 3200.5 + 60000.0, "dropped": 0, "events": ev});

    // The download: 60 segments of 1460 bytes; the 20th is lost, three
    // duplicate ACKs, fast retransmit (RFC 5681 §3.2), cwnd halved.
    let (iss, irs) = (2_000_000_000u32, 900_000_000u32);
    let (c, s) = (irs.wrapping_add(1), iss.wrapping_add(1));
    let mut ev = handshake(4000.0, iss, irs);
    ev.push(seg(4000.2, "in", "P.", c, s, 300, 512, "normal", IN));
    let c = c.wrapping_add(300);
    let (mut t, mut cwnd) = (4000.3, 14600u32);
    for i in 0..60u32 {
        t += 0.05;
        ev.push(seg(t, "out", if i % 8 == 7 { "P." } else { "." }, s + i * 1460, c, 1460, 512, "normal", OUT));
        if i % 2 == 1 {
            // The 20th is lost: from then on every ACK asks for it again.
            let dup = (19..26).contains(&i);
            let acked = if dup { 19 } else { i + 1 };
            ev.push(seg(t + 0.03, "in", ".", c, s + acked * 1460, 0, 512, "normal", IN));
            if !dup {
                cwnd += 1460;
                ev.push(json!({"t_ms": t + 0.03, "type": "sample", "srtt_ms": 0.08, "rto_ms": 200.0 + i as f64,
                               "cwnd": cwnd, "ssthresh": null, "snd_wnd": 65536}));
            }
        }
        if i == 25 {
            t += 0.05;
            ev.push(seg(t, "out", ".", s + 19 * 1460, c, 1460, 512, "retransmission", OUT));
            cwnd /= 2;
            ev.push(json!({"t_ms": t, "type": "sample", "srtt_ms": 0.09, "rto_ms": 260.0, "cwnd": cwnd,
                           "ssthresh": cwnd, "snd_wnd": 65536}));
        }
    }
    let download = json!({"id": "127.0.0.1:51240-127.0.0.1:8080#9", "local": "127.0.0.1:8080",
        "remote": "127.0.0.1:51240", "state": "ESTABLISHED", "iss": iss, "irs": irs, "opened_ms": 4000.0,
        "time_wait_until_ms": null, "dropped": 0, "events": ev});

    let gone = json!({"id": "127.0.0.1:51200-127.0.0.1:8080#5", "local": "127.0.0.1:8080",
        "remote": "127.0.0.1:51200", "state": "CLOSED", "iss": 7u32, "irs": 9u32, "opened_ms": 10.0,
        "time_wait_until_ms": 900.0, "dropped": 3,
        "events": [state(900.0, "TIME-WAIT", "CLOSED", "2MSL expired (RFC 9293 §3.10.8)")]});
    json!({"now_ms": now, "conns": [download, page, gone]})
}
