//! A deleted connection's buffers go to the next connection
//! (`Tcb::into_spare`, `Tcb::adopt`), and nothing else of it does.

use std::net::{Ipv4Addr, SocketAddr};

use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::tcp::Stories;
use stack::time::Duration;
use stack::{Config, SocketHandle, Stack};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A connection from host `c` that host `s` accepted on port 80: the
/// client's handle and the server's.
fn connect(net: &mut Network<Stack>, c: usize, s: usize) -> (SocketHandle, SocketHandle) {
    let now = net.now();
    let client = net.host_mut(c).connect(now, SocketAddr::new(SERVER.into(), 80)).unwrap();
    let mut server = None;
    net.run_until(now + Duration::from_secs(1), |n| {
        server = n.host_mut(s).accept(80);
        server.is_some()
    });
    (client, server.expect("accepted"))
}

/// Reads what host `i` received on `h` so far.
fn read(net: &mut Network<Stack>, i: usize, h: SocketHandle) -> Vec<u8> {
    let (now, mut buf) = (net.now(), [0; 256]);
    let n = net.host_mut(i).recv(now, h, &mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

/// A deleted connection's buffers go to the next one, and nothing else
/// of it: not the bytes it had received unread or sent unacknowledged,
/// nor its options, timers or story.
#[test]
fn a_connection_reusing_spare_buffers_starts_clean() {
    let mut net = Network::new(Faults { delay: Duration::from_millis(1), ..Faults::default() });
    let old = net.add_host(Ipv4Addr::new(10, 0, 0, 1), Stack::new(Config::new(Ipv4Addr::new(10, 0, 0, 1))));
    let mut bare = Config::new(Ipv4Addr::new(10, 0, 0, 3));
    (bare.timestamps, bare.sack, bare.window_scaling) = (false, false, false);
    let new = net.add_host(bare.addr, Stack::new(bare));
    let mut config = Config::new(SERVER);
    config.stories = Stories::OnRequest;
    let s = net.add_host(SERVER, Stack::new(config));
    net.host_mut(s).listen(80, 8).unwrap();

    // The old connection: recorded, its request unread, its response
    // unacknowledged when the server aborts it.
    let (c1, s1) = connect(&mut net, old, s);
    assert!(net.host(s).tcb(s1).unwrap().options.timestamps);
    net.host_mut(s).record(s1);
    let now = net.now();
    net.host_mut(old).send(now, c1, b"old request").unwrap();
    net.run_until(now + Duration::from_millis(10), |_| false);
    let now = net.now();
    assert_eq!(net.host_mut(s).send(now, s1, b"old response").unwrap(), 12);
    net.host_mut(s).abort(now, s1);

    let (c2, s2) = connect(&mut net, new, s);
    let server = net.host(s);
    assert_eq!(server.counters().buffers_reused, 1, "the new connection took the aborted one's buffers");
    let tcb = server.tcb(s2).unwrap();
    assert_eq!((tcb.recv_queue(), tcb.send_queue()), (0, 0));
    assert!(!tcb.options.timestamps && !tcb.options.sack_permitted && tcb.options.window_scale.is_none());
    assert!(server.story(s2).is_none(), "no story carried over");
    assert_eq!(tcb.poll_at(), None, "an idle connection has no timer");

    let now = net.now();
    net.host_mut(new).send(now, c2, b"new request").unwrap();
    net.run_until(now + Duration::from_millis(10), |_| false);
    assert_eq!(read(&mut net, s, s2), b"new request");
    let now = net.now();
    net.host_mut(s).send(now, s2, b"new response").unwrap();
    net.run_until(now + Duration::from_secs(1), |_| false); // the delayed ACK too
    assert_eq!(read(&mut net, new, c2), b"new response");
    assert_eq!(net.host(s).send_queue(s2), 0);
}
