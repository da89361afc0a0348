//! A paced UDP sender for rate tests: datagrams at a given rate of inner IP
//! bits, and the delivered rate read back from the gateway's own counters.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Sends `datagram` to `to` so that `inner_len` bytes (the inner IP packet
/// the gateway meters) go out at `bps` bit/s, for `dur`; returns how many
/// were sent. Sends in small bursts about every half millisecond, catching
/// up on the schedule, so the offered rate is exact on average whatever the
/// sleep granularity; but after a stall (a busy CPU) at most
/// [`MAX_CATCH_UP`] of the schedule is caught up and the rest is skipped,
/// so the offered traffic never turns into a burst a policer would see as
/// a violation. A full socket buffer (ENOBUFS, EAGAIN) is counted as a
/// send the network refused and the schedule moves on.
pub fn paced(
    sock: &UdpSocket,
    to: SocketAddr,
    datagram: &[u8],
    inner_len: usize,
    bps: u64,
    dur: Duration,
) -> u64 {
    let per_sec = bps as f64 / (inner_len as f64 * 8.0);
    let max_behind = ((MAX_CATCH_UP.as_secs_f64() * per_sec) as u64).max(1);
    let start = Instant::now();
    let (mut sent, mut skipped) = (0u64, 0u64);
    loop {
        let t = start.elapsed();
        if t >= dur {
            return sent;
        }
        let due = (t.as_secs_f64() * per_sec) as u64;
        if due > sent + skipped + max_behind {
            skipped = due - sent - max_behind;
        }
        while sent + skipped < due {
            let _ = sock.send_to(datagram, to);
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// How much of a late schedule [`paced`] catches up at once.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(5);

/// Rate in bit/s of `bytes` over `dur`.
pub fn bps(bytes: u64, dur: Duration) -> f64 {
    bytes as f64 * 8.0 / dur.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_keeps_its_schedule() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        // 1 Mbit/s of 125-byte packets for 300 ms: 1000 packets/s -> 300.
        let n = paced(
            &tx,
            to,
            &[0u8; 125],
            125,
            1_000_000,
            Duration::from_millis(300),
        );
        assert!((295..=300).contains(&n), "{n} packets");
        assert_eq!(bps(125_000, Duration::from_secs(1)), 1_000_000.0);
    }
}
