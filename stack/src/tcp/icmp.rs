//! ICMP and ICMPv6 errors about our segments (RFC 9293 §3.9.2.2, RFC 4443
//! §3): what each one means for the connection whose segment it quotes.
//!
//! The stack finds the connection by the 4-tuple of the quoted header and
//! hands it the quoted sequence number (`Stack::receive_icmp`); the
//! connection believes the error only if that number is one it has sent
//! and not yet seen acknowledged (RFC 5927 §4.1), and then acts on it
//! (`Tcb::on_icmp_error`, MUST-54). By kind:
//!
//! - Source Quench: discarded (MUST-55).
//! - A path narrower than our packets: ICMP's Fragmentation Needed (we
//!   send IPv4 with DF set, so routers drop rather than fragment; RFC
//!   1191) and ICMPv6's Packet Too Big (RFC 4443 §3.2: IPv6 routers never
//!   fragment) say what the path takes. Without them every full segment
//!   would be lost; the connection lowers its MSS to fit (RFC 1191 §6.4,
//!   RFC 8201 §5.2), never below what 576 bytes allow over IPv4 (536, the
//!   MSS every TCP may assume, RFC 9293 §3.7.1; a router older than RFC
//!   1191 gives no MTU, and then 576 too) or IPv6's minimum MTU of 1280
//!   (1220), so a forged message cannot shrink segments further.
//! - Hard errors (Destination Unreachable 2 protocol, 3 port; and 9, 10,
//!   13, administratively prohibited, which say as surely that the peer
//!   will not be reached — FreeBSD and Linux take them as hard too) end a
//!   connection in SYN-SENT or SYN-RECEIVED: `connect` fails with
//!   `Error::Refused` (SHLD-26). In a synchronized state they are soft
//!   errors, as in Linux and FreeBSD: §3.9.2.2 notes that many stacks do
//!   so, and RFC 5927 §7.2 recommends it, since a blind attacker who
//!   guesses a 4-tuple and a sequence number in flight could otherwise
//!   reset a connection with one ICMP message. `Config::icmp_may_abort`
//!   off makes them soft in every state.
//!   ICMPv6's hard errors are Destination Unreachable 1 (administratively
//!   prohibited) and 4 (port unreachable), and 5 and 6 (source address
//!   failed a policy, route rejects), which Linux takes as hard too.
//! - Soft errors (Destination Unreachable 0, 1, 5 and the other codes,
//!   Time Exceeded, Parameter Problem; ICMPv6's 0, 2, 3 and the same two
//!   types) never end a connection (MUST-56).
//!   The application is told (`Ready::SOFT_ERROR`, MUST-47, SHLD-25),
//!   and if the connection later times out, the error it ends with is the
//!   last of them rather than `TimedOut` (as BSD and Linux report it).

use super::{Error, IPV4_MIN_PATH_MTU, IPV6_MIN_MTU};
use crate::wire::icmp::IcmpPacket;
use crate::wire::icmpv4::{self, unreachable};
use crate::wire::icmpv6::{self, unreachable as unreachable6};

/// What an ICMP error does to the connection it is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Ends a connection that is not yet synchronized.
    Hard(Error),
    /// Reported, never ends a connection.
    Soft(Error),
    /// Fragmentation Needed or Packet Too Big: the path takes packets of
    /// at most this many bytes, never taken as fewer than 576 (IPv4) or
    /// 1280 (IPv6).
    PacketTooBig { mtu: usize },
}

impl IcmpError {
    /// The meaning of `icmp`, an error of either family, or `None` if TCP
    /// ignores it.
    pub fn of(icmp: &IcmpPacket) -> Option<IcmpError> {
        if icmp.is_ipv6() {
            IcmpError::classify_v6(icmp.msg_type(), icmp.code(), icmp.mtu())
        } else {
            IcmpError::classify(icmp.msg_type(), icmp.code(), icmp.mtu())
        }
    }

    /// The meaning of an ICMP message of `msg_type` and `code`, `mtu` the
    /// next-hop MTU of a Fragmentation Needed, or `None` if TCP ignores it
    /// (Source Quench, not an error).
    pub fn classify(msg_type: u8, code: u8, mtu: u32) -> Option<IcmpError> {
        Some(match (msg_type, code) {
            (icmpv4::TYPE_DEST_UNREACHABLE, unreachable::FRAG_NEEDED) => {
                IcmpError::PacketTooBig { mtu: usize::try_from(mtu).unwrap_or(usize::MAX).max(IPV4_MIN_PATH_MTU) }
            }
            (
                icmpv4::TYPE_DEST_UNREACHABLE,
                unreachable::PROTOCOL
                | unreachable::PORT
                | unreachable::NET_PROHIBITED
                | unreachable::HOST_PROHIBITED
                | unreachable::FILTERED,
            ) => IcmpError::Hard(Error::Refused),
            (icmpv4::TYPE_DEST_UNREACHABLE, unreachable::NET | unreachable::NET_UNKNOWN | unreachable::NET_FOR_TOS) => {
                IcmpError::Soft(Error::NetUnreachable)
            }
            (icmpv4::TYPE_DEST_UNREACHABLE | icmpv4::TYPE_TIME_EXCEEDED, _) => IcmpError::Soft(Error::HostUnreachable),
            (icmpv4::TYPE_PARAMETER_PROBLEM, _) => IcmpError::Soft(Error::Protocol),
            _ => return None,
        })
    }

    /// The meaning of an ICMPv6 message of `msg_type` and `code`, `mtu` the
    /// field of a Packet Too Big, or `None` if TCP ignores it (not an error).
    pub fn classify_v6(msg_type: u8, code: u8, mtu: u32) -> Option<IcmpError> {
        Some(match (msg_type, code) {
            (icmpv6::TYPE_PACKET_TOO_BIG, _) => {
                IcmpError::PacketTooBig { mtu: usize::try_from(mtu).unwrap_or(usize::MAX).max(IPV6_MIN_MTU) }
            }
            (
                icmpv6::TYPE_DEST_UNREACHABLE,
                unreachable6::PROHIBITED | unreachable6::PORT | unreachable6::POLICY | unreachable6::REJECT_ROUTE,
            ) => IcmpError::Hard(Error::Refused),
            (icmpv6::TYPE_DEST_UNREACHABLE, unreachable6::NO_ROUTE) => IcmpError::Soft(Error::NetUnreachable),
            (icmpv6::TYPE_DEST_UNREACHABLE | icmpv6::TYPE_TIME_EXCEEDED, _) => IcmpError::Soft(Error::HostUnreachable),
            (icmpv6::TYPE_PARAMETER_PROBLEM, _) => IcmpError::Soft(Error::Protocol),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_soft_and_ignored() {
        use icmpv4::{TYPE_DEST_UNREACHABLE as UNREACH, TYPE_PARAMETER_PROBLEM, TYPE_TIME_EXCEEDED};
        for code in [2, 3, 9, 10, 13] {
            assert_eq!(IcmpError::classify(UNREACH, code, 0), Some(IcmpError::Hard(Error::Refused)), "code {code}");
        }
        assert_eq!(IcmpError::classify(UNREACH, 0, 0), Some(IcmpError::Soft(Error::NetUnreachable)));
        for code in [1, 5, 7, 8, 12, 14, 15] {
            assert_eq!(IcmpError::classify(UNREACH, code, 0), Some(IcmpError::Soft(Error::HostUnreachable)));
        }
        assert_eq!(IcmpError::classify(TYPE_TIME_EXCEEDED, 0, 0), Some(IcmpError::Soft(Error::HostUnreachable)));
        assert_eq!(IcmpError::classify(TYPE_PARAMETER_PROBLEM, 1, 0), Some(IcmpError::Soft(Error::Protocol)));
        // Fragmentation Needed: the next-hop MTU, never below 576; none
        // (a router older than RFC 1191) is 576.
        assert_eq!(IcmpError::classify(UNREACH, 4, 1400), Some(IcmpError::PacketTooBig { mtu: 1400 }));
        assert_eq!(IcmpError::classify(UNREACH, 4, 68), Some(IcmpError::PacketTooBig { mtu: 576 }));
        assert_eq!(IcmpError::classify(UNREACH, 4, 0), Some(IcmpError::PacketTooBig { mtu: 576 }));
        assert_eq!(IcmpError::classify(icmpv4::TYPE_SOURCE_QUENCH, 0, 0), None);
        assert_eq!(IcmpError::classify(icmpv4::TYPE_ECHO_REQUEST, 0, 0), None);
    }

    #[test]
    fn icmpv6_hard_soft_too_big_and_ignored() {
        use icmpv6::{TYPE_DEST_UNREACHABLE as UNREACH, TYPE_PACKET_TOO_BIG as TOO_BIG};
        for code in [1, 4, 5, 6] {
            assert_eq!(IcmpError::classify_v6(UNREACH, code, 0), Some(IcmpError::Hard(Error::Refused)), "code {code}");
        }
        assert_eq!(IcmpError::classify_v6(UNREACH, 0, 0), Some(IcmpError::Soft(Error::NetUnreachable)));
        for code in [2, 3, 7] {
            assert_eq!(IcmpError::classify_v6(UNREACH, code, 0), Some(IcmpError::Soft(Error::HostUnreachable)));
        }
        assert_eq!(
            IcmpError::classify_v6(icmpv6::TYPE_TIME_EXCEEDED, 0, 0),
            Some(IcmpError::Soft(Error::HostUnreachable))
        );
        assert_eq!(
            IcmpError::classify_v6(icmpv6::TYPE_PARAMETER_PROBLEM, 0, 0),
            Some(IcmpError::Soft(Error::Protocol))
        );
        assert_eq!(IcmpError::classify_v6(TOO_BIG, 0, 1400), Some(IcmpError::PacketTooBig { mtu: 1400 }));
        // Below IPv6's minimum, the minimum (RFC 8201 §4).
        assert_eq!(IcmpError::classify_v6(TOO_BIG, 0, 600), Some(IcmpError::PacketTooBig { mtu: 1280 }));
        assert_eq!(IcmpError::classify_v6(icmpv6::TYPE_ECHO_REQUEST, 0, 0), None);
    }
}
