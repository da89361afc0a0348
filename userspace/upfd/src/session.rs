//! The session API: install, update and remove GTP-U sessions.
//!
//! A session is one subscriber's tunnel pair: the local TEID the host network
//! sends uplink G-PDUs to, the UE's address, and the peer address and remote
//! TEID the downlink is tunnelled back to (4G S5/S8-U or 5G N3/N9, with a QFI
//! for the PDU Session Container). The PFCP node drives this API; until then
//! `upfctl` installs static sessions from a file.
//!
//! In the datapath a static session is one `UPLINK` entry (default action
//! FORWARD, counting into the session's counter slot) and one `DOWNLINK`
//! entry (default action FORWARD through the tunnel, same slot), with no
//! rule sets: one catch-all PDR per direction.
//!
//! Every operation is all-or-nothing: a failure part way through undoes what
//! was written, so the datapath never holds half a session, and other
//! sessions' entries are never touched.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_abi::{DownlinkEntry, PdrAction, SessionCounters, UplinkEntry, ACT_5G, ACT_FORWARD};

use crate::datapath::{Datapath, DatapathError};

/// Which access the session's tunnel serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Generation {
    /// 4G: S5/S8-U or S1-U, plain GTP-U.
    #[serde(rename = "4g")]
    Lte,
    /// 5G: N3/N9, GTP-U with the PDU Session Container (TS 38.415).
    #[serde(rename = "5g")]
    Nr,
}

/// Everything the fast path needs for one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Caller-chosen session identifier (the PFCP issue will use the local SEID).
    pub id: u64,
    /// TEID we allocated: uplink G-PDUs arrive with it.
    pub local_teid: u32,
    /// The UE's IPv4 address.
    pub ue_ipv4: Ipv4Addr,
    /// The peer GTP-U endpoint (gNB, SGW-U, I-UPF).
    pub peer_ipv4: Ipv4Addr,
    /// The peer's TEID for the downlink.
    pub remote_teid: u32,
    /// QoS flow identifier for the downlink PDU Session Container (5G; 1..=63).
    #[serde(default)]
    pub qfi: u8,
    /// 4G or 5G.
    pub generation: Generation,
}

/// Why a session operation was refused. Nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A field has a value the datapath cannot use.
    #[error("session {id}: field {field}: {reason}")]
    Invalid {
        /// Session id.
        id: u64,
        /// The field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Install of an id that exists.
    #[error("session {0} already exists")]
    Exists(u64),
    /// Update or remove of an id that does not exist.
    #[error("session {0} does not exist")]
    NotFound(u64),
    /// The local TEID belongs to another session.
    #[error("local TEID {teid:#x} is already used by session {by}")]
    TeidInUse {
        /// The TEID.
        teid: u32,
        /// The session holding it.
        by: u64,
    },
    /// The UE address belongs to another session.
    #[error("UE address {ue} is already used by session {by}")]
    UeInUse {
        /// The address.
        ue: Ipv4Addr,
        /// The session holding it.
        by: u64,
    },
    /// The tables are full (the PFCP layer answers "No resources available").
    #[error("no resources: all {capacity} session slots are in use")]
    Full {
        /// The configured capacity.
        capacity: u32,
    },
    /// The datapath refused a write.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
}

impl SessionSpec {
    /// Checks the fields the datapath depends on.
    pub fn validate(&self) -> Result<(), SessionError> {
        let bad = |field, reason| {
            Err(SessionError::Invalid {
                id: self.id,
                field,
                reason,
            })
        };
        if self.local_teid == 0 {
            return bad(
                "local_teid",
                "TEID 0 is reserved for path signalling (TS 29.281 §5.1)",
            );
        }
        if self.remote_teid == 0 {
            return bad(
                "remote_teid",
                "TEID 0 is reserved for path signalling (TS 29.281 §5.1)",
            );
        }
        if self.ue_ipv4.is_unspecified()
            || self.ue_ipv4.is_broadcast()
            || self.ue_ipv4.is_multicast()
        {
            return bad("ue_ipv4", "must be a unicast address");
        }
        if self.peer_ipv4.is_unspecified()
            || self.peer_ipv4.is_broadcast()
            || self.peer_ipv4.is_multicast()
        {
            return bad("peer_ipv4", "must be a unicast address");
        }
        if self.qfi > 63 {
            return bad("qfi", "a QFI has 6 bits (0..=63)");
        }
        if self.generation == Generation::Nr && self.qfi == 0 {
            return bad(
                "qfi",
                "a 5G session needs a QFI in 1..=63 for the PDU Session Container",
            );
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Installed {
    spec: SessionSpec,
    slot: u32,
}

/// A session as listed, with its counter slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The spec it was installed (or last updated) with.
    #[serde(flatten)]
    pub spec: SessionSpec,
    /// Its per-CPU counter slot.
    pub slot: u32,
}

/// What an update changed that the caller must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// The downlink tunnel was moved (path switch): `(old peer, old remote TEID)`.
    /// TS 29.281 §7.3.2: send an End Marker on the old tunnel.
    pub old_tunnel: Option<(Ipv4Addr, u32)>,
}

/// The session table in userspace, mirrored into the datapath.
pub struct SessionManager<D: Datapath> {
    dp: D,
    n3: Ipv4Addr,
    sessions: BTreeMap<u64, Installed>,
    by_teid: HashMap<u32, u64>,
    by_ue: HashMap<Ipv4Addr, u64>,
    free_slots: Vec<u32>,
    next_slot: u32,
}

impl<D: Datapath> SessionManager<D> {
    /// A manager over `dp`; `n3` is our GTP-U source address for downlink tunnels.
    pub fn new(dp: D, n3: Ipv4Addr) -> Self {
        SessionManager {
            dp,
            n3,
            sessions: BTreeMap::new(),
            by_teid: HashMap::new(),
            by_ue: HashMap::new(),
            free_slots: Vec::new(),
            next_slot: 0,
        }
    }

    /// The datapath (for statistics).
    pub fn datapath(&self) -> &D {
        &self.dp
    }

    /// The datapath, mutably (for attach and detach).
    pub fn datapath_mut(&mut self) -> &mut D {
        &mut self.dp
    }

    /// Number of installed sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is installed.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Installed sessions in id order.
    pub fn list(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.values().map(|s| SessionInfo {
            spec: s.spec.clone(),
            slot: s.slot,
        })
    }

    /// One session.
    pub fn get(&self, id: u64) -> Option<SessionInfo> {
        self.sessions.get(&id).map(|s| SessionInfo {
            spec: s.spec.clone(),
            slot: s.slot,
        })
    }

    /// A session's traffic so far, summed over CPUs.
    pub fn counters(&self, id: u64) -> Result<SessionCounters, SessionError> {
        let s = self.sessions.get(&id).ok_or(SessionError::NotFound(id))?;
        Ok(self.dp.counters(s.slot)?)
    }

    fn entries(&self, spec: &SessionSpec, slot: u32) -> (UplinkEntry, DownlinkEntry) {
        let five_g = if spec.generation == Generation::Nr {
            ACT_5G
        } else {
            0
        };
        let ul = UplinkEntry {
            ue_ipv4_be: u32::from(spec.ue_ipv4).to_be(),
            rules: 0,
            default: PdrAction {
                counter: slot,
                flags: ACT_FORWARD,
                ..PdrAction::NONE
            },
        };
        let dl = DownlinkEntry {
            local_ipv4_be: u32::from(self.n3).to_be(),
            rules: 0,
            default: PdrAction {
                counter: slot,
                flags: ACT_FORWARD | five_g,
                qfi: spec.qfi,
                _pad: [0; 2],
                peer_ipv4_be: u32::from(spec.peer_ipv4).to_be(),
                remote_teid_be: spec.remote_teid.to_be(),
            },
        };
        (ul, dl)
    }

    fn check_conflicts(&self, spec: &SessionSpec) -> Result<(), SessionError> {
        if let Some(&by) = self.by_teid.get(&spec.local_teid) {
            if by != spec.id {
                return Err(SessionError::TeidInUse {
                    teid: spec.local_teid,
                    by,
                });
            }
        }
        if let Some(&by) = self.by_ue.get(&spec.ue_ipv4) {
            if by != spec.id {
                return Err(SessionError::UeInUse {
                    ue: spec.ue_ipv4,
                    by,
                });
            }
        }
        Ok(())
    }

    /// Installs a new session.
    pub fn install(&mut self, spec: SessionSpec) -> Result<(), SessionError> {
        spec.validate()?;
        if self.sessions.contains_key(&spec.id) {
            return Err(SessionError::Exists(spec.id));
        }
        self.check_conflicts(&spec)?;
        let cap = self.dp.capacity();
        if self.sessions.len() as u64 >= u64::from(cap.sessions) {
            return Err(SessionError::Full {
                capacity: cap.sessions,
            });
        }
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None if self.next_slot < cap.counter_slots => {
                self.next_slot += 1;
                self.next_slot - 1
            }
            None => {
                return Err(SessionError::Full {
                    capacity: cap.counter_slots,
                })
            }
        };
        let (ul, dl) = self.entries(&spec, slot);
        let res = self
            .dp
            .reset_counters(slot)
            .and_then(|_| self.dp.put_downlink(spec.ue_ipv4, &dl))
            .and_then(|_| {
                self.dp.put_uplink(spec.local_teid, &ul).inspect_err(|_| {
                    let _ = self.dp.del_downlink(spec.ue_ipv4);
                })
            });
        if let Err(e) = res {
            self.free_slots.push(slot);
            return Err(match e {
                DatapathError::Full { capacity, .. } => SessionError::Full { capacity },
                e => e.into(),
            });
        }
        self.by_teid.insert(spec.local_teid, spec.id);
        self.by_ue.insert(spec.ue_ipv4, spec.id);
        self.sessions.insert(spec.id, Installed { spec, slot });
        Ok(())
    }

    /// Replaces an existing session's parameters in place; its counters carry on.
    /// Other sessions are untouched; on failure this one is left as it was.
    pub fn update(&mut self, spec: SessionSpec) -> Result<UpdateOutcome, SessionError> {
        spec.validate()?;
        let old = self
            .sessions
            .get(&spec.id)
            .ok_or(SessionError::NotFound(spec.id))?
            .clone();
        self.check_conflicts(&spec)?;
        let (ul, dl) = self.entries(&spec, old.slot);
        let (_, old_dl) = self.entries(&old.spec, old.slot);
        let o = &old.spec;
        // New entries first (replacing in place when the key is unchanged),
        // then the old keys go; a failure restores the old entries.
        self.dp.put_downlink(spec.ue_ipv4, &dl)?;
        if let Err(e) = self.dp.put_uplink(spec.local_teid, &ul) {
            if spec.ue_ipv4 == o.ue_ipv4 {
                let _ = self.dp.put_downlink(o.ue_ipv4, &old_dl);
            } else {
                let _ = self.dp.del_downlink(spec.ue_ipv4);
            }
            return Err(e.into());
        }
        if spec.ue_ipv4 != o.ue_ipv4 {
            self.dp.del_downlink(o.ue_ipv4)?;
            self.by_ue.remove(&o.ue_ipv4);
            self.by_ue.insert(spec.ue_ipv4, spec.id);
        }
        if spec.local_teid != o.local_teid {
            self.dp.del_uplink(o.local_teid)?;
            self.by_teid.remove(&o.local_teid);
            self.by_teid.insert(spec.local_teid, spec.id);
        }
        let moved = spec.peer_ipv4 != o.peer_ipv4 || spec.remote_teid != o.remote_teid;
        let outcome = UpdateOutcome {
            old_tunnel: moved.then_some((o.peer_ipv4, o.remote_teid)),
        };
        self.sessions.insert(
            spec.id,
            Installed {
                spec,
                slot: old.slot,
            },
        );
        Ok(outcome)
    }

    /// Removes a session and returns it with its final counters.
    pub fn remove(&mut self, id: u64) -> Result<(SessionSpec, SessionCounters), SessionError> {
        let s = self
            .sessions
            .get(&id)
            .ok_or(SessionError::NotFound(id))?
            .clone();
        self.dp.del_uplink(s.spec.local_teid)?;
        self.dp.del_downlink(s.spec.ue_ipv4)?;
        let counters = self.dp.counters(s.slot).unwrap_or_default();
        self.sessions.remove(&id);
        self.by_teid.remove(&s.spec.local_teid);
        self.by_ue.remove(&s.spec.ue_ipv4);
        self.free_slots.push(s.slot);
        Ok((s.spec, counters))
    }

    /// The distinct peers of all sessions (for GTP-U path management).
    pub fn peers(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<Ipv4Addr> = self.sessions.values().map(|s| s.spec.peer_ipv4).collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests;
