//! The joiner's side of joining through seeds, with a full state sync: a
//! state machine of its own that takes the node's inputs and returns what
//! to do, as [`JoinStep`]s.
//!
//! A starting node asks one seed at a time to take it (`JoinRequest`),
//! backing off from `join_retry_min` to `join_retry_max` while no seed
//! answers. A seed that has joined a cluster itself answers with its whole
//! view cut into slices (see [`super::serve`]), so a lost slice can be asked
//! for again by number. Only when every slice arrived has the node
//! "joined": it then knows every seniority in the cluster and may rank
//! behind them.
//!
//! A seed refuses a joiner whose name a live member at another address
//! already uses; the joiner logs it and keeps retrying (the old holder of
//! the name may be a crashed life not yet declared down).

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::codec::{Control, JOIN_REQUEST_LEN, Refusal, SyncPart, WantedParts};
use super::identity::NodeId;
use super::timer::Time;

/// Most missing parts one retry asks for (keeps the request one datagram).
pub(crate) const MAX_WANTED: usize = 300;
/// Retries without a new slice before the joiner gives up on a seed.
const PATIENCE: u32 = 2;
/// Most members of the old view a rejoining node adds to its seeds.
const MAX_KNOWN_SEEDS: usize = 16;

/// What the joiner asks of the node, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JoinStep {
    /// Send this message.
    Send(SocketAddr, Control),
    /// Call [`Joining::retry`] with this attempt at this time.
    RetryAt(Time, u64),
    /// Every seed is this node itself, or a founder has nobody to ask:
    /// found the cluster.
    Found,
    /// A seed refused; the driver hears of it.
    Refused {
        /// The seed.
        seed: SocketAddr,
        /// Why.
        reason: Refusal,
    },
    /// Every slice of a seed's state arrived: this node is a member.
    Joined {
        /// The seed that answered.
        seed: SocketAddr,
        /// Its identity, to announce ourselves to.
        responder: NodeId,
        /// The founding of its cluster.
        founding: u64,
    },
}

/// What the joiner needs of the node for one input.
#[derive(Debug)]
pub(crate) struct JoinContext<'a> {
    /// The time of the input.
    pub(crate) now: Time,
    /// This node's identity.
    pub(crate) own: &'a NodeId,
    /// The first and the longest wait between attempts.
    pub(crate) retry_min: Duration,
    /// See `retry_min`.
    pub(crate) retry_max: Duration,
    /// The probe timeout: how soon a refused name is asked again.
    pub(crate) probe_timeout: Duration,
    /// The probe period: how often a refused name is asked again after.
    pub(crate) probe_period: Duration,
    /// The suspicion timeout: a refused name is asked again for two.
    pub(crate) suspicion_timeout: Duration,
    /// The node's randomness (request ids, jitter).
    pub(crate) rng: &'a mut ChaCha8Rng,
}

impl JoinContext<'_> {
    /// A duration between 75 % and 125 % of `base`, so the retries of many
    /// nodes do not line up.
    fn jitter(&mut self, base: Duration) -> Duration {
        base.mul_f64(self.rng.random_range(0.75..1.25))
    }
}

/// The joiner's state.
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
    /// did: see [`Joining::refused`].
    name_taken: Option<(Time, u32)>,
    /// When a member that reached us was last asked (see
    /// [`Joining::reached`]).
    reached_at: Option<Time>,
    /// Cookies seeds gave us, newest last: a request to one of them carries
    /// its cookie instead of padding (see [`Control::JoinRequest`]).
    cookies: Vec<(SocketAddr, u64)>,
}

/// Most seeds' cookies a node keeps.
const MAX_COOKIES: usize = 64;

/// The slices of one seed's state received so far.
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

impl Joining {
    /// The request id a state sync must echo.
    #[cfg(test)]
    pub(crate) fn request(&self) -> u64 {
        self.request
    }

    /// Replaces the seeds; `joining` says whether the node still joins (a
    /// member only keeps them for a rejoin).
    pub(crate) fn set_seeds(
        &mut self,
        cx: &mut JoinContext<'_>,
        seeds: Vec<SocketAddr>,
        joining: bool,
        steps: &mut Vec<JoinStep>,
    ) {
        let own = cx.own.socket_addr();
        let given = !seeds.is_empty();
        let mut others: Vec<SocketAddr> = seeds.into_iter().filter(|s| *s != own).collect();
        others.dedup();
        let was_empty = self.seeds.is_empty();
        self.seeds = others;
        if !joining {
            return;
        }
        if given && self.seeds.is_empty() {
            // Every seed is this node itself: it founds the cluster.
            tracing::info!("every seed is this node itself; founding a new cluster");
            steps.push(JoinStep::Found);
        } else if was_empty && !self.seeds.is_empty() {
            self.delay = cx.retry_min;
            self.attempt(cx, steps);
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
        cx: &mut JoinContext<'_>,
        first: Option<SocketAddr>,
        known: Vec<SocketAddr>,
        steps: &mut Vec<JoinStep>,
    ) {
        let mut seeds = self.seeds.clone();
        if let Some(first) = first {
            seeds.retain(|s| *s != first);
            seeds.insert(0, first);
        }
        // Only a node with no other seed to try (a founder) needs them: more
        // addresses for every rejoining node slowed large merges down.
        let known = if seeds.len() > 1 { Vec::new() } else { known };
        let own = cx.own.socket_addr();
        for addr in known.into_iter().take(MAX_KNOWN_SEEDS) {
            if addr != own && !seeds.contains(&addr) {
                seeds.push(addr);
            }
        }
        if seeds.is_empty() {
            // Nobody to ask: a founder alone is a member again at once.
            steps.push(JoinStep::Found);
            return;
        }
        self.seeds = seeds;
        self.cursor = 0;
        self.sync = None;
        self.delay = cx.retry_min;
        self.attempt(cx, steps);
    }

    /// A member of the cluster reached this joining node (a knock, gossip):
    /// the network to it works, so it is asked to take us at once rather
    /// than after a backoff that grew while nobody answered (a node
    /// restarted behind a partition joined 20 s after the heal; found by
    /// the swarm). At most once a second.
    pub(crate) fn reached(
        &mut self,
        cx: &mut JoinContext<'_>,
        from: SocketAddr,
        steps: &mut Vec<JoinStep>,
    ) {
        if self.sync.is_some()
            || self.seeds.is_empty()
            || self
                .reached_at
                .is_some_and(|at| cx.now < at + Duration::from_secs(1))
        {
            return;
        }
        self.reached_at = Some(cx.now);
        self.request = cx.rng.random();
        tracing::debug!(member = %from, "a member reached this joining node; asking it to join");
        steps.push(self.sync_request(cx, from));
        self.delay = cx.retry_min;
        self.attempt += 1;
        steps.push(JoinStep::RetryAt(cx.now + cx.retry_min, self.attempt));
    }

    /// A retry timer fired; stale attempts do nothing.
    pub(crate) fn retry(
        &mut self,
        cx: &mut JoinContext<'_>,
        attempt: u64,
        steps: &mut Vec<JoinStep>,
    ) {
        if attempt == self.attempt {
            self.attempt(cx, steps);
        }
    }

    fn attempt(&mut self, cx: &mut JoinContext<'_>, steps: &mut Vec<JoinStep>) {
        if self.seeds.is_empty() {
            return;
        }
        let (to, wanted) = match &mut self.sync {
            Some(sync) if sync.idle_retries < PATIENCE => {
                sync.idle_retries += 1;
                (sync.responder, Some(sync.wanted()))
            }
            _ if self.delay >= cx.retry_max && self.seeds.len() > 1 => {
                // Nobody answered for a while (the seeds are cut off, or
                // some are gone for good): every seed is asked at once, so
                // the first to be reachable again answers within one retry
                // instead of waiting for its turn behind dead ones (a
                // replacement asked a seed that had left every other time,
                // and joined 23 s after the heal; found by the swarm).
                self.sync = None;
                self.request = cx.rng.random();
                tracing::debug!(seeds = self.seeds.len(), "asking every seed to join");
                for seed in self.seeds.clone() {
                    steps.push(self.sync_request(cx, seed));
                }
                self.attempt += 1;
                let delay = cx.jitter(self.delay);
                steps.push(JoinStep::RetryAt(cx.now + delay, self.attempt));
                return;
            }
            _ => {
                self.sync = None;
                let seed = self.seeds[self.cursor % self.seeds.len()];
                self.cursor = self.cursor.wrapping_add(1);
                self.request = cx.rng.random();
                (seed, None)
            }
        };
        tracing::debug!(seed = %to, "asking to join");
        let request = self.join_request(cx, to, wanted);
        steps.push(JoinStep::Send(to, request));
        self.attempt += 1;
        let delay = cx.jitter(self.delay.max(cx.retry_min));
        steps.push(JoinStep::RetryAt(cx.now + delay, self.attempt));
        self.delay = (self.delay * 2).min(cx.retry_max);
    }

    /// Asks every seed for its state: used to find the cluster again when
    /// no member is reachable.
    pub(crate) fn sync_from_seeds(&mut self, cx: &mut JoinContext<'_>, steps: &mut Vec<JoinStep>) {
        if self.seeds.is_empty() {
            return;
        }
        self.request = cx.rng.random();
        for seed in self.seeds.clone() {
            steps.push(self.sync_request(cx, seed));
        }
    }

    /// Asks one member for its whole state (a member's periodic sync, or
    /// the one after joining through a seed). Not padded: nothing waits on
    /// it, so a member whose cookie this node lacks answers what fits in
    /// three times the request, with a cookie, and the request goes again
    /// with the cookie, which is kept for the next sync to that member.
    /// Padding every sync to 1,200 bytes was a fifth of an idle member's
    /// bytes (BENCHMARKS.md, issue 15).
    pub(crate) fn sync_from(&mut self, cx: &mut JoinContext<'_>, to: SocketAddr) -> JoinStep {
        self.request = cx.rng.random();
        JoinStep::Send(to, self.request_to(cx, to, None, false))
    }

    fn sync_request(&self, cx: &JoinContext<'_>, to: SocketAddr) -> JoinStep {
        JoinStep::Send(to, self.join_request(cx, to, None))
    }

    /// The current request to `to`: with its cookie if we hold one, else
    /// padded so the seed may answer with several slices at once.
    fn join_request(
        &self,
        cx: &JoinContext<'_>,
        to: SocketAddr,
        wanted: Option<WantedParts>,
    ) -> Control {
        self.request_to(cx, to, wanted, true)
    }

    /// The current request to `to`, with its cookie if we hold one, else
    /// padded if `pad`.
    fn request_to(
        &self,
        cx: &JoinContext<'_>,
        to: SocketAddr,
        wanted: Option<WantedParts>,
        pad: bool,
    ) -> Control {
        let cookie = self
            .cookies
            .iter()
            .rev()
            .find(|(seed, _)| *seed == to)
            .map(|(_, cookie)| *cookie);
        let mut request = Control::JoinRequest {
            joiner: cx.own.clone(),
            request: self.request,
            wanted,
            cookie,
            padding: Vec::new(),
        };
        if cookie.is_none() && pad {
            let short = JOIN_REQUEST_LEN.saturating_sub(crate::core::codec::encoded_len(&request));
            if let Control::JoinRequest { padding, .. } = &mut request {
                // The length prefix grows by a byte or two with it.
                *padding = vec![0; short.saturating_sub(2)];
            }
        }
        request
    }

    /// Keeps `cookie` as `seed`'s.
    fn keep_cookie(&mut self, seed: SocketAddr, cookie: u64) {
        self.cookies.retain(|(s, _)| *s != seed);
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push((seed, cookie));
    }

    /// A seed cut its answer short, or sent only a cookie, because we had
    /// not proven our address: the request goes again at once with the
    /// cookie, for the slices still missing (all of them for a member's
    /// periodic sync, which keeps no count).
    pub(crate) fn cookie(
        &mut self,
        cx: &mut JoinContext<'_>,
        from: SocketAddr,
        request: u64,
        cookie: u64,
        steps: &mut Vec<JoinStep>,
    ) {
        if request != self.request {
            return;
        }
        self.keep_cookie(from, cookie);
        let wanted = self
            .sync
            .as_ref()
            .filter(|sync| sync.responder == from && sync.missing > 0)
            .map(SyncProgress::wanted);
        steps.push(JoinStep::Send(from, self.join_request(cx, from, wanted)));
    }

    /// A seed refused the current request.
    pub(crate) fn refused(
        &mut self,
        cx: &mut JoinContext<'_>,
        from: SocketAddr,
        request: u64,
        reason: Refusal,
        steps: &mut Vec<JoinStep>,
    ) {
        if request != self.request {
            return;
        }
        let now = cx.now;
        let name_taken = matches!(reason, Refusal::NameTaken { .. });
        let (since, refusals) = match self.name_taken {
            Some((since, refusals)) if name_taken => (since, refusals + 1),
            _ => (now, 1),
        };
        self.name_taken = name_taken.then_some((since, refusals));
        match &reason {
            // Logged as an error at first and every tenth time: a second node
            // given a live member's name by mistake must be noticed, without
            // a line every second.
            Refusal::NameTaken { addr } if refusals % 10 == 1 => tracing::error!(
                seed = %from,
                holder = %addr,
                name = %cx.own.name(),
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
            Refusal::Full { max_members } => tracing::warn!(
                seed = %from,
                max_members,
                "seed holds max_members members already; retrying (a member makes room \
                 when it is reaped, reap_after after it went down or left)"
            ),
        }
        steps.push(JoinStep::Refused { seed: from, reason });
        self.sync = None;
        // A replaced machine's old life may simply be dead: the seed asked it
        // (see `Node::name_holder`) and lets the new life in when it did not
        // refute in time, or once it declares it down on its own (a seed
        // without a majority, after a heal, does so a suspicion timeout after
        // it hears again). So the same seed is asked again two probe timeouts
        // later, then every probe period, for two suspicion timeouts: walking
        // the seeds at the usual backoff cost a replacement 28 s after a
        // switch reboot (found by the swarm). Past that window the name is
        // likely a real duplicate, and the seeds are walked at the usual
        // backoff.
        let window = cx.suspicion_timeout * 2;
        if name_taken && now < since + window {
            let again = if refusals == 1 {
                cx.probe_timeout * 2
            } else {
                cx.probe_period
            };
            self.cursor = self.cursor.wrapping_sub(1);
            self.attempt += 1;
            steps.push(JoinStep::RetryAt(now + again, self.attempt));
        }
    }

    /// A slice of a seed's state arrived (the node merged its members and
    /// records already). A slice of another request, another cut of the
    /// state or another responder is ignored; a duplicate is no progress.
    pub(crate) fn slice(
        &mut self,
        cx: &mut JoinContext<'_>,
        from: SocketAddr,
        part: &SyncPart,
        steps: &mut Vec<JoinStep>,
    ) {
        let sync = self.sync.get_or_insert_with(|| SyncProgress {
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
            self.delay = cx.retry_min;
            self.attempt += 1;
            steps.push(JoinStep::RetryAt(cx.now + cx.retry_min, self.attempt));
        }
        if let Some(cookie) = part.cookie
            && missing > 0
        {
            self.cookie(cx, from, part.request, cookie, steps);
        }
        if missing == 0 {
            self.sync = None;
            steps.push(JoinStep::Joined {
                seed: from,
                responder: part.responder.clone(),
                founding: part.founding,
            });
        }
    }

    /// Whether a slice answers the current request and is well formed.
    pub(crate) fn expects(&self, part: &SyncPart) -> bool {
        part.request == self.request && part.total > 0 && part.part < part.total
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn own() -> NodeId {
        NodeId::new("joiner", SocketAddr::from(([198, 18, 0, 9], 7946)), 1).unwrap()
    }

    fn seed(n: u8) -> SocketAddr {
        SocketAddr::from(([198, 18, 0, n], 7946))
    }

    fn responder(n: u8) -> NodeId {
        NodeId::new(&format!("seed-{n}"), seed(n), 1).unwrap()
    }

    /// A joiner under test: its state, its identity and randomness, and
    /// the clock.
    struct Harness {
        join: Joining,
        own: NodeId,
        rng: ChaCha8Rng,
        now: Time,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                join: Joining::default(),
                own: own(),
                rng: ChaCha8Rng::seed_from_u64(7),
                now: Duration::from_secs(10),
            }
        }

        fn run(
            &mut self,
            input: impl FnOnce(&mut Joining, &mut JoinContext<'_>, &mut Vec<JoinStep>),
        ) -> Vec<JoinStep> {
            let mut cx = JoinContext {
                now: self.now,
                own: &self.own,
                retry_min: Duration::from_millis(500),
                retry_max: Duration::from_secs(5),
                probe_timeout: Duration::from_millis(300),
                probe_period: Duration::from_secs(1),
                suspicion_timeout: Duration::from_secs(3),
                rng: &mut self.rng,
            };
            let mut steps = Vec::new();
            input(&mut self.join, &mut cx, &mut steps);
            steps
        }

        fn start(&mut self, seeds: Vec<SocketAddr>) -> Vec<JoinStep> {
            self.run(|join, cx, steps| join.set_seeds(cx, seeds, true, steps))
        }

        fn retry(&mut self, attempt: u64) -> Vec<JoinStep> {
            self.run(|join, cx, steps| join.retry(cx, attempt, steps))
        }

        fn slice(&mut self, from: u8, part: u16, total: u16) -> Vec<JoinStep> {
            let slice = SyncPart {
                request: self.join.request(),
                responder: responder(from),
                part,
                total,
                founding: 42,
                truncated: false,
                cookie: None,
                members: Vec::new(),
                records: Vec::new(),
            };
            assert!(self.join.expects(&slice));
            self.run(|join, cx, steps| join.slice(cx, seed(from), &slice, steps))
        }
    }

    /// The join requests among `steps`: to whom, and the parts asked for.
    fn requests(steps: &[JoinStep]) -> Vec<(SocketAddr, Option<Vec<u16>>)> {
        steps
            .iter()
            .filter_map(|step| match step {
                JoinStep::Send(to, Control::JoinRequest { wanted, .. }) => {
                    Some((*to, wanted.as_ref().map(|w| w.parts.clone())))
                }
                _ => None,
            })
            .collect()
    }

    fn retry_attempt(steps: &[JoinStep]) -> u64 {
        steps
            .iter()
            .find_map(|step| match step {
                JoinStep::RetryAt(_, attempt) => Some(*attempt),
                _ => None,
            })
            .expect("a retry is scheduled")
    }

    #[test]
    fn seeds_are_asked_one_at_a_time_and_the_node_itself_founds() {
        let mut h = Harness::new();
        let steps = h.start(vec![seed(1), seed(2)]);
        assert_eq!(requests(&steps), [(seed(1), None)]);
        let steps = h.retry(retry_attempt(&steps));
        assert_eq!(requests(&steps), [(seed(2), None)]);
        // A stale timer does nothing.
        assert!(h.retry(1).is_empty());

        let mut alone = Harness::new();
        let own = alone.own.socket_addr();
        assert_eq!(alone.start(vec![own]), [JoinStep::Found]);
    }

    #[test]
    fn every_slice_then_joined_and_a_duplicate_is_no_progress() {
        let mut h = Harness::new();
        h.start(vec![seed(1)]);
        let steps = h.slice(1, 0, 3);
        assert!(matches!(steps[..], [JoinStep::RetryAt(..)]));
        // The same slice again: no progress, nothing asked.
        assert!(h.slice(1, 0, 3).is_empty());
        h.slice(1, 2, 3);
        let steps = h.slice(1, 1, 3);
        assert_eq!(
            steps,
            [JoinStep::Joined {
                seed: seed(1),
                responder: responder(1),
                founding: 42,
            }]
        );
    }

    #[test]
    fn a_lost_slice_is_asked_for_by_number_then_the_seed_is_given_up() {
        let mut h = Harness::new();
        h.start(vec![seed(1), seed(2)]);
        let steps = h.slice(1, 0, 3);
        let steps = h.retry(retry_attempt(&steps));
        assert_eq!(requests(&steps), [(seed(1), Some(vec![1, 2]))]);
        let steps = h.retry(retry_attempt(&steps));
        assert_eq!(requests(&steps), [(seed(1), Some(vec![1, 2]))]);
        // Out of patience: the next seed, from scratch.
        let steps = h.retry(retry_attempt(&steps));
        assert_eq!(requests(&steps), [(seed(2), None)]);
    }

    #[test]
    fn a_truncated_slice_counts_as_received() {
        // A seed cuts a slice that does not fit a datagram; the rest comes
        // with gossip and the periodic syncs, and the join completes.
        let mut h = Harness::new();
        h.start(vec![seed(1)]);
        let slice = SyncPart {
            request: h.join.request(),
            responder: responder(1),
            part: 0,
            total: 1,
            founding: 42,
            truncated: true,
            cookie: None,
            members: Vec::new(),
            records: Vec::new(),
        };
        let steps = h.run(|join, cx, steps| join.slice(cx, seed(1), &slice, steps));
        assert!(matches!(steps[..], [JoinStep::Joined { .. }]));
    }

    #[test]
    fn a_seed_that_restarts_mid_sync_is_not_mixed_with_its_earlier_cut() {
        let mut h = Harness::new();
        h.start(vec![seed(1), seed(2)]);
        h.slice(1, 0, 3);
        // The seed restarted and cut its (new) state in two: those slices
        // belong to no sync under way.
        assert!(h.slice(1, 1, 2).is_empty());
        // Another member's slice for the same request is ignored too.
        assert!(h.slice(2, 1, 3).is_empty());
        // A slice of an old request is not even expected.
        let old = SyncPart {
            request: h.join.request().wrapping_add(1),
            responder: responder(1),
            part: 0,
            total: 1,
            founding: 42,
            truncated: false,
            cookie: None,
            members: Vec::new(),
            records: Vec::new(),
        };
        assert!(!h.join.expects(&old));
    }

    #[test]
    fn a_taken_name_asks_the_same_seed_again_soon_then_every_probe_period() {
        let mut h = Harness::new();
        let steps = h.start(vec![seed(1), seed(2)]);
        assert_eq!(requests(&steps), [(seed(1), None)]);
        let request = h.join.request();
        let reason = Refusal::NameTaken { addr: seed(9) };
        let steps =
            h.run(|join, cx, steps| join.refused(cx, seed(1), request, reason.clone(), steps));
        assert_eq!(
            steps[0],
            JoinStep::Refused {
                seed: seed(1),
                reason: reason.clone()
            }
        );
        let (at, attempt) = match steps[1] {
            JoinStep::RetryAt(at, attempt) => (at, attempt),
            ref other => panic!("{other:?}"),
        };
        assert_eq!(at, h.now + Duration::from_millis(600));
        let steps = h.retry(attempt);
        assert_eq!(requests(&steps), [(seed(1), None)]);
        h.now += Duration::from_millis(600);
        let request = h.join.request();
        let steps =
            h.run(|join, cx, steps| join.refused(cx, seed(1), request, reason.clone(), steps));
        assert!(steps.contains(&JoinStep::RetryAt(
            h.now + Duration::from_secs(1),
            h.join.attempt
        )));
        // A refusal of an older request changes nothing.
        assert!(
            h.run(|join, cx, steps| join.refused(cx, seed(1), request ^ 1, reason, steps))
                .is_empty()
        );
    }

    #[test]
    fn after_the_longest_wait_every_seed_is_asked_at_once() {
        let mut h = Harness::new();
        let mut steps = h.start(vec![seed(1), seed(2), seed(3)]);
        // Backing off 0.5, 1, 2 and 4 s, one seed at a time; at the longest
        // wait (5 s), all three at once.
        for _ in 0..4 {
            assert_eq!(requests(&steps).len(), 1);
            steps = h.retry(retry_attempt(&steps));
        }
        assert_eq!(
            requests(&steps),
            [(seed(1), None), (seed(2), None), (seed(3), None)]
        );
    }

    #[test]
    fn a_member_that_reaches_a_joiner_is_asked_at_once_but_not_twice_a_second() {
        let mut h = Harness::new();
        h.start(vec![seed(1)]);
        let steps = h.run(|join, cx, steps| join.reached(cx, seed(5), steps));
        assert_eq!(requests(&steps), [(seed(5), None)]);
        assert!(
            h.run(|join, cx, steps| join.reached(cx, seed(6), steps))
                .is_empty()
        );
        h.now += Duration::from_secs(1);
        let steps = h.run(|join, cx, steps| join.reached(cx, seed(6), steps));
        assert_eq!(requests(&steps), [(seed(6), None)]);
    }

    #[test]
    fn a_rejoin_asks_the_notifier_first_and_a_lone_founder_founds_again() {
        let mut h = Harness::new();
        h.run(|join, cx, steps| join.set_seeds(cx, vec![seed(1), seed(2)], false, steps));
        let steps =
            h.run(|join, cx, steps| join.rejoin_through(cx, Some(seed(2)), vec![seed(7)], steps));
        assert_eq!(requests(&steps), [(seed(2), None)]);
        let steps = h.retry(retry_attempt(&steps));
        assert_eq!(requests(&steps), [(seed(1), None)]);

        let mut founder = Harness::new();
        let steps = founder.run(|join, cx, steps| join.rejoin_through(cx, None, Vec::new(), steps));
        assert_eq!(steps, [JoinStep::Found]);
    }

    /// The request a step sends: its cookie and the length of its padding.
    fn cookie_and_padding(step: &JoinStep) -> (Option<u64>, usize) {
        match step {
            JoinStep::Send(
                _,
                Control::JoinRequest {
                    cookie, padding, ..
                },
            ) => (*cookie, padding.len()),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn a_sync_is_not_padded_and_keeps_the_cookie_it_is_given() {
        let mut h = Harness::new();
        // A joiner's first request is padded: its answer may be several
        // slices at once.
        let steps = h.start(vec![seed(1)]);
        let (cookie, padding) = cookie_and_padding(&steps[0]);
        assert_eq!(cookie, None);
        assert!(padding > 1000, "{padding} bytes of padding");

        // A member's sync is not: the member answers what fits, and a
        // cookie.
        let step = h.run(|join, cx, steps| steps.push(join.sync_from(cx, seed(2))));
        assert_eq!(cookie_and_padding(&step[0]), (None, 0));
        let request = h.join.request;
        let steps = h.run(|join, cx, steps| join.cookie(cx, seed(2), request, 99, steps));
        assert_eq!(cookie_and_padding(&steps[0]), (Some(99), 0));
        // The next sync to that member carries it; to another, nothing.
        let step = h.run(|join, cx, steps| steps.push(join.sync_from(cx, seed(2))));
        assert_eq!(cookie_and_padding(&step[0]), (Some(99), 0));
        let step = h.run(|join, cx, steps| steps.push(join.sync_from(cx, seed(3))));
        assert_eq!(cookie_and_padding(&step[0]), (None, 0));
    }
}
