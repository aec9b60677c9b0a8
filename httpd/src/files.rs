//! Files under the root: finding one from a URL path without ever leaving
//! the root, and answering for it with validators, conditionals and ranges.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ahash::RandomState;
use bytes::Bytes;
use percent_encoding::percent_decode_str;

use stack::time::{Duration, Instant};

use crate::file_cache::{FileCache, FileId};
use crate::request::{decimal, Request};
use crate::response::{field_into, After, Body, Response, Status};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A regular file inside the root (a directory's index.html included),
    /// and what it was when looked up; the path shared, so that a cached
    /// answer costs no copy of it.
    File(Arc<Path>, FileId),
    /// A directory asked for without its trailing slash: relative links in
    /// its index would resolve against the parent, so redirect.
    AddSlash,
    /// A path that cannot name a file of the site once decoded: a `.` or
    /// `..` segment, a backslash, a NUL byte, or bytes that are not UTF-8
    /// (overlong forms included). Malformed or hostile, never a near miss:
    /// 400. (Clients remove dot segments before sending, RFC 3986 §5.2.4.)
    BadPath,
    /// No regular file there, or the path leads out of the root through a
    /// symlink: 404 alike, so nothing is told about what lies outside.
    NotFound,
}

/// Finds the file for a URL path (`/a/b`, still percent-encoded, no query).
/// `root` must be canonical.
pub fn resolve(root: &Path, url_path: &str) -> Lookup {
    let Some(relative) = decode(url_path) else {
        return Lookup::BadPath;
    };
    // Symlinks are followed, then the result must still be under the root.
    let inside = |p: &Path| p.canonicalize().ok().filter(|real| real.starts_with(root));
    let Some(real) = inside(&root.join(relative)) else {
        return Lookup::NotFound;
    };
    let real = if real.is_dir() {
        if !url_path.ends_with('/') {
            return Lookup::AddSlash;
        }
        match inside(&real.join("index.html")) {
            Some(index) => index,
            None => return Lookup::NotFound,
        }
    } else {
        real
    };
    // Only regular files: opening a FIFO or a device could block or never end.
    match fs::metadata(&real) {
        Ok(m) if m.is_file() => FileId::of(&m).map_or(Lookup::NotFound, |id| Lookup::File(real.into(), id)),
        _ => Lookup::NotFound,
    }
}

/// Recent answers of `resolve`. Canonicalizing a path takes several system
/// calls (a `readlink` per component, then `stat`s), and a site's few paths
/// are asked for over and over; an answer is trusted for `FRESH`, as nginx's
/// `open_file_cache_valid` does. Bounded: when full, it starts afresh.
#[derive(Default)]
pub struct LookupCache {
    /// Keyed by what clients ask for, so hashed with a random key, as
    /// `FileCache` is; ahash's, faster than std's SipHash.
    entries: HashMap<String, (Lookup, Instant), RandomState>,
}

impl LookupCache {
    pub const FRESH: Duration = Duration::from_secs(1);
    pub const MAX_ENTRIES: usize = 1024;

    pub fn resolve(&mut self, root: &Path, url_path: &str, now: Instant) -> Lookup {
        if let Some((lookup, at)) = self.entries.get(url_path) {
            if now < *at + Self::FRESH {
                return lookup.clone();
            }
        }
        let lookup = resolve(root, url_path);
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(url_path.to_string(), (lookup.clone(), now));
        lookup
    }
}

/// The URL path as a relative filesystem path of plain names, or None if
/// decoding reveals anything that could step outside or confuse the lookup.
/// Decoding happens once, so `%252e%252e` stays the harmless name `%2e%2e`.
fn decode(url_path: &str) -> Option<PathBuf> {
    let bytes: Vec<u8> = percent_decode_str(url_path).collect();
    if bytes.contains(&0) || bytes.contains(&b'\\') {
        return None;
    }
    // Invalid UTF-8 includes overlong forms such as %c0%ae for '.'.
    let text = String::from_utf8(bytes).ok()?;
    let mut relative = PathBuf::new();
    for segment in text.split('/') {
        match segment {
            // Skipping empty segments also stops `//etc` from becoming absolute.
            "" => {}
            "." | ".." => return None,
            name => relative.push(name),
        }
    }
    Some(relative)
}

/// What a file's responses say about it, worked out once per identity
/// (`FileId`) rather than formatted again for every request: its
/// validators, and the header fields of its whole (200) response.
struct Head {
    /// The file's path: a file reached by another name (a hard link)
    /// may have another media type.
    path: Arc<Path>,
    id: FileId,
    etag: String,
    last_modified: String,
    /// Modification time in whole seconds, as `Last-Modified` says it.
    modified: SystemTime,
    content_type: String,
    /// `Content-Type` to `Accept-Ranges` of a 200, serialised.
    whole: Arc<[u8]>,
}

impl Head {
    fn new(path: &Arc<Path>, id: FileId) -> Head {
        let FileId { ino, len, .. } = id;
        // Strong: any change of identity, size or modification time changes it.
        let nanos = id.modified.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let etag = format!("\"{ino:x}-{len:x}-{nanos:x}\"");
        let modified = whole_seconds(id.modified);
        let last_modified = httpdate::fmt_http_date(modified);
        let content_type = content_type(path);
        let mut whole = Vec::new();
        for (name, value) in [
            ("Content-Type", content_type.as_str()),
            ("Content-Length", &len.to_string()),
            ("ETag", &etag),
            ("Last-Modified", &last_modified),
            ("Accept-Ranges", "bytes"),
        ] {
            field_into(&mut whole, name, value);
        }
        Head { path: path.clone(), id, etag, last_modified, modified, content_type, whole: whole.into() }
    }
}

/// The `Head` of each file served lately, by device and inode (hashing a
/// `Path` walks its components, and cost more than the rest of the
/// lookup); one is used only for the path it was made for and while the
/// file has the identity it was made for. Bounded like `LookupCache`:
/// when full, it starts afresh.
#[derive(Default)]
pub struct Heads {
    entries: HashMap<(u64, u64), Head, RandomState>,
}

impl Heads {
    pub const MAX_ENTRIES: usize = 1024;

    /// The `Head` of the file at `path` that is `id`.
    fn of(&mut self, path: &Arc<Path>, id: FileId) -> &Head {
        let key = (id.dev, id.ino);
        let fits = |head: &Head| head.id == id && head.path.as_os_str() == path.as_os_str();
        if !self.entries.get(&key).is_some_and(fits) {
            if self.entries.len() >= Self::MAX_ENTRIES {
                self.entries.clear();
            }
            self.entries.insert(key, Head::new(path, id));
        }
        &self.entries[&key]
    }
}

/// The response for GET of a resolved file, found to be `looked_up`: from
/// its snapshot in `cache` while that is the file the lookup saw (no system
/// call), else from the file opened now.
pub fn serve(
    path: &Arc<Path>,
    looked_up: FileId,
    req: &Request,
    cache: &mut FileCache,
    heads: &mut Heads,
) -> io::Result<Response> {
    let (id, source) = match cache.get(path, looked_up) {
        Some(snapshot) => (looked_up, Source::Snapshot(snapshot)),
        None => {
            let file = File::open(path)?;
            // Describe the file we opened, not whatever the path names a moment later.
            (FileId::of(&file.metadata()?)?, Source::File(file))
        }
    };
    let len = id.len;
    let head = heads.of(path, id);
    let validators = || vec![("ETag", head.etag.clone()), ("Last-Modified", head.last_modified.clone())];

    if not_modified(req, &head.etag, head.modified) {
        return Ok(Response {
            status: Status::NotModified,
            fields: None,
            headers: validators(),
            body: Body::empty(),
            after: After::Next,
        });
    }
    let range = match &req.if_range {
        Some(validator) if !if_range_matches(validator, &head.etag, head.modified) => None,
        _ => req.range.as_deref(),
    };
    let (status, fields, headers, start, end) = match range.map_or(Ranged::Whole, |r| byte_range(r, len)) {
        Ranged::Whole => (Status::Ok, Some(head.whole.clone()), Vec::new(), 0, len),
        Ranged::Part(start, end) => {
            let mut headers = vec![
                ("Content-Type", head.content_type.clone()),
                ("Content-Length", (end - start).to_string()),
                ("Content-Range", format!("bytes {start}-{}/{len}", end - 1)),
            ];
            headers.extend(validators());
            headers.push(("Accept-Ranges", "bytes".into()));
            (Status::PartialContent, None, headers, start, end)
        }
        Ranged::Unsatisfiable => {
            let mut response = Response::page(Status::RangeNotSatisfiable);
            response.headers.push(("Content-Range", format!("bytes */{len}")));
            return Ok(response);
        }
    };
    let snapshot = match source {
        Source::Snapshot(snapshot) => Ok(snapshot),
        Source::File(file) => cache.load(path, id, &file).ok_or(file),
    };
    let body = match snapshot {
        Ok(snapshot) => Body::Shared(snapshot.slice(start as usize..end as usize)),
        Err(mut file) => {
            if start > 0 {
                file.seek(SeekFrom::Start(start))?;
            }
            Body::File { file, remaining: end - start }
        }
    };
    Ok(Response { status, fields, headers, body, after: After::Next })
}

/// Where a file's bytes come from.
enum Source {
    /// Its snapshot in the file cache.
    Snapshot(Bytes),
    /// The file itself, opened.
    File(File),
}

/// HTTP dates have whole seconds; compare modification times the same way.
/// Clamped to the years HTTP dates can express (1970 to 9999), since a file
/// stamped later would make the date formatter panic.
fn whole_seconds(t: SystemTime) -> SystemTime {
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs().min(LAST_SECOND_OF_9999));
    UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// RFC 9110 §13.2.2: If-None-Match, when present, decides alone (weak
/// comparison); otherwise If-Modified-Since.
fn not_modified(req: &Request, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = &req.if_none_match {
        let weak = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_string();
        return tags.trim() == "*" || tags.split(',').any(|t| weak(t.trim()) == weak(etag));
    }
    let since = req.if_modified_since.as_deref().and_then(|d| httpdate::parse_http_date(d).ok());
    since.is_some_and(|since| modified <= since)
}

/// If-Range allows the range only if the file is still the one the client
/// has: the same strong ETag or exactly the same Last-Modified date.
fn if_range_matches(validator: &str, etag: &str, modified: SystemTime) -> bool {
    if validator.starts_with('"') {
        return validator == etag;
    }
    httpdate::parse_http_date(validator).is_ok_and(|date| date == modified)
}

#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    Whole,
    /// Bytes `start..end` (end exclusive).
    Part(u64, u64),
    Unsatisfiable,
}

/// One byte range of a `Range` value. Several ranges, other units and
/// malformed values get the whole file, which RFC 9110 allows.
fn byte_range(value: &str, len: u64) -> Ranged {
    let Some(set) = value.get(..6).filter(|u| u.eq_ignore_ascii_case("bytes=")).map(|_| &value[6..]) else {
        return Ranged::Whole;
    };
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Ranged::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `-N`: the last N bytes.
        return match decimal(last) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len - n.min(len), len),
        };
    }
    let Some(start) = decimal(first) else {
        return Ranged::Whole;
    };
    let end = match (last.is_empty(), decimal(last)) {
        (true, _) => len,
        (false, Some(last)) if last >= start => last.saturating_add(1).min(len),
        _ => return Ranged::Whole,
    };
    if start >= len {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part(start, end)
}

/// The media type from the extension; text gets `charset=utf-8`, which
/// every file in www/ is.
fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml" | "svg");
    if textual {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolution is reused while fresh, so a file removed meanwhile is
    /// still "found" (its open will fail later); after `FRESH` the path is
    /// resolved again. The cache never holds more than `MAX_ENTRIES`.
    #[test]
    fn lookups_are_reused_while_fresh_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        let id = FileId::of(&fs::metadata(root.join("a.txt")).unwrap()).unwrap();
        let mut cache = LookupCache::default();
        let t0 = Instant::from_secs(100);
        let a = Lookup::File(root.join("a.txt").into(), id);
        assert_eq!(cache.resolve(&root, "/a.txt", t0), a);
        fs::remove_file(root.join("a.txt")).unwrap();
        let almost = t0 + LookupCache::FRESH - Duration::from_micros(1);
        assert_eq!(cache.resolve(&root, "/a.txt", almost), a);
        assert_eq!(cache.resolve(&root, "/a.txt", t0 + LookupCache::FRESH), Lookup::NotFound);
        for i in 0..LookupCache::MAX_ENTRIES + 10 {
            cache.resolve(&root, &format!("/missing{i}"), t0);
        }
        assert!(cache.entries.len() <= LookupCache::MAX_ENTRIES);
    }

    /// A file's head is made once and reused while the file stays the
    /// same; a file rewritten (new length), or touched (new modification
    /// time, same length), or reached by another name, gets a new one. At
    /// most `MAX_ENTRIES` are kept.
    #[test]
    fn heads_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path: Arc<Path> = dir.path().canonicalize().unwrap().join("a.txt").into();
        let crate::request::Parsed::Complete(req, _) = crate::request::parse(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        else {
            panic!("not a request")
        };
        let mut heads = Heads::default();
        // No snapshots: each response opens the file and describes it.
        let mut cache = FileCache::new(crate::file_cache::Limits { max_bytes: 0, max_file: 0 });
        let id = |path: &Path| FileId::of(&fs::metadata(path).unwrap()).unwrap();
        let mut head = || {
            let response = serve(&path, id(&path), &req, &mut cache, &mut heads).unwrap();
            let mut out = Vec::new();
            response.head_into("D", None, &mut out);
            String::from_utf8(out).unwrap()
        };
        fs::write(&path, "one").unwrap();
        let first = head();
        assert!(
            first.contains("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nETag: \""),
            "{first}"
        );
        assert_eq!(head(), first);
        fs::write(&path, "three").unwrap();
        let second = head();
        assert!(second.contains("\r\nContent-Length: 5\r\n"), "{second}");
        let etag = |h: &str| h.split("ETag: ").nth(1).unwrap().split("\r\n").next().unwrap().to_string();
        File::options().write(true).open(&path).unwrap().set_modified(UNIX_EPOCH).unwrap();
        let touched = head();
        assert_ne!(etag(&touched), etag(&second));
        assert!(touched.contains("\r\nLast-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"), "{touched}");

        // The same file by another name: its own media type.
        let link: Arc<Path> = path.with_extension("html").into();
        fs::hard_link(&path, &link).unwrap();
        let linked = serve(&link, id(&link), &req, &mut cache, &mut heads).unwrap();
        assert_eq!(linked.fields.as_deref().map(|f| f.starts_with(b"Content-Type: text/html;")), Some(true));

        for i in 0..Heads::MAX_ENTRIES + 10 {
            let other: Arc<Path> = path.with_file_name(format!("{i}.txt")).into();
            fs::write(&other, "").unwrap();
            heads.of(&other, id(&other));
        }
        assert!(heads.entries.len() <= Heads::MAX_ENTRIES);
    }

    #[test]
    fn ranges() {
        use Ranged::*;
        let cases = [
            ("bytes=0-9", 100, Part(0, 10)),
            ("bytes=5-", 100, Part(5, 100)),
            ("bytes=-5", 100, Part(95, 100)),
            ("bytes=-500", 100, Part(0, 100)),
            ("bytes=90-500", 100, Part(90, 100)),
            ("Bytes = 1-1", 100, Whole), // no spaces around '=' in the grammar
            ("BYTES=1-1", 100, Part(1, 2)),
            ("bytes=99-99", 100, Part(99, 100)),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-1", 0, Unsatisfiable),
            ("bytes=0-1,3-4", 100, Whole),
            ("bytes=5-1", 100, Whole),
            ("bytes=a-b", 100, Whole),
            ("bytes=-", 100, Whole),
            ("bytes=+1-2", 100, Whole),
            ("items=0-1", 100, Whole),
            ("bytes=0-18446744073709551615", 100, Part(0, 100)),
        ];
        for (value, len, want) in cases {
            assert_eq!(byte_range(value, len), want, "{value} of {len}");
        }
    }

    #[test]
    fn modification_times_past_9999_are_clamped() {
        // Filesystems rarely store such times, so this is not tested through a file.
        let far = UNIX_EPOCH + std::time::Duration::from_secs(300_000_000_000);
        assert_eq!(httpdate::fmt_http_date(whole_seconds(far)), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.svg")), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type(Path::new("a.json")), "application/json; charset=utf-8");
        assert_eq!(content_type(Path::new("a.ico")), "image/x-icon");
        assert_eq!(content_type(Path::new("a.bin")), "application/octet-stream");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("/a%20b/c"), Some(PathBuf::from("a b/c")));
        assert_eq!(decode("//etc/passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(decode("/%252e%252e/x"), Some(PathBuf::from("%2e%2e/x")));
        let bad = [
            "/../x",
            "/a/%2e%2e/x",
            "/%2E%2E",
            "/.%2e/x",
            "/..%2fx",
            "/.",
            "/a\\..\\x",
            "/a%5c..",
            "/a%00",
            "/%c0%ae%c0%ae/x",
            "/%c0%af",
            "/%e0%80%ae",
            "/%ff",
        ];
        for bad in bad {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
