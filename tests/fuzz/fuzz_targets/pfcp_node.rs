//! The PFCP node and the session manager as one state machine
//! (`harness/pfcp_node.rs` says what is driven and checked).
#![no_main]

#[path = "../harness/pfcp_node.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|ops: Vec<harness::Op>| harness::run(&ops));
