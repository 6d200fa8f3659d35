//! What one control message can make a real node parse and keep: a GOSSIP_REPLY's list is
//! taken up to `MAX_REPLY_FILES` entries, and any other message is cut at
//! `MAX_SMALL_MESSAGE` as soon as its type is known, not at the 8 MiB a GOSSIP_REPLY may take.

use crate::support::*;
use backend::protocol::{MAX_REPLY_FILES, MAX_SMALL_MESSAGE};
use backend::refusal::Reason;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gossip_reply_listing_too_many_files_tracks_its_sender_and_merges_the_first_ones() {
    let us = spawn("us", &[]).await;
    let entries: Vec<String> = (0..MAX_REPLY_FILES + 500)
        .map(|i| {
            format!(
                r#"{{"file_name":"f{i}.txt","file_size":0.001,"file_id":"{i:064x}","file_owner":"PROF","file_timestamp":1749713822}}"#
            )
        })
        .collect();
    let reply = format!(
        r#"{{"type":"GOSSIP_REPLY","host":"127.0.0.1","port":9,"peerId":"hoarder","files":[{}]}}"#,
        entries.join(",")
    );
    deliver(&us.addr(), reply.as_bytes()).await;
    assert_eq!(peer_ids(us.peer()), ["hoarder"]);
    assert_eq!(us.peer().files().len(), MAX_REPLY_FILES);
    let last = format!("{:064x}", MAX_REPLY_FILES - 1);
    assert!(us.peer().file(&last).is_some());
    assert_eq!(us.peer().refusals().count(Reason::ReplyFiles), 1);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announce_past_the_small_cap_is_refused_before_it_ends() {
    let us = spawn("us", &[]).await;
    let mut stream = TcpStream::connect(us.addr()).await.unwrap();
    stream
        .write_all(br#"{"type":"ANNOUNCE","from":"p","file_id":"x","file_name":""#)
        .await
        .unwrap();
    // More than the cap, and the message never ends: only the cap can close it this soon
    // (the message deadline is 5 s, this wait shorter).
    let _ = stream.write_all(&vec![b'n'; MAX_SMALL_MESSAGE + 1]).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still open");
    assert_eq!(us.peer().refusals().count(Reason::Decode), 1);
    assert!(us.peer().files().is_empty());
    us.stop().await;
}

/// A GOSSIP_REPLY from `peer_id` whose object holds `pad` bytes of a string we do not read.
fn padded_reply(peer_id: &str, pad: usize) -> String {
    format!(
        r#"{{"type":"GOSSIP_REPLY","pad":"{}","host":"127.0.0.1","port":9,"peerId":"{peer_id}","files":[]}}"#,
        "x".repeat(pad)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partly_read_replies_share_the_listeners_budget() {
    let us = spawn_with("us", &[], |c| c.limits.max_buffered = 1 << 20).await;
    // Two replies that never end, each within the budget alone, not both together.
    let head = padded_reply("never", 700 << 10);
    let head = &head.as_bytes()[..head.len() - 100];
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(us.addr()).await.unwrap();
        stream.write_all(head).await.unwrap();
        open.push(stream);
    }
    refused(us.peer(), Reason::Buffered, 1).await;
    drop(open);

    // Once they are gone, a reply as large is taken whole.
    let whole = padded_reply("late", 700 << 10);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !peer_ids(us.peer()).contains(&"late".to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reply was never taken"
        );
        deliver(&us.addr(), whole.as_bytes()).await;
    }
    us.stop().await;
}
