//! Who counts, for the observer: which hosts the quorum counts as members,
//! which side of a partition each is on, and whether that side holds a
//! majority. The invariants are judged by these counts, as the nodes'
//! quorum guard judges by theirs, so they follow the same rules: a host
//! started on a minority side is admitted only at the heal, and a leave
//! nobody heard counts as a crash.

use std::time::Duration;

use super::{Observer, Symptom};

impl Observer {
    /// Hosts that count towards the quorum: started and not left.
    pub(super) fn members(&self) -> usize {
        self.expected_members.unwrap_or(self.member_count)
    }

    /// Running hosts on `side` that the quorum counts.
    pub(super) fn side_size(&self, side: u16) -> usize {
        self.side_running.get(&side).copied().unwrap_or(0)
    }

    /// Records a start or stop, keeping the running counts (per side for
    /// admitted hosts).
    pub(super) fn set_running(&mut self, host: usize, running: bool) {
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

    /// Whether a host starting for the first time on `side` finds no
    /// majority of the members running there to admit it: on a side of a
    /// partition without one, or in a whole network where most members
    /// are down (crashed, or left unheard). herd admits a newcomer only on
    /// the answers of a majority of the members it joins (a Raft
    /// single-server change), so it counts nowhere until they are back.
    /// A founder (no members yet) and a cluster run with
    /// `expected_members` (whose size is fixed) are not held back.
    pub(super) fn admits_nobody(&self, side: u16) -> bool {
        if self.partition_since.is_some() {
            return self.side_size(side) * 2 <= self.members();
        }
        self.expected_members.is_none()
            && self.member_count > 0
            && self.side_size(side) * 2 <= self.member_count
    }

    /// Admits the hosts that waited for a majority (see
    /// [`Self::admits_nobody`]) once the network is whole and one runs.
    pub(super) fn admit_waiting(&mut self) {
        if self.partition_since.is_some() || self.admits_nobody(0) {
            return;
        }
        for host in 0..self.hosts.len() {
            if self.hosts[host].unadmitted && self.hosts[host].running && !self.hosts[host].left {
                self.hosts[host].unadmitted = false;
                self.member_count += 1;
                *self.side_running.entry(self.hosts[host].side).or_default() += 1;
            }
        }
    }

    /// Whether `host`'s side holds no majority of the members (asked as a
    /// partition ends, to know who was cut off).
    fn on_minority_at_heal(&self, host: usize) -> bool {
        self.side_size(self.hosts[host].side) * 2 <= self.members()
    }

    /// Whether a partition is on and `host`'s side holds no majority of the
    /// members.
    pub(super) fn on_minority(&self, host: usize) -> bool {
        self.partition_since.is_some()
            && self.side_size(self.hosts[host].side) * 2 <= self.members()
    }

    /// Puts `host` on a side of a partition (`side` 0 is the default).
    pub(crate) fn place(&mut self, at: Duration, host: usize, side: u16) {
        self.advance(at);
        if self.hosts[host].running && !self.hosts[host].unadmitted {
            let old = self.side_running.entry(self.hosts[host].side).or_default();
            *old = old.saturating_sub(1);
            *self.side_running.entry(side).or_default() += 1;
        }
        self.hosts[host].side = side;
        self.sides_changed = at;
    }

    /// Whether the partition about to start cuts only from side 0 to
    /// side 1.
    pub(crate) fn set_one_way(&mut self, one_way: bool) {
        self.one_way = one_way;
    }

    /// A partition starts or ends.
    pub(crate) fn partitioned(&mut self, at: Duration, active: bool) {
        self.disturbed(at);
        if !active {
            self.one_way = false;
        }
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
    pub(crate) fn network_whole(&mut self, at: Duration) {
        // Nothing may change at a heal: the nodes may agree on one
        // claimant already (a short cut that nobody acted on).
        self.check_agreement(at);
        self.advance(at);
        for host in 0..self.hosts.len() {
            if self.hosts[host].unadmitted && (!self.hosts[host].running || self.hosts[host].left) {
                // Gone before anyone admitted it: a later start is a
                // newcomer again.
                self.hosts[host].unadmitted = false;
                self.hosts[host].started_ever = false;
                self.hosts[host].left = false;
            }
        }
        self.admit_waiting();
        self.check_claimants(at);
    }

    /// A leave during a partition is heard while a running member on the
    /// leaver's side remains to carry it past the heal.
    pub(super) fn drop_unheard_leaves(&mut self) {
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

    /// Whether a member that had joined still runs (or is frozen, holding
    /// its state); if none does, the cluster is lost.
    pub(super) fn check_lost(&mut self, at: Duration) {
        let holds_state = self.hosts.iter().any(|h| h.running && h.joined);
        if !holds_state && self.lost_at.is_none() {
            tracing::debug!("every member stopped or left: the cluster is lost");
            self.lost_at = Some(at);
        }
    }
}
