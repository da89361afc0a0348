//! CI's check that cp-bench still runs (not a timed test): the smoke
//! configuration against the release upfd, every figure present and sane.
//! Needs root, two CPUs and upfd built (found like e2e-bench finds it); without them
//! the test fails and names what is missing.

use mvno_upf_bench::cpbench::{default_upfd, run, CpConfig};

#[test]
fn cp_bench_smoke() {
    let cfg = CpConfig::smoke(default_upfd());
    let report = run(
        &cfg,
        "cargo test -p mvno-upf-bench --test smoke_cpbench",
        false,
    )
    .unwrap_or_else(|e| panic!("the cp-bench smoke run failed: {e:#}"));
    let md = report.markdown();
    eprintln!("{md}");
    assert_eq!(report.rates.len(), cfg.windows.len());
    for p in &report.rates {
        assert!(
            p.establish_per_s > 50.0 && p.delete_per_s > 50.0,
            "window {}: implausible rates {p:?}",
            p.window
        );
    }
    let (n, _, t) = report.bulk;
    assert!(n == cfg.bulk_sessions && t > 0.0);
    let (r0, r1, _) = report.rss;
    assert!(r0 > 1 << 20 && r1 >= r0, "VmRSS {:?}", report.rss);
    let kernel: u64 = report.kernel_maps.iter().map(|m| m.4).sum();
    assert!(
        kernel > u64::from(cfg.max_sessions) * 48,
        "kernel maps below 2 x 24 B per slot: {kernel}"
    );
    assert!(report
        .named_maps
        .iter()
        .any(|(n, m)| *n == "UPLINK" && *m > 0));
    assert!(report.fill.0 > 0.0 && report.fill.1 > 0.0);
    assert!(md.starts_with("### ") && md.contains("- command: `"));
}
