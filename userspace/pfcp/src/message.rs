//! Typed PFCP messages (TS 29.244 §7.4 node messages, §7.5 session messages).
//!
//! CONTRACT: names and fields are used by the node and the session manager.
//! `Message::parse` checks every mandatory IE of the message (Cause
//! MANDATORY_IE_MISSING naming it), every IE length (INVALID_LENGTH), and
//! values that cannot be used (MANDATORY_IE_INCORRECT); IEs the message does
//! not model go to `unknown` (and are re-emitted). Repeated IEs that the spec
//! allows once: the first is used.

use crate::header::MsgType;
use crate::ie::children::{first, one_or_more, push, put_all, put_opt, put_raw, required, walk};
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
        match self {
            Message::HeartbeatRequest(_) => MsgType::HEARTBEAT_REQUEST,
            Message::HeartbeatResponse(_) => MsgType::HEARTBEAT_RESPONSE,
            Message::AssociationSetupRequest(_) => MsgType::ASSOCIATION_SETUP_REQUEST,
            Message::AssociationSetupResponse(_) => MsgType::ASSOCIATION_SETUP_RESPONSE,
            Message::AssociationUpdateRequest(_) => MsgType::ASSOCIATION_UPDATE_REQUEST,
            Message::AssociationUpdateResponse(_) => MsgType::ASSOCIATION_UPDATE_RESPONSE,
            Message::AssociationReleaseRequest(_) => MsgType::ASSOCIATION_RELEASE_REQUEST,
            Message::AssociationReleaseResponse(_) => MsgType::ASSOCIATION_RELEASE_RESPONSE,
            Message::VersionNotSupportedResponse => MsgType::VERSION_NOT_SUPPORTED_RESPONSE,
            Message::NodeReportRequest(_) => MsgType::NODE_REPORT_REQUEST,
            Message::NodeReportResponse(_) => MsgType::NODE_REPORT_RESPONSE,
            Message::SessionEstablishmentRequest(_) => MsgType::SESSION_ESTABLISHMENT_REQUEST,
            Message::SessionEstablishmentResponse(_) => MsgType::SESSION_ESTABLISHMENT_RESPONSE,
            Message::SessionModificationRequest(_) => MsgType::SESSION_MODIFICATION_REQUEST,
            Message::SessionModificationResponse(_) => MsgType::SESSION_MODIFICATION_RESPONSE,
            Message::SessionDeletionRequest(_) => MsgType::SESSION_DELETION_REQUEST,
            Message::SessionDeletionResponse(_) => MsgType::SESSION_DELETION_RESPONSE,
            Message::SessionReportRequest(_) => MsgType::SESSION_REPORT_REQUEST,
            Message::SessionReportResponse(_) => MsgType::SESSION_REPORT_RESPONSE,
            Message::Unknown { message_type, .. } => *message_type,
        }
    }

    /// Parses a message body of type `message_type`. A type not modelled
    /// (PFD Management, Session Set Deletion, anything unassigned) gives
    /// [`Message::Unknown`] with its IEs framed but not interpreted. IEs
    /// after a Version Not Supported Response header are ignored.
    pub fn parse(message_type: MsgType, body: &[u8]) -> Result<Message, IeError> {
        Ok(match message_type {
            MsgType::HEARTBEAT_REQUEST => Message::HeartbeatRequest(HeartbeatRequest::parse(body)?),
            MsgType::HEARTBEAT_RESPONSE => {
                Message::HeartbeatResponse(HeartbeatResponse::parse(body)?)
            }
            MsgType::ASSOCIATION_SETUP_REQUEST => {
                Message::AssociationSetupRequest(AssociationSetupRequest::parse(body)?)
            }
            MsgType::ASSOCIATION_SETUP_RESPONSE => {
                Message::AssociationSetupResponse(AssociationSetupResponse::parse(body)?)
            }
            MsgType::ASSOCIATION_UPDATE_REQUEST => {
                Message::AssociationUpdateRequest(AssociationUpdateRequest::parse(body)?)
            }
            MsgType::ASSOCIATION_UPDATE_RESPONSE => {
                Message::AssociationUpdateResponse(AssociationUpdateResponse::parse(body)?)
            }
            MsgType::ASSOCIATION_RELEASE_REQUEST => {
                Message::AssociationReleaseRequest(AssociationReleaseRequest::parse(body)?)
            }
            MsgType::ASSOCIATION_RELEASE_RESPONSE => {
                Message::AssociationReleaseResponse(AssociationReleaseResponse::parse(body)?)
            }
            MsgType::VERSION_NOT_SUPPORTED_RESPONSE => Message::VersionNotSupportedResponse,
            MsgType::NODE_REPORT_REQUEST => {
                Message::NodeReportRequest(NodeReportRequest::parse(body)?)
            }
            MsgType::NODE_REPORT_RESPONSE => {
                Message::NodeReportResponse(NodeReportResponse::parse(body)?)
            }
            MsgType::SESSION_ESTABLISHMENT_REQUEST => {
                Message::SessionEstablishmentRequest(SessionEstablishmentRequest::parse(body)?)
            }
            MsgType::SESSION_ESTABLISHMENT_RESPONSE => {
                Message::SessionEstablishmentResponse(SessionEstablishmentResponse::parse(body)?)
            }
            MsgType::SESSION_MODIFICATION_REQUEST => {
                Message::SessionModificationRequest(SessionModificationRequest::parse(body)?)
            }
            MsgType::SESSION_MODIFICATION_RESPONSE => {
                Message::SessionModificationResponse(SessionModificationResponse::parse(body)?)
            }
            MsgType::SESSION_DELETION_REQUEST => {
                Message::SessionDeletionRequest(SessionDeletionRequest {
                    unknown: walk(body, |_| Ok(false))?,
                })
            }
            MsgType::SESSION_DELETION_RESPONSE => {
                Message::SessionDeletionResponse(SessionDeletionResponse::parse(body)?)
            }
            MsgType::SESSION_REPORT_REQUEST => {
                Message::SessionReportRequest(SessionReportRequest::parse(body)?)
            }
            MsgType::SESSION_REPORT_RESPONSE => {
                Message::SessionReportResponse(SessionReportResponse::parse(body)?)
            }
            _ => Message::Unknown {
                message_type,
                ies: walk(body, |_| Ok(false))?,
            },
        })
    }

    /// Emits the body (IEs only), in the order of the spec's tables, then the
    /// IEs not modelled as they came.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Message::HeartbeatRequest(m) => {
                m.recovery_time_stamp.emit(out);
                put_raw(out, &m.unknown);
            }
            Message::HeartbeatResponse(m) => {
                m.recovery_time_stamp.emit(out);
                put_raw(out, &m.unknown);
            }
            Message::AssociationSetupRequest(m) => {
                m.node_id.emit(out);
                m.recovery_time_stamp.emit(out);
                put_opt(out, &m.up_function_features);
                put_opt(out, &m.cp_function_features);
                put_all(out, &m.user_plane_ip_resource_information);
                put_raw(out, &m.unknown);
            }
            Message::AssociationSetupResponse(m) => {
                m.node_id.emit(out);
                CauseIe(m.cause).emit(out);
                m.recovery_time_stamp.emit(out);
                put_opt(out, &m.up_function_features);
                put_opt(out, &m.cp_function_features);
                put_all(out, &m.user_plane_ip_resource_information);
                put_raw(out, &m.unknown);
            }
            Message::AssociationUpdateRequest(m) => {
                m.node_id.emit(out);
                put_opt(out, &m.up_function_features);
                put_opt(out, &m.cp_function_features);
                put_octet(
                    out,
                    types::PFCP_ASSOCIATION_RELEASE_REQUEST,
                    m.association_release_request,
                );
                put_octet(
                    out,
                    types::GRACEFUL_RELEASE_PERIOD,
                    m.graceful_release_period,
                );
                put_raw(out, &m.unknown);
            }
            Message::AssociationUpdateResponse(m) => {
                m.node_id.emit(out);
                CauseIe(m.cause).emit(out);
                put_opt(out, &m.up_function_features);
                put_opt(out, &m.cp_function_features);
                put_raw(out, &m.unknown);
            }
            Message::AssociationReleaseRequest(m) => {
                m.node_id.emit(out);
                put_raw(out, &m.unknown);
            }
            Message::AssociationReleaseResponse(m) => {
                m.node_id.emit(out);
                CauseIe(m.cause).emit(out);
                put_raw(out, &m.unknown);
            }
            Message::VersionNotSupportedResponse => {}
            Message::NodeReportRequest(m) => {
                m.node_id.emit(out);
                m.node_report_type.emit(out);
                put_opt(out, &m.user_plane_path_failure_report);
                put_raw(out, &m.unknown);
            }
            Message::NodeReportResponse(m) => {
                m.node_id.emit(out);
                CauseIe(m.cause).emit(out);
                put_opt(out, &m.offending_ie);
                put_raw(out, &m.unknown);
            }
            Message::SessionEstablishmentRequest(m) => {
                m.node_id.emit(out);
                m.cp_f_seid.emit(out);
                put_all(out, &m.create_pdr);
                put_all(out, &m.create_far);
                put_all(out, &m.create_urr);
                put_all(out, &m.create_qer);
                put_opt(out, &m.pdn_type);
                put_raw(out, &m.unknown);
            }
            Message::SessionEstablishmentResponse(m) => {
                m.node_id.emit(out);
                CauseIe(m.cause).emit(out);
                put_opt(out, &m.offending_ie);
                put_opt(out, &m.up_f_seid);
                put_all(out, &m.created_pdr);
                put_opt(out, &m.load_control_information);
                put_opt(out, &m.overload_control_information);
                put_opt(out, &m.failed_rule_id);
                put_raw(out, &m.unknown);
            }
            Message::SessionModificationRequest(m) => {
                put_opt(out, &m.cp_f_seid);
                put_all(out, &m.remove_pdr);
                put_all(out, &m.remove_far);
                put_all(out, &m.remove_urr);
                put_all(out, &m.remove_qer);
                put_all(out, &m.create_pdr);
                put_all(out, &m.create_far);
                put_all(out, &m.create_urr);
                put_all(out, &m.create_qer);
                put_all(out, &m.update_pdr);
                put_all(out, &m.update_far);
                put_all(out, &m.update_urr);
                put_all(out, &m.update_qer);
                put_opt(out, &m.pfcpsm_req_flags);
                put_all(out, &m.query_urr);
                put_raw(out, &m.unknown);
            }
            Message::SessionModificationResponse(m) => {
                CauseIe(m.cause).emit(out);
                put_opt(out, &m.offending_ie);
                put_all(out, &m.created_pdr);
                put_opt(out, &m.load_control_information);
                put_opt(out, &m.overload_control_information);
                put_reports(out, UsageReportIn::Modification, &m.usage_report);
                put_opt(out, &m.failed_rule_id);
                put_raw(out, &m.unknown);
            }
            Message::SessionDeletionRequest(m) => put_raw(out, &m.unknown),
            Message::SessionDeletionResponse(m) => {
                CauseIe(m.cause).emit(out);
                put_opt(out, &m.offending_ie);
                put_opt(out, &m.load_control_information);
                put_opt(out, &m.overload_control_information);
                put_reports(out, UsageReportIn::Deletion, &m.usage_report);
                put_raw(out, &m.unknown);
            }
            Message::SessionReportRequest(m) => {
                m.report_type.emit(out);
                put_reports(out, UsageReportIn::Report, &m.usage_report);
                put_opt(out, &m.load_control_information);
                put_opt(out, &m.overload_control_information);
                put_raw(out, &m.unknown);
            }
            Message::SessionReportResponse(m) => {
                CauseIe(m.cause).emit(out);
                put_opt(out, &m.offending_ie);
                put_raw(out, &m.unknown);
            }
            Message::Unknown { ies, .. } => put_raw(out, ies),
        }
    }
}

/// Emits Usage Reports with the IE type of the message they travel in.
fn put_reports(out: &mut Vec<u8>, within: UsageReportIn, reports: &[UsageReport]) {
    for r in reports {
        r.emit(within, out);
    }
}

/// Emits a one-octet IE not modelled by a type of its own.
fn put_octet(out: &mut Vec<u8>, ie_type: u16, value: Option<u8>) {
    if let Some(v) = value {
        let start = begin(out, ie_type);
        out.push(v);
        finish(out, start);
    }
}

/// Parses a one-octet IE not modelled by a type of its own (first one kept).
fn first_octet(slot: &mut Option<u8>, ie: &IeRef<'_>) -> Result<bool, IeError> {
    if slot.is_some() {
        return Ok(false);
    }
    match ie.value.first() {
        Some(&v) => {
            *slot = Some(v);
            Ok(true)
        }
        None => Err(IeError::length(ie.ie_type)),
    }
}

/// Parses a Usage Report (first-class repeated IE whose type depends on the
/// message).
fn push_report(list: &mut Vec<UsageReport>, ie: &IeRef<'_>) -> Result<bool, IeError> {
    list.push(UsageReport::parse(ie.value)?);
    Ok(true)
}

/// The Cause IE of a response, as a [`crate::Cause`].
fn cause(slot: Option<CauseIe>) -> Result<crate::Cause, IeError> {
    required(slot, types::CAUSE).map(|c| c.0)
}

impl HeartbeatRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let mut rts = None;
        let unknown = walk(body, |ie| match ie.ie_type {
            types::RECOVERY_TIME_STAMP => first(&mut rts, ie),
            _ => Ok(false),
        })?;
        Ok(HeartbeatRequest {
            recovery_time_stamp: required(rts, types::RECOVERY_TIME_STAMP)?,
            unknown,
        })
    }
}

impl HeartbeatResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let HeartbeatRequest {
            recovery_time_stamp,
            unknown,
        } = HeartbeatRequest::parse(body)?;
        Ok(HeartbeatResponse {
            recovery_time_stamp,
            unknown,
        })
    }
}

impl AssociationSetupRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut rts, mut up, mut cp) = (None, None, None, None);
        let mut upiri = Vec::new();
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::RECOVERY_TIME_STAMP => first(&mut rts, ie),
            types::UP_FUNCTION_FEATURES => first(&mut up, ie),
            types::CP_FUNCTION_FEATURES => first(&mut cp, ie),
            types::USER_PLANE_IP_RESOURCE_INFORMATION => push(&mut upiri, ie),
            _ => Ok(false),
        })?;
        Ok(AssociationSetupRequest {
            node_id: required(node_id, types::NODE_ID)?,
            recovery_time_stamp: required(rts, types::RECOVERY_TIME_STAMP)?,
            up_function_features: up,
            cp_function_features: cp,
            user_plane_ip_resource_information: upiri,
            unknown,
        })
    }
}

impl AssociationSetupResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut c, mut rts, mut up, mut cp) = (None, None, None, None, None);
        let mut upiri = Vec::new();
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::CAUSE => first(&mut c, ie),
            types::RECOVERY_TIME_STAMP => first(&mut rts, ie),
            types::UP_FUNCTION_FEATURES => first(&mut up, ie),
            types::CP_FUNCTION_FEATURES => first(&mut cp, ie),
            types::USER_PLANE_IP_RESOURCE_INFORMATION => push(&mut upiri, ie),
            _ => Ok(false),
        })?;
        Ok(AssociationSetupResponse {
            node_id: required(node_id, types::NODE_ID)?,
            cause: cause(c)?,
            recovery_time_stamp: required(rts, types::RECOVERY_TIME_STAMP)?,
            up_function_features: up,
            cp_function_features: cp,
            user_plane_ip_resource_information: upiri,
            unknown,
        })
    }
}

impl AssociationUpdateRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut up, mut cp, mut release, mut grace) = (None, None, None, None, None);
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::UP_FUNCTION_FEATURES => first(&mut up, ie),
            types::CP_FUNCTION_FEATURES => first(&mut cp, ie),
            types::PFCP_ASSOCIATION_RELEASE_REQUEST => first_octet(&mut release, ie),
            types::GRACEFUL_RELEASE_PERIOD => first_octet(&mut grace, ie),
            _ => Ok(false),
        })?;
        Ok(AssociationUpdateRequest {
            node_id: required(node_id, types::NODE_ID)?,
            up_function_features: up,
            cp_function_features: cp,
            association_release_request: release,
            graceful_release_period: grace,
            unknown,
        })
    }
}

impl AssociationUpdateResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut c, mut up, mut cp) = (None, None, None, None);
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::CAUSE => first(&mut c, ie),
            types::UP_FUNCTION_FEATURES => first(&mut up, ie),
            types::CP_FUNCTION_FEATURES => first(&mut cp, ie),
            _ => Ok(false),
        })?;
        Ok(AssociationUpdateResponse {
            node_id: required(node_id, types::NODE_ID)?,
            cause: cause(c)?,
            up_function_features: up,
            cp_function_features: cp,
            unknown,
        })
    }
}

impl AssociationReleaseRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let mut node_id = None;
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            _ => Ok(false),
        })?;
        Ok(AssociationReleaseRequest {
            node_id: required(node_id, types::NODE_ID)?,
            unknown,
        })
    }
}

impl AssociationReleaseResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut c) = (None, None);
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::CAUSE => first(&mut c, ie),
            _ => Ok(false),
        })?;
        Ok(AssociationReleaseResponse {
            node_id: required(node_id, types::NODE_ID)?,
            cause: cause(c)?,
            unknown,
        })
    }
}

impl NodeReportRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut nrt, mut uppfr) = (None, None, None);
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::NODE_REPORT_TYPE => first(&mut nrt, ie),
            types::USER_PLANE_PATH_FAILURE_REPORT => first(&mut uppfr, ie),
            _ => Ok(false),
        })?;
        Ok(NodeReportRequest {
            node_id: required(node_id, types::NODE_ID)?,
            node_report_type: required(nrt, types::NODE_REPORT_TYPE)?,
            user_plane_path_failure_report: uppfr,
            unknown,
        })
    }
}

impl NodeReportResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut c, mut off) = (None, None, None);
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::CAUSE => first(&mut c, ie),
            types::OFFENDING_IE => first(&mut off, ie),
            _ => Ok(false),
        })?;
        Ok(NodeReportResponse {
            node_id: required(node_id, types::NODE_ID)?,
            cause: cause(c)?,
            offending_ie: off,
            unknown,
        })
    }
}

impl SessionEstablishmentRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut f_seid, mut pdn_type) = (None, None, None);
        let (mut pdrs, mut fars, mut urrs, mut qers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::F_SEID => first(&mut f_seid, ie),
            types::CREATE_PDR => push(&mut pdrs, ie),
            types::CREATE_FAR => push(&mut fars, ie),
            types::CREATE_URR => push(&mut urrs, ie),
            types::CREATE_QER => push(&mut qers, ie),
            types::PDN_TYPE => first(&mut pdn_type, ie),
            _ => Ok(false),
        })?;
        Ok(SessionEstablishmentRequest {
            node_id: required(node_id, types::NODE_ID)?,
            cp_f_seid: required(f_seid, types::F_SEID)?,
            create_pdr: one_or_more(pdrs, types::CREATE_PDR)?,
            create_far: one_or_more(fars, types::CREATE_FAR)?,
            create_urr: urrs,
            create_qer: qers,
            pdn_type,
            unknown,
        })
    }
}

impl SessionEstablishmentResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut node_id, mut c, mut off, mut f_seid) = (None, None, None, None);
        let (mut lci, mut oci, mut failed) = (None, None, None);
        let mut created = Vec::new();
        let unknown = walk(body, |ie| match ie.ie_type {
            types::NODE_ID => first(&mut node_id, ie),
            types::CAUSE => first(&mut c, ie),
            types::OFFENDING_IE => first(&mut off, ie),
            types::F_SEID => first(&mut f_seid, ie),
            types::CREATED_PDR => push(&mut created, ie),
            types::LOAD_CONTROL_INFORMATION => first(&mut lci, ie),
            types::OVERLOAD_CONTROL_INFORMATION => first(&mut oci, ie),
            types::FAILED_RULE_ID => first(&mut failed, ie),
            _ => Ok(false),
        })?;
        Ok(SessionEstablishmentResponse {
            node_id: required(node_id, types::NODE_ID)?,
            cause: cause(c)?,
            offending_ie: off,
            up_f_seid: f_seid,
            created_pdr: created,
            load_control_information: lci,
            overload_control_information: oci,
            failed_rule_id: failed,
            unknown,
        })
    }
}

impl SessionModificationRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let mut m = SessionModificationRequest::default();
        let (mut f_seid, mut flags) = (None, None);
        m.unknown = walk(body, |ie| match ie.ie_type {
            types::F_SEID => first(&mut f_seid, ie),
            types::REMOVE_PDR => push(&mut m.remove_pdr, ie),
            types::REMOVE_FAR => push(&mut m.remove_far, ie),
            types::REMOVE_URR => push(&mut m.remove_urr, ie),
            types::REMOVE_QER => push(&mut m.remove_qer, ie),
            types::CREATE_PDR => push(&mut m.create_pdr, ie),
            types::CREATE_FAR => push(&mut m.create_far, ie),
            types::CREATE_URR => push(&mut m.create_urr, ie),
            types::CREATE_QER => push(&mut m.create_qer, ie),
            types::UPDATE_PDR => push(&mut m.update_pdr, ie),
            types::UPDATE_FAR => push(&mut m.update_far, ie),
            types::UPDATE_URR => push(&mut m.update_urr, ie),
            types::UPDATE_QER => push(&mut m.update_qer, ie),
            types::PFCPSMREQ_FLAGS => first(&mut flags, ie),
            types::QUERY_URR => push(&mut m.query_urr, ie),
            _ => Ok(false),
        })?;
        m.cp_f_seid = f_seid;
        m.pfcpsm_req_flags = flags;
        Ok(m)
    }
}

impl SessionModificationResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut c, mut off, mut lci, mut oci, mut failed) = (None, None, None, None, None);
        let (mut created, mut reports) = (Vec::new(), Vec::new());
        let unknown = walk(body, |ie| match ie.ie_type {
            types::CAUSE => first(&mut c, ie),
            types::OFFENDING_IE => first(&mut off, ie),
            types::CREATED_PDR => push(&mut created, ie),
            types::LOAD_CONTROL_INFORMATION => first(&mut lci, ie),
            types::OVERLOAD_CONTROL_INFORMATION => first(&mut oci, ie),
            types::USAGE_REPORT_MODIFICATION => push_report(&mut reports, ie),
            types::FAILED_RULE_ID => first(&mut failed, ie),
            _ => Ok(false),
        })?;
        Ok(SessionModificationResponse {
            cause: cause(c)?,
            offending_ie: off,
            created_pdr: created,
            load_control_information: lci,
            overload_control_information: oci,
            usage_report: reports,
            failed_rule_id: failed,
            unknown,
        })
    }
}

impl SessionDeletionResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut c, mut off, mut lci, mut oci) = (None, None, None, None);
        let mut reports = Vec::new();
        let unknown = walk(body, |ie| match ie.ie_type {
            types::CAUSE => first(&mut c, ie),
            types::OFFENDING_IE => first(&mut off, ie),
            types::LOAD_CONTROL_INFORMATION => first(&mut lci, ie),
            types::OVERLOAD_CONTROL_INFORMATION => first(&mut oci, ie),
            types::USAGE_REPORT_DELETION => push_report(&mut reports, ie),
            _ => Ok(false),
        })?;
        Ok(SessionDeletionResponse {
            cause: cause(c)?,
            offending_ie: off,
            load_control_information: lci,
            overload_control_information: oci,
            usage_report: reports,
            unknown,
        })
    }
}

impl SessionReportRequest {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut rt, mut lci, mut oci) = (None, None, None);
        let mut reports = Vec::new();
        let unknown = walk(body, |ie| match ie.ie_type {
            types::REPORT_TYPE => first(&mut rt, ie),
            types::USAGE_REPORT_REPORT => push_report(&mut reports, ie),
            types::LOAD_CONTROL_INFORMATION => first(&mut lci, ie),
            types::OVERLOAD_CONTROL_INFORMATION => first(&mut oci, ie),
            _ => Ok(false),
        })?;
        Ok(SessionReportRequest {
            report_type: required(rt, types::REPORT_TYPE)?,
            usage_report: reports,
            load_control_information: lci,
            overload_control_information: oci,
            unknown,
        })
    }
}

impl SessionReportResponse {
    fn parse(body: &[u8]) -> Result<Self, IeError> {
        let (mut c, mut off) = (None, None);
        let unknown = walk(body, |ie| match ie.ie_type {
            types::CAUSE => first(&mut c, ie),
            types::OFFENDING_IE => first(&mut off, ie),
            _ => Ok(false),
        })?;
        Ok(SessionReportResponse {
            cause: cause(c)?,
            offending_ie: off,
            unknown,
        })
    }
}
