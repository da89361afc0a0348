//! `mupf-lab`: lab traffic for the mvno-upf gateway over plain UDP sockets.
//!
//! - `dn-echo`: a UDP echo server for the data network host (N6).
//! - `ran`: a simulated RAN that sends G-PDUs to the gateway's N3 address
//!   and checks every downlink datagram that comes back.
//! - `echo`: a GTP-U Echo Request/Response probe.
//! - `end-marker`: sends one GTP-U End Marker.
//! - `ue`: a UE on a TUN device behind the simulated RAN (4G or 5G with a
//!   QFI) for the kernel's TCP/IP; stops on SIGTERM/SIGINT.
//! - `pace` / `rate`: paced, stamped UDP (plain or uplink G-PDUs) and its
//!   receiver, which reports the delivered rate after a warm-up and loss.
//!
//! Exit status: 0 when the check passed, 1 when it failed (the reason on
//! stderr) or on an error such as an address that cannot be bound.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use mvno_upf_tests::gtp;
use mvno_upf_tests::inner::TAG_LEN;
use mvno_upf_tests::lab::{self, Proto, RanConfig};
use mvno_upf_tests::rate;

#[derive(Parser, Debug)]
#[command(
    name = "mupf-lab",
    version,
    about = "Lab traffic for the mvno-upf GTP-U gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// UDP echo server: sends every datagram back to its source unchanged.
    DnEcho(DnEchoArgs),
    /// Simulated RAN: sends G-PDUs to the gateway and checks the downlink.
    Ran(RanArgs),
    /// Sends a GTP-U Echo Request and checks the Echo Response.
    Echo(EchoArgs),
    /// Sends a GTP-U End Marker (no reply expected).
    EndMarker(EndMarkerArgs),
    /// A UE on a TUN device behind the simulated RAN: the kernel's TCP/IP
    /// (iperf3, curl) through the gateway's tunnel. Runs until SIGTERM or
    /// SIGINT, then prints its counters as JSON.
    Ue(UeArgs),
    /// Paced UDP stamped for `rate`: plain UDP to --to (the downlink, from
    /// the DN to a UE address), or uplink G-PDUs (--teid) to the gateway.
    /// Prints what it sent as JSON.
    Pace(PaceArgs),
    /// Receives `pace` traffic (plain, or G-PDUs with --gtp) and prints the
    /// delivered inner IP rate after a warm-up, packets, loss and per-bin
    /// rates as JSON.
    Rate(RateArgs),
    /// Attach a pass-everything XDP program to an interface and pin its link
    /// (for veth peers in native-mode labs; remove the pin to detach).
    XdpPass(XdpPassArgs),
}

#[derive(Args, Debug)]
struct XdpPassArgs {
    /// Interface name.
    #[arg(long)]
    iface: String,
    /// Where to pin the link in bpffs.
    #[arg(long)]
    pin: std::path::PathBuf,
    /// native or generic.
    #[arg(long, value_enum, default_value_t = PassMode::Native)]
    mode: PassMode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum PassMode {
    Native,
    Generic,
}

fn xdp_pass(a: XdpPassArgs) -> anyhow::Result<ExitCode> {
    let mode = match a.mode {
        PassMode::Native => upf_config::AttachMode::Native,
        PassMode::Generic => upf_config::AttachMode::Generic,
    };
    upfd::bpf::attach_pass_pinned(&a.iface, mode, &a.pin)?;
    println!(
        "pass program attached to {} ({}), link pinned at {}",
        a.iface,
        mode.name(),
        a.pin.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
struct PaceArgs {
    /// Local address (an ephemeral port unless given as ip:port).
    #[arg(long)]
    bind: Endpoint,
    /// Where to send: the receiver or UE address (ip:port), or the gateway's
    /// N3 address with --teid (port 2152 unless given).
    #[arg(long)]
    to: Endpoint,
    /// Offered rate of inner IP bits, kbit/s.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rate_kbps: u64,
    /// Inner IPv4 packet size in octets (what the rate counts).
    #[arg(long, default_value_t = 1000)]
    inner_len: usize,
    /// How long to send.
    #[arg(long, default_value_t = 3000)]
    duration_ms: u64,
    /// Uplink: G-PDUs with this TEID (decimal or 0x-hex), inner packets
    /// from --ue to --dst.
    #[arg(long, value_parser = parse_number::<u32>, requires_all = ["ue", "dst"])]
    teid: Option<u32>,
    /// 5G uplink: a UL PDU Session Container with this QFI.
    #[arg(long, value_parser = parse_qfi, requires = "teid")]
    qfi: Option<u8>,
    /// The inner source (the UE's address) of uplink G-PDUs.
    #[arg(long, requires = "teid")]
    ue: Option<Ipv4Addr>,
    /// The inner destination (ip:port in the DN) of uplink G-PDUs.
    #[arg(long, requires = "teid")]
    dst: Option<SocketAddr>,
}

#[derive(Args, Debug)]
struct RateArgs {
    /// Address and port to receive on.
    #[arg(long)]
    bind: SocketAddr,
    /// Expect G-PDUs (the downlink at the RAN) and measure their inner
    /// packets.
    #[arg(long)]
    gtp: bool,
    /// Count only G-PDUs with this TEID (decimal or 0x-hex).
    #[arg(long, value_parser = parse_number::<u32>, requires = "gtp")]
    teid: Option<u32>,
    /// How long to listen.
    #[arg(long, default_value_t = 5000)]
    duration_ms: u64,
    /// The measured window starts this long after the first arrival.
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    /// Also report rates in bins of this width from the first arrival.
    #[arg(long)]
    bin_ms: Option<u64>,
}

#[derive(Args, Debug)]
struct UeArgs {
    /// TUN device name.
    #[arg(long, default_value = "mupf-ue0")]
    tun: String,
    /// The UE's IPv4 address.
    #[arg(long)]
    ue: Ipv4Addr,
    /// Destinations routed into the tunnel (repeatable), e.g. 10.200.0.2/32.
    #[arg(long = "route", required = true)]
    routes: Vec<String>,
    /// The TUN's MTU (the encapsulation adds 36 bytes on N3).
    #[arg(long, default_value_t = 1400)]
    mtu: u32,
    /// Our GTP-U address (the RAN's), e.g. 10.100.0.2:2152.
    #[arg(long)]
    bind: SocketAddr,
    /// The gateway's GTP-U address.
    #[arg(long)]
    gw: SocketAddr,
    /// Uplink TEID (decimal or 0x-hex).
    #[arg(long, value_parser = parse_number::<u32>)]
    teid: u32,
    /// 5G: a UL PDU Session Container with this QFI on every G-PDU.
    #[arg(long, value_parser = parse_qfi)]
    qfi: Option<u8>,
    /// Accept downlink G-PDUs with this TEID only (decimal or 0x-hex).
    #[arg(long, value_parser = parse_number::<u32>)]
    downlink_teid: Option<u32>,
}

#[derive(Args, Debug)]
struct DnEchoArgs {
    /// Address and port to listen on, e.g. 10.200.0.2:7000.
    #[arg(long)]
    bind: SocketAddr,
    /// Stop after echoing this many datagrams.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many milliseconds without a datagram.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print one line per datagram.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Args, Debug)]
struct RanArgs {
    /// RAN address to send from and receive the downlink on (port 2152
    /// unless given as ip:port).
    #[arg(long)]
    bind: Endpoint,
    /// The gateway's N3 address (port 2152 unless given as ip:port).
    #[arg(long)]
    gw: Endpoint,
    /// The session's local TEID at the gateway (uplink), hex 0x.. or decimal.
    #[arg(long, value_parser = parse_number::<u32>)]
    teid: u32,
    /// The UE's IPv4 address.
    #[arg(long)]
    ue: Ipv4Addr,
    /// The DN host, ip:port (the port may be left out with --proto icmp).
    #[arg(long)]
    dst: Endpoint,
    /// The remote TEID the downlink must carry, hex 0x.. or decimal.
    #[arg(long, value_parser = parse_number::<u32>)]
    expect_teid: Option<u32>,
    /// QFI of the UL PDU Session Container, and the QFI any DL container
    /// must carry (0-63).
    #[arg(long, value_parser = parse_qfi)]
    qfi: Option<u8>,
    /// The QFI the DL container must carry, when it is not --qfi (several
    /// uplink QoS flows answered on one downlink flow).
    #[arg(long, value_parser = parse_qfi, requires = "container")]
    dl_qfi: Option<u8>,
    /// 5G: add an UL PDU Session Container and require a DL one.
    #[arg(long, requires = "qfi")]
    container: bool,
    /// Set S and carry the packet index as GTP-U sequence number.
    #[arg(long)]
    seq: bool,
    /// Packets to send.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// Inner payload octets (at least the 12-octet tag).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(TAG_LEN as i64..))]
    size: u16,
    /// Milliseconds between packets.
    #[arg(long, default_value_t = 10)]
    interval_ms: u64,
    /// Milliseconds to wait for replies after the last packet.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Inner protocol: UDP to --dst (echoed by dn-echo), or ICMP echo.
    #[arg(long, value_enum, default_value_t = Proto::Udp)]
    proto: Proto,
    /// Inner source address instead of --ue (spoofing tests).
    #[arg(long)]
    src: Option<Ipv4Addr>,
    /// Pass only if no reply at all arrives within the timeout.
    #[arg(long)]
    expect_none: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct EchoArgs {
    /// Local address (an ephemeral port unless given as ip:port).
    #[arg(long)]
    bind: Endpoint,
    /// The gateway's GTP-U address (port 2152 unless given as ip:port).
    #[arg(long)]
    gw: Endpoint,
    /// Sequence number, hex 0x.. or decimal.
    #[arg(long, default_value = "0x1234", value_parser = parse_number::<u16>)]
    seq: u16,
    /// Milliseconds to wait for the response.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct EndMarkerArgs {
    /// Local address (an ephemeral port unless given as ip:port).
    #[arg(long)]
    bind: Endpoint,
    /// The gateway's GTP-U address (port 2152 unless given as ip:port).
    #[arg(long)]
    gw: Endpoint,
    /// TEID of the End Marker, hex 0x.. or decimal.
    #[arg(long, value_parser = parse_number::<u32>)]
    teid: u32,
}

/// An address with an optional port: `10.0.0.1`, `10.0.0.1:2152`, `::1`
/// or `[::1]:2152`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Endpoint {
    ip: IpAddr,
    port: Option<u16>,
}

impl Endpoint {
    /// The socket address, with `default_port` if none was given.
    fn with_default_port(self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(default_port))
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Endpoint, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Endpoint { ip, port: None });
        }
        s.parse::<SocketAddr>()
            .map(|a| Endpoint {
                ip: a.ip(),
                port: Some(a.port()),
            })
            .map_err(|_| format!("{s:?} is neither an IP address nor ip:port"))
    }
}

/// Parses a decimal or `0x`-prefixed hexadecimal integer.
fn parse_number<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let value = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    }
    .map_err(|e| format!("{s:?}: {e}"))?;
    T::try_from(value).map_err(|_| format!("{s:?} is out of range"))
}

/// Parses a QFI (0-63).
fn parse_qfi(s: &str) -> Result<u8, String> {
    let qfi = parse_number::<u8>(s)?;
    if qfi > gtp::MAX_QFI {
        return Err(format!("QFI {qfi} is above {}", gtp::MAX_QFI));
    }
    Ok(qfi)
}

/// Prints `value` as a single line of JSON.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn dn_echo(args: DnEchoArgs) -> anyhow::Result<ExitCode> {
    let sock = UdpSocket::bind(args.bind).with_context(|| format!("binding {}", args.bind))?;
    eprintln!("dn-echo: listening on {}", sock.local_addr()?);
    let idle = args.timeout_ms.map(Duration::from_millis);
    let echoed = lab::run_dn_echo(&sock, args.count, idle, |from, datagram| {
        if args.verbose {
            println!("dn-echo: {} octets from {from}", datagram.len());
        }
    })?;
    eprintln!("dn-echo: echoed {echoed} datagram(s)");
    Ok(ExitCode::SUCCESS)
}

fn ran(args: RanArgs) -> anyhow::Result<ExitCode> {
    let dst = match args.dst.ip {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => bail!("--dst {ip}: the inner packets are IPv4"),
    };
    let dst_port = match (args.dst.port, args.proto) {
        (Some(port), _) => port,
        (None, Proto::Icmp) => 0,
        (None, Proto::Udp) => bail!("--dst needs a port with --proto udp (ip:port)"),
    };
    let cfg = RanConfig {
        bind: args.bind.with_default_port(gtp::PORT),
        gw: args.gw.with_default_port(gtp::PORT),
        teid: args.teid,
        expect_teid: args.expect_teid,
        qfi: args.qfi,
        dl_qfi: args.dl_qfi,
        container: args.container,
        seq: args.seq,
        count: args.count,
        size: usize::from(args.size),
        interval: Duration::from_millis(args.interval_ms),
        timeout: Duration::from_millis(args.timeout_ms),
        proto: args.proto,
        ue: args.ue,
        src: args.src,
        dst,
        dst_port,
        expect_none: args.expect_none,
        run_id: lab::default_run_id(),
    };
    let report = lab::run_ran(&cfg)?;
    if args.json {
        print_json(&report)?;
    } else {
        println!("{}", report.summary());
    }
    Ok(match report.failure() {
        None => ExitCode::SUCCESS,
        Some(reason) => {
            eprintln!("mupf-lab ran: FAIL: {reason}");
            for problem in report.problems.iter().skip(1) {
                eprintln!("  {problem}");
            }
            ExitCode::FAILURE
        }
    })
}

fn echo(args: EchoArgs) -> anyhow::Result<ExitCode> {
    let bind = args.bind.with_default_port(0);
    let gw = args.gw.with_default_port(gtp::PORT);
    let report = lab::run_echo(bind, gw, args.seq, Duration::from_millis(args.timeout_ms))?;
    if args.json {
        print_json(&report)?;
    } else if report.ok {
        println!(
            "PASS: Echo Response from {} seq {:#06x} restart counter {} rtt {:.3} ms",
            gw,
            report.seq,
            report.restart_counter.unwrap_or_default(),
            report.rtt_ms.unwrap_or_default()
        );
    } else {
        println!("FAIL: Echo Request seq {:#06x} to {gw}", report.seq);
    }
    Ok(match &report.error {
        None => ExitCode::SUCCESS,
        Some(reason) => {
            eprintln!("mupf-lab echo: FAIL: {reason}");
            ExitCode::FAILURE
        }
    })
}

fn end_marker(args: EndMarkerArgs) -> anyhow::Result<ExitCode> {
    let bind = args.bind.with_default_port(0);
    let gw = args.gw.with_default_port(gtp::PORT);
    lab::send_end_marker(bind, gw, args.teid)?;
    println!("sent End Marker TEID {:#010x} to {gw}", args.teid);
    Ok(ExitCode::SUCCESS)
}

/// Set by SIGTERM/SIGINT: `mupf-lab ue` stops within a tick.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // An atomic store is async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

fn ue(a: UeArgs) -> anyhow::Result<ExitCode> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let handler: extern "C" fn(libc::c_int) = on_stop_signal;
        // SAFETY: the handler only stores to an atomic (async-signal-safe);
        // it is installed before any thread of this process starts.
        let old = unsafe { libc::signal(sig, handler as libc::sighandler_t) };
        if old == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error()).context("installing a signal handler");
        }
    }
    let stats = mvno_upf_tests::ue::run_ue(
        &mvno_upf_tests::ue::UeConfig {
            tun: a.tun,
            ue: a.ue,
            routes: a.routes,
            mtu: a.mtu,
            bind: a.bind,
            gw: a.gw,
            teid: a.teid,
            qfi: a.qfi,
            downlink_teid: a.downlink_teid,
        },
        &STOP,
    )?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(ExitCode::SUCCESS)
}

fn pace(a: PaceArgs) -> anyhow::Result<ExitCode> {
    let (bind, to, datagram) = match a.teid {
        Some(teid) => {
            let (Some(ue), Some(dst)) = (a.ue, a.dst) else {
                bail!("--teid needs --ue and --dst");
            };
            (
                a.bind.with_default_port(0),
                a.to.with_default_port(gtp::PORT),
                rate::Datagram::g_pdu(
                    teid,
                    a.qfi,
                    SocketAddr::from((ue, 40000)),
                    dst,
                    a.inner_len,
                )?,
            )
        }
        None => {
            let Some(port) = a.to.port else {
                bail!("--to needs a port (or --teid for G-PDUs to port 2152)");
            };
            (
                a.bind.with_default_port(0),
                SocketAddr::new(a.to.ip, port),
                rate::Datagram::plain(a.inner_len)?,
            )
        }
    };
    let sock = UdpSocket::bind(bind).with_context(|| format!("binding {bind}"))?;
    let dur = Duration::from_millis(a.duration_ms);
    let sent = rate::send_paced(&sock, to, datagram, a.rate_kbps * 1000, Instant::now(), dur);
    let report = serde_json::json!({
        "to": to.to_string(),
        "sent": sent.at_ns.len(),
        "skipped": sent.skipped,
        "refused": sent.refused,
        "offered_bps": sent.offered_bps(Duration::ZERO, dur),
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn rate_report(a: RateArgs) -> anyhow::Result<ExitCode> {
    let sock = UdpSocket::bind(a.bind).with_context(|| format!("binding {}", a.bind))?;
    let decap = if a.gtp {
        rate::Decap::GtpU { teid: a.teid }
    } else {
        rate::Decap::Plain
    };
    let epoch = Instant::now();
    let rx = rate::Receiver::spawn(sock, decap, epoch)?;
    let got = rx.finish(Duration::from_millis(a.duration_ms))?;
    let first = got.list.iter().map(|x| x.at_ns).min();
    let last = got.list.iter().map(|x| x.at_ns).max();
    let (Some(first), Some(last)) = (first, last) else {
        println!(
            "{}",
            serde_json::json!({"packets": 0, "rejected": got.rejected})
        );
        return Ok(ExitCode::FAILURE);
    };
    let from = Duration::from_nanos(first) + Duration::from_millis(a.warmup_ms);
    let to = Duration::from_nanos(last);
    let w = got.window(from, to);
    let highest = got.list.iter().map(|x| x.seq).max().unwrap_or(0);
    let unique = got.delivered_of(0..highest + 1);
    let bins: Vec<f64> = a
        .bin_ms
        .map(|b| {
            got.bins(
                Duration::from_nanos(first),
                to,
                Duration::from_millis(b.max(1)),
            )
            .into_iter()
            .map(|r| r.round())
            .collect()
        })
        .unwrap_or_default();
    let report = serde_json::json!({
        "packets": got.list.len(),
        "window_ms": w.dur.as_secs_f64() * 1000.0,
        "window_packets": w.packets,
        "window_bytes": w.bytes,
        "delivered_bps": if w.dur.is_zero() { 0.0 } else { w.bps() },
        "highest_seq": highest,
        "lost": highest + 1 - unique,
        "duplicates": got.duplicates(),
        "rejected": got.rejected,
        "bins_bps": bins,
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DnEcho(args) => dn_echo(args),
        Command::Ran(args) => ran(args),
        Command::Echo(args) => echo(args),
        Command::EndMarker(args) => end_marker(args),
        Command::Ue(args) => ue(args),
        Command::Pace(args) => pace(args),
        Command::Rate(args) => rate_report(args),
        Command::XdpPass(args) => xdp_pass(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("mupf-lab: error: {e:#}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number::<u32>("0x1234"), Ok(0x1234));
        assert_eq!(parse_number::<u32>("0XfF"), Ok(255));
        assert_eq!(parse_number::<u32>("4660"), Ok(4660));
        assert_eq!(parse_number::<u32>("0xffffffff"), Ok(u32::MAX));
        assert!(parse_number::<u32>("0x100000000").is_err());
        assert!(parse_number::<u16>("65536").is_err());
        assert!(parse_number::<u32>("-1").is_err());
        assert!(parse_number::<u32>("0x").is_err());
        assert_eq!(parse_qfi("63"), Ok(63));
        assert!(parse_qfi("64").is_err());
    }

    #[test]
    fn endpoints() {
        let e: Endpoint = "10.0.0.1".parse().unwrap();
        assert_eq!(e.with_default_port(2152), "10.0.0.1:2152".parse().unwrap());
        let e: Endpoint = "10.0.0.1:7000".parse().unwrap();
        assert_eq!(e.with_default_port(2152), "10.0.0.1:7000".parse().unwrap());
        let e: Endpoint = "[::1]:9".parse().unwrap();
        assert_eq!(e.port, Some(9));
        assert!("::1".parse::<Endpoint>().is_ok());
        assert!("host:1".parse::<Endpoint>().is_err());
    }

    #[test]
    fn ran_flags_parse() {
        let cli = Cli::try_parse_from([
            "mupf-lab",
            "ran",
            "--bind",
            "10.0.0.1",
            "--gw",
            "10.0.0.2",
            "--teid",
            "0x10",
            "--ue",
            "10.45.0.2",
            "--dst",
            "10.200.0.2:7000",
            "--qfi",
            "9",
            "--container",
            "--seq",
            "--proto",
            "icmp",
            "--json",
        ])
        .unwrap();
        let Command::Ran(args) = cli.command else {
            panic!("not ran");
        };
        assert_eq!(args.teid, 0x10);
        assert_eq!(args.proto, Proto::Icmp);
        assert_eq!((args.count, args.size, args.interval_ms), (1, 64, 10));
        // --container needs --qfi; --size needs room for the tag.
        let base = [
            "mupf-lab",
            "ran",
            "--bind",
            "10.0.0.1",
            "--gw",
            "10.0.0.2",
            "--teid",
            "1",
            "--ue",
            "10.45.0.2",
            "--dst",
            "10.200.0.2:7",
        ];
        assert!(Cli::try_parse_from(base.iter().chain(&["--container"])).is_err());
        assert!(Cli::try_parse_from(base.iter().chain(&["--size", "11"])).is_err());
        assert!(Cli::try_parse_from(base.iter().chain(&["--count", "0"])).is_err());
        assert!(Cli::try_parse_from(base).is_ok());
    }
}
