//! A network of three real peers: discovery from one bootstrap peer, auto-fetch, get, push,
//! owner-only delete, and dropping a stopped peer.

use crate::support::*;
use backend::protocol::encode;
use shared::{TransferKind, TransferStateDto};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_discover_fetch_push_delete_and_drop() {
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

    // Bob auto-fetches one file; carol fetches nothing by herself.
    let bob = spawn_with("bob", &[alice.addr()], |c| c.auto_fetch = 1).await;
    let carol = spawn("carol", &[alice.addr()]).await;

    eventually("everyone tracks everyone else", WAIT, || {
        peer_ids(alice.peer()) == ["bob", "carol"]
            && peer_ids(bob.peer()) == ["alice", "carol"]
            && peer_ids(carol.peer()) == ["alice", "bob"]
    })
    .await;

    // Auto-fetch: one of alice's files, in the background, then announced.
    eventually("bob auto-fetches a file", WAIT, || {
        holds(bob.peer(), &bitcoin.file_id) || holds(bob.peer(), &names.file_id)
    })
    .await;
    let auto = bob.peer().transfers();
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0].kind, TransferKind::AutoFetch);

    // Get: carol fetches names.txt, verified, and the bytes are the fixture's.
    eventually("carol learns of names.txt", WAIT, || {
        carol.peer().file(&names.file_id).is_some()
    })
    .await;
    let transfer = carol
        .peer()
        .start_fetch(&names.file_id, TransferKind::Get)
        .unwrap();
    let done = finished(carol.peer(), transfer.id, WAIT).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(done.bytes_done, 1483);
    assert_eq!(
        std::fs::read(carol.storage().join("names.txt")).unwrap(),
        fixture("names.txt")
    );
    eventually("alice learns carol holds names.txt", WAIT, || {
        alice
            .peer()
            .file(&names.file_id)
            .is_some_and(|f| f.holders.contains(&"carol".to_string()))
    })
    .await;

    // Push: carol's new file reaches one peer as a copy and every peer as an announcement.
    let pushed = carol
        .peer()
        .push_path(&local_file(&files, "carol.txt", b"hello from carol"))
        .await
        .unwrap();
    eventually(
        "alice and bob know carol.txt, one holds a copy",
        WAIT,
        || {
            alice.peer().file(&pushed.file_id).is_some()
                && bob.peer().file(&pushed.file_id).is_some()
                && (holds(alice.peer(), &pushed.file_id) || holds(bob.peer(), &pushed.file_id))
        },
    )
    .await;

    // A DELETE from anyone but the owner changes nothing.
    for impostor in ["bob", "mallory", "alice"] {
        let forged = encode::delete(impostor, &pushed.file_id);
        deliver(&alice.addr(), forged.as_bytes()).await;
        deliver(&bob.addr(), forged.as_bytes()).await;
    }
    assert!(alice.peer().file(&pushed.file_id).is_some());
    assert!(bob.peer().file(&pushed.file_id).is_some());
    assert!(
        carol.peer().delete(&bitcoin.file_id).is_err(),
        "carol does not own bitcoin.pdf"
    );

    // The owner's delete removes it everywhere, copies included.
    carol.peer().delete(&pushed.file_id).unwrap();
    eventually("carol.txt is gone everywhere", WAIT, || {
        [alice.peer(), bob.peer(), carol.peer()]
            .iter()
            .all(|p| p.file(&pushed.file_id).is_none())
    })
    .await;
    // Copies are removed on a blocking thread, just after the entry.
    eventually("carol.txt's copies are removed", WAIT, || {
        [&alice, &bob, &carol]
            .iter()
            .all(|p| !content_files(p.storage()).contains(&"carol.txt".to_string()))
    })
    .await;

    // A stopped peer is dropped from peers and from holder lists after the timeout.
    assert!(alice
        .peer()
        .file(&names.file_id)
        .unwrap()
        .holders
        .contains(&"carol".to_string()));
    let _carol_dir = carol.stop().await;
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
    assert_eq!(
        peer_ids(alice.peer()),
        ["bob"],
        "bob keeps gossiping, so he stays"
    );

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
