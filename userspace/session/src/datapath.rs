//! The datapath: where sessions become map entries.
//!
//! [`Datapath`] is the one seam between the session core and the kernel.
//! The daemon's `upfd::bpf::BpfDatapath` is the real one (the only code in
//! userspace that knows map names or writes `unsafe`);
//! [`fake::FakeDatapath`] keeps the same entries in memory for tests of
//! everything above it.

pub mod fake;

use std::net::Ipv4Addr;

use upf_abi::{DownlinkEntry, Meter, RuleSet, SessionCounters, UplinkEntry};

/// A failure to write or read the datapath's tables.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The table is at its configured size (hash maps), or the index is
    /// past it (arrays: rule sets and counter slots).
    #[error("map {map} is full ({capacity} entries)")]
    Full {
        /// Map name.
        map: &'static str,
        /// Its max_entries.
        capacity: u32,
    },
    /// A map operation failed for another reason.
    #[error("map {map}: {op} failed: {source}")]
    Map {
        /// Map name.
        map: &'static str,
        /// What was attempted.
        op: &'static str,
        /// The underlying error (the BPF library's).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The BPF object could not be loaded (verifier, map creation, ...).
    #[error("loading the XDP program failed: {0}")]
    Load(String),
    /// A configured interface does not exist.
    #[error("interface {name}: {reason}")]
    Interface {
        /// Interface name.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Attaching to an interface failed.
    #[error("attaching XDP to {iface} in {mode} mode failed: {reason}")]
    Attach {
        /// Interface name.
        iface: String,
        /// native or generic.
        mode: &'static str,
        /// The kernel's reason.
        reason: String,
    },
}

/// What the datapath's tables hold at most (their sizes, fixed at load).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Entries of `UPLINK` and of `DOWNLINK` (each) (`gateway.max_sessions`).
    pub sessions: u32,
    /// Counter slots in `SESSION_COUNTERS` (`gateway.max_pdrs`).
    pub counter_slots: u32,
    /// Rule sets in `RULES` (`gateway.max_rule_sets`).
    pub rule_sets: u32,
    /// Rate meters in `METERS` (`qos.max_meters`).
    pub meters: u32,
}

/// How a rate meter limits (the configuration words of `upf_abi::Meter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeterConfig {
    /// Bit/s; 0: no limit (the meter only counts).
    pub rate_bps: u64,
    /// Burst tolerance in ns (how far ahead of now the meter may be charged).
    pub tau_ns: u64,
    /// 0: the chain ends here; otherwise the next meter's index + 1.
    pub parent: u32,
}

/// What the session core needs from the datapath: the writes a
/// [`crate::plan::Plan`] is made of, and the reads of counters and meters.
///
/// A session occupies one `UPLINK` entry per local TEID and one `DOWNLINK`
/// entry per UE address; each entry has a default action (its catch-all PDR)
/// and optionally names a rule set (`rules` = index + 1) holding its PDRs
/// with SDF filters, best precedence first. Actions count into counter slots.
pub trait Datapath {
    /// Inserts or replaces the uplink entry for local TEID `teid` (host order).
    fn put_uplink(&mut self, teid: u32, v: &UplinkEntry) -> Result<(), DatapathError>;
    /// Removes the uplink entry for `teid` (absent is not an error).
    fn del_uplink(&mut self, teid: u32) -> Result<(), DatapathError>;
    /// Inserts or replaces the downlink entry for `ue`.
    fn put_downlink(&mut self, ue: Ipv4Addr, v: &DownlinkEntry) -> Result<(), DatapathError>;
    /// Removes the downlink entry for `ue` (absent is not an error).
    fn del_downlink(&mut self, ue: Ipv4Addr) -> Result<(), DatapathError>;
    /// The local TEIDs (host order) the uplink table holds: after a restart
    /// that re-adopted the pinned maps, entries no session owns are removed.
    fn uplink_keys(&self) -> Result<Vec<u32>, DatapathError>;
    /// The UE addresses the downlink table holds.
    fn downlink_keys(&self) -> Result<Vec<Ipv4Addr>, DatapathError>;
    /// Writes rule set `index` (0-based, < capacity().rule_sets).
    fn put_rules(&mut self, index: u32, v: &RuleSet) -> Result<(), DatapathError>;
    /// Zeroes a counter slot on every CPU.
    fn reset_counters(&mut self, slot: u32) -> Result<(), DatapathError>;
    /// Sums a counter slot over every CPU.
    fn counters(&self, slot: u32) -> Result<SessionCounters, DatapathError>;
    /// Sums slots `0..out.len()` over every CPU into `out` (the meter reads
    /// every slot once a second). The default reads slot by slot; the BPF
    /// datapath reads the map in a few batch syscalls.
    fn counters_all(&self, out: &mut [SessionCounters]) -> Result<(), DatapathError> {
        for (slot, c) in out.iter_mut().enumerate() {
            *c = self.counters(slot as u32)?;
        }
        Ok(())
    }
    /// Counter slots that may have counted traffic since the last call (a superset is allowed).
    /// `None`: this datapath cannot tell, so every slot in use must be treated as touched.
    fn take_touched(&mut self) -> Result<Option<Vec<u32>>, DatapathError> {
        Ok(None)
    }
    /// Configures meter `index` (< capacity().meters) in place: its state
    /// (the theoretical arrival time) and counters are kept, so a rate change
    /// applies to the next packet without a burst.
    fn set_meter(&mut self, index: u32, cfg: &MeterConfig) -> Result<(), DatapathError>;
    /// Zeroes meter `index`, state and counters (before it is first referenced).
    fn reset_meter(&mut self, index: u32) -> Result<(), DatapathError>;
    /// Reads meter `index`: configuration, state and counters.
    fn meter(&self, index: u32) -> Result<Meter, DatapathError>;
    /// The tables' sizes.
    fn capacity(&self) -> Capacity;
    /// The fast path's global, drop and per-port counters.
    fn fastpath_stats(&self) -> Result<FastpathStats, DatapathError>;
}

/// The fast path's own counters, summed over CPUs, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FastpathStats {
    /// Every `upf_abi::Counter`, by its name.
    pub counters: Vec<(String, u64)>,
    /// Every `upf_abi::DropReason`, by its name.
    pub drops: Vec<(String, u64)>,
    /// Per port: name, roles and counters.
    pub ports: Vec<PortStats>,
    /// Per CPU (index = CPU number): where the fast path ran.
    #[serde(default)]
    pub per_cpu: Vec<CpuStats>,
}

/// One CPU's share of the fast path's work (`upf_abi::Counter`s, unsummed).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuStats {
    /// CPU number.
    pub cpu: u32,
    /// Frames the fast path processed on this CPU (steered ones on their target).
    pub rx_frames: u64,
    /// Uplink G-PDUs forwarded on this CPU.
    pub uplink_forwarded: u64,
    /// Downlink packets forwarded on this CPU.
    pub downlink_forwarded: u64,
    /// Uplink G-PDUs this CPU received and redirected to their TEID's CPU.
    pub steered_to_cpu: u64,
}

/// One port's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortStats {
    /// Interface name.
    pub name: String,
    /// "n3", "n6" or "n3+n6".
    pub roles: String,
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames redirected to another port.
    pub redirected: u64,
    /// Frames sent back out of the same port.
    pub tx: u64,
    /// Frames handed to the kernel.
    pub passed: u64,
    /// Frames dropped.
    pub dropped: u64,
}

impl FastpathStats {
    /// A counter's value by name (0 when absent).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
    /// A drop reason's count by name (0 when absent).
    pub fn drop_count(&self, name: &str) -> u64 {
        self.drops
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// "n3", "n6" or "n3+n6" for role bits.
pub fn roles_name(roles: u8) -> &'static str {
    match (roles & upf_abi::ROLE_N3 != 0, roles & upf_abi::ROLE_N6 != 0) {
        (true, true) => "n3+n6",
        (true, false) => "n3",
        (false, true) => "n6",
        (false, false) => "none",
    }
}
