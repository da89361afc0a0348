//! The session manager against the fake datapath.

use super::*;
use crate::datapath::fake::FakeDatapath;
use crate::static_sessions::Generation;
use upf_abi::{ACT_5G, ACT_FORWARD};

fn spec(id: u64) -> SessionSpec {
    SessionSpec {
        id,
        local_teid: 0x100 + id as u32,
        ue_ipv4: Ipv4Addr::new(10, 45, 0, id as u8),
        peer_ipv4: Ipv4Addr::new(10, 100, 0, 2),
        remote_teid: 0x200 + id as u32,
        qfi: 9,
        generation: Generation::Nr,
    }
}

fn manager(capacity: u32) -> SessionManager<FakeDatapath> {
    SessionManager::new(FakeDatapath::new(capacity), Ipv4Addr::new(10, 100, 0, 1))
}

#[test]
fn install_writes_both_directions() {
    let mut m = manager(8);
    m.install(spec(1)).unwrap();
    let dp = m.datapath();
    let ul = dp.uplink[&0x101];
    assert_eq!(
        ul.ue_ipv4_be,
        u32::from(Ipv4Addr::new(10, 45, 0, 1)).to_be()
    );
    assert_eq!(ul.rules, 0, "a static session has no rule set");
    assert_eq!(ul.default.flags, ACT_FORWARD);
    let dl = dp.downlink[&Ipv4Addr::new(10, 45, 0, 1)];
    assert_eq!(dl.rules, 0);
    assert_eq!(dl.default.flags, ACT_FORWARD | ACT_5G);
    assert_eq!(dl.default.remote_teid_be, 0x201u32.to_be());
    assert_eq!(
        dl.default.peer_ipv4_be,
        u32::from(Ipv4Addr::new(10, 100, 0, 2)).to_be()
    );
    assert_eq!(
        dl.local_ipv4_be,
        u32::from(Ipv4Addr::new(10, 100, 0, 1)).to_be()
    );
    assert_eq!(dl.default.qfi, 9);
    assert_eq!(ul.default.counter, dl.default.counter);
    assert!(dp.rules.is_empty());
}

#[test]
fn conflicts_are_refused_and_change_nothing() {
    let mut m = manager(8);
    m.install(spec(1)).unwrap();
    assert!(matches!(m.install(spec(1)), Err(SessionError::Exists(1))));
    let mut s = spec(2);
    s.local_teid = 0x101;
    assert!(matches!(
        m.install(s),
        Err(SessionError::TeidInUse { teid: 0x101, by: 1 })
    ));
    let mut s = spec(2);
    s.ue_ipv4 = Ipv4Addr::new(10, 45, 0, 1);
    assert!(matches!(
        m.install(s),
        Err(SessionError::UeInUse { by: 1, .. })
    ));
    assert_eq!(m.len(), 1);
    assert_eq!(m.datapath().uplink.len(), 1);
    assert_eq!(m.datapath().downlink.len(), 1);
}

#[test]
fn invalid_fields_are_named() {
    let mut m = manager(8);
    let mut s = spec(1);
    s.local_teid = 0;
    let e = m.install(s).unwrap_err().to_string();
    assert!(e.contains("local_teid"), "{e}");
    let mut s = spec(1);
    s.qfi = 0;
    let e = m.install(s).unwrap_err().to_string();
    assert!(e.contains("qfi"), "{e}");
    let mut s = spec(1);
    s.qfi = 0;
    s.generation = Generation::Lte;
    m.install(s).unwrap();
}

#[test]
fn full_table_is_a_clean_refusal_and_slots_are_reused() {
    let mut m = manager(2);
    m.install(spec(1)).unwrap();
    m.install(spec(2)).unwrap();
    assert!(matches!(
        m.install(spec(3)),
        Err(SessionError::Full { capacity: 2 })
    ));
    assert_eq!(m.datapath().uplink.len(), 2);
    let (_, _) = m.remove(1).unwrap();
    m.install(spec(3)).unwrap();
    // Slots are recycled oldest first (a just-freed slot may still be
    // counted into by packets in flight); they stay inside the table.
    let slot = m.get(3).unwrap().slot;
    assert!(slot != m.get(2).unwrap().slot && slot < 4, "slot {slot}");
    assert_eq!(
        m.sessions().in_use().2,
        2,
        "two slots in use for two sessions"
    );
}

#[test]
fn slots_stay_within_the_counter_slots() {
    use crate::datapath::Capacity;
    let dp = FakeDatapath::with_capacity(Capacity {
        sessions: 8,
        counter_slots: 2,
        rule_sets: 1,
        meters: 1,
    });
    let mut m = SessionManager::new(dp, Ipv4Addr::new(10, 100, 0, 1));
    m.install(spec(1)).unwrap();
    m.install(spec(2)).unwrap();
    assert!(matches!(m.install(spec(3)), Err(SessionError::Full { .. })));
    assert_eq!(m.datapath().uplink.len(), 2);
    m.remove(1).unwrap();
    m.install(spec(3)).unwrap();
}

#[test]
fn every_failed_write_is_undone() {
    // Fail each write of an install in turn: nothing is left behind.
    for n in 0.. {
        let mut m = manager(8);
        m.datapath_mut().fail_after = Some(n);
        if m.install(spec(1)).is_ok() {
            assert!(n >= 2, "an install writes at least twice");
            break;
        }
        assert!(m.is_empty());
        assert!(m.datapath().uplink.is_empty(), "write {n}");
        assert!(m.datapath().downlink.is_empty(), "write {n}");
        m.install(spec(1)).unwrap();
        assert_eq!(m.get(1).unwrap().slot, 0);
    }
}

#[test]
fn a_failed_write_leaves_no_half_session() {
    let mut m = manager(8);
    m.datapath_mut().fail_next_downlink = true;
    assert!(m.install(spec(1)).is_err());
    assert!(m.is_empty());
    assert!(m.datapath().uplink.is_empty());
    assert!(m.datapath().downlink.is_empty());
    // The slot went back to the pool.
    m.install(spec(1)).unwrap();
    assert_eq!(m.get(1).unwrap().slot, 0);
}

#[test]
fn slot_counters_are_zeroed_on_install() {
    let mut m = manager(1);
    m.install(spec(1)).unwrap();
    m.datapath_mut().counters.insert(
        0,
        SessionCounters {
            ul_packets: 5,
            ..Default::default()
        },
    );
    let (_, last) = m.remove(1).unwrap();
    assert_eq!(last.ul_packets, 5);
    m.install(spec(2)).unwrap();
    assert_eq!(m.counters(2).unwrap(), SessionCounters::default());
}

#[test]
fn update_moves_keys_and_reports_a_path_switch() {
    let mut m = manager(8);
    m.install(spec(1)).unwrap();
    m.install(spec(2)).unwrap();
    let mut s = spec(1);
    s.peer_ipv4 = Ipv4Addr::new(10, 100, 0, 3);
    s.remote_teid = 0x999;
    let out = m.update(s.clone()).unwrap();
    assert_eq!(out.old_tunnel, Some((Ipv4Addr::new(10, 100, 0, 2), 0x201)));
    assert_eq!(
        m.datapath().downlink[&s.ue_ipv4].default.remote_teid_be,
        0x999u32.to_be()
    );

    // A new TEID and UE address: old keys gone, the other session untouched.
    let before_other = (
        m.datapath().uplink[&0x102],
        m.datapath().downlink[&Ipv4Addr::new(10, 45, 0, 2)],
    );
    s.local_teid = 0x777;
    s.ue_ipv4 = Ipv4Addr::new(10, 45, 1, 1);
    let out = m.update(s.clone()).unwrap();
    assert_eq!(out.old_tunnel, None);
    assert!(!m.datapath().uplink.contains_key(&0x101));
    assert!(m.datapath().uplink.contains_key(&0x777));
    assert!(!m
        .datapath()
        .downlink
        .contains_key(&Ipv4Addr::new(10, 45, 0, 1)));
    assert_eq!(
        m.get(1).unwrap().slot,
        0,
        "counters carry on in the same slot"
    );
    assert_eq!(
        before_other,
        (
            m.datapath().uplink[&0x102],
            m.datapath().downlink[&Ipv4Addr::new(10, 45, 0, 2)]
        )
    );
    // Taking another session's TEID is refused.
    s.local_teid = 0x102;
    assert!(matches!(
        m.update(s),
        Err(SessionError::TeidInUse { by: 2, .. })
    ));
    assert!(matches!(m.update(spec(9)), Err(SessionError::NotFound(9))));
}

#[test]
fn remove_unknown_is_an_error_and_peers_are_distinct() {
    let mut m = manager(8);
    assert!(matches!(m.remove(4), Err(SessionError::NotFound(4))));
    m.install(spec(1)).unwrap();
    m.install(spec(2)).unwrap();
    assert_eq!(m.peers(), vec![Ipv4Addr::new(10, 100, 0, 2)]);
}

#[test]
fn re_adopted_sessions_get_their_peers_announced_once() {
    // Sessions that entered without a request through the manager (as
    // re-adopted ones do) have peers nobody announced yet.
    let mut m = manager(8);
    let other = SessionSpec {
        peer_ipv4: Ipv4Addr::new(10, 100, 0, 3),
        ..spec(2)
    };
    for s in [spec(1), other] {
        let req = static_sessions::establishment(&s, Ipv4Addr::new(10, 100, 0, 1));
        m.sessions_mut().establish("smf", &req, 0).unwrap();
    }
    assert!(m.take_effects().is_empty(), "nothing was announced yet");
    m.announce_all();
    let mut peers = m.take_effects().new_peers;
    peers.sort();
    assert_eq!(
        peers,
        vec![Ipv4Addr::new(10, 100, 0, 2), Ipv4Addr::new(10, 100, 0, 3)]
    );
    m.announce_all();
    assert!(m.take_effects().is_empty(), "each peer once");
    // A static session to a known peer is not announced again either.
    m.install(spec(3)).unwrap();
    assert!(m.take_effects().new_peers.is_empty());
}
