//! The site: which response a parsed request gets. Knows nothing of connections.

use std::io;
use std::path::{Path, PathBuf};

use stack::time::Instant;

use crate::access;
use crate::files::{self, Lookup, LookupCache};
use crate::request::{Method, Request};
use crate::response::{Body, Date, Response, Status};

/// Everything responses are made from, shared by all connections.
pub struct Site {
    /// Canonical, so the containment check compares like with like.
    root: PathBuf,
    pub(crate) date: Date,
    pub(crate) access: access::Log,
    lookups: LookupCache,
}

impl Site {
    pub fn new(root: &Path) -> io::Result<Site> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{}", root.display())));
        }
        Ok(Site { root, date: Date::default(), access: access::Log::new(), lookups: LookupCache::default() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The response to `req`; `stack_json` describes the TCP stack for
    /// `/_stack.json` (only the event loop can ask the stack).
    pub fn respond(&mut self, req: &Request, now: Instant, stack_json: &dyn Fn() -> String) -> Response {
        let mut response = match req.method {
            Method::Get | Method::Head => self.resource(req, now, stack_json),
            Method::NotAllowed => Response::page(Status::MethodNotAllowed),
            Method::Unknown => Response::page(Status::NotImplemented),
        };
        // HEAD: the same header fields as GET, Content-Length included, no body.
        if req.method == Method::Head {
            response.body = Body::empty();
        }
        response
    }

    fn resource(&mut self, req: &Request, now: Instant, stack_json: &dyn Fn() -> String) -> Response {
        if req.path() == "/_stack.json" {
            let json = stack_json().into_bytes();
            let mut response = Response::bytes(Status::Ok, "application/json", json);
            // A snapshot of live state: never reuse an old one.
            response.headers.push(("Cache-Control", "no-store".into()));
            return response;
        }
        match self.lookups.resolve(&self.root, req.path(), now) {
            Lookup::File(path) => files::serve(&path, req).unwrap_or_else(|e| {
                log::warn!("{}: {e}", path.display());
                Response::page(Status::NotFound)
            }),
            Lookup::AddSlash => {
                let (path, query) = req.target.split_at(req.path().len());
                let mut response = Response::page(Status::MovedPermanently);
                response.headers.push(("Location", format!("{path}/{query}")));
                response
            }
            Lookup::BadPath => Response::page(Status::BadRequest),
            Lookup::NotFound => Response::page(Status::NotFound),
        }
    }
}
