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
//! roster re-elects in logarithmic time.
//!
//! This file holds the node's state and its three inputs; each concern has
//! a file of its own, all of them parts of the one state machine:
//!
//! - `swim`: foca inside the node, and reading its member list into the
//!   view ([`Members`] owns the view itself);
//! - `accuse`: declaring members down (roll call, held-down members,
//!   suspicion timers, Lifeguard's local health);
//! - `notices`: down and suspect notices sent directly;
//! - `claim`: the election, the rank, the quorum check and the claim;
//! - `admission`: being counted in the quorum;
//! - `lifecycle`: founding, joining (driving [`Joining`]), rejoining,
//!   foundings that meet, publishing the record, leaving;
//! - `serve`: the seed's side of a join and of every state sync;
//! - `lease`: the primary's lease, as holder and as witness;
//! - `command`: operator commands;
//! - `query`: what drivers read, and the snapshot.

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
use super::driver::Outputs;
use super::health::{CheckSummary, HealthRecord};
use super::identity::{KeyMap, MemberKey, NodeId};
use super::join::{JoinContext, JoinStep, Joining};
use super::keyring::Sealer;
use super::members::{Change, Members, Own, Standing, ViewPool};
use super::outbox::{Note, Outbox};
use super::records::RecordGossip;
use super::timer::{Time, TimerQueue};
use super::view::{Election, MemberState, QuorumPolicy};

mod accuse;
mod admission;
mod claim;
mod command;
mod lease;
mod lifecycle;
mod notices;
mod query;
mod serve;
mod swim;
#[cfg(test)]
mod tests;
mod timers;

use accuse::RollCall;
use admission::Admission;
use claim::{DeferredAck, QuorumCheck};
use lease::{LeaseHolder, Witnessed};
pub(crate) use timers::NodeTimer;

pub(crate) type Swim = Foca<NodeId, WireCodec, ChaCha8Rng, RecordGossip>;

/// Bound on timers handled in one `handle_timeout`, against livelock.
const MAX_TIMERS_PER_CALL: usize = 10_000;

/// Most senders whose down notices a node remembers dismissing.
const MAX_DISMISSED: usize = 4096;

/// A member's protocol state machine.
pub struct Node {
    pub(crate) cfg: NodeConfig,
    pub(crate) foca: Swim,
    pub(crate) rt: Outbox,
    /// Where sealed datagrams are opened (kept to reuse its allocation).
    opened: Vec<u8>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) timers: TimerQueue<NodeTimer>,
    /// Shared with foca's codec: set while foca reads a datagram from a
    /// sender that does not vouch, so its downs arrive as suspicions.
    doubt_downs: Arc<AtomicBool>,
    /// Everything this node knows of the other members.
    pub(crate) members: Members,
    scan_needed: bool,
    /// Where members sit in foca's list, during a state sync.
    foca_places: serve::FocaPlaces,
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
    /// The last datagram whose sender vouched for its view (see
    /// [`Node::reconnect`]): its address and when.
    heard_vouching: Option<(SocketAddr, Time)>,
    /// The highest term heard in an envelope above every term this view
    /// knew, and who carried it: checked a few probe periods later (see
    /// [`Node::term_check`]).
    newer_term: Option<(u64, SocketAddr)>,
    /// When the view got a majority back after losing it: fragments that
    /// all lost their majority merge over a few seconds of rejoins, and a
    /// view that claims at the first majority it sees can be outranked by a
    /// senior member a moment later. Such a view claims once its membership
    /// has been quiet for two probe periods.
    regained_at: Option<Time>,
    /// When this node last became a member (joined, or rejoined as a new
    /// life).
    joined_at: Time,
    /// When the `OldEnoughToBack` look of this life is set for.
    backing_look: Option<Time>,
    /// Quorum checks this view did not back when they came: answered if it
    /// names the asker before the asker stops waiting.
    deferred_acks: Vec<DeferredAck>,
    /// This node's lease, while it is elected (see `lease`).
    lease: LeaseHolder,
    /// The holders this node witnesses.
    witnessing: KeyMap<Witnessed>,
    /// A vouched down notice this primary got, waiting on a quorum check:
    /// the sender's address, the identity it holds down, and the sender.
    contested_down: Option<(SocketAddr, NodeId, NodeId)>,
    /// Down notices weighed and dismissed: by sender, (our life, the
    /// sender's life). See `Node::down_notice`.
    dismissed: KeyMap<(u64, u64)>,
    /// The cookie handed to each address that asked for a state sync (see
    /// `Node::serve_join`); good for this life of the node.
    cookies: std::collections::HashMap<SocketAddr, u64>,
    /// This node's record (life, version) as it was when each member stopped
    /// being alive here: if it changed by the time the member is back, the
    /// member is sent the new one (see `Node::member_back`).
    unheard: KeyMap<(u64, u64)>,
    pub(crate) phase: Phase,
    pub(crate) join: Joining,
    election: Election,
    claiming: bool,
    /// Set while foca handles a packet from a sender that vouches.
    sender_vouches: bool,
    /// foca's settings were last sized for this many members.
    sized_for: usize,
    transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: NodeStats,
    /// Direct probes in flight, and the round-trip times of the answered
    /// ones until the driver takes them (see [`Node::take_probe_rtts`]).
    probe_times: ProbeTimes,
    /// Bumped on every change a snapshot would show.
    changes: u64,
    /// `changes()` when the outputs were last taken.
    taken_at_change: Option<u64>,
}

/// Direct probes in flight and the round-trip times of answered ones.
#[derive(Debug, Default)]
pub(crate) struct ProbeTimes {
    /// To whom, which probe, when: oldest first.
    pending: VecDeque<(MemberKey, u8, Time)>,
    /// Round trips measured, waiting for the driver.
    rtts: Vec<Time>,
}

impl ProbeTimes {
    /// The most kept of either: a driver that never takes the samples
    /// holds a fixed few.
    pub(crate) const KEPT: usize = 256;
    /// Past this, a probe's answer is no longer waited for.
    const PATIENCE: Time = Time::from_secs(10);
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
            cfg.gossip.max_members,
        );
        let doubt_downs = Arc::new(AtomicBool::new(false));
        let foca = Foca::with_custom_broadcast(
            id.clone(),
            cfg.foca_config(1),
            ChaCha8Rng::seed_from_u64(seed),
            WireCodec::new(doubt_downs.clone(), members.cap().clone()),
            RecordGossip::new(members.inbox().clone()),
        );
        let mut record = HealthRecord::new(
            id.name().clone(),
            id.incarnation(),
            cfg.priority,
            cfg.primary_eligible,
        );
        record.status = cfg.initial_health;
        // Each life numbers its roll calls, quorum checks and admission
        // requests from its own random start (a generator of its own, so
        // the node's other draws stay as they were): an answer recorded in
        // an earlier life, or replayed from the wire, names no round this
        // life has open. Half the range, so counting up never overflows.
        let mut rounds = ChaCha8Rng::seed_from_u64(seed ^ 0x726f_756e_6473_0000);
        let first_rounds: [u64; 4] = std::array::from_fn(|_| rounds.random::<u64>() >> 1);
        let mut node = Self {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6865_7264_6e6f_6465),
            join: Joining::default(),
            rt: Outbox::new(
                cfg.cluster.clone(),
                (!cfg.keyring.keys.is_empty()).then(|| Sealer::new(&cfg.keyring)),
            ),
            opened: Vec::new(),
            cfg,
            foca,
            timers: TimerQueue::new(),
            doubt_downs,
            members,
            scan_needed: false,
            foca_places: serve::FocaPlaces::default(),
            news_possible: false,
            settled: None,
            gossip_pending: false,
            notices: KeyMap::default(),
            replacing: KeyMap::default(),
            last_input: None,
            last_heard: None,
            heard_again: None,
            roll: RollCall {
                round: first_rounds[0],
                ..RollCall::default()
            },
            vouch_from: None,
            notified_by: None,
            periodic: false,
            check: QuorumCheck {
                round: first_rounds[1],
                ..QuorumCheck::default()
            },
            admission: Admission {
                round: first_rounds[2],
                ..Admission::default()
            },
            stalled: None,
            record,
            local_checks: Vec::new(),
            kept_rank_at: None,
            had_majority: false,
            heard_vouching: None,
            newer_term: None,
            regained_at: None,
            joined_at: now,
            backing_look: None,
            deferred_acks: Vec::new(),
            contested_down: None,
            dismissed: KeyMap::default(),
            lease: LeaseHolder::starting_at(first_rounds[3]),
            witnessing: KeyMap::default(),
            cookies: std::collections::HashMap::new(),
            unheard: KeyMap::default(),
            phase: Phase::Joining,
            election: Election::default(),
            claiming: false,
            sender_vouches: false,
            sized_for: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            probe_times: ProbeTimes::default(),
            changes: 0,
            taken_at_change: None,
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
        // A sealed datagram opens into this buffer, taken out of the node
        // while its payload is handled.
        let mut plain = std::mem::take(&mut self.opened);
        match codec::open(
            datagram,
            &self.cfg.cluster,
            self.rt.sealer.as_ref(),
            &mut plain,
        ) {
            Ok(opened) => self.handle_opened(now, from, opened),
            Err(reason) => self.drop_packet(reason, from),
        }
        plain.clear();
        self.opened = plain;
    }

    /// Handles a datagram whose envelope checked out.
    fn handle_opened(&mut self, now: Time, from: SocketAddr, opened: codec::Opened<'_>) {
        if opened.sender_vouches {
            self.heard_vouching = Some((from, now));
        }
        if self.learns_from_envelope(now, opened.term) {
            if opened.term > self.members.max_term() {
                self.heard_newer_term(now, opened.term, from);
            }
            self.learn_term(opened.term);
        }
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
                // foca takes every sender for a member: one the view has no
                // room for is not heard at all.
                if !self.members.admit(peek.src) {
                    return self.drop_packet(DropReason::MemberCap, from);
                }
                if opened.sender_vouches {
                    self.heard_from(now, peek.src, peek.src_life);
                }
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
                    && now >= since + self.cfg.gossip.probe_timeout
                    && opened.sender_vouches
                    && peek.dst_life == self.id().incarnation()
                {
                    self.stalled = None;
                    self.settled = None;
                }
                self.news_possible |= peek.may_carry_records;
                self.sender_vouches = opened.sender_vouches;
                self.doubt_downs
                    .store(!opened.sender_vouches, Ordering::Relaxed);
                self.rt.reply_to = Some((peek.src, from));
                let result = self.foca.handle_data(opened.payload, &mut self.rt);
                self.rt.reply_to = None;
                self.doubt_downs.store(false, Ordering::Relaxed);
                if let Err(err) = result {
                    self.scan_needed = true;
                    let reason = match err {
                        foca::Error::Decode(_) | foca::Error::MalformedPacket => {
                            DropReason::Malformed
                        }
                        _ => DropReason::Refused,
                    };
                    tracing::debug!(%from, error = err.to_string().as_str(), "foca refused a packet");
                    self.count_drop(reason);
                }
                self.absorb_foca(now);
                self.sender_vouches = false;
            }
            PayloadKind::Control => match codec::decode_control(opened.payload) {
                Ok(Control::DownNotice {
                    identity,
                    from: sender,
                }) => self.down_notice(now, from, identity, sender, opened.sender_vouches),
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
                    self.answer_admission(now, from, &asker, round)
                }
                Ok(Control::Admit {
                    from: member,
                    round,
                }) => self.admitted_by(now, &member, round),
                Ok(Control::SyncPart(part)) => {
                    self.receive_sync(now, from, part, opened.sender_vouches)
                }
                Ok(Control::LeaseOver {
                    from: _,
                    holder,
                    incarnation,
                }) => self.lease_over(now, holder, incarnation, opened.sender_vouches),
                Ok(Control::JoinRequest {
                    joiner,
                    request,
                    wanted,
                    cookie,
                    padding: _,
                }) => {
                    // What the sender spent, which bounds what it may draw
                    // before it proves its address.
                    let spent = opened.len;
                    let ask = serve::JoinAsk {
                        joiner,
                        request,
                        wanted,
                        cookie,
                        spent,
                    };
                    self.serve_join(now, from, ask)
                }
                Ok(message) => {
                    if let Control::LeasePing { from: holder, .. } = &message
                        && opened.sender_vouches
                    {
                        self.heard_from(now, holder.key(), holder.incarnation());
                    }
                    self.handle_control(now, from, message)
                }
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
                        tracing::debug!(error = err.to_string().as_str(), "foca timer");
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
                NodeTimer::TermCheck => self.term_check(now),
                NodeTimer::QuorumCheckDue(round) => self.quorum_check_due(now, round),
                NodeTimer::AdmissionDue(round) => self.admission_due(now, round),
                NodeTimer::OldEnoughToBack => self.answer_deferred_acks(now),
                NodeTimer::ConfirmAgain => {
                    self.check.again_at = None;
                    self.settled = None;
                }
                NodeTimer::LeaseTick => self.lease_tick(now),
                NodeTimer::LeaseLapse => self.lease_lapse(now),
                NodeTimer::LeaseSilence(key) => self.lease_silence(now, key),
                NodeTimer::LeaseQueryDue(key, round) => self.lease_query_due(now, key, round),
                NodeTimer::LeaseTakeover(holder, until) => self.lease_takeover(now, holder, until),
                NodeTimer::StallOver => {
                    self.stalled = None;
                    self.settled = None;
                }
            }
        }
        self.settle(now);
    }

    /// Makes this node a member of a running cluster whose whole state is
    /// given (every other member alive, and every record), with
    /// `seniority` as its own rank: the simulator's warm start for
    /// steady-state runs, which skips thousands of joins. Records given as
    /// `Arc`s are held as given: nodes preloaded with the same ones share
    /// them.
    #[doc(hidden)]
    pub fn preload(
        &mut self,
        now: Time,
        alive: &[NodeId],
        records: impl IntoIterator<Item = impl Into<Arc<HealthRecord>>>,
        seniority: u64,
    ) {
        let members = alive.iter().cloned().map(foca::Member::alive).collect();
        self.merge_state(now, members, records, true);
        self.record.seniority = Some(seniority);
        self.record.admitted = true;
        self.become_joined(now, None);
        self.settle(now);
    }

    /// Shares this node's entries for other members with every node
    /// preloaded with the same state (see [`ViewPool`]): how the simulator
    /// holds a warm cluster of n nodes in far less than n² entries.
    #[doc(hidden)]
    pub fn share_view(&mut self, pool: &mut ViewPool) {
        self.members.share(pool);
    }

    // ---- outputs ----------------------------------------------------------

    /// Takes every output of the inputs since the last take: what a driver
    /// does with them, and in which order, is the driver contract
    /// ([`crate::core::driver`]).
    pub fn take_outputs(&mut self) -> Outputs {
        let changes = self.changes();
        let changed = self.taken_at_change != Some(changes);
        self.taken_at_change = Some(changes);
        let mut transmits = Vec::new();
        while let Some(transmit) = self.poll_transmit() {
            transmits.push(transmit);
        }
        let mut events = Vec::new();
        while let Some(event) = self.poll_event() {
            events.push(event);
        }
        Outputs {
            changed,
            transmits,
            events,
            wake: self.poll_timeout(),
        }
    }

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

    /// While others are around, a node gets a timer at least every probe
    /// period; a gap of two means the process did not run (or ran far
    /// behind) and the cluster may have declared it down.
    fn check_stall(&mut self, now: Time) {
        let gap = self.cfg.gossip.probe_period * 2;
        if let Some(last) = self.last_input
            && now > last + gap
            && self.foca.num_members() > 0
        {
            tracing::warn!(stalled_for = ?(now - last), "this node stalled; not claiming the role until it has caught up");
            self.stalled = Some(now);
            self.settled = None;
            self.schedule(now + self.cfg.gossip.probe_period * 3, NodeTimer::StallOver);
        }
        self.last_input = Some(now);
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

    /// Whether this process was a member before (it is rejoining).
    pub(crate) fn was_joined(&self) -> bool {
        self.periodic
    }

    /// The suspicion timeout for the cluster as this view counts it.
    pub(crate) fn suspicion_timeout(&self) -> Duration {
        self.cfg.suspicion_timeout(self.members.swim_count() + 1)
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
                let vouching = std::mem::replace(&mut self.rt.vouching, vouch);
                self.rt.term = self.members.max_term();
                self.rt.push(to, PayloadKind::Control, &payload);
                self.rt.vouching = vouching;
                self.absorb_transmits();
            }
            Err(err) => tracing::warn!(
                error = err.to_string().as_str(),
                "could not encode a control message"
            ),
        }
    }

    pub(crate) fn schedule(&mut self, at: Time, timer: NodeTimer) {
        self.timers.push(at, timer);
    }

    /// A duration between 75 % and 125 % of `base`, so periodic work of many
    /// nodes does not line up.
    pub(crate) fn jitter(&mut self, base: Duration) -> Duration {
        base.mul_f64(self.rng.random_range(0.75..1.25))
    }

    /// Answers (or refuses) anything a control message asks.
    fn handle_control(&mut self, now: Time, from: SocketAddr, message: Control) {
        match message {
            Control::JoinRequest { .. } => {}
            Control::Cookie { request, cookie } => {
                self.join_input(now, |join, cx, steps| {
                    join.cookie(cx, from, request, cookie, steps)
                });
            }
            Control::SyncPart(part) => self.receive_sync(now, from, part, false),
            Control::JoinRefused { request, reason } => {
                if self.phase == Phase::Joining {
                    self.join_input(now, |join, cx, steps| {
                        join.refused(cx, from, request, reason, steps)
                    });
                }
            }
            Control::Leaving { identity, record } => self.member_leaving(now, identity, record),
            Control::Admitted { identity, record } => self.member_admitted(now, identity, record),
            Control::RecordRequest { from: asker } => self.send_own_record(from, &asker),
            Control::RollCall { from: asker, round } => self.answer_roll_call(from, &asker, round),
            Control::Here {
                from: member,
                round,
            } => self.here(now, &member, round),
            Control::Record { identity, record } => {
                self.take_record_from(&identity, record, true);
            }
            Control::LeasePing {
                from: holder,
                round,
                epoch,
                lease_ms,
                witnesses,
            } => self.lease_ping(
                now,
                from,
                lease::Renewal {
                    holder,
                    round,
                    epoch,
                    lease: Duration::from_millis(u64::from(lease_ms)).min(lease::MAX_LEASE),
                    witnesses,
                },
            ),
            Control::LeaseAck {
                from: witness,
                round,
            } => self.lease_ack(now, &witness, round),
            Control::LeaseQuery {
                from: asker,
                holder,
                epoch,
                round,
            } => self.lease_query(now, from, &asker, &holder, epoch, round),
            Control::LeaseVerdict {
                from: witness,
                round,
                over,
                epoch,
                left_ms,
            } => self.lease_verdict(
                now,
                &witness,
                round,
                over,
                epoch,
                Duration::from_millis(u64::from(left_ms)),
            ),
            Control::LeaseReleased {
                from: holder,
                round,
            } => self.lease_released(&holder, round),
            Control::DownNotice { .. }
            | Control::LeaseOver { .. }
            | Control::SuspectNotice { .. }
            | Control::QuorumPing { .. }
            | Control::QuorumAck { .. }
            | Control::AdmitRequest { .. }
            | Control::Admit { .. } => {}
        }
    }
}
