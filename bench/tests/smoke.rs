//! CI's check that the benchmark still runs (not a timed test): the smoke
//! configuration in-process, every case present with a positive figure.
//! Needs root; without it the test fails and says so.

use mvno_upf_bench::{run, Case, Config};

#[test]
fn smoke_runs_every_case() {
    let config = Config::smoke();
    let report = run(&config, "cargo test -p mvno-upf-bench (smoke)")
        .unwrap_or_else(|e| panic!("the smoke benchmark failed: {e:#}"));
    let md = report.markdown();
    eprintln!("{md}");
    for &n in &config.sessions {
        for case in Case::ALL {
            let row = report
                .rows
                .iter()
                .find(|r| r.case == case && r.sessions == n)
                .unwrap_or_else(|| panic!("no row for {} at {n} sessions", case.name()));
            assert!(
                row.ns > 0.0,
                "{} at {n} sessions: {} ns per packet",
                case.name(),
                row.ns
            );
            assert!(md.contains(case.name()), "the table lacks {}", case.name());
        }
    }
    assert!(md.contains("| case | sessions | ns/packet | net of DROP | ratio to TX floor |"));
}
