//! foca inside the node: draining what foca produced after every call,
//! reading foca's member list into the view ([`Members::scan`]), keeping
//! foca's settings sized to the cluster, gossip rounds, and the periodic
//! whole-state syncs that heal what gossip missed.

use super::*;

impl Node {
    pub(super) fn absorb_transmits(&mut self) {
        for transmit in self.rt.transmits.drain(..) {
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += transmit.payload.len() as u64;
            self.transmits.push_back(transmit);
        }
    }

    /// Drains what foca produced: datagrams, timers, notifications.
    pub(crate) fn absorb_foca(&mut self, now: Time) {
        // foca announces a renewed identity with the gossip backlog of the
        // life it replaced: that life's downs (declared, maybe, on a side
        // without a majority) would reach working members under a sender
        // everyone believes. The rejoin that follows announces the new life.
        if self
            .rt
            .notes
            .iter()
            .any(|note| matches!(note, Note::Rejoin(_)))
        {
            self.rt.transmits.clear();
        }
        self.absorb_transmits();
        for (after, timer) in self.rt.timers.drain(..) {
            self.timers.push(now + after, NodeTimer::Foca(timer));
        }
        self.absorb_wire(now);
        if self.rt.notes.is_empty() {
            return;
        }
        for note in std::mem::take(&mut self.rt.notes) {
            match note {
                Note::Rejoin(id) => {
                    self.scan_needed = true;
                    self.rejoined(now, id);
                }
                Note::Defunct => {
                    // Only reachable after leaving: every identity renews.
                    tracing::debug!("foca reports this identity defunct");
                }
                Note::Idle => {
                    tracing::info!("no other member is reachable");
                    self.scan_needed = true;
                }
                Note::Membership => self.scan_needed = true,
                Note::ProbeFailed(id) => {
                    self.stats.probes_failed += 1;
                    self.scan_needed = true;
                    self.check.wanted = true;
                    self.nudge_suspect(now, id, 0);
                }
            }
        }
        // Sending our own record inside `rejoined` may have queued more.
        self.absorb_transmits();
    }

    /// Counts what foca sent and read, and times each direct probe from
    /// the call that sent it to the call that read its answer (the `now`
    /// of both: foca's notifications come during the call).
    fn absorb_wire(&mut self, now: Time) {
        let wire = &mut self.rt.wire;
        for (total, new) in self.stats.messages_sent.iter_mut().zip(wire.sent) {
            *total += new;
        }
        for (total, new) in self.stats.messages_received.iter_mut().zip(wire.received) {
            *total += new;
        }
        wire.sent = Default::default();
        wire.received = Default::default();
        let refuted = std::mem::take(&mut wire.refutations);
        if refuted > 0 {
            self.stats.refutations += refuted;
            tracing::info!(
                incarnation = wire.incarnation.unwrap_or_default(),
                "refuted a suspicion of this node (other members suspected it)"
            );
        }
        let probes = &mut self.probe_times;
        for (member, probe) in wire.acks.drain(..) {
            if let Some(at) = probes
                .pending
                .iter()
                .position(|&(m, p, _)| m == member && p == probe)
                && let Some((_, _, sent)) = probes.pending.remove(at)
                && probes.rtts.len() < ProbeTimes::KEPT
            {
                probes.rtts.push(now.saturating_sub(sent));
            }
        }
        for (member, probe) in wire.pings.drain(..) {
            if probes.pending.len() == ProbeTimes::KEPT {
                probes.pending.pop_front();
            }
            probes.pending.push_back((member, probe, now));
        }
        // An answer later than this is not a round trip worth a sample.
        while probes
            .pending
            .front()
            .is_some_and(|&(_, _, sent)| now.saturating_sub(sent) > ProbeTimes::PATIENCE)
        {
            probes.pending.pop_front();
        }
    }

    /// Reads foca's membership into the view (see [`Members::scan`]).
    pub(super) fn scan(&mut self) {
        self.scan_needed = false;
        // foca keeps our own earlier lives as down members (gossip about a
        // life it replaced); they are not members of this view, or a node
        // would count itself twice and hold itself down in its own roster.
        let own = self.id().key();
        let standing = self.standing();
        let mut changes = Vec::new();
        let foca = &self.foca;
        let changed = self.members.scan(
            || {
                foca.iter_membership_state()
                    .filter(move |m| m.id().key() != own)
            },
            standing,
            &mut changes,
        );
        self.take_changes(changes);
        if changed {
            self.resize_foca();
        }
    }

    /// How this node stands, for the view (see [`Standing`]).
    pub(super) fn standing(&self) -> Standing {
        Standing {
            vouching: self.vouches(self.election.claim_quorate),
            claim_quorate: self.election.claim_quorate,
            now: self.last_input,
            size: self.members.swim_count() + 1,
        }
    }

    /// Acts on what changed in the view, in order.
    pub(super) fn take_changes(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Event(event) => {
                    match &event {
                        Event::MemberState {
                            name,
                            incarnation,
                            previous,
                            current,
                        } => self.member_back(name, *incarnation, *previous, *current),
                        Event::MemberReaped { name } => {
                            self.unheard.remove(&MemberKey::of(name));
                        }
                        _ => {}
                    }
                    self.events.push_back(event);
                }
                Change::Suspected {
                    id,
                    incarnation,
                    size,
                } => {
                    if self.phase != Phase::Joined {
                        continue;
                    }
                    self.check.wanted = true;
                    self.notify_suspect(&id, incarnation);
                    // foca times out only the suspicions it raised itself;
                    // one learned by gossip would last until a `down` update
                    // happens to arrive. Each member keeps a slower timer of
                    // its own as a backstop (Lifeguard gives unconfirmed
                    // suspicions longer, too).
                    let now = self.last_input.unwrap_or_default();
                    self.backstop_suspicion(now, &id, incarnation, size);
                    // A node that hears nobody holds a member it suspects
                    // down at once: the member is out of its reach, and
                    // its suspicion timer would hold it down later anyway,
                    // maybe just after the network healed and before
                    // anything got through (a node cut off one way held a
                    // working member down 20 ms after the heal, seen by
                    // the simulator).
                    // (Heard nothing for three probe periods, as in
                    // `doubts_itself`, whoever else is live: `hold_down`
                    // holds only where the view may not declare downs.)
                    if self
                        .last_heard
                        .is_some_and(|heard| now >= heard + self.cfg.gossip.probe_period * 3)
                    {
                        self.hold_down(now, id.key(), id.incarnation(), incarnation);
                    }
                }
                Change::RecordDue { key, life } => {
                    // Asked a probe period from now, if gossip has not
                    // brought it by then (see [`Node::record_due`]).
                    let due = self.last_input.unwrap_or_default() + self.cfg.gossip.probe_period;
                    self.schedule(due, NodeTimer::RecordDue { key, life });
                }
                Change::FoundingChanged => self.settled = None,
            }
        }
    }

    /// A member that was suspect or down here and is alive again may have
    /// missed every gossip of this node's record meanwhile (a partition, a
    /// freeze): records are gossiped a bounded number of times, and the
    /// next whole-state sync can be minutes away. So if the record changed
    /// while the member was out, it is sent the record at once: one
    /// datagram, only from members whose record changed (found by the
    /// swarm: a primary drained during a partition stayed the primary in
    /// the view of a member frozen through it, and nobody claimed for 35 s).
    fn member_back(
        &mut self,
        name: &Arc<str>,
        life: u64,
        previous: Option<MemberState>,
        current: MemberState,
    ) {
        let key = MemberKey::of(name);
        let own = (self.id().incarnation(), self.record.version);
        match (previous, current) {
            (Some(MemberState::Alive), MemberState::Suspect | MemberState::Down) => {
                self.unheard.insert(key, own);
            }
            (Some(MemberState::Suspect | MemberState::Down), MemberState::Alive) => {
                self.admission_member_back(&key);
                let Some(then) = self.unheard.remove(&key) else {
                    return;
                };
                let back = self
                    .members
                    .get(&key)
                    .and_then(|known| known.id.clone())
                    .filter(|id| id.incarnation() == life);
                if then != own
                    && let Some(id) = back
                {
                    tracing::debug!(member = %id, "a member is back; sending it this node's record, changed meanwhile");
                    self.send_own_record(id.socket_addr(), &id);
                }
            }
            (_, MemberState::Alive) => {
                self.unheard.remove(&key);
            }
            _ => {}
        }
    }

    /// Keeps foca's cluster-size-dependent settings in line with the view.
    pub(super) fn resize_foca(&mut self) {
        let members = self.members.swim_count() + 1;
        let stale = self.cfg.max_transmissions(members)
            != self.cfg.max_transmissions(self.sized_for)
            || self.cfg.suspicion_timeout(members) != self.cfg.suspicion_timeout(self.sized_for);
        if stale {
            if let Err(err) = self.foca.set_config(self.cfg.foca_config(members)) {
                tracing::warn!(
                    error = err.to_string().as_str(),
                    "could not resize foca's settings"
                );
            }
            self.sized_for = members;
        }
    }

    /// Schedules a gossip round if anything waits to be passed on.
    /// The backstop of a suspicion: foca times out only the suspicions it
    /// raised itself (see `Change::Suspected` in `take_changes`).
    pub(super) fn backstop_suspicion(
        &mut self,
        now: Time,
        id: &NodeId,
        incarnation: foca::Incarnation,
        size: usize,
    ) {
        let timeout = self.cfg.suspicion_timeout(size) * 2;
        self.schedule(
            now + timeout,
            NodeTimer::SuspicionOver {
                key: id.key(),
                life: id.incarnation(),
                incarnation,
                asked: 0,
            },
        );
    }

    pub(super) fn schedule_gossip(&mut self, now: Time) {
        if !self.gossip_pending
            && self.phase == Phase::Joined
            && (self.foca.updates_backlog() > 0 || self.foca.custom_broadcast_backlog() > 0)
        {
            self.gossip_pending = true;
            self.schedule(now + self.cfg.gossip.gossip_interval, NodeTimer::Gossip);
        }
    }

    pub(super) fn gossip_round(&mut self, now: Time) {
        self.gossip_pending = false;
        if self.phase == Phase::Joined
            && (self.foca.updates_backlog() > 0 || self.foca.custom_broadcast_backlog() > 0)
            && let Err(err) = self.foca.gossip(&mut self.rt)
        {
            tracing::debug!(error = err.to_string().as_str(), "gossip");
        }
        self.absorb_foca(now);
    }

    /// Asks a random alive member for its whole state (memberlist's
    /// push-pull, pull only): heals whatever gossip missed.
    pub(super) fn sync_state(&mut self, now: Time) {
        if self.phase != Phase::Joined {
            return;
        }
        self.sync_once(now);
        let next = self.jitter(self.cfg.sync_period(self.members.swim_count() + 1));
        self.schedule(now + next, NodeTimer::Sync);
    }

    /// Asks a random alive member for its whole state.
    pub(super) fn sync_once(&mut self, now: Time) {
        if self.phase != Phase::Joined {
            return;
        }
        let alive = self.members.alive_addrs();
        if !alive.is_empty() {
            let to = alive[self.rng.random_range(0..alive.len())];
            self.join_input(now, |join, cx, steps| steps.push(join.sync_from(cx, to)));
        }
    }
}
