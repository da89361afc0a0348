//! Test support for mvno-upf: GTP-U and inner-packet encoders/decoders and
//! the traffic loops of the `mupf-lab` lab tool.
//!
//! - [`gtp`]: GTP-U headers, extension headers (PDU Session Container),
//!   IEs, Echo and End Marker messages, with strict decoding.
//! - [`inner`]: the inner IPv4 UDP/ICMP packets, tagged payloads, and
//!   checksum-verifying parsing.
//! - [`lab`]: the simulated RAN, the echo and End Marker probes and the DN
//!   echo server, returning serde-serialisable reports.
//! - [`smf`]: a blocking test SMF speaking PFCP to the gateway's N4.
//! - [`pace`]: a paced UDP sender; [`rate`]: paced, stamped traffic and the
//!   delivered rate measured at the receiver.
//! - [`ue`]: a UE on a TUN device behind the simulated RAN (4G or 5G).

pub mod gtp;
pub mod inner;
pub mod lab;
pub mod pace;
pub mod rate;
pub mod smf;
pub mod ue;
