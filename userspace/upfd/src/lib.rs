//! The mvno-upf daemon as a library: everything `upfd` and `upfctl` share.
//!
//! Data flows one way: session API -> [`session`] -> [`datapath`] (BPF maps)
//! -> the XDP fast path -> per-CPU counters -> statistics.
#![warn(missing_docs)]

pub mod bpf;
pub mod control;
pub mod gtpu_path;
pub mod meter;
pub mod metrics;
pub mod nexthop;
pub mod pfcp;
