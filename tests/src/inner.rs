//! The inner (user-plane) IPv4 packets the lab sends through the tunnel, and
//! the strict checks applied to what comes back.
//!
//! Packets are built with etherparse. Parsing uses etherparse for the
//! layout and adds what it leaves out: the IPv4 total length must fill the
//! T-PDU exactly and every checksum (IPv4 header, UDP when non-zero, ICMP)
//! must verify, since a gateway that rewrites TTL or addresses must keep
//! them right.
//!
//! Payloads start with a tag ([`MAGIC`], a run id and the packet index) so a
//! reply can be matched to the packet it echoes, followed by a fixed ASCII
//! filler that is easy to spot in a capture.

use std::net::Ipv4Addr;

use etherparse::err::packet::BuildWriteError;
use etherparse::{
    Icmpv4Slice, Icmpv4Type, IpHeaders, IpNumber, Ipv4Header, Ipv4Slice, PacketBuilder, UdpSlice,
};

/// First four octets of every payload the lab generates.
pub const MAGIC: [u8; 4] = *b"MUPF";
/// Octets of the tag: magic, run id, packet index.
pub const TAG_LEN: usize = 12;
/// Filler repeated after the tag.
pub const FILLER: &[u8] = b"-mvno-upf-lab-payload";
/// TTL of the packets the lab builds.
pub const TTL: u8 = 64;

/// A payload of `size` octets for packet `index` of run `run`: the tag then
/// the filler. Shorter than [`TAG_LEN`] it is a truncated tag (which
/// [`parse_tag`] will not recognise).
pub fn pattern(run: u32, index: u32, size: usize) -> Vec<u8> {
    let mut payload = Vec::with_capacity(size.max(TAG_LEN));
    payload.extend_from_slice(&MAGIC);
    payload.extend_from_slice(&run.to_be_bytes());
    payload.extend_from_slice(&index.to_be_bytes());
    payload.extend(FILLER.iter().cycle().take(size.saturating_sub(TAG_LEN)));
    payload.truncate(size);
    payload
}

/// The `(run, index)` of a payload made by [`pattern`].
pub fn parse_tag(payload: &[u8]) -> Option<(u32, u32)> {
    match payload {
        [m0, m1, m2, m3, r0, r1, r2, r3, i0, i1, i2, i3, ..] if [*m0, *m1, *m2, *m3] == MAGIC => {
            Some((
                u32::from_be_bytes([*r0, *r1, *r2, *r3]),
                u32::from_be_bytes([*i0, *i1, *i2, *i3]),
            ))
        }
        _ => None,
    }
}

/// The IPv4 header the builders use: DF set, identification 0, TTL [`TTL`].
fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr) -> IpHeaders {
    IpHeaders::Ipv4(
        Ipv4Header {
            source: src.octets(),
            destination: dst.octets(),
            time_to_live: TTL,
            dont_fragment: true,
            ..Default::default()
        },
        Default::default(),
    )
}

/// An IPv4/UDP packet with valid checksums.
pub fn udp_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, BuildWriteError> {
    let builder = PacketBuilder::ip(ipv4_header(src, dst)).udp(src_port, dst_port);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload)?;
    Ok(out)
}

/// An IPv4 ICMP Echo Request with valid checksums.
pub fn icmp_echo_request(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Result<Vec<u8>, BuildWriteError> {
    let builder = PacketBuilder::ip(ipv4_header(src, dst)).icmpv4_echo_request(id, seq);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload)?;
    Ok(out)
}

/// An IPv4 ICMP Echo Reply with valid checksums (what a DN host answers).
pub fn icmp_echo_reply(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Result<Vec<u8>, BuildWriteError> {
    let builder = PacketBuilder::ip(ipv4_header(src, dst)).icmpv4_echo_reply(id, seq);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload)?;
    Ok(out)
}

/// Why an inner packet was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not an IPv4 packet etherparse can slice (version, IHL, lengths).
    #[error("not a valid IPv4 packet: {0}")]
    Ipv4(String),
    /// The IPv4 total length does not fill the T-PDU exactly.
    #[error("IPv4 total length {total_len} but the T-PDU has {actual} octets")]
    TotalLength {
        /// The total length field.
        total_len: u16,
        /// Octets of the T-PDU.
        actual: usize,
    },
    /// The IPv4 header checksum does not verify.
    #[error("bad IPv4 header checksum {0:#06x}")]
    HeaderChecksum(u16),
    /// A fragment (the lab never sends anything that needs fragmenting).
    #[error("IPv4 fragment")]
    Fragment,
    /// A UDP header that does not fit or whose length disagrees with IPv4.
    #[error("bad UDP length: {0}")]
    UdpLength(String),
    /// A non-zero UDP checksum that does not verify.
    #[error("bad UDP checksum {0:#06x}")]
    UdpChecksum(u16),
    /// An ICMP message too short for its header.
    #[error("bad ICMP length: {0}")]
    IcmpLength(String),
    /// An ICMP checksum that does not verify.
    #[error("bad ICMP checksum {0:#06x}")]
    IcmpChecksum(u16),
}

/// The transport part of an inner packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Payload.
        payload: &'a [u8],
    },
    /// ICMP Echo Request or Reply (code 0).
    IcmpEcho {
        /// True for a reply (type 0), false for a request (type 8).
        reply: bool,
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        payload: &'a [u8],
    },
    /// Any other ICMP message.
    Icmp {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// Any other protocol, unchecked.
    Other {
        /// IP protocol number.
        protocol: u8,
    },
}

/// A checked inner IPv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Transport header and payload.
    pub transport: Transport<'a>,
}

/// Parses and checks an inner IPv4 packet that must fill `packet` exactly.
pub fn parse_ipv4(packet: &[u8]) -> Result<Ipv4Packet<'_>, Error> {
    let ip = Ipv4Slice::from_slice(packet).map_err(|e| Error::Ipv4(e.to_string()))?;
    let header = ip.header();
    if usize::from(header.total_len()) != packet.len() {
        return Err(Error::TotalLength {
            total_len: header.total_len(),
            actual: packet.len(),
        });
    }
    if ones_complement_sum(&[header.slice()]) != 0xffff {
        return Err(Error::HeaderChecksum(header.header_checksum()));
    }
    if header.is_fragmenting_payload() {
        return Err(Error::Fragment);
    }
    let (src, dst) = (header.source_addr(), header.destination_addr());
    // The payload after the header (and any AH, which the lab never sees).
    let l4 = ip.payload().payload;
    let protocol = ip.payload_ip_number();
    let transport = match protocol {
        IpNumber::UDP => {
            let udp = UdpSlice::from_slice(l4).map_err(|e| Error::UdpLength(e.to_string()))?;
            if usize::from(udp.length()) != l4.len() {
                return Err(Error::UdpLength(format!(
                    "UDP length {} but {} octets follow the IPv4 header",
                    udp.length(),
                    l4.len()
                )));
            }
            let checksum = udp.checksum();
            if checksum != 0 {
                let pseudo = udp_pseudo_header(src, dst, udp.length());
                if ones_complement_sum(&[&pseudo, l4]) != 0xffff {
                    return Err(Error::UdpChecksum(checksum));
                }
            }
            Transport::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp.payload(),
            }
        }
        IpNumber::ICMP => {
            let icmp = Icmpv4Slice::from_slice(l4).map_err(|e| Error::IcmpLength(e.to_string()))?;
            if ones_complement_sum(&[l4]) != 0xffff {
                return Err(Error::IcmpChecksum(icmp.checksum()));
            }
            match icmp.icmp_type() {
                Icmpv4Type::EchoReply(echo) => Transport::IcmpEcho {
                    reply: true,
                    id: echo.id,
                    seq: echo.seq,
                    payload: icmp.payload(),
                },
                Icmpv4Type::EchoRequest(echo) => Transport::IcmpEcho {
                    reply: false,
                    id: echo.id,
                    seq: echo.seq,
                    payload: icmp.payload(),
                },
                _ => Transport::Icmp {
                    icmp_type: icmp.type_u8(),
                    code: icmp.code_u8(),
                },
            }
        }
        other => Transport::Other { protocol: other.0 },
    };
    Ok(Ipv4Packet {
        src,
        dst,
        ttl: header.ttl(),
        transport,
    })
}

/// The IPv4 pseudo header that the UDP checksum covers.
fn udp_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> [u8; 12] {
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = IpNumber::UDP.0;
    pseudo[10..].copy_from_slice(&udp_len.to_be_bytes());
    pseudo
}

/// The folded 16-bit one's complement sum of `parts` (RFC 1071), 0xffff for
/// data that includes a correct checksum. Every part but the last must have
/// an even length.
fn ones_complement_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        for word in part.chunks(2) {
            let hi = word[0];
            let lo = word.get(1).copied().unwrap_or(0);
            sum += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const UE: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 2);
    const DN: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);

    #[test]
    fn pattern_and_tag() {
        let p = pattern(0xdead_beef, 7, 40);
        assert_eq!(p.len(), 40);
        assert_eq!(&p[..4], b"MUPF");
        assert_eq!(parse_tag(&p), Some((0xdead_beef, 7)));
        assert_eq!(&p[TAG_LEN..TAG_LEN + FILLER.len()], FILLER);
        assert_eq!(pattern(1, 2, 5), b"MUPF\0");
        assert_eq!(parse_tag(&pattern(1, 2, 11)), None);
        assert_eq!(parse_tag(&pattern(1, 2, TAG_LEN)), Some((1, 2)));
        assert_eq!(parse_tag(b"XUPF\0\0\0\0\0\0\0\0"), None);
    }

    #[test]
    fn udp_round_trip() {
        let payload = pattern(1, 3, 100);
        let pkt = udp_packet(UE, DN, 40003, 7000, &payload).unwrap();
        assert_eq!(pkt.len(), 20 + 8 + 100);
        let parsed = parse_ipv4(&pkt).unwrap();
        assert_eq!((parsed.src, parsed.dst, parsed.ttl), (UE, DN, TTL));
        assert_eq!(
            parsed.transport,
            Transport::Udp {
                src_port: 40003,
                dst_port: 7000,
                payload: &payload
            }
        );
    }

    #[test]
    fn odd_udp_payload_checksum() {
        let pkt = udp_packet(UE, DN, 1, 2, b"odd").unwrap();
        assert!(parse_ipv4(&pkt).is_ok());
    }

    #[test]
    fn icmp_round_trip() {
        let payload = pattern(1, 4, 33);
        let req = icmp_echo_request(UE, DN, 0x42, 4, &payload).unwrap();
        let parsed = parse_ipv4(&req).unwrap();
        assert_eq!(
            parsed.transport,
            Transport::IcmpEcho {
                reply: false,
                id: 0x42,
                seq: 4,
                payload: &payload
            }
        );
        let reply = icmp_echo_reply(DN, UE, 0x42, 4, &payload).unwrap();
        let parsed = parse_ipv4(&reply).unwrap();
        assert!(matches!(
            parsed.transport,
            Transport::IcmpEcho { reply: true, .. }
        ));
    }

    #[test]
    fn corruption_is_detected() {
        let pkt = udp_packet(UE, DN, 40000, 7000, &pattern(1, 0, 64)).unwrap();
        // TTL decremented without fixing the checksum.
        let mut ttl = pkt.clone();
        ttl[8] -= 1;
        assert!(matches!(parse_ipv4(&ttl), Err(Error::HeaderChecksum(_))));
        // A payload bit flipped.
        let mut flipped = pkt.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(parse_ipv4(&flipped), Err(Error::UdpChecksum(_))));
        // Same flip with the UDP checksum disabled passes.
        flipped[26] = 0;
        flipped[27] = 0;
        assert!(parse_ipv4(&flipped).is_ok());
        // Trailing octets after the IPv4 packet.
        let mut long = pkt.clone();
        long.push(0);
        assert!(matches!(parse_ipv4(&long), Err(Error::TotalLength { .. })));
        let icmp = icmp_echo_request(UE, DN, 1, 1, b"abcd").unwrap();
        let mut bad = icmp.clone();
        bad[20 + 8] ^= 0xff;
        assert!(matches!(parse_ipv4(&bad), Err(Error::IcmpChecksum(_))));
    }

    #[test]
    fn truncations_and_junk_never_panic() {
        let pkt = udp_packet(UE, DN, 40000, 7000, &pattern(1, 0, 30)).unwrap();
        for cut in 0..pkt.len() {
            assert!(parse_ipv4(&pkt[..cut]).is_err(), "prefix of {cut} accepted");
        }
        let mut v6 = pkt.clone();
        v6[0] = 0x65;
        assert!(matches!(parse_ipv4(&v6), Err(Error::Ipv4(_))));
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..2000 {
            let mut junk = pkt.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % junk.len();
                junk[i] = (x >> 8) as u8;
            }
            let _ = parse_ipv4(&junk);
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example words.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&[&data]), 0xddf2);
    }
}
