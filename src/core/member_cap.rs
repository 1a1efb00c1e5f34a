//! The bound on how many members one view holds.
//!
//! Every member a datagram names costs memory in foca's list and in the
//! view, and a member holding the key could name as many as it likes. foca
//! 2 forgets a member only through its reap timer (a day by default), so
//! the bound is kept before foca learns of a member: the codec asks
//! [`MemberCap::admit`] about every member update it reads, the record inbox
//! about every record, and the node about every sender, joiner and state
//! sync it takes. Below `max_members` everything is admitted; at it, only
//! members the view already holds are, and every refusal is counted.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex, MutexGuard};

use super::identity::{KeyHasher, MemberKey};

/// The members a view holds (other than the node itself), up to a limit.
#[derive(Debug)]
pub(crate) struct MemberCap {
    own: MemberKey,
    limit: usize,
    /// Every member given a place: in foca's list, in the view, or on its
    /// way to them.
    held: HashSet<MemberKey, BuildHasherDefault<KeyHasher>>,
    /// Member updates, records, senders and joiners refused at the limit.
    pub(crate) refused: u64,
}

/// A cap shared by the codec, the record inbox and the view.
pub(crate) type SharedCap = Arc<Mutex<MemberCap>>;

impl MemberCap {
    /// A cap of `limit` members other than `own`.
    pub(crate) fn new(own: MemberKey, limit: usize) -> Self {
        Self {
            own,
            limit,
            held: HashSet::default(),
            refused: 0,
        }
    }

    /// A cap for `own` to share.
    pub(crate) fn shared(own: MemberKey, limit: usize) -> SharedCap {
        Arc::new(Mutex::new(Self::new(own, limit)))
    }

    /// Whether the view may hold `key`: it holds it already, or has room
    /// (then its place is taken). A refusal is counted.
    pub(crate) fn admit(&mut self, key: MemberKey) -> bool {
        if key == self.own || self.held.contains(&key) {
            return true;
        }
        if self.held.len() >= self.limit {
            self.refused += 1;
            return false;
        }
        self.held.insert(key);
        true
    }

    /// Gives up `key`'s place: the view forgot it.
    pub(crate) fn release(&mut self, key: MemberKey) {
        self.held.remove(&key);
    }

    /// Keeps only the places of members the view still holds: a place is
    /// taken when a member is admitted, and foca may still not apply it (a
    /// datagram that failed to decode past it).
    pub(crate) fn retain(&mut self, holds: impl Fn(MemberKey) -> bool) {
        self.held.retain(|key| holds(*key));
    }

    /// Members holding a place.
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }
}

impl Default for MemberCap {
    /// No limit, for codecs used outside a node (tests, the fuzzers).
    fn default() -> Self {
        Self::new(MemberKey::of(""), usize::MAX)
    }
}

/// Locks the cap; a poisoned lock only means a panic elsewhere, and the
/// data stays usable.
pub(crate) fn lock(cap: &Mutex<MemberCap>) -> MutexGuard<'_, MemberCap> {
    cap.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_only_held_members_are_admitted_and_refusals_are_counted() {
        let key = |name: &str| MemberKey::of(name);
        let mut cap = MemberCap::new(key("me"), 2);
        assert!(cap.admit(key("a")));
        assert!(cap.admit(key("b")));
        assert!(cap.admit(key("a")), "held already");
        assert!(cap.admit(key("me")), "the node itself takes no place");
        assert!(!cap.admit(key("c")));
        assert!(!cap.admit(key("d")));
        assert_eq!(cap.refused, 2);
        cap.release(key("a"));
        assert!(cap.admit(key("c")));
        cap.retain(|k| k != key("b"));
        assert_eq!(cap.len(), 1);
        assert!(cap.admit(key("d")));
        assert!(!cap.admit(key("e")));
        assert_eq!(cap.refused, 3);
    }
}
