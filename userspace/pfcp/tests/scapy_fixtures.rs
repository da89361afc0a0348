//! Messages encoded by an independent implementation (scapy 2.6.1's PFCP
//! layers, see fixtures/gen_scapy.py for the values and how to regenerate),
//! parsed and checked field by field, then re-emitted octet for octet.

use std::net::Ipv4Addr;

use upf_pfcp::flow::{FlowAddress, FlowDescription};
use upf_pfcp::ie::*;
use upf_pfcp::{Cause, Message, MsgType, Pdu};

const RTS: u32 = 3_900_000_000;
const SEID: u64 = 0x1122_3344_5566_7788;

fn fixture(hex: &str) -> Vec<u8> {
    let hex = hex.trim();
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Parses a fixture and checks that emitting it again gives the same octets
/// (scapy writes IEs in the spec's order, as we do).
fn parse(hex: &str) -> Pdu {
    let bytes = fixture(hex);
    let pdu = Pdu::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pdu.to_bytes(), bytes, "re-emitted octets differ");
    pdu
}

#[test]
fn heartbeat_request() {
    let pdu = parse(include_str!("fixtures/heartbeat_request.hex"));
    assert_eq!(pdu.header.message_type, MsgType::HEARTBEAT_REQUEST);
    assert_eq!(pdu.header.seid, None);
    assert_eq!(pdu.header.sequence, 1);
    assert_eq!(pdu.header.priority, None);
    let Message::HeartbeatRequest(m) = pdu.message else {
        panic!("{:?}", pdu.message)
    };
    assert_eq!(m.recovery_time_stamp, RecoveryTimeStamp(RTS));
    assert!(m.unknown.is_empty());
}

#[test]
fn association_setup_request() {
    let pdu = parse(include_str!("fixtures/association_setup_request.hex"));
    assert_eq!(pdu.header.sequence, 2);
    let Message::AssociationSetupRequest(m) = pdu.message else {
        panic!("{:?}", pdu.message)
    };
    assert_eq!(m.node_id, NodeId::Ipv4(Ipv4Addr::new(192, 0, 2, 10)));
    assert_eq!(m.recovery_time_stamp, RecoveryTimeStamp(RTS));
    // FTUP (octet 5 bit 5) + BUCP (octet 5 bit 1); EMPU (octet 6 bit 1).
    assert_eq!(
        m.up_function_features,
        Some(UpFunctionFeatures(vec![0x11, 0x01]))
    );
    assert_eq!(m.cp_function_features, None);
    assert!(m.user_plane_ip_resource_information.is_empty());
    assert!(m.unknown.is_empty());
}

#[test]
fn session_establishment_request() {
    let pdu = parse(include_str!("fixtures/session_establishment_request.hex"));
    assert_eq!(
        pdu.header.message_type,
        MsgType::SESSION_ESTABLISHMENT_REQUEST
    );
    assert_eq!(pdu.header.seid, Some(SEID));
    assert_eq!(pdu.header.sequence, 3);
    let Message::SessionEstablishmentRequest(m) = pdu.message else {
        panic!("{:?}", pdu.message)
    };
    assert_eq!(m.node_id, NodeId::Fqdn("smf.example.net".into()));
    assert_eq!(
        m.cp_f_seid,
        Fseid {
            seid: 0xabc,
            ipv4: Some(Ipv4Addr::new(198, 51, 100, 7)),
            ipv6: None
        }
    );
    assert!(m.unknown.is_empty());
    assert_eq!(m.pdn_type, None);

    assert_eq!(m.create_pdr.len(), 2);
    let ul = &m.create_pdr[0];
    assert_eq!(ul.pdr_id, PdrId(1));
    assert_eq!(ul.precedence, Precedence(200));
    assert_eq!(ul.pdi.source_interface, SourceInterface(interface::ACCESS));
    assert_eq!(ul.pdi.f_teid, Some(FTeid::choose_ipv4(Some(5))));
    assert_eq!(
        ul.pdi.network_instance,
        Some(NetworkInstance(b"\x08internet".to_vec()))
    );
    assert_eq!(ul.pdi.qfis, vec![Qfi(9)]);
    assert_eq!(ul.pdi.sdf_filters.len(), 1);
    let sdf = &ul.pdi.sdf_filters[0];
    let text = sdf.flow_description.as_deref().unwrap();
    assert_eq!(
        text,
        "permit out 17 from 10.0.0.0/8 1000-2000 to assigned 80"
    );
    assert_eq!(sdf.tos_traffic_class, None);
    assert_eq!(sdf.security_parameter_index, None);
    assert_eq!(sdf.flow_label, None);
    assert_eq!(sdf.sdf_filter_id, None);
    let flow = FlowDescription::parse(text).unwrap();
    assert_eq!(flow.protocol, Some(17));
    assert_eq!(flow.src, FlowAddress::V4(Ipv4Addr::new(10, 0, 0, 0), 8));
    assert_eq!(flow.src_ports, vec![(1000, 2000)]);
    assert_eq!(flow.dst, FlowAddress::Assigned);
    assert_eq!(flow.dst_ports, vec![(80, 80)]);
    assert_eq!(ul.pdi.ue_ip_address, None);
    assert_eq!(
        ul.outer_header_removal,
        Some(OuterHeaderRemoval {
            description: 0,
            ext_header_deletion: None
        })
    );
    assert_eq!(ul.far_id, Some(FarId(1)));
    assert_eq!(ul.urr_ids, vec![UrrId(1)]);
    assert_eq!(ul.qer_ids, vec![QerId(1)]);
    assert!(ul.unknown.is_empty() && ul.pdi.unknown.is_empty());

    let dl = &m.create_pdr[1];
    assert_eq!(dl.pdr_id, PdrId(2));
    assert_eq!(dl.pdi.source_interface, SourceInterface(interface::CORE));
    assert_eq!(dl.pdi.f_teid, None);
    assert_eq!(
        dl.pdi.ue_ip_address,
        Some(UeIpAddress {
            ipv4: Some(Ipv4Addr::new(10, 45, 0, 2)),
            destination: true,
            ..Default::default()
        })
    );
    assert_eq!(dl.far_id, Some(FarId(2)));
    assert_eq!(dl.urr_ids, vec![]);
    assert_eq!(dl.qer_ids, vec![QerId(1)]);

    assert_eq!(m.create_far.len(), 2);
    let far1 = &m.create_far[0];
    assert_eq!(far1.far_id, FarId(1));
    assert_eq!(far1.apply_action, ApplyAction(ApplyAction::FORW));
    let fp1 = far1.forwarding_parameters.as_ref().unwrap();
    assert_eq!(
        fp1.destination_interface,
        DestinationInterface(interface::CORE)
    );
    assert_eq!(fp1.outer_header_creation, None);
    let far2 = &m.create_far[1];
    assert_eq!(far2.far_id, FarId(2));
    let fp2 = far2.forwarding_parameters.as_ref().unwrap();
    assert_eq!(
        fp2.destination_interface,
        DestinationInterface(interface::ACCESS)
    );
    assert_eq!(
        fp2.outer_header_creation,
        Some(OuterHeaderCreation {
            description: OuterHeaderCreation::GTPU_UDP_IPV4,
            teid: Some(0xbeef),
            ipv4: Some(Ipv4Addr::new(203, 0, 113, 5)),
            ..Default::default()
        })
    );

    assert_eq!(m.create_urr.len(), 1);
    let urr = &m.create_urr[0];
    assert_eq!(urr.urr_id, UrrId(1));
    assert_eq!(
        urr.measurement_method,
        MeasurementMethod {
            duration: true,
            volume: true,
            event: false
        }
    );
    assert_eq!(
        urr.reporting_triggers,
        ReportingTriggers(
            ReportingTriggers::PERIO | ReportingTriggers::VOLTH | ReportingTriggers::VOLQU
        )
    );
    assert_eq!(urr.measurement_period, Some(MeasurementPeriod(60)));
    assert_eq!(
        urr.volume_threshold,
        Some(VolumeThreshold(Volume {
            total: Some(1_000_000),
            uplink: Some(400_000),
            downlink: Some(600_000)
        }))
    );
    assert_eq!(
        urr.volume_quota,
        Some(VolumeQuota(Volume {
            total: Some(5_000_000),
            uplink: None,
            downlink: None
        }))
    );
    assert_eq!(urr.time_threshold, None);
    assert_eq!(urr.time_quota, None);

    assert_eq!(m.create_qer.len(), 1);
    let qer = &m.create_qer[0];
    assert_eq!(qer.qer_id, QerId(1));
    assert_eq!(qer.gate_status, GateStatus { ul: 0, dl: 1 });
    assert_eq!(
        qer.mbr,
        Some(Mbr(Bitrate {
            ul: 100_000,
            dl: 200_000
        }))
    );
    assert_eq!(
        qer.gbr,
        Some(Gbr(Bitrate {
            ul: 50_000,
            dl: 60_000
        }))
    );
    assert_eq!(qer.qfi, Some(Qfi(9)));
    assert_eq!(qer.rqi, None);
}

#[test]
fn session_modification_request() {
    let pdu = parse(include_str!("fixtures/session_modification_request.hex"));
    assert_eq!(pdu.header.seid, Some(SEID));
    assert_eq!(pdu.header.sequence, 4);
    let Message::SessionModificationRequest(m) = pdu.message else {
        panic!("{:?}", pdu.message)
    };
    assert_eq!(m.remove_pdr, vec![RemovePdr { pdr_id: PdrId(3) }]);
    assert_eq!(m.query_urr, vec![QueryUrr { urr_id: UrrId(1) }]);
    assert_eq!(m.update_far.len(), 1);
    let far = &m.update_far[0];
    assert_eq!(far.far_id, FarId(2));
    assert_eq!(far.apply_action, Some(ApplyAction(ApplyAction::FORW)));
    let ufp = far.update_forwarding_parameters.as_ref().unwrap();
    assert_eq!(
        ufp.destination_interface,
        Some(DestinationInterface(interface::ACCESS))
    );
    assert_eq!(
        ufp.outer_header_creation,
        Some(OuterHeaderCreation {
            description: OuterHeaderCreation::GTPU_UDP_IPV4,
            teid: Some(0xcafe),
            ipv4: Some(Ipv4Addr::new(203, 0, 113, 9)),
            ..Default::default()
        })
    );
    assert_eq!(
        ufp.pfcpsm_req_flags,
        Some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM))
    );
    assert_eq!(m.cp_f_seid, None);
    assert!(m.create_pdr.is_empty() && m.update_pdr.is_empty() && m.remove_far.is_empty());
    assert!(m.unknown.is_empty());
}

#[test]
fn session_deletion_response() {
    let pdu = parse(include_str!("fixtures/session_deletion_response.hex"));
    assert_eq!(pdu.header.sequence, 5);
    let Message::SessionDeletionResponse(m) = pdu.message else {
        panic!("{:?}", pdu.message)
    };
    assert_eq!(m.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(m.offending_ie, None);
    assert_eq!(m.usage_report.len(), 1);
    let r = &m.usage_report[0];
    assert_eq!(r.urr_id, UrrId(1));
    assert_eq!(r.ur_seqn, UrSeqn(4));
    assert_eq!(
        r.usage_report_trigger,
        UsageReportTrigger(UsageReportTrigger::TERMR)
    );
    assert_eq!(r.start_time, Some(StartTime(RTS)));
    assert_eq!(r.end_time, Some(EndTime(RTS + 600)));
    assert_eq!(
        r.volume_measurement,
        Some(VolumeMeasurement {
            total_volume: Some(3000),
            uplink_volume: Some(1000),
            downlink_volume: Some(2000),
            ..Default::default()
        })
    );
    assert_eq!(r.duration_measurement, Some(DurationMeasurement(600)));
    assert_eq!(r.time_of_first_packet, None);
    assert!(r.unknown.is_empty());
}

#[test]
fn vendor_specific_ie_is_kept() {
    let pdu = parse(include_str!("fixtures/vendor_specific.hex"));
    let Message::HeartbeatRequest(m) = pdu.message else {
        panic!("{:?}", pdu.message)
    };
    assert_eq!(m.recovery_time_stamp, RecoveryTimeStamp(RTS));
    assert_eq!(
        m.unknown,
        vec![RawIe {
            ie_type: 0x8001,
            enterprise_id: Some(32473),
            value: vec![1, 2, 3],
        }]
    );
}
