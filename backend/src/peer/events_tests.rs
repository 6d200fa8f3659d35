//! The events the dashboard is sent: each tells how a peer or a file stands when it goes out,
//! and a message counted against its sender is in the event about it.

use super::*;
use crate::net::server::Handler;
use crate::peer::PeerConfig;
use crate::protocol::{Gossip, Message};
use crate::store::Store;
use shared::ServerEvent;
use tokio::sync::broadcast::error::TryRecvError;

fn peer(dir: &std::path::Path) -> Peer {
    let (store, index, _) = Store::open(dir).unwrap();
    Peer::new(PeerConfig::for_test("127.0.0.1", 1 << 20), store, index)
}

fn reply_from(peer_id: &str) -> GossipReply {
    GossipReply {
        host: "127.0.0.1".into(),
        port: 9100,
        peer_id: peer_id.into(),
        files: Vec::new(),
    }
}

/// The events published so far, in order.
fn published(events: &mut broadcast::Receiver<ServerEvent>) -> Vec<ServerEvent> {
    let mut out = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => out.push(event),
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn a_file_changed_but_gone_meanwhile_is_told_as_removed_and_the_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer(dir.path());
    let chunks = futures_util::stream::iter([Ok::<_, String>(&b"kept"[..])]);
    let kept = peer.upload("kept.txt", chunks).await.unwrap();
    let mut events = peer.subscribe();
    // Another task removed the file after this change was made, before it was published.
    peer.apply(vec![Change::FileRemoved(kept.file_id.clone())]);
    peer.with_state(|s| s.forget("gone", 0));
    peer.apply(vec![Change::FileChanged("gone".into())]);
    match &published(&mut events)[..] {
        [ServerEvent::FileChanged(f), ServerEvent::FileRemoved { file_id }] => {
            assert_eq!(f.file_id, kept.file_id);
            assert_eq!(file_id, "gone");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_peer_dropped_but_back_meanwhile_is_told_as_seen() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer(dir.path());
    peer.on_gossip_reply(&reply_from("bob"));
    let mut events = peer.subscribe();
    peer.apply(vec![Change::PeerDropped("bob".into())]);
    match &published(&mut events)[..] {
        [ServerEvent::PeerSeen(p)] => assert_eq!(p.peer_id, "bob"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_message_from_a_peer_is_counted_in_the_next_event_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer(dir.path());
    let from: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut events = peer.subscribe();
    let counts = |events: &mut broadcast::Receiver<ServerEvent>| -> Vec<u64> {
        published(events)
            .into_iter()
            .filter_map(|e| match e {
                ServerEvent::PeerSeen(p) if p.peer_id == "bob" => {
                    p.health.map(|h| h.messages_received)
                }
                _ => None,
            })
            .collect()
    };
    Handler::on_message(&peer, Message::GossipReply(reply_from("bob")), from);
    assert_eq!(
        counts(&mut events).last(),
        Some(&1),
        "the reply that starts tracking bob"
    );
    Handler::on_message(&peer, Message::GossipReply(reply_from("bob")), from);
    assert_eq!(counts(&mut events), [2]);
    let delete = Delete {
        from: "bob".into(),
        file_id: "unknown".into(),
    };
    Handler::on_message(&peer, Message::Delete(delete), from);
    assert_eq!(counts(&mut events), [3], "a DELETE tells of its sender too");
    let gossip = Gossip {
        host: "127.0.0.1".into(),
        port: 9100,
        id: "round-1".into(),
        peer_id: "bob".into(),
        raw: String::new(),
    };
    Handler::on_message(&peer, Message::Gossip(gossip.clone()), from);
    Handler::on_message(&peer, Message::Gossip(gossip), from);
    assert_eq!(
        counts(&mut events),
        [4, 5],
        "a repeated GOSSIP, dropped, is counted"
    );
}
