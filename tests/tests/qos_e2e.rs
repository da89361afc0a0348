//! End-to-end QoS measured where the traffic arrives: the daemon in the
//! namespace lab, QERs from the test SMF, paced and stamped UDP (see
//! `mvno_upf_tests::rate`) received in the data network (uplink) or at the
//! simulated RAN (downlink, G-PDUs checked and unwrapped), and TCP (iperf3)
//! from a 5G UE on a TUN device (`mupf-lab ue`). Rates are of inner IP
//! bytes, what a QER's MBR limits.
//!
//! These complement qos_e2e_rates.rs, which reads the gateway's own PDR
//! counters: here the gateway's counters and drop reasons are only
//! cross-checked against what arrived.
//!
//! Windows start after a warm-up (the meter's initial burst, `qos.mbr_burst_ms`,
//! drains at the offered excess). The tests run one at a time (a lock):
//! rates on 2 shared cores need the senders to keep their schedule.
//! Same preconditions as e2e.rs, plus iperf3 for the TCP test; nothing is
//! skipped.

mod common;

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use mvno_upf_tests::rate::{send_paced, v4, Arrivals, Datagram, Decap, Receiver, Sent, IP_UDP_LEN};
use mvno_upf_tests::smf::{
    socket_in_netns, update_mbr, update_qer, FlowQer, Session, SessionPlan, LAB_N3, LAB_RAN,
    PDR_UL, QER_SESSION,
};
use upf_pfcp::Cause;

/// Inner IP packet size of the UDP test traffic.
const INNER: usize = 1000;
/// The data network host (DN namespace).
const DN_HOST: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
/// The uplink receiver's port on the DN host.
const UL_PORT: u16 = 5001;
/// The downlink traffic's destination port at the UE.
const UE_PORT: u16 = 5002;
/// What an unlimited session is offered: well below what this lab carries
/// on a loaded 2-core machine (the sender, the gateway in generic XDP and
/// the receiver delivered 200 Mbit/s of 1000-byte packets each way without
/// loss, measured; the sender alone tops out near 400 Mbit/s).
const UNLIMITED_BPS: u64 = 60_000_000;

/// A 4G session with fixed TEIDs and UE address 10.45.8.(10 + i), with a
/// session QER of this MBR (uplink, downlink) when given.
fn plan(i: u32, mbr_kbps: Option<(u64, u64)>) -> SessionPlan {
    let mut p = SessionPlan::four_g(
        0x800 + i,
        Ipv4Addr::new(10, 45, 8, 10 + i as u8),
        0x8000 + i,
    );
    p.mbr_kbps = mbr_kbps;
    p
}

fn dir(uplink: bool) -> &'static str {
    if uplink {
        "UL"
    } else {
        "DL"
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn within(measured: f64, want: f64, tolerance: f64) -> bool {
    (measured - want).abs() <= want * tolerance
}

/// Paced traffic of one session in one direction, with its receiver.
struct Flow {
    epoch: Instant,
    receiver: Receiver,
    sender: JoinHandle<Sent>,
}

impl Flow {
    /// Starts offering `rate` bit/s of 1000-byte inner packets on session
    /// `s` until `until` after now: uplink G-PDUs from the RAN to N3,
    /// received in the DN; or downlink UDP from the DN to the UE, received
    /// as G-PDUs with the session's downlink TEID at the RAN.
    fn start(lab: &Lab, s: &Session, uplink: bool, rate: u64, until: Duration) -> Flow {
        let qfi = s.plan.ul_qfis.first().copied();
        Flow::start_with(lab, s, uplink, qfi, UL_PORT, rate, until)
    }

    /// [`Flow::start`] with the uplink's QFI (the session's uplink PDR for
    /// it; `None`: 4G) and the DN receiver's port.
    fn start_with(
        lab: &Lab,
        s: &Session,
        uplink: bool,
        qfi: Option<u8>,
        port: u16,
        rate: u64,
        until: Duration,
    ) -> Flow {
        let ue = s.ue().expect("the session's UE address");
        let (rx, decap, tx, to, datagram) = if uplink {
            let pdr = qfi.map_or(PDR_UL, |q| {
                let i = s.plan.ul_qfis.iter().position(|x| *x == q);
                PDR_UL + i.expect("an uplink PDR for the QFI") as u16
            });
            let teid = s.teid_of(pdr).expect("the session's uplink TEID");
            (
                socket_in_netns(&lab.dn_ns, v4(DN_HOST, port)),
                Decap::Plain,
                socket_in_netns(&lab.ran_ns, v4(LAB_RAN, 0)),
                v4(LAB_N3, 2152),
                Datagram::g_pdu(teid, qfi, v4(ue, 40000), v4(DN_HOST, port), INNER),
            )
        } else {
            (
                socket_in_netns(&lab.ran_ns, v4(LAB_RAN, 2152)),
                Decap::GtpU {
                    teid: Some(s.plan.remote_teid),
                },
                socket_in_netns(&lab.dn_ns, v4(DN_HOST, 0)),
                v4(ue, UE_PORT),
                Datagram::plain(INNER),
            )
        };
        let epoch = Instant::now();
        let receiver = Receiver::spawn(rx.expect("the receiver's socket"), decap, epoch)
            .expect("starting the receiver");
        let (tx, datagram) = (
            tx.expect("the sender's socket"),
            datagram.expect("the test datagram"),
        );
        let sender = std::thread::spawn(move || send_paced(&tx, to, datagram, rate, epoch, until));
        Flow {
            epoch,
            receiver,
            sender,
        }
    }

    /// Waits for the sender, lets the last packets arrive, and returns what
    /// was sent and what arrived.
    fn finish(self) -> (Sent, Arrivals) {
        let sent = self.sender.join().expect("the sender thread");
        let got = self.receiver.finish(ms(200)).expect("the receiver");
        (sent, got)
    }
}

fn drops(lab: &Lab, reason: &str) -> u64 {
    counter(&lab.stats(), "drops", reason)
}

/// Without a QER the gateway delivers what it is offered: the rate at the
/// receiver is the offered rate within 1 % and at least 99 % of the
/// packets sent in the window arrive, both ways.
#[test]
fn unlimited_delivers_what_is_offered() {
    let _serial = serial();
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let s = open(&lab, &mut smf, &plan(0, None));
    let (from, to) = (ms(500), ms(1900));
    let mut problems = Vec::new();
    for uplink in [true, false] {
        let (sent, got) = Flow::start(&lab, &s, uplink, UNLIMITED_BPS, ms(2000)).finish();
        let offered = sent.offered_bps(from, to);
        let delivered = got.window(from, to).bps();
        let seqs = sent.seqs_in(from, to);
        let n = seqs.end - seqs.start;
        let arrived = got.delivered_of(seqs);
        eprintln!(
            "unlimited {}: offered {:.2} Mbit/s (target {:.0}, {} skipped), delivered {:.2} Mbit/s \
             ({:+.2} %), {arrived} of {n} packets sent in the window arrived, {} duplicates",
            dir(uplink),
            offered / 1e6,
            UNLIMITED_BPS as f64 / 1e6,
            sent.skipped,
            delivered / 1e6,
            (delivered / offered - 1.0) * 100.0,
            got.duplicates()
        );
        if n == 0 || !within(delivered, offered, 0.01) || (arrived as f64) < 0.99 * n as f64 {
            problems.push(format!(
                "{}: offered {offered:.0} bit/s, delivered {delivered:.0} bit/s (want within 1 %), \
                 {arrived} of {n} packets arrived (want ≥ 99 %)",
                dir(uplink)
            ));
        }
        if got.duplicates() != 0 {
            problems.push(format!("{}: {} duplicates", dir(uplink), got.duplicates()));
        }
    }
    assert!(
        problems.is_empty(),
        "{problems:?}\nupfd log:\n{}",
        lab.log()
    );
}

/// A QER with its gate closed in one direction: nothing arrives that way
/// and every packet is a gate_closed drop; the other direction passes.
/// Both ways (UL closed on one session, DL on another); then an Update QER
/// opens the closed uplink gate and the uplink passes.
#[test]
fn a_closed_gate_passes_nothing_its_way_only() {
    let _serial = serial();
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let rate = 5_000_000;
    let check_open = |s: &Session, uplink: bool, problems: &mut Vec<String>, what: &str| {
        let (sent, got) = Flow::start(&lab, s, uplink, rate, ms(600)).finish();
        let n = sent.at_ns.len() as u64;
        let arrived = got.delivered_of(0..n);
        eprintln!("{what}: {arrived} of {n} packets arrived");
        if n == 0 || (arrived as f64) < 0.99 * n as f64 {
            problems.push(format!(
                "{what}: {arrived} of {n} packets arrived, want ≥ 99 %"
            ));
        }
    };
    let mut problems = Vec::new();
    let mut sessions = Vec::new();
    for (i, closed_uplink) in [(0u32, true), (1, false)] {
        let mut p = plan(i, None);
        p.gate_closed = (closed_uplink, !closed_uplink);
        let s = open(&lab, &mut smf, &p);
        let gated0 = drops(&lab, "gate_closed");
        let (sent, got) = Flow::start(&lab, &s, closed_uplink, rate, ms(600)).finish();
        let gated = drops(&lab, "gate_closed") - gated0;
        let n = sent.at_ns.len() as u64;
        let what = format!("{} gate closed", dir(closed_uplink));
        eprintln!(
            "{what}: {} of {n} packets arrived, gate_closed counted {gated}",
            got.list.len()
        );
        if n == 0 || !got.list.is_empty() || gated != n {
            problems.push(format!(
                "{what}: {} of {n} packets arrived (want none), gate_closed counted {gated} \
                 (want {n})",
                got.list.len()
            ));
        }
        check_open(
            &s,
            !closed_uplink,
            &mut problems,
            &format!("{} gate open ({what})", dir(!closed_uplink)),
        );
        sessions.push(s);
    }
    let (_, rsp) = smf
        .modify(
            sessions[0].up_seid,
            update_qer(QER_SESSION, Some((false, false)), None),
        )
        .unwrap_or_else(|e| panic!("Update QER opening the gate: {e:#}"));
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    check_open(
        &sessions[0],
        true,
        &mut problems,
        "UL gate opened by Update QER",
    );
    assert!(
        problems.is_empty(),
        "{problems:?}\nupfd log:\n{}",
        lab.log()
    );
}

/// The first `width` bin from which every 300 ms average (3 bins) stays
/// within ±5 % of `want`; `None` if the last ones do not.
fn settled_from(bins: &[f64], want: f64) -> Option<usize> {
    let ok: Vec<bool> = bins
        .windows(3)
        .map(|w| within(w.iter().sum::<f64>() / 3.0, want, 0.05))
        .collect();
    let bad_last = ok.iter().rposition(|o| !o);
    match bad_last {
        None => Some(0),
        Some(i) if i + 1 < ok.len() => Some(i + 1),
        Some(_) => None,
    }
}

/// An Update QER changing the MBR mid-flow (20 to 5 Mbit/s on the uplink,
/// 5 to 20 on the downlink, offered 30): the delivered rate in 100 ms bins
/// settles to the new MBR ±5 % (every 300 ms average from then on) within
/// one second of the Session Modification Response, and averages the new
/// MBR ±5 % after that second.
#[test]
fn an_update_qer_settles_within_a_second() {
    let _serial = serial();
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let bin = ms(100);
    let mut problems = Vec::new();
    for (i, uplink, a, b) in [(0u32, true, 20_000u64, 5_000u64), (1, false, 5_000, 20_000)] {
        let s = open(&lab, &mut smf, &plan(i, Some((a, a))));
        let flow = Flow::start(&lab, &s, uplink, 30_000_000, ms(3300));
        std::thread::sleep(ms(1200).saturating_sub(flow.epoch.elapsed()));
        let (_, rsp) = smf
            .modify(s.up_seid, update_mbr(b, b))
            .unwrap_or_else(|e| panic!("Update QER: {e:#}"));
        let changed = flow.epoch.elapsed();
        assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
        let (_, got) = flow.finish();
        let before = got.window(ms(650), ms(1150)).bps();
        let bins = got.bins(changed, ms(3200), bin);
        let want = b as f64 * 1000.0;
        let settled = settled_from(&bins, want);
        let after = got.window(changed + ms(1000), ms(3200)).bps();
        let name = format!("{} {a} -> {b} kbit/s", dir(uplink));
        eprintln!(
            "{name}: before {:.0} kbit/s, change answered at {:.0} ms; after it, per 100 ms \
             (kbit/s): {:?}; settled after {:?} bins; mean from 1 s on {:.0} kbit/s",
            before / 1000.0,
            changed.as_secs_f64() * 1000.0,
            bins.iter()
                .map(|r| (r / 1000.0).round())
                .collect::<Vec<_>>(),
            settled,
            after / 1000.0
        );
        if !within(before, a as f64 * 1000.0, 0.05) {
            problems.push(format!(
                "{name}: before the change {:.0} kbit/s, want {a} ±5 %",
                before / 1000.0
            ));
        }
        if settled.is_none_or(|k| bin * k as u32 > ms(1000)) {
            problems.push(format!(
                "{name}: not settled within 1 s (from bin {settled:?} of 100 ms)"
            ));
        }
        if !within(after, want, 0.05) {
            problems.push(format!(
                "{name}: {:.0} kbit/s from 1 s after the change, want {b} ±5 %",
                after / 1000.0
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{problems:?}\nupfd log:\n{}",
        lab.log()
    );
}

/// A flow QER chained to the session QER (5G; QFIs 9 and 5 on their own
/// uplink PDRs, a flow QER of 5 Mbit/s on QFI 5, a session QER of
/// 20 Mbit/s on both): QFI 5 alone, offered 10 Mbit/s, gets its flow MBR
/// ±5 %; with QFI 9 offered 30 Mbit/s beside it, the sum is the session
/// MBR ±5 % and QFI 5 keeps some but at most its flow MBR (+5 %).
#[test]
fn a_flow_qer_is_held_inside_the_session_qer() {
    let _serial = serial();
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let mut p = SessionPlan::five_g(0x8200, &[9, 5], 9);
    p.mbr_kbps = Some((20_000, 20_000));
    p.flow_qers = vec![FlowQer {
        qfi: 5,
        mbr_kbps: (5_000, 5_000),
        gate_closed: (false, false),
    }];
    let s = open(&lab, &mut smf, &p);
    let (flow_mbr, session_mbr) = (5e6, 20e6);
    let mut problems = Vec::new();

    let (_, got) =
        Flow::start_with(&lab, &s, true, Some(5), UL_PORT, 10_000_000, ms(2200)).finish();
    let alone = got.window(ms(900), ms(2100)).bps();
    eprintln!(
        "QFI 5 alone: {:.0} kbit/s of a 5000 kbit/s flow MBR",
        alone / 1000.0
    );
    if !within(alone, flow_mbr, 0.05) {
        problems.push(format!(
            "QFI 5 alone: {:.0} kbit/s, want its flow MBR 5000 ±5 %",
            alone / 1000.0
        ));
    }

    let f5 = Flow::start_with(&lab, &s, true, Some(5), UL_PORT, 10_000_000, ms(2400));
    let f9 = Flow::start_with(&lab, &s, true, Some(9), UL_PORT + 1, 30_000_000, ms(2400));
    let (_, got5) = f5.finish();
    let (_, got9) = f9.finish();
    // Same clock: the second flow's epoch is a few microseconds later.
    let (r5, r9) = (
        got5.window(ms(1000), ms(2300)).bps(),
        got9.window(ms(1000), ms(2300)).bps(),
    );
    eprintln!(
        "QFI 5 (10 Mbit/s offered, flow MBR 5) with QFI 9 (30 offered), session MBR 20: \
         {:.0} + {:.0} = {:.0} kbit/s",
        r5 / 1000.0,
        r9 / 1000.0,
        (r5 + r9) / 1000.0
    );
    if !within(r5 + r9, session_mbr, 0.05) {
        problems.push(format!(
            "both flows: {:.0} kbit/s together, want the session MBR 20000 ±5 %",
            (r5 + r9) / 1000.0
        ));
    }
    if r5 <= 0.0 || r5 > flow_mbr * 1.05 {
        problems.push(format!(
            "QFI 5 beside QFI 9: {:.0} kbit/s, want more than 0 and at most 5000 +5 %",
            r5 / 1000.0
        ));
    }
    assert!(
        problems.is_empty(),
        "{problems:?}\nupfd log:\n{}",
        lab.log()
    );
}

fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits up to `timeout` for the child to exit by itself; its exit status
/// (`None`: still running) and what it wrote to its piped stdout.
fn exit_and_output(
    child: &mut Guard,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, String) {
    let t = Instant::now();
    while child.0.try_wait().ok().flatten().is_none() && t.elapsed() < timeout {
        std::thread::sleep(ms(20));
    }
    let status = child.0.try_wait().ok().flatten();
    let mut out = String::new();
    if let (Some(_), Some(mut o)) = (status, child.0.stdout.take()) {
        let _ = std::io::Read::read_to_string(&mut o, &mut out);
    }
    (status, out)
}

/// Waits until `ns` has interface `dev` (true) or, with `present` false,
/// until it is gone.
fn wait_link(lab: &Lab, ns: &str, dev: &str, present: bool, timeout: Duration) -> bool {
    let t = Instant::now();
    loop {
        let there = run(lab.ns_cmd(ns, "ip").args(["link", "show", dev]))
            .status
            .success();
        if there == present {
            return true;
        }
        if t.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(ms(50));
    }
}

/// TCP (iperf3) from a 5G UE on a TUN (UL PDU Session Container with
/// QFI 9, the PDR matches on it) through a session MBR of 10 Mbit/s:
/// goodput 85-105 % of the MBR both ways. The UE stops cleanly on SIGTERM
/// (its TUN is gone) and reports what it forwarded.
#[test]
fn tcp_from_a_5g_ue_through_an_mbr() {
    let _serial = serial();
    assert!(
        have("iperf3"),
        "iperf3 is missing: run scripts/setup.sh (it installs Debian's iperf3)"
    );
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let mbr_kbps = 10_000u64;
    let mut p = SessionPlan::five_g(0x8100, &[9], 9);
    p.mbr_kbps = Some((mbr_kbps, mbr_kbps));
    let s = open(&lab, &mut smf, &p);
    let (teid, ue) = (s.teid().unwrap(), s.ue().unwrap());
    let tun = format!("mupf-{}u", lab.id);
    let ue_proc = lab
        .ns_cmd(&lab.ran_ns, bin("mupf-lab"))
        .args(["ue", "--tun", &tun, "--ue", &ue.to_string()])
        .args(["--route", &format!("{DN_HOST}/32")])
        .args(["--bind", &v4(LAB_RAN, 2152).to_string()])
        .args(["--gw", &v4(LAB_N3, 2152).to_string()])
        .args(["--teid", &teid.to_string(), "--qfi", "9"])
        .args(["--downlink-teid", &s.plan.remote_teid.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting mupf-lab ue");
    let mut ue_proc = Guard(ue_proc);
    assert!(
        wait_link(&lab, &lab.ran_ns, &tun, true, Duration::from_secs(5)),
        "the UE's TUN {tun} did not appear in {}",
        lab.ran_ns
    );
    let _server = Guard(
        lab.ns_cmd(&lab.dn_ns, "iperf3")
            .args(["-s", "-B", &DN_HOST.to_string(), "-p", "5201"])
            .stdout(Stdio::null())
            .spawn()
            .expect("starting iperf3 -s"),
    );
    std::thread::sleep(ms(500));
    let mut problems = Vec::new();
    for reverse in [false, true] {
        let name = if reverse { "downlink" } else { "uplink" };
        let mut c = lab.ns_cmd(&lab.ran_ns, "iperf3");
        c.args(["-c", &DN_HOST.to_string(), "-B", &ue.to_string()])
            .args(["-p", "5201", "-t", "4", "-O", "1", "-J"]);
        if reverse {
            c.arg("-R");
        }
        let out = run(&mut c);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "iperf3 {name}: {e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let Some(goodput) = j["end"]["sum_received"]["bits_per_second"].as_f64() else {
            panic!(
                "iperf3 {name}: no sum_received: {j}\nupfd log:\n{}",
                lab.log()
            );
        };
        let ratio = goodput / (mbr_kbps as f64 * 1000.0);
        eprintln!(
            "TCP {name} (5G, QFI 9): {:.2} Mbit/s goodput, {:.1} % of the {} Mbit/s MBR, {} \
             retransmits",
            goodput / 1e6,
            ratio * 100.0,
            mbr_kbps / 1000,
            j["end"]["sum_sent"]["retransmits"]
        );
        if !(0.85..=1.05).contains(&ratio) {
            problems.push(format!(
                "TCP {name}: goodput {:.2} Mbit/s = {:.1} % of the MBR, want 85-105 %",
                goodput / 1e6,
                ratio * 100.0
            ));
        }
    }
    // SAFETY: kill with the pid of our child (not yet waited for) and a
    // valid signal number.
    unsafe { libc::kill(ue_proc.0.id() as i32, libc::SIGTERM) };
    let (status, out) = exit_and_output(&mut ue_proc, Duration::from_secs(3));
    assert!(
        status.is_some_and(|s| s.success()),
        "mupf-lab ue did not exit cleanly within 3 s of SIGTERM: {status:?}"
    );
    let st: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("mupf-lab ue's counters {out:?}: {e}"));
    eprintln!("UE counters: {st}");
    assert!(
        st["uplink_packets"].as_u64() > Some(0) && st["downlink_packets"].as_u64() > Some(0),
        "the UE forwarded both ways: {st}"
    );
    assert!(
        wait_link(&lab, &lab.ran_ns, &tun, false, Duration::from_secs(1)),
        "the TUN {tun} outlived the UE"
    );
    assert!(
        problems.is_empty(),
        "{problems:?}\nupfd log:\n{}",
        lab.log()
    );
}

#[test]
fn settling_is_the_first_bin_after_the_last_miss() {
    let w = 100.0;
    assert_eq!(settled_from(&[100.0; 10], w), Some(0));
    let mut b = vec![400.0, 300.0, 200.0];
    b.extend([100.0; 7]);
    // Averages over 3: 300, 200, 133, 100, ... : the last miss is window 2.
    assert_eq!(settled_from(&b, w), Some(3));
    b.extend([50.0, 50.0, 50.0]);
    assert_eq!(settled_from(&b, w), None, "never settles at the end");
    // IP_UDP_LEN is what Datagram::plain leaves out of INNER.
    assert_eq!(
        Datagram::plain(INNER).unwrap().bytes.len() + IP_UDP_LEN,
        INNER
    );
}
