//! What a run measured ([`Report`]), summarised by kind of fault, and its
//! text form: what `herd simulate` prints. Kept apart from the runner, which
//! only drives the run and fills the report in.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::observe::{Breach, FaultReport, Joins, Safety, Stats};

/// The traffic figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traffic {
    /// Datagrams sent per running node per second.
    pub messages_per_node_s: f64,
    /// Bytes sent per running node per second.
    pub bytes_per_node_s: f64,
    /// Datagrams sent in all.
    pub datagrams: u64,
}

/// Detection and failover of all faults of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindSummary {
    /// The kind of fault.
    pub kind: String,
    /// How many.
    pub count: usize,
    /// Seconds to the first observer, over the faults.
    pub first_detection: Option<Stats>,
    /// Seconds to every observer, over the faults.
    pub all_detection: Option<Stats>,
    /// Failover seconds, over the faults that took the primary away.
    pub failover: Option<Stats>,
}

/// Everything a run measured. Deterministic: the same scenario, seed and
/// node count give the same report, byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Initial cluster size.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Virtual seconds run.
    pub duration_s: f64,
    /// Each fault.
    pub faults: Vec<FaultReport>,
    /// Faults summarised by kind.
    pub summary: Vec<KindSummary>,
    /// Safety figures.
    pub safety: Safety,
    /// Traffic figures.
    pub traffic: Traffic,
    /// Join figures.
    pub joins: Joins,
    /// Broken invariants.
    pub breaches: Vec<Breach>,
    /// At the end: the primary every live node names, if they agree.
    pub final_primary: Option<String>,
    /// At the end: the nodes that claim the role.
    pub final_claimants: Vec<String>,
    /// Hash of the engine's whole log (every entry, in order), hex.
    pub digest: String,
}

/// Summarises `faults` by kind, kinds in name order.
pub(super) fn summarise(faults: &[FaultReport]) -> Vec<KindSummary> {
    let mut kinds: BTreeMap<&str, Vec<&FaultReport>> = BTreeMap::new();
    for fault in faults {
        kinds.entry(&fault.kind).or_default().push(fault);
    }
    kinds
        .into_iter()
        .map(|(kind, faults)| {
            let first: Vec<f64> = faults.iter().filter_map(|f| f.first_detection_s).collect();
            let all: Vec<f64> = faults
                .iter()
                .filter(|f| f.observers > 0 && f.detected == f.observers)
                .filter_map(|f| f.detection.as_ref().map(|d| d.max))
                .collect();
            let failover: Vec<f64> = faults.iter().filter_map(|f| f.failover_s).collect();
            KindSummary {
                kind: kind.to_owned(),
                count: faults.len(),
                first_detection: Stats::of(&first),
                all_detection: Stats::of(&all),
                failover: Stats::of(&failover),
            }
        })
        .collect()
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}s"));
        let stats = |s: &Option<Stats>| {
            s.as_ref().map_or("-".to_owned(), |s| {
                format!(
                    "min {:.2} median {:.2} p99 {:.2} max {:.2} s (n={})",
                    s.min, s.median, s.p99, s.max, s.count
                )
            })
        };
        writeln!(
            f,
            "scenario {}: {} nodes, {:.0} virtual s, seed {}",
            self.scenario, self.nodes, self.duration_s, self.seed
        )?;
        if !self.faults.is_empty() {
            writeln!(f, "faults:")?;
        }
        for fault in &self.faults {
            write!(f, "  {:>8.2}s  {}", fault.at_s, fault.label)?;
            if fault.observers > 0 {
                write!(
                    f,
                    "\n             detection: first {}, all: {} ({}/{} observers)",
                    opt(fault.first_detection_s),
                    stats(&fault.detection),
                    fault.detected,
                    fault.observers
                )?;
            }
            if let Some(old) = &fault.old_primary {
                write!(
                    f,
                    "\n             failover from {old}: {}{}",
                    opt(fault.failover_s),
                    fault
                        .new_primary
                        .as_ref()
                        .map(|p| format!(" to {p}"))
                        .unwrap_or_default()
                )?;
            }
            if fault.kind == "heal" {
                write!(
                    f,
                    "\n             one primary named by every node again after {}",
                    opt(fault.recovered_s)
                )?;
            }
            writeln!(f)?;
        }
        if !self.summary.is_empty() {
            writeln!(f, "by kind:")?;
        }
        for kind in &self.summary {
            writeln!(f, "  {} x{}", kind.kind, kind.count)?;
            if kind.first_detection.is_some() {
                writeln!(
                    f,
                    "    first-node detection: {}",
                    stats(&kind.first_detection)
                )?;
                writeln!(
                    f,
                    "    all-node detection:   {}",
                    stats(&kind.all_detection)
                )?;
            }
            if kind.failover.is_some() {
                writeln!(f, "    failover:             {}", stats(&kind.failover))?;
            }
        }
        let s = &self.safety;
        writeln!(
            f,
            "safety: two claimants {:.2}s, minority claims {:.2}s, split brain {:.2}s, no primary {:.2}s, false-positive downs {}",
            s.two_claimants_s,
            s.minority_claim_s,
            s.split_brain_s,
            s.no_primary_s,
            s.false_positive_downs
        )?;
        writeln!(
            f,
            "traffic: {:.2} datagrams and {:.0} bytes per node per second ({} datagrams)",
            self.traffic.messages_per_node_s, self.traffic.bytes_per_node_s, self.traffic.datagrams
        )?;
        writeln!(
            f,
            "joins: {} started; joined {}; seen by every member {}; converged {}; unconverged {}",
            self.joins.started,
            stats(&self.joins.joined),
            stats(&self.joins.seen),
            stats(&self.joins.converged),
            self.joins.unconverged
        )?;
        writeln!(
            f,
            "at the end: primary {} named by every live node; claimants [{}]",
            self.final_primary.as_deref().unwrap_or("(no agreement)"),
            self.final_claimants.join(", ")
        )?;
        if self.breaches.is_empty() {
            writeln!(f, "invariants: all held")?;
        } else {
            writeln!(f, "invariants: {} breached", self.breaches.len())?;
            for breach in &self.breaches {
                writeln!(
                    f,
                    "  {:>8.2}s  {} [{}]: {}",
                    breach.at_s,
                    breach.invariant,
                    breach.nodes.join(", "),
                    breach.detail
                )?;
            }
        }
        write!(f, "digest: {}", self.digest)
    }
}
