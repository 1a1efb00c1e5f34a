//! The driver contract: what a driver (the agent, the simulator, an
//! embedder) does with a node, written once, beside the API, and called by
//! every driver.
//!
//! After every input (`handle_packet`, `handle_timeout`, `handle_command`)
//! the driver calls [`Node::take_outputs`](super::Node::take_outputs) and then, in this order:
//!
//! 1. **publishes** the node's [`Snapshot`](super::Snapshot) if
//!    [`Outputs::changed`] (what HTTP answers, `/health/primary` above all):
//!    what this node answers changes before any peer can hear of the change
//!    and act on it, so a hand-over never has two nodes answering 200 at
//!    once;
//! 2. **sends** [`Outputs::transmits`], in order;
//! 3. **delivers** [`Outputs::events`] (logs, hooks, observers): a hook
//!    hears of a claim only once the snapshot shows it;
//! 4. **wakes** the node with `handle_timeout` at [`Outputs::wake`].
//!
//! A driver that publishes may give the node an input of its own (the
//! agent takes the role away when it cannot persist a term): it then takes
//! the outputs again and merges them, before sending anything.
//!
//! A graceful stop is a [`Shutdown`]: drain, leave once the drain time is
//! over, take the outputs a last time (the leave's datagrams), stop.

use std::time::Duration;

use super::api::{Command, Event, Transmit};
use super::timer::Time;

/// Everything a node produced since the outputs were last taken.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use = "a node's outputs must be published, sent and delivered (see core::driver)"]
pub struct Outputs {
    /// The snapshot changed since the outputs were last taken: publish it
    /// before sending.
    pub changed: bool,
    /// Datagrams to send, in order.
    pub transmits: Vec<Transmit>,
    /// Events to deliver, in order.
    pub events: Vec<Event>,
    /// When to call `handle_timeout` next (`None`: no timer set).
    pub wake: Option<Time>,
}

impl Outputs {
    /// Adds what a later take produced (see the module doc on a driver's
    /// own input while publishing).
    pub fn merge(&mut self, later: Outputs) {
        self.changed |= later.changed;
        self.transmits.extend(later.transmits);
        self.events.extend(later.events);
        self.wake = later.wake;
    }
}

/// A graceful stop, as every driver runs it: drain first (`/health` 503,
/// the primary role hands over), leave once the balancer has had the drain
/// time to stop sending, then take the outputs a last time and stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a shutdown ends with `leave`"]
pub struct Shutdown {
    leave_at: Time,
}

impl Shutdown {
    /// A stop that begins at `start` and leaves `drain_time` later.
    pub fn new(start: Time, drain_time: Duration) -> Self {
        Self {
            leave_at: start + drain_time,
        }
    }

    /// The command that begins it, given at its start.
    pub fn drain(&self) -> Command {
        Command::Drain
    }

    /// When the node leaves.
    pub fn leave_at(&self) -> Time {
        self.leave_at
    }

    /// Whether the drain time is over at `now`.
    pub fn is_due(&self, now: Time) -> bool {
        now >= self.leave_at
    }

    /// Ends the drain (when due, or at once on a second signal): the
    /// command to give the node; the driver then takes the outputs a last
    /// time, sends them, and stops.
    pub fn leave(self) -> Command {
        Command::Leave
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::core::{Node, NodeConfig, NodeId, Phase, Start};

    fn node(port: u16, start: Start) -> Node {
        let id = NodeId::new(
            &format!("n{port}"),
            SocketAddr::from(([198, 18, 0, 1], port)),
            1,
        )
        .unwrap();
        Node::new(
            NodeConfig::default(),
            id,
            u64::from(port),
            start,
            Duration::ZERO,
        )
        .unwrap()
    }

    #[test]
    fn outputs_say_when_the_snapshot_changed() {
        let mut founder = node(1, Start::Bootstrap);
        let first = founder.take_outputs();
        assert!(first.changed);
        assert!(first.events.contains(&Event::Joined { via: None }));
        assert!(first.wake.is_some());
        let again = founder.take_outputs();
        assert!(!again.changed);
        assert!(again.events.is_empty() && again.transmits.is_empty());
    }

    #[test]
    fn a_shutdown_drains_then_leaves_after_the_drain_time() {
        let mut founder = node(1, Start::Bootstrap);
        let _ = founder.take_outputs();
        let now = Duration::from_secs(1);
        let shutdown = Shutdown::new(now, Duration::from_secs(5));
        founder.handle_command(now, shutdown.drain()).unwrap();
        assert!(founder.record().draining);
        assert!(founder.take_outputs().changed);
        assert!(!shutdown.is_due(now + Duration::from_secs(4)));
        assert!(shutdown.is_due(shutdown.leave_at()));
        founder
            .handle_command(shutdown.leave_at(), shutdown.leave())
            .unwrap();
        assert_eq!(founder.phase(), Phase::Left);
        assert!(founder.take_outputs().events.contains(&Event::Left));
    }

    #[test]
    fn a_joiner_sends_its_request_as_an_output() {
        let seed = SocketAddr::from(([198, 18, 0, 1], 2));
        let mut joiner = node(3, Start::Join(vec![seed]));
        let outputs = joiner.take_outputs();
        assert_eq!(outputs.transmits.len(), 1);
        assert_eq!(outputs.transmits[0].to, seed);
        assert!(outputs.wake.is_some());
    }
}
