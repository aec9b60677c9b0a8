//! The site: which response a parsed request gets. Knows nothing of connections.

use std::io;
use std::path::{Path, PathBuf};

use stack::time::Instant;

use crate::access;
use crate::files::{self, Lookup, LookupCache};
use crate::request::{Method, Request};
use crate::response::{Body, Date, Response, Status};

/// The path of the status page: the TCP stack seen from inside. The site
/// routes it, but only the event loop can read the stack, so the server
/// supplies its body (`Site::set_stack_json`) when a connection asks for
/// it (`Wants::StackJson`).
pub const STACK_JSON: &str = "/_stack.json";

/// Everything responses are made from, shared by all connections.
pub struct Site {
    /// Canonical, so the containment check compares like with like.
    root: PathBuf,
    pub(crate) date: Date,
    pub(crate) access: access::Log,
    lookups: LookupCache,
    /// The body of the next `/_stack.json` response, taken by it: each
    /// request gets a fresh one.
    stack_json: Option<Vec<u8>>,
}

impl Site {
    pub fn new(root: &Path) -> io::Result<Site> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a directory", root.display())));
        }
        let (date, access, lookups) = (Date::default(), access::Log::new(), LookupCache::default());
        Ok(Site { root, date, access, lookups, stack_json: None })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Supplies the body of the next `/_stack.json` response.
    pub fn set_stack_json(&mut self, json: String) {
        self.stack_json = Some(json.into_bytes());
    }

    /// The response to `req`; `None` if it asks for `/_stack.json` and no
    /// body was supplied for it (see `STACK_JSON`).
    pub fn respond(&mut self, req: &Request, now: Instant) -> Option<Response> {
        let mut response = match req.method {
            Method::Get | Method::Head => self.resource(req, now)?,
            Method::NotAllowed => Response::page(Status::MethodNotAllowed),
            Method::Unknown => Response::page(Status::NotImplemented),
        };
        // HEAD: the same header fields as GET, Content-Length included, no body.
        if req.method == Method::Head {
            response.body = Body::empty();
        }
        Some(response)
    }

    fn resource(&mut self, req: &Request, now: Instant) -> Option<Response> {
        if req.path() == STACK_JSON {
            let mut response = Response::bytes(Status::Ok, "application/json", self.stack_json.take()?);
            // A snapshot of live state: never reuse an old one.
            response.headers.push(("Cache-Control", "no-store".into()));
            return Some(response);
        }
        Some(match self.lookups.resolve(&self.root, req.path(), now) {
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
        })
    }
}
