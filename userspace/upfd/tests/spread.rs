//! TEID spreading's steering decision (`gateway.spread = "teid"`) through
//! BPF_PROG_TEST_RUN: the entry program redirects an uplink G-PDU whose TEID
//! belongs to another CPU to the cpumap, and processes inline one whose TEID
//! belongs to the CPU it runs on, signalling and downlink always. test_run
//! runs the program on the calling CPU, so the test thread is pinned.
//!
//! Needs root (a network namespace, BPF) and at least two online CPUs; a
//! missing precondition fails the test with its name.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

use aya::programs::{TestRun, TestRunOptions};
use upf_abi::{spread_slot, xdp_action, Counter, DropReason, ROLE_N3, ROLE_N6};
use upfd::bpf::{BpfDatapath, LoadOptions, Port};

const N3_ADDR: [u8; 4] = [10, 98, 0, 1];
const PEER: [u8; 4] = [10, 98, 0, 2];

struct Ns {
    name: String,
    original: Option<File>,
}

impl Ns {
    fn create() -> Ns {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("mupf-spread-{}-{n}", std::process::id());
        let ns = Ns {
            name,
            original: None,
        };
        ns.ip(&["netns", "add", &ns.name]);
        let a = format!("musp{}a", std::process::id() % 100_000);
        let b = format!("musp{}b", std::process::id() % 100_000);
        ns.ip(&[
            "-n", &ns.name, "link", "add", &a, "type", "veth", "peer", "name", &b,
        ]);
        ns.ip(&["-n", &ns.name, "addr", "add", "10.98.0.1/24", "dev", &a]);
        ns.ip(&["-n", &ns.name, "link", "set", &a, "up"]);
        ns.ip(&["-n", &ns.name, "link", "set", &b, "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let st = Command::new("ip")
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("running ip {args:?}: {e} (iproute2 is needed)"));
        assert!(st.success(), "ip {args:?} failed");
    }

    fn enter(&mut self) {
        let here = File::open("/proc/thread-self/ns/net").expect("own namespace");
        let path = format!("/run/netns/{}", self.name);
        let ns = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        // SAFETY: ns is an open namespace file; this thread only.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        self.original = Some(here);
    }

    fn ifs(&self) -> (String, String) {
        let id = std::process::id() % 100_000;
        (format!("musp{id}a"), format!("musp{id}b"))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        if let Some(orig) = self.original.take() {
            // SAFETY: orig is an open namespace file; this thread only.
            unsafe { libc::setns(orig.as_raw_fd(), libc::CLONE_NEWNET) };
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        rc,
        0,
        "pinning to CPU {cpu}: {}",
        std::io::Error::last_os_error()
    );
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn eth(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 9, 1, 2, 0, 0, 0, 9, 2, 0x08, 0x00];
    f.extend_from_slice(payload);
    f
}

/// An uplink GTP-U frame to our N3 address: a G-PDU or an Echo Request.
fn gtp_frame(msg_type: u8, teid: u32) -> Vec<u8> {
    let inner = ipv4([10, 45, 0, 1], [10, 200, 0, 2], 17, &udp(1000, 7777, b"x"));
    let (flags, body) = if msg_type == 1 {
        (0x32u8, vec![0, 1, 0, 0])
    } else {
        (0x30u8, inner)
    };
    let mut g = vec![flags, msg_type];
    g.extend_from_slice(&(body.len() as u16).to_be_bytes());
    g.extend_from_slice(&teid.to_be_bytes());
    g.extend_from_slice(&body);
    eth(&ipv4(PEER, N3_ADDR, 17, &udp(2152, 2152, &g)))
}

fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Env {
    dp: BpfDatapath,
    n3: u32,
    n6: u32,
    _ns: Ns,
}

impl Env {
    fn new(spread_cpus: &[u32]) -> Env {
        let mut ns = Ns::create();
        ns.enter();
        let (a, b) = ns.ifs();
        let n3 = Port::resolve(&a, ROLE_N3).expect("N3 interface");
        let n6 = Port::resolve(&b, ROLE_N6).expect("N6 interface");
        let (n3i, n6i) = (n3.ifindex, n6.ifindex);
        let dp = BpfDatapath::load_spread(
            &LoadOptions {
                n3_ipv4: Ipv4Addr::from(N3_ADDR),
                ports: vec![n3, n6],
                max_sessions: 64,
                counter_slots: 64,
                rule_sets: 4,
                nexthop_cache: true,
                gtpu_peers: None,
                anti_spoofing: true,
                meters: upf_abi::DEFAULT_MAX_METERS,
                teid_range: upf_config::pfcp::DEFAULT_TEID_RANGE,
                ue_prefixes: Vec::new(),
                poi_peers: Vec::new(),
            },
            spread_cpus,
        )
        .unwrap_or_else(|e| panic!("loading with spread CPUs {spread_cpus:?}: {e}"));
        Env {
            dp,
            n3: n3i,
            n6: n6i,
            _ns: ns,
        }
    }

    fn run(&mut self, ifindex: u32, input: &[u8]) -> u32 {
        let ctx: Vec<u8> = [0u32, input.len() as u32, 0, ifindex, 0, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut out = vec![0u8; input.len() + 256];
        self.dp
            .program()
            .test_run(TestRunOptions {
                data_in: Some(input),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                repeat: 1,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN failed: {e:#}"))
            .return_value
    }

    fn per_cpu(&self, cpu: usize) -> upf_session::datapath::CpuStats {
        self.dp.per_cpu_counters().expect("reading COUNTERS")[cpu].clone()
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.dp
            .drop_counters()
            .expect("reading DROPS")
            .into_iter()
            .find(|(k, _)| *k == r)
            .map_or(0, |(_, v)| v)
    }

    fn counter(&self, c: Counter) -> u64 {
        self.dp
            .global_counters()
            .expect("reading COUNTERS")
            .into_iter()
            .find(|(k, _)| *k == c)
            .map_or(0, |(_, v)| v)
    }
}

/// A TEID whose slot among `n` CPUs is `slot`.
fn teid_for(slot: u32, n: u32, from: u32) -> u32 {
    (from..)
        .find(|t| spread_slot(t.to_be(), n) == slot)
        .expect("some TEID maps to every slot")
}

#[test]
fn steering_redirects_other_cpus_teids_and_keeps_own_inline() {
    assert!(
        online_cpus() >= 2,
        "this test needs at least two online CPUs (found {})",
        online_cpus()
    );
    let mut env = Env::new(&[0, 1]);
    for here in [0usize, 1] {
        pin(here);
        let other = 1 - here;
        let own = teid_for(here as u32, 2, 0x100 + 1000 * here as u32);
        let theirs = teid_for(other as u32, 2, 0x100 + 1000 * here as u32);

        // Own TEID: processed here (no session: unknown_teid, a drop).
        let before = (env.per_cpu(here), env.drops(DropReason::UnknownTeid));
        let v = env.run(env.n3, &gtp_frame(0xff, own));
        assert_eq!(v, xdp_action::DROP, "own TEID {own:#x} on CPU {here}");
        let after = (env.per_cpu(here), env.drops(DropReason::UnknownTeid));
        assert_eq!(after.1, before.1 + 1, "processed inline: counted drop");
        assert_eq!(after.0.rx_frames, before.0.rx_frames + 1);
        assert_eq!(after.0.steered_to_cpu, before.0.steered_to_cpu);

        // The other CPU's TEID: redirected, counted as steered, not as rx
        // (its target counts it), no drop counted here.
        let before = (env.per_cpu(here), env.drops(DropReason::UnknownTeid));
        let v = env.run(env.n3, &gtp_frame(0xff, theirs));
        assert_eq!(
            v,
            xdp_action::REDIRECT,
            "TEID {theirs:#x} of CPU {other} on CPU {here}"
        );
        let after = (env.per_cpu(here), env.drops(DropReason::UnknownTeid));
        assert_eq!(after.0.steered_to_cpu, before.0.steered_to_cpu + 1);
        assert_eq!(after.0.rx_frames, before.0.rx_frames);
        assert_eq!(after.1, before.1);

        // Signalling stays inline whatever its TEID: an Echo Request is answered here.
        let echoes = env.counter(Counter::EchoReplied);
        let v = env.run(env.n3, &gtp_frame(1, theirs));
        assert_eq!(v, xdp_action::TX, "echo on CPU {here}");
        assert_eq!(env.counter(Counter::EchoReplied), echoes + 1);

        // A G-PDU on a port without the N3 role is not steered.
        let before = env.per_cpu(here);
        let v = env.run(env.n6, &gtp_frame(0xff, theirs));
        assert_eq!(v, xdp_action::PASS, "N6 port on CPU {here}");
        assert_eq!(env.per_cpu(here).steered_to_cpu, before.steered_to_cpu);
    }
}

#[test]
fn a_cpu_outside_the_list_steers_everything_and_off_steers_nothing() {
    assert!(
        online_cpus() >= 2,
        "this test needs at least two online CPUs (found {})",
        online_cpus()
    );
    // Only CPU 1 spreads: on CPU 0 every G-PDU goes to CPU 1.
    let mut env = Env::new(&[1]);
    pin(0);
    for teid in [1u32, 2, 3, 0x12345] {
        assert_eq!(
            env.run(env.n3, &gtp_frame(0xff, teid)),
            xdp_action::REDIRECT
        );
    }
    assert_eq!(env.per_cpu(0).steered_to_cpu, 4);
    drop(env);
    // Off: nothing is steered, no cpumap program is needed.
    let mut env = Env::new(&[]);
    pin(0);
    for teid in [1u32, 2, 3, 0x12345] {
        assert_eq!(env.run(env.n3, &gtp_frame(0xff, teid)), xdp_action::DROP);
    }
    assert_eq!(env.per_cpu(0).steered_to_cpu, 0);
    assert_eq!(env.drops(DropReason::UnknownTeid), 4);
}
