//! Local calendars for the report: days, clock hours, months and fiscal
//! years in a time zone (default `Asia/Tokyo`).
//!
//! Everything below the report is Unix seconds (UTC); this module is where
//! those become local dates.
//!
//! - **Day**: the local date; it starts at local midnight. Where a zone's
//!   midnight does not exist (a DST jump at 00:00), the day starts at the
//!   first local instant that does.
//! - **Clock hour**: the consecutive 3600-second spans of a local day,
//!   starting at its midnight. A day is 24 spans long, 23 on the day a DST
//!   zone springs forward and 25 when it falls back (the repeated local hour
//!   then appears twice, both labelled with the same hour of day). Zones
//!   whose offset changes by a whole hour (all but Lord Howe Island) get true
//!   clock hours this way. Japan has no DST.
//! - **Fiscal year**: FY*n* runs from 1 April of *n* to 31 March of *n*+1,
//!   local time (FY2026 = 2026-04-01 00:00 JST .. 2027-04-01 00:00 JST, that
//!   is from 2026-03-31 15:00 UTC).

use chrono::{Datelike, LocalResult, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

/// A time zone and the calendar arithmetic the report needs in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
}

impl Default for Calendar {
    /// `Asia/Tokyo`.
    fn default() -> Self {
        Calendar {
            tz: chrono_tz::Asia::Tokyo,
        }
    }
}

impl Calendar {
    /// A calendar in `tz`.
    pub fn new(tz: Tz) -> Self {
        Calendar { tz }
    }

    /// A calendar in the IANA zone named `name` (e.g. `"Asia/Tokyo"`).
    pub fn named(name: &str) -> Result<Self, String> {
        name.parse::<Tz>().map(Calendar::new).map_err(|_| {
            format!("unknown time zone {name:?} (an IANA name such as \"Asia/Tokyo\")")
        })
    }

    /// The zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The local date of the instant `ts` (Unix seconds).
    pub fn date(&self, ts: i64) -> NaiveDate {
        self.local(ts).date()
    }

    /// The local date and time of `ts`.
    pub fn local(&self, ts: i64) -> chrono::NaiveDateTime {
        let utc = chrono::DateTime::from_timestamp(ts, 0)
            .unwrap_or(chrono::DateTime::UNIX_EPOCH)
            .naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&utc).fix();
        utc + offset
    }

    /// The instant (Unix seconds) at which local date `d` starts.
    pub fn day_start(&self, d: NaiveDate) -> i64 {
        let mut t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        // A DST jump can skip midnight: walk forward a minute at a time to
        // the first local instant that exists (at most a few hours).
        for _ in 0..(24 * 60) {
            match self.tz.from_local_datetime(&t) {
                LocalResult::Single(x) => return x.timestamp(),
                LocalResult::Ambiguous(a, b) => return a.timestamp().min(b.timestamp()),
                LocalResult::None => t += chrono::Duration::minutes(1),
            }
        }
        // Unreachable for real zones; fall back to UTC midnight.
        d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp()
    }

    /// The instants [start, end) of local date `d`.
    pub fn day_bounds(&self, d: NaiveDate) -> (i64, i64) {
        (self.day_start(d), self.day_start(next_day(d)))
    }

    /// The local hour of day (0..=23) at which the clock hour starting at `ts` begins.
    pub fn hour_of_day(&self, ts: i64) -> u32 {
        chrono::Timelike::hour(&self.local(ts))
    }

    /// The fiscal year of local date `d`: FY*n* is 1 April *n* .. 31 March *n*+1.
    pub fn fiscal_year(d: NaiveDate) -> i32 {
        if d.month() >= 4 {
            d.year()
        } else {
            d.year() - 1
        }
    }

    /// The fiscal year of the instant `ts`.
    pub fn fiscal_year_of(&self, ts: i64) -> i32 {
        Calendar::fiscal_year(self.date(ts))
    }

    /// The first and the last local date of fiscal year `fy`.
    pub fn fiscal_year_dates(fy: i32) -> (NaiveDate, NaiveDate) {
        let first = NaiveDate::from_ymd_opt(fy, 4, 1).unwrap_or_default();
        let last = NaiveDate::from_ymd_opt(fy + 1, 3, 31).unwrap_or_default();
        (first, last)
    }

    /// The instants [start, end) of fiscal year `fy`.
    pub fn fiscal_year_bounds(&self, fy: i32) -> (i64, i64) {
        let (first, last) = Calendar::fiscal_year_dates(fy);
        (self.day_start(first), self.day_start(next_day(last)))
    }

    /// The instants [start, end) of the local month `year`-`month`.
    pub fn month_bounds(&self, year: i32, month: u32) -> (i64, i64) {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
        (self.day_start(first), self.day_start(next_month(first)))
    }
}

/// The day after `d`.
pub fn next_day(d: NaiveDate) -> NaiveDate {
    d.succ_opt().unwrap_or(d)
}

/// The first day of the month after the month of `d`.
pub fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

/// Days in the month of `d`.
pub fn days_in_month(d: NaiveDate) -> u32 {
    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
    (next_month(first) - first).num_days() as u32
}

/// A month as a single index (year × 12 + month − 1), for fits and arithmetic.
pub fn month_index(year: i32, month: u32) -> i64 {
    year as i64 * 12 + month as i64 - 1
}

/// The (year, month) of a [`month_index`].
pub fn month_of_index(i: i64) -> (i32, u32) {
    (i.div_euclid(12) as i32, i.rem_euclid(12) as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        date(y, mo, d)
            .and_hms_opt(h, mi, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn fiscal_year_turns_on_1_april_tokyo_time() {
        let cal = Calendar::default();
        // 2026-03-31 23:30 JST is 14:30 UTC: still FY2025.
        assert_eq!(cal.date(utc(2026, 3, 31, 14, 30)), date(2026, 3, 31));
        assert_eq!(cal.fiscal_year_of(utc(2026, 3, 31, 14, 30)), 2025);
        // 2026-04-01 00:00 JST is 2026-03-31 15:00 UTC: FY2026.
        assert_eq!(cal.fiscal_year_of(utc(2026, 3, 31, 15, 0)), 2026);
        assert_eq!(cal.fiscal_year_of(utc(2026, 3, 31, 14, 59)), 2025);
        assert_eq!(Calendar::fiscal_year(date(2026, 3, 31)), 2025);
        assert_eq!(Calendar::fiscal_year(date(2026, 4, 1)), 2026);
        assert_eq!(Calendar::fiscal_year(date(2027, 1, 1)), 2026);
        let (s, e) = cal.fiscal_year_bounds(2026);
        assert_eq!(s, utc(2026, 3, 31, 15, 0));
        assert_eq!(e, utc(2027, 3, 31, 15, 0));
    }

    #[test]
    fn fy2023_is_366_days_with_29_february() {
        let cal = Calendar::default();
        let (s, e) = cal.fiscal_year_bounds(2023);
        assert_eq!((e - s) / 86_400, 366);
        assert_eq!(Calendar::fiscal_year(date(2024, 2, 29)), 2023);
        let (s, e) = cal.fiscal_year_bounds(2024);
        assert_eq!((e - s) / 86_400, 365);
        assert_eq!(days_in_month(date(2024, 2, 10)), 29);
        assert_eq!(days_in_month(date(2023, 2, 10)), 28);
        let (ms, me) = cal.month_bounds(2024, 2);
        assert_eq!(ms, utc(2024, 1, 31, 15, 0));
        assert_eq!((me - ms) / 86_400, 29);
    }

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let cal = Calendar::named("Europe/Berlin").unwrap();
        let (s, e) = cal.day_bounds(date(2026, 3, 29));
        assert_eq!(e - s, 23 * 3600);
        let (s, e) = cal.day_bounds(date(2026, 10, 25));
        assert_eq!(e - s, 25 * 3600);
        // The second and third clock hours of the long day are both 02:xx local.
        assert_eq!(cal.hour_of_day(s + 2 * 3600), 2);
        assert_eq!(cal.hour_of_day(s + 3 * 3600), 2);
        assert!(Calendar::named("Mars/Olympus").is_err());
    }

    #[test]
    fn month_index_round_trips() {
        assert_eq!(month_of_index(month_index(2026, 12) + 1), (2027, 1));
        assert_eq!(month_index(2027, 1) - month_index(2026, 4), 9);
        assert_eq!(next_month(date(2026, 12, 5)), date(2027, 1, 1));
    }
}
