//! Byte fixtures for the GTP-U parser and writers.

use super::*;
use crate::Frame;

fn parse_bytes(b: &[u8]) -> Result<Gtpu> {
    let f = Frame::from_slice(b);
    // SAFETY: f covers a live slice.
    unsafe { parse(f.start, f.end) }
}

/// Plain G-PDU: no optional fields, TEID 0x11223344, 4-octet payload.
const PLAIN: [u8; 12] = [
    0x30, 0xff, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44, 0x45, 0, 0, 0,
];

#[test]
fn plain_gpdu() {
    let g = parse_bytes(&PLAIN).unwrap();
    assert_eq!(g.msg_type, MSG_G_PDU);
    assert_eq!(g.teid_be, 0x1122_3344u32.to_be());
    assert_eq!(g.length, 4);
    assert_eq!(g.header_len, 8);
    assert_eq!(g.payload_len(), 4);
    assert_eq!(g.container, None);
    assert!(!g.has_seq());
}

#[test]
fn s_flag_reads_the_sequence_number() {
    // Echo Request with S: seq 0x1234, no IEs.
    let b = [0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0x00, 0x00];
    let g = parse_bytes(&b).unwrap();
    assert_eq!(g.msg_type, MSG_ECHO_REQUEST);
    assert!(g.has_seq());
    assert_eq!(g.seq, 0x1234);
    assert_eq!(g.header_len, 12);
    assert_eq!(g.payload_len(), 0);
}

#[test]
fn pn_flag_alone_still_has_the_optional_fields() {
    let b = [
        0x31, 0xff, 0x00, 0x08, 0, 0, 0, 7, 0, 0, 0x2a, 0x00, 0x45, 0, 0, 0,
    ];
    let g = parse_bytes(&b).unwrap();
    assert_eq!(g.header_len, 12);
    assert_eq!(g.payload_len(), 4);
}

/// G-PDU with a UL PDU Session Container, QFI 9.
const UL_CONTAINER: [u8; 20] = [
    0x34, 0xff, 0x00, 0x0c, 0, 0, 0, 1, // header, length 12
    0, 0, 0, 0x85, // seq, N-PDU, next = container
    0x01, 0x10, 0x09, 0x00, // container: 1 word, PDU type 1 (UL), QFI 9, next none
    0x45, 0, 0, 0, // payload
];

#[test]
fn ul_pdu_session_container() {
    let g = parse_bytes(&UL_CONTAINER).unwrap();
    assert_eq!(
        g.container,
        Some(PduSessionInfo {
            pdu_type: PDU_TYPE_UL,
            qfi: 9
        })
    );
    assert_eq!(g.header_len, 16);
    assert_eq!(g.payload_len(), 4);
}

#[test]
fn dl_pdu_session_container_with_ppp_and_rqi_bits() {
    let mut b = UL_CONTAINER;
    b[13] = 0x00; // PDU type 0 (DL)
    b[14] = 0xc5; // PPP=1, RQI=1, QFI 5
    let g = parse_bytes(&b).unwrap();
    assert_eq!(
        g.container,
        Some(PduSessionInfo {
            pdu_type: PDU_TYPE_DL,
            qfi: 5
        })
    );
}

#[test]
fn chained_extensions_are_walked() {
    // UDP Port ext (0x40, 1 word), then a 2-word NR RAN Container (0x84), then the PDU Session Container.
    let b = [
        0x34, 0xff, 0x00, 0x18, 0, 0, 0, 1, //
        0, 0, 0, 0x40, //
        0x01, 0x08, 0x68, 0x84, // UDP Port 2152, next NR RAN container
        0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x85, // 2 words, next container
        0x01, 0x10, 0x3f, 0x00, // UL, QFI 63
        0x45, 0, 0, 0,
    ];
    let g = parse_bytes(&b).unwrap();
    assert_eq!(g.header_len, 28);
    assert_eq!(
        g.container,
        Some(PduSessionInfo {
            pdu_type: PDU_TYPE_UL,
            qfi: 63
        })
    );
    assert_eq!(g.payload_len(), 4);
}

#[test]
fn longer_container_is_skipped_whole() {
    // A 2-word UL container (e.g. with timestamps): the QFI is still at octet 3.
    let b = [
        0x34, 0xff, 0x00, 0x10, 0, 0, 0, 1, 0, 0, 0, 0x85, //
        0x02, 0x18, 0x07, 1, 2, 3, 4, 0x00, //
        0x45, 0, 0, 0,
    ];
    let g = parse_bytes(&b).unwrap();
    assert_eq!(g.header_len, 20);
    assert_eq!(g.container.unwrap().qfi, 7);
}

#[test]
fn wrong_version_or_gtp_prime_is_rejected() {
    let mut b = PLAIN;
    b[0] = 0x50; // version 2
    assert_eq!(parse_bytes(&b), Err(DropReason::BadGtpHeader));
    b[0] = 0x20; // PT = 0
    assert_eq!(parse_bytes(&b), Err(DropReason::BadGtpHeader));
}

#[test]
fn truncated_headers_are_rejected() {
    for n in 0..8 {
        assert_eq!(
            parse_bytes(&PLAIN[..n]),
            Err(DropReason::Truncated),
            "len {n}"
        );
    }
    // The length field says more than the frame holds.
    assert_eq!(parse_bytes(&PLAIN[..11]), Err(DropReason::BadGtpHeader));
    // Every cut of the container packet fails, none panics.
    for n in 8..UL_CONTAINER.len() {
        assert!(parse_bytes(&UL_CONTAINER[..n]).is_err(), "len {n}");
    }
}

#[test]
fn optional_fields_need_room_in_the_length() {
    let b = [0x32, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0x12, 0x34];
    assert_eq!(parse_bytes(&b), Err(DropReason::BadGtpHeader));
}

#[test]
fn zero_extension_length_is_rejected() {
    let mut b = UL_CONTAINER;
    b[12] = 0;
    assert_eq!(parse_bytes(&b), Err(DropReason::BadExtensionHeader));
}

#[test]
fn bogus_extension_length_is_rejected() {
    let mut b = UL_CONTAINER;
    b[12] = 200; // 800 octets: past the frame
    assert_eq!(parse_bytes(&b), Err(DropReason::BadExtensionHeader));
    // Inside the frame but past the GTP length field.
    let mut c = [0u8; 40];
    c[..20].copy_from_slice(&UL_CONTAINER);
    c[12] = 3; // 12 octets: 12..24, past the 20 the length field covers
    c[23] = 0; // the third word ends with next = none
    assert_eq!(parse_bytes(&c), Err(DropReason::BadExtensionHeader));
}

#[test]
fn unterminated_chain_is_rejected() {
    // Nine UDP Port headers in a row, each pointing to another.
    let mut b = [0u8; 12 + 4 * 9 + 4];
    b[..12].copy_from_slice(&[
        0x34,
        0xff,
        0,
        (4 + 4 * 9 + 4) as u8,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0x40,
    ]);
    for i in 0..9 {
        b[12 + 4 * i..16 + 4 * i].copy_from_slice(&[1, 0x08, 0x68, 0x40]);
    }
    assert_eq!(parse_bytes(&b), Err(DropReason::ExtensionChainTooLong));
    // The last header points to another one that is not there.
    let mut c = UL_CONTAINER;
    c[15] = 0x40;
    c[3] = 8; // length ends right after the container
    assert!(parse_bytes(&c[..16]).is_err());
}

#[test]
fn unknown_extension_comprehension_rules() {
    // 0x0f: comprehension not required -> skipped.
    let mut b = UL_CONTAINER;
    b[11] = 0x0f;
    b[15] = 0x00;
    assert!(parse_bytes(&b).is_ok());
    // 0xbf: unknown, comprehension required by the endpoint -> dropped.
    b[11] = 0xbf;
    assert_eq!(parse_bytes(&b), Err(DropReason::UnsupportedExtensionHeader));
    // 0xff: unknown, required by all -> dropped.
    b[11] = 0xff;
    assert_eq!(parse_bytes(&b), Err(DropReason::UnsupportedExtensionHeader));
}

#[test]
fn unknown_pdu_type_is_rejected() {
    let mut b = UL_CONTAINER;
    b[13] = 0x30;
    assert_eq!(parse_bytes(&b), Err(DropReason::BadPduSessionContainer));
}

#[test]
fn every_prefix_and_mutation_of_every_fixture_is_safe() {
    // The parser must never read past the end: run it over every cut of every
    // fixture and single-byte mutations (under Miri a stray read is fatal).
    let echo: &[u8] = &[0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0, 0];
    let fixtures: [&[u8]; 3] = [&PLAIN, &UL_CONTAINER, echo];
    for fx in fixtures {
        for n in 0..=fx.len() {
            let _ = parse_bytes(&fx[..n]);
        }
        for i in 0..fx.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut m = fx.to_vec();
                m[i] = v;
                if let Ok(g) = parse_bytes(&m) {
                    assert!(g.header_len <= m.len());
                    assert!(HEADER_LEN + g.length as usize <= m.len());
                }
            }
        }
    }
}

fn write_tunnel(t: &Tunnel, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; encap_len(t.qfi.is_some())];
    let p = out.as_mut_ptr() as usize;
    let end = p + out.len();
    // SAFETY: [p, end) is `out`.
    assert!(unsafe { t.write(p, end, inner.len() as u16) });
    out.extend_from_slice(inner);
    out
}

#[test]
fn tunnel_headers_4g() {
    let t = Tunnel {
        src_be: u32::from_ne_bytes([10, 100, 0, 1]),
        dst_be: u32::from_ne_bytes([10, 100, 0, 2]),
        teid_be: 0xdead_beefu32.to_be(),
        qfi: None,
        tos: 0,
    };
    let inner = [
        0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    let pkt = write_tunnel(&t, &inner);
    assert_eq!(pkt.len(), 36 + 20);
    let (ip, rest) = etherparse::Ipv4Header::from_slice(&pkt).unwrap();
    assert_eq!(ip.total_len as usize, pkt.len());
    assert_eq!(ip.calc_header_checksum(), ip.header_checksum);
    assert_eq!(ip.source, [10, 100, 0, 1]);
    assert_eq!(ip.destination, [10, 100, 0, 2]);
    let (udp, rest) = etherparse::UdpHeader::from_slice(rest).unwrap();
    assert_eq!((udp.source_port, udp.destination_port), (2152, 2152));
    assert_eq!(udp.length as usize, 8 + rest.len());
    assert_eq!(&rest[..8], &[0x30, 0xff, 0, 20, 0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(&rest[8..], &inner);
    // And our own parser reads it back.
    let g = parse_bytes(rest).unwrap();
    assert_eq!(g.payload_len(), 20);
}

#[test]
fn tunnel_headers_5g_carry_a_dl_container() {
    let t = Tunnel {
        src_be: 1,
        dst_be: 2,
        teid_be: 7u32.to_be(),
        qfi: Some(9),
        tos: 0x20,
    };
    let inner = [0x45u8; 28];
    let pkt = write_tunnel(&t, &inner);
    assert_eq!(pkt.len(), 44 + 28);
    let gtp = &pkt[28..];
    assert_eq!(
        &gtp[..16],
        &[
            0x34,
            0xff,
            0,
            28 + 8,
            0,
            0,
            0,
            7,
            0,
            0,
            0,
            0x85,
            1,
            0x00,
            9,
            0
        ]
    );
    let g = parse_bytes(gtp).unwrap();
    assert_eq!(
        g.container,
        Some(PduSessionInfo {
            pdu_type: PDU_TYPE_DL,
            qfi: 9
        })
    );
    assert_eq!(g.payload_len(), 28);
    assert_eq!(pkt[1], 0x20, "outer TOS copied");
}

#[test]
fn tunnel_refuses_a_short_buffer_and_oversized_inner() {
    let t = Tunnel {
        src_be: 1,
        dst_be: 2,
        teid_be: 3,
        qfi: Some(1),
        tos: 0,
    };
    let mut out = [0u8; 43];
    let p = out.as_mut_ptr() as usize;
    // SAFETY: [p, p+43) is `out`.
    assert!(!unsafe { t.write(p, p + 43, 100) });
    let mut big = [0u8; 44];
    let p = big.as_mut_ptr() as usize;
    // SAFETY: [p, p+44) is `big`.
    assert!(!unsafe { t.write(p, p + 44, u16::MAX - 10) });
}

#[test]
fn echo_response_bytes() {
    let e = EchoResponse {
        src_be: u32::from_ne_bytes([10, 100, 0, 1]),
        dst_be: u32::from_ne_bytes([10, 100, 0, 2]),
        dst_port: 40000,
        seq: 0xbeef,
    };
    let mut out = [0u8; ECHO_RESPONSE_LEN];
    let p = out.as_mut_ptr() as usize;
    // SAFETY: [p, p+len) is `out`.
    assert!(unsafe { e.write(p, p + ECHO_RESPONSE_LEN) });
    let (ip, rest) = etherparse::Ipv4Header::from_slice(&out).unwrap();
    assert_eq!(ip.calc_header_checksum(), ip.header_checksum);
    assert_eq!(ip.total_len as usize, ECHO_RESPONSE_LEN);
    let (udp, rest) = etherparse::UdpHeader::from_slice(rest).unwrap();
    assert_eq!((udp.source_port, udp.destination_port), (2152, 40000));
    assert_eq!(
        rest,
        &[0x32, 0x02, 0, 6, 0, 0, 0, 0, 0xbe, 0xef, 0, 0, 14, 0]
    );
}
