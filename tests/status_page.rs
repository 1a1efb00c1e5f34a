//! The status page in a real browser: headless Chromium loads `/` from a
//! real three-agent cluster and its script fills in every member and the
//! primary; after the primary is killed, a survivor's page names the new
//! one. A screenshot of each is kept as a test artifact.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it); without it the test
//! says so and passes.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Agent, log_dir, wait_until};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let found = Command::new("which").arg(name).output().ok()?;
            let path = String::from_utf8(found.stdout).ok()?;
            (found.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
        })
}

/// Loads `url` headless, lets its script run for a few (virtual) seconds,
/// writes a screenshot to `screenshot`, and returns the DOM it built.
fn render(browser: &Path, profile: &Path, url: &str, screenshot: &Path) -> String {
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--virtual-time-budget=4000",
        "--window-size=1280,900",
    ];
    let run = |extra: &str| {
        let mut child = Command::new(browser)
            .args(common)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(extra)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let mut done = false;
        wait_until(Duration::from_secs(60), || {
            done = matches!(child.try_wait(), Ok(Some(_)));
            done
        });
        if !done {
            let _ = child.kill();
        }
        let out = child.wait_with_output().expect("chromium's output");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&format!("--screenshot={}", screenshot.display()));
    run("--dump-dom")
}

/// The text of the element with `id` in `dom`.
fn text_of(dom: &str, id: &str) -> Option<String> {
    let open = format!("id=\"{id}\"");
    let at = dom.find(&open)?;
    let start = at + dom[at..].find('>')? + 1;
    let end = start + dom[start..].find('<')?;
    Some(dom[start..end].trim().to_owned())
}

#[test]
fn the_status_page_shows_the_members_and_follows_a_failover_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIP: chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = log_dir("status-page");
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&artifacts).expect("artifact directory");
    let a = Agent::start(&dir, "a", &[], &[]);
    let b = Agent::start(&dir, "b", &[a.gossip], &[]);
    let c = Agent::start(&dir, "c", &[a.gossip], &[]);
    let mut agents = [a, b, c];
    assert!(
        wait_until(Duration::from_secs(20), || agents
            .iter()
            .all(|x| x.alive_members() == 3 && x.primary().is_some())),
        "the cluster did not form"
    );
    let first = agents[1].primary().expect("a primary");

    let before = artifacts.join("before.png");
    let url = format!("http://{}/", agents[1].http);
    let dom = render(&browser, &dir.join("profile"), &url, &before);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the script did not run:\n{dom}"
    );
    assert_eq!(
        text_of(&dom, "primary").as_deref(),
        Some(first.as_str()),
        "{dom}"
    );
    assert_eq!(text_of(&dom, "node").as_deref(), Some("b"));
    for name in ["a", "b", "c"] {
        assert!(
            dom.contains(&format!("data-member=\"{name}\"")),
            "{name} missing:\n{dom}"
        );
    }
    assert!(
        dom.contains(&format!(
            "data-member=\"{first}\" data-state=\"alive\" data-primary=\"true\""
        )),
        "{dom}"
    );
    assert!(std::fs::metadata(&before).is_ok_and(|m| m.len() > 0));

    let victim = agents
        .iter()
        .position(|x| x.name == first)
        .expect("the primary");
    agents[victim].kill();
    let survivor = (victim + 1) % 3;
    let mut second = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            second = agents[survivor].primary().filter(|p| *p != first);
            second.is_some()
        }),
        "no new primary"
    );
    let second = second.expect("the new primary");
    let after = artifacts.join("after-failover.png");
    let url = format!("http://{}/", agents[survivor].http);
    let dom = render(&browser, &dir.join("profile"), &url, &after);
    assert_eq!(
        text_of(&dom, "primary").as_deref(),
        Some(second.as_str()),
        "{dom}"
    );
    assert!(
        dom.contains(&format!("data-member=\"{first}\" data-state=\"down\""))
            || dom.contains(&format!("data-member=\"{first}\" data-state=\"suspect\"")),
        "{first} is not shown down:\n{dom}"
    );
    assert!(dom.contains("class=\"event"), "no events shown:\n{dom}");
    eprintln!("screenshots: {} and {}", before.display(), after.display());
}
