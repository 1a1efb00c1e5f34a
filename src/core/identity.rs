//! Who a member is: its name, the address it gossips on, and which life of
//! that name it is.
//!
//! A name is the cluster-wide key of a member (foca's `Identity::Addr`): one
//! name, one member. The identity incarnation tells lives of one name apart;
//! a restart starts with a larger one and [`foca::Identity::renew`] bumps it
//! when the cluster declared this life down, so the new life always wins the
//! conflict with the old one. It is not foca's SWIM incarnation (a `u16`
//! that refutes suspicion within one life).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Longest member name accepted, in bytes: names travel in every packet.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// A member's name as a 64-bit key: what foca compares when it looks a
/// member up (its `Identity::Addr`) and what the node's maps are keyed by.
///
/// foca scans its member list linearly on every update, so comparing keys
/// instead of strings is what keeps a 1,000-member view cheap. The key never
/// leaves the process. Two names with the same key would be taken for one
/// member; with a 64-bit mix of FNV-1a that takes about 2^32 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberKey(u64);

impl MemberKey {
    /// The key of a name.
    pub fn of(name: &str) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // splitmix64's finaliser spreads FNV's bits over the whole word, so
        // the key can be used as its own hash.
        hash ^= hash >> 30;
        hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash ^= hash >> 27;
        hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
        Self(hash ^ (hash >> 31))
    }
}

/// Hashes a [`MemberKey`] by passing it through: it is a hash already.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by member.
pub(crate) type KeyMap<V> = HashMap<MemberKey, V, BuildHasherDefault<KeyHasher>>;

/// A member's identity as foca sees it.
///
/// 24 bytes: the key and the incarnation inline, the rest behind an `Arc`.
/// foca copies identities into every list it keeps and walks its member list
/// on every update, and the node compares that list with its own after
/// changes: what those walks read stays inline, in cache.
#[derive(Clone)]
pub struct NodeId {
    key: MemberKey,
    incarnation: u64,
    inner: Arc<IdInner>,
}

#[derive(Debug, PartialEq, Eq)]
struct IdInner {
    name: Arc<str>,
    addr: SocketAddr,
}

impl PartialEq for NodeId {
    fn eq(&self, other: &Self) -> bool {
        // The key stands for the name (see `MemberKey`): comparing the names
        // too would be a string comparison in foca's hottest loop.
        self.key == other.key
            && self.incarnation == other.incarnation
            && (Arc::ptr_eq(&self.inner, &other.inner) || self.inner.addr == other.inner.addr)
    }
}

impl Eq for NodeId {}

impl std::hash::Hash for NodeId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        self.incarnation.hash(state);
    }
}

/// The wire form: name, address, identity incarnation.
#[derive(Serialize)]
struct WireNodeIdRef<'a> {
    name: &'a str,
    addr: SocketAddr,
    incarnation: u64,
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireNodeIdRef {
            name: &self.inner.name,
            addr: self.inner.addr,
            incarnation: self.incarnation,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireNodeId::deserialize(deserializer)?;
        Self::try_from(wire).map_err(serde::de::Error::custom)
    }
}

/// The decoded form, checked before it becomes a [`NodeId`]: names arrive
/// from the network.
#[derive(Deserialize)]
struct WireNodeId {
    name: String,
    addr: SocketAddr,
    incarnation: u64,
}

impl TryFrom<WireNodeId> for NodeId {
    type Error = NameError;

    fn try_from(wire: WireNodeId) -> Result<Self, NameError> {
        Self::new(&wire.name, wire.addr, wire.incarnation)
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("a member name must not be empty")]
    Empty,
    /// The name is longer than `MAX_NAME_LEN`.
    #[error("member name {0:?} is longer than {MAX_NAME_LEN} bytes")]
    TooLong(String),
    /// The name holds a character outside `[A-Za-z0-9._-]`.
    #[error("member name {0:?} may only hold letters, digits, '.', '_' and '-'")]
    BadCharacter(String),
}

/// Checks that `name` can name a member: short, printable, no spaces, so it
/// reads well in logs, metrics labels and URLs.
pub(crate) fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(NameError::BadCharacter(name.to_owned()));
    }
    Ok(())
}

impl NodeId {
    /// A new identity. `incarnation` must grow from one start of the process
    /// to the next (the agent uses the start time in milliseconds), so a
    /// restarted member replaces its previous life everywhere.
    pub fn new(name: &str, addr: SocketAddr, incarnation: u64) -> Result<Self, NameError> {
        validate_name(name)?;
        Ok(Self {
            key: MemberKey::of(name),
            incarnation,
            inner: Arc::new(IdInner {
                name: Arc::from(name),
                addr,
            }),
        })
    }

    /// The member's name, unique in the cluster.
    pub fn name(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// The member's key.
    pub fn key(&self) -> MemberKey {
        self.key
    }

    /// The same identity sharing `name`'s allocation (when they are equal),
    /// so a view holds each name once.
    pub(crate) fn with_shared_name(self, name: &Arc<str>) -> Self {
        if Arc::ptr_eq(&self.inner.name, name) || *self.inner.name != **name {
            return self;
        }
        Self {
            key: self.key,
            incarnation: self.incarnation,
            inner: Arc::new(IdInner {
                name: name.clone(),
                addr: self.inner.addr,
            }),
        }
    }

    /// The address the member gossips on.
    pub fn socket_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Which life of this name this is.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}#{}",
            self.inner.name, self.inner.addr, self.incarnation
        )
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.inner.name, self.inner.addr)
    }
}

impl foca::Identity for NodeId {
    type Addr = MemberKey;

    fn renew(&self) -> Option<Self> {
        // A life at the top of the range cannot renew: foca then reports the
        // identity defunct instead of wrapping back to the first life.
        Some(Self {
            key: self.key,
            incarnation: self.incarnation.checked_add(1)?,
            inner: self.inner.clone(),
        })
    }

    fn addr(&self) -> MemberKey {
        self.key
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // The later life wins; equal incarnations only meet when two processes
        // share a name, and the address then decides so every member agrees.
        (self.incarnation, self.inner.addr) > (adversary.incarnation, adversary.inner.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn names_are_validated() {
        assert!(NodeId::new("node-1.eu_west", addr(1), 0).is_ok());
        assert_eq!(NodeId::new("", addr(1), 0), Err(NameError::Empty));
        assert!(matches!(
            NodeId::new("a b", addr(1), 0),
            Err(NameError::BadCharacter(_))
        ));
        assert!(matches!(
            NodeId::new(&"x".repeat(65), addr(1), 0),
            Err(NameError::TooLong(_))
        ));
    }

    #[test]
    fn renewed_identity_wins_over_its_previous_life() {
        let first = NodeId::new("a", addr(1), 7).unwrap();
        let renewed = first.renew().unwrap();
        assert_eq!(renewed.incarnation(), 8);
        assert_eq!(renewed.socket_addr(), first.socket_addr());
        assert!(renewed.win_addr_conflict(&first));
        assert!(!first.win_addr_conflict(&renewed));
    }

    #[test]
    fn restarted_member_on_a_new_address_wins() {
        let old = NodeId::new("a", addr(9), 100).unwrap();
        let new = NodeId::new("a", addr(1), 200).unwrap();
        assert!(new.win_addr_conflict(&old));
        assert_eq!(foca::Identity::addr(&new), foca::Identity::addr(&old));
    }

    #[test]
    fn keys_follow_names_and_survive_the_wire() {
        assert_eq!(MemberKey::of("a"), MemberKey::of("a"));
        assert_ne!(MemberKey::of("node-1"), MemberKey::of("node-2"));
        let id = NodeId::new("node-1", addr(1), 3).unwrap();
        let back: NodeId = serde_json::from_str(&serde_json::to_string(&id).unwrap()).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.key(), MemberKey::of("node-1"));
    }

    #[test]
    fn distinct_names_get_distinct_keys() {
        let keys: std::collections::HashSet<_> = (0..100_000)
            .map(|i| MemberKey::of(&format!("node-{i}")))
            .collect();
        assert_eq!(keys.len(), 100_000);
    }
}
