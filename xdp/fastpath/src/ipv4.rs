//! IPv4 headers (RFC 791): parsing, TTL decrement, and writing an outer header.

use crate::mem::{csum_add, csum_finish, fits, load, store, u8_at};
use crate::{DropReason, Result};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// Flags/fragment-offset bits that make a packet a fragment (MF or a non-zero offset).
pub const FRAGMENT_MASK: u16 = 0x3fff;
/// The Don't Fragment flag.
pub const DONT_FRAGMENT: u16 = 0x4000;
/// Offset of the TTL byte.
pub const TTL_OFFSET: usize = 8;
/// Offset of the header checksum.
pub const CHECKSUM_OFFSET: usize = 10;

/// The fields of an IPv4 header the fast path uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    /// Header length in bytes (IHL × 4), 20..=60.
    pub header_len: usize,
    /// DSCP and ECN byte.
    pub tos: u8,
    /// Total length of the datagram.
    pub total_len: u16,
    /// Flags and fragment offset.
    pub frag: u16,
    /// Time to live.
    pub ttl: u8,
    /// Payload protocol.
    pub proto: u8,
    /// Source address (`_be`).
    pub src_be: u32,
    /// Destination address (`_be`).
    pub dst_be: u32,
}

impl Ipv4 {
    /// True if this datagram is a fragment.
    pub fn is_fragment(&self) -> bool {
        self.frag & FRAGMENT_MASK != 0
    }
}

/// Parses an IPv4 header at `p`. `Truncated` if it (options included) runs past `end`;
/// `BadIpv4Header` for a wrong version, IHL < 5 or a total length shorter
/// than the header.
///
/// # Safety
/// `[p, end)` must be readable.
#[inline(always)]
pub unsafe fn parse(p: usize, end: usize) -> Result<Ipv4> {
    // SAFETY: forwarded contract; load checks the end.
    let h = unsafe { load::<HEADER_LEN>(p, end) }.ok_or(DropReason::Truncated)?;
    if h[0] >> 4 != 4 {
        return Err(DropReason::BadIpv4Header);
    }
    let header_len = ((h[0] & 0x0f) as usize) * 4;
    let total_len = u16::from_be_bytes([h[2], h[3]]);
    if header_len < HEADER_LEN || (total_len as usize) < header_len {
        return Err(DropReason::BadIpv4Header);
    }
    // Options past the frame (found by the gtpu_frame fuzz target: every
    // later load checked its own end, but the header's length was a lie).
    if !fits(p, end, header_len) {
        return Err(DropReason::Truncated);
    }
    Ok(Ipv4 {
        header_len,
        tos: h[1],
        total_len,
        frag: u16::from_be_bytes([h[6], h[7]]),
        ttl: h[8],
        proto: h[9],
        src_be: u32::from_ne_bytes([h[12], h[13], h[14], h[15]]),
        dst_be: u32::from_ne_bytes([h[16], h[17], h[18], h[19]]),
    })
}

/// Decrements the TTL of the header at `p` and updates its checksum
/// incrementally (RFC 1624), as a router does. Returns false if the header
/// does not fit.
///
/// # Safety
/// `[p, end)` must be readable and writable.
#[inline(always)]
pub unsafe fn decrement_ttl(p: usize, end: usize) -> bool {
    // SAFETY: forwarded contract; load/store check the end.
    let Some(h) = (unsafe { load::<4>(p + TTL_OFFSET, end) }) else {
        return false;
    };
    let ttl = h[0].wrapping_sub(1);
    let old_word = u16::from_be_bytes([h[0], h[1]]);
    let new_word = u16::from_be_bytes([ttl, h[1]]);
    let check = u16::from_be_bytes([h[2], h[3]]);
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), which equals a full recomputation.
    let sum = csum_add(csum_add(csum_add(0, !check), !old_word), new_word);
    let c = csum_finish(sum).to_be_bytes();
    // SAFETY: as above.
    unsafe { store(p + TTL_OFFSET, end, [ttl, h[1], c[0], c[1]]) }
}

/// What an outer IPv4 header carries (no options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterIpv4 {
    /// Source address (`_be`).
    pub src_be: u32,
    /// Destination address (`_be`).
    pub dst_be: u32,
    /// Total length of the datagram.
    pub total_len: u16,
    /// DSCP/ECN byte (copied from the inner packet on encapsulation, RFC 2983 uniform model).
    pub tos: u8,
    /// Time to live.
    pub ttl: u8,
    /// Payload protocol.
    pub proto: u8,
}

impl OuterIpv4 {
    /// The 20 header bytes, checksum included; identification 0 with DF set (RFC 6864 atomic datagram).
    #[inline(always)]
    pub fn bytes(&self) -> [u8; HEADER_LEN] {
        let len = self.total_len.to_be_bytes();
        let s = self.src_be.to_ne_bytes();
        let d = self.dst_be.to_ne_bytes();
        let df = DONT_FRAGMENT.to_be_bytes();
        let mut sum = 0u32;
        sum = csum_add(sum, 0x4500 | self.tos as u16);
        sum = csum_add(sum, self.total_len);
        sum = csum_add(sum, DONT_FRAGMENT);
        sum = csum_add(sum, ((self.ttl as u16) << 8) | self.proto as u16);
        sum = csum_add(sum, u16::from_be_bytes([s[0], s[1]]));
        sum = csum_add(sum, u16::from_be_bytes([s[2], s[3]]));
        sum = csum_add(sum, u16::from_be_bytes([d[0], d[1]]));
        sum = csum_add(sum, u16::from_be_bytes([d[2], d[3]]));
        let c = csum_finish(sum).to_be_bytes();
        [
            0x45, self.tos, len[0], len[1], 0, 0, df[0], df[1], self.ttl, self.proto, c[0], c[1],
            s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3],
        ]
    }

    /// Writes the header at `p`. Returns false if it does not fit.
    ///
    /// # Safety
    /// `[p, end)` must be writable.
    #[inline(always)]
    pub unsafe fn write(&self, p: usize, end: usize) -> bool {
        // SAFETY: forwarded contract.
        unsafe { store(p, end, self.bytes()) }
    }
}

/// Reads the TTL at header `p`, or `None` if it does not fit.
///
/// # Safety
/// `[p, end)` must be readable.
#[inline(always)]
pub unsafe fn ttl(p: usize, end: usize) -> Option<u8> {
    // SAFETY: forwarded contract.
    unsafe { u8_at(p + TTL_OFFSET, end) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header};

    #[test]
    fn options_past_the_frame_are_truncated() {
        // tests/fuzz/artifacts/gtpu_frame/crash-60c53d67...: IHL 11 (44
        // octets) in a frame with 20 octets after the Ethernet header.
        let mut f = [0x4bu8; 20];
        f[2] = 0x4b;
        let fr = crate::Frame::from_slice(&f);
        // SAFETY: [start, end) is `f`.
        let got = unsafe { parse(fr.start, fr.end) };
        assert_eq!(got.err(), Some(DropReason::Truncated));
    }

    fn header(ttl: u8) -> [u8; 20] {
        let mut h =
            Ipv4Header::new(40, ttl, IpNumber::UDP, [10, 45, 0, 1], [10, 200, 0, 2]).unwrap();
        h.dont_fragment = true;
        h.header_checksum = h.calc_header_checksum();
        let mut out = [0u8; 20];
        out.copy_from_slice(&h.to_bytes());
        out
    }

    #[test]
    fn parses_a_header() {
        let h = header(64);
        let p = h.as_ptr() as usize;
        // SAFETY: [p, p+20) is `h`.
        let ip = unsafe { parse(p, p + 20) }.unwrap();
        assert_eq!(ip.header_len, 20);
        assert_eq!(ip.total_len, 60);
        assert_eq!(ip.ttl, 64);
        assert_eq!(ip.proto, PROTO_UDP);
        assert_eq!(ip.src_be, u32::from_be_bytes([10, 45, 0, 1]).to_be());
        assert_eq!(ip.dst_be, u32::from_ne_bytes([10, 200, 0, 2]));
        assert!(!ip.is_fragment());
    }

    #[test]
    fn rejects_bad_headers() {
        fn check(h: &[u8]) -> Result<Ipv4> {
            let p = h.as_ptr() as usize;
            // SAFETY: [p, p+len) is `h`.
            unsafe { parse(p, p + h.len()) }
        }
        let good = header(64);
        assert_eq!(check(&good[..19]), Err(DropReason::Truncated));
        let mut h = good;
        h[0] = 0x44; // IHL 4
        assert_eq!(check(&h), Err(DropReason::BadIpv4Header));
        h[0] = 0x65; // version 6
        assert_eq!(check(&h), Err(DropReason::BadIpv4Header));
        h[0] = 0x46; // IHL 6 (24 octets) with a total length of 20
        h[2] = 0;
        h[3] = 20;
        assert_eq!(check(&h), Err(DropReason::BadIpv4Header));
    }

    #[test]
    fn ttl_decrement_keeps_the_checksum_valid() {
        for ttl in [1u8, 2, 64, 128, 255] {
            let mut h = header(ttl);
            let p = h.as_mut_ptr() as usize;
            // SAFETY: [p, p+20) is `h`.
            assert!(unsafe { decrement_ttl(p, p + 20) });
            let expected = header(ttl - 1);
            assert_eq!(h, expected, "ttl {ttl}");
        }
    }

    #[test]
    fn outer_header_matches_etherparse() {
        let o = OuterIpv4 {
            src_be: u32::from_ne_bytes([10, 100, 0, 1]),
            dst_be: u32::from_ne_bytes([10, 100, 0, 2]),
            total_len: 1436,
            tos: 0xb8,
            ttl: 64,
            proto: PROTO_UDP,
        };
        let bytes = o.bytes();
        let (h, rest) = Ipv4Header::from_slice(&bytes).unwrap();
        assert!(rest.is_empty());
        assert_eq!(h.calc_header_checksum(), h.header_checksum);
        assert_eq!(h.total_len, 1436);
        assert_eq!(h.dscp.value(), 0xb8 >> 2);
        assert!(h.dont_fragment);
        assert_eq!(h.source, [10, 100, 0, 1]);
        assert_eq!(h.destination, [10, 100, 0, 2]);
    }
}
