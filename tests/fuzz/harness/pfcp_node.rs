//! Harness of the `pfcp_node` fuzz target, shared by libFuzzer
//! (`fuzz_targets/pfcp_node.rs`) and the plain-test smoke
//! (`tests/tests/fuzz_smoke.rs`).
//!
//! The PFCP node and the session manager as one state machine: sequences of
//! datagrams from an SMF (valid requests built from templates, the same
//! templates with octets changed or cut, and raw bytes), with time moving,
//! into the sans-IO node whose session handler is the real session manager
//! over the fake datapath. After every step the fast-path
//! tables hold exactly the keys the sessions own; at the end, releasing the
//! peer returns every pool to empty and leaves no entry behind.
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::ie::*;
use upf_pfcp::message::*;
use upf_pfcp::node::{Node, NodeConfig, PeerConfig, RateLimit};
use upf_pfcp::{Message, Pdu};
use upf_session::datapath::fake::FakeDatapath;
use upf_session::handler::Identity;
use upf_session::manager::SessionManager;
use upf_session::sessions::{QosParams, SessionsConfig};

#[path = "../../../userspace/pfcp/benches/common/mod.rs"]
mod msgs;

const UPF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);

#[derive(Arbitrary, Debug)]
pub enum Op {
    Setup,
    Heartbeat,
    Establish4g {
        teid: u8,
        ue: u8,
    },
    Establish5g,
    Handover {
        seid: u8,
        teid: u16,
    },
    QueryUrr {
        seid: u8,
        urr: u8,
    },
    RemovePdr {
        seid: u8,
        pdr: u8,
    },
    Delete {
        seid: u8,
    },
    Release,
    /// A template's octets with some changed and the end cut.
    Mutated {
        template: u8,
        edits: Vec<(u16, u8)>,
        cut: Option<u16>,
    },
    Raw(Vec<u8>),
    Wait {
        ms: u16,
    },
}

fn template(op: &Op, seq: u32) -> Option<Pdu> {
    let node_id = NodeId::Ipv4(SMF);
    Some(match op {
        Op::Setup => Pdu {
            header: Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, seq),
            message: Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id,
                recovery_time_stamp: RecoveryTimeStamp(3_800_000_000),
                up_function_features: None,
                cp_function_features: None,
                user_plane_ip_resource_information: Vec::new(),
                unknown: Vec::new(),
            }),
        },
        Op::Heartbeat => msgs::heartbeat_pdu(seq),
        Op::Establish4g { teid, ue } => msgs::establishment_pdu(
            msgs::establishment_4g(
                u64::from(seq),
                0x0100_0000 + u32::from(*teid),
                Ipv4Addr::new(10, 64, 0, *ue),
            ),
            seq,
        ),
        Op::Establish5g => msgs::establishment_pdu(msgs::establishment_5g(u64::from(seq)), seq),
        Op::Handover { seid, teid } => msgs::session_pdu(
            MsgType::SESSION_MODIFICATION_REQUEST,
            u64::from(*seid),
            seq,
            Message::SessionModificationRequest(msgs::handover(u32::from(*teid))),
        ),
        Op::QueryUrr { seid, urr } => msgs::session_pdu(
            MsgType::SESSION_MODIFICATION_REQUEST,
            u64::from(*seid),
            seq,
            Message::SessionModificationRequest(SessionModificationRequest {
                query_urr: vec![QueryUrr {
                    urr_id: UrrId(u32::from(*urr)),
                }],
                ..Default::default()
            }),
        ),
        Op::RemovePdr { seid, pdr } => msgs::session_pdu(
            MsgType::SESSION_MODIFICATION_REQUEST,
            u64::from(*seid),
            seq,
            Message::SessionModificationRequest(SessionModificationRequest {
                remove_pdr: vec![RemovePdr {
                    pdr_id: PdrId(u16::from(*pdr)),
                }],
                ..Default::default()
            }),
        ),
        Op::Delete { seid } => msgs::deletion_pdu(u64::from(*seid), seq),
        Op::Release => Pdu {
            header: Header::node(MsgType::ASSOCIATION_RELEASE_REQUEST, seq),
            message: Message::AssociationReleaseRequest(AssociationReleaseRequest {
                node_id,
                unknown: Vec::new(),
            }),
        },
        _ => return None,
    })
}

const TEMPLATES: [fn(u8) -> Op; 6] = [
    |_| Op::Setup,
    |_| Op::Heartbeat,
    |x| Op::Establish4g { teid: x, ue: x },
    |_| Op::Establish5g,
    |x| Op::Handover {
        seid: x % 4,
        teid: 0x200,
    },
    |x| Op::Delete { seid: x % 4 },
];

/// One sequence of steps (at most 64 are taken): panics on a broken
/// invariant.
pub fn run(ops: &[Op]) {
    let mut cfg = NodeConfig::new(
        NodeId::Ipv4(UPF),
        vec![PeerConfig {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
            prefix_len: 24,
            initiate: false,
        }],
    );
    cfg.rate_limit = Some(RateLimit {
        per_sec: 1000,
        burst: 100,
    });
    let mut now = Instant::now();
    let mut node = Node::new(cfg, RecoveryTimeStamp(3_900_000_000), now);
    let mut manager = SessionManager::with_config(
        FakeDatapath::new(64),
        SessionsConfig {
            qos: QosParams::default(),
            n3: UPF,
            teid_range: (0x1000, 0x10ff),
            ue_pools: vec!["10.45.0.0/26".parse().unwrap()],
        },
    );
    manager.set_identity(Identity {
        node_id: NodeId::Ipv4(UPF),
        f_seid_ipv4: UPF,
    });
    let from = SocketAddr::from((SMF, 8805));
    for (seq, op) in ops.iter().take(64).enumerate() {
        let seq = seq as u32 + 1;
        let datagram = match op {
            Op::Wait { ms } => {
                now += Duration::from_millis(u64::from(*ms));
                node.handle_timeout(now, &mut manager);
                None
            }
            Op::Raw(b) => Some(b.clone()),
            Op::Mutated {
                template: t,
                edits,
                cut,
            } => {
                let op = TEMPLATES[usize::from(*t) % TEMPLATES.len()](*t);
                template(&op, seq).map(|p| {
                    let mut b = p.to_bytes();
                    for (at, v) in edits.iter().take(16) {
                        if !b.is_empty() {
                            let i = usize::from(*at) % b.len();
                            b[i] = *v;
                        }
                    }
                    if let Some(c) = cut {
                        b.truncate(usize::from(*c));
                    }
                    b
                })
            }
            op => template(op, seq).map(|p| p.to_bytes()),
        };
        if let Some(d) = datagram {
            node.handle_datagram(from, &d, now, &mut manager);
        }
        while let Some(t) = node.poll_transmit() {
            // Whatever the node sends must parse (our own emission).
            Pdu::parse(&t.bytes).unwrap_or_else(|e| panic!("unparsable output {e}"));
        }
        while node.poll_event().is_some() {}
        check(&manager);
    }
    // Everything goes back.
    let m = &mut manager;
    // Every peer that holds sessions: a mutated Association Setup may have
    // associated under another Node ID than the SMF's.
    let peers: BTreeSet<String> = m
        .sessions()
        .sessions()
        .values()
        .map(|x| x.peer.clone())
        .collect();
    for p in &peers {
        m.sessions_mut().release_peer(p, 0);
    }
    check(m);
    assert!(m.sessions().sessions().is_empty(), "sessions left");
    assert_eq!(m.sessions().in_use(), (0, 0, 0, 0), "pools back to empty");
    let dp = m.datapath();
    assert!(
        dp.uplink.is_empty() && dp.downlink.is_empty(),
        "entries left"
    );
}

/// The tables hold exactly what the sessions own.
fn check(m: &SessionManager<FakeDatapath>) {
    let s = m.sessions();
    let teids: BTreeSet<u32> = s.sessions().values().flat_map(|x| x.teids()).collect();
    let ues: BTreeSet<Ipv4Addr> = s
        .sessions()
        .values()
        .flat_map(|x| x.ue_addresses())
        .collect();
    let dp = m.datapath();
    let ul: BTreeSet<u32> = dp.uplink.keys().copied().collect();
    let dl: BTreeSet<Ipv4Addr> = dp.downlink.keys().copied().collect();
    assert_eq!(ul, teids, "uplink entries vs the sessions' TEIDs");
    assert_eq!(dl, ues, "downlink entries vs the sessions' UE addresses");
}
