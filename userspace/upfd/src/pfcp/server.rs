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

use std::net::Ipv4Addr;

use upf_pfcp::ie::RemoteGtpuPeer;
use upf_pfcp::message::SessionReportRequest;

use upf_pfcp::node::{Event, Node, PeerId, PeerState, SessionHandler};

/// A request the daemon asks the node to send (with T1/N1).
#[derive(Clone, Debug)]
pub enum ReportRequest {
    /// A Session Report Request to the peer that owns the session.
    Session {
        /// The peer that owns the session.
        peer: PeerId,
        /// The session's CP SEID (the header SEID).
        cp_seid: u64,
        /// The report.
        req: SessionReportRequest,
    },
    /// GTP-U peers whose path failed (Echo Requests unanswered): a Node
    /// Report Request with a User Plane Path Failure Report (TS 29.244
    /// §7.4.5.1) to every associated peer.
    PathFailure(Vec<Ipv4Addr>),
}

/// Largest PFCP datagram we read (a UDP payload can't be larger).
const MAX_DATAGRAM: usize = 65_535;

/// Datagrams handled before the responses go out: a burst of requests is
/// saved in one transaction of the session store (group commit).
const BATCH: usize = 64;

/// Runs the node on `socket` until `shutdown` becomes `true` (or its sender
/// is dropped). `before_send` runs before anything queued is sent: the
/// daemon saves the sessions the handled requests changed there, so no
/// response tells an SMF about a session a crash could lose. Datagrams
/// already waiting are handled together (up to [`BATCH`]) before that. Reports queued on `reports` are sent with T1/N1; a closed
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
    mut before_send: impl FnMut(),
) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut reports_open = true;
    loop {
        before_send();
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
                    let mut node = node.borrow_mut();
                    node.handle_datagram(from, &buf[..n], Instant::now(), &mut *h);
                    for _ in 1..BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, from)) => node.handle_datagram(from, &buf[..n], Instant::now(), &mut *h),
                            Err(_) => break,
                        }
                    }
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
                Some(ReportRequest::Session { peer, cp_seid, req }) => {
                    node.borrow_mut().send_session_report(&peer, cp_seid, req, Instant::now())
                }
                Some(ReportRequest::PathFailure(failed)) => path_failure(&mut node.borrow_mut(), &failed),
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

/// Queues a User Plane Path Failure Report to every associated peer.
fn path_failure(node: &mut Node, failed: &[Ipv4Addr]) {
    let remote = failed
        .iter()
        .map(|a| RemoteGtpuPeer {
            ipv4: Some(*a),
            ipv6: None,
        })
        .collect();
    let req = node.path_failure_report(remote);
    let peers: Vec<PeerId> = node
        .peers()
        .into_iter()
        .filter(|p| p.state == PeerState::Associated)
        .filter_map(|p| {
            Some(PeerId {
                node_id: p.node_id?,
                addr: p.addr,
            })
        })
        .collect();
    for p in peers {
        tracing::warn!(peer = %p.addr, gtpu_peers = ?failed, "reporting a user plane path failure");
        node.send_node_report(&p, req.clone(), Instant::now());
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
    use std::net::{IpAddr, Ipv4Addr};
    use upf_pfcp::ie::{NodeId, RecoveryTimeStamp};
    use upf_pfcp::message::{HeartbeatRequest, HeartbeatResponse};
    use upf_pfcp::node::{NodeConfig, PeerConfig};
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
        let server = run(socket, node.clone(), handler, reports, stop, || {});
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

    #[test]
    fn a_path_failure_is_reported_to_every_associated_peer() {
        use upf_pfcp::message::AssociationSetupRequest;
        let smf: std::net::SocketAddr = "10.0.0.2:8805".parse().unwrap();
        let cfg = NodeConfig::new(
            NodeId::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
            vec![PeerConfig::host(smf.ip())],
        );
        let now = Instant::now();
        let mut node = Node::new(cfg, RecoveryTimeStamp(42), now);
        // Nobody associated: nothing to send.
        path_failure(&mut node, &[Ipv4Addr::new(10, 100, 0, 9)]);
        assert!(node.poll_transmit().is_none());
        let setup = Pdu {
            header: Header::node(MsgType::ASSOCIATION_SETUP_REQUEST, 1),
            message: Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: NodeId::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
                recovery_time_stamp: RecoveryTimeStamp(7),
                up_function_features: None,
                cp_function_features: None,
                user_plane_ip_resource_information: Vec::new(),
                unknown: Vec::new(),
            }),
        };
        node.handle_datagram(smf, &setup.to_bytes(), now, &mut NoSessions);
        assert!(node.poll_transmit().is_some(), "the setup response");
        path_failure(&mut node, &[Ipv4Addr::new(10, 100, 0, 9)]);
        let t = node.poll_transmit().expect("a Node Report Request");
        assert_eq!(t.to, smf);
        let pdu = Pdu::parse(&t.bytes).unwrap();
        let Message::NodeReportRequest(r) = pdu.message else {
            panic!("{:?}", pdu.message)
        };
        assert_eq!(r.node_report_type.0 & 1, 1, "UPFR");
        let peers = r.user_plane_path_failure_report.unwrap().remote_peers;
        assert_eq!(peers[0].ipv4, Some(Ipv4Addr::new(10, 100, 0, 9)));
    }
}
