//! [`IeValue`] for the IEs that carry node or tunnel addresses: Node ID,
//! F-SEID, F-TEID, UE IP Address, Outer Header Creation, User Plane IP
//! Resource Information, Remote GTP-U Peer. Their flags say which fields
//! follow; a flag whose field is cut short is `INVALID_LENGTH`.

use super::reader::{put_u24, Reader};
use super::simple::*;
use super::types;
use super::{IeError, IeValue};

impl IeValue for NodeId {
    const TYPE: u16 = types::NODE_ID;
    /// Octet 5: spare(4), type(4): 0 IPv4, 1 IPv6, 2 FQDN (DNS labels,
    /// RFC 1035 §3.1, without a trailing root label; one is tolerated).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        match r.u8()? & 0x0f {
            0 => Ok(NodeId::Ipv4(r.ipv4()?)),
            1 => Ok(NodeId::Ipv6(r.ipv6()?)),
            2 => parse_fqdn(r.rest())
                .map(NodeId::Fqdn)
                .ok_or(IeError::incorrect(Self::TYPE)),
            _ => Err(IeError::incorrect(Self::TYPE)),
        }
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        match self {
            NodeId::Ipv4(a) => {
                out.push(0);
                out.extend_from_slice(&a.octets());
            }
            NodeId::Ipv6(a) => {
                out.push(1);
                out.extend_from_slice(&a.octets());
            }
            NodeId::Fqdn(name) => {
                out.push(2);
                emit_fqdn(name, out);
            }
        }
    }
}

/// Decodes DNS labels into dotted form; `None` if a label overruns the
/// value, is longer than 63 octets, is not UTF-8 or contains a dot, or if
/// there is no label at all.
fn parse_fqdn(mut rest: &[u8]) -> Option<String> {
    let mut name = String::new();
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if len == 0 {
            // The root label may end the name, nothing may follow it.
            if tail.is_empty() {
                break;
            }
            return None;
        }
        if len > 63 || tail.len() < len {
            return None;
        }
        let (label, after) = tail.split_at(len);
        let label = core::str::from_utf8(label).ok()?;
        if label.contains('.') {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(label);
        rest = after;
    }
    (!name.is_empty()).then_some(name)
}

/// Encodes a dotted name as DNS labels (empty labels skipped, labels cut at
/// 63 octets).
fn emit_fqdn(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = label.as_bytes();
        let bytes = bytes.get(..63).unwrap_or(bytes);
        // At most 63, fits an octet.
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
}

impl IeValue for Fseid {
    const TYPE: u16 = types::F_SEID;
    /// Octet 5: spare(6), V4 (bit 2), V6 (bit 1); SEID; IPv4; IPv6.
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        let seid = r.u64()?;
        let ipv4 = r.opt(flags & 0x02 != 0, Reader::ipv4)?;
        let ipv6 = r.opt(flags & 0x01 != 0, Reader::ipv6)?;
        Ok(Fseid { seid, ipv4, ipv6 })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        let flags = (u8::from(self.ipv4.is_some()) << 1) | u8::from(self.ipv6.is_some());
        out.push(flags);
        out.extend_from_slice(&self.seid.to_be_bytes());
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
    }
}

const FTEID_V4: u8 = 0x01;
const FTEID_V6: u8 = 0x02;
const FTEID_CH: u8 = 0x04;
const FTEID_CHID: u8 = 0x08;

impl IeValue for FTeid {
    const TYPE: u16 = types::F_TEID;
    /// Octet 5: spare(4), CHID, CH, V6, V4. Without CH: TEID, then IPv4 (V4)
    /// and IPv6 (V6). With CH the TEID and addresses are absent and V4/V6
    /// say which address families are wanted. Then the CHOOSE ID (CHID).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        let v4 = flags & FTEID_V4 != 0;
        let v6 = flags & FTEID_V6 != 0;
        let choose = flags & FTEID_CH != 0;
        let (teid, ipv4, ipv6) = if choose {
            (None, None, None)
        } else {
            (
                Some(r.u32()?),
                r.opt(v4, Reader::ipv4)?,
                r.opt(v6, Reader::ipv6)?,
            )
        };
        let choose_id = r.opt(flags & FTEID_CHID != 0, Reader::u8)?;
        Ok(FTeid {
            teid,
            ipv4,
            ipv6,
            choose,
            choose_v4: choose && v4,
            choose_v6: choose && v6,
            choose_id,
        })
    }
    /// With `choose`, the flags come from `choose_v4`/`choose_v6` and the
    /// TEID and addresses are not written; without, a missing TEID is
    /// written as 0.
    fn emit_value(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.choose_id.is_some() {
            flags |= FTEID_CHID;
        }
        if self.choose {
            flags |= FTEID_CH;
            if self.choose_v4 {
                flags |= FTEID_V4;
            }
            if self.choose_v6 {
                flags |= FTEID_V6;
            }
            out.push(flags);
        } else {
            if self.ipv4.is_some() {
                flags |= FTEID_V4;
            }
            if self.ipv6.is_some() {
                flags |= FTEID_V6;
            }
            out.push(flags);
            out.extend_from_slice(&self.teid.unwrap_or(0).to_be_bytes());
            if let Some(a) = self.ipv4 {
                out.extend_from_slice(&a.octets());
            }
            if let Some(a) = self.ipv6 {
                out.extend_from_slice(&a.octets());
            }
        }
        if let Some(id) = self.choose_id {
            out.push(id);
        }
    }
}

const UEIP_V6: u8 = 0x01;
const UEIP_V4: u8 = 0x02;
const UEIP_SD: u8 = 0x04;
const UEIP_IPV6D: u8 = 0x08;
const UEIP_CHV4: u8 = 0x10;
const UEIP_CHV6: u8 = 0x20;
const UEIP_IP6PL: u8 = 0x40;

impl IeValue for UeIpAddress {
    const TYPE: u16 = types::UE_IP_ADDRESS;
    /// Octet 5: spare, IP6PL, CHV6, CHV4, IPv6D, S/D, V4, V6; then IPv4 (V4),
    /// IPv6 (V6), prefix delegation bits (IPv6D), prefix length (IP6PL).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        let ipv4 = r.opt(flags & UEIP_V4 != 0, Reader::ipv4)?;
        let ipv6 = r.opt(flags & UEIP_V6 != 0, Reader::ipv6)?;
        let ipv6_prefix_delegation_bits = r.opt(flags & UEIP_IPV6D != 0, Reader::u8)?;
        let ipv6_prefix_length = r.opt(flags & UEIP_IP6PL != 0, Reader::u8)?;
        Ok(UeIpAddress {
            ipv4,
            ipv6,
            destination: flags & UEIP_SD != 0,
            choose_v4: flags & UEIP_CHV4 != 0,
            choose_v6: flags & UEIP_CHV6 != 0,
            ipv6_prefix_delegation_bits,
            ipv6_prefix_length,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        out.push(
            flag(self.ipv6.is_some(), UEIP_V6)
                | flag(self.ipv4.is_some(), UEIP_V4)
                | flag(self.destination, UEIP_SD)
                | flag(self.ipv6_prefix_delegation_bits.is_some(), UEIP_IPV6D)
                | flag(self.choose_v4, UEIP_CHV4)
                | flag(self.choose_v6, UEIP_CHV6)
                | flag(self.ipv6_prefix_length.is_some(), UEIP_IP6PL),
        );
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
        out.extend(self.ipv6_prefix_delegation_bits);
        out.extend(self.ipv6_prefix_length);
    }
}

impl OuterHeaderCreation {
    fn has(&self, bits: u16) -> bool {
        self.description & bits != 0
    }

    fn wants_teid(&self) -> bool {
        self.has(Self::GTPU_UDP_IPV4 | Self::GTPU_UDP_IPV6)
    }

    fn wants_ipv4(&self) -> bool {
        self.has(Self::GTPU_UDP_IPV4 | Self::UDP_IPV4 | Self::IPV4)
    }

    fn wants_ipv6(&self) -> bool {
        self.has(Self::GTPU_UDP_IPV6 | Self::UDP_IPV6 | Self::IPV6)
    }

    fn wants_port(&self) -> bool {
        self.has(Self::UDP_IPV4 | Self::UDP_IPV6)
    }
}

impl IeValue for OuterHeaderCreation {
    const TYPE: u16 = types::OUTER_HEADER_CREATION;
    /// Octets 5-6: description; then TEID (GTP-U), IPv4, IPv6, port (UDP),
    /// C-TAG, S-TAG, each present as the description says (§8.2.56).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let mut ohc = OuterHeaderCreation {
            description: r.u16()?,
            ..Default::default()
        };
        ohc.teid = r.opt(ohc.wants_teid(), Reader::u32)?;
        ohc.ipv4 = r.opt(ohc.wants_ipv4(), Reader::ipv4)?;
        ohc.ipv6 = r.opt(ohc.wants_ipv6(), Reader::ipv6)?;
        ohc.port = r.opt(ohc.wants_port(), Reader::u16)?;
        ohc.c_tag = r.opt(ohc.has(Self::C_TAG), Reader::u24)?;
        ohc.s_tag = r.opt(ohc.has(Self::S_TAG), Reader::u24)?;
        Ok(ohc)
    }
    /// Writes the fields the description asks for (a missing one as zeros)
    /// and no others.
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.description.to_be_bytes());
        if self.wants_teid() {
            out.extend_from_slice(&self.teid.unwrap_or(0).to_be_bytes());
        }
        if self.wants_ipv4() {
            out.extend_from_slice(
                &self
                    .ipv4
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)
                    .octets(),
            );
        }
        if self.wants_ipv6() {
            out.extend_from_slice(
                &self
                    .ipv6
                    .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)
                    .octets(),
            );
        }
        if self.wants_port() {
            out.extend_from_slice(&self.port.unwrap_or(0).to_be_bytes());
        }
        if self.has(Self::C_TAG) {
            put_u24(out, self.c_tag.unwrap_or(0));
        }
        if self.has(Self::S_TAG) {
            put_u24(out, self.s_tag.unwrap_or(0));
        }
    }
}

const UPIP_V4: u8 = 0x01;
const UPIP_V6: u8 = 0x02;
const UPIP_ASSONI: u8 = 0x20;
const UPIP_ASSOSI: u8 = 0x40;

impl IeValue for UserPlaneIpResourceInformation {
    const TYPE: u16 = types::USER_PLANE_IP_RESOURCE_INFORMATION;
    /// Octet 5: spare, ASSOSI, ASSONI, TEIDRI (3 bits), V6, V4; then the TEID
    /// range (TEIDRI ≠ 0), IPv4, IPv6, the network instance (ASSONI: up to
    /// the source interface octet or the end) and the source interface
    /// (ASSOSI: the last octet).
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        let teidri = (flags >> 2) & 0x07;
        let teid_range = r.opt(teidri != 0, |r| Ok((teidri, r.u8()?)))?;
        let ipv4 = r.opt(flags & UPIP_V4 != 0, Reader::ipv4)?;
        let ipv6 = r.opt(flags & UPIP_V6 != 0, Reader::ipv6)?;
        let assosi = flags & UPIP_ASSOSI != 0;
        let rest = r.rest();
        let (ni, si) = if assosi {
            match rest.split_last() {
                Some((&si, ni)) => (ni, Some(si & 0x0f)),
                None => return Err(IeError::length(Self::TYPE)),
            }
        } else {
            (rest, None)
        };
        let network_instance = (flags & UPIP_ASSONI != 0).then(|| ni.to_vec());
        Ok(UserPlaneIpResourceInformation {
            teid_range,
            ipv4,
            ipv6,
            network_instance,
            source_interface: si,
        })
    }
    /// A TEID range with TEIDRI 0 is not written (TEIDRI 0 means no range).
    fn emit_value(&self, out: &mut Vec<u8>) {
        let range = self.teid_range.filter(|(ri, _)| ri & 0x07 != 0);
        let mut flags = 0;
        if let Some((ri, _)) = range {
            flags |= (ri & 0x07) << 2;
        }
        if self.ipv4.is_some() {
            flags |= UPIP_V4;
        }
        if self.ipv6.is_some() {
            flags |= UPIP_V6;
        }
        if self.network_instance.is_some() {
            flags |= UPIP_ASSONI;
        }
        if self.source_interface.is_some() {
            flags |= UPIP_ASSOSI;
        }
        out.push(flags);
        if let Some((_, value)) = range {
            out.push(value);
        }
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(ni) = &self.network_instance {
            out.extend_from_slice(ni);
        }
        if let Some(si) = self.source_interface {
            out.push(si & 0x0f);
        }
    }
}

impl IeValue for RemoteGtpuPeer {
    const TYPE: u16 = types::REMOTE_GTP_U_PEER;
    /// Octet 5: spare, NI, DI, V4 (bit 2), V6 (bit 1); then IPv4, IPv6. The
    /// destination interface and network instance that may follow are not
    /// modelled and are skipped.
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(Self::TYPE, value);
        let flags = r.u8()?;
        let ipv4 = r.opt(flags & 0x02 != 0, Reader::ipv4)?;
        let ipv6 = r.opt(flags & 0x01 != 0, Reader::ipv6)?;
        Ok(RemoteGtpuPeer { ipv4, ipv6 })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        out.push((u8::from(self.ipv4.is_some()) << 1) | u8::from(self.ipv6.is_some()));
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
    }
}
