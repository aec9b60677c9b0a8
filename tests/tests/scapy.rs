//! Suite 7, Scapy: a packet-level peer on the TUN link sends what no
//! well-behaved client sends, including forged segments of the blind attacks
//! of RFC 5961, and checks each segment the stack answers.
//! It speaks as 10.0.0.3, an address no interface holds, so the
//! namespace's kernel stays out of the exchange; then, the same case over
//! IPv6, as fd00::3 to the stack's fd00::2. The cases are in
//! `tests/py/scapy_peer.py`.

use std::process::Command;
use std::time::Duration;

use tests::*;

const SUITE: &str = "scapy";

/// Plays case `name` over each IP version of `versions` ("4", "6"), in
/// turn, against one server.
fn case_over(name: &'static str, versions: &'static [&'static str]) {
    e2e(SUITE, &["python3-scapy", "tshark"], move || {
        let mut h = Httpd::start(&format!("scapy-{name}"), Opts::args(&["--msl", "5"]).tun().pcap());
        for version in versions {
            run_ok(Command::new(python()).arg(py("scapy_peer.py")).args([name, version]), Duration::from_secs(60));
        }
        h.stop();
    });
}

/// Case `name` over IPv4, then over IPv6.
fn case(name: &'static str) {
    case_over(name, &["4", "6"]);
}

/// A SYN to a closed port gets RST,ACK acknowledging the SYN (seq 0).
#[test]
fn syn_to_closed_port_is_reset() {
    case("closed_port");
}

/// A handshake by hand: the SYN,ACK acknowledges ISS+1, offers MSS 1460
/// (MTU 1500; 1440 over IPv6) and no option the SYN did not offer; after our ACK the
/// connection is ESTABLISHED.
#[test]
fn handshake_with_options() {
    case("handshake");
}

/// A request segment is ACKed and answered.
#[test]
fn data_is_acked() {
    case("data_acked");
}

/// An out-of-order segment is held and the gap ACKed (duplicate ACK at
/// the gap); when the gap is filled both are ACKed and the request answered.
#[test]
fn out_of_order_segment_held() {
    case("out_of_order");
}

/// After `Connection: close` the server sends FIN first; we ACK it
/// (FIN-WAIT-2), send ours, it ACKs and keeps the connection in TIME-WAIT.
#[test]
fn four_way_close_server_first() {
    case("four_way_close");
}

/// Our FIN retransmitted while the server is in TIME-WAIT is ACKed again.
#[test]
fn retransmitted_fin_in_time_wait_acked() {
    case("time_wait_fin");
}

/// RSTs with sequence numbers outside the window are ignored: no answer,
/// the connection stays ESTABLISHED and serves.
#[test]
fn rst_outside_window_ignored() {
    case("rst_out_of_window");
}

/// A SYN to the listening port with a bad checksum is dropped silently
/// (and counted); the same SYN with a good checksum is answered.
#[test]
fn syn_with_bad_checksum_ignored() {
    case("bad_checksum_syn");
}

/// RFC 5961 §3: an RST in the window but not at RCV.NXT gets a challenge
/// ACK, and the connection lives on and serves.
#[test]
fn rst_in_window_challenged() {
    case("rst_in_window");
}

/// An RST exactly at RCV.NXT resets the connection; data on its 4-tuple is
/// then answered with RST.
#[test]
fn rst_at_rcv_nxt_resets() {
    case("rst_exact");
}

/// RFC 5961 §4: a SYN on an established connection gets a challenge ACK,
/// not a reset, and the connection serves on.
#[test]
fn syn_on_established_challenged() {
    case("syn_established");
}

/// RFC 5961 §5: data with an ACK far outside the window is dropped with an
/// ACK; the connection's sequence variables do not move.
#[test]
fn ack_far_outside_window_dropped() {
    case("ack_out_of_window");
}

/// A data segment with a bad checksum is dropped and counted: not ACKed,
/// not delivered; the same request with a good checksum is served.
#[test]
fn data_with_bad_checksum_ignored() {
    case("bad_checksum_data");
}

/// IPv6: a SYN behind Hop-by-Hop and Destination Options headers is
/// answered and the connection serves; one behind ten extension headers,
/// past the stack's bound, is dropped and counted.
#[test]
fn ipv6_extension_headers_skipped_to_a_bound() {
    case_over("ext_headers", &["6"]);
}

/// IPv6: a SYN in a Fragment header is dropped and counted.
#[test]
fn ipv6_fragment_dropped() {
    case_over("fragment", &["6"]);
}
