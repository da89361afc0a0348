//! Packet parsing and header rewriting for the mvno-upf fast path.
//!
//! This crate is `no_std`, uses only `core`, and compiles both for
//! `bpfel-unknown-none` (inside the XDP program) and for the host, where it is
//! unit-tested and fuzzed with plain `cargo test`.
//!
//! # The access discipline
//!
//! The BPF verifier only accepts a packet read if the *same register* was
//! compared against `data_end` first. Every function here therefore works on
//! raw addresses (`usize`) inside a frame `[start, end)`, and every read or
//! write goes through [`mem`], which checks `p + N <= end` right before it
//! touches `p`. Variable advances (IHL, GTP-U extension lengths) go through
//! [`mem::advance`], which hides the sum from LLVM so that it cannot re-derive
//! an unchecked pointer (LLVM folds `p + n` back into a pointer the verifier
//! no longer knows is checked).
//!
//! On the host, [`Frame`] turns a byte slice into such a range.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

pub mod eth;
pub mod gtpu;
pub mod ipv4;
pub mod mem;
pub mod meter;
pub mod pdr;

pub use upf_abi::DropReason;

/// A frame in memory: `[start, end)` as addresses.
///
/// In XDP it comes from `ctx.data()` / `ctx.data_end()`; on the host from a slice.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Address of the first byte.
    pub start: usize,
    /// Address one past the last byte.
    pub end: usize,
}

impl Frame {
    /// A frame over a byte slice (host side: tests, fuzzing, benches).
    pub fn from_slice(buf: &[u8]) -> Frame {
        let start = buf.as_ptr() as usize;
        Frame {
            start,
            end: start + buf.len(),
        }
    }

    /// Length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when the frame holds no byte.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Result of a parsing or rewriting step: `Err` names the drop reason.
pub type Result<T> = core::result::Result<T, DropReason>;
