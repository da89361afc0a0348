//! The control socket: `upfctl` talks to the daemon in JSON lines over a Unix socket.
//!
//! One request per line, one response per line. The protocol types and the
//! handler live here; the daemon only moves bytes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use upf_abi::SessionCounters;

use upf_session::datapath::{Datapath, FastpathStats};
use upf_session::manager::SessionManager;
use upf_session::static_sessions::{SessionInfo, SessionSpec, UpdateOutcome};

/// A request from `upfctl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Install a session.
    Install {
        /// The session.
        session: SessionSpec,
    },
    /// Update a session in place.
    Update {
        /// The session (by id).
        session: SessionSpec,
    },
    /// Remove a session.
    Remove {
        /// Session id.
        id: u64,
    },
    /// List the static sessions with their counters.
    List,
    /// Every session (PFCP and static) with its rules and per-PDR
    /// counters, or only the one with our SEID `seid`.
    Sessions {
        /// Our SEID of the one session to show.
        #[serde(default)]
        seid: Option<u64>,
    },
    /// Everything: fast path counters, ports, sessions, PFCP.
    Stats,
    /// QoS per POI and per session: configured rates, current rates, caps, plans.
    Qos,
}

/// The PFCP node's state for [`Request::Stats`], from the daemon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfcpStats {
    /// Our Recovery Time Stamp (NTP seconds).
    pub recovery_time_stamp: u32,
    /// Every configured or associated peer.
    pub peers: Vec<PeerView>,
    /// Messages received, by type name.
    pub rx: BTreeMap<String, u64>,
    /// Messages sent, by type name.
    pub tx: BTreeMap<String, u64>,
    /// Responses sent, by cause value.
    pub responses_by_cause: BTreeMap<u8, u64>,
    /// Messages dropped unanswered, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Retransmissions of our requests.
    pub retransmissions: u64,
    /// Session Report Requests the CP function never answered (after N1
    /// retransmissions); their usage reports are in the log.
    #[serde(default)]
    pub session_reports_unanswered: u64,
    /// Duplicate requests answered from the response cache.
    pub duplicates: u64,
    /// PFCP sessions (static ones included).
    pub sessions: usize,
    /// Resources in use.
    pub in_use: InUse,
}

/// One PFCP peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// Its address.
    pub addr: String,
    /// Its Node ID, once known.
    pub node_id: Option<String>,
    /// associating, associated or lost.
    pub state: String,
    /// Its Recovery Time Stamp, once known.
    pub recovery_time_stamp: Option<u32>,
    /// Seconds since we last heard from it.
    pub last_heard_secs: Option<u64>,
    /// Heartbeats missed in a row.
    pub missed_heartbeats: u32,
}

/// Pool and table use, for leak checks and capacity planning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUse {
    /// Local TEIDs handed out for CHOOSE.
    pub teids: usize,
    /// UE addresses handed out for CHOOSE.
    pub ue_addresses: usize,
    /// Counter slots (one per PDR pair).
    pub counter_slots: usize,
    /// Rule sets.
    pub rule_sets: usize,
}

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

/// A session with its traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    /// The session.
    #[serde(flatten)]
    pub info: SessionInfo,
    /// Its counters, summed over CPUs.
    pub counters: SessionCountersView,
}

/// [`SessionCounters`] with serde.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCountersView {
    /// Uplink packets.
    pub ul_packets: u64,
    /// Uplink inner IP bytes.
    pub ul_bytes: u64,
    /// Downlink packets.
    pub dl_packets: u64,
    /// Downlink inner IP bytes.
    pub dl_bytes: u64,
}

impl From<SessionCounters> for SessionCountersView {
    fn from(c: SessionCounters) -> Self {
        SessionCountersView {
            ul_packets: c.ul_packets,
            ul_bytes: c.ul_bytes,
            dl_packets: c.dl_packets,
            dl_bytes: c.dl_bytes,
        }
    }
}

/// The answer to [`Request::Stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Session table size.
    pub capacity: u32,
    /// The fast path's counters.
    pub fastpath: FastpathStats,
    /// Every static session with its counters.
    pub sessions: Vec<SessionStats>,
    /// The PFCP node, when PFCP is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pfcp: Option<PfcpStats>,
}

/// A response line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// True on success.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The result, when there is one.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    fn ok(data: serde_json::Value) -> Self {
        Response {
            ok: true,
            error: None,
            data,
        }
    }
    fn err(e: impl std::fmt::Display) -> Self {
        Response {
            ok: false,
            error: Some(e.to_string()),
            data: serde_json::Value::Null,
        }
    }
}

/// Side effects the daemon must carry out after a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// A session's downlink tunnel moved: send an End Marker on the old one.
    pub end_markers: Vec<(std::net::Ipv4Addr, u32)>,
    /// A session with a peer not seen before: probe the path (echo) now.
    pub new_peers: Vec<std::net::Ipv4Addr>,
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
pub fn handle<D: Datapath>(
    m: &mut SessionManager<D>,
    req: Request,
    pfcp: Option<PfcpStats>,
) -> (Response, Effects) {
    let mut fx = Effects::default();
    let resp = match req {
        Request::Install { session } => {
            let peer = session.peer_ipv4;
            let known = m.has_peer(peer);
            match m.install(session) {
                Ok(()) => {
                    if !known {
                        fx.new_peers.push(peer);
                    }
                    Response::ok(serde_json::Value::Null)
                }
                Err(e) => Response::err(e),
            }
        }
        Request::Update { session } => {
            let peer = session.peer_ipv4;
            let known = m.has_peer(peer);
            match m.update(session) {
                Ok(UpdateOutcome { old_tunnel }) => {
                    fx.end_markers.extend(old_tunnel);
                    if !known {
                        fx.new_peers.push(peer);
                    }
                    Response::ok(serde_json::Value::Null)
                }
                Err(e) => Response::err(e),
            }
        }
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
    };
    (resp, fx)
}

/// Parses one request line; a malformed line gets an error response.
pub fn parse_request(line: &str) -> Result<Request, Response> {
    serde_json::from_str(line).map_err(|e| Response::err(format!("bad request: {e}")))
}

/// Client side: sends one request and waits for its response.
pub fn call(socket: &Path, req: &Request) -> anyhow::Result<Response> {
    use anyhow::Context as _;
    let mut s = UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to {} (is upfd running? see --socket)",
            socket.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut out = String::new();
    r.read_line(&mut out)
        .context("reading the daemon's response")?;
    serde_json::from_str(&out).with_context(|| format!("bad response from the daemon: {out:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_session::datapath::fake::FakeDatapath;
    use upf_session::static_sessions::Generation;

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
    fn requests_round_trip_as_json_lines() {
        let r = Request::Install { session: spec(1) };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""op":"install""#), "{line}");
        assert!(line.contains(r#""generation":"5g""#), "{line}");
        assert_eq!(parse_request(&line).unwrap(), r);
        assert!(parse_request(r#"{"op":"explode"}"#)
            .unwrap_err()
            .error
            .unwrap()
            .contains("bad request"));
    }

    #[test]
    fn install_update_remove_through_the_handler() {
        let mut m = manager();
        let (r, fx) = handle(&mut m, Request::Install { session: spec(1) }, None);
        assert!(r.ok, "{r:?}");
        assert_eq!(
            fx.new_peers,
            vec!["10.100.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        let (r, fx) = handle(&mut m, Request::Install { session: spec(2) }, None);
        assert!(
            r.ok && fx.new_peers.is_empty(),
            "a known peer is not probed again"
        );
        let (r, _) = handle(&mut m, Request::Install { session: spec(1) }, None);
        assert!(!r.ok && r.error.unwrap().contains("already exists"));
        let mut moved = spec(1);
        moved.remote_teid = 0x555;
        let (r, fx) = handle(&mut m, Request::Update { session: moved }, None);
        assert!(r.ok);
        assert_eq!(fx.end_markers, vec![("10.100.0.2".parse().unwrap(), 0x100)]);
        let (r, _) = handle(&mut m, Request::Stats, None);
        let stats: Stats = serde_json::from_value(r.data).unwrap();
        assert_eq!(stats.sessions.len(), 2);
        assert_eq!(stats.capacity, 4);
        let (r, _) = handle(&mut m, Request::Remove { id: 1 }, None);
        assert!(r.ok);
        let (r, _) = handle(&mut m, Request::Remove { id: 1 }, None);
        assert!(!r.ok && r.error.unwrap().contains("does not exist"));
    }
}
