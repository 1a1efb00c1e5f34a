//! Datagram encode and decode: every datagram a node sends or receives
//! goes through this, so it bounds how much gossip one core can move.
//!
//! Two real datagrams, taken from a simulated cluster of 80 nodes joining
//! (the crate's own bytes): an idle ping (no updates, no records) and the
//! foca datagram carrying the most membership updates. For each:
//!
//! - `encode`: the foca payload (header, updates, records) and the
//!   envelope around it (`fuzzing::encode_foca_datagram`: the crate's
//!   `WireCodec` and `codec::seal`);
//! - `decode`: the envelope opened and the payload read
//!   (`fuzzing::decode_foca_datagram`: `codec::open` and `WireCodec`);
//! - `seal_keyed` / `open_keyed`: the envelope alone with a key
//!   (XChaCha20-Poly1305; each call also sets the cipher up, as these
//!   public entry points do and a node does not).
//!
//! The benchmark first checks that every captured foca datagram decodes
//! and encodes back to the same bytes.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herd::core::fuzzing::{self, FocaDatagram, Kind};
use herd::sim::{NetworkModel, Sim};

/// A datagram to measure, and what it holds.
struct Sample {
    name: &'static str,
    datagram: Vec<u8>,
    decoded: FocaDatagram,
}

impl Sample {
    fn payload(&self) -> &[u8] {
        // Samples are plaintext datagrams (the simulated cluster has no
        // keys).
        &self.datagram[common::payload_offset()..]
    }
}

/// Whether a datagram carries a foca message: byte 4 of the envelope is
/// its kind, 0 for foca (the layout is documented in `src/core/codec.rs`).
fn is_foca(datagram: &[u8]) -> bool {
    datagram.get(4) == Some(&0)
}

/// Runs 80 nodes joining through the first for 5 virtual seconds and picks
/// the smallest ping without records and the foca datagram with the most
/// updates, checking that every foca datagram decodes and encodes back to
/// the bytes the node sent.
fn samples() -> Vec<Sample> {
    let mut sim = Sim::new(7, common::config(), NetworkModel::default());
    for i in 0..80 {
        sim.add_host(&format!("node-{i}"));
    }
    sim.start(0, &[]);
    for i in 1..80 {
        sim.start(i, &[0]);
    }
    sim.capture = Some(Vec::new());
    sim.run_until(Duration::from_secs(5));
    let captured = sim.capture.take().unwrap_or_default();
    let mut idle: Option<(Vec<u8>, FocaDatagram)> = None;
    let mut full: Option<(Vec<u8>, FocaDatagram)> = None;
    let mut foca = 0;
    for datagram in captured.into_iter().map(|c| c.payload) {
        if !is_foca(&datagram) {
            continue;
        }
        foca += 1;
        let decoded = match fuzzing::decode_foca_datagram(&datagram, None) {
            Ok(decoded) => decoded,
            Err(reason) => panic!("a captured foca datagram does not decode: {reason:?}"),
        };
        assert_eq!(
            fuzzing::encode_foca_datagram(&decoded, None).as_deref(),
            Ok(&datagram[..]),
            "a captured foca datagram does not encode back to the same bytes"
        );
        if matches!(decoded.header.message, foca::Message::Ping(_))
            && decoded.updates.is_empty()
            && decoded.records.is_empty()
            && idle.as_ref().is_none_or(|(d, _)| datagram.len() < d.len())
        {
            idle = Some((datagram.clone(), decoded.clone()));
        }
        let updates = decoded.updates.len();
        if full
            .as_ref()
            .is_none_or(|(d, f)| (updates, datagram.len()) > (f.updates.len(), d.len()))
        {
            full = Some((datagram, decoded));
        }
    }
    assert!(
        foca > 100,
        "the simulated cluster sent {foca} foca datagrams"
    );
    let (idle, idle_decoded) = idle.expect("an idle ping among the captured datagrams");
    let (full, full_decoded) = full.expect("foca datagrams were captured");
    let updates = full_decoded.updates.len();
    assert!(updates >= 10, "the fullest datagram has {updates} updates");
    eprintln!(
        "codec samples: idle ping {} bytes; fullest {} bytes with {updates} updates and {} records",
        idle.len(),
        full.len(),
        full_decoded.records.len()
    );
    vec![
        Sample {
            name: "idle_ping",
            datagram: idle,
            decoded: idle_decoded,
        },
        Sample {
            name: "full_updates",
            datagram: full,
            decoded: full_decoded,
        },
    ]
}

fn codec(c: &mut Criterion) {
    let keyring = fuzzing::keyring(1);
    let mut group = c.benchmark_group("codec");
    for sample in samples() {
        let decoded = &sample.decoded;
        group.throughput(Throughput::Bytes(sample.datagram.len() as u64));

        group.bench_function(BenchmarkId::new("encode", sample.name), |b| {
            b.iter(|| fuzzing::encode_foca_datagram(black_box(decoded), None))
        });

        group.bench_function(BenchmarkId::new("decode", sample.name), |b| {
            b.iter(|| fuzzing::decode_foca_datagram(black_box(&sample.datagram), None))
        });

        let payload = sample.payload();
        let sealed = fuzzing::envelope(
            Kind::Foca,
            decoded.vouching,
            decoded.term,
            payload,
            Some(&keyring),
        );
        group.bench_function(BenchmarkId::new("seal_keyed", sample.name), |b| {
            b.iter(|| {
                fuzzing::envelope(
                    Kind::Foca,
                    decoded.vouching,
                    decoded.term,
                    black_box(payload),
                    Some(&keyring),
                )
            })
        });
        group.bench_function(BenchmarkId::new("open_keyed", sample.name), |b| {
            b.iter(|| fuzzing::drop_reason(black_box(&sealed), Some(&keyring)))
        });
        assert_eq!(fuzzing::drop_reason(&sealed, Some(&keyring)), None);
        assert_eq!(
            fuzzing::decode_foca_datagram(&sealed, Some(&keyring)).as_ref(),
            Ok(decoded)
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion(3);
    targets = codec
}
criterion_main!(benches);
