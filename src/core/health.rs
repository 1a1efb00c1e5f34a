//! What each member says about itself: the health record it gossips.
//!
//! foca only knows whether a member answers probes. Whether its server works,
//! whether an operator is draining it, and where it stands in the line for
//! the primary role travel in this record, as a foca custom broadcast. Every
//! change bumps `version`; a record from a later life of the member (higher
//! identity incarnation) or with a higher version replaces an older one.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The aggregate result of a member's local checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Every check passes (or there are none).
    Passing,
    /// A check warns (exit code 1 of an exec check); the node still serves.
    Warning,
    /// A check fails: the node must not get traffic.
    Failing,
}

impl HealthStatus {
    /// Whether a member in this state should get traffic and may be primary.
    pub fn serves(self) -> bool {
        matches!(self, Self::Passing | Self::Warning)
    }

    /// Lowercase name, as in the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Failing => "failing",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most checks a record carries, and most bytes of a check's name and of
/// its output: a record rides in datagrams beside SWIM updates.
pub(crate) const MAX_CHECKS: usize = 8;
/// See [`MAX_CHECKS`].
pub(crate) const MAX_CHECK_NAME: usize = 32;
/// See [`MAX_CHECKS`].
pub(crate) const MAX_CHECK_OUTPUT: usize = 64;

/// Bound on every counter a record carries (2^62): far beyond what a real
/// cluster reaches one increment at a time, far below where `+ 1` wraps.
pub(crate) const COUNTER_LIMIT: u64 = 1 << 62;

/// One check's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Within its start-up grace period and not yet passed `rise` times.
    Starting,
    /// Passed `rise` times in a row (and not failed `fall` times since).
    Passing,
    /// Passing, with a warning (an exec check that exited 1).
    Warning,
    /// Failed `fall` times in a row, or never passed after the grace.
    Failing,
}

impl CheckStatus {
    /// Lowercase name, as in the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Failing => "failing",
        }
    }
}

/// A check as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The check's name.
    pub name: String,
    /// Its state.
    pub status: CheckStatus,
    /// Its output when the state last changed, cut to
    /// `MAX_CHECK_OUTPUT` bytes.
    pub output: String,
}

impl CheckSummary {
    /// A summary with name and output cut to fit a record.
    pub fn new(name: &str, status: CheckStatus, output: &str) -> Self {
        Self {
            name: truncate(name, MAX_CHECK_NAME),
            status,
            output: truncate(output.trim(), MAX_CHECK_OUTPUT),
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The node's health from its checks: failing if any fails or is still
/// starting, warning if any warns, passing otherwise (and with no checks).
pub(crate) fn aggregate(checks: &[CheckSummary]) -> HealthStatus {
    if checks
        .iter()
        .any(|c| matches!(c.status, CheckStatus::Failing | CheckStatus::Starting))
    {
        HealthStatus::Failing
    } else if checks.iter().any(|c| c.status == CheckStatus::Warning) {
        HealthStatus::Warning
    } else {
        HealthStatus::Passing
    }
}

/// A member's gossiped self-description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// The member this record describes.
    pub name: Arc<str>,
    /// The identity incarnation of the life that wrote it.
    pub incarnation: u64,
    /// Bumped on every change within one life.
    pub version: u64,
    /// Aggregate of the member's checks.
    pub status: HealthStatus,
    /// An operator (or shutdown) is taking the member out of service.
    pub draining: bool,
    /// The member is leaving the cluster gracefully: when foca reports it
    /// down, it is `left`, not `down`.
    pub leaving: bool,
    /// `primary_eligible` from the member's configuration.
    pub eligible: bool,
    /// Higher wins the primary role.
    pub priority: i32,
    /// Rank among candidates of equal priority (lower is older and wins);
    /// `None` while the member is no candidate.
    pub seniority: Option<u64>,
    /// The member's checks, as of their last change of state.
    #[serde(deserialize_with = "super::codec::bounded_vec")]
    pub checks: Vec<CheckSummary>,
    /// The term of the member's latest claim of the primary role (0: never
    /// claimed): one more than any term it had seen, so terms grow from one
    /// primary to the next and fence off a deposed one.
    pub term: u64,
    /// Which founding of the cluster the member's rank belongs to: a number
    /// the founder drew, taken over by every node that joins through a state
    /// sync (0: not joined yet). Seniorities of two foundings are not
    /// comparable: when two clusters of one name meet, the one whose claims
    /// reached the higher term keeps its ranks and the other rejoins it.
    pub founding: u64,
    /// The member is part of the cluster the quorum counts: its own view
    /// saw a majority of the members admitted before it live, or it founded
    /// the cluster. A newcomer is counted in no majority until then, so
    /// members that join a side without a majority cannot make it one.
    pub admitted: bool,
}

impl HealthRecord {
    /// The first record of a life: passing, not draining, no seniority yet.
    pub fn new(name: Arc<str>, incarnation: u64, priority: i32, eligible: bool) -> Self {
        Self {
            name,
            incarnation,
            version: 0,
            status: HealthStatus::Passing,
            draining: false,
            leaving: false,
            eligible,
            priority,
            seniority: None,
            checks: Vec::new(),
            term: 0,
            founding: 0,
            admitted: false,
        }
    }

    /// Orders two records of the same member by freshness.
    pub fn freshness(&self) -> (u64, u64) {
        (self.incarnation, self.version)
    }

    /// Whether every counter is below `COUNTER_LIMIT`. A cluster adds one
    /// to a seniority, a term, a life or a version at a time, so a larger
    /// value only comes from a corrupt or forged datagram, and taking it
    /// would make the next `+ 1` overflow.
    pub fn plausible(&self) -> bool {
        [
            self.seniority.unwrap_or(0),
            self.term,
            self.incarnation,
            self.version,
        ]
        .iter()
        .all(|value| *value < COUNTER_LIMIT)
    }

    /// Whether `self` replaces `other` (same member, strictly fresher).
    pub fn is_newer_than(&self, other: &Self) -> bool {
        self.name == other.name && self.freshness().cmp(&other.freshness()) == Ordering::Greater
    }

    /// Whether the member should get traffic by its own account.
    pub fn serves(&self) -> bool {
        self.status.serves() && !self.draining && !self.leaving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_check_decides() {
        let check = |status| CheckSummary::new("c", status, "");
        assert_eq!(aggregate(&[]), HealthStatus::Passing);
        assert_eq!(
            aggregate(&[check(CheckStatus::Passing), check(CheckStatus::Warning)]),
            HealthStatus::Warning
        );
        assert_eq!(
            aggregate(&[check(CheckStatus::Warning), check(CheckStatus::Starting)]),
            HealthStatus::Failing
        );
        assert_eq!(
            aggregate(&[check(CheckStatus::Failing), check(CheckStatus::Passing)]),
            HealthStatus::Failing
        );
    }

    #[test]
    fn names_and_outputs_are_cut_on_character_boundaries() {
        let summary = CheckSummary::new(&"n".repeat(40), CheckStatus::Passing, &"é".repeat(40));
        assert_eq!(summary.name.len(), MAX_CHECK_NAME);
        assert!(summary.output.len() <= MAX_CHECK_OUTPUT);
        assert!(summary.output.chars().all(|c| c == 'é'));
    }
}
