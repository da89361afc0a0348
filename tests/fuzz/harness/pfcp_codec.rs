//! Harness of the `pfcp_codec` fuzz target, shared by libFuzzer
//! (`fuzz_targets/pfcp_codec.rs`) and the plain-test smoke
//! (`tests/tests/fuzz_smoke.rs`).
//!
//! The PFCP codec on any datagram: parsing never panics or allocates
//! without bound, and whatever parses is emitted stably (parse, emit, parse
//! again, emit again: the same octets; unknown IEs are kept).
use upf_pfcp::{Header, Pdu};

/// One input: panics on a broken invariant.
pub fn run(data: &[u8]) {
    let _ = Header::parse(data);
    let Ok(p) = Pdu::parse(data) else {
        return;
    };
    let once = p.to_bytes();
    let again = Pdu::parse(&once)
        .unwrap_or_else(|e| panic!("our own emission does not parse ({e}): {once:02x?}"));
    assert_eq!(again.to_bytes(), once, "emission is not stable");
}
