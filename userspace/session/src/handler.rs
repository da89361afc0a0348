//! Session requests in, responses out: the glue between the PFCP node and
//! the session manager. Builds each response with the cause, Offending IE
//! and Failed Rule ID the manager decided, and collects the side effects
//! (End Markers) for the caller.

use std::net::Ipv4Addr;

use upf_pfcp::header::Header;
use upf_pfcp::ie::{Fseid, NodeId, OffendingIe};
use upf_pfcp::message::*;
use upf_pfcp::Cause;

use crate::datapath::Datapath;
use crate::rules::{Reject, Tunnel};
use crate::sessions::Sessions;

/// Our identity in responses.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Our Node ID.
    pub node_id: NodeId,
    /// The address in the UP F-SEIDs we hand out (our N4 address).
    pub f_seid_ipv4: Ipv4Addr,
}

/// Everything a request (PFCP or `upfctl`) leaves for the daemon to do on
/// the host, queued in the manager until
/// [`crate::manager::SessionManager::take_effects`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// A session's downlink tunnel moved: send an End Marker on the old one
    /// (TS 29.281 §7.3.2).
    pub end_markers: Vec<Tunnel>,
    /// A session tunnels to a GTP-U peer not seen before: probe the path
    /// (Echo Request) now.
    pub new_peers: Vec<Ipv4Addr>,
}

impl Effects {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.end_markers.is_empty() && self.new_peers.is_empty()
    }
}

/// Handles one session request from `peer` (its name as the session
/// manager files sessions under). Returns the SEID for the response header,
/// the response, the effects (End Markers; the manager adds new peers) and,
/// for the log, the rejection; `None` for a message that is not a session
/// request we serve (the caller discards it).
pub fn session_request<D: Datapath>(
    sessions: &mut Sessions<D>,
    me: &Identity,
    peer: &str,
    header: &Header,
    msg: Message,
    now_ntp: u32,
) -> Option<(u64, Message, Effects, Option<Reject>)> {
    let mut fx = Effects::default();
    let mut rejected = None;
    let seid = header.seid.unwrap_or(0);
    // The session the header names, if it exists and belongs to this peer.
    let owned = sessions
        .get(seid)
        .filter(|s| s.peer == peer)
        .map(|s| s.cp_seid);
    let not_found = || {
        Reject::cause(
            Cause::SESSION_CONTEXT_NOT_FOUND,
            format!("no session with SEID {seid:#x} for this peer"),
        )
    };
    Some(match msg {
        Message::SessionEstablishmentRequest(req) => {
            let cp_seid = req.cp_f_seid.seid;
            match sessions.establish(peer, &req, now_ntp) {
                Ok(e) => (
                    cp_seid,
                    Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
                        node_id: me.node_id.clone(),
                        cause: Cause::REQUEST_ACCEPTED,
                        offending_ie: None,
                        up_f_seid: Some(Fseid {
                            seid: e.up_seid,
                            ipv4: Some(me.f_seid_ipv4),
                            ipv6: None,
                        }),
                        created_pdr: e.created,
                        load_control_information: None,
                        overload_control_information: None,
                        failed_rule_id: None,
                        unknown: Vec::new(),
                    }),
                    fx,
                    None,
                ),
                Err(r) => {
                    let rsp = SessionEstablishmentResponse {
                        node_id: me.node_id.clone(),
                        cause: r.cause,
                        offending_ie: r.offending_ie.map(OffendingIe),
                        up_f_seid: None,
                        created_pdr: Vec::new(),
                        load_control_information: None,
                        overload_control_information: None,
                        failed_rule_id: r.failed_rule,
                        unknown: Vec::new(),
                    };
                    rejected = Some(r);
                    (
                        cp_seid,
                        Message::SessionEstablishmentResponse(rsp),
                        fx,
                        rejected,
                    )
                }
            }
        }
        Message::SessionModificationRequest(req) => {
            let res = match owned {
                None => Err(not_found()),
                Some(_) => sessions.modify(seid, &req, now_ntp),
            };
            // The CP SEID after the request (it may change it).
            let cp = sessions
                .get(seid)
                .filter(|s| s.peer == peer)
                .map_or(0, |s| s.cp_seid);
            match res {
                Ok(m) => {
                    fx.end_markers = m.end_markers;
                    (
                        cp,
                        Message::SessionModificationResponse(SessionModificationResponse {
                            cause: Cause::REQUEST_ACCEPTED,
                            offending_ie: None,
                            created_pdr: m.created,
                            load_control_information: None,
                            overload_control_information: None,
                            usage_report: m.reports,
                            failed_rule_id: None,
                            unknown: Vec::new(),
                        }),
                        fx,
                        None,
                    )
                }
                Err(r) => {
                    let rsp = SessionModificationResponse {
                        cause: r.cause,
                        offending_ie: r.offending_ie.map(OffendingIe),
                        created_pdr: Vec::new(),
                        load_control_information: None,
                        overload_control_information: None,
                        usage_report: Vec::new(),
                        failed_rule_id: r.failed_rule,
                        unknown: Vec::new(),
                    };
                    rejected = Some(r);
                    (cp, Message::SessionModificationResponse(rsp), fx, rejected)
                }
            }
        }
        Message::SessionDeletionRequest(_) => {
            let res = match owned {
                None => Err(not_found()),
                Some(_) => sessions.delete(seid, now_ntp),
            };
            let cp = owned.unwrap_or(0);
            let (cause, offending, reports) = match res {
                Ok(reports) => (Cause::REQUEST_ACCEPTED, None, reports),
                Err(r) => {
                    let c = (r.cause, r.offending_ie.map(OffendingIe), Vec::new());
                    rejected = Some(r);
                    c
                }
            };
            (
                cp,
                Message::SessionDeletionResponse(SessionDeletionResponse {
                    cause,
                    offending_ie: offending,
                    load_control_information: None,
                    overload_control_information: None,
                    usage_report: reports,
                    unknown: Vec::new(),
                }),
                fx,
                rejected,
            )
        }
        // Other session messages are not requests a CP function sends us
        // (Session Report Request goes the other way): the node drops them.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::fake::FakeDatapath;
    use crate::sessions::SessionsConfig;
    use crate::static_sessions;
    use crate::static_sessions::{Generation, SessionSpec};
    use upf_pfcp::ie::{FailedRuleId, PdrId, RemovePdr, UsageReportTrigger};
    use upf_pfcp::MsgType;

    const N3: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);

    fn setup() -> (Sessions<FakeDatapath>, Identity) {
        let s = Sessions::new(
            FakeDatapath::new(16),
            SessionsConfig {
                qos: Default::default(),
                n3: N3,
                teid_range: (0x1000, 0x1fff),
                ue_pools: Vec::new(),
            },
        );
        let me = Identity {
            node_id: NodeId::Fqdn("upf.test".into()),
            f_seid_ipv4: Ipv4Addr::new(10, 0, 0, 1),
        };
        (s, me)
    }

    fn establishment(cp_seid: u64) -> SessionEstablishmentRequest {
        let spec = SessionSpec {
            id: cp_seid,
            local_teid: 0x100 + cp_seid as u32,
            ue_ipv4: Ipv4Addr::new(10, 45, 0, cp_seid as u8),
            peer_ipv4: Ipv4Addr::new(10, 100, 0, 2),
            remote_teid: 0x9000,
            qfi: 9,
            generation: Generation::Nr,
        };
        static_sessions::establishment(&spec, N3)
    }

    fn hdr(t: MsgType, seid: u64) -> Header {
        Header::session(t, seid, 1)
    }

    #[test]
    fn an_accepted_establishment_carries_our_f_seid() {
        let (mut s, me) = setup();
        let (seid, rsp, fx, rejected) = session_request(
            &mut s,
            &me,
            "smf",
            &hdr(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0),
            Message::SessionEstablishmentRequest(establishment(7)),
            100,
        )
        .unwrap();
        assert_eq!(seid, 7, "the response header carries the CP SEID");
        let Message::SessionEstablishmentResponse(r) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.cause, Cause::REQUEST_ACCEPTED);
        assert_eq!(r.node_id, me.node_id);
        let f = r.up_f_seid.unwrap();
        assert_eq!(f.ipv4, Some(me.f_seid_ipv4));
        assert!(s.get(f.seid).is_some());
        assert_eq!((fx, rejected), (Effects::default(), None));
    }

    #[test]
    fn a_refused_modification_names_the_rule_and_only_the_owner_may_touch_a_session() {
        let (mut s, me) = setup();
        let up = s.establish("smf", &establishment(7), 100).unwrap().up_seid;
        let bad = SessionModificationRequest {
            remove_pdr: vec![RemovePdr { pdr_id: PdrId(99) }],
            ..Default::default()
        };
        let (seid, rsp, _, rejected) = session_request(
            &mut s,
            &me,
            "smf",
            &hdr(MsgType::SESSION_MODIFICATION_REQUEST, up),
            Message::SessionModificationRequest(bad),
            100,
        )
        .unwrap();
        assert_eq!(seid, 7);
        let Message::SessionModificationResponse(r) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.cause, Cause::RULE_CREATION_MODIFICATION_FAILURE);
        assert_eq!(
            r.failed_rule_id,
            Some(FailedRuleId {
                rule_type: FailedRuleId::PDR,
                id: 99
            })
        );
        assert!(rejected.is_some());
        // Another peer naming the same SEID: not found, header SEID 0.
        let (seid, rsp, _, _) = session_request(
            &mut s,
            &me,
            "intruder",
            &hdr(MsgType::SESSION_DELETION_REQUEST, up),
            Message::SessionDeletionRequest(SessionDeletionRequest::default()),
            100,
        )
        .unwrap();
        assert_eq!(seid, 0);
        let Message::SessionDeletionResponse(r) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.cause, Cause::SESSION_CONTEXT_NOT_FOUND);
        assert!(s.get(up).is_some(), "the session survived");
    }

    #[test]
    fn deletion_answers_with_the_final_usage_report() {
        let (mut s, me) = setup();
        let up = s.establish("smf", &establishment(7), 100).unwrap().up_seid;
        let (seid, rsp, _, _) = session_request(
            &mut s,
            &me,
            "smf",
            &hdr(MsgType::SESSION_DELETION_REQUEST, up),
            Message::SessionDeletionRequest(SessionDeletionRequest::default()),
            160,
        )
        .unwrap();
        assert_eq!(seid, 7);
        let Message::SessionDeletionResponse(r) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.cause, Cause::REQUEST_ACCEPTED);
        assert_eq!(r.usage_report.len(), 1);
        assert_eq!(
            r.usage_report[0].usage_report_trigger.0,
            UsageReportTrigger::TERMR
        );
        assert!(s.get(up).is_none());
        // Once more: not found.
        let (_, rsp, _, _) = session_request(
            &mut s,
            &me,
            "smf",
            &hdr(MsgType::SESSION_DELETION_REQUEST, up),
            Message::SessionDeletionRequest(SessionDeletionRequest::default()),
            161,
        )
        .unwrap();
        let Message::SessionDeletionResponse(r) = rsp else {
            panic!("{rsp:?}")
        };
        assert_eq!(r.cause, Cause::SESSION_CONTEXT_NOT_FOUND);
    }

    #[test]
    fn other_messages_are_not_session_requests() {
        let (mut s, me) = setup();
        let r = session_request(
            &mut s,
            &me,
            "smf",
            &hdr(MsgType::SESSION_REPORT_RESPONSE, 1),
            Message::SessionReportResponse(SessionReportResponse {
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: None,
                unknown: Vec::new(),
            }),
            0,
        );
        assert!(r.is_none());
    }
}
