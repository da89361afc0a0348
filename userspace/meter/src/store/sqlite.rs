//! The SQLite store: one file, WAL, for a gateway on its own.
//!
//! `journal_mode=WAL` with `synchronous=NORMAL`: a commit reaches the WAL
//! file (the operating system's page cache) before `write_seconds` returns,
//! so a crash or SIGKILL of the process loses at most the second being
//! written; a power cut may lose the last commits since the last checkpoint
//! (the database stays consistent). `busy_timeout` lets `upfctl` read while
//! the daemon writes.
//!
//! Schema (version [`SCHEMA_VERSION`] in `meta`), every table `WITHOUT
//! ROWID` so rows sit in their primary key's order:
//!
//! | table | primary key | why that order |
//! |-|-|-|
//! | `seconds(gateway, poi, dir, ts, bytes, packets, sessions)` | gateway, ts, poi, dir | the daemon appends in time; rollup and `last_second` read one gateway's latest seconds |
//! | `minutes`, `hours` `(gateway, poi, dir, start, secs, covered, bytes, packets, max_bps, p95_bps, sessions)` | poi, dir, start, gateway | a report reads one POI and direction over a year in one range scan, the fleet's rows of one interval side by side |
//! | `gaps(gateway, start, "end")` | gateway, start | |
//! | `series(gateway, poi, dir)` | gateway, poi, dir | what `pois` lists, without scanning a year of rows |
//! | `rollup_state(gateway, done)` | gateway | every minute before `done` that has seconds has its minute row |

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};

use super::{
    check_rows, hour_from_minutes, hour_of, minute_of, to_i64, MinuteSeconds, Retention, Store,
    StoreError, SCHEMA_VERSION,
};
use crate::{Dir, Gap, Row, SecondSample};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

/// How long a statement waits for another connection's lock, in milliseconds.
const BUSY_TIMEOUT_MS: u64 = 5_000;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL,
    PRIMARY KEY (gateway, poi, dir)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seconds (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL, ts INTEGER NOT NULL,
    bytes INTEGER NOT NULL, packets INTEGER NOT NULL, sessions INTEGER NOT NULL,
    PRIMARY KEY (gateway, ts, poi, dir)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minutes (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL, start INTEGER NOT NULL,
    secs INTEGER NOT NULL, covered INTEGER NOT NULL, bytes INTEGER NOT NULL,
    packets INTEGER NOT NULL, max_bps REAL NOT NULL, p95_bps REAL NOT NULL,
    sessions INTEGER NOT NULL,
    PRIMARY KEY (poi, dir, start, gateway)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hours (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL, start INTEGER NOT NULL,
    secs INTEGER NOT NULL, covered INTEGER NOT NULL, bytes INTEGER NOT NULL,
    packets INTEGER NOT NULL, max_bps REAL NOT NULL, p95_bps REAL NOT NULL,
    sessions INTEGER NOT NULL,
    PRIMARY KEY (poi, dir, start, gateway)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (
    gateway TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    PRIMARY KEY (gateway, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_state (
    gateway TEXT PRIMARY KEY, done INTEGER NOT NULL) WITHOUT ROWID;
"#;

/// A [`Store`] in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories when missing) the
    /// database at `path`, in WAL mode, and creates or checks the schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Sqlite(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Sqlite(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite(format!(
                "{}: journal_mode is {mode}, not wal",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut store = SqliteStore { conn };
        store.schema()?;
        Ok(store)
    }

    /// Creates the tables when missing (idempotent) and checks the version.
    fn schema(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        let version: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) => {
                let v: i64 = v.parse().map_err(|_| {
                    StoreError::Sqlite(format!("meta.schema_version is {v:?}, not a number"))
                })?;
                // Migrations from older versions go here, one step at a time.
                if v != SCHEMA_VERSION {
                    return Err(StoreError::Sqlite(format!(
                        "the database has schema version {v}; this build knows {SCHEMA_VERSION}"
                    )));
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn table(secs: u32) -> Result<&'static str, StoreError> {
    match secs {
        60 => Ok("minutes"),
        3600 => Ok("hours"),
        _ => Err(StoreError::Invalid(format!(
            "rows of {secs} s: only minute (60) and hour (3600) rows are stored"
        ))),
    }
}

fn register(tx: &Transaction<'_>, gateway: &str, poi: &str, dir: Dir) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO series (gateway, poi, dir) VALUES (?1, ?2, ?3)")?
        .execute(params![gateway, poi, dir.as_str()])?;
    Ok(())
}

fn put_row(
    tx: &Transaction<'_>,
    table: &str,
    gateway: &str,
    poi: &str,
    dir: Dir,
    r: &Row,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT OR REPLACE INTO {table} (gateway, poi, dir, start, secs, covered, bytes, packets, max_bps, p95_bps, sessions) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    );
    tx.prepare_cached(&sql)?.execute(params![
        gateway,
        poi,
        dir.as_str(),
        r.start,
        r.secs,
        r.covered,
        to_i64("bytes", r.bytes)?,
        to_i64("packets", r.packets)?,
        r.max_bps,
        r.p95_bps,
        r.sessions
    ])?;
    Ok(())
}

fn row_from(r: &rusqlite::Row<'_>, secs: u32) -> rusqlite::Result<Row> {
    Ok(Row {
        start: r.get(0)?,
        secs,
        covered: r.get(1)?,
        bytes: r.get::<_, i64>(2)? as u64,
        packets: r.get::<_, i64>(3)? as u64,
        max_bps: r.get(4)?,
        p95_bps: r.get(5)?,
        sessions: r.get::<_, i64>(6)?.clamp(0, u32::MAX as i64) as u32,
    })
}

/// Rebuilds `gateway`'s hour row of a POI and direction from its minute rows.
fn rebuild_hour(
    tx: &Transaction<'_>,
    gateway: &str,
    poi: &str,
    dir: Dir,
    hour: i64,
) -> Result<(), StoreError> {
    let minutes: Vec<Row> = tx
        .prepare_cached(
            "SELECT start, covered, bytes, packets, max_bps, p95_bps, sessions FROM minutes \
             WHERE poi = ?1 AND dir = ?2 AND start >= ?3 AND start < ?4 AND gateway = ?5",
        )?
        .query_map(
            params![poi, dir.as_str(), hour, hour + 3600, gateway],
            |r| row_from(r, 60),
        )?
        .collect::<Result<_, _>>()?;
    match hour_from_minutes(hour, &minutes) {
        Some(h) => put_row(tx, "hours", gateway, poi, dir, &h),
        None => {
            tx.prepare_cached(
                "DELETE FROM hours WHERE poi = ?1 AND dir = ?2 AND start = ?3 AND gateway = ?4",
            )?
            .execute(params![poi, dir.as_str(), hour, gateway])?;
            Ok(())
        }
    }
}

fn parse_dir(s: &str) -> Result<Dir, StoreError> {
    Dir::parse(s)
        .ok_or_else(|| StoreError::Sqlite(format!("unknown direction {s:?} in the database")))
}

/// `AND gateway IN (?n, ..)` for `gateways` (nothing when empty), numbering from `first`.
fn gateway_filter(gateways: &[String], first: usize) -> String {
    if gateways.is_empty() {
        return String::new();
    }
    let marks: Vec<String> = (0..gateways.len())
        .map(|i| format!("?{}", first + i))
        .collect();
    format!(" AND gateway IN ({})", marks.join(", "))
}

impl Store for SqliteStore {
    fn write_seconds(&mut self, gateway: &str, samples: &[SecondSample]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        let mut seen = BTreeSet::new();
        for s in samples {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO seconds (gateway, poi, dir, ts, bytes, packets, sessions) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                gateway,
                s.poi,
                s.dir.as_str(),
                s.ts,
                to_i64("bytes", s.bytes)?,
                to_i64("packets", s.packets)?,
                s.sessions
            ])?;
            if seen.insert((s.poi.as_str(), s.dir)) {
                register(&tx, gateway, &s.poi, s.dir)?;
            }
        }
        // A second written before the rollup's mark moves the mark back, so
        // the next rollup looks at its minute again.
        let earliest = samples
            .iter()
            .map(|s| s.ts)
            .min()
            .map(minute_of)
            .unwrap_or(0);
        tx.prepare_cached("UPDATE rollup_state SET done = ?2 WHERE gateway = ?1 AND done > ?2")?
            .execute(params![gateway, earliest])?;
        tx.commit()?;
        Ok(())
    }

    fn rollup(&mut self, gateway: &str, upto: i64) -> Result<usize, StoreError> {
        // Minutes ending at or before `upto` start before this.
        let end = minute_of(upto);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: i64 = tx
            .query_row(
                "SELECT done FROM rollup_state WHERE gateway = ?1",
                [gateway],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(i64::MIN);
        let mut built = 0;
        let mut hours: BTreeSet<(String, Dir, i64)> = BTreeSet::new();
        {
            let mut finish = |minute: i64, batch: &mut MinuteSeconds| -> Result<(), StoreError> {
                for ((poi, dir), secs) in std::mem::take(batch) {
                    let exists = tx
                        .prepare_cached(
                            "SELECT 1 FROM minutes WHERE poi = ?1 AND dir = ?2 AND start = ?3 AND gateway = ?4",
                        )?
                        .exists(params![poi, dir.as_str(), minute, gateway])?;
                    if exists {
                        continue;
                    }
                    if let Some(row) = crate::rollup(minute, 60, &secs) {
                        put_row(&tx, "minutes", gateway, &poi, dir, &row)?;
                        built += 1;
                        hours.insert((poi, dir, hour_of(minute)));
                    }
                }
                Ok(())
            };
            let mut stmt = tx.prepare(
                "SELECT ts, poi, dir, bytes, packets, sessions FROM seconds \
                 WHERE gateway = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
            )?;
            let mut rows = stmt.query(params![gateway, done, end])?;
            let mut minute = None;
            let mut batch = MinuteSeconds::new();
            while let Some(r) = rows.next()? {
                let ts: i64 = r.get(0)?;
                let m = minute_of(ts);
                if minute != Some(m) {
                    if let Some(prev) = minute {
                        finish(prev, &mut batch)?;
                    }
                    minute = Some(m);
                }
                let dir = parse_dir(&r.get::<_, String>(2)?)?;
                batch.entry((r.get(1)?, dir)).or_default().push((
                    ts,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, i64>(5)?.clamp(0, u32::MAX as i64) as u32,
                ));
            }
            if let Some(prev) = minute {
                finish(prev, &mut batch)?;
            }
        }
        for (poi, dir, hour) in &hours {
            rebuild_hour(&tx, gateway, poi, *dir, *hour)?;
        }
        tx.execute(
            "INSERT INTO rollup_state (gateway, done) VALUES (?1, ?2) \
             ON CONFLICT (gateway) DO UPDATE SET done = max(done, excluded.done)",
            params![gateway, end],
        )?;
        tx.commit()?;
        Ok(built)
    }

    fn write_rows(
        &mut self,
        gateway: &str,
        poi: &str,
        dir: Dir,
        rows: &[Row],
    ) -> Result<(), StoreError> {
        self.write_batch(gateway, &[(poi, dir, rows)])
    }

    fn write_batch(
        &mut self,
        gateway: &str,
        batch: &[(&str, Dir, &[Row])],
    ) -> Result<(), StoreError> {
        let mut checked = Vec::with_capacity(batch.len());
        for &(poi, dir, rows) in batch {
            if let Some(secs) = check_rows(rows)? {
                checked.push((poi, dir, rows, table(secs)?, secs));
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (poi, dir, rows, table, secs) in checked {
            register(&tx, gateway, poi, dir)?;
            let mut hours = BTreeSet::new();
            for r in rows {
                put_row(&tx, table, gateway, poi, dir, r)?;
                hours.insert(hour_of(r.start));
            }
            if secs == 60 {
                for h in hours {
                    rebuild_hour(&tx, gateway, poi, dir, h)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn record_gap(&mut self, gateway: &str, start: i64, end: i64) -> Result<(), StoreError> {
        if end <= start {
            return Err(StoreError::Invalid(format!(
                "gap [{start}, {end}) is empty"
            )));
        }
        self.conn.execute(
            "INSERT INTO gaps (gateway, start, \"end\") VALUES (?1, ?2, ?3) \
             ON CONFLICT (gateway, start) DO UPDATE SET \"end\" = max(\"end\", excluded.\"end\")",
            params![gateway, start, end],
        )?;
        Ok(())
    }

    fn last_second(&mut self, gateway: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT max(ts) FROM seconds WHERE gateway = ?1",
            [gateway],
            |r| r.get(0),
        )?)
    }

    fn seconds(
        &mut self,
        gateway: &str,
        poi: &str,
        dir: Dir,
        from: i64,
        to: i64,
    ) -> Result<Vec<SecondSample>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts, bytes, packets, sessions FROM seconds \
             WHERE gateway = ?1 AND ts >= ?2 AND ts < ?3 AND poi = ?4 AND dir = ?5 ORDER BY ts",
        )?;
        let out = stmt
            .query_map(params![gateway, from, to, poi, dir.as_str()], |r| {
                Ok(SecondSample {
                    ts: r.get(0)?,
                    poi: poi.to_string(),
                    dir,
                    bytes: r.get::<_, i64>(1)? as u64,
                    packets: r.get::<_, i64>(2)? as u64,
                    sessions: r.get::<_, i64>(3)?.clamp(0, u32::MAX as i64) as u32,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }

    fn rows(
        &mut self,
        gateways: &[String],
        poi: &str,
        dir: Dir,
        secs: u32,
        from: i64,
        to: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let table = table(secs)?;
        // The rows of one start (one per gateway) are adjacent in the primary
        // key; they are summed here, not by GROUP BY, which costs SQLite four
        // times the scan itself (0.5 s more for a year of minutes).
        let sql = format!(
            "SELECT start, covered, bytes, packets, max_bps, p95_bps, sessions \
             FROM {table} WHERE poi = ?1 AND dir = ?2 AND start >= ?3 AND start < ?4{} ORDER BY start",
            gateway_filter(gateways, 5)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let fixed: [&dyn rusqlite::ToSql; 4] = [&poi, &dir.as_str(), &from, &to];
        let params = fixed
            .into_iter()
            .chain(gateways.iter().map(|g| g as &dyn rusqlite::ToSql));
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut out: Vec<Row> = Vec::new();
        while let Some(r) = rows.next()? {
            let row = row_from(r, secs)?;
            match out.last_mut() {
                Some(sum) if sum.start == row.start => {
                    sum.covered = sum.covered.min(row.covered);
                    sum.bytes += row.bytes;
                    sum.packets += row.packets;
                    sum.max_bps += row.max_bps;
                    sum.p95_bps += row.p95_bps;
                    sum.sessions = sum.sessions.saturating_add(row.sessions);
                }
                _ => out.push(row),
            }
        }
        Ok(out)
    }

    fn gaps(&mut self, gateways: &[String], from: i64, to: i64) -> Result<Vec<Gap>, StoreError> {
        let sql = format!(
            "SELECT gateway, start, \"end\" FROM gaps WHERE start < ?2 AND \"end\" > ?1{} ORDER BY start, gateway",
            gateway_filter(gateways, 3)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let fixed: [&dyn rusqlite::ToSql; 2] = [&from, &to];
        let params = fixed
            .into_iter()
            .chain(gateways.iter().map(|g| g as &dyn rusqlite::ToSql));
        let out = stmt
            .query_map(params_from_iter(params), |r| {
                Ok(Gap {
                    gateway: r.get(0)?,
                    start: r.get(1)?,
                    end: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }

    fn pois(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT gateway, poi FROM series ORDER BY gateway, poi")?;
        let out = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }

    fn prune(&mut self, now: i64, retention: &Retention) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let series: Vec<(String, String, String)> = tx
            .prepare("SELECT gateway, poi, dir FROM series")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let gateways: BTreeSet<&str> = series.iter().map(|s| s.0.as_str()).collect();
        let pois: BTreeSet<(&str, &str)> = series
            .iter()
            .map(|s| (s.1.as_str(), s.2.as_str()))
            .collect();
        let mut deleted = 0u64;
        // Each delete walks its primary key: per gateway for seconds, per POI
        // and direction for minutes and hours.
        if let Some(keep) = retention.seconds {
            for g in &gateways {
                deleted += tx
                    .prepare_cached("DELETE FROM seconds WHERE gateway = ?1 AND ts < ?2")?
                    .execute(params![g, now - keep])? as u64;
            }
        }
        for (table, keep) in [("minutes", retention.minutes), ("hours", retention.hours)] {
            if let Some(keep) = keep {
                for (poi, dir) in &pois {
                    deleted +=
                        tx.prepare_cached(&format!(
                            "DELETE FROM {table} WHERE poi = ?1 AND dir = ?2 AND start < ?3"
                        ))?
                        .execute(params![poi, dir, now - keep])? as u64;
                }
            }
        }
        // A gap is kept as long as the longest-kept rows it explains.
        if let Some(keep) = [retention.seconds, retention.minutes, retention.hours]
            .into_iter()
            .collect::<Option<Vec<i64>>>()
            .and_then(|v| v.into_iter().max())
        {
            deleted += tx.execute("DELETE FROM gaps WHERE \"end\" <= ?1", [now - keep])? as u64;
        }
        tx.execute(
            "DELETE FROM series WHERE \
               NOT EXISTS (SELECT 1 FROM seconds s WHERE s.gateway = series.gateway AND s.poi = series.poi AND s.dir = series.dir) \
               AND NOT EXISTS (SELECT 1 FROM minutes m WHERE m.poi = series.poi AND m.dir = series.dir AND m.gateway = series.gateway) \
               AND NOT EXISTS (SELECT 1 FROM hours h WHERE h.poi = series.poi AND h.dir = series.dir AND h.gateway = series.gateway)",
            [],
        )?;
        tx.commit()?;
        Ok(deleted)
    }
}
