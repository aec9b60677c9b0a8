//! The story a connection keeps (`stack/src/tcp/story.rs`): what is
//! recorded, exactly, for a scripted conversation in the simulator; that
//! the story of a closed connection, TIME-WAIT's included, outlives it;
//! and that a host is shown only its own connections.

mod common;

use common::*;
use stack::link::faults::Faults;
use stack::tcp::state::State;
use stack::tcp::story::{Dir, Record, StoryView};
use stack::time::Duration;
use stack::wire::seq::SeqNum;

/// One record as a line: segments as tcpdump would show them, with
/// sequence numbers relative to the ISNs (`iss`, `irs` of the view), the
/// time in ms since `t0`.
fn lines(view: &StoryView) -> Vec<String> {
    let t0 = view.story.opened;
    let rel = |seq: SeqNum, dir: Dir, ack: bool| match (dir, ack) {
        (Dir::In, false) | (Dir::Out, true) => seq - view.irs,
        (Dir::Out, false) | (Dir::In, true) => seq - view.iss,
    };
    view.story
        .records()
        .map(|r| {
            let t = r.at().saturating_since(t0).as_millis();
            match *r {
                Record::Segment { dir, flags, seq, ack, len, kind, by, .. } => {
                    let ack = if flags.contains(stack::wire::tcp::Flags::ACK) {
                        format!(" ack {}", rel(ack, dir, true))
                    } else {
                        String::new()
                    };
                    let by = by.path().rsplit("::").next().unwrap_or("");
                    format!("{t} {dir:?} {flags:?} seq {}{ack} len {len} {} by {by}", rel(seq, dir, false), kind.name())
                }
                Record::State { from, to, reason, .. } => {
                    let from = from.map_or("LISTEN".to_string(), |s| s.to_string());
                    format!("{t} {from} -> {to} ({reason})")
                }
                Record::Sample { .. } => format!("{t} sample"),
            }
        })
        .collect()
}

#[test]
fn handshake_is_recorded() {
    let mut net = pair(Faults::default());
    let (c, s) = establish(&mut net);
    let client = stack(&mut net, CLIENT).story(c).unwrap();
    let (c_iss, c_irs) = (client.iss, client.irs);
    let server = stack(&mut net, SERVER).story(s).unwrap();
    assert_eq!((server.iss, server.irs), (c_irs, c_iss), "the ISNs of both sides");
    for l in lines(&server) {
        println!("{l}");
    }
}
