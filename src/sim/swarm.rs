//! Generated fault schedules (`herd simulate --swarm N --seed S`).
//!
//! Schedule `index` of seed `seed` is drawn from its own seeded generator,
//! so it does not depend on how many others are drawn with it: schedule 17
//! of seed 5 is the same in `--swarm 100` and in `--swarm 1 --index 17`.
//! A schedule is an ordinary [`Scenario`]: a cluster, then random faults,
//! then a clean-up that leaves the network whole and every node healed,
//! thawed, resumed, recovered and restarted, then a quiet tail in which
//! the cluster must settle on one primary. It runs through [`run`] with
//! every invariant checked, and can be written out as TOML
//! ([`Scenario::to_toml`]) to replay with `herd simulate FILE`.
//!
//! A breached schedule can be shrunk ([`shrink`]): halve the cluster and
//! drop faults one at a time while the same invariant is still breached.
//! The clean-up is derived from the faults that remain, so a shrunk
//! schedule still ends whole.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::net::{Latency, NetworkModel};
use super::observe::Breach;
use super::run::{RunOptions, run};
use super::scenario::{ActionKind, Fault, Scenario, StartMode};

/// The smallest cluster drawn.
pub const MIN_NODES: usize = 3;

/// The default cap on the cluster size (`--max-nodes`).
pub const DEFAULT_MAX_NODES: usize = 300;

/// At least this long passes after the clean-up before the run ends.
pub const MIN_TAIL: Duration = Duration::from_secs(60);

/// One generated schedule, before its clean-up is added: the shrinker
/// removes faults from it and halves its cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The swarm's seed.
    pub seed: u64,
    /// The schedule's index in the swarm.
    pub index: u64,
    /// The `--max-nodes` it was drawn with.
    pub max_nodes: usize,
    /// The cluster, its start and its network; no faults.
    base: Scenario,
    /// The faults (and the undoing of some of them), in time order.
    faults: Vec<Fault>,
    /// Set once the shrinker changed it.
    shrunk: bool,
}

/// The outcome of one schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The schedule's index.
    pub index: u64,
    /// Initial cluster size.
    pub nodes: usize,
    /// Faults in the scenario (its `[[event]]` tables), clean-up included.
    pub faults: usize,
    /// Virtual seconds run.
    pub duration_s: f64,
    /// Broken invariants.
    pub breaches: Vec<Breach>,
    /// The run's digest (a hash of the engine's whole log, in order).
    pub digest: String,
}

impl Verdict {
    /// The invariants breached, each once, in order of first breach.
    pub fn invariants(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for breach in &self.breaches {
            if !names.contains(&breach.invariant) {
                names.push(breach.invariant);
            }
        }
        names
    }
}

/// splitmix64's finaliser: spreads a seed's bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Milliseconds are fine enough, and keep the TOML readable.
fn secs(s: f64) -> Duration {
    Duration::from_millis((s.max(0.0) * 1000.0).round() as u64)
}

/// Rounds a probability or a latency to four decimals.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let (a, b) = (lo.ln(), hi.ln());
    (a + rng.random_range(0.0..1.0) * (b - a)).exp()
}

/// A whole number between `lo` and `hi` (both included), log-uniform.
fn log_uniform_int(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    if hi <= lo {
        return lo;
    }
    let x = log_uniform(rng, lo as f64, (hi + 1) as f64).floor() as usize;
    x.clamp(lo, hi)
}

/// A whole number between `lo` and `hi` (both included), uniform; drawn
/// as `u64` so it is the same on every platform.
fn uniform(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    if hi <= lo {
        return lo;
    }
    rng.random_range(lo as u64..=hi as u64) as usize
}

/// What the generator believes about the cluster while it draws: an
/// estimate (targets such as `primary` are resolved only when the run gets
/// there), kept on the safe side so that most schedules keep a majority.
struct Model {
    /// Initial cluster size.
    nodes: usize,
    /// Hosts created so far (initial and scaled out).
    hosts: usize,
    /// Members expected to run (not crashed, not left).
    running: usize,
    /// Members crashed and not restarted yet.
    crashed: usize,
    /// Changes that take effect later: restarts of every crashed host, and
    /// scale-outs once their nodes are up.
    pending: Vec<(Duration, Pending)>,
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    RestartCrashed,
    Grow(usize),
}

/// A new life counts as running only once it has joined; until its earlier
/// life is declared down, the cluster refuses it its name.
const REJOIN: Duration = Duration::from_secs(30);

impl Model {
    fn advance(&mut self, now: Duration) {
        loop {
            let due = (0..self.pending.len())
                .filter(|i| self.pending[*i].0 <= now)
                .min_by_key(|i| (self.pending[*i].0, *i));
            let Some(i) = due else { break };
            let (at, change) = self.pending.remove(i);
            match change {
                Pending::RestartCrashed => self.restart_crashed(at),
                Pending::Grow(n) => self.running += n,
            }
        }
    }

    /// Every crashed host starts again at `at`.
    fn restart_crashed(&mut self, at: Duration) {
        let restarted = std::mem::take(&mut self.crashed);
        self.pending.push((at + REJOIN, Pending::Grow(restarted)));
    }

    /// Whether `k` more crashes still leave a majority of members running.
    fn may_crash(&self, k: usize) -> bool {
        self.running > k && self.crashed + k < self.running - k
    }
}

/// The kinds of fault the generator draws, with their weights.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Crash,
    Replace,
    Freeze,
    Leave,
    Drain,
    Fail,
    Flap,
    Partition,
    PartitionMany,
    OneWay,
    Isolate,
    Loss,
    Latency,
    ScaleOut,
    ScaleIn,
}

const KINDS: [(Kind, u32); 15] = [
    (Kind::Crash, 14),
    (Kind::Replace, 6),
    (Kind::Freeze, 10),
    (Kind::Leave, 5),
    (Kind::Drain, 6),
    (Kind::Fail, 6),
    (Kind::Flap, 4),
    (Kind::Partition, 8),
    (Kind::PartitionMany, 4),
    (Kind::OneWay, 4),
    (Kind::Isolate, 5),
    (Kind::Loss, 6),
    (Kind::Latency, 5),
    (Kind::ScaleOut, 4),
    (Kind::ScaleIn, 4),
];

fn pick_kind(rng: &mut ChaCha8Rng) -> Kind {
    let total: u32 = KINDS.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (kind, weight) in KINDS {
        if x < weight {
            return kind;
        }
        x -= weight;
    }
    Kind::Freeze
}

/// Share of schedules that crash a majority of the cluster at once (and
/// restart it later).
const MAJORITY_LOSS: f64 = 0.1;

/// Most faults in a schedule.
const MAX_FAULTS: usize = 12;

/// The drawing of one schedule.
struct Draw<'a> {
    rng: &'a mut ChaCha8Rng,
    model: Model,
    faults: Vec<Fault>,
    base_latency: Latency,
    max_nodes: usize,
}

impl Draw<'_> {
    fn push(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// One host, resolved when the fault happens.
    fn one_host(&mut self) -> String {
        match self.rng.random_range(0..10u32) {
            0..=3 => "primary".into(),
            4..=6 => "secondary".into(),
            7..=8 => "random".into(),
            _ => format!("node-{}", uniform(self.rng, 0, self.model.hosts - 1)),
        }
    }

    /// With probability `p`, `fault` later (log-uniform between `lo` and
    /// `hi` seconds after `at`); otherwise the clean-up does it.
    fn maybe_later(&mut self, p: f64, at: Duration, lo: f64, hi: f64, fault: Fault) -> bool {
        if self.rng.random_bool(p) {
            let later = at + secs(log_uniform(self.rng, lo, hi));
            self.push(Fault { at: later, ..fault });
            true
        } else {
            false
        }
    }

    fn heal_later(&mut self, at: Duration) {
        let heal = Fault::new(at, ActionKind::Heal);
        self.maybe_later(0.8, at, 3.0, 150.0, heal);
    }

    fn restart_later(&mut self, p: f64, at: Duration) {
        let restart = Fault::new(at, ActionKind::Restart).with_target("crashed");
        let before = self.faults.len();
        if self.maybe_later(p, at, 2.0, 120.0, restart) {
            let when = self.faults[before].at;
            self.model.pending.push((when, Pending::RestartCrashed));
        }
    }

    /// A percentage bound, as a target range's end.
    fn percent(p: usize) -> String {
        format!("{p}%")
    }

    fn side(from: usize, to: usize) -> String {
        format!("{}..{}", Self::percent(from), Self::percent(to))
    }

    /// Crashes more than half of the cluster at once, all but at least one
    /// node (a cluster restarted from nothing would found a new one, with
    /// terms from 1 again: the simulator keeps no data directory).
    fn crash_majority(&mut self, at: Duration) {
        let n = self.model.nodes;
        let running = self.model.running;
        if running < 3 {
            return self.fault(at);
        }
        let k = uniform(self.rng, running / 2 + 1, running - 1).min(n - 1);
        let share = k as f64 * 100.0 / n as f64;
        let target = if self.rng.random_bool(0.5) {
            format!("0%..{share:.3}%")
        } else {
            format!("{:.3}%..100%", 100.0 - share)
        };
        self.push(Fault::new(at, ActionKind::Crash).with_target(target));
        self.model.running = self.model.running.saturating_sub(k);
        self.model.crashed += k;
        self.restart_later(0.7, at);
    }

    fn fault(&mut self, at: Duration) {
        use ActionKind as A;
        let kind = pick_kind(self.rng);
        match kind {
            Kind::Crash if self.model.may_crash(1) => {
                let target = self.one_host();
                self.push(Fault::new(at, A::Crash).with_target(target));
                self.model.running -= 1;
                self.model.crashed += 1;
                self.restart_later(0.6, at);
            }
            Kind::Replace => {
                let target = if self.model.crashed > 0 && self.rng.random_bool(0.25) {
                    self.model.restart_crashed(at);
                    "crashed".to_owned()
                } else if self.model.may_crash(1) {
                    // Out of the count until the new life has joined.
                    self.model.running -= 1;
                    self.model.pending.push((at + REJOIN, Pending::Grow(1)));
                    self.one_host()
                } else {
                    return self.freeze(at);
                };
                self.push(Fault::new(at, A::Replace).with_target(target));
            }
            Kind::Leave if self.model.running > MIN_NODES && self.model.may_crash(1) => {
                let target = self.one_host();
                let mut leave = Fault::new(at, A::Leave).with_target(target);
                if self.rng.random_bool(0.5) {
                    leave.drain = Some(secs(log_uniform(self.rng, 0.5, 10.0)));
                }
                self.push(leave);
                self.model.running -= 1;
            }
            Kind::Drain => {
                let target = self.one_host();
                self.push(Fault::new(at, A::Drain).with_target(target));
                let resume = Fault::new(at, A::Resume).with_target("all");
                self.maybe_later(0.75, at, 2.0, 120.0, resume);
            }
            Kind::Fail => {
                let target = self.one_host();
                self.push(Fault::new(at, A::Fail).with_target(target));
                let recover = Fault::new(at, A::Recover).with_target("all");
                self.maybe_later(0.75, at, 2.0, 120.0, recover);
            }
            Kind::Flap => {
                let target = if self.rng.random_bool(0.6) {
                    "primary"
                } else {
                    "random"
                };
                let mut flap = Fault::new(at, A::Flap).with_target(target);
                flap.every = Some(secs(log_uniform(self.rng, 0.5, 10.0)));
                // An even number of toggles ends passing.
                flap.times = Some(2 * uniform(self.rng, 1, 10) as u32);
                self.push(flap);
            }
            Kind::Partition | Kind::OneWay => {
                let cut = uniform(self.rng, 10, 90);
                let mut sides = vec![Self::side(0, cut), Self::side(cut, 100)];
                // Hosts scaled out are on no side, so with the first.
                if self.rng.random_bool(0.5) {
                    sides.reverse();
                }
                let mut partition = Fault::new(at, A::Partition);
                partition.sides = Some(sides);
                partition.one_way = matches!(kind, Kind::OneWay);
                self.push(partition);
                self.heal_later(at);
            }
            Kind::PartitionMany => {
                let count = uniform(self.rng, 3, 5);
                let mut cuts: Vec<usize> = Vec::new();
                while cuts.len() < count - 1 {
                    let cut = uniform(self.rng, 1, 99);
                    if !cuts.contains(&cut) {
                        cuts.push(cut);
                    }
                }
                cuts.sort_unstable();
                let mut bounds = vec![0];
                bounds.extend(cuts);
                bounds.push(100);
                let sides = bounds.windows(2).map(|w| Self::side(w[0], w[1])).collect();
                let mut partition = Fault::new(at, A::Partition);
                partition.sides = Some(sides);
                self.push(partition);
                self.heal_later(at);
            }
            Kind::Isolate => {
                let target = match self.rng.random_range(0..20u32) {
                    0..=6 => "all".to_owned(),
                    7..=11 => {
                        let from = uniform(self.rng, 0, 90);
                        let to = uniform(self.rng, from + 1, 100);
                        Self::side(from, to)
                    }
                    12..=16 => "primary".to_owned(),
                    _ => "random".to_owned(),
                };
                self.push(Fault::new(at, A::Isolate).with_target(target));
                self.heal_later(at);
            }
            Kind::Loss => {
                let mut network = Fault::new(at, A::Network);
                network.loss = Some(round4(log_uniform(self.rng, 0.005, 0.10)));
                if self.rng.random_bool(0.3) {
                    network.duplicate = Some(round4(self.rng.random_range(0.0..0.05)));
                }
                if self.rng.random_bool(0.3) {
                    network.reorder = Some(round4(self.rng.random_range(0.0..0.1)));
                }
                self.push(network);
                let normal = self.normal_network(at);
                self.maybe_later(0.8, at, 10.0, 300.0, normal);
            }
            Kind::Latency => {
                let latency = match self.rng.random_range(0..3u32) {
                    0 => {
                        let median = round4(log_uniform(self.rng, 1.0, 20.0));
                        let p99 = round4((median * self.rng.random_range(2.0..5.0)).min(120.0));
                        Latency::LogNormal {
                            median_ms: median,
                            p99_ms: p99.max(median),
                        }
                    }
                    1 => {
                        let min = round4(log_uniform(self.rng, 0.5, 10.0));
                        Latency::Uniform {
                            min_ms: min,
                            max_ms: round4(min + log_uniform(self.rng, 1.0, 50.0)),
                        }
                    }
                    _ => Latency::Fixed {
                        ms: round4(log_uniform(self.rng, 1.0, 50.0)),
                    },
                };
                let mut network = Fault::new(at, A::Network);
                network.latency = Some(latency);
                self.push(network);
                let normal = self.normal_network(at);
                self.maybe_later(0.8, at, 10.0, 300.0, normal);
            }
            Kind::ScaleOut if self.model.running < self.max_nodes => {
                let running = self.model.running;
                let hi = self.max_nodes.min(running * 3);
                let to = log_uniform_int(self.rng, running + 1, hi);
                let over = self.scale_over();
                let mut scale = Fault::new(at, A::Scale);
                scale.to = Some(to);
                scale.over = Some(over);
                self.push(scale);
                self.model.hosts += to - running;
                self.model
                    .pending
                    .push((at + over, Pending::Grow(to - running)));
            }
            Kind::ScaleIn => {
                let lo = MIN_NODES.max(self.model.crashed + 1);
                let hi = self.model.running.saturating_sub(1);
                if lo > hi {
                    return self.freeze(at);
                }
                let to = uniform(self.rng, lo, hi);
                let mut scale = Fault::new(at, A::Scale);
                scale.to = Some(to);
                scale.over = Some(self.scale_over());
                self.push(scale);
                self.model.running = to;
            }
            // Freezes, and whatever the model says is not safe now.
            _ => self.freeze(at),
        }
    }

    fn scale_over(&mut self) -> Duration {
        if self.rng.random_bool(0.2) {
            Duration::ZERO
        } else {
            secs(log_uniform(self.rng, 1.0, 60.0))
        }
    }

    fn freeze(&mut self, at: Duration) {
        let target = self.one_host();
        let mut freeze = Fault::new(at, ActionKind::Freeze).with_target(target);
        let duration = if self.rng.random_bool(0.5) {
            secs(log_uniform(self.rng, 0.2, 4.0))
        } else {
            secs(log_uniform(self.rng, 4.0, 90.0))
        };
        freeze.duration = Some(duration);
        if self.rng.random_bool(0.2) {
            freeze.every = Some(duration + secs(self.rng.random_range(5.0..40.0)));
            freeze.times = Some(uniform(self.rng, 2, 5) as u32);
        }
        self.push(freeze);
    }

    /// The network as it was at the start.
    fn normal_network(&self, at: Duration) -> Fault {
        normal_network(at, self.base_latency)
    }
}

fn normal_network(at: Duration, latency: Latency) -> Fault {
    let mut network = Fault::new(at, ActionKind::Network);
    network.loss = Some(0.0);
    network.duplicate = Some(0.0);
    network.reorder = Some(0.0);
    network.latency = Some(latency);
    network
}

/// When a fault's effect is over: a freeze thawed, a flap or a scale done,
/// a leave left.
fn settled(fault: &Fault) -> Duration {
    use ActionKind as A;
    let every = fault.every.unwrap_or_default();
    let last = if fault.action == A::Flap {
        fault.at
    } else {
        fault.at + every * fault.times.unwrap_or(1).saturating_sub(1)
    };
    last + match fault.action {
        A::Freeze => fault.duration.unwrap_or_default(),
        A::Flap => every * fault.times.unwrap_or(1),
        A::Scale => fault.over.unwrap_or_default(),
        A::Leave => fault.drain.unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

impl Schedule {
    /// Draws schedule `index` of the swarm with seed `seed`, with clusters
    /// of at most `max_nodes` (at least [`MIN_NODES`]).
    pub fn draw(seed: u64, index: u64, max_nodes: usize) -> Self {
        let max_nodes = max_nodes.max(MIN_NODES);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ mix(index)));
        let rng = &mut rng;
        let nodes = log_uniform_int(rng, MIN_NODES, max_nodes);
        let start = if rng.random_bool(0.2) {
            StartMode::Warm
        } else {
            StartMode::Join
        };
        let start_over = secs(rng.random_range(1.0..10.0));
        let mut network = NetworkModel::default();
        if rng.random_bool(0.2) {
            let median = round4(log_uniform(rng, 0.2, 5.0));
            network.latency = Latency::LogNormal {
                median_ms: median,
                p99_ms: round4(median * rng.random_range(2.0..10.0)),
            };
        }
        // TOML integers are signed 64-bit.
        let run_seed = rng.random::<u64>() >> 16;
        let majority_loss = rng.random_bool(MAJORITY_LOSS);
        let count = uniform(rng, 1, MAX_FAULTS);
        let big_crash = majority_loss.then(|| uniform(rng, 0, count - 1));
        let base = Scenario {
            name: format!("swarm-{seed}-{index}"),
            description: format!(
                "generated: herd simulate --swarm 1 --seed {seed} --index {index} --max-nodes {max_nodes}"
            ),
            nodes,
            duration: Duration::ZERO,
            seed: run_seed,
            start,
            start_over,
            quorum: Default::default(),
            expected_members: None,
            gossip: Default::default(),
            network,
            faults: Vec::new(),
        };
        let mut at = match start {
            StartMode::Join => start_over,
            StartMode::Warm => Duration::ZERO,
        } + secs(rng.random_range(0.0..40.0));
        let mut draw = Draw {
            rng,
            model: Model {
                nodes,
                hosts: nodes,
                running: nodes,
                crashed: 0,
                pending: Vec::new(),
            },
            faults: Vec::new(),
            base_latency: network.latency,
            max_nodes,
        };
        for k in 0..count {
            if k > 0 {
                // Now and then two faults at once.
                if !draw.rng.random_bool(0.1) {
                    at += secs(log_uniform(draw.rng, 0.5, 90.0));
                }
            }
            draw.model.advance(at);
            if big_crash == Some(k) {
                draw.crash_majority(at);
            } else {
                draw.fault(at);
            }
        }
        let mut faults = draw.faults;
        faults.sort_by_key(|e| e.at);
        Self {
            seed,
            index,
            max_nodes,
            base,
            faults,
            shrunk: false,
        }
    }

    /// Initial cluster size.
    pub fn nodes(&self) -> usize {
        self.base.nodes
    }

    /// The faults drawn (without the clean-up).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The command that draws and runs this schedule again.
    pub fn replay_command(&self) -> String {
        format!(
            "herd simulate --swarm 1 --seed {} --index {} --max-nodes {}",
            self.seed, self.index, self.max_nodes
        )
    }

    /// The whole scenario: the faults, the clean-up (heal, network back to
    /// how it started, recover and resume every node, restart every crashed
    /// one) once every fault has settled, and a quiet tail.
    pub fn scenario(&self) -> Scenario {
        use ActionKind as A;
        let mut scenario = self.base.clone();
        if self.shrunk {
            scenario.name.push_str("-shrunk");
            scenario.description = format!(
                "{} (shrunk: {} nodes, {} faults)",
                scenario.description,
                self.base.nodes,
                self.faults.len()
            );
        }
        let settle = self
            .faults
            .iter()
            .map(settled)
            .max()
            .unwrap_or_default()
            .max(self.base.start_over);
        let clean = settle + Duration::from_secs(2);
        let any = |kinds: &[ActionKind]| self.faults.iter().any(|e| kinds.contains(&e.action));
        let mut faults = self.faults.clone();
        if any(&[A::Partition, A::Isolate]) {
            faults.push(Fault::new(clean, A::Heal));
        }
        if any(&[A::Network]) {
            faults.push(normal_network(clean, self.base.network.latency));
        }
        if any(&[A::Fail, A::Flap]) {
            faults.push(Fault::new(clean, A::Recover).with_target("all"));
        }
        if any(&[A::Drain]) {
            faults.push(Fault::new(clean, A::Resume).with_target("all"));
        }
        if any(&[A::Crash]) {
            faults.push(Fault::new(clean, A::Restart).with_target("crashed"));
        }
        let largest = self
            .faults
            .iter()
            .filter_map(|e| e.to)
            .chain([self.base.nodes])
            .max()
            .unwrap_or(self.base.nodes);
        // Long enough for the observer's liveness bound after the last
        // fault: four suspicion timeouts and a minute and a half.
        let config = scenario.node_config();
        let tail = (config.suspicion_timeout(largest) * 4 + Duration::from_secs(90)).max(MIN_TAIL);
        scenario.duration = clean + Duration::from_secs(tail.as_secs() + 1);
        scenario.faults = faults;
        scenario
    }

    /// The same schedule without fault `i`.
    pub fn without(&self, i: usize) -> Self {
        let mut smaller = self.clone();
        smaller.faults.remove(i);
        smaller.shrunk = true;
        smaller
    }

    /// The same schedule on half the cluster (scale targets halved too, to
    /// no fewer than [`MIN_NODES`]), if the cluster can shrink.
    pub fn halved(&self) -> Option<Self> {
        let old = self.base.nodes;
        let nodes = (old / 2).max(MIN_NODES);
        if nodes >= old {
            return None;
        }
        let mut smaller = self.clone();
        smaller.base.nodes = nodes;
        for fault in &mut smaller.faults {
            if let Some(to) = fault.to.as_mut() {
                // Never below the smallest cluster drawn: a lone node
                // replaced or restarted would found a new cluster.
                *to = (((*to * nodes) as f64 / old as f64).round() as usize).max(MIN_NODES);
            }
        }
        smaller.shrunk = true;
        Some(smaller)
    }

    /// Runs the schedule with every invariant checked.
    pub fn run(&self) -> Verdict {
        let scenario = self.scenario();
        let report = run(&scenario, &RunOptions::default()).report;
        Verdict {
            index: self.index,
            nodes: scenario.nodes,
            faults: scenario.faults.len(),
            duration_s: report.duration_s,
            breaches: report.breaches,
            digest: report.digest,
        }
    }

    /// Writes the scenario to `dir`, as `swarm-SEED-INDEX.toml` (with
    /// `-shrunk` once shrunk); returns the path.
    pub fn save(&self, dir: &Path, verdict: &Verdict) -> io::Result<PathBuf> {
        let scenario = self.scenario();
        let text = scenario.to_toml().map_err(io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.toml", scenario.name));
        let header = format!(
            "# {}\n# breached: {}\n# replay: herd simulate {}\n\n",
            scenario.description,
            verdict.invariants().join(", "),
            path.display()
        );
        std::fs::write(&path, header + &text)?;
        Ok(path)
    }
}

/// Shrinks a schedule while `keep` holds for it and its verdict (for a
/// breached one: [`breaches`] of the same invariant): halves the cluster,
/// then drops faults one at a time (repeating until none can go), then
/// halves again. Stops after `budget` runs. Returns the smallest schedule
/// found and its verdict, or `None` if nothing smaller is kept.
pub fn shrink(
    schedule: &Schedule,
    budget: usize,
    keep: impl FnMut(&Schedule, &Verdict) -> bool,
) -> Option<(Schedule, Verdict)> {
    let mut shrinker = Shrinker {
        budget,
        runs: 0,
        keep,
        best: None,
    };
    let mut current = schedule.clone();
    shrinker.halve(&mut current);
    loop {
        let mut changed = false;
        let mut i = current.faults.len();
        while i > 0 && shrinker.runs < budget {
            i -= 1;
            let smaller = current.without(i);
            changed |= shrinker.try_keep(&mut current, smaller);
        }
        if !changed || shrinker.runs >= budget {
            break;
        }
    }
    shrinker.halve(&mut current);
    shrinker.best
}

/// For [`shrink`]: whether a run still breaches `invariant`.
pub fn breaches(invariant: &str) -> impl Fn(&Schedule, &Verdict) -> bool + '_ {
    move |_, verdict| verdict.breaches.iter().any(|b| b.invariant == invariant)
}

struct Shrinker<F> {
    budget: usize,
    runs: usize,
    keep: F,
    best: Option<(Schedule, Verdict)>,
}

impl<F: FnMut(&Schedule, &Verdict) -> bool> Shrinker<F> {
    /// Runs `candidate`; if it is kept, it becomes `current` (and the best
    /// so far).
    fn try_keep(&mut self, current: &mut Schedule, candidate: Schedule) -> bool {
        self.runs += 1;
        let verdict = candidate.run();
        if (self.keep)(&candidate, &verdict) {
            *current = candidate.clone();
            self.best = Some((candidate, verdict));
            true
        } else {
            false
        }
    }

    fn halve(&mut self, current: &mut Schedule) {
        while self.runs < self.budget {
            let Some(smaller) = current.halved() else {
                break;
            };
            if !self.try_keep(current, smaller) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_drawn_the_same_whatever_else_is_drawn() {
        for index in 0..50 {
            let a = Schedule::draw(7, index, 40);
            let b = Schedule::draw(7, index, 40);
            assert_eq!(a, b);
            assert!((MIN_NODES..=40).contains(&a.nodes()), "{}", a.nodes());
            assert!(!a.faults().is_empty());
        }
        assert_ne!(Schedule::draw(7, 1, 40), Schedule::draw(7, 2, 40));
        assert_ne!(Schedule::draw(7, 1, 40), Schedule::draw(8, 1, 40));
    }

    #[test]
    fn every_schedule_is_valid_and_ends_whole_with_a_quiet_tail() {
        use ActionKind as A;
        for index in 0..300 {
            let schedule = Schedule::draw(3, index, DEFAULT_MAX_NODES);
            let scenario = schedule.scenario();
            assert!(
                scenario.problems().is_empty(),
                "{:?}\n{scenario:#?}",
                scenario.problems()
            );
            let last = scenario.faults.iter().map(settled).max().unwrap();
            assert!(scenario.duration >= last + MIN_TAIL, "{scenario:#?}");
            let has = |kind| scenario.faults.iter().any(|e| e.action == kind);
            let last_is = |kind, target: Option<&str>| {
                scenario
                    .faults
                    .iter()
                    .rev()
                    .find(|e| e.action == kind && e.target.as_deref() == target)
                    .is_some_and(|e| settled(e) == last)
            };
            if has(A::Partition) || has(A::Isolate) {
                assert!(last_is(A::Heal, None), "{scenario:#?}");
            }
            if has(A::Crash) {
                assert!(last_is(A::Restart, Some("crashed")), "{scenario:#?}");
            }
            if has(A::Fail) || has(A::Flap) {
                assert!(last_is(A::Recover, Some("all")), "{scenario:#?}");
            }
            if has(A::Drain) {
                assert!(last_is(A::Resume, Some("all")), "{scenario:#?}");
            }
            for flap in scenario.faults.iter().filter(|e| e.action == A::Flap) {
                assert_eq!(flap.times.unwrap_or(1) % 2, 0, "a flap ends passing");
            }
        }
    }

    #[test]
    fn most_schedules_keep_a_majority_and_some_lose_it() {
        let mut lose = 0;
        let n = 400;
        for index in 0..n {
            let schedule = Schedule::draw(11, index, 50);
            let crashes_a_range = schedule.faults().iter().any(|e| {
                e.action == ActionKind::Crash
                    && e.target.as_deref().is_some_and(|t| t.contains(".."))
            });
            lose += usize::from(crashes_a_range);
        }
        assert!((n / 40..n / 5).contains(&(lose as u64)), "{lose} of {n}");
    }

    #[test]
    fn halving_and_dropping_keep_the_schedule_valid() {
        let schedule = Schedule::draw(5, 3, 200);
        let mut smaller = schedule.clone();
        while let Some(half) = smaller.halved() {
            smaller = half;
        }
        assert_eq!(smaller.nodes(), MIN_NODES);
        for index in 0..200 {
            let mut s = Schedule::draw(5, index, 200);
            while let Some(half) = s.halved() {
                s = half;
            }
            let tos: Vec<usize> = s.faults().iter().filter_map(|e| e.to).collect();
            assert!(tos.iter().all(|t| *t >= MIN_NODES), "{tos:?}");
        }
        while !smaller.faults().is_empty() {
            smaller = smaller.without(0);
            assert!(smaller.scenario().problems().is_empty());
        }
        assert!(smaller.scenario().name.ends_with("-shrunk"));
    }

    #[test]
    fn shrinking_keeps_what_is_asked_for_and_drops_the_rest() {
        // Any schedule with a crash: the crash is all that must stay.
        let has_crash = |s: &Schedule| s.faults().iter().any(|e| e.action == ActionKind::Crash);
        let schedule = (0..)
            .map(|index| Schedule::draw(9, index, 8))
            .find(|s| has_crash(s) && s.faults().len() >= 4 && s.nodes() > 4)
            .unwrap();
        let (small, verdict) = shrink(&schedule, 100, |s, _| has_crash(s)).unwrap();
        assert_eq!(small.nodes(), MIN_NODES);
        assert_eq!(small.faults().len(), 1, "{:?}", small.faults());
        assert_eq!(small.faults()[0].action, ActionKind::Crash);
        assert_eq!(verdict.nodes, MIN_NODES);
        let scenario = small.scenario();
        // The clean-up restarts the crashed node.
        assert_eq!(scenario.faults.len(), 2, "{:?}", scenario.faults);
        assert_eq!(scenario.faults[1].target.as_deref(), Some("crashed"));
    }
}
