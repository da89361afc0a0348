//! What [`Sessions::poll_usage`](super::Sessions::poll_usage) evaluates,
//! found without visiting every session.
//!
//! - **Time** (TIMTH, TIMQU, PERIO): every URR with a time trigger has one
//!   pending deadline, [`Urr::next_time_due`], in a min-heap of (NTP
//!   second, SEID, URR ID). A poll pops what is due. An entry is not
//!   removed when its URR changes. Instead the new deadline is pushed, and
//!   an entry popped whose deadline is no longer the URR's current one is
//!   stale and skipped. Identical entries pop one after the other, so the
//!   second is skipped too. When stale entries outnumber live ones the
//!   heap is rebuilt from the live ones.
//! - **Volume** (VOLTH, VOLQU): these fire only when the URR's usage moved
//!   or the URR changed. A session's volume triggers are evaluated when the
//!   datapath says one of its counter slots was touched (the slot -> session
//!   index kept as PDRs take and free slots), when a request changed it
//!   (`pending`), or at every poll when the datapath cannot tell touched
//!   slots (`volume`: every session with a volume trigger, the full scan).
//!
//! Every change of a session's URRs goes through [`UsageWatch::rewatch`]:
//! establishment, modification, deletion, a poll's reports, the plan
//! meter's reports, restore.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::Session;
use crate::rules::Urr;

/// One URR's deadline: (NTP second, our SEID, URR ID).
pub(crate) type Timer = (u32, u64, u32);

/// Why a session's URRs are evaluated at a poll. `Volume` sorts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Why {
    /// Its volume triggers: a slot was touched, a request changed it, or
    /// the datapath cannot tell.
    Volume,
    /// This URR's deadline came.
    Timer(u32),
}

/// Stale heap entries tolerated before a rebuild is considered (a rebuild
/// also needs them to be at least half the heap).
pub(crate) const COMPACT_ABOVE: usize = 1024;

/// What the last [`Sessions::poll_usage`](super::Sessions::poll_usage) did:
/// cheap counts for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsagePoll {
    /// Deadlines that were due (live timers popped).
    pub timers_due: usize,
    /// Counter slots the datapath reported touched; `None`: it could not
    /// tell, so every session with a volume trigger was evaluated.
    pub touched_slots: Option<usize>,
    /// Sessions evaluated.
    pub sessions: usize,
    /// URRs evaluated (their counters read and triggers checked).
    pub urrs: usize,
}

/// The time and volume bookkeeping behind the poll.
#[derive(Default)]
pub(crate) struct UsageWatch {
    /// Deadlines, earliest first (lazily invalidated: see the module).
    pub(crate) timers: BinaryHeap<Reverse<Timer>>,
    /// Entries of `timers` known to be stale (an estimate: drives rebuilds).
    pub(crate) stale: usize,
    /// Sessions with a URR with a volume trigger.
    pub(crate) volume: BTreeSet<u64>,
    /// Sessions whose volume triggers the next poll evaluates whatever the
    /// counters say (a request changed them, or a report was held back).
    pub(crate) pending: BTreeSet<u64>,
    /// Counter slot -> the SEID holding it (0: free; no session has SEID 0).
    slots: Vec<u64>,
    /// The last poll's counts.
    pub(crate) last: UsagePoll,
}

fn deadline(s: Option<&Session>, urr: u32) -> Option<u32> {
    s?.rules.urrs.get(&urr)?.next_time_due()
}

impl UsageWatch {
    /// After session `old` became `new` (`None`: it did not exist before,
    /// or is gone now): a timer for each URR whose deadline changed, and
    /// the session filed under the volume triggers or not. `consumed`: the
    /// URRs whose timer this poll popped (no longer in the heap).
    pub(crate) fn rewatch(
        &mut self,
        old: Option<&Session>,
        new: Option<&Session>,
        consumed: impl Fn(u32) -> bool,
    ) {
        if let Some(o) = old {
            for u in o.rules.urrs.values().filter(|u| !consumed(u.id)) {
                if u.next_time_due()
                    .is_some_and(|d| deadline(new, u.id) != Some(d))
                {
                    self.stale += 1;
                }
            }
        }
        if let Some(n) = new {
            for u in n.rules.urrs.values() {
                let Some(d) = u.next_time_due() else {
                    continue;
                };
                let before = match consumed(u.id) {
                    true => None,
                    false => deadline(old, u.id),
                };
                if before != Some(d) {
                    self.timers.push(Reverse((d, n.up_seid, u.id)));
                }
            }
        }
        let Some(seid) = new.or(old).map(|s| s.up_seid) else {
            return;
        };
        let volume =
            |s: Option<&Session>| s.is_some_and(|s| s.rules.urrs.values().any(Urr::volume_watched));
        // The set changes only when the session's triggers do (a B-tree
        // insert per evaluated session would be most of an idle poll).
        match (volume(old), volume(new)) {
            (false, true) => {
                self.volume.insert(seid);
            }
            (true, false) => {
                self.volume.remove(&seid);
                self.pending.remove(&seid);
            }
            _ => {}
        }
    }

    /// After a poll evaluated session `s` and nothing fired: the timers it
    /// popped (`consumed`) are armed again at the URRs' deadlines.
    pub(crate) fn rearm(&mut self, s: &Session, consumed: impl Fn(u32) -> bool) {
        for u in s.rules.urrs.values().filter(|u| consumed(u.id)) {
            if let Some(d) = u.next_time_due() {
                self.timers.push(Reverse((d, s.up_seid, u.id)));
            }
        }
    }

    /// The next poll evaluates the session's volume triggers (if it has any).
    pub(crate) fn evaluate_volume(&mut self, seid: u64) {
        if self.volume.contains(&seid) {
            self.pending.insert(seid);
        }
    }

    /// Counter slot `slot` now counts for session `seid`.
    pub(crate) fn hold_slot(&mut self, slot: u32, seid: u64) {
        let i = slot as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, 0);
        }
        self.slots[i] = seid;
    }

    /// Session `seid` gave counter slot `slot` back.
    pub(crate) fn free_slot(&mut self, slot: u32, seid: u64) {
        if let Some(o) = self.slots.get_mut(slot as usize).filter(|o| **o == seid) {
            *o = 0;
        }
    }

    /// The session holding counter slot `slot`.
    pub(crate) fn slot_owner(&self, slot: u32) -> Option<u64> {
        self.slots.get(slot as usize).copied().filter(|s| *s != 0)
    }
}

#[cfg(test)]
mod tests;
