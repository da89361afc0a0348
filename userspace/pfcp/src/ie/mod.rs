//! Information elements: the TLV framing (TS 29.244 §8.1.1) and a typed repr
//! per IE the UPF uses.
//!
//! ```text
//!  octets 1-2: type (bit 8 of octet 1 set: vendor-specific, enterprise ID follows)
//!  octets 3-4: length (octets after the first 4, enterprise ID included)
//!  [octets 5-6: enterprise ID]
//!  the value
//! ```
//!
//! Each typed IE implements [`IeValue`]: `parse` gets exactly the value
//! octets (the framing is already checked) and `emit` writes only the value.
//! Grouped IEs parse their children with [`IeIter`]; children they do not
//! model are kept in an `unknown: Vec<RawIe>` field and emitted back.

pub mod types;

mod address;
pub(crate) mod children;
mod filter;
mod grouped;
mod grouped_codec;
mod reader;
mod scalar;
mod simple;
mod usage;

pub use grouped::*;
pub use simple::*;

/// Why a message or IE could not be parsed: the cause to answer with and the
/// IE type to name in Offending IE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IeError {
    /// Cause for the response: [`crate::Cause::MANDATORY_IE_MISSING`],
    /// [`crate::Cause::INVALID_LENGTH`], [`crate::Cause::MANDATORY_IE_INCORRECT`], ...
    pub cause: crate::Cause,
    /// The IE type at fault (for Offending IE): the innermost IE at fault.
    /// A missing mandatory IE names the missing IE's type, also inside a
    /// grouped IE (a PDI without Source Interface: Source Interface); a value
    /// too short or incorrect names that IE (an F-TEID cut short inside a
    /// Create PDR's PDI: F-TEID). Use [`IeError::within`] to report at an
    /// outer IE instead.
    pub offending_ie: u16,
}

impl IeError {
    /// Mandatory IE `ie` is missing.
    pub fn missing(ie: u16) -> IeError {
        IeError {
            cause: crate::Cause::MANDATORY_IE_MISSING,
            offending_ie: ie,
        }
    }

    /// IE `ie` has a length its content cannot have.
    pub fn length(ie: u16) -> IeError {
        IeError {
            cause: crate::Cause::INVALID_LENGTH,
            offending_ie: ie,
        }
    }

    /// IE `ie` has a value that is not allowed.
    pub fn incorrect(ie: u16) -> IeError {
        IeError {
            cause: crate::Cause::MANDATORY_IE_INCORRECT,
            offending_ie: ie,
        }
    }

    /// The same error reported at the grouped IE `outer` that contains it
    /// (the cause is kept).
    pub fn within(self, outer: u16) -> IeError {
        IeError {
            offending_ie: outer,
            ..self
        }
    }
}

impl core::fmt::Display for IeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} (offending IE {} {})",
            self.cause,
            self.offending_ie,
            types::name(self.offending_ie)
        )
    }
}

impl std::error::Error for IeError {}

/// An IE kept as it came: one we do not model, or a vendor-specific one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawIe {
    /// The type, with bit 15 set for vendor-specific IEs.
    pub ie_type: u16,
    /// Enterprise ID, present exactly when bit 15 of the type is set.
    pub enterprise_id: Option<u16>,
    /// The value (after the enterprise ID).
    pub value: Vec<u8>,
}

impl RawIe {
    /// Emits the IE with its framing.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = begin(out, self.ie_type);
        if let Some(e) = self.enterprise_id {
            out.extend_from_slice(&e.to_be_bytes());
        }
        out.extend_from_slice(&self.value);
        finish(out, start);
    }
}

/// One IE in a buffer, borrowed: framing checked, value not yet parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IeRef<'a> {
    /// The type (bit 15 set: vendor-specific).
    pub ie_type: u16,
    /// Enterprise ID of a vendor-specific IE.
    pub enterprise_id: Option<u16>,
    /// The value.
    pub value: &'a [u8],
}

impl IeRef<'_> {
    /// An owned copy.
    pub fn to_raw(&self) -> RawIe {
        RawIe {
            ie_type: self.ie_type,
            enterprise_id: self.enterprise_id,
            value: self.value.to_vec(),
        }
    }

    /// Parses the value as `T`, naming this IE on error.
    pub fn parse<T: IeValue>(&self) -> Result<T, IeError> {
        T::parse(self.value)
    }
}

/// Iterates the IEs of a message body or a grouped IE's value. An IE whose
/// length runs past the buffer (or a vendor IE too short for its enterprise
/// ID) yields one `Err` with [`crate::Cause::INVALID_LENGTH`] and ends the
/// iteration.
#[derive(Clone, Debug)]
pub struct IeIter<'a> {
    rest: &'a [u8],
}

impl<'a> IeIter<'a> {
    /// Iterates over `buf`.
    pub fn new(buf: &'a [u8]) -> IeIter<'a> {
        IeIter { rest: buf }
    }
}

impl<'a> Iterator for IeIter<'a> {
    type Item = Result<IeRef<'a>, IeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        if buf.len() < 4 {
            self.rest = &[];
            let ie_type = if buf.len() >= 2 {
                u16::from_be_bytes([buf[0], buf[1]])
            } else {
                0
            };
            return Some(Err(IeError::length(ie_type)));
        }
        let ie_type = u16::from_be_bytes([buf[0], buf[1]]);
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if buf.len() < 4 + len {
            self.rest = &[];
            return Some(Err(IeError::length(ie_type)));
        }
        let mut value = &buf[4..4 + len];
        self.rest = &buf[4 + len..];
        let enterprise_id = if ie_type & 0x8000 != 0 {
            if value.len() < 2 {
                self.rest = &[];
                return Some(Err(IeError::length(ie_type)));
            }
            let e = u16::from_be_bytes([value[0], value[1]]);
            value = &value[2..];
            Some(e)
        } else {
            None
        };
        Some(Ok(IeRef {
            ie_type,
            enterprise_id,
            value,
        }))
    }
}

/// A typed IE: its type number and how its value is parsed and emitted.
pub trait IeValue: Sized {
    /// The IE type (Table 8.1.2-1).
    const TYPE: u16;
    /// Parses the value octets (framing excluded). Errors name `Self::TYPE`
    /// or, for a grouped IE, the innermost child at fault (see
    /// [`IeError::offending_ie`]).
    fn parse(value: &[u8]) -> Result<Self, IeError>;
    /// Emits the value octets only.
    fn emit_value(&self, out: &mut Vec<u8>);
    /// Emits the IE with its framing.
    fn emit(&self, out: &mut Vec<u8>) {
        let start = begin(out, Self::TYPE);
        self.emit_value(out);
        finish(out, start);
    }
}

/// Writes an IE header with a zero length; returns where it starts.
pub fn begin(out: &mut Vec<u8>, ie_type: u16) -> usize {
    let start = out.len();
    out.extend_from_slice(&ie_type.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    start
}

/// Fills in the length of the IE that starts at `start` (a value longer
/// than 65535 octets cannot be framed and is given 65535). Does nothing if
/// `start` is not the start of an IE header in `out`.
pub fn finish(out: &mut [u8], start: usize) {
    let value_len = out.len().saturating_sub(start).saturating_sub(4);
    let len = u16::try_from(value_len).unwrap_or(u16::MAX);
    if let Some(field) = out.get_mut(start.saturating_add(2)..start.saturating_add(4)) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}
