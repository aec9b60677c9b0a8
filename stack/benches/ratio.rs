//! The stack against smoltcp as ratios, measured A B A B so that a busy
//! machine slows both alike: each round runs our stack, then smoltcp, on the
//! same workload; the table gives each side's median and ours/smoltcp.
//! `criterion` (`benches/tcp.rs`) runs one side after the other, so on a
//! shared machine its ratios drift with the load.
//!
//! Two more tables measure what recording connections' stories costs
//! (`Config::stories`): our stack recording every connection, then as by
//! default (`OnRequest`, no connection asking), against the same with
//! recording off, interleaved the same way.
//!
//! `cargo bench -p stack --bench ratio [-- ROUNDS]` (default 30 rounds)

mod workloads;

use std::net::Ipv4Addr;
use std::time::Instant;

use stack::tcp::Stories;
use stack::Config;
use workloads::*;

/// Connections per churn round, so a round lasts milliseconds.
const CHURN_BATCH: usize = 200;

fn main() {
    // `cargo bench` passes `--bench`; a number is the rounds.
    let rounds = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(30);
    println!("{rounds} rounds, A B alternating; medians");
    let gbps = |secs: f64| BULK as f64 / secs / 1e9;
    let rate = |secs: f64| CHURN_BATCH as f64 / secs / 1e3;
    let batch = |run: &mut dyn FnMut()| (0..CHURN_BATCH).for_each(|_| run());
    println!("{:<16} {:>14} {:>14} {:>14}", "benchmark", "ours", "smoltcp", "ours/smoltcp");
    // Ours as configured by default: stories recorded on request only.
    let ours_default = Config::new(Ipv4Addr::UNSPECIFIED).stories;
    for mtu in [65535, 1500] {
        let (ours, smol) = interleaved(rounds, || our_bulk(mtu, ours_default), || smol_bulk(mtu));
        row(&format!("bulk, MTU {mtu}"), gbps(ours), gbps(smol), "GB/s");
    }
    let (mut ours, mut smol) = (our_churn(ours_default), smol_churn());
    let (a, b) = interleaved(rounds, || batch(&mut ours), || batch(&mut smol));
    row("churn", rate(a), rate(b), "k conn/s");

    // Recording every connection, then the default, `OnRequest`, with no
    // connection asking: each against recording off.
    for on in [Stories::All, Stories::OnRequest] {
        println!();
        println!("{:<16} {:>14} {:>14} {:>14}", format!("stories {on:?}"), "on", "off", "on/off");
        for mtu in [65535, 1500] {
            let (a, b) = interleaved(rounds, || our_bulk(mtu, on), || our_bulk(mtu, Stories::Off));
            row(&format!("bulk, MTU {mtu}"), gbps(a), gbps(b), "GB/s");
        }
        let (mut a, mut b) = (our_churn(on), our_churn(Stories::Off));
        let (a, b) = interleaved(rounds, || batch(&mut a), || batch(&mut b));
        row("churn", rate(a), rate(b), "k conn/s");
    }
}

/// Median seconds per run of `a` and of `b`, run alternately.
fn interleaved(rounds: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64()
    };
    // One run each first, unmeasured: buffers allocated, caches warm.
    a();
    b();
    let (mut ta, mut tb): (Vec<f64>, Vec<f64>) = (0..rounds).map(|_| (time(&mut a), time(&mut b))).unzip();
    (median(&mut ta), median(&mut tb))
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn row(name: &str, ours: f64, smol: f64, unit: &str) {
    let (a, b) = (format!("{ours:.2} {unit}"), format!("{smol:.2} {unit}"));
    println!("{name:<16} {a:>14} {b:>14} {:>14.2}", ours / smol);
}
