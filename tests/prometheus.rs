//! The files in `dashboards/` against a real Prometheus: promtool checks
//! and unit-tests the rules; then Prometheus scrapes three real agents,
//! evaluates every expression of the dashboard, the recording rules and
//! the alerts, and sees a failover after the primary is killed.
//!
//! Needs `prometheus` and `promtool` on PATH (Debian: `apt-get install
//! prometheus`); without them the test says SKIP and passes.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Agent, free_port, log_dir, wait_until};

/// Series that a live three-agent cluster must have once Prometheus has
/// scraped it a few times and evaluated the rules: raw metrics of every
/// family the dashboard reads, and recorded series of each kind.
const MUST_HAVE_DATA: &[&str] = &[
    r#"up{job="herd"} == 1"#,
    "herd_info",
    "herd_build_info",
    "herd_members",
    "herd_probe_rtt_seconds_count",
    "herd_messages_sent_total",
    "herd_lease_renewals_sent_total > 0",
    "herd_check_status == 1",
    "herd_check_duration_seconds_count",
    "herd_hook_duration_seconds_count",
    "herd_http_requests_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "herd:agents:count",
    "herd:primary_claimants:sum",
    "herd:members:max",
    "herd:messages_sent:rate5m > 0",
    "herd:probe_rtt_seconds_bucket:rate5m",
    "herd:probe_rtt_seconds:p99_5m",
    "herd:lease_renewals_sent:rate5m > 0",
    "herd:lease_renewals_witnessed:rate5m > 0",
    r#"herd:checks:sum{status="passing"} == 3"#,
    "herd:http_requests:rate5m > 0",
    "herd:http_request_duration_seconds:p99_5m",
];

/// Dashboard panels every query of which must return series in a live
/// cluster (the others may rightly be empty: no drops, no failed hooks).
const PANELS_WITH_DATA: &[&str] = &[
    "Primary claimants",
    "Agents up",
    "Agents healthy",
    "Primary role by agent",
    "Members by state, as each agent sees them",
    "Datagrams per second",
    "Probe round trip",
    "Gossip backlog by agent",
    "SWIM messages sent per second, by kind",
    "Lease renewals per second, by agent",
    "Check status by agent",
    "Checks now",
    "Check duration p99, by agent and check",
    "Checks by status",
    "HTTP requests per second, by route and code",
    "HTTP p99 latency, by route",
    "Resident memory by agent",
    "CPU by agent",
    "Open file descriptors by agent",
    "Agents: build and uptime",
];

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Whether an executable named `program` is on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            dir.join(program)
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Runs promtool in `dashboards/` and fails with its output unless it
/// succeeds.
fn promtool(args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dashboards())
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every expression of a rule file, with the rule's name: `expr:` on one
/// line or as a block scalar (`expr: |`), as alerts.yml and recording.yml
/// write them.
fn rule_exprs(text: &str) -> Vec<(String, String)> {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    let mut name = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let item = line.trim_start().trim_start_matches("- ");
        if let Some(rule) = item
            .strip_prefix("record:")
            .or_else(|| item.strip_prefix("alert:"))
        {
            name = rule.trim().to_owned();
        }
        if let Some(rest) = item.strip_prefix("expr:") {
            let rest = rest.trim();
            let expr = if rest.starts_with('|') || rest.starts_with('>') {
                let mut body = Vec::new();
                while i + 1 < lines.len()
                    && (lines[i + 1].trim().is_empty() || indent(lines[i + 1]) > indent(line))
                {
                    i += 1;
                    body.push(lines[i].trim());
                }
                body.join("\n").trim().to_owned()
            } else {
                rest.trim_matches(|c| c == '\'' || c == '"').to_owned()
            };
            exprs.push((name.clone(), expr));
        }
        i += 1;
    }
    let rules = lines
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("- record:") || t.starts_with("- alert:")
        })
        .count();
    assert_eq!(exprs.len(), rules, "one expression per rule");
    exprs
}

/// A query as Grafana would send it: the cluster variable selects every
/// cluster, the interval variables become one minute.
fn grafana_to_promql(expr: &str) -> String {
    let promql = expr
        .replace("${cluster}", ".*")
        .replace("$cluster", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m");
    assert!(
        !promql.contains('$'),
        "a template variable left in {promql}"
    );
    promql
}

/// (panel title, expression) of every query of the dashboard, rows' nested
/// panels included.
fn panel_exprs(panels: &Value, into: &mut Vec<(String, String)>) {
    for panel in panels.as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or_default();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                into.push((title.to_owned(), grafana_to_promql(expr)));
            }
        }
        panel_exprs(&panel["panels"], into);
    }
}

/// A copy of alerts.yml in which `alert`'s `for:` is `to`.
fn shorten_for(rules: &str, alert: &str, to: &str) -> String {
    let start = rules
        .find(&format!("- alert: {alert}\n"))
        .unwrap_or_else(|| panic!("alerts.yml has no {alert}"));
    let next = rules[start + 1..]
        .find("- alert: ")
        .map_or(rules.len(), |n| start + 1 + n);
    let at = start
        + rules[start..next]
            .find("for: ")
            .unwrap_or_else(|| panic!("{alert} has no for:"));
    let end = at + rules[at..].find('\n').unwrap_or(rules.len() - at);
    format!("{}for: {to}{}", &rules[..at], &rules[end..])
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// A `prometheus` process, killed and its data removed on drop.
struct Prometheus {
    child: Option<Child>,
    url: String,
    data: PathBuf,
    log: PathBuf,
}

impl Prometheus {
    fn start(config: &Path, data: PathBuf, log: PathBuf) -> Self {
        let port = free_port();
        let out = std::fs::File::create(&log).expect("create the prometheus log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log handle"))
            .stderr(out)
            .spawn()
            .expect("start prometheus");
        Self {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            data,
            log,
        }
    }

    fn get(&self, path: &str) -> Option<Value> {
        client()
            .get(&format!("{}{path}", self.url))
            .call()
            .ok()?
            .body_mut()
            .read_json()
            .ok()
    }

    /// The series an instant query returns, or the error Prometheus gives.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let mut response = client()
            .post(&format!("{}/api/v1/query", self.url))
            .send_form([("query", expr)])
            .map_err(|e| e.to_string())?;
        let body: Value = response.body_mut().read_json().map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        match body["data"]["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()),
            Some("scalar" | "string") => Ok(vec![body["data"]["result"].clone()]),
            other => Err(format!("result type {other:?}")),
        }
    }

    /// The series of `expr`, or none if the query fails.
    fn series(&self, expr: &str) -> Vec<Value> {
        self.query(expr).unwrap_or_default()
    }

    /// `instance` → value of every series `expr` returns.
    fn by_instance(&self, expr: &str) -> Vec<(String, f64)> {
        self.series(expr)
            .iter()
            .map(|s| {
                let instance = s["metric"]["instance"].as_str().unwrap_or_default();
                (instance.to_owned(), value(s))
            })
            .collect()
    }

    /// The state (`pending`, `firing`) of each active alert named `name`,
    /// with its labels.
    fn alerts(&self, name: &str) -> Vec<(String, Value)> {
        let Some(body) = self.get("/api/v1/alerts") else {
            return Vec::new();
        };
        body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == name)
            .map(|a| {
                (
                    a["state"].as_str().unwrap_or_default().to_owned(),
                    a["labels"].clone(),
                )
            })
            .collect()
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- prometheus ({}) log tail ----\n{}",
                self.log.display(),
                self.log_tail(30)
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The value of one instant-vector sample.
fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn prometheus_scrapes_a_cluster_and_every_dashboard_query_and_rule_works() {
    if !on_path("prometheus") || !on_path("promtool") {
        println!(
            "SKIP: prometheus or promtool is not on PATH (Debian: apt-get install prometheus)"
        );
        return;
    }
    let began = Instant::now();

    // The rule files pass promtool's checks and their unit tests, and the
    // example configuration is valid.
    promtool(&["check", "rules", "alerts.yml", "recording.yml"]);
    promtool(&["test", "rules", "alerts_test.yml"]);
    promtool(&["check", "config", "prometheus.yml"]);
    eprintln!("promtool: {:?}", began.elapsed());

    // Three agents, each with a TCP check (against a listener of this
    // test) and role hooks, so the check and hook series exist.
    let dir = log_dir("prometheus");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the check's listener");
    let checked = listener.local_addr().expect("listener address");
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            drop(connection);
        }
    });
    let config = dir.join("herd.toml");
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"web\"\ntcp = \"{checked}\"\ninterval = \"1s\"\n\n\
             [hooks]\non_primary = [\"true\"]\non_secondary = [\"true\"]\n"
        ),
    )
    .expect("write the agents' configuration");
    let config = config.to_string_lossy().into_owned();
    let extra = ["--config", config.as_str()];
    let a = Agent::start(&dir, "a", &[], &extra);
    let b = Agent::start(&dir, "b", &[a.gossip], &extra);
    let c = Agent::start(&dir, "c", &[a.gossip], &extra);
    let mut agents = [a, b, c];
    assert!(
        wait_until(Duration::from_secs(20), || agents.iter().all(|x| {
            x.alive_members() == 3 && x.status("/health") == Some(200)
        })),
        "the three agents did not all join and pass their checks"
    );
    let mut primary = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let named: BTreeSet<Option<String>> = agents.iter().map(|x| x.primary()).collect();
            primary = match named.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(p)] => Some(p.clone()),
                _ => None,
            };
            primary.is_some()
        }),
        "the agents did not agree on a primary"
    );
    let primary = primary.unwrap_or_default();
    eprintln!("cluster formed, primary {primary}: {:?}", began.elapsed());

    // Prometheus scrapes them every second, with the recording rules and a
    // copy of the alerts whose HerdMembersDown and HerdAgentDown wait 1s.
    let alerts = std::fs::read_to_string(dashboards().join("alerts.yml")).expect("read alerts.yml");
    let alerts = shorten_for(&alerts, "HerdMembersDown", "1s");
    let alerts = shorten_for(&alerts, "HerdAgentDown", "1s");
    let test_alerts = dir.join("alerts.yml");
    std::fs::write(&test_alerts, alerts).expect("write the test's alerts");
    let targets: Vec<String> = agents.iter().map(|x| format!("'{}'", x.http)).collect();
    let prometheus_yml = dir.join("prometheus.yml");
    std::fs::write(
        &prometheus_yml,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}'\n  - '{}'\n\
             scrape_configs:\n  - job_name: herd\n    static_configs:\n      - targets: [{}]\n",
            dashboards().join("recording.yml").display(),
            test_alerts.display(),
            targets.join(", ")
        ),
    )
    .expect("write prometheus.yml");
    let prometheus = Prometheus::start(
        &prometheus_yml,
        dir.join("tsdb"),
        dir.join("prometheus.log"),
    );
    assert!(
        wait_until(Duration::from_secs(20), || prometheus
            .series(r#"up{job="herd"} == 1"#)
            .len()
            == 3),
        "prometheus does not scrape the three agents: {:?}",
        prometheus.get("/api/v1/targets")
    );
    eprintln!("three targets up: {:?}", began.elapsed());

    // The series a live cluster has, raw and recorded.
    let mut missing: Vec<&str> = MUST_HAVE_DATA.to_vec();
    let have_data = wait_until(Duration::from_secs(20), || {
        missing.retain(|expr| prometheus.series(expr).is_empty());
        missing.is_empty()
    });
    assert!(have_data, "no series for {missing:?}");
    let count = prometheus.series("herd:agents:count");
    assert_eq!(count.len(), 1, "one cluster: {count:?}");
    assert_eq!(value(&count[0]), 3.0, "three agents: {count:?}");
    let claimants = prometheus.series("herd:primary_claimants:sum");
    assert_eq!(value(&claimants[0]), 1.0, "one primary: {claimants:?}");
    eprintln!("recorded series present: {:?}", began.elapsed());

    // Every expression of the dashboard (and its variable), of the
    // recording rules and of the alerts evaluates without error.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(dashboards().join("herd.json")).expect("read herd.json"),
    )
    .expect("herd.json is JSON");
    let mut panels = Vec::new();
    panel_exprs(&dashboard["panels"], &mut panels);
    assert!(panels.len() >= 50, "only {} panel queries", panels.len());
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(query) = variable["query"].as_str() else {
            continue;
        };
        if let Some(args) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
        {
            let (metric, label) = args.rsplit_once(',').expect("label_values(metric, label)");
            let series = prometheus
                .query(metric.trim())
                .expect("the variable's query");
            assert!(
                series.iter().any(|s| s["metric"][label.trim()].is_string()),
                "variable {}: no {label} in {series:?}",
                variable["name"]
            );
        }
    }
    let mut rules = Vec::new();
    for file in ["recording.yml", "alerts.yml"] {
        let text = std::fs::read_to_string(dashboards().join(file)).expect("read a rule file");
        rules.extend(rule_exprs(&text));
    }
    assert!(rules.len() >= 50, "only {} rules", rules.len());
    let mut failed = Vec::new();
    for (name, expr) in panels.iter().chain(&rules) {
        if let Err(error) = prometheus.query(expr) {
            failed.push(format!("{name}: {error}\n  {expr}"));
        }
    }
    assert!(failed.is_empty(), "queries failed:\n{}", failed.join("\n"));
    eprintln!(
        "{} panel queries and {} rules evaluated: {:?}",
        panels.len(),
        rules.len(),
        began.elapsed()
    );

    // The panels that must show something in a live cluster do.
    let mut empty: Vec<&(String, String)> = panels
        .iter()
        .filter(|(title, _)| PANELS_WITH_DATA.contains(&title.as_str()))
        .collect();
    for title in PANELS_WITH_DATA {
        assert!(
            panels.iter().any(|(t, _)| t == title),
            "no panel titled {title:?}"
        );
    }
    let panels_have_data = wait_until(Duration::from_secs(15), || {
        empty.retain(|(_, expr)| prometheus.series(expr).is_empty());
        empty.is_empty()
    });
    assert!(panels_have_data, "empty panel queries: {empty:#?}");

    // SIGKILL the primary. The survivors' views change primary, one of them
    // begins to claim, both list one member down, and the alerts see it.
    let old = agents
        .iter()
        .position(|x| x.name == primary)
        .expect("the primary is one of the agents");
    let killed = agents[old].http.to_string();
    let survivors: BTreeSet<String> = agents
        .iter()
        .filter(|x| x.name != primary)
        .map(|x| x.http.to_string())
        .collect();
    let changes_before = prometheus.by_instance("herd_primary_changes_total");
    let killed_at = Instant::now();
    agents[old].kill();

    let instances = |expr: &str| -> BTreeSet<String> {
        prometheus
            .by_instance(expr)
            .into_iter()
            .map(|(instance, _)| instance)
            .collect()
    };
    let moved = wait_until(Duration::from_secs(20), || {
        let changed = prometheus
            .by_instance("herd_primary_changes_total")
            .into_iter()
            .filter(|(instance, now)| {
                changes_before
                    .iter()
                    .any(|(i, before)| i == instance && now > before)
            })
            .count();
        changed == survivors.len()
            && instances("increase(herd_primary_changes_total[1m]) > 0") == survivors
            && !instances(r#"increase(herd_role_changes_total{role="primary"}[1m]) > 0"#)
                .is_disjoint(&survivors)
    });
    assert!(
        moved,
        "the survivors' primary and role changes did not move: {:?}",
        prometheus.by_instance("herd_primary_changes_total")
    );
    eprintln!(
        "primary changes seen: {:?} after the kill",
        killed_at.elapsed()
    );

    let down = wait_until(Duration::from_secs(20), || {
        instances(r#"herd_members{state="down"} == 1"#) == survivors
    });
    assert!(
        down,
        "the survivors do not list one member down: {:?}",
        prometheus.by_instance(r#"herd_members{state="down"}"#)
    );
    eprintln!(
        "one member down on the survivors: {:?} after the kill",
        killed_at.elapsed()
    );

    let alerted = wait_until(Duration::from_secs(20), || {
        let members_down = prometheus
            .alerts("HerdMembersDown")
            .iter()
            .any(|(state, _)| state == "pending" || state == "firing");
        let agent_down = prometheus
            .alerts("HerdAgentDown")
            .iter()
            .any(|(state, labels)| {
                (state == "pending" || state == "firing") && labels["instance"] == killed.as_str()
            });
        members_down && agent_down
    });
    assert!(
        alerted,
        "HerdMembersDown {:?}, HerdAgentDown {:?}",
        prometheus.alerts("HerdMembersDown"),
        prometheus.alerts("HerdAgentDown")
    );
    eprintln!("alerts active: {:?} after the kill", killed_at.elapsed());

    let one_primary = wait_until(Duration::from_secs(20), || {
        prometheus.series("herd:primary_claimants:sum == 1").len() == 1
            && prometheus
                .series(r#"herd:members:max{state="down"} == 1"#)
                .len()
                == 1
    });
    assert!(
        one_primary,
        "no single survivor claims: {:?}",
        prometheus.series("herd:primary_claimants:sum")
    );
    eprintln!("total: {:?}", began.elapsed());
}
