//! The mmapable arrays the fast path shares with userspace: the direct
//! session tables (`UL_TABLE`, `DL_TABLE`, written under a per-slot
//! seqlock), the per-CPU rows of counters (`SESSION_COUNTERS`), of touched
//! bits (`TOUCHED`) and the rate meters (`METERS`). Reading and writing them
//! costs a memory access, not a syscall.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use aya::maps::{Map, MapData};
use upf_abi::{
    DownlinkEntry, DownlinkSlot, SessionCounters, UePrefixes, UplinkEntry, UplinkSlot, SEQ_WRITING,
};
use upf_session::datapath::DatapathError;

/// A shared mapping of an mmapable BPF array of `len` values of `T`.
pub(crate) struct Mapped<T> {
    base: NonNull<T>,
    len: usize,
    bytes: usize,
    /// Keeps the map's fd open as long as the mapping (for `map_memory`).
    map: MapData,
    _t: PhantomData<T>,
}

// SAFETY: the mapping is shared memory owned by this value; every access
// goes through the methods below, which use atomic or volatile operations
// on memory the kernel writes concurrently.
unsafe impl<T> Send for Mapped<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Mapped<T> {}

impl<T> Mapped<T> {
    /// Maps array `name` (taken from the object) of `len` values.
    pub(crate) fn new(map: Map, name: &'static str, len: usize) -> Result<Self, DatapathError> {
        let Map::Array(map) = map else {
            return Err(DatapathError::Load(format!("{name} is not an array map")));
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let bytes = (len * size_of::<T>()).div_ceil(page).max(1) * page;
        let fd = map.fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of the map's fd (the kernel checks
        // the length against the array and that it was created mmapable).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(DatapathError::Load(format!(
                "mapping {name} into memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        let base = NonNull::new(p.cast::<T>())
            .ok_or_else(|| DatapathError::Load("mmap returned NULL".into()))?;
        Ok(Mapped {
            base,
            len,
            bytes,
            map,
            _t: PhantomData,
        })
    }

    /// Values in the array.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The map (its fd).
    pub(crate) fn map(&self) -> &MapData {
        &self.map
    }

    /// Value `i`, or `None` past the end. The pointer is valid as long as
    /// `self`; values are aligned to their size's power of two up to the
    /// page (the mapping starts on a page, the kernel lays values out
    /// back to back, rounded to 8 bytes, which every `T` here already is).
    pub(crate) fn ptr(&self, i: usize) -> Option<*mut T> {
        // SAFETY: i < len: inside the mapping.
        (i < self.len).then(|| unsafe { self.base.as_ptr().add(i) })
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.bytes) };
    }
}

/// A direct slot's layout: seqlock word, key word, entry from byte 8.
pub(crate) trait Slot: Copy {
    /// The entry it holds.
    type Entry: Copy + Default + PartialEq;
}
impl Slot for UplinkSlot {
    type Entry = UplinkEntry;
}
impl Slot for DownlinkSlot {
    type Entry = DownlinkEntry;
}

impl<S: Slot> Mapped<S> {
    fn seq(&self, i: usize) -> Option<&AtomicU32> {
        // SAFETY: the first word of a live slot, an aligned u32.
        self.ptr(i).map(|p| unsafe { &*(p as *const AtomicU32) })
    }

    /// The key (`_be`) slot `i` holds; 0: empty.
    pub(crate) fn key(&self, i: usize) -> u32 {
        self.ptr(i)
            // SAFETY: the second word of a live slot; only this process writes it.
            .map(|p| unsafe { std::ptr::read_volatile((p as *const u32).add(1)) })
            .unwrap_or(0)
    }

    /// Sets slot `i`'s sequence odd (`held`: a write in progress) or even.
    pub(crate) fn hold(&self, i: usize, held: bool) -> bool {
        let Some(seq) = self.seq(i) else {
            return false;
        };
        let s = seq.load(Ordering::Relaxed);
        let odd = s & SEQ_WRITING != 0;
        if held != odd {
            seq.store(s.wrapping_add(1), Ordering::Relaxed);
        }
        true
    }

    /// Writes `key_be` and `entry` into slot `i` as the fast path's seqlock
    /// readers expect: the sequence odd, the key and entry, the sequence even
    /// again. A reader that overlaps sees an odd or changed sequence and
    /// reads again. (Single writer: the daemon's one session thread.)
    pub(crate) fn write(&self, i: usize, key_be: u32, entry: &S::Entry) -> bool {
        let (Some(seq), Some(p)) = (self.seq(i), self.ptr(i)) else {
            return false;
        };
        let s = seq.load(Ordering::Relaxed) & !SEQ_WRITING;
        seq.store(s | SEQ_WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        // SAFETY: inside the live slot: the key word and the entry at byte 8
        // (the layout `Slot` stands for; asserted in upf-abi).
        unsafe {
            let w = p as *mut u32;
            std::ptr::write_volatile(w.add(1), key_be);
            std::ptr::write_volatile(w.add(2) as *mut S::Entry, *entry);
        }
        fence(Ordering::Release);
        seq.store(s.wrapping_add(2), Ordering::Relaxed);
        true
    }
}

/// Where each TEID and UE address lives: the direct tables with their
/// geometry, and which TEIDs the fallback hash holds.
pub(crate) struct Direct {
    pub(crate) ul: Mapped<UplinkSlot>,
    pub(crate) dl: Mapped<DownlinkSlot>,
    /// The gateway's TEID range (host order) and the table size - 1.
    pub(crate) teid_first: u32,
    pub(crate) teid_last: u32,
    pub(crate) ul_mask: u32,
    pub(crate) prefixes: UePrefixes,
    /// TEIDs (host order) written to the UPLINK hash because their slot
    /// was taken when they came (or they are outside the range).
    pub(crate) ul_hashed: HashSet<u32>,
    /// UE addresses (host order) in the DOWNLINK hash.
    pub(crate) dl_hashed: HashSet<u32>,
    /// Occupied slots of each direct table.
    pub(crate) ul_used: usize,
    pub(crate) dl_used: usize,
    /// Most entries per direction, both tables together (`max_sessions`).
    pub(crate) capacity: usize,
}

/// Where an uplink entry goes.
pub(crate) enum Place {
    /// UL_TABLE slot.
    Slot(usize),
    /// The UPLINK hash.
    Hash,
}

impl Direct {
    /// The UL_TABLE slot of `teid` (host order).
    pub(crate) fn ul_index(&self, teid: u32) -> usize {
        (teid.wrapping_sub(self.teid_first) & self.ul_mask) as usize
    }

    /// Where `teid`'s entry is or goes: for a TEID of the gateway's range,
    /// its slot if the slot holds it, or is empty and the hash does not hold
    /// it; else (another TEID of the range holds the slot, or a TEID from
    /// outside the range, which the SMF chose) the hash. Outside TEIDs never
    /// take a slot, so they cannot push the gateway's own into the hash.
    pub(crate) fn ul_place(&self, teid: u32) -> Place {
        if teid == 0 || teid < self.teid_first || teid > self.teid_last {
            return Place::Hash;
        }
        let i = self.ul_index(teid);
        let held = self.ul.key(i);
        if held == teid.to_be() || (held == 0 && !self.ul_hashed.contains(&teid)) {
            Place::Slot(i)
        } else {
            Place::Hash
        }
    }

    /// Whether a new key (not held yet) may be added: the direction holds
    /// fewer than `capacity` entries in its two tables.
    pub(crate) fn ul_room(&self) -> bool {
        self.ul_used + self.ul_hashed.len() < self.capacity
    }

    /// As [`Direct::ul_room`], downlink.
    pub(crate) fn dl_room(&self) -> bool {
        self.dl_used + self.dl_hashed.len() < self.capacity
    }

    /// Writes `teid`'s uplink entry into slot `i` (from `ul_place`).
    pub(crate) fn put_ul_slot(&mut self, i: usize, teid: u32, e: &UplinkEntry) -> bool {
        let new = self.ul.key(i) == 0;
        if new && !self.ul_room() {
            return false;
        }
        self.ul.write(i, teid.to_be(), e);
        self.ul_used += usize::from(new);
        true
    }

    /// Empties slot `i` if it holds `key_be`; true when it did.
    pub(crate) fn clear_ul_slot(&mut self, i: usize, key_be: u32) -> bool {
        if key_be == 0 || self.ul.key(i) != key_be {
            return false;
        }
        self.ul.write(i, 0, &UplinkEntry::default());
        self.ul_used -= 1;
        true
    }

    /// Writes `ue`'s downlink entry into slot `i` (from `dl_index`).
    pub(crate) fn put_dl_slot(&mut self, i: usize, ue_be: u32, e: &DownlinkEntry) -> bool {
        let new = self.dl.key(i) == 0;
        if ue_be == 0 || (new && !self.dl_room()) {
            return false;
        }
        self.dl.write(i, ue_be, e);
        self.dl_used += usize::from(new);
        true
    }

    /// Empties slot `i` if it holds `ue_be`.
    pub(crate) fn clear_dl_slot(&mut self, i: usize, ue_be: u32) {
        if ue_be != 0 && self.dl.key(i) == ue_be {
            self.dl.write(i, 0, &DownlinkEntry::default());
            self.dl_used -= 1;
        }
    }

    /// Checks that every occupied slot sits where this layout (TEID range,
    /// UE prefixes) puts its key: re-adopted tables pinned by a daemon with
    /// another layout would hold entries the fast path never finds.
    pub(crate) fn check_layout(&self) -> Result<(), String> {
        for i in 0..self.ul.len() {
            let k = u32::from_be(self.ul.key(i));
            if k != 0 && (k < self.teid_first || k > self.teid_last || self.ul_index(k) != i) {
                return Err(format!("TEID {k:#x} in UL_TABLE slot {i}"));
            }
        }
        for i in 0..self.dl.len() {
            let k = u32::from_be(self.dl.key(i));
            if k != 0 && self.dl_index(k) != Some(i) {
                return Err(format!(
                    "UE {} in DL_TABLE slot {i}",
                    std::net::Ipv4Addr::from(k)
                ));
            }
        }
        Ok(())
    }

    /// The DL_TABLE slot of `ue` (host order), if a UE prefix holds it.
    pub(crate) fn dl_index(&self, ue: u32) -> Option<usize> {
        self.prefixes.index(ue).map(|i| i as usize)
    }
}

/// `SESSION_COUNTERS`: one row of `slots` counters per CPU.
pub(crate) struct CounterRows {
    pub(crate) rows: Mapped<SessionCounters>,
    pub(crate) slots: usize,
    pub(crate) ncpus: usize,
}

impl CounterRows {
    fn words(&self, cpu: usize, slot: usize) -> Option<&[AtomicU64; 4]> {
        let p = self.rows.ptr(cpu * self.slots + slot)?;
        // SAFETY: a live SessionCounters (four aligned u64), read and
        // written atomically by userspace while the fast path adds to it.
        Some(unsafe { &*(p as *const [AtomicU64; 4]) })
    }

    /// Slot `slot` summed over CPUs; `None` past the slots.
    pub(crate) fn sum(&self, slot: usize) -> Option<SessionCounters> {
        if slot >= self.slots {
            return None;
        }
        let mut acc = SessionCounters::default();
        for cpu in 0..self.ncpus {
            let w = self.words(cpu, slot)?;
            acc.accumulate(&SessionCounters {
                ul_packets: w[0].load(Ordering::Relaxed),
                ul_bytes: w[1].load(Ordering::Relaxed),
                dl_packets: w[2].load(Ordering::Relaxed),
                dl_bytes: w[3].load(Ordering::Relaxed),
            });
        }
        Some(acc)
    }

    /// Zeroes slot `slot` on every CPU; false past the slots.
    pub(crate) fn reset(&self, slot: usize) -> bool {
        if slot >= self.slots {
            return false;
        }
        for cpu in 0..self.ncpus {
            if let Some(w) = self.words(cpu, slot) {
                for x in w {
                    x.store(0, Ordering::Relaxed);
                }
            }
        }
        true
    }
}

/// `TOUCHED`: one row of `words` u64 per CPU, bit `s % 64` of word `s / 64`
/// set by the fast path when slot `s` counts a packet.
pub(crate) struct TouchedRows {
    pub(crate) rows: Mapped<u64>,
    pub(crate) words: usize,
    pub(crate) ncpus: usize,
}

impl TouchedRows {
    /// The slots touched on any CPU since the last call, ascending; their
    /// bits are cleared (an atomic swap per non-zero word, so a bit the
    /// fast path sets meanwhile is seen now or next time, never lost).
    pub(crate) fn take(&self) -> Vec<u32> {
        let mut merged = vec![0u64; self.words];
        for cpu in 0..self.ncpus {
            for (w, m) in merged.iter_mut().enumerate() {
                let Some(p) = self.rows.ptr(cpu * self.words + w) else {
                    continue;
                };
                // SAFETY: a live aligned u64 of the mapping, accessed atomically.
                let a = unsafe { &*(p as *const AtomicU64) };
                if a.load(Ordering::Relaxed) != 0 {
                    *m |= a.swap(0, Ordering::Relaxed);
                }
            }
        }
        let mut out = Vec::new();
        for (w, mut bits) in merged.into_iter().enumerate() {
            while bits != 0 {
                let b = bits.trailing_zeros();
                out.push((w * 64) as u32 + b);
                bits &= bits - 1;
            }
        }
        out
    }
}
