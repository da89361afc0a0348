//! `mupf-smf`: the lab's SMF, for the demo. Run in the RAN namespace, it
//! associates with the gateway over PFCP, establishes a 4G session (TEID and
//! UE address assigned by the SMF) and a 5G session (the gateway chooses the
//! TEID and UE address), runs `mupf-lab ran` traffic through each, asks for a
//! usage report (Query URR), and deletes both, printing the final usage
//! reports the gateway measured.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context as _};
use clap::Parser;
use mvno_upf_tests::smf::{query_urr, Session, SessionPlan, Smf, Usage};
use upf_pfcp::ie::UsageReport;

#[derive(Parser, Debug)]
#[command(about = "The lab SMF: PFCP sessions on the gateway, traffic through them, usage reports")]
struct Args {
    /// Our address (the RAN side of the lab; the SMF shares it).
    #[arg(long, default_value = "10.100.0.2")]
    bind: Ipv4Addr,
    /// The gateway's N4 address.
    #[arg(long, default_value = "10.100.0.1")]
    upf: Ipv4Addr,
    /// The DN echo server the traffic goes to.
    #[arg(long, default_value = "10.200.0.2:7777")]
    dst: String,
    /// Packets per session.
    #[arg(long, default_value_t = 50)]
    count: u32,
    /// The mupf-lab binary (default: beside this one).
    #[arg(long)]
    lab_tool: Option<PathBuf>,
}

fn hx(v: u32) -> String {
    format!("{v:#x}")
}

fn usage_line(r: &UsageReport) -> String {
    let u = Usage::of(r).unwrap_or_default();
    format!(
        "URR {} seq {}: uplink {} packets / {} octets, downlink {} packets / {} octets",
        r.urr_id.0, r.ur_seqn.0, u.ul_packets, u.ul_octets, u.dl_packets, u.dl_octets
    )
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let lab_tool = match a.lab_tool {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("mupf-lab"),
    };
    let sock = UdpSocket::bind(SocketAddr::from((a.bind, 8805)))
        .with_context(|| format!("binding {}:8805", a.bind))?;
    let mut smf = Smf::new(sock, SocketAddr::from((a.upf, 8805)))?;
    let assoc = smf.associate()?;
    println!(
        "  association: {} (gateway node {:?}, recovery time stamp {})",
        assoc.cause, assoc.node_id, assoc.recovery_time_stamp.0
    );
    let plans = [
        (
            "4G, TEID and UE from the SMF",
            SessionPlan::four_g(0x300, Ipv4Addr::new(10, 45, 1, 1), 0x3001),
        ),
        (
            "5G, TEID and UE chosen by the gateway, QFI 9",
            SessionPlan::five_g(0x5001, &[9], 9),
        ),
    ];
    let mut open: Vec<(&str, Session)> = Vec::new();
    for (name, plan) in &plans {
        let s = smf.open(plan)?;
        println!(
            "  established {name}: UP SEID {:#x}, TEID {}, UE {}",
            s.up_seid,
            s.teid().map_or("-".into(), hx),
            s.ue().map_or("-".into(), |u| u.to_string())
        );
        open.push((name, s));
    }
    let mut ok = true;
    for (name, s) in &open {
        let (teid, ue) = (
            s.teid().unwrap_or(0),
            s.ue().unwrap_or(Ipv4Addr::UNSPECIFIED),
        );
        print!("  traffic {name:<46} ");
        let mut cmd = Command::new(&lab_tool);
        cmd.args([
            "ran",
            "--bind",
            &a.bind.to_string(),
            "--gw",
            &a.upf.to_string(),
        ])
        .args([
            "--teid",
            &hx(teid),
            "--ue",
            &ue.to_string(),
            "--dst",
            &a.dst,
        ])
        .args(["--expect-teid", &hx(s.plan.remote_teid)])
        .args([
            "--count",
            &a.count.to_string(),
            "--size",
            "200",
            "--interval-ms",
            "2",
        ]);
        if let Some(q) = s.plan.dl_qfi {
            cmd.args(["--container", "--qfi", &q.to_string()]);
        }
        std::io::Write::flush(&mut std::io::stdout())?;
        ok &= cmd
            .status()
            .with_context(|| format!("running {}", lab_tool.display()))?
            .success();
    }
    for (name, s) in &open {
        let (_, rsp) = smf.modify(s.up_seid, query_urr(mvno_upf_tests::smf::URR))?;
        for r in &rsp.usage_report {
            println!("  Query URR, {name}: {}", usage_line(r));
        }
    }
    for (name, s) in &open {
        let (_, rsp) = smf.delete(s.up_seid)?;
        println!("  deleted {name}: {}", rsp.cause);
        for r in &rsp.usage_report {
            println!("    final {}", usage_line(r));
        }
    }
    if !ok {
        bail!("traffic through a PFCP session failed");
    }
    Ok(())
}
