//! The protocol's settings, with where every default comes from.
//!
//! These are the numbers the core needs; the agent's configuration file
//! (`src/agent/config.rs`) fills them in. Every error is collected and
//! reported together, naming the field.
//!
//! The timings an operator may tune are [`GossipTuning`], a field of
//! [`NodeConfig`] and the `[gossip]` table of both the agent's file and a
//! simulator scenario: each is declared once, with its default, and both
//! files read the same keys into it.

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::codec::{ENVELOPE_RESERVE, MAX_CLUSTER_LEN, MAX_DATAGRAM};
use super::health::HealthStatus;
use super::keyring::{Keyring, KeyringError};
use super::view::{ElectionRules, QuorumPolicy};

/// Settings of one node's protocol state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Cluster name, in every packet: packets of other clusters are dropped.
    pub cluster: String,
    /// Higher priority wins the primary role and takes it over from a lower
    /// one (as VRRP's preempt does).
    pub priority: i32,
    /// Whether this node may be primary at all.
    pub primary_eligible: bool,
    /// The node's health until its checks report: `Failing` when checks
    /// are configured (a node gets no traffic, and no rank, before its
    /// server has proved itself), `Passing` when there are none.
    pub initial_health: HealthStatus,
    /// The highest primary term an earlier life of this node saw (the
    /// agent's data directory keeps it): the node's first claim goes above
    /// it, so terms keep rising when the whole cluster restarts.
    pub remembered_term: u64,
    /// The quorum guard of the election.
    pub quorum: QuorumPolicy,
    /// A fixed expected cluster size for the quorum, instead of counting the
    /// members that have not left.
    pub expected_members: Option<usize>,
    /// The protocol timings and bounds an operator may tune (`[gossip]`).
    pub gossip: GossipTuning,
    /// The cluster's keys (none: gossip in plaintext).
    pub keyring: Keyring,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            cluster: "herd".to_owned(),
            priority: 0,
            primary_eligible: true,
            initial_health: HealthStatus::Passing,
            remembered_term: 0,
            quorum: QuorumPolicy::Majority,
            expected_members: None,
            gossip: GossipTuning::default(),
            keyring: Keyring::default(),
        }
    }
}

/// The protocol timings and bounds an operator may tune: the `[gossip]`
/// table of the agent's file and of a simulator scenario, and
/// [`NodeConfig::gossip`].
/// Each setting is declared here once, with its default and where that
/// comes from. Durations are written as `humantime` strings ("500ms").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipTuning {
    /// How often a random member is probed. 1 s: the SWIM paper's protocol
    /// period and memberlist's LAN `ProbeInterval`.
    #[serde(with = "humantime_serde")]
    pub probe_period: Duration,
    /// How long to wait for a direct ack before asking others to probe.
    /// 500 ms: memberlist's LAN `ProbeTimeout`.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// How many members are asked to probe indirectly. 3: memberlist's
    /// `IndirectChecks`.
    pub indirect_probes: usize,
    /// Suspicion lasts `suspicion_mult * max(1, log10(members)) *
    /// probe_period` before a suspect is declared down. memberlist uses 4;
    /// herd uses 3 so that a 100-member cluster fails over in under 10 s
    /// (see `simulations/README.md` for what this costs at 10 % loss).
    pub suspicion_mult: u32,
    /// How often pending updates are gossiped, to `indirect_probes` random
    /// members, while there are any. 200 ms: memberlist's LAN
    /// `GossipInterval` (its `GossipNodes` is 3, as `indirect_probes`).
    #[serde(with = "humantime_serde")]
    pub gossip_interval: Duration,
    /// An update is sent `retransmit_mult * ceil(log10(members + 1))` times
    /// (in clusters of 16 or fewer, at least three times per other member,
    /// up to 16). 4: memberlist's `RetransmitMult`.
    pub retransmit_mult: u32,
    /// How often a random member is asked for its whole state (members and
    /// health records), so views converge whatever gossip missed. 30 s:
    /// memberlist's `PushPullInterval`, scaled as memberlist scales it for
    /// clusters over 32 members (see [`NodeConfig::sync_period`]).
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// How often members believed down (and the seeds, when nothing else is
    /// reachable) are contacted, so partitions heal. 15 s, a quarter of
    /// foca's LAN default: a healed partition should not wait a minute.
    #[serde(with = "humantime_serde")]
    pub reconnect_interval: Duration,
    /// How long a member that is down or left is remembered (and counted
    /// towards the quorum, if down). 24 h: Serf's `reconnect_timeout`.
    #[serde(with = "humantime_serde")]
    pub reap_after: Duration,
    /// First delay between join attempts; it doubles up to
    /// `join_retry_max`.
    #[serde(with = "humantime_serde")]
    pub join_retry_min: Duration,
    /// Longest delay between join attempts; once reached, every seed is
    /// asked at each attempt.
    #[serde(with = "humantime_serde")]
    pub join_retry_max: Duration,
    /// How often the elected node renews its lease with its two witnesses
    /// (see `ARCHITECTURE.md`, "The primary's lease"). 100 ms: the
    /// primary sends 20 datagrams a second, each witness 10, whatever the
    /// cluster's size.
    #[serde(with = "humantime_serde")]
    pub lease_interval: Duration,
    /// How long a renewal holds, from the moment the holder sent it: the
    /// primary stops claiming when no renewal a witness answered is this
    /// recent, and a witness that has heard none for this long and a
    /// tenth more (a margin for clocks that run at different rates) starts
    /// the takeover. `600ms`, the default (six renewals; at 20 % loss the
    /// holder loses all six once in about a quarter of a million leases),
    /// fails a crashed primary over in about 0.6 s (see `ARCHITECTURE.md`).
    /// `0s`: the elected node holds no lease and fails over through SWIM
    /// alone (4 to 9 s); every node still answers and watches the leases of
    /// others whatever its own setting, so a cluster can turn leases on or
    /// off one node at a time.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How many other members one view holds at most. Every member costs
    /// memory in every view, and a member holding the key could invent
    /// any number; at the bound, updates, records and joins of members the
    /// view does not hold yet are refused and counted
    /// (`herd_members_refused_total`) until reaping makes room. 16,384:
    /// above the largest cluster herd is built and simulated for (10,000),
    /// 11 MiB of view at the bound (690 B per member, measured).
    pub max_members: usize,
}

impl Default for GossipTuning {
    fn default() -> Self {
        Self {
            probe_period: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_probes: 3,
            suspicion_mult: 3,
            gossip_interval: Duration::from_millis(200),
            retransmit_mult: 4,
            sync_interval: Duration::from_secs(30),
            reconnect_interval: Duration::from_secs(15),
            reap_after: Duration::from_secs(24 * 3600),
            join_retry_min: Duration::from_millis(500),
            join_retry_max: Duration::from_secs(5),
            lease_interval: Duration::from_millis(100),
            lease: Duration::from_millis(600),
            max_members: 16_384,
        }
    }
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// The setting, as named in the configuration file.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Up to this many members, updates get a floor of sends per member (see
/// [`NodeConfig::max_transmissions`]).
const SMALL_CLUSTER: usize = 16;

impl NodeConfig {
    /// Checks every setting and returns all problems at once.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut fail = |field, problem: String| errors.push(ConfigError { field, problem });
        match self.keyring.check() {
            Ok(()) => {}
            Err(error @ KeyringError::NoKey) => fail("keys", error.to_string()),
            Err(error @ KeyringError::RequireWithoutSeal) => {
                fail("require_encryption", error.to_string())
            }
        }
        if self.cluster.is_empty() || self.cluster.len() > MAX_CLUSTER_LEN {
            fail(
                "cluster",
                format!("must be 1 to {MAX_CLUSTER_LEN} bytes long"),
            );
        }
        if !self
            .cluster
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            fail(
                "cluster",
                "may only hold letters, digits, '.', '_' and '-'".into(),
            );
        }
        if self.remembered_term >= super::health::COUNTER_LIMIT {
            fail(
                "remembered_term",
                format!("must be below {}", super::health::COUNTER_LIMIT),
            );
        }
        if self.gossip.probe_period.is_zero() {
            fail("probe_period", "must be more than zero".into());
        }
        if self.gossip.probe_timeout.is_zero()
            || self.gossip.probe_timeout >= self.gossip.probe_period
        {
            fail(
                "probe_timeout",
                "must be more than zero and less than probe_period".into(),
            );
        }
        if self.gossip.indirect_probes == 0 {
            fail("indirect_probes", "must be at least 1".into());
        }
        if self.gossip.suspicion_mult == 0 {
            fail("suspicion_mult", "must be at least 1".into());
        }
        if self.gossip.gossip_interval.is_zero() {
            fail("gossip_interval", "must be more than zero".into());
        }
        if self.gossip.retransmit_mult == 0 {
            fail("retransmit_mult", "must be at least 1".into());
        }
        for (field, value) in [
            ("sync_interval", self.gossip.sync_interval),
            ("reconnect_interval", self.gossip.reconnect_interval),
            ("reap_after", self.gossip.reap_after),
            ("join_retry_min", self.gossip.join_retry_min),
        ] {
            if value.is_zero() {
                fail(field, "must be more than zero".into());
            }
        }
        if self.gossip.join_retry_max < self.gossip.join_retry_min {
            fail(
                "join_retry_max",
                "must not be less than join_retry_min".into(),
            );
        }
        if self.gossip.lease_interval.is_zero() {
            fail("lease_interval", "must be more than zero".into());
        }
        if self.gossip.lease > Duration::from_secs(10) {
            fail("lease", "must be at most 10s".into());
        } else if !self.gossip.lease.is_zero() && self.gossip.lease < self.gossip.lease_interval * 2
        {
            fail(
                "lease",
                "must be 0s (off) or at least twice lease_interval (a lease renewed once per lease would lapse at every lost datagram)".into(),
            );
        }
        if self.gossip.max_members == 0 {
            fail("max_members", "must be at least 1".into());
        }
        if self.expected_members == Some(0) {
            fail("expected_members", "must be at least 1".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The election parameters.
    pub fn election_rules(&self) -> ElectionRules {
        ElectionRules {
            quorum: self.quorum,
            expected_members: self.expected_members,
        }
    }

    /// How long a suspect has to refute before it is declared down, in a
    /// cluster of `members`.
    pub fn suspicion_timeout(&self, members: usize) -> Duration {
        let scale = (members.max(1) as f64).log10().max(1.0);
        self.gossip
            .probe_period
            .mul_f64(f64::from(self.gossip.suspicion_mult) * scale)
    }

    /// How often the whole state is synced with a random member, in a
    /// cluster of `members`: `sync_interval` up to 32 members, then one more
    /// `sync_interval` per doubling (memberlist's `pushPullScale`), so the
    /// cluster-wide sync traffic grows slower than the cluster.
    pub fn sync_period(&self, members: usize) -> Duration {
        if members <= 32 {
            return self.gossip.sync_interval;
        }
        let doublings = ((members as f64).log2() - 32f64.log2()).ceil() as u32;
        self.gossip.sync_interval * (doublings + 1)
    }

    /// How many times an update is passed on, in a cluster of `members`.
    pub fn max_transmissions(&self, members: usize) -> NonZeroU8 {
        // memberlist's retransmitLimit: the logarithm is rounded up first, so
        // even a two-member cluster passes every update on several times.
        let scale = ((members + 1) as f64).log10().ceil();
        let mut times = f64::from(self.gossip.retransmit_mult) * scale;
        // In a small cluster that is too few to reach everyone: each send
        // goes to a random member, and with four others and four sends one
        // of them missed a record now and then and kept the stale one until
        // the next whole-state sync, 30 s later (seen in the rolling-restart
        // test). Three sends per other member make a miss rare, at a cost
        // that only exists where members are few.
        if members <= SMALL_CLUSTER {
            times = times.max((3 * members.saturating_sub(1)).min(16) as f64);
        }
        NonZeroU8::new(times.clamp(1.0, 255.0) as u8).unwrap_or(NonZeroU8::MIN)
    }

    /// foca's settings for a cluster of `members`.
    pub(crate) fn foca_config(&self, members: usize) -> foca::Config {
        let every = |frequency, num_members: usize| {
            Some(foca::PeriodicParams {
                frequency,
                num_members: NonZeroUsize::new(num_members).unwrap_or(NonZeroUsize::MIN),
            })
        };
        foca::Config {
            probe_period: self.gossip.probe_period,
            probe_rtt: self.gossip.probe_timeout,
            num_indirect_probes: NonZeroUsize::new(self.gossip.indirect_probes)
                .unwrap_or(NonZeroUsize::MIN),
            max_transmissions: self.max_transmissions(members),
            suspect_to_down_after: self.suspicion_timeout(members),
            remove_down_after: Some(self.gossip.reap_after),
            max_packet_size: NonZeroUsize::new(MAX_DATAGRAM - ENVELOPE_RESERVE)
                .unwrap_or(NonZeroUsize::MIN),
            // foca 2.0.0 also notifies a suspect whose suspicion it refuted
            // (its suspicion timer sends TurnUndead whether or not the member
            // is declared down), which makes live members renew for nothing
            // under loss. The node sends its own notice instead, only to a
            // sender it really holds as down.
            notify_down_members: false,
            // The node syncs whole states itself (`sync_period`), which finds
            // members as foca's announce does and health records besides.
            periodic_announce: None,
            periodic_announce_to_down_members: every(self.gossip.reconnect_interval, 2),
            // The node gossips itself, only while something is queued: no
            // timer ticks on an idle cluster.
            periodic_gossip: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(NodeConfig::default().validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = NodeConfig {
            cluster: "bad cluster".into(),
            gossip: GossipTuning {
                probe_timeout: Duration::from_secs(2),
                indirect_probes: 0,
                ..GossipTuning::default()
            },
            ..NodeConfig::default()
        };
        let errors = config.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["cluster", "probe_timeout", "indirect_probes"]);
    }

    #[test]
    fn a_lease_is_off_or_at_least_two_renewals_long_and_at_most_ten_seconds() {
        let with = |lease_ms: u64| NodeConfig {
            gossip: GossipTuning {
                lease: Duration::from_millis(lease_ms),
                ..GossipTuning::default()
            },
            ..NodeConfig::default()
        };
        assert_eq!(with(0).validate(), Ok(()));
        assert_eq!(with(600).validate(), Ok(()));
        for bad in [150, 10_001] {
            let errors = with(bad).validate().unwrap_err();
            assert_eq!(errors[0].field, "lease", "{bad} ms: {errors:?}");
        }
    }

    #[test]
    fn a_gossip_table_reads_into_the_tuning_with_defaults_for_the_rest() {
        let tuning: GossipTuning =
            toml::from_str("probe_period = \"2s\"\nsuspicion_mult = 4\n").unwrap();
        assert_eq!(tuning.probe_period, Duration::from_secs(2));
        assert_eq!(tuning.suspicion_mult, 4);
        assert_eq!(tuning.probe_timeout, GossipTuning::default().probe_timeout);
        let misspelt = toml::from_str::<GossipTuning>("probe_perod = \"2s\"");
        assert!(misspelt.is_err());
    }

    #[test]
    fn suspicion_and_retransmissions_grow_with_the_cluster() {
        let config = NodeConfig::default();
        assert_eq!(config.suspicion_timeout(5), Duration::from_secs(3));
        assert_eq!(config.suspicion_timeout(100), Duration::from_secs(6));
        assert_eq!(config.suspicion_timeout(1000), Duration::from_secs(9));
        assert_eq!(config.max_transmissions(1).get(), 4);
        assert_eq!(config.max_transmissions(5).get(), 12);
        assert_eq!(config.max_transmissions(9).get(), 16);
        assert_eq!(config.max_transmissions(16).get(), 16);
        assert_eq!(config.max_transmissions(17).get(), 8);
        assert_eq!(config.max_transmissions(100).get(), 12);
        assert_eq!(config.sync_period(10), Duration::from_secs(30));
        assert_eq!(config.sync_period(64), Duration::from_secs(60));
        assert_eq!(config.sync_period(1000), Duration::from_secs(180));
    }
}
