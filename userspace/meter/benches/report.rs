//! The report over one year of per-minute rows of one POI (525,600 rows,
//! FY2025, plus the hour rows rolled up from them), built from memory: the
//! computation's cost, without the store's reads. Goal: at most one second.
//!
//! `cargo bench -p upf-meter --bench report`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use upf_meter::charges::{ChargeTable, FyPlan, PoiPlan, ReportSettings};
use upf_meter::report::{build, MemSource, ReportInput};
use upf_meter::{render, Dir, Row};

const FY2025: i64 = 1_743_433_200; // 2025-04-01 00:00 JST

/// A year of minutes: a daily shape with a lunchtime peak, weekly and
/// slow growth, and a little deterministic noise.
fn year() -> MemSource {
    let mut minutes = Vec::with_capacity(525_600);
    let mut noise: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..525_600i64 {
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        let h = (i % 1440) as f64 / 60.0;
        let day = i / 1440;
        let weekend = (day + 1) % 7 >= 5;
        let lunch = (-(h - 12.5f64).powi(2) / 0.8).exp() * if weekend { 0.4 } else { 1.0 };
        let evening = (-(h - 21.0f64).powi(2) / 4.0).exp();
        let mbps = (300.0 + 900.0 * lunch + 500.0 * evening) * (1.0 + 0.25 * day as f64 / 365.0)
            + (noise % 50) as f64;
        minutes.push(Row {
            start: FY2025 + i * 60,
            secs: 60,
            covered: 60,
            bytes: (mbps * 1e6 / 8.0 * 60.0) as u64,
            packets: (mbps * 1e6 / 8.0 * 60.0 / 800.0) as u64,
            max_bps: mbps * 1.3e6,
            p95_bps: mbps * 1.2e6,
            sessions: 200_000 + (day as u32) * 300,
        });
    }
    MemSource::from_minutes(minutes)
}

fn bench(c: &mut Criterion) {
    let src = year();
    let plan = PoiPlan {
        host: Some("docomo".into()),
        fiscal_year: vec![FyPlan {
            fy: 2025,
            capacity_mbps: Some(2400.0),
            demand_mbps: Some(2000.0),
        }],
    };
    let settings = ReportSettings::default();
    let charges = ChargeTable::shipped();
    let input = ReportInput {
        poi: "docomo-tokyo",
        dir: Dir::Dl,
        settings: &settings,
        plan: &plan,
        charges: &charges,
        from: FY2025,
        to: FY2025 + 365 * 86_400,
        now: FY2025 + 365 * 86_400,
    };
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.bench_function("build_year_of_minutes", |b| {
        b.iter(|| {
            // The source is cloned per run so every run reads its rows afresh,
            // as it would from a store; the clone is part of the time.
            let mut s = src.clone();
            black_box(build(&mut s, &input).unwrap())
        })
    });
    let report = build(&mut src.clone(), &input).unwrap();
    assert_eq!(report.days.len(), 365);
    g.bench_function("render_html_year", |b| {
        b.iter(|| black_box(render::html(&report)))
    });
    g.bench_function("build_and_render_all_formats", |b| {
        b.iter(|| {
            let r = build(&mut src.clone(), &input).unwrap();
            black_box((
                render::text(&r),
                render::csv(&r),
                render::json(&r),
                render::html(&r),
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
