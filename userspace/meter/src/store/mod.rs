//! Where the meter's samples live: SQLite (the default, one file, WAL) or
//! PostgreSQL (a fleet of gateways writing to one database).
//!
//! Every row carries the gateway that measured it and the POI, so one
//! database serves a fleet and a report can sum gateways.
//!
//! Resolutions: one-second rows (`seconds`), kept for a recent window;
//! minute rows and hour rows ([`Row`]) rolled up from them. Each has its own
//! retention ([`Retention`]). Import writes minute rows directly.

// The URL parsing and row helpers serve the backends only.
#![cfg_attr(not(feature = "backends"), allow(dead_code))]

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

    /// [`Store::write_rows`] for several POIs and directions in one
    /// transaction: an import of a file is all or nothing.
    fn write_batch(
        &mut self,
        gateway: &str,
        batch: &[(&str, Dir, &[Row])],
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
///
/// SQLite: `sqlite:PATH`, `sqlite://PATH` (so `sqlite:///var/lib/upf/meter.db`
/// is absolute) or a bare path; the parent directories are created. A
/// key=value string is recognised by its first word (`host=`, `port=`,
/// `user=`, `dbname=`, `password=`, ...).
#[cfg(feature = "backends")]
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    match parse_url(url)? {
        Target::Sqlite(path) => Ok(Box::new(sqlite::SqliteStore::open(path)?)),
        Target::Postgres(conn) => Ok(Box::new(postgres::PgStore::connect(conn)?)),
    }
}

/// Where a store URL points.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Sqlite(&'a std::path::Path),
    Postgres(&'a str),
}

/// The libpq keywords that mark a key=value connection string.
const LIBPQ_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "password",
    "sslmode",
    "connect_timeout",
    "application_name",
    "options",
];

fn parse_url(url: &str) -> Result<Target<'_>, StoreError> {
    let bad = |why: &str| StoreError::Url {
        url: url.to_string(),
        why: why.to_string(),
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(bad("empty: give sqlite:PATH, a path, or postgres://..."));
    }
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        return Ok(Target::Postgres(trimmed));
    }
    if let Some(path) = trimmed.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(bad("sqlite: needs a path (sqlite:/var/lib/upf/meter.db)"));
        }
        return Ok(Target::Sqlite(std::path::Path::new(path)));
    }
    if let Some((key, _)) = trimmed
        .split_whitespace()
        .next()
        .and_then(|w| w.split_once('='))
    {
        if LIBPQ_KEYS.contains(&key) {
            return Ok(Target::Postgres(trimmed));
        }
    }
    if let Some((scheme, _)) = trimmed.split_once("://") {
        return Err(bad(&format!(
            "unknown scheme {scheme:?}: the store is sqlite:PATH, a path, or postgres://..."
        )));
    }
    if trimmed.ends_with('/') {
        return Err(bad("a directory, not a database file"));
    }
    Ok(Target::Sqlite(std::path::Path::new(trimmed)))
}

/// The seconds of each POI and direction in one minute: (ts, bytes, packets, sessions).
pub(crate) type MinuteSeconds =
    std::collections::BTreeMap<(String, Dir), Vec<(i64, u64, u64, u32)>>;

/// The start of the minute holding `ts`.
pub(crate) fn minute_of(ts: i64) -> i64 {
    ts.div_euclid(60) * 60
}

/// The start of the hour holding `ts`.
pub(crate) fn hour_of(ts: i64) -> i64 {
    ts.div_euclid(3600) * 3600
}

/// Builds the hour row starting at `start` from its minute rows (any order).
///
/// `covered` is the sum of the minutes' covered seconds, bytes and packets
/// add up, `max_bps` is the highest of the minutes' `max_bps`, `sessions` the
/// most of theirs, and `p95_bps` is the 95th percentile by nearest rank of the
/// minutes' *mean* rates (the one-second rates are not kept that long; with
/// 60 minutes it is the 57th of the 60 minute means, sorted). `None` when
/// there are no minutes: a gap.
pub fn hour_from_minutes(start: i64, minutes: &[Row]) -> Option<Row> {
    if minutes.is_empty() {
        return None;
    }
    let mut means: Vec<f64> = minutes.iter().map(Row::mean_bps).collect();
    Some(Row {
        start,
        secs: 3600,
        covered: minutes.iter().map(|m| m.covered).sum(),
        bytes: minutes.iter().map(|m| m.bytes).sum(),
        packets: minutes.iter().map(|m| m.packets).sum(),
        max_bps: minutes.iter().map(|m| m.max_bps).fold(0.0, f64::max),
        p95_bps: crate::percentile(&mut means, 95.0).unwrap_or(0.0),
        sessions: minutes.iter().map(|m| m.sessions).max().unwrap_or(0),
    })
}

/// Refuses rows `write_rows` cannot store, before anything is written: mixed
/// or unknown resolutions, starts not aligned to the interval, `covered`
/// outside 1..=secs, duplicate starts, counts too big for a signed 64-bit
/// column, and rates that are negative or not finite.
pub(crate) fn check_rows(rows: &[Row]) -> Result<Option<u32>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let secs = first.secs;
    if secs != 60 && secs != 3600 {
        return Err(StoreError::Invalid(format!(
            "rows of {secs} s: only minute (60) and hour (3600) rows are stored"
        )));
    }
    let mut starts = std::collections::HashSet::with_capacity(rows.len());
    for r in rows {
        let why = if r.secs != secs {
            Some(format!("mixes {secs} s and {} s rows", r.secs))
        } else if r.start.rem_euclid(secs as i64) != 0 {
            Some(format!("does not start on a multiple of {secs} s"))
        } else if r.covered == 0 || r.covered > secs {
            Some(format!("covers {} s of {secs}", r.covered))
        } else if i64::try_from(r.bytes).is_err() || i64::try_from(r.packets).is_err() {
            Some("has a count too big for the database".to_string())
        } else if !(r.max_bps.is_finite()
            && r.max_bps >= 0.0
            && r.p95_bps.is_finite()
            && r.p95_bps >= 0.0)
        {
            Some("has a negative or non-finite rate".to_string())
        } else if !starts.insert(r.start) {
            Some("appears twice".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(StoreError::Invalid(format!("row at {}: {why}", r.start)));
        }
    }
    Ok(Some(secs))
}

/// A `u64` count as the signed 64-bit integer databases store.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Invalid(format!("{what} {v} is too big for the database")))
}

/// The schema version this build writes (`meta.schema_version`).
pub const SCHEMA_VERSION: i64 = 1;

#[cfg(feature = "backends")]
pub mod postgres;
#[cfg(feature = "backends")]
pub mod sqlite;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        use std::path::Path;
        assert_eq!(
            parse_url("sqlite:/a/b.db").unwrap(),
            Target::Sqlite(Path::new("/a/b.db"))
        );
        assert_eq!(
            parse_url("sqlite:///a/b.db").unwrap(),
            Target::Sqlite(Path::new("/a/b.db"))
        );
        assert_eq!(
            parse_url("sqlite:rel.db").unwrap(),
            Target::Sqlite(Path::new("rel.db"))
        );
        assert_eq!(
            parse_url("/var/lib/m.db").unwrap(),
            Target::Sqlite(Path::new("/var/lib/m.db"))
        );
        assert_eq!(
            parse_url("postgres://u@h/db").unwrap(),
            Target::Postgres("postgres://u@h/db")
        );
        assert_eq!(
            parse_url("postgresql://h/db").unwrap(),
            Target::Postgres("postgresql://h/db")
        );
        assert_eq!(
            parse_url("host=/run/pg dbname=m").unwrap(),
            Target::Postgres("host=/run/pg dbname=m")
        );
        for bad in [
            "",
            "  ",
            "sqlite:",
            "sqlite://",
            "mysql://h/db",
            "/var/lib/",
        ] {
            match parse_url(bad) {
                Err(StoreError::Url { url, why }) => {
                    assert_eq!(url, bad);
                    assert!(!why.is_empty());
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let e = open("mysql://h/db").err().expect("refused").to_string();
        assert!(
            e.contains("mysql://h/db") && e.contains("unknown scheme"),
            "{e}"
        );
    }

    #[test]
    fn an_hour_from_its_minutes() {
        let m = |i: i64, covered: u32, bytes: u64, max: f64| Row {
            start: 7200 + i * 60,
            secs: 60,
            covered,
            bytes,
            packets: 1,
            max_bps: max,
            p95_bps: 0.0,
            sessions: i as u32,
        };
        // 20 minutes with means 100, 200, .., 2000 bit/s (bytes = mean * 60 / 8).
        let minutes: Vec<Row> = (1..=20)
            .map(|i| m(i, 60, i as u64 * 750, i as f64 * 300.0))
            .collect();
        let h = hour_from_minutes(7200, &minutes).unwrap();
        assert_eq!(h.secs, 3600);
        assert_eq!(h.covered, 1200);
        assert_eq!(h.bytes, 750 * 210);
        assert_eq!(h.packets, 20);
        assert_eq!(h.max_bps, 6000.0);
        // Nearest rank: ceil(0.95 * 20) = 19th mean = 1900 bit/s.
        assert_eq!(h.p95_bps, 1900.0);
        assert_eq!(h.sessions, 20);
        assert!(hour_from_minutes(7200, &[]).is_none());
    }

    #[test]
    fn rows_refused_before_writing() {
        let ok = Row {
            start: 120,
            secs: 60,
            covered: 60,
            bytes: 1,
            packets: 1,
            max_bps: 8.0,
            p95_bps: 8.0,
            sessions: 0,
        };
        assert_eq!(check_rows(&[]).unwrap(), None);
        assert_eq!(check_rows(&[ok]).unwrap(), Some(60));
        let cases = [
            (Row { secs: 30, ..ok }, "only minute"),
            (Row { start: 121, ..ok }, "multiple of 60"),
            (Row { covered: 0, ..ok }, "covers 0 s"),
            (Row { covered: 61, ..ok }, "covers 61 s"),
            (
                Row {
                    bytes: u64::MAX,
                    ..ok
                },
                "too big",
            ),
            (
                Row {
                    max_bps: f64::NAN,
                    ..ok
                },
                "non-finite",
            ),
            (
                Row {
                    p95_bps: -1.0,
                    ..ok
                },
                "negative",
            ),
        ];
        for (row, want) in cases {
            let e = check_rows(&[row]).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        }
        let mixed = Row {
            start: 3600,
            secs: 3600,
            covered: 3600,
            ..ok
        };
        assert!(check_rows(&[ok, mixed])
            .unwrap_err()
            .to_string()
            .contains("mixes"));
        assert!(check_rows(&[ok, ok])
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
