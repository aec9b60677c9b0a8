//! A private network namespace, for tests and demonstrations that must not
//! touch the machine's network.
//!
//! No packets pass here; this is where links are opened. `unshare(CLONE_NEWNET)`
//! moves the calling thread into a new namespace that holds only a `lo`,
//! down; we bring it up. Threads and processes the thread starts afterwards
//! inherit the namespace, so a test's kernel client, `curl` or `ping` meet
//! the stack there and nowhere else. The namespace, with any TUN interface
//! made in it, vanishes when its last thread ends.
//!
//! A test that cannot run here (no root, a program not installed) skips
//! with [`skip`], the one way every test of the project does it.

use std::io::{self, Write};

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

/// Like [`run_isolated`], but where the process may not make a namespace the
/// running test skips ([`skip`]) and gets `None`.
pub fn run_isolated_or_skip<T: Send + 'static>(suite: &str, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match run_isolated(f) {
        Ok(value) => Some(value),
        Err(err) => {
            skip(suite, &err.to_string());
            None
        }
    }
}

/// Whether `program` is on `PATH`.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// The running test cannot run here, for `why`: it says so on a line of its
/// own and the caller returns, so the test passes. libtest cannot mark a
/// test skipped once it runs, so `tests/run` counts these lines instead:
///
/// ```text
/// SKIPPED: <suite> <test>: <why>
/// ```
///
/// `<test>` is the name libtest gives the test's thread, so call this on
/// that thread. The line goes straight to stderr in one write, past
/// libtest's capture of `eprintln!` and whole among other threads' output.
/// Where the tests must run — `STACK_TESTS_STRICT` (which `tests/run` sets
/// as root, after installing every tool) or `CI` set — it panics instead.
pub fn skip(suite: &str, why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(unnamed thread)");
    let set = |var| std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    if set("STACK_TESTS_STRICT") || set("CI") {
        panic!("{suite} {test} cannot run: {why} (STACK_TESTS_STRICT or CI is set, so that is a failure)");
    }
    let _ = io::stderr().write_all(format!("SKIPPED: {suite} {test}: {why}\n").as_bytes());
}
