//! ICMPv6 (RFC 4443): its type numbers and the codes of Destination
//! Unreachable; `icmp::IcmpPacket` reads its messages, as ICMP's. Errors
//! are below 128, informational messages from 128 (§2.1); an error quotes
//! as much of the invoking packet as fits in 1280 bytes.

/// Destination Unreachable (§3.1), its reason in the code: see `unreachable`.
pub const TYPE_DEST_UNREACHABLE: u8 = 1;
/// Packet Too Big (§3.2): a link on the way takes no packet this large;
/// the MTU field says what it takes. IPv6 routers never fragment.
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
/// Time Exceeded (§3.3): the hop limit ran out in transit.
pub const TYPE_TIME_EXCEEDED: u8 = 3;
/// Parameter Problem (§3.4): a header field was bad.
pub const TYPE_PARAMETER_PROBLEM: u8 = 4;
/// Echo Request (§4.1), a ping.
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// Echo Reply (§4.2), the answer to a ping.
pub const TYPE_ECHO_REPLY: u8 = 129;

/// The codes of Destination Unreachable (RFC 4443 §3.1).
pub mod unreachable {
    /// No route to the destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with the destination administratively prohibited.
    pub const PROHIBITED: u8 = 1;
    /// Beyond the scope of the source address (a link-local source, say).
    pub const BEYOND_SCOPE: u8 = 2;
    /// The address could not be reached (no answer to Neighbor Discovery).
    pub const ADDRESS: u8 = 3;
    /// Nothing listens on the port: the ICMPv6 form of an RST.
    pub const PORT: u8 = 4;
    /// The source address failed an ingress/egress policy.
    pub const POLICY: u8 = 5;
    /// A route to the destination rejects it.
    pub const REJECT_ROUTE: u8 = 6;
}
