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
        }
    }

    /// Orders two records of the same member by freshness.
    pub fn freshness(&self) -> (u64, u64) {
        (self.incarnation, self.version)
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
