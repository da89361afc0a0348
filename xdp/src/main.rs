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
// Compare-and-swap on the shared rate meters: the bpfel target has no
// `atomic-cas`, so `AtomicU64` lacks it; the intrinsics emit BPF_CMPXCHG.
#![cfg_attr(
    target_arch = "bpf",
    feature(core_intrinsics),
    allow(internal_features)
)]

#[cfg(target_arch = "bpf")]
mod prog;

/// On the host this crate is an empty binary, so that a plain `cargo build`
/// of the workspace does not need the BPF toolchain.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
