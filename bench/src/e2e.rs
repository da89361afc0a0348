//! End-to-end throughput of the real daemon on veth: `e2e-bench`.
//!
//! A lab of three namespaces, `mupf-e<id>-{ran,gw,dn}`, joined by two veth
//! pairs (`mue<id>r0` -- `mue<id>n3`, `mue<id>n6` -- `mue<id>d0`). upfd (a
//! release build found next to this executable or in `$UPF_BIN_DIR`) runs in
//! the gateway namespace with a generated configuration and N static
//! sessions. Our own generator sends precomputed frames from one end through
//! an AF_PACKET socket (`PACKET_QDISC_BYPASS`, `sendmmsg` batches, paced by a
//! token count against the clock) and a counting receiver on the other end
//! (AF_PACKET with a `TPACKET_V3` ring, a classic BPF filter that truncates
//! the copy to 128 bytes) counts only frames that pass a check of every
//! header the gateway wrote.
//!
//! The far ends have no IP address and the gateway's neighbours are
//! permanent entries with "sink" MACs that are not the veth's own: delivered
//! frames reach the receiver's ring and are then dropped by the far kernel as
//! PACKET_OTHERHOST, so no ICMP or forwarding noise flows back.
//!
//! On veth, XDP (native: the peer's NAPI; generic: the backlog) runs in the
//! softirq of the CPU that transmits. The generator thread is pinned to one
//! CPU (`--gen-cpu`, default the last), everything else (this process's
//! other threads, the receiver thread, upfd) to the others, so the fast path
//! of one direction runs on exactly one core, shared with the generator's
//! send path and the receiving veth's softirq (the ceiling rows measure
//! those two alone).

use std::fmt::Write as _;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::{check_interrupt, machine};

// ---- addressing ----

const R0_MAC: Mac = [0x02, 0, 0, 0xe2, 0x01, 0x02];
const N3_MAC: Mac = [0x02, 0, 0, 0xe2, 0x01, 0x01];
const N6_MAC: Mac = [0x02, 0, 0, 0xe2, 0x02, 0x01];
const D0_MAC: Mac = [0x02, 0, 0, 0xe2, 0x02, 0x02];
/// The gNB's MAC as the gateway knows it (permanent neighbour): not r0's own.
const GNB_SINK_MAC: Mac = [0x02, 0, 0, 0xe2, 0x01, 0xff];
/// The N6 next hop's MAC as the gateway knows it: not d0's own.
const DN_SINK_MAC: Mac = [0x02, 0, 0, 0xe2, 0x02, 0xff];
/// Destination MAC of the ceiling runs (no gateway in the path).
const RAW_SINK_MAC: Mac = [0x02, 0, 0, 0xe2, 0x00, 0xff];
const N3_ADDR: V4 = [10, 100, 0, 1];
const GNB: V4 = [10, 100, 0, 2];
const N6_ADDR: V4 = [10, 200, 0, 1];
const DN_NEXT_HOP: V4 = [10, 200, 0, 2];
/// The data network host (routed via the N6 next hop).
const DN_HOST: V4 = [198, 51, 100, 7];
/// Session i (0-based): local TEID `teid_base + i` (see [`Tables`]), UE
/// `UE_BASE + 1 + i`, remote TEID `REMOTE_TEID_BASE + i`, 5G with QFI 9.
/// `TEID_BASE` lies below the gateway's default TEID range, so these TEIDs
/// take the `UPLINK` hash ([`Tables::Hash`]).
const TEID_BASE: u32 = 0x0000_1000;
/// The first TEID of the gateway's default range: TEIDs from here index
/// `UL_TABLE` directly ([`Tables::Direct`]).
const DIRECT_TEID_BASE: u32 = upf_config::pfcp::DEFAULT_TEID_RANGE.0;
const UE_BASE: u32 = 0x0a2d_0000; // 10.45.0.0
/// The most sessions a case may have: the sessions file upfd parses at
/// start grows by about 150 bytes per session.
pub const MAX_SESSIONS: u32 = 1_000_000;
const REMOTE_TEID_BASE: u32 = 0x0100_0000;
const QFI: u8 = 9;
const GTPU: u16 = 2152;
const UE_PORT: u16 = 40000;
const DN_PORT: u16 = 9;
/// Starts every inner UDP payload; the receiver checks it.
const MAGIC: [u8; 8] = *b"mupfe2e!";
/// The smallest inner packet: IPv4 + UDP + MAGIC.
pub const MIN_INNER: usize = 20 + 8 + MAGIC.len();
/// Outer bytes the gateway strips (uplink) or adds (downlink): IPv4, UDP,
/// GTP-U with the optional fields and a PDU Session Container.
const TUNNEL: usize = 20 + 8 + 8 + 8;
/// Frames per `sendmmsg`.
const BATCH: usize = 64;
/// Bytes of each frame copied into the receiver's ring.
const SNAPLEN: u32 = 128;

// ---- the matrix ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Uplink,
    Downlink,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Uplink => "uplink",
            Direction::Downlink => "downlink",
        }
    }
    pub fn parse(s: &str) -> Result<Direction> {
        match s {
            "uplink" | "ul" => Ok(Direction::Uplink),
            "downlink" | "dl" => Ok(Direction::Downlink),
            _ => bail!("direction {s:?}: expected uplink or downlink"),
        }
    }
    /// The frame the generator sends for an inner packet of `inner` bytes.
    pub fn frame_len(self, inner: usize) -> usize {
        match self {
            Direction::Uplink => 14 + TUNNEL + inner,
            Direction::Downlink => 14 + inner,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Generic,
    Native,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Generic => "generic",
            Mode::Native => "native",
        }
    }
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "generic" => Ok(Mode::Generic),
            "native" => Ok(Mode::Native),
            _ => bail!("mode {s:?}: expected generic or native"),
        }
    }
}

/// The order in which the generator visits the sessions: each is sent in
/// turn (one frame per session per cycle), either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// A fixed pseudo-random permutation (seeded shuffle): consecutive
    /// frames hit unrelated table entries.
    Random,
    /// Session 0, 1, 2, ...: consecutive frames hit adjacent entries.
    RoundRobin,
}

impl Order {
    pub fn name(self) -> &'static str {
        match self {
            Order::Random => "random",
            Order::RoundRobin => "rr",
        }
    }
    pub fn parse(s: &str) -> Result<Order> {
        match s {
            "random" => Ok(Order::Random),
            "rr" | "round-robin" => Ok(Order::RoundRobin),
            _ => bail!("order {s:?}: expected random or rr"),
        }
    }
}

/// Which session tables of the fast path the sessions land in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tables {
    /// Local TEIDs below the gateway's TEID range and no UE prefixes: both
    /// directions look their sessions up in the hash fallbacks (`UPLINK`,
    /// `DOWNLINK`). What the benchmark always measured.
    Hash,
    /// TEIDs from the start of the default TEID range and
    /// `gateway.ue_prefixes` covering the UE addresses: the direct-indexed
    /// `UL_TABLE` and `DL_TABLE`, as for sessions whose TEID the gateway
    /// chose and whose address comes from a configured pool.
    Direct,
}

impl Tables {
    pub fn name(self) -> &'static str {
        match self {
            Tables::Hash => "hash",
            Tables::Direct => "direct",
        }
    }
    pub fn parse(s: &str) -> Result<Tables> {
        match s {
            "hash" => Ok(Tables::Hash),
            "direct" => Ok(Tables::Direct),
            _ => bail!("tables {s:?}: expected hash or direct"),
        }
    }
    fn teid_base(self) -> u32 {
        match self {
            Tables::Hash => TEID_BASE,
            Tables::Direct => DIRECT_TEID_BASE,
        }
    }
}

/// The smallest prefix holding the UE addresses of `sessions` sessions.
fn ue_prefix(sessions: u32) -> (V4, u8) {
    let last = UE_BASE + sessions.max(1);
    let mut len = 32u8;
    loop {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        if (UE_BASE & mask) == (last & mask) {
            return ((UE_BASE & mask).to_be_bytes(), len);
        }
        len -= 1;
    }
}

/// The report's title unless `--title` says otherwise.
pub const DEFAULT_TITLE: &str = "End-to-end throughput through upfd on veth (e2e-bench)";

#[derive(Clone, Debug)]
pub struct Config {
    pub directions: Vec<Direction>,
    /// Inner IP packet sizes, bytes.
    pub sizes: Vec<usize>,
    pub sessions: Vec<u32>,
    pub modes: Vec<Mode>,
    /// Orders in which the generator visits the sessions.
    pub orders: Vec<Order>,
    /// Session tables the sessions are placed in.
    pub tables: Vec<Tables>,
    pub trial: Duration,
    /// Full-load trials per case; the max forwarding rate is the best of them
    /// (the machine is shared: the best is the least disturbed).
    pub full_trials: usize,
    /// Rate-limited trials of the binary search per case (after the full-load trials).
    pub search_trials: usize,
    /// The search stops when the bracket is narrower than this fraction of its top.
    pub resolution: f64,
    /// The generator's CPU (default: the last one).
    pub gen_cpu: Option<usize>,
    /// `KEY = VALUE` lines appended to the generated `[gateway]` section.
    pub gateway_options: Vec<String>,
    /// Also measure the generator's ceiling (no gateway in the path).
    pub ceiling: bool,
    /// The section's title.
    pub title: String,
    pub seed: u64,
    /// Progress on stderr.
    pub verbose: bool,
}

impl Config {
    /// The default matrix (about 5 minutes).
    pub fn full() -> Config {
        Config {
            directions: vec![Direction::Uplink, Direction::Downlink],
            sizes: vec![64, 1400],
            sessions: vec![1, 10_000],
            modes: vec![Mode::Generic, Mode::Native],
            orders: vec![Order::Random],
            tables: vec![Tables::Hash],
            trial: Duration::from_millis(1000),
            full_trials: 3,
            search_trials: 7,
            resolution: 0.02,
            gen_cpu: None,
            gateway_options: Vec::new(),
            ceiling: true,
            title: DEFAULT_TITLE.to_string(),
            seed: 0x6d75_7066_6532_6531,
            verbose: true,
        }
    }

    /// CI's check: one short case per direction, generic, 64 sessions
    /// (enough for the round robin to show: each must deliver).
    pub fn smoke() -> Config {
        Config {
            sizes: vec![64],
            sessions: vec![64],
            modes: vec![Mode::Generic],
            trial: Duration::from_millis(200),
            full_trials: 1,
            search_trials: 2,
            resolution: 0.1,
            ..Config::full()
        }
    }
}

/// One trial's outcome.
#[derive(Clone, Copy, Debug, Default)]
pub struct Trial {
    /// Frames handed to the generator's socket, refused ones included.
    pub offered: u64,
    /// Of those, refused by the sending veth (ENOBUFS: its peer's queue was full).
    pub refused: u64,
    /// Correct frames counted by the receiver.
    pub received: u64,
    /// Frames seen by the receiver that failed the check.
    pub invalid: u64,
    /// Frames the receiver's ring had no room for.
    pub ring_drops: u64,
    /// The generator's sending time.
    pub secs: f64,
}

impl Trial {
    pub fn lost(&self) -> u64 {
        self.offered.saturating_sub(self.received)
    }
    pub fn offered_pps(&self) -> f64 {
        self.offered as f64 / self.secs
    }
    pub fn received_pps(&self) -> f64 {
        self.received as f64 / self.secs
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub direction: Direction,
    pub inner: usize,
    /// None: the generator's ceiling (no gateway).
    pub mode: Option<Mode>,
    pub sessions: u32,
    pub order: Order,
    pub tables: Tables,
    /// Distinct sessions the receiver counted a correct frame of during the
    /// full-load trials (all of them when the round robin reached every one).
    pub reached: u32,
    /// The zero-loss throughput (packets/s); None if no trial was loss-free.
    pub zero_loss_pps: Option<f64>,
    /// The full-load trial.
    pub full: Trial,
    pub trials: usize,
}

impl Row {
    pub fn frame(&self) -> usize {
        self.direction.frame_len(self.inner)
    }
    pub fn max_fwd_pps(&self) -> f64 {
        self.full.received_pps()
    }
}

pub struct Report {
    pub rows: Vec<Row>,
    pub command: String,
    pub layout: String,
    pub trial_ms: u128,
    pub full_trials: usize,
    pub gateway_options: Vec<String>,
    /// The section's title (`### ...`).
    pub title: String,
    /// CPU model, count and kernel, taken before any pinning.
    pub machine: String,
}

fn gbps(pps: f64, bytes: usize) -> f64 {
    pps * bytes as f64 * 8.0 / 1e9
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### {}\n", self.title);
        let _ = writeln!(s, "- command: `{}`", self.command);
        let _ = writeln!(s, "- machine: {}", self.machine);
        if !self.gateway_options.is_empty() {
            let _ = writeln!(
                s,
                "- gateway options: `{}`",
                self.gateway_options.join("`, `")
            );
        }
        let _ = writeln!(
            s,
            "\nThree namespaces (RAN, gateway, DN) joined by veth pairs; the release upfd runs \
             in the gateway namespace with a generated configuration and N static 5G sessions \
             (QFI 9). Our generator sends through an AF_PACKET socket (PACKET_QDISC_BYPASS, \
             sendmmsg batches of {BATCH}, paced against the clock) every session's flow in \
             turn: one template frame per direction and size, patched per frame in the batch \
             buffers with the session's TEID (uplink) and UE address and the IPv4 header \
             checksum; uplink, G-PDUs from the gNB to the N3 address with an UL PDU Session \
             Container; downlink, IPv4/UDP from the DN to the UE addresses. Order \
             \"random\" visits the sessions round robin in a fixed pseudo-random permutation \
             (consecutive frames hit unrelated table entries), \"rr\" in index order; either \
             way each session gets one frame per cycle. Tables \"hash\": local TEIDs outside \
             the gateway's TEID range and no UE prefixes, so both directions take the hash \
             fallbacks; \"direct\": TEIDs from the start of the range and gateway.ue_prefixes \
             covering the UE addresses, so both take the direct-indexed tables. A receiver on the far \
             veth (AF_PACKET, TPACKET_V3 ring, {SNAPLEN}-byte snap) counts only correct \
             frames: uplink, the decapsulated inner packet with TTL 63, a valid header \
             checksum, the UE source of a session, the next hop's MAC; downlink, GTP-U from \
             the N3 address to the gNB with the session's remote TEID (matched against the \
             inner destination) and a DL PDU Session Container with QFI 9. Each trial sends \
             for {} ms. Zero-loss throughput: binary search on the offered rate (RFC 2544), \
             zero loss meaning every frame offered (veth refusals included) was counted; \
             max forwarding rate: frames counted per second at full offered load (the \
             generator as fast as it can), the best of {} trials. Gbit/s are given for the inner IP packet bits and \
             for the frame the generator sends (Ethernet header included, no FCS, preamble or \
             gap). On veth, XDP runs in the softirq of the transmitting CPU: {}. Because the \
             generator's own send call runs that softirq work, the offered rate is \
             back-pressured by the gateway: frames are lost only when a queue (the backlog, \
             a veth ring) overflows, so the zero-loss rate often equals the max forwarding rate \
             and the search is skipped when the full-load trial lost nothing. The \
             ceiling rows send the same frames straight into the receiver (no gateway, no \
             XDP, one session); \"ns/pkt over ceiling\" is 1/max fwd rate - 1/ceiling rate, the \
             fast path's share of that core. \"sessions reached\": distinct sessions of which \
             the receiver counted a correct frame during the full-load trials.\n",
            self.trial_ms, self.full_trials, self.layout
        );
        let _ = writeln!(
            s,
            "| direction | inner B | frame B | sessions | XDP | zero-loss pps | zero-loss Gbit/s inner / frame | max fwd pps | max fwd Gbit/s inner / frame | offered at full load pps | loss at full load | ns/pkt over ceiling | order | tables | sessions reached |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"
        );
        for r in &self.rows {
            let ceiling = self
                .rows
                .iter()
                .find(|c| c.mode.is_none() && c.direction == r.direction && c.inner == r.inner);
            let (zl, zlg) = match r.zero_loss_pps {
                Some(p) => (
                    format!("{p:.0}"),
                    format!("{:.2} / {:.2}", gbps(p, r.inner), gbps(p, r.frame())),
                ),
                None => ("none".into(), "-".into()),
            };
            let mfr = r.max_fwd_pps();
            let over = match (r.mode, ceiling) {
                (Some(_), Some(c)) if mfr > 0.0 && c.max_fwd_pps() > 0.0 => {
                    format!("{:.0}", 1e9 / mfr - 1e9 / c.max_fwd_pps())
                }
                _ => "-".into(),
            };
            let loss = if r.full.offered > 0 {
                r.full.lost() as f64 * 100.0 / r.full.offered as f64
            } else {
                0.0
            };
            let gw = |v: String| if r.mode.is_some() { v } else { "-".into() };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {zl} | {zlg} | {mfr:.0} | {:.2} / {:.2} | {:.0} | {loss:.1} % | {over} | {} | {} | {} |",
                r.direction.name(),
                r.inner,
                r.frame(),
                gw(r.sessions.to_string()),
                r.mode.map_or("none (ceiling)", Mode::name),
                gbps(mfr, r.inner),
                gbps(mfr, r.frame()),
                r.full.offered_pps(),
                gw(r.order.name().into()),
                gw(r.tables.name().into()),
                gw(r.reached.to_string()),
            );
        }
        s
    }
}

// ---- small helpers ----

use crate::{addr as ip_str, mac as mac_str, run_cmd, Mac, V4};

fn ue(i: u32) -> V4 {
    (UE_BASE + 1 + i).to_be_bytes()
}

/// Moves the calling thread into a named network namespace.
fn enter_netns(ns: &str) -> Result<()> {
    let path = format!("/run/netns/{ns}");
    let f = File::open(&path).with_context(|| format!("opening {path}"))?;
    // SAFETY: f is an open namespace file for the duration of the call;
    // setns only changes this thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    ensure!(
        rc == 0,
        "setns into {path}: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Pins the calling thread (and what it spawns later) to `cpus`.
fn pin_thread(cpus: &[usize]) -> Result<()> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: CPU_SET writes one bit of the set we own; c is below the
        // number of CPUs, far below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; set is a valid cpu_set_t of the given size.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    ensure!(
        rc == 0,
        "sched_setaffinity({cpus:?}): {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// The calling thread's CPU affinity, put back on drop.
struct Affinity(libc::cpu_set_t);

impl Affinity {
    fn save() -> Result<Affinity> {
        // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid 0 is the calling thread; set is a valid cpu_set_t of the given size.
        let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
        ensure!(
            rc == 0,
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        );
        Ok(Affinity(set))
    }
}

impl Drop for Affinity {
    fn drop(&mut self) {
        // SAFETY: pid 0 is the calling thread; self.0 is a valid cpu_set_t.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &self.0) };
    }
}

fn ifindex(name: &str) -> Result<u32> {
    let c = std::ffi::CString::new(name)?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    ensure!(
        i != 0,
        "interface {name}: {}",
        std::io::Error::last_os_error()
    );
    Ok(i)
}

struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own this descriptor and close it once.
        unsafe { libc::close(self.0) };
    }
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T, what: &str) -> Result<()> {
    // SAFETY: value points to a live T of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    ensure!(rc == 0, "{what}: {}", std::io::Error::last_os_error());
    Ok(())
}

/// An AF_PACKET socket bound to `iface` (protocol: network order; 0 = send only).
fn packet_socket(iface: &str, protocol: u16) -> Result<Fd> {
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, protocol as i32) };
    ensure!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    let fd = Fd(fd);
    // SAFETY: sockaddr_ll is plain data; zeroes are valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol;
    sll.sll_ifindex = ifindex(iface)? as i32;
    // SAFETY: sll is a valid sockaddr_ll of the size we pass.
    let rc = unsafe {
        libc::bind(
            fd.0,
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    ensure!(
        rc == 0,
        "binding AF_PACKET to {iface}: {}",
        std::io::Error::last_os_error()
    );
    Ok(fd)
}

// ---- frames ----

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4(src: V4, dst: V4, total: usize, ttl: u8) -> [u8; 20] {
    let l = (total as u16).to_be_bytes();
    let mut h = [
        0x45, 0, l[0], l[1], 0, 0, 0x40, 0, ttl, 17, 0, 0, src[0], src[1], src[2], src[3], dst[0],
        dst[1], dst[2], dst[3],
    ];
    let c = csum(&h).to_be_bytes();
    h[10] = c[0];
    h[11] = c[1];
    h
}

/// An IPv4/UDP packet of `total` bytes (UDP checksum 0), payload MAGIC then filler.
fn udp_packet(src: V4, dst: V4, ports: (u16, u16), total: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&ipv4(src, dst, total, 64));
    p.extend_from_slice(&ports.0.to_be_bytes());
    p.extend_from_slice(&ports.1.to_be_bytes());
    p.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&MAGIC);
    p.resize(total, 0x5a);
    p
}

fn eth(dst: Mac, src: Mac) -> Vec<u8> {
    [&dst[..], &src[..], &[0x08, 0x00]].concat()
}

/// Uplink G-PDU from the gNB with local TEID `teid` and inner source `ue`:
/// 5G, UL PDU Session Container, QFI 9.
pub fn uplink_frame(teid: u32, ue: V4, inner: usize) -> Vec<u8> {
    let pkt = udp_packet(ue, DN_HOST, (UE_PORT, DN_PORT), inner);
    let glen = (8 + pkt.len()) as u16;
    let t = teid.to_be_bytes();
    let g = glen.to_be_bytes();
    let gtp = [
        &[0x34, 0xff, g[0], g[1], t[0], t[1], t[2], t[3]][..],
        &[0, 0, 0, 0x85, 1, 0x10, QFI, 0],
        &pkt,
    ]
    .concat();
    let mut f = eth(N3_MAC, R0_MAC);
    f.extend_from_slice(&ipv4(GNB, N3_ADDR, 28 + gtp.len(), 64));
    f.extend_from_slice(&GTPU.to_be_bytes());
    f.extend_from_slice(&GTPU.to_be_bytes());
    f.extend_from_slice(&((8 + gtp.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&gtp);
    f
}

/// Downlink packet from the DN host to the UE address `ue`.
pub fn downlink_frame(ue: V4, inner: usize) -> Vec<u8> {
    let mut f = eth(N6_MAC, D0_MAC);
    f.extend_from_slice(&udp_packet(DN_HOST, ue, (DN_PORT, UE_PORT), inner));
    f
}

/// Where the per-session fields of a frame lie.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// The local TEID (uplink only).
    teid_at: Option<usize>,
    /// The IPv4 header that holds the UE address.
    ip_at: usize,
    /// The UE address: the inner source (uplink) or destination (downlink).
    ue_at: usize,
}

impl Layout {
    fn of(dir: Direction) -> Layout {
        match dir {
            // Ethernet, outer IPv4, UDP, GTP-U header (TEID at 4) with its
            // optional fields and the 4-byte PDU Session Container, inner IPv4.
            Direction::Uplink => Layout {
                teid_at: Some(14 + 20 + 8 + 4),
                ip_at: 14 + TUNNEL,
                ue_at: 14 + TUNNEL + 12,
            },
            Direction::Downlink => Layout {
                teid_at: None,
                ip_at: 14,
                ue_at: 14 + 16,
            },
        }
    }
}

/// Every session's flow of one case: a template frame patched per frame
/// with the session's TEID and UE address (and the header checksum), so
/// that no frame per session is precomputed, and the order in which the
/// sessions take turns.
pub struct Flows {
    template: Vec<u8>,
    layout: Layout,
    teid_base: u32,
    sessions: u32,
    /// The visiting order (a permutation of 0..sessions); None: index order.
    order: Option<Vec<u32>>,
    /// One's-complement sum of the template's IPv4 header without its
    /// checksum and UE address (both zero): the checksum of session i's
    /// header is that plus the address's two words, folded and inverted.
    partial: u32,
}

impl Flows {
    pub fn new(
        dir: Direction,
        inner: usize,
        sessions: u32,
        tables: Tables,
        order: Order,
        seed: u64,
    ) -> Flows {
        let sessions = sessions.max(1);
        let teid_base = tables.teid_base();
        let template = match dir {
            Direction::Uplink => uplink_frame(teid_base, ue(0), inner),
            Direction::Downlink => downlink_frame(ue(0), inner),
        };
        let layout = Layout::of(dir);
        let mut h = [0u8; 20];
        h.copy_from_slice(&template[layout.ip_at..layout.ip_at + 20]);
        h[10..12].fill(0);
        let ue_in_h = layout.ue_at - layout.ip_at;
        h[ue_in_h..ue_in_h + 4].fill(0);
        let partial = h.chunks(2).map(|c| u32::from(be16(c, 0))).sum();
        let order = match order {
            Order::RoundRobin => None,
            Order::Random => {
                let mut v: Vec<u32> = (0..sessions).collect();
                fastrand::Rng::with_seed(seed).shuffle(&mut v);
                Some(v)
            }
        };
        Flows {
            template,
            layout,
            teid_base,
            sessions,
            order,
            partial,
        }
    }

    pub fn frame_len(&self) -> usize {
        self.template.len()
    }

    /// Sends these frames to another destination MAC (the ceiling runs).
    fn with_dst_mac(mut self, mac: Mac) -> Flows {
        self.template[..6].copy_from_slice(&mac);
        self
    }

    /// The session the `k`-th frame of a cycle belongs to (`k < sessions`).
    pub fn session_at(&self, k: u32) -> u32 {
        match &self.order {
            Some(v) => v[k as usize],
            None => k,
        }
    }

    /// Writes session `i`'s frame into `buf`, which holds this case's
    /// template or an earlier frame of it (only the per-session fields change).
    pub fn write(&self, buf: &mut [u8], i: u32) {
        let l = self.layout;
        if let Some(at) = l.teid_at {
            buf[at..at + 4].copy_from_slice(&(self.teid_base + i).to_be_bytes());
        }
        let a = UE_BASE + 1 + i;
        buf[l.ue_at..l.ue_at + 4].copy_from_slice(&a.to_be_bytes());
        let mut sum = self.partial + (a >> 16) + (a & 0xffff);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        buf[l.ip_at + 10..l.ip_at + 12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
}

// ---- the check of a received frame ----

#[derive(Clone, Copy, Debug)]
enum Check {
    /// Ceiling runs: the frame as sent, to the raw sink MAC.
    Raw {
        magic_at: usize,
        ue_at: usize,
        sessions: u32,
    },
    /// Decapsulated inner packet on N6.
    Uplink { sessions: u32, inner: usize },
    /// GTP-U toward the gNB on N3.
    Downlink { sessions: u32 },
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Session index of a UE address, if it is one of ours.
fn session_of(ue_addr: u32, sessions: u32) -> Option<u32> {
    let i = ue_addr.wrapping_sub(UE_BASE + 1);
    (i < sessions).then_some(i)
}

impl Check {
    /// The session a correct frame belongs to; None for a frame that fails
    /// the check.
    fn session(&self, f: &[u8]) -> Option<u32> {
        match *self {
            Check::Raw {
                magic_at,
                ue_at,
                sessions,
            } => {
                if f.len() >= magic_at + 8
                    && f[..6] == RAW_SINK_MAC
                    && f[magic_at..magic_at + 8] == MAGIC
                {
                    session_of(be32(f, ue_at), sessions)
                } else {
                    None
                }
            }
            Check::Uplink { sessions, inner } => {
                if f.len() < 14 + MIN_INNER || f[..6] != DN_SINK_MAC || f[6..12] != N6_MAC {
                    return None;
                }
                let ip = &f[14..];
                let ok = ip[0] == 0x45
                    && ip[8] == 63
                    && ip[9] == 17
                    && usize::from(be16(ip, 2)) == inner
                    && csum(&ip[..20]) == 0
                    && ip[16..20] == DN_HOST
                    && be16(ip, 22) == DN_PORT
                    && ip[28..36] == MAGIC;
                if ok {
                    session_of(be32(ip, 12), sessions)
                } else {
                    None
                }
            }
            Check::Downlink { sessions } => {
                if f.len() < 14 + TUNNEL + MIN_INNER || f[..6] != GNB_SINK_MAC || f[6..12] != N3_MAC
                {
                    return None;
                }
                let o = &f[14..];
                let g = &o[28..];
                let inner = &g[16..];
                let ok = o[0] == 0x45
                    && o[9] == 17
                    && o[12..16] == N3_ADDR
                    && o[16..20] == GNB
                    && csum(&o[..20]) == 0
                    && be16(o, 22) == GTPU
                    && g[0] == 0x34
                    && g[1] == 0xff
                    && g[11] == 0x85
                    && g[12] == 1
                    && g[13] >> 4 == 0
                    && g[14] & 0x3f == QFI
                    && inner[0] == 0x45
                    && inner[28..36] == MAGIC;
                if !ok {
                    return None;
                }
                session_of(be32(inner, 16), sessions)
                    .filter(|&i| be32(g, 4) == REMOTE_TEID_BASE + i)
            }
        }
    }
}

/// One bit per session: which delivered a correct frame.
struct Seen(Vec<AtomicU64>);

impl Seen {
    fn new(sessions: u32) -> Seen {
        Seen(
            (0..sessions.max(1).div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }
    fn mark(&self, i: u32) {
        let (w, b) = (&self.0[i as usize / 64], 1u64 << (i % 64));
        // Only the first frame of a session writes.
        if w.load(Ordering::Relaxed) & b == 0 {
            w.fetch_or(b, Ordering::Relaxed);
        }
    }
    fn clear(&self) {
        for w in &self.0 {
            w.store(0, Ordering::Relaxed);
        }
    }
    fn count(&self) -> u32 {
        self.0
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum()
    }
}

// ---- the receiver: AF_PACKET, TPACKET_V3 ring ----

const SOL_PACKET: i32 = 263;
const PACKET_VERSION: i32 = 10;
const PACKET_RX_RING: i32 = 5;
const PACKET_STATISTICS: i32 = 6;
const PACKET_QDISC_BYPASS: i32 = 20;
const TPACKET_V3: i32 = 2;
const TP_STATUS_USER: u32 = 1;
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCK_NR: u32 = 32;
const FRAME_SIZE: u32 = 2048;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// What the receiver thread shares with the trials.
struct Counts {
    valid: AtomicU64,
    invalid: AtomicU64,
    /// The ring socket, for PACKET_STATISTICS (-1 until it is open).
    fd: AtomicI32,
    /// The sessions correct frames came from.
    seen: Seen,
}

impl Counts {
    fn new(sessions: u32) -> Counts {
        Counts {
            valid: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            fd: AtomicI32::new(-1),
            seen: Seen::new(sessions),
        }
    }
}

/// Ring drops since the last call (the kernel resets them on read).
fn ring_drops(fd: i32) -> u64 {
    if fd < 0 {
        return 0;
    }
    let mut st = TpacketStatsV3::default();
    let mut len = size_of::<TpacketStatsV3>() as libc::socklen_t;
    // SAFETY: st is a live TpacketStatsV3 of the length we pass.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_PACKET,
            PACKET_STATISTICS,
            (&mut st as *mut TpacketStatsV3).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        u64::from(st.drops)
    } else {
        0
    }
}

struct Ring {
    base: *mut u8,
    len: usize,
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping we made and nothing uses it any more.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Counts correct frames arriving on `iface` in namespace `ns` until `stop`.
fn receive(ns: &str, iface: &str, check: Check, counts: &Counts, stop: &AtomicBool) -> Result<()> {
    enter_netns(ns)?;
    let fd = packet_socket(iface, (libc::ETH_P_ALL as u16).to_be())?;
    setsockopt(
        fd.0,
        SOL_PACKET,
        PACKET_VERSION,
        &TPACKET_V3,
        "PACKET_VERSION",
    )?;
    // Copy only the first SNAPLEN bytes of each frame into the ring.
    let prog = [SockFilter {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: SNAPLEN,
    }];
    let fprog = SockFprog {
        len: 1,
        filter: prog.as_ptr(),
    };
    setsockopt(
        fd.0,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &fprog,
        "SO_ATTACH_FILTER",
    )?;
    let req = TpacketReq3 {
        block_size: BLOCK_SIZE,
        block_nr: BLOCK_NR,
        frame_size: FRAME_SIZE,
        frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCK_NR,
        retire_blk_tov: 4,
        sizeof_priv: 0,
        feature_req_word: 0,
    };
    setsockopt(fd.0, SOL_PACKET, PACKET_RX_RING, &req, "PACKET_RX_RING")?;
    let len = (BLOCK_SIZE * BLOCK_NR) as usize;
    // SAFETY: maps the ring the kernel just allocated for this socket.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_LOCKED,
            fd.0,
            0,
        )
    };
    ensure!(
        base != libc::MAP_FAILED,
        "mmap of the receive ring: {}",
        std::io::Error::last_os_error()
    );
    let ring = Ring {
        base: base.cast(),
        len,
    };
    ring_drops(fd.0);
    counts.fd.store(fd.0, Ordering::SeqCst);
    let mut block = 0usize;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: block < BLOCK_NR, so the block header lies inside the mapping.
        let hdr = unsafe { ring.base.add(block * BLOCK_SIZE as usize) };
        // SAFETY: block_status is the aligned u32 at offset 8 of the block
        // descriptor; the kernel writes it, hence the volatile read.
        let status = unsafe { std::ptr::read_volatile(hdr.add(8).cast::<u32>()) };
        if status & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd {
                fd: fd.0,
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: pfd is one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 10) };
            continue;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: num_pkts and offset_to_first_pkt are u32s at offsets 12 and
        // 16 of a block the kernel has handed to us.
        let (num, mut off) = unsafe {
            (
                std::ptr::read(hdr.add(12).cast::<u32>()),
                std::ptr::read(hdr.add(16).cast::<u32>()) as usize,
            )
        };
        let (mut good, mut bad) = (0u64, 0u64);
        for _ in 0..num {
            if off + 32 > BLOCK_SIZE as usize {
                break;
            }
            // SAFETY: off stays inside this block (checked above and below);
            // tpacket3_hdr: next_offset u32 @0, snaplen u32 @12, mac u16 @24.
            let (next, snap, mac) = unsafe {
                let p = hdr.add(off);
                (
                    std::ptr::read(p.cast::<u32>()) as usize,
                    std::ptr::read(p.add(12).cast::<u32>()) as usize,
                    std::ptr::read(p.add(24).cast::<u16>()) as usize,
                )
            };
            if off + mac + snap > BLOCK_SIZE as usize {
                break;
            }
            // SAFETY: the frame's bytes lie inside this block (checked above).
            let frame = unsafe { std::slice::from_raw_parts(hdr.add(off + mac), snap) };
            match check.session(frame) {
                Some(i) => {
                    good += 1;
                    counts.seen.mark(i);
                }
                None => bad += 1,
            }
            if next == 0 {
                break;
            }
            off += next;
        }
        counts.valid.fetch_add(good, Ordering::Relaxed);
        counts.invalid.fetch_add(bad, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        // SAFETY: hands the block back to the kernel (block_status = TP_STATUS_KERNEL).
        unsafe { std::ptr::write_volatile(hdr.add(8).cast::<u32>(), 0) };
        block = (block + 1) % BLOCK_NR as usize;
    }
    counts.fd.store(-1, Ordering::SeqCst);
    drop(ring);
    Ok(())
}

// ---- the generator ----

struct Sent {
    offered: u64,
    refused: u64,
    secs: f64,
    /// Where the next trial carries on in the round robin.
    next: u32,
}

/// Sends `flows` from `iface` in `ns` on CPU `cpu` at `rate` frames/s
/// (None: as fast as possible) for `duration`: each frame is the next
/// session's in the flows' order, starting at position `start` of the cycle.
fn generate(
    ns: &str,
    iface: &str,
    cpu: usize,
    flows: &Flows,
    start: u32,
    rate: Option<f64>,
    duration: Duration,
) -> Result<Sent> {
    pin_thread(&[cpu])?;
    enter_netns(ns)?;
    let fd = packet_socket(iface, 0)?;
    setsockopt(
        fd.0,
        SOL_PACKET,
        PACKET_QDISC_BYPASS,
        &1i32,
        "PACKET_QDISC_BYPASS",
    )?;
    setsockopt(
        fd.0,
        libc::SOL_SOCKET,
        libc::SO_SNDBUFFORCE,
        &(8i32 << 20),
        "SO_SNDBUFFORCE",
    )?;
    // One buffer per message of a batch, each starting as the template;
    // a frame's per-session fields are written just before it is sent.
    let len = flows.frame_len();
    let mut bufs = flows.template.repeat(BATCH);
    let mut iov: Vec<libc::iovec> = (0..BATCH)
        .map(|_| libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: len,
        })
        .collect();
    // SAFETY: mmsghdr is plain data; zeroes are a valid empty message.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    let (mut offered, mut refused) = (0u64, 0u64);
    let mut pos = start % flows.sessions;
    let began = Instant::now();
    loop {
        let el = began.elapsed();
        if el >= duration {
            break;
        }
        let budget = match rate {
            None => BATCH as u64,
            Some(r) => ((r * el.as_secs_f64()) as u64 + 1).saturating_sub(offered),
        };
        if budget == 0 {
            std::hint::spin_loop();
            continue;
        }
        let n = budget.min(BATCH as u64) as usize;
        let mut p = pos;
        for (k, slot) in bufs.chunks_exact_mut(len).take(n).enumerate() {
            flows.write(slot, flows.session_at(p));
            p = if p + 1 == flows.sessions { 0 } else { p + 1 };
            iov[k].iov_base = slot.as_mut_ptr().cast();
        }
        for (m, v) in msgs.iter_mut().zip(iov.iter_mut()).take(n) {
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first n messages each point at one iovec of a buffer
        // in `bufs`, which is neither moved nor touched during the call.
        let r = unsafe { libc::sendmmsg(fd.0, msgs.as_mut_ptr(), n as u32, 0) };
        // Frames of the batch handed to the socket, sent or refused; the
        // rest are written again (for the same sessions) next time.
        let used = if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                    offered += 1;
                    refused += 1;
                    1
                }
                Some(libc::EINTR) => 0,
                _ => bail!("sendmmsg on {iface}: {e}"),
            }
        } else if (r as usize) < n {
            // The message after the last one sent failed and was dropped
            // (sendmmsg loses its error): offered and refused.
            offered += r as u64 + 1;
            refused += 1;
            r as u32 + 1
        } else {
            offered += r as u64;
            r as u32
        };
        pos = (pos + used) % flows.sessions;
    }
    Ok(Sent {
        offered,
        refused,
        secs: began.elapsed().as_secs_f64(),
        next: pos,
    })
}

// ---- the lab ----

/// Where upfd, upfctl and mupf-lab are: `$UPF_BIN_DIR`, else next to this executable
/// (or its parent: `target/<profile>/deps` for tests).
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("UPF_BIN_DIR") {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut dirs = vec![];
    if let Some(d) = exe.parent() {
        dirs.push(d.to_path_buf());
        if let Some(p) = d.parent() {
            dirs.push(p.to_path_buf()); // target/<profile>/deps -> target/<profile>
        }
    }
    for d in &dirs {
        if ["upfd", "upfctl", "mupf-lab"]
            .iter()
            .all(|b| d.join(b).is_file())
        {
            return Ok(d.clone());
        }
    }
    bail!(
        "upfd, upfctl and mupf-lab not found next to {} (build them: `cargo build --release -p upfd -p upfctl -p mvno-upf-tests --bins`, \
         or set UPF_BIN_DIR)",
        exe.display()
    )
}

struct Lab {
    ran: String,
    gw: String,
    dn: String,
    r0: String,
    n3: String,
    n6: String,
    d0: String,
    dir: PathBuf,
    pins: PathBuf,
    bins: PathBuf,
    upfd: Option<Child>,
}

impl Lab {
    fn up() -> Result<Lab> {
        let id = format!("{:04x}", std::process::id() & 0xffff);
        let bins = bin_dir()?;
        ensure!(
            Command::new("ip").arg("-V").output().is_ok(),
            "`ip` is missing (iproute2)"
        );
        let lab = Lab {
            ran: format!("mupf-e{id}-ran"),
            gw: format!("mupf-e{id}-gw"),
            dn: format!("mupf-e{id}-dn"),
            r0: format!("mue{id}r0"),
            n3: format!("mue{id}n3"),
            n6: format!("mue{id}n6"),
            d0: format!("mue{id}d0"),
            dir: std::env::temp_dir().join(format!("mupf-e2e-bench-{id}")),
            pins: PathBuf::from(format!("/sys/fs/bpf/mupf-e2e-bench-{id}")),
            bins,
            upfd: None,
        };
        // Leftovers of an earlier run with the same id.
        lab.remove();
        std::fs::create_dir_all(&lab.dir)
            .with_context(|| format!("creating {}", lab.dir.display()))?;
        for ns in [&lab.ran, &lab.gw, &lab.dn] {
            run_cmd("ip", &["netns", "add", ns])?;
        }
        lab.configure()?;
        Ok(lab)
    }

    fn ip(&self, ns: &str, args: &str) -> Result<()> {
        let mut all = vec!["-n", ns];
        all.extend(args.split_whitespace());
        run_cmd("ip", &all)
    }

    fn sysctl(&self, ns: &str, kv: &str) -> Result<()> {
        run_cmd("ip", &["netns", "exec", ns, "sysctl", "-qw", kv])
    }

    fn configure(&self) -> Result<()> {
        let (ran, gw, dn) = (&self.ran, &self.gw, &self.dn);
        self.ip(
            ran,
            &format!(
                "link add {} address {} type veth peer name {} netns {gw} address {}",
                self.r0,
                mac_str(R0_MAC),
                self.n3,
                mac_str(N3_MAC)
            ),
        )?;
        self.ip(
            gw,
            &format!(
                "link add {} address {} type veth peer name {} netns {dn} address {}",
                self.n6,
                mac_str(N6_MAC),
                self.d0,
                mac_str(D0_MAC)
            ),
        )?;
        for ns in [ran, gw, dn] {
            // No IPv6 chatter (ND, MLD) on the links.
            self.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")?;
            self.sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1")?;
            self.ip(ns, "link set lo up")?;
        }
        self.ip(ran, &format!("link set {} up", self.r0))?;
        self.ip(dn, &format!("link set {} up", self.d0))?;
        self.ip(gw, &format!("link set {} up", self.n3))?;
        self.ip(gw, &format!("link set {} up", self.n6))?;
        self.ip(
            gw,
            &format!("addr add {}/24 dev {}", ip_str(N3_ADDR), self.n3),
        )?;
        self.ip(
            gw,
            &format!("addr add {}/24 dev {}", ip_str(N6_ADDR), self.n6),
        )?;
        self.ip(
            gw,
            &format!(
                "neigh replace {} lladdr {} dev {} nud permanent",
                ip_str(GNB),
                mac_str(GNB_SINK_MAC),
                self.n3
            ),
        )?;
        self.ip(
            gw,
            &format!(
                "neigh replace {} lladdr {} dev {} nud permanent",
                ip_str(DN_NEXT_HOP),
                mac_str(DN_SINK_MAC),
                self.n6
            ),
        )?;
        self.ip(
            gw,
            &format!("route add 198.51.100.0/24 via {}", ip_str(DN_NEXT_HOP)),
        )?;
        self.sysctl(gw, "net.ipv4.ip_forward=1")?;
        self.sysctl(gw, "net.ipv4.conf.all.rp_filter=0")?;
        Ok(())
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("upfd.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("upfd.log")).unwrap_or_default()
    }

    fn stats(&self) -> String {
        Command::new(self.bins.join("upfctl"))
            .arg("--socket")
            .arg(self.sock())
            .arg("stats")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Starts upfd with `sessions` static sessions in `tables`; returns the
    /// size of the sessions file it read.
    fn start_upfd(
        &mut self,
        mode: Mode,
        sessions: u32,
        tables: Tables,
        options: &[String],
    ) -> Result<usize> {
        self.stop_upfd();
        let mut s = String::with_capacity(sessions as usize * 160);
        let teid_base = tables.teid_base();
        for i in 0..sessions {
            let u = ue(i);
            let _ = writeln!(
                s,
                "[[session]]\nid = {}\nlocal_teid = {}\nue_ipv4 = \"{}\"\npeer_ipv4 = \"{}\"\nremote_teid = {}\ngeneration = \"5g\"\nqfi = {QFI}\n",
                i + 1,
                teid_base + i,
                ip_str(u),
                ip_str(GNB),
                REMOTE_TEID_BASE + i
            );
        }
        let file_len = s.len();
        let sessions_path = self.dir.join("sessions.toml");
        std::fs::write(&sessions_path, s)?;
        let mut cfg = format!(
            "[gateway]\nn3_address = \"{}\"\nmax_sessions = {}\nattach_mode = \"{}\"\n\
             control_socket = \"{}\"\nstatic_sessions = \"{}\"\necho_interval_secs = 0\n\
             stats_log_secs = 0\n",
            ip_str(N3_ADDR),
            sessions.max(1024),
            mode.name(),
            self.sock().display(),
            sessions_path.display()
        );
        if tables == Tables::Direct {
            let (net, len) = ue_prefix(sessions);
            let _ = writeln!(cfg, "ue_prefixes = [\"{}/{len}\"]", ip_str(net));
        }
        for o in options {
            cfg.push_str(o);
            cfg.push('\n');
        }
        let _ = write!(
            cfg,
            "\n[[interface]]\nname = \"{}\"\nroles = [\"n3\"]\n\n[[interface]]\nname = \"{}\"\nroles = [\"n6\"]\n\n[meter]\nstore = \"sqlite:{}\"\n",
            self.n3,
            self.n6,
            self.dir.join("meter.db").display()
        );
        let cfg_path = self.dir.join("upf.toml");
        std::fs::write(&cfg_path, cfg)?;
        if mode == Mode::Native {
            // TOOLCHAIN P8: veth drops XDP_TX/REDIRECT frames toward a peer
            // without a native XDP program.
            if !Path::new("/sys/fs/bpf").join(".").exists()
                || !std::fs::read_to_string("/proc/mounts")
                    .unwrap_or_default()
                    .contains(" /sys/fs/bpf bpf ")
            {
                run_cmd("mount", &["-t", "bpf", "bpf", "/sys/fs/bpf"])?;
            }
            std::fs::create_dir_all(&self.pins)?;
            for (ns, ifc, pin) in [(&self.ran, &self.r0, "r0"), (&self.dn, &self.d0, "d0")] {
                // nsenter, not `ip netns exec`: the latter remounts /sys and
                // hides the bpffs the pin goes to.
                let out = Command::new("nsenter")
                    .arg(format!("--net=/run/netns/{ns}"))
                    .arg(self.bins.join("mupf-lab"))
                    .args(["xdp-pass", "--iface", ifc, "--pin"])
                    .arg(self.pins.join(pin))
                    .output()
                    .context("running mupf-lab xdp-pass")?;
                ensure!(
                    out.status.success(),
                    "mupf-lab xdp-pass on {ifc} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let log = File::create(self.dir.join("upfd.log"))?;
        let _ = std::fs::remove_file(self.sock());
        self.upfd = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.gw])
                .arg(self.bins.join("upfd"))
                .arg("--config")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting upfd")?,
        );
        // The control socket opens once the static sessions are installed;
        // allow for large session counts (about 1 ms per 100 sessions on top).
        let limit = Duration::from_secs(60) + Duration::from_millis(u64::from(sessions) / 100);
        let t = Instant::now();
        while !self.sock().exists() {
            check_interrupt()?;
            if let Some(status) = self.upfd.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.upfd = None;
                bail!("upfd exited ({status}) at start:\n{}", self.log());
            }
            ensure!(
                t.elapsed() < limit,
                "upfd not ready after {} s:\n{}",
                limit.as_secs(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(file_len)
    }

    /// Checks that upfd put the sessions where `tables` says: the hash
    /// fallbacks hold every session (hash) or none (direct). Returns their
    /// entries (uplink, downlink).
    fn check_tables(&self, sessions: u32, tables: Tables) -> Result<(usize, usize)> {
        let pid = self.upfd.as_ref().context("upfd is not running")?.id();
        let (ul, dl) = crate::tables::map_entries(pid)?;
        let want = match tables {
            Tables::Hash => sessions as usize,
            Tables::Direct => 0,
        };
        ensure!(
            (ul, dl) == (want, want),
            "{} tables with {sessions} sessions: upfd's UPLINK and DOWNLINK hashes hold {ul} and \
             {dl} entries, expected {want} each",
            tables.name()
        );
        Ok((ul, dl))
    }

    fn stop_upfd(&mut self) {
        if let Some(mut c) = self.upfd.take() {
            // SAFETY: kill with a pid of a child we own (not yet reaped).
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.pins);
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.pins);
        for ns in [&self.ran, &self.gw, &self.dn] {
            if Path::new("/run/netns").join(ns).exists() {
                if let Err(e) = run_cmd("ip", &["netns", "del", ns]) {
                    eprintln!("deleting namespace {ns}: {e:#}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_upfd();
        self.remove();
    }
}

// ---- trials ----

/// One phase: a receiver running on one veth while trials are sent from another.
struct Path2<'a> {
    gen_ns: &'a str,
    gen_if: &'a str,
    gen_cpu: usize,
    counts: &'a Counts,
    trial: Duration,
    flows: &'a Flows,
    /// The round robin's position: each trial carries on where the last stopped.
    next: &'a AtomicU32,
}

impl Path2<'_> {
    fn trial(&self, rate: Option<f64>) -> Result<Trial> {
        check_interrupt()?;
        let before = (
            self.counts.valid.load(Ordering::SeqCst),
            self.counts.invalid.load(Ordering::SeqCst),
        );
        ring_drops(self.counts.fd.load(Ordering::SeqCst));
        let sent = std::thread::scope(|s| {
            s.spawn(|| {
                generate(
                    self.gen_ns,
                    self.gen_if,
                    self.gen_cpu,
                    self.flows,
                    self.next.load(Ordering::SeqCst),
                    rate,
                    self.trial,
                )
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?
        })?;
        self.next.store(sent.next, Ordering::SeqCst);
        // Wait for the tail: until the count stops moving (ring blocks retire after 4 ms).
        std::thread::sleep(Duration::from_millis(30));
        let t = Instant::now();
        let mut last = self.counts.valid.load(Ordering::SeqCst);
        while t.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(25));
            let now = self.counts.valid.load(Ordering::SeqCst);
            if now == last && now - before.0 >= sent.offered {
                break;
            }
            if now == last && t.elapsed() > Duration::from_millis(100) {
                break;
            }
            last = now;
        }
        Ok(Trial {
            offered: sent.offered,
            refused: sent.refused,
            received: self.counts.valid.load(Ordering::SeqCst) - before.0,
            invalid: self.counts.invalid.load(Ordering::SeqCst) - before.1,
            ring_drops: ring_drops(self.counts.fd.load(Ordering::SeqCst)),
            secs: sent.secs,
        })
    }
}

fn log_trial(verbose: bool, what: &str, rate: Option<f64>, t: &Trial) {
    if verbose {
        eprintln!(
            "  {what}: target {} -> offered {:.0} pps, counted {:.0} pps, lost {} (refused {}, invalid {}, ring drops {})",
            rate.map_or("full".into(), |r| format!("{r:.0} pps")),
            t.offered_pps(),
            t.received_pps(),
            t.lost(),
            t.refused,
            t.invalid,
            t.ring_drops
        );
    }
}

/// What a case measured.
struct Measured {
    /// The best full-load trial.
    full: Trial,
    zero_loss_pps: Option<f64>,
    trials: usize,
    /// Distinct sessions counted during the full-load trials.
    reached: u32,
}

/// The full-load trials, then the binary search for the zero-loss rate.
fn measure_case(config: &Config, path: &Path2<'_>) -> Result<Measured> {
    path.counts.seen.clear();
    let mut full = path.trial(None)?;
    log_trial(config.verbose, "full load", None, &full);
    for _ in 1..config.full_trials {
        let t = path.trial(None)?;
        log_trial(config.verbose, "full load", None, &t);
        if t.received_pps() > full.received_pps() {
            full = t;
        }
    }
    let reached = path.counts.seen.count();
    ensure!(
        full.received > 0,
        "nothing was delivered at full load (offered {}, invalid {})",
        full.offered,
        full.invalid
    );
    let mut trials = config.full_trials.max(1);
    if full.lost() == 0 {
        return Ok(Measured {
            full,
            zero_loss_pps: Some(full.offered_pps()),
            trials,
            reached,
        });
    }
    let (mut lo, mut hi) = (0.0f64, full.offered_pps());
    let mut best: Option<f64> = None;
    let mut rate = full.received_pps() * 0.98;
    for _ in 0..config.search_trials {
        let t = path.trial(Some(rate))?;
        trials += 1;
        log_trial(config.verbose, "search", Some(rate), &t);
        if t.lost() == 0 {
            lo = rate;
            best = Some(best.map_or(t.offered_pps(), |b: f64| b.max(t.offered_pps())));
        } else {
            hi = rate;
        }
        if hi - lo <= config.resolution * hi {
            break;
        }
        rate = (lo + hi) / 2.0;
    }
    Ok(Measured {
        full,
        zero_loss_pps: best,
        trials,
        reached,
    })
}

/// Runs the matrix.
pub fn run(config: &Config, command: &str) -> Result<Report> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    ensure!(
        euid == 0,
        "e2e-bench needs root (network namespaces, AF_PACKET, XDP)"
    );
    for &s in &config.sizes {
        ensure!(
            (MIN_INNER..=1400).contains(&s),
            "inner packet size {s}: must be {MIN_INNER}..=1400 (veth MTU 1500 with the tunnel)"
        );
    }
    for &n in &config.sessions {
        ensure!(
            (1..=MAX_SESSIONS).contains(&n),
            "sessions {n}: must be 1..={MAX_SESSIONS} (the sessions file upfd parses at start grows with them)"
        );
    }
    ensure!(!config.orders.is_empty(), "no order to send in");
    ensure!(!config.tables.is_empty(), "no session tables to use");
    let machine = machine();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gen_cpu = config.gen_cpu.unwrap_or(ncpu - 1);
    ensure!(
        gen_cpu < ncpu,
        "--gen-cpu {gen_cpu}: this machine has {ncpu} CPUs"
    );
    let others: Vec<usize> = (0..ncpu).filter(|&c| c != gen_cpu).collect();
    let others = if others.is_empty() {
        vec![gen_cpu]
    } else {
        others
    };
    // This thread (and so the receiver thread and upfd, spawned from it) off
    // the generator's CPU; restored on the way out.
    let _restore = Affinity::save()?;
    pin_thread(&others)?;
    let layout = format!(
        "the generator thread is pinned to CPU {gen_cpu}, so the sending veth's transmit, the \
         gateway's XDP program (native: the peer's NAPI poll; generic: the backlog), the \
         redirect and the receiving veth's softirq all run on CPU {gen_cpu}; upfd, the \
         receiver thread and the benchmark's control thread are pinned to CPU(s) {others:?}{}",
        if ncpu == 1 {
            " (one CPU only: nothing is isolated)"
        } else {
            ""
        }
    );
    if config.verbose {
        eprintln!("e2e-bench: {layout}");
    }
    let mut lab = Lab::up()?;
    let mut rows = Vec::new();

    // One phase per (receiving interface, check): the receiver thread lives for the phase.
    let phase = |lab: &Lab, dir: Direction, check: Check, flows: &Flows| -> Result<Measured> {
        let (gen_ns, gen_if, rx_ns, rx_if) = match (dir, check) {
            (Direction::Uplink, Check::Raw { .. }) => (&lab.ran, &lab.r0, &lab.gw, &lab.n3),
            (Direction::Downlink, Check::Raw { .. }) => (&lab.dn, &lab.d0, &lab.gw, &lab.n6),
            (Direction::Uplink, _) => (&lab.ran, &lab.r0, &lab.dn, &lab.d0),
            (Direction::Downlink, _) => (&lab.dn, &lab.d0, &lab.ran, &lab.r0),
        };
        let counts = Counts::new(flows.sessions);
        let next = AtomicU32::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let rx = s.spawn(|| receive(rx_ns, rx_if, check, &counts, &stop));
            let t = Instant::now();
            while counts.fd.load(Ordering::SeqCst) < 0 {
                if rx.is_finished() || t.elapsed() > Duration::from_secs(5) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let path = Path2 {
                gen_ns,
                gen_if,
                gen_cpu,
                counts: &counts,
                trial: config.trial,
                flows,
                next: &next,
            };
            let result = if counts.fd.load(Ordering::SeqCst) < 0 {
                Err(anyhow::anyhow!("the receiver on {rx_if} did not start"))
            } else {
                // A short warm-up at a low rate: the path must deliver.
                (|| {
                    let warm = Path2 {
                        trial: Duration::from_millis(100),
                        ..path
                    }
                    .trial(Some(20_000.0))?;
                    log_trial(config.verbose, "warm-up", Some(20_000.0), &warm);
                    ensure!(
                        warm.received * 10 >= warm.offered * 9,
                        "warm-up: {} of {} frames delivered to {rx_if} ({} invalid)",
                        warm.received,
                        warm.offered,
                        warm.invalid
                    );
                    measure_case(config, &path)
                })()
            };
            stop.store(true, Ordering::SeqCst);
            let rx_result = rx
                .join()
                .map_err(|_| anyhow::anyhow!("the receiver thread panicked"))?;
            rx_result.context("the receiver")?;
            result
        })
    };

    if config.ceiling {
        for &dir in &config.directions {
            for &inner in &config.sizes {
                if config.verbose {
                    eprintln!("ceiling: {} {inner} B (no gateway)", dir.name());
                }
                let order = config.orders[0];
                let tables = config.tables[0];
                let flows = Flows::new(dir, inner, 1, tables, order, config.seed)
                    .with_dst_mac(RAW_SINK_MAC);
                let l = Layout::of(dir);
                let check = Check::Raw {
                    magic_at: dir.frame_len(inner) - inner + 28,
                    ue_at: l.ue_at,
                    sessions: 1,
                };
                let m = phase(&lab, dir, check, &flows)?;
                rows.push(Row {
                    direction: dir,
                    inner,
                    mode: None,
                    sessions: 0,
                    order,
                    tables,
                    reached: m.reached,
                    zero_loss_pps: m.zero_loss_pps,
                    full: m.full,
                    trials: m.trials,
                });
            }
        }
    }

    for &mode in &config.modes {
        for &tables in &config.tables {
            for &sessions in &config.sessions {
                if config.verbose {
                    eprintln!(
                        "upfd: {} mode, {sessions} sessions, {} tables",
                        mode.name(),
                        tables.name()
                    );
                }
                let t = Instant::now();
                let file_len = lab.start_upfd(mode, sessions, tables, &config.gateway_options)?;
                let ready = t.elapsed();
                let (ul, dl) = lab.check_tables(sessions, tables)?;
                if config.verbose {
                    eprintln!(
                        "  ready in {:.1} s ({sessions} static sessions, a {:.1} MB sessions file); \
                         hash fallback entries: {ul} uplink, {dl} downlink",
                        ready.as_secs_f64(),
                        file_len as f64 / 1e6
                    );
                }
                for &order in &config.orders {
                    for &dir in &config.directions {
                        for &inner in &config.sizes {
                            if config.verbose {
                                eprintln!(
                                    "{} {inner} B, {sessions} sessions, {}, order {}, {} tables",
                                    dir.name(),
                                    mode.name(),
                                    order.name(),
                                    tables.name()
                                );
                            }
                            let flows =
                                Flows::new(dir, inner, sessions, tables, order, config.seed);
                            let check = match dir {
                                Direction::Uplink => Check::Uplink { sessions, inner },
                                Direction::Downlink => Check::Downlink { sessions },
                            };
                            let m = phase(&lab, dir, check, &flows).with_context(|| {
                                format!(
                                    "{} {inner} B, {sessions} sessions, {} mode, order {}, {} tables\nupfd stats:\n{}\nupfd log:\n{}",
                                    dir.name(),
                                    mode.name(),
                                    order.name(),
                                    tables.name(),
                                    lab.stats(),
                                    lab.log()
                                )
                            })?;
                            if config.verbose {
                                eprintln!(
                                    "  sessions reached at full load: {} of {sessions}",
                                    m.reached
                                );
                            }
                            rows.push(Row {
                                direction: dir,
                                inner,
                                mode: Some(mode),
                                sessions,
                                order,
                                tables,
                                reached: m.reached,
                                zero_loss_pps: m.zero_loss_pps,
                                full: m.full,
                                trials: m.trials,
                            });
                        }
                    }
                }
                lab.stop_upfd();
            }
        }
    }
    drop(lab);
    Ok(Report {
        rows,
        command: command.to_string(),
        layout,
        trial_ms: config.trial.as_millis(),
        full_trials: config.full_trials.max(1),
        gateway_options: config.gateway_options.clone(),
        title: config.title.clone(),
        machine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_sizes_and_checksums_we_claim() {
        for inner in [MIN_INNER, 64, 1400] {
            let u = uplink_frame(TEID_BASE + 7, ue(7), inner);
            assert_eq!(u.len(), Direction::Uplink.frame_len(inner));
            assert_eq!(csum(&u[14..34]), 0);
            assert_eq!(csum(&u[14 + TUNNEL..14 + TUNNEL + 20]), 0);
            let d = downlink_frame(ue(7), inner);
            assert_eq!(d.len(), Direction::Downlink.frame_len(inner));
            assert_eq!(csum(&d[14..34]), 0);
        }
    }

    /// A patched template must be byte for byte the frame built from
    /// scratch for that session, whatever the buffer held before (the
    /// incremental checksum included: it is checked against a recomputed one).
    #[test]
    fn patched_frames_are_the_sessions_own_frames() {
        let many = [0, 1, 2, 254, 255, 256, 65_534, 65_535, 65_536, 99_999];
        for dir in [Direction::Uplink, Direction::Downlink] {
            for tables in [Tables::Hash, Tables::Direct] {
                for inner in [MIN_INNER, 64, 1400] {
                    let flows = Flows::new(dir, inner, 100_000, tables, Order::Random, 1);
                    let mut buf = flows.template.clone();
                    for &i in many.iter().chain(&[MAX_SESSIONS - 1, 3]) {
                        flows.write(&mut buf, i);
                        let want = match dir {
                            Direction::Uplink => uplink_frame(tables.teid_base() + i, ue(i), inner),
                            Direction::Downlink => downlink_frame(ue(i), inner),
                        };
                        assert_eq!(buf, want, "{dir:?} {tables:?} {inner} B session {i}");
                        let ip = Layout::of(dir).ip_at;
                        assert_eq!(csum(&buf[ip..ip + 20]), 0);
                    }
                }
            }
        }
    }

    #[test]
    fn both_orders_send_every_session_once_per_cycle() {
        for n in [1u32, 16, 1000, 100_000] {
            for order in [Order::Random, Order::RoundRobin] {
                let flows = Flows::new(Direction::Uplink, 64, n, Tables::Hash, order, 7);
                let cycle: Vec<u32> = (0..n).map(|k| flows.session_at(k)).collect();
                let mut sorted = cycle.clone();
                sorted.sort_unstable();
                assert!(
                    sorted.iter().copied().eq(0..n),
                    "{order:?} with {n} sessions is not a permutation"
                );
                if order == Order::RoundRobin {
                    assert!(cycle.iter().copied().eq(0..n));
                } else if n >= 1000 {
                    // Consecutive frames rarely hit neighbouring sessions.
                    let near = cycle
                        .windows(2)
                        .filter(|w| w[0].abs_diff(w[1]) <= 8)
                        .count();
                    assert!(
                        near * 20 < n as usize,
                        "{near} of {n} steps are to a neighbour"
                    );
                }
            }
        }
        // The same seed gives the same order (the runs are repeatable).
        let a = Flows::new(
            Direction::Downlink,
            64,
            5000,
            Tables::Hash,
            Order::Random,
            9,
        );
        let b = Flows::new(
            Direction::Downlink,
            64,
            5000,
            Tables::Hash,
            Order::Random,
            9,
        );
        assert!((0..5000).all(|k| a.session_at(k) == b.session_at(k)));
    }

    #[test]
    fn the_ue_prefix_holds_every_session_and_little_more() {
        assert_eq!(ue_prefix(1), ([10, 45, 0, 0], 31));
        assert_eq!(ue_prefix(16), ([10, 45, 0, 0], 27));
        assert_eq!(ue_prefix(65_535), ([10, 45, 0, 0], 16));
        // The last UE, 10.46.0.0, is outside 10.44.0.0/15.
        assert_eq!(ue_prefix(65_536), ([10, 44, 0, 0], 14));
        assert_eq!(ue_prefix(100_000), ([10, 44, 0, 0], 14));
        for n in [1, 16, 1000, 65_536, 100_000, MAX_SESSIONS] {
            let (net, len) = ue_prefix(n);
            let net = u32::from_be_bytes(net);
            let size = 1u64 << (32 - len);
            for a in [UE_BASE + 1, UE_BASE + n] {
                assert!(
                    u64::from(a - net) < size,
                    "{n} sessions: {a:#x} outside /{len}"
                );
            }
            assert!(size <= upf_abi::MAX_DIRECT_UES, "{n} sessions: /{len}");
        }
    }

    #[test]
    fn the_checks_accept_what_the_gateway_should_write_and_name_the_session() {
        // Uplink: the inner packet, TTL decremented, new Ethernet header.
        let inner = 64;
        let d = downlink_frame(ue(3), inner);
        let mut ip = d[14..].to_vec();
        ip[12..16].copy_from_slice(&ue(3));
        ip[16..20].copy_from_slice(&DN_HOST);
        ip[8] = 63;
        ip[10] = 0;
        ip[11] = 0;
        let c = csum(&ip[..20]).to_be_bytes();
        ip[10] = c[0];
        ip[11] = c[1];
        ip[22..24].copy_from_slice(&DN_PORT.to_be_bytes());
        let f = [eth(DN_SINK_MAC, N6_MAC), ip].concat();
        assert_eq!(Check::Uplink { sessions: 4, inner }.session(&f), Some(3));
        assert_eq!(Check::Uplink { sessions: 3, inner }.session(&f), None);
        let mut bad = f.clone();
        bad[14 + 10] ^= 1; // the header checksum
        assert_eq!(Check::Uplink { sessions: 4, inner }.session(&bad), None);
        // Downlink: our tunnel toward the gNB.
        let pkt = udp_packet(DN_HOST, ue(3), (DN_PORT, UE_PORT), inner);
        let t = (REMOTE_TEID_BASE + 3).to_be_bytes();
        let mut f = eth(GNB_SINK_MAC, N3_MAC);
        f.extend_from_slice(&ipv4(N3_ADDR, GNB, 20 + 8 + 16 + inner, 64));
        f.extend_from_slice(&[0x08, 0x68, 0x08, 0x68, 0, 0, 0, 0]);
        f.extend_from_slice(&[0x34, 0xff, 0, 0, t[0], t[1], t[2], t[3]]);
        f.extend_from_slice(&[0, 0, 0, 0x85, 1, 0, QFI, 0]);
        f.extend_from_slice(&pkt);
        let snap = &f[..f.len().min(SNAPLEN as usize)];
        assert_eq!(Check::Downlink { sessions: 4 }.session(snap), Some(3));
        f[14 + 28 + 7] ^= 1; // another session's TEID
        assert_eq!(Check::Downlink { sessions: 4 }.session(&f), None);
        // Ceiling: the frame as sent, by its UE address.
        for dir in [Direction::Uplink, Direction::Downlink] {
            let flows = Flows::new(dir, inner, 10, Tables::Hash, Order::Random, 1)
                .with_dst_mac(RAW_SINK_MAC);
            let mut buf = flows.template.clone();
            flows.write(&mut buf, 6);
            let raw = Check::Raw {
                magic_at: dir.frame_len(inner) - inner + 28,
                ue_at: Layout::of(dir).ue_at,
                sessions: 10,
            };
            assert_eq!(raw.session(&buf), Some(6), "{dir:?}");
        }
    }

    #[test]
    fn seen_counts_distinct_sessions() {
        let seen = Seen::new(130);
        for i in [0, 0, 63, 64, 129, 129, 5] {
            seen.mark(i);
        }
        assert_eq!(seen.count(), 5);
        seen.clear();
        assert_eq!(seen.count(), 0);
    }
}
