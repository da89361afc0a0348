//! Peak-hour metering for mvno-upf.
//!
//! The daemon samples the fast path's per-CPU counters once a second and
//! hands one [`SecondSample`] per POI and direction to a [`store::Store`].
//! The store keeps one-second rows for a recent window and rolls them up into
//! minute and hour [`Row`]s; everything a capacity planner asks for
//! (the daily busy hour, the busiest day of a month and of a fiscal year, the
//! 95th percentile, the regulator's table, units, charges and a forecast) is
//! computed from those rows by [`report`], and drawn by [`render`].
//!
//! Times are Unix seconds (UTC) everywhere below the report, which alone
//! knows calendars, time zones and fiscal years.
#![warn(missing_docs)]

pub mod calendar;
pub mod charges;
pub mod import;
pub mod render;
pub mod report;
pub mod series;
pub mod store;
pub mod synth;

pub use series::{percentile, rollup, Dir, Gap, Row, SecondSample};
