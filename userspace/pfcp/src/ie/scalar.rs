//! [`IeValue`] for the IEs that are one integer, one flag octet or an octet
//! string. Extra octets after the field are ignored (later releases may
//! append fields); a value too short is `INVALID_LENGTH`.

use super::reader::Reader;
use super::simple::*;
use super::types;
use super::{IeError, IeValue};

/// A newtype over an unsigned integer written big-endian in full.
macro_rules! int_ie {
    ($($name:ident: $int:ident = $ie:ident;)*) => {$(
        impl IeValue for $name {
            const TYPE: u16 = types::$ie;
            fn parse(value: &[u8]) -> Result<Self, IeError> {
                Reader::new(Self::TYPE, value).$int().map($name)
            }
            fn emit_value(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0.to_be_bytes());
            }
        }
    )*};
}

int_ie! {
    RecoveryTimeStamp: u32 = RECOVERY_TIME_STAMP;
    Precedence: u32 = PRECEDENCE;
    TimeThreshold: u32 = TIME_THRESHOLD;
    TimeQuota: u32 = TIME_QUOTA;
    MeasurementPeriod: u32 = MEASUREMENT_PERIOD;
    DurationMeasurement: u32 = DURATION_MEASUREMENT;
    StartTime: u32 = START_TIME;
    EndTime: u32 = END_TIME;
    TimeOfFirstPacket: u32 = TIME_OF_FIRST_PACKET;
    TimeOfLastPacket: u32 = TIME_OF_LAST_PACKET;
    UrSeqn: u32 = UR_SEQN;
    OffendingIe: u16 = OFFENDING_IE;
    PdrId: u16 = PDR_ID;
    FarId: u32 = FAR_ID;
    QerId: u32 = QER_ID;
    UrrId: u32 = URR_ID;
    QerCorrelationId: u32 = QER_CORRELATION_ID;
    BarId: u8 = BAR_ID;
    PfcpsmReqFlags: u8 = PFCPSMREQ_FLAGS;
    ReportType: u8 = REPORT_TYPE;
    NodeReportType: u8 = NODE_REPORT_TYPE;
    SequenceNumber: u32 = SEQUENCE_NUMBER;
    Metric: u8 = METRIC;
    Timer: u8 = TIMER;
    OciFlags: u8 = OCI_FLAGS;
}

fn at_least(value: &[u8], min: usize) -> bool {
    value.len() >= min
}

/// A newtype over the value octets, kept as sent; `min` octets at least.
macro_rules! octets_ie {
    ($($name:ident = $ie:ident, min $min:expr;)*) => {$(
        impl IeValue for $name {
            const TYPE: u16 = types::$ie;
            fn parse(value: &[u8]) -> Result<Self, IeError> {
                if !at_least(value, $min) {
                    return Err(IeError::length(Self::TYPE));
                }
                Ok($name(value.to_vec()))
            }
            fn emit_value(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
        }
    )*};
}

octets_ie! {
    NetworkInstance = NETWORK_INSTANCE, min 0;
    ApplicationId = APPLICATION_ID, min 1;
    ActivatePredefinedRules = ACTIVATE_PREDEFINED_RULES, min 1;
    DeactivatePredefinedRules = DEACTIVATE_PREDEFINED_RULES, min 1;
    // Octets 5-6 since Rel-15 (Figure 8.2.25-1).
    UpFunctionFeatures = UP_FUNCTION_FEATURES, min 2;
    CpFunctionFeatures = CP_FUNCTION_FEATURES, min 1;
}

/// A newtype over the low bits of one octet (spare bits ignored and zeroed).
macro_rules! masked_ie {
    ($($name:ident = $ie:ident, mask $mask:expr;)*) => {$(
        impl IeValue for $name {
            const TYPE: u16 = types::$ie;
            fn parse(value: &[u8]) -> Result<Self, IeError> {
                Ok($name(Reader::new(Self::TYPE, value).u8()? & $mask))
            }
            fn emit_value(&self, out: &mut Vec<u8>) {
                out.push(self.0 & $mask);
            }
        }
    )*};
}

masked_ie! {
    SourceInterface = SOURCE_INTERFACE, mask 0x0f;
    DestinationInterface = DESTINATION_INTERFACE, mask 0x0f;
    InterfaceType = THREE_GPP_INTERFACE_TYPE, mask 0x3f;
    PdnType = PDN_TYPE, mask 0x07;
}

impl IeValue for CauseIe {
    const TYPE: u16 = types::CAUSE;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        Ok(CauseIe(crate::Cause(Reader::new(Self::TYPE, value).u8()?)))
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push(self.0 .0);
    }
}

impl IeValue for Qfi {
    const TYPE: u16 = types::QFI;
    /// QFI is 6 bits; an octet above 63 is refused as incorrect rather than
    /// masked, so a peer's encoding error is not silently turned into another
    /// flow.
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let qfi = Reader::new(Self::TYPE, value).u8()?;
        if qfi > 63 {
            return Err(IeError::incorrect(Self::TYPE));
        }
        Ok(Qfi(qfi))
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push(self.0 & 0x3f);
    }
}

impl IeValue for Rqi {
    const TYPE: u16 = types::RQI;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        Ok(Rqi(Reader::new(Self::TYPE, value).u8()? & 0x01 != 0))
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.0));
    }
}

impl IeValue for GateStatus {
    const TYPE: u16 = types::GATE_STATUS;
    /// Octet 5: spare(4), UL gate (bits 4-3), DL gate (bits 2-1).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let b = Reader::new(Self::TYPE, value).u8()?;
        Ok(GateStatus {
            ul: (b >> 2) & 0x03,
            dl: b & 0x03,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push(((self.ul & 0x03) << 2) | (self.dl & 0x03));
    }
}

impl IeValue for ApplyAction {
    const TYPE: u16 = types::APPLY_ACTION;
    /// One octet (Rel-15) or two (Rel-16 on).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let low = r.u8()?;
        let high = r.opt(r.remaining() > 0, Reader::u8)?.unwrap_or(0);
        Ok(ApplyAction(u16::from_le_bytes([low, high])))
    }
    /// Emits the second octet only when a bit in it is set.
    fn emit_value(&self, out: &mut Vec<u8>) {
        let [low, high] = self.0.to_le_bytes();
        out.push(low);
        if high != 0 {
            out.push(high);
        }
    }
}

impl IeValue for OuterHeaderRemoval {
    const TYPE: u16 = types::OUTER_HEADER_REMOVAL;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let description = r.u8()?;
        let ext_header_deletion = r.opt(r.remaining() > 0, Reader::u8)?;
        Ok(OuterHeaderRemoval {
            description,
            ext_header_deletion,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push(self.description);
        if let Some(d) = self.ext_header_deletion {
            out.push(d);
        }
    }
}

impl IeValue for FailedRuleId {
    const TYPE: u16 = types::FAILED_RULE_ID;
    /// Octet 5: spare(3), rule ID type(5); then the ID: 2 octets for a PDR,
    /// 4 for a FAR, QER or URR, 1 for a BAR. Other rule types are incorrect.
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let rule_type = r.u8()? & 0x1f;
        let id = match rule_type {
            FailedRuleId::PDR => u32::from(r.u16()?),
            FailedRuleId::FAR | FailedRuleId::QER | FailedRuleId::URR => r.u32()?,
            FailedRuleId::BAR => u32::from(r.u8()?),
            _ => return Err(IeError::incorrect(Self::TYPE)),
        };
        Ok(FailedRuleId { rule_type, id })
    }
    /// The ID is truncated to the width of its rule type.
    fn emit_value(&self, out: &mut Vec<u8>) {
        let rule_type = self.rule_type & 0x1f;
        out.push(rule_type);
        let id = self.id.to_be_bytes();
        match rule_type {
            FailedRuleId::PDR => out.extend_from_slice(&id[2..]),
            FailedRuleId::BAR => out.push(id[3]),
            _ => out.extend_from_slice(&id),
        }
    }
}
