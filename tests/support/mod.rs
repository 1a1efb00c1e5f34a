//! Real `herd agent` processes for integration tests: start, poll, signal,
//! and always kill on drop.

#![allow(dead_code)]
#![allow(clippy::disallowed_methods)] // tests live in real time

pub mod netns;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// Ports handed out so far by this test process.
static HANDED_OUT: AtomicU16 = AtomicU16::new(0);
/// Where the ports come from: below Linux's ephemeral range (32768 and
/// up), so the kernel never gives one to an outgoing connection (the tests
/// poll over HTTP all the time) between this check and the agent's bind.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A free port on 127.0.0.1 for both UDP and TCP (bound, then released),
/// never the same one twice in one test process.
pub fn free_port() -> u16 {
    let span = PORTS.end - PORTS.start;
    // Test binaries run one after another; each starts elsewhere.
    let offset = (std::process::id() % u32::from(span)) as u16;
    loop {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = PORTS.start + (offset.wrapping_add(n.wrapping_mul(7))) % span;
        let free = UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where a test's agents write their logs.
pub fn log_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("logs")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the log directory");
    dir
}

/// One `herd agent` process.
pub struct Agent {
    pub name: String,
    pub gossip: SocketAddr,
    pub http: SocketAddr,
    pub admin: SocketAddr,
    pub log: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
    /// Whether the agent runs with `HERD_LOG` set (its log filter then
    /// ignores the configuration file's).
    herd_log: bool,
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

impl Agent {
    /// Starts an agent named `name` on fresh ports, joining `join`.
    pub fn start(dir: &std::path::Path, name: &str, join: &[SocketAddr], extra: &[&str]) -> Self {
        Self::start_on(dir, name, free_port(), join, extra)
    }

    /// Starts an agent joining seeds given as text (host names allowed).
    pub fn start_with(dir: &std::path::Path, name: &str, join: &[&str], extra: &[&str]) -> Self {
        let mut args: Vec<&str> = Vec::new();
        for seed in join {
            args.push("--join");
            args.push(seed);
        }
        args.extend_from_slice(extra);
        Self::start_on(dir, name, free_port(), &[], &args)
    }

    /// Starts an agent without `HERD_LOG`, so its configuration file's
    /// `log` filters its log.
    pub fn start_without_herd_log(dir: &std::path::Path, name: &str, extra: &[&str]) -> Self {
        Self::start_as(dir, name, free_port(), &[], extra, false)
    }

    /// Starts an agent whose gossip port is `port`.
    pub fn start_on(
        dir: &std::path::Path,
        name: &str,
        port: u16,
        join: &[SocketAddr],
        extra: &[&str],
    ) -> Self {
        Self::start_as(dir, name, port, join, extra, true)
    }

    fn start_as(
        dir: &std::path::Path,
        name: &str,
        port: u16,
        join: &[SocketAddr],
        extra: &[&str],
        herd_log: bool,
    ) -> Self {
        let gossip = SocketAddr::from(([127, 0, 0, 1], port));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut agent = Self {
            name: name.to_owned(),
            gossip,
            http,
            admin,
            log: dir.join(format!("{name}.log")),
            child: None,
            args: Vec::new(),
            herd_log,
        };
        agent.args = vec![
            "agent".into(),
            "--name".into(),
            name.into(),
            "--bind".into(),
            gossip.to_string(),
            "--http".into(),
            http.to_string(),
            "--admin".into(),
            admin.to_string(),
        ];
        for seed in join {
            agent.args.push("--join".into());
            agent.args.push(seed.to_string());
        }
        agent.args.extend(extra.iter().map(|s| s.to_string()));
        agent.spawn();
        agent
    }

    /// Starts the process again with the same name, ports and arguments,
    /// but joining `join` instead.
    pub fn restart(&mut self, join: &[SocketAddr]) {
        self.kill();
        let mut args: Vec<String> = Vec::new();
        let mut iter = self.args.iter();
        while let Some(arg) = iter.next() {
            if arg == "--join" {
                iter.next();
            } else {
                args.push(arg.clone());
            }
        }
        for seed in join {
            args.push("--join".into());
            args.push(seed.to_string());
        }
        self.args = args;
        self.spawn();
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the agent's log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_herd"));
        // Tests stop agents often; a flag (`--drain-timeout`) still wins.
        command.env("HERD_DRAIN_TIMEOUT", "5s");
        if self.herd_log {
            command.env("HERD_LOG", "info,herd=debug");
        } else {
            command.env_remove("HERD_LOG");
        }
        let child = command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start herd agent");
        self.child = Some(child);
    }

    pub fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| Pid::from_raw(c.id() as i32))
    }

    /// GET `path`: the status and JSON body, or `None` if the agent does not
    /// answer.
    pub fn get(&self, path: &str) -> Option<(u16, Value)> {
        let mut response = client()
            .get(&format!("http://{}{}", self.http, path))
            .call()
            .ok()?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_json().ok()?;
        Some((status, body))
    }

    /// The status of GET `path`, or `None` if the agent does not answer.
    pub fn status(&self, path: &str) -> Option<u16> {
        self.get(path).map(|(status, _)| status)
    }

    /// The primary this agent's view names.
    pub fn primary(&self) -> Option<String> {
        let (_, body) = self.get("/v1/primary")?;
        body["primary"].as_str().map(str::to_owned)
    }

    /// The state of `member` in this agent's view.
    pub fn member_state(&self, member: &str) -> Option<String> {
        self.member(member)
            .and_then(|m| m["state"].as_str().map(str::to_owned))
    }

    /// `member`'s entry in this agent's `/v1/members`.
    pub fn member(&self, member: &str) -> Option<Value> {
        let (_, body) = self.get("/v1/members")?;
        body["members"]
            .as_array()?
            .iter()
            .find(|m| m["name"] == member)
            .cloned()
    }

    /// Number of members this agent sees alive.
    /// Members this agent sees alive and admitted to the quorum: a test
    /// that crashes or freezes one before every member is admitted leaves
    /// the others counting a majority without the newcomers (by design, see
    /// ARCHITECTURE.md, "Admission"), which is not what it means to test.
    pub fn alive_members(&self) -> usize {
        self.get("/v1/members")
            .and_then(|(_, body)| {
                body["members"].as_array().map(|ms| {
                    ms.iter()
                        .filter(|m| m["state"] == "alive" && m["admitted"] == true)
                        .count()
                })
            })
            .unwrap_or(0)
    }

    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, signal);
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The value of one series in `/metrics`, named as it prints there
    /// (`herd_rejoins_total`, `herd_hook_runs_total{hook="on_member",outcome="ok"}`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = client()
            .get(&format!("http://{}/metrics", self.http))
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok())?
            })
    }

    /// The last lines of the agent's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} ({}) log tail ----\n{}",
                self.name,
                self.log.display(),
                self.log_tail(40)
            );
        }
        self.kill();
    }
}
