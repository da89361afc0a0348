//! CI's check that cp-bench still runs (not a timed test): the smoke
//! configurations against the release upfd, every figure present and sane.
//! Needs root, two CPUs and upfd built (found like e2e-bench finds it); without them
//! the test fails and names what is missing.

use std::sync::Mutex;

use mvno_upf_bench::cpbench::idle::{self, IdleConfig};
use mvno_upf_bench::cpbench::{default_upfd, run, CpConfig};

/// One lab at a time: both runs pin upfd and the SMF to CPUs 0 and 1.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn cp_bench_smoke() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
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

/// `cp-bench --smoke --idle-urrs N`: 2000 sessions with a VOLTH and a
/// 5 s PERIO URR held for 12 s. Every figure must be there and finite, and
/// the reports must be the ones upfd owes: every session's grid points in
/// the window covered, none before its due second, none unexpected.
#[test]
fn cp_bench_idle_smoke() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let cfg = IdleConfig::smoke(default_upfd());
    let r = idle::run(
        &cfg,
        "cargo test -p mvno-upf-bench --test smoke_cpbench",
        false,
    )
    .unwrap_or_else(|e| panic!("the cp-bench idle smoke run failed: {e:#}"));
    let md = r.markdown();
    eprintln!("{md}");
    let n = u64::from(cfg.sessions);

    assert!(r.install_secs > 0.0 && r.install_secs.is_finite());
    assert!(
        r.window_secs >= cfg.idle_secs as f64,
        "window {}",
        r.window_secs
    );
    assert!(
        r.cpu.process_pct.is_finite() && r.cpu.process_pct > 0.0,
        "upfd CPU {:?}",
        r.cpu
    );
    assert!(!r.cpu.threads.is_empty(), "no upfd thread used CPU");

    let h = &r.heartbeats;
    let expected = cfg.idle_secs * u64::from(cfg.heartbeat_hz);
    assert!(
        h.sent + 2 >= expected && h.sent <= expected + 2,
        "{} heartbeats sent, {expected} expected",
        h.sent
    );
    // Not `lost == 0`: upfd's N4 socket can overflow with our answers to
    // its report burst and drop a heartbeat (a finding the full run
    // reports, not the smoke's to judge). Most must be answered.
    assert!(
        h.lost * 10 <= h.sent && h.latency_ms.n as u64 + h.lost == h.sent,
        "heartbeats {h:?}"
    );
    assert!(h.latency_ms.finite());
    assert!(h.latency_ms.p50 > 0.0 && h.latency_ms.p50 <= h.latency_ms.max);

    let rep = &r.reports;
    // A 5 s period in a 12 s window: two or three grid points per session.
    assert!(
        rep.due_in_window >= 2 * n && rep.due_in_window <= 3 * n,
        "{} due for {n} sessions: {rep:?}",
        rep.due_in_window
    );
    assert!(
        rep.received_total > 0 && rep.arrived_in_window > 0,
        "{rep:?}"
    );
    assert_eq!(rep.due_missing, 0, "due reports never received: {rep:?}");
    assert_eq!(
        rep.due_received_in_window + rep.due_received_later,
        rep.due_in_window
    );
    assert!(rep.lateness_s.finite() && rep.lateness_from_response_s.finite());
    assert_eq!(rep.lateness_s.n as u64, rep.due_in_window);
    // Matched to upfd's grid: never before the due second, and not a
    // period off.
    assert!(
        rep.lateness_min_s >= -0.05,
        "a report before its due time: {rep:?}"
    );
    assert!(rep.lateness_s.p50 < f64::from(cfg.period_secs), "{rep:?}");
    assert!(rep.lateness_from_response_s.p50 <= rep.lateness_s.p50);
    assert_eq!(
        (rep.unexpected, rep.malformed, rep.anchor_outside),
        (0, 0, 0),
        "{rep:?}"
    );
    assert_eq!(
        rep.anchor_estimated, 0,
        "a session without its first report"
    );
    assert!(rep.answer_ms.finite());
    let (_, retransmissions, _) = r
        .upfd_pfcp
        .as_ref()
        .unwrap_or_else(|e| panic!("upfctl stats at the end: {e}"));
    // Each duplicate we saw is one of upfd's retransmissions.
    assert!(*retransmissions >= rep.duplicates, "{:?}", r.upfd_pfcp);

    let loaded = r
        .rate_loaded
        .clone()
        .unwrap_or_else(|e| panic!("the rate with the sessions held failed: {e}"));
    for rate in [r.rate_empty, loaded] {
        assert!(
            rate.establish_per_s > 50.0 && rate.delete_per_s > 50.0,
            "implausible rates {rate:?}"
        );
    }
    let (m0, m1) = r.mem;
    assert!(
        m0.rss > 1 << 20 && m0.anon > 0 && m1.rss > 1 << 20,
        "{:?}",
        r.mem
    );
    let (per_rss, per_anon) = r.per_session();
    assert!(per_rss.is_finite() && per_anon.is_finite());

    assert!(md.starts_with("### ") && md.contains("- command: `"));
    for label in [
        "install 2000 sessions",
        "upfd CPU over the idle window",
        "heartbeat latency p50 / p99 / max",
        "periodic reports arrived in the window",
        "reports due in the window",
        "lateness of those due",
        "against the establishment response",
        "more than 1 s late",
        "empty gateway",
        "with 2000 held",
        "userspace bytes per session",
    ] {
        assert!(md.contains(label), "no row `{label}` in\n{md}");
    }
    let words = || md.split(|c: char| !c.is_alphanumeric());
    assert!(
        !words().any(|w| w == "NaN" || w == "inf"),
        "a figure is not a number:\n{md}"
    );
    // One verdict per goal.
    let verdicts = md.matches("| met |").count() + md.matches("| **not met** |").count();
    assert_eq!(verdicts, r.goals().len(), "{md}");
}
