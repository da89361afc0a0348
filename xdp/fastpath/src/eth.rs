//! Ethernet II with at most one 802.1Q / 802.1ad tag.

use crate::mem::{load, store};
use crate::{DropReason, Frame, Result};

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of one VLAN tag.
pub const VLAN_TAG_LEN: usize = 4;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q customer tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of an 802.1ad service tag.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

/// A parsed link-layer header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2 {
    /// Address of the network-layer header.
    pub l3: usize,
    /// EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
    /// Length of the link-layer header: 14, or 18 with a tag.
    pub len: usize,
    /// Destination MAC.
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
    /// The tag's TPID and TCI, if tagged.
    pub vlan: Option<(u16, u16)>,
}

/// Parses the link-layer header at the start of `f`.
///
/// # Safety
/// `[f.start, f.end)` must be readable.
#[inline(always)]
pub unsafe fn parse(f: Frame) -> Result<L2> {
    // SAFETY: forwarded contract; the load checks its own end.
    let hdr = unsafe { load::<HEADER_LEN>(f.start, f.end) }.ok_or(DropReason::Truncated)?;
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&hdr[0..6]);
    src.copy_from_slice(&hdr[6..12]);
    let ethertype = u16::from_be_bytes([hdr[12], hdr[13]]);
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        // SAFETY: forwarded contract; the load checks its own end.
        let tag = unsafe { load::<4>(f.start + 14, f.end) }.ok_or(DropReason::Truncated)?;
        let tci = u16::from_be_bytes([tag[0], tag[1]]);
        let inner = u16::from_be_bytes([tag[2], tag[3]]);
        return Ok(L2 {
            l3: f.start + HEADER_LEN + VLAN_TAG_LEN,
            ethertype: inner,
            len: HEADER_LEN + VLAN_TAG_LEN,
            dst,
            src,
            vlan: Some((ethertype, tci)),
        });
    }
    Ok(L2 {
        l3: f.start + HEADER_LEN,
        ethertype,
        len: HEADER_LEN,
        dst,
        src,
        vlan: None,
    })
}

/// Writes an untagged Ethernet header at `p`. Returns false if it does not fit.
///
/// # Safety
/// `[p, end)` must be writable.
#[inline(always)]
pub unsafe fn write(p: usize, end: usize, dst: [u8; 6], src: [u8; 6], ethertype: u16) -> bool {
    let t = ethertype.to_be_bytes();
    let hdr = [
        dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], src[0], src[1], src[2], src[3], src[4],
        src[5], t[0], t[1],
    ];
    // SAFETY: forwarded contract; store checks the end.
    unsafe { store(p, end, hdr) }
}

/// Writes a link-layer header that keeps `l2`'s tag (if any), with the given MACs.
/// Returns the header length written, or `None` if it does not fit.
///
/// # Safety
/// `[p, end)` must be writable.
#[inline(always)]
pub unsafe fn write_like(
    p: usize,
    end: usize,
    l2: &L2,
    dst: [u8; 6],
    src: [u8; 6],
) -> Option<usize> {
    match l2.vlan {
        None => {
            // SAFETY: forwarded contract.
            unsafe { write(p, end, dst, src, l2.ethertype) }.then_some(HEADER_LEN)
        }
        Some((tpid, tci)) => {
            // SAFETY: forwarded contract.
            if !unsafe { write(p, end, dst, src, tpid) } {
                return None;
            }
            let c = tci.to_be_bytes();
            let t = l2.ethertype.to_be_bytes();
            // SAFETY: forwarded contract.
            unsafe { store(p + HEADER_LEN, end, [c[0], c[1], t[0], t[1]]) }
                .then_some(HEADER_LEN + VLAN_TAG_LEN)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 16] = [
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0x00,
    ];
    const TAGGED: [u8; 20] = [
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00, 0x45, 0x00,
    ];

    #[test]
    fn parses_untagged() {
        let f = Frame::from_slice(&UNTAGGED);
        // SAFETY: f covers a live slice.
        let l2 = unsafe { parse(f) }.unwrap();
        assert_eq!(l2.l3 - f.start, 14);
        assert_eq!(l2.ethertype, ETHERTYPE_IPV4);
        assert_eq!(l2.dst, [2, 0, 0, 0, 0, 1]);
        assert_eq!(l2.src, [2, 0, 0, 0, 0, 2]);
        assert_eq!(l2.vlan, None);
    }

    #[test]
    fn parses_one_tag() {
        let f = Frame::from_slice(&TAGGED);
        // SAFETY: f covers a live slice.
        let l2 = unsafe { parse(f) }.unwrap();
        assert_eq!(l2.l3 - f.start, 18);
        assert_eq!(l2.ethertype, ETHERTYPE_IPV4);
        assert_eq!(l2.vlan, Some((ETHERTYPE_VLAN, 0x2064)));
    }

    #[test]
    fn truncated_headers_are_errors() {
        fn parse_bytes(b: &[u8]) -> Result<L2> {
            // SAFETY: the frame covers a live slice.
            unsafe { parse(Frame::from_slice(b)) }
        }
        for n in 0..14 {
            assert_eq!(parse_bytes(&UNTAGGED[..n]), Err(DropReason::Truncated));
        }
        for n in 14..18 {
            assert_eq!(parse_bytes(&TAGGED[..n]), Err(DropReason::Truncated));
        }
    }

    #[test]
    fn write_like_keeps_the_tag() {
        let f = Frame::from_slice(&TAGGED);
        // SAFETY: f covers a live slice.
        let l2 = unsafe { parse(f) }.unwrap();
        let mut out = [0u8; 18];
        let p = out.as_mut_ptr() as usize;
        // SAFETY: [p, p+18) is `out`.
        let n = unsafe { write_like(p, p + 18, &l2, l2.src, l2.dst) };
        assert_eq!(n, Some(18));
        assert_eq!(&out[0..6], &TAGGED[6..12]);
        assert_eq!(&out[6..12], &TAGGED[0..6]);
        assert_eq!(&out[12..18], &TAGGED[12..18]);
    }
}
