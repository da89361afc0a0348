//! A UE behind a simulated RAN, on a TUN device: the kernel's own TCP/IP
//! stack (iperf3, curl) talks through the gateway. IP packets the kernel
//! routes into the TUN are sent as G-PDUs to the gateway's N3 address
//! (with a UL PDU Session Container when a QFI is given, TS 38.415);
//! G-PDUs from the gateway are checked (well-formed, the expected TEID),
//! unwrapped and written back into the TUN.
//!
//! Both directions wait in `poll`/a socket timeout of [`TICK`], so a stop
//! request ([`run_ue`]'s flag, or SIGTERM/SIGINT for `mupf-lab ue`) ends
//! them within a tick; closing the TUN removes the device and its routes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::gtp;

/// How long a direction waits for a packet before it looks at the stop flag.
pub const TICK: Duration = Duration::from_millis(100);

/// The largest datagram either direction handles (an IPv4 packet's limit).
const BUF: usize = 65_536;

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
    /// N3 link (GTP-U over IPv4/UDP adds 36 bytes, 44 with a container).
    pub mtu: u32,
    /// Our GTP-U socket address (the RAN's, port 2152).
    pub bind: SocketAddr,
    /// The gateway's GTP-U address.
    pub gw: SocketAddr,
    /// The uplink TEID (the gateway's).
    pub teid: u32,
    /// 5G: every uplink G-PDU carries a UL PDU Session Container with this
    /// QFI. `None`: plain GTP-U (4G).
    pub qfi: Option<u8>,
    /// Downlink G-PDUs must carry this TEID (the RAN's, the SMF's remote
    /// TEID); others are counted and dropped. `None`: any TEID.
    pub downlink_teid: Option<u32>,
}

/// What the UE forwarded, reported when it stops.
#[derive(Debug, Default, Serialize)]
pub struct UeStats {
    /// IP packets read from the TUN and sent as G-PDUs.
    pub uplink_packets: u64,
    /// Uplink G-PDUs the socket refused (full buffer), like a lossy radio.
    pub uplink_send_errors: u64,
    /// Inner packets written to the TUN.
    pub downlink_packets: u64,
    /// Datagrams on the GTP-U port that were not a well-formed G-PDU for
    /// our TEID (malformed, signalling, another TEID).
    pub downlink_rejected: u64,
}

#[derive(Default)]
struct Counters {
    uplink_packets: AtomicU64,
    uplink_send_errors: AtomicU64,
    downlink_packets: AtomicU64,
    downlink_rejected: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> UeStats {
        UeStats {
            uplink_packets: self.uplink_packets.load(Ordering::Relaxed),
            uplink_send_errors: self.uplink_send_errors.load(Ordering::Relaxed),
            downlink_packets: self.downlink_packets.load(Ordering::Relaxed),
            downlink_rejected: self.downlink_rejected.load(Ordering::Relaxed),
        }
    }
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

/// Waits up to [`TICK`] for `f` to be readable; false on timeout or EINTR.
fn readable(f: &File) -> anyhow::Result<bool> {
    let mut p = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; the fd stays
    // open (borrowed from `f`).
    let rc = unsafe { libc::poll(&mut p, 1, TICK.as_millis() as libc::c_int) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e).context("polling the TUN");
    }
    Ok(rc > 0)
}

/// The uplink G-PDU of `packet`.
pub fn encapsulate(teid: u32, qfi: Option<u8>, packet: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut h = gtp::Header::g_pdu(teid);
    if let Some(q) = qfi {
        h = h.with_pdu_session(gtp::PduSessionContainer::uplink(q));
    }
    Ok(h.encode(packet)?)
}

/// The inner packet of a downlink datagram, if it is a well-formed G-PDU
/// (with `teid` when given).
pub fn decapsulate(datagram: &[u8], teid: Option<u32>) -> Option<&[u8]> {
    let m = gtp::parse(datagram).ok()?;
    if m.header.msg_type != gtp::MSG_G_PDU || teid.is_some_and(|t| t != m.header.teid) {
        return None;
    }
    Some(m.payload)
}

/// Creates the TUN, gives it the UE address and routes, and forwards both
/// ways until `stop` is set (or the TUN or the socket fails); returns the
/// counters.
pub fn run_ue(cfg: &UeConfig, stop: &AtomicBool) -> anyhow::Result<UeStats> {
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
    sock.set_read_timeout(Some(TICK))?;
    let counters = Counters::default();
    std::thread::scope(|s| {
        let uplink = s.spawn(|| -> anyhow::Result<()> {
            let r = uplink(cfg, &tun, &sock, stop, &counters);
            // Whatever ended this direction ends the other one too.
            stop.store(true, Ordering::Relaxed);
            r
        });
        let down = downlink(cfg, &tun, &sock, stop, &counters);
        stop.store(true, Ordering::Relaxed);
        let up = uplink
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the uplink thread panicked")));
        down.and(up)
    })?;
    Ok(counters.snapshot())
}

fn uplink(
    cfg: &UeConfig,
    mut tun: &File,
    sock: &UdpSocket,
    stop: &AtomicBool,
    c: &Counters,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; BUF];
    while !stop.load(Ordering::Relaxed) {
        if !readable(tun)? {
            continue;
        }
        let n = tun.read(&mut buf).context("reading the TUN")?;
        let datagram = encapsulate(cfg.teid, cfg.qfi, &buf[..n])?;
        c.uplink_packets.fetch_add(1, Ordering::Relaxed);
        // A full socket buffer drops the packet, as a radio link would.
        if sock.send_to(&datagram, cfg.gw).is_err() {
            c.uplink_send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn downlink(
    cfg: &UeConfig,
    mut tun: &File,
    sock: &UdpSocket,
    stop: &AtomicBool,
    c: &Counters,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; BUF];
    while !stop.load(Ordering::Relaxed) {
        let n = match sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e).context("receiving GTP-U"),
        };
        match decapsulate(&buf[..n], cfg.downlink_teid) {
            Some(inner) => {
                // The kernel refuses what it cannot route (like a radio
                // drop); that is not the tunnel's business.
                let _ = tun.write(inner);
                c.downlink_packets.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                c.downlink_rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplink_carries_the_qfi_and_downlink_checks_the_teid() {
        let inner = crate::inner::udp_packet(
            Ipv4Addr::new(10, 45, 0, 1),
            Ipv4Addr::new(10, 200, 0, 2),
            1,
            2,
            b"x",
        )
        .unwrap();
        let g = encapsulate(0x1234, Some(9), &inner).unwrap();
        let m = gtp::parse(&g).unwrap();
        assert_eq!(m.header.teid, 0x1234);
        assert_eq!(
            m.header.pdu_session(),
            Some(gtp::PduSessionContainer::uplink(9))
        );
        assert_eq!(m.payload, inner.as_slice());
        let plain = encapsulate(0x1234, None, &inner).unwrap();
        assert_eq!(gtp::parse(&plain).unwrap().header.pdu_session(), None);
        assert_eq!(decapsulate(&g, Some(0x1234)), Some(inner.as_slice()));
        assert_eq!(decapsulate(&g, None), Some(inner.as_slice()));
        assert_eq!(decapsulate(&g, Some(0x1235)), None, "another TEID");
        assert_eq!(decapsulate(&gtp::echo_request(1), None), None);
        assert_eq!(decapsulate(&g[..g.len() - 1], None), None, "truncated");
    }
}
