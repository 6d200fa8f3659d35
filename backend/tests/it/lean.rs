//! The lean gossip policy seen from a peer that follows the protocol to the letter: it answers
//! nothing twice, yet a stranger still learns every file from its first round and every change
//! after, and a file found in the folder after its list went out. A new peer greets its
//! bootstrap host once, not twice.

use crate::support::*;
use serde_json::Value;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(15);

/// A letter-of-the-protocol listener: every GOSSIP_REPLY it receives, parsed.
async fn reply_listener() -> (u16, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                if socket.read_to_string(&mut text).await.is_ok() {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        if value["type"] == "GOSSIP_REPLY" {
                            let _ = tx.send(value);
                        }
                    }
                }
            });
        }
    });
    (port, rx)
}

fn gossip(port: u16, round: u32) -> String {
    format!(
        r#"{{"type":"GOSSIP","host":"127.0.0.1","port":{port},"id":"6b1e2c1e-0000-4000-8000-{round:012}","peerId":"python"}}"#
    )
}

/// The file ids a reply lists.
fn ids(reply: &Value) -> Vec<String> {
    let mut ids: Vec<String> = reply["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["file_id"].as_str().map(String::from))
        .collect();
    ids.sort();
    ids
}

/// Waits for the next reply from `peer_id`.
async fn next_reply_from(rx: &mut mpsc::UnboundedReceiver<Value>, peer_id: &str) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let reply = rx.recv().await.expect("listener runs");
            if reply["peerId"] == peer_id {
                return reply;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no GOSSIP_REPLY from {peer_id}"))
}

/// The first reply from each of `peer_ids`, whatever order they come in.
async fn first_replies_from(
    rx: &mut mpsc::UnboundedReceiver<Value>,
    peer_ids: &[&str],
) -> std::collections::HashMap<String, Value> {
    let mut first = std::collections::HashMap::new();
    tokio::time::timeout(WAIT, async {
        while first.len() < peer_ids.len() {
            let reply = rx.recv().await.expect("listener runs");
            let from = reply["peerId"].as_str().unwrap_or_default().to_string();
            if peer_ids.contains(&from.as_str()) {
                first.entry(from).or_insert(reply);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("replies only from {:?}", first.keys().collect::<Vec<_>>()));
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_of_the_protocol_peer_learns_every_file_in_one_round_and_each_change() {
    // A long timeout: an unchanged list would not be resent for 30 s.
    let slow = |c: &mut backend::node::NodeConfig| c.peer_timeout = Duration::from_secs(60);
    let files = tempfile::tempdir().unwrap();
    let alice = spawn_with("alice", &[], slow).await;
    let a1 = alice
        .peer()
        .push_path(&local_file(&files, "a1.txt", b"a1"))
        .await
        .unwrap();
    let bob = spawn_with("bob", &[alice.addr()], slow).await;
    eventually("alice and bob track each other", WAIT, || {
        peer_ids(alice.peer()) == ["bob"] && peer_ids(bob.peer()) == ["alice"]
    })
    .await;
    // Bob's push goes to the one peer he tracks: both hold b1 from now on.
    let b1 = bob
        .peer()
        .push_path(&local_file(&files, "b1.txt", b"b1"))
        .await
        .unwrap();
    eventually("alice holds b1", WAIT, || holds(alice.peer(), &b1.file_id)).await;

    let (port, mut replies) = reply_listener().await;
    deliver(&alice.addr(), gossip(port, 1).as_bytes()).await;
    // One GOSSIP to alice: her reply, and bob's through her forward, in either order.
    let first = first_replies_from(&mut replies, &["alice", "bob"]).await;
    let mut expected = vec![a1.file_id.clone(), b1.file_id.clone()];
    expected.sort();
    assert_eq!(ids(&first["alice"]), expected);
    assert_eq!(ids(&first["bob"]), std::slice::from_ref(&b1.file_id));

    let a2 = alice
        .peer()
        .push_path(&local_file(&files, "a2.txt", b"a2"))
        .await
        .unwrap();
    // Its next round, an interval later (a changed list goes at most once per half interval).
    tokio::time::sleep(Duration::from_millis(200)).await;
    deliver(&alice.addr(), gossip(port, 2).as_bytes()).await;
    expected.push(a2.file_id);
    expected.sort();
    assert_eq!(ids(&next_reply_from(&mut replies, "alice").await), expected);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_found_in_the_folder_after_our_list_went_out_is_announced() {
    let alice = spawn("alice", &[]).await;
    let stranger = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stranger.local_addr().unwrap().port();
    // Alice tracks the stranger and answers it with her list, empty yet.
    deliver(&alice.addr(), gossip(port, 1).as_bytes()).await;

    std::fs::write(alice.storage().join("late.txt"), b"late").unwrap();
    let entry = alice
        .peer()
        .store()
        .adopt("late.txt", "alice", Vec::new(), |_| false)
        .await
        .unwrap();
    let file_id = entry.meta.file_id.clone();
    alice.peer().add_adopted(entry).unwrap();
    let announce = tokio::time::timeout(WAIT, async {
        loop {
            let (mut socket, _) = stranger.accept().await.unwrap();
            let mut text = String::new();
            let _ = socket.read_to_string(&mut text).await;
            if text.contains("\"ANNOUNCE\"") {
                return text;
            }
        }
    })
    .await
    .expect("an ANNOUNCE arrives");
    assert!(announce.contains(&file_id), "{announce}");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_gossip_round_comes_an_interval_after_the_bootstrap_gossip() {
    // Long beside any stall of a loaded machine, which could only narrow the gap seen here.
    let every = Duration::from_secs(2);
    // A bootstrap host that never answers, so every round goes to it again.
    let host = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bootstrap = host.local_addr().unwrap().to_string();
    let us = spawn_with("us", &[bootstrap], |c| c.gossip_interval = every).await;
    let mut arrivals = Vec::new();
    while arrivals.len() < 2 {
        let (mut socket, _) = tokio::time::timeout(WAIT, host.accept())
            .await
            .expect("a GOSSIP arrives")
            .unwrap();
        let accepted = std::time::Instant::now();
        let mut text = String::new();
        let _ = socket.read_to_string(&mut text).await;
        if text.contains("\"GOSSIP\"") {
            arrivals.push(accepted);
        }
    }
    let gap = arrivals[1] - arrivals[0];
    assert!(
        gap >= every / 2,
        "the first round followed at once: {gap:?}"
    );
    us.stop().await;
}
