//! Down and suspect notices: telling a member what this view holds of it,
//! directly, outside gossip. A member held down learns it must rejoin
//! (the only way a frozen or cut-off member finds out); a suspect learns
//! it must refute; a member told it is down by a view without a quorum
//! sends the teller back instead.

use super::*;

impl Node {
    /// Whether foca's handling of a packet from this sender cannot change
    /// its state: we already know this identity, alive or suspect at this
    /// SWIM incarnation or later, or down (which only a new identity ends).
    pub(super) fn sender_as_expected(&self, peek: &codec::FocaPeek) -> bool {
        let Some(known) = self.members.get(&peek.src) else {
            return false;
        };
        let same_life = known.id.as_ref().is_some_and(|id| {
            id.incarnation() == peek.src_life && id.socket_addr() == peek.src_addr
        });
        match known.swim {
            Some((incarnation, state)) if same_life => match state {
                foca::State::Alive | foca::State::Suspect => incarnation >= peek.src_incarnation,
                foca::State::Down => true,
            },
            _ => false,
        }
    }

    /// Tells a sender we hold as down that it is, at most once a second:
    /// the only way a member that was frozen or cut off learns it must
    /// rejoin.
    pub(super) fn notify_if_down(&mut self, now: Time, from: SocketAddr, peek: &codec::FocaPeek) {
        let Some(known) = self.members.get(&peek.src) else {
            return;
        };
        let Some(id) = known.id.as_ref() else {
            return;
        };
        let down = known.swim_down();
        let down_vouched = known.down_vouched;
        // Every view tells, quorate or not (the envelope says which): when no
        // side of a healed partition kept a majority, the notices between
        // the fragments are what merges them again. A quorate receiver
        // ignores a notice from a view without a quorum and makes the sender
        // rejoin instead (`down_notice`), so a healing minority never moves
        // the majority.
        // A joining view is in flux (a rejoin's sync may be half applied):
        // only a member tells.
        // A stalled node's view is stale (the datagrams queued while it did
        // not run hold news it has not weighed): it tells nobody either.
        if !down
            || id.incarnation() != peek.src_life
            || self.phase != Phase::Joined
            || self.stalled.is_some()
        {
            return;
        }
        if self
            .notices
            .get(&peek.src)
            .is_some_and(|last| now < *last + Duration::from_secs(1))
        {
            return;
        }
        if self.notices.len() > 4096 {
            self.notices
                .retain(|_, last| now < *last + Duration::from_secs(60));
        }
        self.notices.insert(peek.src, now);
        let notice = Control::DownNotice {
            identity: id.clone(),
            from: self.id().clone(),
        };
        // A down declared while this view vouched is the cluster's word even
        // if the view lost its majority since: a primary left alone by a
        // crash after the majority had declared a cut-off member down was
        // sent back by that member at the heal (the member, seeing the
        // primary alive again, counted a majority of its own) and lost its
        // rank to it (found by the swarm).
        let vouched = down_vouched;
        tracing::debug!(member = %id, vouched, "telling a member it is down here");
        self.send_control_flagged(from, &notice, vouched);
    }

    /// Someone holds our current identity as down: rejoin as a new life.
    pub(super) fn down_notice(
        &mut self,
        now: Time,
        from: SocketAddr,
        identity: NodeId,
        sender: NodeId,
        sender_vouches: bool,
    ) {
        if self.phase != Phase::Joined || identity != *self.id() {
            return;
        }
        let sender_life = sender.incarnation();
        if self
            .members
            .get(&sender.key())
            .and_then(|known| known.id.as_ref())
            .is_some_and(|known| known.incarnation() > sender_life)
        {
            // From an earlier life of its sender: what that life held down,
            // the sender's new life learned afresh (a replay, or a notice
            // that arrived late).
            return;
        }
        let this_life = (self.id().incarnation(), sender_life);
        if self.dismissed.get(&sender.key()) == Some(&this_life) {
            // A majority held this life of ours alive against this life of
            // the sender already: the sender has not rejoined yet (tell it
            // again), or this is a replay.
            return self.tell_behind(now, from);
        }
        if !sender_vouches && self.vouches(self.election.claim_quorate) {
            // The sender is the one cut off: it holds us down, we see a
            // majority. It rejoins through us, not we through it.
            return self.tell_behind(now, from);
        }
        if sender_vouches && (self.claiming || self.contested_down.is_some()) {
            // Two views that each see a majority cannot both be right, and
            // the sender's may be a minority's that counted members cut off
            // a moment before as alive when it declared us down. A primary
            // stops claiming and asks its majority: it rejoins only if none
            // answers, and claims again (with its rank) if one does.
            if self.contested_down.is_none() {
                self.contested_down = Some((from, identity, sender));
                self.check.confirmed = false;
                self.start_quorum_check(now);
                self.settled = None;
            }
            return;
        }
        self.accept_down_notice(now, from, identity, sender_vouches);
    }

    /// Remembers that `sender`'s notice holding this life down was
    /// dismissed, so the same notice again (a replay) changes nothing.
    pub(super) fn dismiss(&mut self, sender: &NodeId) {
        if self.dismissed.len() >= MAX_DISMISSED {
            // Bounded; forgetting only costs a sender's notice one more
            // weighing.
            self.dismissed.clear();
        }
        self.dismissed.insert(
            sender.key(),
            (self.id().incarnation(), sender.incarnation()),
        );
    }

    /// Rejoins as a new life: `from` holds our current `identity` down.
    pub(super) fn accept_down_notice(
        &mut self,
        now: Time,
        from: SocketAddr,
        identity: NodeId,
        sender_vouches: bool,
    ) {
        if self.phase != Phase::Joined || identity != *self.id() {
            return;
        }
        self.notified_by = Some(from);
        self.sender_vouches = sender_vouches;
        let own = std::iter::once(foca::Member::down(identity));
        if let Err(err) = self.foca.apply_many(own, false, &mut self.rt) {
            tracing::debug!(error = err.to_string().as_str(), "applying a down notice");
        }
        self.absorb_foca(now);
        self.sender_vouches = false;
    }

    /// A member without a quorum holds us down while we see one: tell it it
    /// is down here (it is, at the life we last knew, or it would not have
    /// been cut off), so it rejoins through us with a whole-state sync. At
    /// most once a second per member, as every down notice.
    pub(super) fn tell_behind(&mut self, now: Time, from: SocketAddr) {
        let Some((key, id)) = self.members.at_addr(from) else {
            return;
        };
        if self
            .notices
            .get(&key)
            .is_some_and(|last| now < *last + Duration::from_secs(1))
        {
            return;
        }
        self.notices.insert(key, now);
        tracing::debug!(
            member = %id,
            alive = self.election.alive,
            expected = self.election.expected,
            "a member without a quorum holds us down: sending it back"
        );
        let notice = Control::DownNotice {
            identity: id,
            from: self.id().clone(),
        };
        self.send_control(from, &notice);
    }

    /// Someone suspects our current identity: refute now (foca bumps our
    /// SWIM incarnation and gossips it).
    pub(super) fn suspect_notice(
        &mut self,
        now: Time,
        identity: NodeId,
        incarnation: foca::Incarnation,
        from: NodeId,
    ) {
        if self.phase != Phase::Joined || identity != *self.id() {
            return;
        }
        let own = std::iter::once(foca::Member::new(
            identity,
            incarnation,
            foca::State::Suspect,
        ));
        if let Err(err) = self.foca.apply_many(own, false, &mut self.rt) {
            tracing::debug!(
                error = err.to_string().as_str(),
                "applying a suspect notice"
            );
        }
        // Our next message to the asker carries the refuting incarnation.
        if from != *self.id()
            && let Err(err) = self.foca.announce(from, &mut self.rt)
        {
            tracing::debug!(
                error = err.to_string().as_str(),
                "answering a suspect notice"
            );
        }
        self.absorb_foca(now);
    }
}
