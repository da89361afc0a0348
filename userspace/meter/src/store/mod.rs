//! Where the meter's samples live: SQLite (the default, one file, WAL) or
//! PostgreSQL (a fleet of gateways writing to one database).
//!
//! Every row carries the gateway that measured it and the POI, so one
//! database serves a fleet and a report can sum gateways.
//!
//! Resolutions: one-second rows (`seconds`), kept for a recent window;
//! minute rows and hour rows ([`Row`]) rolled up from them. Each has its own
//! retention ([`Retention`]). Import writes minute rows directly.

use crate::{Dir, Gap, Row, SecondSample};

/// A store failed: the database said no, or the URL or data are unusable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// PostgreSQL said no.
    #[error("postgresql: {0}")]
    Postgres(String),
    /// The store URL is not one we know.
    #[error("store {url:?}: {why}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// Data refused before anything was written (e.g. a row not aligned to its interval).
    #[error("{0}")]
    Invalid(String),
}

/// How long each resolution is kept, in seconds (`None`: forever).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Retention {
    /// One-second rows.
    pub seconds: Option<i64>,
    /// Minute rows.
    pub minutes: Option<i64>,
    /// Hour rows.
    pub hours: Option<i64>,
}

impl Default for Retention {
    /// Two days of seconds, five years of minutes (three fiscal years and the
    /// current one with room), hours forever.
    fn default() -> Self {
        Retention {
            seconds: Some(2 * 86_400),
            minutes: Some(5 * 366 * 86_400),
            hours: None,
        }
    }
}

/// The storage the meter writes and the reports read. Implementations are
/// synchronous; the daemon runs its store on a thread of its own.
pub trait Store: Send {
    /// Writes one second's samples of `gateway` (one per POI and direction)
    /// in one transaction, durable against a crash of the process when this
    /// returns. Writing the same (gateway, poi, dir, ts) twice keeps the last.
    fn write_seconds(&mut self, gateway: &str, samples: &[SecondSample]) -> Result<(), StoreError>;

    /// Rolls `gateway`'s one-second rows up into minute rows for every minute
    /// ending at or before `upto` that has seconds but no minute row yet, and
    /// the minute rows into hour rows likewise (an hour row is rebuilt when a
    /// minute of it is added). Idempotent: run it every minute, and once at
    /// start-up to finish what a crash interrupted. Returns the minute rows built.
    fn rollup(&mut self, gateway: &str, upto: i64) -> Result<usize, StoreError>;

    /// Writes rows of one resolution (all `secs` equal, 60 or 3600) for a
    /// POI and direction: the import path. All or nothing; existing rows at
    /// the same start are replaced. Writing minute rows rebuilds the hour
    /// rows they fall in.
    fn write_rows(
        &mut self,
        gateway: &str,
        poi: &str,
        dir: Dir,
        rows: &[Row],
    ) -> Result<(), StoreError>;

    /// Records that `gateway` measured nothing in [start, end).
    fn record_gap(&mut self, gateway: &str, start: i64, end: i64) -> Result<(), StoreError>;

    /// The latest second `gateway` wrote, if any.
    fn last_second(&mut self, gateway: &str) -> Result<Option<i64>, StoreError>;

    /// One-second samples of `gateway`, a POI and a direction with ts in
    /// [from, to), oldest first.
    fn seconds(
        &mut self,
        gateway: &str,
        poi: &str,
        dir: Dir,
        from: i64,
        to: i64,
    ) -> Result<Vec<SecondSample>, StoreError>;

    /// Rows of resolution `secs` (60 or 3600) of a POI and direction that
    /// start in [from, to), oldest first, summed over `gateways` (every
    /// gateway when empty): bytes, packets and sessions add up, `covered` is
    /// the least of the rows summed, `max_bps` and `p95_bps` add up (an upper
    /// bound of the fleet's). Intervals with no row are absent.
    fn rows(
        &mut self,
        gateways: &[String],
        poi: &str,
        dir: Dir,
        secs: u32,
        from: i64,
        to: i64,
    ) -> Result<Vec<Row>, StoreError>;

    /// Gaps of `gateways` (every gateway when empty) overlapping [from, to).
    fn gaps(&mut self, gateways: &[String], from: i64, to: i64) -> Result<Vec<Gap>, StoreError>;

    /// Every (gateway, POI) with data, sorted.
    fn pois(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    /// Deletes rows older than their resolution's retention at `now`.
    /// Returns how many rows were deleted.
    fn prune(&mut self, now: i64, retention: &Retention) -> Result<u64, StoreError>;
}

/// Opens a store by URL: `sqlite:PATH` (or a bare path) for SQLite,
/// `postgres://...` / `postgresql://...` (libpq key=value strings too) for
/// PostgreSQL. Creates the schema when it is missing.
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    let _ = url;
    todo!("store helper: sqlite.rs and postgres.rs")
}
