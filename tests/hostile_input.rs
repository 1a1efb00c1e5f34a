//! Hostile input (issue 11, item 6): the datagram decoder, plain and
//! sealed, every control message, foca's messages and the configuration
//! parser, fed random and mutated input through the same entry points as
//! the fuzz targets in `fuzz/` (`herd::core::fuzzing`), a bounded number
//! of cases each. The properties:
//!
//! 1. Nothing panics.
//! 2. A datagram that does not open (random bytes, sealed with another key,
//!    plaintext to a node that requires encryption, a sealed datagram with
//!    a flipped bit) changes nothing: the snapshot (members, states,
//!    primary, terms, health) is the same, nothing is sent, and the drop is
//!    counted once under its reason.
//! 3. A control or foca payload in an envelope that opens (sealed with the
//!    node's key, or plain to a node without keys) is answered with at most
//!    `fuzzing::MAX_ANSWERS` datagrams of at most 1,400 bytes each; one that
//!    does not decode is counted as malformed; a control message that
//!    decodes encodes back to itself.
//! 4. Handling one datagram never holds more than `ALLOCATION_BOUND` bytes
//!    more than before it, whatever lengths the payload claims.
//! 5. Configuration text never panics the parser or `validate`; what is
//!    refused comes back as errors with a text; what is accepted starts a
//!    node and reads back the same from the TOML it writes.

#[path = "support/config_check.rs"]
mod config_check;

use std::sync::{RwLock, RwLockReadGuard};

use herd::core::fuzzing::{
    self, Kind, MAX_ANSWERS, Selector, Setup, Target, envelope, keyring, sealed_from, stranger,
};
use herd::core::{DropReason, Keyring, Phase, Snapshot};
use peak_alloc::PeakAlloc;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// The allocator counts for the whole process: the test that measures
/// holds this for writing, every other test for reading.
static MEASURING: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    MEASURING.read().unwrap_or_else(|p| p.into_inner())
}

/// Most bytes handling one datagram may hold beyond what the node held
/// before. The most a well-formed datagram takes is a join request for 300
/// of 4,096 slices: the slices' index (two vectors of 4,096 empty ones,
/// 192 KiB) and 300 answers, about 260 KiB. A length a payload claims
/// reserves no more than a datagram's worth (serde's own `Vec` reserved up
/// to 1 MiB for a forged length, which this bound catches).
const ALLOCATION_BOUND: usize = 320 * 1024;

/// The bytes of a datagram, in the shapes that get past each check of the
/// envelope: anything, herd's magic, a whole valid header.
fn datagram_bytes() -> impl Strategy<Value = Vec<u8>> {
    let header = {
        let mut header = b"HD\x04".to_vec();
        header.extend_from_slice(&[0, 0, fuzzing::CLUSTER.len() as u8]);
        header.extend_from_slice(fuzzing::CLUSTER.as_bytes());
        header
    };
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1600),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|tail| {
            let mut bytes = b"HD".to_vec();
            bytes.extend(tail);
            bytes
        }),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..400)
        )
            .prop_map(move |(flags, kind, tail)| {
                let mut bytes = header.clone();
                bytes[3] = flags & 0b111;
                bytes[4] = kind % 3;
                bytes.extend(tail);
                bytes
            }),
    ]
}

/// Changes to a sample message: bytes overwritten, a cut, bytes inserted.
#[derive(Debug, Clone)]
struct Mutation {
    writes: Vec<(usize, u8)>,
    cut: Option<usize>,
    insert: Option<(usize, Vec<u8>)>,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        prop::option::of(any::<usize>()),
        prop::option::of((any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))),
    )
        .prop_map(|(writes, cut, insert)| Mutation {
            writes,
            cut,
            insert,
        })
}

impl Mutation {
    fn apply(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if bytes.is_empty() {
            return bytes;
        }
        for (at, byte) in &self.writes {
            let len = bytes.len();
            bytes[at % len] = *byte;
        }
        if let Some((at, extra)) = &self.insert {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, extra.iter().copied());
        }
        if let Some(cut) = self.cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        bytes
    }
}

/// A payload: random bytes, or one of the target's sample messages,
/// mutated or whole.
#[derive(Debug, Clone)]
enum Payload {
    Random(Vec<u8>),
    Sample(usize, Option<Mutation>),
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Payload::Random),
        3 => (any::<usize>(), prop::option::weighted(0.8, mutation()))
            .prop_map(|(i, m)| Payload::Sample(i, m)),
    ]
}

impl Payload {
    fn bytes(&self, samples: &[Vec<u8>]) -> Vec<u8> {
        match self {
            Self::Random(bytes) => bytes.clone(),
            Self::Sample(i, mutation) => {
                let sample = samples[i % samples.len()].clone();
                match mutation {
                    Some(mutation) => mutation.apply(sample),
                    None => sample,
                }
            }
        }
    }
}

fn samples(target: &Target, kind: Kind) -> Vec<Vec<u8>> {
    match kind {
        Kind::Control => target.control_samples(),
        Kind::Foca => target.foca_samples(),
    }
}

/// A fuzz input for `fuzzing::control` or `fuzzing::foca`.
fn payload_input(selector: u8, term: u8, kind: Kind, payload: &Payload) -> Vec<u8> {
    let target = Target::new(Selector(selector).setup(), Keyring::default());
    let mut input = vec![selector, term];
    input.extend(payload.bytes(&samples(&target, kind)));
    input
}

/// What a datagram that does not open must leave alone: everything the
/// snapshot shows but the counters.
fn view(snapshot: &Snapshot) -> Snapshot {
    Snapshot {
        stats: Default::default(),
        ..snapshot.clone()
    }
}

/// Runs `test` on `cases` values of `strategy`, holding the allocator's
/// counters shared for the whole run: values are drawn (and failures
/// shrunk) between cases, and that must not happen while the allocation
/// test measures.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let _shared = shared();
    let mut runner = TestRunner::new(ProptestConfig {
        // Failures are reported with their input; the regression files of
        // the core's own properties live elsewhere.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    });
    if let Err(err) = runner.run(&strategy, test) {
        panic!("{err}");
    }
}

/// Cases per property: 2,000 take about a second in all.
const CASES: u32 = 2000;

/// Property 2 at a node without keys, checked by the fuzz entry and here
/// again by hand: random bytes are dropped under the reason their first
/// bytes give, and change nothing.
#[test]
fn random_datagrams_to_a_plain_node_change_nothing() {
    check(CASES, datagram_bytes(), |bytes| {
        if let Err(violation) = fuzzing::packet_plain(&bytes) {
            prop_assert!(false, "{}", violation);
        }
        let mut target = Target::new(Setup::Joined, Keyring::default());
        let before = target.node.snapshot();
        let stats = target.node.stats();
        target.node.handle_packet(target.now, stranger(), &bytes);
        let outputs = target.node.take_outputs();
        let expected = if bytes.len() > 1400 {
            Some(DropReason::TooLarge)
        } else if bytes.len() < 6 || !bytes.starts_with(b"HD") {
            Some(DropReason::NotHerd)
        } else if bytes[2] != herd::core::PROTOCOL_VERSION {
            Some(DropReason::Version)
        } else if bytes[3] & 1 == 1
            && bytes[3] & !0b11 == 0
            && bytes[4] < 2
            && bytes
                .get(5..6 + usize::from(bytes[5]))
                .is_some_and(|n| n[1..] == *b"herd")
        {
            Some(DropReason::Sealed)
        } else {
            fuzzing::drop_reason(&bytes, None)
        };
        if let Some(reason) = expected {
            prop_assert_eq!(
                target.node.stats().dropped(reason),
                stats.dropped(reason) + 1
            );
            prop_assert_eq!(
                target.node.stats().dropped_total(),
                stats.dropped_total() + 1
            );
            prop_assert_eq!(view(&target.node.snapshot()), view(&before));
            prop_assert!(outputs.transmits.is_empty());
            prop_assert!(outputs.events.is_empty());
        } else {
            prop_assert!(outputs.transmits.len() <= MAX_ANSWERS);
        }
        Ok(())
    });
}

/// Property 2 at a node that requires encryption, by hand: sealed with
/// another key, in plaintext, or sealed with the key and then one bit
/// flipped past the header: dropped as `key`, `plaintext` and `key`, and
/// the view is what it was.
#[test]
fn datagrams_that_do_not_open_change_nothing_at_a_node_that_requires_encryption() {
    let strategy = (
        prop_oneof![Just(Kind::Control), Just(Kind::Foca)],
        payload(),
        any::<usize>(),
        any::<bool>(),
    );
    check(CASES, strategy, |(kind, sample, flip, vouching)| {
        let mut target = Target::new(Setup::Joined, keyring(1));
        let payload = sample.bytes(&samples(&target, kind));
        let sealed = target.envelope(kind, vouching, 5, &payload);
        let mut flipped = sealed.clone();
        let bit = sealed_from() * 8 + flip % ((sealed.len() - sealed_from()) * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        let cases = [
            (
                envelope(kind, vouching, 5, &payload, Some(&keyring(2))),
                DropReason::Key,
            ),
            (
                envelope(kind, vouching, 5, &payload, None),
                DropReason::Plaintext,
            ),
            (flipped, DropReason::Key),
        ];
        let before = target.node.snapshot();
        for (datagram, reason) in cases {
            let stats = target.node.stats();
            target
                .node
                .handle_packet(target.now, target.sender(0), &datagram);
            let outputs = target.node.take_outputs();
            prop_assert_eq!(
                target.node.stats().dropped(reason),
                stats.dropped(reason) + 1
            );
            prop_assert_eq!(
                target.node.stats().dropped_total(),
                stats.dropped_total() + 1
            );
            prop_assert!(outputs.transmits.is_empty() && outputs.events.is_empty());
        }
        prop_assert_eq!(view(&target.node.snapshot()), view(&before));
        // The same payload sealed with the key opens.
        let stats = target.node.stats();
        target
            .node
            .handle_packet(target.now, target.sender(0), &sealed);
        let _ = target.node.take_outputs();
        let after = target.node.stats();
        for reason in [DropReason::Key, DropReason::Plaintext, DropReason::Sealed] {
            prop_assert_eq!(after.dropped(reason), stats.dropped(reason));
        }
        Ok(())
    });
}

/// Properties 1 to 3 for the sealed-packet fuzz entry: raw bytes, and
/// bytes sealed with the key, with another key, in plaintext, flipped.
#[test]
fn the_sealed_packet_entry_holds() {
    check(
        CASES,
        prop::collection::vec(any::<u8>(), 0..1500),
        |bytes| {
            if let Err(violation) = fuzzing::packet_sealed(&bytes) {
                prop_assert!(false, "{}", violation);
            }
            Ok(())
        },
    );
}

/// Selector, term and payload of a `control` or `foca` input. Timers (bit 7
/// of the selector) run in a quarter of the cases: they cost most.
fn payload_case() -> impl Strategy<Value = (u8, u8, Payload)> {
    (any::<u8>(), any::<u8>(), payload()).prop_map(|(selector, term, payload)| {
        let selector = if term % 4 == 0 {
            selector
        } else {
            selector & 0x7f
        };
        (selector, term, payload)
    })
}

/// Properties 1 and 3 for every control message, whole, mutated or
/// random, to a joined, joining or lone node, with keys or without.
#[test]
fn control_payloads_are_answered_within_bounds() {
    check(CASES, payload_case(), |(selector, term, payload)| {
        let input = payload_input(selector, term, Kind::Control, &payload);
        if let Err(violation) = fuzzing::control(&input) {
            prop_assert!(false, "{}", violation);
        }
        Ok(())
    });
}

/// Properties 1 and 3 for foca's messages.
#[test]
fn foca_payloads_are_answered_within_bounds() {
    check(CASES, payload_case(), |(selector, term, payload)| {
        let input = payload_input(selector, term, Kind::Foca, &payload);
        if let Err(violation) = fuzzing::foca(&input) {
            prop_assert!(false, "{}", violation);
        }
        Ok(())
    });
}

/// Property 5, random text and a full sample configuration mutated.
#[test]
fn configuration_text_never_panics_and_errors_are_errors() {
    let text = prop_oneof![
        1 => any::<String>(),
        1 => "[a-z_\\[\\]=\" .0-9\n]{0,200}",
        4 => (mutation(), prop::collection::vec(any::<usize>(), 0..3))
            .prop_map(|(m, dropped_lines)| mutate_config(&m, &dropped_lines)),
    ];
    check(CASES, text, |text| {
        if let Err(problem) = config_check::check_config(&text) {
            prop_assert!(false, "{}\n--- config ---\n{}", problem, text);
        }
        Ok(())
    });
}

/// Property 4: with the allocator's counters to itself, every kind of
/// datagram (random bytes, mutated samples, and payloads whose length
/// fields claim the most they can) is handled within `ALLOCATION_BOUND`.
#[test]
fn handling_a_datagram_allocates_a_bounded_amount() {
    let _alone = MEASURING.write().unwrap_or_else(|p| p.into_inner());
    let mut runner = TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(1000)
    });
    let worst = std::cell::RefCell::new((0, String::new()));
    let strategy = (
        any::<u8>(),
        prop_oneof![Just(Kind::Control), Just(Kind::Foca)],
        payload(),
    );
    let result = runner.run(&strategy, |(selector, kind, payload)| {
        let selector = Selector(selector);
        let keys = if selector.keyed() {
            keyring(1)
        } else {
            Keyring::default()
        };
        let mut target = Target::new(selector.setup(), keys);
        let bytes = payload.bytes(&samples(&target, kind));
        let datagram = target.envelope(kind, selector.vouching(), 1, &bytes);
        let from = target.sender(selector.sender());
        let held = measure(|| target.node.handle_packet(target.now, from, &datagram));
        if held > worst.borrow().0 {
            *worst.borrow_mut() = (held, format!("{selector:?} {kind:?} {payload:?}"));
        }
        prop_assert!(held <= ALLOCATION_BOUND, "{} bytes", held);
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let worst = worst.into_inner();
    eprintln!(
        "most held for generated input: {} bytes ({})",
        worst.0, worst.1
    );
    // Length fields that claim the most: a payload of 0xff bytes, and a
    // length of 2^28 at every offset of every sample.
    let mut target = Target::new(Setup::Joined, Keyring::default());
    let mut claimed_worst = (0, String::new());
    for kind in [Kind::Control, Kind::Foca] {
        let mut payloads = vec![vec![0xff; 1300]];
        for sample in samples(&target, kind) {
            for at in 0..sample.len() {
                // The byte at `at` (a one-byte length, if it is one) becomes
                // a u32 varint of 2^28 - 1.
                let mut claimed = sample[..at].to_vec();
                claimed.extend_from_slice(&[0xfc, 0xff, 0xff, 0xff, 0x0f]);
                claimed.extend_from_slice(&sample[at + 1..]);
                payloads.push(claimed);
            }
        }
        for payload in payloads {
            let datagram = target.envelope(kind, true, 1, &payload);
            let held = measure(|| {
                target
                    .node
                    .handle_packet(target.now, target.sender(0), &datagram)
            });
            let _ = target.node.take_outputs();
            assert!(
                held <= ALLOCATION_BOUND,
                "{held} bytes for {kind:?} {:02x?}",
                &payload[..payload.len().min(64)]
            );
            if held > claimed_worst.0 {
                claimed_worst = (
                    held,
                    format!("{kind:?} {:02x?}", &payload[..payload.len().min(32)]),
                );
            }
        }
    }
    eprintln!(
        "most held for claimed lengths: {} bytes ({})",
        claimed_worst.0, claimed_worst.1
    );
}

/// Bytes held at the peak of `work` beyond those held before it.
fn measure(work: impl FnOnce()) -> usize {
    let before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    work();
    ALLOCATOR.peak_usage().saturating_sub(before)
}

/// The targets are what they say, so the fuzzer starts from real states: a
/// member of five with a primary, a joiner that asked its seed (and joins
/// on the sample sync part), a lone founder.
#[test]
fn the_targets_are_what_they_say() {
    let _shared = shared();
    let joined = Target::new(Setup::Joined, keyring(1)).node.snapshot();
    assert_eq!(joined.phase, Phase::Joined);
    assert_eq!(joined.members.len(), fuzzing::PEERS + 1);
    assert!(joined.quorate, "{joined:?}");
    assert_eq!(joined.primary.as_deref(), Some("peer-0"));
    let alone = Target::new(Setup::Alone, Keyring::default())
        .node
        .snapshot();
    assert_eq!((alone.phase, alone.members.len()), (Phase::Joined, 1));
    let mut joining = Target::new(Setup::Joining, Keyring::default());
    assert_eq!(joining.node.phase(), Phase::Joining);
    assert_ne!(joining.join_request, 0);
    // The fourth control sample is the seed's sync part.
    let sync = joining.control_samples()[3].clone();
    let datagram = joining.envelope(Kind::Control, true, 0, &sync);
    let from = joining.sender(0);
    joining.deliver(from, &datagram).unwrap();
    assert_eq!(joining.node.phase(), Phase::Joined);
}

/// The unmutated samples are real messages: they decode, and none is
/// dropped as malformed, so the mutations start from what a peer sends.
#[test]
fn the_samples_are_messages_the_node_takes() {
    let _shared = shared();
    for setup in [Setup::Joined, Setup::Joining, Setup::Alone] {
        for kind in [Kind::Control, Kind::Foca] {
            let probe = Target::new(setup, Keyring::default());
            for (i, sample) in samples(&probe, kind).iter().enumerate() {
                let mut target = Target::new(setup, Keyring::default());
                let datagram = target.envelope(kind, true, 1, sample);
                let from = target.sender(0);
                let delivery = target
                    .deliver(from, &datagram)
                    .unwrap_or_else(|v| panic!("{setup:?} {kind:?} sample {i}: {v}"));
                assert_eq!(delivery.dropped, None);
                let stats = target.node.stats();
                assert_eq!(
                    stats.dropped(DropReason::Malformed),
                    0,
                    "{setup:?} {kind:?} sample {i}"
                );
            }
        }
    }
}

/// A sync request for more slices than a joiner ever asks for, from an
/// address that proved itself (it echoes its cookie), is served with at
/// most `MAX_WANTED` slices, within `MAX_ANSWERS`; from another address
/// it draws at most three times its bytes.
#[test]
fn a_request_for_every_slice_is_served_within_the_bound() {
    let _shared = shared();
    let mut target = Target::new(Setup::Joined, Keyring::default());
    assert!(target.cookie.is_some(), "the second peer got no cookie");
    // The second sample asks for 310 slices of 4,096, with the cookie.
    let request = target.control_samples()[1].clone();
    let datagram = target.envelope(Kind::Control, true, 0, &request);
    let proven = target.sender(1);
    let delivery = target.deliver(proven, &datagram).unwrap();
    assert!(
        (300..=MAX_ANSWERS).contains(&delivery.answers),
        "{} answers",
        delivery.answers
    );
    // From an address that did not echo the cookie: at most three times
    // the request's bytes.
    let delivery = target.deliver(stranger(), &datagram).unwrap();
    assert!(delivery.answers > 0);
    assert!(
        delivery.answer_bytes <= 3 * datagram.len(),
        "{} bytes in answer to {} from a forged address",
        delivery.answer_bytes,
        datagram.len()
    );
}

/// Writes the fuzz targets' seed corpora into `fuzz/corpus/<target>/`
/// (see fuzz/README.md): `cargo test --test hostile_input -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand before fuzzing"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut seeds = fuzzing::seeds();
    seeds.push(("config", config_check::SAMPLE_CONFIG.as_bytes().to_vec()));
    seeds.push(("config", b"name = \"a\"\njoin = [\"b:1\"]\n".to_vec()));
    for (i, (target, bytes)) in seeds.iter().enumerate() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{i:04}")), bytes).unwrap();
    }
    eprintln!("{} seeds in {}", seeds.len(), root.display());
}

/// The sample configuration with some lines left out and its bytes mutated
/// (on character boundaries, so the text stays text).
fn mutate_config(mutation: &Mutation, dropped_lines: &[usize]) -> String {
    let lines: Vec<&str> = config_check::SAMPLE_CONFIG.lines().collect();
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !dropped_lines.iter().any(|d| d % lines.len() == *i))
        .map(|(_, line)| *line)
        .collect();
    let bytes = mutation.apply(kept.join("\n").into_bytes());
    String::from_utf8_lossy(&bytes).into_owned()
}
