//! `e2e-bench`: end-to-end throughput of the real daemon (upfd) between
//! veth namespaces: the generator's ceiling, then per direction, inner
//! packet size, session count and XDP attach mode the zero-loss throughput
//! (binary search) and the maximum forwarding rate, with every session's
//! flow sent in turn. Prints a markdown section; needs root and a release
//! build of upfd, upfctl and mupf-lab next to this executable (or in
//! `$UPF_BIN_DIR`).

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use mvno_upf_bench::e2e::{run, Config, Direction, Mode, Order, Tables};
use mvno_upf_bench::install_interrupt_handler;

#[derive(Parser, Debug)]
#[command(about = "End-to-end throughput of upfd through a veth namespace lab")]
struct Args {
    /// CI's quick check: one short case per direction, generic, 64 sessions, 64 B.
    #[arg(long)]
    smoke: bool,
    /// Directions: uplink, downlink.
    #[arg(long, value_delimiter = ',')]
    direction: Vec<String>,
    /// Inner IP packet sizes in bytes (36..=1400).
    #[arg(long, value_delimiter = ',')]
    size: Vec<usize>,
    /// Session counts (static sessions, 1..=1000000), e.g. 16,100000. Every
    /// session is sent to in turn.
    #[arg(long, value_delimiter = ',')]
    sessions: Vec<u32>,
    /// Orders the generator visits the sessions in: random (a fixed
    /// pseudo-random permutation, the default), rr (index order).
    #[arg(long, value_delimiter = ',')]
    order: Vec<String>,
    /// Session tables: hash (TEIDs outside the gateway's range, no UE
    /// prefixes: the hash fallbacks, the default), direct (the direct-indexed
    /// tables; sets gateway.ue_prefixes).
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    /// XDP attach modes: generic, native.
    #[arg(long, value_delimiter = ',')]
    mode: Vec<String>,
    /// Length of one trial, milliseconds.
    #[arg(long)]
    trial_ms: Option<u64>,
    /// Full-load trials per case (the max forwarding rate is the best).
    #[arg(long)]
    full_trials: Option<usize>,
    /// Rate-limited trials of the zero-loss search per case.
    #[arg(long)]
    search_trials: Option<usize>,
    /// The generator's CPU (default: the last); everything else runs on the others.
    #[arg(long)]
    gen_cpu: Option<usize>,
    /// `KEY=VALUE` appended to the generated config's [gateway] section
    /// (VALUE in TOML syntax, e.g. spread="teid"); repeatable.
    #[arg(long = "gateway-option")]
    gateway_option: Vec<String>,
    /// Skip the generator-ceiling rows (no gateway in the path).
    #[arg(long)]
    no_ceiling: bool,
    /// The markdown section's title.
    #[arg(long)]
    title: Option<String>,
    /// Also write the markdown to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    install_interrupt_handler();
    let mut config = if args.smoke {
        Config::smoke()
    } else {
        Config::full()
    };
    if !args.direction.is_empty() {
        config.directions = args
            .direction
            .iter()
            .map(|d| Direction::parse(d))
            .collect::<Result<_>>()?;
    }
    if !args.size.is_empty() {
        config.sizes = args.size;
    }
    if !args.sessions.is_empty() {
        config.sessions = args.sessions;
    }
    if !args.order.is_empty() {
        config.orders = args
            .order
            .iter()
            .map(|o| Order::parse(o))
            .collect::<Result<_>>()?;
    }
    if !args.tables.is_empty() {
        config.tables = args
            .tables
            .iter()
            .map(|t| Tables::parse(t))
            .collect::<Result<_>>()?;
    }
    if !args.mode.is_empty() {
        config.modes = args
            .mode
            .iter()
            .map(|m| Mode::parse(m))
            .collect::<Result<_>>()?;
    }
    if let Some(ms) = args.trial_ms {
        config.trial = Duration::from_millis(ms);
    }
    if let Some(n) = args.full_trials {
        config.full_trials = n.max(1);
    }
    if let Some(n) = args.search_trials {
        config.search_trials = n;
    }
    config.gen_cpu = args.gen_cpu;
    config.ceiling = !args.no_ceiling;
    if let Some(t) = args.title {
        config.title = t;
    }
    config.gateway_options = args
        .gateway_option
        .iter()
        .map(|o| match o.split_once('=') {
            Some((k, v)) => Ok(format!("{} = {}", k.trim(), v.trim())),
            None => anyhow::bail!("--gateway-option {o:?}: expected KEY=VALUE"),
        })
        .collect::<Result<_>>()?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = run(&config, &command)?;
    let md = report.markdown();
    print!("{md}");
    if let Some(path) = args.out {
        std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
