//! The PostgreSQL store: a fleet of gateways writing to one database.
//!
//! The schema is the SQLite store's (see [`super::sqlite`]) with `BIGINT`
//! and `DOUBLE PRECISION` columns and B-tree primary keys in the same order.
//! Every row carries its gateway, and a gateway only ever writes its own
//! rows, so gateways writing at once never wait for each other; writes are
//! upserts (`ON CONFLICT ... DO UPDATE`). The schema is created under a
//! transaction-scoped advisory lock, so gateways starting together do not
//! race on `CREATE TABLE`. A commit returns after PostgreSQL has flushed its
//! WAL (`synchronous_commit` as the server sets it).

use std::collections::{BTreeMap, BTreeSet};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement, Transaction};

use super::{
    check_rows, hour_from_minutes, hour_of, minute_of, to_i64, MinuteSeconds, Retention, Store,
    StoreError, SCHEMA_VERSION,
};
use crate::{Dir, Gap, Row, SecondSample};

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // `Display` of a database error is only "db error"; the details are in the source.
        match e.as_db_error() {
            Some(db) => StoreError::Postgres(format!("{}: {}", db.code().code(), db.message())),
            None => StoreError::Postgres(e.to_string()),
        }
    }
}

/// The advisory lock key held while creating the schema ("upfmeter" in ASCII).
const SCHEMA_LOCK: i64 = 0x7570_666d_6574_6572;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL,
    PRIMARY KEY (gateway, poi, dir));
CREATE TABLE IF NOT EXISTS seconds (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL, ts BIGINT NOT NULL,
    bytes BIGINT NOT NULL, packets BIGINT NOT NULL, sessions BIGINT NOT NULL,
    PRIMARY KEY (gateway, ts, poi, dir));
CREATE TABLE IF NOT EXISTS minutes (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL, start BIGINT NOT NULL,
    secs BIGINT NOT NULL, covered BIGINT NOT NULL, bytes BIGINT NOT NULL,
    packets BIGINT NOT NULL, max_bps DOUBLE PRECISION NOT NULL,
    p95_bps DOUBLE PRECISION NOT NULL, sessions BIGINT NOT NULL,
    PRIMARY KEY (poi, dir, start, gateway));
CREATE TABLE IF NOT EXISTS hours (
    gateway TEXT NOT NULL, poi TEXT NOT NULL, dir TEXT NOT NULL, start BIGINT NOT NULL,
    secs BIGINT NOT NULL, covered BIGINT NOT NULL, bytes BIGINT NOT NULL,
    packets BIGINT NOT NULL, max_bps DOUBLE PRECISION NOT NULL,
    p95_bps DOUBLE PRECISION NOT NULL, sessions BIGINT NOT NULL,
    PRIMARY KEY (poi, dir, start, gateway));
CREATE TABLE IF NOT EXISTS gaps (
    gateway TEXT NOT NULL, start BIGINT NOT NULL, "end" BIGINT NOT NULL,
    PRIMARY KEY (gateway, start));
CREATE TABLE IF NOT EXISTS rollup_state (gateway TEXT PRIMARY KEY, done BIGINT NOT NULL);
"#;

/// Statements of one resolution's table.
struct TableStmts {
    put: Statement,
    rows_all: Statement,
    rows_some: Statement,
}

/// The statements the store runs, prepared once per connection.
struct Stmts {
    put_second: Statement,
    register: Statement,
    lower_done: Statement,
    minute_exists: Statement,
    minutes_of_hour: Statement,
    delete_hour: Statement,
    first_second: Statement,
    seconds_of_window: Statement,
    minutes: TableStmts,
    hours: TableStmts,
}

/// A [`Store`] in a PostgreSQL database.
pub struct PgStore {
    client: Client,
    st: Stmts,
}

fn table_stmts(client: &mut Client, table: &str) -> Result<TableStmts, StoreError> {
    let rows = format!(
        "SELECT start, min(covered), sum(bytes)::BIGINT, sum(packets)::BIGINT, sum(max_bps), sum(p95_bps), \
         sum(sessions)::BIGINT FROM {table} WHERE poi = $1 AND dir = $2 AND start >= $3 AND start < $4"
    );
    Ok(TableStmts {
        put: client.prepare(&format!(
            "INSERT INTO {table} (gateway, poi, dir, start, secs, covered, bytes, packets, max_bps, p95_bps, sessions) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (poi, dir, start, gateway) DO UPDATE SET secs = EXCLUDED.secs, covered = EXCLUDED.covered, \
             bytes = EXCLUDED.bytes, packets = EXCLUDED.packets, max_bps = EXCLUDED.max_bps, \
             p95_bps = EXCLUDED.p95_bps, sessions = EXCLUDED.sessions"
        ))?,
        rows_all: client.prepare(&format!("{rows} GROUP BY start ORDER BY start"))?,
        rows_some: client.prepare(&format!("{rows} AND gateway = ANY($5) GROUP BY start ORDER BY start"))?,
    })
}

impl PgStore {
    /// Connects (a `postgres://` URL or a libpq key=value string, no TLS) and
    /// creates or checks the schema.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config: postgres::Config =
            url.parse().map_err(|e: postgres::Error| StoreError::Url {
                url: url.to_string(),
                why: e.to_string(),
            })?;
        let mut client = config.connect(NoTls)?;
        schema(&mut client)?;
        let st = Stmts {
            put_second: client.prepare(
                "INSERT INTO seconds (gateway, poi, dir, ts, bytes, packets, sessions) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (gateway, ts, poi, dir) DO UPDATE \
                 SET bytes = EXCLUDED.bytes, packets = EXCLUDED.packets, sessions = EXCLUDED.sessions",
            )?,
            register: client
                .prepare("INSERT INTO series (gateway, poi, dir) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")?,
            lower_done: client.prepare("UPDATE rollup_state SET done = $2 WHERE gateway = $1 AND done > $2")?,
            minute_exists: client
                .prepare("SELECT 1 FROM minutes WHERE poi = $1 AND dir = $2 AND start = $3 AND gateway = $4")?,
            minutes_of_hour: client.prepare(
                "SELECT start, covered, bytes, packets, max_bps, p95_bps, sessions FROM minutes \
                 WHERE poi = $1 AND dir = $2 AND start >= $3 AND start < $4 AND gateway = $5",
            )?,
            delete_hour: client
                .prepare("DELETE FROM hours WHERE poi = $1 AND dir = $2 AND start = $3 AND gateway = $4")?,
            first_second: client.prepare("SELECT min(ts) FROM seconds WHERE gateway = $1 AND ts >= $2 AND ts < $3")?,
            seconds_of_window: client.prepare(
                "SELECT ts, poi, dir, bytes, packets, sessions FROM seconds \
                 WHERE gateway = $1 AND ts >= $2 AND ts < $3 ORDER BY ts",
            )?,
            minutes: table_stmts(&mut client, "minutes")?,
            hours: table_stmts(&mut client, "hours")?,
        };
        Ok(PgStore { client, st })
    }
}

/// Creates the tables when missing (idempotent, one creator at a time) and
/// checks the version.
fn schema(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute(SCHEMA)?;
    let version = tx.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?;
    match version {
        None => {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1)",
                &[&SCHEMA_VERSION.to_string()],
            )?;
        }
        Some(row) => {
            let v: String = row.get(0);
            let v: i64 = v.parse().map_err(|_| {
                StoreError::Postgres(format!("meta.schema_version is {v:?}, not a number"))
            })?;
            // Migrations from older versions go here, one step at a time.
            if v != SCHEMA_VERSION {
                return Err(StoreError::Postgres(format!(
                    "the database has schema version {v}; this build knows {SCHEMA_VERSION}"
                )));
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn row_from(r: &postgres::Row, secs: u32) -> Row {
    Row {
        start: r.get(0),
        secs,
        covered: r.get::<_, i64>(1).clamp(0, u32::MAX as i64) as u32,
        bytes: r.get::<_, i64>(2) as u64,
        packets: r.get::<_, i64>(3) as u64,
        max_bps: r.get(4),
        p95_bps: r.get(5),
        sessions: r.get::<_, i64>(6).clamp(0, u32::MAX as i64) as u32,
    }
}

fn parse_dir(s: &str) -> Result<Dir, StoreError> {
    Dir::parse(s)
        .ok_or_else(|| StoreError::Postgres(format!("unknown direction {s:?} in the database")))
}

fn put_row(
    tx: &mut Transaction<'_>,
    put: &Statement,
    gateway: &str,
    poi: &str,
    dir: Dir,
    r: &Row,
) -> Result<(), StoreError> {
    tx.execute(
        put,
        &[
            &gateway,
            &poi,
            &dir.as_str(),
            &r.start,
            &(r.secs as i64),
            &(r.covered as i64),
            &to_i64("bytes", r.bytes)?,
            &to_i64("packets", r.packets)?,
            &r.max_bps,
            &r.p95_bps,
            &(r.sessions as i64),
        ],
    )?;
    Ok(())
}

/// Rebuilds `gateway`'s hour row of a POI and direction from its minute rows.
fn rebuild_hour(
    tx: &mut Transaction<'_>,
    st: &Stmts,
    gateway: &str,
    poi: &str,
    dir: Dir,
    hour: i64,
) -> Result<(), StoreError> {
    let minutes: Vec<Row> = tx
        .query(
            &st.minutes_of_hour,
            &[&poi, &dir.as_str(), &hour, &(hour + 3600), &gateway],
        )?
        .iter()
        .map(|r| row_from(r, 60))
        .collect();
    match hour_from_minutes(hour, &minutes) {
        Some(h) => put_row(tx, &st.hours.put, gateway, poi, dir, &h),
        None => {
            tx.execute(&st.delete_hour, &[&poi, &dir.as_str(), &hour, &gateway])?;
            Ok(())
        }
    }
}

impl Store for PgStore {
    fn write_seconds(&mut self, gateway: &str, samples: &[SecondSample]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let st = &self.st;
        let mut tx = self.client.transaction()?;
        let mut seen = BTreeSet::new();
        for s in samples {
            tx.execute(
                &st.put_second,
                &[
                    &gateway,
                    &s.poi,
                    &s.dir.as_str(),
                    &s.ts,
                    &to_i64("bytes", s.bytes)?,
                    &to_i64("packets", s.packets)?,
                    &(s.sessions as i64),
                ],
            )?;
            if seen.insert((s.poi.as_str(), s.dir)) {
                tx.execute(&st.register, &[&gateway, &s.poi, &s.dir.as_str()])?;
            }
        }
        // A second written before the rollup's mark moves the mark back.
        let earliest = samples
            .iter()
            .map(|s| s.ts)
            .min()
            .map(minute_of)
            .unwrap_or(0);
        tx.execute(&st.lower_done, &[&gateway, &earliest])?;
        tx.commit()?;
        Ok(())
    }

    fn rollup(&mut self, gateway: &str, upto: i64) -> Result<usize, StoreError> {
        let end = minute_of(upto);
        let st = &self.st;
        let mut tx = self.client.transaction()?;
        tx.execute(
            "INSERT INTO rollup_state (gateway, done) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&gateway, &i64::MIN],
        )?;
        // The row lock makes two rollups of one gateway take turns.
        let done: i64 = tx
            .query_one(
                "SELECT done FROM rollup_state WHERE gateway = $1 FOR UPDATE",
                &[&gateway],
            )?
            .get(0);
        let mut built = 0;
        let mut hours: BTreeSet<(String, Dir, i64)> = BTreeSet::new();
        let mut from = done;
        // An hour of seconds at a time, jumping over time with none.
        while let Some(first) = tx
            .query_one(&st.first_second, &[&gateway, &from, &end])?
            .get::<_, Option<i64>>(0)
        {
            let window_end = (hour_of(first) + 3600).min(end);
            let mut by_minute: BTreeMap<i64, MinuteSeconds> = BTreeMap::new();
            for r in tx.query(&st.seconds_of_window, &[&gateway, &first, &window_end])? {
                let ts: i64 = r.get(0);
                let dir = parse_dir(r.get(2))?;
                by_minute
                    .entry(minute_of(ts))
                    .or_default()
                    .entry((r.get(1), dir))
                    .or_default()
                    .push((
                        ts,
                        r.get::<_, i64>(3) as u64,
                        r.get::<_, i64>(4) as u64,
                        r.get::<_, i64>(5).clamp(0, u32::MAX as i64) as u32,
                    ));
            }
            for (minute, series) in by_minute {
                for ((poi, dir), secs) in series {
                    if tx
                        .query_opt(&st.minute_exists, &[&poi, &dir.as_str(), &minute, &gateway])?
                        .is_some()
                    {
                        continue;
                    }
                    if let Some(row) = crate::rollup(minute, 60, &secs) {
                        put_row(&mut tx, &st.minutes.put, gateway, &poi, dir, &row)?;
                        built += 1;
                        hours.insert((poi, dir, hour_of(minute)));
                    }
                }
            }
            from = window_end;
        }
        for (poi, dir, hour) in &hours {
            rebuild_hour(&mut tx, st, gateway, poi, *dir, *hour)?;
        }
        tx.execute(
            "UPDATE rollup_state SET done = GREATEST(done, $2) WHERE gateway = $1",
            &[&gateway, &end],
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
                checked.push((poi, dir, rows, secs));
            }
        }
        let st = &self.st;
        let mut tx = self.client.transaction()?;
        for (poi, dir, rows, secs) in checked {
            let put = if secs == 60 {
                &st.minutes.put
            } else {
                &st.hours.put
            };
            tx.execute(&st.register, &[&gateway, &poi, &dir.as_str()])?;
            let mut hours = BTreeSet::new();
            for r in rows {
                put_row(&mut tx, put, gateway, poi, dir, r)?;
                hours.insert(hour_of(r.start));
            }
            if secs == 60 {
                for h in hours {
                    rebuild_hour(&mut tx, st, gateway, poi, dir, h)?;
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
        self.client.execute(
            "INSERT INTO gaps (gateway, start, \"end\") VALUES ($1, $2, $3) \
             ON CONFLICT (gateway, start) DO UPDATE SET \"end\" = GREATEST(gaps.\"end\", EXCLUDED.\"end\")",
            &[&gateway, &start, &end],
        )?;
        Ok(())
    }

    fn last_second(&mut self, gateway: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .client
            .query_one(
                "SELECT max(ts) FROM seconds WHERE gateway = $1",
                &[&gateway],
            )?
            .get(0))
    }

    fn seconds(
        &mut self,
        gateway: &str,
        poi: &str,
        dir: Dir,
        from: i64,
        to: i64,
    ) -> Result<Vec<SecondSample>, StoreError> {
        let rows = self.client.query(
            "SELECT ts, bytes, packets, sessions FROM seconds \
             WHERE gateway = $1 AND ts >= $2 AND ts < $3 AND poi = $4 AND dir = $5 ORDER BY ts",
            &[&gateway, &from, &to, &poi, &dir.as_str()],
        )?;
        Ok(rows
            .iter()
            .map(|r| SecondSample {
                ts: r.get(0),
                poi: poi.to_string(),
                dir,
                bytes: r.get::<_, i64>(1) as u64,
                packets: r.get::<_, i64>(2) as u64,
                sessions: r.get::<_, i64>(3).clamp(0, u32::MAX as i64) as u32,
            })
            .collect())
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
        let t = match secs {
            60 => &self.st.minutes,
            3600 => &self.st.hours,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "rows of {secs} s: only minute (60) and hour (3600) rows are stored"
                )))
            }
        };
        let d = dir.as_str();
        let rows = if gateways.is_empty() {
            self.client.query(&t.rows_all, &[&poi, &d, &from, &to])?
        } else {
            let params: [&(dyn ToSql + Sync); 5] = [&poi, &d, &from, &to, &gateways];
            self.client.query(&t.rows_some, &params)?
        };
        Ok(rows.iter().map(|r| row_from(r, secs)).collect())
    }

    fn gaps(&mut self, gateways: &[String], from: i64, to: i64) -> Result<Vec<Gap>, StoreError> {
        let rows = if gateways.is_empty() {
            self.client.query(
                "SELECT gateway, start, \"end\" FROM gaps WHERE start < $2 AND \"end\" > $1 ORDER BY start, gateway",
                &[&from, &to],
            )?
        } else {
            self.client.query(
                "SELECT gateway, start, \"end\" FROM gaps WHERE start < $2 AND \"end\" > $1 AND gateway = ANY($3) \
                 ORDER BY start, gateway",
                &[&from, &to, &gateways],
            )?
        };
        Ok(rows
            .iter()
            .map(|r| Gap {
                gateway: r.get(0),
                start: r.get(1),
                end: r.get(2),
            })
            .collect())
    }

    fn pois(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .client
            .query(
                "SELECT DISTINCT gateway, poi FROM series ORDER BY gateway, poi",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn prune(&mut self, now: i64, retention: &Retention) -> Result<u64, StoreError> {
        let mut tx = self.client.transaction()?;
        let series: Vec<(String, String, String)> = tx
            .query("SELECT gateway, poi, dir FROM series", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let gateways: BTreeSet<&str> = series.iter().map(|s| s.0.as_str()).collect();
        let pois: BTreeSet<(&str, &str)> = series
            .iter()
            .map(|s| (s.1.as_str(), s.2.as_str()))
            .collect();
        let mut deleted = 0u64;
        if let Some(keep) = retention.seconds {
            for g in &gateways {
                deleted += tx.execute(
                    "DELETE FROM seconds WHERE gateway = $1 AND ts < $2",
                    &[g, &(now - keep)],
                )?;
            }
        }
        for (table, keep) in [("minutes", retention.minutes), ("hours", retention.hours)] {
            if let Some(keep) = keep {
                let sql = format!("DELETE FROM {table} WHERE poi = $1 AND dir = $2 AND start < $3");
                for (poi, dir) in &pois {
                    deleted += tx.execute(&sql, &[poi, dir, &(now - keep)])?;
                }
            }
        }
        // A gap is kept as long as the longest-kept rows it explains.
        if let Some(keep) = [retention.seconds, retention.minutes, retention.hours]
            .into_iter()
            .collect::<Option<Vec<i64>>>()
            .and_then(|v| v.into_iter().max())
        {
            deleted += tx.execute("DELETE FROM gaps WHERE \"end\" <= $1", &[&(now - keep)])?;
        }
        tx.execute(
            "DELETE FROM series WHERE \
               NOT EXISTS (SELECT 1 FROM seconds s WHERE s.gateway = series.gateway AND s.poi = series.poi AND s.dir = series.dir) \
               AND NOT EXISTS (SELECT 1 FROM minutes m WHERE m.poi = series.poi AND m.dir = series.dir AND m.gateway = series.gateway) \
               AND NOT EXISTS (SELECT 1 FROM hours h WHERE h.poi = series.poi AND h.dir = series.dir AND h.gateway = series.gateway)",
            &[],
        )?;
        tx.commit()?;
        Ok(deleted)
    }
}
