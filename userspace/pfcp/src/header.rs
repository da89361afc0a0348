//! The PFCP message header (TS 29.244 §7.2.2).
//!
//! ```text
//!  octet 1: version(3) spare(2) FO(1) MP(1) S(1)
//!  octet 2: message type
//!  octets 3-4: message length (octets after the first 4)
//!  [octets 5-12: SEID, when S = 1]
//!  3 octets: sequence number
//!  1 octet: message priority (high 4 bits, when MP = 1) and spare
//! ```

/// A PFCP message type (Table 7.3-1). Unknown values are kept as they came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgType(pub u8);

impl MsgType {
    /// Heartbeat Request.
    pub const HEARTBEAT_REQUEST: MsgType = MsgType(1);
    /// Heartbeat Response.
    pub const HEARTBEAT_RESPONSE: MsgType = MsgType(2);
    /// PFD Management Request.
    pub const PFD_MANAGEMENT_REQUEST: MsgType = MsgType(3);
    /// PFD Management Response.
    pub const PFD_MANAGEMENT_RESPONSE: MsgType = MsgType(4);
    /// Association Setup Request.
    pub const ASSOCIATION_SETUP_REQUEST: MsgType = MsgType(5);
    /// Association Setup Response.
    pub const ASSOCIATION_SETUP_RESPONSE: MsgType = MsgType(6);
    /// Association Update Request.
    pub const ASSOCIATION_UPDATE_REQUEST: MsgType = MsgType(7);
    /// Association Update Response.
    pub const ASSOCIATION_UPDATE_RESPONSE: MsgType = MsgType(8);
    /// Association Release Request.
    pub const ASSOCIATION_RELEASE_REQUEST: MsgType = MsgType(9);
    /// Association Release Response.
    pub const ASSOCIATION_RELEASE_RESPONSE: MsgType = MsgType(10);
    /// Version Not Supported Response.
    pub const VERSION_NOT_SUPPORTED_RESPONSE: MsgType = MsgType(11);
    /// Node Report Request.
    pub const NODE_REPORT_REQUEST: MsgType = MsgType(12);
    /// Node Report Response.
    pub const NODE_REPORT_RESPONSE: MsgType = MsgType(13);
    /// Session Set Deletion Request.
    pub const SESSION_SET_DELETION_REQUEST: MsgType = MsgType(14);
    /// Session Set Deletion Response.
    pub const SESSION_SET_DELETION_RESPONSE: MsgType = MsgType(15);
    /// Session Establishment Request.
    pub const SESSION_ESTABLISHMENT_REQUEST: MsgType = MsgType(50);
    /// Session Establishment Response.
    pub const SESSION_ESTABLISHMENT_RESPONSE: MsgType = MsgType(51);
    /// Session Modification Request.
    pub const SESSION_MODIFICATION_REQUEST: MsgType = MsgType(52);
    /// Session Modification Response.
    pub const SESSION_MODIFICATION_RESPONSE: MsgType = MsgType(53);
    /// Session Deletion Request.
    pub const SESSION_DELETION_REQUEST: MsgType = MsgType(54);
    /// Session Deletion Response.
    pub const SESSION_DELETION_RESPONSE: MsgType = MsgType(55);
    /// Session Report Request.
    pub const SESSION_REPORT_REQUEST: MsgType = MsgType(56);
    /// Session Report Response.
    pub const SESSION_REPORT_RESPONSE: MsgType = MsgType(57);

    /// True for the session-related messages (50..=99), which carry a SEID.
    pub fn is_session(self) -> bool {
        (50..100).contains(&self.0)
    }

    /// True for a request type we know (odd numbers up to 15, and 50, 52, 54, 56).
    pub fn is_request(self) -> bool {
        matches!(self.0, 1 | 3 | 5 | 7 | 9 | 12 | 14 | 50 | 52 | 54 | 56)
    }

    /// The response type that answers this request type.
    pub fn response(self) -> Option<MsgType> {
        self.is_request().then(|| MsgType(self.0 + 1))
    }

    /// The spec's name, or "unknown".
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "Heartbeat Request",
            2 => "Heartbeat Response",
            3 => "PFD Management Request",
            4 => "PFD Management Response",
            5 => "Association Setup Request",
            6 => "Association Setup Response",
            7 => "Association Update Request",
            8 => "Association Update Response",
            9 => "Association Release Request",
            10 => "Association Release Response",
            11 => "Version Not Supported Response",
            12 => "Node Report Request",
            13 => "Node Report Response",
            14 => "Session Set Deletion Request",
            15 => "Session Set Deletion Response",
            50 => "Session Establishment Request",
            51 => "Session Establishment Response",
            52 => "Session Modification Request",
            53 => "Session Modification Response",
            54 => "Session Deletion Request",
            55 => "Session Deletion Response",
            56 => "Session Report Request",
            57 => "Session Report Response",
            _ => "unknown",
        }
    }
}

/// The header of one PFCP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Version (1).
    pub version: u8,
    /// FO: another message follows in the same datagram.
    pub follow_on: bool,
    /// Message type.
    pub message_type: MsgType,
    /// SEID, present when the S flag is set (session messages).
    pub seid: Option<u64>,
    /// Sequence number (24 bits).
    pub sequence: u32,
    /// Message priority (0..=15), present when the MP flag is set.
    pub priority: Option<u8>,
}

/// Why a header could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than the header it announces: drop silently.
    Truncated,
    /// The length field points beyond the datagram: drop silently.
    LengthBeyondDatagram {
        /// Octets the header announces (including the first 4).
        announced: usize,
        /// Octets in the datagram.
        actual: usize,
    },
    /// Version other than 1: answer Version Not Supported Response.
    Version {
        /// The version received.
        version: u8,
        /// Sequence number, if it could be read, for the response.
        sequence: Option<u32>,
    },
    /// The S flag contradicts the message type. Not returned by
    /// [`Header::parse`], which reads such headers as they come; kept for
    /// callers that want to be strict.
    SeidFlag {
        /// The message type.
        message_type: MsgType,
        /// Sequence number, for a response.
        sequence: u32,
    },
}

impl core::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HeaderError::Truncated => write!(f, "datagram shorter than the PFCP header"),
            HeaderError::LengthBeyondDatagram { announced, actual } => write!(
                f,
                "length field announces {announced} octets, datagram has {actual}"
            ),
            HeaderError::Version { version, .. } => {
                write!(f, "PFCP version {version} not supported")
            }
            HeaderError::SeidFlag { message_type, .. } => write!(
                f,
                "S flag does not match message type {} ({})",
                message_type.0,
                message_type.name()
            ),
        }
    }
}

impl std::error::Error for HeaderError {}

impl Header {
    /// A node-related header (no SEID).
    pub fn node(message_type: MsgType, sequence: u32) -> Header {
        Header {
            version: 1,
            follow_on: false,
            message_type,
            seid: None,
            sequence,
            priority: None,
        }
    }

    /// A session-related header.
    pub fn session(message_type: MsgType, seid: u64, sequence: u32) -> Header {
        Header {
            seid: Some(seid),
            ..Header::node(message_type, sequence)
        }
    }

    /// Octets the header takes on the wire.
    pub fn len(&self) -> usize {
        if self.seid.is_some() {
            16
        } else {
            8
        }
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Parses the header of the first message in `datagram` and returns it
    /// with the message body (the IEs), bounded by the length field. Octets
    /// after the message (a follow-on message, when FO is set) are not part
    /// of the body: see [`Header::message_len`].
    pub fn parse(datagram: &[u8]) -> Result<(Header, &[u8]), HeaderError> {
        if datagram.len() < 4 {
            return Err(HeaderError::Truncated);
        }
        let flags = datagram[0];
        let version = flags >> 5;
        let has_seid = flags & 0x01 != 0;
        let mp = flags & 0x02 != 0;
        let follow_on = flags & 0x04 != 0;
        let message_type = MsgType(datagram[1]);
        let announced = 4 + usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        let header_len = if has_seid { 16 } else { 8 };
        let seq_at = header_len - 4;
        let sequence = (datagram.len() >= header_len).then(|| {
            u32::from_be_bytes([
                0,
                datagram[seq_at],
                datagram[seq_at + 1],
                datagram[seq_at + 2],
            ])
        });
        if version != 1 {
            return Err(HeaderError::Version { version, sequence });
        }
        let Some(sequence) = sequence else {
            return Err(HeaderError::Truncated);
        };
        if announced < header_len {
            return Err(HeaderError::Truncated);
        }
        if announced > datagram.len() {
            return Err(HeaderError::LengthBeyondDatagram {
                announced,
                actual: datagram.len(),
            });
        }
        // A node message with S = 1 or a session message with S = 0 breaks
        // §7.2.2.4 but is read as it comes (the SEID is then ignored, or
        // taken as 0 and its session not found): common tools (scapy's
        // PFCP layer sets S = 1 by default) send such headers, and dropping
        // them silently would help nobody.
        let seid = has_seid.then(|| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&datagram[4..12]);
            u64::from_be_bytes(b)
        });
        let priority = mp.then(|| datagram[header_len - 1] >> 4);
        Ok((
            Header {
                version,
                follow_on,
                message_type,
                seid,
                sequence,
                priority,
            },
            &datagram[header_len..announced],
        ))
    }

    /// Octets the first message of `datagram` takes, header included, as its
    /// length field says (0 if the datagram is too short to tell).
    pub fn message_len(datagram: &[u8]) -> usize {
        if datagram.len() < 4 {
            return 0;
        }
        4 + usize::from(u16::from_be_bytes([datagram[2], datagram[3]]))
    }

    /// Emits the header with a zero length field; [`set_length`] fills it in
    /// once the body is written.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut flags = 1u8 << 5;
        if self.follow_on {
            flags |= 0x04;
        }
        if self.priority.is_some() {
            flags |= 0x02;
        }
        if self.seid.is_some() {
            flags |= 0x01;
        }
        out.extend_from_slice(&[flags, self.message_type.0, 0, 0]);
        if let Some(seid) = self.seid {
            out.extend_from_slice(&seid.to_be_bytes());
        }
        let seq = self.sequence.to_be_bytes();
        out.extend_from_slice(&seq[1..4]);
        out.push(self.priority.map_or(0, |p| (p & 0x0f) << 4));
    }
}

/// Writes the length field of the message that starts at `message[0]` and
/// runs to the end of the slice (does nothing on a slice shorter than 4).
pub fn set_length(message: &mut [u8]) {
    let len = u16::try_from(message.len().saturating_sub(4)).unwrap_or(u16::MAX);
    if let Some(field) = message.get_mut(2..4) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Heartbeat Request, sequence 0x010203, one Recovery Time Stamp IE.
    static NODE: [u8; 16] = [
        0x20, 0x01, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x00, 0x00, 0x60, 0x00, 0x04, 0xe8, 0x75, 0x47,
        0x00,
    ];
    // Session Deletion Request, SEID 0x1122334455667788, sequence 7,
    // priority 5, FO set, no IEs.
    static SESSION: [u8; 16] = [
        0x27, 0x36, 0x00, 0x0c, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x00, 0x00, 0x07,
        0x50,
    ];

    #[test]
    fn parse_node_header() {
        let (h, body) = Header::parse(&NODE).unwrap();
        assert_eq!(h, Header::node(MsgType::HEARTBEAT_REQUEST, 0x010203));
        assert_eq!(body, &NODE[8..]);
        assert_eq!(h.len(), 8);
    }

    #[test]
    fn parse_session_header() {
        let (h, body) = Header::parse(&SESSION).unwrap();
        assert_eq!(
            h,
            Header {
                version: 1,
                follow_on: true,
                message_type: MsgType::SESSION_DELETION_REQUEST,
                seid: Some(0x1122_3344_5566_7788),
                sequence: 7,
                priority: Some(5),
            }
        );
        assert!(body.is_empty());
        assert_eq!(h.len(), 16);
    }

    #[test]
    fn emit_headers() {
        let mut out = Vec::new();
        Header::node(MsgType::HEARTBEAT_REQUEST, 0x010203).emit(&mut out);
        out.extend_from_slice(&NODE[8..]);
        set_length(&mut out);
        assert_eq!(out, NODE);
        let mut out = Vec::new();
        let (h, _) = Header::parse(&SESSION).unwrap();
        h.emit(&mut out);
        set_length(&mut out);
        assert_eq!(out, SESSION);
    }

    #[test]
    fn body_stops_at_the_length_field() {
        let mut two = NODE.to_vec();
        two.extend_from_slice(&NODE);
        let (_, body) = Header::parse(&two).unwrap();
        assert_eq!(body, &NODE[8..]);
        assert_eq!(Header::message_len(&two), NODE.len());
        assert_eq!(Header::message_len(&two[..3]), 0);
    }

    #[test]
    fn set_length_on_a_short_slice_does_nothing() {
        let mut b = [0x20, 1, 0];
        set_length(&mut b);
        assert_eq!(b, [0x20, 1, 0]);
    }

    #[test]
    fn request_response_pairs() {
        assert_eq!(
            MsgType::SESSION_ESTABLISHMENT_REQUEST.response(),
            Some(MsgType::SESSION_ESTABLISHMENT_RESPONSE)
        );
        assert_eq!(
            MsgType::NODE_REPORT_REQUEST.response(),
            Some(MsgType::NODE_REPORT_RESPONSE)
        );
        assert_eq!(MsgType::HEARTBEAT_RESPONSE.response(), None);
        assert!(MsgType(99).is_session() && !MsgType(15).is_session());
    }
}
