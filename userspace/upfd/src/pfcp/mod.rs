//! The PFCP side of the daemon (TS 29.244, Sx/N4).
//!
//! - [`node`]: the PFCP node, sans-IO: associations, heartbeats,
//!   retransmission, the response cache; time and datagrams are arguments.
//! - [`server`]: the thin tokio shell that owns the UDP socket and the timer.
//! - [`recovery`]: the Recovery Time Stamp, kept stable across restarts.
//! - [`sessions`]: PFCP sessions (PDR, FAR, QER, URR) compiled into datapath
//!   entries, all or nothing.

pub mod node;
pub mod recovery;
pub mod server;
