//! Checked reading of an IE value: every read names the IE on failure, so a
//! value too short for what its flags promise is an `INVALID_LENGTH` error
//! naming that IE, never a panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::IeError;

/// A cursor over one IE value.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    ie_type: u16,
}

impl<'a> Reader<'a> {
    /// Reads `value`, the value of an IE of type `ie_type`.
    pub(crate) fn new(ie_type: u16, value: &'a [u8]) -> Reader<'a> {
        Reader {
            buf: value,
            ie_type,
        }
    }

    /// The next `n` octets.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], IeError> {
        if self.buf.len() < n {
            return Err(IeError::length(self.ie_type));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` octets as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], IeError> {
        let ie_type = self.ie_type;
        self.take(N)?
            .try_into()
            .map_err(|_| IeError::length(ie_type))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, IeError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, IeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A 3-octet big-endian value.
    pub(crate) fn u24(&mut self) -> Result<u32, IeError> {
        let [a, b, c] = self.array::<3>()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, IeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A 5-octet big-endian value (bit rates).
    pub(crate) fn u40(&mut self) -> Result<u64, IeError> {
        let [a, b, c, d, e] = self.array::<5>()?;
        Ok(u64::from_be_bytes([0, 0, 0, a, b, c, d, e]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, IeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn ipv4(&mut self) -> Result<Ipv4Addr, IeError> {
        Ok(Ipv4Addr::from(self.array::<4>()?))
    }

    pub(crate) fn ipv6(&mut self) -> Result<Ipv6Addr, IeError> {
        Ok(Ipv6Addr::from(self.array::<16>()?))
    }

    /// Reads a field only when `present`.
    pub(crate) fn opt<T>(
        &mut self,
        present: bool,
        read: impl FnOnce(&mut Self) -> Result<T, IeError>,
    ) -> Result<Option<T>, IeError> {
        if present {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Octets not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// Writes the low 3 octets of `v`.
pub(crate) fn put_u24(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// Writes the low 5 octets of `v`, saturating at 2^40 - 1.
pub(crate) fn put_u40(out: &mut Vec<u8>, v: u64) {
    let v = v.min((1 << 40) - 1);
    out.extend_from_slice(&v.to_be_bytes()[3..]);
}
