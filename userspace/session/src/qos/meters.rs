//! Rate meters, planned: which QER MBR becomes which meter
//! ([`Rules::meter_plan`]), and the session's plan and local limits on top
//! ([`SessionLimits`]: plan rate, throttle, the POI guard's fair-share cap,
//! the POI meter it chains to). How the session manager takes, configures
//! and frees the meters a request needs is [`super::session_meters`]; the
//! fast path's GCRA (`upf_fastpath::meter`) enforces them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_pfcp::ie::{types, FailedRuleId};
use upf_pfcp::Cause;

use crate::datapath::MeterConfig;
use crate::rules::{pdr_fail, Direction, Pdr, Reject, Rules};

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
    pub(crate) fn wants_session_meter(&self) -> [bool; 2] {
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

#[cfg(test)]
mod tests;
