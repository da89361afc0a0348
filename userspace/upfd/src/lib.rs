//! The mvno-upf daemon as a library: the thin shells around the session
//! core (`upf_session`), each the only place its kind of I/O happens.
//!
//! - [`bpf`]: the BPF datapath (loader, maps, attach, pinning): applies the
//!   core's plans to the maps.
//! - [`pfcp`]: N4's UDP socket and timer around the PFCP node, the
//!   session store (SQLite), the Recovery Time Stamp.
//! - [`control`]: answers `upfctl` over the control socket.
//! - [`gtpu_path`]: the GTP-U signalling socket (echo, End Markers).
//! - [`nexthop`]: routes and neighbours into the fast path's next-hop cache.
//! - [`meter`]: the peak-hour meter (counters to per-POI samples) and the
//!   store's writer thread; [`metrics`]: `/metrics`.
#![warn(missing_docs)]

pub mod bpf;
pub mod control;
pub mod gtpu_path;
pub mod meter;
pub mod metrics;
pub mod nexthop;
pub mod pfcp;
