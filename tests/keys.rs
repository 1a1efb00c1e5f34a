//! Sealed gossip with real agents: strangers are kept out, and keys rotate
//! and encryption turns on while the cluster serves, one primary at every
//! poll.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{Agent, log_dir, wait_until};

fn herd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herd"))
}

/// A key file holding `keys`, readable by its owner only.
fn key_file(dir: &std::path::Path, name: &str, keys: &[String]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, keys.join("\n") + "\n").expect("write the key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn keygen() -> String {
    let out = herd().arg("keygen").output().expect("run herd keygen");
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert_eq!(key.len(), 44, "{key}");
    key
}

#[test]
fn only_holders_of_the_key_take_part_in_the_gossip() {
    let dir = log_dir("keys");
    let (ours, theirs) = (keygen(), keygen());
    assert_ne!(ours, theirs);
    let file = key_file(&dir, "keys", std::slice::from_ref(&ours));
    let file = file.to_str().expect("path");
    let a = Agent::start(&dir, "a", &[], &["--key-file", file]);
    let b = Agent::start(&dir, "b", &[a.gossip], &["--key-file", file]);
    assert!(wait_until(Duration::from_secs(15), || a.alive_members()
        == 2
        && b.alive_members() == 2
        && b.primary().as_deref() == Some("a")));

    // A stranger without a key, and one with another key, both eager to be
    // primary, try to join.
    let plain = Agent::start(&dir, "plain", &[a.gossip], &["--priority", "100"]);
    let other_file = key_file(&dir, "other-keys", &[theirs]);
    let other = Agent::start(
        &dir,
        "other",
        &[b.gossip],
        &[
            "--priority",
            "100",
            "--key-file",
            other_file.to_str().expect("path"),
        ],
    );
    // Their datagrams arrive and are dropped, counted by reason.
    let dropped = |agent: &Agent, reason: &str| {
        agent
            .metric(&format!(
                "herd_packets_dropped_total{{reason=\"{reason}\"}}"
            ))
            .unwrap_or(0.0)
    };
    assert!(wait_until(Duration::from_secs(15), || dropped(
        &a,
        "plaintext"
    ) > 0.0
        && dropped(&b, "key") > 0.0));
    // They changed nothing: the members are still the two, a still primary,
    // and neither stranger ever joined.
    assert_eq!(a.alive_members(), 2);
    assert_eq!(b.primary().as_deref(), Some("a"));
    assert_eq!(a.member_state("plain"), None);
    assert_eq!(b.member_state("other"), None);
    assert_eq!(plain.status("/health"), Some(503));
    assert_eq!(other.status("/health"), Some(503));
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = log_dir("key-file-mode");
    let file = key_file(&dir, "keys", &[keygen()]);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = herd()
        .args(["agent", "--key-file"])
        .arg(&file)
        .output()
        .expect("run herd");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("can be read by group or others"), "{err}");

    // The same file handed over as a systemd credential is accepted: its
    // directory is private to the service, whatever the mode shows.
    let out = herd()
        .args(["validate", "--key-file"])
        .arg(&file)
        .env("CREDENTIALS_DIRECTORY", &dir)
        .output()
        .expect("run herd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = herd()
        .args(["validate", "--key-file"])
        .arg(&file)
        .env("CREDENTIALS_DIRECTORY", dir.join("elsewhere"))
        .output()
        .expect("run herd");
    assert_eq!(out.status.code(), Some(64));

    // Requiring encryption without a key refuses to start too.
    let config = dir.join("herd.toml");
    std::fs::write(&config, "require_encryption = true\n").expect("write config");
    let out = herd()
        .args(["agent", "--config"])
        .arg(&config)
        .output()
        .expect("run herd");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs at least one key"), "{err}");
}

fn dropped(agent: &Agent, reason: &str) -> f64 {
    agent
        .metric(&format!(
            "herd_packets_dropped_total{{reason=\"{reason}\"}}"
        ))
        .unwrap_or(0.0)
}

/// One agent's configuration file: its key file (if any) and the two
/// switches, rewritten for every step of a procedure.
fn write_config(path: &Path, keys: Option<&Path>, encrypt: bool, require: bool) {
    let mut text = String::new();
    if let Some(keys) = keys {
        text += &format!("key_file = {:?}\n", keys.display().to_string());
    }
    text += &format!("encrypt = {encrypt}\nrequire_encryption = {require}\n");
    std::fs::write(path, text).expect("write the configuration");
}

/// Polls every agent's `/health/primary` in turn, round after round, and
/// records every round in which the number of 200s was not one, or the
/// primary was another node than `primary`.
struct Poller {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(usize, Vec<String>)>,
}

impl Poller {
    fn start(targets: Vec<(String, std::net::SocketAddr)>, primary: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let client = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(1)))
                .http_status_as_error(false)
                .build()
                .new_agent();
            let (mut rounds, mut wrong) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let serving: Vec<&str> = targets
                    .iter()
                    .filter(|(_, http)| {
                        client
                            .get(&format!("http://{http}/health/primary"))
                            .call()
                            .is_ok_and(|answer| answer.status() == 200)
                    })
                    .map(|(name, _)| name.as_str())
                    .collect();
                rounds += 1;
                if serving != [primary.as_str()] {
                    wrong.push(format!("round {rounds}: {serving:?}"));
                }
                // Paced so a round is a poll, not a load test.
                thread::sleep(Duration::from_millis(20));
            }
            (rounds, wrong)
        });
        Self { stop, handle }
    }

    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("the poller")
    }
}

/// Three agents that read their configuration files `conf-<name>.toml`
/// in `dir`, each written beforehand.
fn start_three(dir: &Path) -> Vec<Agent> {
    let conf = |name: &str| dir.join(format!("conf-{name}.toml"));
    let a = Agent::start(
        dir,
        "a",
        &[],
        &["--config", conf("a").to_str().expect("path")],
    );
    let b = Agent::start(
        dir,
        "b",
        &[a.gossip],
        &["--config", conf("b").to_str().expect("path")],
    );
    let c = Agent::start(
        dir,
        "c",
        &[a.gossip],
        &["--config", conf("c").to_str().expect("path")],
    );
    let agents = vec![a, b, c];
    assert!(
        wait_until(Duration::from_secs(20), || agents.iter().all(|agent| {
            agent.alive_members() == 3 && agent.primary().as_deref() == Some("a")
        })),
        "the cluster did not form: {}",
        agents[2].log_tail(20)
    );
    agents
}

/// One step of a procedure: every agent's files are already rewritten;
/// SIGHUP each, wait until each has reloaded, then until each has heard
/// a good share of gossip under the new settings.
fn reload_everywhere(agents: &[Agent], step: &str) {
    let reloads = |agent: &Agent| {
        agent
            .metric("herd_config_reloads_total{result=\"ok\"}")
            .unwrap_or(0.0)
    };
    let received = |agent: &Agent| agent.metric("herd_packets_received_total").unwrap_or(0.0);
    let before: Vec<(f64, f64)> = agents.iter().map(|a| (reloads(a), received(a))).collect();
    for agent in agents {
        agent.signal(Signal::SIGHUP);
    }
    for (agent, (reloaded, heard)) in agents.iter().zip(before) {
        assert!(
            wait_until(Duration::from_secs(10), || reloads(agent) > reloaded),
            "{step}: {} did not reload: {}",
            agent.name,
            agent.log_tail(10)
        );
        assert!(
            // Two datagrams a second reach an idle member of three: ten
            // take about five seconds.
            wait_until(Duration::from_secs(30), || received(agent) >= heard + 10.0),
            "{step}: {} heard no gossip",
            agent.name
        );
    }
}

#[test]
fn keys_rotate_on_running_agents_with_one_primary_at_every_poll() {
    let dir = log_dir("key-rotation");
    let (old, new) = (keygen(), keygen());
    let names = ["a", "b", "c"];
    let keys = |name: &str, list: &[&String]| -> PathBuf {
        let list: Vec<String> = list.iter().map(|k| (*k).clone()).collect();
        key_file(&dir, &format!("keys-{name}"), &list)
    };
    for name in names {
        let file = keys(name, &[&old]);
        write_config(
            &dir.join(format!("conf-{name}.toml")),
            Some(&file),
            true,
            true,
        );
    }
    let agents = start_three(&dir);
    let poller = Poller::start(
        agents.iter().map(|a| (a.name.clone(), a.http)).collect(),
        "a".into(),
    );
    let started = Instant::now();

    // The README's three steps: install the new key everywhere (second),
    // make it first everywhere, remove the old one. Rewriting a key file
    // in place is enough: SIGHUP reads it again.
    for name in names {
        keys(name, &[&old, &new]);
    }
    reload_everywhere(&agents, "install the new key");
    for name in names {
        keys(name, &[&new, &old]);
    }
    reload_everywhere(&agents, "seal with the new key");
    for name in names {
        keys(name, &[&new]);
    }
    reload_everywhere(&agents, "remove the old key");

    let (rounds, wrong) = poller.finish();
    eprintln!(
        "rotation took {:.1} s, {rounds} poll rounds",
        started.elapsed().as_secs_f64()
    );
    assert!(rounds >= 20, "only {rounds} poll rounds");
    assert!(wrong.is_empty(), "rounds without exactly a: {wrong:?}");
    for agent in &agents {
        // Nothing was lost on the way: no datagram failed to open, nobody
        // rejoined, everyone still sees three members.
        assert_eq!(dropped(agent, "key"), 0.0, "{}", agent.name);
        assert_eq!(agent.metric("herd_rejoins_total"), Some(0.0));
        assert_eq!(agent.alive_members(), 3, "{}", agent.name);
    }

    // The old key opens nothing any more, and the new one lets a member in.
    let stale = Agent::start(
        &dir,
        "stale",
        &[agents[1].gossip],
        &[
            "--key-file",
            key_file(&dir, "keys-stale", std::slice::from_ref(&old))
                .to_str()
                .expect("path"),
        ],
    );
    let fresh = Agent::start(
        &dir,
        "d",
        &[agents[2].gossip],
        &[
            "--key-file",
            key_file(&dir, "keys-d", std::slice::from_ref(&new))
                .to_str()
                .expect("path"),
        ],
    );
    assert!(
        wait_until(Duration::from_secs(20), || agents
            .iter()
            .all(|a| a.alive_members() == 4)
            && dropped(&agents[1], "key") > 0.0),
        "d did not join, or stale was not refused: {}",
        fresh.log_tail(10)
    );
    assert_eq!(agents[0].member_state("stale"), None);
    assert_eq!(stale.status("/health"), Some(503));
}

#[test]
fn encryption_turns_on_in_a_running_cluster_with_one_primary_at_every_poll() {
    let dir = log_dir("encryption-on");
    let key = keygen();
    let names = ["a", "b", "c"];
    let conf = |name: &str| dir.join(format!("conf-{name}.toml"));
    for name in names {
        write_config(&conf(name), None, false, false);
    }
    let agents = start_three(&dir);
    let poller = Poller::start(
        agents.iter().map(|a| (a.name.clone(), a.http)).collect(),
        "a".into(),
    );

    // Accept both (keys, sending plaintext), then seal, then require.
    let files: Vec<PathBuf> = names
        .iter()
        .map(|name| key_file(&dir, &format!("keys-{name}"), std::slice::from_ref(&key)))
        .collect();
    for (name, file) in names.iter().zip(&files) {
        write_config(&conf(name), Some(file), false, false);
    }
    reload_everywhere(&agents, "accept sealed datagrams");
    for (name, file) in names.iter().zip(&files) {
        write_config(&conf(name), Some(file), true, false);
    }
    reload_everywhere(&agents, "seal");
    for (name, file) in names.iter().zip(&files) {
        write_config(&conf(name), Some(file), true, true);
    }
    reload_everywhere(&agents, "require");

    let (rounds, wrong) = poller.finish();
    assert!(rounds >= 20, "only {rounds} poll rounds");
    assert!(wrong.is_empty(), "rounds without exactly a: {wrong:?}");
    for agent in &agents {
        for reason in ["key", "plaintext", "sealed"] {
            assert_eq!(dropped(agent, reason), 0.0, "{} {reason}", agent.name);
        }
        assert_eq!(agent.metric("herd_rejoins_total"), Some(0.0));
        assert_eq!(agent.alive_members(), 3, "{}", agent.name);
    }

    // Plaintext is refused now.
    let plain = Agent::start(&dir, "plain", &[agents[0].gossip], &["--priority", "100"]);
    assert!(wait_until(Duration::from_secs(15), || dropped(
        &agents[0],
        "plaintext"
    ) > 0.0));
    assert_eq!(agents[1].member_state("plain"), None);
    assert_eq!(agents[2].primary().as_deref(), Some("a"));
    assert_eq!(plain.status("/health"), Some(503));

    // A reload that asks for the impossible (refuse plaintext, send it)
    // changes nothing: b keeps sealing, so a drops nothing of it.
    let mut plain = plain;
    plain.kill();
    let refused_before = dropped(&agents[0], "plaintext");
    let received = agents[0]
        .metric("herd_packets_received_total")
        .unwrap_or(0.0);
    std::fs::write(conf("b"), "require_encryption = true\nencrypt = false\n")
        .expect("write the configuration");
    let errors = |agent: &Agent| {
        agent
            .metric("herd_config_reloads_total{result=\"error\"}")
            .unwrap_or(0.0)
    };
    agents[1].signal(Signal::SIGHUP);
    assert!(wait_until(Duration::from_secs(10), || errors(&agents[1]) == 1.0));
    assert!(wait_until(Duration::from_secs(30), || agents[0]
        .metric("herd_packets_received_total")
        .unwrap_or(0.0)
        >= received + 10.0));
    assert_eq!(dropped(&agents[0], "plaintext"), refused_before);
    assert_eq!(agents[0].alive_members(), 3);
}
