//! [`IeValue`] for SDF Filter (§8.2.5).

use super::reader::{put_u24, Reader};
use super::simple::SdfFilter;
use super::types;
use super::{IeError, IeValue};

const FD: u8 = 0x01;
const TTC: u8 = 0x02;
const SPI: u8 = 0x04;
const FL: u8 = 0x08;
const BID: u8 = 0x10;

impl IeValue for SdfFilter {
    const TYPE: u16 = types::SDF_FILTER;
    /// Octet 5: spare(3), BID, FL, SPI, TTC, FD; octet 6 spare; then the
    /// flow description (2-octet length and text), ToS/Traffic Class and mask
    /// (2), SPI (4), flow label (3), SDF filter ID (4), as flagged. A flow
    /// description that is not UTF-8 is incorrect.
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        let _spare = r.u8()?;
        let flow_description = r.opt(flags & FD != 0, |r| {
            let len = usize::from(r.u16()?);
            let text = r.take(len)?;
            core::str::from_utf8(text)
                .map(str::to_owned)
                .map_err(|_| IeError::incorrect(Self::TYPE))
        })?;
        Ok(SdfFilter {
            flow_description,
            tos_traffic_class: r.opt(flags & TTC != 0, Reader::u16)?,
            security_parameter_index: r.opt(flags & SPI != 0, Reader::u32)?,
            flow_label: r.opt(flags & FL != 0, Reader::u24)?,
            sdf_filter_id: r.opt(flags & BID != 0, Reader::u32)?,
        })
    }
    /// A flow description longer than 65535 octets is cut there; the flow
    /// label is cut to 24 bits.
    fn emit_value(&self, out: &mut Vec<u8>) {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        out.push(
            flag(self.flow_description.is_some(), FD)
                | flag(self.tos_traffic_class.is_some(), TTC)
                | flag(self.security_parameter_index.is_some(), SPI)
                | flag(self.flow_label.is_some(), FL)
                | flag(self.sdf_filter_id.is_some(), BID),
        );
        out.push(0);
        if let Some(fd) = &self.flow_description {
            let text = fd.as_bytes();
            let text = text.get(..usize::from(u16::MAX)).unwrap_or(text);
            let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(text);
        }
        if let Some(v) = self.tos_traffic_class {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(v) = self.security_parameter_index {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(v) = self.flow_label {
            put_u24(out, v);
        }
        if let Some(v) = self.sdf_filter_id {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}
