//! Cross-check against an independent decoder: every message we can build,
//! fully populated, is written to a pcap (Ethernet/IPv4/UDP to port 8805) and
//! dissected by tshark, which must find nothing malformed, no expert error or
//! warning, and no unknown IE. tshark is required: without it this test
//! fails (install it: `apt-get install tshark`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use upf_pfcp::{Pdu, PFCP_PORT};

const TSHARK: &str = "tshark";

const VENDOR_NOT_DECODED: &str =
    "[Expert Info (Error/Protocol): IE not decoded yet(WS:No vendor dissector)]";

/// The 16-bit one's complement sum of RFC 1071.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One Ethernet/IPv4/UDP frame carrying `payload` from 8805 to 8805 (UDP
/// checksum 0: allowed over IPv4).
fn frame(payload: &[u8], ident: u16) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&u16::try_from(ip_len).unwrap().to_be_bytes());
    f.extend_from_slice(&ident.to_be_bytes());
    f.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    let csum = ipv4_checksum(&f[ip_start..ip_start + 20]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&PFCP_PORT.to_be_bytes());
    f.extend_from_slice(&PFCP_PORT.to_be_bytes());
    f.extend_from_slice(&u16::try_from(udp_len).unwrap().to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A classic pcap file (microsecond timestamps, link type Ethernet).
fn write_pcap(path: &Path, payloads: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in payloads.iter().enumerate() {
        let f = frame(p, u16::try_from(i).unwrap());
        let len = u32::try_from(f.len()).unwrap();
        out.extend_from_slice(&(1_700_000_000u32 + u32::try_from(i).unwrap()).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&f);
    }
    std::fs::write(path, out).unwrap();
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new(TSHARK).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {TSHARK} ({e}): install tshark (apt-get install tshark) to run this test")
    });
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pcap_of(name: &str, pdus: &[Pdu]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("upf-pfcp-{}-{name}.pcap", std::process::id()));
    let payloads: Vec<Vec<u8>> = pdus.iter().map(Pdu::to_bytes).collect();
    write_pcap(&path, &payloads);
    path
}

/// Removes the pcap unless `UPF_PFCP_KEEP_PCAP` is set (then says where it is).
fn cleanup(path: &Path) {
    if std::env::var_os("UPF_PFCP_KEEP_PCAP").is_some() {
        eprintln!("pcap kept at {}", path.display());
    } else {
        std::fs::remove_file(path).ok();
    }
}

/// The frames of `tshark -V` output, one string each.
fn frames(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = text.match_indices("\nFrame ").map(|(i, _)| i + 1).collect();
    if text.starts_with("Frame ") {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &text[s..*starts.get(i + 1).unwrap_or(&text.len())])
        .collect()
}

#[test]
fn tshark_dissects_every_message_cleanly() {
    let pdus = common::all_messages(false);
    let path = pcap_of("all", &pdus);
    let path_s = path.to_str().unwrap();
    let text = tshark(&["-r", path_s, "-V", "-d", "udp.port==8805,pfcp"]);
    let frames = frames(&text);
    assert_eq!(frames.len(), pdus.len(), "one dissection per message");
    let mut bad = Vec::new();
    for (pdu, f) in pdus.iter().zip(&frames) {
        assert!(
            f.contains("Packet Forwarding Control Protocol"),
            "not dissected as PFCP:\n{f}"
        );
        let t = pdu.message.message_type();
        let name = t.name();
        assert!(
            f.contains(&format!("Message Type: PFCP {name} ({})", t.0)),
            "{name} not recognised:\n{f}"
        );
        let pfcp = f
            .find("Packet Forwarding Control Protocol")
            .map_or(*f, |i| &f[i..]);
        // tshark has no dissector for our made-up vendor IE (enterprise
        // 32473, the RFC 5612 example number; type 200) and says so with
        // this one expert error; that line alone is allowed (the enterprise
        // ID itself is checked in `tshark_reads_our_values`).
        let f = f.replace(VENDOR_NOT_DECODED, "");
        for needle in [
            "Malformed",
            "Expert Info (Error",
            "Expert Info (Warn",
            "[Unknown",
        ] {
            if f.contains(needle) {
                bad.push(format!("{name}: `{needle}`\n{pfcp}"));
            }
        }
    }
    cleanup(&path);
    assert!(bad.is_empty(), "tshark complaints:\n{}", bad.join("\n\n"));
}

#[test]
fn tshark_reads_our_values() {
    let pdus = common::all_messages(false);
    let path = pcap_of("fields", &pdus);
    let path_s = path.to_str().unwrap();
    let text = tshark(&[
        "-r",
        path_s,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "pfcp.msg_type",
        "-e",
        "pfcp.seid",
        "-e",
        "pfcp.f_teid.teid",
        "-e",
        "pfcp.f_teid.choose_id",
        "-e",
        "pfcp.node_id_fqdn",
        "-e",
        "pfcp.flow_desc",
        "-e",
        "pfcp.outer_hdr_creation.teid",
        "-e",
        "pfcp.ue_ip_addr_ipv4",
        "-e",
        "pfcp.recovery_time_stamp",
        "-e",
        "pfcp.enterprise_id",
    ]);
    cleanup(&path);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(lines.len(), pdus.len());
    // Session Establishment Request.
    let ser = &lines[11];
    assert_eq!(ser[0], "50");
    assert_eq!(
        ser[1], "0x1122334455667788,0xa1a2a3a4a5a6a7a8",
        "header SEID, CP F-SEID"
    );
    assert_eq!(ser[3], "07", "CHOOSE ID");
    assert_eq!(ser[4], "smf.example.net");
    assert!(
        ser[5].contains("permit out 17 from 10.0.0.0/8 1000-2000 to assigned 80"),
        "{ser:?}"
    );
    assert!(ser[6].contains("0xcafe0001"), "{ser:?}");
    assert!(ser[7].contains("10.45.0.2"), "{ser:?}");
    // Session Establishment Response: the allocated F-TEID.
    let rsp = &lines[12];
    assert!(rsp[2].contains("0x12345678"), "{rsp:?}");
    // Heartbeat Request.
    assert_eq!(lines[0][0], "1");
    assert!(!lines[0][8].is_empty());
    // Heartbeat Response carries the vendor IE.
    assert_eq!(lines[1][9], "32473");
}
