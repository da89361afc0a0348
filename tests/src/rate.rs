//! Rates measured where the traffic arrives, independent of the gateway's
//! own counters: a paced UDP sender that stamps every datagram with a
//! sequence number and its send time, and a receiver that records each
//! arrival (plain UDP, or a G-PDU it checks and unwraps), so a test can ask
//! for the delivered rate over any window after a warm-up, per-bin rates,
//! and which of the packets sent in a window arrived.
//!
//! Rates are of inner IP bytes (the IPv4 packet inside the tunnel, the bytes
//! a QER's MBR limits, TS 29.244 §8.2.8). Sender and receiver run in the
//! same process (threads with sockets in different namespaces), so send and
//! arrival times share one monotonic clock, the `epoch` both are given.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::inner;
pub use crate::pace::{bps, Schedule, MAX_CATCH_UP};

/// The stamp at the start of the UDP payload: sequence number, then the
/// send time in ns after the epoch (both u64, big endian).
pub const STAMP_LEN: usize = 16;
/// IPv4 (no options) and UDP headers: inner IP bytes = UDP payload + this.
pub const IP_UDP_LEN: usize = 28;
/// How long the receiver waits for a datagram before it looks at its stop
/// flag.
const TICK: Duration = Duration::from_millis(100);

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A datagram to send paced, with the offset of its stamp.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// The octets sent (the stamp is rewritten before each send).
    pub bytes: Vec<u8>,
    /// Where the [`STAMP_LEN`] stamp goes.
    pub stamp_at: usize,
    /// The inner IP packet's length (what the rate counts).
    pub inner_len: usize,
}

impl Datagram {
    /// A plain UDP payload whose IPv4 packet is `inner_len` bytes (the
    /// downlink, sent from the data network to the UE).
    pub fn plain(inner_len: usize) -> anyhow::Result<Datagram> {
        if inner_len < IP_UDP_LEN + STAMP_LEN {
            bail!("an inner packet of {inner_len} bytes has no room for the stamp");
        }
        Ok(Datagram {
            bytes: vec![0xa5; inner_len - IP_UDP_LEN],
            stamp_at: 0,
            inner_len,
        })
    }

    /// An uplink G-PDU for `teid` (with a UL PDU Session Container for
    /// `qfi`) carrying an IPv4/UDP packet of `inner_len` bytes from `src`
    /// to `dst`. The inner UDP checksum is 0 (none, allowed over IPv4), so
    /// the stamp can change without recomputing it.
    pub fn g_pdu(
        teid: u32,
        qfi: Option<u8>,
        src: SocketAddr,
        dst: SocketAddr,
        inner_len: usize,
    ) -> anyhow::Result<Datagram> {
        let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
            bail!("IPv4 addresses only: {src} -> {dst}");
        };
        if inner_len < IP_UDP_LEN + STAMP_LEN {
            bail!("an inner packet of {inner_len} bytes has no room for the stamp");
        }
        let payload = vec![0x5a; inner_len - IP_UDP_LEN];
        let mut packet = inner::udp_packet(*s.ip(), *d.ip(), s.port(), d.port(), &payload)
            .context("building the inner packet")?;
        packet[26..28].copy_from_slice(&[0, 0]);
        let bytes = crate::ue::encapsulate(teid, qfi, &packet)?;
        let stamp_at = bytes.len() - inner_len + IP_UDP_LEN;
        Ok(Datagram {
            bytes,
            stamp_at,
            inner_len,
        })
    }
}

/// What a paced sender sent: the send time of each sequence number.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// Send time (ns after the epoch) of sequence number `i`.
    pub at_ns: Vec<u64>,
    /// Sends the socket refused (full buffer): counted, not retried.
    pub refused: u64,
    /// Packets of the schedule skipped after a stall (see [`MAX_CATCH_UP`]).
    pub skipped: u64,
    /// Inner IP bytes per packet.
    pub inner_len: usize,
}

impl Sent {
    /// Sequence numbers sent in `[from, to)` after the epoch.
    pub fn seqs_in(&self, from: Duration, to: Duration) -> std::ops::Range<u64> {
        let (a, b) = (nanos(from), nanos(to));
        let lo = self.at_ns.partition_point(|&t| t < a) as u64;
        let hi = self.at_ns.partition_point(|&t| t < b) as u64;
        lo..hi
    }

    /// The offered rate (inner IP bit/s) in `[from, to)`.
    pub fn offered_bps(&self, from: Duration, to: Duration) -> f64 {
        let n = self.seqs_in(from, to).count() as u64;
        bps(n * self.inner_len as u64, to.saturating_sub(from))
    }
}

/// Sends `d` to `to` so that its inner packets go out at `rate` bit/s from
/// now until `until` after `epoch`, stamping each with its sequence number
/// and send time. Sends in small bursts about every half millisecond,
/// catching up on the schedule (at most [`MAX_CATCH_UP`] of it), so the
/// offered rate is exact on average whatever the sleep granularity.
pub fn send_paced(
    sock: &UdpSocket,
    to: SocketAddr,
    mut d: Datagram,
    rate: u64,
    epoch: Instant,
    until: Duration,
) -> Sent {
    let mut schedule = Schedule::new(rate, d.inner_len);
    let start = Instant::now();
    let per_sec = rate as f64 / (d.inner_len as f64 * 8.0);
    let expected = (per_sec * until.saturating_sub(epoch.elapsed()).as_secs_f64()) as usize;
    let mut sent = Sent {
        at_ns: Vec::with_capacity(expected + 16),
        inner_len: d.inner_len,
        ..Sent::default()
    };
    loop {
        let now = epoch.elapsed();
        if now >= until {
            sent.skipped = schedule.skipped();
            return sent;
        }
        for _ in 0..schedule.release(start.elapsed()) {
            let seq = sent.at_ns.len() as u64;
            let t = nanos(epoch.elapsed());
            let stamp = &mut d.bytes[d.stamp_at..d.stamp_at + STAMP_LEN];
            stamp[..8].copy_from_slice(&seq.to_be_bytes());
            stamp[8..].copy_from_slice(&t.to_be_bytes());
            if sock.send_to(&d.bytes, to).is_err() {
                sent.refused += 1;
            }
            sent.at_ns.push(t);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// What the receiver expects on its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decap {
    /// Plain UDP: the datagram is the inner packet's UDP payload.
    Plain,
    /// G-PDUs (with `teid`, when given) carrying IPv4/UDP.
    GtpU {
        /// The TEID every G-PDU must carry.
        teid: Option<u32>,
    },
}

/// One datagram that arrived with a stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Arrival time, ns after the epoch.
    pub at_ns: u64,
    /// The sender's sequence number.
    pub seq: u64,
    /// Its inner IP length.
    pub inner_len: u32,
}

/// Everything a receiver saw.
#[derive(Clone, Debug, Default)]
pub struct Arrivals {
    /// Stamped datagrams in arrival order.
    pub list: Vec<Arrival>,
    /// Datagrams that were not what the receiver expects (another TEID,
    /// not a G-PDU, too short for a stamp).
    pub rejected: u64,
}

/// Packets and inner bytes that arrived in a window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Packets.
    pub packets: u64,
    /// Inner IP bytes.
    pub bytes: u64,
    /// The window's length.
    pub dur: Duration,
}

impl Window {
    /// The delivered rate (inner IP bit/s).
    pub fn bps(&self) -> f64 {
        bps(self.bytes, self.dur)
    }
}

impl Arrivals {
    /// What arrived in `[from, to)` after the epoch.
    pub fn window(&self, from: Duration, to: Duration) -> Window {
        let (a, b) = (nanos(from), nanos(to));
        let (mut packets, mut bytes) = (0, 0);
        for x in self.list.iter().filter(|x| x.at_ns >= a && x.at_ns < b) {
            packets += 1;
            bytes += u64::from(x.inner_len);
        }
        Window {
            packets,
            bytes,
            dur: to.saturating_sub(from),
        }
    }

    /// Delivered rates (bit/s) in consecutive bins of `width` from `from`
    /// to `to` (the last partial bin left out).
    pub fn bins(&self, from: Duration, to: Duration, width: Duration) -> Vec<f64> {
        let n = (to.saturating_sub(from).as_nanos() / width.as_nanos().max(1)) as u32;
        (0..n)
            .map(|i| self.window(from + width * i, from + width * (i + 1)).bps())
            .collect()
    }

    /// How many distinct sequence numbers of `seqs` arrived.
    pub fn delivered_of(&self, seqs: std::ops::Range<u64>) -> u64 {
        let mut seen = vec![false; (seqs.end - seqs.start) as usize];
        for x in &self.list {
            if seqs.contains(&x.seq) {
                seen[(x.seq - seqs.start) as usize] = true;
            }
        }
        seen.iter().filter(|s| **s).count() as u64
    }

    /// Datagrams that arrived more than once.
    pub fn duplicates(&self) -> u64 {
        let mut seqs: Vec<u64> = self.list.iter().map(|x| x.seq).collect();
        seqs.sort_unstable();
        let before = seqs.len();
        seqs.dedup();
        (before - seqs.len()) as u64
    }
}

/// A receiving thread; [`Receiver::finish`] stops it and hands back what
/// arrived.
pub struct Receiver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<Arrivals>>>,
}

/// The stamp and inner length of a datagram as `decap` expects it.
fn unwrap_stamp(datagram: &[u8], decap: Decap) -> Option<(u64, u32)> {
    let (stamp, inner_len) = match decap {
        Decap::Plain => (datagram, datagram.len() + IP_UDP_LEN),
        Decap::GtpU { teid } => {
            // Only what the stamp's position needs (IPv4, its length, UDP):
            // a receiver that verifies checksums in a debug build falls
            // behind at ~80 Mbit/s and stamps the arrivals late.
            let packet = crate::ue::decapsulate(datagram, teid)?;
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            let total = u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]);
            if packet[0] >> 4 != 4 || usize::from(total) != packet.len() || packet.get(9)? != &17 {
                return None;
            }
            (packet.get(ihl + 8..)?, packet.len())
        }
    };
    let seq = u64::from_be_bytes(stamp.get(..8)?.try_into().ok()?);
    Some((seq, u32::try_from(inner_len).ok()?))
}

/// Asks for a receive buffer of `bytes` (SO_RCVBUFFORCE as root, so a
/// receiver that is late by a few ms on a busy CPU loses nothing).
fn grow_receive_buffer(sock: &UdpSocket, bytes: libc::c_int) {
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt reads a c_int at the pointer, valid for the
        // call; the fd is the open socket borrowed from `sock`.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

impl Receiver {
    /// Receives on `sock` until [`Receiver::finish`].
    pub fn spawn(sock: UdpSocket, decap: Decap, epoch: Instant) -> anyhow::Result<Receiver> {
        sock.set_read_timeout(Some(TICK))?;
        grow_receive_buffer(&sock, 8 << 20);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rate-receiver".into())
            .spawn(move || -> anyhow::Result<Arrivals> {
                let mut got = Arrivals::default();
                let mut buf = vec![0u8; 65_536];
                while !flag.load(Ordering::Relaxed) {
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
                        Err(e) => return Err(e).context("receiving"),
                    };
                    let at_ns = nanos(epoch.elapsed());
                    match unwrap_stamp(&buf[..n], decap) {
                        Some((seq, inner_len)) => got.list.push(Arrival {
                            at_ns,
                            seq,
                            inner_len,
                        }),
                        None => got.rejected += 1,
                    }
                }
                Ok(got)
            })
            .context("starting the receiver thread")?;
        Ok(Receiver {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the receiver (after the datagrams in flight had `linger` to
    /// arrive) and returns what arrived.
    pub fn finish(mut self, linger: Duration) -> anyhow::Result<Arrivals> {
        std::thread::sleep(linger);
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => bail!("the receiver thread panicked"),
            None => bail!("the receiver already finished"),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An IPv4 socket address (for [`Datagram::g_pdu`] and the lab sockets).
pub fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> (UdpSocket, UdpSocket, SocketAddr) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        (rx, tx, to)
    }

    #[test]
    fn plain_traffic_is_measured_at_the_receiver() {
        let (rx, tx, to) = loopback();
        let epoch = Instant::now();
        let r = Receiver::spawn(rx, Decap::Plain, epoch).unwrap();
        // 2 Mbit/s of 250-byte packets for 500 ms: 1000 packets/s, 500.
        let sent = send_paced(
            &tx,
            to,
            Datagram::plain(250).unwrap(),
            2_000_000,
            epoch,
            Duration::from_millis(500),
        );
        let got = r.finish(Duration::from_millis(50)).unwrap();
        // At most 500 are due (fewer if the sender started late or stalled:
        // the schedule's own tests in `pace` pin that down with fake time).
        let n = sent.at_ns.len() as u64 + sent.skipped;
        assert!((1..=500).contains(&n), "{n} packets scheduled");
        assert_eq!(got.rejected, 0);
        assert_eq!(got.duplicates(), 0);
        let all = sent.seqs_in(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(all.end, sent.at_ns.len() as u64);
        assert_eq!(
            got.delivered_of(all.clone()),
            all.end,
            "loopback loses nothing"
        );
        assert!(got.list.iter().all(|a| a.inner_len == 250));
        let w = got.window(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(w.bytes, 250 * all.end);
        assert_eq!(
            got.bins(
                Duration::ZERO,
                Duration::from_millis(450),
                Duration::from_millis(100)
            )
            .len(),
            4
        );
    }

    #[test]
    fn g_pdus_are_checked_and_unwrapped() {
        let (rx, tx, to) = loopback();
        let epoch = Instant::now();
        let r = Receiver::spawn(rx, Decap::GtpU { teid: Some(7) }, epoch).unwrap();
        let src = v4(Ipv4Addr::new(10, 45, 0, 1), 4000);
        let dst = v4(Ipv4Addr::new(10, 200, 0, 2), 5000);
        let d = Datagram::g_pdu(7, Some(9), src, dst, 300).unwrap();
        assert_eq!(d.bytes.len(), 300 + 16, "GTP-U with a one-word container");
        let p = crate::ue::decapsulate(&d.bytes, Some(7)).unwrap();
        assert_eq!(p.len(), 300);
        let ip = inner::parse_ipv4(p).expect("a valid inner packet without UDP checksum");
        assert_eq!(ip.dst, Ipv4Addr::new(10, 200, 0, 2));
        let sent = send_paced(&tx, to, d, 2_400_000, epoch, Duration::from_millis(100));
        let other = Datagram::g_pdu(8, None, src, dst, 300).unwrap();
        tx.send_to(&other.bytes, to).unwrap();
        tx.send_to(b"not GTP-U", to).unwrap();
        let got = r.finish(Duration::from_millis(50)).unwrap();
        assert_eq!(got.rejected, 2, "another TEID and garbage");
        assert_eq!(got.list.len(), sent.at_ns.len());
        assert!(got.list.iter().all(|a| a.inner_len == 300));
        let seqs: Vec<u64> = got.list.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, (0..sent.at_ns.len() as u64).collect::<Vec<_>>());
    }
}
