//! What goes back: status, header fields, and a body that is a few bytes
//! built for it, a file's bytes shared from the file cache, or a range of
//! an open file read a chunk at a time.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

pub const SERVER: &str = concat!("httpd/", env!("CARGO_PKG_VERSION"), " (own TCP)");

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    PartialContent,
    MovedPermanently,
    NotModified,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    UriTooLong,
    RangeNotSatisfiable,
    HeadersTooLarge,
    NotImplemented,
    ServiceUnavailable,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::PartialContent => 206,
            Status::MovedPermanently => 301,
            Status::NotModified => 304,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::PayloadTooLarge => 413,
            Status::UriTooLong => 414,
            Status::RangeNotSatisfiable => 416,
            Status::HeadersTooLarge => 431,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    /// Reason phrases as RFC 9110 and RFC 6585 name them.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::PartialContent => "Partial Content",
            Status::MovedPermanently => "Moved Permanently",
            Status::NotModified => "Not Modified",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::PayloadTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// One sentence for the error page.
    fn explanation(self) -> &'static str {
        match self {
            Status::BadRequest => "The request could not be understood.",
            Status::NotFound => "There is no such file on this server.",
            Status::MethodNotAllowed => "This server only serves files: use GET or HEAD.",
            Status::RequestTimeout => "The request headers did not arrive in time.",
            Status::PayloadTooLarge => "The request body is too large.",
            Status::UriTooLong => "The request line is too long.",
            Status::RangeNotSatisfiable => "The requested range is not in the file.",
            Status::HeadersTooLarge => "The request header section is too large.",
            Status::NotImplemented => "This server does not implement that.",
            Status::ServiceUnavailable => "Too many are watching: try again later.",
            Status::VersionNotSupported => "This server speaks HTTP/1.0 and HTTP/1.1.",
            _ => "",
        }
    }
}

/// A response before it is serialised: the connection adds `Date`, `Server`
/// and `Connection`, which depend on the moment and on the connection.
#[derive(Debug)]
pub struct Response {
    pub status: Status,
    /// Header fields already serialised, each ending in CRLF, written
    /// before `headers`: a file's are the same for every request while the
    /// file stays the same, so they are built once (`files::Heads`).
    pub fields: Option<Arc<[u8]>>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    pub after: After,
}

/// What becomes of the connection once the response is sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// It may carry the next request, if the client and the limits let it.
    Next,
    /// It closes (`Connection: close`), the server first: `/close-me`.
    Close,
    /// It stays open for events the server adds as they happen, then
    /// closes: `/_conn/feed` (a body that ends with the connection).
    Stream,
}

impl Response {
    /// A response with an in-memory body and its `Content-Type` and `Content-Length`.
    pub fn bytes(status: Status, content_type: &str, body: Vec<u8>) -> Response {
        let headers = vec![("Content-Type", content_type.to_string()), ("Content-Length", body.len().to_string())];
        Response { status, fields: None, headers, body: Body::Bytes(body), after: After::Next }
    }

    /// An error or redirect with a tiny HTML page saying what happened.
    pub fn page(status: Status) -> Response {
        let title = format!("{} {}", status.code(), status.reason());
        let html = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body><h1>{title}</h1><p>{}</p><p><a href=\"/\">Home</a></p></body></html>\n",
            status.explanation()
        );
        let mut response = Response::bytes(status, "text/html; charset=utf-8", html.into_bytes());
        if status == Status::MethodNotAllowed {
            response.headers.push(("Allow", "GET, HEAD".into()));
        }
        response
    }

    /// Serialises the status line and header fields, ending with the blank
    /// line, onto the end of `out`: no allocation once `out` has the room.
    pub fn head_into(&self, date: &str, connection: Option<&str>, out: &mut Vec<u8>) {
        let code = self.status.code();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(&[b'0' + (code / 100) as u8, b'0' + (code / 10 % 10) as u8, b'0' + (code % 10) as u8]);
        out.push(b' ');
        out.extend_from_slice(self.status.reason().as_bytes());
        out.extend_from_slice(b"\r\n");
        field_into(out, "Date", date);
        field_into(out, "Server", SERVER);
        out.extend_from_slice(self.fields.as_deref().unwrap_or_default());
        let extra = connection.map(|c| ("Connection", c));
        for (name, value) in self.headers.iter().map(|(n, v)| (*n, v.as_str())).chain(extra) {
            field_into(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// One header field line, CRLF included.
pub fn field_into(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The bytes after the head.
#[derive(Debug)]
pub enum Body {
    /// Small bodies (pages, JSON) are built whole.
    Bytes(Vec<u8>),
    /// A file's bytes in memory (`file_cache`), shared with the cache and
    /// sent by reference.
    Shared(Bytes),
    /// A file already positioned at the first byte to send.
    File { file: File, remaining: u64 },
}

impl Body {
    pub fn empty() -> Body {
        Body::Bytes(Vec::new())
    }

    pub fn remaining(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Shared(b) => b.len() as u64,
            Body::File { remaining, .. } => *remaining,
        }
    }

    /// Moves up to `max` bytes of the body onto the end of `out`. A file
    /// that ends early (truncated while we send it) is an error: the
    /// `Content-Length` already promised more.
    pub fn read_into(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<()> {
        match self {
            Body::Bytes(b) => {
                let n = b.len().min(max);
                out.extend(b.drain(..n));
            }
            Body::Shared(b) => {
                let n = b.len().min(max);
                out.extend_from_slice(&b.split_to(n));
            }
            Body::File { file, remaining } => {
                let n = (*remaining).min(max as u64) as usize;
                let start = out.len();
                out.resize(start + n, 0);
                let got = file.read(&mut out[start..]);
                let got = got.inspect_err(|_| out.truncate(start))?;
                out.truncate(start + got);
                if got == 0 && n > 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *remaining -= got as u64;
            }
        }
        Ok(())
    }
}

/// The current time as the `Date` header and the access log write it,
/// formatted again only when the second changes.
#[derive(Debug, Default)]
pub struct Date {
    unix_secs: u64,
    /// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub http: String,
    /// Common Log Format, `06/Nov/1994:08:49:37 +0000`.
    pub log: String,
}

impl Date {
    pub fn refresh(&mut self, wall: SystemTime) {
        let secs = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs == self.unix_secs && !self.http.is_empty() {
            return;
        }
        self.unix_secs = secs;
        self.http = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        // IMF-fixdate has fixed columns: "Sun, 06 Nov 1994 08:49:37 GMT".
        let h = &self.http;
        self.log = format!("{}/{}/{}:{} +0000", &h[5..7], &h[8..11], &h[12..16], &h[17..25]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn date_formats() {
        let mut d = Date::default();
        d.refresh(UNIX_EPOCH + Duration::from_secs(784111777));
        assert_eq!(d.http, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(d.log, "06/Nov/1994:08:49:37 +0000");
    }

    #[test]
    fn date_is_formatted_once_per_second() {
        let t = UNIX_EPOCH + Duration::from_secs(784111777);
        let mut d = Date::default();
        d.refresh(t);
        // Mark the cached text: if refresh reformatted, the mark would be gone.
        d.http.push('*');
        d.refresh(t + Duration::from_millis(999));
        assert_eq!(d.http, "Sun, 06 Nov 1994 08:49:37 GMT*");
        d.refresh(t + Duration::from_secs(1));
        assert_eq!(d.http, "Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn head_serialisation() {
        let r = Response::page(Status::MethodNotAllowed);
        let mut head = b"left alone".to_vec();
        r.head_into("D", Some("close"), &mut head);
        let head = String::from_utf8(head).unwrap().strip_prefix("left alone").unwrap().to_string();
        assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\nDate: D\r\nServer: httpd/"));
        assert!(head.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(head.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
        assert!(head.ends_with("\r\nConnection: close\r\n\r\n"));
        let len = r.body.remaining().to_string();
        assert!(head.contains(&format!("\r\nContent-Length: {len}\r\n")));
    }

    #[test]
    fn file_body_reads_in_bounded_chunks() {
        let mut tmp = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut tmp, b"0123456789").unwrap();
        std::io::Seek::rewind(&mut tmp).unwrap();
        let mut body = Body::File { file: tmp, remaining: 7 };
        let mut out = b"H".to_vec();
        body.read_into(&mut out, 4).unwrap();
        assert_eq!(out, b"H0123");
        body.read_into(&mut out, 100).unwrap();
        assert_eq!(out, b"H0123456");
        assert_eq!(body.remaining(), 0);
    }

    #[test]
    fn truncated_file_is_an_error() {
        let tmp = tempfile::tempfile().unwrap();
        let mut body = Body::File { file: tmp, remaining: 5 };
        let mut out = Vec::new();
        assert!(body.read_into(&mut out, 5).is_err());
        assert!(out.is_empty());
    }
}
