//! The session manager alone (`Sessions` over the `FakeDatapath`): the cost
//! of a Session Establishment and Deletion as the SMF sends them (the codec
//! bench's messages), and the live heap each established session holds.
//!
//! A counting global allocator tracks live heap bytes. Before the timed
//! benches, `N` 4G and then `N` 5G sessions are established on a fresh
//! manager and the live-heap growth is divided by `N`; the fake datapath's
//! own share (its in-memory copies of the map entries, which the BPF
//! datapath keeps in the kernel) is measured apart by writing the same
//! entries into a bare `FakeDatapath`, and subtracted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{BatchSize, Criterion};
use upf_abi::{DownlinkEntry, UplinkEntry};
use upf_session::datapath::fake::FakeDatapath;
use upf_session::datapath::{Capacity, Datapath};
use upf_session::sessions::{Sessions, SessionsConfig};
use upfd::pfcp::store::SessionStore;

#[path = "../../pfcp/benches/common/mod.rs"]
mod common;

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only
// an atomic counter is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: p was allocated by System with layout l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const PEER: &str = "10.0.0.9";
const NTP: u32 = 3_900_000_000;
/// Sessions of the memory figure.
const N_DEFAULT: u32 = 100_000;

/// Sessions of the memory and restore reports: `MUPF_BENCH_SESSIONS`, else 100 000.
fn n() -> u32 {
    std::env::var("MUPF_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(N_DEFAULT)
}

fn manager(sessions: u32) -> Sessions<FakeDatapath> {
    Sessions::new(
        FakeDatapath::with_capacity(Capacity {
            sessions,
            counter_slots: sessions * 3,
            rule_sets: sessions,
            meters: sessions,
        }),
        SessionsConfig {
            qos: Default::default(),
            n3: common::N3,
            teid_range: (0x0010_0000, 0x7fff_ffff),
            ue_pools: vec!["10.128.0.0/9".parse().expect("a prefix")],
        },
    )
}

fn ue(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a40_0000 + i)
}

/// Heap bytes a `FakeDatapath` holds for `n` sessions' entries (one uplink
/// and one downlink entry, `slots` counter slots each, `rule_sets` rule sets).
fn fake_share(n: u32, slots: u32, rule_sets: u32) -> isize {
    let before = live();
    let mut dp = FakeDatapath::new(n * 3);
    for i in 0..n {
        dp.put_uplink(0x0100_0000 + i, &UplinkEntry::default())
            .expect("room");
        dp.put_downlink(ue(i), &DownlinkEntry::default())
            .expect("room");
        for s in 0..slots {
            dp.reset_counters(i * slots + s).expect("room");
        }
        for r in 0..rule_sets {
            dp.put_rules(i * rule_sets + r, &upf_abi::RuleSet::EMPTY)
                .expect("room");
        }
    }
    let bytes = live() - before;
    black_box(dp);
    bytes
}

/// Live heap per established session, total and net of the fake datapath.
fn memory_report() {
    let n = n();
    for (name, slots, rule_sets) in [("4G", 2, 0), ("5G", 3, 1)] {
        let mut m = manager(n * 2);
        let before = live();
        for i in 0..n {
            let req = if name == "4G" {
                common::establishment_4g(u64::from(i) + 1, 0x0100_0000 + i, ue(i))
            } else {
                common::establishment_5g(u64::from(i) + 1)
            };
            m.establish(PEER, &req, NTP)
                .unwrap_or_else(|e| panic!("{name} establishment {i}: {e:?}"));
        }
        let total = live() - before;
        let fake = fake_share(n, slots, rule_sets);
        println!(
            "session memory {name}: {n} sessions, live heap {:.0} B per session, \
             of which the fake datapath {:.0}, the session manager {:.0}",
            total as f64 / f64::from(n),
            fake as f64 / f64::from(n),
            (total - fake) as f64 / f64::from(n)
        );
        black_box(m);
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sessions");
    // A table that already holds 10k sessions: the steady state, not an
    // empty manager.
    const BASE: u32 = 10_000;
    let mut m = manager(BASE * 4);
    for i in 0..BASE {
        m.establish(
            PEER,
            &common::establishment_4g(u64::from(i) + 1, 0x0100_0000 + i, ue(i)),
            NTP,
        )
        .expect("base session");
    }
    let mut seid = 1_000_000u64;
    let req4 = common::establishment_4g(0, 0x0200_0000, ue(BASE + 1));
    g.bench_function("establish+delete 4G", |b| {
        b.iter_batched(
            || {
                seid += 1;
                let mut r = req4.clone();
                r.cp_f_seid.seid = seid;
                r
            },
            |r| {
                let e = m.establish(PEER, &r, NTP).expect("accepted");
                m.delete(e.up_seid, NTP).expect("deleted")
            },
            BatchSize::SmallInput,
        )
    });
    let req5 = common::establishment_5g(0);
    g.bench_function("establish+delete 5G", |b| {
        b.iter_batched(
            || {
                seid += 1;
                let mut r = req5.clone();
                r.cp_f_seid.seid = seid;
                r
            },
            |r| {
                let e = m.establish(PEER, &r, NTP).expect("accepted");
                m.delete(e.up_seid, NTP).expect("deleted")
            },
            BatchSize::SmallInput,
        )
    });
    // The same with the session store (gateway.pin_dir): each request's
    // change saved in its own SQLite transaction, as the daemon does
    // before it answers. The ratio to the line above is the cost of
    // hitless restart per request.
    let dir = std::env::temp_dir().join(format!("mupf-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = SessionStore::open(&dir).expect("session store");
    m.track_dirty();
    let _ = m.take_dirty();
    g.bench_function("establish+delete 5G, saved", |b| {
        b.iter_batched(
            || {
                seid += 1;
                let mut r = req5.clone();
                r.cp_f_seid.seid = seid;
                r
            },
            |r| {
                let e = m.establish(PEER, &r, NTP).expect("accepted");
                store.save(&m.take_dirty()).expect("saved");
                let rep = m.delete(e.up_seid, NTP).expect("deleted");
                store.save(&m.take_dirty()).expect("saved");
                rep
            },
            BatchSize::SmallInput,
        )
    });
    // Bursts of 16 (the SMF's window): the daemon handles the requests
    // waiting on its socket and saves them in one transaction before the
    // responses leave. Time per burst of 16 establishments + deletions.
    g.bench_function("16x establish+delete 5G, saved per burst", |b| {
        b.iter_batched(
            || {
                (0..16)
                    .map(|_| {
                        seid += 1;
                        let mut r = req5.clone();
                        r.cp_f_seid.seid = seid;
                        r
                    })
                    .collect::<Vec<_>>()
            },
            |reqs| {
                let seids: Vec<u64> = reqs
                    .iter()
                    .map(|r| m.establish(PEER, r, NTP).expect("accepted").up_seid)
                    .collect();
                store.save(&m.take_dirty()).expect("saved");
                for s in seids {
                    m.delete(s, NTP).expect("deleted");
                }
                store.save(&m.take_dirty()).expect("saved");
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hitless restart at scale: `n` 5G sessions saved in the session store,
/// the file's size, and the time to load and re-adopt them into a new
/// manager over the same (fake) maps.
fn restore_report() {
    let n = n();
    let dir = std::env::temp_dir().join(format!("mupf-bench-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut m = manager(n * 2);
    m.track_dirty();
    for i in 0..n {
        m.establish(PEER, &common::establishment_5g(u64::from(i) + 1), NTP)
            .expect("accepted");
    }
    let mut store = SessionStore::open(&dir).expect("session store");
    let t = std::time::Instant::now();
    store.save(&m.take_dirty()).expect("saved");
    let save = t.elapsed();
    let bytes: u64 = std::fs::read_dir(&dir)
        .expect("store dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|md| md.len())
        .sum();
    let cfg = m.config().clone();
    let dp = m.into_datapath();
    let t = std::time::Instant::now();
    let records = store.load().expect("loaded");
    let load = t.elapsed();
    let mut m2 = Sessions::new(dp, cfg);
    let t = std::time::Instant::now();
    let r = m2.restore(records).expect("restored");
    let restore = t.elapsed();
    println!(
        "session store: {n} 5G sessions, {:.0} B per session on disk, saved in one \
         transaction in {:.2} s, loaded in {:.2} s, re-adopted in {:.2} s ({} entries)",
        bytes as f64 / f64::from(n),
        save.as_secs_f64(),
        load.as_secs_f64(),
        restore.as_secs_f64(),
        r.entries
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The peak-hour meter at scale: `n` 4G sessions, the cost of the first
/// sample (every session looked at once, for the per-POI session counts)
/// and of a steady-state second (the POI counters and the sessions that
/// changed: none), each a one-second tick's whole work apart from the
/// `STATS` read (one syscall in the BPF datapath).
fn meter_report() {
    use upfd::meter::{PoiTable, TrafficMeter};
    let n = n();
    let mut m = manager(n * 2);
    for i in 0..n {
        m.establish(
            PEER,
            &common::establishment_4g(u64::from(i) + 1, 0x0100_0000 + i, ue(i)),
            NTP,
        )
        .expect("accepted");
    }
    let pois = PoiTable::new(&[(
        "poi-a".to_string(),
        vec!["10.0.0.0/8".parse().expect("a prefix")],
    )]);
    let mut meter = TrafficMeter::new(pois).counting_from(0);
    let t = std::time::Instant::now();
    meter.sample(&mut m, 1).expect("sample");
    let first = t.elapsed();
    let rounds = 100u32;
    let t = std::time::Instant::now();
    for k in 0..rounds {
        black_box(meter.sample(&mut m, 2 + i64::from(k)).expect("sample"));
    }
    let steady = t.elapsed() / rounds;
    println!(
        "meter: {n} sessions, first sample (every session) {:.1} ms, then {:.2} µs per \
         second ({:.5} % of a core)",
        first.as_secs_f64() * 1e3,
        steady.as_secs_f64() * 1e6,
        steady.as_secs_f64() * 100.0
    );
}

fn main() {
    // MUPF_BENCH_REPORTS: "memory", "restore" or both (the default).
    let which = std::env::var("MUPF_BENCH_REPORTS").unwrap_or_default();
    if which.is_empty() || which.contains("memory") {
        memory_report();
    }
    if which.is_empty() || which.contains("restore") {
        restore_report();
    }
    if which.is_empty() || which.contains("meter") {
        meter_report();
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
