//! The loops against a fake gateway on the loopback interface: it answers
//! each G-PDU itself (as gateway and DN host in one), with faults on demand.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::*;
use crate::gtp::{self, Header, PduSessionContainer};
use crate::inner::{self, Transport};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const UE: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 2);
const DN: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const LOCAL_TEID: u32 = 0x100;
const REMOTE_TEID: u32 = 0x200;
const QFI: u8 = 9;

/// How the fake gateway misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    silent: bool,
    wrong_teid: bool,
    no_container: bool,
    wrong_qfi: bool,
    ul_pdu_type: bool,
    corrupt_payload: bool,
    bad_inner_checksum: bool,
    duplicate: bool,
}

/// A fake gateway answering G-PDUs until it has been idle for 500 ms.
/// `five_g` adds a DL container (QFI 9). The thread returns how many
/// uplink packets it saw and panics on a malformed one.
fn fake_gateway(five_g: bool, faults: Faults) -> (SocketAddr, JoinHandle<u32>) {
    let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let handle = thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut seen = 0;
        while let Ok((len, from)) = sock.recv_from(&mut buf) {
            seen += 1;
            let msg = gtp::parse(&buf[..len]).expect("uplink GTP-U");
            assert_eq!(msg.header.msg_type, gtp::MSG_G_PDU);
            assert_eq!(msg.header.teid, LOCAL_TEID);
            if five_g {
                assert_eq!(
                    msg.header.pdu_session(),
                    Some(PduSessionContainer::uplink(QFI))
                );
            }
            if faults.silent {
                continue;
            }
            let ip = inner::parse_ipv4(msg.payload).expect("uplink inner packet");
            let mut reply = match ip.transport {
                Transport::Udp {
                    src_port,
                    dst_port,
                    payload,
                } => {
                    let mut payload = payload.to_vec();
                    if faults.corrupt_payload {
                        *payload.last_mut().unwrap() ^= 0x55;
                    }
                    inner::udp_packet(ip.dst, ip.src, dst_port, src_port, &payload).unwrap()
                }
                Transport::IcmpEcho {
                    reply: false,
                    id,
                    seq,
                    payload,
                } => inner::icmp_echo_reply(ip.dst, ip.src, id, seq, payload).unwrap(),
                other => panic!("unexpected uplink {other:?}"),
            };
            if faults.bad_inner_checksum {
                reply[10] ^= 1;
            }
            let teid = if faults.wrong_teid {
                REMOTE_TEID + 1
            } else {
                REMOTE_TEID
            };
            let mut header = Header::g_pdu(teid);
            if five_g && !faults.no_container {
                let qfi = if faults.wrong_qfi { QFI + 1 } else { QFI };
                let mut container = PduSessionContainer::downlink(qfi);
                if faults.ul_pdu_type {
                    container.pdu_type = gtp::PDU_TYPE_UL;
                }
                header = header.with_pdu_session(container);
            }
            let datagram = header.encode(&reply).unwrap();
            sock.send_to(&datagram, from).unwrap();
            if faults.duplicate {
                sock.send_to(&datagram, from).unwrap();
            }
        }
        seen
    });
    (addr, handle)
}

fn config(gw: SocketAddr, five_g: bool) -> RanConfig {
    RanConfig {
        bind: SocketAddr::new(LOOPBACK, 0),
        gw,
        teid: LOCAL_TEID,
        expect_teid: Some(REMOTE_TEID),
        qfi: five_g.then_some(QFI),
        dl_qfi: None,
        container: five_g,
        seq: false,
        count: 4,
        size: 64,
        interval: Duration::from_millis(5),
        timeout: Duration::from_millis(300),
        proto: Proto::Udp,
        ue: UE,
        src: None,
        dst: DN,
        dst_port: 7000,
        expect_none: false,
        run_id: 0x5eed,
    }
}

fn run(five_g: bool, faults: Faults, tweak: impl FnOnce(&mut RanConfig)) -> RanReport {
    let (gw, handle) = fake_gateway(five_g, faults);
    let mut cfg = config(gw, five_g);
    tweak(&mut cfg);
    let report = run_ran(&cfg).unwrap();
    assert_eq!(handle.join().unwrap(), cfg.count, "uplink packets seen");
    report
}

#[test]
fn udp_5g_all_replies_match() {
    let report = run(true, Faults::default(), |_| {});
    assert!(report.ok, "{report:?}");
    assert_eq!((report.sent, report.received, report.matched), (4, 4, 4));
    assert!(report.rtt_min_ms.unwrap() <= report.rtt_avg_ms.unwrap());
    assert!(report.rtt_avg_ms.unwrap() <= report.rtt_max_ms.unwrap());
    assert_eq!(report.failure(), None);
    assert!(report.summary().starts_with("PASS"));
}

#[test]
fn icmp_4g_with_sequence_numbers() {
    let report = run(false, Faults::default(), |c| {
        c.proto = Proto::Icmp;
        c.seq = true;
        c.size = 100;
    });
    assert!(report.ok, "{report:?}");
    assert_eq!(report.matched, 4);
}

#[test]
fn wrong_teid_is_counted() {
    let report = run(
        true,
        Faults {
            wrong_teid: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert!(!report.ok);
    assert_eq!((report.wrong_teid, report.matched), (4, 0));
    assert!(report.failure().unwrap().contains("4 wrong TEID"));
}

#[test]
fn unchecked_teid_matches_anything() {
    let report = run(
        false,
        Faults {
            wrong_teid: true,
            ..Faults::default()
        },
        |c| c.expect_teid = None,
    );
    assert!(report.ok, "{report:?}");
}

#[test]
fn missing_container_is_counted() {
    let report = run(
        true,
        Faults {
            no_container: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert_eq!((report.missing_container, report.matched), (4, 0));
    assert!(!report.ok);
}

#[test]
fn wrong_qfi_is_counted() {
    let report = run(
        true,
        Faults {
            wrong_qfi: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert_eq!((report.wrong_qfi, report.matched), (4, 0));
}

#[test]
fn dl_qfi_names_the_downlink_flow() {
    // The fake answers on QFI 10: right when the downlink flow is 10,
    // whatever the uplink's QFI.
    let report = run(
        true,
        Faults {
            wrong_qfi: true,
            ..Faults::default()
        },
        |c| c.dl_qfi = Some(QFI + 1),
    );
    assert_eq!((report.wrong_qfi, report.matched), (0, 4), "{report:?}");
    assert!(report.ok);
}

#[test]
fn uplink_pdu_type_on_the_downlink_is_malformed() {
    let report = run(
        true,
        Faults {
            ul_pdu_type: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert_eq!((report.malformed, report.matched), (4, 0));
    assert!(report.problems[0].contains("PDU type 1"));
}

#[test]
fn corrupted_payload_is_counted() {
    let report = run(
        false,
        Faults {
            corrupt_payload: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert_eq!((report.corrupted, report.matched), (4, 0));
    assert!(report.problems[0].contains("differs at octet 63"));
}

#[test]
fn bad_inner_checksum_is_malformed() {
    let report = run(
        false,
        Faults {
            bad_inner_checksum: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert_eq!((report.malformed, report.matched), (4, 0));
    assert!(report.problems[0].contains("checksum"));
}

#[test]
fn duplicates_fail_the_run() {
    let report = run(
        false,
        Faults {
            duplicate: true,
            ..Faults::default()
        },
        |_| {},
    );
    assert_eq!(report.matched, 4);
    assert!(report.duplicates >= 1, "{report:?}");
    assert!(!report.ok);
}

#[test]
fn silence_passes_only_when_expected() {
    let report = run(
        false,
        Faults {
            silent: true,
            ..Faults::default()
        },
        |c| {
            c.expect_none = true;
            c.count = 2;
        },
    );
    assert!(report.ok, "{report:?}");
    assert_eq!((report.sent, report.received), (2, 0));

    let report = run(
        false,
        Faults {
            silent: true,
            ..Faults::default()
        },
        |c| c.count = 2,
    );
    assert!(!report.ok);
    assert!(report
        .failure()
        .unwrap()
        .starts_with("0 of 2 replies matched"));
    assert_eq!(report.rtt_avg_ms, None);
}

#[test]
fn a_reply_fails_expect_none() {
    let report = run(false, Faults::default(), |c| {
        c.expect_none = true;
        c.count = 1;
    });
    assert!(!report.ok);
    assert_eq!(report.received, 1);
    assert!(report.failure().unwrap().starts_with("expected no reply"));
}

#[test]
fn spoofed_source_goes_out() {
    // The fake gateway answers to the inner source, so the reply is not for
    // the UE: counted as unexpected.
    let report = run(false, Faults::default(), |c| {
        c.src = Some(Ipv4Addr::new(10, 45, 0, 99));
        c.count = 1;
    });
    assert_eq!((report.unexpected, report.matched), (1, 0));
    assert!(report.problems[0].contains("not the UE"));
}

#[test]
fn classification_of_stray_datagrams() {
    let gw: SocketAddr = "127.0.0.1:2152".parse().unwrap();
    let cfg = config(gw, false);
    let (_, payload) = cfg.inner_packet(0).unwrap();
    let sent = vec![payload];
    let reply = inner::udp_packet(DN, UE, 7000, udp_src_port(0), &sent[0]).unwrap();
    let good = Header::g_pdu(REMOTE_TEID).encode(&reply).unwrap();
    assert_eq!(
        check_downlink(&cfg, gw, &good, &sent),
        Verdict::Matched { index: 0 }
    );
    let other: SocketAddr = "127.0.0.2:2152".parse().unwrap();
    assert!(matches!(
        check_downlink(&cfg, other, &good, &sent),
        Verdict::Unexpected(_)
    ));
    assert!(matches!(
        check_downlink(&cfg, gw, &gtp::end_marker(REMOTE_TEID), &sent),
        Verdict::Unexpected(_)
    ));
    assert!(matches!(
        check_downlink(&cfg, gw, &good[..10], &sent),
        Verdict::Malformed(_)
    ));
    // A packet index we never sent.
    assert!(matches!(
        check_downlink(&cfg, gw, &good, &[]),
        Verdict::Unexpected(_)
    ));
    // Another run's payload.
    let stale = inner::pattern(cfg.run_id + 1, 0, 64);
    let reply = inner::udp_packet(DN, UE, 7000, udp_src_port(0), &stale).unwrap();
    let stale = Header::g_pdu(REMOTE_TEID).encode(&reply).unwrap();
    assert!(matches!(
        check_downlink(&cfg, gw, &stale, &sent),
        Verdict::Unexpected(_)
    ));
    // The right payload to the wrong port.
    let reply = inner::udp_packet(DN, UE, 7000, udp_src_port(1), &sent[0]).unwrap();
    let wrong_port = Header::g_pdu(REMOTE_TEID).encode(&reply).unwrap();
    assert!(matches!(
        check_downlink(&cfg, gw, &wrong_port, &sent),
        Verdict::Corrupted { index: 0, .. }
    ));
}

#[test]
fn uplink_datagram_layout() {
    let gw: SocketAddr = "127.0.0.1:2152".parse().unwrap();
    let mut cfg = config(gw, true);
    cfg.seq = true;
    let (datagram, payload) = cfg.uplink_datagram(3).unwrap();
    assert_eq!(&datagram[..2], [0x36, 0xff]);
    let msg = gtp::parse(&datagram).unwrap();
    assert_eq!(msg.header.seq, Some(3));
    assert_eq!(msg.header.teid, LOCAL_TEID);
    let ip = inner::parse_ipv4(msg.payload).unwrap();
    assert_eq!((ip.src, ip.dst), (UE, DN));
    assert_eq!(
        ip.transport,
        Transport::Udp {
            src_port: 40003,
            dst_port: 7000,
            payload: &payload
        }
    );
}

#[test]
fn too_small_payload_is_refused() {
    let mut cfg = config("127.0.0.1:9".parse().unwrap(), false);
    cfg.size = inner::TAG_LEN - 1;
    assert!(run_ran(&cfg).is_err());
}

/// A fake echo responder answering with `respond(request)`.
fn echo_peer(respond: fn(&[u8]) -> Vec<u8>) -> (SocketAddr, JoinHandle<()>) {
    let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let (len, from) = sock.recv_from(&mut buf).unwrap();
        let req = gtp::parse(&buf[..len]).unwrap();
        assert_eq!(req.flags, 0x32);
        assert_eq!(req.header.msg_type, gtp::MSG_ECHO_REQUEST);
        sock.send_to(&respond(&buf[..len]), from).unwrap();
    });
    (addr, handle)
}

fn request_seq(req: &[u8]) -> u16 {
    gtp::parse(req).unwrap().header.seq.unwrap()
}

#[test]
fn echo_response_accepted() {
    let (gw, handle) = echo_peer(|req| gtp::echo_response(request_seq(req), 0));
    let bind = SocketAddr::new(LOOPBACK, 0);
    let report = run_echo(bind, gw, 0x1234, Duration::from_secs(1)).unwrap();
    handle.join().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.flags, Some(0x32));
    assert_eq!(report.restart_counter, Some(0));
}

#[test]
fn echo_response_with_wrong_seq_rejected() {
    let (gw, handle) = echo_peer(|req| gtp::echo_response(request_seq(req) ^ 1, 0));
    let report = run_echo(SocketAddr::new(LOOPBACK, 0), gw, 7, Duration::from_secs(1)).unwrap();
    handle.join().unwrap();
    assert!(!report.ok);
    assert!(report.error.unwrap().contains("sequence number"));
}

#[test]
fn echo_response_checks() {
    let ok = gtp::echo_response(5, 3);
    assert_eq!(check_echo_response(&ok, 5), Ok(3));
    let no_recovery = Header::new(gtp::MSG_ECHO_RESPONSE, 0)
        .with_seq(5)
        .encode(&[])
        .unwrap();
    assert!(check_echo_response(&no_recovery, 5)
        .unwrap_err()
        .contains("Recovery"));
    let no_s = Header::new(gtp::MSG_ECHO_RESPONSE, 0)
        .encode(&[gtp::IE_RECOVERY, 0])
        .unwrap();
    assert!(check_echo_response(&no_s, 5)
        .unwrap_err()
        .contains("without S"));
    let teid = Header::new(gtp::MSG_ECHO_RESPONSE, 1)
        .with_seq(5)
        .encode(&[gtp::IE_RECOVERY, 0])
        .unwrap();
    assert!(check_echo_response(&teid, 5).unwrap_err().contains("TEID"));
    assert!(check_echo_response(&gtp::echo_request(5), 5).is_err());
    assert!(check_echo_response(&ok[..9], 5).is_err());
}

#[test]
fn echo_timeout() {
    // A bound socket that never answers.
    let quiet = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let gw = quiet.local_addr().unwrap();
    let report = run_echo(
        SocketAddr::new(LOOPBACK, 0),
        gw,
        1,
        Duration::from_millis(100),
    )
    .unwrap();
    assert!(!report.ok);
    assert!(report.error.unwrap().contains("no Echo Response"));
}

#[test]
fn end_marker_is_sent() {
    let peer = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    send_end_marker(SocketAddr::new(LOOPBACK, 0), peer.local_addr().unwrap(), 42).unwrap();
    let mut buf = [0u8; 64];
    let (len, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], [0x30, 254, 0, 0, 0, 0, 0, 42]);
}

#[test]
fn dn_echo_echoes_and_stops() {
    let server = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut seen = Vec::new();
        let n = run_dn_echo(&server, Some(2), Some(Duration::from_secs(2)), |_, d| {
            seen.push(d.to_vec())
        })
        .unwrap();
        (n, seen)
    });
    let client = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 64];
    for msg in [&b"one"[..], b"two"] {
        client.send_to(msg, addr).unwrap();
        let (len, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..len], from), (msg, addr));
    }
    let (n, seen) = handle.join().unwrap();
    assert_eq!(n, 2);
    assert_eq!(seen, [b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn dn_echo_idle_timeout() {
    let server = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let n = run_dn_echo(&server, None, Some(Duration::from_millis(50)), |_, _| {}).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn report_json_round_trip() {
    let report = RanReport {
        count: 2,
        sent: 2,
        received: 1,
        matched: 1,
        rtt_min_ms: Some(0.5),
        rtt_avg_ms: Some(0.5),
        rtt_max_ms: Some(0.5),
        ..RanReport::default()
    };
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"proto\":\"udp\""));
    let back: RanReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}
