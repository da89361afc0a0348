//! GTP-U version 1 (3GPP TS 29.281) and the PDU Session Container (TS 38.415).
//!
//! ```text
//!  0               1               2               3
//!  |V=1|PT|*|E|S|PN| message type  |         length                |
//!  |                            TEID                               |
//!  |   sequence number (if E|S|PN) | N-PDU number  | next ext type |
//!  | ext length (×4 octets) | content ...            | next ext type |  (repeated)
//! ```
//! The length counts every octet after the first 8 (TS 29.281 §5.1).

use crate::ipv4::{OuterIpv4, HEADER_LEN as IPV4_LEN, PROTO_UDP};
use crate::mem::{advance, load, store, u8_at};

use crate::{DropReason, Result};
use upf_abi::GTPU_PORT;

/// Length of the mandatory GTP-U header.
pub const HEADER_LEN: usize = 8;
/// Length of the optional fields present when any of E, S or PN is set.
pub const OPTIONAL_LEN: usize = 4;
/// Length of a UDP header.
pub const UDP_LEN: usize = 8;

/// Flags: version 1.
pub const FLAG_V1: u8 = 0x20;
/// Flags: protocol type GTP (not GTP').
pub const FLAG_PT: u8 = 0x10;
/// Flags: an extension header follows.
pub const FLAG_E: u8 = 0x04;
/// Flags: the sequence number is valid.
pub const FLAG_S: u8 = 0x02;
/// Flags: the N-PDU number is valid.
pub const FLAG_PN: u8 = 0x01;

/// Echo Request (TS 29.281 §7.2.1).
pub const MSG_ECHO_REQUEST: u8 = 1;
/// Echo Response (§7.2.2).
pub const MSG_ECHO_RESPONSE: u8 = 2;
/// Error Indication (§7.3.1).
pub const MSG_ERROR_INDICATION: u8 = 26;
/// Supported Extension Headers Notification (§7.2.3).
pub const MSG_SUPPORTED_EXT_HEADERS: u8 = 31;
/// Tunnel Status (§7.3.3).
pub const MSG_TUNNEL_STATUS: u8 = 253;
/// End Marker (§7.3.2).
pub const MSG_END_MARKER: u8 = 254;
/// G-PDU: a user packet (T-PDU) in a tunnel.
pub const MSG_G_PDU: u8 = 255;

/// Information element type of Recovery (TS 29.281 §8.2).
pub const IE_RECOVERY: u8 = 14;

/// Extension header type: no more extension headers.
pub const EXT_NONE: u8 = 0x00;
/// Extension header type: PDU Session Container (TS 38.415).
pub const EXT_PDU_SESSION_CONTAINER: u8 = 0x85;
/// Extension header types the fast path recognises (and skips, apart from the
/// PDU Session Container): Service Class Indicator, UDP Port, RAN Container,
/// Long PDCP PDU Number, Xw RAN Container, NR RAN Container, PDU Session
/// Container, PDCP PDU Number (TS 29.281 Figure 5.2.1-3).
pub const KNOWN_EXTENSIONS: [u8; 8] = [0x20, 0x40, 0x81, 0x82, 0x83, 0x84, 0x85, 0xc0];
/// How many extension headers the parser follows before giving up.
pub const MAX_EXTENSIONS: usize = 8;

/// PDU Session Container PDU type: DL PDU SESSION INFORMATION (TS 38.415 §5.5.2.1).
pub const PDU_TYPE_DL: u8 = 0;
/// PDU Session Container PDU type: UL PDU SESSION INFORMATION (TS 38.415 §5.5.2.2).
pub const PDU_TYPE_UL: u8 = 1;

/// The PDU Session Container's fields the fast path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduSessionInfo {
    /// 0 = downlink, 1 = uplink.
    pub pdu_type: u8,
    /// QoS flow identifier (6 bits).
    pub qfi: u8,
}

/// A parsed GTP-U header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtpu {
    /// The flags octet.
    pub flags: u8,
    /// Message type.
    pub msg_type: u8,
    /// Length field: octets after the mandatory 8-byte header.
    pub length: u16,
    /// Tunnel endpoint identifier (`_be`).
    pub teid_be: u32,
    /// Sequence number (meaningful only when S is set).
    pub seq: u16,
    /// Octets from the start of the GTP-U header to the payload (T-PDU or IEs).
    pub header_len: usize,
    /// The PDU Session Container, if one was present.
    pub container: Option<PduSessionInfo>,
}

impl Gtpu {
    /// Payload length in octets (T-PDU for a G-PDU, IEs for signalling).
    pub fn payload_len(&self) -> usize {
        HEADER_LEN + self.length as usize - self.header_len
    }

    /// True if the S flag is set.
    pub fn has_seq(&self) -> bool {
        self.flags & FLAG_S != 0
    }
}

/// Parses a GTP-U header, its optional fields and its extension-header chain at `p`.
///
/// Errors: `Truncated` if the mandatory header does not fit; `BadGtpHeader`
/// for a version other than 1, PT = 0 (GTP'), or a length field larger than
/// the frame; `BadExtensionHeader` for a zero-length extension or one that
/// runs past the frame or the length field; `UnsupportedExtensionHeader` for an
/// unknown type whose two high bits require comprehension by the endpoint
/// (TS 29.281 §5.2.1); `ExtensionChainTooLong` past [`MAX_EXTENSIONS`];
/// `BadPduSessionContainer` for a PDU type other than DL or UL.
///
/// # Safety
/// `[p, end)` must be readable.
#[inline(always)]
pub unsafe fn parse(p: usize, end: usize) -> Result<Gtpu> {
    // SAFETY: forwarded contract; the load checks its own end.
    let h = unsafe { load::<HEADER_LEN>(p, end) }.ok_or(DropReason::Truncated)?;
    let flags = h[0];
    if flags & 0xe0 != FLAG_V1 || flags & FLAG_PT == 0 {
        return Err(DropReason::BadGtpHeader);
    }
    let length = u16::from_be_bytes([h[2], h[3]]);
    if p + HEADER_LEN + length as usize > end {
        return Err(DropReason::BadGtpHeader);
    }
    let mut g = Gtpu {
        flags,
        msg_type: h[1],
        length,
        teid_be: u32::from_ne_bytes([h[4], h[5], h[6], h[7]]),
        seq: 0,
        header_len: HEADER_LEN,
        container: None,
    };
    if flags & (FLAG_E | FLAG_S | FLAG_PN) == 0 {
        return Ok(g);
    }
    if (length as usize) < OPTIONAL_LEN {
        return Err(DropReason::BadGtpHeader);
    }
    // SAFETY: forwarded contract; the load checks its own end.
    let o = unsafe { load::<OPTIONAL_LEN>(p + HEADER_LEN, end) }.ok_or(DropReason::BadGtpHeader)?;
    g.seq = u16::from_be_bytes([o[0], o[1]]);
    g.header_len = HEADER_LEN + OPTIONAL_LEN;
    if flags & FLAG_E == 0 {
        return Ok(g);
    }
    // The chain: each header is (length ×4 octets) with its own length first
    // and the next type last.
    let mut next = o[3];
    // The header length is kept as a bounded sum (at most 12 + 8 × 1020),
    // never as a pointer difference, so the verifier knows its range.
    let mut hl: usize = HEADER_LEN + OPTIONAL_LEN;
    let mut i = 0;
    while i < MAX_EXTENSIONS {
        if next == EXT_NONE {
            break;
        }
        let pos = advance(p, hl);
        // SAFETY: forwarded contract; the load checks its own end.
        let words = unsafe { u8_at(pos, end) }.ok_or(DropReason::BadExtensionHeader)?;
        if words == 0 {
            return Err(DropReason::BadExtensionHeader);
        }
        let len = words as usize * 4;
        if next == EXT_PDU_SESSION_CONTAINER {
            // SAFETY: forwarded contract; the load checks its own end.
            let c = unsafe { load::<3>(pos, end) }.ok_or(DropReason::BadExtensionHeader)?;
            let pdu_type = c[1] >> 4;
            if pdu_type != PDU_TYPE_DL && pdu_type != PDU_TYPE_UL {
                return Err(DropReason::BadPduSessionContainer);
            }
            g.container = Some(PduSessionInfo {
                pdu_type,
                qfi: c[2] & 0x3f,
            });
        } else if next & 0x80 != 0 && !is_known_extension(next) {
            return Err(DropReason::UnsupportedExtensionHeader);
        }
        let last = advance(pos, len - 1);
        // SAFETY: forwarded contract; the load checks its own end.
        next = unsafe { u8_at(last, end) }.ok_or(DropReason::BadExtensionHeader)?;
        hl += len;
        i += 1;
    }
    if next != EXT_NONE {
        return Err(DropReason::ExtensionChainTooLong);
    }
    if hl > HEADER_LEN + length as usize {
        return Err(DropReason::BadExtensionHeader);
    }
    g.header_len = hl;
    Ok(g)
}

#[inline(always)]
fn is_known_extension(t: u8) -> bool {
    let mut i = 0;
    while i < KNOWN_EXTENSIONS.len() {
        if KNOWN_EXTENSIONS[i] == t {
            return true;
        }
        i += 1;
    }
    false
}

/// Octets pushed in front of an inner IP packet by [`Tunnel::write`]:
/// outer IPv4 + UDP + GTP-U, plus the optional fields and a 4-octet PDU
/// Session Container for 5G.
#[inline(always)]
pub const fn encap_len(five_g: bool) -> usize {
    if five_g {
        IPV4_LEN + UDP_LEN + HEADER_LEN + OPTIONAL_LEN + 4
    } else {
        IPV4_LEN + UDP_LEN + HEADER_LEN
    }
}

/// The outer headers of a downlink G-PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// Our GTP-U address (`_be`).
    pub src_be: u32,
    /// The peer's GTP-U address (`_be`).
    pub dst_be: u32,
    /// The peer's TEID (`_be`).
    pub teid_be: u32,
    /// `Some(qfi)` adds a DL PDU Session Container (5G N3/N9).
    pub qfi: Option<u8>,
    /// DSCP/ECN for the outer header.
    pub tos: u8,
}

impl Tunnel {
    /// Writes outer IPv4, UDP and GTP-U headers at `p` for an inner packet of
    /// `inner_len` octets. Returns false if [`encap_len`] octets do not fit.
    ///
    /// # Safety
    /// `[p, end)` must be writable.
    #[inline(always)]
    pub unsafe fn write(&self, p: usize, end: usize, inner_len: u16) -> bool {
        let five_g = self.qfi.is_some();
        let gtp_len = encap_len(five_g) - IPV4_LEN - UDP_LEN;
        let total = inner_len as usize + encap_len(five_g);
        if total > u16::MAX as usize || p + encap_len(five_g) > end {
            return false;
        }
        let ip = OuterIpv4 {
            src_be: self.src_be,
            dst_be: self.dst_be,
            total_len: total as u16,
            tos: self.tos,
            ttl: 64,
            proto: PROTO_UDP,
        };
        let udp_len = ((total - IPV4_LEN) as u16).to_be_bytes();
        let port = GTPU_PORT.to_be_bytes();
        let gtp_payload = ((inner_len as usize + gtp_len - HEADER_LEN) as u16).to_be_bytes();
        let t = self.teid_be.to_ne_bytes();
        let flags = if five_g {
            FLAG_V1 | FLAG_PT | FLAG_E
        } else {
            FLAG_V1 | FLAG_PT
        };
        let udp_gtp = [
            port[0],
            port[1],
            port[0],
            port[1],
            udp_len[0],
            udp_len[1],
            0,
            0, // UDP, no checksum (RFC 768 over IPv4)
            flags,
            MSG_G_PDU,
            gtp_payload[0],
            gtp_payload[1],
            t[0],
            t[1],
            t[2],
            t[3],
        ];
        // SAFETY: forwarded contract; the whole range was checked above and
        // each store checks again.
        unsafe {
            if !ip.write(p, end) || !store(p + IPV4_LEN, end, udp_gtp) {
                return false;
            }
            if let Some(qfi) = self.qfi {
                // Sequence number 0, N-PDU 0, next = PDU Session Container;
                // container: 1 word, PDU type 0 (DL), PPP=0 RQI=0 QFI, next = none.
                let ext = [
                    0,
                    0,
                    0,
                    EXT_PDU_SESSION_CONTAINER,
                    1,
                    PDU_TYPE_DL << 4,
                    qfi & 0x3f,
                    EXT_NONE,
                ];
                return store(p + IPV4_LEN + UDP_LEN + HEADER_LEN, end, ext);
            }
        }
        true
    }
}

/// Length of the Echo Response the fast path writes after the link layer:
/// IPv4 + UDP + GTP-U with S set + the Recovery IE.
pub const ECHO_RESPONSE_LEN: usize = IPV4_LEN + UDP_LEN + HEADER_LEN + OPTIONAL_LEN + 2;

/// An Echo Response to write in place of an Echo Request (TS 29.281 §7.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoResponse {
    /// Our address, the request's destination (`_be`).
    pub src_be: u32,
    /// The requester's address (`_be`).
    pub dst_be: u32,
    /// The requester's UDP source port, which the response goes back to.
    pub dst_port: u16,
    /// The request's sequence number, copied (§5.1: the response echoes it).
    pub seq: u16,
}

impl EchoResponse {
    /// Writes IPv4, UDP, GTP-U (TEID 0, S set) and Recovery (restart counter
    /// 0: TS 29.281 §8.2 says it shall be zero) at `p`.
    ///
    /// # Safety
    /// `[p, end)` must be writable.
    #[inline(always)]
    pub unsafe fn write(&self, p: usize, end: usize) -> bool {
        if p + ECHO_RESPONSE_LEN > end {
            return false;
        }
        let ip = OuterIpv4 {
            src_be: self.src_be,
            dst_be: self.dst_be,
            total_len: ECHO_RESPONSE_LEN as u16,
            tos: 0,
            ttl: 64,
            proto: PROTO_UDP,
        };
        let sport = GTPU_PORT.to_be_bytes();
        let dport = self.dst_port.to_be_bytes();
        let ulen = ((ECHO_RESPONSE_LEN - IPV4_LEN) as u16).to_be_bytes();
        let glen = ((OPTIONAL_LEN + 2) as u16).to_be_bytes();
        let seq = self.seq.to_be_bytes();
        let rest = [
            sport[0],
            sport[1],
            dport[0],
            dport[1],
            ulen[0],
            ulen[1],
            0,
            0, // UDP
            FLAG_V1 | FLAG_PT | FLAG_S,
            MSG_ECHO_RESPONSE,
            glen[0],
            glen[1],
            0,
            0,
            0,
            0, // GTP-U, TEID 0
            seq[0],
            seq[1],
            0,
            EXT_NONE, // sequence, N-PDU, next extension
            IE_RECOVERY,
            0, // Recovery, restart counter 0
        ];
        // SAFETY: forwarded contract; checked above, and each store checks again.
        unsafe { ip.write(p, end) && store(p + IPV4_LEN, end, rest) }
    }
}

#[cfg(test)]
mod tests;
