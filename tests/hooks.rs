//! Real agents whose hooks append to files: the server beside the new
//! primary learns of its promotion exactly once with a higher term, a
//! drained primary learns it stepped down, a hook that hangs is killed and
//! the next event still arrives, and a webhook is retried until accepted.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use support::{Agent, log_dir, wait_until};

/// The hook every test uses: one line per event with what the environment
/// said, and the JSON from standard input on the next line.
const HOOK: &str = r#"#!/bin/sh
input=$(cat)
if [ -e "$2" ]; then
    rm -f "$2"
    echo "slow hook for $HERD_EVENT $HERD_MEMBER"
    sleep 300 &
    echo $! > "$2.pid"
    wait
fi
echo "$HERD_EVENT term=$HERD_TERM member=$HERD_MEMBER primary=$HERD_PRIMARY" >> "$1"
echo "$input" >> "$1.json"
"#;

struct Hooked {
    events: PathBuf,
    config: PathBuf,
}

/// Writes the hook script and a config whose hooks log to `<name>.events`;
/// `extra` goes into the `[hooks]` table.
fn hooked(dir: &Path, name: &str, extra: &str) -> Hooked {
    // Replaced atomically: another agent's hook may be running it.
    let script = dir.join("hook.sh");
    let partial = dir.join(format!("hook.sh.{name}"));
    std::fs::write(&partial, HOOK).expect("write the hook");
    std::fs::rename(&partial, &script).expect("put the hook in place");
    let events = dir.join(format!("{name}.events"));
    let slow = dir.join(format!("{name}.slow"));
    let argv = format!(
        "[\"/bin/sh\", \"{}\", \"{}\", \"{}\"]",
        script.display(),
        events.display(),
        slow.display()
    );
    let config = dir.join(format!("{name}.toml"));
    let text = format!(
        "[hooks]\non_primary = {argv}\non_secondary = {argv}\non_member = {argv}\n{extra}\n"
    );
    std::fs::write(&config, text).expect("write the config");
    Hooked { events, config }
}

fn start(dir: &Path, name: &str, join: &[SocketAddr], extra: &str) -> (Agent, Hooked) {
    let hooked = hooked(dir, name, extra);
    let config = hooked.config.to_string_lossy().into_owned();
    (
        Agent::start(dir, name, join, &["--config", &config]),
        hooked,
    )
}

/// The lines a node's hooks wrote so far.
fn lines(hooked: &Hooked) -> Vec<String> {
    std::fs::read_to_string(&hooked.events)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn terms_of(hooked: &Hooked, event: &str) -> Vec<u64> {
    lines(hooked)
        .iter()
        .filter_map(|line| line.strip_prefix(&format!("{event} term=")))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn has_line(hooked: &Hooked, prefix: &str, containing: &str) -> bool {
    lines(hooked)
        .iter()
        .any(|l| l.starts_with(prefix) && l.contains(containing))
}

fn all_alive(agents: &[&Agent]) -> bool {
    agents.iter().all(|a| a.alive_members() == agents.len())
}

fn term_in_api(agent: &Agent) -> Option<u64> {
    agent.get("/v1/primary")?.1["term"].as_u64()
}

#[test]
fn killing_the_primary_runs_the_new_primarys_on_primary_exactly_once_with_a_higher_term() {
    let dir = log_dir("hooks-failover");
    let (a, a_hooks) = start(&dir, "a", &[], "");
    let (b, b_hooks) = start(&dir, "b", &[a.gossip], "");
    let (c, c_hooks) = start(&dir, "c", &[a.gossip], "");
    let mut a = a;
    assert!(wait_until(Duration::from_secs(20), || all_alive(&[
        &a, &b, &c
    ]) && [&a, &b, &c]
        .iter()
        .all(|x| x.primary().as_deref() == Some("a"))));
    assert!(
        wait_until(Duration::from_secs(10), || terms_of(&a_hooks, "primary")
            .len()
            == 1),
        "a's on_primary did not run: {:?}",
        lines(&a_hooks)
    );
    let first = terms_of(&a_hooks, "primary")[0];
    assert!(first >= 1);
    // The server, the API and the JSON all see the same term.
    assert_eq!(term_in_api(&b), Some(first));
    let json = std::fs::read_to_string(a_hooks.events.with_extension("events.json"))
        .expect("the hook's JSON");
    let claim: Value = json
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "primary")
        .expect("the primary event as JSON");
    assert_eq!(claim["term"], first);
    assert_eq!(claim["node"], "a");
    assert_eq!(claim["is_primary"], true);
    // b and c started as secondaries and were told so.
    assert!(wait_until(Duration::from_secs(5), || has_line(
        &b_hooks,
        "secondary",
        ""
    ) && has_line(
        &c_hooks,
        "secondary",
        ""
    )));

    a.signal(Signal::SIGKILL);
    // The survivors agree on the next node by the rule (b and c joined at
    // once, so either may rank first) and its hook runs.
    let mut successor = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            let named = b.primary();
            successor = [(&b, &b_hooks, &c_hooks), (&c, &c_hooks, &b_hooks)]
                .into_iter()
                .find(|(x, hooks, _)| {
                    named.as_deref() == Some(x.name.as_str())
                        && c.primary() == named
                        && !terms_of(hooks, "primary").is_empty()
                });
            successor.is_some()
        }),
        "no successor took over: b {:?} c {:?}",
        lines(&b_hooks),
        lines(&c_hooks)
    );
    let (successor, successor_hooks, other_hooks) = successor.expect("a successor");
    let taken = terms_of(successor_hooks, "primary");
    assert!(taken[0] > first, "new term {} not above {first}", taken[0]);
    assert_eq!(term_in_api(&b), Some(taken[0]));
    assert_eq!(term_in_api(&c), Some(taken[0]));

    // A later event, delivered in order after anything queued before it:
    // once the successor's hook has seen a fail and come back, no second
    // promotion is pending.
    let stepped_down = terms_of(&a_hooks, "secondary").len();
    a.restart(&[successor.gossip]);
    let came_back = |hooks: &Hooked| {
        let lines = lines(hooks);
        lines
            .iter()
            .position(|l| l.starts_with("member-failed") && l.contains("member=a "))
            .is_some_and(|failed| {
                lines[failed..]
                    .iter()
                    .any(|l| l.starts_with("member-joined") && l.contains("member=a "))
            })
    };
    assert!(
        wait_until(Duration::from_secs(30), || came_back(successor_hooks)),
        "the successor's hooks did not see a fail and come back: {:?}",
        lines(successor_hooks)
    );
    assert_eq!(
        terms_of(successor_hooks, "primary"),
        taken,
        "on_primary ran once"
    );
    assert!(
        terms_of(other_hooks, "primary").is_empty(),
        "only one claimed"
    );
    assert_eq!(
        successor.primary().as_deref(),
        Some(successor.name.as_str()),
        "no failback"
    );
    // a's new life starts as a secondary (told so before it has joined,
    // so with term 0 unless a data directory remembered one), then learns
    // the newer term.
    assert!(wait_until(Duration::from_secs(10), || terms_of(
        &a_hooks,
        "secondary"
    ) == [
        vec![0; stepped_down],
        vec![0]
    ]
    .concat()));
    assert!(wait_until(Duration::from_secs(10), || a
        .get("/v1/primary")
        .is_some_and(
            |(_, body)| body["max_term"].as_u64() == Some(taken[0])
        )));
}

/// A local HTTP receiver of webhook POSTs that refuses the first
/// `refusals` with 503.
struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(refusals: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = AtomicUsize::new(0);
        let (kept, stopped) = (bodies.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                if let Ok(value) = serde_json::from_slice(&body) {
                    kept.lock().expect("bodies").push(value);
                }
                let status = if seen.fetch_add(1, Ordering::SeqCst) < refusals {
                    "503 Service Unavailable"
                } else {
                    "204 No Content"
                };
                let _ = reader.get_mut().write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Self { addr, bodies, stop }
    }

    fn received(&self) -> Vec<Value> {
        self.bodies.lock().expect("bodies").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn draining_the_primary_runs_its_on_secondary_and_the_successors_on_primary() {
    let dir = log_dir("hooks-drain");
    let receiver = Receiver::start(2);
    let webhook = format!("webhook = \"http://{}/herd\"", receiver.addr);
    let (a, a_hooks) = start(&dir, "a", &[], &webhook);
    let (b, b_hooks) = start(&dir, "b", &[a.gossip], "");
    let (c, c_hooks) = start(&dir, "c", &[a.gossip], "");
    let all = [&a, &b, &c];
    assert!(wait_until(Duration::from_secs(20), || all_alive(&all)
        && all.iter().all(|x| x.primary().as_deref() == Some("a"))));
    assert!(wait_until(Duration::from_secs(10), || !terms_of(
        &a_hooks, "primary"
    )
    .is_empty()));
    let first = terms_of(&a_hooks, "primary")[0];

    let out = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["drain", "--admin", &a.admin.to_string()])
        .output()
        .expect("run herd drain");
    assert!(out.status.success(), "{out:?}");
    let mut successor = None;
    assert!(
        wait_until(Duration::from_secs(15), || {
            successor = [(&b, &b_hooks), (&c, &c_hooks)]
                .into_iter()
                .find(|(_, hooks)| !terms_of(hooks, "primary").is_empty());
            successor.is_some()
                && terms_of(&a_hooks, "secondary")
                    .last()
                    .is_some_and(|t| *t >= first)
                && lines(&a_hooks)
                    .last()
                    .is_some_and(|l| l.starts_with("secondary"))
        }),
        "a: {:?}\nb: {:?}\nc: {:?}",
        lines(&a_hooks),
        lines(&b_hooks),
        lines(&c_hooks)
    );
    let (successor, successor_hooks) = successor.expect("a successor");
    let taken = terms_of(successor_hooks, "primary");
    assert_eq!(taken.len(), 1);
    assert!(taken[0] > first);
    assert_eq!(successor.status("/health/primary"), Some(200));

    // The webhook was refused twice and retried; every event after the
    // refusals, the step-down included, was accepted. (The promotion may
    // have been superseded by the step-down while it waited to retry.)
    assert!(
        wait_until(Duration::from_secs(20), || {
            let received = receiver.received();
            let step_down = received
                .iter()
                .filter(|b| b["event"] == "secondary" && b["term"].as_u64() >= Some(first))
                .count();
            let accepted = a.metric("herd_webhook_attempts_total{outcome=\"accepted\"}");
            // Refused attempts plus accepted ones are all the POSTs.
            step_down >= 1 && accepted.map(|n| n as usize + 2) == Some(received.len())
        }),
        "{:?}",
        receiver.received()
    );
    let received = receiver.received();
    assert!(
        received
            .iter()
            .any(|b| b["event"] == "primary" && b["term"] == first)
    );
    assert!(received.iter().all(|b| b["node"] == "a"));
    assert_eq!(
        a.metric("herd_webhook_attempts_total{outcome=\"rejected\"}"),
        Some(2.0)
    );

    // SIGTERM on the new primary: its server hears of the step-down before
    // the agent exits, within the drain timeout.
    let mut successor = if successor.name == "b" { b } else { c };
    successor.signal(Signal::SIGTERM);
    let status = successor.wait_exit(Duration::from_secs(8));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let last = lines(successor_hooks);
    let stepped_down = last
        .iter()
        .rposition(|l| l.starts_with("secondary"))
        .is_some_and(|at| {
            at > last
                .iter()
                .rposition(|l| l.starts_with("primary"))
                .unwrap_or(0)
        });
    assert!(stepped_down, "{last:?}");
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_logged_and_the_next_event_still_runs() {
    let dir = log_dir("hooks-timeout");
    let (a, a_hooks) = start(&dir, "a", &[], "timeout = \"1s\"");
    // The next hook a runs hangs.
    let slow = dir.join("a.slow");
    assert!(wait_until(Duration::from_secs(10), || has_line(
        &a_hooks, "primary", ""
    )));
    std::fs::write(&slow, "").expect("arm the slow hook");
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    let c = Agent::start(&dir, "c", &[a.gossip], &[]);
    assert!(
        wait_until(Duration::from_secs(30), || has_line(
            &a_hooks,
            "member-joined",
            "member=c "
        ) || has_line(
            &a_hooks,
            "member-joined",
            "member=b "
        )),
        "{:?}\n{}",
        lines(&a_hooks),
        a.log_tail(20)
    );
    assert!(
        all_alive(&[&a, &b, &c])
            || wait_until(Duration::from_secs(10), || all_alive(&[&a, &b, &c]))
    );
    // One of the two joins hung and was killed; the other was delivered.
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&a.log)
            .is_ok_and(|log| log.contains("hook timed out and was killed"))),
        "{}",
        a.log_tail(30)
    );
    let joined = lines(&a_hooks)
        .iter()
        .filter(|l| l.starts_with("member-joined"))
        .count();
    assert_eq!(joined, 1, "{:?}", lines(&a_hooks));
    assert_eq!(
        a.metric("herd_hook_runs_total{hook=\"on_member\",outcome=\"timeout\"}"),
        Some(1.0)
    );
    // What the hung hook started died with it.
    let pid = std::fs::read_to_string(dir.join("a.slow.pid")).expect("the slow hook's pid");
    let gone = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    assert!(wait_until(Duration::from_secs(10), || gone(pid.trim())));
    // The next member event still arrives.
    drop(c);
    assert!(
        wait_until(Duration::from_secs(30), || has_line(
            &a_hooks,
            "member-failed",
            "member=c "
        )),
        "{:?}",
        lines(&a_hooks)
    );
}
