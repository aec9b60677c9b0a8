//! The access log: one line per response in the Combined Log Format that
//! Apache and nginx write, so the usual tools can read it; on stderr.

use std::io::Write;
use std::net::{IpAddr, Ipv6Addr};

/// What the log line says about one exchange.
pub struct Entry<'a> {
    pub peer: IpAddr,
    /// `[06/Nov/1994:08:49:37 +0000]` without the brackets.
    pub time: &'a str,
    /// The request line, or None when none could be read.
    pub line: Option<&'a str>,
    pub status: u16,
    pub body_bytes: u64,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

/// Where access lines go: gathered in memory and written to stderr in one
/// `write` per turn of the event loop (`flush`), rather than one locked,
/// timestamped `log` record and one syscall per request. Lines go out only
/// if `RUST_LOG` lets `access` log at INFO (it does by default).
pub struct Log {
    enabled: bool,
    buf: Vec<u8>,
    /// The last IPv6 peer and its text: writing an IPv6 address (RFC
    /// 5952's shortest form, by `Display`) costs more than the rest of the
    /// line, and a client's requests come from one address.
    last_v6: (Ipv6Addr, Vec<u8>),
}

/// Past this many bytes waiting, a line flushes at once.
const FLUSH_AT: usize = 64 * 1024;

impl Log {
    pub fn new() -> Log {
        Log {
            enabled: log::log_enabled!(target: "access", log::Level::Info),
            buf: Vec::new(),
            last_v6: (Ipv6Addr::UNSPECIFIED, b"::".to_vec()),
        }
    }

    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            // An access log that cannot be written must not stop the server.
            let _ = std::io::stderr().write_all(&self.buf);
            self.buf.clear();
        }
    }
}

impl Default for Log {
    fn default() -> Log {
        Log::new()
    }
}

impl Entry<'_> {
    pub fn write(&self, log: &mut Log) {
        if log.enabled {
            self.format_into(&mut log.buf, &mut log.last_v6);
            if log.buf.len() >= FLUSH_AT {
                log.flush();
            }
        }
    }

    /// Appends the line, newline included; `last_v6` as `Log`'s.
    fn format_into(&self, out: &mut Vec<u8>, last_v6: &mut (Ipv6Addr, Vec<u8>)) {
        let quoted = |out: &mut Vec<u8>, v: Option<&[u8]>| match v {
            Some(v) => escape_into(out, v),
            None => out.push(b'-'),
        };
        // Numbers by itoa rather than `write!`: this runs for every
        // request, and formatting machinery was a tenth of its cost.
        let mut number = itoa::Buffer::new();
        match self.peer {
            IpAddr::V4(ip) => {
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(number.format(octet).as_bytes());
                }
            }
            IpAddr::V6(ip) => {
                if last_v6.0 != ip {
                    last_v6.1.clear();
                    // Writes to a Vec cannot fail.
                    drop(write!(last_v6.1, "{ip}"));
                    last_v6.0 = ip;
                }
                out.extend_from_slice(&last_v6.1);
            }
        }
        out.extend_from_slice(b" - - [");
        out.extend_from_slice(self.time.as_bytes());
        out.extend_from_slice(b"] \"");
        quoted(out, self.line.map(str::as_bytes));
        out.extend_from_slice(b"\" ");
        out.extend_from_slice(number.format(self.status).as_bytes());
        match self.body_bytes {
            0 => out.extend_from_slice(b" - \""),
            n => {
                out.push(b' ');
                out.extend_from_slice(number.format(n).as_bytes());
                out.extend_from_slice(b" \"");
            }
        }
        quoted(out, self.referer);
        out.extend_from_slice(b"\" \"");
        quoted(out, self.user_agent);
        out.extend_from_slice(b"\"\n");
    }
}

/// Client-supplied text cannot break the line or fake a field: quotes,
/// backslashes, control and non-ASCII bytes are written as escapes.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn format(entry: &Entry) -> String {
        let mut out = Vec::new();
        entry.format_into(&mut out, &mut Log::new().last_v6);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn combined_format_with_escapes() {
        let entry = Entry {
            peer: "10.0.0.1".parse().unwrap(),
            time: "06/Nov/1994:08:49:37 +0000",
            line: Some("GET /a\"b HTTP/1.1"),
            status: 200,
            body_bytes: 12,
            referer: None,
            user_agent: Some(b"x\\y\n\xff"),
        };
        assert_eq!(
            format(&entry),
            "10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a\\\"b HTTP/1.1\" 200 12 \"-\" \"x\\\\y\\x0a\\xff\"\n"
        );
        let entry = Entry { line: None, body_bytes: 0, ..entry };
        assert!(format(&entry).contains("] \"-\" 200 - \"-\""));
    }

    /// Each IPv6 peer is written as itself, whichever came before.
    #[test]
    fn ipv6_peers_in_turn() {
        let mut log = Log::new();
        let mut out = Vec::new();
        for peer in ["::1", "2001:db8::7", "2001:db8::7", "::1", "::"] {
            let entry = Entry {
                peer: peer.parse().unwrap(),
                time: "t",
                line: None,
                status: 400,
                body_bytes: 0,
                referer: None,
                user_agent: None,
            };
            out.clear();
            entry.format_into(&mut out, &mut log.last_v6);
            assert!(out.starts_with(format!("{peer} - - [t]").as_bytes()), "{}", String::from_utf8_lossy(&out));
        }
    }
}
