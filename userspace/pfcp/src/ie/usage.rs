//! [`IeValue`] for the usage and QoS IEs: volumes (threshold, quota,
//! measurement), bit rates, reporting and usage report triggers, the
//! measurement method.

use super::reader::{put_u40, Reader};
use super::simple::*;
use super::types;
use super::{IeError, IeValue};

const TOVOL: u8 = 0x01;
const ULVOL: u8 = 0x02;
const DLVOL: u8 = 0x04;
const TONOP: u8 = 0x08;
const ULNOP: u8 = 0x10;
const DLNOP: u8 = 0x20;

impl Volume {
    /// Octet 5: spare(5), DLVOL, ULVOL, TOVOL; then the 8-octet total,
    /// uplink and downlink volumes the flags announce, in that order.
    fn parse(ie_type: u16, value: &[u8]) -> Result<Volume, IeError> {
        let mut r = Reader::new(ie_type, value);
        let flags = r.u8()?;
        Ok(Volume {
            total: r.opt(flags & TOVOL != 0, Reader::u64)?,
            uplink: r.opt(flags & ULVOL != 0, Reader::u64)?,
            downlink: r.opt(flags & DLVOL != 0, Reader::u64)?,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        for (v, bit) in [
            (self.total, TOVOL),
            (self.uplink, ULVOL),
            (self.downlink, DLVOL),
        ] {
            if v.is_some() {
                flags |= bit;
            }
        }
        out.push(flags);
        for v in [self.total, self.uplink, self.downlink]
            .into_iter()
            .flatten()
        {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

impl IeValue for VolumeThreshold {
    const TYPE: u16 = types::VOLUME_THRESHOLD;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        Volume::parse(Self::TYPE, value).map(VolumeThreshold)
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.0.emit(out);
    }
}

impl IeValue for VolumeQuota {
    const TYPE: u16 = types::VOLUME_QUOTA;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        Volume::parse(Self::TYPE, value).map(VolumeQuota)
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.0.emit(out);
    }
}

impl IeValue for VolumeMeasurement {
    const TYPE: u16 = types::VOLUME_MEASUREMENT;
    /// Octet 5: spare(2), DLNOP, ULNOP, TONOP, DLVOL, ULVOL, TOVOL; then the
    /// announced 8-octet counters: volumes (total, uplink, downlink), then
    /// packets (total, uplink, downlink).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        Ok(VolumeMeasurement {
            total_volume: r.opt(flags & TOVOL != 0, Reader::u64)?,
            uplink_volume: r.opt(flags & ULVOL != 0, Reader::u64)?,
            downlink_volume: r.opt(flags & DLVOL != 0, Reader::u64)?,
            total_packets: r.opt(flags & TONOP != 0, Reader::u64)?,
            uplink_packets: r.opt(flags & ULNOP != 0, Reader::u64)?,
            downlink_packets: r.opt(flags & DLNOP != 0, Reader::u64)?,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        let fields = [
            (self.total_volume, TOVOL),
            (self.uplink_volume, ULVOL),
            (self.downlink_volume, DLVOL),
            (self.total_packets, TONOP),
            (self.uplink_packets, ULNOP),
            (self.downlink_packets, DLNOP),
        ];
        let flags = fields
            .iter()
            .filter(|(v, _)| v.is_some())
            .fold(0, |f, (_, bit)| f | bit);
        out.push(flags);
        for (v, _) in fields {
            if let Some(v) = v {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
}

impl Bitrate {
    /// Uplink then downlink, 5 octets each (kbit/s).
    fn parse(ie_type: u16, value: &[u8]) -> Result<Bitrate, IeError> {
        let mut r = Reader::new(ie_type, value);
        Ok(Bitrate {
            ul: r.u40()?,
            dl: r.u40()?,
        })
    }

    /// Rates above 2^40 - 1 kbit/s are written as 2^40 - 1.
    fn emit(&self, out: &mut Vec<u8>) {
        put_u40(out, self.ul);
        put_u40(out, self.dl);
    }
}

impl IeValue for Mbr {
    const TYPE: u16 = types::MBR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        Bitrate::parse(Self::TYPE, value).map(Mbr)
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.0.emit(out);
    }
}

impl IeValue for Gbr {
    const TYPE: u16 = types::GBR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        Bitrate::parse(Self::TYPE, value).map(Gbr)
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.0.emit(out);
    }
}

/// Two trigger octets, and a third when present (later octets ignored).
fn parse_triggers(ie_type: u16, value: &[u8]) -> Result<u32, IeError> {
    let mut r = Reader::new(ie_type, value);
    let a = r.u8()?;
    let b = r.u8()?;
    let c = r.opt(r.remaining() > 0, Reader::u8)?.unwrap_or(0);
    Ok(u32::from_le_bytes([a, b, c, 0]))
}

/// Two octets, three when a bit of the third is set.
fn emit_triggers(bits: u32, out: &mut Vec<u8>) {
    let [a, b, c, _] = bits.to_le_bytes();
    out.extend_from_slice(&[a, b]);
    if c != 0 {
        out.push(c);
    }
}

impl IeValue for ReportingTriggers {
    const TYPE: u16 = types::REPORTING_TRIGGERS;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        parse_triggers(Self::TYPE, value).map(ReportingTriggers)
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        emit_triggers(self.0, out);
    }
}

impl IeValue for UsageReportTrigger {
    const TYPE: u16 = types::USAGE_REPORT_TRIGGER;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        parse_triggers(Self::TYPE, value).map(UsageReportTrigger)
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        emit_triggers(self.0, out);
    }
}

impl IeValue for MeasurementMethod {
    const TYPE: u16 = types::MEASUREMENT_METHOD;
    /// Octet 5: spare(5), EVENT, VOLUM, DURAT.
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let b = Reader::new(Self::TYPE, value).u8()?;
        Ok(MeasurementMethod {
            duration: b & 0x01 != 0,
            volume: b & 0x02 != 0,
            event: b & 0x04 != 0,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.duration) | (u8::from(self.volume) << 1) | (u8::from(self.event) << 2),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: &VolumeMeasurement) -> Vec<u8> {
        let mut out = Vec::new();
        v.emit_value(&mut out);
        out
    }

    /// §8.2.44: octet 5 is spare(2) DLNOP ULNOP TONOP DLVOL ULVOL TOVOL; the
    /// 8-octet fields follow in flag order, volumes before packet counts.
    #[test]
    fn volume_measurement_packet_counts_on_the_wire() {
        let packets_only = VolumeMeasurement {
            total_packets: Some(3),
            uplink_packets: Some(1),
            downlink_packets: Some(2),
            ..VolumeMeasurement::default()
        };
        let mut want = vec![TONOP | ULNOP | DLNOP];
        for n in [3u64, 1, 2] {
            want.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(want[0], 0x38);
        assert_eq!(value(&packets_only), want);
        assert_eq!(VolumeMeasurement::parse(&want), Ok(packets_only));

        let mixed = VolumeMeasurement {
            uplink_volume: Some(1000),
            downlink_packets: Some(7),
            ..VolumeMeasurement::default()
        };
        let mut want = vec![0x22];
        want.extend_from_slice(&1000u64.to_be_bytes());
        want.extend_from_slice(&7u64.to_be_bytes());
        assert_eq!(value(&mixed), want);
        assert_eq!(VolumeMeasurement::parse(&want), Ok(mixed));

        // A flag whose counter is missing is an error, not a zero.
        assert!(VolumeMeasurement::parse(&[TONOP]).is_err());
        assert!(VolumeMeasurement::parse(&want[..want.len() - 1]).is_err());
    }
}
