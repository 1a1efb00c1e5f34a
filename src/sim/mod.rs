//! The deterministic simulator: the very same [`crate::core::Node`]s the
//! agent runs, thousands at a time, on a virtual clock and a simulated
//! network.
//!
//! - [`engine`]: the event loop, hosts and faults;
//! - [`net`]: latency, loss, duplication, reordering and partitions.

pub mod engine;
pub mod net;

pub use engine::{Emitted, Sim, host_addr};
pub use net::{Latency, NetworkModel, Partition};
