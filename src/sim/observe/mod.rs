//! Watches a simulation from outside: measures detection, failover, safety
//! and joins, and checks DESIGN's invariants, from the ordered log of what
//! happened ([`LogEntry`]) and the faults the runner applied.
//!
//! Everything is incremental: one log entry updates a few counters, so the
//! observer keeps up with a thousand nodes.
//!
//! This module keeps what the observer knows of each host (`HostState`) and
//! of the cluster, and turns each log entry into updates of it; the rest is
//! split by what it is for:
//!
//! - `membership`: who counts as a member, and on which side;
//! - `measure`: detection, failover, join and safety figures;
//! - `invariants`: the rules a run must keep, and their breaches.

mod invariants;
mod measure;
mod membership;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{LogEntry, Logged};
use super::timeline::{Naming, Timeline};
use crate::core::{Event, HealthStatus, MemberState};

pub(super) use invariants::Breach;
pub(super) use measure::{FaultReport, Joins, Safety, Stats, Symptom};
use measure::{FaultTracker, JoinTracker};

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
pub(super) fn host_of(name: &str) -> Option<usize> {
    name.strip_prefix("node-")?.parse().ok()
}

/// What the observer knows of one host, in `Observer`'s `hosts`, by host
/// index; what it knows of the whole cluster stays in [`Observer`] itself.
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
    /// Slow: running, but handling every input late (a starved CPU).
    slow: bool,
    /// Its claim, under a lease, holds until then whether or not its node
    /// ran since: the health endpoint answers by the deadline.
    claim_until: Option<Duration>,
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
    /// since it last started claiming (off a minority side) or was last
    /// named by every live node with no partition: it may lose the role;
    /// any other host losing it is a breach.
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
            slow: false,
            claim_until: None,
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
pub(super) struct Observer {
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
    /// The partition in force cuts only from side 0 to side 1: side 1 is
    /// still heard everywhere.
    one_way: bool,
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
    pub(super) fn new(
        expected_members: Option<usize>,
        minority_grace: Duration,
        plot: bool,
    ) -> Self {
        Self {
            hosts: Vec::new(),
            expected_members,
            minority_grace,
            side_running: BTreeMap::new(),
            running_count: 0,
            member_count: 0,
            partition_since: None,
            one_way: false,
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
    pub(super) fn set_recovery_limit(&mut self, limit: Duration) {
        self.recovery_limit = limit;
    }

    /// Records whether the network loses datagrams from now on.
    pub(super) fn set_lossy(&mut self, at: Duration, lossy: bool) {
        self.disturbed(at);
        self.lossy = lossy;
    }

    /// Something happened that the cluster must recover from.
    fn disturbed(&mut self, at: Duration) {
        self.advance(at);
        self.calm_since = at;
        self.calm_judged = false;
    }

    /// Registers a host (its index is the next one).
    pub(super) fn add_host(&mut self, name: Arc<str>) {
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

    /// Running and not frozen: it answers.
    fn is_live(&self, host: usize) -> bool {
        self.hosts[host].running && !self.hosts[host].frozen
    }

    /// The host most live hosts name primary.
    pub(super) fn consensus_primary(&self) -> Option<usize> {
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
    pub(super) fn is_serving(&self, host: usize) -> bool {
        self.is_live(host)
            && self.hosts[host].joined
            && self.hosts[host].healthy
            && !self.hosts[host].draining
    }

    /// Whether `host`'s claim, if it claims under a lease, still holds at
    /// `at`.
    fn claim_holds(&self, host: usize, at: Duration) -> bool {
        self.hosts[host].claim_until.is_none_or(|until| at < until)
    }

    /// Claims whose lease ran out before `now` end at their deadline, as
    /// the health endpoint ends them, whether or not the node has run.
    fn lapse_claims(&mut self, now: Duration) {
        while let Some((until, host)) = self
            .claimants
            .iter()
            .filter_map(|c| self.hosts[*c].claim_until.map(|u| (u, *c)))
            .filter(|(until, _)| *until <= now)
            .min()
        {
            self.advance(until);
            self.set_claiming(until, host, false, false);
        }
    }

    /// Takes one entry of the log.
    pub(super) fn observe(&mut self, entry: &LogEntry) {
        self.settle_thaws(entry.at);
        self.lapse_claims(entry.at);
        self.advance(entry.at);
        self.line.clear();
        let _ = write!(self.line, "{}|{}|", entry.at.as_nanos(), entry.host);
        match &entry.what {
            // The digest hashes each entry's text as it was when the
            // recorded digests were taken; the event's field has been
            // renamed (`primary` to `claiming`) since, its text has not.
            Logged::Node(Event::RoleChanged { claiming, term }) => {
                let _ = write!(
                    self.line,
                    "Node(RoleChanged {{ primary: {claiming}, term: {term} }})"
                );
            }
            what => {
                let _ = write!(self.line, "{what:?}");
            }
        }
        for byte in self.line.bytes() {
            self.digest ^= u64::from(byte);
            self.digest = self.digest.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let host = entry.host;
        if !matches!(entry.what, Logged::Node(_) | Logged::ClaimDeadline { .. }) {
            self.disturbed(entry.at);
        }
        match &entry.what {
            Logged::Started { incarnation } => {
                self.sides_changed = entry.at;
                if self.hosts[host].unheard_leave {
                    self.hosts[host].unheard_leave = false;
                } else if !self.hosts[host].started_ever || self.hosts[host].left {
                    if self.admits_nobody(self.hosts[host].side) {
                        self.hosts[host].unadmitted = true;
                    } else {
                        self.member_count += 1;
                    }
                }
                self.set_running(host, true);
                self.admit_waiting();
                let open_join = Some(self.joins.len());
                let state = &mut self.hosts[host];
                state.frozen = false;
                state.slow = false;
                state.claim_until = None;
                state.left = false;
                state.joined = false;
                state.started_ever = true;
                state.draining = false;
                state.life = *incarnation;
                state.open_join = open_join;
                self.joins.push(JoinTracker {
                    started: entry.at,
                    joined: None,
                    seen: None,
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
            Logged::Slowed { .. } => {
                // A slow primary may lose the role (once, cleanly); a slow
                // secondary must cost the primary nothing.
                self.hosts[host].slow = true;
                self.hosts[host].disrupted = true;
            }
            Logged::Quickened => self.hosts[host].slow = false,
            Logged::ClaimDeadline { until } => {
                self.hosts[host].claim_until = *until;
                // A renewal that comes back after a lapse counts the claim
                // again; one that ran out ends it now.
                let claiming = self.hosts[host].claiming;
                if claiming {
                    self.set_claiming(entry.at, host, true, false);
                }
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
            if self.hosts[host].claiming && self.is_live(host) && self.claim_holds(host, at) {
                self.set_claiming(at, host, true, true);
            }
        }
    }

    /// A host crashed or stopped after leaving: its claim, its naming and
    /// its view end.
    fn stopped(&mut self, at: Duration, host: usize) {
        self.hosts[host].disrupted = true;
        self.set_claiming(at, host, false, false);
        self.hosts[host].claiming = false;
        self.hosts[host].claim_until = None;
        self.hosts[host].slow = false;
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

    /// What a running, unfrozen host names, for the timeline.
    fn naming_of(&self, host: usize) -> Naming {
        match self.hosts[host].naming {
            Some(p) => Naming::Primary(p),
            None => Naming::Nobody,
        }
    }

    /// Adds a change of what `host` names to the timeline, if kept.
    fn mark_naming(&mut self, at: Duration, host: usize, naming: Naming) {
        if let Some(timeline) = &mut self.timeline {
            let row = &mut timeline.naming[host];
            if row.last().map(|(_, n)| *n) != Some(naming) {
                row.push((at, naming));
            }
        }
    }

    /// `host` now names `primary`: failovers and recovery may be complete.
    fn set_naming(&mut self, at: Duration, host: usize, primary: Option<usize>) {
        self.hosts[host].naming = primary;
        if !self.hosts[host].frozen && self.hosts[host].running {
            let naming = self.naming_of(host);
            self.mark_naming(at, host, naming);
        }
        self.check_failovers(at);
        self.check_agreement(at);
    }

    /// An event `host`'s node emitted.
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
                    // A leave on the side a one-way cut still lets speak
                    // reaches every side: no side needs to carry it.
                    let heard_everywhere = self.one_way && self.hosts[host].side == 1;
                    if self.partition_since.is_some() && !heard_everywhere {
                        self.hosts[host].heard_on_side = Some(self.hosts[host].side);
                    }
                }
                self.hosts[host].left = true;
                self.hosts[host].joined = false;
                self.admit_waiting();
                self.check_lost(at);
                self.excuse_failovers_without_majority();
            }
            Event::RoleChanged { claiming, term } => {
                tracing::debug!(t = at.as_secs_f64(), host = %self.hosts[host].name, claiming, term, "role");
                if !*claiming && self.partition_since.is_some() {
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
                if *claiming {
                    self.check_term(at, host, *term);
                }
                self.hosts[host].claiming = *claiming;
                if !*claiming {
                    // A claim's deadline ends with it; the next claim's
                    // follows its start.
                    self.hosts[host].claim_until = None;
                }
                self.set_claiming(at, host, *claiming, false);
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

    /// Records a configured health or drain change.
    pub(super) fn set_health(&mut self, host: usize, healthy: bool) {
        self.hosts[host].healthy = healthy;
        if !healthy {
            self.hosts[host].disrupted = true;
        }
    }

    /// Records a drain or resume.
    pub(super) fn set_draining(&mut self, host: usize, draining: bool) {
        self.hosts[host].draining = draining;
        if draining {
            self.hosts[host].disrupted = true;
        }
    }

    /// Ends the run at `end`: closes open intervals and checks what never
    /// happened.
    pub(super) fn finish(&mut self, end: Duration, failover_limit: Duration) {
        self.settle_thaws(end + Duration::from_nanos(1));
        self.advance(end);
        self.check_failovers_happened(end, failover_limit);
        self.close_timeline(end);
    }

    /// At the end: the primary every live host names, if they agree.
    pub(super) fn agreed_primary(&self) -> Option<String> {
        let mut named = (0..self.hosts.len())
            .filter(|h| self.is_live(*h))
            .map(|h| self.hosts[h].naming);
        let first = named.next()??;
        named
            .all(|n| n == Some(first))
            .then(|| self.hosts[first].name.to_string())
    }

    /// The hosts that claim the role now.
    pub(super) fn claimant_names(&self) -> Vec<String> {
        self.claimants
            .iter()
            .map(|c| self.hosts[*c].name.to_string())
            .collect()
    }

    /// Hash of everything observed, in order: equal for equal runs.
    pub(super) fn digest(&self) -> u64 {
        self.digest
    }

    /// Sum over hosts of the seconds each ran.
    pub(super) fn node_seconds(&self) -> f64 {
        self.node_seconds
    }

    /// The plot data, if kept.
    pub(super) fn take_timeline(&mut self) -> Option<Timeline> {
        self.timeline.take()
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

    fn claim(observer: &mut Observer, at_s: u64, host: usize, claiming: bool, term: u64) {
        observer.observe(&LogEntry {
            at: Duration::from_secs(at_s),
            host,
            what: Logged::Node(Event::RoleChanged { claiming, term }),
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

    fn log(observer: &mut Observer, at_s: u64, host: usize, what: Logged) {
        observer.observe(&LogEntry {
            at: Duration::from_secs(at_s),
            host,
            what,
        });
    }

    #[test]
    fn newcomers_count_only_once_a_majority_of_the_members_runs() {
        // Six members, five crash: the sixth cannot admit anyone.
        let mut observer = observer(6);
        for host in 0..5 {
            log(&mut observer, 10, host, Logged::Stopped);
        }
        assert_eq!(observer.members(), 6);
        for _ in 0..5 {
            let host = observer.hosts.len();
            observer.add_host(Arc::from(format!("node-{host}")));
            log(&mut observer, 20, host, Logged::Started { incarnation: 2 });
        }
        assert_eq!(observer.members(), 6, "the newcomers wait");
        // The crashed come back: three of six running is no majority yet,
        // four is.
        log(&mut observer, 30, 0, Logged::Started { incarnation: 3 });
        log(&mut observer, 30, 1, Logged::Started { incarnation: 3 });
        assert_eq!(observer.members(), 6);
        log(&mut observer, 30, 2, Logged::Started { incarnation: 3 });
        assert_eq!(observer.members(), 11, "admitted once a majority runs");
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
