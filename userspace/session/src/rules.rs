//! A PFCP session's rules (PDR, FAR, QER, URR) as the UP function keeps
//! them, built and checked from the IEs, and compiled into the fast path's
//! entries: one uplink entry per local TEID, one downlink entry per UE
//! address, each with a default action and up to [`MAX_RULES`] filtered
//! rules in precedence order.
//!
//! What the fast path implements, and what is refused with a Failed Rule ID
//! rather than accepted and ignored:
//! - uplink PDRs (Source Interface ACCESS) with an F-TEID (fixed, or CHOOSE
//!   with a CHOOSE ID), Outer Header Removal GTP-U/UDP/IPv4, optional UE
//!   address (anti-spoofing), QFIs and IPv4 SDF filters; their FAR forwards
//!   to CORE / SGi-LAN (decapsulate and route) or drops;
//! - downlink PDRs (Source Interface CORE or SGi-LAN) keyed by the UE IPv4
//!   address, with IPv4 SDF filters; their FAR forwards to ACCESS with Outer
//!   Header Creation GTP-U/UDP/IPv4, or drops;
//! - Apply Action BUFF is accepted and drops (no buffering yet);
//! - QER gate status closed drops that direction (`gate_closed`); the QER's
//!   MBR is a rate meter per direction ([`Rules::meter_plan`]); the QER's QFI
//!   goes into the downlink PDU Session Container (a downlink FAR with a QFI
//!   is 5G);
//! - Activate / Deactivate Predefined Rules name MVNO plans (`[[plan]]`),
//!   resolved by the session manager;
//! - a URR whose quota is used up ([`Urr::blocks`]) makes its PDRs drop
//!   with `ACT_QUOTA_EXHAUSTED`;
//! - refused: IPv6 (outer or UE), N9 forwarding (an uplink FAR with Outer
//!   Header Creation), duplication, application IDs, SDF filters other than
//!   a flow description, CP-function and VN-internal interfaces.

use std::collections::BTreeMap;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use upf_pfcp::flow::{FlowAddress, FlowDescription};
use upf_pfcp::ie::{self, types, FailedRuleId};
use upf_pfcp::Cause;

use crate::vecmap::VecMap;
use upf_abi::{
    PdrAction, Rule, SdfMatch, ACT_5G, ACT_DROP, ACT_FORWARD, ACT_GATE_CLOSED, MAX_RULES, M_PORTS,
    M_PROTO, M_QFI,
};

pub use crate::types::{Direction, Reject};
pub use crate::urr::{Urr, VolumeLimit};

pub(crate) fn pdr_fail(id: u16, reason: impl Into<String>) -> Reject {
    Reject::rule(FailedRuleId::PDR, u32::from(id), reason)
}

fn far_fail(id: u32, reason: impl Into<String>) -> Reject {
    Reject::rule(FailedRuleId::FAR, id, reason)
}

/// How a PDR's local F-TEID is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeidSpec {
    /// The CP function assigned it.
    Fixed(u32),
    /// The UP function allocates it; PDRs with the same CHOOSE ID share one.
    Choose(Option<u8>),
}

/// How a PDR's UE address is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UeSpec {
    /// The CP function assigned it.
    Fixed(Ipv4Addr),
    /// The UP function allocates it from its pools.
    Choose,
}

/// A Packet Detection Rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pdr {
    /// PDR ID.
    pub id: u16,
    /// Precedence (lower wins).
    pub precedence: u32,
    /// Uplink or downlink.
    pub direction: Direction,
    /// Local F-TEID as requested (uplink).
    pub f_teid: Option<TeidSpec>,
    /// The local TEID in use (resolved from CHOOSE).
    pub teid: Option<u32>,
    /// UE address as requested.
    pub ue: Option<UeSpec>,
    /// The UE address in use (resolved from CHOOSE).
    pub ue_ipv4: Option<Ipv4Addr>,
    /// QFIs to match (uplink).
    pub qfis: Box<[u8]>,
    /// SDF filters, as flow descriptions. (Boxed slices and strings here
    /// and below: a million sessions hold two or more PDRs each, and a
    /// `Vec` or `String` carries a capacity word besides its length.)
    pub sdf_filters: Box<[Box<str>]>,
    #[serde(skip)]
    flows: Box<[FlowDescription]>,
    /// Network instance, as sent.
    pub network_instance: Option<Box<str>>,
    /// Outer Header Removal description.
    pub outer_header_removal: Option<u8>,
    /// FAR ID.
    pub far_id: u32,
    /// URR IDs.
    pub urr_ids: Box<[u32]>,
    /// QER IDs.
    pub qer_ids: Box<[u32]>,
    /// Names of the predefined rules (plans) it activates.
    pub predefined: Box<[String]>,
    /// Counter slot in the fast path.
    pub counter: u32,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Pdr {
    /// Builds a PDR from Create PDR (counter and resolved values unset).
    pub fn create(c: &ie::CreatePdr) -> Result<Pdr, Reject> {
        let id = c.pdr_id.0;
        // Predefined rules here are MVNO plans (rates, not FARs): the FAR ID
        // stays mandatory (TS 29.244 §7.5.2.2: C, absent only when a
        // predefined FAR is activated).
        let Some(far_id) = c.far_id.map(|f| f.0) else {
            return Err(Reject::ie(
                Cause::CONDITIONAL_IE_MISSING,
                types::FAR_ID,
                format!("PDR {id} has no FAR ID"),
            ));
        };
        let mut pdr = Pdr {
            id,
            precedence: c.precedence.0,
            direction: Direction::Uplink,
            f_teid: None,
            teid: None,
            ue: None,
            ue_ipv4: None,
            qfis: Box::new([]),
            sdf_filters: Box::new([]),
            flows: Box::new([]),
            network_instance: None,
            outer_header_removal: c.outer_header_removal.map(|o| o.description),
            far_id,
            urr_ids: c.urr_ids.iter().map(|u| u.0).collect(),
            qer_ids: c.qer_ids.iter().map(|q| q.0).collect(),
            predefined: c
                .activate_predefined_rules
                .iter()
                .map(|r| text(&r.0))
                .collect(),
            counter: 0,
        };
        pdr.set_pdi(&c.pdi)?;
        pdr.check_ohr()?;
        Ok(pdr)
    }

    /// Applies Update PDR.
    pub fn update(&mut self, u: &ie::UpdatePdr) -> Result<(), Reject> {
        if let Some(p) = u.precedence {
            self.precedence = p.0;
        }
        if let Some(f) = u.far_id {
            self.far_id = f.0;
        }
        if !u.urr_ids.is_empty() {
            self.urr_ids = u.urr_ids.iter().map(|x| x.0).collect();
        }
        if !u.qer_ids.is_empty() {
            self.qer_ids = u.qer_ids.iter().map(|x| x.0).collect();
        }
        if let Some(o) = u.outer_header_removal {
            self.outer_header_removal = Some(o.description);
        }
        let mut names: Vec<String> = self.predefined.to_vec();
        for d in &u.deactivate_predefined_rules {
            let n = text(&d.0);
            let Some(i) = names.iter().position(|x| *x == n) else {
                return Err(Reject {
                    offending_ie: Some(types::DEACTIVATE_PREDEFINED_RULES),
                    ..pdr_fail(
                        self.id,
                        format!("predefined rule {n:?} is not active on it"),
                    )
                });
            };
            names.remove(i);
        }
        for a in &u.activate_predefined_rules {
            let n = text(&a.0);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        self.predefined = names.into();
        if let Some(pdi) = &u.pdi {
            let (teid, ue) = (self.teid, self.ue_ipv4);
            self.set_pdi(pdi)?;
            // Keep what was allocated when the new PDI asks for the same thing.
            if self
                .f_teid
                .is_some_and(|t| matches!(t, TeidSpec::Choose(_)))
            {
                self.teid = teid;
            }
            if self.ue == Some(UeSpec::Choose) {
                self.ue_ipv4 = ue;
            }
        }
        self.check_ohr()
    }

    fn check_ohr(&self) -> Result<(), Reject> {
        match (self.direction, self.outer_header_removal) {
            (Direction::Uplink, Some(0) | Some(6)) => Ok(()),
            (Direction::Uplink, None) => Err(pdr_fail(
                self.id,
                "an uplink PDR without Outer Header Removal would relay G-PDUs (N9): not supported",
            )),
            (Direction::Uplink, Some(d)) => Err(pdr_fail(
                self.id,
                format!("Outer Header Removal {d}: only GTP-U/UDP/IPv4 is supported"),
            )),
            (Direction::Downlink, None) => Ok(()),
            (Direction::Downlink, Some(d)) => Err(pdr_fail(
                self.id,
                format!("Outer Header Removal {d} on a downlink PDR is not supported"),
            )),
        }
    }

    fn set_pdi(&mut self, pdi: &ie::Pdi) -> Result<(), Reject> {
        let id = self.id;
        self.direction = match pdi.source_interface.0 {
            ie::interface::ACCESS => Direction::Uplink,
            ie::interface::CORE | ie::interface::SGI_LAN => Direction::Downlink,
            other => {
                return Err(pdr_fail(
                    id,
                    format!(
                        "Source Interface {other} is not supported (ACCESS, CORE, SGi-LAN are)"
                    ),
                ))
            }
        };
        self.network_instance = pdi.network_instance.as_ref().map(|n| text(&n.0).into());
        self.f_teid = match (&pdi.f_teid, self.direction) {
            (None, Direction::Uplink) => {
                return Err(pdr_fail(id, "an uplink PDR needs a local F-TEID"))
            }
            (None, Direction::Downlink) => None,
            (Some(_), Direction::Downlink) => {
                return Err(pdr_fail(
                    id,
                    "a local F-TEID on a downlink PDR (N9 / UL CL) is not supported",
                ))
            }
            (Some(f), Direction::Uplink) if f.choose => {
                if !f.choose_v4 {
                    return Err(Reject::ie(
                        Cause::INVALID_F_TEID_ALLOCATION_OPTION,
                        types::F_TEID,
                        format!("PDR {id}: CHOOSE without IPv4; only IPv4 F-TEIDs are supported"),
                    ));
                }
                Some(TeidSpec::Choose(f.choose_id))
            }
            (Some(f), Direction::Uplink) => match (f.teid, f.ipv4) {
                (Some(0), _) => return Err(pdr_fail(id, "TEID 0 is reserved for path signalling")),
                (Some(t), Some(_)) => Some(TeidSpec::Fixed(t)),
                (_, None) => {
                    return Err(pdr_fail(
                        id,
                        "the F-TEID has no IPv4 address; only IPv4 is supported",
                    ))
                }
                (None, _) => {
                    return Err(Reject::ie(
                        Cause::MANDATORY_IE_INCORRECT,
                        types::F_TEID,
                        "F-TEID without TEID or CHOOSE",
                    ))
                }
            },
        };
        self.teid = match self.f_teid {
            Some(TeidSpec::Fixed(t)) => Some(t),
            _ => None,
        };
        self.ue = match &pdi.ue_ip_address {
            None if self.direction == Direction::Downlink => {
                return Err(pdr_fail(id, "a downlink PDR needs the UE IP Address"))
            }
            None => None,
            Some(u) => {
                let want_dest = self.direction == Direction::Downlink;
                if u.destination != want_dest {
                    return Err(pdr_fail(
                        id,
                        if want_dest {
                            "UE IP Address on a downlink PDR must be a destination (S/D = 1)"
                        } else {
                            "UE IP Address on an uplink PDR must be a source (S/D = 0)"
                        },
                    ));
                }
                match (u.ipv4, u.choose_v4) {
                    (_, true) => Some(UeSpec::Choose),
                    (Some(a), false) => {
                        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
                            return Err(Reject::ie(
                                Cause::MANDATORY_IE_INCORRECT,
                                types::UE_IP_ADDRESS,
                                format!("PDR {id}: UE address {a} is not unicast"),
                            ));
                        }
                        Some(UeSpec::Fixed(a))
                    }
                    (None, false) => {
                        return Err(pdr_fail(id, "only IPv4 UE addresses are supported"))
                    }
                }
            }
        };
        self.ue_ipv4 = match self.ue {
            Some(UeSpec::Fixed(a)) => Some(a),
            _ => None,
        };
        if self.direction == Direction::Downlink && !pdi.qfis.is_empty() {
            return Err(pdr_fail(
                id,
                "QFI matching on a downlink PDR is not supported",
            ));
        }
        self.qfis = pdi.qfis.iter().map(|q| q.0).collect();
        if pdi.application_id.is_some() {
            return Err(pdr_fail(
                id,
                "application detection (Application ID) is not supported",
            ));
        }
        let mut sdf_filters = Vec::with_capacity(pdi.sdf_filters.len());
        let mut flows = Vec::with_capacity(pdi.sdf_filters.len());
        for f in &pdi.sdf_filters {
            let Some(fd) = &f.flow_description else {
                return Err(pdr_fail(
                    id,
                    "an SDF filter without a flow description is not supported",
                ));
            };
            if f.tos_traffic_class.is_some()
                || f.security_parameter_index.is_some()
                || f.flow_label.is_some()
            {
                return Err(pdr_fail(
                    id,
                    "SDF filters on ToS, SPI or flow label are not supported",
                ));
            }
            let flow = FlowDescription::parse(fd).map_err(|e| pdr_fail(id, e.to_string()))?;
            if !flow.permit || !flow.out {
                return Err(pdr_fail(
                    id,
                    "a flow description must be \"permit out\" (TS 29.212 §5.4.2)",
                ));
            }
            sdf_filters.push(fd.as_str().into());
            flows.push(flow);
        }
        self.sdf_filters = sdf_filters.into_boxed_slice();
        self.flows = flows.into_boxed_slice();
        Ok(())
    }

    /// Parses the SDF filters again into the flows the fast path's rules
    /// are compiled from (a PDR read back from the session store keeps
    /// only their text).
    pub fn restore_flows(&mut self) -> Result<(), String> {
        self.flows = self
            .sdf_filters
            .iter()
            .map(|f| FlowDescription::parse(f).map_err(|e| format!("PDR {}: {f:?}: {e}", self.id)))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// True when the PDR matches every packet of its key (no filter, no QFI).
    pub fn is_catch_all(&self) -> bool {
        self.flows.is_empty() && self.qfis.is_empty()
    }

    /// The fast-path matches this PDR expands to (one per SDF filter, port
    /// range and QFI combination).
    fn matches(&self, ue: Option<Ipv4Addr>) -> Vec<SdfMatch> {
        let mut base = Vec::new();
        if self.flows.is_empty() {
            base.push(SdfMatch::ANY);
        }
        for f in &self.flows {
            // TS 29.244 §5.2.1A.2A: flow descriptions are written for the
            // downlink; for an uplink PDR source and destination swap.
            let (src, sports, dst, dports) = match self.direction {
                Direction::Downlink => (f.src, &f.src_ports, f.dst, &f.dst_ports),
                Direction::Uplink => (f.dst, &f.dst_ports, f.src, &f.src_ports),
            };
            let (s, sm) = addr(src, ue);
            let (d, dm) = addr(dst, ue);
            let full = [(0u16, u16::MAX)];
            let sp: &[(u16, u16)] = if sports.is_empty() { &full } else { sports };
            let dp: &[(u16, u16)] = if dports.is_empty() { &full } else { dports };
            let ports = !sports.is_empty() || !dports.is_empty();
            for &(slo, shi) in sp {
                for &(dlo, dhi) in dp {
                    let mut m = SdfMatch {
                        src_be: s.to_be(),
                        src_mask_be: sm.to_be(),
                        dst_be: d.to_be(),
                        dst_mask_be: dm.to_be(),
                        sport_lo: slo,
                        sport_hi: shi,
                        dport_lo: dlo,
                        dport_hi: dhi,
                        ..SdfMatch::ANY
                    };
                    if let Some(p) = f.protocol {
                        m.proto = p;
                        m.flags |= M_PROTO;
                    }
                    if ports {
                        m.flags |= M_PORTS;
                    }
                    base.push(m);
                }
            }
        }
        if self.qfis.is_empty() {
            return base;
        }
        let mut out = Vec::with_capacity(base.len() * self.qfis.len());
        for &q in &self.qfis {
            for m in &base {
                let mut m = *m;
                m.qfi = q;
                m.flags |= M_QFI;
                out.push(m);
            }
        }
        out
    }
}

/// (value, mask) in host order.
fn addr(a: FlowAddress, ue: Option<Ipv4Addr>) -> (u32, u32) {
    match a {
        FlowAddress::Any => (0, 0),
        FlowAddress::Assigned => ue.map_or((0, 0), |u| (u32::from(u), u32::MAX)),
        FlowAddress::V4(a, len) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            (u32::from(a) & mask, mask)
        }
    }
}

/// A GTP-U tunnel toward the host network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    /// The peer's TEID.
    pub teid: u32,
    /// The peer's address.
    pub ipv4: Ipv4Addr,
}

/// A Forwarding Action Rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Far {
    /// FAR ID.
    pub id: u32,
    /// Apply Action bits (TS 29.244 §8.2.26).
    pub apply_action: u16,
    /// Destination Interface.
    pub destination_interface: Option<u8>,
    /// Outer Header Creation, GTP-U/UDP/IPv4 only.
    pub outer_header_creation: Option<Tunnel>,
    /// Network instance, as sent.
    pub network_instance: Option<String>,
}

fn check_action(id: u32, a: u16) -> Result<(), Reject> {
    use ie::ApplyAction as A;
    if a & A::DUPL != 0 {
        return Err(far_fail(id, "duplication (DUPL) is not supported"));
    }
    let main = a & (A::DROP | A::FORW | A::BUFF);
    if main.count_ones() != 1 {
        return Err(Reject::ie(
            Cause::MANDATORY_IE_INCORRECT,
            types::APPLY_ACTION,
            format!("FAR {id}: Apply Action {a:#x} must set exactly one of DROP, FORW, BUFF"),
        ));
    }
    Ok(())
}

fn tunnel(id: u32, o: &ie::OuterHeaderCreation) -> Result<Tunnel, Reject> {
    if o.description & ie::OuterHeaderCreation::GTPU_UDP_IPV4 == 0 {
        return Err(far_fail(
            id,
            format!(
                "Outer Header Creation {:#06x}: only GTP-U/UDP/IPv4 is supported",
                o.description
            ),
        ));
    }
    match (o.teid, o.ipv4) {
        (Some(0), _) => Err(far_fail(id, "Outer Header Creation with TEID 0")),
        (Some(teid), Some(ipv4))
            if !ipv4.is_unspecified() && !ipv4.is_broadcast() && !ipv4.is_multicast() =>
        {
            Ok(Tunnel { teid, ipv4 })
        }
        _ => Err(far_fail(
            id,
            "Outer Header Creation needs a TEID and a unicast IPv4 address",
        )),
    }
}

/// The destinations the fast path forwards to: Access (into a GTP-U
/// tunnel), Core and SGi-LAN/N6-LAN (routed out of N6). CP-function (3), LI
/// function (4), 5G VN internal (5) and the spare values (§8.2.24) are
/// refused: forwarding them as if they were Core would send traffic where
/// the CP function did not ask.
fn check_destination(id: u32, d: u8) -> Result<(), Reject> {
    match d {
        ie::interface::ACCESS | ie::interface::CORE | ie::interface::SGI_LAN => Ok(()),
        other => Err(far_fail(
            id,
            format!("Destination Interface {other} is not supported (ACCESS, CORE, SGi-LAN are)"),
        )),
    }
}

impl Far {
    /// Builds a FAR from Create FAR.
    pub fn create(c: &ie::CreateFar) -> Result<Far, Reject> {
        let id = c.far_id.0;
        check_action(id, c.apply_action.0)?;
        let fp = c.forwarding_parameters.as_ref();
        if c.apply_action.0 & ie::ApplyAction::FORW != 0 && fp.is_none() {
            return Err(Reject::ie(
                Cause::CONDITIONAL_IE_MISSING,
                types::FORWARDING_PARAMETERS,
                format!("FAR {id} forwards (FORW) without Forwarding Parameters"),
            ));
        }
        if let Some(f) = fp {
            check_destination(id, f.destination_interface.0)?;
        }
        Ok(Far {
            id,
            apply_action: c.apply_action.0,
            destination_interface: fp.map(|f| f.destination_interface.0),
            outer_header_creation: fp
                .and_then(|f| f.outer_header_creation.as_ref())
                .map(|o| tunnel(id, o))
                .transpose()?,
            network_instance: fp
                .and_then(|f| f.network_instance.as_ref())
                .map(|n| text(&n.0)),
        })
    }

    /// Applies Update FAR; returns true when the request asks for End
    /// Markers on the old tunnel (SNDEM).
    pub fn update(&mut self, u: &ie::UpdateFar) -> Result<bool, Reject> {
        if let Some(a) = u.apply_action {
            check_action(self.id, a.0)?;
            self.apply_action = a.0;
        }
        let mut sndem = false;
        if let Some(p) = &u.update_forwarding_parameters {
            if let Some(d) = p.destination_interface {
                check_destination(self.id, d.0)?;
                self.destination_interface = Some(d.0);
            }
            if let Some(o) = &p.outer_header_creation {
                self.outer_header_creation = Some(tunnel(self.id, o)?);
            }
            if let Some(n) = &p.network_instance {
                self.network_instance = Some(text(&n.0));
            }
            sndem = p
                .pfcpsm_req_flags
                .is_some_and(|f| f.0 & ie::PfcpsmReqFlags::SNDEM != 0);
        }
        if self.apply_action & ie::ApplyAction::FORW != 0 && self.destination_interface.is_none() {
            return Err(Reject::ie(
                Cause::CONDITIONAL_IE_MISSING,
                types::FORWARDING_PARAMETERS,
                format!("FAR {} forwards (FORW) without a destination", self.id),
            ));
        }
        Ok(sndem)
    }
}

/// A QoS Enforcement Rule. Enforced: gate status, MBR (a rate meter per
/// direction, see [`Rules::meter_plan`]) and QFI; GBR is stored and
/// reported but not reserved (the fast path has no scheduler to reserve it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Qer {
    /// QER ID.
    pub id: u32,
    /// Uplink gate open.
    pub ul_open: bool,
    /// Downlink gate open.
    pub dl_open: bool,
    /// MBR, kbit/s (uplink, downlink).
    pub mbr_kbps: Option<(u64, u64)>,
    /// GBR, kbit/s (uplink, downlink).
    pub gbr_kbps: Option<(u64, u64)>,
    /// QFI.
    pub qfi: Option<u8>,
    /// QER correlation ID.
    pub correlation_id: Option<u32>,
}

impl Qer {
    /// Builds a QER from Create QER.
    pub fn create(c: &ie::CreateQer) -> Qer {
        Qer {
            id: c.qer_id.0,
            ul_open: c.gate_status.ul == 0,
            dl_open: c.gate_status.dl == 0,
            mbr_kbps: c.mbr.map(|m| (m.0.ul, m.0.dl)),
            gbr_kbps: c.gbr.map(|m| (m.0.ul, m.0.dl)),
            qfi: c.qfi.map(|q| q.0),
            correlation_id: c.qer_correlation_id.map(|q| q.0),
        }
    }

    /// Applies Update QER.
    pub fn update(&mut self, u: &ie::UpdateQer) {
        if let Some(g) = u.gate_status {
            self.ul_open = g.ul == 0;
            self.dl_open = g.dl == 0;
        }
        if let Some(m) = u.mbr {
            self.mbr_kbps = Some((m.0.ul, m.0.dl));
        }
        if let Some(m) = u.gbr {
            self.gbr_kbps = Some((m.0.ul, m.0.dl));
        }
        if let Some(q) = u.qfi {
            self.qfi = Some(q.0);
        }
        if let Some(c) = u.qer_correlation_id {
            self.correlation_id = Some(c.0);
        }
    }
}

/// A session's rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// PDRs by ID.
    pub pdrs: VecMap<u16, Pdr>,
    /// FARs by ID.
    pub fars: VecMap<u32, Far>,
    /// QERs by ID.
    pub qers: VecMap<u32, Qer>,
    /// URRs by ID.
    pub urrs: VecMap<u32, Urr>,
}

/// One fast-path key's compiled state: the default action and the filtered
/// rules in precedence order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// Uplink: the UE address for anti-spoofing (0 = none); unused downlink.
    pub ue_ipv4: Option<Ipv4Addr>,
    /// What a packet no filtered rule matches gets.
    pub default: PdrAction,
    /// The filtered rules, best first.
    pub rules: Vec<Rule>,
}

/// The fast-path state a session's rules compile to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Per local TEID.
    pub uplink: BTreeMap<u32, Compiled>,
    /// Per UE address.
    pub downlink: BTreeMap<Ipv4Addr, Compiled>,
}

impl Rules {
    /// Checks that every reference resolves and every PDR's FAR fits its direction.
    pub fn check(&self) -> Result<(), Reject> {
        for p in self.pdrs.values() {
            let Some(far) = self.fars.get(&p.far_id) else {
                return Err(pdr_fail(p.id, format!("FAR {} does not exist", p.far_id)));
            };
            if let Some(q) = p.qer_ids.iter().find(|q| !self.qers.contains_key(q)) {
                return Err(pdr_fail(p.id, format!("QER {q} does not exist")));
            }
            if let Some(u) = p.urr_ids.iter().find(|u| !self.urrs.contains_key(u)) {
                return Err(pdr_fail(p.id, format!("URR {u} does not exist")));
            }
            if far.apply_action & ie::ApplyAction::FORW != 0 {
                match p.direction {
                    Direction::Uplink => {
                        if far.outer_header_creation.is_some() {
                            return Err(far_fail(
                                far.id,
                                "forwarding uplink into another GTP-U tunnel (N9) is not supported",
                            ));
                        }
                        if far.destination_interface == Some(ie::interface::ACCESS) {
                            return Err(far_fail(far.id, "uplink FAR with destination ACCESS"));
                        }
                    }
                    Direction::Downlink => {
                        if far.outer_header_creation.is_none() {
                            return Err(Reject::ie(
                                Cause::CONDITIONAL_IE_MISSING,
                                types::OUTER_HEADER_CREATION,
                                format!(
                                    "downlink FAR {} forwards without Outer Header Creation",
                                    far.id
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn action(&self, p: &Pdr, meter: u32) -> PdrAction {
        let far = &self.fars[&p.far_id];
        let qers: Vec<&Qer> = p.qer_ids.iter().filter_map(|q| self.qers.get(q)).collect();
        let gate_open = qers.iter().all(|q| match p.direction {
            Direction::Uplink => q.ul_open,
            Direction::Downlink => q.dl_open,
        });
        let mut a = PdrAction {
            counter: p.counter,
            ..PdrAction::default()
        };
        if far.apply_action & ie::ApplyAction::FORW == 0 {
            a.flags = ACT_DROP;
            return a;
        }
        if !gate_open {
            a.flags = ACT_DROP | ACT_GATE_CLOSED;
            return a;
        }
        if p.urr_ids
            .iter()
            .any(|u| self.urrs.get(u).is_some_and(Urr::blocks))
        {
            a.flags = ACT_DROP | upf_abi::ACT_QUOTA_EXHAUSTED;
            return a;
        }
        a.flags = ACT_FORWARD;
        a.meter = meter;
        if let (Direction::Downlink, Some(t)) = (p.direction, far.outer_header_creation) {
            a.peer_ipv4_be = u32::from(t.ipv4).to_be();
            a.remote_teid_be = t.teid.to_be();
            if let Some(qfi) = qers.iter().find_map(|q| q.qfi) {
                a.flags |= ACT_5G;
                a.qfi = qfi;
            }
        }
        a
    }

    /// The session's UE address: from any PDR that has one.
    pub fn ue_ipv4(&self) -> Option<Ipv4Addr> {
        self.pdrs.values().find_map(|p| p.ue_ipv4)
    }

    /// Compiles the rules into fast-path entries without rate meters. Call
    /// [`Rules::check`] first.
    pub fn compile(&self) -> Result<Desired, Reject> {
        self.compile_with(&|_| 0)
    }

    /// Compiles the rules into fast-path entries; `meter(pdr)` is the first
    /// meter (index + 1, 0: none) of a PDR's packets. Call [`Rules::check`] first.
    pub fn compile_with(&self, meter: &dyn Fn(u16) -> u32) -> Result<Desired, Reject> {
        let mut by_key: BTreeMap<(bool, u32), Vec<&Pdr>> = BTreeMap::new();
        for p in self.pdrs.values() {
            let key = match p.direction {
                Direction::Uplink => (false, p.teid.unwrap_or(0)),
                Direction::Downlink => (true, p.ue_ipv4.map_or(0, u32::from)),
            };
            if key.1 == 0 {
                return Err(pdr_fail(p.id, "no local TEID / UE address resolved"));
            }
            by_key.entry(key).or_default().push(p);
        }
        let session_ue = self.ue_ipv4();
        let mut out = Desired::default();
        for ((down, k), mut pdrs) in by_key {
            pdrs.sort_by_key(|p| (p.precedence, p.id));
            let mut c = Compiled::default();
            let ue = if down {
                Some(Ipv4Addr::from(k))
            } else {
                let mut ues = pdrs.iter().filter_map(|p| p.ue_ipv4);
                let first = ues.next();
                if let Some(other) = ues.find(|u| Some(*u) != first) {
                    return Err(pdr_fail(
                        pdrs[0].id,
                        format!("PDRs on TEID {k:#x} name different UE addresses ({other})"),
                    ));
                }
                first.or(session_ue)
            };
            c.ue_ipv4 = ue;
            for p in pdrs {
                let action = self.action(p, meter(p.id));
                if p.is_catch_all() {
                    c.default = action;
                    break; // PDRs of lower precedence can never match
                }
                for m in p.matches(ue) {
                    if c.rules.len() == MAX_RULES {
                        return Err(pdr_fail(
                            p.id,
                            format!(
                                "more than {MAX_RULES} filters (SDF filters x port ranges x QFIs) on one {}",
                                if down { "UE address" } else { "TEID" }
                            ),
                        ));
                    }
                    c.rules.push(Rule { m, action });
                }
            }
            if down {
                out.downlink.insert(Ipv4Addr::from(k), c);
            } else {
                out.uplink.insert(k, c);
            }
        }
        Ok(out)
    }
}

// ---- rate meters: which QER MBR limits which PDR ----
