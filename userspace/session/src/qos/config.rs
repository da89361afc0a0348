//! The QoS sections of the configuration: `[qos]`, `[[poi]]` and `[[plan]]`
//! (docs/qos.md), checked at start. Every error names the field.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;
use upf_meter::calendar::Calendar;

use crate::qos::meters::MbrLimits;
use crate::sessions::{PlanRates, QosParams};
use crate::types::Ipv4Net;

/// A POI as the control loop knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoiSpec {
    /// Its name.
    pub name: String,
    /// The host network's GTP-U peers behind it.
    pub peers: Vec<Ipv4Net>,
    /// Contracted capacity per direction (uplink, downlink), bit/s.
    pub capacity_bps: [u64; 2],
}

/// Meters `0..reserved_meters(n)` are the POI meters of `n` POIs (one per
/// direction); sessions' meters come after them.
pub fn reserved_meters(n_pois: usize) -> u32 {
    2 * n_pois as u32
}

/// `[qos]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosConfig {
    /// Bucket depth of a rate meter as time at its rate, ms.
    #[serde(default = "default_burst_ms")]
    pub mbr_burst_ms: u64,
    /// Bucket depth at least this many bytes.
    #[serde(default = "default_min_burst")]
    pub min_burst_bytes: u64,
    /// The highest QER MBR accepted, kbit/s (above: refused as absurd).
    #[serde(default = "default_max_mbr")]
    pub max_mbr_kbps: u64,
    /// Size of the METERS table (session meters; POI meters come first).
    #[serde(default = "default_max_meters")]
    pub max_meters: u32,
    /// Period of the control loop (rates, fair-share caps, plan quotas), ms.
    #[serde(default = "default_interval")]
    pub control_interval_ms: u64,
    /// Network instance -> the plan of its sessions that activate none.
    #[serde(default)]
    pub default_plan: BTreeMap<String, String>,
    /// Gone: plan periods follow `report.timezone`. Kept only to refuse
    /// it with the way out rather than as an unknown field.
    #[serde(default)]
    pub utc_offset_hours: Option<i64>,
}

impl Default for QosConfig {
    fn default() -> Self {
        QosConfig {
            mbr_burst_ms: default_burst_ms(),
            min_burst_bytes: default_min_burst(),
            max_mbr_kbps: default_max_mbr(),
            max_meters: default_max_meters(),
            control_interval_ms: default_interval(),
            default_plan: BTreeMap::new(),
            utc_offset_hours: None,
        }
    }
}

fn default_burst_ms() -> u64 {
    300
}
fn default_min_burst() -> u64 {
    3000
}
fn default_max_mbr() -> u64 {
    MbrLimits::default().max_kbps
}
fn default_max_meters() -> u32 {
    upf_abi::DEFAULT_MAX_METERS
}
fn default_interval() -> u64 {
    250
}
fn default_threshold() -> f64 {
    0.9
}
fn default_release() -> f64 {
    0.8
}
fn default_hold() -> u64 {
    2000
}

/// `[[poi]]`: a point of interface with the host network.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoiConfig {
    /// Name (unique).
    pub name: String,
    /// The host network's GTP-U peers (eNB, gNB, SGW-U) behind it, as IPv4 prefixes.
    pub peers: Vec<String>,
    /// Contracted capacity toward the data network (uplink), Mbit/s.
    pub capacity_ul_mbps: f64,
    /// Contracted capacity toward the subscribers (downlink), Mbit/s.
    pub capacity_dl_mbps: f64,
    /// Demand at this fraction of the capacity starts fair sharing.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Demand below this fraction for `release_hold_ms` lifts the caps.
    #[serde(default = "default_release")]
    pub release: f64,
    /// How long demand must stay below `release` before caps are lifted, ms.
    #[serde(default = "default_hold")]
    pub release_hold_ms: u64,
    /// The host network (a key of the charge table: "docomo", "kddi",
    /// "softbank"), for `upfctl report`'s charges.
    #[serde(default)]
    pub host: Option<String>,
    /// Capacities per fiscal year for the regulator's table in `upfctl
    /// report`: `{ fy, capacity_mbps, demand_mbps }`.
    #[serde(default)]
    pub fiscal_year: Vec<upf_meter::charges::FyPlan>,
}

impl PoiConfig {
    /// What the report needs of this POI.
    pub fn report_plan(&self) -> upf_meter::charges::PoiPlan {
        upf_meter::charges::PoiPlan {
            host: self.host.clone(),
            fiscal_year: self.fiscal_year.clone(),
        }
    }
}

/// A plan's quota period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// The calendar month, in local time (`report.timezone`).
    Monthly,
    /// The calendar day, in local time.
    Daily,
    /// The last `rolling_days` days (e.g. the "3-day rule").
    Rolling,
}

/// `[[plan]]`: an MVNO plan, local policy a session activates by name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Name (unique), as Activate Predefined Rules names it.
    pub name: String,
    /// Maximum uplink rate, kbit/s (absent: none).
    #[serde(default)]
    pub ul_kbps: Option<u64>,
    /// Maximum downlink rate, kbit/s (absent: none).
    #[serde(default)]
    pub dl_kbps: Option<u64>,
    /// Volume (uplink + downlink, inner IP bytes) per period at full speed.
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// The quota's period.
    #[serde(default)]
    pub period: Option<Period>,
    /// Days of a rolling period.
    #[serde(default)]
    pub rolling_days: Option<u32>,
    /// Uplink rate once the quota is used, kbit/s.
    #[serde(default)]
    pub throttled_ul_kbps: Option<u64>,
    /// Downlink rate once the quota is used, kbit/s.
    #[serde(default)]
    pub throttled_dl_kbps: Option<u64>,
    /// Burst allowance at full speed while throttled, bytes.
    #[serde(default)]
    pub burst_bytes: Option<u64>,
}

/// What the QoS sections become.
#[derive(Clone, Debug)]
pub struct QosSetup {
    /// For the session manager.
    pub params: QosParams,
    /// The POIs, in configuration order (their meters are `2i`, `2i + 1`).
    pub pois: Vec<PoiSpec>,
    /// Per POI: threshold, release, hold.
    pub guard: Vec<GuardSpec>,
    /// Plans' quotas, by plan index.
    pub quotas: Vec<Option<QuotaSpec>>,
    /// The loop's period.
    pub interval_ms: u64,
    /// The calendar plan periods are counted in (the reports' zone).
    pub calendar: Calendar,
    /// Size of METERS.
    pub max_meters: u32,
}

/// A POI guard's thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardSpec {
    /// Start fair sharing at this fraction of the capacity.
    pub threshold: f64,
    /// Lift the caps below this fraction...
    pub release: f64,
    /// ...held this long, ms.
    pub hold_ms: u64,
}

/// A plan's quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaSpec {
    /// Bytes per period.
    pub bytes: u64,
    /// The period.
    pub period: Period,
    /// Days, for a rolling period.
    pub rolling_days: u32,
}

type Invalid = (String, String);

fn net(s: &str) -> Option<Ipv4Net> {
    let (a, l) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = a.parse().ok()?;
    let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some(Ipv4Net { addr, len })
}

fn kbps(field: String, v: Option<u64>, max: u64) -> Result<Option<u64>, Invalid> {
    match v {
        Some(0) => Err((field, "must be above 0".into())),
        Some(k) if k > max => Err((
            field,
            format!("{k} kbit/s is above qos.max_mbr_kbps ({max})"),
        )),
        v => Ok(v.map(|k| k * 1000)),
    }
}

/// Checks the QoS sections and builds what the daemon needs.
pub fn build(
    q: &QosConfig,
    pois: &[PoiConfig],
    plans: &[PlanConfig],
    timezone: &str,
) -> Result<QosSetup, Invalid> {
    let bad = |f: &str, r: String| Err((f.to_string(), r));
    if !(1..=10_000).contains(&q.mbr_burst_ms) {
        return bad("qos.mbr_burst_ms", "must be 1..=10000".into());
    }
    if q.min_burst_bytes < 64 {
        return bad("qos.min_burst_bytes", "must be at least 64".into());
    }
    if q.max_mbr_kbps == 0 || q.max_mbr_kbps >= 1 << 40 {
        return bad(
            "qos.max_mbr_kbps",
            "must be 1..2^40 (the MBR field's range)".into(),
        );
    }
    if q.utc_offset_hours.is_some() {
        return bad(
            "qos.utc_offset_hours",
            "plan periods now follow report.timezone (an IANA zone, default \"Asia/Tokyo\"), the calendar the reports use: remove this line".into(),
        );
    }
    let calendar = Calendar::named(timezone).map_err(|e| ("report.timezone".to_string(), e))?;
    if !(100..=1000).contains(&q.control_interval_ms) {
        return bad("qos.control_interval_ms", "must be 100..=1000".into());
    }
    let reserved = reserved_meters(pois.len());
    if q.max_meters <= reserved {
        return bad(
            "qos.max_meters",
            format!("must be above the {reserved} meters the POIs take"),
        );
    }
    let mut specs = Vec::new();
    let mut guard = Vec::new();
    for (i, p) in pois.iter().enumerate() {
        let f = |k: &str| format!("poi[{i}].{k}");
        if p.name.is_empty() || pois[..i].iter().any(|o| o.name == p.name) {
            return Err((f("name"), format!("{:?}: empty or used twice", p.name)));
        }
        if p.peers.is_empty() {
            return Err((f("peers"), "needs at least one prefix".into()));
        }
        let mut nets = Vec::new();
        for (j, s) in p.peers.iter().enumerate() {
            let n = net(s).ok_or_else(|| {
                (
                    format!("poi[{i}].peers[{j}]"),
                    format!("{s:?} is not an IPv4 prefix"),
                )
            })?;
            if let Some((k, o)) = specs
                .iter()
                .enumerate()
                .find_map(|(k, x): (usize, &PoiSpec)| {
                    x.peers.iter().find(|o| **o == n).map(|o| (k, *o))
                })
            {
                return Err((
                    format!("poi[{i}].peers[{j}]"),
                    format!("{}/{} is also a prefix of poi[{k}]", o.addr, o.len),
                ));
            }
            nets.push(n);
        }
        let mut cap = [0u64; 2];
        for (d, (k, v)) in [
            ("capacity_ul_mbps", p.capacity_ul_mbps),
            ("capacity_dl_mbps", p.capacity_dl_mbps),
        ]
        .into_iter()
        .enumerate()
        {
            if !(v > 0.0 && v <= 1e7) {
                return Err((
                    f(k),
                    format!("{v}: must be above 0 (and at most 10 Tbit/s)"),
                ));
            }
            cap[d] = (v * 1e6) as u64;
        }
        if !(p.threshold > 0.0 && p.threshold <= 1.0) {
            return Err((
                f("threshold"),
                format!("{}: must be in (0, 1]", p.threshold),
            ));
        }
        if !(p.release >= 0.0 && p.release < p.threshold) {
            return Err((
                f("release"),
                format!("{}: must be below threshold ({})", p.release, p.threshold),
            ));
        }
        specs.push(PoiSpec {
            name: p.name.clone(),
            peers: nets,
            capacity_bps: cap,
        });
        guard.push(GuardSpec {
            threshold: p.threshold,
            release: p.release,
            hold_ms: p.release_hold_ms,
        });
    }
    let mut rates = Vec::new();
    let mut quotas = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let f = |k: &str| format!("plan[{i}].{k}");
        if p.name.is_empty() || plans[..i].iter().any(|o| o.name == p.name) {
            return Err((f("name"), format!("{:?}: empty or used twice", p.name)));
        }
        let max = q.max_mbr_kbps;
        let bps = [
            kbps(f("ul_kbps"), p.ul_kbps, max)?,
            kbps(f("dl_kbps"), p.dl_kbps, max)?,
        ];
        let thr = [
            kbps(f("throttled_ul_kbps"), p.throttled_ul_kbps, max)?,
            kbps(f("throttled_dl_kbps"), p.throttled_dl_kbps, max)?,
        ];
        let quota = match (p.quota_bytes, p.period) {
            (None, None) => {
                if thr.iter().any(Option::is_some) || p.burst_bytes.is_some() {
                    return Err((
                        f("quota_bytes"),
                        "throttled rates and a burst allowance need a quota".into(),
                    ));
                }
                None
            }
            (Some(_), None) => return Err((f("period"), "a quota needs a period".into())),
            (None, Some(_)) => return Err((f("quota_bytes"), "a period needs a quota".into())),
            (Some(0), _) => return Err((f("quota_bytes"), "must be above 0".into())),
            (Some(bytes), Some(period)) => {
                if thr.iter().all(Option::is_none) {
                    return Err((
                        f("throttled_dl_kbps"),
                        "a quota needs the throttled rate that applies after it".into(),
                    ));
                }
                let rolling_days = match (period, p.rolling_days) {
                    (Period::Rolling, Some(d)) if (1..=31).contains(&d) => d,
                    (Period::Rolling, _) => {
                        return Err((
                            f("rolling_days"),
                            "period \"rolling\" needs 1..=31 days".into(),
                        ))
                    }
                    (_, Some(_)) => {
                        return Err((f("rolling_days"), "only for period \"rolling\"".into()))
                    }
                    (_, None) => 0,
                };
                Some(QuotaSpec {
                    bytes,
                    period,
                    rolling_days,
                })
            }
        };
        rates.push(PlanRates {
            name: p.name.clone(),
            bps,
            throttled_bps: thr,
            burst_bytes: p.burst_bytes,
        });
        quotas.push(quota);
    }
    let mut default_plans = Vec::new();
    for (ni, plan) in &q.default_plan {
        if !plans.iter().any(|p| p.name == *plan) {
            return Err((
                format!("qos.default_plan.{ni}"),
                format!("no [[plan]] is named {plan:?}"),
            ));
        }
        default_plans.push((ni.clone(), plan.clone()));
    }
    Ok(QosSetup {
        params: QosParams {
            limits: MbrLimits {
                max_kbps: q.max_mbr_kbps,
            },
            burst_ms: q.mbr_burst_ms,
            min_burst_bytes: q.min_burst_bytes,
            reserved_meters: reserved,
            plans: rates,
            default_plans,
        },
        pois: specs,
        guard,
        quotas,
        interval_ms: q.control_interval_ms,
        calendar,
        max_meters: q.max_meters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: &str = "Asia/Tokyo";

    fn poi(toml: &str) -> PoiConfig {
        toml::from_str(toml).unwrap()
    }

    fn plan(toml: &str) -> PlanConfig {
        toml::from_str(toml).unwrap()
    }

    const P: &str = r#"name = "docomo"
peers = ["10.100.0.0/24"]
capacity_ul_mbps = 100
capacity_dl_mbps = 1000"#;

    #[test]
    fn a_poi_and_a_plan_build() {
        let p = plan(
            r#"name = "3gb"
dl_kbps = 150000
quota_bytes = 3000000000
period = "monthly"
throttled_dl_kbps = 200
throttled_ul_kbps = 200
burst_bytes = 75000"#,
        );
        let mut q = QosConfig::default();
        q.default_plan.insert("internet".into(), "3gb".into());
        let s = build(&q, &[poi(P)], &[p], TZ).unwrap();
        assert_eq!(s.pois[0].capacity_bps, [100_000_000, 1_000_000_000]);
        assert_eq!(s.params.reserved_meters, 2);
        assert_eq!(s.params.plans[0].bps, [None, Some(150_000_000)]);
        assert_eq!(
            s.params.plans[0].throttled_bps,
            [Some(200_000), Some(200_000)]
        );
        assert_eq!(s.quotas[0].unwrap().bytes, 3_000_000_000);
        assert_eq!(
            s.params.default_plans,
            vec![("internet".into(), "3gb".into())]
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let q = QosConfig::default();
        let cases: Vec<(Vec<PoiConfig>, Vec<PlanConfig>, &str)> = vec![
            (
                vec![poi(&P.replace("100\n", "0\n"))],
                vec![],
                "poi[0].capacity_ul_mbps",
            ),
            (
                vec![poi(&P.replace("/24", "/33"))],
                vec![],
                "poi[0].peers[0]",
            ),
            (vec![poi(P), poi(P)], vec![], "poi[1].name"),
            (
                vec![poi(P), poi(&P.replace("docomo", "kddi"))],
                vec![],
                "poi[1].peers[0]",
            ),
            (
                vec![poi(&format!("{P}\nthreshold = 0.5\nrelease = 0.6"))],
                vec![],
                "poi[0].release",
            ),
            (
                vec![],
                vec![plan("name = \"x\"\ndl_kbps = 0")],
                "plan[0].dl_kbps",
            ),
            (
                vec![],
                vec![plan("name = \"x\"\nquota_bytes = 5\nperiod = \"daily\"")],
                "plan[0].throttled_dl_kbps",
            ),
            (
                vec![],
                vec![plan(
                    "name = \"x\"\nquota_bytes = 5\nperiod = \"rolling\"\nthrottled_dl_kbps = 1",
                )],
                "plan[0].rolling_days",
            ),
            (
                vec![],
                vec![plan("name = \"x\"\nquota_bytes = 5")],
                "plan[0].period",
            ),
        ];
        for (pois, plans, field) in cases {
            let e = build(&q, &pois, &plans, TZ).unwrap_err();
            assert_eq!(e.0, field, "{e:?}");
        }
        let mut q = QosConfig::default();
        q.default_plan.insert("internet".into(), "nope".into());
        assert_eq!(
            build(&q, &[], &[], TZ).unwrap_err().0,
            "qos.default_plan.internet"
        );
        let q = QosConfig {
            control_interval_ms: 50,
            ..QosConfig::default()
        };
        assert_eq!(
            build(&q, &[], &[], TZ).unwrap_err().0,
            "qos.control_interval_ms"
        );
        // The old fixed offset is refused with the way out; plan periods
        // follow the reports' zone, which must be a real one.
        let q = QosConfig {
            utc_offset_hours: Some(9),
            ..QosConfig::default()
        };
        let e = build(&q, &[], &[], TZ).unwrap_err();
        assert_eq!(e.0, "qos.utc_offset_hours");
        assert!(e.1.contains("report.timezone"), "{e:?}");
        let e = build(&QosConfig::default(), &[], &[], "Asia/Tokio").unwrap_err();
        assert_eq!(e.0, "report.timezone", "{e:?}");
        let s = build(&QosConfig::default(), &[], &[], "Europe/Berlin").unwrap();
        assert_eq!(s.calendar.tz().name(), "Europe/Berlin");
    }
}
