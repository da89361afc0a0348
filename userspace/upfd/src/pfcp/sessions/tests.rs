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

const N3: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);
const GNB: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 2);
const UE: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 7);

fn manager() -> Sessions<FakeDatapath> {
    Sessions::new(
        FakeDatapath::new(100),
        SessionsConfig {
            n3: N3,
            teid_range: (0x1000, 0x1fff),
            ue_pools: vec!["10.60.0.0/24".parse().unwrap()],
        },
    )
}

fn fteid_fixed(teid: u32) -> FTeid {
    FTeid {
        teid: Some(teid),
        ipv4: Some(N3),
        ipv6: None,
        choose: false,
        choose_v4: false,
        choose_v6: false,
        choose_id: None,
    }
}

fn fteid_choose(id: Option<u8>) -> FTeid {
    FTeid {
        teid: None,
        ipv4: None,
        ipv6: None,
        choose: true,
        choose_v4: true,
        choose_v6: false,
        choose_id: id,
    }
}

fn ue(addr: Option<Ipv4Addr>, destination: bool) -> UeIpAddress {
    UeIpAddress {
        ipv4: addr,
        destination,
        choose_v4: addr.is_none(),
        ..UeIpAddress::default()
    }
}

fn pdr(id: u16, precedence: u32, pdi: Pdi, far: u32) -> CreatePdr {
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

fn ul_pdi(f: FTeid) -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::ACCESS),
        f_teid: Some(f),
        ue_ip_address: Some(ue(Some(UE), false)),
        ..Pdi::default()
    }
}

fn dl_pdi(addr: Option<Ipv4Addr>) -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::CORE),
        ue_ip_address: Some(ue(addr, true)),
        ..Pdi::default()
    }
}

fn far_core(id: u32) -> CreateFar {
    CreateFar {
        far_id: FarId(id),
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding_parameters: Some(ForwardingParameters {
            destination_interface: DestinationInterface(interface::CORE),
            network_instance: None,
            outer_header_creation: None,
            interface_type: None,
            unknown: Vec::new(),
        }),
        bar_id: None,
        unknown: Vec::new(),
    }
}

fn ohc(teid: u32) -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::GTPU_UDP_IPV4,
        teid: Some(teid),
        ipv4: Some(GNB),
        ..OuterHeaderCreation::default()
    }
}

fn far_access(id: u32, teid: u32) -> CreateFar {
    CreateFar {
        far_id: FarId(id),
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding_parameters: Some(ForwardingParameters {
            destination_interface: DestinationInterface(interface::ACCESS),
            network_instance: None,
            outer_header_creation: Some(ohc(teid)),
            interface_type: None,
            unknown: Vec::new(),
        }),
        bar_id: None,
        unknown: Vec::new(),
    }
}

fn urr() -> CreateUrr {
    CreateUrr {
        urr_id: UrrId(1),
        measurement_method: MeasurementMethod {
            duration: true,
            volume: true,
            event: false,
        },
        reporting_triggers: ReportingTriggers(0),
        measurement_period: None,
        volume_threshold: None,
        volume_quota: None,
        time_threshold: None,
        time_quota: None,
        unknown: Vec::new(),
    }
}

fn qer(id: u32, qfi: u8) -> CreateQer {
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
fn est_4g(cp_seid: u64, teid: u32) -> SessionEstablishmentRequest {
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
fn est_5g(cp_seid: u64) -> SessionEstablishmentRequest {
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

const PEER: &str = "smf-1";

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

fn snapshot(m: &Sessions<FakeDatapath>) -> impl PartialEq + std::fmt::Debug {
    let dp = m.datapath();
    let mut ul: Vec<_> = dp.uplink.iter().map(|(k, v)| (*k, *v)).collect();
    ul.sort_by_key(|x| x.0);
    let mut dl: Vec<_> = dp.downlink.iter().map(|(k, v)| (*k, *v)).collect();
    dl.sort_by_key(|x| x.0);
    let sessions: Vec<String> = m.sessions().values().map(|s| format!("{s:?}")).collect();
    (ul, dl, m.in_use(), sessions)
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
        }),
        SessionsConfig {
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
