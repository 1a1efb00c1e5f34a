//! Tells the server beside the agent what changed: hook commands and a
//! webhook.
//!
//! The gossip task turns node events into [`HookEvent`]s and offers them to
//! a [`Hooks`] without waiting; each sink (the commands, the webhook) has
//! its own queue and one worker task, so deliveries never overlap and never
//! reorder role changes. Role events go before queued member events, and a
//! role event that has not started yet is replaced by a newer one: the
//! server always learns the newest role, and may miss a role it held only
//! while an earlier hook ran (the sequence numbers show the gap).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, watch};

use crate::core::{ConfigError, Event, HealthStatus, MemberState};
use crate::metrics::HookMetrics;

/// Output kept from a hook for the log.
const MAX_OUTPUT: usize = 4096;
/// Member events a sink holds before it drops the oldest: a slow hook in a
/// large cluster must not grow the agent without bound.
const MAX_QUEUED: usize = 1024;
/// First and longest pause between webhook attempts.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// `[hooks]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HooksConfig {
    /// Run when this node becomes the primary: program and arguments (no
    /// shell; use `["/bin/sh", "-c", "..."]` for one).
    pub on_primary: Vec<String>,
    /// Run when this node stops being the primary, and once at start.
    pub on_secondary: Vec<String>,
    /// Run when any other member joins, leaves, fails, is forgotten or
    /// changes health.
    pub on_member: Vec<String>,
    /// A command running longer is killed (with its process group).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// POST every event as JSON to this `http://` or `https://` URL,
    /// retrying until a 2xx answer or a newer event replaces it.
    pub webhook: Option<String>,
    /// For an https webhook: trust only the certificates in this PEM file
    /// [default: the system's certificate store].
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// How long one webhook attempt may take.
    #[serde(with = "humantime_serde")]
    pub webhook_timeout: Duration,
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            on_primary: Vec::new(),
            on_secondary: Vec::new(),
            on_member: Vec::new(),
            timeout: Duration::from_secs(30),
            webhook: None,
            webhook_timeout: Duration::from_secs(5),
            webhook_ca_file: None,
        }
    }
}

impl HooksConfig {
    /// Whether anything is configured.
    pub fn any(&self) -> bool {
        !(self.on_primary.is_empty()
            && self.on_secondary.is_empty()
            && self.on_member.is_empty()
            && self.webhook.is_none())
    }

    /// Everything wrong with the section.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (field, argv) in [
            ("hooks.on_primary", &self.on_primary),
            ("hooks.on_secondary", &self.on_secondary),
            ("hooks.on_member", &self.on_member),
        ] {
            if argv
                .first()
                .is_some_and(|program| program.trim().is_empty())
            {
                errors.push(ConfigError {
                    field,
                    problem: "the program (first element) is empty".into(),
                });
            }
        }
        if self.timeout.is_zero() {
            errors.push(ConfigError {
                field: "hooks.timeout",
                problem: "must be more than zero".into(),
            });
        }
        if self.webhook_timeout.is_zero() {
            errors.push(ConfigError {
                field: "hooks.webhook_timeout",
                problem: "must be more than zero".into(),
            });
        }
        if let Some(problem) = self.webhook.as_deref().and_then(super::web::url_problem) {
            errors.push(ConfigError {
                field: "hooks.webhook",
                problem,
            });
        }
        if let Some(path) = &self.webhook_ca_file
            && let Err(problem) = super::web::Trust::from_ca_file(path)
        {
            errors.push(ConfigError {
                field: "hooks.webhook_ca_file",
                problem,
            });
        }
        errors
    }
}

/// What happened, as hooks name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum EventKind {
    /// This node became the primary.
    Primary,
    /// This node is not the primary (it stopped being one, or it started).
    Secondary,
    /// A member joined (or came back after being down or gone).
    MemberJoined,
    /// A member left gracefully.
    MemberLeft,
    /// A member was declared down.
    MemberFailed,
    /// A member was forgotten (`herd forget`, or reaped long after it went).
    MemberReaped,
    /// A member's health changed.
    MemberHealth,
}

impl EventKind {
    /// The name in `HERD_EVENT` and the JSON.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::MemberJoined => "member-joined",
            Self::MemberLeft => "member-left",
            Self::MemberFailed => "member-failed",
            Self::MemberReaped => "member-reaped",
            Self::MemberHealth => "member-health",
        }
    }

    fn is_role(self) -> bool {
        matches!(self, Self::Primary | Self::Secondary)
    }

    /// The configured hook that runs for this kind of event.
    fn hook(self) -> &'static str {
        match self {
            Self::Primary => "on_primary",
            Self::Secondary => "on_secondary",
            _ => "on_member",
        }
    }
}

/// The member an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct MemberChange {
    /// Its name.
    pub name: String,
    /// Its state now, for joins, leaves and failures.
    pub state: Option<MemberState>,
    /// Its health now, for health changes.
    pub health: Option<HealthStatus>,
}

/// One event, as hooks receive it on standard input and the webhook as its
/// body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct HookEvent {
    /// What happened.
    pub event: EventKind,
    /// Numbers the events of this agent's life in order; a hook sees a gap
    /// where an event went to another hook or was coalesced or dropped.
    pub sequence: u64,
    /// The cluster.
    pub cluster: String,
    /// This node.
    pub node: String,
    /// Whether this node is the primary now.
    pub is_primary: bool,
    /// The primary this node's view names now, if any.
    pub primary: Option<String>,
    /// For `primary`: the term of this node's claim. Otherwise the highest
    /// term this node has seen. Work stamped with a lower term comes from
    /// a deposed primary.
    pub term: u64,
    /// The member concerned, for member events.
    pub member: Option<MemberChange>,
}

impl HookEvent {
    /// The environment a hook command runs with.
    pub(super) fn env(&self) -> Vec<(&'static str, String)> {
        let member = self.member.as_ref();
        vec![
            ("HERD_EVENT", self.event.as_str().to_owned()),
            ("HERD_SEQUENCE", self.sequence.to_string()),
            ("HERD_CLUSTER", self.cluster.clone()),
            ("HERD_NODE", self.node.clone()),
            ("HERD_IS_PRIMARY", self.is_primary.to_string()),
            ("HERD_PRIMARY", self.primary.clone().unwrap_or_default()),
            ("HERD_TERM", self.term.to_string()),
            (
                "HERD_MEMBER",
                member.map(|m| m.name.clone()).unwrap_or_default(),
            ),
            (
                "HERD_MEMBER_STATE",
                member
                    .and_then(|m| m.state)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            ),
            (
                "HERD_MEMBER_HEALTH",
                member
                    .and_then(|m| m.health)
                    .map(|h| h.to_string())
                    .unwrap_or_default(),
            ),
        ]
    }

    /// Whether `newer` makes this event stale: a newer role event replaces
    /// a role event, a newer event about the same member a member event.
    fn superseded_by(&self, newer: &HookEvent) -> bool {
        if self.event.is_role() {
            newer.event.is_role()
        } else {
            !newer.event.is_role()
                && newer.member.as_ref().map(|m| &m.name) == self.member.as_ref().map(|m| &m.name)
        }
    }
}

/// Turns node events into hook events, numbering them.
#[derive(Debug)]
pub(super) struct Translator {
    cluster: String,
    node: String,
    sequence: u64,
}

/// What the translator needs to know of the node when an event comes out.
#[derive(Debug, Clone, Copy)]
pub(super) struct NodeView<'a> {
    /// The primary the view names.
    pub primary: Option<&'a str>,
    /// Whether this node claims the role.
    pub is_primary: bool,
    /// The highest term the node has seen.
    pub term: u64,
}

impl Translator {
    /// For this node of this cluster.
    pub(super) fn new(cluster: &str, node: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            sequence: 0,
        }
    }

    /// The event that tells the server at start that it is not the primary
    /// (yet): `term` is what an earlier life remembered, 0 if nothing.
    pub(super) fn started(&mut self, term: u64) -> HookEvent {
        let before_anything = NodeView {
            primary: None,
            is_primary: false,
            term,
        };
        self.make(EventKind::Secondary, before_anything, term, None)
    }

    /// The role event for the node's role now, for hooks a reload changed.
    pub(super) fn current(&mut self, view: NodeView<'_>) -> HookEvent {
        let kind = if view.is_primary {
            EventKind::Primary
        } else {
            EventKind::Secondary
        };
        self.make(kind, view, view.term, None)
    }

    /// The hook event for a node event, if hooks care about it.
    pub(super) fn translate(&mut self, event: &Event, view: NodeView<'_>) -> Option<HookEvent> {
        let (kind, term, member) = match event {
            Event::RoleChanged { claiming, term } => {
                let kind = if *claiming {
                    EventKind::Primary
                } else {
                    EventKind::Secondary
                };
                let term = if *claiming { *term } else { view.term };
                (kind, term, None)
            }
            Event::MemberState {
                name,
                previous,
                current,
                ..
            } => {
                let kind = match (previous, current) {
                    (_, MemberState::Down) => EventKind::MemberFailed,
                    (_, MemberState::Left) => EventKind::MemberLeft,
                    (None | Some(MemberState::Down | MemberState::Left), MemberState::Alive) => {
                        EventKind::MemberJoined
                    }
                    // Suspicion and its refutation are not changes a server
                    // acts on; a failure follows if the suspicion holds.
                    _ => return None,
                };
                let member = MemberChange {
                    name: name.to_string(),
                    state: Some(*current),
                    health: None,
                };
                (kind, view.term, Some(member))
            }
            Event::MemberHealth { name, status } => {
                let member = MemberChange {
                    name: name.to_string(),
                    state: None,
                    health: Some(*status),
                };
                (EventKind::MemberHealth, view.term, Some(member))
            }
            Event::MemberReaped { name } => {
                let member = MemberChange {
                    name: name.to_string(),
                    state: None,
                    health: None,
                };
                (EventKind::MemberReaped, view.term, Some(member))
            }
            Event::Joined { .. }
            | Event::JoinRefused { .. }
            | Event::Rejoined { .. }
            | Event::Left
            | Event::PrimaryChanged { .. } => return None,
        };
        Some(self.make(kind, view, term, member))
    }

    fn make(
        &mut self,
        event: EventKind,
        view: NodeView<'_>,
        term: u64,
        member: Option<MemberChange>,
    ) -> HookEvent {
        self.sequence += 1;
        HookEvent {
            event,
            sequence: self.sequence,
            cluster: self.cluster.clone(),
            node: self.node.clone(),
            is_primary: view.is_primary,
            primary: view.primary.map(str::to_owned),
            term,
            member,
        }
    }
}

/// A sink's pending events.
#[derive(Debug, Default)]
struct Queue {
    /// The newest role event not yet started.
    role: Option<HookEvent>,
    members: VecDeque<HookEvent>,
    /// A worker is delivering an event.
    busy: bool,
    /// Member events were dropped since the queue was last empty (warned
    /// once per overflow, not per event).
    overflowing: bool,
}

impl Queue {
    fn is_idle(&self) -> bool {
        self.role.is_none() && self.members.is_empty() && !self.busy
    }
}

/// One sink's queue, shared by the gossip task and the sink's worker.
struct Sink {
    name: &'static str,
    queue: Mutex<Queue>,
    /// Wakes the worker: an event arrived.
    arrived: Notify,
    /// Wakes whoever waits for the sink to go idle.
    idle: Notify,
    /// Counts offered events, for a retrying delivery to see newer ones.
    offered: watch::Sender<u64>,
    metrics: HookMetrics,
}

impl Sink {
    fn new(name: &'static str, metrics: HookMetrics) -> Arc<Self> {
        Arc::new(Self {
            name,
            queue: Mutex::new(Queue::default()),
            arrived: Notify::new(),
            idle: Notify::new(),
            offered: watch::Sender::new(0),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A worker that panicked holding the lock left a consistent queue:
        // every change to it is a single assignment or push.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn skipped(&self, reason: &str) {
        self.metrics.skipped(self.name, reason).inc();
    }

    /// Queues an event; never waits.
    fn offer(&self, event: HookEvent) {
        let mut queue = self.lock();
        if event.event.is_role() {
            if queue.role.replace(event).is_some() {
                self.skipped("coalesced");
            }
        } else {
            if queue.members.len() >= MAX_QUEUED {
                queue.members.pop_front();
                self.skipped("overflow");
                if !queue.overflowing {
                    queue.overflowing = true;
                    tracing::warn!(
                        sink = self.name,
                        queued = MAX_QUEUED,
                        "hook queue full: dropping the oldest member events \
                         (herd_hook_events_skipped_total counts them)"
                    );
                }
            }
            queue.members.push_back(event);
        }
        drop(queue);
        self.arrived.notify_one();
        self.offered.send_modify(|count| *count += 1);
    }

    /// The next event to deliver: a pending role change first.
    async fn next(&self) -> HookEvent {
        loop {
            let arrived = self.arrived.notified();
            {
                let mut queue = self.lock();
                let next = queue.role.take().or_else(|| queue.members.pop_front());
                if let Some(event) = next {
                    queue.busy = true;
                    return event;
                }
                queue.busy = false;
                queue.overflowing = false;
            }
            self.idle.notify_waiters();
            arrived.await;
        }
    }

    /// Whether a queued event makes `event` stale.
    fn superseded(&self, event: &HookEvent) -> bool {
        let queue = self.lock();
        queue
            .role
            .iter()
            .chain(queue.members.iter())
            .any(|newer| event.superseded_by(newer))
    }

    /// Waits until every queued event was delivered, or `deadline` passed.
    async fn settle(&self, deadline: tokio::time::Instant) -> bool {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.lock().is_idle() {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout_at(deadline, wait).await.is_ok()
    }
}

/// The running hook sinks of one agent.
pub(super) struct Hooks {
    translator: Translator,
    /// The configuration the workers read before every delivery, so a
    /// reload takes effect at the next event, never in the middle of one.
    config: watch::Sender<HooksConfig>,
    commands: Option<Arc<Sink>>,
    webhook: Option<Arc<Sink>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    metrics: HookMetrics,
}

fn has_commands(config: &HooksConfig) -> bool {
    !(config.on_primary.is_empty() && config.on_secondary.is_empty() && config.on_member.is_empty())
}

impl Hooks {
    /// Starts a worker per configured sink.
    pub(super) fn start(
        config: &HooksConfig,
        translator: Translator,
        metrics: &HookMetrics,
    ) -> Self {
        let mut hooks = Self {
            translator,
            config: watch::Sender::new(config.clone()),
            commands: None,
            webhook: None,
            workers: Vec::new(),
            metrics: metrics.clone(),
        };
        hooks.start_sinks();
        hooks
    }

    /// Starts the worker of each sink the configuration needs and that
    /// does not run yet. A sink no longer configured keeps its worker,
    /// which skips what it finds queued.
    fn start_sinks(&mut self) {
        let config = self.config.borrow().clone();
        if has_commands(&config) && self.commands.is_none() {
            let sink = Sink::new("command", self.metrics.clone());
            self.workers
                .push(tokio::spawn(tracing::Instrument::in_current_span(
                    run_commands(sink.clone(), self.config.subscribe()),
                )));
            self.commands = Some(sink);
        }
        if config.webhook.is_some() && self.webhook.is_none() {
            let sink = Sink::new("webhook", self.metrics.clone());
            self.workers
                .push(tokio::spawn(tracing::Instrument::in_current_span(
                    run_webhook(sink.clone(), self.config.subscribe()),
                )));
            self.webhook = Some(sink);
        }
    }

    /// Applies a reloaded `[hooks]`: the next delivery of each sink uses
    /// it (one running now finishes under the old one). When the role
    /// hooks or the webhook changed, they hear the node's current role, so
    /// the server learns it from the new configuration. Returns whether
    /// anything changed.
    pub(super) fn reconfigure(&mut self, config: &HooksConfig, view: NodeView<'_>) -> bool {
        if *self.config.borrow() == *config {
            return false;
        }
        let old = self.config.send_replace(config.clone());
        self.start_sinks();
        let role_hooks_changed = old.on_primary != config.on_primary
            || old.on_secondary != config.on_secondary
            || old.webhook != config.webhook;
        if role_hooks_changed {
            self.role_now(view);
        }
        true
    }

    /// Tells the sinks the node's role now.
    pub(super) fn role_now(&mut self, view: NodeView<'_>) {
        let event = self.translator.current(view);
        self.offer(event);
    }

    /// Tells the sinks the node started, as a secondary.
    pub(super) fn started(&mut self, term: u64) {
        let event = self.translator.started(term);
        self.offer(event);
    }

    /// Offers a node event to the sinks that want it.
    pub(super) fn node_event(&mut self, event: &Event, view: NodeView<'_>) {
        if let Some(event) = self.translator.translate(event, view) {
            self.offer(event);
        }
    }

    fn offer(&self, event: HookEvent) {
        let config = self.config.borrow();
        // Every role event goes to the queue, even one with no command: it
        // must still replace an older role event waiting there (a pending
        // `primary` must not run once the node is no longer primary).
        if let Some(sink) = &self.commands
            && has_commands(&config)
            && (event.event.is_role() || !config.on_member.is_empty())
        {
            sink.offer(event.clone());
        }
        if let Some(sink) = &self.webhook
            && config.webhook.is_some()
        {
            sink.offer(event);
        }
    }

    /// Gives queued events up to `limit` to be delivered, then stops the
    /// workers (a running command is killed).
    pub(super) async fn shutdown(self, limit: Duration) {
        let sinks = self.commands.iter().chain(self.webhook.iter());
        let deadline = now() + limit;
        for sink in sinks {
            if !sink.settle(deadline).await {
                tracing::warn!(
                    sink = sink.name,
                    ?limit,
                    "stopping with hook events undelivered"
                );
            }
        }
        for worker in self.workers {
            worker.abort();
        }
    }
}

fn command_for(config: &HooksConfig, kind: EventKind) -> &[String] {
    match kind {
        EventKind::Primary => &config.on_primary,
        EventKind::Secondary => &config.on_secondary,
        _ => &config.on_member,
    }
}

/// How one run of a hook command ended.
#[derive(Debug)]
pub(super) enum RunOutcome {
    /// It exited with this code (`None`: killed by a signal).
    Exited(Option<i32>),
    /// It ran past the timeout and was killed.
    TimedOut,
    /// It could not be started.
    NotStarted(HookStartError),
}

/// Why a hook command could not be run.
#[derive(Debug, thiserror::Error)]
pub(super) enum HookStartError {
    /// The hook is configured with no program.
    #[error("no command")]
    NoCommand,
    /// The program could not be started.
    #[error(transparent)]
    Spawn(std::io::Error),
    /// Its exit could not be waited for.
    #[error(transparent)]
    Wait(std::io::Error),
}

/// Why a webhook attempt got no answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum WebhookError {
    /// The event did not encode (a bug).
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// The request failed: no connection, a timeout, a broken answer.
    #[error(transparent)]
    Request(ureq::Error),
    /// The blocking task that made the request failed.
    #[error("webhook task failed: {0}")]
    Task(tokio::task::JoinError),
    /// The request outlived its timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// `webhook_ca_file` cannot be read now.
    #[error("webhook_ca_file: {0}")]
    CaFile(String),
}

impl RunOutcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Exited(Some(0)) => "ok",
            Self::Exited(_) => "failed",
            Self::TimedOut => "timeout",
            Self::NotStarted(_) => "error",
        }
    }
}

async fn run_commands(sink: Arc<Sink>, config: watch::Receiver<HooksConfig>) {
    loop {
        let event = sink.next().await;
        // The configuration as of this event (a reload may have changed it).
        let config = config.borrow().clone();
        let argv = command_for(&config, event.event);
        if argv.is_empty() {
            continue;
        }
        let hook = event.event.hook();
        let started = now();
        let (outcome, output) = run_command(argv, &event, config.timeout).await;
        let took = started.elapsed();
        let elapsed_ms = took.as_millis() as u64;
        sink.metrics.runs(hook, outcome.label()).inc();
        sink.metrics.duration(hook, took);
        let output = output.trim();
        match &outcome {
            RunOutcome::Exited(Some(0)) => tracing::info!(
                hook,
                event = event.event.as_str(),
                sequence = event.sequence,
                term = event.term,
                elapsed_ms,
                output,
                "hook ran"
            ),
            RunOutcome::Exited(code) => tracing::warn!(
                hook,
                event = event.event.as_str(),
                sequence = event.sequence,
                term = event.term,
                exit = code.map_or("signal".to_owned(), |c| c.to_string()),
                elapsed_ms,
                output,
                "hook failed"
            ),
            RunOutcome::TimedOut => tracing::warn!(
                hook,
                event = event.event.as_str(),
                sequence = event.sequence,
                term = event.term,
                timeout = ?config.timeout,
                output,
                "hook timed out and was killed"
            ),
            RunOutcome::NotStarted(err) => tracing::warn!(
                hook,
                event = event.event.as_str(),
                program = argv.first().map_or("", String::as_str),
                error = err.to_string().as_str(),
                "hook could not be started"
            ),
        }
    }
}

/// Runs a hook command with the event in its environment and on its
/// standard input; returns how it ended and its output (stdout then stderr,
/// truncated).
pub(super) async fn run_command(
    argv: &[String],
    event: &HookEvent,
    timeout: Duration,
) -> (RunOutcome, String) {
    let Some((program, args)) = argv.split_first() else {
        return (
            RunOutcome::NotStarted(HookStartError::NoCommand),
            String::new(),
        );
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(event.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return (
                RunOutcome::NotStarted(HookStartError::Spawn(err)),
                String::new(),
            );
        }
    };
    let group = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        let mut body = serde_json::to_vec(event).unwrap_or_default();
        body.push(b'\n');
        // A hook that does not read its input may exit first: that is fine.
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let stdout = tokio::spawn(read_some(child.stdout.take()));
    let stderr = tokio::spawn(read_some(child.stderr.take()));
    let outcome = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => RunOutcome::Exited(status.code()),
        Ok(Err(err)) => RunOutcome::NotStarted(HookStartError::Wait(err)),
        Err(_) => {
            if let Some(group) = group.and_then(|g| i32::try_from(g).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(group),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            RunOutcome::TimedOut
        }
    };
    // A process the hook left running in the background may hold its
    // output open: take what came within a moment.
    let mut output = String::new();
    for reader in [stdout, stderr] {
        if let Ok(Ok(text)) = tokio::time::timeout(Duration::from_secs(1), reader).await {
            output.push_str(&text);
        }
    }
    (outcome, output)
}

/// Reads up to `MAX_OUTPUT` bytes, then discards the rest until the end so
/// the writer never blocks on a full pipe.
async fn read_some(source: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut source) = source else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match source.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

async fn run_webhook(sink: Arc<Sink>, config: watch::Receiver<HooksConfig>) {
    loop {
        let event = sink.next().await;
        let mut pause = RETRY_MIN;
        loop {
            // Each attempt goes where the configuration says now: a reload
            // may have moved the webhook, or removed it.
            let (url, timeout, ca_file) = {
                let config = config.borrow();
                (
                    config.webhook.clone(),
                    config.webhook_timeout,
                    config.webhook_ca_file.clone(),
                )
            };
            let Some(url) = url else {
                break;
            };
            let started = now();
            let outcome = match super::web::Trust::for_ca_file(ca_file.as_deref()) {
                Ok(trust) => post(&url, &event, timeout, trust).await,
                Err(problem) => Err(WebhookError::CaFile(problem)),
            };
            sink.metrics.duration("webhook", started.elapsed());
            let label = match &outcome {
                Ok(status) if (200..300).contains(status) => "accepted",
                Ok(_) => "rejected",
                Err(_) => "error",
            };
            sink.metrics.deliveries(label).inc();
            if label == "accepted" {
                tracing::debug!(
                    event = event.event.as_str(),
                    sequence = event.sequence,
                    "webhook accepted"
                );
                break;
            }
            let problem = match outcome {
                Ok(status) => format!("HTTP {status}"),
                Err(err) => err.to_string(),
            };
            tracing::warn!(
                url,
                event = event.event.as_str(),
                sequence = event.sequence,
                problem,
                retry_in = ?pause,
                "webhook not accepted; retrying"
            );
            if wait_unless_superseded(&sink, &event, pause).await {
                sink.skipped("superseded");
                tracing::info!(
                    event = event.event.as_str(),
                    sequence = event.sequence,
                    "webhook event superseded by a newer one"
                );
                break;
            }
            pause = (pause * 2).min(RETRY_MAX);
        }
    }
}

/// The hooks' clock: durations for the log and retry deadlines, the agent
/// side of the line the core never crosses.
#[allow(clippy::disallowed_methods)]
fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Sleeps for `pause`, returning early with `true` once a newer event makes
/// `event` stale.
async fn wait_unless_superseded(sink: &Sink, event: &HookEvent, pause: Duration) -> bool {
    let until = now() + pause;
    let mut offered = sink.offered.subscribe();
    loop {
        if sink.superseded(event) {
            return true;
        }
        tokio::select! {
            changed = offered.changed() => if changed.is_err() {
                return false;
            },
            () = tokio::time::sleep_until(until) => return false,
        }
    }
}

/// One POST of the event; the answer's status, or why there was none.
async fn post(
    url: &str,
    event: &HookEvent,
    timeout: Duration,
    trust: super::web::Trust,
) -> Result<u16, WebhookError> {
    let body = serde_json::to_string(event)?;
    let url = url.to_owned();
    let attempt = tokio::task::spawn_blocking(move || {
        super::web::client(timeout, &trust)
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body)
            .map(|response| response.status().as_u16())
    });
    match tokio::time::timeout(timeout + Duration::from_millis(100), attempt).await {
        Ok(Ok(outcome)) => outcome.map_err(WebhookError::Request),
        Ok(Err(err)) => Err(WebhookError::Task(err)),
        Err(_) => Err(WebhookError::Timeout(timeout)),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests live in real time
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn view(primary: Option<&str>, term: u64) -> NodeView<'_> {
        NodeView {
            primary,
            is_primary: primary == Some("a"),
            term,
        }
    }

    fn role(claiming: bool, term: u64) -> Event {
        Event::RoleChanged { claiming, term }
    }

    fn member_state(name: &str, previous: Option<MemberState>, current: MemberState) -> Event {
        Event::MemberState {
            name: Arc::from(name),
            incarnation: 1,
            previous,
            current,
        }
    }

    fn metrics() -> HookMetrics {
        HookMetrics::register(&prometheus::Registry::new()).unwrap()
    }

    #[test]
    fn node_events_become_hook_events() {
        let mut translator = Translator::new("prod", "a");
        let started = translator.started(4);
        assert_eq!(
            (started.event, started.sequence, started.term),
            (EventKind::Secondary, 1, 4)
        );

        let primary = translator
            .translate(&role(true, 5), view(Some("a"), 5))
            .unwrap();
        assert_eq!(
            (primary.event, primary.term, primary.is_primary),
            (EventKind::Primary, 5, true)
        );
        // Stepping down reports the highest term seen: the fence to hold.
        let secondary = translator
            .translate(&role(false, 5), view(Some("b"), 6))
            .unwrap();
        assert_eq!((secondary.event, secondary.term), (EventKind::Secondary, 6));
        assert_eq!(secondary.primary.as_deref(), Some("b"));

        let kinds: Vec<Option<EventKind>> = [
            member_state("b", None, MemberState::Alive),
            member_state("b", Some(MemberState::Alive), MemberState::Suspect),
            member_state("b", Some(MemberState::Suspect), MemberState::Alive),
            member_state("b", Some(MemberState::Suspect), MemberState::Down),
            member_state("b", Some(MemberState::Down), MemberState::Alive),
            member_state("b", Some(MemberState::Alive), MemberState::Left),
            Event::MemberHealth {
                name: Arc::from("b"),
                status: HealthStatus::Failing,
            },
            Event::MemberReaped {
                name: Arc::from("b"),
            },
            Event::Left,
        ]
        .iter()
        .map(|e| translator.translate(e, view(Some("b"), 6)).map(|h| h.event))
        .collect();
        use EventKind::*;
        assert_eq!(
            kinds,
            [
                Some(MemberJoined),
                None,
                None,
                Some(MemberFailed),
                Some(MemberJoined),
                Some(MemberLeft),
                Some(MemberHealth),
                Some(MemberReaped),
                None
            ]
        );
        let last = translator
            .translate(
                &member_state("c", None, MemberState::Alive),
                view(Some("b"), 6),
            )
            .unwrap();
        assert_eq!(last.sequence, 10, "only events hooks receive are numbered");
        let env = last.env();
        let get = |key: &str| env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("HERD_EVENT"), Some("member-joined"));
        assert_eq!(get("HERD_MEMBER"), Some("c"));
        assert_eq!(get("HERD_MEMBER_STATE"), Some("alive"));
        assert_eq!(get("HERD_PRIMARY"), Some("b"));
        assert_eq!(get("HERD_TERM"), Some("6"));
        assert_eq!(get("HERD_IS_PRIMARY"), Some("false"));
    }

    fn event(kind: EventKind, sequence: u64, member: Option<&str>) -> HookEvent {
        HookEvent {
            event: kind,
            sequence,
            cluster: "prod".into(),
            node: "a".into(),
            is_primary: kind == EventKind::Primary,
            primary: None,
            term: sequence,
            member: member.map(|name| MemberChange {
                name: name.into(),
                state: None,
                health: None,
            }),
        }
    }

    #[tokio::test]
    async fn a_pending_role_change_is_replaced_and_goes_first() {
        let metrics = metrics();
        let sink = Sink::new("command", metrics.clone());
        sink.offer(event(EventKind::MemberJoined, 1, Some("b")));
        sink.offer(event(EventKind::Primary, 2, None));
        sink.offer(event(EventKind::MemberJoined, 3, Some("c")));
        sink.offer(event(EventKind::Secondary, 4, None));
        let order: Vec<u64> = [sink.next().await, sink.next().await, sink.next().await]
            .iter()
            .map(|e| e.sequence)
            .collect();
        assert_eq!(order, [4, 1, 3]);
        assert_eq!(metrics.skipped("command", "coalesced").get(), 1);
        assert!(
            !sink.lock().is_idle(),
            "the worker still holds the last one"
        );
        assert!(!sink.settle(now() + Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn a_step_down_with_no_command_still_cancels_a_pending_promotion() {
        let dir = temp_dir("cancel");
        let ran = dir.join("ran");
        let config = HooksConfig {
            on_primary: sh(&format!("echo \"$HERD_TERM\" >> {}", ran.display())),
            ..HooksConfig::default()
        };
        let metrics = metrics();
        let mut hooks = Hooks::start(&config, Translator::new("prod", "a"), &metrics);
        // Both arrive before the worker can start the first (this runtime
        // has one thread): the step-down replaces the promotion.
        hooks.node_event(&role(true, 3), view(Some("a"), 3));
        hooks.node_event(&role(false, 3), view(Some("b"), 4));
        hooks.shutdown(Duration::from_secs(10)).await;
        assert!(!ran.exists(), "a stale promotion ran");
        let skipped = metrics.skipped("command", "coalesced");
        assert_eq!(skipped.get(), 1);

        // A later promotion runs as usual.
        let mut hooks = Hooks::start(&config, Translator::new("prod", "a"), &metrics);
        hooks.node_event(&role(true, 5), view(Some("a"), 5));
        hooks.shutdown(Duration::from_secs(10)).await;
        let ran = std::fs::read_to_string(&ran).unwrap_or_default();
        assert_eq!(ran.lines().collect::<Vec<_>>(), ["5"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_member_event() {
        let metrics = metrics();
        let sink = Sink::new("command", metrics.clone());
        for sequence in 0..(MAX_QUEUED as u64 + 2) {
            sink.offer(event(EventKind::MemberHealth, sequence, Some("b")));
        }
        assert_eq!(sink.next().await.sequence, 2);
        assert_eq!(metrics.skipped("command", "overflow").get(), 2);
    }

    fn temp_dir(test: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("herd-hooks-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn a_command_gets_the_event_in_its_environment_and_on_stdin() {
        let dir = temp_dir("stdin");
        let input = dir.join("input.json");
        let script = format!(
            "cat > {}; echo \"$HERD_EVENT term $HERD_TERM\"; exit 3",
            input.display()
        );
        let event = event(EventKind::Primary, 7, None);
        let (outcome, output) = run_command(&sh(&script), &event, Duration::from_secs(20)).await;
        assert!(
            matches!(outcome, RunOutcome::Exited(Some(3))),
            "{outcome:?}"
        );
        assert_eq!(output.trim(), "primary term 7");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        assert_eq!(json["event"], "primary");
        assert_eq!(json["term"], 7);
        assert_eq!(json["node"], "a");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_not_a_panic() {
        let argv = vec!["/nonexistent/herd-hook".to_owned()];
        let (outcome, _) = run_command(
            &argv,
            &event(EventKind::Primary, 1, None),
            Duration::from_secs(5),
        )
        .await;
        assert!(matches!(outcome, RunOutcome::NotStarted(_)), "{outcome:?}");
    }

    /// Whether a process is gone (or a zombie waiting for its parent).
    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_with_what_it_started() {
        let dir = temp_dir("timeout");
        let pid_file = dir.join("pid");
        let script = format!(
            "sleep 300 & echo $! > {}; echo started; wait",
            pid_file.display()
        );
        let (outcome, output) = run_command(
            &sh(&script),
            &event(EventKind::Primary, 1, None),
            Duration::from_millis(500),
        )
        .await;
        assert!(matches!(outcome, RunOutcome::TimedOut), "{outcome:?}");
        assert_eq!(output.trim(), "started");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let pid = pid.trim();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !gone(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep {pid} survived the hook's timeout"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A local HTTP server answering the first `failures` POSTs with 500;
    /// returns its URL and the bodies it received.
    type Received = Arc<Mutex<Vec<serde_json::Value>>>;

    async fn receiver(failures: usize) -> (String, Received) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = AtomicUsize::new(0);
        let state = (bodies.clone(), Arc::new(seen));
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    move |axum::extract::State((bodies, seen)): axum::extract::State<(
                        Received,
                        Arc<AtomicUsize>,
                    )>,
                          body: String| async move {
                        let value = serde_json::from_str(&body).unwrap_or_default();
                        bodies.lock().unwrap().push(value);
                        if seen.fetch_add(1, Ordering::SeqCst) < failures {
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            axum::http::StatusCode::NO_CONTENT
                        }
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), bodies)
    }

    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Hooks with only a webhook to a receiver refusing `refusals` POSTs,
    /// told that the node became primary with term 3.
    async fn promoted_with_webhook(refusals: usize) -> (Hooks, Received, HookMetrics) {
        let (url, bodies) = receiver(refusals).await;
        let metrics = metrics();
        let config = HooksConfig {
            webhook: Some(url),
            ..HooksConfig::default()
        };
        let mut hooks = Hooks::start(&config, Translator::new("prod", "a"), &metrics);
        hooks.node_event(&role(true, 3), view(Some("a"), 3));
        (hooks, bodies, metrics)
    }

    #[tokio::test]
    async fn the_webhook_retries_until_accepted() {
        let (hooks, bodies, metrics) = promoted_with_webhook(2).await;
        let accepted = metrics.deliveries("accepted");
        wait_for("the webhook to accept", || accepted.get() == 1).await;
        let bodies = bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3, "two refusals, then accepted");
        assert!(
            bodies
                .iter()
                .all(|b| b["event"] == "primary" && b["term"] == 3)
        );
        assert_eq!(metrics.deliveries("rejected").get(), 2);
        hooks.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_newer_role_change_supersedes_a_failing_delivery() {
        let (mut hooks, bodies, metrics) = promoted_with_webhook(usize::MAX).await;
        wait_for("a first attempt", || !bodies.lock().unwrap().is_empty()).await;
        hooks.node_event(&role(false, 3), view(Some("b"), 4));
        let superseded = metrics.skipped("webhook", "superseded");
        wait_for("the first event to be superseded", || superseded.get() == 1).await;
        wait_for("the newer event to be tried", || {
            bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b["event"] == "secondary")
        })
        .await;
        hooks.shutdown(Duration::from_millis(10)).await;
    }
}
