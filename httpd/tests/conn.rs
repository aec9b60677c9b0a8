//! The server as a client sees it, without sockets: bytes in, bytes out.

use std::fs;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use httpd::conn::Timeout;
use httpd::conn::{CHUNK, FEED_INTERVAL, FEED_KEEP_ALIVE, FEED_LIFETIME};
use httpd::file_cache;
use httpd::request::MAX_HEAD;
use httpd::site::{Live, Supplied};
use httpd::{Conn, Instant, Limits, Now, Site, State, Transport, Wants};
use tempfile::TempDir;

/// Three different timeouts, so a test can tell which one fired.
const LIMITS: Limits = Limits {
    keep_alive_timeout: Duration::from_secs(15),
    header_timeout: Duration::from_secs(10),
    send_timeout: Duration::from_secs(5),
    max_requests: 1000,
};

/// What the event loop would make of the stack for `/_stack.json`.
const STACK_JSON: &str = r#"{"connections":[]}"#;

/// A 200 KiB file: bigger than a chunk, so it must be streamed.
fn big() -> Vec<u8> {
    (0..200 * 1024u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A transport made of a closure that takes bytes; the peer acknowledges
/// every byte at once.
struct Sink<F>(F);

impl<F: FnMut(&[u8]) -> usize> Transport for Sink<F> {
    fn send(&mut self, bytes: &[u8]) -> usize {
        (self.0)(bytes)
    }
    fn unacknowledged(&self) -> usize {
        0
    }
}

/// TCP's send buffer as a `Conn` sees it: it takes up to `size` bytes,
/// which stay there until the peer acknowledges them (`ack`).
struct SendBuffer {
    size: usize,
    unacked: usize,
    sent: Vec<u8>,
}

impl SendBuffer {
    fn new(size: usize) -> SendBuffer {
        SendBuffer { size, unacked: 0, sent: Vec::new() }
    }

    fn ack(&mut self, n: usize) {
        self.unacked -= n.min(self.unacked);
    }
}

impl Transport for SendBuffer {
    fn send(&mut self, bytes: &[u8]) -> usize {
        let n = (self.size - self.unacked).min(bytes.len());
        self.unacked += n;
        self.sent.extend_from_slice(&bytes[..n]);
        n
    }
    fn unacknowledged(&self) -> usize {
        self.unacked
    }
}

struct Client {
    conn: Conn,
    site: Site,
    now: Now,
    /// Removed when the test ends.
    _dir: TempDir,
}

impl Client {
    fn new() -> Client {
        Client::with_limits(LIMITS)
    }

    fn with_limits(limits: Limits) -> Client {
        Client::with(limits, file_cache::Limits::default())
    }

    /// No file cache: files are read a chunk at a time.
    fn streaming() -> Client {
        Client::with(LIMITS, file_cache::Limits { max_bytes: 0, max_file: 0 })
    }

    fn with(limits: Limits, cache: file_cache::Limits) -> Client {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
        fs::write(root.join("a.txt"), "0123456789").unwrap();
        fs::write(root.join("b.txt"), "bee").unwrap();
        fs::write(root.join("sub/index.html"), "sub index").unwrap();
        fs::write(root.join("big.bin"), big()).unwrap();
        fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("alias.txt")).unwrap();
        let site = Site::new(&root).unwrap().with_file_cache(cache);
        let now = Now { mono: Instant::from_secs(100), wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000) };
        let conn = Conn::new("192.0.2.1".parse::<IpAddr>().unwrap(), limits, now.mono);
        Client { conn, site, now, _dir: dir }
    }

    fn later(&mut self, secs: u64) {
        self.now.mono += Duration::from_secs(secs);
        self.now.wall += Duration::from_secs(secs);
    }

    /// Sends bytes, then takes everything the server writes.
    fn send(&mut self, bytes: &[u8]) -> (Vec<u8>, Wants) {
        assert_eq!(self.conn.on_readable(bytes, self.now.mono), bytes.len());
        self.output()
    }

    /// The deadline, as the event loop would call it, with a peer that has
    /// acknowledged everything.
    fn timeout(&mut self) -> Option<Timeout> {
        self.conn.on_timeout(&mut self.site, self.now, &Sink(|b: &[u8]| b.len()))
    }

    /// Like `send`, through a send buffer.
    fn send_via(&mut self, bytes: &[u8], tcp: &mut SendBuffer) -> Wants {
        assert_eq!(self.conn.on_readable(bytes, self.now.mono), bytes.len());
        self.conn.write_to(&mut self.site, self.now, tcp)
    }

    /// Takes everything the server writes, supplying `STACK_JSON` as the
    /// event loop would each time a request asks for it.
    fn output(&mut self) -> (Vec<u8>, Wants) {
        let mut out = Vec::new();
        loop {
            let mut sink = Sink(|b: &[u8]| {
                out.extend_from_slice(b);
                b.len()
            });
            match self.conn.write_to(&mut self.site, self.now, &mut sink) {
                Wants::Live(_) => self.site.supply(Supplied::Json(STACK_JSON.to_string())),
                wants => return (out, wants),
            }
        }
    }

    /// One request, one response; panics unless exactly one came back.
    fn get(&mut self, request: &str) -> Reply {
        let (out, _) = self.send(request.as_bytes());
        let head_only = request.starts_with("HEAD");
        let mut replies = split(&out, head_only);
        assert_eq!(replies.len(), 1, "{}", String::from_utf8_lossy(&out));
        replies.remove(0)
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

/// Cuts the server's output into responses by their Content-Length.
fn split(mut out: &[u8], head_only: bool) -> Vec<Reply> {
    let mut replies = Vec::new();
    while !out.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(n) = r.parse(out).unwrap() else { panic!("partial head") };
        let status = r.code.unwrap();
        let len = r
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map_or(0, |h| std::str::from_utf8(h.value).unwrap().parse().unwrap());
        let len = if head_only || status == 304 { 0 } else { len };
        let head = String::from_utf8(out[..n].to_vec()).unwrap();
        replies.push(Reply { status, head, body: out[n..n + len].to_vec() });
        out = &out[n + len..];
    }
    replies
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

#[test]
fn serves_a_file_with_all_headers() {
    let mut c = Client::new();
    let r = c.get(&get("/a.txt?ignored=1"));
    assert_eq!(r.status, 200);
    assert!(r.head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(r.body, b"0123456789");
    assert_eq!(r.header("Date"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
    assert!(r.header("Server").unwrap().starts_with("httpd/"));
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert!(r.header("Last-Modified").unwrap().ends_with(" GMT"));
    let etag = r.header("ETag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    assert_eq!(r.header("Connection"), None);
    assert_eq!(c.conn.state(), State::ReadingRequest);
}

#[test]
fn directories() {
    let mut c = Client::new();
    assert_eq!(c.get(&get("/")).body, b"<h1>home</h1>");
    assert_eq!(c.get(&get("/sub/")).body, b"sub index");
    let r = c.get(&get("/sub?x=1"));
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/sub/?x=1"));
    assert_eq!(c.get(&get("/empty/")).status, 404); // no index, no listing
    assert_eq!(c.get(&get("/alias.txt")).body, b"0123456789"); // symlink inside the root
}

/// Ways out of the root, and what each gets. 400: the decoded path cannot
/// name a file of the site (dot segments, backslashes, NUL, not UTF-8).
/// 404: anything else that is not a regular file inside the root, symlinks
/// leading out included, so nothing is told about what lies outside.
/// Never a byte of the secret planted next to the root.
#[test]
fn traversal_never_leaves_the_root() {
    let cases: &[(&str, u16)] = &[
        ("/../secret.txt", 400),
        ("/sub/../../secret.txt", 400),
        ("/sub/../a.txt", 400), // dot segments are refused even when they stay inside
        ("/./a.txt", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/%2E%2E%2Fsecret.txt", 400),
        ("/.%2e/secret.txt", 400),
        ("/..%2fsecret.txt", 400),
        ("/%2e%2e%5csecret.txt", 400),
        ("/..%5csecret.txt", 400),
        ("/sub\\..\\..\\secret.txt", 400),
        ("/a.txt%00.html", 400),
        ("/%00", 400),
        ("/%c0%ae%c0%ae/secret.txt", 400),       // overlong '.'
        ("/%c0%ae%c0%ae%c0%afsecret.txt", 400),  // overlong '.' and '/'
        ("/%e0%80%ae%e0%80%ae/secret.txt", 400), // three-byte overlong '.'
        ("/%ff.txt", 400),
        ("http://x/../secret.txt", 400), // absolute-form, cut to its path
        // Decoded once: `%2e%2e` is just an odd name that does not exist.
        ("/%252e%252e/secret.txt", 404),
        ("/%252e%252e%252fsecret.txt", 404),
        ("/leak.txt", 404),      // a symlink to the secret
        ("/up/secret.txt", 404), // a symlink to the root's parent
        ("/up/", 404),
        ("//etc/passwd", 404),
        ("/etc/passwd", 404),
        ("/%2fetc%2fpasswd", 404),
        ("SECRET_PATH", 404), // the secret's own absolute path
        ("/nonexistent", 404),
    ];
    for &(path, status) in cases {
        let mut c = Client::new();
        let secret = c._dir.path().join("secret.txt").display().to_string();
        let path = &path.replace("SECRET_PATH", &secret);
        let (out, wants) = c.send(get(path).as_bytes());
        let replies = split(&out, false);
        assert_eq!((replies[0].status, wants), (status, Wants::Read), "{path}");
        assert!(!String::from_utf8_lossy(&out).contains("SECRET"), "{path}");
    }
    // The symlink inside the root that stays inside is followed.
    assert_eq!(Client::new().get(&get("/alias.txt")).body, b"0123456789");
}

#[test]
fn error_statuses() {
    let cases: &[(&str, u16, bool)] = &[
        ("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 405, false),
        ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405, false),
        ("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, false),
        ("GET / HTTP/1.1\r\n\r\n", 400, true),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, true),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", 400, true),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413, true),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501, true),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 405, true),
        ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, true),
        ("GARBAGE\r\n\r\n", 400, true),
    ];
    for &(request, status, closes) in cases {
        let mut c = Client::new();
        let (out, wants) = c.send(request.as_bytes());
        let r = &split(&out, false)[0];
        assert_eq!(r.status, status, "{request:?}");
        assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
        assert!(String::from_utf8_lossy(&r.body).contains(&status.to_string()));
        assert_eq!(r.header("Connection") == Some("close"), closes, "{request:?}");
        assert_eq!(wants == Wants::Close, closes, "{request:?}");
        if status == 405 {
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        }
    }
}

#[test]
fn oversized_heads_get_414_and_431_and_close() {
    let mut c = Client::new();
    let (out, wants) = c.send(format!("GET /{}", "a".repeat(9000)).as_bytes());
    assert_eq!((split(&out, false)[0].status, wants), (414, Wants::Close));

    let mut c = Client::new();
    let (out, wants) = c.send(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(17000)).as_bytes());
    assert_eq!((split(&out, false)[0].status, wants), (431, Wants::Close));

    let mut c = Client::new();
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let (out, wants) = c.send(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    assert_eq!((split(&out, false)[0].status, wants), (431, Wants::Close));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut c = Client::new();
    let three = get("/a.txt") + &get("/b.txt") + &get("/nope");
    let (out, wants) = c.send(three.as_bytes());
    let replies = split(&out, false);
    let got: Vec<_> = replies.iter().map(|r| (r.status, r.body.len())).collect();
    assert_eq!(got, [(200, 10), (200, 3), (404, got[2].1)]);
    assert_eq!(replies[1].body, b"bee");
    assert_eq!(wants, Wants::Read);
}

#[test]
fn request_arriving_byte_by_byte() {
    let mut c = Client::new();
    let request = get("/b.txt");
    let mut out = Vec::new();
    for b in request.as_bytes() {
        let (o, wants) = c.send(std::slice::from_ref(b));
        assert_eq!(wants, Wants::Read);
        out.extend(o);
    }
    assert_eq!(split(&out, false)[0].body, b"bee");
}

#[test]
fn head_has_no_body() {
    let mut c = Client::new();
    let (out, wants) = c.send(b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    assert!(text.contains("\r\nContent-Length: 10\r\n"));
    assert_eq!(wants, Wants::Read);
    // And the connection is ready for the next request.
    assert_eq!(c.get(&get("/b.txt")).body, b"bee");
}

#[test]
fn keep_alive_rules() {
    let cases = [
        ("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", None, Wants::Read),
        ("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", Some("close"), Wants::Close),
        ("GET /a.txt HTTP/1.0\r\n\r\n", Some("close"), Wants::Close),
        ("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", Some("keep-alive"), Wants::Read),
    ];
    for (request, connection, wants) in cases {
        let mut c = Client::new();
        let (out, w) = c.send(request.as_bytes());
        let r = &split(&out, false)[0];
        assert_eq!((r.status, r.header("Connection"), w), (200, connection, wants), "{request:?}");
    }
}

#[test]
fn connection_close_ends_after_the_response() {
    let mut c = Client::new();
    let two = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string() + &get("/b.txt");
    let (out, wants) = c.send(two.as_bytes());
    assert_eq!(split(&out, false).len(), 1, "nothing after the last response");
    assert_eq!(wants, Wants::Close);
    assert_eq!(c.conn.state(), State::Closed);
    assert_eq!(c.conn.deadline(), None);
}

#[test]
fn max_requests_closes_after_the_last() {
    let mut c = Client::with_limits(Limits { max_requests: 2, ..LIMITS });
    let (out, wants) = c.send((get("/a.txt") + &get("/a.txt") + &get("/a.txt")).as_bytes());
    let replies = split(&out, false);
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].header("Connection"), None);
    assert_eq!(replies[1].header("Connection"), Some("close"));
    assert_eq!(wants, Wants::Close);
}

#[test]
fn conditional_get() {
    let mut c = Client::new();
    let first = c.get(&get("/a.txt"));
    let etag = first.header("ETag").unwrap().to_string();
    let modified = first.header("Last-Modified").unwrap().to_string();
    let cond = |header: &str| format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n");

    let r = c.get(&cond(&format!("If-None-Match: \"zzz\", {etag}")));
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("ETag"), Some(etag.as_str()));
    assert_eq!(r.header("Content-Length"), None);
    assert_eq!(c.get(&cond(&format!("If-None-Match: W/{etag}"))).status, 304);
    assert_eq!(c.get(&cond("If-None-Match: *")).status, 304);
    assert_eq!(c.get(&cond("If-None-Match: \"other\"")).status, 200);

    assert_eq!(c.get(&cond(&format!("If-Modified-Since: {modified}"))).status, 304);
    assert_eq!(c.get(&cond("If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT")).status, 200);
    assert_eq!(c.get(&cond("If-Modified-Since: yesterday")).status, 200);
    // If-None-Match decides alone when present.
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}");
    assert_eq!(c.get(&cond(&both)).status, 200);
    // HEAD answers the same way.
    let head = format!("HEAD /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
    assert_eq!(c.get(&head).status, 304);
}

#[test]
fn ranges() {
    let mut c = Client::new();
    let ranged = |range: &str| format!("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: {range}\r\n\r\n");

    let r = c.get(&ranged("bytes=0-3"));
    assert_eq!((r.status, r.body.as_slice()), (206, &b"0123"[..]));
    assert_eq!(r.header("Content-Range"), Some("bytes 0-3/10"));
    assert_eq!(r.header("Content-Length"), Some("4"));
    assert_eq!(c.get(&ranged("bytes=5-")).body, b"56789");
    assert_eq!(c.get(&ranged("bytes=-3")).body, b"789");

    let r = c.get(&ranged("bytes=10-"));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */10"));
    assert_eq!(c.conn.state(), State::ReadingRequest, "416 keeps the connection");

    let r = c.get(&ranged("bytes=0-1,4-5"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"0123456789"[..]));

    let etag = r.header("ETag").unwrap().to_string();
    let if_range = |v: &str| format!("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nIf-Range: {v}\r\n\r\n");
    assert_eq!(c.get(&if_range(&etag)).status, 206);
    assert_eq!(c.get(&if_range("\"stale\"")).status, 200);
    assert_eq!(c.get(&if_range("Thu, 01 Jan 1970 00:00:00 GMT")).status, 200);

    // A range deep in a streamed file.
    let r = c.get("GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-100009\r\n\r\n");
    assert_eq!(r.body, big()[100000..100010]);
}

#[test]
fn streams_a_large_file_through_a_one_byte_sink() {
    let mut c = Client::streaming();
    c.conn.on_readable(get("/big.bin").as_bytes(), c.now.mono);
    let (mut out, mut calls, mut largest_offer) = (Vec::new(), 0, 0);
    let mut full = false;
    loop {
        // The transport takes one byte per call and is full every other call.
        let wants = c.conn.write_to(
            &mut c.site,
            c.now,
            &mut Sink(|b: &[u8]| {
                largest_offer = largest_offer.max(b.len());
                full = !full;
                if full {
                    return 0;
                }
                out.push(b[0]);
                1
            }),
        );
        calls += 1;
        match wants {
            Wants::Write => continue,
            Wants::Read => break,
            other => panic!("{other:?}"),
        }
    }
    let replies = split(&out, false);
    assert_eq!(replies[0].body, big());
    assert!(largest_offer <= CHUNK, "read {largest_offer} bytes ahead");
    assert!(calls > big().len());
}

#[test]
fn head_and_first_body_bytes_go_out_in_one_write() {
    let mut c = Client::new();
    c.conn.on_readable(get("/b.txt").as_bytes(), c.now.mono);
    let mut writes = Vec::new();
    c.conn.write_to(
        &mut c.site,
        c.now,
        &mut Sink(|b: &[u8]| {
            writes.push(b.to_vec());
            b.len()
        }),
    );
    assert_eq!(writes.len(), 1);
    assert!(writes[0].ends_with(b"\r\n\r\nbee"));
}

#[test]
fn a_full_transport_holds_the_response() {
    let mut c = Client::new();
    c.conn.on_readable(get("/a.txt").as_bytes(), c.now.mono);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut Sink(|_: &[u8]| 0)), Wants::Write);
    assert_eq!(c.conn.state(), State::WritingResponse);
    let (out, wants) = c.output();
    assert_eq!((split(&out, false)[0].body.as_slice(), wants), (&b"0123456789"[..], Wants::Read));
}

#[test]
fn pipelined_input_is_bounded_while_a_response_is_pending() {
    let mut c = Client::new();
    c.conn.on_readable(get("/big.bin").as_bytes(), c.now.mono);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut Sink(|_: &[u8]| 0)), Wants::Write);
    let flood = get("/a.txt").repeat(MAX_HEAD);
    let taken = c.conn.on_readable(flood.as_bytes(), c.now.mono);
    assert_eq!(taken, MAX_HEAD);
    assert_eq!(c.conn.input_room(), 0);
    assert_eq!(c.conn.on_readable(b"more", c.now.mono), 0);
}

#[test]
fn request_bodies_are_discarded() {
    let mut c = Client::new();
    // A body on GET is skipped: what came with the head, the rest as it
    // arrives, and the next request follows in the same read.
    let (out, _) = c.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello");
    assert_eq!(split(&out, false)[0].status, 200);
    let (out, wants) = c.send(format!(" world{}", get("/b.txt")).as_bytes());
    let r = &split(&out, false)[0];
    assert_eq!((r.status, r.body.as_slice(), wants), (200, &b"bee"[..], Wants::Read));

    // The body does not become a request.
    let (out, _) =
        c.send(format!("GET /b.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET {}", get("/a.txt")).as_bytes());
    let bodies: Vec<_> = split(&out, false).into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [b"bee".to_vec(), b"0123456789".to_vec()]);
}

/// A body on a method we refuse is not waited for: 405 (or 501) and close,
/// so that a client cannot hold the connection by trickling it (R-U-Dead-Yet).
/// Without a body the connection stays.
#[test]
fn a_refused_method_with_a_body_closes() {
    for (request, status, wants) in [
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab", 405, Wants::Close),
        ("PUT /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", 405, Wants::Close),
        ("BREW / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 501, Wants::Close),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, Wants::Read),
        ("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, Wants::Read),
    ] {
        let mut c = Client::new();
        let (out, w) = c.send(request.as_bytes());
        let r = &split(&out, false)[0];
        let close = wants == Wants::Close;
        assert_eq!((r.status, w), (status, wants), "{request:?}");
        assert_eq!(r.header("Connection") == Some("close"), close, "{request:?}");
    }
}

/// Slowloris: the head must be complete within the header timeout of its
/// first byte, however steadily more of it arrives.
#[test]
fn header_timeout_gives_408_and_closes() {
    let mut c = Client::new();
    c.later(1);
    c.send(b"GET /a.txt HTTP/1.1\r\nHo");
    let deadline = c.conn.deadline().unwrap();
    assert_eq!(deadline, c.now.mono + LIMITS.header_timeout);
    for _ in 0..9 {
        c.later(1);
        c.send(b"X-a: b\r\n"); // more bytes do not extend the deadline
        assert_eq!(c.conn.deadline(), Some(deadline));
    }
    assert_eq!(c.timeout(), None, "too early");
    assert_eq!(c.conn.state(), State::ReadingRequest);
    c.later(1);
    assert_eq!(c.timeout(), Some(Timeout::Header));
    let (out, wants) = c.output();
    let r = &split(&out, false)[0];
    assert_eq!((r.status, r.header("Connection"), wants), (408, Some("close"), Wants::Close));
}

#[test]
fn idle_connections_close_silently() {
    let mut c = Client::new();
    // A new connection waits header_timeout for its first byte.
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.header_timeout));
    c.later(10);
    assert_eq!(c.timeout(), Some(Timeout::Idle));
    assert_eq!(c.output(), (Vec::new(), Wants::Close));

    let mut c = Client::new();
    c.get(&get("/a.txt"));
    // Between requests, keep_alive_timeout.
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.keep_alive_timeout));
    c.later(14);
    assert_eq!(c.timeout(), None);
    c.later(1);
    assert_eq!(c.timeout(), Some(Timeout::Idle));
    assert_eq!(c.output(), (Vec::new(), Wants::Close));
}

/// The rest of a GET's body is skipped as it arrives, but trickling it does
/// not keep an idle connection open.
#[test]
fn a_trickled_body_does_not_extend_the_idle_timeout() {
    let mut c = Client::new();
    let (out, _) = c.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    assert_eq!(split(&out, false)[0].status, 200);
    let idle_until = c.now.mono + LIMITS.keep_alive_timeout;
    for _ in 0..14 {
        c.later(1);
        c.send(b"z");
        assert_eq!(c.conn.deadline(), Some(idle_until));
    }
    c.later(1);
    assert_eq!(c.timeout(), Some(Timeout::Idle));
}

/// Slow read: the peer takes nothing, TCP's buffer stays full, and after the
/// send timeout the connection is reset, not closed.
#[test]
fn a_reader_that_stalls_is_reset() {
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(16 * 1024);
    assert_eq!(c.send_via(get("/big.bin").as_bytes(), &mut tcp), Wants::Write);
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.send_timeout));
    c.later(4);
    assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), None);
    c.later(1);
    assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), Some(Timeout::Send));
    assert_eq!(c.conn.state(), State::Closed);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut tcp), Wants::Abort);
    assert_eq!(c.conn.deadline(), None);
}

/// A peer that reads slowly but keeps reading is served to the end: every
/// acknowledgement is progress, seen at the latest when the deadline comes.
#[test]
fn a_slow_reader_that_keeps_taking_is_served() {
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(16 * 1024);
    let mut wants = c.send_via(get("/big.bin").as_bytes(), &mut tcp);
    while wants != Wants::Read {
        // Acknowledged just before the deadline, with no event to say so:
        // on_timeout notices, and the deadline moves on.
        c.later(4);
        tcp.ack(8 * 1024);
        assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), None);
        wants = c.conn.write_to(&mut c.site, c.now, &mut tcp);
        assert_ne!(wants, Wants::Abort);
    }
    assert_eq!(split(&tcp.sent, false)[0].body, big());
}

/// A file rewritten in place while a slow reader is being sent it: the
/// reader gets exactly the bytes the response began with (the ETag it was
/// given names them), and the next request, once the lookup looks again,
/// gets the new bytes under a new ETag. (Read a chunk at a time from the
/// file, as without the file cache, the first body is a mix of both.)
#[test]
fn a_file_rewritten_mid_response_is_sent_as_it_was() {
    let mut c = Client::new();
    let path = c._dir.path().join("www/big.bin");
    let mut tcp = SendBuffer::new(16 * 1024);
    assert_eq!(c.send_via(get("/big.bin").as_bytes(), &mut tcp), Wants::Write);
    // In place: same inode, same size, other bytes, a later time.
    let new: Vec<u8> = big().iter().map(|b| b ^ 0xff).collect();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &file, &new).unwrap();
    file.set_modified(fs::metadata(&path).unwrap().modified().unwrap() + Duration::from_secs(1)).unwrap();
    let mut wants = Wants::Write;
    while wants != Wants::Read {
        c.later(2); // past the lookup's freshness: the file is looked at again
        tcp.ack(8 * 1024);
        wants = c.conn.write_to(&mut c.site, c.now, &mut tcp);
    }
    let first = split(&tcp.sent, false).remove(0);
    assert!(first.body == big(), "the first response is not the file as it was");
    let second = c.get(&get("/big.bin"));
    assert!(second.body == new, "the second response is not the new file");
    assert_ne!(first.header("ETag"), second.header("ETag"));
}

/// A peer that stops taking data is dropped between one and two send
/// timeouts after it last took anything: progress is seen when looked for.
#[test]
fn progress_is_seen_at_the_deadline() {
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(16 * 1024);
    c.send_via(get("/big.bin").as_bytes(), &mut tcp);
    let first = c.conn.deadline().unwrap();
    c.later(1);
    tcp.ack(1); // the last byte the peer ever takes; no event tells us
    c.later(4);
    assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), None);
    assert_eq!(c.conn.deadline(), Some(first + LIMITS.send_timeout));
    c.later(5);
    assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), Some(Timeout::Send));
}

/// A response that fits in TCP's buffer is handed over at once, but it is
/// not delivered until acknowledged: the send timeout still runs while the
/// connection waits for its next request.
#[test]
fn an_unacknowledged_response_keeps_the_send_timeout() {
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(256 * 1024);
    assert_eq!(c.send_via(get("/a.txt").as_bytes(), &mut tcp), Wants::Read);
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.send_timeout));
    c.later(5);
    assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), Some(Timeout::Send));
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut tcp), Wants::Abort);

    // Once acknowledged, only the keep-alive timeout is left.
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(256 * 1024);
    c.send_via(get("/a.txt").as_bytes(), &mut tcp);
    c.later(1);
    tcp.ack(usize::MAX);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut tcp), Wants::Read);
    assert_eq!(c.conn.deadline(), Some(c.now.mono - Duration::from_secs(1) + LIMITS.keep_alive_timeout));
}

/// After the last response the server shuts down its side but keeps the
/// connection (`Linger`) until the peer has acknowledged everything, then
/// lets TCP finish (`Close`); a peer that stops taking it is reset.
#[test]
fn closing_waits_for_the_peer_to_take_everything() {
    let close = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(256 * 1024);
    assert_eq!(c.send_via(close.as_bytes(), &mut tcp), Wants::Linger);
    assert_eq!(c.conn.state(), State::Closed);
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.send_timeout));
    // What arrives now is dropped.
    let more = b"GET / HTTP/1.1\r\n";
    assert_eq!(c.conn.on_readable(more, c.now.mono), more.len());
    c.later(3);
    tcp.ack(10);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut tcp), Wants::Linger);
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.send_timeout), "progress");
    c.later(1);
    tcp.ack(usize::MAX);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut tcp), Wants::Close);
    assert_eq!(c.conn.deadline(), None);
    assert_eq!(split(&tcp.sent, false)[0].body, b"0123456789");

    let mut c = Client::new();
    let mut tcp = SendBuffer::new(256 * 1024);
    assert_eq!(c.send_via(close.as_bytes(), &mut tcp), Wants::Linger);
    c.later(5);
    assert_eq!(c.conn.on_timeout(&mut c.site, c.now, &tcp), Some(Timeout::Send));
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut tcp), Wants::Abort);
}

/// The send clock starts when something starts to wait for the peer: a long
/// idle spell before a request does not count against its response.
#[test]
fn an_idle_spell_is_not_the_peers_delay() {
    let mut c = Client::with_limits(Limits { keep_alive_timeout: Duration::from_secs(100), ..LIMITS });
    let mut tcp = SendBuffer::new(16 * 1024);
    c.send_via(get("/a.txt").as_bytes(), &mut tcp);
    tcp.ack(usize::MAX);
    c.later(50);
    assert_eq!(c.send_via(get("/big.bin").as_bytes(), &mut tcp), Wants::Write);
    assert_eq!(c.conn.deadline(), Some(c.now.mono + LIMITS.send_timeout));
}

#[test]
fn peer_close_after_pipelined_requests() {
    let mut c = Client::new();
    c.conn.on_readable((get("/a.txt") + &get("/b.txt") + "GET /partial").as_bytes(), c.now.mono);
    c.conn.on_peer_closed();
    let (out, wants) = c.output();
    assert_eq!(split(&out, false).len(), 2);
    assert_eq!(wants, Wants::Close);
}

/// The connection asks the event loop for the body, each time, and leaves
/// the request in place until it has it.
#[test]
fn stack_json_comes_from_the_event_loop() {
    let mut c = Client::new();
    let mut sink = Sink(|b: &[u8]| b.len());
    c.conn.on_readable((get("/_stack.json") + &get("/_stack.json")).as_bytes(), c.now.mono);
    let stack = Wants::Live(Live::Stack);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut sink), stack);
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut sink), stack, "asked again");
    c.site.supply(Supplied::Json("{}".to_string()));
    assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut sink), stack, "for the second request");
    let (out, wants) = c.output();
    assert_eq!((split(&out, false).len(), wants), (1, Wants::Read));

    let r = c.get(&get("/_stack.json?t=1"));
    assert_eq!((r.status, r.body.as_slice()), (200, &br#"{"connections":[]}"#[..]));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let r = c.get("HEAD /_stack.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("18")));
}

#[test]
fn date_header_follows_the_wall_clock() {
    let mut c = Client::new();
    let first = c.get(&get("/a.txt")).header("Date").unwrap().to_string();
    c.later(1);
    let second = c.get(&get("/a.txt")).header("Date").unwrap().to_string();
    assert_eq!(first, "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_eq!(second, "Tue, 14 Nov 2023 22:13:21 GMT");
}

/// `/close-me`, and any path with a `close` query, answer with
/// `Connection: close`: the server closes first.
#[test]
fn close_me_closes_after_the_response() {
    for target in ["/close-me", "/a.txt?close", "/?x=1&close"] {
        let mut c = Client::new();
        let (out, wants) = c.send(get(target).as_bytes());
        let r = &split(&out, false)[0];
        assert_eq!((r.status, r.header("Connection"), wants), (200, Some("close"), Wants::Close), "{target}");
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
    }
    // A query that only looks like it is an ordinary request.
    let mut c = Client::new();
    let (out, wants) = c.send(get("/a.txt?closed").as_bytes());
    assert_eq!((split(&out, false)[0].body.as_slice(), wants), (&b"0123456789"[..], Wants::Read));
}

/// What a feed writes until it waits: each time it asks, the event loop
/// answers with `news` (taken in turn; `None` for nothing new).
fn feed_output(c: &mut Client, news: &mut Vec<Option<&str>>) -> (String, Wants) {
    let mut out = Vec::new();
    loop {
        let mut sink = Sink(|b: &[u8]| {
            out.extend_from_slice(b);
            b.len()
        });
        match c.conn.write_to(&mut c.site, c.now, &mut sink) {
            Wants::Live(Live::Feed) => {
                let next = news.remove(0);
                c.site.supply(next.map_or(Supplied::Nothing, |json| Supplied::Json(json.to_string())));
            }
            wants => return (String::from_utf8(out).unwrap(), wants),
        }
    }
}

fn later_by(c: &mut Client, d: Duration) {
    c.now.mono += d;
    c.now.wall += d;
}

/// `/_conn/feed`: Server-Sent Events on a connection that stays
/// `Streaming`. An event when the event loop has news, looked for every
/// `FEED_INTERVAL`; a keep-alive comment after `FEED_KEEP_ALIVE` of
/// quiet; the end after `FEED_LIFETIME`.
#[test]
fn a_feed_streams_events_until_its_lifetime_ends() {
    let mut c = Client::new();
    let start = c.now.mono;
    c.conn.on_readable(get("/_conn/feed").as_bytes(), c.now.mono);
    let (out, wants) = feed_output(&mut c, &mut vec![Some(r#"{"n":1}"#)]);
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/event-stream\r\n"), "{head}");
    assert!(head.contains("\r\nCache-Control: no-store\r\n"), "{head}");
    assert!(head.ends_with("\r\nConnection: close"), "{head}");
    assert!(!head.contains("Content-Length"), "the body ends with the connection: {head}");
    assert_eq!((body, wants, c.conn.state()), ("data: {\"n\":1}\n\n", Wants::Read, State::Streaming));
    assert_eq!(c.conn.deadline(), Some(start + FEED_INTERVAL));

    // Not yet time to look: nothing, not even a question.
    later_by(&mut c, FEED_INTERVAL / 2);
    assert_eq!(feed_output(&mut c, &mut vec![]), (String::new(), Wants::Read));
    // Time to look, and nothing new: nothing sent.
    later_by(&mut c, FEED_INTERVAL / 2);
    assert_eq!(c.timeout(), None);
    assert_eq!(feed_output(&mut c, &mut vec![None]), (String::new(), Wants::Read));
    later_by(&mut c, FEED_INTERVAL);
    assert_eq!(feed_output(&mut c, &mut vec![Some(r#"{"n":2}"#)]), ("data: {\"n\":2}\n\n".into(), Wants::Read));
    // Quiet for FEED_KEEP_ALIVE: a comment.
    later_by(&mut c, FEED_KEEP_ALIVE);
    assert_eq!(feed_output(&mut c, &mut vec![None]), (": keep-alive\n\n".into(), Wants::Read));

    // Input during the stream is dropped: it does not end it, nor get a
    // 408, nor fill the input so that the peer's FIN would go unseen.
    assert_eq!(c.conn.on_readable(b"GET / HT", c.now.mono), 8);
    assert_eq!(c.conn.input_room(), usize::MAX);
    c.now.mono = start + FEED_LIFETIME - Duration::from_millis(1);
    assert_eq!(c.timeout(), None);
    assert_eq!(feed_output(&mut c, &mut vec![None]).1, Wants::Read);
    c.now.mono = start + FEED_LIFETIME;
    assert_eq!(c.conn.deadline(), Some(c.now.mono));
    assert_eq!(feed_output(&mut c, &mut vec![]), (String::new(), Wants::Close));
}

/// The peer's FIN, or the server's stop, ends a feed at once.
#[test]
fn a_feed_ends_with_the_peers_fin_or_the_servers_stop() {
    for stop in [false, true] {
        let mut c = Client::new();
        c.conn.on_readable(get("/_conn/feed").as_bytes(), c.now.mono);
        assert_eq!(feed_output(&mut c, &mut vec![Some("{}")]).1, Wants::Read);
        if stop {
            c.conn.stop();
        } else {
            c.conn.on_peer_closed();
        }
        assert_eq!(feed_output(&mut c, &mut vec![]), (String::new(), Wants::Close));
    }
}

/// A feed the event loop refuses (too many open) gets 503 and the
/// connection goes on; HEAD gets the head and a close.
#[test]
fn a_refused_feed_gets_503_and_head_gets_no_stream() {
    let mut c = Client::new();
    c.conn.on_readable(get("/_conn/feed").as_bytes(), c.now.mono);
    let (out, wants) = feed_output(&mut c, &mut vec![None]);
    assert_eq!((split(out.as_bytes(), false)[0].status, wants), (503, Wants::Read));

    let mut c = Client::new();
    c.conn.on_readable(b"HEAD /_conn/feed HTTP/1.1\r\nHost: x\r\n\r\n", c.now.mono);
    let (out, wants) = feed_output(&mut c, &mut vec![Some("{}")]);
    assert!(out.ends_with("\r\n\r\n") && out.contains("text/event-stream"), "{out}");
    assert_eq!(wants, Wants::Close);
}

/// `/_conn/self` and `/_conn/recent` come from the event loop, like
/// `/_stack.json`; a connection with no story gets 404.
#[test]
fn conn_resources_come_from_the_event_loop() {
    for (path, live) in [("/_conn/self", Live::ConnSelf), ("/_conn/recent", Live::ConnRecent)] {
        let mut c = Client::new();
        let mut sink = Sink(|b: &[u8]| b.len());
        c.conn.on_readable(get(path).as_bytes(), c.now.mono);
        assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut sink), Wants::Live(live));
        c.site.supply(Supplied::Json(r#"{"now_ms":1.5}"#.into()));
        let mut out = Vec::new();
        let mut sink = Sink(|b: &[u8]| {
            out.extend_from_slice(b);
            b.len()
        });
        assert_eq!(c.conn.write_to(&mut c.site, c.now, &mut sink), Wants::Read);
        let r = &split(&out, false)[0];
        assert_eq!((r.status, r.body.as_slice()), (200, &br#"{"now_ms":1.5}"#[..]));
        assert_eq!((r.header("Content-Type"), r.header("Cache-Control")), (Some("application/json"), Some("no-store")));
    }
    let mut c = Client::new();
    c.conn.on_readable(get("/_conn/self").as_bytes(), c.now.mono);
    c.site.supply(Supplied::Nothing);
    let (out, _) = c.output();
    assert_eq!(split(&out, false)[0].status, 404);
}

/// A connection made with the buffers of one that ended
/// (`Conn::into_spare`, as the server reuses them) sees nothing of it:
/// neither the request it had half received nor the response it had not
/// sent.
#[test]
fn a_connection_reusing_spare_buffers_starts_clean() {
    let mut c = Client::new();
    let mut tcp = SendBuffer::new(10);
    let half = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHo";
    assert_eq!(c.send_via(half, &mut tcp), Wants::Write, "the response waits in the connection's buffer");
    let peer = "192.0.2.2".parse::<IpAddr>().unwrap();
    let old = std::mem::replace(&mut c.conn, Conn::new(peer, LIMITS, c.now.mono));
    c.conn = Conn::reusing(old.into_spare(), peer, LIMITS, c.now.mono);
    let r = c.get("GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.body), (200, b"bee".to_vec()));
}
