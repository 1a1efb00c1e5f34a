//! The sans-IO core: everything herd decides, with no socket, clock or
//! thread of its own.
//!
//! A [`Node`] is fed packets, timer expiries and commands, each with the
//! current time as a value, and hands back datagrams to send, the next time
//! it must be woken, and events. The agent (`src/agent`) drives one node
//! with a UDP socket and tokio timers; the simulator (`src/sim`) drives
//! thousands with a virtual clock and a simulated network. What the
//! simulator proves about this code therefore holds for the agent.
//!
//! The modules, each the owner of one fact (`ARCHITECTURE.md` has the
//! map): `api` (what a driver gives and takes), `driver` (the order it
//! does so in), `node` (the state machine), `members` (the view of the
//! other members), `member_cap` (the bound on that view), `join` (the joiner's state machine), `view` (member
//! states and the election rule), `health` (the record a member gossips),
//! `records` (that record as a foca broadcast), `identity` (who a member
//! is), `codec` (the wire format, the only user of bincode), `outbox`
//! (foca's runtime), `timer` (the timer queue), `config` (the settings).
//! This module re-exports what a driver needs.

mod api;
pub(crate) mod codec;
pub(crate) mod config;
pub mod driver;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod health;
pub(crate) mod identity;
mod join;
pub(crate) mod keyring;
mod member_cap;
mod members;
mod node;
mod outbox;
pub(crate) mod records;
pub(crate) mod timer;
pub(crate) mod view;

pub use api::{
    Command, CommandError, Event, MemberInfo, MessageKind, NodeStats, Phase, Snapshot, Start,
    Transmit,
};
pub use codec::{DropReason, PROTOCOL_VERSION, Refusal};
pub use config::{ConfigError, GossipTuning, NodeConfig};
pub use driver::{Outputs, Shutdown};
pub use explain::{Explanation, explain};
pub use health::{CheckStatus, CheckSummary, HealthRecord, HealthStatus};
pub use identity::{NameError, NodeId};
pub use keyring::{Key, KeyError, Keyring, KeyringError};
#[doc(hidden)]
pub use members::ViewPool;
pub use node::Node;
pub use timer::Time;
pub(crate) use timer::TimerQueue;
pub use view::{Election, ElectionRules, MemberState, QuorumPolicy};
