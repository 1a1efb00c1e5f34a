//! The election and the claim: after every input the node re-elects from
//! its roster, takes or drops its rank, and starts or stops claiming the
//! primary role; a claim waits for a quorum check (Raft's check quorum),
//! and a view that just got its majority back waits for its membership to
//! settle.

use super::*;

/// Most quorum checks a node keeps waiting for its view to back them.
pub(super) const MAX_DEFERRED_ACKS: usize = 8;

/// A quorum check this node may still back (see [`Node::answer_quorum_ping`]).
#[derive(Debug)]
pub(super) struct DeferredAck {
    pub(super) asker: NodeId,
    pub(super) from: SocketAddr,
    pub(super) round: u64,
    pub(super) proposed: u64,
    pub(super) until: Time,
}

/// Raft's check quorum, for the primary. SWIM alone tells a primary cut off
/// with a minority that it is alone only after it has suspected most of the
/// others, one probe at a time, while the majority replaces it after one
/// failed probe and one suspicion timeout. So when the primary sees trouble
/// (one of its probes fails, or any member becomes suspect) it asks every
/// live member to answer, and stops claiming unless a majority does within
/// two probe timeouts, until a later check passes.
///
/// The same check confirms a claim before it starts: a member answers only
/// if its own view names the asker primary, so a node claims only once a
/// majority agrees it is the one. Two nodes that took the same seniority at
/// once (after an outage that cost every node its rank) each head their own
/// view until the other's record arrives; without the confirmation both
/// claimed for that moment.
#[derive(Debug, Default)]
pub(super) struct QuorumCheck {
    pub(super) round: u64,
    /// The round awaiting answers.
    pub(super) pending: Option<u64>,
    pub(super) acks: HashSet<MemberKey>,
    /// When the last check started.
    pub(super) last: Option<Time>,
    /// Trouble was seen: check when next settling.
    pub(super) wanted: bool,
    /// The last check failed: do not claim.
    pub(super) blocked: bool,
    /// A majority named this node primary since it was last elected (asked
    /// only of a fresh rank).
    pub(super) confirmed: bool,
    /// When the last check passed: a claim starts only right after one.
    pub(super) confirmed_at: Option<Time>,
    /// The term the last check proposed to claim (0: none), which every
    /// member that backed it learned.
    pub(super) proposed: u64,
    /// When this node last took a seniority: its record needs a moment to
    /// reach the others before it asks them to confirm a claim.
    pub(super) ranked_at: Option<Time>,
    /// A `ConfirmAgain` timer is set for this instant.
    pub(super) again_at: Option<Time>,
    /// Another member the last election named primary, and its life then.
    pub(super) named: Option<(MemberKey, u64)>,
    /// The last datagram from the member then named primary: who, which
    /// life, when (see [`Node::predecessor_quiet`]).
    pub(super) named_heard: Option<(MemberKey, u64, Time)>,
    /// The last holder (and life) whose lease this view heard was over:
    /// its witnesses agreed it stopped claiming.
    pub(super) lease_over: Option<(MemberKey, u64)>,
    /// The member this view named primary when it first named this node
    /// instead, its life, and until when a claim waits for its backing
    /// (see [`Node::note_predecessor`]).
    pub(super) predecessor: Option<(MemberKey, u64, Time)>,
}

impl Node {
    /// Brings the view, the candidacy and the election up to date.
    pub(super) fn settle(&mut self, now: Time) {
        if self.contested_down.is_some()
            && self.election.primary.as_deref() != Some(&*self.record.name)
        {
            // No longer elected: nothing left to weigh against the notice.
            if let Some((from, identity, _)) = self.contested_down.take() {
                self.accept_down_notice(now, from, identity, true);
            }
        }
        self.absorb_foca(now);
        self.foca_places.expire(now);
        if self.scan_needed {
            self.scan();
        }
        if self.news_possible {
            self.news_possible = false;
            self.apply_news();
            if self.phase == Phase::Joined
                && self.record.founding != 0
                && self.record.founding != self.members.founding()
            {
                self.rejoin_winning_founding(now);
            }
        }
        // Not while it doubts itself: it held them down for that (see
        // `hold_down`), and releasing them in the same input showed every
        // held member down and suspect again at each of its suspicion
        // timers (a node cut off one way, hearing nobody).
        if self.members.holding_down()
            && !self.doubts_itself(now)
            && self.vouches(self.members.elect().claim_quorate)
        {
            self.release_held(now);
        }
        if self.settled == Some(self.members.roster_version()) {
            self.absorb_foca(now);
            self.schedule_gossip(now);
            return;
        }
        // Picking or dropping a seniority changes our own record, which can
        // change the election: two rounds reach the fixed point.
        if self.phase == Phase::Joined && !self.record.admitted {
            if self.admission.pending.is_none() || std::mem::take(&mut self.admission.restart) {
                self.ask_admission(now);
            } else {
                self.ask_members_not_asked();
            }
        }
        for _ in 0..3 {
            let election = self.members.elect();
            // A rank is taken only in a view that sees a quorum (so ranks
            // taken on two sides of a partition never collide), but kept
            // when the quorum goes: DESIGN dropped it then, and after a
            // split with no majority anywhere every node re-ranked at the
            // heal; at 1,000 nodes those 1,000 new records took 38 s to
            // reach every view. No failback follows from keeping it: a
            // member the majority declared down meanwhile rejoins without
            // its rank, and the majority's views void its old life's rank.
            let may_keep =
                self.phase == Phase::Joined && self.record.serves() && self.record.eligible;
            let may_take = may_keep && election.quorate;
            match (self.record.seniority, may_keep, may_take) {
                (None, _, true) => {
                    self.check.ranked_at = Some(now);
                    self.record.seniority = Some(self.members.max_seniority().saturating_add(1));
                    self.publish_record(now);
                }
                (Some(_), false, _) => {
                    self.record.seniority = None;
                    self.publish_record(now);
                }
                _ => break,
            }
        }
        let election = self.members.elect();
        let elected = election.primary.as_ref() == Some(&self.record.name);
        self.note_predecessor(now, elected);
        // The first renewal goes out before a quorum check this input may
        // start, so its answer usually comes first too; one that comes after
        // the confirmation finds it still good (see
        // `Node::learns_from_envelope`).
        self.steer_lease(now, elected);
        // Only a rank taken within a sync period can tie with another taken
        // at the same time: an older one has reached every view, and the
        // hand-over to its holder needs no confirmation round.
        let fresh_rank = self
            .check
            .ranked_at
            .is_some_and(|at| now < at + self.cfg.sync_period(self.members.swim_count() + 1));
        // A node that would start claiming asks a majority first (a quorum
        // check), as for a fresh rank: some of the members its view holds
        // alive may be gone (cut off a moment ago, not yet suspected here),
        // so a majority counted in the view may be none. Even a view with no
        // suspect at all: right after a cut, the members on the other side
        // are suspected one probe at a time. The check costs one round trip
        // when the majority agrees.
        let in_flux = !self.claiming && election.expected > 1;
        // A claim that one more member lost would end is checked every
        // probe period, trouble seen or not. Trouble is seen when a probe
        // of a member across the cut fails, and with a bare majority only
        // one member may be across it: a primary whose view held four of
        // seven alive (the others down) probed the one that a new
        // partition took only after four seconds, and the majority,
        // whose suspicions of it had been held since an earlier cut,
        // declared it down after three and claimed too (seed 4 #761 of
        // the swarm). The check ends such a claim within two probe
        // periods; it costs a datagram and an answer per member and
        // second, only while members are missing and none is to spare (a
        // cluster of one or two, all there, cannot split into two
        // majorities, and checks of a cluster still forming failed while
        // its newest members waited to back anyone).
        if self.claiming
            && self.cfg.quorum == QuorumPolicy::Majority
            && election.alive < election.expected
            && election.alive.saturating_sub(1) * 2 <= election.expected
        {
            self.check.wanted = true;
            // A settled view is not weighed again until it changes.
            if let Some(last) = self.check.last {
                self.confirm_again_at(last + self.cfg.gossip.probe_period);
            }
        }
        // A confirmation is good for a claim that starts right away, under
        // the term it proposed: one that waited (a merge settling) may have
        // lost its majority meanwhile, and one whose term is no longer above
        // every term known here may collide with a claim the majority backed
        // since. A node confirmed just before a partition cut it off
        // claimed 1.5 s later with a term that the majority, which never
        // heard of it, took again (found by the swarm).
        if in_flux && self.check.confirmed {
            let fresh = self
                .check
                .confirmed_at
                .is_some_and(|at| now <= at + self.cfg.gossip.probe_period);
            let reserved = self.check.proposed == self.members.max_term().saturating_add(1);
            if !fresh || !reserved {
                self.check.confirmed = false;
            }
        }
        if !elected {
            self.check.blocked = false;
            self.check.wanted = false;
            self.check.confirmed = false;
        } else if !self.check.confirmed && self.phase == Phase::Joined && in_flux && !fresh_rank {
            self.start_quorum_check(now);
        } else if !self.check.confirmed && self.phase == Phase::Joined && fresh_rank {
            // A fresh rank first travels for a moment (unless this node is
            // alone), so views that heard of a tie agree before anyone asks.
            let settle_until = self
                .check
                .ranked_at
                .filter(|_| election.expected > 1)
                .map(|at| at + self.cfg.gossip.probe_period * 2);
            match settle_until {
                Some(until) if now < until => self.confirm_again_at(until),
                _ => self.start_quorum_check(now),
            }
        } else if self.check.wanted {
            self.start_quorum_check(now);
        }
        let merging = self.merging(now, &election);
        let claiming = self.phase == Phase::Joined
            && self.lease_held(now)
            && self.stalled.is_none()
            && (self.claiming || !merging)
            && (self.check.confirmed || !(fresh_rank || in_flux))
            && (self.claiming || self.predecessor_quiet(now))
            && !self.check.blocked
            && self.contested_down.is_none()
            && election.claim_quorate
            && election.primary.as_ref() == Some(&self.record.name);
        if election.primary != self.election.primary {
            self.events.push_back(Event::PrimaryChanged {
                previous: self.election.primary.clone(),
                current: election.primary.clone(),
            });
        }
        let started_claiming = claiming && !self.claiming;
        if self.claiming && !claiming {
            // A claim that stopped (a stall, a failed check, a lost
            // majority) is confirmed afresh before it starts again: the
            // majority that backed it may be gone.
            self.check.confirmed = false;
        }
        if claiming != self.claiming {
            if started_claiming {
                // A new claim takes a term above every term seen, so work
                // stamped by an earlier primary can be refused.
                self.record.term = self.members.next_term();
            }
            self.events.push_back(Event::RoleChanged {
                claiming,
                term: self.record.term,
            });
        }
        if election != self.election || claiming != self.claiming {
            self.changes += 1;
        }
        let vouching = self.vouches(election.claim_quorate);
        if vouching && !self.rt.vouching && self.phase == Phase::Joined {
            // Back with a majority after a time without one: changes to our
            // record made meanwhile (a drain, a new rank) had their gossip
            // spent on members that could not hear it, and a view holding
            // the old record named a draining member primary until the next
            // sync (found by the swarm). The same goes for every record
            // changed while this view could not hear it: one sync, once the
            // returning members have re-ranked, instead of a sync period.
            self.broadcast_record();
            let at = now + self.jitter(self.cfg.gossip.probe_period * 3);
            self.schedule(at, NodeTimer::SyncOnce);
        }
        self.rt.vouching = vouching;
        self.rt.term = self.members.max_term();
        let primary_changed = election.primary != self.election.primary;
        self.election = election;
        self.check.named = self
            .election
            .primary
            .as_ref()
            .filter(|name| ***name != *self.record.name)
            .map(|name| {
                let key = MemberKey::of(name);
                (key, self.members.get(&key).map_or(0, |known| known.life()))
            });
        self.claiming = claiming;
        if primary_changed && self.phase == Phase::Joined {
            self.answer_deferred_acks(now);
        }
        if started_claiming {
            self.publish_record(now);
        }
        self.settled = Some(self.members.roster_version());
        self.absorb_foca(now);
        self.schedule_gossip(now);
    }

    /// Whether the view got its majority back a moment ago and its
    /// membership still moves (see [`Node::regained_at`]); schedules the
    /// next look if so.
    pub(super) fn merging(&mut self, now: Time, election: &Election) -> bool {
        if self.phase != Phase::Joined || !election.claim_quorate {
            return false;
        }
        if !self.election.claim_quorate && self.had_majority {
            self.regained_at = Some(now);
        }
        self.had_majority = true;
        let Some(at) = self.regained_at else {
            return false;
        };
        let members = self.members.swim_count() + 1;
        let quiet = self.members.changed_at().max(at) + self.cfg.gossip.probe_period * 2;
        let until = quiet.min(at + self.cfg.suspicion_timeout(members) * 2);
        if now >= until {
            self.regained_at = None;
            return false;
        }
        self.confirm_again_at(until);
        true
    }

    /// Asks every live member whether it holds us alive; claiming waits on
    /// the answer.
    pub(super) fn start_quorum_check(&mut self, now: Time) {
        self.check.wanted = false;
        // A claim waiting for its confirmation asks again sooner.
        let spacing = if self.check.confirmed {
            self.cfg.gossip.probe_period
        } else {
            self.cfg.gossip.probe_timeout
        };
        if self.check.pending.is_some() || self.check.last.is_some_and(|last| now < last + spacing)
        {
            // One check at a time, at most one a probe period; the next
            // trouble asks again.
            self.check.wanted = self.check.pending.is_none();
            if let (false, None, Some(last)) =
                (self.check.confirmed, self.check.pending, self.check.last)
            {
                self.confirm_again_at(last + spacing);
            }
            return;
        }
        self.check.round += 1;
        self.check.last = Some(now);
        self.check.acks.clear();
        self.check.pending = Some(self.check.round);
        self.check.proposed = if self.claiming {
            0
        } else {
            self.members.max_term().saturating_add(1)
        };
        let ping = Control::QuorumPing {
            from: self.id().clone(),
            round: self.check.round,
            term: self.members.max_term(),
            proposed: self.check.proposed,
        };
        self.send_to_live_members(&ping);
        let due = now + self.cfg.gossip.probe_timeout * 2;
        self.schedule(due, NodeTimer::QuorumCheckDue(self.check.round));
        self.quorum_ack_count(now);
    }

    /// A node taking the role over from a live primary needs that
    /// primary's own backing, besides a majority's. A majority's backing
    /// says it names this node, not that the primary it replaces has
    /// stopped: that one's view may lag (it has not heard this node's
    /// record yet) while its lease's witnesses keep renewing it, and the
    /// two claimed at once for 14 ms after a heal brought back a member
    /// of the same seniority as the primary's predecessor (seed 2 #838 of
    /// the swarm, under another change that moved its random draws). The
    /// primary it replaces backs it only once its own view
    /// names this node, when it has stopped claiming: the hand-over has no
    /// overlap. Only a predecessor that may still claim is waited for (see
    /// [`may_still_claim`]): not one that is down here (a crash failover),
    /// left, restarted, drained or failing, which stopped before anyone
    /// heard of it. One whose view does not come round within a suspicion
    /// timeout is waited for no longer, as before this rule, so a lasting
    /// disagreement costs no primary.
    fn note_predecessor(&mut self, now: Time, elected: bool) {
        if !elected || self.claiming {
            self.check.predecessor = None;
            return;
        }
        if self.check.predecessor.is_some() {
            return;
        }
        // The life named, not the name: a primary replaced by a new life
        // of its name (which took a junior rank) was waited for while the
        // new life, just joined, backed nobody for two probe periods.
        let Some((key, named_life)) = self.check.named else {
            return;
        };
        if self.members.get(&key).and_then(may_still_claim) == Some(named_life) {
            self.check.predecessor = Some((key, named_life, now + self.suspicion_timeout()));
        }
    }

    /// A datagram from `key`'s life `life` said its sender vouches for its
    /// view (as a claimant does): if that is the member this view names
    /// primary and holds alive, it may still claim as of now (see
    /// [`Node::predecessor_quiet`]). One that does not vouch claims
    /// nothing, and what a member held down here says times nothing: a
    /// primary cut off one way goes on talking after its down.
    pub(super) fn heard_from(&mut self, now: Time, key: MemberKey, life: u64) {
        if self.check.named == Some((key, life))
            && self
                .members
                .get(&key)
                .is_some_and(|known| known.state.is_some_and(MemberState::is_live))
        {
            self.check.named_heard = Some((key, life, now));
        }
    }

    /// Whether the primary this view named before may have stopped
    /// claiming, as far as its silence here tells; if not yet, settles
    /// again when it may have.
    ///
    /// A cut-off primary stops claiming once it sees trouble, which the
    /// majority's suspicion timeout outlasts only when the suspicion
    /// starts at the cut; one that started earlier ran out 2 s after a
    /// second partition, and a witness claimed while the primary still
    /// did (seed 3 #959; ARCHITECTURE.md, "A down that came too soon").
    /// So a down that comes sooner than a suspicion timeout after the
    /// primary last spoke here waits for the rest of it. A down made by a
    /// lease, a left or restarted primary, and a crash (silent long before
    /// its down) wait for nothing.
    fn predecessor_quiet(&mut self, now: Time) -> bool {
        let Some((key, life, heard)) = self.check.named_heard else {
            return true;
        };
        let until = heard + self.suspicion_timeout();
        if now >= until || self.check.lease_over == Some((key, life)) {
            return true;
        }
        let down = self
            .members
            .get(&key)
            .is_some_and(|known| known.life() == life && known.state == Some(MemberState::Down));
        if down && self.check.again_at != Some(until) {
            tracing::debug!(
                wait = ?(until - now),
                "the primary this view named went down sooner than a suspicion timeout after it last spoke here; claiming when that has passed"
            );
            self.confirm_again_at(until);
        }
        !down
    }

    /// Whether a quorum check's answers include what the claim needs from
    /// the primary it replaces (see [`Node::note_predecessor`]).
    fn predecessor_backed(&self, now: Time) -> bool {
        let Some((key, life, until)) = self.check.predecessor else {
            return true;
        };
        now >= until
            || self.check.acks.contains(&key)
            || self.members.get(&key).and_then(may_still_claim) != Some(life)
    }

    pub(super) fn confirm_again_at(&mut self, at: Time) {
        if self.check.again_at.is_none_or(|set| set > at) {
            self.check.again_at = Some(at);
            self.schedule(at, NodeTimer::ConfirmAgain);
        }
    }

    pub(super) fn answer_quorum_ping(
        &mut self,
        now: Time,
        from: SocketAddr,
        asker: NodeId,
        round: u64,
        proposed: u64,
    ) {
        if self.phase != Phase::Joined {
            return;
        }
        // A view this young is still the seed's: after a heal with no side
        // a majority, the seeds of two fragments each hold the other
        // fragment down, and a node that rejoined through one and then the
        // other would back both fragments' claimants in turn. It backs
        // nobody until its own probes have had two periods to correct it.
        // Deferred, not dropped: a successor elected within two seconds of
        // the cluster forming asked once, heard nothing from the members
        // that had just joined, and claimed only at its next check, a
        // second later (`herd demo`: 1.5 to 2.2 s of failover).
        if self.backs_nobody_yet(now) {
            self.defer_ack(now, asker, from, round, proposed);
            // One look when the view is old enough, not one per ping.
            let at = self.backs_from();
            if self.backing_look != Some(at) {
                self.backing_look = Some(at);
                self.schedule(at, NodeTimer::OldEnoughToBack);
            }
            return;
        }
        let held_down = self
            .members
            .get(&asker.key())
            .filter(|k| k.id.as_ref() == Some(&asker) && k.swim_down())
            .map(|k| k.down_vouched);
        if let Some(vouched) = held_down {
            if self.stalled.is_some() {
                // A stalled view is stale (see `notify_if_down`): it backs
                // nothing and tells nothing until it has caught up.
                return;
            }
            // Declared down here: no renewal of its claim, and it must rejoin.
            // The notice vouches as the down did (see `notify_if_down`).
            let notice = Control::DownNotice {
                identity: asker,
                from: self.id().clone(),
            };
            self.send_control_flagged(from, &notice, vouched);
        } else if self.election.primary.as_deref() == Some(&**asker.name()) {
            // Only a view that names the asker backs its claim.
            self.send_quorum_ack(from, round, proposed);
        } else {
            // Not yet, perhaps: after a crash the successor's view usually
            // names it a moment before ours does. Answer when ours does, if
            // that is within the asker's patience.
            self.defer_ack(now, asker, from, round, proposed);
        }
    }

    /// When this life's view is old enough to back a claim.
    fn backs_from(&self) -> Time {
        self.joined_at + self.cfg.gossip.probe_period * 2
    }

    fn backs_nobody_yet(&self, now: Time) -> bool {
        now < self.backs_from()
    }

    /// Keeps a quorum check to answer once this view names the asker,
    /// within the asker's patience (see [`Node::answer_deferred_acks`]).
    fn defer_ack(&mut self, now: Time, asker: NodeId, from: SocketAddr, round: u64, proposed: u64) {
        self.deferred_acks
            .retain(|ping| ping.asker.key() != asker.key() && now < ping.until);
        if self.deferred_acks.len() < MAX_DEFERRED_ACKS {
            self.deferred_acks.push(DeferredAck {
                asker,
                from,
                round,
                proposed,
                until: now + self.cfg.gossip.probe_timeout * 2,
            });
        }
    }

    /// Backs a quorum check: tells the asker the highest term this view
    /// knows, then learns the term the asker proposes to claim (see
    /// [`Control::QuorumPing`]). The answer carries the term from before,
    /// so an asker that hears of a term at or above its proposal knows the
    /// proposal is no longer above every term, and asks again.
    pub(super) fn send_quorum_ack(&mut self, to: SocketAddr, round: u64, proposed: u64) {
        let ack = Control::QuorumAck {
            from: self.id().clone(),
            round,
            term: self.members.max_term(),
        };
        self.send_control(to, &ack);
        self.learn_term(proposed);
    }

    /// Answers the quorum checks this view now backs (see
    /// [`Node::answer_quorum_ping`]).
    pub(super) fn answer_deferred_acks(&mut self, now: Time) {
        if self.deferred_acks.is_empty() || self.backs_nobody_yet(now) {
            return;
        }
        let primary = self.election.primary.clone();
        let (due, waiting): (Vec<DeferredAck>, Vec<DeferredAck>) =
            std::mem::take(&mut self.deferred_acks)
                .into_iter()
                .filter(|ping| now < ping.until)
                .partition(|ping| primary.as_deref() == Some(&**ping.asker.name()));
        self.deferred_acks = waiting;
        for ping in due {
            self.send_quorum_ack(ping.from, ping.round, ping.proposed);
        }
    }

    /// Whether the term a datagram's envelope carries is news. Not when it
    /// is the term this node's quorum check proposed and it does not claim
    /// yet: every member that backs the check learns the proposal, and its
    /// datagrams spread it to every member within milliseconds, so a
    /// confirmation that waited for the lease (a renewal answered a moment
    /// later) was voided by its own proposal and asked again a probe
    /// timeout later (found when the lease went on by default: the
    /// successor of a crashed primary claimed 0.5 to 2 s after every view
    /// named it). A competing proposal of the same term still voids this
    /// one: the two majorities share a member, and that member's answer
    /// to the later check carries the term in the answer itself, which is
    /// always learned, as are the terms of records.
    ///
    /// Only within the check's own patience (a probe timeout from asking):
    /// answers handled later, such as those queued through a freeze, are
    /// no confirmation to keep, and the proposal voids them as before
    /// (`simulations/found/answers-queued-through-a-freeze.toml`).
    pub(super) fn learns_from_envelope(&self, now: Time, term: u64) -> bool {
        let patient = self
            .check
            .last
            .is_some_and(|asked| now <= asked + self.cfg.gossip.probe_timeout);
        self.claiming || !patient || self.check.proposed == 0 || term != self.check.proposed
    }

    /// A member's envelope carried `term`, above every term this view
    /// knew: a claim was made (or proposed) that this view may have missed.
    pub(super) fn heard_newer_term(&mut self, now: Time, term: u64, from: SocketAddr) {
        if self.phase != Phase::Joined {
            return;
        }
        if self.newer_term.is_none() {
            self.schedule(now + self.cfg.gossip.probe_period * 3, NodeTimer::TermCheck);
        }
        self.newer_term = Some((term, from));
    }

    /// A few probe periods after a newer term was heard: if the primary
    /// this view names still holds an older term (or it names none), the
    /// claim under the newer term happened where this view could not hear
    /// it, and its news with it. A member cut off for a few seconds while
    /// the primary crashed on the other side held the crashed primary alive
    /// and named it for 27 s after the heal: the down and the new
    /// primary's record had spent their gossip on the other side, and
    /// nothing in its own view was amiss until a probe or a periodic sync
    /// reached the dead one (found by the swarm). The member that carried
    /// the term holds what it missed. In a failover heard as it happens,
    /// the claimant's record (sent to every live member) arrives long
    /// before this check, which then sends nothing.
    pub(super) fn term_check(&mut self, now: Time) {
        let Some((term, from)) = self.newer_term.take() else {
            return;
        };
        if self.phase != Phase::Joined || self.names_primary_of(term) {
            return;
        }
        tracing::debug!(
            term,
            from = %from,
            "a newer term than the named primary's was heard: asking its carrier for its state"
        );
        self.join_input(now, |join, cx, steps| steps.push(join.sync_from(cx, from)));
    }

    /// Whether the primary this view names holds `term` or a newer one.
    fn names_primary_of(&self, term: u64) -> bool {
        match self.election.primary.as_ref() {
            None => false,
            Some(name) if **name == *self.record.name => self.record.term >= term,
            Some(name) => self
                .members
                .get(&MemberKey::of(name))
                .and_then(|known| known.record.as_ref())
                .is_some_and(|record| record.term >= term),
        }
    }

    /// A term another member knows (see [`Members::learn_term`]).
    pub(super) fn learn_term(&mut self, term: u64) {
        self.members.learn_term(term);
        self.rt.term = self.members.max_term();
    }

    pub(super) fn quorum_ack(&mut self, now: Time, member: NodeId, round: u64) {
        if self.check.pending == Some(round) {
            self.check.acks.insert(member.key());
            self.quorum_ack_count(now);
        }
    }

    /// A majority answered: the check passed and the node may claim.
    pub(super) fn quorum_ack_count(&mut self, now: Time) {
        if self.check.pending.is_some()
            && self.majority_answered(&self.check.acks, true)
            && self.predecessor_backed(now)
        {
            self.check.pending = None;
            if self.check.blocked && self.check.confirmed {
                tracing::info!("a majority answered again; claiming the role");
            }
            self.check.blocked = false;
            self.check.confirmed = true;
            self.check.confirmed_at = Some(now);
            self.settled = None;
            if let Some((from, _, sender)) = self.contested_down.take() {
                self.dismiss(&sender);
                tracing::info!(
                    member = %from,
                    "a majority still holds this primary alive; sending back the member that holds it down"
                );
                self.tell_behind(now, from);
            }
        }
    }

    pub(super) fn quorum_check_due(&mut self, now: Time, round: u64) {
        if self.check.pending != Some(round) {
            return;
        }
        self.check.pending = None;
        if !self.check.blocked && self.check.confirmed {
            tracing::warn!(
                answered = self.check.acks.len() + 1,
                expected = self.election.expected,
                "no majority answered the quorum check; not claiming the role"
            );
        } else if self.majority_answered(&self.check.acks, true) {
            tracing::debug!(
                "the primary this view named before has not backed the claim yet; asking again"
            );
        }
        self.check.blocked = true;
        // Ask again until a majority answers or another node is elected.
        self.check.wanted = true;
        self.settled = None;
        if let Some((from, identity, _)) = self.contested_down.take() {
            self.accept_down_notice(now, from, identity, true);
        }
    }

    /// Whether the admitted members among `answers` (and this node, if
    /// `with_self`) are a majority of the expected size: only admitted
    /// members make a majority (see `HealthRecord::admitted`).
    pub(super) fn majority_answered(&self, answers: &HashSet<MemberKey>, with_self: bool) -> bool {
        let answered = answers
            .iter()
            .filter(|key| self.members.is_admitted(key))
            .count()
            + usize::from(with_self);
        answered * 2 > self.election.expected.max(1)
    }
}

/// The life of a member that may still claim the role this view named it
/// for: live here, and a candidate by its own latest record. A member that
/// drained, failed its checks, became ineligible or restarted knew it
/// first and stopped claiming first, so a successor need not wait for it.
fn may_still_claim(known: &crate::core::members::Known) -> Option<u64> {
    let life = known.life();
    let candidate = known.record.as_ref().is_some_and(|r| {
        r.incarnation >= life && r.seniority.is_some() && r.serves() && r.eligible
    });
    (candidate && known.state.is_some_and(MemberState::is_live)).then_some(life)
}
