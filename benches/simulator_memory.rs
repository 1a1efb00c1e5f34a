//! Heap per (node, member) pair in the simulator, counted by a counting
//! allocator (`peak_alloc`): what bounds the largest cluster one machine
//! can simulate (issue 15: at most 200 B per pair, so 10,000 nodes fit).
//!
//! `cargo bench --bench simulator_memory -- [NODES] [VIRTUAL_SECONDS]`
//! (default 1,000 nodes, 60 s): a warm cluster of NODES (every node starts
//! with the whole cluster's state, as `simulations/steady-warm.toml` does)
//! runs undisturbed; the heap is counted once built, after the run, and at
//! its peak, each divided by NODES squared.
//!
//! `cargo bench --bench simulator_memory -- agent [MEMBERS]` (default
//! 1,000) counts instead the heap of one node holding MEMBERS members, as
//! an agent holds its view: nothing shared with other nodes.

// The wall time a run took is part of what this measures.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use herd::sim::{NetworkModel, Sim};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let nodes = numbers.first().copied().unwrap_or(1_000) as usize;
    if std::env::args().any(|arg| arg == "agent") {
        return agent(nodes.max(2));
    }
    let seconds = numbers.get(1).copied().unwrap_or(60);
    let pairs = (nodes * nodes) as f64;
    let per_pair = |bytes: usize, base: usize| bytes.saturating_sub(base) as f64 / pairs;

    let base = HEAP.current_usage();
    let wall = Instant::now();
    let mut sim = Sim::new(1, common::config(), NetworkModel::default());
    let ids = common::ids(nodes);
    let records = common::records(&ids);
    for (i, id) in ids.iter().enumerate() {
        let host = sim.add_host(id.name());
        sim.start_preloaded(host, &ids, records.clone(), i as u64 + 1);
        // Each preload logs an event per member: taken now, as
        // `steady-warm.toml`'s run does, or the log would hold n² of them.
        sim.take_log();
    }
    drop((ids, records));
    let built = HEAP.current_usage();
    println!(
        "{nodes} nodes built in {:.1} s: {:.0} B per pair ({:.2} GiB); peak while building {:.0} B per pair",
        wall.elapsed().as_secs_f64(),
        per_pair(built, base),
        gib(built - base),
        per_pair(HEAP.peak_usage(), base)
    );
    let start = sim.now();
    let mut last = Instant::now();
    for second in 1..=seconds {
        sim.run_until(start + Duration::from_secs(second));
        sim.take_log();
        if last.elapsed() > Duration::from_secs(30) {
            last = Instant::now();
            println!(
                "  {second} virtual s: {:.0} B per pair",
                per_pair(HEAP.current_usage(), base)
            );
        }
    }
    let after = HEAP.current_usage();
    let peak = HEAP.peak_usage();
    println!(
        "after {seconds} virtual s ({:.1} s wall): {:.0} B per pair ({:.2} GiB); peak {:.0} B per pair ({:.2} GiB)",
        wall.elapsed().as_secs_f64(),
        per_pair(after, base),
        gib(after - base),
        per_pair(peak, base),
        gib(peak - base)
    );
}

fn gib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// One node of a warm cluster of `members`, built alone: what an agent's
/// view of that cluster takes on the heap.
fn agent(members: usize) {
    let base = HEAP.current_usage();
    let ids = common::ids(members);
    let records = common::records(&ids);
    // A secondary, as all but one agent are.
    let node = common::warm_node(&ids, &records, 1);
    drop((ids, records));
    let held = HEAP.current_usage().saturating_sub(base);
    println!(
        "one node holding {members} members, as an agent holds them: {:.2} MiB on the heap, {:.0} B per member; peak while building {:.2} MiB",
        held as f64 / f64::from(1u32 << 20),
        held as f64 / members as f64,
        HEAP.peak_usage().saturating_sub(base) as f64 / f64::from(1u32 << 20)
    );
    drop(node);
}
