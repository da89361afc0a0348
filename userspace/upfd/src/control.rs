//! The control socket's handler: each `upfctl` request ([`upf_control`],
//! the protocol both sides share) answered from the session core; the
//! daemon's shell only moves the lines.

use std::collections::BTreeMap;

use std::time::Instant;

use serde::Serialize;
use upf_control::{
    InUse, PeerView, PfcpStats, Request, Response, SessionCountersView, SessionStats, Stats,
};
use upf_pfcp::node::{Node, PeerState};

use upf_session::datapath::Datapath;
use upf_session::manager::SessionManager;

/// A session with its rules and per-PDR counters ([`Request::Sessions`]).
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    /// Our SEID.
    pub up_seid: u64,
    /// The CP function's SEID (a static session's id).
    pub cp_seid: u64,
    /// The peer that owns it ("static" for static sessions).
    pub peer: String,
    /// Local TEIDs in use.
    pub teids: Vec<u32>,
    /// UE addresses in use.
    pub ue_addresses: Vec<std::net::Ipv4Addr>,
    /// The rules.
    pub rules: upf_session::rules::Rules,
    /// Counters per PDR ID (a PDR counts its own direction).
    pub counters: BTreeMap<u16, SessionCountersView>,
}

impl SessionView {
    fn of<D: Datapath>(m: &SessionManager<D>, s: &upf_session::sessions::Session) -> SessionView {
        let counters = s
            .rules
            .pdrs
            .values()
            .map(|p| {
                let c = m.sessions().pdr_counters(p);
                let v = match p.direction {
                    upf_session::rules::Direction::Uplink => SessionCountersView {
                        ul_packets: c.ul_packets,
                        ul_bytes: c.ul_bytes,
                        ..Default::default()
                    },
                    upf_session::rules::Direction::Downlink => SessionCountersView {
                        dl_packets: c.dl_packets,
                        dl_bytes: c.dl_bytes,
                        ..Default::default()
                    },
                };
                (p.id, v)
            })
            .collect();
        SessionView {
            up_seid: s.up_seid,
            cp_seid: s.cp_seid,
            peer: s.peer.clone(),
            teids: s.teids().collect(),
            ue_addresses: s.ue_addresses().collect(),
            rules: s.rules.clone(),
            counters,
        }
    }
}

/// The node's state for `upfctl stats` (sessions and pools are added by
/// the control handler).
pub fn pfcp_stats(node: &Node, now: Instant) -> PfcpStats {
    let s = node.stats();
    PfcpStats {
        recovery_time_stamp: node.recovery_time_stamp().0,
        peers: node
            .peers()
            .into_iter()
            .map(|p| PeerView {
                addr: p.addr.to_string(),
                node_id: p.node_id.as_ref().map(upf_session::n4::node_id_text),
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

fn session_stats<D: Datapath>(m: &SessionManager<D>) -> Vec<SessionStats> {
    m.list()
        .map(|info| {
            let counters = m.counters(info.spec.id).unwrap_or_default().into();
            SessionStats { info, counters }
        })
        .collect()
}

/// Carries out one request on the session manager; `pfcp` is the node's
/// state for [`Request::Stats`] (sessions and pool use are filled in here).
/// What the request leaves to do (End Markers, new peers) is queued in the
/// manager ([`SessionManager::take_effects`]), as for PFCP requests.
pub fn handle<D: Datapath>(
    m: &mut SessionManager<D>,
    req: Request,
    pfcp: Option<PfcpStats>,
) -> Response {
    match req {
        Request::Install { session } => match m.install(session) {
            Ok(()) => Response::ok(serde_json::Value::Null),
            Err(e) => Response::err(e),
        },
        Request::Update { session } => match m.update(session) {
            Ok(_) => Response::ok(serde_json::Value::Null),
            Err(e) => Response::err(e),
        },
        Request::Remove { id } => match m.remove(id) {
            Ok((_, last)) => Response::ok(serde_json::json!(SessionCountersView::from(last))),
            Err(e) => Response::err(e),
        },
        Request::List => Response::ok(serde_json::json!(session_stats(m))),
        Request::Sessions { seid: Some(seid) } => match m.sessions().get(seid) {
            Some(s) => Response::ok(serde_json::json!(SessionView::of(m, s))),
            None => Response::err(format!("no session with SEID {seid} ({seid:#x})")),
        },
        Request::Sessions { seid: None } => {
            let all: Vec<SessionView> = m
                .sessions()
                .sessions()
                .values()
                .map(|s| SessionView::of(m, s))
                .collect();
            Response::ok(serde_json::json!(all))
        }
        Request::Qos => Response::ok(serde_json::json!(m.qos_view())),
        Request::Stats => match m.datapath().fastpath_stats() {
            Ok(fastpath) => Response::ok(serde_json::json!(Stats {
                capacity: m.datapath().capacity().sessions,
                fastpath,
                sessions: session_stats(m),
                pfcp: pfcp.map(|mut p| {
                    let (teids, ue_addresses, counter_slots, rule_sets) = m.sessions().in_use();
                    p.sessions = m.sessions().sessions().len();
                    p.in_use = InUse {
                        teids,
                        ue_addresses,
                        counter_slots,
                        rule_sets,
                    };
                    p
                }),
            })),
            Err(e) => Response::err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_session::datapath::fake::FakeDatapath;
    use upf_session::static_sessions::{Generation, SessionSpec};

    fn manager() -> SessionManager<FakeDatapath> {
        SessionManager::new(FakeDatapath::new(4), "10.100.0.1".parse().unwrap())
    }

    fn spec(id: u64) -> SessionSpec {
        SessionSpec {
            id,
            local_teid: id as u32,
            ue_ipv4: format!("10.45.0.{id}").parse().unwrap(),
            peer_ipv4: "10.100.0.2".parse().unwrap(),
            remote_teid: 0x100,
            qfi: 5,
            generation: Generation::Nr,
        }
    }

    #[test]
    fn install_update_remove_through_the_handler() {
        let mut m = manager();
        let r = handle(&mut m, Request::Install { session: spec(1) }, None);
        assert!(r.ok, "{r:?}");
        assert_eq!(
            m.take_effects().new_peers,
            vec!["10.100.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        let r = handle(&mut m, Request::Install { session: spec(2) }, None);
        assert!(
            r.ok && m.take_effects().new_peers.is_empty(),
            "a known peer is not probed again"
        );
        let r = handle(&mut m, Request::Install { session: spec(1) }, None);
        assert!(!r.ok && r.error.unwrap().contains("already exists"));
        let mut moved = spec(1);
        moved.remote_teid = 0x555;
        let r = handle(&mut m, Request::Update { session: moved }, None);
        assert!(r.ok);
        let fx = m.take_effects();
        assert_eq!(
            fx.end_markers
                .iter()
                .map(|t| (t.ipv4, t.teid))
                .collect::<Vec<_>>(),
            vec![("10.100.0.2".parse().unwrap(), 0x100)]
        );
        let r = handle(&mut m, Request::Stats, None);
        let stats: Stats = serde_json::from_value(r.data).unwrap();
        assert_eq!(stats.sessions.len(), 2);
        assert_eq!(stats.capacity, 4);
        let r = handle(&mut m, Request::Remove { id: 1 }, None);
        assert!(r.ok);
        let r = handle(&mut m, Request::Remove { id: 1 }, None);
        assert!(!r.ok && r.error.unwrap().contains("does not exist"));
    }
}
