//! What ships in deploy/ works with this binary: the example configuration
//! passes `herd validate`, the systemd unit passes `systemd-analyze verify`
//! and its sandbox score (deploy/systemd/verify.sh; skipped without
//! systemd-analyze), and the Kubernetes pod waits longer than the drain.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `herd` with none of the caller's `HERD_*` variables.
fn herd(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HERD_") {
            command.env_remove(key);
        }
    }
    command.args(args).output().expect("run herd")
}

#[test]
fn the_example_configuration_is_valid() {
    let example = repo().join("deploy/herd.toml");
    let out = herd(&["validate", example.to_str().expect("a path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("valid"), "{said}");
}

#[test]
fn validate_reports_every_error_and_exits_64() {
    let dir = std::env::temp_dir().join(format!("herd-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let syntax = dir.join("syntax.toml");
    std::fs::write(&syntax, "name = \"a\nquorum = = 1\n[gossip\n").expect("write");
    let out = herd(&["validate", syntax.to_str().expect("a path")]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{said}");
    for line in ["line 1", "line 2", "line 3"] {
        assert!(said.contains(line), "{line} not reported:\n{said}");
    }
    let values = dir.join("values.toml");
    std::fs::write(
        &values,
        "name = \"bad name\"\njoin = [\"nohost\"]\ndrain_timeout = \"0s\"\n",
    )
    .expect("write");
    let out = herd(&["validate", values.to_str().expect("a path")]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{said}");
    for field in ["name", "join", "drain_timeout"] {
        assert!(
            said.contains(&format!("- {field}")),
            "{field} not reported:\n{said}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_systemd_unit_verifies() {
    let has_analyze = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_analyze {
        eprintln!("SKIP: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let out = Command::new(repo().join("deploy/systemd/verify.sh"))
        .output()
        .expect("run verify.sh");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number after `key:` in a YAML file.
fn yaml_number(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            line.trim()
                .strip_prefix(&format!("{key}:"))?
                .trim()
                .parse()
                .ok()
        })
}

#[test]
fn the_pod_waits_longer_than_the_drain() {
    let grace = yaml_number(
        &repo().join("deploy/kubernetes/statefulset.yaml"),
        "terminationGracePeriodSeconds",
    )
    .expect("terminationGracePeriodSeconds in the StatefulSet");
    // The drain the example configuration (the pod's ConfigMap mirrors it)
    // sets, or the default.
    let text = std::fs::read_to_string(repo().join("deploy/herd.toml")).expect("read");
    let drain: u64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("drain_timeout = \"")?
                .strip_suffix("s\"")?
                .parse()
                .ok()
        })
        .unwrap_or(15);
    assert!(grace > drain + 5, "grace {grace} s, drain {drain} s");
}
