//! The fast path's parsers on any frame (`harness/gtpu_frame.rs` says what
//! is checked).
#![no_main]

#[path = "../harness/gtpu_frame.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
