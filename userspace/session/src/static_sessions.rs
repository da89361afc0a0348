//! Static sessions (from a file, through `upfctl`) expressed as the PFCP
//! requests an SMF would send, so that they go through the one session
//! manager: one uplink PDR (fixed F-TEID, UE source address, outer header
//! removal) forwarding to the core, one downlink PDR (UE address) tunnelled
//! back, a QER carrying the QFI for 5G, and a URR measuring volume.

use upf_pfcp::ie::*;
use upf_pfcp::message::{SessionEstablishmentRequest, SessionModificationRequest};

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::datapath::DatapathError;

/// Which access the session's tunnel serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Generation {
    /// 4G: S5/S8-U or S1-U, plain GTP-U.
    #[serde(rename = "4g")]
    Lte,
    /// 5G: N3/N9, GTP-U with the PDU Session Container (TS 38.415).
    #[serde(rename = "5g")]
    Nr,
}

/// Everything the fast path needs for one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Caller-chosen session identifier (filed as the CP SEID under the peer "static").
    pub id: u64,
    /// TEID we allocated: uplink G-PDUs arrive with it.
    pub local_teid: u32,
    /// The UE's IPv4 address.
    pub ue_ipv4: Ipv4Addr,
    /// The peer GTP-U endpoint (gNB, SGW-U, I-UPF).
    pub peer_ipv4: Ipv4Addr,
    /// The peer's TEID for the downlink.
    pub remote_teid: u32,
    /// QoS flow identifier for the downlink PDU Session Container (5G; 1..=63).
    #[serde(default)]
    pub qfi: u8,
    /// 4G or 5G.
    pub generation: Generation,
}

/// Why a session operation was refused. Nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A field has a value the datapath cannot use.
    #[error("session {id}: field {field}: {reason}")]
    Invalid {
        /// Session id.
        id: u64,
        /// The field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Install of an id that exists.
    #[error("session {0} already exists")]
    Exists(u64),
    /// Update or remove of an id that does not exist.
    #[error("session {0} does not exist")]
    NotFound(u64),
    /// The local TEID belongs to another session.
    #[error("local TEID {teid:#x} is already used by session {by}")]
    TeidInUse {
        /// The TEID.
        teid: u32,
        /// The session holding it.
        by: u64,
    },
    /// The UE address belongs to another session.
    #[error("UE address {ue} is already used by session {by}")]
    UeInUse {
        /// The address.
        ue: Ipv4Addr,
        /// The session holding it.
        by: u64,
    },
    /// The tables are full (the PFCP layer answers "No resources available").
    #[error("no resources: all {capacity} session slots are in use")]
    Full {
        /// The configured capacity.
        capacity: u32,
    },
    /// The session manager refused it (the PFCP cause and reason).
    #[error("refused: {0}")]
    Refused(String),
    /// The datapath refused a write.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
}

impl SessionSpec {
    /// Checks the fields the datapath depends on.
    pub fn validate(&self) -> Result<(), SessionError> {
        let bad = |field, reason| {
            Err(SessionError::Invalid {
                id: self.id,
                field,
                reason,
            })
        };
        if self.local_teid == 0 {
            return bad(
                "local_teid",
                "TEID 0 is reserved for path signalling (TS 29.281 §5.1)",
            );
        }
        if self.remote_teid == 0 {
            return bad(
                "remote_teid",
                "TEID 0 is reserved for path signalling (TS 29.281 §5.1)",
            );
        }
        if self.ue_ipv4.is_unspecified()
            || self.ue_ipv4.is_broadcast()
            || self.ue_ipv4.is_multicast()
        {
            return bad("ue_ipv4", "must be a unicast address");
        }
        if self.peer_ipv4.is_unspecified()
            || self.peer_ipv4.is_broadcast()
            || self.peer_ipv4.is_multicast()
        {
            return bad("peer_ipv4", "must be a unicast address");
        }
        if self.qfi > 63 {
            return bad("qfi", "a QFI has 6 bits (0..=63)");
        }
        if self.generation == Generation::Nr && self.qfi == 0 {
            return bad(
                "qfi",
                "a 5G session needs a QFI in 1..=63 for the PDU Session Container",
            );
        }
        Ok(())
    }
}

/// A session as listed, with its counter slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The spec it was installed (or last updated) with.
    #[serde(flatten)]
    pub spec: SessionSpec,
    /// Its per-CPU counter slot (shared by its uplink and downlink PDR).
    pub slot: u32,
}

/// What an update changed that the caller must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// The downlink tunnel was moved (path switch): `(old peer, old remote TEID)`.
    /// TS 29.281 §7.3.2: send an End Marker on the old tunnel.
    pub old_tunnel: Option<(Ipv4Addr, u32)>,
}

/// The peer name static sessions are filed under.
pub const STATIC_PEER: &str = "static";

const UL_PDR: u16 = 1;
const DL_PDR: u16 = 2;
const UL_FAR: u32 = 1;
const DL_FAR: u32 = 2;
const QER: u32 = 1;
const URR: u32 = 1;

fn ohc(spec: &SessionSpec) -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::GTPU_UDP_IPV4,
        teid: Some(spec.remote_teid),
        ipv4: Some(spec.peer_ipv4),
        ..OuterHeaderCreation::default()
    }
}

fn qer(spec: &SessionSpec) -> Vec<CreateQer> {
    if spec.generation == Generation::Lte {
        return Vec::new();
    }
    vec![CreateQer {
        qer_id: QerId(QER),
        qer_correlation_id: None,
        gate_status: GateStatus::default(),
        mbr: None,
        gbr: None,
        qfi: Some(Qfi(spec.qfi)),
        rqi: None,
        unknown: Vec::new(),
    }]
}

/// The Session Establishment Request for a static session (CP SEID = its id).
pub fn establishment(spec: &SessionSpec, n3: Ipv4Addr) -> SessionEstablishmentRequest {
    let qer_ids = if spec.generation == Generation::Nr {
        vec![QerId(QER)]
    } else {
        Vec::new()
    };
    let pdr =
        |id: u16, pdi: Pdi, ohr: Option<OuterHeaderRemoval>, far: u32, qer_ids: Vec<QerId>| {
            CreatePdr {
                pdr_id: PdrId(id),
                precedence: Precedence(255),
                pdi,
                outer_header_removal: ohr,
                far_id: Some(FarId(far)),
                urr_ids: vec![UrrId(URR)],
                qer_ids,
                activate_predefined_rules: Vec::new(),
                unknown: Vec::new(),
            }
        };
    SessionEstablishmentRequest {
        node_id: NodeId::Fqdn(STATIC_PEER.into()),
        cp_f_seid: Fseid {
            seid: spec.id,
            ipv4: None,
            ipv6: None,
        },
        create_pdr: vec![
            pdr(
                UL_PDR,
                Pdi {
                    source_interface: SourceInterface(interface::ACCESS),
                    f_teid: Some(FTeid::ipv4(spec.local_teid, n3)),
                    ue_ip_address: Some(UeIpAddress {
                        ipv4: Some(spec.ue_ipv4),
                        ..UeIpAddress::default()
                    }),
                    ..Pdi::default()
                },
                Some(OuterHeaderRemoval {
                    description: 0,
                    ext_header_deletion: None,
                }),
                UL_FAR,
                Vec::new(),
            ),
            pdr(
                DL_PDR,
                Pdi {
                    source_interface: SourceInterface(interface::CORE),
                    ue_ip_address: Some(UeIpAddress {
                        ipv4: Some(spec.ue_ipv4),
                        destination: true,
                        ..UeIpAddress::default()
                    }),
                    ..Pdi::default()
                },
                None,
                DL_FAR,
                qer_ids,
            ),
        ],
        create_far: vec![
            CreateFar::forward(FarId(UL_FAR), interface::CORE, None),
            CreateFar::forward(FarId(DL_FAR), interface::ACCESS, Some(ohc(spec))),
        ],
        create_urr: vec![CreateUrr::new(
            UrrId(URR),
            MeasurementMethod {
                duration: true,
                volume: true,
                event: false,
            },
        )],
        create_qer: qer(spec),
        pdn_type: Some(PdnType(1)),
        unknown: Vec::new(),
    }
}

/// The Session Modification Request that turns `old` into `new` (same id):
/// a new tunnel is an Update FAR with SNDEM (End Marker on the old one); a
/// new TEID or UE address replaces the PDIs.
pub fn modification(
    old: &SessionSpec,
    new: &SessionSpec,
    n3: Ipv4Addr,
) -> SessionModificationRequest {
    let est = establishment(new, n3);
    let mut m = SessionModificationRequest::default();
    if (old.peer_ipv4, old.remote_teid) != (new.peer_ipv4, new.remote_teid) {
        m.update_far.push(UpdateFar {
            far_id: FarId(DL_FAR),
            apply_action: None,
            update_forwarding_parameters: Some(UpdateForwardingParameters {
                outer_header_creation: Some(ohc(new)),
                pfcpsm_req_flags: Some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM)),
                ..UpdateForwardingParameters::default()
            }),
            bar_id: None,
            unknown: Vec::new(),
        });
    }
    if old.generation != new.generation || old.qfi != new.qfi {
        // Rebuild the QER and the downlink PDR's reference to it.
        if old.generation == Generation::Nr {
            m.remove_qer.push(RemoveQer { qer_id: QerId(QER) });
        }
        m.create_qer = qer(new);
    }
    for c in est.create_pdr {
        if c.pdr_id.0 == UL_PDR {
            if old.local_teid != new.local_teid || old.ue_ipv4 != new.ue_ipv4 {
                m.update_pdr.push(UpdatePdr {
                    pdr_id: c.pdr_id,
                    outer_header_removal: None,
                    precedence: None,
                    pdi: Some(c.pdi),
                    far_id: None,
                    urr_ids: Vec::new(),
                    qer_ids: Vec::new(),
                    activate_predefined_rules: Vec::new(),
                    deactivate_predefined_rules: Vec::new(),
                    unknown: Vec::new(),
                });
            }
        } else if old.ue_ipv4 != new.ue_ipv4
            || old.generation != new.generation
            || old.qfi != new.qfi
        {
            // Its QER list may shrink, which Update PDR cannot express.
            m.remove_pdr.push(RemovePdr { pdr_id: c.pdr_id });
            m.create_pdr.push(c);
        }
    }
    m
}
