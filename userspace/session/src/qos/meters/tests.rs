//! Rate meters through the session manager, against the fake datapath:
//! QER MBRs to meters, flow chains, refusals, in-place rewrites and their
//! failure, caps and plans.

use std::net::Ipv4Addr;

use upf_abi::{Meter, ACT_DROP, ACT_FORWARD};
use upf_pfcp::ie::*;
use upf_pfcp::message::SessionModificationRequest;
use upf_pfcp::Cause;

use crate::datapath::fake::FakeDatapath;
use crate::datapath::Datapath;
use crate::qos::meters::*;
use crate::rules::Direction;
use crate::sessions::tests::*;
use crate::sessions::{Sessions, SessionsConfig};

fn meter_of(m: &Sessions<FakeDatapath>, a: &upf_abi::PdrAction) -> Meter {
    assert_ne!(a.meter, 0, "the action has a meter");
    m.datapath().meter(a.meter - 1).unwrap()
}

#[test]
fn a_session_qer_mbr_becomes_one_meter_per_direction() {
    let mut m = manager();
    let e = m
        .establish(
            PEER,
            &est_with_qers(1, 0x100, vec![mbr_qer(1, 10_000, 20_000)], &[1], &[1]),
            0,
        )
        .unwrap();
    let ul = m.datapath().uplink[&0x100].default;
    let dl = m.datapath().downlink[&UE].default;
    assert_ne!(ul.meter, dl.meter, "one meter per direction");
    let (mu, md) = (meter_of(&m, &ul), meter_of(&m, &dl));
    assert_eq!(mu.cost_ns_q16, Meter::cost_for_bps(10_000_000));
    assert_eq!(md.cost_ns_q16, Meter::cost_for_bps(20_000_000));
    // The default burst: 300 ms at the rate (375 kB at 10 Mbit/s).
    assert_eq!(mu.tau_ns, 300_000_000);
    assert_eq!((mu.parent, md.parent), (0, 0));
    let shown = m.meters_of(e.up_seid);
    assert_eq!(shown.len(), 2);
    assert!(shown.iter().any(
        |(k, s, _)| *k == MeterKey::Session(Direction::Uplink) && s.qer_bps == Some(10_000_000)
    ));
    m.delete(e.up_seid, 0).unwrap();
    assert_eq!(m.meters_in_use(), 0, "deletion returns the meters");
}

#[test]
fn a_flow_qer_chains_to_the_session_qer() {
    let mut m = manager();
    // UL PDR 1 references the session QER 1 (AMBR 50 M) and the flow QER 2 (5 M).
    let mut req = est_with_qers(
        1,
        0x100,
        vec![mbr_qer(1, 50_000, 50_000), mbr_qer(2, 5_000, 5_000)],
        &[1, 2],
        &[1],
    );
    // A second UL PDR (a filtered flow) with only the session QER.
    let mut p3 = pdr(3, 10, ul_pdi(fteid_fixed(0x100)), 1);
    p3.pdi.sdf_filters = vec![SdfFilter {
        flow_description: Some("permit out 17 from any to assigned".into()),
        ..SdfFilter::default()
    }];
    p3.qer_ids = vec![QerId(1)];
    req.create_pdr.push(p3);
    m.establish(PEER, &req, 0).unwrap();
    let e = m.datapath().uplink[&0x100];
    let flow = meter_of(&m, &e.default);
    assert_eq!(flow.cost_ns_q16, Meter::cost_for_bps(5_000_000));
    assert_ne!(flow.parent, 0, "the flow meter chains to the session meter");
    let session = m.datapath().meter(flow.parent - 1).unwrap();
    assert_eq!(session.cost_ns_q16, Meter::cost_for_bps(50_000_000));
    let rs = m.datapath().rules[&(e.rules - 1)];
    assert_eq!(
        rs.rules[0].action.meter, flow.parent,
        "the PDR with only the session QER starts at the session meter"
    );
}

#[test]
fn zero_absurd_and_doubled_flow_mbrs_are_refused_naming_the_qer() {
    let mut m = manager();
    for (qers, ul, dl, want) in [
        (
            vec![mbr_qer(7, 0, 1000)],
            vec![7],
            vec![],
            (FailedRuleId::QER, 7),
        ),
        (
            vec![mbr_qer(7, 1000, 500_000_000)],
            vec![],
            vec![7],
            (FailedRuleId::QER, 7),
        ),
        (
            vec![
                mbr_qer(1, 1000, 1000),
                mbr_qer(2, 1000, 1000),
                mbr_qer(3, 1000, 1000),
            ],
            vec![2, 3],
            vec![1],
            (FailedRuleId::PDR, 1),
        ),
    ] {
        let before = snapshot(&m);
        let mut req = est_with_qers(1, 0x100, qers, &ul, &dl);
        // A second uplink PDR without QERs: neither of PDR 1's QERs is
        // then session-level, so PDR 1 has two flow MBRs.
        let mut p3 = pdr(3, 10, ul_pdi(fteid_fixed(0x100)), 1);
        p3.pdi.sdf_filters = vec![SdfFilter {
            flow_description: Some("permit out 17 from any to assigned".into()),
            ..SdfFilter::default()
        }];
        req.create_pdr.push(p3);
        let e = m.establish(PEER, &req, 0).unwrap_err();
        assert_eq!(e.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE, "{e:?}");
        let f = e.failed_rule.unwrap();
        assert_eq!((f.rule_type, f.id), want, "{}", e.reason);
        if want.0 == FailedRuleId::QER {
            assert_eq!(e.offending_ie, Some(types::MBR));
        }
        assert_eq!(snapshot(&m), before, "nothing half-applied");
    }
    // A zero MBR in a direction no referencing PDR uses is harmless.
    m.establish(
        PEER,
        &est_with_qers(1, 0x100, vec![mbr_qer(7, 0, 1000)], &[], &[7]),
        0,
    )
    .unwrap();
}

#[test]
fn update_qer_rewrites_the_meter_in_place_and_remove_frees_it() {
    let mut m = manager();
    let e = m
        .establish(
            PEER,
            &est_with_qers(1, 0x100, vec![mbr_qer(1, 10_000, 10_000)], &[1], &[]),
            0,
        )
        .unwrap();
    let idx = m.datapath().uplink[&0x100].default.meter;
    // The fast path's state survives a rate change: no new burst.
    m.datapath_mut().meters.get_mut(&(idx - 1)).unwrap().tat_ns = 12345;
    let upd = SessionModificationRequest {
        update_qer: vec![UpdateQer {
            qer_id: QerId(1),
            qer_correlation_id: None,
            gate_status: None,
            mbr: Some(Mbr(Bitrate {
                ul: 2_000,
                dl: 2_000,
            })),
            gbr: None,
            qfi: None,
            rqi: None,
            unknown: Vec::new(),
        }],
        ..SessionModificationRequest::default()
    };
    m.modify(e.up_seid, &upd, 0).unwrap();
    assert_eq!(m.datapath().uplink[&0x100].default.meter, idx, "same meter");
    let mt = m.datapath().meter(idx - 1).unwrap();
    assert_eq!(mt.cost_ns_q16, Meter::cost_for_bps(2_000_000));
    assert_eq!(mt.tat_ns, 12345);
    // Removing the QER with the only PDR that references it frees the meter.
    let gone = SessionModificationRequest {
        remove_pdr: vec![RemovePdr { pdr_id: PdrId(1) }],
        remove_qer: vec![RemoveQer { qer_id: QerId(1) }],
        ..SessionModificationRequest::default()
    };
    m.modify(e.up_seid, &gone, 0).unwrap();
    assert_eq!(m.meters_in_use(), 0);
}

#[test]
fn a_meter_rewrite_that_fails_refuses_the_request_and_undoes_it() {
    let mut m = manager();
    let e = m
        .establish(
            PEER,
            &est_with_qers(1, 0x100, vec![mbr_qer(1, 10_000, 10_000)], &[1], &[]),
            0,
        )
        .unwrap();
    let idx = m.datapath().uplink[&0x100].default.meter - 1;
    let before = snapshot(&m);
    let slower = SessionModificationRequest {
        update_qer: vec![UpdateQer {
            qer_id: QerId(1),
            qer_correlation_id: None,
            gate_status: None,
            mbr: Some(Mbr(Bitrate {
                ul: 2_000,
                dl: 2_000,
            })),
            gbr: None,
            qfi: None,
            rqi: None,
            unknown: Vec::new(),
        }],
        ..SessionModificationRequest::default()
    };
    // The kept meter's rewrite is the request's last write: its failure is
    // the SMF's answer, and nothing of the request stays.
    m.datapath_mut().fail_next_meter = true;
    let r = m.modify(e.up_seid, &slower, 0).unwrap_err();
    assert_eq!(r.cause, Cause::SYSTEM_FAILURE, "{}", r.reason);
    assert!(r.reason.contains("METERS"), "{}", r.reason);
    assert_eq!(snapshot(&m), before);
    assert_eq!(
        m.datapath().meter(idx).unwrap().cost_ns_q16,
        Meter::cost_for_bps(10_000_000),
        "the meter keeps its rate"
    );
    m.modify(e.up_seid, &slower, 0).unwrap();
    assert_eq!(
        m.datapath().meter(idx).unwrap().cost_ns_q16,
        Meter::cost_for_bps(2_000_000)
    );
}

#[test]
fn a_cap_that_cannot_be_written_is_not_recorded_so_it_is_tried_again() {
    let mut m = manager();
    let e = m
        .establish(
            PEER,
            &est_with_qers(1, 0x100, vec![mbr_qer(1, 10_000, 10_000)], &[1], &[1]),
            0,
        )
        .unwrap();
    let idx = m.datapath().downlink[&UE].default.meter - 1;
    m.datapath_mut().fail_next_meter = true;
    let err = m
        .set_limits(e.up_seid, |l| l.cap_bps[1] = Some(4_000_000))
        .unwrap_err();
    assert!(err.to_string().contains("METERS"), "{err}");
    assert_eq!(m.get(e.up_seid).unwrap().limits.cap_bps[1], None);
    assert_eq!(
        m.datapath().meter(idx).unwrap().cost_ns_q16,
        Meter::cost_for_bps(10_000_000)
    );
    assert!(m
        .set_limits(e.up_seid, |l| l.cap_bps[1] = Some(4_000_000))
        .unwrap());
    assert_eq!(m.get(e.up_seid).unwrap().limits.cap_bps[1], Some(4_000_000));
    assert_eq!(
        m.datapath().meter(idx).unwrap().cost_ns_q16,
        Meter::cost_for_bps(4_000_000)
    );
}

#[test]
fn a_closed_gate_drops_with_its_own_reason() {
    let mut m = manager();
    let mut q = mbr_qer(1, 10_000, 10_000);
    q.gate_status = GateStatus { ul: 1, dl: 0 };
    m.establish(PEER, &est_with_qers(1, 0x100, vec![q], &[1], &[1]), 0)
        .unwrap();
    let ul = m.datapath().uplink[&0x100].default;
    assert_eq!(ul.flags, ACT_DROP | upf_abi::ACT_GATE_CLOSED);
    assert_eq!(ul.meter, 0, "a dropped packet is not metered");
    let dl = m.datapath().downlink[&UE].default;
    assert_eq!(dl.flags & ACT_FORWARD, ACT_FORWARD);
}

#[test]
fn running_out_of_meters_is_no_resources_and_leaves_nothing() {
    let mut m = Sessions::new(
        FakeDatapath::with_capacity(crate::datapath::Capacity {
            sessions: 8,
            counter_slots: 16,
            rule_sets: 8,
            meters: 3,
        }),
        SessionsConfig {
            qos: Default::default(),
            n3: N3,
            teid_range: (0x1000, 0x1fff),
            ue_pools: vec!["10.60.0.0/24".parse().unwrap()],
        },
    );
    m.establish(
        PEER,
        &est_with_qers(1, 0x100, vec![mbr_qer(1, 1000, 1000)], &[1], &[1]),
        0,
    )
    .unwrap();
    let before = snapshot(&m);
    let mut r = est_with_qers(2, 0x200, vec![mbr_qer(1, 1000, 1000)], &[1], &[1]);
    r.create_pdr[1].pdi.ue_ip_address = Some(ue(Some(Ipv4Addr::new(10, 45, 0, 8)), true));
    let e = m.establish(PEER, &r, 0).unwrap_err();
    assert_eq!(e.cause, Cause::NO_RESOURCES_AVAILABLE, "{}", e.reason);
    assert_eq!(snapshot(&m), before);
}

#[test]
fn session_limits_take_the_lowest_rate_and_caps_lift() {
    let mut m = manager();
    let e = m
        .establish(
            PEER,
            &est_with_qers(1, 0x100, vec![mbr_qer(1, 10_000, 10_000)], &[1], &[1]),
            0,
        )
        .unwrap();
    let idx = m.datapath().downlink[&UE].default.meter - 1;
    assert!(m
        .set_limits(e.up_seid, |l| l.cap_bps[1] = Some(4_000_000))
        .unwrap());
    assert_eq!(
        m.datapath().meter(idx).unwrap().cost_ns_q16,
        Meter::cost_for_bps(4_000_000)
    );
    assert!(m.set_limits(e.up_seid, |l| l.cap_bps[1] = None).unwrap());
    assert_eq!(
        m.datapath().meter(idx).unwrap().cost_ns_q16,
        Meter::cost_for_bps(10_000_000)
    );
}

// ---- plans (Activate Predefined Rules) ----

fn plan_manager() -> Sessions<FakeDatapath> {
    Sessions::new(
        FakeDatapath::new(100),
        SessionsConfig {
            qos: QosParams {
                plans: vec![PlanRates {
                    name: "lite".into(),
                    bps: [Some(1_000_000), Some(3_000_000)],
                    throttled_bps: [Some(200_000), Some(200_000)],
                    burst_bytes: Some(100_000),
                }],
                default_plans: vec![("internet".into(), "lite".into())],
                ..QosParams::default()
            },
            n3: N3,
            teid_range: (0x1000, 0x1fff),
            ue_pools: vec!["10.60.0.0/24".parse().unwrap()],
        },
    )
}

#[test]
fn a_plan_named_by_activate_predefined_rules_limits_the_session_and_throttles() {
    let mut m = plan_manager();
    let mut req = est_4g(1, 0x100);
    req.create_pdr[1].activate_predefined_rules = vec![ActivatePredefinedRules(b"lite".to_vec())];
    let e = m.establish(PEER, &req, 0).unwrap();
    let dl = meter_of(&m, &m.datapath().downlink[&UE].default);
    assert_eq!(dl.cost_ns_q16, Meter::cost_for_bps(3_000_000));
    let ul = meter_of(&m, &m.datapath().uplink[&0x100].default);
    assert_eq!(ul.cost_ns_q16, Meter::cost_for_bps(1_000_000));
    assert!(m.set_throttled(e.up_seid, true).unwrap());
    let dl = meter_of(&m, &m.datapath().downlink[&UE].default);
    assert_eq!(dl.cost_ns_q16, Meter::cost_for_bps(200_000));
    // The burst allowance: 100 kB at 200 kbit/s = 4 s.
    assert_eq!(dl.tau_ns, 4_000_000_000);
    assert!(m.set_throttled(e.up_seid, false).unwrap());
    let dl = meter_of(&m, &m.datapath().downlink[&UE].default);
    assert_eq!(dl.cost_ns_q16, Meter::cost_for_bps(3_000_000));
}

#[test]
fn unknown_plans_are_refused_and_the_network_instance_default_applies() {
    let mut m = plan_manager();
    let mut req = est_4g(1, 0x100);
    req.create_pdr[0].activate_predefined_rules = vec![ActivatePredefinedRules(b"gold".to_vec())];
    let before = snapshot(&m);
    let e = m.establish(PEER, &req, 0).unwrap_err();
    assert_eq!(e.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE);
    assert_eq!(e.offending_ie, Some(types::ACTIVATE_PREDEFINED_RULES));
    let f = e.failed_rule.unwrap();
    assert_eq!((f.rule_type, f.id), (FailedRuleId::PDR, 1));
    assert_eq!(snapshot(&m), before);
    // No plan named, network instance "internet": the default plan.
    let mut req = est_4g(2, 0x200);
    req.create_pdr[1].pdi.network_instance = Some(NetworkInstance(b"internet".to_vec()));
    req.create_pdr[1].pdi.ue_ip_address = Some(ue(Some(Ipv4Addr::new(10, 45, 0, 9)), true));
    req.create_pdr[0].pdi.ue_ip_address = Some(ue(Some(Ipv4Addr::new(10, 45, 0, 9)), false));
    let s = m.establish(PEER, &req, 0).unwrap();
    assert_eq!(m.get(s.up_seid).unwrap().limits.plan, Some(0));
}

// ---- reporting triggers and Session Report Requests (poll_usage) ----
