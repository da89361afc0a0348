//! The Prometheus endpoint: `GET /metrics` in the OpenMetrics text format
//! (which Prometheus reads natively), built at scrape time from what the
//! daemon already keeps: the fast path's counters, the meter's per-POI
//! totals, the QoS guard's view and the PFCP node's counters. A scrape
//! reads the per-CPU counters once; nothing is kept between scrapes.
//!
//! Names are prefixed `mupf_`; counters end in `_total`; rates are in bit/s
//! (`_bps`), volumes in bytes. Labels: `poi`, `direction` (`uplink` /
//! `downlink`), `reason`, `type`, `cause`, `port`.

use std::fmt::Write as _;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::meter::Totals;
use upf_session::datapath::FastpathStats;
use upf_session::qos::control::QosView;

/// Everything one scrape shows, gathered under the daemon's locks.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The fast path's counters (`None`: reading them failed).
    pub fastpath: Option<FastpathStats>,
    /// PFCP sessions installed (static ones included).
    pub sessions: u64,
    /// Per POI: name, totals (uplink, downlink), sessions.
    pub pois: Vec<(String, [Totals; 2], u32)>,
    /// The QoS guard.
    pub qos: QosView,
    /// The PFCP node, when PFCP is on.
    pub pfcp: Option<PfcpSnapshot>,
}

/// The PFCP node's counters, by name.
#[derive(Clone, Debug, Default)]
pub struct PfcpSnapshot {
    /// Messages received, by message type name.
    pub rx: Vec<(String, u64)>,
    /// Messages sent, by message type name.
    pub tx: Vec<(String, u64)>,
    /// Responses we built, by cause name.
    pub responses_by_cause: Vec<(String, u64)>,
    /// Messages dropped, by reason.
    pub dropped: Vec<(String, u64)>,
    /// Peers by state name.
    pub peers_by_state: Vec<(String, u64)>,
    /// Retransmissions of our requests.
    pub retransmissions: u64,
    /// Session Report Requests given up after N1 retransmissions.
    pub session_reports_unanswered: u64,
}

/// A name as a conventional label value: "Session Establishment Request"
/// becomes "session_establishment_request".
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

impl From<&upf_control::PfcpStats> for PfcpSnapshot {
    fn from(p: &upf_control::PfcpStats) -> Self {
        let named = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter().map(|(k, v)| (snake(k), *v)).collect::<Vec<_>>()
        };
        let mut states = std::collections::BTreeMap::<String, u64>::new();
        for peer in &p.peers {
            *states.entry(peer.state.clone()).or_default() += 1;
        }
        PfcpSnapshot {
            rx: named(&p.rx),
            tx: named(&p.tx),
            responses_by_cause: p
                .responses_by_cause
                .iter()
                .map(|(c, v)| (snake(upf_pfcp::Cause(*c).name()), *v))
                .collect(),
            dropped: named(&p.dropped),
            peers_by_state: states.into_iter().collect(),
            retransmissions: p.retransmissions,
            session_reports_unanswered: p.session_reports_unanswered,
        }
    }
}

type Labels = Vec<(String, String)>;

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const DIRS: [&str; 2] = ["uplink", "downlink"];

fn counter_family(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauge_family(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

fn set(g: &Family<Labels, Gauge>, l: &[(&str, &str)], v: u64) {
    g.get_or_create(&labels(l))
        .set(v.min(i64::MAX as u64) as i64);
}

fn count(c: &Family<Labels, Counter>, l: &[(&str, &str)], v: u64) {
    c.get_or_create(&labels(l)).inc_by(v);
}

/// The exposition text of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut reg = Registry::with_prefix("mupf");

    let sessions = Gauge::<i64>::default();
    sessions.set(s.sessions as i64);
    reg.register("sessions", "PFCP sessions installed", sessions);

    let poi_bytes = counter_family(
        &mut reg,
        "poi_bytes",
        "Inner IP bytes forwarded per POI and direction, since the daemon started",
    );
    let poi_packets = counter_family(
        &mut reg,
        "poi_packets",
        "Packets forwarded per POI and direction, since the daemon started",
    );
    let poi_rate = gauge_family(
        &mut reg,
        "poi_rate_bps",
        "Traffic of the last second metered, per POI and direction, bit/s",
    );
    let poi_sessions = gauge_family(&mut reg, "poi_sessions", "Sessions per POI");
    for (name, t, n) in &s.pois {
        for (d, dir) in DIRS.iter().enumerate() {
            let l = [("poi", name.as_str()), ("direction", *dir)];
            count(&poi_bytes, &l, t[d].bytes);
            count(&poi_packets, &l, t[d].packets);
            set(&poi_rate, &l, t[d].last_second_bytes * 8);
        }
        set(&poi_sessions, &[("poi", name.as_str())], u64::from(*n));
    }

    let capacity = gauge_family(
        &mut reg,
        "poi_capacity_bps",
        "Contracted POI capacity per direction, bit/s",
    );
    let demand = gauge_family(
        &mut reg,
        "poi_demand_bps",
        "Traffic offered at the POI (forwarded and dropped) per direction, bit/s",
    );
    let capped = gauge_family(
        &mut reg,
        "poi_sessions_capped",
        "Sessions under a fair-share cap (the POI is congested when above 0)",
    );
    let congested = gauge_family(
        &mut reg,
        "poi_congested",
        "1 while a congestion episode is ongoing on the POI and direction",
    );
    let poi_drops = counter_family(
        &mut reg,
        "poi_capacity_dropped_packets",
        "Packets dropped by the POI's capacity meter",
    );
    let episodes = counter_family(
        &mut reg,
        "congestion_episodes",
        "Congestion episodes started (the last 100 are kept)",
    );
    for p in &s.qos.pois {
        for (d, dir) in DIRS.iter().enumerate() {
            let l = [("poi", p.name.as_str()), ("direction", *dir)];
            set(&capacity, &l, p.capacity_bps[d]);
            set(&demand, &l, p.demand_bps[d]);
            set(&capped, &l, p.sessions_capped[d] as u64);
            count(&poi_drops, &l, p.dropped_packets[d]);
            let eps = s
                .qos
                .episodes
                .iter()
                .filter(|e| e.poi == p.name && e.direction == *dir);
            let ongoing = eps.clone().any(|e| e.end_unix.is_none());
            set(&congested, &l, u64::from(ongoing));
            count(&episodes, &l, eps.count() as u64);
        }
    }

    if let Some(f) = &s.fastpath {
        let events = counter_family(
            &mut reg,
            "fastpath_events",
            "Fast-path counters by name (frames, forwarded packets and bytes, echo, ...)",
        );
        for (name, v) in &f.counters {
            count(&events, &[("counter", name)], *v);
        }
        let drops = counter_family(
            &mut reg,
            "fastpath_drops",
            "Packets the fast path dropped, by reason",
        );
        for (reason, v) in &f.drops {
            count(&drops, &[("reason", reason)], *v);
        }
        let port = counter_family(
            &mut reg,
            "port_frames",
            "Frames per port: received, and what became of them (redirected, tx, passed, dropped)",
        );
        let port_bytes = counter_family(&mut reg, "port_rx_bytes", "Bytes received per port");
        for p in &f.ports {
            for (what, v) in [
                ("rx", p.rx_packets),
                ("redirected", p.redirected),
                ("tx", p.tx),
                ("passed", p.passed),
                ("dropped", p.dropped),
            ] {
                count(&port, &[("port", p.name.as_str()), ("frames", what)], v);
            }
            count(&port_bytes, &[("port", p.name.as_str())], p.rx_bytes);
        }
    }

    if let Some(p) = &s.pfcp {
        let rx = counter_family(
            &mut reg,
            "pfcp_rx_messages",
            "PFCP messages received, by type",
        );
        for (t, v) in &p.rx {
            count(&rx, &[("type", t)], *v);
        }
        let tx = counter_family(&mut reg, "pfcp_tx_messages", "PFCP messages sent, by type");
        for (t, v) in &p.tx {
            count(&tx, &[("type", t)], *v);
        }
        let causes = counter_family(
            &mut reg,
            "pfcp_responses",
            "PFCP responses we sent, by cause",
        );
        for (c, v) in &p.responses_by_cause {
            count(&causes, &[("cause", c)], *v);
        }
        let dropped = counter_family(
            &mut reg,
            "pfcp_dropped_messages",
            "PFCP messages dropped, by reason",
        );
        for (r, v) in &p.dropped {
            count(&dropped, &[("reason", r)], *v);
        }
        let peers = gauge_family(&mut reg, "pfcp_peers", "PFCP peers, by state");
        for (st, v) in &p.peers_by_state {
            set(&peers, &[("state", st)], *v);
        }
        let retx = Counter::<u64>::default();
        retx.inc_by(p.retransmissions);
        reg.register(
            "pfcp_retransmissions",
            "Retransmissions of our PFCP requests",
            retx,
        );
        let unanswered = Counter::<u64>::default();
        unanswered.inc_by(p.session_reports_unanswered);
        reg.register(
            "pfcp_session_reports_unanswered",
            "Session Report Requests given up after N1 retransmissions",
            unanswered,
        );
    }

    let mut out = String::new();
    if encode(&mut out, &reg).is_err() {
        out.clear();
        let _ = writeln!(out, "# encoding the metrics failed");
    }
    out
}

/// The HTTP response to one request's first line: `/metrics` gets the
/// text, anything else a 404. (The endpoint reads nothing but the request line.)
pub fn respond(request_line: &str, body: impl FnOnce() -> String) -> String {
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_session::datapath::PortStats;
    use upf_session::qos::control::{Episode, PoiView};

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l[series.len()..].trim().parse().ok())
    }

    fn full_snapshot() -> Snapshot {
        Snapshot {
            fastpath: Some(FastpathStats {
                counters: vec![("uplink_forwarded".into(), 42)],
                drops: vec![("no_session".into(), 3)],
                ports: vec![PortStats {
                    name: "n3".into(),
                    ..Default::default()
                }],
                per_cpu: vec![],
            }),
            sessions: 7,
            pois: vec![(
                "docomo".into(),
                [
                    Totals {
                        bytes: 1000,
                        packets: 10,
                        last_second_bytes: 125,
                    },
                    Totals::default(),
                ],
                5,
            )],
            qos: QosView {
                pois: vec![PoiView {
                    name: "docomo".into(),
                    capacity_bps: [100, 200],
                    demand_bps: [50, 250],
                    sessions_capped: [0, 4],
                    ..Default::default()
                }],
                sessions: vec![],
                episodes: vec![Episode {
                    poi: "docomo".into(),
                    direction: "downlink".into(),
                    start_unix: 1,
                    end_unix: None,
                    peak_demand_bps: 250,
                    peak_sessions_capped: 4,
                    capacity_bps: 200,
                }],
            },
            pfcp: Some(PfcpSnapshot {
                rx: vec![("session_establishment_request".into(), 9)],
                responses_by_cause: vec![("mandatory_ie_missing".into(), 2)],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn every_family_with_its_labels() {
        let t = render(&full_snapshot());
        let v = |series: &str| value(&t, series).unwrap_or_else(|| panic!("{series} in\n{t}"));
        assert_eq!(v("mupf_sessions"), 7.0);
        assert_eq!(
            v("mupf_poi_bytes_total{poi=\"docomo\",direction=\"uplink\"}"),
            1000.0
        );
        assert_eq!(
            v("mupf_poi_rate_bps{poi=\"docomo\",direction=\"uplink\"}"),
            1000.0
        );
        assert_eq!(v("mupf_poi_sessions{poi=\"docomo\"}"), 5.0);
        assert_eq!(
            v("mupf_poi_congested{poi=\"docomo\",direction=\"downlink\"}"),
            1.0
        );
        assert_eq!(
            v("mupf_poi_congested{poi=\"docomo\",direction=\"uplink\"}"),
            0.0
        );
        assert_eq!(
            v("mupf_poi_sessions_capped{poi=\"docomo\",direction=\"downlink\"}"),
            4.0
        );
        assert_eq!(v("mupf_fastpath_drops_total{reason=\"no_session\"}"), 3.0);
        assert_eq!(
            v("mupf_pfcp_rx_messages_total{type=\"session_establishment_request\"}"),
            9.0
        );
        assert_eq!(
            v("mupf_pfcp_responses_total{cause=\"mandatory_ie_missing\"}"),
            2.0
        );
        assert!(t.contains("# TYPE mupf_poi_bytes counter"), "{t}");
        assert!(t.ends_with("# EOF\n"));
    }

    #[test]
    fn the_shipped_grafana_dashboard_queries_only_metrics_we_export() {
        let dash = include_str!("../../../configs/grafana-dashboard.json");
        let v: serde_json::Value = serde_json::from_str(dash).expect("dashboard JSON");
        let mut exprs = Vec::new();
        for p in v["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                exprs.push(t["expr"].as_str().unwrap().to_string());
            }
        }
        assert!(exprs.len() >= 8);
        let text = render(&full_snapshot());
        for e in &exprs {
            let mut rest = e.as_str();
            while let Some(i) = rest.find("mupf_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    text.lines().any(|l| l.starts_with(&format!("{name} "))
                        || l.starts_with(&format!("{name}{{"))),
                    "{name} (in {e}) is not exported"
                );
                rest = &rest[i + name.len()..];
            }
        }
    }

    #[test]
    fn label_values_are_snake_case() {
        assert_eq!(
            snake("Session Establishment Request"),
            "session_establishment_request"
        );
        assert_eq!(snake("Mandatory IE missing"), "mandatory_ie_missing");
        assert_eq!(snake("PFD Management Request "), "pfd_management_request");
    }

    #[test]
    fn only_get_metrics_is_served() {
        let ok = respond("GET /metrics HTTP/1.1", || "x 1\n".into());
        assert!(
            ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nx 1\n"),
            "{ok}"
        );
        assert!(ok.contains("Content-Length: 4\r\n"));
        assert!(respond("GET / HTTP/1.1", String::new).starts_with("HTTP/1.1 404"));
        assert!(respond("POST /metrics HTTP/1.1", String::new).starts_with("HTTP/1.1 405"));
        assert!(respond("", String::new).starts_with("HTTP/1.1 405"));
    }
}
