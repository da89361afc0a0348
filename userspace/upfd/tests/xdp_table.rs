//! BPF_PROG_TEST_RUN fixture tables of the loaded XDP program, in the style
//! of Katran's packet tables: each row is an input frame, the port it arrives
//! on, the expected verdict, the expected output frame (built independently
//! with etherparse, never with the fast path's own writers) and the counter
//! or drop reason it must move.
//!
//! Every test builds its own network namespace `mupf-t<pid>-<n>` holding veth
//! pairs for N3 and N6 and one interface that is not a port, with fixed MACs,
//! addresses, routes and permanent neighbour entries, so that
//! `bpf_fib_lookup` answers with known MACs. The test thread enters that
//! namespace before loading the program (interface names and the test run's
//! `ingress_ifindex` are per namespace), fills the maps through
//! `SessionManager::install` (the daemon's own path) for the static sessions
//! and through the `Datapath` trait for the sessions with PDR rule sets, and
//! leaves and deletes the namespace when it ends, panicking or not.
//!
//! Needs root; without it (or without iproute2) the tests panic and say so.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use aya::programs::{TestRun, TestRunOptions};
use etherparse::{
    EtherType, Ethernet2Header, IcmpEchoHeader, Icmpv4Header, Icmpv4Type, IpFragOffset, IpNumber,
    Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv6Header, SingleVlanHeader, TcpHeader, UdpHeader, VlanId,
    VlanPcp,
};
use upf_abi::{
    xdp_action, Counter, DownlinkEntry, DropReason, PdrAction, PortCounters, Rule, RuleSet,
    SdfMatch, SessionCounters, UplinkEntry, ACT_5G, ACT_DROP, ACT_FORWARD, MAX_RULES, M_PORTS,
    M_PROTO, M_QFI, ROLE_N3, ROLE_N6,
};
use upf_session::datapath::Datapath;
use upf_session::manager::SessionManager;
use upf_session::static_sessions::{Generation, SessionError, SessionSpec};
use upf_session::types::Ipv4Net;
use upfd::bpf::{ifindex, BpfDatapath, LoadOptions, Port};

// ---- the namespace's fixed addressing ----

type Mac = [u8; 6];
type V4 = [u8; 4];

/// Our N3 interface and its veth peer (the "RAN side").
const N3_IF: &str = "mtn3";
const N3_PEER_IF: &str = "mtn3p";
/// Our N6 interface and its veth peer (the "data network side").
const N6_IF: &str = "mtn6";
const N6_PEER_IF: &str = "mtn6p";
/// An interface with a route through it that is not a configured port.
const X_IF: &str = "mtx";
const X_PEER_IF: &str = "mtxp";

const N3_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x01];
const GNB_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x02];
const GNB2_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x03];
const N6_MAC: Mac = [0x02, 0, 0, 0, 0x06, 0x01];
const GW_MAC: Mac = [0x02, 0, 0, 0, 0x06, 0x02];
const X_MAC: Mac = [0x02, 0, 0, 0, 0x0a, 0x01];
const X_GW_MAC: Mac = [0x02, 0, 0, 0, 0x0a, 0x02];
const BROADCAST: Mac = [0xff; 6];

/// Our GTP-U address (on N3).
const N3_ADDR: V4 = [10, 100, 0, 1];
/// The 4G session's peer (eNB / SGW-U), with a permanent neighbour entry.
const GNB: V4 = [10, 100, 0, 2];
/// The 5G session's peer (gNB), with a permanent neighbour entry.
const GNB2: V4 = [10, 100, 0, 3];
/// A peer on the N3 subnet without a neighbour entry.
const PEER_NO_NEIGH: V4 = [10, 100, 0, 9];
/// Another address on the N3 subnet (not ours).
const N3_OTHER: V4 = [10, 100, 0, 77];
/// The SMF (PFCP peer) on the N3 side.
const SMF: V4 = [10, 100, 0, 50];
/// Our N6 address and the N6 default gateway (permanent neighbour).
const N6_ADDR: V4 = [10, 200, 0, 1];
const GW: V4 = [10, 200, 0, 254];
/// An N6 next hop without a neighbour entry (route to NO_NEIGH_HOST).
const GW_NO_NEIGH: V4 = [10, 200, 0, 253];
/// The non-port interface's address and its next hop (permanent neighbour).
const X_ADDR: V4 = [10, 210, 0, 1];
const X_GW: V4 = [10, 210, 0, 2];

/// A host on the data network (default route via GW).
const DN_HOST: V4 = [198, 51, 100, 7];
/// Behind a blackhole route.
const BLACKHOLE_HOST: V4 = [203, 0, 113, 5];
/// Routed via GW_NO_NEIGH.
const NO_NEIGH_HOST: V4 = [192, 0, 2, 130];
/// Routed out of the non-port interface.
const X_HOST: V4 = [192, 0, 2, 10];

/// Session 1: 4G, UE1, local TEID 0x100, downlink to GNB with TEID 0x10000001.
const UE1: V4 = [10, 45, 0, 2];
const TEID1: u32 = 0x100;
const REMOTE_TEID1: u32 = 0x1000_0001;
/// Session 2: 5G, UE2, local TEID 0x200, downlink to GNB2 with TEID 0x20000002, QFI 9.
const UE2: V4 = [10, 45, 0, 3];
const TEID2: u32 = 0x200;
const REMOTE_TEID2: u32 = 0x2000_0002;
const QFI2: u8 = 9;
/// Session 3: 4G, UE3, downlink peer without a neighbour entry.
const UE3: V4 = [10, 45, 0, 4];
const TEID3: u32 = 0x300;
const REMOTE_TEID3: u32 = 0x3000_0003;
/// Session 4: 4G, UE4, downlink peer routed out of the interface that is not a port.
const UE4: V4 = [10, 45, 0, 5];
const TEID4: u32 = 0x400;
const REMOTE_TEID4: u32 = 0x4000_0004;
const PEER_NOT_A_PORT: V4 = [192, 0, 2, 20];
/// The gateway's TEID range: the fixture TEIDs are in it (direct-indexed
/// in UL_TABLE); TEID_UNKNOWN is not.
const TEID_RANGE: (u32, u32) = (0x100, 0xffff);
/// The UE prefix DL_TABLE covers: UE7 is outside it (the DOWNLINK hash).
const UE_PREFIX: &str = "10.45.0.0/24";
/// A UE address with no session.
const UE_UNKNOWN: V4 = [10, 45, 0, 200];
/// A TEID with no session.
const TEID_UNKNOWN: u32 = 0x0bad_0bad;

// ---- sessions with PDR rule sets (written through the Datapath trait) ----

/// Size of RULES in the tests.
const RULE_SETS: u32 = 16;

/// Session 5: 5G, UE5, TEID5. Uplink rules (set 0): UDP to DN_HOST ports
/// 50..=53 -> slot S5_DNS; TCP from UE5/32 to 198.51.100.0/24 -> drop;
/// default -> S5. Downlink rules (set 1): UDP from source port 53 -> GNB,
/// REMOTE_TEID5_DNS, QFI 5, slot S5_DL_DNS; TCP with a QFI condition (not
/// evaluated downlink) -> drop; default -> GNB2, REMOTE_TEID5, QFI2, slot S5.
const UE5: V4 = [10, 45, 0, 6];
const TEID5: u32 = 0x500;
const REMOTE_TEID5: u32 = 0x5000_0005;
const REMOTE_TEID5_DNS: u32 = 0x5555_0001;
const S5: u32 = 1000;
const S5_DNS: u32 = 1001;
const S5_TCP_DROP: u32 = 1002;
const S5_DL_DNS: u32 = 1003;
const S5_DL_TCP_DROP: u32 = 1004;
/// Outside 198.51.100.0/24, routed by the default route (via GW).
const OTHER_DN_HOST: V4 = [198, 51, 101, 9];
/// Session 6: TEID6, UE6: QFI-only rules (set 2): QFI 5 -> S6_Q5, QFI 7 -> S6_Q7; default -> S6.
const UE6: V4 = [10, 45, 0, 7];
const TEID6: u32 = 0x600;
const S6: u32 = 1010;
const S6_Q5: u32 = 1011;
const S6_Q7: u32 = 1012;
/// Session 7: TEID7 without anti-spoofing, no default: one rule (set 3), any
/// TCP/UDP/SCTP port from 10.45.1.0/24 -> S7. Downlink to UE7: no default,
/// one rule (set 4), TCP -> S7.
const UE7: V4 = [10, 45, 1, 8];
const UE7_OTHER_NET: V4 = [10, 45, 2, 8];
const TEID7: u32 = 0x700;
const S7: u32 = 1020;
/// Session 8: TEID8, UE8: eight rules (set 5), only the last matches -> S8_LAST; no default.
const UE8: V4 = [10, 45, 0, 9];
const TEID8: u32 = 0x800;
const S8_LAST: u32 = 1031;
const S8_DECOY: u32 = 1032;
/// Session 9: TEID9, UE9: rule set 6 with a garbage len (u32::MAX) and eight
/// rules that do not match; the next set (7) is all catch-alls -> S9_DECOY.
/// The loop must stop at MAX_RULES and take the default -> S9.
const UE9: V4 = [10, 45, 0, 10];
const TEID9: u32 = 0x900;
const S9: u32 = 1040;
const S9_DECOY: u32 = 1041;
/// Uplink entries of the PDR fixture sessions (5 to 9).
const PDR_UPLINKS: u32 = 5;
/// Every PDR fixture counter slot: a row must move only its own.
const PDR_SLOTS: &[u32] = &[
    S5,
    S5_DNS,
    S5_TCP_DROP,
    S5_DL_DNS,
    S5_DL_TCP_DROP,
    S6,
    S6_Q5,
    S6_Q7,
    S7,
    S8_LAST,
    S8_DECOY,
    S9,
    S9_DECOY,
];

fn be(a: V4) -> u32 {
    u32::from_ne_bytes(a)
}

fn fwd(counter: u32) -> PdrAction {
    PdrAction {
        counter,
        flags: ACT_FORWARD,
        ..PdrAction::NONE
    }
}

fn far_drop(counter: u32) -> PdrAction {
    PdrAction {
        counter,
        flags: ACT_DROP,
        ..PdrAction::NONE
    }
}

/// A downlink action: through the tunnel to `peer`/`teid`, 5G with `qfi`.
fn tunnel(counter: u32, peer: V4, teid: u32, qfi: Option<u8>) -> PdrAction {
    PdrAction {
        counter,
        flags: ACT_FORWARD | if qfi.is_some() { ACT_5G } else { 0 },
        qfi: qfi.unwrap_or(0),
        _pad: [0; 2],
        peer_ipv4_be: be(peer),
        remote_teid_be: teid.to_be(),
        ..PdrAction::NONE
    }
}

fn rule_set(rules: &[Rule]) -> RuleSet {
    let mut s = RuleSet::EMPTY;
    s.len = rules.len() as u32;
    s.rules[..rules.len()].copy_from_slice(rules);
    s
}

fn proto_is(proto: u8) -> SdfMatch {
    SdfMatch {
        proto,
        flags: M_PROTO,
        ..SdfMatch::ANY
    }
}

/// Writes sessions 5 to 9 (see their constants) straight through the Datapath trait.
fn install_pdr_sessions(dp: &mut BpfDatapath) {
    let n3 = be(N3_ADDR);
    let mut put_rules = |i: u32, set: &RuleSet| {
        dp.put_rules(i, set)
            .unwrap_or_else(|e| panic!("writing rule set {i}: {e}"))
    };
    // Session 5.
    put_rules(
        0,
        &rule_set(&[
            Rule {
                m: SdfMatch {
                    dst_be: be(DN_HOST),
                    dst_mask_be: u32::MAX,
                    dport_lo: 50,
                    dport_hi: 53,
                    proto: 17,
                    flags: M_PROTO | M_PORTS,
                    ..SdfMatch::ANY
                },
                action: fwd(S5_DNS),
            },
            Rule {
                m: SdfMatch {
                    src_be: be(UE5),
                    src_mask_be: u32::MAX,
                    dst_be: be([198, 51, 100, 0]),
                    dst_mask_be: be([255, 255, 255, 0]),
                    ..proto_is(6)
                },
                action: far_drop(S5_TCP_DROP),
            },
        ]),
    );
    put_rules(
        1,
        &rule_set(&[
            Rule {
                m: SdfMatch {
                    sport_lo: 53,
                    sport_hi: 53,
                    proto: 17,
                    flags: M_PROTO | M_PORTS,
                    ..SdfMatch::ANY
                },
                action: tunnel(S5_DL_DNS, GNB, REMOTE_TEID5_DNS, Some(5)),
            },
            Rule {
                m: SdfMatch {
                    qfi: 1,
                    flags: M_PROTO | M_QFI,
                    ..proto_is(6)
                },
                action: far_drop(S5_DL_TCP_DROP),
            },
        ]),
    );
    // Session 6: QFI rules.
    let qfi_is = |q: u8| SdfMatch {
        qfi: q,
        flags: M_QFI,
        ..SdfMatch::ANY
    };
    put_rules(
        2,
        &rule_set(&[
            Rule {
                m: qfi_is(5),
                action: fwd(S6_Q5),
            },
            Rule {
                m: qfi_is(7),
                action: fwd(S6_Q7),
            },
        ]),
    );
    // Session 7: a source prefix with ports, no default.
    put_rules(
        3,
        &rule_set(&[Rule {
            m: SdfMatch {
                src_be: be([10, 45, 1, 0]),
                src_mask_be: be([255, 255, 255, 0]),
                flags: M_PORTS,
                ..SdfMatch::ANY
            },
            action: fwd(S7),
        }]),
    );
    put_rules(
        4,
        &rule_set(&[Rule {
            m: proto_is(6),
            action: tunnel(S7, GNB, 0x7000_0007, None),
        }]),
    );
    // Session 8: eight rules, the last matches.
    let mut eight = [Rule {
        m: proto_is(99),
        action: fwd(S8_DECOY),
    }; MAX_RULES];
    eight[MAX_RULES - 1] = Rule {
        m: SdfMatch::ANY,
        action: fwd(S8_LAST),
    };
    put_rules(5, &rule_set(&eight));
    // Session 9: a garbage length; the set after it catches everything.
    let mut garbage = rule_set(
        &[Rule {
            m: proto_is(99),
            action: fwd(S9_DECOY),
        }; MAX_RULES],
    );
    garbage.len = u32::MAX;
    put_rules(6, &garbage);
    put_rules(
        7,
        &rule_set(
            &[Rule {
                m: SdfMatch::ANY,
                action: fwd(S9_DECOY),
            }; MAX_RULES],
        ),
    );

    let mut put = |teid: u32, ue: V4, check: bool, rules: u32, default: PdrAction| {
        dp.put_uplink(
            teid,
            &UplinkEntry {
                ue_ipv4_be: if check { be(ue) } else { 0 },
                rules,
                default,
            },
        )
        .unwrap_or_else(|e| panic!("writing uplink {teid:#x}: {e}"));
    };
    put(TEID5, UE5, true, 1, fwd(S5));
    put(TEID6, UE6, true, 3, fwd(S6));
    put(TEID7, UE7, false, 4, PdrAction::NONE);
    put(TEID8, UE8, true, 6, PdrAction::NONE);
    put(TEID9, UE9, true, 7, fwd(S9));
    for (ue, rules, default) in [
        (UE5, 2, tunnel(S5, GNB2, REMOTE_TEID5, Some(QFI2))),
        (UE7, 5, PdrAction::NONE),
    ] {
        dp.put_downlink(
            Ipv4Addr::from(ue),
            &DownlinkEntry {
                local_ipv4_be: n3,
                rules,
                default,
            },
        )
        .unwrap_or_else(|e| panic!("writing downlink {ue:?}: {e}"));
    }
    for &slot in PDR_SLOTS {
        dp.reset_counters(slot)
            .unwrap_or_else(|e| panic!("resetting slot {slot}: {e}"));
    }
}

const GTPU: u16 = 2152;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_ARP: u16 = 0x0806;
const VLAN_ID: u16 = 100;
/// IP identification of every packet "sent by others" (the encapsulation and the echo use 0).
const FOREIGN_ID: u16 = 0x2a2a;
/// Payload of the inner UDP packets.
const PAYLOAD: &[u8] = b"mvno-upf fixture payload 0123456789";

fn sessions() -> Vec<SessionSpec> {
    vec![
        SessionSpec {
            id: 1,
            local_teid: TEID1,
            ue_ipv4: Ipv4Addr::from(UE1),
            peer_ipv4: Ipv4Addr::from(GNB),
            remote_teid: REMOTE_TEID1,
            qfi: 0,
            generation: Generation::Lte,
        },
        SessionSpec {
            id: 2,
            local_teid: TEID2,
            ue_ipv4: Ipv4Addr::from(UE2),
            peer_ipv4: Ipv4Addr::from(GNB2),
            remote_teid: REMOTE_TEID2,
            qfi: QFI2,
            generation: Generation::Nr,
        },
        SessionSpec {
            id: 3,
            local_teid: TEID3,
            ue_ipv4: Ipv4Addr::from(UE3),
            peer_ipv4: Ipv4Addr::from(PEER_NO_NEIGH),
            remote_teid: REMOTE_TEID3,
            qfi: 0,
            generation: Generation::Lte,
        },
        SessionSpec {
            id: 4,
            local_teid: TEID4,
            ue_ipv4: Ipv4Addr::from(UE4),
            peer_ipv4: Ipv4Addr::from(PEER_NOT_A_PORT),
            remote_teid: REMOTE_TEID4,
            qfi: 0,
            generation: Generation::Lte,
        },
    ]
}

// ---- the environment: namespace, program, sessions ----

fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests need root (CAP_NET_ADMIN and CAP_BPF/CAP_SYS_ADMIN) to create network \
         namespaces and load XDP programs; run them as root"
    );
}

fn run_cmd(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` (iproute2 and procps are required): {e}")
        });
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn mac(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn addr(a: V4) -> String {
    Ipv4Addr::from(a).to_string()
}

fn setns(fd: &File, what: &str) {
    // SAFETY: fd is an open namespace file for the duration of the call;
    // setns only changes this thread's network namespace.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns into {what} failed: {}",
        std::io::Error::last_os_error()
    );
}

/// A network namespace of our own; dropping it moves the thread back and deletes it.
struct Netns {
    name: String,
    /// The thread's namespace before [`Netns::enter`].
    original: Option<File>,
}

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    fn create() -> Netns {
        let name = format!(
            "mupf-t{}-{}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::Relaxed)
        );
        run_cmd("ip", &["netns", "add", &name]);
        Netns {
            name,
            original: None,
        }
    }

    fn ip(&self, args: &str) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend(args.split_whitespace());
        run_cmd("ip", &all);
    }

    /// Interfaces, addresses, neighbours, routes and forwarding.
    fn configure(&self) {
        for (a, amac, b, bmac) in [
            (N3_IF, N3_MAC, N3_PEER_IF, GNB_MAC),
            (N6_IF, N6_MAC, N6_PEER_IF, GW_MAC),
            (X_IF, X_MAC, X_PEER_IF, X_GW_MAC),
        ] {
            self.ip(&format!(
                "link add {a} address {} type veth peer name {b} address {}",
                mac(amac),
                mac(bmac)
            ));
            self.ip(&format!("link set {a} up"));
            self.ip(&format!("link set {b} up"));
        }
        self.ip("link set lo up");
        self.ip(&format!("addr add {}/24 dev {N3_IF}", addr(N3_ADDR)));
        self.ip(&format!("addr add {}/24 dev {N6_IF}", addr(N6_ADDR)));
        self.ip(&format!("addr add {}/24 dev {X_IF}", addr(X_ADDR)));
        for (ip, m, dev) in [
            (GNB, GNB_MAC, N3_IF),
            (GNB2, GNB2_MAC, N3_IF),
            (GW, GW_MAC, N6_IF),
            (X_GW, X_GW_MAC, X_IF),
        ] {
            self.ip(&format!(
                "neigh add {} lladdr {} dev {dev} nud permanent",
                addr(ip),
                mac(m)
            ));
        }
        self.ip(&format!("route add default via {} dev {N6_IF}", addr(GW)));
        self.ip(&format!(
            "route add 192.0.2.0/25 via {} dev {X_IF}",
            addr(X_GW)
        ));
        self.ip(&format!(
            "route add 192.0.2.128/25 via {} dev {N6_IF}",
            addr(GW_NO_NEIGH)
        ));
        self.ip("route add blackhole 203.0.113.0/24");
        run_cmd(
            "ip",
            &[
                "netns",
                "exec",
                &self.name,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        );
    }

    /// Moves the calling thread into the namespace.
    fn enter(&mut self) {
        let here = File::open("/proc/thread-self/ns/net")
            .unwrap_or_else(|e| panic!("opening /proc/thread-self/ns/net: {e}"));
        let path = format!("/run/netns/{}", self.name);
        let ns = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        setns(&ns, &path);
        self.original = Some(here);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(orig) = self.original.take() {
            // SAFETY: orig is an open namespace file; this thread only.
            if unsafe { libc::setns(orig.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                eprintln!(
                    "leaving {} failed: {}",
                    self.name,
                    std::io::Error::last_os_error()
                );
            }
        }
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
        {
            Ok(s) if s.success() => {}
            other => eprintln!("deleting namespace {} failed: {other:?}", self.name),
        }
    }
}

/// Where a test frame arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ingress {
    N3,
    N6,
    /// The N3 veth's peer: an interface that is not a configured port.
    NotAPort,
}

struct Env {
    manager: SessionManager<BpfDatapath>,
    n3: u32,
    n6: u32,
    not_a_port: u32,
    /// Declared last: dropped after the program and its maps.
    _ns: Netns,
}

impl Env {
    /// A fresh namespace, the program loaded in it, and the fixture sessions installed.
    fn new() -> Env {
        Env::with_capacity(1024)
    }

    /// The same with session tables of `max_sessions` entries (and as many
    /// counter slots, at least 2048 for the PDR fixtures).
    fn with_capacity(max_sessions: u32) -> Env {
        Env::with_options(max_sessions, None, true)
    }

    /// The same with GTP-U accepted only from `gtpu_peers` and
    /// anti-spoofing on or off.
    fn with_options(
        max_sessions: u32,
        gtpu_peers: Option<Vec<Ipv4Net>>,
        anti_spoofing: bool,
    ) -> Env {
        require_root();
        let mut ns = Netns::create();
        ns.configure();
        ns.enter();
        let n3 = Port::resolve(N3_IF, ROLE_N3).expect("N3 interface");
        let n6 = Port::resolve(N6_IF, ROLE_N6).expect("N6 interface");
        let not_a_port = ifindex(N3_PEER_IF).expect("N3 peer interface");
        let (n3_idx, n6_idx) = (n3.ifindex, n6.ifindex);
        let n3_ipv4 = Ipv4Addr::from(N3_ADDR);
        let dp = BpfDatapath::load(&LoadOptions {
            n3_ipv4,
            ports: vec![n3, n6],
            max_sessions,
            counter_slots: max_sessions.max(2048),
            rule_sets: RULE_SETS,
            nexthop_cache: true,
            gtpu_peers,
            anti_spoofing,
            meters: upf_abi::DEFAULT_MAX_METERS,
            teid_range: TEID_RANGE,
            ue_prefixes: vec![UE_PREFIX.parse().expect("a prefix")],
            // POI 0 is GNB, POI 1 GNB2; every other peer is unassigned.
            poi_peers: vec![
                vec![format!("{}/32", addr(GNB)).parse().expect("a prefix")],
                vec![format!("{}/32", addr(GNB2)).parse().expect("a prefix")],
            ],
        })
        .unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
        let mut manager = SessionManager::new(dp, n3_ipv4);
        for s in sessions() {
            let id = s.id;
            manager
                .install(s)
                .unwrap_or_else(|e| panic!("installing session {id}: {e}"));
        }
        install_pdr_sessions(manager.datapath_mut());
        Env {
            manager,
            n3: n3_idx,
            n6: n6_idx,
            not_a_port,
            _ns: ns,
        }
    }

    fn ifindex(&self, i: Ingress) -> u32 {
        match i {
            Ingress::N3 => self.n3,
            Ingress::N6 => self.n6,
            Ingress::NotAPort => self.not_a_port,
        }
    }

    /// Runs one frame through the program (repeat = 1: TOOLCHAIN P6) and
    /// returns the verdict and the frame as the program left it.
    fn run(&mut self, ingress: Ingress, input: &[u8]) -> (u32, Vec<u8>) {
        assert!(input.len() >= 14, "test_run needs 14 bytes (TOOLCHAIN P14)");
        let ctx = xdp_md(input.len() as u32, self.ifindex(ingress));
        let mut out = vec![0u8; input.len() + 256];
        let res = self
            .manager
            .datapath_mut()
            .program()
            .test_run(TestRunOptions {
                data_in: Some(input),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                repeat: 1,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN failed: {e:#}"));
        out.truncate(res.data_size_out as usize);
        (res.return_value, out)
    }

    fn drops(&self) -> Vec<(DropReason, u64)> {
        self.manager
            .datapath()
            .drop_counters()
            .expect("reading DROPS")
    }

    fn counter(&self, c: Counter) -> u64 {
        self.manager
            .datapath()
            .global_counters()
            .expect("reading COUNTERS")
            .into_iter()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v)
            .expect("every counter is listed")
    }

    fn counters(&self) -> Vec<(Counter, u64)> {
        self.manager
            .datapath()
            .global_counters()
            .expect("reading COUNTERS")
    }

    /// Every PDR fixture counter slot with its counters.
    fn pdr_slots(&self) -> Vec<(u32, SessionCounters)> {
        PDR_SLOTS
            .iter()
            .map(|&s| {
                let c = self
                    .manager
                    .datapath()
                    .counters(s)
                    .unwrap_or_else(|e| panic!("reading counter slot {s}: {e}"));
                (s, c)
            })
            .collect()
    }

    fn ports(&self) -> Vec<(u32, PortCounters)> {
        self.manager
            .datapath()
            .port_counters()
            .expect("reading PORT_COUNTERS")
            .into_iter()
            .map(|(p, c)| (p.ifindex, c))
            .collect()
    }
}

/// `struct xdp_md` for ctx_in: data 0, data_end = the frame length (the
/// kernel insists), ingress port, queue 0, no egress.
fn xdp_md(len: u32, ingress_ifindex: u32) -> Vec<u8> {
    [0u32, len, 0, ingress_ifindex, 0, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
}

// ---- packet builders (etherparse; GTP-U by hand from TS 29.281) ----

fn eth(dst: Mac, src: Mac, ether_type: u16) -> Vec<u8> {
    Ethernet2Header {
        destination: dst,
        source: src,
        ether_type: EtherType(ether_type),
    }
    .to_bytes()
    .to_vec()
}

fn eth_vlan(dst: Mac, src: Mac, ether_type: u16) -> Vec<u8> {
    let mut v = eth(dst, src, 0x8100);
    v.extend(
        SingleVlanHeader {
            pcp: VlanPcp::try_new(3).unwrap(),
            drop_eligible_indicator: false,
            vlan_id: VlanId::try_new(VLAN_ID).unwrap(),
            ether_type: EtherType(ether_type),
        }
        .to_bytes(),
    );
    v
}

/// An IPv4 header (DF set, no options) with a valid checksum.
fn ipv4_header(
    src: V4,
    dst: V4,
    proto: IpNumber,
    ttl: u8,
    tos: u8,
    id: u16,
    payload_len: usize,
) -> Ipv4Header {
    let mut h = Ipv4Header::new(payload_len as u16, ttl, proto, src, dst).unwrap();
    h.dscp = Ipv4Dscp::try_new(tos >> 2).unwrap();
    h.ecn = Ipv4Ecn::try_new(tos & 3).unwrap();
    h.identification = id;
    h.header_checksum = h.calc_header_checksum();
    h
}

/// IPv4 + UDP (with its checksum) + payload, from a foreign sender.
fn udp_datagram(src: V4, dst: V4, ttl: u8, tos: u8, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let ip = ipv4_header(
        src,
        dst,
        IpNumber::UDP,
        ttl,
        tos,
        FOREIGN_ID,
        8 + payload.len(),
    );
    udp_datagram_with(&ip, ports, payload)
}

/// A G-PDU from the gNB in an outer IPv4 fragment: the first one (MF set,
/// offset 0) or a later one (offset in 8-octet units).
fn outer_fragment(inner: &[u8], more_fragments: bool, offset: u16) -> Vec<u8> {
    let gtp = gpdu(0x30, TEID1, &[], inner);
    let mut ip = ipv4_header(
        GNB,
        N3_ADDR,
        IpNumber::UDP,
        64,
        0,
        FOREIGN_ID,
        8 + gtp.len(),
    );
    ip.dont_fragment = false;
    ip.more_fragments = more_fragments;
    ip.fragment_offset = IpFragOffset::try_new(offset).unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    [
        eth(N3_MAC, GNB_MAC, ETH_IPV4),
        udp_datagram_with(&ip, (GTPU, GTPU), &gtp),
    ]
    .concat()
}

fn udp_datagram_with(ip: &Ipv4Header, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let udp = UdpHeader::with_ipv4_checksum(ports.0, ports.1, ip, payload).unwrap();
    [&ip.to_bytes()[..], &udp.to_bytes(), payload].concat()
}

/// IPv4 + ICMP Echo Request.
fn icmp_echo(src: V4, dst: V4, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Header::with_checksum(
        Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 0x77, seq: 3 }),
        payload,
    );
    let ip = ipv4_header(
        src,
        dst,
        IpNumber::ICMP,
        ttl,
        0,
        FOREIGN_ID,
        icmp.header_len() + payload.len(),
    );
    [&ip.to_bytes()[..], &icmp.to_bytes(), payload].concat()
}

/// The inner uplink packet: UDP from a UE to a host.
fn ue_udp(ue: V4, dst: V4, ttl: u8) -> Vec<u8> {
    udp_datagram(ue, dst, ttl, 0, (40000, 53), PAYLOAD)
}

/// A downlink packet from the data network to a UE, `len` octets long.
fn dn_udp(ue: V4, ttl: u8, tos: u8, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len - 28).map(|i| i as u8).collect();
    udp_datagram(DN_HOST, ue, ttl, tos, (53, 40000), &payload)
}

/// A GTP-U message: the mandatory header with `length` = `body.len()`, then `body`
/// (optional fields, extension headers and payload).
fn gtpu(flags: u8, msg_type: u8, teid: u32, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u16).to_be_bytes();
    let t = teid.to_be_bytes();
    [
        &[flags, msg_type, len[0], len[1], t[0], t[1], t[2], t[3]][..],
        body,
    ]
    .concat()
}

/// A G-PDU (0xff) with the given optional fields and extension headers before `inner`.
fn gpdu(flags: u8, teid: u32, ext: &[u8], inner: &[u8]) -> Vec<u8> {
    gtpu(flags, 0xff, teid, &[ext, inner].concat())
}

/// A frame from the peer (GNB) to our N3 address, GTP-U port to GTP-U port.
fn from_gnb(gtp: &[u8]) -> Vec<u8> {
    from_gnb_with(eth(N3_MAC, GNB_MAC, ETH_IPV4), GTPU, gtp)
}

fn from_gnb_with(l2: Vec<u8>, sport: u16, gtp: &[u8]) -> Vec<u8> {
    [l2, udp_datagram(GNB, N3_ADDR, 64, 0, (sport, GTPU), gtp)].concat()
}

/// What an uplink packet leaves N6 as: the neighbour's MAC, N6's MAC, the inner packet.
fn to_dn(inner_after: &[u8]) -> Vec<u8> {
    [eth(GW_MAC, N6_MAC, ETH_IPV4), inner_after.to_vec()].concat()
}

/// A frame from the data network's gateway to N6.
fn from_dn(inner: &[u8]) -> Vec<u8> {
    [eth(N6_MAC, GW_MAC, ETH_IPV4), inner.to_vec()].concat()
}

/// The encapsulated downlink frame: Ethernet to the peer's MAC, outer IPv4
/// (N3 address to the peer, DF, ID 0, TTL 64, the inner TOS), UDP 2152 ->
/// 2152 without checksum, GTP-U (with a DL PDU Session Container for 5G).
fn to_peer(
    peer_mac: Mac,
    peer: V4,
    teid: u32,
    qfi: Option<u8>,
    tos: u8,
    inner_after: &[u8],
) -> Vec<u8> {
    let gtp = match qfi {
        None => gpdu(0x30, teid, &[], inner_after),
        Some(q) => gpdu(0x34, teid, &[0, 0, 0, 0x85, 1, 0x00, q, 0x00], inner_after),
    };
    let ip = ipv4_header(N3_ADDR, peer, IpNumber::UDP, 64, tos, 0, 8 + gtp.len());
    let udp = UdpHeader {
        source_port: GTPU,
        destination_port: GTPU,
        length: (8 + gtp.len()) as u16,
        checksum: 0,
    };
    [
        eth(peer_mac, N3_MAC, ETH_IPV4),
        ip.to_bytes().to_vec(),
        udp.to_bytes().to_vec(),
        gtp,
    ]
    .concat()
}

/// The Echo Response the fast path must answer with (TS 29.281 §7.2.2): MACs
/// swapped (the tag kept), our N3 address to the requester, 2152 to the
/// request's source port, GTP-U flags 0x32 type 2 length 6 TEID 0, the
/// request's sequence number, Recovery (14) with restart counter 0.
fn echo_response(l2: Vec<u8>, dport: u16, seq: u16) -> Vec<u8> {
    let s = seq.to_be_bytes();
    let gtp = gtpu(0x32, 2, 0, &[s[0], s[1], 0, 0, 14, 0]);
    let ip = ipv4_header(N3_ADDR, GNB, IpNumber::UDP, 64, 0, 0, 8 + gtp.len());
    let udp = UdpHeader {
        source_port: GTPU,
        destination_port: dport,
        length: (8 + gtp.len()) as u16,
        checksum: 0,
    };
    [l2, ip.to_bytes().to_vec(), udp.to_bytes().to_vec(), gtp].concat()
}

// ---- the table ----

struct Row {
    desc: &'static str,
    ingress: Ingress,
    input: Vec<u8>,
    verdict: u32,
    /// The exact frame after the program (None: not compared, for drops).
    output: Option<Vec<u8>>,
    /// The drop reason that must move by one (every other one must not move).
    drop: Option<DropReason>,
    /// A global counter that must move by one.
    counter: Option<Counter>,
    /// A PDR counter slot whose packets in one direction must move by one
    /// (every other PDR fixture slot must not move).
    slot: Option<(u32, Dir)>,
}

/// A counter slot's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Ul,
    Dl,
}

impl Row {
    /// The row must count one packet in `slot`'s `dir` fields.
    fn counts(mut self, slot: u32, dir: Dir) -> Row {
        self.slot = Some((slot, dir));
        self
    }
}

fn redirect(
    desc: &'static str,
    ingress: Ingress,
    input: Vec<u8>,
    output: Vec<u8>,
    counter: Counter,
) -> Row {
    Row {
        desc,
        ingress,
        input,
        verdict: xdp_action::REDIRECT,
        output: Some(output),
        drop: None,
        counter: Some(counter),
        slot: None,
    }
}

fn tx(desc: &'static str, input: Vec<u8>, output: Vec<u8>, counter: Counter) -> Row {
    Row {
        desc,
        ingress: Ingress::N3,
        input,
        verdict: xdp_action::TX,
        output: Some(output),
        drop: None,
        counter: Some(counter),
        slot: None,
    }
}

fn pass(
    desc: &'static str,
    ingress: Ingress,
    input: Vec<u8>,
    output: Vec<u8>,
    counter: Counter,
) -> Row {
    Row {
        desc,
        ingress,
        input,
        verdict: xdp_action::PASS,
        output: Some(output),
        drop: None,
        counter: Some(counter),
        slot: None,
    }
}

fn pass_unchanged(desc: &'static str, ingress: Ingress, input: Vec<u8>, counter: Counter) -> Row {
    let output = input.clone();
    pass(desc, ingress, input, output, counter)
}

fn drop(desc: &'static str, ingress: Ingress, input: Vec<u8>, reason: DropReason) -> Row {
    Row {
        desc,
        ingress,
        input,
        verdict: xdp_action::DROP,
        output: None,
        drop: Some(reason),
        counter: None,
        slot: None,
    }
}

/// Uplink rows that forward (N3 -> N6).
fn uplink_rows() -> Vec<Row> {
    use Counter::UplinkForwarded as Fwd;
    use Ingress::N3;
    let in1 = ue_udp(UE1, DN_HOST, 64);
    let out1 = to_dn(&ue_udp(UE1, DN_HOST, 63));
    let icmp = icmp_echo(UE1, DN_HOST, 64, b"ping from the UE");
    let icmp_out = to_dn(&icmp_echo(UE1, DN_HOST, 63, b"ping from the UE"));
    let in2 = ue_udp(UE2, DN_HOST, 64);
    let out2 = to_dn(&ue_udp(UE2, DN_HOST, 63));
    // Outer IPv4 with one option word (four NOPs): IHL 6.
    let options = {
        let gtp = gpdu(0x30, TEID1, &[], &in1);
        let mut ip = ipv4_header(
            GNB,
            N3_ADDR,
            IpNumber::UDP,
            64,
            0,
            FOREIGN_ID,
            8 + gtp.len(),
        );
        ip.options = [1u8, 1, 1, 1].into();
        ip.set_payload_len(8 + gtp.len()).unwrap();
        ip.header_checksum = ip.calc_header_checksum();
        [
            eth(N3_MAC, GNB_MAC, ETH_IPV4),
            udp_datagram_with(&ip, (GTPU, GTPU), &gtp),
        ]
        .concat()
    };
    // Link-layer padding after the datagram.
    let padded = [from_gnb(&gpdu(0x30, TEID1, &[], &in1)), vec![0u8; 10]].concat();
    let chain = [
        &[0u8, 0, 0, 0x40][..],                         // seq, N-PDU, next = UDP Port
        &[1, 0x08, 0x68, 0x84],                         // UDP Port 2152, next = NR RAN Container
        &[2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x85], // 2 words, next = PDU Session Container
        &[1, 0x10, QFI2, 0x00],                         // UL, QFI 9, next = none
    ]
    .concat();
    vec![
        redirect(
            "uplink 4G plain G-PDU (UDP)",
            N3,
            from_gnb(&gpdu(0x30, TEID1, &[], &in1)),
            out1.clone(),
            Fwd,
        ),
        redirect(
            "uplink 4G plain G-PDU (ICMP)",
            N3,
            from_gnb(&gpdu(0x30, TEID1, &[], &icmp)),
            icmp_out,
            Fwd,
        ),
        redirect(
            "uplink with S flag",
            N3,
            from_gnb(&gpdu(0x32, TEID1, &[0x12, 0x34, 0, 0], &in1)),
            out1.clone(),
            Fwd,
        ),
        redirect(
            "uplink with PN flag",
            N3,
            from_gnb(&gpdu(0x31, TEID1, &[0, 0, 0x2a, 0], &in1)),
            out1.clone(),
            Fwd,
        ),
        redirect(
            "uplink 5G with UL PDU Session Container",
            N3,
            from_gnb(&gpdu(0x34, TEID2, &[0, 0, 0, 0x85, 1, 0x10, QFI2, 0], &in2)),
            out2.clone(),
            Fwd,
        ),
        redirect(
            "uplink 5G with chained extensions (UDP Port, NR RAN Container, PDU Session Container)",
            N3,
            from_gnb(&gpdu(0x36, TEID2, &chain, &in2)),
            out2.clone(),
            Fwd,
        ),
        redirect(
            "uplink with an unknown extension that needs no comprehension (0x0f)",
            N3,
            from_gnb(&gpdu(0x34, TEID1, &[0, 0, 0, 0x0f, 1, 0xde, 0xad, 0], &in1)),
            out1.clone(),
            Fwd,
        ),
        redirect(
            "uplink with an 802.1Q tag on the outer frame",
            N3,
            from_gnb_with(
                eth_vlan(N3_MAC, GNB_MAC, ETH_IPV4),
                GTPU,
                &gpdu(0x30, TEID1, &[], &in1),
            ),
            out1.clone(),
            Fwd,
        ),
        redirect(
            "uplink with outer IPv4 options (IHL 6)",
            N3,
            options,
            out1.clone(),
            Fwd,
        ),
        redirect(
            "uplink with link-layer padding after the datagram",
            N3,
            padded,
            out1,
            Fwd,
        ),
    ]
}

/// Every other row.
fn other_rows() -> Vec<Row> {
    use Ingress::{NotAPort, N3, N6};
    let in1 = ue_udp(UE1, DN_HOST, 64);
    let plain = |inner: &[u8]| from_gnb(&gpdu(0x30, TEID1, &[], inner));
    let kept_l2 = eth(N3_MAC, GNB_MAC, ETH_IPV4);
    let mut rows = vec![
        // -- uplink that ends elsewhere than N6 --
        tx(
            "uplink to a host behind N3 (egress = ingress): XDP_TX",
            plain(&ue_udp(UE1, GNB, 64)),
            [eth(GNB_MAC, N3_MAC, ETH_IPV4), ue_udp(UE1, GNB, 63)].concat(),
            Counter::UplinkForwarded,
        ),
        pass(
            "uplink inner TTL 1: decapsulated and passed to the kernel (ICMP time exceeded)",
            N3,
            plain(&ue_udp(UE1, DN_HOST, 1)),
            [kept_l2.clone(), ue_udp(UE1, DN_HOST, 1)].concat(),
            Counter::SlowPathPassed,
        ),
        pass(
            "uplink inner TTL 1 with an 802.1Q tag: passed with the tag kept",
            N3,
            from_gnb_with(
                eth_vlan(N3_MAC, GNB_MAC, ETH_IPV4),
                GTPU,
                &gpdu(0x30, TEID1, &[], &ue_udp(UE1, DN_HOST, 1)),
            ),
            [eth_vlan(N3_MAC, GNB_MAC, ETH_IPV4), ue_udp(UE1, DN_HOST, 1)].concat(),
            Counter::SlowPathPassed,
        ),
        pass(
            "uplink to our own N6 address (local): decapsulated and passed",
            N3,
            plain(&ue_udp(UE1, N6_ADDR, 64)),
            [kept_l2.clone(), ue_udp(UE1, N6_ADDR, 64)].concat(),
            Counter::SlowPathPassed,
        ),
        pass(
            "uplink larger than the N6 MTU: decapsulated and passed (ICMP frag needed)",
            N3,
            plain(&udp_datagram(
                UE1,
                DN_HOST,
                64,
                0,
                (40000, 53),
                &[7u8; 1600],
            )),
            [
                kept_l2.clone(),
                udp_datagram(UE1, DN_HOST, 64, 0, (40000, 53), &[7u8; 1600]),
            ]
            .concat(),
            Counter::SlowPathPassed,
        ),
        pass(
            "uplink next hop without a neighbour entry: decapsulated and passed",
            N3,
            plain(&ue_udp(UE1, NO_NEIGH_HOST, 64)),
            [kept_l2.clone(), ue_udp(UE1, NO_NEIGH_HOST, 64)].concat(),
            Counter::UplinkNeighPassed,
        ),
        drop(
            "uplink to a blackhole route",
            N3,
            plain(&ue_udp(UE1, BLACKHOLE_HOST, 64)),
            DropReason::NoRoute,
        ),
        drop(
            "uplink routed out of an interface that is not a port",
            N3,
            plain(&ue_udp(UE1, X_HOST, 64)),
            DropReason::EgressNotPort,
        ),
        // -- uplink errors --
        drop(
            "G-PDU with an unknown TEID",
            N3,
            from_gnb(&gpdu(0x30, TEID_UNKNOWN, &[], &in1)),
            DropReason::UnknownTeid,
        ),
        drop(
            "G-PDU with a spoofed inner source",
            N3,
            plain(&ue_udp([10, 45, 0, 99], DN_HOST, 64)),
            DropReason::SpoofedSource,
        ),
        drop(
            "G-PDU of the 5G session carrying session 1's UE address",
            N3,
            from_gnb(&gpdu(0x34, TEID2, &[0, 0, 0, 0x85, 1, 0x10, QFI2, 0], &in1)),
            DropReason::SpoofedSource,
        ),
        drop(
            "G-PDU with an inner IPv6 packet",
            N3,
            plain(&inner_ipv6()),
            DropReason::UnsupportedInnerProtocol,
        ),
        drop(
            "G-PDU with an inner version 5 header",
            N3,
            plain(&[&[0x55u8][..], &in1[1..]].concat()),
            DropReason::BadInnerHeader,
        ),
        drop(
            "G-PDU whose inner total length exceeds the GTP-U payload",
            N3,
            plain(&in1[..in1.len() - 4]),
            DropReason::BadInnerHeader,
        ),
        drop(
            "truncated GTP-U header (5 of 8 octets)",
            N3,
            plain(&in1)[..14 + 20 + 8 + 5].to_vec(),
            DropReason::Truncated,
        ),
        drop(
            "GTP-U length beyond the frame",
            N3,
            {
                let mut g = gpdu(0x30, TEID1, &[], &in1);
                g[3] += 10;
                from_gnb(&g)
            },
            DropReason::BadGtpHeader,
        ),
        drop(
            "GTP version 2 header",
            N3,
            from_gnb(&gpdu(0x50, TEID1, &[], &in1)),
            DropReason::BadGtpHeader,
        ),
        drop(
            "GTP' (PT = 0)",
            N3,
            from_gnb(&gpdu(0x20, TEID1, &[], &in1)),
            DropReason::BadGtpHeader,
        ),
        drop(
            "S flag with a length too short for the optional fields",
            N3,
            from_gnb(&gtpu(0x32, 0xff, TEID1, &[0x12, 0x34])),
            DropReason::BadGtpHeader,
        ),
        drop(
            "zero-length extension header",
            N3,
            from_gnb(&gpdu(0x34, TEID1, &[0, 0, 0, 0x85, 0, 0x10, QFI2, 0], &in1)),
            DropReason::BadExtensionHeader,
        ),
        drop(
            "extension header running past the frame",
            N3,
            from_gnb(&gpdu(
                0x34,
                TEID1,
                &[0, 0, 0, 0x40, 200, 0x08, 0x68, 0],
                &in1,
            )),
            DropReason::BadExtensionHeader,
        ),
        drop(
            "unknown comprehension-required extension header (0xbf)",
            N3,
            from_gnb(&gpdu(0x34, TEID1, &[0, 0, 0, 0xbf, 1, 0, 0, 0], &in1)),
            DropReason::UnsupportedExtensionHeader,
        ),
        drop(
            "PDU Session Container with PDU type 3",
            N3,
            from_gnb(&gpdu(0x34, TEID2, &[0, 0, 0, 0x85, 1, 0x30, QFI2, 0], &in1)),
            DropReason::BadPduSessionContainer,
        ),
        drop(
            "nine chained extension headers",
            N3,
            {
                let mut ext = vec![0u8, 0, 0, 0x40];
                for _ in 0..9 {
                    ext.extend([1, 0x08, 0x68, 0x40]);
                }
                from_gnb(&gpdu(0x34, TEID1, &ext, &in1))
            },
            DropReason::ExtensionChainTooLong,
        ),
        drop(
            "unknown GTP-U message type (50)",
            N3,
            from_gnb(&gtpu(0x30, 50, 0, &[])),
            DropReason::UnknownGtpMessage,
        ),
        drop(
            "outer IPv4 fragment (MF) to the GTP-U port",
            N3,
            outer_fragment(&in1, true, 0),
            DropReason::OuterFragment,
        ),
        drop(
            "UDP header cut short",
            N3,
            plain(&in1)[..14 + 20 + 4].to_vec(),
            DropReason::Truncated,
        ),
        drop(
            "outer IPv4 with IHL 4",
            N3,
            {
                let mut f = plain(&in1);
                f[14] = 0x44;
                f
            },
            DropReason::BadIpv4Header,
        ),
        drop(
            "IPv4 EtherType and no IPv4 header (14-byte frame)",
            N3,
            eth(N3_MAC, GNB_MAC, ETH_IPV4),
            DropReason::Truncated,
        ),
        // -- GTP-U signalling --
        tx(
            "Echo Request: answered in place with an Echo Response",
            from_gnb_with(
                eth(N3_MAC, GNB_MAC, ETH_IPV4),
                40000,
                &gtpu(0x32, 1, 0, &[0x43, 0x21, 0, 0]),
            ),
            echo_response(eth(GNB_MAC, N3_MAC, ETH_IPV4), 40000, 0x4321),
            Counter::EchoReplied,
        ),
        tx(
            "Echo Request with an 802.1Q tag and IEs (longer than the response)",
            from_gnb_with(
                eth_vlan(N3_MAC, GNB_MAC, ETH_IPV4),
                GTPU,
                &gtpu(
                    0x32,
                    1,
                    0,
                    &[0xbe, 0xef, 0, 0, 14, 5, 0xff, 0, 4, 0x12, 0x34, 0xab, 0xcd],
                ),
            ),
            echo_response(eth_vlan(GNB_MAC, N3_MAC, ETH_IPV4), GTPU, 0xbeef),
            Counter::EchoReplied,
        ),
        Row {
            desc: "End Marker on a known TEID: consumed",
            ingress: N3,
            input: from_gnb(&gtpu(0x30, 254, TEID1, &[])),
            verdict: xdp_action::DROP,
            output: None,
            drop: None,
            counter: Some(Counter::EndMarkerConsumed),
            slot: None,
        },
        drop(
            "End Marker on an unknown TEID",
            N3,
            from_gnb(&gtpu(0x30, 254, TEID_UNKNOWN, &[])),
            DropReason::UnknownTeidSignalling,
        ),
        pass_unchanged(
            "Error Indication: to userspace",
            N3,
            from_gnb(&gtpu(
                0x32,
                26,
                0,
                &[0, 1, 0, 0, 16, 0x10, 0, 0, 1, 133, 0, 4, 10, 100, 0, 2],
            )),
            Counter::GtpSignallingPassed,
        ),
        pass_unchanged(
            "Echo Response: to userspace",
            N3,
            from_gnb(&gtpu(0x32, 2, 0, &[0, 7, 0, 0, 14, 0])),
            Counter::GtpSignallingPassed,
        ),
        pass_unchanged(
            "Supported Extension Headers Notification: to userspace",
            N3,
            from_gnb(&gtpu(0x32, 31, 0, &[0, 8, 0, 0, 141, 2, 0x85, 0xc0])),
            Counter::GtpSignallingPassed,
        ),
        pass_unchanged(
            "Tunnel Status: to userspace",
            N3,
            from_gnb(&gtpu(0x30, 253, TEID1, &[])),
            Counter::GtpSignallingPassed,
        ),
        // -- not ours --
        pass_unchanged(
            "ARP request",
            N3,
            {
                let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
                arp.extend(GNB_MAC);
                arp.extend(GNB);
                arp.extend([0u8; 6]);
                arp.extend(N3_ADDR);
                [eth(BROADCAST, GNB_MAC, ETH_ARP), arp].concat()
            },
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "PFCP (UDP 8805) to the N3 address",
            N3,
            [
                eth(N3_MAC, GNB_MAC, ETH_IPV4),
                udp_datagram(
                    SMF,
                    N3_ADDR,
                    64,
                    0,
                    (8805, 8805),
                    &[
                        0x20, 1, 0, 12, 0, 0, 1, 0, 0, 96, 0, 4, 0xe8, 0x3c, 0x5a, 0x00,
                    ],
                ),
            ]
            .concat(),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "GTP-U to another address on N3",
            N3,
            [
                eth(N3_MAC, GNB_MAC, ETH_IPV4),
                udp_datagram(
                    GNB,
                    N3_OTHER,
                    64,
                    0,
                    (GTPU, GTPU),
                    &gpdu(0x30, TEID1, &[], &in1),
                ),
            ]
            .concat(),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "ICMP echo to the N3 address",
            N3,
            [
                eth(N3_MAC, GNB_MAC, ETH_IPV4),
                icmp_echo(GNB, N3_ADDR, 64, b"ping"),
            ]
            .concat(),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "non-first outer fragment to the N3 address",
            N3,
            outer_fragment(&in1, false, 185),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "IPv6 frame on N3",
            N3,
            [eth(N3_MAC, GNB_MAC, ETH_IPV6), inner_ipv6()].concat(),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "packet to a UE address arriving on N3 (no N6 role there)",
            N3,
            [eth(N3_MAC, GNB_MAC, ETH_IPV4), dn_udp(UE1, 64, 0, 100)].concat(),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "G-PDU to the N3 address arriving on N6 (no N3 role there)",
            N6,
            plain(&in1),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "G-PDU on an interface that is not a port",
            NotAPort,
            plain(&in1),
            Counter::UnknownPortPassed,
        ),
    ];
    rows.extend(downlink_rows());
    rows
}

/// An IPv6/UDP packet from UE1's (imaginary) IPv6 address.
fn inner_ipv6() -> Vec<u8> {
    let ip = Ipv6Header {
        traffic_class: 0,
        flow_label: Default::default(),
        payload_length: (8 + PAYLOAD.len()) as u16,
        next_header: IpNumber::UDP,
        hop_limit: 64,
        source: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        destination: [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
    };
    let udp = UdpHeader::with_ipv6_checksum(40000, 53, &ip, PAYLOAD).unwrap();
    [&ip.to_bytes()[..], &udp.to_bytes(), PAYLOAD].concat()
}

fn downlink_rows() -> Vec<Row> {
    use Counter::DownlinkForwarded as Fwd;
    use Ingress::N6;
    let to1 =
        |tos: u8, inner_after: &[u8]| to_peer(GNB_MAC, GNB, REMOTE_TEID1, None, tos, inner_after);
    let to2 = |tos: u8, inner_after: &[u8]| {
        to_peer(GNB2_MAC, GNB2, REMOTE_TEID2, Some(QFI2), tos, inner_after)
    };
    let icmp = |ttl| icmp_echo(DN_HOST, UE1, ttl, b"ping to the UE");
    let short = icmp_echo(DN_HOST, UE1, 64, b"");
    vec![
        redirect(
            "downlink 4G (UDP, TOS 0xb8)",
            N6,
            from_dn(&dn_udp(UE1, 64, 0xb8, 100)),
            to1(0xb8, &dn_udp(UE1, 63, 0xb8, 100)),
            Fwd,
        ),
        redirect(
            "downlink 4G (ICMP)",
            N6,
            from_dn(&icmp(64)),
            to1(0, &icmp(63)),
            Fwd,
        ),
        redirect(
            "downlink 5G: PDU Session Container with the QFI",
            N6,
            from_dn(&dn_udp(UE2, 64, 0x28, 100)),
            to2(0x28, &dn_udp(UE2, 63, 0x28, 100)),
            Fwd,
        ),
        redirect(
            "downlink with an 802.1Q tag on N6",
            N6,
            [eth_vlan(N6_MAC, GW_MAC, ETH_IPV4), dn_udp(UE1, 64, 0, 100)].concat(),
            to1(0, &dn_udp(UE1, 63, 0, 100)),
            Fwd,
        ),
        redirect(
            "downlink of a short packet with Ethernet padding",
            N6,
            [from_dn(&short), vec![0u8; 60 - 14 - short.len()]].concat(),
            to1(0, &icmp_echo(DN_HOST, UE1, 63, b"")),
            Fwd,
        ),
        redirect(
            "downlink 4G exactly at the N3 MTU (inner 1464)",
            N6,
            from_dn(&dn_udp(UE1, 64, 0, 1464)),
            to1(0, &dn_udp(UE1, 63, 0, 1464)),
            Fwd,
        ),
        drop(
            "downlink 4G one octet over the N3 MTU (inner 1465)",
            N6,
            from_dn(&dn_udp(UE1, 64, 0, 1465)),
            DropReason::TunnelMtuExceeded,
        ),
        redirect(
            "downlink 5G exactly at the N3 MTU (inner 1456)",
            N6,
            from_dn(&dn_udp(UE2, 64, 0, 1456)),
            to2(0, &dn_udp(UE2, 63, 0, 1456)),
            Fwd,
        ),
        drop(
            "downlink 5G one octet over the N3 MTU (inner 1457)",
            N6,
            from_dn(&dn_udp(UE2, 64, 0, 1457)),
            DropReason::TunnelMtuExceeded,
        ),
        pass_unchanged(
            "downlink to an unknown address",
            N6,
            from_dn(&dn_udp(UE_UNKNOWN, 64, 0, 100)),
            Counter::NotOursPassed,
        ),
        pass_unchanged(
            "downlink with TTL 1: to the kernel",
            N6,
            from_dn(&dn_udp(UE1, 1, 0, 100)),
            Counter::SlowPathPassed,
        ),
        drop(
            "downlink to a peer routed out of an interface that is not a port",
            N6,
            from_dn(&dn_udp(UE4, 64, 0, 100)),
            DropReason::EgressNotPort,
        ),
        drop(
            "downlink to a peer without a neighbour entry",
            N6,
            from_dn(&dn_udp(UE3, 64, 0, 100)),
            DropReason::NeighbourMissing,
        ),
        drop(
            "downlink with an IPv4 total length beyond the frame",
            N6,
            {
                let f = from_dn(&dn_udp(UE1, 64, 0, 100));
                f[..f.len() - 10].to_vec()
            },
            DropReason::Truncated,
        ),
    ]
}

/// An inner UDP packet from `src` to `dst` port `dport` (source port 40000).
fn udp_to(src: V4, dst: V4, ttl: u8, dport: u16) -> Vec<u8> {
    udp_datagram(src, dst, ttl, 0, (40000, dport), PAYLOAD)
}

/// IPv4 + TCP (SYN-less, checksummed) + payload, ports 40000 -> 443.
fn tcp(src: V4, dst: V4, ttl: u8) -> Vec<u8> {
    let mut t = TcpHeader::new(40000, 443, 1, 1024);
    let ip = ipv4_header(
        src,
        dst,
        IpNumber::TCP,
        ttl,
        0,
        FOREIGN_ID,
        t.header_len() + PAYLOAD.len(),
    );
    t.checksum = t.calc_checksum_ipv4(&ip, PAYLOAD).unwrap();
    [&ip.to_bytes()[..], &t.to_bytes(), PAYLOAD].concat()
}

/// A non-first fragment (offset 8 octets) of a UDP datagram: no ports in it.
fn udp_later_fragment(src: V4, dst: V4, ttl: u8) -> Vec<u8> {
    let mut ip = ipv4_header(src, dst, IpNumber::UDP, ttl, 0, FOREIGN_ID, PAYLOAD.len());
    ip.dont_fragment = false;
    ip.fragment_offset = IpFragOffset::try_new(1).unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    [&ip.to_bytes()[..], PAYLOAD].concat()
}

/// Rows of the sessions with PDR rule sets (sessions 5 to 9).
fn pdr_rows() -> Vec<Row> {
    use Counter::{DownlinkForwarded as DlFwd, UplinkForwarded as Fwd};
    use Dir::{Dl, Ul};
    use DropReason::{FarDrop, NoPdrMatched};
    use Ingress::{N3, N6};
    let ul = |teid: u32, inner: &[u8]| from_gnb(&gpdu(0x30, teid, &[], inner));
    let ul_qfi = |teid: u32, qfi: u8, inner: &[u8]| {
        from_gnb(&gpdu(0x34, teid, &[0, 0, 0, 0x85, 1, 0x10, qfi, 0], inner))
    };
    let ping = |src, dst, ttl| icmp_echo(src, dst, ttl, b"ping");
    vec![
        // -- uplink: SDF rules by precedence, then the default --
        redirect(
            "PDR uplink: UDP to DN_HOST port 53 takes the higher-precedence SDF rule",
            N3,
            ul(TEID5, &udp_to(UE5, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE5, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S5_DNS, Ul),
        redirect(
            "PDR uplink: UDP to DN_HOST port 443 (outside the range) takes the default",
            N3,
            ul(TEID5, &udp_to(UE5, DN_HOST, 64, 443)),
            to_dn(&udp_to(UE5, DN_HOST, 63, 443)),
            Fwd,
        )
        .counts(S5, Ul),
        redirect(
            "PDR uplink: UDP port 53 to a host outside the rule's /32 takes the default",
            N3,
            ul(TEID5, &udp_to(UE5, OTHER_DN_HOST, 64, 53)),
            to_dn(&udp_to(UE5, OTHER_DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S5, Ul),
        drop(
            "PDR uplink: TCP from UE5/32 to 198.51.100.0/24 hits a DROP FAR",
            N3,
            ul(TEID5, &tcp(UE5, DN_HOST, 64)),
            FarDrop,
        ),
        redirect(
            "PDR uplink: TCP to a host outside the rule's /24 takes the default",
            N3,
            ul(TEID5, &tcp(UE5, OTHER_DN_HOST, 64)),
            to_dn(&tcp(UE5, OTHER_DN_HOST, 63)),
            Fwd,
        )
        .counts(S5, Ul),
        drop(
            "PDR uplink: anti-spoofing still comes first",
            N3,
            ul(TEID5, &udp_to(UE1, DN_HOST, 64, 53)),
            DropReason::SpoofedSource,
        ),
        // -- uplink: QFI rules --
        redirect(
            "PDR uplink: QFI 5 on a TEID with two QFI rules",
            N3,
            ul_qfi(TEID6, 5, &udp_to(UE6, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE6, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S6_Q5, Ul),
        redirect(
            "PDR uplink: QFI 7 on the same TEID counts into its own slot",
            N3,
            ul_qfi(TEID6, 7, &udp_to(UE6, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE6, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S6_Q7, Ul),
        redirect(
            "PDR uplink: another QFI takes the default",
            N3,
            ul_qfi(TEID6, 9, &udp_to(UE6, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE6, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S6, Ul),
        redirect(
            "PDR uplink: no PDU Session Container matches no QFI rule",
            N3,
            ul(TEID6, &udp_to(UE6, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE6, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S6, Ul),
        // -- uplink: source prefix + ports, no default, no anti-spoofing --
        redirect(
            "PDR uplink: source in the rule's /24 with ports matches (no anti-spoofing)",
            N3,
            ul(TEID7, &udp_to(UE7, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE7, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S7, Ul),
        drop(
            "PDR uplink: source outside the rule's /24 and no default",
            N3,
            ul(TEID7, &udp_to(UE7_OTHER_NET, DN_HOST, 64, 53)),
            NoPdrMatched,
        ),
        drop(
            "PDR uplink: ICMP has no ports: the port rule does not match",
            N3,
            ul(TEID7, &ping(UE7, DN_HOST, 64)),
            NoPdrMatched,
        ),
        drop(
            "PDR uplink: a non-first UDP fragment has no ports: the port rule does not match",
            N3,
            ul(TEID7, &udp_later_fragment(UE7, DN_HOST, 64)),
            NoPdrMatched,
        ),
        // -- uplink: the loop bound --
        redirect(
            "PDR uplink: a rule set of 8 whose last rule matches",
            N3,
            ul(TEID8, &udp_to(UE8, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE8, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S8_LAST, Ul),
        redirect(
            "PDR uplink: a garbage rule count (u32::MAX) is clamped to 8, then the default",
            N3,
            ul(TEID9, &udp_to(UE9, DN_HOST, 64, 53)),
            to_dn(&udp_to(UE9, DN_HOST, 63, 53)),
            Fwd,
        )
        .counts(S9, Ul),
        Row {
            desc: "PDR: End Marker on a TEID with a rule set and no default: consumed",
            ingress: N3,
            input: from_gnb(&gtpu(0x30, 254, TEID8, &[])),
            verdict: xdp_action::DROP,
            output: None,
            drop: None,
            counter: Some(Counter::EndMarkerConsumed),
            slot: None,
        },
        // -- downlink --
        redirect(
            "PDR downlink: UDP from port 53 takes the SDF rule's tunnel (other peer, TEID, QFI)",
            N6,
            from_dn(&dn_udp(UE5, 64, 0, 100)),
            to_peer(
                GNB_MAC,
                GNB,
                REMOTE_TEID5_DNS,
                Some(5),
                0,
                &dn_udp(UE5, 63, 0, 100),
            ),
            DlFwd,
        )
        .counts(S5_DL_DNS, Dl),
        redirect(
            "PDR downlink: ICMP takes the default tunnel",
            N6,
            from_dn(&ping(DN_HOST, UE5, 64)),
            to_peer(
                GNB2_MAC,
                GNB2,
                REMOTE_TEID5,
                Some(QFI2),
                0,
                &ping(DN_HOST, UE5, 63),
            ),
            DlFwd,
        )
        .counts(S5, Dl),
        drop(
            "PDR downlink: a rule's QFI condition is not evaluated downlink (TCP -> DROP FAR)",
            N6,
            from_dn(&tcp(DN_HOST, UE5, 64)),
            FarDrop,
        ),
        redirect(
            "PDR downlink: TCP matches the only rule (4G tunnel)",
            N6,
            from_dn(&tcp(DN_HOST, UE7, 64)),
            to_peer(GNB_MAC, GNB, 0x7000_0007, None, 0, &tcp(DN_HOST, UE7, 63)),
            DlFwd,
        )
        .counts(S7, Dl),
        drop(
            "PDR downlink: no rule and no default matches",
            N6,
            from_dn(&dn_udp(UE7, 64, 0, 100)),
            NoPdrMatched,
        ),
        drop(
            "PDR downlink: no PDR matched wins over TTL 1 (nothing goes to the kernel)",
            N6,
            from_dn(&dn_udp(UE7, 1, 0, 100)),
            NoPdrMatched,
        ),
    ]
}

// ---- running and checking ----

fn verdict_name(v: u32) -> &'static str {
    match v {
        xdp_action::ABORTED => "XDP_ABORTED",
        xdp_action::DROP => "XDP_DROP",
        xdp_action::PASS => "XDP_PASS",
        xdp_action::TX => "XDP_TX",
        xdp_action::REDIRECT => "XDP_REDIRECT",
        _ => "?",
    }
}

/// Expected and actual bytes side by side, 16 a line; `*` marks a difference.
fn hex_diff(expected: &[u8], actual: &[u8]) -> String {
    let first = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let mut s = format!(
        "bytes differ: expected {} octets, got {}; first difference at offset {first}\n\
         offset  expected{:41}| actual\n",
        expected.len(),
        actual.len(),
        ""
    );
    let cell = |v: Option<&u8>, other: Option<&u8>| match v {
        Some(b) if Some(b) == other => format!("{b:02x} "),
        Some(b) => format!("{b:02x}*"),
        None => "-- ".to_string(),
    };
    let lines = expected.len().max(actual.len()).div_ceil(16);
    for l in 0..lines {
        s += &format!("{:04x}    ", l * 16);
        for i in l * 16..l * 16 + 16 {
            s += &cell(expected.get(i), actual.get(i));
        }
        s += "| ";
        for i in l * 16..l * 16 + 16 {
            s += &cell(actual.get(i), expected.get(i));
        }
        s += "\n";
    }
    s
}

/// Runs one row; returns what went wrong.
fn check(env: &mut Env, row: &Row) -> Vec<String> {
    let drops_before = env.drops();
    let counters_before = env.counters();
    let slots_before = env.pdr_slots();
    let (verdict, out) = env.run(row.ingress, &row.input);
    let drops_after = env.drops();
    let counters_after = env.counters();
    let slots_after = env.pdr_slots();
    let mut errs = Vec::new();
    for ((slot, before), (_, after)) in slots_before.iter().zip(&slots_after) {
        let (ul, dl) = match row.slot {
            Some((s, Dir::Ul)) if s == *slot => (1, 0),
            Some((s, Dir::Dl)) if s == *slot => (0, 1),
            _ => (0, 0),
        };
        let moved = (
            after.ul_packets - before.ul_packets,
            after.dl_packets - before.dl_packets,
        );
        if moved != (ul, dl) {
            errs.push(format!(
                "counter slot {slot} moved by {moved:?} (ul, dl) packets, expected {:?}",
                (ul, dl)
            ));
        }
    }
    if verdict != row.verdict {
        errs.push(format!(
            "verdict {} ({verdict}), expected {} ({})",
            verdict_name(verdict),
            verdict_name(row.verdict),
            row.verdict
        ));
    }
    if let Some(want) = &row.output {
        if out != *want {
            errs.push(hex_diff(want, &out));
        }
    }
    for ((reason, before), (_, after)) in drops_before.iter().zip(&drops_after) {
        let want = u64::from(row.drop == Some(*reason));
        if after - before != want {
            errs.push(format!(
                "drop reason {} moved by {}, expected {want}",
                reason.name(),
                after - before
            ));
        }
    }
    if let Some(c) = row.counter {
        let i = c.index() as usize;
        let moved = counters_after[i].1 - counters_before[i].1;
        if moved != 1 {
            errs.push(format!("counter {} moved by {moved}, expected 1", c.name()));
        }
    }
    errs
}

/// Runs every row, reports each, and panics with the failures at the end.
fn run_table(env: &mut Env, rows: &[Row]) {
    let mut failed = Vec::new();
    for row in rows {
        let errs = check(env, row);
        if errs.is_empty() {
            println!("ok    {}", row.desc);
        } else {
            println!("FAIL  {}", row.desc);
            for e in &errs {
                println!("      {}", e.replace('\n', "\n      "));
            }
            failed.push(row.desc);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n  {}",
        failed.len(),
        rows.len(),
        failed.join("\n  ")
    );
}

#[test]
fn fixture_table() {
    let mut env = Env::new();
    let mut rows = uplink_rows();
    rows.extend(other_rows());
    rows.extend(pdr_rows());
    let ports_before = env.ports();
    let rx_before = env.counter(Counter::RxFrames);
    run_table(&mut env, &rows);

    // Per-port counters and RxFrames agree with the table.
    let mut want = [PortCounters::default(); 2];
    for row in &rows {
        let p = match row.ingress {
            Ingress::N3 => &mut want[0],
            Ingress::N6 => &mut want[1],
            Ingress::NotAPort => continue,
        };
        p.rx_packets += 1;
        p.rx_bytes += row.input.len() as u64;
        match row.verdict {
            xdp_action::REDIRECT => p.redirected += 1,
            xdp_action::TX => p.tx += 1,
            xdp_action::PASS => p.passed += 1,
            _ => p.dropped += 1,
        }
    }
    let ports_after = env.ports();
    for (i, name) in [(0, N3_IF), (1, N6_IF)] {
        let (before, after) = (ports_before[i].1, ports_after[i].1);
        let got = PortCounters {
            rx_packets: after.rx_packets - before.rx_packets,
            rx_bytes: after.rx_bytes - before.rx_bytes,
            redirected: after.redirected - before.redirected,
            tx: after.tx - before.tx,
            passed: after.passed - before.passed,
            dropped: after.dropped - before.dropped,
        };
        assert_eq!(got, want[i], "port counters of {name}");
    }
    assert_eq!(
        env.counter(Counter::RxFrames) - rx_before,
        want[0].rx_packets + want[1].rx_packets,
        "rx_frames counts every frame on a port"
    );
}

/// `gateway.gtpu_peers`: GTP-U from the host network's prefixes behaves
/// exactly as without the filter (the whole uplink table), anything else to
/// our N3 address (G-PDU, Echo Request, End Marker) is dropped and counted;
/// traffic that is not GTP-U is untouched.
#[test]
fn gtpu_from_outside_the_peer_prefixes_is_dropped_and_counted() {
    use Ingress::N3;
    // GNB (10.100.0.2) and GNB2 (10.100.0.3) are the host network's.
    let peers = vec![Ipv4Net {
        addr: Ipv4Addr::new(10, 100, 0, 0),
        len: 30,
    }];
    let mut env = Env::with_options(1024, Some(peers), true);
    run_table(&mut env, &uplink_rows());
    let stranger: V4 = [10, 100, 0, 9];
    let in1 = ue_udp(UE1, DN_HOST, 64);
    let from_stranger = |gtp: &[u8]| {
        [
            eth(N3_MAC, GNB_MAC, ETH_IPV4),
            udp_datagram(stranger, N3_ADDR, 64, 0, (GTPU, GTPU), gtp),
        ]
        .concat()
    };
    let rows = vec![
        drop(
            "G-PDU of a known session from outside the peer prefixes",
            N3,
            from_stranger(&gpdu(0x30, TEID1, &[], &in1)),
            DropReason::UnknownGtpuPeer,
        ),
        drop(
            "Echo Request from outside the peer prefixes",
            N3,
            from_stranger(&gtpu(0x32, 1, 0, &[0, 7, 0, 0])),
            DropReason::UnknownGtpuPeer,
        ),
        drop(
            "End Marker from outside the peer prefixes",
            N3,
            from_stranger(&gtpu(0x30, 254, TEID1, &[])),
            DropReason::UnknownGtpuPeer,
        ),
    ];
    run_table(&mut env, &rows);
}

/// `gateway.anti_spoofing = false`: a G-PDU whose inner source is not the
/// session's UE address is forwarded (framed routes), with the filter on it
/// is dropped (the fixture table's row).
#[test]
fn anti_spoofing_can_be_switched_off() {
    use Ingress::N3;
    let spoofed = from_gnb(&gpdu(
        0x30,
        TEID1,
        &[],
        &ue_udp([10, 45, 0, 99], DN_HOST, 64),
    ));
    let mut env = Env::with_options(1024, None, false);
    let before = env.drops();
    let (verdict, _) = env.run(N3, &spoofed);
    assert_eq!(verdict_name(verdict), verdict_name(xdp_action::REDIRECT));
    assert_eq!(env.drops(), before, "nothing dropped");
}

/// Per-session counters: packets and inner IP bytes, per direction, for the
/// forwarded rows only.
#[test]
fn session_counters_count_inner_bytes() {
    let mut env = Env::new();
    let ul1a = ue_udp(UE1, DN_HOST, 64);
    let ul1b = icmp_echo(UE1, DN_HOST, 64, b"ping from the UE");
    let dl1a = dn_udp(UE1, 64, 0, 300);
    let dl1b = icmp_echo(DN_HOST, UE1, 64, b"ping to the UE");
    let ul2 = ue_udp(UE2, DN_HOST, 64);
    let dl2 = dn_udp(UE2, 64, 0, 1000);
    let frames: Vec<(Ingress, Vec<u8>, u32)> = vec![
        (
            Ingress::N3,
            from_gnb(&gpdu(0x30, TEID1, &[], &ul1a)),
            xdp_action::REDIRECT,
        ),
        (
            Ingress::N3,
            from_gnb(&gpdu(0x32, TEID1, &[0, 1, 0, 0], &ul1b)),
            xdp_action::REDIRECT,
        ),
        (
            Ingress::N3,
            from_gnb_with(
                eth_vlan(N3_MAC, GNB_MAC, ETH_IPV4),
                GTPU,
                &gpdu(0x30, TEID1, &[], &ul1a),
            ),
            xdp_action::REDIRECT,
        ),
        (Ingress::N6, from_dn(&dl1a), xdp_action::REDIRECT),
        (Ingress::N6, from_dn(&dl1b), xdp_action::REDIRECT),
        (
            Ingress::N3,
            from_gnb(&gpdu(0x34, TEID2, &[0, 0, 0, 0x85, 1, 0x10, QFI2, 0], &ul2)),
            xdp_action::REDIRECT,
        ),
        (Ingress::N6, from_dn(&dl2), xdp_action::REDIRECT),
        // Not counted: no session matched, or the session's downlink could not be routed.
        (
            Ingress::N3,
            from_gnb(&gpdu(0x30, TEID_UNKNOWN, &[], &ul1a)),
            xdp_action::DROP,
        ),
        (
            Ingress::N6,
            from_dn(&dn_udp(UE3, 64, 0, 100)),
            xdp_action::DROP,
        ),
    ];
    let ul_bytes_before = env.counter(Counter::UplinkBytes);
    let dl_bytes_before = env.counter(Counter::DownlinkBytes);
    for (i, (ingress, frame, verdict)) in frames.iter().enumerate() {
        let (got, _) = env.run(*ingress, frame);
        assert_eq!(got, *verdict, "frame {i}: verdict {}", verdict_name(got));
    }
    let len = |v: &Vec<u8>| v.len() as u64;
    let c1 = env.manager.counters(1).expect("session 1");
    assert_eq!(
        (c1.ul_packets, c1.ul_bytes),
        (3, len(&ul1a) * 2 + len(&ul1b)),
        "session 1 uplink"
    );
    assert_eq!(
        (c1.dl_packets, c1.dl_bytes),
        (2, len(&dl1a) + len(&dl1b)),
        "session 1 downlink"
    );
    let c2 = env.manager.counters(2).expect("session 2");
    assert_eq!(
        (c2.ul_packets, c2.ul_bytes),
        (1, len(&ul2)),
        "session 2 uplink"
    );
    assert_eq!(
        (c2.dl_packets, c2.dl_bytes),
        (1, len(&dl2)),
        "session 2 downlink"
    );
    let c3 = env.manager.counters(3).expect("session 3");
    assert_eq!(c3, Default::default(), "session 3 forwarded nothing");
    // The meter's batch read of every slot agrees with the slot-by-slot reads.
    let dp = env.manager.datapath();
    let slots = dp.capacity().counter_slots as usize;
    let mut all = vec![SessionCounters::default(); slots];
    dp.counters_all(&mut all).expect("batch read");
    for (slot, c) in all.iter().enumerate() {
        assert_eq!(*c, dp.counters(slot as u32).unwrap(), "slot {slot}");
    }
    let nonzero = all
        .iter()
        .filter(|c| **c != SessionCounters::default())
        .count();
    assert_eq!(
        nonzero, 2,
        "sessions 1 and 2 (a static session's PDRs share one slot)"
    );
    assert_eq!(
        env.counter(Counter::UplinkBytes) - ul_bytes_before,
        len(&ul1a) * 2 + len(&ul1b) + len(&ul2),
        "uplink_bytes"
    );
    assert_eq!(
        env.counter(Counter::DownlinkBytes) - dl_bytes_before,
        len(&dl1a) + len(&dl1b) + len(&dl2),
        "downlink_bytes"
    );
    // Removing and reinstalling a session starts its slot from zero.
    let spec = env.manager.remove(1).expect("remove session 1").0;
    env.manager.install(spec).expect("reinstall session 1");
    assert_eq!(
        env.manager.counters(1).expect("session 1"),
        Default::default()
    );
}

/// A packet the fast path drops is not also counted as forwarded: neither
/// in the global `uplink_forwarded` / `downlink_forwarded` counters nor in
/// the session's packets ("Uplink packets forwarded", "Downlink packets
/// encapsulated", upf_abi::SessionCounters). The downlink already counts its
/// session only once the route is found; this holds both directions to the
/// same rule.
#[test]
fn dropped_packets_are_not_counted_as_forwarded() {
    let mut env = Env::new();
    let uplink = |dst| from_gnb(&gpdu(0x30, TEID1, &[], &ue_udp(UE1, dst, 64)));
    let cases = [
        (
            "uplink to a blackhole route",
            Ingress::N3,
            uplink(BLACKHOLE_HOST),
            DropReason::NoRoute,
            1,
        ),
        (
            "uplink routed out of a non-port",
            Ingress::N3,
            uplink(X_HOST),
            DropReason::EgressNotPort,
            1,
        ),
        (
            "downlink to a peer routed out of a non-port",
            Ingress::N6,
            from_dn(&dn_udp(UE4, 64, 0, 100)),
            DropReason::EgressNotPort,
            4,
        ),
    ];
    let mut problems = Vec::new();
    for (desc, ingress, frame, reason, session) in cases {
        let counters_before = env.counters();
        let session_before = env.manager.counters(session).expect("session");
        let drops_before = env.drops();
        let (verdict, _) = env.run(ingress, &frame);
        assert_eq!(
            verdict,
            xdp_action::DROP,
            "{desc}: verdict {}",
            verdict_name(verdict)
        );
        let i = reason.index() as usize;
        assert_eq!(
            env.drops()[i].1 - drops_before[i].1,
            1,
            "{desc}: {} counted",
            reason.name()
        );
        let counters_after = env.counters();
        for c in [
            Counter::UplinkForwarded,
            Counter::UplinkBytes,
            Counter::DownlinkForwarded,
            Counter::DownlinkBytes,
        ] {
            let i = c.index() as usize;
            let moved = counters_after[i].1 - counters_before[i].1;
            if moved != 0 {
                problems.push(format!("{desc}: {} moved by {moved}", c.name()));
            }
        }
        let s = env.manager.counters(session).expect("session");
        if s != session_before {
            problems.push(format!(
                "{desc}: session {session} counters moved: ul {} packets {} bytes, dl {} packets {} bytes",
                s.ul_packets - session_before.ul_packets,
                s.ul_bytes - session_before.ul_bytes,
                s.dl_packets - session_before.dl_packets,
                s.dl_bytes - session_before.dl_bytes
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "dropped packets counted as forwarded:\n  {}",
        problems.join("\n  ")
    );
}

/// Scale: tables of 1 M sessions load, fill through
/// the session manager, refuse the next session cleanly, and forward for the
/// last session installed exactly as for the first.
#[test]
fn one_million_sessions_load_and_work() {
    const MAX: u32 = 1_000_000;
    let mut env = Env::with_capacity(MAX);
    // The PDR fixture sessions hold uplink entries outside the manager: the
    // last install is refused by the kernel's full map, not by the manager.
    let already = env.manager.len() as u32 + PDR_UPLINKS;
    let spec = |i: u32| SessionSpec {
        id: 1_000_000 + i as u64,
        local_teid: 0x0010_0000 + i,
        ue_ipv4: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 64, 0, 0)) + i),
        peer_ipv4: Ipv4Addr::from(GNB),
        remote_teid: 0x5000_0000 + i,
        qfi: 0,
        generation: Generation::Lte,
    };
    let t = std::time::Instant::now();
    for i in 0..MAX - already {
        env.manager
            .install(spec(i))
            .unwrap_or_else(|e| panic!("installing session {i} of {MAX}: {e}"));
    }
    eprintln!("installed {} sessions in {:?}", MAX - already, t.elapsed());
    assert_eq!(env.manager.len() as u32 + PDR_UPLINKS, MAX);
    match env.manager.install(spec(MAX)) {
        Err(SessionError::Full { capacity }) => assert_eq!(capacity, MAX),
        other => panic!("session {} past capacity: {other:?}", MAX + 1),
    }

    let last = spec(MAX - already - 1);
    let ue: V4 = last.ue_ipv4.octets();
    // Uplink of the last session: decapsulated and redirected to N6.
    let (verdict, out) = env.run(
        Ingress::N3,
        &from_gnb(&gpdu(0x30, last.local_teid, &[], &ue_udp(ue, DN_HOST, 64))),
    );
    assert_eq!(
        verdict,
        xdp_action::REDIRECT,
        "uplink verdict {}",
        verdict_name(verdict)
    );
    assert_eq!(
        out,
        to_dn(&ue_udp(ue, DN_HOST, 63)),
        "{}",
        hex_diff(&to_dn(&ue_udp(ue, DN_HOST, 63)), &out)
    );
    // Downlink to it: encapsulated with its remote TEID.
    let (verdict, out) = env.run(Ingress::N6, &from_dn(&dn_udp(ue, 64, 0, 100)));
    assert_eq!(
        verdict,
        xdp_action::REDIRECT,
        "downlink verdict {}",
        verdict_name(verdict)
    );
    let gtp = &out[14 + 20 + 8..];
    assert_eq!(&gtp[..2], &[0x30, 0xff]);
    assert_eq!(&gtp[4..8], &last.remote_teid.to_be_bytes());
    let c = env.manager.counters(last.id).unwrap();
    assert_eq!((c.ul_packets, c.dl_packets), (1, 1));
}

/// Entries written with `BPF_MAP_UPDATE_BATCH` (`put_uplink_batch`,
/// `put_downlink_batch`) are the program's: packets of batch-written
/// sessions are forwarded both ways, plain lookups find them, and a batch
/// past the table's size is `Full`.
#[test]
fn batch_written_entries_are_found_by_the_program() {
    const MAX: u32 = 40_000;
    let mut env = Env::with_capacity(MAX);
    let already = env.manager.len() as u32 + PDR_UPLINKS;
    // More than one BATCH_CHUNK, so the chunking is exercised too.
    let n = MAX - already;
    assert!(n as usize > upfd::bpf::BATCH_CHUNK);
    let teid = |i: u32| 0x0030_0000 + i;
    let ue = |i: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 80, 0, 0)) + i);
    let ul: Vec<(u32, UplinkEntry)> = (0..n)
        .map(|i| {
            (
                teid(i),
                UplinkEntry {
                    ue_ipv4_be: u32::from(ue(i)).to_be(),
                    rules: 0,
                    default: fwd(7),
                },
            )
        })
        .collect();
    let dl: Vec<(Ipv4Addr, DownlinkEntry)> = (0..n)
        .map(|i| {
            (
                ue(i),
                DownlinkEntry {
                    local_ipv4_be: be(N3_ADDR),
                    rules: 0,
                    default: tunnel(7, GNB, 0x6000_0000 + i, None),
                },
            )
        })
        .collect();
    let dp = env.manager.datapath_mut();
    dp.put_uplink_batch(&ul).expect("uplink batch");
    dp.put_downlink_batch(&dl).expect("downlink batch");
    for i in [0, 1, n / 2, n - 1] {
        let u: V4 = ue(i).octets();
        let (verdict, out) = env.run(
            Ingress::N3,
            &from_gnb(&gpdu(0x30, teid(i), &[], &ue_udp(u, DN_HOST, 64))),
        );
        assert_eq!(
            verdict,
            xdp_action::REDIRECT,
            "uplink of batch entry {i}: {}",
            verdict_name(verdict)
        );
        assert_eq!(out, to_dn(&ue_udp(u, DN_HOST, 63)));
        let (verdict, out) = env.run(Ingress::N6, &from_dn(&dn_udp(u, 64, 0, 100)));
        assert_eq!(
            verdict,
            xdp_action::REDIRECT,
            "downlink of batch entry {i}: {}",
            verdict_name(verdict)
        );
        let gtp = &out[14 + 20 + 8..];
        assert_eq!(&gtp[4..8], &(0x6000_0000 + i).to_be_bytes());
    }
    // The table is full now: one more is refused as Full, not as a map error.
    let extra = [(teid(n), ul[0].1)];
    match env.manager.datapath_mut().put_uplink_batch(&extra) {
        Err(upf_session::datapath::DatapathError::Full { capacity, .. }) => {
            assert_eq!(capacity, MAX)
        }
        other => panic!("a batch into a full map: {other:?}"),
    }
    // Replacing existing entries in a full map works (BPF_ANY).
    env.manager
        .datapath_mut()
        .put_uplink_batch(&ul[..10])
        .expect("replacing in a full map");
    let mem = env.manager.datapath().map_memory().expect("map memory");
    assert!(
        mem.iter().all(|(_, m)| *m > 0),
        "every map reports memlock: {mem:?}"
    );
}

/// The program's size and the verifier's work, printed for the record (run
/// with `--nocapture`). With `UPF_XDP_BASELINE=<object>` the same numbers for
/// another build of the program (e.g. an older commit's `upf-xdp`) loaded
/// with the same globals, for comparison.
#[test]
fn program_size_and_verifier_complexity() {
    let mut env = Env::new();
    let info = env
        .manager
        .datapath_mut()
        .program()
        .info()
        .expect("program info");
    let line = |what: &str, i: &aya::programs::ProgramInfo| {
        eprintln!(
            "{what}: xlated {} insns, jited {} B, verifier processed {} insns",
            i.size_translated().unwrap_or(0) / 8,
            i.size_jitted(),
            i.verified_instruction_count()
                .map_or("?".to_string(), |n| n.to_string())
        );
    };
    line("upf (this build)", &info);
    if let Ok(path) = std::env::var("UPF_XDP_BASELINE") {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut g = upf_abi::Globals::ZERO;
        g.n3_ipv4_be = be(N3_ADDR);
        g.num_ports = 2;
        g.port_ifindex[..2].copy_from_slice(&[env.n3, env.n6]);
        g.port_roles[..2].copy_from_slice(&[ROLE_N3, ROLE_N6]);
        let mut ebpf = aya::EbpfLoader::new()
            .override_global(upf_abi::names::GLOBALS, &g, true)
            .load(&bytes)
            .unwrap_or_else(|e| panic!("loading {path}: {e:#}"));
        let p: &mut aya::programs::Xdp = ebpf
            .program_mut(upf_abi::names::PROG_UPF)
            .expect("upf program")
            .try_into()
            .expect("an XDP program");
        p.load()
            .unwrap_or_else(|e| panic!("verifying {path}: {e:#}"));
        line("upf (baseline)", &p.info().expect("baseline info"));
    }
}

/// The next-hop cache: filled from the namespace's tables as upfd does, a
/// hit uses the cached MACs and egress (a planted MAC the kernel does not
/// have proves it), and a miss, an invalidated entry, an MTU below the
/// packet or an emptied cache fall back to `bpf_fib_lookup`.
#[test]
fn nexthop_cache_hit_miss_and_stale_entry() {
    use upf_abi::{NextHop, NH_VALID};
    use upfd::nexthop::{compute, Cache, Desired, NexthopMaps, Snapshot};
    const PLANTED: Mac = [0x02, 0, 0, 0, 0x06, 0x99];
    let mut env = Env::new();
    let snapshot = Snapshot::read().unwrap_or_else(|e| panic!("reading the tables: {e}"));
    let want = compute(&snapshot, &[env.n3, env.n6]);
    assert_eq!(want.off, None, "the cache must be on in the lab");
    let mut cache = Cache::new();
    let st = cache
        .sync(&want, env.manager.datapath_mut())
        .unwrap_or_else(|e| panic!("filling the cache: {e}"));
    assert!(st.resolved >= 1 && st.neighs >= 2, "{st:?}");

    let uplink = from_gnb(&gpdu(0x30, TEID1, &[], &ue_udp(UE1, DN_HOST, 64)));
    let via_gw = to_dn(&ue_udp(UE1, DN_HOST, 63));
    let planted = [
        eth(PLANTED, N6_MAC, ETH_IPV4),
        ue_udp(UE1, DN_HOST, 63).to_vec(),
    ]
    .concat();
    // Resolved from the kernel's tables: the same frame as bpf_fib_lookup gives.
    assert_eq!(
        env.run(Ingress::N3, &uplink),
        (xdp_action::REDIRECT, via_gw.clone())
    );

    // A cache hit: a /32 for DN_HOST through next hop 1000 with a planted MAC.
    let dn = u32::from(Ipv4Addr::from(DN_HOST));
    let hop = NextHop {
        ifindex: env.n6,
        mtu: 1500,
        dmac: PLANTED,
        smac: N6_MAC,
        flags: NH_VALID,
    };
    let dp = env.manager.datapath_mut();
    dp.put_nexthop(1000, &hop).expect("nexthop");
    dp.put_route(dn, 32, 1000).expect("route");
    assert_eq!(
        env.run(Ingress::N3, &uplink),
        (xdp_action::REDIRECT, planted.clone()),
        "cache hit: the cached MACs and egress"
    );
    // An MTU below the packet: bpf_fib_lookup decides (and forwards).
    let small = NextHop { mtu: 60, ..hop };
    env.manager
        .datapath_mut()
        .put_nexthop(1000, &small)
        .expect("nexthop");
    assert_eq!(
        env.run(Ingress::N3, &uplink),
        (xdp_action::REDIRECT, via_gw.clone())
    );
    // An invalidated entry: fallback.
    let stale = NextHop { flags: 0, ..hop };
    env.manager
        .datapath_mut()
        .put_nexthop(1000, &stale)
        .expect("nexthop");
    assert_eq!(
        env.run(Ingress::N3, &uplink),
        (xdp_action::REDIRECT, via_gw.clone())
    );
    // Valid again, then the route goes and the cache is emptied: a miss, fallback.
    env.manager
        .datapath_mut()
        .put_nexthop(1000, &hop)
        .expect("nexthop");
    assert_eq!(env.run(Ingress::N3, &uplink).1, planted);
    env.manager.datapath_mut().del_route(dn, 32).expect("route");
    cache
        .sync(&Desired::default(), env.manager.datapath_mut())
        .expect("emptying");
    assert_eq!(
        env.run(Ingress::N3, &uplink),
        (xdp_action::REDIRECT, via_gw.clone())
    );

    // Downlink: an on-link peer (the eNB) through NH_NEIGH.
    cache
        .sync(&want, env.manager.datapath_mut())
        .expect("refill");
    let dl = from_dn(&dn_udp(UE1, 64, 0, 100));
    let (v, kernel) = env.run(Ingress::N6, &dl);
    assert_eq!(v, xdp_action::REDIRECT);
    assert_eq!(&kernel[..6], &GNB_MAC);
    let gnb = u32::from(Ipv4Addr::from(GNB));
    let peer = NextHop {
        ifindex: env.n3,
        mtu: 1500,
        dmac: PLANTED,
        smac: N3_MAC,
        flags: NH_VALID,
    };
    env.manager
        .datapath_mut()
        .put_neigh(gnb, &peer)
        .expect("neigh");
    let (v, out) = env.run(Ingress::N6, &dl);
    assert_eq!(v, xdp_action::REDIRECT);
    assert_eq!((&out[..6], &out[6..]), (&PLANTED[..], &kernel[6..]));
    // The neighbour entry goes: fallback to the kernel's.
    env.manager.datapath_mut().del_neigh(gnb).expect("neigh");
    assert_eq!(env.run(Ingress::N6, &dl), (xdp_action::REDIRECT, kernel));
}

// ---- rate meters (QER MBR, session caps, POI capacity) ----

/// A meter at `bps` whose burst tolerance lets exactly `n + 0.5` packets of
/// `len` bytes through at once (the half keeps the boundary away from the
/// few microseconds the test frames take).
fn meter_for_packets(
    bps: u64,
    len: u64,
    n: u64,
    parent: u32,
) -> upf_session::datapath::MeterConfig {
    let per_packet = upf_abi::Meter::cost_ns(upf_abi::Meter::cost_for_bps(bps), len);
    upf_session::datapath::MeterConfig {
        rate_bps: bps,
        tau_ns: per_packet * (n - 1) + per_packet / 2,
        parent,
    }
}

/// The token bucket's branches with BPF_PROG_TEST_RUN: a burst of exactly
/// the tolerance passes and the rest is dropped as `rate_exceeded` (uplink
/// and downlink); a meter without a rate only counts; in a chain a packet
/// the second meter refuses stays charged on the first; every meter
/// counts what passed and what was dropped at it or after it; the clock is
/// the kernel's, so the test keeps rates low enough that no token refills
/// while it runs (8 kbit/s: one byte per millisecond).
#[test]
fn rate_meters_pass_the_burst_then_drop_and_chain() {
    let mut env = Env::new();
    let inner = ue_udp(UE1, DN_HOST, 64);
    let len = inner.len() as u64;
    let up = from_gnb(&gpdu(0x30, TEID1, &[], &inner));
    let dp = env.manager.datapath_mut();
    for i in 0..3 {
        dp.reset_meter(i).expect("reset meter");
    }
    dp.put_uplink(
        TEID1,
        &UplinkEntry {
            ue_ipv4_be: be(UE1),
            rules: 0,
            default: PdrAction { meter: 1, ..fwd(1) },
        },
    )
    .expect("uplink entry");
    dp.set_meter(0, &meter_for_packets(8_000, len, 3, 0))
        .expect("meter 0");
    let rate_drop = DropReason::RateExceeded.index() as usize;
    let before = env.drops()[rate_drop].1;
    let verdicts: Vec<u32> = (0..5).map(|_| env.run(Ingress::N3, &up).0).collect();
    assert_eq!(
        verdicts,
        [
            xdp_action::REDIRECT,
            xdp_action::REDIRECT,
            xdp_action::REDIRECT,
            xdp_action::DROP,
            xdp_action::DROP
        ],
        "a burst of three, then the rate"
    );
    assert_eq!(
        env.drops()[rate_drop].1 - before,
        2,
        "rate_exceeded counted"
    );
    let m = env.manager.datapath().meter(0).expect("meter 0");
    assert_eq!(m.pass_bytes, 3 * len);
    assert_eq!((m.drop_packets, m.drop_bytes), (2, 2 * len));

    // No rate: everything passes and is counted.
    let dp = env.manager.datapath_mut();
    dp.set_meter(0, &upf_session::datapath::MeterConfig::default())
        .expect("meter 0 unlimited");
    for _ in 0..4 {
        assert_eq!(env.run(Ingress::N3, &up).0, xdp_action::REDIRECT);
    }
    assert_eq!(env.manager.datapath().meter(0).unwrap().pass_bytes, 7 * len);

    // A chain: meter 0 (80 kbit/s, a long burst) -> meter 1 (one packet).
    let dp = env.manager.datapath_mut();
    dp.reset_meter(0).unwrap();
    dp.set_meter(
        0,
        &upf_session::datapath::MeterConfig {
            rate_bps: 80_000,
            tau_ns: 1_000_000_000,
            parent: 2,
        },
    )
    .unwrap();
    dp.set_meter(1, &meter_for_packets(8_000, len, 1, 0))
        .unwrap();
    assert_eq!(env.run(Ingress::N3, &up).0, xdp_action::REDIRECT);
    let tat_after_first = env.manager.datapath().meter(0).unwrap().tat_ns;
    for _ in 0..2 {
        assert_eq!(env.run(Ingress::N3, &up).0, xdp_action::DROP);
    }
    let (m0, m1) = (
        env.manager.datapath().meter(0).unwrap(),
        env.manager.datapath().meter(1).unwrap(),
    );
    let per_packet = upf_abi::Meter::cost_ns(upf_abi::Meter::cost_for_bps(80_000), len);
    assert_eq!(
        m0.tat_ns,
        tat_after_first + 2 * per_packet,
        "the packets the second meter refused stay charged on the first"
    );
    assert_eq!((m0.pass_bytes, m0.drop_packets), (len, 2));
    assert_eq!((m1.pass_bytes, m1.drop_packets), (len, 2));

    // Downlink goes through the same meters.
    let dp = env.manager.datapath_mut();
    dp.reset_meter(2).unwrap();
    let down = from_dn(&dn_udp(UE1, 64, 0, 100));
    dp.set_meter(2, &meter_for_packets(8_000, 100, 2, 0))
        .unwrap();
    dp.put_downlink(
        Ipv4Addr::from(UE1),
        &DownlinkEntry {
            local_ipv4_be: be(N3_ADDR),
            rules: 0,
            default: PdrAction {
                meter: 3,
                ..tunnel(1, GNB, REMOTE_TEID1, None)
            },
        },
    )
    .unwrap();
    let verdicts: Vec<u32> = (0..3).map(|_| env.run(Ingress::N6, &down).0).collect();
    assert_eq!(
        verdicts,
        [xdp_action::REDIRECT, xdp_action::REDIRECT, xdp_action::DROP]
    );
    let m2 = env.manager.datapath().meter(2).unwrap();
    assert_eq!((m2.pass_bytes, m2.drop_bytes), (200, 100), "inner IP bytes");
}

/// A closed gate and an exhausted quota drop with their own reasons, and a
/// dropped packet never touches a meter.
#[test]
fn gate_and_quota_drops_have_their_reasons() {
    let mut env = Env::new();
    let up = from_gnb(&gpdu(0x30, TEID1, &[], &ue_udp(UE1, DN_HOST, 64)));
    for (flag, reason) in [
        (upf_abi::ACT_GATE_CLOSED, DropReason::GateClosed),
        (upf_abi::ACT_QUOTA_EXHAUSTED, DropReason::QuotaExhausted),
        (0, DropReason::FarDrop),
    ] {
        let dp = env.manager.datapath_mut();
        dp.reset_meter(0).unwrap();
        dp.put_uplink(
            TEID1,
            &UplinkEntry {
                ue_ipv4_be: be(UE1),
                rules: 0,
                default: PdrAction {
                    flags: ACT_DROP | flag,
                    meter: 1,
                    ..fwd(1)
                },
            },
        )
        .unwrap();
        let before = env.drops()[reason.index() as usize].1;
        assert_eq!(env.run(Ingress::N3, &up).0, xdp_action::DROP);
        assert_eq!(
            env.drops()[reason.index() as usize].1 - before,
            1,
            "{}",
            reason.name()
        );
        let m = env.manager.datapath().meter(0).unwrap();
        assert_eq!(m.pass_bytes + m.drop_packets, 0, "not metered");
    }
}

/// The meter is exact across CPUs: two threads pinned to different CPUs
/// run the same metered packet concurrently, and together they pass exactly
/// as many packets as the burst tolerance allows one CPU (no refill happens
/// at 8 kbit/s while they run). A racy read-modify-write would let each CPU
/// spend the same tokens.
#[test]
fn a_meter_shared_by_two_cpus_passes_exactly_its_burst() {
    let ncpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        ncpus >= 2,
        "this test needs 2 CPUs to run the program on two at once; the host has {ncpus}"
    );
    let mut env = Env::new();
    let inner = ue_udp(UE1, DN_HOST, 64);
    let len = inner.len() as u64;
    let up = from_gnb(&gpdu(0x30, TEID1, &[], &inner));
    let burst = 150u64;
    let dp = env.manager.datapath_mut();
    dp.reset_meter(0).unwrap();
    dp.set_meter(0, &meter_for_packets(8_000, len, burst, 0))
        .unwrap();
    dp.put_uplink(
        TEID1,
        &UplinkEntry {
            ue_ipv4_be: be(UE1),
            rules: 0,
            default: PdrAction { meter: 1, ..fwd(1) },
        },
    )
    .unwrap();
    let ctx = xdp_md(up.len() as u32, env.n3);
    let prog = env.manager.datapath_mut().program();
    let per_thread = 400usize;
    let passed: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|cpu| {
                let (prog, up, ctx) = (&*prog, &up, &ctx);
                s.spawn(move || {
                    // SAFETY: a zeroed cpu_set_t with one bit set, for this thread only.
                    unsafe {
                        let mut set: libc::cpu_set_t = std::mem::zeroed();
                        libc::CPU_SET(cpu, &mut set);
                        assert_eq!(
                            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
                            0,
                            "pinning to CPU {cpu}"
                        );
                    }
                    let mut out = vec![0u8; up.len() + 256];
                    (0..per_thread)
                        .filter(|_| {
                            let r = prog
                                .test_run(TestRunOptions {
                                    data_in: Some(up),
                                    data_out: Some(&mut out),
                                    ctx_in: Some(ctx),
                                    repeat: 1,
                                    ..Default::default()
                                })
                                .expect("test run");
                            r.return_value == xdp_action::REDIRECT
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let m = env.manager.datapath().meter(0).unwrap();
    assert_eq!(
        passed.iter().sum::<usize>() as u64,
        burst,
        "two CPUs together pass exactly the burst ({passed:?} per CPU)"
    );
    assert_eq!(m.pass_bytes, burst * len);
    assert_eq!(m.drop_packets, 2 * per_thread as u64 - burst);
}

/// The direct tables and their hash fallbacks, side by side in one program:
/// a TEID the gateway chose (in its range: `UL_TABLE`), a TEID of the same
/// slot (the `UPLINK` hash), a TEID the SMF chose outside the range (the
/// hash), UE addresses inside the UE prefix (`DL_TABLE`) and outside it
/// (the `DOWNLINK` hash); then unknown, stale and busy slots.
#[test]
fn direct_tables_and_hash_fallbacks_side_by_side() {
    let mut env = Env::new();
    // UL_TABLE has 1024 slots (max_sessions, within TEID_RANGE): the
    // fixtures hold slots 0, 256, 512 and 768.
    const CHOSEN: u32 = 0x0110; // slot 16
    const SAME_SLOT: u32 = CHOSEN + 1024; // slot 16 too: the hash
    const SMF_CHOSE: u32 = 0x9000_0001; // outside the range: the hash
    const EMPTY_SLOT: u32 = 0x0120; // slot 32, no session
    const UE_CHOSEN: V4 = [10, 45, 0, 50];
    const UE_SAME_SLOT: V4 = [10, 45, 0, 51];
    const UE_SMF: V4 = [10, 77, 0, 9]; // outside 10.45.0.0/24
    const UE_NONE: V4 = [10, 45, 0, 99]; // inside, no session
    let sessions = [
        (CHOSEN, UE_CHOSEN, 1100u32, 0x7100_0001u32),
        (SAME_SLOT, UE_SAME_SLOT, 1101, 0x7100_0002),
        (SMF_CHOSE, UE_SMF, 1102, 0x7100_0003),
    ];
    {
        let dp = env.manager.datapath_mut();
        for &(teid, ue, slot, remote) in &sessions {
            dp.reset_counters(slot).expect("counter slot");
            dp.put_uplink(
                teid,
                &UplinkEntry {
                    ue_ipv4_be: be(ue),
                    rules: 0,
                    default: fwd(slot),
                },
            )
            .expect("uplink entry");
            dp.put_downlink(
                Ipv4Addr::from(ue),
                &DownlinkEntry {
                    local_ipv4_be: be(N3_ADDR),
                    rules: 0,
                    default: tunnel(slot, GNB, remote, None),
                },
            )
            .expect("downlink entry");
        }
        assert_eq!(dp.uplink_is_direct(CHOSEN), Some(true));
        assert_eq!(dp.uplink_is_direct(SAME_SLOT), Some(false));
        assert_eq!(dp.uplink_is_direct(SMF_CHOSE), Some(false));
        assert_eq!(dp.uplink_is_direct(EMPTY_SLOT), None);
        assert_eq!(dp.downlink_is_direct(Ipv4Addr::from(UE_CHOSEN)), Some(true));
        assert_eq!(dp.downlink_is_direct(Ipv4Addr::from(UE_SMF)), Some(false));
        assert_eq!(dp.downlink_is_direct(Ipv4Addr::from(UE_NONE)), None);
    }
    let uplink = |env: &mut Env, teid: u32, ue: V4| {
        env.run(
            Ingress::N3,
            &from_gnb(&gpdu(0x30, teid, &[], &ue_udp(ue, DN_HOST, 64))),
        )
    };
    let downlink = |env: &mut Env, ue: V4| env.run(Ingress::N6, &from_dn(&dn_udp(ue, 64, 0, 100)));
    let drops_of = |env: &Env, r: DropReason| {
        env.drops()
            .into_iter()
            .find(|(k, _)| *k == r)
            .map(|(_, v)| v)
            .expect("every reason is listed")
    };
    // Every session forwards both ways and counts into its own slot only.
    for &(teid, ue, _, remote) in &sessions {
        let (v, out) = uplink(&mut env, teid, ue);
        assert_eq!(
            v,
            xdp_action::REDIRECT,
            "uplink of {teid:#x}: {}",
            verdict_name(v)
        );
        assert_eq!(out, to_dn(&ue_udp(ue, DN_HOST, 63)), "uplink of {teid:#x}");
        let (v, out) = downlink(&mut env, ue);
        assert_eq!(
            v,
            xdp_action::REDIRECT,
            "downlink to {ue:?}: {}",
            verdict_name(v)
        );
        assert_eq!(
            &out[14 + 20 + 8 + 4..14 + 20 + 8 + 8],
            &remote.to_be_bytes()
        );
    }
    for &(teid, _, slot, _) in &sessions {
        let c = env.manager.datapath().counters(slot).expect("counters");
        assert_eq!((c.ul_packets, c.dl_packets), (1, 1), "slot of {teid:#x}");
    }
    // A slot that holds no TEID, and a TEID far outside the range with no
    // session: unknown, as before the direct tables.
    let unknown = drops_of(&env, DropReason::UnknownTeid);
    for teid in [EMPTY_SLOT, SMF_CHOSE + 1] {
        let (v, _) = uplink(&mut env, teid, UE_CHOSEN);
        assert_eq!(v, xdp_action::DROP, "{teid:#x}: {}", verdict_name(v));
    }
    assert_eq!(drops_of(&env, DropReason::UnknownTeid), unknown + 2);
    // An address inside the prefix without a session is not ours.
    let passed = env.counter(Counter::NotOursPassed);
    let (v, _) = downlink(&mut env, UE_NONE);
    assert_eq!(v, xdp_action::PASS);
    assert_eq!(env.counter(Counter::NotOursPassed), passed + 1);
    // An End Marker on a direct TEID is consumed like one on a hashed TEID.
    let consumed = env.counter(Counter::EndMarkerConsumed);
    for teid in [CHOSEN, SMF_CHOSE] {
        let (v, _) = env.run(Ingress::N3, &from_gnb(&gtpu(0x30, 254, teid, &[])));
        assert_eq!(v, xdp_action::DROP);
    }
    assert_eq!(env.counter(Counter::EndMarkerConsumed), consumed + 2);
    // A slot its writer left mid-update: the packet is dropped as
    // entry_busy, not matched against a torn entry; once written, it forwards.
    assert!(env.manager.datapath_mut().hold_uplink_slot(CHOSEN, true));
    let (v, _) = uplink(&mut env, CHOSEN, UE_CHOSEN);
    assert_eq!(v, xdp_action::DROP);
    assert_eq!(drops_of(&env, DropReason::EntryBusy), 1);
    assert!(env.manager.datapath_mut().hold_uplink_slot(CHOSEN, false));
    let (v, _) = uplink(&mut env, CHOSEN, UE_CHOSEN);
    assert_eq!(v, xdp_action::REDIRECT);
    // The chosen session goes: its TEID is stale (unknown), its address not
    // ours; the session in the hash behind the same slot is untouched.
    {
        let dp = env.manager.datapath_mut();
        dp.del_uplink(CHOSEN).expect("delete");
        dp.del_downlink(Ipv4Addr::from(UE_CHOSEN)).expect("delete");
        assert_eq!(dp.uplink_is_direct(CHOSEN), None);
    }
    let unknown = drops_of(&env, DropReason::UnknownTeid);
    let (v, _) = uplink(&mut env, CHOSEN, UE_CHOSEN);
    assert_eq!(v, xdp_action::DROP);
    assert_eq!(drops_of(&env, DropReason::UnknownTeid), unknown + 1);
    let (v, _) = downlink(&mut env, UE_CHOSEN);
    assert_eq!(v, xdp_action::PASS);
    let (v, out) = uplink(&mut env, SAME_SLOT, UE_SAME_SLOT);
    assert_eq!(v, xdp_action::REDIRECT);
    assert_eq!(out, to_dn(&ue_udp(UE_SAME_SLOT, DN_HOST, 63)));
    // Rewritten, the hashed TEID stays in the hash (never in two tables);
    // the freed slot takes the next TEID of the range that maps to it.
    let dp = env.manager.datapath_mut();
    dp.put_uplink(
        SAME_SLOT,
        &UplinkEntry {
            ue_ipv4_be: be(UE_SAME_SLOT),
            rules: 0,
            default: fwd(1101),
        },
    )
    .expect("rewrite");
    assert_eq!(dp.uplink_is_direct(SAME_SLOT), Some(false));
    dp.put_uplink(
        CHOSEN + 2048,
        &UplinkEntry {
            ue_ipv4_be: be(UE_CHOSEN),
            rules: 0,
            default: fwd(1100),
        },
    )
    .expect("a new TEID on the freed slot");
    assert_eq!(dp.uplink_is_direct(CHOSEN + 2048), Some(true));
    let (v, _) = uplink(&mut env, CHOSEN + 2048, UE_CHOSEN);
    assert_eq!(v, xdp_action::REDIRECT);
    let (v, _) = uplink(&mut env, CHOSEN, UE_CHOSEN);
    assert_eq!(
        v,
        xdp_action::DROP,
        "the old TEID of the slot stays unknown"
    );
    // Both tables list their keys once.
    let keys = env.manager.datapath().uplink_keys().expect("keys");
    for teid in [CHOSEN + 2048, SAME_SLOT, SMF_CHOSE] {
        assert_eq!(keys.iter().filter(|&&k| k == teid).count(), 1, "{teid:#x}");
    }
    assert!(!keys.contains(&CHOSEN));
}

/// Forwarded traffic is counted per POI in the same per-CPU lookup as the
/// global counters: uplink by the G-PDU's outer source, downlink by the
/// tunnel's peer, inner IP bytes as the session counters count them;
/// dropped packets are not counted.
#[test]
fn forwarded_traffic_is_counted_per_poi() {
    let mut env = Env::new();
    let pois = |env: &Env| env.manager.datapath().stats().expect("STATS").pois;
    let before = pois(&env);
    let inner = ue_udp(UE1, DN_HOST, 64);
    // Session 1 uplink from GNB (POI 0), downlink to session 2 (peer GNB2, POI 1).
    let (v, _) = env.run(Ingress::N3, &from_gnb(&gpdu(0x30, TEID1, &[], &inner)));
    assert_eq!(v, xdp_action::REDIRECT);
    let dn = dn_udp(UE2, 64, 0, 100);
    let (v, _) = env.run(Ingress::N6, &from_dn(&dn));
    assert_eq!(v, xdp_action::REDIRECT);
    // Session 2's TEID sent from GNB: the POI is where the packet came from.
    let inner2 = ue_udp(UE2, DN_HOST, 64);
    let (v, _) = env.run(Ingress::N3, &from_gnb(&gpdu(0x30, TEID2, &[], &inner2)));
    assert_eq!(v, xdp_action::REDIRECT);
    // A dropped packet (unknown TEID) counts nowhere.
    let (v, _) = env.run(
        Ingress::N3,
        &from_gnb(&gpdu(0x30, TEID_UNKNOWN, &[], &inner)),
    );
    assert_eq!(v, xdp_action::DROP);
    let after = pois(&env);
    let d = |i: usize| {
        let (a, b) = (after[i], before[i]);
        (
            a.ul_packets - b.ul_packets,
            a.ul_bytes - b.ul_bytes,
            a.dl_packets - b.dl_packets,
            a.dl_bytes - b.dl_bytes,
        )
    };
    let (l1, l2) = (inner.len() as u64, inner2.len() as u64);
    assert_eq!(d(0), (2, l1 + l2, 0, 0), "POI 0 (GNB)");
    assert_eq!(d(1), (0, 0, 1, dn.len() as u64), "POI 1 (GNB2)");
    assert_eq!(d(upf_abi::MAX_POIS), (0, 0, 0, 0), "unassigned");
    // Session 4's peer is in no POI: unassigned.
    let (v, _) = env.run(Ingress::N6, &from_dn(&dn_udp(UE4, 64, 0, 100)));
    let moved = pois(&env)[upf_abi::MAX_POIS].dl_packets - before[upf_abi::MAX_POIS].dl_packets;
    assert_eq!(
        moved,
        u64::from(v == xdp_action::REDIRECT),
        "unassigned counts what is forwarded ({})",
        verdict_name(v)
    );
}

/// Pinned direct tables are re-adopted only by a daemon that lays them out
/// the same way: with the same TEID range and UE prefixes a restart finds
/// its entries; with a UE prefix of the same size elsewhere, the start is
/// refused (the pinned slot of 10.45.0.7 would mean 10.46.0.7).
#[test]
fn pinned_direct_tables_need_the_layout_they_were_made_with() {
    require_root();
    let mut ns = Netns::create();
    ns.configure();
    ns.enter();
    let dir = std::path::PathBuf::from(format!("/sys/fs/bpf/mupf-t{}-layout", std::process::id()));
    let _ = upfd::bpf::remove_pins(&dir);
    struct Unpin(std::path::PathBuf);
    impl Drop for Unpin {
        fn drop(&mut self) {
            let _ = upfd::bpf::remove_pins(&self.0);
        }
    }
    let _unpin = Unpin(dir.clone());
    let opts = |prefix: &str| LoadOptions {
        n3_ipv4: Ipv4Addr::from(N3_ADDR),
        ports: vec![
            Port::resolve(N3_IF, ROLE_N3).expect("N3 interface"),
            Port::resolve(N6_IF, ROLE_N6).expect("N6 interface"),
        ],
        max_sessions: 64,
        counter_slots: 64,
        rule_sets: 4,
        nexthop_cache: true,
        gtpu_peers: None,
        anti_spoofing: true,
        meters: 64,
        teid_range: TEID_RANGE,
        ue_prefixes: vec![prefix.parse().expect("a prefix")],
        poi_peers: Vec::new(),
    };
    let ue = Ipv4Addr::new(10, 45, 0, 7);
    let entry = DownlinkEntry {
        local_ipv4_be: be(N3_ADDR),
        rules: 0,
        default: tunnel(3, GNB, 0x77, None),
    };
    {
        let mut dp = BpfDatapath::load_pinned(&opts("10.45.0.0/24"), &[], Some(&dir))
            .unwrap_or_else(|e| panic!("first load: {e}"));
        assert!(!dp.adopted());
        dp.put_downlink(ue, &entry).expect("entry");
        dp.put_uplink(TEID1, &UplinkEntry::default())
            .expect("entry");
    }
    {
        let dp = BpfDatapath::load_pinned(&opts("10.45.0.0/24"), &[], Some(&dir))
            .unwrap_or_else(|e| panic!("the same layout: {e}"));
        assert!(dp.adopted());
        assert_eq!(dp.downlink_is_direct(ue), Some(true));
        assert_eq!(dp.uplink_is_direct(TEID1), Some(true));
    }
    match BpfDatapath::load_pinned(&opts("10.46.0.0/24"), &[], Some(&dir)) {
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("10.45.0.7") && e.contains("--reset"), "{e}");
        }
        Ok(_) => panic!("another UE prefix of the same size re-adopted the pinned tables"),
    }
}
