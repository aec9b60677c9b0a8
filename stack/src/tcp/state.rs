//! The connection states (RFC 9293 §3.3.2): the state diagram, and where
//! the code takes each of its arrows.
//!
//! ```text
//!                             +---------+ ---------\      active OPEN
//!                             |  CLOSED |            \    -----------
//!                             +---------+<---------\   \   create TCB
//!                               |     ^              \   \  snd SYN
//!                  passive OPEN |     |   CLOSE        \   \
//!                  ------------ |     | ----------       \   \
//!                   create TCB  |     | delete TCB         \   \
//!                               V     |                      \   \
//!           rcv RST (note 1)  +---------+            CLOSE    |    \
//!        -------------------->|  LISTEN |          ---------- |     |
//!       /                     +---------+          delete TCB |     |
//!      /           rcv SYN      |     |     SEND              |     |
//!     /           -----------   |     |    -------            |     V
//! +--------+      snd SYN,ACK  /       \   snd SYN          +--------+
//! |        |<-----------------           ------------------>|        |
//! |  SYN   |                    rcv SYN                     |  SYN   |
//! |  RCVD  |<-----------------------------------------------|  SENT  |
//! |        |                  snd SYN,ACK                   |        |
//! |        |------------------           -------------------|        |
//! +--------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +--------+
//!    |         --------------   |     |   -----------
//!    |                x         |     |     snd ACK
//!    |                          V     V
//!    |  CLOSE                 +---------+
//!    | -------                |  ESTAB  |
//!    | snd FIN                +---------+
//!    |                 CLOSE    |     |    rcv FIN
//!    V                -------   |     |    -------
//! +---------+         snd FIN  /       \   snd ACK         +---------+
//! |  FIN    |<----------------          ------------------>|  CLOSE  |
//! | WAIT-1  |------------------                            |   WAIT  |
//! +---------+          rcv FIN  \                          +---------+
//!   | rcv ACK of FIN   -------   |                          CLOSE  |
//!   | --------------   snd ACK   |                         ------- |
//!   V        x                   V                         snd FIN V
//! +---------+               +---------+                    +---------+
//! |FINWAIT-2|               | CLOSING |                    | LAST-ACK|
//! +---------+               +---------+                    +---------+
//!   |              rcv ACK of FIN |                 rcv ACK of FIN |
//!   |  rcv FIN     -------------- |    Timeout=2MSL -------------- |
//!   |  -------            x       V    ------------        x       V
//!    \ snd ACK              +---------+delete TCB          +---------+
//!      -------------------->|TIME-WAIT|------------------->| CLOSED  |
//!                           +---------+                    +---------+
//! ```
//! (Figure 5 of RFC 9293. Note 1: a connection that came from LISTEN goes
//! back to LISTEN on RST; here that means the half-open TCB is deleted and
//! the listener carries on.)
//!
//! LISTEN is not a state of a TCB here: a listening port is its own object,
//! a `Listener` (`tcp/listener.rs`), which makes a TCB, already in
//! SYN-RECEIVED, for each SYN it takes. So `State` has ten states.
//!
//! Where each arrow is taken (`Tcb` methods live in `tcp/tcb/`):
//!
//! - CLOSED → LISTEN, and back on CLOSE: `Stack::listen` and
//!   `Stack::unlisten` (`stack.rs`) add and remove the listener.
//! - CLOSED → SYN-SENT: `Tcb::connect` (`tcb/user.rs`).
//! - LISTEN → SYN-RECEIVED: `tcp/listener.rs` takes the SYN and
//!   `Tcb::accept_syn` (`tcb/arrival.rs`) makes the TCB; or, when the SYN
//!   was answered with a SYN cookie, the ACK that returns it makes the
//!   TCB with `Tcb::from_syn_cookie` (`tcb/arrival.rs`).
//! - LISTEN → SYN-SENT (SEND on a listening port): not offered.
//! - SYN-SENT → ESTABLISHED, and SYN-SENT → SYN-RECEIVED (simultaneous
//!   open): `Tcb::on_segment_syn_sent` (`tcb/arrival.rs`).
//! - SYN-SENT → CLOSED on CLOSE: `Tcb::shutdown` (`tcb/user.rs`).
//! - SYN-RECEIVED → ESTABLISHED: `Tcb::on_segment_other_states`, "fifth"
//!   (`tcb/arrival.rs`).
//! - SYN-RECEIVED → LISTEN on RST (note 1), or on a new SYN:
//!   `Tcb::on_segment_other_states`, "second" and "fourth"; the TCB is
//!   deleted.
//! - SYN-RECEIVED → FIN-WAIT-1 on CLOSE: `Tcb::shutdown` queues the FIN,
//!   and `Tcb::on_segment_other_states` moves on through ESTABLISHED to
//!   FIN-WAIT-1 when our SYN is acknowledged.
//! - ESTABLISHED → FIN-WAIT-1, CLOSE-WAIT → LAST-ACK: `Tcb::shutdown`
//!   (`tcb/user.rs`).
//! - ESTABLISHED → CLOSE-WAIT, FIN-WAIT-1 → CLOSING, FIN-WAIT-2 →
//!   TIME-WAIT, and FIN-WAIT-1 → TIME-WAIT when the FIN also acknowledges
//!   ours (note 2): `Tcb::receive_fin` (`tcb/arrival.rs`).
//! - FIN-WAIT-1 → FIN-WAIT-2: `Tcb::enter_fin_wait_2`, CLOSING → TIME-WAIT
//!   and LAST-ACK → CLOSED: `Tcb::on_segment_other_states`, on the ACK of
//!   our FIN (`tcb/arrival.rs`).
//! - TIME-WAIT → CLOSED: the stack swaps the TCB for a compact entry
//!   (`Stack::enter_time_wait`), which `TimeWaitTable::expire`
//!   (`tcp/time_wait.rs`) deletes after 2·MSL.
//!
//! Not drawn (note 3), any state → CLOSED: on a reset,
//! `Tcb::on_segment_syn_sent` and `Tcb::on_segment_other_states`, "second"
//! (`tcb/arrival.rs`, most through `Tcb::fail`, `tcb/mod.rs`); on ABORT,
//! `Tcb::abort` (`tcb/user.rs`); when the retransmissions run out,
//! `Tcb::on_retransmission_timeout`, or when an orphaned FIN-WAIT-2 waits
//! too long, `Tcb::on_timer` (`tcb/timers.rs`).

use core::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    /// The name the RFC uses, as it should appear in logs and status views.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// States past the handshake: both sides' sequence numbers are known
    /// (RFC 9293 §3.5.2 calls them "synchronized").
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::SynSent | State::SynReceived)
    }

    /// States in which we have received the peer's FIN, so no more data comes.
    pub fn fin_received(self) -> bool {
        matches!(self, State::CloseWait | State::Closing | State::LastAck | State::TimeWait)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.pad(self.name())
    }
}
