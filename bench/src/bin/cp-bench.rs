//! `cp-bench`: PFCP Session Establishment / Deletion rates against the
//! release upfd (BPF datapath), the time and memory of a bulk install,
//! kernel map memory per session, and raw map fills per entry vs batched;
//! or (`--idle-urrs N`) the scale scenario: N sessions with a threshold and
//! a periodic URR held idle, with upfd's CPU, heartbeat latency, report
//! lateness, establishment rate and memory per session.
//! Prints a markdown section; needs root, two CPUs and
//! `cargo build --release -p upfd`.

use anyhow::{Context, Result};
use clap::Parser;
use mvno_upf_bench::cpbench::idle::{self, IdleConfig};
use mvno_upf_bench::cpbench::{churn, default_upfd, run, ChurnConfig, CpConfig};
use mvno_upf_bench::install_interrupt_handler;

#[derive(Parser, Debug)]
#[command(about = "PFCP session rates and memory of the mvno-upf daemon")]
struct Args {
    /// CI's quick check that the benchmark still runs (small counts).
    #[arg(long)]
    smoke: bool,
    /// The upfd binary (default: the workspace's target/release/upfd).
    #[arg(long)]
    upfd: Option<std::path::PathBuf>,
    /// Windows of outstanding requests for the rate curve.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 64, 256])]
    windows: Vec<usize>,
    /// Sessions established and deleted per window.
    #[arg(long, default_value_t = 50_000)]
    rate_sessions: u32,
    /// Sessions of the bulk install (memory figures).
    #[arg(long, default_value_t = 1_000_000)]
    bulk_sessions: u32,
    /// Uplink (and downlink) entries of the raw map fill.
    #[arg(long, default_value_t = 1_000_000)]
    fill_entries: u32,
    /// gateway.max_sessions of the daemon (map sizes).
    #[arg(long, default_value_t = 1_000_000)]
    max_sessions: u32,
    /// Instead of the rates: this many establish/delete cycles, sampling
    /// upfd's map entries, pools and memory (the churn section).
    #[arg(long)]
    churn: Option<u32>,
    /// Sessions per churn batch (established, then deleted).
    #[arg(long, default_value_t = 1000)]
    churn_batch: u32,
    /// Settled samples over the churn run.
    #[arg(long, default_value_t = 10)]
    churn_samples: u32,
    /// Instead of the rates: install this many sessions, each with a VOLTH
    /// and a PERIO URR, hold them idle for --idle-secs and measure upfd's
    /// CPU, heartbeat latency, report lateness, the establishment rate
    /// with them held, and memory per session. With --smoke: the smoke
    /// counts (2000 sessions, 5 s period, 12 s idle, 500 rate sessions)
    /// whatever N is.
    #[arg(long, value_name = "N", conflicts_with = "churn")]
    idle_urrs: Option<u32>,
    /// Seconds of the idle window.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Measurement Period of the periodic URR, seconds.
    #[arg(long, default_value_t = 60)]
    idle_period_secs: u32,
    /// Outstanding requests while installing the N sessions.
    #[arg(long, default_value_t = 16)]
    idle_window: usize,
    /// Sessions established and deleted (beyond the N) for the rate
    /// figures, on the empty gateway and with the N held.
    #[arg(long, default_value_t = 50_000)]
    idle_rate_sessions: u32,
    /// Outstanding requests of those rate figures.
    #[arg(long, default_value_t = 16)]
    idle_rate_window: usize,
    /// Heartbeat Requests per second from the SMF during the idle window.
    #[arg(long, default_value_t = 10)]
    idle_heartbeat_hz: u32,
    /// Also write the section to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    install_interrupt_handler();
    let upfd = args.upfd.unwrap_or_else(default_upfd);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(n) = args.idle_urrs {
        let cfg = if args.smoke {
            IdleConfig::smoke(upfd)
        } else {
            IdleConfig {
                idle_secs: args.idle_secs,
                period_secs: args.idle_period_secs,
                window: args.idle_window,
                rate_sessions: args.idle_rate_sessions,
                rate_window: args.idle_rate_window,
                heartbeat_hz: args.idle_heartbeat_hz,
                ..IdleConfig::new(upfd, n)
            }
        };
        let md = idle::run(&cfg, &command, true)?.markdown();
        print!("{md}");
        if let Some(path) = args.out {
            std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(());
    }
    if let Some(cycles) = args.churn {
        let cfg = ChurnConfig {
            upfd,
            cycles,
            batch: args.churn_batch,
            window: 64,
            samples: args.churn_samples,
        };
        let md = churn(&cfg, &command, true)?.markdown();
        print!("{md}");
        if let Some(path) = args.out {
            std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(());
    }
    let cfg = if args.smoke {
        CpConfig::smoke(upfd)
    } else {
        CpConfig {
            upfd,
            windows: args.windows,
            rate_sessions: args.rate_sessions,
            bulk_sessions: args.bulk_sessions,
            fill_entries: args.fill_entries,
            max_sessions: args.max_sessions,
        }
    };
    let report = run(&cfg, &command, true)?;
    let md = report.markdown();
    print!("{md}");
    if let Some(path) = args.out {
        std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
