//! The member view: everything this node knows of every other member, in
//! one owner.
//!
//! A member's liveness comes from foca (read after every call that may have
//! changed it, by [`Members::scan`]), its health from the records that
//! gossip and syncs bring (through the [`RecordInbox`], drained by
//! [`Members::apply_news`]); the view derives each member's state from both,
//! keeps the candidates' order ([`Roster`]) and the highest seniority and
//! term seen, and settles which founding's ranks count when two clusters of
//! one name meet. It changes only through the methods below, each of which
//! takes one input and returns what changed as values ([`Change`]): the
//! node turns those into events, notices and timers. Nothing else in the
//! core keeps a member's state or a record.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::{Arc, LazyLock, Mutex};

use super::api::{CommandError, Event, MemberInfo};
use super::health::HealthRecord;
use super::identity::{KeyMap, MemberKey, NodeId};
use super::member_cap::{self, MemberCap, SharedCap};
use super::records::{self, RecordInbox};
use super::timer::Time;
use super::view::{Candidates, Election, ElectionRules, MemberState, Placing, Roster};

/// foca's view of one member at the last scan: key, identity incarnation
/// (life), SWIM incarnation, SWIM state.
type Scanned = (MemberKey, u64, foca::Incarnation, foca::State);

/// What this node knows of another member.
///
/// The view holds each behind an `Arc` and changes it through
/// `Arc::make_mut`: the agent's are never shared, so that costs a check of
/// the count; the simulator's warm start hands every node the same entry
/// for a member (see [`ViewPool`]), and a node copies an entry only when
/// it changes it. A warm cluster of n nodes holds n² of these otherwise.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    /// Latest identity (`None` while only a record is known).
    pub(crate) id: Option<NodeId>,
    /// foca's SWIM incarnation and state; `None` while only a record is
    /// known.
    pub(crate) swim: Option<(foca::Incarnation, foca::State)>,
    /// Latest record, shared: a record changes rarely and is read far more
    /// often than it is replaced, and the simulator's warm start hands every
    /// node the same one.
    pub(crate) record: Option<Arc<HealthRecord>>,
    /// Seniorities of records from lives up to this identity incarnation
    /// are not honoured: the member was declared down in that life, and its
    /// old rank must not bring it back ahead of the primary that replaced it.
    /// Kept as that life plus one, so the field takes eight bytes: a view
    /// holds one of these per member, and the simulator one per (node,
    /// member) pair.
    void_through: Option<NonZeroU64>,
    /// State in this view (`None` while only a record is known).
    pub(crate) state: Option<MemberState>,
    /// Down in this view, declared while the view vouched (saw a majority
    /// alive): only such a down is passed on as the cluster's word. A view
    /// that held a member down from a minority and gained its majority later
    /// (a heal, newcomers admitted) still holds that down, but it was never
    /// the majority's.
    pub(crate) down_vouched: bool,
    /// Suspected past its suspicion timeout while this view could not
    /// declare anyone down (see `Node::defer_accusation`): shown and
    /// counted as down here, while foca keeps it a suspect, so it comes
    /// back by refuting, without a new life, once it is reachable again.
    held_down: bool,
    /// The life whose record this view last asked the member for (see
    /// [`Change::RecordDue`]).
    record_asked: u64,
    /// Its place in the roster (`None` while it has no state here).
    placing: Option<Placing>,
}

/// The name of a member known neither by identity nor by record, which
/// no member is outside the two methods that create one (each gives it
/// one of them before it returns).
static UNNAMED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

impl Known {
    fn new() -> Self {
        Self {
            id: None,
            swim: None,
            record: None,
            void_through: None,
            state: None,
            down_vouched: false,
            held_down: false,
            record_asked: 0,
            placing: None,
        }
    }

    /// The member's name, from its identity or else its record: a view
    /// holds each name once, in the identity, which shares it with the
    /// record (see `NodeId::with_shared_name`).
    pub(crate) fn name(&self) -> &Arc<str> {
        let name = self.held_name();
        debug_assert!(name.is_some(), "a member is known by identity or record");
        name.unwrap_or(&UNNAMED)
    }

    /// The name, if the entry holds an identity or a record yet (an entry
    /// just made holds neither until its maker gives it one).
    fn held_name(&self) -> Option<&Arc<str>> {
        match (&self.id, &self.record) {
            (Some(id), _) => Some(id.name()),
            (None, Some(record)) => Some(&record.name),
            (None, None) => None,
        }
    }

    /// Lives up to which records' seniorities are void.
    fn voided_through(&self) -> Option<u64> {
        self.void_through.map(|life| life.get() - 1)
    }

    /// The seniority this view honours, with `founding` the founding whose
    /// ranks count (see [`HealthRecord::founding`]).
    fn seniority(&self, founding: u64) -> Option<u64> {
        let record = self.record.as_ref()?;
        if record.founding != founding {
            return None;
        }
        // A record of an earlier life ranks nothing: a new life ranks anew
        // (a restart without its data directory), and until its own record
        // arrives, a view that honoured the old rank named a restarted node
        // primary that nobody else named (found by the swarm).
        if self
            .id
            .as_ref()
            .is_some_and(|id| record.incarnation < id.incarnation())
        {
            return None;
        }
        match self.voided_through() {
            Some(through) if record.incarnation <= through => None,
            _ => record.seniority,
        }
    }

    /// Its latest record, of this life or a later one, says it leaves (or
    /// an operator forgot it).
    fn leaving(&self) -> bool {
        let life = self.life();
        self.record
            .as_ref()
            .is_some_and(|r| r.leaving && r.incarnation >= life)
    }

    /// Its identity incarnation (0 while only a record is known).
    pub(crate) fn life(&self) -> u64 {
        self.id.as_ref().map_or(0, NodeId::incarnation)
    }

    /// Suspect in foca (held down here or not).
    pub(crate) fn swim_suspect(&self) -> bool {
        matches!(self.swim, Some((_, foca::State::Suspect)))
    }

    /// Down in foca.
    pub(crate) fn swim_down(&self) -> bool {
        matches!(self.swim, Some((_, foca::State::Down)))
    }

    fn derive_state(&self) -> Option<MemberState> {
        let (_, swim) = self.swim?;
        Some(match swim {
            foca::State::Alive => MemberState::Alive,
            foca::State::Suspect if !self.held_down && !self.leaving() => MemberState::Suspect,
            foca::State::Suspect | foca::State::Down if self.leaving() => MemberState::Left,
            foca::State::Suspect | foca::State::Down => MemberState::Down,
        })
    }

    /// Whether this view holds an identity of a later life than its record
    /// and has not asked for the new life's record yet.
    fn record_stale(&self) -> bool {
        let Some(id) = self.id.as_ref() else {
            return false;
        };
        let life = id.incarnation();
        self.record_asked < life && self.record.as_ref().is_some_and(|r| r.incarnation < life)
    }
}

impl Known {
    /// Holds exactly what `other` holds: the same identity (name, address
    /// and life) and the same record.
    fn same_as(&self, other: &Self) -> bool {
        let same_record = match (&self.record, &other.record) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        };
        self.id == other.id
            && self.name() == other.name()
            && same_record
            && self.swim == other.swim
            && self.void_through == other.void_through
            && self.state == other.state
            && self.down_vouched == other.down_vouched
            && self.held_down == other.held_down
            && self.record_asked == other.record_asked
            && self.placing == other.placing
    }
}

/// Entries of views that several nodes share, one per member: the
/// simulator's warm start gives every node the whole cluster's state, so
/// every node's entry for a member is the same, and a pool turns n copies
/// into one (see [`Members::share`]). Holding it costs one entry per
/// member; dropping it unshares nothing.
#[derive(Debug, Default)]
pub struct ViewPool {
    known: KeyMap<Arc<Known>>,
    /// The roster's candidates: every node's roster places the node itself
    /// too, so a warm cluster's sets are all the same.
    candidates: Option<Candidates>,
}

/// What an input changed in the view, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// For the driver.
    Event(Event),
    /// A member became suspect in foca at this SWIM incarnation.
    Suspected {
        /// The suspect.
        id: NodeId,
        /// Its SWIM incarnation.
        incarnation: foca::Incarnation,
        /// The cluster size the view counted when the suspicion came (see
        /// [`Standing::size`]).
        size: usize,
    },
    /// A member's new life is live with a record of an earlier life: ask
    /// it for the new one a probe period from now, if gossip has not
    /// brought it.
    RecordDue {
        /// The member.
        key: MemberKey,
        /// The life whose record is missing.
        life: u64,
    },
    /// The founding whose ranks count changed: the node's own place in the
    /// roster was redone, and it must elect again.
    FoundingChanged,
}

/// How the node stands when an input arrives, as far as the view needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Standing {
    /// The node's view vouches (see `Node::vouches`): a down declared now
    /// is the cluster's word.
    pub(crate) vouching: bool,
    /// The last election saw a quorum: a down declared now voids the
    /// member's rank.
    pub(crate) claim_quorate: bool,
    /// The time of the current input (`None` before the first).
    pub(crate) now: Option<Time>,
    /// The cluster size as the view counted it before this input: a
    /// suspicion's backstop timer is sized by it.
    pub(crate) size: usize,
}

/// This node itself, as the roster needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Own<'a> {
    /// Its record.
    pub(crate) record: &'a HealthRecord,
    /// Its state in its own view.
    pub(crate) state: MemberState,
}

/// Every other member as this node knows it (see the module doc).
#[derive(Debug)]
pub(crate) struct Members {
    known: KeyMap<Arc<Known>>,
    /// foca's membership at the last scan, in foca's order.
    scanned: Vec<Scanned>,
    /// Members in `known` that foca knows (not only by a record).
    swim_known: usize,
    roster: Roster,
    /// This node's own place in the roster (the others' are in their
    /// entries).
    own_placing: Option<Placing>,
    /// Where gossip and syncs leave records (shared with foca's broadcast
    /// handler, which needs each member's freshest version to decide what
    /// is news while foca decodes a datagram).
    inbox: Arc<Mutex<RecordInbox>>,
    /// The bound on `known` (shared with the codec and the inbox, which
    /// admit members before foca or the view take them).
    cap: SharedCap,
    /// Highest seniority seen in any record of the winning founding.
    max_seniority: u64,
    /// Highest primary term seen anywhere, ours included.
    max_term: u64,
    /// The highest term seen in each founding of the cluster (usually one):
    /// when two clusters of one name meet, the higher wins.
    foundings: BTreeMap<u64, u64>,
    /// The founding whose ranks this view honours.
    founding: u64,
    /// Some member may be held down (see [`Known::held_down`]).
    holding_down: bool,
    /// When a member last changed state in this view.
    changed_at: Time,
    /// Bumped on every change a snapshot would show.
    version: u64,
}

impl Members {
    /// An empty view for the node named `own`, which remembers `term` and
    /// holds at most `max_members` other members.
    pub(crate) fn new(
        own: Arc<str>,
        rules: ElectionRules,
        term: u64,
        now: Time,
        max_members: usize,
    ) -> Self {
        let cap = MemberCap::shared(MemberKey::of(&own), max_members);
        Self {
            known: KeyMap::default(),
            scanned: Vec::new(),
            swim_known: 0,
            roster: Roster::new(rules),
            own_placing: None,
            inbox: Arc::new(Mutex::new(RecordInbox::new(own, cap.clone()))),
            cap,
            max_seniority: 0,
            max_term: term,
            foundings: BTreeMap::new(),
            founding: 0,
            holding_down: false,
            changed_at: now,
            version: 0,
        }
    }

    // ---- inputs -----------------------------------------------------------

    /// Reads foca's member list (`foca_members` yields the other members,
    /// in foca's order, each time it is called) and applies what differs
    /// from the last scan: states, suspicions, lives, and members foca
    /// reaped. Returns whether foca's list differed from the last scan.
    pub(crate) fn scan<'a, I>(
        &mut self,
        foca_members: impl Fn() -> I,
        standing: Standing,
        changes: &mut Vec<Change>,
    ) -> bool
    where
        I: Iterator<Item = &'a foca::Member<NodeId>>,
    {
        let entry = |m: &foca::Member<NodeId>| {
            (
                m.id().key(),
                m.id().incarnation(),
                m.incarnation(),
                m.state(),
            )
        };
        let count = foca_members().count();
        let unchanged = count == self.scanned.len()
            && foca_members()
                .zip(&self.scanned)
                .all(|(member, seen)| entry(member) == *seen);
        if unchanged {
            return false;
        }
        // Only members whose entry differs from what we hold are re-derived.
        let mut changed = Vec::new();
        for (i, member) in foca_members().enumerate() {
            let now = entry(member);
            if self.scanned.get(i) == Some(&now) {
                continue;
            }
            let same = self.known.get(&now.0).is_some_and(|known| {
                known.swim == Some((now.2, now.3))
                    && known.id.as_ref().map(NodeId::incarnation) == Some(now.1)
            });
            if !same {
                changed.push((member.id().clone(), now.2, now.3));
            }
        }
        for (id, incarnation, state) in changed {
            self.observe(&id, incarnation, state, standing, changes);
        }
        self.scanned.clear();
        self.scanned.extend(foca_members().map(entry));
        // Kept to its length: a view holds one per member, and doubling's
        // slack is a third of it at 10,000 (the simulator holds n of them).
        if self.scanned.capacity() > self.scanned.len() + self.scanned.len() / 8 + 16 {
            self.scanned.shrink_to_fit();
        }
        // Members foca no longer holds were reaped.
        if self.swim_known > count {
            let present: HashSet<MemberKey> = self.scanned.iter().map(|seen| seen.0).collect();
            let reaped: Vec<MemberKey> = self
                .known
                .iter()
                .filter(|(key, known)| known.swim.is_some() && !present.contains(key))
                .map(|(key, _)| *key)
                .collect();
            for key in reaped {
                if let Some(known) = self.known.remove(&key) {
                    self.swim_known -= 1;
                    if let Some(placing) = known.placing {
                        self.roster.unplace(placing, known.name());
                    }
                    records::lock(&self.inbox).forget(known.name());
                    changes.push(Change::Event(Event::MemberReaped {
                        name: known.name().clone(),
                    }));
                }
            }
        }
        self.release_unheld();
        self.version += 1;
        true
    }

    /// Gives back the places of members admitted that neither foca nor
    /// the inbox took after all.
    fn release_unheld(&self) {
        let mut cap = member_cap::lock(&self.cap);
        if cap.len() == self.known.len() {
            return;
        }
        let inbox = records::lock(&self.inbox);
        cap.retain(|key| self.known.contains_key(&key) || inbox.holds(key));
    }

    fn observe(
        &mut self,
        id: &NodeId,
        incarnation: foca::Incarnation,
        swim: foca::State,
        standing: Standing,
        changes: &mut Vec<Change>,
    ) {
        let known = self
            .known
            .entry(id.key())
            .or_insert_with(|| Arc::new(Known::new()));
        let known = Arc::make_mut(known);
        if known.swim.is_none() {
            self.swim_known += 1;
        }
        if known.id.as_ref() != Some(id) {
            let shared = match known.held_name() {
                Some(name) => id.clone().with_shared_name(name),
                None => id.clone(),
            };
            known.id = Some(shared);
        }
        let record_stale = known.record_stale();
        known.swim = Some((incarnation, swim));
        let was_held = std::mem::take(&mut known.held_down);
        let previous = known.state;
        let current = known.derive_state();
        // Only a view that holds a quorum voids: a minority that saw the
        // majority go down must honour its ranks again when the partition
        // heals.
        if current == Some(MemberState::Down)
            && previous != Some(MemberState::Down)
            && standing.claim_quorate
        {
            let through = known.voided_through().unwrap_or(0).max(id.incarnation());
            known.void_through = NonZeroU64::new(through.saturating_add(1));
        }
        if current != Some(MemberState::Down) {
            known.down_vouched = false;
        } else if previous != Some(MemberState::Down) || was_held {
            // A member held down and now declared down was declared now.
            known.down_vouched = standing.vouching;
        }
        known.state = current;
        if let Some(current) = current
            && previous != Some(current)
        {
            if let Some(now) = standing.now {
                self.changed_at = now;
            }
            changes.push(Change::Event(Event::MemberState {
                name: known.name().clone(),
                incarnation: id.incarnation(),
                previous,
                current,
            }));
        }
        if swim == foca::State::Suspect {
            changes.push(Change::Suspected {
                id: id.clone(),
                incarnation,
                size: standing.size,
            });
        }
        if record_stale {
            known.record_asked = id.incarnation();
            changes.push(Change::RecordDue {
                key: id.key(),
                life: id.incarnation(),
            });
        }
        self.update_roster(id.key());
    }

    /// Applies the records gossip and syncs left in the inbox.
    pub(crate) fn apply_news(&mut self, own: Own<'_>, changes: &mut Vec<Change>) {
        let (news, own_term) = {
            let mut inbox = records::lock(&self.inbox);
            (std::mem::take(&mut inbox.news), inbox.own_term)
        };
        self.max_term = self.max_term.max(own_term);
        for record in news {
            if self.note_founding(record.founding, record.term, own) {
                changes.push(Change::FoundingChanged);
            }
            if let Some(seniority) = record.seniority
                && record.founding == self.founding
            {
                self.max_seniority = self.max_seniority.max(seniority);
            }
            self.max_term = self.max_term.max(record.term);
            let key = MemberKey::of(&record.name);
            let known = self
                .known
                .entry(key)
                .or_insert_with(|| Arc::new(Known::new()));
            let known = Arc::make_mut(known);
            // A record sent directly is news here before its gossip is (see
            // `RecordInbox::offer_direct`): that gossip, or an older
            // version's, changes nothing.
            if known
                .record
                .as_ref()
                .is_some_and(|held| held.freshness() >= record.freshness())
            {
                continue;
            }
            let name = known.held_name().unwrap_or(&record.name).clone();
            let status_changed = known.record.as_ref().map(|r| r.status) != Some(record.status);
            let mut record = record;
            if !Arc::ptr_eq(&record.name, &name) {
                Arc::make_mut(&mut record).name = name.clone();
            }
            let status = record.status;
            tracing::trace!(
                member = %name,
                ?status,
                seniority = ?record.seniority,
                term = record.term,
                admitted = record.admitted,
                version = record.version,
                "record applied"
            );
            known.record = Some(record);
            let previous = known.state;
            known.state = known.derive_state();
            if status_changed && known.state.is_some() {
                changes.push(Change::Event(Event::MemberHealth {
                    name: name.clone(),
                    status,
                }));
            }
            if let (Some(previous), Some(current)) = (previous, known.state)
                && previous != current
            {
                changes.push(Change::Event(Event::MemberState {
                    name: name.clone(),
                    incarnation: known.life(),
                    previous: Some(previous),
                    current,
                }));
            }
            if known.record_stale()
                && let Some(life) = known.id.as_ref().map(NodeId::incarnation)
            {
                known.record_asked = life;
                changes.push(Change::RecordDue { key, life });
            }
            self.update_roster(key);
            self.version += 1;
        }
    }

    /// A suspicion ran out while this view may not declare anyone down:
    /// the suspect counts as down here (see [`Known::held_down`]), if it is
    /// still suspect at that life and SWIM incarnation.
    pub(crate) fn hold_down(
        &mut self,
        now: Time,
        key: MemberKey,
        life: u64,
        incarnation: foca::Incarnation,
    ) -> Option<Event> {
        let known = Arc::make_mut(self.known.get_mut(&key)?);
        if known.held_down
            || known.id.as_ref().map(NodeId::incarnation) != Some(life)
            || known.swim != Some((incarnation, foca::State::Suspect))
        {
            return None;
        }
        known.held_down = true;
        self.holding_down = true;
        let previous = known.state;
        known.state = known.derive_state();
        let mut event = None;
        if let Some(current) = known.state
            && previous != Some(current)
        {
            tracing::debug!(member = %known.name(), "held down: suspected past its timeout while this view cannot declare it down");
            self.changed_at = now;
            event = Some(Event::MemberState {
                name: known.name().clone(),
                incarnation: life,
                previous,
                current,
            });
        }
        self.update_roster(key);
        self.version += 1;
        event
    }

    /// Whether some member may be held down.
    pub(crate) fn holding_down(&self) -> bool {
        self.holding_down
    }

    /// The view vouches again: the members it held down are suspects again
    /// (see `Node::release_held`). Returns whether any was held.
    pub(crate) fn release_held(&mut self, now: Time, changes: &mut Vec<Change>) -> bool {
        self.holding_down = false;
        let held: Vec<MemberKey> = self
            .known
            .iter()
            .filter(|(_, known)| known.held_down)
            .map(|(key, _)| *key)
            .collect();
        if held.is_empty() {
            return false;
        }
        tracing::debug!(
            members = held.len(),
            "this view vouches again; the members it held down are suspects again"
        );
        for key in held {
            let Some(known) = self.known.get_mut(&key).map(Arc::make_mut) else {
                continue;
            };
            known.held_down = false;
            let previous = known.state;
            known.state = known.derive_state();
            if let Some(current) = known.state
                && previous != Some(current)
            {
                changes.push(Change::Event(Event::MemberState {
                    name: known.name().clone(),
                    incarnation: known.life(),
                    previous,
                    current,
                }));
            }
            self.update_roster(key);
        }
        self.changed_at = now;
        self.version += 1;
        true
    }

    /// Offers a record a member sent outside gossip; whether it is news.
    pub(crate) fn offer(&mut self, record: impl Into<Arc<HealthRecord>>) -> bool {
        records::lock(&self.inbox).offer(record)
    }

    /// A record its member sent this node directly (see
    /// [`records::RecordInbox::offer_direct`]).
    pub(crate) fn offer_direct(&mut self, record: impl Into<Arc<HealthRecord>>) -> bool {
        records::lock(&self.inbox).offer_direct(record)
    }

    /// This node's own place in the roster, after its record or state
    /// changed.
    pub(crate) fn set_own(&mut self, own: Own<'_>) {
        let mut record = own.record.clone();
        if record.founding != self.founding {
            record.seniority = None;
        }
        let placing = self
            .roster
            .place(self.own_placing, &record.name, own.state, Some(&record));
        self.own_placing = Some(placing);
    }

    /// A term another member knows; an implausible one is ignored, as in a
    /// record (see [`super::health::COUNTER_LIMIT`]).
    pub(crate) fn learn_term(&mut self, term: u64) {
        if term < super::health::COUNTER_LIMIT {
            self.max_term = self.max_term.max(term);
        }
    }

    /// Takes the next term, above every term seen, for a claim that starts.
    pub(crate) fn next_term(&mut self) -> u64 {
        self.max_term = self.max_term.saturating_add(1);
        self.max_term
    }

    /// This node published a record with this seniority.
    pub(crate) fn note_own_seniority(&mut self, seniority: u64) {
        self.max_seniority = self.max_seniority.max(seniority);
    }

    /// Records a term seen in a founding and settles which founding wins:
    /// the higher term, then the founding more members of this view belong
    /// to, then the higher number. Returns whether the winner changed (the
    /// node's own place in the roster was redone).
    pub(crate) fn note_founding(&mut self, founding: u64, term: u64, own: Own<'_>) -> bool {
        if founding == 0 {
            return false;
        }
        let entry = self.foundings.entry(founding).or_insert(term);
        *entry = (*entry).max(term);
        let winner = if self.foundings.len() == 1 {
            founding
        } else {
            let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
            for known in self.known.values() {
                if let Some(record) = &known.record
                    && known.state.is_some_and(MemberState::is_live)
                {
                    *counts.entry(record.founding).or_default() += 1;
                }
            }
            *counts.entry(own.record.founding).or_default() += 1;
            let (winner, _) = self
                .foundings
                .iter()
                .max_by_key(|(f, term)| (**term, counts.get(*f).copied().unwrap_or(0), **f))
                .map(|(f, t)| (*f, *t))
                .unwrap_or((founding, term));
            winner
        };
        if winner == self.founding {
            return false;
        }
        if self.founding != 0 {
            tracing::warn!(
                founding = winner,
                "two clusters of this name met; the one whose primary reached the higher term keeps its ranks"
            );
        }
        self.founding = winner;
        // Ranks are taken above the winning founding's only.
        self.max_seniority = self
            .known
            .values()
            .filter_map(|k| k.record.as_deref())
            .chain(std::iter::once(own.record))
            .filter(|r| r.founding == winner)
            .filter_map(|r| r.seniority)
            .max()
            .unwrap_or(0);
        let keys: Vec<MemberKey> = self.known.keys().copied().collect();
        for key in keys {
            self.update_roster(key);
        }
        self.set_own(own);
        true
    }

    /// The record that marks a member that is down (or suspect) as left
    /// for every member (`herd forget`): one version newer than the last
    /// one seen, saying it leaves. `Ok(None)`: it has left already.
    pub(crate) fn forget(&self, name: &str) -> Result<Option<HealthRecord>, CommandError> {
        let known = self
            .known
            .get(&MemberKey::of(name))
            .filter(|k| k.state.is_some())
            .ok_or_else(|| CommandError::UnknownMember(name.to_owned()))?;
        let state = known.state.unwrap_or(MemberState::Down);
        // A suspect may be forgotten: a view without a majority holds the
        // members it cannot reach as suspects (see `Known::held_down`), and
        // those are exactly the crashed members an operator forgets to give
        // the survivors their quorum back.
        if state == MemberState::Alive {
            return Err(CommandError::MemberLive(name.to_owned(), state));
        }
        if state == MemberState::Left {
            return Ok(None);
        }
        let life = known.life();
        let mut record = match &known.record {
            Some(record) if record.incarnation >= life => HealthRecord::clone(record),
            _ => HealthRecord::new(known.name().clone(), life, 0, false),
        };
        record.version = record.version.saturating_add(1);
        record.leaving = true;
        record.draining = true;
        record.seniority = None;
        Ok(Some(record))
    }

    fn update_roster(&mut self, key: MemberKey) {
        let Some(known) = self.known.get(&key) else {
            return;
        };
        let Some(state) = known.state else {
            return;
        };
        let name = known.name();
        let old = known.placing;
        let placing = match (&known.record, known.seniority(self.founding)) {
            (Some(record), seniority) if seniority == record.seniority => {
                self.roster.place(old, name, state, Some(record))
            }
            (Some(record), seniority) => {
                let mut honoured = HealthRecord::clone(record);
                honoured.seniority = seniority;
                self.roster.place(old, name, state, Some(&honoured))
            }
            (None, _) => self.roster.place(old, name, state, None),
        };
        // An unchanged placing leaves a shared entry shared.
        if old != Some(placing)
            && let Some(known) = self.known.get_mut(&key)
        {
            Arc::make_mut(known).placing = Some(placing);
        }
    }

    /// Shares every entry that is the same as `pool`'s for that member, and
    /// gives the pool the members it has none for. Changes what the view
    /// holds nowhere: an entry a node changes later is copied then.
    pub(crate) fn share(&mut self, pool: &mut ViewPool) {
        self.roster.share(&mut pool.candidates);
        for (key, known) in &mut self.known {
            match pool.known.entry(*key) {
                Entry::Occupied(pooled) => {
                    if !Arc::ptr_eq(pooled.get(), known) && pooled.get().same_as(known) {
                        *known = pooled.get().clone();
                    }
                }
                Entry::Vacant(place) => {
                    place.insert(known.clone());
                }
            }
        }
    }

    // ---- queries ----------------------------------------------------------

    /// One member.
    pub(crate) fn get(&self, key: &MemberKey) -> Option<&Known> {
        self.known.get(key).map(Arc::as_ref)
    }

    /// Every member, in the view's order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Known> {
        self.known.values().map(Arc::as_ref)
    }

    /// Whether this view has heard of the member at all.
    pub(crate) fn contains(&self, key: &MemberKey) -> bool {
        self.known.contains_key(key)
    }

    /// A member's state in this view.
    pub(crate) fn state(&self, name: &str) -> Option<MemberState> {
        self.known
            .get(&MemberKey::of(name))
            .and_then(|known| known.state)
    }

    /// Whether this view holds `key`'s record saying it was admitted.
    pub(crate) fn is_admitted(&self, key: &MemberKey) -> bool {
        self.known
            .get(key)
            .and_then(|known| known.record.as_ref())
            .is_some_and(|record| record.admitted)
    }

    /// Whether `member`, at that life, left (its own leaving record).
    pub(crate) fn has_left(&self, member: &NodeId) -> bool {
        self.known.get(&member.key()).is_some_and(|known| {
            known.state == Some(MemberState::Left) && known.life() == member.incarnation()
        })
    }

    /// Whether `member`, at that life, is suspect in foca.
    pub(crate) fn is_suspect(&self, member: &NodeId) -> bool {
        self.known
            .get(&member.key())
            .is_some_and(|k| k.id.as_ref() == Some(member) && k.swim_suspect())
    }

    /// The addresses of the members in the given states.
    pub(crate) fn addrs(&self, wanted: impl Fn(&Known) -> bool) -> Vec<SocketAddr> {
        self.known
            .values()
            .filter(|k| wanted(k))
            .filter_map(|k| k.id.as_ref().map(NodeId::socket_addr))
            .collect()
    }

    /// The addresses of the members this view holds alive.
    pub(crate) fn alive_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(|k| k.state == Some(MemberState::Alive))
    }

    /// The addresses of the members this view holds alive or suspect.
    pub(crate) fn live_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(|k| k.state.is_some_and(MemberState::is_live))
    }

    /// The addresses of the members this view holds live or down: every
    /// member that has not left.
    pub(crate) fn unleft_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(|k| k.state.is_some_and(|state| state != MemberState::Left))
    }

    /// The members foca holds suspect, with their SWIM incarnation.
    pub(crate) fn suspects(&self) -> Vec<(NodeId, foca::Incarnation)> {
        self.known
            .values()
            .filter_map(|k| match (k.id.as_ref(), k.swim) {
                (Some(id), Some((incarnation, foca::State::Suspect))) => {
                    Some((id.clone(), incarnation))
                }
                _ => None,
            })
            .collect()
    }

    /// The members foca holds down.
    pub(crate) fn down_ids(&self) -> Vec<NodeId> {
        self.known
            .values()
            .filter(|k| k.swim_down())
            .filter_map(|k| k.id.clone())
            .collect()
    }

    /// The member whose current life sends from `addr`.
    pub(crate) fn at_addr(&self, addr: SocketAddr) -> Option<(MemberKey, NodeId)> {
        self.known
            .iter()
            .filter_map(|(key, known)| Some((*key, known.id.as_ref()?)))
            .find(|(_, id)| id.socket_addr() == addr)
            .map(|(key, id)| (key, id.clone()))
    }

    /// Every record this view holds (for a state sync).
    pub(crate) fn records(&self) -> Vec<HealthRecord> {
        self.known
            .values()
            .filter_map(|known| known.record.as_deref().cloned())
            .collect()
    }

    /// The term of a member's latest record.
    pub(crate) fn record_term(&self, name: &str) -> Option<u64> {
        self.known
            .get(&MemberKey::of(name))?
            .record
            .as_ref()
            .map(|r| r.term)
    }

    /// Every member as the snapshot shows it (this node not included).
    pub(crate) fn infos(&self, primary: Option<&Arc<str>>) -> Vec<MemberInfo> {
        self.known
            .values()
            .filter_map(|known| {
                let name = known.name();
                let state = known.state?;
                let id = known.id.as_ref()?;
                let record = known.record.as_ref();
                Some(MemberInfo {
                    name: name.clone(),
                    addr: id.socket_addr(),
                    state,
                    health: record.map(|r| r.status),
                    draining: record.is_some_and(|r| r.draining),
                    priority: record.map_or(0, |r| r.priority),
                    seniority: known.seniority(self.founding),
                    eligible: record.is_some_and(|r| r.eligible),
                    is_primary: primary == Some(name),
                    incarnation: id.incarnation(),
                    local: false,
                    term: record.map_or(0, |r| r.term),
                    admitted: record.is_some_and(|r| r.admitted),
                    checks: record.map(|r| r.checks.clone()).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Members foca knows (this node not included).
    pub(crate) fn swim_count(&self) -> usize {
        self.scanned.len()
    }

    /// The election in this view as of now.
    pub(crate) fn elect(&self) -> Election {
        self.roster.elect()
    }

    /// A number that changes whenever the election could.
    pub(crate) fn roster_version(&self) -> u64 {
        self.roster.version()
    }

    /// A number that changes whenever a snapshot of the view would.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// When a member last changed state in this view.
    pub(crate) fn changed_at(&self) -> Time {
        self.changed_at
    }

    /// The founding whose ranks this view honours.
    pub(crate) fn founding(&self) -> u64 {
        self.founding
    }

    /// The highest seniority seen in the winning founding.
    pub(crate) fn max_seniority(&self) -> u64 {
        self.max_seniority
    }

    /// The highest primary term seen.
    pub(crate) fn max_term(&self) -> u64 {
        self.max_term
    }

    /// The inbox foca's broadcast handler fills.
    pub(crate) fn inbox(&self) -> &Arc<Mutex<RecordInbox>> {
        &self.inbox
    }

    /// Up to `count` members to witness the lease of the node named
    /// `own`: the candidates that follow it, alive and admitted, then other
    /// alive admitted members by name.
    pub(crate) fn lease_witnesses(&self, own: &str, count: usize) -> Vec<NodeId> {
        let fit = |key: &MemberKey| {
            self.known
                .get(key)
                .filter(|k| k.state == Some(MemberState::Alive) && self.is_admitted(key))
                .and_then(|k| k.id.clone())
        };
        let mut chosen: Vec<NodeId> = Vec::with_capacity(count);
        for name in self.roster.candidates() {
            if chosen.len() == count {
                return chosen;
            }
            if &**name != own
                && let Some(id) = fit(&MemberKey::of(name))
            {
                chosen.push(id);
            }
        }
        if chosen.len() < count {
            let mut others: Vec<NodeId> = self
                .known
                .keys()
                .filter(|key| !chosen.iter().any(|c| c.key() == **key))
                .filter_map(fit)
                .collect();
            others.sort_by(|a, b| a.name().cmp(b.name()));
            chosen.extend(others.into_iter().take(count - chosen.len()));
        }
        chosen
    }

    /// The bound on the view, for the codec to share.
    pub(crate) fn cap(&self) -> &SharedCap {
        &self.cap
    }

    /// Whether the view may hold `key` (see [`MemberCap::admit`]).
    pub(crate) fn admit(&self, key: MemberKey) -> bool {
        member_cap::lock(&self.cap).admit(key)
    }

    /// Member updates, records, senders and joiners refused because the
    /// view holds `max_members` already.
    pub(crate) fn members_refused(&self) -> u64 {
        member_cap::lock(&self.cap).refused
    }

    /// Records in gossip that did not decode or were implausible.
    pub(crate) fn records_rejected(&self) -> u64 {
        records::lock(&self.inbox).rejected
    }

    /// The founding in which an earlier life of this node was admitted,
    /// as gossip about it says.
    pub(crate) fn own_admitted_in(&self) -> Option<u64> {
        records::lock(&self.inbox).own_admitted_in
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::core::health::HealthStatus;

    #[test]
    fn a_known_member_stays_small() {
        // A view holds one per member, the simulator one per (node, member)
        // pair (BENCHMARKS.md): the name lives in the identity, not here too.
        assert_eq!(std::mem::size_of::<Known>(), 80);
    }

    fn id(name: &str, life: u64) -> NodeId {
        let port = 7000 + u16::from(name.as_bytes()[0]);
        NodeId::new(name, SocketAddr::from(([198, 18, 0, 1], port)), life).unwrap()
    }

    fn member(name: &str, life: u64, swim: foca::State) -> foca::Member<NodeId> {
        foca::Member::new(id(name, life), 0, swim)
    }

    fn standing(quorate: bool) -> Standing {
        Standing {
            vouching: quorate,
            claim_quorate: quorate,
            now: Some(Duration::from_secs(1)),
            size: 3,
        }
    }

    fn view() -> (Members, HealthRecord) {
        let own = HealthRecord::new("me".into(), 1, 0, true);
        let mut members = Members::new(
            "me".into(),
            ElectionRules::default(),
            0,
            Duration::ZERO,
            usize::MAX,
        );
        members.set_own(Own {
            record: &own,
            state: MemberState::Alive,
        });
        (members, own)
    }

    fn scan(members: &mut Members, list: &[foca::Member<NodeId>], quorate: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        members.scan(|| list.iter(), standing(quorate), &mut changes);
        changes
    }

    /// This node, alive, with `record`.
    fn alive(record: &HealthRecord) -> Own<'_> {
        Own {
            record,
            state: MemberState::Alive,
        }
    }

    /// Takes the records waiting in the inbox.
    fn apply(members: &mut Members, own: &HealthRecord) {
        members.apply_news(alive(own), &mut Vec::new());
    }

    fn record(name: &str, life: u64, version: u64) -> HealthRecord {
        let mut record = HealthRecord::new(name.into(), life, 0, true);
        record.version = version;
        record
    }

    fn state_events(changes: &[Change]) -> Vec<(String, Option<MemberState>, MemberState)> {
        changes
            .iter()
            .filter_map(|change| match change {
                Change::Event(Event::MemberState {
                    name,
                    previous,
                    current,
                    ..
                }) => Some((name.to_string(), *previous, *current)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_scan_reports_new_members_suspicions_and_reaps() {
        let (mut members, _) = view();
        let alive = [
            member("a", 1, foca::State::Alive),
            member("b", 1, foca::State::Alive),
        ];
        let changes = scan(&mut members, &alive, true);
        assert_eq!(
            state_events(&changes),
            [
                ("a".into(), None, MemberState::Alive),
                ("b".into(), None, MemberState::Alive)
            ]
        );
        assert_eq!(members.swim_count(), 2);
        assert_eq!(members.live_addrs().len(), 2);
        // The same list again changes nothing.
        assert!(scan(&mut members, &alive, true).is_empty());

        let suspect = [
            member("a", 1, foca::State::Alive),
            member("b", 1, foca::State::Suspect),
        ];
        let changes = scan(&mut members, &suspect, true);
        assert_eq!(
            state_events(&changes),
            [("b".into(), Some(MemberState::Alive), MemberState::Suspect)]
        );
        assert!(changes.iter().any(|c| matches!(
            c,
            Change::Suspected { id, size: 3, .. } if &**id.name() == "b"
        )));
        assert!(members.is_suspect(&id("b", 1)));
        assert_eq!(members.suspects().len(), 1);

        // foca reaped b.
        let changes = scan(&mut members, &alive[..1], true);
        assert_eq!(
            changes,
            [Change::Event(Event::MemberReaped { name: "b".into() })]
        );
        assert_eq!(members.state("b"), None);
        assert_eq!(members.live_addrs().len(), 1);
    }

    #[test]
    fn records_bring_health_and_ranks_and_an_old_life_ranks_nothing() {
        let (mut members, own) = view();
        scan(&mut members, &[member("a", 1, foca::State::Alive)], true);
        let mut ranked = record("a", 1, 1);
        ranked.seniority = Some(4);
        ranked.term = 9;
        ranked.status = HealthStatus::Failing;
        assert!(members.offer(ranked.clone()));
        // An older version of it is no news.
        assert!(!members.offer(record("a", 1, 0)));
        let mut changes = Vec::new();
        members.apply_news(alive(&own), &mut changes);
        assert!(changes.contains(&Change::Event(Event::MemberHealth {
            name: "a".into(),
            status: HealthStatus::Failing,
        })));
        assert_eq!(members.max_seniority(), 4);
        assert_eq!(members.max_term(), 9);
        assert_eq!(members.record_term("a"), Some(9));

        // A new life of `a`: its record of the old life ranks nothing, and
        // the view asks for the new one.
        let changes = scan(&mut members, &[member("a", 2, foca::State::Alive)], true);
        assert!(changes.contains(&Change::RecordDue {
            key: MemberKey::of("a"),
            life: 2
        }));
        let infos = members.infos(None);
        assert_eq!(infos[0].seniority, None);
        assert_eq!(infos[0].incarnation, 2);
    }

    #[test]
    fn a_down_declared_with_a_quorum_voids_the_rank_of_that_life() {
        let (mut members, own) = view();
        scan(&mut members, &[member("a", 1, foca::State::Alive)], true);
        let mut ranked = record("a", 1, 1);
        ranked.seniority = Some(1);
        members.offer(ranked);
        apply(&mut members, &own);
        scan(&mut members, &[member("a", 1, foca::State::Down)], true);
        let down = members.get(&MemberKey::of("a")).unwrap();
        assert_eq!(down.state, Some(MemberState::Down));
        assert!(down.down_vouched);
        // Back alive at the same life (a minority heals, say): no rank.
        scan(&mut members, &[member("a", 1, foca::State::Alive)], true);
        assert_eq!(members.infos(None)[0].seniority, None);
    }

    #[test]
    fn a_down_seen_without_a_quorum_keeps_the_rank_and_does_not_vouch() {
        let (mut members, own) = view();
        scan(&mut members, &[member("a", 1, foca::State::Alive)], false);
        let mut ranked = record("a", 1, 1);
        ranked.seniority = Some(1);
        members.offer(ranked);
        apply(&mut members, &own);
        scan(&mut members, &[member("a", 1, foca::State::Down)], false);
        assert!(!members.get(&MemberKey::of("a")).unwrap().down_vouched);
        scan(&mut members, &[member("a", 1, foca::State::Alive)], false);
        assert_eq!(members.infos(None)[0].seniority, Some(1));
    }

    #[test]
    fn held_down_members_count_as_down_until_released() {
        let (mut members, _) = view();
        let list = [
            member("a", 1, foca::State::Alive),
            member("b", 1, foca::State::Suspect),
        ];
        scan(&mut members, &list, false);
        let now = Duration::from_secs(5);
        // Only at the life and SWIM incarnation it is suspect at.
        assert_eq!(members.hold_down(now, MemberKey::of("b"), 2, 0), None);
        let event = members.hold_down(now, MemberKey::of("b"), 1, 0);
        assert_eq!(
            event,
            Some(Event::MemberState {
                name: "b".into(),
                incarnation: 1,
                previous: Some(MemberState::Suspect),
                current: MemberState::Down,
            })
        );
        assert!(members.holding_down());
        assert_eq!(members.state("b"), Some(MemberState::Down));
        // foca still holds it suspect: it comes back by refuting.
        assert!(members.is_suspect(&id("b", 1)));
        // Held once is enough.
        assert_eq!(members.hold_down(now, MemberKey::of("b"), 1, 0), None);

        let mut changes = Vec::new();
        assert!(members.release_held(now, &mut changes));
        assert_eq!(
            state_events(&changes),
            [("b".into(), Some(MemberState::Down), MemberState::Suspect)]
        );
        assert!(!members.holding_down());
        assert_eq!(members.state("b"), Some(MemberState::Suspect));
        assert!(!members.release_held(now, &mut Vec::new()));
    }

    #[test]
    fn forgetting_needs_a_member_that_is_not_alive() {
        let (mut members, _) = view();
        let list = [
            member("a", 1, foca::State::Alive),
            member("b", 3, foca::State::Down),
        ];
        scan(&mut members, &list, true);
        assert_eq!(
            members.forget("nobody"),
            Err(CommandError::UnknownMember("nobody".into()))
        );
        assert!(matches!(
            members.forget("a"),
            Err(CommandError::MemberLive(_, MemberState::Alive))
        ));
        let record = members.forget("b").unwrap().unwrap();
        assert!(record.leaving && record.draining);
        assert_eq!(record.incarnation, 3);
        assert_eq!(record.seniority, None);
    }

    #[test]
    fn the_founding_with_the_higher_term_wins_and_only_its_ranks_count() {
        let (mut members, mut own) = view();
        own.founding = 7;
        let own_view = alive(&own);
        assert!(members.note_founding(7, 2, own_view));
        assert_eq!(members.founding(), 7);
        scan(&mut members, &[member("a", 1, foca::State::Alive)], true);
        let mut other = record("a", 1, 1);
        other.founding = 9;
        other.term = 5;
        other.seniority = Some(3);
        members.offer(other);
        let mut changes = Vec::new();
        members.apply_news(own_view, &mut changes);
        assert!(changes.contains(&Change::FoundingChanged));
        assert_eq!(members.founding(), 9);
        assert_eq!(members.max_seniority(), 3);
        assert_eq!(members.infos(None)[0].seniority, Some(3));
    }
}
