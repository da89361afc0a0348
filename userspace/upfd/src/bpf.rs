//! The real datapath: loads the XDP object, sizes and fills its maps, attaches it.
//!
//! This is the only module in userspace that knows BPF map names (from
//! `upf_abi::names`) or holds aya map handles.

mod mapped;

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use aya::maps::lpm_trie::{Key as LpmKey, LpmTrie};
use aya::maps::{Array, CpuMap, DevMapHash, HashMap, IterableMap, MapData, MapError, PerCpuArray};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use upf_abi::{
    names, Counter, DownlinkEntry, DownlinkKey, DownlinkSlot, DropReason, Globals, GtpuPeers,
    Meter, NextHop, PoiPrefixes, PortCounters, RuleSet, SessionCounters, Spread, Stats, UePrefixes,
    UplinkEntry, UplinkKey, UplinkSlot, FLAG_FIB_ONLY, FLAG_NO_ANTI_SPOOFING, FLAG_PEER_FILTER,
    MAX_GTPU_PEERS, MAX_POIS, MAX_POI_PREFIXES, MAX_PORTS, MAX_SPREAD_CPUS, MAX_UE_PREFIXES,
};

use mapped::{CounterRows, Direct, Mapped, Place, TouchedRows};

use crate::nexthop::NexthopMaps;
pub use upf_config::AttachMode;
use upf_session::types::Ipv4Net;

use upf_session::datapath::{
    roles_name, Capacity, CpuStats, Datapath, DatapathError, FastpathStats, MeterConfig, PortStats,
};

/// Frames each spread CPU's cpumap queue holds (the kernel's xdp_redirect_cpu sample's default).
pub const CPUMAP_QUEUE: u32 = 2048;

/// The compiled XDP object (built by build.rs with aya-build).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/upf-xdp"));

/// An interface the fast path serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Interface name.
    pub name: String,
    /// Interface index (in the daemon's network namespace).
    pub ifindex: u32,
    /// `upf_abi::ROLE_N3` | `upf_abi::ROLE_N6`.
    pub roles: u8,
}

impl Port {
    /// Looks the interface up by name.
    pub fn resolve(name: &str, roles: u8) -> Result<Port, DatapathError> {
        Ok(Port {
            name: name.to_string(),
            ifindex: ifindex(name)?,
            roles,
        })
    }
}

/// The kernel's attach flags for a configured mode.
fn xdp_mode(mode: AttachMode) -> XdpMode {
    match mode {
        AttachMode::Native => XdpMode::Driver,
        AttachMode::Generic => XdpMode::Skb,
    }
}

/// What the program is loaded with.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Our GTP-U address on N3.
    pub n3_ipv4: Ipv4Addr,
    /// The ports, at most `MAX_PORTS`.
    pub ports: Vec<Port>,
    /// Size of the session tables (`UPLINK`, `DOWNLINK`).
    pub max_sessions: u32,
    /// Counter slots (`SESSION_COUNTERS`): one per PDR or per static session.
    pub counter_slots: u32,
    /// Rule sets (`RULES`).
    pub rule_sets: u32,
    /// Read the next-hop cache before `bpf_fib_lookup` (`gateway.nexthop_cache`);
    /// false sets `FLAG_FIB_ONLY`.
    pub nexthop_cache: bool,
    /// Rate meters (`METERS`: QER MBRs, session caps, POI capacities).
    pub meters: u32,
    /// GTP-U accepted only from these prefixes; others are dropped in XDP
    /// as `unknown_gtpu_peer`. `None`: from anyone.
    pub gtpu_peers: Option<Vec<Ipv4Net>>,
    /// Uplink anti-spoofing: an inner source other than the session's UE
    /// address is dropped as `spoofed_source` (`gateway.anti_spoofing`).
    pub anti_spoofing: bool,
    /// The gateway's TEID range (`pfcp.teid_first`, `pfcp.teid_last`): its
    /// TEIDs are indexed directly in `UL_TABLE` (sized for `max_sessions`
    /// of them, a power of two); others go to the `UPLINK` hash.
    pub teid_range: (u32, u32),
    /// The UE prefixes (`pfcp.ue_pools`, `gateway.ue_prefixes`) whose
    /// addresses are indexed directly in `DL_TABLE`, one slot per address;
    /// other addresses go to the `DOWNLINK` hash. At most
    /// [`MAX_UE_PREFIXES`], not overlapping, [`MAX_DIRECT_UES`] addresses in all.
    pub ue_prefixes: Vec<Ipv4Net>,
    /// Each POI's GTP-U peer prefixes (`[[poi]] peers`), in POI order: the
    /// fast path counts forwarded traffic per POI (`Stats::pois`; a peer in
    /// none is unassigned). At most [`MAX_POIS`] POIs and
    /// [`MAX_POI_PREFIXES`] prefixes.
    pub poi_peers: Vec<Vec<Ipv4Net>>,
}

/// The POI prefix table the fast path scans, longest prefix first.
pub fn poi_prefixes(pois: &[Vec<Ipv4Net>]) -> Result<PoiPrefixes, DatapathError> {
    if pois.len() > MAX_POIS {
        return Err(DatapathError::Load(format!(
            "{} POIs; the fast path counts at most {MAX_POIS} apart",
            pois.len()
        )));
    }
    let mut all: Vec<(Ipv4Net, u8)> = pois
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.iter().map(move |n| (*n, i as u8)))
        .collect();
    if all.len() > MAX_POI_PREFIXES {
        return Err(DatapathError::Load(format!(
            "{} POI peer prefixes; at most {MAX_POI_PREFIXES}",
            all.len()
        )));
    }
    // Stable: among equal lengths the first POI listed wins, as in the meter's table.
    all.sort_by_key(|(n, _)| std::cmp::Reverse(n.len));
    let mut t = PoiPrefixes::NONE;
    for (i, (n, poi)) in all.iter().enumerate() {
        t.net_be[i] = (u32::from(n.addr) & n.mask()).to_be();
        t.mask_be[i] = n.mask().to_be();
        t.poi[i] = *poi;
    }
    t.num = all.len() as u32;
    Ok(t)
}

pub use upf_abi::MAX_DIRECT_UES;

/// The sizes of the direct tables and per-CPU rows, from the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// `UL_TABLE` slots (a power of two).
    pub ul_slots: u32,
    /// `DL_TABLE` slots (at least 1).
    pub dl_slots: u32,
    /// The UE prefixes as the fast path reads them.
    pub prefixes: UePrefixes,
    /// CPUs with a row (possible CPUs).
    pub ncpus: u32,
    /// u64 words per `TOUCHED` row.
    pub touched_words: u32,
}

impl Geometry {
    /// Checks the options and lays the tables out for `ncpus` CPUs.
    pub fn of(opts: &LoadOptions, ncpus: usize) -> Result<Geometry, DatapathError> {
        let (first, last) = opts.teid_range;
        if first == 0 || first > last {
            return Err(DatapathError::Load(format!(
                "TEID range {first:#x}..={last:#x}: the first must be non-zero and not above the last"
            )));
        }
        let range = u64::from(last - first) + 1;
        let ul_slots = u64::from(opts.max_sessions.max(1))
            .next_power_of_two()
            .min(range.next_power_of_two())
            .min(1 << 31) as u32;
        if opts.ue_prefixes.len() > MAX_UE_PREFIXES {
            return Err(DatapathError::Load(format!(
                "{} UE prefixes; at most {MAX_UE_PREFIXES}",
                opts.ue_prefixes.len()
            )));
        }
        let mut prefixes = UePrefixes::NONE;
        let mut total = 0u64;
        for (i, n) in opts.ue_prefixes.iter().enumerate() {
            let net = u32::from(n.addr) & n.mask();
            if let Some(o) = opts.ue_prefixes[..i]
                .iter()
                .find(|o| o.contains(Ipv4Addr::from(net)) || n.contains(o.addr))
            {
                return Err(DatapathError::Load(format!(
                    "UE prefixes {o} and {n} overlap: list each address once"
                )));
            }
            prefixes.net[i] = net;
            prefixes.mask[i] = n.mask();
            prefixes.base[i] = total as u32;
            total += u64::from(!n.mask()) + 1;
        }
        prefixes.num = opts.ue_prefixes.len() as u32;
        if total > MAX_DIRECT_UES {
            return Err(DatapathError::Load(format!(
                "the UE prefixes hold {total} addresses; the direct downlink table takes at most \
                 {MAX_DIRECT_UES} (list only the prefixes this gateway serves)"
            )));
        }
        Ok(Geometry {
            ul_slots,
            dl_slots: total.max(1) as u32,
            prefixes,
            ncpus: ncpus as u32,
            touched_words: opts.counter_slots.div_ceil(64),
        })
    }

    /// `SESSION_COUNTERS` entries: a row of `counter_slots` per CPU.
    pub fn counter_entries(&self, opts: &LoadOptions) -> u32 {
        self.ncpus * opts.counter_slots
    }

    /// `TOUCHED` entries.
    pub fn touched_entries(&self) -> u32 {
        self.ncpus * self.touched_words
    }
}

/// Resolves an interface name to its index in the current network namespace.
pub fn ifindex(name: &str) -> Result<u32, DatapathError> {
    let bad = |reason: &str| DatapathError::Interface {
        name: name.into(),
        reason: reason.into(),
    };
    let c = CString::new(name).map_err(|_| bad("name contains a NUL byte"))?;
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(bad("no such interface in this network namespace"));
    }
    Ok(idx)
}

/// The loaded program and its maps.
pub struct BpfDatapath {
    ebpf: Ebpf,
    uplink: HashMap<MapData, UplinkKey, UplinkEntry>,
    downlink: HashMap<MapData, DownlinkKey, DownlinkEntry>,
    direct: Direct,
    rules: Array<MapData, RuleSet>,
    session_counters: CounterRows,
    touched: TouchedRows,
    stats: PerCpuArray<MapData, Stats>,
    nh_routes: LpmTrie<MapData, u32, u32>,
    nexthops: Array<MapData, NextHop>,
    nh_neigh: HashMap<MapData, u32, NextHop>,
    meters: MeterTable,
    ports: Vec<Port>,
    links: Vec<(String, aya::programs::xdp::XdpLinkId)>,
    /// With pinning: the bpffs directory, and each port's link (pinned
    /// there, so it outlives the process).
    pin_dir: Option<PathBuf>,
    pinned_links: Vec<(String, PathBuf, FdLink)>,
    /// True when the session maps were pinned by an earlier daemon and
    /// re-adopted (their entries and counters carried over).
    adopted: bool,
    capacity: Capacity,
}

/// The maps a restarted daemon re-adopts from bpffs: the session tables,
/// rule sets, counter slots and rate meters (their state is the sessions'
/// state). The next-hop cache is made afresh (routes may have changed while
/// no daemon watched them: until the new daemon's first sync, a few ms
/// after start, the fast path takes `bpf_fib_lookup`), and so are the
/// global, drop and port counters, the egress devmap and the cpumap.
pub const PINNED_MAPS: [&str; 8] = [
    names::UPLINK,
    names::DOWNLINK,
    names::UL_TABLE,
    names::DL_TABLE,
    names::RULES,
    names::SESSION_COUNTERS,
    names::TOUCHED,
    names::METERS,
];

/// The pin of port `iface`'s XDP link in `dir`.
fn link_pin(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("link_{iface}"))
}

fn map_err(map: &'static str, op: &'static str) -> impl Fn(MapError) -> DatapathError {
    move |source| DatapathError::Map {
        map,
        op,
        source: source.into(),
    }
}

fn take<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, DatapathError>
where
    T: TryFrom<aya::maps::Map, Error = MapError>,
{
    T::try_from(take_map(ebpf, name)?).map_err(map_err(name, "open"))
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, DatapathError> {
    ebpf.take_map(name)
        .ok_or_else(|| DatapathError::Load(format!("the object has no map {name}")))
}

impl BpfDatapath {
    /// Loads and verifies the program with the given globals and map sizes.
    /// Nothing is attached yet.
    pub fn load(opts: &LoadOptions) -> Result<Self, DatapathError> {
        Self::load_spread(opts, &[])
    }

    /// [`BpfDatapath::load`] with uplink G-PDUs spread over `spread_cpus` by
    /// TEID (`gateway.spread = "teid"`; empty: off). Each CPU gets a cpumap
    /// entry running `upf_cpumap`.
    pub fn load_spread(opts: &LoadOptions, spread_cpus: &[u32]) -> Result<Self, DatapathError> {
        Self::load_pinned(opts, spread_cpus, None)
    }

    /// [`BpfDatapath::load_spread`] with the maps of [`PINNED_MAPS`] pinned
    /// in `pin_dir` (bpffs) when given: maps an earlier daemon pinned there
    /// are re-adopted, entries and counters included (see
    /// [`BpfDatapath::adopted`]), after checking they have the key and value
    /// sizes of this build and the configured number of entries; the ports'
    /// XDP links are pinned there too by [`BpfDatapath::attach`].
    pub fn load_pinned(
        opts: &LoadOptions,
        spread_cpus: &[u32],
        pin_dir: Option<&Path>,
    ) -> Result<Self, DatapathError> {
        if opts.ports.is_empty() || opts.ports.len() > MAX_PORTS {
            return Err(DatapathError::Load(format!(
                "{} ports configured; between 1 and {MAX_PORTS} are supported",
                opts.ports.len()
            )));
        }
        for (what, n) in [
            ("max_sessions", opts.max_sessions),
            ("counter_slots", opts.counter_slots),
            ("rule_sets", opts.rule_sets),
            ("meters", opts.meters),
        ] {
            if n == 0 {
                return Err(DatapathError::Load(format!("{what} must be at least 1")));
            }
        }
        let mut g = Globals::ZERO;
        g.n3_ipv4_be = u32::from(opts.n3_ipv4).to_be();
        g.num_ports = opts.ports.len() as u32;
        for (i, p) in opts.ports.iter().enumerate() {
            g.port_ifindex[i] = p.ifindex;
            g.port_roles[i] = p.roles;
        }
        let ncpus =
            aya::util::nr_cpus().map_err(|(_, e)| DatapathError::Load(format!("nr_cpus: {e}")))?;
        let geo = Geometry::of(opts, ncpus)?;
        g.teid_first = opts.teid_range.0;
        g.ul_mask = geo.ul_slots - 1;
        g.counter_slots = opts.counter_slots;
        g.touched_words = geo.touched_words;
        let mut spread = Spread::OFF;
        if spread_cpus.len() > MAX_SPREAD_CPUS {
            return Err(DatapathError::Load(format!(
                "{} spread CPUs; at most {MAX_SPREAD_CPUS}",
                spread_cpus.len()
            )));
        }
        for (i, &c) in spread_cpus.iter().enumerate() {
            if c as usize >= ncpus.min(MAX_SPREAD_CPUS) {
                return Err(DatapathError::Load(format!(
                    "spread CPU {c}: this host has CPUs 0..{ncpus} (at most {MAX_SPREAD_CPUS} usable)"
                )));
            }
            spread.cpus[i] = c;
        }
        spread.num_cpus = spread_cpus.len() as u32;
        if !opts.nexthop_cache {
            g.flags |= FLAG_FIB_ONLY;
        }
        let mut gtpu_peers = GtpuPeers::NONE;
        if let Some(peers) = &opts.gtpu_peers {
            if peers.is_empty() || peers.len() > MAX_GTPU_PEERS as usize {
                return Err(DatapathError::Load(format!(
                    "{} GTP-U peer prefixes; 1 to {MAX_GTPU_PEERS}",
                    peers.len()
                )));
            }
            for (i, net) in peers.iter().enumerate() {
                gtpu_peers.net_be[i] = (u32::from(net.addr) & net.mask()).to_be();
                gtpu_peers.mask_be[i] = net.mask().to_be();
            }
            gtpu_peers.num = peers.len() as u32;
            g.flags |= FLAG_PEER_FILTER;
        }
        if !opts.anti_spoofing {
            g.flags |= FLAG_NO_ANTI_SPOOFING;
        }
        let mut loader = EbpfLoader::new();
        let mut adopted = false;
        if let Some(dir) = pin_dir {
            adopted = check_pinned(dir, opts, &geo)?;
            for name in PINNED_MAPS {
                loader.map_pin_path(name, dir.join(name));
            }
        }
        let mut ebpf = loader
            .override_global(names::GLOBALS, &g, true)
            .override_global(names::SPREAD, &spread, true)
            .override_global(names::GTPU_PEERS, &gtpu_peers, true)
            .override_global(names::UE_PREFIXES, &geo.prefixes, true)
            .override_global(names::POI_PREFIXES, &poi_prefixes(&opts.poi_peers)?, true)
            .map_max_entries(names::CPUS, ncpus.min(MAX_SPREAD_CPUS) as u32)
            .map_max_entries(names::UPLINK, opts.max_sessions)
            .map_max_entries(names::DOWNLINK, opts.max_sessions)
            .map_max_entries(names::UL_TABLE, geo.ul_slots)
            .map_max_entries(names::DL_TABLE, geo.dl_slots)
            .map_max_entries(names::SESSION_COUNTERS, geo.counter_entries(opts))
            .map_max_entries(names::TOUCHED, geo.touched_entries())
            .map_max_entries(names::RULES, opts.rule_sets)
            .map_max_entries(names::METERS, opts.meters)
            .load(OBJECT)
            .map_err(|e| DatapathError::Load(format!("{e:#}")))?;
        for prog in [names::PROG_UPF, names::PROG_PASS] {
            loaded_xdp(&mut ebpf, prog)?;
        }
        let mut egress: DevMapHash<MapData> = take(&mut ebpf, names::EGRESS)?;
        for p in &opts.ports {
            egress.insert(p.ifindex, p.ifindex, None, 0).map_err(|e| {
                DatapathError::Load(format!("adding {} to the egress devmap: {e}", p.name))
            })?;
        }
        // The devmap must outlive this function: keep it in the Ebpf's place.
        std::mem::forget(egress);
        if !spread_cpus.is_empty() {
            Self::fill_cpumap(&mut ebpf, spread_cpus)?;
        }
        let uplink: HashMap<MapData, UplinkKey, UplinkEntry> = take(&mut ebpf, names::UPLINK)?;
        let ul_hashed = uplink
            .keys()
            .map(|k| k.map(|k| u32::from_be(k.teid_be)))
            .collect::<Result<_, _>>()
            .map_err(map_err(names::UPLINK, "iterate"))?;
        let downlink: HashMap<MapData, DownlinkKey, DownlinkEntry> =
            take(&mut ebpf, names::DOWNLINK)?;
        let dl_hashed = downlink
            .keys()
            .map(|k| k.map(|k| u32::from_be(k.ue_ipv4_be)))
            .collect::<Result<_, _>>()
            .map_err(map_err(names::DOWNLINK, "iterate"))?;
        let mut direct = Direct {
            ul: Mapped::new(
                take_map(&mut ebpf, names::UL_TABLE)?,
                names::UL_TABLE,
                geo.ul_slots as usize,
            )?,
            dl: Mapped::new(
                take_map(&mut ebpf, names::DL_TABLE)?,
                names::DL_TABLE,
                geo.dl_slots as usize,
            )?,
            teid_first: opts.teid_range.0,
            teid_last: opts.teid_range.1,
            ul_mask: geo.ul_slots - 1,
            prefixes: geo.prefixes,
            ul_hashed,
            dl_hashed,
            ul_used: 0,
            dl_used: 0,
            capacity: opts.max_sessions as usize,
        };
        direct.ul_used = (0..direct.ul.len())
            .filter(|&i| direct.ul.key(i) != 0)
            .count();
        direct.dl_used = (0..direct.dl.len())
            .filter(|&i| direct.dl.key(i) != 0)
            .count();
        if adopted {
            direct.check_layout().map_err(|e| {
                DatapathError::Load(format!(
                    "the pinned direct tables were laid out for another TEID range or other \
                     UE prefixes ({e}): restore the configuration they were made with, or \
                     run `upfd --reset`"
                ))
            })?;
        }
        Ok(BpfDatapath {
            uplink,
            downlink,
            direct,
            rules: take(&mut ebpf, names::RULES)?,
            session_counters: CounterRows {
                rows: Mapped::new(
                    take_map(&mut ebpf, names::SESSION_COUNTERS)?,
                    names::SESSION_COUNTERS,
                    geo.counter_entries(opts) as usize,
                )?,
                slots: opts.counter_slots as usize,
                ncpus,
            },
            touched: TouchedRows {
                rows: Mapped::new(
                    take_map(&mut ebpf, names::TOUCHED)?,
                    names::TOUCHED,
                    geo.touched_entries() as usize,
                )?,
                words: geo.touched_words as usize,
                ncpus,
            },
            stats: take(&mut ebpf, names::STATS)?,
            nh_routes: take(&mut ebpf, names::NH_ROUTES)?,
            nexthops: take(&mut ebpf, names::NEXTHOPS)?,
            nh_neigh: take(&mut ebpf, names::NH_NEIGH)?,
            meters: MeterTable(Mapped::new(
                take_map(&mut ebpf, names::METERS)?,
                names::METERS,
                opts.meters as usize,
            )?),
            ebpf,
            ports: opts.ports.clone(),
            links: Vec::new(),
            pin_dir: pin_dir.map(Path::to_path_buf),
            pinned_links: Vec::new(),
            adopted,
            capacity: Capacity {
                sessions: opts.max_sessions,
                counter_slots: opts.counter_slots,
                rule_sets: opts.rule_sets,
                meters: opts.meters,
            },
        })
    }

    /// Loads `upf_cpumap` and gives every spread CPU a cpumap entry running it.
    fn fill_cpumap(ebpf: &mut Ebpf, cpus: &[u32]) -> Result<(), DatapathError> {
        let prog = names::PROG_CPUMAP;
        let p = loaded_xdp(ebpf, prog)?;
        let fd = p
            .fd()
            .and_then(|fd| fd.try_clone().map_err(Into::into))
            .map_err(|e| DatapathError::Load(format!("{prog}: {e}")))?;
        let map = ebpf
            .map_mut(names::CPUS)
            .ok_or_else(|| DatapathError::Load(format!("the object has no map {}", names::CPUS)))?;
        let mut cpumap: CpuMap<&mut MapData> = CpuMap::try_from(map)
            .map_err(|e| DatapathError::Load(format!("{}: {e}", names::CPUS)))?;
        for &c in cpus {
            cpumap.set(c, CPUMAP_QUEUE, Some(&fd), 0).map_err(|e| {
                DatapathError::Load(format!("cpumap entry for CPU {c} (with {prog}): {e}"))
            })?;
        }
        Ok(())
    }

    /// The main program, loaded (for BPF_PROG_TEST_RUN in tests and benches).
    pub fn program(&mut self) -> &mut Xdp {
        // The program exists and is an Xdp: load() checked both.
        self.ebpf
            .program_mut(names::PROG_UPF)
            .and_then(|p| <&mut Xdp>::try_from(p).ok())
            .expect("load() verified the program")
    }

    /// Where local TEID `teid`'s uplink entry lives: `Some(true)` in
    /// `UL_TABLE`, `Some(false)` in the `UPLINK` hash, `None` nowhere.
    pub fn uplink_is_direct(&self, teid: u32) -> Option<bool> {
        if self.direct.ul.key(self.direct.ul_index(teid)) == teid.to_be() && teid != 0 {
            Some(true)
        } else {
            self.direct.ul_hashed.contains(&teid).then_some(false)
        }
    }

    /// Where UE address `ue`'s downlink entry lives, as [`BpfDatapath::uplink_is_direct`].
    pub fn downlink_is_direct(&self, ue: Ipv4Addr) -> Option<bool> {
        let a = u32::from(ue);
        match self.direct.dl_index(a) {
            Some(i) => (self.direct.dl.key(i) == a.to_be() && a != 0).then_some(true),
            None => self.direct.dl_hashed.contains(&a).then_some(false),
        }
    }

    /// For tests of the fast path's seqlock readers: marks the `UL_TABLE`
    /// slot holding `teid` as being written (`held`) or done, as a writer
    /// preempted mid-update would leave it. False when no slot holds it.
    #[doc(hidden)]
    pub fn hold_uplink_slot(&mut self, teid: u32, held: bool) -> bool {
        let i = self.direct.ul_index(teid);
        self.uplink_is_direct(teid) == Some(true) && self.direct.ul.hold(i, held)
    }

    /// A benchmark floor program of the same object (`names::PROG_BENCH_DROP`
    /// or `names::PROG_BENCH_TX`), verified on first use, for
    /// BPF_PROG_TEST_RUN. `load` leaves them alone, so the daemon never pays
    /// for them.
    pub fn bench_program(&mut self, name: &str) -> Result<&mut Xdp, DatapathError> {
        if ![names::PROG_BENCH_DROP, names::PROG_BENCH_TX].contains(&name) {
            return Err(DatapathError::Load(format!(
                "{name} is not a benchmark program"
            )));
        }
        loaded_xdp(&mut self.ebpf, name)
    }

    /// Attaches the program to every port. On failure, whatever was attached is detached.
    ///
    /// With a pin directory, each port's XDP link is pinned there: a link an
    /// earlier daemon pinned is taken over by replacing its program
    /// atomically (`bpf_link_update`: no packet sees no program; the link
    /// keeps the mode it was attached with), otherwise a new link is made
    /// and pinned.
    pub fn attach(&mut self, mode: AttachMode) -> Result<(), DatapathError> {
        for i in 0..self.ports.len() {
            let port = self.ports[i].clone();
            let res = match self.pin_dir.clone() {
                Some(dir) => self.attach_pinned(&port, mode, &dir),
                None => self
                    .program()
                    .attach_to_if_index(port.ifindex, xdp_mode(mode))
                    .map(|id| self.links.push((port.name.clone(), id)))
                    .map_err(|e| attach_reason(&e, mode)),
            };
            if let Err(reason) = res {
                self.detach();
                return Err(DatapathError::Attach {
                    iface: port.name,
                    mode: mode.name(),
                    reason,
                });
            }
        }
        Ok(())
    }

    fn attach_pinned(&mut self, port: &Port, mode: AttachMode, dir: &Path) -> Result<(), String> {
        let pin = link_pin(dir, &port.name);
        if pin.exists() {
            match self.replace_pinned(&pin) {
                Ok(link) => {
                    tracing::info!(iface = %port.name, pin = %pin.display(), "XDP link re-adopted: program replaced in place");
                    self.pinned_links.push((port.name.clone(), pin, link));
                    return Ok(());
                }
                Err(e) => {
                    // E.g. the interface was re-created: the old link is
                    // defunct. Drop its pin and attach afresh.
                    tracing::warn!(iface = %port.name, pin = %pin.display(), error = %e, "pinned XDP link not usable; attaching anew");
                    std::fs::remove_file(&pin)
                        .map_err(|e| format!("removing {}: {e}", pin.display()))?;
                }
            }
        }
        let p = self.program();
        let id = p
            .attach_to_if_index(port.ifindex, xdp_mode(mode))
            .map_err(|e| attach_reason(&e, mode))?;
        let link: FdLink = p
            .take_link(id)
            .map_err(|e| e.to_string())?
            .try_into()
            .map_err(|e| format!("not a bpf_link (kernel too old to pin): {e}"))?;
        let pinned = link
            .pin(&pin)
            .map_err(|e| format!("pinning the link at {}: {e}", pin.display()))?;
        self.pinned_links
            .push((port.name.clone(), pin, FdLink::from(pinned)));
        Ok(())
    }

    /// Points the pinned link at `pin` at this program; returns the link.
    fn replace_pinned(&mut self, pin: &Path) -> Result<FdLink, String> {
        let link: FdLink = PinnedLink::from_pin(pin).map_err(|e| e.to_string())?.into();
        let xdp_link = aya::programs::xdp::XdpLink::try_from(link).map_err(|e| e.to_string())?;
        let p = self.program();
        let id = p.attach_to_link(xdp_link).map_err(|e| e.to_string())?;
        p.take_link(id)
            .map_err(|e| e.to_string())?
            .try_into()
            .map_err(|e: aya::programs::links::LinkError| e.to_string())
    }

    /// True when the session maps were re-adopted from an earlier daemon's
    /// pins (its sessions' entries, rule sets, counters and meters).
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// Detaches from every port (also done when the datapath is dropped,
    /// except for pinned links: those stay, see [`BpfDatapath::detach`]).
    /// Pinned links are unpinned first, so they really detach.
    pub fn detach(&mut self) {
        let links = std::mem::take(&mut self.links);
        for (name, id) in links {
            if let Err(e) = self.program().detach(id) {
                tracing::warn!(iface = %name, error = %e, "detaching XDP failed");
            } else {
                tracing::info!(iface = %name, "XDP detached");
            }
        }
        for (name, pin, link) in std::mem::take(&mut self.pinned_links) {
            if let Err(e) = std::fs::remove_file(&pin) {
                tracing::warn!(iface = %name, pin = %pin.display(), error = %e, "unpinning the XDP link failed");
            }
            drop(link);
            tracing::info!(iface = %name, "XDP detached (link unpinned)");
        }
    }

    /// Leaves the program attached through its pinned links (and the maps
    /// pinned) when this datapath is dropped: the fast path keeps
    /// forwarding for the next daemon. Without pinning it detaches.
    pub fn keep_forwarding(&mut self) -> bool {
        if self.pin_dir.is_none() {
            return false;
        }
        for (name, pin, _) in &self.pinned_links {
            tracing::info!(iface = %name, pin = %pin.display(), "XDP left attached for the next daemon");
        }
        // Dropping the fds leaves the pins holding the links.
        self.pinned_links.clear();
        true
    }

    /// The configured ports.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// Every CPU's `STATS` value (index = CPU number), in one syscall.
    pub fn stats_per_cpu(&self) -> Result<Vec<Stats>, DatapathError> {
        let v = self
            .stats
            .get(&0, 0)
            .map_err(map_err(names::STATS, "read"))?;
        Ok(v.iter().copied().collect())
    }

    /// `STATS` summed over CPUs.
    pub fn stats(&self) -> Result<Stats, DatapathError> {
        let mut acc = Stats::default();
        for v in self.stats_per_cpu()? {
            acc.accumulate(&v);
        }
        Ok(acc)
    }

    /// Every named global counter, summed over CPUs.
    pub fn global_counters(&self) -> Result<Vec<(Counter, u64)>, DatapathError> {
        Ok(globals_of(&self.stats()?))
    }

    /// Every drop reason's count, summed over CPUs.
    pub fn drop_counters(&self) -> Result<Vec<(DropReason, u64)>, DatapathError> {
        Ok(drops_of(&self.stats()?))
    }

    /// A few counters per CPU (index = CPU number), unsummed: where the work ran.
    pub fn per_cpu_counters(&self) -> Result<Vec<CpuStats>, DatapathError> {
        Ok(per_cpu_of(&self.stats_per_cpu()?))
    }

    /// Per-port counters, summed over CPUs.
    pub fn port_counters(&self) -> Result<Vec<(Port, PortCounters)>, DatapathError> {
        Ok(self.ports_of(&self.stats()?))
    }

    fn ports_of(&self, st: &Stats) -> Vec<(Port, PortCounters)> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), st.ports[i]))
            .collect()
    }
}

fn globals_of(st: &Stats) -> Vec<(Counter, u64)> {
    Counter::ALL
        .iter()
        .map(|c| (*c, st.counters[c.index() as usize]))
        .collect()
}

fn drops_of(st: &Stats) -> Vec<(DropReason, u64)> {
    DropReason::ALL
        .iter()
        .map(|r| (*r, st.drops[r.index() as usize]))
        .collect()
}

fn per_cpu_of(v: &[Stats]) -> Vec<CpuStats> {
    let at = |st: &Stats, c: Counter| st.counters[c.index() as usize];
    v.iter()
        .enumerate()
        .map(|(i, st)| CpuStats {
            cpu: i as u32,
            rx_frames: at(st, Counter::RxFrames),
            uplink_forwarded: at(st, Counter::UplinkForwarded),
            downlink_forwarded: at(st, Counter::DownlinkForwarded),
            steered_to_cpu: at(st, Counter::SteeredToCpu),
        })
        .collect()
}

/// `BPF_MAP_UPDATE_BATCH` (kernel 5.6+), which aya 0.14 does not wrap.
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;

/// The `batch` member of `union bpf_attr` (include/uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Entries per `BPF_MAP_UPDATE_BATCH` call: large enough that the syscall's
/// cost vanishes, small enough that one call stays short (the kernel walks
/// the whole batch before it returns).
pub const BATCH_CHUNK: usize = 16 * 1024;

/// Writes `keys[i] -> values[i]` into the hash or array map `fd` with
/// `BPF_MAP_UPDATE_BATCH`, [`BATCH_CHUNK`] entries per syscall.
/// `elem_flags` is `BPF_ANY` (0), `BPF_NOEXIST` or `BPF_EXIST`. On an error
/// the entries before the failing one are written; the error says how many.
pub fn update_batch<K: aya::Pod, V: aya::Pod>(
    fd: BorrowedFd<'_>,
    keys: &[K],
    values: &[V],
    elem_flags: u64,
) -> Result<(), (usize, std::io::Error)> {
    if keys.len() != values.len() {
        return Err((
            0,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "update_batch: as many keys as values",
            ),
        ));
    }
    let mut done = 0;
    while done < keys.len() {
        let n = (keys.len() - done).min(BATCH_CHUNK);
        let mut attr = BatchAttr {
            keys: keys[done..].as_ptr() as u64,
            values: values[done..].as_ptr() as u64,
            count: n as u32,
            map_fd: fd.as_raw_fd() as u32,
            elem_flags,
            ..BatchAttr::default()
        };
        // SAFETY: attr is a valid `bpf_attr.batch` for the call's duration;
        // keys and values point at `n` initialized Pod elements each (the
        // map's key and value sizes are K's and V's, checked by the typed
        // map handles the fds come from); the kernel only reads them and
        // writes `attr.count`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_UPDATE_BATCH,
                &mut attr as *mut BatchAttr,
                size_of::<BatchAttr>() as u32,
            )
        };
        if rc < 0 {
            return Err((done + attr.count as usize, std::io::Error::last_os_error()));
        }
        done += n;
    }
    Ok(())
}

/// `BPF_MAP_LOOKUP_BATCH` (kernel 5.6+), which aya 0.14 does not wrap.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Reads keys `0..n` of the per-CPU array `fd` (values of `V`, `ncpus`
/// possible CPUs) with `BPF_MAP_LOOKUP_BATCH`, [`BATCH_CHUNK`] keys per
/// syscall, and folds each key's per-CPU values with `fold` into `out[key]`.
pub fn lookup_percpu_array_batch<V: aya::Pod + Default>(
    fd: BorrowedFd<'_>,
    ncpus: usize,
    out: &mut [V],
    fold: impl Fn(&mut V, &V),
) -> std::io::Result<()> {
    // Per-CPU values are laid out at 8-byte strides, one per possible CPU.
    let stride = size_of::<V>().div_ceil(8) * 8;
    debug_assert_eq!(stride, size_of::<V>(), "per-CPU value not 8-byte sized");
    let chunk = BATCH_CHUNK.min(out.len().max(1));
    let mut keys = vec![0u32; chunk];
    let mut values = vec![V::default(); chunk * ncpus];
    let mut next: u32 = 0;
    let mut first = true;
    let mut done = 0usize;
    while done < out.len() {
        let want = (out.len() - done).min(chunk);
        let in_batch = next;
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &in_batch as *const u32 as u64
            },
            out_batch: &mut next as *mut u32 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: want as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: attr is a valid `bpf_attr.batch` for the call's duration;
        // in_batch/out_batch point at u32s (an array's key size); keys has
        // room for `want` u32 keys and values for `want` x `ncpus` values of
        // V, the map's value size (checked by the typed map handle the fd
        // comes from); the kernel writes at most `count` of each.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                size_of::<BatchAttr>() as u32,
            )
        };
        let err = (rc < 0).then(std::io::Error::last_os_error);
        if let Some(e) = &err {
            if e.raw_os_error() != Some(libc::ENOENT) {
                return Err(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
        let got = (attr.count as usize).min(want);
        for i in 0..got {
            let key = keys[i] as usize;
            if let Some(slot) = out.get_mut(key) {
                let mut sum = V::default();
                for v in &values[i * ncpus..(i + 1) * ncpus] {
                    fold(&mut sum, v);
                }
                *slot = sum;
            }
        }
        done += got;
        first = false;
        if err.is_some() || got == 0 {
            break; // ENOENT: the map has no more keys.
        }
    }
    Ok(())
}

/// `memlock` of a BPF map, as the kernel reports it in
/// `/proc/self/fdinfo/<fd>` (what the map's memory is charged as).
pub fn map_memlock(fd: BorrowedFd<'_>) -> std::io::Result<u64> {
    fdinfo_memlock(&format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no memlock in fdinfo"))
}

/// The `memlock:` line of an fdinfo file, if it has one (BPF maps do).
pub fn fdinfo_memlock(path: &str) -> std::io::Result<Option<u64>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse().ok()))
}

impl BpfDatapath {
    /// Writes many uplink entries (local TEID in host order -> entry): the
    /// direct table's in place, the rest with `BPF_MAP_UPDATE_BATCH`
    /// (insert or replace). A full map is `Full`; the entries before the
    /// failing one stay written.
    pub fn put_uplink_batch(
        &mut self,
        entries: &[(u32, UplinkEntry)],
    ) -> Result<(), DatapathError> {
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        let full = DatapathError::Full {
            map: names::UPLINK,
            capacity: self.capacity.sessions,
        };
        let mut result = Ok(());
        for (t, v) in entries {
            match self.direct.ul_place(*t) {
                Place::Slot(i) => {
                    if !self.direct.put_ul_slot(i, *t, v) {
                        result = Err(full);
                        break;
                    }
                }
                Place::Hash => {
                    if !self.direct.ul_hashed.contains(t) {
                        if !self.direct.ul_room() {
                            result = Err(full);
                            break;
                        }
                        // Counted now so the room check sees it.
                        self.direct.ul_hashed.insert(*t);
                    }
                    keys.push(UplinkKey { teid_be: t.to_be() });
                    values.push(*v);
                }
            }
        }
        let fd = self.uplink.map().fd().as_fd();
        if let Err((done, e)) = update_batch(fd, &keys, &values, 0) {
            for k in &keys[done..] {
                self.direct.ul_hashed.remove(&u32::from_be(k.teid_be));
            }
            return Err(batch_err(names::UPLINK, self.capacity.sessions)((done, e)));
        }
        result
    }

    /// Writes many downlink entries (UE address -> entry) with
    /// `BPF_MAP_UPDATE_BATCH`, as [`BpfDatapath::put_uplink_batch`].
    pub fn put_downlink_batch(
        &mut self,
        entries: &[(Ipv4Addr, DownlinkEntry)],
    ) -> Result<(), DatapathError> {
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        let full = DatapathError::Full {
            map: names::DOWNLINK,
            capacity: self.capacity.sessions,
        };
        let mut result = Ok(());
        for (ue, v) in entries {
            let a = u32::from(*ue);
            if let Some(i) = self.direct.dl_index(a) {
                if !self.direct.put_dl_slot(i, a.to_be(), v) {
                    result = Err(full);
                    break;
                }
            } else {
                if !self.direct.dl_hashed.contains(&a) {
                    if !self.direct.dl_room() {
                        result = Err(full);
                        break;
                    }
                    self.direct.dl_hashed.insert(a);
                }
                keys.push(DownlinkKey {
                    ue_ipv4_be: a.to_be(),
                });
                values.push(*v);
            }
        }
        let fd = self.downlink.map().fd().as_fd();
        if let Err((done, e)) = update_batch(fd, &keys, &values, 0) {
            for k in &keys[done..] {
                self.direct.dl_hashed.remove(&u32::from_be(k.ue_ipv4_be));
            }
            return Err(batch_err(names::DOWNLINK, self.capacity.sessions)((
                done, e,
            )));
        }
        result
    }

    /// Kernel memory (`memlock`) of the session maps this datapath holds,
    /// by map name: what the tables cost at their configured sizes.
    pub fn map_memory(&self) -> Result<Vec<(&'static str, u64)>, DatapathError> {
        let fds: [(&'static str, BorrowedFd<'_>); 9] = [
            (names::UPLINK, self.uplink.map().fd().as_fd()),
            (names::DOWNLINK, self.downlink.map().fd().as_fd()),
            (names::UL_TABLE, self.direct.ul.map().fd().as_fd()),
            (names::DL_TABLE, self.direct.dl.map().fd().as_fd()),
            (names::RULES, self.rules.map().fd().as_fd()),
            (
                names::SESSION_COUNTERS,
                self.session_counters.rows.map().fd().as_fd(),
            ),
            (names::TOUCHED, self.touched.rows.map().fd().as_fd()),
            (names::METERS, self.meters.0.map().fd().as_fd()),
            (names::STATS, self.stats.map().fd().as_fd()),
        ];
        fds.into_iter()
            .map(|(name, fd)| {
                map_memlock(fd)
                    .map(|m| (name, m))
                    .map_err(|e| map_err(name, "fdinfo")(MapError::IoError(e)))
            })
            .collect()
    }
}

fn batch_err(
    map: &'static str,
    capacity: u32,
) -> impl Fn((usize, std::io::Error)) -> DatapathError {
    move |(_, e)| {
        if e.raw_os_error() == Some(libc::E2BIG) {
            DatapathError::Full { map, capacity }
        } else {
            DatapathError::Map {
                map,
                op: "update batch",
                source: MapError::IoError(e).into(),
            }
        }
    }
}

impl Drop for BpfDatapath {
    /// Unpinned links detach with the process anyway; pinned ones stay
    /// attached (a panic or an error exit must not stop the fast path:
    /// [`BpfDatapath::detach`] is the explicit way).
    fn drop(&mut self) {
        self.keep_forwarding();
        self.detach();
    }
}

fn is_full(e: &MapError) -> bool {
    matches!(e, MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG))
        || matches!(e, MapError::OutOfBounds { .. })
}

/// `Full` for a full hash map or an array index past its size, else `Map`.
fn write_err(
    map: &'static str,
    op: &'static str,
    capacity: u32,
) -> impl Fn(MapError) -> DatapathError {
    move |e| {
        if is_full(&e) {
            DatapathError::Full { map, capacity }
        } else {
            DatapathError::Map {
                map,
                op,
                source: e.into(),
            }
        }
    }
}

/// The object's XDP program `name`, loaded (verified) on first use.
fn loaded_xdp<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, DatapathError> {
    let p: &mut Xdp = ebpf
        .program_mut(name)
        .ok_or_else(|| DatapathError::Load(format!("the object has no program {name}")))?
        .try_into()
        .map_err(|e| DatapathError::Load(format!("{name}: {e}")))?;
    if p.fd().is_err() {
        p.load()
            .map_err(|e| DatapathError::Load(verifier_message(name, &e)))?;
    }
    Ok(p)
}

fn verifier_message(prog: &str, e: &aya::programs::ProgramError) -> String {
    // The verifier log is long; its last lines say why.
    let full = format!("{e:#}");
    let tail: Vec<&str> = full.lines().rev().take(25).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("program {prog} rejected: {}", tail.join("\n"))
}

fn attach_reason(e: &aya::programs::ProgramError, mode: AttachMode) -> String {
    let base = format!("{e:#}");
    if mode == AttachMode::Native && base.contains("Operation not supported") {
        format!("{base} (the driver has no native XDP; use attach_mode = \"generic\")")
    } else if base.contains("Device or resource busy") {
        format!("{base} (another XDP program is attached; detach it first)")
    } else {
        base
    }
}

impl Datapath for BpfDatapath {
    fn uplink_keys(&self) -> Result<Vec<u32>, DatapathError> {
        let mut keys: Vec<u32> = (0..self.direct.ul.len())
            .map(|i| self.direct.ul.key(i))
            .filter(|&k| k != 0)
            .map(u32::from_be)
            .collect();
        for k in self.uplink.keys() {
            keys.push(u32::from_be(
                k.map_err(map_err(names::UPLINK, "iterate"))?.teid_be,
            ));
        }
        Ok(keys)
    }

    fn downlink_keys(&self) -> Result<Vec<Ipv4Addr>, DatapathError> {
        let mut keys: Vec<Ipv4Addr> = (0..self.direct.dl.len())
            .map(|i| self.direct.dl.key(i))
            .filter(|&k| k != 0)
            .map(|k| Ipv4Addr::from(u32::from_be(k)))
            .collect();
        for k in self.downlink.keys() {
            keys.push(Ipv4Addr::from(u32::from_be(
                k.map_err(map_err(names::DOWNLINK, "iterate"))?.ue_ipv4_be,
            )));
        }
        Ok(keys)
    }

    fn put_uplink(&mut self, teid: u32, v: &UplinkEntry) -> Result<(), DatapathError> {
        let full = DatapathError::Full {
            map: names::UPLINK,
            capacity: self.capacity.sessions,
        };
        if let Place::Slot(i) = self.direct.ul_place(teid) {
            return if self.direct.put_ul_slot(i, teid, v) {
                Ok(())
            } else {
                Err(full)
            };
        }
        if !self.direct.ul_hashed.contains(&teid) && !self.direct.ul_room() {
            return Err(full);
        }
        let k = UplinkKey {
            teid_be: teid.to_be(),
        };
        self.uplink.insert(k, v, 0).map_err(write_err(
            names::UPLINK,
            "insert",
            self.capacity.sessions,
        ))?;
        self.direct.ul_hashed.insert(teid);
        Ok(())
    }

    fn del_uplink(&mut self, teid: u32) -> Result<(), DatapathError> {
        let i = self.direct.ul_index(teid);
        if self.direct.clear_ul_slot(i, teid.to_be()) {
            return Ok(());
        }
        match self.uplink.remove(&UplinkKey {
            teid_be: teid.to_be(),
        }) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(MapError::SyscallError(s)) if s.io_error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(DatapathError::Map {
                    map: names::UPLINK,
                    op: "remove",
                    source: e.into(),
                })
            }
        }
        self.direct.ul_hashed.remove(&teid);
        Ok(())
    }

    fn put_downlink(&mut self, ue: Ipv4Addr, v: &DownlinkEntry) -> Result<(), DatapathError> {
        let be = u32::from(ue).to_be();
        let full = DatapathError::Full {
            map: names::DOWNLINK,
            capacity: self.capacity.sessions,
        };
        if let Some(i) = self.direct.dl_index(u32::from(ue)) {
            return if self.direct.put_dl_slot(i, be, v) {
                Ok(())
            } else {
                Err(full)
            };
        }
        if !self.direct.dl_hashed.contains(&u32::from(ue)) && !self.direct.dl_room() {
            return Err(full);
        }
        let k = DownlinkKey { ue_ipv4_be: be };
        self.downlink.insert(k, v, 0).map_err(write_err(
            names::DOWNLINK,
            "insert",
            self.capacity.sessions,
        ))?;
        self.direct.dl_hashed.insert(u32::from(ue));
        Ok(())
    }

    fn del_downlink(&mut self, ue: Ipv4Addr) -> Result<(), DatapathError> {
        let be = u32::from(ue).to_be();
        if let Some(i) = self.direct.dl_index(u32::from(ue)) {
            self.direct.clear_dl_slot(i, be);
            return Ok(());
        }
        match self.downlink.remove(&DownlinkKey { ue_ipv4_be: be }) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(MapError::SyscallError(s)) if s.io_error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(DatapathError::Map {
                    map: names::DOWNLINK,
                    op: "remove",
                    source: e.into(),
                })
            }
        }
        self.direct.dl_hashed.remove(&u32::from(ue));
        Ok(())
    }

    fn put_rules(&mut self, index: u32, v: &RuleSet) -> Result<(), DatapathError> {
        self.rules.set(index, v, 0).map_err(write_err(
            names::RULES,
            "write",
            self.capacity.rule_sets,
        ))
    }

    fn reset_counters(&mut self, slot: u32) -> Result<(), DatapathError> {
        if self.session_counters.reset(slot as usize) {
            Ok(())
        } else {
            Err(DatapathError::Full {
                map: names::SESSION_COUNTERS,
                capacity: self.capacity.counter_slots,
            })
        }
    }

    fn counters(&self, slot: u32) -> Result<SessionCounters, DatapathError> {
        self.session_counters
            .sum(slot as usize)
            .ok_or(DatapathError::Full {
                map: names::SESSION_COUNTERS,
                capacity: self.capacity.counter_slots,
            })
    }

    fn counters_all(&self, out: &mut [SessionCounters]) -> Result<(), DatapathError> {
        for (slot, c) in out.iter_mut().enumerate() {
            *c = self.session_counters.sum(slot).unwrap_or_default();
        }
        Ok(())
    }

    fn poi_counters(&self) -> Result<[SessionCounters; MAX_POIS + 1], DatapathError> {
        Ok(self.stats()?.pois)
    }

    fn take_touched(&mut self) -> Result<Option<Vec<u32>>, DatapathError> {
        Ok(Some(self.touched.take()))
    }

    fn set_meter(&mut self, index: u32, cfg: &MeterConfig) -> Result<(), DatapathError> {
        // Each word with one store: the fast path may read the meter at any
        // time and sees the old or the new value of each.
        let m = self.meters.slot(index)?;
        m.cost_ns_q16
            .store(Meter::cost_for_bps(cfg.rate_bps), Ordering::Relaxed);
        m.tau_ns.store(cfg.tau_ns, Ordering::Relaxed);
        m.parent.store(cfg.parent, Ordering::Relaxed);
        Ok(())
    }

    fn reset_meter(&mut self, index: u32) -> Result<(), DatapathError> {
        let m = self.meters.slot(index)?;
        for w in [
            &m.tat_ns,
            &m.cost_ns_q16,
            &m.tau_ns,
            &m.pass_bytes,
            &m.drop_bytes,
            &m.drop_packets,
        ] {
            w.store(0, Ordering::Relaxed);
        }
        m.parent.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn meter(&self, index: u32) -> Result<Meter, DatapathError> {
        let m = self.meters.slot(index)?;
        Ok(Meter {
            tat_ns: m.tat_ns.load(Ordering::Relaxed),
            cost_ns_q16: m.cost_ns_q16.load(Ordering::Relaxed),
            tau_ns: m.tau_ns.load(Ordering::Relaxed),
            parent: m.parent.load(Ordering::Relaxed),
            _pad: 0,
            pass_bytes: m.pass_bytes.load(Ordering::Relaxed),
            drop_bytes: m.drop_bytes.load(Ordering::Relaxed),
            drop_packets: m.drop_packets.load(Ordering::Relaxed),
            _reserved: 0,
        })
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn fastpath_stats(&self) -> Result<FastpathStats, DatapathError> {
        // One read of STATS for all four views.
        let per_cpu = self.stats_per_cpu()?;
        let mut st = Stats::default();
        for v in &per_cpu {
            st.accumulate(v);
        }
        Ok(FastpathStats {
            counters: globals_of(&st)
                .into_iter()
                .map(|(c, v)| (c.name().to_string(), v))
                .collect(),
            drops: drops_of(&st)
                .into_iter()
                .map(|(d, v)| (d.name().to_string(), v))
                .collect(),
            ports: self
                .ports_of(&st)
                .into_iter()
                .map(|(p, c)| PortStats {
                    name: p.name,
                    roles: roles_name(p.roles).to_string(),
                    rx_packets: c.rx_packets,
                    rx_bytes: c.rx_bytes,
                    redirected: c.redirected,
                    tx: c.tx,
                    passed: c.passed,
                    dropped: c.dropped,
                })
                .collect(),
            per_cpu: per_cpu_of(&per_cpu),
        })
    }
}

fn absent_ok(
    map: &'static str,
    op: &'static str,
) -> impl Fn(MapError) -> Result<(), DatapathError> {
    move |e| match e {
        MapError::KeyNotFound => Ok(()),
        MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        e => Err(DatapathError::Map {
            map,
            op,
            source: e.into(),
        }),
    }
}

/// The next-hop cache's maps (`crate::nexthop` decides what goes in them).
impl NexthopMaps for BpfDatapath {
    type Error = DatapathError;

    fn put_nexthop(&mut self, id: u32, v: &NextHop) -> Result<(), DatapathError> {
        self.nexthops.set(id, v, 0).map_err(write_err(
            names::NEXTHOPS,
            "write",
            upf_abi::MAX_NEXTHOPS,
        ))
    }

    fn put_route(&mut self, addr: u32, len: u8, value: u32) -> Result<(), DatapathError> {
        let k = LpmKey::new(u32::from(len), addr.to_be());
        self.nh_routes.insert(&k, value, 0).map_err(write_err(
            names::NH_ROUTES,
            "insert",
            upf_abi::MAX_NH_ROUTES,
        ))
    }

    fn del_route(&mut self, addr: u32, len: u8) -> Result<(), DatapathError> {
        let k = LpmKey::new(u32::from(len), addr.to_be());
        self.nh_routes
            .remove(&k)
            .or_else(absent_ok(names::NH_ROUTES, "remove"))
    }

    fn put_neigh(&mut self, addr: u32, v: &NextHop) -> Result<(), DatapathError> {
        self.nh_neigh.insert(addr.to_be(), v, 0).map_err(write_err(
            names::NH_NEIGH,
            "insert",
            upf_abi::MAX_NH_NEIGH,
        ))
    }

    fn del_neigh(&mut self, addr: u32) -> Result<(), DatapathError> {
        self.nh_neigh
            .remove(&addr.to_be())
            .or_else(absent_ok(names::NH_NEIGH, "remove"))
    }
}

/// Checks the maps pinned in `dir` against what this build and `opts` would
/// create; returns true when the session maps are there to be re-adopted.
/// Some pinned but not all, or one with other sizes, is an error that says
/// how to get out (a configuration change of a table size needs a full
/// reset: the entries point at slots by index).
fn check_pinned(dir: &Path, opts: &LoadOptions, geo: &Geometry) -> Result<bool, DatapathError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        DatapathError::Load(format!(
            "creating the pin directory {} (gateway.pin_dir must be on a bpffs): {e}",
            dir.display()
        ))
    })?;
    if !on_bpffs(dir) {
        return Err(DatapathError::Load(format!(
            "gateway.pin_dir {} is not on a bpffs: mount one (mount -t bpf bpf /sys/fs/bpf); \
             note that `ip netns exec` hides /sys/fs/bpf, use a bpffs mounted elsewhere then",
            dir.display()
        )));
    }
    use aya::maps::MapType;
    let expect = |name: &str| -> (MapType, u32, u32, Option<u32>) {
        match name {
            n if n == names::UPLINK => (
                MapType::Hash,
                size_of::<UplinkKey>() as u32,
                size_of::<UplinkEntry>() as u32,
                Some(opts.max_sessions),
            ),
            n if n == names::DOWNLINK => (
                MapType::Hash,
                size_of::<DownlinkKey>() as u32,
                size_of::<DownlinkEntry>() as u32,
                Some(opts.max_sessions),
            ),
            n if n == names::UL_TABLE => (
                MapType::Array,
                4,
                size_of::<UplinkSlot>() as u32,
                Some(geo.ul_slots),
            ),
            n if n == names::DL_TABLE => (
                MapType::Array,
                4,
                size_of::<DownlinkSlot>() as u32,
                Some(geo.dl_slots),
            ),
            n if n == names::RULES => (
                MapType::Array,
                4,
                size_of::<RuleSet>() as u32,
                Some(opts.rule_sets),
            ),
            n if n == names::SESSION_COUNTERS => (
                MapType::Array,
                4,
                size_of::<SessionCounters>() as u32,
                Some(geo.counter_entries(opts)),
            ),
            n if n == names::TOUCHED => (MapType::Array, 4, 8, Some(geo.touched_entries())),
            _ => (
                MapType::Array,
                4,
                size_of::<Meter>() as u32,
                Some(opts.meters),
            ),
        }
    };
    let mut present = Vec::new();
    for name in PINNED_MAPS {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let reset = "restore the configuration it was made with, or run `upfd --reset` \
                     (a full reset: every session is lost and the SMFs are told so)";
        let m = MapData::from_pin(&path).map_err(|e| {
            DatapathError::Load(format!("opening the pinned map {}: {e}", path.display()))
        })?;
        let info = m.info().map_err(|e| {
            DatapathError::Load(format!("reading the pinned map {}: {e}", path.display()))
        })?;
        let (t, k, v, n) = expect(name);
        if info.map_type().ok() != Some(t) {
            return Err(DatapathError::Load(format!(
                "the pinned map {} is a {:?} map, this build uses {t:?} (another version's layout): {reset}",
                path.display(),
                info.map_type()
            )));
        }
        if info.key_size() != k || info.value_size() != v {
            return Err(DatapathError::Load(format!(
                "the pinned map {} has {}-byte keys and {}-byte values, this build uses {k} and {v} \
                 (another version's layout): {reset}",
                path.display(),
                info.key_size(),
                info.value_size()
            )));
        }
        if let Some(n) = n.filter(|n| *n != info.max_entries()) {
            return Err(DatapathError::Load(format!(
                "the pinned map {} has {} entries, the configuration asks for {n}: {reset}",
                path.display(),
                info.max_entries()
            )));
        }
        present.push(name);
    }
    let have = present.len();
    if have != 0 && have != PINNED_MAPS.len() {
        return Err(DatapathError::Load(format!(
            "{} holds only some of the session maps ({}): run `upfd --reset`",
            dir.display(),
            present.join(", ")
        )));
    }
    Ok(have == PINNED_MAPS.len())
}

/// True when `dir` is on a BPF filesystem (statfs magic `BPF_FS_MAGIC`).
fn on_bpffs(dir: &Path) -> bool {
    const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
    let Ok(c) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a NUL-terminated path and st a valid statfs for the call.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// A full reset of a pinned datapath: removes every pin in `dir` (links:
/// the program detaches; maps: freed once no program uses them) and the
/// directory. Returns the names removed. A missing directory is fine.
pub fn remove_pins(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for e in entries {
        let e = e?;
        std::fs::remove_file(e.path())?;
        removed.push(e.file_name().to_string_lossy().into_owned());
    }
    std::fs::remove_dir(dir)?;
    removed.sort();
    Ok(removed)
}

/// Attaches the pass-everything program to `iface` and pins the link at `pin`,
/// so it stays after this process exits (for veth peers in native-mode labs).
pub fn attach_pass_pinned(iface: &str, mode: AttachMode, pin: &Path) -> Result<(), DatapathError> {
    let idx = ifindex(iface)?;
    let mut ebpf = EbpfLoader::new()
        .load(OBJECT)
        .map_err(|e| DatapathError::Load(format!("{e:#}")))?;
    let p: &mut Xdp = ebpf
        .program_mut(names::PROG_PASS)
        .ok_or_else(|| DatapathError::Load("no pass program".into()))?
        .try_into()
        .map_err(|e| DatapathError::Load(format!("{e}")))?;
    p.load()
        .map_err(|e| DatapathError::Load(verifier_message(names::PROG_PASS, &e)))?;
    let attach_err = |reason: String| DatapathError::Attach {
        iface: iface.into(),
        mode: mode.name(),
        reason,
    };
    let id = p
        .attach_to_if_index(idx, xdp_mode(mode))
        .map_err(|e| attach_err(attach_reason(&e, mode)))?;
    let link = p.take_link(id).map_err(|e| attach_err(format!("{e}")))?;
    let fd: FdLink = link
        .try_into()
        .map_err(|e| attach_err(format!("not a bpf_link (kernel too old to pin): {e}")))?;
    fd.pin(pin)
        .map_err(|e| attach_err(format!("pinning at {}: {e}", pin.display())))?;
    Ok(())
}

// ---- the rate meters, memory-mapped ----

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The `METERS` array (BPF_F_MMAPABLE) mapped into our address space: the
/// fast path updates each meter with atomic instructions, userspace reads
/// and configures meters with atomic loads and stores of single words, and
/// neither takes a syscall or a lock.
struct MeterTable(Mapped<MeterCells>);

/// `upf_abi::Meter` as userspace sees it in the shared mapping: the same
/// layout, every word atomic.
#[repr(C)]
struct MeterCells {
    tat_ns: AtomicU64,
    cost_ns_q16: AtomicU64,
    tau_ns: AtomicU64,
    parent: AtomicU32,
    _pad: AtomicU32,
    pass_bytes: AtomicU64,
    drop_bytes: AtomicU64,
    drop_packets: AtomicU64,
    _reserved: AtomicU64,
}

const _: () = assert!(size_of::<MeterCells>() == size_of::<Meter>());
const _: () =
    assert!(std::mem::offset_of!(MeterCells, parent) == std::mem::offset_of!(Meter, parent));
const _: () = assert!(
    std::mem::offset_of!(MeterCells, drop_packets) == std::mem::offset_of!(Meter, drop_packets)
);

impl MeterTable {
    /// Meter `index`, or `Full` past the table.
    fn slot(&self, index: u32) -> Result<&MeterCells, DatapathError> {
        let p = self.0.ptr(index as usize).ok_or(DatapathError::Full {
            map: names::METERS,
            capacity: self.0.len() as u32,
        })?;
        // SAFETY: inside the mapping, which lives as long as self; values
        // are 64-byte aligned (the mapping starts on a page); all access is
        // atomic, so the shared reference is sound while the kernel writes
        // the same memory.
        Ok(unsafe { &*p })
    }
}
