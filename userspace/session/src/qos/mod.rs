//! QoS: the configuration of rate limits and the control loop over them.
//!
//! - [`config`]: `[qos]`, `[[poi]]` and `[[plan]]`, checked and built into
//!   the [`config::QosSetup`] the rest uses.
//! - [`control`]: the control loop: POI meters, rates measured every tick,
//!   the POI guard's fair-share caps, plan quotas, what `upfctl qos` shows.
//!
//! - [`meters`]: which QER MBR becomes which rate meter, the session's
//!   plan rate, throttle and fair-share cap on top, and the meter writes a
//!   request plans; the fast path's GCRA (`upf_fastpath::meter`) enforces
//!   them.

pub mod config;
pub mod control;
pub mod meters;
