//! Realistic PFCP messages for the benches, as an SMF sends them: a 4G
//! (fixed F-TEID and UE address) and a 5G (CHOOSE F-TEID and UE address)
//! Session Establishment Request, a handover Session Modification Request,
//! a Session Deletion Request and a Heartbeat Request.
//!
//! Shared by `upf-pfcp`'s codec bench and `upfd`'s session bench (which
//! includes this file by path), so both measure the same messages. Every
//! message here is one the session manager accepts with [`N3`] as its N3
//! address and a UE pool.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::ie::*;
use upf_pfcp::message::*;
use upf_pfcp::{Message, Pdu};

/// The UPF's N3 (GTP-U) address.
pub const N3: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);
/// The gNB / eNB.
pub const GNB: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 2);
/// The target gNB of a handover.
pub const GNB2: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 3);
/// The SMF's N4 address.
pub const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);

fn internet() -> NetworkInstance {
    NetworkInstance(b"\x08internet".to_vec())
}

fn fteid(teid: Option<u32>) -> FTeid {
    FTeid {
        teid,
        ipv4: teid.map(|_| N3),
        ipv6: None,
        choose: teid.is_none(),
        choose_v4: teid.is_none(),
        choose_v6: false,
        choose_id: teid.is_none().then_some(5),
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

fn pdr(id: u16, precedence: u32, pdi: Pdi, far: u32, qer: Option<u32>) -> CreatePdr {
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
        qer_ids: qer.map(QerId).into_iter().collect(),
        activate_predefined_rules: Vec::new(),
        unknown: Vec::new(),
    }
}

fn ul_pdi(teid: Option<u32>, ue_addr: Option<Ipv4Addr>) -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::ACCESS),
        f_teid: Some(fteid(teid)),
        network_instance: Some(internet()),
        ue_ip_address: Some(ue(ue_addr, false)),
        ..Pdi::default()
    }
}

fn dl_pdi(ue_addr: Option<Ipv4Addr>) -> Pdi {
    Pdi {
        source_interface: SourceInterface(interface::CORE),
        network_instance: Some(internet()),
        ue_ip_address: Some(ue(ue_addr, true)),
        ..Pdi::default()
    }
}

fn far_core(id: u32) -> CreateFar {
    CreateFar {
        far_id: FarId(id),
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding_parameters: Some(ForwardingParameters {
            destination_interface: DestinationInterface(interface::CORE),
            network_instance: Some(internet()),
            outer_header_creation: None,
            interface_type: None,
            unknown: Vec::new(),
        }),
        bar_id: None,
        unknown: Vec::new(),
    }
}

fn ohc(teid: u32, gnb: Ipv4Addr) -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::GTPU_UDP_IPV4,
        teid: Some(teid),
        ipv4: Some(gnb),
        ..OuterHeaderCreation::default()
    }
}

fn far_access(id: u32, teid: u32) -> CreateFar {
    CreateFar {
        far_id: FarId(id),
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding_parameters: Some(ForwardingParameters {
            destination_interface: DestinationInterface(interface::ACCESS),
            network_instance: Some(internet()),
            outer_header_creation: Some(ohc(teid, GNB)),
            interface_type: None,
            unknown: Vec::new(),
        }),
        bar_id: None,
        unknown: Vec::new(),
    }
}

fn urr() -> CreateUrr {
    CreateUrr {
        reporting_triggers: ReportingTriggers(ReportingTriggers::VOLTH),
        volume_threshold: Some(VolumeThreshold(Volume {
            total: Some(1 << 30),
            uplink: None,
            downlink: None,
        })),
        ..CreateUrr::new(
            UrrId(1),
            MeasurementMethod {
                duration: true,
                volume: true,
                event: false,
            },
        )
    }
}

fn qer(id: u32, qfi: u8) -> CreateQer {
    CreateQer {
        qer_id: QerId(id),
        qer_correlation_id: None,
        gate_status: GateStatus::default(),
        mbr: Some(Mbr(Bitrate {
            ul: 100_000,
            dl: 200_000,
        })),
        gbr: None,
        qfi: Some(Qfi(qfi)),
        rqi: None,
        unknown: Vec::new(),
    }
}

fn cp_f_seid(cp_seid: u64) -> Fseid {
    Fseid {
        seid: cp_seid,
        ipv4: Some(SMF),
        ipv6: None,
    }
}

/// A 4G session: fixed local TEID `teid` and UE address `ue_addr`; one
/// uplink and one downlink PDR, two FARs, one URR.
pub fn establishment_4g(cp_seid: u64, teid: u32, ue_addr: Ipv4Addr) -> SessionEstablishmentRequest {
    SessionEstablishmentRequest {
        node_id: NodeId::Ipv4(SMF),
        cp_f_seid: cp_f_seid(cp_seid),
        create_pdr: vec![
            pdr(1, 255, ul_pdi(Some(teid), Some(ue_addr)), 1, None),
            pdr(2, 255, dl_pdi(Some(ue_addr)), 2, None),
        ],
        create_far: vec![far_core(1), far_access(2, 0xd000_0000 | teid)],
        create_urr: vec![urr()],
        create_qer: Vec::new(),
        pdn_type: Some(PdnType(1)),
        unknown: Vec::new(),
    }
}

/// A 5G session: three PDRs (two uplink QoS flows sharing a CHOOSE F-TEID
/// by CHOOSE ID, the second with an SDF filter; one downlink), two FARs,
/// one QER, one URR; the UE address is CHOOSE.
pub fn establishment_5g(cp_seid: u64) -> SessionEstablishmentRequest {
    let mut ul1 = pdr(1, 255, ul_pdi(None, None), 1, Some(1));
    ul1.pdi.qfis = vec![Qfi(9)];
    let mut ul2 = pdr(3, 100, ul_pdi(None, None), 1, Some(1));
    ul2.pdi.qfis = vec![Qfi(5)];
    ul2.pdi.sdf_filters = vec![SdfFilter {
        flow_description: Some("permit out 17 from 198.51.100.0/24 5060 to assigned".into()),
        ..SdfFilter::default()
    }];
    let dl = pdr(2, 255, dl_pdi(None), 2, Some(1));
    SessionEstablishmentRequest {
        create_pdr: vec![ul1, dl, ul2],
        create_qer: vec![qer(1, 9)],
        ..establishment_4g(cp_seid, 1, Ipv4Addr::UNSPECIFIED)
    }
}

/// An Xn handover: the downlink FAR moves to another gNB and TEID, with an
/// End Marker to the old one (SNDEM).
pub fn handover(new_teid: u32) -> SessionModificationRequest {
    SessionModificationRequest {
        update_far: vec![UpdateFar {
            far_id: FarId(2),
            apply_action: Some(ApplyAction(ApplyAction::FORW)),
            update_forwarding_parameters: Some(UpdateForwardingParameters {
                destination_interface: Some(DestinationInterface(interface::ACCESS)),
                network_instance: None,
                outer_header_creation: Some(ohc(new_teid, GNB2)),
                pfcpsm_req_flags: Some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM)),
                interface_type: None,
                unknown: Vec::new(),
            }),
            bar_id: None,
            unknown: Vec::new(),
        }],
        ..SessionModificationRequest::default()
    }
}

/// A request PDU with a session header.
pub fn session_pdu(t: MsgType, up_seid: u64, seq: u32, message: Message) -> Pdu {
    Pdu {
        header: Header::session(t, up_seid, seq),
        message,
    }
}

/// Session Establishment Request PDU (SEID 0 in the header, TS 29.244 §7.2.2.4.2).
pub fn establishment_pdu(req: SessionEstablishmentRequest, seq: u32) -> Pdu {
    session_pdu(
        MsgType::SESSION_ESTABLISHMENT_REQUEST,
        0,
        seq,
        Message::SessionEstablishmentRequest(req),
    )
}

/// Session Deletion Request PDU.
pub fn deletion_pdu(up_seid: u64, seq: u32) -> Pdu {
    session_pdu(
        MsgType::SESSION_DELETION_REQUEST,
        up_seid,
        seq,
        Message::SessionDeletionRequest(SessionDeletionRequest::default()),
    )
}

/// Heartbeat Request PDU.
pub fn heartbeat_pdu(seq: u32) -> Pdu {
    Pdu {
        header: Header::node(MsgType::HEARTBEAT_REQUEST, seq),
        message: Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: RecoveryTimeStamp(3_900_000_000),
            unknown: Vec::new(),
        }),
    }
}
