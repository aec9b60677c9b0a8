//! An HTTP/1.1 static file server, written without sockets so that it can
//! run on the project's own TCP stack (and be tested without one).
//!
//! - [`config`]: the command line.
//! - [`request`]: bytes to a request head, with limits and framing rules.
//! - [`site`]: which response a request gets; [`files`] finds and serves files.
//! - [`response`]: status, header fields, bodies streamed from files, the `Date` cache.
//! - [`conn`]: one connection's state machine, driven by bytes and time.
//! - [`access`]: the access log.
//! - [`server`]: the event loop's work, connection by connection;
//!   [`status`]: `/_stack.json`, which it serves; [`live`]: `/_conn/...`,
//!   the asker's own connections as the stack recorded them.
//! - [`shards`]: what the threads of `--workers N` share.

#![forbid(unsafe_code)]

pub mod access;
pub mod config;
pub mod conn;
pub mod file_cache;
pub mod files;
pub mod live;
pub mod request;
pub mod response;
pub mod server;
pub mod shards;
pub mod site;
pub mod status;

use std::time::SystemTime;

pub use config::Config;
pub use conn::{Conn, Limits, State, Transport, Wants};
pub use site::Site;
pub use stack::time::Instant;

/// The two clocks a connection reads: the stack's monotonic time for
/// deadlines (virtual in the simulator), wall time for `Date` and the log.
#[derive(Copy, Clone, Debug)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}
