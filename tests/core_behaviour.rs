//! The core's rules, checked on simulated clusters: what a frozen, restarted
//! or partitioned member does to the primary role.

use std::time::Duration;

use herd::core::{MemberState, NodeConfig};
use herd::sim::{NetworkModel, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A converged cluster of `n`, host 0 founding it: every member knows every
/// other and is admitted to the quorum (a founder that crashed before the
/// others were admitted would leave them without a majority to admit them).
fn cluster(n: usize, seed: u64) -> Sim {
    let mut sim = Sim::new(seed, NodeConfig::default(), NetworkModel::default());
    for i in 0..n {
        sim.add_host(&format!("n{i}"));
    }
    sim.start(0, &[]);
    for i in 1..n {
        sim.start(i, &[0]);
    }
    let converged = sim.run_until_condition(secs(30), |s| {
        (0..n).all(|i| {
            s.node(i).is_some_and(|node| {
                node.primary().map(|p| &**p) == Some("n0")
                    && node.known_members() == n - 1
                    && node.record().admitted
            })
        })
    });
    assert!(converged, "the cluster did not converge");
    sim
}

fn primaries(sim: &Sim, hosts: impl Iterator<Item = usize>) -> Vec<Option<String>> {
    hosts
        .map(|i| sim.node(i).and_then(|n| n.primary().map(|p| p.to_string())))
        .collect()
}

fn claimants(sim: &Sim) -> Vec<usize> {
    (0..sim.len())
        .filter(|i| sim.is_running(*i) && sim.node(*i).is_some_and(|n| n.is_claiming()))
        .collect()
}

#[test]
fn a_frozen_primary_that_was_declared_down_does_not_take_the_role_back() {
    let mut sim = cluster(5, 7);
    sim.freeze(0, secs(12));
    let t = sim.now();
    let moved = sim.run_until_condition(t + secs(12), |s| {
        primaries(s, 1..5)
            .iter()
            .all(|p| p.as_deref() == Some("n1"))
            || primaries(s, 1..5)
                .iter()
                .all(|p| p.is_some() && p.as_deref() != Some("n0"))
    });
    assert!(moved, "the role did not move off the frozen primary");
    let successor = primaries(&sim, 1..2)[0].clone();
    sim.run_until(t + secs(40));
    // n0 thawed, learned it was declared down, rejoined behind the successor.
    let node = sim.node(0).expect("n0 runs");
    assert!(node.stats().rejoins >= 1, "n0 did not rejoin");
    // Its fresh foca probes alone: the old foca's probe timer, left in the
    // queue, cut every probe cycle short (an error a second) and the node
    // never found a member dead again.
    assert_eq!(node.stats().timer_errors, 0);
    assert_eq!(primaries(&sim, 0..5), vec![successor.clone(); 5]);
    assert_eq!(claimants(&sim).len(), 1);
    for i in 0..5 {
        assert_eq!(
            sim.node(i).and_then(|n| n.member_state("n0")),
            Some(MemberState::Alive)
        );
    }
}

#[test]
fn a_restarted_member_rejoins_behind_the_working_primary() {
    let mut sim = cluster(5, 11);
    sim.crash(0);
    let t = sim.now();
    assert!(sim.run_until_condition(t + secs(30), |s| {
        let p = primaries(s, 1..5);
        p.iter()
            .all(|x| x.is_some() && *x == p[0] && x.as_deref() != Some("n0"))
    }));
    let successor = primaries(&sim, 1..2)[0].clone();
    sim.start(0, &[1, 2]);
    let t = sim.now();
    assert!(sim.run_until_condition(t + secs(30), |s| {
        (0..5).all(|i| {
            s.node(i)
                .is_some_and(|n| n.member_state("n0") == Some(MemberState::Alive))
        }) && s.node(0).is_some_and(|n| n.record().seniority.is_some())
    }));
    sim.run_until(sim.now() + secs(30));
    assert_eq!(primaries(&sim, 0..5), vec![successor; 5]);
    assert_eq!(claimants(&sim).len(), 1);
}

#[test]
fn a_minority_partition_stops_claiming_and_the_cluster_heals_to_one_primary() {
    let mut sim = cluster(5, 3);
    // n0 (the primary) and n1 on one side, n2..n4 on the other.
    sim.partition.place(0, 1);
    sim.partition.place(1, 1);
    sim.partition.cut_between_sides();
    let t = sim.now();
    let mut overlap = Duration::ZERO;
    let mut last = t;
    let split = sim.run_until_condition(t + secs(30), |s| {
        primaries(s, 2..5)
            .iter()
            .all(|p| p.as_deref() == Some("n2"))
            && s.node(2).is_some_and(|n| n.is_claiming())
    });
    assert!(split, "the majority did not elect a primary of its own");
    // The minority's old primary stopped claiming before the majority's
    // new one started.
    assert!(!sim.node(0).expect("n0").is_claiming());
    while sim.now() < t + secs(60) {
        let next = sim.now() + Duration::from_millis(10);
        sim.run_until(next);
        if claimants(&sim).len() > 1 {
            overlap += sim.now() - last;
        }
        last = sim.now();
    }
    assert_eq!(
        overlap,
        Duration::ZERO,
        "two claimants during the partition"
    );
    assert_eq!(
        primaries(&sim, 0..2),
        vec![None, None],
        "the minority elects nobody"
    );

    sim.partition.heal();
    let t = sim.now();
    let healed = sim.run_until_condition(t + secs(120), |s| {
        (0..5).all(|i| {
            s.node(i).is_some_and(|n| {
                n.primary().map(|p| &**p) == Some("n2")
                    && (0..5).all(|j| n.member_state(&format!("n{j}")) == Some(MemberState::Alive))
            })
        })
    });
    assert!(healed, "the partition did not heal to one primary");
    assert_eq!(claimants(&sim), vec![2]);
}

#[test]
fn a_primary_made_ineligible_hands_the_role_over_and_does_not_take_it_back() {
    let mut sim = cluster(3, 5);
    sim.command(0, herd::core::Command::SetEligible(false));
    let t = sim.now();
    let moved = sim.run_until_condition(t + secs(10), |s| {
        primaries(s, 0..3)
            .iter()
            .all(|p| p.as_deref() == Some("n1"))
            && claimants(s) == [1]
    });
    assert!(moved, "the role did not move off the ineligible primary");
    assert!(
        sim.node(0)
            .is_some_and(|n| !n.record().eligible && n.record().seniority.is_none())
    );
    // Eligible again: a candidate behind the working primary.
    sim.command(0, herd::core::Command::SetEligible(true));
    let t = sim.now();
    assert!(sim.run_until_condition(t + secs(10), |s| {
        s.node(0)
            .is_some_and(|n| n.record().eligible && n.record().seniority.is_some())
    }));
    sim.run_until(sim.now() + secs(10));
    assert_eq!(primaries(&sim, 0..3), vec![Some("n1".to_owned()); 3]);
    assert_eq!(claimants(&sim), vec![1]);
}
