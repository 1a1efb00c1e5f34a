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
