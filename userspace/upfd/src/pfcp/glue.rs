//! The daemon's PFCP wiring: the node's [`SessionHandler`] over the shared
//! session manager, the node's configuration from `[pfcp]`, and the node's
//! state for `upfctl stats`.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use upf_pfcp::header::Header;
use upf_pfcp::ie::NodeId;
use upf_pfcp::message::{Message, SessionReportResponse};
use upf_pfcp::Cause;

use crate::control::Effects;
use upf_config::pfcp::{OnPeerLoss, PfcpConfig};
use upf_control::{PeerView, PfcpStats};
use upf_pfcp::node::{
    Node, NodeConfig, PeerConfig, PeerId, PeerLossPolicy, PeerState, SessionHandler,
};
use upf_session::datapath::Datapath;
use upf_session::handler::{self, Identity};
use upf_session::manager::SessionManager;
use upf_session::sessions::{PendingReport, SessionsConfig};
use upf_session::types::now_ntp;

/// UP Function Features we advertise (§8.2.25): FTUP (octet 5 bit 5: we
/// allocate F-TEIDs) and EMPU (octet 6 bit 1: we send End Markers).
pub const UP_FUNCTION_FEATURES: [u8; 2] = [0x10, 0x01];

/// The name sessions of a peer are filed under: its Node ID.
pub fn peer_name(p: &PeerId) -> String {
    node_id_text(&p.node_id)
}

fn node_id_text(n: &NodeId) -> String {
    match n {
        NodeId::Ipv4(a) => a.to_string(),
        NodeId::Ipv6(a) => a.to_string(),
        NodeId::Fqdn(f) => f.clone(),
    }
}

/// The node's configuration from `[pfcp]`.
pub fn node_config(p: &PfcpConfig) -> NodeConfig {
    let peers = p
        .peers
        .iter()
        .map(|e| PeerConfig {
            addr: IpAddr::V4(e.prefix.addr),
            prefix_len: e.prefix.len,
            initiate: e.initiate,
        })
        .collect();
    let mut c = NodeConfig::new(p.node_id(), peers);
    c.up_function_features = UP_FUNCTION_FEATURES.to_vec();
    c.heartbeat_interval = Duration::from_secs(p.heartbeat_interval_secs);
    c.heartbeat_retries = p.heartbeat_retries;
    c.t1 = Duration::from_millis(p.t1_ms);
    c.n1 = p.n1;
    c.response_cache_ttl = Duration::from_secs(p.response_cache_secs);
    c.rate_limit = (p.rate_limit_per_peer > 0).then_some(upf_pfcp::node::RateLimit {
        per_sec: p.rate_limit_per_peer,
        burst: p.rate_limit_burst,
    });
    c.on_peer_loss = match p.on_peer_loss {
        OnPeerLoss::Keep => PeerLossPolicy::Keep,
        OnPeerLoss::Delete => PeerLossPolicy::Delete,
    };
    c
}

/// The session manager's pools from `[pfcp]` (defaults without it).
pub fn sessions_config(
    n3: Ipv4Addr,
    p: Option<&PfcpConfig>,
    qos: upf_session::sessions::QosParams,
) -> SessionsConfig {
    SessionsConfig {
        qos,
        n3,
        teid_range: p.map_or((0x0010_0000, 0x7fff_ffff), |p| (p.teid_first, p.teid_last)),
        ue_pools: p.map_or_else(Vec::new, |p| p.ue_pools.clone()),
    }
}

/// The node's [`SessionHandler`]: session requests go to the shared
/// session manager; End Markers and new GTP-U peers go to the daemon.
pub struct Glue<D: Datapath> {
    manager: Arc<Mutex<SessionManager<D>>>,
    me: Identity,
    effects: mpsc::UnboundedSender<Effects>,
    announced: HashSet<Ipv4Addr>,
}

impl<D: Datapath> Glue<D> {
    /// A handler over `manager`, answering as `me`, sending side effects to `effects`.
    pub fn new(
        manager: Arc<Mutex<SessionManager<D>>>,
        me: Identity,
        effects: mpsc::UnboundedSender<Effects>,
    ) -> Self {
        Glue {
            manager,
            me,
            effects,
            announced: HashSet::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionManager<D>> {
        self.manager.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<D: Datapath> SessionHandler for Glue<D> {
    fn session_request(
        &mut self,
        peer: &PeerId,
        header: &Header,
        msg: Message,
        _now: Instant,
    ) -> (u64, Message) {
        let name = peer_name(peer);
        let kind = msg.message_type();
        let mut m = self.lock();
        let Some((seid, rsp, fx)) =
            handler::session_request(m.sessions_mut(), &self.me, &name, header, msg, now_ntp())
        else {
            return (
                0,
                Message::SessionReportResponse(SessionReportResponse {
                    cause: Cause::REQUEST_REJECTED,
                    offending_ie: None,
                    unknown: Vec::new(),
                }),
            );
        };
        if let Some(r) = &fx.rejected {
            tracing::info!(peer = %name, request = kind.name(), "rejected: {r}");
        }
        let mut out = Effects {
            end_markers: fx.end_markers.iter().map(|t| (t.ipv4, t.teid)).collect(),
            new_peers: Vec::new(),
        };
        // GTP-U peers not seen before get an Echo Request at once.
        let tunnels: Vec<Ipv4Addr> = header
            .seid
            .and_then(|s| m.sessions().get(s))
            .into_iter()
            .chain(match &rsp {
                Message::SessionEstablishmentResponse(r) => {
                    r.up_f_seid.and_then(|f| m.sessions().get(f.seid))
                }
                _ => None,
            })
            .flat_map(|s| s.tunnels())
            .map(|t| t.ipv4)
            .collect();
        drop(m);
        for t in tunnels {
            if self.announced.insert(t) {
                out.new_peers.push(t);
            }
        }
        if !out.end_markers.is_empty() || !out.new_peers.is_empty() {
            let _ = self.effects.send(out);
        }
        (seid, rsp)
    }

    fn session_report_response(
        &mut self,
        peer: &PeerId,
        seid: u64,
        rsp: Option<Message>,
        _now: Instant,
    ) {
        let name = peer_name(peer);
        let up_seid = self.lock().sessions().find(&name, seid);
        match report_outcome(rsp.as_ref()) {
            ReportOutcome::Accepted => {
                tracing::debug!(peer = %name, cp_seid = seid, up_seid, "Session Report accepted")
            }
            ReportOutcome::UnknownSession => tracing::warn!(
                peer = %name,
                cp_seid = seid,
                up_seid,
                "Session Report answered Session context not found: the CP function does not know the session (kept until it deletes it or the association ends)"
            ),
            ReportOutcome::Rejected(cause, offending) => tracing::warn!(
                peer = %name,
                cp_seid = seid,
                up_seid,
                %cause,
                offending_ie = offending,
                "Session Report rejected"
            ),
            ReportOutcome::Unexpected(t) => tracing::warn!(
                peer = %name,
                cp_seid = seid,
                response = t,
                "Session Report answered with another message"
            ),
            // The node logged the lost usage and counted it.
            ReportOutcome::Unanswered => {}
        }
    }

    fn release_peer(&mut self, peer: &PeerId, _now: Instant) {
        let name = peer_name(peer);
        let n = self.lock().sessions_mut().release_peer(&name, now_ntp());
        tracing::warn!(peer = %name, sessions = n, "PFCP sessions of the peer removed");
    }

    fn cp_seid(&mut self, peer: &PeerId, up_seid: u64) -> Option<u64> {
        let name = peer_name(peer);
        self.lock()
            .sessions()
            .get(up_seid)
            .filter(|s| s.peer == name)
            .map(|s| s.cp_seid)
    }
}

/// What became of a Session Report Request, from the node's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Request accepted.
    Accepted,
    /// Session context not found: the CP function lost the session.
    UnknownSession,
    /// Another cause, with the Offending IE if any.
    Rejected(Cause, Option<u16>),
    /// Not a Session Report Response (Version Not Supported).
    Unexpected(&'static str),
    /// No answer after N1 retransmissions.
    Unanswered,
}

/// Classifies the answer to a Session Report Request.
pub fn report_outcome(rsp: Option<&Message>) -> ReportOutcome {
    match rsp {
        None => ReportOutcome::Unanswered,
        Some(Message::SessionReportResponse(r)) if r.cause.is_accepted() => ReportOutcome::Accepted,
        Some(Message::SessionReportResponse(r)) if r.cause == Cause::SESSION_CONTEXT_NOT_FOUND => {
            ReportOutcome::UnknownSession
        }
        Some(Message::SessionReportResponse(r)) => {
            ReportOutcome::Rejected(r.cause, r.offending_ie.map(|o| o.0))
        }
        Some(other) => ReportOutcome::Unexpected(other.message_type().name()),
    }
}

/// Where the Session Report Request `p` goes: the associated peer whose
/// Node ID the session is filed under, at the CP F-SEID address (TS 29.244
/// §5.6.2: session messages go to the F-SEID's address) or, without one,
/// at the peer's address. `None` when no such peer is known.
pub fn report_target(node: &Node, p: &PendingReport) -> Option<PeerId> {
    node.peers().into_iter().find_map(|s| {
        let node_id = s.node_id.filter(|n| node_id_text(n) == p.peer)?;
        let addr = match p.cp_ipv4 {
            Some(ip) => SocketAddr::new(IpAddr::V4(ip), s.addr.port()),
            None => s.addr,
        };
        Some(PeerId { node_id, addr })
    })
}

/// The node's state for `upfctl stats` (sessions and pools are added by
/// the control handler).
pub fn stats(node: &Node, now: Instant) -> PfcpStats {
    let s = node.stats();
    PfcpStats {
        recovery_time_stamp: node.recovery_time_stamp().0,
        peers: node
            .peers()
            .into_iter()
            .map(|p| PeerView {
                addr: p.addr.to_string(),
                node_id: p.node_id.as_ref().map(node_id_text),
                state: match p.state {
                    PeerState::Associating => "associating",
                    PeerState::Associated => "associated",
                    PeerState::Lost => "lost",
                }
                .to_string(),
                recovery_time_stamp: p.recovery_time_stamp.map(|r| r.0),
                last_heard_secs: p
                    .last_heard
                    .map(|t| now.saturating_duration_since(t).as_secs()),
                missed_heartbeats: p.missed_heartbeats,
            })
            .collect(),
        rx: s
            .rx
            .iter()
            .map(|(t, n)| (t.name().to_string(), *n))
            .collect(),
        tx: s
            .tx
            .iter()
            .map(|(t, n)| (t.name().to_string(), *n))
            .collect(),
        responses_by_cause: s
            .responses_by_cause
            .iter()
            .map(|(c, n)| (c.0, *n))
            .collect(),
        dropped: s
            .dropped
            .iter()
            .map(|(r, n)| (r.name().to_string(), *n))
            .collect(),
        retransmissions: s.retransmissions,
        session_reports_unanswered: s.session_reports_unanswered,
        duplicates: s.duplicates,
        ..PfcpStats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_pfcp::ie::{OffendingIe, RecoveryTimeStamp, ReportType};
    use upf_pfcp::message::{AssociationSetupRequest, SessionReportRequest};
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
}
