//! ICMP for IPv4 (RFC 792): its type numbers and the codes TCP tells
//! apart; `icmp::IcmpPacket` reads its messages, as ICMPv6's. Enough to
//! answer `ping` and to read the errors routers send back about our
//! packets: an error quotes the datagram's IP header and its first 8 data
//! bytes.

/// Echo reply, the answer to a ping.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Destination unreachable, its reason in the code: see `unreachable`.
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
/// Source quench: "slow down", from a congested router (RFC 792);
/// deprecated (RFC 6633), TCP discards it (RFC 9293 MUST-55).
pub const TYPE_SOURCE_QUENCH: u8 = 4;
/// Echo request, a ping.
pub const TYPE_ECHO_REQUEST: u8 = 8;
/// Time exceeded: TTL ran out in transit.
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Parameter problem: a header field was bad.
pub const TYPE_PARAMETER_PROBLEM: u8 = 12;

/// The codes of Destination Unreachable that TCP tells apart (RFC 792,
/// RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
pub mod unreachable {
    /// No route to the network.
    pub const NET: u8 = 0;
    /// The host did not answer (no ARP reply, say).
    pub const HOST: u8 = 1;
    /// The host does not speak the protocol (no TCP).
    pub const PROTOCOL: u8 = 2;
    /// Nothing listens on the port: the ICMP form of an RST.
    pub const PORT: u8 = 3;
    /// The datagram was too big and had DF set: path MTU discovery.
    pub const FRAG_NEEDED: u8 = 4;
    /// Network unknown.
    pub const NET_UNKNOWN: u8 = 6;
    /// Communication with the network administratively prohibited.
    pub const NET_PROHIBITED: u8 = 9;
    /// Communication with the host administratively prohibited.
    pub const HOST_PROHIBITED: u8 = 10;
    /// Network unreachable for the type of service.
    pub const NET_FOR_TOS: u8 = 11;
    /// Communication administratively prohibited: a filter dropped it.
    pub const FILTERED: u8 = 13;
}
