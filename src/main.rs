//! The `herd` command: the agent, and small clients of its HTTP API.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use herd::agent::{self, AgentArgs, AgentConfig, Bound, Stop};
use serde_json::Value;
use tokio::sync::mpsc;

/// `println!` for output a reader may stop reading (`herd members | head`):
/// a closed pipe ends the command quietly, as it ends C tools, instead of
/// panicking (Rust ignores SIGPIPE, so the write fails instead).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod demo;
mod tune;

/// herd: a gossip-based node agent for clustered servers.
#[derive(Parser)]
#[command(version = version_line(), about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the agent beside this node.
    Agent(Box<AgentArgs>),
    /// List the members a running agent knows.
    Members(ClientArgs),
    /// Show the primary a running agent's view names.
    Primary(ClientArgs),
    /// Explain why a running agent's view names its primary (or none): the
    /// candidates in order and why, the quorum arithmetic, the lease, and
    /// the last role change with what came just before it.
    Explain(ClientArgs),
    /// Put the local node into maintenance: /health answers 503 and the
    /// primary role hands over; it stays a member.
    Drain(AdminArgs),
    /// Put a drained node back into service.
    Resume(AdminArgs),
    /// Mark a member that is down as left for good, so it no longer counts
    /// towards the quorum (as `serf force-leave`).
    Forget(ForgetArgs),
    /// Run a scenario in the deterministic simulator.
    Simulate(SimulateArgs),
    /// Print a new gossip key (base64) for a key file.
    Keygen,
    /// Check a configuration (the file, environment and flags, as `herd
    /// agent` would read them) without binding anything; report every error.
    Validate(Box<ValidateArgs>),
    /// Print the version, the commit and the gossip protocol version.
    Version,
    /// Print a shell completion script (e.g. `herd completions bash >
    /// /etc/bash_completion.d/herd`).
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `herd manpage | man -l -`).
    Manpage,
    /// Start a cluster on loopback and watch it fail over: kill the
    /// primary, restart it, drain the next; stops everything at the end
    /// or on Ctrl-C.
    Demo(demo::DemoArgs),
    /// Run your configuration through the simulator at your cluster size
    /// and loss rate (a primary crash, a freeze, a partition, loss) and
    /// print the failover times, false downs and traffic to expect.
    Tune(Box<tune::TuneArgs>),
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// The configuration file [default: --config, HERD_CONFIG, or none]
    file: Option<std::path::PathBuf>,
    #[command(flatten)]
    agent: AgentArgs,
}

#[derive(clap::Args)]
struct AdminArgs {
    /// The agent's admin address, host:port (loopback; the agent's `admin`)
    #[arg(long, env = "HERD_ADMIN", default_value = "127.0.0.1:7948", value_parser = host_port)]
    admin: String,
}

#[derive(clap::Args)]
struct ForgetArgs {
    /// The member to forget
    name: String,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// The scenario file (TOML; see simulations/README.md)
    #[arg(required_unless_present = "swarm")]
    scenario: Option<std::path::PathBuf>,
    /// Seed of every random draw [default: the scenario's; with --swarm, 1]
    #[arg(long)]
    seed: Option<u64>,
    /// Cluster size [default: the scenario's]; ranges and scale targets
    /// scale with it
    #[arg(long, conflicts_with = "swarm")]
    nodes: Option<usize>,
    /// Print the report as JSON
    #[arg(long, conflicts_with = "swarm")]
    json: bool,
    /// Draw an SVG timeline of the run to this file
    #[arg(long, conflicts_with = "swarm")]
    plot: Option<std::path::PathBuf>,
    /// Instead of a file, run N generated fault schedules drawn from --seed
    #[arg(long, value_name = "N", conflicts_with = "scenario")]
    swarm: Option<u64>,
    /// With --swarm: the index of the first schedule [default: 0]
    #[arg(long, requires = "swarm")]
    index: Option<u64>,
    /// With --swarm: the largest cluster drawn [default: 300]
    #[arg(long, requires = "swarm", value_parser = clap::value_parser!(u64).range(3..=10_000))]
    max_nodes: Option<u64>,
    /// With --swarm: write each breached schedule here as TOML, shrink it,
    /// and write the shrunk one too
    #[arg(long, requires = "swarm", value_name = "DIR")]
    save_failures: Option<std::path::PathBuf>,
    /// With --swarm --save-failures: do not shrink
    #[arg(long, requires = "save_failures")]
    no_shrink: bool,
}

#[derive(clap::Args)]
struct ClientArgs {
    /// The agent's HTTP address, host:port (the agent's `http`)
    #[arg(long, env = "HERD_HTTP", default_value = "127.0.0.1:7947", value_parser = host_port)]
    http: String,
    /// Print the agent's JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Exit status for a configuration error (EX_CONFIG would be 78; linkerd
/// and BSD tools use EX_USAGE, 64, for bad arguments and configuration).
const EXIT_CONFIG: u8 = 64;

/// `herd version` and `--version`: what an operator pastes into a report.
fn version_line() -> String {
    format!(
        "{} (commit {}, gossip protocol {})",
        env!("CARGO_PKG_VERSION"),
        env!("HERD_COMMIT"),
        herd::core::PROTOCOL_VERSION
    )
}

/// Checks a client's `host:port` (a name, an IPv4 address, or `[v6]:port`);
/// the name is resolved when the command connects.
fn host_port(value: &str) -> Result<String, String> {
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("{value:?} is not host:port"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.is_empty() {
        return Err(format!("{value:?} has no host"));
    }
    if bare.contains(':') && !host.starts_with('[') {
        return Err(format!("{value:?}: write an IPv6 address as [addr]:port"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{value:?} has no valid port")),
        Ok(_) => Ok(value.to_owned()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Agent(args) => run_agent(*args),
        Commands::Members(args) => report(members(&args)),
        Commands::Primary(args) => primary(&args),
        Commands::Explain(args) => report(explain(&args)),
        Commands::Drain(args) => report(admin(&args, "/v1/drain")),
        Commands::Resume(args) => report(admin(&args, "/v1/resume")),
        Commands::Forget(args) => report(admin(&args.admin, &format!("/v1/forget/{}", args.name))),
        Commands::Simulate(args) => simulate(&args),
        Commands::Keygen => {
            outln!("{}", agent::generate_key().to_base64());
            ExitCode::SUCCESS
        }
        Commands::Validate(args) => validate(*args),
        Commands::Demo(args) => demo::run(&args),
        Commands::Tune(args) => tune::run(*args),
        Commands::Version => {
            outln!("herd {}", version_line());
            ExitCode::SUCCESS
        }
        Commands::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            // Into memory first: the generator panics on a failed write,
            // and a reader may stop reading (`herd completions bash | head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "herd", &mut script);
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(&script);
            ExitCode::SUCCESS
        }
        Commands::Manpage => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                // The reader stopped reading (`herd manpage | head`).
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("herd: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `herd validate`: everything `herd agent` checks before it binds, and
/// the key file it would read.
fn validate(mut args: ValidateArgs) -> ExitCode {
    if let Some(file) = args.file.take() {
        args.agent.config = Some(file);
    }
    let config = match AgentConfig::load(&args.agent) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("herd: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(err) = config.keyring() {
        eprintln!("herd: invalid configuration:\n  - {err}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let source = args.agent.config.as_ref().map_or_else(
        || "environment and flags".to_owned(),
        |p| p.display().to_string(),
    );
    outln!(
        "{source}: valid (cluster {:?}, gossip {}, http {}, {} seed(s), {} check(s), lease {:?})",
        config.cluster,
        config.bind,
        config.http,
        config.join.len(),
        config.checks.len(),
        config.node_config().gossip.lease,
    );
    ExitCode::SUCCESS
}

fn report(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The handle that swaps the log filter while the agent runs.
type LogHandle =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Logs to standard error, filtered by `HERD_LOG`, else by `configured`
/// (the file's `log`), else at `info`; as text or as one JSON object per
/// line. Returns the handle to change the filter, unless `HERD_LOG` fixed
/// it.
fn init_logging(configured: Option<&str>, format: agent::LogFormat) -> Option<LogHandle> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let from_env = std::env::var_os("HERD_LOG").is_some();
    let filter = if from_env {
        EnvFilter::try_from_env("HERD_LOG").ok()
    } else {
        EnvFilter::try_new(configured.unwrap_or("info")).ok()
    }
    .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        agent::LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
        // Every field is a field of the object (`member`, `term`, ...),
        // and the agent's span adds `node`, so a pipeline filters on them
        // without parsing the message.
        agent::LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    (!from_env).then_some(handle)
}

fn run_agent(args: AgentArgs) -> ExitCode {
    // Parse and check everything before binding a port (or logging: the
    // file may set the log filter).
    let config = match AgentConfig::load(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("herd: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let log = init_logging(config.log.as_deref(), config.log_format);
    // One thread runs everything: the gossip task, the HTTP listeners, the
    // checks and hooks. An idle agent then wakes one thread, not three,
    // and nothing in it waits on another thread; HTTP checks, the webhook
    // and configuration reloads block, so they borrow tokio's blocking
    // pool, whose threads exist only while such work runs (and 10 s after).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("herd: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(agent_main(config, args, log));
    // A webhook attempt or HTTP check still running on a blocking thread
    // must not hold the exit past the drain timeout.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herd: {err:#}");
            let config = err
                .downcast_ref::<agent::AgentError>()
                .is_some_and(agent::AgentError::is_config);
            if config {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn agent_main(config: AgentConfig, args: AgentArgs, log: Option<LogHandle>) -> Result<()> {
    // Before anything else: an unhandled SIGHUP would end the process.
    let signals = Signals::listen().context("cannot listen for signals")?;
    let bound = Bound::bind(&config).await?;
    let (stop_tx, stop_rx) = mpsc::channel(4);
    // One pending reload is enough: it reads the file as it is then.
    let (reload_tx, reload_rx) = mpsc::channel(1);
    tokio::spawn(signals.forward(stop_tx, reload_tx));
    let log_filter = log.map(|handle| -> agent::LogFilter {
        Box::new(move |directives: &str| {
            let filter = tracing_subscriber::EnvFilter::try_new(directives)?;
            Ok(handle.reload(filter)?)
        })
    });
    let reload = agent::Reload {
        requests: reload_rx,
        args,
        log_filter,
    };
    agent::run(config, bound, stop_rx, Some(reload), |_| {})
        .await
        .context("the agent could not start")
}

/// The signals the agent handles.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// SIGTERM or SIGINT once: drain; twice: leave now. SIGHUP: reload the
    /// configuration (it never stops the agent).
    async fn forward(mut self, stop: mpsc::Sender<Stop>, reload: mpsc::Sender<()>) {
        let mut request = Stop::Drain;
        loop {
            tokio::select! {
                _ = self.term.recv() => tracing::info!("SIGTERM received"),
                _ = self.int.recv() => tracing::info!("SIGINT received"),
                _ = self.hup.recv() => {
                    if let Err(mpsc::error::TrySendError::Full(())) = reload.try_send(()) {
                        tracing::info!("SIGHUP received while a reload is pending; reloading once");
                    }
                    continue;
                }
            }
            if stop.send(request).await.is_err() {
                return;
            }
            request = Stop::Now;
        }
    }
}

fn simulate(args: &SimulateArgs) -> ExitCode {
    // Silent unless asked: the report is the output. With `HERD_LOG` set,
    // the core's log lines carry the host and virtual time.
    if std::env::var_os("HERD_LOG").is_some() {
        init_logging(None, agent::LogFormat::Text);
    }
    use std::io::IsTerminal;
    let (Some(path), None) = (&args.scenario, args.swarm) else {
        return swarm(args);
    };
    let scenario = match herd::sim::Scenario::load(path) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("herd: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let options = herd::sim::RunOptions {
        seed: args.seed,
        nodes: args.nodes,
        plot: args.plot.is_some(),
        progress: std::io::stderr().is_terminal() && !args.json,
    };
    let outcome = herd::sim::run(&scenario, &options);
    let report = &outcome.report;
    if args.json {
        let json = serde_json::json!({
            "report": report,
            "performance": outcome.performance,
        });
        match serde_json::to_string_pretty(&json) {
            Ok(text) => outln!("{text}"),
            Err(err) => {
                eprintln!("herd: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        outln!("{report}");
    }
    let perf = &outcome.performance;
    eprintln!(
        "simulated {:.0} virtual s in {:.2} s wall: {:.1} virtual s per wall s, {} steps",
        report.duration_s, perf.wall_s, perf.virtual_per_wall, perf.steps
    );
    if let (Some(path), Some(timeline)) = (&args.plot, &outcome.timeline) {
        match herd::sim::render_svg(timeline, path) {
            Ok(()) => eprintln!("timeline drawn to {}", path.display()),
            Err(err) => {
                eprintln!("herd: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    if report.breaches.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "herd: {} invariant(s) breached; replay with: herd simulate {} --seed {} --nodes {}",
            report.breaches.len(),
            path.display(),
            report.seed,
            report.nodes
        );
        ExitCode::FAILURE
    }
}

/// Runs of a breached schedule the shrinker may spend.
const SHRINK_BUDGET: usize = 150;

#[allow(clippy::disallowed_methods)]
fn wall_clock() -> std::time::Instant {
    // How long the swarm took is the one thing measured in real time.
    std::time::Instant::now()
}

/// `herd simulate --swarm N`: draws and runs N schedules, one line each.
fn swarm(args: &SimulateArgs) -> ExitCode {
    use herd::sim::swarm::{DEFAULT_MAX_NODES, Schedule, breaches, shrink};
    use std::collections::BTreeMap;
    use std::io::Write;

    let count = args.swarm.unwrap_or(0);
    let seed = args.seed.unwrap_or(1);
    let first = args.index.unwrap_or(0);
    let max_nodes = args.max_nodes.map_or(DEFAULT_MAX_NODES, |m| {
        usize::try_from(m).unwrap_or(usize::MAX)
    });
    let Some(end) = first.checked_add(count) else {
        eprintln!("herd: --index {first} with --swarm {count} runs past the last index");
        return ExitCode::from(EXIT_CONFIG);
    };
    let started = wall_clock();
    let mut breached: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut failed, mut events, mut virtual_s) = (0u64, 0usize, 0.0);
    let mut stdout = std::io::stdout().lock();
    for index in first..end {
        let schedule = Schedule::draw(seed, index, max_nodes);
        let run_started = wall_clock();
        let verdict = schedule.run();
        events += verdict.faults;
        virtual_s += verdict.duration_s;
        let invariants = verdict.invariants();
        let _ = writeln!(
            stdout,
            "#{index:<6} nodes {:>4}  events {:>3}  virtual {:>5.0}s  wall {:>6.2}s  digest {}  breaches {}{}",
            verdict.nodes,
            verdict.faults,
            verdict.duration_s,
            run_started.elapsed().as_secs_f64(),
            verdict.digest,
            verdict.breaches.len(),
            if invariants.is_empty() {
                String::new()
            } else {
                format!(" ({})", invariants.join(", "))
            }
        );
        if invariants.is_empty() {
            let _ = stdout.flush();
            continue;
        }
        failed += 1;
        for invariant in &invariants {
            *breached.entry(invariant).or_default() += 1;
        }
        for breach in &verdict.breaches {
            let _ = writeln!(
                stdout,
                "        {:>8.2}s  {} [{}]: {}",
                breach.at_s,
                breach.invariant,
                breach.nodes.join(", "),
                breach.detail
            );
        }
        let _ = writeln!(stdout, "        replay: {}", schedule.replay_command());
        let Some(dir) = &args.save_failures else {
            let _ = writeln!(
                stdout,
                "        (add --save-failures DIR to write it as TOML and shrink it)"
            );
            continue;
        };
        match schedule.save(dir, &verdict) {
            Ok(path) => {
                let _ = writeln!(stdout, "        saved: herd simulate {}", path.display());
            }
            Err(err) => {
                eprintln!("herd: writing to {}: {err}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        if args.no_shrink {
            continue;
        }
        let _ = stdout.flush();
        let mut runs = 0;
        let same = breaches(invariants[0]);
        let shrunk = shrink(&schedule, SHRINK_BUDGET, |s, v| {
            runs += 1;
            same(s, v)
        });
        match shrunk {
            Some((small, small_verdict)) => match small.save(dir, &small_verdict) {
                Ok(path) => {
                    let _ = writeln!(
                        stdout,
                        "        shrunk in {runs} runs to {} nodes, {} faults ({}): herd simulate {}",
                        small.nodes(),
                        small.faults().len(),
                        invariants[0],
                        path.display()
                    );
                }
                Err(err) => {
                    eprintln!("herd: writing to {}: {err}", dir.display());
                    return ExitCode::FAILURE;
                }
            },
            None => {
                let _ = writeln!(
                    stdout,
                    "        no smaller schedule breaches {} ({runs} runs)",
                    invariants[0]
                );
            }
        }
        let _ = stdout.flush();
    }
    let summary: Vec<String> = breached
        .iter()
        .map(|(invariant, n)| format!("{invariant} x{n}"))
        .collect();
    let _ = writeln!(
        stdout,
        "swarm seed {seed}, max {max_nodes} nodes: {count} schedules (#{first} to #{}), {failed} breached{}; {events} events, {virtual_s:.0} virtual s in {:.1} s wall",
        end.saturating_sub(1),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        },
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn get_json(http: &str, path: &str) -> Result<Value> {
    let url = format!("http://{http}{path}");
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent.get(&url).call().with_context(|| {
        format!(
            "cannot reach the agent at {url} (is `herd agent` running? --http sets its address)"
        )
    })?;
    let status = response.status();
    let body: Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    Ok(body)
}

fn admin(args: &AdminArgs, path: &str) -> Result<()> {
    let url = format!("http://{}{path}", args.admin);
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    // The admin API refuses calls without this header: a web page cannot
    // send it cross-site (see `herd::http::ADMIN_HEADER`).
    let mut response = agent
        .post(&url)
        .header(herd::http::ADMIN_HEADER, "1")
        .send_empty()
        .with_context(|| {
        format!(
            "cannot reach the agent's admin API at {url} (is `herd agent` running on this host? --admin sets its address)"
        )
    })?;
    let status = response.status();
    let body: Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        bail!("{}", text(&body["error"]));
    }
    outln!("{}: {} done", text(&body["node"]), text(&body["action"]));
    Ok(())
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn members(args: &ClientArgs) -> Result<()> {
    let body = get_json(&args.http, "/v1/members")?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let empty = Vec::new();
    let members = body["members"].as_array().unwrap_or(&empty);
    let header = [
        "NAME",
        "ADDRESS",
        "STATE",
        "HEALTH",
        "PRIORITY",
        "SENIORITY",
        "ROLE",
    ];
    let rows: Vec<[String; 7]> = members
        .iter()
        .map(|m| {
            let mut name = text(&m["name"]);
            if m["local"] == Value::Bool(true) {
                name.push_str(" *");
            }
            let health = if m["draining"] == Value::Bool(true) {
                format!("{} (draining)", text(&m["health"]))
            } else {
                text(&m["health"])
            };
            let role = if m["primary"] == Value::Bool(true) {
                "primary"
            } else {
                ""
            };
            [
                name,
                text(&m["addr"]),
                text(&m["state"]),
                health,
                text(&m["priority"]),
                text(&m["seniority"]),
                role.to_owned(),
            ]
        })
        .collect();
    print_table(&header, &rows);
    let with_checks: Vec<&Value> = members
        .iter()
        .filter(|m| m["checks"].as_array().is_some_and(|c| !c.is_empty()))
        .collect();
    if !with_checks.is_empty() {
        outln!();
        outln!("CHECKS");
    }
    for member in with_checks {
        outln!("{}", text(&member["name"]));
        for check in member["checks"].as_array().into_iter().flatten() {
            outln!(
                "  {:<9} {}: {}",
                text(&check["status"]),
                text(&check["name"]),
                text(&check["output"])
            );
        }
    }
    Ok(())
}

/// Prints the primary; exits 1 when this agent's view names none, so a
/// script can test `herd primary` as it tests `/health/primary`.
fn primary(args: &ClientArgs) -> ExitCode {
    let body = match get_json(&args.http, "/v1/primary") {
        Ok(body) => body,
        Err(err) => {
            eprintln!("herd: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let named = body["primary"].as_str();
    if args.json {
        match serde_json::to_string_pretty(&body) {
            Ok(text) => outln!("{text}"),
            Err(err) => {
                eprintln!("herd: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        match named {
            Some(name) => outln!("{name}"),
            None => outln!(
                "no primary (quorum: {}, live {} of {} expected)",
                text(&body["quorum"]),
                text(&body["live"]),
                text(&body["expected"])
            ),
        }
    }
    if named.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn explain(args: &ClientArgs) -> Result<()> {
    let body = get_json(&args.http, "/v1/explain")?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let empty = Vec::new();
    outln!(
        "{} (as {} sees it)",
        text(&body["summary"]),
        text(&body["node"])
    );
    let quorum = &body["quorum"];
    outln!(
        "quorum: {} live ({} alive) of {} expected; {} needed to elect: {}",
        text(&quorum["live"]),
        text(&quorum["alive"]),
        text(&quorum["expected"]),
        text(&quorum["needed"]),
        if quorum["quorate"] == Value::Bool(true) {
            "held"
        } else {
            "NOT held"
        }
    );
    let candidates = body["candidates"].as_array().unwrap_or(&empty);
    if !candidates.is_empty() {
        outln!();
        let rows: Vec<[String; 5]> = candidates
            .iter()
            .map(|c| {
                [
                    text(&c["rank"]),
                    text(&c["name"]),
                    text(&c["priority"]),
                    text(&c["seniority"]),
                    text(&c["why"]),
                ]
            })
            .collect();
        print_table(
            &["RANK", "CANDIDATE", "PRIORITY", "SENIORITY", "WHY"],
            &rows,
        );
    }
    let excluded = body["excluded"].as_array().unwrap_or(&empty);
    if !excluded.is_empty() {
        outln!();
        let rows: Vec<[String; 2]> = excluded
            .iter()
            .map(|e| [text(&e["name"]), text(&e["why"])])
            .collect();
        print_table(&["NOT A CANDIDATE", "WHY"], &rows);
    }
    if let Some(witnesses) = body["lease"]["witnesses"].as_array() {
        let names: Vec<String> = witnesses.iter().map(text).collect();
        outln!(
            "\nlease: this node pings {} for its lease",
            names.join(", ")
        );
    }
    if body["consistent"] == Value::Bool(false) {
        outln!("\nnote: a record changed since the view last elected; ask again in a moment");
    }
    if let Some(change) = body["last_change"].as_object() {
        outln!("\nlast change: {}", text(&change["event"]["text"]));
        if let Some(previous) = change.get("previous_primary") {
            outln!(
                "  the primary before, {}: {}",
                text(&previous["name"]),
                text(&previous["why"])
            );
        }
        for cause in change
            .get("preceded_by")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
        {
            let before = change["event"]["at_ms"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(cause["at_ms"].as_u64().unwrap_or(0));
            outln!(
                "  {:.1} s before: {}",
                before as f64 / 1000.0,
                text(&cause["text"])
            );
        }
    }
    Ok(())
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
