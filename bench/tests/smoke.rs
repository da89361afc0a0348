//! CI's check that the benchmark still runs (not a timed test): the smoke
//! configuration in-process; every case present at every session count,
//! once per key distribution where its frames name a session, with
//! positive, finite figures; the scale and goal lines computed.
//! Needs root; without it the test fails and says so.

use mvno_upf_bench::{run, Case, Config, Dist, GoalKind};

#[test]
fn smoke_runs_every_case() {
    let config = Config::smoke();
    assert_eq!(
        config.dists,
        Dist::ALL,
        "the smoke run covers both distributions"
    );
    let report = run(&config, "cargo test -p mvno-upf-bench (smoke)")
        .unwrap_or_else(|e| panic!("the smoke benchmark failed: {e:#}"));
    let md = report.markdown();
    eprintln!("{md}");
    assert!(md.contains("| case | sessions | keys | ns/packet | net of DROP | ratio to TX floor |"));

    let mut expected_rows = 0;
    for &n in &config.sessions {
        for case in Case::ALL {
            let dists: Vec<Option<Dist>> = if case.keyed() {
                config.dists.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            for dist in dists {
                expected_rows += 1;
                let what = format!("{} at {n} sessions, {dist:?} keys", case.name());
                let row = report
                    .row(case, dist, n)
                    .unwrap_or_else(|| panic!("no row for {what}"));
                assert!(row.ns > 0.0 && row.ns.is_finite(), "{what}: {} ns", row.ns);
                assert!(row.net.is_finite(), "{what}: net {}", row.net);
                assert!(
                    row.ratio > 0.0 && row.ratio.is_finite(),
                    "{what}: ratio {}",
                    row.ratio
                );
                let keys = dist.map_or("-", Dist::name);
                let line = format!("| {} | {n} | {keys} | ", case.name());
                assert!(md.contains(&line), "the table lacks `{line}`");
            }
        }
    }
    assert_eq!(
        report.rows.len(),
        expected_rows,
        "rows beyond the expected ones"
    );

    // The scale ratios of the largest smoke count exist for every keyed case.
    for case in Case::ALL.into_iter().filter(|c| c.keyed()) {
        for &dist in &config.dists {
            let (ns, net) = report
                .scale(case, Some(dist), 100)
                .unwrap_or_else(|| panic!("no scale ratio for {} {dist}", case.name()));
            assert!(
                ns > 0.0 && ns.is_finite() && net.is_finite(),
                "{} {dist}: {ns} {net}",
                case.name()
            );
        }
    }
    assert!(
        md.contains("| case | keys | 100 / 1 | 10 k / 1 (goal <= 1.5x) | 1 M / 1 (goal <= 3x) |")
    );

    // The 1-session floor goals are judged; the 10 k and 1 M ones are not
    // measured by a smoke run, and say so.
    let goals = report.goals();
    let floor: Vec<_> = goals
        .iter()
        .filter(|g| g.kind == GoalKind::TxFloor)
        .collect();
    assert_eq!(
        floor.len(),
        2 * config.dists.len(),
        "uplink 5G and 4G per distribution"
    );
    for g in floor {
        let v = g
            .value
            .unwrap_or_else(|| panic!("{} {}: not measured", g.case.name(), g.dist));
        assert!(v.is_finite() && v > 0.0 && g.met().is_some());
    }
    assert!(goals
        .iter()
        .filter(|g| matches!(g.kind, GoalKind::Scale(_)))
        .all(|g| g.met().is_none()));
    assert!(md.contains("- 10 k sessions / 1 session <= 1.5x: not measured"));
    assert!(md.contains("- 1 session, uplink decap, 4G over the XDP_TX floor <= 2.5x: uniform "));
}
