//! Draws a [`Report`] as a terminal table ([`text`]), CSV ([`csv`]), JSON
//! ([`json`]) or one self-contained HTML page with SVG charts ([`html`]).
//!
//! A missing figure (no data, no configured capacity, no rate for the
//! year) is never drawn as 0 or infinity: it is "—" in text and HTML, an
//! empty cell in CSV and `null` in JSON.

mod csv;
mod html;
mod text;

pub use self::csv::csv;
pub use self::html::html;
pub use self::text::text;

use crate::report::Report;

/// An output format of `upfctl report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables for a terminal.
    Text,
    /// Sections of CSV (see [`csv`]).
    Csv,
    /// The report model as JSON.
    Json,
    /// One HTML page with inline CSS and SVG charts.
    Html,
}

impl Format {
    /// Parses `text`, `csv`, `json` or `html`.
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" | "table" => Some(Format::Text),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Renders `r` in `format`.
pub fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Text => text(r),
        Format::Csv => csv(r),
        Format::Json => json(r),
        Format::Html => html(r),
    }
}

/// The report model as pretty-printed JSON (missing figures are `null`).
pub fn json(r: &Report) -> String {
    // Serializing plain structs of numbers and strings cannot fail; NaN never
    // reaches the model (every rate divides by a positive measured time).
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// "—" for a missing figure in text and HTML.
pub(crate) const MISSING: &str = "\u{2014}";

/// `v` with `dp` decimals, or `missing`.
pub(crate) fn num(v: Option<f64>, dp: usize, missing: &str) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.dp$}"),
        _ => missing.to_string(),
    }
}

/// An integer with thousands separators ("1,199,000").
pub(crate) fn grouped(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Yen with separators, or `missing`.
pub(crate) fn yen(v: Option<u64>, missing: &str) -> String {
    v.map(grouped).unwrap_or_else(|| missing.to_string())
}

/// Bytes as decimal gigabytes with two decimals.
pub(crate) fn gb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1e9)
}

/// A ratio as a percentage with one decimal, or `missing`.
pub(crate) fn pct(v: Option<f64>, missing: &str) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.1} %", v * 100.0),
        _ => missing.to_string(),
    }
}

/// Whether a cell reads as a number (digits, separators, units like %),
/// so it is right-aligned.
pub(crate) fn numeric(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || " .,:%-+()\u{2014}".contains(c))
}

/// "HH:00".
pub(crate) fn hh(hour: u32) -> String {
    format!("{hour:02}:00")
}

#[cfg(test)]
mod tests;

/// The regulator's table as cells, for the text and HTML renderers: the
/// header (fiscal years, an incomplete one followed by `to_date`) and one
/// row per figure, with `missing` where a figure is absent.
pub(crate) fn regulator_cells(
    r: &Report,
    to_date: &str,
    missing: &str,
) -> (Vec<String>, Vec<Vec<String>>) {
    let m = missing;
    let mut headers: Vec<String> = vec![String::new()];
    headers.extend(
        r.regulator
            .iter()
            .map(|g| format!("FY{}{}", g.fy, if g.complete { "" } else { to_date })),
    );
    let row = |name: &str, f: &dyn Fn(&crate::report::RegulatorRow) -> String| -> Vec<String> {
        let mut v = vec![name.to_string()];
        v.extend(r.regulator.iter().map(f));
        v
    };
    let rows = vec![
        row("\u{2460} capacity including redundancy", &|g| {
            num(g.capacity_mbps, 2, m)
        }),
        row("\u{2461} capacity used as charge demand", &|g| {
            num(g.demand_mbps, 2, m)
        }),
        row("\u{2462} busiest-hour traffic", &|g| {
            num(g.busiest_mbps, 2, m)
        }),
        row("busiest day", &|g| {
            g.busiest_day.clone().unwrap_or_else(|| m.into())
        }),
        row("\u{2462} / \u{2460}", &|g| pct(g.ratio_capacity, m)),
        row("\u{2462} / \u{2461}", &|g| pct(g.ratio_demand, m)),
        row("highest daily busy hour of the year", &|g| {
            num(g.peak_hour.as_ref().map(|p| p.mbps), 2, m)
        }),
        row("days with data", &|g| g.days_with_data.to_string()),
    ];
    (headers, rows)
}
