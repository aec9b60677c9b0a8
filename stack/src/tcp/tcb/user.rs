//! The user calls (RFC 9293 §3.10.1–§3.10.6): OPEN (active: `connect`),
//! SEND, RECEIVE, CLOSE (`shutdown`, and `close` when the application lets
//! go of the socket), ABORT, and STATUS (the queue lengths the stack
//! reports). A call changes state only in its own way: SYN-SENT on OPEN,
//! FIN-WAIT-1 or LAST-ACK on CLOSE, CLOSED on ABORT; what it queues leaves
//! with the next `dispatch` (`output.rs`).
//!
//! The passive OPEN is a listener, not a TCB (`tcp/listener.rs`); the TCB
//! it makes from a SYN is in `arrival.rs` (`accept_syn`), the next file to
//! read.

use std::net::SocketAddr;

use bytes::Bytes;

use log::debug;

use super::{Context, Tcb, IDLE_KEEP};
use crate::copy;
use crate::tcp::isn::Start;
use crate::tcp::options::Negotiated;
use crate::tcp::sack::Scoreboard;
use crate::tcp::state::State;
use crate::tcp::story::{By, Dir, Record, SegmentKind};
use crate::tcp::{Config, Error, Ready};
use crate::wire::tcp::{Flags, TcpRepr};

impl Tcb {
    /// Active OPEN (§3.10.1): create the TCB in SYN-SENT; the SYN leaves
    /// with the next `dispatch`.
    pub fn connect(cx: &Context, local: SocketAddr, remote: SocketAddr, start: Start) -> Tcb {
        let mut tcb = Tcb::new(cx, local, remote, start, State::SynSent);
        let reason = "connect";
        let record = Record::State { at: cx.now, from: Some(State::Closed), to: State::SynSent, reason };
        tcb.story.push(cx.config.story_records, record);
        debug!("{} > {}: CLOSED -> SYN-SENT ({reason})", local, remote);
        tcb
    }

    /// TCP_NOOPT, before an active OPEN's SYN leaves: the SYN carries no
    /// options, not even the MSS, so the connection uses none (window
    /// scaling, timestamps, SACK) and the peer sends us segments of 536
    /// bytes. SHLD-5 (§3.7.1) asks for the MSS option; this waives it, for
    /// an application that must talk to a peer confused by options.
    /// Returns false, and changes nothing, once the SYN has left.
    pub fn offer_no_options(&mut self) -> bool {
        if self.state != State::SynSent || self.snd.nxt != self.snd.iss {
            return false;
        }
        self.options = Negotiated::default();
        self.no_options = true;
        true
    }

    /// SEND (§3.10.2) with the URGENT flag: queue as much as fits, all of
    /// it urgent, and set SND.UP after its last byte ("SND.UP <- SND.NXT",
    /// where the RFC sends at once; here the end of what is queued). Every
    /// segment before SND.UP will say so, until the peer acknowledges it
    /// (`header`). "The user must also send at least one data octet":
    /// with none, nothing changes.
    pub fn send_urgent(&mut self, cx: &Context, data: &[u8]) -> Result<usize, Error> {
        let n = self.send(cx, data)?;
        if n > 0 {
            self.snd.up = self.tx_end();
        }
        Ok(n)
    }

    /// SEND (§3.10.2): queue as much as fits in the send buffer, copied.
    pub fn send(&mut self, cx: &Context, data: &[u8]) -> Result<usize, Error> {
        let n = self.send_admits(cx, data.len())?;
        self.tx.push_copy(&data[..n]);
        Ok(n)
    }

    /// SEND of bytes the application shares rather than hands over a copy
    /// of: as much of `data` as fits is queued by reference (`send_buffer`),
    /// and goes to the wire from where it lies.
    pub fn send_bytes(&mut self, cx: &Context, mut data: Bytes) -> Result<usize, Error> {
        let n = self.send_admits(cx, data.len())?;
        data.truncate(n);
        self.tx.push_shared(data);
        Ok(n)
    }

    /// How much of a write of `len` bytes the send buffer takes now; an
    /// error if the connection takes none ever again, or none for now.
    fn send_admits(&mut self, cx: &Context, len: usize) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued
            || !matches!(self.state, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
        {
            return Err(Error::Closing);
        }
        let n = self.send_room(cx.config).min(len);
        if n == 0 && len > 0 {
            self.tx_blocked = true;
            return Err(Error::WouldBlock);
        }
        Ok(n)
    }

    /// Room left in the send buffer.
    pub fn send_room(&self, config: &Config) -> usize {
        config.send_buffer.saturating_sub(self.tx.len())
    }

    /// RECEIVE (§3.10.3): copy out what has arrived in order. `Ok(0)` means
    /// the peer closed and everything it sent has been read, or the
    /// application shut the receiving side (`shutdown_read`).
    pub fn recv(&mut self, cx: &mut Context, buf: &mut [u8]) -> Result<usize, Error> {
        let n = self.peek(buf)?;
        self.consume(cx, n);
        Ok(n)
    }

    /// RECEIVE without taking (MSG_PEEK): what `recv` would copy out, left
    /// to be read again.
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.rx.is_empty() {
            return match self.error {
                Some(e) => Err(e),
                // CLOSED without an error: nothing more can ever arrive.
                None if self.read_shut || self.state.fin_received() || self.state == State::Closed => Ok(0),
                None => Err(Error::WouldBlock),
            };
        }
        let n = self.rx.len().min(buf.len());
        let (a, b) = self.rx.as_slices();
        let from_a = n.min(a.len());
        copy::copy(&mut buf[..from_a], &a[..from_a]);
        copy::copy(&mut buf[from_a..n], &b[..n - from_a]);
        Ok(n)
    }

    /// The application took the first `n` bytes received: they leave the
    /// buffer, and the window opens by as much.
    fn consume(&mut self, cx: &mut Context, n: usize) {
        if n == 0 {
            return;
        }
        let shift = self.window_shift(Flags::ACK);
        let before = self.receive_window(cx, shift);
        self.rx.drain(..n);
        if self.rx.is_empty() && self.rx.capacity() > IDLE_KEEP {
            cx.rx_shelf.put(std::mem::take(&mut self.rx));
        }
        self.rx_start += n;
        // Read past the urgent mark: back to "normal mode" (§3.8.5).
        self.rcv.up = self.rcv.up.max(self.rx_start);
        if let Some(srtt) = self.rtt.srtt() {
            self.rcv_buf.on_read(cx.now, self.rx_start, srtt, cx.config.recv_buffer);
        }
        // Tell the peer when the window opened by enough to matter,
        // especially when it had been closed.
        let after = self.receive_window(cx, shift);
        if after > before && (before == 0 || after - before >= 2 * self.snd_mss.min(cx.config.mss(self.remote.ip()))) {
            self.ack_now = true;
        }
    }

    /// The application will read no more (`shutdown(SHUT_RD)`): what is
    /// buffered and what arrives later are discarded, and `recv` returns
    /// `Ok(0)`. RFC 9293 has no such call; it is half of MAY-1's
    /// half-duplex close, with the sending side left open. Later data is
    /// still acknowledged, as FreeBSD and Linux do, rather than answered
    /// with the RST SHLD-3 asks of a CLOSE (§3.6.1): an RST would end the
    /// direction the application means to keep.
    pub fn shutdown_read(&mut self, cx: &mut Context) {
        self.read_shut = true;
        self.consume(cx, self.rx.len());
    }

    /// CLOSE of the sending side (§3.10.4): a FIN follows the queued data.
    pub fn shutdown(&mut self, cx: &Context) {
        match self.state {
            State::SynSent => self.set_state(cx, State::Closed, "close in SYN-SENT"),
            // "Queue for processing after entering ESTABLISHED state": the
            // FIN follows the ACK of our SYN.
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(cx, State::FinWait1, "close");
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(cx, State::LastAck, "close");
            }
            _ => {}
        }
    }

    /// CLOSE (§3.10.4) and the application lets go of the socket: unread
    /// data is discarded; the TCB lives on until the close completes.
    pub fn close(&mut self, cx: &Context) {
        self.orphaned = true;
        self.rx.clear();
        self.ready = Ready::empty();
        self.shutdown(cx);
    }

    /// ABORT (§3.10.5): send RST in synchronized states and delete the TCB.
    /// Returns the RST to send, if any.
    /// In CLOSING, LAST-ACK and TIME-WAIT the peer has nothing left to hear:
    /// "delete the TCB" without an RST. The RST carries SND.NXT, but never
    /// past the window's right edge, SND.UNA + SND.WND: what was sent before
    /// the peer shrank its window lies beyond it, and a peer that keeps its
    /// window shut accepts an RST only at exactly RCV.NXT (§3.10.7.4
    /// "first"), else drops it unseen.
    /// (Linux picks the same, `tcp_acceptable_seq`.)
    pub fn abort(&mut self, cx: &Context) -> Option<TcpRepr> {
        let seq = self.snd.nxt.min(self.snd.una + self.snd.wnd);
        let rst = matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        )
        .then(|| self.header(cx, seq, Flags::RST));
        if let Some(rst) = &rst {
            let record = Record::segment(cx.now, Dir::Out, rst, 0, SegmentKind::Reset, By::Abort);
            self.story.push(cx.config.story_records, record);
        }
        self.set_state(cx, State::Closed, "abort");
        self.orphaned = true;
        rst
    }

    // STATUS (§3.10.6): what the stack reports of the connection, besides
    // the public fields.

    /// Bytes waiting to be read.
    pub fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    /// The urgent mark (§3.8.5, MUST-33; BSD's SIOCATMARK asks the same):
    /// how many bytes the application has still to read to reach the end
    /// of the urgent data, RCV.UP, some perhaps not arrived yet; `None`
    /// when no urgent data is pending. Reading that many first separates
    /// the urgent data from what follows it (§3.10.3). After
    /// `shutdown_read` nothing is to be read, urgent or not.
    pub fn urgent(&self) -> Option<usize> {
        (self.rcv.up > self.rx_start && !self.read_shut).then(|| self.rcv.up - self.rx_start)
    }

    /// Bytes written and not yet acknowledged: the send buffer in use.
    pub fn send_queue(&self) -> usize {
        self.tx.len()
    }

    /// What the peer has SACKed of what we sent.
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.sack
    }

    /// Runs in the log of sent segments: at most `Config::max_sent_runs`.
    pub fn sent_runs(&self) -> usize {
        self.sent.len()
    }

    /// Runs of out-of-order data held (`reassembly.rs`): at most
    /// `Config::max_ooo_segments`.
    pub fn ooo_runs(&self) -> usize {
        self.ooo.runs()
    }

    /// Bytes held out of order, each once: never more than the receive
    /// window.
    pub fn ooo_bytes(&self) -> usize {
        self.ooo.bytes()
    }
}
