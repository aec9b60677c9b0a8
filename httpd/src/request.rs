//! Turning the bytes at the front of the input into one request, or into the
//! error status that answers them.
//!
//! httparse does the tokenising; this module adds the limits and the rules of
//! RFC 9112 that decide whether the request is acceptable and how it is framed.

use crate::response::Status;

/// Longest request line, CRLF included (longer: 414).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest header section after the request line (larger: 431).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest single header field line, CRLF included (longer: 431).
pub const MAX_FIELD_LINE: usize = 8 * 1024;
/// Most header fields in one request (more: 431).
pub const MAX_HEADERS: usize = 100;
/// Largest request head we ever buffer.
pub const MAX_HEAD: usize = MAX_REQUEST_LINE + MAX_HEADER_BYTES;
/// Largest request body we read and throw away (larger: 413).
pub const MAX_BODY: u64 = 1024 * 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// A standard method this server does not allow on its resources (405).
    NotAllowed,
    /// A method it does not know at all (501).
    Unknown,
}

impl Method {
    fn from_token(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH" | "TRACE" | "CONNECT" => Method::NotAllowed,
            _ => Method::Unknown,
        }
    }
}

/// A request head that parsed and passed the framing rules. It owns its
/// strings so the input buffer can move on while the response is written.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// The request line as sent, then the target: one allocation for both
    /// (`line`, `target`).
    text: String,
    /// Where the line ends in `text`.
    line_len: usize,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the client lets the connection stay open after the response.
    pub keep_alive: bool,
    /// Bytes of request body that follow the head.
    pub content_length: u64,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub referer: Option<Vec<u8>>,
    pub user_agent: Option<Vec<u8>>,
}

impl Request {
    /// The request line as sent, for the access log.
    pub fn line(&self) -> &str {
        &self.text[..self.line_len]
    }

    /// The path and query, `/a/b?q` (absolute-form targets are cut down to this).
    pub fn target(&self) -> &str {
        &self.text[self.line_len..]
    }

    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(p, _)| p)
    }
}

/// Why a request was refused before it reached a resource.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: Status,
    /// The request line if it could be read, for the access log.
    pub line: Option<String>,
}

#[derive(Debug)]
pub enum Parsed {
    /// The head is not complete yet; read more.
    Partial,
    /// A request whose head took this many bytes of input.
    Complete(Request, usize),
    /// An unacceptable request; the connection ends after the answer.
    Rejected(Rejection),
}

/// Whether a field line of the header section at the front of `fields`,
/// complete or still arriving, is longer than `MAX_FIELD_LINE`. Stops at the
/// empty line: what follows is body or the next request.
fn field_line_too_long(fields: &[u8]) -> bool {
    let mut rest = fields;
    loop {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i + 1 > MAX_FIELD_LINE => return true,
            Some(i) if i == 0 || (i == 1 && rest[0] == b'\r') => return false,
            Some(i) => rest = &rest[i + 1..],
            None => return rest.len() > MAX_FIELD_LINE,
        }
    }
}

/// Parses the request at the front of `buf`, enforcing the size limits.
pub fn parse(buf: &[u8]) -> Parsed {
    // Measure the request line ourselves: httparse only knows complete or
    // partial. Empty lines before it (which httparse skips) count towards it.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line_end = buf[start..].iter().position(|&b| b == b'\n').map(|i| start + i + 1);
    if line_end.unwrap_or(buf.len()) > MAX_REQUEST_LINE {
        return reject(Status::UriTooLong, None);
    }
    let lossy = line_end.map(|end| String::from_utf8_lossy(&buf[start..end]));
    let line = lossy.as_deref().map(str::trim_end);

    if let Some(end) = line_end {
        if field_line_too_long(&buf[end..]) {
            return reject(Status::HeadersTooLarge, line);
        }
    }

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            let header_bytes = buf.len() - line_end.unwrap_or(buf.len());
            if header_bytes > MAX_HEADER_BYTES {
                return reject(Status::HeadersTooLarge, line);
            }
            return Parsed::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => return reject(Status::HeadersTooLarge, line),
        // httparse gives up at the first unexpected byte of the version, but
        // 505 or 400 depends on the whole of it: wait for the end of the
        // line, or the answer would depend on how TCP cut the stream.
        Err(httparse::Error::Version) if line.is_none() => return Parsed::Partial,
        Err(httparse::Error::Version) if looks_like_other_version(line) => {
            return reject(Status::VersionNotSupported, line)
        }
        Err(_) => return reject(Status::BadRequest, line),
    };
    if head_len - line_end.unwrap_or(0) > MAX_HEADER_BYTES {
        return reject(Status::HeadersTooLarge, line);
    }
    // A complete parse fills these in.
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version) else {
        return reject(Status::BadRequest, line);
    };
    let line = line.unwrap_or_default();
    match check(method, target, minor_version, req.headers) {
        Ok((request, target)) => {
            let mut text = String::with_capacity(line.len() + target.len());
            text.push_str(line);
            text.push_str(target);
            Parsed::Complete(Request { text, line_len: line.len(), ..request }, head_len)
        }
        Err(status) => reject(status, Some(line)),
    }
}

fn reject(status: Status, line: Option<&str>) -> Parsed {
    Parsed::Rejected(Rejection { status, line: line.map(str::to_string) })
}

/// `GET / HTTP/2.0` is well formed but of a version we do not speak (505);
/// anything else httparse calls a version error is just malformed (400).
fn looks_like_other_version(line: Option<&str>) -> bool {
    let version = line.and_then(|l| l.split(' ').nth(2)).unwrap_or("");
    let digits = version.strip_prefix("HTTP/").map(|v| v.as_bytes());
    matches!(digits, Some([major, b'.', minor]) if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Applies the framing and header rules to a syntactically valid head:
/// the request (its `text` still empty) and its target in origin-form.
fn check<'a>(
    method: &str,
    target: &'a str,
    minor_version: u8,
    headers: &[httparse::Header],
) -> Result<(Request, &'a str), Status> {
    // `OPTIONS *` asks about the server; it gets the same 405 as any OPTIONS.
    let target = match target {
        "*" if method == "OPTIONS" => target,
        _ => origin_form(target).ok_or(Status::BadRequest)?,
    };
    let mut request = Request {
        method: Method::from_token(method),
        text: String::new(),
        line_len: 0,
        minor_version,
        keep_alive: false,
        content_length: 0,
        if_none_match: None,
        if_modified_since: None,
        range: None,
        if_range: None,
        referer: None,
        user_agent: None,
    };
    let (mut hosts, mut lengths, mut chunked) = (0, 0, false);
    let (mut close, mut keep_alive) = (false, false);
    for h in headers {
        let text = || std::str::from_utf8(h.value).ok().map(|v| v.trim().to_string());
        let Some(field) = Field::named(h.name) else { continue };
        match field {
            Field::Host => hosts += 1,
            Field::ContentLength => {
                lengths += 1;
                let value = std::str::from_utf8(h.value).ok().map(str::trim);
                request.content_length = value.and_then(decimal).ok_or(Status::BadRequest)?;
            }
            Field::TransferEncoding => chunked = true,
            Field::Connection => {
                for token in h.value.split(|&b| b == b',').map(|t| t.trim_ascii()) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            // A list header may come in several fields; join them.
            Field::IfNoneMatch => {
                let joined = [request.if_none_match.take(), text()].into_iter().flatten();
                request.if_none_match = Some(joined.collect::<Vec<_>>().join(", "));
            }
            Field::IfModifiedSince => request.if_modified_since = text(),
            Field::Range => request.range = text(),
            Field::IfRange => request.if_range = text(),
            Field::Referer => request.referer = Some(h.value.to_vec()),
            Field::UserAgent => request.user_agent = Some(h.value.to_vec()),
        }
    }
    // HTTP/1.1 is persistent unless told otherwise; 1.0 only when asked.
    request.keep_alive = !close && (minor_version == 1 || keep_alive);
    if (minor_version == 1 && hosts == 0) || hosts > 1 || lengths > 1 {
        return Err(Status::BadRequest);
    }
    // We cannot frame a chunked body, so we cannot find the next request.
    if chunked {
        return Err(Status::NotImplemented);
    }
    if request.content_length > MAX_BODY {
        return Err(Status::PayloadTooLarge);
    }
    Ok((request, target))
}

/// The header fields this server reads.
#[derive(Copy, Clone)]
enum Field {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    IfNoneMatch,
    IfModifiedSince,
    Range,
    IfRange,
    Referer,
    UserAgent,
}

impl Field {
    /// Field names are case-insensitive (RFC 9110 §5.1); compared in place,
    /// so that reading a request's fields allocates nothing.
    fn named(name: &str) -> Option<Field> {
        const NAMES: [(&str, Field); 10] = [
            ("host", Field::Host),
            ("content-length", Field::ContentLength),
            ("transfer-encoding", Field::TransferEncoding),
            ("connection", Field::Connection),
            ("if-none-match", Field::IfNoneMatch),
            ("if-modified-since", Field::IfModifiedSince),
            ("range", Field::Range),
            ("if-range", Field::IfRange),
            ("referer", Field::Referer),
            ("user-agent", Field::UserAgent),
        ];
        NAMES.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)).map(|&(_, field)| field)
    }
}

/// A non-negative decimal number of digits only (no sign, no spaces), as
/// `Content-Length` and byte ranges are written.
pub fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The path-and-query of a request target: origin-form as is, absolute-form
/// (`http://host/path`) cut down to its path. Anything else is not for us.
fn origin_form(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let scheme_len = ["http://", "https://"]
        .iter()
        .find(|s| target.get(..s.len()).is_some_and(|t| t.eq_ignore_ascii_case(s)))?
        .len();
    let rest = &target[scheme_len..];
    Some(rest.find('/').map_or("/", |i| &rest[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (Request, usize) {
        match parse(raw.as_bytes()) {
            Parsed::Complete(r, n) => (r, n),
            other => panic!("{raw:?} gave {other:?}"),
        }
    }

    fn status(raw: &[u8]) -> Status {
        match parse(raw) {
            Parsed::Rejected(r) => r.status,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn simple_get() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\nNEXT";
        let (r, n) = ok(raw);
        assert_eq!(n, raw.len() - 4);
        assert_eq!((r.method, r.target(), r.path()), (Method::Get, "/a?b=1", "/a"));
        assert_eq!(r.line(), "GET /a?b=1 HTTP/1.1");
        assert!(r.keep_alive);
        assert_eq!(r.user_agent.as_deref(), Some(&b"t"[..]));
    }

    #[test]
    fn partial_until_blank_line() {
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial));
        assert!(matches!(parse(b""), Parsed::Partial));
    }

    #[test]
    fn methods() {
        assert_eq!(ok("HEAD / HTTP/1.0\r\n\r\n").0.method, Method::Head);
        assert_eq!(ok("DELETE / HTTP/1.0\r\n\r\n").0.method, Method::NotAllowed);
        assert_eq!(ok("BREW / HTTP/1.0\r\n\r\n").0.method, Method::Unknown);
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |raw: &str| ok(raw).0.keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn absolute_form_is_cut_to_its_path() {
        assert_eq!(ok("GET http://h:8080/x?y HTTP/1.1\r\nHost: h\r\n\r\n").0.target(), "/x?y");
        assert_eq!(ok("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n").0.target(), "/");
        assert_eq!(status(b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), Status::BadRequest);
    }

    #[test]
    fn rejections() {
        let cases: &[(&[u8], Status)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", Status::BadRequest), // no Host
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", Status::PayloadTooLarge),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Status::NotImplemented),
            (b"GET / HTTP/2.0\r\n\r\n", Status::VersionNotSupported),
            (b"GET / HTTP/0.9\r\n\r\n", Status::VersionNotSupported),
            (b"GET / HTTX/1.1\r\n\r\n", Status::BadRequest),
            (b"GET /\r\n\r\n", Status::BadRequest),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", Status::BadRequest),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Status::BadRequest),
            (b"\x00\xff\r\n\r\n", Status::BadRequest),
            (b"GET x HTTP/1.1\r\nHost: a\r\n\r\n", Status::BadRequest),
        ];
        for (raw, want) in cases {
            assert_eq!(status(raw), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    /// The answer to a bad version is the same however the request line
    /// arrives: every prefix is incomplete or gets the whole line's answer.
    /// (Found by fuzzing: `HTTP/2.0` cut before its line end got 400, whole 505.)
    #[test]
    fn version_errors_wait_for_the_line() {
        for (raw, want) in [
            (&b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..], Status::VersionNotSupported),
            (b"GET / HTTP/1.23\r\nHost: a\r\n\r\n", Status::BadRequest),
            (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", Status::BadRequest),
        ] {
            assert_eq!(status(raw), want);
            for end in 0..raw.len() {
                match parse(&raw[..end]) {
                    Parsed::Partial => {}
                    Parsed::Rejected(r) => assert_eq!(r.status, want, "{:?}", String::from_utf8_lossy(&raw[..end])),
                    Parsed::Complete(..) => panic!("complete at {end}"),
                }
            }
        }
    }

    #[test]
    fn request_line_limit() {
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE));
        // Refused as soon as the line is too long, before its end arrives...
        assert_eq!(status(&long.as_bytes()[..MAX_REQUEST_LINE + 1]), Status::UriTooLong);
        // ...and a line just under the limit is fine.
        let fits = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(MAX_REQUEST_LINE - 16));
        assert!(matches!(parse(fits.as_bytes()), Parsed::Complete(..)));
    }

    #[test]
    fn header_limits() {
        let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "b".repeat(MAX_HEADER_BYTES));
        assert_eq!(status(big.as_bytes()), Status::HeadersTooLarge);
        // Refused before the end of the head arrives, too.
        assert_eq!(status(&big.as_bytes()[..big.len() - 4]), Status::HeadersTooLarge);

        // One field line over its own limit, though the section fits.
        let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "b".repeat(9_000));
        assert_eq!(status(long.as_bytes()), Status::HeadersTooLarge);
        assert_eq!(status(&long.as_bytes()[..MAX_FIELD_LINE + 40]), Status::HeadersTooLarge);
        let fits = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "b".repeat(MAX_FIELD_LINE - 5));
        assert!(matches!(parse(fits.as_bytes()), Parsed::Complete(..)));
        // A long body line after the head is not a field line.
        let body = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9000\r\n\r\n{}", "c".repeat(9_000));
        assert!(matches!(parse(body.as_bytes()), Parsed::Complete(..)));

        let fields = |n: usize| {
            let mut s = "GET / HTTP/1.1\r\nHost: a\r\n".to_string();
            for i in 1..n {
                s += &format!("X-{i}: v\r\n");
            }
            s + "\r\n"
        };
        assert!(matches!(parse(fields(MAX_HEADERS).as_bytes()), Parsed::Complete(..)));
        assert_eq!(status(fields(MAX_HEADERS + 1).as_bytes()), Status::HeadersTooLarge);
    }

    #[test]
    fn conditional_headers_are_kept() {
        let (r, _) = ok("GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"a\"\r\n\
                         If-None-Match: \"b\"\r\nRange: bytes=0-1\r\nIf-Range: \"a\"\r\n\
                         If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(r.if_none_match.as_deref(), Some("\"a\", \"b\""));
        assert_eq!(r.range.as_deref(), Some("bytes=0-1"));
        assert_eq!(r.if_range.as_deref(), Some("\"a\""));
        assert!(r.if_modified_since.is_some());
    }
}
