//! An in-memory datapath with the same contract as the BPF one, for tests.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use upf_abi::{DownlinkSession, SessionCounters, UplinkSession};

use super::{Datapath, DatapathError, FastpathStats};

/// Tables in memory; counters can be set by the test.
#[derive(Debug, Default)]
pub struct FakeDatapath {
    /// Uplink entries by local TEID.
    pub uplink: HashMap<u32, UplinkSession>,
    /// Downlink entries by UE address.
    pub downlink: HashMap<Ipv4Addr, DownlinkSession>,
    /// Counters by slot.
    pub counters: HashMap<u32, SessionCounters>,
    /// Table size; inserts past it fail with `Full`, like the kernel's E2BIG.
    pub capacity: u32,
    /// When set, the next put of this kind fails (to test rollback).
    pub fail_next_downlink: bool,
}

impl FakeDatapath {
    /// An empty datapath for `capacity` sessions.
    pub fn new(capacity: u32) -> Self {
        FakeDatapath {
            capacity,
            ..Default::default()
        }
    }
}

impl Datapath for FakeDatapath {
    fn put_uplink(&mut self, teid: u32, v: &UplinkSession) -> Result<(), DatapathError> {
        if !self.uplink.contains_key(&teid) && self.uplink.len() as u32 >= self.capacity {
            return Err(DatapathError::Full {
                map: "UPLINK",
                capacity: self.capacity,
            });
        }
        self.uplink.insert(teid, *v);
        Ok(())
    }
    fn del_uplink(&mut self, teid: u32) -> Result<(), DatapathError> {
        self.uplink.remove(&teid);
        Ok(())
    }
    fn put_downlink(&mut self, ue: Ipv4Addr, v: &DownlinkSession) -> Result<(), DatapathError> {
        if std::mem::take(&mut self.fail_next_downlink)
            || (!self.downlink.contains_key(&ue) && self.downlink.len() as u32 >= self.capacity)
        {
            return Err(DatapathError::Full {
                map: "DOWNLINK",
                capacity: self.capacity,
            });
        }
        self.downlink.insert(ue, *v);
        Ok(())
    }
    fn del_downlink(&mut self, ue: Ipv4Addr) -> Result<(), DatapathError> {
        self.downlink.remove(&ue);
        Ok(())
    }
    fn reset_counters(&mut self, slot: u32) -> Result<(), DatapathError> {
        self.counters.insert(slot, SessionCounters::default());
        Ok(())
    }
    fn counters(&self, slot: u32) -> Result<SessionCounters, DatapathError> {
        Ok(self.counters.get(&slot).copied().unwrap_or_default())
    }
    fn capacity(&self) -> u32 {
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
        })
    }
}
