//! The observer's measurements: how fast the others noticed each fault
//! (its [`Symptom`]), how long failovers and joins took, the time-weighted
//! safety figures, and the report types that carry them out. They describe
//! a run; the invariants (`invariants`) judge it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::{ALIVE, DOWN, Observer, code};
use crate::core::MemberState;
use crate::sim::timeline::{DetectionCurve, FaultMark};

/// Order statistics of a sample, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Samples.
    pub count: usize,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Stats {
    /// The statistics of `samples` (seconds), if there are any.
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[index]
        };
        Some(Self {
            count: sorted.len(),
            min: sorted[0],
            median: rank(0.5),
            p99: rank(0.99),
            max: sorted[sorted.len() - 1],
        })
    }
}

/// What a fault is expected to make the others notice: the symptom whose
/// detection the observer times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symptom {
    /// The target is down (crash, freeze).
    Down,
    /// The target left.
    Left,
    /// The target's health is failing.
    Failing,
    /// Every host across the partition is down.
    Partition,
    /// Nothing to detect.
    Nothing,
}

/// One fault's measurements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultReport {
    /// When, in virtual seconds.
    pub at_s: f64,
    /// What, for example `crash node-3 (primary)`.
    pub label: String,
    /// The kind of fault (`crash`, `freeze`, ...).
    pub kind: String,
    /// Hosts expected to notice it.
    pub observers: usize,
    /// How many did, before the run ended.
    pub detected: usize,
    /// Seconds until the first observer noticed.
    pub first_detection_s: Option<f64>,
    /// Seconds until each observer noticed.
    pub detection: Option<Stats>,
    /// Seconds until every live host named one new primary, if the fault
    /// took the primary away.
    pub failover_s: Option<f64>,
    /// The primary before.
    pub old_primary: Option<String>,
    /// The primary every live host agreed on after.
    pub new_primary: Option<String>,
    /// Seconds until one node claimed the role and every running node named
    /// it (after a heal: how long the cluster took to be whole again).
    pub recovered_s: Option<f64>,
}

pub(super) struct FaultTracker {
    pub(super) report: FaultReport,
    pub(super) at: Duration,
    pub(super) targets: Vec<usize>,
    /// Each target's life when the fault happened.
    pub(super) lives: Vec<u64>,
    pub(super) symptom: Symptom,
    /// Observer -> number of targets it has noticed so far.
    pub(super) progress: BTreeMap<usize, usize>,
    /// Detection times, per observer, in seconds.
    pub(super) times: Vec<(f64, usize)>,
    pub(super) failover_from: Option<usize>,
    /// The failover was owed, but before it happened no side kept a
    /// majority of the members any more (more stopped or left): nobody
    /// may take over, so none is owed.
    pub(super) excused: bool,
}

pub(super) struct JoinTracker {
    pub(super) started: Duration,
    pub(super) joined: Option<Duration>,
    /// When every running host first saw it alive.
    pub(super) seen: Option<Duration>,
    pub(super) converged: Option<Duration>,
}

/// The safety figures of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Safety {
    /// Seconds during which two or more hosts claimed the role.
    pub two_claimants_s: f64,
    /// Seconds during which a host on a minority side of a partition
    /// claimed the role.
    pub minority_claim_s: f64,
    /// Seconds during which claimants sat on different sides of a partition.
    pub split_brain_s: f64,
    /// Seconds during which no host claimed the role (after the first
    /// primary).
    pub no_primary_s: f64,
    /// Times a host declared a running, reachable host down that was
    /// neither frozen nor slow.
    pub false_positive_downs: u64,
    /// The first few of them: when, by whom, about whom.
    pub false_positive_examples: Vec<(f64, String, String)>,
}

/// Join figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Joins {
    /// Hosts that started and asked to join (founders excluded).
    pub started: usize,
    /// Seconds from start to joined.
    pub joined: Option<Stats>,
    /// Seconds from start until every running host saw it alive: the
    /// slowest member to learn of a newcomer (a member that starts later
    /// learns of it from its seed, which has seen it by then).
    pub seen: Option<Stats>,
    /// Seconds from start until every running host saw it alive and it saw
    /// every running host alive (in a burst of joins this waits for the
    /// later newcomers too).
    pub converged: Option<Stats>,
    /// Joins that had not converged when the run ended (or the host
    /// stopped first).
    pub unconverged: usize,
}

impl Observer {
    /// Accumulates time-weighted figures up to `now`.
    pub(super) fn advance(&mut self, now: Duration) {
        self.judge_recovery(now);
        if now <= self.last {
            return;
        }
        self.judge_minority_claims(now);
        let span = (now - self.last).as_secs_f64();
        self.node_seconds += span * self.running_count as f64;
        let claimants: Vec<usize> = self.claimants.iter().copied().collect();
        if claimants.len() >= 2 {
            self.safety.two_claimants_s += span;
        }
        if claimants.is_empty() && self.first_claim {
            self.safety.no_primary_s += span;
        }
        if self.partition_since.is_some() {
            if claimants.iter().any(|c| self.on_minority(*c)) {
                self.safety.minority_claim_s += span;
            }
            let sides: BTreeSet<u16> = claimants.iter().map(|c| self.hosts[*c].side).collect();
            if sides.len() >= 2 {
                self.safety.split_brain_s += span;
            }
        }
        self.last = now;
    }

    /// What `observer`'s view says of `target` now: the view counts,
    /// false-positive downs, detection and join convergence follow.
    pub(super) fn member_state(
        &mut self,
        at: Duration,
        observer: usize,
        target: usize,
        incarnation: u64,
        state: MemberState,
    ) {
        if target >= self.hosts.len() || !self.hosts[observer].running {
            return;
        }
        let old = self.hosts[observer].view[target];
        let new = code(state);
        self.hosts[observer].view[target] = new;
        if old != ALIVE && new == ALIVE {
            self.hosts[target].seen_alive_by += 1;
            self.hosts[observer].sees_alive += 1;
        } else if old == ALIVE && new != ALIVE {
            self.hosts[target].seen_alive_by = self.hosts[target].seen_alive_by.saturating_sub(1);
            self.hosts[observer].sees_alive = self.hosts[observer].sees_alive.saturating_sub(1);
        }
        let held = &self.hosts[target];
        if new == DOWN
            && held.running
            && !held.frozen
            && !held.slow
            && !held.recovering
            && held.life == incarnation
            && held.side == self.hosts[observer].side
        {
            self.safety.false_positive_downs += 1;
            if self.safety.false_positive_examples.len() < 10 {
                self.safety.false_positive_examples.push((
                    at.as_secs_f64(),
                    self.hosts[observer].name.to_string(),
                    self.hosts[target].name.to_string(),
                ));
            }
        }
        match state {
            MemberState::Down => {
                self.noticed(at, observer, target, Symptom::Down);
                self.noticed(at, observer, target, Symptom::Partition);
            }
            MemberState::Left => self.noticed(at, observer, target, Symptom::Left),
            _ => {}
        }
        if new == ALIVE {
            self.check_join(at, target);
            self.check_join(at, observer);
        }
    }

    /// A join converges once every running host sees the joiner alive and
    /// it sees every running host alive.
    pub(super) fn check_join(&mut self, at: Duration, host: usize) {
        let live = self.running_count;
        if !self.hosts[host].running || !self.hosts[host].joined {
            return;
        }
        let everyone_sees_it = self.hosts[host].seen_alive_by + 1 >= live;
        let it_sees_everyone = self.hosts[host].sees_alive + 1 >= live;
        if everyone_sees_it
            && let Some(index) = self.hosts[host].open_join
            && self.joins[index].seen.is_none()
        {
            self.joins[index].seen = Some(at);
        }
        if everyone_sees_it
            && it_sees_everyone
            && let Some(index) = self.hosts[host].open_join.take()
        {
            self.joins[index].converged = Some(at);
        }
    }

    /// `observer` noticed `symptom` on `target`: once it has noticed every
    /// target of a fault, its detection time is taken.
    pub(super) fn noticed(
        &mut self,
        at: Duration,
        observer: usize,
        target: usize,
        symptom: Symptom,
    ) {
        let life = self.hosts[target].life;
        for tracker in &mut self.faults {
            if tracker.symptom != symptom {
                continue;
            }
            let Some(position) = tracker.targets.iter().position(|t| *t == target) else {
                continue;
            };
            if symptom != Symptom::Partition && tracker.lives[position] != life {
                continue;
            }
            let Some(count) = tracker.progress.get_mut(&observer) else {
                continue;
            };
            *count += 1;
            if *count == tracker.targets.len() {
                tracker
                    .times
                    .push(((at - tracker.at).as_secs_f64(), observer));
            }
        }
    }

    /// Records a fault the runner applies now: what it targets, what the
    /// others should notice, and whether it takes the primary away.
    pub(crate) fn fault(
        &mut self,
        at: Duration,
        kind: &str,
        label: String,
        targets: &[usize],
        symptom: Symptom,
    ) {
        self.disturbed(at);
        let primary = self.consensus_primary();
        let observers: BTreeMap<usize, usize> = (0..self.hosts.len())
            .filter(|h| {
                self.is_live(*h) && !targets.contains(h)
                    || symptom == Symptom::Partition && self.is_live(*h)
            })
            .map(|h| (h, 0))
            .collect();
        // A successor is owed only where a majority of the members can
        // still elect one: the fault's targets that stop or are cut off no
        // longer count, and a partition leaves each side its own hosts.
        let gone = matches!(kind, "crash" | "leave" | "replace" | "freeze" | "isolate");
        let majority_remains = {
            let mut per_side: BTreeMap<u16, usize> = BTreeMap::new();
            for h in 0..self.hosts.len() {
                if self.is_live(h) && !self.hosts[h].left && !(gone && targets.contains(&h)) {
                    *per_side.entry(self.hosts[h].side).or_default() += 1;
                }
            }
            per_side.values().any(|count| count * 2 > self.members())
        };
        let takes_primary = primary.filter(|p| {
            targets.contains(p)
                && majority_remains
                && !matches!(kind, "recover" | "resume" | "restart" | "heal")
        });
        if let Some(timeline) = &mut self.timeline {
            timeline.faults.push(FaultMark {
                at,
                label: label.clone(),
            });
        }
        let partition_targets: Vec<usize>;
        let (targets, symptom) = if symptom == Symptom::Partition {
            // Each observer must see every host on the other sides down.
            partition_targets = (0..self.hosts.len())
                .filter(|h| self.hosts[*h].running)
                .collect();
            (partition_targets.as_slice(), symptom)
        } else {
            (targets, symptom)
        };
        self.faults.push(FaultTracker {
            report: FaultReport {
                at_s: at.as_secs_f64(),
                label,
                kind: kind.to_owned(),
                observers: if symptom == Symptom::Nothing {
                    0
                } else {
                    observers.len()
                },
                detected: 0,
                first_detection_s: None,
                detection: None,
                failover_s: None,
                old_primary: takes_primary.map(|p| self.hosts[p].name.to_string()),
                new_primary: None,
                recovered_s: None,
            },
            at,
            targets: targets.to_vec(),
            lives: targets.iter().map(|t| self.hosts[*t].life).collect(),
            symptom,
            progress: if symptom == Symptom::Nothing {
                BTreeMap::new()
            } else {
                observers
            },
            times: Vec::new(),
            failover_from: takes_primary,
            excused: false,
        });
    }

    /// Times the failovers owed: each is done once every live host on a
    /// quorate side names one new primary.
    pub(super) fn check_failovers(&mut self, at: Duration) {
        for index in 0..self.faults.len() {
            let (from, done) = {
                let tracker = &self.faults[index];
                (tracker.failover_from, tracker.report.failover_s.is_some())
            };
            let Some(from) = from else { continue };
            if done {
                continue;
            }
            // Every live host on a quorate side names one primary, not the
            // one the fault took away.
            let voters: Vec<usize> = (0..self.hosts.len())
                .filter(|h| self.is_live(*h) && !self.on_minority(*h) && !self.hosts[*h].left)
                .collect();
            let Some(first) = voters.first() else {
                continue;
            };
            let Some(agreed) = self.hosts[*first].naming else {
                continue;
            };
            // Agreeing on a node that is gone or cut off is no failover.
            if agreed == from || !voters.contains(&agreed) {
                continue;
            }
            if voters.iter().all(|v| self.hosts[*v].naming == Some(agreed)) {
                let tracker = &mut self.faults[index];
                tracker.report.failover_s = Some((at - tracker.at).as_secs_f64());
                tracker.report.new_primary = Some(self.hosts[agreed].name.to_string());
            }
        }
    }

    /// At the end: closes the claims still open and draws the detection
    /// curves, if the timeline is kept.
    pub(super) fn close_timeline(&mut self, end: Duration) {
        if let Some(timeline) = &mut self.timeline {
            timeline.end = end;
            for (host, from) in std::mem::take(&mut self.open_claims) {
                timeline.claims.push((from, end, host));
            }
            timeline
                .claims
                .sort_by_key(|(from, _, host)| (*from, *host));
            for tracker in &self.faults {
                if tracker.report.observers == 0 {
                    continue;
                }
                let mut times: Vec<f64> = tracker.times.iter().map(|(t, _)| *t).collect();
                times.sort_by(f64::total_cmp);
                let total = tracker.report.observers as f64;
                let mut points = vec![(tracker.at, 0.0)];
                for (i, t) in times.iter().enumerate() {
                    points.push((
                        tracker.at + Duration::from_secs_f64(*t),
                        (i + 1) as f64 / total,
                    ));
                }
                timeline.detection.push(DetectionCurve {
                    label: tracker.report.label.clone(),
                    fault_at: tracker.at,
                    points,
                });
            }
        }
    }

    /// The fault reports.
    pub(crate) fn fault_reports(&self) -> Vec<FaultReport> {
        self.faults
            .iter()
            .map(|tracker| {
                let mut report = tracker.report.clone();
                let times: Vec<f64> = tracker.times.iter().map(|(t, _)| *t).collect();
                report.detected = times.len();
                report.first_detection_s = times.iter().copied().min_by(f64::total_cmp);
                report.detection = Stats::of(&times);
                report
            })
            .collect()
    }

    /// The safety figures.
    pub(crate) fn safety(&self) -> Safety {
        self.safety.clone()
    }

    /// Join figures.
    pub(crate) fn joins(&self) -> Joins {
        let asked: Vec<&JoinTracker> = self.joins.iter().collect();
        let joined: Vec<f64> = asked
            .iter()
            .filter_map(|j| j.joined.map(|t| (t - j.started).as_secs_f64()))
            .collect();
        let seen: Vec<f64> = asked
            .iter()
            .filter_map(|j| j.seen.map(|t| (t - j.started).as_secs_f64()))
            .collect();
        let converged: Vec<f64> = asked
            .iter()
            .filter_map(|j| j.converged.map(|t| (t - j.started).as_secs_f64()))
            .collect();
        Joins {
            started: asked.len(),
            joined: Stats::of(&joined),
            seen: Stats::of(&seen),
            converged: Stats::of(&converged),
            unconverged: asked.len() - converged.len(),
        }
    }
}
