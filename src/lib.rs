//! herd: a gossip-based node agent for clustered servers.
//!
//! One `herd agent` runs beside every node of a clustered server. The agents
//! find each other with SWIM gossip (the `foca` crate), agree on who is alive
//! and healthy with no central coordinator, pick one primary by a
//! deterministic rule, and each serves a local HTTP health endpoint that any
//! load balancer can poll.
//!
//! # Layout
//!
//! - [`core`]: the sans-IO protocol state machine. **The core does no IO**:
//!   no sockets, no clocks, no threads, no global randomness. Time and
//!   randomness come in as values. `clippy.toml` bans the clock functions
//!   in it.
//! - [`agent`]: the tokio driver: UDP socket, timers, signals, the task that
//!   owns the core, and the snapshot it publishes.
//! - [`http`]: the health endpoint and the JSON API, answered from the
//!   published snapshot.
//! - [`sim`]: the deterministic simulator that drives many cores on a
//!   virtual clock.
//!
//! `ARCHITECTURE.md` at the root of the repository tells how the parts fit.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod agent;
pub mod core;
pub mod http;
mod metrics;
pub mod sim;
