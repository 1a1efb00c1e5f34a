//! The configuration parser's properties for hostile text, shared by
//! `tests/hostile_input.rs` and the `config` fuzz target (which includes
//! this file by path): the parser and `validate` never panic; what they
//! refuse comes back as errors that say why; what they accept reads back
//! the same from the TOML it writes and starts a node.

use std::net::SocketAddr;

use herd::agent::AgentConfig;
use herd::core::{Node, NodeId, Start};

/// Every setting of the agent's file (README's full example), valid.
pub const SAMPLE_CONFIG: &str = r#"
name = "web-1"
cluster = "prod"
bind = "0.0.0.0:7946"
advertise = "10.0.0.5:7946"
http = "0.0.0.0:7947"
admin = "127.0.0.1:7948"
data_dir = "/var/lib/herd"
join = ["10.0.0.5:7946", "10.0.0.6:7946", "web-3.internal:7946"]
priority = 0
primary_eligible = true
quorum = "majority"
expected_members = 5
drain_timeout = "5s"
log = "info,herd=debug"
encrypt = true
require_encryption = false

[hooks]
on_primary = ["/usr/local/bin/promote"]
on_secondary = ["/usr/local/bin/demote"]
on_member = ["/usr/local/bin/members-changed"]
timeout = "30s"
webhook = "http://127.0.0.1:8080/herd/events"
webhook_timeout = "5s"

[[check]]
name = "web"
http = "http://127.0.0.1:8080/healthz"
status = [200, 204]
interval = "2s"
timeout = "1s"
rise = 2
fall = 3
grace = "30s"

[[check]]
tcp = "127.0.0.1:5432"

[[check]]
name = "replication"
exec = ["/usr/local/bin/check-replica", "--max-lag", "10"]

[gossip]
probe_period = "1s"
probe_timeout = "500ms"
indirect_probes = 3
suspicion_mult = 3
gossip_interval = "200ms"
retransmit_mult = 4
sync_interval = "30s"
reconnect_interval = "15s"
reap_after = "24h"
join_retry_min = "500ms"
join_retry_max = "5s"
lease_interval = "100ms"
lease = "0s"
max_members = 16384
"#;

/// Checks one text.
pub fn check_config(text: &str) -> Result<(), String> {
    let mut config = match AgentConfig::from_toml(text) {
        Ok(config) => config,
        Err(errors) => {
            if errors.errors.is_empty() || errors.errors.iter().any(|e| e.problem.is_empty()) {
                return Err(format!("refused without a reason: {errors:?}"));
            }
            if !errors.to_string().starts_with("invalid configuration") {
                return Err(format!("an error that does not say so: {errors}"));
            }
            return Ok(());
        }
    };
    // `validate` reads the key file a configuration names: the file
    // system's contents are no part of the parser.
    config.key_file = None;
    let written = toml::to_string(&config).map_err(|e| format!("does not write back: {e}"))?;
    match AgentConfig::from_toml(&written) {
        Ok(again) if again == config => {}
        Ok(again) => return Err(format!("reads back as {again:?}\nnot {config:?}")),
        Err(e) => return Err(format!("what it writes does not read back: {e}\n{written}")),
    }
    match config.validate() {
        Ok(()) => {
            // A configuration that validates starts a node.
            let name = config.name.clone().unwrap_or_else(|| "node".to_owned());
            let addr = config
                .advertise
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7946)));
            let id =
                NodeId::new(&name, addr, 1).map_err(|e| format!("valid name {name:?}: {e}"))?;
            Node::new(
                config.node_config(),
                id,
                1,
                Start::Bootstrap,
                Default::default(),
            )
            .map_err(|e| format!("a valid configuration does not start a node: {e:?}"))?;
        }
        Err(errors) => {
            if errors.is_empty() || errors.iter().any(|e| e.problem.is_empty()) {
                return Err(format!("refused without a reason: {errors:?}"));
            }
        }
    }
    Ok(())
}
