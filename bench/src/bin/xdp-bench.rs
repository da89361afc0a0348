//! `xdp-bench`: the XDP fast path's cost per packet under BPF_PROG_TEST_RUN,
//! net of a bare XDP_DROP program and as a ratio to a bare XDP_TX floor.
//! Prints a markdown table (machine, command, figures); needs root.

use anyhow::{Context, Result};
use clap::Parser;
use mvno_upf_bench::{install_interrupt_handler, run, Config, Dist};

#[derive(Parser, Debug)]
#[command(about = "Per-packet cost of the mvno-upf XDP program under BPF_PROG_TEST_RUN")]
struct Args {
    /// CI's quick check that the benchmark still runs (1 and 100 sessions,
    /// both key distributions, few frames; ignores the other options).
    #[arg(long)]
    smoke: bool,
    /// Session counts per session set, ascending (the tables are filled
    /// incrementally; five sets, see bench/README.md).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 10_000, 100_000, 1_000_000])]
    sessions: Vec<u32>,
    /// Key distributions of the cases that name a session: uniform, zipf
    /// (Zipf s = 1.0 popularity).
    #[arg(long, value_delimiter = ',', default_values_t = [Dist::Uniform, Dist::Zipf])]
    dist: Vec<Dist>,
    /// Sessions per set the tables are sized for (default: the largest
    /// session count; at most 1048576).
    #[arg(long)]
    capacity: Option<u32>,
    /// Frames per case per round (each run once, repeat = 1).
    #[arg(long, default_value_t = 4096)]
    frames: usize,
    /// Rounds; the figure is the median of the rounds' means.
    #[arg(long, default_value_t = 16)]
    rounds: usize,
    /// Seed of the session key generator.
    #[arg(long, default_value_t = 0x6d75_7066_6265_6e63)]
    seed: u64,
    /// POI peer prefixes the fast path counts traffic on (0: none; up to
    /// 64, the gNB's last): the per-packet cost of the POI counters.
    #[arg(long, default_value_t = 0)]
    poi_prefixes: usize,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    install_interrupt_handler();
    let config = if args.smoke {
        Config::smoke()
    } else {
        Config {
            capacity: args
                .capacity
                .unwrap_or_else(|| args.sessions.iter().copied().max().unwrap_or(1)),
            sessions: args.sessions,
            dists: args.dist,
            frames: args.frames,
            rounds: args.rounds,
            seed: args.seed,
            poi_prefixes: args.poi_prefixes,
            verbose: true,
        }
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = run(&config, &command)?;
    let md = report.markdown();
    print!("{md}");
    if let Some(path) = args.out {
        std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
