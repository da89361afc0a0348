//! Typed single-value IEs (TS 29.244 §8.2). Each implements [`super::IeValue`].
//!
//! CONTRACT (do not rename public items: the node and the session manager
//! are written against these). The `IeValue` implementations live in
//! `scalar.rs` (integers, flag octets, octet strings), `address.rs` (IEs
//! carrying addresses), `usage.rs` (volumes, bit rates, triggers) and
//! `filter.rs` (SDF Filter); lengths are checked, spare bits are ignored on
//! parse and zero on emit (QFI excepted: an octet above 63 is refused).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Node ID (§8.2.38).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NodeId {
    /// Type 0.
    Ipv4(Ipv4Addr),
    /// Type 1.
    Ipv6(Ipv6Addr),
    /// Type 2: an FQDN, kept in dotted form (encoded as DNS labels).
    Fqdn(String),
}

/// Recovery Time Stamp (§8.2.65): NTP seconds (since 1900-01-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryTimeStamp(pub u32);

/// F-SEID (§8.2.37).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fseid {
    /// The SEID.
    pub seid: u64,
    /// IPv4 address (V4 flag).
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address (V6 flag).
    pub ipv6: Option<Ipv6Addr>,
}

/// F-TEID (§8.2.3). With `choose` set the UP function allocates the TEID
/// (and the address family flags say which addresses it wants); `choose_id`
/// groups PDRs that must share one allocated F-TEID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FTeid {
    /// TEID (absent when CH is set).
    pub teid: Option<u32>,
    /// IPv4 address (V4 flag; with CH: an IPv4 address is requested, value absent).
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address (V6 flag).
    pub ipv6: Option<Ipv6Addr>,
    /// CH flag.
    pub choose: bool,
    /// With CH: V4 flag set (an IPv4 address is wanted).
    pub choose_v4: bool,
    /// With CH: V6 flag set.
    pub choose_v6: bool,
    /// CHID flag and the CHOOSE ID.
    pub choose_id: Option<u8>,
}

impl FTeid {
    /// A TEID and IPv4 address the CP function assigned.
    pub fn ipv4(teid: u32, addr: Ipv4Addr) -> FTeid {
        FTeid {
            teid: Some(teid),
            ipv4: Some(addr),
            ipv6: None,
            choose: false,
            choose_v4: false,
            choose_v6: false,
            choose_id: None,
        }
    }

    /// CHOOSE: the UP function allocates a TEID and an IPv4 address (CH,
    /// V4), shared by the PDRs with the same CHOOSE ID when one is given.
    pub fn choose_ipv4(choose_id: Option<u8>) -> FTeid {
        FTeid {
            teid: None,
            ipv4: None,
            ipv6: None,
            choose: true,
            choose_v4: true,
            choose_v6: false,
            choose_id,
        }
    }
}

/// Source Interface (§8.2.2), Destination Interface (§8.2.24) values.
pub mod interface {
    /// Access (uplink traffic comes from here; downlink goes there).
    pub const ACCESS: u8 = 0;
    /// Core.
    pub const CORE: u8 = 1;
    /// SGi-LAN / N6-LAN.
    pub const SGI_LAN: u8 = 2;
    /// CP-function.
    pub const CP_FUNCTION: u8 = 3;
    /// 5G VN internal.
    pub const VN_INTERNAL: u8 = 4;
}

/// Source Interface (§8.2.2): the low 4 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SourceInterface(pub u8);

/// Destination Interface (§8.2.24): the low 4 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestinationInterface(pub u8);

/// Network Instance (§8.2.4): octets as sent (often DNS labels or a plain name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInstance(pub Vec<u8>);

/// UE IP Address (§8.2.62).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UeIpAddress {
    /// IPv4 address (V4 flag, without CHV4).
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address (V6 flag, without CHV6).
    pub ipv6: Option<Ipv6Addr>,
    /// S/D flag: set, the address is a destination address (downlink PDI).
    pub destination: bool,
    /// CHV4: the UP function allocates an IPv4 address.
    pub choose_v4: bool,
    /// CHV6: the UP function allocates an IPv6 prefix.
    pub choose_v6: bool,
    /// IPv6 prefix delegation bits (IPv6D flag).
    pub ipv6_prefix_delegation_bits: Option<u8>,
    /// IPv6 prefix length (IP6PL flag).
    pub ipv6_prefix_length: Option<u8>,
}

/// SDF Filter (§8.2.5).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SdfFilter {
    /// FD: Flow Description (IPFilterRule text, parse with [`crate::flow::FlowDescription`]).
    pub flow_description: Option<String>,
    /// TTC: ToS / Traffic Class and mask.
    pub tos_traffic_class: Option<u16>,
    /// SPI: Security Parameter Index.
    pub security_parameter_index: Option<u32>,
    /// FL: Flow Label (24 bits).
    pub flow_label: Option<u32>,
    /// BID: SDF Filter ID.
    pub sdf_filter_id: Option<u32>,
}

/// Application ID (§8.2.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationId(pub Vec<u8>);

/// Gate Status (§8.2.7): 0 open, 1 closed, per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GateStatus {
    /// Uplink gate (0 OPEN, 1 CLOSED).
    pub ul: u8,
    /// Downlink gate.
    pub dl: u8,
}

/// A bit rate pair in kbit/s (MBR §8.2.8, GBR §8.2.9: 5 octets each, 40 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bitrate {
    /// Uplink, kbit/s.
    pub ul: u64,
    /// Downlink, kbit/s.
    pub dl: u64,
}

/// MBR (§8.2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mbr(pub Bitrate);

/// GBR (§8.2.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Gbr(pub Bitrate);

/// Precedence (§8.2.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Precedence(pub u32);

/// A volume with optional total, uplink and downlink parts, in octets: the
/// layout of Volume Threshold (§8.2.13) and Volume Quota (§8.2.50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Volume {
    /// TOVOL.
    pub total: Option<u64>,
    /// ULVOL.
    pub uplink: Option<u64>,
    /// DLVOL.
    pub downlink: Option<u64>,
}

/// Volume Threshold (§8.2.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VolumeThreshold(pub Volume);

/// Volume Quota (§8.2.50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VolumeQuota(pub Volume);

/// Time Threshold (§8.2.14), seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeThreshold(pub u32);

/// Time Quota (§8.2.51), seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeQuota(pub u32);

/// Measurement Period (§8.2.42), seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeasurementPeriod(pub u32);

/// Reporting Triggers (§8.2.19): the bits as on the wire, octet 5 in bits
/// 0-7, octet 6 in bits 8-15, octet 7 (if present) in bits 16-23.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReportingTriggers(pub u32);

impl ReportingTriggers {
    /// PERIO: periodic reporting (octet 5 bit 1).
    pub const PERIO: u32 = 1 << 0;
    /// VOLTH: volume threshold (octet 5 bit 2).
    pub const VOLTH: u32 = 1 << 1;
    /// TIMTH: time threshold (octet 5 bit 3).
    pub const TIMTH: u32 = 1 << 2;
    /// QUHTI: quota holding time.
    pub const QUHTI: u32 = 1 << 3;
    /// START: start of traffic.
    pub const START: u32 = 1 << 4;
    /// STOPT: stop of traffic.
    pub const STOPT: u32 = 1 << 5;
    /// DROTH: dropped DL traffic threshold.
    pub const DROTH: u32 = 1 << 6;
    /// LIUSA: linked usage reporting.
    pub const LIUSA: u32 = 1 << 7;
    /// VOLQU: volume quota (octet 6 bit 1).
    pub const VOLQU: u32 = 1 << 8;
    /// TIMQU: time quota (octet 6 bit 2).
    pub const TIMQU: u32 = 1 << 9;
    /// ENVCL: envelope closure.
    pub const ENVCL: u32 = 1 << 10;
    /// MACAR.
    pub const MACAR: u32 = 1 << 11;
    /// EVETH: event threshold.
    pub const EVETH: u32 = 1 << 12;
    /// EVEQU: event quota.
    pub const EVEQU: u32 = 1 << 13;
    /// IPMJL.
    pub const IPMJL: u32 = 1 << 14;
    /// QUVTI: quota validity time.
    pub const QUVTI: u32 = 1 << 15;
}

/// Usage Report Trigger (§8.2.41): the bits as on the wire, octet 5 in bits
/// 0-7, octet 6 in bits 8-15, octet 7 in bits 16-23.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UsageReportTrigger(pub u32);

impl UsageReportTrigger {
    /// PERIO (octet 5 bit 1).
    pub const PERIO: u32 = 1 << 0;
    /// VOLTH.
    pub const VOLTH: u32 = 1 << 1;
    /// TIMTH.
    pub const TIMTH: u32 = 1 << 2;
    /// QUHTI.
    pub const QUHTI: u32 = 1 << 3;
    /// START.
    pub const START: u32 = 1 << 4;
    /// STOPT.
    pub const STOPT: u32 = 1 << 5;
    /// DROTH.
    pub const DROTH: u32 = 1 << 6;
    /// IMMER: immediate report (Query URR) (octet 5 bit 8).
    pub const IMMER: u32 = 1 << 7;
    /// VOLQU (octet 6 bit 1).
    pub const VOLQU: u32 = 1 << 8;
    /// TIMQU.
    pub const TIMQU: u32 = 1 << 9;
    /// LIUSA.
    pub const LIUSA: u32 = 1 << 10;
    /// TERMR: termination report (deletion) (octet 6 bit 4).
    pub const TERMR: u32 = 1 << 11;
    /// MONIT.
    pub const MONIT: u32 = 1 << 12;
    /// ENVCL.
    pub const ENVCL: u32 = 1 << 13;
    /// MACAR.
    pub const MACAR: u32 = 1 << 14;
    /// EVETH.
    pub const EVETH: u32 = 1 << 15;
    /// EVEQU (octet 7 bit 1).
    pub const EVEQU: u32 = 1 << 16;
    /// TEBUR (octet 7 bit 2).
    pub const TEBUR: u32 = 1 << 17;
}

/// Measurement Method (§8.2.40).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MeasurementMethod {
    /// DURAT.
    pub duration: bool,
    /// VOLUM.
    pub volume: bool,
    /// EVENT.
    pub event: bool,
}

/// Volume Measurement (§8.2.44): octets and (with the packet flags) packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VolumeMeasurement {
    /// TOVOL.
    pub total_volume: Option<u64>,
    /// ULVOL.
    pub uplink_volume: Option<u64>,
    /// DLVOL.
    pub downlink_volume: Option<u64>,
    /// TONOP.
    pub total_packets: Option<u64>,
    /// ULNOP.
    pub uplink_packets: Option<u64>,
    /// DLNOP.
    pub downlink_packets: Option<u64>,
}

/// Duration Measurement (§8.2.45), seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationMeasurement(pub u32);

/// Start Time (§8.2.79), NTP seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartTime(pub u32);

/// End Time (§8.2.80), NTP seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTime(pub u32);

/// Time of First Packet (§8.2.47), NTP seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfFirstPacket(pub u32);

/// Time of Last Packet (§8.2.48), NTP seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfLastPacket(pub u32);

/// UR-SEQN (§8.2.77).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrSeqn(pub u32);

/// Cause IE (§8.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CauseIe(pub crate::Cause);

/// Offending IE (§8.2.22): the IE type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffendingIe(pub u16);

/// Apply Action (§8.2.26): octet 5 in bits 0-7, octet 6 (if present) in bits 8-15.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ApplyAction(pub u16);

impl ApplyAction {
    /// DROP.
    pub const DROP: u16 = 1 << 0;
    /// FORW.
    pub const FORW: u16 = 1 << 1;
    /// BUFF.
    pub const BUFF: u16 = 1 << 2;
    /// NOCP.
    pub const NOCP: u16 = 1 << 3;
    /// DUPL.
    pub const DUPL: u16 = 1 << 4;
    /// IPMA.
    pub const IPMA: u16 = 1 << 5;
    /// IPMD.
    pub const IPMD: u16 = 1 << 6;
    /// DFRT.
    pub const DFRT: u16 = 1 << 7;
    /// EDRT (octet 6 bit 1).
    pub const EDRT: u16 = 1 << 8;
    /// BDPN.
    pub const BDPN: u16 = 1 << 9;
    /// DDPN.
    pub const DDPN: u16 = 1 << 10;
}

/// Outer Header Removal (§8.2.64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterHeaderRemoval {
    /// Description: 0 GTP-U/UDP/IPv4, 1 GTP-U/UDP/IPv6, 2 UDP/IPv4, 3 UDP/IPv6,
    /// 4 IPv4, 5 IPv6, 6 GTP-U/UDP/IP, 7 VLAN S-TAG, 8 S-TAG and C-TAG.
    pub description: u8,
    /// GTP-U Extension Header Deletion (octet 6), if present.
    pub ext_header_deletion: Option<u8>,
}

/// Outer Header Creation (§8.2.56).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OuterHeaderCreation {
    /// Description bits as on the wire, octet 5 in bits 8-15 and octet 6 in
    /// bits 0-7 (`GTPU_UDP_IPV4` = 0x0100, `GTPU_UDP_IPV6` = 0x0200, ...).
    pub description: u16,
    /// TEID (with a GTP-U description).
    pub teid: Option<u32>,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Port number (with a UDP description).
    pub port: Option<u16>,
    /// C-TAG (3 octets).
    pub c_tag: Option<u32>,
    /// S-TAG (3 octets).
    pub s_tag: Option<u32>,
}

impl OuterHeaderCreation {
    /// GTP-U/UDP/IPv4.
    pub const GTPU_UDP_IPV4: u16 = 0x0100;
    /// GTP-U/UDP/IPv6.
    pub const GTPU_UDP_IPV6: u16 = 0x0200;
    /// UDP/IPv4.
    pub const UDP_IPV4: u16 = 0x0400;
    /// UDP/IPv6.
    pub const UDP_IPV6: u16 = 0x0800;
    /// IPv4.
    pub const IPV4: u16 = 0x1000;
    /// IPv6.
    pub const IPV6: u16 = 0x2000;
    /// C-TAG.
    pub const C_TAG: u16 = 0x4000;
    /// S-TAG.
    pub const S_TAG: u16 = 0x8000;
    /// N19 indication (octet 6 bit 1).
    pub const N19: u16 = 0x0001;
    /// N6 indication (octet 6 bit 2).
    pub const N6: u16 = 0x0002;
}

/// QFI (§8.2.89): 6 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qfi(pub u8);

/// RQI (§8.2.88).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rqi(pub bool);

/// 3GPP Interface Type (§8.2.118): the low 6 bits (0 S1-U, 1 S5/S8-U, ..., 11 N3 3GPP Access, 12 N3 Trusted Non-3GPP, 13 N3 Untrusted Non-3GPP, 15 N9, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceType(pub u8);

/// PDR ID (§8.2.36).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PdrId(pub u16);

/// FAR ID (§8.2.74).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FarId(pub u32);

/// QER ID (§8.2.75).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QerId(pub u32);

/// URR ID (§8.2.54).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UrrId(pub u32);

/// QER Correlation ID (§8.2.76).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QerCorrelationId(pub u32);

/// BAR ID (§8.2.85).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarId(pub u8);

/// Activate Predefined Rules (§8.2.72): the rule name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivatePredefinedRules(pub Vec<u8>);

/// Deactivate Predefined Rules (§8.2.73): the rule name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeactivatePredefinedRules(pub Vec<u8>);

/// Failed Rule ID (§8.2.80 in Rel-15 numbering; type 114).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedRuleId {
    /// Rule type: 0 PDR, 1 FAR, 2 QER, 3 URR, 4 BAR.
    pub rule_type: u8,
    /// The rule ID (PDR IDs fit in 16 bits, BAR IDs in 8).
    pub id: u32,
}

impl FailedRuleId {
    /// Rule type PDR.
    pub const PDR: u8 = 0;
    /// Rule type FAR.
    pub const FAR: u8 = 1;
    /// Rule type QER.
    pub const QER: u8 = 2;
    /// Rule type URR.
    pub const URR: u8 = 3;
    /// Rule type BAR.
    pub const BAR: u8 = 4;
}

/// UP Function Features (§8.2.25): the feature octets as sent.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpFunctionFeatures(pub Vec<u8>);

/// CP Function Features (§8.2.58): the feature octets as sent.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CpFunctionFeatures(pub Vec<u8>);

/// User Plane IP Resource Information (§8.2.82).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserPlaneIpResourceInformation {
    /// TEID range indication bits and value (TEIDRI, TEID Range).
    pub teid_range: Option<(u8, u8)>,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Network instance (ASSONI).
    pub network_instance: Option<Vec<u8>>,
    /// Source interface (ASSOSI).
    pub source_interface: Option<u8>,
}

/// PFCPSMReq-Flags (§8.2.31): DROBU (bit 1), SNDEM (bit 2), QAURR (bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PfcpsmReqFlags(pub u8);

impl PfcpsmReqFlags {
    /// DROBU: drop buffered packets.
    pub const DROBU: u8 = 1;
    /// SNDEM: send end marker packets.
    pub const SNDEM: u8 = 2;
    /// QAURR: query all URRs.
    pub const QAURR: u8 = 4;
}

/// Report Type (§8.2.21): DLDR bit 1, USAR bit 2, ERIR bit 3, UPIR bit 4, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReportType(pub u8);

impl ReportType {
    /// Downlink Data Report.
    pub const DLDR: u8 = 1;
    /// Usage Report.
    pub const USAR: u8 = 2;
    /// Error Indication Report.
    pub const ERIR: u8 = 4;
    /// User Plane Inactivity Report.
    pub const UPIR: u8 = 8;
}

/// Node Report Type (§8.2.69): UPFR bit 1 (user plane path failure), ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeReportType(pub u8);

/// Remote GTP-U Peer (§8.2.70), the address part.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RemoteGtpuPeer {
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

/// Sequence Number (§8.2.52) in load/overload control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceNumber(pub u32);

/// Metric (§8.2.53), 0..=100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric(pub u8);

/// Timer (§8.2.54 Rel-15 "Timer"): the raw octet (unit in bits 6-8, value in 1-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer(pub u8);

/// OCI Flags (§8.2.69 Rel-15 numbering; AOCI bit 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OciFlags(pub u8);

/// PDN Type (§8.2.79 Rel-15 numbering): 1 IPv4, 2 IPv6, 3 IPv4v6, 4 non-IP, 5 Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdnType(pub u8);
