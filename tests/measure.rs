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

/// CPU time (user and system) a process has used, in seconds.
fn cpu_seconds(agent: &Agent) -> Option<f64> {
    let pid = agent.pid()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

fn metric(agent: &Agent, series: &str) -> f64 {
    agent.metric(series).unwrap_or(0.0)
}

fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

#[test]
#[ignore = "a measurement; run explicitly"]
fn sealed_gossip_costs_about_what_plaintext_does_at_idle() {
    // Two clusters of ten side by side in one run, one sealing every
    // datagram and one in plaintext.
    let dir = log_dir("measure-sealed");
    let key_file = dir.join("keys");
    let key = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .arg("keygen")
        .output()
        .expect("herd keygen")
        .stdout;
    std::fs::write(&key_file, key).expect("write the key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let key_file = key_file.to_str().expect("path").to_owned();
    let cluster = |name: &str, extra: &[&str]| -> Vec<Agent> {
        let mut args = vec!["--cluster", name];
        args.extend_from_slice(extra);
        let first = Agent::start(&dir, &format!("{name}-0"), &[], &args);
        let seed = first.gossip;
        let mut agents = vec![first];
        for i in 1..10 {
            agents.push(Agent::start(&dir, &format!("{name}-{i}"), &[seed], &args));
        }
        agents
    };
    let plain = cluster("plain", &[]);
    let sealed = cluster("sealed", &["--key-file", &key_file]);
    assert!(wait_until(Duration::from_secs(30), || plain
        .iter()
        .chain(&sealed)
        .all(|a| a.alive_members() == 10)));
    std::thread::sleep(Duration::from_secs(10));
    let window = Duration::from_secs(120);
    let read = |agents: &[Agent]| -> Vec<(f64, f64, f64)> {
        agents
            .iter()
            .map(|a| {
                (
                    cpu_seconds(a).unwrap_or(0.0),
                    metric(a, "herd_sent_bytes_total"),
                    metric(a, "herd_packets_sent_total"),
                )
            })
            .collect()
    };
    let (plain_before, sealed_before) = (read(&plain), read(&sealed));
    std::thread::sleep(window);
    let (plain_after, sealed_after) = (read(&plain), read(&sealed));
    let secs = window.as_secs_f64();
    let rates = |before: &[(f64, f64, f64)], after: &[(f64, f64, f64)]| {
        let per = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<f64> {
            before
                .iter()
                .zip(after)
                .map(|(b, a)| (f(a) - f(b)) / secs)
                .collect()
        };
        (per(|x| x.0 * 100.0), per(|x| x.1), per(|x| x.2))
    };
    let mut totals = Vec::new();
    for (label, before, after) in [
        ("plaintext", &plain_before, &plain_after),
        ("sealed", &sealed_before, &sealed_after),
    ] {
        let (cpu, bytes, datagrams) = rates(before, after);
        let total_cpu: f64 = cpu.iter().sum::<f64>() / cpu.len() as f64;
        let total_bytes: f64 = bytes.iter().sum::<f64>() / bytes.len() as f64;
        let total_datagrams: f64 = datagrams.iter().sum::<f64>() / datagrams.len() as f64;
        let (cm, cl, ch) = median_and_range(cpu);
        let (bm, bl, bh) = median_and_range(bytes);
        let (dm, dl, dh) = median_and_range(datagrams);
        eprintln!(
            "{label}: CPU per agent {total_cpu:.3} % of a core (median {cm:.3}, {cl:.3} to {ch:.3}); \
             sent {total_bytes:.0} B/s (median {bm:.0}, {bl:.0} to {bh:.0}); \
             {total_datagrams:.2} datagrams/s (median {dm:.2}, {dl:.2} to {dh:.2})"
        );
        totals.push((total_cpu, total_bytes, total_datagrams));
    }
    let (p, s) = (totals[0], totals[1]);
    eprintln!(
        "sealed / plaintext: CPU {:.2}, bytes {:.2}, datagrams {:.2} (over {} s, 10 agents each)",
        s.0 / p.0,
        s.1 / p.1,
        s.2 / p.2,
        window.as_secs()
    );
}

/// The primary's lease at idle: two clusters side by side in one run, one
/// with `lease = "600ms"` and one with SWIM alone, datagrams sent per
/// second by the primary, its witnesses and everyone else. The issue's
/// bound: at most 20 more a second at the primary, 10 at any other member,
/// nothing at a member outside the lease. `HERD_MEASURE_AGENTS` sets the
/// cluster size (default 10).
#[test]
#[ignore = "a measurement; run explicitly"]
fn the_lease_costs_the_primary_and_its_witnesses_only() {
    let n: usize = std::env::var("HERD_MEASURE_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = log_dir(&format!("measure-lease-{n}"));
    let cluster = |name: &str, lease: &str| -> Vec<Agent> {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, format!("[gossip]\nlease = \"{lease}\"\n")).expect("config");
        let config = config.to_str().expect("path").to_owned();
        let args = ["--cluster", name, "--config", &config];
        let first = Agent::start(&dir, &format!("{name}-0"), &[], &args);
        let seed = first.gossip;
        let mut agents = vec![first];
        for i in 1..n {
            agents.push(Agent::start(&dir, &format!("{name}-{i}"), &[seed], &args));
        }
        agents
    };
    let swim = cluster("swim", "0s");
    let leased = cluster("lease", "600ms");
    assert!(wait_until(Duration::from_secs(60), || swim
        .iter()
        .chain(&leased)
        .all(|a| a.alive_members() == n)));
    let holds_lease = || {
        leased.iter().any(|a| {
            a.get("/v1/primary")
                .is_some_and(|(_, body)| body["lease"] == true)
        })
    };
    assert!(wait_until(Duration::from_secs(20), holds_lease));
    std::thread::sleep(Duration::from_secs(10));
    let window = Duration::from_secs(60);
    let read = |agents: &[Agent]| -> Vec<f64> {
        agents
            .iter()
            .map(|a| metric(a, "herd_packets_sent_total"))
            .collect()
    };
    let (swim_before, lease_before) = (read(&swim), read(&leased));
    std::thread::sleep(window);
    let (swim_after, lease_after) = (read(&swim), read(&leased));
    let rate = |before: &[f64], after: &[f64]| -> Vec<f64> {
        before
            .iter()
            .zip(after)
            .map(|(b, a)| (a - b) / window.as_secs_f64())
            .collect()
    };
    // Who holds the lease and who witnesses it, read at the end.
    let roles = |agents: &[Agent]| -> (usize, Vec<usize>) {
        let primary = agents
            .iter()
            .position(|a| {
                a.get("/v1/primary")
                    .is_some_and(|(_, body)| body["is_primary"] == true)
            })
            .expect("a primary");
        let witnesses: Vec<String> = agents[primary]
            .get("/v1/primary")
            .and_then(|(_, body)| {
                body["witnesses"].as_array().map(|ws| {
                    ws.iter()
                        .filter_map(|w| w.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default();
        let witnesses = agents
            .iter()
            .enumerate()
            .filter(|(_, a)| witnesses.contains(&a.name))
            .map(|(i, _)| i)
            .collect();
        (primary, witnesses)
    };
    let report = |label: &str, rates: &[f64], (primary, witnesses): (usize, Vec<usize>)| {
        let others: Vec<f64> = (0..rates.len())
            .filter(|i| *i != primary && !witnesses.contains(i))
            .map(|i| rates[i])
            .collect();
        let witnessing: Vec<String> = witnesses
            .iter()
            .map(|i| format!("{:.2}", rates[*i]))
            .collect();
        let (om, ol, oh) = median_and_range(others);
        eprintln!(
            "{label}, {n} agents: primary {:.2} datagrams/s, witnesses [{}], \
             others median {om:.2} ({ol:.2} to {oh:.2})",
            rates[primary],
            witnessing.join(", ")
        );
    };
    let swim_roles = roles(&swim);
    // In the SWIM cluster, the members that would witness: the same ranks.
    let swim_roles = (swim_roles.0, vec![]);
    report("SWIM alone", &rate(&swim_before, &swim_after), swim_roles);
    report(
        "lease 600ms",
        &rate(&lease_before, &lease_after),
        roles(&leased),
    );
}
