//! Harness of the `gtpu_frame` fuzz target, shared by libFuzzer
//! (`fuzz_targets/gtpu_frame.rs`) and the plain-test smoke
//! (`tests/tests/fuzz_smoke.rs`).
//!
//! The fast path's parsers on any frame, walked as the XDP program walks
//! it: Ethernet (one tag), outer IPv4, UDP, GTP-U with its extension chain
//! and PDU Session Container, the inner IPv4 header and ports, and PDR
//! selection. Every successful parse must stay inside the frame; the TTL
//! decrement must keep the header checksum valid.
use upf_abi::{PdrAction, RuleSet};
use upf_fastpath::mem::{advance, load};
use upf_fastpath::{eth, gtpu, ipv4, pdr, Frame};

fn checksum_ok(h: &[u8]) -> bool {
    let mut sum = 0u32;
    for w in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// One input: panics on a broken invariant.
pub fn run(data: &[u8]) {
    let f = Frame::from_slice(data);
    // Any offset may hold a GTP-U header.
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    if let Ok(h) = unsafe { gtpu::parse(f.start, f.end) } {
        assert!(h.header_len <= data.len(), "GTP-U header past the frame");
    }
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    let Ok(l2) = (unsafe { eth::parse(f) }) else {
        return;
    };
    assert!(l2.l3 == f.start + l2.len && l2.l3 <= f.end);
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    let Ok(ip) = (unsafe { ipv4::parse(l2.l3, f.end) }) else {
        return;
    };
    let ip_off = l2.l3 - f.start;
    assert!(
        ip_off + ip.header_len <= data.len(),
        "IPv4 header past the frame"
    );
    // The TTL decrement on a copy: the checksum stays valid.
    let mut copy = data.to_vec();
    let c = Frame::from_slice(&copy);
    let hdr_ok = checksum_ok(&data[ip_off..ip_off + ip.header_len]);
    // SAFETY: [c.start, c.end) is `copy`, writable, not aliased here.
    if ip.ttl > 1 && unsafe { ipv4::decrement_ttl(c.start + ip_off, c.end) } && hdr_ok {
        let h = &copy[ip_off..ip_off + ip.header_len];
        assert!(checksum_ok(h), "TTL decrement broke the checksum");
        assert_eq!(h[8], ip.ttl - 1);
    }
    copy.clear();
    let udp = advance(l2.l3, ip.header_len);
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    if unsafe { load::<8>(udp, f.end) }.is_none() {
        return;
    }
    let g = advance(udp, gtpu::UDP_LEN);
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    let Ok(h) = (unsafe { gtpu::parse(g, f.end) }) else {
        return;
    };
    assert!(g + h.header_len <= f.end, "GTP-U header past the frame");
    assert!(h.header_len >= gtpu::HEADER_LEN);
    let inner = advance(g, h.header_len);
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    let Ok(iv) = (unsafe { ipv4::parse(inner, f.end) }) else {
        return;
    };
    assert!(inner + iv.header_len <= f.end);
    // SAFETY: the parsers read only inside [start, end), which lies in `data`.
    let ports = unsafe { pdr::ports(inner, &iv, f.end) };
    let qfi = h.container.map_or(pdr::NO_QFI, |c| c.qfi);
    let flow = pdr::Flow::new(&iv, ports, qfi, 0);
    let a = pdr::select(&RuleSet::EMPTY, &flow, &PdrAction::default());
    assert_eq!(a, PdrAction::default(), "no rule: the default action");
}
