//! Hand-computed fixtures. Rates are whole Mbit/s: one minute at 1 Mbit/s
//! is 7,500,000 bytes, so every figure below is arithmetic on small numbers.

use super::*;
use crate::charges::{ChargeTable, FyPlan, PoiPlan, ReportSettings};

const MB_MIN: u64 = 7_500_000; // bytes in one minute at 1 Mbit/s

fn jst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    // JST is UTC+9 all year.
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        .and_utc()
        .timestamp()
        - 9 * 3600
}

fn minute(start: i64, mbps: u64) -> Row {
    Row {
        start,
        secs: 60,
        covered: 60,
        bytes: mbps * MB_MIN,
        packets: 1,
        max_bps: 0.0,
        p95_bps: 0.0,
        sessions: 100,
    }
}

fn hour(start: i64, mbps: f64) -> Row {
    Row {
        start,
        secs: 3600,
        covered: 3600,
        bytes: (mbps * 1e6 / 8.0 * 3600.0).round() as u64,
        packets: 1,
        max_bps: 0.0,
        p95_bps: 0.0,
        sessions: 10,
    }
}

/// A day of minutes at `base` Mbit/s, with `f(minute of day)` overriding:
/// `Some(Some(r))` a rate, `Some(None)` no row.
fn day(y: i32, mo: u32, d: u32, base: u64, f: impl Fn(u32) -> Option<Option<u64>>) -> Vec<Row> {
    let s = jst(y, mo, d, 0, 0);
    (0..1440u32)
        .filter_map(|m| match f(m) {
            Some(None) => None,
            Some(Some(r)) => Some(minute(s + m as i64 * 60, r)),
            None => Some(minute(s + m as i64 * 60, base)),
        })
        .collect()
}

/// Four days, 2026-04-01 (Wed) .. 2026-04-04 (Sat), plus hour rows on both
/// sides of the FY2024/FY2025 boundary and on 2026-03-31 (FY2025).
fn fixture() -> MemSource {
    let mut m = Vec::new();
    // Day 1: 10 Mbit/s, hours 12 and 19 at 50: equal busy hours.
    m.extend(day(2026, 4, 1, 10, |m| {
        (m / 60 == 12 || m / 60 == 19).then_some(Some(50))
    }));
    // Day 2: 50 Mbit/s from 12:30 to 13:29: the clock hours 12 and 13 are 30 each.
    m.extend(day(2026, 4, 2, 10, |m| {
        (750..810).contains(&m).then_some(Some(50))
    }));
    // Day 3: 09:00-09:39 at 90, 09:40-09:59 missing, 10:00-10:19 at 200,
    // 10:20-10:59 missing; one half-measured minute at 15:02.
    let mut d3 = day(2026, 4, 3, 10, |m| match m {
        540..=579 => Some(Some(90)),
        580..=599 => Some(None),
        600..=619 => Some(Some(200)),
        620..=659 => Some(None),
        _ => None,
    });
    for r in &mut d3 {
        if r.start == jst(2026, 4, 3, 15, 2) {
            r.covered = 30;
            r.bytes = 100 * MB_MIN / 2;
        }
        if r.start == jst(2026, 4, 3, 18, 0) {
            r.sessions = 250;
        }
    }
    m.extend(d3);
    // Day 4: 20 Mbit/s all day: every hour equal.
    m.extend(day(2026, 4, 4, 20, |_| None));
    let mut src = MemSource::from_minutes(m);
    src.hours.extend([
        hour(jst(2025, 3, 31, 23, 0), 40.0), // FY2024's last hour
        hour(jst(2025, 4, 1, 0, 0), 60.0),   // FY2025's first hour
        hour(jst(2026, 3, 31, 12, 0), 70.0), // FY2025's last day
    ]);
    src.hours.sort_by_key(|r| r.start);
    src
}

fn plan() -> PoiPlan {
    PoiPlan {
        host: Some("docomo".into()),
        fiscal_year: vec![
            FyPlan {
                fy: 2025,
                capacity_mbps: Some(180.0),
                demand_mbps: None,
            },
            FyPlan {
                fy: 2026,
                capacity_mbps: Some(200.0),
                demand_mbps: Some(160.0),
            },
        ],
    }
}

fn run(src: &mut MemSource, plan: &PoiPlan, from: i64, to: i64) -> Result<Report, ReportError> {
    let settings = ReportSettings::default();
    let charges = ChargeTable::shipped();
    let input = ReportInput {
        poi: "tokyo-1",
        dir: Dir::Dl,
        settings: &settings,
        plan,
        charges: &charges,
        from,
        to,
        now: to,
    };
    build(src, &input)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn daily_busy_hours_ties_gaps_and_windows() {
    let r = run(
        &mut fixture(),
        &plan(),
        jst(2026, 4, 1, 0, 0),
        jst(2026, 4, 5, 0, 0),
    )
    .unwrap();
    assert_eq!(
        (r.first_day.as_str(), r.last_day.as_str()),
        ("2026-04-01", "2026-04-04")
    );
    let d = &r.days;
    assert_eq!(d.len(), 4);
    assert_eq!(d[0].weekday, "Wed");
    // Day 1: hours 12 and 19 equal at 50: the earliest wins.
    let bh = d[0].busy_hour.as_ref().unwrap();
    assert_eq!((bh.hour, bh.start), (12, jst(2026, 4, 1, 12, 0)));
    assert!(close(bh.mbps, 50.0));
    let w = d[0].busiest_60min.as_ref().unwrap();
    assert_eq!(w.time, "12:00");
    // Day 2: clock hours 12 and 13 are (30 × 50 + 30 × 10) / 60 = 30; the
    // busiest 60 minutes start at 12:30 at 50.
    let bh = d[1].busy_hour.as_ref().unwrap();
    assert_eq!(bh.hour, 12);
    assert!(close(bh.mbps, 30.0));
    let w = d[1].busiest_60min.as_ref().unwrap();
    assert_eq!(
        (w.time.as_str(), w.start),
        ("12:30", jst(2026, 4, 2, 12, 30))
    );
    assert!(close(w.mbps, 50.0));
    // Day 3: hour 9 measured 40 of 60 minutes at 90 is the busy hour with
    // coverage 2/3; hour 10 (20 minutes at 200) is under half measured.
    let bh = d[2].busy_hour.as_ref().unwrap();
    assert_eq!(bh.hour, 9);
    assert!(close(bh.mbps, 90.0));
    assert!(close(bh.coverage, 2.0 / 3.0));
    // The window from 09:30 holds 09:30-09:39 at 90 and 10:00-10:19 at 200:
    // 30 measured minutes, exactly half, (10 × 90 + 20 × 200) / 30.
    let w = d[2].busiest_60min.as_ref().unwrap();
    assert_eq!(w.time, "09:30");
    assert!(close(w.mbps, (10.0 * 90.0 + 20.0 * 200.0) / 30.0));
    assert!(close(w.coverage, 0.5));
    // Day 3 volume: 1319 min at 10, 40 at 90, 20 at 200, 30 s at 100 (Mbit/s·min).
    assert_eq!(
        d[2].volume_bytes,
        (1319 * 10 + 40 * 90 + 20 * 200) * MB_MIN + 50 * MB_MIN
    );
    assert!(close(
        d[2].coverage,
        (1440.0 * 60.0 - 60.0 * 60.0 - 30.0) / 86_400.0
    ));
    assert_eq!(d[2].sessions, 250);
    // Day 4: all 24 hours equal: the first, 00:00.
    let bh = d[3].busy_hour.as_ref().unwrap();
    assert_eq!(bh.hour, 0);
    assert!(close(bh.mbps, 20.0));
    assert_eq!(d[3].busiest_60min.as_ref().unwrap().time, "00:00");
}

#[test]
fn period_summary_tcbh_adph_and_p95() {
    let r = run(
        &mut fixture(),
        &plan(),
        jst(2026, 4, 1, 0, 0),
        jst(2026, 4, 5, 0, 0),
    )
    .unwrap();
    let s = &r.summary;
    // Hour 9: (10 + 10 + 90 + 20) / 4 beats hour 12: (50 + 30 + 10 + 20) / 4.
    let t = s.tcbh.as_ref().unwrap();
    assert_eq!((t.hour, t.days), (9, 4));
    assert!(close(t.mbps, 32.5));
    assert!(close(
        s.adph_mbps.unwrap(),
        (50.0 + 30.0 + 90.0 + 20.0) / 4.0
    ));
    let p = s.peak_hour.as_ref().unwrap();
    assert_eq!((p.date.as_str(), p.hour), ("2026-04-03", 9));
    assert_eq!(s.busiest_60min.as_ref().unwrap().date, "2026-04-03");
    // 5-minute intervals: 288 × 3 + 276 (12 missing on day 3). Sorted: 803 at
    // 10, 289 at 20 (day 4 and 15:00 on day 3: (4 × 60 × 10 + 30 × 100) / 270),
    // 36 at 50, 8 at 90, 4 at 200. Rank ceil(0.95 × 1140) = 1083 -> 20.
    assert_eq!(s.p95_intervals, 1140);
    assert!(close(s.p95_5min_mbps.unwrap(), 20.0));
    // Profile: Wed-Fri weekdays, Saturday weekend.
    assert!(close(
        r.profile.weekday[9].unwrap(),
        (10.0 + 10.0 + 90.0) / 3.0
    ));
    assert!(close(r.profile.weekend[9].unwrap(), 20.0));
    assert_eq!(r.profile.weekday.len(), 24);
    assert_eq!(s.days_with_data, 4);
}

#[test]
fn busiest_day_regulator_table_and_fiscal_boundary() {
    let r = run(
        &mut fixture(),
        &plan(),
        jst(2026, 4, 1, 0, 0),
        jst(2026, 4, 5, 0, 0),
    )
    .unwrap();
    // The busiest day is the one with the most bytes (day 4: 24 h at 20),
    // not the one with the highest busy hour (day 3 at 90).
    let m = &r.months[0];
    assert_eq!(
        (m.label.as_str(), m.days, m.complete),
        ("2026-04", 4, false)
    );
    let b = m.busiest_day.as_ref().unwrap();
    assert_eq!(b.date, "2026-04-04");
    assert_eq!(b.volume_bytes, 1440 * 20 * MB_MIN);
    assert!(close(b.busy_hour.as_ref().unwrap().mbps, 20.0));
    assert_eq!(m.peak_hour.as_ref().unwrap().date, "2026-04-03");
    assert_eq!(r.fiscal_years[0].label, "FY2026");

    let g = &r.regulator;
    assert_eq!(
        g.iter().map(|x| x.fy).collect::<Vec<_>>(),
        vec![2024, 2025, 2026]
    );
    // FY2024: only 2025-03-31 23:00 JST (14:00 UTC) at 40; no plan: ratios missing.
    assert!(close(g[0].busiest_mbps.unwrap(), 40.0));
    assert_eq!(g[0].busiest_day.as_deref(), Some("2025-03-31"));
    assert_eq!(
        (g[0].capacity_mbps, g[0].ratio_capacity, g[0].ratio_demand),
        (None, None, None)
    );
    assert!(g[0].complete);
    // FY2025: 2025-04-01 00:00 JST at 60 and 2026-03-31 12:00 at 70 (more bytes).
    assert_eq!(g[1].days_with_data, 2);
    assert_eq!(g[1].busiest_day.as_deref(), Some("2026-03-31"));
    assert!(close(g[1].busiest_mbps.unwrap(), 70.0));
    assert!(close(g[1].ratio_capacity.unwrap(), 70.0 / 180.0));
    assert_eq!(
        g[1].ratio_demand, None,
        "no demand configured: missing, not 0 or inf"
    );
    // FY2026: day 4's busy hour, 20, over 200 and 160; the year is not over.
    assert!(close(g[2].busiest_mbps.unwrap(), 20.0));
    assert!(close(g[2].ratio_capacity.unwrap(), 0.1));
    assert!(close(g[2].ratio_demand.unwrap(), 0.125));
    assert!(!g[2].complete);
    assert!(close(g[2].peak_hour.as_ref().unwrap().mbps, 90.0));
}

#[test]
fn units_charges_and_lines() {
    let r = run(
        &mut fixture(),
        &plan(),
        jst(2026, 4, 1, 0, 0),
        jst(2026, 4, 5, 0, 0),
    )
    .unwrap();
    let z = &r.sizing;
    // 90 × 1.2 = 108 Mbit/s -> 11 units at FY2026 rates.
    assert_eq!((z.units, z.fy), (Some(11), 2026));
    assert!(close(z.required_mbps.unwrap(), 108.0));
    let c = &z.costs[0];
    assert!(c.is_host && c.host == "docomo");
    assert_eq!(
        (c.per_10mbps_yen, c.monthly_yen, c.yearly_yen),
        (Some(109_000), Some(1_199_000), Some(14_388_000))
    );
    let k = z.costs.iter().find(|c| c.host == "kddi").unwrap();
    assert_eq!(k.monthly_yen, Some(11 * 117_000));
    // Lines: April's peak concurrent sessions, 250, at 63 yen.
    let l = &r.lines.months[0];
    assert_eq!(
        (l.lines, l.per_line_yen, l.monthly_yen),
        (250, Some(63), Some(250 * 63))
    );
    // A month before 4 days of history: no forecast, and it says why.
    assert!(r
        .forecast
        .note
        .as_deref()
        .unwrap()
        .contains("not enough history"));
    assert!(r.forecast.years.is_empty());
    assert_eq!(units_for(100.0, 0.2), 12);
    assert_eq!(units_for(100.1, 0.0), 11);
    assert_eq!(units_for(0.0, 0.2), 0);
}

#[test]
fn a_missing_rate_is_missing_not_carried_over() {
    // FY2025 has no per-10-Mbit/s rate in the shipped table.
    let r = run(
        &mut fixture(),
        &plan(),
        jst(2026, 3, 31, 0, 0),
        jst(2026, 4, 1, 0, 0),
    )
    .unwrap();
    assert_eq!(r.sizing.fy, 2025);
    assert_eq!(r.sizing.units, Some(units_for(70.0, 0.2)));
    assert!(r
        .sizing
        .costs
        .iter()
        .all(|c| c.per_10mbps_yen.is_none() && c.monthly_yen.is_none()));
    assert_eq!(r.days[0].rows, "hours");
}

#[test]
fn no_data_says_so() {
    let e = run(
        &mut fixture(),
        &plan(),
        jst(2026, 5, 1, 0, 0),
        jst(2026, 6, 1, 0, 0),
    )
    .unwrap_err();
    assert!(matches!(e, ReportError::NoData { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("no data for POI \"tokyo-1\" (dl) from 2026-05-01 to 2026-05-31"),
        "{msg}"
    );
    let e = run(&mut MemSource::default(), &plan(), 0, 0).unwrap_err();
    assert!(matches!(e, ReportError::EmptyPeriod { .. }));
}

#[test]
fn an_exact_exponential_history_gives_back_its_growth() {
    // FY2023 (a 366-day year with 2024-02-29): every day one hour at
    // 100 × 1.03^k Mbit/s in month k (k = 0 for 2023-04).
    let mut hours = Vec::new();
    let (first, last) = Calendar::fiscal_year_dates(2023);
    let mut d = first;
    while d <= last {
        let k = calendar::month_index(d.year(), d.month()) - calendar::month_index(2023, 4);
        hours.push(hour(
            jst(d.year(), d.month(), d.day(), 12, 0),
            100.0 * 1.03f64.powi(k as i32),
        ));
        d = calendar::next_day(d);
    }
    assert_eq!(hours.len(), 366);
    let mut src = MemSource {
        minutes: Vec::new(),
        hours,
        gaps: Vec::new(),
    };
    let r = run(
        &mut src,
        &plan(),
        jst(2024, 2, 1, 0, 0),
        jst(2024, 3, 1, 0, 0),
    )
    .unwrap();
    assert_eq!(
        (
            r.months[0].label.as_str(),
            r.months[0].days,
            r.months[0].complete
        ),
        ("2024-02", 29, true)
    );
    assert_eq!(r.days.last().unwrap().date, "2024-02-29");
    // The history is FY2021..FY2023 up to February 2024: 11 months of FY2023.
    let f = &r.forecast;
    assert_eq!(f.history.len(), 11);
    assert!(f.note.is_none());
    assert!((f.growth_per_year.unwrap() - (1.03f64.powi(12) - 1.0)).abs() < 1e-6);
    assert!(f.sigma_log.unwrap() < 1e-6);
    assert_eq!(
        f.years.iter().map(|y| y.fy).collect::<Vec<_>>(),
        vec![2024, 2025, 2026]
    );
    // FY2026's peak is March 2027, month k = 47.
    let y = &f.years[2];
    assert_eq!(y.month, "2027-03");
    let want = 100.0 * 1.03f64.powi(47);
    assert!(
        (y.peak_mbps / want - 1.0).abs() < 1e-6,
        "{} vs {want}",
        y.peak_mbps
    );
    assert!((y.high_mbps / want - 1.0).abs() < 1e-5 && (y.low_mbps / want - 1.0).abs() < 1e-5);
    assert_eq!(y.units, units_for(y.peak_mbps, 0.2));
    assert_eq!(y.per_10mbps_yen, Some(109_000));
    assert_eq!(y.yearly_yen, Some(12 * y.units * 109_000));
    assert_eq!(y.capacity_mbps, Some(200.0));
    // FY2025's rate is not in the table: the cost is missing.
    assert_eq!(
        (f.years[1].per_10mbps_yen, f.years[1].yearly_yen),
        (None, None)
    );
}

#[test]
fn the_prediction_band_widens_with_distance() {
    // ln y = 1 + 0.1 x with residuals +-0.05 alternating: sigma > 0.
    let pts: Vec<(f64, f64)> = (0..12)
        .map(|x| {
            (
                x as f64,
                (1.0 + 0.1 * x as f64 + if x % 2 == 0 { 0.05 } else { -0.05 }).exp(),
            )
        })
        .collect();
    let fit = LogFit::fit(&pts).unwrap();
    assert!((fit.b - 0.1).abs() < 0.01);
    let (v1, lo1, hi1) = fit.predict(12.0);
    let (v2, lo2, hi2) = fit.predict(36.0);
    assert!(lo1 < v1 && v1 < hi1);
    assert!((hi2 / lo2) > (hi1 / lo1));
    // Symmetric on the log scale.
    assert!(((hi2 / v2).ln() - (v2 / lo2).ln()).abs() < 1e-9);
    assert!(LogFit::fit(&pts[..2]).is_none());
    assert!(LogFit::fit(&[(0.0, 1.0), (1.0, 0.0), (2.0, 1.0)]).is_none());
}

#[test]
fn a_25_hour_day_has_25_clock_hours() {
    // Europe/Berlin falls back on 2026-10-25: 02:00-02:59 happens twice.
    let cal = Calendar::named("Europe/Berlin").unwrap();
    let (s, e) = cal.day_bounds(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap());
    let mut m: Vec<Row> = (0..(e - s) / 60).map(|i| minute(s + i * 60, 10)).collect();
    // The second 02:00 hour (the fourth clock hour of the day) is the busiest.
    for r in &mut m[180..240] {
        r.bytes = 40 * MB_MIN;
    }
    let mut src = MemSource::from_minutes(m);
    let settings = ReportSettings {
        timezone: "Europe/Berlin".into(),
        ..ReportSettings::default()
    };
    let charges = ChargeTable::shipped();
    let plan = PoiPlan::default();
    let input = ReportInput {
        poi: "berlin",
        dir: Dir::Ul,
        settings: &settings,
        plan: &plan,
        charges: &charges,
        from: s,
        to: e,
        now: e,
    };
    let r = build(&mut src, &input).unwrap();
    assert_eq!(r.days.len(), 1);
    let bh = r.days[0].busy_hour.as_ref().unwrap();
    assert_eq!((bh.hour, bh.start), (2, s + 3 * 3600));
    assert!(close(r.days[0].coverage, 1.0));
    assert_eq!(
        r.days[0].busiest_60min.as_ref().unwrap().start,
        s + 3 * 3600
    );
}
