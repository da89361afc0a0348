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
