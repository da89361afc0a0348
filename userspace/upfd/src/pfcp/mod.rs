//! The daemon's PFCP shell (TS 29.244, Sx/N4): the node itself lives in
//! `upf_pfcp::node` and its session handler is the session core's manager
//! (`upf_session::n4`); here is what binds them to the host.
//!
//! - [`server`]: the thin tokio shell that owns the UDP socket and the timer.
//! - [`recovery`]: the Recovery Time Stamp, kept stable across restarts.
//! - [`store`]: the session store (SQLite) a restarted daemon re-adopts from.

pub mod recovery;
pub mod server;
pub mod store;
