//! PFCP (3GPP TS 29.244) codec for a user plane function, sans-IO.
//!
//! Layers, in the style of smoltcp's `wire` module:
//! - [`header`]: the message header (§7.2.2) as a checked view and a [`Header`] repr;
//! - [`ie`]: the IE TLV framing (§8.1.1, with the enterprise bit), an
//!   iterator over IEs that checks every length, and a typed repr per IE;
//! - [`message`]: typed messages that know which IEs are mandatory;
//! - [`node`]: the PFCP node of a UP function (associations, heartbeats,
//!   retransmission, the response cache), sans-IO in quinn-proto's shape:
//!   datagrams and time are arguments, sessions go to a handler.
//!
//! Parsing never panics on any input and never trusts a length field; an IE
//! type we do not model is carried through as a [`RawIe`] and re-emitted as it
//! came. A message is parsed in two steps so that the node can answer each
//! failure the way the spec says: [`Header::parse`] fails only on what makes
//! a datagram unanswerable (too short, length beyond the datagram) or on a
//! version other than 1 (answer Version Not Supported); [`Message::parse`]
//! fails with the [`Cause`] and the offending IE type to put in the response.
#![warn(missing_docs)]

pub mod cause;
pub mod flow;
pub mod header;
pub mod ie;
pub mod message;
pub mod node;

pub use cause::Cause;
pub use header::{Header, HeaderError, MsgType};
pub use ie::{IeError, RawIe};
pub use message::Message;

/// The PFCP UDP port (TS 29.244 §4.2.2).
pub const PFCP_PORT: u16 = 8805;

/// A whole PFCP message: header and body.
#[derive(Clone, Debug, PartialEq)]
pub struct Pdu {
    /// The header; its length field is computed on emit.
    pub header: Header,
    /// The body.
    pub message: Message,
}

impl Pdu {
    /// Parses a datagram (both steps). Use the two steps separately to answer
    /// errors the way TS 29.244 says.
    pub fn parse(datagram: &[u8]) -> Result<Pdu, ParseError> {
        let (header, body) = Header::parse(datagram).map_err(ParseError::Header)?;
        let message = Message::parse(header.message_type, body).map_err(ParseError::Ie)?;
        Ok(Pdu { header, message })
    }

    /// Emits the message; the header's message type and length are taken from
    /// the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut header = self.header;
        header.message_type = self.message.message_type();
        header.emit(out);
        self.message.emit(out);
        header::set_length(&mut out[start..]);
    }

    /// [`Pdu::emit`] into a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.emit(&mut out);
        out
    }
}

/// Why [`Pdu::parse`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The header step failed.
    Header(HeaderError),
    /// The body step failed.
    Ie(IeError),
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::Header(e) => write!(f, "header: {e}"),
            ParseError::Ie(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ParseError {}
