//! The agent's configuration: defaults, then the TOML file, then `HERD_*`
//! environment variables, then flags, each overriding the one before.
//!
//! The whole configuration is read and checked before any port is bound,
//! and every problem is reported at once, naming the field.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::addr::split_host_port;
use super::checks::CheckConfig;
use super::hooks::HooksConfig;
use crate::core::config::GossipTuning;
use crate::core::view::QuorumPolicy;
use crate::core::{ConfigError, Key, Keyring, NodeConfig, identity};

/// Default gossip port: memberlist's and Serf's, so firewalls already know it.
pub(super) const DEFAULT_GOSSIP_PORT: u16 = 7946;
/// Default HTTP port, next to the gossip port.
pub(super) const DEFAULT_HTTP_PORT: u16 = 7947;
/// Default admin port (on loopback), next to the HTTP port.
pub(super) const DEFAULT_ADMIN_PORT: u16 = 7948;

/// Everything `herd agent` needs, as in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Member name, unique in the cluster. Default: the host name.
    pub name: Option<String>,
    /// Cluster name; agents of other clusters are ignored.
    pub cluster: String,
    /// UDP address to gossip on.
    pub bind: SocketAddr,
    /// Address other members reach this one at. Default: `bind`, or when
    /// that is a wildcard, the address of the interface of the default route.
    pub advertise: Option<SocketAddr>,
    /// TCP address of the health endpoint, JSON API and metrics.
    pub http: SocketAddr,
    /// TCP address of the admin API (drain, resume, forget): a loopback
    /// address, so only the host itself can change the node.
    pub admin: SocketAddr,
    /// Where the agent keeps what it must remember across restarts (the
    /// members it last knew, to rejoin with no seeds).
    pub data_dir: Option<PathBuf>,
    /// Local health checks.
    #[serde(rename = "check")]
    pub checks: Vec<CheckConfig>,
    /// Seeds to join through, `host:port` (host names resolve through DNS on
    /// every attempt). Empty: found a new cluster.
    pub join: Vec<String>,
    /// Higher priority wins the primary role.
    pub priority: i32,
    /// Whether this node may be primary.
    pub primary_eligible: bool,
    /// `"majority"` (default) or `"off"` (two-node clusters that prefer
    /// availability to a second primary during a partition).
    pub quorum: QuorumPolicy,
    /// Fixed expected cluster size for the quorum.
    pub expected_members: Option<usize>,
    /// On SIGTERM: how long to drain before leaving; the process exits
    /// within this time.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Protocol tuning; the defaults suit a LAN.
    pub gossip: GossipTuning,
    /// A file of keys, one per line in base64 (`herd keygen`), the first
    /// sealing: gossip is then encrypted. It must not be readable by group
    /// or others. `HERD_KEYS` (comma-separated) adds keys after the file's.
    pub key_file: Option<PathBuf>,
    /// With keys: seal what this node sends [default: true]. False is the
    /// first step of turning encryption on in a running cluster.
    pub encrypt: Option<bool>,
    /// With keys: refuse datagrams that are not sealed [default: true].
    /// Set without keys, the agent refuses to start (it would gossip in
    /// plaintext).
    pub require_encryption: Option<bool>,
    /// Commands and a webhook that tell the local server about role and
    /// membership changes.
    pub hooks: HooksConfig,
    /// Log filter (tracing's `EnvFilter` syntax, e.g. `info,herd=debug`);
    /// `HERD_LOG` beats it. Default: `info`.
    pub log: Option<String>,
    /// `text` (for a terminal) or `json` (one object per line, every field
    /// a field, for a log pipeline). Default: text.
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            name: None,
            cluster: NodeConfig::default().cluster,
            bind: SocketAddr::from(([0, 0, 0, 0], DEFAULT_GOSSIP_PORT)),
            advertise: None,
            http: SocketAddr::from(([0, 0, 0, 0], DEFAULT_HTTP_PORT)),
            admin: SocketAddr::from(([127, 0, 0, 1], DEFAULT_ADMIN_PORT)),
            data_dir: None,
            checks: Vec::new(),
            join: Vec::new(),
            priority: 0,
            primary_eligible: true,
            quorum: QuorumPolicy::Majority,
            expected_members: None,
            // Long enough for the slowest common balancer default to see
            // the 503 and stop sending: an AWS ALB at its fastest needs two
            // failed checks 5 s apart (10 s), HAProxy's defaults three 2 s
            // apart; short enough for systemd's and Kubernetes' default
            // stop timeouts (90 s, 30 s). docs/balancers.md has the value
            // to set for each balancer.
            drain_timeout: Duration::from_secs(15),
            gossip: GossipTuning::default(),
            key_file: None,
            encrypt: None,
            require_encryption: None,
            hooks: HooksConfig::default(),
            log: None,
            log_format: LogFormat::Text,
        }
    }
}

/// `herd agent`'s flags; each also reads a `HERD_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// Member name, unique in the cluster [default: the host name]
    #[arg(long, env = "HERD_NAME")]
    pub name: Option<String>,
    /// UDP address to gossip on [default: 0.0.0.0:7946]
    #[arg(long, env = "HERD_BIND")]
    pub bind: Option<SocketAddr>,
    /// Address other members reach this one at [default: the bind address,
    /// or the default route's interface when binding a wildcard]
    #[arg(long, env = "HERD_ADVERTISE")]
    pub advertise: Option<SocketAddr>,
    /// TCP address of the health endpoint and API [default: 0.0.0.0:7947]
    #[arg(long, env = "HERD_HTTP")]
    pub http: Option<SocketAddr>,
    /// Seed to join through, host:port; repeat for several (the variable
    /// takes a comma-separated list)
    #[arg(long = "join", env = "HERD_JOIN", value_delimiter = ',')]
    pub join: Vec<String>,
    /// Priority for the primary role (higher wins) [default: 0]
    #[arg(long, env = "HERD_PRIORITY", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Cluster name [default: herd]
    #[arg(long, env = "HERD_CLUSTER")]
    pub cluster: Option<String>,
    /// Configuration file (TOML)
    #[arg(long, env = "HERD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Quorum guard: majority or off [default: majority]
    #[arg(long, env = "HERD_QUORUM", value_parser = parse_quorum)]
    pub quorum: Option<QuorumPolicy>,
    /// Fixed expected cluster size for the quorum
    #[arg(long, env = "HERD_EXPECTED_MEMBERS")]
    pub expected_members: Option<usize>,
    /// Never take the primary role
    #[arg(long, env = "HERD_NOT_PRIMARY_ELIGIBLE")]
    pub not_primary_eligible: bool,
    /// How long SIGTERM drains before leaving, e.g. 30s [default: 15s]
    #[arg(long, env = "HERD_DRAIN_TIMEOUT", value_parser = humantime::parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Loopback TCP address of the admin API [default: 127.0.0.1:7948]
    #[arg(long, env = "HERD_ADMIN")]
    pub admin: Option<SocketAddr>,
    /// Directory to remember members in, to rejoin them after a restart
    #[arg(long, env = "HERD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// File of gossip keys, one per line, the first sealing (see
    /// `herd keygen`); keys are never given as flags, which `ps` shows
    #[arg(long, env = "HERD_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Add an HTTP check of this URL with default settings; repeatable
    /// (the variable takes a comma-separated list)
    #[arg(long = "check-http", env = "HERD_CHECK_HTTP", value_delimiter = ',')]
    pub check_http: Vec<String>,
    /// Log lines as `text` or `json` [default: text]
    #[arg(long, env = "HERD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// `--quorum` named no policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected majority or off, not {0:?}")]
pub(super) struct QuorumParseError(String);

fn parse_quorum(value: &str) -> Result<QuorumPolicy, QuorumParseError> {
    match value {
        "majority" => Ok(QuorumPolicy::Majority),
        "off" => Ok(QuorumPolicy::Off),
        other => Err(QuorumParseError(other.to_owned())),
    }
}

/// Everything wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// Where the configuration came from, for the message.
    pub source: String,
    /// Each problem.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({}):", self.source)?;
        for error in &self.errors {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl AgentConfig {
    /// Reads the file (if any), applies environment and flags, and checks
    /// the result.
    pub fn load(args: &AgentArgs) -> Result<Self, ConfigErrors> {
        let mut config = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply(args);
        let source = match &args.config {
            Some(path) => format!("{}, environment and flags", path.display()),
            None => "environment and flags".to_owned(),
        };
        config
            .validate()
            .map_err(|errors| ConfigErrors { source, errors })?;
        Ok(config)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigErrors> {
        let fail = |problem: String| ConfigErrors {
            source: path.display().to_string(),
            errors: vec![ConfigError {
                field: "file",
                problem,
            }],
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        Self::from_toml(&text).map_err(|mut errors| {
            errors.source = path.display().to_string();
            errors
        })
    }

    /// Parses TOML text.
    ///
    /// A file with several syntax errors reports each (the parser recovers
    /// and goes on); a file that parses reports its first wrong key or
    /// type, as serde stops there.
    pub fn from_toml(text: &str) -> Result<Self, ConfigErrors> {
        let problem = |e: &toml::de::Error| ConfigError {
            field: "file",
            problem: e.to_string().trim_end().replace('\n', "\n    "),
        };
        toml::from_str(text).map_err(|first| {
            let (_, mut syntax) = toml::de::DeTable::parse_recoverable(text);
            syntax.sort_by_key(|error| error.span().map_or(0, |span| span.start));
            for error in &mut syntax {
                error.set_input(Some(text));
            }
            let errors = if syntax.is_empty() {
                vec![problem(&first)]
            } else {
                syntax.iter().map(problem).collect()
            };
            ConfigErrors {
                source: "TOML".to_owned(),
                errors,
            }
        })
    }

    /// Lets flags and environment variables override the file.
    pub fn apply(&mut self, args: &AgentArgs) {
        if let Some(name) = &args.name {
            self.name = Some(name.clone());
        }
        if let Some(bind) = args.bind {
            self.bind = bind;
        }
        if let Some(advertise) = args.advertise {
            self.advertise = Some(advertise);
        }
        if let Some(http) = args.http {
            self.http = http;
        }
        if !args.join.is_empty() {
            self.join = args.join.clone();
        }
        if let Some(priority) = args.priority {
            self.priority = priority;
        }
        if let Some(cluster) = &args.cluster {
            self.cluster = cluster.clone();
        }
        if let Some(quorum) = args.quorum {
            self.quorum = quorum;
        }
        if let Some(expected) = args.expected_members {
            self.expected_members = Some(expected);
        }
        if args.not_primary_eligible {
            self.primary_eligible = false;
        }
        if let Some(drain) = args.drain_timeout {
            self.drain_timeout = drain;
        }
        if let Some(admin) = args.admin {
            self.admin = admin;
        }
        if let Some(dir) = &args.data_dir {
            self.data_dir = Some(dir.clone());
        }
        if let Some(file) = &args.key_file {
            self.key_file = Some(file.clone());
        }
        if let Some(format) = args.log_format {
            self.log_format = format;
        }
        for url in &args.check_http {
            self.checks.push(CheckConfig::http(url));
        }
    }

    /// The protocol settings for the core.
    pub fn node_config(&self) -> NodeConfig {
        NodeConfig {
            cluster: self.cluster.clone(),
            priority: self.priority,
            primary_eligible: self.primary_eligible,
            quorum: self.quorum,
            expected_members: self.expected_members,
            initial_health: if self.checks.is_empty() {
                crate::core::HealthStatus::Passing
            } else {
                crate::core::HealthStatus::Failing
            },
            gossip: self.gossip,
            ..NodeConfig::default()
        }
    }

    /// The keyring: the key file's keys, then `HERD_KEYS`'s, sealing and
    /// requiring as configured (both by default when there are keys). The
    /// nonce seed is left for the agent to draw.
    pub fn keyring(&self) -> Result<Keyring, ConfigError> {
        let fail = |problem: String| ConfigError {
            field: "key_file",
            problem,
        };
        let mut keys = Vec::new();
        if let Some(path) = &self.key_file {
            let metadata = std::fs::metadata(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions());
            // systemd's credentials (`LoadCredential=`) live on a private
            // file system only the service reads; it grants that with an
            // ACL, which shows as group bits. The directory is the guard.
            let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
                .is_some_and(|dir| !dir.is_empty() && path.starts_with(dir));
            if mode & 0o077 != 0 && !credential {
                return Err(fail(format!(
                    "{} can be read by group or others (mode {:o}): chmod 600 it",
                    path.display(),
                    mode & 0o777
                )));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            for (line, entry) in text.lines().enumerate() {
                let entry = entry.trim();
                if entry.is_empty() || entry.starts_with('#') {
                    continue;
                }
                let key = Key::parse(entry)
                    .map_err(|e| fail(format!("{} line {}: {e}", path.display(), line + 1)))?;
                keys.push(key);
            }
        }
        if let Ok(list) = std::env::var("HERD_KEYS") {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let key = Key::parse(entry).map_err(|e| ConfigError {
                    field: "HERD_KEYS",
                    problem: e.to_string(),
                })?;
                keys.push(key);
            }
        }
        if let Some(path) = self.key_file.as_ref().filter(|_| keys.is_empty()) {
            return Err(fail(format!("{} holds no key", path.display())));
        }
        let any = !keys.is_empty();
        Ok(Keyring {
            keys,
            seal: self.encrypt.unwrap_or(any),
            require: self.require_encryption.unwrap_or(any),
            nonce_seed: [0; 32],
        })
    }

    /// Checks every field and returns all problems.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let (keyring, key_error) = match self.keyring() {
            Ok(keyring) => (keyring, None),
            Err(error) => (Keyring::default(), Some(error)),
        };
        let node = NodeConfig {
            keyring,
            ..self.node_config()
        };
        let mut errors = node.validate().err().unwrap_or_default();
        errors.extend(key_error);
        if let Some(name) = &self.name
            && let Err(e) = identity::validate_name(name)
        {
            errors.push(ConfigError {
                field: "name",
                problem: e.to_string(),
            });
        }
        for seed in &self.join {
            if let Err(problem) = split_host_port(seed) {
                errors.push(ConfigError {
                    field: "join",
                    problem: problem.to_string(),
                });
            }
        }
        if let Some(advertise) = self.advertise
            && (advertise.ip().is_unspecified() || advertise.port() == 0)
        {
            errors.push(ConfigError {
                field: "advertise",
                problem: format!("{advertise} is not an address others can reach"),
            });
        }
        if self.drain_timeout.is_zero() {
            errors.push(ConfigError {
                field: "drain_timeout",
                problem: "must be more than zero".into(),
            });
        }
        if !self.admin.ip().is_loopback() {
            errors.push(ConfigError {
                field: "admin",
                problem: format!(
                    "{} is not a loopback address: the admin API changes the node, so only the host may reach it",
                    self.admin
                ),
            });
        }
        errors.extend(self.hooks.problems());
        if let Some(filter) = &self.log
            && let Err(err) = tracing_subscriber::EnvFilter::try_new(filter)
        {
            errors.push(ConfigError {
                field: "log",
                problem: format!("{filter:?} is not a log filter: {err}"),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, check) in self.checks.iter().enumerate() {
            errors.extend(check.problems(index));
            if !names.insert(check.display_name()) {
                errors.push(ConfigError {
                    field: "check",
                    problem: format!(
                        "check {}: the name {:?} is used twice (set name)",
                        index + 1,
                        check.display_name()
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl AgentConfig {
    /// The settings in which `new` differs from this running configuration
    /// and that take effect only at a restart: everything but the checks,
    /// the hooks and the log filter.
    pub fn restart_only_changes(&self, new: &Self) -> Vec<&'static str> {
        // Spelled out field by field, so a new setting cannot be forgotten.
        let Self {
            name,
            cluster,
            bind,
            advertise,
            http,
            admin,
            data_dir,
            checks: _,
            join,
            priority,
            primary_eligible,
            quorum,
            expected_members,
            drain_timeout,
            gossip,
            // The keyring changes on a running agent (see agent::reload).
            key_file: _,
            encrypt: _,
            require_encryption: _,
            hooks: _,
            log: _,
            log_format,
        } = self;
        [
            ("name", *name != new.name),
            ("cluster", *cluster != new.cluster),
            ("bind", *bind != new.bind),
            ("advertise", *advertise != new.advertise),
            ("http", *http != new.http),
            ("admin", *admin != new.admin),
            ("data_dir", *data_dir != new.data_dir),
            ("join", *join != new.join),
            ("priority", *priority != new.priority),
            (
                "primary_eligible",
                *primary_eligible != new.primary_eligible,
            ),
            ("quorum", *quorum != new.quorum),
            (
                "expected_members",
                *expected_members != new.expected_members,
            ),
            ("drain_timeout", *drain_timeout != new.drain_timeout),
            ("gossip", *gossip != new.gossip),
            ("log_format", *log_format != new.log_format),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect()
    }

    /// This configuration with what a reload can change taken from `new`:
    /// the checks, the hooks, the log filter and the keys.
    pub fn reloaded(&self, new: &Self) -> Self {
        Self {
            checks: new.checks.clone(),
            hooks: new.hooks.clone(),
            log: new.log.clone(),
            key_file: new.key_file.clone(),
            encrypt: new.encrypt,
            require_encryption: new.require_encryption,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let config = AgentConfig::from_toml(
            r#"
            name = "web-1"
            cluster = "prod"
            bind = "10.0.0.5:7946"
            http = "0.0.0.0:8080"
            join = ["10.0.0.6:7946", "web-3.internal:7946"]
            priority = 10
            primary_eligible = false
            quorum = "off"
            expected_members = 3
            drain_timeout = "10s"
            admin = "127.0.0.1:9000"
            data_dir = "/var/lib/herd"
            [gossip]
            probe_period = "2s"
            probe_timeout = "800ms"
            [[check]]
            http = "http://127.0.0.1:8080/healthz"
            status = [200]
            [[check]]
            name = "db"
            exec = ["/usr/local/bin/check-db", "--quick"]
            interval = "5s"
            timeout = "2s"
            rise = 1
            fall = 2
            grace = "30s"
            "#,
        )
        .unwrap();
        assert_eq!(config.name.as_deref(), Some("web-1"));
        assert_eq!(config.quorum, QuorumPolicy::Off);
        assert_eq!(config.drain_timeout, Duration::from_secs(10));
        assert_eq!(config.gossip.probe_timeout, Duration::from_millis(800));
        assert_eq!(config.gossip.indirect_probes, 3);
        assert_eq!(config.checks.len(), 2);
        assert_eq!(config.checks[1].display_name(), "db");
        assert_eq!(config.checks[1].grace, Duration::from_secs(30));
        assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/herd")));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = AgentConfig::from_toml("prority = 3").unwrap_err();
        assert!(err.to_string().contains("prority"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let mut config = AgentConfig::from_toml("priority = 1\ncluster = \"a\"").unwrap();
        config.apply(&AgentArgs {
            priority: Some(5),
            join: vec!["x:1".into()],
            check_http: vec!["http://127.0.0.1:1/".into()],
            ..AgentArgs::default()
        });
        assert_eq!(config.checks.len(), 1);
        assert_eq!(config.priority, 5);
        assert_eq!(config.cluster, "a");
        assert_eq!(config.join, ["x:1"]);
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let mut config = AgentConfig::from_toml(
            "name = \"bad name\"\njoin = [\"nohost\", \"h:0\"]\n[gossip]\nprobe_timeout = \"5s\"",
        )
        .unwrap();
        config.advertise = Some("0.0.0.0:7946".parse().unwrap());
        let errors = config.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["probe_timeout", "name", "join", "join", "advertise"]
        );
    }

    #[test]
    fn a_reload_names_the_settings_that_need_a_restart() {
        let running = AgentConfig::from_toml("priority = 1\nlog = \"info\"").unwrap();
        let new = AgentConfig::from_toml(
            "priority = 2\nbind = \"127.0.0.1:1\"\nlog = \"debug\"\n[gossip]\nprobe_period = \"2s\"\n\
             [[check]]\ntcp = \"127.0.0.1:1\"",
        )
        .unwrap();
        assert_eq!(
            running.restart_only_changes(&new),
            ["bind", "priority", "gossip"]
        );
        let applied = running.reloaded(&new);
        assert_eq!(applied.checks.len(), 1);
        assert_eq!(applied.log.as_deref(), Some("debug"));
        assert_eq!((applied.priority, applied.bind), (1, running.bind));
        assert!(applied.restart_only_changes(&running).is_empty());
    }

    #[test]
    fn a_quorum_flag_names_a_policy() {
        assert_eq!(parse_quorum("off"), Ok(QuorumPolicy::Off));
        assert_eq!(
            parse_quorum("most").unwrap_err().to_string(),
            "expected majority or off, not \"most\""
        );
    }

    #[test]
    fn a_log_filter_that_does_not_parse_is_an_error() {
        let config = AgentConfig::from_toml("log = \"herd=loud\"").unwrap();
        let errors = config.validate().unwrap_err();
        assert_eq!(errors[0].field, "log", "{errors:?}");
    }
}
