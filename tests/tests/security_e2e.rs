//! Peer security at the interconnect, end to end: GTP-U only from the host
//! network's peer prefixes (dropped in XDP and counted otherwise), PFCP only
//! from configured SMF prefixes, and hostile PFCP datagrams against the
//! running daemon, which answers per TS 29.244 or drops, and stays up.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use common::*;
use mvno_upf_tests::smf::{self, SessionPlan};
use upf_pfcp::header::{Header, MsgType};
use upf_pfcp::Cause;

/// A second address on the RAN side, not one of the host network's peers.
const STRANGER: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 7);

/// Gives the RAN namespace the address [`STRANGER`] as well.
fn add_stranger(lab: &Lab) {
    must(Command::new("ip").args([
        "-n",
        &lab.ran_ns,
        "addr",
        "add",
        &format!("{STRANGER}/24"),
        "dev",
        &lab.ran_if,
    ]));
}

#[test]
fn gtpu_from_outside_the_host_network_is_dropped_in_xdp_and_counted() {
    let lab = Lab::up_with(Mode::Generic, "gtpu_peers = [\"10.100.0.2/32\"]");
    add_stranger(&lab);
    let mut smf = associated(&lab);
    let s = open(&lab, &mut smf, &SessionPlan::five_g(0x7001, &[9], 9));
    let before = counter(&lab.stats(), "drops", "unknown_gtpu_peer");
    let ok = uplink_burst(&lab, &s);
    assert!(all_of(ok), "from the peer: {ok:?}\n{}", lab.log());
    let (sent, got) = uplink_burst_from(&lab, &s, STRANGER);
    assert_eq!(got, 0, "nothing from {STRANGER} reaches the DN");
    let dropped = counter(&lab.stats(), "drops", "unknown_gtpu_peer") - before;
    assert_eq!(dropped, sent, "every G-PDU from {STRANGER} counted");
    let metrics = lab.scrape_metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("unknown_gtpu_peer") && !l.starts_with('#')),
        "{metrics}"
    );
    assert!(lab
        .log()
        .contains("GTP-U accepted only from the host network's peers"));
}

/// The daemon's PFCP socket, from a source that is a configured peer.
struct Raw {
    sock: std::net::UdpSocket,
}

impl Raw {
    fn new(lab: &Lab, from: Ipv4Addr) -> Raw {
        let sock = smf::socket_in_netns(&lab.ran_ns, SocketAddr::from((from, 0)))
            .expect("a socket in the RAN namespace");
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Raw { sock }
    }

    /// Sends `d`; the answer, if one comes within 0.5 s.
    fn ask(&self, d: &[u8]) -> Option<Vec<u8>> {
        self.sock
            .send_to(d, smf::pfcp_addr(smf::LAB_N3))
            .expect("send");
        let mut buf = [0u8; 4096];
        self.sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    }
}

fn heartbeat(seq: u32) -> Vec<u8> {
    let mut h = Header::node(MsgType::HEARTBEAT_REQUEST, 0);
    h.sequence = seq;
    upf_pfcp::Pdu {
        header: h,
        message: upf_pfcp::Message::HeartbeatRequest(upf_pfcp::message::HeartbeatRequest {
            recovery_time_stamp: upf_pfcp::ie::RecoveryTimeStamp(1),
            unknown: Vec::new(),
        }),
    }
    .to_bytes()
}

/// The cause of a response, if it carries one.
fn cause(m: &upf_pfcp::Message) -> Option<Cause> {
    use upf_pfcp::Message as M;
    match m {
        M::HeartbeatResponse(_) | M::VersionNotSupportedResponse => None,
        M::SessionEstablishmentResponse(r) => Some(r.cause),
        M::SessionModificationResponse(r) => Some(r.cause),
        M::SessionDeletionResponse(r) => Some(r.cause),
        M::AssociationSetupResponse(r) => Some(r.cause),
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Hostile datagrams straight at the running daemon's port 8805; after each
/// the daemon still answers a heartbeat, and the SMF's session still
/// forwards at the end.
#[test]
fn hostile_pfcp_datagrams_are_answered_or_dropped_and_the_daemon_stays_up() {
    let mut lab = Lab::up(Mode::Generic);
    let mut smf = associated(&lab);
    let s = open(&lab, &mut smf, &SessionPlan::five_g(0x7101, &[9], 9));
    // Another address of the SMF's prefix (10.100.0.0/24), not associated,
    // so the raw datagrams are not mixed with the test SMF's.
    add_stranger(&lab);
    let raw = Raw::new(&lab, STRANGER);
    assert!(raw.ask(&heartbeat(1)).is_some(), "a heartbeat is answered");
    let est = SessionPlan::five_g(0x7102, &[9], 9).request(smf.node_id(), 77, STRANGER);
    let est_bytes = upf_pfcp::Pdu {
        header: Header::session(MsgType::SESSION_ESTABLISHMENT_REQUEST, 0, 9),
        message: upf_pfcp::Message::SessionEstablishmentRequest(est),
    }
    .to_bytes();
    let mut wrong_length = heartbeat(3);
    wrong_length[3] = 0xff; // a length far beyond the datagram
    let mut bad_version = heartbeat(4);
    bad_version[0] = (bad_version[0] & 0x1f) | (2 << 5);
    // (what, datagram, None: dropped silently, Some(cause): answered)
    type Want = Option<Option<Cause>>;
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("zero-byte datagram", Vec::new(), None),
        ("three octets", vec![0x20, 0x01, 0x00], None),
        ("truncated header", heartbeat(2)[..6].to_vec(), None),
        ("length beyond the datagram", wrong_length, None),
        // §7.2.1: Version Not Supported Response (no cause IE).
        ("version 2", bad_version, Some(None)),
        // §6.2.6.1: no session before an association.
        (
            "establishment before association",
            est_bytes,
            Some(Some(Cause::NO_ESTABLISHED_PFCP_ASSOCIATION)),
        ),
    ];
    for (what, d, want) in cases {
        let got = raw.ask(&d);
        match (&want, &got) {
            (None, None) => {}
            (Some(c), Some(b)) => {
                let p = upf_pfcp::Pdu::parse(b)
                    .unwrap_or_else(|e| panic!("{what}: unparsable answer {e}: {b:02x?}"));
                assert_eq!(cause(&p.message), *c, "{what}: {p:?}");
            }
            _ => panic!("{what}: expected {want:?}, got {got:02x?}\n{}", lab.log()),
        }
        assert!(
            raw.ask(&heartbeat(100)).is_some(),
            "{what}: the daemon stopped answering\n{}",
            lab.log()
        );
    }
    lab.assert_running();
    assert!(
        all_of(uplink_burst(&lab, &s)),
        "the SMF's session still forwards"
    );
}

/// A flood of establishments beyond the session table: every request is
/// answered, those past the table with No resources available (never a half
/// session), the daemon stays up, and deleting everything brings the table
/// back to what it held.
#[test]
fn a_flood_beyond_the_session_table_is_refused_cleanly() {
    let mut lab = Lab::up(Mode::Generic);
    lab.kill_upfd();
    let cfg = lab.dir.join("upf.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("max_sessions = 100000", "max_sessions = 64"),
    )
    .unwrap();
    lab.start_upfd();
    let mut smf = associated(&lab);
    let base = lab.sessions().len();
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for i in 0..100u32 {
        let plan = SessionPlan::five_g(0x7200 + i, &[9], 9);
        let cp_seid = smf.new_seid();
        let r = smf
            .establish(plan.request(smf.node_id(), cp_seid, smf.addr()))
            .unwrap_or_else(|e| panic!("establishment {i} unanswered: {e:#}\n{}", lab.log()));
        match r.cause {
            Cause::REQUEST_ACCEPTED => accepted.push(r.up_f_seid.expect("UP F-SEID").seid),
            Cause::NO_RESOURCES_AVAILABLE => refused += 1,
            c => panic!("establishment {i}: {c:?}"),
        }
    }
    assert!(
        refused > 0 && !accepted.is_empty(),
        "{} accepted, {refused} refused",
        accepted.len()
    );
    assert_eq!(
        lab.sessions().len(),
        base + accepted.len(),
        "no half session"
    );
    lab.assert_running();
    for seid in accepted {
        let (_, r) = smf.delete(seid).expect("deletion");
        assert_eq!(r.cause, Cause::REQUEST_ACCEPTED);
    }
    assert_eq!(lab.sessions().len(), base);
    let s = open(&lab, &mut smf, &SessionPlan::five_g(0x7300, &[9], 9));
    assert!(all_of(uplink_burst(&lab, &s)), "room again after the flood");
}
