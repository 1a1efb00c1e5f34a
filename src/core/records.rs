//! Health records as foca custom broadcasts.
//!
//! foca owns its broadcast handler and offers no way back to it, so the
//! handler and the node share a small [`RecordInbox`]: the handler decides
//! whether a record is news (and so worth passing on) by its freshness, and
//! queues the news for the node to apply after every foca call. The lock is
//! never contended: one node, one thread.

use std::sync::{Arc, Mutex, MutexGuard};

use super::codec::{self, CodecError};
use super::health::HealthRecord;
use super::identity::{self, KeyMap, MemberKey, NameError, NodeId};
use super::member_cap::{self, SharedCap};

/// What the handler and the node share.
#[derive(Debug)]
pub(crate) struct RecordInbox {
    /// This node's key: gossip about ourselves is never taken.
    own: MemberKey,
    /// Freshness of the newest record seen per member.
    latest: KeyMap<(u64, u64)>,
    /// Records that were news, in arrival order.
    pub(crate) news: Vec<Arc<HealthRecord>>,
    /// Broadcast items that did not decode.
    pub(crate) rejected: u64,
    /// The highest term a record about this node carried: an earlier life
    /// that claimed must not see its term handed out again.
    pub(crate) own_term: u64,
    /// The founding in which an earlier life of this node was admitted to
    /// the quorum, as the latest record about it says (`None` once it says
    /// the member left): a new life of an admitted member takes its place.
    pub(crate) own_admitted_in: Option<u64>,
    /// The view's bound: a record of a member the view has no room for is
    /// refused.
    cap: SharedCap,
}

/// Whether a record taken outside gossip makes its gossip no news here.
#[derive(Clone, Copy)]
enum Gossip {
    Seen,
    StillNews,
}

impl RecordInbox {
    pub(crate) fn new(own: Arc<str>, cap: SharedCap) -> Self {
        Self {
            own: MemberKey::of(&own),
            cap,
            latest: KeyMap::default(),
            news: Vec::new(),
            rejected: 0,
            own_term: 0,
            own_admitted_in: None,
        }
    }

    /// Takes a record learned outside gossip (a join's state sync). Returns
    /// whether it was news.
    pub(crate) fn offer(&mut self, record: impl Into<Arc<HealthRecord>>) -> bool {
        self.take(record.into(), Gossip::Seen)
    }

    /// A record its member sent this node directly: news for the view as
    /// from gossip, but its gossip, when it comes, is still news here and
    /// is passed on. Taken as seen, it was not: the primary's record sent
    /// to every member directly was no news anywhere when its gossip came,
    /// so nobody passed it on, and a member the direct datagram missed
    /// (5 % loss) named the drained primary until its next sync, 19 s
    /// later (found by the swarm). Passing every direct record on at once
    /// instead flooded gossip at a heal, and the refutation of a new
    /// primary came too late to one member, which declared it down (found
    /// by the swarm too).
    pub(crate) fn offer_direct(&mut self, record: impl Into<Arc<HealthRecord>>) -> bool {
        self.take(record.into(), Gossip::StillNews)
    }

    fn take(&mut self, record: Arc<HealthRecord>, gossip: Gossip) -> bool {
        if !record.plausible() {
            self.rejected += 1;
            return false;
        }
        let key = MemberKey::of(&record.name);
        if key == self.own {
            self.own_term = self.own_term.max(record.term);
            if record.leaving {
                self.own_admitted_in = None;
            } else if record.admitted {
                self.own_admitted_in = Some(record.founding);
            }
            return false;
        }
        let fresh = record.freshness();
        if self.latest.get(&key).is_some_and(|seen| *seen >= fresh) {
            return false;
        }
        if !member_cap::lock(&self.cap).admit(key) {
            return false;
        }
        match gossip {
            Gossip::Seen => {
                self.latest.insert(key, fresh);
            }
            Gossip::StillNews => {
                // Held (see `holds`), at no freshness yet.
                self.latest.entry(key).or_insert((0, 0));
            }
        }
        self.news.push(record);
        true
    }

    /// Forgets a member whose membership entry is gone for good.
    pub(crate) fn forget(&mut self, name: &str) {
        let key = MemberKey::of(name);
        self.latest.remove(&key);
        member_cap::lock(&self.cap).release(key);
    }

    /// Whether a record of `key` is known or on its way to the view.
    pub(crate) fn holds(&self, key: MemberKey) -> bool {
        self.latest.contains_key(&key)
    }
}

/// Locks the inbox; a poisoned lock only means a panic elsewhere, and the
/// data stays usable.
pub(crate) fn lock(inbox: &Mutex<RecordInbox>) -> MutexGuard<'_, RecordInbox> {
    inbox
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Identifies a record in foca's broadcast queue: a fresher record of the
/// same member replaces an older one still waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordKey {
    member: MemberKey,
    freshness: (u64, u64),
}

impl foca::Invalidates for RecordKey {
    fn invalidates(&self, other: &Self) -> bool {
        self.member == other.member && self.freshness >= other.freshness
    }
}

/// A broadcast item that was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    /// It did not decode.
    #[error("health record: {0}")]
    Codec(#[from] CodecError),
    /// It names no valid member.
    #[error("health record: {0}")]
    Name(#[from] NameError),
    /// A seniority, term, life or version no real cluster reaches: arithmetic
    /// on it would overflow.
    #[error("health record: a counter is out of range")]
    Implausible,
}

/// foca's broadcast handler for health records.
#[derive(Debug)]
pub(crate) struct RecordGossip {
    inbox: Arc<Mutex<RecordInbox>>,
}

impl RecordGossip {
    pub(crate) fn new(inbox: Arc<Mutex<RecordInbox>>) -> Self {
        Self { inbox }
    }
}

impl foca::BroadcastHandler<NodeId> for RecordGossip {
    type Key = RecordKey;
    type Error = RecordError;

    fn receive_item(
        &mut self,
        data: &[u8],
        sender: Option<&NodeId>,
    ) -> Result<Option<RecordKey>, RecordError> {
        let record = match codec::decode_record(data) {
            Ok(record) => record,
            Err(err) => {
                lock(&self.inbox).rejected += 1;
                return Err(err.into());
            }
        };
        if let Err(err) = identity::validate_name(&record.name) {
            lock(&self.inbox).rejected += 1;
            return Err(err.into());
        }
        if !record.plausible() {
            lock(&self.inbox).rejected += 1;
            return Err(RecordError::Implausible);
        }
        let key = RecordKey {
            member: MemberKey::of(&record.name),
            freshness: record.freshness(),
        };
        // `None` is the node adding its own record: always (re)send it.
        if sender.is_none() {
            return Ok(Some(key));
        }
        Ok(lock(&self.inbox).offer(record).then_some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::BroadcastHandler;
    use std::net::SocketAddr;

    fn sender() -> NodeId {
        NodeId::new("peer", SocketAddr::from(([127, 0, 0, 1], 1)), 1).unwrap()
    }

    fn record(name: &str, incarnation: u64, version: u64) -> Vec<u8> {
        let mut record = HealthRecord::new(name.into(), incarnation, 0, true);
        record.version = version;
        codec::encode_record(&record).unwrap()
    }

    #[test]
    fn only_fresher_records_are_news() {
        let inbox = Arc::new(Mutex::new(RecordInbox::new(
            "me".into(),
            SharedCap::default(),
        )));
        let mut handler = RecordGossip::new(inbox.clone());
        let from = sender();
        assert!(
            handler
                .receive_item(&record("a", 1, 1), Some(&from))
                .unwrap()
                .is_some()
        );
        assert!(
            handler
                .receive_item(&record("a", 1, 1), Some(&from))
                .unwrap()
                .is_none()
        );
        assert!(
            handler
                .receive_item(&record("a", 1, 0), Some(&from))
                .unwrap()
                .is_none()
        );
        assert!(
            handler
                .receive_item(&record("a", 1, 2), Some(&from))
                .unwrap()
                .is_some()
        );
        // A later life wins even with a lower version.
        assert!(
            handler
                .receive_item(&record("a", 2, 0), Some(&from))
                .unwrap()
                .is_some()
        );
        assert_eq!(lock(&inbox).news.len(), 3);
    }

    #[test]
    fn gossip_about_ourselves_is_ignored_but_our_own_records_are_sent() {
        let inbox = Arc::new(Mutex::new(RecordInbox::new(
            "me".into(),
            SharedCap::default(),
        )));
        let mut handler = RecordGossip::new(inbox.clone());
        assert!(
            handler
                .receive_item(&record("me", 9, 9), Some(&sender()))
                .unwrap()
                .is_none()
        );
        assert!(
            handler
                .receive_item(&record("me", 1, 1), None)
                .unwrap()
                .is_some()
        );
        assert!(lock(&inbox).news.is_empty());
    }

    #[test]
    fn garbage_is_refused_and_counted() {
        let inbox = Arc::new(Mutex::new(RecordInbox::new(
            "me".into(),
            SharedCap::default(),
        )));
        let mut handler = RecordGossip::new(inbox.clone());
        assert!(
            handler
                .receive_item(&[0xff, 0xff, 0xff], Some(&sender()))
                .is_err()
        );
        let bad_name = record("bad name", 1, 1);
        assert!(handler.receive_item(&bad_name, Some(&sender())).is_err());
        assert_eq!(lock(&inbox).rejected, 2);
    }

    #[test]
    fn a_fresher_key_invalidates_an_older_one_of_the_same_member() {
        use foca::Invalidates;
        let key = |name: &str, v| RecordKey {
            member: MemberKey::of(name),
            freshness: (1, v),
        };
        assert!(key("a", 2).invalidates(&key("a", 1)));
        assert!(!key("a", 1).invalidates(&key("a", 2)));
        assert!(!key("b", 2).invalidates(&key("a", 1)));
    }
}
