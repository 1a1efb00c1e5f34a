//! Agents on hosts of their own (network namespaces behind one bridge),
//! through faults loopback cannot make: a switch reboot, a three-way split,
//! a one-way cut; and, with the primary's lease, a killed or frozen
//! primary, a killed witness, a 3/2 split and a one-way cut watched every
//! 20 ms for two hosts answering 200 at once. See `tests/support/netns.rs` for the harness. Without root
//! and iproute2 every test says it skips and passes.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::netns::{GOSSIP_PORT, Net, address};
use support::wait_until;

/// How long each fault is held.
const FAULT: Duration = Duration::from_secs(30);
/// After a fault is lifted, one primary again within this.
const HEAL: Duration = Duration::from_secs(20);
/// After a fault starts, how long a node that lost its majority may still
/// claim: one probe period and timeout to notice (1.5 s), the check
/// quorum's two probe timeouts (1 s), and the 3 s suspicion timeout for a
/// claimant that only stops once it holds the others down, plus slack for
/// a loaded machine.
const GRACE: Duration = Duration::from_secs(6);
/// Between two polls.
const POLL: Duration = Duration::from_millis(200);

/// What a watch of `/health/primary` during a fault saw.
struct Claims {
    /// Claims seen after `GRACE`: (host, time since the fault began).
    late: Vec<(String, Duration)>,
    /// The last time since the fault began that any host claimed.
    last: Option<Duration>,
}

/// Polls `/health/primary` on `among` until `duration` after `since`.
fn watch_claims(net: &Net, among: &[usize], since: Instant, duration: Duration) -> Claims {
    let mut claims = Claims {
        late: Vec::new(),
        last: None,
    };
    while since.elapsed() < duration {
        for name in net.claimants(among) {
            let at = since.elapsed();
            claims.last = Some(at);
            if at >= GRACE {
                claims.late.push((name, at));
            }
        }
        std::thread::sleep(POLL);
    }
    claims
}

/// Waits up to `HEAL` for one primary that every host names; what it was
/// and when, or what the views were at the deadline.
fn one_primary_after(net: &Net, since: Instant) -> Result<(String, Duration), String> {
    let all = net.all();
    let before = net.received();
    let mut primary = None;
    if wait_until(HEAL, || {
        primary = net.agreed_on(&all);
        primary.is_some()
    }) {
        Ok((primary.unwrap_or_default(), since.elapsed()))
    } else {
        let heard: Vec<(String, f64)> = net
            .received()
            .iter()
            .zip(&before)
            .zip(net.hosts())
            .map(|((after, before), host)| (host.name.clone(), after - before))
            .collect();
        Err(format!(
            "no single agreed primary within {HEAL:?}: claimants {:?}, views {:?}, \
             datagrams received since the fault was lifted {heard:?}",
            net.claimants(&all),
            net.views(&all)
        ))
    }
}

fn late_claims(claims: &Claims, fault: &str) -> Option<String> {
    (!claims.late.is_empty()).then(|| {
        let mut first: BTreeMap<&str, (Duration, usize)> = BTreeMap::new();
        for (name, at) in &claims.late {
            first.entry(name).or_insert((*at, 0)).1 += 1;
        }
        format!(
            "during the {fault}, hosts still answered 200 on /health/primary after {GRACE:?} \
             (host: first seen, polls): {first:?}"
        )
    })
}

#[test]
fn five_hosts_join_and_exactly_one_claims_the_primary_role() {
    let Some(mut net) = Net::new("five_hosts_join", 5) else {
        return;
    };
    let primary = net.start_cluster(&[]);
    let all = net.all();
    assert_eq!(net.claimants(&all), std::slice::from_ref(&primary));
    // Every member is seen at its own host's address.
    for host in net.hosts() {
        let members = host.members().expect("members");
        for member in &members {
            let i = net
                .index_of(member["name"].as_str().expect("name"))
                .expect("a host");
            let expected = format!("{}:{GOSSIP_PORT}", address(i));
            assert_eq!(member["addr"], expected.as_str(), "in {}'s view", host.name);
        }
    }
    eprintln!("five hosts: {primary} is the one primary");
}

#[test]
fn after_a_switch_reboot_nobody_claims_alone_and_one_primary_returns() {
    let Some(mut net) = Net::new("switch_reboot", 5) else {
        return;
    };
    let primary = net.start_cluster(&[]);
    let all = net.all();

    let cut = Instant::now();
    net.switch_down();
    let claims = watch_claims(&net, &all, cut, FAULT);
    net.switch_up();
    let up = Instant::now();
    let healed = one_primary_after(&net, up);
    eprintln!(
        "switch reboot: primary was {primary}; last claim {:?} after the links went down; \
         after they came back: {healed:?}",
        claims.last
    );

    let mut failures: Vec<String> = late_claims(&claims, "outage").into_iter().collect();
    if let Err(err) = healed {
        failures.push(format!("after the links came back: {err}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_two_two_one_split_has_no_primary_and_heals_to_one() {
    let Some(mut net) = Net::new("split_2_2_1", 5) else {
        return;
    };
    let primary = net.start_cluster(&[]);
    let all = net.all();
    // The primary and one other, two others, and the last alone.
    let p = net.index_of(&primary).expect("the primary is a host");
    let mut order = vec![p];
    order.extend(all.iter().copied().filter(|i| *i != p));
    let groups: [&[usize]; 3] = [&order[0..2], &order[2..4], &order[4..5]];

    let split = Instant::now();
    net.partition(&groups);
    let claims = watch_claims(&net, &all, split, FAULT);
    net.heal();
    let healed = one_primary_after(&net, Instant::now());
    eprintln!(
        "2/2/1 split {groups:?}: primary was {primary}; last claim {:?} after the split; \
         after the heal: {healed:?}",
        claims.last
    );

    let mut failures: Vec<String> = late_claims(&claims, "split").into_iter().collect();
    if let Err(err) = healed {
        failures.push(format!("after the heal: {err}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_one_way_cut_into_the_primary_gets_no_other_member_declared_down() {
    let Some(mut net) = Net::new("one_way_cut", 5) else {
        return;
    };
    let primary = net.start_cluster(&[]);
    let p = net.index_of(&primary).expect("the primary is a host");
    let hearing: Vec<usize> = net.all().into_iter().filter(|i| *i != p).collect();

    let cut = Instant::now();
    net.deafen(p);
    // (viewer, member) -> (first seen down, polls seen down)
    let mut downs: BTreeMap<(String, String), (Duration, usize)> = BTreeMap::new();
    let mut unanswered: BTreeMap<String, usize> = BTreeMap::new();
    let mut cut_one_down_at = None;
    let mut last_claim_by_cut = None;
    while cut.elapsed() < FAULT {
        for i in &hearing {
            let viewer = &net.host(*i).name;
            let Some(members) = net.host(*i).members() else {
                *unanswered.entry(viewer.clone()).or_default() += 1;
                continue;
            };
            for member in &members {
                let name = member["name"].as_str().unwrap_or_default();
                if member["state"] != "down" {
                    continue;
                }
                if name == primary {
                    cut_one_down_at.get_or_insert(cut.elapsed());
                } else {
                    downs
                        .entry((viewer.clone(), name.to_owned()))
                        .or_insert((cut.elapsed(), 0))
                        .1 += 1;
                }
            }
        }
        if net.host(p).status("/health/primary") == Some(200) {
            last_claim_by_cut = Some(cut.elapsed());
        }
        std::thread::sleep(POLL);
    }
    net.undeafen(p);
    let views = net.views(&hearing);
    eprintln!(
        "one-way cut into {primary}: others held it down from {cut_one_down_at:?}; \
         it last claimed {last_claim_by_cut:?} after the cut; views at the end {views:?}; \
         others declared down (viewer, member: first seen, polls): {downs:?}; \
         unanswered polls {unanswered:?}"
    );

    let mut failures = Vec::new();
    if !downs.is_empty() {
        failures.push(format!(
            "members that hear each other were declared down (viewer, member: first seen, \
             polls): {downs:?}"
        ));
    }
    if !unanswered.is_empty() {
        failures.push(format!("agents did not answer /v1/members: {unanswered:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Three hosts whose agents run with the primary's lease on (a
/// configuration file in the test's log directory), steady under it: the
/// net, the primary's name and index, and the other hosts. `None` where
/// namespaces cannot be made.
fn lease_cluster(test: &str) -> Option<(Net, String, usize, Vec<usize>)> {
    lease_cluster_of(test, 3)
}

/// [`lease_cluster`] with `hosts` hosts.
fn lease_cluster_of(test: &str, hosts: usize) -> Option<(Net, String, usize, Vec<usize>)> {
    let mut net = Net::new(test, hosts)?;
    let path = support::log_dir(&format!("{test}-config")).join("lease.toml");
    std::fs::write(&path, "[gossip]\nlease = \"600ms\"\n").expect("write the configuration");
    let path = path.display().to_string();
    let primary = net.start_cluster(&["--config", &path]);
    let old = net.index_of(&primary).expect("a host");
    let others: Vec<usize> = net.all().into_iter().filter(|i| *i != old).collect();
    steady_under_lease(&net, old);
    Some((net, primary, old, others))
}

/// Waits until `primary` claims under a lease, then two probe periods
/// more: the ranks the cluster took as it formed have travelled, so a
/// successor claims without the wait a fresh rank has (ARCHITECTURE.md,
/// "Confirming a fresh rank"), as in a cluster that has run a while.
fn steady_under_lease(net: &Net, primary: usize) {
    let leased = || {
        net.host(primary)
            .get("/v1/primary")
            .is_some_and(|(_, body)| body["lease"] == true)
    };
    assert!(
        wait_until(Duration::from_secs(10), leased),
        "the primary holds no lease: {}",
        net.host(primary).log_tail(20)
    );
    std::thread::sleep(Duration::from_secs(2));
}

/// Polls `/health/primary` on `among` every 20 ms for `duration`: when one
/// of them first claimed (since `since`), and the most that claimed at one
/// poll.
fn watch_takeover(
    net: &Net,
    among: &[usize],
    since: Instant,
    duration: Duration,
) -> (Option<Duration>, usize) {
    let (mut first, mut most) = (None, 0);
    while since.elapsed() < duration {
        let claimants = net.claimants(among).len();
        most = most.max(claimants);
        if claimants > 0 && first.is_none() {
            first = Some(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (first, most)
}

#[test]
fn with_a_lease_a_killed_primary_is_replaced_at_once_and_never_by_two() {
    let Some((mut net, primary, old, others)) = lease_cluster("lease_kill") else {
        return;
    };
    let killed = Instant::now();
    net.host_mut(old).kill();
    let (first, most) = watch_takeover(&net, &others, killed, Duration::from_secs(8));
    eprintln!(
        "lease, SIGKILL of the primary {primary} on 3 hosts: a survivor claimed after {first:?}"
    );
    assert!(most <= 1, "{most} survivors claimed at once");
    let first = first.expect("a survivor claims");
    // SWIM alone takes 4.4 to 5.6 s here (benches/takeover-loopback.sh);
    // the lease about 0.7 s. The bound leaves room for a loaded machine.
    assert!(first < Duration::from_secs(3), "took {first:?}");
    assert_eq!(net.claimants(&others).len(), 1);
}

#[test]
fn with_a_lease_a_frozen_primary_answers_503_when_it_thaws_and_rejoins_behind_its_successor() {
    use nix::sys::signal::Signal;
    let Some((net, primary, old, others)) = lease_cluster("lease_freeze") else {
        return;
    };
    let frozen = Instant::now();
    net.host(old).signal(Signal::SIGSTOP);
    let (first, most) = watch_takeover(&net, &others, frozen, Duration::from_secs(4));
    assert!(most <= 1, "{most} survivors claimed at once");
    let first = first.expect("a survivor claims while the primary is frozen");
    let successor = net.claimants(&others);
    assert_eq!(successor.len(), 1);
    // Thawed, its lease long over: 503 at its first answer, whatever its
    // node task has done yet.
    net.host(old).signal(Signal::SIGCONT);
    let thawed = net.host(old).status("/health/primary");
    assert_eq!(thawed, Some(503), "the thawed primary claimed");
    assert_eq!(
        net.claimants(&others),
        successor,
        "the successor kept the role"
    );
    // It rejoins behind the successor, and the role stays there.
    let all = net.all();
    assert!(
        wait_until(Duration::from_secs(20), || net.agreed_on(&all).as_ref()
            == successor.first()),
        "views after the thaw: {:?}",
        net.views(&all)
    );
    let (_, most) = watch_takeover(&net, &all, Instant::now(), Duration::from_secs(3));
    assert_eq!(most, 1);
    let after = net.claimants(&all);
    assert_eq!(
        after,
        successor,
        "the role moved: views {:?}\n{}",
        net.views(&all),
        net.host(old).log_tail(30)
    );
    eprintln!(
        "lease, SIGSTOP of the primary {primary} on 3 hosts: {} claimed after {first:?}; \
         thawed, {primary} answered 503 and rejoined behind it",
        successor[0]
    );
}

/// The witnesses the primary at `primary` pings for its lease.
fn witnesses(net: &Net, primary: usize) -> Vec<String> {
    net.host(primary)
        .get("/v1/primary")
        .and_then(|(_, body)| {
            body["witnesses"].as_array().map(|ws| {
                ws.iter()
                    .filter_map(|w| w.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// What polling `/health/primary` on every host every 20 ms saw: for each
/// host, the first and last instant (since the start) it answered 200, and
/// the most hosts that answered 200 in one round.
struct Timeline {
    first: BTreeMap<String, Duration>,
    last: BTreeMap<String, Duration>,
    most: usize,
    rounds: usize,
}

fn poll_claims(net: &Net, among: &[usize], since: Instant, duration: Duration) -> Timeline {
    let mut seen = Timeline {
        first: BTreeMap::new(),
        last: BTreeMap::new(),
        most: 0,
        rounds: 0,
    };
    while since.elapsed() < duration {
        let claimants = net.claimants(among);
        let at = since.elapsed();
        seen.rounds += 1;
        seen.most = seen.most.max(claimants.len());
        for name in claimants {
            seen.first.entry(name.clone()).or_insert(at);
            seen.last.insert(name, at);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn with_a_lease_a_killed_secondary_costs_the_primary_no_moment_of_its_role() {
    let Some((mut net, primary, old, others)) = lease_cluster("lease_kill_secondary") else {
        return;
    };
    let witness = others[0];
    assert!(
        witnesses(&net, old).contains(&net.host(witness).name),
        "with three hosts both others witness: {:?}",
        witnesses(&net, old)
    );
    let killed = Instant::now();
    net.host_mut(witness).kill();
    let alive = [old, others[1]];
    // Long enough for SWIM to declare the witness down (about 4 s here)
    // and the lease to go on with the one witness left.
    let mut unanswered = 0;
    let mut refused = Vec::new();
    let mut rounds = 0;
    while killed.elapsed() < Duration::from_secs(10) {
        rounds += 1;
        match net.host(old).status("/health/primary") {
            Some(200) => {}
            Some(code) => refused.push((killed.elapsed(), code)),
            None => unanswered += 1,
        }
        assert!(
            net.claimants(&alive[1..]).is_empty(),
            "the surviving secondary claimed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "lease, SIGKILL of the witness {} of {primary} on 3 hosts: {rounds} polls, \
         refused {refused:?}, unanswered {unanswered}; witnesses now {:?}",
        net.host(witness).name,
        witnesses(&net, old)
    );
    assert!(
        refused.is_empty(),
        "the primary stopped claiming: {refused:?}"
    );
    assert_eq!(unanswered, 0);
    assert_eq!(witnesses(&net, old), [net.host(others[1]).name.clone()]);
}

#[test]
fn with_a_lease_a_three_two_split_stops_the_two_side_before_the_three_side_claims_and_heals_without_failback()
 {
    let Some((mut net, primary, old, others)) = lease_cluster_of("lease_split_3_2", 5) else {
        return;
    };
    // The primary with a member that is not its witness: both witnesses
    // are on the majority side and can agree that its lease is over.
    let leased = witnesses(&net, old);
    assert_eq!(leased.len(), 2, "{leased:?}");
    let Some(&partner) = others
        .iter()
        .find(|i| !leased.contains(&net.host(**i).name))
    else {
        panic!("no host outside {leased:?}");
    };
    let minority = [old, partner];
    let majority: Vec<usize> = others.iter().copied().filter(|i| *i != partner).collect();
    let all = net.all();

    let split = Instant::now();
    net.partition(&[&minority, &majority]);
    let seen = poll_claims(&net, &all, split, FAULT);
    net.heal();
    let healed = one_primary_after(&net, Instant::now());
    let minority_names: Vec<&str> = minority.iter().map(|i| &*net.host(*i).name).collect();
    let stopped = minority_names
        .iter()
        .filter_map(|n| seen.last.get(*n))
        .max()
        .copied();
    let successor: Vec<(&String, &Duration)> = seen
        .first
        .iter()
        .filter(|(n, _)| !minority_names.contains(&n.as_str()))
        .collect();
    eprintln!(
        "lease, 3/2 split with {primary} on the 2 side {minority_names:?}: it last claimed \
         {stopped:?} after the split, the 3 side first claimed {successor:?}; {} polls, \
         at most {} claimant(s) in one; after the heal {healed:?}",
        seen.rounds, seen.most
    );
    assert_eq!(seen.most, 1, "two hosts answered 200 in one poll");
    let [(successor, claimed)] = successor[..] else {
        panic!("not one successor on the 3 side: {successor:?}");
    };
    if let Some(stopped) = stopped {
        assert!(stopped < *claimed, "the 2 side claimed until {stopped:?}");
    }
    let (after, _) = healed.unwrap_or_else(|err| panic!("after the heal: {err}"));
    assert_eq!(&after, successor, "the role moved back after the heal");
    let (_, most) = watch_takeover(&net, &all, Instant::now(), Duration::from_secs(3));
    assert_eq!(most, 1);
    assert_eq!(net.claimants(&all), std::slice::from_ref(successor));
}

#[test]
fn with_a_lease_a_one_way_cut_into_the_primary_moves_the_role_once_and_never_to_two() {
    let Some((net, primary, old, others)) = lease_cluster_of("lease_one_way", 5) else {
        return;
    };
    let all = net.all();
    let cut = Instant::now();
    // It still sends (its renewals reach the witnesses) but hears nothing:
    // no answer renews its lease.
    net.deafen(old);
    let seen = poll_claims(&net, &all, cut, FAULT);
    net.undeafen(old);
    let healed = one_primary_after(&net, Instant::now());
    let stopped = seen.last.get(&primary).copied();
    let successor: Vec<(&String, &Duration)> =
        seen.first.iter().filter(|(n, _)| **n != primary).collect();
    eprintln!(
        "lease, one-way cut into {primary} on 5 hosts: it last claimed {stopped:?} after the \
         cut, the others first claimed {successor:?}; {} polls, at most {} claimant(s) in one; \
         after the cut was lifted {healed:?}",
        seen.rounds, seen.most
    );
    assert_eq!(seen.most, 1, "two hosts answered 200 in one poll");
    // Its lease lapses within the lease of the cut (600 ms and a poll).
    assert!(
        stopped.is_none_or(|t| t < Duration::from_secs(2)),
        "the deaf primary claimed until {stopped:?}"
    );
    let [(successor, claimed)] = successor[..] else {
        panic!("not one successor: {successor:?}");
    };
    assert!(stopped.is_none_or(|t| t < *claimed));
    let (after, _) = healed.unwrap_or_else(|err| panic!("after the cut: {err}"));
    assert_eq!(&after, successor, "the role moved back after the cut");
    let (_, most) = watch_takeover(&net, &others, Instant::now(), Duration::from_secs(3));
    assert_eq!(most, 1);
}
