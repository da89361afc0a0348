//! The mvno-upf daemon as a library: everything `upfd` and `upfctl` share.
//!
//! Data flows one way: session API -> [`session`] -> [`datapath`] (BPF maps)
//! -> the XDP fast path -> per-CPU counters -> statistics.
#![warn(missing_docs)]

pub mod config;
pub mod control;
pub mod datapath;
pub mod gtpu_path;
pub mod meter;
pub mod meter_config;
pub mod metrics;
pub mod nexthop;
pub mod pfcp;
pub mod qos_config;
pub mod qos_control;
pub mod session;
