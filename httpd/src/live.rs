//! `/_conn/self`, `/_conn/recent` and `/_conn/feed`: the stories the stack
//! keeps of the asker's own connections (`stack/src/tcp/story.rs`), as the
//! JSON `www/live.html` reads. The stack does no JSON; this module does
//! nothing else.
//!
//! Only the asker's own: the address is the connection's remote address as
//! TCP knows it, never a header, and nobody sees another address's
//! connections. Times are milliseconds on the stack's clock, with µs
//! precision; every answer carries `now_ms` so a page can count down to
//! the end of TIME-WAIT.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::{json, Value};
use stack::tcp::story::{Dir, OptionSummary, Record, StoryView};
use stack::time::Instant;

/// At most this many feeds are open at once; the next gets 503.
pub const MAX_FEEDS: usize = 32;

/// At most this many connections are shown, the newest: a client that
/// opened hundreds would otherwise make each answer (and each feed event,
/// every `conn::FEED_INTERVAL`) megabytes of JSON.
pub const MAX_SHOWN: usize = 32;

/// Milliseconds on the stack's clock, µs precision.
fn ms(t: Instant) -> f64 {
    t.total_micros() as f64 / 1000.0
}

/// `/_conn/self`: the story of the asking connection.
pub fn one(view: &StoryView, now: Instant) -> String {
    json!({ "now_ms": ms(now), "conn": conn(view) }).to_string()
}

/// `/_conn/recent`, and each event of `/_conn/feed`: the stories of one
/// address's connections, live and recently closed, newest first (the
/// first `MAX_SHOWN`).
pub fn recent<'a>(views: impl Iterator<Item = StoryView<'a>>, now: Instant) -> String {
    let conns: Vec<Value> = views.take(MAX_SHOWN).map(|v| conn(&v)).collect();
    json!({ "now_ms": ms(now), "conns": conns }).to_string()
}

/// What changes whenever one of the stories does: a feed sends an event
/// only when this differs from the last one's. Records are only ever
/// added (a full story drops its oldest, and counts them), so a story's
/// length plus its dropped count grows with each record.
pub fn signature<'a>(views: impl Iterator<Item = StoryView<'a>>) -> u64 {
    let mut h = DefaultHasher::new();
    for v in views.take(MAX_SHOWN) {
        (v.story.id, v.state.name(), v.story.records().len(), v.story.dropped().total(), v.time_wait_until)
            .hash(&mut h);
    }
    h.finish()
}

/// One connection: who, its state and ISNs, and its records oldest first.
pub fn conn(v: &StoryView) -> Value {
    let events: Vec<Value> = v.story.records().map(event).collect();
    json!({
        "id": format!("{}-{}#{}", v.remote, v.local, v.story.id),
        "local": v.local.to_string(),
        "remote": v.remote.to_string(),
        "state": v.state.name(),
        "iss": v.iss.0,
        "irs": v.irs.0,
        "opened_ms": ms(v.story.opened),
        "time_wait_until_ms": v.time_wait_until.map(ms),
        "dropped": v.story.dropped().total(),
        "events": events,
    })
}

/// One record: a segment as tcpdump would show it, a state transition,
/// or a sample of the sender's variables.
pub fn event(r: &Record) -> Value {
    match *r {
        Record::Segment { at, dir, flags, seq, ack, len, wnd, options: opts, kind, by } => json!({
            "t_ms": ms(at),
            "type": "segment",
            "dir": match dir { Dir::In => "in", Dir::Out => "out" },
            "flags": flags.to_string(),
            "seq": seq.0,
            "ack": ack.0,
            "len": len,
            "win": wnd,
            "options": options(&opts),
            "kind": kind.name(),
            "by": by.path(),
        }),
        Record::State { at, from, to, reason } => json!({
            "t_ms": ms(at),
            "type": "state",
            // LISTEN is no state of a TCB (a listener holds none).
            "from": from.map_or("LISTEN", |s| s.name()),
            "to": to.name(),
            "reason": reason,
        }),
        Record::Sample { at, srtt_us, rto_us, cwnd, ssthresh, snd_wnd } => json!({
            "t_ms": ms(at),
            "type": "sample",
            "srtt_ms": srtt_us.map(|us| f64::from(us) / 1000.0),
            "rto_ms": f64::from(rto_us) / 1000.0,
            "cwnd": cwnd,
            "ssthresh": ssthresh,
            "snd_wnd": snd_wnd,
        }),
    }
}

/// A segment's options as tcpdump lists them: "mss 1460,sackOK,TS,wscale 7";
/// "sack 2" for two SACK blocks; "" for none.
pub fn options(o: &OptionSummary) -> String {
    let mss = o.mss.map(|m| format!("mss {m}"));
    let sack_ok = o.sack_permitted.then(|| "sackOK".to_string());
    let ts = o.timestamps.then(|| "TS".to_string());
    let wscale = o.wscale.map(|w| format!("wscale {w}"));
    let sack = (o.sack_blocks > 0).then(|| format!("sack {}", o.sack_blocks));
    [mss, sack_ok, ts, wscale, sack].into_iter().flatten().collect::<Vec<_>>().join(",")
}

/// A server stack that records every connection's story, for tests that
/// look at the stories rather than at who asked for them.
#[cfg(test)]
pub(crate) fn recording(addr: std::net::Ipv4Addr) -> stack::Config {
    stack::Config { stories: stack::tcp::Stories::All, ..stack::Config::new(addr) }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use serde_json::Value;
    use stack::link::faults::Faults;
    use stack::link::sim::Network;
    use stack::time::Duration;
    use stack::{Config, Stack};

    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A client connects to the server in the simulator, sends a request,
    /// and closes: the server's story of it, as `/_conn/recent` gives it.
    fn served() -> (Value, Value) {
        let mut net = Network::new(Faults { delay: Duration::from_millis(1), ..Faults::default() });
        let (c, s) = (
            net.add_host(CLIENT, Stack::new(Config::new(CLIENT))),
            net.add_host(SERVER, Stack::new(recording(SERVER))),
        );
        net.host_mut(s).listen(80, 4).unwrap();
        let now = net.now();
        let h = net.host_mut(c).connect(now, SocketAddr::new(SERVER.into(), 80)).unwrap();
        let mut accepted = None;
        net.run_until(now + Duration::from_secs(1), |n| {
            accepted = accepted.or_else(|| n.host_mut(s).accept(80));
            accepted.is_some()
        });
        let now = net.now();
        net.host_mut(c).send(now, h, b"GET / HTTP/1.1\r\n\r\n").unwrap();
        net.run_until(now + Duration::from_millis(50), |_| false);
        let server = net.host(s);
        let one: Value = serde_json::from_str(&one(&server.story(accepted.unwrap()).unwrap(), net.now())).unwrap();
        let recent: Value = serde_json::from_str(&recent(server.stories_of(CLIENT.into()), net.now())).unwrap();
        (one, recent)
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    /// The JSON of schema15.md: exactly these keys, of these types.
    #[test]
    fn the_json_has_the_schemas_keys_and_types() {
        let (one, recent) = served();
        assert_eq!(keys(&one), ["conn", "now_ms"]);
        assert!(one["now_ms"].is_f64());
        let conns = recent["conns"].as_array().unwrap();
        assert_eq!(conns.len(), 1, "{recent}");
        assert_eq!(conns[0], one["conn"]);
        let conn = &one["conn"];
        assert_eq!(
            keys(conn),
            ["dropped", "events", "id", "irs", "iss", "local", "opened_ms", "remote", "state", "time_wait_until_ms"]
        );
        assert_eq!((conn["local"].as_str(), conn["state"].as_str()), (Some("10.0.0.2:80"), Some("ESTABLISHED")));
        let remote = conn["remote"].as_str().unwrap();
        assert!(remote.starts_with("10.0.0.1:"));
        assert_eq!(
            conn["id"].as_str().unwrap(),
            format!("{remote}-10.0.0.2:80#{}", conn["id"].as_str().unwrap().rsplit('#').next().unwrap())
        );
        assert!(conn["iss"].is_u64() && conn["irs"].is_u64() && conn["dropped"].is_u64());
        assert!(conn["opened_ms"].is_f64() && conn["time_wait_until_ms"].is_null());

        let events = conn["events"].as_array().unwrap();
        let of = |t: &'static str| events.iter().filter(move |e| e["type"] == t);
        let segment = of("segment").next().expect("a segment");
        assert_eq!(
            keys(segment),
            ["ack", "by", "dir", "flags", "kind", "len", "options", "seq", "t_ms", "type", "win"]
        );
        // The client's SYN, first; its ISN is our IRS.
        assert_eq!((segment["dir"].as_str(), segment["flags"].as_str()), (Some("in"), Some("S")));
        assert_eq!((&segment["seq"], segment["kind"].as_str()), (&conn["irs"], Some("normal")));
        assert!(segment["options"].as_str().unwrap().starts_with("mss "), "{segment}");
        assert!(segment["by"].as_str().unwrap().starts_with("stack/src/"), "{segment}");
        assert!(segment["t_ms"].is_f64() && segment["len"].is_u64() && segment["win"].is_u64());
        let syn_ack = of("segment").nth(1).unwrap();
        assert_eq!((syn_ack["dir"].as_str(), syn_ack["flags"].as_str()), (Some("out"), Some("S.")));
        assert_eq!(syn_ack["seq"], conn["iss"]);
        let request = of("segment").find(|e| e["len"] == 18).expect("the request's segment");
        assert_eq!((request["dir"].as_str(), request["flags"].as_str()), (Some("in"), Some("P.")));

        let state = of("state").next_back().expect("a state record");
        assert_eq!(keys(state), ["from", "reason", "t_ms", "to", "type"]);
        assert_eq!(state["to"], "ESTABLISHED");
        assert!(state["reason"].is_string() && state["from"].is_string());

        let sample = of("sample").next().expect("a sample");
        assert_eq!(keys(sample), ["cwnd", "rto_ms", "snd_wnd", "srtt_ms", "ssthresh", "t_ms", "type"]);
        assert!(sample["rto_ms"].is_f64() && sample["cwnd"].is_u64() && sample["snd_wnd"].is_u64());
        assert!(sample["srtt_ms"].is_f64() || sample["srtt_ms"].is_null());
        assert!(sample["ssthresh"].is_u64() || sample["ssthresh"].is_null());
    }

    /// The signature changes with every record, and only then.
    #[test]
    fn the_signature_follows_the_records() {
        let mut net = Network::new(Faults { delay: Duration::from_millis(1), ..Faults::default() });
        let (c, s) = (
            net.add_host(CLIENT, Stack::new(Config::new(CLIENT))),
            net.add_host(SERVER, Stack::new(recording(SERVER))),
        );
        net.host_mut(s).listen(80, 4).unwrap();
        let sig = |net: &Network<Stack>| signature(net.host(s).stories_of(CLIENT.into()));
        let empty = sig(&net);
        let now = net.now();
        let h = net.host_mut(c).connect(now, SocketAddr::new(SERVER.into(), 80)).unwrap();
        net.run_until(now + Duration::from_millis(100), |_| false);
        let connected = sig(&net);
        assert_ne!(connected, empty);
        net.run_until(net.now() + Duration::from_millis(100), |_| false);
        assert_eq!(sig(&net), connected, "nothing happened");
        let now = net.now();
        net.host_mut(c).send(now, h, b"x").unwrap();
        net.run_until(now + Duration::from_millis(100), |_| false);
        assert_ne!(sig(&net), connected);
    }

    #[test]
    fn options_as_tcpdump_lists_them() {
        let o =
            OptionSummary { mss: Some(1460), wscale: Some(7), sack_permitted: true, timestamps: true, sack_blocks: 0 };
        assert_eq!(options(&o), "mss 1460,sackOK,TS,wscale 7");
        assert_eq!(
            options(&OptionSummary { timestamps: true, sack_blocks: 2, ..OptionSummary::default() }),
            "TS,sack 2"
        );
        assert_eq!(options(&OptionSummary::default()), "");
    }
}
