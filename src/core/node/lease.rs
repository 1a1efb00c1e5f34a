//! The primary's lease: a failover in well under a second, with no instant
//! of two primaries.
//!
//! SWIM finds a dead member through a failed probe, a suspicion timeout
//! and a roll call: four to nine seconds. Only the primary needs faster, so
//! the elected node (the *holder*) pings two *witnesses* (the candidates
//! that follow it) every `lease_interval`, and claims only while a majority
//! of the three (itself and one witness) renewed within `lease` of the
//! renewal's sending, on its own clock. A witness that has heard no ping for
//! `lease` and a tenth (its own clock; the tenth covers clocks that run at
//! different rates) asks the other witness; when both find the lease over,
//! each has promised to answer none of the holder's later pings, so no
//! majority can renew it and the holder has stopped claiming. The witness
//! then declares the holder down (after the usual roll call) and tells every
//! live member at once; the successor is named everywhere and claims after
//! its quorum check. The rest of the membership keeps SWIM's timings.
//!
//! The witness set changes one member at a time, and a new set counts only
//! once a member of the old set has answered a ping of the new one (or
//! every old member is down or left here): the old set can then no longer
//! agree that the lease is over while the new one renews it.

use super::*;

/// Witnesses per lease: with the holder, three voters, any two a majority.
pub(super) const WITNESSES: usize = 2;

/// Renewals remembered by the holder, waiting for answers.
const KEPT_ROUNDS: usize = 16;

/// The longest lease a witness times (and a node may set): a ping that
/// claims longer is taken as this long, so no ping can hold a witness's own
/// claim off for long.
pub(crate) const MAX_LEASE: Duration = Duration::from_secs(10);

/// Most holders a witness keeps track of.
const MAX_WITNESSED: usize = 8;

/// A renewal as a witness receives it (a [`Control::LeasePing`]).
#[derive(Debug)]
pub(super) struct Renewal {
    pub(super) holder: NodeId,
    pub(super) round: u64,
    pub(super) epoch: u64,
    /// The holder's lease, at most [`MAX_LEASE`].
    pub(super) lease: Duration,
    pub(super) witnesses: Vec<NodeId>,
}

/// One renewal the holder sent.
#[derive(Debug)]
struct Sent {
    round: u64,
    epoch: u64,
    sent: Time,
    answered: Vec<MemberKey>,
}

/// The holder's side.
#[derive(Debug, Default)]
pub(super) struct LeaseHolder {
    /// Pinging: this node is elected and has witnesses.
    active: bool,
    round: u64,
    epoch: u64,
    witnesses: Vec<NodeId>,
    /// The set before the last change, until it is closed (see the module
    /// doc); empty when closed.
    previous: Vec<NodeId>,
    renewals: VecDeque<Sent>,
    /// Until when this node holds the lease (`None`: it does not).
    pub(super) valid_until: Option<Time>,
    /// No other member could witness: no lease is needed to claim.
    pub(super) alone: bool,
    /// Whose lease this node last renewed, and until when that lease may
    /// run (its lease and a tenth after the renewal): this node starts no
    /// claim of its own before then.
    pub(super) granted: Option<(MemberKey, Time)>,
    /// Holders that gave their lease up, with the last round they sent
    /// (at most [`MAX_WITNESSED`]): a renewal of theirs that arrives after
    /// the release (datagrams overtake each other) renews nothing.
    released: VecDeque<(NodeId, u64)>,
}

/// A witness's record of one holder.
#[derive(Debug)]
pub(super) struct Witnessed {
    holder: NodeId,
    /// The holder's `lease`, as its pings say: a witness times the
    /// holder's lease, whatever its own setting.
    lease: Duration,
    epoch: u64,
    witnesses: Vec<NodeId>,
    /// The last ping's round.
    round: u64,
    /// When the last ping arrived.
    last: Time,
    /// Until when this witness keeps its word to another witness that the
    /// lease is over: it answers none of the holder's pings meanwhile.
    promised_until: Option<Time>,
    /// This witness's own question to the other witnesses: its round, who
    /// said the lease is over (itself first), and until when the takeover
    /// may run; it answers no ping meanwhile.
    asking: Option<(u64, Vec<MemberKey>, Time)>,
    /// Questions asked for this silence.
    asked: u8,
    /// The witnesses agreed the lease is over, and this one takes the
    /// holder over until then; it answers no ping meanwhile.
    taking_over: Option<Time>,
}

impl Witnessed {
    fn new(holder: NodeId, lease: Duration, epoch: u64, witnesses: Vec<NodeId>, now: Time) -> Self {
        Self {
            holder,
            lease,
            epoch,
            witnesses,
            round: 0,
            last: now,
            promised_until: None,
            asking: None,
            asked: 0,
            taking_over: None,
        }
    }

    /// How long this witness waits after the last ping before it asks:
    /// the lease and a tenth (clocks that run at different rates).
    fn wait(&self) -> Duration {
        self.lease + self.lease / 10
    }

    /// How long a witness keeps its word that the lease is over: the
    /// asker takes the holder over within half of it, or not at all.
    fn promise(&self) -> Duration {
        self.lease * 10
    }

    /// Whether the holder's pings go unanswered now.
    fn refusing(&self, now: Time) -> bool {
        self.promised_until.is_some_and(|until| now < until)
            || self.taking_over.is_some_and(|until| now < until)
            || self
                .asking
                .as_ref()
                .is_some_and(|(_, _, until)| now < *until)
    }
}

impl LeaseHolder {
    /// The first round of a life (see `Node::new`).
    pub(super) fn starting_at(round: u64) -> Self {
        Self {
            round,
            ..Self::default()
        }
    }

    /// Answers needed from the witnesses of a set of `n`: with the holder,
    /// a majority of `n + 1`.
    fn needed(n: usize) -> usize {
        n.div_ceil(2)
    }

    fn holds(&self, now: Time) -> bool {
        self.alone || self.valid_until.is_some_and(|until| now < until)
    }
}

impl Node {
    /// Whether the lease lets this node claim now; a claim that has not
    /// started also waits until every lease this node renewed for another
    /// has run out (scheduling a look then).
    pub(super) fn lease_held(&mut self, now: Time) -> bool {
        if !self.claiming
            && let Some((_, free)) = self.lease.granted
            && now < free
        {
            self.confirm_again_at(free);
            return false;
        }
        self.lease.holds(now)
    }

    /// Until when a claim holds without another renewal (`None`: no lease
    /// bounds it).
    /// The witnesses this node pings while it holds (or seeks) the lease.
    pub(crate) fn lease_witnesses(&self) -> Vec<Arc<str>> {
        if self.lease.active {
            self.lease
                .witnesses
                .iter()
                .map(|w| w.name().clone())
                .collect()
        } else {
            Vec::new()
        }
    }

    pub(crate) fn lease_until(&self) -> Option<Time> {
        if self.lease.alone || !self.claiming {
            None
        } else {
            self.lease.valid_until
        }
    }

    /// Starts or stops renewing as the election goes: the elected node
    /// renews (before it claims: the claim waits for a renewal).
    pub(super) fn steer_lease(&mut self, now: Time, elected: bool) {
        if self.cfg.gossip.lease.is_zero() {
            self.lease.alone = true;
            return;
        }
        let wanted = elected && self.phase == Phase::Joined;
        if wanted && !self.lease.active {
            self.lease.active = true;
            self.changes += 1;
            self.lease.valid_until = None;
            self.lease_tick(now);
        } else if !wanted && self.lease.active {
            self.changes += 1;
            // Not elected, so not claiming after this input; the snapshot
            // saying so is published before this datagram goes out.
            let release = Control::LeaseReleased {
                from: self.id().clone(),
                round: self.lease.round,
            };
            self.send_to_witnesses(&release);
            self.lease.active = false;
            self.lease.valid_until = None;
            self.lease.witnesses.clear();
            self.lease.previous.clear();
            self.lease.renewals.clear();
            self.lease.alone = false;
        }
    }

    /// Sends `message` to the witnesses, and to the old set while it is
    /// open, once each.
    fn send_to_witnesses(&mut self, message: &Control) {
        let mut to: Vec<SocketAddr> = self
            .lease
            .witnesses
            .iter()
            .chain(&self.lease.previous)
            .map(NodeId::socket_addr)
            .collect();
        to.sort_unstable();
        to.dedup();
        for addr in to {
            self.send_control(addr, message);
        }
    }

    /// One renewal: picks the witness set, pings it (and the old set while
    /// it is open), and schedules the next.
    pub(super) fn lease_tick(&mut self, now: Time) {
        if !self.lease.active {
            return;
        }
        self.choose_witnesses();
        let alone = self.lease.witnesses.is_empty();
        if alone != self.lease.alone {
            if self.lease.alone && self.claiming {
                // Claiming alone, and now with witnesses: none of them has
                // answered, so none can find the lease over yet, and the
                // claim goes on for one lease while they answer (else the
                // first member to join a founder cost it the role for a
                // quorum check and a new term).
                self.lease.valid_until = Some(now + self.cfg.gossip.lease);
                self.schedule(now + self.cfg.gossip.lease, NodeTimer::LeaseLapse);
            }
            self.lease.alone = alone;
            self.settled = None;
        }
        if !alone {
            self.lease.round += 1;
            let ping = Control::LeasePing {
                from: self.id().clone(),
                round: self.lease.round,
                epoch: self.lease.epoch,
                lease_ms: u32::try_from(self.cfg.gossip.lease.as_millis()).unwrap_or(u32::MAX),
                witnesses: self.lease.witnesses.clone(),
            };
            self.send_to_witnesses(&ping);
            self.stats.lease_renewals_sent += 1;
            if self.lease.renewals.len() == KEPT_ROUNDS {
                self.lease.renewals.pop_front();
            }
            self.lease.renewals.push_back(Sent {
                round: self.lease.round,
                epoch: self.lease.epoch,
                sent: now,
                answered: Vec::new(),
            });
        }
        self.schedule(now + self.cfg.gossip.lease_interval, NodeTimer::LeaseTick);
    }

    /// Moves the witness set towards the two candidates that follow this
    /// node, one member at a time, and only once the last change closed.
    fn choose_witnesses(&mut self) {
        let own = self.record.name.clone();
        // An old set closes early when none of its members can answer any
        // more: each is down or left here.
        if !self.lease.previous.is_empty()
            && self.lease.previous.iter().all(|w| {
                self.members.get(&w.key()).is_none_or(|k| {
                    k.id.as_ref() != Some(w) || !k.state.is_some_and(MemberState::is_live)
                })
            })
        {
            self.lease.previous.clear();
        }
        if !self.lease.previous.is_empty() {
            return;
        }
        let desired = self.members.lease_witnesses(&own, WITNESSES);
        if desired == self.lease.witnesses {
            return;
        }
        let mut next: Vec<NodeId> = self
            .lease
            .witnesses
            .iter()
            .filter(|w| desired.contains(w))
            .cloned()
            .collect();
        // One new member per change, so the sets overlap and the old one
        // closes with its first answer to the new one.
        let fresh: Vec<&NodeId> = desired.iter().filter(|w| !next.contains(w)).collect();
        let replacing = next.len() < self.lease.witnesses.len() || !fresh.is_empty();
        if !replacing {
            return;
        }
        if let Some(first) = fresh.first() {
            next.push((*first).clone());
        }
        // Keep one old member when both would go, so the sets overlap.
        if next.len() < WITNESSES.min(desired.len())
            && let Some(kept) = self.lease.witnesses.iter().find(|w| !next.contains(w))
        {
            next.push(kept.clone());
        }
        next.truncate(WITNESSES);
        self.lease.previous = std::mem::replace(&mut self.lease.witnesses, next);
        self.lease.epoch += 1;
        // `/v1/primary` names them.
        self.changes += 1;
        tracing::debug!(
            witnesses = ?self.lease.witnesses.iter().map(|w| w.name().to_string()).collect::<Vec<_>>(),
            epoch = self.lease.epoch,
            "lease witnesses changed"
        );
    }

    /// A witness answered a renewal.
    pub(super) fn lease_ack(&mut self, now: Time, witness: &NodeId, round: u64) {
        let epoch = self.lease.epoch;
        let in_current = self.lease.witnesses.contains(witness);
        let in_previous = self.lease.previous.contains(witness);
        let Some(renewal) = self.lease.renewals.iter_mut().find(|r| r.round == round) else {
            return;
        };
        if renewal.answered.contains(&witness.key()) {
            return;
        }
        renewal.answered.push(witness.key());
        if renewal.epoch != epoch {
            return;
        }
        if in_previous {
            // It knows the new set now: the old one cannot agree without it.
            self.lease.previous.clear();
        }
        if !in_current || !self.lease.previous.is_empty() {
            return;
        }
        let answered = renewal
            .answered
            .iter()
            .filter(|key| self.lease.witnesses.iter().any(|w| w.key() == **key))
            .count();
        if answered >= LeaseHolder::needed(self.lease.witnesses.len()) {
            let until = renewal.sent + self.cfg.gossip.lease;
            if now < until && self.lease.valid_until.is_none_or(|held| held < until) {
                let was_held = self.lease.holds(now);
                self.lease.valid_until = Some(until);
                self.schedule(until, NodeTimer::LeaseLapse);
                if !was_held {
                    self.settled = None;
                }
            }
        }
    }

    /// The lease may have lapsed: elect again.
    pub(super) fn lease_lapse(&mut self, now: Time) {
        if !self.lease.holds(now) {
            if self.claiming {
                self.stats.lease_lapses += 1;
                tracing::warn!("lease not renewed by a witness in time; not claiming the role");
            }
            self.settled = None;
        }
    }

    // ---- the witness's side -------------------------------------------------

    /// A holder renews: answer, unless this view holds it down or this
    /// witness gave its word that the lease is over.
    pub(super) fn lease_ping(&mut self, now: Time, from: SocketAddr, ping: Renewal) {
        let Renewal {
            holder,
            round,
            epoch,
            lease,
            witnesses,
        } = ping;
        if self.phase != Phase::Joined
            || lease.is_zero()
            || holder.key() == self.id().key()
            || witnesses.len() > WITNESSES
            || self
                .members
                .get(&holder.key())
                .is_some_and(|k| k.id.as_ref() == Some(&holder) && k.swim_down())
        {
            return;
        }
        let key = holder.key();
        let own = self.id().key();
        if self
            .witnessing
            .get(&key)
            .is_some_and(|w| w.holder.incarnation() > holder.incarnation())
        {
            return;
        }
        if let Some(at) = self.lease.released.iter().position(|(h, _)| h.key() == key) {
            let (released, last) = &self.lease.released[at];
            if *released == holder && round <= *last {
                return;
            }
            // Elected again (or a new life): a fresh lease.
            self.lease.released.remove(at);
        }
        if !self.witnessing.contains_key(&key) && self.witnessing.len() >= MAX_WITNESSED {
            // Forget the holder heard from least recently.
            if let Some(oldest) = self
                .witnessing
                .iter()
                .min_by_key(|(_, w)| w.last)
                .map(|(k, _)| *k)
            {
                self.witnessing.remove(&oldest);
            }
        }
        let entry = self.witnessing.entry(key).or_insert_with(|| {
            Witnessed::new(holder.clone(), lease, epoch, witnesses.clone(), now)
        });
        if entry.holder != holder {
            *entry = Witnessed::new(holder.clone(), lease, epoch, witnesses.clone(), now);
        }
        entry.lease = lease;
        // Rounds rise within a life: an older one is a replay or came late.
        if round <= entry.round {
            return;
        }
        entry.round = round;
        entry.last = now;
        if epoch >= entry.epoch {
            entry.epoch = epoch;
            entry.witnesses = witnesses;
        }
        // The holder reaches this witness after all: a question this
        // witness asks, or a takeover it runs, stops (its word to another
        // witness, if it gave one, stands).
        entry.asking = None;
        entry.asked = 0;
        if entry.taking_over.take().is_some_and(|until| now < until) {
            tracing::info!(holder = %holder, "the holder renews again; not taking it over");
        }
        let witnessing = entry.witnesses.iter().any(|w| w.key() == own);
        let wait = entry.wait();
        let refusing = entry.refusing(now);
        if witnessing {
            self.schedule(now + wait, NodeTimer::LeaseSilence(key));
        }
        if refusing {
            return;
        }
        let ack = Control::LeaseAck {
            from: self.id().clone(),
            round,
        };
        self.send_control(from, &ack);
        self.stats.lease_renewals_witnessed += 1;
        self.lease.granted = Some((key, now + wait));
    }

    /// No ping for a lease and a tenth, perhaps: ask the other witnesses
    /// whether the lease ran out for them too.
    pub(super) fn lease_silence(&mut self, now: Time, key: MemberKey) {
        let own = self.id().clone();
        let named = |node: &Node, holder: &NodeId| {
            node.phase == Phase::Joined
                && node.election.primary.as_deref() == Some(&**holder.name())
                && node
                    .members
                    .get(&holder.key())
                    .is_some_and(|k| k.id.as_ref() == Some(holder) && !k.swim_down())
        };
        let Some(entry) = self.witnessing.get(&key) else {
            return;
        };
        let window = entry.promise() / 2;
        if entry.asking.is_some() || entry.refusing(now) || now < entry.last + entry.wait() {
            return;
        }
        if !entry.witnesses.contains(&own) || !named(self, &entry.holder) {
            // No longer its witness, or no longer the primary here (it
            // drained, left, or was declared down): nothing to take over.
            self.witnessing.remove(&key);
            return;
        }
        self.lease.round += 1;
        let round = self.lease.round;
        let Some(entry) = self.witnessing.get_mut(&key) else {
            return;
        };
        entry.asking = Some((round, vec![own.key()], now + window));
        entry.asked = entry.asked.saturating_add(1);
        let query = Control::LeaseQuery {
            from: own.clone(),
            holder: entry.holder.clone(),
            epoch: entry.epoch,
            round,
        };
        let others: Vec<SocketAddr> = entry
            .witnesses
            .iter()
            .filter(|w| **w != own)
            .map(NodeId::socket_addr)
            .collect();
        tracing::debug!(holder = %entry.holder, "no lease renewal for a lease; asking the other witness");
        for to in others {
            self.send_control(to, &query);
        }
        self.schedule(
            now + self.cfg.gossip.probe_timeout / 2,
            NodeTimer::LeaseQueryDue(key, round),
        );
        self.lease_verdict_count(now, key);
    }

    /// A question went unanswered: ask again, a few times, while the
    /// silence lasts; then give up, and answer the holder again.
    pub(super) fn lease_query_due(&mut self, now: Time, key: MemberKey, round: u64) {
        let Some(entry) = self.witnessing.get_mut(&key) else {
            return;
        };
        if entry.asking.as_ref().is_none_or(|(r, _, _)| *r != round) {
            return;
        }
        entry.asking = None;
        if entry.asked >= 4 {
            // Nobody answers: SWIM's own path declares the holder down if
            // it is gone.
            entry.asked = 0;
            entry.last = now;
            return;
        }
        self.lease_silence(now, key);
    }

    /// Another witness asks whether the holder's lease ran out here.
    pub(super) fn lease_query(
        &mut self,
        now: Time,
        from: SocketAddr,
        asker: &NodeId,
        holder: &NodeId,
        epoch: u64,
        round: u64,
    ) {
        if self.phase != Phase::Joined {
            return;
        }
        let (over, known_epoch, left) = match self.witnessing.get_mut(&holder.key()) {
            Some(entry) if entry.holder == *holder => {
                let wait = entry.wait();
                let over =
                    entry.epoch <= epoch && (entry.refusing(now) || now >= entry.last + wait);
                if over {
                    entry.promised_until = Some(now + entry.promise());
                }
                (over, entry.epoch, (entry.last + wait).saturating_sub(now))
            }
            // A later life of the holder here, or never its witness (or
            // forgotten long ago): no answer of this node renews that life.
            _ => (true, 0, Duration::ZERO),
        };
        tracing::debug!(asker = %asker, holder = %holder, over, "asked whether a lease is over");
        let verdict = Control::LeaseVerdict {
            from: self.id().clone(),
            round,
            over,
            epoch: known_epoch,
            left_ms: u32::try_from(left.as_millis()).unwrap_or(u32::MAX),
        };
        self.send_control(from, &verdict);
    }

    /// Another witness answered.
    pub(super) fn lease_verdict(
        &mut self,
        now: Time,
        witness: &NodeId,
        round: u64,
        over: bool,
        epoch: u64,
        left: Duration,
    ) {
        let Some((key, entry)) = self
            .witnessing
            .iter_mut()
            .find(|(_, e)| e.asking.as_ref().is_some_and(|(r, _, _)| *r == round))
        else {
            return;
        };
        let key = *key;
        if !entry.witnesses.contains(witness) {
            return;
        }
        if over {
            if let Some((_, said, _)) = entry.asking.as_mut()
                && !said.contains(&witness.key())
            {
                said.push(witness.key());
            }
            self.lease_verdict_count(now, key);
        } else {
            // The other witness heard the holder since: this one answers
            // its pings again, and asks again when the other's wait would
            // be over too (a ping before then settles it). Resetting its
            // own wait instead made two witnesses that heard the last ping
            // a moment apart put each other off for good.
            entry.asking = None;
            entry.asked = 0;
            if epoch > entry.epoch {
                entry.epoch = epoch;
            }
            let at = now + left.min(entry.wait()) + Duration::from_millis(1);
            self.schedule(at, NodeTimer::LeaseSilence(key));
        }
    }

    /// Takes the holder over when a majority of the voters other than the
    /// holder found its lease over.
    fn lease_verdict_count(&mut self, now: Time, key: MemberKey) {
        let Some(entry) = self.witnessing.get(&key) else {
            return;
        };
        let Some((_, said, until)) = entry.asking.as_ref() else {
            return;
        };
        let voters = entry.witnesses.len() + 1;
        let quorum = voters / 2 + 1;
        let agreed = entry
            .witnesses
            .iter()
            .filter(|w| said.contains(&w.key()))
            .count();
        if agreed < quorum {
            return;
        }
        let (holder, until) = (entry.holder.clone(), *until);
        if let Some(entry) = self.witnessing.get_mut(&key) {
            entry.asking = None;
            entry.taking_over = Some(until);
        }
        tracing::info!(
            holder = %holder,
            "the witnesses found the primary's lease over; declaring it down"
        );
        self.lease_takeover(now, holder, until);
    }

    /// Declares the holder down once this view may (a roll call), and
    /// tells every live member; gives up at `until`, when the other
    /// witness's word runs out.
    pub(super) fn lease_takeover(&mut self, now: Time, holder: NodeId, until: Time) {
        if now >= until {
            return;
        }
        // A takeover the holder stopped by renewing here (`lease_ping`)
        // stays stopped: this witness has answered it since, and a
        // takeover timer that ran on anyway declared down a holder that
        // had renewed its lease through this witness and claimed again,
        // which made its successor claim beside it (found by the swarm,
        // seed 5 #987).
        if !self
            .witnessing
            .get(&holder.key())
            .is_some_and(|w| w.holder == holder && w.taking_over.is_some())
        {
            return;
        }
        let Some(known) = self.members.get(&holder.key()) else {
            return;
        };
        if known.id.as_ref() != Some(&holder) || known.swim_down() {
            return;
        }
        let incarnation = known.swim.map_or(0, |(incarnation, _)| incarnation);
        if let Some(later) = self.defer_accusation(now) {
            // Run again the moment a roll call passes, or at its deadline.
            let again = NodeTimer::LeaseTakeover(holder, until);
            if std::mem::take(&mut self.roll.awaited) {
                self.roll.waiting.push(again.clone());
            }
            self.schedule(later.min(until), again);
            return;
        }
        if self.roll.answers.contains(&holder.key()) {
            // The holder answered the roll call that allows the down: it is
            // reachable (a partition between it and its witnesses healed).
            tracing::info!(holder = %holder, "the holder answered the roll call; not taking it over");
            if let Some(entry) = self.witnessing.get_mut(&holder.key()) {
                entry.taking_over = None;
            }
            return;
        }
        let down = std::iter::once(foca::Member::new(
            holder.clone(),
            incarnation,
            foca::State::Down,
        ));
        if let Err(err) = self.foca.apply_many(down, true, &mut self.rt) {
            tracing::debug!(
                error = err.to_string().as_str(),
                "declaring a lapsed primary down"
            );
        }
        self.check.lease_over = Some((holder.key(), holder.incarnation()));
        self.scan_needed = true;
        self.absorb_foca(now);
        let over = Control::LeaseOver {
            from: self.id().clone(),
            holder,
            incarnation,
        };
        self.send_to_live_members(&over);
    }

    /// The holder gave its lease up: nothing to wait for, nothing to take
    /// over.
    pub(super) fn lease_released(&mut self, holder: &NodeId, round: u64) {
        match self.witnessing.get(&holder.key()) {
            Some(entry) if entry.holder == *holder && entry.round <= round => {
                self.witnessing.remove(&holder.key());
            }
            _ => return,
        }
        // The release and the holder's last renewal leave together; the
        // renewal, arriving second, re-granted the lease and held this
        // node's own claim off for a lease (found by `flapping-primary`).
        let released = &mut self.lease.released;
        released.retain(|(h, _)| h.key() != holder.key());
        if released.len() >= MAX_WITNESSED {
            released.pop_front();
        }
        released.push_back((holder.clone(), round));
        if self
            .lease
            .granted
            .is_some_and(|(key, _)| key == holder.key())
        {
            self.lease.granted = None;
            self.settled = None;
        }
    }

    /// A witness tells that the holder's lease is over: it is down, as in
    /// gossip (a sender that does not vouch passes it on as a suspicion).
    pub(super) fn lease_over(
        &mut self,
        now: Time,
        holder: NodeId,
        incarnation: foca::Incarnation,
        vouched: bool,
    ) {
        if self.phase == Phase::Left {
            return;
        }
        if holder.key() == self.id().key() || !self.members.contains(&holder.key()) {
            return;
        }
        self.check.lease_over = Some((holder.key(), holder.incarnation()));
        let state = if vouched {
            foca::State::Down
        } else {
            foca::State::Suspect
        };
        let update = std::iter::once(foca::Member::new(holder, incarnation, state));
        if let Err(err) = self.foca.apply_many(update, true, &mut self.rt) {
            tracing::debug!(error = err.to_string().as_str(), "applying a lapsed lease");
        }
        self.scan_needed = true;
        self.absorb_foca(now);
    }
}
