//! Records the commit the binary is built from, for `herd version`.

use std::process::Command;

fn main() {
    // A build outside a git checkout (a crate tarball, a container context
    // without .git) says so instead of failing.
    if let Ok(commit) = std::env::var("HERD_COMMIT") {
        println!("cargo:rustc-env=HERD_COMMIT={commit}");
        println!("cargo:rerun-if-env-changed=HERD_COMMIT");
        return;
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| !out.stdout.is_empty());
    let suffix = if dirty { "-modified" } else { "" };
    println!("cargo:rustc-env=HERD_COMMIT={commit}{suffix}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-env-changed=HERD_COMMIT");
}
