//! What a simulation run looked like over time, kept for the SVG plot: which
//! primary each node named, who claimed the role, when faults happened and
//! how detection spread.

use std::sync::Arc;
use std::time::Duration;

/// What one node named as primary from some time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The node is not running (not started yet, crashed or left).
    NotRunning,
    /// The node is frozen: it runs but answers nothing.
    Frozen,
    /// The node's view names no primary.
    Nobody,
    /// The node's view names this host (an index into `Timeline::names`).
    Primary(usize),
}

/// One fault, as a label on the time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultMark {
    /// When it happened.
    pub at: Duration,
    /// What it was, for example `crash n3`.
    pub label: String,
}

/// How many of the nodes that should notice a fault had noticed it, over
/// time.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionCurve {
    /// The fault's label.
    pub label: String,
    /// When the fault happened.
    pub fault_at: Duration,
    /// `(time, fraction of observers that detected it, 0.0 to 1.0)`, in time
    /// order, starting with `(fault_at, 0.0)`.
    pub points: Vec<(Duration, f64)>,
}

/// The whole run, for plotting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// When the run ended.
    pub end: Duration,
    /// Host names, by host index.
    pub names: Vec<Arc<str>>,
    /// Per host: the changes of what it named, in time order. The first
    /// entry is at time zero.
    pub naming: Vec<Vec<(Duration, Naming)>>,
    /// Intervals during which a host claimed the role: `(from, to, host)`.
    pub claims: Vec<(Duration, Duration, usize)>,
    /// Faults, in time order.
    pub faults: Vec<FaultMark>,
    /// Detection curves, one per detectable fault.
    pub detection: Vec<DetectionCurve>,
}
