//! The PFCP session manager: sessions of rules compiled into the fast path,
//! every request applied entirely or not at all.
//!
//! A request is first applied to a copy of the session's rules and checked;
//! then the resources it needs are taken (local TEIDs for CHOOSE, UE
//! addresses, counter slots, rule sets, meters) and its writes decided as
//! one [`Plan`] (new rule sets before the entries that point at them,
//! entries of kept keys replaced in place, stale keys removed last, kept
//! meters reconfigured after the entries). The manager never writes a map
//! itself: the datapath applies the whole plan or undoes all of it
//! ([`Plan::apply`]); on failure every resource taken goes back to its
//! pool, so the datapath and the pools are exactly as before and the SMF
//! gets the cause (a full map: No resources available).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_abi::SessionCounters;
use upf_pfcp::ie::{self, FailedRuleId, UsageReportTrigger as Urt};
use upf_pfcp::message::{
    SessionEstablishmentRequest, SessionModificationRequest, SessionReportRequest,
};
use upf_pfcp::Cause;

use crate::datapath::{Datapath, DatapathError};
use crate::plan::{ApplyError, Plan, Write};
use crate::pool::{RangePool, UePool};
use crate::qos::meters::MeterKey;
pub use crate::qos::meters::{MeterSlot, PlanRates, PoiResolver, QosParams, SessionLimits};
use crate::rules::{
    Compiled, Desired, Direction, Far, Pdr, Qer, Reject, Rules, TeidSpec, Tunnel, UeSpec, Urr,
};
use crate::types::Ipv4Net;
pub use crate::urr::Usage;
use crate::vecmap::VecMap;
use upf_abi::{DownlinkEntry, RuleSet, UplinkEntry};

/// What the session manager needs to know of the gateway.
#[derive(Clone, Debug)]
pub struct SessionsConfig {
    /// Our GTP-U address on N3: the F-TEID address we hand out, the outer source downlink.
    pub n3: Ipv4Addr,
    /// Local TEIDs allocated for CHOOSE: `first..=last`.
    pub teid_range: (u32, u32),
    /// UE address pools for CHOOSE.
    pub ue_pools: Vec<Ipv4Net>,
    /// Rate meter parameters.
    pub qos: QosParams,
}

/// What one key holds in the datapath.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Written {
    compiled: Compiled,
    rule_set: Option<u32>,
}

/// One PFCP session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// Our SEID.
    pub up_seid: u64,
    /// The CP function's SEID.
    pub cp_seid: u64,
    /// The CP function's F-SEID address.
    pub cp_ipv4: Option<Ipv4Addr>,
    /// The peer (CP node) that owns the session.
    pub peer: String,
    /// The rules.
    pub rules: Rules,
    /// TEIDs allocated per CHOOSE ID (PDRs without one get their own).
    pub choose_ids: VecMap<u8, u32>,
    /// The UE address allocated from the pools, if any.
    pub allocated_ue: Option<Ipv4Addr>,
    /// NTP seconds at establishment.
    pub established_ntp: u32,
    /// Rate meters by what they limit (shown by `upfctl qos`).
    #[serde(skip)]
    pub meters: VecMap<MeterKey, MeterSlot>,
    /// Local rate policy (plan, fair-share caps, POI).
    pub limits: SessionLimits,
    #[serde(skip)]
    written_ul: VecMap<u32, Written>,
    #[serde(skip)]
    written_dl: VecMap<Ipv4Addr, Written>,
    /// Counter values at the last report of each (URR, PDR) link.
    #[serde(skip)]
    baselines: VecMap<(u32, u16), SessionCounters>,
    /// Usage of links that ended since the URR's last report.
    #[serde(skip)]
    carried: VecMap<u32, Usage>,
}

impl Session {
    /// The local TEIDs in use.
    pub fn teids(&self) -> impl Iterator<Item = u32> + '_ {
        self.written_ul.keys().copied()
    }

    /// The UE addresses in use.
    pub fn ue_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.written_dl.keys().copied()
    }

    /// The downlink tunnels (peer, TEID) in use.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        let mut v: Vec<Tunnel> = self
            .rules
            .fars
            .values()
            .filter_map(|f| f.outer_header_creation)
            .collect();
        v.sort_by_key(|t| (t.ipv4, t.teid));
        v.dedup();
        v
    }
}

/// The result of an establishment.
#[derive(Clone, Debug, PartialEq)]
pub struct Established {
    /// Our SEID.
    pub up_seid: u64,
    /// Created PDRs (what CHOOSE allocated).
    pub created: Vec<ie::CreatedPdr>,
}

/// The result of a modification.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Modified {
    /// Created PDRs (what CHOOSE allocated).
    pub created: Vec<ie::CreatedPdr>,
    /// Usage reports (Query URR, removed URRs).
    pub reports: Vec<ie::UsageReport>,
    /// Old downlink tunnels to send End Markers on (SNDEM).
    pub end_markers: Vec<Tunnel>,
}

/// A Session Report Request (Report Type USAR) the manager wants sent to
/// the session's CP function, from [`Sessions::poll_usage`].
#[derive(Clone, Debug, PartialEq)]
pub struct PendingReport {
    /// The peer that owns the session (the name sessions are filed under).
    pub peer: String,
    /// Our SEID.
    pub up_seid: u64,
    /// The CP function's SEID: the request's header SEID.
    pub cp_seid: u64,
    /// The CP function's F-SEID address.
    pub cp_ipv4: Option<Ipv4Addr>,
    /// The request, one Usage Report per URR whose triggers fired.
    pub request: SessionReportRequest,
}

impl PendingReport {
    /// A Session Report Request (Report Type USAR) for session `s`.
    pub(crate) fn usage(s: &Session, reports: Vec<ie::UsageReport>) -> PendingReport {
        PendingReport {
            peer: s.peer.clone(),
            up_seid: s.up_seid,
            cp_seid: s.cp_seid,
            cp_ipv4: s.cp_ipv4,
            request: SessionReportRequest {
                report_type: ie::ReportType(ie::ReportType::USAR),
                usage_report: reports,
                load_control_information: None,
                overload_control_information: None,
                unknown: Vec::new(),
            },
        }
    }
}

/// What a request takes: resources, returned if it fails, and the plan of
/// writes it decided (applied by the datapath once everything is decided).
#[derive(Default)]
pub(crate) struct Taken {
    pub(crate) teids: Vec<u32>,
    pub(crate) ue: Option<Ipv4Addr>,
    pub(crate) counters: Vec<u32>,
    pub(crate) rule_sets: Vec<u32>,
    pub(crate) meters: Vec<u32>,
    pub(crate) plan: Plan,
}

/// Counter values per (URR ID, PDR ID) link, to measure the next report from.
type Baselines = Vec<((u32, u16), SessionCounters)>;

/// Marks a PDR whose counter slot is not allocated yet.
const NO_COUNTER: u32 = u32::MAX;

/// Every PFCP session, mirrored into the datapath.
pub struct Sessions<D: Datapath> {
    pub(crate) dp: D,
    pub(crate) cfg: SessionsConfig,
    /// Boxed: a B-tree node holds 11 values, mostly half full, so inline
    /// sessions would cost about twice their size.
    pub(crate) sessions: BTreeMap<u64, Box<Session>>,
    /// Who holds each key (for conflicts and lookups).
    pub(crate) owners: Owners,
    /// What the sessions take from the datapath's tables.
    pub(crate) pools: Pools,
    pub(crate) poi_resolver: Option<PoiResolver>,
    pub(crate) next_seid: u64,
    /// What [`Sessions::poll_usage`] evaluates: URR deadlines, the session
    /// of each counter slot, sessions with volume triggers.
    pub(crate) usage: UsageWatch,
    /// Who wants to hear of changed sessions: the meter, the store.
    pub(crate) changes: Changes,
    /// [`SNAPSHOT_ABOVE`] (the tests lower it to take both paths).
    pub(crate) snapshot_above: usize,
    /// The tests' reference: every poll evaluates every watched URR of
    /// every session, as before the timers (false in the daemon).
    pub(crate) evaluate_all: bool,
    /// The last request's plan, emptied: its buffer serves the next one, so
    /// planning allocates nothing once warm.
    pub(crate) spare_plan: Plan,
}

/// Which session holds a key.
#[derive(Default)]
pub(crate) struct Owners {
    /// Local TEID -> our SEID.
    pub(crate) teid: HashMap<u32, u64>,
    /// UE address -> our SEID.
    pub(crate) ue: HashMap<Ipv4Addr, u64>,
    /// (peer, CP SEID) -> our SEID.
    pub(crate) by_cp: HashMap<(String, u64), u64>,
}

/// The allocators behind CHOOSE and the fast path's arrays.
pub(crate) struct Pools {
    /// Local TEIDs for CHOOSE (`pfcp.teid_first..=teid_last`).
    pub(crate) teid: RangePool,
    /// UE addresses for CHOOSE.
    pub(crate) ue: UePool,
    /// Counter slots (`SESSION_COUNTERS`).
    pub(crate) counters: RangePool,
    /// Rule sets (`RULES`).
    pub(crate) rule_sets: RangePool,
    /// Rate meters (`METERS`, after the POI meters).
    pub(crate) meters: RangePool,
}

/// Sessions changed since each client last asked.
#[derive(Default)]
pub(crate) struct Changes {
    /// For the meter ([`Sessions::take_changes`]); `None` once more than
    /// [`MAX_CHANGE_LOG`] piled up (the meter then rebuilds from scratch).
    pub(crate) log: Option<Vec<u64>>,
    /// For the session store ([`Sessions::take_dirty`]); `None` while
    /// nothing persists them.
    pub(crate) dirty: Option<BTreeSet<u64>>,
}

/// Sessions with timed URRs from which [`Sessions::poll_usage`] may read
/// the counter slots at once instead of each PDR's.
const SNAPSHOT_ABOVE: usize = 256;

/// Changes the log keeps before it gives up (a meter that stopped asking).
pub const MAX_CHANGE_LOG: usize = 1 << 20;

pub(crate) fn resources(reason: impl Into<String>) -> Reject {
    Reject::cause(Cause::NO_RESOURCES_AVAILABLE, reason)
}

/// A plan the datapath refused: a full map is No resources available,
/// anything else a System failure; nothing of it stays.
fn apply_reject(e: ApplyError) -> Reject {
    match e.error {
        DatapathError::Full { .. } => resources(e.to_string()),
        _ => Reject::cause(Cause::SYSTEM_FAILURE, e.to_string()),
    }
}

fn uplink_entry(c: &Compiled, rule_set: Option<u32>) -> UplinkEntry {
    UplinkEntry {
        ue_ipv4_be: c.ue_ipv4.map_or(0, |u| u32::from(u).to_be()),
        rules: rule_set.map_or(0, |r| r + 1),
        default: c.default,
    }
}

fn downlink_entry(n3_be: u32, c: &Compiled, rule_set: Option<u32>) -> DownlinkEntry {
    DownlinkEntry {
        local_ipv4_be: n3_be,
        rules: rule_set.map_or(0, |r| r + 1),
        default: c.default,
    }
}

fn rule_set(c: &Compiled) -> RuleSet {
    let mut rs = RuleSet {
        len: c.rules.len() as u32,
        ..RuleSet::EMPTY
    };
    rs.rules[..c.rules.len()].copy_from_slice(&c.rules);
    rs
}

impl<D: Datapath> Sessions<D> {
    /// A manager over `dp`.
    pub fn new(dp: D, cfg: SessionsConfig) -> Self {
        let cap = dp.capacity();
        Sessions {
            pools: Pools {
                teid: RangePool::new(cfg.teid_range.0, cfg.teid_range.1),
                ue: UePool::new(&cfg.ue_pools),
                counters: RangePool::new(0, cap.counter_slots.saturating_sub(1)),
                rule_sets: RangePool::new(0, cap.rule_sets.saturating_sub(1)),
                meters: RangePool::new(
                    cfg.qos.reserved_meters.min(cap.meters.saturating_sub(1)),
                    cap.meters.saturating_sub(1),
                ),
            },
            poi_resolver: None,
            dp,
            cfg,
            sessions: BTreeMap::new(),
            owners: Owners::default(),
            next_seid: 1,
            usage: UsageWatch::default(),
            changes: Changes::default(),
            snapshot_above: SNAPSHOT_ABOVE,
            evaluate_all: false,
            spare_plan: Plan::new(),
        }
    }

    fn changed(&mut self, up_seid: u64) {
        self.mark_dirty(up_seid);
        if let Some(log) = &mut self.changes.log {
            if log.len() < MAX_CHANGE_LOG {
                log.push(up_seid);
            } else {
                self.changes.log = None;
            }
        }
    }

    /// The sessions (by our SEID) established, modified or deleted since the
    /// last call, or `None` when the log was not kept (the first call, or
    /// too many changes piled up): then the caller must look at every
    /// session. Logging starts with the first call.
    pub fn take_changes(&mut self) -> Option<Vec<u64>> {
        self.changes.log.replace(Vec::new())
    }

    /// The configuration.
    pub fn config(&self) -> &SessionsConfig {
        &self.cfg
    }

    /// Sets how a session's downlink peer maps to POI meters (applies to
    /// sessions established or modified from now on).
    pub fn set_poi_resolver(&mut self, r: PoiResolver) {
        self.poi_resolver = Some(r);
    }

    /// The datapath.
    pub fn datapath(&self) -> &D {
        &self.dp
    }

    /// The datapath, mutably.
    pub fn datapath_mut(&mut self) -> &mut D {
        &mut self.dp
    }

    /// The datapath back, with whatever it holds (a test's stand-in for
    /// maps pinned across a restart).
    pub fn into_datapath(self) -> D {
        self.dp
    }

    /// Sessions by our SEID.
    pub fn sessions(&self) -> &BTreeMap<u64, Box<Session>> {
        &self.sessions
    }

    /// One session.
    pub fn get(&self, up_seid: u64) -> Option<&Session> {
        self.sessions.get(&up_seid).map(|s| &**s)
    }

    /// Resources in use: (TEIDs from the pool, UE addresses from the pools,
    /// counter slots, rule sets) — for leak checks and metrics.
    pub fn in_use(&self) -> (usize, usize, usize, usize) {
        (
            self.pools.teid.in_use(),
            self.pools.ue.in_use(),
            self.pools.counters.in_use(),
            self.pools.rule_sets.in_use(),
        )
    }

    /// The session holding local TEID `teid`.
    pub fn teid_owner(&self, teid: u32) -> Option<u64> {
        self.owners.teid.get(&teid).copied()
    }

    /// The session holding UE address `ue`.
    pub fn ue_owner(&self, ue: Ipv4Addr) -> Option<u64> {
        self.owners.ue.get(&ue).copied()
    }

    /// A PDR's counters, summed over CPUs.
    pub fn pdr_counters(&self, pdr: &Pdr) -> SessionCounters {
        self.slot_counters(pdr.counter)
    }

    /// A counter slot's values; a slot the datapath cannot read (only a
    /// broken map can fail) reads as zero and is logged, never silently.
    fn slot_counters(&self, slot: u32) -> SessionCounters {
        self.dp.counters(slot).unwrap_or_else(|e| {
            tracing::error!(slot, error = %e, "reading a counter slot failed: its usage reads as 0");
            SessionCounters::default()
        })
    }

    /// Our SEID of the session `peer` knows as `cp_seid`.
    pub fn find(&self, peer: &str, cp_seid: u64) -> Option<u64> {
        self.owners.by_cp.get(&(peer.to_string(), cp_seid)).copied()
    }

    /// Handles Session Establishment Request from `peer`.
    pub fn establish(
        &mut self,
        peer: &str,
        req: &SessionEstablishmentRequest,
        now_ntp: u32,
    ) -> Result<Established, Reject> {
        if let Some(up) = self.find(peer, req.cp_f_seid.seid) {
            return Err(Reject::ie(
                Cause::REQUEST_REJECTED,
                ie::types::F_SEID,
                format!(
                    "CP SEID {:#x} already names session {up:#x}",
                    req.cp_f_seid.seid
                ),
            ));
        }
        let mut rules = Rules::default();
        add_created(
            &mut rules,
            Created {
                fars: &req.create_far,
                qers: &req.create_qer,
                urrs: &req.create_urr,
                pdrs: &req.create_pdr,
            },
            now_ntp,
            "used twice",
        )?;
        let up_seid = self.alloc_seid();
        let session = Session {
            up_seid,
            cp_seid: req.cp_f_seid.seid,
            cp_ipv4: req.cp_f_seid.ipv4,
            peer: peer.to_string(),
            rules,
            choose_ids: VecMap::new(),
            allocated_ue: None,
            established_ntp: now_ntp,
            meters: VecMap::new(),
            limits: SessionLimits::default(),
            written_ul: VecMap::new(),
            written_dl: VecMap::new(),
            baselines: VecMap::new(),
            carried: VecMap::new(),
        };
        let before = Session {
            rules: Rules::default(),
            ..session.clone()
        };
        let (session, created) = self.commit(&before, session, &[])?;
        self.owners
            .by_cp
            .insert((session.peer.clone(), session.cp_seid), up_seid);
        self.watch(None, &session);
        self.sessions.insert(up_seid, Box::new(session));
        self.changed(up_seid);
        Ok(Established { up_seid, created })
    }

    fn alloc_seid(&mut self) -> u64 {
        while self.sessions.contains_key(&self.next_seid) || self.next_seid == 0 {
            self.next_seid = self.next_seid.wrapping_add(1);
        }
        let s = self.next_seid;
        self.next_seid = self.next_seid.wrapping_add(1);
        s
    }

    /// Handles Session Modification Request for our SEID `up_seid`.
    pub fn modify(
        &mut self,
        up_seid: u64,
        req: &SessionModificationRequest,
        now_ntp: u32,
    ) -> Result<Modified, Reject> {
        let old = self.sessions.get(&up_seid).ok_or_else(|| {
            Reject::cause(
                Cause::SESSION_CONTEXT_NOT_FOUND,
                format!("no session with SEID {up_seid:#x}"),
            )
        })?;
        let mut new = Session::clone(old);
        if let Some(f) = req.cp_f_seid {
            new.cp_seid = f.seid;
            new.cp_ipv4 = f.ipv4;
        }
        let r = &mut new.rules;
        let missing = |t: u8, id: u32, what: &str| {
            Reject::rule(t, id, format!("{what} {id} does not exist in this session"))
        };
        // Queries and removals name existing rules; a request naming an
        // unknown one is refused whole (accepting it would let a usage
        // limit be bypassed unnoticed).
        let mut query: Vec<u32> = Vec::new();
        for q in &req.query_urr {
            if !r.urrs.contains_key(&q.urr_id.0) {
                return Err(missing(FailedRuleId::URR, q.urr_id.0, "URR"));
            }
            query.push(q.urr_id.0);
        }
        if req
            .pfcpsm_req_flags
            .is_some_and(|f| f.0 & ie::PfcpsmReqFlags::QAURR != 0)
        {
            query.extend(r.urrs.keys().copied());
        }
        let mut removed_urrs = Vec::new();
        for x in &req.remove_pdr {
            r.pdrs
                .remove(&x.pdr_id.0)
                .ok_or_else(|| missing(FailedRuleId::PDR, u32::from(x.pdr_id.0), "PDR"))?;
        }
        for x in &req.remove_far {
            r.fars
                .remove(&x.far_id.0)
                .ok_or_else(|| missing(FailedRuleId::FAR, x.far_id.0, "FAR"))?;
        }
        for x in &req.remove_qer {
            r.qers
                .remove(&x.qer_id.0)
                .ok_or_else(|| missing(FailedRuleId::QER, x.qer_id.0, "QER"))?;
        }
        for x in &req.remove_urr {
            let u = r
                .urrs
                .get(&x.urr_id.0)
                .ok_or_else(|| missing(FailedRuleId::URR, x.urr_id.0, "URR"))?;
            removed_urrs.push(u.clone());
            r.urrs.remove(&x.urr_id.0);
        }
        add_created(
            r,
            Created {
                fars: &req.create_far,
                qers: &req.create_qer,
                urrs: &req.create_urr,
                pdrs: &req.create_pdr,
            },
            now_ntp,
            "already exists",
        )?;
        let mut end_markers = Vec::new();
        for u in &req.update_far {
            let f = r
                .fars
                .get_mut(&u.far_id.0)
                .ok_or_else(|| missing(FailedRuleId::FAR, u.far_id.0, "FAR"))?;
            let before = f.outer_header_creation;
            let sndem = f.update(u)?;
            if let (true, Some(b)) = (sndem, before) {
                if f.outer_header_creation != Some(b) {
                    end_markers.push(b);
                }
            }
        }
        for u in &req.update_qer {
            r.qers
                .get_mut(&u.qer_id.0)
                .ok_or_else(|| missing(FailedRuleId::QER, u.qer_id.0, "QER"))?
                .update(u);
        }
        for u in &req.update_urr {
            r.urrs
                .get_mut(&u.urr_id.0)
                .ok_or_else(|| missing(FailedRuleId::URR, u.urr_id.0, "URR"))?
                .update(u, now_ntp)?;
        }
        for u in &req.update_pdr {
            let p = r
                .pdrs
                .get_mut(&u.pdr_id.0)
                .ok_or_else(|| missing(FailedRuleId::PDR, u32::from(u.pdr_id.0), "PDR"))?;
            p.update(u)?;
        }
        r.check()?;
        let old = old.clone();
        // Reports for removed URRs are taken from the old session's links.
        let mut reports: Vec<ie::UsageReport> = removed_urrs
            .iter()
            .map(|u| self.report(&old, u, Urt::TERMR, now_ntp).0)
            .collect();
        let (mut new, created) = self.commit(&old, new, &query)?;
        for id in query {
            if let Some(u) = new.rules.urrs.get(&id).cloned() {
                let (rep, bases, usage) = self.report(&new, &u, Urt::IMMER, now_ntp);
                reports.push(rep);
                Self::restart_measurement(&mut new, u.id, bases, &usage, now_ntp);
            }
        }
        if new.cp_seid != old.cp_seid {
            self.owners.by_cp.remove(&(old.peer.clone(), old.cp_seid));
            self.owners
                .by_cp
                .insert((new.peer.clone(), new.cp_seid), up_seid);
        }
        self.watch(Some(&old), &new);
        self.sessions.insert(up_seid, Box::new(new));
        self.changed(up_seid);
        Ok(Modified {
            created,
            reports,
            end_markers,
        })
    }

    /// Handles Session Deletion Request: removes the session and returns
    /// the final usage report of each URR.
    pub fn delete(&mut self, up_seid: u64, now_ntp: u32) -> Result<Vec<ie::UsageReport>, Reject> {
        let old = self
            .sessions
            .get(&up_seid)
            .ok_or_else(|| {
                Reject::cause(
                    Cause::SESSION_CONTEXT_NOT_FOUND,
                    format!("no session with SEID {up_seid:#x}"),
                )
            })?
            .clone();
        let reports = old
            .rules
            .urrs
            .values()
            .map(|u| self.report(&old, u, Urt::TERMR, now_ntp).0)
            .collect();
        let empty = Session {
            rules: Rules::default(),
            choose_ids: VecMap::new(),
            allocated_ue: None,
            limits: SessionLimits::default(),
            ..Session::clone(&old)
        };
        self.commit(&old, empty, &[])?;
        self.sessions.remove(&up_seid);
        self.changed(up_seid);
        self.usage.rewatch(Some(&old), None, |_| false);
        self.owners.by_cp.remove(&(old.peer.clone(), old.cp_seid));
        Ok(reports)
    }

    /// Removes every session of `peer` (association released, peer lost or
    /// restarted); returns how many.
    pub fn release_peer(&mut self, peer: &str, now_ntp: u32) -> usize {
        let seids: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| s.peer == peer)
            .map(|s| s.up_seid)
            .collect();
        seids
            .iter()
            .filter(|s| self.delete(**s, now_ntp).is_ok())
            .count()
    }

    /// The usage of URR `u` since its last report and the counter values
    /// to use as the next baselines.
    fn measure(&self, s: &Session, u: &Urr) -> (Usage, Baselines) {
        self.measure_in(s, u, None)
    }

    /// [`Self::measure`], reading the counters from `snapshot` (every slot,
    /// read at once) when given, else slot by slot.
    fn measure_in(
        &self,
        s: &Session,
        u: &Urr,
        snapshot: Option<&[SessionCounters]>,
    ) -> (Usage, Baselines) {
        let mut usage = s.carried.get(&u.id).copied().unwrap_or_default();
        let mut bases = Vec::new();
        for p in s.rules.pdrs.values().filter(|p| p.urr_ids.contains(&u.id)) {
            let now = match snapshot.and_then(|v| v.get(p.counter as usize)) {
                Some(c) => *c,
                None => self.pdr_counters(p),
            };
            let base = s.baselines.get(&(u.id, p.id)).copied().unwrap_or_default();
            usage.add(Usage::delta(p.direction, now, base));
            bases.push(((u.id, p.id), now));
        }
        (usage, bases)
    }

    /// The Usage Report of URR `u` since its last report, the counter
    /// values to use as the next baselines, and the usage reported.
    pub(crate) fn report(
        &self,
        s: &Session,
        u: &Urr,
        trigger: u32,
        now_ntp: u32,
    ) -> (ie::UsageReport, Baselines, Usage) {
        let (usage, bases) = self.measure(s, u);
        (u.report(&usage, trigger, now_ntp), bases, usage)
    }

    pub(crate) fn restart_measurement(
        s: &mut Session,
        urr: u32,
        bases: Baselines,
        usage: &Usage,
        now_ntp: u32,
    ) {
        for (k, v) in bases {
            s.baselines.insert(k, v);
        }
        s.carried.remove(&urr);
        if let Some(x) = s.rules.urrs.get_mut(&urr) {
            x.restart(usage, now_ntp);
        }
    }

    /// After a request changed session `old` (`None`: a new one) into
    /// `new`: timers for the URR deadlines that moved, and its volume
    /// triggers evaluated at the next poll (the request may have changed
    /// what they compare).
    pub(crate) fn watch(&mut self, old: Option<&Session>, new: &Session) {
        self.usage.rewatch(old, Some(new), |_| false);
        self.usage.evaluate_volume(new.up_seid);
    }

    /// What the last [`Sessions::poll_usage`] evaluated.
    pub fn last_usage_poll(&self) -> UsagePoll {
        self.usage.last
    }

    /// Entries in the deadline heap, live and stale (for tests and metrics).
    pub fn usage_timers(&self) -> usize {
        self.usage.timers.len()
    }

    /// The current deadline of URR `urr` of session `seid`.
    fn urr_deadline(sessions: &BTreeMap<u64, Box<Session>>, seid: u64, urr: u32) -> Option<u32> {
        sessions.get(&seid)?.rules.urrs.get(&urr)?.next_time_due()
    }

    /// What a poll at `now_ntp` evaluates, sorted by session: the URRs
    /// whose deadline came (popped from the heap), and the volume triggers
    /// of the sessions whose counters were touched or that a request
    /// changed (of every session with one when the datapath cannot tell).
    fn pick_due(&mut self, now_ntp: u32) -> Vec<(u64, Why)> {
        let mut picks = Vec::new();
        let mut last = None;
        while let Some(&Reverse(t @ (due, seid, urr))) = self.usage.timers.peek() {
            if due > now_ntp {
                break;
            }
            self.usage.timers.pop();
            let live =
                last != Some(t) && Self::urr_deadline(&self.sessions, seid, urr) == Some(due);
            last = Some(t);
            if live {
                picks.push((seid, Why::Timer(urr)));
            } else {
                self.usage.stale = self.usage.stale.saturating_sub(1);
            }
        }
        let timers_due = picks.len();
        let touched = match self.dp.take_touched() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "reading the touched counter slots failed: every session's volume triggers are evaluated");
                None
            }
        };
        if self.evaluate_all {
            let watched = self.sessions.values();
            picks.extend(
                watched
                    .filter(|s| s.rules.urrs.values().any(Urr::watched))
                    .map(|s| (s.up_seid, Why::Volume)),
            );
        }
        let w = &mut self.usage;
        let touched_slots = match touched {
            Some(slots) => {
                // Not filtered by `volume` (a B-tree lookup per slot): the
                // evaluation skips a session without volume triggers.
                picks.extend(
                    slots
                        .iter()
                        .filter_map(|s| w.slot_owner(*s))
                        .map(|seid| (seid, Why::Volume)),
                );
                Some(slots.len())
            }
            None => {
                picks.extend(w.volume.iter().map(|s| (*s, Why::Volume)));
                None
            }
        };
        picks.extend(
            std::mem::take(&mut w.pending)
                .into_iter()
                .map(|s| (s, Why::Volume)),
        );
        picks.sort_unstable();
        picks.dedup();
        w.last = UsagePoll {
            timers_due,
            touched_slots,
            ..UsagePoll::default()
        };
        self.compact_timers();
        picks
    }

    /// Rebuilds the deadline heap from its live entries once stale ones
    /// are many and most of it.
    fn compact_timers(&mut self) {
        let w = &mut self.usage;
        if w.stale < COMPACT_ABOVE || w.stale * 2 < w.timers.len() {
            return;
        }
        let sessions = &self.sessions;
        let mut v = std::mem::take(&mut w.timers).into_vec();
        v.retain(|Reverse((due, seid, urr))| {
            Self::urr_deadline(sessions, *seid, *urr) == Some(*due)
        });
        v.sort_unstable();
        v.dedup();
        w.timers = BinaryHeap::from(v);
        w.stale = 0;
    }

    /// Evaluates the reporting triggers (VOLTH, VOLQU, TIMTH, TIMQU, PERIO)
    /// that can have fired by `now_ntp` and returns the Session Report
    /// Requests to send, one per session with the Usage Reports of the URRs
    /// that fired. Each reported URR starts a new measurement (next UR-SEQN);
    /// a quota used up makes the URR's PDRs drop, written to the datapath
    /// before this returns. A session whose write fails keeps its state
    /// (its triggers fire again at the next poll) and is logged.
    ///
    /// Only what can have fired is evaluated (see the `watch` module): the URRs
    /// whose deadline came, and the volume triggers of the sessions whose
    /// counter slots the datapath reports touched or that a request changed
    /// since the last poll (of every session with a volume trigger when the
    /// datapath cannot tell). An idle session costs nothing between its
    /// deadlines.
    pub fn poll_usage(&mut self, now_ntp: u32) -> Vec<PendingReport> {
        let picks = self.pick_due(now_ntp);
        let mut out = Vec::new();
        // Many PDRs to read: read the slots up to the highest one in a few
        // batch syscalls rather than one syscall per PDR, when that is less
        // work (a batch costs about a sixth of a lookup per slot).
        let (mut sessions, mut pdrs, mut top) = (0usize, 0usize, 0usize);
        for group in picks.chunk_by(|a, b| a.0 == b.0) {
            sessions += 1;
            if let Some(sess) = self.sessions.get(&group[0].0) {
                for p in sess.rules.pdrs.values().filter(|p| p.counter != NO_COUNTER) {
                    pdrs += 1;
                    top = top.max(p.counter as usize + 1);
                }
            }
        }
        let snapshot = (sessions > 0 && sessions >= self.snapshot_above && pdrs * 6 >= top)
            .then(|| {
                let mut v = vec![SessionCounters::default(); top];
                self.dp.counters_all(&mut v).ok().map(|_| v)
            })
            .flatten();
        let (mut evaluated, all) = (0, self.evaluate_all);
        for group in picks.chunk_by(|a, b| a.0 == b.0) {
            let seid = group[0].0;
            let volume = group[0].1 == Why::Volume;
            let consumed = |id: u32| group.contains(&(seid, Why::Timer(id)));
            let picked =
                |u: &&Urr| u.watched() && (all || (volume && u.volume_watched()) || consumed(u.id));
            let Some(old) = self.sessions.get(&seid) else {
                continue;
            };
            self.usage.last.sessions += 1;
            // (URR after evaluation, trigger bits, usage, baselines)
            let mut fired = Vec::new();
            for u in old.rules.urrs.values().filter(picked) {
                evaluated += 1;
                let (usage, bases) = self.measure_in(old, u, snapshot.as_deref());
                let mut next = u.clone();
                let bits = next.due(&usage, now_ntp);
                if bits != 0 {
                    fired.push((next, bits, usage, bases));
                }
            }
            if fired.is_empty() {
                // Nothing changed; a popped deadline is armed again.
                self.usage.rearm(old, consumed);
                continue;
            }
            let old = Session::clone(old);
            let mut new = old.clone();
            let mut reports = Vec::with_capacity(fired.len());
            for (u, bits, usage, bases) in fired {
                reports.push(u.report(&usage, bits, now_ntp));
                let id = u.id;
                new.rules.urrs.insert(id, u);
                Self::restart_measurement(&mut new, id, bases, &usage, now_ntp);
            }
            let blocks = |s: &Session| -> Vec<u32> {
                s.rules
                    .urrs
                    .values()
                    .filter(|u| u.blocks())
                    .map(|u| u.id)
                    .collect()
            };
            let new = if blocks(&new) != blocks(&old) {
                match self.commit(&old, new, &[]) {
                    Ok((new, _)) => new,
                    Err(e) => {
                        tracing::warn!(
                            seid,
                            "usage report held back: enforcing the quota failed: {e}"
                        );
                        // As it was: its deadlines stay due, its volume
                        // triggers are evaluated again.
                        self.usage.rearm(&old, consumed);
                        self.usage.evaluate_volume(seid);
                        continue;
                    }
                }
            } else {
                new
            };
            self.usage.rewatch(Some(&old), Some(&new), consumed);
            out.push(PendingReport::usage(&new, reports));
            self.sessions.insert(seid, Box::new(new));
            self.changed(seid);
        }
        self.usage.last.urrs = evaluated;
        out
    }

    /// Takes what `new` needs, writes its entries over `old`'s, and returns
    /// the committed session and the Created PDRs; on failure everything is
    /// as before.
    fn commit(
        &mut self,
        old: &Session,
        mut new: Session,
        _query: &[u32],
    ) -> Result<(Session, Vec<ie::CreatedPdr>), Reject> {
        let mut taken = Taken {
            plan: std::mem::take(&mut self.spare_plan),
            ..Taken::default()
        };
        let res = self.resolve(&mut new, &mut taken).and_then(|created| {
            new.rules.check()?;
            let first = self.assign_meters(&mut new, &mut taken)?;
            let desired = new
                .rules
                .compile_with(&|pdr| first.get(&pdr).copied().unwrap_or(0))?;
            self.check_conflicts(new.up_seid, &desired)?;
            self.write(old, &mut new, desired, &mut taken)?;
            Ok(created)
        });
        match res {
            Ok(created) => {
                self.settle(old, &mut new, &taken.counters);
                self.settle_meters(old, &new);
                Ok((new, created))
            }
            Err(e) => {
                for t in taken.teids {
                    self.pools.teid.release(t);
                }
                if let Some(u) = taken.ue {
                    self.pools.ue.release(u);
                }
                for c in taken.counters {
                    self.pools.counters.release(c);
                }
                for r in taken.rule_sets {
                    self.pools.rule_sets.release(r);
                }
                for m in taken.meters {
                    self.pools.meters.release(m);
                }
                Err(e)
            }
        }
    }

    /// Allocates CHOOSE TEIDs, CHOOSE UE addresses and counter slots.
    fn resolve(
        &mut self,
        s: &mut Session,
        taken: &mut Taken,
    ) -> Result<Vec<ie::CreatedPdr>, Reject> {
        let seid = s.up_seid;
        let mut created = Vec::new();
        // Fixed TEIDs of this session, so CHOOSE never hands one out.
        let fixed: Vec<u32> = s
            .rules
            .pdrs
            .values()
            .filter_map(|p| match p.f_teid {
                Some(TeidSpec::Fixed(t)) => Some(t),
                _ => None,
            })
            .collect();
        let mut used_choose = BTreeMap::new();
        // Slots taken in this call with only one direction in use.
        let mut half_free: Vec<(Direction, u32)> = Vec::new();
        let ids: Vec<u16> = s.rules.pdrs.keys().copied().collect();
        for id in ids {
            let p = &s.rules.pdrs[&id];
            let is_new = p.counter == NO_COUNTER;
            let mut c = ie::CreatedPdr {
                pdr_id: ie::PdrId(id),
                local_f_teid: None,
                ue_ip_address: None,
                unknown: Vec::new(),
            };
            if let Some(TeidSpec::Choose(cid)) = p.f_teid {
                let teid = match (p.teid, cid.and_then(|c| s.choose_ids.get(&c).copied())) {
                    (Some(t), _) => t,
                    (None, Some(t)) => t,
                    (None, None) => {
                        let owner = &self.owners.teid;
                        let t = self
                            .pools
                            .teid
                            .alloc(|t| {
                                owner.get(&t).is_some_and(|o| *o != seid) || fixed.contains(&t)
                            })
                            .ok_or_else(|| resources("the local TEID pool is exhausted"))?;
                        taken.teids.push(t);
                        if let Some(c) = cid {
                            s.choose_ids.insert(c, t);
                        }
                        t
                    }
                };
                if let Some(c) = cid {
                    used_choose.insert(c, teid);
                }
                c.local_f_teid = Some(ie::FTeid::ipv4(teid, self.cfg.n3));
                s.rules.pdrs.get_mut(&id).expect("listed").teid = Some(teid);
            }
            let p = &s.rules.pdrs[&id];
            if p.ue == Some(UeSpec::Choose) {
                let ue = match (p.ue_ipv4, s.allocated_ue) {
                    (Some(a), _) | (None, Some(a)) => a,
                    (None, None) => {
                        let owner = &self.owners.ue;
                        let a = self
                            .pools
                            .ue
                            .alloc(|a| owner.contains_key(&a))
                            .ok_or_else(|| resources("the UE address pools are exhausted"))?;
                        taken.ue = Some(a);
                        s.allocated_ue = Some(a);
                        a
                    }
                };
                c.ue_ip_address = Some(ie::UeIpAddress {
                    ipv4: Some(ue),
                    destination: p.direction == Direction::Downlink,
                    ..ie::UeIpAddress::default()
                });
                s.rules.pdrs.get_mut(&id).expect("listed").ue_ipv4 = Some(ue);
            }
            if s.rules.pdrs[&id].counter == NO_COUNTER {
                // Counters are split by direction, so an uplink and a
                // downlink PDR created together can share one slot exactly.
                let dir = s.rules.pdrs[&id].direction;
                let slot = match half_free.iter().position(|(d, _)| *d != dir) {
                    Some(i) => half_free.swap_remove(i).1,
                    None => {
                        let slot = self.pools.counters.alloc(|_| false).ok_or_else(|| {
                            resources("all counter slots (gateway.max_pdrs) are in use")
                        })?;
                        taken.counters.push(slot);
                        taken.plan.push(Write::ResetCounters(slot));
                        half_free.push((dir, slot));
                        slot
                    }
                };
                s.rules.pdrs.get_mut(&id).expect("listed").counter = slot;
            }
            // Created PDR reports what this request allocated: only for
            // the PDRs it created.
            if is_new && (c.local_f_teid.is_some() || c.ue_ip_address.is_some()) {
                created.push(c);
            }
        }
        // CHOOSE IDs no PDR uses any more give their TEID back (in settle).
        s.choose_ids.retain(|c, _| used_choose.contains_key(c));
        Ok(created)
    }

    fn check_conflicts(&self, seid: u64, d: &Desired) -> Result<(), Reject> {
        for teid in d.uplink.keys() {
            if let Some(o) = self.owners.teid.get(teid).filter(|o| **o != seid) {
                return Err(Reject::cause(
                    Cause::RULE_CREATION_MODIFICATION_FAILURE,
                    format!("local TEID {teid:#x} is in use by session {o:#x}"),
                ));
            }
        }
        for ue in d.downlink.keys() {
            if let Some(o) = self.owners.ue.get(ue).filter(|o| **o != seid) {
                return Err(Reject::cause(
                    Cause::RULE_CREATION_MODIFICATION_FAILURE,
                    format!("UE address {ue} is in use by session {o:#x}"),
                ));
            }
        }
        Ok(())
    }

    /// Plans `desired` over what `old` wrote, then has the datapath apply
    /// the request's whole plan (or undo all of it).
    fn write(
        &mut self,
        old: &Session,
        new: &mut Session,
        desired: Desired,
        taken: &mut Taken,
    ) -> Result<(), Reject> {
        self.plan_entries(old, new, desired, taken)?;
        self.plan_meter_changes(old, new, taken);
        let mut plan = std::mem::take(&mut taken.plan);
        let res = plan.apply(&mut self.dp).map_err(apply_reject);
        plan.clear();
        self.spare_plan = plan;
        res
    }

    /// The entry writes: a fresh rule set before the entry naming it,
    /// entries of kept keys replaced in place, stale keys deleted last.
    fn plan_entries(
        &mut self,
        old: &Session,
        new: &mut Session,
        desired: Desired,
        taken: &mut Taken,
    ) -> Result<(), Reject> {
        let n3_be = u32::from(self.cfg.n3).to_be();
        new.written_ul.clear();
        new.written_dl.clear();
        for (teid, c) in desired.uplink {
            let prev = old.written_ul.get(&teid);
            if let Some(p) = prev.filter(|p| p.compiled == c) {
                new.written_ul.insert(teid, p.clone());
                continue;
            }
            let rs = self.put_rule_set(&c, taken)?;
            taken.plan.push(Write::PutUplink {
                teid,
                entry: uplink_entry(&c, rs),
                prev: prev.map(|p| uplink_entry(&p.compiled, p.rule_set)),
            });
            new.written_ul.insert(
                teid,
                Written {
                    compiled: c,
                    rule_set: rs,
                },
            );
        }
        for (ue, c) in desired.downlink {
            let prev = old.written_dl.get(&ue);
            if let Some(p) = prev.filter(|p| p.compiled == c) {
                new.written_dl.insert(ue, p.clone());
                continue;
            }
            let rs = self.put_rule_set(&c, taken)?;
            taken.plan.push(Write::PutDownlink {
                ue,
                entry: downlink_entry(n3_be, &c, rs),
                prev: prev.map(|p| downlink_entry(n3_be, &p.compiled, p.rule_set)),
            });
            new.written_dl.insert(
                ue,
                Written {
                    compiled: c,
                    rule_set: rs,
                },
            );
        }
        for (teid, p) in &old.written_ul {
            if !new.written_ul.contains_key(teid) {
                taken.plan.push(Write::DelUplink {
                    teid: *teid,
                    prev: Some(uplink_entry(&p.compiled, p.rule_set)),
                });
            }
        }
        for (ue, p) in &old.written_dl {
            if !new.written_dl.contains_key(ue) {
                taken.plan.push(Write::DelDownlink {
                    ue: *ue,
                    prev: Some(downlink_entry(n3_be, &p.compiled, p.rule_set)),
                });
            }
        }
        Ok(())
    }

    fn put_rule_set(&mut self, c: &Compiled, taken: &mut Taken) -> Result<Option<u32>, Reject> {
        if c.rules.is_empty() {
            return Ok(None);
        }
        let idx = self
            .pools
            .rule_sets
            .alloc(|_| false)
            .ok_or_else(|| resources("all rule sets (gateway.max_rule_sets) are in use"))?;
        taken.rule_sets.push(idx);
        taken.plan.push(Write::PutRules(idx, rule_set(c)));
        Ok(Some(idx))
    }

    /// After a successful write: ownership maps, and what `old` held that
    /// `new` does not goes back to the pools; usage of ended links is kept.
    fn settle(&mut self, old: &Session, new: &mut Session, fresh: &[u32]) {
        let seid = new.up_seid;
        for teid in old.written_ul.keys() {
            if !new.written_ul.contains_key(teid) {
                self.owners.teid.remove(teid);
                self.pools.teid.release(*teid);
            }
        }
        for teid in new.written_ul.keys() {
            self.owners.teid.insert(*teid, seid);
        }
        for ue in old.written_dl.keys() {
            if !new.written_dl.contains_key(ue) {
                self.owners.ue.remove(ue);
            }
        }
        for ue in new.written_dl.keys() {
            self.owners.ue.insert(*ue, seid);
        }
        if let Some(a) = old.allocated_ue {
            let still_used = new.rules.pdrs.values().any(|p| p.ue_ipv4 == Some(a));
            if new.allocated_ue != Some(a) || !still_used {
                self.pools.ue.release(a);
                if new.allocated_ue == Some(a) {
                    new.allocated_ue = None;
                }
            }
        }
        let keep_rs: Vec<u32> = new
            .written_ul
            .values()
            .chain(new.written_dl.values())
            .filter_map(|w| w.rule_set)
            .collect();
        for w in old.written_ul.values().chain(old.written_dl.values()) {
            if let Some(r) = w.rule_set.filter(|r| !keep_rs.contains(r)) {
                self.pools.rule_sets.release(r);
            }
        }
        // Links (URR, PDR): ended ones fold their usage into the URR; new
        // ones start from the counter's value now.
        let old_links: BTreeMap<(u32, u16), (Direction, u32)> = links(&old.rules);
        let new_links = links(&new.rules);
        for (&(urr, pdr), &(dir, slot)) in &old_links {
            if new_links.get(&(urr, pdr)).map(|x| x.1) != Some(slot) {
                let now = self.slot_counters(slot);
                let base = new.baselines.remove(&(urr, pdr)).unwrap_or_default();
                if new.rules.urrs.contains_key(&urr) {
                    new.carried
                        .get_or_default(urr)
                        .add(Usage::delta(dir, now, base));
                }
            }
        }
        for (&(urr, pdr), &(_, slot)) in &new_links {
            if old_links.get(&(urr, pdr)).map(|x| x.1) != Some(slot) {
                // A slot zeroed by this request needs no read.
                let now = if fresh.contains(&slot) {
                    SessionCounters::default()
                } else {
                    self.slot_counters(slot)
                };
                new.baselines.insert((urr, pdr), now);
            }
        }
        new.carried.retain(|u, _| new.rules.urrs.contains_key(u));
        // Counter slots of removed PDRs.
        let new_slots: Vec<u32> = new.rules.pdrs.values().map(|p| p.counter).collect();
        for p in old.rules.pdrs.values() {
            if !new_slots.contains(&p.counter) {
                self.pools.counters.release(p.counter);
                self.usage.free_slot(p.counter, seid);
            }
        }
        for slot in new_slots {
            self.usage.hold_slot(slot, seid);
        }
    }
}

/// The Create FAR / QER / URR / PDR IEs of a request.
struct Created<'a> {
    fars: &'a [ie::CreateFar],
    qers: &'a [ie::CreateQer],
    urrs: &'a [ie::CreateUrr],
    pdrs: &'a [ie::CreatePdr],
}

/// Adds the rules a request creates (FARs, QERs, URRs, then PDRs, whose
/// counter slots are taken later); an ID already in `rules` is refused
/// with its Failed Rule ID (`dup` says how, for the log).
fn add_created(rules: &mut Rules, c: Created<'_>, now_ntp: u32, dup: &str) -> Result<(), Reject> {
    for x in c.fars {
        let f = Far::create(x)?;
        if rules.fars.insert(f.id, f).is_some() {
            return Err(Reject::rule(
                FailedRuleId::FAR,
                x.far_id.0,
                format!("FAR ID {dup}"),
            ));
        }
    }
    for x in c.qers {
        let q = Qer::create(x);
        if rules.qers.insert(q.id, q).is_some() {
            return Err(Reject::rule(
                FailedRuleId::QER,
                x.qer_id.0,
                format!("QER ID {dup}"),
            ));
        }
    }
    for x in c.urrs {
        let u = Urr::create(x, now_ntp)?;
        if rules.urrs.insert(u.id, u).is_some() {
            return Err(Reject::rule(
                FailedRuleId::URR,
                x.urr_id.0,
                format!("URR ID {dup}"),
            ));
        }
    }
    for x in c.pdrs {
        let mut p = Pdr::create(x)?;
        p.counter = NO_COUNTER;
        if rules.pdrs.insert(p.id, p).is_some() {
            return Err(Reject::rule(
                FailedRuleId::PDR,
                u32::from(x.pdr_id.0),
                format!("PDR ID {dup}"),
            ));
        }
    }
    Ok(())
}

fn links(r: &Rules) -> BTreeMap<(u32, u16), (Direction, u32)> {
    let mut m = BTreeMap::new();
    for p in r.pdrs.values() {
        for u in &p.urr_ids {
            m.insert((*u, p.id), (p.direction, p.counter));
        }
    }
    m
}

mod persist;
pub use persist::{Record, Restored};

mod watch;
pub use watch::UsagePoll;
use watch::{UsageWatch, Why, COMPACT_ABOVE};

#[cfg(test)]
pub(crate) mod tests;
