//! The node driven whole, one datagram at a time.
use std::collections::BTreeMap;
use std::time::Duration;

use foca::Codec;

use super::*;
use crate::core::codec::{Refusal, Sender, WantedParts, WireCodec};
use crate::core::config::GossipTuning;

fn id(name: &str, addr: SocketAddr) -> NodeId {
    NodeId::new(name, addr, 1).unwrap()
}

/// A foca message from `src` to `dst`, in an envelope of cluster "herd".
fn foca_datagram(src: &NodeId, dst: &NodeId, message: foca::Message<NodeId>) -> Vec<u8> {
    let header = foca::Header {
        src: src.clone(),
        src_incarnation: 0,
        dst: dst.clone(),
        message,
    };
    let mut payload = Vec::new();
    WireCodec::default()
        .encode_header(&header, &mut payload)
        .unwrap();
    payload.extend_from_slice(&0u16.to_be_bytes());
    plain_datagram(PayloadKind::Foca, false, &payload)
}

/// A plain datagram of cluster "herd" around `payload`.
fn plain_datagram(kind: PayloadKind, vouching: bool, payload: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::new();
    let sender = Sender { vouching, term: 0 };
    codec::seal(&mut datagram, "herd", kind, sender, payload, None);
    datagram
}

/// A plain control datagram of cluster "herd", vouching or not.
fn control_datagram(message: &Control, vouching: bool) -> Vec<u8> {
    let payload = codec::encode_control(message).unwrap();
    plain_datagram(PayloadKind::Control, vouching, &payload)
}

#[test]
fn foca_answers_where_the_datagram_came_from_not_the_address_it_names() {
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let mut node = Node::new(
        NodeConfig::default(),
        id("a", own),
        1,
        Start::Bootstrap,
        Duration::ZERO,
    )
    .unwrap();
    let _ = node.take_outputs();
    // A ping naming a victim's address, sent from elsewhere.
    let victim = SocketAddr::from(([198, 18, 0, 9], 7946));
    let sender = SocketAddr::from(([198, 18, 0, 66], 9999));
    let ping = foca_datagram(&id("v", victim), node.id(), foca::Message::Ping(7));
    node.handle_packet(Duration::from_millis(10), sender, &ping);
    let outputs = node.take_outputs();
    assert!(!outputs.transmits.is_empty(), "the ping was answered");
    assert!(
        outputs.transmits.iter().all(|t| t.to != victim),
        "{:?}",
        outputs.transmits.iter().map(|t| t.to).collect::<Vec<_>>()
    );
    assert!(outputs.transmits.iter().any(|t| t.to == sender));
}

#[test]
fn every_life_numbers_its_rounds_from_its_own_start() {
    // An answer names the round it answers: lives that counted from the
    // same start would take an earlier life's recorded answers (or a
    // replay of them) for answers to their own checks.
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let mut firsts = HashSet::new();
    for seed in 0..200 {
        let node = Node::new(
            NodeConfig::default(),
            id("a", own),
            seed,
            Start::Bootstrap,
            Duration::ZERO,
        )
        .unwrap();
        for round in [node.roll.round, node.check.round, node.admission.round] {
            assert!(round < u64::MAX / 2, "{round} leaves no room to count");
            assert!(firsts.insert(round), "round {round} came up twice");
        }
    }
}

#[test]
fn a_down_notice_a_majority_dismissed_once_does_not_make_the_primary_ask_again() {
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let mut node = Node::new(
        NodeConfig::default(),
        id("a", own),
        1,
        Start::Bootstrap,
        Duration::ZERO,
    )
    .unwrap();
    let mut now = Duration::ZERO;
    fn run_until(
        node: &mut Node,
        now: &mut Duration,
        limit: Duration,
        done: &dyn Fn(&Node) -> bool,
    ) -> bool {
        while *now < limit && !done(node) {
            *now += Duration::from_millis(10);
            node.handle_timeout(*now);
            let _ = node.take_outputs();
        }
        done(node)
    }
    assert!(run_until(
        &mut node,
        &mut now,
        Duration::from_secs(10),
        &|n| n.claiming
    ));
    let notice = control_datagram(
        &Control::DownNotice {
            identity: node.id().clone(),
            from: id("s", SocketAddr::from(([198, 18, 0, 9], 7946))),
        },
        true,
    );
    let sender = SocketAddr::from(([198, 18, 0, 9], 7946));
    node.handle_packet(now, sender, &notice);
    // The primary weighs it: it stops claiming and asks its majority (here
    // itself alone), which holds it alive, so it claims again.
    assert!(node.contested_down.is_some() || node.dismissed.len() == 1);
    let limit = now + Duration::from_secs(10);
    assert!(run_until(&mut node, &mut now, limit, &|n| n.claiming
        && n.contested_down.is_none()));
    assert_eq!(node.stats().rejoins, 0);
    let life = node.id().clone();

    // The same notice again (a replay, or the sender before it rejoins):
    // no second weighing, the role stays put.
    node.handle_packet(now, sender, &notice);
    assert!(node.claiming);
    assert!(node.contested_down.is_none());
    assert_eq!(*node.id(), life);
}

/// How `node`'s latest snapshot shows the member `name`.
fn member(node: &Node, name: &str) -> Option<MemberInfo> {
    node.snapshot()
        .members
        .iter()
        .find(|m| &*m.name == name)
        .cloned()
}

fn opened_control(datagram: &[u8]) -> Control {
    let mut plain = Vec::new();
    let opened = codec::open(datagram, "herd", None, &mut plain).unwrap();
    codec::decode_control(opened.payload).unwrap()
}

#[test]
fn a_seed_answers_an_unproven_address_with_at_most_three_times_what_it_sent() {
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let mut seed = Node::new(
        NodeConfig::default(),
        id("seed", own),
        1,
        Start::Join(vec![]),
        Duration::ZERO,
    )
    .unwrap();
    let members: Vec<NodeId> = (0..400u32)
        .map(|i| {
            let addr = SocketAddr::from(([198, 18, 1 + (i / 200) as u8, (i % 200) as u8], 7946));
            id(&format!("member-{i:03}"), addr)
        })
        .collect();
    let now = Duration::from_secs(1);
    seed.preload(now, &members, passing_records(&members), 1);
    let _ = seed.take_outputs();
    let victim = SocketAddr::from(([198, 18, 0, 9], 7946));
    let joiner = id("joiner", victim);
    let ask = |cookie, padding: usize| {
        control_datagram(
            &Control::JoinRequest {
                joiner: joiner.clone(),
                request: 42,
                wanted: None,
                cookie,
                padding: vec![0; padding],
            },
            false,
        )
    };
    let bytes = |transmits: &[Transmit]| transmits.iter().map(|t| t.payload.len()).sum::<usize>();

    // A small request from a forged address draws one small datagram.
    let small = ask(None, 0);
    seed.handle_packet(now, victim, &small);
    let answer = seed.take_outputs().transmits;
    assert_eq!(answer.len(), 1);
    assert!(bytes(&answer) <= 3 * small.len());
    let Control::Cookie {
        request: 42,
        cookie,
    } = opened_control(&answer[0].payload)
    else {
        panic!("not a cookie");
    };

    // A padded one draws some slices, at most three times its size, the
    // last carrying the cookie.
    let padded = ask(None, 1150);
    seed.handle_packet(now, victim, &padded);
    let answer = seed.take_outputs().transmits;
    assert!(answer.len() >= 2, "{} datagrams", answer.len());
    assert!(
        bytes(&answer) <= 3 * padded.len(),
        "{} bytes",
        bytes(&answer)
    );
    let Control::SyncPart(last) = opened_control(&answer[answer.len() - 1].payload) else {
        panic!("not a slice");
    };
    assert_eq!(last.cookie, Some(cookie));

    // A guessed cookie is no proof.
    seed.handle_packet(now, victim, &ask(Some(cookie ^ 1), 0));
    assert_eq!(seed.take_outputs().transmits.len(), 1);
    // The cookie from the address it went to: the whole state.
    seed.handle_packet(now, victim, &ask(Some(cookie), 0));
    let state = seed.take_outputs().transmits;
    assert!(bytes(&state) > 10 * padded.len(), "{} bytes", bytes(&state));
    assert!(state.iter().all(|t| t.to == victim));
    // It proves that address only.
    let elsewhere = SocketAddr::from(([198, 18, 0, 10], 7946));
    seed.handle_packet(now, elsewhere, &ask(Some(cookie), 0));
    assert_eq!(seed.take_outputs().transmits.len(), 1);
}

/// The forgeries of issue 11, each made by hand: a stranger asking to join
/// (eager to be primary), a record saying a member drains, a down notice
/// that vouches, join requests for invented members, a member's name
/// announced at another address at the highest life, and a sync request
/// naming part 0 a thousand times.
fn forgeries(target: &NodeId, member: &NodeId) -> Vec<(PayloadKind, Vec<u8>, bool)> {
    let stranger = id("stranger", SocketAddr::from(([198, 18, 0, 66], 7946)));
    let mut draining = HealthRecord::new(member.name().clone(), member.incarnation(), 0, true);
    draining.draining = true;
    draining.version = 1_000;
    let join = |joiner: NodeId, wanted| Control::JoinRequest {
        joiner,
        request: 1,
        wanted,
        cookie: None,
        padding: Vec::new(),
    };
    let mut controls = vec![
        (join(stranger.clone(), None), false),
        (
            Control::Record {
                identity: member.clone(),
                record: draining,
            },
            false,
        ),
        (
            Control::DownNotice {
                identity: target.clone(),
                from: member.clone(),
            },
            true,
        ),
        (
            join(
                stranger.clone(),
                Some(WantedParts {
                    total: 8,
                    parts: vec![0; 1000],
                }),
            ),
            false,
        ),
    ];
    for i in 0..4 {
        let invented = id(
            &format!("invented-{i}"),
            SocketAddr::from(([198, 18, 0, 100 + i], 7946)),
        );
        controls.push((join(invented, None), false));
    }
    let mut out: Vec<(PayloadKind, Vec<u8>, bool)> = controls
        .into_iter()
        .map(|(c, vouching)| {
            (
                PayloadKind::Control,
                codec::encode_control(&c).unwrap(),
                vouching,
            )
        })
        .collect();
    let usurper = NodeId::new(
        member.name(),
        SocketAddr::from(([198, 18, 0, 67], 7946)),
        u64::MAX,
    )
    .unwrap();
    let header = foca::Header {
        src: usurper,
        src_incarnation: u16::MAX,
        dst: target.clone(),
        message: foca::Message::Announce,
    };
    let mut payload = Vec::new();
    WireCodec::default()
        .encode_header(&header, &mut payload)
        .unwrap();
    payload.extend_from_slice(&0u16.to_be_bytes());
    out.push((PayloadKind::Foca, payload, true));
    out
}

#[test]
fn every_forgery_without_the_key_is_dropped_by_reason_and_changes_nothing() {
    use crate::core::fuzzing::keyring;
    use crate::core::keyring::Sealer;
    let config = NodeConfig {
        keyring: keyring(1),
        ..NodeConfig::default()
    };
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let mut node = Node::new(config, id("a", own), 1, Start::Join(vec![]), Duration::ZERO).unwrap();
    let b = id("b", SocketAddr::from(([198, 18, 0, 2], 7946)));
    let c = id("c", SocketAddr::from(([198, 18, 0, 3], 7946)));
    let now = Duration::from_secs(1);
    let members = [b.clone(), c.clone()];
    node.preload(now, &members, passing_records(&members), 1);
    let _ = node.take_outputs();
    let view = |node: &Node| {
        let mut s = node.snapshot();
        s.stats = NodeStats::default();
        format!("{s:?}")
    };
    let before = view(&node);
    let mut wrong_key = Sealer::new(&keyring(2));
    let forger = SocketAddr::from(([198, 18, 0, 66], 7946));
    let forged = forgeries(node.id(), &b);
    let count = forged.len() as u64;
    for (kind, payload, vouching) in &forged {
        let sender = Sender {
            vouching: *vouching,
            term: u64::MAX,
        };
        for sealer in [None, Some(&mut wrong_key)] {
            let mut datagram = Vec::new();
            codec::seal(&mut datagram, "herd", *kind, sender, payload, sealer);
            node.handle_packet(now, forger, &datagram);
            assert!(
                node.take_outputs().transmits.is_empty(),
                "answered a forgery"
            );
        }
    }
    assert_eq!(node.stats().dropped(DropReason::Plaintext), count);
    assert_eq!(node.stats().dropped(DropReason::Key), count);
    assert_eq!(node.stats().dropped_total(), 2 * count);
    assert_eq!(view(&node), before);
}

#[test]
fn a_full_view_refuses_new_members_from_every_door_and_counts_them() {
    let config = NodeConfig {
        gossip: GossipTuning {
            max_members: 4,
            ..GossipTuning::default()
        },
        ..NodeConfig::default()
    };
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let at = |i: u8| SocketAddr::from(([198, 18, 0, 10 + i], 7946));
    let mut node = Node::new(config, id("a", own), 1, Start::Join(vec![]), Duration::ZERO).unwrap();
    let b = id("b", at(1));
    let c = id("c", at(2));
    let mut now = Duration::from_secs(1);
    let members = [b.clone(), c.clone()];
    node.preload(now, &members, passing_records(&members), 1);
    let _ = node.take_outputs();
    let join = |joiner: NodeId| {
        control_datagram(
            &Control::JoinRequest {
                joiner,
                request: 7,
                wanted: None,
                cookie: None,
                padding: Vec::new(),
            },
            false,
        )
    };
    let others = |node: &Node| {
        let mut names: Vec<String> = node
            .snapshot()
            .members
            .iter()
            .filter(|m| !m.local)
            .map(|m| m.name.to_string())
            .collect();
        names.sort();
        names
    };

    // Two joiners fill the view; the third is told it is full.
    for (i, name) in ["d", "e"].into_iter().enumerate() {
        node.handle_packet(now, at(3 + i as u8), &join(id(name, at(3 + i as u8))));
        let _ = node.take_outputs();
    }
    assert_eq!(others(&node), ["b", "c", "d", "e"]);
    node.handle_packet(now, at(5), &join(id("f", at(5))));
    let answer = node.take_outputs().transmits;
    assert_eq!(answer.len(), 1);
    assert!(matches!(
        opened_control(&answer[0].payload),
        Control::JoinRefused {
            reason: Refusal::Full { max_members: 4 },
            ..
        }
    ));
    assert_eq!(node.stats().joins_refused, 1);

    // Gossip from a member about members the view has no room for: the
    // datagram is taken (b's ping is answered), the strangers are not.
    let header = foca::Header {
        src: b.clone(),
        src_incarnation: 0,
        dst: node.id().clone(),
        message: foca::Message::Ping(3),
    };
    let mut payload = Vec::new();
    let mut codec = WireCodec::default();
    codec.encode_header(&header, &mut payload).unwrap();
    let invented: Vec<NodeId> = (0..3).map(|i| id(&format!("x{i}"), at(20 + i))).collect();
    payload.extend_from_slice(&(invented.len() as u16).to_be_bytes());
    for member in &invented {
        codec
            .encode_member(&foca::Member::alive(member.clone()), &mut payload)
            .unwrap();
    }
    now += Duration::from_millis(10);
    node.handle_packet(
        now,
        at(1),
        &plain_datagram(PayloadKind::Foca, true, &payload),
    );
    assert!(
        node.take_outputs().transmits.iter().any(|t| t.to == at(1)),
        "b's ping was not answered"
    );
    assert_eq!(node.stats().members_refused, 1 + 3);

    // A stranger's own datagram is not heard at all.
    let stranger = id("stranger", at(30));
    node.handle_packet(
        now,
        at(30),
        &foca_datagram(&stranger, node.id(), foca::Message::Ping(4)),
    );
    assert!(node.take_outputs().transmits.is_empty());
    assert_eq!(node.stats().dropped(DropReason::MemberCap), 1);

    // Nor are a record, a leave or a state sync that name new members.
    let record = HealthRecord::new(stranger.name().clone(), stranger.incarnation(), 0, true);
    node.handle_packet(
        now,
        at(1),
        &control_datagram(
            &Control::Record {
                identity: stranger.clone(),
                record: record.clone(),
            },
            true,
        ),
    );
    let mut leaving = record.clone();
    leaving.leaving = true;
    node.handle_packet(
        now,
        at(1),
        &control_datagram(
            &Control::Leaving {
                identity: stranger.clone(),
                record: leaving,
            },
            true,
        ),
    );
    let synced = invented.iter().cloned().map(foca::Member::alive).collect();
    node.merge_state(now, synced, vec![record], true);
    node.handle_timeout(now);
    let _ = node.take_outputs();
    assert_eq!(others(&node), ["b", "c", "d", "e"]);
    assert_eq!(node.stats().members_refused, 1 + 3 + 1 + 2 + 3 + 1);
    // Members already held still come and go: a new life of b is taken.
    let b2 = NodeId::new("b", at(1), 2).unwrap();
    node.merge_state(
        now,
        vec![foca::Member::alive(b2)],
        Vec::<HealthRecord>::new(),
        true,
    );
    node.handle_timeout(now);
    let _ = node.take_outputs();
    let b_life = member(&node, "b").map(|m| m.incarnation);
    assert_eq!(b_life, Some(2));
}

/// A passing record of each member's life, with no rank.
fn passing_records(members: &[NodeId]) -> Vec<HealthRecord> {
    members
        .iter()
        .map(|m| HealthRecord::new(m.name().clone(), m.incarnation(), 0, true))
        .collect()
}

/// A node "a" that has not joined yet, and three members b, c and d for it
/// to hold (at 198.18.0.11 to .13).
fn a_and_three_members() -> (Node, Vec<NodeId>) {
    a_and_three_members_with(NodeConfig::default())
}

/// The same, "a" configured with `cfg`.
fn a_and_three_members_with(cfg: NodeConfig) -> (Node, Vec<NodeId>) {
    let own = SocketAddr::from(([198, 18, 0, 1], 7946));
    let node = Node::new(cfg, id("a", own), 1, Start::Join(vec![]), Duration::ZERO).unwrap();
    let members = ["b", "c", "d"]
        .iter()
        .zip(11u8..)
        .map(|(name, host)| id(name, SocketAddr::from(([198, 18, 0, host], 7946))))
        .collect();
    (node, members)
}

/// Behind a one-way cut, a member this view holds down may still hear it: a
/// goodbye that went to live members only never reached the three that
/// remained of a scale-in (`found/goodbyes-unsent-to-a-side-held-down.toml`).
#[test]
fn a_leaving_member_says_goodbye_to_the_members_it_holds_down_too() {
    let (mut node, members) = a_and_three_members();
    let now = Duration::from_secs(1);
    node.preload(now, &members, passing_records(&members), 1);
    node.merge_state(
        now,
        vec![foca::Member::down(members[2].clone())],
        Vec::<HealthRecord>::new(),
        true,
    );
    node.handle_timeout(now);
    let _ = node.take_outputs();
    let d_state = member(&node, "d").map(|m| m.state);
    assert_eq!(d_state, Some(MemberState::Down));

    node.handle_command(now, Command::Leave).unwrap();
    let mut told: Vec<SocketAddr> = node
        .take_outputs()
        .transmits
        .iter()
        .filter(|t| {
            let mut plain = Vec::new();
            codec::open(&t.payload, "herd", None, &mut plain)
                .ok()
                .filter(|opened| opened.kind == PayloadKind::Control)
                .and_then(|opened| codec::decode_control(opened.payload).ok())
                .is_some_and(|control| matches!(control, Control::Leaving { .. }))
        })
        .map(|t| t.to)
        .collect();
    told.sort();
    let everyone: Vec<SocketAddr> = members.iter().map(NodeId::socket_addr).collect();
    assert_eq!(told, everyone);
}

/// A node of four (a, b, c, d) that names b primary under term 1, after a
/// ping from c whose envelope carries `term` (2 is a claim this view never
/// saw). Returns the node, c's address, b's identity and the time.
fn a_node_hearing_term(term: u64) -> (Node, SocketAddr, NodeId, Duration) {
    let (mut node, members) = a_and_three_members();
    let records: Vec<HealthRecord> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut record = HealthRecord::new(m.name().clone(), m.incarnation(), 0, true);
            record.seniority = Some(1 + i as u64);
            record.admitted = true;
            record.term = 1;
            record
        })
        .collect();
    let now = Duration::from_secs(1);
    node.preload(now, &members, records, 9);
    assert_eq!(node.snapshot().primary.as_deref(), Some("b"));

    let header = foca::Header {
        src: members[1].clone(),
        src_incarnation: 0,
        dst: node.id().clone(),
        message: foca::Message::Ping(1),
    };
    let mut payload = Vec::new();
    WireCodec::default()
        .encode_header(&header, &mut payload)
        .unwrap();
    payload.extend_from_slice(&0u16.to_be_bytes());
    let mut datagram = Vec::new();
    let sender = Sender {
        vouching: true,
        term,
    };
    codec::seal(
        &mut datagram,
        "herd",
        PayloadKind::Foca,
        sender,
        &payload,
        None,
    );
    let carrier = members[1].socket_addr();
    node.handle_packet(now, carrier, &datagram);
    (node, carrier, members[0].clone(), now)
}

/// The addresses `node` asks for a whole state until `until`, its timers
/// served as they fall due.
fn syncs_asked_until(node: &mut Node, until: Duration) -> Vec<SocketAddr> {
    let mut asked = Vec::new();
    loop {
        for transmit in node.take_outputs().transmits {
            let mut plain = Vec::new();
            let is_sync = codec::open(&transmit.payload, "herd", None, &mut plain)
                .ok()
                .filter(|opened| opened.kind == PayloadKind::Control)
                .and_then(|opened| codec::decode_control(opened.payload).ok())
                .is_some_and(|control| matches!(control, Control::JoinRequest { .. }));
            if is_sync {
                asked.push(transmit.to);
            }
        }
        match node.poll_timeout() {
            Some(due) if due <= until => node.handle_timeout(due),
            _ => return asked,
        }
    }
}

/// Cut off while the primary crashed on the other side, a member held the
/// dead primary alive and named it for 34 s after the heal
/// (`found/a-newer-term-unheard-behind-a-short-cut.toml`): a term above the
/// named primary's is the sign, and its carrier is asked for its state.
/// The node's own syncs (one after it joined) are the same with the term
/// it knew, so the difference is the check's.
#[test]
fn a_view_whose_primary_holds_an_older_term_than_one_heard_asks_its_carrier() {
    let probe_period = NodeConfig::default().gossip.probe_period;
    let (mut known, _, _, now) = a_node_hearing_term(1);
    let (mut newer, carrier, _, _) = a_node_hearing_term(2);
    assert_eq!(
        syncs_asked_until(&mut newer, now + probe_period * 2),
        syncs_asked_until(&mut known, now + probe_period * 2),
        "the claimant's record may still be on its way"
    );
    let mut expected = syncs_asked_until(&mut known, now + probe_period * 4);
    expected.push(carrier);
    expected.sort();
    let mut asked = syncs_asked_until(&mut newer, now + probe_period * 4);
    asked.sort();
    assert_eq!(asked, expected);
}

/// In a failover heard as it happens, the new primary's record with the
/// new term arrives within a round trip, and nothing more is asked.
#[test]
fn a_view_that_names_a_primary_of_the_newer_term_asks_nothing_more() {
    let probe_period = NodeConfig::default().gossip.probe_period;
    let (mut known, _, _, now) = a_node_hearing_term(1);
    let (mut newer, _, b, _) = a_node_hearing_term(2);
    let mut record = HealthRecord::new(b.name().clone(), b.incarnation(), 0, true);
    record.seniority = Some(1);
    record.admitted = true;
    record.term = 2;
    record.version = 1;
    let datagram = control_datagram(
        &Control::Record {
            identity: b.clone(),
            record,
        },
        true,
    );
    known.handle_packet(now, b.socket_addr(), &datagram);
    newer.handle_packet(now, b.socket_addr(), &datagram);
    assert_eq!(newer.snapshot().primary.as_deref(), Some("b"));
    assert_eq!(
        syncs_asked_until(&mut newer, now + probe_period * 4),
        syncs_asked_until(&mut known, now + probe_period * 4)
    );
}

/// Taking the role over from a primary that is live here needs that
/// primary's own backing besides a majority's: the majority may name this
/// node while the old primary's view, a moment behind, still names itself
/// and its witnesses renew its lease. A heal brought back a member ranked
/// ahead of the primary, and the two claimed at once for 14 ms (seed 2
/// #838 of the swarm, its random draws moved by another change). Here "a"
/// outranks the primary b by priority once it comes back from a drain.
#[test]
fn a_take_over_from_a_live_primary_waits_for_its_backing() {
    let cfg = NodeConfig {
        priority: 10,
        gossip: GossipTuning {
            lease: Duration::ZERO,
            ..GossipTuning::default()
        },
        ..NodeConfig::default()
    };
    let (mut node, members) = a_and_three_members_with(cfg);
    let mut now = Duration::from_secs(1);
    node.handle_command(now, Command::Drain).unwrap();
    let mut records = passing_records(&members);
    for (rank, record) in (1..).zip(&mut records) {
        record.admitted = true;
        record.seniority = Some(rank);
    }
    records[0].term = 1;
    node.preload(now, &members, records, 4);
    assert_eq!(node.snapshot().primary.as_deref(), Some("b"));

    node.handle_command(now, Command::Resume).unwrap();
    assert_eq!(node.snapshot().primary.as_deref(), Some("a"));
    // Its fresh rank travels for two probe periods before it asks.
    let round = loop {
        let asked = node.take_outputs().transmits.iter().find_map(|t| {
            let mut plain = Vec::new();
            let opened = codec::open(&t.payload, "herd", None, &mut plain).ok()?;
            match codec::decode_control(opened.payload).ok()? {
                Control::QuorumPing { round, .. } => Some(round),
                _ => None,
            }
        });
        if let Some(round) = asked {
            break round;
        }
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
    };
    let answer = |node: &mut Node, member: &NodeId| {
        let ack = Control::QuorumAck {
            from: member.clone(),
            round,
            term: 1,
        };
        node.handle_packet(now, member.socket_addr(), &control_datagram(&ack, true));
    };
    answer(&mut node, &members[1]);
    answer(&mut node, &members[2]);
    assert!(
        !node.is_claiming(),
        "c and d make a majority with a, but b has not stopped yet"
    );
    answer(&mut node, &members[0]);
    assert!(node.is_claiming());
}

/// The state of each member as foca holds it, by name.
fn foca_states(node: &Node) -> BTreeMap<String, (u64, foca::Incarnation, foca::State)> {
    node.foca
        .iter_membership_state()
        .map(|m| {
            let id = m.id();
            (
                id.name().to_string(),
                (id.incarnation(), m.incarnation(), m.state()),
            )
        })
        .collect()
}

/// A whole-state sync leaves out what foca already holds as it is (see
/// `FocaPlaces`), and that must never cost an update: whatever foca's
/// list did between two slices (newcomers inserted at random places), every
/// entry that differs reaches foca, and one that does not asks no scan.
#[test]
fn a_state_sync_skips_only_what_foca_holds_as_it_is() {
    let (mut node, _) = a_and_three_members();
    let member = |i: u8| id(&format!("m{i}"), SocketAddr::from(([198, 18, 1, i], 7946)));
    let state: Vec<_> = (1..=40).map(|i| foca::Member::alive(member(i))).collect();
    let now = Duration::from_secs(1);
    node.merge_state(now, state.clone(), Vec::<HealthRecord>::new(), true);
    let before = foca_states(&node);
    assert_eq!(before.len(), 40);
    node.settle(now);
    assert!(!node.scan_needed);

    // The same state again: nothing reaches foca, nothing asks for a scan.
    let order: Vec<_> = node.foca.iter_membership_state().cloned().collect();
    node.merge_state(now, state.clone(), Vec::<HealthRecord>::new(), true);
    assert!(!node.scan_needed, "an unchanged state asked for a scan");
    assert_eq!(
        node.foca
            .iter_membership_state()
            .cloned()
            .collect::<Vec<_>>(),
        order
    );

    // Newcomers inserted behind the places' back move members around;
    // then a slice with news about every old member, still within the
    // places' lifetime.
    let newcomers: Vec<_> = (41..=60).map(|i| foca::Member::alive(member(i))).collect();
    node.foca
        .apply_many(newcomers.into_iter(), false, &mut node.rt)
        .unwrap();
    let news: Vec<_> = (1..=40u8)
        .map(|i| match i % 3 {
            0 => foca::Member::new(member(i), 0, foca::State::Suspect),
            1 => foca::Member::new(member(i), 2, foca::State::Alive),
            _ => foca::Member::alive(member(i)),
        })
        .collect();
    node.merge_state(now, news, Vec::<HealthRecord>::new(), true);
    assert!(node.scan_needed);
    let after = foca_states(&node);
    assert_eq!(after.len(), 60);
    for i in 1..=40u8 {
        let expected = match i % 3 {
            0 => (0, foca::State::Suspect),
            1 => (2, foca::State::Alive),
            _ => (0, foca::State::Alive),
        };
        let (_, incarnation, state) = after[&format!("m{i}")];
        assert_eq!((incarnation, state), expected, "m{i}");
    }

    // A slice that brings newcomers moves foca's list: the places go at
    // once, and the next slice reads them again.
    let more: Vec<_> = (61..=62).map(|i| foca::Member::alive(member(i))).collect();
    node.merge_state(now, more, Vec::<HealthRecord>::new(), true);
    assert!(node.foca_places.is_empty());
    assert_eq!(foca_states(&node).len(), 62);
    node.merge_state(now, state, Vec::<HealthRecord>::new(), true);
    assert!(!node.foca_places.is_empty());

    // The places go once they are old.
    node.settle(now + Duration::from_secs(1));
    assert!(node.foca_places.is_empty());
}
