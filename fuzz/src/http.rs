//! One httpd connection — `Conn` and `Site`, no sockets — fed arbitrary bytes
//! as a client's request stream.
//!
//! The stream is delivered twice: whole (as much as the connection takes at
//! a time, to a transport that takes everything), and in pieces of 1 to
//! 3000 bytes to a transport that takes at most 777 bytes a call and
//! refuses every other call. Then the header timeout passes, and the client
//! closes. Properties, besides never panicking:
//! - both deliveries give the same bytes back: responses do not depend on
//!   how TCP happened to cut the stream;
//! - the output is a sequence of well-formed HTTP/1.1 responses, each with
//!   `Date`, `Server` and `Content-Length` (but 304), and nothing after one
//!   that says `Connection: close`; the connection ends closed;
//! - a body of 200 or 206 is a piece of a file inside the root (or the
//!   stack's JSON), and no byte of the file outside the root — reachable
//!   through `..`, encodings and symlinks — ever appears;
//! - a connection that waits always has a deadline, and one that waits for
//!   input takes some (no stall with a full buffer).
//!
//! The site is a fixture made at start next to the fuzz binary (see
//! [`fixture`]). A response to HEAD has no body: a body is taken to be
//! absent when what follows the head is the next response, which works
//! because no file of the fixture contains `HTTP/`.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use httpd::site::{Supplied, CLOSE_ME_BODY};
use httpd::{Conn, Instant, Limits, Now, Site, State, Transport, Wants};

const LIMITS: Limits = Limits {
    keep_alive_timeout: Duration::from_secs(15),
    header_timeout: Duration::from_secs(10),
    send_timeout: Duration::from_secs(30),
    max_requests: 5,
};

/// The content of the file outside the root.
const SECRET: &[u8] = b"SECRET-OUTSIDE-ROOT";
const STACK_JSON: &str = r#"{"connections":[],"fuzz":true}"#;

/// The site's root, and the contents of every file inside it.
pub struct Fixture {
    pub root: PathBuf,
    files: Vec<Vec<u8>>,
}

/// Lowercase letters only, so a file never contains `HTTP/`.
fn letters(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((i * 7 + seed) % 26) as u8).collect()
}

/// A root with files, a subdirectory, an empty file, one larger than a
/// response chunk, a socket (not a regular file), a symlink inside the root,
/// and two symlinks out of it: to `secret.txt` beside the root, and to the
/// directory that holds both. Made once, in a directory next to the
/// executable (inside cargo's target directory); a later process finds it
/// made and writes nothing, so processes may share it.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let exe = std::env::current_exe().expect("the executable's path");
        let dir = exe.parent().expect("a directory").join("http-fuzz-site");
        let root = dir.join("www");
        fs::create_dir_all(root.join("sub")).expect("create the fixture");
        let files = [
            ("index.html", b"<h1>home</h1>".to_vec()),
            ("a.txt", letters(10, 0)),
            ("empty.txt", Vec::new()),
            ("sub/index.html", b"<p>sub</p>".to_vec()),
            ("sub/style.css", letters(300, 3)),
            ("big.bin", letters(100 * 1024, 5)),
        ];
        let outside = dir.join("secret.txt");
        for (path, content) in
            files.iter().map(|(name, c)| (root.join(name), c)).chain([(outside.clone(), &SECRET.to_vec())])
        {
            if fs::read(&path).ok().as_ref() != Some(content) {
                fs::write(&path, content).expect("write a fixture file");
            }
        }
        let links = [("leak.txt", outside), ("up", dir.clone()), ("sub/alias.txt", root.join("a.txt"))];
        for (name, target) in links {
            let link = root.join(name);
            if fs::read_link(&link).ok() != Some(target.clone()) {
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(&target, &link).expect("create a fixture symlink");
            }
        }
        if !root.join("socket").exists() {
            std::os::unix::net::UnixListener::bind(root.join("socket")).expect("create a socket file");
        }
        let mut contents: Vec<Vec<u8>> = files.into_iter().map(|(_, c)| c).collect();
        contents.push(STACK_JSON.as_bytes().to_vec());
        Fixture { root, files: contents }
    })
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Delivery {
    Whole,
    Pieces,
}

/// A transport that keeps what it is given, all of it or at most 777 bytes
/// every other call.
struct Sink {
    out: Vec<u8>,
    throttled: bool,
    calls: u64,
}

impl Transport for Sink {
    fn send(&mut self, bytes: &[u8]) -> usize {
        self.calls += 1;
        let n = match (self.throttled, self.calls % 2) {
            (false, _) => bytes.len(),
            (true, 0) => 0,
            (true, _) => bytes.len().min(777),
        };
        self.out.extend_from_slice(&bytes[..n]);
        n
    }
    /// The client acknowledges at once.
    fn unacknowledged(&self) -> usize {
        0
    }
}

pub fn check(data: &[u8]) {
    let fixture = fixture();
    let whole = converse(&fixture.root, data, Delivery::Whole);
    let pieces = converse(&fixture.root, data, Delivery::Pieces);
    if whole != pieces {
        panic!(
            "the responses depend on how the stream was cut:\nwhole:  {:?}\npieces: {:?}",
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(&pieces)
        );
    }
    validate(fixture, &whole);
}

/// Everything the server sends back for `data`.
fn converse(root: &Path, data: &[u8], delivery: Delivery) -> Vec<u8> {
    let mut site = Site::new(root).expect("the fixture's root");
    let mut now = Now { mono: Instant::from_secs(100), wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000) };
    let mut conn = Conn::new(IpAddr::from([192, 0, 2, 1]), LIMITS, now.mono);
    let mut sink = Sink { out: Vec::new(), throttled: delivery == Delivery::Pieces, calls: 0 };
    const PIECES: [usize; 5] = [1, 7, 64, 512, 3000];
    let mut rest = data;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = match delivery {
            Delivery::Whole => rest.len(),
            Delivery::Pieces => PIECES[turn % PIECES.len()].min(rest.len()),
        };
        turn += 1;
        let (mut piece, after) = rest.split_at(size);
        rest = after;
        // What the connection does not take stays in TCP until it has answered.
        while !piece.is_empty() {
            let taken = conn.on_readable(piece, now.mono);
            piece = &piece[taken..];
            let wants = drive(&mut conn, &mut site, now, &mut sink);
            if wants == Wants::Close {
                return sink.out;
            }
            // It answered what it had, so it has room for more.
            assert!(taken > 0, "the connection stalls: it takes no input and waits for more");
        }
    }
    // The client sends no more: the header timeout passes, then it closes.
    now.mono += LIMITS.header_timeout;
    now.wall += LIMITS.header_timeout;
    conn.on_timeout(&mut site, now, &sink);
    if drive(&mut conn, &mut site, now, &mut sink) == Wants::Close {
        return sink.out;
    }
    conn.on_peer_closed();
    assert_eq!(drive(&mut conn, &mut site, now, &mut sink), Wants::Close, "the peer closed, so must the server");
    sink.out
}

/// `write_to` until the connection waits for input or closes.
fn drive(conn: &mut Conn, site: &mut Site, now: Now, sink: &mut Sink) -> Wants {
    loop {
        let wants = conn.write_to(site, now, sink);
        match wants {
            Wants::Write => continue,
            // What the event loop does: the stack described.
            Wants::Live(_) => {
                site.supply(Supplied::Json(STACK_JSON.to_string()));
                continue;
            }
            Wants::Close => assert_eq!(conn.state(), State::Closed),
            Wants::Read => assert!(matches!(conn.state(), State::ReadingRequest | State::Streaming)),
            // The client acknowledges everything at once and the send
            // timeout never passes: nothing to linger for, no reason to reset.
            Wants::Linger | Wants::Abort => panic!("{wants:?} with nothing unacknowledged"),
        }
        if wants != Wants::Close {
            assert!(conn.deadline().is_some(), "a connection waits with no deadline");
        }
        return wants;
    }
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a str> {
    let h = headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
    Some(std::str::from_utf8(h.value).expect("header values are ASCII"))
}

fn validate(fixture: &Fixture, out: &[u8]) {
    assert!(!contains(out, SECRET), "a byte from outside the root was served");
    let mut rest = out;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("not an HTTP response ({other:?}): {:?}", String::from_utf8_lossy(rest)),
        };
        assert_eq!(response.version, Some(1));
        let code = response.code.expect("a status code");
        let headers = response.headers;
        assert!(header(headers, "date").is_some() && header(headers, "server").is_some());
        let length = match header(headers, "content-length") {
            Some(v) => v.parse::<usize>().expect("a numeric Content-Length"),
            None => {
                assert_eq!(code, 304, "only 304 goes without Content-Length");
                0
            }
        };
        let after = &rest[head_len..];
        let next_response = |b: &[u8]| b.is_empty() || b.starts_with(b"HTTP/1.1 ");
        let body_len = if length <= after.len() && next_response(&after[length..]) { length } else { 0 };
        assert!(next_response(&after[body_len..]), "a body that does not match its Content-Length");
        let body = &after[..body_len];
        if matches!(code, 200 | 206) {
            assert!(
                body == CLOSE_ME_BODY || fixture.files.iter().any(|f| contains(f, body)),
                "a {code} body that is no piece of a file inside the root"
            );
        } else if !body.is_empty() {
            assert!(body.starts_with(b"<!DOCTYPE html>"), "a {code} without its page");
        }
        rest = &after[body_len..];
        if header(headers, "connection") == Some("close") {
            assert!(rest.is_empty(), "bytes after a response that closes the connection");
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
