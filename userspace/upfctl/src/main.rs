//! `upfctl`: talks to a running `upfd` over its control socket.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use upfd::config::SessionsFile;
use upfd::control::{self, Request, Response, SessionStats, Stats};
use upfd::datapath::bpf::{self, AttachMode};

#[derive(Parser, Debug)]
#[command(version, about = "Control a running mvno-upf daemon")]
struct Args {
    /// The daemon's control socket (gateway.control_socket).
    #[arg(long, global = true, default_value = "/run/mvno-upf/upfd.sock")]
    socket: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Session table operations.
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// Fast path counters, drops by reason, ports and sessions.
    Stats {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attach a pass-everything XDP program to an interface and pin its link
    /// (for veth peers in native-mode labs; remove the pin to detach).
    XdpPass {
        /// Interface name.
        #[arg(long)]
        iface: String,
        /// Where to pin the link in bpffs.
        #[arg(long)]
        pin: PathBuf,
        /// native or generic.
        #[arg(long, default_value = "native")]
        mode: String,
    },
}

#[derive(Subcommand, Debug)]
enum SessionsCmd {
    /// Install every session of a file of [[session]] tables (see configs/sessions.toml).
    Load {
        /// The file.
        file: PathBuf,
    },
    /// Update existing sessions (by id) from a file of [[session]] tables:
    /// a new peer or remote TEID moves the downlink (an End Marker goes to the old peer).
    Update {
        /// The file.
        file: PathBuf,
    },
    /// List the sessions with their counters.
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a session by id.
    Remove {
        /// Session id.
        id: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.cmd {
        Cmd::Sessions(SessionsCmd::Load { file }) => apply(&args.socket, &file, false),
        Cmd::Sessions(SessionsCmd::Update { file }) => apply(&args.socket, &file, true),
        Cmd::Sessions(SessionsCmd::List { json }) => {
            let r = ok(control::call(&args.socket, &Request::List)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.data)?);
            } else {
                let s: Vec<SessionStats> = serde_json::from_value(r.data)?;
                print_sessions(&s);
            }
            Ok(())
        }
        Cmd::Sessions(SessionsCmd::Remove { id }) => {
            let r = ok(control::call(&args.socket, &Request::Remove { id })?)?;
            println!("session {id} removed; final counters {}", r.data);
            Ok(())
        }
        Cmd::Stats { json } => {
            let r = ok(control::call(&args.socket, &Request::Stats)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.data)?);
            } else {
                print_stats(&serde_json::from_value(r.data)?);
            }
            Ok(())
        }
        Cmd::XdpPass { iface, pin, mode } => {
            let mode = match mode.as_str() {
                "native" => AttachMode::Native,
                "generic" => AttachMode::Generic,
                m => bail!("--mode {m}: expected native or generic"),
            };
            bpf::attach_pass_pinned(&iface, mode, &pin)?;
            println!(
                "pass program attached to {iface} ({}), link pinned at {}",
                mode.name(),
                pin.display()
            );
            Ok(())
        }
    }
}

fn ok(r: Response) -> anyhow::Result<Response> {
    if r.ok {
        Ok(r)
    } else {
        bail!(
            "{}",
            r.error
                .unwrap_or_else(|| "the daemon refused the request".into())
        )
    }
}

/// Installs (or updates) every session of a file, one request each.
fn apply(socket: &Path, file: &Path, update: bool) -> anyhow::Result<()> {
    let f = SessionsFile::load(file)?;
    let (mut done, mut failed) = (0, 0);
    for s in f.sessions {
        let id = s.id;
        let req = if update {
            Request::Update { session: s }
        } else {
            Request::Install { session: s }
        };
        let r = control::call(socket, &req).context("talking to the daemon")?;
        if r.ok {
            done += 1;
        } else {
            failed += 1;
            eprintln!("session {id}: {}", r.error.unwrap_or_default());
        }
    }
    let verb = if update { "updated" } else { "installed" };
    println!("{done} sessions {verb}, {failed} refused");
    if failed > 0 {
        bail!("{failed} sessions were refused");
    }
    Ok(())
}

fn print_sessions(s: &[SessionStats]) {
    println!(
        "{:>8} {:>10} {:>15} {:>15} {:>10} {:>3} {:>4} {:>10} {:>12} {:>10} {:>12}",
        "id",
        "teid",
        "ue",
        "peer",
        "peer_teid",
        "gen",
        "qfi",
        "ul_pkts",
        "ul_bytes",
        "dl_pkts",
        "dl_bytes"
    );
    for x in s {
        let sp = &x.info.spec;
        let gen = match sp.generation {
            upfd::session::Generation::Lte => "4g",
            upfd::session::Generation::Nr => "5g",
        };
        println!(
            "{:>8} {:>#10x} {:>15} {:>15} {:>#10x} {:>3} {:>4} {:>10} {:>12} {:>10} {:>12}",
            sp.id,
            sp.local_teid,
            sp.ue_ipv4.to_string(),
            sp.peer_ipv4.to_string(),
            sp.remote_teid,
            gen,
            sp.qfi,
            x.counters.ul_packets,
            x.counters.ul_bytes,
            x.counters.dl_packets,
            x.counters.dl_bytes
        );
    }
}

fn print_stats(s: &Stats) {
    let f = &s.fastpath;
    println!("sessions: {} of {}", s.sessions.len(), s.capacity);
    println!(
        "uplink:   {} packets, {} bytes   downlink: {} packets, {} bytes",
        f.counter("uplink_forwarded"),
        f.counter("uplink_bytes"),
        f.counter("downlink_forwarded"),
        f.counter("downlink_bytes")
    );
    println!("counters:");
    for (n, v) in f.counters.iter().filter(|(_, v)| *v > 0) {
        println!("  {n:<28} {v}");
    }
    println!("drops:");
    for (n, v) in f.drops.iter().filter(|(_, v)| *v > 0) {
        println!("  {n:<28} {v}");
    }
    println!("ports:");
    println!(
        "  {:<12} {:<6} {:>10} {:>12} {:>10} {:>8} {:>8} {:>8}",
        "iface", "roles", "rx_pkts", "rx_bytes", "redirect", "tx", "pass", "drop"
    );
    for p in &f.ports {
        println!(
            "  {:<12} {:<6} {:>10} {:>12} {:>10} {:>8} {:>8} {:>8}",
            p.name, p.roles, p.rx_packets, p.rx_bytes, p.redirected, p.tx, p.passed, p.dropped
        );
    }
    println!("sessions:");
    print_sessions(&s.sessions);
}
