//! Five real `herd agent` processes on 127.0.0.1: join, one primary,
//! failover after SIGKILL, graceful leave on SIGTERM, and a restart that
//! does not take the role back.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{Agent, log_dir, wait_until};

fn claimants(agents: &[&Agent]) -> Vec<String> {
    agents
        .iter()
        .filter(|a| a.status("/health/primary") == Some(200))
        .map(|a| a.name.clone())
        .collect()
}

/// Every listed agent names `primary` and exactly that one claims it.
fn agreed_on(agents: &[&Agent]) -> Option<String> {
    let named: BTreeSet<Option<String>> = agents.iter().map(|a| a.primary()).collect();
    let mut named = named.into_iter();
    let (Some(Some(primary)), None) = (named.next(), named.next()) else {
        return None;
    };
    (claimants(agents) == [primary.clone()]).then_some(primary)
}

/// The member the election rule picks among `candidates`, from one agent's
/// view: highest priority, then lowest seniority, then name.
fn next_by_rule(view: &Agent, candidates: &[&Agent]) -> String {
    let mut ranked: Vec<(i64, u64, String)> = candidates
        .iter()
        .map(|a| {
            let m = view.member(&a.name).expect("member in view");
            (
                -m["priority"].as_i64().expect("priority"),
                m["seniority"].as_u64().expect("seniority"),
                a.name.clone(),
            )
        })
        .collect();
    ranked.sort();
    ranked[0].2.clone()
}

#[test]
fn five_agents_elect_one_primary_fail_over_leave_and_rejoin_without_failback() {
    let dir = log_dir("cluster");
    let first = Agent::start(&dir, "n1", &[], &[]);
    let mut agents = vec![first];
    for i in 2..=5 {
        let seeds = [agents[0].gossip];
        agents.push(Agent::start(
            &dir,
            &format!("n{i}"),
            &seeds,
            &["--drain-timeout", "3s"],
        ));
    }

    // All join: every agent sees five alive, ranked members, each admitted
    // to the quorum, and answers 200 on /health.
    let everyone: Vec<&Agent> = agents.iter().collect();
    let ranked = |a: &Agent| {
        a.get("/v1/members").is_some_and(|(_, body)| {
            body["members"].as_array().is_some_and(|ms| {
                ms.len() == 5
                    && ms.iter().all(|m| {
                        m["state"] == "alive" && m["seniority"].is_u64() && m["admitted"] == true
                    })
            })
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), || everyone.iter().all(|a| ranked(
            a
        ) && a
            .status("/health")
            == Some(200))),
        "the five agents did not all join"
    );

    // Exactly one primary, named by everyone.
    let mut primary = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            primary = agreed_on(&everyone);
            primary.is_some()
        }),
        "no single primary agreed: claimants {:?}",
        claimants(&everyone)
    );
    let primary = primary.unwrap_or_default();
    assert_eq!(primary, "n1", "the founding node is the most senior");

    // SIGKILL the primary: the survivors agree on the next node by the rule.
    let old = agents
        .iter()
        .position(|a| a.name == primary)
        .unwrap_or_default();
    let survivors: Vec<usize> = (0..agents.len()).filter(|i| *i != old).collect();
    let expected_next = {
        let view = &agents[survivors[0]];
        let candidates: Vec<&Agent> = survivors.iter().map(|i| &agents[*i]).collect();
        next_by_rule(view, &candidates)
    };
    let killed_at = Instant::now();
    agents[old].kill();
    let mut next = None;
    {
        let living: Vec<&Agent> = survivors.iter().map(|i| &agents[*i]).collect();
        assert!(
            wait_until(Duration::from_secs(30), || {
                next = agreed_on(&living).filter(|p| *p != primary);
                next.is_some()
            }),
            "the survivors did not agree on a new primary"
        );
    }
    let next = next.unwrap_or_default();
    eprintln!(
        "failover: {} -> {} in {:?}",
        primary,
        next,
        killed_at.elapsed()
    );
    assert_eq!(
        next, expected_next,
        "the new primary is the next by the rule"
    );

    // SIGTERM a secondary: its /health turns 503 while it still runs, it
    // exits 0, and the others list it as left.
    let leaver = *survivors
        .iter()
        .find(|i| agents[**i].name != next)
        .expect("a secondary");
    agents[leaver].signal(Signal::SIGTERM);
    let mut saw_503_while_running = false;
    assert!(
        wait_until(Duration::from_secs(5), || {
            let status = agents[leaver].status("/health");
            if status == Some(503) && agents[leaver].is_running() {
                saw_503_while_running = true;
            }
            saw_503_while_running || !agents[leaver].is_running()
        }),
        "the leaving agent never answered"
    );
    assert!(
        saw_503_while_running,
        "/health did not turn 503 before exit"
    );
    let status = agents[leaver].wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the leaving agent did not exit 0: {status:?}"
    );
    let leaver_name = agents[leaver].name.clone();
    let remaining: Vec<usize> = survivors.iter().copied().filter(|i| *i != leaver).collect();
    assert!(
        wait_until(Duration::from_secs(10), || remaining.iter().all(|i| agents
            [*i]
            .member_state(&leaver_name)
            .as_deref()
            == Some("left"))),
        "the others do not list {leaver_name} as left"
    );

    // Restart the killed node: it rejoins and does not take the role back.
    let seeds: Vec<_> = remaining.iter().map(|i| agents[*i].gossip).collect();
    agents[old].restart(&seeds);
    let old_name = agents[old].name.clone();
    let mut back: Vec<usize> = remaining.clone();
    back.push(old);
    assert!(
        wait_until(Duration::from_secs(20), || {
            agents[old].status("/health") == Some(200)
                && back.iter().all(|i| {
                    agents[*i].member_state(&old_name).as_deref() == Some("alive")
                        && agents[*i]
                            .member(&old_name)
                            .is_some_and(|m| m["seniority"].is_u64())
                })
        }),
        "the restarted node did not rejoin"
    );
    let rejoined: Vec<&Agent> = back.iter().map(|i| &agents[*i]).collect();
    assert_eq!(agreed_on(&rejoined), Some(next.clone()));
    // It ranks behind the working primary in every view, so the rule can
    // never hand the role back to it.
    for view in &rejoined {
        let theirs = view.member(&old_name).expect("old in view")["seniority"].as_u64();
        let primary_rank = view.member(&next).expect("primary in view")["seniority"].as_u64();
        assert!(
            theirs > primary_rank,
            "{} ranks the restarted node {theirs:?} ahead of the primary {primary_rank:?}",
            view.name
        );
    }
    assert_eq!(agents[old].status("/health/primary"), Some(503));
}

/// Three agents named `prefix`1 to 3 with `extra` flags, once they have
/// formed a cluster; and the primary they agree on.
fn three_agents(dir: &std::path::Path, prefix: &str, extra: &[&str]) -> ([Agent; 3], String) {
    let first = Agent::start(dir, &format!("{prefix}1"), &[], extra);
    let seeds = [first.gossip];
    let agents = [
        first,
        Agent::start(dir, &format!("{prefix}2"), &seeds, extra),
        Agent::start(dir, &format!("{prefix}3"), &seeds, extra),
    ];
    let all: Vec<&Agent> = agents.iter().collect();
    assert!(
        wait_until(Duration::from_secs(20), || all
            .iter()
            .all(|a| a.alive_members() == 3)
            && agreed_on(&all).is_some()),
        "the cluster did not form"
    );
    let primary = agreed_on(&all).expect("a primary");
    (agents, primary)
}

/// The JSON objects of an agent's log, and the lines that were not JSON.
fn json_log(agent: &Agent) -> (Vec<serde_json::Value>, Vec<String>) {
    let text = std::fs::read_to_string(&agent.log).unwrap_or_default();
    let mut objects = Vec::new();
    let mut other = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(object) => objects.push(object),
            Err(_) => other.push(line.to_owned()),
        }
    }
    (objects, other)
}

#[test]
fn json_logs_carry_every_change_as_fields_through_a_failover() {
    let dir = log_dir("json-logs");
    let (mut agents, old) = three_agents(&dir, "j", &["--log-format", "json"]);
    let victim = agents.iter().position(|a| a.name == old).expect("it runs");
    agents[victim].kill();
    let survivors: Vec<&Agent> = agents.iter().filter(|a| a.name != old).collect();
    let mut new = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            new = agreed_on(&survivors).filter(|p| *p != old);
            new.is_some()
        }),
        "no failover"
    );
    let new = new.expect("the new primary");
    // What the survivors logged lands in their files as they flush: wait
    // for the down to be written, then read everything.
    let logged_down = |agent: &Agent| {
        json_log(agent).0.iter().any(|line| {
            line["message"] == "member state changed"
                && line["member"] == old.as_str()
                && line["state"] == "down"
        })
    };
    assert!(wait_until(Duration::from_secs(10), || survivors
        .iter()
        .all(|a| logged_down(a))));

    for agent in &survivors {
        let (lines, other) = json_log(agent);
        assert!(other.is_empty(), "{}: not JSON: {other:?}", agent.name);
        for line in &lines {
            for field in ["timestamp", "level", "message", "target"] {
                assert!(line.get(field).is_some(), "{field} missing: {line}");
            }
        }
        // Lines from the agent's tasks name the node as a field.
        let node_named = lines
            .iter()
            .filter(|l| l["target"] != "herd")
            .all(|l| l["span"]["node"] == agent.name.as_str());
        assert!(node_named, "{}: a line without its node", agent.name);
        assert!(
            lines
                .iter()
                .any(|l| l["message"] == "primary changed" && l["previous"] == old.as_str()),
            "{}: no primary change from {old}",
            agent.name
        );
    }
    let (lines, _) = json_log(survivors.iter().find(|a| a.name == new).expect("new"));
    let claim = lines
        .iter()
        .rev()
        .find(|l| l["message"] == "this node is now the primary")
        .expect("the new primary logged its claim");
    assert!(claim["term"].as_u64().is_some_and(|t| t >= 2), "{claim}");
}

#[test]
fn explain_says_why_the_primary_moved() {
    let dir = log_dir("explain");
    let (mut agents, old) = three_agents(&dir, "x", &[]);
    let (_, before) = agents[0].get("/v1/explain").expect("explain");
    let ranked: Vec<&str> = before["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(ranked.len(), 3, "{before}");
    assert_eq!(
        ranked[0], old,
        "the first candidate is the primary: {before}"
    );
    assert_eq!(before["consistent"], true, "{before}");
    assert_eq!(before["quorum"]["needed"], 2, "{before}");

    let victim = agents.iter().position(|a| a.name == old).expect("it runs");
    agents[victim].kill();
    let survivor = &agents[(victim + 1) % 3];
    let mut after = serde_json::Value::Null;
    let explained = wait_until(Duration::from_secs(20), || {
        after = survivor
            .get("/v1/explain")
            .map(|(_, body)| body)
            .unwrap_or_default();
        after["primary"].as_str().is_some_and(|p| p != old)
            && after["last_change"]["previous_primary"]["name"] == old.as_str()
    });
    assert!(explained, "{after}");
    let why = after["last_change"]["previous_primary"]["why"]
        .as_str()
        .unwrap_or("");
    assert!(why.contains("down") || why.contains("suspect"), "{after}");
    assert!(
        after["excluded"]
            .as_array()
            .is_some_and(|e| e.iter().any(|m| m["name"] == old.as_str())),
        "{after}"
    );
    // The command prints the same in words.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["explain", "--http", &survivor.http.to_string()])
        .output()
        .expect("herd explain");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("the primary before"), "{said}");
    assert!(said.contains("RANK"), "{said}");
}
