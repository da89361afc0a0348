//! TEMPORARY: the fast-path ABI types being added to upf-abi on another
//! branch; removed at the merge.
#![allow(missing_docs, dead_code)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PdrAction {
    pub counter: u32,
    pub flags: u8,
    pub qfi: u8,
    pub _pad: [u8; 2],
    pub peer_ipv4_be: u32,
    pub remote_teid_be: u32,
}
pub const ACT_FORWARD: u8 = 1;
pub const ACT_DROP: u8 = 2;
pub const ACT_5G: u8 = 4;
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkEntry {
    pub ue_ipv4_be: u32,
    pub rules: u32,
    pub default: PdrAction,
}
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DownlinkEntry {
    pub local_ipv4_be: u32,
    pub rules: u32,
    pub default: PdrAction,
}
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SdfMatch {
    pub src_be: u32,
    pub src_mask_be: u32,
    pub dst_be: u32,
    pub dst_mask_be: u32,
    pub sport_lo: u16,
    pub sport_hi: u16,
    pub dport_lo: u16,
    pub dport_hi: u16,
    pub proto: u8,
    pub qfi: u8,
    pub flags: u8,
    pub _pad: u8,
}
pub const M_PROTO: u8 = 1;
pub const M_QFI: u8 = 2;
pub const M_PORTS: u8 = 4;
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub m: SdfMatch,
    pub action: PdrAction,
}
pub const MAX_RULES: usize = 8;
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    pub len: u32,
    pub rules: [Rule; MAX_RULES],
}
