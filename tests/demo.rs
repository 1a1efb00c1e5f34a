//! `herd demo` end to end, as an operator runs it but without a terminal:
//! it prints each step, exits 0, and leaves no agent and no directory
//! behind; Ctrl-C in the middle stops everything just as cleanly.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::wait_until;

/// A running `herd demo` and the lines it printed so far.
struct Demo {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
            .arg("demo")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herd demo");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("its standard output");
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                kept.lock().expect("lines").push(line);
            }
        });
        Self { child, lines }
    }

    fn printed(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// Waits for the exit; kills it past `limit`.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            // Ctrl-C first, so the demo stops its agents; then for good.
            if let Ok(pid) = i32::try_from(self.child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
            }
            wait_until(Duration::from_secs(10), || {
                matches!(self.child.try_wait(), Ok(Some(_)))
            });
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        status.and_then(|s| s.code())
    }

    /// The temporary directory it announced in its first line.
    fn dir(&self) -> PathBuf {
        let printed = self.printed();
        let start = printed.find("data in ").expect("the directory is named") + "data in ".len();
        let rest = &printed[start..];
        PathBuf::from(&rest[..rest.find(')').expect("closing parenthesis")])
    }

    /// Every agent's log from the directory a failed demo keeps.
    fn logs(&self) -> String {
        let mut logs = String::new();
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return logs;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            logs.push_str(&format!("--- {}\n{text}\n", path.display()));
        }
        logs
    }
}

/// Processes whose command line mentions `dir`: the demo's agents.
fn processes_using(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}

#[test]
fn the_demo_fails_over_rejoins_drains_and_cleans_up() {
    let mut demo = Demo::start(&["--nodes", "3", "--pace", "0.5", "--plain"]);
    let code = demo.exit_code(Duration::from_secs(120));
    let printed = demo.printed();
    if code != Some(0) {
        // A failed demo keeps its agents' logs: they are the evidence.
        let logs = demo.logs();
        let _ = std::fs::remove_dir_all(demo.dir());
        panic!("exit {code:?}:\n{printed}\n{logs}");
    }
    for step in [
        "starting 3 agents",
        "status pages: n1 http://127.0.0.1:",
        "cluster formed in",
        "kill -9",
        "failover in",
        "and only it answers 200 on /health/primary",
        "rejoined in",
        "(no failback)",
        "hand-over in",
        "every agent stopped; removed",
    ] {
        assert!(printed.contains(step), "{step:?} missing:\n{printed}");
    }
    // Never two nodes answering 200 on /health/primary in one poll.
    assert!(!printed.contains(" answer 200"), "{printed}");
    let dir = demo.dir();
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert_eq!(processes_using(&dir), Vec::<String>::new());
}

#[test]
fn ctrl_c_stops_every_agent_and_removes_the_directory() {
    let mut demo = Demo::start(&["--nodes", "3", "--pace", "30"]);
    let formed = wait_until(Duration::from_secs(30), || {
        demo.printed().contains("cluster formed")
    });
    assert!(formed, "{}", demo.printed());
    let dir = demo.dir();
    assert_eq!(processes_using(&dir).len(), 3, "three agents run");
    let pid = Pid::from_raw(i32::try_from(demo.child.id()).expect("a pid"));
    kill(pid, Signal::SIGINT).expect("send SIGINT");
    let code = demo.exit_code(Duration::from_secs(20));
    let printed = demo.printed();
    assert_eq!(code, Some(130), "{printed}");
    assert!(printed.contains("interrupted"), "{printed}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert_eq!(processes_using(&dir), Vec::<String>::new());
}

#[test]
fn a_reader_that_goes_away_stops_the_demo_and_every_agent() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        // A short pace: the demo notices a closed pipe at its next line.
        .args(["demo", "--nodes", "3", "--pace", "1", "--plain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start herd demo");
    let out = child.stdout.take().expect("its standard output");
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let start = first.find("data in ").expect("the directory is named") + "data in ".len();
    let dir = PathBuf::from(&first[start..first.len() - 1]);
    // Read until the cluster formed, then close the pipe, as `| head` does.
    let formed = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("cluster formed"));
    assert!(formed, "the cluster did not form");
    drop(lines);
    let mut exited = false;
    wait_until(Duration::from_secs(30), || {
        exited = matches!(child.try_wait(), Ok(Some(_)));
        exited
    });
    if !exited {
        // Ctrl-C, not SIGKILL: the demo then stops its agents itself.
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        }
    }
    let _ = child.wait();
    assert!(exited, "the demo kept running with nobody reading");
    assert_eq!(processes_using(&dir), Vec::<String>::new());
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
