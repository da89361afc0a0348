//! The daemon's configuration file (TOML), checked at start; `upfctl`
//! reads the same file for the meter's store and the report's plans.
//!
//! Every error names the field and the reason: syntax and type errors come
//! from the TOML parser with the key and line; the rules below add the
//! semantic checks.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use upf_abi::{MAX_PORTS, ROLE_N3, ROLE_N6};

use upf_session::static_sessions::SessionSpec;

pub mod meter;
pub mod pfcp;

/// XDP attach mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// In the driver (fast; needs driver support; veth needs an XDP program on the peer).
    Native,
    /// On the generic SKB path (works everywhere, slower).
    Generic,
}

impl AttachMode {
    /// The mode's name as in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        }
    }
}

/// Largest session table the loader accepts (kernel memory grows with it: about 200 B per session and map).
pub const MAX_SESSIONS_LIMIT: u32 = 16_000_000;
/// Largest number of PDR counter slots (per-CPU: 32 B per slot and CPU).
pub const MAX_PDRS_LIMIT: u32 = 32_000_000;
/// Largest number of rule sets (356 B each).
pub const MAX_RULE_SETS_LIMIT: u32 = 1_000_000;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Gateway-wide settings.
    pub gateway: Gateway,
    /// The interfaces the fast path is attached to.
    #[serde(rename = "interface")]
    pub interfaces: Vec<Interface>,
    /// PFCP (N4/Sx); without it only static sessions are served.
    #[serde(default)]
    pub pfcp: Option<pfcp::PfcpConfig>,
    /// Rate meters and the control loop (docs/qos.md).
    #[serde(default)]
    pub qos: upf_session::qos::config::QosConfig,
    /// Points of interface with the host network and their capacity.
    #[serde(rename = "poi", default)]
    pub pois: Vec<upf_session::qos::config::PoiConfig>,
    /// MVNO plans sessions activate by name.
    #[serde(rename = "plan", default)]
    pub plans: Vec<upf_session::qos::config::PlanConfig>,
    /// The peak-hour meter and its store.
    #[serde(default)]
    pub meter: meter::MeterConfig,
    /// The Prometheus endpoint (absent: off).
    #[serde(default)]
    pub metrics: Option<meter::MetricsConfig>,
    /// `upfctl report`'s time zone, headroom and charge table.
    #[serde(default)]
    pub report: upf_meter::charges::ReportSettings,
}

/// `[gateway]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Our GTP-U endpoint address on N3 (the address the host network sends tunnels to).
    pub n3_address: Ipv4Addr,
    /// Session table size; the maps are sized for it at load time.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u32,
    /// Counter slots, one per PDR (or per static session): sizes SESSION_COUNTERS.
    /// Absent: 2 × `max_sessions` (an uplink and a downlink PDR each); see [`Gateway::max_pdrs`].
    #[serde(default, rename = "max_pdrs")]
    pub max_pdrs_setting: Option<u32>,
    /// Rule sets (PDRs with SDF filters, up to 8 per session direction): sizes RULES.
    #[serde(default = "default_max_rule_sets")]
    pub max_rule_sets: u32,
    /// native (driver) or generic (SKB) XDP.
    #[serde(default = "default_attach_mode")]
    pub attach_mode: AttachMode,
    /// Unix socket for `upfctl`.
    #[serde(default = "default_control_socket")]
    pub control_socket: PathBuf,
    /// Sessions installed at start (a file of `[[session]]` tables), until PFCP drives the gateway.
    #[serde(default)]
    pub static_sessions: Option<PathBuf>,
    /// Seconds between GTP-U Echo Requests to each peer (TS 29.281 §7.2.1: not more often than 60 s in production); 0 disables.
    #[serde(default = "default_echo_interval")]
    pub echo_interval_secs: u64,
    /// Seconds between statistics lines in the log; 0 disables.
    #[serde(default)]
    pub stats_log_secs: u64,
    /// Spreading of uplink G-PDUs over CPUs (docs/multicore.md).
    #[serde(default)]
    pub spread: SpreadMode,
    /// The CPUs `spread = "teid"` uses; absent: every online CPU.
    #[serde(default)]
    pub spread_cpus: Option<Vec<u32>>,
    /// Resolve next hops in userspace from the kernel's routes and neighbours
    /// and let the fast path read them before `bpf_fib_lookup` (which stays
    /// the fallback). false: every packet takes `bpf_fib_lookup`.
    #[serde(default = "default_true")]
    pub nexthop_cache: bool,
    /// Hitless restart (docs/operations.md): a directory on a bpffs (e.g.
    /// under /sys/fs/bpf; checked at start) where the
    /// session maps and the ports' XDP links are pinned, so that a
    /// restarted daemon re-adopts the running fast path and (with `[pfcp]`)
    /// its sessions from `pfcp.state_dir`. Absent: nothing outlives the
    /// daemon; every start is a full reset with a new Recovery Time Stamp.
    #[serde(default)]
    pub pin_dir: Option<PathBuf>,
    /// What SIGTERM does with a pinned fast path: "keep" (the default with
    /// `pin_dir`) leaves it forwarding for the next daemon; "detach" takes
    /// XDP off the interfaces (the maps and sessions stay for the next start).
    #[serde(default)]
    pub on_exit: Option<OnExit>,
    /// GTP-U accepted only from these host-network peer prefixes (others
    /// are dropped in XDP and counted as `unknown_gtpu_peer`). Absent: the
    /// `[[poi]] peers` prefixes when POIs are configured, else from anyone
    /// (logged at start as a warning). `["0.0.0.0/0"]` accepts anyone on
    /// purpose.
    #[serde(default)]
    pub gtpu_peers: Option<Vec<upf_session::types::Ipv4Net>>,
    /// Uplink anti-spoofing: a G-PDU whose inner source is not its
    /// session's UE address is dropped (`spoofed_source`). false only for
    /// sessions that route whole networks (framed routes).
    #[serde(default = "default_true")]
    pub anti_spoofing: bool,
    /// The UE prefixes this gateway serves and routes whoever assigns the
    /// addresses (the SMF's pools): with `pfcp.ue_pools`, their addresses
    /// get a slot each in the direct downlink table (one memory access per
    /// packet, 64 bytes per address); addresses outside them take the hash
    /// table. At most 16 prefixes with the pools, 4,194,304 addresses.
    #[serde(default)]
    pub ue_prefixes: Vec<upf_session::types::Ipv4Net>,
}

/// `gateway.on_exit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExit {
    /// Leave the fast path forwarding (pinned links).
    Keep,
    /// Detach XDP from the interfaces.
    Detach,
}

impl Gateway {
    /// What SIGTERM does: "keep" only with `pin_dir` (the default then).
    pub fn exit_policy(&self) -> OnExit {
        match (self.on_exit, &self.pin_dir) {
            (Some(p), Some(_)) => p,
            (None, Some(_)) => OnExit::Keep,
            (_, None) => OnExit::Detach,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `gateway.spread`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpreadMode {
    /// Every packet is processed on the CPU that received it (RSS decides).
    #[default]
    Off,
    /// Uplink G-PDUs are processed on a CPU chosen by their TEID.
    Teid,
}

impl Gateway {
    /// The CPUs uplink G-PDUs are spread over; empty when spreading is off.
    /// Checked by [`Config::parse`] (the online list is read again here).
    pub fn spread_cpu_list(&self) -> Vec<u32> {
        match self.spread {
            SpreadMode::Off => Vec::new(),
            SpreadMode::Teid => match &self.spread_cpus {
                Some(l) => l.clone(),
                None => online_cpus().unwrap_or_default(),
            },
        }
    }
}

/// The online CPUs (`/sys/devices/system/cpu/online`, e.g. "0-3,6").
pub fn online_cpus() -> Result<Vec<u32>, String> {
    let f = "/sys/devices/system/cpu/online";
    let text = std::fs::read_to_string(f).map_err(|e| format!("reading {f}: {e}"))?;
    parse_cpu_list(text.trim()).ok_or_else(|| format!("{f}: cannot parse {:?}", text.trim()))
}

fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// `[[interface]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// "n3" (toward the host network), "n6" (toward the data network), or both.
    pub roles: Vec<Role>,
}

/// An interface's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Host network side: GTP-U in and out (N3, S1-U, S5/S8-U, N9).
    N3,
    /// Data network side: plain IP (N6, SGi).
    N6,
}

fn default_max_sessions() -> u32 {
    upf_abi::DEFAULT_MAX_SESSIONS
}
fn default_max_rule_sets() -> u32 {
    upf_abi::DEFAULT_MAX_RULE_SETS
}
fn default_attach_mode() -> AttachMode {
    AttachMode::Native
}
fn default_control_socket() -> PathBuf {
    PathBuf::from("/run/mvno-upf/upfd.sock")
}
fn default_echo_interval() -> u64 {
    60
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Syntax or type error (the message names the key and line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A field has a value that is not allowed.
    #[error("{path}: field {field}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted field name.
        field: String,
        /// Why.
        reason: String,
    },
}

impl Gateway {
    /// Counter slots: `max_pdrs` as configured, else 2 × `max_sessions`.
    pub fn max_pdrs(&self) -> u32 {
        self.max_pdrs_setting
            .unwrap_or_else(|| self.max_sessions.saturating_mul(2).min(MAX_PDRS_LIMIT))
    }
}

impl Interface {
    /// The role bits for the fast path.
    pub fn role_bits(&self) -> u8 {
        self.roles.iter().fold(0, |b, r| {
            b | match r {
                Role::N3 => ROLE_N3,
                Role::N6 => ROLE_N6,
            }
        })
    }
}

impl Config {
    /// The UE prefixes the direct downlink table covers: `gateway.ue_prefixes`
    /// and the `pfcp.ue_pools` no other listed prefix contains, each once.
    pub fn direct_ue_prefixes(&self) -> Vec<upf_session::types::Ipv4Net> {
        let mut all: Vec<upf_session::types::Ipv4Net> = self.gateway.ue_prefixes.clone();
        if let Some(p) = &self.pfcp {
            all.extend(p.ue_pools.iter().copied());
        }
        let mut out: Vec<upf_session::types::Ipv4Net> = Vec::new();
        for (i, n) in all.iter().enumerate() {
            // CIDR prefixes nest or are disjoint: keep the outermost, once.
            let inside_other = all.iter().enumerate().any(|(j, o)| {
                j != i && o.contains(n.addr) && (o.len < n.len || (o.len == n.len && j < i))
            });
            if !inside_other {
                out.push(*n);
            }
        }
        out
    }

    fn check_direct_ues(&self) -> Result<(), (&'static str, String)> {
        let field = "gateway.ue_prefixes";
        let prefixes = self.direct_ue_prefixes();
        if prefixes.len() > upf_abi::MAX_UE_PREFIXES {
            return Err((
                field,
                format!(
                    "{} prefixes with pfcp.ue_pools; at most {}",
                    prefixes.len(),
                    upf_abi::MAX_UE_PREFIXES
                ),
            ));
        }
        let total: u64 = prefixes.iter().map(|n| u64::from(!n.mask()) + 1).sum();
        if total > upf_abi::MAX_DIRECT_UES {
            return Err((
                field,
                format!(
                    "with pfcp.ue_pools they hold {total} addresses; the direct downlink table \
                     takes at most {} (list only the prefixes this gateway serves)",
                    upf_abi::MAX_DIRECT_UES
                ),
            ));
        }
        Ok(())
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        cfg.check(path)?;
        Ok(cfg)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |field: &str, reason: String| {
            Err(ConfigError::Invalid {
                path: path.into(),
                field: field.into(),
                reason,
            })
        };
        let g = &self.gateway;
        if g.n3_address.is_unspecified()
            || g.n3_address.is_multicast()
            || g.n3_address.is_broadcast()
        {
            return bad(
                "gateway.n3_address",
                "must be a unicast address of this host".into(),
            );
        }
        if g.max_sessions == 0 || g.max_sessions > MAX_SESSIONS_LIMIT {
            return bad(
                "gateway.max_sessions",
                format!("must be in 1..={MAX_SESSIONS_LIMIT}"),
            );
        }
        if g.max_pdrs() == 0 || g.max_pdrs() > MAX_PDRS_LIMIT {
            return bad(
                "gateway.max_pdrs",
                format!("must be in 1..={MAX_PDRS_LIMIT}"),
            );
        }
        if g.max_rule_sets == 0 || g.max_rule_sets > MAX_RULE_SETS_LIMIT {
            return bad(
                "gateway.max_rule_sets",
                format!("must be in 1..={MAX_RULE_SETS_LIMIT}"),
            );
        }
        if let Err(reason) = self.check_spread() {
            return bad("gateway.spread_cpus", reason);
        }
        if let Some(p) = &g.gtpu_peers {
            if p.is_empty() {
                return bad(
                    "gateway.gtpu_peers",
                    "empty: list the host network's GTP-U peer prefixes (or [\"0.0.0.0/0\"] to accept anyone), or remove the field".into(),
                );
            }
            if p.len() > upf_abi::MAX_GTPU_PEERS as usize {
                return bad(
                    "gateway.gtpu_peers",
                    format!("{} prefixes; at most {}", p.len(), upf_abi::MAX_GTPU_PEERS),
                );
            }
        }
        if self.pois.len() > upf_abi::MAX_POIS {
            return bad(
                "poi",
                format!(
                    "{} [[poi]] tables; the fast path counts at most {} apart",
                    self.pois.len(),
                    upf_abi::MAX_POIS
                ),
            );
        }
        let poi_prefixes: usize = self.pois.iter().map(|p| p.peers.len()).sum();
        if poi_prefixes > upf_abi::MAX_POI_PREFIXES {
            return bad(
                "poi.peers",
                format!(
                    "{poi_prefixes} peer prefixes over all POIs; at most {}",
                    upf_abi::MAX_POI_PREFIXES
                ),
            );
        }
        if let Err((field, reason)) = self.check_direct_ues() {
            return bad(field, reason);
        }
        if g.on_exit == Some(OnExit::Keep) && g.pin_dir.is_none() {
            return bad(
                "gateway.on_exit",
                "\"keep\" needs gateway.pin_dir (an unpinned fast path cannot outlive the daemon)"
                    .into(),
            );
        }
        if let Some(d) = &g.pin_dir {
            if !d.is_absolute() {
                return bad(
                    "gateway.pin_dir",
                    format!(
                        "{} is not an absolute path (a directory on bpffs, e.g. /sys/fs/bpf/mvno-upf)",
                        d.display()
                    ),
                );
            }
        }
        if self.interfaces.is_empty() || self.interfaces.len() > MAX_PORTS {
            return bad(
                "interface",
                format!("between 1 and {MAX_PORTS} [[interface]] tables are needed"),
            );
        }
        let mut names = HashSet::new();
        for (i, itf) in self.interfaces.iter().enumerate() {
            if itf.name.is_empty() || itf.name.len() > 15 || itf.name.contains('/') {
                return bad(
                    &format!("interface[{i}].name"),
                    "must be a Linux interface name (1..=15 characters)".into(),
                );
            }
            if !names.insert(itf.name.as_str()) {
                return bad(
                    &format!("interface[{i}].name"),
                    format!("{} is listed twice", itf.name),
                );
            }
            if itf.roles.is_empty() {
                return bad(
                    &format!("interface[{i}].roles"),
                    "needs \"n3\", \"n6\" or both".into(),
                );
            }
        }
        let all = self.interfaces.iter().fold(0, |b, i| b | i.role_bits());
        if all & ROLE_N3 == 0 {
            return bad("interface", "no interface has the n3 role".into());
        }
        if all & ROLE_N6 == 0 {
            return bad("interface", "no interface has the n6 role".into());
        }
        if let Some(p) = &self.pfcp {
            if let Err((field, reason)) = p.check() {
                return bad(&field, reason);
            }
        }
        if let Err((field, reason)) = self.qos_setup() {
            return bad(&field, reason);
        }
        if let Err((field, reason)) = self.meter.check() {
            return bad(&field, reason);
        }
        if let Err(e) = self.report.validate() {
            return bad("report", e.0);
        }
        let charges = match self.charge_table() {
            Ok(t) => t,
            Err(e) => return bad("report.charges", e.0),
        };
        for (i, p) in self.pois.iter().enumerate() {
            if let Err(e) = p.report_plan().validate(&p.name, Some(&charges)) {
                return bad(&format!("poi[{i}]"), e.0);
            }
        }
        Ok(())
    }

    /// The charge table: `report.charges` when set, else the shipped one.
    pub fn charge_table(
        &self,
    ) -> Result<upf_meter::charges::ChargeTable, upf_meter::charges::ConfigError> {
        match &self.report.charges {
            Some(p) => upf_meter::charges::ChargeTable::load(p),
            None => Ok(upf_meter::charges::ChargeTable::shipped()),
        }
    }

    /// The QoS sections, checked and built (see [`upf_session::qos::config::build`]).
    pub fn qos_setup(&self) -> Result<upf_session::qos::config::QosSetup, (String, String)> {
        upf_session::qos::config::build(&self.qos, &self.pois, &self.plans, &self.report.timezone)
    }
}

impl Config {
    fn check_spread(&self) -> Result<(), String> {
        let g = &self.gateway;
        if g.spread == SpreadMode::Off {
            if g.spread_cpus.is_some() {
                return Err("set, but gateway.spread is \"off\"".into());
            }
            return Ok(());
        }
        let online = online_cpus()?;
        let list = g.spread_cpus.clone().unwrap_or_else(|| online.clone());
        if list.is_empty() {
            return Err("needs at least one CPU".into());
        }
        if list.len() > upf_abi::MAX_SPREAD_CPUS {
            return Err(format!(
                "{} CPUs; at most {} are supported",
                list.len(),
                upf_abi::MAX_SPREAD_CPUS
            ));
        }
        let mut seen = HashSet::new();
        for c in &list {
            if !seen.insert(*c) {
                return Err(format!("CPU {c} is listed twice"));
            }
            if !online.contains(c) {
                return Err(format!("CPU {c} is not online (online: {online:?})"));
            }
        }
        Ok(())
    }
}

/// A file of static sessions: `[[session]]` tables.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsFile {
    /// The sessions.
    #[serde(rename = "session", default)]
    pub sessions: Vec<SessionSpec>,
}

impl SessionsFile {
    /// Reads a sessions file; each session is validated, errors name its index and field.
    pub fn load(path: &Path) -> Result<SessionsFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let f: SessionsFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        for (i, s) in f.sessions.iter().enumerate() {
            if let Err(e) = s.validate() {
                return Err(ConfigError::Invalid {
                    path: path.into(),
                    field: format!("session[{i}]"),
                    reason: e.to_string(),
                });
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [gateway]
        n3_address = "10.100.0.1"
        attach_mode = "generic"
        [[interface]]
        name = "eth1"
        roles = ["n3"]
        [[interface]]
        name = "eth2"
        roles = ["n6"]
    "#;

    fn err(text: &str) -> String {
        Config::parse(text, Path::new("upf.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_shipped_example_configs_parse() {
        for (name, text) in [
            (
                "configs/upf.toml",
                include_str!("../../../configs/upf.toml").to_string(),
            ),
            (
                "configs/lab.toml",
                // A template: the lab fills in the attach mode.
                include_str!("../../../configs/lab.toml").replace("@MODE@", "generic"),
            ),
        ] {
            let c = Config::parse(&text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"));
            c.qos_setup().unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
        let c = Config::parse(
            include_str!("../../../configs/upf.toml"),
            Path::new("upf.toml"),
        )
        .unwrap();
        assert_eq!(c.pois.len(), 1);
        assert_eq!(c.plans[0].name, "3gb");
    }

    #[test]
    fn qos_errors_name_the_field() {
        let e = err(&format!(
            "{GOOD}\n[[poi]]\nname = \"a\"\npeers = [\"10.0.0.0/8\"]\ncapacity_ul_mbps = 0\ncapacity_dl_mbps = 10\n"
        ));
        assert!(e.contains("field poi[0].capacity_ul_mbps"), "{e}");
        let e = err(&format!("{GOOD}\n[qos]\nmax_meters = 0\n"));
        assert!(e.contains("field qos.max_meters"), "{e}");
    }

    #[test]
    fn good_config_has_defaults() {
        let c = Config::parse(GOOD, Path::new("upf.toml")).unwrap();
        assert_eq!(c.gateway.max_sessions, 100_000);
        assert_eq!(c.gateway.max_pdrs(), 200_000);
        assert_eq!(c.gateway.max_rule_sets, 16_384);
        let c = Config::parse(
            &GOOD.replace(
                "[gateway]",
                "[gateway]\nmax_sessions = 10\nmax_pdrs = 7\nmax_rule_sets = 3",
            ),
            Path::new("upf.toml"),
        )
        .unwrap();
        assert_eq!((c.gateway.max_pdrs(), c.gateway.max_rule_sets), (7, 3));
        assert_eq!(c.gateway.attach_mode, AttachMode::Generic);
        assert_eq!(c.interfaces[0].role_bits(), ROLE_N3);
        assert_eq!(c.gateway.echo_interval_secs, 60);
    }

    const PFCP: &str = r#"
        [pfcp]
        address = "10.0.0.1"
        ue_pools = ["10.45.0.0/16"]
        [[pfcp.peer]]
        prefix = "10.0.0.2/32"
        initiate = true
    "#;

    #[test]
    fn pfcp_section_has_defaults_and_named_errors() {
        let c = Config::parse(&format!("{GOOD}{PFCP}"), Path::new("upf.toml")).unwrap();
        let p = c.pfcp.unwrap();
        assert_eq!(
            (p.port, p.heartbeat_interval_secs, p.t1_ms, p.n1),
            (8805, 10, 3000, 3)
        );
        assert_eq!(
            p.node_id(),
            upf_pfcp::ie::NodeId::Ipv4("10.0.0.1".parse().unwrap())
        );
        assert_eq!(p.ue_pools[0].to_string(), "10.45.0.0/16");
        let cases = [
            (
                "ue_pools = [\"10.45.0.0/16\"]",
                "ue_pools = [\"10.45.0.1/16\"]",
                "host bits",
            ),
            (
                "prefix = \"10.0.0.2/32\"",
                "prefix = \"10.0.0.0/24\"",
                "pfcp.peer[0].initiate",
            ),
            (
                "address = \"10.0.0.1\"",
                "address = \"10.0.0.1\"\nt1_ms = 5",
                "pfcp.t1_ms",
            ),
            (
                "address = \"10.0.0.1\"",
                "address = \"10.0.0.1\"\nteid_first = 0",
                "pfcp.teid_first",
            ),
            (
                "address = \"10.0.0.1\"",
                "address = \"10.0.0.1\"\non_peer_loss = \"forget\"",
                "on_peer_loss",
            ),
            (
                "address = \"10.0.0.1\"",
                "address = \"10.0.0.1\"\nnode_id = \"a..b\"",
                "pfcp.node_id",
            ),
            (
                "address = \"10.0.0.1\"",
                "address = \"10.0.0.1\"\nbogus = 1",
                "bogus",
            ),
        ];
        for (from, to, want) in cases {
            let e = err(&format!("{GOOD}{}", PFCP.replace(from, to)));
            assert!(e.contains(want), "{to}: {e}");
        }
        let no_peers = PFCP.split("[[pfcp.peer]]").next().unwrap();
        assert!(err(&format!("{GOOD}{no_peers}")).contains("pfcp.peer"));
    }

    #[test]
    fn pinning_is_off_by_default_and_checked() {
        let c = Config::parse(GOOD, Path::new("t.toml")).unwrap();
        assert_eq!(c.gateway.pin_dir, None);
        assert_eq!(c.gateway.exit_policy(), OnExit::Detach);
        let pinned = GOOD.replace("[gateway]", "[gateway]\npin_dir = \"/sys/fs/bpf/mvno-upf\"");
        let c = Config::parse(&pinned, Path::new("t.toml")).unwrap();
        assert_eq!(c.gateway.exit_policy(), OnExit::Keep);
        let c = Config::parse(
            &pinned.replace("[gateway]", "[gateway]\non_exit = \"detach\""),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.gateway.exit_policy(), OnExit::Detach);
        for (text, why) in [
            ("on_exit = \"keep\"", "needs gateway.pin_dir"),
            ("pin_dir = \"pins\"", "not an absolute path"),
        ] {
            let e = Config::parse(
                &GOOD.replace("[gateway]", &format!("[gateway]\n{text}")),
                Path::new("t.toml"),
            )
            .unwrap_err()
            .to_string();
            let field = text.split(' ').next().unwrap();
            assert!(
                e.contains(&format!("gateway.{field}")) && e.contains(why),
                "{e}"
            );
        }
    }

    #[test]
    fn spread_is_off_by_default_and_checked() {
        let c = Config::parse(GOOD, Path::new("t.toml")).unwrap();
        assert_eq!(c.gateway.spread, SpreadMode::Off);
        assert!(c.gateway.spread_cpu_list().is_empty());
        let c = Config::parse(
            &GOOD.replace(
                "[gateway]",
                "[gateway]\nspread = \"teid\"\nspread_cpus = [0]",
            ),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.gateway.spread_cpu_list(), vec![0]);
        let c = Config::parse(
            &GOOD.replace("[gateway]", "[gateway]\nspread = \"teid\""),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.gateway.spread_cpu_list(), online_cpus().unwrap());
        assert_eq!(parse_cpu_list("0-3,6"), Some(vec![0, 1, 2, 3, 6]));
        assert_eq!(parse_cpu_list("3-1"), None);
        let err = |t: &str| {
            Config::parse(t, Path::new("t.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nspread = \"rss\""));
        assert!(e.contains("spread") && e.contains("rss"), "{e}");
        for (extra, why) in [
            ("spread_cpus = [0]", "off"),
            ("spread = \"teid\"\nspread_cpus = []", "at least one"),
            ("spread = \"teid\"\nspread_cpus = [0, 0]", "twice"),
            ("spread = \"teid\"\nspread_cpus = [100000]", "not online"),
        ] {
            let e = err(&GOOD.replace("[gateway]", &format!("[gateway]\n{extra}")));
            assert!(e.contains("gateway.spread_cpus") && e.contains(why), "{e}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(&GOOD.replace("10.100.0.1", "10.100.0"));
        assert!(e.contains("n3_address"), "{e}");
        let e = err(&GOOD.replace("\"generic\"", "\"turbo\""));
        assert!(e.contains("attach_mode") && e.contains("turbo"), "{e}");
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nmax_sessions = 0"));
        assert!(e.contains("gateway.max_sessions"), "{e}");
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nmax_pdrs = 0"));
        assert!(e.contains("gateway.max_pdrs"), "{e}");
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nmax_pdrs = 32000001"));
        assert!(e.contains("gateway.max_pdrs"), "{e}");
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nmax_rule_sets = 0"));
        assert!(e.contains("gateway.max_rule_sets"), "{e}");
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nmax_rule_sets = 1000001"));
        assert!(e.contains("gateway.max_rule_sets"), "{e}");
        let e = err(&GOOD.replace("roles = [\"n6\"]", "roles = [\"n3\"]"));
        assert!(e.contains("n6 role"), "{e}");
        let e = err(&GOOD.replace("eth2", "eth1"));
        assert!(
            e.contains("interface[1].name") && e.contains("twice"),
            "{e}"
        );
        let e = err(&GOOD.replace("[gateway]", "[gateway]\nbogus = 1"));
        assert!(e.contains("bogus"), "{e}");
        let e = err(&GOOD.replace("10.100.0.1", "0.0.0.0"));
        assert!(e.contains("gateway.n3_address"), "{e}");
    }
}
