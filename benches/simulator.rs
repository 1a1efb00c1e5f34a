//! The simulator's speed, in events (engine steps: datagrams delivered,
//! wake-ups, thaws) per second: it bounds how large a cluster and how long
//! a run `herd simulate`, `herd tune` and the test suite can afford.
//!
//! - `engine_warm`: 100 nodes that start with the full view (the warm
//!   start), run for 5 virtual seconds on the default network; only the
//!   run is measured (`Sim::run_until`), the cluster is built outside it;
//! - `steady_warm`: `simulations/steady-warm.toml` resized to 100 nodes and
//!   5 virtual seconds, run whole by `sim::run` as `herd simulate` runs it
//!   (building the cluster, the observer and its invariant checks, the
//!   report).
//!
//! Runs are deterministic, so the step count of one run is the throughput
//! of every run.

mod common;

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herd::sim::{NetworkModel, RunOptions, Scenario, Sim, run};

const NODES: usize = 100;
const VIRTUAL: Duration = Duration::from_secs(5);

/// 100 nodes, every one started with the whole cluster's state.
fn warm_sim() -> Sim {
    let mut sim = Sim::new(1, common::config(), NetworkModel::default());
    let ids = common::ids(NODES);
    let records = common::records(&ids);
    for (i, id) in ids.iter().enumerate() {
        let host = sim.add_host(id.name());
        assert_eq!(sim.addr(host), id.socket_addr());
        sim.start_preloaded(host, &ids, records.clone(), i as u64 + 1);
    }
    sim.take_log();
    sim
}

fn steady_warm() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("simulations/steady-warm.toml");
    // A file of the repository, checked by tests/simulations.rs.
    let mut scenario = Scenario::load(&path).expect("simulations/steady-warm.toml loads");
    scenario.resize(NODES);
    scenario.duration = VIRTUAL;
    scenario
}

fn simulator(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);

    let mut probe = warm_sim();
    let before = probe.steps;
    probe.run_until(VIRTUAL);
    let steps = probe.steps - before;
    let primaries = (0..NODES)
        .filter_map(|i| probe.node(i).and_then(|n| n.primary().cloned()))
        .filter(|p| &**p == "node-0")
        .count();
    assert_eq!(primaries, NODES, "every node names node-0 after the run");
    eprintln!("simulator: engine_warm takes {steps} steps");
    group.throughput(Throughput::Elements(steps));
    group.bench_function(
        BenchmarkId::new("engine_warm", format!("{NODES}x5s")),
        |b| {
            b.iter_batched(
                warm_sim,
                |mut sim| {
                    sim.run_until(VIRTUAL);
                    sim
                },
                BatchSize::PerIteration,
            )
        },
    );

    let scenario = steady_warm();
    let options = RunOptions::default();
    let outcome = run(&scenario, &options);
    assert!(
        outcome.report.breaches.is_empty(),
        "{:?}",
        outcome.report.breaches
    );
    let steps = outcome.performance.steps;
    eprintln!("simulator: steady_warm takes {steps} steps");
    group.throughput(Throughput::Elements(steps));
    group.bench_function(
        BenchmarkId::new("steady_warm", format!("{NODES}x5s")),
        |b| b.iter(|| run(&scenario, &options)),
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion(5);
    targets = simulator
}
criterion_main!(benches);
