//! The mvno-upf XDP program.
//!
//! One program, `upf`, is attached to every configured port (N3 toward the
//! host network, N6 toward the data network; one interface may be both). It
//! terminates GTP-U on N3 (uplink decapsulation, echo, end marker) and
//! encapsulates downlink packets for UE addresses arriving on N6. All parsing
//! and header writing is in `upf-fastpath`; this file holds only the maps, the
//! helpers and the decisions. Every exit is a verdict counted per port, and
//! every drop has a `DropReason`; `XDP_ABORTED` is never returned on purpose.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod prog;

/// On the host this crate is an empty binary, so that a plain `cargo build`
/// of the workspace does not need the BPF toolchain.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
