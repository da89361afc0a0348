//! Rate meters, planned: which QER MBR becomes which meter
//! ([`Rules::meter_plan`]), the session's plan and local limits on top
//! ([`SessionLimits`]: plan rate, throttle, the POI guard's fair-share cap,
//! the POI meter it chains to), and how the session manager takes,
//! configures and frees the meters a request needs. Every meter write is a
//! [`Write`] in the request's plan; the fast path's GCRA
//! (`upf_fastpath::meter`) enforces them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_abi::Meter;
use upf_pfcp::ie::{types, FailedRuleId, UsageReportTrigger as Urt};
use upf_pfcp::Cause;

use crate::datapath::{Datapath, MeterConfig};
use crate::plan::{ApplyError, Plan, Write};
use crate::rules::{pdr_fail, Direction, Pdr, Reject, Rules, Urr};
use crate::sessions::{resources, PendingReport, Session, Sessions, Taken};
use crate::vecmap::VecMap;

/// A plan's rates, as sessions apply them (`[[plan]]`); its quota is
/// tracked by the QoS controller, which sets the session's `throttled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRates {
    /// The plan's name, as Activate Predefined Rules names it.
    pub name: String,
    /// Maximum rate per direction (uplink, downlink), bit/s.
    pub bps: [Option<u64>; 2],
    /// Rate per direction once the quota is used, bit/s.
    pub throttled_bps: [Option<u64>; 2],
    /// Burst allowance at full speed while throttled, bytes.
    pub burst_bytes: Option<u64>,
}

/// How QER MBRs become rate meters (`[qos]`), and the plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QosParams {
    /// MBR sanity limits.
    pub limits: MbrLimits,
    /// Bucket depth as time at the rate: a meter lets `rate x burst_ms`
    /// through at once after an idle period.
    pub burst_ms: u64,
    /// Bucket depth at least this many bytes (a few full-size packets),
    /// whatever the rate.
    pub min_burst_bytes: u64,
    /// Meters `0..reserved_meters` are not handed to sessions (the POI meters).
    pub reserved_meters: u32,
    /// The plans Activate Predefined Rules may name.
    pub plans: Vec<PlanRates>,
    /// Network instance -> the plan of sessions that activate none.
    pub default_plans: Vec<(String, String)>,
}

impl Default for QosParams {
    fn default() -> Self {
        QosParams {
            limits: MbrLimits::default(),
            burst_ms: 300,
            min_burst_bytes: 3000,
            reserved_meters: 0,
            plans: Vec::new(),
            default_plans: Vec::new(),
        }
    }
}

impl QosParams {
    /// The burst tolerance of a meter at `rate_bps`: `burst_bytes` when
    /// given (a plan's burst allowance), else `burst_ms` worth of the rate,
    /// never less than `min_burst_bytes` nor than
    /// [`upf_abi::METER_MIN_TAU_NS`] (the fast path's clock ticks).
    pub fn tau_ns(&self, rate_bps: u64, burst_bytes: Option<u64>) -> u64 {
        if rate_bps == 0 {
            return 0;
        }
        let bytes = burst_bytes
            .unwrap_or((rate_bps as u128 * self.burst_ms as u128 / 8000) as u64)
            .max(self.min_burst_bytes);
        let tau = (bytes as u128 * 8_000_000_000 / rate_bps as u128).min(u64::MAX as u128) as u64;
        tau.max(upf_abi::METER_MIN_TAU_NS)
    }
}

/// Local policy on a session's aggregate rate, per direction (index 0
/// uplink, 1 downlink), on top of its QERs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLimits {
    /// The session's plan (index into `QosParams::plans`).
    pub plan: Option<usize>,
    /// The plan's quota is used up: its throttled rate applies.
    pub throttled: bool,
    /// The plan's rate (or its throttled rate), bit/s.
    pub plan_bps: [Option<u64>; 2],
    /// The plan's burst allowance in bytes (while throttled).
    pub burst_bytes: [Option<u64>; 2],
    /// The POI guard's fair-share cap, bit/s.
    pub cap_bps: [Option<u64>; 2],
    /// The POI meter the session meter chains to (index + 1; 0: none).
    pub poi_meter: [u32; 2],
}

impl SessionLimits {
    fn wants_session_meter(&self) -> [bool; 2] {
        [0, 1].map(|d| {
            self.plan.is_some()
                || self.plan_bps[d].is_some()
                || self.cap_bps[d].is_some()
                || self.poi_meter[d] != 0
        })
    }
}

/// One of a session's rate meters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterSlot {
    /// Index in `METERS`.
    pub index: u32,
    /// The QER MBR it enforces, bit/s.
    pub qer_bps: Option<u64>,
    /// What was last written.
    pub config: MeterConfig,
}

/// Resolves a session's downlink peer to its POI's meters (index + 1 per
/// direction), when a POI guard covers it.
pub type PoiResolver = Box<dyn Fn(Ipv4Addr) -> Option<[u32; 2]> + Send + Sync>;

pub(crate) fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Uplink => 0,
        Direction::Downlink => 1,
    }
}

/// A rate meter a session needs, named by what it limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterKey {
    /// The session's aggregate in one direction: its session-level QER MBR
    /// (AMBR-like), its plan's rate and the POI guard's fair-share cap.
    Session(Direction),
    /// A flow QER's MBR in one direction (chained to the session meter).
    Flow(u32, Direction),
}

/// The meters a session's rules need and the first meter of each PDR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterPlan {
    /// Each meter and its QER MBR in bit/s (`None`: no QER limit of its own;
    /// only session meters, kept for a plan or a POI guard).
    pub meters: BTreeMap<MeterKey, Option<u64>>,
    /// PDR ID -> the first meter its packets pass.
    pub pdr_meter: BTreeMap<u16, MeterKey>,
}

impl MeterPlan {
    /// The meter after `k` in its chain within the session (a flow's
    /// session meter), if the session has one.
    pub fn parent(&self, k: MeterKey) -> Option<MeterKey> {
        match k {
            MeterKey::Flow(_, d) => {
                Some(MeterKey::Session(d)).filter(|s| self.meters.contains_key(s))
            }
            MeterKey::Session(_) => None,
        }
    }
}

/// Limits on QER rates (`[qos]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbrLimits {
    /// The highest MBR accepted, kbit/s; above it a QER is refused as absurd.
    pub max_kbps: u64,
}

impl Default for MbrLimits {
    fn default() -> Self {
        MbrLimits {
            max_kbps: 400_000_000,
        }
    }
}

fn qer_fail(id: u32, reason: impl Into<String>) -> Reject {
    Reject {
        cause: Cause::RULE_CREATION_MODIFICATION_FAILURE,
        offending_ie: Some(types::MBR),
        failed_rule: Some(FailedRuleId {
            rule_type: FailedRuleId::QER,
            id,
        }),
        reason: reason.into(),
    }
}

impl Rules {
    /// Decides the session's rate meters from the QERs' MBRs.
    ///
    /// Per direction: a QER with an MBR that every PDR of the direction
    /// references is the session-level QER (with several, the highest MBR;
    /// the others count as flow QERs); every other MBR QER is a flow QER,
    /// and a PDR may reference at most one. A PDR's packets pass its flow
    /// QER's meter, then the session meter. `session_meter[d]` asks for a
    /// session meter even without a session-level QER (a plan, a POI guard).
    ///
    /// Refused, naming the QER and the MBR IE: an MBR of 0 in a direction a
    /// referencing PDR uses (a closed gate is the way to stop traffic), or
    /// above `limits.max_kbps`.
    pub fn meter_plan(
        &self,
        limits: &MbrLimits,
        session_meter: [bool; 2],
    ) -> Result<MeterPlan, Reject> {
        let mut plan = MeterPlan::default();
        for (di, d) in [Direction::Uplink, Direction::Downlink]
            .into_iter()
            .enumerate()
        {
            let pdrs: Vec<&Pdr> = self.pdrs.values().filter(|p| p.direction == d).collect();
            if pdrs.is_empty() {
                continue;
            }
            let mut rate = BTreeMap::new();
            for p in &pdrs {
                for q in p.qer_ids.iter().filter_map(|q| self.qers.get(q)) {
                    let Some((ul, dl)) = q.mbr_kbps else { continue };
                    let kbps = if d == Direction::Uplink { ul } else { dl };
                    let name = if d == Direction::Uplink { "UL" } else { "DL" };
                    if kbps == 0 {
                        return Err(qer_fail(
                            q.id,
                            format!(
                                "QER {} has an {name} MBR of 0 and PDR {} sends {name} through it (close the gate to stop traffic)",
                                q.id, p.id
                            ),
                        ));
                    }
                    if kbps > limits.max_kbps {
                        return Err(qer_fail(
                            q.id,
                            format!(
                                "QER {}: {name} MBR {kbps} kbit/s is above qos.max_mbr_kbps ({})",
                                q.id, limits.max_kbps
                            ),
                        ));
                    }
                    rate.insert(q.id, kbps * 1000);
                }
            }
            let session_qer = rate
                .iter()
                .filter(|(q, _)| pdrs.iter().all(|p| p.qer_ids.contains(q)))
                .max_by_key(|(q, r)| (**r, std::cmp::Reverse(**q)))
                .map(|(q, r)| (*q, *r));
            if session_qer.is_some() || session_meter[di] {
                plan.meters
                    .insert(MeterKey::Session(d), session_qer.map(|(_, r)| r));
            }
            for p in &pdrs {
                let mut flows = p
                    .qer_ids
                    .iter()
                    .filter(|q| rate.contains_key(q) && Some(**q) != session_qer.map(|s| s.0));
                let first = match (flows.next(), flows.next()) {
                    (Some(a), Some(b)) => {
                        return Err(pdr_fail(
                            p.id,
                            format!(
                                "references QERs {a} and {b}, two flow-level MBRs (one besides the session's is supported)"
                            ),
                        ))
                    }
                    (Some(q), None) => {
                        let k = MeterKey::Flow(*q, d);
                        plan.meters.insert(k, Some(rate[q]));
                        k
                    }
                    (None, _) if plan.meters.contains_key(&MeterKey::Session(d)) => {
                        MeterKey::Session(d)
                    }
                    (None, _) => continue,
                };
                plan.pdr_meter.insert(p.id, first);
            }
        }
        Ok(plan)
    }
}

impl<D: Datapath> Sessions<D> {
    /// Decides `s`'s meters (keeping the index of every meter it already
    /// had), takes and configures the new ones (nothing references them
    /// yet), and returns each PDR's first meter (index + 1). Meters kept
    /// get their new configuration in `settle_meters`, after the entries.
    pub(crate) fn assign_meters(
        &mut self,
        s: &mut Session,
        taken: &mut Taken,
    ) -> Result<BTreeMap<u16, u32>, Reject> {
        self.resolve_plan(s)?;
        let peer = s.tunnels().first().map(|t| t.ipv4);
        s.limits.poi_meter = match (&self.poi_resolver, peer) {
            (Some(r), Some(p)) => r(p).unwrap_or([0, 0]),
            _ => [0, 0],
        };
        let plan = s
            .rules
            .meter_plan(&self.cfg.qos.limits, s.limits.wants_session_meter())?;
        let mut meters = VecMap::new();
        for (&k, &qer_bps) in &plan.meters {
            let slot = match s.meters.get(&k) {
                Some(m) => MeterSlot { qer_bps, ..*m },
                None => {
                    let index = self
                        .meter_pool
                        .alloc(|_| false)
                        .ok_or_else(|| resources("all rate meters (qos.max_meters) are in use"))?;
                    taken.meters.push(index);
                    taken.plan.push(Write::ResetMeter(index));
                    MeterSlot {
                        index,
                        qer_bps,
                        config: MeterConfig::default(),
                    }
                }
            };
            meters.insert(k, slot);
        }
        s.meters = meters;
        for k in plan.meters.keys() {
            let parent = match plan.parent(*k) {
                Some(p) => s.meters[&p].index + 1,
                None => match k {
                    MeterKey::Session(d) => s.limits.poi_meter[dir_index(*d)],
                    MeterKey::Flow(..) => 0,
                },
            };
            let cfg = self.meter_config(s, *k, parent);
            let m = s.meters.get_mut(k).expect("just inserted");
            if taken.meters.contains(&m.index) {
                taken.plan.push(Write::SetMeter {
                    index: m.index,
                    config: cfg,
                    prev: None,
                });
                m.config = cfg;
            } else {
                // Written in settle_meters: `config` still says what the
                // datapath holds.
                m.config.parent = parent;
            }
        }
        Ok(plan
            .pdr_meter
            .iter()
            .map(|(pdr, k)| (*pdr, s.meters[k].index + 1))
            .collect())
    }

    /// The session's plan: the one its PDRs activate (Activate Predefined
    /// Rules), else its network instance's default; sets the plan rates.
    fn resolve_plan(&self, s: &mut Session) -> Result<(), Reject> {
        let q = &self.cfg.qos;
        let mut plan: Option<(usize, u16)> = None;
        for p in s.rules.pdrs.values() {
            for name in p.predefined.iter() {
                let Some(i) = q.plans.iter().position(|x| x.name == *name) else {
                    return Err(Reject {
                        offending_ie: Some(types::ACTIVATE_PREDEFINED_RULES),
                        ..Reject::rule(
                            FailedRuleId::PDR,
                            u32::from(p.id),
                            format!("no plan (predefined rule) named {name:?} is configured"),
                        )
                    });
                };
                match plan {
                    Some((j, other)) if j != i => {
                        return Err(Reject {
                            offending_ie: Some(types::ACTIVATE_PREDEFINED_RULES),
                            ..Reject::rule(
                                FailedRuleId::PDR,
                                u32::from(p.id),
                                format!(
                                    "activates plan {name:?} but PDR {other} activates {:?}: one plan per session",
                                    q.plans[j].name
                                ),
                            )
                        })
                    }
                    _ => plan = Some((i, p.id)),
                }
            }
        }
        let plan = plan.map(|(i, _)| i).or_else(|| {
            let ni = s
                .rules
                .pdrs
                .values()
                .find_map(|p| p.network_instance.clone())?;
            let (_, name) = q.default_plans.iter().find(|(n, _)| *n == ni)?;
            q.plans.iter().position(|x| x.name == *name)
        });
        if plan != s.limits.plan {
            s.limits.throttled = false;
        }
        s.limits.plan = plan;
        self.apply_plan(&mut s.limits);
        Ok(())
    }

    /// The plan's rate (throttled or not) into `plan_bps` and `burst_bytes`.
    fn apply_plan(&self, l: &mut SessionLimits) {
        let Some(p) = l.plan.and_then(|i| self.cfg.qos.plans.get(i)) else {
            l.plan_bps = [None, None];
            l.burst_bytes = [None, None];
            return;
        };
        if l.throttled {
            l.plan_bps = p.throttled_bps;
            l.burst_bytes = [p.burst_bytes, p.burst_bytes];
        } else {
            l.plan_bps = p.bps;
            l.burst_bytes = [None, None];
        }
    }

    /// Throttles the session's plan (its quota is used up) and builds the
    /// Session Report Request that tells its SMF: a usage report of each of
    /// the session's URRs with trigger VOLQU (the usage since its last
    /// report; the measurement restarts). `None` when the session is gone;
    /// a request with no usage report when it has no URR.
    pub fn plan_exhausted(&mut self, up_seid: u64, now_ntp: u32) -> Option<PendingReport> {
        match self.set_throttled(up_seid, true) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::error!(up_seid, error = %e, "plan quota used up but the throttle could not be written: the session stays at full speed");
                return None;
            }
        }
        let mut s = self.sessions.remove(&up_seid)?;
        let urrs: Vec<Urr> = s.rules.urrs.values().cloned().collect();
        let mut reports = Vec::new();
        for u in urrs {
            let (rep, bases, usage) = self.report(&s, &u, Urt::VOLQU, now_ntp);
            reports.push(rep);
            Self::restart_measurement(&mut s, u.id, bases, &usage, now_ntp);
        }
        let out = PendingReport::usage(&s, reports);
        self.sessions.insert(up_seid, s);
        self.mark_dirty(up_seid);
        Some(out)
    }

    /// Throttles (or lifts the throttle on) a session's plan, at once.
    /// `Ok(false)` when the session is gone or lacks the meter (see
    /// [`Sessions::set_limits`]).
    pub fn set_throttled(&mut self, up_seid: u64, throttled: bool) -> Result<bool, ApplyError> {
        let plans_applied = |l: &mut SessionLimits, this: &Self| {
            l.throttled = throttled;
            this.apply_plan(l);
        };
        let Some(mut limits) = self.sessions.get(&up_seid).map(|s| s.limits) else {
            return Ok(false);
        };
        plans_applied(&mut limits, self);
        self.set_limits(up_seid, |l| *l = limits)
    }

    /// A meter's configuration from the session's QERs and limits.
    fn meter_config(&self, s: &Session, k: MeterKey, parent: u32) -> MeterConfig {
        let qer = s.meters.get(&k).and_then(|m| m.qer_bps);
        let (rate, burst) = match k {
            MeterKey::Flow(..) => (qer, None),
            MeterKey::Session(d) => {
                let d = dir_index(d);
                let l = &s.limits;
                let rate = [qer, l.plan_bps[d], l.cap_bps[d]]
                    .into_iter()
                    .flatten()
                    .min();
                (rate, l.burst_bytes[d])
            }
        };
        let rate_bps = rate.unwrap_or(0);
        MeterConfig {
            rate_bps,
            tau_ns: self.cfg.qos.tau_ns(rate_bps, burst),
            parent,
        }
    }

    /// The last writes of a request: meters the session keeps get their
    /// new configuration (after the entries, which may now point at new
    /// parents); the undo restores the old one.
    pub(crate) fn plan_meter_changes(&self, old: &Session, new: &mut Session, taken: &mut Taken) {
        let keys: Vec<MeterKey> = new.meters.keys().copied().collect();
        for k in keys {
            let m = new.meters[&k];
            if taken.meters.contains(&m.index) {
                continue;
            }
            let cfg = self.meter_config(new, k, m.config.parent);
            let prev = old.meters.get(&k).map(|o| o.config);
            if prev != Some(cfg) {
                taken.plan.push(Write::SetMeter {
                    index: m.index,
                    config: cfg,
                    prev,
                });
            }
            new.meters.get_mut(&k).expect("listed").config = cfg;
        }
    }

    /// After a successful request: meters the session no longer has go
    /// back to the pool.
    pub(crate) fn settle_meters(&mut self, old: &Session, new: &Session) {
        let keep: Vec<u32> = new.meters.values().map(|m| m.index).collect();
        for m in old.meters.values() {
            if !keep.contains(&m.index) {
                self.meter_pool.release(m.index);
            }
        }
    }

    /// Changes a session's local rate policy (plan rate, fair-share cap) and
    /// rewrites its session meters in place. A change that needs a meter
    /// the session does not have yet (a plan on a session without one)
    /// takes effect at its next modification; `Ok(false)` then. `Ok(false)`
    /// too when the session is gone. A failed meter write leaves the
    /// session's limits and meters as they were (the plan of meter writes
    /// is undone whole) and returns the error, so the caller can say so and
    /// try again.
    pub fn set_limits(
        &mut self,
        up_seid: u64,
        f: impl FnOnce(&mut SessionLimits),
    ) -> Result<bool, ApplyError> {
        let Some(mut s) = self.sessions.remove(&up_seid) else {
            return Ok(false);
        };
        let before = s.limits.wants_session_meter();
        let limits_before = s.limits;
        f(&mut s.limits);
        let mut plan = Plan::new();
        let keys: Vec<MeterKey> = s.meters.keys().copied().collect();
        for k in &keys {
            let m = s.meters[k];
            let cfg = self.meter_config(&s, *k, m.config.parent);
            if cfg != m.config {
                plan.push(Write::SetMeter {
                    index: m.index,
                    config: cfg,
                    prev: Some(m.config),
                });
            }
        }
        if let Err(e) = self.dp.apply(&plan) {
            s.limits = limits_before;
            self.sessions.insert(up_seid, s);
            return Err(e);
        }
        for k in keys {
            let m = s.meters[&k];
            let cfg = self.meter_config(&s, k, m.config.parent);
            s.meters.get_mut(&k).expect("listed").config = cfg;
        }
        let complete = [0, 1].iter().all(|&d| {
            let want = s.limits.wants_session_meter()[d] && !before[d];
            let dir = if d == 0 {
                Direction::Uplink
            } else {
                Direction::Downlink
            };
            !want || s.meters.contains_key(&MeterKey::Session(dir))
        });
        if s.limits != limits_before {
            self.mark_dirty(up_seid);
        }
        self.sessions.insert(up_seid, s);
        Ok(complete)
    }

    /// A session's meters with what the fast path counted on each.
    pub fn meters_of(&self, up_seid: u64) -> Vec<(MeterKey, MeterSlot, Meter)> {
        let Some(s) = self.sessions.get(&up_seid) else {
            return Vec::new();
        };
        s.meters
            .iter()
            .map(|(k, m)| (*k, *m, self.dp.meter(m.index).unwrap_or_default()))
            .collect()
    }

    /// Rate meters in use by sessions.
    pub fn meters_in_use(&self) -> usize {
        self.meter_pool.in_use()
    }
}

#[cfg(test)]
mod tests;
