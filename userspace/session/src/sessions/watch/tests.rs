//! The poll's timers and touched slots: what a poll visits, that deadlines
//! follow every change of a URR or session, and that the reports are those
//! of evaluating every URR at every poll (the reference, `evaluate_all`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;

use upf_abi::{ACT_DROP, ACT_FORWARD, ACT_QUOTA_EXHAUSTED};
use upf_pfcp::ie::*;
use upf_pfcp::message::{SessionEstablishmentRequest, SessionModificationRequest};

use super::{Timer, UsagePoll, COMPACT_ABOVE};
use crate::datapath::fake::FakeDatapath;
use crate::rules::Urr;
use crate::sessions::tests::*;
use crate::sessions::{PendingReport, Sessions};

/// The watch agrees with the sessions: a heap entry at each URR's
/// deadline, the sessions with volume triggers, and each counter slot's
/// session (and no other slot held).
fn check_watch(m: &Sessions<FakeDatapath>) {
    let w = &m.usage;
    let heap: BTreeSet<Timer> = w.timers.iter().map(|r| r.0).collect();
    let mut volume = BTreeSet::new();
    let mut slots = BTreeSet::new();
    for s in m.sessions.values() {
        for u in s.rules.urrs.values() {
            if let Some(d) = u.next_time_due() {
                assert!(
                    heap.contains(&(d, s.up_seid, u.id)),
                    "session {:#x} URR {} due at {d}: no timer in {heap:?}",
                    s.up_seid,
                    u.id
                );
            }
        }
        if s.rules.urrs.values().any(Urr::volume_watched) {
            volume.insert(s.up_seid);
        }
        for p in s.rules.pdrs.values() {
            assert_eq!(
                w.slot_owner(p.counter),
                Some(s.up_seid),
                "slot {}",
                p.counter
            );
            slots.insert(p.counter);
        }
    }
    assert_eq!(w.volume, volume, "sessions with volume triggers");
    assert!(w.pending.is_subset(&w.volume));
    let held: BTreeSet<u32> = (0..m.dp.capacity.counter_slots)
        .filter(|s| w.slot_owner(*s).is_some())
        .collect();
    assert_eq!(held, slots, "slots indexed = slots held");
}

fn reads(m: &Sessions<FakeDatapath>) -> usize {
    m.datapath().counter_reads.load(Ordering::Relaxed)
}

fn ue_of(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 45, 1, i as u8)
}

/// A 4G session (TEID 0x100 + i, UE 10.45.1.i) with URRs `urrs`, every one
/// on both PDRs.
fn session_with(i: u32, urrs: Vec<CreateUrr>) -> SessionEstablishmentRequest {
    let mut req = est_4g(0x70 + u64::from(i), 0x100 + i);
    req.create_pdr[0].pdi.ue_ip_address = Some(ue(Some(ue_of(i)), false));
    req.create_pdr[1].pdi.ue_ip_address = Some(ue(Some(ue_of(i)), true));
    for p in &mut req.create_pdr {
        p.urr_ids = urrs.iter().map(|u| u.urr_id).collect();
    }
    req.create_urr = urrs;
    req
}

fn volth(id: u32, total: u64) -> CreateUrr {
    CreateUrr {
        urr_id: UrrId(id),
        reporting_triggers: triggers(ReportingTriggers::VOLTH),
        volume_threshold: Some(VolumeThreshold(vol(Some(total), None, None))),
        ..urr()
    }
}

fn perio(id: u32, secs: u32) -> CreateUrr {
    CreateUrr {
        urr_id: UrrId(id),
        reporting_triggers: triggers(ReportingTriggers::PERIO),
        measurement_period: Some(MeasurementPeriod(secs)),
        ..urr()
    }
}

fn timth(id: u32, secs: u32) -> CreateUrr {
    CreateUrr {
        urr_id: UrrId(id),
        reporting_triggers: triggers(ReportingTriggers::TIMTH),
        time_threshold: Some(TimeThreshold(secs)),
        ..urr()
    }
}

/// What SMFs install for charging: a 1000-octet threshold (URR 1) and a
/// 60 s period (URR 2).
fn charging(i: u32) -> SessionEstablishmentRequest {
    session_with(i, vec![volth(1, 1000), perio(2, 60)])
}

/// Update PDR linking PDR `pdr` to URRs `urrs` (not empty: empty means
/// unchanged).
fn link(pdr: u16, urrs: &[u32]) -> UpdatePdr {
    UpdatePdr {
        pdr_id: PdrId(pdr),
        outer_header_removal: None,
        precedence: None,
        pdi: None,
        far_id: None,
        urr_ids: urrs.iter().map(|u| UrrId(*u)).collect(),
        qer_ids: Vec::new(),
        activate_predefined_rules: Vec::new(),
        deactivate_predefined_rules: Vec::new(),
        unknown: Vec::new(),
    }
}

/// (URR ID, trigger bits) of each usage report, session by session.
fn fired(got: &[PendingReport]) -> Vec<(u64, Vec<(u32, u32)>)> {
    got.iter()
        .map(|p| {
            let r = &p.request.usage_report;
            let v = r.iter().map(|u| (u.urr_id.0, u.usage_report_trigger.0));
            (p.up_seid, v.collect())
        })
        .collect()
}

#[test]
fn an_idle_session_is_not_visited_between_its_deadlines() {
    let mut m = manager();
    let seids: Vec<u64> = (0..10)
        .map(|i| m.establish(PEER, &charging(i), 1000 + i).unwrap().up_seid)
        .collect();
    check_watch(&m);
    // The first poll evaluates what the establishments set up.
    assert!(m.poll_usage(1010).is_empty());
    assert_eq!(m.last_usage_poll().sessions, 10);
    let before = reads(&m);
    for now in 1011..1060 {
        assert!(m.poll_usage(now).is_empty());
        assert_eq!(
            m.last_usage_poll(),
            UsagePoll {
                timers_due: 0,
                touched_slots: Some(0),
                sessions: 0,
                urrs: 0,
            },
            "at {now}"
        );
    }
    assert_eq!(reads(&m), before, "no counter read between deadlines");
    // At 1060 the first session's period is due, and only it is visited:
    // one URR, read from its two PDRs.
    let got = m.poll_usage(1060);
    assert_eq!(
        fired(&got),
        vec![(seids[0], vec![(2, UsageReportTrigger::PERIO)])]
    );
    assert_eq!(
        m.last_usage_poll(),
        UsagePoll {
            timers_due: 1,
            touched_slots: Some(0),
            sessions: 1,
            urrs: 1,
        }
    );
    assert_eq!(reads(&m), before + 2);
    for (i, seid) in seids.iter().enumerate().skip(1) {
        let got = m.poll_usage(1060 + i as u32);
        assert_eq!(
            fired(&got),
            vec![(*seid, vec![(2, UsageReportTrigger::PERIO)])]
        );
        assert_eq!(m.last_usage_poll().sessions, 1);
    }
    check_watch(&m);
}

#[test]
fn a_volume_threshold_fires_on_the_poll_after_traffic_visiting_that_session_only() {
    let mut m = manager();
    let seids: Vec<u64> = (0..10)
        .map(|i| m.establish(PEER, &charging(i), 1000).unwrap().up_seid)
        .collect();
    assert!(m.poll_usage(1001).is_empty());
    let before = reads(&m);
    set_counters(&mut m, seids[3], 600, 600);
    let got = m.poll_usage(1002);
    assert_eq!(
        fired(&got),
        vec![(seids[3], vec![(1, UsageReportTrigger::VOLTH)])]
    );
    assert_eq!(volumes(&got[0].request.usage_report[0]).0, 1200);
    assert_eq!(
        m.last_usage_poll(),
        UsagePoll {
            timers_due: 0,
            touched_slots: Some(1),
            sessions: 1,
            urrs: 1,
        },
        "the volume URR of the touched session only"
    );
    assert_eq!(reads(&m), before + 2, "its two PDRs");
    // Nothing moved since: nothing visited.
    assert!(m.poll_usage(1003).is_empty());
    assert_eq!(m.last_usage_poll().sessions, 0);
    // Traffic below the threshold: visited, not reported.
    set_counters(&mut m, seids[4], 100, 0);
    assert!(m.poll_usage(1004).is_empty());
    assert_eq!(m.last_usage_poll().sessions, 1);
    check_watch(&m);
}

#[test]
fn without_touched_slots_every_volume_trigger_is_evaluated() {
    let mut m = manager();
    m.datapath_mut().tells_touched = false;
    let seids: Vec<u64> = (0..5)
        .map(|i| m.establish(PEER, &charging(i), 1000).unwrap().up_seid)
        .collect();
    let periodic = m
        .establish(PEER, &session_with(5, vec![perio(1, 60)]), 1000)
        .unwrap()
        .up_seid;
    for now in [1001, 1002] {
        assert!(m.poll_usage(now).is_empty());
        assert_eq!(
            m.last_usage_poll(),
            UsagePoll {
                timers_due: 0,
                touched_slots: None,
                sessions: 5,
                urrs: 5,
            },
            "every volume URR, no periodic one before its time"
        );
    }
    set_counters(&mut m, seids[2], 1000, 0);
    let got = m.poll_usage(1003);
    assert_eq!(
        fired(&got),
        vec![(seids[2], vec![(1, UsageReportTrigger::VOLTH)])]
    );
    // The periods come by their timers: every session reports at 1060.
    let got = m.poll_usage(1060);
    let mut want: Vec<(u64, Vec<(u32, u32)>)> = seids
        .iter()
        .map(|s| (*s, vec![(2, UsageReportTrigger::PERIO)]))
        .collect();
    want.push((periodic, vec![(1, UsageReportTrigger::PERIO)]));
    assert_eq!(fired(&got), want);
    assert_eq!(m.last_usage_poll().timers_due, 6);
    assert_eq!(m.last_usage_poll().urrs, 11);
    check_watch(&m);
}

#[test]
fn timers_follow_update_removal_and_deletion() {
    let mut m = manager();
    let seid = m
        .establish(
            PEER,
            &session_with(0, vec![perio(1, 60), timth(2, 27)]),
            1000,
        )
        .unwrap()
        .up_seid;
    check_watch(&m);
    let modify = |m: &mut Sessions<FakeDatapath>, req: SessionModificationRequest, now| {
        let done = m.modify(seid, &req, now).unwrap();
        check_watch(m);
        done
    };
    // A changed period re-arms from the update: 1005 + 10.
    let period = SessionModificationRequest {
        update_urr: vec![UpdateUrr {
            measurement_period: Some(MeasurementPeriod(10)),
            ..UpdateUrr::of(UrrId(1))
        }],
        ..Default::default()
    };
    modify(&mut m, period, 1005);
    assert!(m.poll_usage(1014).is_empty());
    assert_eq!(m.last_usage_poll().timers_due, 0);
    let got = m.poll_usage(1015);
    assert_eq!(
        fired(&got),
        vec![(seid, vec![(1, UsageReportTrigger::PERIO)])]
    );
    // A removed URR reports once, on its removal, and its timer (1027) is dead.
    let remove = SessionModificationRequest {
        remove_urr: vec![RemoveUrr { urr_id: UrrId(2) }],
        update_pdr: vec![link(1, &[1]), link(2, &[1])],
        ..Default::default()
    };
    let done = modify(&mut m, remove, 1020);
    assert_eq!(done.reports.len(), 1);
    assert_eq!(
        done.reports[0].usage_report_trigger.0,
        UsageReportTrigger::TERMR
    );
    let got = m.poll_usage(1025);
    assert_eq!(
        fired(&got),
        vec![(seid, vec![(1, UsageReportTrigger::PERIO)])]
    );
    assert!(
        m.poll_usage(1027).is_empty(),
        "no report for the removed URR"
    );
    assert_eq!(m.last_usage_poll().timers_due, 0);
    // A new URR under the same ID has its own deadline.
    let create = SessionModificationRequest {
        create_urr: vec![timth(2, 4)],
        update_pdr: vec![link(1, &[1, 2]), link(2, &[1, 2])],
        ..Default::default()
    };
    modify(&mut m, create, 1028);
    assert!(m.poll_usage(1031).is_empty());
    let got = m.poll_usage(1032);
    assert_eq!(
        fired(&got),
        vec![(seid, vec![(2, UsageReportTrigger::TIMTH)])]
    );
    // A query restarts the measurement: the time threshold counts from it.
    let query = SessionModificationRequest {
        query_urr: vec![QueryUrr { urr_id: UrrId(2) }],
        ..Default::default()
    };
    modify(&mut m, query, 1034);
    assert_eq!(
        fired(&m.poll_usage(1035)),
        vec![(seid, vec![(1, UsageReportTrigger::PERIO)])]
    );
    assert!(
        m.poll_usage(1037).is_empty(),
        "1032 + 4 passed, 1034 + 4 not"
    );
    assert_eq!(
        fired(&m.poll_usage(1038)),
        vec![(seid, vec![(2, UsageReportTrigger::TIMTH)])]
    );
    // Deleted: its deadlines (1042, 1045) come and nothing is visited.
    m.delete(seid, 1040).unwrap();
    check_watch(&m);
    for now in 1041..1100 {
        assert!(m.poll_usage(now).is_empty());
        assert_eq!(m.last_usage_poll().timers_due, 0);
    }
    assert!(m.usage.volume.is_empty() && m.usage.pending.is_empty());
    // Its slots go to the next session.
    let next = m.establish(PEER, &charging(1), 1100).unwrap().up_seid;
    check_watch(&m);
    set_counters(&mut m, next, 1000, 0);
    assert_eq!(
        fired(&m.poll_usage(1101)),
        vec![(next, vec![(1, UsageReportTrigger::VOLTH)])]
    );
}

#[test]
fn deadlines_and_volume_triggers_survive_a_restart() {
    let mut m = manager();
    m.track_dirty();
    let seid = m.establish(PEER, &charging(0), 1000).unwrap().up_seid;
    assert!(m.poll_usage(1001).is_empty());
    let records = through_store(m.take_dirty());
    let cfg = m.config().clone();
    let mut dp = m.into_datapath();
    // While the daemon was down: traffic, and two periods (1060, 1120).
    let slot = records[0].session.rules.pdrs[&1].counter;
    dp.counters.get_mut(&slot).unwrap().ul_bytes = 1500;
    let mut m = Sessions::new(dp, cfg);
    m.restore(records).unwrap();
    check_watch(&m);
    let got = m.poll_usage(1130);
    assert_eq!(
        fired(&got),
        vec![(
            seid,
            vec![
                (1, UsageReportTrigger::VOLTH),
                (2, UsageReportTrigger::PERIO)
            ]
        )]
    );
    assert_eq!(
        got[0].request.usage_report[1].start_time,
        Some(StartTime(1000))
    );
    // One report for the missed periods; the grid holds.
    assert!(m.poll_usage(1179).is_empty());
    assert_eq!(
        fired(&m.poll_usage(1180)),
        vec![(seid, vec![(2, UsageReportTrigger::PERIO)])]
    );
    check_watch(&m);
}

#[test]
fn a_held_back_quota_report_is_evaluated_again_at_the_next_poll() {
    let quota_drop = ACT_DROP | ACT_QUOTA_EXHAUSTED;
    // A volume quota: the retry needs no new traffic.
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::VOLQU),
            volume_quota: Some(VolumeQuota(vol(Some(1000), None, None))),
            ..urr()
        },
    );
    assert!(m.poll_usage(1001).is_empty());
    set_counters(&mut m, seid, 1000, 0);
    m.datapath_mut().fail_next_downlink = true;
    assert!(m.poll_usage(1002).is_empty(), "held back");
    assert_eq!(default_flags(&m), (ACT_FORWARD, ACT_FORWARD));
    let r = poll_one(&mut m, seid, 1003);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::VOLQU);
    assert_eq!(default_flags(&m), (quota_drop, quota_drop));
    // A time quota: its deadline stays due.
    let mut m = manager();
    let seid = with_urr(
        &mut m,
        CreateUrr {
            reporting_triggers: triggers(ReportingTriggers::TIMQU),
            time_quota: Some(TimeQuota(10)),
            ..urr()
        },
    );
    m.datapath_mut().fail_next_downlink = true;
    assert!(m.poll_usage(1010).is_empty(), "held back");
    assert_eq!(m.last_usage_poll().timers_due, 1);
    let r = poll_one(&mut m, seid, 1011);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::TIMQU);
    assert_eq!(r.duration_measurement, Some(DurationMeasurement(11)));
    assert_eq!(default_flags(&m), (quota_drop, quota_drop));
    check_watch(&m);
}

#[test]
fn stale_timers_do_not_pile_up() {
    let mut m = manager();
    let seid = m
        .establish(PEER, &session_with(0, vec![timth(1, 100)]), 1000)
        .unwrap()
        .up_seid;
    // Every update moves the deadline (back and forth: duplicates too).
    let n = COMPACT_ABOVE as u32 * 3;
    for i in 0..n {
        let req = SessionModificationRequest {
            update_urr: vec![UpdateUrr {
                time_threshold: Some(TimeThreshold(100 + i % 2)),
                ..UpdateUrr::of(UrrId(1))
            }],
            ..Default::default()
        };
        m.modify(seid, &req, 1000).unwrap();
    }
    // The first update kept the deadline; every other one pushed its own.
    assert_eq!(m.usage_timers(), n as usize, "one entry per move so far");
    assert!(m.poll_usage(1001).is_empty());
    assert_eq!(m.usage_timers(), 1, "rebuilt from the live deadline");
    check_watch(&m);
    // n is even: the last update set 101 s.
    assert!(m.poll_usage(1100).is_empty());
    let r = poll_one(&mut m, seid, 1101);
    assert_eq!(r.usage_report_trigger.0, UsageReportTrigger::TIMTH);
}

/// A small deterministic generator (xorshift64*), for the mixed workload.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % u64::from(n)) as u32
    }
}

/// A URR of a random kind among those the poll evaluates.
fn any_urr(rng: &mut Rng, id: u32) -> CreateUrr {
    match rng.below(6) {
        0 => volth(id, 500 + u64::from(rng.below(3)) * 500),
        1 => perio(id, 5 + rng.below(20)),
        2 => timth(id, 3 + rng.below(15)),
        3 => CreateUrr {
            urr_id: UrrId(id),
            reporting_triggers: triggers(ReportingTriggers::VOLQU | ReportingTriggers::TIMQU),
            volume_quota: Some(VolumeQuota(vol(Some(3000), None, None))),
            time_quota: Some(TimeQuota(30 + rng.below(30))),
            ..urr()
        },
        4 => CreateUrr {
            urr_id: UrrId(id),
            reporting_triggers: triggers(ReportingTriggers::PERIO | ReportingTriggers::VOLTH),
            measurement_period: Some(MeasurementPeriod(7 + rng.below(9))),
            volume_threshold: Some(VolumeThreshold(vol(None, Some(800), None))),
            ..urr()
        },
        _ => CreateUrr {
            urr_id: UrrId(id),
            ..urr()
        },
    }
}

/// The same random workload (establishments, traffic, Update, Query,
/// Remove and Create URR, deletions, polls at uneven intervals) on a
/// manager with timers and touched slots, one whose datapath cannot tell
/// touched slots, and the reference that evaluates every URR at every
/// poll: the same reports, sessions and datapath flags throughout.
#[test]
fn polls_report_what_evaluating_every_urr_at_every_poll_reports() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut reference = manager();
    reference.evaluate_all = true;
    let mut untold = manager();
    untold.datapath_mut().tells_touched = false;
    let mut ms = [manager(), untold, reference];
    let mut now = 1000;
    let mut live: Vec<(u32, u64)> = Vec::new();
    let mut reports = 0;
    for step in 0..3000 {
        match rng.below(10) {
            0 if live.len() < 12 => {
                let i = (0..).find(|i| live.iter().all(|l| l.0 != *i)).unwrap();
                let urrs = 1 + rng.below(3);
                let urrs = (1..=urrs).map(|id| any_urr(&mut rng, id)).collect();
                let req = session_with(i, urrs);
                let seids: Vec<u64> = ms
                    .iter_mut()
                    .map(|m| m.establish(PEER, &req, now).unwrap().up_seid)
                    .collect();
                assert!(seids.iter().all(|s| *s == seids[0]));
                live.push((i, seids[0]));
            }
            1..=3 if !live.is_empty() => {
                let (_, seid) = live[rng.below(live.len() as u32) as usize];
                let (ul, dl) = (u64::from(rng.below(700)), u64::from(rng.below(700)));
                for m in &mut ms {
                    let slot = m.get(seid).unwrap().rules.pdrs[&1].counter;
                    let c = m.datapath_mut().counters.entry(slot).or_default();
                    c.ul_bytes += ul;
                    c.ul_packets += ul / 100;
                    c.dl_bytes += dl;
                    c.dl_packets += dl / 100;
                }
            }
            4 if !live.is_empty() => {
                let (_, seid) = live[rng.below(live.len() as u32) as usize];
                let ids: Vec<u32> = ms[0]
                    .get(seid)
                    .unwrap()
                    .rules
                    .urrs
                    .keys()
                    .copied()
                    .collect();
                let id = ids[rng.below(ids.len() as u32) as usize];
                let req = match rng.below(4) {
                    0 => SessionModificationRequest {
                        query_urr: vec![QueryUrr { urr_id: UrrId(id) }],
                        ..Default::default()
                    },
                    1 => {
                        let c = any_urr(&mut rng, id);
                        SessionModificationRequest {
                            update_urr: vec![UpdateUrr {
                                measurement_method: Some(c.measurement_method),
                                reporting_triggers: Some(c.reporting_triggers),
                                measurement_period: c.measurement_period,
                                volume_threshold: c.volume_threshold,
                                volume_quota: c.volume_quota,
                                time_threshold: c.time_threshold,
                                time_quota: c.time_quota,
                                ..UpdateUrr::of(UrrId(id))
                            }],
                            ..Default::default()
                        }
                    }
                    // A new URR under the same ID: removed (the PDRs keep
                    // the others; refused alike when none is left), then
                    // created and linked again in the next request.
                    _ => {
                        let rest: Vec<u32> = ids.iter().copied().filter(|u| *u != id).collect();
                        SessionModificationRequest {
                            remove_urr: vec![RemoveUrr { urr_id: UrrId(id) }],
                            update_pdr: match rest.is_empty() {
                                true => Vec::new(),
                                false => vec![link(1, &rest), link(2, &rest)],
                            },
                            ..Default::default()
                        }
                    }
                };
                let removed = !req.remove_urr.is_empty();
                let done: Vec<_> = ms
                    .iter_mut()
                    .map(|m| m.modify(seid, &req, now).map(|d| d.reports))
                    .collect();
                assert!(done.iter().all(|d| *d == done[0]), "step {step}: {done:?}");
                if removed && done[0].is_ok() {
                    let again = SessionModificationRequest {
                        create_urr: vec![any_urr(&mut rng, id)],
                        update_pdr: vec![link(1, &ids), link(2, &ids)],
                        ..Default::default()
                    };
                    let done: Vec<_> = ms
                        .iter_mut()
                        .map(|m| m.modify(seid, &again, now).map(|d| d.reports))
                        .collect();
                    assert!(done.iter().all(|d| *d == done[0]), "step {step}: {done:?}");
                }
            }
            5 if !live.is_empty() => {
                let k = rng.below(live.len() as u32) as usize;
                let (_, seid) = live.swap_remove(k);
                let done: Vec<_> = ms.iter_mut().map(|m| m.delete(seid, now)).collect();
                assert!(done.iter().all(|d| *d == done[0]), "step {step}");
            }
            _ => {
                now += rng.below(4);
                let got: Vec<_> = ms.iter_mut().map(|m| m.poll_usage(now)).collect();
                assert_eq!(
                    got[0], got[2],
                    "step {step} at {now}: timers and touched slots"
                );
                assert_eq!(got[1], got[2], "step {step} at {now}: timers alone");
                reports += got[0].len();
            }
        }
        check_watch(&ms[0]);
        check_watch(&ms[1]);
        let json = |m: &Sessions<FakeDatapath>| {
            let s: Vec<_> = m
                .sessions()
                .values()
                .map(|s| serde_json::to_value(&**s).unwrap())
                .collect();
            let mut entries: Vec<_> = m
                .datapath()
                .uplink
                .iter()
                .map(|(k, v)| (*k, v.default.flags))
                .collect();
            entries.sort_unstable();
            (s, entries)
        };
        let r = json(&ms[2]);
        assert!(
            json(&ms[0]) == r && json(&ms[1]) == r,
            "step {step}: the sessions differ"
        );
    }
    assert!(reports > 300, "the workload reported ({reports})");
}
