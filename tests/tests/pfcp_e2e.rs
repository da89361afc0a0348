//! End-to-end tests of PFCP on N4: a test SMF (tests/src/smf.rs) in the
//! RAN namespace programs upfd (10.100.0.1:8805) and real GTP-U from the
//! simulated RAN checks what the sessions do, each test in its own lab.
//!
//! Same preconditions as e2e.rs (root, iproute2, ethtool, tshark, the
//! workspace binaries); nothing is skipped.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mvno_upf_tests::gtp;
use mvno_upf_tests::smf::{
    self, grant_quota, hex, move_downlink, query_urr, remove_pdr, socket_in_netns, strip_ie,
    Session, SessionPlan, Smf, Usage, FAR_DL, LAB_N3, LAB_RAN, PDR_DL, PDR_UL, URR,
};
use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::ie::{
    types, FailedRuleId, NodeId, OffendingIe, ReportType, ReportingTriggers, UsageReport,
    UsageReportTrigger, Volume,
};
use upf_pfcp::message::SessionReportRequest;
use upf_pfcp::message::{
    AssociationSetupRequest, HeartbeatRequest, Message, SessionEstablishmentResponse,
    SessionModificationRequest,
};
use upf_pfcp::{Cause, Pdu};

/// The UE pool for CHOOSE in configs/lab.toml.
const POOL: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 45, 128, 0), 17);
/// The TEID range for CHOOSE in configs/lab.toml.
const TEIDS: (u32, u32) = (0x0010_0000, 0x001f_ffff);
/// A fixed 4G session that collides with nothing static.
const TEID_4G: u32 = 0x300;
const UE_4G: Ipv4Addr = Ipv4Addr::new(10, 45, 1, 1);
const REMOTE_4G: u32 = 0x3001;
const REMOTE_5G: u32 = 0x5001;
/// The static sessions of configs/sessions.toml.
const STATIC_SESSIONS: u64 = 3;
/// How long "no answer" is waited for.
const SILENCE: Duration = Duration::from_secs(1);

fn hx(v: u32) -> String {
    format!("{v:#x}")
}

fn in_pool(a: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - POOL.1);
    u32::from(a) & mask == u32::from(POOL.0) & mask
}

/// Associates, with the checks every test wants: Cause 1, the UPF's Node
/// ID (its N4 address) and a Recovery Time Stamp.
fn associated(lab: &Lab) -> Smf {
    let mut smf = lab.smf();
    let rsp = smf
        .associate()
        .unwrap_or_else(|e| panic!("association: {e:#}\nupfd log:\n{}", lab.log()));
    assert_eq!(rsp.node_id, NodeId::Ipv4(LAB_N3), "UPF Node ID: {rsp:?}");
    assert!(rsp.recovery_time_stamp.0 > 0, "{rsp:?}");
    smf
}

fn open(lab: &Lab, smf: &mut Smf, plan: &SessionPlan) -> Session {
    smf.open(plan)
        .unwrap_or_else(|e| panic!("establishing {plan:?}: {e:#}\nupfd log:\n{}", lab.log()))
}

/// The one Usage Report for [`URR`] in `reports`, with trigger `trigger`.
fn usage(reports: &[UsageReport], trigger: u32) -> (Usage, &UsageReport) {
    assert_eq!(reports.len(), 1, "one Usage Report expected: {reports:?}");
    let r = &reports[0];
    assert_eq!(r.urr_id.0, URR, "{r:?}");
    assert_ne!(
        r.usage_report_trigger.0 & trigger,
        0,
        "trigger {trigger:#x} expected: {r:?}"
    );
    let u = Usage::of(r).unwrap_or_else(|| panic!("no Volume Measurement: {r:?}"));
    assert_eq!(u.total_octets, u.ul_octets + u.dl_octets, "{r:?}");
    assert_eq!(u.total_packets, u.ul_packets + u.dl_packets, "{r:?}");
    (u, r)
}

fn query(lab: &Lab, smf: &mut Smf, s: &Session) -> (Usage, UsageReport) {
    let (_, rsp) = smf
        .modify(s.up_seid, query_urr(URR))
        .unwrap_or_else(|e| panic!("Query URR: {e:#}\n{}", lab.log()));
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    let (u, r) = usage(&rsp.usage_report, UsageReportTrigger::IMMER);
    (u, r.clone())
}

/// The session `s` in `upfctl sessions list --json`.
fn listed(lab: &Lab, s: &Session) -> serde_json::Value {
    let list = lab.sessions();
    pfcp_session(&list, s.up_seid)
        .unwrap_or_else(|| panic!("session {:#x} not listed: {list:?}", s.up_seid))
        .clone()
}

#[test]
fn pfcp_4g_and_5g_sessions_carry_traffic_both_ways() {
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);

    let s4 = open(
        &lab,
        &mut smf,
        &SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G),
    );
    assert!(
        s4.created.is_empty(),
        "nothing was chosen, nothing is reported created: {s4:?}"
    );
    let s5 = open(&lab, &mut smf, &SessionPlan::five_g(REMOTE_5G, &[9, 5], 9));
    // Both uplink PDRs share CHOOSE ID 1: one TEID, from the CHOOSE range,
    // with the N3 address; one UE address from the pool.
    let teid = s5.teid_of(PDR_UL).unwrap();
    assert_eq!(
        s5.teid_of(PDR_UL + 1),
        Some(teid),
        "CHOOSE ID shares: {s5:?}"
    );
    assert!((TEIDS.0..=TEIDS.1).contains(&teid), "TEID {teid:#x}");
    for c in &s5.created {
        if let Some(f) = c.local_f_teid {
            assert_eq!(f.ipv4, Some(LAB_N3), "{c:?}");
            assert!(!f.choose, "{c:?}");
        }
    }
    let ue = s5.ue().unwrap();
    assert!(in_pool(ue), "UE {ue} outside the pool");
    let dl = s5.created_pdr(PDR_DL).and_then(|c| c.ue_ip_address);
    if let Some(dl) = dl {
        assert_eq!(dl.ipv4, Some(ue), "one UE address per session: {s5:?}");
        assert!(dl.destination, "downlink UE IP Address has S/D set: {dl:?}");
    }
    assert!(
        s5.created
            .iter()
            .all(|c| c.ue_ip_address.is_none_or(|u| u.ipv4 == Some(ue))),
        "{s5:?}"
    );

    // 4G: plain GTP-U both ways, UDP and ICMP.
    lab.traffic(&hx(TEID_4G), &UE_4G.to_string(), &hx(REMOTE_4G), 10, &[]);
    lab.traffic(
        &hx(TEID_4G),
        &UE_4G.to_string(),
        &hx(REMOTE_4G),
        5,
        &["--proto", "icmp"],
    );
    // 5G: each uplink QoS flow; the downlink comes back on QFI 9 (the QER).
    let ue_s = ue.to_string();
    lab.traffic(
        &hx(teid),
        &ue_s,
        &hx(REMOTE_5G),
        10,
        &["--container", "--qfi", "9"],
    );
    lab.traffic(
        &hx(teid),
        &ue_s,
        &hx(REMOTE_5G),
        7,
        &["--container", "--qfi", "5", "--dl-qfi", "9", "--seq"],
    );

    // Per-PDR counters: each uplink PDR counted its QoS flow.
    let l4 = listed(&lab, &s4);
    assert_eq!(pdr_counter(&l4, PDR_UL, "ul_packets"), 15, "{l4}");
    assert_eq!(pdr_counter(&l4, PDR_DL, "dl_packets"), 15, "{l4}");
    let l5 = listed(&lab, &s5);
    assert_eq!(pdr_counter(&l5, PDR_UL, "ul_packets"), 10, "{l5}");
    assert_eq!(pdr_counter(&l5, PDR_UL + 1, "ul_packets"), 7, "{l5}");
    assert_eq!(pdr_counter(&l5, PDR_DL, "dl_packets"), 17, "{l5}");
    assert_eq!(l5["peer"], smf.addr().to_string(), "{l5}");
    assert_eq!(l5["cp_seid"], s5.cp_seid, "{l5}");

    let p = lab.pfcp_stats();
    assert_eq!(p["sessions"], STATIC_SESSIONS + 2, "{p}");
    assert_eq!(p["in_use"]["teids"], 1, "one CHOOSE TEID: {p}");
    assert_eq!(p["in_use"]["ue_addresses"], 1, "one CHOOSE UE: {p}");
    let peer = p["peers"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["addr"].as_str().unwrap_or("").contains("10.100.0.2"))
        })
        .unwrap_or_else(|| panic!("the SMF is not a listed peer: {p}"));
    assert_eq!(peer["state"], "associated", "{p}");

    // The static sessions are untouched.
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        3,
        &["--container", "--qfi", "9"],
    );
}

#[test]
fn pfcp_modification_moves_the_downlink_without_losing_uplink() {
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let s = open(
        &lab,
        &mut smf,
        &SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G),
    );
    let ue = UE_4G.to_string();
    lab.traffic(&hx(TEID_4G), &ue, &hx(REMOTE_4G), 5, &[]);
    let (before, r1) = query(&lab, &mut smf, &s);
    assert_eq!((before.ul_packets, before.dl_packets), (5, 5), "{r1:?}");

    // Move the downlink to TEID 0x3002 with SNDEM: the End Marker goes to
    // the old tunnel, at once.
    let gtpu_sock = socket_in_netns(&lab.ran_ns, SocketAddr::new(LAB_RAN.into(), gtp::PORT))
        .expect("binding 10.100.0.2:2152 in the RAN namespace");
    gtpu_sock
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (_, rsp) = smf
        .modify(s.up_seid, move_downlink(FAR_DL, 0x3002, LAB_RAN, true))
        .unwrap();
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    let mut buf = [0u8; 2048];
    let (len, from) = gtpu_sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no End Marker on the old tunnel: {e}\n{}", lab.log()));
    let em = gtp::parse(&buf[..len]).expect("End Marker decodes");
    assert_eq!(from, SocketAddr::new(LAB_N3.into(), gtp::PORT));
    assert_eq!(em.header.msg_type, gtp::MSG_END_MARKER, "{:?}", em.header);
    assert_eq!(em.header.teid, REMOTE_4G, "End Marker on the old TEID");
    drop(gtpu_sock);

    lab.traffic(&hx(TEID_4G), &ue, &hx(0x3002), 5, &[]);
    let (after, r2) = query(&lab, &mut smf, &s);
    // A report restarts the measurement: the second one counts what came
    // since the first, with the next UR-SEQN.
    assert_eq!((after.ul_packets, after.dl_packets), (5, 5), "{r2:?}");
    assert_eq!(after.ul_octets, before.ul_octets, "same packets, same size");
    assert_eq!(r2.ur_seqn.0, r1.ur_seqn.0 + 1, "{r1:?} {r2:?}");
    // The fast path's counters carry on across the move.
    let l = listed(&lab, &s);
    assert_eq!(pdr_counter(&l, PDR_UL, "ul_packets"), 10, "{l}");
    assert_eq!(pdr_counter(&l, PDR_DL, "dl_packets"), 10, "{l}");
    assert_eq!(
        pdr_counter(&l, PDR_UL, "ul_bytes"),
        before.ul_octets + after.ul_octets,
        "{l}"
    );
}

#[test]
fn pfcp_deletion_reports_usage_and_stops_traffic() {
    const N: u64 = 12;
    const PAYLOAD: u64 = 100;
    // Inner IPv4 (20) + UDP (8) + payload: what the usage counts.
    const INNER: u64 = 20 + 8 + PAYLOAD;
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let s = open(
        &lab,
        &mut smf,
        &SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G),
    );
    let ue = UE_4G.to_string();
    let report = lab.traffic(
        &hx(TEID_4G),
        &ue,
        &hx(REMOTE_4G),
        N as u32,
        &["--size", &PAYLOAD.to_string()],
    );
    assert_eq!(report["matched"], N, "{report}");

    let (h, rsp) = smf.delete(s.up_seid).unwrap();
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    assert_eq!(h.seid, Some(s.cp_seid), "response header carries our SEID");
    let (u, r) = usage(&rsp.usage_report, UsageReportTrigger::TERMR);
    assert_eq!((u.ul_packets, u.dl_packets), (N, N), "{r:?}");
    assert_eq!((u.ul_octets, u.dl_octets), (N * INNER, N * INNER), "{r:?}");
    assert!(r.duration_measurement.is_some(), "DURAT was asked: {r:?}");

    lab.no_reply(&["--teid", &hx(TEID_4G), "--ue", &ue]);
    assert!(pfcp_session(&lab.sessions(), s.up_seid).is_none());
    // Deleting it again: the session is gone.
    let (h, rsp) = smf.delete(s.up_seid).unwrap();
    assert_eq!(rsp.cause, Cause::SESSION_CONTEXT_NOT_FOUND, "{rsp:?}");
    assert_eq!(h.seid, Some(0), "{h:?}");
    assert_eq!(lab.pfcp_stats()["sessions"], STATIC_SESSIONS);
}

#[test]
fn pfcp_sdf_filter_selects_a_pdr() {
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    // A second echo port on the DN host: UDP that the filter does not name.
    let _other_echo = Guard(
        lab.ns_cmd(&lab.dn_ns, bin("mupf-lab"))
            .args(["dn-echo", "--bind", "10.200.0.2:7778"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a second DN echo server"),
    );
    let mut plan = SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G);
    plan.ul_drop = Some("permit out 17 from 10.200.0.2 7777 to assigned".into());
    let s = open(&lab, &mut smf, &plan);
    std::thread::sleep(Duration::from_millis(200));
    let ue = UE_4G.to_string();
    let teid = hx(TEID_4G);

    // UDP to the DN's port 7777 matches the high-precedence PDR: dropped.
    lab.no_reply(&["--teid", &teid, "--ue", &ue]);
    // ICMP and UDP to port 7778 fall through to the catch-all PDR.
    lab.traffic(&teid, &ue, &hx(REMOTE_4G), 5, &["--proto", "icmp"]);
    let out = lab.lab_tool(&[
        "ran",
        "--bind",
        RAN,
        "--gw",
        GW,
        "--teid",
        &teid,
        "--ue",
        &ue,
        "--dst",
        "10.200.0.2:7778",
        "--expect-teid",
        &hx(REMOTE_4G),
        "--count",
        "4",
        "--interval-ms",
        "1",
    ]);
    assert!(
        out.status.success(),
        "UDP to port 7778 is not forwarded:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let l = listed(&lab, &s);
    assert_eq!(pdr_counter(&l, PDR_UL, "ul_packets"), 9, "{l}");
    assert_eq!(pdr_counter(&l, PDR_DL, "dl_packets"), 9, "{l}");

    // Without the dropping PDR, port 7777 is forwarded again.
    let (_, rsp) = smf.modify(s.up_seid, remove_pdr(smf::PDR_UL_DROP)).unwrap();
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    lab.traffic(&teid, &ue, &hx(REMOTE_4G), 3, &[]);
}

#[test]
fn pfcp_thousand_sessions_leave_nothing_behind() {
    const SESSIONS: u32 = 1000;
    let lab = Lab::up(Mode::Generic);
    let before = lab.pfcp_stats();
    assert_eq!(before["sessions"], STATIC_SESSIONS, "{before}");
    let mut smf = associated(&lab);

    // Even: 5G with CHOOSE TEID and UE; odd: 4G with fixed TEID and UE
    // (0x10000 + i, 10.45.16.0 + i: clear of the static sessions and the pools).
    let plan = |i: u32| {
        if i.is_multiple_of(2) {
            SessionPlan::five_g(0x7000_0000 + i, &[9], 9)
        } else {
            SessionPlan::four_g(
                0x0001_0000 + i,
                Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 45, 16, 0)) + i),
                0x7100_0000 + i,
            )
        }
    };
    let t = Instant::now();
    let sessions: Vec<Session> = (0..SESSIONS)
        .map(|i| open(&lab, &mut smf, &plan(i)))
        .collect();
    let took = t.elapsed();
    println!(
        "{SESSIONS} Session Establishments (sequential, half CHOOSE) took {took:?}: {:.0} per second",
        f64::from(SESSIONS) / took.as_secs_f64()
    );
    let mid = lab.pfcp_stats();
    assert_eq!(
        mid["sessions"],
        STATIC_SESSIONS + u64::from(SESSIONS),
        "{mid}"
    );
    let grew = |k: &str| mid["in_use"][k].as_u64().unwrap() - before["in_use"][k].as_u64().unwrap();
    assert_eq!(grew("teids"), u64::from(SESSIONS / 2), "{mid}");
    assert_eq!(grew("ue_addresses"), u64::from(SESSIONS / 2), "{mid}");
    let teids: std::collections::HashSet<u32> = sessions.iter().filter_map(Session::teid).collect();
    let ues: std::collections::HashSet<Ipv4Addr> =
        sessions.iter().filter_map(Session::ue).collect();
    assert_eq!(teids.len(), SESSIONS as usize, "TEIDs are unique");
    assert_eq!(ues.len(), SESSIONS as usize, "UE addresses are unique");

    // The last of each kind carries traffic.
    for s in &sessions[sessions.len() - 2..] {
        let extra: &[&str] = match s.plan.dl_qfi {
            Some(_) => &["--container", "--qfi", "9"],
            None => &[],
        };
        lab.traffic(
            &hx(s.teid().unwrap()),
            &s.ue().unwrap().to_string(),
            &hx(s.plan.remote_teid),
            3,
            extra,
        );
    }

    let t = Instant::now();
    for s in &sessions {
        let (_, rsp) = smf
            .delete(s.up_seid)
            .unwrap_or_else(|e| panic!("deleting {:#x}: {e:#}", s.up_seid));
        assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    }
    println!("{SESSIONS} Session Deletions took {:?}", t.elapsed());
    let after = lab.pfcp_stats();
    assert_eq!(after["sessions"], before["sessions"], "{after}");
    assert_eq!(
        after["in_use"], before["in_use"],
        "leak: {before} -> {after}"
    );
    assert_eq!(lab.sessions().len() as u64, STATIC_SESSIONS);
    // The static sessions still forward; a deleted one does not.
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        5,
        &["--container", "--qfi", "9"],
    );
    lab.traffic("0x102", "10.45.0.3", "0x1003", 5, &[]);
    let last = &sessions[sessions.len() - 1];
    lab.no_reply(&[
        "--teid",
        &hx(last.teid().unwrap()),
        "--ue",
        &last.ue().unwrap().to_string(),
    ]);

    // Memory: the daemon's resident set after a second round of the same
    // establishments and deletions is where the first round left it (the
    // allocator keeps what it reserved; a leak of ~1 KiB per session would
    // show as 1 MB).
    let rss = || {
        let pid = lab.upfd.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS of upfd")
    };
    // Answered requests stay in the response cache for
    // pfcp.response_cache_secs (3 s in the lab): let them expire first.
    let settle = |smf: &mut Smf| {
        std::thread::sleep(Duration::from_secs(4));
        smf.heartbeat().expect("heartbeat");
    };
    // Rounds of the same establishments and deletions, each left to settle:
    // the peak (and so what the allocator keeps) is the same every round,
    // so the resident set after the third is where the first left it.
    let mut after_round = Vec::new();
    for round in 0..3 {
        let again: Vec<Session> = (0..SESSIONS)
            .map(|i| open(&lab, &mut smf, &plan(i)))
            .collect();
        for s in &again {
            smf.delete(s.up_seid)
                .unwrap_or_else(|e| panic!("round {round}: deleting {:#x}: {e:#}", s.up_seid));
        }
        settle(&mut smf);
        after_round.push(rss());
    }
    println!("upfd VmRSS after rounds of {SESSIONS} establish/delete cycles: {after_round:?} kB");
    assert!(
        after_round[2] <= after_round[0] + 512,
        "upfd grew by {} kB over 2,000 establish/delete cycles: {after_round:?}",
        after_round[2].saturating_sub(after_round[0])
    );
    assert_eq!(lab.pfcp_stats()["in_use"], before["in_use"]);
}

/// A Session Establishment Request from the SMF, its sequence number and
/// CP SEID, with the top-level IE `without` removed.
fn establishment_without(smf: &mut Smf, without: Option<u16>) -> (u32, u64, Vec<u8>) {
    let seq = smf.next_seq();
    let cp_seid = smf.new_seid();
    let req = SessionPlan::four_g(0x301, Ipv4Addr::new(10, 45, 1, 2), 0x3011).request(
        smf.node_id(),
        cp_seid,
        smf.addr(),
    );
    let mut bytes = Pdu {
        header: Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, seq),
        message: Message::SessionEstablishmentRequest(req),
    }
    .to_bytes();
    if let Some(ie) = without {
        assert!(strip_ie(&mut bytes, ie) > 0);
    }
    (seq, cp_seid, bytes)
}

/// Sends `bytes` and expects nothing back within [`SILENCE`].
fn silence(lab: &Lab, smf: &mut Smf, what: &str, bytes: &[u8]) {
    smf.send_raw(bytes).unwrap();
    if let Some(answer) = smf.recv_raw(SILENCE) {
        panic!(
            "{what} was answered:\n{}\nupfd log:\n{}",
            hex(&answer),
            lab.log()
        );
    }
}

/// Sends `bytes` and returns the answer, which must parse.
fn answer(lab: &Lab, smf: &mut Smf, what: &str, bytes: &[u8]) -> Pdu {
    smf.send_raw(bytes).unwrap();
    let a = smf
        .recv_raw(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no answer to {what}\nupfd log:\n{}", lab.log()));
    Pdu::parse(&a)
        .unwrap_or_else(|e| panic!("the answer to {what} does not parse: {e}\n{}", hex(&a)))
}

/// A Session Establishment Response to sequence `seq` whose header SEID is
/// one of `seids` (TS 29.244 7.2.2.4.2: the CP F-SEID's SEID when the
/// request had one, 0 when it had none).
fn establishment_response(
    what: &str,
    p: Pdu,
    seq: u32,
    seids: &[u64],
) -> SessionEstablishmentResponse {
    assert_eq!(p.header.sequence, seq, "{what}: {p:?}");
    assert!(
        p.header.seid.is_some_and(|s| seids.contains(&s)),
        "{what}: header SEID {:?}, expected one of {seids:#x?}: {p:?}",
        p.header.seid
    );
    match p.message {
        Message::SessionEstablishmentResponse(r) => r,
        other => panic!("{what}: answered with {other:?}"),
    }
}

/// PFCP messages dropped for `reason` (reasons never seen are left out).
fn dropped(p: &serde_json::Value, reason: &str) -> u64 {
    assert!(p["dropped"].is_object(), "no pfcp dropped: {p}");
    p["dropped"][reason].as_u64().unwrap_or(0)
}

#[test]
fn pfcp_malformed_messages_get_the_spec_answer() {
    let mut lab = Lab::up(Mode::Generic);
    let mut smf = lab.smf();

    // A session request before association: Cause 72.
    let (seq, cp_seid, bytes) = establishment_without(&mut smf, None);
    let r = establishment_response(
        "establishment before association",
        answer(&lab, &mut smf, "establishment before association", &bytes),
        seq,
        &[cp_seid],
    );
    assert_eq!(r.cause, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION, "{r:?}");
    smf.associate().unwrap();

    // Unanswerable: nothing comes back.
    silence(&lab, &mut smf, "a zero-byte datagram", &[]);
    silence(
        &lab,
        &mut smf,
        "a 6-octet node message",
        &[0x20, 0x01, 0x00, 0x02, 0x00, 0x01],
    );
    silence(
        &lab,
        &mut smf,
        "a 12-octet session message",
        &[0x21, 0x34, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    let hb = Pdu {
        header: Header::node(MsgType::HEARTBEAT_REQUEST, 0x00ab_cdef),
        message: Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: smf.recovery_time_stamp(),
            unknown: Vec::new(),
        }),
    }
    .to_bytes();
    let mut long = hb.clone();
    long[2..4].copy_from_slice(&0x0100u16.to_be_bytes());
    silence(&lab, &mut smf, "a length field beyond the datagram", &long);

    // Version 2: Version Not Supported Response, same sequence.
    let mut v2 = hb.clone();
    v2[0] = (v2[0] & 0x1f) | (2 << 5);
    let p = answer(&lab, &mut smf, "version 2", &v2);
    assert_eq!(
        p.header.message_type,
        MsgType::VERSION_NOT_SUPPORTED_RESPONSE,
        "{p:?}"
    );
    assert_eq!(p.header.sequence, 0x00ab_cdef, "{p:?}");
    assert_eq!(p.header.version, 1);

    // Mandatory IEs missing: Cause 66 naming the IE.
    for (ie, name) in [
        (types::NODE_ID, "Node ID"),
        (types::F_SEID, "CP F-SEID"),
        (types::CREATE_PDR, "Create PDR"),
        (types::CREATE_FAR, "Create FAR"),
    ] {
        let what = format!("Session Establishment Request without {name}");
        let (seq, cp_seid, bytes) = establishment_without(&mut smf, Some(ie));
        // Without the CP F-SEID there is no SEID to answer to; otherwise
        // the UPF may or may not have read it from a request it refuses.
        let seids: &[u64] = if ie == types::F_SEID {
            &[0]
        } else {
            &[0, cp_seid]
        };
        let r = establishment_response(&what, answer(&lab, &mut smf, &what, &bytes), seq, seids);
        assert_eq!(r.cause, Cause::MANDATORY_IE_MISSING, "{what}: {r:?}");
        assert_eq!(r.offending_ie, Some(OffendingIe(ie)), "{what}: {r:?}");
        assert!(r.up_f_seid.is_none(), "{what}: {r:?}");
    }

    // An unknown SEID: Cause 65, header SEID 0.
    let (h, r) = smf.modify(0xdead_beef, query_urr(URR)).unwrap();
    assert_eq!(r.cause, Cause::SESSION_CONTEXT_NOT_FOUND, "{r:?}");
    assert_eq!(h.seid, Some(0), "{h:?}");

    // Rules that do not exist: Cause 73 naming them.
    let s = open(
        &lab,
        &mut smf,
        &SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G),
    );
    let (_, r) = smf.modify(s.up_seid, remove_pdr(77)).unwrap();
    assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{r:?}");
    assert_eq!(
        r.failed_rule_id,
        Some(FailedRuleId {
            rule_type: FailedRuleId::PDR,
            id: 77
        }),
        "{r:?}"
    );
    let (_, r) = smf
        .modify(s.up_seid, move_downlink(99, 0x3002, LAB_RAN, false))
        .unwrap();
    assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{r:?}");
    assert_eq!(
        r.failed_rule_id,
        Some(FailedRuleId {
            rule_type: FailedRuleId::FAR,
            id: 99
        }),
        "{r:?}"
    );
    // The session is as it was: an empty modification is accepted (and
    // its traffic still flows, below).
    let (_, r) = smf
        .modify(s.up_seid, SessionModificationRequest::default())
        .unwrap();
    assert_eq!(r.cause, Cause::REQUEST_ACCEPTED, "{r:?}");

    // From outside 10.100.0.0/24 (the DN host, routed through the
    // gateway): dropped without an answer.
    must(Command::new("ip").args([
        "-n",
        &lab.dn_ns,
        "route",
        "replace",
        "10.100.0.0/24",
        "via",
        "10.200.0.1",
    ]));
    let before = dropped(&lab.pfcp_stats(), "not_a_peer");
    let stranger = socket_in_netns(&lab.dn_ns, "10.200.0.2:8805".parse().unwrap()).unwrap();
    stranger.set_read_timeout(Some(SILENCE)).unwrap();
    let asr = Pdu {
        header: Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 1),
        message: Message::AssociationSetupRequest(AssociationSetupRequest {
            node_id: NodeId::Ipv4(Ipv4Addr::new(10, 200, 0, 2)),
            recovery_time_stamp: smf.recovery_time_stamp(),
            up_function_features: None,
            cp_function_features: None,
            user_plane_ip_resource_information: Vec::new(),
            unknown: Vec::new(),
        }),
    }
    .to_bytes();
    stranger
        .send_to(&asr, N4.parse::<SocketAddr>().unwrap())
        .unwrap();
    let mut buf = [0u8; 2048];
    if let Ok((len, from)) = stranger.recv_from(&mut buf) {
        panic!(
            "PFCP from 10.200.0.2 was answered by {from}:\n{}",
            hex(&buf[..len])
        );
    }
    let p = lab.pfcp_stats();
    assert!(dropped(&p, "not_a_peer") > before, "not counted: {p}");
    assert!(dropped(&p, "truncated") >= 2, "{p}");
    assert!(dropped(&p, "length") >= 1, "{p}");
    assert!(dropped(&p, "bad_version") >= 1, "{p}");

    // Still up: the control socket, PFCP and traffic.
    lab.assert_running();
    smf.heartbeat().unwrap();
    lab.traffic(&hx(TEID_4G), &UE_4G.to_string(), &hx(REMOTE_4G), 3, &[]);
    lab.traffic(
        "0x100",
        "10.45.0.1",
        "0x1001",
        3,
        &["--container", "--qfi", "9"],
    );
}

/// A flood of establishments beyond the counter map (gateway.max_pdrs = 48):
/// the ones that fit are accepted, every later one is No resources
/// available without an F-SEID and takes nothing; a zero-byte datagram and
/// a truncated header in the middle of it go unanswered; the daemon stays
/// up, answers heartbeats, and deleting everything returns every pool item.
#[test]
fn pfcp_flood_beyond_map_capacity_is_no_resources_and_leaves_nothing() {
    const FLOOD: u32 = 150;
    let mut lab = Lab::up_with(Mode::Generic, "max_pdrs = 48");
    let before = lab.pfcp_stats();
    let mut smf = associated(&lab);
    let mut accepted = Vec::new();
    let mut full: Option<serde_json::Value> = None;
    for i in 0..FLOOD {
        let cp_seid = smf.new_seid();
        let plan = SessionPlan::four_g(
            0x0002_0000 + i,
            Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 45, 32, 0)) + i),
            0x7200_0000 + i,
        );
        let r = smf
            .establish(plan.request(smf.node_id(), cp_seid, smf.addr()))
            .unwrap_or_else(|e| panic!("establishment {i}: {e:#}\nupfd log:\n{}", lab.log()));
        match r.cause {
            Cause::REQUEST_ACCEPTED => {
                assert!(full.is_none(), "establishment {i} accepted after a refusal");
                accepted.push(r.up_f_seid.expect("accepted without F-SEID").seid);
            }
            Cause::NO_RESOURCES_AVAILABLE => {
                assert!(r.up_f_seid.is_none(), "{r:?}");
                let now = lab.pfcp_stats()["in_use"].clone();
                let first = full.get_or_insert_with(|| {
                    // Full: hostile datagrams meanwhile go unanswered.
                    silence(&lab, &mut smf, "a zero-byte datagram", &[]);
                    silence(
                        &lab,
                        &mut smf,
                        "a truncated session header",
                        &[0x21, 0x32, 0x00, 0x0c, 0, 0, 0],
                    );
                    now.clone()
                });
                assert_eq!(*first, now, "refusal {i} took something");
            }
            c => panic!("establishment {i}: {c} {r:?}\nupfd log:\n{}", lab.log()),
        }
    }
    assert!(
        full.is_some(),
        "{FLOOD} establishments all fit: {}",
        lab.pfcp_stats()
    );
    println!(
        "{} of {FLOOD} establishments fitted in 48 counter slots; the rest: No resources available",
        accepted.len()
    );
    assert!(
        accepted.len() > 10,
        "only {} sessions fitted in 48 counter slots",
        accepted.len()
    );
    lab.assert_running();
    smf.heartbeat().expect("heartbeat after the flood");
    for s in &accepted {
        let (_, r) = smf.delete(*s).unwrap();
        assert_eq!(r.cause, Cause::REQUEST_ACCEPTED, "{r:?}");
    }
    let after = lab.pfcp_stats();
    assert_eq!(after["sessions"], before["sessions"], "{after}");
    assert_eq!(after["in_use"], before["in_use"], "{before} -> {after}");
    // The room is usable again, and the static sessions still forward.
    let s = open(
        &lab,
        &mut smf,
        &SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G),
    );
    lab.traffic(&hx(TEID_4G), &UE_4G.to_string(), &hx(REMOTE_4G), 3, &[]);
    assert_eq!(
        smf.delete(s.up_seid).unwrap().1.cause,
        Cause::REQUEST_ACCEPTED
    );
    lab.traffic("0x102", "10.45.0.3", "0x1003", 3, &[]);
}

/// True for a frame the UPF sent (tshark -V text).
fn from_upf(frame: &str) -> bool {
    frame.contains("Src: 10.100.0.1,")
}

/// tshark's dissection split into frames.
fn frames(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Frame ") || out.is_empty() {
            out.push(String::new());
        }
        let f = out.last_mut().unwrap();
        f.push_str(line);
        f.push('\n');
    }
    out
}

#[test]
fn pfcp_usage_and_messages_decode_in_tshark() {
    let lab = Lab::up(Mode::Generic);
    let cap = lab.capture(&lab.ran_ns, &lab.ran_if, "udp port 8805", "pfcp.pcapng");
    let mut smf = associated(&lab);
    let s = open(&lab, &mut smf, &SessionPlan::five_g(REMOTE_5G, &[9, 5], 9));
    let (teid, ue) = (s.teid().unwrap(), s.ue().unwrap());
    lab.traffic(
        &hx(teid),
        &ue.to_string(),
        &hx(REMOTE_5G),
        4,
        &["--container", "--qfi", "9"],
    );
    let (u, _) = query(&lab, &mut smf, &s);
    assert_eq!(u.ul_packets, 4);
    let (_, rsp) = smf
        .modify(s.up_seid, move_downlink(FAR_DL, 0x5002, LAB_RAN, true))
        .unwrap();
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    let (_, rsp) = smf.modify(s.up_seid, remove_pdr(77)).unwrap();
    assert_eq!(rsp.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE);
    let (_, rsp) = smf.delete(s.up_seid).unwrap();
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    // One of the UPF's Heartbeat Requests (every 5 s in the lab), answered.
    let t = Instant::now();
    while smf.heartbeats_answered() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "no Heartbeat Request from the UPF in 12 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pcap = cap.stop();

    // UDP checksums are not checked: the gateway's kernel leaves them to
    // veth's transmit offload, which never completes them (the lab turns
    // offload off on the RAN and DN sides only). The IP checksum is checked.
    let out = must(Command::new("tshark").arg("-r").arg(&pcap).args([
        "-o",
        "ip.check_checksum:TRUE",
        "-V",
    ]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let frames = frames(&text);
    let bad = [
        "Malformed",
        "Expert Info (Error",
        "Expert Info (Warn",
        "Bad checksum",
    ];
    let offending: Vec<&String> = frames
        .iter()
        .filter(|f| from_upf(f))
        .filter(|f| bad.iter().any(|b| f.contains(b)))
        .collect();
    for f in frames.iter().filter(|f| !from_upf(f)) {
        if bad.iter().any(|b| f.contains(b)) {
            eprintln!("note: tshark flags a message the test SMF sent:\n{f}");
        }
    }
    assert!(
        offending.is_empty(),
        "tshark flags {} message(s) the UPF sent:\n{}",
        offending.len(),
        offending
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let upf_text: String = frames
        .iter()
        .filter(|f| from_upf(f))
        .map(|f| f.as_str())
        .collect();
    for expected in [
        "Association Setup Response",
        "Session Establishment Response",
        "Session Modification Response",
        "Session Deletion Response",
        "Heartbeat Request",
        "Created PDR",
        "Usage Report",
        "F-SEID",
        "Failed Rule ID",
    ] {
        assert!(
            upf_text.contains(expected),
            "no {expected:?} in what the UPF sent:\n{upf_text}"
        );
    }
    // The decoded numbers are ours: the chosen TEID and UE address.
    assert!(
        upf_text.contains(&format!("{teid:#010x}")) || upf_text.contains(&format!("({teid})")),
        "TEID {teid:#x} not in the Created PDR:\n{upf_text}"
    );
    assert!(
        upf_text.contains(&ue.to_string()),
        "UE {ue} not in the Created PDR"
    );
}

/// How long a Session Report Request is waited for (the lab polls the URR
/// triggers every 100 ms).
const REPORT_WAIT: Duration = Duration::from_secs(5);

/// The Session Report Request for `s` with trigger `trigger`, checked as
/// the UPF must send it: header SEID = the CP SEID, Report Type USAR, one
/// Usage Report for [`URR`] with start and end times.
fn session_report(lab: &Lab, smf: &Smf, s: &Session, trigger: u32) -> (Usage, UsageReport) {
    let (h, req): (Header, SessionReportRequest) = smf
        .wait_session_report(REPORT_WAIT, |h, r| {
            h.seid == Some(s.cp_seid)
                && r.usage_report
                    .iter()
                    .any(|u| u.usage_report_trigger.0 & trigger != 0)
        })
        .unwrap_or_else(|| {
            panic!(
                "no Session Report Request with trigger {trigger:#x} for CP SEID {:#x}; received: {:?}\nupfd log:\n{}",
                s.cp_seid,
                smf.session_reports(),
                lab.log()
            )
        });
    assert_eq!(h.message_type, MsgType::SESSION_REPORT_REQUEST);
    assert_eq!(req.report_type.0, ReportType::USAR, "{req:?}");
    let (u, r) = usage(&req.usage_report, trigger);
    let (start, end) = (
        r.start_time.expect("Start Time").0,
        r.end_time.expect("End Time").0,
    );
    let now = smf::ntp_now();
    assert!(
        start <= end && end <= now + 1 && now - end < 30,
        "{r:?} at {now}"
    );
    (u, r.clone())
}

#[test]
fn pfcp_volume_threshold_sends_a_session_report() {
    const N: u64 = 10;
    const PAYLOAD: u64 = 100;
    // Inner IPv4 (20) + UDP (8) + payload, each way: what the URR counts.
    const INNER: u64 = 20 + 8 + PAYLOAD;
    const SENT: u64 = 2 * N * INNER;
    // Crossed after 8 of the 10 round trips.
    const THRESHOLD: u64 = 2000;
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let mut plan = SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G);
    plan.reporting_triggers = ReportingTriggers::VOLTH;
    plan.volume_threshold = Some(Volume {
        total: Some(THRESHOLD),
        ..Volume::default()
    });
    let s = open(&lab, &mut smf, &plan);
    // Below the threshold nothing is reported.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        smf.session_reports().is_empty(),
        "{:?}",
        smf.session_reports()
    );

    let ue = UE_4G.to_string();
    let report = lab.traffic(
        &hx(TEID_4G),
        &ue,
        &hx(REMOTE_4G),
        N as u32,
        &["--size", &PAYLOAD.to_string()],
    );
    assert_eq!(report["matched"], N, "{report}");
    let (u, r) = session_report(&lab, &smf, &s, UsageReportTrigger::VOLTH);
    assert_eq!(r.ur_seqn.0, 0, "the URR's first report: {r:?}");
    // The poll may catch the traffic anywhere past the threshold: the
    // report holds at least the threshold, at most what was sent, in whole
    // packets of inner IP octets.
    assert!(
        (THRESHOLD..=SENT).contains(&u.total_octets),
        "{u:?} for {SENT} octets sent: {r:?}"
    );
    assert_eq!(u.ul_octets, u.ul_packets * INNER, "{u:?}");
    assert_eq!(u.dl_octets, u.dl_packets * INNER, "{u:?}");
    assert!(r.duration_measurement.is_some(), "DURAT was asked: {r:?}");
    // The next measurement starts at the report: with a query, the two
    // add up to exactly the traffic.
    let (rest, q) = query(&lab, &mut smf, &s);
    assert_eq!(q.ur_seqn.0, 1, "{q:?}");
    assert_eq!(q.start_time.map(|t| t.0), r.end_time.map(|t| t.0), "{q:?}");
    assert_eq!(u.total_octets + rest.total_octets, SENT, "{u:?} + {rest:?}");
    assert_eq!(u.ul_packets + rest.ul_packets, N, "{u:?} + {rest:?}");
    assert_eq!(u.dl_packets + rest.dl_packets, N, "{u:?} + {rest:?}");

    let p = lab.pfcp_stats();
    assert_eq!(p["tx"]["Session Report Request"], 1, "{p}");
    assert_eq!(p["rx"]["Session Report Response"], 1, "{p}");
    assert_eq!(p["session_reports_unanswered"], 0, "{p}");
}

#[test]
fn pfcp_volume_quota_report_then_drop_until_a_new_quota() {
    const N: u64 = 10;
    const PAYLOAD: u64 = 100;
    const INNER: u64 = 20 + 8 + PAYLOAD;
    // Used up by the last of the N round trips exactly.
    const QUOTA: u64 = 2 * N * INNER;
    let lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let mut plan = SessionPlan::four_g(TEID_4G, UE_4G, REMOTE_4G);
    plan.reporting_triggers = ReportingTriggers::VOLQU;
    plan.volume_quota = Some(Volume {
        total: Some(QUOTA),
        ..Volume::default()
    });
    let s = open(&lab, &mut smf, &plan);
    let before = counter(&lab.stats(), "drops", "quota_exhausted");
    let ue = UE_4G.to_string();
    let teid = hx(TEID_4G);
    lab.traffic(
        &teid,
        &ue,
        &hx(REMOTE_4G),
        N as u32,
        &["--size", &PAYLOAD.to_string()],
    );
    let (u, r) = session_report(&lab, &smf, &s, UsageReportTrigger::VOLQU);
    assert_eq!(
        (u.total_octets, u.ul_packets, u.dl_packets),
        (QUOTA, N, N),
        "all of the quota, in inner IP octets: {r:?}"
    );

    // Used up: the uplink is dropped with its own reason, nothing counted.
    lab.no_reply(&["--teid", &teid, "--ue", &ue, "--size", &PAYLOAD.to_string()]);
    let st = lab.stats();
    assert_eq!(counter(&st, "drops", "quota_exhausted") - before, 3, "{st}");
    let l = listed(&lab, &s);
    assert_eq!(pdr_counter(&l, PDR_UL, "ul_packets"), N, "{l}");
    // Reported once.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        smf.session_reports().len(),
        1,
        "{:?}",
        smf.session_reports()
    );

    // A new quota: traffic flows again.
    let (_, rsp) = smf
        .modify(
            s.up_seid,
            grant_quota(
                URR,
                Volume {
                    total: Some(QUOTA),
                    ..Volume::default()
                },
            ),
        )
        .unwrap();
    assert_eq!(rsp.cause, Cause::REQUEST_ACCEPTED, "{rsp:?}");
    lab.traffic(&teid, &ue, &hx(REMOTE_4G), 3, &[]);
    let l = listed(&lab, &s);
    assert_eq!(pdr_counter(&l, PDR_UL, "ul_packets"), N + 3, "{l}");
    let p = lab.pfcp_stats();
    assert_eq!(p["session_reports_unanswered"], 0, "{p}");
}
