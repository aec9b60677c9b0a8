//! The site: which response a parsed request gets. Knows nothing of connections.

use std::io;
use std::path::{Path, PathBuf};

use stack::time::Instant;

use crate::access;
use crate::file_cache::{self, FileCache};
use crate::files::{self, Heads, Lookup, LookupCache};
use crate::request::{Method, Request};
use crate::response::{After, Body, Date, Response, Status};

/// The resources made of what the stack knows. The site routes them, but
/// only the event loop can read the stack, so when a connection asks for
/// one (`Wants::Live`) the server supplies its body (`Site::supply`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Live {
    /// `/_stack.json`: every connection and counter, the RFC's names.
    Stack,
    /// `/_conn/self`: the story of the very connection that asks.
    ConnSelf,
    /// `/_conn/recent`: the stories of the asker's address, newest first.
    ConnRecent,
    /// `/_conn/feed`: the same as Server-Sent Events, each time they change.
    Feed,
}

impl Live {
    /// The resource at `path` (the query left off), if it is one of these.
    pub fn of(path: &str) -> Option<Live> {
        Some(match path {
            "/_stack.json" => Live::Stack,
            "/_conn/self" => Live::ConnSelf,
            "/_conn/recent" => Live::ConnRecent,
            "/_conn/feed" => Live::Feed,
            _ => return None,
        })
    }
}

/// What the server supplies for a `Live` resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Supplied {
    /// The JSON body; for a feed, its next event.
    Json(String),
    /// None to give: `/_conn/self` has no story (404); a feed is refused,
    /// too many are open (503); or an open feed has nothing new.
    Nothing,
}

/// The path that answers and then closes, the server first, so a page can
/// watch a server-first close; so does any path with a `close` query.
pub const CLOSE_ME: &str = "/close-me";

/// The body of the close-me answer.
pub const CLOSE_ME_BODY: &[u8] = b"Closing: the server's FIN comes first.\n";

/// Everything responses are made from, shared by all connections.
pub struct Site {
    /// Canonical, so the containment check compares like with like.
    root: PathBuf,
    pub(crate) date: Date,
    pub(crate) access: access::Log,
    lookups: LookupCache,
    files: FileCache,
    heads: Heads,
    /// The server's answer for the next `Live` resource, taken by it:
    /// each request gets a fresh one.
    supplied: Option<Supplied>,
}

impl Site {
    pub fn new(root: &Path) -> io::Result<Site> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a directory", root.display())));
        }
        let (date, access) = (Date::default(), access::Log::new());
        let (lookups, heads) = (LookupCache::default(), Heads::default());
        let files = FileCache::new(file_cache::Limits::default());
        Ok(Site { root, date, access, lookups, files, heads, supplied: None })
    }

    /// The file cache bounded by `limits` instead of the defaults.
    pub fn with_file_cache(self, limits: file_cache::Limits) -> Site {
        Site { files: FileCache::new(limits), ..self }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Supplies the answer for the next `Live` resource (or feed event).
    pub fn supply(&mut self, supplied: Supplied) {
        self.supplied = Some(supplied);
    }

    /// Takes what `supply` left; `None` until the server has supplied it.
    pub fn take_supplied(&mut self) -> Option<Supplied> {
        self.supplied.take()
    }

    /// The response to `req`; `Err(live)` if it asks for a `Live` resource
    /// and the server has not supplied its answer yet.
    pub fn respond(&mut self, req: &Request, now: Instant) -> Result<Response, Live> {
        let mut response = match req.method {
            Method::Get | Method::Head => self.resource(req, now)?,
            Method::NotAllowed => Response::page(Status::MethodNotAllowed),
            Method::Unknown => Response::page(Status::NotImplemented),
        };
        // HEAD: the same header fields as GET, Content-Length included, no body.
        if req.method == Method::Head {
            response.body = Body::empty();
            if response.after == After::Stream {
                response.after = After::Close;
            }
        }
        Ok(response)
    }

    fn resource(&mut self, req: &Request, now: Instant) -> Result<Response, Live> {
        if let Some(live) = Live::of(req.path()) {
            return self.supplied.take().map(|supplied| live_response(live, supplied)).ok_or(live);
        }
        if req.path() == CLOSE_ME
            || req.target().split_once('?').is_some_and(|(_, q)| q.split('&').any(|p| p == "close"))
        {
            let mut response = Response::bytes(Status::Ok, "text/plain; charset=utf-8", CLOSE_ME_BODY.to_vec());
            response.headers.push(("Cache-Control", "no-store".into()));
            response.after = After::Close;
            return Ok(response);
        }
        Ok(match self.lookups.resolve(&self.root, req.path(), now) {
            Lookup::File(path, id) => {
                files::serve(&path, id, req, &mut self.files, &mut self.heads).unwrap_or_else(|e| {
                    log::warn!("{}: {e}", path.display());
                    Response::page(Status::NotFound)
                })
            }
            Lookup::AddSlash => {
                let (path, query) = req.target().split_at(req.path().len());
                let mut response = Response::page(Status::MovedPermanently);
                response.headers.push(("Location", format!("{path}/{query}")));
                response
            }
            Lookup::BadPath => Response::page(Status::BadRequest),
            Lookup::NotFound => Response::page(Status::NotFound),
        })
    }
}

/// The response for a `Live` resource, from what the server supplied.
fn live_response(live: Live, supplied: Supplied) -> Response {
    let mut response = match (live, supplied) {
        // The first event goes with the head; the connection stays open for
        // the next ones, and the body ends when it closes.
        (Live::Feed, Supplied::Json(json)) => {
            let mut r = Response::bytes(Status::Ok, "text/event-stream", event(&json));
            r.headers.retain(|(name, _)| *name != "Content-Length");
            r.after = After::Stream;
            r
        }
        (Live::Feed, Supplied::Nothing) => Response::page(Status::ServiceUnavailable),
        (_, Supplied::Json(json)) => Response::bytes(Status::Ok, "application/json", json.into_bytes()),
        (_, Supplied::Nothing) => Response::page(Status::NotFound),
    };
    // A snapshot of live state: never reuse an old one.
    response.headers.push(("Cache-Control", "no-store".into()));
    response
}

/// One Server-Sent Event carrying `json` (which has no newline).
pub fn event(json: &str) -> Vec<u8> {
    format!("data: {json}\n\n").into_bytes()
}
