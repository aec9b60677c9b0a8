//! What stories cost in memory: 10,000 idle established connections, with
//! every connection's story recorded (`Config::stories`, the default), must
//! leave the process under 64 MB resident. Its own test binary, so that no
//! other test's memory is counted. The process holds both ends, the
//! client's 10,000 connections and the server's: the figure is for two
//! stacks.
//!
//! `STORIES=off cargo test -p stack --test story_memory -- --nocapture`
//! gives the figure without recording, for comparison.

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::tcp::Stories;
use stack::time::Duration;

const CONNECTIONS: usize = 10_000;

/// Resident memory of this process, in bytes (`/proc/self/statm`, Linux).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("statm");
    pages * 4096
}

#[test]
fn ten_thousand_idle_connections_stay_under_64_mb() {
    let stories = if std::env::var("STORIES").is_ok_and(|v| v == "off") { Stories::Off } else { Stories::All };
    let (mut client, mut server) = (config(CLIENT_ADDR), config(SERVER_ADDR));
    client.stories = stories;
    server.stories = stories;
    server.max_syn_queue = CONNECTIONS;
    let mut net = pair_with(Faults::default(), client, server);
    let now = net.now();
    stack(&mut net, SERVER).unlisten(now, PORT);
    stack(&mut net, SERVER).listen(PORT, CONNECTIONS).unwrap();
    let before = rss();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let now = net.now();
        clients.push(stack(&mut net, CLIENT).connect(now, server_addr()).unwrap());
    }
    let mut servers = Vec::with_capacity(CONNECTIONS);
    run(&mut net, Duration::from_secs(30), |n| {
        while let Some(s) = stack(n, SERVER).accept(PORT) {
            servers.push(s);
        }
        servers.len() == CONNECTIONS
    });
    idle(&mut net, Duration::from_secs(1));
    assert!(clients.iter().all(|&c| stack(&mut net, CLIENT).state(c) == Some(State::Established)));
    let records: usize =
        servers.iter().map(|&s| stack(&mut net, SERVER).story(s).map_or(0, |v| v.story.records().len())).sum();
    let after = rss();
    println!(
        "stories {stories:?}: RSS {:.1} MB ({:.1} MB before the connections), {records} records on the server's side",
        after as f64 / 1e6,
        before as f64 / 1e6
    );
    assert!(after <= 64 << 20, "{after} bytes resident");
}
