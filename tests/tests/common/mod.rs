//! The namespace lab harness shared by the end-to-end test files: upfd in
//! the lab of scripts/lab.sh, the simulated RAN and DN tools, upfctl.
//!
//! Needs root, iproute2, ethtool and tshark (scripts/setup.sh installs them),
//! and the workspace binaries built (`cargo build --workspace --bins`;
//! scripts/test.sh does it). A missing precondition fails the test with a
//! message; nothing is skipped.
// Each test file uses a different part of the harness.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const RAN: &str = "10.100.0.2";
pub const GW: &str = "10.100.0.1";
pub const DN: &str = "10.200.0.2:7777";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A workspace binary: `mupf-lab` from this crate; upfd and upfctl from
/// `$UPF_BIN_DIR` if set (daemon binaries built elsewhere, e.g. from another
/// branch), else `$CARGO_TARGET_DIR/debug` or `target/debug`.
pub fn bin(name: &str) -> PathBuf {
    if name == "mupf-lab" {
        return PathBuf::from(env!("CARGO_BIN_EXE_mupf-lab"));
    }
    let dir = match std::env::var_os("UPF_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"))
            .join("debug"),
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` (scripts/test.sh does)",
        p.display()
    );
    p
}

pub fn preconditions() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "end-to-end tests need root (network namespaces, XDP)"
    );
    for tool in ["ip", "ethtool", "tshark", "nsenter"] {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "{tool} is missing: run scripts/setup.sh");
    }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    out
}

pub fn must(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Generic,
    Native,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Generic => "generic",
            Mode::Native => "native",
        }
    }
}

/// A lab with a running daemon; torn down on drop, also on panic.
pub struct Lab {
    pub id: String,
    pub ran_ns: String,
    pub dn_ns: String,
    pub ran_if: String,
    pub sock: PathBuf,
    pub dir: PathBuf,
    pub upfd: Option<Child>,
    pub echo: Option<Child>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Lab {
    pub fn up(mode: Mode) -> Lab {
        Lab::up_with(mode, "")
    }

    /// [`Lab::up`] with extra `[gateway]` lines in the daemon's configuration.
    pub fn up_with(mode: Mode, gateway_extra: &str) -> Lab {
        Lab::up_with_tail(mode, gateway_extra, "")
    }

    /// [`Lab::up_with`] with `tail` (more sections: `[qos]`, `[[poi]]`,
    /// `[[plan]]`) appended to the daemon's configuration.
    pub fn up_with_tail(mode: Mode, gateway_extra: &str, tail: &str) -> Lab {
        preconditions();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!(
            "{}{:04x}",
            &mode.name()[..1],
            (std::process::id() * 8 + n) & 0xffff
        );
        let dir = std::env::temp_dir().join(format!("mupf-e2e-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            ran_ns: format!("mupf-{id}-ran"),
            dn_ns: format!("mupf-{id}-dn"),
            ran_if: format!("mu{id}r0"),
            sock: PathBuf::from(format!("/run/mvno-upf/{id}.sock")),
            id,
            dir,
            upfd: None,
            echo: None,
        };
        must(
            Command::new("bash")
                .arg(root().join("scripts/lab.sh"))
                .args(["up", &lab.id, mode.name()])
                .env("MUPF_LAB", bin("mupf-lab")),
        );
        let template = std::fs::read_to_string(root().join("configs/lab.toml")).unwrap();
        let dir = lab.dir.clone();
        // The extra lines may name the lab too (@ID@).
        let cfg = template
            .replace("[gateway]\n", &format!("[gateway]\n{gateway_extra}\n"))
            .replace("@ID@", &lab.id)
            .replace("@MODE@", mode.name())
            .replace("@METER_DB@", dir.join("meter.db").to_str().unwrap())
            .replace(
                "@SESSIONS@",
                root().join("configs/sessions.toml").to_str().unwrap(),
            );
        let cfg_path = lab.dir.join("upf.toml");
        std::fs::write(&cfg_path, format!("{cfg}\n{tail}\n")).unwrap();
        lab.start_upfd();
        lab.echo = Some(
            lab.ns_cmd(&lab.dn_ns.clone(), bin("mupf-lab"))
                .args(["dn-echo", "--bind", DN])
                .stdout(Stdio::null())
                .spawn()
                .expect("starting the DN echo server"),
        );
        std::thread::sleep(Duration::from_millis(200));
        lab
    }

    /// Starts upfd on the lab's configuration and waits for its control socket.
    pub fn start_upfd(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("upfd.log"))
            .unwrap();
        let cfg_path = self.dir.join("upf.toml");
        self.upfd = Some(
            Command::new("ip")
                .args(["netns", "exec", &format!("mupf-{}-gw", self.id)])
                .arg(bin("upfd"))
                .arg("--config")
                .arg(&cfg_path)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("starting upfd"),
        );
        let t = Instant::now();
        while !self.sock.exists() {
            if let Some(status) = self.upfd.as_mut().unwrap().try_wait().unwrap() {
                panic!("upfd exited ({status}) at start:\n{}", self.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "upfd not ready after 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERMs upfd and waits (at most 10 s) for it to exit; returns its status.
    pub fn stop_upfd(&mut self) -> std::process::ExitStatus {
        let mut d = self.upfd.take().expect("upfd is running");
        // SAFETY: kill with a valid pid and signal number.
        unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(st) = d.try_wait().unwrap() {
                return st;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "upfd did not stop within 10 s of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `upfd <args>` on the lab's configuration in the gateway's
    /// namespace (e.g. `--reset`) and returns its output.
    pub fn upfd_cmd(&self, args: &[&str]) -> Output {
        run(Command::new("ip")
            .args(["netns", "exec", &format!("mupf-{}-gw", self.id)])
            .arg(bin("upfd"))
            .arg("--config")
            .arg(self.dir.join("upf.toml"))
            .args(args))
    }

    /// The bpffs directory a lab daemon pins in (`pin_dir =
    /// "/run/mupf-bpf/@ID@"`: lab.sh mounts a bpffs there, since `ip netns
    /// exec` hides /sys/fs/bpf), removed when the lab is torn down.
    pub fn pin_dir(&self) -> PathBuf {
        PathBuf::from(format!("/run/mupf-bpf/{}", self.id))
    }

    /// SIGKILLs upfd (no shutdown of any kind) and reaps it.
    pub fn kill_upfd(&mut self) {
        if let Some(mut d) = self.upfd.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    /// `GET /metrics` from upfd, inside the gateway's namespace.
    pub fn scrape_metrics(&self) -> String {
        let out = run(self
            .ns_cmd(&format!("mupf-{}-gw", self.id), "python3")
            .args([
                "-c",
                "import urllib.request,sys;r=urllib.request.urlopen('http://127.0.0.1:9464/metrics',timeout=5);\
                 sys.stdout.write(r.headers['Content-Type']+'\\n'+r.read().decode())",
            ]));
        assert!(
            out.status.success(),
            "scraping /metrics: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.starts_with("application/openmetrics-text"),
            "content type: {text}"
        );
        text
    }

    /// `upfctl report` on the lab's configuration and store; its stdout.
    pub fn upfctl_report(&self, args: &[&str]) -> Vec<u8> {
        let cfg = self.dir.join("upf.toml");
        let out = run(Command::new(bin("upfctl"))
            .arg("report")
            .arg("--config")
            .arg(&cfg)
            .args(args));
        assert!(
            out.status.success(),
            "upfctl report {args:?}: {}\nupfd log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out.stdout
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("upfd.log")).unwrap_or_default()
    }

    pub fn ns_cmd(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// Runs `mupf-lab` in the RAN namespace.
    pub fn lab_tool(&self, args: &[&str]) -> Output {
        run(self.ns_cmd(&self.ran_ns, bin("mupf-lab")).args(args))
    }

    /// Sends `count` packets for a session and expects every reply intact.
    pub fn traffic(
        &self,
        teid: &str,
        ue: &str,
        expect_teid: &str,
        count: u32,
        extra: &[&str],
    ) -> serde_json::Value {
        let count_s = count.to_string();
        let mut args = vec![
            "ran",
            "--bind",
            RAN,
            "--gw",
            GW,
            "--teid",
            teid,
            "--ue",
            ue,
            "--dst",
            DN,
            "--expect-teid",
            expect_teid,
            "--count",
            &count_s,
            "--interval-ms",
            "1",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = self.lab_tool(&args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "traffic for TEID {teid} failed:\n{stdout}\n{}\nupfd log:\n{}\nstats:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log(),
            serde_json::to_string_pretty(&self.stats()).unwrap()
        );
        serde_json::from_str(stdout.trim().lines().last().unwrap_or("{}"))
            .unwrap_or(serde_json::Value::Null)
    }

    /// Writes a one-session file toward the RAN peer: 5G with a QFI, 4G
    /// without.
    pub fn session_file(
        &self,
        name: &str,
        id: u32,
        local_teid: &str,
        ue: &str,
        remote_teid: &str,
        qfi: Option<u8>,
    ) -> PathBuf {
        let generation = match qfi {
            Some(q) => format!("generation = \"5g\"\nqfi = {q}\n"),
            None => "generation = \"4g\"\n".to_string(),
        };
        let file = self.dir.join(name);
        std::fs::write(
            &file,
            format!(
                "[[session]]\nid = {id}\nlocal_teid = {local_teid}\nue_ipv4 = \"{ue}\"\n\
                 peer_ipv4 = \"10.100.0.2\"\nremote_teid = {remote_teid}\n{generation}"
            ),
        )
        .unwrap();
        file
    }

    /// Sends packets that must not come back.
    pub fn no_reply(&self, extra: &[&str]) {
        let mut args = vec![
            "ran",
            "--bind",
            RAN,
            "--gw",
            GW,
            "--dst",
            DN,
            "--count",
            "3",
            "--timeout-ms",
            "500",
            "--expect-none",
        ];
        args.extend_from_slice(extra);
        let out = self.lab_tool(&args);
        assert!(
            out.status.success(),
            "replies arrived where none should:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn upfctl(&self, args: &[&str]) -> Output {
        must(
            Command::new(bin("upfctl"))
                .arg("--socket")
                .arg(&self.sock)
                .args(args),
        )
    }

    pub fn stats(&self) -> serde_json::Value {
        let out = run(Command::new(bin("upfctl"))
            .arg("--socket")
            .arg(&self.sock)
            .args(["stats", "--json"]));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut e) = self.echo.take() {
            let _ = e.kill();
            let _ = e.wait();
        }
        if let Some(mut d) = self.upfd.take() {
            // SAFETY: kill with a valid pid and signal number.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while d.try_wait().ok().flatten().is_none() && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        // Pins (links first: the program detaches) before the interfaces go.
        let _ = std::fs::remove_dir_all(self.pin_dir());
        let _ = Command::new("bash")
            .arg(root().join("scripts/lab.sh"))
            .args(["down", &self.id])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn counter(stats: &serde_json::Value, group: &str, name: &str) -> u64 {
    stats["fastpath"][group]
        .as_array()
        .and_then(|a| a.iter().find(|e| e[0] == name))
        .and_then(|e| e[1].as_u64())
        .unwrap_or_else(|| panic!("no {group} entry {name} in {stats}"))
}

pub fn session(stats: &serde_json::Value, id: u64) -> &serde_json::Value {
    stats["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no session {id} in {stats}"))
}

/// The gateway's N4 (PFCP) address in the lab.
pub const N4: &str = "10.100.0.1:8805";
/// The test SMF's address in the RAN namespace.
pub const SMF: &str = "10.100.0.2:8805";

impl Lab {
    /// A test SMF in the RAN namespace (10.100.0.2:8805) toward the
    /// gateway's N4 address, not yet associated.
    pub fn smf(&self) -> mvno_upf_tests::smf::Smf {
        mvno_upf_tests::smf::Smf::in_netns(&self.ran_ns, SMF.parse().unwrap(), N4.parse().unwrap())
            .unwrap_or_else(|e| panic!("starting the test SMF in {}: {e:#}", self.ran_ns))
    }

    /// `upfctl sessions list --json`: every session with its rules and
    /// per-PDR counters.
    pub fn sessions(&self) -> Vec<serde_json::Value> {
        let out = self.upfctl(&["sessions", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "upfctl sessions list --json: {e}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        match v {
            serde_json::Value::Array(a) => a,
            other => panic!("upfctl sessions list --json is not a list: {other}"),
        }
    }

    /// The `pfcp` part of `upfctl stats --json` (fails if there is none).
    pub fn pfcp_stats(&self) -> serde_json::Value {
        let s = self.stats();
        let p = s["pfcp"].clone();
        assert!(
            p.is_object(),
            "upfctl stats --json has no pfcp section (is upfd built with PFCP?):\n{s}"
        );
        p
    }

    /// Fails if upfd has exited, with its log.
    pub fn assert_running(&mut self) {
        let status = self.upfd.as_mut().map(|d| d.try_wait());
        if let Some(Ok(Some(status))) = status {
            panic!("upfd exited ({status}):\n{}", self.log());
        }
        assert!(
            self.stats().is_object(),
            "the control socket does not answer:\n{}",
            self.log()
        );
    }

    /// Starts tshark on `iface` in namespace `ns` with capture filter
    /// `filter`, writing `name` in the lab directory; returns once it
    /// captures.
    pub fn capture(&self, ns: &str, iface: &str, filter: &str, name: &str) -> Capture {
        let file = self.dir.join(name);
        let child = self
            .ns_cmd(ns, "tshark")
            .args(["-i", iface, "-f", filter, "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tshark");
        let mut cap = Capture {
            child: Some(child),
            file,
        };
        let t = Instant::now();
        while std::fs::metadata(&cap.file).map_or(0, |m| m.len()) == 0 {
            if let Some(Ok(Some(status))) = cap.child.as_mut().map(|c| c.try_wait()) {
                panic!("tshark exited ({status}) before capturing on {iface} in {ns}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "tshark did not start capturing"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
        cap
    }
}

/// A running tshark capture; stopped (and its file kept) by
/// [`Capture::stop`], killed on drop.
pub struct Capture {
    child: Option<Child>,
    /// The pcapng file.
    pub file: PathBuf,
}

impl Capture {
    /// Stops the capture (SIGINT lets tshark flush) and returns the file.
    pub fn stop(mut self) -> PathBuf {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill with a valid pid and signal number.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let _ = c.wait();
        }
        self.file.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A child process killed on drop (extra servers in a test).
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The session with UP SEID `up_seid` in `upfctl sessions list --json`.
pub fn pfcp_session(list: &[serde_json::Value], up_seid: u64) -> Option<&serde_json::Value> {
    list.iter().find(|s| s["up_seid"] == up_seid)
}

/// Counter `field` (ul_packets, ul_bytes, dl_packets, dl_bytes) of PDR
/// `pdr` of a session in `upfctl sessions list --json`.
pub fn pdr_counter(session: &serde_json::Value, pdr: u16, field: &str) -> u64 {
    session["counters"][pdr.to_string()][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {field} for PDR {pdr} in {session}"))
}

/// One rate test at a time (tests that measure rates on 2 shared cores
/// need their senders to keep their schedule).
static RATE_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the rate-test lock for the rest of the test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    RATE_TESTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A test SMF associated with the lab's upfd (panics with the log if not).
pub fn associated(lab: &Lab) -> mvno_upf_tests::smf::Smf {
    let mut smf = lab.smf();
    smf.associate()
        .unwrap_or_else(|e| panic!("association: {e:#}\nupfd log:\n{}", lab.log()));
    smf
}

/// Establishes `plan` (panics with the log if refused).
pub fn open(
    lab: &Lab,
    smf: &mut mvno_upf_tests::smf::Smf,
    plan: &mvno_upf_tests::smf::SessionPlan,
) -> mvno_upf_tests::smf::Session {
    smf.open(plan)
        .unwrap_or_else(|e| panic!("establishing {plan:?}: {e:#}\nupfd log:\n{}", lab.log()))
}

// ---- paced traffic for rate tests (QoS, meter) ----

/// Inner IP packet size of the test traffic.
pub const INNER: usize = 1000;
/// The data network host (DN namespace).
pub const DN_HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 200, 0, 2);
/// A port nothing listens on: no echo doubles the traffic.
pub const DISCARD: u16 = 9;

pub fn ue(i: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(10, 45, 7, 10 + i as u8)
}

/// An uplink G-PDU of session `i`: 1000 inner bytes from its UE to the DN.
pub fn uplink_datagram(i: u32) -> Vec<u8> {
    let inner =
        mvno_upf_tests::inner::udp_packet(ue(i), DN_HOST, 40000, DISCARD, &[0x5a; INNER - 28])
            .unwrap();
    mvno_upf_tests::gtp::Header::g_pdu(0x700 + i)
        .encode(&inner)
        .unwrap()
}

/// A downlink datagram's payload to session `i`'s UE (1000 inner bytes).
pub fn downlink_payload() -> Vec<u8> {
    vec![0xa5; INNER - 28]
}

/// Offers traffic on a thread: uplink from the RAN to N3, or downlink from
/// the DN to the UE, at `bps` for `dur`.
pub fn offer(
    lab: &Lab,
    i: u32,
    uplink: bool,
    rate: u64,
    dur: Duration,
) -> std::thread::JoinHandle<u64> {
    let (sock, to, datagram) = if uplink {
        let s = mvno_upf_tests::smf::socket_in_netns(&lab.ran_ns, "10.100.0.2:0".parse().unwrap())
            .unwrap();
        (
            s,
            std::net::SocketAddr::from((mvno_upf_tests::smf::LAB_N3, 2152)),
            uplink_datagram(i),
        )
    } else {
        let s = mvno_upf_tests::smf::socket_in_netns(
            &lab.dn_ns,
            std::net::SocketAddr::from((DN_HOST, 0)),
        )
        .unwrap();
        (
            s,
            std::net::SocketAddr::from((ue(i), DISCARD)),
            downlink_payload(),
        )
    };
    std::thread::spawn(move || mvno_upf_tests::pace::paced(&sock, to, &datagram, INNER, rate, dur))
}

// ---- stamped paced traffic through a session (restart and security tests) ----

/// 2 Mbit/s of 1000-byte inner packets: 250 a second, well within what
/// generic XDP on veth carries without loss.
pub const FLOW_RATE: u64 = 2_000_000;
/// The DN receiver's port of uplink flows.
pub const FLOW_UL_PORT: u16 = 7001;
/// The UE port of downlink flows.
pub const FLOW_UE_PORT: u16 = 7002;

/// Stamped paced traffic of one session in one direction, with its receiver
/// ([`mvno_upf_tests::rate`]): uplink G-PDUs from the RAN (from `LAB_RAN`
/// or another RAN address) received in the DN, or downlink UDP from the DN
/// received as G-PDUs at the RAN.
pub struct Flow {
    receiver: mvno_upf_tests::rate::Receiver,
    sender: std::thread::JoinHandle<mvno_upf_tests::rate::Sent>,
}

impl Flow {
    pub fn start(
        lab: &Lab,
        s: &mvno_upf_tests::smf::Session,
        uplink: bool,
        until: Duration,
    ) -> Flow {
        Flow::start_from(lab, s, uplink, mvno_upf_tests::smf::LAB_RAN, until)
    }

    /// [`Flow::start`] with the RAN's source address `ran` (an address of
    /// the RAN namespace).
    pub fn start_from(
        lab: &Lab,
        s: &mvno_upf_tests::smf::Session,
        uplink: bool,
        ran: std::net::Ipv4Addr,
        until: Duration,
    ) -> Flow {
        let ue = s.ue().expect("the session's UE address");
        let (rx, decap, tx, to, d) = if uplink {
            let qfi = s.plan.ul_qfis.first().copied();
            (
                mvno_upf_tests::smf::socket_in_netns(
                    &lab.dn_ns,
                    mvno_upf_tests::rate::v4(DN_HOST, FLOW_UL_PORT),
                ),
                mvno_upf_tests::rate::Decap::Plain,
                mvno_upf_tests::smf::socket_in_netns(&lab.ran_ns, mvno_upf_tests::rate::v4(ran, 0)),
                mvno_upf_tests::rate::v4(mvno_upf_tests::smf::LAB_N3, 2152),
                mvno_upf_tests::rate::Datagram::g_pdu(
                    s.teid().expect("uplink TEID"),
                    qfi,
                    mvno_upf_tests::rate::v4(ue, 40000),
                    mvno_upf_tests::rate::v4(DN_HOST, FLOW_UL_PORT),
                    INNER,
                ),
            )
        } else {
            (
                mvno_upf_tests::smf::socket_in_netns(
                    &lab.ran_ns,
                    mvno_upf_tests::rate::v4(mvno_upf_tests::smf::LAB_RAN, 2152),
                ),
                mvno_upf_tests::rate::Decap::GtpU {
                    teid: Some(s.plan.remote_teid),
                },
                mvno_upf_tests::smf::socket_in_netns(
                    &lab.dn_ns,
                    mvno_upf_tests::rate::v4(DN_HOST, 0),
                ),
                mvno_upf_tests::rate::v4(ue, FLOW_UE_PORT),
                mvno_upf_tests::rate::Datagram::plain(INNER),
            )
        };
        let epoch = Instant::now();
        let receiver =
            mvno_upf_tests::rate::Receiver::spawn(rx.expect("receiver socket"), decap, epoch)
                .expect("starting the receiver");
        let (tx, d) = (tx.expect("sender socket"), d.expect("datagram"));
        let sender = std::thread::spawn(move || {
            mvno_upf_tests::rate::send_paced(&tx, to, d, FLOW_RATE, epoch, until)
        });
        Flow { receiver, sender }
    }

    pub fn finish(self) -> (mvno_upf_tests::rate::Sent, mvno_upf_tests::rate::Arrivals) {
        let sent = self.sender.join().expect("sender thread");
        let got = self
            .receiver
            .finish(Duration::from_millis(300))
            .expect("receiver");
        (sent, got)
    }
}

/// Uplink packets for 100 ms: (sent, reached the DN).
pub fn uplink_burst(lab: &Lab, s: &mvno_upf_tests::smf::Session) -> (u64, u64) {
    uplink_burst_from(lab, s, mvno_upf_tests::smf::LAB_RAN)
}

/// [`uplink_burst`] from the RAN address `ran`.
pub fn uplink_burst_from(
    lab: &Lab,
    s: &mvno_upf_tests::smf::Session,
    ran: std::net::Ipv4Addr,
) -> (u64, u64) {
    let (sent, got) = Flow::start_from(lab, s, true, ran, Duration::from_millis(100)).finish();
    let n = sent.at_ns.len() as u64;
    assert!(n >= 10, "only {n} sent");
    (n, got.delivered_of(0..n))
}

pub fn all_of(b: (u64, u64)) -> bool {
    b.0 == b.1
}
