//! GTP-U path management in userspace (TS 29.281 §7.2, §7.3).
//!
//! The fast path answers Echo Requests and consumes G-PDUs; everything else
//! addressed to our GTP-U port reaches this socket: Echo Responses to our
//! own requests, Error Indications, Supported Extension Headers
//! Notifications. From here we send:
//! - Echo Requests to each peer, periodically and as soon as a session names
//!   a new peer. Besides path supervision this makes the kernel resolve the
//!   peer's neighbour entry, which the fast path's downlink needs.
//! - End Markers on a tunnel a session has just moved away from (§7.3.2).
//!
//! Sends never wait (`try_send_to`: a datagram this small only fails when
//! the socket buffer is full, which is logged like any failed send), so the
//! state lives in the daemon's `Rc<RefCell<_>>` and no borrow spans an
//! `.await`; the receive loop waits on the shared socket alone.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use upf_abi::GTPU_PORT;
use upf_fastpath::gtpu;

/// What is known about one peer's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerState {
    /// When an Echo Request was last sent.
    pub last_request: Option<Instant>,
    /// When an Echo Response last arrived.
    pub last_response: Option<Instant>,
    /// Requests sent since the last response.
    pub unanswered: u32,
}

/// Counters of the userspace GTP-U socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathCounters {
    /// Echo Requests sent.
    pub echo_requests_sent: u64,
    /// Echo Responses received.
    pub echo_responses: u64,
    /// Error Indications received.
    pub error_indications: u64,
    /// End Markers sent.
    pub end_markers_sent: u64,
    /// Datagrams that were not GTP-U or not expected here.
    pub ignored: u64,
}

/// The socket and the peers' state.
pub struct GtpuPath {
    sock: Rc<UdpSocket>,
    seq: u16,
    peers: BTreeMap<Ipv4Addr, PeerState>,
    /// Counters.
    pub counters: PathCounters,
}

/// A GTP-U Echo Request with sequence number `seq` (§7.2.1).
pub fn echo_request(seq: u16) -> [u8; 12] {
    let s = seq.to_be_bytes();
    [
        gtpu::FLAG_V1 | gtpu::FLAG_PT | gtpu::FLAG_S,
        gtpu::MSG_ECHO_REQUEST,
        0,
        4,
        0,
        0,
        0,
        0,
        s[0],
        s[1],
        0,
        0,
    ]
}

/// A GTP-U End Marker for the peer's TEID (§7.3.2).
pub fn end_marker(teid: u32) -> [u8; 8] {
    let t = teid.to_be_bytes();
    [
        gtpu::FLAG_V1 | gtpu::FLAG_PT,
        gtpu::MSG_END_MARKER,
        0,
        0,
        t[0],
        t[1],
        t[2],
        t[3],
    ]
}

/// What an incoming datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// An Echo Response.
    EchoResponse,
    /// An Error Indication (the peer has no context for a TEID we sent to).
    ErrorIndication,
    /// Anything else.
    Other,
}

/// Classifies a datagram by its GTP-U header (parsed by the fast path's parser).
pub fn classify(buf: &[u8]) -> Incoming {
    let f = upf_fastpath::Frame::from_slice(buf);
    // SAFETY: f covers `buf`, which lives for the call.
    match unsafe { gtpu::parse(f.start, f.end) } {
        Ok(h) if h.msg_type == gtpu::MSG_ECHO_RESPONSE => Incoming::EchoResponse,
        Ok(h) if h.msg_type == gtpu::MSG_ERROR_INDICATION => Incoming::ErrorIndication,
        _ => Incoming::Other,
    }
}

impl GtpuPath {
    /// Binds `n3:2152`. Fails if the address is not local or the port is taken.
    pub async fn bind(n3: Ipv4Addr) -> std::io::Result<GtpuPath> {
        let sock = Rc::new(UdpSocket::bind(SocketAddrV4::new(n3, GTPU_PORT)).await?);
        Ok(GtpuPath {
            sock,
            seq: 0,
            peers: BTreeMap::new(),
            counters: PathCounters::default(),
        })
    }

    /// Starts supervising a peer and probes it at once.
    pub fn add_peer(&mut self, peer: Ipv4Addr) {
        self.peers.entry(peer).or_insert(PeerState {
            last_request: None,
            last_response: None,
            unanswered: 0,
        });
        self.probe(peer);
    }

    /// Sends an Echo Request to one peer; true when this request makes the
    /// third in a row left unanswered: the path has just failed.
    pub fn probe(&mut self, peer: Ipv4Addr) -> bool {
        let mut failed = false;
        self.seq = self.seq.wrapping_add(1);
        let msg = echo_request(self.seq);
        match self
            .sock
            .try_send_to(&msg, SocketAddr::V4(SocketAddrV4::new(peer, GTPU_PORT)))
        {
            Ok(_) => {
                self.counters.echo_requests_sent += 1;
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.last_request = Some(Instant::now());
                    p.unanswered += 1;
                    if p.unanswered == 4 {
                        tracing::warn!(%peer, "GTP-U path: no Echo Response to 3 requests");
                        failed = true;
                    }
                }
            }
            Err(e) => tracing::warn!(%peer, error = %e, "GTP-U Echo Request not sent"),
        }
        failed
    }

    /// Probes every supervised peer (the periodic echo); returns the peers
    /// whose path has just failed.
    pub fn probe_all(&mut self) -> Vec<Ipv4Addr> {
        let peers: Vec<Ipv4Addr> = self.peers.keys().copied().collect();
        let mut failed = Vec::new();
        for p in peers {
            if self.probe(p) {
                failed.push(p);
            }
        }
        failed
    }

    /// Sends an End Marker on a tunnel a session left.
    pub fn send_end_marker(&mut self, peer: Ipv4Addr, teid: u32) {
        match self.sock.try_send_to(
            &end_marker(teid),
            SocketAddr::V4(SocketAddrV4::new(peer, GTPU_PORT)),
        ) {
            Ok(_) => {
                self.counters.end_markers_sent += 1;
                tracing::info!(%peer, teid = format_args!("{teid:#x}"), "End Marker sent");
            }
            Err(e) => tracing::warn!(%peer, error = %e, "End Marker not sent"),
        }
    }

    /// The socket, for a receive loop that must not borrow the state while waiting.
    pub fn socket(&self) -> Rc<UdpSocket> {
        self.sock.clone()
    }

    /// Accounts for one received datagram.
    pub fn account(&mut self, buf: &[u8], from: SocketAddr) {
        let SocketAddr::V4(from) = from else {
            self.counters.ignored += 1;
            return;
        };
        match classify(buf) {
            Incoming::EchoResponse => {
                self.counters.echo_responses += 1;
                if let Some(p) = self.peers.get_mut(from.ip()) {
                    if p.last_response.is_none() || p.unanswered > 3 {
                        tracing::info!(peer = %from.ip(), "GTP-U path up");
                    }
                    p.last_response = Some(Instant::now());
                    p.unanswered = 0;
                }
            }
            Incoming::ErrorIndication => {
                self.counters.error_indications += 1;
                tracing::warn!(peer = %from, "GTP-U Error Indication received");
            }
            Incoming::Other => self.counters.ignored += 1,
        }
    }

    /// Each supervised peer's state.
    pub fn peers(&self) -> &BTreeMap<Ipv4Addr, PeerState> {
        &self.peers
    }
}

/// The echo period from the configuration (`None` disables it).
pub fn echo_period(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_with_the_fast_path_parser() {
        let e = echo_request(0x1234);
        let f = upf_fastpath::Frame::from_slice(&e);
        // SAFETY: f covers e.
        let h = unsafe { gtpu::parse(f.start, f.end) }.unwrap();
        assert_eq!(
            (h.msg_type, h.seq, h.teid_be),
            (gtpu::MSG_ECHO_REQUEST, 0x1234, 0)
        );
        let m = end_marker(0xabcd);
        let f = upf_fastpath::Frame::from_slice(&m);
        // SAFETY: f covers m.
        let h = unsafe { gtpu::parse(f.start, f.end) }.unwrap();
        assert_eq!(
            (h.msg_type, h.teid_be, h.length),
            (gtpu::MSG_END_MARKER, 0xabcdu32.to_be(), 0)
        );
    }

    #[test]
    fn classifies_incoming() {
        let resp = [0x32, 2, 0, 6, 0, 0, 0, 0, 0, 1, 0, 0, 14, 0];
        assert_eq!(classify(&resp), Incoming::EchoResponse);
        let ei = [0x32, 26, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(classify(&ei), Incoming::ErrorIndication);
        assert_eq!(classify(&[1, 2, 3]), Incoming::Other);
        assert_eq!(classify(&[]), Incoming::Other);
    }
}
