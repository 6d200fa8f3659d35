//! Foreign peers written with raw sockets, behaving like the real Python peers (no trailing
//! newline, sockets kept open, all-null replies, truncated replies, wrong hashes) and like rude
//! ones (half a message then silence, 20 MB of garbage, hostile file names).

use crate::support::*;
use backend::node::{Node, NodeConfig};
use backend::protocol::{encode, FileMeta};
use backend::refusal::Reason;
use shared::{ServerEvent, TransferDto, TransferKind, TransferStateDto};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(15);

/// A whole FILE_DATA message as the Python peers write it (spaces after separators).
fn file_data(meta: &FileMeta, content: &[u8]) -> Vec<u8> {
    let mut hex = Vec::new();
    encode::hex_into(content, &mut hex);
    format!(
        r#"{{"type": "FILE_DATA", "file_name": "{}", "file_size": {}, "file_id": "{}", "file_owner": "{}", "file_timestamp": {}, "data": "{}"}}"#,
        meta.file_name,
        meta.file_size.json(),
        meta.file_id,
        meta.file_owner,
        meta.file_timestamp.json(),
        String::from_utf8(hex).unwrap()
    )
    .into_bytes()
}

/// How a fake holder answers GET_FILE.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// The all-null reply, socket kept open.
    Null,
    /// Half of the right reply, then EOF.
    Truncate,
    /// A reply whose content does not hash to the id.
    WrongHash,
    /// A whole, valid reply for another file than the one asked for.
    OtherFile,
    /// The right reply without a trailing newline, socket kept open for 30 s.
    Good,
    /// Half of the right reply, then silence.
    Stall,
    /// Half of the right reply, then, once released, the rest (socket kept open).
    PausedThenRest,
    /// Half of the right reply, then, once released, EOF.
    PausedThenEof,
    /// No reply: the socket closed once the request is read, as a busy peer does.
    Busy,
}

/// A fake holder; counts requests and records whether any client half-closed its socket.
struct Fake {
    port: u16,
    requests: Arc<AtomicUsize>,
    half_closed: Arc<AtomicUsize>,
    /// Ends the pause of a `Paused…` reply.
    release: Arc<Notify>,
}

async fn fake_holder(behaviour: Behaviour, meta: FileMeta, content: Vec<u8>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let half_closed = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let (r, h, released) = (requests.clone(), half_closed.clone(), release.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (meta, content, r, h) = (meta.clone(), content.clone(), r.clone(), h.clone());
            let released = released.clone();
            tokio::spawn(async move {
                if !read_get_file(&mut socket).await {
                    return;
                }
                r.fetch_add(1, Ordering::SeqCst);
                // A client that half-closes shows EOF here.
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_millis(100), socket.read(&mut [0u8; 1]))
                        .await
                {
                    h.fetch_add(1, Ordering::SeqCst);
                }
                let reply = match behaviour {
                    Behaviour::Busy => return,
                    Behaviour::Null => encode::file_data_not_found().into_bytes(),
                    Behaviour::Truncate | Behaviour::Stall => {
                        let whole = file_data(&meta, &content);
                        whole[..whole.len() / 2].to_vec()
                    }
                    Behaviour::PausedThenRest | Behaviour::PausedThenEof => {
                        let whole = file_data(&meta, &content);
                        let (first, rest) = whole.split_at(whole.len() / 2);
                        if socket.write_all(first).await.is_err() {
                            return;
                        }
                        released.notified().await;
                        match behaviour {
                            Behaviour::PausedThenRest => rest.to_vec(),
                            _ => return,
                        }
                    }
                    Behaviour::WrongHash => {
                        let mut forged = content.clone();
                        forged[0] ^= 0xff;
                        file_data(&meta, &forged)
                    }
                    Behaviour::Good => file_data(&meta, &content),
                    Behaviour::OtherFile => {
                        let other = b"another file".to_vec();
                        file_data(&meta_at(&other, "other.txt", "1749713822"), &other)
                    }
                };
                let _ = socket.write_all(&reply).await;
                match behaviour {
                    Behaviour::Truncate
                    | Behaviour::WrongHash
                    | Behaviour::OtherFile
                    | Behaviour::Busy => {}
                    Behaviour::Null
                    | Behaviour::Good
                    | Behaviour::Stall
                    | Behaviour::PausedThenRest
                    | Behaviour::PausedThenEof => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    Fake {
        port,
        requests,
        half_closed,
        release,
    }
}

/// Fetches `meta` on `us` once `peers` peers are tracked; returns the finished transfer.
async fn get(us: &TestPeer, meta: &FileMeta, peers: usize) -> TransferDto {
    eventually("the fakes are tracked", WAIT, || {
        us.peer().peers().len() == peers
    })
    .await;
    let transfer = us
        .peer()
        .start_fetch(&meta.file_id, TransferKind::Get)
        .unwrap();
    finished(us.peer(), transfer.id, WAIT).await
}

/// Introduces a fake to `peer` with a GOSSIP_REPLY listing `files`.
async fn introduce(peer_addr: &str, peer_id: &str, port: u16, files: &[&FileMeta]) {
    let reply = encode::gossip_reply("127.0.0.1", port, peer_id, files.iter().copied());
    send_raw(peer_addr, reply.as_bytes()).await;
}

/// The health `us` records for the only peer it tracks, after a failed get of `meta` from
/// a fake holder that behaves as `behaviour`.
async fn health_after_a_failed_get(behaviour: Behaviour) -> shared::PeerHealthDto {
    let content = fixture("names.txt");
    let meta = meta_at(&content, "names.txt", "1749713822");
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let fake = fake_holder(behaviour, meta.clone(), content).await;
    introduce(&us.addr(), "fake", fake.port, &[&meta]).await;
    let done = get(&us, &meta, 1).await;
    assert!(
        matches!(done.state, TransferStateDto::Failed { .. }),
        "{done:?}"
    );
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
    let health = us.peer().peers()[0].health.clone().unwrap();
    us.stop().await;
    health
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_closes_without_a_byte_has_no_first_byte_time() {
    let health = health_after_a_failed_get(Behaviour::Busy).await;
    assert_eq!(health.gets_failed, 1, "{health:?}");
    assert_eq!(health.first_byte_ms, None, "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_breaks_off_its_reply_has_a_first_byte_time() {
    let health = health_after_a_failed_get(Behaviour::Truncate).await;
    assert_eq!(health.truncated, 1, "{health:?}");
    assert!(health.first_byte_ms.is_some(), "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_survives_null_truncated_forged_and_other_files_replies() {
    let content = fixture("bitcoin.pdf");
    let meta = meta_at(&content, "bitcoin.pdf", "1749713822");
    assert_eq!(
        meta.file_id,
        "477182823f9d5d51587946a9d51431003014bb53169329ac50f39a194521aaf3"
    );
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;

    let mut fakes = Vec::new();
    for (name, behaviour) in [
        ("null", Behaviour::Null),
        ("truncate", Behaviour::Truncate),
        ("forged", Behaviour::WrongHash),
        ("other", Behaviour::OtherFile),
    ] {
        let fake = fake_holder(behaviour, meta.clone(), content.clone()).await;
        introduce(&us.addr(), name, fake.port, &[&meta]).await;
        fakes.push(fake);
    }
    // The good peer does not list the file: it is tried after the recorded holders.
    let good = fake_holder(Behaviour::Good, meta.clone(), content.clone()).await;
    introduce(&us.addr(), "good", good.port, &[]).await;
    let done = get(&us, &meta, 5).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(done.peer.as_deref(), Some("good"));
    // Another file, whole and valid, is "not found", not a bad copy of this one.
    let health = |id: &str| {
        let peers = us.peer().peers();
        peers
            .into_iter()
            .find(|p| p.peer_id == id)
            .unwrap()
            .health
            .unwrap()
    };
    assert_eq!(
        (health("other").bad_copies, health("forged").bad_copies),
        (0, 1)
    );
    for fake in fakes.iter().chain([&good]) {
        assert_eq!(
            fake.requests.load(Ordering::SeqCst),
            1,
            "each holder is asked once"
        );
        assert_eq!(
            fake.half_closed.load(Ordering::SeqCst),
            0,
            "no half-close after GET_FILE"
        );
    }
    assert_eq!(content_files(us.storage()), ["bitcoin.pdf"]);
    assert_eq!(
        std::fs::read(us.storage().join("bitcoin.pdf")).unwrap(),
        content
    );
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_with_no_valid_copy_fails_and_stores_nothing() {
    let content = fixture("names.txt");
    let meta = meta_at(&content, "names.txt", "1749713836");
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let forged = fake_holder(Behaviour::WrongHash, meta.clone(), content.clone()).await;
    introduce(&us.addr(), "forged", forged.port, &[&meta]).await;
    let mut events = us.peer().subscribe();
    let done = get(&us, &meta, 1).await;
    let TransferStateDto::Failed { reason } = done.state else {
        panic!("{done:?}")
    };
    assert!(reason.contains("does not match"), "{reason}");
    // The dashboard learns of the bad copy at once, not at the holder's next message.
    let mut told = false;
    while let Ok(event) = events.try_recv() {
        if let ServerEvent::PeerSeen(p) = event {
            told |= p.peer_id == "forged" && p.health.is_some_and(|h| h.bad_copies == 1);
        }
    }
    assert!(told, "an event tells of the bad copy");
    assert!(content_files(us.storage()).is_empty());
    assert_eq!(
        all_files(us.storage()),
        ["metadata.json"],
        "no temp files left"
    );
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_on_a_socket_left_open_is_answered_on_a_new_connection() {
    let us = spawn("us", &[]).await;
    let files = tempfile::tempdir().unwrap();
    let held = us
        .peer()
        .push_path(&local_file(&files, "held.txt", b"held"))
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let gossip = format!(
        "{{\"type\": \"GOSSIP\", \"host\": \"127.0.0.1\", \"port\": {port}, \"id\": \"6b1e2c1e-0000-4000-8000-000000000001\", \"peerId\": \"python\"}}\n"
    );
    // Sent with a trailing newline; the socket stays open while we wait for the reply.
    let mut open = TcpStream::connect(us.addr()).await.unwrap();
    open.write_all(gossip.as_bytes()).await.unwrap();
    let reply = next_gossip_reply(&listener).await;
    let value: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(value["type"], "GOSSIP_REPLY");
    assert_eq!(value["peerId"], "us");
    assert_eq!(value["port"], us.node.p2p_addr.port());
    assert_eq!(value["files"][0]["file_id"], held.file_id.as_str());
    assert!(!reply.ends_with('\n'), "no trailing newline");
    assert_eq!(peer_ids(us.peer()), ["python"]);
    drop(open);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_file_is_answered_then_the_socket_closes() {
    let us = spawn("us", &[]).await;
    let files = tempfile::tempdir().unwrap();
    let held = us
        .peer()
        .push_path(&local_file(&files, "names.txt", &fixture("names.txt")))
        .await
        .unwrap();

    let reply = request(
        &us.addr(),
        &format!("{}\n", encode::get_file(&held.file_id)),
    )
    .await;
    let value: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(value["type"], "FILE_DATA");
    assert_eq!(value["file_id"], held.file_id.as_str());
    assert_eq!(value["file_owner"], "us");
    let hex = value["data"].as_str().unwrap();
    let mut expected = Vec::new();
    encode::hex_into(&fixture("names.txt"), &mut expected);
    assert_eq!(hex.as_bytes(), expected);

    let unknown = encode::get_file("0000");
    // Ids that name nothing we could hold get the same answer as an unknown one.
    let unusable = [
        r#"{"type": "GET_FILE"}"#,
        r#"{"type": "GET_FILE", "file_id": null}"#,
        r#"{"type": "GET_FILE", "file_id": 12345}"#,
        r#"{"type": "GET_FILE", "file_id": ""}"#,
    ];
    for ask in [unknown.as_str()].into_iter().chain(unusable) {
        let reply = request(&us.addr(), ask).await;
        let value: serde_json::Value = serde_json::from_slice(&reply)
            .unwrap_or_else(|e| panic!("{ask}: {e}: {:?}", String::from_utf8_lossy(&reply)));
        for key in [
            "file_name",
            "file_size",
            "file_id",
            "file_owner",
            "file_timestamp",
            "data",
        ] {
            assert!(value[key].is_null(), "{ask}: {key} is null in {value}");
        }
    }
    us.stop().await;
}

/// A peer holding a file of its own named `x`, its storage folder inside a folder of its own,
/// so that an escape to `../x` would show.
struct Target {
    outside: tempfile::TempDir,
    us: TestPeer,
    held: FileMeta,
}

impl Target {
    async fn start() -> Target {
        let outside = tempfile::tempdir().unwrap();
        let storage = outside.path().join("storage");
        let us = spawn_with("us", &[], |c| c.storage = storage).await;
        let files = tempfile::tempdir().unwrap();
        let held = us
            .peer()
            .push_path(&local_file(&files, "x", b"our own x"))
            .await
            .unwrap();
        Target { outside, us, held }
    }

    fn storage(&self) -> std::path::PathBuf {
        self.outside.path().join("storage")
    }

    /// Our file, whole, served, and nothing else in the folder or beside it.
    async fn unchanged(&self) {
        assert_eq!(content_files(&self.storage()), ["x"]);
        assert_eq!(
            std::fs::read(self.storage().join("x")).unwrap(),
            b"our own x"
        );
        assert_eq!(all_files(self.outside.path()), ["storage"]);
        assert_eq!(self.us.peer().files().len(), 1);
        let reply = request(&self.us.addr(), &encode::get_file(&self.held.file_id)).await;
        assert!(String::from_utf8_lossy(&reply).contains(&self.held.file_id));
    }

    /// Asserts that `what` shows as the one incoming transfer, failed.
    fn one_failed_incoming(&self, what: &str) {
        let incoming = self.incoming();
        assert!(
            matches!(
                incoming.as_slice(),
                [t] if matches!(t.state, TransferStateDto::Failed { .. })
            ),
            "{what} shows as a failed incoming transfer: {incoming:?}"
        );
    }

    fn incoming(&self) -> Vec<shared::TransferDto> {
        self.us
            .peer()
            .transfers()
            .into_iter()
            .filter(|t| t.kind == TransferKind::Incoming)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_message_then_silence_does_not_stop_the_peer_serving() {
    let target = Target::start().await;
    let mut half = TcpStream::connect(target.us.addr()).await.unwrap();
    half.write_all(br#"{"type": "GOSSIP", "host": "127.0.0.1", "po"#)
        .await
        .unwrap();
    // The socket stays open while the file is asked for.
    target.unchanged().await;
    drop(half);
    target.us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_junk_and_hex_inside_a_gossip_change_nothing() {
    let target = Target::start().await;
    let addr = target.us.addr();
    let garbage: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    deliver(&addr, &garbage).await;
    let mut hex_gossip = br#"{"type":"GOSSIP","data":""#.to_vec();
    hex_gossip.extend(std::iter::repeat_n(b'a', 20_000_000));
    hex_gossip.extend_from_slice(br#""}"#);
    deliver(&addr, &hex_gossip).await;
    // Unknown types, arrays, invalid JSON.
    for junk in [
        &br#"{"type":"HELLO"}"#[..],
        b"[1,2,3]",
        b"{\"type\":",
        b"\xff\xfe",
    ] {
        deliver(&addr, junk).await;
    }
    target.unchanged().await;
    target.one_failed_incoming("the content inside a GOSSIP");
    target.us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_file_with_a_hostile_name_is_stored_inside_the_folder() {
    let target = Target::start().await;
    let content = b"pushed by a stranger".to_vec();
    let hostile = meta_at(&content, "../../x", "1750034796.9022326");
    deliver(&target.us.addr(), &file_data(&hostile, &content)).await;
    assert!(holds(target.us.peer(), &hostile.file_id));
    let stored = content_files(&target.storage());
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(
        std::fs::read(target.storage().join("x")).unwrap(),
        b"our own x",
        "never overwritten"
    );
    let other = stored.iter().find(|n| *n != "x").unwrap();
    assert!(!other.contains('/'));
    assert_eq!(
        std::fs::read(target.storage().join(other)).unwrap(),
        content
    );
    assert_eq!(
        all_files(target.outside.path()),
        ["storage"],
        "nothing escaped"
    );
    let done: Vec<_> = target
        .incoming()
        .into_iter()
        .filter(|t| t.state == TransferStateDto::Done)
        .map(|t| t.file_name)
        .collect();
    assert_eq!(done, ["../../x"]);
    target.us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_file_whose_content_is_not_its_id_is_refused() {
    let target = Target::start().await;
    let content = b"pushed by a stranger".to_vec();
    let mut forged = meta_at(&content, "forged.txt", "1");
    forged.file_id = "f".repeat(64);
    deliver(&target.us.addr(), &file_data(&forged, &content)).await;
    assert!(target.us.peer().file(&forged.file_id).is_none());
    target.unchanged().await;
    target.one_failed_incoming("the forged push");
    target.us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_transfer_discards_the_partial_file_and_saves_the_index() {
    let content = fixture("bitcoin.pdf");
    let meta = meta_at(&content, "bitcoin.pdf", "1749713822");
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let staller = fake_holder(Behaviour::Stall, meta.clone(), content.clone()).await;
    introduce(&us.addr(), "staller", staller.port, &[&meta]).await;
    eventually("the fake is tracked", WAIT, || us.peer().peers().len() == 1).await;
    get_under_way(&us, &meta).await;
    let dir = us.stop().await;
    assert_eq!(
        all_files(dir.path()),
        ["metadata.json"],
        "no partial or temporary file is left"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("metadata.json")).unwrap()).unwrap();
    assert_eq!(index[&meta.file_id]["has_copy"], "no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_timestamp_is_a_string_is_fetched_and_verified() {
    // Some real peers write the timestamp as text; the id hashes the text itself.
    let content = fixture("names.txt");
    let meta = meta_at(&content, "names.txt", r#""Sun Jun 15 12:00:00 2025""#);
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let holder = fake_holder(Behaviour::Good, meta.clone(), content.clone()).await;
    introduce(&us.addr(), "holder", holder.port, &[&meta]).await;
    let done = get(&us, &meta, 1).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(
        std::fs::read(us.storage().join("names.txt")).unwrap(),
        content
    );
    let kept = us.peer().file(&meta.file_id).unwrap();
    assert_eq!(kept.file_timestamp, "Sun Jun 15 12:00:00 2025");
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_is_fetched_and_verified() {
    let meta = meta_at(b"", "empty.txt", "1744007783.0");
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let holder = fake_holder(Behaviour::Good, meta.clone(), Vec::new()).await;
    introduce(&us.addr(), "holder", holder.port, &[&meta]).await;
    let done = get(&us, &meta, 1).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(std::fs::read(us.storage().join("empty.txt")).unwrap(), b"");
    us.stop().await;
}

/// The first holder of `meta` pauses halfway through its reply; the second is tracked but
/// not known to hold it, so it comes after. Returns both, once a get has half the file.
async fn a_get_paused_halfway(
    us: &TestPeer,
    meta: &FileMeta,
    content: &[u8],
    first: Behaviour,
) -> (Fake, Fake, u64) {
    let paused = fake_holder(first, meta.clone(), content.to_vec()).await;
    let next = fake_holder(Behaviour::Good, meta.clone(), content.to_vec()).await;
    introduce(&us.addr(), "paused", paused.port, &[meta]).await;
    introduce(&us.addr(), "next", next.port, &[]).await;
    eventually("the fakes are tracked", WAIT, || {
        us.peer().peers().len() == 2
    })
    .await;
    let transfer = get_under_way(us, meta).await;
    (paused, next, transfer)
}

/// A peer that waits for a paused holder longer than any test does, and keeps tracking it.
fn paused_for_good(c: &mut NodeConfig) {
    c.peer_timeout = Duration::from_secs(60);
    c.limits.idle = Duration::from_secs(60);
    c.limits.min_rate = 0;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_pushed_during_a_get_ends_it_at_once() {
    let content = fixture("bitcoin.pdf");
    let meta = meta_at(&content, "bitcoin.pdf", "1749713822");
    let us = spawn_with("us", &[], paused_for_good).await;
    let (_paused, next, transfer) =
        a_get_paused_halfway(&us, &meta, &content, Behaviour::PausedThenRest).await;
    deliver(&us.addr(), &file_data(&meta, &content)).await;

    let done = finished(us.peer(), transfer, WAIT).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert!(holds(us.peer(), &meta.file_id));
    assert_eq!(
        next.requests.load(Ordering::SeqCst),
        0,
        "no other copy is fetched"
    );
    assert_eq!(content_files(us.storage()), ["bitcoin.pdf"]);
    us.stop().await;
}

/// Starts a get of `meta` on `us`; returns its transfer id once content has arrived.
async fn get_under_way(us: &TestPeer, meta: &FileMeta) -> u64 {
    let transfer = us
        .peer()
        .start_fetch(&meta.file_id, TransferKind::Get)
        .unwrap();
    eventually("part of the file has arrived", WAIT, || {
        us.peer()
            .transfers()
            .iter()
            .any(|t| t.id == transfer.id && t.bytes_done > 0)
    })
    .await;
    transfer.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_by_the_owner_during_a_get_ends_it_at_once_and_blames_no_holder() {
    let content = fixture("bitcoin.pdf");
    let meta = meta_at(&content, "bitcoin.pdf", "1749713822");
    let us = spawn_with("us", &[], paused_for_good).await;
    let (_paused, next, transfer) =
        a_get_paused_halfway(&us, &meta, &content, Behaviour::PausedThenRest).await;
    send_raw(&us.addr(), encode::delete("PROF", &meta.file_id).as_bytes()).await;

    // The holder stays paused: only the DELETE can end the get within the wait.
    let done = finished(us.peer(), transfer, WAIT).await;
    assert!(
        matches!(&done.state, TransferStateDto::Failed { reason } if reason.contains("deleted by its owner")),
        "{done:?}"
    );
    assert_eq!(
        next.requests.load(Ordering::SeqCst),
        0,
        "no other copy is fetched"
    );
    let health = us.peer().peers()[0].health.clone().unwrap();
    assert_eq!(
        (health.gets_failed, health.bad_copies),
        (0, 0),
        "{health:?}"
    );
    assert!(content_files(us.storage()).is_empty());
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_skips_the_peers_dropped_since_it_started() {
    let content = fixture("bitcoin.pdf");
    let meta = meta_at(&content, "bitcoin.pdf", "1749713822");
    let us = spawn("us", &[]).await;
    let (paused, next, transfer) =
        a_get_paused_halfway(&us, &meta, &content, Behaviour::PausedThenEof).await;
    // Both fakes stay silent, so the sweep drops them while the first one pauses.
    eventually("both fakes are dropped", WAIT, || {
        us.peer().peers().is_empty()
    })
    .await;
    paused.release.notify_one();

    let done = finished(us.peer(), transfer, WAIT).await;
    assert!(
        matches!(done.state, TransferStateDto::Failed { .. }),
        "{done:?}"
    );
    assert_eq!(
        next.requests.load(Ordering::SeqCst),
        0,
        "a dropped peer is not asked"
    );
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_our_own_file_that_we_lost_is_fetched_back() {
    let files = tempfile::tempdir().unwrap();
    let content = b"a file of ours".to_vec();
    let us = spawn("us", &[]).await;
    let meta = us
        .peer()
        .push_path(&local_file(&files, "ours.txt", &content))
        .await
        .unwrap();
    let dir = us.stop().await;
    std::fs::remove_file(dir.path().join("ours.txt")).unwrap();
    let config = NodeConfig {
        peer_timeout: Duration::from_secs(60),
        ..NodeConfig::for_test("us", dir.path().to_path_buf())
    };
    let us = TestPeer {
        node: Node::start(config).await.expect("node starts"),
        dir,
    };
    assert!(!us.peer().file(&meta.file_id).unwrap().has_copy);

    let holder = fake_holder(Behaviour::Good, meta.clone(), content.clone()).await;
    introduce(&us.addr(), "holder", holder.port, &[&meta]).await;
    let done = get(&us, &meta, 1).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(
        std::fs::read(us.storage().join("ours.txt")).unwrap(),
        content
    );
    assert_eq!(us.peer().refusals().count(Reason::ForgedOwner), 0);
    assert_eq!(us.peer().peers()[0].health.clone().unwrap().gets_ok, 1);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_asks_a_few_peers_not_known_to_hold_the_file() {
    let content = fixture("names.txt");
    let meta = meta_at(&content, "names.txt", "1749713822");
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let holder = fake_holder(Behaviour::Null, meta.clone(), content.clone()).await;
    introduce(&us.addr(), "holder", holder.port, &[&meta]).await;
    let mut others = Vec::new();
    for n in 0..backend::peer::transfer::OTHER_SOURCES + 3 {
        let other = fake_holder(Behaviour::Null, meta.clone(), content.clone()).await;
        introduce(&us.addr(), &format!("other-{n}"), other.port, &[]).await;
        others.push(other);
    }
    let done = get(&us, &meta, others.len() + 1).await;
    assert!(
        matches!(done.state, TransferStateDto::Failed { .. }),
        "{done:?}"
    );
    assert_eq!(holder.requests.load(Ordering::SeqCst), 1);
    let asked: usize = others
        .iter()
        .map(|o| o.requests.load(Ordering::SeqCst))
        .sum();
    assert_eq!(asked, backend::peer::transfer::OTHER_SOURCES);
    us.stop().await;
}
