//! The session manager's rate meters: the meters a request takes (their
//! resets and configuration are writes in the request's plan), the plan a
//! session activates, the throttle and fair-share caps the QoS loop sets,
//! and the meters that go back to the pool. What the meters are is decided
//! in [`super::meters`].

use std::collections::BTreeMap;

use upf_abi::Meter;
use upf_pfcp::ie::{types, FailedRuleId, UsageReportTrigger as Urt};

use super::meters::{dir_index, MeterKey, MeterSlot, SessionLimits};
use crate::datapath::{Datapath, MeterConfig};
use crate::plan::{ApplyError, Plan, Write};
use crate::rules::{Direction, Reject, Urr};
use crate::sessions::{resources, PendingReport, Session, Sessions, Taken};
use crate::vecmap::VecMap;

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
                    let index =
                        self.pools.meters.alloc(|_| false).ok_or_else(|| {
                            resources("all rate meters (qos.max_meters) are in use")
                        })?;
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
            let (_, name) = q
                .default_plans
                .iter()
                .find(|(n, _)| n.as_str() == &ni[..])?;
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
        let before = Session::clone(&s);
        let urrs: Vec<Urr> = s.rules.urrs.values().cloned().collect();
        let mut reports = Vec::new();
        for u in urrs {
            let (rep, bases, usage) = self.report(&s, &u, Urt::VOLQU, now_ntp);
            reports.push(rep);
            Self::restart_measurement(&mut s, u.id, bases, &usage, now_ntp);
        }
        let out = PendingReport::usage(&s, reports);
        // The measurements restarted: time thresholds count from now.
        self.watch(Some(&before), &s);
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
                self.pools.meters.release(m.index);
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
        if let Err(e) = plan.apply(&mut self.dp) {
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
        self.pools.meters.in_use()
    }
}
