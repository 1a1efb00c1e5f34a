//! One full input of a node: a datagram through `Node::handle_packet` (the
//! envelope, foca, the records, the view, the election, the claim check)
//! and `Node::take_outputs`, as the agent and the simulator drive it. This
//! is the per-datagram cost of the agent's single node task, and the bulk
//! of every simulator step.
//!
//! The receiver is member 2 of a warm 100-member cluster (every member
//! alive with its record, as the simulator's warm start builds it):
//!
//! - `idle_ping`: a ping with nothing riding along, answered with an ack
//!   (the steady state: most datagrams are this);
//! - `stale_updates`: a `Gossip` as full of membership updates as one
//!   datagram holds, all of them already known (what gossip repeats);
//! - `news_updates`: the same, every update news (a higher SWIM
//!   incarnation each time): foca applies and queues them, the view
//!   rescans;
//! - `record_flip`: a fresher health record of the primary, failing and
//!   passing in turn, so the election names another primary each time.
//!
//! The inputs that change state run on a fresh node every few thousand
//! inputs, built outside the measured time.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use common::Stream;

const MEMBERS: usize = 100;

fn node_input(c: &mut Criterion) {
    let ids = common::ids(MEMBERS);
    let records = common::records(&ids);
    let mut group = c.benchmark_group("node_input");
    group.throughput(Throughput::Elements(1));

    let mut node = common::warm_node(&ids, &records, 2);
    let from = ids[3].socket_addr();
    let ping = common::ping(&ids[3], &ids[2]);
    let outputs = common::deliver(&mut node, from, &ping);
    assert_eq!(outputs.transmits.len(), 1, "a ping is answered with an ack");
    group.bench_function(BenchmarkId::new("idle_ping", MEMBERS), |b| {
        b.iter(|| common::deliver(&mut node, from, black_box(&ping)))
    });

    let (stale, updates) = common::gossip(&ids[3], &ids[2], &ids[4..], 0);
    eprintln!(
        "node_input: {updates} updates in a {}-byte datagram",
        stale.len()
    );
    group.bench_function(BenchmarkId::new("stale_updates", MEMBERS), |b| {
        b.iter(|| common::deliver(&mut node, from, black_box(&stale)))
    });
    assert_eq!(node.stats().dropped_total(), 0, "{:?}", node.stats());

    let (news, per) = Stream::news(MEMBERS, 2_000);
    group.bench_function(BenchmarkId::new("news_updates", MEMBERS), |b| {
        b.iter_custom(|iters| news.run(iters))
    });
    let mut fresh = news.node();
    let before = fresh.stats().gossip_backlog;
    for datagram in &news.datagrams()[..3] {
        let _ = common::deliver(&mut fresh, news.from(), datagram);
    }
    // Every update was news: foca queued each to pass on.
    assert!(
        fresh.stats().gossip_backlog >= before + per as u64,
        "{:?}",
        fresh.stats()
    );
    assert_eq!(fresh.stats().dropped_total(), 0, "{:?}", fresh.stats());

    let flips = Stream::flips(MEMBERS, 2_000);
    common::check_flips(&flips);
    group.bench_function(BenchmarkId::new("record_flip", MEMBERS), |b| {
        b.iter_custom(|iters| flips.run(iters))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion(3);
    targets = node_input
}
criterion_main!(benches);
