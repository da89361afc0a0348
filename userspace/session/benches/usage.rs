//! `Sessions::poll_usage` at scale: what one poll (the daemon's
//! `pfcp.usage_poll_ms` tick) costs with N sessions, each holding the two
//! URRs an SMF installs for charging: a Volume Threshold (VOLTH, 1 GiB, the
//! codec bench's 4G session) and a 60 s periodic report (PERIO), both
//! referenced by the session's two PDRs.
//!
//! - `idle`: every session established at the same second, the poll 30 s
//!   later, again and again: no counter moves, no period is due. What an
//!   idle million costs per tick.
//! - `1-in-60 due`: the sessions' establishments spread over a minute, each
//!   poll one second after the previous one: a sixtieth of the sessions
//!   reports its period at each poll (the steady state of the same million),
//!   so the figure is mostly the reports' own cost.
//!
//! Sessions are built once per benchmark (only when the filter selects it):
//! `cargo bench -p upf-session --bench usage -- idle/100k`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::Criterion;
use upf_pfcp::ie::{MeasurementPeriod, ReportingTriggers, UrrId};
use upf_session::datapath::fake::FakeDatapath;
use upf_session::datapath::Capacity;
use upf_session::sessions::{Sessions, SessionsConfig};

#[path = "../../pfcp/benches/common/mod.rs"]
mod common;

const PEER: &str = "10.0.0.9";
const NTP: u32 = 3_900_000_000;

fn manager(sessions: u32) -> Sessions<FakeDatapath> {
    Sessions::new(
        FakeDatapath::with_capacity(Capacity {
            sessions,
            counter_slots: sessions * 2,
            rule_sets: sessions,
            meters: sessions,
        }),
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
fn populate(n: u32, spread: u32) -> Sessions<FakeDatapath> {
    let mut m = manager(n);
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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("poll_usage");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for (name, n) in [("100k", 100_000u32), ("1M", 1_000_000)] {
        let mut idle = None;
        g.bench_function(format!("idle/{name}"), |b| {
            let m = idle.get_or_insert_with(|| {
                let mut m = populate(n, 1);
                // The first poll after the establishments: whatever they
                // left to evaluate is evaluated before the timed polls.
                assert!(m.poll_usage(NTP + 1).is_empty());
                m
            });
            b.iter(|| {
                let r = m.poll_usage(NTP + 30);
                assert!(r.is_empty(), "an idle poll reports nothing");
                black_box(r)
            })
        });
        drop(idle);
        let mut due = None;
        g.bench_function(format!("1-in-60 due/{name}"), |b| {
            let (m, now) = due.get_or_insert_with(|| {
                let mut m = populate(n, 60);
                assert!(m.poll_usage(NTP + 59).is_empty());
                (m, NTP + 59)
            });
            b.iter(|| {
                *now += 1;
                let r = m.poll_usage(*now);
                assert_eq!(
                    r.len() as u32,
                    n / 60 + u32::from((*now - NTP) % 60 < n % 60)
                );
                black_box(r)
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
