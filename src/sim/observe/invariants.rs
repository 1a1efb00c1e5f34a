//! The observer's invariant checks: DESIGN's rules for the role (one
//! claimant, and only on a majority side; claims only after joining; terms
//! that only rise; a working primary keeps the role) and its bounds on
//! failover and recovery. Each broken rule is recorded as a [`Breach`].
//! Kept apart from the measurements so the rules read in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::Observer;

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

impl Observer {
    /// Records a broken invariant.
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

    /// Judges liveness at the end of a calm period, with the state as it
    /// has been since the last entry.
    pub(super) fn judge_recovery(&mut self, now: Duration) {
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
        // Hosts still waiting to be admitted (see `admits_nobody`) are
        // no members yet: they make no majority.
        let live = (0..n)
            .filter(|h| self.is_live(*h) && !self.hosts[*h].unadmitted)
            .count();
        let owed = self.partition_since.is_none()
            && !self.lossy
            && self.lost_at.is_none()
            && self.hosts.iter().all(|h| !h.frozen && !h.slow)
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

    /// Once one node claims and every live node names it, the cluster has
    /// recovered from every fault since the last recovery.
    pub(super) fn check_agreement(&mut self, at: Duration) {
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
    pub(super) fn set_claiming(&mut self, at: Duration, host: usize, claiming: bool, quiet: bool) {
        let counted = claiming && self.is_live(host) && self.claim_holds(host, at);
        let mut started = false;
        if counted {
            if self.claimants.insert(host) {
                started = true;
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
            // What disrupted it is forgotten when a claim starts off a
            // minority side, or once the whole cluster named it again
            // after the partition: not at every renewal, or a primary
            // renewed through a witness on its minority side was a working
            // primary again at the heal, before it heard that the
            // majority had declared it down meanwhile (seed 3 #959).
            if (started && !self.on_minority(host))
                || (self.partition_since.is_none() && self.agreed())
            {
                self.hosts[host].disrupted = false;
            }
        }
        self.check_claimants(at);
        self.check_agreement(at);
    }

    /// Two claimants with no partition, claimants on two sides of one, and
    /// a claim on a minority side that outlasts the grace.
    pub(super) fn check_claimants(&mut self, at: Duration) {
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
        self.minority_claim_past_grace(at, at);
    }

    /// A claim on a minority side that outlasts the grace while nothing
    /// changes: the claimants as they have been since the last entry, up to
    /// `now` (`check_claimants` judges them when they change).
    pub(super) fn judge_minority_claims(&mut self, now: Duration) {
        self.minority_claim_past_grace(now, self.last);
    }

    /// A claimant on a minority side at `now`, past the grace: the breach
    /// is dated at the grace's end, or at `since` if the claimants have
    /// been as they are only since then.
    fn minority_claim_past_grace(&mut self, now: Duration, since: Duration) {
        let Some(cut) = self.partition_since else {
            return;
        };
        let due = cut.max(self.sides_changed) + self.minority_grace;
        if self.minority_breached || now <= due {
            return;
        }
        if let Some(c) = self
            .claimants
            .iter()
            .copied()
            .find(|c| self.on_minority(*c))
        {
            let at = due.max(since);
            self.minority_breached = true;
            self.breach(
                at,
                "minority claims",
                &[c],
                format!(
                    "a node cut off with a minority still claimed the role {:?} after the partition",
                    at - cut
                ),
            );
        }
    }

    /// A new claim must take a term above every earlier claim's, and no two
    /// claimants may hold one term.
    pub(super) fn check_term(&mut self, at: Duration, host: usize, term: u64) {
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
    pub(crate) fn view_term(&mut self, at: Duration, host: usize, term: u64) {
        let current = self.hosts[host].life;
        let (life, seen) = self.hosts[host].view_term;
        if life == current && term < seen {
            self.breach(
                at,
                "term went backwards",
                &[host],
                format!("the view's highest term fell from {seen} to {term}"),
            );
        }
        self.hosts[host].view_term = (current, term.max(if life == current { seen } else { 0 }));
    }

    /// A term that no running node knows any more is gone with the nodes
    /// that knew it: the simulator keeps no data directory (the agent keeps
    /// the highest term in `--data-dir`), so the next claim may take it
    /// again. Only the terms some running node still knows must be passed.
    pub(super) fn forget_unremembered_terms(&mut self) {
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

    /// Excuses the failovers still owed when no side keeps a majority of
    /// the members running and unfrozen.
    pub(super) fn excuse_failovers_without_majority(&mut self) {
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

    /// At the end: every failover owed and not excused happened within
    /// `failover_limit`.
    pub(super) fn check_failovers_happened(&mut self, end: Duration, failover_limit: Duration) {
        for index in 0..self.faults.len() {
            let tracker = &self.faults[index];
            // A short freeze may pass unnoticed, and the role rightly stays;
            // a slow primary may keep it too.
            let required = !matches!(tracker.report.kind.as_str(), "freeze" | "slow");
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
    }

    /// Broken invariants, in time order.
    pub(crate) fn breaches(&self) -> Vec<Breach> {
        let mut breaches = self.breaches.clone();
        breaches.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        breaches
    }
}
