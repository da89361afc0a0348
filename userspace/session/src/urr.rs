//! Usage Reporting Rules (TS 29.244 §5.2.2): what a URR measures, its
//! reporting triggers checked against their parameters, its measurement
//! state, and which triggers fire for a measurement.
//!
//! A URR measures from the start of its measurement (creation, or its last
//! usage report): the usage of the PDRs that reference it (the session
//! manager sums their counters) and the time elapsed. Every usage report,
//! whatever its trigger, ends the measurement and starts the next one.
//!
//! - VOLTH / TIMTH: the measurement reached the Volume / Time Threshold.
//! - VOLQU / TIMQU: the usage reported since the Volume / Time Quota was
//!   provisioned, plus the current measurement, reached the quota. Reported
//!   once; then the URR is *exhausted*: its PDRs drop (`ACT_QUOTA_EXHAUSTED`)
//!   until an Update URR brings a new quota, turns the trigger off, or the
//!   URR is removed. A quota of 0 is valid: nothing is granted, and the
//!   first evaluation exhausts it.
//! - PERIO: every Measurement Period, on a grid from the measurement start
//!   at creation (or from the Update URR that changed the period); periods
//!   missed while nothing was evaluated are skipped, not reported twice.
//!
//! Refused, with nothing applied (checked on the URR as it would be after
//! Create or Update URR):
//! - a trigger without its parameter: Conditional IE missing, the
//!   parameter's IE type as Offending IE (PERIO: Measurement Period, VOLTH:
//!   Volume Threshold, VOLQU: Volume Quota, TIMTH: Time Threshold, TIMQU:
//!   Time Quota);
//! - a Volume Threshold or Volume Quota announcing no field (§8.2.13 and
//!   §8.2.50: "at least one bit shall be set"), a Volume Threshold field, a
//!   Time Threshold or a Measurement Period of 0 (a report at every
//!   evaluation, or never a period): Mandatory IE incorrect with that IE;
//! - volume triggers without Measurement Method VOLUM, time triggers
//!   without DURAT: Rule creation/modification failure naming the URR.

use serde::{Deserialize, Serialize};
use upf_abi::SessionCounters;
use upf_pfcp::ie::{self, types, FailedRuleId, ReportingTriggers as Rt, UsageReportTrigger as Urt};
use upf_pfcp::Cause;

use crate::types::{Direction, Reject};

/// Usage counted for a URR: inner IP packets and octets per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Uplink octets.
    pub ul_bytes: u64,
    /// Downlink octets.
    pub dl_bytes: u64,
    /// Uplink packets.
    pub ul_packets: u64,
    /// Downlink packets.
    pub dl_packets: u64,
}

impl Usage {
    /// Adds `o`.
    pub fn add(&mut self, o: Usage) {
        self.ul_bytes += o.ul_bytes;
        self.dl_bytes += o.dl_bytes;
        self.ul_packets += o.ul_packets;
        self.dl_packets += o.dl_packets;
    }

    /// Both directions' octets.
    pub fn total_bytes(&self) -> u64 {
        self.ul_bytes + self.dl_bytes
    }

    /// The part of `now - base` a PDR of `dir` contributes.
    pub fn delta(dir: Direction, now: SessionCounters, base: SessionCounters) -> Usage {
        match dir {
            Direction::Uplink => Usage {
                ul_bytes: now.ul_bytes.saturating_sub(base.ul_bytes),
                ul_packets: now.ul_packets.saturating_sub(base.ul_packets),
                ..Usage::default()
            },
            Direction::Downlink => Usage {
                dl_bytes: now.dl_bytes.saturating_sub(base.dl_bytes),
                dl_packets: now.dl_packets.saturating_sub(base.dl_packets),
                ..Usage::default()
            },
        }
    }
}

/// A volume limit in octets (Volume Threshold, Volume Quota).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeLimit {
    /// Total.
    pub total: Option<u64>,
    /// Uplink.
    pub uplink: Option<u64>,
    /// Downlink.
    pub downlink: Option<u64>,
}

impl From<ie::Volume> for VolumeLimit {
    fn from(v: ie::Volume) -> Self {
        VolumeLimit {
            total: v.total,
            uplink: v.uplink,
            downlink: v.downlink,
        }
    }
}

impl VolumeLimit {
    /// True when any of the limits is reached by `u`.
    pub fn reached(&self, u: &Usage) -> bool {
        self.total.is_some_and(|t| u.total_bytes() >= t)
            || self.uplink.is_some_and(|t| u.ul_bytes >= t)
            || self.downlink.is_some_and(|t| u.dl_bytes >= t)
    }

    fn fields(&self) -> impl Iterator<Item = u64> {
        [self.total, self.uplink, self.downlink]
            .into_iter()
            .flatten()
    }
}

/// The triggers this module evaluates over time ([`Urr::due`]).
const TIMED: u32 = Rt::PERIO | Rt::VOLTH | Rt::TIMTH | Rt::VOLQU | Rt::TIMQU;

/// The triggers of [`TIMED`] that only traffic (or a change of the URR) can fire.
const VOLUME: u32 = Rt::VOLTH | Rt::VOLQU;

/// A Usage Reporting Rule with its measurement state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Urr {
    /// URR ID.
    pub id: u32,
    /// Volume measurement requested.
    pub volume: bool,
    /// Duration measurement requested.
    pub duration: bool,
    /// Reporting Triggers bits.
    pub reporting_triggers: u32,
    /// Measurement Period, seconds.
    pub measurement_period: Option<u32>,
    /// Volume Threshold (total, uplink, downlink) in octets.
    pub volume_threshold: Option<Box<VolumeLimit>>,
    /// Volume Quota (total, uplink, downlink) in octets.
    pub volume_quota: Option<Box<VolumeLimit>>,
    /// Time Threshold, seconds.
    pub time_threshold: Option<u32>,
    /// Time Quota, seconds.
    pub time_quota: Option<u32>,
    /// UR-SEQN of the next report.
    pub next_seqn: u32,
    /// NTP seconds of the start of the current measurement.
    pub since_ntp: u32,
    /// Usage reported since the Volume Quota was provisioned.
    pub quota_used: Usage,
    /// Seconds reported since the Time Quota was provisioned.
    pub quota_secs: u32,
    /// The quotas used up (Reporting Triggers VOLQU, TIMQU): the URR's PDRs
    /// drop while this is not 0.
    pub exhausted: u32,
    /// NTP seconds of the next periodic report (PERIO).
    pub next_period_ntp: Option<u32>,
}

fn incorrect(ie_type: u16, reason: String) -> Reject {
    Reject::ie(Cause::MANDATORY_IE_INCORRECT, ie_type, reason)
}

impl Urr {
    /// Builds a URR from Create URR; `now_ntp` starts its measurement.
    pub fn create(c: &ie::CreateUrr, now_ntp: u32) -> Result<Urr, Reject> {
        let mut u = Urr {
            id: c.urr_id.0,
            volume: c.measurement_method.volume,
            duration: c.measurement_method.duration,
            reporting_triggers: c.reporting_triggers.0,
            measurement_period: c.measurement_period.map(|m| m.0),
            volume_threshold: c.volume_threshold.map(|v| Box::new(v.0.into())),
            volume_quota: c.volume_quota.map(|v| Box::new(v.0.into())),
            time_threshold: c.time_threshold.map(|v| v.0),
            time_quota: c.time_quota.map(|v| v.0),
            next_seqn: 0,
            since_ntp: now_ntp,
            quota_used: Usage::default(),
            quota_secs: 0,
            exhausted: 0,
            next_period_ntp: None,
        };
        u.check()?;
        u.schedule_period(now_ntp, true);
        Ok(u)
    }

    /// Applies Update URR at `now_ntp`. A new quota counts from the last
    /// report and lifts that quota's exhaustion.
    pub fn update(&mut self, u: &ie::UpdateUrr, now_ntp: u32) -> Result<(), Reject> {
        if let Some(m) = u.measurement_method {
            self.volume = m.volume;
            self.duration = m.duration;
        }
        if let Some(r) = u.reporting_triggers {
            self.reporting_triggers = r.0;
        }
        let period_changed = u
            .measurement_period
            .is_some_and(|m| Some(m.0) != self.measurement_period);
        if let Some(m) = u.measurement_period {
            self.measurement_period = Some(m.0);
        }
        if let Some(v) = u.volume_threshold {
            self.volume_threshold = Some(Box::new(v.0.into()));
        }
        if let Some(v) = u.volume_quota {
            self.volume_quota = Some(Box::new(v.0.into()));
            self.quota_used = Usage::default();
            self.exhausted &= !Rt::VOLQU;
        }
        if let Some(v) = u.time_threshold {
            self.time_threshold = Some(v.0);
        }
        if let Some(v) = u.time_quota {
            self.time_quota = Some(v.0);
            self.quota_secs = 0;
            self.exhausted &= !Rt::TIMQU;
        }
        // A quota no longer monitored no longer blocks.
        self.exhausted &= self.reporting_triggers;
        self.check()?;
        self.schedule_period(now_ntp, period_changed);
        Ok(())
    }

    /// Sets the next periodic report: from `from` when `restart` or when
    /// PERIO was just turned on; none without PERIO.
    fn schedule_period(&mut self, from: u32, restart: bool) {
        self.next_period_ntp = match (self.reporting_triggers & Rt::PERIO, self.measurement_period)
        {
            (0, _) | (_, None) => None,
            (_, Some(p)) => match self.next_period_ntp {
                Some(n) if !restart => Some(n),
                _ => Some(from.saturating_add(p)),
            },
        };
    }

    /// Checks the triggers against their parameters and the measurement
    /// method (see the module documentation).
    fn check(&self) -> Result<(), Reject> {
        let id = self.id;
        let t = self.reporting_triggers;
        let needs = [
            (
                Rt::PERIO,
                self.measurement_period.is_some(),
                types::MEASUREMENT_PERIOD,
                "PERIO",
            ),
            (
                Rt::VOLTH,
                self.volume_threshold.is_some(),
                types::VOLUME_THRESHOLD,
                "VOLTH",
            ),
            (
                Rt::VOLQU,
                self.volume_quota.is_some(),
                types::VOLUME_QUOTA,
                "VOLQU",
            ),
            (
                Rt::TIMTH,
                self.time_threshold.is_some(),
                types::TIME_THRESHOLD,
                "TIMTH",
            ),
            (
                Rt::TIMQU,
                self.time_quota.is_some(),
                types::TIME_QUOTA,
                "TIMQU",
            ),
        ];
        for (bit, present, ie_type, name) in needs {
            if t & bit != 0 && !present {
                return Err(Reject::ie(
                    Cause::CONDITIONAL_IE_MISSING,
                    ie_type,
                    format!(
                        "URR {id} has the {name} reporting trigger without its {}",
                        types::name(ie_type)
                    ),
                ));
            }
        }
        if self.measurement_period == Some(0) {
            return Err(incorrect(
                types::MEASUREMENT_PERIOD,
                format!("URR {id}: a Measurement Period of 0 seconds"),
            ));
        }
        if let Some(v) = &self.volume_threshold {
            if v.fields().next().is_none() {
                return Err(incorrect(
                    types::VOLUME_THRESHOLD,
                    format!("URR {id}: the Volume Threshold announces no volume"),
                ));
            }
            if v.fields().any(|x| x == 0) {
                return Err(incorrect(
                    types::VOLUME_THRESHOLD,
                    format!("URR {id}: a Volume Threshold of 0 octets"),
                ));
            }
        }
        if self
            .volume_quota
            .as_ref()
            .is_some_and(|v| v.fields().next().is_none())
        {
            return Err(incorrect(
                types::VOLUME_QUOTA,
                format!("URR {id}: the Volume Quota announces no volume"),
            ));
        }
        if self.time_threshold == Some(0) {
            return Err(incorrect(
                types::TIME_THRESHOLD,
                format!("URR {id}: a Time Threshold of 0 seconds"),
            ));
        }
        if t & (Rt::VOLTH | Rt::VOLQU) != 0 && !self.volume {
            return Err(Reject::rule(
                FailedRuleId::URR,
                id,
                "volume triggers (VOLTH, VOLQU) need Measurement Method VOLUM",
            ));
        }
        if t & (Rt::TIMTH | Rt::TIMQU) != 0 && !self.duration {
            return Err(Reject::rule(
                FailedRuleId::URR,
                id,
                "time triggers (TIMTH, TIMQU) need Measurement Method DURAT",
            ));
        }
        Ok(())
    }

    /// True when a quota is used up: the URR's PDRs drop.
    pub fn blocks(&self) -> bool {
        self.exhausted != 0
    }

    /// True when the URR has a trigger [`Urr::due`] evaluates.
    pub fn watched(&self) -> bool {
        self.reporting_triggers & TIMED != 0
    }

    /// True when the URR has a volume trigger (VOLTH, VOLQU): [`Urr::due`]
    /// can fire it only once the usage moved (or the URR changed).
    pub fn volume_watched(&self) -> bool {
        self.reporting_triggers & VOLUME != 0
    }

    /// The first NTP second at which [`Urr::due`] fires a time trigger
    /// (TIMTH, TIMQU, PERIO) if the URR stays as it is; `None`: none can
    /// fire (no time trigger, or the time quota is used up). Before it,
    /// `due` fires time triggers at no moment; from it on, it does (the
    /// tests below hold the two to that). Read from the same state as
    /// `due`, so a report, an Update URR or a restart moves it.
    pub fn next_time_due(&self) -> Option<u32> {
        if !self.watched() {
            return None;
        }
        let t = self.reporting_triggers;
        // `secs` more of measurement; none needed: due at any moment (even
        // a clock that went back before the measurement's start).
        let after = |secs: u32| match secs {
            0 => 0,
            s => self.since_ntp.saturating_add(s),
        };
        let mut next: Option<u32> = None;
        let mut at = |d: u32| next = Some(next.map_or(d, |n| n.min(d)));
        if let Some(th) = self.time_threshold.filter(|_| t & Rt::TIMTH != 0) {
            at(after(th));
        }
        if let Some(q) = self
            .time_quota
            .filter(|_| t & Rt::TIMQU != 0 && self.exhausted & Rt::TIMQU == 0)
        {
            at(after(q.saturating_sub(self.quota_secs)));
        }
        if let (Some(n), Some(_)) = (self.next_period_ntp, self.measurement_period) {
            at(n);
        }
        next
    }

    /// The Usage Report Trigger bits that fire for the current measurement
    /// `usage` at `now_ntp` (0: no report due). A quota that fires is marked
    /// exhausted; a period that fires moves to the next one after `now_ntp`.
    pub fn due(&mut self, usage: &Usage, now_ntp: u32) -> u32 {
        let t = self.reporting_triggers;
        let secs = now_ntp.saturating_sub(self.since_ntp);
        let mut fired = 0;
        if t & Rt::VOLTH != 0
            && self
                .volume_threshold
                .as_ref()
                .is_some_and(|l| l.reached(usage))
        {
            fired |= Urt::VOLTH;
        }
        if t & Rt::TIMTH != 0 && self.time_threshold.is_some_and(|th| secs >= th) {
            fired |= Urt::TIMTH;
        }
        if t & Rt::VOLQU != 0 && self.exhausted & Rt::VOLQU == 0 {
            let mut used = self.quota_used;
            used.add(*usage);
            if self.volume_quota.as_ref().is_some_and(|q| q.reached(&used)) {
                fired |= Urt::VOLQU;
                self.exhausted |= Rt::VOLQU;
            }
        }
        if t & Rt::TIMQU != 0
            && self.exhausted & Rt::TIMQU == 0
            && self
                .time_quota
                .is_some_and(|q| self.quota_secs.saturating_add(secs) >= q)
        {
            fired |= Urt::TIMQU;
            self.exhausted |= Rt::TIMQU;
        }
        if let (Some(next), Some(p)) = (self.next_period_ntp, self.measurement_period) {
            if now_ntp >= next {
                fired |= Urt::PERIO;
                let p = p.max(1);
                let skipped = (now_ntp - next) / p;
                self.next_period_ntp = Some(next.saturating_add((skipped + 1).saturating_mul(p)));
            }
        }
        fired
    }

    /// Ends the measurement with a report of `usage` at `now_ntp`: the next
    /// UR-SEQN, a new start, and the reported usage counted against the quotas.
    pub fn restart(&mut self, usage: &Usage, now_ntp: u32) {
        let secs = now_ntp.saturating_sub(self.since_ntp);
        self.quota_used.add(*usage);
        self.quota_secs = self.quota_secs.saturating_add(secs);
        self.next_seqn = self.next_seqn.wrapping_add(1);
        self.since_ntp = now_ntp;
    }

    /// The Usage Report of `usage` measured until `now_ntp`, for `trigger`.
    pub fn report(&self, usage: &Usage, trigger: u32, now_ntp: u32) -> ie::UsageReport {
        ie::UsageReport {
            urr_id: ie::UrrId(self.id),
            ur_seqn: ie::UrSeqn(self.next_seqn),
            usage_report_trigger: ie::UsageReportTrigger(trigger),
            start_time: Some(ie::StartTime(self.since_ntp)),
            end_time: Some(ie::EndTime(now_ntp)),
            volume_measurement: self.volume.then_some(ie::VolumeMeasurement {
                total_volume: Some(usage.total_bytes()),
                uplink_volume: Some(usage.ul_bytes),
                downlink_volume: Some(usage.dl_bytes),
                total_packets: Some(usage.ul_packets + usage.dl_packets),
                uplink_packets: Some(usage.ul_packets),
                downlink_packets: Some(usage.dl_packets),
            }),
            duration_measurement: self.duration.then_some(ie::DurationMeasurement(
                now_ntp.saturating_sub(self.since_ntp),
            )),
            time_of_first_packet: None,
            time_of_last_packet: None,
            unknown: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Urr::next_time_due`] is exactly when [`Urr::due`] starts firing
    /// time triggers on a watched URR (the only ones the poll evaluates),
    /// over every combination of time triggers, parameters
    /// and measurement state (the timers of `Sessions::poll_usage` rely on
    /// it: a deadline too late would lose a report).
    #[test]
    fn the_time_deadline_is_when_due_starts_firing_time_triggers() {
        const TIME_BITS: u32 = Urt::TIMTH | Urt::TIMQU | Urt::PERIO;
        let since = 1000;
        let mut checked = 0;
        let mut deadlines = std::collections::BTreeSet::new();
        for triggers in 0..16u32 {
            let t = [Rt::TIMTH, Rt::TIMQU, Rt::PERIO, Rt::VOLTH]
                .iter()
                .enumerate()
                .filter(|(i, _)| triggers & (1 << i) != 0)
                .fold(0, |a, (_, b)| a | b);
            for th in [None, Some(0), Some(1), Some(10)] {
                for q in [None, Some(0), Some(7), Some(30)] {
                    for quota_secs in [0, 5, 40] {
                        for exhausted in [0, Rt::TIMQU] {
                            for period in [None, Some(990), Some(1000), Some(1013)] {
                                let u = Urr {
                                    id: 1,
                                    volume: true,
                                    duration: true,
                                    reporting_triggers: t,
                                    measurement_period: period.map(|_| 20),
                                    volume_threshold: Some(Box::new(VolumeLimit {
                                        total: Some(1),
                                        ..VolumeLimit::default()
                                    })),
                                    volume_quota: None,
                                    time_threshold: th,
                                    time_quota: q,
                                    next_seqn: 0,
                                    since_ntp: since,
                                    quota_used: Usage::default(),
                                    quota_secs,
                                    exhausted,
                                    next_period_ntp: period,
                                };
                                let deadline = u.next_time_due();
                                if !u.watched() {
                                    // The poll never evaluates it.
                                    assert_eq!(deadline, None);
                                    continue;
                                }
                                deadlines.insert(deadline);
                                for now in 980..1060 {
                                    let fired = u.clone().due(&Usage::default(), now) & TIME_BITS;
                                    assert_eq!(
                                        fired != 0,
                                        deadline.is_some_and(|d| now >= d),
                                        "{u:?} at {now}: deadline {deadline:?}, fired {fired:#x}"
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000);
        // Every kind of deadline was met: none, immediate, and each trigger's own.
        for d in [None, Some(0), Some(990), Some(1001), Some(1010), Some(1013)] {
            assert!(deadlines.contains(&d), "{d:?} never came up: {deadlines:?}");
        }
    }
}
