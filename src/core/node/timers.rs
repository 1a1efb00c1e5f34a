//! What the node wakes itself for: every timer it sets, foca's among
//! them, in one queue the driver serves through `handle_timeout`.

use super::*;

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
    /// This life's view is old enough to back claims: answer the quorum
    /// checks it deferred until then.
    OldEnoughToBack,
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
    /// A newer term was heard a few probe periods ago: sync if the view
    /// still names no primary of that term (see [`Node::term_check`]).
    TermCheck,
    /// Renew the lease (see `lease`).
    LeaseTick,
    /// The lease held until now, unless renewed since.
    LeaseLapse,
    /// A holder this node witnesses may have gone silent.
    LeaseSilence(MemberKey),
    /// A question to the other witnesses is due (the holder, the round).
    LeaseQueryDue(MemberKey, u64),
    /// Declare a holder whose lease is over down, once a roll call allows,
    /// until the instant given.
    LeaseTakeover(NodeId, Time),
}
