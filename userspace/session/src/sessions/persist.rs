//! What the session store keeps of a session, and re-adopting sessions
//! after a restart.
//!
//! A [`Record`] is everything the manager knows about one session: its
//! rules with what CHOOSE allocated, the counter slots, rule sets and
//! meters it holds, what it wrote for each fast-path key, and the URR
//! baselines its next usage report is measured from. The daemon saves the
//! records of the sessions a request changed before it answers
//! ([`Sessions::take_dirty`]) and, after a restart that re-adopted the
//! pinned maps, gives them back to [`Sessions::restore`]: the pools take
//! what the sessions hold, and every entry is written again from the
//! record, so a crash between a map write and the save is undone (the
//! store is the truth). [`Sessions::remove_orphans`] then deletes map
//! entries no session owns.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_abi::{PdrAction, Plain, Rule, SessionCounters};

use super::{downlink_entry, rule_set, uplink_entry, Sessions, Written, NO_COUNTER};
use crate::datapath::Datapath;
use crate::plan::{Plan, Write};
use crate::qos::meters::MeterKey;
use crate::rules::{Compiled, TeidSpec};
use crate::sessions::{MeterSlot, Session, Usage};
use crate::vecmap::VecMap;

/// One session as the store keeps it (serde: postcard in the store).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The session's identity, rules and limits (what `upfctl` shows).
    pub session: Session,
    /// Its rate meters.
    meters: Vec<(MeterKey, MeterSlot)>,
    /// What it wrote per local TEID.
    uplink: Vec<(u32, WrittenRecord)>,
    /// What it wrote per UE address.
    downlink: Vec<(Ipv4Addr, WrittenRecord)>,
    /// Counter values at the last report per (URR, PDR) link:
    /// ul bytes, ul packets, dl bytes, dl packets.
    baselines: Vec<((u32, u16), [u64; 4])>,
    /// Usage of links that ended since their URR's last report.
    carried: Vec<(u32, Usage)>,
}

/// One key's compiled state; the ABI structs as their bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WrittenRecord {
    ue_ipv4: Option<Ipv4Addr>,
    default: Vec<u8>,
    rules: Vec<Vec<u8>>,
    rule_set: Option<u32>,
}

/// What [`Sessions::restore`] re-adopted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Sessions re-adopted.
    pub sessions: usize,
    /// Fast-path entries written again (uplink + downlink).
    pub entries: usize,
}

fn pod_bytes<T: Plain>(v: &T) -> Vec<u8> {
    v.to_bytes().to_vec()
}

fn from_pod_bytes<T: Plain>(b: &[u8]) -> Result<T, String> {
    T::from_bytes(b).ok_or_else(|| {
        format!(
            "{} bytes where {} were expected (another ABI)",
            b.len(),
            size_of::<T>()
        )
    })
}

impl WrittenRecord {
    fn of(w: &Written) -> Self {
        WrittenRecord {
            ue_ipv4: w.compiled.ue_ipv4,
            default: pod_bytes(&w.compiled.default),
            rules: w.compiled.rules.iter().map(pod_bytes).collect(),
            rule_set: w.rule_set,
        }
    }

    fn written(&self) -> Result<Written, String> {
        Ok(Written {
            compiled: Compiled {
                ue_ipv4: self.ue_ipv4,
                default: from_pod_bytes::<PdrAction>(&self.default)?,
                rules: self
                    .rules
                    .iter()
                    .map(|r| from_pod_bytes::<Rule>(r))
                    .collect::<Result<_, _>>()?,
            },
            rule_set: self.rule_set,
        })
    }
}

fn counters(c: &SessionCounters) -> [u64; 4] {
    [c.ul_bytes, c.ul_packets, c.dl_bytes, c.dl_packets]
}

fn from_counters(v: [u64; 4]) -> SessionCounters {
    SessionCounters {
        ul_bytes: v[0],
        ul_packets: v[1],
        dl_bytes: v[2],
        dl_packets: v[3],
    }
}

impl Record {
    /// The store's encoding (postcard: compact, a 5G session in a few
    /// hundred bytes).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        postcard::to_allocvec(self).map_err(|e| e.to_string())
    }

    /// [`Record::encode`] back.
    pub fn decode(b: &[u8]) -> Result<Record, String> {
        postcard::from_bytes(b).map_err(|e| e.to_string())
    }

    /// Everything about `s`.
    pub fn of(s: &Session) -> Self {
        Record {
            session: s.clone(),
            meters: s.meters.iter().map(|(k, m)| (*k, *m)).collect(),
            uplink: s
                .written_ul
                .iter()
                .map(|(k, w)| (*k, WrittenRecord::of(w)))
                .collect(),
            downlink: s
                .written_dl
                .iter()
                .map(|(k, w)| (*k, WrittenRecord::of(w)))
                .collect(),
            baselines: s.baselines.iter().map(|(k, c)| (*k, counters(c))).collect(),
            carried: s.carried.iter().map(|(k, u)| (*k, *u)).collect(),
        }
    }

    /// Our SEID.
    pub fn up_seid(&self) -> u64 {
        self.session.up_seid
    }

    /// The session back, or what in the record is wrong.
    pub fn into_session(self) -> Result<Session, String> {
        let mut s = self.session;
        for p in s.rules.pdrs.values_mut() {
            p.restore_flows()?;
        }
        s.meters = self.meters.into_iter().collect::<VecMap<_, _>>();
        s.written_ul = self
            .uplink
            .iter()
            .map(|(k, w)| Ok((*k, w.written()?)))
            .collect::<Result<VecMap<_, _>, String>>()?;
        s.written_dl = self
            .downlink
            .iter()
            .map(|(k, w)| Ok((*k, w.written()?)))
            .collect::<Result<VecMap<_, _>, String>>()?;
        s.baselines = self
            .baselines
            .into_iter()
            .map(|(k, v)| (k, from_counters(v)))
            .collect();
        s.carried = self.carried.into_iter().collect();
        Ok(s)
    }
}

impl<D: Datapath> Sessions<D> {
    /// Starts keeping the set of sessions changed since the last
    /// [`Sessions::take_dirty`] (the daemon does when it persists sessions).
    pub fn track_dirty(&mut self) {
        self.changes.dirty.get_or_insert_with(BTreeSet::new);
    }

    pub(crate) fn mark_dirty(&mut self, up_seid: u64) {
        if let Some(d) = &mut self.changes.dirty {
            d.insert(up_seid);
        }
    }

    /// The sessions changed since the last call: `Some(record)` to save,
    /// `None` for a session that is gone.
    pub fn take_dirty(&mut self) -> Vec<(u64, Option<Record>)> {
        let Some(d) = self.changes.dirty.as_mut() else {
            return Vec::new();
        };
        let seids = std::mem::take(d);
        seids
            .into_iter()
            .map(|seid| (seid, self.get(seid).map(Record::of)))
            .collect()
    }

    /// Re-adopts sessions from the store into an empty manager whose
    /// datapath kept its maps (pinned) across the restart: the pools take
    /// what the sessions hold and every entry and rule set is written again
    /// as the record says (the same values the maps should hold, so traffic
    /// is not disturbed). A record that does not fit (a pool or table
    /// smaller than before, a broken record) fails the whole restore.
    pub fn restore(&mut self, records: Vec<Record>) -> Result<Restored, String> {
        if !self.sessions.is_empty() {
            return Err("restore needs an empty session manager".into());
        }
        let cap = self.dp.capacity();
        let mut sessions = Vec::with_capacity(records.len());
        let (mut teids, mut ues, mut slots, mut sets, mut meters) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in records {
            let seid = r.up_seid();
            let s = r
                .into_session()
                .map_err(|e| format!("session {seid:#x}: {e}"))?;
            for p in s.rules.pdrs.values() {
                if matches!(p.f_teid, Some(TeidSpec::Choose(_))) {
                    teids.extend(p.teid);
                }
                if p.counter != NO_COUNTER {
                    if p.counter >= cap.counter_slots {
                        return Err(format!(
                            "session {seid:#x}: counter slot {} is beyond gateway.max_pdrs ({})",
                            p.counter, cap.counter_slots
                        ));
                    }
                    slots.push(p.counter);
                }
            }
            ues.extend(s.allocated_ue);
            for w in s.written_ul.values().chain(s.written_dl.values()) {
                if let Some(rs) = w.rule_set {
                    if rs >= cap.rule_sets {
                        return Err(format!(
                            "session {seid:#x}: rule set {rs} is beyond gateway.max_rule_sets ({})",
                            cap.rule_sets
                        ));
                    }
                    sets.push(rs);
                }
            }
            meters.extend(s.meters.values().map(|m| m.index));
            sessions.push(s);
        }
        self.pools.teid.take_all(teids);
        self.pools.ue.take_all(&ues);
        self.pools.counters.take_all(slots);
        self.pools.rule_sets.take_all(sets);
        self.pools.meters.take_all(meters);
        // The maps hold these values already: writing them again changes
        // nothing for traffic, and an undo puts the same value back. One
        // plan per session, its allocation reused: a single plan for a
        // million sessions held millions of writes (each as large as a
        // rule set) at once, gigabytes to fill and walk.
        let mut plan = Plan::new();
        let n3_be = u32::from(self.cfg.n3).to_be();
        for s in &sessions {
            plan.clear();
            for w in s.written_ul.values().chain(s.written_dl.values()) {
                if let Some(rs) = w.rule_set {
                    plan.push(Write::PutRules(rs, rule_set(&w.compiled)));
                }
            }
            for (teid, w) in &s.written_ul {
                let entry = uplink_entry(&w.compiled, w.rule_set);
                plan.push(Write::PutUplink {
                    teid: *teid,
                    entry,
                    prev: Some(entry),
                });
            }
            for (ue, w) in &s.written_dl {
                let entry = downlink_entry(n3_be, &w.compiled, w.rule_set);
                plan.push(Write::PutDownlink {
                    ue: *ue,
                    entry,
                    prev: Some(entry),
                });
            }
            for m in s.meters.values() {
                plan.push(Write::SetMeter {
                    index: m.index,
                    config: m.config,
                    prev: Some(m.config),
                });
            }
            plan.apply(&mut self.dp)
                .map_err(|e| format!("session {:#x}: {e}", s.up_seid))?;
        }
        let mut out = Restored::default();
        // Sized once: growing million-entry maps rehashes them again and again.
        let ul: usize = sessions.iter().map(|s| s.written_ul.len()).sum();
        let dl: usize = sessions.iter().map(|s| s.written_dl.len()).sum();
        self.owners.teid.reserve(ul);
        self.owners.ue.reserve(dl);
        self.owners.by_cp.reserve(sessions.len());
        for s in sessions {
            let seid = s.up_seid;
            for teid in s.written_ul.keys() {
                self.owners.teid.insert(*teid, seid);
                out.entries += 1;
            }
            for ue in s.written_dl.keys() {
                self.owners.ue.insert(*ue, seid);
                out.entries += 1;
            }
            self.owners.by_cp.insert((s.peer.clone(), s.cp_seid), seid);
            for p in s.rules.pdrs.values().filter(|p| p.counter != NO_COUNTER) {
                self.usage.hold_slot(p.counter, seid);
            }
            // Deadlines from the URRs' saved state (a period missed while
            // down is due at the first poll); the counters may have moved
            // while nobody watched, so volume triggers are evaluated then.
            self.watch(None, &s);
            self.next_seid = self.next_seid.max(seid.wrapping_add(1));
            self.sessions.insert(seid, Box::new(s));
            self.changed(seid);
            out.sessions += 1;
        }
        // Nothing restored needs saving again.
        if let Some(d) = &mut self.changes.dirty {
            d.clear();
        }
        Ok(out)
    }

    /// Deletes the fast-path entries no session owns (left by a daemon
    /// that crashed between a map write and saving the session, or by
    /// sessions not persisted); returns how many (uplink, downlink).
    pub fn remove_orphans(&mut self) -> Result<(usize, usize), String> {
        let mut plan = Plan::new();
        let mut n = (0, 0);
        for teid in self.dp.uplink_keys().map_err(|e| e.to_string())? {
            if !self.owners.teid.contains_key(&teid) {
                plan.push(Write::DelUplink { teid, prev: None });
                n.0 += 1;
            }
        }
        for ue in self.dp.downlink_keys().map_err(|e| e.to_string())? {
            if !self.owners.ue.contains_key(&ue) {
                plan.push(Write::DelDownlink { ue, prev: None });
                n.1 += 1;
            }
        }
        plan.apply(&mut self.dp).map_err(|e| e.to_string())?;
        Ok(n)
    }
}
