//! Hitless restart (issue: survive faults): with `gateway.pin_dir` the
//! fast path and its maps outlive the daemon, the sessions and
//! associations are saved, and a restarted daemon re-adopts them with the
//! same Recovery Time Stamp. Then SIGTERM leaves the fast path forwarding,
//! and `upfd --reset` is the full reset.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mvno_upf_tests::rate::{Arrivals, Sent};
use mvno_upf_tests::smf::{self, SessionPlan, LAB_RAN};
use upf_pfcp::Cause;

/// lab.sh mounts a bpffs at /run/mupf-bpf (`ip netns exec` hides /sys/fs/bpf).
const PIN: &str = "pin_dir = \"/run/mupf-bpf/@ID@\"";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every packet sent arrived exactly once.
fn all_arrived(what: &str, sent: &Sent, got: &Arrivals, log: &str) {
    let n = sent.at_ns.len() as u64;
    assert!(n > 100, "{what}: only {n} packets sent");
    assert_eq!(sent.refused, 0, "{what}: the sender's socket refused some");
    let missing: Vec<u64> = (0..n)
        .filter(|seq| got.delivered_of(*seq..*seq + 1) == 0)
        .take(20)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {n} packets lost, first {missing:?}\nupfd log:\n{log}",
        n - got.delivered_of(0..n)
    );
    assert_eq!(got.duplicates(), 0, "{what}: duplicates");
}

#[test]
fn kill_9_and_restart_lose_no_packet_and_keep_sessions_and_recovery_time_stamp() {
    let _serial = serial();
    let mut lab = Lab::up_with(Mode::Generic, PIN);
    let pins = lab.pin_dir();
    assert!(
        pins.join("UPLINK").exists(),
        "maps pinned in {}",
        pins.display()
    );
    let mut smf = associated(&lab);
    let before = smf.heartbeat().expect("heartbeat").recovery_time_stamp;
    let s = open(&lab, &mut smf, &SessionPlan::five_g(0x9001, &[9], 9));
    let mut other = SessionPlan::four_g(0x901, "10.45.9.10".parse().unwrap(), 0x9002);
    other.urr = true;
    let s4 = open(&lab, &mut smf, &other);

    // Traffic both ways for 3 s; upfd is SIGKILLed at 0.8 s and started
    // again at once (it waits for its control socket: about 0.3-1 s).
    let until = ms(3000);
    let ul = Flow::start(&lab, &s, true, until);
    let dl = Flow::start(&lab, &s, false, until);
    std::thread::sleep(ms(800));
    lab.kill_upfd();
    let down_at = Instant::now();
    lab.start_upfd();
    let downtime = down_at.elapsed();
    let (ul_sent, ul_got) = ul.finish();
    let (dl_sent, dl_got) = dl.finish();
    let log = lab.log();
    eprintln!(
        "restart took {downtime:?}; uplink {} sent, downlink {} sent",
        ul_sent.at_ns.len(),
        dl_sent.at_ns.len()
    );
    assert!(
        log.contains("re-adopting the pinned fast path")
            && log.contains("sessions re-adopted")
            && log.contains("program replaced in place"),
        "{log}"
    );
    all_arrived("uplink", &ul_sent, &ul_got, &log);
    all_arrived("downlink", &dl_sent, &dl_got, &log);

    // The SMF sees no restart: the same stamp in the heartbeat, and the
    // association and sessions are served as before.
    let after = smf.heartbeat().expect("heartbeat after the restart");
    assert_eq!(
        after.recovery_time_stamp, before,
        "Recovery Time Stamp kept"
    );
    // The counters carried on through the restart: the URR reports every
    // uplink packet sent, before, during and after the kill.
    let (_, r) = smf
        .modify(s.up_seid, smf::query_urr(smf::URR))
        .expect("Query URR");
    assert_eq!(r.cause, Cause::REQUEST_ACCEPTED, "{r:?}\n{log}");
    let usage = smf::Usage::of(&r.usage_report[0]).expect("a volume measurement");
    assert_eq!(
        usage.ul_octets,
        ul_sent.at_ns.len() as u64 * INNER as u64,
        "{usage:?}"
    );
    // Modifiable: the downlink moves to another TEID at once.
    let (_, r) = smf
        .modify(
            s.up_seid,
            smf::move_downlink(smf::FAR_DL, 0x9003, LAB_RAN, false),
        )
        .expect("Update FAR");
    assert_eq!(r.cause, Cause::REQUEST_ACCEPTED, "{r:?}");
    let mut moved = s.clone();
    moved.plan.remote_teid = 0x9003;
    let (sent, got) = Flow::start(&lab, &moved, false, ms(200)).finish();
    assert_eq!(
        got.delivered_of(0..sent.at_ns.len() as u64),
        sent.at_ns.len() as u64,
        "downlink on the new TEID"
    );
    // And deletable.
    let (_, r) = smf.delete(s4.up_seid).expect("deletion");
    assert_eq!(r.cause, Cause::REQUEST_ACCEPTED, "{r:?}");
    // A new session gets what the re-adopted ones do not hold.
    let s2 = open(&lab, &mut smf, &SessionPlan::five_g(0x9004, &[9], 9));
    assert_ne!(s2.teid(), s.teid());
    assert_ne!(s2.ue(), s.ue());
    assert_ne!(s2.up_seid, s.up_seid);
    assert!(all_of(uplink_burst(&lab, &s2)), "the new session forwards");

    // SIGTERM with gateway.on_exit = "keep" (the default with pin_dir):
    // the daemon exits, the fast path keeps forwarding.
    let st = lab.stop_upfd();
    assert!(st.success(), "upfd exit status {st}\n{}", lab.log());
    assert!(lab.log().contains("keeps forwarding"));
    let b = uplink_burst(&lab, &s);
    assert!(all_of(b), "forwarding without a daemon: {b:?}");

    // The full reset: pins gone, the program detached, a new stamp, and
    // the SMF's old sessions unknown to the next daemon.
    let out = lab.upfd_cmd(&["--reset"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("link_") && text.contains("UPLINK"), "{text}");
    assert!(!pins.exists(), "{} removed", pins.display());
    assert_eq!(uplink_burst(&lab, &s).1, 0, "detached: nothing forwarded");
    drop(smf);
    lab.start_upfd();
    let mut smf = associated(&lab);
    let fresh = smf.heartbeat().expect("heartbeat").recovery_time_stamp;
    assert_ne!(
        fresh, before,
        "a full reset takes a new Recovery Time Stamp"
    );
    let (_, r) = smf
        .modify(s.up_seid, smf::query_urr(smf::URR))
        .expect("answered");
    assert_eq!(r.cause, Cause::SESSION_CONTEXT_NOT_FOUND, "{r:?}");
}

/// Without pin_dir nothing outlives the daemon: every start is a full
/// reset, so the Recovery Time Stamp changes and the SMF knows its
/// sessions are gone; SIGTERM detaches.
#[test]
fn without_pinning_a_restart_is_a_full_reset() {
    let mut lab = Lab::up(Mode::Generic);
    assert!(!lab.pin_dir().exists());
    let mut smf = associated(&lab);
    let before = smf.heartbeat().expect("heartbeat").recovery_time_stamp;
    let s = open(&lab, &mut smf, &SessionPlan::five_g(0x9101, &[9], 9));
    assert!(all_of(uplink_burst(&lab, &s)));
    let st = lab.stop_upfd();
    assert!(st.success(), "{st}");
    assert!(lab.log().contains("XDP detached"), "{}", lab.log());
    assert_eq!(uplink_burst(&lab, &s).1, 0, "detached at SIGTERM");
    // One second later, so that a new stamp (NTP seconds) can differ.
    std::thread::sleep(ms(1100));
    drop(smf);
    lab.start_upfd();
    let mut smf = associated(&lab);
    let after = smf.heartbeat().expect("heartbeat").recovery_time_stamp;
    assert_ne!(after, before);
}

/// Pinned maps of other sizes are never re-adopted: after a change of
/// gateway.max_sessions upfd refuses to start, names the map and the way
/// out, and starts after `upfd --reset`.
#[test]
fn pinned_maps_of_other_sizes_are_refused_until_a_reset() {
    let mut lab = Lab::up_with(Mode::Generic, &format!("{PIN}\non_exit = \"detach\""));
    assert!(lab.pin_dir().join("UPLINK").exists());
    let st = lab.stop_upfd();
    assert!(st.success(), "{st}");
    assert!(
        lab.log().contains("XDP detached (link unpinned)"),
        "{}",
        lab.log()
    );
    assert!(
        lab.pin_dir().join("UPLINK").exists(),
        "maps kept with on_exit = detach"
    );
    let cfg = lab.dir.join("upf.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("max_sessions = 100000", "max_sessions = 50000"),
    )
    .unwrap();
    // Bounded: a daemon that wrongly starts is stopped after 20 s.
    let out = run(std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("mupf-{}-gw", lab.id),
            "timeout",
            "20",
        ])
        .arg(bin("upfd"))
        .arg("--config")
        .arg(&cfg));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("UPLINK")
            && err.contains("100000")
            && err.contains("50000")
            && err.contains("upfd --reset"),
        "{err}"
    );
    let out = lab.upfd_cmd(&["--reset"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.start_upfd();
    assert!(lab.pin_dir().join("UPLINK").exists());
}
