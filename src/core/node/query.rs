//! What drivers read of a node between inputs: its identity, phase and
//! role, the election, one member's state, the counters, and the whole
//! [`Snapshot`] the HTTP side shows.

use super::*;

impl Node {
    /// This node's current identity.
    pub fn id(&self) -> &NodeId {
        self.foca.identity()
    }

    /// Where this node is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The primary this view names.
    pub fn primary(&self) -> Option<&Arc<str>> {
        self.election.primary.as_ref()
    }

    /// The term the named primary claims under, as this view knows it.
    pub fn primary_term(&self) -> Option<u64> {
        let primary = self.election.primary.as_ref()?;
        let term = if *primary == self.record.name {
            self.claiming.then_some(self.record.term)?
        } else {
            self.members.record_term(primary)?
        };
        (term > 0).then_some(term)
    }

    /// Whether this node claims the primary role (`/health/primary` 200).
    pub fn is_claiming(&self) -> bool {
        self.claiming
    }

    /// The latest election in this view.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// The highest primary term this node has seen.
    pub fn highest_term(&self) -> u64 {
        self.members.max_term()
    }

    /// This node's own health record.
    pub fn record(&self) -> &HealthRecord {
        &self.record
    }

    /// A member's state in this view.
    pub fn member_state(&self, name: &str) -> Option<MemberState> {
        if name == &*self.record.name {
            return Some(self.own_state());
        }
        self.members.state(name)
    }

    /// Number of other members known to foca.
    pub fn known_members(&self) -> usize {
        self.members.swim_count()
    }

    /// While it claims under a lease: until when the claim holds without
    /// another renewal (see `Snapshot::claim_until`, which is as of the last
    /// snapshot; a renewal moves this every `lease_interval`).
    pub fn claim_until(&self) -> Option<Time> {
        self.lease_until()
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        let mut stats = self.stats.clone();
        stats.gossip_backlog =
            (self.foca.updates_backlog() + self.foca.custom_broadcast_backlog()) as u64;
        stats.records_rejected = self.members.records_rejected();
        stats.members_refused = self.members.members_refused();
        stats
    }

    /// The round-trip times of direct probes answered since the last call,
    /// for a driver's histogram (at most [`ProbeTimes::KEPT`] are held; a
    /// driver that never asks, as the simulator, loses nothing else).
    pub fn take_probe_rtts(&mut self) -> Vec<Time> {
        std::mem::take(&mut self.probe_times.rtts)
    }

    /// A number that changes whenever [`Node::snapshot`] would.
    pub fn changes(&self) -> u64 {
        self.changes
            .wrapping_add(self.members.version())
            .wrapping_add(self.members.members_refused())
    }

    /// Everything the HTTP side shows.
    pub fn snapshot(&self) -> Snapshot {
        let id = self.id();
        let primary = self.election.primary.as_ref();
        let mut members = self.members.infos(primary);
        members.push(MemberInfo {
            name: id.name().clone(),
            addr: id.socket_addr(),
            state: self.own_state(),
            health: Some(self.record.status),
            draining: self.record.draining,
            priority: self.record.priority,
            seniority: self.record.seniority,
            eligible: self.record.eligible,
            is_primary: primary == Some(id.name()),
            incarnation: id.incarnation(),
            local: true,
            term: self.record.term,
            admitted: self.record.admitted,
            checks: self.local_checks.clone(),
        });
        members.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            name: id.name().clone(),
            addr: id.socket_addr(),
            cluster: self.cfg.cluster.clone(),
            incarnation: id.incarnation(),
            phase: self.phase,
            health: self.record.status,
            draining: self.record.draining,
            seniority: self.record.seniority,
            priority: self.record.priority,
            primary: self.election.primary.clone(),
            primary_term: self.primary_term(),
            highest_term: self.members.max_term(),
            claim_until: self.lease_until(),
            lease_witnesses: self.lease_witnesses(),
            claiming: self.claiming,
            quorate: self.election.quorate,
            live: self.election.live,
            alive: self.election.alive,
            expected: self.election.expected,
            members,
            stats: self.stats(),
        }
    }
}
