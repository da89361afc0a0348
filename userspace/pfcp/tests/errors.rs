//! What the codec refuses, and the cause and offending IE it names for the
//! node's response. Offending IE is the innermost IE at fault.

mod common;

use common::*;
use upf_pfcp::ie::types;
use upf_pfcp::ie::*;
use upf_pfcp::message::SessionModificationRequest;
use upf_pfcp::{Cause, Header, HeaderError, IeError, Message, MsgType, Pdu};

fn ser_body() -> Vec<u8> {
    let pdu = &all_messages(false)[11];
    assert_eq!(
        pdu.message.message_type(),
        MsgType::SESSION_ESTABLISHMENT_REQUEST
    );
    let mut body = Vec::new();
    pdu.message.emit(&mut body);
    body
}

/// `buf` without the IEs of type `target` found by following `path` (IE
/// types of grouped IEs, outermost first) into every matching grouped IE.
fn remove(buf: &[u8], path: &[u16], target: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for ie in IeIter::new(buf) {
        let ie = ie.unwrap();
        match path.split_first() {
            None if ie.ie_type == target => {}
            Some((&outer, rest)) if ie.ie_type == outer => {
                let start = begin(&mut out, ie.ie_type);
                let inner = remove(ie.value, rest, target);
                out.extend_from_slice(&inner);
                finish(&mut out, start);
            }
            _ => ie.to_raw().emit(&mut out),
        }
    }
    out
}

fn ser_error(body: &[u8]) -> IeError {
    Message::parse(MsgType::SESSION_ESTABLISHMENT_REQUEST, body).unwrap_err()
}

#[test]
fn header_errors() {
    assert_eq!(Header::parse(&[]), Err(HeaderError::Truncated));
    assert_eq!(Header::parse(&[0x20, 1, 0]), Err(HeaderError::Truncated));
    // Length 4 but only 6 octets: the 8-octet header does not fit.
    assert_eq!(
        Header::parse(&[0x20, 1, 0, 4, 0, 0]),
        Err(HeaderError::Truncated)
    );
    // A length field smaller than the header itself.
    assert_eq!(
        Header::parse(&[0x20, 1, 0, 2, 0, 0, 1, 0]),
        Err(HeaderError::Truncated)
    );
    // Session header (S = 1) cut inside the SEID.
    assert_eq!(
        Header::parse(&[0x21, 50, 0, 12, 0, 0, 0, 0, 0, 0]),
        Err(HeaderError::Truncated)
    );
    let hb = all_messages(false)[0].to_bytes();
    let mut long = hb.clone();
    long[3] += 1;
    assert_eq!(
        Header::parse(&long),
        Err(HeaderError::LengthBeyondDatagram {
            announced: hb.len() + 1,
            actual: hb.len()
        })
    );
    let mut v2 = hb.clone();
    v2[0] = 0x40;
    assert_eq!(
        Header::parse(&v2),
        Err(HeaderError::Version {
            version: 2,
            sequence: Some(1)
        })
    );
    assert_eq!(
        Header::parse(&[0x40, 1, 0, 4, 0, 0]),
        Err(HeaderError::Version {
            version: 2,
            sequence: None
        })
    );
    // A node message with the S flag.
    let mut s = Header::session(MsgType::HEARTBEAT_REQUEST, 1, 9);
    s.priority = None;
    let mut b = Vec::new();
    s.emit(&mut b);
    upf_pfcp::header::set_length(&mut b);
    // Read as it comes (scapy sends node messages with S = 1 by default).
    let (h, body) = Header::parse(&b).unwrap();
    assert_eq!(
        (h.message_type, h.seid, h.sequence),
        (MsgType::HEARTBEAT_REQUEST, Some(1), 9)
    );
    assert!(body.is_empty());
    // Pdu::parse reports the header step.
    assert_eq!(
        Pdu::parse(&[]),
        Err(upf_pfcp::ParseError::Header(HeaderError::Truncated))
    );
}

#[test]
fn follow_on_message_is_not_part_of_the_body() {
    let mut hb = all_messages(false)[0].clone();
    hb.header.follow_on = true;
    let first = hb.to_bytes();
    let second = all_messages(false)[1].to_bytes();
    let datagram = [first.clone(), second.clone()].concat();
    let (h, body) = Header::parse(&datagram).unwrap();
    assert!(h.follow_on);
    assert_eq!(body.len(), first.len() - 8);
    assert_eq!(Header::message_len(&datagram), first.len());
    let rest = &datagram[Header::message_len(&datagram)..];
    assert_eq!(Pdu::parse(rest).unwrap(), all_messages(false)[1]);
}

#[test]
fn session_establishment_missing_mandatory_ies() {
    let body = ser_body();
    assert!(Message::parse(MsgType::SESSION_ESTABLISHMENT_REQUEST, &body).is_ok());
    for ie in [
        types::NODE_ID,
        types::F_SEID,
        types::CREATE_PDR,
        types::CREATE_FAR,
    ] {
        let e = ser_error(&remove(&body, &[], ie));
        assert_eq!(e, IeError::missing(ie), "{}", types::name(ie));
        assert_eq!(e.cause, Cause(66));
        assert_eq!(e.offending_ie, ie);
    }
}

#[test]
fn grouped_missing_children() {
    let body = ser_body();
    let e = ser_error(&remove(&body, &[types::CREATE_PDR], types::PDI));
    assert_eq!(
        (e.cause, e.offending_ie),
        (Cause::MANDATORY_IE_MISSING, types::PDI)
    );
    let e = ser_error(&remove(
        &body,
        &[types::CREATE_PDR, types::PDI],
        types::SOURCE_INTERFACE,
    ));
    assert_eq!(
        (e.cause, e.offending_ie),
        (Cause::MANDATORY_IE_MISSING, types::SOURCE_INTERFACE)
    );
    let e = ser_error(&remove(&body, &[types::CREATE_FAR], types::APPLY_ACTION));
    assert_eq!(e, IeError::missing(types::APPLY_ACTION));
    let e = ser_error(&remove(
        &body,
        &[types::CREATE_FAR, types::FORWARDING_PARAMETERS],
        types::DESTINATION_INTERFACE,
    ));
    assert_eq!(e, IeError::missing(types::DESTINATION_INTERFACE));
    let e = ser_error(&remove(
        &body,
        &[types::CREATE_URR],
        types::REPORTING_TRIGGERS,
    ));
    assert_eq!(e, IeError::missing(types::REPORTING_TRIGGERS));
    let e = ser_error(&remove(&body, &[types::CREATE_QER], types::GATE_STATUS));
    assert_eq!(e, IeError::missing(types::GATE_STATUS));
}

#[test]
fn remove_and_query_need_their_id() {
    for (outer, id) in [
        (types::REMOVE_PDR, types::PDR_ID),
        (types::REMOVE_FAR, types::FAR_ID),
        (types::REMOVE_URR, types::URR_ID),
        (types::REMOVE_QER, types::QER_ID),
        (types::QUERY_URR, types::URR_ID),
    ] {
        let mut body = Vec::new();
        let start = begin(&mut body, outer);
        finish(&mut body, start);
        let e = Message::parse(MsgType::SESSION_MODIFICATION_REQUEST, &body).unwrap_err();
        assert_eq!(e, IeError::missing(id), "{}", types::name(outer));
    }
    // And they emit it (rs-pfcp left it out).
    let m = Message::SessionModificationRequest(SessionModificationRequest {
        remove_pdr: vec![RemovePdr { pdr_id: PdrId(7) }],
        ..Default::default()
    });
    let mut body = Vec::new();
    m.emit(&mut body);
    assert_eq!(body, [0, 15, 0, 6, 0, 56, 0, 2, 0, 7]);
}

#[test]
fn f_teid_shorter_than_its_flags() {
    // V4 set, TEID present, IPv4 address missing.
    assert_eq!(
        FTeid::parse(&[0x01, 0, 0, 0, 1]),
        Err(IeError::length(types::F_TEID))
    );
    // CHID set, CHOOSE ID missing.
    assert_eq!(FTeid::parse(&[0x0d]), Err(IeError::length(types::F_TEID)));
    assert_eq!(FTeid::parse(&[]), Err(IeError::length(types::F_TEID)));
    // Inside a Create PDR's PDI: reported as F-TEID with INVALID_LENGTH.
    let mut pdi = pdi_downlink();
    pdi.f_teid = Some(fteid_plain());
    let mut pdr = create_pdr(1, pdi);
    pdr.pdi.ue_ip_address = None;
    let mut good = Vec::new();
    pdr.emit(&mut good);
    let fteid_at = good
        .windows(2)
        .position(|w| w == [0, 21])
        .expect("F-TEID in the encoding");
    // Claim a CHOOSE ID (CHID) in the flags without the octet.
    let mut bad = good.clone();
    assert_eq!(bad[fteid_at + 4], 0x01 | 0x02);
    bad[fteid_at + 4] |= 0x08;
    let mut body = remove(&ser_body(), &[], types::CREATE_PDR);
    body.extend_from_slice(&bad);
    let e = ser_error(&body);
    assert_eq!(e.cause, Cause::INVALID_LENGTH);
    assert_eq!(e.offending_ie, types::F_TEID);
}

#[test]
fn ie_running_past_its_parent_is_invalid_length() {
    let mut body = ser_body();
    // The Node ID is first: make it claim more than the body holds.
    body[2] = 0xff;
    assert_eq!(ser_error(&body), IeError::length(types::NODE_ID));
    // A vendor IE too short for its enterprise ID.
    let e = Message::parse(MsgType::HEARTBEAT_REQUEST, &[0x80, 1, 0, 1, 0]).unwrap_err();
    assert_eq!(e, IeError::length(0x8001));
    // Three stray octets at the end.
    let e = Message::parse(
        MsgType::HEARTBEAT_REQUEST,
        &[0, 96, 0, 4, 1, 2, 3, 4, 0, 1, 0],
    )
    .unwrap_err();
    assert_eq!(e.cause, Cause::INVALID_LENGTH);
}

#[test]
fn incorrect_values() {
    for t in [3u8, 7, 15] {
        let e = NodeId::parse(&[t, 10, 0, 0, 1]).unwrap_err();
        assert_eq!(e, IeError::incorrect(types::NODE_ID));
        assert_eq!(e.cause, Cause(69));
    }
    // In a message.
    let mut body = Vec::new();
    let start = begin(&mut body, types::NODE_ID);
    body.extend_from_slice(&[7, 10, 0, 0, 1]);
    finish(&mut body, start);
    RecoveryTimeStamp(1).emit(&mut body);
    let e = Message::parse(MsgType::ASSOCIATION_SETUP_REQUEST, &body).unwrap_err();
    assert_eq!(e, IeError::incorrect(types::NODE_ID));
    // FQDN whose label runs past the value, or is empty, or has a dot.
    assert_eq!(
        NodeId::parse(&[2, 5, b'a', b'b']),
        Err(IeError::incorrect(types::NODE_ID))
    );
    assert_eq!(NodeId::parse(&[2]), Err(IeError::incorrect(types::NODE_ID)));
    assert_eq!(
        NodeId::parse(&[2, 3, b'a', b'.', b'b']),
        Err(IeError::incorrect(types::NODE_ID))
    );
    assert_eq!(
        NodeId::parse(&[2, 1, b'a', 0, 1, b'b']),
        Err(IeError::incorrect(types::NODE_ID))
    );
    // A trailing root label is tolerated.
    assert_eq!(
        NodeId::parse(&[2, 1, b'a', 1, b'b', 0]),
        Ok(NodeId::Fqdn("a.b".into()))
    );
    assert_eq!(
        NodeId::parse(&[0, 10, 0, 0]),
        Err(IeError::length(types::NODE_ID))
    );
    assert_eq!(Qfi::parse(&[64]), Err(IeError::incorrect(types::QFI)));
    assert_eq!(Qfi::parse(&[63]), Ok(Qfi(63)));
    assert_eq!(
        FailedRuleId::parse(&[5, 0, 0, 0, 1]),
        Err(IeError::incorrect(types::FAILED_RULE_ID))
    );
    assert_eq!(
        FailedRuleId::parse(&[0, 0]),
        Err(IeError::length(types::FAILED_RULE_ID))
    );
    // A flow description that is not UTF-8.
    assert_eq!(
        SdfFilter::parse(&[1, 0, 0, 2, 0xff, 0xfe]),
        Err(IeError::incorrect(types::SDF_FILTER))
    );
}

#[test]
fn short_values_are_invalid_length() {
    assert_eq!(
        Fseid::parse(&[0x02, 0, 0, 0, 0, 0, 0, 0, 1, 10, 0]),
        Err(IeError::length(types::F_SEID))
    );
    assert_eq!(
        UeIpAddress::parse(&[0x01, 0x20]),
        Err(IeError::length(types::UE_IP_ADDRESS))
    );
    assert_eq!(Mbr::parse(&[0; 9]), Err(IeError::length(types::MBR)));
    assert_eq!(
        VolumeThreshold::parse(&[0x07, 0, 0]),
        Err(IeError::length(types::VOLUME_THRESHOLD))
    );
    assert_eq!(
        SdfFilter::parse(&[0x01, 0, 0, 10, b'p']),
        Err(IeError::length(types::SDF_FILTER))
    );
    assert_eq!(
        OuterHeaderCreation::parse(&[0x01, 0x00, 0, 0, 0, 1]),
        Err(IeError::length(types::OUTER_HEADER_CREATION))
    );
    assert_eq!(
        ReportingTriggers::parse(&[1]),
        Err(IeError::length(types::REPORTING_TRIGGERS))
    );
    assert_eq!(PdrId::parse(&[1]), Err(IeError::length(types::PDR_ID)));
    assert_eq!(
        UpFunctionFeatures::parse(&[1]),
        Err(IeError::length(types::UP_FUNCTION_FEATURES))
    );
    assert_eq!(
        UserPlaneIpResourceInformation::parse(&[0x40]),
        Err(IeError::length(types::USER_PLANE_IP_RESOURCE_INFORMATION))
    );
}

#[test]
fn extra_trailing_octets_are_ignored() {
    assert_eq!(PdrId::parse(&[0, 9, 0xaa]), Ok(PdrId(9)));
    assert_eq!(
        FTeid::parse(&[0x05, 0xff, 0xff]).map(|f| (f.choose, f.choose_v4, f.teid)),
        Ok((true, true, None))
    );
    assert_eq!(
        ApplyAction::parse(&[0x02, 0x00, 0x77]),
        Ok(ApplyAction(ApplyAction::FORW))
    );
}

#[test]
fn missing_cause_in_a_response_is_an_error() {
    let e = Message::parse(MsgType::SESSION_DELETION_RESPONSE, &[]).unwrap_err();
    assert_eq!(e, IeError::missing(types::CAUSE));
    let e = Message::parse(MsgType::HEARTBEAT_RESPONSE, &[]).unwrap_err();
    assert_eq!(e, IeError::missing(types::RECOVERY_TIME_STAMP));
}

#[test]
fn unknown_message_types_keep_their_ies() {
    let body = [0, 96, 0, 4, 1, 2, 3, 4];
    let m = Message::parse(MsgType(99), &body).unwrap();
    assert_eq!(
        m,
        Message::Unknown {
            message_type: MsgType(99),
            ies: vec![RawIe {
                ie_type: 96,
                enterprise_id: None,
                value: vec![1, 2, 3, 4]
            }]
        }
    );
}

#[test]
fn repeated_single_ie_keeps_the_first() {
    let mut body = Vec::new();
    RecoveryTimeStamp(1).emit(&mut body);
    RecoveryTimeStamp(2).emit(&mut body);
    let Message::HeartbeatRequest(m) = Message::parse(MsgType::HEARTBEAT_REQUEST, &body).unwrap()
    else {
        panic!()
    };
    assert_eq!(m.recovery_time_stamp, RecoveryTimeStamp(1));
    assert_eq!(m.unknown.len(), 1);
}
