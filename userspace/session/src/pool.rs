//! Allocators for what the UP function hands out: local TEIDs (F-TEID
//! CHOOSE), UE IPv4 addresses (UE IP Address CHOOSE), and slots in the
//! fast path's arrays (counter slots, rule sets).
//!
//! Each is O(1) per operation: a cursor over the never-used part of the range
//! and a free list of returned values (reused oldest first, so a value just
//! released is not handed out again at once while late packets may still
//! carry it).

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;

use crate::types::Ipv4Net;

/// A range of u32 values handed out one at a time.
#[derive(Debug, Clone)]
pub struct RangePool {
    next: u64,
    end: u64,
    free: VecDeque<u32>,
    used: HashSet<u32>,
}

impl RangePool {
    /// Values `first..=last`.
    pub fn new(first: u32, last: u32) -> RangePool {
        RangePool {
            next: u64::from(first),
            end: u64::from(last) + 1,
            free: VecDeque::new(),
            used: HashSet::new(),
        }
    }

    /// Takes a free value, skipping values `taken` says are held elsewhere
    /// (e.g. TEIDs a CP function assigned itself). `None` when exhausted.
    pub fn alloc(&mut self, taken: impl Fn(u32) -> bool) -> Option<u32> {
        for _ in 0..self.free.len() {
            let v = self.free.pop_front()?;
            if !taken(v) {
                self.used.insert(v);
                return Some(v);
            }
            self.free.push_back(v);
        }
        while self.next < self.end {
            let v = self.next as u32;
            self.next += 1;
            if !taken(v) {
                self.used.insert(v);
                return Some(v);
            }
            self.free.push_back(v);
        }
        None
    }

    /// Returns a value taken with [`RangePool::alloc`]; others are ignored.
    pub fn release(&mut self, v: u32) {
        if self.used.remove(&v) {
            self.free.push_back(v);
        }
    }

    /// Values handed out and not returned.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    /// Marks values as handed out, as after a restart that re-adopts the
    /// sessions holding them: what lies below the highest one and is not
    /// among them becomes free (oldest first, ascending). Values outside
    /// the range or already taken are ignored; returns how many were taken.
    /// Sorted first, so taking a whole table costs O(n log n), not O(n^2).
    pub fn take_all(&mut self, mut values: Vec<u32>) -> usize {
        values.sort_unstable();
        values.dedup();
        let mut n = 0;
        for v in values {
            let v64 = u64::from(v);
            if v64 >= self.end || self.used.contains(&v) {
                continue;
            }
            if v64 >= self.next {
                while self.next < v64 {
                    self.free.push_back(self.next as u32);
                    self.next += 1;
                }
                self.next = v64 + 1;
            } else if let Some(i) = self.free.iter().position(|f| *f == v) {
                self.free.remove(i);
            } else {
                continue; // below the range
            }
            self.used.insert(v);
            n += 1;
        }
        n
    }

    /// True when `v` was handed out by this pool and not returned.
    pub fn owns(&self, v: u32) -> bool {
        self.used.contains(&v)
    }
}

/// UE addresses from configured prefixes. The network and broadcast
/// addresses of each prefix shorter than /31 are never handed out.
#[derive(Debug, Clone)]
pub struct UePool {
    ranges: Vec<(Ipv4Net, RangePool)>,
}

impl UePool {
    /// A pool over `prefixes` (may be empty: every CHOOSE is then refused).
    pub fn new(prefixes: &[Ipv4Net]) -> UePool {
        UePool {
            ranges: prefixes
                .iter()
                .map(|&p| {
                    let first = u32::from(p.addr);
                    let last = first | !p.mask();
                    let (first, last) = if p.len < 31 {
                        (first + 1, last - 1)
                    } else {
                        (first, last)
                    };
                    (p, RangePool::new(first, last))
                })
                .collect(),
        }
    }

    /// An address not held elsewhere (`taken`), from the first prefix with room.
    pub fn alloc(&mut self, taken: impl Fn(Ipv4Addr) -> bool) -> Option<Ipv4Addr> {
        self.ranges
            .iter_mut()
            .find_map(|(_, r)| r.alloc(|v| taken(Ipv4Addr::from(v))))
            .map(Ipv4Addr::from)
    }

    /// Returns an address this pool handed out.
    pub fn release(&mut self, a: Ipv4Addr) {
        if let Some((_, r)) = self.ranges.iter_mut().find(|(p, _)| p.contains(a)) {
            r.release(u32::from(a));
        }
    }

    /// Marks addresses as handed out ([`RangePool::take_all`] per prefix).
    pub fn take_all(&mut self, addrs: &[Ipv4Addr]) -> usize {
        self.ranges
            .iter_mut()
            .map(|(p, r)| {
                let mine = addrs
                    .iter()
                    .filter(|a| p.contains(**a))
                    .map(|a| u32::from(*a))
                    .collect();
                r.take_all(mine)
            })
            .sum()
    }

    /// True when this pool handed out `a`.
    pub fn owns(&self, a: Ipv4Addr) -> bool {
        self.ranges
            .iter()
            .any(|(p, r)| p.contains(a) && r.owns(u32::from(a)))
    }

    /// Addresses handed out.
    pub fn in_use(&self) -> usize {
        self.ranges.iter().map(|(_, r)| r.in_use()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_pool_exhausts_skips_taken_and_reuses_oldest_first() {
        let mut p = RangePool::new(10, 13);
        // 10 is held elsewhere: skipped, and remembered as free.
        assert_eq!(p.alloc(|v| v == 10), Some(11));
        assert_eq!(p.alloc(|_| false), Some(10));
        assert_eq!(p.alloc(|_| false), Some(12));
        assert_eq!(p.alloc(|_| false), Some(13));
        assert_eq!(p.alloc(|_| false), None);
        p.release(12);
        p.release(10);
        p.release(99); // not ours: ignored
        assert_eq!(p.in_use(), 2);
        assert_eq!(p.alloc(|_| false), Some(12));
        assert_eq!(p.alloc(|_| false), Some(10));
        assert_eq!(p.alloc(|_| false), None);
    }

    #[test]
    fn taking_restored_values_frees_the_gaps_below_them_oldest_first() {
        let mut p = RangePool::new(10, 20);
        // Out of order, a duplicate, one out of range.
        assert_eq!(p.take_all(vec![14, 11, 14, 99]), 2);
        assert_eq!(p.in_use(), 2);
        assert!(p.owns(11) && p.owns(14) && !p.owns(12));
        // The gaps first (10, 12, 13), then the untouched range.
        let got: Vec<u32> = (0..5).filter_map(|_| p.alloc(|_| false)).collect();
        assert_eq!(got, vec![10, 12, 13, 15, 16]);
        // A freed gap value can be taken back.
        p.release(12);
        assert_eq!(p.take_all(vec![12]), 1);
        assert_eq!(p.alloc(|_| false), Some(17));
        let mut ue = UePool::new(&["10.45.0.0/29".parse().unwrap()]);
        assert_eq!(
            ue.take_all(&[Ipv4Addr::new(10, 45, 0, 3), Ipv4Addr::new(10, 0, 0, 1)]),
            1
        );
        assert_eq!(ue.alloc(|_| false), Some(Ipv4Addr::new(10, 45, 0, 1)));
        assert_eq!(ue.alloc(|_| false), Some(Ipv4Addr::new(10, 45, 0, 2)));
        assert_eq!(ue.alloc(|_| false), Some(Ipv4Addr::new(10, 45, 0, 4)));
    }

    #[test]
    fn ue_pool_skips_network_and_broadcast() {
        let mut p = UePool::new(&["10.45.0.0/30".parse().unwrap()]);
        assert_eq!(p.alloc(|_| false), Some(Ipv4Addr::new(10, 45, 0, 1)));
        assert_eq!(p.alloc(|_| false), Some(Ipv4Addr::new(10, 45, 0, 2)));
        assert_eq!(p.alloc(|_| false), None);
        assert!(p.owns(Ipv4Addr::new(10, 45, 0, 2)));
        p.release(Ipv4Addr::new(10, 45, 0, 2));
        assert!(!p.owns(Ipv4Addr::new(10, 45, 0, 2)));
        assert_eq!(p.in_use(), 1);
    }
}
