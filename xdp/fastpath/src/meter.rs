//! The rate meters' decision: the Generic Cell Rate Algorithm in its
//! virtual-scheduling form (ITU-T I.371), on nanoseconds.
//!
//! A meter keeps a theoretical arrival time `tat`. A packet that costs
//! `cost` ns at the meter's rate conforms when the meter is no more than
//! `tau` ns ahead of now (the burst tolerance), and then moves `tat` on by
//! its cost from `max(tat, now)`; a packet that does not conform changes
//! nothing. Over any interval `t` a meter lets through at most `rate × t`
//! plus `rate × tau` worth of bytes. The XDP program calls [`gcra`] and
//! publishes the new `tat` with compare-and-swap; QoS tests it here.

/// The theoretical arrival time after a packet of `cost` ns at `now`, or
/// `None` when the packet exceeds the rate (`tat` then stays as it is).
#[inline(always)]
pub fn gcra(tat: u64, now: u64, tau: u64, cost: u64) -> Option<u64> {
    let base = if tat > now { tat } else { now };
    if base - now > tau {
        None
    } else {
        Some(base.wrapping_add(cost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_abi::Meter;

    /// Offers `packets` of `bytes` every `gap` ns from `start` to a meter
    /// at `bps` with tolerance `tau`; returns the bytes that passed.
    fn offer(bps: u64, tau: u64, bytes: u64, gap: u64, packets: u64) -> u64 {
        let cost = Meter::cost_ns(Meter::cost_for_bps(bps), bytes);
        let (mut tat, mut passed) = (0u64, 0u64);
        let start = 1_000_000_000;
        for i in 0..packets {
            if let Some(t) = gcra(tat, start + i * gap, tau, cost) {
                tat = t;
                passed += bytes;
            }
        }
        passed
    }

    #[test]
    fn conforms_up_to_the_tolerance_and_not_beyond() {
        // 1000 ns per packet, 2500 ns of tolerance, all at the same instant:
        // a packet conforms while the meter is at most tau ahead of now
        // (0, 1000, 2000 ahead; the fourth would find it 3000 ahead).
        let mut tat = 0;
        let mut n = 0;
        while let Some(t) = gcra(tat, 10_000, 2_500, 1_000) {
            tat = t;
            n += 1;
        }
        assert_eq!((n, tat), (3, 13_000));
        assert_eq!(gcra(tat, 10_000, 2_500, 1_000), None, "nothing changes");
        // Time catches up: conforming again once tat - now <= tau, exactly.
        assert_eq!(gcra(tat, 10_499, 2_500, 1_000), None);
        assert_eq!(gcra(tat, 10_500, 2_500, 1_000), Some(14_000));
    }

    #[test]
    fn an_idle_meter_starts_from_now_without_a_saved_up_burst() {
        // Long idle: tat far in the past; the packet is charged from now.
        assert_eq!(gcra(5, 1_000_000, 0, 300), Some(1_000_300));
    }

    #[test]
    fn the_long_run_rate_is_the_configured_rate_plus_one_burst() {
        // 10 Mbit/s, 300 ms tolerance, offered 40 Mbit/s for 1 s in 1250 B packets.
        let (bps, tau) = (10_000_000u64, 300_000_000u64);
        let gap = 1250 * 8 * 1_000_000_000 / 40_000_000;
        let passed = offer(bps, tau, 1250, gap, 4_000);
        let ideal = bps / 8 + bps / 8 * tau / 1_000_000_000;
        let err = passed.abs_diff(ideal) as f64 / ideal as f64;
        assert!(err < 0.002, "passed {passed} of ideal {ideal} bytes");
    }

    #[test]
    fn traffic_below_the_rate_always_conforms() {
        // 5 Mbit/s offered to a 10 Mbit/s meter with no tolerance at all.
        let gap = 1250 * 8 * 1_000_000_000 / 5_000_000;
        assert_eq!(offer(10_000_000, 0, 1250, gap, 1_000), 1250 * 1_000);
    }
}
