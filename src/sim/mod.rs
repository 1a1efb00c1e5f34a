//! The deterministic simulator: the very same [`crate::core::Node`]s the
//! agent runs, thousands at a time, on a virtual clock and a simulated
//! network.
//!
//! - [`engine`]: the event loop, hosts and faults;
//! - [`net`]: latency, loss, duplication, reordering and partitions;
//! - [`timeline`]: what a run looked like over time, for [`plot`].

pub mod engine;
pub mod net;
pub mod plot;
pub mod timeline;

pub use engine::{Emitted, Sim, host_addr};
pub use net::{Latency, NetworkModel, Partition};
pub use timeline::{DetectionCurve, FaultMark, Naming, Timeline};
