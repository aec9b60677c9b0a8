//! A TCP/IPv4 stack written to be read.
//!
//! The protocol core (`wire`, `tcp`, `Stack`) does no I/O and reads no clock:
//! packets and the current time go in; packets, application events and the
//! next deadline come out. The `link` module joins it to the operating system
//! (and to the in-memory simulator); only the link files make syscalls.

mod copy;
pub mod link;
mod stack;
pub mod tcp;
pub mod time;
pub mod wire;

pub use stack::{ConnectionInfo, Event, FourTuple, SocketHandle, Stack};
pub use tcp::{Config, Counters, Error, Ready};
