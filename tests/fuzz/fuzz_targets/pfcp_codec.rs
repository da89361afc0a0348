//! The PFCP codec on any datagram (`harness/pfcp_codec.rs` says what is
//! checked).
#![no_main]

#[path = "../harness/pfcp_codec.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
