//! The small types every part of the session core shares, and its users
//! with it: the traffic [`Direction`], the [`Reject`] a refused request
//! carries (cause, offending IE, failed rule), an IPv4 prefix
//! ([`Ipv4Net`]), and NTP time as PFCP counts it.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_pfcp::ie::{types, FailedRuleId};
use upf_pfcp::Cause;

/// Seconds from the NTP era (1900) to the Unix epoch (1970).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// NTP seconds (PFCP's time stamps, TS 29.244 §8.2.37) for Unix seconds.
pub fn ntp_from_unix(unix: u64) -> u32 {
    (unix + NTP_UNIX_OFFSET) as u32
}

/// Unix seconds now (0 before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// NTP seconds now.
pub fn now_ntp() -> u32 {
    ntp_from_unix(unix_now())
}

/// Traffic direction of a PDR, from its Source Interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From ACCESS: G-PDUs to decapsulate.
    Uplink,
    /// From CORE / SGi-LAN: packets for a UE to encapsulate.
    Downlink,
}

/// Why a request is refused: the cause and what to name in the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The cause.
    pub cause: Cause,
    /// Offending IE, for causes about an IE.
    pub offending_ie: Option<u16>,
    /// Failed Rule ID, with Rule creation/modification failure.
    pub failed_rule: Option<FailedRuleId>,
    /// For the log and `upfctl`.
    pub reason: String,
}

impl Reject {
    /// Rule creation/modification failure naming the rule.
    pub fn rule(rule_type: u8, id: u32, reason: impl Into<String>) -> Reject {
        Reject {
            cause: Cause::RULE_CREATION_MODIFICATION_FAILURE,
            offending_ie: None,
            failed_rule: Some(FailedRuleId { rule_type, id }),
            reason: reason.into(),
        }
    }

    /// A cause with an offending IE.
    pub fn ie(cause: Cause, ie_type: u16, reason: impl Into<String>) -> Reject {
        Reject {
            cause,
            offending_ie: Some(ie_type),
            failed_rule: None,
            reason: reason.into(),
        }
    }

    /// A cause alone.
    pub fn cause(cause: Cause, reason: impl Into<String>) -> Reject {
        Reject {
            cause,
            offending_ie: None,
            failed_rule: None,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.cause, self.reason)?;
        if let Some(r) = self.failed_rule {
            let kind = ["PDR", "FAR", "QER", "URR", "BAR"]
                .get(usize::from(r.rule_type))
                .unwrap_or(&"rule");
            write!(f, " ({kind} {})", r.id)?;
        }
        if let Some(ie) = self.offending_ie {
            write!(f, " (IE {ie} {})", types::name(ie))?;
        }
        Ok(())
    }
}

/// An IPv4 prefix, `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    /// The network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Ipv4Net {
    /// The mask.
    pub fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// True when `a` is inside.
    pub fn contains(self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.addr) & self.mask()
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

impl std::str::FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 prefix (a.b.c.d/len)"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{s:?}: prefix length must be 0..=32"))?;
        let n = Ipv4Net { addr, len };
        if u32::from(addr) & !n.mask() != 0 {
            return Err(format!(
                "{s:?}: host bits set (did you mean {}/{len}?)",
                Ipv4Addr::from(u32::from(addr) & n.mask())
            ));
        }
        Ok(n)
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_with_reasons() {
        assert!("10.45.0.0/16".parse::<Ipv4Net>().is_ok());
        assert!("10.45.0.1/16"
            .parse::<Ipv4Net>()
            .unwrap_err()
            .contains("host bits"));
        assert!("10.45.0.0/33"
            .parse::<Ipv4Net>()
            .unwrap_err()
            .contains("0..=32"));
        assert!("x"
            .parse::<Ipv4Net>()
            .unwrap_err()
            .contains("not an IPv4 prefix"));
    }
}
