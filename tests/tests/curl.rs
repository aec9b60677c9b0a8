//! Suite 1, curl: the HTTP behaviours of the server, seen by curl over the
//! kernel's TCP on `lo`.

use std::io::{Read, Write};
use std::time::Duration;

use tests::*;

const SUITE: &str = "curl";

/// A response as curl saw it: status, header block (lowercased names), body.
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// `curl -i` with `args`; one response.
fn get(args: &[&str]) -> Resp {
    let out = run(
        std::process::Command::new("curl").args(["-sS", "-i", "--max-time", "20"]).args(args),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let raw = out.stdout;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    Resp { status, head, body: raw[split + 4..].to_vec() }
}

fn file(path: &str) -> Vec<u8> {
    std::fs::read(www().join(path)).expect("www file")
}

/// Several URLs on one curl command line go over one connection:
/// `%{num_connects}` is 1 for the first and 0 for the rest.
#[test]
fn keep_alive_reuses_the_connection() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("curl-keep-alive", Opts::default());
        let (a, b, c) = (h.url("/"), h.url("/style.css"), h.url("/tcp.html"));
        let out = curl(
            &["-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null"]
                .iter()
                .copied()
                .chain(["-w", "%{http_code} %{num_connects}\n", &a, &b, &c].iter().copied())
                .collect::<Vec<_>>(),
        );
        assert_eq!(out, "200 1\n200 0\n200 0\n");
    });
}

/// HEAD gets the GET's headers (Content-Length of the file) and no body:
/// on one connection, HEAD then GET, the bytes after HEAD's header block
/// are the GET's status line. (curl alone would not tell: it discards a
/// stray body as "excess".)
#[test]
fn head_has_no_body() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("curl-head", Opts::default());
        let r = get(&["-I", &h.url("/")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some(file("index.html").len().to_string()));

        let mut s = std::net::TcpStream::connect(h.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /files/1KiB.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let body = file("files/1KiB.txt");
        let mut buf = Vec::new();
        let mut chunk = [0; 65536];
        while !buf.ends_with(&body) && buf.len() < 64 * 1024 {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(rest.starts_with("HTTP/1.1 200 "), "bytes after HEAD's headers: {:?}", &rest[..rest.len().min(80)]);
    });
}

/// The ETag in `If-None-Match`, and the Last-Modified in
/// `If-Modified-Since`, each turn the answer into 304 with no body.
#[test]
fn conditional_get_is_304() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("curl-304", Opts::default());
        let url = h.url("/style.css");
        let r = get(&[&url]);
        assert_eq!(r.status, 200);
        let etag = r.header("etag").expect("an ETag");
        let modified = r.header("last-modified").expect("a Last-Modified");
        let r = get(&["-H", &format!("If-None-Match: {etag}"), &url]);
        assert_eq!((r.status, r.body.len()), (304, 0), "{}", r.head);
        let r = get(&["-H", &format!("If-Modified-Since: {modified}"), &url]);
        assert_eq!((r.status, r.body.len()), (304, 0), "{}", r.head);
        // A different validator is a full response.
        let r = get(&["-H", "If-None-Match: \"nope\"", &url]);
        assert_eq!(r.status, 200);
    });
}

/// `-r 0-9` gets 206 with the first ten bytes; a range past the end gets 416.
#[test]
fn ranges() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("curl-range", Opts::default());
        let url = h.url("/files/1KiB.txt");
        let whole = file("files/1KiB.txt");
        let r = get(&["-r", "0-9", &url]);
        assert_eq!(r.status, 206, "{}", r.head);
        assert_eq!(r.body, &whole[..10]);
        assert_eq!(r.header("content-range"), Some(format!("bytes 0-9/{}", whole.len())));
        let r = get(&["-r", "999999-", &url]);
        assert_eq!(r.status, 416, "{}", r.head);
        assert_eq!(r.header("content-range"), Some(format!("bytes */{}", whole.len())));
    });
}

/// A request sent byte for byte on a kernel socket (nothing normalises the
/// target on the way): the status and the whole response.
fn raw_get(h: &Httpd, target: &str) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(h.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("the response, then the server's FIN");
    let status = String::from_utf8_lossy(&out).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

/// Ways out of the root, against a site with a secret planted next to it
/// and symlinks inside pointing at it. 400 for a target that cannot name a
/// file once decoded (dot segments, backslash, NUL, overlong or invalid
/// UTF-8); 404 for anything else not inside the root, symlinks leading out
/// included. Never a byte of the secret. Raw requests, and curl
/// `--path-as-is` for the dot segments.
#[test]
fn traversal_never_leaves_the_root() {
    e2e(SUITE, &["curl"], || {
        let dir = scratch();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("sub/a.txt"), "inside").unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "TOP-SECRET-7f3a").unwrap();
        std::os::unix::fs::symlink(&secret, root.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/a.txt"), root.join("alias.txt")).unwrap();
        let h = Httpd::start("curl-traversal", Opts::default().root(&root));

        let absolute = secret.display().to_string();
        let cases: &[(&str, u16)] = &[
            ("/../secret.txt", 400),
            ("/sub/../../secret.txt", 400),
            ("/%2e%2e/secret.txt", 400),
            ("/%2E%2E%2fsecret.txt", 400),
            ("/..%2fsecret.txt", 400),
            ("/.%2e/secret.txt", 400),
            ("/%2e%2e%5csecret.txt", 400),
            ("/sub\\..\\..\\secret.txt", 400),
            ("/leak.txt%00.html", 400),
            ("/%c0%ae%c0%ae/secret.txt", 400),
            ("/%e0%80%ae%e0%80%ae/secret.txt", 400),
            ("/%c0%ae%c0%ae%c0%afsecret.txt", 400),
            ("/%252e%252e/secret.txt", 404),
            ("/%252e%252e%252fsecret.txt", 404),
            ("/leak.txt", 404),
            ("/up/secret.txt", 404),
            ("/up/www/sub/a.txt", 200), // out and back in: the file itself is inside
            ("//etc/passwd", 404),
            ("/%2fetc%2fpasswd", 404),
            (&absolute, 404),
        ];
        for &(target, status) in cases {
            let (got, out) = raw_get(&h, target);
            let text = String::from_utf8_lossy(&out);
            assert_eq!(got, status, "{target}: {text}");
            assert!(!text.contains("TOP-SECRET"), "{target} served the secret");
        }
        for path in ["/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/..%2f..%2fetc/passwd"] {
            let r = get(&["--path-as-is", &h.url(path)]);
            assert_eq!(r.status, 400, "{path}: {}", r.head);
            assert!(!String::from_utf8_lossy(&r.body).contains("TOP-SECRET"), "{path} served the secret");
        }
        // What is inside is served, through a symlink that stays inside too.
        assert!(raw_get(&h, "/alias.txt").1.ends_with(b"inside"));
        assert_eq!(raw_get(&h, "/sub/a.txt").0, 200);
    });
}

/// A directory without its slash is 301 to the slashed path.
#[test]
fn directory_redirects() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("curl-301", Opts::default());
        let r = get(&[&h.url("/files")]);
        assert_eq!(r.status, 301, "{}", r.head);
        assert!(r.header("location").is_some_and(|l| l.ends_with("/files/")), "{}", r.head);
        let r = get(&[&h.url("/files/")]);
        assert_eq!(r.status, 200);
    });
}

/// A 70,000-byte path is 414; a 9,000-byte header is 431.
#[test]
fn oversized_requests() {
    e2e(SUITE, &["curl"], || {
        let h = Httpd::start("curl-too-long", Opts::default());
        let long = format!("/{}", "a".repeat(70_000));
        let r = get(&[&h.url(&long)]);
        assert_eq!(r.status, 414, "{}", r.head);
        let header = format!("X-Big: {}", "b".repeat(9_000));
        let r = get(&["-H", &header, &h.url("/")]);
        assert_eq!(r.status, 431, "{}", r.head);
        // And the server still serves.
        assert_eq!(get(&[&h.url("/")]).status, 200);
    });
}

/// A file rewritten in place while a slow reader is being sent it: the
/// reader gets exactly the bytes its response began with, and the next
/// request gets the new ones under a new ETag (the file cache's snapshot
/// is sent whole; read from the file a chunk at a time instead, with
/// `--file-cache 0`, the first body is a mix of both).
#[test]
fn a_file_rewritten_mid_response_is_sent_as_it_was() {
    e2e(SUITE, &["curl"], || {
        let root = scratch();
        let path = root.path().join("big.bin");
        let old: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &old).unwrap();
        let h = Httpd::start("curl-rewrite", Opts::default().root(root.path()));
        // A small receive window keeps most of the response waiting on our side.
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.connect(&h.addr.into()).unwrap();
        let mut s: std::net::TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut first = vec![0; 64 * 1024];
        s.read_exact(&mut first).unwrap();
        // In place: same inode and size, other bytes, a later time; then
        // past the lookup's freshness (1 s), so the server can see it.
        let new: Vec<u8> = old.iter().map(|b| b ^ 0xff).collect();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all(&new).unwrap();
        file.set_modified(std::time::SystemTime::now() + Duration::from_secs(1)).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        s.read_to_end(&mut first).unwrap();
        let split = first.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block") + 4;
        let head = String::from_utf8_lossy(&first[..split]).to_ascii_lowercase();
        let etag = head.lines().find_map(|l| l.strip_prefix("etag:")).map(str::trim).expect("an ETag").to_string();
        assert!(first[split..] == old[..], "the first response is not the file as it was");
        let second = get(&[&h.url("/big.bin")]);
        assert!(second.body == new, "the second response is not the new file");
        assert_ne!(second.header("etag").map(|e| e.to_ascii_lowercase()), Some(etag));
    });
}
