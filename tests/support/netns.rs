//! Real agents on separate hosts: one Linux network namespace per agent,
//! joined by a bridge, with faults made on the links.
//!
//! # Layout
//!
//! ```text
//!  root namespace: untouched (no link, address, route or rule is added)
//!
//!  herdt-PID-K-sw        the switch: bridge br0 (plus g0, g1, ... while
//!                        partitioned), ports p1..pN, no address at all
//!  herdt-PID-K-n1 ...    one host each: lo, and eth0 = 198.18.0.I/24,
//!                        the other end of port pI
//! ```
//!
//! PID is the test process, K a counter, so names are unique per test and
//! per process and tests run in parallel. Every link is made inside the
//! switch's namespace and its peer moved straight into the host's, so the
//! root namespace never holds one, and interface names only need to be
//! unique inside a namespace. Addresses come from 198.18.0.0/24 (RFC 2544's
//! benchmarking range) and every namespace of one test is its own world, so
//! two tests use the same addresses without meeting and no packet can leave
//! for a real network. The first `Net` of a process deletes leftovers of
//! this prefix whose PID is dead (a crashed or killed run), killing what
//! still runs in them. `Drop` SIGKILLs every agent and deletes every
//! namespace it made (their links go with them), on success, failure or
//! panic.
//!
//! # Agents
//!
//! `ip netns exec NS herd agent --name nI --bind 198.18.0.I:7946 --http
//! 198.18.0.I:7947 --admin 127.0.0.1:7948 [--join 198.18.0.1:7946]`.
//! `ip netns exec` execs the agent in place (it forks only in batch mode),
//! so the child the harness holds is the agent and SIGKILL reaches it.
//! Ports can be fixed: every host has its own.
//!
//! # Polling
//!
//! The root namespace has no route into the switch, by design. Each HTTP
//! request runs on a short-lived thread that first enters the host's
//! namespace with setns(2) (nix's safe binding; the network namespace is a
//! per-thread property, and a socket stays in the namespace it was made in)
//! and asks the agent at the host's own address. The kernel delivers that
//! over the host's loopback, which no fault touches, so a test polls a host
//! straight through a cut, and a poll costs a thread, not a process (no
//! `ip netns exec curl`). If entering the namespace fails the request is
//! not made at all, so it can never leave from the root namespace.
//!
//! # Faults (iproute2 only)
//!
//! - [`Net::cut`] / [`Net::reconnect`]: switch port pI down / up; the host
//!   sees its carrier go, as when its cable is pulled.
//! - [`Net::switch_down`] / [`Net::switch_up`]: every port at once (a
//!   switch reboot).
//! - [`Net::partition`] / [`Net::heal`]: each group's ports move to a bridge
//!   of their own (separate switches); healing moves them back to br0.
//! - [`Net::deafen`] / [`Net::undeafen`]: a one-way cut. In the host's
//!   namespace a policy-routing rule `iif eth0 blackhole` drops every IP
//!   packet arriving from the wire (the `local` rule moves from priority 0
//!   to 100 so the blackhole rule is consulted first). Traffic the host
//!   sends still goes out, and so do the harness's polls (they come in on
//!   `lo`). ARP is not IP and still passes, so the host can keep resolving
//!   its peers' addresses; it answers no ARP request, which only matters
//!   for packets it would drop anyway.
//!
//! Without root or `ip` (or where namespaces cannot be made), [`Net::new`]
//! prints why and returns `None`, and the test returns early and passes.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::{log_dir, wait_until};

/// Every namespace the harness makes starts with this.
const PREFIX: &str = "herdt-";
/// Gossip, HTTP and admin ports, the same on every host.
pub const GOSSIP_PORT: u16 = 7946;
pub const HTTP_PORT: u16 = 7947;
const ADMIN: &str = "127.0.0.1:7948";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The address of host `i` (0-based): 198.18.0.(i+1).
pub fn address(i: usize) -> Ipv4Addr {
    let last = u8::try_from(i + 1).expect("at most 254 hosts");
    Ipv4Addr::new(198, 18, 0, last)
}

/// The `ip` binary, if there is one.
fn ip_binary() -> Option<&'static Path> {
    static IP: OnceLock<Option<PathBuf>> = OnceLock::new();
    IP.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|dir| dir.join("ip"))
            .find(|candidate| candidate.is_file())
    })
    .as_deref()
}

/// Runs `ip ARGS`; the error is what it printed.
fn ip(args: &[&str]) -> Result<String, String> {
    let binary = ip_binary().ok_or("no ip binary")?;
    let output = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("ip {}: {err}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `ip ARGS`, panicking with what it printed.
fn must(args: &[&str]) {
    if let Err(err) = ip(args) {
        panic!("network set-up failed: {err}");
    }
}

fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// SIGKILLs whatever runs in namespace `ns` (ours: the harness made it).
fn kill_inside(ns: &str) {
    let Ok(pids) = ip(&["netns", "pids", ns]) else {
        return;
    };
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Deletes namespaces of this harness left by processes that are gone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        eprintln!("netns: removing {name}, left by process {pid}");
        kill_inside(&name);
        let _ = ip(&["netns", "del", &name]);
    }
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(1)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// One host: a namespace with one link to the switch, and its agent.
pub struct Host {
    /// The agent's member name: n1, n2, ...
    pub name: String,
    /// The namespace's name.
    pub ns: String,
    pub addr: Ipv4Addr,
    /// Its port on the switch.
    port: String,
    netns: File,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Host {
    pub fn gossip(&self) -> SocketAddr {
        SocketAddr::from((self.addr, GOSSIP_PORT))
    }

    pub fn http(&self) -> SocketAddr {
        SocketAddr::from((self.addr, HTTP_PORT))
    }

    /// Runs `f` on a thread inside this host's namespace; `None` if the
    /// thread could not enter it (then `f` does not run).
    pub fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Option<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    setns(&self.netns, CloneFlags::CLONE_NEWNET).ok()?;
                    Some(f())
                })
                .join()
                .ok()
                .flatten()
        })
    }

    /// GET `path` from this host's agent: the status and JSON body, or
    /// `None` if it does not answer.
    pub fn get(&self, path: &str) -> Option<(u16, Value)> {
        let url = format!("http://{}{}", self.http(), path);
        self.inside(|| {
            let mut response = client().get(&url).call().ok()?;
            let status = response.status().as_u16();
            let body = response.body_mut().read_json().ok()?;
            Some((status, body))
        })
        .flatten()
    }

    pub fn status(&self, path: &str) -> Option<u16> {
        self.get(path).map(|(status, _)| status)
    }

    /// The primary this agent's view names.
    pub fn primary(&self) -> Option<String> {
        let (_, body) = self.get("/v1/primary")?;
        body["primary"].as_str().map(str::to_owned)
    }

    /// This agent's `/v1/members` list.
    pub fn members(&self) -> Option<Vec<Value>> {
        let (_, body) = self.get("/v1/members")?;
        body["members"].as_array().cloned()
    }

    /// The value of one series in this agent's `/metrics`, named as it
    /// prints there (`herd_packets_received_total`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let url = format!("http://{}/metrics", self.http());
        let text = self
            .inside(|| {
                client()
                    .get(&url)
                    .call()
                    .ok()?
                    .body_mut()
                    .read_to_string()
                    .ok()
            })
            .flatten()?;
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok())?
            })
    }

    /// Whether the agent runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Sends `signal` to the agent: SIGSTOP freezes it, SIGCONT thaws it.
    pub fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child
            && let Ok(pid) = i32::try_from(child.id())
        {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn spawn(&mut self) {
        let ip = ip_binary().expect("ip was found before");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the agent's log");
        let child = Command::new(ip)
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_herd")])
            .args(&self.args)
            .env("HERD_LOG", "info,herd=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start ip netns exec herd agent");
        self.child = Some(child);
    }
}

/// A switch and its hosts. Dropping it removes all of them.
pub struct Net {
    /// Namespaces made, in order (the switch first).
    namespaces: Vec<String>,
    switch: String,
    hosts: Vec<Host>,
    /// Group bridges made so far (g0, g1, ...).
    bridges: usize,
    dir: PathBuf,
}

impl Net {
    /// A switch and `hosts` hosts for the test `test`, with no agents yet;
    /// `None` (after saying why) where namespaces cannot be made.
    pub fn new(test: &str, hosts: usize) -> Option<Self> {
        let why = if !effective_uid_is_root() {
            Some("not root".to_owned())
        } else if ip_binary().is_none() {
            Some("no ip binary".to_owned())
        } else {
            None
        };
        if let Some(why) = why {
            eprintln!("skipping: needs root and iproute2 (ip netns): {why}");
            return None;
        }
        static CLEANED: OnceLock<()> = OnceLock::new();
        CLEANED.get_or_init(remove_stale);

        let prefix = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let switch = format!("{prefix}-sw");
        if let Err(err) = ip(&["netns", "add", &switch]) {
            eprintln!("skipping: needs root and iproute2 (ip netns): {err}");
            return None;
        }
        let mut net = Self {
            namespaces: vec![switch.clone()],
            switch,
            hosts: Vec::new(),
            bridges: 0,
            dir: log_dir(&format!("netns-{test}")),
        };
        let sw = net.switch.clone();
        must(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        must(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 0..hosts {
            net.add_host(i);
        }
        eprintln!(
            "netns: {} hosts behind switch {} (logs in {})",
            hosts,
            net.switch,
            net.dir.display()
        );
        Some(net)
    }

    fn add_host(&mut self, i: usize) {
        let sw = self.switch.clone();
        let name = format!("n{}", i + 1);
        let ns = format!("{}-{name}", sw.trim_end_matches("-sw"));
        let port = format!("p{}", i + 1);
        let addr = address(i);
        must(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        let netns = File::open(format!("/run/netns/{ns}")).expect("open the host's namespace");
        must(&[
            "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        must(&["-n", &sw, "link", "set", &port, "master", "br0"]);
        must(&["-n", &sw, "link", "set", &port, "up"]);
        must(&["-n", &ns, "link", "set", "lo", "up"]);
        must(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        must(&["-n", &ns, "link", "set", "eth0", "up"]);
        self.hosts.push(Host {
            log: self.dir.join(format!("{name}.log")),
            name,
            ns,
            addr,
            port,
            netns,
            args: Vec::new(),
            child: None,
        });
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    pub fn host_mut(&mut self, i: usize) -> &mut Host {
        &mut self.hosts[i]
    }

    /// Indices of every host.
    pub fn all(&self) -> Vec<usize> {
        (0..self.hosts.len()).collect()
    }

    /// The index of the host whose agent is named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// Starts host `i`'s agent joining the hosts `join` (none: it founds a
    /// cluster), with `extra` arguments.
    pub fn start(&mut self, i: usize, join: &[usize], extra: &[&str]) {
        let seeds: Vec<String> = join
            .iter()
            .map(|j| self.hosts[*j].gossip().to_string())
            .collect();
        let host = &mut self.hosts[i];
        host.kill();
        host.args = vec![
            "agent".into(),
            "--name".into(),
            host.name.clone(),
            "--bind".into(),
            host.gossip().to_string(),
            "--http".into(),
            host.http().to_string(),
            "--admin".into(),
            ADMIN.into(),
        ];
        for seed in seeds {
            host.args.push("--join".into());
            host.args.push(seed);
        }
        host.args.extend(extra.iter().map(|s| s.to_string()));
        host.spawn();
    }

    /// Starts every agent (host 0 founds, the others join it), waits until
    /// each sees them all alive, ranked and admitted to the quorum, with `/health` 200 and they agree
    /// on one primary; returns its name. Panics if that takes too long.
    pub fn start_cluster(&mut self, extra: &[&str]) -> String {
        for i in 0..self.hosts.len() {
            let join: &[usize] = if i == 0 { &[] } else { &[0] };
            self.start(i, join, extra);
        }
        let n = self.hosts.len();
        let joined = |h: &Host| {
            h.members().is_some_and(|ms| {
                ms.len() == n
                    && ms.iter().all(|m| {
                        m["state"] == "alive" && m["seniority"].is_u64() && m["admitted"] == true
                    })
            }) && h.status("/health") == Some(200)
        };
        assert!(
            wait_until(Duration::from_secs(30), || self.hosts.iter().all(joined)),
            "the {n} agents did not all join"
        );
        let all = self.all();
        let mut primary = None;
        assert!(
            wait_until(Duration::from_secs(10), || {
                primary = self.agreed_on(&all);
                primary.is_some()
            }),
            "no single primary agreed: claimants {:?}",
            self.claimants(&all)
        );
        primary.unwrap_or_default()
    }

    /// The names of the hosts among `among` that answer 200 on
    /// `/health/primary`.
    pub fn claimants(&self, among: &[usize]) -> Vec<String> {
        among
            .iter()
            .filter(|i| self.hosts[**i].status("/health/primary") == Some(200))
            .map(|i| self.hosts[*i].name.clone())
            .collect()
    }

    /// The primary, if every host among `among` names the same one in
    /// `/v1/primary` and it alone (of them) answers 200 on
    /// `/health/primary`.
    pub fn agreed_on(&self, among: &[usize]) -> Option<String> {
        let first = self.hosts[*among.first()?].primary()?;
        let all_name_it = among
            .iter()
            .all(|i| self.hosts[*i].primary().as_deref() == Some(&first));
        (all_name_it && self.claimants(among) == [first.clone()]).then_some(first)
    }

    /// Datagrams each host's agent has received so far (0 if it does not
    /// answer): taken before and after a heal, it tells a network that
    /// did not come back from agents that do not recover.
    pub fn received(&self) -> Vec<f64> {
        self.hosts
            .iter()
            .map(|h| h.metric("herd_packets_received_total").unwrap_or(0.0))
            .collect()
    }

    /// What each of `among` names as primary, for messages.
    pub fn views(&self, among: &[usize]) -> Vec<(String, Option<String>)> {
        among
            .iter()
            .map(|i| (self.hosts[*i].name.clone(), self.hosts[*i].primary()))
            .collect()
    }

    fn port(&self, i: usize, state: &str) {
        must(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &self.hosts[i].port,
            state,
        ]);
    }

    /// Pulls host `i`'s cable: its switch port goes down.
    pub fn cut(&self, i: usize) {
        self.port(i, "down");
    }

    /// Plugs host `i` back in.
    pub fn reconnect(&self, i: usize) {
        self.port(i, "up");
    }

    /// Every port down at once, as when the switch reboots.
    pub fn switch_down(&self) {
        for i in 0..self.hosts.len() {
            self.port(i, "down");
        }
    }

    /// Every port up again.
    pub fn switch_up(&self) {
        for i in 0..self.hosts.len() {
            self.port(i, "up");
        }
    }

    /// Splits the hosts into `groups`, each on a switch of its own; hosts in
    /// no group stay on br0 (a group of their own).
    pub fn partition(&mut self, groups: &[&[usize]]) {
        let sw = self.switch.clone();
        while self.bridges < groups.len() {
            let bridge = format!("g{}", self.bridges);
            must(&["-n", &sw, "link", "add", &bridge, "type", "bridge"]);
            must(&["-n", &sw, "link", "set", &bridge, "up"]);
            self.bridges += 1;
        }
        for (g, group) in groups.iter().enumerate() {
            let bridge = format!("g{g}");
            for i in *group {
                must(&[
                    "-n",
                    &sw,
                    "link",
                    "set",
                    &self.hosts[*i].port,
                    "master",
                    &bridge,
                ]);
            }
        }
    }

    /// Every host back on one switch.
    pub fn heal(&self) {
        for host in &self.hosts {
            must(&[
                "-n",
                &self.switch,
                "link",
                "set",
                &host.port,
                "master",
                "br0",
            ]);
        }
    }

    /// A one-way cut: host `i` still sends but receives nothing from the
    /// wire.
    pub fn deafen(&self, i: usize) {
        let ns = &self.hosts[i].ns;
        must(&["-n", ns, "rule", "add", "pref", "100", "lookup", "local"]);
        must(&["-n", ns, "rule", "del", "pref", "0", "lookup", "local"]);
        must(&[
            "-n",
            ns,
            "rule",
            "add",
            "pref",
            "10",
            "iif",
            "eth0",
            "blackhole",
        ]);
    }

    /// Host `i` hears again.
    pub fn undeafen(&self, i: usize) {
        let ns = &self.hosts[i].ns;
        must(&["-n", ns, "rule", "del", "pref", "10"]);
        must(&["-n", ns, "rule", "add", "pref", "0", "lookup", "local"]);
        must(&["-n", ns, "rule", "del", "pref", "100"]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for host in &self.hosts {
                eprintln!(
                    "---- {} ({}, {}) log tail ----\n{}",
                    host.name,
                    host.addr,
                    host.log.display(),
                    host.log_tail(30)
                );
            }
        }
        for host in &mut self.hosts {
            host.kill();
        }
        // Hosts first (their links go with them), then the switch; kill
        // anything else still inside first, or the namespace would outlive
        // its name.
        for ns in self.namespaces.iter().rev() {
            kill_inside(ns);
            if let Err(err) = ip(&["netns", "del", ns]) {
                eprintln!("netns: could not delete {ns}: {err}");
            }
        }
    }
}
