//! `upfctl`: talks to a running `upfd` over its control socket.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use upf_config::SessionsFile;
use upf_control::{self as control, Request, Response, SessionStats, Stats};

mod meter_cmd;

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
    /// One session (by our SEID, decimal or 0x-hex) with its rules and per-PDR counters.
    Session {
        /// Our SEID (the UP F-SEID the SMF got).
        seid: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fast path counters, drops by reason, ports, sessions and PFCP peers.
    Stats {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// QoS: per POI capacity, rate, demand and caps; per session its meters
    /// (QER MBRs, plan, fair-share cap), current rate and drops.
    Qos {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Peak-hour and charge report of a POI from the meter's store: daily
    /// busy hours, busiest days per month and fiscal year, the 95th
    /// percentile, the regulator's table, units, charges and a forecast.
    Report {
        /// The daemon's configuration (store, [report], [[poi]] capacities and host).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The store URL (overrides meter.store): sqlite:PATH or postgres://...
        #[arg(long)]
        store: Option<String>,
        /// The POI.
        #[arg(long)]
        poi: String,
        /// Direction: dl (downlink, the default) or ul.
        #[arg(long, default_value = "dl")]
        dir: String,
        /// First local day, YYYY-MM-DD (default: start of the current fiscal year).
        #[arg(long)]
        from: Option<String>,
        /// Last local day, inclusive, YYYY-MM-DD (default: today).
        #[arg(long)]
        to: Option<String>,
        /// A whole fiscal year (FY2026 = 2026-04-01 .. 2027-03-31) instead of --from/--to.
        #[arg(long)]
        fy: Option<i32>,
        /// Only these gateways (repeat; default: every gateway in the store, summed).
        #[arg(long = "gateway")]
        gateways: Vec<String>,
        /// table, csv, json or html.
        #[arg(long, default_value = "table")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Import historical traffic (CSV: timestamp, poi, dir and bytes, a byte
    /// counter, bps or mbps) into the meter's store; all or nothing.
    Import {
        /// The daemon's configuration (for meter.store and meter.gateway).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The store URL (overrides meter.store).
        #[arg(long)]
        store: Option<String>,
        /// The gateway the rows are filed under (default: meter.gateway or the host name).
        #[arg(long)]
        gateway: Option<String>,
        /// The CSV file.
        file: PathBuf,
    },
    /// Generate realistic synthetic traffic of a POI (weekday lunch and
    /// evening peaks, weekends, growth) into the store or as import CSV.
    Synth {
        /// The daemon's configuration (store, time zone).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The store URL (overrides meter.store).
        #[arg(long)]
        store: Option<String>,
        /// The gateway the rows are filed under (default: meter.gateway or the host name).
        #[arg(long)]
        gateway: Option<String>,
        /// The POI.
        #[arg(long)]
        poi: String,
        /// First local day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last local day, inclusive, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// Downlink busy-hour peak at the start, Mbit/s.
        #[arg(long, default_value_t = 800.0)]
        peak_mbps: f64,
        /// Growth per year (0.15 = 15 %).
        #[arg(long, default_value_t = 0.15)]
        growth: f64,
        /// Random seed (the same seed gives the same traffic).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the import CSV here instead of into the store.
        #[arg(long)]
        csv: Option<PathBuf>,
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
    /// List every session (PFCP and static) with its rules and counters.
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
        Cmd::Report {
            config,
            store,
            poi,
            dir,
            from,
            to,
            fy,
            gateways,
            format,
            output,
        } => {
            let setup = meter_cmd::Setup::load(config.as_deref(), store.as_deref())?;
            let dir = upf_meter::Dir::parse(&dir)
                .with_context(|| format!("--dir {dir}: expected dl or ul"))?;
            meter_cmd::report(
                &setup,
                &meter_cmd::ReportArgs {
                    poi: &poi,
                    dir,
                    from: from.as_deref(),
                    to: to.as_deref(),
                    fy,
                    gateways,
                    format: &format,
                    out: output.as_deref(),
                },
            )
        }
        Cmd::Import {
            config,
            store,
            gateway,
            file,
        } => {
            let setup = meter_cmd::Setup::load(config.as_deref(), store.as_deref())?;
            let gw = gateway.unwrap_or_else(|| setup.gateway.clone());
            meter_cmd::import(&setup, &file, &gw)
        }
        Cmd::Synth {
            config,
            store,
            gateway,
            poi,
            from,
            to,
            peak_mbps,
            growth,
            seed,
            csv,
        } => {
            let setup = meter_cmd::Setup::load(config.as_deref(), store.as_deref())?;
            let gw = gateway.unwrap_or_else(|| setup.gateway.clone());
            meter_cmd::synth(
                &setup,
                &meter_cmd::SynthArgs {
                    poi: &poi,
                    from: &from,
                    to: &to,
                    peak_mbps,
                    growth,
                    seed,
                    csv,
                    gateway: &gw,
                },
            )
        }
        Cmd::Sessions(SessionsCmd::Load { file }) => apply(&args.socket, &file, false),
        Cmd::Sessions(SessionsCmd::Update { file }) => apply(&args.socket, &file, true),
        Cmd::Sessions(SessionsCmd::List { json }) => {
            let r = ok(control::call(
                &args.socket,
                &Request::Sessions { seid: None },
            )?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.data)?);
            } else {
                print_pfcp_sessions(r.data.as_array().map(Vec::as_slice).unwrap_or_default());
            }
            Ok(())
        }
        Cmd::Session { seid, json } => {
            let n = match seid.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => seid.parse(),
            }
            .with_context(|| format!("SEID {seid:?}: expected a number (decimal or 0x-hex)"))?;
            let r = ok(control::call(
                &args.socket,
                &Request::Sessions { seid: Some(n) },
            )?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.data)?);
            } else {
                print_session_detail(&r.data);
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
        Cmd::Qos { json } => {
            let r = ok(control::call(&args.socket, &Request::Qos)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.data)?);
            } else {
                print_qos(&serde_json::from_value(r.data)?);
            }
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
            upf_session::static_sessions::Generation::Lte => "4g",
            upf_session::static_sessions::Generation::Nr => "5g",
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

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Totals of a session's per-PDR counters.
fn totals(s: &serde_json::Value) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    if let Some(c) = s["counters"].as_object() {
        for v in c.values() {
            t.0 += u(&v["ul_packets"]);
            t.1 += u(&v["ul_bytes"]);
            t.2 += u(&v["dl_packets"]);
            t.3 += u(&v["dl_bytes"]);
        }
    }
    t
}

fn list(v: &serde_json::Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| match x.as_u64() {
                    Some(n) => format!("{n:#x}"),
                    None => x.as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

fn print_pfcp_sessions(all: &[serde_json::Value]) {
    println!(
        "{:>18} {:>18} {:<16} {:<12} {:<15} {:>4} {:>10} {:>12} {:>10} {:>12}",
        "up_seid",
        "cp_seid",
        "peer",
        "teids",
        "ue",
        "pdrs",
        "ul_pkts",
        "ul_bytes",
        "dl_pkts",
        "dl_bytes"
    );
    for s in all {
        let (ulp, ulb, dlp, dlb) = totals(s);
        println!(
            "{:>#18x} {:>#18x} {:<16} {:<12} {:<15} {:>4} {:>10} {:>12} {:>10} {:>12}",
            u(&s["up_seid"]),
            u(&s["cp_seid"]),
            s["peer"].as_str().unwrap_or_default(),
            list(&s["teids"]),
            list(&s["ue_addresses"]),
            s["rules"]["pdrs"].as_object().map_or(0, |m| m.len()),
            ulp,
            ulb,
            dlp,
            dlb
        );
    }
    println!("{} sessions", all.len());
}

fn print_session_detail(s: &serde_json::Value) {
    println!(
        "session up_seid {:#x} cp_seid {:#x} peer {}  teids {}  ue {}",
        u(&s["up_seid"]),
        u(&s["cp_seid"]),
        s["peer"].as_str().unwrap_or_default(),
        list(&s["teids"]),
        list(&s["ue_addresses"])
    );
    println!(
        "  {:>5} {:>10} {:<9} {:>10} {:<15} {:>4} {:<6} {:>10} {:>12}  filters",
        "pdr", "precedence", "dir", "teid", "ue", "far", "qfis", "packets", "bytes"
    );
    if let Some(pdrs) = s["rules"]["pdrs"].as_object() {
        for (id, p) in pdrs {
            let c = &s["counters"][id];
            let (pk, by) = if p["direction"] == "uplink" {
                (u(&c["ul_packets"]), u(&c["ul_bytes"]))
            } else {
                (u(&c["dl_packets"]), u(&c["dl_bytes"]))
            };
            println!(
                "  {:>5} {:>10} {:<9} {:>10} {:<15} {:>4} {:<6} {:>10} {:>12}  {}",
                id,
                u(&p["precedence"]),
                p["direction"].as_str().unwrap_or_default(),
                p["teid"].as_u64().map_or("-".into(), |t| format!("{t:#x}")),
                p["ue_ipv4"].as_str().unwrap_or("-"),
                u(&p["far_id"]),
                list(&p["qfis"]),
                pk,
                by,
                list(&p["sdf_filters"])
            );
        }
    }
    println!("  FARs, QERs, URRs:");
    for kind in ["fars", "qers", "urrs"] {
        if let Some(m) = s["rules"][kind].as_object() {
            for (id, r) in m {
                println!("    {} {id}: {r}", &kind[..3].to_uppercase());
            }
        }
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
    println!("per cpu:");
    println!(
        "  {:<4} {:>12} {:>12} {:>12} {:>12}",
        "cpu", "rx_frames", "uplink", "downlink", "steered_out"
    );
    for c in &f.per_cpu {
        println!(
            "  {:<4} {:>12} {:>12} {:>12} {:>12}",
            c.cpu, c.rx_frames, c.uplink_forwarded, c.downlink_forwarded, c.steered_to_cpu
        );
    }
    println!("static sessions:");
    print_sessions(&s.sessions);
    if let Some(p) = &s.pfcp {
        println!(
            "pfcp: recovery time stamp {}, {} sessions; in use: {} TEIDs, {} UE addresses, {} counter slots, {} rule sets",
            p.recovery_time_stamp,
            p.sessions,
            p.in_use.teids,
            p.in_use.ue_addresses,
            p.in_use.counter_slots,
            p.in_use.rule_sets
        );
        for peer in &p.peers {
            println!(
                "  peer {:<22} {:<12} node {:<24} heard {}s ago, missed heartbeats {}",
                peer.addr,
                peer.state,
                peer.node_id.as_deref().unwrap_or("-"),
                peer.last_heard_secs.map_or("-".into(), |s| s.to_string()),
                peer.missed_heartbeats
            );
        }
        for (n, v) in &p.rx {
            println!("  rx {n:<34} {v}");
        }
        for (n, v) in &p.dropped {
            println!("  dropped {n:<29} {v}");
        }
    }
}

fn mbps(bps: u64) -> String {
    format!("{:.2}", bps as f64 / 1e6)
}

fn opt_mbps(bps: Option<u64>) -> String {
    bps.map_or("-".into(), mbps)
}

fn print_qos(q: &upf_session::qos::control::QosView) {
    if q.pois.is_empty() {
        println!("no POI capacity guard configured ([[poi]])");
    } else {
        println!(
            "{:<12} {:>4} {:>10} {:>10} {:>10} {:>8} {:>9} {:>7}",
            "POI", "dir", "cap Mb/s", "rate Mb/s", "dem. Mb/s", "sessions", "capped", "drops"
        );
        for p in &q.pois {
            for (d, name) in ["ul", "dl"].iter().enumerate() {
                println!(
                    "{:<12} {:>4} {:>10} {:>10} {:>10} {:>8} {:>9} {:>7}",
                    p.name,
                    name,
                    mbps(p.capacity_bps[d]),
                    mbps(p.rate_bps[d]),
                    mbps(p.demand_bps[d]),
                    p.sessions,
                    p.sessions_capped[d],
                    p.dropped_packets[d]
                );
            }
        }
    }
    println!();
    if q.sessions.is_empty() {
        println!("no session has a rate limit");
        return;
    }
    println!(
        "{:<10} {:<10} {:<10} {:<9} {:<8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "SEID",
        "POI",
        "plan",
        "meter",
        "dir",
        "QER",
        "QER Mb/s",
        "limit",
        "rate",
        "demand",
        "drops"
    );
    for s in &q.sessions {
        let plan = match (&s.plan, s.throttled) {
            (Some(p), true) => format!("{p} (thr)"),
            (Some(p), false) => p.clone(),
            (None, _) => "-".into(),
        };
        for m in &s.meters {
            println!(
                "{:<10} {:<10} {:<10} {:<9} {:<8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9}",
                format!("{:#x}", s.seid),
                s.poi.as_deref().unwrap_or("-"),
                plan,
                m.kind,
                m.direction,
                m.qer.map_or("-".into(), |q| q.to_string()),
                opt_mbps(m.qer_mbr_bps),
                if m.limit_bps == 0 {
                    "-".into()
                } else {
                    mbps(m.limit_bps)
                },
                mbps(m.rate_bps),
                mbps(m.demand_bps),
                m.dropped_packets
            );
        }
        if s.cap_bps.iter().any(Option::is_some) {
            println!(
                "{:<10} fair-share cap: ul {} dl {} Mb/s",
                "",
                opt_mbps(s.cap_bps[0]),
                opt_mbps(s.cap_bps[1])
            );
        }
    }
}
