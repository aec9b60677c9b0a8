//! The options the SYN exchange negotiates, in one place: window scaling
//! and timestamps (RFC 7323), SACK-permitted (RFC 2018).
//!
//! ```text
//!   client                                          server
//!   SYN      mss wscale=7 ts=1000/0  ------------>  offered: both
//!            <------------  mss wscale=7 ts=5000/1000   SYN,ACK
//!   ACK      win<<7 ts=1002/5000    ------------>   both agreed
//! ```
//! An option is in force only when both SYNs carried it: the SYN offers,
//! and the SYN,ACK may carry an option only if the SYN did (RFC 7323 §2.2
//! for window scaling, §3.2 for timestamps; RFC 2018 §2 for SACK).
//! So the SYN,ACK carries exactly what was agreed, and one function builds
//! both. The window field of a SYN is never scaled (RFC 7323 §2.2).

use super::Config;
use crate::wire::tcp::TcpOptions;

/// The largest shift RFC 7323 §2.3 allows: windows up to 2^30 bytes, so the
/// window stays below half the sequence space.
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// The largest window the 16-bit field carries unscaled.
pub const MAX_UNSCALED_WINDOW: usize = u16::MAX as usize;

/// Window scaling in force (RFC 7323 §2): windows in segments we send are
/// shifted right by `rcv` (our Rcv.Wind.Shift), windows we receive are
/// shifted left by `snd` (the peer's, Snd.Wind.Shift).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowShifts {
    pub rcv: u8,
    pub snd: u8,
}

/// What our SYN offers, and, once the peer's SYN has arrived, what both
/// agreed. Before the peer's SYN we send only SYNs, whose window fields are
/// never scaled, so an offer is never mistaken for an agreement.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    pub window_scale: Option<WindowShifts>,
    pub timestamps: bool,
    /// Each side reports what it holds out of order, and repairs losses by
    /// the other's reports (`sack`).
    pub sack_permitted: bool,
}

impl Negotiated {
    /// What our SYN offers: the options the configuration enables, with the
    /// shift that lets the window reach the largest receive buffer.
    pub fn offer(config: &Config) -> Negotiated {
        Negotiated {
            window_scale: config.window_scaling.then(|| WindowShifts { rcv: shift_for(config.recv_buffer), snd: 0 }),
            timestamps: config.timestamps,
            sack_permitted: config.sack,
        }
    }

    /// Keep what the peer's SYN (or SYN,ACK) offered too. A shift above 14
    /// is taken as 14 (RFC 7323 §2.3).
    pub fn agree(self, peer: &TcpOptions) -> Negotiated {
        Negotiated {
            window_scale: self
                .window_scale
                .zip(peer.window_scale)
                .map(|(ours, theirs)| WindowShifts { rcv: ours.rcv, snd: theirs.min(MAX_WINDOW_SHIFT) }),
            timestamps: self.timestamps && peer.timestamps.is_some(),
            sack_permitted: self.sack_permitted && peer.sack_permitted,
        }
    }

    /// The options of our SYN or SYN,ACK. The timestamp values are filled
    /// in as in every segment, when it is sent.
    pub fn syn_options(&self, mss: u16) -> TcpOptions {
        TcpOptions {
            mss: Some(mss),
            window_scale: self.window_scale.map(|w| w.rcv),
            sack_permitted: self.sack_permitted,
            ..TcpOptions::default()
        }
    }

    /// Our shift (0 without scaling).
    pub fn rcv_shift(&self) -> u8 {
        self.window_scale.map_or(0, |w| w.rcv)
    }

    /// The peer's shift (0 without scaling).
    pub fn snd_shift(&self) -> u8 {
        self.window_scale.map_or(0, |w| w.snd)
    }
}

/// The smallest shift with which a window of `buffer` bytes fits the 16-bit
/// field (RFC 7323 §2.3), at most 14.
pub fn shift_for(buffer: usize) -> u8 {
    let mut shift = 0;
    while shift < MAX_WINDOW_SHIFT && (buffer >> shift) > MAX_UNSCALED_WINDOW {
        shift += 1;
    }
    shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::Timestamps;
    use std::net::Ipv4Addr;

    #[test]
    fn shift_is_the_smallest_that_fits_and_at_most_14() {
        assert_eq!(shift_for(65_535), 0);
        assert_eq!(shift_for(65_536), 1);
        assert_eq!(shift_for(4 << 20), 7);
        assert_eq!(shift_for((65_535 << 14) + 1), 14);
        assert_eq!(shift_for(usize::MAX), 14);
    }

    #[test]
    fn an_option_holds_only_when_both_offer_it() {
        let mut config = Config::new(Ipv4Addr::LOCALHOST);
        config.recv_buffer = 1 << 20;
        let ours = Negotiated::offer(&config);
        assert_eq!(ours.window_scale, Some(WindowShifts { rcv: 5, snd: 0 }));
        let peer = TcpOptions { window_scale: Some(20), timestamps: Some(Timestamps::default()), ..Default::default() };
        let agreed = ours.agree(&peer);
        assert_eq!(agreed.window_scale, Some(WindowShifts { rcv: 5, snd: 14 }), "a shift over 14 counts as 14");
        assert!(agreed.timestamps);
        assert_eq!(ours.agree(&TcpOptions::default()), Negotiated::default());
        config.window_scaling = false;
        config.timestamps = false;
        assert_eq!(Negotiated::offer(&config).agree(&peer), Negotiated::default());
    }
}
