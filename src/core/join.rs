//! Joining through seeds, with a full state sync.
//!
//! A starting node asks one seed at a time to take it (`JoinRequest`),
//! backing off from `join_retry_min` to `join_retry_max` while no seed
//! answers. A seed that has joined a cluster itself answers with its whole
//! view (members, down ones included, and every health record) cut into
//! slices by a hash of the member name, so a lost slice can be asked for
//! again by number. Only when every slice arrived has the node "joined": it
//! then knows every seniority in the cluster and may rank behind them.
//!
//! A seed refuses a joiner whose name a live member at another address
//! already uses; the joiner logs it and keeps retrying (the old holder of
//! the name may be a crashed life not yet declared down).

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;

use super::api::{Event, Phase};
use super::codec::{self, Control, Refusal, SyncPart, WantedParts};
use super::health::HealthRecord;
use super::identity::NodeId;
use super::node::{Node, NodeTimer};
use super::timer::Time;

/// Most parts a seed cuts its state into.
const MAX_PARTS: u16 = 4096;
/// Most missing parts one retry asks for (keeps the request one datagram).
const MAX_WANTED: usize = 300;
/// Retries without a new slice before the joiner gives up on a seed.
const PATIENCE: u32 = 2;
/// Most members of the old view a rejoining node adds to its seeds.
const MAX_KNOWN_SEEDS: usize = 16;

/// The joiner's side of the protocol.
#[derive(Debug, Default)]
pub(crate) struct Joining {
    seeds: Vec<SocketAddr>,
    cursor: usize,
    /// Current attempt; older retry timers are stale.
    attempt: u64,
    delay: Duration,
    /// The request id answers must echo.
    request: u64,
    sync: Option<SyncProgress>,
    /// Since when seeds refuse our name (`NameTaken`), and how often they
    /// did: see [`Node::join_refused`].
    name_taken: Option<(Time, u32)>,
    /// When a member that reached us was last asked (see
    /// [`Node::joiner_reached`]).
    reached_at: Option<Time>,
}

#[derive(Debug)]
struct SyncProgress {
    responder: SocketAddr,
    total: u16,
    received: Vec<bool>,
    missing: usize,
    idle_retries: u32,
}

impl SyncProgress {
    fn wanted(&self) -> WantedParts {
        WantedParts {
            total: self.total,
            parts: (0..self.total)
                .filter(|part| !self.received[usize::from(*part)])
                .take(MAX_WANTED)
                .collect(),
        }
    }
}

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

impl Node {
    pub(crate) fn set_seeds(&mut self, now: Time, seeds: Vec<SocketAddr>) {
        let own = self.id().socket_addr();
        let given = !seeds.is_empty();
        let mut others: Vec<SocketAddr> = seeds.into_iter().filter(|s| *s != own).collect();
        others.dedup();
        let was_empty = self.join.seeds.is_empty();
        self.join.seeds = others;
        if self.phase != Phase::Joining {
            return;
        }
        if given && self.join.seeds.is_empty() {
            // Every seed is this node itself: it founds the cluster.
            tracing::info!("every seed is this node itself; founding a new cluster");
            self.found(now);
        } else if was_empty && !self.join.seeds.is_empty() {
            self.join.delay = self.cfg.join_retry_min;
            self.join_attempt(now);
        }
    }

    /// Rejoins after the cluster declared this node down: asks `first` (the
    /// member that said so) for the whole state, then the seeds, then the
    /// members the old view knew (`known`), as a joiner does.
    ///
    /// The members matter to a node with no other seed (a founder) after a
    /// heal with no majority anywhere: two nodes tell each other they are
    /// down, both rejoin, and each asks the other, which has not joined; the
    /// founder had nobody else to ask and asked the same joining node for
    /// 20 s (a real 2/2/1 split, in namespaces).
    pub(crate) fn rejoin_through(
        &mut self,
        now: Time,
        first: Option<SocketAddr>,
        known: Vec<SocketAddr>,
    ) {
        let mut seeds = self.join.seeds.clone();
        if let Some(first) = first {
            seeds.retain(|s| *s != first);
            seeds.insert(0, first);
        }
        // Only a node with no other seed to try (a founder) needs them: more
        // addresses for every rejoining node slowed large merges down.
        let known = if seeds.len() > 1 { Vec::new() } else { known };
        let own = self.id().socket_addr();
        for addr in known.into_iter().take(MAX_KNOWN_SEEDS) {
            if addr != own && !seeds.contains(&addr) {
                seeds.push(addr);
            }
        }
        if seeds.is_empty() {
            // Nobody to ask: a founder alone is a member again at once.
            self.found(now);
            return;
        }
        self.join.seeds = seeds;
        self.join.cursor = 0;
        self.join.sync = None;
        self.join.delay = self.cfg.join_retry_min;
        self.join_attempt(now);
    }

    /// A member of the cluster reached this joining node (a knock, gossip):
    /// the network to it works, so it is asked to take us at once rather
    /// than after a backoff that grew while nobody answered (a node
    /// restarted behind a partition joined 20 s after the heal; found by
    /// the swarm). At most once a second.
    pub(crate) fn joiner_reached(&mut self, now: Time, from: SocketAddr) {
        if self.phase != Phase::Joining
            || self.join.sync.is_some()
            || self.join.seeds.is_empty()
            || self
                .join
                .reached_at
                .is_some_and(|at| now < at + Duration::from_secs(1))
        {
            return;
        }
        self.join.reached_at = Some(now);
        self.join.request = self.rng.random();
        tracing::debug!(member = %from, "a member reached this joining node; asking it to join");
        self.send_sync_request(from);
        self.join.delay = self.cfg.join_retry_min;
        self.join.attempt += 1;
        let retry = now + self.cfg.join_retry_min;
        self.schedule(retry, NodeTimer::JoinRetry(self.join.attempt));
    }

    pub(crate) fn join_retry(&mut self, now: Time, attempt: u64) {
        if attempt == self.join.attempt && self.phase == Phase::Joining {
            self.join_attempt(now);
        }
    }

    fn join_attempt(&mut self, now: Time) {
        if self.join.seeds.is_empty() {
            return;
        }
        let (to, wanted) = match &mut self.join.sync {
            Some(sync) if sync.idle_retries < PATIENCE => {
                sync.idle_retries += 1;
                (sync.responder, Some(sync.wanted()))
            }
            _ if self.join.delay >= self.cfg.join_retry_max && self.join.seeds.len() > 1 => {
                // Nobody answered for a while (the seeds are cut off, or
                // some are gone for good): every seed is asked at once, so
                // the first to be reachable again answers within one retry
                // instead of waiting for its turn behind dead ones (a
                // replacement asked a seed that had left every other time,
                // and joined 23 s after the heal; found by the swarm).
                self.join.sync = None;
                self.join.request = self.rng.random();
                tracing::debug!(seeds = self.join.seeds.len(), "asking every seed to join");
                for seed in self.join.seeds.clone() {
                    self.send_sync_request(seed);
                }
                self.join.attempt += 1;
                let delay = self.jitter(self.join.delay);
                self.schedule(now + delay, NodeTimer::JoinRetry(self.join.attempt));
                return;
            }
            _ => {
                self.join.sync = None;
                let seed = self.join.seeds[self.join.cursor % self.join.seeds.len()];
                self.join.cursor = self.join.cursor.wrapping_add(1);
                self.join.request = self.rng.random();
                (seed, None)
            }
        };
        tracing::debug!(seed = %to, "asking to join");
        let request = Control::JoinRequest {
            joiner: self.id().clone(),
            request: self.join.request,
            wanted,
        };
        self.send_control(to, &request);
        self.join.attempt += 1;
        let delay = self.jitter(self.join.delay.max(self.cfg.join_retry_min));
        self.schedule(now + delay, NodeTimer::JoinRetry(self.join.attempt));
        self.join.delay = (self.join.delay * 2).min(self.cfg.join_retry_max);
    }

    /// Asks every seed for its state: used to find the cluster again when no
    /// member is reachable.
    pub(crate) fn request_sync_from_seeds(&mut self, _now: Time) {
        if self.join.seeds.is_empty() {
            return;
        }
        self.join.request = self.rng.random();
        for seed in self.join.seeds.clone() {
            self.send_sync_request(seed);
        }
    }

    /// Asks one member for its whole state.
    pub(crate) fn request_sync(&mut self, to: SocketAddr) {
        self.join.request = self.rng.random();
        self.send_sync_request(to);
    }

    fn send_sync_request(&mut self, to: SocketAddr) {
        let request = Control::JoinRequest {
            joiner: self.id().clone(),
            request: self.join.request,
            wanted: None,
        };
        self.send_control(to, &request);
    }

    pub(crate) fn join_refused(
        &mut self,
        now: Time,
        from: SocketAddr,
        request: u64,
        reason: Refusal,
    ) {
        if request != self.join.request || self.phase != Phase::Joining {
            return;
        }
        let name_taken = matches!(reason, Refusal::NameTaken { .. });
        let (since, refusals) = match self.join.name_taken {
            Some((since, refusals)) if name_taken => (since, refusals + 1),
            _ => (now, 1),
        };
        self.join.name_taken = name_taken.then_some((since, refusals));
        match &reason {
            // Logged as an error at first and every tenth time: a second node
            // given a live member's name by mistake must be noticed, without
            // a line every second.
            Refusal::NameTaken { addr } if refusals % 10 == 1 => tracing::error!(
                seed = %from,
                holder = %addr,
                name = %self.id().name(),
                "this name is used by a live member at another address; retrying. \
                 If that is another node, give this one a different --name"
            ),
            Refusal::NameTaken { addr } => {
                tracing::debug!(seed = %from, holder = %addr, "name still taken")
            }
            Refusal::NotJoined => {
                tracing::info!(seed = %from, "seed has not joined a cluster yet")
            }
            Refusal::Leaving => tracing::info!(seed = %from, "seed is leaving"),
            Refusal::NoQuorum => tracing::info!(seed = %from, "seed sees no quorum"),
        }
        self.events
            .push_back(Event::JoinRefused { seed: from, reason });
        self.join.sync = None;
        // A replaced machine's old life may simply be dead: the seed asked it
        // (see `name_holder`) and lets the new life in when it did not refute
        // in time, or once it declares it down on its own (a seed without a
        // majority, after a heal, does so a suspicion timeout after it hears
        // again). So the same seed is asked again two probe timeouts later,
        // then every probe period, for two suspicion timeouts: walking the
        // seeds at the usual backoff cost a replacement 28 s after a switch
        // reboot (found by the swarm). Past that window the name is likely a
        // real duplicate, and the seeds are walked at the usual backoff.
        let window = self.suspicion_timeout() * 2;
        if name_taken && now < since + window {
            let again = if refusals == 1 {
                self.cfg.probe_timeout * 2
            } else {
                self.cfg.probe_period
            };
            self.join.cursor = self.join.cursor.wrapping_sub(1);
            self.join.attempt += 1;
            self.schedule(now + again, NodeTimer::JoinRetry(self.join.attempt));
        }
    }

    pub(crate) fn serve_join(
        &mut self,
        now: Time,
        from: SocketAddr,
        joiner: NodeId,
        request: u64,
        wanted: Option<WantedParts>,
    ) {
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
                        .is_some_and(|k| k.state == Some(super::view::MemberState::Down)) =>
            {
                Some(Refusal::NoQuorum)
            }
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
            tracing::debug!(error = %err, "adding a joiner");
        }
        self.absorb_foca(now);
        self.send_state(from, request, wanted);
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
                && now >= *asked + self.cfg.probe_timeout
                && now < *asked + self.cfg.probe_timeout * 20
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
                tracing::debug!(error = %err, "declaring a replaced member down");
            }
            self.absorb_foca(now);
            return None;
        }
        let asked_recently = self
            .replacing
            .get(&key)
            .is_some_and(|(asked, _, id)| *id == holder && now < *asked + self.cfg.probe_timeout);
        if !asked_recently {
            if self.replacing.len() > 1024 {
                self.replacing.clear();
            }
            self.replacing
                .insert(key, (now, incarnation, holder.clone()));
            let ask = Control::SuspectNotice {
                identity: holder.clone(),
                incarnation,
                from: self.id().clone(),
            };
            self.send_control(holder.socket_addr(), &ask);
        }
        refusal
    }

    fn send_state(&mut self, to: SocketAddr, request: u64, wanted: Option<WantedParts>) {
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
        let (total, parts): (u16, Vec<u16>) = match wanted {
            Some(wanted) if wanted.total > 0 => (
                wanted.total.min(MAX_PARTS),
                wanted
                    .parts
                    .into_iter()
                    .filter(|p| *p < wanted.total.min(MAX_PARTS))
                    .collect(),
            ),
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
        for part in parts {
            let index = usize::from(part);
            let mut slice = SyncPart {
                request,
                responder: own.clone(),
                part,
                total,
                founding: self.record.founding,
                truncated: false,
                members: std::mem::take(&mut member_slices[index]),
                records: std::mem::take(&mut record_slices[index]),
            };
            // One more byte for the `Control` variant tag.
            while codec::encoded_len(&slice) + 1 > budget
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
            self.send_control(to, &Control::SyncPart(slice));
        }
    }

    pub(crate) fn receive_sync(
        &mut self,
        now: Time,
        from: SocketAddr,
        part: SyncPart,
        vouched: bool,
    ) {
        if part.request != self.join.request || part.total == 0 || part.part >= part.total {
            return;
        }
        self.merge_state(now, part.members, part.records, vouched);
        if self.phase != Phase::Joining {
            return;
        }
        let sync = self.join.sync.get_or_insert_with(|| SyncProgress {
            responder: from,
            total: part.total,
            received: vec![false; usize::from(part.total)],
            missing: usize::from(part.total),
            idle_retries: 0,
        });
        if sync.total != part.total || sync.responder != from {
            return;
        }
        let slot = &mut sync.received[usize::from(part.part)];
        let progress = !*slot;
        if progress {
            *slot = true;
            sync.missing -= 1;
            sync.idle_retries = 0;
        }
        let missing = sync.missing;
        if progress && missing > 0 {
            // The seed answers: missing slices are asked for again soon, not
            // after the backoff grown while no seed answered (a node that
            // had asked for 2 minutes behind a partition waited 10 s for the
            // slices lost after the heal; found by the swarm).
            self.join.delay = self.cfg.join_retry_min;
            self.join.attempt += 1;
            let retry = now + self.cfg.join_retry_min;
            self.schedule(retry, NodeTimer::JoinRetry(self.join.attempt));
        }
        if missing == 0 {
            let responder = part.responder;
            self.join.sync = None;
            self.adopt_founding(part.founding);
            self.inherit_admission();
            tracing::info!(seed = %from, "joined the cluster");
            self.become_joined(now, Some(from));
            if let Err(err) = self.foca.announce(responder, &mut self.rt) {
                tracing::debug!(error = %err, "announce to seed");
            }
            self.absorb_foca(now);
        }
    }

    /// Takes members and records learned outside gossip. A sender that does
    /// not vouch for its view passes its downs on as suspicions, as in
    /// gossip (see `WireCodec`).
    pub(crate) fn merge_state(
        &mut self,
        now: Time,
        members: Vec<foca::Member<NodeId>>,
        records: Vec<HealthRecord>,
        vouched: bool,
    ) {
        // What a peer thinks of us is no news to us (and a stale "down" would
        // make us rejoin for nothing).
        let own = self.id().key();
        let members = members
            .into_iter()
            .filter(|m| m.id().key() != own)
            .map(|m| {
                if !vouched && m.state() == foca::State::Down {
                    foca::Member::new(m.id().clone(), m.incarnation(), foca::State::Suspect)
                } else {
                    m
                }
            });
        if let Err(err) = self.foca.apply_many(members, false, &mut self.rt) {
            tracing::debug!(error = %err, "applying a state sync");
        }
        for record in records {
            self.members.offer(record);
        }
        self.mark_membership_changed();
        self.absorb_foca(now);
    }
}

#[cfg(test)]
mod tests {
    use super::part_of;

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
