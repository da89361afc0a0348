//! A UE behind a simulated RAN, on a TUN device: the kernel's own TCP/IP
//! stack (iperf3, curl) talks through the gateway. IP packets the kernel
//! routes into the TUN are sent as G-PDUs to the gateway's N3 address;
//! G-PDUs from the gateway are checked, unwrapped and written back into
//! the TUN.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;

use anyhow::{bail, Context};

use crate::gtp;

/// What the UE is.
#[derive(Clone, Debug)]
pub struct UeConfig {
    /// TUN device name (a `mupf` prefix keeps tests' devices recognisable).
    pub tun: String,
    /// The UE's address.
    pub ue: Ipv4Addr,
    /// Destinations routed through the tunnel (`a.b.c.d/len`).
    pub routes: Vec<String>,
    /// The TUN's MTU: small enough that the encapsulated packet fits the
    /// N3 link (GTP-U over IPv4/UDP adds 36 bytes).
    pub mtu: u32,
    /// Our GTP-U socket address (the RAN's, port 2152).
    pub bind: SocketAddr,
    /// The gateway's GTP-U address.
    pub gw: SocketAddr,
    /// The uplink TEID (the gateway's).
    pub teid: u32,
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

fn open_tun(name: &str) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .context("opening /dev/net/tun (is the tun module loaded?)")?;
    if name.len() >= libc::IFNAMSIZ {
        bail!("TUN name {name:?} is too long");
    }
    // struct ifreq: the name, then the flags (a union of 24 bytes).
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    ifr[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq (40 bytes) at the
    // pointer, which is valid for the call; the fd is the open TUN clone.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("TUNSETIFF");
    }
    Ok(f)
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let s = Command::new("ip")
        .args(args)
        .status()
        .context("running ip")?;
    if !s.success() {
        bail!("ip {} failed: {s}", args.join(" "));
    }
    Ok(())
}

/// Creates the TUN, gives it the UE address and routes, and forwards both
/// ways until the process is killed (or a socket fails).
pub fn run_ue(cfg: &UeConfig) -> anyhow::Result<()> {
    let tun = open_tun(&cfg.tun)?;
    let mtu = cfg.mtu.to_string();
    ip(&["link", "set", &cfg.tun, "mtu", &mtu, "up"])?;
    ip(&["addr", "add", &format!("{}/32", cfg.ue), "dev", &cfg.tun])?;
    for r in &cfg.routes {
        ip(&[
            "route",
            "add",
            r,
            "dev",
            &cfg.tun,
            "src",
            &cfg.ue.to_string(),
        ])?;
    }
    let sock = UdpSocket::bind(cfg.bind).with_context(|| format!("binding {}", cfg.bind))?;
    let up_sock = sock.try_clone()?;
    let mut up_tun = tun.try_clone()?;
    let (gw, teid) = (cfg.gw, cfg.teid);
    let uplink = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut buf = vec![0u8; 65_536];
        loop {
            let n = up_tun.read(&mut buf).context("reading the TUN")?;
            let datagram = gtp::Header::g_pdu(teid).encode(&buf[..n])?;
            // A full socket buffer drops the packet, as a radio link would.
            let _ = up_sock.send_to(&datagram, gw);
        }
    });
    let mut down_tun = tun;
    let mut buf = vec![0u8; 65_536];
    loop {
        if uplink.is_finished() {
            return match uplink.join() {
                Ok(r) => r,
                Err(_) => bail!("the uplink thread panicked"),
            };
        }
        let (n, _) = sock.recv_from(&mut buf).context("receiving GTP-U")?;
        let Ok(m) = gtp::parse(&buf[..n]) else {
            continue;
        };
        if m.header.msg_type == gtp::MSG_G_PDU {
            let _ = down_tun.write(m.payload);
        }
    }
}
