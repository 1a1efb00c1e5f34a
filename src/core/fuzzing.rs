//! Entry points for fuzzing and for the property tests of hostile input
//! (`fuzz/` and `tests/hostile_input.rs`). Hidden from the documentation:
//! not an API, and it may change with every version.
//!
//! The wire's decoders sit behind the envelope and, with keys, behind the
//! AEAD: random bytes never reach them. A [`Target`] is a node in a small
//! cluster state together with what it takes to reach those decoders: it
//! wraps arbitrary payload bytes in a valid envelope, sealed with the
//! node's key when the node has one, and feeds them to the node. Every
//! delivery is checked against the properties below, which fail as a
//! [`Violation`] (the fuzz targets panic on it, the tests assert on it):
//!
//! - a datagram that does not open changes nothing: the snapshot is the
//!   same (members, states, primary, terms, health), the timers are the
//!   same, nothing is sent and no event is raised; the drop is counted
//!   once, under the reason the envelope gives;
//! - a datagram that opens is answered with at most [`MAX_ANSWERS`]
//!   datagrams, none larger than the largest datagram herd accepts;
//! - a payload that does not decode is counted as malformed; one that
//!   decodes encodes again into the same message;
//! - the snapshot stays consistent: the node is in it once, and the primary
//!   it names is a member.
//!
//! Nothing panics on the way (a panic is what the fuzzer reports).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use foca::Codec;

use super::api::{NodeStats, Phase, Snapshot, Start};
use super::codec::{self, Control, DropReason, PayloadKind, Sender, SyncPart, WantedParts};
use super::config::NodeConfig;
use super::health::{CheckStatus, CheckSummary, HealthRecord};
use super::identity::NodeId;
use super::join::MAX_WANTED;
use super::keyring::{Key, Keyring, Sealer};
use super::node::Node;
use super::timer::Time;

/// The cluster every target belongs to.
pub const CLUSTER: &str = "herd";

/// Members besides the target node in a joined target's view.
pub const PEERS: usize = 4;

/// Most datagrams a node sends in answer to one datagram: a state sync of
/// at most `MAX_WANTED` (300) slices, and a few messages to each member
/// (notices, a roll call, foca's answer and its gossip).
pub const MAX_ANSWERS: usize = MAX_WANTED + 8 * (PEERS + 2) + 16;

/// Most timer expiries [`Target::run_timers`] handles.
const MAX_TIMER_STEPS: usize = 500;

/// A property of the node that an input broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

fn fail(message: String) -> Result<(), Violation> {
    Err(Violation(message))
}

/// Which node a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// A member of a cluster of `PEERS + 1`, all alive and admitted, with
    /// every record, and a primary.
    Joined,
    /// A node asking a seed (the first peer) to take it.
    Joining,
    /// A node that founded a cluster and is alone in it.
    Alone,
}

/// What a payload is, for [`envelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SWIM message for foca.
    Foca,
    /// A herd control message.
    Control,
}

impl Kind {
    fn wire(self) -> PayloadKind {
        match self {
            Self::Foca => PayloadKind::Foca,
            Self::Control => PayloadKind::Control,
        }
    }
}

/// A keyring of one key, every byte `byte`, that seals and requires.
pub fn keyring(byte: u8) -> Keyring {
    Keyring {
        keys: vec![Key::from_bytes([byte; 32])],
        seal: true,
        require: true,
        nonce_seed: [byte; 32],
    }
}

/// A datagram of cluster [`CLUSTER`] around `payload`: sealed with the
/// first key of `keyring` if it seals, plain otherwise.
pub fn envelope(
    kind: Kind,
    vouching: bool,
    term: u64,
    payload: &[u8],
    keyring: Option<&Keyring>,
) -> Vec<u8> {
    // The sender's nonces must not repeat the receiver's: another seed.
    let mut sealer = keyring.map(|keyring| {
        Sealer::new(&Keyring {
            nonce_seed: [0xa5; 32],
            ..keyring.clone()
        })
    });
    let mut out = Vec::new();
    codec::seal(
        &mut out,
        CLUSTER,
        kind.wire(),
        Sender { vouching, term },
        payload,
        sealer.as_mut(),
    );
    out
}

/// Bytes of a [`CLUSTER`] envelope before the part a seal covers (the
/// associated data): a flip at or past this offset of a sealed datagram
/// breaks the tag.
pub fn sealed_from() -> usize {
    6 + CLUSTER.len()
}

/// Why `datagram` would be dropped at the envelope by a node holding
/// `keyring` (`None`: it opens).
pub fn drop_reason(datagram: &[u8], keyring: Option<&Keyring>) -> Option<DropReason> {
    let sealer = keyring.filter(|k| !k.keys.is_empty()).map(Sealer::new);
    let mut plain = Vec::new();
    codec::open(datagram, CLUSTER, sealer.as_ref(), &mut plain).err()
}

/// A foca message in a datagram of cluster [`CLUSTER`]: what
/// [`encode_foca_datagram`] writes and [`decode_foca_datagram`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FocaDatagram {
    /// The envelope's vouching bit.
    pub vouching: bool,
    /// The envelope's term.
    pub term: u64,
    /// foca's header.
    pub header: foca::Header<NodeId>,
    /// Membership updates (only messages that piggyback carry them; a
    /// ping's may be empty, and its count is written anyway).
    pub updates: Vec<foca::Member<NodeId>>,
    /// Health records riding along, as foca's custom broadcasts.
    pub records: Vec<HealthRecord>,
}

/// For benchmarks and fuzzers: `message` as a node sends it, through the
/// wire codec (foca's payload layout, then the envelope, sealed with the
/// first key of `keyring` if it seals). `TooLarge` if the payload does not
/// fit the room foca has in a datagram, `Malformed` if something does not
/// encode or the message carries what foca never puts in it.
pub fn encode_foca_datagram(
    message: &FocaDatagram,
    keyring: Option<&Keyring>,
) -> Result<Vec<u8>, DropReason> {
    use foca::Message as M;
    let kind = &message.header.message;
    // foca's rules (`Message::needs_piggyback`, `allow_custom_broadcasts`).
    let piggybacks = !matches!(kind, M::Announce | M::TurnUndead | M::Broadcast);
    let broadcasts = !matches!(kind, M::Announce | M::TurnUndead);
    if (!piggybacks && !message.updates.is_empty()) || (!broadcasts && !message.records.is_empty())
    {
        return Err(DropReason::Malformed);
    }
    let mut codec = codec::WireCodec::default();
    let mut payload = Vec::new();
    codec
        .encode_header(&message.header, &mut payload)
        .map_err(|_| DropReason::Malformed)?;
    if piggybacks {
        let count = u16::try_from(message.updates.len()).map_err(|_| DropReason::TooLarge)?;
        payload.extend_from_slice(&count.to_be_bytes());
        for member in &message.updates {
            codec
                .encode_member(member, &mut payload)
                .map_err(|_| DropReason::Malformed)?;
        }
    }
    for record in &message.records {
        let item = codec::encode_record(record).map_err(|_| DropReason::Malformed)?;
        let len = u16::try_from(item.len()).map_err(|_| DropReason::TooLarge)?;
        payload.extend_from_slice(&len.to_be_bytes());
        payload.extend_from_slice(&item);
    }
    // foca's `max_packet_size` (see `NodeConfig`).
    if payload.len() > codec::MAX_DATAGRAM - codec::ENVELOPE_RESERVE {
        return Err(DropReason::TooLarge);
    }
    Ok(envelope(
        Kind::Foca,
        message.vouching,
        message.term,
        &payload,
        keyring,
    ))
}

/// For benchmarks and fuzzers: a foca datagram of cluster [`CLUSTER`] read
/// back through the wire codec, opened with `keyring` as
/// [`drop_reason`] opens it; the payload is read as foca reads it, the
/// records as the node's broadcast handler does. Read as written: no
/// doubt of downs and no member cap (the node's rules of trust). The
/// envelope's reason if it does not open, `Malformed` if it holds no
/// foca message or the payload does not decode.
pub fn decode_foca_datagram(
    datagram: &[u8],
    keyring: Option<&Keyring>,
) -> Result<FocaDatagram, DropReason> {
    let sealer = keyring.filter(|k| !k.keys.is_empty()).map(Sealer::new);
    let mut plain = Vec::new();
    let opened = codec::open(datagram, CLUSTER, sealer.as_ref(), &mut plain)?;
    if opened.kind != PayloadKind::Foca {
        return Err(DropReason::Malformed);
    }
    let mut codec = codec::WireCodec::default();
    let mut rest = opened.payload;
    let header = codec
        .decode_header(&mut rest)
        .map_err(|_| DropReason::Malformed)?;
    // foca's `handle_data`: one trailing byte, or anything after an
    // announce, is malformed; a count follows when two bytes do.
    if rest.len() == 1 || (header.message == foca::Message::Announce && !rest.is_empty()) {
        return Err(DropReason::Malformed);
    }
    let mut updates = Vec::new();
    if rest.len() >= 2 && header.message != foca::Message::Broadcast {
        let count = u16::from_be_bytes([rest[0], rest[1]]);
        rest = &rest[2..];
        for _ in 0..count {
            let member = codec
                .decode_member(&mut rest)
                .map_err(|_| DropReason::Malformed)?;
            updates.push(member);
        }
    }
    // foca's `handle_custom_broadcasts`.
    if !rest.is_empty() && rest.len() < 3 {
        return Err(DropReason::Malformed);
    }
    let mut records = Vec::new();
    while rest.len() > 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        if len == 0 || rest.len() < len {
            return Err(DropReason::Malformed);
        }
        let (item, tail) = rest.split_at(len);
        records.push(codec::decode_record(item).map_err(|_| DropReason::Malformed)?);
        rest = tail;
    }
    Ok(FocaDatagram {
        vouching: opened.sender_vouches,
        term: opened.term,
        header,
        updates,
        records,
    })
}

/// What one delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Why the envelope was refused (`None`: it opened).
    pub dropped: Option<DropReason>,
    /// Datagrams sent in answer.
    pub answers: usize,
    /// Their bytes.
    pub answer_bytes: usize,
    /// Events raised.
    pub events: usize,
}

/// A node to feed hostile input to, and the peers it knows.
pub struct Target {
    /// The node under test.
    pub node: Node,
    /// The other members (the first is the seed of a joining target).
    pub peers: Vec<NodeId>,
    /// The node's keyring (the one test datagrams are sealed with).
    pub keyring: Keyring,
    /// The time of the next input.
    pub now: Time,
    /// The request number of a joining target's join request (0: none
    /// seen).
    pub join_request: u64,
    /// The cookie a joined target gave the second peer's address when that
    /// peer asked for its state (`None`: no sync was asked for): a request
    /// from there that echoes it is answered in full.
    pub cookie: Option<u64>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("node", &self.node)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

fn addr(host: u8) -> SocketAddr {
    SocketAddr::from(([198, 18, 0, host], 7946))
}

fn id(name: &str, host: u8, incarnation: u64) -> NodeId {
    match NodeId::new(name, addr(host), incarnation) {
        Ok(id) => id,
        Err(err) => unreachable!("fixed name {name:?}: {err}"),
    }
}

/// An address no member has.
pub fn stranger() -> SocketAddr {
    addr(99)
}

impl Target {
    /// A node set up as `setup` says, holding `keyring` (none: plaintext),
    /// its start-up outputs taken.
    pub fn new(setup: Setup, keyring: Keyring) -> Self {
        let cfg = NodeConfig {
            cluster: CLUSTER.to_owned(),
            keyring: keyring.clone(),
            ..NodeConfig::default()
        };
        let peers: Vec<NodeId> = (0..PEERS)
            .map(|i| id(&format!("peer-{i}"), 2 + i as u8, 1))
            .collect();
        let start = match setup {
            Setup::Joining => Start::Join(vec![peers[0].socket_addr()]),
            Setup::Joined | Setup::Alone => Start::Bootstrap,
        };
        let now = Duration::from_secs(1);
        let node = match Node::new(cfg, id("target", 1, 1), 7, start, now) {
            Ok(node) => node,
            Err(errors) => unreachable!("the fixed configuration is valid: {errors:?}"),
        };
        let mut target = Self {
            node,
            peers,
            keyring,
            now,
            join_request: 0,
            cookie: None,
        };
        match setup {
            Setup::Joined => {
                // The first peer is the eldest (the primary), the target
                // next, then the other peers.
                let founding = target.node.record().founding;
                let records: Vec<HealthRecord> = target
                    .peers
                    .iter()
                    .enumerate()
                    .map(|(i, peer)| {
                        let mut record = peer_record(peer, founding);
                        record.seniority = Some(if i == 0 { 0 } else { i as u64 + 1 });
                        record
                    })
                    .collect();
                let peers = target.peers.clone();
                target.node.preload(now, &peers, records, 1);
                target.cookie = target.ask_for_state();
            }
            Setup::Joining => target.join_request = target.await_join_request(),
            Setup::Alone => {}
        }
        let _ = target.node.take_outputs();
        target.now += Duration::from_millis(1);
        target
    }

    /// Runs the joiner until it asks its seed, and reads the request number.
    fn await_join_request(&mut self) -> u64 {
        for _ in 0..16 {
            let outputs = self.node.take_outputs();
            for transmit in &outputs.transmits {
                if let Some(Control::JoinRequest { request, .. }) =
                    self.read_control(&transmit.payload)
                {
                    return request;
                }
            }
            match outputs.wake {
                Some(wake) => {
                    self.now = self.now.max(wake);
                    self.node.handle_timeout(self.now);
                }
                None => break,
            }
        }
        0
    }

    /// The second peer asks for more of the target's state than fits the
    /// allowance of a request from an address that has not proven itself
    /// (a multiple of the request's size), and the cookie that comes back
    /// with what fits is kept: the largest answers need it.
    fn ask_for_state(&mut self) -> Option<u64> {
        let ask = Control::JoinRequest {
            joiner: self.peers[1].clone(),
            request: 1,
            // Sixty-four slices (most of them empty) do not fit three times
            // this request's bytes.
            wanted: Some(WantedParts {
                total: 64,
                parts: (0..64).collect(),
            }),
            cookie: None,
            padding: Vec::new(),
        };
        let payload = codec::encode_control(&ask).ok()?;
        let datagram = self.envelope(Kind::Control, true, 0, &payload);
        let from = self.sender(1);
        self.node.handle_packet(self.now, from, &datagram);
        let outputs = self.node.take_outputs();
        outputs
            .transmits
            .iter()
            .filter(|t| t.to == from)
            .find_map(|t| match self.read_control(&t.payload) {
                Some(Control::Cookie { cookie, .. }) => Some(cookie),
                Some(Control::SyncPart(part)) => part.cookie,
                _ => None,
            })
    }

    /// A control message the node sent, opened with its own keyring.
    fn read_control(&self, datagram: &[u8]) -> Option<Control> {
        let mut plain = Vec::new();
        let sealer = self.sealer();
        let opened = codec::open(datagram, CLUSTER, sealer.as_ref(), &mut plain).ok()?;
        (opened.kind == PayloadKind::Control)
            .then(|| codec::decode_control(opened.payload).ok())
            .flatten()
    }

    fn sealer(&self) -> Option<Sealer> {
        (!self.keyring.keys.is_empty()).then(|| Sealer::new(&self.keyring))
    }

    /// The address of peer `index`, or of a stranger past the peers.
    pub fn sender(&self, index: usize) -> SocketAddr {
        match self.peers.get(index) {
            Some(peer) => peer.socket_addr(),
            None => stranger(),
        }
    }

    /// `payload` in an envelope this node opens: sealed with its key when
    /// it has one.
    pub fn envelope(&self, kind: Kind, vouching: bool, term: u64, payload: &[u8]) -> Vec<u8> {
        let keyring = Some(&self.keyring).filter(|k| k.seals());
        envelope(kind, vouching, term, payload, keyring)
    }

    /// Feeds `datagram` from `from` to the node and checks the properties
    /// (see the module doc).
    pub fn deliver(&mut self, from: SocketAddr, datagram: &[u8]) -> Result<Delivery, Violation> {
        let expected = drop_reason(datagram, Some(&self.keyring));
        let before = self.node.snapshot();
        let wake_before = self.node.poll_timeout();
        self.node.handle_packet(self.now, from, datagram);
        self.now += Duration::from_millis(1);
        let outputs = self.node.take_outputs();
        let after = self.node.snapshot();
        let delivery = Delivery {
            dropped: expected,
            answers: outputs.transmits.len(),
            answer_bytes: outputs.transmits.iter().map(|t| t.payload.len()).sum(),
            events: outputs.events.len(),
        };
        consistent(&after)?;
        for transmit in &outputs.transmits {
            if transmit.payload.len() > codec::MAX_DATAGRAM {
                fail(format!(
                    "a datagram of {} bytes was sent (most is {})",
                    transmit.payload.len(),
                    codec::MAX_DATAGRAM
                ))?;
            }
        }
        let Some(reason) = expected else {
            if outputs.transmits.len() > MAX_ANSWERS {
                fail(format!(
                    "{} datagrams sent in answer to one (most is {MAX_ANSWERS})",
                    outputs.transmits.len()
                ))?;
            }
            self.check_payload(datagram, &before.stats, &after.stats)?;
            return Ok(delivery);
        };
        // Dropped at the envelope: nothing may have changed but the counters.
        let mut counted = before.stats.clone();
        counted.packets_received += 1;
        counted.bytes_received += datagram.len() as u64;
        counted.dropped[reason as usize] += 1;
        if after.stats != counted {
            fail(format!(
                "a datagram dropped as {reason:?} was counted as {:?}, expected {:?}",
                after.stats, counted
            ))?;
        }
        if without_stats(&before) != without_stats(&after) {
            fail(format!(
                "a datagram dropped as {reason:?} changed the snapshot:\n{before:?}\n{after:?}"
            ))?;
        }
        if !outputs.transmits.is_empty() || !outputs.events.is_empty() {
            fail(format!(
                "a datagram dropped as {reason:?} was answered: {:?} {:?}",
                outputs.transmits, outputs.events
            ))?;
        }
        if self.node.poll_timeout() != wake_before {
            fail(format!(
                "a datagram dropped as {reason:?} moved the timers: {wake_before:?} to {:?}",
                self.node.poll_timeout()
            ))?;
        }
        Ok(delivery)
    }

    /// Checks what became of an opened datagram's payload.
    fn check_payload(
        &self,
        datagram: &[u8],
        before: &NodeStats,
        after: &NodeStats,
    ) -> Result<(), Violation> {
        let mut plain = Vec::new();
        let sealer = self.sealer();
        let Ok(opened) = codec::open(datagram, CLUSTER, sealer.as_ref(), &mut plain) else {
            return fail("the node and the check disagree on the envelope".into());
        };
        let malformed = |stats: &NodeStats| stats.dropped(DropReason::Malformed);
        let decodes = match opened.kind {
            PayloadKind::Control => match codec::decode_control(opened.payload) {
                Ok(message) => {
                    round_trips(&message)?;
                    true
                }
                Err(_) => false,
            },
            // A node that left hands foca nothing.
            PayloadKind::Foca => {
                codec::peek_foca(opened.payload).is_ok() || self.node.phase() == Phase::Left
            }
        };
        if !decodes && malformed(after) != malformed(before) + 1 {
            fail(format!(
                "a payload that does not decode was not counted as malformed ({} before, {} after)",
                malformed(before),
                malformed(after)
            ))?;
        }
        Ok(())
    }

    /// Runs the node's timers for `span` (at most `MAX_TIMER_STEPS`
    /// expiries), checking what it sends.
    pub fn run_timers(&mut self, span: Duration) -> Result<(), Violation> {
        let until = self.now + span;
        for _ in 0..MAX_TIMER_STEPS {
            let Some(wake) = self.node.poll_timeout().filter(|w| *w <= until) else {
                break;
            };
            self.now = self.now.max(wake);
            self.node.handle_timeout(self.now);
            let outputs = self.node.take_outputs();
            if let Some(big) = outputs
                .transmits
                .iter()
                .find(|t| t.payload.len() > codec::MAX_DATAGRAM)
            {
                fail(format!("a timer sent {} bytes", big.payload.len()))?;
            }
        }
        self.now = self.now.max(until);
        consistent(&self.node.snapshot())
    }

    /// Encoded control messages of every kind, addressed as this node's
    /// peers would send them: seeds for the fuzzer and starting points for
    /// mutation.
    pub fn control_samples(&self) -> Vec<Vec<u8>> {
        let me = self.node.id().clone();
        let founding = self.node.record().founding;
        let a = self.peers[0].clone();
        let b = self.peers[1].clone();
        let newcomer = id("newcomer", 99, 5);
        let twin = id("peer-1", 98, 9);
        let mut leaving = peer_record(&a, founding);
        leaving.leaving = true;
        let mut members: Vec<foca::Member<NodeId>> = self
            .peers
            .iter()
            .cloned()
            .map(foca::Member::alive)
            .collect();
        members.push(foca::Member::new(me.clone(), 0, foca::State::Alive));
        members.push(foca::Member::new(id("gone", 97, 2), 3, foca::State::Down));
        let records = self
            .peers
            .iter()
            .map(|peer| peer_record(peer, founding))
            .collect();
        let messages = vec![
            // A joiner's first request, padded as joiners pad it.
            Control::JoinRequest {
                joiner: newcomer.clone(),
                request: 1,
                wanted: None,
                cookie: None,
                padding: vec![0; codec::JOIN_REQUEST_LEN - 64],
            },
            // The second peer's sync asking for more slices than a joiner
            // ever does, with the cookie its address was given (from that
            // address, answered in full).
            Control::JoinRequest {
                joiner: b.clone(),
                request: 2,
                wanted: Some(WantedParts {
                    total: 4096,
                    parts: (0..MAX_WANTED as u16 + 10).collect(),
                }),
                cookie: Some(self.cookie.unwrap_or(1)),
                padding: Vec::new(),
            },
            // A second machine with a member's name.
            Control::JoinRequest {
                joiner: twin,
                request: 3,
                wanted: None,
                cookie: None,
                padding: vec![0; 16],
            },
            Control::SyncPart(SyncPart {
                request: self.join_request,
                responder: a.clone(),
                part: 0,
                total: 1,
                founding,
                truncated: false,
                cookie: Some(11),
                members,
                records,
            }),
            Control::Cookie {
                request: self.join_request,
                cookie: 11,
            },
            Control::DownNotice {
                identity: me.clone(),
                from: a.clone(),
            },
            Control::SuspectNotice {
                identity: me.clone(),
                incarnation: 0,
                from: a.clone(),
            },
            Control::QuorumPing {
                from: a.clone(),
                round: 1,
                term: 3,
                proposed: 4,
            },
            Control::QuorumAck {
                from: b.clone(),
                round: 1,
                term: 3,
            },
            Control::Leaving {
                identity: a.clone(),
                record: leaving,
            },
            Control::AdmitRequest {
                from: newcomer,
                round: 1,
            },
            Control::Admit {
                from: a.clone(),
                round: 1,
            },
            Control::Admitted {
                identity: b.clone(),
                record: peer_record(&b, founding),
            },
            Control::RollCall {
                from: a.clone(),
                round: 1,
            },
            Control::Here {
                from: b.clone(),
                round: 1,
            },
            Control::RecordRequest { from: a.clone() },
            Control::Record {
                identity: b.clone(),
                record: peer_record(&b, founding),
            },
            Control::JoinRefused {
                request: self.join_request,
                reason: codec::Refusal::NotJoined,
            },
            Control::JoinRefused {
                request: self.join_request,
                reason: codec::Refusal::NameTaken { addr: addr(42) },
            },
        ];
        messages
            .iter()
            .filter_map(|m| codec::encode_control(m).ok())
            .collect()
    }

    /// Encoded foca messages of every kind from the first peer, with
    /// membership updates and health records riding along: seeds for the
    /// fuzzer and starting points for mutation.
    pub fn foca_samples(&self) -> Vec<Vec<u8>> {
        let me = self.node.id().clone();
        let founding = self.node.record().founding;
        let a = self.peers[0].clone();
        let b = self.peers[1].clone();
        let c = self.peers[2].clone();
        let probe_number = 3;
        let updates = vec![
            foca::Member::new(b.clone(), 1, foca::State::Suspect),
            foca::Member::new(c.clone(), 2, foca::State::Down),
            foca::Member::new(me.clone(), 0, foca::State::Suspect),
            foca::Member::alive(id("newcomer", 99, 5)),
        ];
        let record = |peer: &NodeId| {
            let mut record = peer_record(peer, founding);
            record.version = 7;
            record.term = 2;
            codec::encode_record(&record).unwrap_or_default()
        };
        let items = [record(&a), record(&b)];
        let mut samples = Vec::new();
        let mut add = |message: foca::Message<NodeId>, updates: Option<&[foca::Member<NodeId>]>| {
            let mut codec = codec::WireCodec::default();
            let mut out = Vec::new();
            let header = foca::Header {
                src: a.clone(),
                src_incarnation: 0,
                dst: me.clone(),
                message,
            };
            if codec.encode_header(&header, &mut out).is_err() {
                return;
            }
            let broadcast = matches!(header.message, foca::Message::Broadcast);
            if let Some(updates) = updates {
                out.extend_from_slice(&(updates.len() as u16).to_be_bytes());
                for member in updates {
                    if codec.encode_member(member, &mut out).is_err() {
                        return;
                    }
                }
            }
            if updates.is_some() || broadcast {
                for item in &items {
                    out.extend_from_slice(&(item.len() as u16).to_be_bytes());
                    out.extend_from_slice(item);
                }
            }
            samples.push(out);
        };
        use foca::Message as M;
        add(M::Ping(probe_number), Some(&[]));
        add(M::Ping(probe_number), Some(&updates));
        add(M::Ack(probe_number), Some(&updates));
        add(
            M::PingReq {
                target: b.clone(),
                probe_number,
            },
            Some(&[]),
        );
        add(
            M::IndirectPing {
                origin: b.clone(),
                probe_number,
            },
            Some(&[]),
        );
        add(
            M::IndirectAck {
                target: b.clone(),
                probe_number,
            },
            Some(&[]),
        );
        add(
            M::ForwardedAck {
                origin: b.clone(),
                probe_number,
            },
            Some(&[]),
        );
        add(M::Announce, None);
        add(M::Feed, Some(&updates));
        add(M::Gossip, Some(&updates));
        add(M::Broadcast, None);
        add(M::TurnUndead, None);
        samples
    }
}

/// A peer's record: passing, admitted, in the cluster's founding.
fn peer_record(peer: &NodeId, founding: u64) -> HealthRecord {
    let mut record = HealthRecord::new(peer.name().clone(), peer.incarnation(), 0, true);
    record.version = 1;
    record.admitted = true;
    record.founding = founding;
    record.checks = vec![CheckSummary::new("web", CheckStatus::Passing, "200 OK")];
    record
}

fn without_stats(snapshot: &Snapshot) -> Snapshot {
    Snapshot {
        stats: NodeStats::default(),
        ..snapshot.clone()
    }
}

/// The node is in its snapshot once, and the primary is a member.
fn consistent(snapshot: &Snapshot) -> Result<(), Violation> {
    let local = snapshot.members.iter().filter(|m| m.local).count();
    if local != 1 {
        fail(format!("the snapshot shows the node {local} times"))?;
    }
    if let Some(primary) = &snapshot.primary
        && !snapshot.members.iter().any(|m| m.name == *primary)
    {
        fail(format!("the primary {primary} is no member"))?;
    }
    let primaries = snapshot.members.iter().filter(|m| m.is_primary).count();
    if primaries > 1 {
        fail(format!("{primaries} members are marked primary"))?;
    }
    Ok(())
}

/// A decoded control message encodes into bytes that decode to it again.
fn round_trips(message: &Control) -> Result<(), Violation> {
    let again = codec::encode_control(message)
        .map_err(|e| Violation(format!("a decoded message does not encode: {e}")))?;
    match codec::decode_control(&again) {
        Ok(decoded) if decoded == *message => Ok(()),
        Ok(decoded) => fail(format!("{message:?} came back as {decoded:?}")),
        Err(e) => fail(format!(
            "{message:?} encodes to bytes that do not decode: {e}"
        )),
    }
}

/// The first byte of a [`control`] or [`foca`] input: which node, with
/// keys or not, whether the sender vouches, who sends, and whether the
/// timers run afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector(pub u8);

impl Selector {
    /// Bits 0-1: joined (0 and 3), joining (1), alone (2).
    pub fn setup(self) -> Setup {
        match self.0 & 0b11 {
            1 => Setup::Joining,
            2 => Setup::Alone,
            _ => Setup::Joined,
        }
    }

    /// Bit 2: the node holds a key, seals and requires encryption (the
    /// payload is sealed with it).
    pub fn keyed(self) -> bool {
        self.0 & 0b100 != 0
    }

    /// Bit 3: the envelope's vouching bit.
    pub fn vouching(self) -> bool {
        self.0 & 0b1000 != 0
    }

    /// Bits 4-6: a peer (0 to `PEERS - 1`) or a stranger sends.
    pub fn sender(self) -> usize {
        usize::from((self.0 >> 4) & 0b111)
    }

    /// Bit 7: the node's timers run for a few seconds afterwards.
    pub fn run_timers(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// Fuzz entry: `data` as a raw datagram from a stranger to a joined node
/// without keys.
pub fn packet_plain(data: &[u8]) -> Result<(), Violation> {
    let mut target = Target::new(Setup::Joined, Keyring::default());
    target.deliver(stranger(), data)?;
    Ok(())
}

/// Fuzz entry for a joined node that requires encryption: `data` raw, then
/// as a payload (kind by its first byte) sealed with the node's key, the
/// same sealed datagram with one bit flipped (where the data says), sealed
/// with another key, and in plaintext. All but the one sealed with the key
/// are dropped and change nothing.
pub fn packet_sealed(data: &[u8]) -> Result<(), Violation> {
    let mut target = Target::new(Setup::Joined, keyring(1));
    target.deliver(stranger(), data)?;
    let kind = if data.first().is_some_and(|b| b & 1 == 1) {
        Kind::Control
    } else {
        Kind::Foca
    };
    // What fits one sealed datagram: a larger one is dropped as too large
    // before any key is tried.
    let room = codec::MAX_DATAGRAM - codec::envelope_len(CLUSTER.len(), true);
    let payload = data.get(1..).unwrap_or_default();
    let payload = &payload[..payload.len().min(room)];
    let from = target.sender(0);
    let sealed = target.envelope(kind, true, 0, payload);
    let bits = sealed.len() * 8;
    let flip = data
        .iter()
        .fold(0usize, |h, b| h.wrapping_mul(31) + usize::from(*b))
        % bits;
    let mut flipped = sealed.clone();
    flipped[flip / 8] ^= 1 << (flip % 8);
    let other_key = envelope(kind, true, 0, payload, Some(&keyring(2)));
    let plain = envelope(kind, true, 0, payload, None);
    let expect = |what: &str, delivery: Delivery, reason: Option<DropReason>| {
        if delivery.dropped == reason {
            Ok(())
        } else {
            fail(format!(
                "{what}: {:?}, expected {reason:?}",
                delivery.dropped
            ))
        }
    };
    expect(
        "sealed with another key",
        target.deliver(from, &other_key)?,
        Some(DropReason::Key),
    )?;
    expect(
        "plaintext",
        target.deliver(from, &plain)?,
        Some(DropReason::Plaintext),
    )?;
    let delivery = target.deliver(from, &flipped)?;
    if flip / 8 >= sealed_from() {
        expect(
            "a flipped bit in the sealed part",
            delivery,
            Some(DropReason::Key),
        )?;
    } else if delivery.dropped.is_none() {
        fail(format!(
            "a flipped bit in the header (byte {}) opened",
            flip / 8
        ))?;
    }
    expect("sealed with the key", target.deliver(from, &sealed)?, None)?;
    Ok(())
}

fn payload_entry(kind: Kind, data: &[u8]) -> Result<(), Violation> {
    let Some((&selector, rest)) = data.split_first() else {
        return Ok(());
    };
    let selector = Selector(selector);
    let (term, payload) = match rest.split_first() {
        Some((term, payload)) => (u64::from(*term), payload),
        None => (0, rest),
    };
    let keys = if selector.keyed() {
        keyring(1)
    } else {
        Keyring::default()
    };
    let mut target = Target::new(selector.setup(), keys);
    let datagram = target.envelope(kind, selector.vouching(), term, payload);
    let from = target.sender(selector.sender());
    let delivery = target.deliver(from, &datagram)?;
    if datagram.len() <= codec::MAX_DATAGRAM && delivery.dropped.is_some() {
        fail(format!(
            "a valid envelope was dropped: {:?}",
            delivery.dropped
        ))?;
    }
    if selector.run_timers() {
        target.run_timers(Duration::from_secs(5))?;
    }
    Ok(())
}

/// Fuzz entry: `data` is a [`Selector`] byte, a term byte and a control
/// payload, delivered in a valid envelope.
pub fn control(data: &[u8]) -> Result<(), Violation> {
    payload_entry(Kind::Control, data)
}

/// Fuzz entry: `data` is a [`Selector`] byte, a term byte and a foca
/// payload, delivered in a valid envelope.
pub fn foca(data: &[u8]) -> Result<(), Violation> {
    payload_entry(Kind::Foca, data)
}

/// Seed inputs for the fuzz targets `packet_plain`, `packet_sealed`,
/// `control` and `foca`, by target name: every sample message, for every
/// setup, in the targets' input formats.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();
    for selector in [0x00u8, 0x01, 0x02, 0x04, 0x0d, 0x85, 0x40] {
        let target = Target::new(Selector(selector).setup(), Keyring::default());
        for (name, kind, samples) in [
            ("control", Kind::Control, target.control_samples()),
            ("foca", Kind::Foca, target.foca_samples()),
        ] {
            for sample in samples {
                let mut input = vec![selector, 3];
                input.extend_from_slice(&sample);
                seeds.push((name, input));
                if selector == 0 {
                    let envelope = target.envelope(kind, true, 3, &sample);
                    seeds.push(("packet_plain", envelope));
                    let mut sealed = vec![u8::from(kind == Kind::Control)];
                    sealed.extend_from_slice(&sample);
                    seeds.push(("packet_sealed", sealed));
                }
            }
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foca_datagrams_round_trip_through_the_codec() {
        let target = Target::new(Setup::Joined, Keyring::default());
        let samples = target.foca_samples();
        assert!(!samples.is_empty());
        for keys in [None, Some(keyring(3))] {
            for sample in &samples {
                let datagram = envelope(Kind::Foca, true, 5, sample, None);
                let decoded = decode_foca_datagram(&datagram, None).unwrap();
                assert_eq!((decoded.vouching, decoded.term), (true, 5));
                assert_eq!(encode_foca_datagram(&decoded, None).unwrap(), datagram);
                let sealed = encode_foca_datagram(&decoded, keys.as_ref()).unwrap();
                assert_eq!(decode_foca_datagram(&sealed, keys.as_ref()), Ok(decoded));
            }
        }
        let control = envelope(Kind::Control, true, 0, b"x", None);
        assert_eq!(
            decode_foca_datagram(&control, None),
            Err(DropReason::Malformed)
        );
    }

    #[test]
    fn a_foca_message_too_large_for_a_datagram_is_refused() {
        let target = Target::new(Setup::Joined, Keyring::default());
        let header = foca::Header {
            src: target.peers[0].clone(),
            src_incarnation: 0,
            dst: target.node.id().clone(),
            message: foca::Message::Gossip,
        };
        let updates = (0..200)
            .map(|i| foca::Member::alive(id(&format!("member-{i}"), 10, 1)))
            .collect();
        let message = FocaDatagram {
            vouching: true,
            term: 0,
            header,
            updates,
            records: Vec::new(),
        };
        assert_eq!(
            encode_foca_datagram(&message, None),
            Err(DropReason::TooLarge)
        );
    }
}
