//! N4 / Sx: the session core as the PFCP node's [`SessionHandler`].
//!
//! The node (`upf_pfcp::node`) checks the association, the header and
//! duplicates, then hands each session message to the
//! [`SessionManager`], which answers it through [`crate::handler`] and
//! queues what the daemon must do on the host (End Markers, echo to new
//! GTP-U peers) as [`Effects`]. There is no other layer between the node
//! and the session core: the daemon's tokio shell owns the socket, and the
//! manager is the handler.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use upf_pfcp::header::Header;
use upf_pfcp::ie::NodeId;
use upf_pfcp::message::{Message, SessionReportResponse};
use upf_pfcp::node::{Node, PeerId, SessionHandler};
use upf_pfcp::Cause;

use crate::datapath::Datapath;
use crate::handler;
use crate::manager::SessionManager;
use crate::sessions::PendingReport;
use crate::types::now_ntp;

/// UP Function Features we advertise (§8.2.25): FTUP (octet 5 bit 5: we
/// allocate F-TEIDs) and EMPU (octet 6 bit 1: we send End Markers).
pub const UP_FUNCTION_FEATURES: [u8; 2] = [0x10, 0x01];

/// The name sessions of a peer are filed under: its Node ID.
pub fn peer_name(p: &PeerId) -> String {
    node_id_text(&p.node_id)
}

/// A Node ID as text (an address or the FQDN).
pub fn node_id_text(n: &NodeId) -> String {
    match n {
        NodeId::Ipv4(a) => a.to_string(),
        NodeId::Ipv6(a) => a.to_string(),
        NodeId::Fqdn(f) => f.clone(),
    }
}

impl<D: Datapath> SessionHandler for SessionManager<D> {
    fn session_request(
        &mut self,
        peer: &PeerId,
        header: &Header,
        msg: Message,
        _now: Instant,
    ) -> (u64, Message) {
        let name = peer_name(peer);
        let kind = msg.message_type();
        let Some(me) = self.identity().cloned() else {
            // The daemon sets the identity before the node runs.
            tracing::error!(peer = %name, request = kind.name(), "session request before the N4 identity was set: rejected");
            return (0, rejected());
        };
        let Some((seid, rsp, fx, rejected_by)) =
            handler::session_request(self.sessions_mut(), &me, &name, header, msg, now_ntp())
        else {
            return (0, rejected());
        };
        if let Some(r) = &rejected_by {
            tracing::info!(peer = %name, request = kind.name(), "rejected: {r}");
        }
        // GTP-U peers of the session the request touched get an Echo
        // Request at once when they are new.
        let touched = header.seid.into_iter().chain(match &rsp {
            Message::SessionEstablishmentResponse(r) => r.up_f_seid.map(|f| f.seid),
            _ => None,
        });
        let touched: Vec<u64> = touched.collect();
        self.queue(fx, &touched);
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
        let up_seid = self.sessions().find(&name, seid);
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
        let n = self.sessions_mut().release_peer(&name, now_ntp());
        tracing::warn!(peer = %name, sessions = n, "PFCP sessions of the peer removed");
    }

    fn cp_seid(&mut self, peer: &PeerId, up_seid: u64) -> Option<u64> {
        let name = peer_name(peer);
        self.sessions()
            .get(up_seid)
            .filter(|s| s.peer == name)
            .map(|s| s.cp_seid)
    }
}

/// The answer to a session message we do not serve.
fn rejected() -> Message {
    Message::SessionReportResponse(SessionReportResponse {
        cause: Cause::REQUEST_REJECTED,
        offending_ie: None,
        unknown: Vec::new(),
    })
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

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod tests;
