//! Watches a simulation from outside: measures detection, failover, safety
//! and joins, and checks DESIGN's invariants, from the ordered log of what
//! happened ([`LogEntry`]) and the faults the runner applied.
//!
//! Everything is incremental: one log entry updates a few counters, so the
//! observer keeps up with a thousand nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::engine::{LogEntry, Logged};
use super::timeline::{DetectionCurve, FaultMark, Naming, Timeline};
use crate::core::{Event, HealthStatus, MemberState, Phase};

/// What a view says of a member, packed in a byte.
const UNKNOWN: u8 = 0;
const ALIVE: u8 = 1;
const SUSPECT: u8 = 2;
const DOWN: u8 = 3;
const LEFT: u8 = 4;

fn code(state: MemberState) -> u8 {
    match state {
        MemberState::Alive => ALIVE,
        MemberState::Suspect => SUSPECT,
        MemberState::Down => DOWN,
        MemberState::Left => LEFT,
    }
}

/// The host index of a simulated member name (`node-17` is 17).
pub fn host_of(name: &str) -> Option<usize> {
    name.strip_prefix("node-")?.parse().ok()
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// When, in virtual seconds.
    pub at_s: f64,
    /// Which invariant.
    pub invariant: &'static str,
    /// The hosts involved.
    pub nodes: Vec<String>,
    /// What happened.
    pub detail: String,
}

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
pub enum Symptom {
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

struct FaultTracker {
    report: FaultReport,
    at: Duration,
    targets: Vec<usize>,
    /// Each target's life when the fault happened.
    lives: Vec<u64>,
    symptom: Symptom,
    /// Observer -> number of targets it has noticed so far.
    progress: BTreeMap<usize, usize>,
    /// Detection times, per observer, in seconds.
    times: Vec<(f64, usize)>,
    failover_from: Option<usize>,
    /// The failover was owed, but before it happened no side kept a
    /// majority of the members any more (more stopped or left): nobody
    /// may take over, so none is owed.
    excused: bool,
}

struct JoinTracker {
    started: Duration,
    joined: Option<Duration>,
    converged: Option<Duration>,
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
    /// Times a host declared a running, reachable, unfrozen host down.
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
    /// Seconds from start until every running host saw it alive and it saw
    /// every running host alive.
    pub converged: Option<Stats>,
    /// Joins that had not converged when the run ended (or the host
    /// stopped first).
    pub unconverged: usize,
}

/// What the observer knows of one host. Indexed by host in
/// [`Observer::hosts`]; everything about the whole cluster stays in
/// [`Observer`] itself.
#[derive(Debug, Clone)]
struct HostState {
    /// Its name (`node-N`).
    name: Arc<str>,
    /// The identity incarnation of its current life (0 before its first
    /// start), updated by a rejoin: a view's word about an earlier life is
    /// no word about this one.
    life: u64,
    /// Started and not stopped (a frozen host still runs).
    running: bool,
    /// Frozen: running, but answering nothing.
    frozen: bool,
    /// Its current life has joined (and not left).
    joined: bool,
    /// Its last life left gracefully (cleared by a start).
    left: bool,
    /// It was started at least once as a member: a later start is a
    /// restart, not a newcomer.
    started_ever: bool,
    /// Its checks are configured passing.
    healthy: bool,
    /// It is in maintenance.
    draining: bool,
    /// The partition side it is on (0 when the network is whole).
    side: u16,
    /// It first started during a partition on a side without a majority of
    /// the members: no member on another side can know of it, so it counts
    /// (in the member total and its side's size) only from the heal, as
    /// herd admits it (`HealthRecord::admitted`).
    unadmitted: bool,
    /// It left while a partition was on and nobody who is still running
    /// heard the leave: the cluster rightly counts it as crashed.
    unheard_leave: bool,
    /// It left during the partition with running hosts on this side to
    /// carry the news: if those stop too before the heal, the leave goes
    /// unheard.
    heard_on_side: Option<u16>,
    /// The last partition cut it off with a minority, and it has not
    /// rejoined since: the majority rightly holds it down, and that news
    /// reaching its own side after the heal is no false alarm.
    recovering: bool,
    /// Its node says it claims the role (whether or not it counts: a
    /// frozen claimant does not).
    claiming: bool,
    /// The term of its current claim.
    claim_term: u64,
    /// The highest term its view reported: `(life, term)`.
    view_term: (u64, u64),
    /// It was frozen, stopped, failing, draining or cut off with a minority
    /// since it last started claiming: it may lose the role; any other
    /// host losing it is a breach.
    disrupted: bool,
    /// The host it names primary, if any.
    naming: Option<usize>,
    /// What its view says of each host, by host index (`UNKNOWN`, `ALIVE`,
    /// ...).
    view: Vec<u8>,
    /// How many running hosts' views hold it alive.
    seen_alive_by: usize,
    /// How many hosts its view holds alive.
    sees_alive: usize,
    /// Its join tracker still waiting to converge, if any.
    open_join: Option<usize>,
}

impl HostState {
    /// A host not started yet, in a cluster of `hosts` (itself included).
    fn new(name: Arc<str>, hosts: usize) -> Self {
        Self {
            name,
            life: 0,
            running: false,
            frozen: false,
            joined: false,
            left: false,
            started_ever: false,
            healthy: true,
            draining: false,
            side: 0,
            unadmitted: false,
            unheard_leave: false,
            heard_on_side: None,
            recovering: false,
            claiming: false,
            claim_term: 0,
            view_term: (0, 0),
            disrupted: false,
            naming: None,
            view: vec![UNKNOWN; hosts],
            seen_alive_by: 0,
            sees_alive: 0,
            open_join: None,
        }
    }
}

/// The observer.
pub struct Observer {
    /// Every host, by index.
    hosts: Vec<HostState>,
    /// Configured cluster size the quorum guard uses, if fixed.
    expected_members: Option<usize>,
    /// How long a claim by a cut-off minority may last: no majority can
    /// declare anyone down faster.
    minority_grace: Duration,
    /// Running hosts per side.
    side_running: BTreeMap<u16, usize>,
    running_count: usize,
    /// Hosts started and not left: what the quorum counts.
    member_count: usize,
    partition_since: Option<Duration>,
    /// When, during the partition, a side last changed size (the partition
    /// itself, a stop, a start): a host that became a minority through a
    /// crash elsewhere can only learn it as fast as it detects the crash.
    sides_changed: Duration,
    claimants: BTreeSet<usize>,
    last: Duration,
    first_claim: bool,
    last_claimant: Option<usize>,
    /// The highest term any claim started with, and which host claimed it.
    max_claim_term: (u64, usize),
    /// Hosts thawed at this instant: whether they still claim is known only
    /// once they handled what queued up while frozen.
    thawing: Vec<(usize, Duration)>,
    two_claimants_since: Option<Duration>,
    minority_breached: bool,
    safety: Safety,
    node_seconds: f64,
    faults: Vec<FaultTracker>,
    joins: Vec<JoinTracker>,
    breaches: Vec<Breach>,
    digest: u64,
    line: String,
    timeline: Option<Timeline>,
    open_claims: BTreeMap<usize, Duration>,
    /// When the last fault, start, stop, freeze or thaw happened: liveness
    /// is judged `recovery_limit` after it.
    calm_since: Duration,
    /// Whether the current calm has been judged.
    calm_judged: bool,
    /// How long after the last disturbance one primary must serve again.
    recovery_limit: Duration,
    /// Datagrams are being lost: no bound on recovery is owed.
    lossy: bool,
    /// When every running member stopped or left: nothing remembers the
    /// cluster (the simulator keeps no data directory), so the nodes still
    /// starting wait for a member that will never answer, as their seeds
    /// tell them to. From then on no recovery or failover is owed.
    lost_at: Option<Duration>,
}

impl Observer {
    /// An observer for a run; `plot` keeps what the SVG timeline needs.
    pub fn new(expected_members: Option<usize>, minority_grace: Duration, plot: bool) -> Self {
        Self {
            hosts: Vec::new(),
            expected_members,
            minority_grace,
            side_running: BTreeMap::new(),
            running_count: 0,
            member_count: 0,
            partition_since: None,
            sides_changed: Duration::ZERO,
            claimants: BTreeSet::new(),
            last: Duration::ZERO,
            first_claim: false,
            last_claimant: None,
            max_claim_term: (0, 0),
            thawing: Vec::new(),
            two_claimants_since: None,
            minority_breached: false,
            safety: Safety::default(),
            node_seconds: 0.0,
            faults: Vec::new(),
            joins: Vec::new(),
            breaches: Vec::new(),
            digest: 0xcbf2_9ce4_8422_2325,
            line: String::new(),
            timeline: plot.then(Timeline::default),
            open_claims: BTreeMap::new(),
            calm_since: Duration::ZERO,
            calm_judged: false,
            recovery_limit: Duration::MAX,
            lossy: false,
            lost_at: None,
        }
    }

    /// Sets the liveness bound: once `limit` has passed with no fault, no
    /// start or stop, no freeze or thaw, no partition and no loss, the
    /// running nodes must agree on one claimant whenever a majority of the
    /// members runs and one of them may serve (`no recovery`).
    pub fn set_recovery_limit(&mut self, limit: Duration) {
        self.recovery_limit = limit;
    }

    /// Records whether the network loses datagrams from now on.
    pub fn set_lossy(&mut self, at: Duration, lossy: bool) {
        self.disturbed(at);
        self.lossy = lossy;
    }

    /// Something happened that the cluster must recover from.
    fn disturbed(&mut self, at: Duration) {
        self.advance(at);
        self.calm_since = at;
        self.calm_judged = false;
    }

    /// Judges liveness at the end of a calm period, with the state as it
    /// has been since the last entry.
    fn judge_recovery(&mut self, now: Duration) {
        let Some(due) = self.calm_since.checked_add(self.recovery_limit) else {
            return;
        };
        if self.calm_judged || now < due {
            return;
        }
        self.calm_judged = true;
        // A host thawed before the deadline claims again if it still does.
        self.settle_thaws(due);
        let n = self.hosts.len();
        let live = (0..n).filter(|h| self.is_live(*h)).count();
        let owed = self.partition_since.is_none()
            && !self.lossy
            && self.lost_at.is_none()
            && self.hosts.iter().all(|h| !h.frozen)
            && live * 2 > self.members()
            && (0..n)
                .any(|h| self.hosts[h].running && self.hosts[h].healthy && !self.hosts[h].draining);
        if !owed {
            return;
        }
        let claimants: Vec<usize> = self.claimants.iter().copied().collect();
        if !self.agreed() {
            let mut namings: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
            for h in (0..n).filter(|h| self.hosts[*h].running) {
                namings.entry(self.hosts[h].naming).or_default().push(h);
            }
            // The smaller groups are named, as they are usually the stragglers.
            let largest = namings.values().map(Vec::len).max().unwrap_or(0);
            let detail = format!(
                "{:?} after the last fault the running nodes name {} and {} claim{}",
                self.recovery_limit,
                namings
                    .iter()
                    .map(|(p, hosts)| {
                        let named =
                            p.map_or("nobody".to_string(), |p| self.hosts[p].name.to_string());
                        if hosts.len() < largest && hosts.len() <= 3 {
                            let by: Vec<&str> =
                                hosts.iter().map(|h| &*self.hosts[*h].name).collect();
                            format!("{named} (by {})", by.join(", "))
                        } else {
                            named
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                claimants.len(),
                if claimants.len() == 1 { "s" } else { "" }
            );
            self.breach(due, "no recovery", &claimants, detail);
        }
    }

    /// Registers a host (its index is the next one).
    pub fn add_host(&mut self, name: Arc<str>) {
        let n = self.hosts.len() + 1;
        for host in &mut self.hosts {
            host.view.push(UNKNOWN);
        }
        self.hosts.push(HostState::new(name.clone(), n));
        if let Some(timeline) = &mut self.timeline {
            timeline.names.push(name);
            timeline
                .naming
                .push(vec![(Duration::ZERO, Naming::NotRunning)]);
        }
    }

    fn is_live(&self, host: usize) -> bool {
        self.hosts[host].running && !self.hosts[host].frozen
    }

    /// Hosts that count towards the quorum: started and not left.
    fn members(&self) -> usize {
        self.expected_members.unwrap_or(self.member_count)
    }

    fn side_size(&self, side: u16) -> usize {
        self.side_running.get(&side).copied().unwrap_or(0)
    }

    fn set_running(&mut self, host: usize, running: bool) {
        if self.hosts[host].running != running {
            self.hosts[host].running = running;
            if self.hosts[host].unadmitted {
                self.running_count = if running {
                    self.running_count + 1
                } else {
                    self.running_count - 1
                };
                return;
            }
            let count = self.side_running.entry(self.hosts[host].side).or_default();
            if running {
                *count += 1;
                self.running_count += 1;
            } else {
                *count = count.saturating_sub(1);
                self.running_count -= 1;
            }
        }
    }

    fn on_minority_at_heal(&self, host: usize) -> bool {
        self.side_size(self.hosts[host].side) * 2 <= self.members()
    }

    fn on_minority(&self, host: usize) -> bool {
        self.partition_since.is_some()
            && self.side_size(self.hosts[host].side) * 2 <= self.members()
    }

    /// The host most live hosts name primary.
    pub fn consensus_primary(&self) -> Option<usize> {
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for host in 0..self.hosts.len() {
            if self.is_live(host)
                && let Some(primary) = self.hosts[host].naming
            {
                *counts.entry(primary).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(host, count)| (*count, std::cmp::Reverse(*host)))
            .map(|(host, _)| host)
    }

    /// Whether `host` is running, not frozen, joined and serving.
    pub fn is_serving(&self, host: usize) -> bool {
        self.is_live(host)
            && self.hosts[host].joined
            && self.hosts[host].healthy
            && !self.hosts[host].draining
    }

    /// Whether a host is running (started and not stopped).
    pub fn is_running(&self, host: usize) -> bool {
        self.hosts[host].running
    }

    /// Whether a host is frozen.
    pub fn is_frozen(&self, host: usize) -> bool {
        self.hosts[host].frozen
    }

    /// Whether a host's checks are (configured) passing.
    pub fn is_healthy(&self, host: usize) -> bool {
        self.hosts[host].healthy
    }

    /// The side a host is on.
    pub fn side(&self, host: usize) -> u16 {
        self.hosts[host].side
    }

    /// Hosts that have left.
    pub fn has_left(&self, host: usize) -> bool {
        self.hosts[host].left
    }

    /// Accumulates time-weighted figures up to `now`.
    fn advance(&mut self, now: Duration) {
        self.judge_recovery(now);
        if now <= self.last {
            return;
        }
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

    fn breach(&mut self, at: Duration, invariant: &'static str, nodes: &[usize], detail: String) {
        self.breaches.push(Breach {
            at_s: at.as_secs_f64(),
            invariant,
            nodes: nodes
                .iter()
                .map(|n| self.hosts[*n].name.to_string())
                .collect(),
            detail,
        });
    }

    /// Takes one entry of the log.
    pub fn observe(&mut self, entry: &LogEntry) {
        self.settle_thaws(entry.at);
        self.advance(entry.at);
        self.line.clear();
        let _ = write!(
            self.line,
            "{}|{}|{:?}",
            entry.at.as_nanos(),
            entry.host,
            entry.what
        );
        for byte in self.line.bytes() {
            self.digest ^= u64::from(byte);
            self.digest = self.digest.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let host = entry.host;
        if !matches!(entry.what, Logged::Node(_)) {
            self.disturbed(entry.at);
        }
        match &entry.what {
            Logged::Started { incarnation } => {
                self.sides_changed = entry.at;
                if self.hosts[host].unheard_leave {
                    self.hosts[host].unheard_leave = false;
                } else if !self.hosts[host].started_ever || self.hosts[host].left {
                    if self.partition_since.is_some()
                        && self.side_size(self.hosts[host].side) * 2 <= self.members()
                    {
                        self.hosts[host].unadmitted = true;
                    } else {
                        self.member_count += 1;
                    }
                }
                self.set_running(host, true);
                let open_join = Some(self.joins.len());
                let state = &mut self.hosts[host];
                state.frozen = false;
                state.left = false;
                state.joined = false;
                state.started_ever = true;
                state.draining = false;
                state.life = *incarnation;
                state.open_join = open_join;
                self.joins.push(JoinTracker {
                    started: entry.at,
                    joined: None,
                    converged: None,
                });
                self.set_naming(entry.at, host, None);
            }
            Logged::Stopped => self.stopped(entry.at, host),
            Logged::Frozen => {
                self.hosts[host].frozen = true;
                self.hosts[host].disrupted = true;
                self.set_claiming(entry.at, host, false, true);
                self.mark_naming(entry.at, host, Naming::Frozen);
                self.check_agreement(entry.at);
                self.excuse_failovers_without_majority();
            }
            Logged::Thawed => {
                self.hosts[host].frozen = false;
                let naming = self.naming_of(host);
                self.mark_naming(entry.at, host, naming);
                self.thawing.push((host, entry.at));
            }
            Logged::Node(event) => self.node_event(entry.at, host, event),
        }
    }

    /// A thawed host that still claims once time moves on counts again.
    fn settle_thaws(&mut self, now: Duration) {
        if self.thawing.is_empty() {
            return;
        }
        let (due, waiting): (Vec<_>, Vec<_>) =
            self.thawing.drain(..).partition(|(_, at)| *at < now);
        self.thawing = waiting;
        for (host, at) in due {
            if self.hosts[host].claiming && self.is_live(host) {
                self.set_claiming(at, host, true, true);
            }
        }
    }

    /// A leave during a partition is heard while a running member on the
    /// leaver's side remains to carry it past the heal.
    fn drop_unheard_leaves(&mut self) {
        for host in 0..self.hosts.len() {
            let Some(side) = self.hosts[host].heard_on_side else {
                continue;
            };
            let carried =
                self.hosts.iter().enumerate().any(|(h, other)| {
                    h != host && other.running && !other.left && other.side == side
                });
            if !carried {
                self.hosts[host].heard_on_side = None;
                self.hosts[host].unheard_leave = true;
                self.member_count += 1;
            }
        }
    }

    /// Excuses the failovers still owed when no side keeps a majority of
    /// the members running and unfrozen.
    fn excuse_failovers_without_majority(&mut self) {
        let mut per_side: BTreeMap<u16, usize> = BTreeMap::new();
        for h in 0..self.hosts.len() {
            if self.is_live(h) && !self.hosts[h].left && !self.hosts[h].unadmitted {
                *per_side.entry(self.hosts[h].side).or_default() += 1;
            }
        }
        if per_side.values().any(|count| count * 2 > self.members()) {
            return;
        }
        for tracker in &mut self.faults {
            if tracker.failover_from.is_some() && tracker.report.failover_s.is_none() {
                tracker.excused = true;
            }
        }
    }

    /// Whether a member that had joined still runs (or is frozen, holding
    /// its state); if none does, the cluster is lost.
    fn check_lost(&mut self, at: Duration) {
        let holds_state = self.hosts.iter().any(|h| h.running && h.joined);
        if !holds_state && self.lost_at.is_none() {
            tracing::debug!("every member stopped or left: the cluster is lost");
            self.lost_at = Some(at);
        }
    }

    fn stopped(&mut self, at: Duration, host: usize) {
        self.hosts[host].disrupted = true;
        self.set_claiming(at, host, false, false);
        self.hosts[host].claiming = false;
        self.set_running(host, false);
        self.sides_changed = at;
        self.drop_unheard_leaves();
        self.hosts[host].frozen = false;
        self.hosts[host].naming = None;
        self.mark_naming(at, host, Naming::NotRunning);
        // Its view no longer counts.
        for target in 0..self.hosts.len() {
            if self.hosts[host].view[target] == ALIVE {
                self.hosts[target].seen_alive_by =
                    self.hosts[target].seen_alive_by.saturating_sub(1);
            }
            self.hosts[host].view[target] = UNKNOWN;
        }
        self.hosts[host].sees_alive = 0;
        self.check_lost(at);
        self.excuse_failovers_without_majority();
        self.forget_unremembered_terms();
    }

    /// A term that no running node knows any more is gone with the nodes
    /// that knew it: the simulator keeps no data directory (the agent keeps
    /// the highest term in `--data-dir`), so the next claim may take it
    /// again. Only the terms some running node still knows must be passed.
    fn forget_unremembered_terms(&mut self) {
        let remembered = self
            .hosts
            .iter()
            .filter(|h| h.running)
            .map(|h| {
                let (life, term) = h.view_term;
                if life == h.life { term } else { 0 }
            })
            .max()
            .unwrap_or(0);
        if remembered < self.max_claim_term.0 {
            tracing::debug!(
                forgotten = self.max_claim_term.0,
                remembered,
                "no running node knows the highest term claimed"
            );
            self.max_claim_term.0 = remembered;
        }
    }

    fn naming_of(&self, host: usize) -> Naming {
        match self.hosts[host].naming {
            Some(p) => Naming::Primary(p),
            None => Naming::Nobody,
        }
    }

    fn mark_naming(&mut self, at: Duration, host: usize, naming: Naming) {
        if let Some(timeline) = &mut self.timeline {
            let row = &mut timeline.naming[host];
            if row.last().map(|(_, n)| *n) != Some(naming) {
                row.push((at, naming));
            }
        }
    }

    fn set_naming(&mut self, at: Duration, host: usize, primary: Option<usize>) {
        self.hosts[host].naming = primary;
        if !self.hosts[host].frozen && self.hosts[host].running {
            let naming = self.naming_of(host);
            self.mark_naming(at, host, naming);
        }
        self.check_failovers(at);
        self.check_agreement(at);
    }

    /// Whether one live node claims and every running node names it.
    /// One node claims and every live node names it (a frozen node names
    /// nothing anyone can see: it answers nobody).
    fn agreed(&self) -> bool {
        let mut claimants = self.claimants.iter();
        match (claimants.next(), claimants.next()) {
            (Some(one), None) => (0..self.hosts.len())
                .filter(|h| self.is_live(*h))
                .all(|h| self.hosts[h].naming == Some(*one)),
            _ => false,
        }
    }

    fn check_agreement(&mut self, at: Duration) {
        if self
            .faults
            .last()
            .is_none_or(|t| t.report.recovered_s.is_some())
            || !self.agreed()
        {
            return;
        }
        for tracker in self.faults.iter_mut().rev() {
            if tracker.report.recovered_s.is_some() {
                break;
            }
            tracker.report.recovered_s = Some(at.saturating_sub(tracker.at).as_secs_f64());
        }
    }

    /// Records a change of claim. `quiet` changes (freezing, thawing) do not
    /// run the take-over checks: the claim itself did not change.
    fn set_claiming(&mut self, at: Duration, host: usize, claiming: bool, quiet: bool) {
        let counted = claiming && self.is_live(host);
        if counted {
            if self.claimants.insert(host) {
                self.open_claims.insert(host, at);
            }
        } else if self.claimants.remove(&host) {
            // DESIGN: a primary that loses its quorum (a partition, or the
            // crash or freeze of enough other members) drops its rank, and
            // the role may go to whoever ranks first when the members are
            // back.
            let live_members = (0..self.hosts.len())
                .filter(|h| self.is_live(*h) && !self.hosts[*h].unadmitted && !self.hosts[*h].left)
                .count();
            if !self.is_serving(host)
                || self.on_minority(host)
                || live_members * 2 <= self.members()
            {
                self.hosts[host].disrupted = true;
            }
            if let Some(from) = self.open_claims.remove(&host)
                && let Some(timeline) = &mut self.timeline
            {
                timeline.claims.push((from, at, host));
            }
        }
        if counted && !quiet {
            self.first_claim = true;
            if !self.hosts[host].joined {
                self.breach(
                    at,
                    "claim before join",
                    &[host],
                    "a node claimed the role before it joined".into(),
                );
            }
            if let Some(previous) = self.last_claimant
                && previous != host
                && !self.hosts[previous].disrupted
                && self.is_serving(previous)
                && !self.on_minority(previous)
            {
                self.breach(
                    at,
                    "working primary lost the role",
                    &[previous, host],
                    format!(
                        "{} took the role while {} was running, healthy and not draining",
                        self.hosts[host].name, self.hosts[previous].name
                    ),
                );
            }
            self.last_claimant = Some(host);
            self.hosts[host].disrupted = false;
        }
        self.check_claimants(at);
        self.check_agreement(at);
    }

    fn check_claimants(&mut self, at: Duration) {
        let claimants: Vec<usize> = self.claimants.iter().copied().collect();
        if claimants.len() >= 2 {
            if self.two_claimants_since.is_none() {
                self.two_claimants_since = Some(at);
                let sides: BTreeSet<u16> = claimants.iter().map(|c| self.hosts[*c].side).collect();
                if self.partition_since.is_none() {
                    self.breach(
                        at,
                        "two claimants",
                        &claimants,
                        "more than one node claimed the role with no partition".into(),
                    );
                } else if sides.len() >= 2 {
                    self.breach(
                        at,
                        "split brain",
                        &claimants,
                        "nodes on both sides of a partition claimed the role".into(),
                    );
                }
            }
        } else {
            self.two_claimants_since = None;
        }
        if let Some(since) = self.partition_since
            && !self.minority_breached
            && at > since.max(self.sides_changed) + self.minority_grace
            && let Some(c) = claimants.iter().copied().find(|c| self.on_minority(*c))
        {
            self.minority_breached = true;
            self.breach(
                at,
                "minority claims",
                &[c],
                format!(
                    "a node cut off with a minority still claimed the role {:?} after the partition",
                    at - since
                ),
            );
        }
    }

    fn node_event(&mut self, at: Duration, host: usize, event: &Event) {
        match event {
            Event::Joined { .. } => {
                self.hosts[host].joined = true;
                if let Some(index) = self.hosts[host].open_join
                    && self.joins[index].joined.is_none()
                {
                    self.joins[index].joined = Some(at);
                }
                self.check_join(at, host);
            }
            Event::Left => {
                if !self.hosts[host].left && !self.hosts[host].unadmitted {
                    self.member_count = self.member_count.saturating_sub(1);
                    if self.partition_since.is_some() {
                        self.hosts[host].heard_on_side = Some(self.hosts[host].side);
                    }
                }
                self.hosts[host].left = true;
                self.hosts[host].joined = false;
                self.check_lost(at);
                self.excuse_failovers_without_majority();
            }
            Event::RoleChanged { primary, term } => {
                tracing::debug!(host = %self.hosts[host].name, primary, term, "role");
                if !*primary && self.partition_since.is_some() {
                    // A side counted as a majority may hold hosts that are
                    // running but not (yet) members, such as a replacement
                    // waiting for its old life to be declared down: a claim
                    // dropped there for want of a majority is no fault.
                    let side = self.hosts[host].side;
                    let members_on_side = (0..self.hosts.len())
                        .filter(|h| {
                            self.hosts[*h].side == side && self.is_live(*h) && self.hosts[*h].joined
                        })
                        .count();
                    if members_on_side * 2 <= self.members() {
                        self.hosts[host].disrupted = true;
                    }
                }
                if *primary {
                    self.check_term(at, host, *term);
                }
                self.hosts[host].claiming = *primary;
                self.set_claiming(at, host, *primary, false);
            }
            Event::PrimaryChanged { current, .. } => {
                let primary = current.as_deref().and_then(host_of);
                self.set_naming(at, host, primary);
            }
            Event::MemberState {
                name,
                incarnation,
                current,
                ..
            } => {
                if let Some(target) = host_of(name) {
                    self.member_state(at, host, target, *incarnation, *current);
                }
            }
            Event::MemberHealth { name, status } => {
                if *status == HealthStatus::Failing
                    && let Some(target) = host_of(name)
                {
                    self.noticed(at, host, target, Symptom::Failing);
                }
            }
            Event::Rejoined { incarnation, .. } => {
                self.hosts[host].life = *incarnation;
                self.hosts[host].recovering = false;
            }
            Event::JoinRefused { .. } | Event::MemberReaped { .. } => {}
        }
    }

    /// A new claim must take a term above every earlier claim's, and no two
    /// claimants may hold one term.
    fn check_term(&mut self, at: Duration, host: usize, term: u64) {
        let (max, by) = self.max_claim_term;
        if term <= max {
            self.breach(
                at,
                "term not increasing",
                &[host, by],
                format!(
                    "a claim took term {term}, but {} had claimed term {max}",
                    self.hosts[by].name
                ),
            );
        }
        if let Some(other) = self
            .claimants
            .iter()
            .copied()
            .find(|c| *c != host && self.hosts[*c].claim_term == term)
        {
            self.breach(
                at,
                "shared term",
                &[host, other],
                format!("two claimants hold term {term}"),
            );
        }
        self.hosts[host].claim_term = term;
        if term > max {
            self.max_claim_term = (term, host);
        }
    }

    /// The highest term a host's view reports, sampled: it must never go
    /// down within one life.
    pub fn view_term(&mut self, at: Duration, host: usize, term: u64) {
        let (life, seen) = self.hosts[host].view_term;
        if life == self.hosts[host].life && term < seen {
            self.breach(
                at,
                "term went backwards",
                &[host],
                format!("the view's highest term fell from {seen} to {term}"),
            );
        }
        self.hosts[host].view_term = (
            self.hosts[host].life,
            term.max(if life == self.hosts[host].life {
                seen
            } else {
                0
            }),
        );
    }

    fn member_state(
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
        if new == DOWN
            && self.hosts[target].running
            && !self.hosts[target].frozen
            && !self.hosts[target].recovering
            && self.hosts[target].life == incarnation
            && self.hosts[target].side == self.hosts[observer].side
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

    fn check_join(&mut self, at: Duration, host: usize) {
        let live = self.running_count;
        if !self.hosts[host].running || !self.hosts[host].joined {
            return;
        }
        let everyone_sees_it = self.hosts[host].seen_alive_by + 1 >= live;
        let it_sees_everyone = self.hosts[host].sees_alive + 1 >= live;
        if everyone_sees_it
            && it_sees_everyone
            && let Some(index) = self.hosts[host].open_join.take()
        {
            self.joins[index].converged = Some(at);
        }
    }

    fn noticed(&mut self, at: Duration, observer: usize, target: usize, symptom: Symptom) {
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
    pub fn fault(
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

    /// Puts `host` on a side of a partition (`side` 0 is the default).
    pub fn place(&mut self, at: Duration, host: usize, side: u16) {
        self.advance(at);
        if self.hosts[host].running && !self.hosts[host].unadmitted {
            let old = self.side_running.entry(self.hosts[host].side).or_default();
            *old = old.saturating_sub(1);
            *self.side_running.entry(side).or_default() += 1;
        }
        self.hosts[host].side = side;
        self.sides_changed = at;
    }

    /// A partition starts or ends.
    pub fn partitioned(&mut self, at: Duration, active: bool) {
        self.disturbed(at);
        if active {
            self.partition_since.get_or_insert(at);
            self.minority_breached = false;
            for host in 0..self.hosts.len() {
                if self.on_minority(host) {
                    self.hosts[host].disrupted = true;
                }
            }
            // A partition tracker counts, per observer, hosts on other sides.
            let n = self.hosts.len();
            let running: Vec<usize> = (0..n).filter(|h| self.hosts[*h].running).collect();
            // The primary cut off with a minority must be replaced, if some
            // side kept a majority to replace it (otherwise `no recovery`
            // judges what happens after the heal).
            let majority_side = (0..n).any(|h| self.hosts[h].running && !self.on_minority(h));
            let primary = self
                .consensus_primary()
                .filter(|p| self.on_minority(*p) && majority_side);
            let primary_name = primary.map(|p| self.hosts[p].name.to_string());
            // An earlier partition, replaced by this one before anyone took
            // over, owes no failover from a primary that is no longer cut
            // off with a minority.
            for index in 0..self.faults.len() {
                let tracker = &self.faults[index];
                if tracker.report.failover_s.is_none()
                    && tracker.symptom == Symptom::Partition
                    && let Some(from) = tracker.failover_from
                    && self.hosts[from].running
                    && !self.on_minority(from)
                {
                    self.faults[index].excused = true;
                }
            }
            if let Some(tracker) = self.faults.last_mut()
                && tracker.symptom == Symptom::Partition
            {
                if primary.is_some() {
                    tracker.failover_from = primary;
                    tracker.report.old_primary = primary_name;
                }
                tracker.targets = running.clone();
                tracker.lives = running.iter().map(|h| self.hosts[*h].life).collect();
                let hosts = &self.hosts;
                for (observer, count) in tracker.progress.iter_mut() {
                    // Hosts on its own side will never be seen down: count
                    // them as noticed already.
                    *count = running
                        .iter()
                        .filter(|h| hosts[**h].side == hosts[*observer].side)
                        .count();
                }
            }
            // A partition that leaves no side a majority of the members
            // running unfrozen makes every failover still owed impossible.
            self.excuse_failovers_without_majority();
        } else {
            self.partition_since = None;
            for host in 0..self.hosts.len() {
                if self.on_minority_at_heal(host) {
                    self.hosts[host].recovering = true;
                }
            }
            for host in &mut self.hosts {
                host.heard_on_side = None;
                host.side = 0;
            }
            let counted = (0..self.hosts.len())
                .filter(|h| self.hosts[*h].running && !self.hosts[*h].unadmitted)
                .count();
            self.side_running.clear();
            self.side_running.insert(0, counted);
        }
        let at_now = at;
        self.check_claimants(at_now);
    }

    /// The network is whole again (a heal, not a partition replacing
    /// another at the same instant): hosts that started on a side without
    /// a majority can now be admitted, and count as members from here.
    pub fn network_whole(&mut self, at: Duration) {
        // Nothing may change at a heal: the nodes may agree on one
        // claimant already (a short cut that nobody acted on).
        self.check_agreement(at);
        self.advance(at);
        for host in 0..self.hosts.len() {
            if std::mem::take(&mut self.hosts[host].unadmitted) {
                if self.hosts[host].running && !self.hosts[host].left {
                    self.member_count += 1;
                    *self.side_running.entry(self.hosts[host].side).or_default() += 1;
                } else {
                    // Gone before anyone admitted it: a later start is a
                    // newcomer again.
                    self.hosts[host].started_ever = false;
                    self.hosts[host].left = false;
                }
            }
        }
        self.check_claimants(at);
    }

    /// Records a configured health or drain change.
    pub fn set_health(&mut self, host: usize, healthy: bool) {
        self.hosts[host].healthy = healthy;
        if !healthy {
            self.hosts[host].disrupted = true;
        }
    }

    /// Records a drain or resume.
    pub fn set_draining(&mut self, host: usize, draining: bool) {
        self.hosts[host].draining = draining;
        if draining {
            self.hosts[host].disrupted = true;
        }
    }

    fn check_failovers(&mut self, at: Duration) {
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

    /// Ends the run at `end`: closes open intervals and checks what never
    /// happened.
    pub fn finish(&mut self, end: Duration, failover_limit: Duration) {
        self.settle_thaws(end + Duration::from_nanos(1));
        self.advance(end);
        for index in 0..self.faults.len() {
            let tracker = &self.faults[index];
            // A short freeze may pass unnoticed, and the role rightly stays.
            let required = tracker.report.kind != "freeze";
            let lost_first = self
                .lost_at
                .is_some_and(|lost| lost <= tracker.at + failover_limit);
            if required
                && !lost_first
                && !tracker.excused
                && tracker.failover_from.is_some()
                && tracker.report.failover_s.is_none()
                // One primary named by every node again in time (the old one
                // too, where the fault passed before anyone replaced it) is
                // what `no recovery` asks; no failover was owed.
                && tracker
                    .report
                    .recovered_s
                    .is_none_or(|s| s > failover_limit.as_secs_f64())
                && end > tracker.at + failover_limit
            {
                let from = tracker.failover_from.unwrap_or_default();
                let at = tracker.at;
                self.breach(
                    at + failover_limit,
                    "no failover",
                    &[from],
                    format!(
                        "the live nodes did not agree on a new primary within {failover_limit:?}"
                    ),
                );
            }
        }
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
    pub fn fault_reports(&self) -> Vec<FaultReport> {
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
    pub fn safety(&self) -> Safety {
        self.safety.clone()
    }

    /// Join figures.
    pub fn joins(&self) -> Joins {
        let asked: Vec<&JoinTracker> = self.joins.iter().collect();
        let joined: Vec<f64> = asked
            .iter()
            .filter_map(|j| j.joined.map(|t| (t - j.started).as_secs_f64()))
            .collect();
        let converged: Vec<f64> = asked
            .iter()
            .filter_map(|j| j.converged.map(|t| (t - j.started).as_secs_f64()))
            .collect();
        Joins {
            started: asked.len(),
            joined: Stats::of(&joined),
            converged: Stats::of(&converged),
            unconverged: asked.len() - converged.len(),
        }
    }

    /// Broken invariants, in time order.
    pub fn breaches(&self) -> Vec<Breach> {
        let mut breaches = self.breaches.clone();
        breaches.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        breaches
    }

    /// At the end: the primary every live host names, if they agree.
    pub fn agreed_primary(&self) -> Option<String> {
        let mut named = (0..self.hosts.len())
            .filter(|h| self.is_live(*h))
            .map(|h| self.hosts[h].naming);
        let first = named.next()??;
        named
            .all(|n| n == Some(first))
            .then(|| self.hosts[first].name.to_string())
    }

    /// The hosts that claim the role now.
    pub fn claimant_names(&self) -> Vec<String> {
        self.claimants
            .iter()
            .map(|c| self.hosts[*c].name.to_string())
            .collect()
    }

    /// Hash of everything observed, in order: equal for equal runs.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Sum over hosts of the seconds each ran.
    pub fn node_seconds(&self) -> f64 {
        self.node_seconds
    }

    /// The plot data, if kept.
    pub fn take_timeline(&mut self) -> Option<Timeline> {
        self.timeline.take()
    }

    /// The phase a host is in, as the observer tracks it.
    pub fn phase(&self, host: usize) -> Phase {
        if self.hosts[host].left {
            Phase::Left
        } else if self.hosts[host].joined {
            Phase::Joined
        } else {
            Phase::Joining
        }
    }

    /// Number of hosts.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::{LogEntry, Logged};

    fn observer(hosts: usize) -> Observer {
        let mut observer = Observer::new(None, Duration::from_secs(5), false);
        for host in 0..hosts {
            observer.add_host(Arc::from(format!("node-{host}")));
            observer.observe(&LogEntry {
                at: Duration::ZERO,
                host,
                what: Logged::Started { incarnation: 1 },
            });
        }
        observer
    }

    fn claim(observer: &mut Observer, at_s: u64, host: usize, primary: bool, term: u64) {
        observer.observe(&LogEntry {
            at: Duration::from_secs(at_s),
            host,
            what: Logged::Node(Event::RoleChanged { primary, term }),
        });
    }

    fn invariants(observer: &Observer) -> Vec<&'static str> {
        observer.breaches().iter().map(|b| b.invariant).collect()
    }

    #[test]
    fn increasing_terms_pass() {
        let mut observer = observer(2);
        claim(&mut observer, 1, 0, true, 1);
        claim(&mut observer, 2, 0, false, 1);
        claim(&mut observer, 3, 1, true, 2);
        observer.view_term(Duration::from_secs(3), 0, 1);
        observer.view_term(Duration::from_secs(4), 0, 2);
        assert!(
            !invariants(&observer).iter().any(|i| i.contains("term")),
            "{:?}",
            observer.breaches()
        );
    }

    #[test]
    fn a_reused_term_is_a_breach() {
        let mut observer = observer(2);
        claim(&mut observer, 1, 0, true, 3);
        claim(&mut observer, 2, 1, true, 3);
        let found = invariants(&observer);
        assert!(found.contains(&"shared term"), "{found:?}");
        assert!(found.contains(&"term not increasing"), "{found:?}");
    }

    #[test]
    fn a_view_term_going_down_is_a_breach_within_one_life_only() {
        let mut observer = observer(1);
        observer.view_term(Duration::from_secs(1), 0, 4);
        observer.view_term(Duration::from_secs(2), 0, 3);
        assert_eq!(invariants(&observer), ["term went backwards"]);

        // A restart is a new life that starts knowing no term.
        observer.observe(&LogEntry {
            at: Duration::from_secs(3),
            host: 0,
            what: Logged::Started { incarnation: 2 },
        });
        observer.view_term(Duration::from_secs(4), 0, 0);
        assert_eq!(invariants(&observer).len(), 1);
    }
}
