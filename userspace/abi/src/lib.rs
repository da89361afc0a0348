//! The kernel ABI of mvno-upf, defined once.
//!
//! Every BPF map name, key and value, every global the loader sets, every
//! counter and every drop reason lives here and is used by both the XDP
//! program (`upf-xdp`) and userspace (`upfd`). The layouts are `#[repr(C)]`
//! with explicit padding so that both sides agree byte for byte.
//!
//! Byte order: fields whose name ends in `_be` hold the value exactly as it
//! appears on the wire (network byte order), read as a native integer. The
//! fast path compares them with packet bytes without swapping; userspace
//! converts with `u32::to_be` / `u32::from_be`.
#![no_std]
#![warn(missing_docs)]

/// Names of the BPF maps and globals, shared by the XDP program and the loader.
pub mod names {
    /// Uplink session table: [`crate::UplinkKey`] (local TEID) -> [`crate::UplinkSession`].
    pub const UPLINK: &str = "UPLINK";
    /// Downlink session table: [`crate::DownlinkKey`] (UE IPv4) -> [`crate::DownlinkSession`].
    pub const DOWNLINK: &str = "DOWNLINK";
    /// Per-CPU array of [`crate::SessionCounters`], indexed by session slot.
    pub const SESSION_COUNTERS: &str = "SESSION_COUNTERS";
    /// Per-CPU array of u64, indexed by [`crate::Counter`].
    pub const COUNTERS: &str = "COUNTERS";
    /// Per-CPU array of u64, indexed by [`crate::DropReason`].
    pub const DROPS: &str = "DROPS";
    /// Per-CPU array of [`crate::PortCounters`], indexed by port (configured interface).
    pub const PORT_COUNTERS: &str = "PORT_COUNTERS";
    /// Device map (hash, keyed by ifindex) of the interfaces the fast path may redirect to.
    pub const EGRESS: &str = "EGRESS";
    /// Global ([`crate::Globals`]) set by the loader before the program is verified.
    pub const GLOBALS: &str = "UPF_GLOBALS";
    /// The main XDP program, attached to every N3 and N6 interface.
    pub const PROG_UPF: &str = "upf";
    /// An XDP program that passes everything, for veth peers in native mode.
    pub const PROG_PASS: &str = "upf_pass";
}

/// Maximum number of interfaces (ports) the fast path serves.
pub const MAX_PORTS: usize = 8;
/// Default number of sessions the maps are sized for.
pub const DEFAULT_MAX_SESSIONS: u32 = 100_000;
/// GTP-U UDP port (TS 29.281 §4.4.2.3).
pub const GTPU_PORT: u16 = 2152;

/// Role bits of a port: the interface faces the host network (N3 / S5-U / S1-U).
pub const ROLE_N3: u8 = 1;
/// Role bits of a port: the interface faces the data network (N6 / SGi).
pub const ROLE_N6: u8 = 2;

/// Load-time configuration of the XDP program, written into its `.rodata`
/// by the loader ([`names::GLOBALS`]). Changing it needs a reload.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Globals {
    /// Our GTP-U endpoint address on N3 (`_be`); 0 disables the uplink.
    pub n3_ipv4_be: u32,
    /// Number of valid entries in `port_ifindex` / `port_roles`.
    pub num_ports: u32,
    /// Interface index of each port.
    pub port_ifindex: [u32; MAX_PORTS],
    /// Role bits ([`ROLE_N3`], [`ROLE_N6`]) of each port.
    pub port_roles: [u8; MAX_PORTS],
    /// Feature flags ([`FLAG_FIB_ONLY`], ...).
    pub flags: u32,
    /// Explicit padding to a multiple of 8 bytes.
    pub _pad: u32,
}

/// Globals flag: reserved for the next-hop cache; today every route is a `bpf_fib_lookup`.
pub const FLAG_FIB_ONLY: u32 = 1;

impl Globals {
    /// All zero: no ports, uplink disabled. The program passes everything.
    pub const ZERO: Globals = Globals {
        n3_ipv4_be: 0,
        num_ports: 0,
        port_ifindex: [0; MAX_PORTS],
        port_roles: [0; MAX_PORTS],
        flags: 0,
        _pad: 0,
    };
}

/// Key of the uplink table: our local TEID as on the wire (`_be`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UplinkKey {
    /// Local (uplink) TEID, network byte order.
    pub teid_be: u32,
}

/// Session flags: the session is a 5G N3/N9 session (PDU Session Container on the downlink).
pub const SESSION_5G: u8 = 1;

/// What the fast path needs to terminate an uplink G-PDU (one cache line with room to spare).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UplinkSession {
    /// The UE's IPv4 address (`_be`); the inner source must match (anti-spoofing).
    pub ue_ipv4_be: u32,
    /// Index into [`names::SESSION_COUNTERS`].
    pub slot: u32,
    /// [`SESSION_5G`], ...
    pub flags: u8,
    /// QoS flow identifier of the session's default flow (0..=63).
    pub qfi: u8,
    /// Explicit padding.
    pub _pad: [u8; 2],
}

/// Key of the downlink table: the UE's IPv4 address as on the wire (`_be`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DownlinkKey {
    /// UE IPv4 address, network byte order.
    pub ue_ipv4_be: u32,
}

/// What the fast path needs to encapsulate a downlink packet toward the host network.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownlinkSession {
    /// Peer GTP-U endpoint (gNB / SGW-U) IPv4 address (`_be`).
    pub peer_ipv4_be: u32,
    /// Our GTP-U source address for this session (`_be`).
    pub local_ipv4_be: u32,
    /// The peer's TEID for this tunnel (`_be`).
    pub remote_teid_be: u32,
    /// Index into [`names::SESSION_COUNTERS`].
    pub slot: u32,
    /// [`SESSION_5G`], ...
    pub flags: u8,
    /// QFI written into the downlink PDU Session Container (5G only).
    pub qfi: u8,
    /// Explicit padding.
    pub _pad: [u8; 2],
}

/// Per-session traffic, one per CPU; bytes are inner IP packet bytes (TS 29.244 §5.2.2).
///
/// Counted when the fast path forwards a packet (or hands an uplink packet to
/// the kernel to forward while the next hop's neighbour resolves); dropped
/// packets are never counted here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Uplink packets forwarded.
    pub ul_packets: u64,
    /// Uplink inner IP bytes forwarded.
    pub ul_bytes: u64,
    /// Downlink packets encapsulated.
    pub dl_packets: u64,
    /// Downlink inner IP bytes encapsulated.
    pub dl_bytes: u64,
}

impl SessionCounters {
    /// Adds another CPU's counters into this one.
    pub fn accumulate(&mut self, other: &SessionCounters) {
        self.ul_packets = self.ul_packets.wrapping_add(other.ul_packets);
        self.ul_bytes = self.ul_bytes.wrapping_add(other.ul_bytes);
        self.dl_packets = self.dl_packets.wrapping_add(other.dl_packets);
        self.dl_bytes = self.dl_bytes.wrapping_add(other.dl_bytes);
    }
}

/// Per-port traffic as received, one per CPU, with the verdicts taken on it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received (whole frames).
    pub rx_bytes: u64,
    /// Frames redirected to another (or the same) port.
    pub redirected: u64,
    /// Frames sent back out of the same port with XDP_TX.
    pub tx: u64,
    /// Frames handed to the kernel.
    pub passed: u64,
    /// Frames dropped.
    pub dropped: u64,
}

impl PortCounters {
    /// Adds another CPU's counters into this one.
    pub fn accumulate(&mut self, other: &PortCounters) {
        self.rx_packets = self.rx_packets.wrapping_add(other.rx_packets);
        self.rx_bytes = self.rx_bytes.wrapping_add(other.rx_bytes);
        self.redirected = self.redirected.wrapping_add(other.redirected);
        self.tx = self.tx.wrapping_add(other.tx);
        self.passed = self.passed.wrapping_add(other.passed);
        self.dropped = self.dropped.wrapping_add(other.dropped);
    }
}

/// Declares a `#[repr(u32)]` enum of named counter slots with `ALL`, `COUNT` and `name()`.
macro_rules! slots {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $label:literal,)* }) => {
        $(#[$meta])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }
        impl $name {
            /// Every slot, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// Number of slots (the map's `max_entries`).
            pub const COUNT: u32 = $name::ALL.len() as u32;
            /// Stable snake_case name, used in metrics and CLI output.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }
            /// The map index of this slot.
            #[inline(always)]
            pub const fn index(self) -> u32 { self as u32 }
        }
    };
}

slots! {
    /// Named global counters of the fast path ([`names::COUNTERS`]), per CPU.
    pub enum Counter {
        /// Frames seen on any configured port.
        RxFrames = "rx_frames",
        /// Uplink G-PDUs decapsulated and routed.
        UplinkForwarded = "uplink_forwarded",
        /// Inner IP bytes of uplink G-PDUs forwarded.
        UplinkBytes = "uplink_bytes",
        /// Downlink packets encapsulated and routed.
        DownlinkForwarded = "downlink_forwarded",
        /// Inner IP bytes of downlink packets encapsulated.
        DownlinkBytes = "downlink_bytes",
        /// GTP-U Echo Requests answered in XDP.
        EchoReplied = "echo_replied",
        /// End Markers received on a known tunnel and consumed (TS 29.281 §7.3.2).
        EndMarkerConsumed = "end_marker_consumed",
        /// GTP-U signalling handed to userspace (Error Indication, Echo Response, notifications).
        GtpSignallingPassed = "gtp_signalling_passed",
        /// Frames that are not ours (ARP, ND, PFCP, SSH, other addresses), handed to the kernel.
        NotOursPassed = "not_ours_passed",
        /// Uplink packets handed to the kernel because the next hop's neighbour entry is missing.
        UplinkNeighPassed = "uplink_neigh_passed",
        /// Downlink packets handed to the kernel because the next hop's neighbour entry is missing.
        DownlinkNeighPassed = "downlink_neigh_passed",
        /// Tunnel traffic handed to the kernel to handle: TTL expiring (ICMP), MTU exceeded, a local destination.
        SlowPathPassed = "slow_path_passed",
        /// Frames received on an interface that is not a configured port.
        UnknownPortPassed = "unknown_port_passed",
    }
}

slots! {
    /// Why the fast path dropped a packet ([`names::DROPS`]), per CPU.
    pub enum DropReason {
        /// The frame ends inside a header.
        Truncated = "truncated",
        /// Outer IPv4 header malformed (IHL < 5, total length inconsistent).
        BadIpv4Header = "bad_ipv4_header",
        /// GTP-U header malformed (version, PT, length).
        BadGtpHeader = "bad_gtp_header",
        /// GTP-U extension header with length 0 or running past the packet.
        BadExtensionHeader = "bad_extension_header",
        /// GTP-U extension header chain longer than the fast path follows.
        ExtensionChainTooLong = "extension_chain_too_long",
        /// Unknown extension header whose type says comprehension is required (TS 29.281 §5.2.1).
        UnsupportedExtensionHeader = "unsupported_extension_header",
        /// PDU Session Container with a PDU type the fast path does not know.
        BadPduSessionContainer = "bad_pdu_session_container",
        /// GTP-U message type unknown (TS 29.281 §7.1: silently discarded).
        UnknownGtpMessage = "unknown_gtp_message",
        /// G-PDU whose TEID matches no session.
        UnknownTeid = "unknown_teid",
        /// G-PDU carrying something other than an IPv4 packet (IPv6 and Ethernet PDUs: not yet).
        UnsupportedInnerProtocol = "unsupported_inner_protocol",
        /// Inner IPv4 header malformed.
        BadInnerHeader = "bad_inner_header",
        /// Inner source address is not the session's UE address (anti-spoofing).
        SpoofedSource = "spoofed_source",
        /// Outer IPv4 fragment addressed to our GTP-U port (reassembly is not done in XDP).
        OuterFragment = "outer_fragment",
        /// The route to the destination is a blackhole, unreachable or prohibited.
        NoRoute = "no_route",
        /// The route leaves through an interface that is not a configured port.
        EgressNotPort = "egress_not_port",
        /// Downlink: the peer's neighbour entry is missing (userspace's GTP-U echo to each peer resolves it).
        NeighbourMissing = "neighbour_missing",
        /// Downlink: the encapsulated packet would exceed the N3 path MTU.
        TunnelMtuExceeded = "tunnel_mtu_exceeded",
        /// A helper (adjust_head, adjust_tail) failed.
        HelperFailed = "helper_failed",
        /// End Marker or other signalling for a TEID with no session.
        UnknownTeidSignalling = "unknown_teid_signalling",
    }
}

/// Per-slot XDP verdict codes as the kernel defines them (include/uapi/linux/bpf.h).
pub mod xdp_action {
    /// A program bug; never returned on purpose.
    pub const ABORTED: u32 = 0;
    /// Drop the frame.
    pub const DROP: u32 = 1;
    /// Hand the frame to the kernel stack.
    pub const PASS: u32 = 2;
    /// Send the frame back out of the interface it came in on.
    pub const TX: u32 = 3;
    /// Send the frame out of the interface chosen by a redirect helper.
    pub const REDIRECT: u32 = 4;
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY (for every impl below): each type is #[repr(C)], Copy, made only
    // of integers and arrays of integers, with all padding explicit, so every
    // bit pattern is a valid value and the bytes hold no uninitialised padding.
    #[allow(clippy::undocumented_unsafe_blocks)]
    mod impls {
        use crate::*;
        unsafe impl aya::Pod for Globals {}
        unsafe impl aya::Pod for UplinkKey {}
        unsafe impl aya::Pod for UplinkSession {}
        unsafe impl aya::Pod for DownlinkKey {}
        unsafe impl aya::Pod for DownlinkSession {}
        unsafe impl aya::Pod for SessionCounters {}
        unsafe impl aya::Pod for PortCounters {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_are_stable() {
        // The XDP program and userspace must agree; these sizes are the ABI.
        assert_eq!(
            size_of::<Globals>(),
            4 + 4 + 4 * MAX_PORTS + MAX_PORTS + 4 + 4
        );
        assert_eq!(size_of::<Globals>() % 8, 0);
        assert_eq!(size_of::<UplinkSession>(), 12);
        assert_eq!(size_of::<DownlinkSession>(), 20);
        assert_eq!(size_of::<SessionCounters>(), 32);
        assert_eq!(size_of::<PortCounters>(), 48);
    }

    #[test]
    fn slot_names_are_unique_and_indexed_in_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index() as usize, i);
            assert!(Counter::ALL[..i].iter().all(|o| o.name() != c.name()));
        }
        for (i, d) in DropReason::ALL.iter().enumerate() {
            assert_eq!(d.index() as usize, i);
            assert!(DropReason::ALL[..i].iter().all(|o| o.name() != d.name()));
        }
        assert_eq!(DropReason::COUNT as usize, DropReason::ALL.len());
    }
}
