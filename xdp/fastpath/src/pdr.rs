//! PDR selection: which rule of a session's [`RuleSet`] a packet takes.
//!
//! The fast path looks a session up by TEID (uplink) or UE address
//! (downlink); if its entry names a rule set, the rules are tried best
//! precedence first and the first whose [`SdfMatch`] holds gives the action,
//! otherwise the entry's default action applies. The loop has a constant
//! bound ([`MAX_RULES`]) and a `len` beyond it is clamped, so a corrupt rule
//! set can never make the program read past the map value.

use upf_abi::{PdrAction, RuleSet, SdfMatch, MAX_RULES, M_PORTS, M_PROTO, M_QFI};

use crate::ipv4::Ipv4;
use crate::mem::load;

/// IP protocol numbers whose header starts with a source and destination port.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// SCTP.
pub const PROTO_SCTP: u8 = 132;

/// The QFI of an uplink packet without a PDU Session Container: equals no
/// rule's QFI (a QFI has 6 bits).
pub const NO_QFI: u8 = 0xff;

/// The fields of an inner packet the rules look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Source address (`_be`).
    pub src_be: u32,
    /// Destination address (`_be`).
    pub dst_be: u32,
    /// IP protocol.
    pub proto: u8,
    /// Uplink: the PDU Session Container's QFI, or [`NO_QFI`].
    pub qfi: u8,
    /// Match flags this direction does not evaluate (downlink: [`M_QFI`]).
    pub ignore: u8,
    /// True when the packet has TCP/UDP/SCTP ports (and is not a non-first fragment).
    pub has_ports: bool,
    /// Source port (host order), valid with `has_ports`.
    pub sport: u16,
    /// Destination port (host order), valid with `has_ports`.
    pub dport: u16,
}

/// Reads the inner packet's L4 ports once: `Some((sport, dport))` only for
/// TCP, UDP and SCTP, when the datagram is not a non-first fragment and the
/// four octets lie inside both the frame and the datagram.
///
/// # Safety
/// `[ip_start, end)` must be readable.
#[inline(always)]
pub unsafe fn ports(ip_start: usize, ip: &Ipv4, end: usize) -> Option<(u16, u16)> {
    if !matches!(ip.proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        return None;
    }
    if ip.frag & 0x1fff != 0 || ip.header_len + 4 > ip.total_len as usize {
        return None;
    }
    let l4 = crate::mem::advance(ip_start, ip.header_len);
    // SAFETY: forwarded contract; load checks its end.
    let p = unsafe { load::<4>(l4, end) }?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

impl Flow {
    /// The flow of an inner IPv4 packet, with its ports as read by [`ports`].
    #[inline(always)]
    pub fn new(ip: &Ipv4, ports: Option<(u16, u16)>, qfi: u8, ignore: u8) -> Flow {
        let (has_ports, sport, dport) = match ports {
            Some((s, d)) => (true, s, d),
            None => (false, 0, 0),
        };
        Flow {
            src_be: ip.src_be,
            dst_be: ip.dst_be,
            proto: ip.proto,
            qfi,
            ignore,
            has_ports,
            sport,
            dport,
        }
    }
}

/// True when `f` satisfies `m`.
///
/// Written without short-circuits: every condition adds its mismatch bits to
/// one word and only that word is tested, so the verifier walks one path
/// per rule instead of one per condition (its cost multiplies with the paths
/// that reach the rule loop).
#[inline(always)]
pub fn matches(m: &SdfMatch, f: &Flow) -> bool {
    let flags = (m.flags & !f.ignore) as u32;
    // All ones when the flag is set, else 0.
    let want_proto = 0u32.wrapping_sub(flags & M_PROTO as u32);
    let want_qfi = 0u32.wrapping_sub((flags & M_QFI as u32) >> 1);
    let want_ports = 0u32.wrapping_sub((flags & M_PORTS as u32) >> 2);
    let mut bad = ((f.src_be ^ m.src_be) & m.src_mask_be) | ((f.dst_be ^ m.dst_be) & m.dst_mask_be);
    bad |= (f.proto ^ m.proto) as u32 & want_proto;
    bad |= (f.qfi ^ m.qfi) as u32 & want_qfi;
    // Out of [lo, hi]: the sign bit of (x - lo) | (hi - x), computed in i32.
    let (sp, dp) = (f.sport as i32, f.dport as i32);
    let out = (sp - m.sport_lo as i32)
        | (m.sport_hi as i32 - sp)
        | (dp - m.dport_lo as i32)
        | (m.dport_hi as i32 - dp);
    let no_ports = (f.has_ports as u32) ^ 1;
    bad |= (((out as u32) >> 31) | no_ports) & want_ports;
    bad == 0
}

/// The first of `set.rules[..len]` (len clamped to [`MAX_RULES`]) that
/// `f` matches, else `default`.
#[inline(always)]
pub fn select(set: &RuleSet, f: &Flow, default: &PdrAction) -> PdrAction {
    let len = set.len;
    let mut i = 0;
    while i < MAX_RULES {
        if i as u32 >= len {
            break;
        }
        let r = &set.rules[i];
        if matches(&r.m, f) {
            return r.action;
        }
        i += 1;
    }
    *default
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4;
    use upf_abi::{Rule, ACT_DROP, ACT_FORWARD};

    fn be(a: [u8; 4]) -> u32 {
        u32::from_ne_bytes(a)
    }

    fn flow(proto: u8, ports: Option<(u16, u16)>, qfi: u8) -> Flow {
        Flow {
            src_be: be([10, 45, 0, 2]),
            dst_be: be([198, 51, 100, 7]),
            proto,
            qfi,
            ignore: 0,
            has_ports: ports.is_some(),
            sport: ports.map_or(0, |p| p.0),
            dport: ports.map_or(0, |p| p.1),
        }
    }

    fn act(counter: u32, flags: u8) -> PdrAction {
        PdrAction {
            counter,
            flags,
            ..PdrAction::NONE
        }
    }

    fn set(rules: &[Rule]) -> RuleSet {
        let mut s = RuleSet::EMPTY;
        s.len = rules.len() as u32;
        s.rules[..rules.len()].copy_from_slice(rules);
        s
    }

    #[test]
    fn any_matches_everything() {
        assert!(matches(&SdfMatch::ANY, &flow(1, None, NO_QFI)));
        assert!(matches(&SdfMatch::ANY, &flow(17, Some((1, 2)), 9)));
    }

    #[test]
    fn masks_protocol_ports_and_qfi() {
        let mut m = SdfMatch::ANY;
        m.dst_be = be([198, 51, 100, 0]);
        m.dst_mask_be = be([255, 255, 255, 0]);
        assert!(matches(&m, &flow(17, None, NO_QFI)));
        m.dst_be = be([198, 51, 101, 0]);
        assert!(!matches(&m, &flow(17, None, NO_QFI)));

        let mut m = SdfMatch::ANY;
        m.flags = M_PROTO | M_PORTS;
        m.proto = 17;
        m.dport_lo = 50;
        m.dport_hi = 53;
        assert!(matches(&m, &flow(17, Some((40000, 53)), NO_QFI)));
        assert!(!matches(&m, &flow(17, Some((40000, 54)), NO_QFI)));
        assert!(!matches(&m, &flow(6, Some((40000, 53)), NO_QFI)));
        m.flags = M_PORTS;
        assert!(!matches(&m, &flow(1, None, NO_QFI)), "no ports, no match");

        let mut m = SdfMatch::ANY;
        m.flags = M_QFI;
        m.qfi = 9;
        assert!(matches(&m, &flow(17, None, 9)));
        assert!(!matches(&m, &flow(17, None, 5)));
        assert!(!matches(&m, &flow(17, None, NO_QFI)));
        let mut f = flow(17, None, NO_QFI);
        f.ignore = M_QFI;
        assert!(matches(&m, &f), "downlink does not evaluate the QFI");
    }

    #[test]
    fn first_match_wins_and_len_is_clamped() {
        let mut udp = SdfMatch::ANY;
        udp.flags = M_PROTO;
        udp.proto = 17;
        let s = set(&[
            Rule {
                m: udp,
                action: act(1, ACT_DROP),
            },
            Rule {
                m: SdfMatch::ANY,
                action: act(2, ACT_FORWARD),
            },
        ]);
        let d = act(9, ACT_FORWARD);
        assert_eq!(select(&s, &flow(17, None, NO_QFI), &d).counter, 1);
        assert_eq!(select(&s, &flow(1, None, NO_QFI), &d).counter, 2);
        assert_eq!(select(&RuleSet::EMPTY, &flow(1, None, 0), &d).counter, 9);

        let mut s = RuleSet::EMPTY;
        s.rules[MAX_RULES - 1] = Rule {
            m: SdfMatch::ANY,
            action: act(7, ACT_FORWARD),
        };
        s.rules[0].m.flags = M_PROTO;
        for i in 1..MAX_RULES - 1 {
            s.rules[i].m.flags = M_PROTO;
        }
        s.len = MAX_RULES as u32;
        assert_eq!(select(&s, &flow(17, None, NO_QFI), &d).counter, 7);
        s.len = u32::MAX;
        assert_eq!(select(&s, &flow(17, None, NO_QFI), &d).counter, 7);
        s.rules[MAX_RULES - 1].m.flags = M_PROTO;
        assert_eq!(select(&s, &flow(17, None, NO_QFI), &d).counter, 9);
    }

    #[test]
    fn ports_are_read_only_when_present() {
        let mut pkt = vec![
            0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 45, 0, 2, 198, 51, 100, 7,
        ];
        pkt.extend([0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        let f = crate::Frame::from_slice(&pkt);
        // SAFETY: the frame is the slice.
        let ip = unsafe { ipv4::parse(f.start, f.end) }.unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { ports(f.start, &ip, f.end) }, Some((40000, 53)));
        let mut frag = ip;
        frag.frag = 0x0001;
        // SAFETY: as above.
        assert_eq!(unsafe { ports(f.start, &frag, f.end) }, None);
        let mut icmp = ip;
        icmp.proto = 1;
        // SAFETY: as above.
        assert_eq!(unsafe { ports(f.start, &icmp, f.end) }, None);
        // SAFETY: the frame cut before the ports.
        assert_eq!(unsafe { ports(f.start, &ip, f.start + 22) }, None);
        let mut short = ip;
        short.total_len = 22;
        // SAFETY: as above.
        assert_eq!(unsafe { ports(f.start, &short, f.end) }, None);
    }
}
