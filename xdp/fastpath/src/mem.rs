//! Bounds-checked loads and stores on raw frame addresses.
//!
//! # Safety contract
//!
//! Every `unsafe fn` here requires only that `[p, end)` (for the bytes it
//! touches, which it checks to lie below `end`) is memory the caller may read
//! (and, for stores, write): in XDP the packet, on the host a slice.

/// Hides `p + n` from the optimiser, so the result is a fresh value that the
/// next bounds check applies to (verifier pitfall P5).
#[inline(always)]
pub fn advance(p: usize, n: usize) -> usize {
    core::hint::black_box(p + n)
}

/// True when `n` bytes starting at `p` lie inside the frame ending at `end`.
#[inline(always)]
pub fn fits(p: usize, end: usize, n: usize) -> bool {
    p + n <= end
}

/// Reads `N` bytes at `p`, or `None` if they run past `end`.
///
/// # Safety
/// `[p, end)` must be readable (see the module docs).
#[inline(always)]
pub unsafe fn load<const N: usize>(p: usize, end: usize) -> Option<[u8; N]> {
    if p + N > end {
        return None;
    }
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        // SAFETY: p + i < p + N <= end, inside the readable frame.
        out[i] = unsafe { *((p + i) as *const u8) };
        i += 1;
    }
    Some(out)
}

/// Reads one byte at `p`.
///
/// # Safety
/// As [`load`].
#[inline(always)]
pub unsafe fn u8_at(p: usize, end: usize) -> Option<u8> {
    // SAFETY: forwarded contract.
    unsafe { load::<1>(p, end) }.map(|b| b[0])
}

/// Reads a big-endian u16 at `p`.
///
/// # Safety
/// As [`load`].
#[inline(always)]
pub unsafe fn be16_at(p: usize, end: usize) -> Option<u16> {
    // SAFETY: forwarded contract.
    unsafe { load::<2>(p, end) }.map(u16::from_be_bytes)
}

/// Reads 4 bytes at `p` as a native u32 holding network byte order (a `_be` value).
///
/// # Safety
/// As [`load`].
#[inline(always)]
pub unsafe fn raw32_at(p: usize, end: usize) -> Option<u32> {
    // SAFETY: forwarded contract.
    unsafe { load::<4>(p, end) }.map(u32::from_ne_bytes)
}

/// Writes `bytes` at `p`, or returns `false` without writing if they do not fit.
///
/// # Safety
/// `[p, end)` must be writable.
#[inline(always)]
pub unsafe fn store<const N: usize>(p: usize, end: usize, bytes: [u8; N]) -> bool {
    if p + N > end {
        return false;
    }
    let mut i = 0;
    while i < N {
        // SAFETY: p + i < p + N <= end, inside the writable frame.
        unsafe { *((p + i) as *mut u8) = bytes[i] };
        i += 1;
    }
    true
}

/// One's-complement sum of big-endian 16-bit words, not folded.
#[inline(always)]
pub fn csum_add(sum: u32, word: u16) -> u32 {
    sum + word as u32
}

/// Folds a one's-complement sum to 16 bits and complements it (RFC 1071).
#[inline(always)]
pub fn csum_finish(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_checks_the_end() {
        let buf = [1u8, 2, 3, 4, 5];
        let p = buf.as_ptr() as usize;
        let end = p + buf.len();
        // SAFETY: [p, end) is `buf`.
        unsafe {
            assert_eq!(load::<4>(p + 1, end), Some([2, 3, 4, 5]));
            assert_eq!(load::<4>(p + 2, end), None);
            assert_eq!(be16_at(p, end), Some(0x0102));
            assert_eq!(u8_at(p + 5, end), None);
        }
    }

    #[test]
    fn store_refuses_past_the_end() {
        let mut buf = [0u8; 3];
        let p = buf.as_mut_ptr() as usize;
        let end = p + buf.len();
        // SAFETY: [p, end) is `buf`.
        unsafe {
            assert!(!store(p + 1, end, [9u8, 9, 9]));
            assert!(store(p, end, [7u8, 8, 9]));
        }
        assert_eq!(buf, [7, 8, 9]);
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example words: 0001 f203 f4f5 f6f7 -> sum ddf2, checksum 220d.
        let sum = [0x0001u16, 0xf203, 0xf4f5, 0xf6f7]
            .iter()
            .fold(0u32, |s, w| csum_add(s, *w));
        assert_eq!(csum_finish(sum), !0xddf2);
    }
}
