//! `[pfcp]`: the N4/Sx side of the configuration.
//!
//! ```toml
//! [pfcp]
//! address = "10.0.0.1"            # N4 address to listen on (UDP 8805)
//! node_id = "upf1.mvno.example"   # FQDN or IP; default: the address
//! state_dir = "/var/lib/mvno-upf" # keeps the Recovery Time Stamp across restarts
//! heartbeat_interval_secs = 10
//! heartbeat_retries = 3
//! t1_ms = 3000                    # retransmission timer of our requests
//! n1 = 3                          # retransmissions before giving up
//! response_cache_secs = 60        # duplicate requests answered from the cache this long
//! on_peer_loss = "keep"           # or "delete": what happens to a lost peer's sessions
//! usage_poll_ms = 1000            # URR triggers (thresholds, quotas, periods) checked this often
//! teid_first = 0x00100000         # local TEIDs handed out for F-TEID CHOOSE
//! teid_last = 0x7fffffff
//! ue_pools = ["10.45.0.0/16"]     # UE addresses handed out for UE IP CHOOSE
//! rate_limit_per_peer = 100000    # requests/s accepted per peer address (0: no limit)
//! rate_limit_burst = 20000        # back to back after a quiet time
//! [[pfcp.peer]]
//! prefix = "10.0.0.2/32"          # SMF / PGW-C addresses accepted
//! initiate = false                # true: we set the association up toward it
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::Deserialize;

use std::time::Duration;

use upf_pfcp::node::{NodeConfig, PeerConfig, PeerLossPolicy, RateLimit};
use upf_session::sessions::SessionsConfig;
use upf_session::types::Ipv4Net;

/// `[pfcp]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PfcpConfig {
    /// N4 address to bind (port [`PfcpConfig::port`]).
    pub address: Ipv4Addr,
    /// UDP port (8805).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Our Node ID: an FQDN or an IP address; default: `address`.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Where the Recovery Time Stamp is kept.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Seconds between Heartbeat Requests to each associated peer.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval_secs: u64,
    /// Heartbeat Requests left unanswered before the peer counts as lost.
    #[serde(default = "default_n1")]
    pub heartbeat_retries: u32,
    /// Retransmission timer of the requests we send, milliseconds.
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// Retransmissions of a request before giving up.
    #[serde(default = "default_n1")]
    pub n1: u32,
    /// Seconds an answered request is kept to answer its duplicates.
    #[serde(default = "default_cache")]
    pub response_cache_secs: u64,
    /// What happens to the sessions of a peer lost to heartbeat failure.
    #[serde(default)]
    pub on_peer_loss: OnPeerLoss,
    /// Milliseconds between evaluations of the URRs' reporting triggers
    /// (volume/time thresholds and quotas, periodic reports): a quota is
    /// enforced at most this late.
    #[serde(default = "default_usage_poll")]
    pub usage_poll_ms: u64,
    /// First local TEID handed out for CHOOSE.
    #[serde(default = "default_teid_first")]
    pub teid_first: u32,
    /// Last local TEID handed out for CHOOSE.
    #[serde(default = "default_teid_last")]
    pub teid_last: u32,
    /// UE address pools for CHOOSE.
    #[serde(default)]
    pub ue_pools: Vec<Ipv4Net>,
    /// Requests accepted per second from each peer address; excess ones
    /// are dropped unparsed and counted (`rate_limited`). 0: no limit.
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_peer: u32,
    /// Requests a peer may send back to back after a quiet time.
    #[serde(default = "default_rate_burst")]
    pub rate_limit_burst: u32,
    /// The CP function peers.
    #[serde(rename = "peer", default)]
    pub peers: Vec<PeerEntry>,
}

/// What happens to a lost peer's sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnPeerLoss {
    /// Keep forwarding; the SMF re-associates and takes them over (default).
    #[default]
    Keep,
    /// Delete them.
    Delete,
}

/// `[[pfcp.peer]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Addresses accepted from (a prefix; a plain address is /32).
    pub prefix: Ipv4Net,
    /// Set the association up toward this peer (it must be one address).
    #[serde(default)]
    pub initiate: bool,
}

/// Twice the establishment rate one daemon sustains (docs/benchmarks.md):
/// no legitimate SMF meets it, a flood does.
fn default_rate_limit() -> u32 {
    100_000
}
fn default_rate_burst() -> u32 {
    20_000
}
fn default_port() -> u16 {
    upf_pfcp::PFCP_PORT
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/mvno-upf")
}
fn default_heartbeat_interval() -> u64 {
    10
}
fn default_n1() -> u32 {
    3
}
fn default_t1() -> u64 {
    3000
}
fn default_cache() -> u64 {
    60
}
fn default_usage_poll() -> u64 {
    1000
}
/// `teid_first..=teid_last` when `[pfcp]` leaves them out (or is absent).
pub const DEFAULT_TEID_RANGE: (u32, u32) = (0x0010_0000, 0x7fff_ffff);

fn default_teid_first() -> u32 {
    DEFAULT_TEID_RANGE.0
}
fn default_teid_last() -> u32 {
    DEFAULT_TEID_RANGE.1
}

impl PfcpConfig {
    /// Checks the values; `Err((field, reason))`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, r: &str| Err((format!("pfcp.{f}"), r.to_string()));
        if self.address.is_multicast() || self.address.is_broadcast() {
            return bad(
                "address",
                "must be a unicast address of this host (or 0.0.0.0)",
            );
        }
        if self.heartbeat_interval_secs == 0 {
            return bad("heartbeat_interval_secs", "must be at least 1");
        }
        if self.heartbeat_retries == 0 {
            return bad("heartbeat_retries", "must be at least 1");
        }
        if !(100..=60_000).contains(&self.t1_ms) {
            return bad("t1_ms", "must be in 100..=60000");
        }
        if self.n1 > 10 {
            return bad("n1", "must be in 0..=10");
        }
        if !(50..=60_000).contains(&self.usage_poll_ms) {
            return bad(
                "usage_poll_ms",
                "must be in 50..=60000 (milliseconds between URR trigger checks)",
            );
        }
        if self.rate_limit_per_peer > 0 && self.rate_limit_burst == 0 {
            return bad(
                "rate_limit_burst",
                "must be at least 1 when rate_limit_per_peer is set (0 would drop every request)",
            );
        }
        if self.teid_first == 0 || self.teid_first > self.teid_last {
            return bad("teid_first", "must be non-zero and not above teid_last");
        }
        if self.peers.is_empty() {
            return bad(
                "peer",
                "at least one [[pfcp.peer]] is needed: PFCP from anywhere else is dropped",
            );
        }
        for (i, p) in self.peers.iter().enumerate() {
            if p.initiate && p.prefix.len != 32 {
                return Err((
                    format!("pfcp.peer[{i}].initiate"),
                    "an association can only be set up toward a single address (/32)".into(),
                ));
            }
        }
        if let Some(n) = &self.node_id {
            if n.is_empty() || n.len() > 253 || n.split('.').any(|l| l.is_empty() || l.len() > 63) {
                return bad(
                    "node_id",
                    "must be an IP address or an FQDN (labels of 1..=63 characters)",
                );
            }
        }
        Ok(())
    }

    /// Our Node ID.
    pub fn node_id(&self) -> upf_pfcp::ie::NodeId {
        match &self.node_id {
            None => upf_pfcp::ie::NodeId::Ipv4(self.address),
            Some(n) => match n.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => upf_pfcp::ie::NodeId::Ipv4(a),
                Ok(IpAddr::V6(a)) => upf_pfcp::ie::NodeId::Ipv6(a),
                Err(_) => upf_pfcp::ie::NodeId::Fqdn(n.clone()),
            },
        }
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
    c.up_function_features = upf_session::n4::UP_FUNCTION_FEATURES.to_vec();
    c.heartbeat_interval = Duration::from_secs(p.heartbeat_interval_secs);
    c.heartbeat_retries = p.heartbeat_retries;
    c.t1 = Duration::from_millis(p.t1_ms);
    c.n1 = p.n1;
    c.response_cache_ttl = Duration::from_secs(p.response_cache_secs);
    c.rate_limit = (p.rate_limit_per_peer > 0).then_some(RateLimit {
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
        teid_range: p.map_or(DEFAULT_TEID_RANGE, |p| (p.teid_first, p.teid_last)),
        ue_pools: p.map_or_else(Vec::new, |p| p.ue_pools.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> PfcpConfig {
        toml::from_str(&format!(
            "address = \"10.0.0.1\"\n{extra}\n[[peer]]\nprefix = \"10.0.0.2/32\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn usage_poll_ms_defaults_to_a_second_and_is_checked() {
        let p = parse("");
        assert_eq!(p.usage_poll_ms, 1000);
        assert_eq!(p.check(), Ok(()));
        assert_eq!(parse("usage_poll_ms = 50").check(), Ok(()));
        for bad in [0, 49, 60_001] {
            let (field, reason) = parse(&format!("usage_poll_ms = {bad}"))
                .check()
                .unwrap_err();
            assert_eq!(field, "pfcp.usage_poll_ms", "{bad}");
            assert!(reason.contains("50..=60000"), "{reason}");
        }
    }
}
