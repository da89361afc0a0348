//! The daemon's PFCP shell (TS 29.244, Sx/N4): the node itself lives in
//! `upf_pfcp::node` and the sessions in `upf_session`; here is what binds
//! them to the host.
//!
//! - [`server`]: the thin tokio shell that owns the UDP socket and the timer.
//! - [`glue`]: the node's session handler over the session core.
//! - [`recovery`]: the Recovery Time Stamp, kept stable across restarts.
//! - [`store`]: the session store (SQLite) a restarted daemon re-adopts from.

pub mod glue;
pub mod recovery;
pub mod server;
pub mod store;

#[cfg(test)]
mod hostile_tests;
