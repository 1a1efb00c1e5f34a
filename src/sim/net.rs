//! The simulated network: latency, loss, duplication, reordering and
//! partitions, all drawn from the simulation's one seeded RNG.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How long a datagram takes on a link.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always the same.
    Fixed {
        /// The delay, in milliseconds.
        ms: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound, in milliseconds.
        min_ms: f64,
        /// Upper bound, in milliseconds.
        max_ms: f64,
    },
    /// Log-normal with the given median and 99th percentile: the long tail
    /// of a real network.
    LogNormal {
        /// Median, in milliseconds.
        median_ms: f64,
        /// 99th percentile, in milliseconds.
        p99_ms: f64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        // A LAN: half a millisecond typical, a few milliseconds in the tail.
        Self::LogNormal {
            median_ms: 0.5,
            p99_ms: 3.0,
        }
    }
}

impl Latency {
    /// Draws one delay.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        let ms = match *self {
            Self::Fixed { ms } => ms,
            Self::Uniform { min_ms, max_ms } => {
                if max_ms > min_ms {
                    rng.random_range(min_ms..max_ms)
                } else {
                    min_ms
                }
            }
            Self::LogNormal { median_ms, p99_ms } => {
                // ln(X) ~ N(mu, sigma): median = e^mu, p99 = e^(mu + 2.326 sigma).
                let mu = median_ms.max(1e-6).ln();
                let sigma = ((p99_ms.max(median_ms) / median_ms.max(1e-6)).ln() / 2.326).max(0.0);
                (mu + sigma * standard_normal(rng)).exp()
            }
        };
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }
}

/// A standard normal draw (Box-Muller), portable across platforms.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The behaviour of every link.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkModel {
    /// Delay of each datagram.
    pub latency: Latency,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay_ms`, so it
    /// arrives after later ones.
    pub reorder: f64,
    /// How long a reordered datagram is held back, in milliseconds.
    pub reorder_delay_ms: f64,
}

impl Default for NetworkModel {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay_ms: 20.0,
        }
    }
}

/// What happens to one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// It is lost.
    Lost,
    /// It arrives after each of these delays (twice when duplicated).
    Arrives(Vec<Duration>),
}

impl NetworkModel {
    /// Decides the fate of one datagram.
    pub fn fate(&self, rng: &mut ChaCha8Rng) -> Fate {
        if self.loss > 0.0 && rng.random_bool(self.loss.clamp(0.0, 1.0)) {
            return Fate::Lost;
        }
        let mut delays = vec![self.delay(rng)];
        if self.duplicate > 0.0 && rng.random_bool(self.duplicate.clamp(0.0, 1.0)) {
            delays.push(self.delay(rng));
        }
        Fate::Arrives(delays)
    }

    fn delay(&self, rng: &mut ChaCha8Rng) -> Duration {
        let mut delay = self.latency.sample(rng);
        if self.reorder > 0.0 && rng.random_bool(self.reorder.clamp(0.0, 1.0)) {
            delay += Duration::from_secs_f64(self.reorder_delay_ms.max(0.0) / 1000.0);
        }
        delay
    }
}

/// Which links are cut. Nodes are put on numbered sides; side 0 is where
/// every node starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partition {
    side: Vec<u16>,
    /// Directed cuts `(from side, to side)`; a symmetric partition cuts both
    /// directions between every pair of distinct sides.
    cuts: Vec<(u16, u16)>,
    symmetric: bool,
    /// Nodes cut off from every other node, whatever their side.
    isolated: Vec<bool>,
}

impl Partition {
    /// Puts `node` on `side`.
    pub fn place(&mut self, node: usize, side: u16) {
        if self.side.len() <= node {
            self.side.resize(node + 1, 0);
        }
        self.side[node] = side;
    }

    /// The side `node` is on.
    pub fn side_of(&self, node: usize) -> u16 {
        self.side.get(node).copied().unwrap_or(0)
    }

    /// Cuts every link between different sides, both ways.
    pub fn cut_between_sides(&mut self) {
        self.symmetric = true;
    }

    /// Cuts the links from side `from` to side `to`, one way only.
    pub fn cut_one_way(&mut self, from: u16, to: u16) {
        self.cuts.push((from, to));
    }

    /// Cuts `node` off from every other node, both ways.
    pub fn isolate(&mut self, node: usize) {
        if self.isolated.len() <= node {
            self.isolated.resize(node + 1, false);
        }
        self.isolated[node] = true;
    }

    /// Whether `node` is cut off from every other node.
    pub fn is_isolated(&self, node: usize) -> bool {
        self.isolated.get(node).copied().unwrap_or(false)
    }

    /// Restores every link and puts every node back on side 0.
    pub fn heal(&mut self) {
        *self = Self::default();
    }

    /// Whether anything is cut.
    pub fn is_active(&self) -> bool {
        self.symmetric || !self.cuts.is_empty() || self.isolated.contains(&true)
    }

    /// Whether a datagram from `from` reaches `to`.
    pub fn allows(&self, from: usize, to: usize) -> bool {
        if from != to && (self.is_isolated(from) || self.is_isolated(to)) {
            return false;
        }
        let (a, b) = (self.side_of(from), self.side_of(to));
        if self.symmetric && a != b {
            return false;
        }
        !self.cuts.contains(&(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lognormal_latency_has_the_requested_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let latency = Latency::LogNormal {
            median_ms: 2.0,
            p99_ms: 10.0,
        };
        let mut samples: Vec<Duration> = (0..20_001).map(|_| latency.sample(&mut rng)).collect();
        samples.sort();
        let median = samples[10_000].as_secs_f64() * 1000.0;
        let p99 = samples[19_800].as_secs_f64() * 1000.0;
        assert!((1.8..2.2).contains(&median), "median {median}");
        assert!((8.0..12.5).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn loss_and_duplication_happen_at_their_rates() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let model = NetworkModel {
            loss: 0.1,
            duplicate: 0.05,
            ..NetworkModel::default()
        };
        let (mut lost, mut doubled) = (0, 0);
        for _ in 0..100_000 {
            match model.fate(&mut rng) {
                Fate::Lost => lost += 1,
                Fate::Arrives(d) if d.len() == 2 => doubled += 1,
                Fate::Arrives(_) => {}
            }
        }
        assert!((9_000..11_000).contains(&lost), "{lost}");
        assert!((4_000..5_000).contains(&doubled), "{doubled}");
    }

    #[test]
    fn partitions_cut_the_right_links() {
        let mut partition = Partition::default();
        partition.place(0, 1);
        assert!(partition.allows(0, 1));
        partition.cut_one_way(1, 0);
        assert!(!partition.allows(0, 1));
        assert!(partition.allows(1, 0));
        partition.cut_between_sides();
        assert!(!partition.allows(1, 0));
        assert!(partition.allows(1, 2));
        partition.heal();
        assert!(partition.allows(0, 1) && !partition.is_active());
    }

    #[test]
    fn an_isolated_node_reaches_nobody_and_nobody_reaches_it() {
        let mut partition = Partition::default();
        partition.isolate(2);
        assert!(partition.is_active());
        assert!(!partition.allows(2, 0) && !partition.allows(0, 2));
        assert!(partition.allows(0, 1) && partition.allows(2, 2));
        partition.heal();
        assert!(partition.allows(2, 0) && !partition.is_active());
    }
}
