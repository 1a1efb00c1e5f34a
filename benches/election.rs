//! The election in a 1,000-member view: a node re-elects after every
//! membership or health change it hears of, so in a large cluster this
//! runs on every such datagram, and the agent then copies the view out
//! for its HTTP side.
//!
//! The election itself (`core::view::Roster`) is private, so it is
//! measured through the public API:
//!
//! - `record_flip`: one datagram carrying a fresher record of the primary
//!   (failing and passing in turn), which makes the view name another
//!   primary: foca, the record, the view and the re-election, at 100 and
//!   1,000 members (the roster is kept incrementally, so the two should be
//!   close);
//! - `snapshot`: `Node::snapshot`, the copy of the view the agent
//!   publishes after every change (a health check reads only that);
//! - `explain`: `core::explain`, the rule applied to a whole snapshot with
//!   every member's reason, as `/v1/explain` answers.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herd::core::explain;

use common::Stream;

const MEMBERS: usize = 1_000;

fn election(c: &mut Criterion) {
    let mut group = c.benchmark_group("election");

    group.throughput(Throughput::Elements(1));
    for members in [100, MEMBERS] {
        let flips = Stream::flips(members, 2_000);
        common::check_flips(&flips);
        group.bench_function(BenchmarkId::new("record_flip", members), |b| {
            b.iter_custom(|iters| flips.run(iters))
        });
    }

    let ids = common::ids(MEMBERS);
    let node = common::warm_node(&ids, &common::records(&ids), 2);
    let snapshot = node.snapshot();
    assert_eq!(snapshot.members.len(), MEMBERS);
    assert_eq!(snapshot.primary.as_deref(), Some("node-0"));
    group.throughput(Throughput::Elements(MEMBERS as u64));
    group.bench_function(BenchmarkId::new("snapshot", MEMBERS), |b| {
        b.iter(|| black_box(&node).snapshot())
    });
    let explained = explain(&snapshot);
    assert!(explained.consistent);
    assert_eq!(explained.candidates.len(), MEMBERS);
    group.bench_function(BenchmarkId::new("explain", MEMBERS), |b| {
        b.iter(|| explain(black_box(&snapshot)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion(3);
    targets = election
}
criterion_main!(benches);
