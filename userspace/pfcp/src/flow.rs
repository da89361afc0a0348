//! Flow Description of an SDF Filter: the IPFilterRule of RFC 6733 §4.3.3
//! as profiled by TS 29.212 §5.4.2 and TS 29.244 §8.2.5.
//!
//! `permit out <proto> from <src> [ports] to <dst> [ports]`, where an address
//! is `any`, `assigned` (the UE address), `a.b.c.d` or `a.b.c.d/len`, ports a
//! list of `n` or `lo-hi`. Written from the network's view: "out" means
//! toward the UE, so `from` is the remote side and `to` the UE. For an
//! uplink PDR the UP function applies it with source and destination swapped
//! (TS 29.244 §5.2.1A.2A).

use std::net::Ipv4Addr;

/// One address side of a flow description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowAddress {
    /// `any`.
    Any,
    /// `assigned`: the UE's address.
    Assigned,
    /// An IPv4 network (address and prefix length 0..=32).
    V4(Ipv4Addr, u8),
}

/// A parsed IPv4 flow description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowDescription {
    /// `permit` (true) or `deny`.
    pub permit: bool,
    /// `out` (true; the only direction TS 29.212 allows) or `in`.
    pub out: bool,
    /// IP protocol number, `None` for `ip` (any).
    pub protocol: Option<u8>,
    /// The `from` side (remote, in the "out" direction).
    pub src: FlowAddress,
    /// Port ranges of the `from` side (inclusive); empty means any.
    pub src_ports: Vec<(u16, u16)>,
    /// The `to` side (the UE).
    pub dst: FlowAddress,
    /// Port ranges of the `to` side (inclusive); empty means any.
    pub dst_ports: Vec<(u16, u16)>,
}

/// Why a flow description was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowError(pub String);

impl core::fmt::Display for FlowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "flow description: {}", self.0)
    }
}

impl std::error::Error for FlowError {}
