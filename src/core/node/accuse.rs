//! Declaring members down: Lifeguard's local health (a node that hears
//! nobody doubts itself), the roll call before every down, members held
//! down while the view cannot vouch, the backstop timer of a suspicion
//! learned by gossip, and the buddy system's notices to the suspect.
//!
//! SWIM's `down` is final: a member declared down must rejoin as a new life
//! and loses its rank if the down came from a view that vouched. So a view
//! declares a member down only when it is sure its word is the majority's.

use super::*;

/// A roll call (see [`Node::defer_accusation`]).
#[derive(Debug, Default)]
pub(super) struct RollCall {
    pub(super) round: u64,
    /// The round awaiting answers, and when it started.
    pub(super) pending: Option<(u64, Time)>,
    /// Members that answered the pending round.
    pub(super) answers: HashSet<MemberKey>,
    /// When a majority last answered.
    pub(super) passed_at: Option<Time>,
    /// Set by `defer_accusation` when the accusation it deferred waits for
    /// this roll call: the caller files its timer in `waiting`.
    pub(super) awaited: bool,
    /// Accusations to run again as soon as a majority answers.
    pub(super) waiting: Vec<NodeTimer>,
    /// A member this view suspects answered the pending roll call.
    pub(super) suspect_answered: bool,
}

/// Direct questions to a suspect before a suspicion learned by gossip ends
/// in a down declaration.
pub(super) const SUSPICION_QUESTIONS: u8 = 3;

impl Node {
    /// Lifeguard's local health, at its simplest: a node that has heard
    /// nothing from anybody for three probe periods while at least two
    /// other members are live is more likely cut off itself (a dead NIC, a
    /// one-way cut, a firewall) than watching them all die at once. Its
    /// suspicions would reach the others (it can still send) and, as SWIM's
    /// `down` always wins, make healthy members hold each other down. So it
    /// declares nobody down while it doubts itself, nor for a suspicion
    /// timeout after it hears again, when the refutations it missed have had
    /// time to arrive. With every other member gone it loses nothing by
    /// waiting: alone it is a minority and claims nothing anyway.
    pub(super) fn doubts_itself(&self, now: Time) -> bool {
        self.phase == Phase::Joined
            && self.election.live >= 3
            && self
                .last_heard
                .is_some_and(|heard| now >= heard + self.cfg.gossip.probe_period * 3)
    }

    /// After a silence, every suspect hears that it is suspected, so it
    /// refutes before the deferred suspicion timers run out: the buddy
    /// system's notices stopped while nothing got through.
    pub(super) fn ask_suspects_again(&mut self) {
        for (identity, incarnation) in self.members.suspects() {
            self.tell_suspected(identity, incarnation);
        }
    }

    /// When a suspicion timer that fires now may declare its suspect down,
    /// if not now.
    ///
    /// A node that doubts itself (see [`Node::doubts_itself`]) declares
    /// nobody down, and neither does a view that does not vouch (no
    /// majority alive, a stall, a fresh rejoin): SWIM's `down` is final, so
    /// a down declared in a fragment of a partition had every member it
    /// named rejoin after the heal, and two fragments that each held the
    /// other down sent the nodes between them back and forth (found by the
    /// swarm). Held as suspects instead, the members of other fragments
    /// refute when the network is whole again and the fragments are one
    /// view at once. When a view vouches again, its suspects get a
    /// suspicion timeout to refute (and are told they are suspected, see
    /// [`Node::release_held`]) before any is declared down: the majority
    /// came back through refutations, and the rest are on their way.
    pub(super) fn defer_accusation(&mut self, now: Time) -> Option<Time> {
        if self.doubts_itself(now) {
            return Some(now + self.cfg.gossip.probe_period);
        }
        // The roster's election, current as of this input (`self.election`
        // is as of the last settle): the two disagreed and a member was
        // held down and released in the same instant.
        if !self.vouches(self.members.elect().claim_quorate) {
            return Some(now + self.cfg.gossip.probe_period);
        }
        // Right after a partition the members across it are suspected one
        // probe at a time, so a view on a minority side still counts a
        // majority alive when its first suspicions run out, and the downs it
        // declared then passed for the majority's: a few in every fragment
        // of a three-way split, which then sent members back and forth after
        // the heal, and a node cut off one way with two others declared a
        // working primary down (found by the swarm). So a view declares a
        // member down only if a majority of the members answered it within
        // the last probe period (a roll call, Raft's check quorum for the
        // word `down`): one round trip in the majority, and in a minority
        // the roll fails until its suspicions show it is one.
        // (After the grace below, so that the suspects a heal brings back
        // refute first: a roll call from every view at every heal cost a
        // million datagrams at 1,000 nodes.)
        if let Some(since) = self.heard_again {
            let until = since + self.suspicion_timeout();
            if now < until {
                return Some(until);
            }
            self.heard_again = None;
        }
        if !self.roll_passed(now) {
            self.start_roll_call(now);
            if !self.roll_passed(now) {
                self.roll.awaited = true;
                return Some(now + self.cfg.gossip.probe_timeout * 2);
            }
        }
        None
    }

    /// A suspicion ran out while this view may not declare anyone down:
    /// the suspect counts as down here (see `Known::held_down`) unless
    /// the view only waits for refutations it expects (after hearing again,
    /// or vouching again).
    pub(super) fn hold_down(
        &mut self,
        now: Time,
        key: MemberKey,
        life: u64,
        incarnation: foca::Incarnation,
    ) {
        if !self.doubts_itself(now) && self.vouches(self.members.elect().claim_quorate) {
            return;
        }
        if let Some(event) = self.members.hold_down(now, key, life, incarnation) {
            self.events.push_back(event);
        }
    }

    /// Whether a majority answered a roll call within the last probe period.
    pub(super) fn roll_passed(&self, now: Time) -> bool {
        self.cfg.quorum == QuorumPolicy::Off
            || self
                .roll
                .passed_at
                .is_some_and(|at| now <= at + self.cfg.gossip.probe_period)
    }

    /// Asks every member this view holds alive to answer, unless a roll
    /// call is under way.
    pub(super) fn start_roll_call(&mut self, now: Time) {
        if self
            .roll
            .pending
            .is_some_and(|(_, at)| now < at + self.cfg.gossip.probe_timeout * 2)
        {
            return;
        }
        self.roll.round += 1;
        self.roll.pending = Some((self.roll.round, now));
        self.roll.answers.clear();
        self.roll.suspect_answered = false;
        let call = Control::RollCall {
            from: self.id().clone(),
            round: self.roll.round,
        };
        // The suspects are called too: one that answers is reachable (the
        // network was cut, it is not dead) and gets its chance to refute.
        let called = self
            .members
            .addrs(|k| k.state == Some(MemberState::Alive) || k.swim_suspect());
        for to in called {
            self.send_control(to, &call);
        }
        // A roll call that found no majority drops the accusations that
        // waited for it; their own timers (at its deadline) ask again.
        self.roll.waiting.clear();
        self.count_roll(now);
    }

    pub(super) fn answer_roll_call(&mut self, from: SocketAddr, asker: &NodeId, round: u64) {
        if self.phase != Phase::Joined || asker.key() == self.id().key() {
            return;
        }
        let here = Control::Here {
            from: self.id().clone(),
            round,
        };
        self.send_control(from, &here);
    }

    pub(super) fn here(&mut self, now: Time, member: &NodeId, round: u64) {
        if self
            .roll
            .pending
            .is_some_and(|(pending, _)| pending == round)
        {
            self.roll.suspect_answered |= self.members.is_suspect(member);
            self.roll.answers.insert(member.key());
            self.count_roll(now);
        }
    }

    /// A roll call passes when admitted members (this node included) make
    /// a majority of the expected size.
    pub(super) fn count_roll(&mut self, now: Time) {
        if self.majority_answered(&self.roll.answers, self.record.admitted) {
            self.roll.pending = None;
            self.roll.passed_at = Some(now);
            if self.roll.suspect_answered {
                // A suspect answered: the network had been cut, and the
                // suspects may be cut off rather than dead. They are told
                // and get a suspicion timeout to refute, as after any
                // silence: a view on the minority side of a five-second
                // partition, which had not yet suspected enough members to
                // know it was one, declared the working primary down a
                // second after the heal, and two nodes claimed for 0.6 s
                // (found by the swarm).
                self.roll.waiting.clear();
                self.heard_again = Some(now);
                self.ask_suspects_again();
                return;
            }
            // The accusations that waited run now (their own timers, set
            // for the roll call's deadline, find them settled).
            for timer in std::mem::take(&mut self.roll.waiting) {
                self.schedule(now, timer);
            }
        }
    }

    /// The view vouches again: the members it held down are suspects again,
    /// told so, with a suspicion timeout to refute before any is declared
    /// down (by a view that vouches, so the down voids their rank). Held
    /// down, they were no candidates, and a junior member took the role
    /// while the senior one was frozen, then lost it again when the senior
    /// thawed: a failback (found by the swarm). As suspects, they are
    /// candidates, and a junior claims only once they are declared down.
    pub(super) fn release_held(&mut self, now: Time) {
        let mut changes = Vec::new();
        let released = self.members.release_held(now, &mut changes);
        self.take_changes(changes);
        if released {
            self.heard_again = Some(now);
            self.ask_suspects_again();
        }
    }

    pub(super) fn suspicion_over(
        &mut self,
        now: Time,
        key: MemberKey,
        life: u64,
        incarnation: foca::Incarnation,
        asked: u8,
    ) {
        let Some(known) = self.members.get(&key) else {
            return;
        };
        let Some(id) = known.id.clone() else {
            return;
        };
        if id.incarnation() != life || known.swim != Some((incarnation, foca::State::Suspect)) {
            return;
        }
        if let Some(later) = self.defer_accusation(now) {
            self.hold_down(now, key, life, incarnation);
            let timer = NodeTimer::SuspicionOver {
                key,
                life,
                incarnation,
                asked,
            };
            if std::mem::take(&mut self.roll.awaited) {
                self.roll.waiting.push(timer.clone());
            }
            return self.schedule(later, timer);
        }
        if asked < SUSPICION_QUESTIONS {
            // Direct questions first: a live suspect answers with its
            // refutation. One question and its answer are both lost often
            // enough on a lossy network (19 % at 10 % loss) that a single
            // one would declare live members down; three fail 0.7 % of the
            // time, and only where the refutation itself was missed.
            self.tell_suspected(id, incarnation);
            self.schedule(
                now + self.cfg.gossip.probe_period,
                NodeTimer::SuspicionOver {
                    key,
                    life,
                    incarnation,
                    asked: asked + 1,
                },
            );
            return;
        }
        let down = std::iter::once(foca::Member::new(id, incarnation, foca::State::Down));
        if let Err(err) = self.foca.apply_many(down, true, &mut self.rt) {
            tracing::debug!(error = err.to_string().as_str(), "declaring a suspect down");
        }
        self.scan_needed = true;
        self.absorb_foca(now);
    }

    /// Lifeguard's buddy system: the member whose probe failed tells the
    /// suspect, and again every probe period while the suspicion lasts, so
    /// a live suspect refutes before it is declared down. A suspicion may
    /// outlast its timeout (an accusation waits for a roll call, or while
    /// the view does not vouch, see [`Node::defer_accusation`]), so the
    /// nudges go on for three suspicion timeouts: a primary cut off one way
    /// for a moment could hear again after they had stopped, claimed again,
    /// and was declared down 3 s later for the old suspicion (found by the
    /// swarm).
    pub(super) fn nudge_suspect(&mut self, now: Time, id: NodeId, round: u32) {
        let suspicion = self.suspicion_timeout() * 3;
        if self.phase != Phase::Joined || self.cfg.gossip.probe_period * round > suspicion {
            return;
        }
        let incarnation = match self.members.get(&id.key()) {
            // The first nudge goes before foca has applied the suspicion.
            None if round == 0 => 0,
            None => return,
            Some(known) => match known.swim {
                Some((incarnation, foca::State::Alive)) if round == 0 => incarnation,
                Some((incarnation, foca::State::Suspect)) if known.id.as_ref() == Some(&id) => {
                    incarnation
                }
                _ => return,
            },
        };
        self.tell_suspected(id.clone(), incarnation);
        self.schedule(
            now + self.cfg.gossip.probe_period,
            NodeTimer::Nudge(id, round + 1),
        );
    }

    /// Tells a member it is suspected, as about three of all the members
    /// that learn of the suspicion do.
    pub(super) fn notify_suspect(&mut self, id: &NodeId, incarnation: foca::Incarnation) {
        let others = self.election.live.saturating_sub(1).max(1);
        let chance = (3.0 / others as f64).min(1.0);
        if self.rng.random_bool(chance) {
            self.tell_suspected(id.clone(), incarnation);
        }
    }

    /// Tells a member, at its address, that this view suspects it at this
    /// SWIM incarnation: a live one refutes at once.
    pub(super) fn tell_suspected(&mut self, identity: NodeId, incarnation: foca::Incarnation) {
        let to = identity.socket_addr();
        let notice = Control::SuspectNotice {
            identity,
            incarnation,
            from: self.id().clone(),
        };
        self.send_control(to, &notice);
    }
}
