//! The control plane: PFCP Session Establishment and Deletion rates from one
//! SMF against the release `upfd` with its BPF datapath, the time and memory
//! to hold many sessions, and raw map fills one entry per syscall against
//! `BPF_MAP_UPDATE_BATCH`.
//!
//! `upfd` runs in a network namespace of our own (`mupf-cp<pid>-<n>`) pinned to
//! CPU 0 (`taskset`); N4 is on the namespace's loopback (UPF 10.0.0.1, SMF
//! 10.0.0.9), N3/N6 are a veth pair in generic mode. The SMF is this thread,
//! pinned to CPU 1, with a window of outstanding requests: it keeps `window`
//! requests in flight, sends the next one as each response arrives, answers
//! the UPF's Heartbeat Requests, retransmits after 1 s, and counts a
//! response whose cause is not Request accepted as a failure (the run stops).
//! Requests are the 4G Session Establishment of the codec bench
//! (`userspace/pfcp/benches/common/mod.rs`: 2 PDRs, 2 FARs, 1 URR, fixed
//! TEID and UE address) and the plain Session Deletion.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use upf_abi::{DownlinkEntry, PdrAction, UplinkEntry, ACT_FORWARD, ROLE_N3, ROLE_N6};
use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::ie::{NodeId, RecoveryTimeStamp};
use upf_pfcp::message::{AssociationSetupRequest, HeartbeatResponse, SessionReportResponse};
use upf_pfcp::{Cause, Message, Pdu};
use upf_session::datapath::Datapath;
use upfd::bpf::{BpfDatapath, LoadOptions, Port};

use crate::{check_interrupt, machine, require_root, run_cmd, setns};

#[path = "../../userspace/pfcp/benches/common/mod.rs"]
mod msgs;

pub mod idle;

const UPF_N4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// First fixed local TEID (outside the CHOOSE range of the config).
const TEID_BASE: u32 = 0x0100_0000;
/// First fixed UE address: 10.64.0.0.
const UE_BASE: u32 = 0x0a40_0000;
/// CP SEID of session index 0 (index i has CP_SEID_BASE + i).
const CP_SEID_BASE: u64 = 0x5eed_0000_0000_0000;
/// The response cache's lifetime in the daemon's config.
const CACHE_SECS: u64 = 2;

/// A map as upfd's fdinfo shows it: (type, key size, value size,
/// max_entries, memlock).
pub type MapRow = (String, u32, u32, u32, u64);
/// Uplink and downlink entries of a raw fill.
type Fill = (Vec<(u32, UplinkEntry)>, Vec<(Ipv4Addr, DownlinkEntry)>);
/// Per-entry seconds, batched seconds, named memlock, and the meter's
/// read of every counter slot (slots, seconds; the best of 5).
type FillResult = (f64, f64, Vec<(&'static str, u64)>, (usize, f64));

/// What to run.
#[derive(Clone, Debug)]
pub struct CpConfig {
    /// The release `upfd` binary.
    pub upfd: PathBuf,
    /// Windows (outstanding requests) of the rate curve.
    pub windows: Vec<usize>,
    /// Sessions established then deleted per window.
    pub rate_sessions: u32,
    /// Sessions installed for the bulk figure (and the table size).
    pub bulk_sessions: u32,
    /// Entries per map in the raw fill comparison.
    pub fill_entries: u32,
    /// `gateway.max_sessions` (maps are sized by it).
    pub max_sessions: u32,
}

impl CpConfig {
    /// CI's quick check: small counts, every part of the report present.
    pub fn smoke(upfd: PathBuf) -> CpConfig {
        CpConfig {
            upfd,
            windows: vec![1, 16],
            rate_sessions: 300,
            bulk_sessions: 2_000,
            fill_entries: 20_000,
            max_sessions: 20_000,
        }
    }
}

/// One point of the rate curve.
#[derive(Clone, Debug)]
pub struct RatePoint {
    /// Outstanding requests.
    pub window: usize,
    /// Establishments per second.
    pub establish_per_s: f64,
    /// Deletions per second.
    pub delete_per_s: f64,
    /// Retransmissions during the point.
    pub retransmits: u64,
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct CpReport {
    /// The run's configuration.
    pub config: CpConfig,
    /// The command line.
    pub command: String,
    /// Machine description.
    pub machine: String,
    /// Rate curve.
    pub rates: Vec<RatePoint>,
    /// Bulk install: sessions, window, seconds.
    pub bulk: (u32, usize, f64),
    /// upfd VmRSS (bytes): associated with no session, after the bulk
    /// install (response cache expired), after deleting them all.
    pub rss: (u64, u64, u64),
    /// Kernel memory (memlock) per map of upfd, as found in its fdinfo:
    /// (map type, key size, value size, max_entries, memlock).
    pub kernel_maps: Vec<MapRow>,
    /// The same by name, from a datapath loaded here with upfd's sizes.
    pub named_maps: Vec<(&'static str, u64)>,
    /// Raw fill of `fill_entries` uplink + downlink entries: per-entry
    /// seconds, batched seconds.
    pub fill: (f64, f64),
    /// The meter's read of every counter slot: (slots, seconds).
    pub meter_read: (usize, f64),
}

fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
    // inside it, and sched_setaffinity(0, ...) reads it for this thread.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    ensure!(
        rc == 0,
        "sched_setaffinity to CPU {cpu}: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// The namespace with loopback N4 and a veth pair for N3/N6; dropping it
/// stops the daemon, moves the thread back and deletes the namespace.
struct Lab {
    name: String,
    dir: PathBuf,
    original: Option<File>,
    upfd_path: PathBuf,
    upfd: Option<Child>,
}

impl Lab {
    fn setup(cfg: &CpConfig) -> Result<Lab> {
        require_root()?;
        ensure!(
            cfg.upfd.is_file(),
            "no upfd binary at {} (build it: cargo build --release -p upfd)",
            cfg.upfd.display()
        );
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        ensure!(
            cpus >= 2,
            "the benchmark pins upfd and the SMF to two CPUs; {cpus} available"
        );
        // Unique per lab, not only per process: the smoke tests of one
        // process may build labs one after another (or side by side).
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("mupf-cp{}-{k}", std::process::id());
        run_cmd("ip", &["netns", "add", &name])?;
        let dir = std::env::temp_dir().join(&name);
        let mut lab = Lab {
            name,
            dir,
            original: None,
            upfd_path: cfg.upfd.clone(),
            upfd: None,
        };
        std::fs::create_dir_all(&lab.dir)?;
        for args in [
            "link set lo up",
            "addr add 10.0.0.1/32 dev lo",
            "addr add 10.0.0.9/32 dev lo",
            "link add mucpn3 type veth peer name mucpn3p",
            "link add mucpn6 type veth peer name mucpn6p",
            "link set mucpn3 up",
            "link set mucpn3p up",
            "link set mucpn6 up",
            "link set mucpn6p up",
            "addr add 10.100.0.1/24 dev mucpn3",
            "addr add 10.200.0.1/24 dev mucpn6",
        ] {
            let mut a = vec!["-n", lab.name.as_str()];
            a.extend(args.split_whitespace());
            run_cmd("ip", &a)?;
        }
        let here = File::open("/proc/thread-self/ns/net").context("/proc/thread-self/ns/net")?;
        let target = File::open(format!("/run/netns/{}", lab.name))?;
        setns(&target).context("setns into the lab")?;
        lab.original = Some(here);
        Ok(lab)
    }

    fn config(&self, max_sessions: u32) -> String {
        let d = self.dir.display();
        format!(
            r#"[gateway]
n3_address = "10.100.0.1"
max_sessions = {max_sessions}
attach_mode = "generic"
control_socket = "{d}/upfd.sock"
echo_interval_secs = 0
stats_log_secs = 0

[[interface]]
name = "mucpn3"
roles = ["n3"]

[[interface]]
name = "mucpn6"
roles = ["n6"]

[pfcp]
address = "10.0.0.1"
state_dir = "{d}/state"
heartbeat_interval_secs = 30
heartbeat_retries = 3
response_cache_secs = {CACHE_SECS}
teid_first = 0x40000000
teid_last = 0x7fffffff
ue_pools = ["10.45.0.0/16"]

[[pfcp.peer]]
prefix = "10.0.0.0/24"

[meter]
store = "sqlite:{d}/meter.db"
"#
        )
    }

    /// Starts upfd pinned to CPU 0 and waits for its N4 socket.
    fn start(&mut self, max_sessions: u32) -> Result<u32> {
        let conf = self.dir.join("upf.toml");
        std::fs::write(&conf, self.config(max_sessions))?;
        // upfd logs (tracing's fmt) to stdout: both go to upfd.log, whose
        // tail an error shows.
        let log = File::create(self.dir.join("upfd.log"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "taskset", "-c", "0"])
            .arg(&self.upfd_path)
            .arg("--config")
            .arg(&conf)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting upfd")?;
        let pid = child.id();
        self.upfd = Some(child);
        Ok(pid)
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("upfd.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.upfd.take() {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(orig) = self.original.take() {
            if let Err(e) = setns(&orig) {
                eprintln!("leaving {} failed: {e}", self.name);
            }
        }
        let _ = run_cmd("ip", &["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A lean pipelined SMF on one socket (10.0.0.9:8805).
struct Client {
    sock: UdpSocket,
    upf: SocketAddr,
    seq: u32,
    recovery: RecoveryTimeStamp,
    retransmits: u64,
    buf: Vec<u8>,
    /// The idle scenario's record of establishments and Session Report
    /// Requests; without it a report is still answered (Request accepted).
    reports: Option<Box<idle::ReportLog>>,
    /// Responses that matched nothing outstanding: heartbeat responses
    /// after the idle window's wait, answers to a pipeline that gave up.
    stray_responses: u64,
    /// Responses the last (or current) pipeline counted.
    progress: u32,
}

struct InFlight {
    index: u32,
    bytes: Vec<u8>,
    sent: Instant,
    first: Instant,
    /// Unix seconds of the first transmission.
    first_unix: f64,
}

/// Unix seconds now (CLOCK_REALTIME, the clock of the kernel's receive
/// time stamps and of upfd's NTP times).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Client {
    fn new() -> Result<Client> {
        let sock = UdpSocket::bind(SocketAddrV4::new(msgs::SMF, upf_pfcp::PFCP_PORT))
            .context("binding the SMF socket 10.0.0.9:8805")?;
        let size: libc::c_int = 16 << 20;
        // SAFETY: setsockopt reads `size` (a c_int) for the call's duration.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as u32,
            )
        };
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Client {
            sock,
            upf: SocketAddr::V4(SocketAddrV4::new(UPF_N4, upf_pfcp::PFCP_PORT)),
            seq: 0,
            recovery: RecoveryTimeStamp(3_900_000_000),
            retransmits: 0,
            buf: vec![0; 65536],
            reports: None,
            stray_responses: 0,
            progress: 0,
        })
    }

    /// Asks the kernel for a receive time stamp on every datagram
    /// (`SO_TIMESTAMPNS`): [`Client::recv`] then returns when a datagram
    /// reached the socket rather than when this thread got to it.
    fn enable_timestamps(&self) -> Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads `on` (a c_int) for the call's duration.
        let rc = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                &on as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as u32,
            )
        };
        ensure!(
            rc == 0,
            "SO_TIMESTAMPNS: {}",
            std::io::Error::last_os_error()
        );
        Ok(())
    }

    /// Receives one datagram into `self.buf`: its length and its arrival
    /// (the kernel's time stamp with [`Client::enable_timestamps`], else
    /// now), in Unix seconds. Honours the socket's read timeout.
    fn recv(&mut self) -> std::io::Result<(usize, f64)> {
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        // Room for one SCM_TIMESTAMPNS (a timespec), 8-aligned.
        let mut control = [0u64; 8];
        // SAFETY: a zeroed msghdr is valid (no name, no iov, no control).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        // SAFETY: msg points at the live iov (into self.buf) and control
        // buffers above, whose lengths it carries.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut at = None;
        // SAFETY: the CMSG_* walk stays inside msg_control as the kernel
        // filled it (msg_controllen); the timespec is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    at = Some(t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9);
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok((n as usize, at.unwrap_or_else(unix_now)))
    }

    /// Answers the Session Report Request in `self.buf[..len]` (arrived at
    /// `at`) with Request accepted and records it in the report log.
    fn answer_report(&mut self, len: usize, at: f64) -> Result<()> {
        let pdu = match Pdu::parse(&self.buf[..len]) {
            Ok(Pdu {
                header,
                message: Message::SessionReportRequest(r),
            }) => (header, r),
            _ => {
                // Not answered: upfd retransmits, and the run shows it.
                if let Some(l) = self.reports.as_mut() {
                    l.malformed += 1;
                }
                return Ok(());
            }
        };
        let (header, req) = pdu;
        let up_seid = header
            .seid
            .and_then(|cp| self.reports.as_ref().and_then(|l| l.up_seid(cp)))
            .unwrap_or(0);
        let rsp = Pdu {
            header: Header::session(MsgType::SESSION_REPORT_RESPONSE, up_seid, header.sequence),
            message: Message::SessionReportResponse(SessionReportResponse {
                cause: Cause::REQUEST_ACCEPTED,
                offending_ie: None,
                unknown: Vec::new(),
            }),
        };
        self.sock.send_to(&rsp.to_bytes(), self.upf)?;
        let answered = unix_now();
        if let Some(l) = self.reports.as_mut() {
            l.record(&header, &req, at, answered);
        }
        Ok(())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq % 0x00ff_ffff) + 1;
        self.seq
    }

    /// Answers a Heartbeat Request; returns whether `data` was one.
    fn heartbeat(&self, h: &Header) -> Result<bool> {
        if h.message_type != MsgType::HEARTBEAT_REQUEST {
            return Ok(false);
        }
        let rsp = Pdu {
            header: Header::node(MsgType::HEARTBEAT_RESPONSE, h.sequence),
            message: Message::HeartbeatResponse(HeartbeatResponse {
                recovery_time_stamp: self.recovery,
                unknown: Vec::new(),
            }),
        };
        self.sock.send_to(&rsp.to_bytes(), self.upf)?;
        Ok(true)
    }

    /// Association Setup, retried until upfd listens (or `timeout`).
    fn associate(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupt()?;
            let seq = self.next_seq();
            let req = Pdu {
                header: Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, seq),
                message: Message::AssociationSetupRequest(AssociationSetupRequest {
                    node_id: NodeId::Ipv4(msgs::SMF),
                    recovery_time_stamp: self.recovery,
                    up_function_features: None,
                    cp_function_features: None,
                    user_plane_ip_resource_information: Vec::new(),
                    unknown: Vec::new(),
                }),
            };
            // ECONNREFUSED on loopback while upfd starts: try again.
            let _ = self.sock.send_to(&req.to_bytes(), self.upf);
            let wait = Instant::now() + Duration::from_millis(300);
            while Instant::now() < wait {
                let Ok((n, _)) = self.sock.recv_from(&mut self.buf) else {
                    continue;
                };
                let pdu = Pdu::parse(&self.buf[..n]).context("parsing an N4 datagram")?;
                if self.heartbeat(&pdu.header)? {
                    continue;
                }
                if let Message::AssociationSetupResponse(r) = pdu.message {
                    ensure!(
                        r.cause == Cause::REQUEST_ACCEPTED,
                        "Association Setup refused: {}",
                        r.cause
                    );
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("no Association Setup Response from upfd within {timeout:?}");
            }
        }
    }

    /// Sends requests `0..n` (`build(i, seq)` makes request i's datagram)
    /// keeping `window` in flight; `check(i, message)` judges each response
    /// (an error stops the run). Returns the elapsed time.
    fn pipeline(
        &mut self,
        n: u32,
        window: usize,
        expect: MsgType,
        mut build: impl FnMut(u32, u32) -> Vec<u8>,
        mut check: impl FnMut(u32, Message) -> Result<()>,
    ) -> Result<Duration> {
        let mut inflight: std::collections::HashMap<u32, InFlight> =
            std::collections::HashMap::with_capacity(window * 2);
        let mut next = 0u32;
        let mut done = 0u32;
        self.progress = 0;
        let start = Instant::now();
        let mut last_check = Instant::now();
        while done < n {
            while inflight.len() < window && next < n {
                let seq = self.next_seq();
                let bytes = build(next, seq);
                self.sock.send_to(&bytes, self.upf)?;
                let now = Instant::now();
                inflight.insert(
                    seq,
                    InFlight {
                        index: next,
                        bytes,
                        sent: now,
                        first: now,
                        first_unix: unix_now(),
                    },
                );
                next += 1;
            }
            match self.recv() {
                Ok((len, at)) => {
                    let (h, body) = Header::parse(&self.buf[..len])
                        .map_err(|e| anyhow::anyhow!("a response header: {e}"))?;
                    if self.heartbeat(&h)? {
                        continue;
                    }
                    if h.message_type == MsgType::SESSION_REPORT_REQUEST {
                        self.answer_report(len, at)?;
                        continue;
                    }
                    if h.message_type == MsgType::HEARTBEAT_RESPONSE {
                        // Late answer to one of the idle window's heartbeats.
                        self.stray_responses += 1;
                        continue;
                    }
                    if h.message_type != expect {
                        bail!("expected {}, got {}", expect.name(), h.message_type.name());
                    }
                    // A late duplicate of a retransmitted request: ignore.
                    let Some(f) = inflight.remove(&h.sequence) else {
                        continue;
                    };
                    let m = Message::parse(h.message_type, body)
                        .map_err(|e| anyhow::anyhow!("a {}: {e}", expect.name()))?;
                    if let (Some(log), Message::SessionEstablishmentResponse(r), Some(cp)) =
                        (self.reports.as_mut(), &m, h.seid)
                    {
                        if r.cause == Cause::REQUEST_ACCEPTED {
                            if let Some(up) = r.up_f_seid.as_ref() {
                                log.established(cp, up.seid, f.first_unix, at);
                            }
                        }
                    }
                    check(f.index, m)?;
                    done += 1;
                    self.progress = done;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e).context("receiving from upfd"),
            }
            if last_check.elapsed() > Duration::from_millis(200) {
                last_check = Instant::now();
                check_interrupt()?;
                let now = Instant::now();
                for f in inflight.values_mut() {
                    if now.duration_since(f.first) > Duration::from_secs(10) {
                        bail!("request {} unanswered for 10 s", f.index);
                    }
                    if now.duration_since(f.sent) > Duration::from_secs(1) {
                        self.sock.send_to(&f.bytes, self.upf)?;
                        f.sent = now;
                        self.retransmits += 1;
                    }
                }
            }
        }
        Ok(start.elapsed())
    }

    /// Establishes sessions `0..n` (fixed TEID and UE per index); returns
    /// the elapsed time and the UP SEIDs.
    fn establish(&mut self, n: u32, window: usize) -> Result<(Duration, Vec<u64>)> {
        self.establish_with(n, window, |i| {
            msgs::establishment_4g(
                CP_SEID_BASE + u64::from(i),
                TEID_BASE + i,
                Ipv4Addr::from(UE_BASE + i),
            )
        })
    }

    /// [`Client::establish`] with request i from `req(i)`.
    fn establish_with(
        &mut self,
        n: u32,
        window: usize,
        req: impl Fn(u32) -> upf_pfcp::message::SessionEstablishmentRequest,
    ) -> Result<(Duration, Vec<u64>)> {
        let mut seids = vec![0u64; n as usize];
        let t = self.pipeline(
            n,
            window,
            MsgType::SESSION_ESTABLISHMENT_RESPONSE,
            |i, seq| msgs::establishment_pdu(req(i), seq).to_bytes(),
            |i, m| match m {
                Message::SessionEstablishmentResponse(r) => {
                    ensure!(
                        r.cause == Cause::REQUEST_ACCEPTED,
                        "establishment {i} refused: {} (offending IE {:?}, failed rule {:?})",
                        r.cause,
                        r.offending_ie,
                        r.failed_rule_id
                    );
                    seids[i as usize] = r
                        .up_f_seid
                        .with_context(|| format!("establishment {i}: no UP F-SEID"))?
                        .seid;
                    Ok(())
                }
                other => bail!("establishment {i} answered with {other:?}"),
            },
        )?;
        Ok((t, seids))
    }

    fn delete(&mut self, seids: &[u64], window: usize) -> Result<Duration> {
        self.pipeline(
            seids.len() as u32,
            window,
            MsgType::SESSION_DELETION_RESPONSE,
            |i, seq| msgs::deletion_pdu(seids[i as usize], seq).to_bytes(),
            |i, m| match m {
                Message::SessionDeletionResponse(r) => {
                    ensure!(
                        r.cause == Cause::REQUEST_ACCEPTED,
                        "deletion {i} refused: {}",
                        r.cause
                    );
                    Ok(())
                }
                other => bail!("deletion {i} answered with {other:?}"),
            },
        )
    }
}

fn vm_rss(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status (did upfd exit?)"))?;
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

/// Every BPF map the process `pid` holds, from its fdinfo: (type, key size,
/// value size, max_entries, memlock), one row per map id.
fn process_maps(pid: u32) -> Result<Vec<MapRow>> {
    let mut seen = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        let Ok(text) = std::fs::read_to_string(e?.path()) else {
            continue;
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        let (Some(t), Some(id)) = (field("map_type:"), field("map_id:")) else {
            continue;
        };
        let num = |k: &str| field(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let kind = match t.as_str() {
            "1" => "hash",
            "2" => "array",
            "6" => "percpu_array",
            "25" => "devmap_hash",
            other => other,
        }
        .to_string();
        seen.insert(
            id,
            (
                kind,
                num("key_size:") as u32,
                num("value_size:") as u32,
                num("max_entries:") as u32,
                num("memlock:"),
            ),
        );
    }
    Ok(seen.into_values().collect())
}

/// Loads the datapath here (not attached) with upfd's map sizes.
fn load_datapath(max_sessions: u32) -> Result<BpfDatapath> {
    let cfg = upf_config::Config::parse(
        &format!(
            "[gateway]\nn3_address = \"10.100.0.1\"\nmax_sessions = {max_sessions}\n\
             [[interface]]\nname = \"mucpn3\"\nroles = [\"n3\", \"n6\"]\n"
        ),
        Path::new("(cp-bench)"),
    )
    .context("a gateway config for the in-process datapath")?;
    let g = &cfg.gateway;
    BpfDatapath::load(&LoadOptions {
        n3_ipv4: msgs::N3,
        ports: vec![Port::resolve("mucpn3", ROLE_N3 | ROLE_N6)?],
        max_sessions: g.max_sessions,
        counter_slots: g.max_pdrs(),
        rule_sets: g.max_rule_sets,
        nexthop_cache: g.nexthop_cache,
        gtpu_peers: None,
        anti_spoofing: true,
        meters: upf_abi::DEFAULT_MAX_METERS,
        teid_range: upf_config::pfcp::DEFAULT_TEID_RANGE,
        ue_prefixes: cfg.direct_ue_prefixes(),
        poi_peers: Vec::new(),
    })
    .context("loading the datapath")
}

fn entries(n: u32) -> Fill {
    let act = |i: u32| PdrAction {
        counter: i,
        flags: ACT_FORWARD,
        ..PdrAction::NONE
    };
    let ul = (0..n)
        .map(|i| {
            (
                TEID_BASE + i,
                UplinkEntry {
                    ue_ipv4_be: (UE_BASE + i).to_be(),
                    rules: 0,
                    default: act(i),
                },
            )
        })
        .collect();
    let dl = (0..n)
        .map(|i| {
            (
                Ipv4Addr::from(UE_BASE + i),
                DownlinkEntry {
                    local_ipv4_be: u32::from(msgs::N3).to_be(),
                    rules: 0,
                    default: PdrAction {
                        peer_ipv4_be: u32::from(msgs::GNB).to_be(),
                        remote_teid_be: (0xd000_0000 | i).to_be(),
                        ..act(i)
                    },
                },
            )
        })
        .collect();
    (ul, dl)
}

/// Raw fill of `n` uplink + `n` downlink entries into fresh maps: one
/// `put_*` per entry, then `BPF_MAP_UPDATE_BATCH`. Returns the seconds of
/// each and the named memlock of the (filled) maps.
fn raw_fill(n: u32, max_sessions: u32) -> Result<FillResult> {
    let (ul, dl) = entries(n);
    let per_entry = {
        let mut dp = load_datapath(max_sessions)?;
        let t = Instant::now();
        for (teid, e) in &ul {
            dp.put_uplink(*teid, e)?;
        }
        for (ue, e) in &dl {
            dp.put_downlink(*ue, e)?;
        }
        t.elapsed().as_secs_f64()
    };
    let mut dp = load_datapath(max_sessions)?;
    let t = Instant::now();
    dp.put_uplink_batch(&ul)?;
    dp.put_downlink_batch(&dl)?;
    let batched = t.elapsed().as_secs_f64();
    let named = dp.map_memory()?;
    // The peak-hour meter reads every counter slot once a second.
    let mut all = vec![upf_abi::SessionCounters::default(); dp.capacity().counter_slots as usize];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        dp.counters_all(&mut all)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok((per_entry, batched, named, (all.len(), best)))
}

/// Runs everything; the namespace and the daemon are gone when it returns.
pub fn run(cfg: &CpConfig, command: &str, verbose: bool) -> Result<CpReport> {
    ensure!(
        cfg.bulk_sessions <= cfg.max_sessions && cfg.rate_sessions <= cfg.max_sessions,
        "more sessions than max_sessions"
    );
    let machine = machine();
    let mut lab = Lab::setup(cfg)?;
    pin_to_cpu(1)?;
    let pid = lab.start(cfg.max_sessions)?;
    let mut smf = Client::new()?;
    smf.associate(Duration::from_secs(60))
        .with_context(|| format!("upfd's log:\n{}", lab.log_tail()))?;
    let say = |s: String| {
        if verbose {
            eprintln!("{s}");
        }
    };
    say(format!("upfd {pid} associated"));

    let mut rates = Vec::new();
    for &w in &cfg.windows {
        let before = smf.retransmits;
        let (te, seids) = smf
            .establish(cfg.rate_sessions, w)
            .with_context(|| format!("window {w}; upfd's log:\n{}", lab.log_tail()))?;
        let td = smf.delete(&seids, w)?;
        let p = RatePoint {
            window: w,
            establish_per_s: f64::from(cfg.rate_sessions) / te.as_secs_f64(),
            delete_per_s: f64::from(cfg.rate_sessions) / td.as_secs_f64(),
            retransmits: smf.retransmits - before,
        };
        say(format!("{p:?}"));
        rates.push(p);
        // Let the response cache empty between points.
        std::thread::sleep(Duration::from_secs(CACHE_SECS + 1));
    }
    let best = rates
        .iter()
        .max_by(|a, b| a.establish_per_s.total_cmp(&b.establish_per_s))
        .map_or(64, |p| p.window);

    let rss0 = vm_rss(pid)?;
    let (tb, seids) = smf
        .establish(cfg.bulk_sessions, best)
        .with_context(|| format!("bulk install; upfd's log:\n{}", lab.log_tail()))?;
    say(format!("{} sessions in {tb:?}", cfg.bulk_sessions));
    // The response cache holds every response for CACHE_SECS; wait it out
    // (answering heartbeats) so the figure is the sessions' own.
    let until = Instant::now() + Duration::from_secs(CACHE_SECS + 2);
    while Instant::now() < until {
        if let Ok((n, _)) = smf.sock.recv_from(&mut smf.buf) {
            if let Ok((h, _)) = Header::parse(&smf.buf[..n]) {
                smf.heartbeat(&h)?;
            }
        }
    }
    let rss1 = vm_rss(pid)?;
    let kernel_maps = process_maps(pid)?;
    smf.delete(&seids, best)?;
    std::thread::sleep(Duration::from_secs(CACHE_SECS + 1));
    let rss2 = vm_rss(pid)?;

    let (fill_per_entry, fill_batched, named_maps, meter_read) =
        raw_fill(cfg.fill_entries, cfg.max_sessions)?;
    drop(lab);
    Ok(CpReport {
        config: cfg.clone(),
        command: command.to_string(),
        machine,
        rates,
        bulk: (cfg.bulk_sessions, best, tb.as_secs_f64()),
        rss: (rss0, rss1, rss2),
        kernel_maps,
        named_maps,
        fill: (fill_per_entry, fill_batched),
        meter_read,
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

impl CpReport {
    /// The markdown section.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(s, "### Control plane: PFCP session rates and memory\n");
        let _ = writeln!(s, "- machine: {}", self.machine);
        let _ = writeln!(s, "- command: `{}`\n", self.command);
        let _ = writeln!(
            s,
            "Release `upfd` (BPF datapath, real maps of max_sessions = {}, generic XDP on a \
             veth pair) in a namespace of its own, pinned to CPU 0; N4 over the namespace's \
             loopback. One SMF on CPU 1 sends 4G Session Establishment Requests (2 PDRs, \
             2 FARs, 1 URR, fixed TEID and UE address: the codec bench's message) keeping a \
             window of requests outstanding, checks that every response is Request accepted \
             (any other cause stops the run), then deletes the sessions the same way. Each \
             point of the curve establishes and deletes {} sessions. The bulk install uses the \
             best window; upfd's VmRSS is read with no session, after the install once the \
             response cache ({} s) has expired, and after deleting them. Kernel memory is the \
             `memlock` of each map in upfd's `/proc/<pid>/fdinfo`. The raw fill writes {} \
             uplink and {} downlink entries into fresh maps from this process, one \
             `bpf(BPF_MAP_UPDATE_ELEM)` per entry, then with `BPF_MAP_UPDATE_BATCH` \
             ({} entries per call).\n",
            c.max_sessions,
            c.rate_sessions,
            CACHE_SECS,
            c.fill_entries,
            c.fill_entries,
            upfd::bpf::BATCH_CHUNK
        );
        let _ = writeln!(
            s,
            "| window | establishments/s | deletions/s | retransmissions |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|");
        for p in &self.rates {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.0} | {} |",
                p.window, p.establish_per_s, p.delete_per_s, p.retransmits
            );
        }
        let (n, w, t) = self.bulk;
        let (r0, r1, r2) = self.rss;
        let per = r1.saturating_sub(r0) as f64 / f64::from(n.max(1));
        let kernel: u64 = self.kernel_maps.iter().map(|m| m.4).sum();
        let _ = writeln!(s, "\n| figure | value |");
        let _ = writeln!(s, "|---|---:|");
        let _ = writeln!(
            s,
            "| install {n} sessions (window {w}) | {t:.2} s ({:.0}/s) |",
            f64::from(n) / t
        );
        let _ = writeln!(
            s,
            "| upfd VmRSS: none / {n} sessions / after deletion | {:.1} / {:.1} / {:.1} MiB |",
            mib(r0),
            mib(r1),
            mib(r2)
        );
        let _ = writeln!(
            s,
            "| userspace bytes per session (VmRSS delta / {n}) | {per:.0} |"
        );
        let _ = writeln!(
            s,
            "| kernel map memory, all maps (max_sessions = {}) | {:.1} MiB, {:.0} B per session slot |",
            c.max_sessions,
            mib(kernel),
            kernel as f64 / f64::from(c.max_sessions)
        );
        let (pe, b) = self.fill;
        let e = 2.0 * f64::from(c.fill_entries);
        let _ = writeln!(
            s,
            "| raw fill {} UL + {} DL entries, one syscall each | {pe:.3} s ({:.0} entries/s) |",
            c.fill_entries,
            c.fill_entries,
            e / pe
        );
        let _ = writeln!(
            s,
            "| raw fill, BPF_MAP_UPDATE_BATCH | {b:.3} s ({:.0} entries/s, {:.1}x) |",
            e / b,
            pe / b
        );
        let (slots, secs) = self.meter_read;
        let _ = writeln!(
            s,
            "| meter: read and sum {slots} counter slots (BPF_MAP_LOOKUP_BATCH, once a second) | {:.1} ms ({:.1} % of a core) |",
            secs * 1e3,
            secs * 100.0
        );
        let _ = writeln!(
            s,
            "\n| map (upfd's fdinfo) | key B | value B | max_entries | memlock | B per session slot |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for (t, k, v, m, mem) in &self.kernel_maps {
            let _ = writeln!(
                s,
                "| {t} | {k} | {v} | {m} | {:.2} MiB | {:.1} |",
                mib(*mem),
                *mem as f64 / f64::from(c.max_sessions)
            );
        }
        let _ = writeln!(
            s,
            "\n| map (by name, same sizes) | memlock | B per session slot |"
        );
        let _ = writeln!(s, "|---|---:|---:|");
        for (name, mem) in &self.named_maps {
            let _ = writeln!(
                s,
                "| {name} | {:.2} MiB | {:.1} |",
                mib(*mem),
                *mem as f64 / f64::from(c.max_sessions)
            );
        }
        s
    }
}

/// upfd as e2e-bench finds it (`$UPF_BIN_DIR`, next to this executable), else the release build.
pub fn default_upfd() -> PathBuf {
    crate::e2e::bin_dir().map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/upfd"),
        |d| d.join("upfd"),
    )
}

// ---- churn ----

/// Establish/delete churn against upfd: after `cycles` establishments and
/// deletions, are the datapath maps, the pools and the process memory back
/// where they started?
#[derive(Clone, Debug)]
pub struct ChurnConfig {
    /// The `upfd` binary.
    pub upfd: PathBuf,
    /// Establish/delete cycles in all.
    pub cycles: u32,
    /// Sessions established, then deleted, per batch.
    pub batch: u32,
    /// Outstanding requests.
    pub window: usize,
    /// Settled samples after the baseline, evenly spaced.
    pub samples: u32,
}

/// One look at the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurnSample {
    /// Cycles done when it was taken.
    pub cycles: u64,
    /// PFCP sessions the daemon holds (`upfctl stats`).
    pub sessions: u64,
    /// Pool items in use: TEIDs, UE addresses, counter slots, rule sets.
    pub in_use: [u64; 4],
    /// Entries in upfd's session tables (hash maps and direct tables together).
    pub uplink: usize,
    /// See `uplink`.
    pub downlink: usize,
    /// upfd's VmRSS and VmHWM, kB.
    pub rss_kb: u64,
    /// See `rss_kb`.
    pub hwm_kb: u64,
}

impl ChurnSample {
    /// Everything but memory: what must come back exactly.
    pub fn tables(&self) -> (u64, [u64; 4], usize, usize) {
        (self.sessions, self.in_use, self.uplink, self.downlink)
    }
}

/// The churn run.
#[derive(Clone, Debug)]
pub struct ChurnReport {
    /// The configuration.
    pub config: ChurnConfig,
    /// The command line.
    pub command: String,
    /// Machine description.
    pub machine: String,
    /// Seconds of churn (samples' settling excluded).
    pub seconds: f64,
    /// Baseline (associated, no session, settled), then a settled sample
    /// every `cycles / samples` cycles.
    pub settled: Vec<ChurnSample>,
    /// One sample with a batch established (the counting sees sessions).
    pub during: ChurnSample,
}

fn status_kb(pid: u32, field: &str) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status (did upfd exit?)"))?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field}"))
}

fn churn_sample(lab: &Lab, pid: u32, cycles: u64) -> Result<ChurnSample> {
    let sock = lab.dir.join("upfd.sock");
    let r = upf_control::call(&sock, &upf_control::Request::Stats)?;
    ensure!(r.ok, "upfctl stats: {:?}", r.error);
    let p = &r.data["pfcp"];
    let n = |v: &serde_json::Value| v.as_u64().context("a number in upfctl stats");
    let ((uh, dh), (ud, dd)) = crate::tables::session_entries(pid)?;
    let (uplink, downlink) = (uh + ud, dh + dd);
    Ok(ChurnSample {
        cycles,
        sessions: n(&p["sessions"])?,
        in_use: [
            n(&p["in_use"]["teids"])?,
            n(&p["in_use"]["ue_addresses"])?,
            n(&p["in_use"]["counter_slots"])?,
            n(&p["in_use"]["rule_sets"])?,
        ],
        uplink,
        downlink,
        rss_kb: status_kb(pid, "VmRSS:")?,
        hwm_kb: status_kb(pid, "VmHWM:")?,
    })
}

impl Client {
    /// Waits out the response cache (answering heartbeats) so that a
    /// sample sees the sessions' own state.
    fn settle(&mut self) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(CACHE_SECS + 1);
        while Instant::now() < until {
            if let Ok((n, _)) = self.sock.recv_from(&mut self.buf) {
                if let Ok((h, _)) = Header::parse(&self.buf[..n]) {
                    self.heartbeat(&h)?;
                }
            }
        }
        Ok(())
    }
}

/// Runs `cfg.cycles` establish/delete cycles in batches against upfd (in
/// its own namespace, as [`run`]) and samples the maps, pools and memory.
pub fn churn(cfg: &ChurnConfig, command: &str, verbose: bool) -> Result<ChurnReport> {
    ensure!(cfg.batch > 0 && cfg.samples > 0, "batch and samples > 0");
    ensure!(
        cfg.cycles.is_multiple_of(cfg.batch * cfg.samples),
        "cycles must be a multiple of batch × samples"
    );
    let cp = CpConfig {
        upfd: cfg.upfd.clone(),
        ..CpConfig::smoke(cfg.upfd.clone())
    };
    let machine = machine();
    let mut lab = Lab::setup(&cp)?;
    pin_to_cpu(1)?;
    let max_sessions = cfg.batch.max(1000);
    let pid = lab.start(max_sessions)?;
    let mut smf = Client::new()?;
    smf.associate(Duration::from_secs(60))
        .with_context(|| format!("upfd's log:\n{}", lab.log_tail()))?;
    smf.settle()?;
    let mut settled = vec![churn_sample(&lab, pid, 0)?];
    let mut during = None;
    let per_sample = cfg.cycles / cfg.samples;
    let mut done = 0u64;
    let mut busy = Duration::ZERO;
    while done < u64::from(cfg.cycles) {
        // Half 4G (fixed TEID and UE), half 5G (CHOOSE TEID and UE, an
        // SDF filter's rule set, a QER): every pool is exercised.
        let (te, seids) = smf
            .establish_with(cfg.batch, cfg.window, |i| {
                let cp_seid = CP_SEID_BASE + u64::from(i);
                if i % 2 == 0 {
                    msgs::establishment_4g(cp_seid, TEID_BASE + i, Ipv4Addr::from(UE_BASE + i))
                } else {
                    msgs::establishment_5g(cp_seid)
                }
            })
            .with_context(|| format!("after {done} cycles; upfd's log:\n{}", lab.log_tail()))?;
        if during.is_none() {
            during = Some(churn_sample(&lab, pid, done)?);
        }
        let td = smf
            .delete(&seids, cfg.window)
            .with_context(|| format!("after {done} cycles; upfd's log:\n{}", lab.log_tail()))?;
        busy += te + td;
        done += u64::from(cfg.batch);
        if done.is_multiple_of(u64::from(per_sample)) {
            smf.settle()?;
            let s = churn_sample(&lab, pid, done)?;
            if verbose {
                eprintln!("{s:?}");
            }
            settled.push(s);
        }
    }
    drop(lab);
    Ok(ChurnReport {
        config: cfg.clone(),
        command: command.to_string(),
        machine,
        seconds: busy.as_secs_f64(),
        settled,
        during: during.context("no batch ran")?,
    })
}

impl ChurnReport {
    /// The report as a markdown section.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(s, "### Establish/delete churn\n");
        let _ = writeln!(s, "`{}` on {}.\n", self.command, self.machine);
        let _ = writeln!(
            s,
            "{} cycles in batches of {} (window {}): {:.1} s of churn, {:.0} cycles/s. \
             Half the sessions 4G (fixed TEID and UE), half 5G (CHOOSE TEID and UE, \
             an SDF filter, a QER). Each settled sample waits out the response cache first. Map entries are \
             counted in upfd's UPLINK and DOWNLINK hash maps (walked in the kernel) and UL_TABLE and DL_TABLE direct tables (occupied slots, read through a mapping); pools \
             from `upfctl stats`.\n",
            c.cycles,
            c.batch,
            c.window,
            self.seconds,
            f64::from(c.cycles) / self.seconds
        );
        let _ = writeln!(
            s,
            "| after cycles | sessions | UPLINK | DOWNLINK | TEIDs / UEs / slots / rule sets in use | VmRSS kB | VmHWM kB |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        let row = |s: &mut String, label: String, x: &ChurnSample| {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} / {} / {} / {} | {} | {} |",
                x.sessions,
                x.uplink,
                x.downlink,
                x.in_use[0],
                x.in_use[1],
                x.in_use[2],
                x.in_use[3],
                x.rss_kb,
                x.hwm_kb
            );
        };
        for (i, x) in self.settled.iter().enumerate() {
            let label = if i == 0 {
                "0 (baseline)".to_string()
            } else {
                x.cycles.to_string()
            };
            row(&mut s, label, x);
            if i == 0 {
                row(
                    &mut s,
                    format!("{} + a batch open", self.during.cycles),
                    &self.during,
                );
            }
        }
        s
    }
}
