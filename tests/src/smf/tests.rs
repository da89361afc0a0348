//! The test SMF against a fake UPF on the loopback interface.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use super::*;
use upf_pfcp::ie::{types, CauseIe, IeValue};

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn fake_upf() -> UdpSocket {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn smf_for(upf: &UdpSocket) -> Smf {
    let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let mut smf = Smf::new(sock, upf.local_addr().unwrap()).unwrap();
    smf.t1 = Duration::from_millis(100);
    smf
}

fn recv(s: &UdpSocket) -> (Pdu, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (len, from) = s.recv_from(&mut buf).unwrap();
    (Pdu::parse(&buf[..len]).unwrap(), from)
}

fn association_response(seq: u32) -> Vec<u8> {
    Pdu {
        header: Header::node(MsgType::ASSOCIATION_SETUP_RESPONSE, seq),
        message: Message::AssociationSetupResponse(AssociationSetupResponse {
            node_id: NodeId::Ipv4(LOOPBACK),
            cause: Cause::REQUEST_ACCEPTED,
            recovery_time_stamp: RecoveryTimeStamp(7),
            up_function_features: None,
            cp_function_features: None,
            user_plane_ip_resource_information: Vec::new(),
            unknown: Vec::new(),
        }),
    }
    .to_bytes()
}

#[test]
fn retransmits_and_answers_heartbeats_while_waiting() {
    let upf = fake_upf();
    let mut smf = smf_for(&upf);
    let upf_thread = thread::spawn(move || {
        // First transmission: ignored, but we ask for a heartbeat.
        let (first, from) = recv(&upf);
        assert_eq!(
            first.header.message_type,
            MsgType::ASSOCIATION_SETUP_REQUEST
        );
        let hb = Pdu {
            header: Header::node(MsgType::HEARTBEAT_REQUEST, 0x4242),
            message: Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: RecoveryTimeStamp(7),
                unknown: Vec::new(),
            }),
        };
        upf.send_to(&hb.to_bytes(), from).unwrap();
        // The heartbeat answer and the retransmission, in either order.
        let mut saw_hb = None;
        let mut retransmitted = None;
        while saw_hb.is_none() || retransmitted.is_none() {
            let (p, _) = recv(&upf);
            match p.message {
                Message::HeartbeatResponse(r) => saw_hb = Some((p.header.sequence, r)),
                Message::AssociationSetupRequest(_) => retransmitted = Some(p.header.sequence),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(retransmitted, Some(first.header.sequence));
        // A stale response to another sequence first, then the real one.
        upf.send_to(&association_response(first.header.sequence + 100), from)
            .unwrap();
        upf.send_to(&association_response(first.header.sequence), from)
            .unwrap();
        saw_hb.unwrap()
    });
    let rsp = smf.associate().unwrap();
    assert_eq!(rsp.recovery_time_stamp, RecoveryTimeStamp(7));
    let (hb_seq, hb) = upf_thread.join().unwrap();
    assert_eq!(hb_seq, 0x4242);
    assert_eq!(hb.recovery_time_stamp, smf.recovery_time_stamp());
    assert_eq!(smf.heartbeats_answered(), 1);
    assert_eq!(smf.stray.len(), 1, "the stale response is kept aside");
}

#[test]
fn gives_up_after_n1_retransmissions() {
    let upf = fake_upf();
    let mut smf = smf_for(&upf);
    smf.n1 = 2;
    let counter = thread::spawn(move || {
        upf.set_read_timeout(Some(Duration::from_millis(600)))
            .unwrap();
        let mut n = 0;
        let mut buf = [0u8; 2048];
        while upf.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    });
    let err = smf.heartbeat().unwrap_err().to_string();
    assert!(err.contains("after 3 transmissions"), "{err}");
    assert_eq!(counter.join().unwrap(), 3);
}

#[test]
fn an_unparsable_response_is_an_error_with_its_octets() {
    let upf = fake_upf();
    let mut smf = smf_for(&upf);
    let t = thread::spawn(move || {
        let (req, from) = recv(&upf);
        // Association Setup Response without the mandatory Node ID.
        let mut out = Vec::new();
        Header::node(MsgType::ASSOCIATION_SETUP_RESPONSE, req.header.sequence).emit(&mut out);
        CauseIe(Cause::REQUEST_ACCEPTED).emit(&mut out);
        RecoveryTimeStamp(1).emit(&mut out);
        header::set_length(&mut out);
        upf.send_to(&out, from).unwrap();
    });
    let err = format!("{:#}", smf.associate().unwrap_err());
    t.join().unwrap();
    assert!(err.contains("does not parse"), "{err}");
    assert!(err.contains("20 06"), "the octets are shown: {err}");
}

#[test]
fn plans_encode_what_the_lab_needs() {
    let node = NodeId::Ipv4(LAB_RAN);
    // 5G: two uplink PDRs sharing CHOOSE ID 1, CHOOSE UE, QER on the downlink.
    let req = SessionPlan::five_g(0x5001, &[9, 5], 9).request(node.clone(), 77, LAB_RAN);
    let bytes = Pdu {
        header: Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 1),
        message: Message::SessionEstablishmentRequest(req.clone()),
    }
    .to_bytes();
    let back = Pdu::parse(&bytes).unwrap();
    assert_eq!(
        back.message,
        Message::SessionEstablishmentRequest(req.clone())
    );
    assert_eq!(req.create_pdr.len(), 3);
    let ul: Vec<_> = req
        .create_pdr
        .iter()
        .filter(|p| p.pdi.source_interface.0 == interface::ACCESS)
        .collect();
    assert_eq!(ul.len(), 2);
    for (p, q) in ul.iter().zip([9, 5]) {
        let f = p.pdi.f_teid.unwrap();
        assert!(f.choose && f.choose_v4 && f.choose_id == Some(1));
        assert_eq!(p.pdi.qfis, vec![Qfi(q)]);
        let ue = p.pdi.ue_ip_address.unwrap();
        assert!(ue.choose_v4 && !ue.destination);
        assert_eq!(p.outer_header_removal.unwrap().description, 0);
    }
    let dl = req.create_pdr.iter().find(|p| p.pdr_id == PdrId(PDR_DL));
    let dl = dl.unwrap();
    assert_eq!(dl.pdi.source_interface.0, interface::CORE);
    assert!(dl.pdi.ue_ip_address.unwrap().destination);
    assert_eq!(dl.qer_ids, vec![QerId(QER_DL)]);
    assert_eq!(req.create_qer[0].qfi, Some(Qfi(9)));
    let far = req
        .create_far
        .iter()
        .find(|f| f.far_id == FarId(FAR_DL))
        .unwrap();
    let fp = far.forwarding_parameters.as_ref().unwrap();
    assert_eq!(fp.destination_interface.0, interface::ACCESS);
    assert_eq!(fp.outer_header_creation, Some(gtpu(0x5001, LAB_RAN)));

    // 4G: fixed TEID with the N3 address, fixed UE, no QER.
    let req =
        SessionPlan::four_g(0x300, Ipv4Addr::new(10, 45, 1, 1), 0x3001).request(node, 78, LAB_RAN);
    assert!(req.create_qer.is_empty());
    let f = req.create_pdr[0].pdi.f_teid.unwrap();
    assert_eq!(
        (f.teid, f.ipv4, f.choose),
        (Some(0x300), Some(LAB_N3), false)
    );
    let m = req.create_urr[0].measurement_method;
    assert!(m.volume && m.duration);
}

#[test]
fn an_sdf_drop_pdr_outranks_the_forwarding_one() {
    let mut plan = SessionPlan::four_g(0x300, Ipv4Addr::new(10, 45, 1, 1), 0x3001);
    plan.ul_drop = Some("permit out 17 from 10.200.0.2 7777 to assigned".into());
    let (pdrs, fars, _, _) = plan.rules();
    let drop = pdrs
        .iter()
        .find(|p| p.pdr_id == PdrId(PDR_UL_DROP))
        .unwrap();
    let fwd = pdrs.iter().find(|p| p.pdr_id == PdrId(PDR_UL)).unwrap();
    assert!(drop.precedence.0 < fwd.precedence.0);
    assert_eq!(drop.far_id, Some(FarId(FAR_DROP)));
    assert_eq!(drop.pdi.sdf_filters.len(), 1);
    let far = fars.iter().find(|f| f.far_id == FarId(FAR_DROP)).unwrap();
    assert_eq!(far.apply_action.0, ApplyAction::DROP);
    assert!(far.forwarding_parameters.is_none());
}

#[test]
fn strip_ie_removes_a_mandatory_ie() {
    let req = SessionPlan::four_g(0x300, Ipv4Addr::new(10, 45, 1, 1), 0x3001).request(
        NodeId::Ipv4(LAB_RAN),
        1,
        LAB_RAN,
    );
    let mut bytes = Pdu {
        header: Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 9),
        message: Message::SessionEstablishmentRequest(req),
    }
    .to_bytes();
    assert_eq!(strip_ie(&mut bytes, types::CREATE_PDR), 2);
    let err = Pdu::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        upf_pfcp::ParseError::Ie(upf_pfcp::IeError::missing(types::CREATE_PDR))
    );
    assert_eq!(strip_ie(&mut bytes, types::NODE_ID), 1);
    let err = Pdu::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        upf_pfcp::ParseError::Ie(upf_pfcp::IeError::missing(types::NODE_ID))
    );
}

#[test]
fn flow_qers_sit_on_their_qfi_s_uplink_pdr_below_the_session_qer() {
    let mut p = SessionPlan::five_g(0x5001, &[9, 5], 9);
    p.mbr_kbps = Some((20_000, 30_000));
    p.flow_qers = vec![FlowQer {
        qfi: 5,
        mbr_kbps: (5_000, 6_000),
        gate_closed: (false, true),
    }];
    let req = p.request(NodeId::Ipv4(LAB_RAN), 79, LAB_RAN);
    let qers_of = |id: u16| {
        req.create_pdr
            .iter()
            .find(|c| c.pdr_id == PdrId(id))
            .unwrap()
            .qer_ids
            .clone()
    };
    // PDR_UL matches QFI 9, PDR_UL + 1 QFI 5.
    assert_eq!(qers_of(PDR_UL), vec![QerId(QER_SESSION)]);
    assert_eq!(
        qers_of(PDR_UL + 1),
        vec![QerId(QER_SESSION), QerId(QER_FLOW)]
    );
    assert_eq!(qers_of(PDR_DL), vec![QerId(QER_DL), QerId(QER_SESSION)]);
    let flow = req
        .create_qer
        .iter()
        .find(|q| q.qer_id == QerId(QER_FLOW))
        .unwrap();
    assert_eq!(flow.qfi, Some(Qfi(5)));
    assert_eq!(
        flow.mbr,
        Some(Mbr(Bitrate {
            ul: 5_000,
            dl: 6_000
        }))
    );
    assert_eq!(flow.gate_status, GateStatus { ul: 0, dl: 1 });
    assert_eq!(req.create_qer.len(), 3, "QFI, session and flow QERs");
}

#[test]
fn modification_builders() {
    let m = move_downlink(FAR_DL, 0x3002, LAB_RAN, true);
    let u = m.update_far[0]
        .update_forwarding_parameters
        .as_ref()
        .unwrap();
    assert_eq!(u.outer_header_creation, Some(gtpu(0x3002, LAB_RAN)));
    assert_eq!(
        u.pfcpsm_req_flags,
        Some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM))
    );
    assert_eq!(query_urr(URR).query_urr[0].urr_id, UrrId(URR));
    assert_eq!(remove_pdr(7).remove_pdr[0].pdr_id, PdrId(7));
    let q = &update_qer(QER_SESSION, Some((false, true)), None).update_qer[0];
    assert_eq!(q.qer_id, QerId(QER_SESSION));
    assert_eq!(q.gate_status, Some(GateStatus { ul: 0, dl: 1 }));
    assert_eq!(q.mbr, None, "an MBR left out stays unchanged");
    let q = &update_mbr(1_000, 2_000).update_qer[0];
    assert_eq!(q.gate_status, None);
    assert_eq!(
        q.mbr,
        Some(Mbr(Bitrate {
            ul: 1_000,
            dl: 2_000
        }))
    );
    // Both encode and parse back as a Session Modification Request.
    let req = update_qer(QER_SESSION, Some((true, false)), Some((5, 6)));
    let mut body = Vec::new();
    Message::SessionModificationRequest(req.clone()).emit(&mut body);
    match Message::parse(MsgType::SESSION_MODIFICATION_REQUEST, &body).unwrap() {
        Message::SessionModificationRequest(back) => assert_eq!(back, req),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sequence_numbers_wrap_within_24_bits() {
    let upf = fake_upf();
    let mut smf = smf_for(&upf);
    smf.seq = 0x00ff_fffe;
    assert_eq!(smf.next_seq(), 0x00ff_ffff);
    assert_eq!(smf.next_seq(), 1);
}

#[test]
fn session_report_requests_are_answered_and_kept_once() {
    let upf = fake_upf();
    let smf = smf_for(&upf);
    let smf_addr = SocketAddr::new(LOOPBACK.into(), smf.sock.local_addr().unwrap().port());
    let report = |seq: u32| {
        Pdu {
            header: Header::session(MsgType::SESSION_REPORT_REQUEST, 0x77, seq),
            message: Message::SessionReportRequest(SessionReportRequest {
                report_type: upf_pfcp::ie::ReportType(upf_pfcp::ie::ReportType::USAR),
                usage_report: Vec::new(),
                load_control_information: None,
                overload_control_information: None,
                unknown: Vec::new(),
            }),
        }
        .to_bytes()
    };
    let answer = |seq: u32| -> Cause {
        upf.send_to(&report(seq), smf_addr).unwrap();
        let (rsp, _) = recv(&upf);
        assert_eq!(rsp.header.sequence, seq);
        match rsp.message {
            Message::SessionReportResponse(r) => r.cause,
            other => panic!("{other:?}"),
        }
    };
    // CP SEID 0x77 was never opened.
    assert_eq!(answer(1), Cause::SESSION_CONTEXT_NOT_FOUND);
    smf.set_report_answer(Some(Cause::REQUEST_ACCEPTED));
    assert_eq!(answer(2), Cause::REQUEST_ACCEPTED);
    assert_eq!(answer(2), Cause::REQUEST_ACCEPTED, "a retransmission");
    smf.set_report_answer(None);
    upf.send_to(&report(3), smf_addr).unwrap();
    let got = smf
        .wait_session_report(Duration::from_secs(2), |h, _| h.sequence == 3)
        .expect("the unanswered one is kept too");
    assert_eq!(got.0.seid, Some(0x77));
    upf.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(upf.recv_from(&mut buf).is_err(), "no answer");
    let seqs: Vec<u32> = smf
        .session_reports()
        .iter()
        .map(|(h, _)| h.sequence)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}
