//! The meter against the fake datapath, with static sessions behind two POIs.

use super::*;
use upf_session::datapath::fake::FakeDatapath;
use upf_session::manager::SessionManager;
use upf_session::static_sessions::{Generation, SessionSpec};

fn spec(id: u64, peer: [u8; 4]) -> SessionSpec {
    SessionSpec {
        id,
        local_teid: 0x100 + id as u32,
        ue_ipv4: Ipv4Addr::new(10, 45, 0, id as u8),
        peer_ipv4: Ipv4Addr::from(peer),
        remote_teid: 0x200 + id as u32,
        qfi: 0,
        generation: Generation::Lte,
    }
}

fn net(a: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net {
        addr: Ipv4Addr::from(a),
        len,
    }
}

/// The two POIs' peers: docomo, then kddi (a longer prefix inside
/// docomo's belongs to kddi).
fn peers() -> Vec<Vec<Ipv4Net>> {
    vec![
        vec![net([10, 100, 0, 0], 24)],
        vec![net([10, 100, 0, 128], 25), net([10, 101, 0, 0], 16)],
    ]
}

fn table() -> PoiTable {
    let names = ["docomo", "kddi"];
    PoiTable::new(
        &names
            .iter()
            .zip(peers())
            .map(|(n, p)| (n.to_string(), p))
            .collect::<Vec<_>>(),
    )
}

/// Session `id` moves traffic: its counter slot and its POI's counters
/// grow, as the fast path counts them (the POI by the session's peer,
/// matched like the loader's prefix table: `bpf::poi_prefixes`).
fn add(m: &mut SessionManager<FakeDatapath>, id: u64, ul: (u64, u64), dl: (u64, u64)) {
    let sess = m
        .sessions()
        .get(
            m.sessions()
                .find(upf_session::static_sessions::STATIC_PEER, id)
                .unwrap(),
        )
        .unwrap();
    let slot = sess.rules.pdrs.values().next().unwrap().counter;
    let peer = sess.tunnels().first().map(|t| t.ipv4).unwrap();
    let prefixes = crate::bpf::poi_prefixes(&peers()).unwrap();
    let poi = prefixes.of(u32::from(peer).to_be());
    let dp = m.datapath_mut();
    for c in [dp.counters.entry(slot).or_default(), &mut dp.pois[poi]] {
        c.ul_bytes += ul.0;
        c.ul_packets += ul.1;
        c.dl_bytes += dl.0;
        c.dl_packets += dl.1;
    }
}

#[test]
fn the_fast_paths_poi_table_agrees_with_the_meters() {
    let t = table();
    let dp = crate::bpf::poi_prefixes(&peers()).unwrap();
    for a in [
        [10, 100, 0, 2],
        [10, 100, 0, 200],
        [10, 101, 9, 9],
        [192, 0, 2, 1],
    ] {
        let a = Ipv4Addr::from(a);
        let want = t.of(Some(a));
        let got = dp.of(u32::from(a).to_be());
        let got = if got == MAX_POIS {
            t.names().len() - 1
        } else {
            got
        };
        assert_eq!(got, want, "{a}");
    }
}

fn find<'a>(v: &'a [SecondSample], poi: &str, dir: Dir) -> Vec<&'a SecondSample> {
    v.iter().filter(|s| s.poi == poi && s.dir == dir).collect()
}

#[test]
fn longest_prefix_wins_and_the_rest_is_unassigned() {
    let t = table();
    assert_eq!(t.names(), ["docomo", "kddi", UNASSIGNED]);
    assert_eq!(t.of(Some(Ipv4Addr::new(10, 100, 0, 2))), 0);
    assert_eq!(t.of(Some(Ipv4Addr::new(10, 100, 0, 200))), 1);
    assert_eq!(t.of(Some(Ipv4Addr::new(10, 101, 9, 9))), 1);
    assert_eq!(t.of(Some(Ipv4Addr::new(192, 0, 2, 1))), 2);
    assert_eq!(t.of(None), 2);
}

#[test]
fn seconds_per_poi_and_direction_from_counter_deltas() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap(); // docomo
    m.install(spec(2, [10, 100, 0, 3])).unwrap(); // docomo
    m.install(spec(3, [10, 100, 0, 200])).unwrap(); // kddi
    m.install(spec(4, [192, 0, 2, 1])).unwrap(); // unassigned
    add(&mut m, 1, (500, 5), (7000, 7)); // before the baseline: not counted
    let mut meter = TrafficMeter::new(table());
    assert!(
        meter.sample(m.sessions_mut(), 100).unwrap().is_empty(),
        "baseline"
    );

    add(&mut m, 1, (1000, 10), (9000, 9));
    add(&mut m, 2, (200, 2), (800, 1));
    add(&mut m, 3, (50, 1), (0, 0));
    add(&mut m, 4, (1, 1), (2, 1));
    let v = meter.sample(m.sessions_mut(), 101).unwrap();
    assert_eq!(v.len(), 3 * 2, "every POI and direction, zero or not");
    let d = find(&v, "docomo", Dir::Dl);
    assert_eq!(
        (d[0].ts, d[0].bytes, d[0].packets, d[0].sessions),
        (101, 9800, 10, 2)
    );
    let u = find(&v, "docomo", Dir::Ul);
    assert_eq!((u[0].bytes, u[0].packets), (1200, 12));
    let k = find(&v, "kddi", Dir::Ul);
    assert_eq!((k[0].bytes, k[0].sessions), (50, 1));
    assert_eq!(find(&v, "kddi", Dir::Dl)[0].bytes, 0);
    assert_eq!(find(&v, UNASSIGNED, Dir::Dl)[0].bytes, 2);

    // A second with nothing moving is a zero, not an absence.
    let v = meter.sample(m.sessions_mut(), 102).unwrap();
    assert!(v.iter().all(|s| s.bytes == 0 && s.ts == 102));
    assert_eq!(meter.totals()[0][1].bytes, 9800);
}

#[test]
fn a_stall_spreads_the_traffic_over_the_missed_seconds() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap();
    let mut meter = TrafficMeter::new(table());
    meter.sample(m.sessions_mut(), 100).unwrap();
    add(&mut m, 1, (0, 0), (1001, 4));
    let v = meter.sample(m.sessions_mut(), 103).unwrap();
    let d = find(&v, "docomo", Dir::Dl);
    assert_eq!(d.iter().map(|s| s.ts).collect::<Vec<_>>(), [101, 102, 103]);
    assert_eq!(
        d.iter().map(|s| s.bytes).collect::<Vec<_>>(),
        [334, 334, 333]
    );
    assert_eq!(d.iter().map(|s| s.packets).sum::<u64>(), 4);
}

#[test]
fn sessions_coming_and_going_are_followed() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap();
    let mut meter = TrafficMeter::new(table());
    meter.sample(m.sessions_mut(), 100).unwrap();
    add(&mut m, 1, (0, 0), (5000, 5));
    meter.sample(m.sessions_mut(), 101).unwrap();
    // Session 1 leaves; session 2 (kddi) takes its freed slot, counted from zero.
    m.remove(1).unwrap();
    m.install(spec(2, [10, 101, 0, 1])).unwrap();
    add(&mut m, 2, (0, 0), (300, 3));
    let v = meter.sample(m.sessions_mut(), 102).unwrap();
    assert_eq!(find(&v, "docomo", Dir::Dl)[0].bytes, 0);
    assert_eq!(find(&v, "docomo", Dir::Dl)[0].sessions, 0);
    assert_eq!(find(&v, "kddi", Dir::Dl)[0].bytes, 300);
    assert_eq!(find(&v, "kddi", Dir::Dl)[0].sessions, 1);
}

#[test]
fn a_second_sampled_twice_is_carried_to_the_next() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap();
    let mut meter = TrafficMeter::new(table());
    meter.sample(m.sessions_mut(), 100).unwrap();
    add(&mut m, 1, (0, 0), (700, 7));
    assert_eq!(
        find(
            &meter.sample(m.sessions_mut(), 101).unwrap(),
            "docomo",
            Dir::Dl
        )[0]
        .bytes,
        700
    );
    add(&mut m, 1, (0, 0), (50, 1));
    assert!(
        meter.sample(m.sessions_mut(), 101).unwrap().is_empty(),
        "101 again: nothing"
    );
    add(&mut m, 1, (0, 0), (25, 1));
    let v = meter.sample(m.sessions_mut(), 102).unwrap();
    assert_eq!(
        find(&v, "docomo", Dir::Dl)[0].bytes,
        75,
        "carried, not lost"
    );
    assert_eq!(meter.totals()[0][1].bytes, 775);
}

#[test]
fn counting_from_a_second_keeps_traffic_before_the_first_sample() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap();
    add(&mut m, 1, (0, 0), (400, 4));
    let mut meter = TrafficMeter::new(table()).counting_from(99);
    let v = meter.sample(m.sessions_mut(), 101).unwrap();
    let d = find(&v, "docomo", Dir::Dl);
    assert_eq!(
        d.iter().map(|s| (s.ts, s.bytes)).collect::<Vec<_>>(),
        [(100, 200), (101, 200)]
    );
}

#[test]
fn following_changes_agrees_with_looking_at_every_session() {
    let mut m = SessionManager::new(FakeDatapath::new(64), Ipv4Addr::new(10, 100, 0, 1));
    let peers = [[10, 100, 0, 2], [10, 100, 0, 200], [192, 0, 2, 1]];
    for id in 1..=9u64 {
        m.install(spec(id, peers[id as usize % 3])).unwrap();
    }
    let mut follower = TrafficMeter::new(table());
    follower.sample(m.sessions_mut(), 100).unwrap();
    // Churn: some leave, others arrive on their freed slots, one moves POI.
    for id in [2u64, 5, 7] {
        m.remove(id).unwrap();
    }
    for id in 10..=13u64 {
        m.install(spec(id, peers[(id as usize + 1) % 3])).unwrap();
    }
    let mut moved = spec(4, [192, 0, 2, 1]);
    moved.local_teid = 0x104;
    m.update(moved).unwrap();
    for id in [1u64, 3, 4, 6, 8, 9, 10, 11, 12, 13] {
        add(&mut m, id, (id * 10, 1), (id * 100, 1));
    }
    let got = follower.sample(m.sessions_mut(), 101).unwrap();
    // A meter that has never seen these sessions looks at all of them.
    let mut fresh = TrafficMeter::new(table()).counting_from(100);
    let want = fresh.sample(m.sessions_mut(), 101).unwrap();
    assert_eq!(follower.sessions(), fresh.sessions());
    assert_eq!(follower.sessions().iter().sum::<u32>(), 10);
    // Only the traffic added after the follower's baseline: the same bytes.
    let total = |v: &[SecondSample]| -> Vec<(String, Dir, u64)> {
        v.iter().map(|s| (s.poi.clone(), s.dir, s.bytes)).collect()
    };
    assert_eq!(total(&got), total(&want));
}

#[test]
fn a_deleted_sessions_last_traffic_is_still_metered() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap();
    let mut meter = TrafficMeter::new(table());
    meter.sample(m.sessions_mut(), 100).unwrap();
    // Traffic, then the session goes before the next sample.
    add(&mut m, 1, (0, 0), (100, 1));
    m.remove(1).unwrap();
    m.install(spec(2, [10, 100, 0, 3])).unwrap();
    add(&mut m, 2, (0, 0), (5000, 5));
    let v = meter.sample(m.sessions_mut(), 101).unwrap();
    assert_eq!(find(&v, "docomo", Dir::Dl)[0].bytes, 5100);
    assert_eq!(find(&v, "docomo", Dir::Dl)[0].sessions, 1);
}

#[test]
fn the_sample_reads_the_poi_counters_not_the_slots() {
    let mut m = SessionManager::new(FakeDatapath::new(16), Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1, [10, 100, 0, 2])).unwrap();
    let mut meter = TrafficMeter::new(table()).counting_from(99);
    // Only the POI counter moves (a packet of a session the meter has
    // not seen yet, say): it is metered all the same.
    m.datapath_mut().pois[1].ul_bytes = 42;
    m.datapath_mut().pois[MAX_POIS].dl_bytes = 7;
    let v = meter.sample(m.sessions_mut(), 100).unwrap();
    assert_eq!(find(&v, "kddi", Dir::Ul)[0].bytes, 42);
    assert_eq!(find(&v, UNASSIGNED, Dir::Dl)[0].bytes, 7);
    assert_eq!(find(&v, "docomo", Dir::Dl)[0].bytes, 0);
}
