//! `/_stack.json`: the TCP stack seen from inside, with the RFC's names,
//! and what the HTTP server did about slow and idle clients.

use serde_json::{json, Map, Value};
use stack::link::LinkStats;
use stack::Stack;

/// What the server did about clients that were slow, idle or too many;
/// shown at `/_stack.json` under "http".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Heads not complete within --header-timeout: 408 and close.
    pub header_timeouts: u64,
    /// Connections closed for silence (--keep-alive-timeout between
    /// requests, --header-timeout before the first).
    pub idle_timeouts: u64,
    /// Peers that took nothing for --send-timeout: reset.
    pub send_timeouts: u64,
    /// Connections refused beyond --max-connections, or while stopping.
    pub refused: u64,
}

impl Counters {
    /// Name and value of every counter.
    pub fn fields(&self) -> [(&'static str, u64); 4] {
        [
            ("header_timeouts", self.header_timeouts),
            ("idle_timeouts", self.idle_timeouts),
            ("send_timeouts", self.send_timeouts),
            ("refused", self.refused),
        ]
    }
}

/// The stack's connections and counters, the HTTP counters, and what the
/// link lost.
pub fn json(stack: &Stack, http: &Counters, link: LinkStats) -> String {
    let connections: Vec<Value> = stack
        .connections()
        .map(|c| {
            json!({
                "local": c.local.to_string(),
                "remote": c.remote.to_string(),
                "state": c.state.name(),
                "snd_una": c.snd_una,
                "snd_nxt": c.snd_nxt,
                "rcv_nxt": c.rcv_nxt,
                "snd_wnd": c.snd_wnd,
                "rcv_wnd": c.rcv_wnd,
                "snd_mss": c.snd_mss,
                "cwnd": c.cwnd,
                "ssthresh": (c.ssthresh != usize::MAX).then_some(c.ssthresh),
                "sack": c.sack_permitted,
                "srtt_us": c.srtt.map(|d| d.as_micros() as u64),
                "rto_ms": c.rto.as_millis() as u64,
                "rcv_buf": c.rcv_buf,
                "wscale": c.window_scale.map(|(ours, peer)| json!({ "rcv": ours, "snd": peer })),
                "timestamps": c.timestamps,
            })
        })
        .collect();
    let counters: Map<String, Value> =
        stack.counters().fields().iter().map(|&(name, value)| (name.to_string(), value.into())).collect();
    let http: Map<String, Value> =
        http.fields().iter().map(|&(name, value)| (name.to_string(), value.into())).collect();
    json!({
        "connections": connections,
        "time_wait": stack.time_wait_count(),
        "counters": counters,
        "http": http,
        "link": {
            "kernel_drops": link.kernel_drops,
            "tx_drops": link.tx_drops,
            "tx_errors": link.tx_errors,
        },
    })
    .to_string()
}
