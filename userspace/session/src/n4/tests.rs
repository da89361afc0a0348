//! Report routing and classification, on a real node.

use super::*;
use std::net::Ipv4Addr;
use upf_pfcp::ie::{OffendingIe, RecoveryTimeStamp, ReportType};
use upf_pfcp::message::{AssociationSetupRequest, SessionReportRequest};
use upf_pfcp::node::{NodeConfig, PeerConfig};
use upf_pfcp::{MsgType, Pdu};

struct NoSessions;

impl SessionHandler for NoSessions {
    fn session_request(
        &mut self,
        _: &PeerId,
        _: &Header,
        _: Message,
        _: Instant,
    ) -> (u64, Message) {
        unreachable!("no session messages in this test")
    }
    fn session_report_response(&mut self, _: &PeerId, _: u64, _: Option<Message>, _: Instant) {}
    fn release_peer(&mut self, _: &PeerId, _: Instant) {}
}

fn pending(peer: &str, cp_ipv4: Option<Ipv4Addr>) -> PendingReport {
    PendingReport {
        peer: peer.to_string(),
        up_seid: 1,
        cp_seid: 0x77,
        cp_ipv4,
        request: SessionReportRequest {
            report_type: ReportType(ReportType::USAR),
            usage_report: Vec::new(),
            load_control_information: None,
            overload_control_information: None,
            unknown: Vec::new(),
        },
    }
}

#[test]
fn a_report_goes_to_the_cp_f_seid_of_the_associated_peer() {
    let smf = Ipv4Addr::new(10, 0, 0, 2);
    let cfg = NodeConfig::new(
        NodeId::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        vec![PeerConfig {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
            prefix_len: 24,
            initiate: false,
        }],
    );
    let now = Instant::now();
    let mut node = Node::new(cfg, RecoveryTimeStamp(1), now);
    assert_eq!(
        report_target(&node, &pending("10.0.0.2", None)),
        None,
        "no association yet"
    );
    let setup = Pdu {
        header: Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 1),
        message: Message::AssociationSetupRequest(AssociationSetupRequest {
            node_id: NodeId::Ipv4(smf),
            recovery_time_stamp: RecoveryTimeStamp(7),
            up_function_features: None,
            cp_function_features: None,
            user_plane_ip_resource_information: Vec::new(),
            unknown: Vec::new(),
        }),
    };
    node.handle_datagram(
        SocketAddr::new(smf.into(), 8805),
        &setup.to_bytes(),
        now,
        &mut NoSessions,
    );
    let at = |a: Ipv4Addr| SocketAddr::new(IpAddr::V4(a), 8805);
    let t = report_target(&node, &pending("10.0.0.2", None)).expect("associated");
    assert_eq!((t.node_id, t.addr), (NodeId::Ipv4(smf), at(smf)));
    let other = Ipv4Addr::new(10, 0, 0, 3);
    let t = report_target(&node, &pending("10.0.0.2", Some(other))).unwrap();
    assert_eq!(t.addr, at(other), "the CP F-SEID address");
    assert_eq!(report_target(&node, &pending("smf.example", None)), None);
}

#[test]
fn report_answers_are_classified() {
    let rsp = |cause, offending: Option<u16>| {
        Message::SessionReportResponse(SessionReportResponse {
            cause,
            offending_ie: offending.map(OffendingIe),
            unknown: Vec::new(),
        })
    };
    assert_eq!(
        report_outcome(Some(&rsp(Cause::REQUEST_ACCEPTED, None))),
        ReportOutcome::Accepted
    );
    assert_eq!(
        report_outcome(Some(&rsp(Cause::SESSION_CONTEXT_NOT_FOUND, None))),
        ReportOutcome::UnknownSession
    );
    assert_eq!(
        report_outcome(Some(&rsp(Cause::MANDATORY_IE_MISSING, Some(80)))),
        ReportOutcome::Rejected(Cause::MANDATORY_IE_MISSING, Some(80))
    );
    assert_eq!(
        report_outcome(Some(&Message::VersionNotSupportedResponse)),
        ReportOutcome::Unexpected("Version Not Supported Response")
    );
    assert_eq!(report_outcome(None), ReportOutcome::Unanswered);
}
