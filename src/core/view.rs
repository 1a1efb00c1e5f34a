//! The membership view and the election rule.
//!
//! [`elect`] is DESIGN's rule as a pure function of a view: the candidates
//! are live members whose record says they serve, are eligible and hold a
//! seniority; the order is highest priority, then lowest seniority, then
//! name; and a view without a quorum of live members elects nobody.
//!
//! [`Roster`] computes the same answer incrementally (one member changes,
//! the answer is a B-tree lookup away), because a node in a 1,000-member
//! cluster re-elects after every membership or health change. Tests hold the
//! two to the same results.

use std::cmp::Reverse;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::health::HealthRecord;

/// A member's state in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// Answers probes.
    Alive,
    /// Missed a probe; will be declared down unless it refutes in time.
    Suspect,
    /// Declared down by the cluster (crashed, frozen or cut off).
    Down,
    /// Left gracefully.
    Left,
}

impl MemberState {
    /// Alive or suspect: still counted as part of the cluster that works.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Alive | Self::Suspect)
    }

    /// Lowercase name, as in the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Suspect => "suspect",
            Self::Down => "down",
            Self::Left => "left",
        }
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a member counts toward a view's quorum: only once its record
/// says it was admitted ([`HealthRecord::admitted`]). A member whose record
/// has not arrived is not counted either way: a view learns records with
/// the membership (a join's state sync, then the record's own gossip), so
/// the one it lacks is almost always a newcomer's, and counting it against
/// the majority would unseat a working primary at every join.
fn counted(record: Option<&HealthRecord>) -> bool {
    record.is_some_and(|record| record.admitted)
}

/// How a view decides whether it may elect at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuorumPolicy {
    /// A view must see more than half of the expected members live: a
    /// minority partition never serves a primary.
    #[default]
    Majority,
    /// No quorum guard: any view elects. For two-node clusters that prefer
    /// availability to a second primary during a partition.
    Off,
}

/// The parameters of the rule that come from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ElectionRules {
    /// The quorum guard.
    pub quorum: QuorumPolicy,
    /// A fixed expected cluster size; `None` counts every member that has
    /// not left.
    pub expected_members: Option<usize>,
}

impl ElectionRules {
    fn quorate(&self, counted: usize, expected: usize) -> bool {
        match self.quorum {
            QuorumPolicy::Off => true,
            QuorumPolicy::Majority => counted * 2 > expected,
        }
    }
}

#[cfg(test)]
/// One member as a view sees it: the input of [`elect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberView {
    /// The member's name.
    pub name: Arc<str>,
    /// Its state in this view.
    pub state: MemberState,
    /// Its latest health record, with the seniority this view honours.
    pub record: Option<HealthRecord>,
}

/// A member's place in the roster: its state, whether it stands in the
/// quorum, and its rank if it is a candidate. The view keeps it in its
/// entry for the member (the roster is told the old placing when it places
/// a member again), so it is shared where the entry is (see
/// `members::ViewPool`). 24 bytes, without the name its candidate key
/// repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placing {
    seniority: u64,
    term: u32,
    priority: i32,
    state: MemberState,
    standing: bool,
    candidate: bool,
}

impl Placing {
    fn new(state: MemberState, standing: bool, key: Option<&CandidateKey>) -> Self {
        Self {
            seniority: key.map_or(0, |key| key.seniority),
            term: key.map_or(0, |key| key.term.0),
            priority: key.map_or(0, |key| key.priority.0),
            state,
            standing,
            candidate: key.is_some(),
        }
    }

    /// The candidate key it was placed with, if any.
    fn candidate_key(&self, name: &Arc<str>) -> Option<CandidateKey> {
        self.candidate.then(|| {
            CandidateKey::new(
                self.priority,
                self.seniority,
                u64::from(self.term),
                name.clone(),
            )
        })
    }
}

/// The order of candidates: the smallest key is the primary.
///
/// Between equal seniorities the latest claim (the higher term in the
/// record) ranks first, then the name. Seniorities are unique in a cluster
/// that stays whole; two sides of a partition can each hand out the same
/// one, and when they met, the name put a member of the other side ahead
/// of the primary that had served the majority side all along, which lost
/// the role (found by the swarm).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CandidateKey {
    priority: Reverse<i32>,
    seniority: u64,
    /// Saturated at `u32::MAX` (a cluster claims once per failover): the
    /// key stays 32 bytes.
    term: Reverse<u32>,
    name: Arc<str>,
}

impl CandidateKey {
    /// The key of a candidate with these attributes (see
    /// [`super::explain`], which ranks a snapshot's members by it).
    pub(crate) fn new(priority: i32, seniority: u64, term: u64, name: Arc<str>) -> Self {
        Self {
            priority: Reverse(priority),
            seniority,
            term: Reverse(u32::try_from(term).unwrap_or(u32::MAX)),
            name,
        }
    }

    /// The key of a member if it is a candidate.
    pub(crate) fn of(
        name: &Arc<str>,
        state: MemberState,
        record: Option<&HealthRecord>,
    ) -> Option<Self> {
        let record = record?;
        if !state.is_live() || !record.serves() || !record.eligible {
            return None;
        }
        Some(Self {
            priority: Reverse(record.priority),
            seniority: record.seniority?,
            term: Reverse(u32::try_from(record.term).unwrap_or(u32::MAX)),
            name: name.clone(),
        })
    }

    #[cfg(test)]
    /// The candidate's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }
}

/// The result of an election in one view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Election {
    /// The member this view names primary.
    pub primary: Option<Arc<str>>,
    /// More than half of the expected members are live (alive or suspect):
    /// the view may elect and its owner may hold a seniority.
    pub quorate: bool,
    /// More than half of the expected members are alive (not suspect): the
    /// elected owner of this view may claim the role. Stricter than
    /// `quorate`, so a node cut off with a minority stops claiming as soon
    /// as it suspects the others, before the majority can declare it down.
    pub claim_quorate: bool,
    /// Members alive or suspect.
    pub live: usize,
    /// Members alive.
    pub alive: usize,
    /// The expected cluster size the quorum is measured against.
    pub expected: usize,
}

#[cfg(test)]
/// DESIGN's election rule over a whole view. The order of `view` does not
/// matter.
pub(crate) fn elect(view: &[MemberView], rules: &ElectionRules) -> Election {
    let quorum: Vec<&MemberView> = view.iter().filter(|m| counted(m.record.as_ref())).collect();
    let live = quorum.iter().filter(|m| m.state.is_live()).count();
    let alive = quorum
        .iter()
        .filter(|m| m.state == MemberState::Alive)
        .count();
    let not_left = quorum
        .iter()
        .filter(|m| m.state != MemberState::Left)
        .count();
    // Candidates need no admission: the quorum decides whether anyone is
    // elected, the order who.
    let winner = view
        .iter()
        .filter_map(|m| CandidateKey::of(&m.name, m.state, m.record.as_ref()))
        .min();
    conclude(rules, winner.as_ref(), live, alive, not_left)
}

fn conclude(
    rules: &ElectionRules,
    winner: Option<&CandidateKey>,
    live: usize,
    alive: usize,
    not_left: usize,
) -> Election {
    let expected = rules.expected_members.unwrap_or(not_left);
    let quorate = rules.quorate(live, expected);
    Election {
        primary: winner.filter(|_| quorate).map(|key| key.name.clone()),
        quorate,
        claim_quorate: rules.quorate(alive, expected),
        live,
        alive,
        expected,
    }
}

/// Candidates in the order of [`CandidateKey`], the primary first.
pub(crate) type Candidates = imbl::OrdSet<CandidateKey>;

/// [`elect`], kept up to date one member at a time.
///
/// It keeps the candidates' order and the counts the quorum needs; each
/// member's [`Placing`] is kept by whoever places it, which hands the old
/// one back on every change.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    rules: ElectionRules,
    /// Members placed.
    placed: usize,
    /// A persistent set: the simulator's warm start gives every node the
    /// same one (see `members::ViewPool`), and a change copies the path to
    /// the key it changes, not the set (a primary's claim changes its key in
    /// every view).
    candidates: Candidates,
    live: usize,
    alive: usize,
    not_left: usize,
    version: u64,
}

impl Roster {
    /// An empty roster under `rules`.
    pub(crate) fn new(rules: ElectionRules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// Places one member by its state and record; `old` is where it was
    /// placed before (`None`: nowhere). Returns its placing now, for the
    /// caller to keep.
    #[must_use]
    pub(crate) fn place(
        &mut self,
        old: Option<Placing>,
        name: &Arc<str>,
        state: MemberState,
        record: Option<&HealthRecord>,
    ) -> Placing {
        let key = CandidateKey::of(name, state, record);
        let placing = Placing::new(state, counted(record), key.as_ref());
        if old == Some(placing) {
            return placing;
        }
        let old_key = old.and_then(|old| old.candidate_key(name));
        if let Some(old) = old {
            self.version += 1;
            self.placed = self.placed.saturating_sub(1);
            self.count(old.state, old.standing, -1);
        }
        self.count(state, placing.standing, 1);
        // A suspect keeps its rank: its set stays as it was, and shared.
        if old_key != key {
            if let Some(old_key) = old_key {
                self.candidates.remove(&old_key);
            }
            if let Some(key) = key {
                self.candidates.insert(key);
            }
        }
        self.placed += 1;
        self.version += 1;
        placing
    }

    /// Shares the candidates' set with `pooled` when the two are the same,
    /// or gives it to an empty pool.
    pub(crate) fn share(&mut self, pooled: &mut Option<Candidates>) {
        match pooled {
            Some(set) if !set.ptr_eq(&self.candidates) && *set == self.candidates => {
                self.candidates = set.clone();
            }
            Some(_) => {}
            None => *pooled = Some(self.candidates.clone()),
        }
    }

    /// Forgets a member placed at `old`.
    pub(crate) fn unplace(&mut self, old: Placing, name: &Arc<str>) {
        self.version += 1;
        self.placed = self.placed.saturating_sub(1);
        self.count(old.state, old.standing, -1);
        if let Some(key) = old.candidate_key(name) {
            self.candidates.remove(&key);
        }
    }

    fn count(&mut self, state: MemberState, counted: bool, delta: isize) {
        if !counted {
            return;
        }
        let apply = |n: &mut usize| *n = n.saturating_add_signed(delta);
        if state.is_live() {
            apply(&mut self.live);
        }
        if state == MemberState::Alive {
            apply(&mut self.alive);
        }
        if state != MemberState::Left {
            apply(&mut self.not_left);
        }
    }

    /// The election in this view.
    pub(crate) fn elect(&self) -> Election {
        conclude(
            &self.rules,
            self.candidates.get_min(),
            self.live,
            self.alive,
            self.not_left,
        )
    }

    /// The candidates' names, the winner first.
    pub(crate) fn candidates(&self) -> impl Iterator<Item = &Arc<str>> {
        self.candidates.iter().map(|key| &key.name)
    }

    /// A number that changes whenever the election could.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// How many members are placed.
    #[cfg(test)]
    #[allow(clippy::len_without_is_empty)]
    pub(crate) fn len(&self) -> usize {
        self.placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::health::HealthStatus;
    use proptest::prelude::*;

    fn record(name: &str, priority: i32, seniority: Option<u64>) -> HealthRecord {
        let mut record = HealthRecord::new(name.into(), 1, priority, true);
        record.seniority = seniority;
        record.admitted = true;
        record
    }

    fn member(name: &str, state: MemberState, record: Option<HealthRecord>) -> MemberView {
        MemberView {
            name: name.into(),
            state,
            record,
        }
    }

    fn alive(name: &str, priority: i32, seniority: u64) -> MemberView {
        member(
            name,
            MemberState::Alive,
            Some(record(name, priority, Some(seniority))),
        )
    }

    fn primary(view: &[MemberView]) -> Option<String> {
        elect(view, &ElectionRules::default())
            .primary
            .map(|p| p.to_string())
    }

    #[test]
    fn a_placing_and_a_candidate_key_stay_small() {
        // Every view holds one of each per member: the simulator's memory
        // per (node, member) pair is made of such entries (BENCHMARKS.md).
        assert_eq!(std::mem::size_of::<Placing>(), 24);
        assert_eq!(std::mem::size_of::<CandidateKey>(), 32);
    }

    #[test]
    fn the_most_senior_candidate_is_primary() {
        let view = [alive("a", 0, 3), alive("b", 0, 1), alive("c", 0, 2)];
        assert_eq!(primary(&view).as_deref(), Some("b"));
    }

    #[test]
    fn priority_outranks_seniority() {
        let view = [alive("a", 0, 1), alive("b", 5, 9), alive("c", 5, 10)];
        assert_eq!(primary(&view).as_deref(), Some("b"));
    }

    #[test]
    fn name_breaks_a_seniority_tie() {
        let view = [alive("b", 0, 1), alive("a", 0, 1), alive("c", 0, 2)];
        assert_eq!(primary(&view).as_deref(), Some("a"));
    }

    #[test]
    fn the_latest_claim_breaks_a_seniority_tie_before_the_name() {
        // Two sides of a partition handed out seniority 9 each; "b" claimed
        // under term 8 on the majority side, "a" never claimed.
        let mut claimed = alive("b", 0, 9);
        if let Some(record) = claimed.record.as_mut() {
            record.term = 8;
        }
        let view = [alive("a", 0, 9), claimed, alive("c", 0, 10)];
        assert_eq!(primary(&view).as_deref(), Some("b"));
        // Seniority still comes first.
        let view = [view[0].clone(), view[1].clone(), alive("d", 0, 3)];
        assert_eq!(primary(&view).as_deref(), Some("d"));
    }

    #[test]
    fn failing_draining_leaving_ineligible_and_unranked_members_are_never_elected() {
        let mut failing = record("a", 9, Some(1));
        failing.status = HealthStatus::Failing;
        let mut draining = record("b", 9, Some(1));
        draining.draining = true;
        let mut leaving = record("c", 9, Some(1));
        leaving.leaving = true;
        let mut ineligible = record("d", 9, Some(1));
        ineligible.eligible = false;
        let unranked = record("e", 9, None);
        let view = [
            member("a", MemberState::Alive, Some(failing)),
            member("b", MemberState::Alive, Some(draining)),
            member("c", MemberState::Alive, Some(leaving)),
            member("d", MemberState::Alive, Some(ineligible)),
            member("e", MemberState::Alive, Some(unranked)),
            member("f", MemberState::Alive, None),
            alive("z", 0, 50),
        ];
        assert_eq!(primary(&view).as_deref(), Some("z"));
    }

    #[test]
    fn warning_members_still_serve_and_may_be_elected() {
        let mut warning = record("a", 0, Some(1));
        warning.status = HealthStatus::Warning;
        let view = [
            member("a", MemberState::Alive, Some(warning)),
            alive("b", 0, 2),
        ];
        assert_eq!(primary(&view).as_deref(), Some("a"));
    }

    #[test]
    fn suspects_stay_candidates_but_down_and_left_members_do_not() {
        let view = [
            member("a", MemberState::Down, Some(record("a", 0, Some(1)))),
            member("b", MemberState::Left, Some(record("b", 0, Some(2)))),
            member("c", MemberState::Suspect, Some(record("c", 0, Some(3)))),
            alive("d", 0, 4),
            alive("e", 0, 5),
        ];
        // Expected size 4 (b left), live 3: a majority.
        assert_eq!(primary(&view).as_deref(), Some("c"));
    }

    #[test]
    fn a_minority_view_elects_nobody() {
        let view = [
            alive("a", 0, 1),
            alive("b", 0, 2),
            member("c", MemberState::Down, Some(record("c", 0, Some(3)))),
            member("d", MemberState::Down, Some(record("d", 0, Some(4)))),
            member("e", MemberState::Down, Some(record("e", 0, Some(5)))),
        ];
        let election = elect(&view, &ElectionRules::default());
        assert_eq!(election.primary, None);
        assert!(!election.quorate);
        assert_eq!((election.live, election.expected), (2, 5));

        let off = ElectionRules {
            quorum: QuorumPolicy::Off,
            expected_members: None,
        };
        assert_eq!(elect(&view, &off).primary.as_deref(), Some("a"));
    }

    #[test]
    fn half_is_not_a_majority() {
        let view = [
            alive("a", 0, 1),
            member("b", MemberState::Down, Some(record("b", 0, Some(2)))),
        ];
        assert_eq!(primary(&view), None);
    }

    #[test]
    fn suspects_keep_the_quorum_but_not_the_claim() {
        let view = [
            alive("a", 0, 1),
            member("b", MemberState::Suspect, Some(record("b", 0, Some(2)))),
            member("c", MemberState::Suspect, Some(record("c", 0, Some(3)))),
        ];
        let election = elect(&view, &ElectionRules::default());
        assert_eq!(election.primary.as_deref(), Some("a"));
        assert!(election.quorate);
        assert!(!election.claim_quorate);
    }

    #[test]
    fn newcomers_cannot_make_a_minority_a_majority() {
        // One member of three left on its side of a partition, and four
        // newcomers that joined it: they count for no majority until
        // admitted, so the side stays a minority.
        let mut view = vec![
            alive("a", 0, 1),
            member("b", MemberState::Down, Some(record("b", 0, Some(2)))),
            member("c", MemberState::Down, Some(record("c", 0, Some(3)))),
        ];
        for name in ["d", "e", "f", "g"] {
            let mut newcomer = record(name, 0, None);
            newcomer.admitted = false;
            view.push(member(name, MemberState::Alive, Some(newcomer)));
        }
        let election = elect(&view, &ElectionRules::default());
        assert_eq!((election.live, election.expected), (1, 3));
        assert!(!election.quorate);
        // Nor does a member whose record has not arrived.
        view.truncate(3);
        view[1].state = MemberState::Alive;
        view.push(member("h", MemberState::Alive, None));
        let election = elect(&view, &ElectionRules::default());
        assert_eq!((election.live, election.expected), (2, 3));
        assert!(election.quorate);
    }

    #[test]
    fn expected_members_overrides_the_counted_size() {
        let view = [alive("a", 0, 1), alive("b", 0, 2)];
        let rules = ElectionRules {
            quorum: QuorumPolicy::Majority,
            expected_members: Some(5),
        };
        assert_eq!(elect(&view, &rules).primary, None);
    }

    fn arb_member() -> impl Strategy<Value = MemberView> {
        (
            0..6u8,
            prop_oneof![
                Just(MemberState::Alive),
                Just(MemberState::Suspect),
                Just(MemberState::Down),
                Just(MemberState::Left)
            ],
            proptest::option::of((
                -1..2i32,
                proptest::option::of(0..5u64),
                any::<bool>(),
                any::<bool>(),
                0..3u8,
                any::<bool>(),
            )),
        )
            .prop_map(|(n, state, record)| {
                let name = format!("n{n}");
                let record = record.map(
                    |(priority, seniority, draining, eligible, status, admitted)| {
                        let mut r = HealthRecord::new(name.as_str().into(), 1, priority, eligible);
                        r.seniority = seniority;
                        r.draining = draining;
                        r.admitted = admitted;
                        r.status = [
                            HealthStatus::Passing,
                            HealthStatus::Warning,
                            HealthStatus::Failing,
                        ][usize::from(status)];
                        r
                    },
                );
                member(&name, state, record)
            })
    }

    fn arb_view() -> impl Strategy<Value = Vec<MemberView>> {
        proptest::collection::vec(arb_member(), 0..12).prop_map(|mut members| {
            // One entry per name, as in a real view.
            members.sort_by(|a, b| a.name.cmp(&b.name));
            members.dedup_by(|a, b| a.name == b.name);
            members
        })
    }

    fn arb_rules() -> impl Strategy<Value = ElectionRules> {
        (any::<bool>(), proptest::option::of(1..10usize)).prop_map(|(off, expected_members)| {
            ElectionRules {
                quorum: if off {
                    QuorumPolicy::Off
                } else {
                    QuorumPolicy::Majority
                },
                expected_members,
            }
        })
    }

    proptest! {
        #[test]
        fn the_same_view_in_any_order_elects_the_same_node(
            view in arb_view(),
            rules in arb_rules(),
            seed in any::<u64>(),
        ) {
            let mut shuffled = view.clone();
            // A deterministic shuffle driven by the generated seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(elect(&view, &rules), elect(&shuffled, &rules));
        }

        #[test]
        fn the_primary_is_a_serving_eligible_live_member_that_outranks_every_other_candidate(
            view in arb_view(),
            rules in arb_rules(),
        ) {
            let election = elect(&view, &rules);
            if let Some(name) = &election.primary {
                prop_assert!(election.quorate);
                let winner = view.iter().find(|m| &m.name == name).unwrap();
                let record = winner.record.as_ref().unwrap();
                prop_assert!(winner.state.is_live());
                prop_assert!(record.serves() && record.eligible);
                for other in &view {
                    if let Some(key) = CandidateKey::of(&other.name, other.state, other.record.as_ref()) {
                        let theirs = other.record.as_ref().unwrap();
                        prop_assert!(
                            record.priority > theirs.priority
                                || (record.priority == theirs.priority
                                    && (record.seniority, name) <= (theirs.seniority, key.name()))
                        );
                    }
                }
            } else {
                prop_assert!(
                    !election.quorate
                        || view.iter().all(|m| CandidateKey::of(&m.name, m.state, m.record.as_ref()).is_none())
                );
            }
        }

        #[test]
        fn the_roster_agrees_with_elect_after_any_sequence_of_changes(
            steps in proptest::collection::vec((arb_member(), any::<bool>()), 0..40),
            rules in arb_rules(),
        ) {
            let mut roster = Roster::new(rules);
            let mut view: std::collections::BTreeMap<Arc<str>, MemberView> =
                std::collections::BTreeMap::new();
            let mut placings: std::collections::BTreeMap<Arc<str>, Placing> =
                std::collections::BTreeMap::new();
            for (member, remove) in steps {
                if remove {
                    if let Some(old) = placings.remove(&member.name) {
                        roster.unplace(old, &member.name);
                    }
                    view.remove(&member.name);
                } else {
                    let old = placings.get(&member.name).copied();
                    let placing =
                        roster.place(old, &member.name, member.state, member.record.as_ref());
                    placings.insert(member.name.clone(), placing);
                    view.insert(member.name.clone(), member);
                }
                let whole: Vec<_> = view.values().cloned().collect();
                prop_assert_eq!(roster.elect(), elect(&whole, &rules));
                prop_assert_eq!(roster.len(), whole.len());
            }
        }
    }
}
