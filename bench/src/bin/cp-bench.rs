//! `cp-bench`: PFCP Session Establishment / Deletion rates against the
//! release upfd (BPF datapath), the time and memory of a bulk install,
//! kernel map memory per session, and raw map fills per entry vs batched.
//! Prints a markdown section; needs root, two CPUs and
//! `cargo build --release -p upfd`.

use anyhow::{Context, Result};
use clap::Parser;
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
    /// Also write the section to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    install_interrupt_handler();
    let upfd = args.upfd.unwrap_or_else(default_upfd);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
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
