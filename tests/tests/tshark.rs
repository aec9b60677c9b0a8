//! Suite 8, tshark: Wireshark's dissectors judge the server's packets.
//! Every test that records a capture (python, close, scapy and this suite)
//! runs `check_capture` on it when it stops the server; this suite adds a
//! capture of varied traffic on a lossy link with small segments, and makes
//! sure the check itself catches a bad packet.

use std::process::Command;
use std::time::Duration;

use tests::*;

const SUITE: &str = "tshark";

fn traffic(h: &Httpd, family: Family) {
    let u = |p: &str| format!("{}{p}", h.base(family));
    curl(&["-o", "/dev/null", &u("/"), "-o", "/dev/null", &u("/style.css"), "-o", "/dev/null", &u("/files/1MiB.bin")]);
    curl(&["-o", "/dev/null", "-r", "0-9", &u("/files/1KiB.txt")]);
    curl(&["-o", "/dev/null", "-I", &u("/tcp.html")]);
    curl(&["-o", "/dev/null", "-H", "Connection: close", &u("/files/")]);
    curl(&["-o", "/dev/null", "--path-as-is", &u("/../../etc/passwd")]);
    let host = h.addr_of(family).ip().to_string();
    run_ok(
        Command::new(python()).arg(py("raw_client.py")).args(["malformed", &host, "8080"]).arg(www()),
        Duration::from_secs(60),
    );
}

/// Varied traffic over `family` (keep-alive, a 1 MiB file, ranges, HEAD,
/// close, errors, malformed requests) over a link with loss, duplicates
/// and reordering and a small MTU: tshark finds no malformed packet and no
/// bad IP or TCP checksum on any of the server's packets, of which it
/// found more than `least` of the family's.
fn server_packets_are_well_formed_over(family: Family, mtu: &'static str, least: usize) {
    e2e(SUITE, &["tshark", "curl", "python3"], move || {
        let mut h = Httpd::start(
            &format!("tshark-varied-{family:?}"),
            Opts::args(&["--mtu", mtu, "--faults", "loss=2%,dup=1%,reorder=2%,seed=3"]).pcap(),
        );
        traffic(&h, family);
        h.stop(); // runs check_capture
        let rows = tshark_fields(&h.pcap(), &["tcp.srcport", &format!("{}.src", family.tshark())]);
        let server = h.addr_of(family).ip().to_string();
        let ours = rows.iter().filter(|r| r[0] == "8080" && r[1] == server).count();
        assert!(ours > least, "only {ours} server packets from {server} captured");
    });
}

#[test]
fn server_packets_are_well_formed() {
    server_packets_are_well_formed_over(Family::V4, "576", 1000);
}

/// The same over ::1, at IPv6's least MTU (1280, RFC 8200 §5; segments of
/// 1220 bytes, so fewer of them): the capture records IPv6 packets, and
/// the faults act on them.
#[test]
fn server_packets_are_well_formed_over_ipv6() {
    server_packets_are_well_formed_over(Family::V6, "1280", 500);
}

/// The check can fail: one byte of a server packet's payload flipped in
/// a good capture makes its TCP checksum wrong, and `check_capture` says
/// so, of an IPv4 packet as of an IPv6 one.
fn check_catches_a_corrupt_server_packet_of(family: Family) {
    e2e(SUITE, &["tshark", "curl"], move || {
        let mut h = Httpd::start(&format!("tshark-self-test-{family:?}"), Opts::default().pcap());
        curl(&["-o", "/dev/null", &format!("{}/", h.base(family))]);
        h.stop();
        let mut pcap = std::fs::read(h.pcap()).unwrap();
        let version = match family {
            Family::V4 => 4,
            Family::V6 => 6,
        };
        // Records: 24-byte file header, then 16-byte record headers + raw
        // IP packets (the server sends IPv6 with no extension headers).
        let mut at = 24;
        let mut flipped = false;
        while at + 16 <= pcap.len() {
            let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
            let ip = at + 16;
            let header = if pcap[ip] >> 4 == 6 { 40 } else { (pcap[ip] & 0x0f) as usize * 4 };
            let tcp = ip + header;
            let src_port = u16::from_be_bytes([pcap[tcp], pcap[tcp + 1]]);
            let data_off = (pcap[tcp + 12] >> 4) as usize * 4;
            if pcap[ip] >> 4 == version && src_port == PORT && len > header + data_off {
                pcap[tcp + data_off] ^= 0x20;
                flipped = true;
                break;
            }
            at = ip + len;
        }
        assert!(flipped, "no server data packet over {family:?} in the capture");
        let dir = scratch();
        let bad = dir.path().join("bad.pcap");
        std::fs::write(&bad, &pcap).unwrap();
        let caught = std::panic::catch_unwind(|| check_capture(&bad, &[h.addr, h.addr6]));
        assert!(caught.is_err(), "check_capture passed a capture with a corrupt server packet");
    });
}

#[test]
fn check_catches_a_corrupt_server_packet() {
    check_catches_a_corrupt_server_packet_of(Family::V4);
}

#[test]
fn check_catches_a_corrupt_ipv6_server_packet() {
    check_catches_a_corrupt_server_packet_of(Family::V6);
}
