//! The terminal rendering: sections of aligned tables.

use std::fmt::Write;

use super::{gb, grouped, hh, num, numeric, yen, MISSING};
use crate::report::{HourFigure, Report};

/// Aligned columns: a column whose cells are all numbers is right-aligned,
/// any other left-aligned.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let n = headers.len();
    let right: Vec<bool> = (0..n)
        .map(|i| i > 0 && rows.iter().all(|r| r.get(i).is_none_or(|c| numeric(c))))
        .collect();
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut s = String::from(" ");
        for (i, c) in cells.enumerate() {
            let pad = w[i].saturating_sub(c.chars().count());
            s.push_str("  ");
            if !right[i] {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied(), &mut out);
    let rule: Vec<String> = w.iter().map(|&x| "-".repeat(x)).collect();
    line(&mut rule.iter().map(String::as_str), &mut out);
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}

fn hour_cell(h: Option<&HourFigure>) -> String {
    match h {
        Some(h) if h.coverage < 0.999 => format!(
            "{} {} ({:.0} % measured)",
            h.date,
            hh(h.hour),
            h.coverage * 100.0
        ),
        Some(h) => format!("{} {}", h.date, hh(h.hour)),
        None => MISSING.to_string(),
    }
}

/// The report as text for a terminal.
pub fn text(r: &Report) -> String {
    let m = MISSING;
    let mut o = String::new();
    let s = &r.summary;
    let _ = writeln!(
        o,
        "Capacity report: POI {}, {}, {} .. {} ({})",
        r.poi,
        if r.dir == crate::Dir::Dl {
            "downlink"
        } else {
            "uplink"
        },
        r.first_day,
        r.last_day,
        r.timezone
    );
    let _ = writeln!(o, "Host network: {}\n", r.host.as_deref().unwrap_or(m));

    let _ = writeln!(o, "Summary");
    let mut rows = vec![
        vec![
            "days with data".into(),
            format!("{} of {}", s.days_with_data, s.days),
        ],
        vec!["volume".into(), format!("{} GB", gb(s.volume_bytes))],
    ];
    if let Some(p) = &s.peak_hour {
        rows.push(vec![
            "highest daily busy hour".into(),
            format!("{:.2} Mbit/s at {}", p.mbps, hour_cell(Some(p))),
        ]);
    }
    if let Some(w) = &s.busiest_60min {
        rows.push(vec![
            "busiest 60 minutes".into(),
            format!("{:.2} Mbit/s from {} {}", w.mbps, w.date, w.time),
        ]);
    }
    rows.push(vec![
        "time-consistent busy hour (E.500)".into(),
        s.tcbh
            .as_ref()
            .map(|t| {
                format!(
                    "{} at {:.2} Mbit/s over {} days",
                    hh(t.hour),
                    t.mbps,
                    t.days
                )
            })
            .unwrap_or_else(|| m.into()),
    ]);
    rows.push(vec![
        "average daily peak hour (E.500)".into(),
        format!("{} Mbit/s", num(s.adph_mbps, 2, m)),
    ]);
    rows.push(vec![
        "95th percentile of 5-minute means".into(),
        format!(
            "{} Mbit/s over {} intervals",
            num(s.p95_5min_mbps, 2, m),
            s.p95_intervals
        ),
    ]);
    o.push_str(&table(&["figure", "value"], &rows));

    let _ = writeln!(
        o,
        "\nRegulator's table (Mbit/s; \u{2462} = busy hour of the year's busiest day)"
    );
    let (headers, rows) = super::regulator_cells(r, "*", m);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    o.push_str(&table(&h, &rows));
    let _ = writeln!(o, "  * year not over at the period's end (figures to date)");

    let z = &r.sizing;
    let _ = writeln!(o, "\nCapacity needed and its charge (FY{} rates)", z.fy);
    let _ = writeln!(
        o,
        "  peak {} Mbit/s x (1 + {}) = {} Mbit/s -> {} units of 10 Mbit/s",
        num(z.peak_hour.as_ref().map(|p| p.mbps), 2, m),
        z.headroom,
        num(z.required_mbps, 2, m),
        z.units.map(|u| u.to_string()).unwrap_or_else(|| m.into())
    );
    let rows: Vec<Vec<String>> = z
        .costs
        .iter()
        .map(|c| {
            vec![
                format!("{}{}", c.name, if c.is_host { " (host)" } else { "" }),
                c.status.clone().unwrap_or_else(|| m.into()),
                yen(c.per_10mbps_yen, m),
                yen(c.monthly_yen, m),
                yen(c.yearly_yen, m),
            ]
        })
        .collect();
    o.push_str(&table(
        &[
            "host network",
            "rate",
            "yen/10 Mbit/s/month",
            "yen/month",
            "yen/year",
        ],
        &rows,
    ));

    let _ = writeln!(o, "\nPer-line charges: {}", r.lines.method);
    let rows: Vec<Vec<String>> = r
        .lines
        .months
        .iter()
        .map(|l| {
            vec![
                l.month.clone(),
                format!("FY{}", l.fy),
                grouped(l.lines as u64),
                yen(l.per_line_yen, m),
                yen(l.monthly_yen, m),
            ]
        })
        .collect();
    o.push_str(&table(
        &["month", "FY", "lines", "yen/line", "yen/month"],
        &rows,
    ));

    let f = &r.forecast;
    let _ = writeln!(o, "\nForecast of the busy-hour peak");
    let _ = writeln!(o, "  method: {}", f.method);
    if let Some(n) = &f.note {
        let _ = writeln!(o, "  {n}");
    }
    if let (Some(g), Some(sg)) = (f.growth_per_year, f.sigma_log) {
        let _ = writeln!(
            o,
            "  fitted on {} months: growth {:+.1} %/year, residual sigma {:.3} (log scale)",
            f.history.len(),
            g * 100.0,
            sg
        );
    }
    if !f.years.is_empty() {
        let rows: Vec<Vec<String>> = f
            .years
            .iter()
            .map(|y| {
                vec![
                    format!("FY{}", y.fy),
                    y.month.clone(),
                    format!("{:.2}", y.peak_mbps),
                    format!("{:.2} .. {:.2}", y.low_mbps, y.high_mbps),
                    num(y.capacity_mbps, 2, m),
                    format!("{} ({})", y.units, y.units_high),
                    yen(y.per_10mbps_yen, m),
                    format!("{} ({})", yen(y.yearly_yen, m), yen(y.yearly_yen_high, m)),
                ]
            })
            .collect();
        o.push_str(&table(
            &[
                "FY",
                "peak month",
                "Mbit/s",
                "95 % band",
                "\u{2460} Mbit/s",
                "units (high)",
                "yen/10M/mo",
                "yen/year (high)",
            ],
            &rows,
        ));
    }

    let spans = |title: &str, list: &[crate::report::SpanFigures], o: &mut String| {
        let _ = writeln!(o, "\n{title}");
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|x| {
                let b = x.busiest_day.as_ref();
                vec![
                    format!("{}{}", x.label, if x.complete { "" } else { "*" }),
                    format!("{}/{}", x.days_with_data, x.days),
                    b.map(|b| b.date.clone()).unwrap_or_else(|| m.into()),
                    b.map(|b| gb(b.volume_bytes)).unwrap_or_else(|| m.into()),
                    num(b.and_then(|b| b.busy_hour.as_ref()).map(|h| h.mbps), 2, m),
                    hour_cell(x.peak_hour.as_ref()),
                    num(x.peak_hour.as_ref().map(|h| h.mbps), 2, m),
                    grouped(x.sessions as u64),
                ]
            })
            .collect();
        o.push_str(&table(
            &[
                "",
                "days",
                "busiest day",
                "GB",
                "its busy hr Mbit/s",
                "highest busy hour",
                "Mbit/s",
                "sessions",
            ],
            &rows,
        ));
    };
    spans("Months (* = part of the month)", &r.months, &mut o);
    spans(
        "Fiscal years (* = part of the year)",
        &r.fiscal_years,
        &mut o,
    );

    let _ = writeln!(o, "\nDaily busy hour");
    let rows: Vec<Vec<String>> = r
        .days
        .iter()
        .map(|d| {
            let b = d.busy_hour.as_ref();
            let w = d.busiest_60min.as_ref();
            vec![
                format!("{} {}", d.date, d.weekday),
                gb(d.volume_bytes),
                format!("{:.0} %", d.coverage * 100.0),
                b.map(|b| hh(b.hour)).unwrap_or_else(|| m.into()),
                num(b.map(|b| b.mbps), 2, m),
                b.map(|b| format!("{:.0} %", b.coverage * 100.0))
                    .unwrap_or_else(|| m.into()),
                w.map(|w| w.time.clone()).unwrap_or_else(|| m.into()),
                num(w.map(|w| w.mbps), 2, m),
                grouped(d.sessions as u64),
            ]
        })
        .collect();
    o.push_str(&table(
        &[
            "day",
            "GB",
            "measured",
            "busy hour",
            "Mbit/s",
            "hour measured",
            "busiest 60 min",
            "Mbit/s",
            "sessions",
        ],
        &rows,
    ));

    if !r.gaps.is_empty() {
        let _ = writeln!(o, "\nGaps (nothing measured)");
        let rows: Vec<Vec<String>> = r
            .gaps
            .iter()
            .map(|g| vec![g.gateway.clone(), g.from_local.clone(), g.to_local.clone()])
            .collect();
        o.push_str(&table(&["gateway", "from", "to"], &rows));
    }
    let _ = writeln!(o, "\nNotes");
    for n in &r.notes {
        let _ = writeln!(o, "  - {n}");
    }
    o
}
