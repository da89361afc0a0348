//! Criterion benches of the fast path's packet parsing on the host:
//! the GTP-U header alone, and the whole uplink chain the XDP program runs
//! on an N3 frame (Ethernet, outer IPv4, UDP, GTP-U, inner IPv4, inner ports).
//!
//! Run: `cargo bench -p upf-fastpath --bench parse`.
//! Host figures: the BPF JIT runs the same code with bounds checks the
//! verifier demands, so these are a floor for the in-kernel cost, not a
//! measurement of it.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use upf_fastpath::pdr::{self, Flow};
use upf_fastpath::{eth, gtpu, ipv4, DropReason, Frame};

/// G-PDU with a UL PDU Session Container (QFI 9): header, seq/N-PDU/next,
/// one container word.
const GTP_CONTAINER: [u8; 16] = [
    0x34, 0xff, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01, // flags E, G-PDU, length (patched), TEID
    0x00, 0x00, 0x00, 0x85, // seq, N-PDU, next = PDU Session Container
    0x01, 0x10, 0x09, 0x00, // 1 word, PDU type UL, QFI 9, next none
];

/// Plain G-PDU: 8-octet header, no optional fields.
const GTP_PLAIN: [u8; 8] = [0x30, 0xff, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01];

/// Echo Request with S (seq 0x1234) and a Recovery IE, as a peer sends it.
const GTP_ECHO: [u8; 14] = [
    0x32, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 14, 0,
];

fn ipv4_header(total_len: u16, proto: u8, src: [u8; 4], dst: [u8; 4]) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h[6] = 0x40; // DF
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let mut sum = 0u32;
    for w in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    h
}

/// An N3 frame: Ethernet, outer IPv4 (gNB -> N3), UDP 2152, the GTP-U header
/// `gtp` (length patched), and for a G-PDU an inner IPv4/UDP datagram with
/// `payload` octets of data.
fn n3_frame(gtp: &[u8], payload: usize) -> Vec<u8> {
    let inner = if gtp[1] == gtpu::MSG_G_PDU {
        let udp_len = 8 + payload as u16;
        let mut v = ipv4_header(20 + udp_len, 17, [10, 45, 0, 7], [8, 8, 8, 8]).to_vec();
        v.extend_from_slice(&40000u16.to_be_bytes());
        v.extend_from_slice(&53u16.to_be_bytes());
        v.extend_from_slice(&udp_len.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.resize(v.len() + payload, 0xab);
        v
    } else {
        Vec::new()
    };
    let mut g = gtp.to_vec();
    if gtp[1] == gtpu::MSG_G_PDU {
        let len = (g.len() - gtpu::HEADER_LEN + inner.len()) as u16;
        g[2..4].copy_from_slice(&len.to_be_bytes());
    }
    let udp_len = (8 + g.len() + inner.len()) as u16;
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend_from_slice(&ipv4_header(
        20 + udp_len,
        17,
        [10, 100, 0, 2],
        [10, 100, 0, 1],
    ));
    f.extend_from_slice(&2152u16.to_be_bytes());
    f.extend_from_slice(&2152u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&g);
    f.extend_from_slice(&inner);
    f
}

/// The parsing the XDP program does on an N3 frame before its first map
/// lookup, plus (for a G-PDU) the inner header and ports the PDR match needs.
/// Returns the TEID and the flow (for a G-PDU).
fn parse_n3(buf: &[u8]) -> Result<(u32, Option<Flow>), DropReason> {
    let f = Frame::from_slice(buf);
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    let l2 = unsafe { eth::parse(f) }?;
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    let ip = unsafe { ipv4::parse(l2.l3, f.end) }?;
    let udp = l2.l3 + ip.header_len;
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    let u = unsafe { upf_fastpath::mem::load::<8>(udp, f.end) }.ok_or(DropReason::Truncated)?;
    if u16::from_be_bytes([u[2], u[3]]) != 2152 {
        return Err(DropReason::Truncated);
    }
    let gtp_start = udp + gtpu::UDP_LEN;
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    let hdr = unsafe { gtpu::parse(gtp_start, f.end) }?;
    if hdr.msg_type != gtpu::MSG_G_PDU {
        return Ok((hdr.teid_be, None));
    }
    let inner = gtp_start + hdr.header_len;
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    let iv = unsafe { ipv4::parse(inner, f.end) }.map_err(|_| DropReason::BadInnerHeader)?;
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    let ports = unsafe { pdr::ports(inner, &iv, f.end) };
    let qfi = hdr.container.map_or(pdr::NO_QFI, |c| c.qfi);
    Ok((hdr.teid_be, Some(Flow::new(&iv, ports, qfi, 0))))
}

fn gtpu_header(b: &[u8]) -> gtpu::Gtpu {
    let f = Frame::from_slice(b);
    // SAFETY: f covers `b`.
    // SAFETY: [f.start, f.end) covers `buf`, which outlives the call.
    unsafe { gtpu::parse(f.start, f.end) }.unwrap()
}

fn benches(c: &mut Criterion) {
    let cases: [(&str, &[u8]); 3] = [
        ("gpdu_pdu_session_container", &GTP_CONTAINER),
        ("gpdu_plain", &GTP_PLAIN),
        ("echo_request", &GTP_ECHO),
    ];

    let mut g = c.benchmark_group("gtpu_parse");
    g.throughput(Throughput::Elements(1));
    for (name, gtp) in cases {
        // The GTP-U header and what follows it in a real frame.
        let frame = n3_frame(gtp, 64);
        let at = 14 + 20 + 8;
        let bytes = &frame[at..];
        let h = gtpu_header(bytes);
        assert_eq!(h.msg_type, gtp[1]);
        g.bench_function(name, |b| b.iter(|| gtpu_header(black_box(bytes))));
    }
    g.finish();

    let mut g = c.benchmark_group("n3_frame_parse");
    g.throughput(Throughput::Elements(1));
    for (name, gtp) in cases {
        let frame = n3_frame(gtp, 64);
        let (teid, flow) = parse_n3(&frame).unwrap();
        let want = if gtp[1] == gtpu::MSG_ECHO_REQUEST {
            0
        } else {
            0x1001
        };
        assert_eq!(teid, u32::to_be(want));
        assert_eq!(flow.is_some(), gtp[1] == gtpu::MSG_G_PDU);
        if name == "gpdu_pdu_session_container" {
            assert_eq!(flow.unwrap().qfi, 9);
        }
        g.bench_function(name, |b| b.iter(|| parse_n3(black_box(&frame))));
    }
    g.finish();
}

criterion_group!(parse, benches);
criterion_main!(parse);
