//! Prometheus metrics of one agent.
//!
//! The gossip task updates them from each published snapshot; `/metrics`
//! only encodes the registry, so a scrape never waits on gossip. Metric
//! names are a contract with `dashboards/`: a test scrapes `/metrics` and
//! checks every name the dashboards and alert rules use.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::core::codec::DropReason;
use crate::core::{MemberState, NodeStats, Snapshot};

/// The agent's metrics and the registry that holds them.
pub(crate) struct Metrics {
    registry: Registry,
    info: IntGaugeVec,
    members: IntGaugeVec,
    healthy: IntGauge,
    primary: IntGauge,
    has_primary: IntGauge,
    quorum: IntGauge,
    expected: IntGauge,
    term: IntGauge,
    packets_received: IntCounter,
    packets_sent: IntCounter,
    bytes_received: IntCounter,
    bytes_sent: IntCounter,
    dropped: IntCounterVec,
    joins_served: IntCounter,
    members_refused: IntCounter,
    rejoins: IntCounter,
    data_dir_writable: IntGauge,
    data_dir_write_failures: IntCounter,
    config_reloads: IntCounterVec,
    hooks: HookMetrics,
    last: NodeStats,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let metric = IntGauge::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let metric = IntCounter::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    /// Registers every metric.
    pub(crate) fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let info = IntGaugeVec::new(
            Opts::new("herd_info", "Always 1; labels name this agent."),
            &["name", "cluster", "version"],
        )?;
        registry.register(Box::new(info.clone()))?;
        let members = IntGaugeVec::new(
            Opts::new("herd_members", "Members in this agent's view, by state."),
            &["state"],
        )?;
        registry.register(Box::new(members.clone()))?;
        let dropped = IntCounterVec::new(
            Opts::new(
                "herd_packets_dropped_total",
                "Received datagrams dropped, by reason.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dropped.clone()))?;
        for reason in DropReason::ALL {
            dropped.with_label_values(&[reason.as_str()]);
        }
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "herd_config_reloads_total",
                "Configuration reloads (SIGHUP), by result: ok (applied), error (the file was refused; nothing changed).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(config_reloads.clone()))?;
        for result in ["ok", "error"] {
            config_reloads.with_label_values(&[result]);
        }
        Ok(Self {
            healthy: gauge(
                &registry,
                "herd_healthy",
                "1 when /health answers 200: joined, checks pass, not draining.",
            )?,
            primary: gauge(
                &registry,
                "herd_primary",
                "1 when this agent claims the primary role (/health/primary 200).",
            )?,
            has_primary: gauge(
                &registry,
                "herd_view_has_primary",
                "1 when this agent's view names a primary.",
            )?,
            quorum: gauge(
                &registry,
                "herd_quorum",
                "1 when this agent's view holds a quorum of live members.",
            )?,
            expected: gauge(
                &registry,
                "herd_expected_members",
                "Cluster size the quorum is measured against.",
            )?,
            term: gauge(
                &registry,
                "herd_term",
                "Highest primary term this agent has seen (the primary's own claim when it is primary).",
            )?,
            packets_received: counter(
                &registry,
                "herd_packets_received_total",
                "Datagrams received.",
            )?,
            packets_sent: counter(&registry, "herd_packets_sent_total", "Datagrams sent.")?,
            bytes_received: counter(
                &registry,
                "herd_received_bytes_total",
                "Bytes of datagrams received.",
            )?,
            bytes_sent: counter(
                &registry,
                "herd_sent_bytes_total",
                "Bytes of datagrams sent.",
            )?,
            joins_served: counter(
                &registry,
                "herd_joins_served_total",
                "Join requests answered with this agent's state.",
            )?,
            members_refused: counter(
                &registry,
                "herd_members_refused_total",
                "Members refused because this agent's view holds max_members already: gossiped updates and records about them, their datagrams, joins and state-sync entries.",
            )?,
            rejoins: counter(
                &registry,
                "herd_rejoins_total",
                "Times the cluster declared this agent down and it rejoined.",
            )?,
            data_dir_writable: {
                let writable = gauge(
                    &registry,
                    "herd_data_dir_writable",
                    "0 while the last write of the data directory failed (the node is then not eligible for the primary role); 1 otherwise, and without --data-dir.",
                )?;
                writable.set(1);
                writable
            },
            data_dir_write_failures: counter(
                &registry,
                "herd_data_dir_write_failures_total",
                "Writes of the data directory that failed (retried every second while it stays unwritable).",
            )?,
            config_reloads,
            hooks: HookMetrics::register(&registry)?,
            registry,
            info,
            members,
            dropped,
            last: NodeStats::default(),
        })
    }

    /// Brings every metric in line with a snapshot.
    pub(crate) fn update(&mut self, snapshot: &Snapshot) {
        self.info
            .with_label_values(&[
                &*snapshot.name,
                &snapshot.cluster,
                env!("CARGO_PKG_VERSION"),
            ])
            .set(1);
        for state in [
            MemberState::Alive,
            MemberState::Suspect,
            MemberState::Down,
            MemberState::Left,
        ] {
            let count = snapshot.members.iter().filter(|m| m.state == state).count();
            self.members
                .with_label_values(&[state.as_str()])
                .set(count as i64);
        }
        self.healthy.set(i64::from(snapshot.serving()));
        self.primary.set(i64::from(snapshot.claiming));
        self.has_primary.set(i64::from(snapshot.primary.is_some()));
        self.quorum.set(i64::from(snapshot.quorate));
        self.expected.set(snapshot.expected as i64);
        self.term.set(snapshot.highest_term as i64);

        let (now, last) = (&snapshot.stats, &self.last);
        let delta = |a: u64, b: u64| a.saturating_sub(b);
        self.packets_received
            .inc_by(delta(now.packets_received, last.packets_received));
        self.packets_sent
            .inc_by(delta(now.packets_sent, last.packets_sent));
        self.bytes_received
            .inc_by(delta(now.bytes_received, last.bytes_received));
        self.bytes_sent
            .inc_by(delta(now.bytes_sent, last.bytes_sent));
        self.joins_served
            .inc_by(delta(now.joins_served, last.joins_served));
        self.rejoins.inc_by(delta(now.rejoins, last.rejoins));
        self.members_refused
            .inc_by(delta(now.members_refused, last.members_refused));
        for reason in DropReason::ALL {
            self.dropped
                .with_label_values(&[reason.as_str()])
                .inc_by(delta(now.dropped(reason), last.dropped(reason)));
        }
        self.last = now.clone();
    }

    /// Counts one write of the data directory.
    pub(crate) fn data_dir_written(&self, ok: bool) {
        self.data_dir_writable.set(i64::from(ok));
        if !ok {
            self.data_dir_write_failures.inc();
        }
    }

    /// The reload counter, by `result` (`ok`, `error`).
    pub(crate) fn config_reloads(&self) -> IntCounterVec {
        self.config_reloads.clone()
    }

    /// The hook counters, for the hook workers to count in.
    pub(crate) fn hooks(&self) -> &HookMetrics {
        &self.hooks
    }

    /// The registry, for encoding.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Counters of hook runs and webhook deliveries. Defined here, beside the
/// other metrics, and handed to the hook workers (`agent::hooks`), which
/// count in it: the registry does not depend on the agent that uses it.
#[derive(Clone)]
pub(crate) struct HookMetrics {
    runs: IntCounterVec,
    deliveries: IntCounterVec,
    skipped: IntCounterVec,
}

impl HookMetrics {
    /// Registers the counters.
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let runs = IntCounterVec::new(
            Opts::new(
                "herd_hook_runs_total",
                "Hook commands run, by hook and outcome (ok, failed, timeout, error).",
            ),
            &["hook", "outcome"],
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "herd_webhook_attempts_total",
                "Webhook POSTs, by outcome (accepted: 2xx; rejected: another status; error: no answer).",
            ),
            &["outcome"],
        )?;
        let skipped = IntCounterVec::new(
            Opts::new(
                "herd_hook_events_skipped_total",
                "Events a sink did not deliver, by sink (command, webhook) and reason (coalesced, superseded, overflow).",
            ),
            &["sink", "reason"],
        )?;
        for metric in [&runs, &deliveries, &skipped] {
            registry.register(Box::new(metric.clone()))?;
        }
        // Export zeros so dashboards and rate() see the series from start.
        for hook in ["on_primary", "on_secondary", "on_member"] {
            for outcome in ["ok", "failed", "timeout", "error"] {
                runs.with_label_values(&[hook, outcome]);
            }
        }
        for outcome in ["accepted", "rejected", "error"] {
            deliveries.with_label_values(&[outcome]);
        }
        Ok(Self {
            runs,
            deliveries,
            skipped,
        })
    }

    /// Runs of `hook` (`on_primary`, `on_secondary`, `on_member`) that
    /// ended with `outcome` (`ok`, `failed`, `timeout`, `error`).
    pub(crate) fn runs(&self, hook: &str, outcome: &str) -> IntCounter {
        self.runs.with_label_values(&[hook, outcome])
    }

    /// Webhook attempts with `outcome` (`accepted`, `rejected`, `error`).
    pub(crate) fn deliveries(&self, outcome: &str) -> IntCounter {
        self.deliveries.with_label_values(&[outcome])
    }

    /// Events `sink` (`command`, `webhook`) did not deliver, by `reason`
    /// (`coalesced`, `superseded`, `overflow`).
    pub(crate) fn skipped(&self, sink: &str, reason: &str) -> IntCounter {
        self.skipped.with_label_values(&[sink, reason])
    }
}

/// Encodes a registry in the Prometheus text format.
pub(crate) fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    if let Err(err) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::warn!(error = %err, "encoding metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}
