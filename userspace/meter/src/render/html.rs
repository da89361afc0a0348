//! The HTML rendering: one self-contained page (inline CSS, inline SVG, no
//! script, font or network fetch) with the report's tables and three charts:
//!
//! - `<svg id="chart-daily">`: each day's busy-hour mean (path `.busy`) and
//!   busiest 60 minutes (`.window`) against the configured capacity ①
//!   (`.capacity`) and charge demand ② (`.demand`);
//! - `<svg id="chart-profile">`: the mean of each hour of day, weekdays as
//!   bars (`rect.bar`), weekends as a line (`.weekend`);
//! - `<svg id="chart-forecast">`: the monthly peaks fitted on (`.history`),
//!   the forecast (`.forecast`) and its 95 % band (`.band`), with ① per
//!   fiscal year.
//!
//! Every text from the report (the POI's name above all) is escaped.

use std::fmt::Write;

use chrono::NaiveDate;

use super::{gb, grouped, hh, num, numeric, yen, MISSING};
use crate::calendar::{self, Calendar};
use crate::charges::FyPlan;
use crate::report::{HourFigure, Report, SpanFigures};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut o = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if c == MISSING {
                " class=\"missing\""
            } else if i > 0 && numeric(c) {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(o, "<td{class}>{}</td>", esc(c));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    o
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#1b1f24;background:#fff}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;margin-top:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}th{background:#f3f5f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.missing{text-align:center;color:#8c959f}
figure{margin:16px 0}figcaption{color:#57606a;font-size:.9em}
svg{background:#fff;border:1px solid #e1e4e8}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#424a53}
.grid{stroke:#e6e9ed;stroke-width:1}.axis{stroke:#8c959f;stroke-width:1}
.busy{fill:none;stroke:#1f5fbf;stroke-width:2}.busy-pt{fill:#1f5fbf}
.window{fill:none;stroke:#8fb3e8;stroke-width:1.5}
.capacity{fill:none;stroke:#c0392b;stroke-width:2}
.demand{fill:none;stroke:#e67e22;stroke-width:2;stroke-dasharray:6 4}
.bar{fill:#2e86c1}.weekend{fill:none;stroke:#7d3c98;stroke-width:2}.weekend-pt{fill:#7d3c98}
.history{fill:none;stroke:#1f5fbf;stroke-width:2}.history-pt{fill:#1f5fbf}
.forecast{fill:none;stroke:#117a65;stroke-width:2;stroke-dasharray:5 3}
.band{fill:#a3e4d7;fill-opacity:.55;stroke:none}
.note{fill:#8c959f}
details{margin-top:1.8em}summary{cursor:pointer;font-weight:600}
";

/// A plot area: data coordinates to SVG coordinates.
struct Plot {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x0: f64,
    x1: f64,
    y1: f64,
}

impl Plot {
    fn new(w: f64, h: f64, x0: f64, x1: f64, y1: f64) -> Plot {
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let y1 = if y1 > 0.0 && y1.is_finite() { y1 } else { 1.0 };
        Plot {
            w,
            h,
            left: 64.0,
            right: 16.0,
            top: 34.0,
            bottom: 40.0,
            x0,
            x1,
            y1: nice_max(y1),
        }
    }

    fn x(&self, v: f64) -> f64 {
        self.left + (v - self.x0) / (self.x1 - self.x0) * (self.w - self.left - self.right)
    }

    fn y(&self, v: f64) -> f64 {
        self.h - self.bottom - v / self.y1 * (self.h - self.top - self.bottom)
    }

    fn open(&self, id: &str, title: &str) -> String {
        format!(
            "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\"><title>{t}</title>",
            w = self.w,
            h = self.h,
            t = esc(title)
        )
    }

    /// Grid, y ticks in Mbit/s, and the given x ticks.
    fn axes(&self, o: &mut String, xticks: &[(f64, String)]) {
        let step = nice_step(self.y1);
        let mut v = 0.0;
        while v <= self.y1 + step * 1e-6 {
            let y = self.y(v);
            let _ = write!(
                o,
                "<line class=\"grid\" x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                self.left,
                self.w - self.right,
                self.left - 6.0,
                y + 4.0,
                fmt_tick(v, step)
            );
            v += step;
        }
        let _ = write!(
            o,
            "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">Mbit/s</text>",
            self.h / 2.0,
            self.h / 2.0
        );
        for (x, label) in xticks {
            let px = self.x(*x);
            let _ = write!(
                o,
                "<line class=\"axis\" x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                self.h - self.bottom,
                self.h - self.bottom + 5.0,
                self.h - self.bottom + 18.0,
                esc(label)
            );
        }
        let _ = write!(
            o,
            "<line class=\"axis\" x1=\"{l:.1}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\"/><line class=\"axis\" x1=\"{l:.1}\" y1=\"{t:.1}\" x2=\"{l:.1}\" y2=\"{b:.1}\"/>",
            l = self.left,
            r = self.w - self.right,
            t = self.top,
            b = self.h - self.bottom
        );
    }

    /// A path through the points, broken where a point is missing.
    fn path(&self, points: impl IntoIterator<Item = Option<(f64, f64)>>) -> String {
        let mut d = String::new();
        let mut pen = false;
        for p in points {
            match p {
                Some((x, y)) if y.is_finite() => {
                    let _ = write!(
                        d,
                        "{}{:.1} {:.1} ",
                        if pen { "L" } else { "M" },
                        self.x(x),
                        self.y(y)
                    );
                    pen = true;
                }
                _ => pen = false,
            }
        }
        d.trim_end().to_string()
    }

    fn legend(&self, o: &mut String, items: &[(&str, &str)]) {
        let mut x = self.left;
        for (class, label) in items {
            if *class == "bar" || *class == "band" {
                let _ = write!(
                    o,
                    "<rect class=\"{class}\" x=\"{:.1}\" y=\"10\" width=\"22\" height=\"12\"/>",
                    x
                );
            } else {
                let _ = write!(
                    o,
                    "<path class=\"{class}\" d=\"M{:.1} 16 L{:.1} 16\"/>",
                    x,
                    x + 22.0
                );
            }
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"20\">{}</text>",
                x + 27.0,
                esc(label)
            );
            x += 40.0 + label.chars().count() as f64 * 6.6;
        }
    }
}

fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

fn nice_max(max: f64) -> f64 {
    let step = nice_step(max);
    (max / step).ceil() * step
}

fn fmt_tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let dp = (-step.log10().floor()) as usize + 1;
        format!("{v:.dp$}")
    }
}

/// ① and ② of a fiscal year.
type CapDem = (Option<f64>, Option<f64>);

fn capacity_of(plans: &[FyPlan], fy: i32) -> CapDem {
    plans
        .iter()
        .find(|p| p.fy == fy)
        .map_or((None, None), |p| (p.capacity_mbps, p.demand_mbps))
}

fn chart_daily(r: &Report) -> String {
    let n = r.days.len();
    let dates: Vec<Option<NaiveDate>> = r
        .days
        .iter()
        .map(|d| NaiveDate::parse_from_str(&d.date, "%Y-%m-%d").ok())
        .collect();
    let caps: Vec<CapDem> = dates
        .iter()
        .map(|d| {
            d.map_or((None, None), |d| {
                capacity_of(&r.capacity, Calendar::fiscal_year(d))
            })
        })
        .collect();
    let mut ymax: f64 = 0.0;
    for d in &r.days {
        ymax = ymax.max(d.busy_hour.as_ref().map_or(0.0, |b| b.mbps));
        ymax = ymax.max(d.busiest_60min.as_ref().map_or(0.0, |w| w.mbps));
    }
    for (c, dm) in &caps {
        ymax = ymax.max(c.unwrap_or(0.0)).max(dm.unwrap_or(0.0));
    }
    let p = Plot::new(1040.0, 340.0, -0.5, n as f64 - 0.5, ymax * 1.08);
    let mut o = p.open("chart-daily", &format!("Daily busy hour of {}", r.poi));
    let every = (n / 12).max(1);
    let ticks: Vec<(f64, String)> = dates
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let d = (*d)?;
            let label = if n > 62 {
                (chrono::Datelike::day(&d) == 1).then(|| d.format("%Y-%m").to_string())
            } else {
                (i % every == 0).then(|| d.format("%m-%d").to_string())
            };
            label.map(|l| (i as f64, l))
        })
        .collect();
    p.axes(&mut o, &ticks);
    let step = |sel: fn(&CapDem) -> Option<f64>| {
        // A step line: each day's value held across the day.
        let mut pts = Vec::new();
        for (i, c) in caps.iter().enumerate() {
            match sel(c) {
                Some(v) => {
                    pts.push(Some((i as f64 - 0.5, v)));
                    pts.push(Some((i as f64 + 0.5, v)));
                }
                None => pts.push(None),
            }
        }
        pts
    };
    let cap = p.path(step(|c| c.0));
    if !cap.is_empty() {
        let _ = write!(o, "<path class=\"capacity\" d=\"{cap}\"/>");
    }
    let dem = p.path(step(|c| c.1));
    if !dem.is_empty() {
        let _ = write!(o, "<path class=\"demand\" d=\"{dem}\"/>");
    }
    let win = p.path(
        r.days
            .iter()
            .enumerate()
            .map(|(i, d)| d.busiest_60min.as_ref().map(|w| (i as f64, w.mbps))),
    );
    if !win.is_empty() {
        let _ = write!(o, "<path class=\"window\" d=\"{win}\"/>");
    }
    let busy = p.path(
        r.days
            .iter()
            .enumerate()
            .map(|(i, d)| d.busy_hour.as_ref().map(|b| (i as f64, b.mbps))),
    );
    let _ = write!(o, "<path class=\"busy\" d=\"{busy}\"/>");
    if n <= 120 {
        for (i, d) in r.days.iter().enumerate() {
            if let Some(b) = &d.busy_hour {
                let _ = write!(
                    o,
                    "<circle class=\"busy-pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"><title>{} {} {:.2} Mbit/s</title></circle>",
                    p.x(i as f64),
                    p.y(b.mbps),
                    esc(&d.date),
                    hh(b.hour),
                    b.mbps
                );
            }
        }
    }
    p.legend(
        &mut o,
        &[
            ("busy", "busy hour"),
            ("window", "busiest 60 min"),
            ("capacity", "\u{2460} capacity"),
            ("demand", "\u{2461} charge demand"),
        ],
    );
    o.push_str("</svg>");
    o
}

fn chart_profile(r: &Report) -> String {
    let wk = &r.profile.weekday;
    let we = &r.profile.weekend;
    let ymax = wk
        .iter()
        .chain(we.iter())
        .flatten()
        .fold(0.0f64, |a, &b| a.max(b));
    let p = Plot::new(1040.0, 300.0, -0.5, 23.5, ymax * 1.08);
    let mut o = p.open("chart-profile", "Mean rate by hour of day");
    let ticks: Vec<(f64, String)> = (0..24)
        .step_by(2)
        .map(|h| (h as f64, format!("{h:02}")))
        .collect();
    p.axes(&mut o, &ticks);
    let bw = (p.x(1.0) - p.x(0.0)) * 0.7;
    for (h, v) in wk.iter().enumerate() {
        if let Some(v) = v {
            let y = p.y(*v);
            let _ = write!(
                o,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\"><title>{:02}:00 weekdays {:.2} Mbit/s</title></rect>",
                p.x(h as f64) - bw / 2.0,
                (p.y(0.0) - y).max(0.0),
                h,
                v
            );
        }
    }
    let wpath = p.path(we.iter().enumerate().map(|(h, v)| v.map(|v| (h as f64, v))));
    if !wpath.is_empty() {
        let _ = write!(o, "<path class=\"weekend\" d=\"{wpath}\"/>");
        for (h, v) in we.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    o,
                    "<circle class=\"weekend-pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>",
                    p.x(h as f64),
                    p.y(*v)
                );
            }
        }
    }
    p.legend(
        &mut o,
        &[("bar", "weekdays (Mon-Fri)"), ("weekend", "weekends")],
    );
    o.push_str("</svg>");
    o
}

fn month_x(label: &str) -> Option<f64> {
    let (y, m) = label.split_once('-')?;
    Some(calendar::month_index(y.parse().ok()?, m.parse().ok()?) as f64)
}

fn chart_forecast(r: &Report) -> String {
    let f = &r.forecast;
    let hist: Vec<(f64, f64)> = f
        .history
        .iter()
        .filter_map(|h| Some((month_x(&h.month)?, h.mbps)))
        .collect();
    let fc: Vec<(f64, f64, f64, f64)> = f
        .monthly
        .iter()
        .filter_map(|m| Some((month_x(&m.month)?, m.mbps, m.low_mbps, m.high_mbps)))
        .collect();
    let xs = hist.iter().map(|p| p.0).chain(fc.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (x0, x1) = if x0.is_finite() {
        (x0 - 0.5, x1 + 0.5)
    } else {
        (0.0, 1.0)
    };
    // Capacity of each month's fiscal year, over the whole range.
    let mut caps: Vec<(f64, f64)> = Vec::new();
    if x0.is_finite() {
        let mut k = (x0 + 0.5) as i64;
        while (k as f64) <= x1 - 0.5 {
            let (y, m) = calendar::month_of_index(k);
            let fy = if m >= 4 { y } else { y - 1 };
            if let (Some(c), _) = capacity_of(&r.capacity, fy) {
                caps.push((k as f64, c));
            }
            k += 1;
        }
    }
    let ymax = hist
        .iter()
        .map(|p| p.1)
        .chain(fc.iter().map(|p| p.3))
        .chain(caps.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let p = Plot::new(1040.0, 320.0, x0, x1, ymax * 1.08);
    let mut o = p.open("chart-forecast", "Monthly peak and forecast");
    let ticks: Vec<(f64, String)> = ((x0 + 0.5) as i64..=(x1 - 0.5) as i64)
        .filter(|k| k.rem_euclid(12) == 3)
        .map(|k| (k as f64, format!("FY{}", calendar::month_of_index(k).0)))
        .collect();
    p.axes(&mut o, &ticks);
    if !fc.is_empty() {
        let mut d = String::new();
        for (i, q) in fc.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1} ",
                if i == 0 { "M" } else { "L" },
                p.x(q.0),
                p.y(q.3)
            );
        }
        for q in fc.iter().rev() {
            let _ = write!(d, "L{:.1} {:.1} ", p.x(q.0), p.y(q.2));
        }
        d.push('Z');
        let _ = write!(o, "<path class=\"band\" d=\"{d}\"/>");
    }
    if !caps.is_empty() {
        let pts = caps
            .iter()
            .flat_map(|&(k, c)| [Some((k - 0.5, c)), Some((k + 0.5, c))]);
        let _ = write!(o, "<path class=\"capacity\" d=\"{}\"/>", p.path(pts));
    }
    if !fc.is_empty() {
        // Join the forecast to the last month of history.
        let start = hist.last().map(|&(x, y)| Some((x, y)));
        let d = p.path(start.into_iter().chain(fc.iter().map(|q| Some((q.0, q.1)))));
        let _ = write!(o, "<path class=\"forecast\" d=\"{d}\"/>");
    }
    if !hist.is_empty() {
        let _ = write!(
            o,
            "<path class=\"history\" d=\"{}\"/>",
            p.path(hist.iter().map(|&q| Some(q)))
        );
        for (h, &(x, y)) in f.history.iter().zip(&hist) {
            let _ = write!(
                o,
                "<circle class=\"history-pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{} {:.2} Mbit/s</title></circle>",
                p.x(x),
                p.y(y),
                esc(&h.month),
                y
            );
        }
    }
    if let Some(n) = &f.note {
        let _ = write!(
            o,
            "<text class=\"note\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            p.left + 12.0,
            p.top + 24.0,
            esc(n)
        );
    }
    p.legend(
        &mut o,
        &[
            ("history", "monthly peak (highest daily busy hour)"),
            ("forecast", "forecast"),
            ("band", "95 % band"),
            ("capacity", "\u{2460} capacity"),
        ],
    );
    o.push_str("</svg>");
    o
}

fn hour_text(h: Option<&HourFigure>) -> String {
    match h {
        Some(h) if h.coverage < 0.999 => {
            format!(
                "{} {} ({:.0} % measured)",
                h.date,
                hh(h.hour),
                h.coverage * 100.0
            )
        }
        Some(h) => format!("{} {}", h.date, hh(h.hour)),
        None => MISSING.to_string(),
    }
}

fn spans(list: &[SpanFigures]) -> String {
    let m = MISSING;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|x| {
            let b = x.busiest_day.as_ref();
            vec![
                format!("{}{}", x.label, if x.complete { "" } else { " (part)" }),
                format!("{}/{}", x.days_with_data, x.days),
                b.map(|b| b.date.clone()).unwrap_or_else(|| m.into()),
                b.map(|b| gb(b.volume_bytes)).unwrap_or_else(|| m.into()),
                num(b.and_then(|b| b.busy_hour.as_ref()).map(|h| h.mbps), 2, m),
                hour_text(x.peak_hour.as_ref()),
                num(x.peak_hour.as_ref().map(|h| h.mbps), 2, m),
                grouped(x.sessions as u64),
            ]
        })
        .collect();
    table(
        &[
            "",
            "days with data",
            "busiest day",
            "its volume (GB)",
            "its busy hour (Mbit/s)",
            "highest daily busy hour",
            "Mbit/s",
            "peak sessions",
        ],
        &rows,
    )
}

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let m = MISSING;
    let s = &r.summary;
    let dir = if r.dir == crate::Dir::Dl {
        "downlink"
    } else {
        "uplink"
    };
    let mut o = String::with_capacity(256 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Capacity report: {poi}</title><style>{STYLE}</style></head><body>",
        poi = esc(&r.poi)
    );
    let _ = write!(
        o,
        "<h1>Capacity report: POI {}</h1><p class=\"meta\">{} &middot; {} to {} ({}) &middot; host network: {}</p>",
        esc(&r.poi),
        dir,
        esc(&r.first_day),
        esc(&r.last_day),
        esc(&r.timezone),
        esc(r.host.as_deref().unwrap_or(m))
    );

    o.push_str("<section id=\"summary\"><h2>Summary</h2>");
    let rows = vec![
        vec![
            "days with data".into(),
            format!("{} of {}", s.days_with_data, s.days),
        ],
        vec!["volume".into(), format!("{} GB", gb(s.volume_bytes))],
        vec![
            "highest daily busy hour".into(),
            s.peak_hour.as_ref().map_or(m.into(), |p| {
                format!("{:.2} Mbit/s at {}", p.mbps, hour_text(Some(p)))
            }),
        ],
        vec![
            "busiest 60 minutes".into(),
            s.busiest_60min.as_ref().map_or(m.into(), |w| {
                format!("{:.2} Mbit/s from {} {}", w.mbps, w.date, w.time)
            }),
        ],
        vec![
            "time-consistent busy hour (ITU-T E.500)".into(),
            s.tcbh.as_ref().map_or(m.into(), |t| {
                format!(
                    "{} at {:.2} Mbit/s over {} days",
                    hh(t.hour),
                    t.mbps,
                    t.days
                )
            }),
        ],
        vec![
            "average daily peak hour (E.500)".into(),
            format!("{} Mbit/s", num(s.adph_mbps, 2, m)),
        ],
        vec![
            "95th percentile of 5-minute means".into(),
            format!(
                "{} Mbit/s over {} intervals",
                num(s.p95_5min_mbps, 2, m),
                s.p95_intervals
            ),
        ],
    ];
    o.push_str(&table(&["figure", "value"], &rows));
    o.push_str("</section>");

    o.push_str("<section id=\"charts\"><h2>Charts</h2>");
    let _ = write!(
        o,
        "<figure>{}<figcaption>Each day's busy hour (clock hour with the highest mean) and busiest 60 minutes against the configured capacity.</figcaption></figure>",
        chart_daily(r)
    );
    let _ = write!(
        o,
        "<figure>{}<figcaption>Mean rate of each hour of day over the period: weekdays (bars) and weekends (line).</figcaption></figure>",
        chart_profile(r)
    );
    let _ = write!(
        o,
        "<figure>{}<figcaption>Monthly peaks, the fitted forecast and its 95 % prediction band.</figcaption></figure>",
        chart_forecast(r)
    );
    o.push_str("</section>");

    o.push_str("<section id=\"regulator\"><h2>Regulator's table (Mbit/s)</h2>");
    let (headers, rows) = super::regulator_cells(r, " (to date)", m);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    o.push_str(&table(&h, &rows));
    o.push_str("<p>\u{2462} is the busy hour of the year's busiest day (the day with the most traffic).</p></section>");

    let z = &r.sizing;
    let _ = write!(
        o,
        "<section id=\"sizing\"><h2>Capacity needed and its charge (FY{} rates)</h2><p>Peak {} Mbit/s &times; (1 + {}) = {} Mbit/s &rarr; <b>{}</b> units of 10 Mbit/s.</p>",
        z.fy,
        num(z.peak_hour.as_ref().map(|p| p.mbps), 2, m),
        z.headroom,
        num(z.required_mbps, 2, m),
        z.units.map_or(m.to_string(), |u| u.to_string())
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
            "yen per 10 Mbit/s per month",
            "yen per month",
            "yen per year",
        ],
        &rows,
    ));
    let _ = write!(
        o,
        "<h3>Per-line charges</h3><p>{}</p>",
        esc(&r.lines.method)
    );
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
        &[
            "month",
            "fiscal year",
            "lines",
            "yen per line",
            "yen per month",
        ],
        &rows,
    ));
    o.push_str("</section>");

    let f = &r.forecast;
    let _ = write!(
        o,
        "<section id=\"forecast\"><h2>Forecast</h2><p>Method: {}.</p>",
        esc(&f.method)
    );
    if let Some(n) = &f.note {
        let _ = write!(o, "<p><b>{}</b></p>", esc(n));
    }
    if let (Some(g), Some(sg)) = (f.growth_per_year, f.sigma_log) {
        let _ = write!(
            o,
            "<p>Fitted on {} months: growth {:+.1} % per year, residual &sigma; {:.3} on the log scale.</p>",
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
                    format!("{:.2} – {:.2}", y.low_mbps, y.high_mbps),
                    num(y.capacity_mbps, 2, m),
                    format!("{} ({})", y.units, y.units_high),
                    yen(y.per_10mbps_yen, m),
                    yen(y.yearly_yen, m),
                    yen(y.yearly_yen_high, m),
                ]
            })
            .collect();
        o.push_str(&table(
            &[
                "fiscal year",
                "peak month",
                "peak Mbit/s",
                "95 % band",
                "\u{2460} configured",
                "units (upper band)",
                "yen per 10 Mbit/s",
                "yen per year",
                "yen per year (upper band)",
            ],
            &rows,
        ));
    }
    o.push_str("</section>");

    let _ = write!(
        o,
        "<section id=\"months\"><h2>Months</h2>{}</section>",
        spans(&r.months)
    );
    let _ = write!(
        o,
        "<section id=\"fiscal-years\"><h2>Fiscal years</h2>{}</section>",
        spans(&r.fiscal_years)
    );

    let _ = write!(
        o,
        "<details id=\"days\"><summary>Daily busy hour ({} days)</summary>",
        r.days.len()
    );
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
                b.map_or(m.into(), |b| hh(b.hour)),
                num(b.map(|b| b.mbps), 2, m),
                b.map_or(m.into(), |b| format!("{:.0} %", b.coverage * 100.0)),
                w.map_or(m.into(), |w| w.time.clone()),
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
            "busiest 60 min from",
            "Mbit/s",
            "sessions",
        ],
        &rows,
    ));
    o.push_str("</details>");

    if !r.gaps.is_empty() {
        o.push_str("<section id=\"gaps\"><h2>Gaps (nothing measured)</h2>");
        let rows: Vec<Vec<String>> = r
            .gaps
            .iter()
            .map(|g| vec![g.gateway.clone(), g.from_local.clone(), g.to_local.clone()])
            .collect();
        o.push_str(&table(&["gateway", "from", "to"], &rows));
        o.push_str("</section>");
    }
    o.push_str("<section id=\"notes\"><h2>Notes</h2><ul>");
    for n in &r.notes {
        let _ = write!(o, "<li>{}</li>", esc(n));
    }
    o.push_str("</ul></section></body></html>\n");
    o
}
