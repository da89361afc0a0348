//! Fully populated sample values shared by the tests: one per IE (several
//! where flags change the layout) and one per message type.
#![allow(dead_code)]

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

use upf_pfcp::ie::types;
use upf_pfcp::ie::*;
use upf_pfcp::message::*;
use upf_pfcp::{Cause, Header, Message, MsgType, Pdu};

pub const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const V4B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

/// Something that is given every typed IE sample.
pub trait IeVisitor {
    fn visit<T: IeValue + PartialEq + Debug + Clone>(&mut self, sample: T);
}

/// A raw IE of a type the codec does not model where it is used, and that
/// tshark knows: User Plane Inactivity Timer (117).
pub fn raw_timer() -> RawIe {
    RawIe {
        ie_type: types::USER_PLANE_INACTIVITY_TIMER,
        enterprise_id: None,
        value: vec![0, 0, 0, 60],
    }
}

/// A vendor-specific IE (enterprise bit set).
pub fn raw_vendor() -> RawIe {
    RawIe {
        ie_type: 0x8000 | 200,
        enterprise_id: Some(32473),
        value: vec![0xde, 0xad, 0xbe, 0xef],
    }
}

/// Transport Level Marking (30), a child of Forwarding Parameters we do not model.
pub fn raw_tlm() -> RawIe {
    RawIe {
        ie_type: types::TRANSPORT_LEVEL_MARKING,
        enterprise_id: None,
        value: vec![0xb8, 0xfc],
    }
}

pub fn fteid_plain() -> FTeid {
    FTeid {
        teid: Some(0x1234_5678),
        ipv4: Some(V4),
        ipv6: Some(V6),
        choose: false,
        choose_v4: false,
        choose_v6: false,
        choose_id: None,
    }
}

pub fn fteid_choose() -> FTeid {
    FTeid {
        teid: None,
        ipv4: None,
        ipv6: None,
        choose: true,
        choose_v4: true,
        choose_v6: true,
        choose_id: Some(7),
    }
}

pub fn ue_ip_full() -> UeIpAddress {
    UeIpAddress {
        ipv4: Some(Ipv4Addr::new(10, 45, 0, 2)),
        ipv6: Some(V6),
        destination: true,
        choose_v4: false,
        choose_v6: false,
        ipv6_prefix_delegation_bits: Some(8),
        ipv6_prefix_length: Some(64),
    }
}

pub fn ue_ip_choose() -> UeIpAddress {
    UeIpAddress {
        choose_v4: true,
        choose_v6: true,
        ..Default::default()
    }
}

pub fn sdf_full() -> SdfFilter {
    SdfFilter {
        flow_description: Some("permit out 17 from 10.0.0.0/8 1000-2000 to assigned 80".into()),
        tos_traffic_class: Some(0xb8fc),
        security_parameter_index: Some(0x0102_0304),
        flow_label: Some(0x0a_bcde),
        sdf_filter_id: Some(42),
    }
}

pub fn ohc_gtpu() -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::GTPU_UDP_IPV4 | OuterHeaderCreation::GTPU_UDP_IPV6,
        teid: Some(0xcafe_0001),
        ipv4: Some(V4B),
        ipv6: Some(V6),
        ..Default::default()
    }
}

pub fn ohc_udp_tags() -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::UDP_IPV4
            | OuterHeaderCreation::C_TAG
            | OuterHeaderCreation::S_TAG
            | OuterHeaderCreation::N6,
        ipv4: Some(V4B),
        port: Some(2152),
        c_tag: Some(0x01_0064),
        s_tag: Some(0x02_00c8),
        ..Default::default()
    }
}

pub fn volume() -> Volume {
    Volume {
        total: Some(10_000_000),
        uplink: Some(4_000_000),
        downlink: Some(6_000_000),
    }
}

pub fn volume_measurement() -> VolumeMeasurement {
    VolumeMeasurement {
        total_volume: Some(3000),
        uplink_volume: Some(1000),
        downlink_volume: Some(2000),
        total_packets: Some(30),
        uplink_packets: Some(10),
        downlink_packets: Some(20),
    }
}

pub fn upiri() -> UserPlaneIpResourceInformation {
    UserPlaneIpResourceInformation {
        teid_range: Some((2, 1)),
        ipv4: Some(V4),
        ipv6: Some(V6),
        network_instance: Some(b"\x08internet".to_vec()),
        source_interface: Some(interface::ACCESS),
    }
}

pub fn pdi_uplink() -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::ACCESS),
        f_teid: Some(fteid_choose()),
        network_instance: Some(NetworkInstance(b"\x08internet".to_vec())),
        ue_ip_address: Some(UeIpAddress {
            ipv4: Some(Ipv4Addr::new(10, 45, 0, 2)),
            ..Default::default()
        }),
        sdf_filters: vec![
            sdf_full(),
            SdfFilter {
                flow_description: Some("permit out ip from any to assigned".into()),
                ..Default::default()
            },
        ],
        application_id: Some(ApplicationId(b"app-1".to_vec())),
        qfis: vec![Qfi(9), Qfi(5)],
        interface_type: Some(InterfaceType(11)),
        unknown: vec![raw_vendor()],
    }
}

pub fn pdi_downlink() -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::CORE),
        f_teid: None,
        network_instance: Some(NetworkInstance(b"\x08internet".to_vec())),
        ue_ip_address: Some(ue_ip_full()),
        sdf_filters: vec![],
        application_id: None,
        qfis: vec![],
        interface_type: None,
        unknown: vec![],
    }
}

pub fn create_pdr(id: u16, pdi: Pdi) -> CreatePdr {
    CreatePdr {
        pdr_id: PdrId(id),
        precedence: Precedence(255),
        pdi,
        outer_header_removal: Some(OuterHeaderRemoval {
            description: 0,
            ext_header_deletion: Some(1),
        }),
        far_id: Some(FarId(u32::from(id))),
        urr_ids: vec![UrrId(1), UrrId(2)],
        qer_ids: vec![QerId(1), QerId(2)],
        activate_predefined_rules: vec![ActivatePredefinedRules(b"rule-a".to_vec())],
        unknown: vec![raw_vendor()],
    }
}

pub fn forwarding_parameters() -> ForwardingParameters {
    ForwardingParameters {
        destination_interface: DestinationInterface(interface::ACCESS),
        network_instance: Some(NetworkInstance(b"\x03ran".to_vec())),
        outer_header_creation: Some(ohc_gtpu()),
        interface_type: Some(InterfaceType(11)),
        unknown: vec![raw_tlm()],
    }
}

pub fn create_far(id: u32) -> CreateFar {
    CreateFar {
        far_id: FarId(id),
        apply_action: ApplyAction(ApplyAction::FORW | ApplyAction::BDPN),
        forwarding_parameters: Some(forwarding_parameters()),
        bar_id: Some(BarId(1)),
        unknown: vec![raw_vendor()],
    }
}

pub fn create_urr(id: u32) -> CreateUrr {
    CreateUrr {
        reporting_triggers: ReportingTriggers(
            ReportingTriggers::PERIO
                | ReportingTriggers::VOLTH
                | ReportingTriggers::VOLQU
                | ReportingTriggers::QUVTI
                | (1 << 16),
        ),
        measurement_period: Some(MeasurementPeriod(60)),
        volume_threshold: Some(VolumeThreshold(volume())),
        volume_quota: Some(VolumeQuota(volume())),
        time_threshold: Some(TimeThreshold(600)),
        time_quota: Some(TimeQuota(3600)),
        unknown: vec![raw_vendor()],
        ..CreateUrr::new(
            UrrId(id),
            MeasurementMethod {
                duration: true,
                volume: true,
                event: true,
            },
        )
    }
}

pub fn create_qer(id: u32) -> CreateQer {
    CreateQer {
        qer_id: QerId(id),
        qer_correlation_id: Some(QerCorrelationId(77)),
        gate_status: GateStatus { ul: 0, dl: 1 },
        mbr: Some(Mbr(Bitrate {
            ul: 100_000,
            dl: 200_000,
        })),
        gbr: Some(Gbr(Bitrate {
            ul: 50_000,
            dl: (1 << 40) - 1,
        })),
        qfi: Some(Qfi(9)),
        rqi: Some(Rqi(true)),
        unknown: vec![raw_vendor()],
    }
}

pub fn created_pdr() -> CreatedPdr {
    CreatedPdr {
        pdr_id: PdrId(1),
        local_f_teid: Some(FTeid {
            ipv6: None,
            choose_id: None,
            ..fteid_plain()
        }),
        ue_ip_address: Some(UeIpAddress {
            ipv4: Some(Ipv4Addr::new(10, 45, 0, 3)),
            ..Default::default()
        }),
        unknown: vec![raw_vendor()],
    }
}

pub fn update_pdr() -> UpdatePdr {
    UpdatePdr {
        pdr_id: PdrId(2),
        outer_header_removal: Some(OuterHeaderRemoval {
            description: 0,
            ext_header_deletion: None,
        }),
        precedence: Some(Precedence(100)),
        pdi: Some(pdi_downlink()),
        far_id: Some(FarId(3)),
        urr_ids: vec![UrrId(3)],
        qer_ids: vec![QerId(3)],
        activate_predefined_rules: vec![ActivatePredefinedRules(b"rule-b".to_vec())],
        deactivate_predefined_rules: vec![DeactivatePredefinedRules(b"rule-a".to_vec())],
        unknown: vec![raw_vendor()],
    }
}

pub fn update_fp() -> UpdateForwardingParameters {
    UpdateForwardingParameters {
        destination_interface: Some(DestinationInterface(interface::ACCESS)),
        network_instance: Some(NetworkInstance(b"\x03ran".to_vec())),
        outer_header_creation: Some(OuterHeaderCreation {
            description: OuterHeaderCreation::GTPU_UDP_IPV4,
            teid: Some(0x0bad_f00d),
            ipv4: Some(V4),
            ..Default::default()
        }),
        pfcpsm_req_flags: Some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM)),
        interface_type: Some(InterfaceType(11)),
        unknown: vec![raw_tlm()],
    }
}

pub fn update_far() -> UpdateFar {
    UpdateFar {
        far_id: FarId(2),
        apply_action: Some(ApplyAction(ApplyAction::FORW)),
        update_forwarding_parameters: Some(update_fp()),
        bar_id: Some(BarId(2)),
        unknown: vec![raw_vendor()],
    }
}

pub fn update_urr() -> UpdateUrr {
    let c = create_urr(1);
    UpdateUrr {
        urr_id: c.urr_id,
        measurement_method: Some(c.measurement_method),
        reporting_triggers: Some(ReportingTriggers(ReportingTriggers::VOLTH)),
        measurement_period: c.measurement_period,
        volume_threshold: c.volume_threshold,
        volume_quota: c.volume_quota,
        time_threshold: c.time_threshold,
        time_quota: c.time_quota,
        unknown: vec![raw_vendor()],
    }
}

pub fn update_qer() -> UpdateQer {
    let c = create_qer(1);
    UpdateQer {
        qer_id: c.qer_id,
        qer_correlation_id: c.qer_correlation_id,
        gate_status: Some(GateStatus { ul: 1, dl: 0 }),
        mbr: c.mbr,
        gbr: c.gbr,
        qfi: c.qfi,
        rqi: Some(Rqi(false)),
        unknown: vec![raw_vendor()],
    }
}

pub fn usage_report(urr: u32) -> UsageReport {
    UsageReport {
        urr_id: UrrId(urr),
        ur_seqn: UrSeqn(3),
        usage_report_trigger: UsageReportTrigger(
            UsageReportTrigger::TERMR | UsageReportTrigger::VOLTH | UsageReportTrigger::EVEQU,
        ),
        start_time: Some(StartTime(3_900_000_000)),
        end_time: Some(EndTime(3_900_000_600)),
        volume_measurement: Some(volume_measurement()),
        duration_measurement: Some(DurationMeasurement(600)),
        time_of_first_packet: Some(TimeOfFirstPacket(3_900_000_001)),
        time_of_last_packet: Some(TimeOfLastPacket(3_900_000_599)),
        unknown: vec![raw_vendor()],
    }
}

pub fn load_control() -> LoadControlInformation {
    LoadControlInformation {
        sequence_number: SequenceNumber(5),
        metric: Metric(40),
    }
}

pub fn overload_control() -> OverloadControlInformation {
    OverloadControlInformation {
        sequence_number: SequenceNumber(6),
        metric: Metric(20),
        timer: Timer(0x21),
        oci_flags: Some(OciFlags(1)),
    }
}

pub fn path_failure() -> UserPlanePathFailureReport {
    UserPlanePathFailureReport {
        remote_peers: vec![
            RemoteGtpuPeer {
                ipv4: Some(V4B),
                ipv6: None,
            },
            RemoteGtpuPeer {
                ipv4: Some(V4),
                ipv6: Some(V6),
            },
        ],
    }
}

/// Every typed IE, fully populated, several layouts where flags differ.
pub fn visit_ie_samples(v: &mut impl IeVisitor) {
    v.visit(NodeId::Ipv4(V4));
    v.visit(NodeId::Ipv6(V6));
    v.visit(NodeId::Fqdn("upf1.core.example.net".into()));
    v.visit(RecoveryTimeStamp(3_900_000_000));
    v.visit(Fseid {
        seid: 0x0102_0304_0506_0708,
        ipv4: Some(V4),
        ipv6: Some(V6),
    });
    v.visit(Fseid {
        seid: 1,
        ipv4: None,
        ipv6: Some(V6),
    });
    v.visit(fteid_plain());
    v.visit(fteid_choose());
    v.visit(FTeid {
        choose_v6: false,
        choose_id: None,
        ..fteid_choose()
    });
    v.visit(SourceInterface(interface::CORE));
    v.visit(DestinationInterface(interface::SGI_LAN));
    v.visit(NetworkInstance(b"\x08internet\x03mnc".to_vec()));
    v.visit(ue_ip_full());
    v.visit(ue_ip_choose());
    v.visit(sdf_full());
    v.visit(SdfFilter {
        sdf_filter_id: Some(9),
        ..Default::default()
    });
    v.visit(ApplicationId(b"app".to_vec()));
    v.visit(GateStatus { ul: 1, dl: 1 });
    v.visit(Mbr(Bitrate {
        ul: (1 << 40) - 1,
        dl: 1,
    }));
    v.visit(Gbr(Bitrate { ul: 2, dl: 3 }));
    v.visit(Precedence(u32::MAX));
    v.visit(VolumeThreshold(volume()));
    v.visit(VolumeThreshold(Volume {
        total: None,
        uplink: None,
        downlink: Some(5),
    }));
    v.visit(VolumeQuota(volume()));
    v.visit(TimeThreshold(10));
    v.visit(TimeQuota(20));
    v.visit(MeasurementPeriod(30));
    v.visit(ReportingTriggers(0x00ff_ffff & !0x00fc_0000));
    v.visit(ReportingTriggers(ReportingTriggers::PERIO));
    v.visit(UsageReportTrigger(0x0003_ffff));
    v.visit(UsageReportTrigger(UsageReportTrigger::IMMER));
    v.visit(MeasurementMethod {
        duration: true,
        volume: false,
        event: true,
    });
    v.visit(volume_measurement());
    v.visit(DurationMeasurement(40));
    v.visit(StartTime(1));
    v.visit(EndTime(2));
    v.visit(TimeOfFirstPacket(3));
    v.visit(TimeOfLastPacket(4));
    v.visit(UrSeqn(5));
    v.visit(CauseIe(Cause::REQUEST_ACCEPTED));
    v.visit(CauseIe(Cause::MANDATORY_IE_MISSING));
    v.visit(OffendingIe(types::F_TEID));
    v.visit(ApplyAction(ApplyAction::DROP));
    v.visit(ApplyAction(
        ApplyAction::FORW | ApplyAction::NOCP | ApplyAction::DDPN,
    ));
    v.visit(OuterHeaderRemoval {
        description: 6,
        ext_header_deletion: Some(1),
    });
    v.visit(OuterHeaderRemoval {
        description: 0,
        ext_header_deletion: None,
    });
    v.visit(ohc_gtpu());
    v.visit(ohc_udp_tags());
    v.visit(OuterHeaderCreation {
        description: OuterHeaderCreation::IPV6 | OuterHeaderCreation::UDP_IPV6,
        ipv6: Some(V6),
        port: Some(9),
        ..Default::default()
    });
    v.visit(Qfi(63));
    v.visit(Rqi(true));
    v.visit(InterfaceType(15));
    v.visit(PdrId(0xffff));
    v.visit(FarId(0x8000_0001));
    v.visit(QerId(3));
    v.visit(UrrId(4));
    v.visit(QerCorrelationId(5));
    v.visit(BarId(6));
    v.visit(ActivatePredefinedRules(b"pre".to_vec()));
    v.visit(DeactivatePredefinedRules(b"pre".to_vec()));
    v.visit(FailedRuleId {
        rule_type: FailedRuleId::PDR,
        id: 0xfffe,
    });
    v.visit(FailedRuleId {
        rule_type: FailedRuleId::FAR,
        id: 0x1234_5678,
    });
    v.visit(FailedRuleId {
        rule_type: FailedRuleId::QER,
        id: 2,
    });
    v.visit(FailedRuleId {
        rule_type: FailedRuleId::URR,
        id: 3,
    });
    v.visit(FailedRuleId {
        rule_type: FailedRuleId::BAR,
        id: 4,
    });
    v.visit(UpFunctionFeatures(vec![0x11, 0x01, 0x00, 0x20]));
    v.visit(CpFunctionFeatures(vec![0x01]));
    v.visit(upiri());
    v.visit(UserPlaneIpResourceInformation {
        ipv4: Some(V4),
        ..Default::default()
    });
    v.visit(UserPlaneIpResourceInformation {
        source_interface: Some(interface::CORE),
        ..Default::default()
    });
    v.visit(PfcpsmReqFlags(
        PfcpsmReqFlags::DROBU | PfcpsmReqFlags::SNDEM | PfcpsmReqFlags::QAURR,
    ));
    v.visit(ReportType(ReportType::USAR | ReportType::ERIR));
    v.visit(NodeReportType(1));
    v.visit(RemoteGtpuPeer {
        ipv4: Some(V4),
        ipv6: Some(V6),
    });
    v.visit(SequenceNumber(7));
    v.visit(Metric(100));
    v.visit(Timer(0x3f));
    v.visit(OciFlags(1));
    v.visit(PdnType(5));
    // Grouped.
    v.visit(pdi_uplink());
    v.visit(pdi_downlink());
    v.visit(create_pdr(1, pdi_uplink()));
    v.visit(create_pdr(2, pdi_downlink()));
    v.visit(forwarding_parameters());
    v.visit(create_far(1));
    v.visit(create_urr(1));
    v.visit(create_qer(1));
    v.visit(created_pdr());
    v.visit(update_pdr());
    v.visit(update_fp());
    v.visit(update_far());
    v.visit(update_urr());
    v.visit(update_qer());
    v.visit(RemovePdr { pdr_id: PdrId(1) });
    v.visit(RemoveFar { far_id: FarId(1) });
    v.visit(RemoveUrr { urr_id: UrrId(1) });
    v.visit(RemoveQer { qer_id: QerId(1) });
    v.visit(QueryUrr { urr_id: UrrId(1) });
    v.visit(load_control());
    v.visit(overload_control());
    v.visit(path_failure());
}

fn node(t: MsgType, seq: u32) -> Header {
    Header::node(t, seq)
}

fn session(t: MsgType, seq: u32) -> Header {
    Header {
        priority: Some(7),
        ..Header::session(t, 0x1122_3344_5566_7788, seq)
    }
}

/// One fully populated PDU per message type the codec models. With
/// `with_unknown`, also a message type it does not model.
pub fn all_messages(with_unknown: bool) -> Vec<Pdu> {
    let node_id = NodeId::Fqdn("smf.example.net".into());
    let up_id = NodeId::Ipv4(V4);
    let rts = RecoveryTimeStamp(3_900_000_000);
    let source_ip = RawIe {
        ie_type: types::SOURCE_IP_ADDRESS,
        enterprise_id: None,
        value: vec![0x02, 192, 0, 2, 10],
    };
    let cp_seid = Fseid {
        seid: 0xa1a2_a3a4_a5a6_a7a8,
        ipv4: Some(V4B),
        ipv6: Some(V6),
    };
    let mut v = vec![
        Pdu {
            header: node(MsgType::HEARTBEAT_REQUEST, 1),
            message: Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: rts,
                unknown: vec![source_ip.clone()],
            }),
        },
        Pdu {
            header: node(MsgType::HEARTBEAT_RESPONSE, 1),
            message: Message::HeartbeatResponse(HeartbeatResponse {
                recovery_time_stamp: rts,
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::ASSOCIATION_SETUP_REQUEST, 2),
            message: Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: up_id.clone(),
                recovery_time_stamp: rts,
                up_function_features: Some(UpFunctionFeatures(vec![0x11, 0x01])),
                cp_function_features: Some(CpFunctionFeatures(vec![0x01])),
                user_plane_ip_resource_information: vec![upiri(), upiri()],
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::ASSOCIATION_SETUP_RESPONSE, 2),
            message: Message::AssociationSetupResponse(AssociationSetupResponse {
                node_id: node_id.clone(),
                cause: Cause::REQUEST_ACCEPTED,
                recovery_time_stamp: rts,
                up_function_features: Some(UpFunctionFeatures(vec![0x11, 0x01])),
                cp_function_features: Some(CpFunctionFeatures(vec![0x01])),
                user_plane_ip_resource_information: vec![upiri()],
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::ASSOCIATION_UPDATE_REQUEST, 3),
            message: Message::AssociationUpdateRequest(AssociationUpdateRequest {
                node_id: up_id.clone(),
                up_function_features: Some(UpFunctionFeatures(vec![0x11, 0x01])),
                cp_function_features: Some(CpFunctionFeatures(vec![0x01])),
                association_release_request: Some(1),
                graceful_release_period: Some(0x25),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::ASSOCIATION_UPDATE_RESPONSE, 3),
            message: Message::AssociationUpdateResponse(AssociationUpdateResponse {
                node_id: node_id.clone(),
                cause: Cause::REQUEST_ACCEPTED,
                up_function_features: Some(UpFunctionFeatures(vec![0x11, 0x01])),
                cp_function_features: Some(CpFunctionFeatures(vec![0x01])),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::ASSOCIATION_RELEASE_REQUEST, 4),
            message: Message::AssociationReleaseRequest(AssociationReleaseRequest {
                node_id: node_id.clone(),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::ASSOCIATION_RELEASE_RESPONSE, 4),
            message: Message::AssociationReleaseResponse(AssociationReleaseResponse {
                node_id: up_id.clone(),
                cause: Cause::REQUEST_ACCEPTED,
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::VERSION_NOT_SUPPORTED_RESPONSE, 5),
            message: Message::VersionNotSupportedResponse,
        },
        Pdu {
            header: node(MsgType::NODE_REPORT_REQUEST, 6),
            message: Message::NodeReportRequest(NodeReportRequest {
                node_id: up_id.clone(),
                node_report_type: NodeReportType(1),
                user_plane_path_failure_report: Some(path_failure()),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: node(MsgType::NODE_REPORT_RESPONSE, 6),
            message: Message::NodeReportResponse(NodeReportResponse {
                node_id: node_id.clone(),
                cause: Cause::MANDATORY_IE_MISSING,
                offending_ie: Some(OffendingIe(types::NODE_REPORT_TYPE)),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 7),
            message: Message::SessionEstablishmentRequest(SessionEstablishmentRequest {
                node_id: node_id.clone(),
                cp_f_seid: cp_seid,
                create_pdr: vec![create_pdr(1, pdi_uplink()), create_pdr(2, pdi_downlink())],
                create_far: vec![create_far(1), create_far(2)],
                create_urr: vec![create_urr(1), create_urr(2)],
                create_qer: vec![create_qer(1), create_qer(2)],
                pdn_type: Some(PdnType(1)),
                unknown: vec![raw_timer(), raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_ESTABLISHMENT_RESPONSE, 7),
            message: Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
                node_id: up_id.clone(),
                cause: Cause::RULE_CREATION_MODIFICATION_FAILURE,
                offending_ie: Some(OffendingIe(types::CREATE_PDR)),
                up_f_seid: Some(Fseid {
                    seid: 0x0000_0001_0000_0002,
                    ipv4: Some(V4),
                    ipv6: None,
                }),
                created_pdr: vec![created_pdr(), created_pdr()],
                load_control_information: Some(load_control()),
                overload_control_information: Some(overload_control()),
                failed_rule_id: Some(FailedRuleId {
                    rule_type: FailedRuleId::PDR,
                    id: 2,
                }),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_MODIFICATION_REQUEST, 8),
            message: Message::SessionModificationRequest(SessionModificationRequest {
                cp_f_seid: Some(cp_seid),
                remove_pdr: vec![
                    RemovePdr { pdr_id: PdrId(1) },
                    RemovePdr { pdr_id: PdrId(2) },
                ],
                remove_far: vec![RemoveFar { far_id: FarId(1) }],
                remove_urr: vec![RemoveUrr { urr_id: UrrId(1) }],
                remove_qer: vec![RemoveQer { qer_id: QerId(1) }],
                create_pdr: vec![create_pdr(3, pdi_uplink())],
                create_far: vec![create_far(3)],
                create_urr: vec![create_urr(3)],
                create_qer: vec![create_qer(3)],
                update_pdr: vec![update_pdr()],
                update_far: vec![update_far()],
                update_urr: vec![update_urr()],
                update_qer: vec![update_qer()],
                pfcpsm_req_flags: Some(PfcpsmReqFlags(PfcpsmReqFlags::QAURR)),
                query_urr: vec![QueryUrr { urr_id: UrrId(2) }, QueryUrr { urr_id: UrrId(3) }],
                unknown: vec![raw_timer(), raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_MODIFICATION_RESPONSE, 8),
            message: Message::SessionModificationResponse(SessionModificationResponse {
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: Some(OffendingIe(types::UPDATE_FAR)),
                created_pdr: vec![created_pdr()],
                load_control_information: Some(load_control()),
                overload_control_information: Some(overload_control()),
                usage_report: vec![usage_report(2), usage_report(3)],
                failed_rule_id: Some(FailedRuleId {
                    rule_type: FailedRuleId::FAR,
                    id: 9,
                }),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_DELETION_REQUEST, 9),
            message: Message::SessionDeletionRequest(SessionDeletionRequest {
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_DELETION_RESPONSE, 9),
            message: Message::SessionDeletionResponse(SessionDeletionResponse {
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: Some(OffendingIe(types::CAUSE)),
                load_control_information: Some(load_control()),
                overload_control_information: Some(overload_control()),
                usage_report: vec![usage_report(1), usage_report(2)],
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_REPORT_REQUEST, 10),
            message: Message::SessionReportRequest(SessionReportRequest {
                report_type: ReportType(ReportType::USAR),
                usage_report: vec![usage_report(1)],
                load_control_information: Some(load_control()),
                overload_control_information: Some(overload_control()),
                unknown: vec![raw_vendor()],
            }),
        },
        Pdu {
            header: session(MsgType::SESSION_REPORT_RESPONSE, 10),
            message: Message::SessionReportResponse(SessionReportResponse {
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: Some(OffendingIe(types::REPORT_TYPE)),
                unknown: vec![raw_vendor()],
            }),
        },
    ];
    if with_unknown {
        v.push(Pdu {
            header: node(MsgType::PFD_MANAGEMENT_REQUEST, 11),
            message: Message::Unknown {
                message_type: MsgType::PFD_MANAGEMENT_REQUEST,
                ies: vec![raw_vendor(), raw_timer()],
            },
        });
        v.push(Pdu {
            header: node(MsgType(200), 12),
            message: Message::Unknown {
                message_type: MsgType(200),
                ies: vec![],
            },
        });
    }
    v
}
