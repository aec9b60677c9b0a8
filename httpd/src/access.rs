//! The access log: one line per response in the Combined Log Format that
//! Apache and nginx write, so the usual tools can read it.

use std::net::IpAddr;

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

impl Entry<'_> {
    pub fn write(&self) {
        log::info!(target: "access", "{}", self.format());
    }

    fn format(&self) -> String {
        let quoted = |v: Option<&[u8]>| v.map_or("-".to_string(), escape);
        let bytes = match self.body_bytes {
            0 => "-".to_string(),
            n => n.to_string(),
        };
        format!(
            "{} - - [{}] \"{}\" {} {bytes} \"{}\" \"{}\"",
            self.peer,
            self.time,
            quoted(self.line.map(str::as_bytes)),
            self.status,
            quoted(self.referer),
            quoted(self.user_agent)
        )
    }
}

/// Client-supplied text cannot break the line or fake a field: quotes,
/// backslashes, control and non-ASCII bytes are written as escapes.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => out += "\\\"",
            b'\\' => out += "\\\\",
            0x20..=0x7e => out.push(b as char),
            _ => out += &format!("\\x{b:02x}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            entry.format(),
            r#"10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /a\"b HTTP/1.1" 200 12 "-" "x\\y\x0a\xff""#
        );
        let entry = Entry { line: None, body_bytes: 0, ..entry };
        assert!(entry.format().contains("] \"-\" 200 - \"-\""));
    }
}
