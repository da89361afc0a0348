//! Skewed session popularity for the benchmarks: a Zipf sampler and the
//! fixed random permutation that spreads its ranks over session indexes.
//!
//! [`Zipf`] draws a popularity rank `r` in `0..n` (0 the most popular) with
//! probability `(r + 1)^-s / H(n, s)`, where `H(n, s)` is the generalized
//! harmonic number `sum over k = 1..=n of k^-s`, by inverting a precomputed
//! cumulative table with a binary search (8 bytes per rank: 8 MB at 1 M
//! sessions, built in a few milliseconds).
//!
//! [`Popularity`] maps ranks to session indexes through a fixed random
//! permutation. Without it the popular sessions would be sessions 0, 1, 2,
//! ...: installed one after the other, their table entries and counter
//! slots share cache lines and pages, and the benchmark would measure a
//! locality real traffic does not have.

/// Zipf(s) over `n` ranks by inverse CDF.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// `cdf[r]` = P(rank <= r); the last is exactly 1.
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s`.
    ///
    /// # Panics
    /// If `n` is 0 or `s` is negative or not finite.
    pub fn new(n: u32, s: f64) -> Zipf {
        assert!(n >= 1, "a Zipf distribution needs at least one rank");
        assert!(s.is_finite() && s >= 0.0, "Zipf exponent {s}");
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for k in 1..=n {
            total += f64::from(k).powf(-s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        // Rounding may leave the last a hair below 1; sample() relies on
        // every u in [0, 1) falling below it.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf }
    }

    /// The number of ranks.
    pub fn len(&self) -> u32 {
        self.cdf.len() as u32
    }

    /// Always false: there is at least one rank.
    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// P(rank = r).
    pub fn probability(&self, r: u32) -> f64 {
        let r = r as usize;
        match r {
            0 => self.cdf[0],
            _ if r < self.cdf.len() => self.cdf[r] - self.cdf[r - 1],
            _ => 0.0,
        }
    }

    /// A rank in `0..len()`: the first rank whose cumulative probability
    /// exceeds a uniform draw from [0, 1).
    pub fn sample(&self, rng: &mut fastrand::Rng) -> u32 {
        let u = rng.f64();
        let r = self.cdf.partition_point(|&c| c <= u);
        // u < 1.0 = the last entry, so r < len; min() only guards the type.
        r.min(self.cdf.len() - 1) as u32
    }
}

/// Zipf popularity over session indexes `0..n`: rank `r` is session
/// `index_of_rank(r)`, a fixed random permutation.
#[derive(Clone, Debug)]
pub struct Popularity {
    zipf: Zipf,
    index_of_rank: Vec<u32>,
}

impl Popularity {
    /// Zipf(`s`) over `n` sessions, ranks shuffled with `seed`.
    pub fn new(n: u32, s: f64, seed: u64) -> Popularity {
        let mut index_of_rank: Vec<u32> = (0..n).collect();
        fastrand::Rng::with_seed(seed).shuffle(&mut index_of_rank);
        Popularity {
            zipf: Zipf::new(n, s),
            index_of_rank,
        }
    }

    /// The session of popularity rank `r` (0: the most popular).
    pub fn index_of_rank(&self, r: u32) -> u32 {
        self.index_of_rank[r as usize]
    }

    /// The rank distribution.
    pub fn zipf(&self) -> &Zipf {
        &self.zipf
    }

    /// A session index in `0..n`.
    pub fn sample(&self, rng: &mut fastrand::Rng) -> u32 {
        self.index_of_rank(self.zipf.sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H(n, 1), summed directly (independently of the table).
    fn harmonic(n: u32) -> f64 {
        (1..=n).map(|k| 1.0 / f64::from(k)).sum()
    }

    /// Draws `draws` ranks and counts each.
    fn histogram(z: &Zipf, draws: usize, seed: u64) -> Vec<usize> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut h = vec![0usize; z.len() as usize];
        for _ in 0..draws {
            let r = z.sample(&mut rng);
            assert!(r < z.len(), "rank {r} out of 0..{}", z.len());
            h[r as usize] += 1;
        }
        h
    }

    /// Observed frequency of rank `r` against its expected probability
    /// `p`, within `sigmas` binomial standard deviations.
    fn assert_close(count: usize, draws: usize, p: f64, sigmas: f64, what: &str) {
        let f = count as f64 / draws as f64;
        let sd = (p * (1.0 - p) / draws as f64).sqrt();
        assert!(
            (f - p).abs() <= sigmas * sd,
            "{what}: frequency {f:.5}, expected {p:.5} (tolerance {:.5})",
            sigmas * sd
        );
    }

    #[test]
    fn rank_frequencies_follow_one_over_rank_h_n() {
        let n = 1000;
        let draws = 400_000;
        let z = Zipf::new(n, 1.0);
        let h = histogram(&z, draws, 7);
        let hn = harmonic(n);
        for r in [0u32, 1, 2, 9, 99] {
            let p = 1.0 / (f64::from(r + 1) * hn);
            assert!(
                (z.probability(r) - p).abs() < 1e-12,
                "table P(rank {r}) = {}, expected {p}",
                z.probability(r)
            );
            assert_close(h[r as usize], draws, p, 4.0, &format!("rank {r}"));
        }
        assert_eq!(h.iter().sum::<usize>(), draws);
    }

    #[test]
    fn one_million_ranks_rank_one_gets_one_over_h_n() {
        let n = 1_000_000;
        let draws = 200_000;
        let z = Zipf::new(n, 1.0);
        let mut rng = fastrand::Rng::with_seed(11);
        let mut top = 0;
        for _ in 0..draws {
            let r = z.sample(&mut rng);
            assert!(r < n, "rank {r} out of range");
            top += usize::from(r == 0);
        }
        // H(1e6) = 14.39: the most popular of a million sessions carries 7 %.
        assert_close(top, draws, 1.0 / harmonic(n), 4.0, "rank 1 of 1 M");
    }

    #[test]
    fn a_single_rank_is_always_drawn_and_s_zero_is_uniform() {
        let mut rng = fastrand::Rng::with_seed(3);
        let one = Zipf::new(1, 1.0);
        assert!((0..1000).all(|_| one.sample(&mut rng) == 0));
        let n = 50;
        let draws = 100_000;
        let h = histogram(&Zipf::new(n, 0.0), draws, 5);
        for (r, &c) in h.iter().enumerate() {
            assert_close(
                c,
                draws,
                1.0 / f64::from(n),
                5.0,
                &format!("uniform rank {r}"),
            );
        }
    }

    #[test]
    fn popularity_is_a_permutation_with_popular_sessions_apart() {
        let n = 100_000;
        let p = Popularity::new(n, 1.0, 42);
        let mut seen = vec![false; n as usize];
        for r in 0..n {
            let i = p.index_of_rank(r);
            assert!(!seen[i as usize], "session {i} has two ranks");
            seen[i as usize] = true;
        }
        // The 100 most popular sessions (a third of the traffic) are not
        // neighbours in index order, so not in the tables either.
        let mut top: Vec<u32> = (0..100).map(|r| p.index_of_rank(r)).collect();
        top.sort_unstable();
        let adjacent = top.windows(2).filter(|w| w[1] - w[0] <= 1).count();
        assert!(
            adjacent <= 1,
            "{adjacent} of the top 100 are adjacent: {top:?}"
        );
        // And sampling draws the rank-0 session most often.
        let mut rng = fastrand::Rng::with_seed(9);
        let draws = 50_000;
        let hits = (0..draws)
            .filter(|_| p.sample(&mut rng) == p.index_of_rank(0))
            .count();
        assert_close(hits, draws, p.zipf().probability(0), 4.0, "rank-0 session");
    }
}
