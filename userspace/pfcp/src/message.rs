//! Typed PFCP messages (TS 29.244 §7.4 node messages, §7.5 session messages).
//!
//! CONTRACT: names and fields are used by the node and the session manager.
//! `Message::parse` checks every mandatory IE of the message (Cause
//! MANDATORY_IE_MISSING naming it), every IE length (INVALID_LENGTH), and
//! values that cannot be used (MANDATORY_IE_INCORRECT); IEs the message does
//! not model go to `unknown` (and are re-emitted). Repeated IEs that the spec
//! allows once: the first is used.

use crate::header::MsgType;
use crate::ie::*;

/// Heartbeat Request (§7.4.2.1).
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatRequest {
    /// Recovery Time Stamp (M).
    pub recovery_time_stamp: RecoveryTimeStamp,
    /// IEs not modelled (Source IP Address, ...).
    pub unknown: Vec<RawIe>,
}

/// Heartbeat Response (§7.4.2.2).
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatResponse {
    /// Recovery Time Stamp (M).
    pub recovery_time_stamp: RecoveryTimeStamp,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Association Setup Request (§7.4.4.1).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationSetupRequest {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Recovery Time Stamp (M).
    pub recovery_time_stamp: RecoveryTimeStamp,
    /// UP Function Features (sent by a UP function).
    pub up_function_features: Option<UpFunctionFeatures>,
    /// CP Function Features (sent by a CP function).
    pub cp_function_features: Option<CpFunctionFeatures>,
    /// User Plane IP Resource Information (any number).
    pub user_plane_ip_resource_information: Vec<UserPlaneIpResourceInformation>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Association Setup Response (§7.4.4.2).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationSetupResponse {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Cause (M).
    pub cause: crate::Cause,
    /// Recovery Time Stamp (M).
    pub recovery_time_stamp: RecoveryTimeStamp,
    /// UP Function Features.
    pub up_function_features: Option<UpFunctionFeatures>,
    /// CP Function Features.
    pub cp_function_features: Option<CpFunctionFeatures>,
    /// User Plane IP Resource Information (any number).
    pub user_plane_ip_resource_information: Vec<UserPlaneIpResourceInformation>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Association Update Request (§7.4.4.3).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationUpdateRequest {
    /// Node ID (M).
    pub node_id: NodeId,
    /// UP Function Features.
    pub up_function_features: Option<UpFunctionFeatures>,
    /// CP Function Features.
    pub cp_function_features: Option<CpFunctionFeatures>,
    /// PFCP Association Release Request flags (SARR bit 1, URSS bit 2), raw octet.
    pub association_release_request: Option<u8>,
    /// Graceful Release Period, raw timer octet.
    pub graceful_release_period: Option<u8>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Association Update Response (§7.4.4.4).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationUpdateResponse {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Cause (M).
    pub cause: crate::Cause,
    /// UP Function Features.
    pub up_function_features: Option<UpFunctionFeatures>,
    /// CP Function Features.
    pub cp_function_features: Option<CpFunctionFeatures>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Association Release Request (§7.4.4.5).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationReleaseRequest {
    /// Node ID (M).
    pub node_id: NodeId,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Association Release Response (§7.4.4.6).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationReleaseResponse {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Cause (M).
    pub cause: crate::Cause,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Node Report Request (§7.4.5.1).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReportRequest {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Node Report Type (M).
    pub node_report_type: NodeReportType,
    /// User Plane Path Failure Report (C: with UPFR).
    pub user_plane_path_failure_report: Option<UserPlanePathFailureReport>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Node Report Response (§7.4.5.2).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReportResponse {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Cause (M).
    pub cause: crate::Cause,
    /// Offending IE.
    pub offending_ie: Option<OffendingIe>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Session Establishment Request (§7.5.2).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionEstablishmentRequest {
    /// Node ID (M).
    pub node_id: NodeId,
    /// CP F-SEID (M).
    pub cp_f_seid: Fseid,
    /// Create PDR (M, one or more).
    pub create_pdr: Vec<CreatePdr>,
    /// Create FAR (M, one or more).
    pub create_far: Vec<CreateFar>,
    /// Create URR.
    pub create_urr: Vec<CreateUrr>,
    /// Create QER.
    pub create_qer: Vec<CreateQer>,
    /// PDN Type.
    pub pdn_type: Option<PdnType>,
    /// IEs not modelled (Create BAR, FQ-CSIDs, User Plane Inactivity Timer, ...).
    pub unknown: Vec<RawIe>,
}

/// Session Establishment Response (§7.5.3).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionEstablishmentResponse {
    /// Node ID (M).
    pub node_id: NodeId,
    /// Cause (M).
    pub cause: crate::Cause,
    /// Offending IE (C: with a cause about an IE).
    pub offending_ie: Option<OffendingIe>,
    /// UP F-SEID (C: when accepted).
    pub up_f_seid: Option<Fseid>,
    /// Created PDR (C: for each PDR with an allocated F-TEID or UE address).
    pub created_pdr: Vec<CreatedPdr>,
    /// Load Control Information.
    pub load_control_information: Option<LoadControlInformation>,
    /// Overload Control Information.
    pub overload_control_information: Option<OverloadControlInformation>,
    /// Failed Rule ID (C: with Rule creation/modification failure).
    pub failed_rule_id: Option<FailedRuleId>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Session Modification Request (§7.5.4).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SessionModificationRequest {
    /// CP F-SEID (C: when the CP function changes it).
    pub cp_f_seid: Option<Fseid>,
    /// Remove PDR.
    pub remove_pdr: Vec<RemovePdr>,
    /// Remove FAR.
    pub remove_far: Vec<RemoveFar>,
    /// Remove URR.
    pub remove_urr: Vec<RemoveUrr>,
    /// Remove QER.
    pub remove_qer: Vec<RemoveQer>,
    /// Create PDR.
    pub create_pdr: Vec<CreatePdr>,
    /// Create FAR.
    pub create_far: Vec<CreateFar>,
    /// Create URR.
    pub create_urr: Vec<CreateUrr>,
    /// Create QER.
    pub create_qer: Vec<CreateQer>,
    /// Update PDR.
    pub update_pdr: Vec<UpdatePdr>,
    /// Update FAR.
    pub update_far: Vec<UpdateFar>,
    /// Update URR.
    pub update_urr: Vec<UpdateUrr>,
    /// Update QER.
    pub update_qer: Vec<UpdateQer>,
    /// PFCPSMReq-Flags (QAURR: report all URRs).
    pub pfcpsm_req_flags: Option<PfcpsmReqFlags>,
    /// Query URR.
    pub query_urr: Vec<QueryUrr>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Session Modification Response (§7.5.5).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionModificationResponse {
    /// Cause (M).
    pub cause: crate::Cause,
    /// Offending IE.
    pub offending_ie: Option<OffendingIe>,
    /// Created PDR.
    pub created_pdr: Vec<CreatedPdr>,
    /// Load Control Information.
    pub load_control_information: Option<LoadControlInformation>,
    /// Overload Control Information.
    pub overload_control_information: Option<OverloadControlInformation>,
    /// Usage Reports (IE type 78).
    pub usage_report: Vec<UsageReport>,
    /// Failed Rule ID.
    pub failed_rule_id: Option<FailedRuleId>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Session Deletion Request (§7.5.6): no mandatory IEs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SessionDeletionRequest {
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Session Deletion Response (§7.5.7).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionDeletionResponse {
    /// Cause (M).
    pub cause: crate::Cause,
    /// Offending IE.
    pub offending_ie: Option<OffendingIe>,
    /// Load Control Information.
    pub load_control_information: Option<LoadControlInformation>,
    /// Overload Control Information.
    pub overload_control_information: Option<OverloadControlInformation>,
    /// Usage Reports (IE type 79).
    pub usage_report: Vec<UsageReport>,
    /// IEs not modelled.
    pub unknown: Vec<RawIe>,
}

/// Session Report Request (§7.5.8).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionReportRequest {
    /// Report Type (M).
    pub report_type: ReportType,
    /// Usage Reports (IE type 80).
    pub usage_report: Vec<UsageReport>,
    /// Load Control Information.
    pub load_control_information: Option<LoadControlInformation>,
    /// Overload Control Information.
    pub overload_control_information: Option<OverloadControlInformation>,
    /// IEs not modelled (Downlink Data Report, Error Indication Report, ...).
    pub unknown: Vec<RawIe>,
}

/// Session Report Response (§7.5.9).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionReportResponse {
    /// Cause (M).
    pub cause: crate::Cause,
    /// Offending IE.
    pub offending_ie: Option<OffendingIe>,
    /// IEs not modelled (Update BAR, PFCPSRRsp-Flags, ...).
    pub unknown: Vec<RawIe>,
}

/// Every message the codec knows; anything else is [`Message::Unknown`].
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    HeartbeatRequest(HeartbeatRequest),
    HeartbeatResponse(HeartbeatResponse),
    AssociationSetupRequest(AssociationSetupRequest),
    AssociationSetupResponse(AssociationSetupResponse),
    AssociationUpdateRequest(AssociationUpdateRequest),
    AssociationUpdateResponse(AssociationUpdateResponse),
    AssociationReleaseRequest(AssociationReleaseRequest),
    AssociationReleaseResponse(AssociationReleaseResponse),
    /// Version Not Supported Response: no IEs.
    VersionNotSupportedResponse,
    NodeReportRequest(NodeReportRequest),
    NodeReportResponse(NodeReportResponse),
    SessionEstablishmentRequest(SessionEstablishmentRequest),
    SessionEstablishmentResponse(SessionEstablishmentResponse),
    SessionModificationRequest(SessionModificationRequest),
    SessionModificationResponse(SessionModificationResponse),
    SessionDeletionRequest(SessionDeletionRequest),
    SessionDeletionResponse(SessionDeletionResponse),
    SessionReportRequest(SessionReportRequest),
    SessionReportResponse(SessionReportResponse),
    /// A message type not modelled: its IEs as they came.
    Unknown {
        /// The type.
        message_type: MsgType,
        /// Its IEs.
        ies: Vec<RawIe>,
    },
}

impl Message {
    /// The message type of this body.
    pub fn message_type(&self) -> MsgType {
        todo!("codec")
    }

    /// Parses a message body of type `message_type`.
    pub fn parse(message_type: MsgType, body: &[u8]) -> Result<Message, IeError> {
        let _ = (message_type, body);
        todo!("codec")
    }

    /// Emits the body (IEs only).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!("codec")
    }
}
