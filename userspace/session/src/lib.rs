//! The session core of mvno-upf: PFCP sessions compiled into the fast
//! path's entries, all or nothing, over a [`datapath::Datapath`] trait.
//!
//! No BPF and no I/O live here: the daemon (`upfd`) gives the core a
//! datapath (its BPF maps) and a session store, and carries out what the
//! core returns (responses, reports, End Markers). Everything here is
//! tested against [`datapath::fake::FakeDatapath`].
//!
//! - [`types`]: the small types everything shares (direction, the reject a
//!   refused request carries, IPv4 prefixes, NTP time).
//! - [`rules`]: a session's PDRs, FARs, QERs and URRs, checked and compiled.
//! - [`urr`]: URRs: triggers checked against their parameters, measurement
//!   state, which triggers fire.
//! - [`pool`]: TEID, UE address and slot allocators.
//! - [`sessions`]: the PFCP session manager: requests applied to the
//!   datapath entirely or not at all, usage reports, re-adoption.
//! - [`plan`]: the writes a request decides, applied by the datapath all
//!   or nothing.
//! - [`handler`]: PFCP session requests in, responses (cause, offending IE,
//!   failed rule) out.
//! - [`static_sessions`]: sessions from a file, as the requests an SMF would send.
//! - [`manager`]: every session, static and PFCP, with the QoS loop and the
//!   session store, as the daemon holds it.
//! - [`qos`]: rate limits: configuration and the control loop.
//! - [`datapath`]: the trait the daemon's BPF datapath implements, and a fake.
//! - [`vecmap`]: the small sorted map sessions are made of.
#![warn(missing_docs)]

pub mod datapath;
pub mod handler;
pub mod manager;
pub mod n4;
pub mod plan;
pub mod pool;
pub mod qos;
pub mod rules;
pub mod sessions;
pub mod static_sessions;
pub mod types;
pub mod urr;
pub mod vecmap;
