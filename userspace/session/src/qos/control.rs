//! The QoS control loop's daemon side: POI meters, measured rates, and
//! what `upfctl qos` shows.
//!
//! Every tick (`qos.control_interval_ms`) [`QosControl::tick`] reads each
//! session's meters through the memory-mapped `METERS` table (no syscall),
//! turns the byte counters into rates over the interval, and hands the
//! per-POI demand to the congestion controller, whose fair-share caps it
//! writes back into the session meters. Demand is what reached a session
//! meter: what passed plus what a meter at or after it dropped, so a capped
//! session's demand stays visible.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use serde::Serialize;
use upf_abi::Meter;

use crate::datapath::{Datapath, MeterConfig};
use crate::plan::{Plan, Write};
use chrono::{Datelike, NaiveDate};
use upf_meter::calendar::Calendar;

use crate::qos::config::{GuardSpec, Period, PoiSpec, QosSetup, QuotaSpec};
use crate::qos::meters::MeterKey;
use crate::rules::Direction;
use crate::sessions::{QosParams, Sessions};
use crate::types::Ipv4Net;

/// The meter index of POI `i` in direction `d` (0 uplink, 1 downlink):
/// POI meters take the first `2 x POIs` indices.
pub fn poi_meter(i: usize, d: usize) -> u32 {
    (2 * i + d) as u32
}

/// Byte counters of a meter at a tick, to difference the next one against.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    pass: u64,
    offered: u64,
}

impl Sample {
    fn of(m: &Meter) -> Sample {
        Sample {
            pass: m.pass_bytes,
            offered: m.pass_bytes.wrapping_add(m.drop_bytes),
        }
    }
}

/// Rates of one meter over the last interval, bit/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rates {
    /// What passed.
    pub rate_bps: u64,
    /// What was offered (passed + dropped at or after the meter).
    pub demand_bps: u64,
    /// Bytes that passed in the interval.
    #[serde(skip)]
    pub passed_bytes: u64,
}

fn rates(prev: Sample, now: Sample, secs: f64) -> Rates {
    let bps = |a: u64, b: u64| (b.wrapping_sub(a) as f64 * 8.0 / secs) as u64;
    Rates {
        rate_bps: bps(prev.pass, now.pass),
        demand_bps: bps(prev.offered, now.offered),
        passed_bytes: now.pass.wrapping_sub(prev.pass),
    }
}

// ---- max-min fair share ----

/// Max-min fair allocation of `capacity` (bit/s) among `demands` (bit/s):
/// the water level `L` such that every demand below `L` is served whole
/// and every other gets `L`. Returns `L` and, per demand, `Some(L)` for the
/// ones to cap (`None`: served whole, untouched). With enough capacity for
/// all, nobody is capped and `L` is `u64::MAX`. Integer arithmetic: `L` is
/// rounded down, so the allocations never add up to more than `capacity`.
pub fn fair_share(capacity: u64, demands: &[u64]) -> (u64, Vec<Option<u64>>) {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| demands[i]);
    let mut left = capacity;
    let mut caps = vec![None; demands.len()];
    for (pos, &i) in order.iter().enumerate() {
        let share = left / (demands.len() - pos) as u64;
        if demands[i] <= share {
            left -= demands[i];
            continue;
        }
        for &j in &order[pos..] {
            caps[j] = Some(share);
        }
        return (share, caps);
    }
    (u64::MAX, caps)
}

// ---- the POI guard ----

/// One congestion episode of a POI in one direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Episode {
    /// POI name.
    pub poi: String,
    /// "uplink" or "downlink".
    pub direction: String,
    /// Unix seconds when demand passed the threshold.
    pub start_unix: u64,
    /// Unix seconds when the caps were lifted (None: still congested).
    pub end_unix: Option<u64>,
    /// Highest aggregate demand seen, bit/s.
    pub peak_demand_bps: u64,
    /// Most sessions capped at once.
    pub peak_sessions_capped: usize,
    /// The capacity, bit/s.
    pub capacity_bps: u64,
}

/// The guard of one POI direction: congestion state with hysteresis.
#[derive(Clone, Debug, Default)]
struct Guard {
    congested: bool,
    below_since: Option<Instant>,
    episode: Option<Episode>,
    /// Smoothed demand per session (EWMA), bit/s.
    smoothed: HashMap<u64, u64>,
}

/// Share of the capacity the caps add up to while congested: a little
/// below it, so the POI meter (the hard limit) rarely has to drop blindly.
const GUARD_TARGET: f64 = 0.99;

// ---- plan quotas ----

/// 1970-01-01, day 0 of the day numbers below.
const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");

/// The day number (days since 1970-01-01) of a date.
fn day_number(d: NaiveDate) -> i64 {
    (d - EPOCH).num_days()
}

/// The date of a day number.
fn date_of(day: i64) -> NaiveDate {
    EPOCH + chrono::Duration::days(day)
}

/// A plan's usage in its current period, from per-day byte counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanUsage {
    /// (local day number, bytes) for the days of the current period.
    days: Vec<(i64, u64)>,
}

impl PlanUsage {
    /// The first local day of the period holding `day`.
    fn period_start(q: &QuotaSpec, day: i64) -> i64 {
        match q.period {
            Period::Daily => day,
            Period::Monthly => day_number(date_of(day).with_day(1).expect("day 1 exists")),
            Period::Rolling => day - i64::from(q.rolling_days.max(1)) + 1,
        }
    }

    /// Adds `bytes` used on local day `day` and drops days before the period.
    pub fn add(&mut self, q: &QuotaSpec, day: i64, bytes: u64) {
        let start = Self::period_start(q, day);
        self.days.retain(|(d, _)| *d >= start && *d <= day);
        match self.days.last_mut() {
            Some((d, b)) if *d == day => *b += bytes,
            _ => self.days.push((day, bytes)),
        }
    }

    /// Bytes used in the period holding `day`.
    pub fn used(&self, q: &QuotaSpec, day: i64) -> u64 {
        let start = Self::period_start(q, day);
        self.days
            .iter()
            .filter(|(d, _)| *d >= start && *d <= day)
            .map(|(_, b)| b)
            .sum()
    }
}

/// The local day number of a Unix time, in the calendar the reports use
/// (`report.timezone`), so a plan's month is the report's month.
pub fn local_day(unix: i64, cal: &Calendar) -> i64 {
    day_number(cal.date(unix))
}

/// What a tick asks the daemon to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickOutcome {
    /// Sessions whose plan quota was used up in this tick (throttled now;
    /// their SMF is to be told).
    pub exhausted: Vec<u64>,
    /// Congestion episodes that ended in this tick.
    pub ended: Vec<Episode>,
}

/// The loop's state.
pub struct QosControl {
    pois: Vec<PoiSpec>,
    params: QosParams,
    guard_spec: Vec<GuardSpec>,
    guards: Vec<[Guard; 2]>,
    quotas: Vec<Option<QuotaSpec>>,
    usage: HashMap<u64, PlanUsage>,
    calendar: Calendar,
    /// The most recent congestion episodes, oldest first (at most 100).
    episodes: Vec<Episode>,
    last: Option<Instant>,
    samples: HashMap<u32, Sample>,
    /// Rates by meter index, from the last tick.
    rates: HashMap<u32, Rates>,
}

impl QosControl {
    /// A loop over `pois` (at most `reserved / 2` of them: see
    /// [`poi_meter`]), without guards or quotas.
    pub fn new(pois: Vec<PoiSpec>, params: QosParams) -> QosControl {
        let guard_spec = vec![
            GuardSpec {
                threshold: 1.0,
                release: 0.9,
                hold_ms: 0,
            };
            pois.len()
        ];
        QosControl::with_setup(pois, params, guard_spec, Vec::new(), Calendar::default())
    }

    /// The loop as the configuration says (`qos_config::build`).
    pub fn from_setup(s: &QosSetup) -> QosControl {
        QosControl::with_setup(
            s.pois.clone(),
            s.params.clone(),
            s.guard.clone(),
            s.quotas.clone(),
            s.calendar,
        )
    }

    fn with_setup(
        pois: Vec<PoiSpec>,
        params: QosParams,
        guard_spec: Vec<GuardSpec>,
        quotas: Vec<Option<QuotaSpec>>,
        calendar: Calendar,
    ) -> QosControl {
        QosControl {
            guards: pois.iter().map(|_| Default::default()).collect(),
            pois,
            params,
            guard_spec,
            quotas,
            usage: HashMap::new(),
            calendar,
            episodes: Vec::new(),
            last: None,
            samples: HashMap::new(),
            rates: HashMap::new(),
        }
    }

    /// Configures the POI meters at their capacity and tells the session
    /// manager which POI a session's peer belongs to.
    pub fn install<D: Datapath>(&self, sessions: &mut Sessions<D>) -> Result<(), String> {
        let mut plan = Plan::new();
        for (i, p) in self.pois.iter().enumerate() {
            for d in 0..2 {
                let index = poi_meter(i, d);
                plan.push(Write::ResetMeter(index));
                plan.push(Write::SetMeter {
                    index,
                    config: MeterConfig {
                        rate_bps: p.capacity_bps[d],
                        tau_ns: self.params.tau_ns(p.capacity_bps[d], None),
                        parent: 0,
                    },
                    prev: None,
                });
            }
        }
        plan.apply(sessions.datapath_mut())
            .map_err(|e| format!("the POI meters: {e}"))?;
        let pois: Vec<Vec<Ipv4Net>> = self.pois.iter().map(|p| p.peers.clone()).collect();
        sessions.set_poi_resolver(Box::new(move |peer: Ipv4Addr| {
            let i = poi_of(&pois, peer)?;
            Some([poi_meter(i, 0) + 1, poi_meter(i, 1) + 1])
        }));
        Ok(())
    }

    /// Reads every POI and session meter and updates the rates; returns
    /// the seconds the rates cover (None on the first tick).
    pub fn measure<D: Datapath>(&mut self, sessions: &Sessions<D>, now: Instant) -> Option<f64> {
        let secs = self.last.map(|l| now.duration_since(l).as_secs_f64());
        self.last = Some(now);
        let mut seen = Vec::new();
        let mut read = |idx: u32, this: &mut QosControl| {
            let Ok(m) = sessions.datapath().meter(idx) else {
                return;
            };
            let s = Sample::of(&m);
            if let (Some(secs), Some(prev)) = (secs, this.samples.get(&idx)) {
                if secs > 0.0 {
                    this.rates.insert(idx, rates(*prev, s, secs));
                }
            }
            this.samples.insert(idx, s);
            seen.push(idx);
        };
        for i in 0..self.pois.len() {
            for d in 0..2 {
                read(poi_meter(i, d), self);
            }
        }
        for s in sessions.sessions().values() {
            for m in s.meters.values() {
                read(m.index, self);
            }
        }
        // Meters given back since: forget them (a reused index starts over).
        seen.sort_unstable();
        self.samples.retain(|k, _| seen.binary_search(k).is_ok());
        self.rates.retain(|k, _| seen.binary_search(k).is_ok());
        secs
    }

    /// One tick: measure, then guard the POIs and count plan quotas.
    /// `unix` is the wall clock (plan periods and episode times).
    pub fn tick<D: Datapath>(
        &mut self,
        sessions: &mut Sessions<D>,
        now: Instant,
        unix: u64,
    ) -> TickOutcome {
        let mut out = TickOutcome::default();
        let Some(secs) = self.measure(sessions, now) else {
            return out;
        };
        for i in 0..self.pois.len() {
            for d in 0..2 {
                if let Some(e) = self.guard(sessions, i, d, now, unix) {
                    out.ended.push(e);
                }
            }
        }
        if secs > 0.0 {
            out.exhausted = self.count_plans(sessions, unix);
        }
        out
    }

    /// Session meters of POI `i`, direction `d`: (SEID, meter index, the
    /// session's own limit (QER, plan) without the cap).
    fn poi_sessions<D: Datapath>(
        sessions: &Sessions<D>,
        i: usize,
        d: usize,
    ) -> Vec<(u64, u32, Option<u64>)> {
        let dir = if d == 0 {
            Direction::Uplink
        } else {
            Direction::Downlink
        };
        sessions
            .sessions()
            .values()
            .filter(|s| s.limits.poi_meter[d] == poi_meter(i, d) + 1)
            .filter_map(|s| {
                let m = s.meters.get(&MeterKey::Session(dir))?;
                let own = [m.qer_bps, s.limits.plan_bps[d]]
                    .into_iter()
                    .flatten()
                    .min();
                Some((s.up_seid, m.index, own))
            })
            .collect()
    }

    /// The guard of POI `i` direction `d`: start, keep or end fair sharing.
    fn guard<D: Datapath>(
        &mut self,
        sessions: &mut Sessions<D>,
        i: usize,
        d: usize,
        now: Instant,
        unix: u64,
    ) -> Option<Episode> {
        let cap = self.pois[i].capacity_bps[d];
        let spec = self.guard_spec[i];
        let members = Self::poi_sessions(sessions, i, d);
        // Demand: smoothed offered rate, bounded by the session's own limit.
        let mut demands = Vec::with_capacity(members.len());
        {
            let g = &mut self.guards[i][d];
            let mut smoothed = HashMap::with_capacity(members.len());
            for (seid, idx, own) in &members {
                let raw = self.rates.get(idx).map_or(0, |r| r.demand_bps);
                let prev = g.smoothed.get(seid).copied().unwrap_or(raw);
                let v = (prev / 2 + raw / 2).min(own.unwrap_or(u64::MAX));
                smoothed.insert(*seid, v);
                demands.push(v);
            }
            g.smoothed = smoothed;
        }
        let total: u64 = demands.iter().sum();
        let g = &mut self.guards[i][d];
        let direction = if d == 0 { "uplink" } else { "downlink" };
        if !g.congested && total as f64 >= spec.threshold * cap as f64 {
            g.congested = true;
            g.below_since = None;
            g.episode = Some(Episode {
                poi: self.pois[i].name.clone(),
                direction: direction.into(),
                start_unix: unix,
                end_unix: None,
                peak_demand_bps: total,
                peak_sessions_capped: 0,
                capacity_bps: cap,
            });
            tracing::info!(poi = %self.pois[i].name, direction, demand_bps = total, capacity_bps = cap, sessions = members.len(), "POI congested: fair sharing starts");
        }
        let mut ended = None;
        if g.congested {
            if (total as f64) < spec.release * cap as f64 {
                let since = *g.below_since.get_or_insert(now);
                if now.duration_since(since).as_millis() as u64 >= spec.hold_ms {
                    g.congested = false;
                    g.below_since = None;
                    if let Some(mut e) = g.episode.take() {
                        e.end_unix = Some(unix);
                        tracing::info!(poi = %e.poi, direction, peak_demand_bps = e.peak_demand_bps, peak_sessions_capped = e.peak_sessions_capped, seconds = unix.saturating_sub(e.start_unix), "POI congestion over: caps lifted");
                        ended = Some(e);
                    }
                }
            } else {
                g.below_since = None;
            }
        }
        let caps = if g.congested {
            let (level, mut caps) = fair_share((cap as f64 * GUARD_TARGET) as u64, &demands);
            // A session capped in this episode stays capped: at the level
            // when its demand dips below it (a cap it does not feel). Lifted
            // and re-installed, its meter would come back with a full
            // bucket, and a sender that stalls for a tick (a busy CPU) would
            // get a burst above its share every time.
            for ((seid, _, _), c) in members.iter().zip(caps.iter_mut()) {
                let prev = sessions.get(*seid).and_then(|s| s.limits.cap_bps[d]);
                if c.is_none() {
                    *c = prev.map(|p| if level == u64::MAX { p } else { level });
                }
            }
            caps
        } else {
            vec![None; members.len()]
        };
        let capped = caps.iter().filter(|c| c.is_some()).count();
        if let Some(e) = g.episode.as_mut() {
            e.peak_demand_bps = e.peak_demand_bps.max(total);
            e.peak_sessions_capped = e.peak_sessions_capped.max(capped);
        }
        for ((seid, _, _), c) in members.iter().zip(caps) {
            let now_cap = sessions.get(*seid).and_then(|s| s.limits.cap_bps[d]);
            if now_cap != c {
                if let Err(e) = sessions.set_limits(*seid, |l| l.cap_bps[d] = c) {
                    // The cap is not recorded either: the next tick tries again.
                    tracing::warn!(seid, error = %e, "writing a fair-share cap failed");
                }
            }
        }
        if let Some(e) = &ended {
            self.episodes.push(e.clone());
            if self.episodes.len() > 100 {
                self.episodes.remove(0);
            }
        }
        ended
    }

    /// Counts each plan session's bytes against its quota; throttles the
    /// ones that used it up, lifts the throttle in a new period. Returns
    /// the sessions throttled now.
    fn count_plans<D: Datapath>(&mut self, sessions: &mut Sessions<D>, unix: u64) -> Vec<u64> {
        let day = local_day(unix as i64, &self.calendar);
        let mut exhausted = Vec::new();
        let mut lift = Vec::new();
        let mut seen = Vec::new();
        for s in sessions.sessions().values() {
            let Some(q) = s
                .limits
                .plan
                .and_then(|p| self.quotas.get(p).copied().flatten())
            else {
                continue;
            };
            seen.push(s.up_seid);
            let bytes: u64 = s
                .meters
                .iter()
                .filter(|(k, _)| matches!(k, MeterKey::Session(_)))
                .map(|(_, m)| self.rates(m.index).passed_bytes)
                .sum();
            let u = self.usage.entry(s.up_seid).or_default();
            u.add(&q, day, bytes);
            let over = u.used(&q, day) >= q.bytes;
            if over && !s.limits.throttled {
                exhausted.push(s.up_seid);
            } else if !over && s.limits.throttled {
                lift.push(s.up_seid);
            }
        }
        seen.sort_unstable();
        self.usage.retain(|k, _| seen.binary_search(k).is_ok());
        for seid in lift {
            tracing::info!(seid, "plan quota: new period, full speed again");
            if let Err(e) = sessions.set_throttled(seid, false) {
                tracing::warn!(seid, error = %e, "lifting a plan's throttle failed");
            }
        }
        exhausted
    }

    /// The bytes a session used in its plan's current period.
    pub fn plan_used(&self, seid: u64, plan: usize, unix: u64) -> Option<u64> {
        let q = self.quotas.get(plan).copied().flatten()?;
        let day = local_day(unix as i64, &self.calendar);
        Some(self.usage.get(&seid).map_or(0, |u| u.used(&q, day)))
    }

    /// The rates of meter `index` over the last interval.
    pub fn rates(&self, index: u32) -> Rates {
        self.rates.get(&index).copied().unwrap_or_default()
    }

    /// What `upfctl qos` shows.
    pub fn view<D: Datapath>(&self, sessions: &Sessions<D>) -> QosView {
        let pois = self
            .pois
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let r = [0, 1].map(|d| self.rates(poi_meter(i, d)));
                let drops = [0, 1].map(|d| {
                    sessions
                        .datapath()
                        .meter(poi_meter(i, d))
                        .map_or(0, |m| m.drop_packets)
                });
                PoiView {
                    name: p.name.clone(),
                    capacity_bps: p.capacity_bps,
                    rate_bps: r.map(|x| x.rate_bps),
                    demand_bps: r.map(|x| x.demand_bps),
                    dropped_packets: drops,
                    sessions: sessions
                        .sessions()
                        .values()
                        .filter(|s| {
                            s.limits.poi_meter[1] == poi_meter(i, 1) + 1
                                || s.limits.poi_meter[0] == poi_meter(i, 0) + 1
                        })
                        .count(),
                    sessions_capped: [0, 1].map(|d| {
                        sessions
                            .sessions()
                            .values()
                            .filter(|s| {
                                s.limits.poi_meter[d] == poi_meter(i, d) + 1
                                    && s.limits.cap_bps[d].is_some()
                            })
                            .count()
                    }),
                }
            })
            .collect();
        let plans = &self.params.plans;
        let sessions = sessions
            .sessions()
            .values()
            .filter(|s| !s.meters.is_empty())
            .map(|s| SessionQosView {
                seid: s.up_seid,
                peer: s.peer.clone(),
                poi: [0, 1]
                    .iter()
                    .find_map(|&d| {
                        let m = s.limits.poi_meter[d];
                        (m != 0).then(|| self.pois.get(((m - 1) / 2) as usize))
                    })
                    .flatten()
                    .map(|p| p.name.clone()),
                plan: s
                    .limits
                    .plan
                    .and_then(|i| plans.get(i))
                    .map(|p| p.name.clone()),
                throttled: s.limits.throttled,
                cap_bps: s.limits.cap_bps,
                meters: s
                    .meters
                    .iter()
                    .map(|(k, m)| {
                        let (kind, qer, dir) = match k {
                            MeterKey::Session(d) => ("session", None, *d),
                            MeterKey::Flow(q, d) => ("flow", Some(*q), *d),
                        };
                        let c = sessions.datapath().meter(m.index).unwrap_or_default();
                        let r = self.rates(m.index);
                        MeterView {
                            kind: kind.into(),
                            qer,
                            direction: match dir {
                                Direction::Uplink => "uplink".into(),
                                Direction::Downlink => "downlink".into(),
                            },
                            index: m.index,
                            qer_mbr_bps: m.qer_bps,
                            limit_bps: m.config.rate_bps,
                            burst_ms: m.config.tau_ns as f64 / 1e6,
                            rate_bps: r.rate_bps,
                            demand_bps: r.demand_bps,
                            dropped_packets: c.drop_packets,
                        }
                    })
                    .collect(),
            })
            .collect();
        QosView {
            pois,
            sessions,
            episodes: self
                .guards
                .iter()
                .flatten()
                .filter_map(|g| g.episode.clone())
                .chain(self.episodes.iter().cloned())
                .collect(),
        }
    }
}

/// The POI whose peer prefixes hold `peer` (longest prefix).
pub fn poi_of(pois: &[Vec<Ipv4Net>], peer: Ipv4Addr) -> Option<usize> {
    pois.iter()
        .enumerate()
        .flat_map(|(i, nets)| nets.iter().map(move |n| (i, n)))
        .filter(|(_, n)| n.contains(peer))
        .max_by_key(|(_, n)| n.len)
        .map(|(i, _)| i)
}

/// `upfctl qos`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct QosView {
    /// Per POI.
    pub pois: Vec<PoiView>,
    /// Per session with a meter.
    pub sessions: Vec<SessionQosView>,
    /// Congestion episodes: ongoing ones first, then the last ended ones.
    #[serde(default)]
    pub episodes: Vec<Episode>,
}

/// One POI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PoiView {
    /// Name.
    pub name: String,
    /// Contracted capacity (uplink, downlink), bit/s.
    pub capacity_bps: [u64; 2],
    /// Forwarded over the last interval, bit/s.
    pub rate_bps: [u64; 2],
    /// Offered over the last interval, bit/s.
    pub demand_bps: [u64; 2],
    /// Packets the POI meter dropped (the capacity was exceeded), since start.
    pub dropped_packets: [u64; 2],
    /// Sessions behind it.
    pub sessions: usize,
    /// Sessions with a fair-share cap now.
    pub sessions_capped: [usize; 2],
}

/// One session's QoS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SessionQosView {
    /// Our SEID.
    pub seid: u64,
    /// Its SMF.
    pub peer: String,
    /// Its POI.
    pub poi: Option<String>,
    /// Its plan.
    pub plan: Option<String>,
    /// The plan's quota is used up.
    pub throttled: bool,
    /// Fair-share caps (uplink, downlink), bit/s.
    pub cap_bps: [Option<u64>; 2],
    /// Its meters.
    pub meters: Vec<MeterView>,
}

/// One meter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct MeterView {
    /// "session" or "flow".
    pub kind: String,
    /// The flow QER.
    pub qer: Option<u32>,
    /// "uplink" or "downlink".
    pub direction: String,
    /// Index in METERS.
    pub index: u32,
    /// The QER's MBR, bit/s.
    pub qer_mbr_bps: Option<u64>,
    /// The limit in force (QER, plan and cap combined), bit/s; 0: none.
    pub limit_bps: u64,
    /// Burst tolerance.
    pub burst_ms: f64,
    /// Forwarded over the last interval, bit/s.
    pub rate_bps: u64,
    /// Offered over the last interval, bit/s.
    pub demand_bps: u64,
    /// Packets dropped at or after it since the meter was created.
    pub dropped_packets: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::fake::FakeDatapath;
    use crate::sessions::SessionsConfig;
    use std::time::Duration;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn fair_share_by_hand() {
        // All fit: 10 + 20 + 30 <= 100: nobody capped.
        assert_eq!(fair_share(100, &[10, 20, 30]), (u64::MAX, vec![None; 3]));
        // One heavy, two light: 100 - 10 - 20 = 70 left for the heavy one.
        assert_eq!(
            fair_share(100, &[10, 500, 20]),
            (70, vec![None, Some(70), None])
        );
        // Two heavy, four light (the POI guard's design case, Mbit/s): lights take
        // 4 x 5 = 20 of 100; the heavies split the 80: 40 each.
        let (l, caps) = fair_share(100, &[60, 5, 5, 90, 5, 5]);
        assert_eq!(l, 40);
        assert_eq!(caps, vec![Some(40), None, None, Some(40), None, None]);
        // All equal and over: each gets C / n, rounded down (33 x 3 = 99 <= 100).
        assert_eq!(fair_share(100, &[50, 50, 50]), (33, vec![Some(33); 3]));
        // A light one just above the equal split is capped too:
        // 100 / 3 = 33 < 34: everyone at 33.
        assert_eq!(fair_share(100, &[34, 80, 90]).0, 33);
        // Water-filling in two steps: 100/4 = 25 > 10 -> 10 served;
        // 90/3 = 30 > 20 -> 20 served; 70/2 = 35 < 50 -> level 35.
        assert_eq!(fair_share(100, &[50, 10, 60, 20]).0, 35);
        // Zero demands, zero capacity, one session.
        assert_eq!(fair_share(100, &[0, 0]).1, vec![None, None]);
        assert_eq!(fair_share(0, &[5]), (0, vec![Some(0)]));
        assert_eq!(fair_share(7, &[9]), (7, vec![Some(7)]));
        assert_eq!(fair_share(7, &[]), (u64::MAX, vec![]));
    }

    #[test]
    fn fair_share_never_exceeds_the_capacity() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..500 {
            let n = (x % 17) as usize;
            let d: Vec<u64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % 1000
                })
                .collect();
            let cap = x % 3000;
            let (_, caps) = fair_share(cap, &d);
            let total: u64 = d.iter().zip(&caps).map(|(d, c)| c.unwrap_or(*d)).sum();
            assert!(
                total <= cap || caps.iter().all(Option::is_none),
                "{d:?} {cap}"
            );
            for (di, ci) in d.iter().zip(&caps) {
                if let Some(c) = ci {
                    assert!(c <= di, "a cap is never above the demand");
                }
            }
        }
    }

    #[test]
    fn plan_periods_month_day_and_rolling() {
        // 2028 is a leap year: 29 Feb then 1 Mar.
        let feb29 = day_number(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap());
        assert_eq!(
            date_of(feb29 + 1),
            NaiveDate::from_ymd_opt(2028, 3, 1).unwrap()
        );
        assert_eq!(day_number(EPOCH), 0);
        let monthly = QuotaSpec {
            bytes: 100,
            period: Period::Monthly,
            rolling_days: 0,
        };
        let mut u = PlanUsage::default();
        u.add(&monthly, feb29 - 1, 60);
        u.add(&monthly, feb29, 30);
        assert_eq!(u.used(&monthly, feb29), 90);
        u.add(&monthly, feb29 + 1, 5);
        assert_eq!(u.used(&monthly, feb29 + 1), 5, "March starts afresh");
        // Rolling 3 days: usage slides out.
        let rolling = QuotaSpec {
            bytes: 100,
            period: Period::Rolling,
            rolling_days: 3,
        };
        let mut u = PlanUsage::default();
        for (day, b) in [(10, 40), (11, 30), (12, 20)] {
            u.add(&rolling, day, b);
        }
        assert_eq!(u.used(&rolling, 12), 90);
        u.add(&rolling, 13, 0);
        assert_eq!(u.used(&rolling, 13), 50, "day 10 left the window");
        let daily = QuotaSpec {
            bytes: 100,
            period: Period::Daily,
            rolling_days: 0,
        };
        let mut u = PlanUsage::default();
        u.add(&daily, 5, 100);
        assert_eq!(u.used(&daily, 5), 100);
        assert_eq!(u.used(&daily, 6), 0);
        // Local midnight in Tokyo is 15:00 UTC.
        let tokyo = Calendar::named("Asia/Tokyo").unwrap();
        assert_eq!(local_day(15 * 3600 - 1, &tokyo), 0);
        assert_eq!(local_day(15 * 3600, &tokyo), 1);
        // A zone with summer time: Berlin's day starts at 22:00 UTC in July.
        let berlin = Calendar::named("Europe/Berlin").unwrap();
        let july1 = day_number(NaiveDate::from_ymd_opt(2027, 7, 1).unwrap());
        let utc_2200 = july1 * 86_400 + 22 * 3600;
        assert_eq!(local_day(utc_2200 - 1, &berlin), july1);
        assert_eq!(local_day(utc_2200, &berlin), july1 + 1);
    }

    /// The POI guard's design case on the control loop, with scripted meter
    /// counters: capacity 100 Mbit/s downlink, two heavy subscribers
    /// offering 60 and 90, four light ones offering 5 each. Once demand
    /// passes 90 % the heavies are capped at an equal share of the rest and
    /// the light ones are untouched; when demand falls below the release
    /// level for the hold time, the caps are lifted and the episode is
    /// recorded.
    #[test]
    fn the_guard_caps_heavy_sessions_fairly_and_lifts_the_caps() {
        use crate::manager::SessionManager;
        use crate::static_sessions::{Generation, SessionSpec};
        let setup = crate::qos::config::build(
            &crate::qos::config::QosConfig::default(),
            &[toml::from_str(
                r#"name = "poi-a"
peers = ["10.100.0.0/24"]
capacity_ul_mbps = 100
capacity_dl_mbps = 100
release_hold_ms = 500"#,
            )
            .unwrap()],
            &[],
            "Asia/Tokyo",
        )
        .unwrap();
        let mut m = SessionManager::with_config(
            FakeDatapath::new(64),
            SessionsConfig {
                n3: Ipv4Addr::new(10, 100, 0, 1),
                teid_range: (0x10_0000, 0x7fff_ffff),
                ue_pools: Vec::new(),
                qos: setup.params.clone(),
            },
        );
        m.set_qos(QosControl::from_setup(&setup)).unwrap();
        let offered_mbps = [60u64, 5, 5, 90, 5, 5];
        for i in 0..offered_mbps.len() as u64 {
            m.install(SessionSpec {
                id: i + 1,
                local_teid: 0x100 + i as u32,
                ue_ipv4: Ipv4Addr::new(10, 45, 0, 10 + i as u8),
                peer_ipv4: Ipv4Addr::new(10, 100, 0, 2),
                remote_teid: 0x900 + i as u32,
                qfi: 0,
                generation: Generation::Lte,
            })
            .unwrap();
        }
        let seids: Vec<u64> = m.sessions().sessions().keys().copied().collect();
        let dl_meter = |m: &SessionManager<FakeDatapath>, seid: u64| {
            m.sessions().get(seid).unwrap().meters[&MeterKey::Session(Direction::Downlink)].index
        };
        let t0 = Instant::now();
        let mut t = t0;
        let mut unix = 1_000_000;
        // Each 250 ms tick, every session offers its rate; a capped one
        // passes its cap and the rest shows as dropped.
        let mut step = |m: &mut SessionManager<FakeDatapath>, offered: &[u64]| {
            for (k, seid) in seids.iter().enumerate() {
                let idx = dl_meter(m, *seid);
                let cap = m.sessions().get(*seid).unwrap().limits.cap_bps[1];
                let offer = offered[k] * 1_000_000 / 8 / 4;
                let pass = cap.map_or(offer, |c| offer.min(c / 8 / 4));
                let meter = m
                    .sessions_mut()
                    .datapath_mut()
                    .meters
                    .get_mut(&idx)
                    .unwrap();
                meter.pass_bytes += pass;
                meter.drop_bytes += offer - pass;
            }
            t += Duration::from_millis(250);
            unix += 1;
            m.qos_tick(t, unix);
        };
        for _ in 0..6 {
            step(&mut m, &offered_mbps);
        }
        let caps: Vec<Option<u64>> = seids
            .iter()
            .map(|s| m.sessions().get(*s).unwrap().limits.cap_bps[1])
            .collect();
        // 99 Mbit/s target: 4 x 5 = 20 to the light ones, 79 / 2 = 39.5 each.
        for (k, c) in caps.iter().enumerate() {
            if offered_mbps[k] > 10 {
                let c = c.expect("a heavy session is capped");
                assert!((c as i64 - 39_500_000).abs() < 500_000, "cap {c}");
            } else {
                assert_eq!(*c, None, "a light session is untouched");
            }
        }
        let idx = dl_meter(&m, seids[0]);
        assert_eq!(
            m.sessions().datapath().meter(idx).unwrap().cost_ns_q16,
            Meter::cost_for_bps(caps[0].unwrap()),
            "the cap is written into the session meter"
        );
        let v = m.qos_view();
        assert_eq!(v.pois[0].sessions_capped, [0, 2]);
        // Demand falls to 20 Mbit/s: below 80 % for 500 ms lifts the caps.
        for _ in 0..6 {
            step(&mut m, &[5, 5, 5, 0, 5, 0]);
        }
        for s in &seids {
            assert_eq!(m.sessions().get(*s).unwrap().limits.cap_bps[1], None);
        }
        let v = m.qos_view();
        assert_eq!(v.episodes.len(), 1);
        let e = &v.episodes[0];
        assert_eq!(
            (e.poi.as_str(), e.direction.as_str()),
            ("poi-a", "downlink")
        );
        assert!(e.end_unix.is_some() && e.peak_sessions_capped == 2);
        assert!(e.peak_demand_bps >= 150_000_000, "{e:?}");
    }

    #[test]
    fn the_longest_prefix_names_the_poi() {
        let pois = vec![vec![net("10.0.0.0/8")], vec![net("10.1.0.0/16")]];
        assert_eq!(poi_of(&pois, Ipv4Addr::new(10, 1, 2, 3)), Some(1));
        assert_eq!(poi_of(&pois, Ipv4Addr::new(10, 2, 2, 3)), Some(0));
        assert_eq!(poi_of(&pois, Ipv4Addr::new(192, 0, 2, 1)), None);
    }

    #[test]
    fn poi_meters_are_configured_and_rates_come_from_counter_deltas() {
        let params = QosParams {
            reserved_meters: crate::qos::config::reserved_meters(1),
            ..QosParams::default()
        };
        let mut s = Sessions::new(
            FakeDatapath::new(16),
            SessionsConfig {
                n3: Ipv4Addr::new(10, 100, 0, 1),
                teid_range: (1, 100),
                ue_pools: Vec::new(),
                qos: params.clone(),
            },
        );
        let mut q = QosControl::new(
            vec![PoiSpec {
                name: "docomo".into(),
                peers: vec![net("10.100.0.0/24")],
                capacity_bps: [50_000_000, 100_000_000],
            }],
            params,
        );
        q.install(&mut s).unwrap();
        let dl = s.datapath().meter(poi_meter(0, 1)).unwrap();
        assert_eq!(dl.cost_ns_q16, Meter::cost_for_bps(100_000_000));
        let t0 = Instant::now();
        assert_eq!(q.measure(&s, t0), None, "the first tick only samples");
        // 1.25 MB passed and 0.25 MB dropped in half a second on the DL POI meter.
        let m = s.datapath_mut().meters.get_mut(&poi_meter(0, 1)).unwrap();
        m.pass_bytes += 1_250_000;
        m.drop_bytes += 250_000;
        let secs = q.measure(&s, t0 + Duration::from_millis(500)).unwrap();
        assert!((secs - 0.5).abs() < 1e-9);
        let v = q.view(&s);
        assert_eq!(v.pois[0].rate_bps[1], 20_000_000);
        assert_eq!(v.pois[0].demand_bps[1], 24_000_000);
        assert_eq!(v.pois[0].capacity_bps, [50_000_000, 100_000_000]);
    }
}
