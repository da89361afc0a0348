//! Criterion benches of the PFCP codec: parse (both steps, as the node
//! does) and emit of the messages an SMF sends most — a 5G Session
//! Establishment Request (3 PDRs, 2 FARs, QER, URR), a 4G one (2 PDRs),
//! a handover Session Modification Request and a Heartbeat Request.
//!
//! Run: `cargo bench -p upf-pfcp --bench codec`.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use upf_pfcp::Pdu;

fn samples() -> Vec<(&'static str, Pdu)> {
    use common::*;
    vec![
        (
            "establishment_5g",
            establishment_pdu(establishment_5g(0x1001), 1),
        ),
        (
            "establishment_4g",
            establishment_pdu(
                establishment_4g(0x1002, 0x100, std::net::Ipv4Addr::new(10, 45, 0, 2)),
                2,
            ),
        ),
        (
            "modification_handover",
            session_pdu(
                upf_pfcp::MsgType::SESSION_MODIFICATION_REQUEST,
                0x42,
                3,
                upf_pfcp::Message::SessionModificationRequest(handover(0xd00d)),
            ),
        ),
        ("heartbeat", heartbeat_pdu(4)),
    ]
}

fn benches(c: &mut Criterion) {
    let samples = samples();

    let mut g = c.benchmark_group("pfcp_parse");
    for (name, pdu) in &samples {
        let bytes = pdu.to_bytes();
        assert_eq!(&Pdu::parse(&bytes).unwrap(), pdu, "{name} round-trips");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(*name, |b| b.iter(|| Pdu::parse(black_box(&bytes))));
    }
    g.finish();

    let mut g = c.benchmark_group("pfcp_emit");
    for (name, pdu) in &samples {
        let len = pdu.to_bytes().len();
        g.throughput(Throughput::Bytes(len as u64));
        // Into a reused buffer: the cost of encoding, not of allocating it.
        let mut out = Vec::with_capacity(1500);
        g.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                black_box(pdu).emit(&mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
