//! Historical traffic a capacity planner loads: CSV in, minute [`Row`]s out.
//!
//! # The file
//!
//! Comma-separated, one measurement a line; blank lines and lines starting
//! with `#` are skipped; fields are trimmed and may be wrapped in double
//! quotes, but cannot contain commas. Line numbers in errors count every
//! line from 1, so a header is line 1.
//!
//! The first line is a header when its first field is not a timestamp. It
//! names the columns, in any order:
//!
//! | column | |
//! |-|-|
//! | `timestamp` | required: RFC 3339 with an offset (`2026-04-01T12:00:00+09:00`, `...Z`) or Unix seconds; on a whole minute |
//! | `poi` | required: the POI's name |
//! | `dir` | required: `ul`, `dl`, `uplink` or `downlink` |
//! | one value column | required, and it names the format (below) |
//! | `interval_s` | optional: the length of the row's interval, in seconds |
//! | `packets`, `sessions` | optional: packets in the interval, sessions active |
//! | `max_bps`, `p95_bps` | optional, only with 60 s intervals: the minute's highest and 95th-percentile one-second rates |
//!
//! Without a header the file is the **bytes** format in the columns
//! `timestamp,poi,dir,bytes`.
//!
//! # Formats
//!
//! - **bytes**: the bytes of the interval `[timestamp, timestamp + interval_s)`.
//! - **bps**, **mbps**: the mean rate over that interval, bit/s or Mbit/s
//!   (10^6); bytes = rate × interval / 8, rounded to the byte.
//! - **counter**: a cumulative byte counter read at `timestamp`. Each pair of
//!   consecutive readings of a POI and direction gives the bytes of the
//!   interval between them; the first reading gives no row, and `interval_s`,
//!   `packets`, `max_bps` and `p95_bps` are refused. A counter that goes
//!   backwards (a reset, or a 32-bit wrap) is **refused**: which it was cannot
//!   be told from the file; split the file at the reset.
//!
//! Without `interval_s`, a POI and direction's interval is the smallest step
//! between its consecutive timestamps: a missing line leaves a gap, it does
//! not stretch the line before it. A series of a single line needs
//! `interval_s`.
//!
//! # Intervals and minute rows
//!
//! Intervals are whole minutes (60, 300, 900, 3600 s, ...) starting on a
//! whole minute. An interval of k minutes is spread evenly over them: each
//! minute gets 1/k of the bytes and packets (the remainder, in whole units,
//! to the first minutes), `covered` = 60, the interval's sessions, and, unless
//! given, `max_bps` = `p95_bps` = the minute's mean rate (finer rates are not
//! known). Spreading flattens peaks shorter than the interval: a busy hour
//! from 15-minute data is only as sharp as 15 minutes.
//!
//! # Errors
//!
//! Everything is parsed before anything is returned, so a file with one bad
//! line writes nothing ([`crate::store::Store::write_rows`] is all or
//! nothing too). The first problem is returned with its line: a bad
//! timestamp, a negative or non-numeric value, time going backwards or a
//! duplicate within a POI and direction, overlapping intervals, a counter
//! going backwards, an unknown direction, a wrong column count, an interval
//! that is not whole minutes.

use std::collections::BTreeMap;

use crate::{Dir, Row};

/// A problem with an import file, at a line (1-based; the header is line 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ImportError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// The minute rows of one POI and direction, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportSeries {
    /// The POI's name.
    pub poi: String,
    /// Direction.
    pub dir: Dir,
    /// Minute rows (`secs` = 60, `covered` = 60), oldest first.
    pub rows: Vec<Row>,
}

/// The value column, which names the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Bytes,
    Counter,
    Bps,
    Mbps,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Bytes => "bytes",
            Format::Counter => "counter",
            Format::Bps => "bps",
            Format::Mbps => "mbps",
        }
    }
}

/// Where each column is.
struct Columns {
    count: usize,
    timestamp: usize,
    poi: usize,
    dir: usize,
    value: usize,
    format: Format,
    interval: Option<usize>,
    packets: Option<usize>,
    sessions: Option<usize>,
    max_bps: Option<usize>,
    p95_bps: Option<usize>,
}

impl Columns {
    /// The header-less layout: `timestamp,poi,dir,bytes`.
    fn plain() -> Columns {
        Columns {
            count: 4,
            timestamp: 0,
            poi: 1,
            dir: 2,
            value: 3,
            format: Format::Bytes,
            interval: None,
            packets: None,
            sessions: None,
            max_bps: None,
            p95_bps: None,
        }
    }

    fn from_header(fields: &[&str]) -> Result<Columns, String> {
        let mut at: BTreeMap<String, usize> = BTreeMap::new();
        for (i, f) in fields.iter().enumerate() {
            let name = f.to_ascii_lowercase();
            const KNOWN: &[&str] = &[
                "timestamp",
                "poi",
                "dir",
                "bytes",
                "counter",
                "bps",
                "mbps",
                "interval_s",
                "packets",
                "sessions",
                "max_bps",
                "p95_bps",
            ];
            if !KNOWN.contains(&name.as_str()) {
                return Err(format!(
                    "unknown column {f:?} (known: {})",
                    KNOWN.join(", ")
                ));
            }
            if at.insert(name, i).is_some() {
                return Err(format!("column {f:?} twice"));
            }
        }
        let need = |n: &str| at.get(n).copied().ok_or_else(|| format!("no {n:?} column"));
        let formats: Vec<(Format, usize)> =
            [Format::Bytes, Format::Counter, Format::Bps, Format::Mbps]
                .into_iter()
                .filter_map(|f| at.get(f.name()).map(|&i| (f, i)))
                .collect();
        let (format, value) = match formats.as_slice() {
            [one] => *one,
            [] => {
                return Err(
                    "no value column: one of bytes, counter, bps, mbps names the format".into(),
                )
            }
            _ => return Err(
                "more than one value column: bytes, counter, bps and mbps are different formats"
                    .into(),
            ),
        };
        let cols = Columns {
            count: fields.len(),
            timestamp: need("timestamp")?,
            poi: need("poi")?,
            dir: need("dir")?,
            value,
            format,
            interval: at.get("interval_s").copied(),
            packets: at.get("packets").copied(),
            sessions: at.get("sessions").copied(),
            max_bps: at.get("max_bps").copied(),
            p95_bps: at.get("p95_bps").copied(),
        };
        if format == Format::Counter {
            for (name, col) in [
                ("interval_s", cols.interval),
                ("packets", cols.packets),
                ("max_bps", cols.max_bps),
                ("p95_bps", cols.p95_bps),
            ] {
                if col.is_some() {
                    return Err(format!(
                        "counter format: no {name} column (the interval is between readings)"
                    ));
                }
            }
        }
        Ok(cols)
    }
}

/// One line, parsed.
struct Line {
    line: usize,
    ts: i64,
    /// Bytes or the counter reading; for bps and mbps, the rate's `f64::to_bits`.
    value: u64,
    interval: Option<i64>,
    packets: u64,
    sessions: u32,
    max_bps: Option<f64>,
    p95_bps: Option<f64>,
}

/// Parses a timestamp: RFC 3339 with an offset, or Unix seconds.
fn timestamp(s: &str) -> Result<i64, String> {
    if !s.is_empty()
        && s.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return s
            .parse()
            .map_err(|_| format!("bad timestamp {s:?}: out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp()).map_err(|e| {
        format!("bad timestamp {s:?} ({e}): RFC 3339 with an offset (2026-04-01T12:00:00+09:00) or Unix seconds")
    })
}

fn number(name: &str, s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{name} {s:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{name} {s:?} is not a finite number"));
    }
    if v < 0.0 {
        return Err(format!("negative {name} {s}"));
    }
    Ok(v)
}

fn count(name: &str, s: &str) -> Result<u64, String> {
    if let Some(rest) = s.strip_prefix('-') {
        if !rest.is_empty() {
            return Err(format!("negative {name} {s}"));
        }
    }
    s.parse()
        .map_err(|_| format!("{name} {s:?} is not a whole number of at least 0"))
}

fn unquote(f: &str) -> &str {
    let f = f.trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(f)
}

/// Parses an import file (see the module doc) into minute rows per POI and
/// direction, sorted by POI and direction. All or nothing: the first problem
/// found is returned and no rows.
pub fn parse_csv(text: &str) -> Result<Vec<ImportSeries>, ImportError> {
    let err = |line: usize, problem: String| ImportError { line, problem };
    let mut cols: Option<Columns> = None;
    // Lines per series, in file order.
    let mut series: BTreeMap<(String, Dir), Vec<Line>> = BTreeMap::new();
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(',').map(unquote).collect();
        let c = match &cols {
            Some(c) => c,
            None => {
                let c = if timestamp(fields[0]).is_ok() {
                    Columns::plain()
                } else {
                    let c = Columns::from_header(&fields).map_err(|p| err(n, p))?;
                    cols = Some(c);
                    continue;
                };
                cols.insert(c)
            }
        };
        if fields.len() != c.count {
            return Err(err(
                n,
                format!(
                    "{} columns, {} expected ({} format)",
                    fields.len(),
                    c.count,
                    c.format.name()
                ),
            ));
        }
        let f = c.format.name();
        let ts = timestamp(fields[c.timestamp]).map_err(|p| err(n, p))?;
        if ts.rem_euclid(60) != 0 {
            return Err(err(
                n,
                format!("timestamp {} is not on a whole minute", fields[c.timestamp]),
            ));
        }
        let dir = Dir::parse(fields[c.dir]).ok_or_else(|| {
            err(
                n,
                format!(
                    "unknown direction {:?} (ul, dl, uplink, downlink)",
                    fields[c.dir]
                ),
            )
        })?;
        let poi = fields[c.poi];
        if poi.is_empty() {
            return Err(err(n, "empty poi".into()));
        }
        let raw_value = fields[c.value];
        let value = match c.format {
            Format::Bytes | Format::Counter => count(f, raw_value),
            Format::Bps | Format::Mbps => number(f, raw_value).map(|v| v.to_bits()),
        }
        .map_err(|p| err(n, format!("{f} format: {p}")))?;
        let interval = match c.interval {
            Some(i) => {
                let v = count("interval_s", fields[i]).map_err(|p| err(n, p))?;
                if v == 0 || v % 60 != 0 {
                    return Err(err(
                        n,
                        format!("interval_s {v} is not a whole number of minutes"),
                    ));
                }
                Some(v as i64)
            }
            None => None,
        };
        let opt_count = |col: Option<usize>, name: &str| -> Result<u64, ImportError> {
            col.map_or(Ok(0), |i| count(name, fields[i]).map_err(|p| err(n, p)))
        };
        let packets = opt_count(c.packets, "packets")?;
        let sessions = u32::try_from(opt_count(c.sessions, "sessions")?)
            .map_err(|_| err(n, "sessions beyond 2^32".into()))?;
        let rate = |col: Option<usize>, name: &str| -> Result<Option<f64>, ImportError> {
            col.map(|i| number(name, fields[i]).map_err(|p| err(n, p)))
                .transpose()
        };
        let (max_bps, p95_bps) = (rate(c.max_bps, "max_bps")?, rate(c.p95_bps, "p95_bps")?);
        if (max_bps.is_some() || p95_bps.is_some()) && interval != Some(60) {
            return Err(err(
                n,
                "max_bps and p95_bps need interval_s = 60: they are a minute's".into(),
            ));
        }
        let lines = series.entry((poi.to_string(), dir)).or_default();
        if let Some(prev) = lines.last() {
            if ts == prev.ts {
                return Err(err(
                    n,
                    format!("duplicate of line {} ({poi} {dir} at {ts})", prev.line),
                ));
            }
            if ts < prev.ts {
                return Err(err(
                    n,
                    format!(
                        "time goes backwards for {poi} {dir}: before line {}'s",
                        prev.line
                    ),
                ));
            }
            if let Some(iv) = prev.interval {
                if prev.ts + iv > ts {
                    return Err(err(
                        n,
                        format!("overlaps line {}'s {iv} s interval", prev.line),
                    ));
                }
            }
        }
        lines.push(Line {
            line: n,
            ts,
            value,
            interval,
            packets,
            sessions,
            max_bps,
            p95_bps,
        });
    }
    let Some(cols) = cols else {
        return Err(err(last_line.max(1), "no data: the file is empty".into()));
    };
    if series.is_empty() {
        return Err(err(last_line, "no data rows after the header".into()));
    }
    let mut out = Vec::with_capacity(series.len());
    for ((poi, dir), lines) in series {
        let rows = match cols.format {
            Format::Counter => counter_rows(&lines)?,
            format => interval_rows(format, &poi, dir, &lines)?,
        };
        out.push(ImportSeries { poi, dir, rows });
    }
    Ok(out)
}

/// The counter format: differences of consecutive readings.
fn counter_rows(lines: &[Line]) -> Result<Vec<Row>, ImportError> {
    let mut rows = Vec::new();
    for pair in lines.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let bytes = b.value.checked_sub(a.value).ok_or_else(|| ImportError {
            line: b.line,
            problem: format!(
                "counter format: the counter goes backwards from {} (line {}) to {} (a reset?); \
                 resets are refused: split the file at the reset",
                a.value, a.line, b.value
            ),
        })?;
        spread(
            &mut rows,
            a.ts,
            b.ts - a.ts,
            bytes,
            0,
            b.sessions,
            None,
            None,
        );
    }
    Ok(rows)
}

/// The bytes, bps and mbps formats: one interval per line.
fn interval_rows(
    format: Format,
    poi: &str,
    dir: Dir,
    lines: &[Line],
) -> Result<Vec<Row>, ImportError> {
    // Without interval_s: the smallest step between consecutive lines.
    let inferred = lines.windows(2).map(|w| w[1].ts - w[0].ts).min();
    let mut rows = Vec::new();
    // Timestamps are on whole minutes, so their steps are whole minutes too.
    for l in lines {
        let interval = match (l.interval, inferred) {
            (Some(iv), _) => iv,
            (None, Some(iv)) => iv,
            (None, None) => {
                return Err(ImportError {
                    line: l.line,
                    problem: format!(
                        "the only line of {poi} {dir}: its interval cannot be inferred; add an interval_s column"
                    ),
                })
            }
        };
        let bytes = match format {
            Format::Bytes => l.value,
            Format::Bps | Format::Mbps => {
                let rate = f64::from_bits(l.value) * if format == Format::Mbps { 1e6 } else { 1.0 };
                let bytes = (rate * interval as f64 / 8.0).round();
                if bytes >= u64::MAX as f64 {
                    return Err(ImportError {
                        line: l.line,
                        problem: format!("{} format: rate too high", format.name()),
                    });
                }
                bytes as u64
            }
            Format::Counter => unreachable!("counters are differenced by counter_rows"),
        };
        spread(
            &mut rows, l.ts, interval, bytes, l.packets, l.sessions, l.max_bps, l.p95_bps,
        );
    }
    Ok(rows)
}

/// Spreads an interval of whole minutes evenly over its minute rows.
#[allow(clippy::too_many_arguments)]
fn spread(
    rows: &mut Vec<Row>,
    start: i64,
    interval: i64,
    bytes: u64,
    packets: u64,
    sessions: u32,
    max_bps: Option<f64>,
    p95_bps: Option<f64>,
) {
    let k = (interval / 60).max(1) as u64;
    for m in 0..k {
        let share = |total: u64| total / k + u64::from(m < total % k);
        let b = share(bytes);
        let mean = b as f64 * 8.0 / 60.0;
        rows.push(Row {
            start: start + m as i64 * 60,
            secs: 60,
            covered: 60,
            bytes: b,
            packets: share(packets),
            max_bps: max_bps.unwrap_or(mean),
            p95_bps: p95_bps.unwrap_or(mean),
            sessions,
        });
    }
}

/// Writes minute rows in the import format's fullest form (header
/// `timestamp,poi,dir,interval_s,bytes,packets,max_bps,p95_bps,sessions`,
/// RFC 3339 UTC timestamps, 60 s intervals), which [`parse_csv`] reads back
/// to the same rows.
pub fn write_csv(series: &[ImportSeries]) -> String {
    use std::fmt::Write as _;
    let mut out =
        String::from("timestamp,poi,dir,interval_s,bytes,packets,max_bps,p95_bps,sessions\n");
    for s in series {
        for r in &s.rows {
            let ts = chrono::DateTime::from_timestamp(r.start, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| r.start.to_string());
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{ts},{},{},{},{},{},{},{},{}",
                s.poi, s.dir, r.secs, r.bytes, r.packets, r.max_bps, r.p95_bps, r.sessions
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-04-01T00:00:00Z.
    const T: i64 = 1_775_001_600;

    fn problem(text: &str) -> ImportError {
        parse_csv(text).expect_err("refused")
    }

    fn assert_problem(text: &str, line: usize, words: &str) {
        let e = problem(text);
        assert_eq!(e.line, line, "{e}");
        assert!(e.problem.contains(words), "{e:?} lacks {words:?}");
    }

    #[test]
    fn bytes_without_a_header_infer_the_interval() {
        let text = format!(
            "{T},tokyo,dl,600\n{},tokyo,dl,1200\n{},tokyo,ul,60\n{},tokyo,ul,60\n",
            T + 60,
            T,
            T + 60
        );
        let s = parse_csv(&text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].poi.as_str(), s[0].dir), ("tokyo", Dir::Ul));
        assert_eq!(s[1].dir, Dir::Dl);
        let dl = &s[1].rows;
        assert_eq!(dl.len(), 2);
        assert_eq!(
            dl[0],
            Row {
                start: T,
                secs: 60,
                covered: 60,
                bytes: 600,
                packets: 0,
                max_bps: 80.0,
                p95_bps: 80.0,
                sessions: 0
            }
        );
        assert_eq!(dl[1].bytes, 1200);
    }

    #[test]
    fn bytes_with_a_header_and_fifteen_minute_intervals_spread_evenly() {
        // RFC 3339 in Tokyo time, columns in another order, a comment, a blank line.
        let text = "# from the MNO's portal\npoi,dir,timestamp,bytes,packets,sessions\n\n\
                    osaka,downlink,2026-04-01T09:00:00+09:00,900001,31,7\n\
                    osaka,downlink,2026-04-01T09:15:00+09:00,900,15,8\n\
                    osaka,downlink,2026-04-01T10:00:00+09:00,15,0,9\n";
        let s = parse_csv(text).unwrap();
        let rows = &s[0].rows;
        // Three 15-minute intervals (the step); 09:30-10:00 is a gap, not zeros.
        assert_eq!(rows.len(), 45);
        assert_eq!(rows[0].start, T);
        assert_eq!(
            rows[0].bytes, 60_001,
            "the remainder goes to the first minutes"
        );
        assert_eq!(rows[1].bytes, 60_000);
        assert_eq!(rows[..15].iter().map(|r| r.bytes).sum::<u64>(), 900_001);
        assert_eq!(rows[..15].iter().map(|r| r.packets).sum::<u64>(), 31);
        assert_eq!(rows[0].packets, 3);
        assert_eq!(rows[15].start, T + 900);
        assert_eq!(rows[15].bytes, 60);
        assert_eq!(rows[15].max_bps, 8.0);
        assert_eq!(rows[30].start, T + 3600);
        assert_eq!(rows[30].bytes, 1);
        assert_eq!(rows[44].bytes, 1);
        assert_eq!(rows[44].sessions, 9);
        assert!(rows.iter().all(|r| r.covered == 60 && r.secs == 60));
    }

    #[test]
    fn rates_in_bps_and_mbps() {
        let text = format!("timestamp,poi,dir,interval_s,mbps\n{T},tokyo,dl,300,12.5\n");
        let rows = &parse_csv(&text).unwrap()[0].rows;
        assert_eq!(rows.len(), 5);
        for r in rows {
            assert_eq!(r.bytes, 12_500_000 * 60 / 8);
            assert_eq!(r.mean_bps(), 12.5e6);
        }
        let text = format!(
            "timestamp,poi,dir,bps,interval_s\n{T},tokyo,ul,8000,60\n{},tokyo,ul,800,60\n",
            T + 3600
        );
        let rows = &parse_csv(&text).unwrap()[0].rows;
        assert_eq!(
            rows.iter().map(|r| (r.start, r.bytes)).collect::<Vec<_>>(),
            vec![(T, 60_000), (T + 3600, 6000)]
        );
    }

    #[test]
    fn counters_are_differenced_and_resets_refused() {
        let text = format!(
            "timestamp,poi,dir,counter\n{T},tokyo,dl,1000\n{},tokyo,dl,7000\n{},tokyo,dl,7000\n{},tokyo,dl,19000\n",
            T + 60,
            T + 120,
            T + 240
        );
        let rows = &parse_csv(&text).unwrap()[0].rows;
        // 1000 -> 7000 over minute 0, nothing in minute 1, 12000 over minutes 2-3.
        assert_eq!(
            rows.iter()
                .map(|r| (r.start - T, r.bytes))
                .collect::<Vec<_>>(),
            vec![(0, 6000), (60, 0), (120, 6000), (180, 6000)]
        );
        let reset = format!(
            "timestamp,poi,dir,counter\n{T},tokyo,dl,1000\n{},tokyo,dl,10\n",
            T + 60
        );
        assert_problem(&reset, 3, "counter goes backwards from 1000 (line 2) to 10");
        assert_problem(
            &format!("timestamp,poi,dir,counter,interval_s\n{T},t,dl,1,60\n"),
            1,
            "counter format: no interval_s",
        );
    }

    #[test]
    fn given_minute_rates_are_kept() {
        let text = format!(
            "timestamp,poi,dir,interval_s,bytes,max_bps,p95_bps\n{T},tokyo,dl,60,600,900.5,850\n"
        );
        let r = parse_csv(&text).unwrap()[0].rows[0];
        assert_eq!((r.max_bps, r.p95_bps), (900.5, 850.0));
        let text =
            format!("timestamp,poi,dir,interval_s,bytes,max_bps\n{T},tokyo,dl,300,600,900\n");
        assert_problem(&text, 2, "need interval_s = 60");
    }

    #[test]
    fn every_problem_names_its_line() {
        let h = "timestamp,poi,dir,bytes\n";
        assert_problem(
            &format!("{h}yesterday,tokyo,dl,5\n"),
            2,
            "bad timestamp \"yesterday\"",
        );
        assert_problem(
            &format!("{h}2026-04-01T09:00:00,tokyo,dl,5\n"),
            2,
            "RFC 3339 with an offset",
        );
        assert_problem(
            &format!("{h}{},tokyo,dl,5\n", T + 30),
            2,
            "not on a whole minute",
        );
        assert_problem(
            &format!("{h}{T},tokyo,dl,-5\n"),
            2,
            "bytes format: negative bytes -5",
        );
        assert_problem(
            &format!("{h}{T},tokyo,dl,lots\n"),
            2,
            "bytes format: bytes \"lots\"",
        );
        assert_problem(
            &format!("timestamp,poi,dir,mbps\n{T},tokyo,dl,-1.5\n"),
            2,
            "mbps format: negative mbps",
        );
        assert_problem(
            &format!("timestamp,poi,dir,bps\n{T},tokyo,dl,NaN\n"),
            2,
            "bps format",
        );
        assert_problem(
            &format!("{h}{T},tokyo,dl,5\n{T},tokyo,dl,6\n"),
            3,
            "duplicate of line 2",
        );
        assert_problem(
            &format!("{h}{},tokyo,dl,5\n{T},tokyo,dl,6\n", T + 60),
            3,
            "time goes backwards",
        );
        assert_problem(
            &format!("{h}{T},tokyo,sideways,5\n"),
            2,
            "unknown direction \"sideways\"",
        );
        assert_problem(
            &format!("{h}{T},tokyo,dl\n"),
            2,
            "3 columns, 4 expected (bytes format)",
        );
        assert_problem(&format!("{h}{T},tokyo,dl,5,6\n"), 2, "5 columns");
        assert_problem(&format!("{h}{T},,dl,5\n"), 2, "empty poi");
        assert_problem(
            &format!("{h}{T},tokyo,dl,5\n"),
            2,
            "add an interval_s column",
        );
        let iv = "timestamp,poi,dir,interval_s,bytes\n";
        assert_problem(
            &format!("{iv}{T},tokyo,dl,90,5\n"),
            2,
            "interval_s 90 is not a whole number of minutes",
        );
        assert_problem(&format!("{iv}{T},tokyo,dl,0,5\n"), 2, "interval_s 0");
        assert_problem(
            &format!("{iv}{T},tokyo,dl,300,5\n{},tokyo,dl,60,5\n", T + 60),
            3,
            "overlaps line 2's 300 s interval",
        );
        assert_problem("timestamp,poi,dir\n", 1, "no value column");
        assert_problem(
            "timestamp,poi,dir,bytes,mbps\n",
            1,
            "more than one value column",
        );
        assert_problem(
            "timestamp,poi,dir,bytes,colour\n",
            1,
            "unknown column \"colour\"",
        );
        assert_problem("timestamp,poi,poi,bytes\n", 1, "twice");
        assert_problem("poi,dir,bytes\n", 1, "no \"timestamp\" column");
        assert_problem("timestamp,poi,dir,bytes\n\n", 2, "no data rows");
        assert_problem("", 1, "empty");
        // All or nothing: a good first series does not come back with a bad line later.
        assert_problem(
            &format!("{h}{T},a,dl,5\n{},a,dl,5\n{T},b,dl,x\n", T + 60),
            4,
            "not a whole number",
        );
    }

    #[test]
    fn write_csv_reads_back() {
        let rows: Vec<Row> = (0..3)
            .map(|i| Row {
                start: T + i * 60,
                secs: 60,
                covered: 60,
                bytes: 1000 + i as u64,
                packets: 3,
                max_bps: 1e6 / 3.0,
                p95_bps: 0.1,
                sessions: 4,
            })
            .collect();
        let s = vec![ImportSeries {
            poi: "tokyo".into(),
            dir: Dir::Dl,
            rows,
        }];
        let csv = write_csv(&s);
        assert!(csv
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-04-01T00:00:00Z,tokyo,dl,60,1000,3,"));
        assert_eq!(parse_csv(&csv).unwrap(), s);
    }
}
