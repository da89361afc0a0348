//! The kernel ABI of mvno-upf, defined once.
//!
//! Every BPF map name, key and value, every global the loader sets, every
//! counter and every drop reason lives here and is used by both the XDP
//! program (`upf-xdp`) and userspace (`upfd`). The layouts are `#[repr(C)]`
//! with explicit padding so that both sides agree byte for byte.
//!
//! Byte order: fields whose name ends in `_be` hold the value exactly as it
//! appears on the wire (network byte order), read as a native integer. The
//! fast path compares them with packet bytes without swapping; userspace
//! converts with `u32::to_be` / `u32::from_be`.
#![no_std]
#![warn(missing_docs)]

/// Names of the BPF maps and globals, shared by the XDP program and the loader.
pub mod names {
    /// Uplink table (hash, the fallback): [`crate::UplinkKey`] (local TEID) ->
    /// [`crate::UplinkEntry`], for TEIDs [`UL_TABLE`] cannot hold (outside the
    /// gateway's TEID range, or their slot taken by another TEID).
    pub const UPLINK: &str = "UPLINK";
    /// Downlink table (hash, the fallback): [`crate::DownlinkKey`] (UE IPv4)
    /// -> [`crate::DownlinkEntry`], for UE addresses outside every UE prefix.
    pub const DOWNLINK: &str = "DOWNLINK";
    /// Uplink table (array, mmapable) of [`crate::UplinkSlot`], indexed
    /// directly by the local TEID's offset in the gateway's TEID range
    /// ([`crate::Globals::teid_first`], [`crate::Globals::ul_mask`]).
    pub const UL_TABLE: &str = "UL_TABLE";
    /// Downlink table (array, mmapable) of [`crate::DownlinkSlot`], indexed
    /// directly by the UE address's offset in the UE prefixes
    /// ([`crate::UePrefixes`]).
    pub const DL_TABLE: &str = "DL_TABLE";
    /// Global ([`crate::UePrefixes`]) set by the loader: the UE prefixes
    /// [`DL_TABLE`] covers.
    pub const UE_PREFIXES: &str = "UPF_UE_PREFIXES";
    /// Array (mmapable) of u64: per CPU, one bit per counter slot, set by the
    /// fast path when the slot counts a packet, cleared by userspace when it
    /// reads them (usage reporting looks only at touched slots).
    pub const TOUCHED: &str = "TOUCHED";
    /// Array of [`crate::RuleSet`], indexed by an entry's `rules - 1`.
    pub const RULES: &str = "RULES";
    /// Array (mmapable) of [`crate::SessionCounters`], one row of
    /// [`crate::Globals::counter_slots`] per CPU: CPU `c`'s counters of slot
    /// `s` ([`crate::PdrAction::counter`]) are at `c * counter_slots + s`, one
    /// memory access per packet (a per-CPU array takes two: its pointer
    /// array and the value).
    pub const SESSION_COUNTERS: &str = "SESSION_COUNTERS";
    /// Array (mmapable, shared by all CPUs) of [`crate::Meter`]: the rate
    /// meters of QER MBRs, session caps and POI capacities.
    pub const METERS: &str = "METERS";
    /// Per-CPU array of one [`crate::Stats`]: the global counters, drop
    /// reasons, per-port and per-POI counters, all behind one lookup per packet.
    pub const STATS: &str = "STATS";
    /// Global ([`crate::PoiPrefixes`]) set by the loader: which POI a GTP-U
    /// peer belongs to.
    pub const POI_PREFIXES: &str = "UPF_POI_PREFIXES";
    /// Device map (hash, keyed by ifindex) of the interfaces the fast path may redirect to.
    pub const EGRESS: &str = "EGRESS";
    /// Next-hop cache, routes (LPM trie): IPv4 prefix (`_be`) -> [`crate::NH_FALLBACK`],
    /// [`crate::NH_ONLINK`] or a [`crate::names::NEXTHOPS`] index.
    pub const NH_ROUTES: &str = "NH_ROUTES";
    /// Next-hop cache (array): index -> [`crate::NextHop`]; index 0 is never valid.
    pub const NEXTHOPS: &str = "NEXTHOPS";
    /// Next-hop cache, on-link neighbours (hash): destination IPv4 (`_be`) -> [`crate::NextHop`].
    pub const NH_NEIGH: &str = "NH_NEIGH";
    /// Global ([`crate::GtpuPeers`]) set by the loader: the host network's
    /// GTP-U peer prefixes.
    pub const GTPU_PEERS: &str = "UPF_GTPU_PEERS";
    /// Global ([`crate::Globals`]) set by the loader before the program is verified.
    pub const GLOBALS: &str = "UPF_GLOBALS";
    /// The main XDP program, attached to every N3 and N6 interface.
    pub const PROG_UPF: &str = "upf";
    /// An XDP program that passes everything, for veth peers in native mode.
    pub const PROG_PASS: &str = "upf_pass";
    /// Benchmark floor: an XDP program that only returns XDP_DROP (the test-run loop's own cost).
    pub const PROG_BENCH_DROP: &str = "bench_drop";
    /// Benchmark floor: an XDP program that swaps the Ethernet MACs and returns XDP_TX.
    pub const PROG_BENCH_TX: &str = "bench_tx";
    /// CPU map (`BPF_MAP_TYPE_CPUMAP`, keyed by CPU number) that TEID spreading redirects to.
    pub const CPUS: &str = "CPUS";
    /// Global ([`crate::Spread`]) set by the loader: TEID spreading and its CPU list.
    pub const SPREAD: &str = "UPF_SPREAD";
    /// The fast path as a cpumap program: what runs on the CPU a G-PDU was steered to.
    pub const PROG_CPUMAP: &str = "upf_cpumap";
}

/// Maximum number of interfaces (ports) the fast path serves.
pub const MAX_PORTS: usize = 8;
/// Default number of sessions the maps are sized for.
pub const DEFAULT_MAX_SESSIONS: u32 = 100_000;
/// GTP-U UDP port (TS 29.281 §4.4.2.3).
pub const GTPU_PORT: u16 = 2152;

/// Role bits of a port: the interface faces the host network (N3 / S5-U / S1-U).
pub const ROLE_N3: u8 = 1;
/// Role bits of a port: the interface faces the data network (N6 / SGi).
pub const ROLE_N6: u8 = 2;

/// Load-time configuration of the XDP program, written into its `.rodata`
/// by the loader ([`names::GLOBALS`]). Changing it needs a reload.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Globals {
    /// Our GTP-U endpoint address on N3 (`_be`); 0 disables the uplink.
    pub n3_ipv4_be: u32,
    /// Number of valid entries in `port_ifindex` / `port_roles`.
    pub num_ports: u32,
    /// Interface index of each port.
    pub port_ifindex: [u32; MAX_PORTS],
    /// Role bits ([`ROLE_N3`], [`ROLE_N6`]) of each port.
    pub port_roles: [u8; MAX_PORTS],
    /// Feature flags ([`FLAG_FIB_ONLY`], ...).
    pub flags: u32,
    /// The first TEID of the gateway's TEID range (host order): TEID `t`
    /// lives in [`names::UL_TABLE`] at `(t - teid_first) & ul_mask` when
    /// that slot holds it.
    pub teid_first: u32,
    /// [`names::UL_TABLE`]'s size minus one (the size is a power of two).
    pub ul_mask: u32,
    /// Counter slots per CPU row of [`names::SESSION_COUNTERS`].
    pub counter_slots: u32,
    /// u64 words per CPU row of [`names::TOUCHED`] (`counter_slots / 64`, rounded up).
    pub touched_words: u32,
    /// Explicit padding to a multiple of 8 bytes.
    pub _pad: u32,
}

/// Globals flag: the next-hop cache is off; every route is a `bpf_fib_lookup`
/// (`gateway.nexthop_cache = false`).
pub const FLAG_FIB_ONLY: u32 = 1;
/// Globals flag: GTP-U is accepted only from the prefixes in
/// [`GtpuPeers`] (`gateway.gtpu_peers`); others are dropped as
/// [`DropReason::UnknownGtpuPeer`].
pub const FLAG_PEER_FILTER: u32 = 2;
/// Globals flag: uplink anti-spoofing is off (`gateway.anti_spoofing =
/// false`): the inner source is not checked against the session's UE address.
pub const FLAG_NO_ANTI_SPOOFING: u32 = 4;
/// Most prefixes [`GtpuPeers`] holds.
pub const MAX_GTPU_PEERS: u32 = 64;

/// Load-time GTP-U peer prefixes ([`names::GTPU_PEERS`], `.rodata`,
/// frozen): with [`FLAG_PEER_FILTER`], GTP-U to our N3 address is accepted
/// only when `src & mask_be[i] == net_be[i]` for some `i < num`. A bounded
/// scan of a few words: cheaper than a map lookup for the handful of
/// prefixes a host network has, and no helper call.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GtpuPeers {
    /// Valid entries.
    pub num: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// Network addresses (`_be`, host bits zero).
    pub net_be: [u32; MAX_GTPU_PEERS as usize],
    /// Masks (`_be`).
    pub mask_be: [u32; MAX_GTPU_PEERS as usize],
}

impl GtpuPeers {
    /// No prefixes.
    pub const NONE: GtpuPeers = GtpuPeers {
        num: 0,
        _pad: 0,
        net_be: [0; MAX_GTPU_PEERS as usize],
        mask_be: [0; MAX_GTPU_PEERS as usize],
    };

    /// True when `src_be` is inside one of the prefixes.
    #[inline(always)]
    pub fn contains(&self, src_be: u32) -> bool {
        Self::scan(self.num, src_be, |i| (self.net_be[i], self.mask_be[i]))
    }

    /// The scan behind [`GtpuPeers::contains`], reading entry `i < num` as
    /// `(net_be, mask_be)` through `entry` (i is always below
    /// [`MAX_GTPU_PEERS`]): the XDP program reads its frozen global with
    /// volatile loads, so the compiler neither folds the zeroed initial
    /// value nor copies the table to the stack.
    #[inline(always)]
    pub fn scan(num: u32, src_be: u32, entry: impl Fn(usize) -> (u32, u32)) -> bool {
        first_prefix::<{ MAX_GTPU_PEERS as usize }>(num, src_be, entry).is_some()
    }
}

/// A resolved next hop of the cache, written by userspace from the kernel's
/// routes and neighbours. 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextHop {
    /// Egress interface (always one of the ports).
    pub ifindex: u32,
    /// The egress interface's MTU: a longer IP packet takes `bpf_fib_lookup`.
    pub mtu: u32,
    /// The neighbour's MAC (Ethernet destination).
    pub dmac: [u8; 6],
    /// The egress interface's MAC (Ethernet source).
    pub smac: [u8; 6],
    /// [`NH_VALID`]; anything else makes the fast path fall back to `bpf_fib_lookup`.
    pub flags: u32,
}

/// [`NextHop::flags`]: the entry may be used.
pub const NH_VALID: u32 = 1;
/// [`names::NH_ROUTES`] value: not cacheable, use `bpf_fib_lookup`.
pub const NH_FALLBACK: u32 = 0;
/// [`names::NH_ROUTES`] value: a connected route; look the destination up in [`names::NH_NEIGH`].
pub const NH_ONLINK: u32 = u32::MAX;
/// Size of [`names::NEXTHOPS`] (gateways reached through a port).
pub const MAX_NEXTHOPS: u32 = 1024;
/// Size of [`names::NH_ROUTES`].
pub const MAX_NH_ROUTES: u32 = 16_384;
/// Size of [`names::NH_NEIGH`].
pub const MAX_NH_NEIGH: u32 = 16_384;

impl Globals {
    /// All zero: no ports, uplink disabled. The program passes everything.
    pub const ZERO: Globals = Globals {
        n3_ipv4_be: 0,
        num_ports: 0,
        port_ifindex: [0; MAX_PORTS],
        port_roles: [0; MAX_PORTS],
        flags: 0,
        teid_first: 0,
        ul_mask: 0,
        counter_slots: 0,
        touched_words: 0,
        _pad: 0,
    };
}

/// Most UE prefixes [`names::DL_TABLE`] covers.
pub const MAX_UE_PREFIXES: usize = 16;
/// Most addresses the UE prefixes may hold together ([`names::DL_TABLE`]:
/// one 64-byte slot per address, 256 MiB).
pub const MAX_DIRECT_UES: u64 = 1 << 22;

/// The UE prefixes whose addresses [`names::DL_TABLE`] holds, set by the
/// loader (`.rodata`, frozen): address `a` (host order) of prefix `i` is at
/// `base[i] + (a - net[i])`. Prefixes do not overlap.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UePrefixes {
    /// Entries in use.
    pub num: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// Network address, host order.
    pub net: [u32; MAX_UE_PREFIXES],
    /// Netmask, host order.
    pub mask: [u32; MAX_UE_PREFIXES],
    /// The table index of the prefix's first address.
    pub base: [u32; MAX_UE_PREFIXES],
}

impl UePrefixes {
    /// No prefix: every downlink lookup takes the hash table.
    pub const NONE: UePrefixes = UePrefixes {
        num: 0,
        _pad: 0,
        net: [0; MAX_UE_PREFIXES],
        mask: [0; MAX_UE_PREFIXES],
        base: [0; MAX_UE_PREFIXES],
    };

    /// The [`names::DL_TABLE`] index of `addr` (host order), if a prefix
    /// holds it. `entry(i)` reads prefix `i` as `(net, mask, base)`; the
    /// XDP program reads its frozen copy, userspace its own.
    #[inline(always)]
    pub fn scan(num: u32, addr: u32, entry: impl Fn(usize) -> (u32, u32, u32)) -> Option<u32> {
        let mut hit = None;
        first_prefix::<MAX_UE_PREFIXES>(num, addr, |i| {
            let (net, mask, base) = entry(i);
            hit = Some(base.wrapping_add(addr.wrapping_sub(net)));
            (net, mask)
        })?;
        hit
    }

    /// [`UePrefixes::scan`] over this value.
    pub fn index(&self, addr: u32) -> Option<u32> {
        UePrefixes::scan(self.num, addr, |i| {
            (self.net[i], self.mask[i], self.base[i])
        })
    }

    /// The slots all prefixes take together.
    pub fn slots(&self) -> u64 {
        (0..self.num as usize)
            .map(|i| u64::from(!self.mask[i]) + 1)
            .sum()
    }
}

/// The seqlock word of a direct slot ([`UplinkSlot`], [`DownlinkSlot`]):
/// odd while userspace rewrites the slot through its memory mapping. The
/// fast path reads it before and after copying the slot and uses the copy
/// only when both reads are the same even value.
pub const SEQ_WRITING: u32 = 1;

/// One [`names::UL_TABLE`] slot: a session direction's hot state in one
/// cache line (64 bytes).
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkSlot {
    /// Seqlock ([`SEQ_WRITING`]).
    pub seq: u32,
    /// The local TEID this slot holds (`_be`); 0: empty. A G-PDU whose TEID
    /// differs (another TEID with the same index, a stale or unknown one)
    /// does not match.
    pub teid_be: u32,
    /// The entry, as in [`names::UPLINK`].
    pub entry: UplinkEntry,
    /// Explicit padding to the cache line.
    pub _pad: [u32; 6],
}

/// One [`names::DL_TABLE`] slot (64 bytes).
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DownlinkSlot {
    /// Seqlock ([`SEQ_WRITING`]).
    pub seq: u32,
    /// The UE address this slot holds (`_be`); 0: empty.
    pub ue_ipv4_be: u32,
    /// The entry, as in [`names::DOWNLINK`].
    pub entry: DownlinkEntry,
    /// Explicit padding to the cache line.
    pub _pad: [u32; 6],
}

/// Most CPUs TEID spreading can use ([`Spread::cpus`]).
pub const MAX_SPREAD_CPUS: usize = 256;

/// Load-time TEID spreading ([`names::SPREAD`], `.rodata`, frozen): uplink
/// G-PDUs on an N3 port go to `cpus[spread_slot(teid, num_cpus)]` through
/// the [`names::CPUS`] cpumap. `num_cpus == 0`: off (the verifier prunes it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Number of valid entries in `cpus`; 0 disables spreading.
    pub num_cpus: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// The CPUs, in configuration order.
    pub cpus: [u32; MAX_SPREAD_CPUS],
}

impl Spread {
    /// Spreading off.
    pub const OFF: Spread = Spread {
        num_cpus: 0,
        _pad: 0,
        cpus: [0; MAX_SPREAD_CPUS],
    };
}

/// The index into a CPU list of `n` entries that a TEID (as on the wire,
/// `_be`) belongs to: murmur3's 32-bit finaliser (TEIDs are often allocated
/// sequentially or with structure in their high bits), then a multiply-shift
/// range reduction (no division). Always `< n` for `n > 0`.
#[inline(always)]
pub const fn spread_slot(teid_be: u32, n: u32) -> u32 {
    let mut h = teid_be;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    ((h as u64 * n as u64) >> 32) as u32
}

/// Key of the uplink table: our local TEID as on the wire (`_be`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UplinkKey {
    /// Local (uplink) TEID, network byte order.
    pub teid_be: u32,
}

/// What to do with a packet a PDR matched (its FAR, QERs and URRs compiled). 24 bytes.
///
/// `flags` holds [`ACT_FORWARD`] or [`ACT_DROP`] (and [`ACT_5G`] for a 5G
/// downlink tunnel); an action with neither means "no PDR here": a packet
/// that ends on it is dropped as [`DropReason::NoPdrMatched`]. A drop says
/// why with [`ACT_GATE_CLOSED`] or [`ACT_QUOTA_EXHAUSTED`] (else: the FAR).
/// A forwarded packet first passes the chain of rate meters starting at
/// `meter` ([`names::METERS`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PdrAction {
    /// Index into [`names::SESSION_COUNTERS`] (a "counter slot", one per PDR
    /// or per static session); the PDR counts only its direction's fields.
    pub counter: u32,
    /// [`ACT_FORWARD`] | [`ACT_DROP`] | [`ACT_5G`].
    pub flags: u8,
    /// Downlink: the QFI written into the PDU Session Container (with [`ACT_5G`]).
    pub qfi: u8,
    /// Explicit padding.
    pub _pad: [u8; 2],
    /// Downlink: the outer destination, the peer GTP-U endpoint (gNB / SGW-U) (`_be`).
    pub peer_ipv4_be: u32,
    /// Downlink: the peer's TEID for this tunnel (`_be`).
    pub remote_teid_be: u32,
    /// 0: no rate limit; otherwise the [`names::METERS`] index + 1 of the
    /// first meter of the chain (flow QER, then session, then POI) the
    /// packet must conform to.
    pub meter: u32,
    /// Explicit padding.
    pub _pad2: u32,
}

/// [`PdrAction::flags`]: forward (uplink: decapsulate and route; downlink: encapsulate and route).
pub const ACT_FORWARD: u8 = 1;
/// [`PdrAction::flags`]: the FAR says drop ([`DropReason::FarDrop`]).
pub const ACT_DROP: u8 = 2;
/// [`PdrAction::flags`]: downlink tunnel is 5G N3/N9 (PDU Session Container with [`PdrAction::qfi`]).
pub const ACT_5G: u8 = 4;
/// [`PdrAction::flags`], with [`ACT_DROP`]: a QER's gate is closed ([`DropReason::GateClosed`]).
pub const ACT_GATE_CLOSED: u8 = 8;
/// [`PdrAction::flags`], with [`ACT_DROP`]: a URR's volume or time quota is
/// used up and its quota action is drop ([`DropReason::QuotaExhausted`]).
pub const ACT_QUOTA_EXHAUSTED: u8 = 16;

impl PdrAction {
    /// No PDR: a packet that ends here is dropped as [`DropReason::NoPdrMatched`].
    pub const NONE: PdrAction = PdrAction {
        counter: 0,
        flags: 0,
        qfi: 0,
        _pad: [0; 2],
        peer_ipv4_be: 0,
        remote_teid_be: 0,
        meter: 0,
        _pad2: 0,
    };
}

/// Value of the uplink table ([`names::UPLINK`], key [`UplinkKey`]). 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkEntry {
    /// The UE's IPv4 address (`_be`); the inner source must equal it
    /// (anti-spoofing). 0: no check.
    pub ue_ipv4_be: u32,
    /// 0: no rule set; otherwise the [`names::RULES`] index + 1.
    pub rules: u32,
    /// The action when no rule matches (the catch-all PDR, or [`PdrAction::NONE`]).
    pub default: PdrAction,
}

/// Key of the downlink table: the UE's IPv4 address as on the wire (`_be`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DownlinkKey {
    /// UE IPv4 address, network byte order.
    pub ue_ipv4_be: u32,
}

/// Value of the downlink table ([`names::DOWNLINK`], key [`DownlinkKey`]). 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DownlinkEntry {
    /// Our GTP-U source address for this session's tunnels (`_be`).
    pub local_ipv4_be: u32,
    /// 0: no rule set; otherwise the [`names::RULES`] index + 1.
    pub rules: u32,
    /// The action when no rule matches (the catch-all PDR, or [`PdrAction::NONE`]).
    pub default: PdrAction,
}

/// An SDF filter (and, uplink, a QFI) on the inner packet as it travels:
/// uplink `src` is the UE, downlink `dst` is the UE. 28 bytes.
///
/// Addresses match when `(addr ^ value) & mask == 0`, i.e. `(addr & mask) ==
/// value` for a value stored already masked; mask 0 matches any address.
/// Port ranges are host order and inclusive.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdfMatch {
    /// Source address (`_be`).
    pub src_be: u32,
    /// Source mask (`_be`); 0 = any.
    pub src_mask_be: u32,
    /// Destination address (`_be`).
    pub dst_be: u32,
    /// Destination mask (`_be`); 0 = any.
    pub dst_mask_be: u32,
    /// Lowest source port (host order), with [`M_PORTS`].
    pub sport_lo: u16,
    /// Highest source port (host order, inclusive), with [`M_PORTS`].
    pub sport_hi: u16,
    /// Lowest destination port (host order), with [`M_PORTS`].
    pub dport_lo: u16,
    /// Highest destination port (host order, inclusive), with [`M_PORTS`].
    pub dport_hi: u16,
    /// IP protocol, valid with [`M_PROTO`].
    pub proto: u8,
    /// Uplink: the PDU Session Container's QFI must equal it, valid with
    /// [`M_QFI`]. Downlink packets carry no QFI: the condition is not evaluated there.
    pub qfi: u8,
    /// [`M_PROTO`] | [`M_QFI`] | [`M_PORTS`].
    pub flags: u8,
    /// Explicit padding.
    pub _pad: u8,
}

/// [`SdfMatch::flags`]: the protocol must equal [`SdfMatch::proto`].
pub const M_PROTO: u8 = 1;
/// [`SdfMatch::flags`]: (uplink) the QFI must equal [`SdfMatch::qfi`].
pub const M_QFI: u8 = 2;
/// [`SdfMatch::flags`]: the port ranges apply; a packet without TCP/UDP/SCTP
/// ports (or a non-first fragment) does not match.
pub const M_PORTS: u8 = 4;

impl SdfMatch {
    /// Matches every packet.
    pub const ANY: SdfMatch = SdfMatch {
        src_be: 0,
        src_mask_be: 0,
        dst_be: 0,
        dst_mask_be: 0,
        sport_lo: 0,
        sport_hi: u16::MAX,
        dport_lo: 0,
        dport_hi: u16::MAX,
        proto: 0,
        qfi: 0,
        flags: 0,
        _pad: 0,
    };
}

/// One PDR with filters: its match and its action. 52 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What the packet must look like.
    pub m: SdfMatch,
    /// What happens to it.
    pub action: PdrAction,
}

impl Rule {
    /// A rule that matches nothing useful (any packet, no action): array filler.
    pub const EMPTY: Rule = Rule {
        m: SdfMatch::ANY,
        action: PdrAction::NONE,
    };
}

/// Rules per [`RuleSet`].
pub const MAX_RULES: usize = 8;

/// Value of the [`names::RULES`] array: a session direction's PDRs with
/// filters, sorted by precedence (best first). The fast path takes the first
/// of `rules[..len]` that matches (`len` is clamped to [`MAX_RULES`]), else
/// the entry's `default`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// Number of valid rules.
    pub len: u32,
    /// The rules, best precedence first.
    pub rules: [Rule; MAX_RULES],
}

impl RuleSet {
    /// No rules.
    pub const EMPTY: RuleSet = RuleSet {
        len: 0,
        rules: [Rule::EMPTY; MAX_RULES],
    };
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::EMPTY
    }
}

/// Default size of [`names::RULES`].
pub const DEFAULT_MAX_RULE_SETS: u32 = 16_384;

const _: () = assert!(size_of::<PdrAction>() == 24);
const _: () = assert!(size_of::<UplinkSlot>() == 64);
const _: () = assert!(size_of::<DownlinkSlot>() == 64);
const _: () = assert!(size_of::<UplinkEntry>() == 32);
const _: () = assert!(size_of::<DownlinkEntry>() == 32);
const _: () = assert!(size_of::<SdfMatch>() == 28);
const _: () = assert!(size_of::<Rule>() == 52);
const _: () = assert!(size_of::<Meter>() == 64);
const _: () = assert!(size_of::<RuleSet>() == 4 + 52 * MAX_RULES);

/// Default size of [`names::METERS`].
pub const DEFAULT_MAX_METERS: u32 = 65_536;
/// Longest meter chain the fast path follows (flow QER, session, POI).
pub const MAX_METER_CHAIN: usize = 3;
/// The smallest burst tolerance userspace gives a meter with a rate: the
/// fast path reads the coarse clock (`bpf_ktime_get_coarse_ns`, one tick
/// per jiffy, 4 ms at HZ=250), much cheaper than the precise one; with a
/// tolerance of several ticks the long-run rate is exact and only the
/// burst boundary moves by a tick.
pub const METER_MIN_TAU_NS: u64 = 20_000_000;
/// Fixed-point shift of [`Meter::cost_ns_q16`].
pub const METER_COST_SHIFT: u32 = 16;

/// A rate meter ([`names::METERS`]): the generic cell rate algorithm
/// (ITU-T I.371's virtual scheduling) on bytes, shared by every CPU. 64
/// bytes, one cache line.
///
/// A packet of `n` bytes arriving at `now` (the coarse clock, see
/// [`METER_MIN_TAU_NS`]) conforms when `tat_ns <= now + tau_ns`; it then moves `tat_ns` to `max(tat_ns, now) + n * cost`. The
/// fast path updates `tat_ns` with compare-and-swap, so the rate holds
/// exactly however many CPUs share the meter, and adds the byte counter
/// (and, for a drop, the packet counter) with atomic adds. Userspace writes the configuration fields (`cost_ns_q16`,
/// `tau_ns`, `parent`) in place through the map's memory mapping, each an
/// aligned store, and reads the counters the same way.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meter {
    /// Theoretical arrival time (bpf_ktime_get_ns clock) of the next byte.
    pub tat_ns: u64,
    /// Nanoseconds per byte, shifted left by [`METER_COST_SHIFT`]; 0: no
    /// limit (the meter only counts).
    pub cost_ns_q16: u64,
    /// Burst tolerance: how far `tat_ns` may run ahead of now.
    pub tau_ns: u64,
    /// 0: last of the chain; otherwise the next meter's index + 1.
    pub parent: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// Bytes that conformed to the whole chain (counted on every meter of it).
    pub pass_bytes: u64,
    /// Bytes dropped by this meter or by a meter after it in the chain.
    pub drop_bytes: u64,
    /// Packets dropped by this meter or by a meter after it in the chain.
    pub drop_packets: u64,
    /// Explicit padding to one cache line. (Passed packets are not counted
    /// here: the PDR's per-CPU counters have them, and one atomic add less
    /// per packet is measurable.)
    pub _reserved: u64,
}

impl Meter {
    /// `cost_ns_q16` for a rate in bit/s: `8e9 / bps` ns per byte in Q16,
    /// at least 1 (0 would mean "no limit"). `bps == 0` gives 0 (no limit).
    pub const fn cost_for_bps(bps: u64) -> u64 {
        if bps == 0 {
            return 0;
        }
        let c = (8_000_000_000u128 << METER_COST_SHIFT) / bps as u128;
        if c == 0 {
            1
        } else if c > Meter::MAX_COST as u128 {
            Meter::MAX_COST
        } else {
            c as u64
        }
    }

    /// The rate in bit/s a `cost_ns_q16` stands for (0 for no limit).
    pub const fn bps_for_cost(cost: u64) -> u64 {
        if cost == 0 {
            return 0;
        }
        ((8_000_000_000u128 << METER_COST_SHIFT) / cost as u128) as u64
    }

    /// The cost in ns of `bytes` (a packet, below 2^16) at `cost_ns_q16`
    /// (at most [`Meter::MAX_COST`]): the product fits in 64 bits.
    #[inline(always)]
    pub const fn cost_ns(cost_ns_q16: u64, bytes: u64) -> u64 {
        (bytes.wrapping_mul(cost_ns_q16)) >> METER_COST_SHIFT
    }

    /// The largest `cost_ns_q16` (about 0.5 bit/s): a 64 KiB packet's cost
    /// still fits in 64 bits.
    pub const MAX_COST: u64 = 1 << 47;
}

/// Per-session traffic, one per CPU; bytes are inner IP packet bytes (TS 29.244 §5.2.2).
///
/// Counted when the fast path forwards a packet (or hands an uplink packet to
/// the kernel to forward while the next hop's neighbour resolves); dropped
/// packets are never counted here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Uplink packets forwarded.
    pub ul_packets: u64,
    /// Uplink inner IP bytes forwarded.
    pub ul_bytes: u64,
    /// Downlink packets encapsulated.
    pub dl_packets: u64,
    /// Downlink inner IP bytes encapsulated.
    pub dl_bytes: u64,
}

impl SessionCounters {
    /// Adds another CPU's counters into this one.
    pub fn accumulate(&mut self, other: &SessionCounters) {
        self.ul_packets = self.ul_packets.wrapping_add(other.ul_packets);
        self.ul_bytes = self.ul_bytes.wrapping_add(other.ul_bytes);
        self.dl_packets = self.dl_packets.wrapping_add(other.dl_packets);
        self.dl_bytes = self.dl_bytes.wrapping_add(other.dl_bytes);
    }
}

/// Per-port traffic as received, one per CPU, with the verdicts taken on it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received (whole frames).
    pub rx_bytes: u64,
    /// Frames redirected to another (or the same) port.
    pub redirected: u64,
    /// Frames sent back out of the same port with XDP_TX.
    pub tx: u64,
    /// Frames handed to the kernel.
    pub passed: u64,
    /// Frames dropped.
    pub dropped: u64,
}

impl PortCounters {
    /// Adds another CPU's counters into this one.
    pub fn accumulate(&mut self, other: &PortCounters) {
        self.rx_packets = self.rx_packets.wrapping_add(other.rx_packets);
        self.rx_bytes = self.rx_bytes.wrapping_add(other.rx_bytes);
        self.redirected = self.redirected.wrapping_add(other.redirected);
        self.tx = self.tx.wrapping_add(other.tx);
        self.passed = self.passed.wrapping_add(other.passed);
        self.dropped = self.dropped.wrapping_add(other.dropped);
    }
}

/// Most configured POIs the fast path counts apart; traffic of peers in no
/// POI is counted at index [`MAX_POIS`] ("unassigned").
pub const MAX_POIS: usize = 16;
/// Most peer prefixes of all POIs together.
pub const MAX_POI_PREFIXES: usize = 64;

/// The POIs' GTP-U peer prefixes, set by the loader (`.rodata`, frozen),
/// longest prefix first: the first that holds a peer names its POI.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoiPrefixes {
    /// Entries in use.
    pub num: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// Network address (`_be`, masked).
    pub net_be: [u32; MAX_POI_PREFIXES],
    /// Netmask (`_be`).
    pub mask_be: [u32; MAX_POI_PREFIXES],
    /// The POI index (below [`MAX_POIS`]).
    pub poi: [u8; MAX_POI_PREFIXES],
}

impl PoiPrefixes {
    /// No POI: all traffic is unassigned.
    pub const NONE: PoiPrefixes = PoiPrefixes {
        num: 0,
        _pad: 0,
        net_be: [0; MAX_POI_PREFIXES],
        mask_be: [0; MAX_POI_PREFIXES],
        poi: [0; MAX_POI_PREFIXES],
    };

    /// The POI index of `peer_be`, [`MAX_POIS`] when no prefix holds it.
    /// `entry(i)` reads prefix `i` as `(net_be, mask_be, poi)`.
    #[inline(always)]
    pub fn scan(num: u32, peer_be: u32, entry: impl Fn(usize) -> (u32, u32, u8)) -> usize {
        let mut hit = MAX_POIS;
        if first_prefix::<MAX_POI_PREFIXES>(num, peer_be, |i| {
            let (net, mask, poi) = entry(i);
            hit = (poi as usize).min(MAX_POIS);
            (net, mask)
        })
        .is_none()
        {
            return MAX_POIS;
        }
        hit
    }

    /// [`PoiPrefixes::scan`] over this value.
    pub fn of(&self, peer_be: u32) -> usize {
        PoiPrefixes::scan(self.num, peer_be, |i| {
            (self.net_be[i], self.mask_be[i], self.poi[i])
        })
    }
}

/// The first of the `num` (at most `MAX`) prefixes `entry(i)` gives as
/// `(net, mask)` (masked network, in the byte order of `addr`) that holds
/// `addr`. The bounded loop every prefix table of the fast path scans with
/// (GTP-U peers, UE prefixes, POI peers), on the host and in XDP alike.
#[inline(always)]
pub fn first_prefix<const MAX: usize>(
    num: u32,
    addr: u32,
    mut entry: impl FnMut(usize) -> (u32, u32),
) -> Option<usize> {
    let mut i = 0;
    while i < MAX {
        if i as u32 >= num {
            return None;
        }
        let (net, mask) = entry(i);
        if addr & mask == net {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Declares a `#[repr(u32)]` enum of named counter slots with `ALL`, `COUNT` and `name()`.
macro_rules! slots {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $label:literal,)* }) => {
        $(#[$meta])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }
        impl $name {
            /// Every slot, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// Number of slots (the map's `max_entries`).
            pub const COUNT: u32 = $name::ALL.len() as u32;
            /// Stable snake_case name, used in metrics and CLI output.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }
            /// The map index of this slot.
            #[inline(always)]
            pub const fn index(self) -> u32 { self as u32 }
        }
    };
}

slots! {
    /// Named global counters of the fast path ([`Stats::counters`]), per CPU.
    pub enum Counter {
        /// Frames seen on any configured port.
        RxFrames = "rx_frames",
        /// Uplink G-PDUs decapsulated and routed.
        UplinkForwarded = "uplink_forwarded",
        /// Inner IP bytes of uplink G-PDUs forwarded.
        UplinkBytes = "uplink_bytes",
        /// Downlink packets encapsulated and routed.
        DownlinkForwarded = "downlink_forwarded",
        /// Inner IP bytes of downlink packets encapsulated.
        DownlinkBytes = "downlink_bytes",
        /// GTP-U Echo Requests answered in XDP.
        EchoReplied = "echo_replied",
        /// End Markers received on a known tunnel and consumed (TS 29.281 §7.3.2).
        EndMarkerConsumed = "end_marker_consumed",
        /// GTP-U signalling handed to userspace (Error Indication, Echo Response, notifications).
        GtpSignallingPassed = "gtp_signalling_passed",
        /// Frames that are not ours (ARP, ND, PFCP, SSH, other addresses), handed to the kernel.
        NotOursPassed = "not_ours_passed",
        /// Uplink packets handed to the kernel because the next hop's neighbour entry is missing.
        UplinkNeighPassed = "uplink_neigh_passed",
        /// Downlink packets handed to the kernel because the next hop's neighbour entry is missing.
        DownlinkNeighPassed = "downlink_neigh_passed",
        /// Tunnel traffic handed to the kernel to handle: TTL expiring (ICMP), MTU exceeded, a local destination.
        SlowPathPassed = "slow_path_passed",
        /// Frames received on an interface that is not a configured port.
        UnknownPortPassed = "unknown_port_passed",
        /// Uplink G-PDUs redirected to their TEID's CPU (`gateway.spread = "teid"`),
        /// counted on the receiving CPU, which does not count them as rx: the
        /// target CPU does (every frame is counted once in `rx_frames`).
        SteeredToCpu = "steered_to_cpu",
    }
}

slots! {
    /// Why the fast path dropped a packet ([`Stats::drops`]), per CPU.
    pub enum DropReason {
        /// The frame ends inside a header.
        Truncated = "truncated",
        /// Outer IPv4 header malformed (IHL < 5, total length inconsistent).
        BadIpv4Header = "bad_ipv4_header",
        /// GTP-U header malformed (version, PT, length).
        BadGtpHeader = "bad_gtp_header",
        /// GTP-U extension header with length 0 or running past the packet.
        BadExtensionHeader = "bad_extension_header",
        /// GTP-U extension header chain longer than the fast path follows.
        ExtensionChainTooLong = "extension_chain_too_long",
        /// Unknown extension header whose type says comprehension is required (TS 29.281 §5.2.1).
        UnsupportedExtensionHeader = "unsupported_extension_header",
        /// PDU Session Container with a PDU type the fast path does not know.
        BadPduSessionContainer = "bad_pdu_session_container",
        /// GTP-U message type unknown (TS 29.281 §7.1: silently discarded).
        UnknownGtpMessage = "unknown_gtp_message",
        /// G-PDU whose TEID matches no session.
        UnknownTeid = "unknown_teid",
        /// G-PDU carrying something other than an IPv4 packet (IPv6 and Ethernet PDUs: not yet).
        UnsupportedInnerProtocol = "unsupported_inner_protocol",
        /// Inner IPv4 header malformed.
        BadInnerHeader = "bad_inner_header",
        /// Inner source address is not the session's UE address (anti-spoofing).
        SpoofedSource = "spoofed_source",
        /// Outer IPv4 fragment addressed to our GTP-U port (reassembly is not done in XDP).
        OuterFragment = "outer_fragment",
        /// The route to the destination is a blackhole, unreachable or prohibited.
        NoRoute = "no_route",
        /// The route leaves through an interface that is not a configured port.
        EgressNotPort = "egress_not_port",
        /// Downlink: the peer's neighbour entry is missing (userspace's GTP-U echo to each peer resolves it).
        NeighbourMissing = "neighbour_missing",
        /// Downlink: the encapsulated packet would exceed the N3 path MTU.
        TunnelMtuExceeded = "tunnel_mtu_exceeded",
        /// A helper (adjust_head, adjust_tail) failed.
        HelperFailed = "helper_failed",
        /// End Marker or other signalling for a TEID with no session.
        UnknownTeidSignalling = "unknown_teid_signalling",
        /// The session was found but no rule and no default PDR matched the packet.
        NoPdrMatched = "no_pdr_matched",
        /// The matched PDR's FAR says drop.
        FarDrop = "far_drop",
        /// A QER of the matched PDR has its gate closed for this direction.
        GateClosed = "gate_closed",
        /// A URR of the matched PDR used up its quota and its quota action is drop.
        QuotaExhausted = "quota_exhausted",
        /// The packet exceeds a rate meter (QER MBR, session cap or POI capacity).
        RateExceeded = "rate_exceeded",
        /// GTP-U to our N3 address from a source outside the host network's
        /// peer prefixes ([`names::GTPU_PEERS`], [`FLAG_PEER_FILTER`]).
        UnknownGtpuPeer = "unknown_gtpu_peer",
        /// The session's direct-table slot was being rewritten by userspace
        /// on both reads (its writer was preempted mid-update): the packet
        /// cannot be matched against a consistent entry.
        EntryBusy = "entry_busy",
    }
}

/// The fast path's own counters on one CPU ([`names::STATS`], one value
/// per CPU): looked up once per packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Indexed by [`Counter`].
    pub counters: [u64; Counter::COUNT as usize],
    /// Indexed by [`DropReason`].
    pub drops: [u64; DropReason::COUNT as usize],
    /// Per port (configured interface), as received.
    pub ports: [PortCounters; MAX_PORTS],
    /// Per POI ([`PoiPrefixes`]; [`MAX_POIS`]: unassigned): inner IP
    /// packets and bytes forwarded, as a session's counters count them.
    pub pois: [SessionCounters; MAX_POIS + 1],
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            counters: [0; Counter::COUNT as usize],
            drops: [0; DropReason::COUNT as usize],
            ports: [PortCounters::default(); MAX_PORTS],
            pois: [SessionCounters::default(); MAX_POIS + 1],
        }
    }
}

impl Stats {
    /// Adds another CPU's counters into this one.
    pub fn accumulate(&mut self, other: &Stats) {
        for (a, b) in self.counters.iter_mut().zip(&other.counters) {
            *a = a.wrapping_add(*b);
        }
        for (a, b) in self.drops.iter_mut().zip(&other.drops) {
            *a = a.wrapping_add(*b);
        }
        for (a, b) in self.ports.iter_mut().zip(&other.ports) {
            a.accumulate(b);
        }
        for (a, b) in self.pois.iter_mut().zip(&other.pois) {
            a.accumulate(b);
        }
    }
}

/// Per-slot XDP verdict codes as the kernel defines them (include/uapi/linux/bpf.h).
pub mod xdp_action {
    /// A program bug; never returned on purpose.
    pub const ABORTED: u32 = 0;
    /// Drop the frame.
    pub const DROP: u32 = 1;
    /// Hand the frame to the kernel stack.
    pub const PASS: u32 = 2;
    /// Send the frame back out of the interface it came in on.
    pub const TX: u32 = 3;
    /// Send the frame out of the interface chosen by a redirect helper.
    pub const REDIRECT: u32 = 4;
}

/// Plain old data: a map key or value whose bytes are the value, so it
/// can be copied to and from a byte buffer (the session store keeps
/// compiled rules this way) without a BPF library.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` `Copy` types made of integers and arrays
/// of integers with all padding explicit: every bit pattern is then a valid
/// value and every byte is initialised.
pub unsafe trait Plain: Copy + 'static {
    /// The value's bytes.
    fn to_bytes(&self) -> &[u8] {
        // SAFETY: Plain types have no uninitialised bytes (see the trait).
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, size_of::<Self>()) }
    }

    /// A value from exactly `size_of::<Self>()` bytes; `None` for another length.
    fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != size_of::<Self>() {
            return None;
        }
        // SAFETY: `b` holds exactly size_of::<Self>() bytes and every bit
        // pattern is a valid value (see the trait); read_unaligned needs no
        // alignment.
        Some(unsafe { core::ptr::read_unaligned(b.as_ptr() as *const Self) })
    }
}

/// One list of the plain types: `Plain` always, `aya::Pod` for userspace.
macro_rules! plain {
    ($($t:ty),* $(,)?) => {
        // SAFETY (for every impl): each type is #[repr(C)], Copy, made only
        // of integers and arrays of integers, with all padding explicit, so
        // every bit pattern is a valid value and the bytes hold no
        // uninitialised padding.
        $(
            #[allow(clippy::undocumented_unsafe_blocks)]
            unsafe impl Plain for $t {}
            #[cfg(feature = "user")]
            #[allow(clippy::undocumented_unsafe_blocks)]
            unsafe impl aya::Pod for $t {}
        )*
    };
}

plain!(
    Globals,
    Spread,
    GtpuPeers,
    UplinkKey,
    UplinkEntry,
    DownlinkKey,
    DownlinkEntry,
    PdrAction,
    SdfMatch,
    Rule,
    RuleSet,
    SessionCounters,
    PortCounters,
    NextHop,
    Meter,
    UePrefixes,
    UplinkSlot,
    DownlinkSlot,
    PoiPrefixes,
    Stats,
);

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn gtpu_peers_match_their_prefixes_only() {
        let mut p = GtpuPeers::NONE;
        assert!(!p.contains(0), "no prefix, nothing matches");
        let be = |a: [u8; 4]| u32::from_be_bytes(a).to_be();
        // 10.100.0.0/30 and 192.0.2.7/32
        p.net_be[0] = be([10, 100, 0, 0]);
        p.mask_be[0] = be([255, 255, 255, 252]);
        p.net_be[1] = be([192, 0, 2, 7]);
        p.mask_be[1] = be([255, 255, 255, 255]);
        p.num = 2;
        for (a, want) in [
            ([10, 100, 0, 2], true),
            ([10, 100, 0, 3], true),
            ([10, 100, 0, 4], false),
            ([192, 0, 2, 7], true),
            ([192, 0, 2, 8], false),
        ] {
            assert_eq!(p.contains(be(a)), want, "{a:?}");
        }
        // Entries past `num` are ignored.
        p.num = 1;
        assert!(!p.contains(be([192, 0, 2, 7])));
    }

    #[test]
    fn layouts_are_stable() {
        // The XDP program and userspace must agree; these sizes are the ABI.
        assert_eq!(
            size_of::<Globals>(),
            4 + 4 + 4 * MAX_PORTS + MAX_PORTS + 4 + 4 * 5
        );
        assert_eq!(size_of::<UePrefixes>(), 8 + 12 * MAX_UE_PREFIXES);
        assert_eq!(size_of::<PoiPrefixes>(), 8 + 9 * MAX_POI_PREFIXES);
        assert_eq!(size_of::<Stats>() % 8, 0);
        assert_eq!(size_of::<Globals>() % 8, 0);
        assert_eq!(size_of::<Spread>(), 8 + 4 * MAX_SPREAD_CPUS);
        assert_eq!(size_of::<GtpuPeers>(), 8 + 8 * MAX_GTPU_PEERS as usize);
        assert_eq!(size_of::<PdrAction>(), 24);
        assert_eq!(size_of::<UplinkEntry>(), 32);
        assert_eq!(size_of::<DownlinkEntry>(), 32);
        assert_eq!(size_of::<SdfMatch>(), 28);
        assert_eq!(size_of::<Rule>(), 52);
        assert_eq!(size_of::<RuleSet>(), 420);
        assert_eq!(size_of::<Meter>(), 64);
        assert_eq!(size_of::<SessionCounters>(), 32);
        assert_eq!(size_of::<PortCounters>(), 48);
        assert_eq!(size_of::<NextHop>(), 24);
    }

    #[test]
    fn slot_names_are_unique_and_indexed_in_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index() as usize, i);
            assert!(Counter::ALL[..i].iter().all(|o| o.name() != c.name()));
        }
        for (i, d) in DropReason::ALL.iter().enumerate() {
            assert_eq!(d.index() as usize, i);
            assert!(DropReason::ALL[..i].iter().all(|o| o.name() != d.name()));
        }
        assert_eq!(DropReason::COUNT as usize, DropReason::ALL.len());
    }

    #[test]
    fn spread_slot_is_in_range_and_mixes_sequential_teids() {
        assert_eq!(spread_slot(0x1234_5678, 1), 0);
        for n in 1..=8u32 {
            let mut hist = [0u32; 8];
            for teid in 0x0010_0000u32..0x0010_0000 + 8000 {
                let s = spread_slot(teid.to_be(), n);
                assert!(s < n);
                hist[s as usize] += 1;
            }
            // Sequential TEIDs: every slot within 10 % of fair.
            let fair = 8000 / n;
            for &h in &hist[..n as usize] {
                assert!(h.abs_diff(fair) * 10 <= fair, "n={n} {hist:?}");
            }
        }
    }
}
