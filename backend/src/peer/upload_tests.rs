//! Uploads streamed into the store, and our copies opened for reading.

use super::*;
use crate::peer::{Caps, PeerConfig};
use crate::protocol::file_id;
use crate::store::Store;
use futures_util::stream;
use std::cell::Cell;
use tokio::io::AsyncReadExt;

fn peer_with(dir: &std::path::Path, max_file: u64) -> Peer {
    let (store, index, _) = Store::open(dir).unwrap();
    let config = PeerConfig {
        caps: Caps {
            max_name: 16,
            ..Caps::default()
        },
        ..PeerConfig::for_test("127.0.0.1", max_file)
    };
    Peer::new(config, store, index)
}

/// The content in `chunks` as an upload stream that never fails.
fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<&'static [u8], String>> {
    stream::iter(parts.iter().map(|part| Ok(*part)).collect::<Vec<_>>())
}

fn folder_entries(peer: &Peer) -> Vec<String> {
    std::fs::read_dir(peer.store().dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn an_upload_in_chunks_is_stored_whole_as_ours() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let meta = peer
        .upload("  notes.txt ", chunks(&[b"hello", b" ", b"world"]))
        .await
        .unwrap();
    assert_eq!(meta.file_name, "notes.txt");
    assert_eq!(meta.file_owner, "me");
    assert_eq!(meta.file_id, file_id(b"hello world", &meta.file_timestamp));
    assert!(peer.held_copy(&meta.file_id).is_some());
}

#[tokio::test]
async fn an_upload_of_exactly_the_size_limit_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 4);
    let meta = peer.upload("a.bin", chunks(&[b"ab", b"cd"])).await;
    assert!(meta.is_ok(), "{meta:?}");
}

#[tokio::test]
async fn an_upload_past_the_size_limit_stops_reading_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 4);
    let pulled = Cell::new(0);
    let endless = stream::repeat_with(|| {
        pulled.set(pulled.get() + 1);
        Ok::<_, String>(b"abc")
    });
    let refused = peer.upload("big.bin", endless).await;
    assert!(
        matches!(refused, Err(UploadError::TooLarge(4))),
        "{refused:?}"
    );
    assert_eq!(
        pulled.get(),
        2,
        "the chunk that passes the limit is the last one read"
    );
    assert!(peer.files().is_empty());
    assert_eq!(folder_entries(&peer), Vec::<String>::new());
}

#[tokio::test]
async fn an_upload_whose_body_fails_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let broken = stream::iter([Ok(&b"half"[..]), Err("connection reset".to_string())]);
    let refused = peer.upload("half.txt", broken).await;
    assert!(
        matches!(&refused, Err(UploadError::Body(e)) if e == "connection reset"),
        "{refused:?}"
    );
    assert!(peer.files().is_empty());
    assert_eq!(folder_entries(&peer), Vec::<String>::new());
}

#[tokio::test]
async fn an_upload_with_a_blank_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let refused = peer.upload(" \t", chunks(&[b"x"])).await;
    assert!(
        matches!(refused, Err(UploadError::Name(shared::NameRefusal::NoName))),
        "{refused:?}"
    );
    assert_eq!(folder_entries(&peer), Vec::<String>::new());
}

#[tokio::test]
async fn an_upload_whose_name_is_a_path_or_holds_control_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    for name in [
        "../x.txt",
        "dir/x.txt",
        "C:\\x.txt",
        "x\u{7}.txt",
        "a\nb",
        ".",
        "..",
    ] {
        let refused = peer.upload(name, chunks(&[b"x"])).await;
        assert!(
            matches!(
                refused,
                Err(UploadError::Name(shared::NameRefusal::NotPlain))
            ),
            "{name:?}: {refused:?}"
        );
    }
    assert_eq!(folder_entries(&peer), Vec::<String>::new());
    assert!(peer.upload("café (1).txt", chunks(&[b"x"])).await.is_ok());
}

#[tokio::test]
async fn a_refused_name_is_told_after_the_content_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let pulled = Cell::new(0);
    let content = stream::repeat_with(|| {
        pulled.set(pulled.get() + 1);
        Ok::<_, String>(b"abc")
    })
    .take(5);
    let refused = peer.upload("a/b", content).await;
    assert!(
        matches!(
            refused,
            Err(UploadError::Name(shared::NameRefusal::NotPlain))
        ),
        "{refused:?}"
    );
    assert_eq!(pulled.get(), 5, "every chunk was read");
    assert_eq!(folder_entries(&peer), Vec::<String>::new());
}

#[tokio::test]
async fn an_upload_with_a_name_over_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let refused = peer.upload(&"n".repeat(17), chunks(&[b"x"])).await;
    assert!(
        matches!(
            refused,
            Err(UploadError::Name(shared::NameRefusal::TooLong(16)))
        ),
        "{refused:?}"
    );
    assert_eq!(folder_entries(&peer), Vec::<String>::new());
}

#[tokio::test]
async fn an_opened_copy_reads_back_the_uploaded_content() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let meta = peer
        .upload("back.txt", chunks(&[b"round ", b"trip"]))
        .await
        .unwrap();
    let mut copy = peer.open_copy(&meta.file_id).await.unwrap();
    let mut content = Vec::new();
    copy.file.read_to_end(&mut content).await.unwrap();
    assert_eq!((content.as_slice(), copy.len), (&b"round trip"[..], 10));
    assert_eq!(copy.meta, meta);
}

#[tokio::test]
async fn a_copy_deleted_by_hand_is_not_held_any_more_once_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let meta = peer.upload("gone.txt", chunks(&[b"gone"])).await.unwrap();
    std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
    let missing = peer.open_copy(&meta.file_id).await;
    assert!(matches!(missing, Err(OpenError::NotHeld(_))));
    let file = peer.file(&meta.file_id).expect("still known");
    assert!(!file.has_copy);
}

#[tokio::test]
async fn a_copy_edited_by_hand_is_not_offered_under_its_id_and_is_indexed_anew() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let meta = peer.upload("notes.txt", chunks(&[b"draft"])).await.unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"final, edited").unwrap();
    let refused = peer.open_copy(&meta.file_id).await;
    assert!(matches!(refused, Err(OpenError::NotHeld(_))));
    assert!(!peer.file(&meta.file_id).expect("still known").has_copy);
    let indexed = || {
        peer.files()
            .into_iter()
            .find(|f| f.has_copy && f.file_name == "notes.txt")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while indexed().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let found = indexed().expect("the edited file is indexed as ours");
    assert_ne!(found.file_id, meta.file_id);
    let mut copy = peer.open_copy(&found.file_id).await.unwrap();
    let mut content = Vec::new();
    copy.file.read_to_end(&mut content).await.unwrap();
    assert_eq!(content, b"final, edited");
}

#[tokio::test]
async fn opening_a_copy_we_do_not_hold_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let missing = peer.open_copy("ab12").await;
    assert!(matches!(missing, Err(OpenError::NotHeld(id)) if id == "ab12"));
}

#[tokio::test]
async fn the_same_content_uploaded_twice_one_after_the_other_is_kept_under_both_names() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let first = peer.upload("a.txt", chunks(&[b"same"])).await.unwrap();
    let second = peer.upload("b.txt", chunks(&[b"same"])).await.unwrap();
    assert_ne!(first.file_id, second.file_id);
    assert_eq!(second.file_name, "b.txt");
    assert_eq!(second.file_id, file_id(b"same", &second.file_timestamp));
    for meta in [&first, &second] {
        assert_eq!(peer.held_copy(&meta.file_id).unwrap().0, *meta);
    }
}

/// No persister runs beside these peers: what is on disk is what the delete itself saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_ours_is_on_disk_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let meta = peer.upload("a.txt", chunks(&[b"gone"])).await.unwrap();
    peer.delete(&meta.file_id).await.unwrap();
    let on_disk = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    assert!(!on_disk("metadata.json").contains(&meta.file_id));
    assert!(on_disk(".tombstones.json").contains(&meta.file_id));
    assert!(!folder_entries(&peer).contains(&"a.txt".to_string()));
}

#[tokio::test]
async fn content_uploaded_again_right_after_its_delete_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let deleted = peer.upload("a.txt", chunks(&[b"again"])).await.unwrap();
    peer.delete(&deleted.file_id).await.unwrap();
    let again = peer.upload("a.txt", chunks(&[b"again"])).await.unwrap();
    assert_ne!(again.file_id, deleted.file_id);
    assert!(peer.held_copy(&again.file_id).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_of_the_same_content_at_the_same_moment_are_both_kept() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let (a, b) = tokio::join!(
        peer.upload("a.txt", chunks(&[b"twin"])),
        peer.upload("b.txt", chunks(&[b"twin"]))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.file_id, b.file_id);
    for (name, meta) in [("a.txt", &a), ("b.txt", &b)] {
        assert_eq!(meta.file_name, name);
        assert_eq!(peer.held_copy(&meta.file_id).unwrap().0, *meta);
    }
}

#[test]
fn a_full_disk_or_quota_is_told_apart_from_other_store_errors() {
    use std::io::{Error, ErrorKind};
    for kind in [ErrorKind::StorageFull, ErrorKind::QuotaExceeded] {
        let e = UploadError::<String>::store(Error::from(kind));
        assert!(matches!(e, UploadError::DiskFull), "{kind:?}: {e:?}");
    }
    let other = UploadError::<String>::store(Error::from(ErrorKind::PermissionDenied));
    assert!(matches!(other, UploadError::Store(_)), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_caller_goes_while_it_lands_is_recorded_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    let journal_written = || {
        folder_entries(&peer)
            .iter()
            .any(|n| n.starts_with(".commit-"))
    };
    // The caller (a browser that disconnects) goes as soon as the copy starts landing: the
    // folder is watched without pause, and the landing's syncs take far longer.
    let left = tokio::select! {
        biased;
        _ = async {
            while !journal_written() {
                tokio::task::yield_now().await;
            }
        } => true,
        _ = peer.upload("left.txt", chunks(&[b"left behind"])) => false,
    };
    assert!(left, "the caller went before the upload was recorded");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while peer.held_metas().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the landed copy is recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(peer.held_metas()[0].file_name, "left.txt");
}

#[test]
fn no_free_timestamp_for_our_new_file_is_a_conflict_to_add_again() {
    use std::io::{Error, ErrorKind};
    let e = UploadError::<String>::store(Error::new(ErrorKind::AlreadyExists, "all taken"));
    assert!(
        matches!(&e, UploadError::Conflict(why) if why.contains("add it again")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_uploads_of_the_same_content_at_once_are_kept_or_told_to_add_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_with(dir.path(), 1 << 20);
    // More than the timestamps `Store::commit_owned` tries: some cannot get an id.
    let uploads = (0..6).map(|i| {
        let peer = peer.clone();
        tokio::spawn(async move {
            peer.upload(&format!("{i}.txt"), chunks(&[b"sextuplet"]))
                .await
        })
    });
    let mut conflicts = 0;
    for upload in futures_util::future::join_all(uploads).await {
        match upload.unwrap() {
            Ok(_) => {}
            Err(UploadError::Conflict(why)) => {
                assert!(why.contains("add it again"), "{why}");
                conflicts += 1;
            }
            Err(e) => panic!("neither kept nor a conflict: {e:?}"),
        }
    }
    assert!(conflicts > 0, "some uploads found every timestamp taken");
    assert_eq!(peer.held_metas().len(), 6 - conflicts);
}
