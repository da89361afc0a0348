//! A synthetic year of a POI's traffic, for demos, reports and tests:
//! deterministic from a seed, shaped like a Japanese MVNO's.
//!
//! Per local minute ([`Synth::tz`], Asia/Tokyo by default; `Etc/GMT-9` and
//! the like give a fixed UTC offset), the downlink's mean rate is
//!
//! ```text
//! peak_mbps × shape(day kind, local time) × growth(month) × day factor × (1 + noise)
//! ```
//!
//! - **Weekdays**: a night trough (about 10 % of the peak at 05:00), a
//!   morning commute, the sharp **lunch peak 12:00–13:00** (1.0: the MVNO busy
//!   hour, when office workers on cheap plans all open their phones at once),
//!   an afternoon plateau, and an evening peak around 21:00–23:00 (about 0.8).
//! - **Weekends and holidays** ([`Synth::holidays`]): flatter, no lunch spike,
//!   a later and wider peak around 20:00–23:00 (about 0.8).
//! - **Growth**: `(1 + annual_growth)^(months since from / 12)`, a step each
//!   local calendar month.
//! - **Day factor**: each day ±6 %, so the busiest day moves around.
//! - **Noise**: each minute, about normal with `noise` as its standard
//!   deviation (clamped to ±3σ).
//! - **Uplink**: the downlink divided by `dl_per_ul` (±10 % per minute).
//! - Within a minute, `max_bps` is 1.2–1.5 × the mean and `p95_bps` 1.1–1.2 ×;
//!   packets are bytes / 1100 (downlink) or / 300 (uplink); sessions follow a
//!   milder daily shape (always-on sessions never all leave).
//!
//! Rows are minute rows with `covered` = 60, in the import format's
//! conventions, so [`to_csv`] and [`crate::import::parse_csv`] round-trip them.

use chrono::{Datelike, NaiveDate, TimeZone, Timelike, Weekday};

use crate::import::ImportSeries;
use crate::{Dir, Row};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Synth {
    /// The POI's name.
    pub poi: String,
    /// The local time the daily shape follows.
    pub tz: chrono_tz::Tz,
    /// The downlink's weekday lunch-peak mean rate at the start, Mbit/s.
    pub peak_mbps: f64,
    /// Growth over a year: 0.15 is 15 %.
    pub annual_growth: f64,
    /// Downlink bytes per uplink byte (about 8–10 on a mobile network).
    pub dl_per_ul: f64,
    /// Relative standard deviation of the per-minute noise.
    pub noise: f64,
    /// Sessions at the busiest time of the start.
    pub peak_sessions: u32,
    /// Days shaped like a weekend. [`Synth::new`] fills in the year-end
    /// holidays (29 December – 3 January) and Golden Week (29 April,
    /// 3–5 May) of every year from 2000 to 2100.
    pub holidays: Vec<NaiveDate>,
    /// The seed: the same seed and settings give the same rows.
    pub seed: u64,
}

impl Synth {
    /// Defaults: Asia/Tokyo, 15 % growth, downlink 9 × uplink, 5 % noise,
    /// 100 sessions per Mbit/s of peak, the holidays above.
    pub fn new(poi: &str, peak_mbps: f64, seed: u64) -> Synth {
        let mut holidays = Vec::new();
        for y in 2000..=2100 {
            for (m, d) in [
                (1, 1),
                (1, 2),
                (1, 3),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (12, 29),
                (12, 30),
                (12, 31),
            ] {
                holidays.extend(NaiveDate::from_ymd_opt(y, m, d));
            }
        }
        Synth {
            poi: poi.to_string(),
            tz: chrono_tz::Asia::Tokyo,
            peak_mbps,
            annual_growth: 0.15,
            dl_per_ul: 9.0,
            noise: 0.05,
            peak_sessions: (peak_mbps * 100.0).round().clamp(1.0, u32::MAX as f64) as u32,
            holidays,
            seed,
        }
    }

    /// Minute rows of both directions (uplink first) for the minutes
    /// starting in [from, to) (Unix seconds; `from` is rounded up to a minute).
    pub fn generate(&self, from: i64, to: i64) -> Vec<ImportSeries> {
        let first = from.div_euclid(60) * 60 + if from.rem_euclid(60) == 0 { 0 } else { 60 };
        let n = ((to - first).max(0) as usize).div_ceil(60);
        let mut ul = Vec::with_capacity(n);
        let mut dl = Vec::with_capacity(n);
        let mut rng = SplitMix64(self.seed);
        let start_local = self
            .tz
            .timestamp_opt(first, 0)
            .single()
            .map(|t| t.date_naive());
        let month0 = start_local.map_or(0, |d| d.year() as i64 * 12 + d.month0() as i64);
        let mut day: Option<(NaiveDate, bool, f64)> = None;
        let mut ts = first;
        while ts < to {
            let Some(local) = self.tz.timestamp_opt(ts, 0).single() else {
                ts += 60;
                continue;
            };
            let date = local.date_naive();
            let (_, rest, day_factor) = *match &mut day {
                Some(d) if d.0 == date => d,
                d => d.insert((date, self.is_rest_day(date), day_factor(self.seed, date))),
            };
            let minute_of_day = local.hour() as f64 * 60.0 + local.minute() as f64;
            let months = (date.year() as i64 * 12 + date.month0() as i64 - month0) as f64;
            let growth = (1.0 + self.annual_growth).powf(months / 12.0);
            let level = shape(if rest { REST } else { WEEKDAY }, minute_of_day);
            let noise = 1.0 + self.noise * rng.normal();
            let dl_bps = (self.peak_mbps * 1e6 * level * growth * day_factor * noise).max(0.0);
            let ul_bps = dl_bps / self.dl_per_ul * (1.0 + 0.1 * (rng.unit() * 2.0 - 1.0));
            let sessions_level =
                0.55 + 0.45 * shape(if rest { REST } else { WEEKDAY }, minute_of_day);
            let sessions = (self.peak_sessions as f64 * sessions_level * growth).round() as u32;
            for (rows, bps, packet) in [(&mut ul, ul_bps, 300), (&mut dl, dl_bps, 1100)] {
                let bytes = (bps * 60.0 / 8.0).round() as u64;
                let mean = bytes as f64 * 8.0 / 60.0;
                rows.push(Row {
                    start: ts,
                    secs: 60,
                    covered: 60,
                    bytes,
                    packets: bytes / packet,
                    max_bps: mean * (1.2 + 0.3 * rng.unit()),
                    p95_bps: mean * (1.1 + 0.1 * rng.unit()),
                    sessions,
                });
            }
            ts += 60;
        }
        vec![
            ImportSeries {
                poi: self.poi.clone(),
                dir: Dir::Ul,
                rows: ul,
            },
            ImportSeries {
                poi: self.poi.clone(),
                dir: Dir::Dl,
                rows: dl,
            },
        ]
    }

    /// Saturday, Sunday, or one of [`Synth::holidays`].
    pub fn is_rest_day(&self, date: NaiveDate) -> bool {
        matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || self.holidays.contains(&date)
    }
}

/// Writes generated series as an import file (see [`crate::import`]).
pub fn to_csv(series: &[ImportSeries]) -> String {
    crate::import::write_csv(series)
}

/// A weekday's level by local time: (hour, level) points, linear between.
const WEEKDAY: &[(f64, f64)] = &[
    (0.0, 0.50),
    (2.0, 0.25),
    (5.0, 0.10),
    (6.5, 0.20),
    (8.0, 0.50),
    (9.0, 0.45),
    (11.5, 0.50),
    (12.0, 0.95),
    (12.25, 1.00),
    (12.75, 0.98),
    (13.0, 0.60),
    (14.0, 0.50),
    (17.0, 0.55),
    (19.0, 0.65),
    (21.0, 0.78),
    (22.0, 0.80),
    (23.0, 0.72),
    (24.0, 0.50),
];

/// A weekend's or holiday's level: later, wider, flatter.
const REST: &[(f64, f64)] = &[
    (0.0, 0.58),
    (3.0, 0.25),
    (6.5, 0.10),
    (9.0, 0.35),
    (11.0, 0.55),
    (13.0, 0.62),
    (16.0, 0.62),
    (19.0, 0.70),
    (20.5, 0.79),
    (22.5, 0.80),
    (23.5, 0.68),
    (24.0, 0.58),
];

/// The level at `minute` of the day from (hour, level) points.
fn shape(points: &[(f64, f64)], minute: f64) -> f64 {
    let h = minute / 60.0;
    for w in points.windows(2) {
        let ((h0, l0), (h1, l1)) = (w[0], w[1]);
        if h >= h0 && h < h1 {
            return l0 + (l1 - l0) * (h - h0) / (h1 - h0);
        }
    }
    points.last().map_or(0.0, |p| p.1)
}

/// A day's factor, 0.94–1.06, from the seed and the date alone.
fn day_factor(seed: u64, date: NaiveDate) -> f64 {
    let mut r =
        SplitMix64(seed ^ (date.num_days_from_ce() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    0.94 + 0.12 * r.unit()
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, good enough for shapes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// About standard normal: the sum of four uniforms, scaled, clamped to ±3.
    fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum();
        ((s - 2.0) * 3f64.sqrt()).clamp(-3.0, 3.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// FY2026: 2026-04-01T00:00+09:00 .. 2027-04-01T00:00+09:00.
    const FROM: i64 = 1_774_969_200;
    const TO: i64 = FROM + 365 * 86_400;

    /// (local date, local hour) -> bytes of that clock hour.
    fn hourly(rows: &[Row], tz: chrono_tz::Tz) -> BTreeMap<NaiveDate, [u64; 24]> {
        let mut days: BTreeMap<NaiveDate, [u64; 24]> = BTreeMap::new();
        for r in rows {
            let t = tz.timestamp_opt(r.start, 0).unwrap();
            days.entry(t.date_naive()).or_insert([0; 24])[t.hour() as usize] += r.bytes;
        }
        days
    }

    fn busy_hour(hours: &[u64; 24]) -> usize {
        (0..24).max_by_key(|&h| hours[h]).unwrap()
    }

    #[test]
    fn the_weekday_busy_hour_is_lunch_and_weekends_peak_late() {
        let s = Synth::new("tokyo", 800.0, 7);
        let series = s.generate(FROM, TO);
        assert_eq!(series[0].dir, Dir::Ul);
        let dl = &series[1].rows;
        assert_eq!(dl.len(), 365 * 1440);
        let days = hourly(dl, s.tz);
        let (mut weekdays, mut lunch, mut rest, mut late) = (0, 0, 0, 0);
        for (date, hours) in &days {
            let h = busy_hour(hours);
            if s.is_rest_day(*date) {
                rest += 1;
                late += usize::from(h >= 19);
            } else {
                weekdays += 1;
                lunch += usize::from(h == 12);
            }
        }
        assert!(
            weekdays > 230 && rest > 110,
            "{weekdays} weekdays, {rest} rest days"
        );
        assert!(
            lunch * 100 >= weekdays * 95,
            "lunch is the busy hour on {lunch} of {weekdays} weekdays"
        );
        assert!(
            late * 100 >= rest * 90,
            "the evening is the busy hour on {late} of {rest} rest days"
        );
        // The night trough: 04:00-06:00 is far below the busy hour.
        let first = days.values().next().unwrap();
        assert!(first[5] * 4 < first[12], "{first:?}");
    }

    #[test]
    fn growth_lifts_the_last_month_above_the_first_and_dl_dominates() {
        let s = Synth::new("tokyo", 100.0, 1);
        let series = s.generate(FROM, TO);
        let month_peak = |rows: &[Row], from: i64, to: i64| {
            rows.iter()
                .filter(|r| r.start >= from && r.start < to)
                .map(|r| r.mean_bps())
                .fold(0.0, f64::max)
        };
        let dl = &series[1].rows;
        let first = month_peak(dl, FROM, FROM + 30 * 86_400);
        let last = month_peak(dl, TO - 31 * 86_400, TO);
        // 15 % a year: March is 1.15^(11/12) = 1.137 × April.
        assert!(last > first * 1.08, "first {first}, last {last}");
        assert!(first > 100e6 * 0.95 && first < 100e6 * 1.3, "{first}");
        let total = |rows: &[Row]| rows.iter().map(|r| r.bytes).sum::<u64>() as f64;
        let ratio = total(dl) / total(&series[0].rows);
        assert!((8.0..=10.0).contains(&ratio), "dl/ul {ratio}");
        for r in dl.iter().take(5000) {
            assert!(r.covered == 60 && r.max_bps >= r.p95_bps && r.p95_bps >= r.mean_bps());
        }
        // Sessions have a daily shape too: fewer at night than at lunch.
        let at = |h: i64| dl[(h * 60) as usize].sessions;
        assert!(at(5) < at(12), "{} {}", at(5), at(12));
    }

    #[test]
    fn the_same_seed_gives_the_same_rows() {
        let a = Synth::new("tokyo", 50.0, 42).generate(FROM, FROM + 3 * 86_400);
        let b = Synth::new("tokyo", 50.0, 42).generate(FROM, FROM + 3 * 86_400);
        let c = Synth::new("tokyo", 50.0, 43).generate(FROM, FROM + 3 * 86_400);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // From rounds up to a minute; to is exclusive.
        let d = Synth::new("tokyo", 50.0, 42).generate(FROM + 1, FROM + 121);
        assert_eq!(
            d[1].rows.iter().map(|r| r.start).collect::<Vec<_>>(),
            vec![FROM + 60, FROM + 120]
        );
    }

    #[test]
    fn the_time_zone_moves_the_peak() {
        let mut s = Synth::new("lon", 50.0, 3);
        s.tz = chrono_tz::UTC;
        s.holidays.clear();
        // 2026-04-06 is a Monday; in UTC its busy hour is 12:00 UTC.
        let monday = 1_775_433_600;
        let series = s.generate(monday, monday + 86_400);
        let days = hourly(&series[1].rows, chrono_tz::UTC);
        assert_eq!(days.len(), 1);
        assert_eq!(busy_hour(days.values().next().unwrap()), 12);
    }

    #[test]
    fn synth_to_csv_and_back_is_the_same_rows() {
        let series = Synth::new("tokyo-1", 300.0, 9).generate(FROM, FROM + 2 * 86_400);
        let csv = to_csv(&series);
        assert_eq!(csv.lines().count(), 1 + 2 * 2 * 1440);
        assert_eq!(crate::import::parse_csv(&csv).unwrap(), series);
    }
}
