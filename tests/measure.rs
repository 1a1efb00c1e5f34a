//! Measurements for the record, not assertions on speed: run with
//! `cargo test --release --test measure -- --ignored --nocapture`.
//! They print the failover time of a five-agent cluster (median of five
//! runs) and an idle agent's memory and datagram rate.

#![allow(clippy::disallowed_methods)] // measurements live in real time

mod support;

use std::time::{Duration, Instant};

use support::{Agent, log_dir, wait_until};

fn rss_kib(agent: &Agent) -> Option<u64> {
    let pid = agent.pid()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn sent(agent: &Agent) -> f64 {
    let text = ureq::get(&format!("http://{}/metrics", agent.http))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("herd_packets_sent_total "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn five(dir: &std::path::Path) -> Vec<Agent> {
    let first = Agent::start(dir, "n1", &[], &[]);
    let seed = first.gossip;
    let mut agents = vec![first];
    for i in 2..=5 {
        agents.push(Agent::start(dir, &format!("n{i}"), &[seed], &[]));
    }
    assert!(wait_until(Duration::from_secs(20), || agents.iter().all(
        |a| { a.alive_members() == 5 && a.primary().as_deref() == Some("n1") }
    )));
    agents
}

#[test]
#[ignore = "a measurement; run explicitly"]
fn failover_time_of_five_agents() {
    let mut times = Vec::new();
    for run in 0..5 {
        let dir = log_dir(&format!("measure-failover-{run}"));
        let mut agents = five(&dir);
        // Let the cluster settle into its steady probing rhythm.
        std::thread::sleep(Duration::from_secs(3));
        let killed = Instant::now();
        agents[0].kill();
        let survivors = &agents[1..];
        let mut agreed = None;
        let ok = {
            let deadline = killed + Duration::from_secs(60);
            loop {
                let named: Vec<Option<String>> = survivors.iter().map(|a| a.primary()).collect();
                if named
                    .iter()
                    .all(|p| p.is_some() && *p == named[0] && p.as_deref() != Some("n1"))
                {
                    agreed = Some(killed.elapsed());
                    break true;
                }
                if Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        assert!(ok, "run {run}: no agreement");
        let time = agreed.unwrap_or_default();
        eprintln!("run {run}: failover {time:?}");
        times.push(time);
    }
    times.sort();
    eprintln!("failover times: {times:?}; median {:?}", times[2]);
}

#[test]
#[ignore = "a measurement; run explicitly"]
fn idle_footprint() {
    let dir = log_dir("measure-idle");
    let agents = five(&dir);
    std::thread::sleep(Duration::from_secs(10));
    let before: Vec<f64> = agents.iter().map(sent).collect();
    let window = Duration::from_secs(60);
    std::thread::sleep(window);
    let after: Vec<f64> = agents.iter().map(sent).collect();
    for (agent, (b, a)) in agents.iter().zip(before.iter().zip(&after)) {
        eprintln!(
            "{}: RSS {} KiB, {:.2} datagrams/s sent at idle",
            agent.name,
            rss_kib(agent).unwrap_or(0),
            (a - b) / window.as_secs_f64()
        );
    }
}
