//! What a bulk transfer allocates once it runs: nothing per window. A
//! reader that keeps up drains its receive buffer after every burst, and
//! the next burst's buffer comes off the stack's shelf (`RxShelf`), whole:
//! not from the allocator again, nor grown segment by segment. Its own
//! test binary, since the allocator's counts are the whole process's.

mod common;

use std::alloc::System;

use common::*;
use stack::link::faults::Faults;
use stack::link::sim::Network;
use stack::time::Duration;
use stack::SocketHandle;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Sends `len` bytes from the client to the server, which reads them as
/// they come, into buffers allocated before.
fn stream(net: &mut Network<Node>, c: SocketHandle, s: SocketHandle, len: usize) {
    let (data, mut buf) = (vec![0x5a; 64 * 1024], vec![0; 64 * 1024]);
    let (mut sent, mut got) = (0, 0);
    run(net, Duration::from_secs(60), |n| {
        let now = n.now();
        while let Ok(k @ 1..) = stack(n, CLIENT).send(now, c, &data[..(len - sent).min(data.len())]) {
            sent += k;
        }
        while let Ok(k @ 1..) = stack(n, SERVER).recv(now, s, &mut buf) {
            got += k;
        }
        got == len
    });
}

#[test]
fn a_bulk_transfer_allocates_nothing_per_window() {
    // No delay: the window stays at its first size (no round trip for
    // auto-tuning to measure), so every window is one burst of 45 segments.
    let mut net = pair_exact(Faults::default(), config(CLIENT_ADDR), config(SERVER_ADDR));
    let (c, s) = establish(&mut net);
    stream(&mut net, c, s, 1 << 20);
    let region = Region::new(GLOBAL);
    stream(&mut net, c, s, 8 << 20);
    let change = region.change();
    // 128 windows of 64 KiB went by: a window-sized buffer allocated for
    // each would be 128 allocations, one grown segment by segment 6 or 7
    // more. What is left (17 here) is the tables' and queues' growth,
    // not one per window.
    let allocations = change.allocations + change.reallocations;
    assert!(allocations < 128 / 4, "{allocations} allocations for 128 windows: {change:?}");
}
