//! TEID spreading end to end (`gateway.spread = "teid"`): upfd in the
//! namespace lab with uplink G-PDUs spread over CPUs 0 and 1 through a
//! cpumap; many sessions carry traffic both ways, every packet is counted
//! exactly once, and both CPUs forwarded uplink packets.
//!
//! Needs root, iproute2, ethtool, tshark, at least two online CPUs, and the
//! workspace binaries built (`cargo build --workspace --bins`). A missing
//! precondition fails the test with a message; nothing is skipped.

mod common;

use std::time::Duration;

use common::*;

const SESSIONS: u32 = 24;
const PACKETS: u32 = 5;

fn spread_sessions(lab: &Lab) {
    let mut text = String::new();
    for i in 0..SESSIONS {
        text.push_str(&format!(
            "[[session]]\nid = {}\nlocal_teid = {}\nue_ipv4 = \"10.45.1.{}\"\n\
             peer_ipv4 = \"10.100.0.2\"\nremote_teid = {}\ngeneration = \"4g\"\n\n",
            100 + i,
            0x2000 + i,
            1 + i,
            0x3000 + i
        ));
    }
    let file = lab.dir.join("spread-sessions.toml");
    std::fs::write(&file, text).unwrap();
    lab.upfctl(&["sessions", "load", file.to_str().unwrap()]);
}

fn per_cpu(s: &serde_json::Value, field: &str) -> Vec<u64> {
    s["fastpath"]["per_cpu"]
        .as_array()
        .unwrap_or_else(|| panic!("stats have no fastpath.per_cpu: {s}"))
        .iter()
        .map(|c| c[field].as_u64().unwrap())
        .collect()
}

fn spread_both_ways(mode: Mode) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "TEID spreading needs at least two online CPUs (found {cpus})"
    );
    let lab = Lab::up_with(mode, "spread = \"teid\"\nspread_cpus = [0, 1]");
    spread_sessions(&lab);
    for i in 0..SESSIONS {
        lab.traffic(
            &format!("{:#x}", 0x2000 + i),
            &format!("10.45.1.{}", 1 + i),
            &format!("{:#x}", 0x3000 + i),
            PACKETS,
            &[],
        );
    }
    // Echo stays inline and is answered in XDP.
    let out = lab.lab_tool(&["echo", "--bind", RAN, "--gw", GW]);
    assert!(out.status.success(), "echo failed");
    std::thread::sleep(Duration::from_millis(200));

    let s = lab.stats();
    let total = SESSIONS as u64 * PACKETS as u64;
    let ul = per_cpu(&s, "uplink_forwarded");
    let dl = per_cpu(&s, "downlink_forwarded");
    let steered: u64 = per_cpu(&s, "steered_to_cpu").iter().sum();
    // Exact: every uplink and downlink packet counted once, summed over CPUs
    // (the first uplink packet may wait in the kernel for ARP: neigh_passed).
    let neigh = counter(&s, "counters", "uplink_neigh_passed");
    assert_eq!(
        counter(&s, "counters", "uplink_forwarded") + neigh,
        total,
        "{s}"
    );
    assert_eq!(ul.iter().sum::<u64>() + neigh, total, "{s}");
    assert_eq!(counter(&s, "counters", "downlink_forwarded"), total, "{s}");
    assert_eq!(dl.iter().sum::<u64>(), total, "{s}");
    assert!(
        ul[0] > 0 && ul[1] > 0,
        "both CPUs must forward uplink packets: per CPU {ul:?}\n{s}"
    );
    assert!(steered > 0, "some G-PDUs must have been steered: {s}");
    assert_eq!(counter(&s, "counters", "echo_replied"), 1, "{s}");
    for i in 0..SESSIONS as u64 {
        let c = &session(&s, 100 + i)["counters"];
        assert_eq!(c["ul_packets"], PACKETS, "session {}: {c}", 100 + i);
        assert_eq!(c["dl_packets"], PACKETS, "session {}: {c}", 100 + i);
    }
    for (name, v) in s["fastpath"]["drops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap(), e[1].as_u64().unwrap()))
    {
        assert_eq!(v, 0, "unexpected drop {name}: {s}");
    }
    // The text form shows the per-CPU table.
    let out = lab.upfctl(&["stats"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("per cpu:"));
}

#[test]
fn spread_generic() {
    spread_both_ways(Mode::Generic);
}

#[test]
fn spread_native() {
    spread_both_ways(Mode::Native);
}
