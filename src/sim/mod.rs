//! The deterministic simulator: the very same [`crate::core::Node`]s the
//! agent runs, thousands at a time, on a virtual clock and a simulated
//! network.
//!
//! - `engine`: the loop stepping through what falls due, the hosts, and
//!   the log of what happened to them;
//! - `net`: latency, loss, duplication, reordering and partitions;
//! - `scenario`: the TOML scenario format;
//! - [`run`]: runs a scenario;
//! - `report`: what a run measured, and how it prints;
//! - `observe`: measurements and invariant checks;
//! - [`swarm`]: generated fault schedules, and their shrinking;
//! - `timeline`: what a run looked like over time, for `plot`.

mod engine;
mod net;
mod observe;
mod plot;
mod report;
mod run;
mod scenario;
pub mod swarm;
mod timeline;

pub use engine::{Captured, LogEntry, Logged, Sim, host_addr};
pub use net::{Latency, NetworkModel, Partition};
pub use plot::{PlotError, render_svg};
pub use report::Report;
pub use run::{Outcome, RunOptions, run};
pub use scenario::{ActionKind, Fault, Scenario, ScenarioError};
pub use timeline::{DetectionCurve, FaultMark, Naming, Timeline};
