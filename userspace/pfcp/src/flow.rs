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

impl FlowDescription {
    /// Parses an IPv4 flow description:
    /// `(permit|deny) (out|in) <proto> from <addr> [ports] to <addr> [ports]`.
    ///
    /// `<proto>` is `ip` (any), a number 0..=255, or `tcp`, `udp`, `icmp`;
    /// `<addr>` is `any`, `assigned`, `a.b.c.d` or `a.b.c.d/len`; `[ports]`
    /// is a comma list of `n` or `lo-hi`. Refused with a message saying why:
    /// negated addresses (`!`), IPv6 addresses, and options after the
    /// destination ports (`frag`, `established`, ...).
    pub fn parse(text: &str) -> Result<FlowDescription, FlowError> {
        let mut words = text.split_ascii_whitespace().peekable();
        let mut next = |what: &str| {
            words
                .next()
                .ok_or_else(|| FlowError(format!("ends before the {what}")))
        };
        let permit = match next("action")? {
            w if w.eq_ignore_ascii_case("permit") => true,
            w if w.eq_ignore_ascii_case("deny") => false,
            w => return Err(FlowError(format!("action `{w}`: expected permit or deny"))),
        };
        let out = match next("direction")? {
            w if w.eq_ignore_ascii_case("out") => true,
            w if w.eq_ignore_ascii_case("in") => false,
            w => return Err(FlowError(format!("direction `{w}`: expected out or in"))),
        };
        let protocol = parse_protocol(next("protocol")?)?;
        keyword(next("`from`")?, "from")?;
        let src = parse_address(next("source address")?)?;
        let mut word = next("`to`")?;
        let src_ports = if word.eq_ignore_ascii_case("to") {
            Vec::new()
        } else {
            let ports = parse_ports(word)?;
            word = next("`to`")?;
            ports
        };
        keyword(word, "to")?;
        let dst = parse_address(next("destination address")?)?;
        let mut dst_ports = Vec::new();
        let mut rest = words;
        if let Some(w) = rest.next() {
            if w.starts_with(|c: char| c.is_ascii_digit()) {
                dst_ports = parse_ports(w)?;
                if let Some(option) = rest.next() {
                    return Err(unsupported_option(option));
                }
            } else {
                return Err(unsupported_option(w));
            }
        }
        Ok(FlowDescription {
            permit,
            out,
            protocol,
            src,
            src_ports,
            dst,
            dst_ports,
        })
    }
}

fn unsupported_option(option: &str) -> FlowError {
    FlowError(format!("option `{option}` is not supported"))
}

fn keyword(word: &str, expected: &str) -> Result<(), FlowError> {
    if word.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(FlowError(format!(
            "`{word}` where `{expected}` was expected"
        )))
    }
}

fn parse_protocol(word: &str) -> Result<Option<u8>, FlowError> {
    match word.to_ascii_lowercase().as_str() {
        "ip" => Ok(None),
        "icmp" => Ok(Some(1)),
        "tcp" => Ok(Some(6)),
        "udp" => Ok(Some(17)),
        w => w.parse::<u8>().map(Some).map_err(|_| {
            FlowError(format!(
                "protocol `{word}`: expected ip, tcp, udp, icmp or 0..=255"
            ))
        }),
    }
}

fn parse_address(word: &str) -> Result<FlowAddress, FlowError> {
    if word.starts_with('!') {
        return Err(FlowError(format!(
            "negated address `{word}` (!) is not supported"
        )));
    }
    if word.contains(':') {
        return Err(FlowError(format!(
            "address `{word}`: IPv6 flows are not supported"
        )));
    }
    if word.eq_ignore_ascii_case("any") {
        return Ok(FlowAddress::Any);
    }
    if word.eq_ignore_ascii_case("assigned") {
        return Ok(FlowAddress::Assigned);
    }
    let (addr, len) = match word.split_once('/') {
        Some((addr, len)) => {
            let len = len.parse::<u8>().ok().filter(|l| *l <= 32).ok_or_else(|| {
                FlowError(format!("address `{word}`: prefix length must be 0..=32"))
            })?;
            (addr, len)
        }
        None => (word, 32),
    };
    let addr = addr.parse::<Ipv4Addr>().map_err(|_| {
        FlowError(format!(
            "address `{word}`: expected any, assigned, a.b.c.d or a.b.c.d/len"
        ))
    })?;
    Ok(FlowAddress::V4(addr, len))
}

fn parse_ports(word: &str) -> Result<Vec<(u16, u16)>, FlowError> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| FlowError(format!("port `{p}` in `{word}`: expected 0..=65535")))
    };
    word.split(',')
        .map(|item| {
            let (lo, hi) = match item.split_once('-') {
                Some((lo, hi)) => (port(lo)?, port(hi)?),
                None => {
                    let p = port(item)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(FlowError(format!(
                    "port range `{item}` is empty (low above high)"
                )));
            }
            Ok((lo, hi))
        })
        .collect()
}

impl core::fmt::Display for FlowAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FlowAddress::Any => f.write_str("any"),
            FlowAddress::Assigned => f.write_str("assigned"),
            FlowAddress::V4(a, 32) => write!(f, "{a}"),
            FlowAddress::V4(a, len) => write!(f, "{a}/{len}"),
        }
    }
}

fn write_ports(f: &mut core::fmt::Formatter<'_>, ports: &[(u16, u16)]) -> core::fmt::Result {
    for (i, (lo, hi)) in ports.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { "," })?;
        if lo == hi {
            write!(f, "{lo}")?;
        } else {
            write!(f, "{lo}-{hi}")?;
        }
    }
    Ok(())
}

impl core::fmt::Display for FlowDescription {
    /// The canonical text, e.g. `permit out 17 from 10.0.0.0/8 1000-2000 to
    /// assigned 80` (protocol as a number or `ip`, `/32` left out).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.permit { "permit" } else { "deny" })?;
        f.write_str(if self.out { " out " } else { " in " })?;
        match self.protocol {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("ip")?,
        }
        write!(f, " from {}", self.src)?;
        write_ports(f, &self.src_ports)?;
        write!(f, " to {}", self.dst)?;
        write_ports(f, &self.dst_ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FlowDescription {
        FlowDescription::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> String {
        FlowDescription::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_canonical_example() {
        let text = "permit out 17 from 10.0.0.0/8 1000-2000 to assigned 80";
        let f = parse(text);
        assert_eq!(
            f,
            FlowDescription {
                permit: true,
                out: true,
                protocol: Some(17),
                src: FlowAddress::V4(Ipv4Addr::new(10, 0, 0, 0), 8),
                src_ports: vec![(1000, 2000)],
                dst: FlowAddress::Assigned,
                dst_ports: vec![(80, 80)],
            }
        );
        assert_eq!(f.to_string(), text);
    }

    #[test]
    fn protocols_addresses_and_port_lists() {
        let f = parse("permit out ip from any to assigned");
        assert_eq!(f.protocol, None);
        assert_eq!(f.src, FlowAddress::Any);
        assert!(f.src_ports.is_empty() && f.dst_ports.is_empty());
        assert_eq!(f.to_string(), "permit out ip from any to assigned");

        let f = parse("permit out tcp from 192.0.2.1 80,443,8000-8080 to 10.45.0.0/16");
        assert_eq!(f.protocol, Some(6));
        assert_eq!(f.src, FlowAddress::V4(Ipv4Addr::new(192, 0, 2, 1), 32));
        assert_eq!(f.src_ports, vec![(80, 80), (443, 443), (8000, 8080)]);
        assert_eq!(f.dst, FlowAddress::V4(Ipv4Addr::new(10, 45, 0, 0), 16));
        assert_eq!(
            f.to_string(),
            "permit out 6 from 192.0.2.1 80,443,8000-8080 to 10.45.0.0/16"
        );
        assert_eq!(parse("permit out udp from any to any").protocol, Some(17));
        assert_eq!(parse("permit out ICMP from any to any").protocol, Some(1));
        assert_eq!(parse("permit out 0 from any to any").protocol, Some(0));
        let d = parse("deny in 50 from any to any 0-65535");
        assert!(!d.permit && !d.out);
        assert_eq!(d.to_string(), "deny in 50 from any to any 0-65535");
        // Extra spaces are fine; the canonical text has single spaces.
        assert_eq!(
            parse("  permit  out 17   from any 53 to assigned ").to_string(),
            "permit out 17 from any 53 to assigned"
        );
    }

    #[test]
    fn display_parses_back() {
        for text in [
            "permit out 17 from 10.0.0.0/8 1000-2000 to assigned 80",
            "permit out ip from 0.0.0.0/0 to assigned 1,2,3-4",
            "deny out 6 from 198.51.100.7 to 10.45.0.2",
        ] {
            let f = parse(text);
            assert_eq!(parse(&f.to_string()), f);
            assert_eq!(f.to_string(), text);
        }
    }

    #[test]
    fn refusals_say_why() {
        assert!(error("permit out 17 from !10.0.0.0/8 to assigned").contains("negated"));
        assert!(error("permit out 17 from 2001:db8::/32 to assigned").contains("IPv6"));
        assert!(error("permit out 17 from any to assigned 80 frag").contains("`frag`"));
        assert!(error("permit out 6 from any to assigned established").contains("`established`"));
        assert!(error("permit out 300 from any to any").contains("protocol"));
        assert!(error("permit out sctp from any to any").contains("protocol"));
        assert!(error("permit out 17 from 10.0.0.0/33 to any").contains("prefix"));
        assert!(error("permit out 17 from 10.0.0 to any").contains("address"));
        assert!(error("permit out 17 from any 2000-1000 to any").contains("range"));
        assert!(error("permit out 17 from any 70000 to any").contains("port"));
        assert!(error("permit out 17 from any to").contains("ends"));
        assert!(error("allow out 17 from any to any").contains("action"));
        assert!(error("permit up 17 from any to any").contains("direction"));
        assert!(error("permit out 17 any to any").contains("from"));
        assert!(error("").contains("ends"));
    }
}
