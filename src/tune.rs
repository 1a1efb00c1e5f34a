//! `herd tune`: what the operator's own settings will do, before they are
//! in production.
//!
//! Every timing in `[gossip]` trades speed for false alarms and traffic,
//! and no peer lets an operator see that trade before it is live. This
//! runs the operator's configuration (the same file, environment and
//! flags as `herd agent`) through the deterministic simulator at their
//! cluster size and loss rate: a primary crash, a primary frozen for
//! longer than its lease, a partition that leaves the primary in the
//! minority, and a quiet stretch of loss; several seeds each; and prints
//! what to expect.

use std::process::ExitCode;

use anyhow::{Context, Result};
use herd::agent::{AgentArgs, AgentConfig};
use herd::sim::{RunOptions, Scenario};
use serde_json::Value;

/// `herd tune`'s flags.
#[derive(clap::Args)]
pub struct TuneArgs {
    /// The configuration file [default: --config, HERD_CONFIG, or the
    /// defaults]
    file: Option<std::path::PathBuf>,
    /// Cluster size [default: expected_members, else 5]
    #[arg(long, value_parser = clap::value_parser!(u64).range(3..=3_000))]
    nodes: Option<u64>,
    /// Datagram loss, as a fraction (0.01 is 1 %)
    #[arg(long, default_value = "0.01", value_parser = parse_loss)]
    loss: f64,
    /// Seeds per fault
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    seeds: u64,
    /// Print the figures as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

fn parse_loss(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(loss) if (0.0..0.5).contains(&loss) => Ok(loss),
        _ => Err(format!("{text:?}: a fraction from 0 to 0.5 (0.01 is 1 %)")),
    }
}

/// One of the standard faults.
struct Fault {
    name: &'static str,
    /// The scenario, with `{nodes}` still to fill in.
    toml: &'static str,
}

const FAULTS: [Fault; 4] = [
    Fault {
        name: "primary crash",
        toml: r#"
name = "tune-crash"
duration = "2m"
start_over = "5s"
[[event]]
at = "60s"
action = "crash"
target = "primary"
"#,
    },
    Fault {
        name: "primary frozen 5 s",
        toml: r#"
name = "tune-freeze"
duration = "2m"
start_over = "5s"
[[event]]
at = "60s"
action = "freeze"
target = "primary"
duration = "5s"
"#,
    },
    Fault {
        name: "partition, primary in the 40 %",
        toml: r#"
name = "tune-partition"
duration = "3m"
start_over = "5s"
[[event]]
at = "60s"
action = "partition"
sides = ["40%..100%", "0%..40%"]
[[event]]
at = "120s"
action = "heal"
"#,
    },
    Fault {
        name: "loss, no fault",
        toml: r#"
name = "tune-quiet"
duration = "10m"
start_over = "5s"
"#,
    },
];

/// Runs every fault over every seed and prints what was seen.
pub fn run(mut args: TuneArgs) -> ExitCode {
    match tune(&mut args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("herd: {err:#}");
            ExitCode::from(crate::EXIT_CONFIG)
        }
    }
}

/// The figures of one fault over the seeds.
#[derive(Default, serde::Serialize)]
struct Figures {
    fault: &'static str,
    runs: usize,
    /// Seconds until every survivor named the new primary.
    named_s: Vec<f64>,
    /// Seconds until the new primary claimed (answers 200).
    claimed_s: Vec<f64>,
    false_downs: u64,
    virtual_hours: f64,
    two_claimants_s: f64,
    minority_claim_s: f64,
    bytes_per_node_s: Vec<f64>,
    datagrams_per_node_s: Vec<f64>,
    breaches: usize,
}

fn tune(args: &mut TuneArgs) -> Result<bool> {
    if let Some(file) = args.file.take() {
        args.agent.config = Some(file);
    }
    let config = AgentConfig::load(&args.agent).map_err(anyhow::Error::msg)?;
    let nodes = args
        .nodes
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .or(config.expected_members)
        .unwrap_or(5);
    let gossip = &config.gossip;
    if !args.json {
        outln!(
            "herd tune: {nodes} nodes, {:.1} % loss, {} seed(s) per fault; your [gossip]: {}",
            args.loss * 100.0,
            args.seeds,
            toml::to_string(gossip)
                .unwrap_or_default()
                .lines()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let progress = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut all = Vec::new();
    for fault in &FAULTS {
        let mut scenario = Scenario::parse(&format!("nodes = {nodes}\n{}", fault.toml), fault.name)
            .with_context(|| format!("building the {} scenario", fault.name))?;
        scenario.gossip = config.gossip;
        scenario.quorum = config.quorum;
        scenario.expected_members = config.expected_members;
        scenario.network.loss = args.loss;
        let mut figures = Figures {
            fault: fault.name,
            ..Figures::default()
        };
        for seed in 1..=args.seeds {
            if progress {
                eprint!(
                    "\r  running {} (seed {seed} of {})...   ",
                    fault.name, args.seeds
                );
            }
            let outcome = herd::sim::run(
                &scenario,
                &RunOptions {
                    seed: Some(seed),
                    nodes: None,
                    plot: false,
                    progress: false,
                },
            );
            let report = serde_json::to_value(&outcome.report).context("reading a report")?;
            figures.add(&report);
        }
        if progress {
            eprint!("\r{:60}\r", "");
        }
        all.push(figures);
    }
    let clean = all
        .iter()
        .all(|f| f.breaches == 0 && f.two_claimants_s == 0.0);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        print_figures(&all, args.loss);
    }
    Ok(clean)
}

impl Figures {
    fn add(&mut self, report: &Value) {
        let number = |v: &Value| v.as_f64().unwrap_or(0.0);
        self.runs += 1;
        // The first fault is the one measured (a heal follows a partition).
        if let Some(fault) = report["faults"].as_array().and_then(|f| f.first()) {
            if let Some(named) = fault["failover_s"].as_f64() {
                self.named_s.push(named);
            }
            if fault["new_primary"].is_string() {
                let claimed = fault["recovered_s"].as_f64().unwrap_or(0.0);
                self.claimed_s
                    .push(claimed.max(fault["failover_s"].as_f64().unwrap_or(0.0)));
            }
        }
        let safety = &report["safety"];
        self.false_downs += safety["false_positive_downs"].as_u64().unwrap_or(0);
        self.two_claimants_s += number(&safety["two_claimants_s"]);
        self.minority_claim_s += number(&safety["minority_claim_s"]);
        self.virtual_hours += number(&report["duration_s"]) / 3600.0;
        self.bytes_per_node_s
            .push(number(&report["traffic"]["bytes_per_node_s"]));
        self.datagrams_per_node_s
            .push(number(&report["traffic"]["messages_per_node_s"]));
        self.breaches += report["breaches"].as_array().map_or(0, Vec::len);
    }
}

/// The median and the largest (the p99 of a handful of runs).
fn median_max(values: &[f64]) -> Option<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = *sorted.get(sorted.len() / 2)?;
    Some((median, *sorted.last()?))
}

fn seconds(values: &[f64]) -> String {
    match median_max(values) {
        Some((median, max)) => format!("median {median:.3} s, max {max:.3} s"),
        None => "never".to_owned(),
    }
}

fn print_figures(all: &[Figures], loss: f64) {
    outln!();
    for figures in all {
        outln!("{} ({} runs)", figures.fault, figures.runs);
        if figures.fault.starts_with("loss") {
            let (bytes, _) = median_max(&figures.bytes_per_node_s).unwrap_or_default();
            let (datagrams, _) = median_max(&figures.datagrams_per_node_s).unwrap_or_default();
            outln!(
                "  false downs: {} in {:.1} virtual hours at {:.1} % loss ({:.2} per hour)",
                figures.false_downs,
                figures.virtual_hours,
                loss * 100.0,
                figures.false_downs as f64 / figures.virtual_hours.max(f64::EPSILON)
            );
            outln!(
                "  traffic per node: {:.0} B/s, {datagrams:.1} datagrams/s (median)",
                bytes
            );
        } else {
            outln!(
                "  every survivor names the successor: {}",
                seconds(&figures.named_s)
            );
            outln!(
                "  the successor answers 200:          {}",
                seconds(&figures.claimed_s)
            );
            outln!("  false downs: {}", figures.false_downs);
        }
        if figures.minority_claim_s > 0.0 {
            outln!(
                "  a cut-off primary kept claiming (bounded, within the grace): {:.2} s in all",
                figures.minority_claim_s
            );
        }
        if figures.two_claimants_s > 0.0 || figures.breaches > 0 {
            outln!(
                "  SAFETY: two claimants for {:.2} s, {} invariant breach(es): please report this",
                figures.two_claimants_s,
                figures.breaches
            );
        }
    }
}
