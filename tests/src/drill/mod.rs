//! `drill`: packetdrill scripts played against the stack.
//!
//! packetdrill is how kernel TCPs test themselves: a script of system calls,
//! segments the peer sends (`<`) and segments the TCP must send (`>`), each
//! at a time. This runner plays a script against a fresh [`stack::Stack`]
//! with the script's clock as the stack's virtual time: no TUN, no sleeping,
//! the same result every run. [`parse`] reads the grammar, [`run`] plays it.
//!
//! # The setting
//!
//! The stack is 192.168.0.1 and the peer 192.0.2.1 (packetdrill's
//! defaults); with `--ip_version=ipv6`, fd3d:fa7b:d17d::1 and 2001:db8::1
//! (in packetdrill's prefixes), the stack given that address as
//! `Config::addr6`, and every packet, ours and the peer's, IPv6 (built
//! and read with the stack's `wire` types, the version picking the
//! header). `ipv4-mapped-ipv6` (AF_INET6 sockets, IPv4 on the wire) is
//! IPv4: the stack's sockets have no family. `--local_ip` must be of the
//! script's family, `--remote_ip` the default. `bind(..., ...)`, `listen`
//! and `connect(..., ...)` mean port 8080; the peer opens from port 40000. Sequence numbers in the script are
//! relative: the peer's ISN is [`run::PEER_ISN`], ours is learned from the
//! first SYN we send (until then our numbers are taken as absolute, which
//! is what a RST to a closed port needs). Every script gets a new `Stack`,
//! its `Config` shaped by the script's `--mtu` and its `sysctl -w` lines.
//!
//! # Time
//!
//! Before each event the stack's timers run up to the event's time. A `>`
//! segment expected at `t` must leave within `[t - tol, t + tol]`
//! (`--tolerance_usecs`, 4 ms by default; a window `a~b` widens it to
//! `[a - tol, b + tol]`; `*` takes the next segment whenever it leaves).
//! Relative times after a `>` line count from when the segment actually
//! left, as in packetdrill.
//!
//! A system call `a...b` is blocking: it starts at `a` and must return at
//! `b` (within the tolerance). As in packetdrill, where it runs in a thread
//! of its own, the script goes on while it waits: later `<` lines arrive,
//! `>` lines are matched and the stack's timers run, and after each of
//! these the call is tried again; it returns at the first moment it can.
//! A call on a socket without O_NONBLOCK waits the same way (connect until
//! the handshake ends, accept until a connection is ready, read until data,
//! EOF or an error, write until all of it is in the send buffer, poll until
//! an event or its timeout); written without `...`, it must return at its
//! own time. A call still blocked when the next system call comes (one at
//! a time, as packetdrill) or the script ends fails, past `b + tolerance`.
//!
//! # What is compared
//!
//! Exactly: the addresses (ours to the peer's), the TCP checksum (over
//! the family's pseudo-header), the flags, SEQ, ACK, payload length, the
//! segment's presence (nothing sent by `t + tol` fails), its absence (a
//! segment no `>` line takes within the tolerance fails at the next line),
//! its time, the ECN codepoint (IPv4's TOS, IPv6's Traffic Class) when the
//! script gives one; in SYN and SYN,ACK the option kinds
//! (as a set: order and NOP/EOL padding differ between TCPs and say
//! nothing) and the MSS value; in every segment the SACK blocks (none, when
//! the script lists none). `<...>` accepts any options.
//!
//! The window and timestamp rule: a window is compared by whether it is
//! closed — the script's `win 0` needs 0 and an open window needs an open
//! one, which is what zero-window and window-update scripts are about — and
//! its exact value, the window scale shift and timestamp values are notes
//! (they follow each TCP's buffer sizing and clock). RST segments' windows
//! mean nothing (RFC 9293) and are only noted. Buffer sizes read by
//! `getsockopt(SO_RCVBUF/SO_SNDBUF)` are notes too.
//!
//! A segment still unmatched when the script ends is not checked: like
//! packetdrill, the run stops at the last line.
//!
//! A `>` segment longer than the segment sent is matched by the segments
//! sent back to back after it (contiguous, same ACK, same moment): Linux
//! hands its device one large segment (TSO/GSO) where the stack sends
//! MSS-sized ones, and Linux's scripts expect the large one.
//!
//! # System calls and commands
//!
//! socket (the descriptor the script expects, if free, as packetdrill maps
//! the script's numbers to its own), bind, listen, accept/accept4, connect
//! (non-blocking: `EINPROGRESS`), write/send/sendto/writev/sendmsg
//! (MSG_DONTWAIT; MSG_OOB: `Stack::send_urgent`; the address of a sendto
//! is ignored; MSG_FASTOPEN and other flags skip),
//! read/recv/recvfrom/readv/recvmsg (MSG_PEEK: `Stack::peek`; MSG_DONTWAIT),
//! poll (`revents` from the stack's state: POLLIN with data or at EOF,
//! POLLRDHUP after the peer's FIN, POLLOUT with send room or once sending
//! is shut, POLLERR with everything after an error, POLLHUP once neither
//! side can send, POLLPRI with urgent data, a listener readable with a
//! connection to accept), close (SO_LINGER 0:
//! abort), shutdown (SHUT_WR: `Stack::shutdown`; SHUT_RD:
//! `Stack::shutdown_read`, later data ACKed and discarded; SHUT_RDWR: both),
//! fcntl F_GETFL/F_SETFL O_NONBLOCK, ioctl FIONREAD/SIOCINQ and
//! TIOCOUTQ/SIOCOUTQ (`Tcb::recv_queue`, `Stack::send_queue`), setsockopt
//! SO_REUSEADDR, SO_DEBUG,
//! SO_LINGER, SO_SNDBUF/SO_RCVBUF (noted: the stack's buffers are per
//! stack), TCP_NODELAY, TCP_NOOPT (before `connect`: `Stack::set_no_options`),
//! getsockopt SO_ERROR (reported once, as BSD clears it), SO_RCVBUF,
//! SO_SNDBUF. Results and errnos are checked (stack errors map to
//! ECONNRESET, ECONNREFUSED, ETIMEDOUT, EPIPE, EAGAIN = EWOULDBLOCK; a
//! bare `= -1` takes any error).
//! `sockstat ... | grep -c STATE | grep N` counts the stack's connections
//! (`-4` or `-6` adds nothing: a script speaks one family);
//! `%{ assert tcpi_state == ... }%` (FreeBSD's `TCPI_` or Linux's `TCP_`
//! names) and `tcpi_options` ask the socket created last. `< icmp TYPE
//! CODE [mtu N] [a:b(len)]` sends an ICMP error quoting a segment of ours,
//! by packetdrill's names: ICMPv4's (`unreachable port_unreachable`,
//! `unreachable frag_needed mtu N`, `time_exceeded`, `parameter_problem
//! code_N`, `source_quench`, `redirect`), or in an IPv6 script ICMPv6's
//! (`unreachable` `no_route`/`admin_prohibited`/`not_neighbour`/
//! `address_unreachable`/`port_unreachable`, `packet_too_big mtu N`,
//! `time_exceeded` `exceeded_hop_limit`/`exceeded_frag_time`,
//! `parameter_problem` `header_field`/`unknown_next_header`/
//! `unknown_option`), with the pseudo-header in its checksum.
//!
//! Settings configure the stack before it starts (after, one that would
//! change it skips): FreeBSD's `sysctl [-w] net.inet.tcp.*`, Linux's
//! `sysctl -q net.ipv4.tcp_*`, `set_sysctls.py /proc/sys/net/ipv4/tcp_*=V`
//! and `echo V > /proc/sys/...`, several to a backtick block. Linux's
//! `defaults.sh` (the defaults its scripts assume) and the restoring
//! script at the end set nothing. Linux's `tcp_sack`, `tcp_timestamps`,
//! `tcp_window_scaling`, `tcp_syncookies` (0, 1), `tcp_rmem`/`tcp_wmem`
//! (the middle, default value) map to the stack's switches, `tcp_ecn` 0 or
//! 2 and `tcp_fastopen=0` are what it does anyway. FreeBSD's:
//! `rfc1323`, `sack.enable`, `syncookies`, `recvspace`, `sendspace`,
//! `insecure_rst` and `insecure_syn` (`Config::rst_challenge`,
//! `Config::syn_challenge`: RFC 5961 §3, §4 off), `drop_synfin`
//! (`Config::drop_syn_fin`), `icmp_may_rst` (`Config::icmp_may_abort`);
//! the ones that set FreeBSD's defaults are ignored. Settings after the
//! last other event restore defaults for the next script and are not
//! played.
//!
//! Anything else makes the script SKIP with the reason: an IPv6 script
//! with an MTU under 1280 (RFC 8200 §5); TCP_NOOPT on
//! a listening socket and TCP_KEEPINIT (the stack's options and SYN timeout
//! are per stack); any other socket option (TCP_INFO, TCP_MAXSEG,
//! TCP_FASTOPEN, ...) or system call (epoll, ioctl, ...), by name; a setting
//! the stack has no switch for (`ecn.enable=1`, `tcp_tw_reuse=1`, ...);
//! other shell commands (`tc`, `ethtool`, ...); Python other than the
//! asserts above; TCP options the stack lacks (Fast Open, MD5, MPTCP),
//! inbound ECN codepoints and AccECN's AE flag.
//!
//! # Scripts from elsewhere
//!
//! Any script is played or skipped, never refused: well-formed packetdrill
//! the parser does not know (an unknown TCP option, segment field or
//! protocol, a fuzzing annotation) SKIPs as "unsupported syntax: ..."; a
//! line that breaks packetdrill's own grammar (an unterminated bracket,
//! string or command, a time that is not a number, a call without
//! `= result`) FAILs as a parse error, because the script is wrong
//! ([`parse`] draws the line). Linux's scripts run with the same
//! addresses; their MSS (1460 on a 1500-byte MTU) is the stack's; their
//! initial windows, window scales and timestamp values differ and are
//! notes, while their timings (delayed ACKs, RTO, TLP) are compared like
//! any other and fail where the stack differs.

pub mod parse;
pub mod run;

use std::path::{Path, PathBuf};

pub use run::Outcome;

/// Play the script in `path`.
pub fn run_file(path: &Path) -> Outcome {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return Outcome::Fail { line: 0, message: format!("cannot read: {e}"), notes: Vec::new() },
    };
    match parse::parse(&text) {
        Ok(script) => run::run(&script),
        Err(e) if e.unsupported => Outcome::Skip(format!("unsupported syntax: line {}: {}", e.line, e.message)),
        Err(e) => Outcome::Fail { line: e.line, message: format!("parse error: {}", e.message), notes: Vec::new() },
    }
}

/// The `.pkt` files named, directories searched recursively, in order.
pub fn scripts(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> =
                std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
            entries.sort();
            let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| p.is_dir());
            found.extend(files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "pkt")));
            found.extend(scripts(&dirs)?);
        } else {
            found.push(path.clone());
        }
    }
    Ok(found)
}
