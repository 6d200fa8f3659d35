//! A network of three real peers: discovery from one bootstrap peer, auto-fetch, get, push,
//! owner-only delete, and dropping a stopped peer, a behaviour a test; and an index that
//! survives a restart.

use crate::support::*;
use backend::protocol::{encode, FileMeta};
use shared::{TransferKind, TransferStateDto};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// Alice, holding two fixture files, and bob and carol bootstrapped to her, each tracking the
/// other two.
struct Three {
    alice: TestPeer,
    bob: TestPeer,
    carol: TestPeer,
    bitcoin: FileMeta,
    names: FileMeta,
    /// Where the files to push are written.
    files: tempfile::TempDir,
}

impl Three {
    /// Starts the three; bob fetches `bob_auto_fetch` files by himself.
    async fn start(bob_auto_fetch: usize) -> Three {
        let files = tempfile::tempdir().unwrap();
        let alice = spawn("alice", &[]).await;
        let bitcoin = alice
            .peer()
            .push_path(&local_file(&files, "bitcoin.pdf", &fixture("bitcoin.pdf")))
            .await
            .unwrap();
        let names = alice
            .peer()
            .push_path(&local_file(&files, "names.txt", &fixture("names.txt")))
            .await
            .unwrap();
        let bob = spawn_with("bob", &[alice.addr()], |c| c.auto_fetch = bob_auto_fetch).await;
        let carol = spawn("carol", &[alice.addr()]).await;
        eventually("everyone tracks everyone else", WAIT, || {
            peer_ids(alice.peer()) == ["bob", "carol"]
                && peer_ids(bob.peer()) == ["alice", "carol"]
                && peer_ids(carol.peer()) == ["alice", "bob"]
        })
        .await;
        Three {
            alice,
            bob,
            carol,
            bitcoin,
            names,
            files,
        }
    }

    fn peers(&self) -> [&TestPeer; 3] {
        [&self.alice, &self.bob, &self.carol]
    }

    /// Carol's new file, known to alice and bob, and held by one of them.
    async fn carol_pushes(&self) -> FileMeta {
        let pushed = self
            .carol
            .peer()
            .push_path(&local_file(&self.files, "carol.txt", b"hello from carol"))
            .await
            .unwrap();
        let (alice, bob) = (self.alice.peer(), self.bob.peer());
        eventually(
            "alice and bob know carol.txt, one holds a copy",
            WAIT,
            || {
                alice.file(&pushed.file_id).is_some()
                    && bob.file(&pushed.file_id).is_some()
                    && (holds(alice, &pushed.file_id) || holds(bob, &pushed.file_id))
            },
        )
        .await;
        pushed
    }

    async fn stop(self) {
        for peer in [self.alice, self.bob, self.carol] {
            peer.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_know_one_bootstrap_peer_find_each_other_and_every_file() {
    let three = Three::start(0).await;
    for peer in [&three.bob, &three.carol] {
        eventually("alice's files are known", WAIT, || {
            [&three.bitcoin, &three.names]
                .iter()
                .all(|m| peer.peer().file(&m.file_id).is_some())
        })
        .await;
        assert!(
            peer.peer().transfers().is_empty(),
            "nothing fetched unasked"
        );
    }
    three.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_peer_auto_fetches_in_the_background() {
    let three = Three::start(1).await;
    let bob = three.bob.peer();
    eventually("bob auto-fetches a file", WAIT, || {
        holds(bob, &three.bitcoin.file_id) || holds(bob, &three.names.file_id)
    })
    .await;
    let auto = bob.transfers();
    assert_eq!(auto.len(), 1, "{auto:?}");
    assert_eq!(auto[0].kind, TransferKind::AutoFetch);
    three.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_stores_the_verified_bytes_and_the_holder_becomes_known() {
    let three = Three::start(0).await;
    let (alice, carol, names) = (three.alice.peer(), three.carol.peer(), &three.names);
    eventually("carol learns of names.txt", WAIT, || {
        carol.file(&names.file_id).is_some()
    })
    .await;
    let transfer = carol
        .start_fetch(&names.file_id, TransferKind::Get)
        .unwrap();
    let done = finished(carol, transfer.id, WAIT).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(done.bytes_done, 1483);
    assert_eq!(
        std::fs::read(three.carol.storage().join("names.txt")).unwrap(),
        fixture("names.txt")
    );
    eventually("alice learns carol holds names.txt", WAIT, || {
        alice
            .file(&names.file_id)
            .is_some_and(|f| f.holders.contains(&"carol".to_string()))
    })
    .await;
    three.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_reaches_one_peer_as_a_copy_and_every_peer_as_an_announcement() {
    let three = Three::start(0).await;
    let pushed = three.carol_pushes().await;
    let copies = three
        .peers()
        .iter()
        .filter(|p| content_files(p.storage()).contains(&"carol.txt".to_string()))
        .count();
    assert_eq!(copies, 2, "carol's own and one more");
    assert_eq!(pushed.file_owner, "carol");
    three.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_from_anyone_but_the_owner_changes_nothing() {
    let three = Three::start(0).await;
    let pushed = three.carol_pushes().await;
    for impostor in ["bob", "mallory", "alice"] {
        let forged = encode::delete(impostor, &pushed.file_id);
        deliver(&three.alice.addr(), forged.as_bytes()).await;
        deliver(&three.bob.addr(), forged.as_bytes()).await;
    }
    assert!(three.alice.peer().file(&pushed.file_id).is_some());
    assert!(three.bob.peer().file(&pushed.file_id).is_some());
    assert!(
        three
            .carol
            .peer()
            .delete(&three.bitcoin.file_id)
            .await
            .is_err(),
        "carol does not own bitcoin.pdf"
    );
    three.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_delete_removes_the_file_and_its_copies_everywhere() {
    let three = Three::start(0).await;
    let pushed = three.carol_pushes().await;
    three.carol.peer().delete(&pushed.file_id).await.unwrap();
    eventually("carol.txt is gone everywhere", WAIT, || {
        three
            .peers()
            .iter()
            .all(|p| p.peer().file(&pushed.file_id).is_none())
    })
    .await;
    // Copies are removed on a blocking thread, just after the entry.
    eventually("carol.txt's copies are removed", WAIT, || {
        three
            .peers()
            .iter()
            .all(|p| !content_files(p.storage()).contains(&"carol.txt".to_string()))
    })
    .await;
    three.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_peer_is_dropped_from_peers_and_holder_lists() {
    let Three {
        alice,
        bob,
        carol,
        names,
        ..
    } = Three::start(0).await;
    let transfer = carol
        .peer()
        .start_fetch(&names.file_id, TransferKind::Get)
        .unwrap();
    finished(carol.peer(), transfer.id, WAIT).await;
    eventually("alice learns carol holds names.txt", WAIT, || {
        alice
            .peer()
            .file(&names.file_id)
            .is_some_and(|f| f.holders.contains(&"carol".to_string()))
    })
    .await;
    carol.stop().await;
    eventually("carol is dropped", WAIT, || {
        !peer_ids(alice.peer()).contains(&"carol".to_string())
            && !peer_ids(bob.peer()).contains(&"carol".to_string())
            && alice
                .peer()
                .files()
                .iter()
                .all(|f| !f.holders.contains(&"carol".to_string()))
    })
    .await;
    bob.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_survives_a_restart() {
    let files = tempfile::tempdir().unwrap();
    let alice = spawn("alice", &[]).await;
    let meta = alice
        .peer()
        .push_path(&local_file(&files, "a.txt", b"persisted"))
        .await
        .unwrap();
    let dir = alice.stop().await;
    let again = spawn_with("alice", &[], |c| c.storage = dir.path().to_path_buf()).await;
    let file = again.peer().file(&meta.file_id).expect("still indexed");
    assert!(file.has_copy && file.owned);
    // Files found in the folder are adopted by a task of the node: its shutdown waits for it.
    let peer = again.peer().clone();
    again.node.shutdown().await.unwrap();
    assert_eq!(peer.files().len(), 1, "no duplicate from re-scanning");
    let (_, index, report) = backend::store::Store::open(dir.path()).unwrap();
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
    assert_eq!(index.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_peer_auto_fetches_as_many_files_as_asked_one_at_a_time() {
    let files = tempfile::tempdir().unwrap();
    let alice = spawn("alice", &[]).await;
    for i in 0..4 {
        let content = format!("file {i}").repeat(10_000);
        let path = local_file(&files, &format!("f{i}.txt"), content.as_bytes());
        alice.peer().push_path(&path).await.unwrap();
    }
    let bob = spawn_with("bob", &[alice.addr()], |c| c.auto_fetch = 3).await;
    eventually("bob auto-fetches three files", WAIT, || {
        bob.peer().held_metas().len() == 3
    })
    .await;
    let mut fetches = bob.peer().transfers();
    fetches.sort_by_key(|t| t.started_ms);
    assert_eq!(fetches.len(), 3, "{fetches:?}");
    assert!(fetches.iter().all(|t| t.kind == TransferKind::AutoFetch));
    for pair in fetches.windows(2) {
        let finished = pair[0].finished_ms.expect("finished");
        assert!(pair[1].started_ms >= finished, "one at a time: {pair:?}");
    }
    bob.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_peer_that_comes_back_knowing_nobody_hears_from_us_again() {
    // The bootstrap peer is down: nobody listens at its address yet.
    let boot = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    let us = spawn("us", std::slice::from_ref(&boot)).await;
    let other = spawn("other", &[us.addr()]).await;
    eventually("we track the other peer", WAIT, || {
        peer_ids(us.peer()) == ["other"]
    })
    .await;
    // Our rounds now go to the peer we track; the bootstrap peer comes back.
    let back = tokio::net::TcpListener::bind(&boot).await.unwrap();
    let heard = next_of_type(&back, "GOSSIP", WAIT).await;
    assert_eq!(heard["peerId"], "us");
    other.stop().await;
    us.stop().await;
}
