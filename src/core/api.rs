//! What a driver sees of a node: the inputs it gives ([`Start`],
//! [`Command`]) and the outputs it takes ([`Transmit`], [`Event`],
//! [`Snapshot`]). A leaf module, so the node's parts and the drivers can
//! all name these types without importing the node itself.

use std::net::SocketAddr;
use std::sync::Arc;

use super::codec::{DropReason, Refusal};
use super::health::{CheckSummary, HealthStatus};
use super::timer::Time;
use super::view::MemberState;

/// Where this node is in its life in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Started with seeds, not yet joined through one of them: no
    /// candidate, `/health` answers 503.
    Joining,
    /// A member of the cluster.
    Joined,
    /// Left gracefully; the process is about to exit.
    Left,
}

/// How a node starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Found a new cluster: no seeds to wait for.
    Bootstrap,
    /// Join an existing cluster through these seeds (more may come with
    /// [`Command::Seeds`]).
    Join(Vec<SocketAddr>),
}

/// What an operator or the driver asks of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Replace the seed list (the agent resolves host names again on every
    /// attempt).
    Seeds(Vec<SocketAddr>),
    /// Set the result of the local checks: their aggregate and each one.
    SetHealth {
        /// The aggregate.
        status: HealthStatus,
        /// Each check.
        checks: Vec<CheckSummary>,
    },
    /// Take the node out of service: `/health` 503, the role hands over.
    Drain,
    /// Put a drained node back into service.
    Resume,
    /// Leave the cluster gracefully.
    Leave,
    /// Mark a member that is down as left for good (Serf's force-leave), so
    /// it no longer counts towards the quorum.
    Forget(String),
    /// Set whether this node may be primary (its record's `eligible`): the
    /// agent clears it while it cannot persist a term, so the role hands
    /// over, and restores `primary_eligible` when it can again.
    SetEligible(bool),
    /// Replace the keyring while the node runs: the steps of a key rotation
    /// and of turning encryption on (see [`crate::core::Keyring`]). The
    /// nonce generator carries on; a keyring without keys gossips in
    /// plaintext.
    SetKeyring(crate::core::Keyring),
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No member has that name.
    #[error("no member is named {0:?}")]
    UnknownMember(String),
    /// The member is alive or suspect: stop it first, or wait until the
    /// cluster declares it down.
    #[error("{0} is {1}; only a member that is down or suspect can be forgotten (stop it first)")]
    MemberLive(String, MemberState),
    /// This node itself cannot be forgotten.
    #[error("a node cannot forget itself; stop it with SIGTERM to leave")]
    ForgetSelf,
    /// The node is leaving the cluster.
    #[error("this node is leaving the cluster")]
    Leaving,
    /// The keyring's settings do not fit together.
    #[error(transparent)]
    Keyring(#[from] crate::core::KeyringError),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: SocketAddr,
    /// The whole datagram, envelope included.
    pub payload: Vec<u8>,
}

/// Something the driver may want to log, count or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This node became a member: through the seed `via`, or by founding
    /// the cluster (`None`).
    Joined {
        /// The seed that answered.
        via: Option<SocketAddr>,
    },
    /// A seed refused this node.
    JoinRefused {
        /// The seed.
        seed: SocketAddr,
        /// Why.
        reason: Refusal,
    },
    /// The cluster declared this node down and it came back as a new life.
    Rejoined {
        /// The new identity incarnation.
        incarnation: u64,
        /// Whether the seniority was given up (the declaration came from a
        /// member that saw a quorum, so the cluster has moved on).
        lost_seniority: bool,
    },
    /// This node left the cluster.
    Left,
    /// A member changed state in this view.
    MemberState {
        /// The member.
        name: Arc<str>,
        /// The identity incarnation (life) of the member the change is about.
        incarnation: u64,
        /// Its state before (`None`: first seen).
        previous: Option<MemberState>,
        /// Its state now.
        current: MemberState,
    },
    /// A member was forgotten (reaped after `reap_after`).
    MemberReaped {
        /// The member.
        name: Arc<str>,
    },
    /// A member's gossiped health changed.
    MemberHealth {
        /// The member.
        name: Arc<str>,
        /// Its new status.
        status: HealthStatus,
    },
    /// This view names another primary.
    PrimaryChanged {
        /// Before.
        previous: Option<Arc<str>>,
        /// Now.
        current: Option<Arc<str>>,
    },
    /// This node started (`true`) or stopped claiming the primary role.
    RoleChanged {
        /// Whether it claims now.
        claiming: bool,
        /// The term of the claim that started or ended.
        term: u64,
    },
}

/// Counters the driver exports as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams handed to `handle_packet`.
    pub packets_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Datagrams produced.
    pub packets_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Dropped datagrams, by reason (order of [`DropReason::ALL`]).
    pub dropped: [u64; DropReason::ALL.len()],
    /// Health records in gossip that did not decode.
    pub records_rejected: u64,
    /// Join requests this node answered with its state.
    pub joins_served: u64,
    /// Join requests this node refused.
    pub joins_refused: u64,
    /// Members refused because the view holds `max_members` already:
    /// gossiped updates and records about them, their datagrams, their
    /// joins and their entries in state syncs.
    pub members_refused: u64,
    /// Times the cluster declared this node down and it rejoined.
    pub rejoins: u64,
    /// foca timers that failed, such as a probe cycle cut short by another
    /// (none in a healthy node: see `Node::rejoined`).
    pub timer_errors: u64,
    /// SWIM messages sent, by kind (order of [`MessageKind::ALL`]).
    pub messages_sent: [u64; MessageKind::ALL.len()],
    /// SWIM messages received and read, by kind.
    pub messages_received: [u64; MessageKind::ALL.len()],
    /// Direct probes of this node that got no answer in time (the member
    /// is then probed indirectly, and suspected if that fails too).
    pub probes_failed: u64,
    /// Times this node refuted a suspicion of itself (its SWIM incarnation
    /// went up): other members suspected it, a sign it is slow or its
    /// network loses datagrams.
    pub refutations: u64,
    /// Membership updates and records waiting to be gossiped, as of now.
    pub gossip_backlog: u64,
    /// Bytes of membership state sent to joiners and in syncs.
    pub state_bytes_served: u64,
    /// Lease renewals this node sent as the holder.
    pub lease_renewals_sent: u64,
    /// Renewals this node answered as a witness.
    pub lease_renewals_witnessed: u64,
    /// Times this node's lease ran out while it claimed the role (no
    /// witness answered in time: it stopped answering 200 on its own).
    pub lease_lapses: u64,
}

/// The kinds of SWIM message foca exchanges, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A direct probe.
    Ping,
    /// Its answer.
    Ack,
    /// A request to probe a member for us.
    PingReq,
    /// The probe sent on another's behalf.
    IndirectPing,
    /// Its answer.
    IndirectAck,
    /// A forwarded answer.
    ForwardedAck,
    /// A join announcement.
    Announce,
    /// The answer to an announcement: members to know.
    Feed,
    /// Updates only.
    Gossip,
    /// Records only.
    Broadcast,
    /// A request to revive a member declared down.
    TurnUndead,
}

impl MessageKind {
    /// Every kind, in the order of the counters.
    pub const ALL: [Self; 11] = [
        Self::Ping,
        Self::Ack,
        Self::PingReq,
        Self::IndirectPing,
        Self::IndirectAck,
        Self::ForwardedAck,
        Self::Announce,
        Self::Feed,
        Self::Gossip,
        Self::Broadcast,
        Self::TurnUndead,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Ack => "ack",
            Self::PingReq => "ping_req",
            Self::IndirectPing => "indirect_ping",
            Self::IndirectAck => "indirect_ack",
            Self::ForwardedAck => "forwarded_ack",
            Self::Announce => "announce",
            Self::Feed => "feed",
            Self::Gossip => "gossip",
            Self::Broadcast => "broadcast",
            Self::TurnUndead => "turn_undead",
        }
    }

    pub(crate) fn of<T>(message: &foca::Message<T>) -> Self {
        match message {
            foca::Message::Ping(_) => Self::Ping,
            foca::Message::Ack(_) => Self::Ack,
            foca::Message::PingReq { .. } => Self::PingReq,
            foca::Message::IndirectPing { .. } => Self::IndirectPing,
            foca::Message::IndirectAck { .. } => Self::IndirectAck,
            foca::Message::ForwardedAck { .. } => Self::ForwardedAck,
            foca::Message::Announce => Self::Announce,
            foca::Message::Feed => Self::Feed,
            foca::Message::Gossip => Self::Gossip,
            foca::Message::Broadcast => Self::Broadcast,
            foca::Message::TurnUndead => Self::TurnUndead,
        }
    }
}

impl NodeStats {
    /// Dropped datagrams for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// Dropped datagrams, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// One member as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Name.
    pub name: Arc<str>,
    /// Gossip address.
    pub addr: SocketAddr,
    /// State in this view.
    pub state: MemberState,
    /// Gossiped health (`None`: no record received yet).
    pub health: Option<HealthStatus>,
    /// Being drained.
    pub draining: bool,
    /// Priority.
    pub priority: i32,
    /// Seniority this view honours.
    pub seniority: Option<u64>,
    /// `primary_eligible`.
    pub eligible: bool,
    /// This view names it primary.
    pub is_primary: bool,
    /// Identity incarnation.
    pub incarnation: u64,
    /// It is this node.
    pub local: bool,
    /// The term of its latest claim of the primary role (0: never).
    pub term: u64,
    /// Counted in the quorum (see `HealthRecord::admitted`).
    pub admitted: bool,
    /// Its checks: for this node as of their last run, for others as of
    /// their last change of state.
    pub checks: Vec<CheckSummary>,
}

/// Everything the HTTP side shows, copied out of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// This node's name.
    pub name: Arc<str>,
    /// Its gossip address.
    pub addr: SocketAddr,
    /// The cluster name.
    pub cluster: String,
    /// Its identity incarnation.
    pub incarnation: u64,
    /// Where it is in its life.
    pub phase: Phase,
    /// Its checks' aggregate.
    pub health: HealthStatus,
    /// Being drained.
    pub draining: bool,
    /// Its seniority.
    pub seniority: Option<u64>,
    /// Its priority.
    pub priority: i32,
    /// The primary this view names.
    pub primary: Option<Arc<str>>,
    /// The term the named primary claims under, as gossiped (`None` before
    /// its claim reached this view).
    pub primary_term: Option<u64>,
    /// The highest term this node has seen: a server should refuse work
    /// stamped with a lower one.
    pub highest_term: u64,
    /// This node claims the role.
    pub claiming: bool,
    /// While it claims under a lease: the instant (the node's time) the
    /// claim ends unless a witness renews it. A driver answers from then
    /// on as if the node did not claim, even if the node has not run since
    /// (a starved or frozen process).
    pub claim_until: Option<Time>,
    /// The witnesses it pings while it holds or seeks the lease (empty
    /// otherwise).
    pub lease_witnesses: Vec<Arc<str>>,
    /// The election's quorum figures.
    pub quorate: bool,
    /// Members alive or suspect.
    pub live: usize,
    /// Members alive.
    pub alive: usize,
    /// Expected cluster size.
    pub expected: usize,
    /// Every known member, this node included, by name.
    pub members: Vec<MemberInfo>,
    /// Counters.
    pub stats: NodeStats,
}

impl Snapshot {
    /// Whether the node should get traffic: joined, checks pass, not
    /// draining.
    pub fn serving(&self) -> bool {
        self.phase == Phase::Joined && self.health.serves() && !self.draining
    }
}
