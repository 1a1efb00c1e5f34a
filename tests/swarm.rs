//! Generated fault schedules (`herd simulate --swarm`): a bounded swarm
//! that must breach no invariant, determinism, replay of saved schedules,
//! and the scenario actions the generator relies on (replace, isolate,
//! scale-in with crashes).
//!
//! `HERD_SWARM_SCHEDULES`, `HERD_SWARM_SEED` and `HERD_SWARM_MAX_NODES`
//! change the bounded swarm for a local run; longer soaks go through the
//! CLI (`simulations/README.md`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use herd::core::MemberState;
use herd::sim::swarm::{Schedule, Verdict};
use herd::sim::{ActionKind, Fault};
use herd::sim::{NetworkModel, RunOptions, Scenario, Sim, run};

/// Schedules `cargo test` runs: 400 of at most 24 nodes take about ten
/// seconds in the test profile on two cores.
const SCHEDULES: u64 = 400;
const SEED: u64 = 1;
const MAX_NODES: usize = 24;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

fn describe(schedule: &Schedule, verdict: &Verdict) -> String {
    let first = &verdict.breaches[0];
    format!(
        "#{} ({} nodes, {} faults): {} (first: {:.2}s {} [{}]: {})\n    replay: {}",
        verdict.index,
        verdict.nodes,
        verdict.faults,
        verdict.invariants().join(", "),
        first.at_s,
        first.invariant,
        first.nodes.join(", "),
        first.detail,
        schedule.replay_command()
    )
}

// Every bug the swarm found is fixed, and its shrunk schedule is kept in
// `simulations/found/` (run by `tests/simulations.rs`). Seed 1 breached
// 163 of these 400 on the first swarm (2026-12-01), 13 at the start of
// 2026-12-02's second session, none since.
#[test]
fn generated_fault_schedules_breach_no_invariant() {
    let count = env_or("HERD_SWARM_SCHEDULES", SCHEDULES);
    let seed = env_or("HERD_SWARM_SEED", SEED);
    let max_nodes = env_or("HERD_SWARM_MAX_NODES", MAX_NODES);
    let mut failures = Vec::new();
    let mut tally: std::collections::BTreeMap<&str, usize> = Default::default();
    for index in 0..count {
        let schedule = Schedule::draw(seed, index, max_nodes);
        let verdict = schedule.run();
        if !verdict.breaches.is_empty() {
            for invariant in verdict.invariants() {
                *tally.entry(invariant).or_default() += 1;
            }
            failures.push(describe(&schedule, &verdict));
        }
    }
    let shown = 20;
    assert!(
        failures.is_empty(),
        "{} of {count} schedules (seed {seed}, at most {max_nodes} nodes) breached invariants: {tally:?}\n{}{}\n\
         Add --save-failures DIR to a replay command to write the schedule as TOML and shrink it.",
        failures.len(),
        failures[..failures.len().min(shown)].join("\n"),
        if failures.len() > shown {
            format!("\n... and {} more", failures.len() - shown)
        } else {
            String::new()
        }
    );
}

#[test]
fn the_same_seed_gives_the_same_schedules_and_results() {
    let verdicts = |seed: u64| -> Vec<(Scenario, Verdict)> {
        (0..20)
            .map(|index| {
                let schedule = Schedule::draw(seed, index, 16);
                (schedule.scenario(), schedule.run())
            })
            .collect()
    };
    let once = verdicts(4);
    let twice = verdicts(4);
    assert_eq!(once, twice);
    // A schedule does not depend on the others drawn with it.
    assert_eq!(
        Schedule::draw(4, 13, 16).scenario(),
        once[13].0,
        "--index 13 draws the 14th schedule"
    );
    let other = verdicts(5);
    assert_ne!(
        once.iter().map(|(_, v)| &v.digest).collect::<Vec<_>>(),
        other.iter().map(|(_, v)| &v.digest).collect::<Vec<_>>()
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("herd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_saved_schedule_replays_to_the_same_result() {
    let dir = TempDir::new("swarm-saved");
    let mut actions = std::collections::BTreeSet::new();
    for index in 0..12 {
        let schedule = Schedule::draw(21, index, 12);
        let verdict = schedule.run();
        let path = schedule
            .save(dir.path(), &verdict)
            .unwrap_or_else(|e| panic!("saving: {e}"));
        let loaded = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded, schedule.scenario(), "{}", path.display());
        let replay = run(&loaded, &RunOptions::default()).report;
        assert_eq!(replay.digest, verdict.digest, "{}", path.display());
        assert_eq!(replay.breaches, verdict.breaches, "{}", path.display());
        actions.extend(loaded.faults.iter().map(|e| e.action.to_string()));
    }
    assert!(actions.len() >= 8, "few kinds of fault: {actions:?}");
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "test").unwrap_or_else(|e| panic!("{e}"))
}

/// `nodes` nodes that joined through node-0 and settled for 20 s (virtual).
fn settled_cluster(nodes: usize) -> Sim {
    let config =
        scenario(&format!("name = \"x\"\nnodes = {nodes}\nduration = \"1s\"")).node_config();
    // The seed is the size, as each test had it.
    let mut sim = Sim::new(nodes as u64, config, NetworkModel::default());
    for i in 0..nodes {
        sim.add_host(&format!("node-{i}"));
    }
    sim.start(0, &[]);
    sim.run_until(Duration::from_secs(1));
    for i in 1..nodes {
        sim.start(i, &[0]);
    }
    sim.run_until(Duration::from_secs(20));
    sim
}

#[test]
fn a_replaced_machine_rejoins_under_its_name_on_a_new_address() {
    let mut sim = settled_cluster(3);
    let old = sim.addr(2);
    // A running host does not move.
    assert_eq!(sim.move_host(2), None);
    sim.crash(2);
    let new = sim.move_host(2).expect("a stopped host moves");
    assert_ne!(old, new);
    sim.start(2, &[0, 1]);
    sim.run_until(Duration::from_secs(80));
    let view = sim.node(0).expect("node-0 runs").snapshot();
    let member = view
        .members
        .iter()
        .find(|m| &*m.name == "node-2")
        .expect("node-0 knows node-2");
    assert_eq!(member.addr, new, "{view:#?}");
    assert_eq!(member.state, MemberState::Alive, "{view:#?}");
    let node2 = sim.node(2).expect("node-2 runs");
    assert_eq!(node2.id().socket_addr(), new);
    assert_eq!(node2.member_state("node-1"), Some(MemberState::Alive));
}

#[test]
fn a_replacement_is_alive_everywhere_within_two_seconds_and_stays_so() {
    let mut sim = settled_cluster(4);
    sim.crash(3);
    let new = sim.move_host(3).expect("a stopped host moves");
    // Started at once, before anyone noticed the old life was gone.
    sim.start(3, &[0, 1, 2]);
    sim.run_until(Duration::from_secs(22));
    let life = sim.node(3).expect("node-3 runs").id().incarnation();
    for (until, what) in [(22, "within 2 s"), (60, "40 s later")] {
        sim.run_until(Duration::from_secs(until));
        for i in 0..3 {
            let view = sim.node(i).expect("running").snapshot();
            let member = view.members.iter().find(|m| &*m.name == "node-3");
            let member = member.unwrap_or_else(|| panic!("node-{i} knows node-3 {what}"));
            assert_eq!(
                (member.addr, member.state),
                (new, MemberState::Alive),
                "node-{i}'s view {what}: {view:#?}"
            );
        }
        let node3 = sim.node(3).expect("node-3 runs");
        assert_eq!(
            node3.id().incarnation(),
            life,
            "the new life was never declared down"
        );
    }
}

#[test]
fn replacing_the_primary_fails_over_and_the_new_life_joins() {
    let report = run(
        &scenario(
            r#"
            name = "replace"
            nodes = 5
            duration = "3m"
            [[event]]
            at = "30s"
            action = "replace"
            target = "primary"
            [[event]]
            at = "90s"
            action = "crash"
            target = "secondary"
            [[event]]
            at = "100s"
            action = "replace"
            target = "crashed"
            "#,
        ),
        &RunOptions::default(),
    )
    .report;
    assert!(report.breaches.is_empty(), "{report}");
    let replace = &report.faults[0];
    assert_eq!(replace.kind, "replace");
    assert!(replace.failover_s.is_some(), "{report}");
    assert_ne!(replace.new_primary, replace.old_primary);
    // Five first lives and two replacements, every one joined.
    assert_eq!(report.joins.started, 7, "{report}");
    assert_eq!(report.joins.unconverged, 0, "{report}");
    let primary = report.final_primary.clone().expect("one primary");
    assert_eq!(report.final_claimants, vec![primary]);
}

#[test]
fn an_isolated_node_is_cut_off_both_ways_until_the_heal() {
    let report = run(
        &scenario(
            r#"
            name = "isolate"
            nodes = 5
            duration = "3m"
            [[event]]
            at = "30s"
            action = "isolate"
            target = "node-3"
            [[event]]
            at = "90s"
            action = "heal"
            "#,
        ),
        &RunOptions::default(),
    )
    .report;
    let isolate = &report.faults[0];
    assert_eq!(isolate.kind, "isolate");
    // Every other node saw node-3 down. node-3, hearing nobody, doubts
    // itself: it holds the others down in its own view (they are out of
    // its reach) but accuses nobody, so no down reaches the others and
    // none of them is ever held down by a peer (no false downs).
    assert_eq!(isolate.observers, 5, "{report}");
    assert_eq!(isolate.detected, 5, "{report}");
    assert_eq!(report.safety.false_positive_downs, 0, "{report}");
    // The primary was not cut off, so the role stayed.
    assert!(isolate.old_primary.is_none(), "{report}");
    assert_eq!(report.final_primary.as_deref(), Some("node-0"), "{report}");
    assert_eq!(report.final_claimants, vec!["node-0".to_owned()]);
}

#[test]
fn latency_changes_apply_from_their_event() {
    let join_after = |ms: f64| {
        let mut s = scenario(
            r#"
            name = "latency"
            nodes = 3
            duration = "1m"
            [[event]]
            at = "30s"
            action = "scale"
            to = 4
            over = "0s"
            "#,
        );
        let mut network = Fault::new(Duration::from_secs(20), ActionKind::Network);
        network.latency = Some(herd::sim::Latency::Fixed { ms });
        s.faults.insert(0, network);
        let report = run(&s, &RunOptions::default()).report;
        assert!(report.breaches.is_empty(), "{report}");
        report.joins.joined.map_or(f64::NAN, |j| j.max)
    };
    // A join is a request and a sync answered: two trips.
    let fast = join_after(0.5);
    let slow = join_after(200.0);
    assert!(fast < 0.1, "{fast}");
    assert!((0.4..1.0).contains(&slow), "{slow}");
}

#[test]
fn scaling_in_with_crashes_interleaved_keeps_one_primary() {
    for seed in 1..=4 {
        let mut s = scenario(
            r#"
            name = "scale in with crashes"
            nodes = 9
            duration = "4m"
            [[event]]
            at = "30s"
            action = "crash"
            target = "random"
            [[event]]
            at = "35s"
            action = "scale"
            to = 5
            over = "20s"
            [[event]]
            at = "40s"
            action = "crash"
            target = "primary"
            [[event]]
            at = "90s"
            action = "restart"
            target = "crashed"
            [[event]]
            at = "120s"
            action = "scale"
            to = 3
            over = "10s"
            [[event]]
            at = "125s"
            action = "crash"
            target = "secondary"
            [[event]]
            at = "160s"
            action = "restart"
            target = "crashed"
            "#,
        );
        s.seed = seed;
        let report = run(&s, &RunOptions::default()).report;
        assert!(report.breaches.is_empty(), "{report}");
        // The scale-in counts running nodes only: the crashed one stays a
        // member and comes back.
        let labels: Vec<&str> = report.faults.iter().map(|f| f.label.as_str()).collect();
        assert!(labels.contains(&"scale 8 -> 5"), "{labels:?}");
        assert!(
            report.faults[3].label.starts_with("restart ")
                && report.faults[3].label.matches("node-").count() == 2,
            "{labels:?}"
        );
        let primary = report.final_primary.clone().expect("one primary");
        assert_eq!(report.final_claimants, vec![primary], "{report}");
    }
}
