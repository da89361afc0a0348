//! End-to-end peak-hour metering through the namespace lab: paced traffic
//! at known rates for known intervals through the gateway, then the store's
//! one-second and minute rows, the report's busy hour, and a daemon killed
//! under traffic.
//!
//! Same preconditions as e2e.rs; nothing is skipped. Rate tests run one at
//! a time (the lock in common).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use mvno_upf_tests::smf::{SessionPlan, PDR_DL, PDR_UL};
use upf_meter::store::{self, Store};
use upf_meter::Dir;

/// A POI covering the lab's RAN, with room to spare (no capacity drops);
/// the report takes an hour measured for a minute as a busy-hour candidate.
const POI: &str = "[[poi]]
name = \"docomo\"
peers = [\"10.100.0.0/24\"]
capacity_ul_mbps = 1000
capacity_dl_mbps = 1000
host = \"docomo\"
fiscal_year = [{ fy = 2026, capacity_mbps = 1000, demand_mbps = 800 }]

[report]
min_coverage = 0.001
";

fn unix_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn meter_store(lab: &Lab) -> Box<dyn Store> {
    store::open(&format!("sqlite:{}", lab.dir.join("meter.db").display()))
        .unwrap_or_else(|e| panic!("opening the lab's meter store: {e}"))
}

fn gateway(lab: &Lab) -> String {
    format!("lab-{}", lab.id)
}

/// Waits until `secs` seconds from now stay inside one clock hour, so the
/// test's traffic falls in one busy-hour candidate.
fn clear_of_the_hour(secs: u64) {
    let now = unix_f64();
    let into = now % 3600.0;
    if into + secs as f64 > 3600.0 {
        let wait = 3600.0 - into + 1.0;
        eprintln!("waiting {wait:.0} s for the next clock hour");
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

fn plan() -> SessionPlan {
    SessionPlan::four_g(0x700, ue(0), 0x7000)
}

/// Traffic at 8 Mbit/s uplink for 12 s and 16 Mbit/s downlink for 6 s:
/// every byte the session's counters saw is in the store exactly once; the
/// one-second rows inside the traffic hold the senders' rates (±2 %: a
/// second's edges fall between packets); and `upfctl report` finds the
/// busy hour where the traffic was, at its rate within 1 %.
#[test]
fn metered_seconds_match_the_rates_sent_and_the_counters_exactly() {
    let _serial = serial();
    clear_of_the_hour(150);
    let lab = Lab::up_with_tail(Mode::Generic, "", POI);
    let mut smf = associated(&lab);
    let s = open(&lab, &mut smf, &plan());
    let t0 = unix_f64();
    let ul = offer(&lab, 0, true, 8_000_000, Duration::from_secs(12));
    std::thread::sleep(Duration::from_secs(3));
    let dl = offer(&lab, 0, false, 16_000_000, Duration::from_secs(6));
    let (ul_sent, dl_sent) = (ul.join().unwrap(), dl.join().unwrap());
    let t1 = unix_f64();
    // Two more samples: every byte forwarded has been sampled and written.
    std::thread::sleep(Duration::from_millis(2500));
    let list = lab.sessions();
    let l = pfcp_session(&list, s.up_seid).expect("session listed");
    let (ul_fwd, dl_fwd) = (
        pdr_counter(l, PDR_UL, "ul_bytes"),
        pdr_counter(l, PDR_DL, "dl_bytes"),
    );
    eprintln!(
        "sent {ul_sent} UL and {dl_sent} DL packets; counters {ul_fwd} UL / {dl_fwd} DL bytes"
    );
    let mut st = meter_store(&lab);
    let from = t0 as i64 - 5;
    let to = t1 as i64 + 5;
    let gw = gateway(&lab);
    // The rates the senders achieved (a sender on a busy core skips part
    // of its schedule rather than bursting).
    let achieved = |sent: u64, secs: f64| (sent * INNER as u64) as f64 * 8.0 / secs;
    for (dir, fwd, rate, first, secs) in [
        (Dir::Ul, ul_fwd, achieved(ul_sent, 12.0), t0, 12.0),
        (Dir::Dl, dl_fwd, achieved(dl_sent, 6.0), t0 + 3.0, 6.0),
    ] {
        // The writer commits each second as it comes; allow it a few.
        let waited = std::time::Instant::now();
        let (rows, total) = loop {
            let rows = st.seconds(&gw, "docomo", dir, from, to).unwrap();
            let total: u64 = rows.iter().map(|r| r.bytes).sum();
            if total == fwd || waited.elapsed() > Duration::from_secs(5) {
                break (rows, total);
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        eprintln!("{dir}: store complete after {:?} more", waited.elapsed());
        if total != fwd {
            let per: Vec<(i64, u64)> = rows.iter().map(|r| (r.ts, r.bytes)).collect();
            panic!(
                "{dir}: the store holds {total} bytes, the counters counted {fwd}\n{per:?}\nupfd log:\n{}",
                lab.log()
            );
        }
        // The whole seconds well inside the traffic's interval.
        let inside: Vec<u64> = rows
            .iter()
            .filter(|r| r.ts as f64 >= first + 1.5 && (r.ts + 1) as f64 <= first + secs - 0.5)
            .map(|r| r.bytes)
            .collect();
        assert!(
            inside.len() as f64 >= secs - 3.0,
            "{dir}: {} whole seconds",
            inside.len()
        );
        let mean = inside.iter().sum::<u64>() as f64 * 8.0 / inside.len() as f64;
        eprintln!(
            "{dir}: mean of {} whole seconds {:.3} Mbit/s",
            inside.len(),
            mean / 1e6
        );
        assert!(
            (mean / rate - 1.0).abs() <= 0.02,
            "{dir}: metered {:.3} Mbit/s for {:.3} sent",
            mean / 1e6,
            rate / 1e6
        );
        // The lab's static sessions and ours, all with peers at the POI.
        assert!(
            rows.iter()
                .filter(|r| r.bytes > 0)
                .all(|r| r.sessions as usize == list.len()),
            "{dir}: {} sessions at the POI: {rows:?}",
            list.len()
        );
    }
    // Nothing at the unassigned POI.
    let other = st.seconds(&gw, "unassigned", Dir::Ul, from, to).unwrap();
    assert!(other.iter().all(|r| r.bytes == 0), "{other:?}");

    // Prometheus sees the same totals (the scrape is in the gateway's namespace).
    let metrics = lab.scrape_metrics();
    let series = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{metrics}"))
    };
    let poi_ul = series("mupf_poi_bytes_total{poi=\"docomo\",direction=\"uplink\"}");
    assert!(
        poi_ul >= ul_fwd as f64,
        "/metrics POI uplink bytes {poi_ul} cover the session's {ul_fwd}"
    );
    assert_eq!(
        series("mupf_poi_sessions{poi=\"docomo\"}"),
        list.len() as f64
    );
    assert!(series("mupf_pfcp_rx_messages_total{type=\"session_establishment_request\"}") >= 1.0);

    // The report reads minute rows: wait for the traffic's last minute to
    // be rolled up.
    let next_minute = (t1 / 60.0).ceil() * 60.0 + 3.0;
    std::thread::sleep(Duration::from_secs_f64((next_minute - unix_f64()).max(0.0)));
    let out = lab.upfctl_report(&["--poi", "docomo", "--dir", "ul", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&out).expect("report JSON");
    let hour_start = (t0 as i64).div_euclid(3600) * 3600;
    let days: Vec<&serde_json::Value> = r["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["busy_hour"].is_null())
        .collect();
    assert_eq!(days.len(), 1, "one day with a busy hour: {r}");
    let bh = &days[0]["busy_hour"];
    assert_eq!(
        bh["start"].as_i64(),
        Some(hour_start),
        "the busy hour is the traffic's: {bh}"
    );
    let coverage = bh["coverage"].as_f64().unwrap();
    // The hour was measured from the daemon's start to the last rolled-up minute.
    let measured = coverage * 3600.0;
    let ran = next_minute.floor() - 3.0 - started_at(&lab) as f64;
    assert!(
        (measured - ran).abs() <= 3.0,
        "the hour's coverage ({measured:.0} s) is the time upfd ran in it ({ran:.0} s)"
    );
    let want = ul_fwd as f64 * 8.0 / measured / 1e6;
    let got = bh["mbps"].as_f64().unwrap();
    eprintln!("report: busy hour {bh}; want {want:.4} Mbit/s");
    assert!(
        (got / want - 1.0).abs() <= 0.01,
        "busy hour {got:.4} Mbit/s, expected {want:.4} (±1 %)"
    );
    assert_eq!(
        r["summary"]["peak_hour"]["start"].as_i64(),
        Some(hour_start)
    );
}

/// When upfd logged that the peak-hour meter was on (Unix seconds).
fn started_at(lab: &Lab) -> i64 {
    let log = lab.log();
    let line = log
        .lines()
        .find(|l| l.contains("peak-hour meter on"))
        .unwrap_or_else(|| panic!("no meter start in the log:\n{log}"));
    let stamp = line.split_whitespace().next().unwrap();
    log_time(stamp)
}

/// Parses the log's RFC 3339 UTC timestamp ("2026-11-23T04:00:39.596269Z") to Unix seconds.
fn log_time(s: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", s, "+%s"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("date of {s:?}"))
}

/// SIGKILL under traffic: the store lost at most the second being
/// measured, opens cleanly for the restarted daemon, and the time it was
/// down is a recorded gap, not zeros.
#[test]
fn a_killed_daemon_loses_at_most_a_second_and_its_store_reopens() {
    let _serial = serial();
    let mut lab = Lab::up_with_tail(Mode::Generic, "", POI);
    let mut smf = associated(&lab);
    open(&lab, &mut smf, &plan());
    let started = unix_f64();
    let ul = offer(&lab, 0, true, 4_000_000, Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(5300));
    lab.kill_upfd();
    let killed = unix_f64();
    ul.join().unwrap();
    let gw = gateway(&lab);
    let last = {
        let mut st = meter_store(&lab);
        let rows = st
            .seconds(
                &gw,
                "docomo",
                Dir::Ul,
                started as i64 - 2,
                killed as i64 + 2,
            )
            .unwrap();
        let last = rows
            .iter()
            .map(|r| r.ts)
            .max()
            .expect("seconds before the kill");
        let first = rows.iter().map(|r| r.ts).min().unwrap();
        assert_eq!(
            rows.len() as i64,
            last - first + 1,
            "no hole in the seconds before the kill"
        );
        assert!(
            rows.iter().filter(|r| r.bytes > 0).count() >= 3,
            "traffic was metered before the kill: {rows:?}"
        );
        let lost = killed - (last + 1) as f64;
        eprintln!("killed at {killed:.2}; last stored second {last} (lost {lost:.2} s)");
        assert!(
            lost <= 1.1,
            "{lost:.2} s of samples lost (at most one second allowed)"
        );
        last
    };
    std::thread::sleep(Duration::from_secs(2));
    lab.start_upfd();
    std::thread::sleep(Duration::from_millis(3500));
    let mut st = meter_store(&lab);
    let now = unix_f64() as i64;
    let after = st
        .seconds(&gw, "docomo", Dir::Ul, last + 1, now + 1)
        .unwrap();
    let resumed = after.iter().map(|r| r.ts).min().unwrap_or_else(|| {
        panic!(
            "the restarted daemon writes to the store again\n{}",
            lab.log()
        )
    });
    assert!(
        resumed as f64 >= killed,
        "nothing invented while down: {after:?}"
    );
    let gaps = st.gaps(std::slice::from_ref(&gw), last, now).unwrap();
    assert!(
        gaps.iter().any(|g| g.start == last + 1 && g.end == resumed),
        "a gap from {} to {resumed} is recorded: {gaps:?}",
        last + 1
    );
    // The minute the kill interrupted is rolled up (at restart, or when it
    // ends if upfd came back within it) with only its measured seconds.
    let kill_minute = last - last.rem_euclid(60);
    let rolled = (kill_minute + 60) as f64 + 3.0;
    std::thread::sleep(Duration::from_secs_f64((rolled - unix_f64()).max(0.0)));
    let minutes = st
        .rows(
            std::slice::from_ref(&gw),
            "docomo",
            Dir::Ul,
            60,
            kill_minute,
            kill_minute + 60,
        )
        .unwrap();
    let m = minutes.first().expect("the interrupted minute's row");
    // The seconds between the kill and the restart were not measured.
    let down = (resumed - (last + 1)).min(kill_minute + 60 - (last + 1));
    assert!(
        m.covered as i64 <= 60 - down,
        "{down} s of the minute were not measured: {m:?}"
    );
}
