//! The program proper (bpfel only).
#![allow(unsafe_op_in_unsafe_fn)]

use aya_ebpf::{
    bindings::{bpf_fib_lookup as FibParams, xdp_action},
    helpers::{bpf_fib_lookup, bpf_get_smp_processor_id, bpf_xdp_adjust_head, bpf_xdp_adjust_tail},
    macros::{map, xdp},
    maps::{lpm_trie::Key as LpmKey, Array, DevMapHash, HashMap, LpmTrie, PerCpuArray},
    programs::XdpContext,
};
use upf_abi::{
    Counter, DownlinkEntry, DownlinkKey, DownlinkSlot, DropReason, Globals, GtpuPeers, Meter,
    NextHop, PdrAction, PoiPrefixes, RuleSet, SessionCounters, Stats, UePrefixes, UplinkEntry,
    UplinkKey, UplinkSlot, ACT_5G, ACT_DROP, ACT_FORWARD, ACT_GATE_CLOSED, ACT_QUOTA_EXHAUSTED,
    DEFAULT_MAX_METERS, DEFAULT_MAX_RULE_SETS, DEFAULT_MAX_SESSIONS, FLAG_FIB_ONLY,
    FLAG_NO_ANTI_SPOOFING, FLAG_PEER_FILTER, GTPU_PORT, MAX_NEXTHOPS, MAX_NH_NEIGH, MAX_NH_ROUTES,
    MAX_PORTS, M_QFI, NH_ONLINK, NH_VALID, ROLE_N3, ROLE_N6,
};
use upf_fastpath::{
    eth::{self, L2},
    gtpu::{self, EchoResponse, Gtpu, Tunnel},
    ipv4::{self, Ipv4},
    mem::{advance, load, store},
    pdr::{self, Flow},
    Frame,
};

// ---- maps (names and types from upf-abi; sizes overridden by the loader) ----

/// The fallbacks of the direct tables (not preallocated: memory only for
/// the entries they hold).
#[map]
static UPLINK: HashMap<UplinkKey, UplinkEntry> =
    HashMap::with_max_entries(DEFAULT_MAX_SESSIONS, BPF_F_NO_PREALLOC);
#[map]
static DOWNLINK: HashMap<DownlinkKey, DownlinkEntry> =
    HashMap::with_max_entries(DEFAULT_MAX_SESSIONS, BPF_F_NO_PREALLOC);
/// The direct tables: one cache line per session direction, written by
/// userspace through a memory mapping under a per-slot seqlock.
#[map]
static UL_TABLE: Array<UplinkSlot> = Array::with_max_entries(1, BPF_F_MMAPABLE);
#[map]
static DL_TABLE: Array<DownlinkSlot> = Array::with_max_entries(1, BPF_F_MMAPABLE);
#[map]
static RULES: Array<RuleSet> = Array::with_max_entries(DEFAULT_MAX_RULE_SETS, 0);
/// One row of `counter_slots` per CPU (upf_abi::names::SESSION_COUNTERS).
#[map]
static SESSION_COUNTERS: Array<SessionCounters> =
    Array::with_max_entries(DEFAULT_MAX_SESSIONS, BPF_F_MMAPABLE);
/// One row of `touched_words` bits per CPU (upf_abi::names::TOUCHED).
#[map]
static TOUCHED: Array<u64> = Array::with_max_entries(1, BPF_F_MMAPABLE);
/// Shared by every CPU and memory-mapped by userspace (BPF_F_MMAPABLE).
#[map]
static METERS: Array<Meter> = Array::with_max_entries(DEFAULT_MAX_METERS, BPF_F_MMAPABLE);
/// Global, drop, port and POI counters: one value per CPU, one lookup per packet.
#[map]
static STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(1, 0);
#[map]
static EGRESS: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS as u32, 0);
#[map]
static NH_ROUTES: LpmTrie<u32, u32> = LpmTrie::with_max_entries(MAX_NH_ROUTES, 0);
#[map]
static NEXTHOPS: Array<NextHop> = Array::with_max_entries(MAX_NEXTHOPS, 0);
#[map]
static NH_NEIGH: HashMap<u32, NextHop> = HashMap::with_max_entries(MAX_NH_NEIGH, 0);
/// The host network's GTP-U peer prefixes (loader-set, frozen).
#[no_mangle]
static UPF_GTPU_PEERS: GtpuPeers = GtpuPeers::NONE;

/// Set by the loader (`.rodata`, frozen): the verifier sees the values as constants.
#[no_mangle]
static UPF_GLOBALS: Globals = Globals::ZERO;

/// The POIs' peer prefixes (loader-set, frozen).
#[no_mangle]
static UPF_POI_PREFIXES: PoiPrefixes = PoiPrefixes::NONE;

/// The UE prefixes DL_TABLE covers (loader-set, frozen).
#[no_mangle]
static UPF_UE_PREFIXES: UePrefixes = UePrefixes::NONE;

const AF_INET: u8 = 2;
const BPF_F_MMAPABLE: u32 = 1 << 10;
const BPF_F_NO_PREALLOC: u32 = 1;
const FIB_SUCCESS: i64 = 0;
const FIB_BLACKHOLE: i64 = 1;
const FIB_UNREACHABLE: i64 = 2;
const FIB_PROHIBIT: i64 = 3;
const FIB_NO_NEIGH: i64 = 7;
const FIB_FRAG_NEEDED: i64 = 8;

type Verdict = Result<u32, DropReason>;

/// The globals the per-packet path uses after the port lookup, and this
/// CPU's counters (looked up once).
#[derive(Clone, Copy)]
struct G {
    n3_ipv4_be: u32,
    flags: u32,
    st: *mut Stats,
}

/// Adds `n` to global counter `c` of this CPU.
#[inline(always)]
fn count(g: &G, c: Counter, n: u64) {
    // SAFETY: g.st is this CPU's STATS value; only this CPU writes it while
    // the program runs.
    if let Some(p) = unsafe { (*g.st).counters.get_mut(c.index() as usize) } {
        *p += n;
    }
}

/// Counts a drop for reason `r` on this CPU.
#[inline(always)]
fn count_drop(g: &G, r: DropReason) {
    // SAFETY: as in `count`.
    if let Some(p) = unsafe { (*g.st).drops.get_mut(r.index() as usize) } {
        *p += 1;
    }
}

/// Counts a forwarded packet of `bytes` (inner IP) on POI `poi` of this CPU.
#[inline(always)]
fn count_poi(g: &G, poi: usize, uplink: bool, bytes: u64) {
    // SAFETY: as in `count`.
    if let Some(c) = unsafe { (*g.st).pois.get_mut(poi) } {
        if uplink {
            c.ul_packets += 1;
            c.ul_bytes += bytes;
        } else {
            c.dl_packets += 1;
            c.dl_bytes += bytes;
        }
    }
}

/// The POI of GTP-U peer `peer_be` (upf_abi::PoiPrefixes over the frozen
/// global; MAX_POIS: unassigned).
#[inline(always)]
fn poi_of(peer_be: u32) -> usize {
    // SAFETY: a plain read of our own frozen .rodata.
    let num = unsafe { core::ptr::read_volatile(&UPF_POI_PREFIXES.num) };
    PoiPrefixes::scan(num, peer_be, |i| {
        // SAFETY: as above; `scan` keeps i below MAX_POI_PREFIXES, the
        // arrays' length.
        unsafe {
            (
                core::ptr::read_volatile(UPF_POI_PREFIXES.net_be.get_unchecked(i)),
                core::ptr::read_volatile(UPF_POI_PREFIXES.mask_be.get_unchecked(i)),
                core::ptr::read_volatile(UPF_POI_PREFIXES.poi.get_unchecked(i)),
            )
        }
    })
}

/// The entry point for every port.
#[xdp]
pub fn upf(ctx: XdpContext) -> u32 {
    fast_path(ctx, true)
}

/// The body of `upf` and of `upf_cpumap`; only the entry program steers.
#[inline(always)]
fn fast_path(ctx: XdpContext, entry: bool) -> u32 {
    // SAFETY: ctx.ctx is the kernel's xdp_md for this run.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    let Some(st) = STATS.get_ptr_mut(0) else {
        return xdp_action::XDP_PASS;
    };
    // Only the fields needed, each read once from our frozen .rodata (the
    // volatile reads keep LLVM from folding the placeholder values; copying
    // the whole struct cost a load and a store per word on every packet).
    // SAFETY: plain reads of our own static.
    let num_ports = unsafe { core::ptr::read_volatile(&UPF_GLOBALS.num_ports) };
    let mut port = MAX_PORTS;
    let mut i = 0;
    while i < MAX_PORTS {
        // SAFETY: as above.
        if (i as u32) < num_ports
            && unsafe { core::ptr::read_volatile(&UPF_GLOBALS.port_ifindex[i]) } == ifindex
        {
            port = i;
            break;
        }
        i += 1;
    }
    // SAFETY: as above.
    let g = unsafe {
        G {
            n3_ipv4_be: core::ptr::read_volatile(&UPF_GLOBALS.n3_ipv4_be),
            flags: core::ptr::read_volatile(&UPF_GLOBALS.flags),
            st,
        }
    };
    if port >= MAX_PORTS {
        count(&g, Counter::UnknownPortPassed, 1);
        return xdp_action::XDP_PASS;
    }
    // SAFETY: as above; port < MAX_PORTS.
    let roles = unsafe { core::ptr::read_volatile(&UPF_GLOBALS.port_roles[port]) };
    if entry {
        if let Some(v) = steer(&ctx, &g, roles) {
            return v;
        }
    }
    let frame_len = (ctx.data_end() - ctx.data()) as u64;
    count(&g, Counter::RxFrames, 1);
    let verdict = match process(&ctx, &g, roles, ifindex) {
        Ok(v) => v,
        Err(r) => {
            count_drop(&g, r);
            xdp_action::XDP_DROP
        }
    };
    // SAFETY: as in `count`.
    if let Some(pc) = unsafe { (*g.st).ports.get_mut(port) } {
        pc.rx_packets += 1;
        pc.rx_bytes += frame_len;
        match verdict {
            xdp_action::XDP_REDIRECT => pc.redirected += 1,
            xdp_action::XDP_TX => pc.tx += 1,
            xdp_action::XDP_PASS => pc.passed += 1,
            _ => pc.dropped += 1,
        }
    }
    verdict
}

/// A program that passes everything: attached to veth peers in native mode,
/// whose XDP_TX/REDIRECT frames the kernel drops unless the receiving peer has
/// an XDP program (veth's XDP_TX toward a peer without one is dropped).
#[xdp]
pub fn upf_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Benchmark floor (bench/, `xdp-bench`): drops everything. Under
/// BPF_PROG_TEST_RUN its figure is the cost of the test-run loop itself,
/// which the benchmark subtracts from every other case.
#[xdp]
pub fn bench_drop(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_DROP
}

/// Benchmark floor: the least a forwarding XDP program does, swap the
/// Ethernet addresses and send the frame back (XDP_TX). The uplink goal is
/// stated as a ratio to this program's cost.
#[xdp]
pub fn bench_tx(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    // SAFETY: [start, end) is this run's packet; load checks the bounds.
    let Some(macs) = (unsafe { load::<12>(start, end) }) else {
        return xdp_action::XDP_DROP;
    };
    let mut swapped = [0u8; 12];
    swapped[..6].copy_from_slice(&macs[6..]);
    swapped[6..].copy_from_slice(&macs[..6]);
    // SAFETY: as above; store checks the bounds.
    if unsafe { store(start, end, swapped) } {
        xdp_action::XDP_TX
    } else {
        xdp_action::XDP_DROP
    }
}

#[inline(always)]
fn frame(ctx: &XdpContext) -> Frame {
    Frame {
        start: ctx.data(),
        end: ctx.data_end(),
    }
}

#[inline(always)]
fn process(ctx: &XdpContext, g: &G, roles: u8, ifindex: u32) -> Verdict {
    let f = frame(ctx);
    // SAFETY (all fastpath calls): [f.start, f.end) is this run's packet.
    let l2 = unsafe { eth::parse(f) }?;
    if l2.ethertype != eth::ETHERTYPE_IPV4 {
        count(g, Counter::NotOursPassed, 1);
        return Ok(xdp_action::XDP_PASS);
    }
    let ip = unsafe { ipv4::parse(l2.l3, f.end) }?;
    if roles & ROLE_N3 != 0 && ip.dst_be == g.n3_ipv4_be && ip.proto == ipv4::PROTO_UDP {
        let udp = advance(l2.l3, ip.header_len);
        if ip.frag & 0x1fff == 0 {
            let u = unsafe { load::<8>(udp, f.end) }.ok_or(DropReason::Truncated)?;
            if u16::from_be_bytes([u[2], u[3]]) == GTPU_PORT {
                if ip.is_fragment() {
                    return Err(DropReason::OuterFragment);
                }
                let sport = u16::from_be_bytes([u[0], u[1]]);
                let gtp_start = advance(udp, gtpu::UDP_LEN);
                let hdr = unsafe { gtpu::parse(gtp_start, f.end) }?;
                return gtp(ctx, g, &l2, &ip, sport, gtp_start, &hdr, ifindex);
            }
        }
    }
    if roles & ROLE_N6 != 0 {
        if let Some(e) = downlink_entry(ip.dst_be)? {
            return downlink(ctx, g, &l2, &ip, &e, ifindex);
        }
    }
    count(g, Counter::NotOursPassed, 1);
    Ok(xdp_action::XDP_PASS)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gtp(
    ctx: &XdpContext,
    g: &G,
    l2: &L2,
    ip: &Ipv4,
    sport: u16,
    gtp_start: usize,
    hdr: &Gtpu,
    ifindex: u32,
) -> Verdict {
    // Only the host network's peers may send us GTP-U (gateway.gtpu_peers).
    if g.flags & FLAG_PEER_FILTER != 0 && !gtpu_peer_known(ip.src_be) {
        return Err(DropReason::UnknownGtpuPeer);
    }
    match hdr.msg_type {
        gtpu::MSG_G_PDU => uplink(ctx, g, l2, ip.src_be, gtp_start, hdr, ifindex),
        gtpu::MSG_ECHO_REQUEST => echo(ctx, g, l2, ip, sport, hdr),
        gtpu::MSG_END_MARKER => {
            // TS 29.281 §7.3.2: the end of a tunnel's G-PDUs; the PSA has no
            // reordering to do, so a known tunnel's marker is consumed.
            // SAFETY: existence check only.
            if uplink_entry(hdr.teid_be)?.is_some() {
                count(g, Counter::EndMarkerConsumed, 1);
                Ok(xdp_action::XDP_DROP)
            } else {
                Err(DropReason::UnknownTeidSignalling)
            }
        }
        gtpu::MSG_ECHO_RESPONSE
        | gtpu::MSG_ERROR_INDICATION
        | gtpu::MSG_SUPPORTED_EXT_HEADERS
        | gtpu::MSG_TUNNEL_STATUS => {
            count(g, Counter::GtpSignallingPassed, 1);
            Ok(xdp_action::XDP_PASS)
        }
        _ => Err(DropReason::UnknownGtpMessage),
    }
}

/// True when `src_be` is inside one of the GTP-U peer prefixes
/// ([`GtpuPeers::scan`] over the frozen global, read volatile).
#[inline(always)]
fn gtpu_peer_known(src_be: u32) -> bool {
    // SAFETY: a plain read of our own frozen .rodata.
    let num = unsafe { core::ptr::read_volatile(&UPF_GTPU_PEERS.num) };
    GtpuPeers::scan(num, src_be, |i| {
        // SAFETY: as above; `scan` keeps i below MAX_GTPU_PEERS, the
        // arrays' length (unchecked: the closure alone cannot prove it, and
        // a bounds-check panic path is no valid BPF).
        unsafe {
            (
                core::ptr::read_volatile(UPF_GTPU_PEERS.net_be.get_unchecked(i)),
                core::ptr::read_volatile(UPF_GTPU_PEERS.mask_be.get_unchecked(i)),
            )
        }
    })
}

#[inline(always)]
fn fib_params(
    ifindex: u32,
    tos: u8,
    proto: u8,
    tot_len: u16,
    src_be: u32,
    dst_be: u32,
) -> FibParams {
    // SAFETY: the struct is plain integers and unions of integers; zero is valid.
    let mut p: FibParams = unsafe { core::mem::zeroed() };
    p.family = AF_INET;
    p.l4_protocol = proto;
    p.ifindex = ifindex;
    p.__bindgen_anon_1.tot_len = tot_len;
    p.__bindgen_anon_2.tos = tos;
    p.__bindgen_anon_3.ipv4_src = src_be;
    p.__bindgen_anon_4.ipv4_dst = dst_be;
    p
}

#[inline(always)]
fn fib(ctx: &XdpContext, p: &mut FibParams) -> i64 {
    // SAFETY: p is a valid, fully initialised bpf_fib_lookup on our stack.
    unsafe {
        bpf_fib_lookup(
            ctx.ctx as *mut _,
            p as *mut FibParams,
            size_of::<FibParams>() as i32,
            0,
        )
    }
}

/// The next-hop cache: the resolved next hop toward `dst_be` for an IP packet
/// of `len` bytes, or `None` when `bpf_fib_lookup` must decide (cache off,
/// no route entry, a route marked fallback, an on-link destination without a
/// cached neighbour, an invalidated entry, a packet above the egress MTU).
#[inline(always)]
fn cached(flags: u32, dst_be: u32, len: u32) -> Option<NextHop> {
    if flags & FLAG_FIB_ONLY != 0 {
        return None;
    }
    let id = *NH_ROUTES.get(LpmKey::new(32, dst_be))?;
    let nh = if id == NH_ONLINK {
        // SAFETY: the value is copied out at once.
        unsafe { NH_NEIGH.get(&dst_be) }?
    } else {
        // NH_FALLBACK is index 0, which userspace never marks valid.
        NEXTHOPS.get(id)?
    };
    let nh = *nh;
    if nh.flags & NH_VALID == 0 || len > nh.mtu {
        return None;
    }
    Some(nh)
}

/// Sends the rewritten frame out of `egress`: XDP_TX when it is the ingress
/// port, otherwise a devmap redirect (which fails for non-ports).
#[inline(always)]
fn transmit(egress: u32, ifindex: u32) -> Verdict {
    if egress == ifindex {
        return Ok(xdp_action::XDP_TX);
    }
    EGRESS
        .redirect(egress, xdp_action::XDP_DROP as u64)
        .map_err(|_| DropReason::EgressNotPort)
}

/// Moves the start of the frame by `delta` (positive shrinks the head).
#[inline(always)]
fn adjust_head(ctx: &XdpContext, delta: i32) -> Result<Frame, DropReason> {
    // SAFETY: the helper validates delta against the frame's head- and tailroom.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) } != 0 {
        return Err(DropReason::HelperFailed);
    }
    Ok(frame(ctx))
}

/// Cuts the frame to `len` bytes if it is longer (link-layer padding).
#[inline(always)]
fn trim(ctx: &XdpContext, f: Frame, len: usize) -> Result<Frame, DropReason> {
    let have = f.end - f.start;
    if have > len {
        // SAFETY: shrinking only; the helper validates the delta.
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, -((have - len) as i32)) } != 0 {
            return Err(DropReason::HelperFailed);
        }
        return Ok(frame(ctx));
    }
    Ok(f)
}

/// The action a PDR gives this packet: without a rule set (the common case,
/// one catch-all PDR per direction) the entry's default, with no further
/// lookup; otherwise the first matching rule, best precedence first. The
/// inner L4 ports are read only here, once, before the loop.
///
/// # Safety
/// `[ip_start, end)` must be readable (the packet).
#[inline(always)]
unsafe fn select(
    rules: u32,
    default: &PdrAction,
    ip_start: usize,
    ip: &Ipv4,
    end: usize,
    qfi: u8,
    ignore: u8,
) -> PdrAction {
    if rules == 0 {
        return *default;
    }
    let Some(set) = RULES.get(rules - 1) else {
        return *default;
    };
    // SAFETY: forwarded contract.
    let ports = unsafe { pdr::ports(ip_start, ip, end) };
    let flow = Flow::new(ip, ports, qfi, ignore);
    pdr::select(set, &flow, default)
}

/// `Err` for an action that does not forward.
#[inline(always)]
fn forwarding(a: &PdrAction) -> Result<(), DropReason> {
    if a.flags & ACT_DROP != 0 {
        return Err(if a.flags & ACT_GATE_CLOSED != 0 {
            DropReason::GateClosed
        } else if a.flags & ACT_QUOTA_EXHAUSTED != 0 {
            DropReason::QuotaExhausted
        } else {
            DropReason::FarDrop
        });
    }
    if a.flags & ACT_FORWARD == 0 {
        return Err(DropReason::NoPdrMatched);
    }
    Ok(())
}

// ---- rate meters (QER MBR, session caps, POI capacity) ----

/// Tries to take `bytes` from meter `m` at `now`: `Some(ns charged)` when
/// the packet conforms (`upf_fastpath::meter::gcra`, tested on the host),
/// `None` when it exceeds. A meter with no rate always conforms
/// and is charged nothing. The theoretical arrival time is updated with
/// compare-and-swap, retried a bounded number of times; a meter that keeps
/// losing the race is charged with an atomic add so the rate stays exact.
#[inline(always)]
fn take(m: *mut Meter, now: u64, bytes: u64) -> Option<u64> {
    // SAFETY: `m` points into the METERS array value (checked by the
    // lookup); the configuration words are aligned u64 written by userspace
    // with single stores.
    let (cost_q, tau) = unsafe {
        (
            core::ptr::read_volatile(&(*m).cost_ns_q16),
            core::ptr::read_volatile(&(*m).tau_ns),
        )
    };
    if cost_q == 0 {
        return Some(0);
    }
    let cost = Meter::cost_ns(cost_q, bytes);
    let mut i = 0;
    while i < 4 {
        // SAFETY: as above; tat_ns is an aligned u64 every writer updates atomically.
        let tat = unsafe { core::ptr::read_volatile(&(*m).tat_ns) };
        let next = upf_fastpath::meter::gcra(tat, now, tau, cost)?;
        // SAFETY: as above.
        let (_, swapped) = unsafe {
            core::intrinsics::atomic_cxchg::<
                u64,
                { core::intrinsics::AtomicOrdering::SeqCst },
                { core::intrinsics::AtomicOrdering::SeqCst },
            >(&raw mut (*m).tat_ns, tat, next)
        };
        if swapped {
            return Some(cost);
        }
        i += 1;
    }
    // SAFETY: as above.
    unsafe { atomic_add(&raw mut (*m).tat_ns, cost) };
    Some(cost)
}

/// `*p += v`, atomically (BPF_ATOMIC add).
///
/// # Safety
/// `p` must point to an aligned u64 in a map value.
#[inline(always)]
unsafe fn atomic_add(p: *mut u64, v: u64) {
    core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(p, v);
}

/// Counts a packet on meter `m`: passed or dropped.
#[inline(always)]
fn meter_count(m: *mut Meter, pass: bool, bytes: u64) {
    // SAFETY: `m` points into the METERS array value.
    unsafe {
        if pass {
            atomic_add(&raw mut (*m).pass_bytes, bytes);
        } else {
            atomic_add(&raw mut (*m).drop_bytes, bytes);
            atomic_add(&raw mut (*m).drop_packets, 1);
        }
    }
}

/// The meter after `m` in its chain, if any.
#[inline(always)]
fn meter_parent(m: *mut Meter) -> Option<*mut Meter> {
    // SAFETY: `m` points into the METERS array value.
    let p = unsafe { core::ptr::read_volatile(&(*m).parent) };
    if p == 0 {
        return None;
    }
    METERS.get_ptr_mut(p - 1)
}

/// Passes a packet of `bytes` (inner IP bytes) through the meter chain that
/// starts at `first` (index + 1; 0: none, and the clock is not read). Every
/// meter must conform; the first that does not drops the packet, which is
/// counted as dropped on it and on the meters before it. The meters before
/// it keep their charge: a session that pushes into a full POI pays for the
/// packets the POI refused, so its own meter slows it down instead of the
/// POI meter dropping everyone's packets blindly (a refund here let capped
/// sessions burst above their share and take it from the light ones).
#[inline(always)]
fn meter(first: u32, bytes: u64) -> Result<(), DropReason> {
    if first == 0 {
        return Ok(());
    }
    let Some(m0) = METERS.get_ptr_mut(first - 1) else {
        return Ok(());
    };
    // The coarse clock: a few ns instead of a clocksource read; userspace
    // keeps every tolerance above its tick (upf_abi::METER_MIN_TAU_NS).
    // SAFETY: no arguments, no preconditions.
    let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_coarse_ns() };
    if take(m0, now, bytes).is_none() {
        meter_count(m0, false, bytes);
        return Err(DropReason::RateExceeded);
    }
    let Some(m1) = meter_parent(m0) else {
        meter_count(m0, true, bytes);
        return Ok(());
    };
    if take(m1, now, bytes).is_none() {
        meter_count(m0, false, bytes);
        meter_count(m1, false, bytes);
        return Err(DropReason::RateExceeded);
    }
    let Some(m2) = meter_parent(m1) else {
        meter_count(m0, true, bytes);
        meter_count(m1, true, bytes);
        return Ok(());
    };
    if take(m2, now, bytes).is_none() {
        meter_count(m0, false, bytes);
        meter_count(m1, false, bytes);
        meter_count(m2, false, bytes);
        return Err(DropReason::RateExceeded);
    }
    meter_count(m0, true, bytes);
    meter_count(m1, true, bytes);
    meter_count(m2, true, bytes);
    Ok(())
}

/// Counts a forwarded packet on counter slot `slot`: this CPU's row of
/// SESSION_COUNTERS (one memory access), and the slot's bit in this CPU's
/// row of TOUCHED (written only when it is not set yet, so a busy slot's
/// word stays clean in the cache).
#[inline(always)]
fn session_count(slot: u32, uplink: bool, bytes: u64) {
    // SAFETY: plain reads of our own frozen .rodata; no preconditions.
    let (slots, words, cpu) = unsafe {
        (
            core::ptr::read_volatile(&UPF_GLOBALS.counter_slots),
            core::ptr::read_volatile(&UPF_GLOBALS.touched_words),
            bpf_get_smp_processor_id(),
        )
    };
    if slot >= slots {
        return;
    }
    if let Some(c) = SESSION_COUNTERS.get_ptr_mut(cpu.wrapping_mul(slots).wrapping_add(slot)) {
        // SAFETY: this CPU's row: only this CPU writes it while the program
        // runs (userspace only reads, or zeroes a slot before it is used).
        let c = unsafe { &mut *c };
        if uplink {
            c.ul_packets += 1;
            c.ul_bytes += bytes;
        } else {
            c.dl_packets += 1;
            c.dl_bytes += bytes;
        }
    }
    if let Some(w) = TOUCHED.get_ptr_mut(cpu.wrapping_mul(words).wrapping_add(slot / 64)) {
        let bit = 1u64 << (slot % 64);
        // SAFETY: this CPU's row. Userspace takes a word with an atomic
        // swap; a read-modify-write racing with it can only set bits again
        // (a superset, which is allowed), never lose this one.
        unsafe {
            let v = core::ptr::read_volatile(w);
            if v & bit == 0 {
                core::ptr::write_volatile(w, v | bit);
            }
        }
    }
}

/// A direct slot's entry when the slot holds `key_be` (its second word):
/// `Ok(None)` when it holds another key or none, `Err(EntryBusy)` when
/// userspace was rewriting it on both tries.
///
/// # Safety
/// `seq` must point into a map value of type `S`, whose second u32 is the
/// key and whose entry `E` starts at byte 8.
#[inline(always)]
unsafe fn read_slot<E: Copy>(seq: *const u32, key_be: u32) -> Result<Option<E>, DropReason> {
    let mut tries = 0;
    while tries < 2 {
        // SAFETY (all reads): inside the slot (the caller's contract). The
        // reads are volatile so they stay in this order: the sequence, the
        // key and entry, the sequence again (x86 does not reorder loads).
        let s1 = core::ptr::read_volatile(seq);
        if s1 & upf_abi::SEQ_WRITING == 0 {
            let key = core::ptr::read_volatile(seq.add(1));
            let e = core::ptr::read_volatile(seq.add(2) as *const E);
            if core::ptr::read_volatile(seq) == s1 {
                return Ok(if key == key_be && key != 0 {
                    Some(e)
                } else {
                    None
                });
            }
        }
        tries += 1;
    }
    Err(DropReason::EntryBusy)
}

/// The uplink entry of local TEID `teid_be`: its UL_TABLE slot when that
/// holds it (TEIDs the gateway chose), else the UPLINK hash (SMF-assigned
/// TEIDs, or a TEID whose slot another TEID holds).
#[inline(always)]
fn uplink_entry(teid_be: u32) -> Result<Option<UplinkEntry>, DropReason> {
    // SAFETY: plain reads of our own frozen .rodata.
    let (first, mask) = unsafe {
        (
            core::ptr::read_volatile(&UPF_GLOBALS.teid_first),
            core::ptr::read_volatile(&UPF_GLOBALS.ul_mask),
        )
    };
    let index = u32::from_be(teid_be).wrapping_sub(first) & mask;
    if let Some(p) = UL_TABLE.get_ptr(index) {
        // SAFETY: p points to an UplinkSlot (seq, teid_be, entry at 8).
        if let Some(e) = unsafe { read_slot::<UplinkEntry>(p as *const u32, teid_be) }? {
            return Ok(Some(e));
        }
    }
    // SAFETY: the value is copied out at once.
    Ok(unsafe { UPLINK.get(UplinkKey { teid_be }) }.copied())
}

/// The downlink entry of UE address `ue_be`: its DL_TABLE slot when a UE
/// prefix holds the address (then only there), else the DOWNLINK hash.
#[inline(always)]
fn downlink_entry(ue_be: u32) -> Result<Option<DownlinkEntry>, DropReason> {
    // SAFETY: a plain read of our own frozen .rodata.
    let num = unsafe { core::ptr::read_volatile(&UPF_UE_PREFIXES.num) };
    let index = UePrefixes::scan(num, u32::from_be(ue_be), |i| {
        // SAFETY: as above; `scan` keeps i below MAX_UE_PREFIXES, the
        // arrays' length (unchecked: a bounds-check panic is no valid BPF).
        unsafe {
            (
                core::ptr::read_volatile(UPF_UE_PREFIXES.net.get_unchecked(i)),
                core::ptr::read_volatile(UPF_UE_PREFIXES.mask.get_unchecked(i)),
                core::ptr::read_volatile(UPF_UE_PREFIXES.base.get_unchecked(i)),
            )
        }
    });
    if let Some(index) = index {
        let Some(p) = DL_TABLE.get_ptr(index) else {
            return Ok(None);
        };
        // SAFETY: p points to a DownlinkSlot (seq, ue_ipv4_be, entry at 8).
        return unsafe { read_slot::<DownlinkEntry>(p as *const u32, ue_be) };
    }
    // SAFETY: the value is copied out at once.
    Ok(unsafe { DOWNLINK.get(DownlinkKey { ue_ipv4_be: ue_be }) }.copied())
}

/// Uplink G-PDU: look up the session, check the inner source, strip the outer
/// headers and route the inner packet.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn uplink(
    ctx: &XdpContext,
    g: &G,
    l2: &L2,
    peer_be: u32,
    gtp_start: usize,
    hdr: &Gtpu,
    ifindex: u32,
) -> Verdict {
    let flags = g.flags;
    let Some(s) = uplink_entry(hdr.teid_be)? else {
        return Err(DropReason::UnknownTeid);
    };
    let f = frame(ctx);
    let inner = advance(gtp_start, hdr.header_len);
    // SAFETY: [f.start, f.end) is the packet.
    let first = unsafe { upf_fastpath::mem::u8_at(inner, f.end) }.ok_or(DropReason::Truncated)?;
    match first >> 4 {
        4 => {}
        6 => return Err(DropReason::UnsupportedInnerProtocol),
        _ => return Err(DropReason::BadInnerHeader),
    }
    // SAFETY: as above.
    let iv = unsafe { ipv4::parse(inner, f.end) }.map_err(|_| DropReason::BadInnerHeader)?;
    if iv.total_len as usize > hdr.payload_len() {
        return Err(DropReason::BadInnerHeader);
    }
    if s.ue_ipv4_be != 0 && iv.src_be != s.ue_ipv4_be && flags & FLAG_NO_ANTI_SPOOFING == 0 {
        return Err(DropReason::SpoofedSource);
    }
    let qfi = match hdr.container {
        Some(c) => c.qfi,
        None => pdr::NO_QFI,
    };
    // SAFETY: [f.start, f.end) is the packet.
    let act = unsafe { select(s.rules, &s.default, inner, &iv, f.end, qfi, 0) };
    forwarding(&act)?;
    let inner_len = iv.total_len as usize;
    meter(act.meter, inner_len as u64)?;
    let outer_len = inner - f.start;

    if iv.ttl > 1 {
        if let Some(nh) = cached(flags, iv.dst_be, inner_len as u32) {
            return uplink_out(
                ctx, g, outer_len, inner_len, nh.dmac, nh.smac, nh.ifindex, ifindex, &act, peer_be,
            );
        }
    }
    let mut p = fib_params(
        ifindex,
        iv.tos,
        iv.proto,
        iv.total_len,
        iv.src_be,
        iv.dst_be,
    );
    let rc = if iv.ttl <= 1 {
        FIB_FRAG_NEEDED
    } else {
        fib(ctx, &mut p)
    };
    match rc {
        FIB_SUCCESS => uplink_out(
            ctx, g, outer_len, inner_len, p.dmac, p.smac, p.ifindex, ifindex, &act, peer_be,
        ),
        FIB_BLACKHOLE | FIB_UNREACHABLE | FIB_PROHIBIT => Err(DropReason::NoRoute),
        _ => {
            // No neighbour yet, TTL expiring, MTU exceeded, a local
            // destination: the kernel does it (ARP, ICMP, delivery). Keep the
            // original link-layer header (addressed to us, tag included).
            let f = adjust_head(ctx, (outer_len - l2.len) as i32)?;
            let f = trim(ctx, f, l2.len + inner_len)?;
            // SAFETY: the new frame.
            if unsafe { eth::write_like(f.start, f.end, l2, l2.dst, l2.src) }.is_none() {
                return Err(DropReason::Truncated);
            }
            if rc == FIB_NO_NEIGH {
                // The kernel forwards it once the neighbour resolves: it is
                // the session's traffic.
                session_count(act.counter, true, inner_len as u64);
                count_poi(g, poi_of(peer_be), true, inner_len as u64);
                count(g, Counter::UplinkNeighPassed, 1);
            } else {
                count(g, Counter::SlowPathPassed, 1);
            }
            Ok(xdp_action::XDP_PASS)
        }
    }
}

/// Uplink, next hop known: cut the outer headers, write the next hop's
/// Ethernet header, decrement the TTL and send.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn uplink_out(
    ctx: &XdpContext,
    g: &G,
    outer_len: usize,
    inner_len: usize,
    dmac: [u8; 6],
    smac: [u8; 6],
    egress: u32,
    ifindex: u32,
    act: &PdrAction,
    peer_be: u32,
) -> Verdict {
    let f = adjust_head(ctx, (outer_len - eth::HEADER_LEN) as i32)?;
    let f = trim(ctx, f, eth::HEADER_LEN + inner_len)?;
    // SAFETY: the new frame; each write checks its end.
    unsafe {
        if !eth::write(f.start, f.end, dmac, smac, eth::ETHERTYPE_IPV4)
            || !ipv4::decrement_ttl(f.start + eth::HEADER_LEN, f.end)
        {
            return Err(DropReason::Truncated);
        }
    }
    let verdict = transmit(egress, ifindex)?;
    session_count(act.counter, true, inner_len as u64);
    count_poi(g, poi_of(peer_be), true, inner_len as u64);
    count(g, Counter::UplinkForwarded, 1);
    count(g, Counter::UplinkBytes, inner_len as u64);
    Ok(verdict)
}

/// Downlink: push IPv4/UDP/GTP-U (and a PDU Session Container for 5G) and
/// route toward the session's peer.
#[inline(always)]
fn downlink(
    ctx: &XdpContext,
    g: &G,
    l2: &L2,
    ip: &Ipv4,
    e: &DownlinkEntry,
    ifindex: u32,
) -> Verdict {
    let flags = g.flags;
    let f = frame(ctx);
    let inner_len = ip.total_len as usize;
    if l2.l3 + inner_len > f.end {
        return Err(DropReason::Truncated);
    }
    // SAFETY: [f.start, f.end) is the packet. No QFI on a downlink packet.
    let s = unsafe { select(e.rules, &e.default, l2.l3, ip, f.end, pdr::NO_QFI, M_QFI) };
    forwarding(&s)?;
    if ip.ttl <= 1 {
        count(g, Counter::SlowPathPassed, 1);
        return Ok(xdp_action::XDP_PASS);
    }
    let five_g = s.flags & ACT_5G != 0;
    let encap = gtpu::encap_len(five_g);
    let (dmac, smac, egress) = match cached(flags, s.peer_ipv4_be, (inner_len + encap) as u32) {
        Some(nh) => (nh.dmac, nh.smac, nh.ifindex),
        None => {
            let mut p = fib_params(
                ifindex,
                0,
                ipv4::PROTO_UDP,
                (inner_len + encap) as u16,
                e.local_ipv4_be,
                s.peer_ipv4_be,
            );
            match fib(ctx, &mut p) {
                FIB_SUCCESS => {}
                FIB_NO_NEIGH => return Err(DropReason::NeighbourMissing),
                FIB_FRAG_NEEDED => return Err(DropReason::TunnelMtuExceeded),
                _ => return Err(DropReason::NoRoute),
            }
            (p.dmac, p.smac, p.ifindex)
        }
    };
    meter(s.meter, inner_len as u64)?;
    // SAFETY: the inner header is inside the frame (checked above).
    if !unsafe { ipv4::decrement_ttl(l2.l3, f.end) } {
        return Err(DropReason::Truncated);
    }
    let grow = eth::HEADER_LEN + encap - l2.len;
    let f = adjust_head(ctx, -(grow as i32))?;
    let total = eth::HEADER_LEN + encap + inner_len;
    let f = trim(ctx, f, total)?;
    let t = Tunnel {
        src_be: e.local_ipv4_be,
        dst_be: s.peer_ipv4_be,
        teid_be: s.remote_teid_be,
        qfi: if five_g { Some(s.qfi) } else { None },
        tos: ip.tos,
    };
    // SAFETY: the new frame; each write checks its end.
    unsafe {
        if !eth::write(f.start, f.end, dmac, smac, eth::ETHERTYPE_IPV4)
            || !t.write(f.start + eth::HEADER_LEN, f.end, inner_len as u16)
        {
            return Err(DropReason::Truncated);
        }
    }
    let verdict = transmit(egress, ifindex)?;
    session_count(s.counter, false, inner_len as u64);
    count_poi(g, poi_of(s.peer_ipv4_be), false, inner_len as u64);
    count(g, Counter::DownlinkForwarded, 1);
    count(g, Counter::DownlinkBytes, inner_len as u64);
    Ok(verdict)
}

/// Echo Request: answer in place with an Echo Response carrying Recovery (TS 29.281 §7.2.2).
#[inline(always)]
fn echo(ctx: &XdpContext, g: &G, l2: &L2, ip: &Ipv4, sport: u16, hdr: &Gtpu) -> Verdict {
    let f = frame(ctx);
    let want = l2.len + gtpu::ECHO_RESPONSE_LEN;
    let have = f.end - f.start;
    let f = if want > have {
        adjust_head(ctx, -((want - have) as i32))?
    } else {
        trim(ctx, f, want)?
    };
    let r = EchoResponse {
        src_be: g.n3_ipv4_be,
        dst_be: ip.src_be,
        dst_port: sport,
        seq: hdr.seq,
    };
    // SAFETY: the new frame; each write checks its end.
    unsafe {
        let Some(n) = eth::write_like(f.start, f.end, l2, l2.src, l2.dst) else {
            return Err(DropReason::Truncated);
        };
        if !r.write(advance(f.start, n), f.end) {
            return Err(DropReason::Truncated);
        }
    }
    count(g, Counter::EchoReplied, 1);
    Ok(xdp_action::XDP_TX)
}

// ---- TEID spreading (gateway.spread = "teid", docs/multicore.md) ----

use aya_ebpf::maps::CpuMap;
use upf_abi::{spread_slot, Spread, MAX_SPREAD_CPUS};

/// CPU number -> (queue, `upf_cpumap`), filled by the loader for the spread CPUs.
#[map]
static CPUS: CpuMap = CpuMap::with_max_entries(MAX_SPREAD_CPUS as u32, 0);

/// Set by the loader (`.rodata`, frozen); `num_cpus == 0` (off) prunes `steer`.
#[no_mangle]
static UPF_SPREAD: Spread = Spread::OFF;

/// The fast path on the CPU a G-PDU was steered to (the cpumap's program).
/// `ingress_ifindex` is still the receiving port. XDP_TX does not exist
/// here (the kernel drops it as an invalid action): the same port is left
/// through the devmap instead.
#[xdp(map = "cpumap")]
pub fn upf_cpumap(ctx: XdpContext) -> u32 {
    // SAFETY: ctx.ctx is the kernel's xdp_md for this run.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    match fast_path(ctx, false) {
        xdp_action::XDP_TX => EGRESS
            .redirect(ifindex, xdp_action::XDP_DROP as u64)
            .unwrap_or(xdp_action::XDP_DROP),
        v => v,
    }
}

/// An uplink G-PDU whose TEID belongs to another spread CPU: redirected to
/// it (`Some(XDP_REDIRECT)`). Everything else (signalling, downlink, a TEID
/// of this CPU, a CPU without a cpumap entry) is processed here (`None`).
#[inline(always)]
fn steer(ctx: &XdpContext, g: &G, roles: u8) -> Option<u32> {
    // SAFETY: a plain read of our own frozen .rodata.
    let n = unsafe { core::ptr::read_volatile(&UPF_SPREAD.num_cpus) };
    if n == 0 || roles & ROLE_N3 == 0 {
        return None;
    }
    let teid_be = gpdu_teid(ctx, g)?;
    let slot = spread_slot(teid_be, n) as usize;
    if slot >= MAX_SPREAD_CPUS {
        return None;
    }
    // SAFETY: as above; slot is in bounds.
    let cpu = unsafe { core::ptr::read_volatile(&UPF_SPREAD.cpus[slot]) };
    // SAFETY: no arguments, no preconditions.
    if cpu == unsafe { bpf_get_smp_processor_id() } {
        return None;
    }
    let v = CPUS.redirect(cpu, 0).ok()?;
    count(g, Counter::SteeredToCpu, 1);
    Some(v)
}

/// The TEID (`_be`) of a G-PDU to our N3 address, read without validating
/// the rest: the target CPU's fast path does that.
#[inline(always)]
fn gpdu_teid(ctx: &XdpContext, g: &G) -> Option<u32> {
    let f = frame(ctx);
    // SAFETY (all fastpath calls): [f.start, f.end) is this run's packet.
    let l2 = unsafe { eth::parse(f) }.ok()?;
    if l2.ethertype != eth::ETHERTYPE_IPV4 {
        return None;
    }
    // SAFETY: as above.
    let ip = unsafe { ipv4::parse(l2.l3, f.end) }.ok()?;
    if ip.dst_be != g.n3_ipv4_be || ip.proto != ipv4::PROTO_UDP || ip.is_fragment() {
        return None;
    }
    let udp = advance(l2.l3, ip.header_len);
    // SAFETY: as above; load checks the end.
    let h = unsafe { load::<16>(udp, f.end) }?;
    if u16::from_be_bytes([h[2], h[3]]) != GTPU_PORT || h[9] != gtpu::MSG_G_PDU {
        return None;
    }
    Some(u32::from_ne_bytes([h[12], h[13], h[14], h[15]]))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
