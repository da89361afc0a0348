//! What every [`Store`] must do, written once and run against each backend.
//!
//! A behaviour gets an opener that returns a new handle on one empty
//! database each time it is called (the same database every call), so a
//! behaviour can also close and reopen the store, as a restarted daemon does.

use upf_meter::store::{Retention, Store, StoreError};
use upf_meter::{Dir, Row, SecondSample};

/// Opens (again) the database under test.
pub type Open<'a> = &'a dyn Fn() -> Box<dyn Store>;

/// 2026-01-01T00:00:00Z: the start of an hour.
pub const T0: i64 = 1_767_225_600;

/// A behaviour: panics when the store misbehaves.
pub type Behaviour = fn(Open);

/// Every behaviour, by name.
pub const ALL: &[(&str, Behaviour)] = &[
    ("seconds_round_trip", seconds_round_trip),
    (
        "rollup_builds_minutes_and_hours",
        rollup_builds_minutes_and_hours,
    ),
    ("rollup_is_idempotent", rollup_is_idempotent),
    (
        "crash_interrupted_minute_rolled_up_at_next_start",
        crash_interrupted_minute_rolled_up_at_next_start,
    ),
    (
        "late_second_reopens_its_minute",
        late_second_reopens_its_minute,
    ),
    (
        "gaps_are_not_filled_with_zeros",
        gaps_are_not_filled_with_zeros,
    ),
    ("fleet_sums_across_gateways", fleet_sums_across_gateways),
    ("write_rows_is_all_or_nothing", write_rows_is_all_or_nothing),
    ("pois_lists_what_has_data", pois_lists_what_has_data),
    (
        "prune_keeps_each_resolution_for_its_retention",
        prune_keeps_each_resolution_for_its_retention,
    ),
    ("schema_survives_reopening", schema_survives_reopening),
];

/// One sample.
pub fn sample(ts: i64, poi: &str, dir: Dir, bytes: u64, sessions: u32) -> SecondSample {
    SecondSample {
        ts,
        poi: poi.to_string(),
        dir,
        bytes,
        packets: bytes / 1000 + 1,
        sessions,
    }
}

/// Writes one sample per second in [from, to) for `poi`/`dir`, bytes from `f(ts)`.
pub fn write_range(
    s: &mut dyn Store,
    gw: &str,
    poi: &str,
    dir: Dir,
    from: i64,
    to: i64,
    f: impl Fn(i64) -> u64,
) {
    for ts in from..to {
        s.write_seconds(gw, &[sample(ts, poi, dir, f(ts), (ts % 7) as u32)])
            .expect("write_seconds");
    }
}

fn minutes(s: &mut dyn Store, gws: &[&str], poi: &str, dir: Dir) -> Vec<Row> {
    let gws: Vec<String> = gws.iter().map(|g| g.to_string()).collect();
    s.rows(&gws, poi, dir, 60, i64::MIN, i64::MAX)
        .expect("rows")
}

fn hours(s: &mut dyn Store, gws: &[&str], poi: &str, dir: Dir) -> Vec<Row> {
    let gws: Vec<String> = gws.iter().map(|g| g.to_string()).collect();
    s.rows(&gws, poi, dir, 3600, i64::MIN, i64::MAX)
        .expect("rows")
}

fn seconds_round_trip(open: Open) {
    let mut s = open();
    let s = &mut *s;
    assert_eq!(s.last_second("gw").unwrap(), None);
    let both = |ts, b| {
        vec![
            sample(ts, "tokyo", Dir::Ul, b, 3),
            sample(ts, "tokyo", Dir::Dl, 10 * b, 3),
        ]
    };
    s.write_seconds("gw", &both(T0, 100)).unwrap();
    s.write_seconds("gw", &both(T0 + 1, 200)).unwrap();
    // The same (gateway, poi, dir, ts) again: the last write wins.
    s.write_seconds("gw", &both(T0 + 1, 300)).unwrap();
    s.write_seconds("other", &both(T0 + 50, 1)).unwrap();
    assert_eq!(s.last_second("gw").unwrap(), Some(T0 + 1));
    assert_eq!(s.last_second("other").unwrap(), Some(T0 + 50));
    let got = s.seconds("gw", "tokyo", Dir::Dl, T0, T0 + 60).unwrap();
    assert_eq!(
        got,
        vec![
            sample(T0, "tokyo", Dir::Dl, 1000, 3),
            sample(T0 + 1, "tokyo", Dir::Dl, 3000, 3)
        ]
    );
    // [from, to): to is excluded.
    assert_eq!(
        s.seconds("gw", "tokyo", Dir::Ul, T0, T0 + 1).unwrap().len(),
        1
    );
    assert!(s
        .seconds("gw", "osaka", Dir::Ul, T0, T0 + 60)
        .unwrap()
        .is_empty());
    // No sample is no write.
    s.write_seconds("gw", &[]).unwrap();
}

fn rollup_builds_minutes_and_hours(open: Open) {
    let mut s = open();
    let s = &mut *s;
    // 2.5 minutes of both directions: bytes = ts offset (0..150) * 10.
    for ts in T0..T0 + 150 {
        let b = ((ts - T0) * 10) as u64;
        s.write_seconds(
            "gw",
            &[
                sample(ts, "tokyo", Dir::Ul, b, 1),
                sample(ts, "tokyo", Dir::Dl, 8 * b, 2),
            ],
        )
        .unwrap();
    }
    // Only minutes that have ended by `upto` are rolled up: [T0, T0+60) ends at T0+60.
    assert_eq!(s.rollup("gw", T0 + 59).unwrap(), 0);
    assert_eq!(
        s.rollup("gw", T0 + 60).unwrap(),
        2,
        "minute 0, both directions"
    );
    assert_eq!(minutes(s, &[], "tokyo", Dir::Ul).len(), 1);
    let h = hours(s, &[], "tokyo", Dir::Ul);
    assert_eq!(
        h.len(),
        1,
        "the hour in progress has a row of its minutes so far"
    );
    assert_eq!(h[0].covered, 60);
    // The half minute [T0+120, T0+150) has not ended at T0+179.
    assert_eq!(s.rollup("gw", T0 + 179).unwrap(), 2);
    let ul = minutes(s, &[], "tokyo", Dir::Ul);
    let want: Vec<Row> = [T0, T0 + 60]
        .iter()
        .map(|&m| {
            let secs: Vec<(i64, u64, u64, u32)> = (m..m + 60)
                .map(|ts| {
                    let b = ((ts - T0) * 10) as u64;
                    (ts, b, b / 1000 + 1, 1)
                })
                .collect();
            upf_meter::rollup(m, 60, &secs).unwrap()
        })
        .collect();
    assert_eq!(ul, want);
    // The hour was rebuilt when the second minute came.
    let h = hours(s, &[], "tokyo", Dir::Ul);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].start, T0);
    assert_eq!(h[0].secs, 3600);
    assert_eq!(h[0].covered, 120);
    assert_eq!(h[0].bytes, want[0].bytes + want[1].bytes);
    assert_eq!(h[0].max_bps, want[1].max_bps);
    // p95 of two minute means by nearest rank: ceil(1.9) = 2nd, the higher mean.
    assert_eq!(h[0].p95_bps, want[1].mean_bps());
    assert_eq!(s.rollup("gw", T0 + 180).unwrap(), 2);
    let dl = minutes(s, &[], "tokyo", Dir::Dl);
    assert_eq!(dl.len(), 3);
    assert_eq!(dl[2].covered, 30);
    assert_eq!(dl[2].sessions, 2);
    // Ranges are [from, to) on the start.
    let some = s
        .rows(&[], "tokyo", Dir::Dl, 60, T0 + 60, T0 + 120)
        .unwrap();
    assert_eq!(some.len(), 1);
    assert_eq!(some[0].start, T0 + 60);
    match s.rows(&[], "tokyo", Dir::Dl, 300, T0, T0 + 3600) {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("rows of 300 s: {other:?}"),
    }
}

fn rollup_is_idempotent(open: Open) {
    let mut s = open();
    let s = &mut *s;
    write_range(s, "gw", "tokyo", Dir::Dl, T0, T0 + 300, |ts| {
        (ts % 13) as u64 * 1000
    });
    assert_eq!(s.rollup("gw", T0 + 300).unwrap(), 5);
    let m = minutes(s, &[], "tokyo", Dir::Dl);
    let h = hours(s, &[], "tokyo", Dir::Dl);
    for _ in 0..3 {
        assert_eq!(s.rollup("gw", T0 + 300).unwrap(), 0);
        assert_eq!(s.rollup("gw", T0 + 10_000).unwrap(), 0);
    }
    // An older `upto` after a newer one changes nothing either.
    assert_eq!(s.rollup("gw", T0 + 60).unwrap(), 0);
    assert_eq!(minutes(s, &[], "tokyo", Dir::Dl), m);
    assert_eq!(hours(s, &[], "tokyo", Dir::Dl), h);
    assert_eq!(m.len(), 5);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].covered, 300);
}

fn crash_interrupted_minute_rolled_up_at_next_start(open: Open) {
    {
        let mut s = open();
        // The daemon wrote 30 seconds of a minute and died before its rollup.
        write_range(&mut *s, "gw", "tokyo", Dir::Ul, T0 + 600, T0 + 630, |_| {
            1000
        });
    }
    let mut s = open();
    let s = &mut *s;
    let last = s
        .last_second("gw")
        .unwrap()
        .expect("seconds survive the crash");
    assert_eq!(last, T0 + 629);
    // Restarted two minutes later: the start-up rollup finishes that minute.
    s.record_gap("gw", last + 1, T0 + 750).unwrap();
    assert_eq!(s.rollup("gw", T0 + 750).unwrap(), 1);
    let m = minutes(s, &[], "tokyo", Dir::Ul);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].start, T0 + 600);
    assert_eq!(m[0].covered, 30, "what was measured, not a minute of zeros");
    assert_eq!(m[0].bytes, 30_000);
    assert_eq!(s.gaps(&[], T0, T0 + 3600).unwrap().len(), 1);
}

fn late_second_reopens_its_minute(open: Open) {
    let mut s = open();
    let s = &mut *s;
    write_range(s, "gw", "tokyo", Dir::Ul, T0 + 120, T0 + 180, |_| 10);
    assert_eq!(s.rollup("gw", T0 + 600).unwrap(), 1);
    // A second of an earlier minute arrives after that minute's rollup mark
    // (a clock stepped back): the next rollup still builds its minute.
    s.write_seconds("gw", &[sample(T0 + 5, "tokyo", Dir::Ul, 10, 0)])
        .unwrap();
    // A second of a minute that already has a row does not rebuild it.
    s.write_seconds("gw", &[sample(T0 + 130, "tokyo", Dir::Ul, 99_999, 0)])
        .unwrap();
    assert_eq!(s.rollup("gw", T0 + 600).unwrap(), 1);
    let m = minutes(s, &[], "tokyo", Dir::Ul);
    assert_eq!(
        m.iter()
            .map(|r| (r.start, r.covered, r.bytes))
            .collect::<Vec<_>>(),
        vec![(T0, 1, 10), (T0 + 120, 60, 600)]
    );
    assert_eq!(hours(s, &[], "tokyo", Dir::Ul)[0].covered, 61);
}

fn gaps_are_not_filled_with_zeros(open: Open) {
    let mut s = open();
    let s = &mut *s;
    write_range(s, "gw", "tokyo", Dir::Dl, T0, T0 + 60, |_| 500);
    // Down for three minutes.
    s.record_gap("gw", T0 + 60, T0 + 240).unwrap();
    write_range(s, "gw", "tokyo", Dir::Dl, T0 + 240, T0 + 300, |_| 700);
    assert_eq!(s.rollup("gw", T0 + 300).unwrap(), 2);
    let m = minutes(s, &[], "tokyo", Dir::Dl);
    assert_eq!(
        m.iter().map(|r| r.start).collect::<Vec<_>>(),
        vec![T0, T0 + 240]
    );
    let h = hours(s, &[], "tokyo", Dir::Dl);
    assert_eq!(h[0].covered, 120);
    assert_eq!(h[0].mean_bps(), (500.0 + 700.0) / 2.0 * 8.0);
    let g = s.gaps(&[], T0, T0 + 3600).unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(
        (g[0].gateway.as_str(), g[0].start, g[0].end),
        ("gw", T0 + 60, T0 + 240)
    );
    // Overlap is [from, to) against [start, end).
    assert!(s.gaps(&[], T0 + 240, T0 + 300).unwrap().is_empty());
    assert!(s.gaps(&[], T0, T0 + 60).unwrap().is_empty());
    assert_eq!(s.gaps(&[], T0 + 239, T0 + 240).unwrap().len(), 1);
    assert_eq!(s.gaps(&["gw".into()], T0, T0 + 3600).unwrap().len(), 1);
    assert!(s
        .gaps(&["elsewhere".into()], T0, T0 + 3600)
        .unwrap()
        .is_empty());
    // Recorded again (the same restart seen twice) is one gap, the longer.
    s.record_gap("gw", T0 + 60, T0 + 250).unwrap();
    assert_eq!(s.gaps(&[], T0, T0 + 3600).unwrap()[0].end, T0 + 250);
    assert!(matches!(
        s.record_gap("gw", T0, T0),
        Err(StoreError::Invalid(_))
    ));
}

fn fleet_sums_across_gateways(open: Open) {
    let mut s = open();
    let s = &mut *s;
    write_range(s, "gw-a", "tokyo", Dir::Dl, T0, T0 + 120, |_| 1000);
    // gw-b measured only 45 s of the first minute.
    write_range(s, "gw-b", "tokyo", Dir::Dl, T0 + 15, T0 + 120, |ts| {
        if ts == T0 + 20 {
            9000
        } else {
            2000
        }
    });
    // Another POI is not summed in.
    write_range(s, "gw-b", "osaka", Dir::Dl, T0, T0 + 120, |_| 77);
    assert_eq!(s.rollup("gw-a", T0 + 120).unwrap(), 2);
    assert_eq!(s.rollup("gw-b", T0 + 120).unwrap(), 4);
    let all = minutes(s, &[], "tokyo", Dir::Dl);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].bytes, 60 * 1000 + 44 * 2000 + 9000);
    assert_eq!(all[0].covered, 45, "the least of the gateways'");
    assert_eq!(all[0].max_bps, 8000.0 + 72_000.0);
    assert_eq!(all[1].bytes, 60 * 1000 + 60 * 2000);
    assert_eq!(
        all[1].sessions,
        minutes(s, &["gw-a"], "tokyo", Dir::Dl)[1].sessions * 2
    );
    let a = minutes(s, &["gw-a"], "tokyo", Dir::Dl);
    assert_eq!(
        a.iter().map(|r| r.bytes).collect::<Vec<_>>(),
        vec![60_000, 60_000]
    );
    let both = minutes(s, &["gw-a", "gw-b"], "tokyo", Dir::Dl);
    assert_eq!(both, all);
    assert!(minutes(s, &["gw-c"], "tokyo", Dir::Dl).is_empty());
    let h = hours(s, &[], "tokyo", Dir::Dl);
    assert_eq!(h[0].bytes, all[0].bytes + all[1].bytes);
}

fn minute_row(start: i64, bytes: u64) -> Row {
    Row {
        start,
        secs: 60,
        covered: 60,
        bytes,
        packets: bytes / 1000,
        max_bps: bytes as f64 * 8.0 / 60.0,
        p95_bps: bytes as f64 * 8.0 / 60.0,
        sessions: 5,
    }
}

fn write_rows_is_all_or_nothing(open: Open) {
    let mut s = open();
    let s = &mut *s;
    let good: Vec<Row> = (0..90)
        .map(|i| minute_row(T0 + i * 60, 6_000_000))
        .collect();
    let mut bad = good.clone();
    bad[89].start += 1; // not on a minute
    assert!(matches!(
        s.write_rows("import", "tokyo", Dir::Dl, &bad),
        Err(StoreError::Invalid(_))
    ));
    assert!(
        minutes(s, &[], "tokyo", Dir::Dl).is_empty(),
        "nothing of a refused batch is written"
    );
    assert!(hours(s, &[], "tokyo", Dir::Dl).is_empty());
    assert!(s.pois().unwrap().is_empty());
    // A batch of several series with one bad: none of them is written.
    assert!(matches!(
        s.write_batch(
            "import",
            &[("osaka", Dir::Ul, &good[..]), ("tokyo", Dir::Dl, &bad[..])]
        ),
        Err(StoreError::Invalid(_))
    ));
    assert!(minutes(s, &[], "osaka", Dir::Ul).is_empty());
    assert!(s.pois().unwrap().is_empty());
    s.write_rows("import", "tokyo", Dir::Dl, &good).unwrap();
    assert_eq!(minutes(s, &[], "tokyo", Dir::Dl), good);
    // Writing minutes rebuilt the two hours they fall in.
    let h = hours(s, &[], "tokyo", Dir::Dl);
    assert_eq!(
        h.iter().map(|r| (r.start, r.covered)).collect::<Vec<_>>(),
        vec![(T0, 3600), (T0 + 3600, 1800)]
    );
    assert_eq!(h[1].bytes, 30 * 6_000_000);
    // Existing rows at the same start are replaced, and their hour follows.
    s.write_rows("import", "tokyo", Dir::Dl, &[minute_row(T0 + 3600, 60)])
        .unwrap();
    assert_eq!(minutes(s, &[], "tokyo", Dir::Dl)[60].bytes, 60);
    assert_eq!(
        hours(s, &[], "tokyo", Dir::Dl)[1].bytes,
        29 * 6_000_000 + 60
    );
    // Hour rows are written as they are.
    let hour = Row {
        start: T0 + 7200,
        secs: 3600,
        covered: 3600,
        ..minute_row(0, 1)
    };
    s.write_rows("import", "tokyo", Dir::Dl, &[hour]).unwrap();
    assert_eq!(hours(s, &[], "tokyo", Dir::Dl)[2], hour);
    s.write_rows("import", "tokyo", Dir::Dl, &[]).unwrap();
}

fn pois_lists_what_has_data(open: Open) {
    let mut s = open();
    let s = &mut *s;
    assert!(s.pois().unwrap().is_empty());
    s.write_seconds(
        "gw-b",
        &[
            sample(T0, "tokyo", Dir::Ul, 1, 0),
            sample(T0, "osaka", Dir::Dl, 1, 0),
        ],
    )
    .unwrap();
    s.write_seconds("gw-a", &[sample(T0, "tokyo", Dir::Dl, 1, 0)])
        .unwrap();
    s.write_rows("import", "nagoya", Dir::Ul, &[minute_row(T0, 1)])
        .unwrap();
    let want: Vec<(String, String)> = [
        ("gw-a", "tokyo"),
        ("gw-b", "osaka"),
        ("gw-b", "tokyo"),
        ("import", "nagoya"),
    ]
    .iter()
    .map(|(g, p)| (g.to_string(), p.to_string()))
    .collect();
    assert_eq!(s.pois().unwrap(), want);
}

fn prune_keeps_each_resolution_for_its_retention(open: Open) {
    let mut s = open();
    let s = &mut *s;
    let day = 86_400;
    // Seconds of two minutes, an old imported day of minutes, an older gap.
    write_range(s, "gw", "tokyo", Dir::Ul, T0, T0 + 120, |_| 1);
    s.rollup("gw", T0 + 120).unwrap();
    let old: Vec<Row> = (0..1440)
        .map(|i| minute_row(T0 - 10 * day + i * 60, 100))
        .collect();
    s.write_rows("import", "osaka", Dir::Dl, &old).unwrap();
    s.record_gap("gw", T0 - 20 * day, T0 - 19 * day).unwrap();
    let retention = Retention {
        seconds: Some(60),
        minutes: Some(5 * day),
        hours: Some(15 * day),
    };
    let now = T0 + 120;
    // 60 seconds, 1440 minutes, the gap (older than the longest retention, 15 days).
    assert_eq!(s.prune(now, &retention).unwrap(), 60 + 1440 + 1);
    assert_eq!(
        s.seconds("gw", "tokyo", Dir::Ul, T0, T0 + 120)
            .unwrap()
            .len(),
        60
    );
    assert!(minutes(s, &[], "osaka", Dir::Dl).is_empty());
    assert_eq!(
        hours(s, &[], "osaka", Dir::Dl).len(),
        24,
        "hours outlive minutes"
    );
    assert_eq!(minutes(s, &[], "tokyo", Dir::Ul).len(), 2);
    assert!(s.gaps(&[], i64::MIN, i64::MAX).unwrap().is_empty());
    assert_eq!(s.prune(now, &retention).unwrap(), 0);
    // Once the hours go too, osaka has no data and is no longer listed.
    assert_eq!(
        s.prune(now + 20 * day, &retention).unwrap(),
        60 + 2 + 24 + 1
    );
    assert!(s.pois().unwrap().is_empty());
    // `None` keeps forever.
    write_range(s, "gw", "tokyo", Dir::Ul, T0, T0 + 60, |_| 1);
    let forever = Retention {
        seconds: None,
        minutes: None,
        hours: None,
    };
    assert_eq!(s.prune(now + 1000 * day, &forever).unwrap(), 0);
    assert_eq!(s.last_second("gw").unwrap(), Some(T0 + 59));
}

fn schema_survives_reopening(open: Open) {
    {
        let mut s = open();
        s.write_seconds("gw", &[sample(T0, "tokyo", Dir::Ul, 42, 1)])
            .unwrap();
    }
    for _ in 0..2 {
        let mut s = open();
        assert_eq!(s.last_second("gw").unwrap(), Some(T0));
        assert_eq!(
            s.seconds("gw", "tokyo", Dir::Ul, T0, T0 + 1).unwrap()[0].bytes,
            42
        );
    }
}

/// Runs every behaviour, each with its own database from `fresh` (which
/// returns an opener), and fails listing every behaviour that failed.
pub fn run_all(mut fresh: impl FnMut(&str) -> Box<dyn Fn() -> Box<dyn Store>>) {
    let mut failed = Vec::new();
    for (name, behaviour) in ALL {
        let open = fresh(name);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| behaviour(&*open)));
        if r.is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "behaviours failed: {failed:?}");
}
