//! What the session core decides and the datapath carries out: a [`Plan`]
//! of writes, in the order they must happen, each with what undoes it.
//!
//! The core never writes a map itself. For every request it decides the
//! whole plan first (resources taken, entries compiled, conflicts
//! checked), then has it applied to the datapath ([`Plan::apply`]), which
//! writes everything or, at the first failure, undoes the ones already
//! made in reverse and reports which write failed and why. A full map is
//! [`crate::datapath::DatapathError::Full`], which the core answers with
//! PFCP's "No resources available"; nothing is applied after a request is
//! accepted.
//!
//! The order a plan keeps, so that the fast path never sees half a rule:
//! counter slots and meters a new rule will point at are zeroed and
//! configured first, a new rule set is written before the entry that names
//! it, entries are replaced in place (one atomic map update each), entries
//! the session no longer has are deleted last, and meters the session keeps
//! get their new rate after the entries.

use std::net::Ipv4Addr;

use upf_abi::{DownlinkEntry, RuleSet, UplinkEntry};

use crate::datapath::{Datapath, DatapathError, MeterConfig};

/// One write, with the value it replaces where undoing it needs one.
// PutRules is large on purpose: see its doc.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Zero a counter slot a new PDR will count into (a fresh slot: no undo).
    ResetCounters(u32),
    /// Zero a meter a new rule will point at (a fresh meter: no undo).
    ResetMeter(u32),
    /// Configure a meter; `prev` is its configuration before (`None`: a
    /// fresh meter nothing references yet, no undo).
    SetMeter {
        /// Meter index.
        index: u32,
        /// The new configuration.
        config: MeterConfig,
        /// The configuration the undo restores.
        prev: Option<MeterConfig>,
    },
    /// Write a fresh rule set (nothing references it yet: no undo). Held
    /// inline: the session manager reuses its plan's buffer from request to
    /// request, so the 420 bytes cost a copy, not an allocation.
    PutRules(u32, RuleSet),
    /// Insert or replace an uplink entry.
    PutUplink {
        /// Local TEID (host order).
        teid: u32,
        /// The new entry.
        entry: UplinkEntry,
        /// The entry it replaces (`None`: the undo deletes).
        prev: Option<UplinkEntry>,
    },
    /// Insert or replace a downlink entry.
    PutDownlink {
        /// UE address.
        ue: Ipv4Addr,
        /// The new entry.
        entry: DownlinkEntry,
        /// The entry it replaces (`None`: the undo deletes).
        prev: Option<DownlinkEntry>,
    },
    /// Delete an uplink entry (`prev`: what the undo puts back; `None`
    /// for an entry no session owns, which nothing restores).
    DelUplink {
        /// Local TEID (host order).
        teid: u32,
        /// The entry deleted.
        prev: Option<UplinkEntry>,
    },
    /// Delete a downlink entry (`prev` as for [`Write::DelUplink`]).
    DelDownlink {
        /// UE address.
        ue: Ipv4Addr,
        /// The entry deleted.
        prev: Option<DownlinkEntry>,
    },
}

impl Write {
    /// Carries the write out.
    fn apply<D: Datapath + ?Sized>(&self, dp: &mut D) -> Result<(), DatapathError> {
        match self {
            Write::ResetCounters(slot) => dp.reset_counters(*slot),
            Write::ResetMeter(i) => dp.reset_meter(*i),
            Write::SetMeter { index, config, .. } => dp.set_meter(*index, config),
            Write::PutRules(i, rs) => dp.put_rules(*i, rs),
            Write::PutUplink { teid, entry, .. } => dp.put_uplink(*teid, entry),
            Write::PutDownlink { ue, entry, .. } => dp.put_downlink(*ue, entry),
            Write::DelUplink { teid, .. } => dp.del_uplink(*teid),
            Write::DelDownlink { ue, .. } => dp.del_downlink(*ue),
        }
    }

    /// Undoes the write, once it was carried out. Restoring an entry that
    /// existed cannot hit a full map (its key is still allocated), and a
    /// fresh slot, meter or rule set needs nothing: the core returns it to
    /// its pool.
    fn undo<D: Datapath + ?Sized>(&self, dp: &mut D) -> Result<(), DatapathError> {
        match self {
            Write::ResetCounters(_) | Write::ResetMeter(_) | Write::PutRules(..) => Ok(()),
            Write::SetMeter { index, prev, .. } => match prev {
                Some(p) => dp.set_meter(*index, p),
                None => Ok(()),
            },
            Write::PutUplink { teid, prev, .. } => match prev {
                Some(p) => dp.put_uplink(*teid, p),
                None => dp.del_uplink(*teid),
            },
            Write::PutDownlink { ue, prev, .. } => match prev {
                Some(p) => dp.put_downlink(*ue, p),
                None => dp.del_downlink(*ue),
            },
            Write::DelUplink { teid, prev } => match prev {
                Some(p) => dp.put_uplink(*teid, p),
                None => Ok(()),
            },
            Write::DelDownlink { ue, prev } => match prev {
                Some(p) => dp.put_downlink(*ue, p),
                None => Ok(()),
            },
        }
    }
}

/// The writes of one request (or one QoS change), in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    writes: Vec<Write>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Appends a write.
    pub fn push(&mut self, w: Write) {
        self.writes.push(w);
    }

    /// Empties the plan, keeping its buffer for the next one.
    pub fn clear(&mut self) {
        self.writes.clear();
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A plan the datapath did not apply: which write failed and why. Every
/// write before it was undone (`undo_failures` counts undos that failed
/// themselves, which only a broken datapath can cause).
#[derive(Debug, thiserror::Error)]
#[error("write {index} of {len} failed: {error}")]
pub struct ApplyError {
    /// The failed write's position in the plan.
    pub index: usize,
    /// The plan's length.
    pub len: usize,
    /// Why it failed.
    #[source]
    pub error: DatapathError,
    /// Undos that failed (logged by the caller).
    pub undo_failures: usize,
}

impl Plan {
    /// Applies the plan to `dp` write by write; at the first failure undoes
    /// what was written, in reverse, and says which write failed.
    pub fn apply<D: Datapath + ?Sized>(&self, dp: &mut D) -> Result<(), ApplyError> {
        for (i, w) in self.writes.iter().enumerate() {
            if let Err(error) = w.apply(dp) {
                let undo_failures = self.writes[..i]
                    .iter()
                    .rev()
                    .filter(|w| w.undo(dp).is_err())
                    .count();
                return Err(ApplyError {
                    index: i,
                    len: self.len(),
                    error,
                    undo_failures,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::fake::FakeDatapath;
    use upf_abi::PdrAction;

    fn ul(meter: u32) -> UplinkEntry {
        UplinkEntry {
            ue_ipv4_be: 0,
            rules: 0,
            default: PdrAction {
                meter,
                ..PdrAction::default()
            },
        }
    }

    #[test]
    fn a_failed_write_undoes_every_write_before_it_in_reverse() {
        let mut dp = FakeDatapath::new(8);
        dp.put_uplink(1, &ul(1)).unwrap();
        dp.set_meter(
            0,
            &MeterConfig {
                rate_bps: 1_000,
                ..MeterConfig::default()
            },
        )
        .unwrap();
        let before = (dp.uplink.clone(), dp.meter(0).unwrap());
        let mut plan = Plan::new();
        plan.push(Write::PutUplink {
            teid: 1,
            entry: ul(7),
            prev: Some(ul(1)),
        });
        plan.push(Write::PutUplink {
            teid: 2,
            entry: ul(7),
            prev: None,
        });
        plan.push(Write::SetMeter {
            index: 0,
            config: MeterConfig {
                rate_bps: 5_000,
                ..MeterConfig::default()
            },
            prev: Some(MeterConfig {
                rate_bps: 1_000,
                ..MeterConfig::default()
            }),
        });
        plan.push(Write::DelUplink {
            teid: 1,
            prev: Some(ul(7)),
        });
        plan.push(Write::PutUplink {
            teid: 3,
            entry: ul(7),
            prev: None,
        });
        // The fifth write fails: the four before it are undone.
        dp.fail_after = Some(2);
        let e = plan.apply(&mut dp).unwrap_err();
        assert_eq!((e.index, e.len, e.undo_failures), (4, 5, 0));
        assert_eq!((dp.uplink.clone(), dp.meter(0).unwrap()), before);
        // The same plan applies whole once the map takes it.
        plan.apply(&mut dp).unwrap();
        assert_eq!(dp.uplink.keys().copied().collect::<Vec<_>>().len(), 2);
        assert!(!dp.uplink.contains_key(&1));
    }

    #[test]
    fn a_full_map_is_reported_as_full() {
        let mut dp = FakeDatapath::new(1);
        let mut plan = Plan::new();
        for teid in 1..=2 {
            plan.push(Write::PutUplink {
                teid,
                entry: ul(0),
                prev: None,
            });
        }
        let e = plan.apply(&mut dp).unwrap_err();
        assert!(matches!(e.error, DatapathError::Full { .. }), "{e}");
        assert!(dp.uplink.is_empty(), "the first write was undone");
    }
}
