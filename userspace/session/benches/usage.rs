//! `Sessions::poll_usage` at scale: what one poll (the daemon's
//! `pfcp.usage_poll_ms` tick) costs with N sessions, each holding the two
//! URRs an SMF installs for charging: a Volume Threshold (VOLTH, 1 GiB, the
//! codec bench's 4G session) and a 60 s periodic report (PERIO), both
//! referenced by the session's two PDRs (one counter slot).
//!
//! - `idle`: every session established at the same second, the poll 30 s
//!   later, again and again: no counter moves, no period is due. What an
//!   idle million costs per tick.
//! - `idle, cannot tell touched`: the same over a datapath whose
//!   `take_touched` answers `None` (the full scan of the volume triggers).
//! - `take_touched alone`: the fake datapath's own share of `idle`: it
//!   finds moved slots by comparing every slot with what it saw last time
//!   (the BPF datapath reads a bitmap the fast path marks instead).
//! - `1-in-60 due`: the establishments spread over a minute, each poll one
//!   second after the previous one: a sixtieth of the sessions reports its
//!   period at each poll (the steady state of the same sessions).
//! - `all touched`: every session's counters move (by less than the
//!   threshold) between two polls, outside the timed part: the worst case,
//!   every session evaluated.
//! - `..., marked`: the same over [`Marked`], the fake answering
//!   `take_touched` from a list the bench keeps as it moves counters (as
//!   the BPF datapath reads the bitmap the fast path marks): the session
//!   core's own cost, without the fake's pass over every slot.
//!
//! Sessions are built once per benchmark (only when the filter selects it):
//! `cargo bench -p upf-session --bench usage -- idle/100k`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use upf_abi::{DownlinkEntry, Meter, RuleSet, SessionCounters, UplinkEntry};
use upf_pfcp::ie::{MeasurementPeriod, ReportingTriggers, UrrId};
use upf_session::datapath::fake::FakeDatapath;
use upf_session::datapath::{Capacity, Datapath, DatapathError, FastpathStats, MeterConfig};
use upf_session::sessions::{Sessions, SessionsConfig};

#[path = "../../pfcp/benches/common/mod.rs"]
mod common;

const PEER: &str = "10.0.0.9";
const NTP: u32 = 3_900_000_000;

type Manager = Sessions<FakeDatapath>;

/// The fake datapath whose `take_touched` answers the slots the bench
/// marked (`touched`), as a bitmap the fast path marks would.
struct Marked {
    fake: FakeDatapath,
    touched: Vec<u32>,
}

impl Datapath for Marked {
    fn put_uplink(&mut self, teid: u32, v: &UplinkEntry) -> Result<(), DatapathError> {
        self.fake.put_uplink(teid, v)
    }
    fn del_uplink(&mut self, teid: u32) -> Result<(), DatapathError> {
        self.fake.del_uplink(teid)
    }
    fn put_downlink(&mut self, ue: Ipv4Addr, v: &DownlinkEntry) -> Result<(), DatapathError> {
        self.fake.put_downlink(ue, v)
    }
    fn del_downlink(&mut self, ue: Ipv4Addr) -> Result<(), DatapathError> {
        self.fake.del_downlink(ue)
    }
    fn uplink_keys(&self) -> Result<Vec<u32>, DatapathError> {
        self.fake.uplink_keys()
    }
    fn downlink_keys(&self) -> Result<Vec<Ipv4Addr>, DatapathError> {
        self.fake.downlink_keys()
    }
    fn put_rules(&mut self, index: u32, v: &RuleSet) -> Result<(), DatapathError> {
        self.fake.put_rules(index, v)
    }
    fn reset_counters(&mut self, slot: u32) -> Result<(), DatapathError> {
        self.touched.push(slot);
        self.fake.reset_counters(slot)
    }
    fn counters(&self, slot: u32) -> Result<SessionCounters, DatapathError> {
        self.fake.counters(slot)
    }
    fn take_touched(&mut self) -> Result<Option<Vec<u32>>, DatapathError> {
        Ok(Some(std::mem::take(&mut self.touched)))
    }
    fn set_meter(&mut self, index: u32, cfg: &MeterConfig) -> Result<(), DatapathError> {
        self.fake.set_meter(index, cfg)
    }
    fn reset_meter(&mut self, index: u32) -> Result<(), DatapathError> {
        self.fake.reset_meter(index)
    }
    fn meter(&self, index: u32) -> Result<Meter, DatapathError> {
        self.fake.meter(index)
    }
    fn poi_counters(&self) -> Result<[SessionCounters; upf_abi::MAX_POIS + 1], DatapathError> {
        self.fake.poi_counters()
    }
    fn capacity(&self) -> Capacity {
        self.fake.capacity()
    }
    fn fastpath_stats(&self) -> Result<FastpathStats, DatapathError> {
        self.fake.fastpath_stats()
    }
}

fn fake(sessions: u32) -> FakeDatapath {
    FakeDatapath::with_capacity(Capacity {
        sessions,
        counter_slots: sessions * 2,
        rule_sets: sessions,
        meters: sessions,
    })
}

fn manager<D: Datapath>(dp: D) -> Sessions<D> {
    Sessions::new(
        dp,
        SessionsConfig {
            qos: Default::default(),
            n3: common::N3,
            teid_range: (0x0010_0000, 0x7fff_ffff),
            ue_pools: vec!["10.128.0.0/9".parse().expect("a prefix")],
        },
    )
}

/// `n` 4G sessions with a VOLTH URR (1) and a 60 s PERIO URR (2) on both
/// PDRs; session `i` is established at `NTP + i % spread`.
fn populate(n: u32, spread: u32) -> Manager {
    populate_on(fake(n), n, spread)
}

fn populate_on<D: Datapath>(dp: D, n: u32, spread: u32) -> Sessions<D> {
    let mut m = manager(dp);
    for i in 0..n {
        let mut req = common::establishment_4g(
            u64::from(i) + 1,
            0x0100_0000 + i,
            Ipv4Addr::from(0x0a40_0000 + i),
        );
        let mut perio = upf_pfcp::ie::CreateUrr {
            urr_id: UrrId(2),
            reporting_triggers: ReportingTriggers(ReportingTriggers::PERIO),
            measurement_period: Some(MeasurementPeriod(60)),
            ..req.create_urr[0].clone()
        };
        perio.volume_threshold = None;
        req.create_urr.push(perio);
        for p in &mut req.create_pdr {
            p.urr_ids = vec![UrrId(1), UrrId(2)];
        }
        m.establish(PEER, &req, NTP + i % spread)
            .unwrap_or_else(|e| panic!("establishment {i}: {e:?}"));
    }
    m
}

/// Idle sessions, once the first poll evaluated what the establishments
/// left to evaluate.
fn idle(n: u32) -> Manager {
    let mut m = populate(n, 1);
    assert!(m.poll_usage(NTP + 1).is_empty());
    m
}

/// Benchmarks `routine` on a manager built by `build` the first time the
/// filter selects `id`; `prepare` runs before each timed call, untimed.
fn bench_on<S>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    build: impl Fn() -> S,
    mut prepare: impl FnMut(&mut S),
    mut routine: impl FnMut(&mut S),
) {
    let mut state = None;
    g.bench_function(id, |b| {
        let s = state.get_or_insert_with(&build);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                prepare(s);
                let t = Instant::now();
                routine(s);
                total += t.elapsed();
            }
            total
        })
    });
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("poll_usage");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for (name, n) in [("100k", 100_000u32), ("1M", 1_000_000)] {
        let idle_poll = |m: &mut Manager| {
            let r = m.poll_usage(NTP + 30);
            assert!(r.is_empty(), "an idle poll reports nothing");
            black_box(r);
        };
        bench_on(
            &mut g,
            format!("idle/{name}"),
            || idle(n),
            |_| {},
            idle_poll,
        );
        after_only(&mut g, name, n);
        bench_on(
            &mut g,
            format!("1-in-60 due/{name}"),
            || {
                let mut m = populate(n, 60);
                assert!(m.poll_usage(NTP + 59).is_empty());
                (m, NTP + 59)
            },
            |_| {},
            |(m, now)| {
                *now += 1;
                let r = m.poll_usage(*now);
                let due = n / 60 + u32::from((*now - NTP) % 60 < n % 60);
                assert_eq!(r.len() as u32, due);
                black_box(r);
            },
        );
        bench_on(
            &mut g,
            format!("all touched/{name}"),
            || idle(n),
            |m| bump(&mut m.datapath_mut().counters),
            idle_poll,
        );
    }
    g.finish();
}

/// What only the timers' code has: a datapath that cannot tell, the
/// fake's `take_touched` alone, and the marked datapath.
fn after_only(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, n: u32) {
    bench_on(
        g,
        format!("idle, cannot tell touched/{name}"),
        || {
            let mut m = idle(n);
            m.datapath_mut().tells_touched = false;
            m
        },
        |_| {},
        |m| {
            let r = m.poll_usage(NTP + 30);
            assert!(r.is_empty());
            assert_eq!(m.last_usage_poll().sessions, n as usize);
            black_box(r);
        },
    );
    bench_on(
        g,
        format!("take_touched alone/{name}"),
        || idle(n),
        |_| {},
        |m| {
            let t = m.datapath_mut().take_touched().expect("the fake reads");
            assert_eq!(t.as_deref(), Some(&[][..]));
        },
    );
    bench_on(
        g,
        format!("take_touched alone, all touched/{name}"),
        || idle(n),
        |m| bump(&mut m.datapath_mut().counters),
        |m| {
            let t = m.datapath_mut().take_touched().expect("the fake reads");
            assert_eq!(t.map(|t| t.len()), Some(n as usize));
        },
    );
    let marked = |spread| {
        let dp = Marked {
            fake: fake(n),
            touched: Vec::new(),
        };
        let mut m = populate_on(dp, n, spread);
        assert!(m.poll_usage(NTP + 59).is_empty());
        m
    };
    bench_on(
        g,
        format!("idle, marked/{name}"),
        || marked(1),
        |_| {},
        |m| {
            let r = m.poll_usage(NTP + 30);
            assert!(r.is_empty());
            assert_eq!(m.last_usage_poll().sessions, 0);
            black_box(r);
        },
    );
    bench_on(
        g,
        format!("1-in-60 due, marked/{name}"),
        || (marked(60), NTP + 59),
        |_| {},
        |(m, now)| {
            *now += 1;
            let r = m.poll_usage(*now);
            assert_eq!(m.last_usage_poll().timers_due, r.len());
            black_box(r);
        },
    );
    bench_on(
        g,
        format!("all touched, marked/{name}"),
        || marked(1),
        |m| {
            let dp = m.datapath_mut();
            bump(&mut dp.fake.counters);
            dp.touched.extend(dp.fake.counters.keys().copied());
        },
        |m| {
            let r = m.poll_usage(NTP + 30);
            assert!(r.is_empty());
            assert_eq!(m.last_usage_poll().sessions, n as usize);
            black_box(r);
        },
    );
}

/// Moves every counter by one 100-octet uplink packet.
fn bump(counters: &mut std::collections::HashMap<u32, SessionCounters>) {
    for c in counters.values_mut() {
        c.ul_bytes += 100;
        c.ul_packets += 1;
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
