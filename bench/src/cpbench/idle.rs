//! The scale scenario (`cp-bench --idle-urrs N`): N sessions, each with a
//! Volume Threshold URR and a periodic URR, held by one upfd while nothing
//! happens but heartbeats and the periodic usage reports.
//!
//! 1. Install N sessions over N4 (the 4G establishment of the codec bench,
//!    fixed TEID and UE address, with two Create URRs instead of one: URR 1
//!    VOLTH with a 1 GB total Volume Threshold, Measurement Method VOLUM;
//!    URR 2 PERIO with a Measurement Period, Measurement Method DURAT and
//!    VOLUM; both PDRs name both URR IDs, TS 29.244 §7.5.2.4).
//! 2. Stay idle for `idle_secs`: the SMF sends Heartbeat Requests at
//!    `heartbeat_hz` and times each response; it answers every Session
//!    Report Request at once (Request accepted) and computes each
//!    report's lateness against upfd's own PERIO grid (below). upfd's CPU
//!    (utime + stime of the process and of each thread) is read at both
//!    ends of the window.
//! 3. With the N sessions still there, establish and delete
//!    `rate_sessions` more (the same message) and time both; the same is
//!    done once before the install, on an empty gateway, for comparison.
//! 4. upfd's memory (VmRSS, RssAnon) before the install and after the
//!    idle window.
//!
//! **The grid.** upfd starts a URR's measurement at the NTP second
//! (truncated wall clock) at which it handles the Create URR, and its PERIO
//! reports are due on the grid anchor + k × period from there
//! (`upf_session::urr`, docs/ARCHITECTURE.md "Usage reporting (URRs)"); a
//! report fires at the first evaluation at or after its due second and
//! covers every grid point since the previous report. The anchor is known
//! exactly from the first report (its Start Time); before that it is
//! estimated from the establishment (between the NTP seconds of the
//! request and of the response, which upfd's own must fall in: checked).
//! A grid point g is covered by the report whose (Start Time, End Time]
//! holds it, and its lateness is that report's arrival (the kernel's
//! receive time stamp on the SMF's socket) minus g. A grid point never
//! covered by the end of the run counts as more than 1 s late.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::ie::{
    CreateUrr, MeasurementMethod, MeasurementPeriod, ReportType, ReportingTriggers, UrrId,
    UsageReportTrigger, Volume, VolumeThreshold,
};
use upf_pfcp::message::{SessionEstablishmentRequest, SessionReportRequest};

use super::{
    msgs, pin_to_cpu, unix_now, Client, CpConfig, Lab, CACHE_SECS, CP_SEID_BASE, TEID_BASE, UE_BASE,
};
use crate::{check_interrupt, machine};

/// Seconds from the NTP era (1900) to the Unix epoch (1970).
const NTP_UNIX: u64 = 2_208_988_800;
/// The VOLTH URR.
const URR_VOLTH: u32 = 1;
/// The PERIO URR.
const URR_PERIO: u32 = 2;
/// A heartbeat not answered this long after the window ends is lost.
const HEARTBEAT_GIVE_UP: Duration = Duration::from_secs(3);

/// What to run.
#[derive(Clone, Debug)]
pub struct IdleConfig {
    /// The release `upfd` binary.
    pub upfd: PathBuf,
    /// Sessions installed and held (N).
    pub sessions: u32,
    /// Seconds of the idle window.
    pub idle_secs: u64,
    /// Measurement Period of the PERIO URR, seconds.
    pub period_secs: u32,
    /// Volume Threshold (total octets) of the VOLTH URR.
    pub threshold_bytes: u64,
    /// Outstanding requests during the install.
    pub window: usize,
    /// Sessions established then deleted for each rate figure.
    pub rate_sessions: u32,
    /// Outstanding requests of the rate figures.
    pub rate_window: usize,
    /// Heartbeat Requests per second from the SMF during the window.
    pub heartbeat_hz: u32,
}

impl IdleConfig {
    /// The full scenario with `sessions` sessions.
    pub fn new(upfd: PathBuf, sessions: u32) -> IdleConfig {
        IdleConfig {
            upfd,
            sessions,
            idle_secs: 60,
            period_secs: 60,
            threshold_bytes: 1_000_000_000,
            window: 16,
            rate_sessions: 50_000,
            rate_window: 16,
            heartbeat_hz: 10,
        }
    }

    /// CI's quick check: 2000 sessions, a 5 s period and a 12 s window,
    /// so that every session has reports due inside it.
    pub fn smoke(upfd: PathBuf) -> IdleConfig {
        IdleConfig {
            sessions: 2_000,
            idle_secs: 12,
            period_secs: 5,
            rate_sessions: 500,
            ..IdleConfig::new(upfd, 0)
        }
    }

    /// `gateway.max_sessions`: the N held plus the ones of the rate figure.
    pub fn max_sessions(&self) -> u32 {
        self.sessions + self.rate_sessions
    }
}

/// The two URRs: VOLTH on the total volume, PERIO every `period` seconds.
pub fn urrs(period: u32, threshold: u64) -> Vec<CreateUrr> {
    vec![
        CreateUrr {
            reporting_triggers: ReportingTriggers(ReportingTriggers::VOLTH),
            volume_threshold: Some(VolumeThreshold(Volume {
                total: Some(threshold),
                uplink: None,
                downlink: None,
            })),
            ..CreateUrr::new(
                UrrId(URR_VOLTH),
                MeasurementMethod {
                    duration: false,
                    volume: true,
                    event: false,
                },
            )
        },
        CreateUrr {
            reporting_triggers: ReportingTriggers(ReportingTriggers::PERIO),
            measurement_period: Some(MeasurementPeriod(period)),
            ..CreateUrr::new(
                UrrId(URR_PERIO),
                MeasurementMethod {
                    duration: true,
                    volume: true,
                    event: false,
                },
            )
        },
    ]
}

/// Session `i`'s establishment: the codec bench's 4G session (fixed TEID
/// and UE address by index) with the two URRs, named by both PDRs.
pub fn establishment(i: u32, period: u32, threshold: u64) -> SessionEstablishmentRequest {
    let mut req = msgs::establishment_4g(
        CP_SEID_BASE + u64::from(i),
        TEID_BASE + i,
        Ipv4Addr::from(UE_BASE + i),
    );
    req.create_urr = urrs(period, threshold);
    for p in &mut req.create_pdr {
        p.urr_ids = vec![UrrId(URR_VOLTH), UrrId(URR_PERIO)];
    }
    req
}

fn ntp_second(unix: f64) -> u32 {
    (unix.max(0.0) as u64 + NTP_UNIX) as u32
}

fn unix_of(ntp: u32) -> f64 {
    (u64::from(ntp) as f64) - NTP_UNIX as f64
}

/// One Usage Report of the PERIO URR as it arrived.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    session: u32,
    /// Start Time and End Time (NTP seconds).
    start: u32,
    end: u32,
    /// Kernel receive time, Unix seconds.
    at: f64,
    /// From arrival to our answer being sent, seconds.
    answer: f32,
}

/// What the SMF learnt of the installed sessions and their reports.
pub struct ReportLog {
    sessions: u32,
    period: u32,
    /// UP SEID by session index (0: not established).
    up_seid: Vec<u64>,
    /// UP SEIDs of sessions beyond the N (the rate figures' ones).
    extra_up_seid: std::collections::HashMap<u64, u64>,
    /// NTP seconds of the establishment request's first transmission and
    /// of its response: upfd's anchor lies between them.
    est: Vec<(u32, u32)>,
    /// Unix seconds of the establishment response's arrival.
    est_at: Vec<f64>,
    /// The anchor as upfd's first report gives it (0: not known yet).
    anchor: Vec<u32>,
    /// UR-SEQN expected next, by session (a lower one is a retransmission).
    next_seqn: Vec<u32>,
    arrivals: Vec<Arrival>,
    /// Reports of URRs other than the PERIO one, or for no known session,
    /// or without the USAR report type.
    pub unexpected: u64,
    /// Datagrams of type Session Report Request that did not parse, and
    /// PERIO reports without Start or End Time.
    pub malformed: u64,
    /// Reports seen before (upfd retransmitted: our answer was late or lost).
    pub duplicates: u64,
    /// First reports whose Start Time is outside the establishment's seconds.
    pub anchor_outside: u64,
}

impl ReportLog {
    fn new(sessions: u32, period: u32) -> ReportLog {
        let n = sessions as usize;
        ReportLog {
            sessions,
            period,
            up_seid: vec![0; n],
            extra_up_seid: Default::default(),
            est: vec![(0, 0); n],
            est_at: vec![0.0; n],
            anchor: vec![0; n],
            next_seqn: vec![0; n],
            arrivals: Vec::with_capacity(n + n / 4),
            unexpected: 0,
            malformed: 0,
            duplicates: 0,
            anchor_outside: 0,
        }
    }

    fn index(&self, cp_seid: u64) -> Option<usize> {
        let i = cp_seid.wrapping_sub(CP_SEID_BASE);
        (i < u64::from(self.sessions)).then_some(i as usize)
    }

    /// The UP SEID for the answer's header.
    pub(super) fn up_seid(&self, cp_seid: u64) -> Option<u64> {
        match self.index(cp_seid) {
            Some(i) => Some(self.up_seid[i]).filter(|s| *s != 0),
            None => self.extra_up_seid.get(&cp_seid).copied(),
        }
    }

    /// An accepted establishment: first sent at `sent`, answered at `at`.
    pub(super) fn established(&mut self, cp_seid: u64, up_seid: u64, sent: f64, at: f64) {
        match self.index(cp_seid) {
            Some(i) => {
                self.up_seid[i] = up_seid;
                self.est[i] = (ntp_second(sent), ntp_second(at));
                self.est_at[i] = at;
            }
            None => {
                self.extra_up_seid.insert(cp_seid, up_seid);
            }
        }
    }

    /// A Session Report Request that arrived at `at` and was answered at
    /// `answered` (Unix seconds).
    pub(super) fn record(
        &mut self,
        h: &Header,
        req: &SessionReportRequest,
        at: f64,
        answered: f64,
    ) {
        let Some(i) = h.seid.and_then(|s| self.index(s)) else {
            self.unexpected += 1;
            return;
        };
        if self.up_seid[i] == 0
            || req.report_type.0 & ReportType::USAR == 0
            || req.usage_report.is_empty()
        {
            self.unexpected += 1;
            return;
        }
        for u in &req.usage_report {
            if u.urr_id.0 != URR_PERIO || u.usage_report_trigger.0 != UsageReportTrigger::PERIO {
                self.unexpected += 1;
                continue;
            }
            let (Some(start), Some(end)) = (u.start_time, u.end_time) else {
                self.malformed += 1;
                continue;
            };
            let seqn = u.ur_seqn.0;
            if seqn < self.next_seqn[i] {
                self.duplicates += 1;
                continue;
            }
            self.next_seqn[i] = seqn.wrapping_add(1);
            if seqn == 0 {
                let (lo, hi) = self.est[i];
                if start.0 < lo || start.0 > hi {
                    self.anchor_outside += 1;
                }
                self.anchor[i] = start.0;
            }
            self.arrivals.push(Arrival {
                session: i as u32,
                start: start.0,
                end: end.0,
                at,
                answer: (answered - at) as f32,
            });
        }
    }

    /// The figures of the window [t0, t1) (Unix seconds), judged at `now`.
    fn figures(&mut self, t0: f64, t1: f64, now: f64) -> ReportFigures {
        let p = self.period.max(1);
        self.arrivals
            .sort_unstable_by_key(|a| (a.session, a.start, a.end));
        let arrived: Vec<&Arrival> = self
            .arrivals
            .iter()
            .filter(|a| a.at >= t0 && a.at < t1)
            .collect();
        let mut answers: Vec<f64> = arrived.iter().map(|a| f64::from(a.answer)).collect();
        let mut f = ReportFigures {
            received_total: self.arrivals.len() as u64,
            arrived_in_window: arrived.len() as u64,
            duplicates: self.duplicates,
            unexpected: self.unexpected,
            malformed: self.malformed,
            anchor_outside: self.anchor_outside,
            answer_ms: Percentiles::of(&mut answers, 1e3),
            ..ReportFigures::default()
        };
        let mut late = Vec::new();
        // The same against the establishment response + k·p.
        let mut late_est = Vec::new();
        let mut k = 0usize;
        for i in 0..self.sessions as usize {
            let mine_from = k;
            while k < self.arrivals.len() && self.arrivals[k].session as usize == i {
                k += 1;
            }
            let mine = &self.arrivals[mine_from..k];
            let a = match (self.anchor[i], self.est[i]) {
                (0, (_, 0)) => continue, // never established
                (0, (_, hi)) => {
                    f.anchor_estimated += 1;
                    hi
                }
                (a, _) => a,
            };
            // Grid points a + k·p (k ≥ 1) due inside the window.
            let first = (ntp_second(t0).saturating_sub(a) / p).max(1);
            let mut g = a + first * p;
            while unix_of(g) < t1 {
                if unix_of(g) >= t0 {
                    f.due_in_window += 1;
                    match mine.iter().find(|r| r.start < g && g <= r.end) {
                        Some(r) => {
                            if r.at < t1 {
                                f.due_received_in_window += 1;
                            } else {
                                f.due_received_later += 1;
                            }
                            let l = r.at - unix_of(g);
                            if l > 1.0 {
                                f.over_1s += 1;
                            }
                            late.push(l);
                            let k = f64::from((g - a) / p * p);
                            late_est.push(r.at - (self.est_at[i] + k));
                        }
                        None => {
                            f.due_missing += 1;
                            if now - unix_of(g) > 1.0 {
                                f.over_1s += 1;
                            }
                        }
                    }
                }
                g += p;
            }
        }
        f.lateness_min_s = late.iter().copied().fold(f64::INFINITY, f64::min);
        f.lateness_s = Percentiles::of(&mut late, 1.0);
        f.lateness_from_response_s = Percentiles::of(&mut late_est, 1.0);
        f
    }
}

/// p50 / p99 / max of a sample (nearest rank), NaN when empty.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// Values.
    pub n: usize,
}

impl Percentiles {
    /// Sorts `v` and takes its percentiles, each times `scale`.
    pub fn of(v: &mut [f64], scale: f64) -> Percentiles {
        if v.is_empty() {
            return Percentiles {
                p50: f64::NAN,
                p99: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        v.sort_unstable_by(f64::total_cmp);
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1] * scale;
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: v[v.len() - 1] * scale,
            n: v.len(),
        }
    }

    /// True when every figure is a finite number.
    pub fn finite(&self) -> bool {
        self.p50.is_finite() && self.p99.is_finite() && self.max.is_finite()
    }
}

/// The periodic reports of the window.
#[derive(Clone, Debug, Default)]
pub struct ReportFigures {
    /// PERIO reports received over the whole run (duplicates excluded).
    pub received_total: u64,
    /// Of them, arrived inside the window.
    pub arrived_in_window: u64,
    /// Grid points (session × period) due inside the window.
    pub due_in_window: u64,
    /// Of those, covered by a report that arrived inside the window.
    pub due_received_in_window: u64,
    /// Covered by a report that arrived after the window (still counted
    /// with its lateness).
    pub due_received_later: u64,
    /// Never covered by the end of the run.
    pub due_missing: u64,
    /// Lateness of the covered grid points, seconds.
    pub lateness_s: Percentiles,
    /// The smallest lateness (negative: a report before its due second).
    pub lateness_min_s: f64,
    /// The lateness of the same reports against the establishment
    /// response's arrival + k × period instead of upfd's grid (which starts
    /// at the whole second before it, so this is smaller by the fraction).
    pub lateness_from_response_s: Percentiles,
    /// Grid points covered more than 1 s late, or never.
    pub over_1s: u64,
    /// From arrival to our answer, of the reports that arrived in the
    /// window, ms.
    pub answer_ms: Percentiles,
    /// Retransmitted reports (upfd's T1 expired before our answer came).
    pub duplicates: u64,
    /// Reports this scenario does not expect (see [`ReportLog`]).
    pub unexpected: u64,
    /// Reports that did not parse or lacked Start / End Time.
    pub malformed: u64,
    /// First reports whose Start Time is outside the establishment's seconds.
    pub anchor_outside: u64,
    /// Sessions whose anchor is estimated (no first report yet).
    pub anchor_estimated: u64,
}

/// upfd's CPU time: the process and each thread, clock ticks.
#[derive(Clone, Debug, Default)]
struct CpuSample {
    process: u64,
    threads: BTreeMap<u32, (String, u64)>,
}

/// (comm, utime + stime) of a /proc stat file.
fn stat_ticks(path: &str) -> Result<(String, u64)> {
    let s = std::fs::read_to_string(path).with_context(|| format!("{path} (did upfd exit?)"))?;
    let open = s.find('(').context("stat: no (comm)")?;
    let close = s.rfind(')').context("stat: no (comm)")?;
    let comm = s[open + 1..close].to_string();
    // After "(comm) ": state is field 3, utime 14 and stime 15.
    let f: Vec<&str> = s[close + 1..].split_whitespace().collect();
    let num = |k: usize| -> Result<u64> {
        f.get(k)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{path}: field {}", k + 3))
    };
    Ok((comm, num(11)? + num(12)?))
}

fn cpu_sample(pid: u32) -> Result<CpuSample> {
    let (_, process) = stat_ticks(&format!("/proc/{pid}/stat"))?;
    let mut threads = BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let e = e?;
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        // A thread may end between the listing and the read.
        if let Ok(t) = stat_ticks(&format!("/proc/{pid}/task/{tid}/stat")) {
            threads.insert(tid, t);
        }
    }
    Ok(CpuSample { process, threads })
}

/// upfd's CPU over a window: % of one core, the process and its threads
/// (threads that used any, by name and id, busiest first).
#[derive(Clone, Debug, Default)]
pub struct CpuUse {
    /// The process (utime + stime of every thread).
    pub process_pct: f64,
    /// (thread name, tid, %).
    pub threads: Vec<(String, u32, f64)>,
}

fn cpu_use(a: &CpuSample, b: &CpuSample, secs: f64) -> CpuUse {
    // SAFETY: sysconf has no memory preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let pct = |ticks: u64| ticks as f64 / hz / secs * 100.0;
    let mut threads: Vec<(String, u32, f64)> = b
        .threads
        .iter()
        .filter_map(|(tid, (name, t))| {
            let before = a.threads.get(tid).map_or(0, |x| x.1);
            let d = t.saturating_sub(before);
            (d > 0).then(|| (name.clone(), *tid, pct(d)))
        })
        .collect();
    threads.sort_by(|x, y| y.2.total_cmp(&x.2));
    CpuUse {
        process_pct: pct(b.process.saturating_sub(a.process)),
        threads,
    }
}

/// upfd's memory, bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    /// VmRSS.
    pub rss: u64,
    /// RssAnon: the daemon's private anonymous memory (its heap).
    pub anon: u64,
    /// RssFile + RssShmem: mapped files and shared memory (the BPF maps
    /// upfd maps into its address space are counted here, not in `anon`).
    pub mapped: u64,
}

fn mem(pid: u32) -> Result<Mem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status (did upfd exit?)"))?;
    let kb = |field: &str| -> Result<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|k| k * 1024)
            .with_context(|| format!("no {field} in /proc/{pid}/status"))
    };
    Ok(Mem {
        rss: kb("VmRSS:")?,
        anon: kb("RssAnon:")?,
        mapped: kb("RssFile:")? + kb("RssShmem:")?,
    })
}

/// Datagrams the kernel dropped on the UDP socket bound to `addr:8805` in
/// this thread's namespace (the last column of /proc/net/udp).
fn udp_drops(addr: Ipv4Addr) -> Result<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/net/udp")?;
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(addr.octets()),
        upf_pfcp::PFCP_PORT
    );
    s.lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .with_context(|| format!("no UDP socket {addr}:8805 in /proc/net/udp"))
}

/// The heartbeats of the window.
#[derive(Clone, Debug, Default)]
pub struct Heartbeats {
    /// Sent.
    pub sent: u64,
    /// Not answered within 3 s of the window's end.
    pub lost: u64,
    /// Latency of the answered ones (request sent to response received), ms.
    pub latency_ms: Percentiles,
}

/// One establish-then-delete run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    /// Establishments per second.
    pub establish_per_s: f64,
    /// Deletions per second.
    pub delete_per_s: f64,
    /// Our retransmissions during it.
    pub retransmits: u64,
}

/// The whole scenario's figures.
#[derive(Clone, Debug)]
pub struct IdleReport {
    /// The run's configuration.
    pub config: IdleConfig,
    /// The command line.
    pub command: String,
    /// Machine description.
    pub machine: String,
    /// Seconds of the install of the N sessions.
    pub install_secs: f64,
    /// Retransmissions during the install.
    pub install_retransmits: u64,
    /// Seconds the window actually lasted.
    pub window_secs: f64,
    /// upfd's CPU over the window.
    pub cpu: CpuUse,
    /// The SMF's heartbeats in the window.
    pub heartbeats: Heartbeats,
    /// The periodic reports.
    pub reports: ReportFigures,
    /// upfd's PFCP counters at the end, or why `upfctl stats` could not
    /// be read.
    pub upfd_pfcp: std::result::Result<PfcpCounters, String>,
    /// Kernel drops on the SMF's and upfd's N4 sockets, (SMF, upfd), during
    /// the install, the idle window and the rest (rate figure and drain).
    pub socket_drops: [(u64, u64); 3],
    /// Responses that matched no outstanding request.
    pub stray_responses: u64,
    /// Establish / delete `rate_sessions` on the empty gateway.
    pub rate_empty: Rate,
    /// The same with the N sessions installed, after the window, or why
    /// it could not be measured (the run goes on to report the rest).
    pub rate_loaded: std::result::Result<Rate, String>,
    /// upfd's memory: associated with no session, and with the N after
    /// the window.
    pub mem: (Mem, Mem),
}

impl Client {
    /// Establishes sessions `from..from + n` of the scenario; the UP SEIDs.
    fn establish_idle(
        &mut self,
        cfg: &IdleConfig,
        from: u32,
        n: u32,
        window: usize,
    ) -> Result<(Duration, Vec<u64>)> {
        let (p, t) = (cfg.period_secs, cfg.threshold_bytes);
        self.establish_with(n, window, |i| establishment(from + i, p, t))
    }

    /// Establishes then deletes `cfg.rate_sessions` beyond the N; a
    /// failure says how far it got.
    fn rate(&mut self, cfg: &IdleConfig) -> Result<Rate> {
        let before = self.retransmits;
        let n = cfg.rate_sessions;
        let (te, seids) = self
            .establish_idle(cfg, cfg.sessions, n, cfg.rate_window)
            .with_context(|| format!("after {} of {n} establishments", self.progress))?;
        let td = self.delete(&seids, cfg.rate_window).with_context(|| {
            format!(
                "all {n} established, failed after {} of {n} deletions",
                self.progress
            )
        })?;
        let n = f64::from(cfg.rate_sessions);
        Ok(Rate {
            establish_per_s: n / te.as_secs_f64(),
            delete_per_s: n / td.as_secs_f64(),
            retransmits: self.retransmits - before,
        })
    }

    /// Answers what upfd sends (heartbeats, reports) for `d`, sending
    /// nothing of our own.
    fn serve(&mut self, d: Duration) -> Result<()> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.serve_one(&mut BTreeMap::new(), &mut Vec::new())?;
        }
        Ok(())
    }

    /// Receives one datagram (or times out) and handles it: upfd's
    /// Heartbeat and Session Report Requests are answered, responses to
    /// our heartbeats (`outstanding`: sequence -> Unix seconds sent) timed
    /// into `latencies`.
    fn serve_one(
        &mut self,
        outstanding: &mut BTreeMap<u32, f64>,
        latencies: &mut Vec<f64>,
    ) -> Result<()> {
        let (len, at) = match self.recv() {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e).context("receiving from upfd"),
        };
        let Ok((h, _)) = Header::parse(&self.buf[..len]) else {
            if let Some(l) = self.reports.as_mut() {
                l.malformed += 1;
            }
            return Ok(());
        };
        if self.heartbeat(&h)? {
            return Ok(());
        }
        match h.message_type {
            MsgType::SESSION_REPORT_REQUEST => self.answer_report(len, at)?,
            MsgType::HEARTBEAT_RESPONSE => match outstanding.remove(&h.sequence) {
                Some(sent) => latencies.push(at - sent),
                None => self.stray_responses += 1,
            },
            _ => self.stray_responses += 1,
        }
        Ok(())
    }

    /// The idle window: heartbeats at `hz` for `d`, everything upfd sends
    /// answered. Returns the window's (start, end) in Unix seconds and the
    /// heartbeat figures (waiting up to 3 s after the end for late ones).
    fn idle_window(&mut self, d: Duration, hz: u32) -> Result<(f64, f64, Heartbeats)> {
        let interval = Duration::from_secs_f64(1.0 / f64::from(hz.max(1)));
        let mut outstanding = BTreeMap::new();
        let mut latencies = Vec::new();
        let mut sent = 0u64;
        let start = Instant::now();
        let t0 = unix_now();
        let end = start + d;
        let mut next = start;
        let mut last_check = start;
        while Instant::now() < end {
            if Instant::now() >= next {
                let seq = self.next_seq();
                let bytes = msgs::heartbeat_pdu(seq).to_bytes();
                outstanding.insert(seq, unix_now());
                self.sock.send_to(&bytes, self.upf)?;
                sent += 1;
                next += interval;
            }
            self.serve_one(&mut outstanding, &mut latencies)?;
            if last_check.elapsed() > Duration::from_millis(200) {
                last_check = Instant::now();
                check_interrupt()?;
            }
        }
        let t1 = unix_now();
        let give_up = Instant::now() + HEARTBEAT_GIVE_UP;
        while !outstanding.is_empty() && Instant::now() < give_up {
            self.serve_one(&mut outstanding, &mut latencies)?;
        }
        Ok((
            t0,
            t1,
            Heartbeats {
                sent,
                lost: outstanding.len() as u64,
                latency_ms: Percentiles::of(&mut latencies, 1e3),
            },
        ))
    }
}

/// upfd's PFCP counters (`upfctl stats`): Session Report Requests given
/// up, retransmissions, messages dropped by reason.
pub type PfcpCounters = (u64, u64, Vec<(String, u64)>);

/// upfd's [`PfcpCounters`] now.
fn pfcp_stats(lab: &Lab) -> Result<PfcpCounters> {
    let r = upf_control::call(&lab.dir.join("upfd.sock"), &upf_control::Request::Stats)?;
    ensure!(r.ok, "upfctl stats: {:?}", r.error);
    let p = &r.data["pfcp"];
    let n = |key: &str| {
        p[key]
            .as_u64()
            .with_context(|| format!("no pfcp.{key} in upfctl stats"))
    };
    let dropped = p["dropped"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        })
        .unwrap_or_default();
    Ok((
        n("session_reports_unanswered")?,
        n("retransmissions")?,
        dropped,
    ))
}

/// Runs the scenario; the namespace and the daemon are gone when it returns.
pub fn run(cfg: &IdleConfig, command: &str, verbose: bool) -> Result<IdleReport> {
    ensure!(cfg.sessions > 0, "the idle scenario needs sessions");
    ensure!(cfg.period_secs > 0, "a Measurement Period of 0 is refused");
    let say = |s: String| {
        if verbose {
            eprintln!("{s}");
        }
    };
    let machine = machine();
    let cp = CpConfig {
        upfd: cfg.upfd.clone(),
        ..CpConfig::smoke(cfg.upfd.clone())
    };
    let mut lab = Lab::setup(&cp)?;
    pin_to_cpu(1)?;
    let pid = lab.start(cfg.max_sessions())?;
    let mut smf = Client::new()?;
    // A poll's worth of reports arrives at once: room for a million.
    let size: libc::c_int = 256 << 20;
    // SAFETY: setsockopt reads `size` (a c_int) for the call's duration.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&smf.sock),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &size as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as u32,
        )
    };
    smf.enable_timestamps()?;
    smf.reports = Some(Box::new(ReportLog::new(cfg.sessions, cfg.period_secs)));
    smf.associate(Duration::from_secs(60))
        .with_context(|| format!("upfd's log:\n{}", lab.log_tail()))?;
    say(format!("upfd {pid} associated"));
    let drops = || -> Result<(u64, u64)> { Ok((udp_drops(msgs::SMF)?, udp_drops(super::UPF_N4)?)) };
    smf.serve(Duration::from_secs(1))?;
    let mem0 = mem(pid)?;

    let rate_empty = smf
        .rate(cfg)
        .with_context(|| format!("rate, empty; upfd's log:\n{}", lab.log_tail()))?;
    say(format!("empty gateway: {rate_empty:?}"));
    smf.serve(Duration::from_secs(CACHE_SECS + 1))?;

    let d0 = drops()?;
    let before = smf.retransmits;
    let (ti, _) = smf
        .establish_idle(cfg, 0, cfg.sessions, cfg.window)
        .with_context(|| format!("install; upfd's log:\n{}", lab.log_tail()))?;
    let install_retransmits = smf.retransmits - before;
    say(format!("{} sessions in {ti:?}", cfg.sessions));

    smf.sock.set_read_timeout(Some(Duration::from_millis(2)))?;
    let d1 = drops()?;
    let cpu0 = cpu_sample(pid)?;
    let w0 = Instant::now();
    let idle = smf.idle_window(Duration::from_secs(cfg.idle_secs), cfg.heartbeat_hz);
    let window_secs = w0.elapsed().as_secs_f64();
    let (t0, t1, heartbeats) = idle.with_context(|| format!("upfd's log:\n{}", lab.log_tail()))?;
    let cpu1 = cpu_sample(pid)?;
    let d2 = drops()?;
    // The CPU window is the heartbeat window plus the give-up wait.
    let cpu = cpu_use(&cpu0, &cpu1, window_secs);
    let mem1 = mem(pid)?;
    smf.sock
        .set_read_timeout(Some(Duration::from_millis(100)))?;
    say(format!("idle: cpu {cpu:?}, heartbeats {heartbeats:?}"));

    let rate_loaded = smf.rate(cfg).map_err(|e| {
        say(format!(
            "rate with {} held failed: {e:#}; upfd's log:\n{}",
            cfg.sessions,
            lab.log_tail()
        ));
        format!("{e:#}")
    });
    say(format!("{} sessions held: {rate_loaded:?}", cfg.sessions));
    // Reports due at the window's end: give them their second and more.
    smf.serve(Duration::from_secs(2))?;
    // A daemon busy with a million sessions may not answer in time
    // (upf_control's 30 s): then these counters are missing, not the run.
    let upfd_pfcp = pfcp_stats(&lab).map_err(|e| format!("{e:#}"));
    let d3 = drops()?;
    let delta = |a: (u64, u64), b: (u64, u64)| (b.0 - a.0, b.1 - a.1);
    let reports = smf
        .reports
        .as_mut()
        .context("the report log")?
        .figures(t0, t1, unix_now());
    say(format!("{reports:?}"));
    drop(lab);
    Ok(IdleReport {
        config: cfg.clone(),
        command: command.to_string(),
        machine,
        install_secs: ti.as_secs_f64(),
        install_retransmits,
        window_secs,
        cpu,
        heartbeats,
        reports,
        upfd_pfcp,
        socket_drops: [delta(d0, d1), delta(d1, d2), delta(d2, d3)],
        stray_responses: smf.stray_responses,
        rate_empty,
        rate_loaded,
        mem: (mem0, mem1),
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

impl IdleReport {
    /// Bytes per held session: (VmRSS delta, RssAnon delta) / N.
    pub fn per_session(&self) -> (f64, f64) {
        let n = f64::from(self.config.sessions.max(1));
        let (a, b) = self.mem;
        (
            b.rss.saturating_sub(a.rss) as f64 / n,
            b.anon.saturating_sub(a.anon) as f64 / n,
        )
    }

    /// The goals: (name, met).
    pub fn goals(&self) -> [(&'static str, bool); 5] {
        let r = &self.reports;
        let h = &self.heartbeats;
        [
            ("idle CPU", self.cpu.process_pct <= 5.0),
            ("reports on time", r.due_in_window > 0 && r.over_1s == 0),
            (
                "heartbeat p99",
                h.lost == 0 && h.latency_ms.p99.is_finite() && h.latency_ms.p99 < 10.0,
            ),
            (
                "establishments",
                self.rate_loaded
                    .as_ref()
                    .is_ok_and(|r| r.establish_per_s >= 20_000.0),
            ),
            ("memory", self.per_session().1 <= 1024.0),
        ]
    }

    /// The markdown section.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let n = c.sessions;
        let r = &self.reports;
        let h = &self.heartbeats;
        let g = self.goals();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "### Control plane: {n} idle sessions with a threshold and a periodic URR\n"
        );
        let _ = writeln!(s, "- machine: {}", self.machine);
        let _ = writeln!(s, "- command: `{}`\n", self.command);
        let _ = writeln!(
            s,
            "Release `upfd` (BPF datapath, gateway.max_sessions = {max}: the {n} held plus the \
             {rs} of the rate figure; default `pfcp.usage_poll_ms`) in a namespace of its own, \
             pinned to CPU 0; one SMF on CPU 1 over the namespace's loopback. The SMF installs \
             {n} 4G sessions (window {w}; the codec bench's establishment, fixed TEID and UE \
             address) each with two Create URRs named by both PDRs: URR 1 VOLTH, Volume \
             Threshold total {th} octets, Measurement Method VOLUM; URR 2 PERIO, Measurement \
             Period {p} s, Measurement Method DURAT and VOLUM. Then, for {idle} s, nothing but \
             the SMF's Heartbeat Requests ({hz}/s, each timed from its send to the kernel's \
             receive time stamp of the response; one not answered within 3 s of the window's \
             end is lost) and upfd's Session Report Requests, each answered at once with \
             Request accepted. A report's lateness is its arrival (kernel time stamp) minus \
             its due time on upfd's PERIO grid: the URR's creation second (the first report's \
             Start Time; before it, the establishment response's second) plus k × {p} s; a \
             report covers every grid point in its (Start Time, End Time]; a grid point due in \
             the window and never covered by the end of the run counts as more than 1 s late; \
             the second lateness row takes the establishment response's arrival + k × {p} s as \
             the due time instead (upfd's grid starts at the whole second before it). \
             upfd's CPU is utime + stime of the process (all threads) from /proc over the \
             window, as % of one core. After the window, {rs} more sessions are established \
             and deleted (window {rw}, same message) with the {n} still held; the same was \
             done on the empty gateway before the install. Memory: upfd's VmRSS and RssAnon \
             (its private anonymous memory: the heap; the BPF tables it maps count in VmRSS, \
             not in RssAnon) with no session and after the window; the per-session goal is \
             judged on RssAnon.\n",
            max = c.max_sessions(),
            rs = c.rate_sessions,
            w = c.window,
            th = c.threshold_bytes,
            p = c.period_secs,
            idle = c.idle_secs,
            hz = c.heartbeat_hz,
            rw = c.rate_window,
        );
        let _ = writeln!(s, "| figure | value | goal | |");
        let _ = writeln!(s, "|---|---:|---|---|");
        let _ = writeln!(
            s,
            "| install {n} sessions, 2 URRs each (window {}) | {:.2} s ({:.0}/s, {} retransmissions) | | |",
            c.window,
            self.install_secs,
            f64::from(n) / self.install_secs,
            self.install_retransmits
        );
        let threads: Vec<String> = self
            .cpu
            .threads
            .iter()
            .take(4)
            .map(|(name, tid, p)| format!("{name} ({tid}) {p:.1} %"))
            .collect();
        let _ = writeln!(
            s,
            "| upfd CPU over the idle window ({:.1} s) | {:.1} % of one core | ≤ 5 % | {} |",
            self.window_secs,
            self.cpu.process_pct,
            met(g[0].1)
        );
        let _ = writeln!(
            s,
            "| busiest upfd threads | {} | | |",
            if threads.is_empty() {
                "none above 0".to_string()
            } else {
                threads.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "| heartbeats: sent / lost | {} / {} | | |",
            h.sent, h.lost
        );
        let _ = writeln!(
            s,
            "| heartbeat latency p50 / p99 / max | {:.2} / {:.2} / {:.2} ms | p99 < 10 ms | {} |",
            h.latency_ms.p50,
            h.latency_ms.p99,
            h.latency_ms.max,
            met(g[2].1)
        );
        let _ = writeln!(
            s,
            "| periodic reports arrived in the window (whole run) | {} ({}) | | |",
            r.arrived_in_window, r.received_total
        );
        let _ = writeln!(
            s,
            "| reports due in the window: covered in it / after it / never | {}: {} / {} / {} | | |",
            r.due_in_window, r.due_received_in_window, r.due_received_later, r.due_missing
        );
        let _ = writeln!(
            s,
            "| lateness of those due, p50 / p99 / max | {:.3} / {:.3} / {:.3} s | | |",
            r.lateness_s.p50, r.lateness_s.p99, r.lateness_s.max
        );
        let _ = writeln!(
            s,
            "| the same against the establishment response + k × {} s, p50 / p99 / max | {:.3} / {:.3} / {:.3} s | | |",
            c.period_secs,
            r.lateness_from_response_s.p50,
            r.lateness_from_response_s.p99,
            r.lateness_from_response_s.max
        );
        let _ = writeln!(
            s,
            "| due reports more than 1 s late (or never) | {} of {} | 0: within 1 s of due | {} |",
            r.over_1s,
            r.due_in_window,
            met(g[1].1)
        );
        let (upfd_counts, dropped) = match &self.upfd_pfcp {
            Ok((unanswered, retx, dropped)) => {
                let d: Vec<String> = dropped.iter().map(|(k, v)| format!("{k} {v}")).collect();
                (
                    format!("{retx} / {unanswered}"),
                    if d.is_empty() {
                        "none".to_string()
                    } else {
                        d.join(", ")
                    },
                )
            }
            Err(e) => {
                let e = format!("unavailable ({})", e.replace('|', "/"));
                (e.clone(), e)
            }
        };
        let _ = writeln!(
            s,
            "| SMF answer delay p99 / max; upfd retransmissions / reports given up | {:.2} / {:.2} ms; {upfd_counts} | | |",
            r.answer_ms.p99, r.answer_ms.max
        );
        let [di, dw, dr] = self.socket_drops;
        let _ = writeln!(
            s,
            "| N4 socket drops, SMF / upfd: install, idle window, rest | {} / {}, {} / {}, {} / {} | | |",
            di.0, di.1, dw.0, dw.1, dr.0, dr.1
        );
        let _ = writeln!(
            s,
            "| N4 messages upfd dropped unanswered, by reason | {dropped} | | |"
        );
        let _ = writeln!(
            s,
            "| duplicate / unexpected / malformed reports; late responses | {} / {} / {}; {} | | |",
            r.duplicates, r.unexpected, r.malformed, self.stray_responses
        );
        let _ = writeln!(
            s,
            "| establish / delete {} sessions, empty gateway (window {}) | {:.0} / {:.0} per s | | |",
            c.rate_sessions,
            c.rate_window,
            self.rate_empty.establish_per_s,
            self.rate_empty.delete_per_s
        );
        let loaded = match &self.rate_loaded {
            Ok(x) => format!(
                "{:.0} / {:.0} per s ({} retransmissions)",
                x.establish_per_s, x.delete_per_s, x.retransmits
            ),
            Err(e) => format!("failed: {}", e.replace('|', "/")),
        };
        let _ = writeln!(
            s,
            "| establish / delete {} sessions with {n} held | {loaded} | ≥ 20 000 establishments/s | {} |",
            c.rate_sessions,
            met(g[3].1)
        );
        let (m0, m1) = self.mem;
        let (per_rss, per_anon) = self.per_session();
        let _ = writeln!(
            s,
            "| upfd VmRSS / RssAnon: no session → {n} held | {:.1} / {:.1} → {:.1} / {:.1} MiB | | |",
            mib(m0.rss),
            mib(m0.anon),
            mib(m1.rss),
            mib(m1.anon)
        );
        let _ = writeln!(
            s,
            "| userspace bytes per session: RssAnon delta / {n} (VmRSS delta / {n}) | {per_anon:.0} ({per_rss:.0}) | ≤ 1024 | {} |",
            met(g[4].1)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_pfcp::ie::{EndTime, StartTime, UrSeqn, UsageReport};
    use upf_pfcp::{Message, Pdu};

    #[test]
    fn the_establishment_encodes_both_urrs_and_parses_back() {
        let req = establishment(7, 60, 1_000_000_000);
        let pdu = msgs::establishment_pdu(req.clone(), 1);
        let bytes = pdu.to_bytes();
        let back = Pdu::parse(&bytes).expect("parses");
        let Message::SessionEstablishmentRequest(got) = back.message else {
            panic!("not an establishment: {back:?}");
        };
        assert_eq!(got, req);
        assert_eq!(got.create_urr.len(), 2);
        let perio = &got.create_urr[1];
        assert_eq!(perio.reporting_triggers.0, ReportingTriggers::PERIO);
        assert_eq!(perio.measurement_period, Some(MeasurementPeriod(60)));
        let volth = &got.create_urr[0];
        assert_eq!(volth.reporting_triggers.0, ReportingTriggers::VOLTH);
        assert_eq!(
            volth.volume_threshold.map(|v| v.0.total),
            Some(Some(1_000_000_000))
        );
        for p in &got.create_pdr {
            assert_eq!(p.urr_ids, vec![UrrId(1), UrrId(2)]);
        }
        // On the wire: two Create URR IEs (type 6) at the top level.
        let mut top = Vec::new();
        let mut at = 16; // the session header
        while at + 4 <= bytes.len() {
            let t = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            let l = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
            top.push(t);
            at += 4 + l;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(top.iter().filter(|t| **t == 6).count(), 2, "{top:?}");
    }

    fn report(seqn: u32, start: u32, end: u32) -> SessionReportRequest {
        SessionReportRequest {
            report_type: ReportType(ReportType::USAR),
            usage_report: vec![UsageReport {
                urr_id: UrrId(URR_PERIO),
                ur_seqn: UrSeqn(seqn),
                usage_report_trigger: UsageReportTrigger(UsageReportTrigger::PERIO),
                start_time: Some(StartTime(start)),
                end_time: Some(EndTime(end)),
                volume_measurement: None,
                duration_measurement: None,
                time_of_first_packet: None,
                time_of_last_packet: None,
                unknown: Vec::new(),
            }],
            load_control_information: None,
            overload_control_information: None,
            unknown: Vec::new(),
        }
    }

    #[test]
    fn lateness_is_measured_on_the_grid_and_missing_reports_count_late() {
        let base = 1_800_000_000.0; // Unix seconds
        let a = ntp_second(base); // every session's anchor
        let mut log = ReportLog::new(3, 10);
        for i in 0..3 {
            log.established(CP_SEID_BASE + i, 100 + i, base + 0.2, base + 0.3);
        }
        let h = |i: u64, seq: u32| {
            Header::session(MsgType::SESSION_REPORT_REQUEST, CP_SEID_BASE + i, seq)
        };
        // Session 0: on time at +10 (0.4 s late) and +20 (0.2 s late).
        log.record(&h(0, 1), &report(0, a, a + 10), base + 10.4, base + 10.4);
        log.record(
            &h(0, 2),
            &report(1, a + 10, a + 20),
            base + 20.2,
            base + 20.2,
        );
        // ... and the second one again: upfd retransmitted it.
        log.record(
            &h(0, 2),
            &report(1, a + 10, a + 20),
            base + 23.2,
            base + 23.2,
        );
        // Session 1: one report at +21.5 covering both +10 and +20.
        log.record(&h(1, 3), &report(0, a, a + 21), base + 21.5, base + 21.5);
        // Session 2: nothing at all.
        let f = log.figures(base + 5.0, base + 25.0, base + 40.0);
        assert_eq!(f.due_in_window, 6);
        assert_eq!(f.due_received_in_window, 4);
        assert_eq!(f.due_missing, 2);
        assert_eq!(f.duplicates, 1);
        assert_eq!(f.received_total, 3);
        assert_eq!(f.arrived_in_window, 3);
        // Late: session 1's +10 (11.5 s) and +20 (1.5 s), session 2's two.
        assert_eq!(f.over_1s, 4);
        assert!((f.lateness_s.max - 11.5).abs() < 1e-6, "{f:?}");
        assert!((f.lateness_min_s - 0.2).abs() < 1e-6, "{f:?}");
        // Against the response (at +0.3): 0.3 s less each.
        assert!(
            (f.lateness_from_response_s.max - 11.2).abs() < 1e-6,
            "{f:?}"
        );
        assert_eq!(f.anchor_outside, 0);
        assert_eq!(f.anchor_estimated, 1);
        assert_eq!(log.up_seid(CP_SEID_BASE + 1), Some(101));
    }

    #[test]
    fn reports_the_scenario_does_not_expect_are_counted() {
        let base = 1_800_000_000.0;
        let a = ntp_second(base);
        let mut log = ReportLog::new(1, 10);
        log.established(CP_SEID_BASE, 100, base, base);
        let h = Header::session(MsgType::SESSION_REPORT_REQUEST, CP_SEID_BASE, 1);
        let mut volth = report(0, a, a + 3);
        volth.usage_report[0].urr_id = UrrId(URR_VOLTH);
        volth.usage_report[0].usage_report_trigger = UsageReportTrigger(UsageReportTrigger::VOLTH);
        log.record(&h, &volth, base + 3.0, base + 3.0);
        let unknown = Header::session(MsgType::SESSION_REPORT_REQUEST, 42, 2);
        log.record(&unknown, &report(0, a, a + 10), base + 10.0, base + 10.0);
        // A first report whose Start Time is not the establishment's second.
        log.record(&h, &report(0, a + 5, a + 15), base + 15.0, base + 15.0);
        assert_eq!((log.unexpected, log.anchor_outside), (2, 1));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=200).map(f64::from).collect();
        let p = Percentiles::of(&mut v, 1.0);
        assert_eq!((p.p50, p.p99, p.max, p.n), (100.0, 198.0, 200.0, 200));
        assert!(!Percentiles::of(&mut [], 1.0).finite());
    }
}
