//! Scenario files: a cluster, its settings, its network, and a timeline of
//! faults, in TOML. `simulations/README.md` documents the format; this
//! module parses and checks it. Each fault is a [`Fault`], written as an
//! `[[event]]` table in the file.
//!
//! Node counts and host ranges scale with `--nodes`: a scenario written for
//! 100 nodes whose partition puts `0%..60%` on one side runs at 5 nodes with
//! three on that side, and `scale` targets grow in proportion.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::NodeConfig;
use crate::core::config::GossipTuning;
use crate::core::view::QuorumPolicy;

use super::net::{Latency, NetworkModel};

/// A whole scenario file. [`Scenario::to_toml`] writes it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports.
    pub name: String,
    /// What it shows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Cluster size at the start.
    pub nodes: usize,
    /// Virtual time the run lasts.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Seed of every random draw (`--seed` overrides).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How the cluster starts.
    #[serde(default)]
    pub start: StartMode,
    /// With `start = "join"`: the nodes start spread over this long.
    #[serde(default = "default_start_over", with = "humantime_serde")]
    pub start_over: Duration,
    /// The quorum guard, as in the agent's file.
    #[serde(default)]
    pub quorum: QuorumPolicy,
    /// A fixed expected cluster size, as in the agent's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_members: Option<usize>,
    /// Protocol timings: the `[gossip]` table, as in the agent's file.
    #[serde(default, skip_serializing_if = "is_default")]
    pub gossip: GossipTuning,
    /// The network at the start.
    #[serde(default)]
    pub network: NetworkModel,
    /// The faults, in any order (the file's `[[event]]` tables).
    #[serde(default, rename = "event")]
    pub faults: Vec<Fault>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_seed() -> u64 {
    1
}

fn default_start_over() -> Duration {
    Duration::from_secs(5)
}

/// How a scenario's cluster comes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// Node 0 founds the cluster; the others join through seeds that are
    /// already up, spread over `start_over` (measures join convergence).
    #[default]
    Join,
    /// Every node starts already joined with a full view, as if the cluster
    /// had run for a while (for steady-state runs of many thousands).
    Warm,
}

/// The nodes' protocol settings for a scenario.
pub(super) fn node_config(
    quorum: QuorumPolicy,
    expected: Option<usize>,
    g: &GossipTuning,
) -> NodeConfig {
    NodeConfig {
        cluster: "sim".into(),
        quorum,
        expected_members: expected,
        gossip: *g,
        ..NodeConfig::default()
    }
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Kill the target at once (SIGKILL, power loss).
    Crash,
    /// Start a crashed or left target again, as a new life joining through
    /// running members.
    Restart,
    /// Replace the target's machine: it stops, and a new life of it (same
    /// name) starts at once on a new address.
    Replace,
    /// Freeze the target for `duration` (a stalled VM, a GC pause).
    Freeze,
    /// Slow the target for `duration`: it handles each datagram and timer
    /// late by a random delay up to `lag`, in order (a starved CPU,
    /// Lifeguard's case).
    Slow,
    /// Drain the target for `drain`, then leave gracefully and stop.
    Leave,
    /// The target's checks start failing.
    Fail,
    /// The target's checks pass again.
    Recover,
    /// Put the target into maintenance.
    Drain,
    /// Take it out of maintenance.
    Resume,
    /// Cut the network between `sides` (both ways, or with `one_way` only
    /// from the first side to the second).
    Partition,
    /// Cut each target off from every other host (a switch reboot is
    /// `isolate` `all`, then `heal`).
    Isolate,
    /// Restore every link.
    Heal,
    /// Change the network model from now on (`loss`, `duplicate`,
    /// `reorder`, `latency`).
    Network,
    /// Grow the cluster by starting new nodes, or shrink it by having the
    /// newest leave, evenly over `over`, to `to` nodes.
    Scale,
    /// Drain, stop and restart every node in turn.
    RollingRestart,
    /// Toggle the target's health `times` times, every `every`.
    Flap,
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Crash => "crash",
            Self::Restart => "restart",
            Self::Replace => "replace",
            Self::Freeze => "freeze",
            Self::Slow => "slow",
            Self::Leave => "leave",
            Self::Fail => "fail",
            Self::Recover => "recover",
            Self::Drain => "drain",
            Self::Resume => "resume",
            Self::Partition => "partition",
            Self::Isolate => "isolate",
            Self::Heal => "heal",
            Self::Network => "network",
            Self::Scale => "scale",
            Self::RollingRestart => "rolling_restart",
            Self::Flap => "flap",
        };
        f.write_str(name)
    }
}

/// One fault of a scenario: an `[[event]]` table, scheduled at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// When (virtual time since the start).
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// What.
    pub action: ActionKind,
    /// Which hosts (see `Target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `freeze`: how long.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// `slow`: the most an input waits.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub lag: Option<Duration>,
    /// `leave`, `rolling_restart`: how long to drain first.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub drain: Option<Duration>,
    /// `partition`: the sides, each a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sides: Option<Vec<String>>,
    /// `partition`: cut only from the first side to the second.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_way: bool,
    /// `network`: the new loss probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// `network`: the new duplication probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    /// `network`: the new reordering probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<f64>,
    /// `network`: the new latency of every link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// `scale`: the cluster size to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<usize>,
    /// `scale`: over how long.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub over: Option<Duration>,
    /// `rolling_restart`: how long each node stays down.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub down: Option<Duration>,
    /// `rolling_restart`: pause between one node's restart and the next
    /// node's drain.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub gap: Option<Duration>,
    /// Repeat the fault this often...
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub every: Option<Duration>,
    /// ...this many times in all (`flap`: toggles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Fault {
    /// A fault with no keys but its time and action.
    pub fn new(at: Duration, action: ActionKind) -> Self {
        Self {
            at,
            action,
            target: None,
            duration: None,
            lag: None,
            drain: None,
            sides: None,
            one_way: false,
            loss: None,
            duplicate: None,
            reorder: None,
            latency: None,
            to: None,
            over: None,
            down: None,
            gap: None,
            every: None,
            times: None,
        }
    }

    /// The same fault with a target.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
}

/// Which hosts a fault acts on, resolved when it happens.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Target {
    /// The host most running hosts name primary.
    Primary,
    /// A random running host that is not the primary.
    Secondary,
    /// A random running host.
    Random,
    /// Every host.
    All,
    /// Every host that crashed (stopped without leaving) and has not
    /// started again.
    Crashed,
    /// One host by name (`node-17`).
    Named(String),
    /// Hosts by index, `from..to` (end excluded), as counts or percentages
    /// of the initial cluster size.
    Range(Bound, Bound),
}

/// One end of a host range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Bound {
    /// A host index.
    Index(usize),
    /// A percentage of the scenario's initial node count.
    Percent(f64),
}

/// Why a target does not parse. Each variant holds the text in question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum TargetError {
    /// A range end ending in `%` whose number does not parse.
    #[error("{0:?} is not a percentage")]
    NotAPercentage(String),
    /// A percentage below 0% or above 100%.
    #[error("{0:?} is outside 0%..100%")]
    PercentOutOfRange(String),
    /// A range end that is neither a percentage nor a whole number.
    #[error("{0:?} is not a host index")]
    NotAnIndex(String),
    /// None of the target forms.
    #[error(
        "unknown target {0:?}: expected primary, secondary, random, all, \
         crashed, node-N, or a range like 0..40 or 0%..60%"
    )]
    Unknown(String),
}

impl Bound {
    fn parse(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent
                .trim()
                .parse()
                .map_err(|_| TargetError::NotAPercentage(text.to_owned()))?;
            if !(0.0..=100.0).contains(&value) {
                return Err(TargetError::PercentOutOfRange(text.to_owned()));
            }
            Ok(Self::Percent(value))
        } else {
            text.parse()
                .map(Self::Index)
                .map_err(|_| TargetError::NotAnIndex(text.to_owned()))
        }
    }

    /// The index this bound stands for in a cluster of `nodes`.
    pub(super) fn resolve(self, nodes: usize) -> usize {
        match self {
            Self::Index(i) => i,
            Self::Percent(p) => ((p / 100.0) * nodes as f64).round() as usize,
        }
    }
}

impl Target {
    /// Parses a target: `primary`, `secondary`, `random`, `all`, `crashed`,
    /// a host name, or a range like `0..40` or `0%..60%`.
    pub(super) fn parse(text: &str) -> Result<Self, TargetError> {
        match text.trim() {
            "primary" => Ok(Self::Primary),
            "secondary" => Ok(Self::Secondary),
            "random" => Ok(Self::Random),
            "all" => Ok(Self::All),
            "crashed" => Ok(Self::Crashed),
            range if range.contains("..") => {
                let (from, to) = range.split_once("..").unwrap_or((range, ""));
                Ok(Self::Range(Bound::parse(from)?, Bound::parse(to)?))
            }
            name if name.starts_with("node-") && name[5..].parse::<usize>().is_ok() => {
                Ok(Self::Named(name.to_owned()))
            }
            other => Err(TargetError::Unknown(other.to_owned())),
        }
    }
}

/// A problem with a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// The scenario parses but makes no sense.
    #[error("{path}: invalid scenario:\n  - {}", problems.join("\n  - "))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem.
        problems: Vec<String>,
    },
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks scenario text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let problems = scenario.problems();
        if problems.is_empty() {
            Ok(scenario)
        } else {
            Err(ScenarioError::Invalid {
                path: origin.to_owned(),
                problems,
            })
        }
    }

    /// The scenario as TOML that [`Scenario::parse`] reads back to an equal
    /// scenario: keys in the order the format documents them, tables such
    /// as `latency` inline.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let table = toml::Table::try_from(self)?;
        let mut out = String::new();
        write_entries(&mut out, &table, SCENARIO_KEYS, true);
        for (key, value) in &table {
            if let toml::Value::Table(inner) = value {
                out.push_str(&format!("\n[{}]\n", toml_key(key)));
                write_entries(&mut out, inner, &[], false);
            }
        }
        for (key, value) in &table {
            if let toml::Value::Array(items) = value
                && is_section(value)
            {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        out.push_str(&format!("\n[[{}]]\n", toml_key(key)));
                        write_entries(&mut out, inner, FAULT_KEYS, false);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The nodes' protocol settings.
    pub fn node_config(&self) -> NodeConfig {
        node_config(self.quorum, self.expected_members, &self.gossip)
    }

    /// Resizes the scenario to `nodes`, scaling `scale` targets in
    /// proportion.
    pub fn resize(&mut self, nodes: usize) {
        let old = self.nodes.max(1);
        for fault in &mut self.faults {
            if let Some(to) = fault.to.as_mut() {
                *to = ((*to as f64) * nodes as f64 / old as f64).round().max(1.0) as usize;
            }
        }
        self.nodes = nodes;
    }

    /// Every problem with the scenario, described.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.nodes == 0 {
            problems.push("nodes: must be at least 1".to_owned());
        }
        if self.duration.is_zero() {
            problems.push("duration: must be more than zero".to_owned());
        }
        if let Err(errors) = self.node_config().validate() {
            problems.extend(errors.iter().map(ToString::to_string));
        }
        for (field, p) in [
            ("loss", self.network.loss),
            ("duplicate", self.network.duplicate),
            ("reorder", self.network.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                problems.push(format!("network.{field}: must be between 0 and 1"));
            }
        }
        for problem in latency_problems(&self.network.latency) {
            problems.push(format!("network.latency: {problem}"));
        }
        if !(self.network.reorder_delay_ms.is_finite() && self.network.reorder_delay_ms >= 0.0) {
            problems.push("network.reorder_delay_ms: must be zero or more".to_owned());
        }
        for (i, fault) in self.faults.iter().enumerate() {
            // Numbered as the file's `[[event]]` tables.
            let here = format!("event {} ({} at {:?})", i + 1, fault.action, fault.at);
            for problem in fault.problems() {
                problems.push(format!("{here}: {problem}"));
            }
            if fault.at > self.duration {
                problems.push(format!("{here}: happens after the run ends"));
            }
        }
        problems
    }
}

/// The top-level keys in the order the format documents them.
const SCENARIO_KEYS: &[&str] = &[
    "name",
    "description",
    "nodes",
    "duration",
    "seed",
    "start",
    "start_over",
    "quorum",
    "expected_members",
];

/// A fault's keys (an `[[event]]` table's) in the order the format
/// documents them.
const FAULT_KEYS: &[&str] = &[
    "at",
    "action",
    "target",
    "duration",
    "lag",
    "drain",
    "sides",
    "one_way",
    "loss",
    "duplicate",
    "reorder",
    "latency",
    "to",
    "over",
    "down",
    "gap",
    "every",
    "times",
];

/// A key, bare when it can be.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

/// Whether a value is written as a `[table]` or `[[table]]` section at the
/// top level.
fn is_section(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(_) => true,
        toml::Value::Array(items) => !items.is_empty() && items.iter().all(toml::Value::is_table),
        _ => false,
    }
}

/// `key = value` lines for the entries of `table` (at the top level, those
/// that are not sections): first those in `order`, then the rest. Tables
/// within are written inline.
fn write_entries(out: &mut String, table: &toml::Table, order: &[&str], top: bool) {
    let keys = order
        .iter()
        .copied()
        .filter(|k| table.contains_key(*k))
        .chain(
            table
                .keys()
                .map(String::as_str)
                .filter(|k| !order.contains(k)),
        );
    for key in keys {
        if let Some(value) = table.get(key)
            && !(top && is_section(value))
        {
            out.push_str(&format!("{} = {value}\n", toml_key(key)));
        }
    }
}

/// What is wrong with a latency distribution.
fn latency_problems(latency: &Latency) -> Vec<String> {
    let ms = |v: f64| v.is_finite() && v >= 0.0;
    let mut problems = Vec::new();
    match *latency {
        Latency::Fixed { ms: v } => {
            if !ms(v) {
                problems.push("ms: must be zero or more".to_owned());
            }
        }
        Latency::Uniform { min_ms, max_ms } => {
            if !ms(min_ms) || !ms(max_ms) || max_ms < min_ms {
                problems.push("min_ms and max_ms: need 0 <= min_ms <= max_ms".to_owned());
            }
        }
        Latency::LogNormal { median_ms, p99_ms } => {
            let positive = median_ms.is_finite() && median_ms > 0.0;
            if !(positive && ms(p99_ms) && p99_ms >= median_ms) {
                problems.push("median_ms and p99_ms: need 0 < median_ms <= p99_ms".to_owned());
            }
        }
    }
    problems
}

impl Fault {
    fn problems(&self) -> Vec<String> {
        use ActionKind as A;
        let mut problems = Vec::new();
        let needs_target = matches!(
            self.action,
            A::Crash
                | A::Restart
                | A::Replace
                | A::Isolate
                | A::Freeze
                | A::Slow
                | A::Leave
                | A::Fail
                | A::Recover
                | A::Drain
                | A::Resume
                | A::Flap
        );
        match (&self.target, needs_target) {
            (None, true) => problems.push("needs a target".to_owned()),
            (Some(_), false) => problems.push("takes no target".to_owned()),
            (Some(target), true) => {
                if let Err(e) = Target::parse(target) {
                    problems.push(e.to_string());
                }
            }
            (None, false) => {}
        }
        let mut require = |present: bool, field: &str| {
            if !present {
                problems.push(format!("needs {field}"));
            }
        };
        match self.action {
            A::Freeze => require(self.duration.is_some(), "duration"),
            A::Slow => {
                require(self.duration.is_some(), "duration");
                require(
                    self.lag.is_some_and(|l| !l.is_zero()),
                    "lag (more than zero)",
                );
            }
            A::Partition => require(
                self.sides.as_ref().is_some_and(|s| s.len() >= 2),
                "sides (two or more targets)",
            ),
            A::Network => require(
                self.loss.is_some()
                    || self.duplicate.is_some()
                    || self.reorder.is_some()
                    || self.latency.is_some(),
                "loss, duplicate, reorder or latency",
            ),
            A::Scale => {
                require(self.to.is_some_and(|t| t > 0), "to (at least 1)");
                require(self.over.is_some(), "over");
            }
            A::RollingRestart => {
                require(self.down.is_some(), "down");
                require(self.gap.is_some(), "gap");
            }
            A::Flap => {
                require(self.every.is_some(), "every");
                require(self.times.is_some_and(|t| t > 0), "times");
            }
            _ => {}
        }
        if let Some(sides) = &self.sides {
            for side in sides {
                if let Err(e) = Target::parse(side) {
                    problems.push(e.to_string());
                }
            }
        }
        for (field, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                problems.push(format!("{field}: must be between 0 and 1"));
            }
        }
        if let Some(latency) = &self.latency {
            for problem in latency_problems(latency) {
                problems.push(format!("latency: {problem}"));
            }
        }
        if self.every.is_some_and(|e| e.is_zero()) {
            problems.push("every: must be more than zero".to_owned());
        }
        if self.action != A::Flap && self.times.is_some() != self.every.is_some() {
            problems.push("every and times go together".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        name = "example"
        nodes = 100
        duration = "10m"
        quorum = "majority"
        [gossip]
        suspicion_mult = 4
        [network]
        loss = 0.1
        latency = { kind = "uniform", min_ms = 1.0, max_ms = 3.0 }
        [[event]]
        at = "1m"
        action = "crash"
        target = "primary"
        [[event]]
        at = "2m"
        action = "partition"
        sides = ["0%..60%", "60%..100%"]
        [[event]]
        at = "3m"
        action = "freeze"
        target = "secondary"
        duration = "5s"
        every = "30s"
        times = 4
        [[event]]
        at = "4m"
        action = "scale"
        to = 1000
        over = "5m"
    "#;

    #[test]
    fn a_scenario_parses_with_its_faults() {
        let scenario = Scenario::parse(EXAMPLE, "example").unwrap();
        assert_eq!(scenario.nodes, 100);
        assert_eq!(scenario.gossip.suspicion_mult, 4);
        assert_eq!(scenario.network.loss, 0.1);
        assert_eq!(scenario.faults.len(), 4);
        assert_eq!(scenario.faults[1].action, ActionKind::Partition);
        assert_eq!(scenario.seed, 1);
    }

    #[test]
    fn resizing_scales_ranges_and_scale_targets() {
        let mut scenario = Scenario::parse(EXAMPLE, "example").unwrap();
        scenario.resize(10);
        assert_eq!(scenario.faults[3].to, Some(100));
        let side = Target::parse("0%..60%").unwrap();
        let Target::Range(from, to) = side else {
            panic!("a range")
        };
        assert_eq!((from.resolve(10), to.resolve(10)), (0, 6));
    }

    #[test]
    fn every_problem_is_reported_with_its_event() {
        let text = r#"
            name = "bad"
            nodes = 0
            duration = "1m"
            [network]
            loss = 2.0
            [[event]]
            at = "2m"
            action = "crash"
            [[event]]
            at = "10s"
            action = "partition"
            sides = ["0..2"]
            [[event]]
            at = "10s"
            action = "freeze"
            target = "nobody"
            [[event]]
            at = "20s"
            action = "slow"
            target = "primary"
            duration = "5s"
        "#;
        let Err(ScenarioError::Invalid { problems, .. }) = Scenario::parse(text, "bad") else {
            panic!("expected problems");
        };
        let all = problems.join("\n");
        for expected in [
            "nodes",
            "network.loss",
            "event 1 (crash at 120s): needs a target",
            "happens after the run ends",
            "sides",
            "unknown target \"nobody\"",
            "needs duration",
            "event 4 (slow at 20s): needs lag (more than zero)",
        ] {
            assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Scenario::parse("name = \"x\"\nnodes = 1\nduration = \"1s\"\nnoise = 1", "x")
            .unwrap_err();
        assert!(err.to_string().contains("noise"), "{err}");
    }

    #[test]
    fn replace_isolate_and_latency_changes_parse_and_are_checked() {
        let text = r#"
            name = "new actions"
            nodes = 5
            duration = "5m"
            [[event]]
            at = "10s"
            action = "replace"
            target = "primary"
            [[event]]
            at = "20s"
            action = "isolate"
            target = "all"
            [[event]]
            at = "30s"
            action = "network"
            latency = { kind = "fixed", ms = 20.0 }
            [[event]]
            at = "40s"
            action = "restart"
            target = "crashed"
        "#;
        let scenario = Scenario::parse(text, "new").unwrap();
        assert_eq!(scenario.faults[0].action, ActionKind::Replace);
        assert_eq!(scenario.faults[1].action, ActionKind::Isolate);
        assert_eq!(
            scenario.faults[2].latency,
            Some(Latency::Fixed { ms: 20.0 })
        );
        assert_eq!(Target::parse("crashed"), Ok(Target::Crashed));

        let bad = r#"
            name = "bad"
            nodes = 5
            duration = "5m"
            [network]
            latency = { kind = "uniform", min_ms = 3.0, max_ms = 1.0 }
            [[event]]
            at = "10s"
            action = "replace"
            [[event]]
            at = "20s"
            action = "isolate"
            [[event]]
            at = "30s"
            action = "network"
            [[event]]
            at = "40s"
            action = "network"
            latency = { kind = "log_normal", median_ms = 0.0, p99_ms = 1.0 }
        "#;
        let Err(ScenarioError::Invalid { problems, .. }) = Scenario::parse(bad, "bad") else {
            panic!("expected problems");
        };
        let all = problems.join("\n");
        for expected in [
            "network.latency: min_ms and max_ms",
            "event 1 (replace at 10s): needs a target",
            "event 2 (isolate at 20s): needs a target",
            "event 3 (network at 30s): needs loss, duplicate, reorder or latency",
            "event 4 (network at 40s): latency: median_ms",
        ] {
            assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
        }
    }

    #[test]
    fn a_scenario_written_as_toml_reads_back_equal() {
        let mut scenario = Scenario::parse(EXAMPLE, "example").unwrap();
        scenario.description = "with \"quotes\"\nand a new line".into();
        let mut network = Fault::new(Duration::from_millis(90_500), ActionKind::Network);
        network.latency = Some(Latency::LogNormal {
            median_ms: 2.5,
            p99_ms: 17.25,
        });
        network.loss = Some(0.05);
        scenario.faults.push(network);
        let mut partition = Fault::new(Duration::from_secs(100), ActionKind::Partition);
        partition.sides = Some(vec!["0%..30%".into(), "30%..100%".into()]);
        partition.one_way = true;
        scenario.faults.push(partition);
        scenario.faults.push(
            Fault::new(Duration::from_nanos(100_000_000_007), ActionKind::Isolate)
                .with_target("0..2"),
        );
        let text = scenario.to_toml().unwrap();
        assert!(
            text.contains("latency = { kind = \"log_normal\", median_ms = 2.5, p99_ms = 17.25 }"),
            "{text}"
        );
        assert!(text.starts_with("name = \"example\"\n"), "{text}");
        let back = Scenario::parse(&text, "written").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, scenario, "{text}");
    }

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("primary"), Ok(Target::Primary));
        assert_eq!(Target::parse("node-3"), Ok(Target::Named("node-3".into())));
        assert_eq!(
            Target::parse("5..10"),
            Ok(Target::Range(Bound::Index(5), Bound::Index(10)))
        );
        assert!(Target::parse("node-x").is_err());
        assert_eq!(
            Target::parse("0%..120%").map_err(|e| e.to_string()),
            Err("\"120%\" is outside 0%..100%".to_owned())
        );
        assert_eq!(
            Target::parse("nobody").map_err(|e| e.to_string()),
            Err(
                "unknown target \"nobody\": expected primary, secondary, random, all, \
                 crashed, node-N, or a range like 0..40 or 0%..60%"
                    .to_owned()
            )
        );
    }
}
