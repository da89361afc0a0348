//! The capacity planner's commands: `upfctl report`, `import` and `synth`.
//! They work on the meter's store directly (no daemon needed), so a
//! planner can run them on any host that reaches the database.
//!
//! The store, the time zone, the headroom, the charge table and each POI's
//! host network and fiscal-year capacities come from the daemon's
//! configuration file (`--config`); `--store` overrides its `meter.store`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::NaiveDate;
use upf_config::Config;
use upf_meter::calendar::Calendar;
use upf_meter::charges::{ChargeTable, PoiPlan, ReportSettings};
use upf_meter::import::ImportSeries;
use upf_meter::render::{render, Format};
use upf_meter::report::{build, ReportInput, StoreSource};
use upf_meter::store::{self, Store};
use upf_meter::{Dir, Row};

/// What the commands need from the configuration.
pub struct Setup {
    /// The store URL.
    pub store: String,
    /// This host's gateway name in the store (import and synth write as it).
    pub gateway: String,
    /// `[report]`.
    pub settings: ReportSettings,
    /// The charge table.
    pub charges: ChargeTable,
    /// `[[poi]]` plans by name.
    pub pois: Vec<(String, PoiPlan)>,
}

impl Setup {
    /// From `--config` (when the file exists or was given) and `--store`.
    pub fn load(config: Option<&Path>, store: Option<&str>) -> anyhow::Result<Setup> {
        let default = Path::new("/etc/mvno-upf/upf.toml");
        let path = config.or_else(|| default.exists().then_some(default));
        let mut s = match path {
            Some(p) => {
                let c = Config::load(p)?;
                Setup {
                    store: c.meter.store.clone(),
                    gateway: c.meter.gateway_name(),
                    charges: c
                        .charge_table()
                        .map_err(|e| anyhow::anyhow!("{}: report.charges: {e}", p.display()))?,
                    settings: c.report.clone(),
                    pois: c
                        .pois
                        .iter()
                        .map(|p| (p.name.clone(), p.report_plan()))
                        .collect(),
                }
            }
            None => Setup {
                store: upf_config::meter::MeterConfig::default().store,
                gateway: upf_config::meter::host_name(),
                settings: ReportSettings::default(),
                charges: ChargeTable::shipped(),
                pois: Vec::new(),
            },
        };
        if let Some(u) = store {
            s.store = u.to_string();
        }
        Ok(s)
    }

    fn open(&self) -> anyhow::Result<Box<dyn Store>> {
        store::open(&self.store).with_context(|| format!("opening the meter store {}", self.store))
    }

    /// Writes series (an import file, a synthetic span) as `gateway`, in
    /// one transaction.
    fn write(&self, gateway: &str, series: &[ImportSeries]) -> anyhow::Result<()> {
        let batch: Vec<(&str, Dir, &[Row])> = series
            .iter()
            .map(|s| (s.poi.as_str(), s.dir, s.rows.as_slice()))
            .collect();
        self.open()?.write_batch(gateway, &batch)?;
        Ok(())
    }

    fn calendar(&self) -> anyhow::Result<Calendar> {
        self.settings.validate().map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// A local date (`YYYY-MM-DD`).
pub fn date(s: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?}: expected a date as YYYY-MM-DD"))
}

/// The report's period: [first day's midnight, the day after the last day's
/// midnight), local. `fy` takes the whole fiscal year; otherwise `from`
/// defaults to the start of the current fiscal year and `to` to today.
pub fn period(
    cal: &Calendar,
    from: Option<&str>,
    to: Option<&str>,
    fy: Option<i32>,
    now: i64,
) -> anyhow::Result<(i64, i64)> {
    let today = cal.date(now);
    let (first, last) = match fy {
        Some(fy) => {
            if from.is_some() || to.is_some() {
                bail!("--fy takes a whole fiscal year: give it without --from/--to");
            }
            Calendar::fiscal_year_dates(fy)
        }
        None => {
            let first = match from {
                Some(f) => date(f)?,
                None => Calendar::fiscal_year_dates(Calendar::fiscal_year(today)).0,
            };
            let last = match to {
                Some(t) => date(t)?,
                None => today,
            };
            (first, last)
        }
    };
    if last < first {
        bail!("the period ends ({last}) before it starts ({first})");
    }
    let start = cal.day_start(first);
    let end = cal.day_bounds(last).1;
    Ok((start, end))
}

/// `upfctl report`'s arguments.
pub struct ReportArgs<'a> {
    /// The POI.
    pub poi: &'a str,
    /// The direction.
    pub dir: Dir,
    /// First local day.
    pub from: Option<&'a str>,
    /// Last local day (inclusive).
    pub to: Option<&'a str>,
    /// A whole fiscal year.
    pub fy: Option<i32>,
    /// Gateways to sum (empty: all).
    pub gateways: Vec<String>,
    /// Output format.
    pub format: &'a str,
    /// Output file (stdout when absent).
    pub out: Option<&'a Path>,
}

/// Builds and writes the report.
pub fn report(setup: &Setup, a: &ReportArgs<'_>) -> anyhow::Result<()> {
    let format = Format::parse(a.format)
        .with_context(|| format!("--format {}: expected table, csv, json or html", a.format))?;
    let cal = setup.calendar()?;
    let now = chrono::Utc::now().timestamp();
    let (from, to) = period(&cal, a.from, a.to, a.fy, now)?;
    let mut st = setup.open()?;
    let known = st.pois()?;
    if !known.iter().any(|(_, p)| p == a.poi) {
        let mut names: Vec<&str> = known.iter().map(|(_, p)| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        bail!(
            "no data for POI {:?} in {} (POIs with data: {})",
            a.poi,
            setup.store,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    let plan = setup
        .pois
        .iter()
        .find(|(n, _)| n == a.poi)
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    let mut src = StoreSource {
        store: &mut *st,
        gateways: a.gateways.clone(),
        poi: a.poi.to_string(),
        dir: a.dir,
    };
    let input = ReportInput {
        poi: a.poi,
        dir: a.dir,
        settings: &setup.settings,
        plan: &plan,
        charges: &setup.charges,
        from,
        to,
        now,
    };
    let r = build(&mut src, &input)?;
    let text = render(&r, format);
    match a.out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

/// `upfctl import`: a CSV file of historical traffic into the store, as
/// `gateway`; all or nothing.
pub fn import(setup: &Setup, file: &Path, gateway: &str) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let series = upf_meter::import::parse_csv(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing imported", file.display()))?;
    if series.iter().all(|s| s.rows.is_empty()) {
        bail!("{}: no data lines; nothing imported", file.display());
    }
    setup.write(gateway, &series).with_context(|| {
        format!(
            "{}: writing to {}; nothing imported",
            file.display(),
            setup.store
        )
    })?;
    for s in &series {
        let (a, b) = (
            s.rows.first().map_or(0, |r| r.start),
            s.rows.last().map_or(0, |r| r.end()),
        );
        println!(
            "{} {}: {} minutes ({} .. {}), {:.1} GB",
            s.poi,
            s.dir,
            s.rows.len(),
            fmt_ts(a),
            fmt_ts(b),
            s.rows.iter().map(|r| r.bytes).sum::<u64>() as f64 / 1e9
        );
    }
    println!("imported into {} as gateway {gateway}", setup.store);
    Ok(())
}

fn fmt_ts(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map_or_else(|| ts.to_string(), |d| d.to_rfc3339())
}

/// `upfctl synth`'s arguments.
pub struct SynthArgs<'a> {
    /// POI name.
    pub poi: &'a str,
    /// First local day.
    pub from: &'a str,
    /// Last local day (inclusive).
    pub to: &'a str,
    /// Downlink busy-hour peak at the start, Mbit/s.
    pub peak_mbps: f64,
    /// Yearly growth (0.15 = 15 %).
    pub growth: f64,
    /// Seed.
    pub seed: u64,
    /// Write CSV here instead of into the store.
    pub csv: Option<PathBuf>,
    /// Gateway name to write as.
    pub gateway: &'a str,
}

/// `upfctl synth`: a synthetic year (or any span) of a POI, into the store
/// or as an import CSV.
pub fn synth(setup: &Setup, a: &SynthArgs<'_>) -> anyhow::Result<()> {
    let cal = setup.calendar()?;
    let (from, to) = period(&cal, Some(a.from), Some(a.to), None, 0)?;
    if !(a.peak_mbps.is_finite() && a.peak_mbps > 0.0) {
        bail!("--peak-mbps {}: expected a positive rate", a.peak_mbps);
    }
    if !(a.growth.is_finite() && a.growth > -1.0) {
        bail!("--growth {}: expected a fraction above -1", a.growth);
    }
    let mut s = upf_meter::synth::Synth::new(a.poi, a.peak_mbps, a.seed);
    s.tz = cal.tz();
    s.annual_growth = a.growth;
    let series = s.generate(from, to);
    if let Some(p) = &a.csv {
        std::fs::write(p, upf_meter::synth::to_csv(&series))
            .with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
        return Ok(());
    }
    setup.write(a.gateway, &series)?;
    println!(
        "{} minutes of {} (both directions) from {} to {} written to {} as gateway {}",
        series.first().map_or(0, |s| s.rows.len()),
        a.poi,
        a.from,
        a.to,
        setup.store,
        a.gateway
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_local_days() {
        let cal = Calendar::named("Asia/Tokyo").unwrap();
        // 2026-06-15 12:00 JST.
        let now = 1_781_492_400;
        let (a, b) = period(&cal, None, None, None, now).unwrap();
        assert_eq!(cal.date(a).to_string(), "2026-04-01");
        assert_eq!(cal.date(b - 1).to_string(), "2026-06-15");
        let (a, b) = period(&cal, None, None, Some(2025), now).unwrap();
        assert_eq!(a, 1_743_433_200); // 2025-04-01 00:00 JST = 2025-03-31 15:00 UTC
        assert_eq!(b, 1_774_969_200); // 2026-04-01 00:00 JST
        let (a, b) = period(&cal, Some("2026-05-01"), Some("2026-05-01"), None, now).unwrap();
        assert_eq!(b - a, 86_400);
        assert!(period(&cal, Some("2026-05-02"), Some("2026-05-01"), None, now).is_err());
        assert!(period(&cal, Some("1 May"), None, None, now).is_err());
        assert!(period(&cal, Some("2026-05-01"), None, Some(2026), now).is_err());
    }
}
