//! Admission to the quorum (see [`Admission`]): a joined node counts in
//! the quorum only once a majority of the members admitted before it
//! answered it directly.

use super::*;

/// A joined node's request to be counted in the quorum (see
/// [`HealthRecord::admitted`]): members that joined a side of a partition
/// without a majority must not make it one, so a newcomer counts only once
/// a majority of the members admitted before it answered it directly: Raft's
/// single-server membership change, with the answers as the old
/// configuration's majority. A view that merely lists the old members as
/// alive is not enough: they may have been cut off a moment ago.
#[derive(Debug, Default)]
pub(super) struct Admission {
    pub(super) round: u64,
    /// The round awaiting answers.
    pub(super) pending: Option<u64>,
    /// Admitted members that answered the pending round.
    pub(super) answers: HashSet<MemberKey>,
    /// Where the pending round's request went.
    pub(super) asked: HashSet<SocketAddr>,
    /// Newcomers that asked this node before it was admitted itself, and
    /// the round each asked in: answered the moment it is (see
    /// [`Node::answer_admission`]).
    pub(super) unanswered: Vec<(MemberKey, SocketAddr, u64)>,
    /// An admitted member came back (see [`Node::admission_member_back`]):
    /// the pending round starts over.
    pub(super) restart: bool,
}

/// At most this many newcomers wait for this node's own admission: the
/// members that join within a round trip of it, and a flood of forged
/// requests (in an open cluster) must not grow it.
const MAX_UNANSWERED: usize = 64;

impl Node {
    /// Asks every live member to count this node in the quorum (see
    /// [`Admission`]); asked again every probe period until a majority
    /// answers.
    pub(super) fn ask_admission(&mut self, now: Time) {
        self.admission.round += 1;
        self.admission.pending = Some(self.admission.round);
        self.admission.answers.clear();
        self.admission.asked.clear();
        self.ask_members_not_asked();
        let due = now + self.cfg.gossip.probe_period;
        self.schedule(due, NodeTimer::AdmissionDue(self.admission.round));
        self.count_admission(now);
    }

    /// Sends the pending round's request to every live member it has not
    /// gone to: members this view learned of since the round started count
    /// in the expected size as soon as they are admitted, so their answers
    /// are needed too. Asked only at the next round, a probe period later,
    /// they were too late when the founder died in that second (two
    /// joined within a round trip of each other, the later one knew only
    /// the founder when it asked; `herd demo`).
    pub(super) fn ask_members_not_asked(&mut self) {
        let Some(round) = self.admission.pending else {
            return;
        };
        let request = Control::AdmitRequest {
            from: self.id().clone(),
            round,
        };
        for to in self.members.live_addrs() {
            if self.admission.asked.insert(to) {
                self.send_control(to, &request);
            }
        }
    }

    pub(super) fn answer_admission(
        &mut self,
        now: Time,
        from: SocketAddr,
        asker: &NodeId,
        round: u64,
    ) {
        if self.phase == Phase::Left || asker.key() == self.id().key() {
            return;
        }
        if self.phase == Phase::Joined {
            self.meet_newcomer(now, asker);
        }
        if !self.record.admitted {
            // Answered once this node is admitted (even one still joining:
            // the asker learned of it from a member it joined through).
            // Two nodes joined within a round trip of each other: the later
            // one asked the earlier before the earlier's own admission,
            // counted only the founder's answer against both, and would ask
            // again only a probe period later. The founder, the primary,
            // died in that second, and the two left were one admitted member
            // of two expected: no majority, no primary for good (`herd
            // demo`, one run in five).
            let waiting = &mut self.admission.unanswered;
            waiting.retain(|(key, _, _)| *key != asker.key());
            if waiting.len() == MAX_UNANSWERED {
                waiting.remove(0);
            }
            waiting.push((asker.key(), from, round));
            return;
        }
        self.send_admit(from, round);
    }

    fn send_admit(&mut self, to: SocketAddr, round: u64) {
        let admit = Control::Admit {
            from: self.id().clone(),
            round,
        };
        self.send_control(to, &admit);
    }

    /// This node was just admitted: the newcomers that asked before get
    /// their answer now.
    fn answer_unanswered(&mut self) {
        for (_, to, round) in std::mem::take(&mut self.admission.unanswered) {
            self.send_admit(to, round);
        }
    }

    /// A newcomer asked this node directly: it is alive, whatever gossip
    /// has told so far. Gossip reaches every member only with high
    /// probability (each passes an update on a few times, to random
    /// members): at 100 nodes joining over 10 s, one member in a few
    /// thousand heard of a newcomer only at its next whole-state sync or
    /// when the newcomer happened to probe it, 12 to 29 s later, and
    /// counted it neither in the quorum nor as a candidate meanwhile
    /// (`primary-crash.toml --seed 7`). The newcomer asks every member it
    /// knows, so every member it knows learns of it from the newcomer
    /// itself, as from any datagram it sends (foca takes a sender as alive
    /// the same way). Alive at SWIM incarnation 0 changes nothing foca
    /// already holds of this life: a suspicion of it stands until refuted.
    /// Gossiped on, as news learned any other way: members that joined at
    /// the same moment through seeds that did not know each other yet are
    /// not in each other's admission requests, and gossip of a newcomer
    /// died out at once when the members it asked kept it to themselves
    /// (219 s at 1,000 nodes).
    pub(super) fn meet_newcomer(&mut self, now: Time, newcomer: &NodeId) {
        if !self.members.admit(newcomer.key()) {
            return;
        }
        let alive = std::iter::once(foca::Member::alive(newcomer.clone()));
        if let Err(err) = self.foca.apply_many(alive, true, &mut self.rt) {
            tracing::debug!(error = err.to_string().as_str(), "taking a newcomer");
        }
        self.scan_needed = true;
        self.absorb_foca(now);
    }

    /// An admitted member this view held suspect or down is alive again
    /// while this node waits to be admitted: the network may have changed
    /// under the pending round, so it starts over, and every member is
    /// asked again at once. A majority of answers means something only if
    /// the members gave them on one side of any cut: newcomers on a side
    /// without a majority were admitted in a round that spanned a change
    /// of partition (answers from four members before it, from two of the
    /// other side after it), the members that answered first never heard
    /// of the admissions, and each side counted a majority: two primaries
    /// for 17 s (seed 4 #352 of the swarm). A member that comes back is
    /// how a change shows here: its answer can only follow a request sent
    /// once it was reachable, and the round asks each member once.
    pub(super) fn admission_member_back(&mut self, key: &MemberKey) {
        if self.admission.pending.is_some()
            && !self.record.admitted
            && self.members.is_admitted(key)
        {
            self.admission.restart = true;
        }
    }

    pub(super) fn admitted_by(&mut self, now: Time, member: &NodeId, round: u64) {
        if self.admission.pending == Some(round) {
            self.admission.answers.insert(member.key());
            self.count_admission(now);
        }
    }

    /// Admitted once more than half of the members this view counts (those
    /// admitted, and those whose record has not arrived) answered.
    pub(super) fn count_admission(&mut self, now: Time) {
        if self.record.admitted || self.admission.pending.is_none() {
            self.admission.pending = None;
            return;
        }
        let answered = self
            .admission
            .answers
            .iter()
            .filter(|key| self.members.is_admitted(key))
            .count();
        let expected = self.members.elect().expected;
        if answered * 2 > expected || self.cfg.quorum == QuorumPolicy::Off {
            self.admission.pending = None;
            self.record.admitted = true;
            tracing::debug!(answered, expected, "admitted to the quorum");
            self.publish_record(now);
            // Gossip would take a moment to tell every member, and a view
            // that has not heard it counts a majority without us: a primary
            // cut off with one other member 0.3 s after four joined kept
            // claiming for 30 s, counting only the two of them (real agents,
            // a 2/2/1 split).
            let admitted = Control::Admitted {
                identity: self.id().clone(),
                record: self.record.clone(),
            };
            self.send_to_live_members(&admitted);
            self.answer_unanswered();
            self.settled = None;
        }
    }

    pub(super) fn admission_due(&mut self, now: Time, round: u64) {
        if self.admission.pending != Some(round) {
            return;
        }
        self.admission.pending = None;
        if self.phase == Phase::Joined && !self.record.admitted {
            self.ask_admission(now);
        }
    }

    /// A new life of a member that was admitted takes its place in the
    /// quorum at once: the member is in every view's expected size already
    /// (one name is one member), so counting the new life adds nobody, while
    /// asking for admission again would need a majority of the *other*
    /// admitted members. Three members, two crashed, one restarted: the
    /// survivor alone is no majority of the others, so the restarted one
    /// was never admitted and the cluster, two of three running, had no
    /// primary for good (found by the swarm). A member that left (or was
    /// forgotten) is a newcomer when it comes back. A second process given
    /// a live member's name is refused at the join (`NameTaken`).
    pub(crate) fn inherit_admission(&mut self) {
        let earlier = self.members.own_admitted_in();
        if !self.record.admitted && earlier.is_some() && earlier == Some(self.record.founding) {
            tracing::debug!("an earlier life of this node was admitted; taking its place");
            self.record.admitted = true;
            self.answer_unanswered();
        }
    }
}
