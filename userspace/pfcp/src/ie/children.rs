//! Walking and writing the children of a grouped IE or a message body.
//!
//! Error reporting, for messages and grouped IEs alike: the offending IE is
//! the innermost IE at fault. A missing mandatory child names the child's
//! type; a child too short for its flags names the child; a TLV whose length
//! runs past its parent names that TLV. The cause is never rewritten on the
//! way out, so a Create PDR whose PDI's F-TEID is cut short is answered with
//! `INVALID_LENGTH` and offending IE F-TEID.

use super::{IeError, IeIter, IeRef, IeValue, RawIe};

/// Calls `take` on every IE of `buf`; the IEs it declines (returns
/// `Ok(false)`) are returned as raw IEs, in the order they came.
pub(crate) fn walk<'a>(
    buf: &'a [u8],
    mut take: impl FnMut(&IeRef<'a>) -> Result<bool, IeError>,
) -> Result<Vec<RawIe>, IeError> {
    let mut unknown = Vec::new();
    for ie in IeIter::new(buf) {
        let ie = ie?;
        if !take(&ie)? {
            unknown.push(ie.to_raw());
        }
    }
    Ok(unknown)
}

/// Parses an IE allowed once. A repeat is declined (kept raw, not parsed).
pub(crate) fn first<T: IeValue>(slot: &mut Option<T>, ie: &IeRef<'_>) -> Result<bool, IeError> {
    if slot.is_some() {
        return Ok(false);
    }
    *slot = Some(T::parse(ie.value)?);
    Ok(true)
}

/// Parses an IE that may repeat.
pub(crate) fn push<T: IeValue>(list: &mut Vec<T>, ie: &IeRef<'_>) -> Result<bool, IeError> {
    list.push(T::parse(ie.value)?);
    Ok(true)
}

/// A mandatory IE: missing is `MANDATORY_IE_MISSING` naming `ie_type`.
pub(crate) fn required<T>(slot: Option<T>, ie_type: u16) -> Result<T, IeError> {
    slot.ok_or(IeError::missing(ie_type))
}

/// A mandatory IE that may repeat: at least one.
pub(crate) fn one_or_more<T>(list: Vec<T>, ie_type: u16) -> Result<Vec<T>, IeError> {
    if list.is_empty() {
        return Err(IeError::missing(ie_type));
    }
    Ok(list)
}

/// Emits an optional IE.
pub(crate) fn put_opt<T: IeValue>(out: &mut Vec<u8>, v: &Option<T>) {
    if let Some(v) = v {
        v.emit(out);
    }
}

/// Emits every IE of a list.
pub(crate) fn put_all<T: IeValue>(out: &mut Vec<u8>, list: &[T]) {
    for v in list {
        v.emit(out);
    }
}

/// Emits raw IEs back as they came.
pub(crate) fn put_raw(out: &mut Vec<u8>, list: &[RawIe]) {
    for ie in list {
        ie.emit(out);
    }
}
