//! Local health checks: is the server beside this agent worth traffic?
//!
//! Each `[[check]]` probes the local server (HTTP, TCP or a command) every
//! `interval`, and a rise/fall state machine with HAProxy's semantics turns
//! results into a state: `rise` passes in a row make a check passing, `fall`
//! failures in a row make it failing. A check starts `starting`: a node gets
//! no traffic until its server has proved itself; failures in the first
//! `grace` keep it `starting` rather than `failing`, so a slow start is not
//! reported as an outage. Exec checks count exit codes as Nagios and Consul
//! do: 0 passing, 1 warning (still serving), 2 or more failing.
//!
//! The node's health is the worst of its checks; it is sent to the node
//! after every result (the node gossips only changes of state).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::addr::split_host_port;
use super::web;
use crate::core::health::{self, CheckStatus, CheckSummary};
use crate::core::{Command, ConfigError};
use crate::http::command::Request;
use crate::metrics::CheckMetrics;

/// Longest output kept for the local API, in bytes.
pub(super) const MAX_LOCAL_OUTPUT: usize = 512;

/// One `[[check]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Name in the API [default: the kind and target, e.g. `http
    /// http://127.0.0.1:8080/healthz`].
    #[serde(default)]
    pub name: Option<String>,
    /// Probe this URL (http:// or https://): passing when the status is
    /// accepted.
    #[serde(default)]
    pub http: Option<String>,
    /// For an https check: trust only the certificates in this PEM file
    /// [default: the system's certificate store].
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accepted HTTP status codes [default: 200 to 399].
    #[serde(default)]
    pub status: Vec<u16>,
    /// Connect to this `host:port`: passing when the connection opens.
    #[serde(default)]
    pub tcp: Option<String>,
    /// Run this command (program and arguments, no shell): exit 0 passing,
    /// 1 warning, 2 or more failing.
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    /// Time between runs [default: 2s, HAProxy's `inter`].
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Longest a run may take; a run that takes longer fails [default: 1s].
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Passes in a row to turn passing [default: 2, HAProxy's `rise`].
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// Failures in a row to turn failing [default: 3, HAProxy's `fall`].
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// After the agent starts, failures during this long keep the check
    /// `starting` instead of `failing` [default: 0s].
    #[serde(default, with = "humantime_serde")]
    pub grace: Duration,
}

fn default_interval() -> Duration {
    Duration::from_secs(2)
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq)]
enum Probe {
    Http {
        url: String,
        accepted: Vec<u16>,
        ca_file: Option<PathBuf>,
    },
    Tcp(String),
    Exec(PathBuf, Vec<String>),
}

impl CheckConfig {
    /// An HTTP check with every default: what `--check-http URL` adds.
    pub fn http(url: &str) -> Self {
        Self {
            name: None,
            http: Some(url.to_owned()),
            ca_file: None,
            status: Vec::new(),
            tcp: None,
            exec: None,
            interval: default_interval(),
            timeout: default_timeout(),
            rise: default_rise(),
            fall: default_fall(),
            grace: Duration::ZERO,
        }
    }

    /// The name shown in the API.
    pub fn display_name(&self) -> String {
        let name = match (&self.name, &self.http, &self.tcp, &self.exec) {
            (Some(name), ..) => name.clone(),
            (None, Some(url), ..) => format!("http {url}"),
            (None, None, Some(addr), _) => format!("tcp {addr}"),
            (None, None, None, Some(argv)) => {
                format!("exec {}", argv.first().map_or("", String::as_str))
            }
            _ => "check".to_owned(),
        };
        health::truncate(&name, health::MAX_CHECK_NAME)
    }

    fn probe(&self) -> Option<Probe> {
        match (&self.http, &self.tcp, &self.exec) {
            (Some(url), None, None) => Some(Probe::Http {
                url: url.clone(),
                accepted: self.status.clone(),
                ca_file: self.ca_file.clone(),
            }),
            (None, Some(addr), None) => Some(Probe::Tcp(addr.clone())),
            (None, None, Some(argv)) => {
                let (program, args) = argv.split_first()?;
                Some(Probe::Exec(PathBuf::from(program), args.to_vec()))
            }
            _ => None,
        }
    }

    /// Every problem with this check, naming it.
    pub fn problems(&self, index: usize) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut fail = |problem: String| {
            errors.push(ConfigError {
                field: "check",
                problem: format!("check {} ({}): {problem}", index + 1, self.display_name()),
            })
        };
        let kinds = [self.http.is_some(), self.tcp.is_some(), self.exec.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            fail("needs exactly one of http, tcp or exec".into());
        }
        if let Some(problem) = self.http.as_deref().and_then(web::url_problem) {
            fail(problem);
        }
        if let Some(path) = &self.ca_file {
            if self.http.is_none() {
                fail("ca_file applies to http checks only".into());
            } else if let Err(problem) = web::Trust::from_ca_file(path) {
                fail(format!("ca_file: {problem}"));
            }
        }
        if !self.status.is_empty() && self.http.is_none() {
            fail("status applies to http checks only".into());
        }
        if self.status.iter().any(|s| !(100..=599).contains(s)) {
            fail("status codes are 100 to 599".into());
        }
        if let Some(addr) = &self.tcp
            && let Err(problem) = split_host_port(addr)
        {
            fail(problem.to_string());
        }
        if let Some(argv) = &self.exec
            && argv.first().is_none_or(|p| p.is_empty())
        {
            fail("exec needs a program".into());
        }
        if self.interval.is_zero() {
            fail("interval must be more than zero".into());
        }
        if self.timeout.is_zero() || self.timeout > self.interval {
            fail("timeout must be more than zero and at most the interval".into());
        }
        if self.rise == 0 || self.fall == 0 {
            fail("rise and fall must be at least 1".into());
        }
        errors
    }
}

/// What one run of a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    /// Passing, warning or failing (never starting).
    pub result: CheckStatus,
    /// What the probe said.
    pub output: String,
}

/// The rise/fall state machine of one check. Pure: time comes in as the
/// age of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CheckState {
    name: String,
    rise: u32,
    fall: u32,
    grace: Duration,
    status: CheckStatus,
    passes: u32,
    failures: u32,
    output: String,
}

impl CheckState {
    /// A check that has not run.
    pub(super) fn new(config: &CheckConfig) -> Self {
        Self {
            name: config.display_name(),
            rise: config.rise.max(1),
            fall: config.fall.max(1),
            grace: config.grace,
            status: CheckStatus::Starting,
            passes: 0,
            failures: 0,
            output: "not run yet".to_owned(),
        }
    }

    /// A check a reload added: `passing` until `fall` failures in a row
    /// say otherwise, so adding a check does not take a serving node out
    /// of service before the check has run.
    pub(super) fn added(config: &CheckConfig) -> Self {
        Self {
            status: CheckStatus::Passing,
            output: "added by a configuration reload; not run yet".to_owned(),
            ..Self::new(config)
        }
    }

    /// This check's state under new settings (same name and target): its
    /// state and counts stay, the thresholds are the new ones.
    pub(super) fn reconfigured(self, config: &CheckConfig) -> Self {
        Self {
            rise: config.rise.max(1),
            fall: config.fall.max(1),
            grace: config.grace,
            ..self
        }
    }

    /// Takes one result, `age` after the agent started. Returns whether the
    /// state changed.
    pub(super) fn record(&mut self, age: Duration, outcome: Outcome) -> bool {
        let before = self.status;
        self.output = health::truncate(outcome.output.trim(), MAX_LOCAL_OUTPUT);
        match outcome.result {
            CheckStatus::Passing | CheckStatus::Warning => {
                self.failures = 0;
                self.passes = self.passes.saturating_add(1);
                let serving = matches!(self.status, CheckStatus::Passing | CheckStatus::Warning);
                if serving || self.passes >= self.rise {
                    self.status = outcome.result;
                }
            }
            CheckStatus::Failing | CheckStatus::Starting => {
                self.passes = 0;
                self.failures = self.failures.saturating_add(1);
                self.status = match self.status {
                    CheckStatus::Passing | CheckStatus::Warning if self.failures >= self.fall => {
                        CheckStatus::Failing
                    }
                    CheckStatus::Starting if age >= self.grace => CheckStatus::Failing,
                    unchanged => unchanged,
                };
            }
        }
        self.status != before
    }

    /// The check's state.
    pub(super) fn status(&self) -> CheckStatus {
        self.status
    }

    /// The summary for the node (full local output).
    pub(super) fn summary(&self) -> CheckSummary {
        CheckSummary {
            name: self.name.clone(),
            status: self.status,
            output: self.output.clone(),
        }
    }
}

/// Runs one probe with its timeout.
async fn run_probe(probe: &Probe, timeout: Duration) -> Outcome {
    let fail = |output: String| Outcome {
        result: CheckStatus::Failing,
        output,
    };
    match probe {
        Probe::Http {
            url,
            accepted,
            ca_file,
        } => {
            // Read on every run: a renewed CA file counts from the next one.
            let trust = match web::Trust::for_ca_file(ca_file.as_deref()) {
                Ok(trust) => trust,
                Err(problem) => return fail(format!("ca_file: {problem}")),
            };
            let url = url.clone();
            let accepted = accepted.clone();
            let run =
                tokio::task::spawn_blocking(move || http_probe(&url, &accepted, timeout, &trust));
            match tokio::time::timeout(timeout + Duration::from_millis(100), run).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(err)) => fail(format!("check task failed: {err}")),
                Err(_) => fail(format!("timed out after {timeout:?}")),
            }
        }
        Probe::Tcp(addr) => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr.as_str())).await
            {
                Ok(Ok(_)) => Outcome {
                    result: CheckStatus::Passing,
                    output: format!("connected to {addr}"),
                },
                Ok(Err(err)) => fail(format!("connect to {addr}: {err}")),
                Err(_) => fail(format!("connect to {addr}: timed out after {timeout:?}")),
            }
        }
        Probe::Exec(program, args) => {
            let child = tokio::process::Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(err) => return fail(format!("cannot run {}: {err}", program.display())),
            };
            match tokio::time::timeout(timeout, child.wait_with_output()).await {
                Ok(Ok(output)) => {
                    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&output.stderr));
                    let result = match output.status.code() {
                        Some(0) => CheckStatus::Passing,
                        Some(1) => CheckStatus::Warning,
                        _ => CheckStatus::Failing,
                    };
                    let code = output
                        .status
                        .code()
                        .map_or("killed by a signal".to_owned(), |c| format!("exit {c}"));
                    Outcome {
                        result,
                        output: format!("{code}: {}", text.trim()),
                    }
                }
                Ok(Err(err)) => fail(format!("{}: {err}", program.display())),
                // Dropping the child kills it.
                Err(_) => fail(format!(
                    "{}: timed out after {timeout:?}",
                    program.display()
                )),
            }
        }
    }
}

fn http_probe(url: &str, accepted: &[u16], timeout: Duration, trust: &web::Trust) -> Outcome {
    let agent = web::client(timeout, trust);
    match agent.get(url).call() {
        Ok(mut response) => {
            let code = response.status().as_u16();
            let ok = if accepted.is_empty() {
                (200..400).contains(&code)
            } else {
                accepted.contains(&code)
            };
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_LOCAL_OUTPUT as u64)
                .read_to_string()
                .unwrap_or_default();
            let first_line = body.lines().next().unwrap_or("").trim();
            Outcome {
                result: if ok {
                    CheckStatus::Passing
                } else {
                    CheckStatus::Failing
                },
                output: format!("HTTP {code} {first_line}").trim_end().to_owned(),
            }
        }
        Err(err) => Outcome {
            result: CheckStatus::Failing,
            output: format!("GET {url}: {err}"),
        },
    }
}

/// The running checks: one probe task per check, and the task that keeps
/// their states and sends the node its health after every result.
/// Dropping it stops them.
pub(super) struct Checks {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Vec<(CheckConfig, CheckState)>>>,
    started: tokio::time::Instant,
}

impl Checks {
    /// Starts `checks` as the agent starts: each one `starting`.
    pub(super) fn start(
        checks: Vec<CheckConfig>,
        node: mpsc::Sender<Request>,
        metrics: CheckMetrics,
    ) -> Self {
        let set = checks
            .into_iter()
            .map(|config| {
                let state = CheckState::new(&config);
                (config, state)
            })
            .collect();
        Self::spawn(set, check_clock(), node, metrics)
    }

    /// Stops `previous` (if any) and starts `checks` in their place: a
    /// reload. A check with the same name and target keeps its state,
    /// under its new settings; a new one starts `passing` and turns failing
    /// after `fall` failures in a row, so a reload alone never takes a
    /// serving node out of service (reloading every node at once would
    /// take the whole cluster out). The node hears the new set's health at
    /// once.
    pub(super) async fn reload(
        previous: Option<Self>,
        checks: Vec<CheckConfig>,
        node: mpsc::Sender<Request>,
        metrics: CheckMetrics,
    ) -> Self {
        let (started, mut old) = match previous {
            Some(mut previous) => (previous.started, previous.stop().await),
            None => (check_clock(), Vec::new()),
        };
        let set = checks
            .into_iter()
            .map(|config| {
                let same = old.iter().position(|(was, _)| {
                    was.display_name() == config.display_name() && was.probe() == config.probe()
                });
                let state = match same {
                    Some(index) => old.swap_remove(index).1.reconfigured(&config),
                    None => CheckState::added(&config),
                };
                (config, state)
            })
            .collect();
        // The old set's series go; the new set's come with its first runs.
        metrics.reset();
        Self::spawn(set, started, node, metrics)
    }

    /// Stops the checks; their last states.
    async fn stop(&mut self) -> Vec<(CheckConfig, CheckState)> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            // A task that panicked lost its states: the checks start over.
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    fn spawn(
        set: Vec<(CheckConfig, CheckState)>,
        started: tokio::time::Instant,
        node: mpsc::Sender<Request>,
        metrics: CheckMetrics,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        Self {
            stop: Some(stop),
            task: Some(tokio::spawn(tracing::Instrument::in_current_span(run(
                set, started, node, stopped, metrics,
            )))),
            started,
        }
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Runs the checks until `stop` fires or the node's command channel
/// closes, sending the node its health at once and after every result;
/// returns their states. The probe tasks end with it.
async fn run(
    mut set: Vec<(CheckConfig, CheckState)>,
    started: tokio::time::Instant,
    node: mpsc::Sender<Request>,
    mut stop: oneshot::Receiver<()>,
    metrics: CheckMetrics,
) -> Vec<(CheckConfig, CheckState)> {
    let (results_tx, mut results) = mpsc::channel::<(usize, Outcome)>(64);
    // Dropped when this returns, which aborts every probe.
    let mut probes = JoinSet::new();
    for (index, (config, _)) in set.iter().enumerate() {
        let Some(probe) = config.probe() else {
            continue;
        };
        let interval = config.interval;
        let timeout = config.timeout;
        let results_tx = results_tx.clone();
        let name = config.display_name();
        let metrics = metrics.clone();
        probes.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let began = check_clock();
                let outcome = run_probe(&probe, timeout).await;
                metrics.ran(&name, began.elapsed());
                if results_tx.send((index, outcome)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(results_tx);
    // A node with checks starts failing until they pass, and a reload
    // changes the set: say so at once. The node's queue may be full while
    // its owner waits for this task to stop, so every wait also watches
    // `stop`.
    let mut sent = tokio::select! {
        biased;
        _ = &mut stop => false,
        sent = send(&node, &set) => sent,
    };
    while sent {
        let received = tokio::select! {
            biased;
            _ = &mut stop => None,
            received = results.recv() => received,
        };
        let Some((index, outcome)) = received else {
            break;
        };
        let Some((_, state)) = set.get_mut(index) else {
            continue;
        };
        let before = state.status();
        if state.record(started.elapsed(), outcome) {
            tracing::info!(
                check = %state.summary().name,
                from = before.as_str(),
                to = state.status().as_str(),
                output = state.summary().output.as_str(),
                "check changed state"
            );
        }
        sent = tokio::select! {
            biased;
            _ = &mut stop => false,
            sent = send(&node, &set) => sent,
        };
    }
    drop(probes);
    set
}

/// The checks' start, to measure the grace period: the agent's own clock.
#[allow(clippy::disallowed_methods)]
fn check_clock() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

async fn send(node: &mpsc::Sender<Request>, set: &[(CheckConfig, CheckState)]) -> bool {
    let checks: Vec<CheckSummary> = set.iter().map(|(_, state)| state.summary()).collect();
    let status = health::aggregate(&checks);
    node.send(Request::fire(Command::SetHealth { status, checks }))
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(result: CheckStatus) -> Outcome {
        Outcome {
            result,
            output: String::new(),
        }
    }

    fn state(rise: u32, fall: u32, grace: Duration) -> CheckState {
        let mut config = CheckConfig::http("http://127.0.0.1:1/");
        config.rise = rise;
        config.fall = fall;
        config.grace = grace;
        CheckState::new(&config)
    }

    const PASS: CheckStatus = CheckStatus::Passing;
    const FAIL: CheckStatus = CheckStatus::Failing;

    #[test]
    fn rise_passes_in_a_row_make_it_passing_and_fall_failures_make_it_failing() {
        let mut check = state(2, 3, Duration::ZERO);
        let t = Duration::from_secs(1);
        assert_eq!(check.status(), CheckStatus::Starting);
        check.record(t, outcome(PASS));
        assert_eq!(check.status(), CheckStatus::Starting);
        check.record(t, outcome(PASS));
        assert_eq!(check.status(), PASS);
        check.record(t, outcome(FAIL));
        check.record(t, outcome(FAIL));
        assert_eq!(check.status(), PASS, "two failures are below fall");
        check.record(t, outcome(PASS));
        check.record(t, outcome(FAIL));
        check.record(t, outcome(FAIL));
        assert_eq!(check.status(), PASS, "a pass resets the count");
        assert!(check.record(t, outcome(FAIL)));
        assert_eq!(check.status(), FAIL);
        check.record(t, outcome(PASS));
        assert_eq!(check.status(), FAIL, "one pass is below rise");
        check.record(t, outcome(PASS));
        assert_eq!(check.status(), PASS);
    }

    #[test]
    fn failures_during_the_grace_keep_it_starting() {
        let mut check = state(2, 3, Duration::from_secs(10));
        check.record(Duration::from_secs(1), outcome(FAIL));
        assert_eq!(check.status(), CheckStatus::Starting);
        check.record(Duration::from_secs(11), outcome(FAIL));
        assert_eq!(check.status(), FAIL);
        let mut without_grace = state(2, 3, Duration::ZERO);
        without_grace.record(Duration::ZERO, outcome(FAIL));
        assert_eq!(without_grace.status(), FAIL);
    }

    #[test]
    fn a_warning_serves_and_counts_as_a_pass() {
        let mut check = state(1, 1, Duration::ZERO);
        check.record(Duration::ZERO, outcome(CheckStatus::Warning));
        assert_eq!(check.status(), CheckStatus::Warning);
        check.record(Duration::ZERO, outcome(PASS));
        assert_eq!(check.status(), PASS);
    }

    #[test]
    fn configuration_problems_name_the_check() {
        let mut bad = CheckConfig::http("ftp://x/");
        bad.tcp = Some("nohost".into());
        bad.rise = 0;
        bad.timeout = Duration::from_secs(5);
        bad.ca_file = Some("/nonexistent/ca.pem".into());
        let problems: Vec<String> = bad.problems(0).iter().map(|e| e.to_string()).collect();
        let all = problems.join("\n");
        for expected in [
            "exactly one",
            "not an http:// or https:// URL",
            "nohost",
            "rise",
            "timeout",
            "ca_file: cannot read /nonexistent/ca.pem",
        ] {
            assert!(all.contains(expected), "{expected} missing: {all}");
        }
        for good in ["http://127.0.0.1:8080/healthz", "https://localhost:8443/"] {
            assert!(CheckConfig::http(good).problems(0).is_empty(), "{good}");
        }
        assert!(!CheckConfig::http("https:///path").problems(0).is_empty());
    }

    #[tokio::test]
    async fn exec_checks_map_exit_codes_as_nagios_does() {
        let run = |code: &str| {
            let probe = Probe::Exec(
                PathBuf::from("sh"),
                vec!["-c".into(), format!("echo out; exit {code}")],
            );
            async move { run_probe(&probe, Duration::from_secs(5)).await }
        };
        assert_eq!(run("0").await.result, PASS);
        assert_eq!(run("1").await.result, CheckStatus::Warning);
        let failing = run("2").await;
        assert_eq!(failing.result, FAIL);
        assert_eq!(failing.output, "exit 2: out");
    }

    #[tokio::test]
    async fn a_probe_that_overruns_its_timeout_fails() {
        let probe = Probe::Exec(PathBuf::from("sleep"), vec!["5".into()]);
        let outcome = run_probe(&probe, Duration::from_millis(100)).await;
        assert_eq!(outcome.result, FAIL);
        assert!(outcome.output.contains("timed out"), "{}", outcome.output);
    }

    #[tokio::test]
    async fn tcp_and_http_probes_report_refused_connections() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let tcp = run_probe(&Probe::Tcp(addr.to_string()), Duration::from_secs(1)).await;
        assert_eq!(tcp.result, FAIL);
        let http = run_probe(
            &Probe::Http {
                url: format!("http://{addr}/"),
                accepted: Vec::new(),
                ca_file: None,
            },
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(http.result, FAIL);
    }

    fn exec(name: &str, code: u8) -> CheckConfig {
        CheckConfig {
            name: Some(name.into()),
            exec: Some(vec!["/bin/sh".into(), "-c".into(), format!("exit {code}")]),
            http: None,
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 2,
            ..CheckConfig::http("unused")
        }
    }

    /// The next health the checks send the node: each check's name and status.
    async fn next_health(node: &mut mpsc::Receiver<Request>) -> Vec<(String, CheckStatus)> {
        let request = tokio::time::timeout(Duration::from_secs(5), node.recv())
            .await
            .expect("the checks sent nothing")
            .expect("the checks stopped");
        match request.command {
            Command::SetHealth { checks, .. } => {
                checks.into_iter().map(|c| (c.name, c.status)).collect()
            }
            other => panic!("not a health update: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reload_keeps_unchanged_checks_and_puts_new_ones_on_probation() {
        let (node, mut health) = mpsc::channel(64);
        let metrics = crate::metrics::Metrics::new().unwrap().checks();
        let checks = Checks::start(vec![exec("ok", 0)], node.clone(), metrics.clone());
        assert_eq!(
            next_health(&mut health).await,
            [("ok".into(), CheckStatus::Starting)]
        );
        assert_eq!(next_health(&mut health).await, [("ok".into(), PASS)]);

        // "ok" again (new thresholds only), and a failing newcomer.
        let mut ok = exec("ok", 0);
        ok.fall = 5;
        let checks = Checks::reload(
            Some(checks),
            vec![ok, exec("bad", 2)],
            node.clone(),
            metrics.clone(),
        )
        .await;
        // Updates the old set sent before it stopped may still be queued.
        let mut first = next_health(&mut health).await;
        while first.len() == 1 {
            first = next_health(&mut health).await;
        }
        assert_eq!(
            first,
            [("ok".into(), PASS), ("bad".into(), PASS)],
            "the reload reset a check or failed a new one before it ran"
        );
        // The newcomer fails after `fall` (2) failures.
        let mut seen = Vec::new();
        while !seen.contains(&("bad".to_owned(), FAIL)) {
            seen = next_health(&mut health).await;
            assert!(seen.contains(&("ok".to_owned(), PASS)), "{seen:?}");
        }

        // Removed: the old probes stop; the node hears the empty set.
        let checks = Checks::reload(Some(checks), Vec::new(), node.clone(), metrics).await;
        // Updates the old set sent before it stopped may still be queued.
        while !next_health(&mut health).await.is_empty() {}
        drop(checks);
        drop(node);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), health.recv())
                .await
                .expect("a stopped check kept sending")
                .is_none()
        );
    }
}
