//! Grouped IEs (TS 29.244 §7.5.2 - §7.5.8). Each implements [`super::IeValue`];
//! children not modelled here are kept in `unknown` and emitted back.
//!
//! CONTRACT: public names and fields are used by the node and the session
//! manager. Mandatory children are plain fields; a missing one is an
//! [`super::IeError`] with `MANDATORY_IE_MISSING` naming the child's type.
//! Conditional children are `Option`s: the session manager checks them.

use super::simple::*;
use super::RawIe;

/// PDI (Table 7.5.2.2-2).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pdi {
    /// Source Interface (M).
    pub source_interface: SourceInterface,
    /// Local F-TEID.
    pub f_teid: Option<FTeid>,
    /// Network Instance.
    pub network_instance: Option<NetworkInstance>,
    /// UE IP Address (may repeat in later releases; the first is kept here,
    /// further ones in `unknown`).
    pub ue_ip_address: Option<UeIpAddress>,
    /// SDF Filters (any number).
    pub sdf_filters: Vec<SdfFilter>,
    /// Application ID.
    pub application_id: Option<ApplicationId>,
    /// QFIs (any number).
    pub qfis: Vec<Qfi>,
    /// 3GPP Interface Type (Source Interface Type).
    pub interface_type: Option<InterfaceType>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Create PDR (Table 7.5.2.2-1).
#[derive(Clone, Debug, PartialEq)]
pub struct CreatePdr {
    /// PDR ID (M).
    pub pdr_id: PdrId,
    /// Precedence (M).
    pub precedence: Precedence,
    /// PDI (M).
    pub pdi: Pdi,
    /// Outer Header Removal.
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    /// FAR ID (C: present unless predefined rules are activated).
    pub far_id: Option<FarId>,
    /// URR IDs.
    pub urr_ids: Vec<UrrId>,
    /// QER IDs.
    pub qer_ids: Vec<QerId>,
    /// Activate Predefined Rules.
    pub activate_predefined_rules: Vec<ActivatePredefinedRules>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Forwarding Parameters (Table 7.5.2.3-2).
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardingParameters {
    /// Destination Interface (M).
    pub destination_interface: DestinationInterface,
    /// Network Instance.
    pub network_instance: Option<NetworkInstance>,
    /// Outer Header Creation.
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// 3GPP Interface Type (Destination Interface Type).
    pub interface_type: Option<InterfaceType>,
    /// Children not modelled (Transport Level Marking, Forwarding Policy, ...).
    pub unknown: Vec<RawIe>,
}

/// Create FAR (Table 7.5.2.3-1).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateFar {
    /// FAR ID (M).
    pub far_id: FarId,
    /// Apply Action (M).
    pub apply_action: ApplyAction,
    /// Forwarding Parameters (C: with FORW).
    pub forwarding_parameters: Option<ForwardingParameters>,
    /// BAR ID.
    pub bar_id: Option<BarId>,
    /// Children not modelled (Duplicating Parameters, ...).
    pub unknown: Vec<RawIe>,
}

impl CreateFar {
    /// FAR `far_id` forwarding (FORW) to `destination` (an
    /// [`interface`](crate::ie::interface) value), with Outer Header Creation
    /// when given.
    pub fn forward(
        far_id: FarId,
        destination: u8,
        outer_header_creation: Option<OuterHeaderCreation>,
    ) -> CreateFar {
        CreateFar {
            far_id,
            apply_action: ApplyAction(ApplyAction::FORW),
            forwarding_parameters: Some(ForwardingParameters {
                destination_interface: DestinationInterface(destination),
                network_instance: None,
                outer_header_creation,
                interface_type: None,
                unknown: Vec::new(),
            }),
            bar_id: None,
            unknown: Vec::new(),
        }
    }
}

/// Create URR (Table 7.5.2.4-1).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateUrr {
    /// URR ID (M).
    pub urr_id: UrrId,
    /// Measurement Method (M).
    pub measurement_method: MeasurementMethod,
    /// Reporting Triggers (M).
    pub reporting_triggers: ReportingTriggers,
    /// Measurement Period (C: with PERIO).
    pub measurement_period: Option<MeasurementPeriod>,
    /// Volume Threshold.
    pub volume_threshold: Option<VolumeThreshold>,
    /// Volume Quota.
    pub volume_quota: Option<VolumeQuota>,
    /// Time Threshold.
    pub time_threshold: Option<TimeThreshold>,
    /// Time Quota.
    pub time_quota: Option<TimeQuota>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

impl CreateUrr {
    /// URR `urr_id` measuring by `measurement_method`, with no reporting
    /// trigger and no threshold, quota or period (set those with struct
    /// update syntax: `CreateUrr { volume_quota, ..CreateUrr::new(id, m) }`).
    pub fn new(urr_id: UrrId, measurement_method: MeasurementMethod) -> CreateUrr {
        CreateUrr {
            urr_id,
            measurement_method,
            reporting_triggers: ReportingTriggers(0),
            measurement_period: None,
            volume_threshold: None,
            volume_quota: None,
            time_threshold: None,
            time_quota: None,
            unknown: Vec::new(),
        }
    }
}

/// Create QER (Table 7.5.2.5-1).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateQer {
    /// QER ID (M).
    pub qer_id: QerId,
    /// QER Correlation ID.
    pub qer_correlation_id: Option<QerCorrelationId>,
    /// Gate Status (M).
    pub gate_status: GateStatus,
    /// Maximum Bitrate.
    pub mbr: Option<Mbr>,
    /// Guaranteed Bitrate.
    pub gbr: Option<Gbr>,
    /// QoS flow identifier.
    pub qfi: Option<Qfi>,
    /// Reflective QoS.
    pub rqi: Option<Rqi>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Created PDR (Table 7.5.3.2-1): what the UP function allocated.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedPdr {
    /// PDR ID (M).
    pub pdr_id: PdrId,
    /// Local F-TEID allocated (CHOOSE).
    pub local_f_teid: Option<FTeid>,
    /// UE IP Address allocated.
    pub ue_ip_address: Option<UeIpAddress>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Update PDR (Table 7.5.4.2-1).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdatePdr {
    /// PDR ID (M).
    pub pdr_id: PdrId,
    /// Outer Header Removal.
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    /// Precedence.
    pub precedence: Option<Precedence>,
    /// PDI (replaces the whole PDI).
    pub pdi: Option<Pdi>,
    /// FAR ID.
    pub far_id: Option<FarId>,
    /// URR IDs (replace the list when any is present).
    pub urr_ids: Vec<UrrId>,
    /// QER IDs (replace the list when any is present).
    pub qer_ids: Vec<QerId>,
    /// Activate Predefined Rules.
    pub activate_predefined_rules: Vec<ActivatePredefinedRules>,
    /// Deactivate Predefined Rules.
    pub deactivate_predefined_rules: Vec<DeactivatePredefinedRules>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Update Forwarding Parameters (Table 7.5.4.3-2).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct UpdateForwardingParameters {
    /// Destination Interface.
    pub destination_interface: Option<DestinationInterface>,
    /// Network Instance.
    pub network_instance: Option<NetworkInstance>,
    /// Outer Header Creation.
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// PFCPSMReq-Flags (SNDEM: send End Marker on the old path).
    pub pfcpsm_req_flags: Option<PfcpsmReqFlags>,
    /// 3GPP Interface Type.
    pub interface_type: Option<InterfaceType>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Update FAR (Table 7.5.4.3-1).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateFar {
    /// FAR ID (M).
    pub far_id: FarId,
    /// Apply Action.
    pub apply_action: Option<ApplyAction>,
    /// Update Forwarding Parameters.
    pub update_forwarding_parameters: Option<UpdateForwardingParameters>,
    /// BAR ID.
    pub bar_id: Option<BarId>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Update URR (Table 7.5.4.4-1).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateUrr {
    /// URR ID (M).
    pub urr_id: UrrId,
    /// Measurement Method.
    pub measurement_method: Option<MeasurementMethod>,
    /// Reporting Triggers.
    pub reporting_triggers: Option<ReportingTriggers>,
    /// Measurement Period.
    pub measurement_period: Option<MeasurementPeriod>,
    /// Volume Threshold.
    pub volume_threshold: Option<VolumeThreshold>,
    /// Volume Quota.
    pub volume_quota: Option<VolumeQuota>,
    /// Time Threshold.
    pub time_threshold: Option<TimeThreshold>,
    /// Time Quota.
    pub time_quota: Option<TimeQuota>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

impl UpdateUrr {
    /// An Update URR of `urr_id` that changes nothing yet (set what it
    /// changes with struct update syntax).
    pub fn of(urr_id: UrrId) -> UpdateUrr {
        UpdateUrr {
            urr_id,
            measurement_method: None,
            reporting_triggers: None,
            measurement_period: None,
            volume_threshold: None,
            volume_quota: None,
            time_threshold: None,
            time_quota: None,
            unknown: Vec::new(),
        }
    }
}

/// Update QER (Table 7.5.4.5-1).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateQer {
    /// QER ID (M).
    pub qer_id: QerId,
    /// QER Correlation ID.
    pub qer_correlation_id: Option<QerCorrelationId>,
    /// Gate Status.
    pub gate_status: Option<GateStatus>,
    /// Maximum Bitrate.
    pub mbr: Option<Mbr>,
    /// Guaranteed Bitrate.
    pub gbr: Option<Gbr>,
    /// QFI.
    pub qfi: Option<Qfi>,
    /// RQI.
    pub rqi: Option<Rqi>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Remove PDR (Table 7.5.4.6-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemovePdr {
    /// PDR ID (M).
    pub pdr_id: PdrId,
}

/// Remove FAR (Table 7.5.4.7-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoveFar {
    /// FAR ID (M).
    pub far_id: FarId,
}

/// Remove URR (Table 7.5.4.8-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoveUrr {
    /// URR ID (M).
    pub urr_id: UrrId,
}

/// Remove QER (Table 7.5.4.9-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoveQer {
    /// QER ID (M).
    pub qer_id: QerId,
}

/// Query URR (Table 7.5.4.10-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryUrr {
    /// URR ID (M).
    pub urr_id: UrrId,
}

/// Which message a Usage Report travels in: it decides the IE type
/// (78 Modification Response, 79 Deletion Response, 80 Report Request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageReportIn {
    /// Session Modification Response (type 78).
    Modification,
    /// Session Deletion Response (type 79).
    Deletion,
    /// Session Report Request (type 80).
    Report,
}

/// Usage Report (Tables 7.5.5.2-1, 7.5.7.2-1, 7.5.8.3-1). Not an
/// [`super::IeValue`] on its own (its type depends on the message): parse it
/// with [`UsageReport::parse`] and emit it with [`UsageReport::emit`].
#[derive(Clone, Debug, PartialEq)]
pub struct UsageReport {
    /// URR ID (M).
    pub urr_id: UrrId,
    /// UR-SEQN (M).
    pub ur_seqn: UrSeqn,
    /// Usage Report Trigger (M).
    pub usage_report_trigger: UsageReportTrigger,
    /// Start Time.
    pub start_time: Option<StartTime>,
    /// End Time.
    pub end_time: Option<EndTime>,
    /// Volume Measurement.
    pub volume_measurement: Option<VolumeMeasurement>,
    /// Duration Measurement.
    pub duration_measurement: Option<DurationMeasurement>,
    /// Time of First Packet.
    pub time_of_first_packet: Option<TimeOfFirstPacket>,
    /// Time of Last Packet.
    pub time_of_last_packet: Option<TimeOfLastPacket>,
    /// Children not modelled.
    pub unknown: Vec<RawIe>,
}

/// Load Control Information (Table 7.5.3.3-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadControlInformation {
    /// Load Control Sequence Number (M).
    pub sequence_number: SequenceNumber,
    /// Load Metric (M).
    pub metric: Metric,
}

/// Overload Control Information (Table 7.5.3.4-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverloadControlInformation {
    /// Overload Control Sequence Number (M).
    pub sequence_number: SequenceNumber,
    /// Overload Reduction Metric (M).
    pub metric: Metric,
    /// Period of Validity (M).
    pub timer: Timer,
    /// OCI Flags.
    pub oci_flags: Option<OciFlags>,
}

/// User Plane Path Failure Report (Table 7.4.5.1.2-1).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserPlanePathFailureReport {
    /// Remote GTP-U Peers (M, one or more).
    pub remote_peers: Vec<RemoteGtpuPeer>,
}
