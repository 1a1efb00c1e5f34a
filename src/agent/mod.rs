//! The tokio driver: one task owns the [`Node`] and feeds it.
//!
//! The gossip task `select!`s over the UDP socket, the node's next deadline,
//! commands and stop requests; after every input it logs the node's events,
//! publishes a [`Snapshot`] on a `watch` channel, then sends what the node
//! produced. The HTTP server only reads that snapshot.
//!
//! Shutdown is one bounded sequence: on the first stop request the node
//! drains (`/health` 503 at once, the role hands over), leaves shortly
//! before `drain_timeout` expires, flushes its last datagrams and returns.
//! A second request leaves at once.

mod addr;
mod alarm;
mod checks;
mod config;
mod hooks;
mod memory;
mod reload;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, RngExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

pub use crate::http::command::Request;
pub use config::{AgentArgs, AgentConfig, LogFormat};
use hooks::Hooks;
pub use reload::{LogFilter, LogFilterError, Reload};

use crate::core::{
    Command, Event, Keyring, MemberState, Node, NodeConfig, NodeId, Shutdown, Snapshot, Start, Time,
};
use crate::http::{self, HttpState};
use crate::metrics::Metrics;

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is invalid (nothing was started).
    #[error("{0}")]
    Config(#[from] config::ConfigErrors),
    /// A socket could not be bound or read.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The metrics registry refused a metric (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The data directory holds a file the agent will not use (nothing was
    /// started).
    #[error(transparent)]
    DataDir(#[from] memory::MemoryError),
    /// The data directory cannot be written (nothing was started).
    #[error(
        "{0}; the agent must be able to remember its primary term: make the data directory \
         writable for this user, or point --data-dir elsewhere"
    )]
    DataDirUnwritable(memory::MemoryError),
}

impl AgentError {
    /// Whether the error is in what the agent was given (its configuration
    /// or data directory) rather than in the host: the start should not be
    /// retried as is.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Self::Config(_) | Self::DataDir(_) | Self::DataDirUnwritable(_)
        )
    }
}

/// A request to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Drain for the drain timeout, then leave (SIGTERM, first Ctrl-C).
    Drain,
    /// Leave now (a second signal).
    Now,
}

/// The sockets an agent runs on, bound before it starts so tests can bind
/// port 0 and read the real ports.
pub struct Bound {
    /// The gossip socket.
    pub gossip: UdpSocket,
    /// The HTTP listener.
    pub http: TcpListener,
    /// The admin listener (loopback).
    pub admin: TcpListener,
}

impl Bound {
    /// Binds both sockets as configured.
    pub async fn bind(config: &AgentConfig) -> Result<Self, AgentError> {
        let gossip = UdpSocket::bind(config.bind)
            .await
            .map_err(|source| AgentError::Io {
                context: format!("binding gossip socket {}", config.bind),
                source,
            })?;
        let http = TcpListener::bind(config.http)
            .await
            .map_err(|source| AgentError::Io {
                context: format!("binding HTTP listener {}", config.http),
                source,
            })?;
        let admin = TcpListener::bind(config.admin)
            .await
            .map_err(|source| AgentError::Io {
                context: format!(
                    "binding admin listener {} (another agent on this host? give each its own --admin)",
                    config.admin
                ),
                source,
            })?;
        Ok(Self {
            gossip,
            http,
            admin,
        })
    }
}

/// The one place the agent reads the monotonic clock: time since start.
struct Clock(Instant);

impl Clock {
    #[allow(clippy::disallowed_methods)]
    fn start() -> Self {
        Self(Instant::now())
    }

    fn now(&self) -> Time {
        self.0.elapsed()
    }

    /// The instant the node's time counts from.
    fn origin(&self) -> Instant {
        self.0
    }
}

/// Milliseconds since the Unix epoch: each start of the agent gets a larger
/// identity incarnation than the last, so its new life wins everywhere.
#[allow(clippy::disallowed_methods)]
fn start_incarnation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The node's RNG seed, from the operating system: the one place the agent
/// draws randomness that a simulation would instead fix.
#[allow(clippy::disallowed_methods)]
fn os_seed() -> u64 {
    rand::make_rng::<rand::rngs::ChaCha8Rng>().random()
}

/// 256 bits from the operating system for the AEAD nonces (see
/// `core::keyring`), fresh at every start.
#[allow(clippy::disallowed_methods)]
fn os_nonce_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::make_rng::<rand::rngs::ChaCha20Rng>().fill_bytes(&mut seed);
    seed
}

/// Logs at start whether gossip is sealed (see [`warn_if_plaintext`]).
fn say_how_gossip_is_protected(gossip_addr: SocketAddr, keyring: &Keyring) {
    if !warn_if_plaintext(gossip_addr, keyring) && !keyring.keys.is_empty() {
        tracing::info!(
            keys = keyring.keys.len(),
            seal = keyring.seal,
            require = keyring.require,
            "gossip is encrypted"
        );
    }
}

/// Warns when gossip is plaintext on an address other hosts can reach: at
/// start, and when a reload changes the keyring (the node itself logs the
/// new keyring). Returns whether it warned.
pub(crate) fn warn_if_plaintext(gossip_addr: SocketAddr, keyring: &Keyring) -> bool {
    let exposed = keyring.keys.is_empty() && !gossip_addr.ip().is_loopback();
    if exposed {
        tracing::warn!(
            %gossip_addr,
            "gossiping in plaintext on a network address: anyone who can reach it can join \
             and move the primary role; set key_file (see herd keygen)"
        );
    }
    exposed
}

/// A fresh nonce seed for a keyring the agent hands to its node.
pub(crate) fn with_nonce_seed(mut keyring: Keyring) -> Keyring {
    keyring.nonce_seed = os_nonce_seed();
    keyring
}

/// A new gossip key from the operating system's generator (`herd keygen`).
#[allow(clippy::disallowed_methods)]
pub fn generate_key() -> crate::core::Key {
    crate::core::Key::generate(&mut rand::make_rng::<rand::rngs::ChaCha20Rng>())
}

/// The address to advertise when none is configured.
fn advertise_addr(config: &AgentConfig, bound: SocketAddr) -> SocketAddr {
    if let Some(advertise) = config.advertise {
        return advertise;
    }
    if !bound.ip().is_unspecified() {
        return bound;
    }
    // Connecting a UDP socket sends nothing; it only asks the kernel which
    // interface would route to a documentation address (RFC 5737).
    let probe = std::net::UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|s| s.connect(("192.0.2.1", 9)).map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(local) => SocketAddr::new(local.ip(), bound.port()),
        Err(err) => {
            tracing::warn!(
                error = err.to_string().as_str(),
                "no default route to find an address to advertise; using 127.0.0.1 \
                 (set --advertise for a multi-host cluster)"
            );
            SocketAddr::from(([127, 0, 0, 1], bound.port()))
        }
    }
}

fn host_name() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    // Host names may carry characters member names do not.
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(crate::core::identity::MAX_NAME_LEN)
        .collect();
    if cleaned.is_empty() {
        "herd".to_owned()
    } else {
        cleaned
    }
}

/// A running agent's handles, for the code that started it.
pub struct Running {
    /// The snapshot the HTTP side reads.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Commands for the node.
    pub commands: mpsc::Sender<Request>,
}

/// Runs an agent until `stop` asks it to leave (or closes). Returns after
/// the node left the cluster and the HTTP server stopped.
pub async fn run(
    config: AgentConfig,
    bound: Bound,
    stop: mpsc::Receiver<Stop>,
    reload: Option<Reload>,
    started: impl FnOnce(Running),
) -> Result<(), AgentError> {
    let name = config.name.clone().unwrap_or_else(host_name);
    // Every line the agent logs (its tasks' too) names the node: a log
    // pipeline holding many agents' lines tells them apart by a field.
    let span = tracing::info_span!("agent", node = %name);
    run_named(config, name, bound, stop, reload, started)
        .instrument(span)
        .await
}

async fn run_named(
    config: AgentConfig,
    name: String,
    bound: Bound,
    stop: mpsc::Receiver<Stop>,
    reload: Option<Reload>,
    started: impl FnOnce(Running),
) -> Result<(), AgentError> {
    config.validate().map_err(|errors| config::ConfigErrors {
        source: "agent".into(),
        errors,
    })?;
    let clock = Clock::start();
    let gossip_addr = bound.gossip.local_addr().map_err(|source| AgentError::Io {
        context: "reading the gossip socket's address".into(),
        source,
    })?;
    let http_addr = bound.http.local_addr().map_err(|source| AgentError::Io {
        context: "reading the HTTP listener's address".into(),
        source,
    })?;
    let advertise = advertise_addr(&config, gossip_addr);
    let id =
        NodeId::new(&name, advertise, start_incarnation()).map_err(|e| config::ConfigErrors {
            source: "agent".into(),
            errors: vec![crate::core::ConfigError {
                field: "name",
                problem: format!("{e} (set --name)"),
            }],
        })?;
    let recalled = match &config.data_dir {
        Some(dir) => {
            memory::create(dir)?;
            let recalled = memory::load(dir, &config.cluster, &name)?;
            // Prove the directory can be written before joining: a node
            // that cannot persist its term must not start handing terms out.
            memory::save(
                dir,
                &config.cluster,
                &name,
                &recalled.members,
                recalled.term,
            )
            .map_err(AgentError::DataDirUnwritable)?;
            recalled
        }
        None => memory::Recalled::default(),
    };
    let remembered: Vec<SocketAddr> = recalled.members.iter().map(|(_, addr)| *addr).collect();
    if !remembered.is_empty() {
        tracing::info!(
            members = remembered.len(),
            "rejoining the members remembered from the last run"
        );
    }
    let start = if config.join.is_empty() && remembered.is_empty() {
        if config.data_dir.is_none() {
            tracing::warn!("{FOUNDING_WITHOUT_SEEDS}");
        }
        Start::Bootstrap
    } else {
        Start::Join(remembered.clone())
    };
    let seed = os_seed();
    let mut keyring = config.keyring().map_err(|error| config::ConfigErrors {
        source: "agent".into(),
        errors: vec![error],
    })?;
    let running_keyring = keyring.clone();
    keyring.nonce_seed = os_nonce_seed();
    say_how_gossip_is_protected(gossip_addr, &keyring);
    let node_config = NodeConfig {
        remembered_term: recalled.term,
        keyring,
        ..config.node_config()
    };
    let node = Node::new(node_config, id, seed, start, clock.now()).map_err(|errors| {
        config::ConfigErrors {
            source: "agent".into(),
            errors,
        }
    })?;

    // A founder claims inside `Node::new`: its term goes to disk before the
    // first snapshot can show it (a crash right after would otherwise hand
    // the same term out again on the next start).
    let mut recalled = recalled;
    if let Some(dir) = &config.data_dir
        && node.highest_term() != recalled.term
    {
        memory::save(
            dir,
            &config.cluster,
            &name,
            &recalled.members,
            node.highest_term(),
        )
        .map_err(AgentError::DataDirUnwritable)?;
        recalled.term = node.highest_term();
    }

    let mut metrics = Metrics::new()?;
    let first = Arc::new(node.snapshot());
    metrics.update(&first);
    let (snapshot_tx, snapshot_rx) = watch::channel(first);
    let hooks = config.hooks.any().then(|| {
        let mut hooks = Hooks::start(
            &config.hooks,
            hooks::Translator::new(&config.cluster, &name),
            metrics.hooks(),
        );
        hooks.started(recalled.term);
        hooks
    });
    let (command_tx, command_rx) = mpsc::channel(64);

    let (http_stop_tx, http_stop_rx) = watch::channel(false);
    let admin_addr = bound.admin.local_addr().map_err(|source| AgentError::Io {
        context: "reading the admin listener's address".into(),
        source,
    })?;
    let claim_deadline = http::ClaimDeadline::new(clock.origin());
    let events = http::events::EventLog::default();
    let state = HttpState {
        snapshot: snapshot_rx.clone(),
        registry: metrics.registry().clone(),
        requests: None,
        admin: admin_addr,
        claim_deadline: Some(claim_deadline.clone()),
        events: events.clone(),
        metrics: Some(metrics.http()),
        health_answers: http::HealthAnswers::default(),
    };
    let servers = [
        (bound.http, http::public(state.clone())),
        (
            bound.admin,
            http::admin(HttpState {
                requests: Some(command_tx.clone()),
                ..state
            }),
        ),
    ]
    .map(|(listener, front)| {
        let mut stop = http_stop_rx.clone();
        let limits = http_limits();
        tokio::spawn(
            async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                };
                let stats = Arc::default();
                http::serve::serve(listener, front, limits, stats, shutdown).await;
            }
            .in_current_span(),
        )
    });

    let resolver = (!config.join.is_empty() || !remembered.is_empty()).then(|| {
        tokio::spawn(
            resolve_seeds(
                config.join.clone(),
                remembered,
                gossip_addr,
                command_tx.clone(),
                snapshot_rx.clone(),
            )
            .in_current_span(),
        )
    });
    let checks = (!config.checks.is_empty()).then(|| {
        checks::Checks::start(config.checks.clone(), command_tx.clone(), metrics.checks())
    });
    let (hooks_tx, hooks_rx) = mpsc::channel(4);
    // The reload task owns the checks, to replace them; without it they
    // stop when `run` returns.
    let (reloader, checks) = match reload {
        Some(reload) => {
            let reloader = reload::Reloader {
                args: reload.args,
                log_filter: reload.log_filter,
                running: config.clone(),
                keyring: running_keyring,
                gossip_addr,
                checks,
                check_metrics: metrics.checks(),
                commands: command_tx.clone(),
                hooks: hooks_tx,
                counter: metrics.config_reloads(),
            };
            (
                Some(tokio::spawn(
                    reloader.run(reload.requests).in_current_span(),
                )),
                None,
            )
        }
        None => (None, checks),
    };

    tracing::info!(
        node = %name,
        cluster = %config.cluster,
        gossip = %gossip_addr,
        advertise = %advertise,
        admin = %admin_addr,
        checks = config.checks.len(),
        "herd agent started; health endpoint at http://{http_addr}/health"
    );
    started(Running {
        snapshot: snapshot_rx,
        commands: command_tx,
    });

    let mut driver = Driver {
        node,
        clock,
        socket: bound.gossip,
        snapshot: snapshot_tx,
        claim_deadline,
        metrics,
        published_at: Duration::ZERO,
        memory: config.data_dir.clone().map(|dir| Memory {
            dir,
            cluster: config.cluster.clone(),
            node: name.clone(),
            saved: recalled.members,
            saved_term: recalled.term,
            saved_at: None,
            failing: None,
            retry_at: Duration::ZERO,
        }),
        primary_eligible: config.primary_eligible,
        hooks,
        cluster: config.cluster.clone(),
        name: name.clone(),
        // With no seeds the node founded inside `Node::new` and said so.
        warn_if_founding: !config.join.is_empty() && config.data_dir.is_none(),
        events,
    };
    driver
        .run(stop, command_rx, hooks_rx, config.drain_timeout)
        .await;

    for task in [resolver, reloader].into_iter().flatten() {
        task.abort();
    }
    drop(checks);
    let _ = http_stop_tx.send(true);
    // What is left of the drain timeout after leaving goes to the last
    // hooks (the step-down ran when the drain began) and to in-flight
    // requests; neither holds state to lose.
    let grace = drain_margin(config.drain_timeout);
    let hooks = async {
        if let Some(hooks) = driver.hooks.take() {
            hooks.shutdown(grace).await;
        }
    };
    let http = async {
        for server in servers {
            let _ = tokio::time::timeout(grace, server).await;
        }
    };
    tokio::join!(hooks, http);
    tracing::info!("herd agent stopped");
    Ok(())
}

/// Where and what the driver last saved with `--data-dir`.
struct Memory {
    dir: std::path::PathBuf,
    cluster: String,
    node: String,
    saved: Vec<(String, SocketAddr)>,
    saved_term: u64,
    saved_at: Option<Time>,
    /// Since when writes fail, and how many have failed; `None` while the
    /// directory can be written.
    failing: Option<(Time, u64)>,
    /// No new attempt before this while writes fail.
    retry_at: Time,
}

/// What a node that founds a cluster with no seeds and no data directory
/// says: its next start, with the same command line, founds another one.
const FOUNDING_WITHOUT_SEEDS: &str = "founding a new cluster: no --join and no --data-dir, so a \
    restart of this node will found another cluster (a second primary); once the other members \
    run, start it with --join listing them (the same list as every node's, its own address may \
    be in it), or give it a --data-dir";

/// The same when every seed given was the node's own address.
const FOUNDING_ON_OWN_ADDRESS: &str = "founding a new cluster: every --join address is this \
    node's own and there is no --data-dir, so a restart of this node with this command line \
    will found another cluster (a second primary); once the other members run, add their \
    addresses to its --join list, or give it a --data-dir";

/// The part of the drain timeout kept for leaving and stopping: a tenth,
/// at most 500 ms.
/// File descriptors kept free of HTTP connections: the gossip socket,
/// checks, hooks, the data directory, DNS.
const RESERVED_FDS: u64 = 128;

/// Each HTTP listener's limits (see `http::serve`), within the process's
/// file descriptor limit.
fn http_limits() -> http::serve::Limits {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let limits = http::serve::Limits::default();
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::debug!(
                error = err.to_string().as_str(),
                "cannot read the file descriptor limit"
            );
            return limits;
        }
    };
    // A shell's soft limit is often 1,024, which would halve what the
    // listeners take; the hard limit is what the operator allows, and the
    // listeners' own bound keeps the use far below it.
    let wanted = 2 * limits.max_connections as u64 + RESERVED_FDS;
    let soft = if soft < wanted && hard > soft {
        let raised = wanted.min(hard);
        match setrlimit(Resource::RLIMIT_NOFILE, raised, hard) {
            Ok(()) => raised,
            Err(err) => {
                tracing::debug!(
                    error = err.to_string().as_str(),
                    "cannot raise the file descriptor limit"
                );
                soft
            }
        }
    } else {
        soft
    };
    limits.within(soft, RESERVED_FDS, 2)
}

fn drain_margin(drain_timeout: Duration) -> Duration {
    (drain_timeout / 10).min(Duration::from_millis(500))
}

/// What hook events say about the node.
fn hook_view(node: &Node) -> hooks::NodeView<'_> {
    hooks::NodeView {
        primary: node.primary().map(|p| &**p),
        is_primary: node.is_claiming(),
        term: node.highest_term(),
    }
}

/// How often remembered members are written at most.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// How often a write that failed is tried again.
const RETRY_WRITE: Duration = Duration::from_secs(1);

/// The gossip task's state.
struct Driver {
    node: Node,
    clock: Clock,
    socket: UdpSocket,
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// Shared with the health routes (see [`http::ClaimDeadline`]).
    claim_deadline: http::ClaimDeadline,
    metrics: Metrics,
    published_at: Time,
    memory: Option<Memory>,
    /// The configured `primary_eligible`, restored when the data directory
    /// can be written again.
    primary_eligible: bool,
    hooks: Option<Hooks>,
    /// For hooks a reload adds.
    cluster: String,
    name: String,
    /// Warn when the node founds a cluster because every seed was itself.
    warn_if_founding: bool,
    /// The recent events `/v1/events` shows.
    events: http::events::EventLog,
}

/// How often the snapshot is republished even when nothing changed, so
/// counters in `/metrics` stay fresh.
const REPUBLISH: Duration = Duration::from_secs(1);

impl Driver {
    async fn run(
        &mut self,
        mut stop: mpsc::Receiver<Stop>,
        mut commands: mpsc::Receiver<Request>,
        mut hooks: mpsc::Receiver<hooks::HooksConfig>,
        drain_timeout: Duration,
    ) {
        // Large enough to read any UDP datagram whole, so oversize ones are
        // seen (and counted) rather than silently truncated.
        let mut buf = vec![0u8; 65_536];
        let mut shutdown: Option<Shutdown> = None;
        let mut stop_open = true;
        let mut deadline = self.flush().await;
        let mut alarm = alarm::Alarm::new(self.clock.origin());
        loop {
            let leave_at = shutdown.as_ref().map(Shutdown::leave_at);
            // The snapshot is republished at the first wake a second after
            // the last publish; a node with nothing else to do wakes for it
            // at two.
            let republish = self.published_at + 2 * REPUBLISH;
            let wake = [deadline, leave_at, Some(republish)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(republish);
            alarm.set(wake, self.clock.now());
            tokio::select! {
                request = stop.recv(), if stop_open => {
                    let now = self.clock.now();
                    match request {
                        Some(Stop::Drain) if shutdown.is_none() => {
                            let margin = drain_margin(drain_timeout);
                            tracing::info!(
                                ?drain_timeout,
                                "draining: /health answers 503, the primary role hands over; \
                                 leaving in {:?} (signal again to leave now)",
                                drain_timeout - margin,
                            );
                            let begun = Shutdown::new(now, drain_timeout - margin);
                            service_manager::stopping();
                            // Draining only fails once the node has left.
                            let _ = self.node.handle_command(now, begun.drain());
                            shutdown = Some(begun);
                        }
                        Some(_) => break,
                        None => {
                            stop_open = false;
                            if shutdown.is_none() {
                                break;
                            }
                        }
                    }
                }
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        let now = self.clock.now();
                        self.node.handle_packet(now, from, &buf[..len]);
                    }
                    Err(err) => {
                        tracing::debug!(error = err.to_string().as_str(), "receiving a datagram");
                    }
                },
                Some(config) = hooks.recv() => self.reconfigure_hooks(&config),
                Some(request) = commands.recv() => {
                    let now = self.clock.now();
                    let outcome = self.node.handle_command(now, request.command);
                    if let Some(reply) = request.reply {
                        let _ = reply.send(outcome);
                    }
                }
                () = alarm.fired() => {
                    let now = self.clock.now();
                    if shutdown.is_some_and(|shutdown| shutdown.is_due(now)) {
                        break;
                    }
                    if deadline.is_some_and(|at| at <= now) {
                        self.node.handle_timeout(now);
                    }
                }
            }
            deadline = self.flush().await;
        }
        let now = self.clock.now();
        self.remember(true);
        // Leaving cannot be refused. A stop without a drain (a second
        // signal, or the stop channel closing) leaves at once.
        let leave = shutdown.map_or(Command::Leave, Shutdown::leave);
        let _ = self.node.handle_command(now, leave);
        self.flush().await;
        self.publish(true, false);
    }

    /// Applies a reloaded `[hooks]`; starts the hooks if none ran.
    fn reconfigure_hooks(&mut self, config: &hooks::HooksConfig) {
        let view = hook_view(&self.node);
        match &mut self.hooks {
            Some(hooks) => {
                hooks.reconfigure(config, view);
            }
            None if config.any() => {
                let translator = hooks::Translator::new(&self.cluster, &self.name);
                let mut hooks = Hooks::start(config, translator, self.metrics.hooks());
                // The server learns the role now, from the new hooks.
                hooks.role_now(view);
                self.hooks = Some(hooks);
            }
            None => {}
        }
    }

    /// Writes the members and term to the data directory when they changed
    /// (the members at most every `SAVE_EVERY` unless `force`, a new term at
    /// once), and retries every `RETRY_WRITE` while writes fail. A node
    /// whose writes fail is not eligible for the primary role: a term it
    /// cannot persist could be handed out again after a restart. Returns
    /// whether the node's eligibility changed.
    fn remember(&mut self, force: bool) -> bool {
        let now = self.clock.now();
        let Some(memory) = self.memory.as_mut() else {
            return false;
        };
        // A new term is written at once: a restart must never reuse it.
        let term = self.node.highest_term();
        let new_term = term != memory.saved_term;
        match memory.failing {
            Some(_) if !force && now < memory.retry_at => return false,
            Some(_) => {}
            None if !force
                && !new_term
                && memory.saved_at.is_some_and(|at| now < at + SAVE_EVERY) =>
            {
                return false;
            }
            None => {}
        }
        let mut members = memory::members_of(self.snapshot.borrow().as_ref());
        if members.is_empty() {
            // Not joined yet, or alone: keep the members known before, or
            // a restart that fails to rejoin would forget them and found a
            // cluster of its own next time.
            members.clone_from(&memory.saved);
        }
        if memory.failing.is_none() && !new_term && members == memory.saved {
            return false;
        }
        let written = memory::save(&memory.dir, &memory.cluster, &memory.node, &members, term);
        self.metrics.data_dir_written(written.is_ok());
        let eligible = match (written, memory.failing) {
            (Ok(_), failing) => {
                memory.saved = members;
                memory.saved_term = term;
                memory.saved_at = Some(now);
                memory.failing = None;
                let Some((since, failures)) = failing else {
                    return false;
                };
                tracing::info!(
                    dir = %memory.dir.display(),
                    failures,
                    unwritable_for = ?now.saturating_sub(since),
                    eligible = self.primary_eligible,
                    "the data directory can be written again; the node is eligible for the \
                     primary role again as configured (it ranks behind the working primary)"
                );
                self.primary_eligible
            }
            (Err(err), Some((since, failures))) => {
                tracing::debug!(
                    error = err.to_string().as_str(),
                    failures,
                    "the data directory still cannot be written"
                );
                memory.failing = Some((since, failures + 1));
                memory.retry_at = now + RETRY_WRITE;
                return false;
            }
            (Err(err), None) => {
                memory.failing = Some((now, 1));
                memory.retry_at = now + RETRY_WRITE;
                tracing::error!(
                    error = err.to_string().as_str(),
                    "cannot write the data directory: this node gives up the primary role \
                     until it can (a term it cannot persist must not be handed out); \
                     retrying every second, herd_data_dir_writable is 0 meanwhile"
                );
                false
            }
        };
        // Setting eligibility cannot be refused.
        let _ = self
            .node
            .handle_command(now, Command::SetEligible(eligible));
        true
    }

    /// Takes the node's outputs and does what the driver contract
    /// (`core::driver`) says: logs the events, writes the data directory
    /// and publishes a snapshot, sends the datagrams, then tells the hooks.
    /// Returns when the node wants to be woken.
    async fn flush(&mut self) -> Option<Time> {
        let mut outputs = self.node.take_outputs();
        let mut changed = outputs.changed;
        let mut logged = 0;
        loop {
            for event in &outputs.events[logged..] {
                log_event(event);
                if matches!(event, Event::Joined { via: None }) && self.warn_if_founding {
                    self.warn_if_founding = false;
                    tracing::warn!("{FOUNDING_ON_OWN_ADDRESS}");
                }
            }
            logged = outputs.events.len();
            // Publish before sending: what this node answers over HTTP (no
            // longer primary, draining) changes before any peer can hear of
            // the change and act on it, so a hand-over never has two nodes
            // answering 200 on /health/primary at once. Publishing first
            // writes a new term to the data directory, before any snapshot,
            // peer or hook can see it; a write that fails takes the node's
            // eligibility away, and the loop publishes what that changed.
            if !self.publish(false, changed) {
                break;
            }
            let more = self.node.take_outputs();
            changed = more.changed;
            outputs.merge(more);
        }
        // Before sending too: a renewal that arrived moves the claim's
        // deadline on; a lapse already shows in the snapshot.
        self.claim_deadline.set(self.node.claim_until());
        for transmit in &outputs.transmits {
            if let Err(err) = self.socket.send_to(&transmit.payload, transmit.to).await {
                tracing::debug!(to = %transmit.to, error = err.to_string().as_str(), "sending a datagram");
            }
        }
        let at_ms = wall_clock_ms();
        self.metrics.probe_rtts(&self.node.take_probe_rtts());
        for event in published_events(&outputs.events) {
            self.events.record(at_ms, event);
            self.metrics.event(event);
            if matches!(event, Event::Joined { .. }) {
                service_manager::ready();
            }
        }
        if let Some(hooks) = &mut self.hooks {
            for event in published_events(&outputs.events) {
                hooks.node_event(event, hook_view(&self.node));
            }
        }
        outputs.wake
    }

    /// Publishes a snapshot when the node changed (or `force`, or every
    /// `REPUBLISH`), after writing the data directory. Returns whether that
    /// write changed the node's eligibility: the snapshot then already
    /// shows it, and the node has new events.
    fn publish(&mut self, force: bool, changed: bool) -> bool {
        let now = self.clock.now();
        if !(force || changed || now >= self.published_at + REPUBLISH) {
            return false;
        }
        let eligibility_changed = self.remember(false);
        let snapshot = Arc::new(self.node.snapshot());
        self.metrics.update(&snapshot);
        self.snapshot.send_replace(snapshot);
        self.published_at = now;
        eligibility_changed
    }
}

/// Milliseconds since the Unix epoch, for the times `/v1/events` shows a
/// human (the node itself runs on `Clock`).
#[allow(clippy::disallowed_methods)]
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// What the agent tells systemd (`Type=notify`): ready once it has joined
/// (or founded) a cluster, stopping when it begins to drain. Without
/// `NOTIFY_SOCKET` (not started by systemd) these do nothing.
mod service_manager {
    use sd_notify::NotifyState;

    pub(super) fn ready() {
        notify(&[
            NotifyState::Ready,
            NotifyState::Status("joined the cluster"),
        ]);
    }

    pub(super) fn stopping() {
        notify(&[NotifyState::Stopping, NotifyState::Status("draining")]);
    }

    fn notify(states: &[NotifyState<'_>]) {
        if let Err(err) = sd_notify::notify(states) {
            tracing::warn!(error = err.to_string().as_str(), "cannot notify systemd");
        }
    }
}

/// The events of one flush that hooks should hear of: all but a claim of
/// the primary role given up again within the same flush (a write of its
/// term failed, or the node changed its mind on one input). No snapshot
/// showed such a claim, so no hook may hand its term to the server.
fn published_events(events: &[Event]) -> impl Iterator<Item = &Event> {
    let mut skip = vec![false; events.len()];
    let mut claim = None;
    for (index, event) in events.iter().enumerate() {
        match event {
            Event::RoleChanged { claiming: true, .. } => claim = Some(index),
            Event::RoleChanged {
                claiming: false, ..
            } => {
                if let Some(claimed) = claim.take() {
                    skip[claimed] = true;
                    skip[index] = true;
                }
            }
            _ => {}
        }
    }
    events
        .iter()
        .zip(skip)
        .filter_map(|(event, skip)| (!skip).then_some(event))
}

fn log_event(event: &Event) {
    match event {
        Event::Joined { via: Some(via) } => tracing::info!(seed = %via, "joined the cluster"),
        Event::Joined { via: None } => tracing::info!("founded a new cluster"),
        Event::JoinRefused { .. } => {}
        Event::Rejoined {
            incarnation,
            lost_seniority,
        } => tracing::warn!(
            incarnation,
            lost_seniority,
            "the cluster had declared this node down; rejoined"
        ),
        Event::Left => tracing::info!("left the cluster"),
        Event::MemberState {
            name,
            previous,
            current,
            ..
        } => match current {
            MemberState::Suspect => tracing::debug!(member = %name, "member suspected"),
            MemberState::Alive if *previous == Some(MemberState::Suspect) => {
                tracing::debug!(member = %name, "member refuted suspicion")
            }
            _ => tracing::info!(member = %name, state = %current, "member state changed"),
        },
        Event::MemberReaped { name } => tracing::info!(member = %name, "member forgotten"),
        Event::MemberHealth { name, status } => {
            tracing::info!(member = %name, health = %status, "member health changed")
        }
        Event::PrimaryChanged { previous, current } => tracing::info!(
            previous = previous.as_deref().unwrap_or("none"),
            current = current.as_deref().unwrap_or("none"),
            "primary changed"
        ),
        Event::RoleChanged {
            claiming: true,
            term,
        } => tracing::info!(term, "this node is now the primary"),
        Event::RoleChanged {
            claiming: false,
            term,
        } => tracing::info!(term, "this node is no longer the primary"),
    }
}

/// Resolves the seeds again and again (DNS may change, seeds may not exist
/// yet) and hands every new set to the node.
async fn resolve_seeds(
    seeds: Vec<String>,
    remembered: Vec<SocketAddr>,
    local: SocketAddr,
    commands: mpsc::Sender<Request>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
) {
    let mut last: Option<Vec<SocketAddr>> = None;
    loop {
        let mut addrs = remembered.clone();
        for seed in &seeds {
            match tokio::net::lookup_host(seed.as_str()).await {
                Ok(found) => addrs.extend(found.filter(|a| {
                    // An IPv4 socket cannot reach IPv6 seeds and vice versa,
                    // except a wildcard IPv6 socket (dual stack).
                    a.is_ipv4() == local.is_ipv4()
                        || (local.is_ipv6() && local.ip().is_unspecified())
                })),
                Err(err) => tracing::warn!(
                    seed,
                    error = err.to_string().as_str(),
                    "cannot resolve seed"
                ),
            }
        }
        addrs.sort();
        addrs.dedup();
        if last.as_ref() != Some(&addrs) && !addrs.is_empty() {
            if commands
                .send(Request::fire(Command::Seeds(addrs.clone())))
                .await
                .is_err()
            {
                return;
            }
            last = Some(addrs);
        }
        let joined = snapshot.borrow().phase != crate::core::Phase::Joining;
        let pause = if joined && last.is_some() {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(2)
        };
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(claiming: bool, term: u64) -> Event {
        Event::RoleChanged { claiming, term }
    }

    #[test]
    fn a_claim_given_up_in_the_same_flush_never_reaches_the_hooks() {
        let left = Event::Left;
        let events = [role(true, 3), left.clone(), role(false, 3)];
        let heard: Vec<&Event> = published_events(&events).collect();
        assert_eq!(heard, [&left]);
        // A step-down of an earlier claim, then a new claim that stays.
        let events = [role(false, 2), role(true, 3)];
        assert_eq!(published_events(&events).count(), 2);
    }
}
