//! The node driven whole, one datagram at a time.
use std::time::Duration;

use foca::Codec;

use super::*;
use crate::core::codec::{Sender, WireCodec};

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
    let mut datagram = Vec::new();
    codec::seal(
        &mut datagram,
        "herd",
        PayloadKind::Foca,
        Sender::default(),
        &payload,
        None,
    );
    datagram
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

/// A control message from `from`'s address, in an envelope of cluster
/// "herd" that vouches.
fn vouching_control(message: &Control) -> Vec<u8> {
    let payload = codec::encode_control(message).unwrap();
    let mut datagram = Vec::new();
    let sender = Sender {
        vouching: true,
        term: 0,
    };
    codec::seal(
        &mut datagram,
        "herd",
        PayloadKind::Control,
        sender,
        &payload,
        None,
    );
    datagram
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
    let notice = vouching_control(&Control::DownNotice {
        identity: node.id().clone(),
        from: id("s", SocketAddr::from(([198, 18, 0, 9], 7946))),
    });
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
