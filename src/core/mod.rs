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
//! - [`identity`]: who a member is;
//! - [`codec`]: the wire format, the only place bincode is used;
//! - [`health`]: the record each member gossips about itself;
//! - [`records`]: that record as a foca custom broadcast;
//! - [`view`]: member states and the election rule;
//! - [`join`]: joining through seeds with a full state sync;
//! - [`node`]: the state machine tying them together;
//! - [`timer`]: the timer queue every driver uses;
//! - [`config`]: the protocol's settings and their defaults.

pub mod api;
pub mod codec;
pub mod config;
pub mod driver;
pub mod health;
pub mod identity;
mod join;
mod members;
pub mod node;
mod outbox;
pub(crate) mod records;
pub mod timer;
pub mod view;

pub use api::{
    Command, CommandError, Event, MemberInfo, NodeStats, Phase, Snapshot, Start, Transmit,
};
pub use config::{ConfigError, NodeConfig};
pub use driver::{Outputs, Shutdown};
pub use health::{CheckStatus, CheckSummary, HealthRecord, HealthStatus};
pub use identity::{MemberKey, NodeId};
pub use node::Node;
pub use timer::{Time, TimerQueue};
pub use view::{Election, ElectionRules, MemberState, MemberView, QuorumPolicy, elect};
