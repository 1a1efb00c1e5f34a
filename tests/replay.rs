//! Replays change nothing: every sealed datagram of a cluster's history
//! (joins, a leave, a failover, restarts) recorded on the wire and sent
//! again later, to its own receiver and to every other member, moves no
//! view, no role and no term.

use std::time::Duration;

use herd::core::{Key, Keyring, NodeConfig, Snapshot};
use herd::sim::{Logged, NetworkModel, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sealed() -> NodeConfig {
    NodeConfig {
        keyring: Keyring {
            keys: vec![Key::from_bytes([7; 32])],
            seal: true,
            require: true,
            nonce_seed: [0; 32],
        },
        ..NodeConfig::default()
    }
}

/// What a replay must not change in one node's view.
fn view(snapshot: &Snapshot) -> String {
    let mut members: Vec<String> = snapshot
        .members
        .iter()
        .map(|m| {
            format!(
                "{} {:?} life={} admitted={} health={:?} draining={} seniority={:?} primary={}",
                m.name,
                m.state,
                m.incarnation,
                m.admitted,
                m.health,
                m.draining,
                m.seniority,
                m.is_primary
            )
        })
        .collect();
    members.sort();
    format!(
        "{} life={} {:?} seniority={:?} primary={:?} term={:?} highest={} claiming={} quorate={} expected={}\n  {}",
        snapshot.name,
        snapshot.incarnation,
        snapshot.phase,
        snapshot.seniority,
        snapshot.primary,
        snapshot.primary_term,
        snapshot.highest_term,
        snapshot.claiming,
        snapshot.quorate,
        snapshot.expected,
        members.join("\n  ")
    )
}

fn views(sim: &Sim) -> Vec<String> {
    (0..sim.len())
        .filter_map(|i| sim.node(i).map(|n| view(&n.snapshot())))
        .collect()
}

/// A history with every kind of message in it: joins and admissions, a
/// leave, a crash of the primary (roll calls, downs, quorum checks, a new
/// claim), its restart and rejoin, and a quick restart of another member.
fn recorded_history(seed: u64) -> (Sim, Vec<herd::sim::Captured>) {
    let mut sim = Sim::new(seed, sealed(), NetworkModel::default());
    sim.capture = Some(Vec::new());
    for i in 0..6 {
        sim.add_host(&format!("n{i}"));
    }
    sim.start(0, &[]);
    for i in 1..6 {
        sim.start(i, &[0]);
    }
    let formed = sim.run_until_condition(secs(30), |s| {
        (0..6).all(|i| {
            s.node(i).is_some_and(|n| {
                n.primary().map(|p| &**p) == Some("n0")
                    && n.known_members() == 5
                    && n.record().admitted
            })
        })
    });
    assert!(formed, "the cluster did not form");
    sim.command(5, herd::core::Command::Leave);
    sim.run_until(sim.now() + secs(5));
    sim.crash(5);
    sim.crash(0);
    let moved = sim.run_until_condition(sim.now() + secs(30), |s| {
        (1..5).all(|i| {
            s.node(i)
                .is_some_and(|n| n.primary().map(|p| &**p) == Some("n1"))
        })
    });
    assert!(moved, "the role did not move to n1");
    sim.start(0, &[1, 2]);
    sim.crash(3);
    sim.start(3, &[1]);
    sim.run_until(sim.now() + secs(40));
    let captured = sim.capture.take().unwrap_or_default();
    (sim, captured)
}

/// Sends every captured datagram again, in its order, to its receiver and
/// then to every other member, a few at a time with time passing in
/// between so that whatever they provoke has its effect; returns what the
/// nodes logged meanwhile and in the 30 s after.
fn replay(sim: &mut Sim, captured: &[herd::sim::Captured]) -> Vec<String> {
    sim.take_log();
    let hosts: Vec<usize> = (0..sim.len()).collect();
    for (i, datagram) in captured.iter().enumerate() {
        let others = hosts.iter().copied().filter(|h| *h != datagram.to);
        for to in std::iter::once(datagram.to).chain(others) {
            sim.inject(to, datagram.from, &datagram.payload);
        }
        if i % 20 == 19 {
            sim.run_until(sim.now() + Duration::from_millis(10));
        }
    }
    sim.run_until(sim.now() + secs(30));
    sim.take_log()
        .into_iter()
        .filter(|entry| matches!(entry.what, Logged::Node(_)))
        .map(|entry| format!("{:?} n{}: {:?}", entry.at, entry.host, entry.what))
        .collect()
}

fn assert_unchanged(before: &[String], sim: &Sim, changes: &[String], when: &str) {
    assert!(
        changes.is_empty(),
        "{when}: replays moved something:\n{}",
        changes.join("\n")
    );
    let after = views(sim);
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "{when}: a replay changed a view");
    }
}

#[test]
fn replayed_datagrams_change_no_view_seconds_or_hours_later() {
    let (mut sim, captured) = recorded_history(5);
    assert!(captured.len() > 1000, "only {} datagrams", captured.len());
    let before = views(&sim);
    assert_eq!(before.len(), 5);

    let changes = replay(&mut sim, &captured);
    assert_unchanged(&before, &sim, &changes, "at once");

    sim.run_until(sim.now() + secs(2 * 3600));
    sim.take_log();
    let before = views(&sim);
    let changes = replay(&mut sim, &captured);
    assert_unchanged(&before, &sim, &changes, "two hours later");
}
