//! The stack against smoltcp, in process: two hosts joined by the in-memory
//! simulator (no syscalls, zero delay, no faults), once with our `Stack` on
//! both ends and once with smoltcp on both ends, through the same simulator
//! and an equivalent device (see `tests/smol`).
//!
//! - `bulk/*`: one connection moves 8 MiB one way; throughput in bytes/s
//!   (Gbit/s = GB/s × 8).
//! - `churn/*`: connect, 1 KiB request, 1 KiB response, the server closes
//!   first and holds TIME-WAIT; one connection per iteration. Virtual time
//!   moves 10 ms per connection and TIME-WAIT lasts 10 s on both (smoltcp's
//!   is fixed at 10 s), so each server holds about 1,000 TIME-WAIT entries.
//!
//! `ours` records every connection's story (`Config::stories`, the
//! default); `ours_stories_off` is the same with recording off, in the same
//! run, so the two give what recording costs (`ratio.rs` says it as a
//! ratio, measured interleaved).
//!
//! `cargo bench -p stack`

mod workloads;

use std::time::Duration as WallDuration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stack::tcp::Stories;
use workloads::*;

fn bulk(c: &mut Criterion) {
    for mtu in [65535, 1500] {
        let mut group = c.benchmark_group(format!("bulk_mtu{mtu}"));
        group.throughput(Throughput::BytesDecimal(BULK as u64));
        group.bench_function("ours", |b| b.iter(|| our_bulk(mtu, Stories::All)));
        group.bench_function("ours_stories_off", |b| b.iter(|| our_bulk(mtu, Stories::Off)));
        group.bench_function("smoltcp", |b| b.iter(|| smol_bulk(mtu)));
        group.finish();
    }
}

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("churn");
    group.throughput(Throughput::Elements(1));
    let mut ours = our_churn(Stories::All);
    group.bench_function("ours", |b| b.iter(&mut ours));
    let mut off = our_churn(Stories::Off);
    group.bench_function("ours_stories_off", |b| b.iter(&mut off));
    let mut smol = smol_churn();
    group.bench_function("smoltcp", |b| b.iter(&mut smol));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(WallDuration::from_secs(1))
        .measurement_time(WallDuration::from_secs(3));
    targets = bulk, churn
}
criterion_main!(benches);
