//! The Cause IE values (TS 29.244 §8.2.1, Table 8.2.1-1).

/// A Cause value. Unknown values are kept as they came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cause(pub u8);

impl Cause {
    /// Request accepted (success).
    pub const REQUEST_ACCEPTED: Cause = Cause(1);
    /// More Usage Report to send.
    pub const MORE_USAGE_REPORT_TO_SEND: Cause = Cause(2);
    /// Request rejected (reason not specified).
    pub const REQUEST_REJECTED: Cause = Cause(64);
    /// Session context not found.
    pub const SESSION_CONTEXT_NOT_FOUND: Cause = Cause(65);
    /// Mandatory IE missing.
    pub const MANDATORY_IE_MISSING: Cause = Cause(66);
    /// Conditional IE missing.
    pub const CONDITIONAL_IE_MISSING: Cause = Cause(67);
    /// Invalid length.
    pub const INVALID_LENGTH: Cause = Cause(68);
    /// Mandatory IE incorrect.
    pub const MANDATORY_IE_INCORRECT: Cause = Cause(69);
    /// Invalid Forwarding Policy.
    pub const INVALID_FORWARDING_POLICY: Cause = Cause(70);
    /// Invalid F-TEID allocation option.
    pub const INVALID_F_TEID_ALLOCATION_OPTION: Cause = Cause(71);
    /// No established PFCP Association.
    pub const NO_ESTABLISHED_PFCP_ASSOCIATION: Cause = Cause(72);
    /// Rule creation/modification Failure.
    pub const RULE_CREATION_MODIFICATION_FAILURE: Cause = Cause(73);
    /// PFCP entity in congestion.
    pub const PFCP_ENTITY_IN_CONGESTION: Cause = Cause(74);
    /// No resources available.
    pub const NO_RESOURCES_AVAILABLE: Cause = Cause(75);
    /// Service not supported.
    pub const SERVICE_NOT_SUPPORTED: Cause = Cause(76);
    /// System failure.
    pub const SYSTEM_FAILURE: Cause = Cause(77);
    /// Redirection Requested.
    pub const REDIRECTION_REQUESTED: Cause = Cause(78);
    /// All dynamic addresses are occupied.
    pub const ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED: Cause = Cause(79);

    /// True for the acceptance values (1..=63).
    pub fn is_accepted(self) -> bool {
        (1..64).contains(&self.0)
    }

    /// The spec's name of the value, or "unknown".
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "Request accepted",
            2 => "More Usage Report to send",
            64 => "Request rejected",
            65 => "Session context not found",
            66 => "Mandatory IE missing",
            67 => "Conditional IE missing",
            68 => "Invalid length",
            69 => "Mandatory IE incorrect",
            70 => "Invalid Forwarding Policy",
            71 => "Invalid F-TEID allocation option",
            72 => "No established PFCP Association",
            73 => "Rule creation/modification Failure",
            74 => "PFCP entity in congestion",
            75 => "No resources available",
            76 => "Service not supported",
            77 => "System failure",
            78 => "Redirection Requested",
            79 => "All dynamic addresses are occupied",
            _ => "unknown",
        }
    }
}

impl core::fmt::Display for Cause {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
