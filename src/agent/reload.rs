//! Reloading the configuration on SIGHUP.
//!
//! A module of its own because it is a task of its own, beside the gossip
//! task: it reads the file again off the gossip task's path and applies
//! what may change while the agent runs (the checks, the hooks, the log
//! filter and the keyring), and it owns the checks so it can replace them.

use std::net::SocketAddr;

use tokio::sync::mpsc;

use super::checks;
use super::config::{AgentArgs, AgentConfig};
use super::hooks::HooksConfig;
use crate::core::{Command, Keyring};
use crate::http::command::Request;

/// Sets the log filter (tracing's `EnvFilter` syntax); the error says why
/// it could not.
pub type LogFilter = Box<dyn Fn(&str) -> Result<(), LogFilterError> + Send>;

/// Why a reloaded `log` setting was not applied.
#[derive(Debug, thiserror::Error)]
pub enum LogFilterError {
    /// The directives do not parse.
    #[error(transparent)]
    Parse(#[from] tracing_subscriber::filter::ParseError),
    /// The subscriber is gone (the process is ending).
    #[error(transparent)]
    Reload(#[from] tracing_subscriber::reload::Error),
}

/// How the agent reloads its configuration (SIGHUP).
pub struct Reload {
    /// One message per reload request.
    pub requests: mpsc::Receiver<()>,
    /// The flags and environment the agent was started with: a reload
    /// reads `args.config` again and applies them over it, as at start.
    /// Without `config` there is nothing to reload.
    pub args: AgentArgs,
    /// Applies the file's `log`; `None` when `HERD_LOG` set the filter,
    /// which beats the file.
    pub log_filter: Option<LogFilter>,
}

/// The task that reloads the configuration on request.
pub(super) struct Reloader {
    pub(super) args: AgentArgs,
    pub(super) log_filter: Option<LogFilter>,
    /// The configuration in effect: as started, with what reloads changed.
    pub(super) running: AgentConfig,
    /// The keyring in effect (its nonce seed not kept): a reload compares
    /// the keys the file holds now, so a key file changed in place counts.
    pub(super) keyring: Keyring,
    pub(super) gossip_addr: SocketAddr,
    pub(super) checks: Option<checks::Checks>,
    /// The checks' metrics, for the set a reload starts.
    pub(super) check_metrics: crate::metrics::CheckMetrics,
    pub(super) commands: mpsc::Sender<Request>,
    pub(super) hooks: mpsc::Sender<HooksConfig>,
    pub(super) counter: prometheus::IntCounterVec,
}

impl Reloader {
    pub(super) async fn run(mut self, mut requests: mpsc::Receiver<()>) {
        while requests.recv().await.is_some() {
            let result = self.reload().await;
            if let Some(result) = result {
                self.counter.with_label_values(&[result]).inc();
            }
        }
    }

    /// Reads the file again and applies what can change while the agent
    /// runs: the checks, the hooks, the log filter and the keyring (the key
    /// file is read again too). A file that does not
    /// load or validate changes nothing. Returns the result to count, if
    /// there was a file to read.
    async fn reload(&mut self) -> Option<&'static str> {
        let Some(path) = self.args.config.clone() else {
            tracing::info!(
                "SIGHUP: the agent was started without --config, so there is nothing to reload"
            );
            return None;
        };
        let file = path.display().to_string();
        tracing::info!(file, "SIGHUP: reloading the configuration");
        let args = self.args.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let new = AgentConfig::load(&args)?;
            // `load` validated the keyring; read again here, a file changed
            // in between is an error like any other.
            let keyring = new.keyring().map_err(|error| super::config::ConfigErrors {
                source: "reload".into(),
                errors: vec![error],
            })?;
            Ok::<_, super::config::ConfigErrors>((new, keyring))
        })
        .await;
        let (new, keyring) = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(errors)) => {
                for error in &errors.errors {
                    // One line each (a TOML error spans several).
                    let problem: Vec<&str> = error.problem.lines().map(str::trim).collect();
                    tracing::error!(
                        file,
                        field = error.field,
                        problem = problem.join(" ").as_str(),
                        "invalid configuration"
                    );
                }
                tracing::error!(
                    file,
                    errors = errors.errors.len(),
                    "configuration not reloaded: nothing changed"
                );
                return Some("error");
            }
            Err(err) => {
                tracing::error!(
                    file,
                    error = err.to_string().as_str(),
                    "configuration not reloaded: nothing changed"
                );
                return Some("error");
            }
        };
        let restart = self.running.restart_only_changes(&new);
        if !restart.is_empty() {
            tracing::warn!(
                file,
                settings = restart.join(", ").as_str(),
                "these settings changed but take effect only when the agent restarts; \
                 it keeps running with the old values"
            );
        }
        let mut applied = Vec::new();
        if keyring != self.keyring {
            // First, so a rotation step is in effect when the log says so.
            let (request, answer) =
                Request::ask(Command::SetKeyring(super::with_nonce_seed(keyring.clone())));
            if self.commands.send(request).await.is_err() {
                return None;
            }
            match answer.await {
                Ok(Ok(())) => {
                    super::warn_if_plaintext(self.gossip_addr, &keyring);
                    self.keyring = keyring;
                    applied.push("keys");
                }
                Ok(Err(error)) => {
                    tracing::error!(file, %error, "configuration not reloaded: nothing changed");
                    return Some("error");
                }
                Err(_) => return None,
            }
        }
        if new.checks != self.running.checks {
            let checks = checks::Checks::reload(
                self.checks.take(),
                new.checks.clone(),
                self.commands.clone(),
                self.check_metrics.clone(),
            )
            .await;
            self.checks = Some(checks);
            applied.push("checks");
        }
        if new.hooks != self.running.hooks {
            if self.hooks.send(new.hooks.clone()).await.is_err() {
                // The agent is stopping.
                return None;
            }
            applied.push("hooks");
        }
        if new.log != self.running.log {
            match &self.log_filter {
                Some(set) => match set(new.log.as_deref().unwrap_or("info")) {
                    Ok(()) => applied.push("log"),
                    Err(err) => tracing::error!(
                        file,
                        error = err.to_string().as_str(),
                        "cannot set the log filter"
                    ),
                },
                None => tracing::warn!(
                    file,
                    "log changed, but HERD_LOG is set and beats the file: the log filter stays"
                ),
            }
        }
        self.running = self.running.reloaded(&new);
        tracing::info!(
            file,
            applied = if applied.is_empty() {
                "nothing changed".to_owned()
            } else {
                applied.join(", ")
            },
            checks = self.running.checks.len(),
            "configuration reloaded"
        );
        Some("ok")
    }
}
