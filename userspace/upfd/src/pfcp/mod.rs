//! The PFCP side of the daemon (TS 29.244, Sx/N4).
//!
//! - [`node`]: the PFCP node, sans-IO: associations, heartbeats,
//!   retransmission, the response cache; time and datagrams are arguments.
//! - [`server`]: the thin tokio shell that owns the UDP socket and the timer.
//! - [`recovery`]: the Recovery Time Stamp, kept stable across restarts.
//! - [`sessions`]: PFCP sessions (PDR, FAR, QER, URR) compiled into datapath
//!   entries, all or nothing.

//! - [`rules`]: a session's PDRs, FARs, QERs and URRs, checked and compiled.
//! - [`urr`]: URRs: triggers checked against their parameters, measurement
//!   state, which triggers fire.
//! - [`pool`]: TEID, UE address and slot allocators.
//! - [`handler`]: session requests in, responses out.
//! - [`store`]: the session store (SQLite) a restarted daemon re-adopts from.
//! - [`static_sessions`]: sessions from a file, as the requests an SMF would send.
//! - [`config`]: the `[pfcp]` configuration section.
//! - [`glue`]: the daemon's wiring of the node to the session manager.

pub mod config;
pub mod glue;
pub mod handler;
pub mod node;
pub mod pool;
pub mod recovery;
pub mod rules;
pub mod server;
pub mod sessions;
pub mod static_sessions;
pub mod store;
pub mod urr;
pub mod vecmap;

#[cfg(test)]
mod hostile_tests;
