//! The next-hop cache: the kernel's routes and neighbours, resolved in
//! userspace into the maps the fast path reads before `bpf_fib_lookup`.
//!
//! Three layers:
//! - [`Snapshot`]: links, routes, neighbours and rules as the kernel has them
//!   (read with `ip -j`, [`Snapshot::read`]);
//! - [`compute`]: the pure function from a snapshot and the ports to the
//!   [`Desired`] map contents (unit-tested without root);
//! - [`Cache::sync`]: the difference between what was written last and what
//!   is desired, applied through [`NexthopMaps`] in an order that never lets
//!   the fast path see a route pointing at a missing or changed next hop.
//!
//! Anything the cache cannot mirror exactly becomes "fallback" (the fast
//! path calls `bpf_fib_lookup`, as without the cache): routes of another
//! kind than unicast, multipath, with a TOS, an MTU metric or a dead link,
//! egress that is not a port or not up, duplicate prefixes, anything under a
//! local-table prefix. Policy rules other than the default three, or a port
//! with IPv4 forwarding disabled, turn the whole cache off.
//!
//! The daemon resyncs on every rtnetlink event (links, addresses, routes,
//! neighbours, rules; [`watch_events`]) and periodically.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::process::Command;

use upf_abi::{NextHop, MAX_NEXTHOPS, NH_FALLBACK, NH_ONLINK, NH_VALID};

/// An interface as the resolver needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// Its MAC address (the Ethernet source of what leaves through it).
    pub mac: Option<[u8; 6]>,
    /// Its MTU.
    pub mtu: u32,
    /// Administratively up with carrier (`UP` and `LOWER_UP`).
    pub up: bool,
    /// `net.ipv4.conf.<name>.forwarding`.
    pub forwarding: bool,
}

/// A route's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// A unicast route (the only kind the cache resolves).
    Unicast,
    /// `local`, `broadcast`, `anycast`, `multicast` (the local table's kinds).
    Local,
    /// `blackhole`, `unreachable`, `prohibit`, `throw`, ...
    Other,
}

/// Which routing table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// 254.
    Main,
    /// 255.
    Local,
    /// Any other.
    Other,
}

/// An IPv4 route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Its table.
    pub table: Table,
    /// Its kind.
    pub kind: RouteKind,
    /// Destination prefix.
    pub dst: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
    /// Next-hop gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Egress interface, if any.
    pub dev: Option<u32>,
    /// Something the cache does not mirror (multipath, TOS, MTU metric,
    /// `linkdown`/`dead`, a source-specific route).
    pub unusual: bool,
}

/// An IPv4 neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neigh {
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its interface.
    pub dev: u32,
    /// Its link-layer address.
    pub mac: Option<[u8; 6]>,
    /// In a state `bpf_fib_lookup` uses (PERMANENT, NOARP, REACHABLE,
    /// STALE, DELAY, PROBE).
    pub valid: bool,
}

/// What the kernel has, as far as the cache is concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Interfaces.
    pub links: Vec<Link>,
    /// IPv4 routes of every table.
    pub routes: Vec<Route>,
    /// IPv4 neighbours.
    pub neighs: Vec<Neigh>,
    /// Only the default rules (local, main, default) are present.
    pub default_rules: bool,
}

/// Where a cached prefix leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `bpf_fib_lookup` decides.
    Fallback,
    /// A connected route on this port: the destination's own neighbour entry.
    OnLink(u32),
    /// Through this resolved gateway next hop.
    Via(NextHopKey),
}

/// A [`NextHop`] as a map key (its bytes), valid by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NextHopKey {
    /// Egress port.
    pub ifindex: u32,
    /// Egress MTU.
    pub mtu: u32,
    /// Neighbour MAC.
    pub dmac: [u8; 6],
    /// Port MAC.
    pub smac: [u8; 6],
}

impl NextHopKey {
    /// The map value.
    pub fn value(&self) -> NextHop {
        NextHop {
            ifindex: self.ifindex,
            mtu: self.mtu,
            dmac: self.dmac,
            smac: self.smac,
            flags: NH_VALID,
        }
    }
}

/// The cache's contents: prefixes (host-order address, length) and on-link
/// neighbours (host-order address).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// `NH_ROUTES`.
    pub routes: BTreeMap<(u32, u8), Target>,
    /// `NH_NEIGH`.
    pub neighs: BTreeMap<u32, NextHopKey>,
    /// Why the cache is empty, when it is off.
    pub off: Option<String>,
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn contains(prefix: (u32, u8), addr: u32, len: u8) -> bool {
    prefix.1 <= len && (addr & mask(prefix.1)) == prefix.0
}

/// The longest prefix of `routes` containing `addr`.
fn lpm(routes: &BTreeMap<(u32, u8), Target>, addr: u32) -> Option<Target> {
    (0..=32u8)
        .rev()
        .find_map(|l| routes.get(&(addr & mask(l), l)).copied())
}

/// The map contents for a snapshot, given the ports' interface indexes.
pub fn compute(s: &Snapshot, ports: &[u32]) -> Desired {
    let off = |why: String| Desired {
        off: Some(why),
        ..Desired::default()
    };
    if !s.default_rules {
        return off("policy routing rules besides local/main/default".into());
    }
    let links: HashMap<u32, &Link> = s.links.iter().map(|l| (l.ifindex, l)).collect();
    for p in ports {
        match links.get(p) {
            Some(l) if !l.forwarding => {
                return off(format!("IPv4 forwarding is disabled on {}", l.name))
            }
            _ => {}
        }
    }
    // A usable egress: a port that is up and has a MAC.
    let egress = |dev: Option<u32>| -> Option<&Link> {
        let dev = dev?;
        let l = links.get(&dev)?;
        (ports.contains(&dev) && l.up && l.mac.is_some()).then_some(*l)
    };
    let neigh = |addr: Ipv4Addr, dev: u32| -> Option<[u8; 6]> {
        s.neighs
            .iter()
            .find(|n| n.addr == addr && n.dev == dev && n.valid)
            .and_then(|n| n.mac)
    };

    let mut routes: BTreeMap<(u32, u8), Target> = BTreeMap::new();
    let mut seen: HashMap<(u32, u8), usize> = HashMap::new();
    for r in s.routes.iter().filter(|r| r.table == Table::Main) {
        let key = (u32::from(r.dst) & mask(r.len), r.len);
        *seen.entry(key).or_default() += 1;
        let t = match (r.kind, r.unusual, egress(r.dev)) {
            (RouteKind::Unicast, false, Some(l)) => match r.gateway {
                None => Target::OnLink(l.ifindex),
                Some(gw) => match neigh(gw, l.ifindex) {
                    Some(dmac) => Target::Via(NextHopKey {
                        ifindex: l.ifindex,
                        mtu: l.mtu,
                        dmac,
                        smac: l.mac.unwrap_or_default(),
                    }),
                    None => Target::Fallback,
                },
            },
            _ => Target::Fallback,
        };
        routes.insert(key, t);
    }
    // The same prefix twice (metrics, TOS): the kernel's choice is not ours to guess.
    for (k, n) in seen {
        if n > 1 {
            routes.insert(k, Target::Fallback);
        }
    }
    // The local table is consulted first: everything under its prefixes is the kernel's.
    let locals: Vec<(u32, u8)> = s
        .routes
        .iter()
        .filter(|r| r.table == Table::Local)
        .map(|r| (u32::from(r.dst) & mask(r.len), r.len))
        .collect();
    for (k, t) in routes.iter_mut() {
        if locals.iter().any(|&lp| contains(lp, k.0, k.1)) {
            *t = Target::Fallback;
        }
    }
    for lp in locals {
        routes.insert(lp, Target::Fallback);
    }
    // On-link neighbours whose address routes to their own interface.
    let mut neighs = BTreeMap::new();
    for n in s.neighs.iter().filter(|n| n.valid) {
        let (Some(dmac), Some(l)) = (n.mac, egress(Some(n.dev))) else {
            continue;
        };
        let a = u32::from(n.addr);
        if lpm(&routes, a) == Some(Target::OnLink(n.dev)) {
            neighs.insert(
                a,
                NextHopKey {
                    ifindex: n.dev,
                    mtu: l.mtu,
                    dmac,
                    smac: l.mac.unwrap_or_default(),
                },
            );
        }
    }
    Desired {
        routes,
        neighs,
        off: None,
    }
}

/// The maps the cache writes (implemented by the BPF datapath; a fake in tests).
/// Addresses are host order; implementations store them `_be`.
pub trait NexthopMaps {
    /// The map layer's error.
    type Error: std::fmt::Display;
    /// Writes `NEXTHOPS[id]`.
    fn put_nexthop(&mut self, id: u32, v: &NextHop) -> Result<(), Self::Error>;
    /// Writes the `NH_ROUTES` entry for `addr/len`.
    fn put_route(&mut self, addr: u32, len: u8, value: u32) -> Result<(), Self::Error>;
    /// Removes the `NH_ROUTES` entry for `addr/len` (absent is not an error).
    fn del_route(&mut self, addr: u32, len: u8) -> Result<(), Self::Error>;
    /// Writes the `NH_NEIGH` entry for `addr`.
    fn put_neigh(&mut self, addr: u32, v: &NextHop) -> Result<(), Self::Error>;
    /// Removes the `NH_NEIGH` entry for `addr` (absent is not an error).
    fn del_neigh(&mut self, addr: u32) -> Result<(), Self::Error>;
}

/// What was written last, and the next-hop ids in use.
#[derive(Debug, Default)]
pub struct Cache {
    routes: BTreeMap<(u32, u8), u32>,
    neighs: BTreeMap<u32, NextHopKey>,
    ids: HashMap<NextHopKey, u32>,
    free: Vec<u32>,
    next_id: u32,
}

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Prefixes in the cache after the sync.
    pub routes: usize,
    /// Of them, resolved (not fallback).
    pub resolved: usize,
    /// On-link neighbours.
    pub neighs: usize,
    /// Map writes and deletes done.
    pub writes: usize,
}

impl Cache {
    /// An empty cache (the maps are empty after load).
    pub fn new() -> Cache {
        Cache {
            next_id: 1,
            ..Cache::default()
        }
    }

    /// Makes the maps hold `want`. Order: new next hops, neighbours, route
    /// additions and changes, route removals, neighbour removals, then the
    /// next hops no route uses are invalidated; a next hop's content never
    /// changes under its id (a changed MAC is a new id).
    pub fn sync<M: NexthopMaps>(
        &mut self,
        want: &Desired,
        maps: &mut M,
    ) -> Result<SyncStats, M::Error> {
        let mut st = SyncStats::default();
        // 1. Ids for every gateway next hop in use.
        let mut used: HashMap<NextHopKey, u32> = HashMap::new();
        let mut new_routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
        for (k, t) in &want.routes {
            let v = match t {
                Target::Fallback => NH_FALLBACK,
                Target::OnLink(_) => NH_ONLINK,
                Target::Via(nh) => {
                    let known = used.get(nh).or_else(|| self.ids.get(nh)).copied();
                    if let Some(id) = known {
                        used.insert(*nh, id);
                        id
                    } else {
                        let id = match self.free.pop() {
                            Some(id) => id,
                            None if self.next_id < MAX_NEXTHOPS => {
                                self.next_id += 1;
                                self.next_id - 1
                            }
                            // Out of ids: this prefix takes the kernel path.
                            None => {
                                new_routes.insert(*k, NH_FALLBACK);
                                continue;
                            }
                        };
                        maps.put_nexthop(id, &nh.value())?;
                        st.writes += 1;
                        self.ids.insert(*nh, id);
                        used.insert(*nh, id);
                        id
                    }
                }
            };
            if v != NH_FALLBACK && v != NH_ONLINK {
                st.resolved += 1;
            }
            new_routes.insert(*k, v);
        }
        // 2. Neighbours (a hash update replaces the value atomically).
        for (a, nh) in &want.neighs {
            if self.neighs.get(a) != Some(nh) {
                maps.put_neigh(*a, &nh.value())?;
                st.writes += 1;
            }
        }
        // 3. Routes added or changed.
        for (k, v) in &new_routes {
            if self.routes.get(k) != Some(v) {
                maps.put_route(k.0, k.1, *v)?;
                st.writes += 1;
            }
        }
        // 4. Routes gone.
        for k in self.routes.keys() {
            if !new_routes.contains_key(k) {
                maps.del_route(k.0, k.1)?;
                st.writes += 1;
            }
        }
        self.routes = new_routes;
        // 5. Neighbours gone.
        for a in self.neighs.keys() {
            if !want.neighs.contains_key(a) {
                maps.del_neigh(*a)?;
                st.writes += 1;
            }
        }
        self.neighs = want.neighs.clone();
        // 6. Next hops no route uses any more.
        let stale: Vec<(NextHopKey, u32)> = self
            .ids
            .iter()
            .filter(|(k, _)| !used.contains_key(k))
            .map(|(k, v)| (*k, *v))
            .collect();
        for (k, id) in stale {
            maps.put_nexthop(id, &NextHop::default())?;
            st.writes += 1;
            self.ids.remove(&k);
            self.free.push(id);
        }
        st.routes = self.routes.len();
        st.neighs = self.neighs.len();
        Ok(st)
    }
}

// ---- reading the kernel's tables (iproute2's JSON) ----

fn ip_json(args: &[&str]) -> Result<serde_json::Value, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip {}: {e} (iproute2 is required)", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if out.stdout.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("ip {}: {e}", args.join(" ")))
}

/// Parses a MAC `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

fn strs(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_prefix(s: &str) -> Option<(Ipv4Addr, u8)> {
    if s == "default" {
        return Some((Ipv4Addr::UNSPECIFIED, 0));
    }
    match s.split_once('/') {
        Some((a, l)) => Some((a.parse().ok()?, l.parse().ok().filter(|l| *l <= 32)?)),
        None => Some((s.parse().ok()?, 32)),
    }
}

/// Parses `ip -j link show` output (forwarding read separately).
pub fn parse_links(v: &serde_json::Value) -> Vec<Link> {
    let Some(a) = v.as_array() else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|l| {
            let flags = strs(l, "flags");
            Some(Link {
                ifindex: l.get("ifindex")?.as_u64()? as u32,
                name: l.get("ifname")?.as_str()?.to_string(),
                mac: l
                    .get("address")
                    .and_then(|m| m.as_str())
                    .and_then(parse_mac),
                mtu: l.get("mtu").and_then(|m| m.as_u64()).unwrap_or(0) as u32,
                up: flags.iter().any(|f| f == "UP") && flags.iter().any(|f| f == "LOWER_UP"),
                forwarding: true,
            })
        })
        .collect()
}

/// Parses `ip -4 -j route show table all` output; `names` maps interface names to indexes.
pub fn parse_routes(v: &serde_json::Value, names: &HashMap<String, u32>) -> Vec<Route> {
    let Some(a) = v.as_array() else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|r| {
            let (dst, len) = parse_prefix(r.get("dst")?.as_str()?)?;
            let table = match r.get("table").and_then(|t| t.as_str()) {
                None | Some("main") | Some("254") => Table::Main,
                Some("local") | Some("255") => Table::Local,
                Some(_) => Table::Other,
            };
            let kind = match r.get("type").and_then(|t| t.as_str()) {
                None | Some("unicast") => RouteKind::Unicast,
                Some("local" | "broadcast" | "anycast" | "multicast") => RouteKind::Local,
                Some(_) => RouteKind::Other,
            };
            let flags = strs(r, "flags");
            let unusual = r.get("nexthops").is_some()
                || r.get("tos").is_some()
                || r.get("metrics").is_some()
                || r.get("src").is_some()
                || r.get("nhid").is_some()
                || flags.iter().any(|f| f == "linkdown" || f == "dead");
            Some(Route {
                table,
                kind,
                dst,
                len,
                gateway: r
                    .get("gateway")
                    .and_then(|g| g.as_str())
                    .and_then(|g| g.parse().ok()),
                dev: r
                    .get("dev")
                    .and_then(|d| d.as_str())
                    .and_then(|d| names.get(d).copied()),
                unusual,
            })
        })
        .collect()
}

/// Parses `ip -4 -j neigh show` output.
pub fn parse_neighs(v: &serde_json::Value, names: &HashMap<String, u32>) -> Vec<Neigh> {
    const VALID: [&str; 6] = ["PERMANENT", "NOARP", "REACHABLE", "STALE", "DELAY", "PROBE"];
    let Some(a) = v.as_array() else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|n| {
            let state = strs(n, "state");
            Some(Neigh {
                addr: n.get("dst")?.as_str()?.parse().ok()?,
                dev: *names.get(n.get("dev")?.as_str()?)?,
                mac: n.get("lladdr").and_then(|m| m.as_str()).and_then(parse_mac),
                valid: state.iter().any(|s| VALID.contains(&s.as_str())),
            })
        })
        .collect()
}

/// True when `ip -4 -j rule show` lists only the default local/main/default rules.
pub fn parse_default_rules(v: &serde_json::Value) -> bool {
    let Some(a) = v.as_array() else {
        return false;
    };
    let mut tables: Vec<&str> = a
        .iter()
        .filter_map(|r| {
            let o = r.as_object()?;
            // Only priority, src "all" and table: nothing else may qualify the rule.
            let plain = o
                .iter()
                .all(|(k, v)| k == "priority" || k == "table" || (k == "src" && v == "all"));
            if plain {
                r.get("table")?.as_str()
            } else {
                Some("?")
            }
        })
        .collect();
    tables.sort_unstable();
    tables == ["default", "local", "main"]
}

impl Snapshot {
    /// Reads the kernel's tables in the current network namespace.
    pub fn read() -> Result<Snapshot, String> {
        let mut links = parse_links(&ip_json(&["-j", "link", "show"])?);
        for l in &mut links {
            let p = format!("/proc/sys/net/ipv4/conf/{}/forwarding", l.name);
            l.forwarding = std::fs::read_to_string(&p)
                .map(|s| s.trim() != "0")
                .unwrap_or(false);
        }
        let names: HashMap<String, u32> =
            links.iter().map(|l| (l.name.clone(), l.ifindex)).collect();
        Ok(Snapshot {
            routes: parse_routes(
                &ip_json(&["-4", "-j", "route", "show", "table", "all"])?,
                &names,
            ),
            neighs: parse_neighs(&ip_json(&["-4", "-j", "neigh", "show"])?, &names),
            default_rules: parse_default_rules(&ip_json(&["-4", "-j", "rule", "show"])?),
            links,
        })
    }
}

// ---- rtnetlink events ----

/// Calls `on_event` (from a thread of its own) whenever the kernel reports a
/// change of links, IPv4 addresses, routes, rules or neighbours (or the
/// socket overflowed). The callback should only schedule a resync.
pub fn watch_events(on_event: impl Fn() + Send + 'static) -> std::io::Result<()> {
    const RTMGRP_LINK: u32 = 0x1;
    const RTMGRP_NEIGH: u32 = 0x4;
    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV4_ROUTE: u32 = 0x40;
    const RTMGRP_IPV4_RULE: u32 = 0x80;
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: sockaddr_nl is plain integers; zero is valid.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups =
        RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE;
    // SAFETY: sa is a valid sockaddr_nl of the given size; fd is ours.
    let rc = unsafe {
        libc::bind(
            fd,
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: fd is ours and open.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    std::thread::Builder::new()
        .name("nexthop-events".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                // SAFETY: buf is writable for its length; fd stays open (this thread owns it).
                let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::EINTR) {
                        continue;
                    }
                    if e.raw_os_error() != Some(libc::ENOBUFS) {
                        tracing::warn!(error = %e, "rtnetlink events: receive failed");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
                on_event();
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests;
