//! The bodies of the JSON API, one type per answer.
//!
//! A module of its own because these are a contract with load balancers,
//! scripts and `herd status`: every key is spelled out here, converted from
//! the core's [`Snapshot`] and [`MemberInfo`] with `From`, so renaming or
//! adding a field in the core cannot change what a client reads.
//! `tests/http_json.rs` pins the bytes of every route.

use std::net::SocketAddr;

use serde::Serialize;

use crate::core::{CheckSummary, MemberInfo, Phase, Snapshot};

/// The role a node answers with: `primary`, `secondary` (serving, not
/// primary) or `none`.
pub(crate) fn role(snapshot: &Snapshot) -> &'static str {
    if snapshot.claiming {
        "primary"
    } else if snapshot.serving() {
        "secondary"
    } else {
        "none"
    }
}

/// The API's name of a phase.
pub(crate) fn phase(phase: Phase) -> &'static str {
    match phase {
        Phase::Joining => "joining",
        Phase::Joined => "joined",
        Phase::Left => "left",
    }
}

/// `/health`, `/readyz`, `/health/primary`, `/health/secondary`.
#[derive(Debug, Serialize)]
pub(crate) struct HealthJson<'a> {
    /// This node.
    pub node: &'a str,
    /// Its cluster.
    pub cluster: &'a str,
    /// Whether it should get traffic (`/health` answers 200).
    pub healthy: bool,
    /// Its checks' aggregate.
    pub health: &'static str,
    /// `joining`, `joined` or `left`.
    pub phase: &'static str,
    /// Being drained.
    pub draining: bool,
    /// See [`role`].
    pub role: &'static str,
    /// The primary this node's view names.
    pub primary: Option<&'a str>,
}

impl<'a> From<&'a Snapshot> for HealthJson<'a> {
    fn from(snapshot: &'a Snapshot) -> Self {
        Self {
            node: &snapshot.name,
            cluster: &snapshot.cluster,
            healthy: snapshot.serving(),
            health: snapshot.health.as_str(),
            phase: phase(snapshot.phase),
            draining: snapshot.draining,
            role: role(snapshot),
            primary: snapshot.primary.as_deref(),
        }
    }
}

/// `/livez`.
#[derive(Debug, Serialize)]
pub(crate) struct LiveJson<'a> {
    /// This node.
    pub node: &'a str,
    /// Always true: the process answers.
    pub live: bool,
}

impl<'a> From<&'a Snapshot> for LiveJson<'a> {
    fn from(snapshot: &'a Snapshot) -> Self {
        Self {
            node: &snapshot.name,
            live: true,
        }
    }
}

/// `/v1/members`.
#[derive(Debug, Serialize)]
pub(crate) struct MembersJson<'a> {
    /// This node.
    pub node: &'a str,
    /// Its cluster.
    pub cluster: &'a str,
    /// Every member this node knows, itself included, by name.
    pub members: Vec<MemberJson<'a>>,
}

impl<'a> From<&'a Snapshot> for MembersJson<'a> {
    fn from(snapshot: &'a Snapshot) -> Self {
        Self {
            node: &snapshot.name,
            cluster: &snapshot.cluster,
            members: snapshot.members.iter().map(MemberJson::from).collect(),
        }
    }
}

/// One member in `/v1/members`.
#[derive(Debug, Serialize)]
pub(crate) struct MemberJson<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its gossip address.
    pub addr: SocketAddr,
    /// `alive`, `suspect`, `down` or `left`, in this node's view.
    pub state: &'static str,
    /// Its gossiped health; `null` before its record arrived.
    pub health: Option<&'static str>,
    /// Being drained.
    pub draining: bool,
    /// Its priority.
    pub priority: i32,
    /// The seniority this view honours.
    pub seniority: Option<u64>,
    /// Its `primary_eligible`.
    pub eligible: bool,
    /// This view names it primary.
    pub primary: bool,
    /// Its identity incarnation.
    pub incarnation: u64,
    /// It is this node.
    pub local: bool,
    /// The term of its latest claim of the primary role (0: never).
    pub term: u64,
    /// Counted in the quorum.
    pub admitted: bool,
    /// Its checks.
    pub checks: Vec<CheckJson<'a>>,
}

impl<'a> From<&'a MemberInfo> for MemberJson<'a> {
    fn from(member: &'a MemberInfo) -> Self {
        Self {
            name: &member.name,
            addr: member.addr,
            state: member.state.as_str(),
            health: member.health.map(|health| health.as_str()),
            draining: member.draining,
            priority: member.priority,
            seniority: member.seniority,
            eligible: member.eligible,
            primary: member.is_primary,
            incarnation: member.incarnation,
            local: member.local,
            term: member.term,
            admitted: member.admitted,
            checks: member.checks.iter().map(CheckJson::from).collect(),
        }
    }
}

/// One check of a member.
#[derive(Debug, Serialize)]
pub(crate) struct CheckJson<'a> {
    /// Its name.
    pub name: &'a str,
    /// `starting`, `passing`, `warning` or `failing`.
    pub status: &'static str,
    /// Its output when its state last changed.
    pub output: &'a str,
}

impl<'a> From<&'a CheckSummary> for CheckJson<'a> {
    fn from(check: &'a CheckSummary) -> Self {
        Self {
            name: &check.name,
            status: check.status.as_str(),
            output: &check.output,
        }
    }
}

/// `/v1/primary`.
#[derive(Debug, Serialize)]
pub(crate) struct PrimaryJson<'a> {
    /// The primary this node's view names.
    pub primary: Option<&'a str>,
    /// The term the primary claims under (fencing: refuse lower terms).
    pub term: Option<u64>,
    /// The highest term this node has seen.
    pub max_term: u64,
    /// This node.
    pub node: &'a str,
    /// This node claims the primary role.
    pub is_primary: bool,
    /// It claims under a lease its witnesses renew (`[gossip] lease`).
    pub lease: bool,
    /// The witnesses it pings while it holds or seeks the lease.
    pub witnesses: Vec<&'a str>,
    /// This node's view holds a quorum.
    pub quorum: bool,
    /// Members alive or suspect.
    pub live: usize,
    /// Members alive.
    pub alive: usize,
    /// The cluster size the quorum is measured against.
    pub expected: usize,
}

impl<'a> From<&'a Snapshot> for PrimaryJson<'a> {
    fn from(snapshot: &'a Snapshot) -> Self {
        Self {
            primary: snapshot.primary.as_deref(),
            term: snapshot.primary_term,
            max_term: snapshot.highest_term,
            node: &snapshot.name,
            is_primary: snapshot.claiming,
            lease: snapshot.claiming && snapshot.claim_until.is_some(),
            witnesses: snapshot.lease_witnesses.iter().map(|w| &**w).collect(),
            quorum: snapshot.quorate,
            live: snapshot.live,
            alive: snapshot.alive,
            expected: snapshot.expected,
        }
    }
}

/// What `POST /v1/drain`, `/v1/resume` and `/v1/forget/{name}` answer
/// when the node did it.
#[derive(Debug, Serialize)]
pub(crate) struct DoneJson<'a> {
    /// Always true.
    pub ok: bool,
    /// This node.
    pub node: &'a str,
    /// `drain`, `resume` or `forget`.
    pub action: &'a str,
}

/// Every refusal and error: 403, 404, 409, 503.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorJson<'a> {
    /// What went wrong, for a person.
    pub error: &'a str,
}

/// `/v1/events`.
#[derive(Debug, Serialize)]
pub(crate) struct EventsJson<'a> {
    /// This node.
    pub node: &'a str,
    /// Its recent events, oldest first (at most [`super::events::KEPT`]).
    pub events: Vec<super::events::EventJson>,
}

/// `/v1/explain`.
#[derive(Debug, Serialize)]
pub(crate) struct ExplainJson<'a> {
    /// This node.
    pub node: &'a str,
    /// The election in its view, explained.
    #[serde(flatten)]
    pub explanation: crate::core::Explanation,
    /// The latest change of the primary or of this node's role, and the
    /// membership and health changes just before it (its likely cause).
    pub last_change: Option<LastChange>,
}

/// A role or primary change and what preceded it.
#[derive(Debug, Serialize)]
pub(crate) struct LastChange {
    /// The change.
    pub event: super::events::EventJson,
    /// Member and health events in the few seconds before it.
    pub preceded_by: Vec<super::events::EventJson>,
    /// The primary before the latest change of primary, and why it is not
    /// the primary now (it is no longer a candidate, or ranks behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_primary: Option<PreviousPrimary>,
}

/// The primary before the latest change, and why it is not primary now.
#[derive(Debug, Serialize)]
pub(crate) struct PreviousPrimary {
    /// Its name.
    pub name: String,
    /// Why it is not the primary now.
    pub why: String,
}
