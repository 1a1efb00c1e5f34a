//! `herd demo`: a real cluster on loopback, a failover, a rejoin and a
//! drain, watched live.
//!
//! An operator's first question is what herd does when the primary dies,
//! and the honest answer is to show it with the real binary, not a
//! simulation: this starts `--nodes` agents (this same executable) on free
//! loopback ports with their data directories in a temporary directory,
//! polls each one's HTTP API as a balancer would, and narrates what it
//! sees. Every agent runs in its own process group, so Ctrl-C reaches the
//! demo alone, which then stops every agent and removes the directory
//! (kept when a step failed: the agents' logs are the evidence).

// The demo measures real time: it watches real processes.
#![allow(clippy::disallowed_methods)]

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// `herd demo`'s flags.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// How many agents to start
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(3..=15))]
    nodes: u16,
    /// Seconds to watch between steps
    #[arg(long, default_value = "3", value_parser = parse_pace)]
    pace: f64,
    /// Print one line per event instead of redrawing a view (the default
    /// when standard output is not a terminal)
    #[arg(long)]
    plain: bool,
}

fn parse_pace(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(pace) if (0.0..=60.0).contains(&pace) => Ok(pace),
        _ => Err(format!("{text:?}: a number of seconds from 0 to 60")),
    }
}

/// What [`Demo::stop`] leaves behind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Nothing,
    /// A failed step's evidence: the agents' logs and data directories.
    Logs,
}

/// How long any one step may take before the demo gives up and says so.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// How often the agents are polled and the view redrawn.
const TICK: Duration = Duration::from_millis(100);

/// Runs the demo; the exit status says whether every step happened.
pub fn run(args: &DemoArgs) -> ExitCode {
    let interrupted = Arc::new(AtomicBool::new(false));
    if let Err(err) = watch_for_interrupt(interrupted.clone()) {
        eprintln!("herd: {err:#}");
        return ExitCode::FAILURE;
    }
    let live = std::io::stdout().is_terminal() && !args.plain;
    let mut demo = match Demo::start(args, interrupted, live) {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("herd: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = demo.script(args.pace);
    let (status, keep) = match &outcome {
        Ok(()) => (ExitCode::SUCCESS, Keep::Nothing),
        Err(err) if demo.interrupted() => {
            demo.say(&format!("interrupted ({err})"));
            (ExitCode::from(130), Keep::Nothing)
        }
        Err(err) => {
            demo.say(&format!("FAILED: {err:#}"));
            (ExitCode::FAILURE, Keep::Logs)
        }
    };
    demo.stop(keep);
    status
}

/// Sets `flag` on SIGINT or SIGTERM (a thread with its own small runtime:
/// the demo itself is plain blocking code).
fn watch_for_interrupt(flag: Arc<AtomicBool>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal thread")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                let _ = ready_tx.send(false);
                return;
            };
            let _ = ready_tx.send(true);
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            flag.store(true, Ordering::SeqCst);
        });
    });
    match ready_rx.recv() {
        Ok(true) => Ok(()),
        _ => bail!("cannot listen for SIGINT and SIGTERM"),
    }
}

/// One agent of the demo.
struct Agent {
    name: String,
    gossip: SocketAddr,
    http: SocketAddr,
    admin: SocketAddr,
    child: Option<Child>,
    /// What the last poll saw; `None`: it did not answer.
    seen: Option<Seen>,
}

/// One poll of one agent.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// `/health`'s status.
    health: u16,
    /// `/health/primary` answered 200.
    claims: bool,
    /// The primary its view names, and its term.
    names: Option<String>,
    term: Option<u64>,
    /// Members alive in its view, and all it lists.
    alive: usize,
    members: usize,
    /// Members it lists as down.
    down: Vec<String>,
}

struct Demo {
    dir: PathBuf,
    agents: Vec<Agent>,
    http: ureq::Agent,
    started: Instant,
    interrupted: Arc<AtomicBool>,
    live: bool,
    /// The last lines said, for the live view.
    lines: Vec<String>,
    /// Who answered 200 on `/health/primary` at the last poll.
    claimants: Vec<String>,
    /// Every agent's gossip address, comma-separated.
    seeds: String,
    /// The primary every running agent named at the last poll.
    named: Option<String>,
    /// The members every running agent saw down at the last poll.
    down: Vec<String>,
    /// What stays behind when the demo ends.
    keep: Keep,
}

impl Demo {
    fn start(args: &DemoArgs, interrupted: Arc<AtomicBool>, live: bool) -> Result<Self> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let dir = std::env::temp_dir().join(format!("herd-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut agents = Vec::new();
        let mut ports = PortPicker::new();
        for index in 1..=args.nodes {
            agents.push(Agent::new(&format!("n{index}"), &mut ports)?);
        }
        let seeds = agents
            .iter()
            .map(|a| a.gossip.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(500)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut demo = Self {
            dir,
            agents,
            http,
            started: Instant::now(),
            interrupted,
            live,
            lines: Vec::new(),
            claimants: Vec::new(),
            seeds,
            named: None,
            down: Vec::new(),
            keep: Keep::Nothing,
        };
        demo.say(&format!(
            "starting {} agents on 127.0.0.1 (logs and data in {})",
            args.nodes,
            demo.dir.display()
        ));
        let pages: Vec<String> = demo
            .agents
            .iter()
            .map(|a| format!("{} http://{}/", a.name, a.http))
            .collect();
        demo.say(&format!("status pages: {}", pages.join(", ")));
        // The first node founds the cluster (its only seed is itself); the
        // others, and every restart, get the whole list.
        let founder = demo.agents[0].gossip.to_string();
        demo.spawn(0, &exe, &founder)?;
        for index in 1..demo.agents.len() {
            let seeds = demo.seeds.clone();
            demo.spawn(index, &exe, &seeds)?;
        }
        Ok(demo)
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn spawn(&mut self, index: usize, exe: &Path, join: &str) -> Result<()> {
        let agent = &mut self.agents[index];
        let args = agent.arguments(&self.dir, join);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", agent.name)))
            .context("opening an agent's log")?;
        let mut command = Command::new(exe);
        // The operator's HERD_* settings are for their own agent, not the
        // demo's (HERD_LOG, which only filters the log, stays).
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("HERD_") && k != "HERD_LOG")
            {
                command.env_remove(key);
            }
        }
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("opening an agent's log")?)
            .stderr(log)
            // Ctrl-C in the terminal reaches the demo, not the agents: the
            // demo stops them itself.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting agent {}", agent.name))?;
        agent.child = Some(child);
        Ok(())
    }

    /// The whole show. Each step waits for what a balancer would see.
    fn script(&mut self, pace: f64) -> Result<()> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let pause = Duration::from_secs_f64(pace);
        let everyone = self.agents.len();

        let t = self.wait_for("the cluster to form", |demo| {
            demo.all_agree(everyone)
                .filter(|primary| demo.claimants == [primary.clone()])
        })?;
        let first = t.0;
        self.say(&format!(
            "cluster formed in {:.2} s: {everyone} members, primary {first} (term {})",
            t.1.as_secs_f64(),
            self.term_of(&first)
        ));
        self.watch(pause)?;

        let victim = self.index_of(&first);
        self.say(&format!("kill -9 {first} (the primary)"));
        self.kill(victim, Signal::SIGKILL);
        let (second, took) = self.wait_for("a new primary", |demo| {
            demo.all_agree(everyone - 1)
                .filter(|primary| *primary != first && demo.claimants == [primary.clone()])
        })?;
        self.say(&format!(
            "failover in {:.2} s: every survivor names {second} (term {}), and only it answers 200 on /health/primary",
            took.as_secs_f64(),
            self.term_of(&second)
        ));
        self.watch(pause)?;

        self.say(&format!("restarting {first} (same data directory)"));
        let seeds = self.seeds.clone();
        self.spawn(victim, &exe, &seeds)?;
        let (_, took) = self.wait_for("the old primary to rejoin", |demo| {
            demo.all_agree(everyone)
                .filter(|primary| *primary == second && demo.claimants == [second.clone()])
                .filter(|_| {
                    demo.agents[victim]
                        .seen
                        .as_ref()
                        .is_some_and(|s| s.health == 200)
                })
        })?;
        self.say(&format!(
            "{first} rejoined in {:.2} s and serves as a secondary: {second} stays primary (no failback)",
            took.as_secs_f64()
        ));
        self.watch(pause)?;

        let holder = self.index_of(&second);
        self.say(&format!(
            "herd drain on {second}: its /health turns 503 and it hands the role over"
        ));
        self.drain(holder)?;
        let (third, took) = self.wait_for("the hand-over", |demo| {
            demo.all_agree(everyone)
                .filter(|primary| *primary != second && demo.claimants == [primary.clone()])
                .filter(|_| {
                    demo.agents[holder]
                        .seen
                        .as_ref()
                        .is_some_and(|s| s.health == 503)
                })
        })?;
        self.say(&format!(
            "hand-over in {:.2} s: {third} is primary (term {}); {second} is drained and still a member",
            took.as_secs_f64(),
            self.term_of(&third)
        ));
        self.watch(pause)?;
        self.say("done: stopping the agents");
        Ok(())
    }

    /// Polls and redraws for `pause`.
    fn watch(&mut self, pause: Duration) -> Result<()> {
        let until = Instant::now() + pause;
        while Instant::now() < until {
            self.tick()?;
        }
        Ok(())
    }

    /// Polls until `done` says what it waited for; returns that and how long
    /// it took.
    fn wait_for<T>(
        &mut self,
        what: &str,
        mut done: impl FnMut(&Self) -> Option<T>,
    ) -> Result<(T, Duration)> {
        let began = Instant::now();
        loop {
            self.tick()?;
            if let Some(found) = done(self) {
                return Ok((found, began.elapsed()));
            }
            if began.elapsed() > STEP_LIMIT {
                bail!(
                    "waited {STEP_LIMIT:?} for {what}; the agents' logs are in {}",
                    self.dir.display()
                );
            }
        }
    }

    /// One round: poll every running agent, say what changed, redraw.
    fn tick(&mut self) -> Result<()> {
        if self.interrupted() {
            bail!("Ctrl-C");
        }
        let round = Instant::now();
        let mut before = Vec::with_capacity(self.agents.len());
        for index in 0..self.agents.len() {
            let seen = if self.agents[index].child.is_some() {
                self.poll(self.agents[index].http)
            } else {
                None
            };
            before.push(std::mem::replace(&mut self.agents[index].seen, seen));
        }
        self.report_changes(&before);
        let claimants: Vec<String> = self
            .agents
            .iter()
            .filter(|a| a.seen.as_ref().is_some_and(|s| s.claims))
            .map(|a| a.name.clone())
            .collect();
        if claimants != self.claimants {
            let line = match claimants.as_slice() {
                [] => "no node answers 200 on /health/primary".to_owned(),
                [one] => format!("/health/primary: {one} answers 200"),
                many => format!("/health/primary: {} answer 200", many.join(", ")),
            };
            self.claimants = claimants;
            self.say(&line);
        }
        self.redraw();
        if let Some(rest) = TICK.checked_sub(round.elapsed()) {
            std::thread::sleep(rest);
        }
        Ok(())
    }

    /// Says what the round changed: an agent's `/health`, the primary every
    /// agent names, the members every agent sees down.
    fn report_changes(&mut self, before: &[Option<Seen>]) {
        let mut lines = Vec::new();
        for (agent, was) in self.agents.iter().zip(before) {
            if let (Some(was), Some(now)) = (was, &agent.seen)
                && was.health != now.health
            {
                lines.push(format!("{}: /health {}", agent.name, now.health));
            }
        }
        let named = self.all_name();
        if named != self.named {
            if let Some(primary) = &named {
                lines.push(format!(
                    "every running agent names {primary} primary (term {})",
                    self.term_of(primary)
                ));
            }
            self.named = named;
        }
        let down = self.down_everywhere();
        for member in down.iter().filter(|m| !self.down.contains(m)) {
            lines.push(format!("every running agent sees {member} down"));
        }
        for member in self.down.iter().filter(|m| !down.contains(m)) {
            lines.push(format!("{member} is alive again in every view"));
        }
        self.down = down;
        for line in lines {
            self.say(&line);
        }
    }

    /// The primary every running agent names, if they agree.
    fn all_name(&self) -> Option<String> {
        let mut named: Option<&str> = None;
        for agent in self.agents.iter().filter(|a| a.child.is_some()) {
            let name = agent.seen.as_ref()?.names.as_deref()?;
            if named.is_some_and(|first| first != name) {
                return None;
            }
            named = Some(name);
        }
        named.map(str::to_owned)
    }

    /// The members every running agent (but the member itself) sees down.
    fn down_everywhere(&self) -> Vec<String> {
        let running: Vec<&Agent> = self.agents.iter().filter(|a| a.child.is_some()).collect();
        self.agents
            .iter()
            .map(|a| &a.name)
            .filter(|member| {
                running.iter().filter(|a| a.name != **member).all(|a| {
                    a.seen
                        .as_ref()
                        .is_some_and(|s| s.down.iter().any(|d| d == *member))
                })
            })
            .cloned()
            .collect()
    }

    fn poll(&self, http: SocketAddr) -> Option<Seen> {
        let get = |path: &str| -> Option<(u16, Value)> {
            let mut response = self.http.get(&format!("http://{http}{path}")).call().ok()?;
            let status = response.status().as_u16();
            let body = response.body_mut().read_json().ok()?;
            Some((status, body))
        };
        let (health, _) = get("/health")?;
        let (claim_status, _) = get("/health/primary")?;
        let (_, primary) = get("/v1/primary")?;
        let (_, members) = get("/v1/members")?;
        let members = members["members"].as_array().cloned().unwrap_or_default();
        Some(Seen {
            health,
            claims: claim_status == 200,
            names: primary["primary"].as_str().map(str::to_owned),
            term: primary["term"].as_u64(),
            alive: members.iter().filter(|m| m["state"] == "alive").count(),
            members: members.len(),
            down: members
                .iter()
                .filter(|m| m["state"] == "down")
                .filter_map(|m| m["name"].as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// The primary every running agent names, when they all name the same
    /// one and each sees `alive` members alive.
    fn all_agree(&self, alive: usize) -> Option<String> {
        let running = self.agents.iter().filter(|a| a.child.is_some());
        running
            .map(|a| a.seen.as_ref().map(|s| s.alive))
            .all(|seen| seen == Some(alive))
            .then(|| self.all_name())
            .flatten()
    }

    fn index_of(&self, name: &str) -> usize {
        self.agents
            .iter()
            .position(|a| a.name == name)
            .unwrap_or_default()
    }

    /// The term `name` claims under, as it says itself (others may not
    /// have heard it yet).
    fn term_of(&self, name: &str) -> String {
        self.agents
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.seen.as_ref())
            .and_then(|s| {
                s.term
                    .filter(|_| s.claims || s.names.as_deref() == Some(name))
            })
            .map_or("-".to_owned(), |t| t.to_string())
    }

    fn drain(&self, index: usize) -> Result<()> {
        let admin = self.agents[index].admin;
        let mut response = self
            .http
            .post(&format!("http://{admin}/v1/drain"))
            .header(herd::http::ADMIN_HEADER, "1")
            .send_empty()
            .with_context(|| format!("asking {admin} to drain"))?;
        if !response.status().is_success() {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            bail!("{admin} refused to drain: {body}");
        }
        Ok(())
    }

    fn kill(&mut self, index: usize, signal: Signal) {
        if let Some(mut child) = self.agents[index].child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), signal);
            }
            let _ = child.wait();
        }
        self.agents[index].seen = None;
    }

    /// Stops every agent (a second SIGTERM leaves at once), then removes
    /// the directory unless a failure's logs are worth keeping.
    fn stop(&mut self, keep: Keep) {
        self.redraw();
        for agent in &self.agents {
            if let Some(pid) = agent
                .child
                .as_ref()
                .and_then(|c| i32::try_from(c.id()).ok())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for agent in &mut self.agents {
            let Some(mut child) = agent.child.take() else {
                continue;
            };
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        self.live = false;
        self.keep = keep;
        if keep == Keep::Logs {
            self.say(&format!(
                "every agent stopped; their logs are kept in {}",
                self.dir.display()
            ));
            return;
        }
        let removed = std::fs::remove_dir_all(&self.dir);
        match removed {
            Ok(()) => self.say(&format!(
                "every agent stopped; removed {}",
                self.dir.display()
            )),
            Err(err) => self.say(&format!(
                "every agent stopped; could not remove {}: {err}",
                self.dir.display()
            )),
        }
    }

    /// One line of narration, stamped with the time since the start.
    fn say(&mut self, text: &str) {
        let line = format!("{:>7.2}s  {text}", self.started.elapsed().as_secs_f64());
        if self.live {
            self.lines.push(line);
            let keep = 14;
            if self.lines.len() > keep {
                self.lines.drain(..self.lines.len() - keep);
            }
        } else {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                self.reader_gone();
            }
        }
    }

    /// Whoever read the output is gone (a closed pipe, a closed terminal):
    /// stop as on Ctrl-C, so that no agent outlives the demo.
    fn reader_gone(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }

    /// Redraws the live view in place (nothing in plain mode).
    fn redraw(&self) {
        if !self.live {
            return;
        }
        let mut out = String::new();
        // Home, clear to the end: the view replaces itself.
        out.push_str("\x1b[H\x1b[J");
        out.push_str(&format!(
            "herd demo: {} agents on loopback, {:.1} s (Ctrl-C stops and cleans up)\n\
             status page: http://{}/ (every agent serves one)\n\n",
            self.agents.len(),
            self.started.elapsed().as_secs_f64(),
            self.agents[0].http
        ));
        out.push_str(&format!(
            "{:<5} {:<8} {:<8} {:<16} {:<9} {:<5} {}\n",
            "NODE", "PROCESS", "/health", "/health/primary", "NAMES", "TERM", "SEES ALIVE"
        ));
        for agent in &self.agents {
            let process = if agent.child.is_some() {
                "running"
            } else {
                "killed"
            };
            let row = match &agent.seen {
                Some(seen) => format!(
                    "{:<5} {:<8} {:<8} {:<16} {:<9} {:<5} {}/{}",
                    agent.name,
                    process,
                    seen.health,
                    if seen.claims { "200 PRIMARY" } else { "503" },
                    seen.names.as_deref().unwrap_or("none"),
                    seen.term.map_or("-".to_owned(), |t| t.to_string()),
                    seen.alive,
                    seen.members
                ),
                None => format!("{:<5} {:<8} {:<8}", agent.name, process, "-"),
            };
            out.push_str(&row);
            out.push('\n');
        }
        out.push_str("\nEVENTS\n");
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            self.reader_gone();
        }
    }
}

/// Free loopback ports for the agents, below the kernel's ephemeral range:
/// a port the kernel handed out for `:0` is free when asked, but the demo
/// polls the agents over fresh connections all the time, and one of those
/// could take it before the agent binds it.
struct PortPicker {
    next: u16,
    end: u16,
}

impl PortPicker {
    const START: u16 = 10_000;

    fn new() -> Self {
        // The ephemeral range starts at 32768 unless configured otherwise.
        let end = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse().ok())
            .filter(|&low: &u16| low > Self::START + 100)
            .unwrap_or(32_768);
        // Demos run side by side (tests) start in different places.
        let span = u32::from(end - Self::START);
        let offset = u16::try_from(std::process::id() * 37 % span).unwrap_or(0);
        Self {
            next: Self::START + offset,
            end,
        }
    }

    /// The next port free for both UDP and TCP on 127.0.0.1.
    fn next(&mut self) -> std::io::Result<SocketAddr> {
        for _ in Self::START..self.end {
            let port = self.next;
            self.next = if port + 1 >= self.end {
                Self::START
            } else {
                port + 1
            };
            let free = UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port)).is_ok();
            if free {
                return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free port below the ephemeral range",
        ))
    }
}

/// A safety net: if the demo ends without `stop` (a panic), its agents die
/// with it rather than run on.
impl Drop for Demo {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            if let Some(mut child) = agent.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if self.keep == Keep::Nothing {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Agent {
    /// An agent with free loopback ports (see [`PortPicker`]).
    fn new(name: &str, ports: &mut PortPicker) -> Result<Self> {
        let mut next = || ports.next().context("finding a free loopback port");
        Ok(Self {
            name: name.to_owned(),
            gossip: next()?,
            http: next()?,
            admin: next()?,
            child: None,
            seen: None,
        })
    }

    fn arguments(&self, dir: &Path, join: &str) -> Vec<String> {
        [
            "agent",
            "--cluster",
            "demo",
            "--name",
            &self.name,
            "--bind",
            &self.gossip.to_string(),
            "--http",
            &self.http.to_string(),
            "--admin",
            &self.admin.to_string(),
            "--join",
            join,
            "--data-dir",
            &dir.join(&self.name).display().to_string(),
            "--drain-timeout",
            "2s",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}
