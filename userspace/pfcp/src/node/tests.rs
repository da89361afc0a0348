//! The node on a simulated clock, against a test SMF written with the codec,
//! over a simulated link that can lose, duplicate and reorder datagrams.

use super::*;

use std::net::Ipv4Addr;

use crate::ie::*;
use crate::message::*;

const UPF_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMF_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const UPF_TS: RecoveryTimeStamp = RecoveryTimeStamp(3_900_000_000);
const SMF_TS: RecoveryTimeStamp = RecoveryTimeStamp(3_800_000_000);

fn smf_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SMF_IP), PFCP_PORT)
}

fn upf_node_id() -> NodeId {
    NodeId::Ipv4(UPF_IP)
}

fn smf_node_id() -> NodeId {
    NodeId::Fqdn("smf.example.org".into())
}

fn smf_peer() -> PeerId {
    PeerId {
        node_id: smf_node_id(),
        addr: smf_addr(),
    }
}

fn config() -> NodeConfig {
    let mut cfg = NodeConfig::new(upf_node_id(), vec![PeerConfig::host(IpAddr::V4(SMF_IP))]);
    cfg.up_function_features = vec![0x01, 0x00]; // FTUP
    cfg.user_plane_ip_resources = vec![UserPlaneIpResourceInformation {
        ipv4: Some(UPF_IP),
        ..Default::default()
    }];
    cfg
}

fn initiating_config() -> NodeConfig {
    let mut cfg = config();
    cfg.peers[0].initiate = true;
    cfg
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- messages ----

fn setup_request(ts: RecoveryTimeStamp) -> Message {
    Message::AssociationSetupRequest(AssociationSetupRequest {
        node_id: smf_node_id(),
        recovery_time_stamp: ts,
        up_function_features: None,
        cp_function_features: Some(CpFunctionFeatures(vec![0])),
        user_plane_ip_resource_information: Vec::new(),
        unknown: Vec::new(),
    })
}

fn establishment(cp_seid: u64) -> SessionEstablishmentRequest {
    SessionEstablishmentRequest {
        node_id: smf_node_id(),
        cp_f_seid: Fseid {
            seid: cp_seid,
            ipv4: Some(SMF_IP),
            ipv6: None,
        },
        create_pdr: vec![CreatePdr {
            pdr_id: PdrId(1),
            precedence: Precedence(100),
            pdi: Pdi {
                source_interface: SourceInterface(interface::ACCESS),
                ..Default::default()
            },
            outer_header_removal: None,
            far_id: Some(FarId(1)),
            urr_ids: Vec::new(),
            qer_ids: Vec::new(),
            activate_predefined_rules: Vec::new(),
            unknown: Vec::new(),
        }],
        create_far: vec![CreateFar::forward(FarId(1), interface::CORE, None)],
        create_urr: Vec::new(),
        create_qer: Vec::new(),
        pdn_type: None,
        unknown: Vec::new(),
    }
}

fn report_request() -> SessionReportRequest {
    SessionReportRequest {
        report_type: ReportType(ReportType::USAR),
        usage_report: Vec::new(),
        load_control_information: None,
        overload_control_information: None,
        unknown: Vec::new(),
    }
}

fn bytes(header: Header, message: Message) -> Vec<u8> {
    Pdu { header, message }.to_bytes()
}

fn parse(b: &[u8]) -> Pdu {
    Pdu::parse(b).unwrap_or_else(|e| panic!("node sent an unparsable message ({e}): {b:02x?}"))
}

fn cause(m: &Message) -> Cause {
    cause_of(m).unwrap_or_else(|| panic!("no cause in {m:?}"))
}

fn offending_raw(m: &Message) -> Option<u16> {
    let unknown = match m {
        Message::AssociationSetupResponse(r) => &r.unknown,
        Message::AssociationUpdateResponse(r) => &r.unknown,
        Message::AssociationReleaseResponse(r) => &r.unknown,
        _ => return None,
    };
    unknown
        .iter()
        .find(|ie| ie.ie_type == types::OFFENDING_IE)
        .map(|ie| u16::from_be_bytes([ie.value[0], ie.value[1]]))
}

// ---- the fake session handler ----

#[derive(Default)]
struct FakeHandler {
    session_requests: Vec<(PeerId, MsgType, Option<u64>)>,
    report_responses: Vec<(PeerId, u64, Option<Message>)>,
    released: Vec<PeerId>,
    next_up_seid: u64,
}

impl SessionHandler for FakeHandler {
    fn session_request(
        &mut self,
        peer: &PeerId,
        header: &Header,
        msg: Message,
        _now: Instant,
    ) -> (u64, Message) {
        self.session_requests
            .push((peer.clone(), header.message_type, header.seid));
        match msg {
            Message::SessionEstablishmentRequest(r) => {
                self.next_up_seid += 1;
                (
                    r.cp_f_seid.seid,
                    Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
                        node_id: upf_node_id(),
                        cause: Cause::REQUEST_ACCEPTED,
                        offending_ie: None,
                        up_f_seid: Some(Fseid {
                            seid: 0x1000 + self.next_up_seid,
                            ipv4: Some(UPF_IP),
                            ipv6: None,
                        }),
                        created_pdr: Vec::new(),
                        load_control_information: None,
                        overload_control_information: None,
                        failed_rule_id: None,
                        unknown: Vec::new(),
                    }),
                )
            }
            Message::SessionModificationRequest(_) => (
                7,
                Message::SessionModificationResponse(SessionModificationResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    created_pdr: Vec::new(),
                    load_control_information: None,
                    overload_control_information: None,
                    usage_report: Vec::new(),
                    failed_rule_id: None,
                    unknown: Vec::new(),
                }),
            ),
            _ => (
                7,
                Message::SessionDeletionResponse(SessionDeletionResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    load_control_information: None,
                    overload_control_information: None,
                    usage_report: Vec::new(),
                    unknown: Vec::new(),
                }),
            ),
        }
    }

    fn session_report_response(
        &mut self,
        peer: &PeerId,
        seid: u64,
        rsp: Option<Message>,
        _now: Instant,
    ) {
        self.report_responses.push((peer.clone(), seid, rsp));
    }

    fn release_peer(&mut self, peer: &PeerId, _now: Instant) {
        self.released.push(peer.clone());
    }

    fn cp_seid(&mut self, _peer: &PeerId, up_seid: u64) -> Option<u64> {
        (up_seid == 0x1001).then_some(0xabc)
    }
}

// ---- a seeded PRNG and the simulated link ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToUpf,
    ToSmf,
}

struct Link {
    rng: Rng,
    loss_per_mille: u64,
    dup_per_mille: u64,
    /// One-way delay: base plus up to this much jitter, so datagrams reorder.
    base: Duration,
    jitter_ms: u64,
    /// Drop the next n datagrams in that direction.
    drop_to_smf: usize,
    drop_to_upf: usize,
    /// Drop everything toward the SMF.
    cut_to_smf: bool,
    in_flight: Vec<(Instant, u64, Dir, Vec<u8>)>,
    order: u64,
}

impl Link {
    fn perfect() -> Link {
        Link::lossy(1, 0, 0, 0)
    }

    fn lossy(seed: u64, loss_per_mille: u64, dup_per_mille: u64, jitter_ms: u64) -> Link {
        Link {
            rng: Rng(seed.max(1)),
            loss_per_mille,
            dup_per_mille,
            base: Duration::from_millis(5),
            jitter_ms,
            drop_to_smf: 0,
            drop_to_upf: 0,
            cut_to_smf: false,
            in_flight: Vec::new(),
            order: 0,
        }
    }

    fn send(&mut self, dir: Dir, bytes: Vec<u8>, now: Instant) {
        let forced = match dir {
            Dir::ToSmf if self.cut_to_smf => true,
            Dir::ToSmf if self.drop_to_smf > 0 => {
                self.drop_to_smf -= 1;
                true
            }
            Dir::ToUpf if self.drop_to_upf > 0 => {
                self.drop_to_upf -= 1;
                true
            }
            _ => false,
        };
        if forced || self.rng.chance(self.loss_per_mille) {
            return;
        }
        let copies = if self.rng.chance(self.dup_per_mille) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = Duration::from_millis(self.rng.next() % (self.jitter_ms + 1));
            self.order += 1;
            self.in_flight
                .push((now + self.base + jitter, self.order, dir, bytes.clone()));
        }
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.iter().map(|(t, ..)| *t).min()
    }

    /// The datagrams due at `now`, in arrival order.
    fn due(&mut self, now: Instant) -> Vec<(Dir, Vec<u8>)> {
        let mut due: Vec<_> = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(t, order, ..)| (*t, *order));
        due.into_iter().map(|(_, _, d, b)| (d, b)).collect()
    }
}

// ---- the test SMF ----

struct Smf {
    recovery: RecoveryTimeStamp,
    seq: u32,
    answer_heartbeats: bool,
    accept_setups: bool,
    /// Requests received from the UPF (retransmissions included).
    requests: Vec<Pdu>,
    /// Responses received to our requests (duplicates included).
    responses: Vec<Pdu>,
    /// Our requests not answered yet: bytes, next retransmission.
    pending: BTreeMap<u32, (Vec<u8>, Instant)>,
    outbox: Vec<Vec<u8>>,
}

impl Smf {
    const T1: Duration = Duration::from_secs(3);

    fn new() -> Smf {
        Smf {
            recovery: SMF_TS,
            seq: 100,
            answer_heartbeats: true,
            accept_setups: true,
            requests: Vec::new(),
            responses: Vec::new(),
            pending: BTreeMap::new(),
            outbox: Vec::new(),
        }
    }

    /// Sends a request (retransmitted every T1 until answered); returns its
    /// sequence number.
    fn request(&mut self, mut header: Header, msg: Message, now: Instant) -> u32 {
        self.seq += 1;
        header.sequence = self.seq;
        let b = bytes(header, msg);
        self.pending.insert(self.seq, (b.clone(), now + Self::T1));
        self.outbox.push(b);
        self.seq
    }

    fn receive(&mut self, b: &[u8], now: Instant) {
        let pdu = parse(b);
        let t = pdu.header.message_type;
        if !t.is_request() {
            self.pending.remove(&pdu.header.sequence);
            self.responses.push(pdu);
            return;
        }
        let seq = pdu.header.sequence;
        let answer = match &pdu.message {
            Message::HeartbeatRequest(_) if self.answer_heartbeats => {
                Some(Message::HeartbeatResponse(HeartbeatResponse {
                    recovery_time_stamp: self.recovery,
                    unknown: Vec::new(),
                }))
            }
            Message::AssociationSetupRequest(_) if self.accept_setups => Some(
                Message::AssociationSetupResponse(AssociationSetupResponse {
                    node_id: smf_node_id(),
                    cause: Cause::REQUEST_ACCEPTED,
                    recovery_time_stamp: self.recovery,
                    up_function_features: None,
                    cp_function_features: Some(CpFunctionFeatures(vec![0])),
                    user_plane_ip_resource_information: Vec::new(),
                    unknown: Vec::new(),
                }),
            ),
            Message::SessionReportRequest(_) => {
                Some(Message::SessionReportResponse(SessionReportResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    unknown: Vec::new(),
                }))
            }
            Message::NodeReportRequest(_) => {
                Some(Message::NodeReportResponse(NodeReportResponse {
                    node_id: smf_node_id(),
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    unknown: Vec::new(),
                }))
            }
            _ => None,
        };
        if let Some(m) = answer {
            let rt = MsgType(t.0 + 1);
            let header = match pdu.header.seid {
                Some(_) => Header::session(rt, 0, seq),
                None => Header::node(rt, seq),
            };
            self.outbox.push(bytes(header, m));
        }
        let _ = now;
        self.requests.push(pdu);
    }

    fn timeout(&mut self, now: Instant) {
        for (b, next) in self.pending.values_mut() {
            if *next <= now {
                *next = now + Self::T1;
                self.outbox.push(b.clone());
            }
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|(_, t)| *t).min()
    }

    fn requests_of(&self, t: MsgType) -> Vec<&Pdu> {
        self.requests
            .iter()
            .filter(|p| p.header.message_type == t)
            .collect()
    }

    fn responses_of(&self, t: MsgType) -> Vec<&Pdu> {
        self.responses
            .iter()
            .filter(|p| p.header.message_type == t)
            .collect()
    }
}

// ---- the simulation ----

struct Sim {
    start: Instant,
    now: Instant,
    node: Node,
    h: FakeHandler,
    smf: Smf,
    link: Link,
    events: Vec<Event>,
}

impl Sim {
    fn new(cfg: NodeConfig, link: Link) -> Sim {
        let start = Instant::now();
        Sim {
            start,
            now: start,
            node: Node::new(cfg, UPF_TS, start),
            h: FakeHandler::default(),
            smf: Smf::new(),
            link,
            events: Vec::new(),
        }
    }

    fn pump(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
            assert_eq!(t.to.ip(), IpAddr::V4(SMF_IP), "sent somewhere else");
            self.link.send(Dir::ToSmf, t.bytes, self.now);
        }
        for b in std::mem::take(&mut self.smf.outbox) {
            self.link.send(Dir::ToUpf, b, self.now);
        }
        while let Some(e) = self.node.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs the node, the link and the SMF for `d` of simulated time.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let next = [
                self.node.poll_timeout(),
                self.link.next_delivery(),
                self.smf.next_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    self.pump();
                    return;
                }
            }
            for (dir, b) in self.link.due(self.now) {
                match dir {
                    Dir::ToUpf => self
                        .node
                        .handle_datagram(smf_addr(), &b, self.now, &mut self.h),
                    Dir::ToSmf => self.smf.receive(&b, self.now),
                }
            }
            if self.node.poll_timeout().is_some_and(|t| t <= self.now) {
                self.node.handle_timeout(self.now, &mut self.h);
            }
            self.smf.timeout(self.now);
        }
    }

    /// Delivers `b` from `from` straight to the node (no link) and returns
    /// what the node sends.
    fn direct(&mut self, from: SocketAddr, b: &[u8]) -> Vec<Transmit> {
        self.node.handle_datagram(from, b, self.now, &mut self.h);
        let mut out = Vec::new();
        while let Some(t) = self.node.poll_transmit() {
            out.push(t);
        }
        while let Some(e) = self.node.poll_event() {
            self.events.push(e);
        }
        out
    }

    /// One request straight to the node, one response back.
    fn ask(&mut self, header: Header, msg: Message) -> Pdu {
        let out = self.direct(smf_addr(), &bytes(header, msg));
        assert_eq!(out.len(), 1, "expected one response, got {out:?}");
        assert_eq!(out[0].to, smf_addr());
        parse(&out[0].bytes)
    }

    fn associate(&mut self) {
        let rsp = self.ask(
            Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 1),
            setup_request(SMF_TS),
        );
        assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
        self.events.clear();
    }

    fn state(&self) -> Option<PeerState> {
        self.node
            .peers()
            .into_iter()
            .find(|p| p.addr == smf_addr())
            .map(|p| p.state)
    }
}

// ---- association ----

#[test]
fn smf_initiated_association() {
    let mut sim = Sim::new(config(), Link::perfect());
    let seq = sim.smf.request(
        Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 0),
        setup_request(SMF_TS),
        sim.now,
    );
    sim.run_for(secs(1));
    let rsps = sim.smf.responses_of(MsgType::ASSOCIATION_SETUP_RESPONSE);
    assert_eq!(rsps.len(), 1);
    assert_eq!(rsps[0].header.sequence, seq);
    let Message::AssociationSetupResponse(r) = &rsps[0].message else {
        unreachable!()
    };
    assert_eq!(r.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(r.node_id, upf_node_id());
    assert_eq!(r.recovery_time_stamp, UPF_TS);
    assert_eq!(
        r.up_function_features,
        Some(UpFunctionFeatures(vec![0x01, 0x00]))
    );
    assert_eq!(r.user_plane_ip_resource_information.len(), 1);
    assert_eq!(sim.events, vec![Event::Associated(smf_peer())]);
    let peers = sim.node.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].state, PeerState::Associated);
    assert_eq!(peers[0].node_id, Some(smf_node_id()));
    assert_eq!(peers[0].recovery_time_stamp, Some(SMF_TS));
    assert_eq!(sim.node.stats().responses(Cause::REQUEST_ACCEPTED), 1);
}

#[test]
fn upf_initiated_association_with_first_request_lost() {
    let mut sim = Sim::new(initiating_config(), Link::perfect());
    sim.link.drop_to_smf = 1;
    assert_eq!(sim.state(), Some(PeerState::Associating));
    sim.run_for(secs(5));
    let setups = sim.smf.requests_of(MsgType::ASSOCIATION_SETUP_REQUEST);
    assert_eq!(
        setups.len(),
        1,
        "the first was lost, the retransmission arrives"
    );
    let Message::AssociationSetupRequest(r) = &setups[0].message else {
        unreachable!()
    };
    assert_eq!(r.node_id, upf_node_id());
    assert_eq!(r.recovery_time_stamp, UPF_TS);
    assert_eq!(r.up_function_features, Some(UpFunctionFeatures(vec![1, 0])));
    assert_eq!(setups[0].to_bytes()[0] >> 5, 1);
    assert_eq!(sim.node.stats().retransmissions, 1);
    assert_eq!(sim.state(), Some(PeerState::Associated));
    assert_eq!(sim.events, vec![Event::Associated(smf_peer())]);
    // No more setup requests once associated.
    sim.run_for(secs(60));
    assert_eq!(
        sim.smf
            .requests_of(MsgType::ASSOCIATION_SETUP_REQUEST)
            .len(),
        1
    );
}

#[test]
fn upf_initiated_association_retried_forever() {
    let mut sim = Sim::new(initiating_config(), Link::perfect());
    sim.smf.accept_setups = false;
    // T1 = 3 s, N1 = 3: 4 transmissions over 12 s, then a new request after
    // the heartbeat interval (10 s): 22 s per round.
    sim.run_for(secs(12) - Duration::from_millis(1));
    let setups = sim.smf.requests_of(MsgType::ASSOCIATION_SETUP_REQUEST);
    assert_eq!(setups.len(), 4);
    assert!(setups
        .iter()
        .all(|p| p.header.sequence == setups[0].header.sequence));
    let first_seq = setups[0].header.sequence;
    sim.run_for(secs(11));
    let setups = sim.smf.requests_of(MsgType::ASSOCIATION_SETUP_REQUEST);
    assert_eq!(setups.len(), 5);
    assert_ne!(setups[4].header.sequence, first_seq, "a new request");
    sim.run_for(secs(200));
    assert!(
        sim.smf
            .requests_of(MsgType::ASSOCIATION_SETUP_REQUEST)
            .len()
            > 30
    );
    assert_eq!(sim.state(), Some(PeerState::Associating));
    // Then the SMF comes up.
    sim.smf.accept_setups = true;
    sim.run_for(secs(30));
    assert_eq!(sim.state(), Some(PeerState::Associated));
    assert_eq!(sim.events, vec![Event::Associated(smf_peer())]);
}

#[test]
fn setup_again_with_same_recovery_keeps_sessions() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let rsp = sim.ask(
        Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 2),
        setup_request(SMF_TS),
    );
    assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
    assert!(sim.h.released.is_empty());
    assert_eq!(sim.events, vec![Event::Associated(smf_peer())]);
}

#[test]
fn setup_again_after_restart_releases_old_sessions() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let rsp = sim.ask(
        Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 2),
        setup_request(RecoveryTimeStamp(SMF_TS.0 + 100)),
    );
    assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
    assert_eq!(sim.h.released, vec![smf_peer()]);
    assert_eq!(
        sim.events,
        vec![
            Event::PeerRestarted(smf_peer()),
            Event::Associated(smf_peer())
        ]
    );
    assert_eq!(sim.state(), Some(PeerState::Associated));
    assert_eq!(
        sim.node.peers()[0].recovery_time_stamp,
        Some(RecoveryTimeStamp(SMF_TS.0 + 100))
    );
}

#[test]
fn association_release() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let rsp = sim.ask(
        Header::node(MsgType::ASSOCIATION_RELEASE_REQUEST, 5),
        Message::AssociationReleaseRequest(AssociationReleaseRequest {
            node_id: smf_node_id(),
            unknown: Vec::new(),
        }),
    );
    assert_eq!(
        rsp.header.message_type,
        MsgType::ASSOCIATION_RELEASE_RESPONSE
    );
    assert_eq!(rsp.header.sequence, 5);
    assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
    assert_eq!(sim.h.released, vec![smf_peer()]);
    assert_eq!(sim.events, vec![Event::Released(smf_peer())]);
    assert_eq!(sim.state(), None);
    // Sessions now need a new association.
    let rsp = sim.ask(
        Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 6),
        Message::SessionEstablishmentRequest(establishment(9)),
    );
    assert_eq!(cause(&rsp.message), Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert!(sim.h.session_requests.is_empty());
}

#[test]
fn association_update_with_release_request_releases_after_grace() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let rsp = sim.ask(
        Header::node(MsgType::ASSOCIATION_UPDATE_REQUEST, 5),
        Message::AssociationUpdateRequest(AssociationUpdateRequest {
            node_id: smf_node_id(),
            up_function_features: None,
            cp_function_features: None,
            association_release_request: Some(1),
            graceful_release_period: Some(5), // 5 × 2 s
            unknown: Vec::new(),
        }),
    );
    assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
    sim.run_for(secs(9));
    assert!(sim.h.released.is_empty());
    assert_eq!(sim.state(), Some(PeerState::Associated));
    sim.run_for(secs(2));
    assert_eq!(sim.h.released, vec![smf_peer()]);
    assert!(sim.events.contains(&Event::Released(smf_peer())));
    assert_eq!(sim.state(), None);
}

#[test]
fn association_requests_with_bad_node_id() {
    let mut sim = Sim::new(config(), Link::perfect());
    // Release without an association: 72.
    let rsp = sim.ask(
        Header::node(MsgType::ASSOCIATION_RELEASE_REQUEST, 1),
        Message::AssociationReleaseRequest(AssociationReleaseRequest {
            node_id: smf_node_id(),
            unknown: Vec::new(),
        }),
    );
    assert_eq!(cause(&rsp.message), Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    sim.associate();
    // Another node's ID: Mandatory IE incorrect, Offending IE Node ID.
    let rsp = sim.ask(
        Header::node(MsgType::ASSOCIATION_RELEASE_REQUEST, 2),
        Message::AssociationReleaseRequest(AssociationReleaseRequest {
            node_id: NodeId::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
            unknown: Vec::new(),
        }),
    );
    assert_eq!(cause(&rsp.message), Cause::MANDATORY_IE_INCORRECT);
    assert_eq!(offending_raw(&rsp.message), Some(types::NODE_ID));
    let Message::AssociationReleaseResponse(r) = &rsp.message else {
        unreachable!()
    };
    assert_eq!(r.node_id, upf_node_id());
    assert!(sim.h.released.is_empty());
    // Setup Request without a Node ID: Mandatory IE missing.
    let mut raw = Vec::new();
    Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 3).emit(&mut raw);
    SMF_TS.emit(&mut raw);
    crate::header::set_length(&mut raw);
    let out = sim.direct(smf_addr(), &raw);
    let rsp = parse(&out[0].bytes);
    assert_eq!(rsp.header.sequence, 3);
    assert_eq!(cause(&rsp.message), Cause::MANDATORY_IE_MISSING);
    assert_eq!(offending_raw(&rsp.message), Some(types::NODE_ID));
    let Message::AssociationSetupResponse(r) = &rsp.message else {
        unreachable!()
    };
    assert_eq!(r.node_id, upf_node_id());
    assert_eq!(r.recovery_time_stamp, UPF_TS);
    // Still associated.
    assert_eq!(sim.state(), Some(PeerState::Associated));
}

// ---- heartbeats ----

#[test]
fn heartbeats_both_ways() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    sim.run_for(secs(35));
    let hbs = sim.smf.requests_of(MsgType::HEARTBEAT_REQUEST);
    assert_eq!(hbs.len(), 3, "one every 10 s");
    for hb in &hbs {
        let Message::HeartbeatRequest(r) = &hb.message else {
            unreachable!()
        };
        assert_eq!(r.recovery_time_stamp, UPF_TS);
    }
    assert_eq!(sim.node.stats().rx(MsgType::HEARTBEAT_RESPONSE), 3);
    // The SMF's heartbeat is answered.
    let seq = sim.smf.request(
        Header::node(MsgType::HEARTBEAT_REQUEST, 0),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
        sim.now,
    );
    sim.run_for(secs(1));
    let rsps = sim.smf.responses_of(MsgType::HEARTBEAT_RESPONSE);
    assert_eq!(rsps.len(), 1);
    assert_eq!(rsps[0].header.sequence, seq);
    let Message::HeartbeatResponse(r) = &rsps[0].message else {
        unreachable!()
    };
    assert_eq!(r.recovery_time_stamp, UPF_TS);
    let p = &sim.node.peers()[0];
    assert_eq!(p.state, PeerState::Associated);
    assert_eq!(p.missed_heartbeats, 0);
    assert!(sim.events.is_empty());
}

#[test]
fn heartbeat_answered_without_association() {
    let mut sim = Sim::new(config(), Link::perfect());
    let rsp = sim.ask(
        Header::node(MsgType::HEARTBEAT_REQUEST, 42),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
    );
    assert_eq!(rsp.header.sequence, 42);
    assert_eq!(
        rsp.message,
        Message::HeartbeatResponse(HeartbeatResponse {
            recovery_time_stamp: UPF_TS,
            unknown: Vec::new()
        })
    );
    assert_eq!(sim.state(), None);
}

fn lose_peer(policy: PeerLossPolicy) -> Sim {
    let mut cfg = config();
    cfg.on_peer_loss = policy;
    let mut sim = Sim::new(cfg, Link::perfect());
    sim.associate();
    sim.run_for(secs(15));
    sim.smf.answer_heartbeats = false;
    // Next heartbeat at 20 s, retransmitted at 23, 26, 29, given up at 32.
    sim.run_for(secs(16));
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.node.peers()[0].missed_heartbeats, 3);
    sim.run_for(secs(2));
    assert_eq!(sim.events, vec![Event::PeerLost(smf_peer())]);
    assert_eq!(sim.node.stats().timeouts, 1);
    sim
}

#[test]
fn peer_loss_keep_policy() {
    let mut sim = lose_peer(PeerLossPolicy::Keep);
    assert!(sim.h.released.is_empty());
    assert_eq!(sim.state(), Some(PeerState::Lost));
    // Sessions are still served.
    let rsp = sim.ask(
        Header::session(MsgType::SESSION_MODIFICATION_REQUEST, 0x1001, 77),
        Message::SessionModificationRequest(SessionModificationRequest::default()),
    );
    assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
    assert_eq!(sim.h.session_requests.len(), 1);
    // The peer answers again with the same Recovery Time Stamp: back.
    sim.events.clear();
    sim.smf.answer_heartbeats = true;
    sim.run_for(secs(30));
    assert_eq!(sim.state(), Some(PeerState::Associated));
    assert_eq!(sim.events, vec![Event::Associated(smf_peer())]);
    assert!(sim.h.released.is_empty());
}

#[test]
fn peer_loss_delete_policy() {
    let mut sim = lose_peer(PeerLossPolicy::Delete);
    assert_eq!(sim.h.released, vec![smf_peer()]);
    assert_eq!(sim.state(), None);
    let rsp = sim.ask(
        Header::session(MsgType::SESSION_MODIFICATION_REQUEST, 0x1001, 77),
        Message::SessionModificationRequest(SessionModificationRequest::default()),
    );
    assert_eq!(cause(&rsp.message), Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert!(sim.h.session_requests.is_empty());
    // No more heartbeats to a peer we have no association with.
    let n = sim.smf.requests_of(MsgType::HEARTBEAT_REQUEST).len();
    sim.run_for(secs(60));
    assert_eq!(sim.smf.requests_of(MsgType::HEARTBEAT_REQUEST).len(), n);
}

#[test]
fn lost_upf_initiated_peer_is_asked_to_associate_again() {
    let mut cfg = initiating_config();
    cfg.on_peer_loss = PeerLossPolicy::Delete;
    let mut sim = Sim::new(cfg, Link::perfect());
    sim.run_for(secs(1));
    assert_eq!(sim.state(), Some(PeerState::Associated));
    sim.link.cut_to_smf = true;
    sim.run_for(secs(30));
    assert!(sim.events.contains(&Event::PeerLost(smf_peer())));
    assert_eq!(sim.h.released, vec![smf_peer()]);
    assert_eq!(sim.state(), Some(PeerState::Associating));
    sim.link.cut_to_smf = false;
    sim.run_for(secs(30));
    assert_eq!(sim.state(), Some(PeerState::Associated));
    assert_eq!(
        sim.events
            .iter()
            .filter(|e| matches!(e, Event::Associated(_)))
            .count(),
        2
    );
}

#[test]
fn peer_restart_detected_by_heartbeat() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    // The SMF restarts and answers our next heartbeat with a new stamp.
    sim.smf.recovery = RecoveryTimeStamp(SMF_TS.0 + 5);
    sim.run_for(secs(11));
    assert_eq!(sim.events, vec![Event::PeerRestarted(smf_peer())]);
    assert_eq!(sim.h.released, vec![smf_peer()]);
    assert_eq!(sim.state(), None);
    // Its Heartbeat Request with the new stamp is fine (no association).
    let rsp = sim.ask(
        Header::node(MsgType::HEARTBEAT_REQUEST, 9),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: sim.smf.recovery,
            unknown: Vec::new(),
        }),
    );
    assert_eq!(rsp.header.message_type, MsgType::HEARTBEAT_RESPONSE);
    assert_eq!(sim.h.released.len(), 1);
}

#[test]
fn peer_restart_detected_by_heartbeat_request() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let rsp = sim.ask(
        Header::node(MsgType::HEARTBEAT_REQUEST, 9),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: RecoveryTimeStamp(SMF_TS.0 + 1),
            unknown: Vec::new(),
        }),
    );
    assert_eq!(rsp.header.message_type, MsgType::HEARTBEAT_RESPONSE);
    assert_eq!(sim.events, vec![Event::PeerRestarted(smf_peer())]);
    assert_eq!(sim.h.released, vec![smf_peer()]);
}

// ---- our requests: retransmission and give-up ----

#[test]
fn session_report_retransmitted_then_given_up() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    sim.link.cut_to_smf = true;
    sim.node
        .send_session_report(&smf_peer(), 0xabc, report_request(), sim.now);
    sim.run_for(secs(11));
    assert_eq!(sim.node.stats().retransmissions, 3, "N1 = 3");
    assert!(sim.h.report_responses.is_empty());
    sim.run_for(secs(2));
    assert_eq!(sim.h.report_responses, vec![(smf_peer(), 0xabc, None)]);
    assert_eq!(sim.node.stats().timeouts, 1);
    assert_eq!(sim.node.stats().session_reports_unanswered, 1);
    assert_eq!(sim.node.stats().tx(MsgType::SESSION_REPORT_REQUEST), 1);
}

#[test]
fn session_report_answered() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    sim.link.drop_to_smf = 1;
    sim.node
        .send_session_report(&smf_peer(), 0xabc, report_request(), sim.now);
    sim.run_for(secs(5));
    let reqs = sim.smf.requests_of(MsgType::SESSION_REPORT_REQUEST);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header.seid, Some(0xabc));
    assert_eq!(sim.h.report_responses.len(), 1);
    let (peer, seid, rsp) = &sim.h.report_responses[0];
    assert_eq!((peer, *seid), (&smf_peer(), 0xabc));
    assert_eq!(cause(rsp.as_ref().unwrap()), Cause::REQUEST_ACCEPTED);
    // A late duplicate of the response matches nothing.
    let late = bytes(
        Header::session(MsgType::SESSION_REPORT_RESPONSE, 0, reqs[0].header.sequence),
        rsp.clone().unwrap(),
    );
    assert!(sim.direct(smf_addr(), &late).is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::UnexpectedResponse), 1);
    assert_eq!(sim.h.report_responses.len(), 1);
    assert_eq!(sim.node.stats().session_reports_unanswered, 0);
}

#[test]
fn node_report_sent_and_answered() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let req = sim.node.path_failure_report(vec![RemoteGtpuPeer {
        ipv4: Some(Ipv4Addr::new(10, 9, 9, 9)),
        ipv6: None,
    }]);
    sim.node.send_node_report(&smf_peer(), req, sim.now);
    sim.run_for(secs(5));
    let reqs = sim.smf.requests_of(MsgType::NODE_REPORT_REQUEST);
    assert_eq!(reqs.len(), 1);
    let Message::NodeReportRequest(r) = &reqs[0].message else {
        unreachable!()
    };
    assert_eq!(r.node_id, upf_node_id());
    assert_eq!(r.node_report_type, NodeReportType(1));
    assert_eq!(sim.node.stats().rx(MsgType::NODE_REPORT_RESPONSE), 1);
    sim.run_for(secs(20));
    assert_eq!(sim.node.stats().retransmissions, 0);
}

#[test]
fn sequence_numbers_are_distinct() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    for _ in 0..5 {
        sim.node
            .send_session_report(&smf_peer(), 1, report_request(), sim.now);
    }
    sim.run_for(secs(1));
    let mut seqs: Vec<u32> = sim.smf.requests.iter().map(|p| p.header.sequence).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 5);
    assert!(seqs.iter().all(|s| *s <= 0x00ff_ffff));
}

// ---- duplicates ----

#[test]
fn duplicate_request_answered_from_cache() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let req = bytes(
        Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 500),
        Message::SessionEstablishmentRequest(establishment(0x55)),
    );
    let first = sim.direct(smf_addr(), &req);
    assert_eq!(first.len(), 1);
    let rsp = parse(&first[0].bytes);
    assert_eq!(rsp.header.seid, Some(0x55), "the CP SEID");
    assert_eq!(rsp.header.sequence, 500);
    assert_eq!(cause(&rsp.message), Cause::REQUEST_ACCEPTED);
    sim.now += secs(5);
    let again = sim.direct(smf_addr(), &req);
    assert_eq!(again, first, "byte for byte");
    assert_eq!(sim.h.session_requests.len(), 1, "the handler ran once");
    assert_eq!(sim.node.stats().duplicates, 1);
    // Same sequence, other type: not a duplicate.
    let del = bytes(
        Header::session(MsgType::SESSION_DELETION_REQUEST, 0x1001, 500),
        Message::SessionDeletionRequest(SessionDeletionRequest::default()),
    );
    sim.direct(smf_addr(), &del);
    assert_eq!(sim.h.session_requests.len(), 2);
    // After the TTL the sequence number is new again.
    sim.now += secs(61);
    sim.direct(smf_addr(), &req);
    assert_eq!(sim.h.session_requests.len(), 3);
}

#[test]
fn response_cache_is_bounded() {
    let mut cfg = config();
    cfg.response_cache_capacity = 4;
    let mut sim = Sim::new(cfg, Link::perfect());
    let hb = |seq| {
        bytes(
            Header::node(MsgType::HEARTBEAT_REQUEST, seq),
            Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: SMF_TS,
                unknown: Vec::new(),
            }),
        )
    };
    for seq in 1..=6 {
        sim.direct(smf_addr(), &hb(seq));
    }
    assert_eq!(sim.node.stats().cache_evictions, 2);
    sim.direct(smf_addr(), &hb(6));
    assert_eq!(sim.node.stats().duplicates, 1);
    sim.direct(smf_addr(), &hb(1));
    assert_eq!(sim.node.stats().duplicates, 1, "evicted: answered afresh");
}

// ---- errors ----

#[test]
fn not_a_peer_is_dropped() {
    let mut sim = Sim::new(config(), Link::perfect());
    let stranger: SocketAddr = "192.0.2.9:8805".parse().unwrap();
    let out = sim.direct(
        stranger,
        &bytes(
            Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 1),
            setup_request(SMF_TS),
        ),
    );
    assert!(out.is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::NotAPeer), 1);
    assert!(sim.events.is_empty());
    assert!(sim.node.peers().is_empty());
}

#[test]
fn peer_prefix_accepts_the_network() {
    let mut cfg = config();
    cfg.peers = vec![PeerConfig {
        addr: "10.0.0.0".parse().unwrap(),
        prefix_len: 24,
        initiate: false,
    }];
    let mut sim = Sim::new(cfg, Link::perfect());
    sim.associate();
    assert_eq!(sim.state(), Some(PeerState::Associated));
    let other: SocketAddr = "10.0.1.2:8805".parse().unwrap();
    assert!(sim.direct(other, &[0x20, 1, 0, 4, 0, 0, 1, 0]).is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::NotAPeer), 1);
    // IPv4-mapped IPv6 sources (dual-stack sockets) are the same peer.
    let mapped: SocketAddr = "[::ffff:10.0.0.2]:8805".parse().unwrap();
    let hb = bytes(
        Header::node(MsgType::HEARTBEAT_REQUEST, 3),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
    );
    let out = sim.direct(mapped, &hb);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, smf_addr());
}

#[test]
fn version_2_gets_version_not_supported() {
    let mut sim = Sim::new(config(), Link::perfect());
    let mut req = bytes(
        Header::node(MsgType::HEARTBEAT_REQUEST, 0x123456),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
    );
    req[0] = (req[0] & 0x1f) | (2 << 5);
    let out = sim.direct(smf_addr(), &req);
    assert_eq!(out.len(), 1);
    let rsp = parse(&out[0].bytes);
    assert_eq!(
        rsp.header.message_type,
        MsgType::VERSION_NOT_SUPPORTED_RESPONSE
    );
    assert_eq!(rsp.header.sequence, 0x123456);
    assert_eq!(rsp.header.version, 1);
    assert_eq!(sim.node.stats().dropped(DropReason::BadVersion), 1);
}

#[test]
fn empty_and_truncated_datagrams_leave_state_intact() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let before = sim.node.peers();
    let good = bytes(
        Header::node(MsgType::HEARTBEAT_REQUEST, 8),
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
    );
    let mut long = good.clone();
    long[3] += 10; // length beyond the datagram
    for (b, reason) in [
        (&[][..], DropReason::Truncated),
        (&[0x20][..], DropReason::Truncated),
        (&good[..6], DropReason::Truncated),
        (&long[..], DropReason::Length),
        (&[0x20, 0x01, 0x00, 0x02, 0, 0][..], DropReason::Truncated),
    ] {
        let n = sim.node.stats().dropped(reason);
        assert!(sim.direct(smf_addr(), b).is_empty(), "{b:02x?}");
        assert_eq!(sim.node.stats().dropped(reason), n + 1, "{b:02x?}");
    }
    assert_eq!(sim.node.peers(), before);
    assert!(sim.events.is_empty());
    // Still answering, still heartbeating.
    assert_eq!(sim.direct(smf_addr(), &good).len(), 1);
    sim.run_for(secs(11));
    assert_eq!(sim.smf.requests_of(MsgType::HEARTBEAT_REQUEST).len(), 1);
    assert_eq!(sim.state(), Some(PeerState::Associated));
}

#[test]
fn unknown_type_and_unexpected_messages_are_dropped() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let mut raw = Vec::new();
    Header::node(MsgType(42), 1).emit(&mut raw);
    crate::header::set_length(&mut raw);
    assert!(sim.direct(smf_addr(), &raw).is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::UnknownType), 1);
    // A response nobody asked for.
    let rsp = bytes(
        Header::node(MsgType::HEARTBEAT_RESPONSE, 999),
        Message::HeartbeatResponse(HeartbeatResponse {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
    );
    assert!(sim.direct(smf_addr(), &rsp).is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::UnexpectedResponse), 1);
    // A Session Report Request toward the UP function.
    let req = bytes(
        Header::session(MsgType::SESSION_REPORT_REQUEST, 1, 3),
        Message::SessionReportRequest(report_request()),
    );
    assert!(sim.direct(smf_addr(), &req).is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::UnexpectedRequest), 1);
    assert!(sim.h.session_requests.is_empty());
}

#[test]
fn malformed_response_is_dropped_and_request_kept() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    sim.link.cut_to_smf = true;
    sim.run_for(secs(10) + Duration::from_millis(1));
    let seq = sim.node.outstanding.keys().copied().next().unwrap();
    // A Heartbeat Response without its Recovery Time Stamp.
    let mut raw = Vec::new();
    Header::node(MsgType::HEARTBEAT_RESPONSE, seq).emit(&mut raw);
    crate::header::set_length(&mut raw);
    assert!(sim.direct(smf_addr(), &raw).is_empty());
    assert_eq!(sim.node.stats().dropped(DropReason::MalformedResponse), 1);
    assert_eq!(sim.node.outstanding.len(), 1);
}

#[test]
fn session_request_without_association() {
    let mut sim = Sim::new(config(), Link::perfect());
    let rsp = sim.ask(
        Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 10),
        Message::SessionEstablishmentRequest(establishment(0x77)),
    );
    assert_eq!(
        rsp.header.message_type,
        MsgType::SESSION_ESTABLISHMENT_RESPONSE
    );
    assert_eq!(rsp.header.seid, Some(0x77));
    assert_eq!(rsp.header.sequence, 10);
    let Message::SessionEstablishmentResponse(r) = &rsp.message else {
        unreachable!()
    };
    assert_eq!(r.cause, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert_eq!(r.node_id, upf_node_id());
    assert_eq!(r.up_f_seid, None);
    let rsp = sim.ask(
        Header::session(MsgType::SESSION_DELETION_REQUEST, 0x1001, 11),
        Message::SessionDeletionRequest(SessionDeletionRequest::default()),
    );
    assert_eq!(rsp.header.message_type, MsgType::SESSION_DELETION_RESPONSE);
    assert_eq!(rsp.header.seid, Some(0));
    assert_eq!(cause(&rsp.message), Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert!(sim.h.session_requests.is_empty());
    assert_eq!(
        sim.node
            .stats()
            .responses(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION),
        2
    );
}

#[test]
fn malformed_session_requests_get_cause_and_offending_ie() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    // Establishment without Create FAR: Mandatory IE missing, SEID 0.
    let mut est = establishment(0x99);
    est.create_far.clear();
    let rsp = sim.ask(
        Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 20),
        Message::SessionEstablishmentRequest(est),
    );
    assert_eq!(rsp.header.seid, Some(0));
    assert_eq!(rsp.header.sequence, 20);
    let Message::SessionEstablishmentResponse(r) = &rsp.message else {
        unreachable!()
    };
    assert_eq!(r.cause, Cause::MANDATORY_IE_MISSING);
    assert_eq!(r.offending_ie, Some(OffendingIe(types::CREATE_FAR)));
    assert_eq!(r.node_id, upf_node_id());
    // Modification with a truncated IE: Invalid length; the handler knows
    // the CP SEID of UP SEID 0x1001.
    let mut raw = Vec::new();
    Header::session(MsgType::SESSION_MODIFICATION_REQUEST, 0x1001, 21).emit(&mut raw);
    raw.extend_from_slice(&[0, 15, 0, 10, 0, 56]); // Remove PDR claiming 10 octets
    crate::header::set_length(&mut raw);
    let out = sim.direct(smf_addr(), &raw);
    let rsp = parse(&out[0].bytes);
    assert_eq!(
        rsp.header.message_type,
        MsgType::SESSION_MODIFICATION_RESPONSE
    );
    assert_eq!(rsp.header.seid, Some(0xabc));
    let Message::SessionModificationResponse(r) = &rsp.message else {
        unreachable!()
    };
    assert_eq!(r.cause, Cause::INVALID_LENGTH);
    assert_eq!(r.offending_ie, Some(OffendingIe(types::REMOVE_PDR)));
    assert!(sim.h.session_requests.is_empty());
    assert_eq!(sim.node.stats().responses(Cause::MANDATORY_IE_MISSING), 1);
}

#[test]
fn unsupported_node_requests_answered() {
    let mut sim = Sim::new(config(), Link::perfect());
    sim.associate();
    let mut raw = Vec::new();
    Header::node(MsgType::PFD_MANAGEMENT_REQUEST, 30).emit(&mut raw);
    crate::header::set_length(&mut raw);
    let out = sim.direct(smf_addr(), &raw);
    let rsp = parse(&out[0].bytes);
    assert_eq!(rsp.header.message_type, MsgType::PFD_MANAGEMENT_RESPONSE);
    assert_eq!(cause(&rsp.message), Cause::SERVICE_NOT_SUPPORTED);
}

#[test]
fn follow_on_messages_are_each_handled() {
    let mut sim = Sim::new(config(), Link::perfect());
    let hb = |seq, fo| {
        let mut h = Header::node(MsgType::HEARTBEAT_REQUEST, seq);
        h.follow_on = fo;
        bytes(
            h,
            Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: SMF_TS,
                unknown: Vec::new(),
            }),
        )
    };
    let mut datagram = hb(1, true);
    datagram.extend(hb(2, false));
    let out = sim.direct(smf_addr(), &datagram);
    let seqs: Vec<u32> = out
        .iter()
        .map(|t| parse(&t.bytes).header.sequence)
        .collect();
    assert_eq!(seqs, vec![1, 2]);
    // A chain longer than the bound: the rest is dropped.
    let mut datagram = Vec::new();
    for seq in 10..(10 + MAX_MESSAGES_PER_DATAGRAM as u32 + 3) {
        datagram.extend(hb(seq, true));
    }
    let out = sim.direct(smf_addr(), &datagram);
    assert_eq!(out.len(), MAX_MESSAGES_PER_DATAGRAM);
    assert_eq!(sim.node.stats().dropped(DropReason::TooManyMessages), 1);
}

// ---- the lossy link ----

#[test]
fn lossy_duplicating_reordering_link() {
    for seed in [1u64, 7, 0x5eed, 0xdead_beef] {
        let mut sim = Sim::new(config(), Link::lossy(seed, 100, 100, 40));
        sim.smf.request(
            Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 0),
            setup_request(SMF_TS),
            sim.now,
        );
        sim.run_for(secs(20));
        assert_eq!(sim.state(), Some(PeerState::Associated), "seed {seed}");
        // 20 sessions, each sent back to back with its retransmissions
        // interleaved; the handler must see each exactly once.
        for i in 0..20u64 {
            sim.smf.request(
                Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 0),
                Message::SessionEstablishmentRequest(establishment(0x100 + i)),
                sim.now,
            );
            sim.run_for(Duration::from_millis(10));
        }
        sim.run_for(secs(120));
        assert!(sim.smf.pending.is_empty(), "seed {seed}: all answered");
        let est: Vec<_> = sim
            .h
            .session_requests
            .iter()
            .filter(|(_, t, _)| *t == MsgType::SESSION_ESTABLISHMENT_REQUEST)
            .collect();
        assert_eq!(est.len(), 20, "seed {seed}: once each");
        let mut seids: Vec<u64> = sim
            .smf
            .responses_of(MsgType::SESSION_ESTABLISHMENT_RESPONSE)
            .iter()
            .map(|p| p.header.seid.unwrap())
            .collect();
        seids.sort_unstable();
        seids.dedup();
        assert_eq!(seids, (0x100..0x114).collect::<Vec<u64>>(), "seed {seed}");
        assert!(
            !sim.events.iter().any(|e| matches!(e, Event::PeerLost(_))),
            "seed {seed}: {:?}",
            sim.events
        );
        assert!(sim.smf.requests_of(MsgType::HEARTBEAT_REQUEST).len() >= 10);
        assert_eq!(sim.state(), Some(PeerState::Associated));
        // The link did lose and duplicate: the cache answered duplicates.
        assert!(sim.node.stats().duplicates > 0, "seed {seed}");
        let _ = sim.start;
    }
}

// ---- peer security and restarts ----

/// Sends `msg` from the SMF straight into `node`; returns what the node sent back.
fn exchange(
    node: &mut Node,
    h: &mut FakeHandler,
    header: Header,
    msg: Message,
    now: Instant,
) -> Vec<Pdu> {
    node.handle_datagram(smf_addr(), &bytes(header, msg), now, h);
    std::iter::from_fn(|| node.poll_transmit())
        .map(|t| parse(&t.bytes))
        .collect()
}

fn heartbeat(seq: u32) -> (Header, Message) {
    let mut h = Header::node(MsgType::HEARTBEAT_REQUEST, 0);
    h.sequence = seq;
    (
        h,
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: SMF_TS,
            unknown: Vec::new(),
        }),
    )
}

#[test]
fn requests_beyond_a_peers_rate_limit_are_dropped_and_counted() {
    let mut cfg = config();
    cfg.rate_limit = Some(RateLimit {
        per_sec: 10,
        burst: 3,
    });
    let now = Instant::now();
    let mut node = Node::new(cfg, UPF_TS, now);
    let mut h = FakeHandler::default();
    // A burst of 5 at once: 3 answered, 2 dropped silently.
    let answered: usize = (1..=5)
        .map(|seq| {
            let (hd, m) = heartbeat(seq);
            exchange(&mut node, &mut h, hd, m, now).len()
        })
        .sum();
    assert_eq!(answered, 3);
    assert_eq!(node.stats().dropped(DropReason::RateLimited), 2);
    // 10 a second: 100 ms later one more; a second later the burst again.
    let (hd, m) = heartbeat(6);
    assert_eq!(
        exchange(&mut node, &mut h, hd, m, now + Duration::from_millis(100)).len(),
        1
    );
    let (hd, m) = heartbeat(7);
    assert_eq!(
        exchange(&mut node, &mut h, hd, m, now + Duration::from_millis(100)).len(),
        0
    );
    let later = now + secs(2);
    let answered: usize = (8..=12)
        .map(|seq| {
            let (hd, m) = heartbeat(seq);
            exchange(&mut node, &mut h, hd, m, later).len()
        })
        .sum();
    assert_eq!(answered, 3, "the bucket holds at most the burst");
    assert_eq!(node.stats().dropped(DropReason::RateLimited), 5);
    // Without a limit nothing is dropped.
    let mut node = Node::new(config(), UPF_TS, now);
    for seq in 1..=50 {
        let (hd, m) = heartbeat(seq);
        assert_eq!(exchange(&mut node, &mut h, hd, m, now).len(), 1);
    }
}

#[test]
fn the_rate_limit_never_drops_responses_to_our_requests() {
    let mut cfg = initiating_config();
    cfg.rate_limit = Some(RateLimit {
        per_sec: 1,
        burst: 1,
    });
    let now = Instant::now();
    let mut node = Node::new(cfg, UPF_TS, now);
    let mut h = FakeHandler::default();
    // The budget is spent by a request...
    let (hd, m) = heartbeat(1);
    assert_eq!(exchange(&mut node, &mut h, hd, m, now).len(), 1);
    // ...and our Association Setup Request is still answered.
    node.handle_timeout(now, &mut h);
    let t = node.poll_transmit().expect("Association Setup Request");
    let req = parse(&t.bytes);
    let mut rsp = Header::node(MsgType::ASSOCIATION_SETUP_RESPONSE, 0);
    rsp.sequence = req.header.sequence;
    let msg = Message::AssociationSetupResponse(AssociationSetupResponse {
        node_id: smf_node_id(),
        cause: Cause::REQUEST_ACCEPTED,
        recovery_time_stamp: SMF_TS,
        cp_function_features: None,
        up_function_features: None,
        user_plane_ip_resource_information: Vec::new(),
        unknown: Vec::new(),
    });
    exchange(&mut node, &mut h, rsp, msg, now);
    assert_eq!(node.peers()[0].state, PeerState::Associated);
    assert_eq!(node.stats().dropped(DropReason::RateLimited), 0);
}

// With serde (the workspace build, where upfd's store enables it).
#[cfg(feature = "serde")]
#[test]
fn a_restarted_node_re_adopts_saved_associations() {
    let now = Instant::now();
    let mut h = FakeHandler::default();
    let mut first = Node::new(config(), UPF_TS, now);
    let mut hd = Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 0);
    hd.sequence = 1;
    let rsp = exchange(&mut first, &mut h, hd, setup_request(SMF_TS), now);
    assert_eq!(cause(&rsp[0].message), Cause::REQUEST_ACCEPTED);
    let saved = first.associations();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].recovery, SMF_TS.0);
    // Through the store's encoding.
    let saved: Vec<SavedAssociation> =
        serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    // The next daemon: the same stamp, the association back, a heartbeat at once.
    let mut second = Node::new(config(), UPF_TS, now);
    assert_eq!(second.restore_associations(&saved, now), 1);
    let p = &second.peers()[0];
    assert_eq!(
        (p.state, p.node_id.clone(), p.recovery_time_stamp),
        (PeerState::Associated, Some(smf_node_id()), Some(SMF_TS))
    );
    assert_eq!(second.poll_event(), Some(Event::Associated(smf_peer())));
    second.handle_timeout(now, &mut h);
    let hb = parse(&second.poll_transmit().expect("a Heartbeat Request").bytes);
    assert_eq!(hb.header.message_type, MsgType::HEARTBEAT_REQUEST);
    // Session requests are served without a new Association Setup.
    let rsp = exchange(
        &mut second,
        &mut h,
        Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 9),
        Message::SessionEstablishmentRequest(establishment(5)),
        now,
    );
    assert_eq!(cause(&rsp[0].message), Cause::REQUEST_ACCEPTED);
    // A peer the configuration no longer allows is not re-adopted.
    let mut moved = saved.clone();
    moved[0].addr = "192.0.2.9".parse().unwrap();
    let mut third = Node::new(config(), UPF_TS, now);
    assert_eq!(third.restore_associations(&moved, now), 0);
    assert!(third.peers().is_empty());
}
