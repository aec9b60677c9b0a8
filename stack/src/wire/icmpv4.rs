//! ICMP for IPv4 (RFC 792): enough to answer `ping` and to read the errors
//! routers send back about our packets.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+-------------------------------+
//! |     Type      |     Code      |           Checksum            |
//! +---------------+---------------+-------------------------------+
//! |  Identifier (echo) / unused, pointer or next-hop MTU (errors) |
//! +---------------------------------------------------------------+
//! |  Echo data / the original IP header + its first 8 data bytes  |
//! +---------------------------------------------------------------+
//! ```
//!
//! In echo messages the second word is Identifier (16 bits) then Sequence
//! Number (16 bits). The checksum covers the whole ICMP message.
//!
//! An error quotes the start of the datagram it is about: `ip::Quote`
//! reads it, for TCP to find the connection and the segment (RFC 9293
//! §3.9.2.2).

use super::{be16, checksum, put16, Error};

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

/// Byte offsets of the fields.
mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    pub const DATA: usize = 8;
}

/// A view of an ICMP message whose length and checksum have been validated.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv4Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Icmpv4Packet<'a> {
    /// Checks len >= 8 (`Truncated`) and the checksum over the whole
    /// message (`Checksum`).
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        if buffer.len() < field::DATA {
            return Err(Error::Truncated);
        }
        if !checksum::data(buffer) != 0 {
            return Err(Error::Checksum);
        }
        Ok(Icmpv4Packet { buffer })
    }

    /// One of the `TYPE_*` constants (or another type, to be ignored).
    pub fn msg_type(&self) -> u8 {
        self.buffer[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer[field::CODE]
    }

    /// Echo identifier: ping uses it to tell its own replies apart.
    pub fn ident(&self) -> u16 {
        be16(self.buffer, field::IDENT)
    }

    /// Echo sequence number: counts the pings.
    pub fn seq_no(&self) -> u16 {
        be16(self.buffer, field::SEQ_NO)
    }

    /// Everything after the first 8 bytes: for echoes, the data to send back.
    pub fn data(&self) -> &'a [u8] {
        &self.buffer[field::DATA..]
    }

    /// For destination unreachable, time exceeded and parameter problem, the
    /// quoted start of the datagram that caused the error (its IP header and
    /// at least 8 bytes more, which hold the TCP ports and sequence number).
    /// Empty for other types.
    pub fn quoted_ipv4(&self) -> &'a [u8] {
        match self.msg_type() {
            TYPE_DEST_UNREACHABLE | TYPE_TIME_EXCEEDED | TYPE_PARAMETER_PROBLEM => self.data(),
            _ => &[],
        }
    }
}

/// Writes the echo reply to `request` into `buf`: type 0, code 0, the same
/// identifier, sequence number and data (RFC 792), and a fresh checksum.
/// Returns its length, the request's length.
///
/// Panics if `buf` is shorter than the request.
pub fn emit_echo_reply(request: &Icmpv4Packet, buf: &mut [u8]) -> usize {
    let len = request.buffer.len();
    let reply = &mut buf[..len];
    reply.copy_from_slice(request.buffer);
    reply[field::TYPE] = TYPE_ECHO_REPLY;
    reply[field::CODE] = 0;
    put16(reply, field::CHECKSUM, 0);
    let sum = !checksum::data(reply);
    put16(reply, field::CHECKSUM, sum);
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An echo request shaped like ping's: type 8, ident 0x1f2e, seq 1, then
    /// an odd-length payload; checksum filled in.
    fn echo_request() -> Vec<u8> {
        let mut msg = vec![8, 0, 0, 0, 0x1f, 0x2e, 0x00, 0x01];
        msg.extend_from_slice(b"abcdefghijklmnopq");
        let sum = !checksum::data(&msg);
        put16(&mut msg, field::CHECKSUM, sum);
        msg
    }

    #[test]
    fn parses_echo_request() {
        let msg = echo_request();
        let p = Icmpv4Packet::new_checked(&msg).unwrap();
        assert_eq!((p.msg_type(), p.code()), (TYPE_ECHO_REQUEST, 0));
        assert_eq!((p.ident(), p.seq_no()), (0x1f2e, 1));
        assert_eq!(p.data(), b"abcdefghijklmnopq");
        assert!(p.quoted_ipv4().is_empty());
    }

    #[test]
    fn known_checksum() {
        // Type 8, code 0, ident 1, seq 1, no data: sum 0x0802, checksum 0xf7fd.
        let msg = [8, 0, 0xf7, 0xfd, 0, 1, 0, 1];
        assert!(Icmpv4Packet::new_checked(&msg).is_ok());
    }

    #[test]
    fn echo_reply_mirrors_the_request() {
        let msg = echo_request();
        let request = Icmpv4Packet::new_checked(&msg).unwrap();
        let mut buf = [0u8; 64];
        let len = emit_echo_reply(&request, &mut buf);
        assert_eq!(len, msg.len());
        let reply = Icmpv4Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!((reply.msg_type(), reply.code()), (TYPE_ECHO_REPLY, 0));
        assert_eq!((reply.ident(), reply.seq_no()), (request.ident(), request.seq_no()));
        assert_eq!(reply.data(), request.data());
    }

    #[test]
    fn errors_quote_the_original_datagram() {
        let mut msg = vec![TYPE_DEST_UNREACHABLE, 3, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0x45; 28]);
        let sum = !checksum::data(&msg);
        put16(&mut msg, field::CHECKSUM, sum);
        let p = Icmpv4Packet::new_checked(&msg).unwrap();
        assert_eq!(p.quoted_ipv4(), &[0x45; 28]);
    }

    #[test]
    fn rejects_short_and_corrupt_messages() {
        assert_eq!(Icmpv4Packet::new_checked(&[8, 0, 0, 0, 0, 0, 0]).unwrap_err(), Error::Truncated);
        let mut msg = echo_request();
        msg[9] ^= 0x10;
        assert_eq!(Icmpv4Packet::new_checked(&msg).unwrap_err(), Error::Checksum);
    }

    proptest! {
        #[test]
        fn new_checked_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&bytes) {
                let _ = (p.msg_type(), p.code(), p.ident(), p.seq_no(), p.data(), p.quoted_ipv4());
            }
        }
    }
}
