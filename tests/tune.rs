//! `herd tune` runs an operator's configuration through the simulator:
//! the figures it prints come from real simulated runs of their settings
//! (a slower probe period fails over more slowly), and a bad file is a
//! configuration error.

use std::process::Command;

use serde_json::Value;

fn tune(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_herd"))
        .arg("tune")
        .args(args)
        .env_remove("HERD_CONFIG")
        .output()
        .expect("run herd tune");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn median(figures: &Value, fault: &str, key: &str) -> f64 {
    let fault = figures
        .as_array()
        .and_then(|all| all.iter().find(|f| f["fault"] == fault))
        .unwrap_or_else(|| panic!("{fault} missing: {figures}"));
    let mut values: Vec<f64> = fault[key]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    values.sort_by(f64::total_cmp);
    *values
        .get(values.len() / 2)
        .unwrap_or_else(|| panic!("no {key} for {fault}"))
}

#[test]
fn the_operator_sees_what_their_timings_cost() {
    let dir = std::env::temp_dir().join(format!("herd-tune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let swim_only = dir.join("swim-only.toml");
    std::fs::write(&swim_only, "[gossip]\nlease = \"0s\"\n").expect("write");

    let (code, default, stderr) = tune(&["--nodes", "10", "--seeds", "2", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, slow, stderr) = tune(&[
        swim_only.to_str().expect("a path"),
        "--nodes",
        "10",
        "--seeds",
        "2",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");

    let with_lease = median(&default, "primary crash", "claimed_s");
    let without = median(&slow, "primary crash", "claimed_s");
    assert!(with_lease < 1.5, "the default fails over in {with_lease} s");
    assert!(
        without > 2.0 * with_lease,
        "SWIM alone ({without} s) should be much slower than the lease ({with_lease} s)"
    );
    for figures in [&default, &slow] {
        let faults = figures.as_array().expect("a list");
        assert_eq!(faults.len(), 4, "{figures}");
        for fault in faults {
            assert_eq!(fault["false_downs"], 0, "{fault}");
            assert_eq!(fault["two_claimants_s"], 0.0, "{fault}");
            assert_eq!(fault["breaches"], 0, "{fault}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_configuration_is_a_configuration_error() {
    let dir = std::env::temp_dir().join(format!("herd-tune-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[gossip]\nprobe_period = \"soon\"\n").expect("write");
    let (code, _, stderr) = tune(&[bad.to_str().expect("a path")]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("probe_period"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
