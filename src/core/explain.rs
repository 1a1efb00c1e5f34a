//! Why a view names the primary it names, or none: the election rule of
//! [`super::view`] applied to a snapshot step by step, for `/v1/explain`
//! and `herd explain`.
//!
//! At 3 a.m. the question is never "who is primary" (every tool says) but
//! "why that one, and why not the one I expected". The answer is worked
//! from the same snapshot the HTTP routes show, with the same candidate
//! order ([`CandidateKey`]) the election uses, and it says so when the two
//! disagree (a record that changed since the election ran), rather than
//! invent a reason.

use std::sync::Arc;

use serde::Serialize;

use super::api::{MemberInfo, Snapshot};
use super::view::CandidateKey;

/// The election in one view, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The primary this view names.
    pub primary: Option<Arc<str>>,
    /// Whether this node claims the role (answers 200 on `/health/primary`).
    pub claiming: bool,
    /// The quorum arithmetic.
    pub quorum: QuorumExplained,
    /// The candidates, the winner first, each with why it ranks there.
    pub candidates: Vec<Ranked>,
    /// The members that are not candidates, each with why not.
    pub excluded: Vec<Excluded>,
    /// The lease this node holds or seeks, if any.
    pub lease: Option<LeaseExplained>,
    /// The rule over this snapshot picks the primary the view names. False
    /// only for the moment between a record changing and the next election.
    pub consistent: bool,
    /// The whole answer in a sentence.
    pub summary: String,
}

/// The quorum arithmetic of a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumExplained {
    /// Members alive or suspect, among those counted (admitted).
    pub live: usize,
    /// Members alive.
    pub alive: usize,
    /// The size the quorum is measured against.
    pub expected: usize,
    /// Live members needed to elect: more than half of `expected`.
    pub needed: usize,
    /// The view may elect.
    pub quorate: bool,
}

/// One candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    /// Its place, from 1.
    pub rank: usize,
    /// Its name.
    pub name: Arc<str>,
    /// Its priority (higher ranks first).
    pub priority: i32,
    /// Its seniority (lower ranks first, among equal priorities).
    pub seniority: u64,
    /// Why it ranks where it does, against the one above it.
    pub why: String,
}

/// A member that is not a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excluded {
    /// Its name.
    pub name: Arc<str>,
    /// Why it is not a candidate.
    pub why: String,
}

/// The lease, as this node holds or seeks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseExplained {
    /// The witnesses it pings.
    pub witnesses: Vec<Arc<str>>,
}

/// Why `member` is not a candidate, in the order the election's rule
/// (`CandidateKey::of`) tests it; `None`: it is one.
fn exclusion(member: &MemberInfo) -> Option<String> {
    if !member.state.is_live() {
        return Some(format!("it is {}", member.state));
    }
    let Some(health) = member.health else {
        return Some("its health record has not arrived in this view yet".into());
    };
    if !health.serves() {
        return Some(format!("its checks are {health}"));
    }
    if member.draining {
        return Some("it is draining (herd drain, or stopping)".into());
    }
    if !member.eligible {
        return Some("primary_eligible = false".into());
    }
    if member.seniority.is_none() {
        return Some(
            "it holds no seniority yet (a newcomer gets one once a majority has admitted it)"
                .into(),
        );
    }
    None
}

/// Why `this` ranks right after `above`, given the terms of their records.
fn why_after(above: &Ranked, this: &Ranked, above_term: u64, this_term: u64) -> String {
    if above.priority != this.priority {
        format!(
            "lower priority than {} ({} < {})",
            above.name, this.priority, above.priority
        )
    } else if above.seniority != this.seniority {
        format!(
            "same priority as {}, joined later (seniority {} > {})",
            above.name, this.seniority, above.seniority
        )
    } else if above_term != this_term {
        format!(
            "same priority and seniority as {}, which claimed more recently (term {} > {})",
            above.name, above_term, this_term
        )
    } else {
        format!(
            "same priority and seniority as {}; the name orders them",
            above.name
        )
    }
}

/// Explains the election in `snapshot`.
pub fn explain(snapshot: &Snapshot) -> Explanation {
    let mut candidates: Vec<(CandidateKey, &MemberInfo)> = Vec::new();
    let mut excluded = Vec::new();
    for member in &snapshot.members {
        match (exclusion(member), member.seniority) {
            (None, Some(seniority)) => candidates.push((
                CandidateKey::new(member.priority, seniority, member.term, member.name.clone()),
                member,
            )),
            (why, _) => excluded.push(Excluded {
                name: member.name.clone(),
                why: why.unwrap_or_default(),
            }),
        }
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let mut ranked: Vec<Ranked> = Vec::with_capacity(candidates.len());
    for (index, (_, member)) in candidates.iter().enumerate() {
        let mut entry = Ranked {
            rank: index + 1,
            name: member.name.clone(),
            priority: member.priority,
            seniority: member.seniority.unwrap_or_default(),
            why: String::new(),
        };
        entry.why = match ranked.last() {
            None => "first: the highest priority, then the lowest seniority".into(),
            Some(above) => why_after(above, &entry, candidates[index - 1].1.term, member.term),
        };
        ranked.push(entry);
    }
    let quorum = QuorumExplained {
        live: snapshot.live,
        alive: snapshot.alive,
        expected: snapshot.expected,
        needed: snapshot.expected / 2 + 1,
        quorate: snapshot.quorate,
    };
    let by_rule = ranked
        .first()
        .filter(|_| snapshot.quorate)
        .map(|winner| winner.name.clone());
    let consistent = by_rule == snapshot.primary;
    let summary = match (&snapshot.primary, snapshot.quorate) {
        (_, false) => format!(
            "no primary: this view sees {} of {} members live and needs {} to elect \
             (a minority never serves a primary)",
            quorum.live, quorum.expected, quorum.needed
        ),
        (None, true) if ranked.is_empty() => {
            "no primary: no member is a candidate (see excluded)".to_owned()
        }
        (None, true) => "no primary named yet".to_owned(),
        (Some(primary), true) => {
            let claim = if snapshot.claiming {
                "; this node is it and claims the role"
            } else if &snapshot.name == primary {
                "; this node is it but does not claim yet (it confirms with a majority first)"
            } else {
                ""
            };
            format!(
                "{primary} is primary: the first of {} candidate(s) by priority then \
                 seniority, with {} of {} members live{claim}",
                ranked.len(),
                quorum.live,
                quorum.expected
            )
        }
    };
    let lease = (!snapshot.lease_witnesses.is_empty()).then(|| LeaseExplained {
        witnesses: snapshot.lease_witnesses.clone(),
    });
    Explanation {
        primary: snapshot.primary.clone(),
        claiming: snapshot.claiming,
        quorum,
        candidates: ranked,
        excluded,
        lease,
        consistent,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::health::HealthStatus;
    use crate::core::view::MemberState;

    fn member(name: &str, priority: i32, seniority: Option<u64>) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            state: MemberState::Alive,
            health: Some(HealthStatus::Passing),
            draining: false,
            priority,
            seniority,
            eligible: true,
            is_primary: false,
            incarnation: 1,
            local: false,
            term: 0,
            admitted: true,
            checks: Vec::new(),
        }
    }

    #[test]
    fn candidates_rank_by_priority_then_seniority_and_others_say_why_not() {
        let mut snapshot = Snapshot {
            name: "b".into(),
            addr: "127.0.0.1:2".parse().unwrap(),
            cluster: "herd".into(),
            incarnation: 1,
            phase: crate::core::Phase::Joined,
            health: HealthStatus::Passing,
            draining: false,
            seniority: Some(2),
            priority: 0,
            primary: None,
            primary_term: None,
            highest_term: 0,
            claim_until: None,
            lease_witnesses: Vec::new(),
            claiming: false,
            quorate: false,
            live: 0,
            alive: 0,
            expected: 0,
            members: Vec::new(),
            stats: crate::core::NodeStats::default(),
        };
        let mut drained = member("d", 9, Some(1));
        drained.draining = true;
        let mut down = member("x", 9, Some(2));
        down.state = MemberState::Down;
        snapshot.members = vec![
            member("c", 0, Some(3)),
            member("b", 0, Some(2)),
            member("a", 5, Some(9)),
            drained,
            down,
            member("new", 0, None),
        ];
        snapshot.primary = Some("a".into());
        snapshot.quorate = true;
        snapshot.live = 5;
        snapshot.expected = 6;
        let explained = explain(&snapshot);
        let order: Vec<&str> = explained.candidates.iter().map(|r| &*r.name).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert!(
            explained.candidates[1]
                .why
                .contains("lower priority than a")
        );
        assert!(explained.candidates[2].why.contains("joined later"));
        assert!(explained.consistent);
        // Equal seniorities (two sides of a partition each gave one out):
        // the latest claim first, then the name.
        let mut claimed = member("z", 0, Some(3));
        claimed.term = 7;
        snapshot.members.push(claimed);
        let ranks = explain(&snapshot);
        let order: Vec<&str> = ranks.candidates.iter().map(|r| &*r.name).collect();
        assert_eq!(order, ["a", "b", "z", "c"]);
        assert!(
            ranks.candidates[3]
                .why
                .contains("claimed more recently (term 7 > 0)")
        );
        snapshot.members.pop();
        let why = |name: &str| {
            explained
                .excluded
                .iter()
                .find(|e| &*e.name == name)
                .map(|e| e.why.clone())
                .unwrap_or_default()
        };
        assert!(why("d").contains("draining"));
        assert!(why("x").contains("down"));
        assert!(why("new").contains("seniority"));
        assert_eq!(explained.quorum.needed, 4);

        snapshot.quorate = false;
        snapshot.primary = None;
        let explained = explain(&snapshot);
        assert!(
            explained.summary.contains("needs 4 to elect"),
            "{}",
            explained.summary
        );
        assert!(explained.consistent);
    }
}
