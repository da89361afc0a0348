//! The fast path in isolation: the XDP program's cost per packet under
//! BPF_PROG_TEST_RUN, net of a bare XDP_DROP program measured the same way
//! and as a ratio to a bare XDP_TX program that swaps MACs (the floor).
//!
//! The program is loaded in a network namespace of our own (`mupf-b<pid>`)
//! with a veth pair for N3 and one for N6, addresses, routes and permanent
//! neighbour entries, so that the ingress ifindexes exist and
//! `bpf_fib_lookup` answers. Sessions go straight into the maps through the
//! `Datapath` trait (what `SessionManager::install` writes for a static
//! session: one uplink entry, one downlink entry, one counter slot).
//!
//! Every case runs with `repeat = 1` over many frames and sums the kernel's
//! `duration` (TOOLCHAIN P6: with `repeat = N` the kernel reuses one buffer,
//! so a rewriting program would see its own output from the second run on).
//! `kernel.bpf_stats_enabled` is not touched (P7). Cases are interleaved in
//! rounds; a figure is the median over rounds of the round's mean.

pub mod e2e;
pub mod zipf;

use std::fmt::Write as _;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aya::programs::{TestRun, TestRunOptions, Xdp};
use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, UdpHeader};
use upf_abi::{
    names, xdp_action, DownlinkEntry, PdrAction, UplinkEntry, ACT_5G, ACT_FORWARD, ROLE_N3, ROLE_N6,
};
use upf_session::datapath::Datapath;
use upfd::bpf::{BpfDatapath, LoadOptions, Port};
use upfd::nexthop::{compute, Cache, Desired, Snapshot};

pub mod cpbench;

// ---- the namespace's fixed addressing ----

pub(crate) type Mac = [u8; 6];
pub(crate) type V4 = [u8; 4];

const N3_IF: &str = "mbn3";
const N3_PEER_IF: &str = "mbn3p";
const N6_IF: &str = "mbn6";
const N6_PEER_IF: &str = "mbn6p";
const N3_MAC: Mac = [0x02, 0, 0, 0xb0, 0x03, 0x01];
const GNB_MAC: Mac = [0x02, 0, 0, 0xb0, 0x03, 0x02];
const N6_MAC: Mac = [0x02, 0, 0, 0xb0, 0x06, 0x01];
const GW_MAC: Mac = [0x02, 0, 0, 0xb0, 0x06, 0x02];
/// Our GTP-U address on N3.
const N3_ADDR: V4 = [10, 100, 0, 1];
/// The gNB / eNB, with a permanent neighbour entry on N3.
const GNB: V4 = [10, 100, 0, 2];
const N6_ADDR: V4 = [10, 200, 0, 1];
/// The N6 default gateway (permanent neighbour).
const GW: V4 = [10, 200, 0, 254];
/// A data network host (reached by the default route).
const DN_HOST: V4 = [198, 51, 100, 7];
/// Session i: local TEID `TEID_BASE + i`, UE `UE_BASE + i`, remote TEID
/// `REMOTE_TEID_BASE + i`, counter slot i, downlink 5G with QFI 9.
const TEID_BASE: u32 = 0x0010_0000;
const UE_BASE: u32 = 0x0a40_0000; // 10.64.0.0
const REMOTE_TEID_BASE: u32 = 0x5000_0000;
const QFI: u8 = 9;
/// Metered session i (the QER cases) is session `METERED + i`: a parallel
/// set of sessions with one rate meter per direction (UL meter `2i`, DL
/// `2i + 1`), as a session-level QER (AMBR) compiles.
const METERED: u32 = 0x0100_0000;
/// The metered sessions' MBR: high enough that every packet conforms (the
/// bench measures the conforming path: clock read, compare-and-swap, counters).
const METERED_BPS: u64 = 100_000_000_000;
/// TEIDs from here on have no session.
const UNKNOWN_TEID_BASE: u32 = 0x8000_0000;
const GTPU: u16 = 2152;
/// Inner UDP payload: the frames are about 150 bytes on N3.
const PAYLOAD: &[u8] = &[0x5a; 64];

/// Set by SIGINT/SIGTERM (see [`install_interrupt_handler`]); the loops stop
/// with an error so the namespace is deleted on the way out.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Turns SIGINT and SIGTERM into an error at the next check, so that an
/// interrupted run still leaves and deletes its namespace.
pub fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores into an atomic (async-signal-safe).
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

/// Fails once SIGINT/SIGTERM has been seen (see [`install_interrupt_handler`]).
pub fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

// ---- the namespace ----

/// Runs a command; its failure is an error with its stderr.
pub fn run_cmd(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run `{program}` (iproute2 is required)"))?;
    ensure!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn mac(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Dotted quad.
pub(crate) fn addr(a: V4) -> String {
    Ipv4Addr::from(a).to_string()
}

/// Moves this thread into the network namespace `fd`.
pub fn setns(fd: &File) -> std::io::Result<()> {
    // SAFETY: fd is an open namespace file for the duration of the call;
    // setns only changes this thread's network namespace.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A network namespace of our own; dropping it moves the thread back and deletes it.
struct Netns {
    name: String,
    original: Option<File>,
}

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    /// Creates, configures and enters the namespace (this thread only).
    fn setup() -> Result<Netns> {
        let n = NEXT_NS.fetch_add(1, Ordering::Relaxed);
        let name = match n {
            0 => format!("mupf-b{}", std::process::id()),
            n => format!("mupf-b{}-{n}", std::process::id()),
        };
        run_cmd("ip", &["netns", "add", &name])?;
        // From here on Drop deletes it, whatever fails next.
        let mut ns = Netns {
            name,
            original: None,
        };
        ns.configure()?;
        let here = File::open("/proc/thread-self/ns/net").context("/proc/thread-self/ns/net")?;
        let path = format!("/run/netns/{}", ns.name);
        let target = File::open(&path).with_context(|| format!("opening {path}"))?;
        setns(&target).with_context(|| format!("setns into {path}"))?;
        ns.original = Some(here);
        Ok(ns)
    }

    fn ip(&self, args: &str) -> Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend(args.split_whitespace());
        run_cmd("ip", &all)
    }

    fn configure(&self) -> Result<()> {
        for (a, amac, b, bmac) in [
            (N3_IF, N3_MAC, N3_PEER_IF, GNB_MAC),
            (N6_IF, N6_MAC, N6_PEER_IF, GW_MAC),
        ] {
            self.ip(&format!(
                "link add {a} address {} type veth peer name {b} address {}",
                mac(amac),
                mac(bmac)
            ))?;
            self.ip(&format!("link set {a} up"))?;
            self.ip(&format!("link set {b} up"))?;
        }
        self.ip("link set lo up")?;
        self.ip(&format!("addr add {}/24 dev {N3_IF}", addr(N3_ADDR)))?;
        self.ip(&format!("addr add {}/24 dev {N6_IF}", addr(N6_ADDR)))?;
        for (ip, m, dev) in [(GNB, GNB_MAC, N3_IF), (GW, GW_MAC, N6_IF)] {
            self.ip(&format!(
                "neigh add {} lladdr {} dev {dev} nud permanent",
                addr(ip),
                mac(m)
            ))?;
        }
        self.ip(&format!("route add default via {} dev {N6_IF}", addr(GW)))?;
        run_cmd(
            "ip",
            &[
                "netns",
                "exec",
                &self.name,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(orig) = self.original.take() {
            if let Err(e) = setns(&orig) {
                eprintln!("leaving {} failed: {e}", self.name);
            }
        }
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
        {
            Ok(s) if s.success() => {}
            other => eprintln!("deleting namespace {} failed: {other:?}", self.name),
        }
    }
}

// ---- frames (etherparse; GTP-U by hand from TS 29.281) ----

fn eth(dst: Mac, src: Mac) -> Vec<u8> {
    Ethernet2Header {
        destination: dst,
        source: src,
        ether_type: EtherType(0x0800),
    }
    .to_bytes()
    .to_vec()
}

/// IPv4 (DF, TTL 64, valid checksum) + UDP (with checksum) + payload.
fn udp_datagram(src: V4, dst: V4, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut ip = Ipv4Header::new((8 + payload.len()) as u16, 64, IpNumber::UDP, src, dst)
        .expect("a small datagram");
    ip.identification = 0x2a2a;
    ip.header_checksum = ip.calc_header_checksum();
    let udp = UdpHeader::with_ipv4_checksum(ports.0, ports.1, &ip, payload).expect("small");
    [&ip.to_bytes()[..], &udp.to_bytes(), payload].concat()
}

/// A GTP-U message with `length` = `body.len()`.
fn gtpu(flags: u8, msg_type: u8, teid: u32, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u16).to_be_bytes();
    let t = teid.to_be_bytes();
    [
        &[flags, msg_type, len[0], len[1], t[0], t[1], t[2], t[3]][..],
        body,
    ]
    .concat()
}

/// A frame from the gNB to our N3 address carrying `gtp`.
fn from_gnb(gtp: &[u8]) -> Vec<u8> {
    [
        eth(N3_MAC, GNB_MAC),
        udp_datagram(GNB, N3_ADDR, (GTPU, GTPU), gtp),
    ]
    .concat()
}

fn ue(i: u32) -> V4 {
    (UE_BASE + i).to_be_bytes()
}

/// Uplink G-PDU of session `i`: 5G with an UL PDU Session Container (QFI 9), or 4G plain.
fn uplink_frame(i: u32, nr: bool) -> Vec<u8> {
    let inner = udp_datagram(ue(i), DN_HOST, (40000, 443), PAYLOAD);
    let gtp = if nr {
        let body = [&[0, 0, 0, 0x85, 1, 0x10, QFI, 0][..], &inner].concat();
        gtpu(0x34, 0xff, TEID_BASE + i, &body)
    } else {
        gtpu(0x30, 0xff, TEID_BASE + i, &inner)
    };
    from_gnb(&gtp)
}

/// A downlink packet from the data network to session `i`'s UE.
fn downlink_frame(i: u32) -> Vec<u8> {
    [
        eth(N6_MAC, GW_MAC),
        udp_datagram(DN_HOST, ue(i), (443, 40000), PAYLOAD),
    ]
    .concat()
}

/// An Echo Request (S flag, sequence number `seq`).
fn echo_frame(seq: u16) -> Vec<u8> {
    let s = seq.to_be_bytes();
    from_gnb(&gtpu(0x32, 1, 0, &[s[0], s[1], 0, 0]))
}

/// A 4G G-PDU for a TEID that has no session.
fn unknown_teid_frame(teid: u32) -> Vec<u8> {
    let inner = udp_datagram([10, 99, 0, 1], DN_HOST, (40000, 443), PAYLOAD);
    from_gnb(&gtpu(0x30, 0xff, teid, &inner))
}

// ---- cases ----

/// What a case runs: which program, on which port, which frames, expecting which verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// 5G G-PDU with a PDU Session Container: decapsulated, redirected to N6.
    Uplink5g,
    /// 4G G-PDU without extension headers: decapsulated, redirected to N6.
    Uplink4g,
    /// Data network -> UE: encapsulated (5G, QFI), redirected to N3.
    Downlink,
    /// `Uplink5g` with the next-hop cache emptied for the case: every packet
    /// takes `bpf_fib_lookup` (what `gateway.nexthop_cache = false` does,
    /// plus one lookup in an empty LPM trie).
    Uplink5gFib,
    /// `Downlink` with the next-hop cache emptied for the case.
    DownlinkFib,
    /// `Uplink5g` on sessions with a QER MBR (one rate meter per direction).
    Uplink5gQer,
    /// `Downlink` on sessions with a QER MBR.
    DownlinkQer,
    /// GTP-U Echo Request: answered in place (XDP_TX).
    Echo,
    /// G-PDU for a TEID without a session: dropped.
    UnknownTeid,
    /// `bench_drop` on the 5G uplink frames: the test-run loop's own cost.
    FloorDrop,
    /// `bench_tx` on the 5G uplink frames: swap MACs, XDP_TX.
    FloorTx,
}

impl Case {
    /// Every case, in table order.
    pub const ALL: [Case; 11] = [
        Case::Uplink5g,
        Case::Uplink4g,
        Case::Downlink,
        Case::Uplink5gQer,
        Case::DownlinkQer,
        Case::Uplink5gFib,
        Case::DownlinkFib,
        Case::Echo,
        Case::UnknownTeid,
        Case::FloorDrop,
        Case::FloorTx,
    ];

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Case::Uplink5g => "uplink decap, 5G (PDU Session Container)",
            Case::Uplink4g => "uplink decap, 4G",
            Case::Downlink => "downlink encap, 5G (QFI)",
            Case::Uplink5gFib => "uplink decap, 5G, fib_lookup only",
            Case::DownlinkFib => "downlink encap, 5G, fib_lookup only",
            Case::Uplink5gQer => "uplink decap, 5G, QER MBR (rate meter)",
            Case::DownlinkQer => "downlink encap, 5G, QER MBR (rate meter)",
            Case::Echo => "echo request -> response",
            Case::UnknownTeid => "unknown TEID drop",
            Case::FloorDrop => "floor: bare XDP_DROP",
            Case::FloorTx => "floor: XDP_TX swapping MACs",
        }
    }

    fn verdict(self) -> u32 {
        match self {
            Case::Uplink5g
            | Case::Uplink4g
            | Case::Downlink
            | Case::Uplink5gQer
            | Case::DownlinkQer
            | Case::Uplink5gFib
            | Case::DownlinkFib => xdp_action::REDIRECT,
            Case::Echo | Case::FloorTx => xdp_action::TX,
            Case::UnknownTeid | Case::FloorDrop => xdp_action::DROP,
        }
    }

    fn frame(self, sessions: u32, rng: &mut fastrand::Rng) -> Vec<u8> {
        match self {
            Case::Uplink5g | Case::Uplink5gFib | Case::FloorDrop | Case::FloorTx => {
                uplink_frame(rng.u32(..sessions), true)
            }
            Case::Uplink4g => uplink_frame(rng.u32(..sessions), false),
            Case::Downlink | Case::DownlinkFib => downlink_frame(rng.u32(..sessions)),
            Case::Uplink5gQer => uplink_frame(METERED + rng.u32(..sessions), true),
            Case::DownlinkQer => downlink_frame(METERED + rng.u32(..sessions)),
            Case::Echo => echo_frame(rng.u16(..)),
            Case::UnknownTeid => unknown_teid_frame(UNKNOWN_TEID_BASE + rng.u32(..1 << 30)),
        }
    }
}

// ---- configuration and results ----

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Session counts, measured in this order (ascending: the tables are
    /// filled incrementally).
    pub sessions: Vec<u32>,
    /// Size of the session tables; at least the largest session count.
    pub capacity: u32,
    /// Frames per case per round.
    pub frames: usize,
    /// Rounds; each round uses fresh frames, so every frame of the pool
    /// (`frames * rounds` per case) runs once.
    pub rounds: usize,
    /// Seed of the session key generator.
    pub seed: u64,
    /// Progress lines on stderr.
    pub verbose: bool,
}

impl Config {
    /// The full run: 1, 10 000 and 1 000 000 sessions.
    pub fn full() -> Config {
        Config {
            sessions: vec![1, 10_000, 1_000_000],
            capacity: 1_000_000,
            frames: 4096,
            rounds: 16,
            seed: 0x6d75_7066_6265_6e63,
            verbose: true,
        }
    }

    /// CI's check that the bench still runs: 1 and 100 sessions, few frames.
    pub fn smoke() -> Config {
        Config {
            sessions: vec![1, 100],
            capacity: 100,
            frames: 64,
            rounds: 3,
            seed: 1,
            verbose: false,
        }
    }
}

/// One case at one session count.
#[derive(Clone, Debug)]
pub struct Row {
    /// The case.
    pub case: Case,
    /// Sessions installed.
    pub sessions: u32,
    /// Median over rounds of the mean kernel-reported duration per run.
    pub ns: f64,
    /// `ns` minus the bare XDP_DROP figure at the same session count.
    pub net: f64,
    /// `ns` over the XDP_TX floor's `ns` (both measured the same way).
    pub ratio: f64,
}

/// Every row and where they were measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The rows, by session count then case.
    pub rows: Vec<Row>,
    /// CPU model, CPU count, kernel.
    pub machine: String,
    /// The command line that produced it.
    pub command: String,
    /// The configuration.
    pub config: Config,
}

/// CPU model, CPU count and kernel release, for a report's header.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{cpu}, {cpus} CPUs, Linux {kernel}")
}

impl Report {
    /// The markdown: machine, command, table.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "### Fast path in isolation: BPF_PROG_TEST_RUN (xdp-bench)\n"
        );
        let _ = writeln!(s, "- machine: {}", self.machine);
        let _ = writeln!(s, "- command: `{}`", self.command);
        let _ = writeln!(
            s,
            "- method: BPF_PROG_TEST_RUN, repeat = 1, kernel-reported duration; \
             {} frames per case per round, {} rounds (median of round means), \
             uniformly random session keys, tables sized for {} sessions; \
             ratio = ns/packet over the XDP_TX floor's ns/packet in the same run \
             (the floor's own net of DROP is a few ns, too small to divide by)",
            c.frames, c.rounds, c.capacity
        );
        let _ = writeln!(
            s,
            "- the QER rows run on a second set of as many sessions, each with \
             one rate meter per direction (a session-level QER MBR, set high so \
             every packet conforms); usage counting (URR) is on in every row"
        );
        s.push('\n');
        s.push_str("| case | sessions | ns/packet | net of DROP | ratio to TX floor |\n");
        s.push_str("|---|---:|---:|---:|---:|\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.1} | {:.2} |",
                r.case.name(),
                r.sessions,
                r.ns,
                r.net,
                r.ratio
            );
        }
        let _ = writeln!(
            s,
            "\nCost of a QER MBR (rate meter) over the same path without one, \
             net of DROP (goal: at most +30 %):\n"
        );
        s.push_str("| sessions | uplink | downlink |\n|---:|---:|---:|\n");
        for n in c.sessions.iter() {
            let net = |case: Case| {
                self.rows
                    .iter()
                    .find(|r| r.case == case && r.sessions == *n)
                    .map_or(f64::NAN, |r| r.net)
            };
            let pct = |with: Case, without: Case| (net(with) / net(without) - 1.0) * 100.0;
            let _ = writeln!(
                s,
                "| {n} | {:+.0} % | {:+.0} % |",
                pct(Case::Uplink5gQer, Case::Uplink5g),
                pct(Case::DownlinkQer, Case::Downlink)
            );
        }
        s
    }
}

// ---- the run ----

/// Fails, saying so, unless we run as root.
pub fn require_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    ensure!(
        euid == 0,
        "the benchmark needs root (CAP_NET_ADMIN and CAP_BPF/CAP_SYS_ADMIN) to create a \
         network namespace and load XDP programs"
    );
    Ok(())
}

/// `struct xdp_md` for ctx_in: data 0, data_end = the frame length, ingress port.
fn xdp_md(len: u32, ingress_ifindex: u32) -> [u8; 24] {
    let mut out = [0u8; 24];
    for (i, v) in [0u32, len, 0, ingress_ifindex, 0, 0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    out
}

/// Runs every frame once (repeat = 1, P6) and returns the summed kernel durations.
fn measure(prog: &Xdp, case: Case, frames: &[Vec<u8>], ctxs: &[[u8; 24]]) -> Result<Duration> {
    let mut out = vec![0u8; 512];
    let mut total = Duration::ZERO;
    for (f, ctx) in frames.iter().zip(ctxs) {
        let res = prog
            .test_run(TestRunOptions {
                data_in: Some(f),
                data_out: Some(&mut out),
                ctx_in: Some(ctx),
                repeat: 1,
                ..Default::default()
            })
            .with_context(|| format!("BPF_PROG_TEST_RUN of {}", case.name()))?;
        ensure!(
            res.return_value == case.verdict(),
            "{}: verdict {} instead of {} (the bench would measure the wrong path)",
            case.name(),
            res.return_value,
            case.verdict()
        );
        total += res.duration;
    }
    Ok(total)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Session `i` as `SessionManager::install` writes a static 5G session,
/// and its metered twin `METERED + i`.
fn install(dp: &mut BpfDatapath, i: u32) -> Result<()> {
    install_one(dp, i, 0)?;
    let cfg = upf_session::datapath::MeterConfig {
        rate_bps: METERED_BPS,
        tau_ns: 1_000_000_000,
        parent: 0,
    };
    for m in [2 * i, 2 * i + 1] {
        dp.reset_meter(m)?;
        dp.set_meter(m, &cfg)?;
    }
    install_one(dp, METERED + i, 2 * i + 1)
}

/// One session; `meter` is the uplink meter's index + 1 (0: none), the
/// downlink's is the next.
fn install_one(dp: &mut BpfDatapath, i: u32, meter: u32) -> Result<()> {
    let ue_be = u32::from_ne_bytes(ue(i));
    let down_meter = if meter == 0 { 0 } else { meter + 1 };
    let counter = i % METERED;
    dp.put_uplink(
        TEID_BASE + i,
        &UplinkEntry {
            ue_ipv4_be: ue_be,
            rules: 0,
            default: PdrAction {
                counter,
                flags: ACT_FORWARD,
                meter,
                ..PdrAction::NONE
            },
        },
    )?;
    dp.put_downlink(
        Ipv4Addr::from(ue(i)),
        &DownlinkEntry {
            local_ipv4_be: u32::from_ne_bytes(N3_ADDR),
            rules: 0,
            default: PdrAction {
                counter,
                flags: ACT_FORWARD | ACT_5G,
                qfi: QFI,
                peer_ipv4_be: u32::from_ne_bytes(GNB),
                remote_teid_be: (REMOTE_TEID_BASE + i).to_be(),
                meter: down_meter,
                ..PdrAction::NONE
            },
        },
    )?;
    Ok(())
}

/// Runs the benchmark; `command` is recorded in the report.
pub fn run(config: &Config, command: &str) -> Result<Report> {
    require_root()?;
    ensure!(
        !config.sessions.is_empty() && config.sessions.iter().all(|&n| n >= 1),
        "session counts must be at least 1"
    );
    ensure!(
        config.sessions.windows(2).all(|w| w[0] < w[1]),
        "session counts must ascend"
    );
    let largest = *config.sessions.last().expect("not empty");
    ensure!(
        config.capacity >= largest,
        "capacity {} is below {largest} sessions",
        config.capacity
    );
    ensure!(
        config.frames >= 1 && config.rounds >= 1,
        "frames and rounds must be at least 1"
    );
    let say = |msg: String| {
        if config.verbose {
            eprintln!("{msg}");
        }
    };

    let _ns = Netns::setup()?;
    let n3 = Port::resolve(N3_IF, ROLE_N3)?;
    let n6 = Port::resolve(N6_IF, ROLE_N6)?;
    let (n3_idx, n6_idx) = (n3.ifindex, n6.ifindex);
    let t = Instant::now();
    let mut dp = BpfDatapath::load(&LoadOptions {
        n3_ipv4: Ipv4Addr::from(N3_ADDR),
        ports: vec![n3, n6],
        max_sessions: 2 * config.capacity,
        counter_slots: config.capacity,
        rule_sets: 1,
        nexthop_cache: true,
        gtpu_peers: None,
        anti_spoofing: true,
        meters: 2 * config.capacity,
    })?;
    dp.bench_program(names::PROG_BENCH_DROP)?;
    dp.bench_program(names::PROG_BENCH_TX)?;
    say(format!("loaded the programs in {:.2?}", t.elapsed()));
    // The next-hop cache as upfd fills it; emptied around the fib-only cases.
    let snapshot = Snapshot::read().map_err(anyhow::Error::msg)?;
    let want = compute(&snapshot, &[n3_idx, n6_idx]);
    ensure!(
        want.off.is_none(),
        "the next-hop cache is off in the bench namespace: {:?}",
        want.off
    );
    let mut cache = Cache::new();
    let st = cache.sync(&want, &mut dp)?;
    ensure!(
        st.resolved >= 1 && st.neighs >= 1,
        "the next-hop cache resolved nothing ({st:?})"
    );
    let empty = Desired::default();

    let mut rng = fastrand::Rng::with_seed(config.seed);
    let mut rows = Vec::new();
    let mut installed = 0u32;
    for &n in &config.sessions {
        let t = Instant::now();
        while installed < n {
            check_interrupt()?;
            install(&mut dp, installed)
                .with_context(|| format!("installing session {installed}"))?;
            installed += 1;
            if installed.is_multiple_of(100_000) {
                say(format!(
                    "  {installed} sessions installed ({:.1?})",
                    t.elapsed()
                ));
            }
        }
        say(format!("{n} sessions installed in {:.2?}", t.elapsed()));

        // The pool: fresh frames for every round, each with its ctx.
        let pool = config.frames * config.rounds;
        let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut ctxs: Vec<Vec<[u8; 24]>> = Vec::new();
        for case in Case::ALL {
            let f: Vec<Vec<u8>> = (0..pool).map(|_| case.frame(n, &mut rng)).collect();
            let ingress = if matches!(case, Case::Downlink | Case::DownlinkFib | Case::DownlinkQer)
            {
                n6_idx
            } else {
                n3_idx
            };
            ctxs.push(f.iter().map(|f| xdp_md(f.len() as u32, ingress)).collect());
            frames.push(f);
        }

        let mut means: Vec<Vec<f64>> = vec![Vec::new(); Case::ALL.len()];
        let t = Instant::now();
        for round in 0..config.rounds {
            check_interrupt()?;
            let range = round * config.frames..(round + 1) * config.frames;
            for (k, case) in Case::ALL.into_iter().enumerate() {
                let fib_only = matches!(case, Case::Uplink5gFib | Case::DownlinkFib);
                if fib_only {
                    cache.sync(&empty, &mut dp)?;
                }
                let prog: &Xdp = match case {
                    Case::FloorDrop => dp.bench_program(names::PROG_BENCH_DROP)?,
                    Case::FloorTx => dp.bench_program(names::PROG_BENCH_TX)?,
                    _ => dp.program(),
                };
                let d = measure(
                    prog,
                    case,
                    &frames[k][range.clone()],
                    &ctxs[k][range.clone()],
                );
                if fib_only {
                    cache.sync(&want, &mut dp)?;
                }
                let d = d?;
                means[k].push(d.as_nanos() as f64 / config.frames as f64);
            }
        }
        say(format!(
            "{n} sessions: {} rounds measured in {:.2?}",
            config.rounds,
            t.elapsed()
        ));
        let ns: Vec<f64> = means.into_iter().map(median).collect();
        let at = |c: Case| ns[Case::ALL.iter().position(|&x| x == c).expect("listed")];
        let drop = at(Case::FloorDrop);
        let tx = at(Case::FloorTx);
        for (k, case) in Case::ALL.into_iter().enumerate() {
            let net = ns[k] - drop;
            rows.push(Row {
                case,
                sessions: n,
                ns: ns[k],
                net,
                ratio: if tx > 0.0 { ns[k] / tx } else { f64::NAN },
            });
        }
    }
    Ok(Report {
        rows,
        machine: machine(),
        command: command.to_string(),
        config: config.clone(),
    })
}
