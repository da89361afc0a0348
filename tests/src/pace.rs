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
    let mut schedule = Schedule::new(bps, inner_len);
    let start = Instant::now();
    loop {
        let t = start.elapsed();
        if t >= dur {
            return schedule.sent();
        }
        for _ in 0..schedule.release(t) {
            let _ = sock.send_to(datagram, to);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// The send schedule of a paced sender, apart from any clock or socket: at
/// `per_sec` packets a second, packet `i` is due at `i / per_sec`. A sender
/// asks it at each wake-up how many packets to send now; after a stall at
/// most [`MAX_CATCH_UP`] of the schedule is released at once and the rest is
/// counted as skipped. `sent + skipped` is always the number due.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    per_sec: f64,
    max_behind: u64,
    sent: u64,
    skipped: u64,
}

impl Schedule {
    /// A schedule for `inner_len`-byte inner packets at `bps` bit/s.
    pub fn new(bps: u64, inner_len: usize) -> Self {
        let per_sec = bps as f64 / (inner_len as f64 * 8.0);
        Schedule {
            per_sec,
            max_behind: ((MAX_CATCH_UP.as_secs_f64() * per_sec) as u64).max(1),
            sent: 0,
            skipped: 0,
        }
    }

    /// How many packets to send at `t` after the start (counted as sent).
    pub fn release(&mut self, t: Duration) -> u64 {
        let due = (t.as_secs_f64() * self.per_sec) as u64;
        let done = self.sent + self.skipped;
        if due > done + self.max_behind {
            self.skipped += due - done - self.max_behind;
        }
        let n = due.saturating_sub(self.sent + self.skipped);
        self.sent += n;
        n
    }

    /// Packets released so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Packets of the schedule skipped after stalls.
    pub fn skipped(&self) -> u64 {
        self.skipped
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

    /// 1 Mbit/s of 125-byte packets: 1000 a second, one due every ms.
    fn schedule() -> Schedule {
        Schedule::new(1_000_000, 125)
    }

    #[test]
    fn an_on_time_sender_sends_exactly_what_is_due() {
        let mut s = schedule();
        let mut total = 0;
        for tick in 1..=600 {
            total += s.release(Duration::from_micros(500 * tick));
        }
        assert_eq!((total, s.sent(), s.skipped()), (300, 300, 0));
        assert_eq!(s.release(Duration::from_millis(300)), 0, "nothing twice");
    }

    #[test]
    fn a_stall_catches_up_at_most_max_catch_up_and_skips_the_rest() {
        let mut s = schedule();
        assert_eq!(s.release(Duration::from_millis(4)), 4);
        // A 50 ms stall: 50 are due, 5 are released, 45 are skipped.
        assert_eq!(s.release(Duration::from_millis(54)), 5);
        assert_eq!((s.sent(), s.skipped()), (9, 45));
        // Back on time: one per ms again, and sent + skipped is what is due.
        assert_eq!(s.release(Duration::from_millis(55)), 1);
        assert_eq!(s.sent() + s.skipped(), 55);
    }

    #[test]
    fn the_sender_never_sends_ahead_of_its_schedule() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut got = 0u64;
            while let Ok(len) = rx.recv(&mut buf) {
                assert_eq!(len, 125);
                got += 1;
            }
            got
        });
        // 1 Mbit/s of 125-byte packets for 300 ms: at most 300. How many
        // fewer depends on how busy the machine is (stalls are skipped), so
        // that is what the schedule tests above pin down, with fake time.
        let n = paced(
            &tx,
            to,
            &[0u8; 125],
            125,
            1_000_000,
            Duration::from_millis(300),
        );
        assert!((1..=300).contains(&n), "{n} packets");
        assert_eq!(
            reader.join().unwrap(),
            n,
            "loopback delivers every packet sent"
        );
        assert_eq!(bps(125_000, Duration::from_secs(1)), 1_000_000.0);
    }
}
