//! Peers that crashed but are still tracked: pushes that go on past dead or cut targets to a
//! live one, and auto-fetch that spends its gets on files someone holds and counts the copies
//! that arrived. Dead peers are peer ids introduced at ports nobody listens on.

use crate::support::*;
use backend::node::NodeConfig;
use backend::protocol::{encode, FileMeta};
use shared::{PeerStateDto, TransferStateDto};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);

/// Long enough that a peer stays tracked while a test pushes to it once it turned quiet (at
/// half of it), even on a loaded machine: at 6 s, five pushes of 8 MiB beside a build took
/// longer than the half left.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Tracks `peer_id` at `port` of 127.0.0.1, holding `files`, with a GOSSIP_REPLY; merged on
/// return.
async fn introduce(us: &TestPeer, peer_id: &str, port: u16, files: &[&FileMeta]) {
    let reply = encode::gossip_reply("127.0.0.1", port, peer_id, files.iter().copied());
    deliver(&us.addr(), reply.as_bytes()).await;
}

/// A port nobody listens on: connections to it are refused, as to a crashed peer's.
async fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A fake peer that takes what is sent to it. Returns its port and the FILE_DATAs that
/// arrived whole, as text.
async fn sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let whole = socket.read_to_string(&mut text).await.is_ok();
                if whole && text.contains("\"FILE_DATA\"") && text.ends_with('}') {
                    kept.lock().unwrap().push(text);
                }
            });
        }
    });
    (port, received)
}

/// A fake peer killed in the middle of whatever is sent to it: it reads the first bytes, then
/// closes with the rest unread (a reset). Returns its port.
async fn cutter() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut first = [0u8; 1024];
            let _ = socket.read(&mut first).await;
        }
    });
    port
}

/// Waits until `us` tracks `peer_id` as quiet.
async fn quiet(us: &TestPeer, peer_id: &str) {
    eventually(&format!("{peer_id} is quiet"), WAIT, || {
        (us.peer().peers().iter()).any(|p| p.peer_id == peer_id && p.state == PeerStateDto::Quiet)
    })
    .await;
}

/// Pushes a new file of `content` named `name`; returns it, the peer named as its first
/// target, and its finished transfer.
async fn push(
    us: &TestPeer,
    files: &tempfile::TempDir,
    name: &str,
    content: &[u8],
) -> (FileMeta, String, shared::TransferDto) {
    let (meta, sending) = (us.peer())
        .push_path_to(&local_file(files, name, content))
        .await
        .unwrap();
    let sending = sending.expect("a peer is tracked");
    let transfer = finished(us.peer(), sending.transfer, WAIT).await;
    (meta, sending.to, transfer)
}

fn tweak(c: &mut NodeConfig) {
    c.peer_timeout = PEER_TIMEOUT;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_refused_by_dead_peers_goes_on_to_a_live_one() {
    let us = spawn_with("us", &[], tweak).await;
    let (port, received) = sink().await;
    introduce(&us, "live", port, &[]).await;
    quiet(&us, "live").await;
    // Crashed after they were heard from: not quiet yet, so tried before "live".
    for dead in ["dead1", "dead2"] {
        introduce(&us, dead, dead_port().await, &[]).await;
    }
    let files = tempfile::tempdir().unwrap();
    // Without the retry, each push had one chance in three of reaching "live".
    for i in 0..6 {
        let name = format!("file{i}.txt");
        let (meta, first, transfer) = push(&us, &files, &name, name.as_bytes()).await;
        assert_eq!(transfer.state, TransferStateDto::Done, "{transfer:?}");
        assert_eq!(transfer.peer.as_deref(), Some("live"));
        // Always so, as "live" is quiet and tried last; each failure is logged.
        if first != "live" {
            let said = format!("push of {name} to {first} failed");
            let log = us.peer().snapshot().log;
            assert!(log.iter().any(|e| e.message.starts_with(&said)), "{log:?}");
        }
        let got = received.lock().unwrap().clone();
        assert!(got.iter().any(|text| text.contains(&meta.file_id)));
    }
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cut_by_its_target_goes_on_to_the_next_peer() {
    let us = spawn_with("us", &[], tweak).await;
    let (port, received) = sink().await;
    introduce(&us, "live", port, &[]).await;
    quiet(&us, "live").await;
    for cut in ["cut1", "cut2"] {
        introduce(&us, cut, cutter().await, &[]).await;
    }
    let files = tempfile::tempdir().unwrap();
    // Far more than the sockets buffer, so that the cut is seen while sending.
    let big = vec![7u8; 8 << 20];
    for i in 0..5u8 {
        let mut content = big.clone();
        content[0] = i;
        let name = format!("big{i}");
        let (meta, _, transfer) = push(&us, &files, &name, &content).await;
        assert_eq!(transfer.state, TransferStateDto::Done, "{transfer:?}");
        assert_eq!(transfer.peer.as_deref(), Some("live"));
        eventually("live has the file", WAIT, || {
            let got = received.lock().unwrap();
            got.iter().any(|text| text.contains(&meta.file_id))
        })
        .await;
    }
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_goes_to_a_peer_heard_from_lately_before_quiet_ones() {
    let us = spawn_with("us", &[], tweak).await;
    for i in 0..4 {
        let dead = format!("dead{i}");
        introduce(&us, &dead, dead_port().await, &[]).await;
    }
    for i in 0..4 {
        quiet(&us, &format!("dead{i}")).await;
    }
    let (port, received) = sink().await;
    introduce(&us, "live", port, &[]).await;
    let files = tempfile::tempdir().unwrap();
    // Picked among all five, "live" came first one time in five.
    for i in 0..4 {
        let name = format!("file{i}.txt");
        let (meta, first, transfer) = push(&us, &files, &name, name.as_bytes()).await;
        assert_eq!(first, "live");
        assert_eq!(transfer.state, TransferStateDto::Done, "{transfer:?}");
        let got = received.lock().unwrap().clone();
        assert!(got.iter().any(|text| text.contains(&meta.file_id)));
    }
    us.stop().await;
}

/// A file described in `us`'s index as held by nobody: `id` sorts before any real id.
fn orphan(id: char) -> (String, String) {
    let file_id = format!("{}{id}", "0".repeat(63));
    let entry = format!(
        r#""{file_id}": {{"file_id": "{file_id}", "file_name": "orphan{id}", "file_owner": "ghost",
            "file_timestamp": 1, "file_size": 0.1, "has_copy": "no"}}"#
    );
    (file_id, entry)
}

/// A storage folder whose index lists `n` files that no tracked peer holds (their owner
/// died), the ids of which sort first.
fn orphans(n: u8) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<String> = (b'1'..b'1' + n).map(|c| orphan(c as char).1).collect();
    let index = format!("{{{}}}", entries.join(","));
    std::fs::write(dir.path().join("metadata.json"), index).unwrap();
    dir
}

/// Alice, holding names.txt and tracking nobody.
async fn alice() -> (TestPeer, FileMeta, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let alice = spawn("alice", &[]).await;
    let names = (alice.peer())
        .push_path(&local_file(&files, "names.txt", &fixture("names.txt")))
        .await
        .unwrap();
    (alice, names, files)
}

/// Waits for auto-fetch to end; returns its last line.
async fn auto_fetch_done(us: &TestPeer) -> String {
    let mut line = None;
    eventually("auto-fetch ends", WAIT, || {
        let log = us.peer().snapshot().log;
        line = (log.into_iter())
            .map(|e| e.message)
            .find(|m| m.starts_with("auto-fetch done"));
        line.is_some()
    })
    .await;
    line.expect("found")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fetch_takes_a_file_someone_holds_before_files_nobody_holds() {
    let (alice, names, _files) = alice().await;
    let storage = orphans(3);
    let us = spawn_with("us", &[alice.addr()], |c| {
        c.storage = storage.path().to_path_buf();
        c.auto_fetch = 1;
    })
    .await;
    let done = auto_fetch_done(&us).await;
    assert!(holds(us.peer(), &names.file_id), "{done}");
    let transfers = us.peer().transfers();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    us.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fetch_counts_the_files_that_arrived_not_the_gets_it_started() {
    let (alice, names, _files) = alice().await;
    let us = spawn_with("us", &[alice.addr()], |c| {
        c.auto_fetch = 1;
        c.peer_timeout = PEER_TIMEOUT;
        // Auto-fetch waits this long after the first reply: time for the ghost's.
        c.gossip_interval = Duration::from_secs(1);
    })
    .await;
    // Its holder crashed after it was heard from: tracked, not quiet, and first by id.
    let (file_id, _) = orphan('1');
    let lost = FileMeta {
        file_id,
        ..names.clone()
    };
    introduce(&us, "ghost", dead_port().await, &[&lost]).await;
    let done = auto_fetch_done(&us).await;
    assert_eq!(done, "auto-fetch done: fetched 1 of 1 wanted, in 2 gets");
    assert!(holds(us.peer(), &names.file_id));
    us.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fetch_gives_up_after_three_gets_per_file_wanted() {
    let alice = spawn("alice", &[]).await;
    let storage = orphans(5);
    let us = spawn_with("us", &[alice.addr()], |c| {
        c.storage = storage.path().to_path_buf();
        c.auto_fetch = 1;
    })
    .await;
    let done = auto_fetch_done(&us).await;
    assert_eq!(done, "auto-fetch done: fetched 0 of 1 wanted, in 3 gets");
    let transfers = us.peer().transfers();
    assert_eq!(transfers.len(), 3, "{transfers:?}");
    us.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_within_a_timeout_finds_the_peers_that_dropped_it_again() {
    // Its bootstrap peer, with a long timeout, tracks it throughout: its return is not a
    // newcomer's there, so the lean policy floods none of its GOSSIPs.
    let boot = spawn_with("boot", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let others = [
        spawn("b", &[boot.addr()]).await,
        spawn("c", &[boot.addr()]).await,
    ];
    let d = spawn("d", &[boot.addr()]).await;
    let tracks = |p: &TestPeer, id: &str| peer_ids(p.peer()).iter().any(|t| t == id);
    eventually("everyone tracks everyone", WAIT, || {
        others
            .iter()
            .all(|o| tracks(o, "d") && tracks(&d, o.peer().id()))
    })
    .await;

    let at = d.node.p2p_addr;
    let dir = d.stop().await;
    eventually("b and c drop d", WAIT, || {
        others.iter().all(|o| !tracks(o, "d"))
    })
    .await;
    assert!(tracks(&boot, "d"));
    let config = NodeConfig {
        p2p_bind: at,
        bootstrap: vec![boot.addr()],
        ..NodeConfig::for_test("d", dir.path().to_path_buf())
    };
    let d = TestPeer {
        node: backend::node::Node::start(config)
            .await
            .expect("d starts again"),
        dir,
    };
    eventually(
        "d and the peers that dropped it find each other",
        WAIT,
        || {
            others
                .iter()
                .all(|o| tracks(o, "d") && tracks(&d, o.peer().id()))
        },
    )
    .await;
    for p in [d, boot].into_iter().chain(others) {
        p.stop().await;
    }
}
