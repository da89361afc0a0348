//! The session core as the daemon holds it: every session, static and
//! PFCP, the QoS loop's state, the store it saves to, and the effects
//! requests leave for the host. It is the PFCP node's session handler
//! ([`crate::n4`]) and answers `upfctl`'s static-session API.
//!
//! A static session is one subscriber's tunnel pair: the local TEID the host
//! network sends uplink G-PDUs to, the UE's address, and the peer address and
//! remote TEID the downlink is tunnelled back to (4G S5/S8-U or 5G N3/N9,
//! with a QFI for the PDU Session Container), installed from a file or by
//! `upfctl`.
//!
//! A static session goes through the PFCP session manager as the requests an
//! SMF would send: in the datapath it is one `UPLINK` entry (default action
//! FORWARD) and one `DOWNLINK` entry (default action FORWARD through the
//! tunnel), sharing one counter slot, with no rule sets.
//!
//! Every operation is all-or-nothing: a failure part way through undoes what
//! was written, so the datapath never holds half a session, and other
//! sessions' entries are never touched.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use upf_abi::SessionCounters;
use upf_pfcp::node::SavedAssociation;
use upf_pfcp::Cause;

use crate::datapath::Datapath;
use crate::handler::{Effects, Identity};
use crate::rules::Reject;
use crate::sessions::{Sessions, SessionsConfig};
use crate::static_sessions::{
    self, SessionError, SessionInfo, SessionSpec, UpdateOutcome, STATIC_PEER,
};
use crate::types::now_ntp;

/// Where the manager saves PFCP sessions and the node's associations, so
/// that a restarted daemon re-adopts them (the daemon's SQLite store; the
/// core itself does no I/O). Errors are the store's own words.
pub trait Persistence: Send {
    /// Saves `changes` (a session's record, or `None`: it is gone) in one
    /// transaction.
    fn save(&mut self, changes: &[(u64, Option<crate::sessions::Record>)]) -> Result<(), String>;
    /// Replaces the saved associations.
    fn save_associations(&mut self, a: &[SavedAssociation]) -> Result<(), String>;
    /// The saved associations.
    fn associations(&self) -> Result<Vec<SavedAssociation>, String>;
}

/// Every session, static and PFCP, over one datapath: static sessions are
/// turned into the PFCP requests an SMF would send
/// ([`crate::static_sessions`]) and filed under the peer "static" with
/// their id as CP SEID, so both kinds share the pools and tables.
pub struct SessionManager<D: Datapath> {
    inner: Sessions<D>,
    n3: Ipv4Addr,
    specs: BTreeMap<u64, SessionSpec>,
    qos: Option<crate::qos::control::QosControl>,
    store: Option<Box<dyn Persistence>>,
    /// Saves that failed (logged; `upfctl stats` and /metrics could show it).
    store_errors: u64,
    /// Our identity in PFCP responses (set when N4 is configured).
    identity: Option<Identity>,
    /// GTP-U peers already handed out as [`Effects::new_peers`].
    announced: HashSet<Ipv4Addr>,
    /// Effects not yet taken by the daemon.
    effects: Effects,
}

impl<D: Datapath> SessionManager<D> {
    /// A manager over `dp` for static sessions only (no CHOOSE pools);
    /// `n3` is our GTP-U address.
    pub fn new(dp: D, n3: Ipv4Addr) -> Self {
        Self::with_config(
            dp,
            SessionsConfig {
                qos: Default::default(),
                n3,
                teid_range: (0x0010_0000, 0x7fff_ffff),
                ue_pools: Vec::new(),
            },
        )
    }

    /// A manager over `dp` with the PFCP pools.
    pub fn with_config(dp: D, cfg: SessionsConfig) -> Self {
        SessionManager {
            n3: cfg.n3,
            inner: Sessions::new(dp, cfg),
            specs: BTreeMap::new(),
            qos: None,
            store: None,
            store_errors: 0,
            identity: None,
            announced: HashSet::new(),
            effects: Effects::default(),
        }
    }

    /// Our Node ID and F-SEID address in PFCP responses (the node's
    /// [`upf_pfcp::node::SessionHandler`] is this manager, [`crate::n4`]).
    pub fn set_identity(&mut self, me: Identity) {
        self.identity = Some(me);
    }

    /// Our identity in PFCP responses, once set.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Queues `fx`, adding the GTP-U peers of the sessions `touched` (our
    /// SEIDs) not announced before.
    pub(crate) fn queue(&mut self, fx: Effects, touched: &[u64]) {
        self.effects.end_markers.extend(fx.end_markers);
        for seid in touched {
            let Some(s) = self.inner.get(*seid) else {
                continue;
            };
            for t in s.tunnels() {
                if self.announced.insert(t.ipv4) {
                    self.effects.new_peers.push(t.ipv4);
                }
            }
        }
    }

    /// Queues the GTP-U peers of every session not announced yet: after a
    /// restart re-adopted sessions from the store, so the path supervision
    /// (Echo Requests) covers their peers before any new request names them.
    pub fn announce_all(&mut self) {
        let seids: Vec<u64> = self.inner.sessions().keys().copied().collect();
        self.queue(Effects::default(), &seids);
    }

    /// What the requests handled since the last call left to do.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
    }

    /// Saves every PFCP session change from now on in `store` (see
    /// [`SessionManager::persist`]). Static sessions are not saved: the
    /// sessions file installs them again at every start.
    pub fn set_store(&mut self, store: Box<dyn Persistence>) {
        self.inner.track_dirty();
        self.store = Some(store);
    }

    /// The session store, if sessions are persisted.
    pub fn store_mut(&mut self) -> Option<&mut (dyn Persistence + 'static)> {
        self.store.as_deref_mut()
    }

    /// Saves the sessions changed since the last call in one transaction
    /// (the PFCP handler calls it before each response leaves). A failure
    /// is logged and counted; the sessions stay as they are in the fast
    /// path and are saved again at their next change.
    pub fn persist(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let changes: Vec<_> = self
            .inner
            .take_dirty()
            .into_iter()
            .map(|(seid, r)| (seid, r.filter(|r| r.session.peer != STATIC_PEER)))
            .collect();
        if let Err(e) = store.save(&changes) {
            self.store_errors += 1;
            tracing::error!(error = %e, sessions = changes.len(), "saving sessions failed: a restart would not re-adopt them");
        }
    }

    /// Saves that failed since start.
    pub fn store_errors(&self) -> u64 {
        self.store_errors
    }

    /// Starts the QoS control loop's state: configures the POI meters and
    /// tells the session manager which POI a peer belongs to.
    pub fn set_qos(&mut self, q: crate::qos::control::QosControl) -> Result<(), String> {
        q.install(&mut self.inner)?;
        self.qos = Some(q);
        Ok(())
    }

    /// One tick of the QoS control loop (measure, guard the POIs, count
    /// plan quotas); returns the Session Report Requests telling SMFs that
    /// a plan's quota was used up (the session is throttled already).
    pub fn qos_tick(
        &mut self,
        now: std::time::Instant,
        unix: u64,
    ) -> Vec<crate::sessions::PendingReport> {
        let Some(q) = self.qos.as_mut() else {
            return Vec::new();
        };
        let out = q.tick(&mut self.inner, now, unix);
        let now_ntp = crate::types::ntp_from_unix(unix);
        out.exhausted
            .into_iter()
            .filter_map(|seid| {
                tracing::info!(seid, "plan quota used up: throttled");
                self.inner.plan_exhausted(seid, now_ntp)
            })
            .collect()
    }

    /// What `upfctl qos` shows.
    pub fn qos_view(&self) -> crate::qos::control::QosView {
        match &self.qos {
            Some(q) => q.view(&self.inner),
            None => crate::qos::control::QosView::default(),
        }
    }

    /// The PFCP session manager underneath.
    pub fn sessions(&self) -> &Sessions<D> {
        &self.inner
    }

    /// The PFCP session manager underneath, mutably (the PFCP node's handler).
    pub fn sessions_mut(&mut self) -> &mut Sessions<D> {
        &mut self.inner
    }

    /// The datapath (for statistics).
    pub fn datapath(&self) -> &D {
        self.inner.datapath()
    }

    /// The datapath, mutably (for attach and detach).
    pub fn datapath_mut(&mut self) -> &mut D {
        self.inner.datapath_mut()
    }

    /// Number of static sessions.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when no static session is installed.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    fn up_seid(&self, id: u64) -> Option<u64> {
        self.inner.find(STATIC_PEER, id)
    }

    fn slot(&self, id: u64) -> u32 {
        self.up_seid(id)
            .and_then(|s| self.inner.get(s))
            .and_then(|s| s.rules.pdrs.values().next())
            .map_or(0, |p| p.counter)
    }

    /// Static sessions in id order.
    pub fn list(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.specs.values().map(|s| SessionInfo {
            spec: s.clone(),
            slot: self.slot(s.id),
        })
    }

    /// One static session.
    pub fn get(&self, id: u64) -> Option<SessionInfo> {
        self.specs.get(&id).map(|s| SessionInfo {
            spec: s.clone(),
            slot: self.slot(id),
        })
    }

    /// A static session's traffic so far, summed over CPUs.
    pub fn counters(&self, id: u64) -> Result<SessionCounters, SessionError> {
        let seid = self.up_seid(id).ok_or(SessionError::NotFound(id))?;
        let s = self.inner.get(seid).ok_or(SessionError::NotFound(id))?;
        let mut total = SessionCounters::default();
        let mut seen = Vec::new();
        for p in s.rules.pdrs.values() {
            if !seen.contains(&p.counter) {
                seen.push(p.counter);
                total.accumulate(&self.inner.datapath().counters(p.counter)?);
            }
        }
        Ok(total)
    }

    /// Names the holder of a TEID or UE address another session would take.
    fn check_conflicts(&self, spec: &SessionSpec) -> Result<(), SessionError> {
        let me = self.up_seid(spec.id);
        let holder = |up: u64| {
            self.inner.get(up).map_or(up, |s| {
                if s.peer == STATIC_PEER {
                    s.cp_seid
                } else {
                    s.up_seid
                }
            })
        };
        if let Some(by) = self
            .inner
            .teid_owner(spec.local_teid)
            .filter(|o| Some(*o) != me)
        {
            return Err(SessionError::TeidInUse {
                teid: spec.local_teid,
                by: holder(by),
            });
        }
        if let Some(by) = self.inner.ue_owner(spec.ue_ipv4).filter(|o| Some(*o) != me) {
            return Err(SessionError::UeInUse {
                ue: spec.ue_ipv4,
                by: holder(by),
            });
        }
        Ok(())
    }

    fn refused(&self, r: Reject) -> SessionError {
        if r.cause == Cause::NO_RESOURCES_AVAILABLE {
            SessionError::Full {
                capacity: self.inner.datapath().capacity().sessions,
            }
        } else {
            SessionError::Refused(r.to_string())
        }
    }

    /// Installs a new static session.
    pub fn install(&mut self, spec: SessionSpec) -> Result<(), SessionError> {
        spec.validate()?;
        if self.specs.contains_key(&spec.id) {
            return Err(SessionError::Exists(spec.id));
        }
        self.check_conflicts(&spec)?;
        let req = static_sessions::establishment(&spec, self.n3);
        let e = self
            .inner
            .establish(STATIC_PEER, &req, now_ntp())
            .map_err(|r| self.refused(r))?;
        self.queue(Effects::default(), &[e.up_seid]);
        self.specs.insert(spec.id, spec);
        Ok(())
    }

    /// Replaces a static session's parameters in place; its counters carry
    /// on. Other sessions are untouched; on failure this one is left as it was.
    pub fn update(&mut self, spec: SessionSpec) -> Result<UpdateOutcome, SessionError> {
        spec.validate()?;
        let old = self
            .specs
            .get(&spec.id)
            .ok_or(SessionError::NotFound(spec.id))?
            .clone();
        self.check_conflicts(&spec)?;
        let seid = self
            .up_seid(spec.id)
            .ok_or(SessionError::NotFound(spec.id))?;
        let req = static_sessions::modification(&old, &spec, self.n3);
        let m = self
            .inner
            .modify(seid, &req, now_ntp())
            .map_err(|r| self.refused(r))?;
        self.queue(
            Effects {
                end_markers: m.end_markers.clone(),
                new_peers: Vec::new(),
            },
            &[seid],
        );
        self.specs.insert(spec.id, spec);
        Ok(UpdateOutcome {
            old_tunnel: m.end_markers.first().map(|t| (t.ipv4, t.teid)),
        })
    }

    /// Removes a static session and returns it with its final counters.
    pub fn remove(&mut self, id: u64) -> Result<(SessionSpec, SessionCounters), SessionError> {
        let counters = self.counters(id)?;
        let seid = self.up_seid(id).ok_or(SessionError::NotFound(id))?;
        self.inner
            .delete(seid, now_ntp())
            .map_err(|r| self.refused(r))?;
        let spec = self.specs.remove(&id).ok_or(SessionError::NotFound(id))?;
        Ok((spec, counters))
    }

    /// True when some session, static or PFCP, tunnels to `peer`. Stops at
    /// the first: with few peers this is quick, unlike [`Self::peers`].
    pub fn has_peer(&self, peer: Ipv4Addr) -> bool {
        self.inner.sessions().values().any(|s| {
            s.rules
                .fars
                .values()
                .any(|f| f.outer_header_creation.is_some_and(|t| t.ipv4 == peer))
        })
    }

    /// The distinct GTP-U peers of all sessions, static and PFCP (for path management).
    pub fn peers(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<Ipv4Addr> = self
            .inner
            .sessions()
            .values()
            .flat_map(|s| s.tunnels())
            .map(|t| t.ipv4)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests;
