//! Issue 7 item 5 in CI: 20,000 establish/delete cycles against upfd (the
//! debug build CI makes, found like cp-bench finds it) leave its UPLINK and
//! DOWNLINK maps, its pools and its session table exactly at the baseline,
//! and its resident memory off a per-cycle slope. Not a timed test: nothing here
//! depends on how fast the machine is. Needs root and two CPUs; without
//! them the test fails and says so. The 1 M-cycle figures are in
//! docs/benchmarks.md.

use mvno_upf_bench::cpbench::{churn, default_upfd, ChurnConfig};

#[test]
fn churn_returns_maps_pools_and_memory_to_baseline() {
    let cfg = ChurnConfig {
        upfd: default_upfd(),
        cycles: 20_000,
        batch: 1000,
        window: 64,
        samples: 4,
    };
    let r = churn(&cfg, "cargo test -p mvno-upf-bench --test churn", false)
        .unwrap_or_else(|e| panic!("the churn run failed: {e:#}"));
    let md = r.markdown();
    eprintln!("{md}");
    let base = &r.settled[0];
    assert_eq!(r.settled.len(), 5, "{md}");
    // The counting sees sessions when there are some.
    assert_eq!(
        (r.during.sessions, r.during.uplink, r.during.downlink),
        (
            base.sessions + 1000,
            base.uplink + 1000,
            base.downlink + 1000
        ),
        "{md}"
    );
    for s in &r.settled[1..] {
        assert_eq!(
            s.tables(),
            base.tables(),
            "after {} cycles:\n{md}",
            s.cycles
        );
    }
    // Memory. A per-cycle leak grows the resident set in every interval;
    // what the allocator keeps grows in steps: the response cache (bounded
    // at 64 Ki responses, kept pfcp.response_cache_secs) doubles its table
    // when a burst sets a new peak, and keeps it. So after the warm-up
    // (the first 5,000 cycles) at least one 5,000-cycle interval must add
    // less than RSS_SLACK_KB: a leak of 26 bytes per cycle or more cannot.
    let growth: Vec<u64> = r.settled[1..]
        .windows(2)
        .map(|w| w[1].rss_kb.saturating_sub(w[0].rss_kb))
        .collect();
    assert!(
        growth.iter().min().is_some_and(|&g| g <= RSS_SLACK_KB),
        "upfd grew in every 5,000-cycle interval: {growth:?} kB\n{md}"
    );
    // And the pools were used: half the sessions CHOOSE their TEID and UE.
    assert_eq!(r.during.in_use[0], base.in_use[0] + 500, "{md}");
    assert_eq!(r.during.in_use[1], base.in_use[1] + 500, "{md}");
}

/// Growth allowed in the quietest 5,000-cycle interval.
const RSS_SLACK_KB: u64 = 128;
