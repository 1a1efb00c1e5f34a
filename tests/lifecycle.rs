//! Real agents with health checks against small HTTP servers the test runs:
//! failover on a failing server, drain and resume, forget, restarts from a
//! data directory, and a rolling restart under an external poller.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{Agent, log_dir, wait_until};

/// A tiny HTTP server standing in for the clustered server beside an agent.
struct Backend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start() -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], support::free_port()));
        let mut backend = Self {
            addr,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        backend.resume();
        backend
    }

    /// Serves again on the same port.
    fn resume(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("bind the backend");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let mut request = [0u8; 1024];
                        let _ = stream.read(&mut request);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n",
                        );
                    }
                    // Polling accept keeps `stop` simple; the listener closes
                    // when the thread ends.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    /// Stops serving: connections are refused.
    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A configuration file with a fast check of `backend`.
fn check_config(dir: &Path, name: &str, backend: &Backend) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[[check]]\nname = \"web\"\nhttp = \"{}\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 2\nfall = 2\n",
        backend.url()
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

fn herd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(args)
        .output()
        .expect("run herd")
}

fn admin_arg(agent: &Agent) -> String {
    agent.admin.to_string()
}

fn seniority(view: &Agent, member: &str) -> Option<u64> {
    view.member(member)?["seniority"].as_u64()
}

fn all_ranked(agents: &[&Agent]) -> bool {
    agents.iter().all(|view| {
        view.get("/v1/members").is_some_and(|(_, body)| {
            body["members"].as_array().is_some_and(|ms| {
                ms.len() == agents.len()
                    && ms.iter().all(|m| {
                        m["state"] == "alive" && m["seniority"].is_u64() && m["admitted"] == true
                    })
            })
        })
    })
}

/// Each agent's view, `name: member state seniority, ...`, for failure
/// messages.
fn views(agents: &[&Agent]) -> String {
    agents
        .iter()
        .map(|view| {
            let members = view
                .get("/v1/members")
                .and_then(|(_, body)| body["members"].as_array().cloned())
                .unwrap_or_default();
            let seen: Vec<String> = members
                .iter()
                .map(|m| format!("{} {} {}", m["name"], m["state"], m["seniority"]))
                .collect();
            format!("{} sees [{}]", view.name, seen.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn the_primary_role_moves_when_its_server_stops_and_does_not_move_back_when_it_returns() {
    let dir = log_dir("check-failover");
    let mut backends: Vec<Backend> = (0..3).map(|_| Backend::start()).collect();
    let mut agents: Vec<Agent> = Vec::new();
    for (i, backend) in backends.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let config = check_config(&dir, &name, backend);
        let config = config.to_string_lossy().into_owned();
        let seeds: Vec<SocketAddr> = agents.first().map(|a| a.gossip).into_iter().collect();
        agents.push(Agent::start(&dir, &name, &seeds, &["--config", &config]));
        // Join one by one, so seniorities follow the names.
        let joined: Vec<&Agent> = agents.iter().collect();
        assert!(
            wait_until(Duration::from_secs(15), || all_ranked(&joined)),
            "{name} did not join with a passing check"
        );
    }
    let everyone: Vec<&Agent> = agents.iter().collect();
    assert!(wait_until(Duration::from_secs(10), || everyone
        .iter()
        .all(|a| a.primary().as_deref() == Some("n1"))));
    let (_, members) = agents[1].get("/v1/members").expect("members");
    let n1 = members["members"][0].clone();
    assert_eq!(n1["checks"][0]["name"], "web");
    assert_eq!(n1["checks"][0]["status"], "passing");

    // n1's server stops: its check fails, it answers 503 and n2 takes over.
    backends[0].halt();
    assert!(
        wait_until(Duration::from_secs(10), || {
            agents[0].status("/health") == Some(503)
                && everyone
                    .iter()
                    .all(|a| a.primary().as_deref() == Some("n2"))
                && agents[1].status("/health/primary") == Some(200)
                && agents[0].status("/health/primary") == Some(503)
        }),
        "the role did not move off the node whose server stopped"
    );
    let (_, members) = agents[2].get("/v1/members").expect("members");
    let n1 = members["members"][0].clone();
    assert_eq!(n1["health"], "failing");
    assert_eq!(n1["checks"][0]["status"], "failing");
    assert!(
        n1["checks"][0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("refused")),
        "{n1}"
    );

    // The server returns: n1 serves again but ranks behind n2.
    backends[0].resume();
    assert!(
        wait_until(Duration::from_secs(10), || agents[0].status("/health")
            == Some(200)
            && seniority(&agents[2], "n1") > seniority(&agents[2], "n2")),
        "n1 did not recover"
    );
    for agent in &everyone {
        assert_eq!(agent.primary().as_deref(), Some("n2"), "{}", agent.name);
    }
    assert_eq!(agents[0].status("/health/primary"), Some(503));
    assert_eq!(agents[0].status("/health/secondary"), Some(200));
}

#[test]
fn drain_and_resume_hand_the_role_over_and_keep_the_member() {
    let dir = log_dir("drain");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    let c = Agent::start(&dir, "c", &[a.gossip], &[]);
    let all = [&a, &b, &c];
    assert!(wait_until(Duration::from_secs(15), || all_ranked(&all)));
    assert!(wait_until(Duration::from_secs(5), || a
        .status("/health/primary")
        == Some(200)));

    // Mutating calls are refused on the public listener.
    let public = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let refused = public
        .post(&format!("http://{}/v1/drain", a.http))
        .send_empty()
        .expect("POST");
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(a.status("/health"), Some(200));

    let out = herd(&["drain", "--admin", &admin_arg(&a)]);
    assert!(out.status.success(), "{out:?}");
    let mut successor = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let claimant = [&b, &c]
                .into_iter()
                .find(|x| x.status("/health/primary") == Some(200));
            successor = claimant.map(|x| x.name.clone());
            a.status("/health") == Some(503)
                && a.status("/health/primary") == Some(503)
                && successor.is_some()
                && all.iter().all(|x| x.primary() == successor)
        }),
        "draining did not hand the role over"
    );
    let successor = successor.unwrap_or_default();
    let successor_agent = if successor == "b" { &b } else { &c };
    // Still a member, alive, marked draining.
    let seen = b.member("a").expect("a in b's view");
    assert_eq!(seen["state"], "alive");
    assert_eq!(seen["draining"], true);

    let out = herd(&["resume", "--admin", &admin_arg(&a)]);
    assert!(out.status.success(), "{out:?}");
    assert!(wait_until(Duration::from_secs(10), || a.status("/health")
        == Some(200)
        && b.member("a").is_some_and(|m| m["draining"] == false)));
    assert_eq!(a.status("/health/primary"), Some(503), "no failback");
    assert_eq!(successor_agent.status("/health/primary"), Some(200));
}

#[test]
fn forgetting_crashed_members_gives_the_quorum_back_to_the_survivors() {
    let dir = log_dir("forget");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    let mut c = Agent::start(&dir, "c", &[a.gossip], &[]);
    let mut d = Agent::start(&dir, "d", &[a.gossip], &[]);
    assert!(wait_until(Duration::from_secs(15), || all_ranked(&[
        &a, &b, &c, &d
    ])));

    // A live member cannot be forgotten.
    let out = herd(&["forget", "c", "--admin", &admin_arg(&a)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("c is alive"));

    // Scale in by crashing two of four: two survivors are no majority.
    c.kill();
    d.kill();
    assert!(
        wait_until(Duration::from_secs(20), || [&a, &b].iter().all(|x| {
            x.member_state("c").as_deref() == Some("down")
                && x.member_state("d").as_deref() == Some("down")
        })),
        "the crashes were not detected"
    );
    assert_eq!(a.primary(), None);
    assert_eq!(a.status("/health/primary"), Some(503));
    assert_eq!(b.status("/health/primary"), Some(503));

    for name in ["c", "d"] {
        let out = herd(&["forget", name, "--admin", &admin_arg(&a)]);
        assert!(out.status.success(), "{out:?}");
    }
    assert!(
        wait_until(Duration::from_secs(10), || [&a, &b].iter().all(|x| {
            x.member_state("c").as_deref() == Some("left")
                && x.member_state("d").as_deref() == Some("left")
                && x.primary().as_deref() == Some("a")
        })),
        "forgetting did not release the quorum"
    );
    // a took a fresh rank when its quorum came back: it claims once a
    // majority (a and b) has confirmed it, after its record has travelled.
    assert!(
        wait_until(Duration::from_secs(10), || a.status("/health/primary")
            == Some(200)),
        "a did not claim the role"
    );
    assert_eq!(b.status("/health/primary"), Some(503));
    let (_, primary) = b.get("/v1/primary").expect("primary");
    assert_eq!(primary["expected"], 2);
}

#[test]
fn a_node_restarted_with_its_data_dir_rejoins_with_no_seeds() {
    let dir = log_dir("data-dir");
    let data = |name: &str| {
        dir.join(format!("{name}-data"))
            .to_string_lossy()
            .into_owned()
    };
    let a = Agent::start(&dir, "a", &[], &["--data-dir", &data("a")]);
    let b = Agent::start(&dir, "b", &[a.gossip], &["--data-dir", &data("b")]);
    let mut c = Agent::start(&dir, "c", &[a.gossip], &["--data-dir", &data("c")]);
    assert!(wait_until(Duration::from_secs(15), || all_ranked(&[
        &a, &b, &c
    ])));
    let memory = PathBuf::from(data("c")).join("members.json");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&memory)
            .is_ok_and(|text| text.contains("\"a\"") && text.contains("\"b\""))),
        "c did not remember its members"
    );

    c.kill();
    c.restart(&[]);
    assert!(
        wait_until(Duration::from_secs(20), || c.status("/health") == Some(200)
            && all_ranked(&[&a, &b, &c])),
        "c did not rejoin the members it remembered"
    );
    // It joined the existing cluster rather than founding its own.
    assert_eq!(c.primary().as_deref(), Some("a"));
    assert_eq!(c.status("/health/primary"), Some(503));
}

#[test]
fn two_of_three_crash_and_one_restart_brings_a_primary_back() {
    // The restarted process is a new life of a member the cluster had
    // admitted: it takes its place in the quorum at once. It used to need
    // a majority of the *other* admitted members to admit it, and the lone
    // survivor is none, so the cluster stayed without a primary for good.
    let dir = log_dir("two-of-three");
    let a = Agent::start(&dir, "a", &[], &[]);
    let mut b = Agent::start(&dir, "b", &[a.gossip], &[]);
    let mut c = Agent::start(&dir, "c", &[a.gossip], &[]);
    assert!(wait_until(Duration::from_secs(15), || all_ranked(&[
        &a, &b, &c
    ])));
    let seeds = [a.gossip, b.gossip, c.gossip];

    // The primary (a, the founder) and b survive as one: crash b and c.
    b.kill();
    c.kill();
    assert!(
        wait_until(Duration::from_secs(20), || a.status("/health/primary")
            == Some(503)),
        "a kept claiming alone: {}",
        a.log_tail(20)
    );

    b.restart(&seeds);
    assert!(
        wait_until(Duration::from_secs(20), || {
            b.status("/health") == Some(200)
                && a.member("b").is_some_and(|m| m["admitted"] == true)
                && a.status("/health/primary") == Some(200)
                && b.primary().as_deref() == Some("a")
        }),
        "no primary after b restarted: {}",
        views(&[&a, &b])
    );
    assert_eq!(b.status("/health/primary"), Some(503));
}

fn term_of(agent: &Agent) -> Option<u64> {
    agent.get("/v1/primary")?.1["term"].as_u64()
}

#[test]
fn a_data_dir_keeps_terms_rising_when_the_whole_cluster_restarts() {
    let dir = log_dir("data-dir-term");
    let data = dir.join("a-data").to_string_lossy().into_owned();
    // Its own cluster name: other tests' agents never mix with these.
    let mut a = Agent::start(&dir, "a", &[], &["--data-dir", &data, "--cluster", "terms"]);
    assert!(wait_until(Duration::from_secs(10), || term_of(&a) == Some(1)));
    // A crash, not a clean stop: the term must already be on disk.
    let memory = PathBuf::from(&data).join("members.json");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&memory).is_ok_and(|text| text.contains("\"term\": 1"))
    }));
    for expected in [2, 3] {
        a.kill();
        a.restart(&[]);
        assert!(
            wait_until(Duration::from_secs(10), || term_of(&a) == Some(expected)),
            "after a restart the term is {:?}, not {expected}",
            term_of(&a)
        );
    }
    // Without the data directory the memory is gone: term 1 again.
    let b = Agent::start(&dir, "b", &[], &["--cluster", "terms"]);
    assert!(wait_until(Duration::from_secs(10), || term_of(&b) == Some(1)));
}

#[test]
fn remembered_members_survive_a_start_that_cannot_rejoin_them() {
    let dir = log_dir("data-dir-unreachable");
    let data = dir.join("c-data");
    std::fs::create_dir_all(&data).expect("data dir");
    // Members that are not up: the agent keeps trying them. Its own
    // cluster name keeps it out of other tests' clusters should one of
    // them bind these ports meanwhile.
    let (a, b) = (support::free_port(), support::free_port());
    let memory = data.join("members.json");
    std::fs::write(
        &memory,
        format!(
            r#"{{"cluster":"unreachable","node":"c","term":5,"members":[
                {{"name":"a","addr":"127.0.0.1:{a}"}},{{"name":"b","addr":"127.0.0.1:{b}"}}]}}"#
        ),
    )
    .expect("write the memory");
    let data_arg = data.to_string_lossy().into_owned();
    let c = Agent::start(
        &dir,
        "c",
        &[],
        &["--data-dir", &data_arg, "--cluster", "unreachable"],
    );
    // Join attempts went out, so the agent has published (and saved) since.
    assert!(wait_until(Duration::from_secs(10), || c
        .metric("herd_packets_sent_total")
        .is_some_and(|sent| sent > 0.0)));
    assert_eq!(c.status("/health"), Some(503), "c must not found a cluster");
    let text = std::fs::read_to_string(&memory).expect("the memory");
    let kept: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(kept["members"].as_array().map(Vec::len), Some(2), "{text}");
    assert_eq!(kept["term"], 5);
}

/// One poll of every node: how many answer 200 on /health and on
/// /health/primary.
fn poll(agents: &[(String, SocketAddr)], client: &ureq::Agent) -> (usize, usize) {
    let ok = |addr: &SocketAddr, path: &str| {
        client
            .get(&format!("http://{addr}{path}"))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
    };
    let healthy = agents.iter().filter(|(_, a)| ok(a, "/health")).count();
    let primaries = agents
        .iter()
        .filter(|(_, a)| ok(a, "/health/primary"))
        .count();
    (healthy, primaries)
}

#[test]
fn a_rolling_restart_keeps_four_healthy_nodes_and_one_primary_at_every_poll() {
    let dir = log_dir("rolling");
    let backends: Vec<Backend> = (0..5).map(|_| Backend::start()).collect();
    let mut agents: Vec<Agent> = Vec::new();
    for (i, backend) in backends.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let config = check_config(&dir, &name, backend)
            .to_string_lossy()
            .into_owned();
        let data = dir
            .join(format!("{name}-data"))
            .to_string_lossy()
            .into_owned();
        let seeds: Vec<SocketAddr> = agents.first().map(|a| a.gossip).into_iter().collect();
        agents.push(Agent::start(
            &dir,
            &name,
            &seeds,
            &[
                "--config",
                &config,
                "--data-dir",
                &data,
                "--drain-timeout",
                "1s",
            ],
        ));
    }
    let all: Vec<&Agent> = agents.iter().collect();
    assert!(wait_until(Duration::from_secs(20), || all_ranked(&all)
        && all.iter().all(|a| a.status("/health") == Some(200))));
    assert!(wait_until(Duration::from_secs(5), || poll(
        &agents
            .iter()
            .map(|a| (a.name.clone(), a.http))
            .collect::<Vec<_>>(),
        &ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .http_status_as_error(false)
            .build()
            .new_agent()
    ) == (5, 1)));

    // An external poller, as a load balancer would be.
    let targets: Vec<(String, SocketAddr)> =
        agents.iter().map(|a| (a.name.clone(), a.http)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_millis(500)))
                .http_status_as_error(false)
                .build()
                .new_agent();
            let mut polls = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                polls.push(poll(&targets, &client));
                std::thread::sleep(Duration::from_millis(100));
            }
            polls
        })
    };

    for i in 0..agents.len() {
        let name = agents[i].name.clone();
        let out = herd(&["drain", "--admin", &agents[i].admin.to_string()]);
        assert!(out.status.success(), "{out:?}");
        // Wait until the balancer's view moved off the node.
        assert!(
            wait_until(Duration::from_secs(10), || {
                agents[i].status("/health") == Some(503)
                    && agents[i].status("/health/primary") == Some(503)
                    && agents
                        .iter()
                        .filter(|a| a.name != name)
                        .filter(|a| a.status("/health/primary") == Some(200))
                        .count()
                        == 1
            }),
            "{name} did not drain"
        );
        agents[i].signal(Signal::SIGTERM);
        let status = agents[i].wait_exit(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "{name}: {status:?}");
        agents[i].restart(&[]);
        let others: Vec<&Agent> = agents.iter().collect();
        assert!(
            wait_until(Duration::from_secs(20), || agents[i].status("/health")
                == Some(200)
                && all_ranked(&others)),
            "{name} did not come back: {}",
            views(&others)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let polls = poller.join().expect("the poller");

    let too_few_healthy: Vec<_> = polls.iter().filter(|(h, _)| *h < 4).collect();
    // One poll asks the five nodes one after another over a few
    // milliseconds, so a poll that straddles a hand-over can see the old
    // primary before it stepped down and the new one after it took over.
    // Such a poll stands alone; two primaries in consecutive polls would be
    // a real overlap.
    let straddling = polls.iter().filter(|(_, p)| *p > 1).count();
    let two_primaries: Vec<_> = polls
        .windows(2)
        .filter(|pair| pair[0].1 > 1 && pair[1].1 > 1)
        .collect();
    let hand_over: Vec<_> = polls.iter().filter(|(_, p)| *p == 0).collect();
    eprintln!(
        "rolling restart: {} polls, {} with fewer than 4 healthy, {} with two primaries \
         (straddling a hand-over), {} with two primaries in consecutive polls, \
         {} hand-over polls with no primary",
        polls.len(),
        too_few_healthy.len(),
        straddling,
        two_primaries.len(),
        hand_over.len()
    );
    // Five drains of a second each at least: some 50 polls (fewer when a
    // busy machine slows the poller), enough to catch an overlap.
    assert!(polls.len() > 25, "the poller hardly ran: {}", polls.len());
    assert!(too_few_healthy.is_empty(), "{too_few_healthy:?}");
    assert!(two_primaries.is_empty(), "{two_primaries:?}");
    assert!(
        straddling <= agents.len(),
        "{straddling} polls saw two primaries"
    );
    // Each node is primary when its turn comes (the role moved to it at the
    // previous turn and never back): each turn is one hand-over, and only
    // hand-overs may show a poll without a primary, a few at most.
    assert!(
        hand_over.len() <= 3 * agents.len(),
        "{} hand-over polls",
        hand_over.len()
    );
}

/// Starts an agent on `data` and waits for it to exit; its exit code and
/// its log.
fn start_expecting_exit(
    dir: &Path,
    name: &str,
    data: &Path,
    cluster: &str,
) -> (Option<i32>, String) {
    let data = data.to_string_lossy().into_owned();
    let mut agent = Agent::start(dir, name, &[], &["--data-dir", &data, "--cluster", cluster]);
    let status = agent.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some(),
        "{name} kept running: {}",
        agent.log_tail(20)
    );
    (status.and_then(|s| s.code()), agent.log_tail(20))
}

#[test]
fn a_members_file_it_cannot_use_stops_the_start_with_exit_64_and_names_the_file() {
    let dir = log_dir("data-dir-fails-closed");
    let whole = r#"{"cluster":"closed","node":"NODE","term":4,"members":[{"name":"a","addr":"127.0.0.1:1"}]}"#;
    let cases = [
        ("empty", String::new()),
        ("truncated", whole[..whole.len() / 2].to_owned()),
        ("other-cluster", whole.replace("closed", "elsewhere")),
        ("other-node", whole.replace("NODE", "someone-else")),
    ];
    for (name, text) in cases {
        let data = dir.join(format!("{name}-data"));
        std::fs::create_dir_all(&data).expect("data dir");
        let memory = data.join("members.json");
        std::fs::write(&memory, text.replace("NODE", name)).expect("write the memory");
        let (code, log) = start_expecting_exit(&dir, name, &data, "closed");
        assert_eq!(code, Some(64), "{name}: {log}");
        assert!(
            log.contains(&*memory.to_string_lossy()) && log.contains("remove it"),
            "{name}: the message does not name the file and the fix: {log}"
        );
        // Nothing founded, nothing overwritten.
        assert!(!log.contains("founded a new cluster"), "{name}: {log}");
        let after = std::fs::read_to_string(&memory).expect("the memory");
        assert_eq!(
            after,
            text.replace("NODE", name),
            "{name}: the file was changed"
        );
    }
}

#[test]
fn a_data_dir_that_cannot_be_written_stops_the_start_with_exit_64() {
    let dir = log_dir("data-dir-unwritable");
    // Tests may run as root, which ignores permission bits: make the
    // directory unusable in ways no user can bypass.
    // 1. Its parent is a regular file: it cannot be created.
    let plain = dir.join("plain-file");
    std::fs::write(&plain, "").expect("write a file");
    let (code, log) = start_expecting_exit(&dir, "under-file", &plain.join("data"), "unwritable");
    assert_eq!(code, Some(64), "{log}");
    assert!(log.contains("cannot create the data directory"), "{log}");
    assert!(
        log.contains(&*plain.join("data").to_string_lossy()),
        "{log}"
    );
    // 2. It exists, but its temporary file's name is taken by a directory:
    //    the file cannot be written.
    let data = dir.join("blocked-data");
    std::fs::create_dir_all(data.join("members.json.partial")).expect("block the file");
    let (code, log) = start_expecting_exit(&dir, "blocked", &data, "unwritable");
    assert_eq!(code, Some(64), "{log}");
    assert!(
        log.contains(&*data.join("members.json").to_string_lossy())
            && log.contains("point --data-dir elsewhere"),
        "{log}"
    );
    assert!(!log.contains("founded a new cluster"), "{log}");
}

#[test]
fn a_primary_whose_data_dir_breaks_hands_the_role_over_until_it_can_write_again() {
    let dir = log_dir("data-dir-breaks");
    let data = dir.join("a-data");
    let data_arg = data.to_string_lossy().into_owned();
    let cluster = ["--cluster", "breaks"];
    let a = Agent::start(
        &dir,
        "a",
        &[],
        &["--data-dir", &data_arg, "--cluster", "breaks"],
    );
    let b = Agent::start(&dir, "b", &[a.gossip], &cluster);
    let c = Agent::start(&dir, "c", &[a.gossip], &cluster);
    assert!(wait_until(Duration::from_secs(15), || all_ranked(&[
        &a, &b, &c
    ]) && a
        .status("/health/primary")
        == Some(200)));
    let memory = data.join("members.json");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&memory).is_ok_and(|t| t.contains("\"b\"") && t.contains("\"c\""))
    }));
    assert_eq!(a.metric("herd_data_dir_writable"), Some(1.0));
    assert_eq!(a.metric("herd_data_dir_write_failures_total"), Some(0.0));

    // The disk "breaks": the temporary file's name is taken by a directory
    // (root cannot write through that either). A new member makes a write.
    let blocker = data.join("members.json.partial");
    std::fs::create_dir(&blocker).expect("block the data directory");
    let d = Agent::start(&dir, "d", &[a.gossip], &cluster);
    let all = [&a, &b, &c, &d];
    let mut successor = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            successor = [&b, &c, &d]
                .into_iter()
                .find(|x| x.status("/health/primary") == Some(200));
            a.metric("herd_data_dir_writable") == Some(0.0)
                && a.status("/health/primary") == Some(503)
                && successor
                    .is_some_and(|s| all.iter().all(|x| x.primary() == Some(s.name.clone())))
        }),
        "the primary kept the role though it cannot write its data dir: {}",
        views(&all)
    );
    let successor = successor.expect("a successor");
    assert_eq!(
        successor.member("a").map(|m| m["eligible"].clone()),
        Some(false.into())
    );
    // Still a healthy member: only the role moved.
    assert_eq!(a.status("/health"), Some(200));
    // It keeps trying, and says so once.
    assert!(wait_until(Duration::from_secs(10), || a
        .metric("herd_data_dir_write_failures_total")
        .is_some_and(|n| n >= 3.0)));
    let log = std::fs::read_to_string(&a.log).expect("a's log");
    assert_eq!(
        log.matches("cannot write the data directory").count(),
        1,
        "{log}"
    );

    // Repaired: eligible again, behind the working primary (no failback).
    std::fs::remove_dir(&blocker).expect("unblock");
    assert!(
        wait_until(Duration::from_secs(10), || {
            a.metric("herd_data_dir_writable") == Some(1.0)
                && b.member("a")
                    .is_some_and(|m| m["eligible"] == true && m["seniority"].is_u64())
        }),
        "a did not become eligible again: {}",
        views(&all)
    );
    assert!(
        std::fs::read_to_string(&memory).is_ok_and(|t| t.contains("\"d\"")),
        "the memory was not written after the repair"
    );
    assert_eq!(a.status("/health/primary"), Some(503));
    assert_eq!(successor.status("/health/primary"), Some(200));
    assert!(
        all.iter()
            .all(|x| x.primary() == Some(successor.name.clone()))
    );
    let log = std::fs::read_to_string(&a.log).expect("a's log");
    assert_eq!(
        log.matches("cannot write the data directory").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("can be written again").count(), 1, "{log}");
}

/// The local member's checks in `agent`'s view: name and status.
fn local_checks(agent: &Agent) -> Option<Vec<(String, String)>> {
    let member = agent.member(&agent.name)?;
    let checks = member["checks"].as_array()?;
    Some(
        checks
            .iter()
            .map(|c| (text(&c["name"]), text(&c["status"])))
            .collect(),
    )
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn checks_are(agent: &Agent, expected: &[(&str, &str)]) -> bool {
    local_checks(agent).is_some_and(|checks| {
        checks.len() == expected.len()
            && expected
                .iter()
                .all(|(name, status)| checks.iter().any(|(n, s)| n == name && s == status))
    })
}

/// Replaces a file whole, as an editor or configuration management would.
fn replace_file(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).expect("write the file");
    std::fs::rename(&partial, path).expect("rename the file");
}

/// A check section for `url`, failing on the first failure.
fn check_section(name: &str, url: &str) -> String {
    format!(
        "[[check]]\nname = \"{name}\"\nhttp = \"{url}\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 1\n"
    )
}

/// An agent started with `--config` naming one passing HTTP check `web`,
/// once it claims the role and the check passes.
fn start_with_a_check_file(test: &str, cluster: &str) -> (PathBuf, Backend, PathBuf, Agent) {
    let dir = log_dir(test);
    let backend = Backend::start();
    let config = dir.join("a.toml");
    std::fs::write(&config, check_section("web", &backend.url())).expect("write the config");
    let config_arg = config.to_string_lossy().into_owned();
    let a = Agent::start(
        &dir,
        "a",
        &[],
        &["--config", &config_arg, "--cluster", cluster],
    );
    assert!(wait_until(Duration::from_secs(10), || a
        .status("/health/primary")
        == Some(200)
        && checks_are(&a, &[("web", "passing")])));
    (dir, backend, config, a)
}

#[test]
fn sighup_applies_a_changed_check_set_and_hooks_and_the_agent_stays_up() {
    let (dir, backend, config, mut a) = start_with_a_check_file("reload-checks", "reload");
    let web = check_section("web", &backend.url());

    // Hooks first: added by a reload, they hear the node's role at once.
    let hook_out = dir.join("hook.out");
    let hooks = format!(
        "[hooks]\non_primary = [\"/bin/sh\", \"-c\", \"echo $HERD_EVENT $HERD_TERM >> {}\"]\n",
        hook_out.display()
    );
    replace_file(&config, &format!("{web}{hooks}"));
    a.signal(Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(
            &hook_out
        )
        .is_ok_and(|t| t.trim() == "primary 1")),
        "the reloaded on_primary did not run: {:?}",
        std::fs::read_to_string(&hook_out)
    );
    assert_eq!(
        a.metric(r#"herd_config_reloads_total{result="ok"}"#),
        Some(1.0)
    );

    // A new check that fails: /health 503, the old check kept its state.
    let dead = format!("http://127.0.0.1:{}/", support::free_port());
    // With a change that needs a restart (top-level keys before tables).
    let with_dead = format!("priority = 5\n{web}{}{hooks}", check_section("dead", &dead));
    replace_file(&config, &with_dead);
    a.signal(Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || a.status("/health") == Some(503)
            && checks_are(&a, &[("web", "passing"), ("dead", "failing")])),
        "the new check was not applied: {:?}",
        local_checks(&a)
    );
    assert!(a.is_running(), "SIGHUP stopped the agent");
    assert_eq!(a.status("/health/primary"), Some(503));
    assert_eq!(
        a.metric(r#"herd_config_reloads_total{result="ok"}"#),
        Some(2.0)
    );
    let log = std::fs::read_to_string(&a.log).expect("the log");
    assert!(
        log.lines()
            .any(|l| l.contains("only when the agent restarts") && l.contains("priority")),
        "no warning names the setting that needs a restart: {log}"
    );

    // Removed again: its task stops and the node serves.
    replace_file(&config, &format!("{web}{hooks}"));
    a.signal(Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || a.status("/health") == Some(200)
            && checks_are(&a, &[("web", "passing")])),
        "the removed check still counts: {:?}",
        local_checks(&a)
    );
    assert!(a.is_running(), "SIGHUP stopped the agent");
    assert_eq!(
        a.metric(r#"herd_config_reloads_total{result="ok"}"#),
        Some(3.0)
    );
    assert_eq!(
        a.metric(r#"herd_config_reloads_total{result="error"}"#),
        Some(0.0)
    );
}

#[test]
fn sighup_with_an_invalid_file_changes_nothing_and_the_agent_stays_up() {
    let (_dir, backend, config, mut a) = start_with_a_check_file("reload-invalid", "reload-bad");
    let web = check_section("web", &backend.url());
    let dead = format!("http://127.0.0.1:{}/", support::free_port());

    // Not TOML herd knows, then values that do not validate (two errors).
    let invalid = [
        (
            format!("prority = 3\n{web}{}", check_section("dead", &dead)),
            vec!["prority"],
        ),
        (
            format!(
                "{web}[[check]]\nname = \"dead\"\nhttp = \"{dead}\"\ninterval = \"100ms\"\ntimeout = \"1s\"\n\
                 [hooks]\ntimeout = \"0s\"\n"
            ),
            vec!["check 2 (dead)", "hooks.timeout"],
        ),
    ];
    for (round, (text, named)) in invalid.iter().enumerate() {
        replace_file(&config, text);
        a.signal(Signal::SIGHUP);
        let errors = (round + 1) as f64;
        assert!(
            wait_until(Duration::from_secs(10), || a
                .metric(r#"herd_config_reloads_total{result="error"}"#)
                == Some(errors)),
            "the reload was not refused"
        );
        assert!(a.is_running(), "SIGHUP stopped the agent");
        let log = std::fs::read_to_string(&a.log).expect("the log");
        for name in named {
            assert!(
                log.lines().any(|l| l.contains("ERROR") && l.contains(name)),
                "the error about {name} was not logged: {log}"
            );
        }
        // Nothing changed: no new check, still healthy and primary.
        assert!(
            checks_are(&a, &[("web", "passing")]),
            "{:?}",
            local_checks(&a)
        );
        assert_eq!(a.status("/health"), Some(200));
        assert_eq!(a.status("/health/primary"), Some(200));
    }
    assert_eq!(
        a.metric(r#"herd_config_reloads_total{result="ok"}"#),
        Some(0.0)
    );
}

#[test]
fn sighup_applies_the_files_log_filter() {
    let dir = log_dir("reload-log");
    let config = dir.join("a.toml");
    std::fs::write(&config, "log = \"warn\"\n").expect("write the config");
    let config_arg = config.to_string_lossy().into_owned();
    let mut a = Agent::start_without_herd_log(
        &dir,
        "a",
        &["--config", &config_arg, "--cluster", "reload-log"],
    );
    assert!(wait_until(Duration::from_secs(10), || a
        .status("/health/primary")
        == Some(200)));
    let read_log = || std::fs::read_to_string(&a.log).unwrap_or_default();
    assert!(
        !read_log().contains("INFO"),
        "the file's filter was not used: {}",
        read_log()
    );

    replace_file(&config, "log = \"info\"\n");
    a.signal(Signal::SIGHUP);
    // The reload's own report is an INFO line: it shows only under the new filter.
    assert!(
        wait_until(Duration::from_secs(10), || read_log()
            .contains("configuration reloaded")),
        "the log filter did not change: {}",
        read_log()
    );
    assert!(read_log().contains(r#"applied="log""#), "{}", read_log());
    assert!(a.is_running(), "SIGHUP stopped the agent");
}

#[test]
fn a_node_that_founds_with_no_way_back_says_so_in_one_warning() {
    let dir = log_dir("founding-warning");
    let count = |agent: &Agent, text: &str| {
        std::fs::read_to_string(&agent.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(text))
            .count()
    };
    let no_seeds = "founding a new cluster: no --join and no --data-dir";
    let own_seed = "founding a new cluster: every --join address is this node's own";

    // No seeds, no data dir.
    let mut lone = Agent::start(&dir, "lone", &[], &["--cluster", "founding-1"]);
    assert!(wait_until(Duration::from_secs(10), || lone
        .status("/health/primary")
        == Some(200)));
    assert_eq!(count(&lone, no_seeds), 1, "{}", lone.log_tail(10));
    assert!(
        count(&lone, "--join listing them") == 1 && count(&lone, "--data-dir") == 1,
        "the warning does not name the way out: {}",
        lone.log_tail(10)
    );
    // Started without --config: SIGHUP has nothing to reload and stops nothing.
    lone.signal(Signal::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&lone.log).is_ok_and(|t| t.contains("nothing to reload"))
    }));
    assert!(lone.is_running(), "SIGHUP stopped the agent");
    assert_eq!(lone.status("/health/primary"), Some(200));

    // Its only seed is itself: it founds, and says a restart would again.
    let port = support::free_port();
    let own = SocketAddr::from(([127, 0, 0, 1], port));
    let selfish = Agent::start_on(&dir, "selfish", port, &[own], &["--cluster", "founding-2"]);
    assert!(wait_until(Duration::from_secs(10), || selfish
        .status("/health/primary")
        == Some(200)));
    assert_eq!(count(&selfish, own_seed), 1, "{}", selfish.log_tail(10));
    assert_eq!(count(&selfish, no_seeds), 0);

    // With a data dir the next start rejoins what it remembers: no warning.
    let data = dir.join("kept-data").to_string_lossy().into_owned();
    let kept = Agent::start(
        &dir,
        "kept",
        &[],
        &["--cluster", "founding-3", "--data-dir", &data],
    );
    assert!(wait_until(Duration::from_secs(10), || kept
        .status("/health/primary")
        == Some(200)));
    assert_eq!(
        count(&kept, "founding a new cluster"),
        0,
        "{}",
        kept.log_tail(10)
    );
}

#[test]
fn the_founder_restarted_with_the_whole_seed_list_rejoins_instead_of_founding() {
    // README's three-node example: a founds with its own address as its
    // only seed, b and c get the whole list, and so does a when it restarts.
    let dir = log_dir("founder-restart");
    let ports: Vec<u16> = (0..3).map(|_| support::free_port()).collect();
    let seeds: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let cluster = ["--cluster", "founder-restart"];
    let mut a = Agent::start_on(&dir, "a", ports[0], &seeds[..1], &cluster);
    assert!(wait_until(Duration::from_secs(10), || a
        .status("/health/primary")
        == Some(200)));
    let b = Agent::start_on(&dir, "b", ports[1], &seeds, &cluster);
    let c = Agent::start_on(&dir, "c", ports[2], &seeds, &cluster);
    assert!(wait_until(Duration::from_secs(15), || all_ranked(&[
        &a, &b, &c
    ])));

    a.kill();
    assert!(
        wait_until(Duration::from_secs(20), || [&b, &c].iter().all(|x| x
            .member_state("a")
            .as_deref()
            == Some("down")
            && x.primary().is_some_and(|p| p != "a"))),
        "the survivors did not elect a successor: {}",
        views(&[&b, &c])
    );
    let successor = b.primary().expect("a successor");
    a.restart(&seeds);
    assert!(
        wait_until(Duration::from_secs(20), || a.status("/health") == Some(200)
            && all_ranked(&[&a, &b, &c])),
        "a did not rejoin: {}",
        views(&[&a, &b, &c])
    );
    // One cluster, one primary: a joined the survivors and ranks behind them.
    for agent in [&a, &b, &c] {
        assert_eq!(agent.primary(), Some(successor.clone()), "{}", agent.name);
    }
    assert_eq!(a.status("/health/primary"), Some(503));
    let log = std::fs::read_to_string(&a.log).expect("a's log");
    assert_eq!(log.matches("founded a new cluster").count(), 1, "{log}");
    assert!(log.contains("joined the cluster"), "{log}");
}
