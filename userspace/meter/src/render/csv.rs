//! The CSV rendering.
//!
//! One file of several sections separated by a blank line. Each section's
//! first row is its header, whose first column is `section`; every data row
//! starts with the section's name, so `grep '^days,'` (or a filter on the
//! first column) extracts one table. Sections, in order: `report` (key,
//! value), `summary` (key, value), `days`, `profile`, `months`,
//! `fiscal_years`, `regulator`, `costs`, `lines`, `forecast_history`,
//! `forecast_monthly`, `forecast_years`, `gaps`. Rates are Mbit/s, volumes
//! bytes, money yen, ratios fractions; a missing figure is an empty cell.

use crate::report::{HourFigure, Report, SpanFigures};

fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn f(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.6}"),
        _ => String::new(),
    }
}

fn u(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn s(v: Option<&str>) -> String {
    v.unwrap_or_default().to_string()
}

struct Out(String);

impl Out {
    /// A blank line (between sections) and a header row.
    fn section(&mut self, headers: &[&str]) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.row("section", headers.iter().map(|h| h.to_string()).collect());
    }

    fn row(&mut self, name: &str, cells: Vec<String>) {
        self.0.push_str(&cell(name));
        for c in cells {
            self.0.push(',');
            self.0.push_str(&cell(&c));
        }
        self.0.push('\n');
    }
}

fn hour_cells(h: Option<&HourFigure>) -> Vec<String> {
    vec![
        s(h.map(|h| h.date.as_str())),
        h.map(|h| h.hour.to_string()).unwrap_or_default(),
        h.map(|h| h.start.to_string()).unwrap_or_default(),
        f(h.map(|h| h.mbps)),
        f(h.map(|h| h.coverage)),
    ]
}

/// The report as CSV sections (layout in the module docs).
pub fn csv(r: &Report) -> String {
    let mut o = Out(String::new());
    o.section(&["key", "value"]);
    for (k, v) in [
        ("poi", r.poi.clone()),
        ("dir", r.dir.to_string()),
        ("timezone", r.timezone.clone()),
        ("first_day", r.first_day.clone()),
        ("last_day", r.last_day.clone()),
        ("from", r.from.to_string()),
        ("to", r.to.to_string()),
        ("generated_at", r.generated_at.to_string()),
        ("host", s(r.host.as_deref())),
        ("headroom", r.sizing.headroom.to_string()),
    ] {
        o.row("report", vec![k.into(), v]);
    }

    let m = &r.summary;
    o.section(&["key", "value"]);
    for (k, v) in [
        ("days", m.days.to_string()),
        ("days_with_data", m.days_with_data.to_string()),
        ("volume_bytes", m.volume_bytes.to_string()),
        (
            "tcbh_hour",
            m.tcbh
                .as_ref()
                .map(|t| t.hour.to_string())
                .unwrap_or_default(),
        ),
        ("tcbh_mbps", f(m.tcbh.as_ref().map(|t| t.mbps))),
        (
            "tcbh_days",
            m.tcbh
                .as_ref()
                .map(|t| t.days.to_string())
                .unwrap_or_default(),
        ),
        ("adph_mbps", f(m.adph_mbps)),
        (
            "peak_hour_date",
            s(m.peak_hour.as_ref().map(|p| p.date.as_str())),
        ),
        (
            "peak_hour_hour",
            m.peak_hour
                .as_ref()
                .map(|p| p.hour.to_string())
                .unwrap_or_default(),
        ),
        ("peak_hour_mbps", f(m.peak_hour.as_ref().map(|p| p.mbps))),
        (
            "busiest_60min_date",
            s(m.busiest_60min.as_ref().map(|w| w.date.as_str())),
        ),
        (
            "busiest_60min_time",
            s(m.busiest_60min.as_ref().map(|w| w.time.as_str())),
        ),
        (
            "busiest_60min_mbps",
            f(m.busiest_60min.as_ref().map(|w| w.mbps)),
        ),
        ("p95_5min_mbps", f(m.p95_5min_mbps)),
        ("p95_intervals", m.p95_intervals.to_string()),
    ] {
        o.row("summary", vec![k.into(), v]);
    }

    o.section(&[
        "date",
        "weekday",
        "volume_bytes",
        "coverage",
        "busy_hour",
        "busy_hour_start",
        "busy_hour_mbps",
        "busy_hour_coverage",
        "busiest_60min_time",
        "busiest_60min_start",
        "busiest_60min_mbps",
        "busiest_60min_coverage",
        "sessions",
        "rows",
    ]);
    for d in &r.days {
        let b = d.busy_hour.as_ref();
        let w = d.busiest_60min.as_ref();
        o.row(
            "days",
            vec![
                d.date.clone(),
                d.weekday.clone(),
                d.volume_bytes.to_string(),
                f(Some(d.coverage)),
                b.map(|b| b.hour.to_string()).unwrap_or_default(),
                b.map(|b| b.start.to_string()).unwrap_or_default(),
                f(b.map(|b| b.mbps)),
                f(b.map(|b| b.coverage)),
                s(w.map(|w| w.time.as_str())),
                w.map(|w| w.start.to_string()).unwrap_or_default(),
                f(w.map(|w| w.mbps)),
                f(w.map(|w| w.coverage)),
                d.sessions.to_string(),
                d.rows.to_string(),
            ],
        );
    }

    o.section(&["hour", "weekday_mbps", "weekend_mbps"]);
    for h in 0..24 {
        o.row(
            "profile",
            vec![
                h.to_string(),
                f(r.profile.weekday.get(h).copied().flatten()),
                f(r.profile.weekend.get(h).copied().flatten()),
            ],
        );
    }

    let spans = |o: &mut Out, name: &str, list: &[SpanFigures]| {
        o.section(&[
            "label",
            "first_day",
            "last_day",
            "days",
            "days_with_data",
            "complete",
            "busiest_day",
            "busiest_day_volume_bytes",
            "busiest_day_coverage",
            "busiest_day_busy_hour",
            "busiest_day_busy_hour_mbps",
            "peak_hour_date",
            "peak_hour",
            "peak_hour_start",
            "peak_hour_mbps",
            "peak_hour_coverage",
            "sessions",
        ]);
        for x in list {
            let b = x.busiest_day.as_ref();
            let bh = b.and_then(|b| b.busy_hour.as_ref());
            let mut row = vec![
                x.label.clone(),
                x.first_day.clone(),
                x.last_day.clone(),
                x.days.to_string(),
                x.days_with_data.to_string(),
                x.complete.to_string(),
                s(b.map(|b| b.date.as_str())),
                u(b.map(|b| b.volume_bytes)),
                f(b.map(|b| b.coverage)),
                bh.map(|h| h.hour.to_string()).unwrap_or_default(),
                f(bh.map(|h| h.mbps)),
            ];
            row.extend(hour_cells(x.peak_hour.as_ref()));
            row.push(x.sessions.to_string());
            o.row(name, row);
        }
    };
    spans(&mut o, "months", &r.months);
    spans(&mut o, "fiscal_years", &r.fiscal_years);

    o.section(&[
        "fy",
        "complete",
        "days_with_data",
        "capacity_mbps",
        "demand_mbps",
        "busiest_mbps",
        "busiest_day",
        "ratio_capacity",
        "ratio_demand",
        "peak_hour_date",
        "peak_hour",
        "peak_hour_start",
        "peak_hour_mbps",
        "peak_hour_coverage",
    ]);
    for g in &r.regulator {
        let mut row = vec![
            g.fy.to_string(),
            g.complete.to_string(),
            g.days_with_data.to_string(),
            f(g.capacity_mbps),
            f(g.demand_mbps),
            f(g.busiest_mbps),
            s(g.busiest_day.as_deref()),
            f(g.ratio_capacity),
            f(g.ratio_demand),
        ];
        row.extend(hour_cells(g.peak_hour.as_ref()));
        o.row("regulator", row);
    }

    let z = &r.sizing;
    o.section(&[
        "fy",
        "peak_mbps",
        "headroom",
        "required_mbps",
        "units",
        "host",
        "name",
        "is_host",
        "status",
        "per_10mbps_yen",
        "monthly_yen",
        "yearly_yen",
    ]);
    for c in &z.costs {
        o.row(
            "costs",
            vec![
                z.fy.to_string(),
                f(z.peak_hour.as_ref().map(|p| p.mbps)),
                z.headroom.to_string(),
                f(z.required_mbps),
                u(z.units),
                c.host.clone(),
                c.name.clone(),
                c.is_host.to_string(),
                s(c.status.as_deref()),
                u(c.per_10mbps_yen),
                u(c.monthly_yen),
                u(c.yearly_yen),
            ],
        );
    }

    o.section(&["month", "fy", "lines", "per_line_yen", "monthly_yen"]);
    for l in &r.lines.months {
        o.row(
            "lines",
            vec![
                l.month.clone(),
                l.fy.to_string(),
                l.lines.to_string(),
                u(l.per_line_yen),
                u(l.monthly_yen),
            ],
        );
    }

    let fc = &r.forecast;
    o.section(&["month", "mbps"]);
    for h in &fc.history {
        o.row("forecast_history", vec![h.month.clone(), f(Some(h.mbps))]);
    }
    o.section(&["month", "mbps", "low_mbps", "high_mbps"]);
    for x in &fc.monthly {
        o.row(
            "forecast_monthly",
            vec![
                x.month.clone(),
                f(Some(x.mbps)),
                f(Some(x.low_mbps)),
                f(Some(x.high_mbps)),
            ],
        );
    }
    o.section(&[
        "fy",
        "month",
        "peak_mbps",
        "low_mbps",
        "high_mbps",
        "capacity_mbps",
        "units",
        "units_high",
        "per_10mbps_yen",
        "yearly_yen",
        "yearly_yen_high",
    ]);
    for y in &fc.years {
        o.row(
            "forecast_years",
            vec![
                y.fy.to_string(),
                y.month.clone(),
                f(Some(y.peak_mbps)),
                f(Some(y.low_mbps)),
                f(Some(y.high_mbps)),
                f(y.capacity_mbps),
                y.units.to_string(),
                y.units_high.to_string(),
                u(y.per_10mbps_yen),
                u(y.yearly_yen),
                u(y.yearly_yen_high),
            ],
        );
    }

    o.section(&["gateway", "start", "end", "from_local", "to_local"]);
    for g in &r.gaps {
        o.row(
            "gaps",
            vec![
                g.gateway.clone(),
                g.start.to_string(),
                g.end.to_string(),
                g.from_local.clone(),
                g.to_local.clone(),
            ],
        );
    }
    o.0
}
