//! End-to-end tests: upfd in the namespace lab (scripts/lab.sh), real GTP-U
//! from a simulated RAN, a data-network host echoing back, in generic and
//! native XDP mode. tshark decodes the gateway's downlink.
//!
//! Needs root, iproute2, ethtool and tshark (scripts/setup.sh installs them),
//! and the workspace binaries built (`cargo build --workspace --bins`;
//! scripts/test.sh does it). A missing precondition fails the test with a
//! message; nothing is skipped.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn traffic_both_generations(mode: Mode) {
    let lab = Lab::up(mode);
    // 5G with the UL PDU Session Container; the downlink must carry a DL container with QFI 9.
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        20,
        &["--container", "--qfi", "9", "--size", "300"],
    );
    // 5G, the other QFI, with S flag set on the uplink.
    lab.traffic(
        "0x101",
        "10.45.0.2",
        "0x1002",
        10,
        &["--container", "--qfi", "5", "--seq"],
    );
    // 4G: plain GTP-U both ways, UDP and ICMP.
    lab.traffic("0x102", "10.45.0.3", "0x1003", 10, &[]);
    lab.traffic("0x102", "10.45.0.3", "0x1003", 5, &["--proto", "icmp"]);
    // Echo answered in XDP.
    let out = lab.lab_tool(&["echo", "--bind", RAN, "--gw", GW]);
    assert!(
        out.status.success(),
        "echo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // End Marker on a known tunnel is consumed.
    let out = lab.lab_tool(&["end-marker", "--bind", RAN, "--gw", GW, "--teid", "0x100"]);
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(200));

    let s = lab.stats();
    assert_eq!(counter(&s, "counters", "echo_replied"), 1, "{s}");
    assert_eq!(counter(&s, "counters", "end_marker_consumed"), 1, "{s}");
    // Per-session counters: every packet counted once each way (the first
    // uplink packet may be routed by the kernel while it resolves ARP: still counted).
    let s1 = session(&s, 1);
    assert_eq!(s1["counters"]["ul_packets"], 20, "{s1}");
    assert_eq!(s1["counters"]["dl_packets"], 20, "{s1}");
    assert_eq!(session(&s, 2)["counters"]["ul_packets"], 10);
    assert_eq!(session(&s, 3)["counters"]["ul_packets"], 15);
    assert_eq!(session(&s, 3)["counters"]["dl_packets"], 15);
    let dl = counter(&s, "counters", "downlink_forwarded");
    assert_eq!(dl, 45, "every downlink packet went through XDP: {s}");
    for (name, v) in s["fastpath"]["drops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap(), e[1].as_u64().unwrap()))
    {
        assert_eq!(v, 0, "unexpected drop {name}: {s}");
    }
}

#[test]
fn traffic_generic() {
    traffic_both_generations(Mode::Generic);
}

#[test]
fn traffic_native() {
    traffic_both_generations(Mode::Native);
}

fn drops_what_it_must(mode: Mode) {
    let lab = Lab::up(mode);
    lab.no_reply(&["--teid", "0x999", "--ue", "10.45.0.1"]);
    lab.no_reply(&["--teid", "0x100", "--ue", "10.45.0.1", "--src", "10.45.9.9"]);
    let s = lab.stats();
    assert_eq!(counter(&s, "drops", "unknown_teid"), 3, "{s}");
    assert_eq!(counter(&s, "drops", "spoofed_source"), 3, "{s}");
    assert_eq!(
        session(&s, 1)["counters"]["ul_packets"],
        0,
        "spoofed packets are not counted as traffic"
    );
    // The gateway still forwards for everyone else.
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        5,
        &["--container", "--qfi", "9"],
    );
}

#[test]
fn drops_generic() {
    drops_what_it_must(Mode::Generic);
}

#[test]
fn drops_native() {
    drops_what_it_must(Mode::Native);
}

/// tshark (an independent decoder) reads the gateway's downlink with no
/// malformed packet or expert warning, with the TEIDs and QFI we configured.
fn tshark_decodes_downlink(mode: Mode) {
    let lab = Lab::up(mode);
    let pcap = lab.dir.join("ran.pcap");
    let mut cap = lab
        .ns_cmd(&lab.ran_ns, "tshark")
        .args(["-i", &lab.ran_if, "-f", "udp port 2152", "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tshark");
    let t = Instant::now();
    while !pcap.exists() || std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "tshark did not start capturing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        3,
        &["--container", "--qfi", "9"],
    );
    lab.traffic("0x102", "10.45.0.3", "0x1003", 3, &[]);
    let out = lab.lab_tool(&["echo", "--bind", RAN, "--gw", GW]);
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: valid pid and signal.
    unsafe { libc::kill(cap.id() as i32, libc::SIGINT) };
    let _ = cap.wait();

    let out = must(Command::new("tshark").arg("-r").arg(&pcap).args([
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-V",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    for bad in [
        "Malformed",
        "[Expert Info (Warning",
        "[Expert Info (Error",
        "Bad checksum",
        "incorrect",
    ] {
        assert!(
            !text.contains(bad),
            "tshark reports {bad:?} in the gateway's packets:\n{text}"
        );
    }
    // Downlink from the gateway: the remote TEIDs, the DL container with QFI 9, the Echo Response's Recovery.
    let filter = |f: &str| {
        let out = must(Command::new("tshark").arg("-r").arg(&pcap).args(["-Y", f]));
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(filter("ip.src == 10.100.0.1 && gtp.teid == 0x1001 && gtp.ext_hdr.pdu_ses_con.pdu_type == 0 && gtp.ext_hdr.pdu_ses_con.qos_flow_id == 9"), 3, "5G downlink with DL container QFI 9:\n{text}");
    assert_eq!(
        filter("ip.src == 10.100.0.1 && gtp.teid == 0x1003 && !gtp.ext_hdr"),
        3,
        "4G downlink without extension headers:\n{text}"
    );
    assert_eq!(
        filter("ip.src == 10.100.0.1 && gtp.message == 2 && gtp.recovery"),
        1,
        "Echo Response with Recovery:\n{text}"
    );
    assert_eq!(filter("ip.src == 10.100.0.1 && icmp"), 0);
}

#[test]
fn tshark_generic() {
    tshark_decodes_downlink(Mode::Generic);
}

#[test]
fn tshark_native() {
    tshark_decodes_downlink(Mode::Native);
}

/// Sessions come and go at run time without disturbing the others.
#[test]
fn sessions_installed_and_removed_at_run_time() {
    let lab = Lab::up(Mode::Native);
    let file = lab.session_file("more.toml", 10, "0x200", "10.45.1.1", "0x2001", Some(7));
    lab.upfctl(&["sessions", "load", file.to_str().unwrap()]);
    lab.traffic(
        "0x200",
        "10.45.1.1",
        "0x2001",
        5,
        &["--container", "--qfi", "7"],
    );
    lab.upfctl(&["sessions", "remove", "10"]);
    lab.no_reply(&["--teid", "0x200", "--ue", "10.45.1.1"]);
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        5,
        &["--container", "--qfi", "9"],
    );
    // A duplicate TEID is refused, naming the holder.
    let file = lab.session_file("dup.toml", 11, "0x100", "10.45.1.2", "0x2002", None);
    let out = run(Command::new(bin("upfctl"))
        .arg("--socket")
        .arg(&lab.sock)
        .args(["sessions", "load", file.to_str().unwrap()]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already used by session 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A path switch: the SMF moves a session's downlink to another tunnel; the
/// downlink follows at once and the old peer gets an End Marker.
#[test]
fn session_update_moves_the_downlink() {
    let lab = Lab::up(Mode::Generic);
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        3,
        &["--container", "--qfi", "9"],
    );
    let file = lab.session_file("moved.toml", 1, "0x100", "10.45.0.1", "0x7777", Some(9));
    lab.upfctl(&["sessions", "update", file.to_str().unwrap()]);
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x7777",
        3,
        &["--container", "--qfi", "9"],
    );
    assert!(
        lab.log().contains("End Marker sent"),
        "no End Marker on the old tunnel:\n{}",
        lab.log()
    );
    let s = lab.stats();
    assert_eq!(
        session(&s, 1)["counters"]["ul_packets"],
        6,
        "counters carry on across the update: {s}"
    );
}

/// SIGTERM detaches the program from every port; a second daemon on
/// interfaces already in use fails naming the interface.
#[test]
fn attach_conflict_and_clean_detach() {
    let mut lab = Lab::up(Mode::Native);
    let gw = format!("mupf-{}-gw", lab.id);
    let n3 = format!("mu{}n3", lab.id);
    let cfg = lab.dir.join("second.toml");
    let text = std::fs::read_to_string(lab.dir.join("upf.toml"))
        .unwrap()
        .replace(".sock", "-second.sock");
    std::fs::write(&cfg, text).unwrap();
    let out = run(Command::new("ip")
        .args(["netns", "exec", &gw])
        .arg(bin("upfd"))
        .arg("--config")
        .arg(&cfg));
    assert!(
        !out.status.success(),
        "a second daemon attached over the first"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&n3) && err.contains("native"),
        "the error does not name the interface and mode: {err}"
    );

    let link = |ns: &str, dev: &str| {
        String::from_utf8_lossy(
            &must(Command::new("ip").args(["-n", ns, "-d", "link", "show", dev])).stdout,
        )
        .to_string()
    };
    assert!(
        link(&gw, &n3).contains("xdp"),
        "XDP is attached while upfd runs"
    );
    let mut d = lab.upfd.take().unwrap();
    // SAFETY: valid pid and signal.
    unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
    let status = d.wait().unwrap();
    assert!(
        status.success(),
        "upfd exit on SIGTERM: {status}\n{}",
        lab.log()
    );
    assert!(
        !link(&gw, &n3).contains("xdp"),
        "XDP still attached after SIGTERM:\n{}",
        link(&gw, &n3)
    );
    assert!(!lab.sock.exists(), "control socket left behind");
    assert!(lab.log().contains("XDP detached"));
}

/// A bad configuration stops upfd at start with the field and the reason.
#[test]
fn bad_configuration_names_the_field() {
    preconditions();
    let dir = std::env::temp_dir().join(format!("mupf-e2e-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("[gateway]\nn3_address = \"10.1.1\"\n[[interface]]\nname = \"lo\"\nroles = [\"n3\", \"n6\"]\n", "n3_address"),
        ("[gateway]\nn3_address = \"10.1.1.1\"\nmax_sessions = 0\n[[interface]]\nname = \"lo\"\nroles = [\"n3\", \"n6\"]\n", "gateway.max_sessions"),
        ("[gateway]\nn3_address = \"10.1.1.1\"\nattach_mode = \"fast\"\n[[interface]]\nname = \"lo\"\nroles = [\"n3\", \"n6\"]\n", "attach_mode"),
        ("[gateway]\nn3_address = \"10.1.1.1\"\n[[interface]]\nname = \"mupf-nosuch0\"\nroles = [\"n3\", \"n6\"]\n", "interface[0].name"),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let p = dir.join(format!("bad{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let out = run(Command::new(bin("upfd")).arg("--config").arg(&p));
        assert!(!out.status.success(), "case {i} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(field),
            "case {i}: error does not name {field}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The next-hop cache follows a neighbour's MAC change: the DN host moves to
/// a new MAC (its neighbour entry in the gateway replaced), and the uplink
/// still reaches it through XDP (frames to the old MAC would be dropped by
/// the DN's interface, so the traffic check fails if the cache lags).
#[test]
fn nexthop_cache_follows_a_neighbour_mac_change() {
    let lab = Lab::up(Mode::Generic);
    lab.traffic("0x102", "10.45.0.3", "0x1003", 5, &[]);
    assert!(
        lab.log().contains("next-hop cache updated"),
        "the cache was never filled:\n{}",
        lab.log()
    );
    let (gw_ns, n6, d0) = (
        format!("mupf-{}-gw", lab.id),
        format!("mu{}n6", lab.id),
        format!("mu{}d0", lab.id),
    );
    must(Command::new("ip").args([
        "-n",
        &lab.dn_ns,
        "link",
        "set",
        &d0,
        "address",
        "02:00:00:00:02:77",
    ]));
    must(Command::new("ip").args([
        "-n",
        &gw_ns,
        "neigh",
        "replace",
        "10.200.0.2",
        "lladdr",
        "02:00:00:00:02:77",
        "dev",
        &n6,
        "nud",
        "permanent",
    ]));
    // The rtnetlink event triggers a resync after a 20 ms debounce.
    std::thread::sleep(Duration::from_millis(300));
    let before = counter(&lab.stats(), "counters", "uplink_forwarded");
    lab.traffic("0x102", "10.45.0.3", "0x1003", 5, &[]);
    let s = lab.stats();
    assert_eq!(
        counter(&s, "counters", "uplink_forwarded") - before,
        5,
        "the uplink went through XDP to the new MAC: {s}"
    );
}
