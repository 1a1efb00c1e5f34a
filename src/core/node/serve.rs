//! The seed's side of a join, and of every state sync: answering with the
//! whole view cut into slices, refusing a joiner it must not take, and
//! merging a state that arrived. Part of the node (it answers from the
//! node's foca, members and record); the joiner's side is its own state
//! machine in [`crate::core::join`].
//!
//! The view (members, down ones included, and every health record) is cut
//! into slices by a hash of the member name, so a lost slice can be asked
//! for again by number.

use std::net::SocketAddr;

use super::*;
use crate::core::codec::{Refusal, WantedParts};
use crate::core::join::MAX_WANTED;

/// Most addresses holding a cookie at once.
const MAX_COOKIES: usize = 4096;

/// Most parts a seed cuts its state into.
pub(crate) const MAX_PARTS: u16 = 4096;

/// Which slice a member's data belongs to.
fn part_of(name: &str, total: u16) -> u16 {
    // FNV-1a: stable across processes, versions and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(total.max(1))) as u16
}

/// The parts a request for missing slices gets: each at most once, no more
/// than a joiner asks for in one request (`join::MAX_WANTED`), in order. A
/// request that named part 0 a thousand times was answered with as many
/// datagrams: an amplifier for whoever forges the request's address.
fn asked_parts(wanted: WantedParts) -> (u16, Vec<u16>) {
    let total = wanted.total.min(MAX_PARTS);
    let mut parts: Vec<u16> = wanted.parts.into_iter().filter(|p| *p < total).collect();
    parts.sort_unstable();
    parts.dedup();
    parts.truncate(MAX_WANTED);
    (total, parts)
}

/// A join or sync request as a seed weighs it.
pub(super) struct JoinAsk {
    pub(super) joiner: NodeId,
    pub(super) request: u64,
    pub(super) wanted: Option<WantedParts>,
    pub(super) cookie: Option<u64>,
    /// The request's bytes, envelope included.
    pub(super) spent: usize,
}

impl Node {
    pub(super) fn serve_join(&mut self, now: Time, from: SocketAddr, ask: JoinAsk) {
        let JoinAsk {
            joiner,
            request,
            wanted,
            cookie,
            spent,
        } = ask;
        let own = self.id().clone();
        if joiner == own {
            return;
        }
        if self.phase == Phase::Joining && self.rejoin_deadlock(&joiner) {
            tracing::info!(
                member = %joiner,
                "a member rejoining through this rejoining node: resuming membership to take it"
            );
            self.become_joined(now, None);
        }
        let refusal = match self.phase {
            Phase::Left => Some(Refusal::Leaving),
            Phase::Joining => Some(Refusal::NotJoined),
            Phase::Joined if joiner.name() == own.name() => Some(Refusal::NameTaken {
                addr: own.socket_addr(),
            }),
            // A view without a quorum takes nobody (a newcomer would learn a
            // fragment as the cluster) except a member it holds down: that
            // one it told to rejoin, and when no side of a partition kept a
            // majority, the fragments merge by rejoining through each other.
            Phase::Joined
                if !self.election().quorate
                    && !self
                        .members
                        .get(&joiner.key())
                        .is_some_and(|k| k.state == Some(MemberState::Down)) =>
            {
                Some(Refusal::NoQuorum)
            }
            Phase::Joined if !self.members.admit(joiner.key()) => Some(Refusal::Full {
                max_members: u32::try_from(self.cfg.gossip.max_members).unwrap_or(u32::MAX),
            }),
            Phase::Joined => self.name_holder(now, &joiner),
        };
        if let Some(reason) = refusal {
            self.stats.joins_refused += 1;
            self.send_control(from, &Control::JoinRefused { request, reason });
            return;
        }
        self.stats.joins_served += 1;
        let welcome = std::iter::once(foca::Member::alive(joiner));
        if let Err(err) = self.foca.apply_many(welcome, true, &mut self.rt) {
            tracing::debug!(error = err.to_string().as_str(), "adding a joiner");
        }
        self.absorb_foca(now);
        // The state is many datagrams. Until the requester shows it receives
        // at its address (by echoing the cookie sent there), it gets at most
        // AMPLIFICATION times what it sent: a forged source address turns a
        // request into no flood at a victim, even from a member holding the
        // key (QUIC's rule before address validation). A joiner pads its
        // first request, so a small state still comes whole at once.
        let proven = cookie.is_some() && self.cookies.get(&from) == cookie.as_ref();
        let allowance = (!proven).then_some(spent * codec::AMPLIFICATION);
        self.send_state(from, request, wanted, allowance);
    }

    /// The cookie for `from`: the one it was given, else a new one.
    fn cookie_for(&mut self, from: SocketAddr) -> u64 {
        if let Some(cookie) = self.cookies.get(&from) {
            return *cookie;
        }
        if self.cookies.len() >= MAX_COOKIES {
            // A flood of forged addresses: the table stays bounded, and a
            // real requester pays one more round trip.
            self.cookies.clear();
        }
        let cookie = self.rng.random();
        self.cookies.insert(from, cookie);
        cookie
    }

    /// Two members told to rejoin at once often rejoin through each other,
    /// each refusing the other (`NotJoined`) for good when no third member
    /// is left to ask (found by the swarm: two of three members, the third
    /// gone). The one with the smaller key resumes its membership with the
    /// view it has and takes the other; a newcomer this node never knew
    /// does not count.
    fn rejoin_deadlock(&self, joiner: &NodeId) -> bool {
        self.was_joined() && self.id().key() < joiner.key() && self.members.contains(&joiner.key())
    }

    /// A joiner asks for a name a live member holds at another address:
    /// a replaced machine (same name, new address) or a second node given
    /// the same name by mistake. The first request asks the holder whether
    /// it lives (a suspect notice, which a live holder refutes at once) and
    /// is refused; a retry a probe timeout later, with no refutation seen,
    /// declares the old life down and lets the new one in, so a replacement
    /// joins within about a second of asking instead of after a whole
    /// failure detection. Only a view that vouches declares it down.
    fn name_holder(&mut self, now: Time, joiner: &NodeId) -> Option<Refusal> {
        let key = joiner.key();
        let known = self.members.get(&key)?;
        let holder = known.id.clone()?;
        let live = known.state.is_some_and(|s| s.is_live());
        if !live || holder.socket_addr() == joiner.socket_addr() || holder == *joiner {
            return None;
        }
        let incarnation = known.swim.map_or(0, |(incarnation, _)| incarnation);
        let refusal = Some(Refusal::NameTaken {
            addr: holder.socket_addr(),
        });
        let silent = self.replacing.get(&key).is_some_and(|(asked, at, id)| {
            *id == holder
                && *at == incarnation
                && now >= *asked + self.cfg.gossip.probe_timeout
                && now < *asked + self.cfg.gossip.probe_timeout * 20
        });
        if silent && self.vouches(self.election().claim_quorate) {
            self.replacing.remove(&key);
            tracing::info!(
                member = %holder,
                replacement = %joiner,
                "a member did not answer while a new machine asked for its name; declaring it down"
            );
            let old = std::iter::once(foca::Member::new(holder, incarnation, foca::State::Down));
            if let Err(err) = self.foca.apply_many(old, false, &mut self.rt) {
                tracing::debug!(
                    error = err.to_string().as_str(),
                    "declaring a replaced member down"
                );
            }
            self.absorb_foca(now);
            return None;
        }
        let asked_recently = self.replacing.get(&key).is_some_and(|(asked, _, id)| {
            *id == holder && now < *asked + self.cfg.gossip.probe_timeout
        });
        if !asked_recently {
            if self.replacing.len() > 1024 {
                self.replacing.clear();
            }
            self.replacing
                .insert(key, (now, incarnation, holder.clone()));
            self.tell_suspected(holder.clone(), incarnation);
        }
        refusal
    }

    fn send_state(
        &mut self,
        to: SocketAddr,
        request: u64,
        wanted: Option<WantedParts>,
        allowance: Option<usize>,
    ) {
        let own = self.id().clone();
        // Our own earlier lives, which foca keeps as down, are no news.
        let mut members: Vec<foca::Member<NodeId>> = self
            .foca
            .iter_membership_state()
            .filter(|m| m.id().key() != own.key())
            .cloned()
            .collect();
        members.push(foca::Member::alive(own.clone()));
        let mut records = self.members.records();
        records.push(self.record.clone());

        let budget = codec::MAX_DATAGRAM - 6 - self.cfg.cluster.len();
        // What one slice may take: the datagram less its envelope (the term
        // and, when sealed, the nonce and tag). `budget` above, which
        // forgets those, only sizes the average slice.
        let sealed = self.rt.sealer.as_ref().is_some_and(|s| s.seals());
        let cap = codec::MAX_DATAGRAM - codec::envelope_len(self.cfg.cluster.len(), sealed);
        let (total, parts): (u16, Vec<u16>) = match wanted {
            Some(wanted) if wanted.total > 0 => asked_parts(wanted),
            _ => {
                let bytes: usize = members.iter().map(codec::encoded_len).sum::<usize>()
                    + records.iter().map(codec::encoded_len).sum::<usize>();
                // A third of a datagram per slice on average, so an unlucky
                // hash spread still fits.
                let overhead = 32 + codec::encoded_len(&own);
                let per_part = (budget.saturating_sub(overhead) / 3).max(1);
                let total = bytes.div_ceil(per_part).clamp(1, usize::from(MAX_PARTS)) as u16;
                (total, (0..total).collect())
            }
        };
        // Deal everything into its slice once, not once per slice.
        let slices = usize::from(total);
        let mut member_slices: Vec<Vec<foca::Member<NodeId>>> = vec![Vec::new(); slices];
        for member in members {
            member_slices[usize::from(part_of(member.id().name(), total))].push(member);
        }
        let mut record_slices: Vec<Vec<HealthRecord>> = vec![Vec::new(); slices];
        for record in records {
            record_slices[usize::from(part_of(&record.name, total))].push(record);
        }
        let mut slices = Vec::with_capacity(parts.len());
        for part in parts {
            let index = usize::from(part);
            let mut slice = SyncPart {
                request,
                responder: own.clone(),
                part,
                total,
                founding: self.record.founding,
                truncated: false,
                cookie: None,
                members: std::mem::take(&mut member_slices[index]),
                records: std::mem::take(&mut record_slices[index]),
            };
            // One more byte for the `Control` variant tag.
            while codec::encoded_len(&slice) + 1 > cap
                && !(slice.members.is_empty() && slice.records.is_empty())
            {
                slice.truncated = true;
                if slice.records.len() > slice.members.len() {
                    slice.records.pop();
                } else {
                    slice.members.pop();
                }
            }
            if slice.truncated {
                tracing::debug!(part, total, "a sync slice was cut to fit a datagram");
            }
            slices.push(slice);
        }
        if let Some(allowance) = allowance {
            // The slices that fit the allowance, and the cookie on the last
            // of them; a cookie alone when none does.
            let envelope = codec::envelope_len(self.cfg.cluster.len(), sealed);
            let mut spent = 0;
            let fit = slices
                .iter()
                .take_while(|slice| {
                    // One more byte for the `Control` variant tag.
                    spent += envelope + codec::encoded_len(*slice) + 1;
                    spent <= allowance
                })
                .count();
            if fit < slices.len() {
                let cookie = self.cookie_for(to);
                slices.truncate(fit);
                match slices.last_mut() {
                    Some(last) => last.cookie = Some(cookie),
                    None => {
                        self.send_control(to, &Control::Cookie { request, cookie });
                        return;
                    }
                }
            }
        }
        let sent_before = self.stats.bytes_sent;
        for slice in slices {
            self.send_control(to, &Control::SyncPart(slice));
        }
        self.stats.state_bytes_served += self.stats.bytes_sent - sent_before;
    }

    /// Takes members and records learned outside gossip. A sender that does
    /// not vouch for its view passes its downs on as suspicions, as in
    /// gossip (see `WireCodec`).
    pub(super) fn merge_state(
        &mut self,
        now: Time,
        members: Vec<foca::Member<NodeId>>,
        records: impl IntoIterator<Item = impl Into<Arc<HealthRecord>>>,
        vouched: bool,
    ) {
        // What a peer thinks of us is no news to us (and a stale "down" would
        // make us rejoin for nothing).
        let own = self.id().key();
        let cap = &self.members;
        self.foca_places.refresh(now, &self.foca);
        let places = &mut self.foca_places;
        let foca = &self.foca;
        let members: Vec<_> = members
            .into_iter()
            .filter(|m| m.id().key() != own && cap.admit(m.id().key()))
            .map(|m| {
                if !vouched && m.state() == foca::State::Down {
                    foca::Member::new(m.id().clone(), m.incarnation(), foca::State::Suspect)
                } else {
                    m
                }
            })
            .filter(|m| !places.holds_as_is(foca, m))
            .collect();
        let listed = self.foca.iter_membership_state().len();
        let news = !members.is_empty();
        if let Err(err) = self
            .foca
            .apply_many(members.into_iter(), false, &mut self.rt)
        {
            tracing::debug!(error = err.to_string().as_str(), "applying a state sync");
        }
        if self.foca.iter_membership_state().len() != listed {
            // foca inserts a newcomer at a random place.
            self.foca_places.forget();
        }
        for record in records {
            self.members.offer(record);
        }
        // Entries foca held as they are changed nothing in it: a scan
        // would find its list as it left it.
        if news {
            self.scan_needed = true;
        }
        self.news_possible = true;
        self.absorb_foca(now);
    }
}

/// Where each member sits in foca's list, for telling which entries of a
/// whole-state sync foca already holds as they are.
///
/// foca finds the member an update is about by walking its list, so a
/// whole state applied as it came cost members² steps a sync, and the
/// scan that followed each slice a walk more; at 10,000 simulated nodes
/// that was most of the run's wall time. An entry foca holds with the same
/// identity, life and state changes nothing in foca (it draws nothing from
/// its generator and notifies nothing), so it is left out after one lookup.
///
/// Places go stale when foca inserts, reaps or shuffles its list. Every
/// hit is checked against the entry foca has at that place, so a stale
/// place costs only the filtering of that entry, never an update.
#[derive(Debug, Default)]
pub(crate) struct FocaPlaces {
    /// When the places were read from foca; `None` when none are held
    /// (and `at` holds no memory).
    read_at: Option<Time>,
    /// A place that did not hold the member it was read for: re-read at
    /// the next sync slice.
    stale: bool,
    at: KeyMap<u32>,
}

impl FocaPlaces {
    /// How long places are kept after they were read: the slices of one
    /// sync arrive within a few milliseconds of each other and share them;
    /// then the memory goes back (at 2 s, the warm simulated cluster's
    /// first syncs, all within 1.5 s, held 32 bytes more a node and member
    /// at their peak; at 50 ms, 6).
    const KEPT: Duration = Duration::from_millis(50);

    /// Reads the places from foca unless those held are fresh.
    fn refresh(&mut self, now: Time, foca: &Swim) {
        if self.read_at.is_some_and(|at| now < at + Self::KEPT) && !self.stale {
            return;
        }
        self.at.clear();
        self.at.extend(
            foca.iter_membership_state()
                .enumerate()
                .map(|(i, m)| (m.id().key(), i as u32)),
        );
        self.read_at = Some(now);
        self.stale = false;
    }

    /// Whether foca holds `member` with the same identity, life and state.
    fn holds_as_is(&mut self, foca: &Swim, member: &foca::Member<NodeId>) -> bool {
        let key = member.id().key();
        let Some(&at) = self.at.get(&key) else {
            return false;
        };
        match foca.iter_membership_state().nth(at as usize) {
            Some(held) if held.id().key() == key => {
                held.id() == member.id()
                    && held.incarnation() == member.incarnation()
                    && held.state() == member.state()
            }
            _ => {
                self.stale = true;
                false
            }
        }
    }

    /// Drops the places (and their memory): foca's list moved.
    fn forget(&mut self) {
        *self = Self::default();
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.read_at.is_none() && self.at.capacity() == 0
    }

    /// Gives the memory back once the places are old.
    pub(super) fn expire(&mut self, now: Time) {
        if self.read_at.is_some_and(|at| now >= at + Self::KEPT) {
            *self = Self::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::part_of;

    #[test]
    fn a_request_for_slices_gets_each_at_most_once_and_a_bounded_number() {
        use super::{MAX_WANTED, WantedParts, asked_parts};
        let repeated = WantedParts {
            total: 8,
            parts: vec![0; 1000],
        };
        assert_eq!(asked_parts(repeated), (8, vec![0]));
        let mixed = WantedParts {
            total: 8,
            parts: vec![5, 1, 9, 5, 3],
        };
        assert_eq!(asked_parts(mixed), (8, vec![1, 3, 5]));
        let many = WantedParts {
            total: 4096,
            parts: (0..4096).rev().collect(),
        };
        let (total, parts) = asked_parts(many);
        assert_eq!((total, parts.len(), parts[0]), (4096, MAX_WANTED, 0));
    }

    #[test]
    fn slices_are_stable_and_spread() {
        assert_eq!(part_of("node-1", 7), part_of("node-1", 7));
        let mut counts = [0usize; 4];
        for i in 0..400 {
            counts[usize::from(part_of(&format!("node-{i}"), 4))] += 1;
        }
        assert!(counts.iter().all(|c| (60..140).contains(c)), "{counts:?}");
        assert_eq!(part_of("anything", 1), 0);
    }
}
