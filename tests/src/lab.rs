//! The traffic loops behind `mupf-lab`: a simulated RAN sending G-PDUs and
//! checking the downlink, GTP-U echo and End Marker probes, and a UDP echo
//! server for the data network side.
//!
//! Everything uses ordinary UDP sockets: GTP-U is UDP, so the RAN sends
//! datagrams whose payload is a GTP-U header and an inner IPv4 packet, and
//! receives the downlink on the socket it sent from (normally bound to
//! `<ran-ip>:2152`). The loops return reports; printing is the caller's job.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::gtp::{self, Header, PduSessionContainer};
use crate::inner::{self, Transport};

/// UDP source port of packet 0; packet `i` uses `UDP_SRC_PORT_BASE + i % UDP_SRC_PORT_SPAN`.
pub const UDP_SRC_PORT_BASE: u16 = 40000;
/// How many source ports the RAN cycles through.
pub const UDP_SRC_PORT_SPAN: u32 = 20000;
/// Largest datagram the loops receive.
const RECV_BUF: usize = 65536;
/// How many problem descriptions a report keeps.
pub const MAX_PROBLEMS: usize = 16;

/// Inner transport protocol of the RAN's packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// UDP to `--dst`, echoed by `mupf-lab dn-echo`.
    #[default]
    Udp,
    /// ICMP Echo Request, answered by the DN host's kernel.
    Icmp,
}

impl Proto {
    /// The protocol's name as on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

/// A run id from the clock and the process id, so that replies to an
/// earlier run are never taken for replies to this one.
pub fn default_run_id() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    nanos ^ std::process::id().rotate_left(16)
}

/// UDP source port of packet `index`.
pub fn udp_src_port(index: u32) -> u16 {
    // The span keeps the sum below 60000.
    UDP_SRC_PORT_BASE + (index % UDP_SRC_PORT_SPAN) as u16
}

/// What the RAN sends and what it expects back.
#[derive(Clone, Debug)]
pub struct RanConfig {
    /// Local address, normally `<ran-ip>:2152` (the gateway sends the
    /// downlink to port 2152).
    pub bind: SocketAddr,
    /// The gateway's N3 address, normally `<gw-ip>:2152`.
    pub gw: SocketAddr,
    /// TEID of the session at the gateway (uplink).
    pub teid: u32,
    /// TEID the downlink must carry, unchecked when `None`.
    pub expect_teid: Option<u32>,
    /// QFI of the uplink container, and the QFI the downlink container
    /// must carry when it is present (unless `dl_qfi` says otherwise).
    pub qfi: Option<u8>,
    /// The QFI the downlink container must carry when it differs from the
    /// uplink's (one downlink QoS flow answering several uplink ones).
    pub dl_qfi: Option<u8>,
    /// Send an UL PDU Session Container and require a DL one (5G).
    pub container: bool,
    /// Set S and send the packet index as sequence number.
    pub seq: bool,
    /// Packets to send.
    pub count: u32,
    /// Inner payload octets (UDP payload or ICMP data).
    pub size: usize,
    /// Time between two packets.
    pub interval: Duration,
    /// How long to wait for replies after the last packet.
    pub timeout: Duration,
    /// Inner protocol.
    pub proto: Proto,
    /// The UE's address: destination of the replies.
    pub ue: Ipv4Addr,
    /// Inner source address, if not `ue` (spoofing tests).
    pub src: Option<Ipv4Addr>,
    /// The DN host.
    pub dst: Ipv4Addr,
    /// The DN host's UDP port (ignored for ICMP).
    pub dst_port: u16,
    /// Succeed only if nothing at all comes back.
    pub expect_none: bool,
    /// Tags this run's payloads (see [`default_run_id`]).
    pub run_id: u32,
}

impl RanConfig {
    /// The ICMP identifier of this run.
    pub fn icmp_id(&self) -> u16 {
        self.run_id as u16
    }

    /// The inner packet and its payload for packet `index`.
    pub fn inner_packet(&self, index: u32) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let payload = inner::pattern(self.run_id, index, self.size);
        let src = self.src.unwrap_or(self.ue);
        let packet = match self.proto {
            Proto::Udp => {
                inner::udp_packet(src, self.dst, udp_src_port(index), self.dst_port, &payload)
            }
            Proto::Icmp => {
                inner::icmp_echo_request(src, self.dst, self.icmp_id(), index as u16, &payload)
            }
        }
        .context("building the inner packet")?;
        Ok((packet, payload))
    }

    /// The GTP-U header of packet `index`.
    pub fn uplink_header(&self, index: u32) -> Header {
        let mut header = Header::g_pdu(self.teid);
        if self.seq {
            header = header.with_seq(index as u16);
        }
        if self.container {
            header = header.with_pdu_session(PduSessionContainer::uplink(self.qfi.unwrap_or(0)));
        }
        header
    }

    /// The whole UDP payload of packet `index`, and the inner payload that
    /// the reply must echo.
    pub fn uplink_datagram(&self, index: u32) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let (packet, payload) = self.inner_packet(index)?;
        let datagram = self
            .uplink_header(index)
            .encode(&packet)
            .context("encoding GTP-U")?;
        Ok((datagram, payload))
    }
}

/// What one downlink datagram turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An intact reply to packet `index`.
    Matched {
        /// The packet it answers.
        index: u32,
    },
    /// Not decodable: GTP-U, the container or the inner packet is broken.
    Malformed(String),
    /// A G-PDU with another TEID than expected.
    WrongTeid {
        /// The TEID received.
        got: u32,
        /// The TEID expected.
        expected: u32,
    },
    /// No PDU Session Container although one is required.
    MissingContainer,
    /// A container with another QFI than expected.
    WrongQfi {
        /// The QFI received.
        got: u8,
        /// The QFI expected.
        expected: u8,
    },
    /// A reply to one of our packets whose content differs from what we sent.
    Corrupted {
        /// The packet it claims to answer.
        index: u32,
        /// What differs.
        reason: String,
    },
    /// Well-formed but not a reply to this run (wrong peer, message type,
    /// addresses, ports or tag).
    Unexpected(String),
}

/// The field of a reply that must match the packet it answers.
enum EchoKey {
    /// The reply's UDP destination port: our source port.
    UdpDstPort(u16),
    /// The echo reply's sequence number: the packet index.
    IcmpSeq(u16),
}

/// Classifies one datagram received from `from` against `cfg`, where
/// `sent[i]` is the inner payload of packet `i`.
pub fn check_downlink(
    cfg: &RanConfig,
    from: SocketAddr,
    datagram: &[u8],
    sent: &[Vec<u8>],
) -> Verdict {
    if from.ip() != cfg.gw.ip() {
        return Verdict::Unexpected(format!("datagram from {from}, not the gateway"));
    }
    let msg = match gtp::parse(datagram) {
        Ok(msg) => msg,
        Err(e) => return Verdict::Malformed(format!("GTP-U: {e}")),
    };
    let header = &msg.header;
    if header.msg_type != gtp::MSG_G_PDU {
        return Verdict::Unexpected(format!(
            "GTP-U message type {}, not a G-PDU",
            header.msg_type
        ));
    }
    if let Some(expected) = cfg.expect_teid {
        if header.teid != expected {
            return Verdict::WrongTeid {
                got: header.teid,
                expected,
            };
        }
    }
    match header.pdu_session() {
        Some(c) if c.pdu_type != gtp::PDU_TYPE_DL => {
            return Verdict::Malformed(format!(
                "PDU Session Container with PDU type {}, expected {} (DL)",
                c.pdu_type,
                gtp::PDU_TYPE_DL
            ));
        }
        Some(c) => {
            if let Some(expected) = cfg.dl_qfi.or(cfg.qfi).filter(|&q| q != c.qfi) {
                return Verdict::WrongQfi {
                    got: c.qfi,
                    expected,
                };
            }
        }
        None if cfg.container => return Verdict::MissingContainer,
        None => {}
    }
    let ip = match inner::parse_ipv4(msg.payload) {
        Ok(ip) => ip,
        Err(e) => return Verdict::Malformed(format!("inner packet: {e}")),
    };
    if ip.dst != cfg.ue {
        return Verdict::Unexpected(format!("inner packet to {}, not the UE {}", ip.dst, cfg.ue));
    }
    if ip.src != cfg.dst {
        return Verdict::Unexpected(format!(
            "inner packet from {}, not the DN host {}",
            ip.src, cfg.dst
        ));
    }
    // The payload, and the field that must identify the packet it echoes.
    let (payload, key) = match (cfg.proto, &ip.transport) {
        (
            Proto::Udp,
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            },
        ) => {
            if *src_port != cfg.dst_port {
                return Verdict::Unexpected(format!(
                    "UDP from port {src_port}, not {}",
                    cfg.dst_port
                ));
            }
            (*payload, EchoKey::UdpDstPort(*dst_port))
        }
        (
            Proto::Icmp,
            Transport::IcmpEcho {
                reply: true,
                id,
                seq,
                payload,
            },
        ) => {
            if *id != cfg.icmp_id() {
                return Verdict::Unexpected(format!(
                    "ICMP echo reply id {id:#06x}, ours is {:#06x}",
                    cfg.icmp_id()
                ));
            }
            (*payload, EchoKey::IcmpSeq(*seq))
        }
        (proto, other) => {
            return Verdict::Unexpected(format!("inner {other:?} while sending {proto:?}"))
        }
    };
    let index = match inner::parse_tag(payload) {
        Some((run, index)) if run == cfg.run_id && (index as usize) < sent.len() => index,
        Some((run, index)) => {
            return Verdict::Unexpected(format!(
                "payload tagged run {run:#010x} packet {index}, not one we sent"
            ))
        }
        None => return Verdict::Unexpected("payload without our tag".into()),
    };
    let key_mismatch = match key {
        EchoKey::UdpDstPort(port) if port != udp_src_port(index) => Some(format!(
            "UDP to port {port}, packet {index} came from {}",
            udp_src_port(index)
        )),
        EchoKey::IcmpSeq(seq) if seq != index as u16 => {
            Some(format!("ICMP seq {seq} in the reply to packet {index}"))
        }
        _ => None,
    };
    if let Some(reason) = key_mismatch {
        return Verdict::Corrupted { index, reason };
    }
    let expected = &sent[index as usize];
    if payload != expected.as_slice() {
        let reason = match payload.iter().zip(expected).position(|(a, b)| a != b) {
            _ if payload.len() != expected.len() => format!(
                "payload of {} octets, sent {}",
                payload.len(),
                expected.len()
            ),
            Some(at) => format!("payload differs at octet {at}"),
            None => "payload differs".into(),
        };
        return Verdict::Corrupted { index, reason };
    }
    Verdict::Matched { index }
}

/// The outcome of [`run_ran`]; also the JSON that `mupf-lab ran --json` prints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RanReport {
    /// Whether the run passed (see [`RanReport::failure`]).
    pub ok: bool,
    /// The run expected no reply at all.
    pub expect_none: bool,
    /// Inner protocol.
    pub proto: Proto,
    /// Packets to send.
    pub count: u32,
    /// Packets sent.
    pub sent: u32,
    /// Datagrams received.
    pub received: u32,
    /// Intact replies to distinct packets.
    pub matched: u32,
    /// Undecodable datagrams (GTP-U, container or inner packet).
    pub malformed: u32,
    /// G-PDUs with the wrong TEID.
    pub wrong_teid: u32,
    /// G-PDUs without the required PDU Session Container.
    pub missing_container: u32,
    /// G-PDUs whose container has the wrong QFI.
    pub wrong_qfi: u32,
    /// Replies to our packets with altered content or ports.
    pub corrupted: u32,
    /// Intact replies to packets already matched.
    pub duplicates: u32,
    /// Anything else (other peers, message types, addresses, runs).
    pub unexpected: u32,
    /// Fastest round trip, in milliseconds.
    pub rtt_min_ms: Option<f64>,
    /// Mean round trip of the matched replies, in milliseconds.
    pub rtt_avg_ms: Option<f64>,
    /// Slowest round trip, in milliseconds.
    pub rtt_max_ms: Option<f64>,
    /// The first [`MAX_PROBLEMS`] problems, described.
    pub problems: Vec<String>,
}

impl RanReport {
    /// Why the run failed, `None` if it passed. With `expect_none` it passes
    /// when nothing was received; otherwise when every packet was answered
    /// intact and nothing else (malformed, wrong TEID or QFI, missing
    /// container, corrupted, duplicate or unexpected) arrived.
    pub fn failure(&self) -> Option<String> {
        if self.expect_none {
            return (self.received > 0).then(|| {
                let mut reason = format!(
                    "expected no reply, received {} datagram(s) ({} matched)",
                    self.received, self.matched
                );
                if let Some(first) = self.problems.first() {
                    reason += &format!("; first problem: {first}");
                }
                reason
            });
        }
        let bad = [
            ("malformed", self.malformed),
            ("wrong TEID", self.wrong_teid),
            ("missing container", self.missing_container),
            ("wrong QFI", self.wrong_qfi),
            ("corrupted", self.corrupted),
            ("duplicate", self.duplicates),
            ("unexpected", self.unexpected),
        ];
        let bad: Vec<String> = bad
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        if self.matched == self.count && bad.is_empty() {
            return None;
        }
        let mut reason = format!("{} of {} replies matched", self.matched, self.count);
        if self.sent < self.count {
            reason += &format!(" ({} sent)", self.sent);
        }
        if !bad.is_empty() {
            reason += &format!("; {}", bad.join(", "));
        }
        if let Some(first) = self.problems.first() {
            reason += &format!("; first problem: {first}");
        }
        Some(reason)
    }

    /// A one-line human summary.
    pub fn summary(&self) -> String {
        let rtt = match (self.rtt_min_ms, self.rtt_avg_ms, self.rtt_max_ms) {
            (Some(min), Some(avg), Some(max)) => {
                format!("rtt min/avg/max {min:.3}/{avg:.3}/{max:.3} ms")
            }
            _ => "rtt -".into(),
        };
        format!(
            "{}: {} sent {}/{} received {} matched {} malformed {} wrong_teid {} \
             missing_container {} wrong_qfi {} corrupted {} duplicates {} unexpected {} {}",
            if self.ok { "PASS" } else { "FAIL" },
            self.proto.name(),
            self.sent,
            self.count,
            self.received,
            self.matched,
            self.malformed,
            self.wrong_teid,
            self.missing_container,
            self.wrong_qfi,
            self.corrupted,
            self.duplicates,
            self.unexpected,
            rtt
        )
    }

    fn problem(&mut self, description: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(description);
        }
    }

    /// Counts one verdict.
    fn record(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Matched { .. } => return,
            Verdict::Malformed(_) => self.malformed += 1,
            Verdict::WrongTeid { .. } => self.wrong_teid += 1,
            Verdict::MissingContainer => self.missing_container += 1,
            Verdict::WrongQfi { .. } => self.wrong_qfi += 1,
            Verdict::Corrupted { .. } => self.corrupted += 1,
            Verdict::Unexpected(_) => self.unexpected += 1,
        }
        self.problem(describe(verdict));
    }
}

/// A sentence for a verdict.
fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Matched { index } => format!("reply to packet {index}"),
        Verdict::Malformed(why) => format!("malformed: {why}"),
        Verdict::WrongTeid { got, expected } => {
            format!("TEID {got:#010x}, expected {expected:#010x}")
        }
        Verdict::MissingContainer => "no PDU Session Container on the downlink".into(),
        Verdict::WrongQfi { got, expected } => format!("QFI {got}, expected {expected}"),
        Verdict::Corrupted { index, reason } => {
            format!("reply to packet {index} corrupted: {reason}")
        }
        Verdict::Unexpected(why) => format!("unexpected: {why}"),
    }
}

/// True for the errors a socket read timeout produces.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Sets the read timeout to `left`, at least a millisecond (zero would
/// mean "block forever").
fn set_wait(sock: &UdpSocket, left: Duration) -> std::io::Result<()> {
    sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
}

/// Sends `cfg.count` G-PDUs, `cfg.interval` apart, and checks every
/// datagram that comes back until all packets are answered or
/// `cfg.timeout` has passed since the last one (with `expect_none`, always
/// the full timeout). Errors are for socket failures only; what the
/// gateway does wrong is in the report.
pub fn run_ran(cfg: &RanConfig) -> anyhow::Result<RanReport> {
    if cfg.size < inner::TAG_LEN {
        bail!(
            "payload size {} is below the {}-octet tag",
            cfg.size,
            inner::TAG_LEN
        );
    }
    let sock = UdpSocket::bind(cfg.bind).with_context(|| format!("binding {}", cfg.bind))?;
    let mut report = RanReport {
        expect_none: cfg.expect_none,
        proto: cfg.proto,
        count: cfg.count,
        ..RanReport::default()
    };
    let mut sent: Vec<Vec<u8>> = Vec::with_capacity(cfg.count as usize);
    let mut sent_at: Vec<Instant> = Vec::with_capacity(cfg.count as usize);
    let mut answered: HashSet<u32> = HashSet::new();
    let mut rtts: Vec<Duration> = Vec::new();
    let mut buf = vec![0u8; RECV_BUF];
    let mut next_send = Instant::now();

    loop {
        let now = Instant::now();
        if report.sent < cfg.count && now >= next_send {
            let (datagram, payload) = cfg.uplink_datagram(report.sent)?;
            sock.send_to(&datagram, cfg.gw)
                .with_context(|| format!("sending packet {} to {}", report.sent, cfg.gw))?;
            sent.push(payload);
            sent_at.push(Instant::now());
            report.sent += 1;
            next_send += cfg.interval;
            continue;
        }
        let deadline = if report.sent < cfg.count {
            next_send
        } else {
            let last = sent_at.last().copied().unwrap_or(now);
            if now >= last + cfg.timeout || (!cfg.expect_none && report.matched == cfg.count) {
                break;
            }
            last + cfg.timeout
        };
        set_wait(&sock, deadline.saturating_duration_since(now))?;
        let (len, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e).context("receiving the downlink"),
        };
        let arrived = Instant::now();
        report.received += 1;
        let verdict = check_downlink(cfg, from, &buf[..len], &sent);
        if let Verdict::Matched { index } = verdict {
            if answered.insert(index) {
                report.matched += 1;
                rtts.push(arrived - sent_at[index as usize]);
            } else {
                report.duplicates += 1;
                report.problem(format!("duplicate reply to packet {index}"));
            }
        } else {
            report.record(&verdict);
        }
    }

    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    report.rtt_min_ms = rtts.iter().min().map(ms);
    report.rtt_max_ms = rtts.iter().max().map(ms);
    report.rtt_avg_ms =
        (!rtts.is_empty()).then(|| rtts.iter().map(ms).sum::<f64>() / rtts.len() as f64);
    report.ok = report.failure().is_none();
    Ok(report)
}

/// The outcome of [`run_echo`]; also the JSON of `mupf-lab echo --json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EchoReport {
    /// A valid Echo Response arrived.
    pub ok: bool,
    /// The sequence number sent.
    pub seq: u16,
    /// Who answered.
    pub from: Option<String>,
    /// The response's flags octet.
    pub flags: Option<u8>,
    /// The Recovery IE's restart counter.
    pub restart_counter: Option<u8>,
    /// Round trip in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Checks an Echo Response to `seq` (TS 29.281 §7.2.2): version 1, PT 1,
/// S set, type 2, TEID 0, the same sequence number and a Recovery IE.
/// Returns the restart counter.
pub fn check_echo_response(datagram: &[u8], seq: u16) -> Result<u8, String> {
    let msg = gtp::parse(datagram).map_err(|e| format!("malformed GTP-U: {e}"))?;
    let h = &msg.header;
    if h.msg_type != gtp::MSG_ECHO_RESPONSE {
        return Err(format!(
            "message type {}, expected 2 (Echo Response)",
            h.msg_type
        ));
    }
    if h.teid != 0 {
        return Err(format!("TEID {:#010x}, expected 0", h.teid));
    }
    match h.seq {
        None => return Err(format!("flags {:#04x} without S", msg.flags)),
        Some(got) if got != seq => {
            return Err(format!("sequence number {got:#06x}, sent {seq:#06x}"))
        }
        Some(_) => {}
    }
    let ies = gtp::parse_ies(msg.payload).map_err(|e| format!("bad IEs: {e}"))?;
    gtp::recovery(&ies).ok_or_else(|| "no Recovery IE".to_string())
}

/// Sends an Echo Request from `bind` to `gw` and waits up to `timeout` for
/// the response, which must come from `gw` exactly. The first datagram
/// decides.
pub fn run_echo(
    bind: SocketAddr,
    gw: SocketAddr,
    seq: u16,
    timeout: Duration,
) -> anyhow::Result<EchoReport> {
    let sock = UdpSocket::bind(bind).with_context(|| format!("binding {bind}"))?;
    let mut report = EchoReport {
        seq,
        ..EchoReport::default()
    };
    let sent_at = Instant::now();
    sock.send_to(&gtp::echo_request(seq), gw)
        .with_context(|| format!("sending the Echo Request to {gw}"))?;
    let mut buf = vec![0u8; RECV_BUF];
    set_wait(&sock, timeout)?;
    let (len, from) = match sock.recv_from(&mut buf) {
        Ok(got) => got,
        Err(e) if is_timeout(&e) => {
            report.error = Some(format!("no Echo Response from {gw} within {timeout:?}"));
            return Ok(report);
        }
        Err(e) => return Err(e).context("receiving the Echo Response"),
    };
    report.rtt_ms = Some(sent_at.elapsed().as_secs_f64() * 1e3);
    report.from = Some(from.to_string());
    report.flags = buf.first().copied().filter(|_| len > 0);
    if from != gw {
        report.error = Some(format!("response from {from}, expected {gw}"));
        return Ok(report);
    }
    match check_echo_response(&buf[..len], seq) {
        Ok(restart) => {
            report.restart_counter = Some(restart);
            report.ok = true;
        }
        Err(e) => report.error = Some(e),
    }
    Ok(report)
}

/// Sends an End Marker for `teid` from `bind` to `gw`.
pub fn send_end_marker(bind: SocketAddr, gw: SocketAddr, teid: u32) -> anyhow::Result<()> {
    let sock = UdpSocket::bind(bind).with_context(|| format!("binding {bind}"))?;
    sock.send_to(&gtp::end_marker(teid), gw)
        .with_context(|| format!("sending the End Marker to {gw}"))?;
    Ok(())
}

/// Sends every datagram received on `sock` back to its source unchanged,
/// calling `on_datagram` for each, until `count` datagrams were echoed or
/// nothing arrived for `idle` (either limit optional). Returns how many
/// were echoed.
pub fn run_dn_echo(
    sock: &UdpSocket,
    count: Option<u64>,
    idle: Option<Duration>,
    mut on_datagram: impl FnMut(SocketAddr, &[u8]),
) -> anyhow::Result<u64> {
    sock.set_read_timeout(idle.map(|d| d.max(Duration::from_millis(1))))?;
    let mut buf = vec![0u8; RECV_BUF];
    let mut echoed = 0u64;
    while count.is_none_or(|n| echoed < n) {
        let (len, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if is_timeout(&e) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("receiving"),
        };
        on_datagram(from, &buf[..len]);
        sock.send_to(&buf[..len], from)
            .with_context(|| format!("echoing to {from}"))?;
        echoed += 1;
    }
    Ok(echoed)
}

#[cfg(test)]
mod tests;
