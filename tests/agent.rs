//! One or two real agents at a time: bad input, name clashes, freezes,
//! configuration errors, the HTTP methods and the CLI clients.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{Agent, log_dir, wait_until};

fn herd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herd"))
}

#[test]
fn garbage_and_foreign_packets_are_counted_and_change_nothing() {
    let dir = log_dir("garbage");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    assert!(wait_until(Duration::from_secs(15), || a.alive_members()
        == 2
        && b.alive_members() == 2
        && a.primary().as_deref() == Some("a")));

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let version = herd::core::PROTOCOL_VERSION;
    let envelope = |version: u8, kind: u8, cluster: &str| {
        let mut packet = b"HD".to_vec();
        packet.extend_from_slice(&[version, 0, kind, cluster.len() as u8]);
        packet.extend_from_slice(cluster.as_bytes());
        packet
    };
    let mut foreign = envelope(version, 0, "other");
    foreign.extend_from_slice(&[0u8; 20]);
    let mut wrong_version = envelope(version.wrapping_add(7), 0, "herd");
    wrong_version.extend_from_slice(&[1u8; 20]);
    let mut bad_payload = envelope(version, 0, "herd");
    bad_payload.extend_from_slice(&[0xffu8; 40]);
    let mut bad_control = envelope(version, 1, "herd");
    bad_control.extend_from_slice(&[0x07u8; 40]);
    let oversize = vec![0x41u8; 2000];
    // Few enough that the agent's receive buffer never overflows.
    for _ in 0..5 {
        for packet in [
            &b"hello"[..],
            &foreign,
            &wrong_version,
            &bad_payload,
            &bad_control,
            &oversize,
            &[],
        ] {
            socket.send_to(packet, a.gossip).expect("send");
        }
    }
    assert!(
        wait_until(Duration::from_secs(5), || {
            let dropped = |reason: &str| {
                a.metric(&format!(
                    "herd_packets_dropped_total{{reason=\"{reason}\"}}"
                ))
                .unwrap_or(0.0)
            };
            dropped("not_herd") >= 10.0
                && dropped("foreign_cluster") >= 5.0
                && dropped("version") >= 5.0
                && dropped("malformed") >= 10.0
                && dropped("too_large") >= 5.0
        }),
        "drops were not counted by reason"
    );
    // The agent still works and its view is intact.
    assert_eq!(a.status("/health"), Some(200));
    assert_eq!(a.status("/health/primary"), Some(200));
    assert_eq!(a.member_state("b").as_deref(), Some("alive"));
    assert_eq!(b.primary().as_deref(), Some("a"));
}

#[test]
fn a_second_agent_with_a_taken_name_is_refused_and_harms_nobody() {
    let dir = log_dir("clash");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    assert!(wait_until(Duration::from_secs(15), || a.alive_members() == 2));
    let impostor = Agent::start(&dir, "b", &[a.gossip], &[]);
    assert!(
        wait_until(Duration::from_secs(10), || impostor
            .log_tail(200)
            .contains("this name is used by a live member at another address")),
        "the clash was not reported"
    );
    assert_eq!(impostor.status("/health"), Some(503));
    let (_, body) = impostor.get("/health").expect("impostor answers");
    assert_eq!(body["phase"], "joining");
    // The real b is untouched.
    assert_eq!(a.member("b").expect("b")["addr"], b.gossip.to_string());
    assert_eq!(b.status("/health"), Some(200));
    assert_eq!(a.alive_members(), 2);
}

#[test]
fn a_frozen_member_is_declared_down_and_rejoins_when_it_thaws() {
    let dir = log_dir("freeze");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    let c = Agent::start(&dir, "c", &[a.gossip], &[]);
    assert!(wait_until(Duration::from_secs(15), || [&a, &b, &c]
        .iter()
        .all(|x| x.alive_members() == 3)));
    c.signal(Signal::SIGSTOP);
    let declared = wait_until(Duration::from_secs(20), || {
        a.member_state("c").as_deref() == Some("down")
            && b.member_state("c").as_deref() == Some("down")
    });
    c.signal(Signal::SIGCONT);
    assert!(declared, "the frozen member was not declared down");
    assert!(
        wait_until(Duration::from_secs(20), || {
            [&a, &b, &c].iter().all(|x| x.alive_members() == 3)
                && c.metric("herd_rejoins_total").unwrap_or(0.0) >= 1.0
        }),
        "the thawed member did not rejoin"
    );
    assert_eq!(a.primary().as_deref(), Some("a"));
    assert_eq!(c.primary().as_deref(), Some("a"));
}

#[test]
fn health_routes_answer_get_and_head_and_refuse_other_methods() {
    let dir = log_dir("routes");
    let a = Agent::start(&dir, "a", &[], &[]);
    assert!(wait_until(Duration::from_secs(10), || a.status("/health") == Some(200)));
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = |path: &str| format!("http://{}{}", a.http, path);
    for (path, expected) in [
        ("/health", 200),
        ("/readyz", 200),
        ("/livez", 200),
        ("/health/primary", 200),
        ("/health/secondary", 503),
        ("/v1/members", 200),
        ("/v1/primary", 200),
        ("/metrics", 200),
        ("/nope", 404),
    ] {
        let get = http.get(&url(path)).call().expect("GET");
        assert_eq!(get.status().as_u16(), expected, "GET {path}");
        let head = http.head(&url(path)).call().expect("HEAD");
        assert_eq!(head.status().as_u16(), expected, "HEAD {path}");
    }
    let post = http.post(&url("/health")).send("").expect("POST");
    assert_eq!(post.status().as_u16(), 405);
    // The health routes are answered in front of the router
    // (src/http/front.rs), and counted under the labels the router uses.
    let series = |route: &str, code: u16| {
        format!(r#"herd_http_requests_total{{code="{code}",listener="public",route="{route}"}}"#)
    };
    for (route, code) in [
        ("/readyz", 200),
        ("/health/primary", 200),
        ("/health/secondary", 503),
        ("/livez", 200),
    ] {
        assert_eq!(a.metric(&series(route, code)), Some(2.0), "{route} {code}");
    }
    assert_eq!(a.metric(&series("/health", 405)), Some(1.0));
    assert_eq!(a.metric(&series("/health/secondary", 200)), None);
    assert_eq!(
        a.metric(r#"herd_http_request_duration_seconds_count{listener="public",route="/health/secondary"}"#),
        Some(2.0)
    );
    assert!(a.metric(&series("/health", 200)).is_some_and(|n| n >= 2.0));
    let (_, primary) = a.get("/v1/primary").expect("primary");
    assert_eq!(primary["primary"], "a");
    assert_eq!(primary["is_primary"], true);
}

#[test]
fn the_cli_prints_members_and_primary_as_tables_or_json() {
    let dir = log_dir("cli");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    assert!(wait_until(Duration::from_secs(15), || b.alive_members()
        == 2
        && b.primary().as_deref() == Some("a")));
    let run = |args: &[&str]| {
        let out = herd()
            .args(args)
            .args(["--http", &b.http.to_string()])
            .output()
            .expect("run herd");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let table = run(&["members"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("a ") && l.ends_with("primary")),
        "{table}"
    );
    assert!(lines.iter().any(|l| l.starts_with("b *")), "{table}");
    let json: serde_json::Value = serde_json::from_str(&run(&["members", "--json"])).expect("json");
    assert_eq!(json["members"].as_array().map(Vec::len), Some(2));
    assert_eq!(run(&["primary"]).trim(), "a");
    let json: serde_json::Value = serde_json::from_str(&run(&["primary", "--json"])).expect("json");
    assert_eq!(json["primary"], "a");

    // No agent there: a clear error, non-zero exit.
    let out = herd()
        .args(["members", "--http", "127.0.0.1:9"])
        .output()
        .expect("run herd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the agent"), "{err}");
}

#[test]
fn a_bad_configuration_lists_every_problem_and_exits_64_before_binding() {
    let dir = log_dir("badconfig");
    let file = dir.join("herd.toml");
    std::fs::write(
        &file,
        "name = \"bad name\"\njoin = [\"no-port\"]\n[gossip]\nprobe_timeout = \"3s\"\n",
    )
    .expect("write config");
    let out = herd()
        .args(["agent", "--config"])
        .arg(&file)
        .args(["--cluster", "has space"])
        .output()
        .expect("run herd");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for field in ["name:", "join:", "probe_timeout:", "cluster:"] {
        assert!(err.contains(field), "{field} missing from: {err}");
    }

    std::fs::write(&file, "priorty = 1\n").expect("write config");
    let out = herd()
        .args(["agent", "--config"])
        .arg(&file)
        .output()
        .expect("run herd");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("priorty"));

    let out = herd()
        .args(["agent", "--priority", "high"])
        .output()
        .expect("run herd");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--priority"));
}

#[test]
fn environment_variables_configure_the_agent() {
    let dir = log_dir("env");
    let gossip = format!("127.0.0.1:{}", support::free_port());
    let http = format!("127.0.0.1:{}", support::free_port());
    let log = std::fs::File::create(dir.join("env.log")).expect("log");
    let mut child = herd()
        .arg("agent")
        .env("HERD_NAME", "from-env")
        .env("HERD_BIND", &gossip)
        .env("HERD_HTTP", &http)
        .env("HERD_CLUSTER", "envcluster")
        .env("HERD_PRIORITY", "7")
        .stderr(log)
        .spawn()
        .expect("start");
    let client = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut body = serde_json::Value::Null;
    let answered = wait_until(Duration::from_secs(10), || {
        let Ok(mut response) = client.get(&format!("http://{http}/v1/members")).call() else {
            return false;
        };
        body = response.body_mut().read_json().unwrap_or_default();
        body["members"][0]["seniority"].is_u64()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(answered);
    assert_eq!(body["node"], "from-env");
    assert_eq!(body["cluster"], "envcluster");
    assert_eq!(body["members"][0]["priority"], 7);
    assert_eq!(body["members"][0]["addr"], gossip);
}

#[test]
fn with_no_flags_the_agent_founds_a_one_node_cluster_and_says_where_its_health_endpoint_is() {
    let dir = log_dir("noflags");
    let log_path = dir.join("agent.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut command = herd();
    command.arg("agent");
    for (key, _) in std::env::vars() {
        if key.starts_with("HERD_") {
            command.env_remove(key);
        }
    }
    let mut child = command.stderr(log).spawn().expect("start");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let client = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let status = |path: &str| {
        client
            .get(&format!("http://127.0.0.1:7947{path}"))
            .call()
            .ok()
            .map(|r| r.status().as_u16())
    };
    let up = wait_until(Duration::from_secs(10), || {
        status("/health") == Some(200) && status("/health/primary") == Some(200)
    });
    // Ctrl-C twice: drain, then leave at once.
    let _ = nix::sys::signal::kill(pid, Signal::SIGINT);
    let drained = wait_until(Duration::from_secs(5), || status("/health") == Some(503));
    let _ = nix::sys::signal::kill(pid, Signal::SIGINT);
    let exited = wait_until(Duration::from_secs(5), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let _ = child.kill();
    let exit = child.wait().expect("wait");
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(up, "no one-node primary on the default ports:\n{text}");
    assert!(drained, "Ctrl-C did not drain:\n{text}");
    assert!(
        exited && exit.success(),
        "did not exit 0 after a second Ctrl-C: {exit:?}"
    );
    assert!(
        text.contains("health endpoint at http://0.0.0.0:7947/health"),
        "{text}"
    );
}

#[test]
fn a_seed_given_by_host_name_that_starts_later_is_joined() {
    let dir = log_dir("late-seed");
    let seed_port = support::free_port();
    let seed_name = format!("localhost:{seed_port}");
    let b = Agent::start_with(&dir, "b", &[&seed_name], &[]);
    assert!(wait_until(Duration::from_secs(10), || {
        b.get("/health")
            .is_some_and(|(status, body)| status == 503 && body["phase"] == "joining")
    }));
    let a = Agent::start_on(&dir, "a", seed_port, &[], &[]);
    assert!(
        wait_until(Duration::from_secs(20), || b.status("/health") == Some(200)
            && b.alive_members() == 2
            && a.alive_members() == 2),
        "b did not join the late seed"
    );
    assert_eq!(b.primary().as_deref(), Some("a"));
}

/// The dashboards and rules in `dashboards/` only work if every metric they
/// name is exported: scrape a live agent and look each one up.
#[test]
fn every_metric_the_dashboards_and_rules_use_is_exported() {
    let dir = log_dir("dashboard-metrics");
    // A check and a hook, so their series exist too.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let config = dir.join("a.toml");
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"web\"\ntcp = \"{}\"\n[hooks]\non_secondary = [\"true\"]\n",
            server.local_addr().expect("address")
        ),
    )
    .expect("write the config");
    let config = config.to_string_lossy().into_owned();
    let a = Agent::start(&dir, "a", &[], &["--config", &config]);
    assert!(wait_until(Duration::from_secs(15), || a
        .primary()
        .as_deref()
        == Some("a")
        && a.metric(
            r#"herd_check_status{check="web",status="passing"}"#
        ) == Some(1.0)));
    let exported = ureq::get(&format!("http://{}/metrics", a.http))
        .call()
        .expect("scrape")
        .body_mut()
        .read_to_string()
        .expect("metrics text");
    let exported: std::collections::BTreeSet<&str> = exported
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut used = std::collections::BTreeSet::new();
    for file in ["herd.json", "alerts.yml", "recording.yml"] {
        let text = std::fs::read_to_string(root.join(file)).expect("read a dashboard file");
        let mut rest = text.as_str();
        while let Some(at) = rest.find("herd_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `herd_info`'s labels and the like are not metric names.
            let before = rest[..at].chars().last();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                used.insert(name.clone());
            }
            rest = &rest[at + name.len()..];
        }
    }
    assert!(used.len() >= 15, "found only {used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| !exported.contains(name.as_str()))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
}

/// Resident memory of a process, from /proc (KiB).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn slow_and_idle_clients_do_not_starve_the_health_endpoint() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use nix::sys::resource::{Resource, getrlimit, setrlimit};

    const SLOW: usize = 2000;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        eprintln!("skipping: cannot read the file descriptor limit");
        return;
    };
    let wanted = soft.max(SLOW as u64 + 512);
    if hard < wanted {
        eprintln!(
            "skipping: {SLOW} client connections need {wanted} file descriptors (hard limit {hard})"
        );
        return;
    }
    setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).expect("raise the descriptor limit");

    let dir = log_dir("slow-clients");
    let mut a = Agent::start(&dir, "a", &[], &[]);
    assert!(wait_until(Duration::from_secs(15), || a.status("/health") == Some(200)));
    let pid = a.pid().expect("running").as_raw() as u32;
    let idle_rss = rss_kib(pid).expect("rss");

    // Slowloris: 2,000 connections, each sending its request head one byte
    // every second, for as long as the server keeps them.
    let slow: Vec<TcpStream> = (0..SLOW)
        .filter_map(|_| TcpStream::connect(a.http).ok())
        .collect();
    let opened = slow.len();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut slow = slow;
            while !stop.load(Ordering::Relaxed) {
                slow.retain_mut(|s| s.write_all(b"G").is_ok());
                std::thread::sleep(Duration::from_secs(1));
            }
            slow.len()
        })
    };

    // Meanwhile a balancer polls /health on fresh connections.
    let mut latencies = Vec::new();
    let mut peak_rss = idle_rss;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        let asked = Instant::now();
        assert_eq!(
            a.status("/health"),
            Some(200),
            "a health check went unanswered"
        );
        latencies.push(asked.elapsed());
        peak_rss = peak_rss.max(rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let still_open = trickle.join().expect("trickle thread");
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    // What the allocator gives back once they are gone (reported only:
    // glibc keeps some of it in its arenas).
    let _ = a.status("/health");
    let after_rss = rss_kib(pid).unwrap_or(0);
    eprintln!(
        "{opened} slow connections opened, {still_open} still open after 12 s; \
         /health p99 {p99:?} over {} polls; RSS idle {idle_rss} KiB, peak {peak_rss} KiB, \
         after {after_rss} KiB",
        latencies.len()
    );
    // The head timeout closed every slow connection (10 s, 1 s above the
    // first 1,024), and the health checks never waited behind them.
    assert_eq!(still_open, 0, "slow connections outlived the head timeout");
    assert!(p99 < Duration::from_millis(200), "/health p99 {p99:?}");
    // At most 1,536 connections are open at once (`Limits::default`), each
    // about 22 KiB while open (hyper's buffers and the task): the flood's
    // memory is bounded by the cap, with room for the allocator.
    assert!(
        peak_rss < idle_rss + 1536 * 32,
        "RSS went from {idle_rss} KiB to {peak_rss} KiB"
    );
    assert!(a.is_running());
}

/// `herd` as an operator's shell runs it, without the caller's `HERD_*`.
fn client(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HERD_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run herd")
}

#[test]
fn client_commands_take_host_names_and_say_when_there_is_no_primary() {
    let dir = log_dir("client-commands");
    // Its only seed never answers: it stays joining, with no primary.
    let dead = UdpSocket::bind("127.0.0.1:0").expect("a port");
    let seed = dead.local_addr().expect("address").to_string();
    drop(dead);
    let lonely = Agent::start_with(&dir, "lonely", &[&seed], &[]);
    assert!(wait_until(Duration::from_secs(10), || lonely
        .status("/health")
        .is_some()));
    let by_name = format!("localhost:{}", lonely.http.port());

    let out = client(&["primary", "--http", &by_name], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("no primary"));
    // The agent's own variable names the address for the clients too.
    let out = client(&["members", "--json"], &[("HERD_HTTP", &by_name)]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"lonely\""));

    // With a primary, `herd primary` names it and exits 0.
    let founder = Agent::start(&dir, "founder", &[], &[]);
    assert!(wait_until(Duration::from_secs(10), || founder
        .primary()
        .is_some()));
    let out = client(
        &["primary"],
        &[("HERD_HTTP", &format!("localhost:{}", founder.http.port()))],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "founder");

    let out = client(&["primary", "--http", "nohost"], &[]);
    assert_eq!(out.status.code(), Some(2), "a bad address is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("host:port"));
}

#[test]
fn version_names_the_commit_and_the_protocol() {
    for args in [&["version"][..], &["--version"][..]] {
        let out = client(args, &[]);
        assert!(out.status.success(), "{out:?}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.starts_with("herd "), "{said}");
        assert!(said.contains(env!("CARGO_PKG_VERSION")), "{said}");
        assert!(said.contains("commit "), "{said}");
        assert!(
            said.contains(&format!("gossip protocol {}", herd::core::PROTOCOL_VERSION)),
            "{said}"
        );
    }
}

#[test]
fn a_reader_that_stops_reading_ends_a_command_quietly() {
    // Each prints more than a pipe holds before the reader is gone.
    for args in [
        &["completions", "bash"][..],
        &["manpage"][..],
        &["simulate", "--help"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run herd");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("its exit");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!said.contains("panicked"), "{args:?}: {said}");
        assert!(out.status.code().is_some(), "{args:?} was killed: {out:?}");
    }
}
