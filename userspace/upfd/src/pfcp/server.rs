//! The thin tokio shell around [`Node`]: the only PFCP I/O.
//!
//! It owns the UDP socket and one timer, and moves bytes and instants
//! between them and the node (quinn's `drive_timer` shape). It is meant for
//! a current_thread runtime: the node and the session handler are shared
//! through `Rc<RefCell<_>>` (the control socket uses the same session
//! manager), and no borrow is held across an `.await`, so the future is
//! `!Send`: await it directly in `block_on` or in a `LocalSet`.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use upf_pfcp::message::SessionReportRequest;

use super::node::{Event, Node, PeerId, SessionHandler};

/// A Session Report Request to send, from the usage reporting side.
#[derive(Clone, Debug)]
pub struct ReportRequest {
    /// The peer that owns the session.
    pub peer: PeerId,
    /// The session's CP SEID (the header SEID).
    pub cp_seid: u64,
    /// The report.
    pub req: SessionReportRequest,
}

/// Largest PFCP datagram we read (a UDP payload can't be larger).
const MAX_DATAGRAM: usize = 65_535;

/// Runs the node on `socket` until `shutdown` becomes `true` (or its sender
/// is dropped). Reports queued on `reports` are sent with T1/N1; a closed
/// `reports` channel is fine. Only a failure to receive that is not a
/// transient ICMP error ends the loop with an error; failed sends are
/// logged (the request is retransmitted, a lost response is asked for
/// again by the peer).
pub async fn run(
    socket: UdpSocket,
    node: Rc<RefCell<Node>>,
    handler: Rc<RefCell<dyn SessionHandler>>,
    mut reports: mpsc::Receiver<ReportRequest>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut reports_open = true;
    loop {
        flush(&socket, &node).await;
        if *shutdown.borrow() {
            return Ok(());
        }
        let deadline = node.borrow().poll_timeout();
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let mut h = handler.borrow_mut();
                    node.borrow_mut().handle_datagram(from, &buf[..n], Instant::now(), &mut *h);
                }
                // Linux reports ICMP port unreachable for an earlier send
                // as an error on the next receive.
                Err(e) if is_transient(&e) => tracing::debug!(error = %e, "PFCP socket"),
                Err(e) => return Err(e),
            },
            () = timer => {
                let mut h = handler.borrow_mut();
                node.borrow_mut().handle_timeout(Instant::now(), &mut *h);
            }
            r = reports.recv(), if reports_open => match r {
                Some(r) => node.borrow_mut().send_session_report(&r.peer, r.cp_seid, r.req, Instant::now()),
                None => reports_open = false,
            },
            r = shutdown.changed() => {
                if r.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// Sends everything the node queued and logs its events.
async fn flush(socket: &UdpSocket, node: &RefCell<Node>) {
    loop {
        // The borrow ends before the await.
        let Some(t) = node.borrow_mut().poll_transmit() else {
            break;
        };
        if let Err(e) = socket.send_to(&t.bytes, t.to).await {
            tracing::warn!(to = %t.to, error = %e, "PFCP send failed");
        }
    }
    while let Some(ev) = node.borrow_mut().poll_event() {
        log_event(&ev);
    }
}

fn log_event(ev: &Event) {
    match ev {
        Event::Associated(p) => {
            tracing::info!(peer = %p.addr, node_id = ?p.node_id, "PFCP association up")
        }
        Event::PeerLost(p) => {
            tracing::warn!(peer = %p.addr, node_id = ?p.node_id, "PFCP peer lost")
        }
        Event::Released(p) => {
            tracing::info!(peer = %p.addr, node_id = ?p.node_id, "PFCP association released")
        }
        Event::PeerRestarted(p) => {
            tracing::warn!(peer = %p.addr, node_id = ?p.node_id, "PFCP peer restarted")
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(libc::EHOSTUNREACH)
        || e.raw_os_error() == Some(libc::ENETUNREACH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfcp::node::{NodeConfig, PeerConfig};
    use std::net::{IpAddr, Ipv4Addr};
    use upf_pfcp::ie::{NodeId, RecoveryTimeStamp};
    use upf_pfcp::message::{HeartbeatRequest, HeartbeatResponse};
    use upf_pfcp::{Header, Message, MsgType, Pdu};

    struct NoSessions;

    impl SessionHandler for NoSessions {
        fn session_request(
            &mut self,
            _: &PeerId,
            _: &Header,
            _: Message,
            _: Instant,
        ) -> (u64, Message) {
            unreachable!("no session messages in this test")
        }
        fn session_report_response(&mut self, _: &PeerId, _: u64, _: Option<Message>, _: Instant) {}
        fn release_peer(&mut self, _: &PeerId, _: Instant) {}
    }

    #[tokio::test]
    async fn answers_a_heartbeat_over_udp_and_stops() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let socket = UdpSocket::bind((lo, 0)).await.unwrap();
        let upf = socket.local_addr().unwrap();
        let smf = UdpSocket::bind((lo, 0)).await.unwrap();
        let cfg = NodeConfig::new(
            NodeId::Ipv4(Ipv4Addr::LOCALHOST),
            vec![PeerConfig::host(lo)],
        );
        let node = Rc::new(RefCell::new(Node::new(
            cfg,
            RecoveryTimeStamp(42),
            Instant::now(),
        )));
        let handler: Rc<RefCell<dyn SessionHandler>> = Rc::new(RefCell::new(NoSessions));
        let (_report_tx, reports) = mpsc::channel(4);
        let (stop_tx, stop) = watch::channel(false);
        let server = run(socket, node.clone(), handler, reports, stop);
        let client = async {
            let req = Pdu {
                header: Header::node(MsgType::HEARTBEAT_REQUEST, 7),
                message: Message::HeartbeatRequest(HeartbeatRequest {
                    recovery_time_stamp: RecoveryTimeStamp(1),
                    unknown: Vec::new(),
                }),
            };
            smf.send_to(&req.to_bytes(), upf).await.unwrap();
            let mut buf = [0u8; 1500];
            let (n, from) = smf.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, upf);
            let rsp = Pdu::parse(&buf[..n]).unwrap();
            assert_eq!(rsp.header.sequence, 7);
            assert_eq!(
                rsp.message,
                Message::HeartbeatResponse(HeartbeatResponse {
                    recovery_time_stamp: RecoveryTimeStamp(42),
                    unknown: Vec::new(),
                })
            );
            stop_tx.send(true).unwrap();
        };
        let (r, ()) = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            tokio::join!(server, client)
        })
        .await
        .expect("server did not stop");
        r.unwrap();
        assert_eq!(node.borrow().stats().rx(MsgType::HEARTBEAT_REQUEST), 1);
    }
}
