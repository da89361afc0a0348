//! An in-memory datapath with the same contract as the BPF one, for tests.
//!
//! Failure injection, for rollback tests: `fail_next_downlink`,
//! `fail_next_rules` and `fail_next_meter` fail the next write of that
//! kind; `fail_after = Some(n)` lets `n` more writes succeed and fails the one after (then clears itself).
//! A "write" is any `put_*` or `reset_counters` call; deletes never fail, so
//! an undo always succeeds. `writes` counts the writes that succeeded, so a
//! test can learn how many writes an operation makes and fail each in turn.
//!
//! Tests set counters by writing `counters` directly; `take_touched` finds
//! what moved by comparing every slot with what it saw at its previous
//! call (plus the slots reset since), so it costs a pass over `counters`,
//! where the BPF datapath reads a bitmap the fast path marks.
//! `tells_touched = false` makes it a datapath that cannot tell (`None`).
//! `counter_reads` counts slot reads, so a test can see what a poll read.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use upf_abi::{DownlinkEntry, Meter, RuleSet, SessionCounters, UplinkEntry};

use super::{Capacity, Datapath, DatapathError, FastpathStats, MeterConfig};

/// Tables in memory; counters can be set by the test.
#[derive(Debug)]
pub struct FakeDatapath {
    /// Uplink entries by local TEID.
    pub uplink: HashMap<u32, UplinkEntry>,
    /// Downlink entries by UE address.
    pub downlink: HashMap<Ipv4Addr, DownlinkEntry>,
    /// Rule sets by index (an index never written reads as empty in the kernel).
    pub rules: HashMap<u32, RuleSet>,
    /// Counters by slot.
    pub counters: HashMap<u32, SessionCounters>,
    /// Rate meters by index (counters can be set by the test).
    pub meters: HashMap<u32, Meter>,
    /// Per-POI traffic as the fast path would count it (set by the test).
    pub pois: [SessionCounters; upf_abi::MAX_POIS + 1],
    /// Table sizes; inserts past them fail with `Full`, like the kernel's E2BIG.
    pub capacity: Capacity,
    /// When set, the next put_downlink fails with `Full` (to test rollback).
    pub fail_next_downlink: bool,
    /// When set, the next put_rules fails (to test rollback).
    pub fail_next_rules: bool,
    /// When set, the next set_meter fails (a meter rewrite after the
    /// entries, or a QoS cap).
    pub fail_next_meter: bool,
    /// When `Some(n)`: `n` more writes succeed, the next one fails, and this clears.
    pub fail_after: Option<usize>,
    /// Writes that succeeded so far.
    pub writes: usize,
    /// When false, `take_touched` answers `None` (a datapath that cannot tell).
    pub tells_touched: bool,
    /// Counter slot reads (`counters`, and each slot of `counters_all`).
    pub counter_reads: AtomicUsize,
    /// Counters as `take_touched` last saw them, by slot (past the end: zero).
    seen: Vec<SessionCounters>,
    /// Slots reset since the last `take_touched`.
    reset_since: Vec<u32>,
}

impl FakeDatapath {
    /// An empty datapath for `sessions` sessions, with twice as many counter
    /// slots (the daemon's default) and as many rule sets as sessions.
    pub fn new(sessions: u32) -> Self {
        Self::with_capacity(Capacity {
            sessions,
            counter_slots: sessions.saturating_mul(2),
            rule_sets: sessions,
            meters: sessions.saturating_mul(2),
        })
    }

    /// An empty datapath with the given table sizes.
    pub fn with_capacity(capacity: Capacity) -> Self {
        FakeDatapath {
            uplink: HashMap::new(),
            downlink: HashMap::new(),
            rules: HashMap::new(),
            counters: HashMap::new(),
            meters: HashMap::new(),
            pois: [SessionCounters::default(); upf_abi::MAX_POIS + 1],
            capacity,
            fail_next_downlink: false,
            fail_next_rules: false,
            fail_next_meter: false,
            fail_after: None,
            writes: 0,
            tells_touched: true,
            counter_reads: AtomicUsize::new(0),
            seen: Vec::new(),
            reset_since: Vec::new(),
        }
    }

    /// Counts a write about to happen; `Err` when injection says it fails.
    fn write(&mut self, map: &'static str) -> Result<(), DatapathError> {
        match self.fail_after {
            Some(0) => {
                self.fail_after = None;
                Err(DatapathError::Map {
                    map,
                    op: "write",
                    source: std::io::Error::other("injected failure").into(),
                })
            }
            Some(n) => {
                self.fail_after = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn full(map: &'static str, capacity: u32) -> DatapathError {
        DatapathError::Full { map, capacity }
    }
}

impl Datapath for FakeDatapath {
    fn uplink_keys(&self) -> Result<Vec<u32>, DatapathError> {
        Ok(self.uplink.keys().copied().collect())
    }

    fn downlink_keys(&self) -> Result<Vec<Ipv4Addr>, DatapathError> {
        Ok(self.downlink.keys().copied().collect())
    }

    fn put_uplink(&mut self, teid: u32, v: &UplinkEntry) -> Result<(), DatapathError> {
        self.write("UPLINK")?;
        if !self.uplink.contains_key(&teid) && self.uplink.len() as u32 >= self.capacity.sessions {
            return Err(Self::full("UPLINK", self.capacity.sessions));
        }
        self.uplink.insert(teid, *v);
        self.writes += 1;
        Ok(())
    }
    fn del_uplink(&mut self, teid: u32) -> Result<(), DatapathError> {
        self.uplink.remove(&teid);
        Ok(())
    }
    fn put_downlink(&mut self, ue: Ipv4Addr, v: &DownlinkEntry) -> Result<(), DatapathError> {
        self.write("DOWNLINK")?;
        if std::mem::take(&mut self.fail_next_downlink)
            || (!self.downlink.contains_key(&ue)
                && self.downlink.len() as u32 >= self.capacity.sessions)
        {
            return Err(Self::full("DOWNLINK", self.capacity.sessions));
        }
        self.downlink.insert(ue, *v);
        self.writes += 1;
        Ok(())
    }
    fn del_downlink(&mut self, ue: Ipv4Addr) -> Result<(), DatapathError> {
        self.downlink.remove(&ue);
        Ok(())
    }
    fn put_rules(&mut self, index: u32, v: &RuleSet) -> Result<(), DatapathError> {
        self.write("RULES")?;
        if std::mem::take(&mut self.fail_next_rules) {
            return Err(DatapathError::Map {
                map: "RULES",
                op: "write",
                source: std::io::Error::other("injected failure").into(),
            });
        }
        if index >= self.capacity.rule_sets {
            return Err(Self::full("RULES", self.capacity.rule_sets));
        }
        self.rules.insert(index, *v);
        self.writes += 1;
        Ok(())
    }
    fn reset_counters(&mut self, slot: u32) -> Result<(), DatapathError> {
        self.write("SESSION_COUNTERS")?;
        if slot >= self.capacity.counter_slots {
            return Err(Self::full("SESSION_COUNTERS", self.capacity.counter_slots));
        }
        self.counters.insert(slot, SessionCounters::default());
        self.reset_since.push(slot);
        self.writes += 1;
        Ok(())
    }
    fn counters(&self, slot: u32) -> Result<SessionCounters, DatapathError> {
        self.counter_reads.fetch_add(1, Ordering::Relaxed);
        if slot >= self.capacity.counter_slots {
            return Err(Self::full("SESSION_COUNTERS", self.capacity.counter_slots));
        }
        Ok(self.counters.get(&slot).copied().unwrap_or_default())
    }
    fn take_touched(&mut self) -> Result<Option<Vec<u32>>, DatapathError> {
        if !self.tells_touched {
            return Ok(None);
        }
        let seen = &self.seen;
        let saw = |slot: u32| seen.get(slot as usize).copied().unwrap_or_default();
        // (slot, its value now) of every slot that moved.
        let mut moved: Vec<(u32, SessionCounters)> = self
            .counters
            .iter()
            .filter(|(slot, c)| saw(**slot) != **c)
            .map(|(slot, c)| (*slot, *c))
            .collect();
        // Slots a test took out of `counters` read as zero again.
        let zero = SessionCounters::default();
        moved.extend(
            (0..seen.len() as u32)
                .filter(|slot| seen[*slot as usize] != zero && !self.counters.contains_key(slot))
                .map(|slot| (slot, zero)),
        );
        let mut out = std::mem::take(&mut self.reset_since);
        out.reserve(moved.len());
        for (slot, c) in moved {
            let i = slot as usize;
            if i >= self.seen.len() {
                self.seen.resize(i + 1, zero);
            }
            self.seen[i] = c;
            out.push(slot);
        }
        // A reset slot that did not move holds what was seen: `seen` is right.
        out.sort_unstable();
        out.dedup();
        Ok(Some(out))
    }
    fn set_meter(&mut self, index: u32, cfg: &MeterConfig) -> Result<(), DatapathError> {
        if std::mem::take(&mut self.fail_next_meter) {
            return Err(DatapathError::Map {
                map: "METERS",
                op: "update",
                source: std::io::Error::other("injected failure").into(),
            });
        }
        if index >= self.capacity.meters {
            return Err(Self::full("METERS", self.capacity.meters));
        }
        let m = self.meters.entry(index).or_default();
        m.cost_ns_q16 = Meter::cost_for_bps(cfg.rate_bps);
        m.tau_ns = cfg.tau_ns;
        m.parent = cfg.parent;
        Ok(())
    }
    fn reset_meter(&mut self, index: u32) -> Result<(), DatapathError> {
        self.write("METERS")?;
        if index >= self.capacity.meters {
            return Err(Self::full("METERS", self.capacity.meters));
        }
        self.meters.insert(index, Meter::default());
        self.writes += 1;
        Ok(())
    }
    fn meter(&self, index: u32) -> Result<Meter, DatapathError> {
        if index >= self.capacity.meters {
            return Err(Self::full("METERS", self.capacity.meters));
        }
        Ok(self.meters.get(&index).copied().unwrap_or_default())
    }
    fn poi_counters(&self) -> Result<[SessionCounters; upf_abi::MAX_POIS + 1], DatapathError> {
        Ok(self.pois)
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }
    fn fastpath_stats(&self) -> Result<FastpathStats, DatapathError> {
        Ok(FastpathStats {
            counters: upf_abi::Counter::ALL
                .iter()
                .map(|c| (c.name().to_string(), 0))
                .collect(),
            drops: upf_abi::DropReason::ALL
                .iter()
                .map(|d| (d.name().to_string(), 0))
                .collect(),
            ports: Vec::new(),
            per_cpu: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_after_fails_exactly_one_write_and_deletes_never_fail() {
        let mut dp = FakeDatapath::new(4);
        dp.fail_after = Some(2);
        dp.put_uplink(1, &UplinkEntry::default()).unwrap();
        dp.put_rules(0, &RuleSet::EMPTY).unwrap();
        dp.del_uplink(1).unwrap();
        assert!(dp.reset_counters(0).is_err(), "the third write fails");
        assert_eq!(dp.fail_after, None);
        dp.reset_counters(0).unwrap();
        assert_eq!(dp.writes, 3);
    }

    #[test]
    fn touched_slots_are_those_that_moved_or_were_reset_since_the_last_call() {
        let mut dp = FakeDatapath::new(8);
        let c = |b: u64| SessionCounters {
            ul_bytes: b,
            ul_packets: 1,
            ..SessionCounters::default()
        };
        assert_eq!(dp.take_touched().unwrap(), Some(vec![]));
        dp.reset_counters(3).unwrap();
        dp.reset_counters(5).unwrap();
        dp.counters.insert(5, c(100));
        dp.counters.insert(7, c(10));
        assert_eq!(dp.take_touched().unwrap(), Some(vec![3, 5, 7]));
        assert_eq!(dp.take_touched().unwrap(), Some(vec![]), "nothing moved");
        dp.counters.insert(7, c(20));
        dp.counters.insert(5, c(100));
        assert_eq!(
            dp.take_touched().unwrap(),
            Some(vec![7]),
            "5 wrote its own value"
        );
        // A slot reset to the zero it held is still reported (a new user).
        dp.reset_counters(3).unwrap();
        dp.counters.remove(&7);
        assert_eq!(dp.take_touched().unwrap(), Some(vec![3, 7]));
        assert_eq!(dp.take_touched().unwrap(), Some(vec![]));
        dp.tells_touched = false;
        dp.counters.insert(5, c(200));
        assert_eq!(dp.take_touched().unwrap(), None);
        let reads = dp.counter_reads.load(Ordering::Relaxed);
        dp.counters(5).unwrap();
        assert_eq!(dp.counter_reads.load(Ordering::Relaxed), reads + 1);
    }

    #[test]
    fn arrays_refuse_indexes_past_their_size() {
        let mut dp = FakeDatapath::with_capacity(Capacity {
            sessions: 1,
            counter_slots: 2,
            rule_sets: 1,
            meters: 1,
        });
        assert!(matches!(
            dp.put_rules(1, &RuleSet::EMPTY),
            Err(DatapathError::Full { capacity: 1, .. })
        ));
        assert!(matches!(
            dp.reset_counters(2),
            Err(DatapathError::Full { capacity: 2, .. })
        ));
        dp.fail_next_rules = true;
        assert!(dp.put_rules(0, &RuleSet::EMPTY).is_err());
        dp.put_rules(0, &RuleSet::EMPTY).unwrap();
    }
}
