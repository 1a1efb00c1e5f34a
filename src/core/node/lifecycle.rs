//! A node's life in the cluster: founding, joining through the joiner's
//! state machine ([`crate::core::join`]), becoming a member, rejoining as a
//! new life after the cluster declared it down, meeting another founding,
//! publishing its record, and leaving.

use super::*;

impl Node {
    /// Founds a new cluster: a fresh founding number, then a member at once.
    pub(crate) fn found(&mut self, now: Time) {
        if self.record.founding == 0 {
            self.record.founding = self.rng.random::<u64>().max(1);
        }
        // A founder is the first member of its cluster's configuration.
        self.record.admitted = true;
        self.note_founding(self.record.founding, self.record.term);
        self.become_joined(now, None);
    }

    /// Takes the founding of the cluster a state sync came from.
    pub(crate) fn adopt_founding(&mut self, founding: u64) {
        if founding != 0 && founding != self.record.founding {
            self.record.founding = founding;
            self.record.seniority = None;
            // Admitted to another cluster, if any: this one admits anew.
            self.record.admitted = false;
        }
        self.note_founding(self.record.founding, self.record.term);
    }

    /// Records a term seen in a founding (see [`Members::note_founding`]).
    pub(super) fn note_founding(&mut self, founding: u64, term: u64) {
        let own = Own {
            record: &self.record,
            state: self.own_state(),
        };
        if self.members.note_founding(founding, term, own) {
            self.settled = None;
        }
    }

    /// This node's cluster met another of its name that wins (see
    /// [`Node::note_founding`]): it gives up its rank and rejoins the
    /// winner like a new node, through a live member of it.
    pub(super) fn rejoin_winning_founding(&mut self, now: Time) {
        let winner = self.members.founding();
        let via = self.members.addrs(|k| {
            k.state == Some(MemberState::Alive)
                && k.record.as_ref().is_some_and(|r| r.founding == winner)
        });
        let Some(first) = via.first().copied() else {
            return;
        };
        let others = via[1..].to_vec();
        tracing::warn!(
            via = %first,
            "this node's cluster met another of its name whose primary reached a higher term; rejoining it"
        );
        self.record.seniority = None;
        self.record.admitted = false;
        self.phase = Phase::Joining;
        self.update_self_in_roster();
        self.publish_record(now);
        self.join_input(now, |join, cx, steps| {
            join.rejoin_through(cx, Some(first), others, steps)
        });
    }

    pub(super) fn update_self_in_roster(&mut self) {
        self.settled = None;
        let own = Own {
            record: &self.record,
            state: self.own_state(),
        };
        self.members.set_own(own);
    }

    /// Applies health records that gossip or a sync brought.
    pub(super) fn apply_news(&mut self) {
        let own = Own {
            record: &self.record,
            state: self.own_state(),
        };
        let mut changes = Vec::new();
        self.members.apply_news(own, &mut changes);
        self.take_changes(changes);
    }

    /// Sends our record (again) and re-elects with it.
    pub(crate) fn publish_record(&mut self, now: Time) {
        self.record.version = self.record.version.saturating_add(1);
        self.note_founding(self.record.founding, self.record.term);
        if let Some(seniority) = self.record.seniority {
            self.members.note_own_seniority(seniority);
        }
        self.update_self_in_roster();
        self.changes += 1;
        self.broadcast_record();
        if self.phase == Phase::Joined
            && self.election.primary.as_deref() == Some(&*self.record.name)
        {
            // The primary's record decides the role everywhere (a drain, a
            // failed check, a new term): every live member hears it
            // directly, not only by gossip, which misses one member in a
            // few thousand. A primary drained 1.6 s after 42 nodes formed,
            // while gossip was busy with their joins, reached one member only
            // at its next sync, and that member named it for 32 s more
            // (found by the swarm).
            let record = Control::Record {
                identity: self.id().clone(),
                record: self.record.clone(),
            };
            self.send_to_live_members(&record);
        }
        if self.phase == Phase::Joined
            && let Err(err) = self.foca.gossip(&mut self.rt)
        {
            tracing::debug!(error = err.to_string().as_str(), "gossip");
        }
        self.absorb_foca(now);
    }

    pub(super) fn broadcast_record(&mut self) {
        match codec::encode_record(&self.record) {
            Ok(bytes) => {
                if let Err(err) = self.foca.add_broadcast(&bytes) {
                    tracing::warn!(
                        error = err.to_string().as_str(),
                        "could not queue our health record"
                    );
                }
            }
            Err(err) => tracing::warn!(
                error = err.to_string().as_str(),
                "could not encode our health record"
            ),
        }
    }

    /// Marks this node a member: from here on it may rank and claim.
    pub(crate) fn become_joined(&mut self, now: Time, via: Option<SocketAddr>) {
        if let Some(term) = self.kept_rank_at.take()
            && self.members.max_term() > term
            && self.record.seniority.is_some()
        {
            tracing::info!(
                term = self.members.max_term(),
                "the cluster claimed a newer term while this node was away; rejoining behind its primary"
            );
            self.record.seniority = None;
        }
        self.phase = Phase::Joined;
        self.joined_at = now;
        let suspects = self.members.suspects();
        if !suspects.is_empty() {
            // Suspects this node brings along (suspected, or held down, by
            // its earlier life while it could reach nobody) refute only when
            // they hear of it, and the gossip of those suspicions was spent
            // while nothing got through: held down, they kept the view from
            // vouching, so it could not release them either, and the node
            // named no primary for 42 s after a one-way cut healed (found by
            // the swarm). Told now, they get a suspicion timeout to refute,
            // as after any silence.
            self.heard_again = Some(now);
            self.ask_suspects_again();
            // And the backstop every suspicion gets once joined: one the
            // seed's state brought (a crashed member the seed still held
            // suspect) got none while joining, and lasted until a `down`
            // happened to arrive: the node named the crashed primary for
            // 18 s after the heal (found by the swarm).
            let size = self.members.swim_count() + 1;
            for (id, incarnation) in suspects {
                self.backstop_suspicion(now, &id, incarnation, size);
            }
        }
        self.update_self_in_roster();
        self.events.push_back(Event::Joined { via });
        self.publish_record(now);
        if via.is_some() {
            // The seed's view may be a moment old, and what changed while
            // we joined was gossiped before we were a member: one more
            // sync once the join's own news has settled. Twenty of 24
            // nodes restarted at once; one that joined through a survivor
            // held a restarted member's old life alive, ranked by its old
            // record, for 20 s (found by the swarm).
            let at = now + self.jitter(self.cfg.gossip.probe_period * 3);
            self.schedule(at, NodeTimer::SyncOnce);
        }
        if !self.periodic {
            self.periodic = true;
            let sync = self.jitter(self.cfg.sync_period(self.members.swim_count() + 1));
            self.schedule(now + sync, NodeTimer::Sync);
            // The first look comes soon: a node that joined while it held
            // the members it could not reach down (it heard them during a
            // one-way cut) knocks on them until they refute; at the usual
            // interval it saw nobody alive for 18 s (found by the swarm).
            let reconnect = self.jitter(self.cfg.gossip.probe_period * 2);
            self.schedule(now + reconnect, NodeTimer::Reconnect);
        }
    }

    /// foca renewed our identity after the cluster declared us down.
    pub(super) fn rejoined(&mut self, now: Time, id: NodeId) {
        self.stats.rejoins += 1;
        self.vouch_from = Some(now + self.suspicion_timeout());
        self.record.incarnation = id.incarnation();
        self.record.version = 0;
        // Declared down by a member that sees a quorum: the cluster has moved
        // on (maybe elected another primary), so our old rank must go.
        // Declared down only by a minority (a healing partition), we keep it.
        let lost_seniority = self.sender_vouches && self.record.seniority.is_some();
        if lost_seniority {
            self.record.seniority = None;
        }
        self.kept_rank_at = self.record.seniority.map(|_| self.members.max_term());
        tracing::info!(
            incarnation = id.incarnation(),
            lost_seniority,
            "the cluster declared this node down; rejoined as a new life"
        );
        self.events.push_back(Event::Rejoined {
            incarnation: id.incarnation(),
            lost_seniority,
        });
        // Whom this view holds as down may be the ones that are fine (we
        // were the ones cut off): forget them, so they can be learned alive,
        // and rejoin like a new node, with a whole-state sync, ranking and
        // claiming nothing until it completes. foca would also go on
        // gossiping the downs the earlier life declared, now under a life
        // the others believe (a stale `down` about a working member costs it
        // its identity): a fresh foca keeps only the live members.
        // Suspects come along as alive (the sync will tell), and every timer
        // of the old foca goes: the timer queue is ours, so the new foca
        // would take them. A suspicion timer would declare down on its
        // predecessor's word, and the old probe timer carries the token the
        // new foca starts with: two probe cycles, each cutting the other
        // short, and this node would never again find a member dead.
        // Members that left stay down: a leave is the member's own word,
        // not this view's judgement, and this view may be the only one
        // that heard it (a minority side scaled in during a partition;
        // dropped here, the majority counted those members down after the
        // heal and had no quorum for good; found by the swarm).
        let kept: Vec<foca::Member<NodeId>> =
            self.foca
                .iter_membership_state()
                .filter(|m| m.id().key() != id.key())
                .filter_map(|m| match m.state() {
                    foca::State::Down => self.members.has_left(m.id()).then(|| {
                        foca::Member::new(m.id().clone(), m.incarnation(), foca::State::Down)
                    }),
                    _ => Some(foca::Member::new(
                        m.id().clone(),
                        m.incarnation(),
                        foca::State::Alive,
                    )),
                })
                .collect();
        self.timers
            .retain(|timer| !matches!(timer, NodeTimer::Foca(_)));
        self.foca = Foca::with_custom_broadcast(
            id,
            self.cfg.foca_config(self.sized_for),
            ChaCha8Rng::seed_from_u64(self.rng.random()),
            WireCodec::new(self.doubt_downs.clone(), self.members.cap().clone()),
            RecordGossip::new(self.members.inbox().clone()),
        );
        if let Err(err) = self.foca.apply_many(kept.into_iter(), false, &mut self.rt) {
            tracing::debug!(
                error = err.to_string().as_str(),
                "keeping the live and left members across a rejoin"
            );
        }
        self.scan_needed = true;
        self.phase = Phase::Joining;
        self.update_self_in_roster();
        self.publish_record(now);
        let sync_from = self.notified_by.take().or_else(|| {
            let alive = self.members.alive_addrs();
            (!alive.is_empty()).then(|| alive[self.rng.random_range(0..alive.len())])
        });
        // Alive first, then the rest.
        let mut known: Vec<(bool, SocketAddr)> = self
            .members
            .iter()
            .filter_map(|k| {
                let addr = k.id.as_ref()?.socket_addr();
                Some((k.state != Some(MemberState::Alive), addr))
            })
            .collect();
        known.sort();
        let known = known.into_iter().map(|(_, addr)| addr).collect();
        self.join_input(now, |join, cx, steps| {
            join.rejoin_through(cx, sync_from, known, steps)
        });
    }

    pub(super) fn set_seeds(&mut self, now: Time, seeds: Vec<SocketAddr>) {
        let joining = self.phase == Phase::Joining;
        self.join_input(now, |join, cx, steps| {
            join.set_seeds(cx, seeds, joining, steps)
        });
    }

    /// Gives the joiner one input (see [`Joining`]) and does what it asks.
    pub(super) fn join_input(
        &mut self,
        now: Time,
        input: impl FnOnce(&mut Joining, &mut JoinContext<'_>, &mut Vec<JoinStep>),
    ) {
        let suspicion_timeout = self.suspicion_timeout();
        let mut steps = Vec::new();
        let mut cx = JoinContext {
            now,
            own: self.foca.identity(),
            retry_min: self.cfg.gossip.join_retry_min,
            retry_max: self.cfg.gossip.join_retry_max,
            probe_timeout: self.cfg.gossip.probe_timeout,
            probe_period: self.cfg.gossip.probe_period,
            suspicion_timeout,
            rng: &mut self.rng,
        };
        input(&mut self.join, &mut cx, &mut steps);
        for step in steps {
            match step {
                JoinStep::Send(to, message) => self.send_control(to, &message),
                JoinStep::RetryAt(at, attempt) => self.schedule(at, NodeTimer::JoinRetry(attempt)),
                JoinStep::Found => self.found(now),
                JoinStep::Refused { seed, reason } => {
                    self.events.push_back(Event::JoinRefused { seed, reason })
                }
                JoinStep::Joined {
                    seed,
                    responder,
                    founding,
                } => {
                    self.adopt_founding(founding);
                    self.inherit_admission();
                    tracing::info!(%seed, "joined the cluster");
                    self.become_joined(now, Some(seed));
                    if let Err(err) = self.foca.announce(responder, &mut self.rt) {
                        tracing::debug!(error = err.to_string().as_str(), "announce to seed");
                    }
                    self.absorb_foca(now);
                }
            }
        }
    }

    /// A slice of a member's state arrived: merged into the view, and, for
    /// a joining node, one step of its join.
    pub(super) fn receive_sync(
        &mut self,
        now: Time,
        from: SocketAddr,
        mut part: SyncPart,
        vouched: bool,
    ) {
        if !self.join.expects(&part) {
            return;
        }
        let members = std::mem::take(&mut part.members);
        let records = std::mem::take(&mut part.records);
        self.merge_state(now, members, records, vouched);
        if self.phase == Phase::Joining {
            self.join_input(now, |join, cx, steps| join.slice(cx, from, &part, steps));
        } else if let Some(cookie) = part.cookie {
            // A member's periodic sync cut short: ask again, proven.
            let request = part.request;
            self.join_input(now, |join, cx, steps| {
                join.cookie(cx, from, request, cookie, steps)
            });
        }
    }

    pub(super) fn leave(&mut self, now: Time) {
        if self.phase == Phase::Left {
            return;
        }
        self.record.leaving = true;
        self.record.draining = true;
        self.record.seniority = None;
        self.publish_record(now);
        // The leaving record rides with foca's own leave gossip, and goes to
        // every member directly: when many leave at once (a scale-in), the
        // few that gossip would tell may be leaving too. Members held down
        // are told as well: behind a one-way cut they hear while nobody
        // hears them, and a scale-in on the speaking side left them counting
        // every leaver down, without a quorum for good (found by the swarm).
        if let Err(err) = self.foca.leave_cluster(&mut self.rt) {
            tracing::warn!(error = err.to_string().as_str(), "leaving the cluster");
        }
        self.absorb_foca(now);
        let goodbye = Control::Leaving {
            identity: self.id().clone(),
            record: self.record.clone(),
        };
        for to in self.members.unleft_addrs() {
            self.send_control(to, &goodbye);
        }
        self.phase = Phase::Left;
        self.update_self_in_roster();
        self.timers.retain(|_| false);
        self.events.push_back(Event::Left);
        self.changes += 1;
    }

    pub(super) fn reconnect(&mut self, now: Time) {
        if self.phase != Phase::Joined {
            return;
        }
        // foca heals partitions itself while it has someone to talk to, with
        // an announce to a down member every `reconnect_interval`; when it
        // has nobody (all others down), it stops. A view without a quorum
        // knocks itself, and often: when no side of a partition kept a
        // majority, a knock answered with a down notice is how the fragments
        // find each other after the heal (`notify_if_down`).
        let quorate = self.election.quorate;
        // A view that does not vouch holds the members it cannot reach as
        // suspects (see `defer_accusation`): asking a few each time is how
        // they learn it, refute, and come back once the network heals.
        if !self.vouches(self.election.claim_quorate) {
            let suspects = self.members.suspects();
            for _ in 0..3.min(suspects.len()) {
                let (identity, incarnation) =
                    suspects[self.rng.random_range(0..suspects.len())].clone();
                self.tell_suspected(identity, incarnation);
            }
            // A member that vouches for its view was heard a moment ago:
            // its side holds a majority this view lacks, maybe only because
            // this view still counts members that left or went down while
            // it could not hear (a minority through a partition in which
            // ten of sixteen left counted them until its next sync, 30 s:
            // no primary anywhere; found by the swarm). Its state says so
            // at once. A view hearing nobody who vouches (a minority cut
            // off, a split with no majority) pulls nothing.
            if self.phase == Phase::Joined
                && let Some((vouching, at)) = self.heard_vouching
                && now < at + self.cfg.gossip.probe_period * 2
            {
                self.join_input(now, |join, cx, steps| {
                    steps.push(join.sync_from(cx, vouching))
                });
            }
        }
        if self.foca.num_members() == 0 || !quorate {
            let down = self.members.down_ids();
            for _ in 0..3.min(down.len()) {
                let pick = down[self.rng.random_range(0..down.len())].clone();
                if let Err(err) = self.foca.announce(pick, &mut self.rt) {
                    tracing::debug!(error = err.to_string().as_str(), "announce");
                }
            }
            if self.foca.num_members() == 0 {
                self.join_input(now, |join, cx, steps| join.sync_from_seeds(cx, steps));
            }
            self.absorb_foca(now);
        }
        let interval = if quorate && self.vouches(self.election.claim_quorate) {
            self.cfg.gossip.reconnect_interval
        } else {
            self.cfg
                .gossip
                .reconnect_interval
                .min(self.cfg.gossip.probe_period * 2)
        };
        let next = self.jitter(interval);
        self.schedule(now + next, NodeTimer::Reconnect);
    }

    /// A member asks for our record (see [`NodeTimer::RecordDue`]).
    pub(super) fn send_own_record(&mut self, to: SocketAddr, asker: &NodeId) {
        if self.phase != Phase::Joined || asker.key() == self.id().key() {
            return;
        }
        let record = Control::Record {
            identity: self.id().clone(),
            record: self.record.clone(),
        };
        self.send_control(to, &record);
    }

    /// A member's new life is live in this view: if its record is still of
    /// an earlier life, ask the member for it. The new life's record went
    /// out with its gossip, which a member it did not know yet never got
    /// (it joined through a seed that had not heard of that member); until
    /// the next sync such a view ranked the new life by its earlier life's
    /// seniority and named a primary nobody else named (found by the
    /// swarm).
    pub(super) fn record_due(&mut self, key: MemberKey, life: u64) {
        let Some(known) = self.members.get(&key) else {
            return;
        };
        let Some(id) = known.id.as_ref() else {
            return;
        };
        let stale = known.record.as_ref().is_none_or(|r| r.incarnation < life);
        if self.phase != Phase::Joined
            || id.incarnation() != life
            || !stale
            || !known.state.is_some_and(MemberState::is_live)
        {
            return;
        }
        let to = id.socket_addr();
        let request = Control::RecordRequest {
            from: self.id().clone(),
        };
        self.send_control(to, &request);
    }

    /// A member says it was admitted: its record, at once.
    pub(super) fn member_admitted(&mut self, now: Time, identity: NodeId, record: HealthRecord) {
        if record.admitted && self.take_record_from(&identity, record, false) {
            // Its answer to this node's own admission request may have
            // come first, when it did not count yet.
            self.count_admission(now);
        }
    }

    /// Takes a record a member sent about itself, outside gossip: only for
    /// the life that sent it, never about this node. Returns whether it was
    /// taken. A `Record` (`gossip_still_news`) leaves its gossip news, to
    /// be passed on when it comes (see `RecordInbox::offer_direct`); the
    /// records every newcomer sends every member (`Admitted`) and every
    /// leaver too (`Leaving`) do not: passed on as well, the admissions of
    /// 1,000 joining nodes cost 40 % more idle bytes over ten minutes
    /// (`steady-state.toml`).
    pub(super) fn take_record_from(
        &mut self,
        identity: &NodeId,
        record: HealthRecord,
        gossip_still_news: bool,
    ) -> bool {
        if self.phase == Phase::Left
            || record.name != *identity.name()
            || record.incarnation != identity.incarnation()
            || identity.key() == self.id().key()
            || !self.members.admit(identity.key())
        {
            return false;
        }
        let news = if gossip_still_news {
            self.members.offer_direct(record)
        } else {
            self.members.offer(record)
        };
        if news {
            self.news_possible = true;
        }
        true
    }

    /// A member says it leaves: its leaving record, and its life down in
    /// foca (gossiped on, as foca's own leave).
    pub(super) fn member_leaving(&mut self, now: Time, identity: NodeId, record: HealthRecord) {
        if !record.leaving || !self.take_record_from(&identity, record, false) {
            return;
        }
        let down = std::iter::once(foca::Member::down(identity));
        if let Err(err) = self.foca.apply_many(down, true, &mut self.rt) {
            tracing::debug!(error = err.to_string().as_str(), "applying a leave");
        }
        self.scan_needed = true;
        self.absorb_foca(now);
    }
}
