//! The session manager against the fake datapath: what each request writes,
//! the causes of refusals, rollback at every failure point, usage reports,
//! and no leaks over many establish/delete cycles.

use std::net::Ipv4Addr;

use upf_abi::{
    DownlinkEntry, SessionCounters, UplinkEntry, ACT_5G, ACT_DROP, ACT_FORWARD, M_PORTS, M_PROTO,
    M_QFI,
};
use upf_pfcp::ie::*;
use upf_pfcp::message::{SessionEstablishmentRequest, SessionModificationRequest};
use upf_pfcp::Cause;

use super::*;
use crate::datapath::fake::FakeDatapath;

pub(crate) const N3: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);
pub(crate) const GNB: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 2);
pub(crate) const UE: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 7);

pub(crate) fn manager() -> Sessions<FakeDatapath> {
    Sessions::new(
        FakeDatapath::new(100),
        SessionsConfig {
            qos: Default::default(),
            n3: N3,
            teid_range: (0x1000, 0x1fff),
            ue_pools: vec!["10.60.0.0/24".parse().unwrap()],
        },
    )
}

pub(crate) fn fteid_fixed(teid: u32) -> FTeid {
    FTeid::ipv4(teid, N3)
}

pub(crate) fn fteid_choose(id: Option<u8>) -> FTeid {
    FTeid::choose_ipv4(id)
}

pub(crate) fn ue(addr: Option<Ipv4Addr>, destination: bool) -> UeIpAddress {
    UeIpAddress {
        ipv4: addr,
        destination,
        choose_v4: addr.is_none(),
        ..UeIpAddress::default()
    }
}

pub(crate) fn pdr(id: u16, precedence: u32, pdi: Pdi, far: u32) -> CreatePdr {
    let ul = pdi.source_interface.0 == interface::ACCESS;
    CreatePdr {
        pdr_id: PdrId(id),
        precedence: Precedence(precedence),
        pdi,
        outer_header_removal: ul.then_some(OuterHeaderRemoval {
            description: 0,
            ext_header_deletion: None,
        }),
        far_id: Some(FarId(far)),
        urr_ids: vec![UrrId(1)],
        qer_ids: Vec::new(),
        activate_predefined_rules: Vec::new(),
        unknown: Vec::new(),
    }
}

pub(crate) fn ul_pdi(f: FTeid) -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::ACCESS),
        f_teid: Some(f),
        ue_ip_address: Some(ue(Some(UE), false)),
        ..Pdi::default()
    }
}

pub(crate) fn dl_pdi(addr: Option<Ipv4Addr>) -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::CORE),
        ue_ip_address: Some(ue(addr, true)),
        ..Pdi::default()
    }
}

pub(crate) fn far_core(id: u32) -> CreateFar {
    CreateFar::forward(FarId(id), interface::CORE, None)
}

pub(crate) fn ohc(teid: u32) -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::GTPU_UDP_IPV4,
        teid: Some(teid),
        ipv4: Some(GNB),
        ..OuterHeaderCreation::default()
    }
}

pub(crate) fn far_access(id: u32, teid: u32) -> CreateFar {
    CreateFar::forward(FarId(id), interface::ACCESS, Some(ohc(teid)))
}

pub(crate) fn urr() -> CreateUrr {
    CreateUrr::new(
        UrrId(1),
        MeasurementMethod {
            duration: true,
            volume: true,
            event: false,
        },
    )
}

pub(crate) fn qer(id: u32, qfi: u8) -> CreateQer {
    CreateQer {
        qer_id: QerId(id),
        qer_correlation_id: None,
        gate_status: GateStatus::default(),
        mbr: Some(Mbr(Bitrate {
            ul: 10_000,
            dl: 20_000,
        })),
        gbr: None,
        qfi: Some(Qfi(qfi)),
        rqi: None,
        unknown: Vec::new(),
    }
}

/// A 4G session: fixed TEID and UE address.
pub(crate) fn est_4g(cp_seid: u64, teid: u32) -> SessionEstablishmentRequest {
    SessionEstablishmentRequest {
        node_id: NodeId::Ipv4(Ipv4Addr::new(10, 0, 0, 9)),
        cp_f_seid: Fseid {
            seid: cp_seid,
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 9)),
            ipv6: None,
        },
        create_pdr: vec![
            pdr(1, 255, ul_pdi(fteid_fixed(teid)), 1),
            pdr(2, 255, dl_pdi(Some(UE)), 2),
        ],
        create_far: vec![far_core(1), far_access(2, 0xd001)],
        create_urr: vec![urr()],
        create_qer: Vec::new(),
        pdn_type: None,
        unknown: Vec::new(),
    }
}

/// A 5G session: CHOOSE F-TEID shared by two QoS flows (CHOOSE ID 5),
/// CHOOSE UE address, QFIs from QERs.
pub(crate) fn est_5g(cp_seid: u64) -> SessionEstablishmentRequest {
    let mut ul1 = pdr(1, 100, ul_pdi(fteid_choose(Some(5))), 1);
    ul1.pdi.ue_ip_address = Some(ue(None, false));
    ul1.pdi.qfis = vec![Qfi(9)];
    let mut ul2 = pdr(3, 50, ul_pdi(fteid_choose(Some(5))), 1);
    ul2.pdi.ue_ip_address = Some(ue(None, false));
    ul2.pdi.qfis = vec![Qfi(5)];
    let mut dl = pdr(2, 255, dl_pdi(None), 2);
    dl.qer_ids = vec![QerId(1)];
    SessionEstablishmentRequest {
        create_pdr: vec![ul1, dl, ul2],
        create_qer: vec![qer(1, 9)],
        ..est_4g(cp_seid, 1)
    }
}

pub(crate) const PEER: &str = "smf-1";

#[test]
fn a_4g_session_writes_one_entry_per_direction() {
    let mut m = manager();
    let e = m.establish(PEER, &est_4g(0x77, 0x100), 1000).unwrap();
    assert!(e.created.is_empty(), "nothing was chosen");
    let s = m.get(e.up_seid).unwrap();
    let (ul, dl) = (&s.rules.pdrs[&1], &s.rules.pdrs[&2]);
    let dp = m.datapath();
    assert_eq!(
        dp.uplink[&0x100],
        UplinkEntry {
            ue_ipv4_be: u32::from(UE).to_be(),
            rules: 0,
            default: upf_abi::PdrAction {
                counter: ul.counter,
                flags: ACT_FORWARD,
                ..Default::default()
            },
        }
    );
    assert_eq!(
        dp.downlink[&UE],
        DownlinkEntry {
            local_ipv4_be: u32::from(N3).to_be(),
            rules: 0,
            default: upf_abi::PdrAction {
                counter: dl.counter,
                flags: ACT_FORWARD,
                qfi: 0,
                _pad: [0; 2],
                peer_ipv4_be: u32::from(GNB).to_be(),
                remote_teid_be: 0xd001u32.to_be(),
                ..upf_abi::PdrAction::NONE
            },
        }
    );
    assert_eq!(
        ul.counter, dl.counter,
        "an uplink and a downlink PDR share a slot"
    );
    assert_eq!(m.find(PEER, 0x77), Some(e.up_seid));
}

#[test]
fn choose_ids_share_a_teid_and_qfis_become_rules() {
    let mut m = manager();
    let e = m.establish(PEER, &est_5g(1), 1000).unwrap();
    // PDR 1 and 3 share CHOOSE ID 5: one TEID; UE chosen once.
    let teids: Vec<u32> = e
        .created
        .iter()
        .filter_map(|c| c.local_f_teid.and_then(|f| f.teid))
        .collect();
    assert_eq!(teids.len(), 2);
    assert_eq!(teids[0], teids[1]);
    assert!(e
        .created
        .iter()
        .all(|c| c.local_f_teid.is_none_or(|f| f.ipv4 == Some(N3))));
    let ues: Vec<Ipv4Addr> = e
        .created
        .iter()
        .filter_map(|c| c.ue_ip_address.and_then(|u| u.ipv4))
        .collect();
    assert_eq!(
        ues.len(),
        3,
        "every PDR that asked CHOOSE gets the address: {:?}",
        e.created
    );
    assert!(ues.iter().all(|u| *u == Ipv4Addr::new(10, 60, 0, 1)));
    let dp = m.datapath();
    let entry = dp.uplink[&teids[0]];
    assert_ne!(entry.rules, 0, "QFI rules need a rule set");
    let rs = dp.rules[&(entry.rules - 1)];
    assert_eq!(rs.len, 2);
    // Precedence 50 (PDR 3, QFI 5) before precedence 100 (PDR 1, QFI 9).
    assert_eq!((rs.rules[0].m.flags & M_QFI, rs.rules[0].m.qfi), (M_QFI, 5));
    assert_eq!(rs.rules[1].m.qfi, 9);
    assert_eq!(
        entry.default.flags, 0,
        "no catch-all uplink PDR: other QFIs match nothing"
    );
    let dl = dp.downlink[&Ipv4Addr::new(10, 60, 0, 1)];
    assert_eq!(dl.default.flags, ACT_FORWARD | ACT_5G);
    assert_eq!(dl.default.qfi, 9);
}

#[test]
fn uplink_sdf_filters_are_swapped_per_ts_29_244() {
    let mut m = manager();
    let mut req = est_4g(1, 0x100);
    let mut dns = pdr(3, 10, ul_pdi(fteid_fixed(0x100)), 3);
    dns.pdi.sdf_filters = vec![SdfFilter {
        flow_description: Some("permit out 17 from 8.8.8.0/24 53 to assigned".into()),
        ..SdfFilter::default()
    }];
    req.create_pdr.push(dns);
    let mut drop = far_core(3);
    drop.apply_action = ApplyAction(ApplyAction::DROP);
    drop.forwarding_parameters = None;
    req.create_far.push(drop);
    m.establish(PEER, &req, 0).unwrap();
    let e = m.datapath().uplink[&0x100];
    let r = m.datapath().rules[&(e.rules - 1)].rules[0];
    assert_eq!(r.m.flags, M_PROTO | M_PORTS);
    assert_eq!(r.m.proto, 17);
    // Uplink: the packet's source is the UE, its destination the remote.
    assert_eq!(
        (r.m.src_be, r.m.src_mask_be),
        (u32::from(UE).to_be(), u32::MAX)
    );
    assert_eq!(
        (r.m.dst_be, r.m.dst_mask_be),
        (
            u32::from(Ipv4Addr::new(8, 8, 8, 0)).to_be(),
            0xffff_ff00u32.to_be()
        )
    );
    assert_eq!(
        (r.m.sport_lo, r.m.sport_hi, r.m.dport_lo, r.m.dport_hi),
        (0, 65535, 53, 53)
    );
    assert_eq!(r.action.flags, ACT_DROP);
    assert_eq!(e.default.flags, ACT_FORWARD);
}

pub(crate) fn snapshot(m: &Sessions<FakeDatapath>) -> impl PartialEq + std::fmt::Debug {
    let dp = m.datapath();
    let mut ul: Vec<_> = dp.uplink.iter().map(|(k, v)| (*k, *v)).collect();
    ul.sort_by_key(|x| x.0);
    let mut dl: Vec<_> = dp.downlink.iter().map(|(k, v)| (*k, *v)).collect();
    dl.sort_by_key(|x| x.0);
    let sessions: Vec<String> = m.sessions().values().map(|s| format!("{s:?}")).collect();
    (ul, dl, m.in_use(), m.meters_in_use(), sessions)
}

#[test]
fn establishment_rolls_back_at_every_failure_point() {
    let mut m = manager();
    m.establish(PEER, &est_4g(1, 0x100), 0).unwrap();
    let before = snapshot(&m);
    let mut failed = 0;
    for n in 0..20 {
        m.datapath_mut().fail_after = Some(n);
        let r = m.establish(PEER, &est_5g(2), 0);
        m.datapath_mut().fail_after = None;
        match r {
            Err(e) => {
                failed += 1;
                assert_eq!(snapshot(&m), before, "after a failure at write {n}: {e}");
            }
            Ok(_) => break,
        }
    }
    assert!(
        failed >= 3,
        "the establishment makes several writes, each tried: {failed}"
    );
}

#[test]
fn modification_rolls_back_at_every_failure_point() {
    let mut m = manager();
    let e = m.establish(PEER, &est_5g(2), 0).unwrap();
    let before = snapshot(&m);
    let ue = m.get(e.up_seid).unwrap().allocated_ue.unwrap();
    let mut req = SessionModificationRequest::default();
    // Move the downlink, add an SDF-filtered downlink PDR, drop a QoS flow.
    req.update_far.push(UpdateFar {
        far_id: FarId(2),
        apply_action: None,
        update_forwarding_parameters: Some(UpdateForwardingParameters {
            outer_header_creation: Some(ohc(0xe002)),
            pfcpsm_req_flags: Some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM)),
            ..UpdateForwardingParameters::default()
        }),
        bar_id: None,
        unknown: Vec::new(),
    });
    let mut video = pdr(4, 10, dl_pdi(Some(ue)), 2);
    video.pdi.sdf_filters = vec![SdfFilter {
        flow_description: Some("permit out 6 from 203.0.113.0/24 443 to assigned".into()),
        ..SdfFilter::default()
    }];
    req.create_pdr.push(video);
    req.remove_pdr.push(RemovePdr { pdr_id: PdrId(3) });
    let mut failed = 0;
    for n in 0..20 {
        m.datapath_mut().fail_after = Some(n);
        let r = m.modify(e.up_seid, &req, 0);
        m.datapath_mut().fail_after = None;
        match r {
            Err(err) => {
                failed += 1;
                assert_eq!(snapshot(&m), before, "after a failure at write {n}: {err}");
            }
            Ok(done) => {
                assert_eq!(
                    done.end_markers,
                    vec![Tunnel {
                        teid: 0xd001,
                        ipv4: GNB
                    }]
                );
                let dl = m.datapath().downlink[&ue];
                assert_eq!(dl.default.remote_teid_be, 0xe002u32.to_be());
                assert_ne!(dl.rules, 0);
                break;
            }
        }
    }
    assert!(failed >= 2, "{failed}");
}

#[test]
fn unknown_rules_in_a_modification_are_refused_whole() {
    let mut m = manager();
    let e = m.establish(PEER, &est_4g(1, 0x100), 0).unwrap();
    let before = snapshot(&m);
    let cases: Vec<(SessionModificationRequest, u8, u32)> = vec![
        (
            SessionModificationRequest {
                remove_pdr: vec![RemovePdr { pdr_id: PdrId(9) }],
                ..Default::default()
            },
            FailedRuleId::PDR,
            9,
        ),
        (
            SessionModificationRequest {
                remove_urr: vec![RemoveUrr { urr_id: UrrId(7) }],
                ..Default::default()
            },
            FailedRuleId::URR,
            7,
        ),
        (
            SessionModificationRequest {
                update_qer: vec![UpdateQer {
                    qer_id: QerId(3),
                    qer_correlation_id: None,
                    gate_status: Some(GateStatus { ul: 1, dl: 1 }),
                    mbr: None,
                    gbr: None,
                    qfi: None,
                    rqi: None,
                    unknown: Vec::new(),
                }],
                ..Default::default()
            },
            FailedRuleId::QER,
            3,
        ),
        (
            SessionModificationRequest {
                query_urr: vec![QueryUrr { urr_id: UrrId(2) }],
                ..Default::default()
            },
            FailedRuleId::URR,
            2,
        ),
        (
            // Removing the FAR a PDR still uses.
            SessionModificationRequest {
                remove_far: vec![RemoveFar { far_id: FarId(2) }],
                ..Default::default()
            },
            FailedRuleId::PDR,
            2,
        ),
    ];
    for (req, kind, id) in cases {
        let r = m.modify(e.up_seid, &req, 0).unwrap_err();
        assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{r}");
        assert_eq!(
            r.failed_rule,
            Some(FailedRuleId {
                rule_type: kind,
                id
            }),
            "{r}"
        );
        assert_eq!(snapshot(&m), before);
    }
    let r = m
        .modify(0xdead, &SessionModificationRequest::default(), 0)
        .unwrap_err();
    assert_eq!(r.cause, Cause::SESSION_CONTEXT_NOT_FOUND);
}

#[test]
fn refusals_carry_the_cause() {
    let mut m = manager();
    let mut no_far = est_4g(1, 0x100);
    no_far.create_pdr[0].far_id = None;
    let r = m.establish(PEER, &no_far, 0).unwrap_err();
    assert_eq!(
        (r.cause, r.offending_ie),
        (Cause::CONDITIONAL_IE_MISSING, Some(types::FAR_ID))
    );

    let mut no_fp = est_4g(1, 0x100);
    no_fp.create_far[1].forwarding_parameters = None;
    let r = m.establish(PEER, &no_fp, 0).unwrap_err();
    assert_eq!(
        (r.cause, r.offending_ie),
        (
            Cause::CONDITIONAL_IE_MISSING,
            Some(types::FORWARDING_PARAMETERS)
        )
    );

    let mut dangling = est_4g(1, 0x100);
    dangling.create_pdr[1].far_id = Some(FarId(42));
    let r = m.establish(PEER, &dangling, 0).unwrap_err();
    assert_eq!(
        r.failed_rule,
        Some(FailedRuleId {
            rule_type: FailedRuleId::PDR,
            id: 2
        })
    );

    let mut bad_flow = est_4g(1, 0x100);
    bad_flow.create_pdr[0].pdi.sdf_filters = vec![SdfFilter {
        flow_description: Some("permit out 17 from 2001:db8::1 to assigned".into()),
        ..SdfFilter::default()
    }];
    let r = m.establish(PEER, &bad_flow, 0).unwrap_err();
    assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{r}");

    m.establish(PEER, &est_4g(1, 0x100), 0).unwrap();
    // Same TEID from another session.
    let r = m.establish(PEER, &est_4g(2, 0x100), 0).unwrap_err();
    assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{r}");
    // Same CP SEID again.
    let r = m.establish(PEER, &est_4g(1, 0x200), 0).unwrap_err();
    assert_eq!(r.cause, Cause::REQUEST_REJECTED, "{r}");
    assert_eq!(m.sessions().len(), 1);
}

#[test]
fn a_full_table_or_pool_is_no_resources_available() {
    let mut m = Sessions::new(
        FakeDatapath::with_capacity(crate::datapath::Capacity {
            sessions: 1,
            counter_slots: 8,
            rule_sets: 4,
            meters: 4,
        }),
        SessionsConfig {
            qos: Default::default(),
            n3: N3,
            teid_range: (0x1000, 0x1000),
            ue_pools: vec!["10.60.0.0/30".parse().unwrap()],
        },
    );
    m.establish(PEER, &est_5g(1), 0).unwrap();
    let before = snapshot(&m);
    // The TEID pool has one TEID: exhausted.
    let r = m.establish(PEER, &est_5g(2), 0).unwrap_err();
    assert_eq!(r.cause, Cause::NO_RESOURCES_AVAILABLE, "{r}");
    assert_eq!(snapshot(&m), before);
    // Fixed TEID, but the uplink map holds one entry: full.
    let mut fixed = est_4g(3, 0x300);
    fixed.create_pdr[1].pdi.ue_ip_address = Some(ue(Some(Ipv4Addr::new(10, 45, 9, 9)), true));
    fixed.create_pdr[0].pdi.ue_ip_address = Some(ue(Some(Ipv4Addr::new(10, 45, 9, 9)), false));
    let r = m.establish(PEER, &fixed, 0).unwrap_err();
    assert_eq!(r.cause, Cause::NO_RESOURCES_AVAILABLE, "{r}");
    assert_eq!(snapshot(&m), before);
}

#[test]
fn usage_reports_on_query_and_deletion() {
    let mut m = manager();
    let e = m.establish(PEER, &est_4g(1, 0x100), 1000).unwrap();
    let (ul, dl) = {
        let s = m.get(e.up_seid).unwrap();
        (s.rules.pdrs[&1].counter, s.rules.pdrs[&2].counter)
    };
    assert_eq!(ul, dl, "one slot for the uplink and downlink PDR");
    let set = |m: &mut Sessions<FakeDatapath>, u: u64, d: u64| {
        m.datapath_mut().counters.insert(
            ul,
            SessionCounters {
                ul_packets: u,
                ul_bytes: u * 100,
                dl_packets: d,
                dl_bytes: d * 1000,
            },
        );
    };
    set(&mut m, 3, 2);
    let q = SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
        ..Default::default()
    };
    let r = m.modify(e.up_seid, &q, 1010).unwrap();
    assert_eq!(r.reports.len(), 1);
    let rep = &r.reports[0];
    assert_eq!(rep.ur_seqn, UrSeqn(0));
    assert_eq!(rep.usage_report_trigger.0, UsageReportTrigger::IMMER);
    let v = rep.volume_measurement.unwrap();
    assert_eq!(
        (v.uplink_volume, v.downlink_volume, v.total_volume),
        (Some(300), Some(2000), Some(2300))
    );
    assert_eq!((v.uplink_packets, v.downlink_packets), (Some(3), Some(2)));
    assert_eq!(
        (rep.start_time, rep.end_time),
        (Some(StartTime(1000)), Some(EndTime(1010)))
    );
    assert_eq!(rep.duration_measurement, Some(DurationMeasurement(10)));
    // The next report counts from the last one.
    set(&mut m, 5, 2);
    let reports = m.delete(e.up_seid, 1020).unwrap();
    let v = reports[0].volume_measurement.unwrap();
    assert_eq!((v.uplink_volume, v.downlink_volume), (Some(200), Some(0)));
    assert_eq!(reports[0].ur_seqn, UrSeqn(1));
    assert_eq!(reports[0].usage_report_trigger.0, UsageReportTrigger::TERMR);
    assert_eq!(reports[0].start_time, Some(StartTime(1010)));
    assert!(m.datapath().uplink.is_empty() && m.datapath().downlink.is_empty());
}

#[test]
fn many_cycles_leak_nothing() {
    let mut m = manager();
    let base = m.in_use();
    for i in 0..1000u64 {
        let e = m.establish(PEER, &est_5g(i), 0).unwrap();
        m.delete(e.up_seid, 0).unwrap();
    }
    assert_eq!(m.in_use(), base);
    assert!(m.sessions().is_empty());
    let dp = m.datapath();
    assert!(dp.uplink.is_empty() && dp.downlink.is_empty());
}

#[test]
fn release_peer_removes_only_its_sessions() {
    let mut m = manager();
    m.establish("a", &est_4g(1, 0x100), 0).unwrap();
    let mut other = est_4g(1, 0x200);
    let ue2 = Ipv4Addr::new(10, 45, 0, 8);
    other.create_pdr[0].pdi.ue_ip_address = Some(ue(Some(ue2), false));
    other.create_pdr[1].pdi.ue_ip_address = Some(ue(Some(ue2), true));
    m.establish("b", &other, 0).unwrap();
    assert_eq!(m.release_peer("a", 0), 1);
    assert_eq!(m.sessions().len(), 1);
    assert!(m.datapath().uplink.contains_key(&0x200));
}

// ---- QER rate meters ----

pub(crate) fn mbr_qer(id: u32, ul_kbps: u64, dl_kbps: u64) -> CreateQer {
    CreateQer {
        mbr: Some(Mbr(Bitrate {
            ul: ul_kbps,
            dl: dl_kbps,
        })),
        qfi: None,
        ..qer(id, 0)
    }
}

/// A 4G session whose two PDRs reference `qers`.
pub(crate) fn est_with_qers(
    cp_seid: u64,
    teid: u32,
    qers: Vec<CreateQer>,
    ul: &[u32],
    dl: &[u32],
) -> SessionEstablishmentRequest {
    let mut r = est_4g(cp_seid, teid);
    r.create_pdr[0].qer_ids = ul.iter().map(|q| QerId(*q)).collect();
    r.create_pdr[1].qer_ids = dl.iter().map(|q| QerId(*q)).collect();
    r.create_qer = qers;
    r
}

/// A 4G session (TEID 0x100) established at NTP 1000 whose URR 1 is `u`.
pub(crate) fn with_urr(m: &mut Sessions<FakeDatapath>, u: CreateUrr) -> u64 {
    let mut req = est_4g(0x77, 0x100);
    req.create_urr = vec![u];
    m.establish(PEER, &req, 1000).unwrap().up_seid
}

/// Sets the session's shared counter slot (PDR 1 uplink, PDR 2 downlink)
/// to `ul` and `dl` octets, in 100-octet packets.
pub(crate) fn set_counters(m: &mut Sessions<FakeDatapath>, seid: u64, ul: u64, dl: u64) {
    let slot = m.get(seid).unwrap().rules.pdrs[&1].counter;
    assert_eq!(slot, m.get(seid).unwrap().rules.pdrs[&2].counter);
    m.datapath_mut().counters.insert(
        slot,
        SessionCounters {
            ul_packets: ul / 100,
            ul_bytes: ul,
            dl_packets: dl / 100,
            dl_bytes: dl,
        },
    );
}

pub(crate) fn triggers(bits: u32) -> ReportingTriggers {
    ReportingTriggers(bits)
}

pub(crate) fn vol(total: Option<u64>, ul: Option<u64>, dl: Option<u64>) -> Volume {
    Volume {
        total,
        uplink: ul,
        downlink: dl,
    }
}

/// Polls at `now`: the one report of the one session, checked for the session.
pub(crate) fn poll_one(m: &mut Sessions<FakeDatapath>, seid: u64, now: u32) -> UsageReport {
    let got = m.poll_usage(now);
    assert_eq!(got.len(), 1, "{got:?}");
    let p = &got[0];
    let s = m.get(seid).unwrap();
    assert_eq!(
        (p.peer.as_str(), p.up_seid, p.cp_seid, p.cp_ipv4),
        (PEER, seid, s.cp_seid, s.cp_ipv4)
    );
    assert_eq!(p.request.report_type.0, ReportType::USAR);
    assert_eq!(p.request.usage_report.len(), 1, "{p:?}");
    p.request.usage_report[0].clone()
}

pub(crate) fn volumes(r: &UsageReport) -> (u64, u64, u64, u64, u64, u64) {
    let v = r.volume_measurement.expect("Volume Measurement");
    (
        v.total_volume.unwrap(),
        v.uplink_volume.unwrap(),
        v.downlink_volume.unwrap(),
        v.total_packets.unwrap(),
        v.uplink_packets.unwrap(),
        v.downlink_packets.unwrap(),
    )
}

pub(crate) fn default_flags(m: &Sessions<FakeDatapath>) -> (u8, u8) {
    let dp = m.datapath();
    (
        dp.uplink[&0x100].default.flags,
        dp.downlink[&UE].default.flags,
    )
}

#[test]
fn a_volume_threshold_reports_and_measures_afresh() {
    volume_threshold_case(manager());
}

/// The same with the counters read all at once (as with many sessions).
#[test]
fn a_volume_threshold_reports_from_a_counter_snapshot_too() {
    let mut m = manager();
    m.snapshot_above = 0;
    volume_threshold_case(m);
}

/// The same over a datapath that cannot tell which slots it touched: every
/// poll evaluates every session's volume triggers.
#[test]
fn a_volume_threshold_reports_without_touched_slots_too() {
    let mut m = manager();
    m.datapath_mut().tells_touched = false;
    volume_threshold_case(m);
}

fn volume_threshold_case(mut m: Sessions<FakeDatapath>) {
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::VOLTH),
            volume_threshold: Some(VolumeThreshold(vol(Some(1000), None, None))),
            ..urr()
        },
    );
    set_counters(&mut m, seid, 400, 500);
    assert!(m.poll_usage(1001).is_empty(), "900 of 1000 octets");
    set_counters(&mut m, seid, 400, 600);
    let r = poll_one(&mut m, seid, 1002);
    assert_eq!(r.urr_id, UrrId(1));
    assert_eq!(r.ur_seqn, UrSeqn(0));
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLTH);
    assert_eq!(
        (r.start_time, r.end_time),
        (Some(StartTime(1000)), Some(EndTime(1002)))
    );
    assert_eq!(volumes(&r), (1000, 400, 600, 10, 4, 6));
    assert_eq!(r.duration_measurement, Some(DurationMeasurement(2)));
    // The threshold applies to the new measurement: nothing more yet.
    assert!(m.poll_usage(1003).is_empty());
    set_counters(&mut m, seid, 1400, 600);
    let r = poll_one(&mut m, seid, 1005);
    assert_eq!(r.ur_seqn, UrSeqn(1), "UR-SEQN counts per URR");
    assert_eq!(
        (r.start_time, r.end_time),
        (Some(StartTime(1002)), Some(EndTime(1005)))
    );
    assert_eq!(volumes(&r), (1000, 1000, 0, 10, 10, 0));
    // A threshold never blocks.
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
    // Deletion reports what came after, with the next UR-SEQN.
    set_counters(&mut m, seid, 1500, 600);
    let last = m.delete(seid, 1006).unwrap();
    assert_eq!(last[0].ur_seqn, UrSeqn(2));
    assert_eq!(volumes(&last[0]).0, 100);
}

#[test]
fn uplink_and_downlink_thresholds_watch_their_direction() {
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::VOLTH),
            volume_threshold: Some(VolumeThreshold(vol(None, Some(500), Some(2000)))),
            ..urr()
        },
    );
    set_counters(&mut m, seid, 400, 1900);
    assert!(
        m.poll_usage(1001).is_empty(),
        "2300 octets, neither direction reached"
    );
    set_counters(&mut m, seid, 400, 2000);
    let r = poll_one(&mut m, seid, 1002);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLTH);
    assert_eq!(volumes(&r).2, 2000);
    set_counters(&mut m, seid, 900, 2000);
    let r = poll_one(&mut m, seid, 1003);
    assert_eq!(volumes(&r).1, 500, "uplink threshold");
}

#[test]
fn a_used_up_volume_quota_is_reported_once_and_drops_until_a_new_quota() {
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::VOLQU),
            volume_quota: Some(VolumeQuota(vol(Some(2000), None, None))),
            ..urr()
        },
    );
    let counter = m.datapath().uplink[&0x100].default.counter;
    set_counters(&mut m, seid, 1000, 999);
    assert!(m.poll_usage(1001).is_empty());
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
    set_counters(&mut m, seid, 1200, 1000);
    let r = poll_one(&mut m, seid, 1002);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLQU);
    assert_eq!(volumes(&r).0, 2200, "the overshoot is reported");
    let quota_drop = ACT_DROP | upf_abi::ACT_QUOTA_EXHAUSTED;
    assert_eq!(default_flags(&m), (quota_drop, quota_drop));
    let dp = m.datapath();
    assert_eq!(dp.uplink[&0x100].default.counter, counter, "same slot");
    assert_eq!(dp.downlink[&UE].default.counter, counter);
    // Reported once, however long it stays used up.
    assert!(m.poll_usage(1003).is_empty());
    assert!(m.poll_usage(1100).is_empty());
    assert_eq!(default_flags(&m), (quota_drop, quota_drop));

    // A new quota lifts the block; it counts from the last report.
    let grant = SessionModificationRequest {
        update_urr: vec![UpdateUrr {
            volume_quota: Some(VolumeQuota(vol(Some(5000), None, None))),
            ..UpdateUrr::of(UrrId(1))
        }],
        ..Default::default()
    };
    let done = m.modify(seid, &grant, 1101).unwrap();
    assert!(done.reports.is_empty());
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
    set_counters(&mut m, seid, 5000, 2199);
    assert!(m.poll_usage(1102).is_empty(), "4999 octets of the new 5000");
    set_counters(&mut m, seid, 5000, 2200);
    let r = poll_one(&mut m, seid, 1103);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLQU);
    assert_eq!(r.ur_seqn, UrSeqn(1));
    assert_eq!(r.start_time, Some(StartTime(1002)));
    assert_eq!(default_flags(&m), (quota_drop, quota_drop));
}

#[test]
fn a_quota_counts_across_threshold_and_query_reports() {
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::VOLTH | ReportingTriggers::VOLQU),
            volume_threshold: Some(VolumeThreshold(vol(Some(1000), None, None))),
            volume_quota: Some(VolumeQuota(vol(None, Some(2500), None))),
            ..urr()
        },
    );
    set_counters(&mut m, seid, 1000, 0);
    let r = poll_one(&mut m, seid, 1001);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLTH);
    set_counters(&mut m, seid, 1500, 0);
    let q = SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
        ..Default::default()
    };
    let done = m.modify(seid, &q, 1002).unwrap();
    assert_eq!(volumes(&done.reports[0]).1, 500);
    assert_eq!(done.reports[0].ur_seqn, UrSeqn(1));
    // 1000 + 500 reported, 1000 measured now: the 2500 uplink quota and
    // the 1000 threshold are reached together.
    set_counters(&mut m, seid, 2500, 0);
    let r = poll_one(&mut m, seid, 1003);
    assert_eq!(
        r.usage_report_trigger.0,
        UsageReportTrigger::VOLTH | UsageReportTrigger::VOLQU
    );
    assert_eq!(r.ur_seqn, UrSeqn(2));
    assert_eq!(volumes(&r).1, 1000);
    assert_eq!(default_flags(&m).0, ACT_DROP | upf_abi::ACT_QUOTA_EXHAUSTED);
}

#[test]
fn removing_a_used_up_urr_or_its_trigger_resumes_forwarding() {
    let quota_drop = ACT_DROP | upf_abi::ACT_QUOTA_EXHAUSTED;
    let quota = CreateUrr {
        urr_id: UrrId(2),
        reporting_triggers: triggers(ReportingTriggers::VOLQU),
        volume_quota: Some(VolumeQuota(vol(Some(100), None, None))),
        ..urr()
    };
    let exhausted = |m: &mut Sessions<FakeDatapath>| {
        let mut req = est_4g(0x77, 0x100);
        req.create_urr.push(quota.clone());
        for p in &mut req.create_pdr {
            p.urr_ids = vec![UrrId(1), UrrId(2)];
        }
        let seid = m.establish(PEER, &req, 1000).unwrap().up_seid;
        set_counters(m, seid, 100, 0);
        let got = m.poll_usage(1001);
        assert_eq!(got[0].request.usage_report[0].urr_id, UrrId(2), "{got:?}");
        assert_eq!(default_flags(m), (quota_drop, quota_drop));
        seid
    };
    // Removal: the PDRs keep URR 1 only, URR 2 goes with its final report.
    let mut m = manager();
    let seid = exhausted(&mut m);
    let update_pdr = |id: u16| UpdatePdr {
        pdr_id: PdrId(id),
        outer_header_removal: None,
        precedence: None,
        pdi: None,
        far_id: None,
        urr_ids: vec![UrrId(1)],
        qer_ids: Vec::new(),
        activate_predefined_rules: Vec::new(),
        deactivate_predefined_rules: Vec::new(),
        unknown: Vec::new(),
    };
    let req = SessionModificationRequest {
        remove_urr: vec![RemoveUrr { urr_id: UrrId(2) }],
        update_pdr: vec![update_pdr(1), update_pdr(2)],
        ..Default::default()
    };
    let done = m.modify(seid, &req, 1002).unwrap();
    assert_eq!(done.reports.len(), 1);
    assert_eq!(
        done.reports[0].usage_report_trigger.0,
        UsageReportTrigger::TERMR
    );
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));

    // Turning VOLQU off: the quota is no longer monitored.
    let mut m = manager();
    let seid = exhausted(&mut m);
    let req = SessionModificationRequest {
        update_urr: vec![UpdateUrr {
            reporting_triggers: Some(triggers(0)),
            ..UpdateUrr::of(UrrId(2))
        }],
        ..Default::default()
    };
    m.modify(seid, &req, 1002).unwrap();
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
    set_counters(&mut m, seid, 10_000, 0);
    assert!(m.poll_usage(1003).is_empty(), "nothing is watched any more");
}

#[test]
fn a_zero_volume_quota_grants_nothing() {
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::VOLQU),
            volume_quota: Some(VolumeQuota(vol(Some(0), None, None))),
            ..urr()
        },
    );
    let r = poll_one(&mut m, seid, 1000);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLQU);
    assert_eq!(volumes(&r).0, 0);
    assert_eq!(default_flags(&m).1, ACT_DROP | upf_abi::ACT_QUOTA_EXHAUSTED);
}

#[test]
fn time_threshold_and_time_quota_follow_the_measured_duration() {
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::TIMTH | ReportingTriggers::TIMQU),
            time_threshold: Some(TimeThreshold(10)),
            time_quota: Some(TimeQuota(25)),
            ..urr()
        },
    );
    assert!(m.poll_usage(1009).is_empty());
    let r = poll_one(&mut m, seid, 1010);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::TIMTH);
    assert_eq!(r.duration_measurement, Some(DurationMeasurement(10)));
    let r = poll_one(&mut m, seid, 1020);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::TIMTH);
    assert_eq!(r.start_time, Some(StartTime(1010)));
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
    // 20 s reported + 5 s measured = the 25 s quota.
    let r = poll_one(&mut m, seid, 1025);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::TIMQU);
    assert_eq!(r.ur_seqn, UrSeqn(2));
    assert_eq!(r.duration_measurement, Some(DurationMeasurement(5)));
    let quota_drop = ACT_DROP | upf_abi::ACT_QUOTA_EXHAUSTED;
    assert_eq!(default_flags(&m), (quota_drop, quota_drop));
    // The threshold keeps reporting; the quota does not again.
    let r = poll_one(&mut m, seid, 1035);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::TIMTH);
    let req = SessionModificationRequest {
        update_urr: vec![UpdateUrr {
            time_quota: Some(TimeQuota(60)),
            ..UpdateUrr::of(UrrId(1))
        }],
        ..Default::default()
    };
    m.modify(seid, &req, 1036).unwrap();
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
}

#[test]
fn periodic_reports_keep_their_grid() {
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::PERIO),
            measurement_period: Some(MeasurementPeriod(60)),
            ..urr()
        },
    );
    assert!(m.poll_usage(1059).is_empty());
    set_counters(&mut m, seid, 300, 200);
    let r = poll_one(&mut m, seid, 1060);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::PERIO);
    assert_eq!(
        (r.start_time, r.end_time),
        (Some(StartTime(1000)), Some(EndTime(1060)))
    );
    assert_eq!(volumes(&r), (500, 300, 200, 5, 3, 2));
    // A query in between restarts the measurement but not the grid.
    let q = SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
        ..Default::default()
    };
    m.modify(seid, &q, 1070).unwrap();
    assert!(m.poll_usage(1119).is_empty());
    let r = poll_one(&mut m, seid, 1121);
    assert_eq!(r.ur_seqn, UrSeqn(2));
    assert_eq!(
        (r.start_time, r.end_time),
        (Some(StartTime(1070)), Some(EndTime(1121)))
    );
    // Polls that missed periods give one report, and the grid holds.
    let r = poll_one(&mut m, seid, 1250);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::PERIO);
    assert!(m.poll_usage(1299).is_empty());
    assert_eq!(m.poll_usage(1300).len(), 1);
}

#[test]
fn triggers_without_their_parameters_are_refused_whole() {
    let vt = |v: Volume| Some(VolumeThreshold(v));
    type Case = (
        &'static str,
        CreateUrr,
        Cause,
        Option<u16>,
        Option<FailedRuleId>,
    );
    let urr_rule = Some(FailedRuleId {
        rule_type: FailedRuleId::URR,
        id: 1,
    });
    let t = |bits| triggers(bits);
    let cases: Vec<Case> = vec![
        (
            "PERIO without Measurement Period",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::PERIO),
                ..urr()
            },
            Cause::CONDITIONAL_IE_MISSING,
            Some(types::MEASUREMENT_PERIOD),
            None,
        ),
        (
            "VOLTH without Volume Threshold",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::VOLTH),
                ..urr()
            },
            Cause::CONDITIONAL_IE_MISSING,
            Some(types::VOLUME_THRESHOLD),
            None,
        ),
        (
            "VOLQU without Volume Quota",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::VOLQU),
                ..urr()
            },
            Cause::CONDITIONAL_IE_MISSING,
            Some(types::VOLUME_QUOTA),
            None,
        ),
        (
            "TIMTH without Time Threshold",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::TIMTH),
                ..urr()
            },
            Cause::CONDITIONAL_IE_MISSING,
            Some(types::TIME_THRESHOLD),
            None,
        ),
        (
            "TIMQU without Time Quota",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::TIMQU),
                ..urr()
            },
            Cause::CONDITIONAL_IE_MISSING,
            Some(types::TIME_QUOTA),
            None,
        ),
        (
            "Measurement Period 0",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::PERIO),
                measurement_period: Some(MeasurementPeriod(0)),
                ..urr()
            },
            Cause::MANDATORY_IE_INCORRECT,
            Some(types::MEASUREMENT_PERIOD),
            None,
        ),
        (
            "Volume Threshold announcing no volume",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::VOLTH),
                volume_threshold: vt(vol(None, None, None)),
                ..urr()
            },
            Cause::MANDATORY_IE_INCORRECT,
            Some(types::VOLUME_THRESHOLD),
            None,
        ),
        (
            "Volume Threshold of 0 octets",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::VOLTH),
                volume_threshold: vt(vol(Some(1000), Some(0), None)),
                ..urr()
            },
            Cause::MANDATORY_IE_INCORRECT,
            Some(types::VOLUME_THRESHOLD),
            None,
        ),
        (
            "Volume Quota announcing no volume",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::VOLQU),
                volume_quota: Some(VolumeQuota(vol(None, None, None))),
                ..urr()
            },
            Cause::MANDATORY_IE_INCORRECT,
            Some(types::VOLUME_QUOTA),
            None,
        ),
        (
            "Time Threshold of 0 seconds",
            CreateUrr {
                reporting_triggers: t(ReportingTriggers::TIMTH),
                time_threshold: Some(TimeThreshold(0)),
                ..urr()
            },
            Cause::MANDATORY_IE_INCORRECT,
            Some(types::TIME_THRESHOLD),
            None,
        ),
        (
            "VOLTH without VOLUM",
            CreateUrr {
                measurement_method: MeasurementMethod {
                    duration: true,
                    volume: false,
                    event: false,
                },
                reporting_triggers: t(ReportingTriggers::VOLTH),
                volume_threshold: vt(vol(Some(1000), None, None)),
                ..urr()
            },
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            None,
            urr_rule,
        ),
        (
            "VOLQU without VOLUM",
            CreateUrr {
                measurement_method: MeasurementMethod::default(),
                reporting_triggers: t(ReportingTriggers::VOLQU),
                volume_quota: Some(VolumeQuota(vol(Some(1000), None, None))),
                ..urr()
            },
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            None,
            urr_rule,
        ),
        (
            "TIMQU without DURAT",
            CreateUrr {
                measurement_method: MeasurementMethod {
                    duration: false,
                    volume: true,
                    event: false,
                },
                reporting_triggers: t(ReportingTriggers::TIMQU),
                time_quota: Some(TimeQuota(10)),
                ..urr()
            },
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            None,
            urr_rule,
        ),
    ];
    let mut m = manager();
    let before = snapshot(&m);
    for (what, u, cause, ie, rule) in &cases {
        let mut req = est_4g(0x77, 0x100);
        req.create_urr = vec![u.clone()];
        let r = m.establish(PEER, &req, 1000).unwrap_err();
        assert_eq!(
            (r.cause, r.offending_ie, r.failed_rule),
            (*cause, *ie, *rule),
            "{what}: {r}"
        );
        assert_eq!(snapshot(&m), before, "{what}: nothing installed");
    }

    // The same refusals from Update URR leave the session as it was.
    let seid = with_urr(&mut m, urr());
    let before = snapshot(&m);
    for (what, u, cause, ie, rule) in cases {
        let req = SessionModificationRequest {
            update_urr: vec![UpdateUrr {
                measurement_method: Some(u.measurement_method),
                reporting_triggers: Some(u.reporting_triggers),
                measurement_period: u.measurement_period,
                volume_threshold: u.volume_threshold,
                volume_quota: u.volume_quota,
                time_threshold: u.time_threshold,
                time_quota: u.time_quota,
                ..UpdateUrr::of(UrrId(1))
            }],
            ..Default::default()
        };
        let r = m.modify(seid, &req, 1001).unwrap_err();
        assert_eq!(
            (r.cause, r.offending_ie, r.failed_rule),
            (cause, ie, rule),
            "Update URR, {what}: {r}"
        );
        assert_eq!(snapshot(&m), before, "Update URR, {what}: nothing applied");
    }
    assert!(m.poll_usage(5000).is_empty(), "no trigger was applied");
}

#[test]
fn update_and_query_of_an_unknown_urr_name_it() {
    let mut m = manager();
    let seid = with_urr(&mut m, urr());
    let before = snapshot(&m);
    let update = SessionModificationRequest {
        update_urr: vec![UpdateUrr {
            reporting_triggers: Some(triggers(ReportingTriggers::PERIO)),
            measurement_period: Some(MeasurementPeriod(10)),
            ..UpdateUrr::of(UrrId(9))
        }],
        ..Default::default()
    };
    let query = SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(1) }, QueryUrr { urr_id: UrrId(8) }],
        ..Default::default()
    };
    for (req, id) in [(update, 9), (query, 8)] {
        let r = m.modify(seid, &req, 1001).unwrap_err();
        assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{r}");
        assert_eq!(
            r.failed_rule,
            Some(FailedRuleId {
                rule_type: FailedRuleId::URR,
                id
            }),
            "{r}"
        );
        assert_eq!(snapshot(&m), before);
    }
    // The known URR was not queried by the refused request: its next
    // report is still the first.
    let last = m.delete(seid, 1002).unwrap();
    assert_eq!(last[0].ur_seqn, UrSeqn(0));
}

// ---- the session store: re-adopting sessions after a restart ----

/// Records as the store keeps them: through their encoding.
pub(crate) fn through_store(changes: Vec<(u64, Option<Record>)>) -> Vec<Record> {
    changes
        .into_iter()
        .map(|(seid, r)| {
            let r = r.unwrap_or_else(|| panic!("session {seid:#x} is dirty and present"));
            Record::decode(&r.encode().unwrap()).unwrap()
        })
        .collect()
}

fn as_json(m: &Sessions<FakeDatapath>) -> Vec<serde_json::Value> {
    m.sessions()
        .values()
        .map(|s| serde_json::to_value(Record::of(s)).unwrap())
        .collect()
}

#[test]
fn restored_sessions_carry_on_where_they_were() {
    let mut m = manager();
    m.track_dirty();
    let a = m.establish(PEER, &est_5g(1), 1000).unwrap();
    let b = m.establish(PEER, &est_4g(2, 0x100), 1000).unwrap();
    let mut with_meters = est_with_qers(3, 0x200, vec![mbr_qer(1, 1000, 2000)], &[1], &[1]);
    let ue3 = Ipv4Addr::new(10, 45, 0, 9);
    with_meters.create_pdr[0].pdi.ue_ip_address = Some(ue(Some(ue3), false));
    with_meters.create_pdr[1].pdi.ue_ip_address = Some(ue(Some(ue3), true));
    let c = m.establish(PEER, &with_meters, 1000).unwrap();
    // Session b has reported once: its next report counts from there.
    let slot = m.get(b.up_seid).unwrap().rules.pdrs[&1].counter;
    let traffic = |m: &mut Sessions<FakeDatapath>, u: u64| {
        m.datapath_mut().counters.insert(
            slot,
            SessionCounters {
                ul_packets: u,
                ul_bytes: u * 100,
                dl_packets: 0,
                dl_bytes: 0,
            },
        );
    };
    traffic(&mut m, 3);
    let q = SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
        ..Default::default()
    };
    m.modify(b.up_seid, &q, 1010).unwrap();
    let before = as_json(&m);
    let in_use = m.in_use();
    let meters = m.meters_in_use();
    let records = through_store(m.take_dirty());
    assert_eq!(records.len(), 3);
    assert!(m.take_dirty().is_empty(), "saved once");
    let mut dp = m.into_datapath();
    let (ul, dl, rules) = (dp.uplink.clone(), dp.downlink.clone(), dp.rules.clone());
    // A crash between a map write and the save: an entry nobody owns, and
    // one entry half changed.
    dp.uplink.insert(0x777, UplinkEntry::default());
    let teid_a = *ul.keys().find(|t| **t != 0x100 && **t != 0x200).unwrap();
    dp.uplink.get_mut(&teid_a).unwrap().default.flags = ACT_DROP;
    // The restarted daemon: the same maps, an empty manager.
    let mut m = Sessions::new(dp, manager().config().clone());
    m.track_dirty();
    let r = m.restore(records).unwrap();
    assert_eq!(r.sessions, 3);
    assert_eq!(r.entries, ul.len() + dl.len());
    assert_eq!(m.remove_orphans().unwrap(), (1, 0));
    assert_eq!(as_json(&m), before, "every session as it was");
    assert_eq!((m.in_use(), m.meters_in_use()), (in_use, meters));
    assert!(m.take_dirty().is_empty(), "nothing restored needs saving");
    let dp = m.datapath();
    assert_eq!(
        (&dp.uplink, &dp.downlink),
        (&ul, &dl),
        "entries as the store says"
    );
    for (k, v) in &rules {
        assert_eq!(dp.rules.get(k), Some(v), "rule set {k}");
    }
    assert_eq!(m.teid_owner(teid_a), Some(a.up_seid));
    assert_eq!(m.find(PEER, 3), Some(c.up_seid));
    // New sessions take nothing the restored ones hold.
    let d = m.establish(PEER, &est_5g(4), 1020).unwrap();
    assert!(![a.up_seid, b.up_seid, c.up_seid].contains(&d.up_seid));
    let s_a = m.get(a.up_seid).unwrap();
    let s_d = m.get(d.up_seid).unwrap();
    assert_ne!(s_a.allocated_ue, s_d.allocated_ue);
    assert!(s_a.teids().all(|t| m.teid_owner(t) == Some(a.up_seid)));
    assert!(s_d.teids().all(|t| m.teid_owner(t) == Some(d.up_seid)));
    // The restored session reports from its last report, with the next UR-SEQN.
    traffic(&mut m, 5);
    let reports = m.delete(b.up_seid, 1030).unwrap();
    let v = reports[0].volume_measurement.unwrap();
    assert_eq!(v.uplink_volume, Some(200));
    assert_eq!(reports[0].ur_seqn, UrSeqn(1));
    assert_eq!(reports[0].start_time, Some(StartTime(1010)));
    // Modifiable and deletable, and everything goes back to the pools.
    let upd = SessionModificationRequest {
        remove_pdr: vec![RemovePdr { pdr_id: PdrId(3) }],
        ..Default::default()
    };
    m.modify(a.up_seid, &upd, 1040).unwrap();
    let dirty: Vec<u64> = m.take_dirty().into_iter().map(|(s, _)| s).collect();
    assert_eq!(dirty, vec![a.up_seid, b.up_seid, d.up_seid]);
    for s in [a.up_seid, c.up_seid, d.up_seid] {
        m.delete(s, 1050).unwrap();
    }
    assert_eq!(m.in_use(), (0, 0, 0, 0));
    assert_eq!(m.meters_in_use(), 0);
    let dp = m.datapath();
    assert!(dp.uplink.is_empty() && dp.downlink.is_empty());
    assert!(m.take_dirty().iter().all(|(_, r)| r.is_none()), "deletions");
}

#[test]
fn a_restore_that_does_not_fit_the_tables_fails_whole() {
    let mut m = manager();
    m.track_dirty();
    m.establish(PEER, &est_5g(1), 0).unwrap();
    let records = through_store(m.take_dirty());
    // Fewer counter slots than the record's slots (a smaller max_pdrs).
    let slot = records[0]
        .session
        .rules
        .pdrs
        .values()
        .map(|p| p.counter)
        .max()
        .unwrap();
    let mut small = Sessions::new(
        FakeDatapath::with_capacity(crate::datapath::Capacity {
            sessions: 10,
            counter_slots: slot,
            rule_sets: 10,
            meters: 10,
        }),
        manager().config().clone(),
    );
    let e = small.restore(records.clone()).unwrap_err();
    assert!(e.contains("gateway.max_pdrs"), "{e}");
    assert!(small.sessions().is_empty() && small.datapath().uplink.is_empty());
    // A broken record names its session.
    let mut bad = serde_json::to_value(&records[0]).unwrap();
    bad["uplink"][0][1]["default"] = serde_json::json!([1, 2]);
    let bad: Record = serde_json::from_value(bad).unwrap();
    let e = manager().restore(vec![bad]).unwrap_err();
    assert!(e.contains("session 0x1") && e.contains("2 bytes"), "{e}");
    // Only into an empty manager.
    let mut busy = manager();
    busy.establish(PEER, &est_4g(9, 0x300), 0).unwrap();
    assert!(busy.restore(records).unwrap_err().contains("empty"));
}

/// Every pool and table, filled by establishments until one is refused:
/// the refusal is No resources available, leaves the maps, the pools and
/// the sessions as they were (also when asked again), and deleting the
/// sessions that fitted returns everything. TEIDs, the uplink map and the
/// meters are in `a_full_table_or_pool_is_no_resources_available` and
/// `running_out_of_meters_is_no_resources_and_leaves_nothing`.
#[test]
fn each_exhausted_resource_refuses_whole_and_leaks_nothing() {
    let roomy = crate::datapath::Capacity {
        sessions: 64,
        counter_slots: 128,
        rule_sets: 64,
        meters: 128,
    };
    let cases: [(&str, crate::datapath::Capacity, &str); 3] = [
        ("UE address pool", roomy, "10.60.0.0/29"),
        (
            "counter slots",
            crate::datapath::Capacity {
                counter_slots: 4,
                ..roomy
            },
            "10.60.0.0/24",
        ),
        (
            "rule sets",
            crate::datapath::Capacity {
                rule_sets: 3,
                ..roomy
            },
            "10.60.0.0/24",
        ),
    ];
    for (what, capacity, pool) in cases {
        let mut m = Sessions::new(
            FakeDatapath::with_capacity(capacity),
            SessionsConfig {
                qos: Default::default(),
                n3: N3,
                teid_range: (0x1000, 0x1fff),
                ue_pools: vec![pool.parse().unwrap()],
            },
        );
        let empty = snapshot(&m);
        let empty_use = m.in_use();
        let mut up = Vec::new();
        let refused = (1..100u64).find_map(|i| match m.establish(PEER, &est_5g(i), 0) {
            Ok(e) => {
                up.push(e.up_seid);
                None
            }
            Err(r) => Some(r),
        });
        let r = refused.unwrap_or_else(|| panic!("{what}: 99 sessions fitted"));
        assert_eq!(r.cause, Cause::NO_RESOURCES_AVAILABLE, "{what}: {r}");
        assert!(!up.is_empty(), "{what}: not even one session fitted");
        let full = snapshot(&m);
        let again = m.establish(PEER, &est_5g(500), 0).unwrap_err();
        assert_eq!(again.cause, Cause::NO_RESOURCES_AVAILABLE, "{what}");
        assert_eq!(snapshot(&m), full, "{what}: a refusal took something");
        // A modification that needs one more of the resource is refused
        // whole too, and the session keeps its rules.
        let ue = m.get(up[0]).unwrap().allocated_ue.unwrap();
        let mut video = pdr(4, 10, dl_pdi(Some(ue)), 2);
        video.pdi.sdf_filters = vec![SdfFilter {
            flow_description: Some("permit out 6 from 203.0.113.0/24 443 to assigned".into()),
            ..SdfFilter::default()
        }];
        let grow = SessionModificationRequest {
            create_pdr: vec![video],
            ..Default::default()
        };
        if let Err(r) = m.modify(up[0], &grow, 0) {
            assert_eq!(r.cause, Cause::NO_RESOURCES_AVAILABLE, "{what}: {r}");
            assert_eq!(snapshot(&m), full, "{what}: a refused modification");
        } else {
            // The UE pool does not limit new PDRs of a session: undo.
            assert_eq!(what, "UE address pool", "{what}: the modification fitted");
            m.modify(up[0], &remove_pdr_req(4), 0).unwrap();
        }
        for s in up {
            m.delete(s, 0).unwrap();
        }
        assert_eq!(m.in_use(), empty_use, "{what}");
        assert_eq!(snapshot(&m), empty, "{what}");
        // And the room is usable again.
        let e = m.establish(PEER, &est_5g(1000), 0).unwrap();
        m.delete(e.up_seid, 0).unwrap();
    }
}

fn remove_pdr_req(id: u16) -> SessionModificationRequest {
    SessionModificationRequest {
        remove_pdr: vec![RemovePdr { pdr_id: PdrId(id) }],
        ..Default::default()
    }
}
