//! The peak-hour meter: once a second, read the fast path's per-POI
//! counters (a few values per CPU in `STATS`, one syscall, whatever the
//! session count), difference them against the last reading, and hand one
//! [`SecondSample`] per POI and direction to the store's writer thread.
//!
//! The fast path counts every forwarded packet on its POI (uplink: the
//! G-PDU's outer source, downlink: the tunnel's peer, matched against the
//! `[[poi]] peers` prefixes, longest first; others are [`UNASSIGNED`]). The
//! meter follows only the sessions that changed ([`Sessions::take_changes`])
//! to count sessions per POI. A deleted session's last traffic is counted
//! too: the POI counters outlive it.

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::Duration;

use upf_abi::{SessionCounters, MAX_POIS};
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

/// The sampler: the last reading of the POI counters, and each session's
/// POI (for the session counts).
pub struct TrafficMeter {
    pois: PoiTable,
    /// Each session's POI index.
    by_session: std::collections::HashMap<u64, u16>,
    /// Whether every session has been looked at once.
    mapped: bool,
    /// Sessions per POI.
    sessions: Vec<u32>,
    /// The datapath's POI counters at the last sample (`None`: no baseline).
    prev: Option<[SessionCounters; MAX_POIS + 1]>,
    /// The second of the last sample, Unix seconds.
    last_ts: Option<i64>,
    totals: Vec<[Totals; 2]>,
}

impl TrafficMeter {
    /// A meter over `pois` (at most `upf_abi::MAX_POIS` of them, as the
    /// fast path was loaded with, in the same order).
    pub fn new(pois: PoiTable) -> Self {
        let n = pois.names().len();
        TrafficMeter {
            pois,
            by_session: std::collections::HashMap::new(),
            mapped: false,
            sessions: vec![0; n],
            prev: None,
            last_ts: None,
            totals: vec![[Totals::default(); 2]; n],
        }
    }

    /// Counts from zero from second `ts` on: for counters that were created
    /// at zero then (maps the daemon just loaded), so that traffic before
    /// the first sample is not lost to the baseline.
    pub fn counting_from(mut self, ts: i64) -> Self {
        self.last_ts = Some(ts);
        self.prev = Some([SessionCounters::default(); MAX_POIS + 1]);
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
    /// the first time): each one's POI.
    fn map_sessions<D: Datapath>(&mut self, s: &mut Sessions<D>) {
        // A meter's first look is at every session, whatever the log holds.
        let changes = s.take_changes().filter(|_| self.mapped);
        self.mapped = true;
        let seids: Vec<u64> = match changes {
            Some(c) => c,
            None => {
                self.sessions.iter_mut().for_each(|n| *n = 0);
                self.by_session.clear();
                s.sessions().keys().copied().collect()
            }
        };
        for seid in seids {
            if let Some(poi) = self.by_session.remove(&seid) {
                self.sessions[poi as usize] -= 1;
            }
            let Some(sess) = s.get(seid) else {
                continue;
            };
            let poi = self.pois.of(sess.tunnels().first().map(|t| t.ipv4)) as u16;
            self.sessions[poi as usize] += 1;
            self.by_session.insert(seid, poi);
        }
    }

    /// The datapath's POI index of table POI `i` (the unassigned one last
    /// in the table, at `MAX_POIS` in the datapath).
    fn dp_index(&self, i: usize) -> usize {
        if i + 1 == self.pois.names().len() {
            MAX_POIS
        } else {
            i
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
        self.map_sessions(s);
        let cur = s.datapath().poi_counters()?;
        let prev = self.prev.replace(cur);
        let npois = self.pois.names().len();
        // [poi][dir] = (bytes, packets)
        let mut moved = vec![[(0u64, 0u64); 2]; npois];
        if let Some(prev) = prev {
            for (i, m) in moved.iter_mut().enumerate() {
                let k = self.dp_index(i);
                let (c, p) = (&cur[k], &prev[k]);
                // Below the last reading: the fast path was reloaded
                // (counters from zero); everything it holds is new.
                let d = |now: u64, then: u64| if now >= then { now - then } else { now };
                m[0] = (d(c.ul_bytes, p.ul_bytes), d(c.ul_packets, p.ul_packets));
                m[1] = (d(c.dl_bytes, p.dl_bytes), d(c.dl_packets, p.dl_packets));
            }
        }
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
