//! Every IE and every message: build fully populated, emit, parse, compare;
//! and emit → parse → emit gives the same octets.

mod common;

use std::fmt::Debug;

use common::*;
use upf_pfcp::ie::{IeIter, IeValue, UsageReport, UsageReportIn};
use upf_pfcp::Pdu;

struct RoundTrip {
    count: usize,
}

impl IeVisitor for RoundTrip {
    fn visit<T: IeValue + PartialEq + Debug + Clone>(&mut self, sample: T) {
        let mut framed = Vec::new();
        sample.emit(&mut framed);
        let ie = IeIter::new(&framed)
            .next()
            .expect("one IE")
            .unwrap_or_else(|e| panic!("framing of {sample:?}: {e}"));
        assert_eq!(ie.ie_type, T::TYPE);
        assert_eq!(
            usize::from(u16::from_be_bytes([framed[2], framed[3]])) + 4,
            framed.len()
        );
        let parsed: T = ie
            .parse()
            .unwrap_or_else(|e| panic!("parse of {sample:?} ({framed:02x?}): {e}"));
        assert_eq!(parsed, sample, "value round trip, octets {framed:02x?}");
        let mut again = Vec::new();
        parsed.emit(&mut again);
        assert_eq!(again, framed, "octet round trip of {sample:?}");
        self.count += 1;
    }
}

#[test]
fn every_ie_round_trips() {
    let mut v = RoundTrip { count: 0 };
    visit_ie_samples(&mut v);
    assert!(v.count > 100, "{} samples", v.count);
}

#[test]
fn usage_report_round_trips_with_each_type() {
    for (within, ty) in [
        (UsageReportIn::Modification, 78),
        (UsageReportIn::Deletion, 79),
        (UsageReportIn::Report, 80),
    ] {
        let report = usage_report(7);
        let mut out = Vec::new();
        report.emit(within, &mut out);
        let ie = IeIter::new(&out).next().unwrap().unwrap();
        assert_eq!(ie.ie_type, ty);
        let parsed = UsageReport::parse(ie.value).unwrap();
        assert_eq!(parsed, report);
        let mut again = Vec::new();
        parsed.emit(within, &mut again);
        assert_eq!(again, out);
    }
}

#[test]
fn every_message_round_trips() {
    let all = all_messages(true);
    assert_eq!(all.len(), 21);
    for pdu in all {
        let bytes = pdu.to_bytes();
        let parsed = Pdu::parse(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", pdu.message.message_type().name()));
        assert_eq!(parsed, pdu);
        assert_eq!(
            parsed.to_bytes(),
            bytes,
            "{}",
            pdu.message.message_type().name()
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[2], bytes[3]])) + 4,
            bytes.len()
        );
    }
}

#[test]
fn over_range_bitrate_saturates_on_emit() {
    use upf_pfcp::ie::{Bitrate, Mbr};
    let mut out = Vec::new();
    Mbr(Bitrate {
        ul: u64::MAX,
        dl: 1 << 40,
    })
    .emit_value(&mut out);
    assert_eq!(out, [0xff; 10]);
    assert_eq!(
        Mbr::parse(&out).unwrap(),
        Mbr(Bitrate {
            ul: (1 << 40) - 1,
            dl: (1 << 40) - 1
        })
    );
}
