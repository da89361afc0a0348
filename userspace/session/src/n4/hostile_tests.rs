//! Hostile PFCP: the inputs that crashed other open UPFs
//! in 2025-26, and the classic protocol abuses, as one table. Each datagram
//! goes through the real path of the daemon, minus the socket: the sans-IO
//! node, the session manager as its handler, and the fake datapath.
//! Each case states its TS 29.244 answer (cause, Offending IE, Failed Rule
//! ID) or the silent drop; after every case the node still answers a
//! heartbeat and the session table and datapath are what they must be.
//!
//! Cases tested closer to their code are not repeated here:
//! - header abuses against the node alone: `node::tests`
//!   (`empty_and_truncated_datagrams_leave_state_intact`,
//!   `version_2_gets_version_not_supported`,
//!   `unknown_type_and_unexpected_messages_are_dropped`,
//!   `malformed_session_requests_get_cause_and_offending_ie`);
//! - rollback at every datapath write, full tables and pools, meters:
//!   `sessions::tests` (`establishment_rolls_back_at_every_failure_point`,
//!   `a_full_table_or_pool_is_no_resources_available`,
//!   `running_out_of_meters_is_no_resources_and_leaves_nothing`);
//! - the codec on arbitrary bytes: `upf-pfcp`'s `tests/robustness.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::ie::*;
use upf_pfcp::message::*;
use upf_pfcp::{Cause, Pdu, PFCP_PORT};

use crate::datapath::fake::FakeDatapath;
use crate::datapath::Capacity;
use crate::handler::Identity;
use crate::manager::SessionManager;
use crate::sessions::SessionsConfig;
use upf_pfcp::node::{DropReason, Node, NodeConfig, PeerConfig};

const UPF_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMF_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const N3: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);
const GNB: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 2);
const UPF_TS: RecoveryTimeStamp = RecoveryTimeStamp(3_900_000_000);
const SMF_TS: RecoveryTimeStamp = RecoveryTimeStamp(3_800_000_000);
/// The CP SEID of the session every case starts with.
const BASE_CP_SEID: u64 = 0x5000;

fn smf() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SMF_IP), PFCP_PORT)
}

fn smf_node_id() -> NodeId {
    NodeId::Fqdn("smf.example.org".into())
}

/// What the daemon's maps, pools and sessions hold.
type State = (
    Vec<(u32, String)>,
    Vec<(Ipv4Addr, String)>,
    (usize, usize, usize, usize),
    usize,
    Vec<String>,
);

/// The daemon without its socket.
struct Upf {
    node: Node,
    manager: SessionManager<FakeDatapath>,
    now: Instant,
    seq: u32,
}

impl Upf {
    fn new(capacity: Capacity) -> Upf {
        let now = Instant::now();
        let mut cfg = NodeConfig::new(
            NodeId::Ipv4(UPF_IP),
            vec![PeerConfig::host(IpAddr::V4(SMF_IP))],
        );
        cfg.up_function_features = super::UP_FUNCTION_FEATURES.to_vec();
        let mut manager = SessionManager::with_config(
            FakeDatapath::with_capacity(capacity),
            SessionsConfig {
                qos: Default::default(),
                n3: N3,
                teid_range: (0x1000, 0x1fff),
                ue_pools: vec!["10.60.0.0/24".parse().unwrap()],
            },
        );
        manager.set_identity(Identity {
            node_id: NodeId::Ipv4(UPF_IP),
            f_seid_ipv4: UPF_IP,
        });
        Upf {
            node: Node::new(cfg, UPF_TS, now),
            manager,
            now,
            seq: 1,
        }
    }

    fn roomy() -> Upf {
        Upf::new(Capacity {
            sessions: 64,
            counter_slots: 128,
            rule_sets: 64,
            meters: 128,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Delivers a datagram from the SMF; returns what the node sent back.
    fn send(&mut self, b: &[u8]) -> Vec<Pdu> {
        self.node
            .handle_datagram(smf(), b, self.now, &mut self.manager);
        let mut out = Vec::new();
        while let Some(t) = self.node.poll_transmit() {
            assert_eq!(t.to, smf());
            out.push(
                Pdu::parse(&t.bytes)
                    .unwrap_or_else(|e| panic!("the UPF sent an unparsable message ({e})")),
            );
        }
        while self.node.poll_event().is_some() {}
        out
    }

    fn ask(&mut self, b: &[u8]) -> Pdu {
        let mut out = self.send(b);
        assert_eq!(out.len(), 1, "one answer expected: {out:?}");
        out.remove(0)
    }

    fn associate(&mut self) {
        let seq = self.next_seq();
        let b = Pdu {
            header: Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, seq),
            message: Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: smf_node_id(),
                recovery_time_stamp: SMF_TS,
                up_function_features: None,
                cp_function_features: None,
                user_plane_ip_resource_information: Vec::new(),
                unknown: Vec::new(),
            }),
        }
        .to_bytes();
        let rsp = self.ask(&b);
        assert_eq!(outcome(&rsp.message).0, Cause::REQUEST_ACCEPTED);
    }

    /// The node answers a heartbeat with our Recovery Time Stamp.
    fn heartbeat_answered(&mut self, case: &str) {
        let seq = self.next_seq();
        let b = Pdu {
            header: Header::node(MsgType::HEARTBEAT_REQUEST, seq),
            message: Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: SMF_TS,
                unknown: Vec::new(),
            }),
        }
        .to_bytes();
        let rsp = self.send(&b);
        match &rsp[..] {
            [Pdu {
                header,
                message: Message::HeartbeatResponse(h),
            }] if header.sequence == seq => {
                assert_eq!(h.recovery_time_stamp, UPF_TS, "{case}")
            }
            other => panic!("{case}: no heartbeat answer afterwards: {other:?}"),
        }
    }

    /// Establishes `req`, which must be accepted; returns the UP SEID.
    fn establish(&mut self, req: SessionEstablishmentRequest) -> u64 {
        let seq = self.next_seq();
        let rsp = self.ask(&est_bytes(req, seq));
        let Message::SessionEstablishmentResponse(r) = &rsp.message else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.cause, Cause::REQUEST_ACCEPTED, "{r:?}");
        r.up_f_seid.expect("accepted without an F-SEID").seid
    }

    fn delete(&mut self, up_seid: u64) -> SessionDeletionResponse {
        let seq = self.next_seq();
        let b = Pdu {
            header: Header::session(MsgType::SESSION_DELETION_REQUEST, up_seid, seq),
            message: Message::SessionDeletionRequest(SessionDeletionRequest::default()),
        }
        .to_bytes();
        match self.ask(&b).message {
            Message::SessionDeletionResponse(r) => r,
            m => panic!("{m:?}"),
        }
    }

    fn state(&self) -> State {
        let m = &self.manager;
        let s = m.sessions();
        let dp = s.datapath();
        let mut ul: Vec<_> = dp
            .uplink
            .iter()
            .map(|(k, v)| (*k, format!("{v:?}")))
            .collect();
        ul.sort();
        let mut dl: Vec<_> = dp
            .downlink
            .iter()
            .map(|(k, v)| (*k, format!("{v:?}")))
            .collect();
        dl.sort();
        let sessions = s.sessions().values().map(|s| format!("{s:?}")).collect();
        (ul, dl, s.in_use(), s.meters_in_use(), sessions)
    }

    fn sessions(&self) -> usize {
        self.manager.sessions().sessions().len()
    }

    fn in_use(&self) -> (usize, usize, usize, usize) {
        self.manager.sessions().in_use()
    }
}

/// Cause, Offending IE and Failed Rule ID of a response.
fn outcome(m: &Message) -> (Cause, Option<u16>, Option<FailedRuleId>) {
    match m {
        Message::SessionEstablishmentResponse(r) => {
            (r.cause, r.offending_ie.map(|o| o.0), r.failed_rule_id)
        }
        Message::SessionModificationResponse(r) => {
            (r.cause, r.offending_ie.map(|o| o.0), r.failed_rule_id)
        }
        Message::SessionDeletionResponse(r) => (r.cause, r.offending_ie.map(|o| o.0), None),
        Message::AssociationSetupResponse(r) => (r.cause, None, None),
        m => panic!("not a response with a cause: {m:?}"),
    }
}

// ---- requests ----

fn est_bytes(req: SessionEstablishmentRequest, seq: u32) -> Vec<u8> {
    Pdu {
        header: Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, seq),
        message: Message::SessionEstablishmentRequest(req),
    }
    .to_bytes()
}

fn mod_bytes(up_seid: u64, req: SessionModificationRequest, seq: u32) -> Vec<u8> {
    Pdu {
        header: Header::session(MsgType::SESSION_MODIFICATION_REQUEST, up_seid, seq),
        message: Message::SessionModificationRequest(req),
    }
    .to_bytes()
}

fn choose_teid() -> FTeid {
    FTeid::choose_ipv4(Some(1))
}

fn pdr(id: u16, source: u8, far: u32, urr: u32) -> CreatePdr {
    let ul = source == interface::ACCESS;
    CreatePdr {
        pdr_id: PdrId(id),
        precedence: Precedence(100),
        pdi: Pdi {
            source_interface: SourceInterface(source),
            f_teid: ul.then(choose_teid),
            ue_ip_address: Some(UeIpAddress {
                destination: !ul,
                choose_v4: true,
                ..UeIpAddress::default()
            }),
            ..Pdi::default()
        },
        outer_header_removal: ul.then_some(OuterHeaderRemoval {
            description: 0,
            ext_header_deletion: None,
        }),
        far_id: Some(FarId(far)),
        urr_ids: vec![UrrId(urr)],
        qer_ids: Vec::new(),
        activate_predefined_rules: Vec::new(),
        unknown: Vec::new(),
    }
}

fn far(id: u32, destination: u8, ohc_teid: Option<u32>) -> CreateFar {
    CreateFar::forward(
        FarId(id),
        destination,
        ohc_teid.map(|teid| OuterHeaderCreation {
            description: OuterHeaderCreation::GTPU_UDP_IPV4,
            teid: Some(teid),
            ipv4: Some(GNB),
            ..OuterHeaderCreation::default()
        }),
    )
}

fn urr(id: u32) -> CreateUrr {
    CreateUrr::new(
        UrrId(id),
        MeasurementMethod {
            duration: false,
            volume: true,
            event: false,
        },
    )
}

fn qer(id: u32) -> CreateQer {
    CreateQer {
        qer_id: QerId(id),
        qer_correlation_id: None,
        gate_status: GateStatus::default(),
        mbr: None,
        gbr: None,
        qfi: None,
        rqi: None,
        unknown: Vec::new(),
    }
}

/// A 4G session: CHOOSE TEID and UE address, one URR and one QER.
fn est(cp_seid: u64) -> SessionEstablishmentRequest {
    let mut ul = pdr(1, interface::ACCESS, 1, 1);
    ul.qer_ids = vec![QerId(1)];
    SessionEstablishmentRequest {
        node_id: smf_node_id(),
        cp_f_seid: Fseid {
            seid: cp_seid,
            ipv4: Some(SMF_IP),
            ipv6: None,
        },
        create_pdr: vec![ul, pdr(2, interface::CORE, 2, 1)],
        create_far: vec![
            far(1, interface::CORE, None),
            far(2, interface::ACCESS, Some(0xd001)),
        ],
        create_urr: vec![urr(1)],
        create_qer: vec![qer(1)],
        pdn_type: None,
        unknown: Vec::new(),
    }
}

fn raw(ie_type: u16, value: &[u8]) -> RawIe {
    RawIe {
        ie_type,
        enterprise_id: None,
        value: value.to_vec(),
    }
}

fn vendor(ie_type: u16, enterprise: u16, value: &[u8]) -> RawIe {
    RawIe {
        ie_type: ie_type | 0x8000,
        enterprise_id: Some(enterprise),
        value: value.to_vec(),
    }
}

fn with_sdf(flow: &str) -> SessionEstablishmentRequest {
    let mut r = est(0x100);
    r.create_pdr[1].pdi.sdf_filters = vec![SdfFilter {
        flow_description: Some(flow.into()),
        ..SdfFilter::default()
    }];
    r
}

fn modify(f: impl FnOnce(&mut SessionModificationRequest)) -> SessionModificationRequest {
    let mut r = SessionModificationRequest::default();
    f(&mut r);
    r
}

// ---- the table ----

/// What the UPF must do with a case's datagram.
#[derive(Debug)]
enum Expect {
    /// Discard it silently, counting the reason.
    Drop(DropReason),
    /// Refuse it: this cause, Offending IE and Failed Rule ID (rule type, ID);
    /// nothing changes.
    Refuse(Cause, Option<u16>, Option<(u8, u32)>),
    /// Accept an establishment; deleting the new session brings the UPF
    /// back to where it was, with this many usage reports.
    AcceptSession { reports: usize },
    /// Accept a modification of the base session that changes nothing
    /// (a query reports but consumes no traffic).
    AcceptNoChange,
}

struct Case {
    name: &'static str,
    /// The datagram, given the base session's UP SEID and a sequence number.
    datagram: Box<dyn Fn(u64, u32) -> Vec<u8>>,
    expect: Expect,
}

fn case(
    name: &'static str,
    datagram: impl Fn(u64, u32) -> Vec<u8> + 'static,
    expect: Expect,
) -> Case {
    Case {
        name,
        datagram: Box::new(datagram),
        expect,
    }
}

fn est_case(
    name: &'static str,
    req: impl Fn() -> SessionEstablishmentRequest + 'static,
    expect: Expect,
) -> Case {
    case(name, move |_, seq| est_bytes(req(), seq), expect)
}

fn mod_case(
    name: &'static str,
    req: impl Fn() -> SessionModificationRequest + 'static,
    expect: Expect,
) -> Case {
    case(name, move |seid, seq| mod_bytes(seid, req(), seq), expect)
}

/// Replaces the first occurrence of `from` in `b` with `to` (same length).
fn patch(mut b: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = b
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in the datagram");
    b[at..at + to.len()].copy_from_slice(to);
    b
}

use Expect::*;

const RULE_FAIL: Cause = Cause::RULE_CREATION_MODIFICATION_FAILURE;

/// Flow Descriptions the SDF filter parser must refuse (PDR 2 carries
/// them): each is a Rule creation/modification failure naming PDR 2.
const BAD_SDF_FILTERS: [(&str, &str); 8] = [
    ("SDF filter: empty flow description", ""),
    ("SDF filter: deny", "deny out ip from any to assigned"),
    (
        "SDF filter: prefix /33",
        "permit out ip from 10.0.0.0/33 to assigned",
    ),
    (
        "SDF filter: port 65536",
        "permit out 17 from any 65536 to assigned",
    ),
    (
        "SDF filter: reversed port range",
        "permit out 6 from any 443-80 to assigned",
    ),
    (
        "SDF filter: protocol 256",
        "permit out 256 from any to assigned",
    ),
    (
        "SDF filter: IPv6 on an IPv4 session",
        "permit out 17 from 2001:db8::1 to assigned",
    ),
    (
        "SDF filter: trailing garbage",
        "permit out ip from any to assigned \u{0}\u{ffff} junk",
    ),
];

fn cases() -> Vec<Case> {
    use FailedRuleId as F;
    let sdf = BAD_SDF_FILTERS.map(|(name, flow)| {
        est_case(
            name,
            move || with_sdf(flow),
            Refuse(RULE_FAIL, None, Some((F::PDR, 2))),
        )
    });
    let mut cases = vec![
        // ---- framing ----
        case(
            "zero-byte datagram",
            |_, _| Vec::new(),
            Drop(DropReason::Truncated),
        ),
        case("one octet", |_, _| vec![0x21], Drop(DropReason::Truncated)),
        case(
            "session header cut inside the SEID",
            |_, seq| est_bytes(est(1), seq)[..9].to_vec(),
            Drop(DropReason::Truncated),
        ),
        case(
            "length field beyond the datagram",
            |_, seq| {
                let mut b = est_bytes(est(1), seq);
                b.truncate(b.len() - 5);
                b
            },
            Drop(DropReason::Length),
        ),
        case(
            "length field 0xffff",
            |_, seq| {
                let mut b = est_bytes(est(1), seq);
                b[2] = 0xff;
                b[3] = 0xff;
                b
            },
            Drop(DropReason::Length),
        ),
        case(
            "IE length beyond the message",
            |_, seq| {
                // The Node ID IE claims 0x0400 octets.
                let b = est_bytes(est(1), seq);
                patch(b, &[0, 60, 0], &[0, 60, 4])
            },
            Refuse(Cause::INVALID_LENGTH, Some(types::NODE_ID), None),
        ),
        case(
            "IE header cut short at the end",
            |_, seq| {
                let mut b = est_bytes(est(1), seq);
                b.extend_from_slice(&[0, 57, 0]);
                upf_pfcp::header::set_length(&mut b);
                b
            },
            Refuse(Cause::INVALID_LENGTH, Some(types::F_SEID), None),
        ),
        // ---- before/after association: see the test below ----
        // ---- the 2025-26 crash inputs ----
        est_case(
            "PDR without FAR ID",
            || {
                let mut r = est(0x100);
                r.create_pdr[0].far_id = None;
                r
            },
            Refuse(Cause::CONDITIONAL_IE_MISSING, Some(types::FAR_ID), None),
        ),
        est_case(
            "zero-length Outer Header Creation",
            || {
                let mut r = est(0x100);
                let fp = r.create_far[1].forwarding_parameters.as_mut().unwrap();
                fp.outer_header_creation = None;
                fp.unknown.push(raw(types::OUTER_HEADER_CREATION, &[]));
                r
            },
            Refuse(
                Cause::INVALID_LENGTH,
                Some(types::OUTER_HEADER_CREATION),
                None,
            ),
        ),
        est_case(
            "Outer Header Creation with a description only",
            || {
                let mut r = est(0x100);
                let fp = r.create_far[1].forwarding_parameters.as_mut().unwrap();
                fp.outer_header_creation = None;
                fp.unknown.push(raw(types::OUTER_HEADER_CREATION, &[1, 0]));
                r
            },
            Refuse(
                Cause::INVALID_LENGTH,
                Some(types::OUTER_HEADER_CREATION),
                None,
            ),
        ),
        est_case(
            "URR ID 65535",
            || {
                let mut r = est(0x100);
                r.create_urr = vec![urr(65535)];
                r.create_pdr[0].urr_ids = vec![UrrId(65535)];
                r.create_pdr[1].urr_ids = vec![UrrId(65535)];
                r
            },
            AcceptSession { reports: 1 },
        ),
        est_case(
            "the largest rule IDs",
            || {
                let mut r = est(0x100);
                let top = 0x7fff_ffff;
                r.create_pdr[0].pdr_id = PdrId(u16::MAX);
                r.create_pdr[0].far_id = Some(FarId(top));
                r.create_pdr[0].urr_ids = vec![UrrId(top), UrrId(65535)];
                r.create_pdr[0].qer_ids = vec![QerId(top)];
                r.create_far[0].far_id = FarId(top);
                r.create_urr.push(urr(top));
                r.create_urr.push(urr(65535));
                r.create_qer = vec![qer(top)];
                r
            },
            AcceptSession { reports: 3 },
        ),
        est_case(
            "a URR referenced but not created",
            || {
                let mut r = est(0x100);
                r.create_pdr[1].urr_ids = vec![UrrId(65535)];
                r
            },
            Refuse(RULE_FAIL, None, Some((F::PDR, 2))),
        ),
        est_case(
            "spare destination interface 15",
            || {
                let mut r = est(0x100);
                r.create_far[0] = far(1, 15, None);
                r
            },
            Refuse(RULE_FAIL, None, Some((F::FAR, 1))),
        ),
        est_case(
            "destination interface CP-function on the uplink",
            || {
                let mut r = est(0x100);
                r.create_far[0] = far(1, interface::CP_FUNCTION, None);
                r
            },
            Refuse(RULE_FAIL, None, Some((F::FAR, 1))),
        ),
        mod_case(
            "Update FAR to destination interface 9",
            || {
                modify(|r| {
                    r.update_far.push(UpdateFar {
                        far_id: FarId(2),
                        apply_action: None,
                        update_forwarding_parameters: Some(UpdateForwardingParameters {
                            destination_interface: Some(DestinationInterface(9)),
                            ..UpdateForwardingParameters::default()
                        }),
                        bar_id: None,
                        unknown: Vec::new(),
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::FAR, 2))),
        ),
        est_case(
            "spare source interface 7",
            || {
                let mut r = est(0x100);
                r.create_pdr[1].pdi.source_interface = SourceInterface(7);
                r
            },
            Refuse(RULE_FAIL, None, Some((F::PDR, 2))),
        ),
        est_case(
            "vendor IEs (type above 0x7fff, Enterprise ID) at every level",
            || {
                let mut r = est(0x100);
                r.unknown.push(vendor(0x7fff, 10415, &[1, 2, 3]));
                r.create_pdr[0].unknown.push(vendor(1, 18681, &[]));
                r.create_pdr[0]
                    .pdi
                    .unknown
                    .push(vendor(0x7fff, 0xffff, &[0; 300]));
                r.create_far[1]
                    .forwarding_parameters
                    .as_mut()
                    .unwrap()
                    .unknown
                    .push(vendor(84, 1, &[0]));
                r
            },
            AcceptSession { reports: 1 },
        ),
        case(
            "vendor IE too short for its Enterprise ID",
            |_, seq| {
                let mut b = est_bytes(est(0x100), seq);
                b.extend_from_slice(&[0xff, 0xff, 0, 1, 0x28]);
                upf_pfcp::header::set_length(&mut b);
                b
            },
            Refuse(Cause::INVALID_LENGTH, Some(0xffff), None),
        ),
        est_case(
            "unknown comprehension-free IEs (Create BAR, type 0x7fff)",
            || {
                let mut r = est(0x100);
                r.unknown.push(raw(types::CREATE_BAR, &[0, 88, 0, 1, 1]));
                r.unknown.push(raw(0x7fff, &[0xde, 0xad]));
                r
            },
            AcceptSession { reports: 1 },
        ),
        // ---- SDF filters (and BAD_SDF_FILTERS) ----
        est_case(
            "SDF filter IE of zero length",
            || {
                let mut r = est(0x100);
                r.create_pdr[1]
                    .pdi
                    .unknown
                    .push(raw(types::SDF_FILTER, &[]));
                r
            },
            Refuse(Cause::INVALID_LENGTH, Some(types::SDF_FILTER), None),
        ),
        // ---- duplicated IEs ----
        est_case(
            "Node ID twice (the first is used)",
            || {
                let mut r = est(0x100);
                r.unknown.push(raw(types::NODE_ID, &[0, 192, 0, 2, 99]));
                r
            },
            AcceptSession { reports: 1 },
        ),
        est_case(
            "CP F-SEID twice (the first is used)",
            || {
                let mut r = est(0x100);
                r.unknown.push(raw(
                    types::F_SEID,
                    &[2, 0, 0, 0, 0, 0, 0, 0, 1, 10, 0, 0, 2],
                ));
                r
            },
            AcceptSession { reports: 1 },
        ),
        est_case(
            "two Create PDR with one PDR ID",
            || {
                let mut r = est(0x100);
                let mut again = r.create_pdr[1].clone();
                again.pdr_id = PdrId(1);
                r.create_pdr.push(again);
                r
            },
            Refuse(RULE_FAIL, None, Some((F::PDR, 1))),
        ),
        est_case(
            "two Create FAR with one FAR ID",
            || {
                let mut r = est(0x100);
                r.create_far.push(far(1, interface::ACCESS, Some(7)));
                r
            },
            Refuse(RULE_FAIL, None, Some((F::FAR, 1))),
        ),
        est_case(
            "two Create URR with one URR ID",
            || {
                let mut r = est(0x100);
                r.create_urr.push(urr(1));
                r
            },
            Refuse(RULE_FAIL, None, Some((F::URR, 1))),
        ),
        est_case(
            "two Create QER with one QER ID",
            || {
                let mut r = est(0x100);
                r.create_qer.push(qer(1));
                r
            },
            Refuse(RULE_FAIL, None, Some((F::QER, 1))),
        ),
        mod_case(
            "Remove PDR twice in one request",
            || {
                modify(|r| {
                    r.remove_pdr = vec![RemovePdr { pdr_id: PdrId(2) }; 2];
                })
            },
            Refuse(RULE_FAIL, None, Some((F::PDR, 2))),
        ),
        // ---- unknown rule IDs: refused whole (accepting is a quota bypass) ----
        mod_case(
            "Remove PDR unknown",
            || modify(|r| r.remove_pdr.push(RemovePdr { pdr_id: PdrId(9) })),
            Refuse(RULE_FAIL, None, Some((F::PDR, 9))),
        ),
        mod_case(
            "Remove FAR unknown",
            || modify(|r| r.remove_far.push(RemoveFar { far_id: FarId(9) })),
            Refuse(RULE_FAIL, None, Some((F::FAR, 9))),
        ),
        mod_case(
            "Remove URR unknown",
            || {
                modify(|r| {
                    r.remove_urr.push(RemoveUrr {
                        urr_id: UrrId(65535),
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::URR, 65535))),
        ),
        mod_case(
            "Remove QER unknown",
            || modify(|r| r.remove_qer.push(RemoveQer { qer_id: QerId(9) })),
            Refuse(RULE_FAIL, None, Some((F::QER, 9))),
        ),
        mod_case(
            "Update PDR unknown",
            || {
                modify(|r| {
                    r.update_pdr.push(UpdatePdr {
                        pdr_id: PdrId(9),
                        outer_header_removal: None,
                        precedence: Some(Precedence(1)),
                        pdi: None,
                        far_id: None,
                        urr_ids: Vec::new(),
                        qer_ids: Vec::new(),
                        activate_predefined_rules: Vec::new(),
                        deactivate_predefined_rules: Vec::new(),
                        unknown: Vec::new(),
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::PDR, 9))),
        ),
        mod_case(
            "Update FAR unknown",
            || {
                modify(|r| {
                    r.update_far.push(UpdateFar {
                        far_id: FarId(9),
                        apply_action: Some(ApplyAction(ApplyAction::DROP)),
                        update_forwarding_parameters: None,
                        bar_id: None,
                        unknown: Vec::new(),
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::FAR, 9))),
        ),
        mod_case(
            "Update URR unknown (removing its quota would be a bypass)",
            || {
                modify(|r| {
                    r.update_urr.push(UpdateUrr {
                        reporting_triggers: Some(ReportingTriggers(0)),
                        ..UpdateUrr::of(UrrId(9))
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::URR, 9))),
        ),
        mod_case(
            "Update QER unknown (opening a gate)",
            || {
                modify(|r| {
                    r.update_qer.push(UpdateQer {
                        qer_id: QerId(9),
                        qer_correlation_id: None,
                        gate_status: Some(GateStatus { ul: 0, dl: 0 }),
                        mbr: None,
                        gbr: None,
                        qfi: None,
                        rqi: None,
                        unknown: Vec::new(),
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::QER, 9))),
        ),
        mod_case(
            "a known and an unknown Update URR: neither applied",
            || {
                modify(|r| {
                    let u = |id| UpdateUrr {
                        reporting_triggers: Some(ReportingTriggers(0)),
                        ..UpdateUrr::of(UrrId(id))
                    };
                    r.update_urr = vec![u(1), u(8)];
                })
            },
            Refuse(RULE_FAIL, None, Some((F::URR, 8))),
        ),
        mod_case(
            "Query URR unknown",
            || {
                modify(|r| {
                    r.query_urr.push(QueryUrr {
                        urr_id: UrrId(65535),
                    })
                })
            },
            Refuse(RULE_FAIL, None, Some((F::URR, 65535))),
        ),
        mod_case(
            "Query URR known",
            || modify(|r| r.query_urr.push(QueryUrr { urr_id: UrrId(1) })),
            AcceptNoChange,
        ),
        case(
            "Modification of an unknown SEID",
            |seid, seq| mod_bytes(seid + 1000, SessionModificationRequest::default(), seq),
            Refuse(Cause::SESSION_CONTEXT_NOT_FOUND, None, None),
        ),
        case(
            "Deletion of an unknown SEID",
            |seid, seq| {
                Pdu {
                    header: Header::session(MsgType::SESSION_DELETION_REQUEST, seid ^ 0xffff, seq),
                    message: Message::SessionDeletionRequest(SessionDeletionRequest::default()),
                }
                .to_bytes()
            },
            Refuse(Cause::SESSION_CONTEXT_NOT_FOUND, None, None),
        ),
        case(
            "Modification with SEID 0",
            |_, seq| mod_bytes(0, SessionModificationRequest::default(), seq),
            Refuse(Cause::SESSION_CONTEXT_NOT_FOUND, None, None),
        ),
        est_case(
            "establishment reusing the base session's CP SEID",
            || est(BASE_CP_SEID),
            Refuse(Cause::REQUEST_REJECTED, Some(types::F_SEID), None),
        ),
    ];
    cases.extend(sdf);
    cases
}

#[test]
fn hostile_pfcp_table() {
    let mut failures = Vec::new();
    for c in cases() {
        let mut upf = Upf::roomy();
        upf.associate();
        let empty = upf.in_use();
        let base = upf.establish(est(BASE_CP_SEID));
        let before = upf.state();
        let seq = upf.next_seq();
        let datagram = (c.datagram)(base, seq);
        let out = upf.send(&datagram);
        let got = match (&c.expect, &out[..]) {
            (Drop(reason), []) => {
                if upf.node.stats().dropped(*reason) != 1 {
                    Err(format!("dropped, but not counted as {reason:?}"))
                } else {
                    Ok(())
                }
            }
            (Drop(_), out) => Err(format!("answered {out:?}")),
            (_, [rsp]) if rsp.header.sequence != seq => {
                Err(format!("answer to another sequence: {rsp:?}"))
            }
            (Refuse(cause, offending, failed), [rsp]) => {
                let want = (
                    *cause,
                    *offending,
                    failed.map(|(rule_type, id)| FailedRuleId { rule_type, id }),
                );
                let got = outcome(&rsp.message);
                if got != want {
                    Err(format!("answered {got:?}, want {want:?}"))
                } else {
                    Ok(())
                }
            }
            (AcceptSession { reports }, [rsp]) => match &rsp.message {
                Message::SessionEstablishmentResponse(r) if r.cause == Cause::REQUEST_ACCEPTED => {
                    let up = r.up_f_seid.unwrap().seid;
                    let d = upf.delete(up);
                    if d.cause != Cause::REQUEST_ACCEPTED || d.usage_report.len() != *reports {
                        Err(format!("deletion answered {d:?}"))
                    } else {
                        Ok(())
                    }
                }
                m => Err(format!("answered {:?}", outcome(m))),
            },
            (AcceptNoChange, [rsp]) => match outcome(&rsp.message) {
                (Cause::REQUEST_ACCEPTED, None, None) => Ok(()),
                o => Err(format!("answered {o:?}")),
            },
            (_, out) => Err(format!("{} answers: {out:?}", out.len())),
        };
        if let Err(e) = got {
            failures.push(format!("{}: {e}", c.name));
            continue;
        }
        // The UPF is where it was, and still answers.
        if !matches!(c.expect, AcceptNoChange) {
            assert_eq!(upf.state(), before, "{}: state changed", c.name);
        } else {
            assert_eq!(upf.state().0, before.0, "{}", c.name);
            assert_eq!(upf.state().1, before.1, "{}", c.name);
        }
        upf.heartbeat_answered(c.name);
        // The base session is still there and can be modified and deleted.
        let seq = upf.next_seq();
        let q = mod_bytes(
            base,
            modify(|r| r.query_urr.push(QueryUrr { urr_id: UrrId(1) })),
            seq,
        );
        assert_eq!(
            outcome(&upf.ask(&q).message).0,
            Cause::REQUEST_ACCEPTED,
            "{}",
            c.name
        );
        assert_eq!(
            upf.delete(base).cause,
            Cause::REQUEST_ACCEPTED,
            "{}",
            c.name
        );
        assert_eq!(upf.sessions(), 0, "{}", c.name);
        assert_eq!(upf.in_use(), empty, "{}: pools back empty", c.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn session_requests_before_association_are_refused_and_create_nothing() {
    let mut upf = Upf::roomy();
    let empty = upf.state();
    let seq = upf.next_seq();
    let rsp = upf.ask(&est_bytes(est(1), seq));
    assert_eq!(rsp.header.seid, Some(1), "the CP F-SEID of the request");
    assert_eq!(
        outcome(&rsp.message).0,
        Cause::NO_ESTABLISHED_PFCP_ASSOCIATION
    );
    let seq = upf.next_seq();
    let rsp = upf.ask(&mod_bytes(1, SessionModificationRequest::default(), seq));
    assert_eq!(
        outcome(&rsp.message).0,
        Cause::NO_ESTABLISHED_PFCP_ASSOCIATION
    );
    assert_eq!(upf.delete(1).cause, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert_eq!(upf.state(), empty);
    upf.heartbeat_answered("before association");
    upf.associate();
    let up = upf.establish(est(1));
    assert_eq!(upf.delete(up).cause, Cause::REQUEST_ACCEPTED);
}

/// Create BAR is not modelled (we do not buffer): it is ignored on a CP SEID
/// the SMF reuses after a deletion, in establishment and modification, and
/// so are Update BAR and Remove BAR for a BAR that never existed.
#[test]
fn create_bar_on_a_recycled_seid_is_ignored() {
    let mut upf = Upf::roomy();
    upf.associate();
    let empty = upf.state();
    let bar = |id: u8| raw(types::CREATE_BAR, &[0, 88, 0, 1, id]);
    let mut with_bar = est(7);
    with_bar.unknown.push(bar(1));
    let first = upf.establish(with_bar.clone());
    assert_eq!(upf.delete(first).cause, Cause::REQUEST_ACCEPTED);
    let again = upf.establish(with_bar);
    assert_ne!(again, first, "a UP SEID is not reused at once");
    for (ie, what) in [
        (bar(1), "Create BAR for the BAR it has"),
        (bar(2), "another Create BAR"),
        (raw(86, &[0, 88, 0, 1, 9]), "Update BAR of an unknown BAR"),
        (raw(87, &[0, 88, 0, 1, 9]), "Remove BAR of an unknown BAR"),
        (raw(types::CREATE_BAR, &[]), "empty Create BAR"),
    ] {
        let seq = upf.next_seq();
        let r = modify(|r| r.unknown.push(ie));
        let rsp = upf.ask(&mod_bytes(again, r, seq));
        assert_eq!(outcome(&rsp.message).0, Cause::REQUEST_ACCEPTED, "{what}");
        upf.heartbeat_answered(what);
    }
    assert_eq!(upf.delete(again).cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(upf.state(), empty);
}

/// More establishments than the datapath maps hold: the ones that fit are
/// accepted, every other one is No resources available and leaves nothing
/// behind; the node keeps answering; deleting all returns every entry and
/// pool item, and the room is usable again.
#[test]
fn a_flood_of_establishments_beyond_map_capacity() {
    let mut upf = Upf::new(Capacity {
        sessions: 8,
        counter_slots: 64,
        rule_sets: 64,
        meters: 64,
    });
    upf.associate();
    let empty = upf.state();
    let mut accepted = Vec::new();
    let mut full = None;
    for cp in 1..=200u64 {
        let seq = upf.next_seq();
        let rsp = upf.ask(&est_bytes(est(cp), seq));
        let Message::SessionEstablishmentResponse(r) = &rsp.message else {
            panic!("{rsp:?}")
        };
        match r.cause {
            Cause::REQUEST_ACCEPTED => {
                assert!(full.is_none(), "accepted after a refusal: {cp}");
                accepted.push(r.up_f_seid.unwrap().seid);
            }
            Cause::NO_RESOURCES_AVAILABLE => {
                assert_eq!(r.up_f_seid, None, "a refusal hands out no F-SEID");
                let now = upf.state();
                assert_eq!(
                    *full.get_or_insert_with(|| now.clone()),
                    now,
                    "refusal {cp}"
                );
            }
            c => panic!("establishment {cp}: {c}"),
        }
        if cp % 50 == 0 {
            upf.heartbeat_answered("during the flood");
        }
    }
    assert_eq!(accepted.len(), 8, "one uplink and one downlink entry each");
    assert_eq!(upf.sessions(), 8);
    for s in accepted {
        assert_eq!(upf.delete(s).cause, Cause::REQUEST_ACCEPTED);
    }
    assert_eq!(upf.state(), empty);
    let s = upf.establish(est(1000));
    assert_eq!(upf.delete(s).cause, Cause::REQUEST_ACCEPTED);
}
