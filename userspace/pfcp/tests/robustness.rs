//! No input makes the codec panic: random octets, and mutations of valid
//! encodings (bit flips, truncation at every length, corrupted length
//! fields, spliced IEs) fed to `Pdu::parse` and to every `IeValue::parse`.
//! Whatever parses must also survive emit → parse unchanged.
//!
//! A small xorshift PRNG with a fixed seed keeps runs reproducible; set
//! `UPF_PFCP_FUZZ_SEED` to explore other seeds.

mod common;

use std::fmt::Debug;

use common::*;
use upf_pfcp::header::{set_length, Header};
use upf_pfcp::ie::{types, IeValue};
use upf_pfcp::Pdu;

/// fastrand, seeded (`UPF_PFCP_FUZZ_SEED` replays another run).
struct Rng(fastrand::Rng);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("UPF_PFCP_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
        Rng(fastrand::Rng::with_seed(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// Uniform in `0..n`, 0 when `n` is 0.
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n.max(1))
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.0.u8(..)).collect()
    }
}

/// IE types whose value is a list of IEs.
fn is_grouped(t: u16) -> bool {
    matches!(t, 1..=18 | 51 | 54 | 77..=80 | 102)
}

/// Offsets of the length fields of every IE in `buf` (recursing into
/// grouped IEs), relative to `base`.
fn length_fields(buf: &[u8], base: usize, out: &mut Vec<usize>) {
    let mut at = 0;
    while buf.len() >= at + 4 {
        let t = u16::from_be_bytes([buf[at], buf[at + 1]]);
        let len = usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]));
        out.push(base + at + 2);
        let Some(value) = buf.get(at + 4..at + 4 + len) else {
            return;
        };
        if is_grouped(t) {
            length_fields(value, base + at + 4, out);
        }
        at += 4 + len;
    }
}

/// Parses a datagram; what parses must re-emit to something that parses to
/// the same value.
fn check_pdu(bytes: &[u8]) -> bool {
    match Pdu::parse(bytes) {
        Ok(pdu) => {
            let again = pdu.to_bytes();
            let reparsed = Pdu::parse(&again).unwrap_or_else(|e| {
                panic!("re-emitted {:02x?} of {:02x?} fails: {e}", again, bytes)
            });
            assert_eq!(reparsed, pdu, "input {bytes:02x?}");
            true
        }
        Err(_) => false,
    }
}

/// Mutations of one valid datagram; returns the number of cases run.
fn mutate_pdu(rng: &mut Rng, seed: &[u8], rounds: usize) -> usize {
    let mut cases = 0;
    // Truncation at every length, with the header length as it was and fixed up.
    for len in 0..=seed.len() {
        let mut b = seed[..len].to_vec();
        check_pdu(&b);
        if b.len() >= 4 {
            set_length(&mut b);
            check_pdu(&b);
        }
        cases += 2;
    }
    // Every IE length field set to boundary and random values.
    let body_at = Header::parse(seed).map(|(h, _)| h.len()).unwrap();
    let mut fields = Vec::new();
    length_fields(&seed[body_at..], body_at, &mut fields);
    for &at in &fields {
        let orig = u16::from_be_bytes([seed[at], seed[at + 1]]);
        for v in [
            0,
            1,
            2,
            orig.wrapping_sub(1),
            orig.wrapping_add(1),
            orig / 2,
            0xffff,
            rng.next() as u16,
        ] {
            let mut b = seed.to_vec();
            b[at..at + 2].copy_from_slice(&v.to_be_bytes());
            check_pdu(&b);
            cases += 1;
        }
    }
    // Random bit flips, octet overwrites, and splices.
    for _ in 0..rounds {
        let mut b = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 => {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                1 => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                2 => {
                    // Duplicate or drop a slice of the body.
                    let i = body_at + rng.below(b.len() - body_at);
                    let n = rng.below(16).min(b.len() - i);
                    if rng.below(2) == 0 {
                        let dup = b[i..i + n].to_vec();
                        b.splice(i..i, dup);
                    } else {
                        b.drain(i..i + n);
                    }
                    set_length(&mut b);
                }
                _ => {
                    let i = body_at + rng.below(b.len() - body_at);
                    let n = 1 + rng.below(8);
                    let junk = rng.bytes(n);
                    b.splice(i..i, junk);
                    set_length(&mut b);
                }
            }
        }
        check_pdu(&b);
        cases += 1;
    }
    cases
}

#[test]
fn pdu_parse_never_panics() {
    let mut rng = Rng::new();
    let mut cases = 0;
    let mut seeds: Vec<Vec<u8>> = all_messages(true).iter().map(Pdu::to_bytes).collect();
    for hex in [
        include_str!("fixtures/heartbeat_request.hex"),
        include_str!("fixtures/association_setup_request.hex"),
        include_str!("fixtures/session_establishment_request.hex"),
        include_str!("fixtures/session_modification_request.hex"),
        include_str!("fixtures/session_deletion_response.hex"),
        include_str!("fixtures/vendor_specific.hex"),
    ] {
        let hex = hex.trim();
        seeds.push(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect(),
        );
    }
    for seed in &seeds {
        assert!(check_pdu(seed));
        cases += mutate_pdu(&mut rng, seed, 5_000);
    }
    // Pure noise, with a plausible header half of the time.
    for _ in 0..20_000 {
        let n = rng.below(64);
        let mut b = rng.bytes(n);
        if n >= 16 && rng.below(2) == 0 {
            b[0] = 0x20 | (b[0] & 0x07);
            set_length(&mut b);
        }
        check_pdu(&b);
        cases += 1;
    }
    eprintln!("{cases} datagrams");
    assert!(cases > 100_000, "{cases}");
}

/// Feeds mutations of each sample's value to its type's parser.
struct IeFuzz {
    rng: Rng,
    cases: usize,
}

impl IeFuzz {
    fn check<T: IeValue + PartialEq + Debug>(value: &[u8]) {
        if let Ok(v) = T::parse(value) {
            let mut again = Vec::new();
            v.emit_value(&mut again);
            let reparsed = T::parse(&again).unwrap_or_else(|e| {
                panic!(
                    "{}: re-emitted {again:02x?} fails: {e}",
                    types::name(T::TYPE)
                )
            });
            assert_eq!(reparsed, v, "{} from {value:02x?}", types::name(T::TYPE));
        }
    }
}

impl IeVisitor for IeFuzz {
    fn visit<T: IeValue + PartialEq + Debug + Clone>(&mut self, sample: T) {
        let mut value = Vec::new();
        sample.emit_value(&mut value);
        for len in 0..=value.len() {
            Self::check::<T>(&value[..len]);
            self.cases += 1;
        }
        for _ in 0..1_000 {
            let mut b = value.clone();
            match self.rng.below(4) {
                0 if !b.is_empty() => {
                    let i = self.rng.below(b.len());
                    b[i] ^= 1 << self.rng.below(8);
                }
                1 if !b.is_empty() => {
                    // Flags octet and whatever follows.
                    b[0] = self.rng.next() as u8;
                    b.truncate(self.rng.below(b.len() + 1));
                }
                2 => {
                    let n = self.rng.below(40);
                    b = self.rng.bytes(n);
                }
                _ => {
                    let n = self.rng.below(8);
                    let extra = self.rng.bytes(n);
                    b.extend_from_slice(&extra);
                }
            }
            Self::check::<T>(&b);
            self.cases += 1;
        }
    }
}

#[test]
fn ie_parse_never_panics() {
    let mut fuzz = IeFuzz {
        rng: Rng::new(),
        cases: 0,
    };
    visit_ie_samples(&mut fuzz);
    eprintln!("{} IE values", fuzz.cases);
    assert!(fuzz.cases > 100_000, "{}", fuzz.cases);
}

#[test]
fn header_parse_never_panics() {
    let mut rng = Rng::new();
    for _ in 0..20_000 {
        let n = rng.below(24);
        let b = rng.bytes(n);
        let _ = Header::parse(&b);
        let _ = Header::message_len(&b);
    }
}
