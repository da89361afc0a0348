//! The capacity report of one POI and direction: pure computation from
//! minute and hour [`Row`]s to a [`Report`] that [`crate::render`] draws.
//!
//! [`build`] asks a [`Source`] for exactly what it needs: minute rows of
//! the requested period, and hour rows from the start of the fiscal year
//! two years before the period's last one (the regulator's three years and
//! the forecast's history). A day is computed from its minute rows when it
//! has any, else from its hour rows.
//!
//! # Definitions
//!
//! - **Period**: [from, to) widened to whole local days.
//! - **Clock hours** of a day are those of [`crate::calendar`]. Hour rows
//!   are aligned to UTC hours, so they give exact local clock hours only in
//!   zones whose offset is a whole number of hours (Japan is); elsewhere
//!   each hour row is counted in the clock hour its start falls in. Minute
//!   rows are exact in every zone.
//! - **Coverage and gaps**: an interval's rate is its bytes over its
//!   *measured* seconds (rows carry `covered`); an interval with no row is
//!   absent, never zero. A clock hour or a 60-minute window takes part in
//!   busy-hour choices only when at least half of it was measured
//!   ([`MIN_COVERAGE`]); its coverage is reported beside its rate.
//! - **Daily busy hour**: the clock hour of the day with the highest mean
//!   rate (for fully measured hours: the most bytes). Ties go to the
//!   earliest hour.
//! - **Busiest 60 minutes** of a day: over the windows of 60 consecutive
//!   minutes starting on each minute of the day and ending within it, the
//!   one with the highest mean rate over its measured seconds (at least
//!   half measured); ties go to the earliest. Only days with minute rows have it.
//! - **Time-consistent busy hour** (ITU-T E.500): the hour of day whose mean
//!   rate, averaged over the period's days on which it was measured, is the
//!   highest (ties: earliest). **ADPH** (average daily peak hour, E.500):
//!   the mean over the period's days of each day's busy-hour rate.
//! - **95th percentile**: of the 5-minute means (intervals aligned on
//!   multiples of 300 s), nearest rank; an interval with no row is left
//!   out, a partly measured one is its bytes over its measured seconds.
//!   Only days with minute rows contribute.
//! - **Busiest day** of a month or fiscal year (the regulator's
//!   definition): the day with the most bytes (ties: earliest); its busy
//!   hour's rate is the year's ③. The highest daily busy hour of the span
//!   (`peak_hour`) is shown beside it, as it may fall on another day.
//! - **Units**: ⌈peak × (1 + headroom) / 10 Mbit/s⌉, where the peak is the
//!   period's highest daily busy hour; charges at the rates of the fiscal
//!   year the period ends in. A rate missing from the charge table is shown
//!   missing: no other year's rate is carried over.
//! - **Lines**: estimated as each month's peak concurrent sessions (the
//!   most sessions installed at once), a lower bound of the lines billed,
//!   since a line with no PDN connection/PDU session holds no session.
//! - **Forecast**: see [`FORECAST_METHOD`].

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::calendar::{self, Calendar};
use crate::charges::{ChargeTable, ConfigError, FyPlan, PoiPlan, ReportSettings};
use crate::{percentile, Dir, Gap, Row};

pub use crate::charges::MIN_COVERAGE;

/// The fewest complete months with data the forecast fits on.
pub const MIN_FORECAST_MONTHS: usize = 6;

/// How the forecast is made, as printed in every report.
pub const FORECAST_METHOD: &str = "exponential trend: ordinary least squares of ln(monthly peak) on the month \
index, over the complete months (at least 2/3 of their days measured) of the last three fiscal years; \
monthly peak = the month's highest daily busy-hour mean; band = 95 % prediction interval of OLS on the \
log scale (Student t with n-2 degrees of freedom x residual standard error x sqrt(1 + 1/n + (x - mean x)^2 / Sxx)), \
so it widens with the distance from the history; a fiscal year's forecast peak is the highest of its \
twelve monthly forecasts, with that month's band";

/// Where the report's rows come from: one POI and direction (the caller
/// binds them, e.g. over a [`crate::store::Store`]).
pub trait Source {
    /// Rows of resolution `secs` (60 or 3600) starting in [from, to), oldest first.
    fn rows(&mut self, secs: u32, from: i64, to: i64) -> Result<Vec<Row>, String>;
    /// Gaps (the gateway measured nothing) overlapping [from, to).
    fn gaps(&mut self, from: i64, to: i64) -> Result<Vec<Gap>, String>;
}

/// A [`Source`] over a [`crate::store::Store`]: one POI and direction,
/// summed over `gateways` (every gateway when empty).
pub struct StoreSource<'a> {
    /// The store.
    pub store: &'a mut dyn crate::store::Store,
    /// Gateways to sum (empty: all).
    pub gateways: Vec<String>,
    /// The POI.
    pub poi: String,
    /// The direction.
    pub dir: Dir,
}

impl Source for StoreSource<'_> {
    fn rows(&mut self, secs: u32, from: i64, to: i64) -> Result<Vec<Row>, String> {
        self.store
            .rows(&self.gateways, &self.poi, self.dir, secs, from, to)
            .map_err(|e| e.to_string())
    }

    fn gaps(&mut self, from: i64, to: i64) -> Result<Vec<Gap>, String> {
        self.store
            .gaps(&self.gateways, from, to)
            .map_err(|e| e.to_string())
    }
}

/// A [`Source`] over rows in memory (tests, benchmarks, imports).
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    /// Minute rows, oldest first.
    pub minutes: Vec<Row>,
    /// Hour rows, oldest first.
    pub hours: Vec<Row>,
    /// Gaps.
    pub gaps: Vec<Gap>,
}

impl MemSource {
    /// A source of `minutes` (sorted here) and the UTC hour rows rolled up
    /// from them, as the store rolls them up.
    pub fn from_minutes(mut minutes: Vec<Row>) -> MemSource {
        minutes.sort_by_key(|r| r.start);
        let hours = hour_rows(&minutes);
        MemSource {
            minutes,
            hours,
            gaps: Vec::new(),
        }
    }
}

/// Rolls minute rows (sorted) up into UTC hour rows: bytes, packets and
/// covered add up; sessions, `max_bps` and `p95_bps` take the highest
/// (`p95_bps` is therefore an upper bound).
pub fn hour_rows(minutes: &[Row]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for m in minutes {
        let start = m.start.div_euclid(3600) * 3600;
        match out.last_mut() {
            Some(h) if h.start == start => {
                h.covered += m.covered;
                h.bytes += m.bytes;
                h.packets += m.packets;
                h.max_bps = h.max_bps.max(m.max_bps);
                h.p95_bps = h.p95_bps.max(m.p95_bps);
                h.sessions = h.sessions.max(m.sessions);
            }
            _ => out.push(Row {
                start,
                secs: 3600,
                ..*m
            }),
        }
    }
    out
}

fn in_range(rows: &[Row], from: i64, to: i64) -> Vec<Row> {
    let a = rows.partition_point(|r| r.start < from);
    let b = rows.partition_point(|r| r.start < to);
    rows[a..b.max(a)].to_vec()
}

impl Source for MemSource {
    fn rows(&mut self, secs: u32, from: i64, to: i64) -> Result<Vec<Row>, String> {
        match secs {
            60 => Ok(in_range(&self.minutes, from, to)),
            3600 => Ok(in_range(&self.hours, from, to)),
            _ => Err(format!("no rows of {secs} s")),
        }
    }

    fn gaps(&mut self, from: i64, to: i64) -> Result<Vec<Gap>, String> {
        Ok(self
            .gaps
            .iter()
            .filter(|g| g.end > from && g.start < to)
            .cloned()
            .collect())
    }
}

/// What to report on.
#[derive(Clone, Copy, Debug)]
pub struct ReportInput<'a> {
    /// The POI's name (shown, not looked up: the [`Source`] is already bound to it).
    pub poi: &'a str,
    /// The direction.
    pub dir: Dir,
    /// Time zone and headroom.
    pub settings: &'a ReportSettings,
    /// The POI's host network and capacities.
    pub plan: &'a PoiPlan,
    /// The charge table.
    pub charges: &'a ChargeTable,
    /// Start of the period, Unix seconds (widened to its local midnight).
    pub from: i64,
    /// End of the period, exclusive (widened to the next local midnight).
    pub to: i64,
    /// When the report is made (shown; the report never reads the clock).
    pub now: i64,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The settings or the POI's plan are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source failed.
    #[error("reading rows: {0}")]
    Source(String),
    /// `to` is not after `from`.
    #[error("empty period: from {from} is not before to {to}")]
    EmptyPeriod {
        /// As given.
        from: i64,
        /// As given.
        to: i64,
    },
    /// Nothing was measured in the period.
    #[error("no data for POI {poi:?} ({dir}) from {first_day} to {last_day} ({timezone})")]
    NoData {
        /// The POI.
        poi: String,
        /// The direction.
        dir: Dir,
        /// First local day of the period.
        first_day: String,
        /// Last local day of the period (inclusive).
        last_day: String,
        /// The zone of those days.
        timezone: String,
    },
}

/// A clock hour: its start, hour of day, mean rate and coverage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HourFigure {
    /// The local day.
    pub date: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// Local hour of day (0..=23) it starts at.
    pub hour: u32,
    /// Mean rate over its measured seconds, Mbit/s.
    pub mbps: f64,
    /// Fraction of it measured (0.5..=1).
    pub coverage: f64,
}

/// A 60-minute window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowFigure {
    /// The local day.
    pub date: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// Local start time, "HH:MM".
    pub time: String,
    /// Mean rate over its measured seconds, Mbit/s.
    pub mbps: f64,
    /// Fraction of it measured (0.5..=1).
    pub coverage: f64,
}

/// One local day of the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayFigures {
    /// The local date, YYYY-MM-DD.
    pub date: String,
    /// "Mon" .. "Sun".
    pub weekday: String,
    /// Bytes measured.
    pub volume_bytes: u64,
    /// Fraction of the day measured.
    pub coverage: f64,
    /// The busy hour (absent when no clock hour was half measured).
    pub busy_hour: Option<HourFigure>,
    /// The busiest 60 minutes (days with minute rows only).
    pub busiest_60min: Option<WindowFigure>,
    /// Most sessions installed at once.
    pub sessions: u32,
    /// `"minutes"` or `"hours"`: the rows the day was computed from.
    pub rows: &'static str,
}

/// The E.500 time-consistent busy hour.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tcbh {
    /// Local hour of day.
    pub hour: u32,
    /// Its mean rate averaged over the days, Mbit/s.
    pub mbps: f64,
    /// Days on which that hour was measured.
    pub days: usize,
}

/// Figures over the whole period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Days in the period.
    pub days: usize,
    /// Days with any measurement.
    pub days_with_data: usize,
    /// Bytes measured.
    pub volume_bytes: u64,
    /// The time-consistent busy hour.
    pub tcbh: Option<Tcbh>,
    /// Average daily peak hour, Mbit/s.
    pub adph_mbps: Option<f64>,
    /// The highest daily busy hour.
    pub peak_hour: Option<HourFigure>,
    /// The busiest 60 minutes.
    pub busiest_60min: Option<WindowFigure>,
    /// 95th percentile of 5-minute means, Mbit/s.
    pub p95_5min_mbps: Option<f64>,
    /// 5-minute intervals it was taken over.
    pub p95_intervals: usize,
}

/// The mean rate of each hour of day, Mbit/s (`None`: never measured).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Monday to Friday (national holidays are not taken out).
    pub weekday: Vec<Option<f64>>,
    /// Saturday and Sunday.
    pub weekend: Vec<Option<f64>>,
}

/// The day with the most bytes in a month or fiscal year.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BusiestDay {
    /// The local date.
    pub date: String,
    /// Its bytes.
    pub volume_bytes: u64,
    /// Fraction of it measured.
    pub coverage: f64,
    /// Its busy hour.
    pub busy_hour: Option<HourFigure>,
}

/// A month or a fiscal year.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanFigures {
    /// "2026-04" or "FY2026".
    pub label: String,
    /// First local day considered.
    pub first_day: String,
    /// Last local day considered.
    pub last_day: String,
    /// Days considered.
    pub days: usize,
    /// Days with data.
    pub days_with_data: usize,
    /// Whether the whole month/year lies in what was considered.
    pub complete: bool,
    /// The day with the most bytes.
    pub busiest_day: Option<BusiestDay>,
    /// The highest daily busy hour.
    pub peak_hour: Option<HourFigure>,
    /// Most sessions installed at once.
    pub sessions: u32,
}

/// A column of the regulator's table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegulatorRow {
    /// The fiscal year.
    pub fy: i32,
    /// Days of the year with data (up to the period's end).
    pub days_with_data: usize,
    /// Whether the year had ended by the period's end.
    pub complete: bool,
    /// ① capacity including redundancy, Mbit/s (configuration).
    pub capacity_mbps: Option<f64>,
    /// ② capacity used as charge demand, Mbit/s (configuration).
    pub demand_mbps: Option<f64>,
    /// ③ busiest-hour traffic: the busy hour of the year's busiest day, Mbit/s.
    pub busiest_mbps: Option<f64>,
    /// The busiest day.
    pub busiest_day: Option<String>,
    /// The year's highest daily busy hour (may be another day).
    pub peak_hour: Option<HourFigure>,
    /// ③ / ①.
    pub ratio_capacity: Option<f64>,
    /// ③ / ②.
    pub ratio_demand: Option<f64>,
}

/// What the units cost at one host network's rate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostCost {
    /// Charge table key.
    pub host: String,
    /// Operator name.
    pub name: String,
    /// Whether it is this POI's host network.
    pub is_host: bool,
    /// "settled" / "forecast", if the table says.
    pub status: Option<String>,
    /// Yen per 10 Mbit/s per month (missing: not in the table for the year).
    pub per_10mbps_yen: Option<u64>,
    /// Units × rate.
    pub monthly_yen: Option<u64>,
    /// 12 × monthly.
    pub yearly_yen: Option<u64>,
}

/// The capacity the measured peak needs, and its cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sizing {
    /// The period's highest daily busy hour.
    pub peak_hour: Option<HourFigure>,
    /// Headroom fraction.
    pub headroom: f64,
    /// Peak × (1 + headroom), Mbit/s.
    pub required_mbps: Option<f64>,
    /// 10 Mbit/s units.
    pub units: Option<u64>,
    /// The fiscal year whose rates are used (that of the period's last day).
    pub fy: i32,
    /// At each host network's rate; this POI's host first.
    pub costs: Vec<HostCost>,
}

/// One month's per-line charge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineMonth {
    /// "2026-04".
    pub month: String,
    /// Its fiscal year.
    pub fy: i32,
    /// Peak concurrent sessions: the lines estimate.
    pub lines: u32,
    /// Yen per line per month at the host's rate.
    pub per_line_yen: Option<u64>,
    /// Lines × rate.
    pub monthly_yen: Option<u64>,
}

/// Per-line charges.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lines {
    /// How lines are estimated.
    pub method: String,
    /// The host whose rates are used.
    pub host: Option<String>,
    /// By month of the period.
    pub months: Vec<LineMonth>,
}

/// A month's value in the forecast's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonthValue {
    /// "2026-04".
    pub month: String,
    /// Its highest daily busy hour, Mbit/s.
    pub mbps: f64,
}

/// A month's forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonthForecast {
    /// "2027-04".
    pub month: String,
    /// Central forecast, Mbit/s.
    pub mbps: f64,
    /// Lower end of the band.
    pub low_mbps: f64,
    /// Upper end of the band.
    pub high_mbps: f64,
}

/// A fiscal year's forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FyForecast {
    /// The fiscal year.
    pub fy: i32,
    /// The month of the peak.
    pub month: String,
    /// Forecast busy-hour peak, Mbit/s.
    pub peak_mbps: f64,
    /// Lower end of its band.
    pub low_mbps: f64,
    /// Upper end of its band.
    pub high_mbps: f64,
    /// Units for the central forecast with headroom.
    pub units: u64,
    /// Units for the upper end with headroom.
    pub units_high: u64,
    /// The host's rate for that year.
    pub per_10mbps_yen: Option<u64>,
    /// Yearly cost of `units`.
    pub yearly_yen: Option<u64>,
    /// Yearly cost of `units_high`.
    pub yearly_yen_high: Option<u64>,
    /// ① configured for that year.
    pub capacity_mbps: Option<f64>,
}

/// The three-fiscal-year forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// The method, stated.
    pub method: String,
    /// Why there is no forecast, when there is none.
    pub note: Option<String>,
    /// The months fitted on.
    pub history: Vec<MonthValue>,
    /// Fitted growth per year (0.25 = +25 %/year).
    pub growth_per_year: Option<f64>,
    /// Residual standard error on the log scale.
    pub sigma_log: Option<f64>,
    /// Monthly forecasts from the month after the history to the end of the last year.
    pub monthly: Vec<MonthForecast>,
    /// The next three fiscal years.
    pub years: Vec<FyForecast>,
}

/// A gap overlapping the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapFigure {
    /// The gateway.
    pub gateway: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// End, Unix seconds.
    pub end: i64,
    /// Local start, "YYYY-MM-DD HH:MM".
    pub from_local: String,
    /// Local end.
    pub to_local: String,
}

/// The report: the model every renderer draws.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The POI.
    pub poi: String,
    /// The direction.
    pub dir: Dir,
    /// The zone of every date and hour.
    pub timezone: String,
    /// First local day of the period.
    pub first_day: String,
    /// Last local day (inclusive).
    pub last_day: String,
    /// Period start, Unix seconds.
    pub from: i64,
    /// Period end (exclusive), Unix seconds.
    pub to: i64,
    /// When the report was made.
    pub generated_at: i64,
    /// The POI's host network.
    pub host: Option<String>,
    /// Figures over the period.
    pub summary: Summary,
    /// Each day of the period.
    pub days: Vec<DayFigures>,
    /// Mean rate by hour of day.
    pub profile: Profile,
    /// Months of the period.
    pub months: Vec<SpanFigures>,
    /// Fiscal years of the period.
    pub fiscal_years: Vec<SpanFigures>,
    /// The regulator's table: the three fiscal years ending with the period's last.
    pub regulator: Vec<RegulatorRow>,
    /// Units and charges.
    pub sizing: Sizing,
    /// Per-line charges.
    pub lines: Lines,
    /// Forecast.
    pub forecast: Forecast,
    /// Configured capacities by fiscal year.
    pub capacity: Vec<FyPlan>,
    /// Gaps overlapping the period.
    pub gaps: Vec<GapFigure>,
    /// Definitions used (printed with the report).
    pub notes: Vec<String>,
}

// ---- internal per-day data ----

#[derive(Clone, Copy, Default)]
struct Cell {
    bytes: u64,
    covered: u32,
}

struct Day {
    date: NaiveDate,
    start: i64,
    len: i64,
    hours: Vec<Cell>,
    minutes: Option<Vec<Cell>>,
    sessions: u32,
    /// Computed: bytes and covered seconds.
    volume: u64,
    covered: u64,
    busy: Option<(usize, f64, f64)>,
}

impl Day {
    fn hour_label(&self, cal: &Calendar, i: usize) -> u32 {
        if self.len == 86_400 {
            i as u32
        } else {
            cal.hour_of_day(self.start + i as i64 * 3600)
        }
    }

    fn hour_figure(&self, cal: &Calendar, i: usize, mbps: f64, coverage: f64) -> HourFigure {
        HourFigure {
            date: self.date.to_string(),
            start: self.start + i as i64 * 3600,
            hour: self.hour_label(cal, i),
            mbps,
            coverage,
        }
    }
}

fn mbps(bytes: u64, covered: u64) -> f64 {
    bytes as f64 * 8.0 / covered as f64 / 1e6
}

/// The busy hour of a day's clock hours: (index, Mbit/s, coverage), the
/// earliest of equal ones; hours less than [`MIN_COVERAGE`] measured are
/// not candidates.
fn busy_hour(hours: &[Cell], min: f64) -> Option<(usize, f64, f64)> {
    let mut best: Option<(usize, f64, f64)> = None;
    for (i, c) in hours.iter().enumerate() {
        let cov = c.covered as f64 / 3600.0;
        if c.covered == 0 || cov < min {
            continue;
        }
        let r = mbps(c.bytes, c.covered as u64);
        if best.is_none_or(|b| r > b.1) {
            best = Some((i, r, cov));
        }
    }
    best
}

/// The busiest 60 consecutive minutes of a day's minutes: (first minute,
/// Mbit/s, coverage), the earliest of equal ones; windows less than
/// [`MIN_COVERAGE`] measured are not candidates.
fn busiest_window(minutes: &[Cell], min: f64) -> Option<(usize, f64, f64)> {
    if minutes.len() < 60 {
        return None;
    }
    let (mut b, mut c) = (0u64, 0u64);
    for m in &minutes[..60] {
        b += m.bytes;
        c += m.covered as u64;
    }
    let mut best: Option<(usize, f64, f64)> = None;
    for w in 0..=minutes.len() - 60 {
        if w > 0 {
            b = b + minutes[w + 59].bytes - minutes[w - 1].bytes;
            c = c + minutes[w + 59].covered as u64 - minutes[w - 1].covered as u64;
        }
        let cov = c as f64 / 3600.0;
        if c == 0 || cov < min {
            continue;
        }
        let r = mbps(b, c);
        if best.is_none_or(|x| r > x.1) {
            best = Some((w, r, cov));
        }
    }
    best
}

/// Two-sided 97.5 % quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=40 => 2.021,
        41..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// A least-squares line through (x, ln y) with what its prediction band needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogFit {
    /// Intercept (ln scale).
    pub a: f64,
    /// Slope per unit of x (ln scale).
    pub b: f64,
    /// Residual standard error (ln scale), n − 2 degrees of freedom.
    pub sigma: f64,
    /// Points.
    pub n: usize,
    /// Mean of x.
    pub x_mean: f64,
    /// Σ (x − mean x)².
    pub sxx: f64,
}

impl LogFit {
    /// Fits ln(y) = a + b x by ordinary least squares. `None` with fewer
    /// than three points, a non-positive y, or all x equal.
    pub fn fit(points: &[(f64, f64)]) -> Option<LogFit> {
        let n = points.len();
        if n < 3 || points.iter().any(|p| p.1.is_nan() || p.1 <= 0.0) {
            return None;
        }
        let nf = n as f64;
        let x_mean = points.iter().map(|p| p.0).sum::<f64>() / nf;
        let y_mean = points.iter().map(|p| p.1.ln()).sum::<f64>() / nf;
        let sxx: f64 = points.iter().map(|p| (p.0 - x_mean).powi(2)).sum();
        if sxx == 0.0 {
            return None;
        }
        let sxy: f64 = points
            .iter()
            .map(|p| (p.0 - x_mean) * (p.1.ln() - y_mean))
            .sum();
        let b = sxy / sxx;
        let a = y_mean - b * x_mean;
        let ssr: f64 = points
            .iter()
            .map(|p| (p.1.ln() - a - b * p.0).powi(2))
            .sum();
        let sigma = (ssr / (nf - 2.0)).sqrt();
        Some(LogFit {
            a,
            b,
            sigma,
            n,
            x_mean,
            sxx,
        })
    }

    /// Central forecast and 95 % prediction band at x: (value, low, high).
    pub fn predict(&self, x: f64) -> (f64, f64, f64) {
        let y = self.a + self.b * x;
        let se =
            self.sigma * (1.0 + 1.0 / self.n as f64 + (x - self.x_mean).powi(2) / self.sxx).sqrt();
        let t = t975(self.n - 2);
        (y.exp(), (y - t * se).exp(), (y + t * se).exp())
    }
}

/// 10 Mbit/s units for a rate with headroom: ⌈mbps × (1 + headroom) / 10⌉
/// (a billionth of a unit is forgiven, so 100 Mbit/s at 20 % is 12 units,
/// not 13 by a rounding error).
pub fn units_for(mbps: f64, headroom: f64) -> u64 {
    let u = mbps * (1.0 + headroom) / 10.0;
    (u - 1e-9).ceil().max(0.0) as u64
}

fn weekday_name(d: NaiveDate) -> &'static str {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d.weekday().num_days_from_monday() as usize]
}

fn month_label(y: i32, m: u32) -> String {
    format!("{y:04}-{m:02}")
}

fn local_string(cal: &Calendar, ts: i64) -> String {
    cal.local(ts).format("%Y-%m-%d %H:%M").to_string()
}

/// Aggregates days into a month or fiscal year.
fn span(cal: &Calendar, label: String, days: &[Day], complete: bool) -> SpanFigures {
    let mut busiest: Option<&Day> = None;
    let mut peak: Option<(&Day, (usize, f64, f64))> = None;
    for d in days {
        if d.covered > 0 && busiest.is_none_or(|b| d.volume > b.volume) {
            busiest = Some(d);
        }
        if let Some(bh) = d.busy {
            if peak.is_none_or(|p| bh.1 > p.1 .1) {
                peak = Some((d, bh));
            }
        }
    }
    SpanFigures {
        label,
        first_day: days.first().map(|d| d.date.to_string()).unwrap_or_default(),
        last_day: days.last().map(|d| d.date.to_string()).unwrap_or_default(),
        days: days.len(),
        days_with_data: days.iter().filter(|d| d.covered > 0).count(),
        complete,
        busiest_day: busiest.map(|d| BusiestDay {
            date: d.date.to_string(),
            volume_bytes: d.volume,
            coverage: d.covered as f64 / d.len as f64,
            busy_hour: d.busy.map(|b| d.hour_figure(cal, b.0, b.1, b.2)),
        }),
        peak_hour: peak.map(|(d, b)| d.hour_figure(cal, b.0, b.1, b.2)),
        sessions: days.iter().map(|d| d.sessions).max().unwrap_or(0),
    }
}

/// Builds the report of one POI and direction from `src`.
pub fn build(src: &mut dyn Source, input: &ReportInput<'_>) -> Result<Report, ReportError> {
    let cal = input.settings.validate()?;
    input.plan.validate(input.poi, Some(input.charges))?;
    if input.to <= input.from {
        return Err(ReportError::EmptyPeriod {
            from: input.from,
            to: input.to,
        });
    }
    let headroom = input.settings.headroom;
    let min_coverage = input.settings.min_coverage;

    // The period, in whole local days.
    let first_day = cal.date(input.from);
    let last_day = cal.date(input.to - 1);
    let p_start = cal.day_start(first_day);
    let p_end = cal.day_start(calendar::next_day(last_day));
    let fy_n = Calendar::fiscal_year(last_day);
    let (hist_first, _) = Calendar::fiscal_year_dates(fy_n - 2);
    let hist_first = hist_first.min(first_day);
    let h_start = cal.day_start(hist_first);

    let minutes = src.rows(60, p_start, p_end).map_err(ReportError::Source)?;
    let hours = src
        .rows(3600, h_start, p_end)
        .map_err(ReportError::Source)?;
    let gaps = src.gaps(p_start, p_end).map_err(ReportError::Source)?;

    // Lay out the days.
    let mut days: Vec<Day> = Vec::new();
    let mut d = hist_first;
    let mut start = h_start;
    while d <= last_day {
        let next = calendar::next_day(d);
        let end = cal.day_start(next);
        let len = end - start;
        days.push(Day {
            date: d,
            start,
            len,
            hours: vec![Cell::default(); ((len + 3599) / 3600) as usize],
            minutes: None,
            sessions: 0,
            volume: 0,
            covered: 0,
            busy: None,
        });
        d = next;
        start = end;
    }
    let day_of = |days: &[Day], ts: i64| -> Option<usize> {
        let i = days.partition_point(|d| d.start <= ts);
        (i > 0 && ts < days[i - 1].start + days[i - 1].len).then(|| i - 1)
    };

    // Minute rows first; hour rows fill the days that have none.
    let mut di = 0usize;
    for r in &minutes {
        if !(di < days.len()
            && r.start >= days[di].start
            && r.start < days[di].start + days[di].len)
        {
            match day_of(&days, r.start) {
                Some(i) => di = i,
                None => continue,
            }
        }
        let day = &mut days[di];
        let off = (r.start - day.start) as usize;
        let n_min = (day.len / 60) as usize;
        let mins = day
            .minutes
            .get_or_insert_with(|| vec![Cell::default(); n_min]);
        if let Some(c) = mins.get_mut(off / 60) {
            c.bytes += r.bytes;
            c.covered += r.covered.min(60);
        }
        if let Some(c) = day.hours.get_mut(off / 3600) {
            c.bytes += r.bytes;
            c.covered += r.covered.min(60);
        }
        day.sessions = day.sessions.max(r.sessions);
    }
    for r in &hours {
        if !(di < days.len()
            && r.start >= days[di].start
            && r.start < days[di].start + days[di].len)
        {
            match day_of(&days, r.start) {
                Some(i) => di = i,
                None => continue,
            }
        }
        let day = &mut days[di];
        if day.minutes.is_some() {
            continue;
        }
        let off = (r.start - day.start) as usize;
        if let Some(c) = day.hours.get_mut(off / 3600) {
            c.bytes += r.bytes;
            c.covered = (c.covered + r.covered).min(3600);
        }
        day.sessions = day.sessions.max(r.sessions);
    }
    for day in &mut days {
        day.volume = day.hours.iter().map(|c| c.bytes).sum();
        day.covered = day.hours.iter().map(|c| c.covered as u64).sum();
        day.busy = busy_hour(&day.hours, min_coverage);
    }

    let p0 = days.partition_point(|d| d.date < first_day);
    let period = &days[p0..];
    let timezone = cal.tz().name().to_string();
    if period.iter().all(|d| d.covered == 0) {
        return Err(ReportError::NoData {
            poi: input.poi.to_string(),
            dir: input.dir,
            first_day: first_day.to_string(),
            last_day: last_day.to_string(),
            timezone,
        });
    }

    // Each day of the period.
    let mut day_figs = Vec::with_capacity(period.len());
    let mut best_window: Option<WindowFigure> = None;
    for d in period {
        let window = d
            .minutes
            .as_deref()
            .and_then(|m| busiest_window(m, min_coverage))
            .map(|(w, r, cov)| {
                let start = d.start + w as i64 * 60;
                WindowFigure {
                    date: d.date.to_string(),
                    start,
                    time: cal.local(start).format("%H:%M").to_string(),
                    mbps: r,
                    coverage: cov,
                }
            });
        if let Some(w) = &window {
            if best_window.as_ref().is_none_or(|b| w.mbps > b.mbps) {
                best_window = Some(w.clone());
            }
        }
        day_figs.push(DayFigures {
            date: d.date.to_string(),
            weekday: weekday_name(d.date).to_string(),
            volume_bytes: d.volume,
            coverage: d.covered as f64 / d.len as f64,
            busy_hour: d.busy.map(|b| d.hour_figure(&cal, b.0, b.1, b.2)),
            busiest_60min: window,
            sessions: d.sessions,
            rows: if d.minutes.is_some() {
                "minutes"
            } else {
                "hours"
            },
        });
    }

    // Hour-of-day profiles and the time-consistent busy hour.
    let mut all = [(0.0f64, 0usize); 24];
    let mut wk = [(0.0f64, 0usize); 24];
    let mut we = [(0.0f64, 0usize); 24];
    for d in period {
        let weekend = d.date.weekday().num_days_from_monday() >= 5;
        for (i, c) in d.hours.iter().enumerate() {
            if c.covered == 0 || (c.covered as f64 / 3600.0) < min_coverage {
                continue;
            }
            let h = d.hour_label(&cal, i) as usize % 24;
            let r = mbps(c.bytes, c.covered as u64);
            all[h].0 += r;
            all[h].1 += 1;
            let side = if weekend { &mut we } else { &mut wk };
            side[h].0 += r;
            side[h].1 += 1;
        }
    }
    let mean = |a: &[(f64, usize); 24]| -> Vec<Option<f64>> {
        a.iter()
            .map(|&(s, n)| (n > 0).then(|| s / n as f64))
            .collect()
    };
    let mut tcbh: Option<Tcbh> = None;
    for (h, &(s, n)) in all.iter().enumerate() {
        if n > 0 {
            let m = s / n as f64;
            if tcbh.as_ref().is_none_or(|t| m > t.mbps) {
                tcbh = Some(Tcbh {
                    hour: h as u32,
                    mbps: m,
                    days: n,
                });
            }
        }
    }
    let busy: Vec<f64> = period.iter().filter_map(|d| d.busy.map(|b| b.1)).collect();
    let adph_mbps = (!busy.is_empty()).then(|| busy.iter().sum::<f64>() / busy.len() as f64);

    // 95th percentile of 5-minute means.
    let mut fives: Vec<f64> = Vec::new();
    let mut cur: Option<(i64, u64, u64)> = None;
    for r in &minutes {
        let k = r.start.div_euclid(300);
        match &mut cur {
            Some((kk, b, c)) if *kk == k => {
                *b += r.bytes;
                *c += r.covered as u64;
            }
            _ => {
                if let Some((_, b, c)) = cur {
                    if c > 0 {
                        fives.push(mbps(b, c));
                    }
                }
                cur = Some((k, r.bytes, r.covered as u64));
            }
        }
    }
    if let Some((_, b, c)) = cur {
        if c > 0 {
            fives.push(mbps(b, c));
        }
    }
    let p95_intervals = fives.len();
    let p95_5min_mbps = percentile(&mut fives, 95.0);

    let whole = span(&cal, String::new(), period, true);
    let summary = Summary {
        days: period.len(),
        days_with_data: whole.days_with_data,
        volume_bytes: period.iter().map(|d| d.volume).sum(),
        tcbh,
        adph_mbps,
        peak_hour: whole.peak_hour.clone(),
        busiest_60min: best_window,
        p95_5min_mbps,
        p95_intervals,
    };

    // Months and fiscal years of the period, and every month of the history.
    let group =
        |days: &[Day], key: &dyn Fn(NaiveDate) -> i64| -> Vec<(i64, std::ops::Range<usize>)> {
            let mut out: Vec<(i64, std::ops::Range<usize>)> = Vec::new();
            for (i, d) in days.iter().enumerate() {
                let k = key(d.date);
                match out.last_mut() {
                    Some((kk, r)) if *kk == k => r.end = i + 1,
                    _ => out.push((k, i..i + 1)),
                }
            }
            out
        };
    let month_key = |d: NaiveDate| calendar::month_index(d.year(), d.month());
    let fy_key = |d: NaiveDate| Calendar::fiscal_year(d) as i64;
    let month_complete = |ds: &[Day]| {
        ds.len() as u32 == calendar::days_in_month(ds[0].date) && ds[0].date.day() == 1
    };
    let months: Vec<SpanFigures> = group(period, &month_key)
        .into_iter()
        .map(|(k, r)| {
            let (y, m) = calendar::month_of_index(k);
            span(
                &cal,
                month_label(y, m),
                &period[r.clone()],
                month_complete(&period[r]),
            )
        })
        .collect();
    let fy_complete = |fy: i64, ds: &[Day]| {
        let (a, b) = Calendar::fiscal_year_dates(fy as i32);
        ds[0].date == a && ds[ds.len() - 1].date == b
    };
    let fiscal_years: Vec<SpanFigures> = group(period, &fy_key)
        .into_iter()
        .map(|(k, r)| {
            span(
                &cal,
                format!("FY{k}"),
                &period[r.clone()],
                fy_complete(k, &period[r]),
            )
        })
        .collect();

    // The regulator's table.
    let by_fy = group(&days, &fy_key);
    let regulator: Vec<RegulatorRow> = (fy_n - 2..=fy_n)
        .map(|fy| {
            let s = by_fy.iter().find(|(k, _)| *k == fy as i64).map(|(k, r)| {
                span(
                    &cal,
                    format!("FY{fy}"),
                    &days[r.clone()],
                    fy_complete(*k, &days[r.clone()]),
                )
            });
            let plan = input.plan.year(fy);
            let capacity_mbps = plan.and_then(|p| p.capacity_mbps);
            let demand_mbps = plan.and_then(|p| p.demand_mbps);
            let busiest_mbps = s
                .as_ref()
                .and_then(|s| s.busiest_day.as_ref())
                .and_then(|b| b.busy_hour.as_ref())
                .map(|h| h.mbps);
            let ratio = |den: Option<f64>| match (busiest_mbps, den) {
                (Some(m), Some(c)) if c > 0.0 => Some(m / c),
                _ => None,
            };
            RegulatorRow {
                fy,
                days_with_data: s.as_ref().map_or(0, |s| s.days_with_data),
                complete: s.as_ref().is_some_and(|s| s.complete),
                capacity_mbps,
                demand_mbps,
                busiest_mbps,
                busiest_day: s
                    .as_ref()
                    .and_then(|s| s.busiest_day.as_ref())
                    .map(|b| b.date.clone()),
                peak_hour: s.as_ref().and_then(|s| s.peak_hour.clone()),
                ratio_capacity: ratio(capacity_mbps),
                ratio_demand: ratio(demand_mbps),
            }
        })
        .collect();

    // Units and charges at the period's last fiscal year.
    let host = input.plan.host.clone();
    let units = summary
        .peak_hour
        .as_ref()
        .map(|p| units_for(p.mbps, headroom));
    let mut costs: Vec<HostCost> = input
        .charges
        .host
        .iter()
        .map(|(key, h)| {
            let rate = input.charges.rate(key, fy_n);
            let per = rate.and_then(|r| r.per_10mbps_yen);
            let monthly = units.zip(per).map(|(u, p)| u * p);
            HostCost {
                host: key.clone(),
                name: h.name.clone(),
                is_host: host.as_deref() == Some(key.as_str()),
                status: rate.and_then(|r| r.status.clone()),
                per_10mbps_yen: per,
                monthly_yen: monthly,
                yearly_yen: monthly.map(|m| 12 * m),
            }
        })
        .collect();
    costs.sort_by_key(|c| !c.is_host);
    let sizing = Sizing {
        peak_hour: summary.peak_hour.clone(),
        headroom,
        required_mbps: summary
            .peak_hour
            .as_ref()
            .map(|p| p.mbps * (1.0 + headroom)),
        units,
        fy: fy_n,
        costs,
    };

    // Per-line charges.
    let line_rate = |fy: i32| {
        host.as_deref()
            .and_then(|h| input.charges.rate(h, fy))
            .and_then(|r| r.per_line_yen)
    };
    let lines = Lines {
        method: "lines estimated as the month's peak concurrent sessions (a lower bound: a line without a \
                 session is not seen)"
            .to_string(),
        host: host.clone(),
        months: group(period, &month_key)
            .into_iter()
            .map(|(k, r)| {
                let (y, m) = calendar::month_of_index(k);
                let fy = Calendar::fiscal_year(period[r.start].date);
                let n = period[r].iter().map(|d| d.sessions).max().unwrap_or(0);
                let per = line_rate(fy);
                LineMonth {
                    month: month_label(y, m),
                    fy,
                    lines: n,
                    per_line_yen: per,
                    monthly_yen: per.map(|p| p * n as u64),
                }
            })
            .collect(),
    };

    // Forecast on the complete months of the history.
    let mut history: Vec<(i64, f64)> = Vec::new();
    for (k, r) in group(&days, &month_key) {
        let ds = &days[r];
        let with_data = ds.iter().filter(|d| d.covered > 0).count();
        if !month_complete(ds) || with_data * 3 < ds.len() * 2 {
            continue;
        }
        if let Some(peak) = ds
            .iter()
            .filter_map(|d| d.busy.map(|b| b.1))
            .reduce(f64::max)
        {
            if peak > 0.0 {
                history.push((k, peak));
            }
        }
    }
    let forecast = forecast(&history, fy_n, headroom, input);

    let mut capacity = input.plan.fiscal_year.clone();
    capacity.sort_by_key(|f| f.fy);

    let gaps = gaps
        .into_iter()
        .map(|g| GapFigure {
            from_local: local_string(&cal, g.start),
            to_local: local_string(&cal, g.end),
            gateway: g.gateway,
            start: g.start,
            end: g.end,
        })
        .collect();

    let notes = vec![
        format!("days, hours and fiscal years (1 April - 31 March) in {timezone}"),
        format!(
            "rates are means over measured seconds; hours or 60-minute windows less than {:.0} % measured are not busy-hour candidates; ties go to the earliest",
            min_coverage * 100.0
        ),
        "busy hour: the clock hour of the day with the highest mean; busiest 60 min: any 60 consecutive minutes of the day".to_string(),
        "TCBH (ITU-T E.500): the hour of day with the highest mean over the period's days; ADPH: the mean of the daily busy hours".to_string(),
        "95th percentile: nearest rank of 5-minute means; intervals with no data left out".to_string(),
        "busiest day (the regulator's \u{2462}): the day with the most bytes; its busy hour is the figure".to_string(),
        format!(
            "units: ceil(peak busy hour x (1 + {headroom}) / 10 Mbit/s) at the FY{fy_n} rates; missing rates are shown missing, never carried over from another year"
        ),
    ];

    Ok(Report {
        poi: input.poi.to_string(),
        dir: input.dir,
        timezone,
        first_day: first_day.to_string(),
        last_day: last_day.to_string(),
        from: p_start,
        to: p_end,
        generated_at: input.now,
        host,
        summary,
        days: day_figs,
        profile: Profile {
            weekday: mean(&wk),
            weekend: mean(&we),
        },
        months,
        fiscal_years,
        regulator,
        sizing,
        lines,
        forecast,
        capacity,
        gaps,
        notes,
    })
}

fn forecast(history: &[(i64, f64)], fy_n: i32, headroom: f64, input: &ReportInput<'_>) -> Forecast {
    let hist: Vec<MonthValue> = history
        .iter()
        .map(|&(k, v)| {
            let (y, m) = calendar::month_of_index(k);
            MonthValue {
                month: month_label(y, m),
                mbps: v,
            }
        })
        .collect();
    let mut out = Forecast {
        method: FORECAST_METHOD.to_string(),
        note: None,
        history: hist,
        growth_per_year: None,
        sigma_log: None,
        monthly: Vec::new(),
        years: Vec::new(),
    };
    if history.len() < MIN_FORECAST_MONTHS {
        out.note = Some(format!(
            "not enough history: {} complete month(s) with data in the last three fiscal years, {} needed",
            history.len(),
            MIN_FORECAST_MONTHS
        ));
        return out;
    }
    let points: Vec<(f64, f64)> = history.iter().map(|&(k, v)| (k as f64, v)).collect();
    let Some(fit) = LogFit::fit(&points) else {
        out.note = Some("the history cannot be fitted".to_string());
        return out;
    };
    out.growth_per_year = Some((12.0 * fit.b).exp() - 1.0);
    out.sigma_log = Some(fit.sigma);
    let last_hist = history[history.len() - 1].0;
    let end = calendar::month_index(fy_n + 4, 3);
    for k in last_hist + 1..=end {
        let (y, m) = calendar::month_of_index(k);
        let (v, lo, hi) = fit.predict(k as f64);
        out.monthly.push(MonthForecast {
            month: month_label(y, m),
            mbps: v,
            low_mbps: lo,
            high_mbps: hi,
        });
    }
    let host = input.plan.host.as_deref();
    for fy in fy_n + 1..=fy_n + 3 {
        let first = calendar::month_index(fy, 4);
        let mut best: Option<(i64, (f64, f64, f64))> = None;
        for k in first..first + 12 {
            let p = fit.predict(k as f64);
            if best.is_none_or(|b| p.0 > b.1 .0) {
                best = Some((k, p));
            }
        }
        let Some((k, (v, lo, hi))) = best else {
            continue;
        };
        let (y, m) = calendar::month_of_index(k);
        let units = units_for(v, headroom);
        let units_high = units_for(hi, headroom);
        let per = host
            .and_then(|h| input.charges.rate(h, fy))
            .and_then(|r| r.per_10mbps_yen);
        out.years.push(FyForecast {
            fy,
            month: month_label(y, m),
            peak_mbps: v,
            low_mbps: lo,
            high_mbps: hi,
            units,
            units_high,
            per_10mbps_yen: per,
            yearly_yen: per.map(|p| 12 * units * p),
            yearly_yen_high: per.map(|p| 12 * units_high * p),
            capacity_mbps: input.plan.year(fy).and_then(|p| p.capacity_mbps),
        });
    }
    out
}

#[cfg(test)]
mod tests;
