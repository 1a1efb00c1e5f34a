//! Prometheus metrics of one agent.
//!
//! The gossip task updates them from each published snapshot; `/metrics`
//! only encodes the registry, so a scrape never waits on gossip. Metric
//! names are a contract with `dashboards/`: a test scrapes `/metrics` and
//! checks every name the dashboards and alert rules use.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::core::codec::DropReason;
use crate::core::health::CheckStatus;
use crate::core::{Event, MemberState, MessageKind, NodeStats, PROTOCOL_VERSION, Snapshot};

/// Buckets of the probe round trip, in seconds: a LAN answers within a
/// millisecond, a loaded host or a WAN in tens; past the probe timeout
/// (500 ms by default) the probe has failed.
const RTT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
];
/// Buckets of check and hook durations, in seconds.
const RUN_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];
/// Buckets of HTTP handling times, in seconds: answers come from a
/// snapshot in memory.
const HTTP_BUCKETS: [f64; 8] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1];

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let metric = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

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
    messages_sent: IntCounterVec,
    messages_received: IntCounterVec,
    probes_failed: IntCounter,
    probe_rtt: prometheus::Histogram,
    refutations: IntCounter,
    suspicions: IntCounter,
    member_changes: IntCounterVec,
    gossip_backlog: IntGauge,
    state_served: IntCounter,
    role_changes: IntCounterVec,
    primary_changes: IntCounter,
    lease_renewals_sent: IntCounter,
    lease_renewals_witnessed: IntCounter,
    lease_lapses: IntCounter,
    check_status: IntGaugeVec,
    check_duration: HistogramVec,
    http: HttpMetrics,
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
        let build = IntGaugeVec::new(
            Opts::new(
                "herd_build_info",
                "Always 1; labels name the build: version, commit, gossip protocol version.",
            ),
            &["version", "commit", "protocol"],
        )?;
        registry.register(Box::new(build.clone()))?;
        build
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("HERD_COMMIT"),
                &PROTOCOL_VERSION.to_string(),
            ])
            .set(1);
        // The process's own CPU, memory, descriptors and start time
        // (`process_*`), as every Prometheus client exports.
        #[cfg(target_os = "linux")]
        registry.register(Box::new(ProcessMetrics::new()?))?;
        let messages_sent = counter_vec(
            &registry,
            "herd_messages_sent_total",
            "SWIM messages sent, by kind (ping, ack, ping_req, indirect_ping, indirect_ack, forwarded_ack, announce, feed, gossip, broadcast, turn_undead).",
            &["kind"],
        )?;
        let messages_received = counter_vec(
            &registry,
            "herd_messages_received_total",
            "SWIM messages received and read, by kind.",
            &["kind"],
        )?;
        for kind in MessageKind::ALL {
            messages_sent.with_label_values(&[kind.as_str()]);
            messages_received.with_label_values(&[kind.as_str()]);
        }
        let member_changes = counter_vec(
            &registry,
            "herd_member_changes_total",
            "Members whose state changed in this agent's view, by the new state (alive, suspect, down, left).",
            &["state"],
        )?;
        for state in ["alive", "suspect", "down", "left"] {
            member_changes.with_label_values(&[state]);
        }
        let role_changes = counter_vec(
            &registry,
            "herd_role_changes_total",
            "Times this agent began (role=primary) or stopped (role=secondary) claiming the primary role.",
            &["role"],
        )?;
        for role in ["primary", "secondary"] {
            role_changes.with_label_values(&[role]);
        }
        let probe_rtt = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "herd_probe_rtt_seconds",
                "Round trip of this agent's direct SWIM probes that were answered.",
            )
            .buckets(RTT_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(probe_rtt.clone()))?;
        let check_status = IntGaugeVec::new(
            Opts::new(
                "herd_check_status",
                "1 for each local check's current status (starting, passing, warning, failing), 0 for the others.",
            ),
            &["check", "status"],
        )?;
        registry.register(Box::new(check_status.clone()))?;
        Ok(Self {
            messages_sent,
            messages_received,
            probes_failed: counter(
                &registry,
                "herd_probes_failed_total",
                "Direct probes of a member that got no answer within probe_timeout (it is then probed indirectly).",
            )?,
            probe_rtt,
            refutations: counter(
                &registry,
                "herd_refutations_total",
                "Times this agent refuted a suspicion of itself: other members suspected it (it is slow, or its network loses datagrams).",
            )?,
            suspicions: counter(
                &registry,
                "herd_suspicions_total",
                "Members this agent's view began to suspect (most are refuted; many suspicions and few downs mean a network or CPU problem).",
            )?,
            member_changes,
            gossip_backlog: gauge(
                &registry,
                "herd_gossip_backlog",
                "Membership updates and health records waiting to be gossiped.",
            )?,
            state_served: counter(
                &registry,
                "herd_state_served_bytes_total",
                "Bytes of membership state sent to joiners and in whole-state syncs.",
            )?,
            role_changes,
            primary_changes: counter(
                &registry,
                "herd_primary_changes_total",
                "Times the primary this agent's view names changed (to another member, or to none).",
            )?,
            lease_renewals_sent: counter(
                &registry,
                "herd_lease_renewals_sent_total",
                "Lease renewals this agent sent to its witnesses while it held or sought the lease.",
            )?,
            lease_renewals_witnessed: counter(
                &registry,
                "herd_lease_renewals_witnessed_total",
                "Lease renewals this agent answered as a witness.",
            )?,
            lease_lapses: counter(
                &registry,
                "herd_lease_lapses_total",
                "Times this agent's lease ran out while it claimed the role: no witness answered in time, and it stopped answering 200 on its own.",
            )?,
            check_status,
            check_duration: histogram_vec(
                &registry,
                "herd_check_duration_seconds",
                "How long each local check's runs took.",
                &["check"],
                &RUN_BUCKETS,
            )?,
            http: HttpMetrics::register(&registry)?,
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
        for (index, kind) in MessageKind::ALL.iter().enumerate() {
            self.messages_sent
                .with_label_values(&[kind.as_str()])
                .inc_by(delta(now.messages_sent[index], last.messages_sent[index]));
            self.messages_received
                .with_label_values(&[kind.as_str()])
                .inc_by(delta(
                    now.messages_received[index],
                    last.messages_received[index],
                ));
        }
        self.probes_failed
            .inc_by(delta(now.probes_failed, last.probes_failed));
        self.refutations
            .inc_by(delta(now.refutations, last.refutations));
        self.state_served
            .inc_by(delta(now.state_bytes_served, last.state_bytes_served));
        self.lease_renewals_sent
            .inc_by(delta(now.lease_renewals_sent, last.lease_renewals_sent));
        self.lease_renewals_witnessed.inc_by(delta(
            now.lease_renewals_witnessed,
            last.lease_renewals_witnessed,
        ));
        self.lease_lapses
            .inc_by(delta(now.lease_lapses, last.lease_lapses));
        self.gossip_backlog
            .set(i64::try_from(now.gossip_backlog).unwrap_or(i64::MAX));
        if let Some(local) = snapshot.members.iter().find(|m| m.local) {
            for check in &local.checks {
                for status in [
                    CheckStatus::Starting,
                    CheckStatus::Passing,
                    CheckStatus::Warning,
                    CheckStatus::Failing,
                ] {
                    self.check_status
                        .with_label_values(&[&*check.name, status.as_str()])
                        .set(i64::from(check.status == status));
                }
            }
        }
        self.last = now.clone();
    }

    /// Counts what one published event says: member changes, suspicions,
    /// role and primary changes.
    pub(crate) fn event(&self, event: &Event) {
        match event {
            Event::MemberState { current, .. } => {
                self.member_changes
                    .with_label_values(&[current.as_str()])
                    .inc();
                if *current == MemberState::Suspect {
                    self.suspicions.inc();
                }
            }
            Event::RoleChanged { claiming, .. } => {
                let role = if *claiming { "primary" } else { "secondary" };
                self.role_changes.with_label_values(&[role]).inc();
            }
            Event::PrimaryChanged { .. } => self.primary_changes.inc(),
            _ => {}
        }
    }

    /// Records the round trips of answered probes.
    pub(crate) fn probe_rtts(&self, rtts: &[std::time::Duration]) {
        for rtt in rtts {
            self.probe_rtt.observe(rtt.as_secs_f64());
        }
    }

    /// The checks' duration histogram, for the check tasks; a reload
    /// forgets the status of checks that are gone.
    pub(crate) fn checks(&self) -> CheckMetrics {
        CheckMetrics {
            status: self.check_status.clone(),
            duration: self.check_duration.clone(),
        }
    }

    /// The HTTP counters, for the routers.
    pub(crate) fn http(&self) -> HttpMetrics {
        self.http.clone()
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
    durations: HistogramVec,
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
        let durations = histogram_vec(
            registry,
            "herd_hook_duration_seconds",
            "How long hook commands (on_primary, on_secondary, on_member) and webhook attempts (webhook) took.",
            &["hook"],
            &RUN_BUCKETS,
        )?;
        // From the start, so rate() and increase() see the first run too.
        for hook in ["on_primary", "on_secondary", "on_member", "webhook"] {
            durations.with_label_values(&[hook]);
        }
        Ok(Self {
            runs,
            deliveries,
            skipped,
            durations,
        })
    }

    /// Records how long a run of `hook` (or a `webhook` attempt) took.
    pub(crate) fn duration(&self, hook: &str, took: std::time::Duration) {
        self.durations
            .with_label_values(&[hook])
            .observe(took.as_secs_f64());
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

/// The local checks' metrics, handed to the check tasks.
#[derive(Clone)]
pub(crate) struct CheckMetrics {
    status: IntGaugeVec,
    duration: HistogramVec,
}

impl CheckMetrics {
    /// Records how long a run of `check` took.
    pub(crate) fn ran(&self, check: &str, took: std::time::Duration) {
        self.duration
            .with_label_values(&[check])
            .observe(took.as_secs_f64());
    }

    /// Forgets every check's series: a reload replaced the set.
    pub(crate) fn reset(&self) {
        self.status.reset();
        self.duration.reset();
    }
}

/// HTTP requests served, by listener, route and status code.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl HttpMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            requests: counter_vec(
                registry,
                "herd_http_requests_total",
                "HTTP requests answered, by listener (public, admin), route (the path pattern; other for unknown paths) and status code.",
                &["listener", "route", "code"],
            )?,
            durations: histogram_vec(
                registry,
                "herd_http_request_duration_seconds",
                "How long answering took, by listener and route.",
                &["listener", "route"],
                &HTTP_BUCKETS,
            )?,
        })
    }

    /// Counts one answered request.
    pub fn answered(&self, listener: &str, route: &str, code: &str, took: std::time::Duration) {
        self.requests(listener, route, code).inc();
        self.durations(listener, route).observe(took.as_secs_f64());
    }

    /// The counter of a listener's answers on a route with a status code,
    /// for callers that count often and keep it.
    pub fn requests(&self, listener: &str, route: &str, code: &str) -> prometheus::IntCounter {
        self.requests.with_label_values(&[listener, route, code])
    }

    /// The durations of a listener's answers on a route, to keep.
    pub fn durations(&self, listener: &str, route: &str) -> prometheus::Histogram {
        self.durations.with_label_values(&[listener, route])
    }
}

/// The prometheus crate's process collector, but with CPU time to the
/// microsecond: the crate divides clock ticks into whole seconds, so an
/// idle agent (a few milliseconds a minute) would read 0 for hours and a
/// rate over it is a staircase. `getrusage` gives user and system time
/// exactly.
#[cfg(target_os = "linux")]
struct ProcessMetrics {
    inner: prometheus::process_collector::ProcessCollector,
    cpu: prometheus::Counter,
    /// The CPU seconds already added to `cpu`.
    counted: std::sync::Mutex<f64>,
}

#[cfg(target_os = "linux")]
impl ProcessMetrics {
    const CPU: &'static str = "process_cpu_seconds_total";

    fn new() -> prometheus::Result<Self> {
        Ok(Self {
            inner: prometheus::process_collector::ProcessCollector::for_self(),
            cpu: prometheus::Counter::new(
                Self::CPU,
                "Total user and system CPU time spent in seconds.",
            )?,
            counted: std::sync::Mutex::new(0.0),
        })
    }

    fn cpu_seconds() -> Option<f64> {
        use nix::sys::resource::{UsageWho, getrusage};
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        Some(seconds(usage.user_time()) + seconds(usage.system_time()))
    }
}

#[cfg(target_os = "linux")]
impl prometheus::core::Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        let mut descs: Vec<&prometheus::core::Desc> = self
            .inner
            .desc()
            .into_iter()
            .filter(|desc| desc.fq_name != Self::CPU)
            .collect();
        descs.extend(self.cpu.desc());
        descs
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        if let Some(now) = Self::cpu_seconds() {
            let mut counted = self
                .counted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if now > *counted {
                self.cpu.inc_by(now - *counted);
                *counted = now;
            }
        }
        let mut families: Vec<prometheus::proto::MetricFamily> = self
            .inner
            .collect()
            .into_iter()
            .filter(|family| family.name() != Self::CPU)
            .collect();
        families.extend(self.cpu.collect());
        families
    }
}

/// Encodes a registry in the Prometheus text format.
pub(crate) fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    if let Err(err) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::warn!(error = err.to_string().as_str(), "encoding metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}
