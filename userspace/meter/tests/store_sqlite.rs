//! The store behaviour against SQLite, each behaviour in a file of its own.

mod common;

use common::behaviour::{self, T0};
use common::TempDir;
use upf_meter::store;
use upf_meter::{Dir, Row};

/// Runs one behaviour on a fresh database file, opened through `store::open`.
fn run(name: &str) {
    let dir = TempDir::new("sqlite");
    // A directory that does not exist yet: `open` creates it.
    let url = format!("sqlite:{}/state/meter.db", dir.path().display());
    let (_, behaviour) = behaviour::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a behaviour");
    behaviour(&|| store::open(&url).expect("open"));
}

macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { run(stringify!($name)); })*
        #[test]
        fn every_behaviour_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in behaviour::ALL {
                assert!(tested.contains(name), "{name} is not run against SQLite");
            }
        }
    };
}

behaviours!(
    seconds_round_trip,
    rollup_builds_minutes_and_hours,
    rollup_is_idempotent,
    crash_interrupted_minute_rolled_up_at_next_start,
    late_second_reopens_its_minute,
    gaps_are_not_filled_with_zeros,
    fleet_sums_across_gateways,
    write_rows_is_all_or_nothing,
    pois_lists_what_has_data,
    prune_keeps_each_resolution_for_its_retention,
    schema_survives_reopening,
);

#[test]
fn a_bare_path_is_sqlite_in_wal_mode() {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("a/b/meter.db");
    let mut s = store::open(path.to_str().unwrap()).expect("open a bare path");
    s.write_seconds("gw", &[behaviour::sample(T0, "tokyo", Dir::Ul, 1, 0)])
        .unwrap();
    assert!(path.is_file());
    // WAL mode leaves its -wal file beside the database while open.
    assert!(dir.path().join("a/b/meter.db-wal").is_file());
}

/// Reads a year of one POI's minute rows (525,600) the way a report does,
/// and prints how long it took: `cargo test -p upf-meter --release --test
/// store_sqlite -- --ignored --nocapture a_year_of_minutes`.
#[test]
#[ignore = "a timing, not a check: run it by name"]
fn a_year_of_minutes_reads_fast() {
    let dir = TempDir::new("sqlite-year");
    let url = format!("sqlite:{}/meter.db", dir.path().display());
    let mut s = store::open(&url).unwrap();
    // A synthetic FY2026 of a 2 Gbit/s POI, as a report would read it.
    let year = upf_meter::synth::Synth::new("tokyo", 2000.0, 1).generate(T0, T0 + 365 * 86_400);
    let rows: &[Row] = &year[1].rows;
    assert_eq!(rows.len(), 525_600);
    let t = std::time::Instant::now();
    s.write_rows("gw", "tokyo", Dir::Dl, rows).unwrap();
    eprintln!(
        "write_rows of 525,600 minute rows (and 8,760 hours): {:?}",
        t.elapsed()
    );
    drop(s);
    let mut s = store::open(&url).unwrap();
    for gateways in [vec![], vec![], vec!["gw".to_string()], vec![]] {
        let t = std::time::Instant::now();
        let got = s
            .rows(&gateways, "tokyo", Dir::Dl, 60, T0, T0 + 366 * 86_400)
            .unwrap();
        let took = t.elapsed();
        assert_eq!(got.len(), 525_600);
        eprintln!("rows() of 525,600 minute rows, gateways {gateways:?}: {took:?}");
        assert!(took.as_secs_f64() < 1.0, "{took:?}");
    }
}
