//! One member's whole protocol state, as a state machine with no IO.
//!
//! Inputs are `handle_packet`, `handle_timeout` and `handle_command`, each
//! given `now`; outputs are drained with `poll_transmit`, `poll_event` and
//! `poll_timeout` after every input. Inside, foca runs SWIM; the node adds
//! the health records, the join with a full state sync, the membership view
//! and the election.
//!
//! The view is kept incrementally: foca's membership is rescanned only after
//! an input that can have changed it (a packet carrying updates or from a
//! sender in an unexpected state, a probe or suspicion timer), and the
//! [`Roster`] re-elects in logarithmic time.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use foca::Foca;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::api::{
    Command, CommandError, Event, MemberInfo, NodeStats, Phase, Snapshot, Start, Transmit,
};
use super::codec::{self, Control, DropReason, PayloadKind, SyncPart, WireCodec};
use super::config::{ConfigError, NodeConfig};
use super::health::{CheckSummary, HealthRecord};
use super::identity::{KeyMap, MemberKey, NodeId};
use super::join::{JoinContext, JoinStep, Joining};
use super::members::{Change, Members, Own, Standing};
use super::outbox::{Note, Outbox};
use super::records::RecordGossip;
use super::timer::{Time, TimerQueue};
use super::view::{Election, MemberState, QuorumPolicy};

pub(crate) type Swim = Foca<NodeId, WireCodec, ChaCha8Rng, RecordGossip>;

/// Bound on timers handled in one `handle_timeout`, against livelock.
const MAX_TIMERS_PER_CALL: usize = 10_000;

/// A joined node's request to be counted in the quorum (see
/// [`HealthRecord::admitted`]): members that joined a side of a partition
/// without a majority must not make it one, so a newcomer counts only once
/// a majority of the members admitted before it answered it directly: Raft's
/// single-server membership change, with the answers as the old
/// configuration's majority. A view that merely lists the old members as
/// alive is not enough: they may have been cut off a moment ago.
#[derive(Debug, Default)]
struct Admission {
    round: u64,
    /// The round awaiting answers.
    pending: Option<u64>,
    /// Admitted members that answered the pending round.
    answers: HashSet<MemberKey>,
}

/// A roll call (see [`Node::defer_accusation`]).
#[derive(Debug, Default)]
struct RollCall {
    round: u64,
    /// The round awaiting answers, and when it started.
    pending: Option<(u64, Time)>,
    /// Members that answered the pending round.
    answers: HashSet<MemberKey>,
    /// When a majority last answered.
    passed_at: Option<Time>,
    /// Set by `defer_accusation` when the accusation it deferred waits for
    /// this roll call: the caller files its timer in `waiting`.
    awaited: bool,
    /// Accusations to run again as soon as a majority answers.
    waiting: Vec<NodeTimer>,
    /// A member this view suspects answered the pending roll call.
    suspect_answered: bool,
}

/// Most quorum checks a node keeps waiting for its view to back them.
const MAX_DEFERRED_ACKS: usize = 8;

/// A quorum check this node may still back (see [`Node::answer_quorum_ping`]).
#[derive(Debug)]
struct DeferredAck {
    asker: NodeId,
    from: SocketAddr,
    round: u64,
    proposed: u64,
    until: Time,
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
struct QuorumCheck {
    round: u64,
    /// The round awaiting answers.
    pending: Option<u64>,
    acks: HashSet<MemberKey>,
    /// When the last check started.
    last: Option<Time>,
    /// Trouble was seen: check when next settling.
    wanted: bool,
    /// The last check failed: do not claim.
    blocked: bool,
    /// A majority named this node primary since it was last elected (asked
    /// only of a fresh rank).
    confirmed: bool,
    /// When the last check passed: a claim starts only right after one.
    confirmed_at: Option<Time>,
    /// The term the last check proposed to claim (0: none), which every
    /// member that backed it learned.
    proposed: u64,
    /// When this node last took a seniority: its record needs a moment to
    /// reach the others before it asks them to confirm a claim.
    ranked_at: Option<Time>,
    /// A `ConfirmAgain` timer is set for this instant.
    again_at: Option<Time>,
}

/// Timers the node sets for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeTimer {
    Foca(foca::Timer<NodeId>),
    /// Retry joining; stale if the number is not the current attempt.
    JoinRetry(u64),
    /// Gossip what is queued.
    Gossip,
    /// Sync the whole state with a random member.
    Sync,
    Reconnect,
    /// The node may claim again after a stall.
    StallOver,
    /// Tell a member our probe of which failed that it is suspected, again.
    Nudge(NodeId, u32),
    /// A quorum check's answers are due.
    QuorumCheckDue(u64),
    /// An admission request went unanswered by a majority: ask again.
    AdmissionDue(u64),
    /// Ask for the confirmation of a claim again (see [`QuorumCheck`]).
    ConfirmAgain,
    /// A suspicion learned by gossip ran long: ask the suspect directly,
    /// up to `SUSPICION_QUESTIONS` times a probe period apart (`asked` so
    /// far), then declare it down if it is still suspect at that life and
    /// SWIM incarnation.
    SuspicionOver {
        key: MemberKey,
        life: u64,
        incarnation: foca::Incarnation,
        asked: u8,
    },
    /// A member's new life became live here a probe period ago: ask it for
    /// its record if gossip has not brought it.
    RecordDue {
        key: MemberKey,
        life: u64,
    },
    /// One whole-state sync outside the periodic ones (see
    /// [`Node::settle`]).
    SyncOnce,
}

/// Direct questions to a suspect before a suspicion learned by gossip ends
/// in a down declaration.
const SUSPICION_QUESTIONS: u8 = 3;

/// A member's protocol state machine.
pub struct Node {
    pub(crate) cfg: NodeConfig,
    pub(crate) foca: Swim,
    pub(crate) rt: Outbox,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) timers: TimerQueue<NodeTimer>,
    /// Shared with foca's codec: set while foca reads a datagram from a
    /// sender that does not vouch, so its downs arrive as suspicions.
    doubt_downs: Arc<AtomicBool>,
    /// Everything this node knows of the other members.
    pub(crate) members: Members,
    scan_needed: bool,
    /// Health records may be waiting in the inbox.
    news_possible: bool,
    /// The roster version the last election was held at; `None` forces
    /// a new one (our own phase or record changed).
    settled: Option<u64>,
    /// A gossip round is scheduled.
    gossip_pending: bool,
    /// When each member last got a down notice from us.
    notices: KeyMap<Time>,
    /// Members whose name a joiner at another address asked for, by name:
    /// when we asked the holder whether it lives (a suspect notice), its
    /// SWIM incarnation then, and its identity. A holder that does not
    /// refute within a probe timeout is a replaced machine.
    pub(crate) replacing: KeyMap<(Time, foca::Incarnation, NodeId)>,
    /// When the node last handled any input.
    last_input: Option<Time>,
    /// When a datagram from another member last arrived (see
    /// [`Node::doubts_itself`]).
    last_heard: Option<Time>,
    /// When the node heard again after a silence that made it doubt itself,
    /// or its view vouched again after it did not: no member is declared
    /// down for a suspicion timeout from then (see
    /// [`Node::defer_accusation`]).
    heard_again: Option<Time>,
    /// The roll call before declaring members down (see
    /// [`Node::defer_accusation`]).
    roll: RollCall,
    /// Until when a rejoined node vouches for nothing (see [`Node::vouches`]).
    vouch_from: Option<Time>,
    /// Who last told us we are down: the first to ask for the state.
    notified_by: Option<SocketAddr>,
    /// The periodic sync and reconnect timers run.
    periodic: bool,
    /// The primary's check quorum (see [`QuorumCheck`]).
    check: QuorumCheck,
    /// This node asking to be counted in the quorum.
    admission: Admission,
    /// When the node found it had stalled (its inputs came far later than
    /// scheduled: a frozen VM, a long pause). It does not claim until a
    /// member that sees a quorum shows it still holds it alive, or
    /// `StallOver`: the cluster may have replaced it meanwhile.
    stalled: Option<Time>,
    pub(crate) record: HealthRecord,
    /// This node's checks as of their last run (the record holds them as of
    /// their last change of state).
    local_checks: Vec<CheckSummary>,
    /// The highest term known when this node rejoined keeping its rank (a
    /// minority had declared it down): if the cluster it rejoins has claimed
    /// a higher term since, a primary serves that this node's old rank
    /// would displace, and the rank goes.
    kept_rank_at: Option<u64>,
    /// Whether this node's view has held a majority since it joined.
    had_majority: bool,
    /// When the view got a majority back after losing it: fragments that
    /// all lost their majority merge over a few seconds of rejoins, and a
    /// view that claims at the first majority it sees can be outranked by a
    /// senior member a moment later. Such a view claims once its membership
    /// has been quiet for two probe periods.
    regained_at: Option<Time>,
    /// When this node last became a member (joined, or rejoined as a new
    /// life).
    joined_at: Time,
    /// Quorum checks this view did not back when they came: answered if it
    /// names the asker before the asker stops waiting.
    deferred_acks: Vec<DeferredAck>,
    /// A vouched down notice this primary got, waiting on a quorum check:
    /// the sender and the identity it holds down.
    contested_down: Option<(SocketAddr, NodeId)>,
    pub(crate) phase: Phase,
    pub(crate) join: Joining,
    election: Election,
    claiming: bool,
    /// Set while foca handles a packet from a sender that saw a quorum.
    sender_quorate: bool,
    /// foca's settings were last sized for this many members.
    sized_for: usize,
    transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: NodeStats,
    /// Bumped on every change a snapshot would show.
    changes: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", self.id())
            .field("phase", &self.phase)
            .field("primary", &self.election.primary)
            .field("claiming", &self.claiming)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with identity `id`, its randomness drawn from `seed`.
    pub fn new(
        cfg: NodeConfig,
        id: NodeId,
        seed: u64,
        start: Start,
        now: Time,
    ) -> Result<Self, Vec<ConfigError>> {
        cfg.validate()?;
        let members = Members::new(
            id.name().clone(),
            cfg.election_rules(),
            cfg.remembered_term,
            now,
        );
        let doubt_downs = Arc::new(AtomicBool::new(false));
        let foca = Foca::with_custom_broadcast(
            id.clone(),
            cfg.foca_config(1),
            ChaCha8Rng::seed_from_u64(seed),
            WireCodec::doubting(doubt_downs.clone()),
            RecordGossip::new(members.inbox().clone()),
        );
        let mut record = HealthRecord::new(
            id.name().clone(),
            id.incarnation(),
            cfg.priority,
            cfg.primary_eligible,
        );
        record.status = cfg.initial_health;
        let mut node = Self {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6865_7264_6e6f_6465),
            join: Joining::default(),
            rt: Outbox::new(cfg.cluster.clone()),
            cfg,
            foca,
            timers: TimerQueue::new(),
            doubt_downs,
            members,
            scan_needed: false,
            news_possible: false,
            settled: None,
            gossip_pending: false,
            notices: KeyMap::default(),
            replacing: KeyMap::default(),
            last_input: None,
            last_heard: None,
            heard_again: None,
            roll: RollCall::default(),
            vouch_from: None,
            notified_by: None,
            periodic: false,
            check: QuorumCheck::default(),
            admission: Admission::default(),
            stalled: None,
            record,
            local_checks: Vec::new(),
            kept_rank_at: None,
            had_majority: false,
            regained_at: None,
            joined_at: now,
            deferred_acks: Vec::new(),
            contested_down: None,
            phase: Phase::Joining,
            election: Election::default(),
            claiming: false,
            sender_quorate: false,
            sized_for: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            changes: 0,
        };
        node.update_self_in_roster();
        match start {
            Start::Bootstrap => node.found(now),
            Start::Join(seeds) => node.set_seeds(now, seeds),
        }
        node.settle(now);
        Ok(node)
    }

    // ---- inputs -----------------------------------------------------------

    /// Handles a datagram from `from`.
    pub fn handle_packet(&mut self, now: Time, from: SocketAddr, datagram: &[u8]) {
        self.check_stall(now);
        self.stats.packets_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        let opened = match codec::open(datagram, &self.cfg.cluster) {
            Ok(opened) => opened,
            Err(reason) => return self.drop_packet(reason, from),
        };
        self.learn_term(opened.term);
        let doubted = self.doubts_itself(now);
        self.last_heard = Some(now);
        if doubted {
            tracing::info!(
                "heard from the cluster again; declaring members down again after a suspicion timeout"
            );
            self.heard_again = Some(now);
            self.ask_suspects_again();
            // Our record's gossip ran out while nobody could hear it: a
            // health change made while cut off (a check that failed and came
            // back, a new rank) reached the others only at the next sync, up
            // to a sync period after the heal (found by the swarm).
            if self.phase == Phase::Joined {
                self.broadcast_record();
            }
        }
        match opened.kind {
            PayloadKind::Foca => {
                if self.phase == Phase::Left {
                    return;
                }
                let peek = match codec::peek_foca(opened.payload) {
                    Ok(peek) => peek,
                    Err(_) => return self.drop_packet(DropReason::Malformed, from),
                };
                if peek.updates > 0 || !self.sender_as_expected(&peek) {
                    self.scan_needed = true;
                }
                if self.phase == Phase::Joining {
                    self.join_input(now, |join, cx, steps| join.reached(cx, from, steps));
                }
                self.notify_if_down(now, from, &peek);
                // Packets queued while we stalled prove nothing; a packet
                // addressed to this life well after the stall does: its
                // sender, seeing a quorum, holds us alive.
                if let Some(since) = self.stalled
                    && now >= since + self.cfg.probe_timeout
                    && opened.sender_quorate
                    && peek.dst_life == self.id().incarnation()
                {
                    self.stalled = None;
                    self.settled = None;
                }
                self.news_possible |= peek.may_carry_records;
                self.sender_quorate = opened.sender_quorate;
                self.doubt_downs
                    .store(!opened.sender_quorate, Ordering::Relaxed);
                let result = self.foca.handle_data(opened.payload, &mut self.rt);
                self.doubt_downs.store(false, Ordering::Relaxed);
                if let Err(err) = result {
                    self.scan_needed = true;
                    let reason = match err {
                        foca::Error::Decode(_) | foca::Error::MalformedPacket => {
                            DropReason::Malformed
                        }
                        _ => DropReason::Refused,
                    };
                    tracing::debug!(%from, error = %err, "foca refused a packet");
                    self.count_drop(reason);
                }
                self.absorb_foca(now);
                self.sender_quorate = false;
            }
            PayloadKind::Control => match codec::decode_control(opened.payload) {
                Ok(Control::DownNotice { identity }) => {
                    self.down_notice(now, from, identity, opened.sender_quorate)
                }
                Ok(Control::SuspectNotice {
                    identity,
                    incarnation,
                    from,
                }) => self.suspect_notice(now, identity, incarnation, from),
                Ok(Control::QuorumPing {
                    from: asker,
                    round,
                    term,
                    proposed,
                }) => {
                    self.learn_term(term);
                    self.answer_quorum_ping(now, from, asker, round, proposed)
                }
                Ok(Control::QuorumAck {
                    from: member,
                    round,
                    term,
                }) => {
                    self.learn_term(term);
                    self.quorum_ack(now, member, round)
                }
                Ok(Control::AdmitRequest { from: asker, round }) => {
                    self.answer_admission(from, &asker, round)
                }
                Ok(Control::Admit {
                    from: member,
                    round,
                }) => self.admitted_by(now, &member, round),
                Ok(Control::SyncPart(part)) => {
                    self.receive_sync(now, from, part, opened.sender_quorate)
                }
                Ok(message) => self.handle_control(now, from, message),
                Err(_) => return self.drop_packet(DropReason::Malformed, from),
            },
        }
        self.settle(now);
    }

    /// Handles every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.check_stall(now);
        let mut handled = 0;
        while let Some((_, timer)) = self.timers.pop_due(now) {
            handled += 1;
            if handled > MAX_TIMERS_PER_CALL {
                tracing::warn!("timer livelock guard: more than {MAX_TIMERS_PER_CALL} timers due");
                break;
            }
            match timer {
                NodeTimer::Foca(timer) => {
                    if self.phase == Phase::Left {
                        continue;
                    }
                    if let foca::Timer::ChangeSuspectToDown {
                        member_id,
                        incarnation,
                        ..
                    } = &timer
                        && let Some(later) = self.defer_accusation(now)
                    {
                        self.hold_down(now, member_id.key(), member_id.incarnation(), *incarnation);
                        if std::mem::take(&mut self.roll.awaited) {
                            self.roll.waiting.push(NodeTimer::Foca(timer.clone()));
                        }
                        self.schedule(later, NodeTimer::Foca(timer));
                        continue;
                    }
                    // Probe failures and downs are notified; reaping is not.
                    if matches!(timer, foca::Timer::RemoveDown(_)) {
                        self.scan_needed = true;
                    }
                    if let Err(err) = self.foca.handle_timer(timer, &mut self.rt) {
                        self.stats.timer_errors += 1;
                        tracing::debug!(error = %err, "foca timer");
                    }
                    self.absorb_foca(now);
                }
                NodeTimer::JoinRetry(attempt) => {
                    if self.phase == Phase::Joining {
                        self.join_input(now, |join, cx, steps| join.retry(cx, attempt, steps));
                    }
                }
                NodeTimer::Gossip => self.gossip_round(now),
                NodeTimer::Sync => self.sync_state(now),
                NodeTimer::Reconnect => self.reconnect(now),
                NodeTimer::SuspicionOver {
                    key,
                    life,
                    incarnation,
                    asked,
                } => self.suspicion_over(now, key, life, incarnation, asked),
                NodeTimer::Nudge(id, round) => self.nudge_suspect(now, id, round),
                NodeTimer::RecordDue { key, life } => self.record_due(key, life),
                NodeTimer::SyncOnce => self.sync_once(now),
                NodeTimer::QuorumCheckDue(round) => self.quorum_check_due(now, round),
                NodeTimer::AdmissionDue(round) => self.admission_due(now, round),
                NodeTimer::ConfirmAgain => {
                    self.check.again_at = None;
                    self.settled = None;
                }
                NodeTimer::StallOver => {
                    self.stalled = None;
                    self.settled = None;
                }
            }
        }
        self.settle(now);
    }

    /// Handles a command; a refused command changes nothing.
    pub fn handle_command(&mut self, now: Time, command: Command) -> Result<(), CommandError> {
        self.check_stall(now);
        let result = match command {
            Command::Seeds(seeds) => {
                self.set_seeds(now, seeds);
                Ok(())
            }
            Command::SetHealth { status, checks } => {
                // Only a change of state is news for the cluster; outputs
                // alone change with every run and would flood the gossip.
                let states =
                    |checks: &[CheckSummary]| -> Vec<(String, super::health::CheckStatus)> {
                        checks.iter().map(|c| (c.name.clone(), c.status)).collect()
                    };
                if self.local_checks != checks {
                    self.changes += 1;
                }
                if self.record.status != status || states(&self.record.checks) != states(&checks) {
                    self.record.status = status;
                    self.record.checks = checks
                        .iter()
                        .take(super::health::MAX_CHECKS)
                        .map(|c| CheckSummary::new(&c.name, c.status, &c.output))
                        .collect();
                    self.publish_record(now);
                }
                self.local_checks = checks;
                Ok(())
            }
            Command::Drain if self.phase == Phase::Left => Err(CommandError::Leaving),
            Command::Drain => {
                if !self.record.draining {
                    self.record.draining = true;
                    self.publish_record(now);
                }
                Ok(())
            }
            Command::Resume if self.record.leaving || self.phase == Phase::Left => {
                Err(CommandError::Leaving)
            }
            Command::Resume => {
                if self.record.draining {
                    self.record.draining = false;
                    self.publish_record(now);
                }
                Ok(())
            }
            Command::Leave => {
                self.leave(now);
                Ok(())
            }
            Command::Forget(name) => self.forget(now, &name),
            Command::SetEligible(eligible) => {
                if self.record.eligible != eligible {
                    self.record.eligible = eligible;
                    self.publish_record(now);
                }
                Ok(())
            }
        };
        self.settle(now);
        result
    }

    /// Marks a down member as left, for every member: a record in its name
    /// saying it is leaving, one version newer than the last one seen. A
    /// later life of the member (a restart) outranks it.
    fn forget(&mut self, now: Time, name: &str) -> Result<(), CommandError> {
        if name == &*self.record.name {
            return Err(CommandError::ForgetSelf);
        }
        if self.phase == Phase::Left {
            return Err(CommandError::Leaving);
        }
        let Some(record) = self.members.forget(name)? else {
            return Ok(());
        };
        tracing::info!(member = name, "forgetting a member that is down");
        match codec::encode_record(&record) {
            Ok(bytes) => {
                self.members.offer(record);
                self.news_possible = true;
                if let Err(err) = self.foca.add_broadcast(&bytes) {
                    tracing::warn!(error = %err, "could not queue a forget");
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not encode a forget"),
        }
        self.settle(now);
        Ok(())
    }

    /// Makes this node a member of a running cluster whose whole state is
    /// given, with `seniority` as its own rank: the simulator's warm start
    /// for steady-state runs, which skips thousands of joins.
    #[doc(hidden)]
    pub fn preload(
        &mut self,
        now: Time,
        members: Vec<foca::Member<NodeId>>,
        records: Vec<HealthRecord>,
        seniority: u64,
    ) {
        self.merge_state(now, members, records, true);
        self.record.seniority = Some(seniority);
        self.record.admitted = true;
        self.become_joined(now, None);
        self.settle(now);
    }

    // ---- outputs ----------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 1024 {
            // A join delivers an event per member once; do not keep room
            // for thousands of them for the node's whole life.
            self.events.shrink_to(64);
        }
        event
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next_deadline()
    }

    // ---- queries ----------------------------------------------------------

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
    pub fn term(&self) -> u64 {
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

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        let mut stats = self.stats.clone();
        stats.records_rejected = self.members.records_rejected();
        stats
    }

    /// A number that changes whenever [`Node::snapshot`] would.
    pub fn changes(&self) -> u64 {
        self.changes.wrapping_add(self.members.version())
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
            primary: primary == Some(id.name()),
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
            term: self.members.max_term(),
            claiming: self.claiming,
            quorate: self.election.quorate,
            live: self.election.live,
            alive: self.election.alive,
            expected: self.election.expected,
            members,
            stats: self.stats(),
        }
    }

    // ---- internals --------------------------------------------------------

    /// Whether this node's word counts as a quorum's (the envelope's bit,
    /// which decides whether a down notice costs the receiver its rank): it
    /// sees a majority alive, and its view is current. A stalled node has
    /// not weighed what queued up while it did not run, and a rejoined one
    /// still passes on what its earlier life believed (foca keeps gossiping
    /// the downs it declared, for a suspicion timeout or so).
    pub(crate) fn vouches(&self, majority_alive: bool) -> bool {
        majority_alive
            && self.stalled.is_none()
            && self
                .vouch_from
                .is_none_or(|from| self.last_input.is_some_and(|now| now >= from))
    }

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
    fn doubts_itself(&self, now: Time) -> bool {
        self.phase == Phase::Joined
            && self.election.live >= 3
            && self
                .last_heard
                .is_some_and(|heard| now >= heard + self.cfg.probe_period * 3)
    }

    /// After a silence, every suspect hears that it is suspected, so it
    /// refutes before the deferred suspicion timers run out: the buddy
    /// system's notices stopped while nothing got through.
    fn ask_suspects_again(&mut self) {
        for (identity, incarnation) in self.members.suspects() {
            let to = identity.socket_addr();
            let notice = Control::SuspectNotice {
                identity,
                incarnation,
                from: self.id().clone(),
            };
            self.send_control(to, &notice);
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
    fn defer_accusation(&mut self, now: Time) -> Option<Time> {
        if self.doubts_itself(now) {
            return Some(now + self.cfg.probe_period);
        }
        // The roster's election, current as of this input (`self.election`
        // is as of the last settle): the two disagreed and a member was
        // held down and released in the same instant.
        if !self.vouches(self.members.elect().claim_quorate) {
            return Some(now + self.cfg.probe_period);
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
                return Some(now + self.cfg.probe_timeout * 2);
            }
        }
        None
    }

    /// A suspicion ran out while this view may not declare anyone down:
    /// the suspect counts as down here (see `Known::held_down`) unless
    /// the view only waits for refutations it expects (after hearing again,
    /// or vouching again).
    fn hold_down(&mut self, now: Time, key: MemberKey, life: u64, incarnation: foca::Incarnation) {
        if !self.doubts_itself(now) && self.vouches(self.members.elect().claim_quorate) {
            return;
        }
        if let Some(event) = self.members.hold_down(now, key, life, incarnation) {
            self.events.push_back(event);
        }
    }

    /// Whether a majority answered a roll call within the last probe period.
    fn roll_passed(&self, now: Time) -> bool {
        self.cfg.quorum == QuorumPolicy::Off
            || self
                .roll
                .passed_at
                .is_some_and(|at| now <= at + self.cfg.probe_period)
    }

    /// Asks every member this view holds alive to answer, unless a roll
    /// call is under way.
    fn start_roll_call(&mut self, now: Time) {
        if self
            .roll
            .pending
            .is_some_and(|(_, at)| now < at + self.cfg.probe_timeout * 2)
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

    fn answer_roll_call(&mut self, from: SocketAddr, asker: &NodeId, round: u64) {
        if self.phase != Phase::Joined || asker.key() == self.id().key() {
            return;
        }
        let here = Control::Here {
            from: self.id().clone(),
            round,
        };
        self.send_control(from, &here);
    }

    fn here(&mut self, now: Time, member: &NodeId, round: u64) {
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
    fn count_roll(&mut self, now: Time) {
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
    fn release_held(&mut self, now: Time) {
        let mut changes = Vec::new();
        let released = self.members.release_held(now, &mut changes);
        self.take_changes(changes);
        if released {
            self.heard_again = Some(now);
            self.ask_suspects_again();
        }
    }

    /// While others are around, a node gets a timer at least every probe
    /// period; a gap of two means the process did not run (or ran far
    /// behind) and the cluster may have declared it down.
    fn check_stall(&mut self, now: Time) {
        let gap = self.cfg.probe_period * 2;
        if let Some(last) = self.last_input
            && now > last + gap
            && self.foca.num_members() > 0
        {
            tracing::warn!(stalled_for = ?(now - last), "this node stalled; not claiming the role until it has caught up");
            self.stalled = Some(now);
            self.settled = None;
            self.schedule(now + self.cfg.probe_period * 3, NodeTimer::StallOver);
        }
        self.last_input = Some(now);
    }

    pub(crate) fn mark_membership_changed(&mut self) {
        self.scan_needed = true;
        self.news_possible = true;
    }

    fn own_state(&self) -> MemberState {
        if self.phase == Phase::Left {
            MemberState::Left
        } else {
            MemberState::Alive
        }
    }

    pub(crate) fn drop_packet(&mut self, reason: DropReason, from: SocketAddr) {
        tracing::debug!(%from, reason = reason.as_str(), "dropped a packet");
        self.count_drop(reason);
    }

    fn count_drop(&mut self, reason: DropReason) {
        self.stats.dropped[reason as usize] += 1;
        self.changes += 1;
    }

    /// Whether foca's handling of a packet from this sender cannot change
    /// its state: we already know this identity, alive or suspect at this
    /// SWIM incarnation or later, or down (which only a new identity ends).
    fn sender_as_expected(&self, peek: &codec::FocaPeek) -> bool {
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
    fn notify_if_down(&mut self, now: Time, from: SocketAddr, peek: &codec::FocaPeek) {
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
    fn down_notice(&mut self, now: Time, from: SocketAddr, identity: NodeId, sender_quorate: bool) {
        if self.phase != Phase::Joined || identity != *self.id() {
            return;
        }
        if !sender_quorate && self.vouches(self.election.claim_quorate) {
            // The sender is the one cut off: it holds us down, we see a
            // majority. It rejoins through us, not we through it.
            return self.tell_behind(now, from);
        }
        if sender_quorate && self.claiming {
            // Two views that each see a majority cannot both be right, and
            // the sender's may be a minority's that counted members cut off
            // a moment before as alive when it declared us down. A primary
            // stops claiming and asks its majority: it rejoins only if none
            // answers, and claims again (with its rank) if one does.
            if self.contested_down.is_none() {
                self.contested_down = Some((from, identity));
                self.check.confirmed = false;
                self.start_quorum_check(now);
                self.settled = None;
            }
            return;
        }
        self.accept_down_notice(now, from, identity, sender_quorate);
    }

    /// Rejoins as a new life: `from` holds our current `identity` down.
    fn accept_down_notice(
        &mut self,
        now: Time,
        from: SocketAddr,
        identity: NodeId,
        sender_quorate: bool,
    ) {
        if self.phase != Phase::Joined || identity != *self.id() {
            return;
        }
        self.notified_by = Some(from);
        self.sender_quorate = sender_quorate;
        let own = std::iter::once(foca::Member::down(identity));
        if let Err(err) = self.foca.apply_many(own, false, &mut self.rt) {
            tracing::debug!(error = %err, "applying a down notice");
        }
        self.absorb_foca(now);
        self.sender_quorate = false;
    }

    /// A member without a quorum holds us down while we see one: tell it it
    /// is down here (it is, at the life we last knew, or it would not have
    /// been cut off), so it rejoins through us with a whole-state sync. At
    /// most once a second per member, as every down notice.
    fn tell_behind(&mut self, now: Time, from: SocketAddr) {
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
        self.send_control(from, &Control::DownNotice { identity: id });
    }

    /// Someone suspects our current identity: refute now (foca bumps our
    /// SWIM incarnation and gossips it).
    fn suspect_notice(
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
            tracing::debug!(error = %err, "applying a suspect notice");
        }
        // Our next message to the asker carries the refuting incarnation.
        if from != *self.id()
            && let Err(err) = self.foca.announce(from, &mut self.rt)
        {
            tracing::debug!(error = %err, "answering a suspect notice");
        }
        self.absorb_foca(now);
    }

    fn suspicion_over(
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
            let notice = Control::SuspectNotice {
                identity: id.clone(),
                incarnation,
                from: self.id().clone(),
            };
            self.send_control(id.socket_addr(), &notice);
            self.schedule(
                now + self.cfg.probe_period,
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
            tracing::debug!(error = %err, "declaring a suspect down");
        }
        self.scan_needed = true;
        self.absorb_foca(now);
    }

    /// Asks every live member whether it holds us alive; claiming waits on
    /// the answer.
    fn start_quorum_check(&mut self, now: Time) {
        self.check.wanted = false;
        // A claim waiting for its confirmation asks again sooner.
        let spacing = if self.check.confirmed {
            self.cfg.probe_period
        } else {
            self.cfg.probe_timeout
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
        let due = now + self.cfg.probe_timeout * 2;
        self.schedule(due, NodeTimer::QuorumCheckDue(self.check.round));
        self.quorum_ack_count(now);
    }

    fn confirm_again_at(&mut self, at: Time) {
        if self.check.again_at.is_none_or(|set| set > at) {
            self.check.again_at = Some(at);
            self.schedule(at, NodeTimer::ConfirmAgain);
        }
    }

    fn answer_quorum_ping(
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
        if now < self.joined_at + self.cfg.probe_period * 2 {
            return;
        }
        let held_down = self
            .members
            .get(&asker.key())
            .filter(|k| k.id.as_ref() == Some(&asker) && k.swim_down())
            .map(|k| k.down_vouched);
        if let Some(vouched) = held_down {
            // Declared down here: no renewal of its claim, and it must rejoin.
            // The notice vouches as the down did (see `notify_if_down`).
            self.send_control_flagged(from, &Control::DownNotice { identity: asker }, vouched);
        } else if self.election.primary.as_deref() == Some(&**asker.name()) {
            // Only a view that names the asker backs its claim.
            self.send_quorum_ack(from, round, proposed);
        } else {
            // Not yet, perhaps: after a crash the successor's view usually
            // names it a moment before ours does. Answer when ours does, if
            // that is within the asker's patience.
            self.deferred_acks
                .retain(|ping| ping.asker.key() != asker.key() && now < ping.until);
            if self.deferred_acks.len() < MAX_DEFERRED_ACKS {
                self.deferred_acks.push(DeferredAck {
                    asker,
                    from,
                    round,
                    proposed,
                    until: now + self.cfg.probe_timeout * 2,
                });
            }
        }
    }

    /// Backs a quorum check: tells the asker the highest term this view
    /// knows, then learns the term the asker proposes to claim (see
    /// [`Control::QuorumPing`]). The answer carries the term from before,
    /// so an asker that hears of a term at or above its proposal knows the
    /// proposal is no longer above every term, and asks again.
    fn send_quorum_ack(&mut self, to: SocketAddr, round: u64, proposed: u64) {
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
    fn answer_deferred_acks(&mut self, now: Time) {
        if self.deferred_acks.is_empty() {
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

    /// A term another member knows (see [`Members::learn_term`]).
    fn learn_term(&mut self, term: u64) {
        self.members.learn_term(term);
        self.rt.term = self.members.max_term();
    }

    fn quorum_ack(&mut self, now: Time, member: NodeId, round: u64) {
        if self.check.pending == Some(round) {
            self.check.acks.insert(member.key());
            self.quorum_ack_count(now);
        }
    }

    /// A majority answered: the check passed and the node may claim.
    fn quorum_ack_count(&mut self, now: Time) {
        if self.check.pending.is_some() && self.majority_answered(&self.check.acks, true) {
            self.check.pending = None;
            if self.check.blocked && self.check.confirmed {
                tracing::info!("a majority answered again; claiming the role");
            }
            self.check.blocked = false;
            self.check.confirmed = true;
            self.check.confirmed_at = Some(now);
            self.settled = None;
            if let Some((from, _)) = self.contested_down.take() {
                tracing::info!(
                    member = %from,
                    "a majority still holds this primary alive; sending back the member that holds it down"
                );
                self.tell_behind(now, from);
            }
        }
    }

    fn quorum_check_due(&mut self, now: Time, round: u64) {
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
        }
        self.check.blocked = true;
        // Ask again until a majority answers or another node is elected.
        self.check.wanted = true;
        self.settled = None;
        if let Some((from, identity)) = self.contested_down.take() {
            self.accept_down_notice(now, from, identity, true);
        }
    }

    /// Whether this process was a member before (it is rejoining).
    pub(crate) fn was_joined(&self) -> bool {
        self.periodic
    }

    /// The suspicion timeout for the cluster as this view counts it.
    pub(crate) fn suspicion_timeout(&self) -> Duration {
        self.cfg.suspicion_timeout(self.members.swim_count() + 1)
    }

    /// Whether the admitted members among `answers` (and this node, if
    /// `with_self`) are a majority of the expected size: only admitted
    /// members make a majority (see `HealthRecord::admitted`).
    fn majority_answered(&self, answers: &HashSet<MemberKey>, with_self: bool) -> bool {
        let answered = answers
            .iter()
            .filter(|key| self.members.is_admitted(key))
            .count()
            + usize::from(with_self);
        answered * 2 > self.election.expected.max(1)
    }

    /// Asks every live member to count this node in the quorum (see
    /// [`Admission`]); asked again every probe period until a majority
    /// answers.
    fn ask_admission(&mut self, now: Time) {
        self.admission.round += 1;
        self.admission.pending = Some(self.admission.round);
        self.admission.answers.clear();
        let request = Control::AdmitRequest {
            from: self.id().clone(),
            round: self.admission.round,
        };
        self.send_to_live_members(&request);
        let due = now + self.cfg.probe_period;
        self.schedule(due, NodeTimer::AdmissionDue(self.admission.round));
        self.count_admission(now);
    }

    fn answer_admission(&mut self, from: SocketAddr, asker: &NodeId, round: u64) {
        if self.phase != Phase::Joined || !self.record.admitted || asker.key() == self.id().key() {
            return;
        }
        let admit = Control::Admit {
            from: self.id().clone(),
            round,
        };
        self.send_control(from, &admit);
    }

    fn admitted_by(&mut self, now: Time, member: &NodeId, round: u64) {
        if self.admission.pending == Some(round) {
            self.admission.answers.insert(member.key());
            self.count_admission(now);
        }
    }

    /// Admitted once more than half of the members this view counts (those
    /// admitted, and those whose record has not arrived) answered.
    fn count_admission(&mut self, now: Time) {
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
            self.settled = None;
        }
    }

    fn admission_due(&mut self, now: Time, round: u64) {
        if self.admission.pending != Some(round) {
            return;
        }
        self.admission.pending = None;
        if self.phase == Phase::Joined && !self.record.admitted {
            self.ask_admission(now);
        }
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
    fn nudge_suspect(&mut self, now: Time, id: NodeId, round: u32) {
        let suspicion = self.suspicion_timeout() * 3;
        if self.phase != Phase::Joined || self.cfg.probe_period * round > suspicion {
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
        let notice = Control::SuspectNotice {
            identity: id.clone(),
            incarnation,
            from: self.id().clone(),
        };
        self.send_control(id.socket_addr(), &notice);
        self.schedule(now + self.cfg.probe_period, NodeTimer::Nudge(id, round + 1));
    }

    /// Tells a member it is suspected, as about three of all the members
    /// that learn of the suspicion do.
    fn notify_suspect(&mut self, id: &NodeId, incarnation: foca::Incarnation) {
        let others = self.election.live.saturating_sub(1).max(1);
        let chance = (3.0 / others as f64).min(1.0);
        if self.rng.random_bool(chance) {
            let notice = Control::SuspectNotice {
                identity: id.clone(),
                incarnation,
                from: self.id().clone(),
            };
            self.send_control(id.socket_addr(), &notice);
        }
    }

    /// Sends a control message to every member this view holds alive or
    /// suspect.
    fn send_to_live_members(&mut self, message: &Control) {
        for to in self.members.live_addrs() {
            self.send_control(to, message);
        }
    }

    /// Sends `message`; the envelope says whether this view vouches.
    pub(crate) fn send_control(&mut self, to: SocketAddr, message: &Control) {
        let vouching = self.vouches(self.election.claim_quorate);
        self.send_control_flagged(to, message, vouching);
    }

    /// Sends `message` with the envelope's vouching bit set to `vouch`.
    fn send_control_flagged(&mut self, to: SocketAddr, message: &Control, vouch: bool) {
        match codec::encode_control(message) {
            Ok(payload) => {
                // foca's datagrams keep what `settle` set.
                let quorate = std::mem::replace(&mut self.rt.quorate, vouch);
                self.rt.term = self.members.max_term();
                self.rt.push(to, PayloadKind::Control, &payload);
                self.rt.quorate = quorate;
                self.absorb_transmits();
            }
            Err(err) => tracing::warn!(error = %err, "could not encode a control message"),
        }
    }

    fn absorb_transmits(&mut self) {
        for transmit in self.rt.transmits.drain(..) {
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += transmit.payload.len() as u64;
            self.transmits.push_back(transmit);
        }
    }

    pub(crate) fn schedule(&mut self, at: Time, timer: NodeTimer) {
        self.timers.push(at, timer);
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
                    self.scan_needed = true;
                    self.check.wanted = true;
                    self.nudge_suspect(now, id, 0);
                }
            }
        }
        // Sending our own record inside `rejoined` may have queued more.
        self.absorb_transmits();
    }

    /// Brings the view, the candidacy and the election up to date.
    fn settle(&mut self, now: Time) {
        if self.contested_down.is_some()
            && self.election.primary.as_deref() != Some(&*self.record.name)
        {
            // No longer elected: nothing left to weigh against the notice.
            if let Some((from, identity)) = self.contested_down.take() {
                self.accept_down_notice(now, from, identity, true);
            }
        }
        self.absorb_foca(now);
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
        if self.members.holding_down() && self.vouches(self.members.elect().claim_quorate) {
            self.release_held(now);
        }
        if self.settled == Some(self.members.roster_version()) {
            self.absorb_foca(now);
            self.schedule_gossip(now);
            return;
        }
        // Picking or dropping a seniority changes our own record, which can
        // change the election: two rounds reach the fixed point.
        if self.phase == Phase::Joined && !self.record.admitted && self.admission.pending.is_none()
        {
            self.ask_admission(now);
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
                .is_some_and(|at| now <= at + self.cfg.probe_period);
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
                .map(|at| at + self.cfg.probe_period * 2);
            match settle_until {
                Some(until) if now < until => self.confirm_again_at(until),
                _ => self.start_quorum_check(now),
            }
        } else if self.check.wanted {
            self.start_quorum_check(now);
        }
        let merging = self.merging(now, &election);
        let claiming = self.phase == Phase::Joined
            && self.stalled.is_none()
            && (self.claiming || !merging)
            && (self.check.confirmed || !(fresh_rank || in_flux))
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
                primary: claiming,
                term: self.record.term,
            });
        }
        if election != self.election || claiming != self.claiming {
            self.changes += 1;
        }
        let vouching = self.vouches(election.claim_quorate);
        if vouching && !self.rt.quorate && self.phase == Phase::Joined {
            // Back with a majority after a time without one: changes to our
            // record made meanwhile (a drain, a new rank) had their gossip
            // spent on members that could not hear it, and a view holding
            // the old record named a draining member primary until the next
            // sync (found by the swarm). The same goes for every record
            // changed while this view could not hear it: one sync, once the
            // returning members have re-ranked, instead of a sync period.
            self.broadcast_record();
            let at = now + self.jitter(self.cfg.probe_period * 3);
            self.schedule(at, NodeTimer::SyncOnce);
        }
        self.rt.quorate = vouching;
        self.rt.term = self.members.max_term();
        let primary_changed = election.primary != self.election.primary;
        self.election = election;
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
    fn merging(&mut self, now: Time, election: &Election) -> bool {
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
        let quiet = self.members.changed_at().max(at) + self.cfg.probe_period * 2;
        let until = quiet.min(at + self.cfg.suspicion_timeout(members) * 2);
        if now >= until {
            self.regained_at = None;
            return false;
        }
        self.confirm_again_at(until);
        true
    }

    /// Schedules a gossip round if anything waits to be passed on.
    fn schedule_gossip(&mut self, now: Time) {
        if !self.gossip_pending
            && self.phase == Phase::Joined
            && (self.foca.updates_backlog() > 0 || self.foca.custom_broadcast_backlog() > 0)
        {
            self.gossip_pending = true;
            self.schedule(now + self.cfg.gossip_interval, NodeTimer::Gossip);
        }
    }

    fn gossip_round(&mut self, now: Time) {
        self.gossip_pending = false;
        if self.phase == Phase::Joined
            && (self.foca.updates_backlog() > 0 || self.foca.custom_broadcast_backlog() > 0)
            && let Err(err) = self.foca.gossip(&mut self.rt)
        {
            tracing::debug!(error = %err, "gossip");
        }
        self.absorb_foca(now);
    }

    /// Asks a random alive member for its whole state (memberlist's
    /// push-pull, pull only): heals whatever gossip missed.
    fn sync_state(&mut self, now: Time) {
        if self.phase != Phase::Joined {
            return;
        }
        self.sync_once(now);
        let next = self.jitter(self.cfg.sync_period(self.members.swim_count() + 1));
        self.schedule(now + next, NodeTimer::Sync);
    }

    /// Asks a random alive member for its whole state.
    fn sync_once(&mut self, now: Time) {
        if self.phase != Phase::Joined {
            return;
        }
        let alive = self.members.alive_addrs();
        if !alive.is_empty() {
            let to = alive[self.rng.random_range(0..alive.len())];
            self.join_input(now, |join, cx, steps| steps.push(join.sync_from(cx, to)));
        }
    }

    /// Reads foca's membership into the view (see [`Members::scan`]).
    fn scan(&mut self) {
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
    fn standing(&self) -> Standing {
        Standing {
            vouching: self.vouches(self.election.claim_quorate),
            claim_quorate: self.election.claim_quorate,
            now: self.last_input,
            size: self.members.swim_count() + 1,
        }
    }

    /// Acts on what changed in the view, in order.
    fn take_changes(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Event(event) => self.events.push_back(event),
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
                    let timeout = self.cfg.suspicion_timeout(size) * 2;
                    self.schedule(
                        self.last_input.unwrap_or_default() + timeout,
                        NodeTimer::SuspicionOver {
                            key: id.key(),
                            life: id.incarnation(),
                            incarnation,
                            asked: 0,
                        },
                    );
                }
                Change::RecordDue { key, life } => {
                    // Asked a probe period from now, if gossip has not
                    // brought it by then (see [`Node::record_due`]).
                    let due = self.last_input.unwrap_or_default() + self.cfg.probe_period;
                    self.schedule(due, NodeTimer::RecordDue { key, life });
                }
                Change::FoundingChanged => self.settled = None,
            }
        }
    }

    fn update_self_in_roster(&mut self) {
        self.settled = None;
        let own = Own {
            record: &self.record,
            state: self.own_state(),
        };
        self.members.set_own(own);
    }

    /// Records a term seen in a founding (see [`Members::note_founding`]).
    fn note_founding(&mut self, founding: u64, term: u64) {
        let own = Own {
            record: &self.record,
            state: self.own_state(),
        };
        if self.members.note_founding(founding, term, own) {
            self.settled = None;
        }
    }

    /// Applies health records that gossip or a sync brought.
    fn apply_news(&mut self) {
        let own = Own {
            record: &self.record,
            state: self.own_state(),
        };
        let mut changes = Vec::new();
        self.members.apply_news(own, &mut changes);
        self.take_changes(changes);
    }

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
        }
    }

    /// This node's cluster met another of its name that wins (see
    /// [`Node::note_founding`]): it gives up its rank and rejoins the
    /// winner like a new node, through a live member of it.
    fn rejoin_winning_founding(&mut self, now: Time) {
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
            && let Err(err) = self.foca.gossip(&mut self.rt)
        {
            tracing::debug!(error = %err, "gossip");
        }
        self.absorb_foca(now);
    }

    fn broadcast_record(&mut self) {
        match codec::encode_record(&self.record) {
            Ok(bytes) => {
                if let Err(err) = self.foca.add_broadcast(&bytes) {
                    tracing::warn!(error = %err, "could not queue our health record");
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not encode our health record"),
        }
    }

    /// A duration between 75 % and 125 % of `base`, so periodic work of many
    /// nodes does not line up.
    pub(crate) fn jitter(&mut self, base: Duration) -> Duration {
        base.mul_f64(self.rng.random_range(0.75..1.25))
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
            let at = now + self.jitter(self.cfg.probe_period * 3);
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
            let reconnect = self.jitter(self.cfg.probe_period * 2);
            self.schedule(now + reconnect, NodeTimer::Reconnect);
        }
    }

    /// foca renewed our identity after the cluster declared us down.
    fn rejoined(&mut self, now: Time, id: NodeId) {
        self.stats.rejoins += 1;
        self.vouch_from = Some(now + self.suspicion_timeout());
        self.record.incarnation = id.incarnation();
        self.record.version = 0;
        // Declared down by a member that sees a quorum: the cluster has moved
        // on (maybe elected another primary), so our old rank must go.
        // Declared down only by a minority (a healing partition), we keep it.
        let lost_seniority = self.sender_quorate && self.record.seniority.is_some();
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
        let live: Vec<foca::Member<NodeId>> = self
            .foca
            .iter_membership_state()
            .filter(|m| m.state() != foca::State::Down && m.id().key() != id.key())
            .map(|m| foca::Member::new(m.id().clone(), m.incarnation(), foca::State::Alive))
            .collect();
        self.timers
            .retain(|timer| !matches!(timer, NodeTimer::Foca(_)));
        self.foca = Foca::with_custom_broadcast(
            id,
            self.cfg.foca_config(self.sized_for),
            ChaCha8Rng::seed_from_u64(self.rng.random()),
            WireCodec::doubting(self.doubt_downs.clone()),
            RecordGossip::new(self.members.inbox().clone()),
        );
        if let Err(err) = self.foca.apply_many(live.into_iter(), false, &mut self.rt) {
            tracing::debug!(error = %err, "keeping the live members across a rejoin");
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

    fn set_seeds(&mut self, now: Time, seeds: Vec<SocketAddr>) {
        let joining = self.phase == Phase::Joining;
        self.join_input(now, |join, cx, steps| {
            join.set_seeds(cx, seeds, joining, steps)
        });
    }

    /// Gives the joiner one input (see [`Joining`]) and does what it asks.
    fn join_input(
        &mut self,
        now: Time,
        input: impl FnOnce(&mut Joining, &mut JoinContext<'_>, &mut Vec<JoinStep>),
    ) {
        let suspicion_timeout = self.suspicion_timeout();
        let mut steps = Vec::new();
        let mut cx = JoinContext {
            now,
            own: self.foca.identity(),
            retry_min: self.cfg.join_retry_min,
            retry_max: self.cfg.join_retry_max,
            probe_timeout: self.cfg.probe_timeout,
            probe_period: self.cfg.probe_period,
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
                        tracing::debug!(error = %err, "announce to seed");
                    }
                    self.absorb_foca(now);
                }
            }
        }
    }

    /// A slice of a member's state arrived: merged into the view, and, for
    /// a joining node, one step of its join.
    fn receive_sync(&mut self, now: Time, from: SocketAddr, mut part: SyncPart, vouched: bool) {
        if !self.join.expects(&part) {
            return;
        }
        let members = std::mem::take(&mut part.members);
        let records = std::mem::take(&mut part.records);
        self.merge_state(now, members, records, vouched);
        if self.phase == Phase::Joining {
            self.join_input(now, |join, cx, steps| join.slice(cx, from, &part, steps));
        }
    }

    fn leave(&mut self, now: Time) {
        if self.phase == Phase::Left {
            return;
        }
        self.record.leaving = true;
        self.record.draining = true;
        self.record.seniority = None;
        self.publish_record(now);
        // The leaving record rides with foca's own leave gossip, and goes to
        // every live member directly: when many leave at once (a scale-in),
        // the few that gossip would tell may be leaving too.
        if let Err(err) = self.foca.leave_cluster(&mut self.rt) {
            tracing::warn!(error = %err, "leaving the cluster");
        }
        self.absorb_foca(now);
        let goodbye = Control::Leaving {
            identity: self.id().clone(),
            record: self.record.clone(),
        };
        self.send_to_live_members(&goodbye);
        self.phase = Phase::Left;
        self.update_self_in_roster();
        self.timers.retain(|_| false);
        self.events.push_back(Event::Left);
        self.changes += 1;
    }

    /// Keeps foca's cluster-size-dependent settings in line with the view.
    fn resize_foca(&mut self) {
        let members = self.members.swim_count() + 1;
        let stale = self.cfg.max_transmissions(members)
            != self.cfg.max_transmissions(self.sized_for)
            || self.cfg.suspicion_timeout(members) != self.cfg.suspicion_timeout(self.sized_for);
        if stale {
            if let Err(err) = self.foca.set_config(self.cfg.foca_config(members)) {
                tracing::warn!(error = %err, "could not resize foca's settings");
            }
            self.sized_for = members;
        }
    }

    /// Answers (or refuses) anything a control message asks.
    fn handle_control(&mut self, now: Time, from: SocketAddr, message: Control) {
        match message {
            Control::JoinRequest {
                joiner,
                request,
                wanted,
            } => self.serve_join(now, from, joiner, request, wanted),
            Control::SyncPart(part) => self.receive_sync(now, from, part, false),
            Control::JoinRefused { request, reason } => {
                if self.phase == Phase::Joining {
                    self.join_input(now, |join, cx, steps| {
                        join.refused(cx, from, request, reason, steps)
                    });
                }
            }
            Control::Leaving { identity, record } => self.member_leaving(now, identity, record),
            Control::Admitted { identity, record } => self.member_admitted(identity, record),
            Control::RecordRequest { from: asker } => self.send_own_record(from, &asker),
            Control::RollCall { from: asker, round } => self.answer_roll_call(from, &asker, round),
            Control::Here {
                from: member,
                round,
            } => self.here(now, &member, round),
            Control::Record { identity, record } => {
                self.take_record_from(&identity, record);
            }
            Control::DownNotice { .. }
            | Control::SuspectNotice { .. }
            | Control::QuorumPing { .. }
            | Control::QuorumAck { .. }
            | Control::AdmitRequest { .. }
            | Control::Admit { .. } => {}
        }
    }

    /// A member asks for our record (see [`NodeTimer::RecordDue`]).
    fn send_own_record(&mut self, to: SocketAddr, asker: &NodeId) {
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
    fn record_due(&mut self, key: MemberKey, life: u64) {
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
    fn member_admitted(&mut self, identity: NodeId, record: HealthRecord) {
        if record.admitted {
            self.take_record_from(&identity, record);
        }
    }

    /// Takes a record a member sent about itself, outside gossip: only for
    /// the life that sent it, never about this node. Returns whether it was
    /// taken.
    fn take_record_from(&mut self, identity: &NodeId, record: HealthRecord) -> bool {
        if self.phase == Phase::Left
            || record.name != *identity.name()
            || record.incarnation != identity.incarnation()
            || identity.key() == self.id().key()
        {
            return false;
        }
        if self.members.offer(record) {
            self.news_possible = true;
        }
        true
    }

    /// A member says it leaves: its leaving record, and its life down in
    /// foca (gossiped on, as foca's own leave).
    fn member_leaving(&mut self, now: Time, identity: NodeId, record: HealthRecord) {
        if !record.leaving || !self.take_record_from(&identity, record) {
            return;
        }
        let down = std::iter::once(foca::Member::down(identity));
        if let Err(err) = self.foca.apply_many(down, true, &mut self.rt) {
            tracing::debug!(error = %err, "applying a leave");
        }
        self.scan_needed = true;
        self.absorb_foca(now);
    }

    fn reconnect(&mut self, now: Time) {
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
                let to = identity.socket_addr();
                let notice = Control::SuspectNotice {
                    identity,
                    incarnation,
                    from: self.id().clone(),
                };
                self.send_control(to, &notice);
            }
        }
        if self.foca.num_members() == 0 || !quorate {
            let down = self.members.down_ids();
            for _ in 0..3.min(down.len()) {
                let pick = down[self.rng.random_range(0..down.len())].clone();
                if let Err(err) = self.foca.announce(pick, &mut self.rt) {
                    tracing::debug!(error = %err, "announce");
                }
            }
            if self.foca.num_members() == 0 {
                self.join_input(now, |join, cx, steps| join.sync_from_seeds(cx, steps));
            }
            self.absorb_foca(now);
        }
        let interval = if quorate && self.vouches(self.election.claim_quorate) {
            self.cfg.reconnect_interval
        } else {
            self.cfg.reconnect_interval.min(self.cfg.probe_period * 2)
        };
        let next = self.jitter(interval);
        self.schedule(now + next, NodeTimer::Reconnect);
    }
}
