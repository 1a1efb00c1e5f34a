//! The simulation engine: many [`Node`]s, one virtual clock, one queue of
//! what falls due, one simulated network, one seed.
//!
//! The engine steps from one due item to the next (a datagram arriving, a
//! node's wake-up, a frozen host thawing) and never sleeps. Every random
//! draw (latency, loss, node seeds) comes from one `ChaCha8Rng`, and the
//! queue breaks ties in insertion order, so a seed replays byte for byte.
//!
//! What the engine does to a host, and every [`Event`] its node emits, goes
//! into a log of [`LogEntry`]s, in order, for the observer.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::net::{Fate, NetworkModel, Partition};
use crate::core::{Command, Event, Node, NodeConfig, NodeId, Start, Time, TimerQueue, ViewPool};

/// Most datagrams a frozen node's socket buffer holds; later ones are lost,
/// as in a kernel receive buffer.
const FROZEN_BACKLOG: usize = 256;

/// What falls due in the engine's queue: one step of the engine handles one.
#[derive(Debug)]
enum Due {
    Deliver {
        to: usize,
        /// The address it was sent to: a host that moved since (a replaced
        /// machine) does not get it.
        addr: SocketAddr,
        from: SocketAddr,
        payload: Vec<u8>,
        /// Already held back by a slow host: handled as it comes.
        late: bool,
    },
    Wake(usize),
    /// A slow host's wake-up, held back: handled as it comes.
    LateWake(usize),
    Thaw(usize),
    /// A slow host's slowness ends.
    Quicken(usize),
}

/// An input that reached a frozen host, handled when it thaws.
#[derive(Debug)]
enum Queued {
    Datagram(SocketAddr, Vec<u8>),
    /// A frozen process answers no admin request and runs no check: the
    /// command waits too.
    Command(Command),
}

/// One simulated host.
#[derive(Debug)]
struct Host {
    name: Arc<str>,
    addr: SocketAddr,
    /// `None` while crashed or not started.
    node: Option<Node>,
    /// The earliest wake-up in the queue for this host.
    wake: Option<Time>,
    /// Frozen until then; datagrams (and commands) wait in `backlog`.
    frozen_until: Option<Time>,
    backlog: VecDeque<Queued>,
    /// Datagrams in `backlog`.
    backlog_datagrams: usize,
    /// Slow until then: each datagram and wake-up is handled late by up to
    /// `lag`.
    slow_until: Option<Time>,
    lag: Duration,
    /// When the last input held back is handled: a starved process still
    /// handles its inputs in order.
    late_until: Time,
    /// The claim's deadline the node last reported (a claim under a lease).
    claim_until: Option<Time>,
    /// Lives started so far (restarts use a larger identity incarnation).
    lives: u64,
}

/// What a log entry says happened to a host: its node emitted an
/// [`Event`], or the engine started, stopped, froze or thawed it.
///
/// The observer hashes each entry's `Debug` form into the run's digest, so
/// the variants' names (not the type's) are part of every recorded digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// Its node emitted this event.
    Node(Event),
    /// It started a new life with this identity incarnation.
    Started {
        /// The new life's identity incarnation.
        incarnation: u64,
    },
    /// It crashed (or was stopped after leaving).
    Stopped,
    /// It froze.
    Frozen,
    /// It thawed; what it does next follows.
    Thawed,
    /// It turned slow: it handles each input late, by up to `lag`.
    Slowed {
        /// The most an input waits.
        lag: Duration,
    },
    /// It handles its inputs on time again.
    Quickened,
    /// Its claim, under a lease, holds until then (`None`: no deadline),
    /// whether or not the node runs to notice it passing: the health
    /// endpoint answers by the deadline (`Node::claim_until`). Logged only
    /// with the lease on, when it changes.
    ClaimDeadline {
        /// The new deadline.
        until: Option<Time>,
    },
}

/// One entry of the engine's log: what happened to which host, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When.
    pub at: Time,
    /// Which host.
    pub host: usize,
    /// What.
    pub what: Logged,
}

/// A datagram as it reached a host, kept while [`Sim::capture`] is on: what
/// an attacker on the wire could record and send again.
#[derive(Debug, Clone)]
pub struct Captured {
    /// When it arrived.
    pub at: Time,
    /// The address it came from.
    pub from: SocketAddr,
    /// The host it reached.
    pub to: usize,
    /// The whole datagram.
    pub payload: Vec<u8>,
}

/// The simulation.
pub struct Sim {
    now: Time,
    queue: TimerQueue<Due>,
    hosts: Vec<Host>,
    by_addr: HashMap<SocketAddr, usize>,
    rng: ChaCha8Rng,
    config: NodeConfig,
    /// The links.
    pub network: NetworkModel,
    /// Which links are cut.
    pub partition: Partition,
    /// What happened since the log was last taken.
    log: Vec<LogEntry>,
    /// Datagrams sent (including lost ones).
    pub datagrams: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Steps taken: items handled from the queue.
    pub steps: u64,
    /// Addresses handed to replaced hosts so far.
    moved: u32,
    /// Every datagram delivered, while `Some` (off unless a test turns it
    /// on: a long run would keep every byte).
    pub capture: Option<Vec<Captured>>,
    /// The view entries warm-started nodes share (see `ViewPool`).
    view_pool: ViewPool,
}

/// The address of host `index`: 10.x.y.z, port 7946.
pub fn host_addr(index: usize) -> SocketAddr {
    let n = index as u32 + 1;
    SocketAddr::from((Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)), 7946))
}

/// The address of the `n`-th replacement machine: 172.16.0.0/12, port 7946.
fn moved_addr(n: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(0xac10_0000 | (n & 0x000f_ffff)), 7946))
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, config: NodeConfig, network: NetworkModel) -> Self {
        Self {
            now: Duration::ZERO,
            queue: TimerQueue::new(),
            hosts: Vec::new(),
            by_addr: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            network,
            partition: Partition::default(),
            log: Vec::new(),
            datagrams: 0,
            bytes: 0,
            steps: 0,
            moved: 0,
            capture: None,
            view_pool: ViewPool::default(),
        }
    }

    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Number of hosts (running or not).
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there are no hosts.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Host `index`'s node, if it runs.
    pub fn node(&self, index: usize) -> Option<&Node> {
        self.hosts.get(index)?.node.as_ref()
    }

    /// Host `index`'s name.
    pub fn name(&self, index: usize) -> &Arc<str> {
        &self.hosts[index].name
    }

    /// Host `index`'s address now.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.hosts[index].addr
    }

    /// Moves stopped host `index` to a new address, as when its machine is
    /// replaced: datagrams sent to the old address are lost from now on,
    /// including those already on their way. Returns the new address; a
    /// running host does not move.
    pub fn move_host(&mut self, index: usize) -> Option<SocketAddr> {
        if self.hosts[index].node.is_some() {
            return None;
        }
        self.moved += 1;
        let addr = moved_addr(self.moved);
        let host = &mut self.hosts[index];
        self.by_addr.remove(&host.addr);
        host.addr = addr;
        self.by_addr.insert(addr, index);
        Some(addr)
    }

    /// Whether host `index` runs and is not frozen.
    pub fn is_running(&self, index: usize) -> bool {
        self.hosts
            .get(index)
            .is_some_and(|h| h.node.is_some() && h.frozen_until.is_none())
    }

    /// Whether host `index` is frozen.
    pub fn is_frozen(&self, index: usize) -> bool {
        self.hosts
            .get(index)
            .is_some_and(|h| h.frozen_until.is_some())
    }

    /// Takes the log entries made since the last call.
    pub fn take_log(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.log)
    }

    /// Passes the log entries made since the last call to `each`, in
    /// order, reusing the buffer.
    pub fn drain_log(&mut self, mut each: impl FnMut(&LogEntry)) {
        for entry in &self.log {
            each(entry);
        }
        self.log.clear();
        if self.log.capacity() > 1 << 16 {
            self.log.shrink_to(1 << 12);
        }
    }

    /// The protocol settings every node gets.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Adds a host named `name` (not started).
    pub fn add_host(&mut self, name: &str) -> usize {
        let index = self.hosts.len();
        let addr = host_addr(index);
        self.hosts.push(Host {
            name: Arc::from(name),
            addr,
            node: None,
            wake: None,
            frozen_until: None,
            backlog: VecDeque::new(),
            backlog_datagrams: 0,
            slow_until: None,
            lag: Duration::ZERO,
            late_until: Duration::ZERO,
            claim_until: None,
            lives: 0,
        });
        self.by_addr.insert(addr, index);
        index
    }

    /// Starts host `index` already joined, with the whole cluster's state and
    /// its own seniority given (a warm start; see `Node::preload`).
    pub fn start_preloaded(
        &mut self,
        index: usize,
        alive: &[NodeId],
        records: impl IntoIterator<Item = impl Into<Arc<crate::core::HealthRecord>>>,
        seniority: u64,
    ) {
        self.start_node(index, Start::Join(Vec::new()));
        let now = self.now;
        if let Some(node) = self.hosts[index].node.as_mut() {
            node.preload(now, alive, records, seniority);
            node.share_view(&mut self.view_pool);
        }
        self.after_input(index);
    }

    /// Starts host `index` (again, after a crash: a new life). It founds a
    /// cluster when `seeds` is empty, else joins through them.
    pub fn start(&mut self, index: usize, seeds: &[usize]) {
        let start = if seeds.is_empty() {
            Start::Bootstrap
        } else {
            Start::Join(seeds.iter().map(|s| self.hosts[*s].addr).collect())
        };
        self.start_node(index, start);
        self.after_input(index);
    }

    fn start_node(&mut self, index: usize, start: Start) {
        let host = &mut self.hosts[index];
        host.lives += 1;
        // Later lives must win over earlier ones, as wall-clock start times do.
        let incarnation = self.now.as_millis() as u64 * 16 + host.lives;
        let id = match NodeId::new(&host.name, host.addr, incarnation) {
            Ok(id) => id,
            Err(err) => panic!("simulated host name {:?}: {err}", host.name),
        };
        let seed = self.rng.random();
        let mut config = self.config.clone();
        if !config.keyring.keys.is_empty() {
            // Every life draws its own nonces, as every agent start does.
            // (Drawn only with keys, so the runs without keep their
            // digests.)
            config.keyring.nonce_seed = self.rng.random();
        }
        let node = match Node::new(config, id, seed, start, self.now) {
            Ok(node) => node,
            Err(errors) => panic!("simulation config: {errors:?}"),
        };
        let host = &mut self.hosts[index];
        host.node = Some(node);
        host.frozen_until = None;
        host.backlog.clear();
        host.backlog_datagrams = 0;
        host.slow_until = None;
        host.claim_until = None;
        self.record(index, Logged::Started { incarnation });
    }

    fn record(&mut self, host: usize, what: Logged) {
        self.log.push(LogEntry {
            at: self.now,
            host,
            what,
        });
    }

    /// Kills host `index` at once, as SIGKILL or a power cut does.
    pub fn crash(&mut self, index: usize) {
        let host = &mut self.hosts[index];
        if host.node.take().is_some() {
            host.frozen_until = None;
            host.backlog.clear();
            host.backlog_datagrams = 0;
            host.slow_until = None;
            host.claim_until = None;
            self.record(index, Logged::Stopped);
        }
    }

    /// Freezes host `index` for `duration` (a stalled VM, a long GC pause):
    /// it neither runs timers nor reads datagrams until then.
    pub fn freeze(&mut self, index: usize, duration: Duration) {
        let until = self.now + duration;
        let host = &mut self.hosts[index];
        if host.node.is_none() {
            return;
        }
        let was_frozen = host.frozen_until.is_some();
        host.frozen_until = Some(host.frozen_until.map_or(until, |t| t.max(until)));
        self.queue.push(until, Due::Thaw(index));
        if !was_frozen {
            self.record(index, Logged::Frozen);
        }
    }

    /// Makes host `index` slow for `duration` (a starved CPU, Lifeguard's
    /// case): it handles each datagram and wake-up late by a random delay
    /// up to `lag`, in the order they came, and sends what they cause when
    /// it handles them.
    pub fn slow(&mut self, index: usize, duration: Duration, lag: Duration) {
        let until = self.now + duration;
        let host = &mut self.hosts[index];
        if host.node.is_none() || lag.is_zero() {
            return;
        }
        let was_slow = host.slow_until.is_some();
        host.slow_until = Some(host.slow_until.map_or(until, |t| t.max(until)));
        host.lag = host.lag.max(lag);
        self.queue.push(until, Due::Quicken(index));
        if !was_slow {
            self.record(index, Logged::Slowed { lag });
        }
    }

    /// When a slow host `index` handles an input that reached it now, if it
    /// is slow.
    fn held_until(&mut self, index: usize) -> Option<Time> {
        let now = self.now;
        let host = &self.hosts[index];
        host.slow_until.filter(|until| now < *until)?;
        let lag = u64::try_from(host.lag.as_nanos()).unwrap_or(u64::MAX);
        let wait = Duration::from_nanos(self.rng.random_range(0..=lag));
        let host = &mut self.hosts[index];
        let at = (now + wait).max(host.late_until);
        host.late_until = at;
        Some(at)
    }

    /// Gives host `index` a command; a frozen host handles it when it
    /// thaws.
    pub fn command(&mut self, index: usize, command: Command) {
        let now = self.now;
        let host = &mut self.hosts[index];
        if host.node.is_some() && host.frozen_until.is_some() {
            host.backlog.push_back(Queued::Command(command));
            return;
        }
        if let Some(node) = self.hosts[index].node.as_mut() {
            // The simulator only gives commands that apply; a refusal would
            // show as a missing effect in the report.
            if let Err(err) = node.handle_command(now, command) {
                tracing::debug!(
                    error = err.to_string().as_str(),
                    "simulated command refused"
                );
            }
            self.after_input(index);
        }
    }

    /// Runs until virtual time `until`.
    pub fn run_until(&mut self, until: Time) {
        while let Some(at) = self.queue.next_deadline() {
            if at > until {
                break;
            }
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs until `done` holds (checked after every step) or `deadline`
    /// passes; returns whether `done` held.
    pub fn run_until_condition(
        &mut self,
        deadline: Time,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> bool {
        loop {
            if done(self) {
                return true;
            }
            match self.queue.next_deadline() {
                Some(at) if at <= deadline => self.step(),
                _ => {
                    self.now = self.now.max(deadline);
                    return done(self);
                }
            }
        }
    }

    /// Handles the next due item.
    fn step(&mut self) {
        let Some((at, due)) = self.queue.pop() else {
            return;
        };
        self.now = self.now.max(at);
        self.steps += 1;
        // `HERD_LOG=herd=debug herd simulate ...` then says which host and
        // virtual time each of the core's log lines belongs to.
        let host = match &due {
            Due::Deliver { to, .. } => *to,
            Due::Wake(index) | Due::LateWake(index) | Due::Thaw(index) | Due::Quicken(index) => {
                *index
            }
        };
        let _span = tracing::debug_span!("sim", t = self.now.as_secs_f64(), host).entered();
        match due {
            Due::Deliver {
                to,
                addr,
                from,
                payload,
                late,
            } => {
                if !late
                    && self.hosts[to].frozen_until.is_none()
                    && let Some(held) = self.held_until(to)
                {
                    let late = Due::Deliver {
                        to,
                        addr,
                        from,
                        payload,
                        late: true,
                    };
                    self.queue.push(held, late);
                    return;
                }
                self.deliver(to, addr, from, payload);
            }
            Due::Quicken(index) => {
                let now = self.now;
                let host = &mut self.hosts[index];
                if host.slow_until.is_some_and(|t| t <= now) {
                    host.slow_until = None;
                    host.lag = Duration::ZERO;
                    self.record(index, Logged::Quickened);
                }
            }
            Due::Wake(index) | Due::LateWake(index) => {
                let now = self.now;
                let late = matches!(due, Due::LateWake(_));
                let host = &mut self.hosts[index];
                if !late && host.wake == Some(at) {
                    host.wake = None;
                }
                if host.frozen_until.is_some() {
                    return;
                }
                if !late
                    && host.node.is_some()
                    && let Some(held) = self.held_until(index)
                {
                    self.queue.push(held, Due::LateWake(index));
                    return;
                }
                let host = &mut self.hosts[index];
                if let Some(node) = host.node.as_mut() {
                    if node.poll_timeout().is_some_and(|t| t <= now) {
                        node.handle_timeout(now);
                    }
                    self.after_input(index);
                }
            }
            Due::Thaw(index) => {
                let now = self.now;
                let host = &mut self.hosts[index];
                if host.frozen_until.is_some_and(|t| t <= now) {
                    host.frozen_until = None;
                    let backlog = std::mem::take(&mut host.backlog);
                    host.backlog_datagrams = 0;
                    self.log.push(LogEntry {
                        at: now,
                        host: index,
                        what: Logged::Thawed,
                    });
                    let host = &mut self.hosts[index];
                    if let Some(node) = host.node.as_mut() {
                        for queued in backlog {
                            match queued {
                                Queued::Datagram(from, payload) => {
                                    node.handle_packet(now, from, &payload);
                                }
                                Queued::Command(command) => {
                                    if let Err(err) = node.handle_command(now, command) {
                                        tracing::debug!(
                                            error = err.to_string().as_str(),
                                            "simulated command refused"
                                        );
                                    }
                                }
                            }
                        }
                        node.handle_timeout(now);
                    }
                    self.after_input(index);
                }
            }
        }
    }

    fn deliver(&mut self, to: usize, addr: SocketAddr, from: SocketAddr, payload: Vec<u8>) {
        let now = self.now;
        let host = &mut self.hosts[to];
        if host.node.is_none() || host.addr != addr {
            return;
        }
        if host.frozen_until.is_some() {
            if host.backlog_datagrams < FROZEN_BACKLOG {
                host.backlog_datagrams += 1;
                host.backlog.push_back(Queued::Datagram(from, payload));
            }
            return;
        }
        if let Some(node) = host.node.as_mut() {
            node.handle_packet(now, from, &payload);
        }
        if let Some(capture) = &mut self.capture {
            capture.push(Captured {
                at: now,
                from,
                to,
                payload,
            });
        }
        self.after_input(to);
    }

    /// Hands `payload` to host `to` now, as if it came from `from`: a
    /// datagram forged or replayed by someone on the wire.
    pub fn inject(&mut self, to: usize, from: SocketAddr, payload: &[u8]) {
        let now = self.now;
        let host = &mut self.hosts[to];
        if host.frozen_until.is_some() {
            return;
        }
        if let Some(node) = host.node.as_mut() {
            node.handle_packet(now, from, payload);
            self.after_input(to);
        }
    }

    /// Drains a node's outputs and schedules its next wake-up.
    fn after_input(&mut self, index: usize) {
        let now = self.now;
        let from = self.hosts[index].addr;
        let Some(node) = self.hosts[index].node.as_mut() else {
            return;
        };
        // The driver contract (`core::driver`): nothing here publishes, the
        // datagrams go into the network, the events into the log. The wake
        // is queued before the deliveries, as it always was: the queue
        // breaks ties in insertion order, and every recorded digest with it.
        let outputs = node.take_outputs();
        let claim_until = node.claim_until();
        for event in outputs.events {
            tracing::trace!(?event, "node event");
            self.log.push(LogEntry {
                at: now,
                host: index,
                what: Logged::Node(event),
            });
        }
        // After the events: the claim they start or end is known by then.
        let host = &mut self.hosts[index];
        if host.claim_until != claim_until {
            host.claim_until = claim_until;
            self.log.push(LogEntry {
                at: now,
                host: index,
                what: Logged::ClaimDeadline { until: claim_until },
            });
        }
        if let Some(next) = outputs.wake {
            // A deadline already past is due now: recorded as queued, or
            // the wake that serves it would not be recognised when it comes
            // and the host would never wake again.
            let next = next.max(now);
            let host = &mut self.hosts[index];
            if host.wake.is_none_or(|w| next < w) {
                host.wake = Some(next);
                self.queue.push(next, Due::Wake(index));
            }
        }
        for transmit in outputs.transmits {
            self.datagrams += 1;
            self.bytes += transmit.payload.len() as u64;
            let Some(&to) = self.by_addr.get(&transmit.to) else {
                continue;
            };
            if !self.partition.allows(index, to) {
                continue;
            }
            if let Fate::Arrives(delays) = self.network.fate(&mut self.rng) {
                let mut payload = Some(transmit.payload);
                let copies = delays.len();
                for (i, delay) in delays.into_iter().enumerate() {
                    let payload = if i + 1 == copies {
                        payload.take().unwrap_or_default()
                    } else {
                        payload.clone().unwrap_or_default()
                    };
                    self.queue.push(
                        now + delay,
                        Due::Deliver {
                            to,
                            addr: transmit.to,
                            from,
                            payload,
                            late: false,
                        },
                    );
                }
            }
        }
    }
}
