//! Segments no larger than half the peer's window: with a 64 KiB window and
//! a 65495-byte MSS (Linux `lo` without window scaling) a full-MSS segment
//! fills the window, and a receiver that ACKs every second segment holds
//! each one for its delayed-ACK time: 40 ms per 64 KiB. (With window
//! scaling, the case of a peer that does not offer it.)

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::time::Duration;

#[test]
fn a_window_of_one_mss_is_filled_with_half_window_segments() {
    let mut client = config(CLIENT_ADDR);
    let mut server = config(SERVER_ADDR);
    client.mtu = 65535;
    server.mtu = 65535;
    client.window_scaling = false;
    let mut net = pair_with(Faults::default(), client, server);
    let (c, s) = establish(&mut net);
    net.capture(true);

    let data = pattern(1 << 20, 1);
    let (mut sent, mut received) = (0, Vec::new());
    let start = net.now();
    run(&mut net, Duration::from_secs(10), |n| {
        let now = n.now();
        while let Ok(k @ 1..) = stack(n, SERVER).send(now, s, &data[sent..]) {
            sent += k;
        }
        received.extend(read_all(n, CLIENT, c));
        received.len() == data.len()
    });
    assert!(received == data, "the data arrived changed");

    let largest = captured(&mut net).iter().filter(|seg| seg.is_from_server()).map(|seg| seg.len).max().unwrap();
    assert_eq!(largest, 65535 / 2, "segments are bounded by half the 65535-byte window");
    // 16 windows; at one 40 ms delayed ACK each, this would take 640 ms.
    let took = net.now() - start;
    assert!(took < Duration::from_millis(100), "1 MiB took {took:?} (virtual) with 1 ms paths");
}
