//! Runs a [`Scenario`]: builds the cluster, applies its faults at their
//! virtual times, feeds the [`Observer`], and returns the [`Report`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::engine::{Sim, host_addr};
use super::observe::{Observer, Symptom};
use super::report::{Report, Traffic, summarise};
use super::scenario::{ActionKind, Fault, Scenario, StartMode, Target};
use super::timeline::Timeline;
use crate::core::{Command, HealthRecord, HealthStatus, NodeId, Shutdown};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Overrides the scenario's node count (scaling ranges and targets).
    pub nodes: Option<usize>,
    /// Keep what the SVG plot needs.
    pub plot: bool,
    /// Draw a progress bar on standard error.
    pub progress: bool,
}

/// How fast the simulator ran: not part of the report, since it changes
/// from one run to the next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Virtual seconds per wall-clock second.
    pub virtual_per_wall: f64,
    /// Steps the engine took (datagrams delivered, wake-ups, thaws).
    pub steps: u64,
}

/// A finished run.
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// The simulator's speed.
    pub performance: Performance,
    /// The plot data, if asked for.
    pub timeline: Option<Timeline>,
}

/// Something the runner does at a virtual time: apply a fault, or one part
/// of a fault that takes several (a leave's drain, a rolling restart's
/// starts, a flap's toggles).
#[derive(Debug, Clone)]
enum Task {
    /// Apply the scenario's fault `index` (once per repetition).
    Fault { index: usize },
    /// Start host (first start or restart) joining running members.
    Start { host: usize },
    /// Leave now (after draining), then stop: the end of a [`Shutdown`].
    Leave { host: usize, shutdown: Shutdown },
    /// Drain, as the first half of a leave or a rolling restart; `report`
    /// makes it a fault of its own in the report.
    Drain {
        host: usize,
        report: bool,
        shutdown: Shutdown,
    },
    /// Toggle health of a flapping host.
    Flap { host: usize, failing: bool },
}

struct Runner<'a> {
    scenario: &'a Scenario,
    sim: Sim,
    observer: Observer,
    rng: ChaCha8Rng,
    tasks: crate::core::TimerQueue<Task>,
    /// Per host: it crashed and has not started since (the `crashed`
    /// target).
    crashed: Vec<bool>,
    /// Per host: the seeds its current life joins through.
    seeds_of: Vec<Vec<usize>>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Instant {
    // The simulator's own speed is the one thing measured in real time.
    Instant::now()
}

/// How long after the last fault one primary must serve again (the `no
/// recovery` invariant): a knock on a down member (at most 2.5 probe
/// periods apart in a view without a quorum), a down notice and a rejoin's
/// state sync, then the detection of whatever died meanwhile (a probe, a
/// suspicion timeout, the backstop's twice that for gossip-learned
/// suspicions and its three questions), and a claim's confirmation (two
/// probe periods for a fresh rank, a round trip); at most twenty probe
/// periods, the bound issue 9 set. With the defaults: 16 s up to 10
/// members, 20 s from 16 members on. (Measured after heals: 0.02 to 5 s
/// from 10 to 1,000 nodes.)
pub(super) fn recovery_limit(config: &crate::core::NodeConfig, members: usize) -> Duration {
    (config.suspicion_timeout(members) * 2 + config.gossip.probe_period * 10)
        .min(config.gossip.probe_period * 20)
}

/// Runs `scenario`.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Outcome {
    let mut scenario = scenario.clone();
    if let Some(nodes) = options.nodes {
        scenario.resize(nodes.max(1));
    }
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    let config = scenario.node_config();
    let grace = config.suspicion_timeout(scenario.nodes) + config.gossip.probe_period * 2;
    let failover_limit = config.suspicion_timeout(scenario.nodes) * 4 + Duration::from_secs(30);
    let limit = recovery_limit(&config, scenario.nodes);
    let mut runner = Runner {
        sim: Sim::new(scenario.seed, config, scenario.network),
        observer: Observer::new(scenario.expected_members, grace, options.plot),
        rng: ChaCha8Rng::seed_from_u64(scenario.seed ^ 0x7363_656e_6172_696f),
        tasks: crate::core::TimerQueue::new(),
        crashed: Vec::new(),
        seeds_of: Vec::new(),
        scenario: &scenario,
    };
    runner.observer.set_recovery_limit(limit);
    runner
        .observer
        .set_lossy(Duration::ZERO, scenario.network.loss > 0.0);
    let started = wall_clock();
    runner.boot();
    for (index, fault) in scenario.faults.iter().enumerate() {
        let repeats = if fault.action == ActionKind::Flap {
            1
        } else {
            fault.times.unwrap_or(1)
        };
        let every = fault.every.unwrap_or_default();
        for k in 0..repeats {
            runner
                .tasks
                .push(fault.at + every * k, Task::Fault { index });
        }
    }
    let progress = options.progress.then(|| progress_bar(scenario.duration));
    let end = scenario.duration;
    loop {
        let next_task = runner.tasks.next_deadline().filter(|t| *t <= end);
        let chunk_end = (runner.sim.now() + Duration::from_secs(1)).min(end);
        let until = next_task.map_or(chunk_end, |t| t.min(chunk_end));
        runner.sim.run_until(until);
        runner.drain_log();
        runner.sample_terms();
        runner.resolve_seeds_again();
        if let Some(bar) = &progress {
            bar.set_position(runner.sim.now().as_millis() as u64);
        }
        while let Some((_, task)) = runner.tasks.pop_due(runner.sim.now()) {
            runner.apply(task);
            runner.drain_log();
        }
        if runner.sim.now() >= end && runner.tasks.next_deadline().is_none_or(|t| t > end) {
            break;
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    runner.drain_log();
    runner.observer.finish(end, failover_limit);
    let wall = started.elapsed().as_secs_f64();

    let faults = runner.observer.fault_reports();
    let node_seconds = runner.observer.node_seconds().max(f64::MIN_POSITIVE);
    let report = Report {
        scenario: scenario.name.clone(),
        nodes: scenario.nodes,
        seed: scenario.seed,
        duration_s: secs(end),
        summary: summarise(&faults),
        faults,
        safety: runner.observer.safety(),
        traffic: Traffic {
            messages_per_node_s: runner.sim.datagrams as f64 / node_seconds,
            bytes_per_node_s: runner.sim.bytes as f64 / node_seconds,
            datagrams: runner.sim.datagrams,
        },
        joins: runner.observer.joins(),
        breaches: runner.observer.breaches(),
        final_primary: runner.observer.agreed_primary(),
        final_claimants: runner.observer.claimant_names(),
        digest: format!("{:016x}", runner.observer.digest()),
    };
    Outcome {
        report,
        performance: Performance {
            wall_s: wall,
            virtual_per_wall: secs(end) / wall.max(1e-9),
            steps: runner.sim.steps,
        },
        timeline: runner.observer.take_timeline(),
    }
}

fn latency_label(latency: &super::net::Latency) -> String {
    use super::net::Latency as L;
    match *latency {
        L::Fixed { ms } => format!("latency {ms} ms"),
        L::Uniform { min_ms, max_ms } => format!("latency {min_ms} to {max_ms} ms"),
        L::LogNormal { median_ms, p99_ms } => {
            format!("latency median {median_ms} ms, p99 {p99_ms} ms")
        }
    }
}

fn progress_bar(duration: Duration) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(duration.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {msg} virtual {pos}/{len} ms",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

impl Runner<'_> {
    fn name(index: usize) -> String {
        format!("node-{index}")
    }

    fn add_host(&mut self) -> usize {
        let index = self.sim.add_host(&Self::name(self.sim.len()));
        self.observer.add_host(self.sim.name(index).clone());
        self.crashed.push(false);
        self.seeds_of.push(Vec::new());
        index
    }

    /// Starts a stopped host as a new life, joining through running members.
    fn start(&mut self, host: usize) {
        let seeds = self.seeds(host);
        self.sim.start(host, &seeds);
        self.crashed[host] = false;
        self.seeds_of[host] = seeds;
    }

    /// Gives a joining host whose every seed has stopped new ones, as the
    /// agent does: it resolves its seeds again every two seconds while it
    /// joins, and an operator's seed name follows the running members. A
    /// newcomer started during a one-way cut, whose three seeds all left in
    /// a scale-in before the heal, otherwise asked nobody for the rest of
    /// the run (swarm seed 3 #72). Seeds that still run are kept, however
    /// long they fail to answer: that is the node's to handle.
    fn resolve_seeds_again(&mut self) {
        for host in 0..self.sim.len() {
            let joining = self
                .sim
                .node(host)
                .is_some_and(|node| node.phase() == crate::core::Phase::Joining);
            if !joining
                || !self.sim.is_running(host)
                || self.seeds_of[host].is_empty()
                || self.seeds_of[host].iter().any(|&s| self.sim.is_running(s))
            {
                continue;
            }
            let seeds = self.seeds(host);
            if seeds.is_empty() {
                continue;
            }
            let addrs = seeds.iter().map(|&s| self.sim.addr(s)).collect();
            self.sim.command(host, Command::Seeds(addrs));
            self.seeds_of[host] = seeds;
        }
    }

    /// Brings the initial cluster up.
    fn boot(&mut self) {
        let n = self.scenario.nodes;
        for _ in 0..n {
            self.add_host();
        }
        match self.scenario.start {
            StartMode::Warm => self.warm_start(),
            StartMode::Join => {
                self.sim.start(0, &[]);
                let spread = self.scenario.start_over;
                let mut times: Vec<Duration> = (1..n)
                    .map(|_| spread.mul_f64(self.rng.random_range(0.0..1.0)))
                    .collect();
                times.sort();
                for (i, at) in times.into_iter().enumerate() {
                    self.tasks.push(at, Task::Start { host: i + 1 });
                }
            }
        }
    }

    fn warm_start(&mut self) {
        let n = self.scenario.nodes;
        let ids: Vec<NodeId> = (0..n)
            .filter_map(|i| NodeId::new(&Self::name(i), host_addr(i), 1).ok())
            .collect();
        let config = self.sim.config().clone();
        // One record per member, shared by every node's view.
        let records: Vec<Arc<HealthRecord>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut record = HealthRecord::new(
                    id.name().clone(),
                    1,
                    config.priority,
                    config.primary_eligible,
                );
                record.version = 1;
                record.seniority = Some(i as u64 + 1);
                record.admitted = true;
                Arc::new(record)
            })
            .collect();

        for i in 0..n {
            self.sim
                .start_preloaded(i, &ids, records.clone(), i as u64 + 1);
            // Each preload logs an event per member: observe them now, or
            // the log would hold n² entries at once.
            self.drain_log();
        }
        self.drain_log();
    }

    fn sample_terms(&mut self) {
        let now = self.sim.now();
        for host in 0..self.sim.len() {
            if let Some(node) = self.sim.node(host) {
                self.observer.view_term(now, host, node.highest_term());
            }
        }
    }

    fn drain_log(&mut self) {
        let observer = &mut self.observer;
        self.sim.drain_log(|entry| observer.observe(entry));
    }

    /// Up to three distinct hosts to join through: running, joined ones;
    /// failing those, any other running or frozen one (it answers once it
    /// has joined or thawed). Empty only when no other host runs: the host
    /// then founds a cluster.
    fn seeds(&mut self, except: usize) -> Vec<usize> {
        let joined: Vec<usize> = (0..self.sim.len())
            .filter(|h| {
                *h != except
                    && self.sim.is_running(*h)
                    && self
                        .sim
                        .node(*h)
                        .is_some_and(|n| n.phase() == crate::core::Phase::Joined)
            })
            .collect();
        let candidates = if joined.is_empty() {
            (0..self.sim.len())
                .filter(|h| *h != except && self.sim.node(*h).is_some())
                .collect()
        } else {
            joined
        };
        let wanted = 3.min(candidates.len());
        let mut seeds = Vec::new();
        for _ in 0..wanted {
            let pick = candidates[self.rng.random_range(0..candidates.len())];
            if !seeds.contains(&pick) {
                seeds.push(pick);
            }
        }
        // Three draws may repeat a host: make up the number without drawing
        // again, so the joiner tries the same seed first as before.
        for host in candidates {
            if seeds.len() >= wanted {
                break;
            }
            if !seeds.contains(&host) {
                seeds.push(host);
            }
        }
        seeds
    }

    fn resolve(&mut self, target: &Target) -> Vec<usize> {
        let hosts = self.sim.len();
        let running: Vec<usize> = (0..hosts).filter(|h| self.sim.is_running(*h)).collect();
        match target {
            Target::Primary => self.observer.consensus_primary().into_iter().collect(),
            Target::Secondary => {
                let primary = self.observer.consensus_primary();
                let others: Vec<usize> = running
                    .into_iter()
                    .filter(|h| Some(*h) != primary)
                    .collect();
                if others.is_empty() {
                    Vec::new()
                } else {
                    vec![others[self.rng.random_range(0..others.len())]]
                }
            }
            Target::Random => {
                if running.is_empty() {
                    Vec::new()
                } else {
                    vec![running[self.rng.random_range(0..running.len())]]
                }
            }
            Target::All => (0..hosts).collect(),
            Target::Crashed => (0..hosts)
                .filter(|h| self.crashed[*h] && self.sim.node(*h).is_none())
                .collect(),
            Target::Named(name) => super::observe::host_of(name)
                .filter(|h| *h < hosts)
                .into_iter()
                .collect(),
            Target::Range(from, to) => {
                let n = self.scenario.nodes;
                (from.resolve(n)..to.resolve(n).min(hosts)).collect()
            }
        }
    }

    fn label(&self, kind: ActionKind, targets: &[usize]) -> String {
        let primary = self.observer.consensus_primary();
        let names: Vec<String> = targets
            .iter()
            .take(3)
            .map(|t| {
                if Some(*t) == primary {
                    format!("{} (primary)", Self::name(*t))
                } else {
                    Self::name(*t)
                }
            })
            .collect();
        let more = targets.len().saturating_sub(3);
        if more > 0 {
            format!("{kind} {} +{more}", names.join(", "))
        } else if names.is_empty() {
            kind.to_string()
        } else {
            format!("{kind} {}", names.join(", "))
        }
    }

    fn apply(&mut self, task: Task) {
        let now = self.sim.now();
        match task {
            Task::Fault { index } => {
                let fault = self.scenario.faults[index].clone();
                self.apply_fault(&fault);
            }
            Task::Start { host } => self.start(host),
            Task::Drain {
                host,
                report,
                shutdown,
            } => {
                if report {
                    let label = self.label(ActionKind::Drain, &[host]);
                    self.observer
                        .fault(now, "drain", label, &[host], Symptom::Nothing);
                }
                self.observer.set_draining(host, true);
                self.sim.command(host, shutdown.drain());
            }
            Task::Leave { host, shutdown } => {
                self.sim.command(host, shutdown.leave());
                self.drain_log();
                self.sim.crash(host);
            }
            Task::Flap { host, failing } => {
                let label = format!(
                    "flap {} {}",
                    Self::name(host),
                    if failing { "failing" } else { "passing" }
                );
                let symptom = if failing {
                    Symptom::Failing
                } else {
                    Symptom::Nothing
                };
                let kind = if failing { "fail" } else { "recover" };
                self.observer.fault(now, kind, label, &[host], symptom);
                self.observer.set_health(host, !failing);
                let status = if failing {
                    HealthStatus::Failing
                } else {
                    HealthStatus::Passing
                };
                self.sim.command(
                    host,
                    Command::SetHealth {
                        status,
                        checks: Vec::new(),
                    },
                );
            }
        }
    }

    fn apply_fault(&mut self, fault: &Fault) {
        use ActionKind as A;
        let now = self.sim.now();
        let targets = fault
            .target
            .as_deref()
            .and_then(|t| Target::parse(t).ok())
            .map(|t| self.resolve(&t))
            .unwrap_or_default();
        let label = self.label(fault.action, &targets);
        let kind = fault.action.to_string();
        match fault.action {
            A::Crash => {
                let targets: Vec<usize> = targets
                    .into_iter()
                    .filter(|h| self.sim.is_running(*h) || self.sim.is_frozen(*h))
                    .collect();
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Down);
                for host in targets {
                    self.sim.crash(host);
                    self.crashed[host] = true;
                }
            }
            A::Restart => {
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Nothing);
                for host in targets {
                    if self.sim.node(host).is_none() {
                        self.observer.set_health(host, true);
                        self.observer.set_draining(host, false);
                        self.start(host);
                    }
                }
            }
            A::Replace => {
                // A running, frozen or crashed machine is replaced; one that
                // left or never started is not there to replace.
                let targets: Vec<usize> = targets
                    .into_iter()
                    .filter(|h| self.sim.node(*h).is_some() || self.crashed[*h])
                    .collect();
                let label = self.label(fault.action, &targets);
                // The observer measures detection of a host's current life
                // only, and the new life starts at once: only the failover
                // is measured.
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Nothing);
                for host in targets {
                    self.sim.crash(host);
                    self.drain_log();
                    self.sim.move_host(host);
                    self.observer.set_health(host, true);
                    self.observer.set_draining(host, false);
                    self.start(host);
                }
            }
            A::Freeze => {
                let duration = fault.duration.unwrap_or_default();
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Down);
                for host in targets {
                    self.sim.freeze(host, duration);
                }
            }
            A::Slow => {
                let duration = fault.duration.unwrap_or_default();
                let lag = fault.lag.unwrap_or_default();
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Nothing);
                for host in targets {
                    self.sim.slow(host, duration, lag);
                }
            }
            A::Leave => {
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Left);
                let drain = fault.drain.unwrap_or_default();
                for host in targets {
                    // The agent's shutdown, as the agent runs it.
                    let shutdown = Shutdown::new(now, drain);
                    self.apply(Task::Drain {
                        host,
                        report: false,
                        shutdown,
                    });
                    self.tasks
                        .push(shutdown.leave_at(), Task::Leave { host, shutdown });
                }
            }
            A::Fail | A::Recover => {
                let failing = fault.action == A::Fail;
                let symptom = if failing {
                    Symptom::Failing
                } else {
                    Symptom::Nothing
                };
                self.observer.fault(now, &kind, label, &targets, symptom);
                let status = if failing {
                    HealthStatus::Failing
                } else {
                    HealthStatus::Passing
                };
                for host in targets {
                    self.observer.set_health(host, !failing);
                    self.sim.command(
                        host,
                        Command::SetHealth {
                            status,
                            checks: Vec::new(),
                        },
                    );
                }
            }
            A::Drain | A::Resume => {
                let draining = fault.action == A::Drain;
                self.observer
                    .fault(now, &kind, label, &targets, Symptom::Nothing);
                for host in targets {
                    self.observer.set_draining(host, draining);
                    let command = if draining {
                        Command::Drain
                    } else {
                        Command::Resume
                    };
                    self.sim.command(host, command);
                }
            }
            A::Partition => {
                let sides: Vec<Vec<usize>> = fault
                    .sides
                    .iter()
                    .flatten()
                    .filter_map(|s| Target::parse(s).ok())
                    .map(|t| self.resolve(&t))
                    .collect();
                let label = format!(
                    "partition {}",
                    sides
                        .iter()
                        .map(|s| s.len().to_string())
                        .collect::<Vec<_>>()
                        .join(if fault.one_way { "->" } else { "/" })
                );
                if self.sim.partition.is_active() {
                    // A partition replaces the one in force; the observer
                    // times the new one from now.
                    self.sim.partition.heal();
                    self.observer.partitioned(now, false);
                }
                self.observer
                    .fault(now, &kind, label, &[], Symptom::Partition);
                tracing::debug!(?sides, "partition");
                for (side, hosts) in sides.iter().enumerate() {
                    for host in hosts {
                        self.sim.partition.place(*host, side as u16);
                        self.observer.place(now, *host, side as u16);
                    }
                }
                if fault.one_way {
                    self.sim.partition.cut_one_way(0, 1);
                } else {
                    self.sim.partition.cut_between_sides();
                }
                self.observer.set_one_way(fault.one_way);
                self.observer.partitioned(now, true);
            }
            A::Isolate => {
                let label = format!("isolate {} hosts", targets.len());
                // Isolation adds to a partition in force; the observer times
                // the whole from now.
                let in_force = self.sim.partition.is_active();
                if in_force {
                    self.observer.partitioned(now, false);
                }
                self.observer
                    .fault(now, &kind, label, &[], Symptom::Partition);
                for host in targets {
                    self.sim.partition.isolate(host);
                }
                // The observer knows sides only: each isolated host gets one
                // of its own.
                let hosts = self.sim.len();
                let partition = &self.sim.partition;
                let mut next = (0..hosts).map(|h| partition.side_of(h)).max().unwrap_or(0);
                for host in 0..hosts {
                    let side = if partition.is_isolated(host) {
                        next = next.saturating_add(1);
                        next
                    } else {
                        partition.side_of(host)
                    };
                    self.observer.place(now, host, side);
                }
                self.observer.partitioned(now, true);
            }
            A::Heal => {
                self.observer
                    .fault(now, &kind, "heal".into(), &[], Symptom::Nothing);
                self.sim.partition.heal();
                self.observer.partitioned(now, false);
                self.observer.network_whole(now);
            }
            A::Network => {
                if let Some(loss) = fault.loss {
                    self.sim.network.loss = loss;
                }
                if let Some(duplicate) = fault.duplicate {
                    self.sim.network.duplicate = duplicate;
                }
                if let Some(reorder) = fault.reorder {
                    self.sim.network.reorder = reorder;
                }
                if let Some(latency) = fault.latency {
                    self.sim.network.latency = latency;
                }
                let label = format!(
                    "network loss {:.0}%, {}",
                    self.sim.network.loss * 100.0,
                    latency_label(&self.sim.network.latency)
                );
                self.observer
                    .fault(now, &kind, label, &[], Symptom::Nothing);
                self.observer.set_lossy(now, self.sim.network.loss > 0.0);
            }
            A::Scale => self.scale(fault),
            A::RollingRestart => {
                self.observer
                    .fault(now, &kind, "rolling restart".into(), &[], Symptom::Nothing);
                let drain = fault.drain.unwrap_or_default();
                let down = fault.down.unwrap_or_default();
                let gap = fault.gap.unwrap_or_default();
                let period = drain + down + gap;
                let hosts: Vec<usize> = (0..self.sim.len())
                    .filter(|h| self.sim.is_running(*h))
                    .collect();
                for (i, host) in hosts.into_iter().enumerate() {
                    let t = now + period * i as u32;
                    let shutdown = Shutdown::new(t, drain);
                    self.tasks.push(
                        t,
                        Task::Drain {
                            host,
                            report: true,
                            shutdown,
                        },
                    );
                    self.tasks
                        .push(shutdown.leave_at(), Task::Leave { host, shutdown });
                    self.tasks.push(t + drain + down, Task::Start { host });
                }
            }
            A::Flap => {
                let every = fault.every.unwrap_or(Duration::from_secs(1));
                let times = fault.times.unwrap_or(1);
                for host in targets.into_iter().take(1) {
                    for k in 0..times {
                        self.tasks.push(
                            now + every * k,
                            Task::Flap {
                                host,
                                failing: k % 2 == 0,
                            },
                        );
                    }
                }
            }
        }
    }

    fn scale(&mut self, fault: &Fault) {
        let now = self.sim.now();
        let to = fault.to.unwrap_or(1);
        let over = fault.over.unwrap_or_default();
        let running: Vec<usize> = (0..self.sim.len())
            .filter(|h| self.sim.is_running(*h))
            .collect();
        let label = format!("scale {} -> {to}", running.len());
        self.observer
            .fault(now, "scale", label, &[], Symptom::Nothing);
        if to > running.len() {
            let add = to - running.len();
            for k in 0..add {
                let host = self.add_host();
                let at = now + over.mul_f64(k as f64 / add as f64);
                self.tasks.push(at, Task::Start { host });
            }
        } else {
            let remove = running.len() - to;
            for (k, host) in running.iter().rev().take(remove).enumerate() {
                let at = now + over.mul_f64(k as f64 / remove as f64);
                // A scale-in leaves without waiting for a balancer.
                let shutdown = Shutdown::new(at, Duration::ZERO);
                self.tasks.push(
                    at,
                    Task::Drain {
                        host: *host,
                        report: false,
                        shutdown,
                    },
                );
                self.tasks.push(
                    shutdown.leave_at(),
                    Task::Leave {
                        host: *host,
                        shutdown,
                    },
                );
            }
        }
    }
}
