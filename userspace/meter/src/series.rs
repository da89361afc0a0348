//! The time series the meter records: one-second samples, and rows of a
//! minute or an hour rolled up from them.

use serde::{Deserialize, Serialize};

/// Traffic direction, as seen from the subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Uplink: from the host network (the subscribers) toward the data network.
    Ul,
    /// Downlink: toward the subscribers.
    Dl,
}

impl Dir {
    /// Both directions, uplink first.
    pub const ALL: [Dir; 2] = [Dir::Ul, Dir::Dl];

    /// `"ul"` or `"dl"`: the name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Ul => "ul",
            Dir::Dl => "dl",
        }
    }

    /// Parses `"ul"`/`"uplink"` or `"dl"`/`"downlink"`.
    pub fn parse(s: &str) -> Option<Dir> {
        match s.to_ascii_lowercase().as_str() {
            "ul" | "uplink" => Some(Dir::Ul),
            "dl" | "downlink" => Some(Dir::Dl),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One second of traffic of one POI in one direction, as the meter read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondSample {
    /// Start of the second, Unix seconds.
    pub ts: i64,
    /// The POI's configured name.
    pub poi: String,
    /// Direction.
    pub dir: Dir,
    /// Bytes forwarded in that second (inner IP packets, as the fast path counts them).
    pub bytes: u64,
    /// Packets forwarded in that second.
    pub packets: u64,
    /// Sessions active (installed) on the POI at the end of the second.
    pub sessions: u32,
}

/// A minute (`secs` = 60) or an hour (`secs` = 3600) of one POI and direction.
///
/// `covered` is how many seconds of the interval were measured: a row of a
/// minute in which the gateway was down for 20 s has `covered` = 40. An
/// interval with no row at all is a gap; nothing is ever filled with zeros.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Start of the interval, Unix seconds, a multiple of `secs`.
    pub start: i64,
    /// Length of the interval: 60 or 3600.
    pub secs: u32,
    /// Seconds of the interval that were measured (1..=secs).
    pub covered: u32,
    /// Bytes in the measured seconds.
    pub bytes: u64,
    /// Packets in the measured seconds.
    pub packets: u64,
    /// The highest one-second rate in the interval, bit/s.
    pub max_bps: f64,
    /// The 95th percentile (nearest rank) of the one-second rates, bit/s.
    pub p95_bps: f64,
    /// The most sessions active at once in the interval.
    pub sessions: u32,
}

impl Row {
    /// Mean rate over the measured seconds, bit/s (0 when nothing was measured).
    pub fn mean_bps(&self) -> f64 {
        if self.covered == 0 {
            0.0
        } else {
            self.bytes as f64 * 8.0 / self.covered as f64
        }
    }

    /// End of the interval (exclusive), Unix seconds.
    pub fn end(&self) -> i64 {
        self.start + self.secs as i64
    }
}

/// A period in which a gateway measured nothing (it was down, or not yet
/// installed), recorded when it comes back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The gateway that was not measuring.
    pub gateway: String,
    /// First second not measured, Unix seconds.
    pub start: i64,
    /// First second measured again (exclusive end), Unix seconds.
    pub end: i64,
}

/// The `p`-th percentile (0 < p <= 100) by nearest rank: the smallest value
/// such that at least p % of the values are at or below it. Sorts `values`.
/// `None` for an empty slice.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// Rolls up the measured seconds of one interval into a [`Row`].
///
/// `start` and `secs` name the interval; `seconds` are its one-second samples
/// (ts, bytes, packets, sessions), in any order, all within the interval.
/// Returns `None` when there are none (a gap, not a zero).
pub fn rollup(start: i64, secs: u32, seconds: &[(i64, u64, u64, u32)]) -> Option<Row> {
    if seconds.is_empty() {
        return None;
    }
    let mut rates: Vec<f64> = seconds.iter().map(|s| s.1 as f64 * 8.0).collect();
    let max_bps = rates.iter().copied().fold(0.0, f64::max);
    let p95_bps = percentile(&mut rates, 95.0).unwrap_or(0.0);
    Some(Row {
        start,
        secs,
        covered: seconds.len() as u32,
        bytes: seconds.iter().map(|s| s.1).sum(),
        packets: seconds.iter().map(|s| s.2).sum(),
        max_bps,
        p95_bps,
        sessions: seconds.iter().map(|s| s.3).max().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile_by_hand() {
        // 20 values 1..=20: the 95th percentile is the 19th (ceil(0.95 * 20)).
        let mut v: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 95.0), Some(19.0));
        assert_eq!(percentile(&mut v, 100.0), Some(20.0));
        assert_eq!(percentile(&mut v, 50.0), Some(10.0));
        let mut one = [7.0];
        assert_eq!(percentile(&mut one, 95.0), Some(7.0));
        assert_eq!(percentile(&mut [], 95.0), None);
    }

    #[test]
    fn a_minute_with_a_gap_covers_what_was_measured() {
        // 40 seconds measured of 60: 1000 bytes each, one second at 5000.
        let mut s: Vec<(i64, u64, u64, u32)> = (0..40).map(|i| (600 + i, 1000, 2, 3)).collect();
        s[7].1 = 5000;
        s[9].3 = 9;
        let r = rollup(600, 60, &s).unwrap();
        assert_eq!(r.covered, 40);
        assert_eq!(r.bytes, 39 * 1000 + 5000);
        assert_eq!(r.packets, 80);
        assert_eq!(r.max_bps, 40_000.0);
        // ceil(0.95 * 40) = 38th of 40 sorted: still 8000 (only one outlier).
        assert_eq!(r.p95_bps, 8000.0);
        assert_eq!(r.sessions, 9);
        assert_eq!(r.mean_bps(), (44_000.0 * 8.0) / 40.0);
        assert!(rollup(600, 60, &[]).is_none());
    }
}
