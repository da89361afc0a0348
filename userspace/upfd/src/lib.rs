//! The mvno-upf daemon as a library: everything `upfd` and `upfctl` share.
pub mod datapath;
