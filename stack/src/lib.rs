//! A TCP/IPv4 stack written to be read.
//!
//! The protocol core (`wire`, `tcp`, `Stack`) does no I/O and reads no clock:
//! packets and the current time go in; packets, application events and the
//! next deadline come out. The `link` module joins it to the operating system
//! (and to the in-memory simulator); only the link files make syscalls.
//!
//! Each layer uses only the ones below it:
//!
//! ```text
//!   link     the operating system's devices, the simulator, the event loop
//!   Stack    the tables: connections, listeners, TIME-WAIT, timers
//!   tcp      one connection (the TCB), LISTEN, TIME-WAIT, their algorithms
//!   wire     headers, checksums, sequence numbers
//! ```

mod copy;
pub mod link;
mod stack;
pub mod tcp;
pub mod time;
pub mod wire;

pub use stack::{ConnectionInfo, Event, Stack};
pub use tcp::{Config, Counters, Error, FourTuple, Ready, SocketHandle};
