//! The store behaviour against a real PostgreSQL server the test starts
//! itself (see `common::pg`), and a fleet of gateways writing at once.

mod common;

use common::behaviour::{self, sample, T0};
use common::pg::PgServer;
use upf_meter::charges::{ChargeTable, PoiPlan, ReportSettings};
use upf_meter::report::{build, ReportInput, StoreSource};
use upf_meter::store;
use upf_meter::Dir;

#[test]
fn behaviour() {
    let pg = PgServer::start();
    behaviour::run_all(|name| {
        let url = pg.create_db(name);
        Box::new(move || store::open(&url).expect("open"))
    });
}

#[test]
fn libpq_key_value_strings_and_bad_urls() {
    let pg = PgServer::start();
    pg.create_db("kv");
    let kv = format!(
        "host={} port={} user=postgres dbname=kv",
        pg.socket_dir().display(),
        pg.port()
    );
    let mut s = store::open(&kv).expect("a key=value string over the unix socket");
    s.write_seconds("gw", &[sample(T0, "tokyo", Dir::Ul, 5, 0)])
        .unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:{}/kv", pg.port());
    assert_eq!(
        store::open(&url).unwrap().last_second("gw").unwrap(),
        Some(T0)
    );
    let bad = "postgres://postgres@127.0.0.1:notaport/kv";
    match store::open(bad) {
        Err(store::StoreError::Url { url, .. }) => assert_eq!(url, bad),
        other => panic!("{bad}: {:?}", other.err()),
    }
    let missing = format!("postgres://postgres@127.0.0.1:{}/no_such_db", pg.port());
    let e = store::open(&missing)
        .err()
        .expect("no such database")
        .to_string();
    assert!(
        e.starts_with("postgresql:") && e.contains("no_such_db"),
        "{e}"
    );
}

#[test]
fn two_gateways_write_one_report_aggregates() {
    let pg = PgServer::start();
    let url = pg.create_db("fleet");
    // Both open at once: the schema is created once, under the advisory lock.
    let writers: Vec<_> = [("gw-a", 1000u64), ("gw-b", 3000u64)]
        .into_iter()
        .map(|(gw, bytes)| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut s = store::open(&url).expect("open");
                for ts in T0..T0 + 180 {
                    s.write_seconds(
                        gw,
                        &[
                            sample(ts, "tokyo", Dir::Dl, bytes, 10),
                            sample(ts, "tokyo", Dir::Ul, bytes / 10, 10),
                        ],
                    )
                    .expect("write_seconds");
                }
                s.rollup(gw, T0 + 180).expect("rollup")
            })
        })
        .collect();
    for w in writers {
        assert_eq!(w.join().expect("a writer"), 6, "3 minutes, 2 directions");
    }
    let mut report = store::open(&url).unwrap();
    let all = report
        .rows(&[], "tokyo", Dir::Dl, 60, T0, T0 + 3600)
        .unwrap();
    assert_eq!(all.len(), 3);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.start, T0 + i as i64 * 60);
        assert_eq!(r.bytes, 60 * (1000 + 3000));
        assert_eq!(r.covered, 60);
        assert_eq!(r.sessions, 20);
        assert_eq!(r.max_bps, (1000.0 + 3000.0) * 8.0);
    }
    let a = report
        .rows(&["gw-a".into()], "tokyo", Dir::Dl, 60, T0, T0 + 3600)
        .unwrap();
    assert_eq!(
        a.iter().map(|r| r.bytes).collect::<Vec<_>>(),
        vec![60_000; 3]
    );
    let h = report
        .rows(&[], "tokyo", Dir::Ul, 3600, T0, T0 + 3600)
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].bytes, 180 * (100 + 300));
    assert_eq!(
        report.pois().unwrap(),
        vec![
            ("gw-a".to_string(), "tokyo".to_string()),
            ("gw-b".to_string(), "tokyo".to_string())
        ]
    );
    // One report over the fleet: the day's volume and busy hour are the sums.
    let settings = ReportSettings {
        min_coverage: 0.01,
        ..ReportSettings::default()
    };
    let mut src = StoreSource {
        store: &mut *report,
        gateways: Vec::new(),
        poi: "tokyo".into(),
        dir: Dir::Dl,
    };
    let r = build(
        &mut src,
        &ReportInput {
            poi: "tokyo",
            dir: Dir::Dl,
            settings: &settings,
            plan: &PoiPlan::default(),
            charges: &ChargeTable::shipped(),
            from: T0,
            to: T0 + 1,
            now: T0 + 3600,
        },
    )
    .expect("the fleet's report");
    assert_eq!(r.summary.volume_bytes, 180 * (1000 + 3000));
    let peak = r.summary.peak_hour.expect("a busy hour");
    assert!((peak.mbps - 4000.0 * 8.0 / 1e6).abs() < 1e-9, "{peak:?}");
}
