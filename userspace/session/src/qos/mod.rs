//! QoS: the configuration of rate limits and the control loop over them.
//!
//! - [`config`]: `[qos]`, `[[poi]]` and `[[plan]]`, checked and built into
//!   the [`config::QosSetup`] the rest uses.
//! - [`control`]: the control loop: POI meters, rates measured every tick,
//!   the POI guard's fair-share caps, plan quotas, what `upfctl qos` shows.
//!
//! Which QER MBR becomes which rate meter is decided with the rules
//! ([`crate::rules::Rules::meter_plan`]) and applied by the session manager
//! ([`crate::sessions`]); the fast path's GCRA enforces them.

pub mod config;
pub mod control;
