//! QoS: the configuration of rate limits and the control loop over them.
//!
//! - [`config`]: `[qos]`, `[[poi]]` and `[[plan]]`, checked and built into
//!   the [`config::QosSetup`] the rest uses.
//! - [`control`]: the control loop: POI meters, rates measured every tick,
//!   the POI guard's fair-share caps, plan quotas, what `upfctl qos` shows.
//!
//! - [`meters`]: which QER MBR becomes which rate meter, and the session's
//!   plan rate, throttle and fair-share cap on top.
//! - [`session_meters`]: the meters a request takes, configures and frees
//!   (writes in its plan), plans, throttles and caps applied to a session;
//!   the fast path's GCRA (`upf_fastpath::meter`) enforces them.

pub mod config;
pub mod control;
pub mod meters;
pub mod session_meters;
