//! GTP-U (3GPP TS 29.281) encoding and decoding for the lab tool and tests.
//!
//! This is an independent, allocation-happy implementation written for
//! clarity rather than speed: it checks the gateway's output, so it must not
//! share code with the fast path it checks. Decoding is strict (anything a
//! conforming peer would not send is an [`Error`]) and never panics.
//!
//! ```
//! use mvno_upf_tests::gtp::{self, Header, PduSessionContainer};
//!
//! let ul = Header::g_pdu(0x1234)
//!     .with_seq(7)
//!     .with_pdu_session(PduSessionContainer::uplink(9));
//! let bytes = ul.encode(b"inner packet").unwrap();
//! let msg = gtp::parse(&bytes).unwrap();
//! assert_eq!(msg.header, ul);
//! assert_eq!(msg.payload, b"inner packet");
//! assert_eq!(msg.header.pdu_session().unwrap().qfi, 9);
//! ```

/// The GTP-U UDP port (TS 29.281 §4.4.2).
pub const PORT: u16 = 2152;
/// Octets of the mandatory header (flags, type, length, TEID).
pub const HEADER_LEN: usize = 8;
/// Octets of the optional field (sequence number, N-PDU number, next
/// extension type), present when any of E, S or PN is set.
pub const OPTIONAL_LEN: usize = 4;

/// Version 1, in the top three bits of the flags octet.
pub const FLAG_VERSION_1: u8 = 0x20;
/// Mask of the version bits.
pub const FLAG_VERSION_MASK: u8 = 0xe0;
/// Protocol Type: 1 is GTP, 0 would be GTP'.
pub const FLAG_PT: u8 = 0x10;
/// The spare bit, which senders set to 0.
pub const FLAG_SPARE: u8 = 0x08;
/// An extension header follows the optional field.
pub const FLAG_E: u8 = 0x04;
/// The sequence number is meaningful.
pub const FLAG_S: u8 = 0x02;
/// The N-PDU number is meaningful.
pub const FLAG_PN: u8 = 0x01;

/// Echo Request (§7.2.1).
pub const MSG_ECHO_REQUEST: u8 = 1;
/// Echo Response (§7.2.2).
pub const MSG_ECHO_RESPONSE: u8 = 2;
/// Error Indication (§7.3.1).
pub const MSG_ERROR_INDICATION: u8 = 26;
/// Supported Extension Headers Notification (§7.2.3).
pub const MSG_SUPPORTED_EXT_HEADERS: u8 = 31;
/// End Marker (§7.3.2).
pub const MSG_END_MARKER: u8 = 254;
/// G-PDU: a user packet (T-PDU) in a tunnel.
pub const MSG_G_PDU: u8 = 255;

/// Recovery IE, TV with a 1-octet restart counter (§8.2).
pub const IE_RECOVERY: u8 = 14;
/// Tunnel Endpoint Identifier Data I, TV with a 4-octet TEID (§8.3).
pub const IE_TEID_DATA_I: u8 = 16;

/// "No more extension headers".
pub const EXT_NONE: u8 = 0x00;
/// PDU Session Container (TS 38.415), used on N3/N9.
pub const EXT_PDU_SESSION_CONTAINER: u8 = 0x85;
/// Longest extension chain [`parse`] accepts.
pub const MAX_EXTENSIONS: usize = 16;

/// PDU Session Container PDU type of a downlink packet (DL PDU SESSION INFORMATION).
pub const PDU_TYPE_DL: u8 = 0;
/// PDU Session Container PDU type of an uplink packet (UL PDU SESSION INFORMATION).
pub const PDU_TYPE_UL: u8 = 1;
/// Largest QoS Flow Identifier (6 bits).
pub const MAX_QFI: u8 = 63;

/// Why a message could not be decoded or encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer octets than the headers announced by the flags need.
    #[error("truncated: {need} octets needed, {have} present")]
    Truncated {
        /// Octets the headers need.
        need: usize,
        /// Octets present.
        have: usize,
    },
    /// The version is not 1.
    #[error("GTP version {0}, expected 1")]
    Version(u8),
    /// PT is 0 (GTP').
    #[error("protocol type 0 (GTP'), expected 1 (GTP)")]
    ProtocolType,
    /// The spare flag bit is set.
    #[error("spare flag bit set")]
    SpareFlag,
    /// The length field disagrees with the datagram.
    #[error("length field {field} but {actual} octets follow the mandatory header")]
    Length {
        /// The length field.
        field: u16,
        /// Octets after the first 8.
        actual: usize,
    },
    /// An extension header with length 0 (which would never end).
    #[error("extension header {0:#04x} has length 0")]
    ExtensionLength(u8),
    /// An extension header that runs past the end of the message.
    #[error("extension header {0:#04x} overruns the message")]
    ExtensionOverrun(u8),
    /// More than [`MAX_EXTENSIONS`] extension headers.
    #[error("more than {MAX_EXTENSIONS} extension headers")]
    TooManyExtensions,
    /// Extension content whose length is not 2 + a multiple of 4 (or too long).
    #[error("extension header {ext_type:#04x}: {len} content octets is not 4n+2 with n < 64")]
    ExtensionContent {
        /// The extension's type.
        ext_type: u8,
        /// Its content length.
        len: usize,
    },
    /// The message would not fit the 16-bit length field.
    #[error("{0} octets after the mandatory header exceed the 16-bit length field")]
    TooLong(usize),
    /// A TV information element of unknown type (its length is unknowable).
    #[error("unknown TV information element type {0}")]
    UnknownTvIe(u8),
    /// An information element that runs past the end of the message.
    #[error("information element {0} overruns the message")]
    IeOverrun(u8),
}

/// An extension header: its type (from the previous header's next-type
/// octet) and its content, i.e. the octets between its length octet and its
/// own next-type octet (4n - 2 octets for length n).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// Extension header type.
    pub ext_type: u8,
    /// Content, without the length and next-type octets.
    pub content: Vec<u8>,
}

/// The fields of a PDU Session Container (TS 38.415 §5.5.2) that the lab
/// cares about: the PDU type and the QFI (same position in UL and DL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduSessionContainer {
    /// [`PDU_TYPE_DL`] or [`PDU_TYPE_UL`] (4 bits).
    pub pdu_type: u8,
    /// QoS Flow Identifier (6 bits).
    pub qfi: u8,
}

impl PduSessionContainer {
    /// An UL PDU SESSION INFORMATION for `qfi`, as a gNB sends.
    pub fn uplink(qfi: u8) -> PduSessionContainer {
        PduSessionContainer {
            pdu_type: PDU_TYPE_UL,
            qfi: qfi & MAX_QFI,
        }
    }

    /// A DL PDU SESSION INFORMATION for `qfi`, as a UPF sends.
    pub fn downlink(qfi: u8) -> PduSessionContainer {
        PduSessionContainer {
            pdu_type: PDU_TYPE_DL,
            qfi: qfi & MAX_QFI,
        }
    }

    /// The container as a one-word extension header: PDU type in the high
    /// nibble of the first octet, all optional flags clear, QFI in the low
    /// six bits of the second.
    pub fn to_extension(self) -> Extension {
        Extension {
            ext_type: EXT_PDU_SESSION_CONTAINER,
            content: vec![(self.pdu_type & 0x0f) << 4, self.qfi & MAX_QFI],
        }
    }

    /// Reads a container from an extension header, `None` if it is another
    /// type (or too short, which [`parse`] never produces).
    pub fn from_extension(ext: &Extension) -> Option<PduSessionContainer> {
        match (ext.ext_type, ext.content.as_slice()) {
            (EXT_PDU_SESSION_CONTAINER, [first, second, ..]) => Some(PduSessionContainer {
                pdu_type: first >> 4,
                qfi: second & MAX_QFI,
            }),
            _ => None,
        }
    }
}

/// A GTP-U header. The flags octet is derived from the fields: S when `seq`
/// is set, PN when `npdu` is set, E when `extensions` is non-empty, and the
/// optional field is present when any of them is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message type, e.g. [`MSG_G_PDU`].
    pub msg_type: u8,
    /// Tunnel Endpoint Identifier.
    pub teid: u32,
    /// Sequence number, when S is set.
    pub seq: Option<u16>,
    /// N-PDU number, when PN is set.
    pub npdu: Option<u8>,
    /// Extension headers in order, when E is set.
    pub extensions: Vec<Extension>,
}

impl Header {
    /// A header with no optional field.
    pub fn new(msg_type: u8, teid: u32) -> Header {
        Header {
            msg_type,
            teid,
            seq: None,
            npdu: None,
            extensions: Vec::new(),
        }
    }

    /// A G-PDU header for `teid`.
    pub fn g_pdu(teid: u32) -> Header {
        Header::new(MSG_G_PDU, teid)
    }

    /// Sets the sequence number (and so S).
    #[must_use]
    pub fn with_seq(mut self, seq: u16) -> Header {
        self.seq = Some(seq);
        self
    }

    /// Sets the N-PDU number (and so PN).
    #[must_use]
    pub fn with_npdu(mut self, npdu: u8) -> Header {
        self.npdu = Some(npdu);
        self
    }

    /// Appends an extension header (and so sets E).
    #[must_use]
    pub fn with_extension(mut self, ext: Extension) -> Header {
        self.extensions.push(ext);
        self
    }

    /// Appends a PDU Session Container.
    #[must_use]
    pub fn with_pdu_session(self, container: PduSessionContainer) -> Header {
        self.with_extension(container.to_extension())
    }

    /// The first PDU Session Container in the extension chain, if any.
    pub fn pdu_session(&self) -> Option<PduSessionContainer> {
        self.extensions
            .iter()
            .find_map(PduSessionContainer::from_extension)
    }

    /// The flags octet this header encodes to.
    pub fn flags(&self) -> u8 {
        let mut flags = FLAG_VERSION_1 | FLAG_PT;
        if !self.extensions.is_empty() {
            flags |= FLAG_E;
        }
        if self.seq.is_some() {
            flags |= FLAG_S;
        }
        if self.npdu.is_some() {
            flags |= FLAG_PN;
        }
        flags
    }

    /// Whether the 4-octet optional field is present.
    pub fn has_optional(&self) -> bool {
        self.flags() & (FLAG_E | FLAG_S | FLAG_PN) != 0
    }

    /// Octets of the encoded header: mandatory part, optional field and
    /// extension headers.
    pub fn len(&self) -> usize {
        let optional = if self.has_optional() { OPTIONAL_LEN } else { 0 };
        let extensions: usize = self.extensions.iter().map(|e| e.content.len() + 2).sum();
        HEADER_LEN + optional + extensions
    }

    /// Always false: a header has at least the 8 mandatory octets.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encodes the header followed by `payload`, computing the length field.
    pub fn encode(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        for ext in &self.extensions {
            let len = ext.content.len();
            if len % 4 != 2 || (len + 2) / 4 > usize::from(u8::MAX) {
                return Err(Error::ExtensionContent {
                    ext_type: ext.ext_type,
                    len,
                });
            }
        }
        let after_mandatory = self.len() - HEADER_LEN + payload.len();
        let length = u16::try_from(after_mandatory).map_err(|_| Error::TooLong(after_mandatory))?;

        let mut out = Vec::with_capacity(self.len() + payload.len());
        out.push(self.flags());
        out.push(self.msg_type);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.teid.to_be_bytes());
        if self.has_optional() {
            out.extend_from_slice(&self.seq.unwrap_or(0).to_be_bytes());
            out.push(self.npdu.unwrap_or(0));
            out.push(self.extensions.first().map_or(EXT_NONE, |e| e.ext_type));
        }
        for (i, ext) in self.extensions.iter().enumerate() {
            // Checked above: fits a u8.
            out.push(((ext.content.len() + 2) / 4) as u8);
            out.extend_from_slice(&ext.content);
            out.push(self.extensions.get(i + 1).map_or(EXT_NONE, |e| e.ext_type));
        }
        out.extend_from_slice(payload);
        Ok(out)
    }
}

/// A decoded GTP-U message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The flags octet as received.
    pub flags: u8,
    /// The decoded header.
    pub header: Header,
    /// What follows the headers: the T-PDU of a G-PDU, the IEs of a
    /// signalling message.
    pub payload: &'a [u8],
}

/// Decodes one GTP-U message that fills `datagram` exactly (a UDP payload).
///
/// Rejects: version other than 1, PT 0, the spare bit set, a length field
/// that disagrees with the datagram size, truncated optional fields or
/// extension headers, zero-length extensions and chains longer than
/// [`MAX_EXTENSIONS`]. When E is set with next type 0 the chain is empty.
pub fn parse(datagram: &[u8]) -> Result<Message<'_>, Error> {
    let [flags, msg_type, l0, l1, t0, t1, t2, t3, rest @ ..] = datagram else {
        return Err(Error::Truncated {
            need: HEADER_LEN,
            have: datagram.len(),
        });
    };
    let flags = *flags;
    if flags & FLAG_VERSION_MASK != FLAG_VERSION_1 {
        return Err(Error::Version(flags >> 5));
    }
    if flags & FLAG_PT == 0 {
        return Err(Error::ProtocolType);
    }
    if flags & FLAG_SPARE != 0 {
        return Err(Error::SpareFlag);
    }
    let length = u16::from_be_bytes([*l0, *l1]);
    if usize::from(length) != rest.len() {
        return Err(Error::Length {
            field: length,
            actual: rest.len(),
        });
    }
    let mut header = Header::new(*msg_type, u32::from_be_bytes([*t0, *t1, *t2, *t3]));
    if flags & (FLAG_E | FLAG_S | FLAG_PN) == 0 {
        return Ok(Message {
            flags,
            header,
            payload: rest,
        });
    }

    let [s0, s1, npdu, next, rest @ ..] = rest else {
        return Err(Error::Truncated {
            need: HEADER_LEN + OPTIONAL_LEN,
            have: datagram.len(),
        });
    };
    if flags & FLAG_S != 0 {
        header.seq = Some(u16::from_be_bytes([*s0, *s1]));
    }
    if flags & FLAG_PN != 0 {
        header.npdu = Some(*npdu);
    }
    let mut rest = rest;
    if flags & FLAG_E != 0 {
        let mut next = *next;
        while next != EXT_NONE {
            if header.extensions.len() == MAX_EXTENSIONS {
                return Err(Error::TooManyExtensions);
            }
            let Some(&words) = rest.first() else {
                return Err(Error::ExtensionOverrun(next));
            };
            if words == 0 {
                return Err(Error::ExtensionLength(next));
            }
            let len = usize::from(words) * 4;
            if rest.len() < len {
                return Err(Error::ExtensionOverrun(next));
            }
            header.extensions.push(Extension {
                ext_type: next,
                content: rest[1..len - 1].to_vec(),
            });
            next = rest[len - 1];
            rest = &rest[len..];
        }
    }
    Ok(Message {
        flags,
        header,
        payload: rest,
    })
}

/// An information element of a signalling message (Echo, Error Indication…).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ie<'a> {
    /// IE type.
    pub ie_type: u8,
    /// Value octets (without type and length).
    pub value: &'a [u8],
}

/// Splits the payload of a signalling message into IEs (§8.1): types below
/// 128 are TV with a length known per type (only [`IE_RECOVERY`] and
/// [`IE_TEID_DATA_I`] exist in GTP-U), types from 128 are TLV with a
/// 2-octet length.
pub fn parse_ies(mut payload: &[u8]) -> Result<Vec<Ie<'_>>, Error> {
    let mut ies = Vec::new();
    while let [ie_type, rest @ ..] = payload {
        let ie_type = *ie_type;
        let (len, rest) = match ie_type {
            IE_RECOVERY => (1, rest),
            IE_TEID_DATA_I => (4, rest),
            t if t < 128 => return Err(Error::UnknownTvIe(t)),
            _ => match rest {
                [l0, l1, rest @ ..] => (usize::from(u16::from_be_bytes([*l0, *l1])), rest),
                _ => return Err(Error::IeOverrun(ie_type)),
            },
        };
        if rest.len() < len {
            return Err(Error::IeOverrun(ie_type));
        }
        ies.push(Ie {
            ie_type,
            value: &rest[..len],
        });
        payload = &rest[len..];
    }
    Ok(ies)
}

/// The restart counter of the first Recovery IE, if any.
pub fn recovery(ies: &[Ie<'_>]) -> Option<u8> {
    ies.iter()
        .find(|ie| ie.ie_type == IE_RECOVERY)
        .and_then(|ie| ie.value.first().copied())
}

/// An Echo Request (§7.2.1): flags 0x32, TEID 0, `seq`, no IEs.
pub fn echo_request(seq: u16) -> Vec<u8> {
    encode_small(&Header::new(MSG_ECHO_REQUEST, 0).with_seq(seq), &[])
}

/// An Echo Response (§7.2.2): flags 0x32, TEID 0, `seq`, Recovery IE.
pub fn echo_response(seq: u16, restart_counter: u8) -> Vec<u8> {
    encode_small(
        &Header::new(MSG_ECHO_RESPONSE, 0).with_seq(seq),
        &[IE_RECOVERY, restart_counter],
    )
}

/// An End Marker (§7.3.2): flags 0x30, length 0, `teid`.
pub fn end_marker(teid: u32) -> Vec<u8> {
    encode_small(&Header::new(MSG_END_MARKER, teid), &[])
}

/// Encodes a header without extensions and a tiny payload, which cannot fail.
fn encode_small(header: &Header, payload: &[u8]) -> Vec<u8> {
    header
        .encode(payload)
        .expect("a header without extensions and a tiny payload always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_g_pdu_layout() {
        let bytes = Header::g_pdu(0x0102_0304).encode(b"abc").unwrap();
        assert_eq!(bytes, [0x30, 0xff, 0, 3, 1, 2, 3, 4, b'a', b'b', b'c']);
        let msg = parse(&bytes).unwrap();
        assert_eq!(msg.flags, 0x30);
        assert_eq!(msg.header, Header::g_pdu(0x0102_0304));
        assert_eq!(msg.payload, b"abc");
    }

    #[test]
    fn seq_layout() {
        let bytes = Header::g_pdu(7).with_seq(0xabcd).encode(b"x").unwrap();
        assert_eq!(
            bytes,
            [0x32, 0xff, 0, 5, 0, 0, 0, 7, 0xab, 0xcd, 0, 0, b'x']
        );
        assert_eq!(parse(&bytes).unwrap().header.seq, Some(0xabcd));
    }

    #[test]
    fn uplink_container_layout() {
        let header = Header::g_pdu(0x11).with_pdu_session(PduSessionContainer::uplink(9));
        let bytes = header.encode(b"ip").unwrap();
        assert_eq!(
            bytes,
            [
                0x34, 0xff, 0, 10, 0, 0, 0, 0x11, // mandatory
                0, 0, 0, 0x85, // optional field, next = container
                0x01, 0x10, 9, 0x00, // container: UL, QFI 9, no next
                b'i', b'p',
            ]
        );
        let msg = parse(&bytes).unwrap();
        assert_eq!(msg.header, header);
        assert_eq!(
            msg.header.pdu_session(),
            Some(PduSessionContainer {
                pdu_type: PDU_TYPE_UL,
                qfi: 9
            })
        );
        assert_eq!(msg.payload, b"ip");
    }

    #[test]
    fn gateway_downlink_container_decodes() {
        // What the fast path writes for a 5G session: E only, seq 0, DL, QFI 5.
        let bytes = [
            0x34, 0xff, 0, 9, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0x85, 1, 0x00, 5, 0, 0x45,
        ];
        let msg = parse(&bytes).unwrap();
        assert_eq!(msg.header.teid, 0xdead_beef);
        assert_eq!(msg.header.seq, None);
        assert_eq!(
            msg.header.pdu_session(),
            Some(PduSessionContainer::downlink(5))
        );
        assert_eq!(msg.payload, [0x45]);
    }

    #[test]
    fn round_trips() {
        let long = Extension {
            ext_type: 0x40,
            content: vec![0xaa; 10],
        };
        let headers = [
            Header::g_pdu(0),
            Header::g_pdu(u32::MAX).with_seq(1),
            Header::g_pdu(5).with_npdu(3),
            Header::g_pdu(5).with_seq(2).with_npdu(3),
            Header::g_pdu(6).with_pdu_session(PduSessionContainer::downlink(63)),
            Header::g_pdu(6)
                .with_seq(9)
                .with_extension(long.clone())
                .with_pdu_session(PduSessionContainer::uplink(1)),
            Header::new(MSG_END_MARKER, 77),
        ];
        for header in headers {
            for payload in [&b""[..], b"x", &[0u8; 1500]] {
                let bytes = header.encode(payload).unwrap();
                assert_eq!(bytes.len(), header.len() + payload.len());
                let msg = parse(&bytes).unwrap();
                assert_eq!(msg.flags, header.flags());
                assert_eq!(msg.header, header);
                assert_eq!(msg.payload, payload);
            }
        }
    }

    #[test]
    fn e_flag_with_empty_chain() {
        let bytes = [0x34, 0xff, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0x45];
        let msg = parse(&bytes).unwrap();
        assert_eq!(msg.flags, 0x34);
        assert!(msg.header.extensions.is_empty());
        assert_eq!(msg.header.pdu_session(), None);
        assert_eq!(msg.payload, [0x45]);
    }

    #[test]
    fn echo_messages() {
        let req = echo_request(0x1234);
        assert_eq!(req, [0x32, 1, 0, 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0]);
        let resp = echo_response(0x1234, 0);
        assert_eq!(
            resp,
            [0x32, 2, 0, 6, 0, 0, 0, 0, 0x12, 0x34, 0, 0, IE_RECOVERY, 0]
        );
        let msg = parse(&resp).unwrap();
        assert_eq!(msg.header.msg_type, MSG_ECHO_RESPONSE);
        assert_eq!(msg.header.seq, Some(0x1234));
        let ies = parse_ies(msg.payload).unwrap();
        assert_eq!(recovery(&ies), Some(0));
    }

    #[test]
    fn end_marker_layout() {
        assert_eq!(end_marker(0x0a0b_0c0d), [0x30, 254, 0, 0, 10, 11, 12, 13]);
    }

    #[test]
    fn ies() {
        let payload = [
            IE_RECOVERY,
            3,
            IE_TEID_DATA_I,
            0,
            0,
            0,
            9,
            133,
            0,
            4,
            10,
            0,
            0,
            1,
        ];
        let ies = parse_ies(&payload).unwrap();
        assert_eq!(ies.len(), 3);
        assert_eq!(recovery(&ies), Some(3));
        assert_eq!(ies[1].value, [0, 0, 0, 9]);
        assert_eq!(ies[2].ie_type, 133);
        assert_eq!(ies[2].value, [10, 0, 0, 1]);
        assert_eq!(parse_ies(&[]).unwrap(), []);
        assert_eq!(parse_ies(&[IE_RECOVERY]), Err(Error::IeOverrun(14)));
        assert_eq!(parse_ies(&[133, 0]), Err(Error::IeOverrun(133)));
        assert_eq!(parse_ies(&[133, 0, 2, 1]), Err(Error::IeOverrun(133)));
        assert_eq!(parse_ies(&[7, 1]), Err(Error::UnknownTvIe(7)));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let good = Header::g_pdu(1)
            .with_pdu_session(PduSessionContainer::uplink(1))
            .encode(b"ab")
            .unwrap();
        let mut bad_version = good.clone();
        bad_version[0] = 0x54;
        assert_eq!(parse(&bad_version), Err(Error::Version(2)));
        let mut gtp_prime = good.clone();
        gtp_prime[0] &= !FLAG_PT;
        assert_eq!(parse(&gtp_prime), Err(Error::ProtocolType));
        let mut spare = good.clone();
        spare[0] |= FLAG_SPARE;
        assert_eq!(parse(&spare), Err(Error::SpareFlag));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(parse(&long), Err(Error::Length { .. })));
        let mut zero_ext = good.clone();
        zero_ext[12] = 0;
        assert_eq!(parse(&zero_ext), Err(Error::ExtensionLength(0x85)));
        let mut overrun = good.clone();
        overrun[12] = 2;
        assert_eq!(parse(&overrun), Err(Error::ExtensionOverrun(0x85)));
        // E set but the optional field is missing.
        assert!(matches!(
            parse(&[0x34, 0xff, 0, 0, 0, 0, 0, 1]),
            Err(Error::Truncated { .. })
        ));
        // The chain's last next-type points past the end.
        let dangling = [0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 1, 0x85];
        assert_eq!(parse(&dangling), Err(Error::ExtensionOverrun(0x85)));
    }

    #[test]
    fn overlong_chain_is_rejected() {
        let mut header = Header::g_pdu(1);
        for _ in 0..=MAX_EXTENSIONS {
            header = header.with_pdu_session(PduSessionContainer::uplink(1));
        }
        let bytes = header.encode(&[]).unwrap();
        assert_eq!(parse(&bytes), Err(Error::TooManyExtensions));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = Header::g_pdu(1)
            .with_seq(1)
            .with_npdu(1)
            .with_extension(Extension {
                ext_type: 0x40,
                content: vec![1; 6],
            })
            .with_pdu_session(PduSessionContainer::uplink(1))
            .encode(b"payload")
            .unwrap();
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_err(), "prefix of {cut} accepted");
            // Even with the length field patched to match, the chain is cut.
            let mut patched = full[..cut].to_vec();
            if patched.len() >= HEADER_LEN {
                let len = (patched.len() - HEADER_LEN) as u16;
                patched[2..4].copy_from_slice(&len.to_be_bytes());
                let _ = parse(&patched);
            }
        }
        // Arbitrary junk never panics.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let len = (x % 40) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = parse(&junk);
            let _ = parse_ies(&junk);
        }
    }

    #[test]
    fn encode_rejects_bad_extensions_and_oversize() {
        let bad = Header::g_pdu(1).with_extension(Extension {
            ext_type: 0x40,
            content: vec![0; 3],
        });
        assert_eq!(
            bad.encode(&[]),
            Err(Error::ExtensionContent {
                ext_type: 0x40,
                len: 3
            })
        );
        assert!(matches!(
            Header::g_pdu(1).encode(&vec![0; 70_000]),
            Err(Error::TooLong(70_000))
        ));
    }

    #[test]
    fn container_from_other_extension_is_none() {
        let ext = Extension {
            ext_type: 0x40,
            content: vec![0x10, 5],
        };
        assert_eq!(PduSessionContainer::from_extension(&ext), None);
        assert_eq!(PduSessionContainer::uplink(0xff).qfi, 63);
    }
}
