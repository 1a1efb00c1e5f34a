//! Who a member is: its name, the address it gossips on, and which life of
//! that name it is.
//!
//! A name is the cluster-wide key of a member (foca's `Identity::Addr`): one
//! name, one member. The identity incarnation tells lives of one name apart;
//! a restart starts with a larger one and [`foca::Identity::renew`] bumps it
//! when the cluster declared this life down, so the new life always wins the
//! conflict with the old one. It is not foca's SWIM incarnation (a `u16`
//! that refutes suspicion within one life).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Longest member name accepted, in bytes: names travel in every packet.
pub const MAX_NAME_LEN: usize = 64;

/// A member's identity as foca sees it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WireNodeId")]
pub struct NodeId {
    name: Arc<str>,
    addr: SocketAddr,
    incarnation: u64,
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
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("member name {0:?} is longer than {MAX_NAME_LEN} bytes")]
    TooLong(String),
    /// The name holds a character outside `[A-Za-z0-9._-]`.
    #[error("member name {0:?} may only hold letters, digits, '.', '_' and '-'")]
    BadCharacter(String),
}

/// Checks that `name` can name a member: short, printable, no spaces, so it
/// reads well in logs, metrics labels and URLs.
pub fn validate_name(name: &str) -> Result<(), NameError> {
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
            name: Arc::from(name),
            addr,
            incarnation,
        })
    }

    /// The member's name, unique in the cluster.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The address the member gossips on.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Which life of this name this is.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.addr, self.incarnation)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.addr)
    }
}

impl foca::Identity for NodeId {
    type Addr = Arc<str>;

    fn renew(&self) -> Option<Self> {
        Some(Self {
            name: self.name.clone(),
            addr: self.addr,
            incarnation: self.incarnation.wrapping_add(1),
        })
    }

    fn addr(&self) -> Arc<str> {
        self.name.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // The later life wins; equal incarnations only meet when two processes
        // share a name, and the address then decides so every member agrees.
        (self.incarnation, self.addr) > (adversary.incarnation, adversary.addr)
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
}
