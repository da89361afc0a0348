//! A rough uplink rate probe for TEID spreading (docs/multicore.md).
//!
//! In a private namespace (`mupf-sprate-<pid>`, removed on exit) the program
//! is loaded with two veth ports (N3, N6); the N6 peer runs `bench_drop` in
//! native mode as the sink. CPU 0 injects G-PDUs of 1024 sessions as live
//! frames (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the verdicts,
//! redirects to the cpumap and to N6 included, really happen), as a NIC's
//! receive CPU would, and the forwarded rate is read from the per-CPU
//! counters. Modes: spread off, spread over CPUs 0 and 1, everything steered
//! to CPU 1.
//!
//! Run as root: `cargo run -p upfd --example spread_rate -- [seconds]`.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, XdpMode};
use upf_abi::{names, Counter, PdrAction, UplinkEntry, ACT_FORWARD, ROLE_N3, ROLE_N6};
use upfd::datapath::bpf::{BpfDatapath, LoadOptions, Port};
use upfd::datapath::Datapath;

const SESSIONS: u32 = 1024;

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

struct Ns(String);
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(rc, 0, "pinning to CPU {cpu}");
}

fn sum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = sum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn gpdu(teid: u32) -> Vec<u8> {
    let ue = [10, 45, (teid >> 8) as u8, teid as u8];
    let inner = ipv4(ue, [10, 97, 1, 2], &udp(1000, 7777, &[0u8; 72]));
    let mut g = vec![0x30, 0xff];
    g.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    g.extend_from_slice(&teid.to_be_bytes());
    g.extend_from_slice(&inner);
    let mut f = vec![2, 0, 0, 0, 7, 1, 2, 0, 0, 0, 7, 2, 8, 0];
    f.extend(ipv4([10, 97, 0, 2], [10, 97, 0, 1], &udp(2152, 2152, &g)));
    f
}

fn measure(name: &str, spread: &[u32], secs: f64) {
    let ns = Ns(format!("mupf-sprate-{}", std::process::id()));
    sh(&["ip", "netns", "add", &ns.0]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &ns.0,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    let p = std::process::id() % 10_000;
    let (a, b, c, d) = (
        format!("murt{p}a"),
        format!("murt{p}b"),
        format!("murt{p}c"),
        format!("murt{p}d"),
    );
    let here = File::open("/proc/thread-self/ns/net").unwrap();
    let f = File::open(format!("/run/netns/{}", ns.0)).unwrap();
    // SAFETY: an open namespace file; this (only) thread.
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
    sh(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
    sh(&["ip", "link", "add", &c, "type", "veth", "peer", "name", &d]);
    sh(&["ip", "link", "set", &d, "address", "02:00:00:00:07:04"]);
    sh(&["ip", "addr", "add", "10.97.0.1/24", "dev", &a]);
    sh(&["ip", "addr", "add", "10.97.1.1/24", "dev", &c]);
    for i in [&a, &b, &c, &d] {
        sh(&["ip", "link", "set", i, "up"]);
    }
    sh(&[
        "ip",
        "neigh",
        "replace",
        "10.97.1.2",
        "lladdr",
        "02:00:00:00:07:04",
        "dev",
        &c,
        "nud",
        "permanent",
    ]);
    let n3 = Port::resolve(&a, ROLE_N3).unwrap();
    let n6 = Port::resolve(&c, ROLE_N6).unwrap();
    let n3i = n3.ifindex;
    let mut dp = BpfDatapath::load_spread(
        &LoadOptions {
            n3_ipv4: Ipv4Addr::new(10, 97, 0, 1),
            ports: vec![n3, n6],
            max_sessions: SESSIONS,
            counter_slots: SESSIONS,
            rule_sets: 1,
        },
        spread,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The sink: XDP_DROP in native mode on the N6 peer (TOOLCHAIN P8).
    let sink = upfd::datapath::bpf::ifindex(&d).unwrap();
    dp.bench_program(names::PROG_BENCH_DROP)
        .unwrap()
        .attach_to_if_index(sink, XdpMode::Driver)
        .unwrap();
    for t in 1..=SESSIONS {
        let default = PdrAction {
            counter: t - 1,
            flags: ACT_FORWARD,
            ..Default::default()
        };
        dp.put_uplink(
            t,
            &UplinkEntry {
                ue_ipv4_be: 0,
                rules: 0,
                default,
            },
        )
        .unwrap();
    }
    let frames: Vec<Vec<u8>> = (1..=SESSIONS).map(gpdu).collect();
    pin(0);
    let fwd = |dp: &BpfDatapath| -> Vec<u64> {
        dp.per_cpu_counters()
            .unwrap()
            .iter()
            .map(|c| c.uplink_forwarded)
            .collect()
    };
    let before = fwd(&dp);
    let t0 = Instant::now();
    let mut injected = 0u64;
    let repeat: u32 = std::env::var("REPEAT").map_or(64, |v| v.parse().unwrap());
    'outer: loop {
        for fr in &frames {
            let ctx: Vec<u8> = [0u32, fr.len() as u32, 0, n3i, 0, 0]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect();
            dp.program()
                .test_run(TestRunOptions {
                    data_in: Some(fr),
                    ctx_in: Some(&ctx),
                    repeat,
                    attrs: TestRunAttrs::new().xdp_live_frames(repeat.min(256)),
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("live-frames test run: {e:#}"));
            injected += repeat as u64;
            if injected.is_multiple_of(repeat as u64 * 16) && t0.elapsed().as_secs_f64() > secs {
                break 'outer;
            }
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(100));
    let after = fwd(&dp);
    let per: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let total: u64 = per.iter().sum();
    let steered: u64 = dp
        .global_counters()
        .unwrap()
        .iter()
        .find(|(k, _)| *k == Counter::SteeredToCpu)
        .map_or(0, |(_, v)| *v);
    println!(
        "{name:<22} injected {:>6.3} Mpps  forwarded {:>6.3} Mpps  per CPU {:?} Mpps  steered {:.0}%",
        injected as f64 / dt / 1e6,
        total as f64 / dt / 1e6,
        per.iter()
            .map(|v| (*v as f64 / dt / 1e4).round() / 100.0)
            .collect::<Vec<_>>(),
        100.0 * steered as f64 / injected.max(1) as f64
    );
    let other: Vec<String> = dp
        .global_counters()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.name(), *v))
        .chain(
            dp.drop_counters()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.name(), *v)),
        )
        .filter(|(k, v)| {
            *v > 0 && !k.starts_with("uplink") && *k != "rx_frames" && *k != "steered_to_cpu"
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !other.is_empty() {
        println!("{:<22} also: {}", "", other.join(" "));
    }
    drop(dp);
    // SAFETY: as above.
    unsafe { libc::setns(here.as_raw_fd(), libc::CLONE_NEWNET) };
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .map_or(5.0, |s| s.parse().expect("seconds"));
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(ncpu >= 2, "needs two online CPUs (found {ncpu})");
    measure("spread off", &[], secs);
    measure("spread teid [0, 1]", &[0, 1], secs);
    measure("spread teid [1]", &[1], secs);
}
