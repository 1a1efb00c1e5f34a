//! What the benchmarks share: a warm cluster built through the public API
//! (as the simulator's warm start builds one), and foca datagrams written
//! by the crate's own codec (`fuzzing::encode_foca_datagram`).

// Each bench binary uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herd::core::fuzzing::{self, FocaDatagram};
use herd::core::{DropReason, HealthRecord, HealthStatus, Node, NodeConfig, NodeId, Start, Time};
use herd::sim::host_addr;

/// The time every fixture starts at.
pub const START: Time = Duration::from_secs(1);

/// The settings of every benchmark node: the defaults (cluster
/// [`fuzzing::CLUSTER`], the one `fuzzing::envelope` writes).
pub fn config() -> NodeConfig {
    NodeConfig {
        cluster: fuzzing::CLUSTER.to_owned(),
        ..NodeConfig::default()
    }
}

/// The identity of member `i`: `node-{i}` at the simulator's address of
/// host `i`, first life.
pub fn id(i: usize) -> NodeId {
    // A fixed, valid name: this cannot fail.
    NodeId::new(&format!("node-{i}"), host_addr(i), 1).expect("node-N is a valid member name")
}

/// `n` members' identities.
pub fn ids(n: usize) -> Vec<NodeId> {
    (0..n).map(id).collect()
}

/// Every member's record as the simulator's warm start writes it: passing,
/// admitted, seniority `i + 1` (so `node-0` is the primary).
pub fn records(ids: &[NodeId]) -> Vec<Arc<HealthRecord>> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let mut record = HealthRecord::new(id.name().clone(), 1, 0, true);
            record.version = 1;
            record.seniority = Some(i as u64 + 1);
            record.admitted = true;
            Arc::new(record)
        })
        .collect()
}

/// Member `index` of a warm cluster of `ids`, its start-up outputs taken.
pub fn warm_node(ids: &[NodeId], records: &[Arc<HealthRecord>], index: usize) -> Node {
    let mut node = Node::new(
        config(),
        ids[index].clone(),
        index as u64 + 1,
        Start::Join(Vec::new()),
        START,
    )
    // The default configuration is valid.
    .expect("the default configuration is valid");
    node.preload(START, ids, records.to_vec(), index as u64 + 1);
    let _ = node.take_outputs();
    node
}

/// Where a plaintext datagram's payload starts: the envelope's header
/// (the part a seal covers from, `fuzzing::sealed_from`) and the term (the
/// layout is documented in `src/core/codec.rs`).
pub fn payload_offset() -> usize {
    fuzzing::sealed_from() + 8
}

/// The sender address of member `i`.
pub fn addr(i: usize) -> SocketAddr {
    host_addr(i)
}

/// A record of member `i` one step fresher, passing or failing.
pub fn flipped(
    records: &[Arc<HealthRecord>],
    i: usize,
    version: u64,
    failing: bool,
) -> HealthRecord {
    let mut record = HealthRecord::clone(&records[i]);
    record.version = version;
    record.status = if failing {
        HealthStatus::Failing
    } else {
        HealthStatus::Passing
    };
    record
}

/// A plaintext foca datagram, as a vouching member sends it.
fn datagram(
    from: &NodeId,
    to: &NodeId,
    message: foca::Message<NodeId>,
    updates: Vec<foca::Member<NodeId>>,
    records: Vec<HealthRecord>,
) -> Result<Vec<u8>, DropReason> {
    let message = FocaDatagram {
        vouching: true,
        term: 0,
        header: foca::Header {
            src: from.clone(),
            src_incarnation: 0,
            dst: to.clone(),
            message,
        },
        updates,
        records,
    };
    fuzzing::encode_foca_datagram(&message, None)
}

/// An idle ping from `from` to `to`: no updates, no records.
pub fn ping(from: &NodeId, to: &NodeId) -> Vec<u8> {
    datagram(from, to, foca::Message::Ping(7), Vec::new(), Vec::new()).expect("a ping encodes")
}

/// A `Gossip` from `from` to `to` with as many of `members` (alive at SWIM
/// incarnation `incarnation`) as fit one datagram; returns it and how many
/// fit.
pub fn gossip(
    from: &NodeId,
    to: &NodeId,
    members: &[NodeId],
    incarnation: u16,
) -> (Vec<u8>, usize) {
    let mut updates = Vec::new();
    let mut fits = None;
    for member in members {
        updates.push(foca::Member::new(
            member.clone(),
            incarnation,
            foca::State::Alive,
        ));
        match datagram(from, to, foca::Message::Gossip, updates.clone(), Vec::new()) {
            Ok(datagram) => fits = Some(datagram),
            Err(DropReason::TooLarge) => {
                updates.pop();
                break;
            }
            Err(reason) => panic!("updates do not encode: {reason:?}"),
        }
    }
    (fits.expect("one update fits a datagram"), updates.len())
}

/// A `Broadcast` from `from` to `to` carrying `record`.
pub fn broadcast(from: &NodeId, to: &NodeId, record: &HealthRecord) -> Vec<u8> {
    datagram(
        from,
        to,
        foca::Message::Broadcast,
        Vec::new(),
        vec![record.clone()],
    )
    .expect("a record encodes")
}

/// One input: `datagram` from `from`, then the outputs taken (as every
/// driver does after every input).
pub fn deliver(node: &mut Node, from: SocketAddr, datagram: &[u8]) -> herd::core::Outputs {
    node.handle_packet(START, from, datagram);
    node.take_outputs()
}

/// A stream of datagrams, each changing something, from one member of a
/// warm cluster to another: measured on a fresh node every
/// `datagrams().len()` inputs, so that what they pile up (timers, backlog)
/// stays that of a live node.
pub struct Stream {
    ids: Vec<NodeId>,
    records: Vec<Arc<HealthRecord>>,
    receiver: usize,
    sender: usize,
    datagrams: Vec<Vec<u8>>,
}

impl Stream {
    /// In a cluster of `n` (at least 4) seen by member 2, `count` fresher
    /// records of the primary (`node-0`) from `node-3`, failing and passing
    /// in turn: the election moves from `node-0` to `node-1` and back.
    /// Member 2 is neither, so no claim starts: the measured path is foca,
    /// the record, the view and the election.
    pub fn flips(n: usize, count: usize) -> Self {
        let ids = ids(n);
        let records = records(&ids);
        let datagrams = (0..count)
            .map(|k| {
                let record = flipped(&records, 0, 2 + k as u64, k % 2 == 0);
                broadcast(&ids[3], &ids[2], &record)
            })
            .collect();
        Self {
            ids,
            records,
            receiver: 2,
            sender: 3,
            datagrams,
        }
    }

    /// In a cluster of `n` seen by member 2, `count` `Gossip` datagrams
    /// from `node-3`, each as full of updates as one datagram holds, every
    /// update news (the members refute at a higher SWIM incarnation each
    /// time). Returns the stream and the updates per datagram.
    pub fn news(n: usize, count: usize) -> (Self, usize) {
        let ids = ids(n);
        let records = records(&ids);
        let mut per = 0;
        let datagrams = (0..count)
            .map(|k| {
                // SWIM incarnations are u16; a stream is far shorter.
                let incarnation = u16::try_from(k + 1).expect("a short stream");
                let (datagram, fit) = gossip(&ids[3], &ids[2], &ids[4..], incarnation);
                per = fit;
                datagram
            })
            .collect();
        let stream = Self {
            ids,
            records,
            receiver: 2,
            sender: 3,
            datagrams,
        };
        (stream, per)
    }

    /// A fresh receiving node.
    pub fn node(&self) -> Node {
        warm_node(&self.ids, &self.records, self.receiver)
    }

    /// The datagrams, in order.
    pub fn datagrams(&self) -> &[Vec<u8>] {
        &self.datagrams
    }

    /// The sender's address.
    pub fn from(&self) -> SocketAddr {
        self.ids[self.sender].socket_addr()
    }

    /// Criterion's `iter_custom` body: `iters` inputs, on a fresh node
    /// every `datagrams().len()` of them (built outside the measured
    /// time).
    #[allow(clippy::disallowed_methods)] // A benchmark measures wall time.
    pub fn run(&self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters as usize;
        let from = self.from();
        while left > 0 {
            let mut node = self.node();
            let chunk = &self.datagrams[..left.min(self.datagrams.len())];
            let started = std::time::Instant::now();
            for datagram in chunk {
                drop(std::hint::black_box(deliver(&mut node, from, datagram)));
            }
            total += started.elapsed();
            left -= chunk.len();
        }
        total
    }
}

/// Panics unless the first flips of `stream` (from [`Stream::flips`]) move
/// the election as they should, and nothing is dropped.
pub fn check_flips(stream: &Stream) {
    let mut node = stream.node();
    assert_eq!(node.primary().map(|p| &**p), Some("node-0"));
    for (k, datagram) in stream.datagrams().iter().take(4).enumerate() {
        let _ = deliver(&mut node, stream.from(), datagram);
        let expected = if k % 2 == 0 { "node-1" } else { "node-0" };
        assert_eq!(
            node.primary().map(|p| &**p),
            Some(expected),
            "flip {k} did not move the election"
        );
    }
    assert_eq!(node.stats().dropped_total(), 0, "{:?}", node.stats());
}

/// Every benchmark's criterion settings: a second of warm-up, then
/// `measure_secs` of measurement, so `cargo bench` stays a few minutes.
pub fn criterion(measure_secs: u64) -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measure_secs))
}
