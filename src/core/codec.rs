//! The wire format: every byte herd puts on the network is made here.
//!
//! A datagram is an envelope around one payload:
//!
//! ```text
//! offset  size  field
//! 0       2     magic "HD"
//! 2       1     protocol version (PROTOCOL_VERSION)
//! 3       1     flags: bit 0 sealed (see below), bit 1 the sender
//!               vouches for its view; other bits must be zero
//! 4       1     kind: 0 a foca message, 1 a herd control message
//! 5       1     cluster name length n (at most MAX_CLUSTER_LEN)
//! 6       n     cluster name, UTF-8
//! 6+n     1-10  the highest primary term the sender knows (u64, LEB128:
//!               seven bits a byte, low bits first; one byte below 128):
//!               every datagram spreads it, so a member that backs a claim
//!               knows the terms its peers know
//! ...     ...   payload
//! ```
//!
//! A sealed datagram (flag bit 0, see [`super::keyring`]) has the same
//! first `6+n` bytes, which are the AEAD's associated data; then a 24-byte
//! nonce, the term and payload encrypted, and a 16-byte tag: 40 bytes more.
//!
//! (Protocol 6 wrote the term in a fixed 8 bytes: a ninth of an idle
//! member's bytes for a number that is 1 to 3 bytes long.)
//!
//! Payloads are serde + bincode 2.0.1 (`standard()` varint encoding with a
//! decode limit). bincode's maintainers have stopped work on it, so it stays
//! in this one module, behind [`foca::Codec`] and the functions below, where
//! it can be swapped for another format with a protocol version bump.
//!
//! Anything that does not decode is refused with a [`DropReason`], which the
//! node counts; nothing from the wire can panic the decoder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, BufMut};
use serde::{Deserialize, Serialize};

use super::health::HealthRecord;
use super::identity::NodeId;
use super::keyring::{SEAL_OVERHEAD, Sealer};
use super::member_cap::{self, SharedCap};

/// Version of the envelope and of every payload in it. Peers drop packets of
/// any other version.
pub const PROTOCOL_VERSION: u8 = 7;

/// Longest cluster name, in bytes.
pub(crate) const MAX_CLUSTER_LEN: usize = 64;

/// What a join or sync request without a cookie is padded to: its answer
/// may then be [`AMPLIFICATION`] times that (several slices) before the
/// requester proves its address, so a small state needs no extra round
/// trip.
pub(crate) const JOIN_REQUEST_LEN: usize = 1_200;

/// How many times the bytes of a request without a good cookie a seed may
/// send in answer (QUIC's limit before address validation).
pub(crate) const AMPLIFICATION: usize = 3;

/// Largest datagram herd sends or accepts. 1400 bytes fits a 1500-byte
/// Ethernet MTU with IP and UDP headers to spare (RFC 8085 advice).
pub(crate) const MAX_DATAGRAM: usize = 1400;

/// The longest term in the envelope: a u64 in LEB128.
const MAX_TERM_LEN: usize = 10;

/// Room kept for the envelope (with the AEAD's nonce and tag) when foca
/// sizes its messages.
pub(crate) const ENVELOPE_RESERVE: usize = 6 + MAX_CLUSTER_LEN + MAX_TERM_LEN + 64;

/// The most bytes the envelope takes before the payload, for a cluster
/// name of `cluster_len` bytes, sealed or not (the term's length varies).
pub(crate) fn envelope_len(cluster_len: usize, sealed: bool) -> usize {
    6 + cluster_len + MAX_TERM_LEN + if sealed { SEAL_OVERHEAD } else { 0 }
}

/// Appends `value` in LEB128.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a LEB128 u64 off the front of `bytes`: the value and the bytes it
/// took, or `None` when it is cut short or does not fit 64 bits.
fn take_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().take(MAX_TERM_LEN).enumerate() {
        let bits = u64::from(byte & 0x7f);
        // The tenth byte holds the 64th bit only.
        if i == MAX_TERM_LEN - 1 && byte > 1 {
            return None;
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

const MAGIC: [u8; 2] = *b"HD";
const FLAG_SEALED: u8 = 0b01;
const FLAG_VOUCHES: u8 = 0b10;
const KNOWN_FLAGS: u8 = FLAG_SEALED | FLAG_VOUCHES;

/// Decoding limit: no payload may make the decoder allocate more than this.
const DECODE_LIMIT: usize = 64 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Reads a vector of a payload without taking the length it claims as the
/// room to reserve: serde's own `Vec` reserves up to 1 MiB for whatever
/// length a datagram claims (bincode's limit counts only the bytes read),
/// so a forged 1,400-byte sync part had the node allocate a megabyte. No
/// more than a datagram's bytes' worth of elements is reserved; past that
/// the vector grows as elements actually decode, each taking at least a
/// byte of the datagram. Every vector a payload holds is read with this.
pub(crate) fn bounded_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let room = MAX_DATAGRAM / std::mem::size_of::<T>().max(1);
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(room));
            while let Some(element) = seq.next_element()? {
                out.push(element);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Bounded(std::marker::PhantomData))
}

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadKind {
    /// A SWIM message for foca.
    Foca,
    /// A herd control message ([`Control`]).
    Control,
}

/// Why a received datagram was dropped. Every reason is counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Too short, or no herd magic: not a herd packet at all.
    NotHerd,
    /// A herd packet of another protocol version.
    Version,
    /// A herd packet of another cluster.
    ForeignCluster,
    /// Sealed with a key, and this node has no keyring.
    Sealed,
    /// Sealed, and no key of this node's keyring opens it (another key,
    /// or changed on the way).
    Key,
    /// Not sealed, and this node requires encryption.
    Plaintext,
    /// Larger than `MAX_DATAGRAM`.
    TooLarge,
    /// The envelope or the payload does not decode.
    Malformed,
    /// foca refused the message (see the log for its reason).
    Refused,
    /// From a member this view does not hold, while it holds
    /// `max_members` already.
    MemberCap,
}

impl DropReason {
    /// Every reason, for metrics that list them all.
    pub const ALL: [DropReason; 10] = [
        Self::NotHerd,
        Self::Version,
        Self::ForeignCluster,
        Self::Sealed,
        Self::Key,
        Self::Plaintext,
        Self::TooLarge,
        Self::Malformed,
        Self::Refused,
        Self::MemberCap,
    ];

    /// Snake-case label, as in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotHerd => "not_herd",
            Self::Version => "version",
            Self::ForeignCluster => "foreign_cluster",
            Self::Sealed => "sealed",
            Self::Key => "key",
            Self::Plaintext => "plaintext",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::Refused => "refused",
            Self::MemberCap => "member_cap",
        }
    }
}

/// The parts of a received envelope.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Opened<'a> {
    /// What the payload is.
    pub kind: PayloadKind,
    /// Whether the sender vouched for its view when it sent this (see
    /// [`Sender::vouching`]).
    pub sender_vouches: bool,
    /// The highest primary term the sender knows.
    pub term: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
    /// The whole datagram's length, envelope and seal included: what the
    /// sender spent on it.
    pub len: usize,
}

/// What the envelope says about its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sender {
    /// The sender vouches for its view (flag bit 1): it sees a majority
    /// alive and its view is current, so a down it passes on is the
    /// cluster's word.
    pub vouching: bool,
    /// The highest primary term it knows.
    pub term: u64,
}

/// Writes a datagram for `cluster` into `out` (which is cleared): the
/// envelope and `payload`, sealed if `sealer` seals.
pub(crate) fn seal(
    out: &mut Vec<u8>,
    cluster: &str,
    kind: PayloadKind,
    sender: Sender,
    payload: &[u8],
    sealer: Option<&mut Sealer>,
) {
    debug_assert!(cluster.len() <= MAX_CLUSTER_LEN);
    let sealer = sealer.filter(|s| s.seals());
    let mut flags = if sender.vouching { FLAG_VOUCHES } else { 0 };
    if sealer.is_some() {
        flags |= FLAG_SEALED;
    }
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(flags);
    out.push(match kind {
        PayloadKind::Foca => 0,
        PayloadKind::Control => 1,
    });
    // Checked by the configuration: cluster names are at most 64 bytes.
    out.push(cluster.len() as u8);
    out.extend_from_slice(cluster.as_bytes());
    let header = out.len();
    put_varint(out, sender.term);
    out.extend_from_slice(payload);
    if let Some(sealer) = sealer {
        sealer.seal(out, header);
    }
}

/// Checks a received datagram's envelope against this node's cluster and
/// keyring; a sealed one is opened into `plain`, which the payload then
/// borrows.
pub(crate) fn open<'a>(
    datagram: &'a [u8],
    cluster: &str,
    sealer: Option<&Sealer>,
    plain: &'a mut Vec<u8>,
) -> Result<Opened<'a>, DropReason> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DropReason::TooLarge);
    }
    if datagram.len() < 6 || datagram[..2] != MAGIC {
        return Err(DropReason::NotHerd);
    }
    if datagram[2] != PROTOCOL_VERSION {
        return Err(DropReason::Version);
    }
    let flags = datagram[3];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(DropReason::Malformed);
    }
    let kind = match datagram[4] {
        0 => PayloadKind::Foca,
        1 => PayloadKind::Control,
        _ => return Err(DropReason::Malformed),
    };
    let len = usize::from(datagram[5]);
    let Some(name) = datagram.get(6..6 + len) else {
        return Err(DropReason::Malformed);
    };
    if name != cluster.as_bytes() {
        return Err(DropReason::ForeignCluster);
    }
    let (header, rest) = datagram.split_at(6 + len);
    let body: &'a [u8] = if flags & FLAG_SEALED != 0 {
        let Some(sealer) = sealer.filter(|s| s.opens()) else {
            return Err(DropReason::Sealed);
        };
        if sealer.open(header, rest, plain).is_err() {
            return Err(DropReason::Key);
        }
        plain
    } else {
        if sealer.is_some_and(Sealer::requires) {
            return Err(DropReason::Plaintext);
        }
        rest
    };
    let Some((term, term_len)) = take_varint(body) else {
        return Err(DropReason::Malformed);
    };
    Ok(Opened {
        kind,
        sender_vouches: flags & FLAG_VOUCHES != 0,
        term,
        payload: &body[term_len..],
        len: datagram.len(),
    })
}

/// A codec error: a payload that does not encode or decode.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    /// bincode could not encode the value.
    #[error("encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// bincode could not decode the bytes.
    #[error("decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// The encoded value does not fit the space foca offered.
    #[error("encoded value does not fit the packet")]
    NoRoom,
    /// A member update the view had no room for, read before any header
    /// named a sender to stand in for it.
    #[error("member update beyond max_members with no sender")]
    NoSender,
}

/// foca's codec: serde + bincode, and two rules of trust (a minority's
/// downs are doubted; members beyond the view's bound are refused).
#[derive(Debug, Default)]
pub(crate) struct WireCodec {
    scratch: Vec<u8>,
    /// Set by the node while foca reads a datagram whose sender does not
    /// vouch for its view (no majority, stalled, just rejoined): its `down`
    /// updates are read as `suspect`. A minority's downs would otherwise
    /// spread as facts through members that see a majority, and a `down` is
    /// final in SWIM; a suspicion is checked and refuted or timed out here.
    doubt_downs: Arc<AtomicBool>,
    /// The view's bound: an update about a member the view has no room
    /// for is not handed to foca (see [`member_cap`]).
    cap: SharedCap,
    /// The sender of the datagram being read (its header comes first).
    sender: Option<NodeId>,
}

impl WireCodec {
    /// A codec whose `down` updates are read as `suspect` while `doubt` is
    /// set, and which admits members within `cap`.
    pub(crate) fn new(doubt: Arc<AtomicBool>, cap: SharedCap) -> Self {
        Self {
            scratch: Vec::new(),
            doubt_downs: doubt,
            cap,
            sender: None,
        }
    }

    fn put<T: Serialize>(&mut self, value: &T, mut buf: impl BufMut) -> Result<(), CodecError> {
        self.scratch.clear();
        bincode::serde::encode_into_std_write(value, &mut self.scratch, config())?;
        // foca requires that a failed encode leaves the buffer untouched.
        if buf.remaining_mut() < self.scratch.len() {
            return Err(CodecError::NoRoom);
        }
        buf.put_slice(&self.scratch);
        Ok(())
    }

    fn take<T: for<'de> Deserialize<'de>>(mut buf: impl Buf) -> Result<T, CodecError> {
        // foca guarantees the buffer is contiguous.
        let (value, used) = bincode::serde::decode_from_slice(buf.chunk(), config())?;
        buf.advance(used);
        Ok(value)
    }
}

impl foca::Codec<NodeId> for WireCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &foca::Header<NodeId>,
        buf: impl BufMut,
    ) -> Result<(), Self::Error> {
        self.put(header, buf)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<foca::Header<NodeId>, Self::Error> {
        let header: foca::Header<NodeId> = Self::take(buf)?;
        self.sender = Some(header.src.clone());
        Ok(header)
    }

    fn encode_member(
        &mut self,
        member: &foca::Member<NodeId>,
        buf: impl BufMut,
    ) -> Result<(), Self::Error> {
        self.put(member, buf)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<foca::Member<NodeId>, Self::Error> {
        let member: foca::Member<NodeId> = Self::take(buf)?;
        if !member_cap::lock(&self.cap).admit(member.id().key()) {
            // foca reads as many updates as the datagram counts, so a
            // refused one is replaced, not skipped: by its sender, alive at
            // SWIM incarnation 0. foca applies the sender's own header
            // before the updates, so it holds the sender at least that
            // current already and changes nothing.
            let sender = self.sender.clone().ok_or(CodecError::NoSender)?;
            return Ok(foca::Member::new(sender, 0, foca::State::Alive));
        }
        if member.state() == foca::State::Down && self.doubt_downs.load(Ordering::Relaxed) {
            let incarnation = member.incarnation();
            let id = member.id().clone();
            return Ok(foca::Member::new(id, incarnation, foca::State::Suspect));
        }
        Ok(member)
    }
}

/// What a foca payload holds, read without handing it to foca: lets the node
/// skip rescanning membership after packets that cannot have changed it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FocaPeek {
    /// The sender's key.
    pub src: super::identity::MemberKey,
    /// The sender's identity incarnation (its life).
    pub src_life: u64,
    /// The sender's gossip address.
    pub src_addr: SocketAddr,
    /// The sender's SWIM incarnation.
    pub src_incarnation: foca::Incarnation,
    /// The identity incarnation (life) the packet is addressed to.
    pub dst_life: u64,
    /// How many membership updates ride along.
    pub updates: u16,
    /// Whether custom broadcasts (health records) may ride along.
    pub may_carry_records: bool,
}

/// An identity read in place, without allocating.
#[derive(Deserialize)]
struct PeekId<'a> {
    #[serde(borrow)]
    name: &'a str,
    addr: SocketAddr,
    incarnation: u64,
}

/// Reads the header of a foca payload and the count of updates after it.
pub(crate) fn peek_foca(payload: &[u8]) -> Result<FocaPeek, CodecError> {
    let (header, used): (foca::Header<PeekId<'_>>, usize) =
        bincode::serde::borrow_decode_from_slice(payload, config())?;
    let rest = &payload[used..];
    let (updates, may_carry_records) = if matches!(header.message, foca::Message::Broadcast) {
        (0, !rest.is_empty())
    } else if rest.len() >= 2 {
        let updates = u16::from_be_bytes([rest[0], rest[1]]);
        // Records follow the updates; past unknown-length updates, assume so.
        (updates, updates > 0 || rest.len() > 2)
    } else {
        (0, false)
    };
    Ok(FocaPeek {
        src: super::identity::MemberKey::of(header.src.name),
        src_life: header.src.incarnation,
        src_addr: header.src.addr,
        src_incarnation: header.src_incarnation,
        dst_life: header.dst.incarnation,
        updates,
        may_carry_records,
    })
}

/// herd's own messages, outside SWIM: joining with a full state sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Control {
    /// A node asks a seed to join; the seed answers with [`Control::SyncPart`]s
    /// or [`Control::JoinRefused`].
    JoinRequest {
        /// Who asks.
        joiner: NodeId,
        /// Echoed in the answer so stale answers are recognised.
        request: u64,
        /// On a retry: which parts of a previous answer are still missing.
        wanted: Option<WantedParts>,
        /// The seed's cookie for this address (see [`SyncPart::cookie`]):
        /// with it, the seed sends all that was asked.
        cookie: Option<u64>,
        /// Zeros that make a request without a cookie as large as
        /// [`JOIN_REQUEST_LEN`]: the seed answers such a request with at
        /// most [`AMPLIFICATION`] times its size.
        #[serde(deserialize_with = "bounded_vec")]
        padding: Vec<u8>,
    },
    /// "Ask again with this": a seed's whole answer to a request without a
    /// good cookie when not even one slice fits the request's allowance.
    Cookie {
        /// The request this answers.
        request: u64,
        /// To echo in the request sent again.
        cookie: u64,
    },
    /// One part of a seed's state.
    SyncPart(SyncPart),
    /// "You are down in my view": sent in answer to a packet from an
    /// identity the sender holds as down, so a frozen or cut-off member
    /// learns it must rejoin.
    DownNotice {
        /// The identity held as down.
        identity: NodeId,
        /// Who holds it down: a notice from an earlier life of its sender,
        /// or from a life whose notice was weighed and dismissed already,
        /// is stale (a replay from the wire cannot make a member rejoin or
        /// a primary ask its majority again).
        from: NodeId,
    },
    /// "You are suspected in my view": sent straight to a suspect (as
    /// Lifeguard's buddy system does), so it refutes in time even when the
    /// gossip about it never happens to reach it.
    SuspectNotice {
        /// The identity suspected.
        identity: NodeId,
        /// The SWIM incarnation it is suspected at.
        incarnation: u16,
        /// Who asks: the suspect announces itself to it after refuting, so
        /// the refutation reaches the asker at once.
        from: NodeId,
    },
    /// A primary that saw trouble asks every member whether it still holds
    /// it alive (Raft's check quorum).
    QuorumPing {
        /// Who asks.
        from: NodeId,
        /// Which check this is.
        round: u64,
        /// The highest primary term the asker knows.
        term: u64,
        /// The term the asker will claim if a majority backs it (0 when it
        /// claims already): every member that backs the claim learns it
        /// first, so any later claim a majority backs takes a higher one.
        proposed: u64,
    },
    /// "I hold you alive": the answer to a [`Control::QuorumPing`].
    QuorumAck {
        /// Who answers.
        from: NodeId,
        /// The check answered.
        round: u64,
        /// The highest primary term the answerer knows: a claim that a
        /// majority backs takes a term above every term that majority saw,
        /// even one whose record never reached the claimant.
        term: u64,
    },
    /// "I am leaving": sent by a leaving member to every live member at once,
    /// so a leave is known everywhere even when many members leave together
    /// and the gossip that would relay it leaves with them.
    Leaving {
        /// The life that leaves.
        identity: NodeId,
        /// Its last record, saying it is leaving.
        record: HealthRecord,
    },
    /// A member that joined asks to be counted in the quorum: admitted
    /// members answer with [`Control::Admit`], and a majority of them admits
    /// it (see `HealthRecord::admitted`).
    AdmitRequest {
        /// Who asks.
        from: NodeId,
        /// Which request this is.
        round: u64,
    },
    /// "I know you and count you": the answer of an admitted member to an
    /// [`Control::AdmitRequest`].
    Admit {
        /// Who answers.
        from: NodeId,
        /// The request answered.
        round: u64,
    },
    /// "I was admitted": sent by a newly admitted member to every live
    /// member at once, so its record (saying so) counts in every view before
    /// a partition can come between them and the gossip.
    Admitted {
        /// The life that was admitted.
        identity: NodeId,
        /// Its record, `admitted` set.
        record: HealthRecord,
    },
    /// A roll call: a view about to declare a member down asks every
    /// member it holds alive to answer, and declares only if a majority
    /// does (see `Node::defer_accusation`).
    RollCall {
        /// Who asks.
        from: NodeId,
        /// Which roll call this is.
        round: u64,
    },
    /// "Here": the answer to a [`Control::RollCall`].
    Here {
        /// Who answers.
        from: NodeId,
        /// The roll call answered.
        round: u64,
    },
    /// "Send me your record": a view that holds a member's new life alive
    /// but only a record of an earlier life asks the member itself.
    RecordRequest {
        /// Who asks.
        from: NodeId,
    },
    /// A member's record, sent by the member itself in answer to a
    /// [`Control::RecordRequest`].
    Record {
        /// The life that sends it.
        identity: NodeId,
        /// Its current record.
        record: HealthRecord,
    },
    /// The seed will not take the joiner now.
    JoinRefused {
        /// The request this answers.
        request: u64,
        /// Why.
        reason: Refusal,
    },
    /// The elected node renews its lease with one of its witnesses (see
    /// `core::node::lease`), every `lease_interval`.
    LeasePing {
        /// The holder.
        from: NodeId,
        /// Which ping this is: rounds rise within a life, from a random
        /// start.
        round: u64,
        /// Which witness set this is: it rises whenever the set changes.
        epoch: u64,
        /// The holder's `lease`, in milliseconds: its witnesses time it.
        lease_ms: u32,
        /// The witnesses of this epoch.
        #[serde(deserialize_with = "bounded_vec")]
        witnesses: Vec<NodeId>,
    },
    /// A witness's answer to a [`Control::LeasePing`].
    LeaseAck {
        /// The witness.
        from: NodeId,
        /// The ping answered.
        round: u64,
    },
    /// A witness that heard no ping for a lease asks another whether the
    /// holder's lease ran out there too.
    LeaseQuery {
        /// The witness that asks.
        from: NodeId,
        /// The holder it asks about.
        holder: NodeId,
        /// The witness set it knows.
        epoch: u64,
        /// Which question this is.
        round: u64,
    },
    /// The answer to a [`Control::LeaseQuery`]. `over` promises that this
    /// witness answers none of the holder's later pings.
    LeaseVerdict {
        /// The witness that answers.
        from: NodeId,
        /// The question answered.
        round: u64,
        /// The holder's lease ran out here too.
        over: bool,
        /// The latest witness set of the holder known here.
        epoch: u64,
        /// When not over: in how many milliseconds it would be, unless a
        /// ping comes (the asker asks again then).
        left_ms: u32,
    },
    /// The holder gave its lease up (it is no longer elected, and no
    /// longer claims): its witnesses may claim at once, without waiting
    /// for the renewals they answered to run out.
    LeaseReleased {
        /// The holder.
        from: NodeId,
        /// Its last renewal's round: a release older than a renewal
        /// answered since (a replay) releases nothing.
        round: u64,
    },
    /// The witnesses found the holder's lease over: it is down. Sent to
    /// every live member at once, so every view names the successor within
    /// a round trip instead of a gossip's spread.
    LeaseOver {
        /// The witness that tells.
        from: NodeId,
        /// The holder, declared down.
        holder: NodeId,
        /// The holder's SWIM incarnation declared down.
        incarnation: foca::Incarnation,
    },
}

/// Parts of a sync still missing at the joiner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WantedParts {
    /// How many parts the state was cut into.
    pub total: u16,
    /// Which ones are wanted.
    #[serde(deserialize_with = "bounded_vec")]
    pub parts: Vec<u16>,
}

/// A slice of a seed's view: the members and records whose name hashes to
/// `part` modulo `total`, so a retry can ask for exactly the missing slices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SyncPart {
    /// The request this answers.
    pub request: u64,
    /// The seed.
    pub responder: NodeId,
    /// This slice's number.
    pub part: u16,
    /// How many slices there are.
    pub total: u16,
    /// The founding the responder's cluster belongs to: the joiner's from
    /// now on (see [`HealthRecord::founding`]).
    pub founding: u64,
    /// The slice did not fit one datagram and was cut short (the rest
    /// arrives by gossip).
    pub truncated: bool,
    /// Set on the last slice of an answer cut short because the requester
    /// has not proven its address: the rest comes when the request is sent
    /// again with this cookie, which proves it receives at that address.
    pub cookie: Option<u64>,
    /// foca's membership entries, down ones included.
    #[serde(deserialize_with = "bounded_vec")]
    pub members: Vec<foca::Member<NodeId>>,
    /// Health records.
    #[serde(deserialize_with = "bounded_vec")]
    pub records: Vec<HealthRecord>,
}

/// Why a seed refused a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// A live member already uses the joiner's name from another address.
    NameTaken {
        /// Where the live member with that name is.
        addr: SocketAddr,
    },
    /// The seed has not joined a cluster itself yet.
    NotJoined,
    /// The seed is leaving the cluster.
    Leaving,
    /// The seed sees no quorum: its view is the one cut off, and its state
    /// would mislead.
    NoQuorum,
    /// The seed's view holds `max_members` members already.
    Full {
        /// The seed's `max_members`.
        max_members: u32,
    },
}

/// Encodes a control message.
pub(crate) fn encode_control(message: &Control) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(message, config())?)
}

/// Decodes a control message; trailing bytes are an error.
pub(crate) fn decode_control(payload: &[u8]) -> Result<Control, CodecError> {
    decode_exact(payload)
}

/// Encodes a health record for foca's broadcast queue.
pub(crate) fn encode_record(record: &HealthRecord) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(record, config())?)
}

/// Decodes a health record; trailing bytes are an error.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<HealthRecord, CodecError> {
    decode_exact(bytes)
}

/// Size of a value once encoded, to cut sync parts to datagram size.
pub(crate) fn encoded_len<T: Serialize>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    match bincode::serde::encode_into_std_write(value, &mut counter, config()) {
        Ok(len) => len,
        Err(_) => usize::MAX,
    }
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn decode_exact<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())?;
    if used != bytes.len() {
        return Err(CodecError::Decode(
            bincode::error::DecodeError::OtherString(format!(
                "{} trailing bytes",
                bytes.len() - used
            )),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::health::HealthStatus;
    use foca::Codec;

    fn node(name: &str) -> NodeId {
        NodeId::new(name, SocketAddr::from(([10, 0, 0, 1], 7946)), 42).unwrap()
    }

    #[test]
    fn envelope_round_trips_and_carries_the_quorum_flag() {
        let mut out = Vec::new();
        let sender = Sender {
            vouching: true,
            term: 7,
        };
        seal(&mut out, "prod", PayloadKind::Control, sender, b"xyz", None);
        let mut plain = Vec::new();
        let opened = open(&out, "prod", None, &mut plain).unwrap();
        assert_eq!(opened.kind, PayloadKind::Control);
        assert!(opened.sender_vouches);
        assert_eq!(opened.term, 7);
        assert_eq!(opened.payload, b"xyz");
    }

    #[test]
    fn terms_take_as_few_bytes_as_they_need_and_bad_ones_are_refused() {
        for (term, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (300, 2),
            (u64::from(u32::MAX), 5),
            (1 << 62, 9),
            (u64::MAX, 10),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, term);
            assert_eq!(out.len(), len, "{term}");
            out.push(0xff);
            assert_eq!(take_varint(&out), Some((term, len)), "{term}");
        }
        // Cut short, longer than ten bytes, or past 64 bits.
        assert_eq!(take_varint(&[0x80]), None);
        assert_eq!(take_varint(&[]), None);
        assert_eq!(take_varint(&[0x80; 11]), None);
        let mut past = vec![0xff; 9];
        past.push(0x02);
        assert_eq!(take_varint(&past), None);
    }

    #[test]
    fn packets_of_another_cluster_or_version_are_refused() {
        let mut out = Vec::new();
        seal(
            &mut out,
            "prod",
            PayloadKind::Foca,
            Sender::default(),
            b"x",
            None,
        );
        assert_eq!(
            open(&out, "test", None, &mut Vec::new()),
            Err(DropReason::ForeignCluster)
        );
        assert_eq!(
            open(&out, "pro", None, &mut Vec::new()),
            Err(DropReason::ForeignCluster)
        );
        let mut other_version = out.clone();
        other_version[2] = PROTOCOL_VERSION + 1;
        assert_eq!(
            open(&other_version, "prod", None, &mut Vec::new()),
            Err(DropReason::Version)
        );
        let mut sealed = out.clone();
        sealed[3] |= FLAG_SEALED;
        assert_eq!(
            open(&sealed, "prod", None, &mut Vec::new()),
            Err(DropReason::Sealed)
        );
        let mut bad_flags = out.clone();
        bad_flags[3] = 0x80;
        assert_eq!(
            open(&bad_flags, "prod", None, &mut Vec::new()),
            Err(DropReason::Malformed)
        );
        assert_eq!(
            open(b"GET / HTTP/1.1", "prod", None, &mut Vec::new()),
            Err(DropReason::NotHerd)
        );
        assert_eq!(
            open(&out[..7], "prod", None, &mut Vec::new()),
            Err(DropReason::Malformed)
        );
        // A missing or cut term is malformed too.
        assert_eq!(
            open(&out[..10], "prod", None, &mut Vec::new()),
            Err(DropReason::Malformed)
        );
        let mut long_term = Vec::new();
        let sender = Sender {
            vouching: false,
            term: 300,
        };
        seal(&mut long_term, "prod", PayloadKind::Foca, sender, b"", None);
        assert_eq!(long_term.len(), 12);
        assert_eq!(
            open(&long_term[..11], "prod", None, &mut Vec::new()),
            Err(DropReason::Malformed)
        );
        assert_eq!(
            open(&[0; MAX_DATAGRAM + 1], "prod", None, &mut Vec::new()),
            Err(DropReason::TooLarge)
        );
    }

    fn sealer(key: u8, seal: bool, require: bool) -> Sealer {
        Sealer::new(&crate::core::keyring::Keyring {
            keys: vec![crate::core::keyring::Key::from_bytes([key; 32])],
            seal,
            require,
            nonce_seed: [key; 32],
        })
    }

    #[test]
    fn sealed_envelopes_open_only_with_the_key_and_intact() {
        let sender = Sender {
            vouching: true,
            term: 9,
        };
        let mut sealing = sealer(1, true, true);
        let mut out = Vec::new();
        seal(
            &mut out,
            "prod",
            PayloadKind::Control,
            sender,
            b"xyz",
            Some(&mut sealing),
        );
        assert_eq!(out[3] & FLAG_SEALED, FLAG_SEALED);
        // The term, 9, takes one byte of the ten kept for it.
        assert_eq!(out.len(), envelope_len(4, true) - (MAX_TERM_LEN - 1) + 3);
        let mut plain = Vec::new();
        let opened = open(&out, "prod", Some(&sealing), &mut plain).unwrap();
        assert_eq!(
            (
                opened.kind,
                opened.sender_vouches,
                opened.term,
                opened.payload
            ),
            (PayloadKind::Control, true, 9, &b"xyz"[..])
        );
        // No keyring, another key, a flipped flag (the vouching bit is
        // bound), another cluster name.
        let mut scratch = Vec::new();
        assert_eq!(
            open(&out, "prod", None, &mut scratch),
            Err(DropReason::Sealed)
        );
        let other = sealer(2, true, true);
        assert_eq!(
            open(&out, "prod", Some(&other), &mut scratch),
            Err(DropReason::Key)
        );
        let mut flipped = out.clone();
        flipped[3] ^= FLAG_VOUCHES;
        assert_eq!(
            open(&flipped, "prod", Some(&sealing), &mut scratch),
            Err(DropReason::Key)
        );
        assert_eq!(
            open(&out, "prox", Some(&sealing), &mut scratch),
            Err(DropReason::ForeignCluster)
        );
        // Plaintext: refused where encryption is required, taken where
        // keys are held but not yet required (turning encryption on).
        let mut clear = Vec::new();
        seal(
            &mut clear,
            "prod",
            PayloadKind::Control,
            sender,
            b"xyz",
            None,
        );
        assert_eq!(
            open(&clear, "prod", Some(&sealing), &mut scratch),
            Err(DropReason::Plaintext)
        );
        let accepting = sealer(1, false, false);
        assert!(open(&clear, "prod", Some(&accepting), &mut scratch).is_ok());
        assert!(open(&out, "prod", Some(&accepting), &mut scratch).is_ok());
        // A keyring that does not seal sends plaintext.
        let mut sending = sealer(1, false, false);
        let mut unsealed = Vec::new();
        seal(
            &mut unsealed,
            "prod",
            PayloadKind::Control,
            sender,
            b"xyz",
            Some(&mut sending),
        );
        assert_eq!(unsealed, clear);
    }

    #[test]
    fn foca_header_round_trips_and_is_peekable() {
        let mut codec = WireCodec::default();
        let header = foca::Header {
            src: node("a"),
            src_incarnation: 3,
            dst: node("b"),
            message: foca::Message::Ping(9),
        };
        let mut buf = Vec::new();
        codec.encode_header(&header, &mut buf).unwrap();
        buf.extend_from_slice(&2u16.to_be_bytes());
        let peek = peek_foca(&buf).unwrap();
        assert_eq!(peek.src, node("a").key());
        assert_eq!(peek.src_life, 42);
        assert_eq!(peek.src_incarnation, 3);
        assert_eq!(peek.updates, 2);
        let mut slice = &buf[..];
        assert_eq!(codec.decode_header(&mut slice).unwrap(), header);
        assert_eq!(slice.len(), 2);
    }

    #[test]
    fn encoding_into_a_full_buffer_leaves_it_untouched() {
        let mut codec = WireCodec::default();
        let mut storage = Vec::new();
        let member = foca::Member::alive(node("a"));
        let mut limited = bytes::BufMut::limit(&mut storage, 3);
        assert!(matches!(
            codec.encode_member(&member, &mut limited),
            Err(CodecError::NoRoom)
        ));
        assert!(storage.is_empty());
    }

    #[test]
    fn downs_from_a_sender_that_does_not_vouch_are_read_as_suspicions() {
        let doubt = Arc::new(AtomicBool::new(false));
        let mut codec = WireCodec::new(doubt.clone(), SharedCap::default());
        let down = foca::Member::new(node("a"), 4, foca::State::Down);
        let mut buf = Vec::new();
        codec.encode_member(&down, &mut buf).unwrap();
        assert_eq!(codec.decode_member(&buf[..]).unwrap(), down);
        doubt.store(true, Ordering::Relaxed);
        let read = codec.decode_member(&buf[..]).unwrap();
        assert_eq!(
            (read.id(), read.incarnation(), read.state()),
            (&node("a"), 4, foca::State::Suspect)
        );
        // Only downs are doubted.
        let alive = foca::Member::new(node("b"), 2, foca::State::Alive);
        let mut buf = Vec::new();
        codec.encode_member(&alive, &mut buf).unwrap();
        assert_eq!(codec.decode_member(&buf[..]).unwrap(), alive);
    }

    #[test]
    fn invalid_names_from_the_wire_are_rejected() {
        let bad = bincode::serde::encode_to_vec(
            foca::Member::alive(("bad name", SocketAddr::from(([1, 1, 1, 1], 1)), 1u64)),
            config(),
        )
        .unwrap();
        let mut codec = WireCodec::default();
        assert!(codec.decode_member(&bad[..]).is_err());
    }

    #[test]
    fn records_and_control_messages_round_trip() {
        let mut record = HealthRecord::new("a".into(), 5, 10, true);
        record.status = HealthStatus::Warning;
        record.seniority = Some(3);
        let bytes = encode_record(&record).unwrap();
        assert_eq!(encoded_len(&record), bytes.len());
        assert_eq!(decode_record(&bytes).unwrap(), record);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_record(&trailing).is_err());

        let control = Control::JoinRefused {
            request: 7,
            reason: Refusal::NameTaken {
                addr: SocketAddr::from(([10, 0, 0, 2], 1)),
            },
        };
        let bytes = encode_control(&control).unwrap();
        assert_eq!(decode_control(&bytes).unwrap(), control);
    }

    #[test]
    fn garbage_never_panics_the_decoders() {
        let mut state = 0x1234_5678_u32;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = decode_control(&bytes);
            let _ = decode_record(&bytes);
            let _ = peek_foca(&bytes);
            let _ = open(&bytes, "c", None, &mut Vec::new());
        }
    }
}
