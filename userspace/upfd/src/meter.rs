//! The peak-hour meter: once a second, read every counter slot of the fast
//! path (the per-CPU `SESSION_COUNTERS` it keeps anyway, in a few batch
//! syscalls), add up what moved per POI and direction, and hand one
//! [`SecondSample`] per POI and direction to the store's writer thread.
//!
//! Nothing is added to the fast path: a POI is a property of a session (its
//! host-network peer, matched against the `[[poi]]` prefixes), so the meter
//! maps every counter slot to its session's POI, following only the
//! sessions that changed ([`Sessions::take_changes`]). Traffic of sessions
//! whose peer is in no configured POI is metered as [`UNASSIGNED`].
//!
//! What is lost, by design: the traffic a session moved between the last
//! sample and its deletion (under a second of one session).

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::Duration;

use upf_abi::SessionCounters;
use upf_meter::store::{Retention, Store};
use upf_meter::{Dir, SecondSample};

use upf_session::datapath::{Datapath, DatapathError};
use upf_session::sessions::Sessions;
use upf_session::types::Ipv4Net;

/// The POI name of traffic whose session peer is in no configured POI.
pub const UNASSIGNED: &str = "unassigned";

/// Which POI a host-network peer belongs to: the configured POIs' prefixes,
/// longest match first, and [`UNASSIGNED`] last.
#[derive(Clone, Debug)]
pub struct PoiTable {
    names: Vec<String>,
    /// (prefix, POI index), longest prefix first.
    prefixes: Vec<(Ipv4Net, usize)>,
}

impl PoiTable {
    /// A table of `(name, prefixes)`; [`UNASSIGNED`] is appended.
    pub fn new(pois: &[(String, Vec<Ipv4Net>)]) -> Self {
        let mut names: Vec<String> = pois.iter().map(|p| p.0.clone()).collect();
        names.push(UNASSIGNED.to_string());
        let mut prefixes: Vec<(Ipv4Net, usize)> = pois
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.1.iter().map(move |n| (*n, i)))
            .collect();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len));
        PoiTable { names, prefixes }
    }

    /// The POIs' names, [`UNASSIGNED`] last.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The POI index of `peer` (the unassigned one for `None` or no match).
    pub fn of(&self, peer: Option<Ipv4Addr>) -> usize {
        peer.and_then(|a| {
            self.prefixes
                .iter()
                .find(|(n, _)| n.contains(a))
                .map(|(_, i)| *i)
        })
        .unwrap_or(self.names.len() - 1)
    }
}

/// Running totals of one POI and direction since the daemon started
/// (what `/metrics` exports as counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Bytes forwarded.
    pub bytes: u64,
    /// Packets forwarded.
    pub packets: u64,
    /// Bytes of the last second sampled.
    pub last_second_bytes: u64,
}

const NO_POI: u16 = u16::MAX;

/// The sampler: counter slots to POIs, and the last reading to difference
/// the next against.
pub struct TrafficMeter {
    pois: PoiTable,
    /// POI index per counter slot ([`NO_POI`]: the slot is not in use).
    slot_poi: Vec<u16>,
    /// Slots `0..used` are read (the highest slot ever mapped, plus one).
    used: usize,
    /// Each session's POI and counter slots.
    by_session: std::collections::HashMap<u64, (u16, Vec<u32>)>,
    /// Whether every session has been looked at once.
    mapped: bool,
    /// Sessions per POI.
    sessions: Vec<u32>,
    prev: Vec<SessionCounters>,
    cur: Vec<SessionCounters>,
    /// The second of the last sample, Unix seconds.
    last_ts: Option<i64>,
    totals: Vec<[Totals; 2]>,
}

impl TrafficMeter {
    /// A meter over `pois`.
    pub fn new(pois: PoiTable) -> Self {
        let n = pois.names().len();
        TrafficMeter {
            pois,
            slot_poi: Vec::new(),
            used: 0,
            by_session: std::collections::HashMap::new(),
            mapped: false,
            sessions: vec![0; n],
            prev: Vec::new(),
            cur: Vec::new(),
            last_ts: None,
            totals: vec![[Totals::default(); 2]; n],
        }
    }

    /// Counts from zero from second `ts` on: for counters that were created
    /// at zero then (maps the daemon just loaded), so that traffic before
    /// the first sample is not lost to the baseline.
    pub fn counting_from(mut self, ts: i64) -> Self {
        self.last_ts = Some(ts);
        self
    }

    /// The POIs.
    pub fn pois(&self) -> &PoiTable {
        &self.pois
    }

    /// Totals per POI (in [`PoiTable::names`] order) and direction (uplink, downlink).
    pub fn totals(&self) -> &[[Totals; 2]] {
        &self.totals
    }

    /// Sessions per POI at the last sample.
    pub fn sessions(&self) -> &[u32] {
        &self.sessions
    }

    /// Follows the sessions that changed since the last call (all of them
    /// the first time): each one's POI and counter slots.
    fn map_slots<D: Datapath>(&mut self, s: &mut Sessions<D>) {
        // A meter's first look is at every session, whatever the log holds.
        let changes = s.take_changes().filter(|_| self.mapped);
        self.mapped = true;
        let slots = s.datapath().capacity().counter_slots as usize;
        if self.slot_poi.len() != slots {
            self.slot_poi.resize(slots, NO_POI);
        }
        let seids: Vec<u64> = match changes {
            Some(c) => c,
            None => {
                self.slot_poi.iter_mut().for_each(|p| *p = NO_POI);
                self.sessions.iter_mut().for_each(|n| *n = 0);
                self.by_session.clear();
                s.sessions().keys().copied().collect()
            }
        };
        // Forget what changed first (a slot may move between two of them).
        let mut had: std::collections::HashMap<u64, Vec<u32>> = Default::default();
        for seid in &seids {
            if let Some((poi, old)) = self.by_session.remove(seid) {
                self.sessions[poi as usize] -= 1;
                for &slot in &old {
                    if let Some(p) = self.slot_poi.get_mut(slot as usize) {
                        *p = NO_POI;
                    }
                }
                had.insert(*seid, old);
            }
        }
        for seid in seids {
            let Some(sess) = s.get(seid) else {
                continue;
            };
            if self.by_session.contains_key(&seid) {
                continue; // listed twice
            }
            let poi = self.pois.of(sess.tunnels().first().map(|t| t.ipv4)) as u16;
            let mut mine: Vec<u32> = Vec::new();
            let before = had.get(&seid);
            for pdr in sess.rules.pdrs.values() {
                let slot = pdr.counter;
                if let Some(p) = self.slot_poi.get_mut(slot as usize) {
                    *p = poi;
                    if !mine.contains(&slot) {
                        mine.push(slot);
                    }
                    self.used = self.used.max(slot as usize + 1);
                    // A slot new to this session was zeroed when it was
                    // taken: count it from zero, not from its last owner's
                    // reading (a modified session keeps its slots' counts).
                    if !before.is_some_and(|b| b.contains(&slot)) {
                        if let Some(c) = self.prev.get_mut(slot as usize) {
                            *c = SessionCounters::default();
                        }
                    }
                }
            }
            self.sessions[poi as usize] += 1;
            self.by_session.insert(seid, (poi, mine));
        }
    }

    /// Reads the counters and returns the samples of the seconds since the
    /// last call, ending with second `ts` (Unix seconds). The first call only
    /// takes the baseline and returns nothing, unless the meter was made
    /// [`TrafficMeter::counting_from`] a second. When calls are more than a
    /// second apart (a stalled daemon) the traffic is spread evenly over
    /// the seconds in between: totals stay exact, rates are smoothed.
    pub fn sample<D: Datapath>(
        &mut self,
        s: &mut Sessions<D>,
        ts: i64,
    ) -> Result<Vec<SecondSample>, DatapathError> {
        if self.last_ts.is_some_and(|last| ts <= last) {
            // A second already sampled (a late tick followed by a punctual
            // one): leave the counters for the next call, which will carry
            // them; writing the second again would replace its row.
            return Ok(Vec::new());
        }
        self.map_slots(s);
        let n = self.used;
        self.cur.clear();
        self.cur.resize(n, SessionCounters::default());
        s.datapath().counters_all(&mut self.cur)?;
        self.prev.resize(n, SessionCounters::default());
        let npois = self.pois.names().len();
        // [poi][dir] = (bytes, packets)
        let mut moved = vec![[(0u64, 0u64); 2]; npois];
        for (slot, &poi) in self.slot_poi[..n].iter().enumerate() {
            if poi == NO_POI {
                continue;
            }
            let (c, p) = (&self.cur[slot], &self.prev[slot]);
            // A counter below its last reading was reset without the meter
            // seeing the change (the change log overflowed): everything it
            // holds is new.
            let d = |now: u64, then: u64| if now >= then { now - then } else { now };
            let m = &mut moved[poi as usize];
            m[0].0 += d(c.ul_bytes, p.ul_bytes);
            m[0].1 += d(c.ul_packets, p.ul_packets);
            m[1].0 += d(c.dl_bytes, p.dl_bytes);
            m[1].1 += d(c.dl_packets, p.dl_packets);
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        let Some(last) = self.last_ts.replace(ts) else {
            return Ok(Vec::new());
        };
        let secs = (ts - last).max(1) as u64;
        let mut out = Vec::with_capacity(npois * 2 * secs as usize);
        for (poi, m) in moved.iter().enumerate() {
            for (d, dir) in Dir::ALL.into_iter().enumerate() {
                let (bytes, packets) = m[d];
                let t = &mut self.totals[poi][d];
                t.bytes += bytes;
                t.packets += packets;
                t.last_second_bytes = bytes / secs;
                for k in 0..secs {
                    // Spread with the remainder on the first seconds, so the sum is exact.
                    let share = |v: u64| v / secs + u64::from(k < v % secs);
                    out.push(SecondSample {
                        ts: ts - (secs - 1 - k) as i64,
                        poi: self.pois.names()[poi].clone(),
                        dir,
                        bytes: share(bytes),
                        packets: share(packets),
                        sessions: self.sessions[poi],
                    });
                }
            }
        }
        Ok(out)
    }
}

/// What the writer thread is told.
pub enum WriterMsg {
    /// Samples to write (one second, or the seconds a stall spanned).
    Samples(Vec<SecondSample>),
    /// Write what is queued, roll up, and answer.
    Flush(mpsc::Sender<()>),
}

/// The store's writer: a thread of its own (SQLite and PostgreSQL calls
/// block), fed through a channel.
pub struct Writer {
    tx: mpsc::Sender<WriterMsg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer over `store` for `gateway`. At start it rolls up
    /// what a crash left unrolled; at its first samples it records the gap
    /// since the gateway's last stored second.
    pub fn start(mut store: Box<dyn Store>, gateway: String, retention: Retention) -> Self {
        let (tx, rx) = mpsc::channel::<WriterMsg>();
        let thread = std::thread::Builder::new()
            .name("meter-writer".into())
            .spawn(move || {
                let now = unix_now();
                if let Err(e) = store.rollup(&gateway, now - now.rem_euclid(60)) {
                    tracing::warn!(error = %e, "meter: rolling up after start failed");
                }
                let mut last = match store.last_second(&gateway) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "meter: reading the last stored second failed");
                        None
                    }
                };
                let mut gap_checked = false;
                let mut last_prune = 0i64;
                while let Ok(msg) = rx.recv() {
                    match msg {
                        WriterMsg::Samples(v) => {
                            let Some(first) = v.iter().map(|s| s.ts).min() else {
                                continue;
                            };
                            if !gap_checked {
                                gap_checked = true;
                                if let Some(l) = last.filter(|l| l + 1 < first) {
                                    tracing::info!(
                                        from = l + 1,
                                        to = first,
                                        "meter: recording the gap since the last run"
                                    );
                                    if let Err(e) = store.record_gap(&gateway, l + 1, first) {
                                        tracing::warn!(error = %e, "meter: recording a gap failed");
                                    }
                                }
                            }
                            if let Err(e) = store.write_seconds(&gateway, &v) {
                                tracing::warn!(error = %e, "meter: writing samples failed");
                                continue;
                            }
                            let newest = v.iter().map(|s| s.ts).max().unwrap_or(first);
                            let prev = last.unwrap_or(newest);
                            last = Some(newest);
                            // A minute ended: roll it up.
                            if (newest + 1).div_euclid(60) != (prev + 1).div_euclid(60) {
                                let upto = (newest + 1) - (newest + 1).rem_euclid(60);
                                if let Err(e) = store.rollup(&gateway, upto) {
                                    tracing::warn!(error = %e, "meter: rollup failed");
                                }
                            }
                            if newest - last_prune >= 3600 {
                                last_prune = newest;
                                match store.prune(newest, &retention) {
                                    Ok(n) if n > 0 => tracing::info!(rows = n, "meter: pruned"),
                                    Ok(_) => {}
                                    Err(e) => tracing::warn!(error = %e, "meter: pruning failed"),
                                }
                            }
                        }
                        WriterMsg::Flush(done) => {
                            if let Some(l) = last {
                                let upto = (l + 1) - (l + 1).rem_euclid(60);
                                let _ = store.rollup(&gateway, upto);
                            }
                            let _ = done.send(());
                        }
                    }
                }
            })
            .expect("spawning the meter writer thread");
        Writer {
            tx,
            thread: Some(thread),
        }
    }

    /// Queues samples.
    pub fn send(&self, samples: Vec<SecondSample>) {
        if !samples.is_empty() {
            let _ = self.tx.send(WriterMsg::Samples(samples));
        }
    }

    /// Waits (up to `timeout`) until everything queued is written.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        self.tx.send(WriterMsg::Flush(tx)).is_ok() && rx.recv_timeout(timeout).is_ok()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let (tx, _) = mpsc::channel();
        let _ = std::mem::replace(&mut self.tx, tx);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Now, Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
