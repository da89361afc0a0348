//! The control socket's protocol: `upfctl` talks to `upfd` in JSON lines
//! over a Unix socket, one request per line and one response per line.
//!
//! Both sides use these types; the daemon's handler (`upfd::control`)
//! answers them from the session core, and [`call`] is the client. The
//! crate needs no BPF library, so `upfctl` builds on any host.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use upf_abi::SessionCounters;
use upf_session::datapath::FastpathStats;
use upf_session::static_sessions::{SessionInfo, SessionSpec};

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
    /// A success carrying `data`.
    pub fn ok(data: serde_json::Value) -> Self {
        Response {
            ok: true,
            error: None,
            data,
        }
    }
    /// A failure saying why.
    pub fn err(e: impl std::fmt::Display) -> Self {
        Response {
            ok: false,
            error: Some(e.to_string()),
            data: serde_json::Value::Null,
        }
    }
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

    #[test]
    fn requests_round_trip_as_json_lines() {
        // The line as upfctl sends it: the op tag and a [[session]] table's fields.
        let wire = r#"{"op":"install","session":{"id":1,"local_teid":1,"ue_ipv4":"10.45.0.1","peer_ipv4":"10.100.0.2","remote_teid":256,"qfi":5,"generation":"5g"}}"#;
        let r = parse_request(wire).unwrap();
        let Request::Install { session } = &r else {
            panic!("{r:?}")
        };
        assert_eq!(
            (session.id, session.remote_teid, session.qfi),
            (1, 0x100, 5)
        );
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
}
