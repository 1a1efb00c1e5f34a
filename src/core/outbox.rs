//! foca's `Runtime`: where foca's outputs land until the node drains them.
//!
//! Datagrams are sealed in their envelope as foca hands them over, so no
//! intermediate buffer is kept; of foca's notifications only the ones the
//! node acts on are kept, as small [`Note`]s.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use foca::{Notification, Runtime, Timer};

use super::api::{MessageKind, Transmit};
use super::codec::{self, PayloadKind};
use super::identity::{MemberKey, NodeId};
use super::keyring::Sealer;

/// What a foca notification means to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// Membership may have changed: rescan foca's member list.
    Membership,
    /// Our probe of this member failed: it is about to be suspected.
    ProbeFailed(NodeId),
    /// No other member is reachable.
    Idle,
    /// foca renewed our identity after the cluster declared it down.
    Rejoin(NodeId),
    /// Our identity is down and cannot renew (only after leaving).
    Defunct,
}

/// foca's outputs, waiting for the node.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// The cluster name for envelopes.
    pub(crate) cluster: String,
    /// Whether this node vouches for its view (the envelope says so).
    pub(crate) vouching: bool,
    /// The highest primary term this node knows (the envelope says so).
    pub(crate) term: u64,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) timers: Vec<(Duration, Timer<NodeId>)>,
    pub(crate) notes: Vec<Note>,
    /// Seals every datagram, with a keyring (see [`super::keyring`]).
    pub(crate) sealer: Option<Sealer>,
    /// While foca handles a datagram: its sender's key and the address it
    /// came from. foca answers the address written in the packet; herd
    /// answers where the packet came from, so a forged sender address
    /// does not make this node send to a third party.
    pub(crate) reply_to: Option<(MemberKey, SocketAddr)>,
    /// What foca sent and read, for the node's counters.
    pub(crate) wire: Wire,
    scratch: Vec<u8>,
}

/// foca's traffic as its `DataSent` and `DataReceived` notifications show
/// it: counts by kind, the probes and answers the node times, and our own
/// SWIM incarnation (it goes up when foca refutes a suspicion of us).
#[derive(Debug, Default)]
pub(crate) struct Wire {
    pub(crate) sent: [u64; MessageKind::ALL.len()],
    pub(crate) received: [u64; MessageKind::ALL.len()],
    /// Direct probes sent since the node last looked: to whom, which.
    pub(crate) pings: Vec<(MemberKey, u8)>,
    /// Their answers received since the node last looked.
    pub(crate) acks: Vec<(MemberKey, u8)>,
    /// The SWIM incarnation our last datagram carried (`None` after a
    /// rejoin: a new identity starts again).
    pub(crate) incarnation: Option<foca::Incarnation>,
    pub(crate) refutations: u64,
}

/// More probes in flight than this are not timed (foca sends one per
/// probe period; the rest is a burst the counters need not follow).
const TIMED_PROBES: usize = 64;

impl Outbox {
    pub(crate) fn new(cluster: String, sealer: Option<Sealer>) -> Self {
        Self {
            cluster,
            vouching: false,
            term: 0,
            transmits: VecDeque::new(),
            timers: Vec::new(),
            notes: Vec::new(),
            sealer,
            reply_to: None,
            wire: Wire::default(),
            scratch: Vec::with_capacity(codec::MAX_DATAGRAM),
        }
    }

    /// Seals and queues a datagram of our own making.
    pub(crate) fn push(&mut self, to: SocketAddr, kind: PayloadKind, payload: &[u8]) {
        codec::seal(
            &mut self.scratch,
            &self.cluster,
            kind,
            codec::Sender {
                vouching: self.vouching,
                term: self.term,
            },
            payload,
            self.sealer.as_mut(),
        );
        self.transmits.push_back(Transmit {
            to,
            payload: self.scratch.clone(),
        });
    }
}

impl Runtime<NodeId> for Outbox {
    fn notify(&mut self, notification: Notification<'_, NodeId>) {
        let note = match notification {
            Notification::MemberUp(_)
            | Notification::MemberDown(_)
            | Notification::Rename(_, _)
            | Notification::Active => Note::Membership,
            Notification::ProbeFailed(_, id) => Note::ProbeFailed(id.clone()),
            Notification::Idle => Note::Idle,
            Notification::Rejoin(id) => {
                // A new identity counts its incarnation from scratch.
                self.wire.incarnation = None;
                Note::Rejoin(id.clone())
            }
            Notification::Defunct => Note::Defunct,
            Notification::DataSent(header) => {
                self.wire.sent[MessageKind::of(&header.message) as usize] += 1;
                if let foca::Message::Ping(probe) = header.message
                    && self.wire.pings.len() < TIMED_PROBES
                {
                    self.wire.pings.push((header.dst.key(), probe));
                }
                let incarnation = header.src_incarnation;
                if let Some(before) = self.wire.incarnation
                    && incarnation > before
                {
                    self.wire.refutations += u64::from(incarnation - before);
                }
                self.wire.incarnation = Some(incarnation);
                return;
            }
            Notification::DataReceived(header) => {
                self.wire.received[MessageKind::of(&header.message) as usize] += 1;
                if let foca::Message::Ack(probe) = header.message
                    && self.wire.acks.len() < TIMED_PROBES
                {
                    self.wire.acks.push((header.src.key(), probe));
                }
                return;
            }
        };
        if note != Note::Membership || self.notes.last() != Some(&Note::Membership) {
            self.notes.push(note);
        }
    }

    fn send_to(&mut self, to: NodeId, data: &[u8]) {
        let addr = match self.reply_to {
            Some((sender, from)) if sender == to.key() => from,
            _ => to.socket_addr(),
        };
        self.push(addr, PayloadKind::Foca, data);
    }

    fn submit_after(&mut self, event: Timer<NodeId>, after: Duration) {
        self.timers.push((after, event));
    }
}
