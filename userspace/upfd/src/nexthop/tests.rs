//! The resolver without root: snapshots in, map contents out.

use super::*;

const P3: u32 = 3;
const P6: u32 = 6;
const X: u32 = 9;
const M3: [u8; 6] = [2, 0, 0, 0, 3, 1];
const M6: [u8; 6] = [2, 0, 0, 0, 6, 1];
const GNB: [u8; 6] = [2, 0, 0, 0, 3, 2];
const GW: [u8; 6] = [2, 0, 0, 0, 6, 2];

fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn h(s: &str) -> u32 {
    u32::from(a(s))
}

fn link(ifindex: u32, name: &str, mac: [u8; 6]) -> Link {
    Link {
        ifindex,
        name: name.into(),
        mac: Some(mac),
        mtu: 1500,
        up: true,
        forwarding: true,
    }
}

fn route(dst: &str, len: u8, gw: Option<&str>, dev: u32) -> Route {
    Route {
        table: Table::Main,
        kind: RouteKind::Unicast,
        dst: a(dst),
        len,
        gateway: gw.map(a),
        dev: Some(dev),
        unusual: false,
    }
}

fn local(dst: &str, dev: u32) -> Route {
    Route {
        table: Table::Local,
        kind: RouteKind::Local,
        ..route(dst, 32, None, dev)
    }
}

fn neigh(addr: &str, dev: u32, mac: [u8; 6]) -> Neigh {
    Neigh {
        addr: a(addr),
        dev,
        mac: Some(mac),
        valid: true,
    }
}

/// The lab: N3 10.100.0.1/24 (gNB .2), N6 10.200.0.1/24 (gateway .254,
/// default route), a non-port interface with 192.0.2.0/25 behind it.
fn lab() -> Snapshot {
    Snapshot {
        links: vec![link(P3, "n3", M3), link(P6, "n6", M6), link(X, "x", [2; 6])],
        routes: vec![
            route("0.0.0.0", 0, Some("10.200.0.254"), P6),
            route("10.100.0.0", 24, None, P3),
            route("10.200.0.0", 24, None, P6),
            route("192.0.2.0", 25, Some("10.210.0.2"), X),
            local("10.100.0.1", P3),
            local("10.200.0.1", P6),
        ],
        neighs: vec![
            neigh("10.100.0.2", P3, GNB),
            neigh("10.200.0.254", P6, GW),
            neigh("10.210.0.2", X, [3; 6]),
        ],
        default_rules: true,
    }
}

fn gw_hop() -> NextHopKey {
    NextHopKey {
        ifindex: P6,
        mtu: 1500,
        dmac: GW,
        smac: M6,
    }
}

#[test]
fn lab_resolves_gateway_onlink_and_fallbacks() {
    let d = compute(&lab(), &[P3, P6]);
    assert_eq!(d.off, None);
    assert_eq!(d.routes[&(0, 0)], Target::Via(gw_hop()));
    assert_eq!(d.routes[&(h("10.100.0.0"), 24)], Target::OnLink(P3));
    // Egress is not a port.
    assert_eq!(d.routes[&(h("192.0.2.0"), 25)], Target::Fallback);
    // Our own addresses are the kernel's.
    assert_eq!(d.routes[&(h("10.100.0.1"), 32)], Target::Fallback);
    assert_eq!(
        d.neighs.get(&h("10.100.0.2")),
        Some(&NextHopKey {
            ifindex: P3,
            mtu: 1500,
            dmac: GNB,
            smac: M3
        })
    );
    // The gateway is on-link too; the non-port neighbour is not cached.
    assert!(d.neighs.contains_key(&h("10.200.0.254")));
    assert!(!d.neighs.contains_key(&h("10.210.0.2")));
}

#[test]
fn unresolved_gateway_down_link_and_unusual_routes_fall_back() {
    let mut s = lab();
    s.neighs[1].valid = false;
    assert_eq!(compute(&s, &[P3, P6]).routes[&(0, 0)], Target::Fallback);
    let mut s = lab();
    s.neighs[1].mac = None;
    assert_eq!(compute(&s, &[P3, P6]).routes[&(0, 0)], Target::Fallback);
    let mut s = lab();
    s.links[1].up = false;
    let d = compute(&s, &[P3, P6]);
    assert_eq!(d.routes[&(0, 0)], Target::Fallback);
    assert_eq!(d.routes[&(h("10.200.0.0"), 24)], Target::Fallback);
    assert!(!d.neighs.contains_key(&h("10.200.0.254")));
    let mut s = lab();
    s.routes[0].unusual = true;
    assert_eq!(compute(&s, &[P3, P6]).routes[&(0, 0)], Target::Fallback);
    let mut s = lab();
    s.routes[0].kind = RouteKind::Other;
    assert_eq!(compute(&s, &[P3, P6]).routes[&(0, 0)], Target::Fallback);
    // Two default routes (metrics): not ours to choose.
    let mut s = lab();
    s.routes.push(route("0.0.0.0", 0, Some("10.100.0.2"), P3));
    assert_eq!(compute(&s, &[P3, P6]).routes[&(0, 0)], Target::Fallback);
}

#[test]
fn rules_or_forwarding_off_empty_the_cache() {
    let mut s = lab();
    s.default_rules = false;
    let d = compute(&s, &[P3, P6]);
    assert!(d.off.is_some() && d.routes.is_empty() && d.neighs.is_empty());
    let mut s = lab();
    s.links[0].forwarding = false;
    assert!(compute(&s, &[P3, P6]).off.is_some());
}

#[test]
fn local_prefix_covers_main_routes() {
    let mut s = lab();
    s.routes.push(Route {
        len: 8,
        ..local("127.0.0.0", 1)
    });
    s.routes
        .push(route("127.1.0.0", 16, Some("10.200.0.254"), P6));
    let d = compute(&s, &[P3, P6]);
    assert_eq!(d.routes[&(h("127.1.0.0"), 16)], Target::Fallback);
    assert_eq!(d.routes[&(h("127.0.0.0"), 8)], Target::Fallback);
}

#[derive(Default, Debug)]
struct FakeMaps {
    nexthops: BTreeMap<u32, NextHop>,
    routes: BTreeMap<(u32, u8), u32>,
    neighs: BTreeMap<u32, NextHop>,
    log: Vec<String>,
}

impl NexthopMaps for FakeMaps {
    type Error = String;
    fn put_nexthop(&mut self, id: u32, v: &NextHop) -> Result<(), String> {
        self.log.push(format!("nh {id}"));
        self.nexthops.insert(id, *v);
        Ok(())
    }
    fn put_route(&mut self, addr: u32, len: u8, value: u32) -> Result<(), String> {
        self.log.push(format!("route {addr:x}/{len}"));
        self.routes.insert((addr, len), value);
        Ok(())
    }
    fn del_route(&mut self, addr: u32, len: u8) -> Result<(), String> {
        self.log.push(format!("del route {addr:x}/{len}"));
        self.routes.remove(&(addr, len));
        Ok(())
    }
    fn put_neigh(&mut self, addr: u32, v: &NextHop) -> Result<(), String> {
        self.log.push(format!("neigh {addr:x}"));
        self.neighs.insert(addr, *v);
        Ok(())
    }
    fn del_neigh(&mut self, addr: u32) -> Result<(), String> {
        self.log.push(format!("del neigh {addr:x}"));
        self.neighs.remove(&addr);
        Ok(())
    }
}

impl FakeMaps {
    /// What the fast path would use for `dst`.
    fn lookup(&self, dst: u32) -> Option<NextHop> {
        let v = (0..=32u8)
            .rev()
            .find_map(|l| self.routes.get(&(dst & mask(l), l)))?;
        let nh = if *v == NH_ONLINK {
            self.neighs.get(&dst)?
        } else {
            self.nexthops.get(v)?
        };
        (nh.flags & NH_VALID != 0).then_some(*nh)
    }
}

#[test]
fn sync_writes_then_follows_a_mac_change_and_removal() {
    let mut c = Cache::new();
    let mut m = FakeMaps::default();
    let st = c.sync(&compute(&lab(), &[P3, P6]), &mut m).unwrap();
    assert_eq!(st.resolved, 1);
    assert_eq!(m.lookup(h("198.51.100.7")).unwrap().dmac, GW);
    assert_eq!(m.lookup(h("10.100.0.2")).unwrap().dmac, GNB);
    assert_eq!(m.lookup(h("10.100.0.9")), None, "no neighbour: fib");
    assert_eq!(m.lookup(h("192.0.2.10")), None, "not a port: fib");
    assert_eq!(m.lookup(h("10.100.0.1")), None, "local: fib");
    // Nothing changed: nothing written.
    m.log.clear();
    assert_eq!(
        c.sync(&compute(&lab(), &[P3, P6]), &mut m).unwrap().writes,
        0
    );

    // The gateway's MAC changes: a new id, the route moves, the old id is invalidated.
    let mut s = lab();
    s.neighs[1].mac = Some([9; 6]);
    m.log.clear();
    c.sync(&compute(&s, &[P3, P6]), &mut m).unwrap();
    assert_eq!(m.lookup(h("198.51.100.7")).unwrap().dmac, [9; 6]);
    assert_eq!(m.lookup(h("10.200.0.254")).unwrap().dmac, [9; 6]);
    let first_route = m.log.iter().position(|l| l.starts_with("route")).unwrap();
    let last_nh_valid = m.log.iter().position(|l| l.starts_with("nh")).unwrap();
    assert!(
        last_nh_valid < first_route,
        "next hop before route: {:?}",
        m.log
    );
    assert_eq!(
        m.nexthops
            .values()
            .filter(|n| n.flags & NH_VALID != 0)
            .count(),
        1
    );

    // The gNB's neighbour goes: its entry goes.
    let mut s = lab();
    s.neighs.remove(0);
    c.sync(&compute(&s, &[P3, P6]), &mut m).unwrap();
    assert_eq!(m.lookup(h("10.100.0.2")), None);
    // The default route goes.
    s.routes.remove(0);
    c.sync(&compute(&s, &[P3, P6]), &mut m).unwrap();
    assert_eq!(m.lookup(h("198.51.100.7")), None);
    assert!(m.nexthops.values().all(|n| n.flags & NH_VALID == 0));
}

#[test]
fn parses_iproute2_json() {
    let links: serde_json::Value = serde_json::from_str(
        r#"[{"ifindex":3,"link":"mux1p","ifname":"mux1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"operstate":"UP","address":"06:2a:b9:4b:5a:69"},
            {"ifindex":4,"ifname":"down","flags":["BROADCAST","UP"],"mtu":9000,"address":"06:2a:b9:4b:5a:6a"}]"#,
    )
    .unwrap();
    let l = parse_links(&links);
    assert_eq!(l[0].mac, Some([6, 0x2a, 0xb9, 0x4b, 0x5a, 0x69]));
    assert!(l[0].up && !l[1].up);
    let names: HashMap<String, u32> = l.iter().map(|l| (l.name.clone(), l.ifindex)).collect();
    let routes: serde_json::Value = serde_json::from_str(
        r#"[{"dst":"default","gateway":"10.9.0.2","dev":"mux1","flags":[]},
            {"dst":"10.9.0.0/24","dev":"mux1","protocol":"kernel","scope":"link","prefsrc":"10.9.0.1","flags":[]},
            {"type":"blackhole","dst":"203.0.113.0/24","flags":[]},
            {"dst":"10.8.0.0/16","gateway":"10.9.0.3","dev":"mux1","metrics":[{"mtu":1400}],"flags":[]},
            {"dst":"10.7.0.0/16","flags":[],"nexthops":[{"gateway":"10.9.0.2","dev":"mux1"}]},
            {"type":"local","dst":"10.9.0.1","dev":"mux1","table":"local","protocol":"kernel","scope":"host","prefsrc":"10.9.0.1","flags":[]}]"#,
    )
    .unwrap();
    let r = parse_routes(&routes, &names);
    assert_eq!(r[0], route("0.0.0.0", 0, Some("10.9.0.2"), 3));
    assert_eq!(r[1], route("10.9.0.0", 24, None, 3));
    assert_eq!((r[2].kind, r[2].dev), (RouteKind::Other, None));
    assert!(r[3].unusual && r[4].unusual);
    assert_eq!(
        (r[5].table, r[5].kind, r[5].len),
        (Table::Local, RouteKind::Local, 32)
    );
    let neighs: serde_json::Value = serde_json::from_str(
        r#"[{"dst":"10.9.0.2","dev":"mux1","lladdr":"02:00:00:00:00:02","state":["PERMANENT"]},
            {"dst":"10.9.0.3","dev":"mux1","state":["FAILED"]}]"#,
    )
    .unwrap();
    let n = parse_neighs(&neighs, &names);
    assert_eq!(n[0], neigh("10.9.0.2", 3, [2, 0, 0, 0, 0, 2]));
    assert!(!n[1].valid && n[1].mac.is_none());
    let rules: serde_json::Value = serde_json::from_str(
        r#"[{"priority":0,"src":"all","table":"local"},{"priority":32766,"src":"all","table":"main"},{"priority":32767,"src":"all","table":"default"}]"#,
    )
    .unwrap();
    assert!(parse_default_rules(&rules));
    let rules: serde_json::Value = serde_json::from_str(
        r#"[{"priority":0,"src":"all","table":"local"},{"priority":100,"src":"10.45.0.0","srclen":16,"table":"7"},{"priority":32766,"src":"all","table":"main"},{"priority":32767,"src":"all","table":"default"}]"#,
    )
    .unwrap();
    assert!(!parse_default_rules(&rules));
}
