//! A private network namespace, for tests and demonstrations that must not
//! touch the machine's network.
//!
//! No packets pass here; this is where links are opened. `unshare(CLONE_NEWNET)`
//! moves the calling thread into a new namespace that holds only a `lo`,
//! down; we bring it up. Threads and processes the thread starts afterwards
//! inherit the namespace, so a test's kernel client, `curl` or `ping` meet
//! the stack there and nowhere else. The namespace, with any TUN interface
//! made in it, vanishes when its last thread ends.

use std::io;

use socket2::{Domain, Socket, Type};

use super::sys::set_up;

/// Runs `f` on a new thread inside a fresh network namespace whose `lo` is
/// up, and returns its result (a panic in `f` is passed on). Fails, without
/// running `f`, when the process may not make a namespace (needs
/// CAP_SYS_ADMIN).
pub fn run_isolated<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let thread = std::thread::spawn(move || {
        // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only this
        // thread (and what it starts later) into a new namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let err = io::Error::last_os_error();
            let message = format!("making a private network namespace needs root (CAP_SYS_ADMIN): {err}");
            return Err(io::Error::new(err.kind(), message));
        }
        let control = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        set_up(&control, "lo")?;
        Ok(f())
    });
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
