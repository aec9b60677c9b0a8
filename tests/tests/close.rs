//! Suite 5, the server-initiated close on the wire: after a
//! `Connection: close` response the server sends the first FIN, and its side
//! waits in TIME-WAIT for 2·MSL.

use std::time::{Duration, Instant};

use tests::*;

const SUITE: &str = "close";

/// One segment of the capture.
#[derive(Debug)]
struct Seg {
    from_server: bool,
    flags: u16,
    seq: u32,
    ack: u32,
    len: u32,
}

const FIN: u16 = 0x01;
const ACK: u16 = 0x10;

/// curl's `Connection: close` request over `family`: the capture shows the
/// server's FIN, the client's ACK of it, the client's FIN, and the server's
/// ACK of that, in that order, all between the family's addresses (read by
/// tshark); `/_stack.json` shows the server's side in TIME-WAIT for 2·MSL
/// (2 s here) and then gone.
fn server_closes_first_and_waits_2msl_over(family: Family) {
    e2e(SUITE, &["curl", "tshark"], move || {
        let mut h = Httpd::start(&format!("close-on-the-wire-{family:?}"), Opts::args(&["--msl", "1"]).pcap());
        let url = format!("{}/", h.base(family));
        let out = curl(&["-H", "Connection: close", "-o", "/dev/null", "-w", "%{http_code} %{local_port}", &url]);
        let closed = Instant::now();
        let (code, port) = out.split_once(' ').unwrap();
        assert_eq!(code, "200");
        let port: u16 = port.parse().unwrap();

        h.wait_for(Duration::from_secs(1), "the connection in TIME-WAIT", |h| h.time_wait() == 1);
        assert!(h.stack()["connections"].as_array().unwrap().is_empty(), "only TIME-WAIT should be left");
        std::thread::sleep(Duration::from_millis(1000).saturating_sub(closed.elapsed()));
        assert_eq!(h.time_wait(), 1, "TIME-WAIT ended before 2·MSL");
        h.wait_for(Duration::from_secs(3), "TIME-WAIT over after 2·MSL", |h| h.time_wait() == 0);
        let waited = closed.elapsed();
        assert!(
            waited >= Duration::from_millis(1900) && waited <= Duration::from_millis(3500),
            "TIME-WAIT took {waited:?}"
        );

        h.stop();
        let address = format!("{}.addr", family.tshark());
        let fields = ["tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack", "tcp.len", &address];
        let rows = tshark_fields(&h.pcap(), &fields);
        let ours = family.loopback().to_string();
        let segs: Vec<Seg> = rows
            .iter()
            .filter(|r| r.len() == 7 && (r[0] == port.to_string() || r[1] == port.to_string()))
            .inspect(|r| assert!(r[6].split(',').all(|a| a == ours), "a segment not between {ours}s: {r:?}"))
            .map(|r| Seg {
                from_server: r[0] == PORT.to_string(),
                flags: u16::from_str_radix(r[2].trim_start_matches("0x"), 16).unwrap(),
                seq: r[3].parse().unwrap(),
                ack: r[4].parse().unwrap_or(0),
                len: r[5].parse().unwrap(),
            })
            .collect();
        let trace = format!("{segs:#?}");
        let server_fin = segs.iter().position(|s| s.from_server && s.flags & FIN != 0).expect(&trace);
        let fin_end = segs[server_fin].seq + segs[server_fin].len + 1;
        let client_ack = server_fin
            + segs[server_fin..]
                .iter()
                .position(|s| !s.from_server && s.flags & ACK != 0 && s.ack == fin_end)
                .expect(&trace);
        let client_fin = segs.iter().position(|s| !s.from_server && s.flags & FIN != 0).expect(&trace);
        assert!(client_fin >= client_ack, "the client's FIN came before it ACKed the server's: {trace}");
        let client_fin_end = segs[client_fin].seq + segs[client_fin].len + 1;
        let server_ack =
            segs.iter().position(|s| s.from_server && s.flags & ACK != 0 && s.ack == client_fin_end).expect(&trace);
        assert!(server_ack > client_fin, "{trace}");
        assert!(segs.iter().all(|s| s.flags & 0x04 == 0), "a RST in a clean close: {trace}");
        say(&format!(
            "close over {family:?}: server FIN #{server_fin}, client ACK #{client_ack}, client FIN #{client_fin}, server ACK #{server_ack}"
        ));
    });
}

#[test]
fn server_closes_first_and_waits_2msl() {
    server_closes_first_and_waits_2msl_over(Family::V4);
}

/// The same over ::1: the close on the wire between [::1] and [::1].
#[test]
fn server_closes_first_and_waits_2msl_over_ipv6() {
    server_closes_first_and_waits_2msl_over(Family::V6);
}
