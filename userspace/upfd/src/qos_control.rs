//! The QoS control loop's daemon side: POI meters, measured rates, and
//! what `upfctl qos` shows.
//!
//! Every tick (`qos.control_interval_ms`) [`QosControl::tick`] reads each
//! session's meters through the memory-mapped `METERS` table (no syscall),
//! turns the byte counters into rates over the interval, and hands the
//! per-POI demand to the congestion controller, whose fair-share caps it
//! writes back into the session meters. Demand is what reached a session
//! meter: what passed plus what a meter at or after it dropped, so a capped
//! session's demand stays visible.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use serde::Serialize;
use upf_abi::Meter;

use crate::datapath::{Datapath, MeterConfig};
use crate::pfcp::pool::Ipv4Net;
use crate::pfcp::rules::{Direction, MeterKey};
use crate::pfcp::sessions::{QosParams, Sessions};

/// A POI as the control loop knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoiSpec {
    /// Its name.
    pub name: String,
    /// The host network's GTP-U peers behind it.
    pub peers: Vec<Ipv4Net>,
    /// Contracted capacity per direction (uplink, downlink), bit/s.
    pub capacity_bps: [u64; 2],
}

/// The meter index of POI `i` in direction `d` (0 uplink, 1 downlink):
/// POI meters take the first `2 x POIs` indices.
pub fn poi_meter(i: usize, d: usize) -> u32 {
    (2 * i + d) as u32
}

/// Byte counters of a meter at a tick, to difference the next one against.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    pass: u64,
    offered: u64,
}

impl Sample {
    fn of(m: &Meter) -> Sample {
        Sample {
            pass: m.pass_bytes,
            offered: m.pass_bytes.wrapping_add(m.drop_bytes),
        }
    }
}

/// Rates of one meter over the last interval, bit/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rates {
    /// What passed.
    pub rate_bps: u64,
    /// What was offered (passed + dropped at or after the meter).
    pub demand_bps: u64,
}

fn rates(prev: Sample, now: Sample, secs: f64) -> Rates {
    let bps = |a: u64, b: u64| (b.wrapping_sub(a) as f64 * 8.0 / secs) as u64;
    Rates {
        rate_bps: bps(prev.pass, now.pass),
        demand_bps: bps(prev.offered, now.offered),
    }
}

/// The loop's state.
pub struct QosControl {
    pois: Vec<PoiSpec>,
    params: QosParams,
    last: Option<Instant>,
    samples: HashMap<u32, Sample>,
    /// Rates by meter index, from the last tick.
    rates: HashMap<u32, Rates>,
}

impl QosControl {
    /// A loop over `pois` (at most `reserved / 2` of them: see [`poi_meter`]).
    pub fn new(pois: Vec<PoiSpec>, params: QosParams) -> QosControl {
        QosControl {
            pois,
            params,
            last: None,
            samples: HashMap::new(),
            rates: HashMap::new(),
        }
    }

    /// Meters the POIs need (reserve them in `QosParams::reserved_meters`).
    pub fn reserved_meters(n_pois: usize) -> u32 {
        2 * n_pois as u32
    }

    /// Configures the POI meters at their capacity and tells the session
    /// manager which POI a session's peer belongs to.
    pub fn install<D: Datapath>(&self, sessions: &mut Sessions<D>) -> Result<(), String> {
        for (i, p) in self.pois.iter().enumerate() {
            for d in 0..2 {
                let idx = poi_meter(i, d);
                let dp = sessions.datapath_mut();
                let cfg = MeterConfig {
                    rate_bps: p.capacity_bps[d],
                    tau_ns: self.params.tau_ns(p.capacity_bps[d], None),
                    parent: 0,
                };
                dp.reset_meter(idx)
                    .and_then(|_| dp.set_meter(idx, &cfg))
                    .map_err(|e| format!("POI {} meter: {e}", p.name))?;
            }
        }
        let pois: Vec<Vec<Ipv4Net>> = self.pois.iter().map(|p| p.peers.clone()).collect();
        sessions.set_poi_resolver(Box::new(move |peer: Ipv4Addr| {
            let i = poi_of(&pois, peer)?;
            Some([poi_meter(i, 0) + 1, poi_meter(i, 1) + 1])
        }));
        Ok(())
    }

    /// Reads every POI and session meter and updates the rates; returns
    /// the seconds the rates cover (None on the first tick).
    pub fn measure<D: Datapath>(&mut self, sessions: &Sessions<D>, now: Instant) -> Option<f64> {
        let secs = self.last.map(|l| now.duration_since(l).as_secs_f64());
        self.last = Some(now);
        let mut seen = Vec::new();
        let mut read = |idx: u32, this: &mut QosControl| {
            let Ok(m) = sessions.datapath().meter(idx) else {
                return;
            };
            let s = Sample::of(&m);
            if let (Some(secs), Some(prev)) = (secs, this.samples.get(&idx)) {
                if secs > 0.0 {
                    this.rates.insert(idx, rates(*prev, s, secs));
                }
            }
            this.samples.insert(idx, s);
            seen.push(idx);
        };
        for i in 0..self.pois.len() {
            for d in 0..2 {
                read(poi_meter(i, d), self);
            }
        }
        for s in sessions.sessions().values() {
            for m in s.meters.values() {
                read(m.index, self);
            }
        }
        // Meters given back since: forget them (a reused index starts over).
        seen.sort_unstable();
        self.samples.retain(|k, _| seen.binary_search(k).is_ok());
        self.rates.retain(|k, _| seen.binary_search(k).is_ok());
        secs
    }

    /// One tick: measure, then control.
    pub fn tick<D: Datapath>(&mut self, sessions: &mut Sessions<D>, now: Instant) {
        let _ = self.measure(sessions, now);
    }

    /// The rates of meter `index` over the last interval.
    pub fn rates(&self, index: u32) -> Rates {
        self.rates.get(&index).copied().unwrap_or_default()
    }

    /// What `upfctl qos` shows.
    pub fn view<D: Datapath>(&self, sessions: &Sessions<D>) -> QosView {
        let pois = self
            .pois
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let r = [0, 1].map(|d| self.rates(poi_meter(i, d)));
                let drops = [0, 1].map(|d| {
                    sessions
                        .datapath()
                        .meter(poi_meter(i, d))
                        .map_or(0, |m| m.drop_packets)
                });
                PoiView {
                    name: p.name.clone(),
                    capacity_bps: p.capacity_bps,
                    rate_bps: r.map(|x| x.rate_bps),
                    demand_bps: r.map(|x| x.demand_bps),
                    dropped_packets: drops,
                    sessions: sessions
                        .sessions()
                        .values()
                        .filter(|s| {
                            s.limits.poi_meter[1] == poi_meter(i, 1) + 1
                                || s.limits.poi_meter[0] == poi_meter(i, 0) + 1
                        })
                        .count(),
                    sessions_capped: [0, 1].map(|d| {
                        sessions
                            .sessions()
                            .values()
                            .filter(|s| {
                                s.limits.poi_meter[d] == poi_meter(i, d) + 1
                                    && s.limits.cap_bps[d].is_some()
                            })
                            .count()
                    }),
                }
            })
            .collect();
        let plans = &self.params.plans;
        let sessions = sessions
            .sessions()
            .values()
            .filter(|s| !s.meters.is_empty())
            .map(|s| SessionQosView {
                seid: s.up_seid,
                peer: s.peer.clone(),
                poi: [0, 1]
                    .iter()
                    .find_map(|&d| {
                        let m = s.limits.poi_meter[d];
                        (m != 0).then(|| self.pois.get(((m - 1) / 2) as usize))
                    })
                    .flatten()
                    .map(|p| p.name.clone()),
                plan: s
                    .limits
                    .plan
                    .and_then(|i| plans.get(i))
                    .map(|p| p.name.clone()),
                throttled: s.limits.throttled,
                cap_bps: s.limits.cap_bps,
                meters: s
                    .meters
                    .iter()
                    .map(|(k, m)| {
                        let (kind, qer, dir) = match k {
                            MeterKey::Session(d) => ("session", None, *d),
                            MeterKey::Flow(q, d) => ("flow", Some(*q), *d),
                        };
                        let c = sessions.datapath().meter(m.index).unwrap_or_default();
                        let r = self.rates(m.index);
                        MeterView {
                            kind: kind.into(),
                            qer,
                            direction: match dir {
                                Direction::Uplink => "uplink".into(),
                                Direction::Downlink => "downlink".into(),
                            },
                            index: m.index,
                            qer_mbr_bps: m.qer_bps,
                            limit_bps: m.config.rate_bps,
                            burst_ms: m.config.tau_ns as f64 / 1e6,
                            rate_bps: r.rate_bps,
                            demand_bps: r.demand_bps,
                            passed_packets: c.pass_packets,
                            dropped_packets: c.drop_packets,
                        }
                    })
                    .collect(),
            })
            .collect();
        QosView { pois, sessions }
    }
}

/// The POI whose peer prefixes hold `peer` (longest prefix).
pub fn poi_of(pois: &[Vec<Ipv4Net>], peer: Ipv4Addr) -> Option<usize> {
    pois.iter()
        .enumerate()
        .flat_map(|(i, nets)| nets.iter().map(move |n| (i, n)))
        .filter(|(_, n)| n.contains(peer))
        .max_by_key(|(_, n)| n.len)
        .map(|(i, _)| i)
}

/// `upfctl qos`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct QosView {
    /// Per POI.
    pub pois: Vec<PoiView>,
    /// Per session with a meter.
    pub sessions: Vec<SessionQosView>,
}

/// One POI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PoiView {
    /// Name.
    pub name: String,
    /// Contracted capacity (uplink, downlink), bit/s.
    pub capacity_bps: [u64; 2],
    /// Forwarded over the last interval, bit/s.
    pub rate_bps: [u64; 2],
    /// Offered over the last interval, bit/s.
    pub demand_bps: [u64; 2],
    /// Packets the POI meter dropped (the capacity was exceeded), since start.
    pub dropped_packets: [u64; 2],
    /// Sessions behind it.
    pub sessions: usize,
    /// Sessions with a fair-share cap now.
    pub sessions_capped: [usize; 2],
}

/// One session's QoS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SessionQosView {
    /// Our SEID.
    pub seid: u64,
    /// Its SMF.
    pub peer: String,
    /// Its POI.
    pub poi: Option<String>,
    /// Its plan.
    pub plan: Option<String>,
    /// The plan's quota is used up.
    pub throttled: bool,
    /// Fair-share caps (uplink, downlink), bit/s.
    pub cap_bps: [Option<u64>; 2],
    /// Its meters.
    pub meters: Vec<MeterView>,
}

/// One meter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct MeterView {
    /// "session" or "flow".
    pub kind: String,
    /// The flow QER.
    pub qer: Option<u32>,
    /// "uplink" or "downlink".
    pub direction: String,
    /// Index in METERS.
    pub index: u32,
    /// The QER's MBR, bit/s.
    pub qer_mbr_bps: Option<u64>,
    /// The limit in force (QER, plan and cap combined), bit/s; 0: none.
    pub limit_bps: u64,
    /// Burst tolerance.
    pub burst_ms: f64,
    /// Forwarded over the last interval, bit/s.
    pub rate_bps: u64,
    /// Offered over the last interval, bit/s.
    pub demand_bps: u64,
    /// Packets passed since the meter was created.
    pub passed_packets: u64,
    /// Packets dropped at or after it since the meter was created.
    pub dropped_packets: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::fake::FakeDatapath;
    use crate::pfcp::sessions::SessionsConfig;
    use std::time::Duration;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn the_longest_prefix_names_the_poi() {
        let pois = vec![vec![net("10.0.0.0/8")], vec![net("10.1.0.0/16")]];
        assert_eq!(poi_of(&pois, Ipv4Addr::new(10, 1, 2, 3)), Some(1));
        assert_eq!(poi_of(&pois, Ipv4Addr::new(10, 2, 2, 3)), Some(0));
        assert_eq!(poi_of(&pois, Ipv4Addr::new(192, 0, 2, 1)), None);
    }

    #[test]
    fn poi_meters_are_configured_and_rates_come_from_counter_deltas() {
        let params = QosParams {
            reserved_meters: QosControl::reserved_meters(1),
            ..QosParams::default()
        };
        let mut s = Sessions::new(
            FakeDatapath::new(16),
            SessionsConfig {
                n3: Ipv4Addr::new(10, 100, 0, 1),
                teid_range: (1, 100),
                ue_pools: Vec::new(),
                qos: params.clone(),
            },
        );
        let mut q = QosControl::new(
            vec![PoiSpec {
                name: "docomo".into(),
                peers: vec![net("10.100.0.0/24")],
                capacity_bps: [50_000_000, 100_000_000],
            }],
            params,
        );
        q.install(&mut s).unwrap();
        let dl = s.datapath().meter(poi_meter(0, 1)).unwrap();
        assert_eq!(dl.cost_ns_q16, Meter::cost_for_bps(100_000_000));
        let t0 = Instant::now();
        assert_eq!(q.measure(&s, t0), None, "the first tick only samples");
        // 1.25 MB passed and 0.25 MB dropped in half a second on the DL POI meter.
        let m = s.datapath_mut().meters.get_mut(&poi_meter(0, 1)).unwrap();
        m.pass_bytes += 1_250_000;
        m.drop_bytes += 250_000;
        let secs = q.measure(&s, t0 + Duration::from_millis(500)).unwrap();
        assert!((secs - 0.5).abs() < 1e-9);
        let v = q.view(&s);
        assert_eq!(v.pois[0].rate_bps[1], 20_000_000);
        assert_eq!(v.pois[0].demand_bps[1], 24_000_000);
        assert_eq!(v.pois[0].capacity_bps, [50_000_000, 100_000_000]);
    }
}
