//! A blocking test SMF: the CP function side of PFCP (TS 29.244) over a
//! plain [`UdpSocket`], for the end-to-end tests.
//!
//! - [`Smf::request`] sends a request with the next sequence number,
//!   retransmits it every T1 (500 ms) up to N1 (3) times and returns the
//!   response with that sequence number (or the Version Not Supported
//!   Response that answers it).
//! - A reader thread answers every Heartbeat Request from the UPF at once
//!   with the SMF's own, stable Recovery Time Stamp, while a request waits
//!   and between requests alike, so that a test pausing for traffic never
//!   looks like a lost peer. Everything else it receives goes to the
//!   requests and to [`Smf::recv_raw`].
//! - The reader thread also answers every Session Report Request from the
//!   UPF (Request accepted for a session it opened, Session context not
//!   found otherwise, or what [`Smf::set_report_answer`] says) and keeps it
//!   for [`Smf::session_reports`] / [`Smf::wait_session_report`] (a
//!   retransmission is answered again but kept once).
//! - [`SessionPlan`] builds the typical sessions: 4G with a fixed TEID and
//!   UE address, 5G with CHOOSE (and a CHOOSE ID shared by several uplink
//!   PDRs), a CHOOSE UE address and a QER whose QFI makes the downlink 5G.
//! - [`Smf::send_raw`] / [`Smf::recv_raw`] for malformed messages, and
//!   [`socket_in_netns`] to open the socket in a lab namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use upf_pfcp::header::{self, Header, MsgType};
use upf_pfcp::ie::{
    interface, ActivatePredefinedRules, ApplyAction, Bitrate, CreateFar, CreatePdr, CreateQer,
    CreateUrr, CreatedPdr, DestinationInterface, FTeid, FarId, Fseid, GateStatus, Mbr,
    MeasurementMethod, NodeId, OuterHeaderCreation, OuterHeaderRemoval, Pdi, PdrId, PfcpsmReqFlags,
    Precedence, QerId, Qfi, QueryUrr, RecoveryTimeStamp, RemovePdr, ReportingTriggers, SdfFilter,
    SourceInterface, UeIpAddress, UpdateFar, UpdateForwardingParameters, UpdateQer, UpdateUrr,
    UrrId, UsageReport, Volume, VolumeQuota, VolumeThreshold,
};
use upf_pfcp::message::{
    AssociationSetupRequest, AssociationSetupResponse, HeartbeatRequest, HeartbeatResponse,
    Message, SessionDeletionRequest, SessionDeletionResponse, SessionEstablishmentRequest,
    SessionEstablishmentResponse, SessionModificationRequest, SessionModificationResponse,
    SessionReportRequest, SessionReportResponse,
};
use upf_pfcp::{Cause, Pdu, PFCP_PORT};

/// Retransmission timer of the test SMF.
pub const T1: Duration = Duration::from_millis(500);
/// Retransmissions before a request is given up.
pub const N1: u32 = 3;

/// The lab gateway's N3 (and N4) address.
pub const LAB_N3: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);
/// The lab RAN's address (the SMF's, and the GTP-U peer of the downlink).
pub const LAB_RAN: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 2);

/// Uplink PDR IDs are `PDR_UL + i`, one per uplink QFI.
pub const PDR_UL: u16 = 1;
/// The uplink PDR with an SDF filter and FAR DROP ([`SessionPlan::ul_drop`]).
pub const PDR_UL_DROP: u16 = 50;
/// The downlink PDR.
pub const PDR_DL: u16 = 100;
/// The uplink FAR: forward to CORE.
pub const FAR_UL: u32 = 1;
/// The downlink FAR: forward to ACCESS with Outer Header Creation.
pub const FAR_DL: u32 = 2;
/// A FAR that drops.
pub const FAR_DROP: u32 = 3;
/// The session's URR (all PDRs).
pub const URR: u32 = 1;
/// The downlink QER (5G).
pub const QER_DL: u32 = 1;
/// The session-level QER of [`SessionPlan::mbr_kbps`] / [`SessionPlan::gate_closed`].
pub const QER_SESSION: u32 = 10;
/// The first flow QER of [`SessionPlan::flow_qers`] (then 21, 22, ...).
pub const QER_FLOW: u32 = 20;

/// Precedence of the uplink PDR that drops (lower is stronger).
pub const PRECEDENCE_DROP: u32 = 10;
/// Precedence of the forwarding PDRs.
pub const PRECEDENCE_FORWARD: u32 = 200;

/// One datagram received from anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Who sent it.
    pub from: SocketAddr,
    /// Its octets.
    pub data: Vec<u8>,
}

/// Opens a UDP socket bound to `bind` inside the network namespace `ns`
/// (`/var/run/netns/NAME`, as `ip netns add` creates it). A thread enters
/// the namespace and binds; the socket stays in that namespace when the
/// calling thread uses it.
pub fn socket_in_netns(ns: &str, bind: SocketAddr) -> anyhow::Result<UdpSocket> {
    let path = format!("/var/run/netns/{ns}");
    let joined = std::thread::spawn(move || -> anyhow::Result<UdpSocket> {
        let f = File::open(&path).with_context(|| format!("opening {path}"))?;
        // SAFETY: setns takes a file descriptor that stays open for the call
        // (`f` lives until the end of this closure) and a namespace type; it
        // changes the namespace of this thread only, which ends right after.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setns({path}, CLONE_NEWNET)"));
        }
        UdpSocket::bind(bind).with_context(|| format!("binding {bind} in {path}"))
    })
    .join();
    match joined {
        Ok(r) => r,
        Err(_) => bail!("the thread entering {ns} panicked"),
    }
}

/// NTP seconds now (Recovery Time Stamp).
pub fn ntp_now() -> u32 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (unix + 2_208_988_800) as u32
}

/// The uplink F-TEID of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    /// The SMF allocated this TEID (with the UPF's N3 address).
    Fixed(u32),
    /// CHOOSE (CH and V4), with an optional CHOOSE ID shared by the
    /// uplink PDRs.
    Choose(Option<u8>),
}

/// The UE address of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ue {
    /// The SMF allocated this address.
    Fixed(Ipv4Addr),
    /// CHOOSE (CHV4): the UPF takes one from its pool.
    Choose,
}

/// A session the way an SMF typically asks for it: one uplink PDR per
/// uplink QFI (or one without QFI) forwarding to CORE, optionally an
/// uplink PDR with an SDF filter that drops, and one downlink PDR keyed by
/// the UE address forwarding to ACCESS with GTP-U toward `peer` /
/// `remote_teid`. A URR (volume and duration) on every PDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPlan {
    /// The uplink F-TEID.
    pub local: Local,
    /// The UE address.
    pub ue: Ue,
    /// The UPF's N3 address (in a fixed F-TEID).
    pub n3: Ipv4Addr,
    /// The RAN's GTP-U address (Outer Header Creation).
    pub peer: Ipv4Addr,
    /// The RAN's TEID for the downlink.
    pub remote_teid: u32,
    /// QFIs of the uplink PDRs (one PDR each); empty: one PDR without QFI.
    pub ul_qfis: Vec<u8>,
    /// A QER with this QFI on the downlink PDR (5G); `None`: 4G.
    pub dl_qfi: Option<u8>,
    /// An uplink PDR with this flow description, FAR DROP, precedence
    /// [`PRECEDENCE_DROP`] (above the forwarding PDRs).
    pub ul_drop: Option<String>,
    /// Add the URR.
    pub urr: bool,
    /// The URR's Reporting Triggers (0: reports only when asked).
    pub reporting_triggers: u32,
    /// The URR's Volume Threshold.
    pub volume_threshold: Option<Volume>,
    /// The URR's Volume Quota.
    pub volume_quota: Option<Volume>,
    /// A session-level QER ([`QER_SESSION`], on every PDR) with this MBR
    /// (uplink, downlink) in kbit/s.
    pub mbr_kbps: Option<(u64, u64)>,
    /// The session QER's gate (uplink, downlink) closed.
    pub gate_closed: (bool, bool),
    /// A plan activated on the downlink PDR (Activate Predefined Rules).
    pub plan: Option<String>,
    /// Flow QERs, each on the uplink PDR of its QFI (in `ul_qfis`), with
    /// QER IDs [`QER_FLOW`], [`QER_FLOW`] + 1, ...
    pub flow_qers: Vec<FlowQer>,
}

/// A QER on one QoS flow's uplink PDR (besides the session QER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowQer {
    /// The QFI of the uplink PDR that references it (also the QER's QFI).
    pub qfi: u8,
    /// MBR (uplink, downlink) in kbit/s.
    pub mbr_kbps: (u64, u64),
    /// Gate (uplink, downlink) closed.
    pub gate_closed: (bool, bool),
}

impl SessionPlan {
    /// 4G (S1-U / S5-U): fixed TEID and UE address, plain GTP-U downlink.
    pub fn four_g(local_teid: u32, ue: Ipv4Addr, remote_teid: u32) -> SessionPlan {
        SessionPlan {
            local: Local::Fixed(local_teid),
            ue: Ue::Fixed(ue),
            n3: LAB_N3,
            peer: LAB_RAN,
            remote_teid,
            ul_qfis: Vec::new(),
            dl_qfi: None,
            ul_drop: None,
            urr: true,
            reporting_triggers: 0,
            volume_threshold: None,
            volume_quota: None,
            mbr_kbps: None,
            gate_closed: (false, false),
            plan: None,
            flow_qers: Vec::new(),
        }
    }

    /// 5G (N3): CHOOSE with CHOOSE ID 1 for every uplink PDR (one per QFI
    /// in `ul_qfis`), CHOOSE UE address, a QER with `dl_qfi` on the downlink.
    pub fn five_g(remote_teid: u32, ul_qfis: &[u8], dl_qfi: u8) -> SessionPlan {
        SessionPlan {
            local: Local::Choose(Some(1)),
            ue: Ue::Choose,
            n3: LAB_N3,
            peer: LAB_RAN,
            remote_teid,
            ul_qfis: ul_qfis.to_vec(),
            dl_qfi: Some(dl_qfi),
            ul_drop: None,
            urr: true,
            reporting_triggers: 0,
            volume_threshold: None,
            volume_quota: None,
            mbr_kbps: None,
            gate_closed: (false, false),
            plan: None,
            flow_qers: Vec::new(),
        }
    }

    /// The IDs of the uplink PDRs that forward.
    pub fn ul_pdrs(&self) -> Vec<u16> {
        (0..self.ul_qfis.len().max(1))
            .map(|i| PDR_UL + i as u16)
            .collect()
    }

    fn f_teid(&self) -> FTeid {
        match self.local {
            Local::Fixed(teid) => FTeid::ipv4(teid, self.n3),
            Local::Choose(choose_id) => FTeid::choose_ipv4(choose_id),
        }
    }

    fn ue_ip(&self, destination: bool) -> UeIpAddress {
        match self.ue {
            Ue::Fixed(a) => UeIpAddress {
                ipv4: Some(a),
                destination,
                ..UeIpAddress::default()
            },
            Ue::Choose => UeIpAddress {
                destination,
                choose_v4: true,
                ..UeIpAddress::default()
            },
        }
    }

    fn urr_ids(&self) -> Vec<UrrId> {
        if self.urr {
            vec![UrrId(URR)]
        } else {
            Vec::new()
        }
    }

    fn uplink_pdr(&self, id: u16, precedence: u32, far: u32, pdi: Pdi) -> CreatePdr {
        CreatePdr {
            pdr_id: PdrId(id),
            precedence: Precedence(precedence),
            pdi,
            outer_header_removal: Some(OuterHeaderRemoval {
                description: 0,
                ext_header_deletion: None,
            }),
            far_id: Some(FarId(far)),
            urr_ids: self.urr_ids(),
            qer_ids: self.session_qer().into_iter().collect(),
            activate_predefined_rules: Vec::new(),
            unknown: Vec::new(),
        }
    }

    fn session_qer(&self) -> Option<QerId> {
        (self.mbr_kbps.is_some() || self.gate_closed != (false, false))
            .then_some(QerId(QER_SESSION))
    }

    fn uplink_pdi(&self, qfi: Option<u8>) -> Pdi {
        Pdi {
            source_interface: SourceInterface(interface::ACCESS),
            f_teid: Some(self.f_teid()),
            ue_ip_address: Some(self.ue_ip(false)),
            qfis: qfi.map(Qfi).into_iter().collect(),
            ..Pdi::default()
        }
    }

    /// The Create PDRs, FARs, URRs and QERs.
    pub fn rules(
        &self,
    ) -> (
        Vec<CreatePdr>,
        Vec<CreateFar>,
        Vec<CreateUrr>,
        Vec<CreateQer>,
    ) {
        let mut pdrs = Vec::new();
        let qfis: Vec<Option<u8>> = if self.ul_qfis.is_empty() {
            vec![None]
        } else {
            self.ul_qfis.iter().copied().map(Some).collect()
        };
        for (id, qfi) in self.ul_pdrs().into_iter().zip(qfis) {
            let mut pdr = self.uplink_pdr(id, PRECEDENCE_FORWARD, FAR_UL, self.uplink_pdi(qfi));
            pdr.qer_ids.extend(
                (QER_FLOW..)
                    .zip(&self.flow_qers)
                    .filter(|(_, f)| Some(f.qfi) == qfi)
                    .map(|(q, _)| QerId(q)),
            );
            pdrs.push(pdr);
        }
        if let Some(fd) = &self.ul_drop {
            let mut pdi = self.uplink_pdi(None);
            pdi.sdf_filters = vec![SdfFilter {
                flow_description: Some(fd.clone()),
                ..SdfFilter::default()
            }];
            pdrs.push(self.uplink_pdr(PDR_UL_DROP, PRECEDENCE_DROP, FAR_DROP, pdi));
        }
        pdrs.push(CreatePdr {
            pdr_id: PdrId(PDR_DL),
            precedence: Precedence(PRECEDENCE_FORWARD),
            pdi: Pdi {
                source_interface: SourceInterface(interface::CORE),
                ue_ip_address: Some(self.ue_ip(true)),
                ..Pdi::default()
            },
            outer_header_removal: None,
            far_id: Some(FarId(FAR_DL)),
            urr_ids: self.urr_ids(),
            qer_ids: self
                .dl_qfi
                .map(|_| QerId(QER_DL))
                .into_iter()
                .chain(self.session_qer())
                .collect(),
            activate_predefined_rules: self
                .plan
                .iter()
                .map(|p| ActivatePredefinedRules(p.as_bytes().to_vec()))
                .collect(),
            unknown: Vec::new(),
        });
        let mut fars = vec![
            forward(FAR_UL, interface::CORE, None),
            forward(
                FAR_DL,
                interface::ACCESS,
                Some(gtpu(self.remote_teid, self.peer)),
            ),
        ];
        if self.ul_drop.is_some() {
            fars.push(CreateFar {
                far_id: FarId(FAR_DROP),
                apply_action: ApplyAction(ApplyAction::DROP),
                forwarding_parameters: None,
                bar_id: None,
                unknown: Vec::new(),
            });
        }
        let urrs = if self.urr {
            vec![CreateUrr {
                reporting_triggers: ReportingTriggers(self.reporting_triggers),
                volume_threshold: self.volume_threshold.map(VolumeThreshold),
                volume_quota: self.volume_quota.map(VolumeQuota),
                ..CreateUrr::new(
                    UrrId(URR),
                    MeasurementMethod {
                        duration: true,
                        volume: true,
                        event: false,
                    },
                )
            }]
        } else {
            Vec::new()
        };
        let mut qers: Vec<CreateQer> = self
            .dl_qfi
            .map(|q| CreateQer {
                qer_id: QerId(QER_DL),
                qer_correlation_id: None,
                gate_status: GateStatus::default(),
                mbr: None,
                gbr: None,
                qfi: Some(Qfi(q)),
                rqi: None,
                unknown: Vec::new(),
            })
            .into_iter()
            .collect();
        if self.session_qer().is_some() {
            qers.push(CreateQer {
                qer_id: QerId(QER_SESSION),
                qer_correlation_id: None,
                gate_status: GateStatus {
                    ul: u8::from(self.gate_closed.0),
                    dl: u8::from(self.gate_closed.1),
                },
                mbr: self.mbr_kbps.map(|(ul, dl)| Mbr(Bitrate { ul, dl })),
                gbr: None,
                qfi: None,
                rqi: None,
                unknown: Vec::new(),
            });
        }
        for (id, f) in (QER_FLOW..).zip(&self.flow_qers) {
            qers.push(CreateQer {
                qer_id: QerId(id),
                qer_correlation_id: None,
                gate_status: GateStatus {
                    ul: u8::from(f.gate_closed.0),
                    dl: u8::from(f.gate_closed.1),
                },
                mbr: Some(Mbr(Bitrate {
                    ul: f.mbr_kbps.0,
                    dl: f.mbr_kbps.1,
                })),
                gbr: None,
                qfi: Some(Qfi(f.qfi)),
                rqi: None,
                unknown: Vec::new(),
            });
        }
        (pdrs, fars, urrs, qers)
    }

    /// The Session Establishment Request from `node_id` with CP F-SEID
    /// `cp_seid` at `cp_addr`.
    pub fn request(
        &self,
        node_id: NodeId,
        cp_seid: u64,
        cp_addr: Ipv4Addr,
    ) -> SessionEstablishmentRequest {
        let (create_pdr, create_far, create_urr, create_qer) = self.rules();
        SessionEstablishmentRequest {
            node_id,
            cp_f_seid: Fseid {
                seid: cp_seid,
                ipv4: Some(cp_addr),
                ipv6: None,
            },
            create_pdr,
            create_far,
            create_urr,
            create_qer,
            pdn_type: None,
            unknown: Vec::new(),
        }
    }
}

/// Session Modification Request: Update QER [`QER_SESSION`] to a new MBR
/// (uplink, downlink) in kbit/s.
pub fn update_mbr(ul_kbps: u64, dl_kbps: u64) -> SessionModificationRequest {
    update_qer(QER_SESSION, None, Some((ul_kbps, dl_kbps)))
}

/// Session Modification Request: Update QER `qer` with a new gate
/// (uplink, downlink closed) and/or MBR (uplink, downlink) in kbit/s; what
/// is `None` is left out (unchanged).
pub fn update_qer(
    qer: u32,
    gate_closed: Option<(bool, bool)>,
    mbr_kbps: Option<(u64, u64)>,
) -> SessionModificationRequest {
    SessionModificationRequest {
        update_qer: vec![UpdateQer {
            qer_id: QerId(qer),
            qer_correlation_id: None,
            gate_status: gate_closed.map(|(ul, dl)| GateStatus {
                ul: u8::from(ul),
                dl: u8::from(dl),
            }),
            mbr: mbr_kbps.map(|(ul, dl)| Mbr(Bitrate { ul, dl })),
            gbr: None,
            qfi: None,
            rqi: None,
            unknown: Vec::new(),
        }],
        ..SessionModificationRequest::default()
    }
}

/// Outer Header Creation GTP-U/UDP/IPv4 toward `peer` with `teid`.
pub fn gtpu(teid: u32, peer: Ipv4Addr) -> OuterHeaderCreation {
    OuterHeaderCreation {
        description: OuterHeaderCreation::GTPU_UDP_IPV4,
        teid: Some(teid),
        ipv4: Some(peer),
        ..OuterHeaderCreation::default()
    }
}

/// A FAR that forwards to `destination`, with an Outer Header Creation.
pub fn forward(far: u32, destination: u8, ohc: Option<OuterHeaderCreation>) -> CreateFar {
    CreateFar::forward(FarId(far), destination, ohc)
}

/// Update FAR `far`: GTP-U toward `peer` / `teid` from now on; with
/// `end_marker`, PFCPSMReq-Flags SNDEM (End Marker on the old tunnel).
pub fn move_downlink(
    far: u32,
    teid: u32,
    peer: Ipv4Addr,
    end_marker: bool,
) -> SessionModificationRequest {
    SessionModificationRequest {
        update_far: vec![UpdateFar {
            far_id: FarId(far),
            apply_action: Some(ApplyAction(ApplyAction::FORW)),
            update_forwarding_parameters: Some(UpdateForwardingParameters {
                destination_interface: Some(DestinationInterface(interface::ACCESS)),
                outer_header_creation: Some(gtpu(teid, peer)),
                pfcpsm_req_flags: end_marker.then_some(PfcpsmReqFlags(PfcpsmReqFlags::SNDEM)),
                ..UpdateForwardingParameters::default()
            }),
            bar_id: None,
            unknown: Vec::new(),
        }],
        ..SessionModificationRequest::default()
    }
}

/// Query URR `urr` (an immediate report in the response).
pub fn query_urr(urr: u32) -> SessionModificationRequest {
    SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(urr) }],
        ..SessionModificationRequest::default()
    }
}

/// Remove PDR `pdr`.
/// Update URR `urr` with a new Volume Quota.
pub fn grant_quota(urr: u32, quota: Volume) -> SessionModificationRequest {
    SessionModificationRequest {
        update_urr: vec![UpdateUrr {
            volume_quota: Some(VolumeQuota(quota)),
            ..UpdateUrr::of(UrrId(urr))
        }],
        ..SessionModificationRequest::default()
    }
}

pub fn remove_pdr(pdr: u16) -> SessionModificationRequest {
    SessionModificationRequest {
        remove_pdr: vec![RemovePdr { pdr_id: PdrId(pdr) }],
        ..SessionModificationRequest::default()
    }
}

/// An established session as the SMF knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Our SEID.
    pub cp_seid: u64,
    /// The UPF's SEID (header SEID of later requests).
    pub up_seid: u64,
    /// What was asked for.
    pub plan: SessionPlan,
    /// What the UPF allocated.
    pub created: Vec<CreatedPdr>,
}

impl Session {
    /// The uplink TEID: the fixed one, or the one the UPF chose (for PDR
    /// [`PDR_UL`]).
    pub fn teid(&self) -> Option<u32> {
        self.teid_of(PDR_UL)
    }

    /// The TEID of uplink PDR `pdr`.
    pub fn teid_of(&self, pdr: u16) -> Option<u32> {
        match self.plan.local {
            Local::Fixed(t) => Some(t),
            Local::Choose(_) => self
                .created_pdr(pdr)
                .and_then(|c| c.local_f_teid)
                .and_then(|f| f.teid),
        }
    }

    /// The UE address: the fixed one, or the one the UPF chose.
    pub fn ue(&self) -> Option<Ipv4Addr> {
        match self.plan.ue {
            Ue::Fixed(a) => Some(a),
            Ue::Choose => self
                .created
                .iter()
                .find_map(|c| c.ue_ip_address.and_then(|u| u.ipv4)),
        }
    }

    /// The Created PDR for `pdr`.
    pub fn created_pdr(&self, pdr: u16) -> Option<&CreatedPdr> {
        self.created.iter().find(|c| c.pdr_id == PdrId(pdr))
    }
}

/// A Usage Report's volume numbers (absent counters as 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uplink octets.
    pub ul_octets: u64,
    /// Downlink octets.
    pub dl_octets: u64,
    /// Total octets.
    pub total_octets: u64,
    /// Uplink packets.
    pub ul_packets: u64,
    /// Downlink packets.
    pub dl_packets: u64,
    /// Total packets.
    pub total_packets: u64,
}

impl Usage {
    /// The Volume Measurement of `r`, if it has one.
    pub fn of(r: &UsageReport) -> Option<Usage> {
        r.volume_measurement.map(|v| Usage {
            ul_octets: v.uplink_volume.unwrap_or(0),
            dl_octets: v.downlink_volume.unwrap_or(0),
            total_octets: v.total_volume.unwrap_or(0),
            ul_packets: v.uplink_packets.unwrap_or(0),
            dl_packets: v.downlink_packets.unwrap_or(0),
            total_packets: v.total_packets.unwrap_or(0),
        })
    }
}

/// The test SMF. See the module documentation.
pub struct Smf {
    sock: UdpSocket,
    upf: SocketAddr,
    addr: Ipv4Addr,
    recovery: RecoveryTimeStamp,
    seq: u32,
    next_seid: u64,
    /// Retransmission timer.
    pub t1: Duration,
    /// Retransmissions.
    pub n1: u32,
    rx: mpsc::Receiver<Datagram>,
    stop: Arc<AtomicBool>,
    heartbeats: Arc<AtomicU32>,
    reports: Arc<Reports>,
    reader: Option<JoinHandle<()>>,
    /// Datagrams that arrived while a request waited and answered nothing
    /// (late duplicates, other responses), for diagnostics.
    pub stray: Vec<Datagram>,
    /// The UPF's Association Setup Response, once associated.
    pub association: Option<AssociationSetupResponse>,
}

impl Smf {
    /// An SMF on `socket` (bound to an IPv4 address: it is the Node ID and
    /// the CP F-SEID address) talking to the UPF at `upf`.
    pub fn new(socket: UdpSocket, upf: SocketAddr) -> anyhow::Result<Smf> {
        let addr = match socket.local_addr()?.ip() {
            IpAddr::V4(a) if !a.is_unspecified() => a,
            other => bail!("the SMF socket must be bound to an IPv4 address, not {other}"),
        };
        let recovery = RecoveryTimeStamp(ntp_now());
        let reader_sock = socket.try_clone().context("cloning the SMF socket")?;
        reader_sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeats = Arc::new(AtomicU32::new(0));
        let reports = Arc::new(Reports::default());
        let reader = {
            let stop = stop.clone();
            let heartbeats = heartbeats.clone();
            let reports = reports.clone();
            std::thread::Builder::new()
                .name("test-smf-reader".into())
                .spawn(move || reader(reader_sock, upf, recovery, tx, stop, heartbeats, reports))
                .context("starting the SMF reader thread")?
        };
        Ok(Smf {
            sock: socket,
            upf,
            addr,
            recovery,
            seq: 0,
            next_seid: 0x5eed_0000_0000_0000,
            t1: T1,
            n1: N1,
            rx,
            stop,
            heartbeats,
            reports,
            reader: Some(reader),
            stray: Vec::new(),
            association: None,
        })
    }

    /// An SMF in namespace `ns` bound to `bind`, talking to `upf`.
    pub fn in_netns(ns: &str, bind: SocketAddr, upf: SocketAddr) -> anyhow::Result<Smf> {
        Smf::new(socket_in_netns(ns, bind)?, upf)
    }

    /// The SMF's address (Node ID, CP F-SEID).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The SMF's Node ID.
    pub fn node_id(&self) -> NodeId {
        NodeId::Ipv4(self.addr)
    }

    /// The SMF's Recovery Time Stamp (never changes).
    pub fn recovery_time_stamp(&self) -> RecoveryTimeStamp {
        self.recovery
    }

    /// Heartbeat Requests from the UPF answered so far.
    pub fn heartbeats_answered(&self) -> u32 {
        self.heartbeats.load(Ordering::Relaxed)
    }

    /// The Session Report Requests received so far (header and message),
    /// in order, each once.
    pub fn session_reports(&self) -> Vec<(Header, SessionReportRequest)> {
        lock(&self.reports.received).clone()
    }

    /// Waits up to `timeout` for a Session Report Request that `pred`
    /// accepts, among those received so far and those to come.
    pub fn wait_session_report(
        &self,
        timeout: Duration,
        pred: impl Fn(&Header, &SessionReportRequest) -> bool,
    ) -> Option<(Header, SessionReportRequest)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.session_reports().into_iter().find(|(h, r)| pred(h, r)) {
                return Some(r);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How Session Report Requests are answered from now on: `Some(cause)`
    /// for every one, `None` to leave them unanswered; the default (before
    /// any call) answers Request accepted for sessions opened with
    /// [`Smf::open`] and Session context not found for others.
    pub fn set_report_answer(&self, answer: Option<Cause>) {
        *lock(&self.reports.answer) = ReportAnswer::Fixed(answer);
    }

    /// A new CP SEID.
    pub fn new_seid(&mut self) -> u64 {
        self.next_seid += 1;
        self.next_seid
    }

    /// The next sequence number (24 bits, never 0).
    pub fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq % 0x00ff_ffff) + 1;
        self.seq
    }

    /// Sends `message` as a request (a session message with header SEID
    /// `seid`, 0 if `None`), retransmitting every T1 up to N1 times, and
    /// returns the response with its sequence number (also a Version Not
    /// Supported Response). A response that does not parse is an error
    /// with its octets.
    pub fn request(&mut self, message: Message, seid: Option<u64>) -> anyhow::Result<Pdu> {
        let t = message.message_type();
        let seq = self.next_seq();
        let header = if t.is_session() {
            Header::session(t, seid.unwrap_or(0), seq)
        } else {
            Header::node(t, seq)
        };
        let bytes = Pdu { header, message }.to_bytes();
        let expect = t
            .response()
            .with_context(|| format!("{} is not a request", t.name()))?;
        for _ in 0..=self.n1 {
            self.sock
                .send_to(&bytes, self.upf)
                .with_context(|| format!("sending {} to {}", t.name(), self.upf))?;
            let deadline = Instant::now() + self.t1;
            while let Some(d) = self.recv_until(deadline) {
                if let Some(p) = self.match_response(&d, seq, expect)? {
                    return Ok(p);
                }
                self.stray.push(d);
            }
        }
        bail!(
            "no {} for sequence {seq} from {} after {} transmissions {:?} apart",
            expect.name(),
            self.upf,
            self.n1 + 1,
            self.t1
        )
    }

    /// `Some` if `d` answers request `seq` of type `expect`'s request.
    fn match_response(
        &self,
        d: &Datagram,
        seq: u32,
        expect: MsgType,
    ) -> anyhow::Result<Option<Pdu>> {
        if d.from.ip() != self.upf.ip() {
            return Ok(None);
        }
        let Ok((h, body)) = Header::parse(&d.data) else {
            return Ok(None);
        };
        let answers = h.sequence == seq
            && (h.message_type == expect
                || h.message_type == MsgType::VERSION_NOT_SUPPORTED_RESPONSE);
        if !answers {
            return Ok(None);
        }
        match Message::parse(h.message_type, body) {
            Ok(message) => Ok(Some(Pdu { header: h, message })),
            Err(e) => bail!(
                "the {} to sequence {seq} does not parse: {e}\n{}",
                h.message_type.name(),
                hex(&d.data)
            ),
        }
    }

    /// The next datagram (Heartbeat Requests excepted) before `deadline`.
    fn recv_until(&self, deadline: Instant) -> Option<Datagram> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return self.rx.try_recv().ok();
        }
        self.rx.recv_timeout(left).ok()
    }

    /// Sends `datagram` to the UPF as it is.
    pub fn send_raw(&self, datagram: &[u8]) -> anyhow::Result<()> {
        self.sock
            .send_to(datagram, self.upf)
            .with_context(|| format!("sending {} octets to {}", datagram.len(), self.upf))?;
        Ok(())
    }

    /// The next datagram the UPF sends within `timeout`, Heartbeat Requests
    /// excepted (the reader answers those).
    pub fn recv_raw(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        while let Some(d) = self.recv_until(deadline) {
            if d.from.ip() == self.upf.ip() {
                return Some(d.data);
            }
            self.stray.push(d);
        }
        None
    }

    /// Drops whatever has been received and not yet read.
    pub fn drain(&mut self) {
        while let Ok(d) = self.rx.try_recv() {
            self.stray.push(d);
        }
    }

    /// Association Setup; fails unless the UPF accepts (Cause 1).
    pub fn associate(&mut self) -> anyhow::Result<AssociationSetupResponse> {
        let req = Message::AssociationSetupRequest(AssociationSetupRequest {
            node_id: self.node_id(),
            recovery_time_stamp: self.recovery,
            up_function_features: None,
            cp_function_features: None,
            user_plane_ip_resource_information: Vec::new(),
            unknown: Vec::new(),
        });
        let rsp = match self.request(req, None)?.message {
            Message::AssociationSetupResponse(r) => r,
            other => bail!("Association Setup answered with {other:?}"),
        };
        if rsp.cause != Cause::REQUEST_ACCEPTED {
            bail!("Association Setup refused: {}", rsp.cause);
        }
        self.association = Some(rsp.clone());
        Ok(rsp)
    }

    /// A Heartbeat Request of our own.
    pub fn heartbeat(&mut self) -> anyhow::Result<HeartbeatResponse> {
        let req = Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: self.recovery,
            unknown: Vec::new(),
        });
        match self.request(req, None)?.message {
            Message::HeartbeatResponse(r) => Ok(r),
            other => bail!("Heartbeat answered with {other:?}"),
        }
    }

    /// Session Establishment; returns the response whatever its cause.
    pub fn establish(
        &mut self,
        req: SessionEstablishmentRequest,
    ) -> anyhow::Result<SessionEstablishmentResponse> {
        match self
            .request(Message::SessionEstablishmentRequest(req), Some(0))?
            .message
        {
            Message::SessionEstablishmentResponse(r) => Ok(r),
            other => bail!("Session Establishment answered with {other:?}"),
        }
    }

    /// Establishes `plan` with a new CP SEID; fails unless accepted with a
    /// UP F-SEID and every CHOOSE answered in a Created PDR.
    pub fn open(&mut self, plan: &SessionPlan) -> anyhow::Result<Session> {
        let cp_seid = self.new_seid();
        let rsp = self.establish(plan.request(self.node_id(), cp_seid, self.addr))?;
        if rsp.cause != Cause::REQUEST_ACCEPTED {
            bail!(
                "Session Establishment refused: {}, offending IE {:?}, failed rule {:?}",
                rsp.cause,
                rsp.offending_ie,
                rsp.failed_rule_id
            );
        }
        let up = rsp
            .up_f_seid
            .context("Session Establishment Response accepted without UP F-SEID")?;
        lock(&self.reports.seids).insert(cp_seid, up.seid);
        let s = Session {
            cp_seid,
            up_seid: up.seid,
            plan: plan.clone(),
            created: rsp.created_pdr,
        };
        for id in plan.ul_pdrs() {
            if s.teid_of(id).is_none() {
                bail!("no Created PDR with the local F-TEID of PDR {id}: {s:?}");
            }
        }
        if s.ue().is_none() {
            bail!("no Created PDR with the UE address: {s:?}");
        }
        Ok(s)
    }

    /// Session Modification of the session with UP SEID `up_seid`.
    pub fn modify(
        &mut self,
        up_seid: u64,
        req: SessionModificationRequest,
    ) -> anyhow::Result<(Header, SessionModificationResponse)> {
        let p = self.request(Message::SessionModificationRequest(req), Some(up_seid))?;
        match p.message {
            Message::SessionModificationResponse(r) => Ok((p.header, r)),
            other => bail!("Session Modification answered with {other:?}"),
        }
    }

    /// Session Deletion of the session with UP SEID `up_seid`.
    pub fn delete(&mut self, up_seid: u64) -> anyhow::Result<(Header, SessionDeletionResponse)> {
        let p = self.request(
            Message::SessionDeletionRequest(SessionDeletionRequest::default()),
            Some(up_seid),
        )?;
        match p.message {
            Message::SessionDeletionResponse(r) => Ok((p.header, r)),
            other => bail!("Session Deletion answered with {other:?}"),
        }
    }
}

impl Drop for Smf {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The reader thread: answers the UPF's Heartbeat Requests, passes on
/// everything else, until `stop` or the [`Smf`] is gone.
/// How the reader answers Session Report Requests.
#[derive(Clone, Copy, Debug, Default)]
enum ReportAnswer {
    /// Request accepted for a known CP SEID, Session context not found otherwise.
    #[default]
    BySession,
    /// This cause for every one; `None`: no answer.
    Fixed(Option<Cause>),
}

/// Session Report Requests: what the reader received and how it answers.
#[derive(Default)]
struct Reports {
    received: Mutex<Vec<(Header, SessionReportRequest)>>,
    answer: Mutex<ReportAnswer>,
    /// CP SEID -> UP SEID of the sessions opened, for the answer's header.
    seids: Mutex<HashMap<u64, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Reports {
    /// Keeps `req` (once per sequence number) and returns the answer to send.
    fn answer(&self, header: &Header, req: SessionReportRequest) -> Option<Vec<u8>> {
        {
            let mut got = lock(&self.received);
            if !got.iter().any(|(h, _)| h.sequence == header.sequence) {
                got.push((*header, req));
            }
        }
        let up_seid = header
            .seid
            .and_then(|cp| lock(&self.seids).get(&cp).copied());
        let cause = match *lock(&self.answer) {
            ReportAnswer::Fixed(c) => c?,
            ReportAnswer::BySession if up_seid.is_some() => Cause::REQUEST_ACCEPTED,
            ReportAnswer::BySession => Cause::SESSION_CONTEXT_NOT_FOUND,
        };
        let rsp = Pdu {
            header: Header::session(
                MsgType::SESSION_REPORT_RESPONSE,
                up_seid.unwrap_or(0),
                header.sequence,
            ),
            message: Message::SessionReportResponse(SessionReportResponse {
                cause,
                offending_ie: None,
                unknown: Vec::new(),
            }),
        };
        Some(rsp.to_bytes())
    }
}

fn reader(
    sock: UdpSocket,
    upf: SocketAddr,
    recovery: RecoveryTimeStamp,
    tx: mpsc::Sender<Datagram>,
    stop: Arc<AtomicBool>,
    heartbeats: Arc<AtomicU32>,
    reports: Arc<Reports>,
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let data = &buf[..len];
        if from.ip() == upf.ip() {
            if let Ok(Pdu {
                header,
                message: Message::HeartbeatRequest(_),
            }) = Pdu::parse(data)
            {
                let rsp = Pdu {
                    header: Header::node(MsgType::HEARTBEAT_RESPONSE, header.sequence),
                    message: Message::HeartbeatResponse(HeartbeatResponse {
                        recovery_time_stamp: recovery,
                        unknown: Vec::new(),
                    }),
                };
                if sock.send_to(&rsp.to_bytes(), from).is_ok() {
                    heartbeats.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            if let Ok(Pdu {
                header,
                message: Message::SessionReportRequest(req),
            }) = Pdu::parse(data)
            {
                if let Some(rsp) = reports.answer(&header, req) {
                    // A lost answer is asked for again by the retransmission.
                    let _ = sock.send_to(&rsp, from);
                }
                continue;
            }
        }
        let d = Datagram {
            from,
            data: data.to_vec(),
        };
        if tx.send(d).is_err() {
            return;
        }
    }
}

/// Octets as hex, 16 a line.
pub fn hex(data: &[u8]) -> String {
    data.chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes every top-level IE of type `ie_type` from the PFCP message in
/// `datagram` and fixes the length field (for mandatory-IE-missing tests).
/// Returns how many were removed.
pub fn strip_ie(datagram: &mut Vec<u8>, ie_type: u16) -> usize {
    let Ok((h, _)) = Header::parse(datagram) else {
        return 0;
    };
    let mut at = h.len();
    let mut removed = 0;
    while at + 4 <= datagram.len() {
        let t = u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let len = 4 + usize::from(u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]));
        let end = (at + len).min(datagram.len());
        if t == ie_type {
            datagram.drain(at..end);
            removed += 1;
        } else {
            at = end;
        }
    }
    header::set_length(datagram);
    removed
}

/// The PFCP port on `ip`.
pub fn pfcp_addr(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), PFCP_PORT)
}

#[cfg(test)]
mod tests;
