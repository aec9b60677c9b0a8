//! `/_stack.json`: the TCP stack seen from inside, with the RFC's names,
//! and what the HTTP server did about slow and idle clients.

use serde_json::{json, Map, Value};
use stack::link::LinkStats;
use stack::{ConnectionInfo, Stack};

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

/// What one stack shows in `/_stack.json`: with `--workers N`, one of N
/// (see `crate::shards`).
#[derive(Clone, Debug)]
pub struct Part {
    connections: Vec<ConnectionInfo>,
    time_wait: usize,
    counters: StackCounters,
    http: Counters,
    link: LinkStats,
}

/// The stack's counters by name (`stack::Counters::fields`).
type StackCounters = [(&'static str, u64); stack::Counters::FIELDS];

impl Part {
    pub fn of(stack: &Stack, http: &Counters, link: LinkStats) -> Part {
        Part {
            connections: stack.connections().collect(),
            time_wait: stack.time_wait_count(),
            counters: stack.counters().fields(),
            http: http.clone(),
            link,
        }
    }
}

/// The stacks' connections (each with the worker that holds it) and
/// counters, the HTTP counters and what the links lost, summed over the
/// parts; then each part's own under "workers", in the order given.
pub fn json(parts: &[Part]) -> String {
    let connections: Vec<Value> = parts
        .iter()
        .enumerate()
        .flat_map(|(worker, part)| part.connections.iter().map(move |c| connection(worker, c)))
        .collect();
    let sum = |f: fn(&Part) -> u64| parts.iter().map(f).sum::<u64>();
    let mut counters = stack::Counters::default().fields();
    for part in parts {
        for ((_, total), (_, n)) in counters.iter_mut().zip(part.counters) {
            *total += n;
        }
    }
    let total = Part {
        connections: Vec::new(),
        time_wait: parts.iter().map(|p| p.time_wait).sum(),
        counters,
        http: Counters {
            header_timeouts: sum(|p| p.http.header_timeouts),
            idle_timeouts: sum(|p| p.http.idle_timeouts),
            send_timeouts: sum(|p| p.http.send_timeouts),
            refused: sum(|p| p.http.refused),
        },
        link: LinkStats {
            kernel_drops: sum(|p| p.link.kernel_drops),
            tx_drops: sum(|p| p.link.tx_drops),
            tx_errors: sum(|p| p.link.tx_errors),
        },
    };
    let mut all = summary(&total);
    all.insert("connections".into(), connections.into());
    let workers: Vec<Value> = parts
        .iter()
        .map(|p| {
            let mut one = summary(p);
            one.insert("connections".into(), p.connections.len().into());
            Value::Object(one)
        })
        .collect();
    all.insert("workers".into(), workers.into());
    Value::Object(all).to_string()
}

/// A part's counters, by name.
fn summary(part: &Part) -> Map<String, Value> {
    let named = |fields: &[(&str, u64)]| -> Map<String, Value> {
        fields.iter().map(|&(name, value)| (name.to_string(), value.into())).collect()
    };
    let link = &part.link;
    let mut map = Map::new();
    map.insert("time_wait".into(), part.time_wait.into());
    map.insert("counters".into(), named(&part.counters).into());
    map.insert("http".into(), named(&part.http.fields()).into());
    map.insert(
        "link".into(),
        json!({ "kernel_drops": link.kernel_drops, "tx_drops": link.tx_drops, "tx_errors": link.tx_errors }),
    );
    map
}

fn connection(worker: usize, c: &ConnectionInfo) -> Value {
    json!({
        "worker": worker,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part with `opened` connections opened, `tw` in TIME-WAIT and
    /// `refused` refused.
    fn part(opened: u64, tw: usize, refused: u64) -> Part {
        Part {
            connections: Vec::new(),
            time_wait: tw,
            counters: stack::Counters { connections_opened: opened, ..Default::default() }.fields(),
            http: Counters { refused, ..Counters::default() },
            link: LinkStats { kernel_drops: opened, ..LinkStats::default() },
        }
    }

    /// Counters are summed over the workers, and each worker's are kept.
    #[test]
    fn parts_are_summed_and_each_kept() {
        let v: Value = serde_json::from_str(&json(&[part(3, 1, 0), part(4, 2, 5)])).unwrap();
        assert_eq!(v["counters"]["connections_opened"], 7);
        assert_eq!((v["time_wait"].as_u64(), v["http"]["refused"].as_u64()), (Some(3), Some(5)));
        assert_eq!(v["link"]["kernel_drops"], 7);
        let opened: Vec<&Value> =
            v["workers"].as_array().unwrap().iter().map(|w| &w["counters"]["connections_opened"]).collect();
        assert_eq!(opened, [3, 4]);
        assert_eq!(v["workers"][1]["time_wait"], 2);
    }
}
