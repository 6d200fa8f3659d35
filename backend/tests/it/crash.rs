//! Crash safety end to end: the chaos runner killing two real peer processes, and a node
//! starting on a folder that a crash or a person left behind.

use crate::support::{all_files, eventually, fixture, SmallDisk};
use backend::node::{Node, NodeConfig};
use backend::protocol::{FileMeta, Verbatim};
use backend::store::{self, Store};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

#[test]
fn ten_kills_at_random_points_of_transfers_violate_nothing() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["--kills", "10", "--peer", env!("CARGO_BIN_EXE_peer")])
        .arg("--dir")
        .arg(work.path())
        .output()
        .expect("the chaos runner starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("chaos: 10 kills"), "{stdout}");
    assert!(stdout.contains("violations: 0"), "{stdout}");
}

/// names.txt, from the class network, and its description.
fn names() -> (Vec<u8>, FileMeta) {
    let content = fixture("names.txt");
    let timestamp = Verbatim::integer(1749713836);
    let meta = FileMeta {
        file_id: backend::protocol::file_id(&content, &timestamp),
        file_name: "names.txt".to_string(),
        file_size: store::size_in_mb(content.len() as u64),
        file_owner: "PROF".to_string(),
        file_timestamp: timestamp,
    };
    (content, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_landed_before_a_crash_is_saved_under_its_id_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (content, meta) = names();
    {
        let (store, _, _) = Store::open(dir.path()).unwrap();
        let mut temp = store.temp_file().await.unwrap();
        temp.write(&content).await.unwrap();
        store.commit(temp, &meta).await.unwrap();
        // Killed here: no metadata.json was ever written.
    }
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .unwrap();
    let file = node.peer.file(&meta.file_id).expect("still known");
    assert!(file.has_copy);
    assert_eq!(file.file_owner, "PROF");
    let saved = store::parse_index(&std::fs::read(dir.path().join("metadata.json")).unwrap())
        .expect("metadata.json parses");
    assert!(saved
        .iter()
        .any(|e| e.meta == meta && e.stored_as.is_some()));
    assert_eq!(all_files(dir.path()), ["metadata.json", "names.txt"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_restarted_on_a_full_disk_starts_and_saves_once_there_is_room() {
    let test = "a_peer_restarted_on_a_full_disk_starts_and_saves_once_there_is_room";
    let Some(disk) = SmallDisk::mount(test, "4m") else {
        return;
    };
    let dir = disk.path().join("storage");
    let (content, meta) = names();
    {
        let (store, _, _) = Store::open(&dir).unwrap();
        let mut temp = store.temp_file().await.unwrap();
        temp.write(&content).await.unwrap();
        store.commit(temp, &meta).await.unwrap();
        // Killed here: no metadata.json was ever written, and then the disk filled up.
    }
    let filler = disk.fill();
    let node = Node::start(NodeConfig::for_test("us", dir.clone()))
        .await
        .expect("starts on a full disk");
    assert!(node.peer.file(&meta.file_id).is_some_and(|f| f.has_copy));
    assert!(!dir.join("metadata.json").exists());

    std::fs::remove_file(&filler).unwrap();
    eventually("the index is saved", Duration::from_secs(15), || {
        std::fs::read(dir.join("metadata.json"))
            .ok()
            .and_then(|json| store::parse_index(&json))
            .is_some_and(|saved| saved.iter().any(|e| e.meta == meta))
    })
    .await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_put_in_the_folder_are_indexed_as_ours_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bitcoin.pdf");
    std::fs::write(&path, fixture("bitcoin.pdf")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1749713822))
        .unwrap();
    let node = Node::start(NodeConfig::for_test("PROF", dir.path().to_path_buf()))
        .await
        .unwrap();
    let id = "477182823f9d5d51587946a9d51431003014bb53169329ac50f39a194521aaf3";
    eventually("bitcoin.pdf is indexed", Duration::from_secs(10), || {
        node.peer.file(id).is_some_and(|f| f.has_copy && f.owned)
    })
    .await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_with_an_unusable_entry_is_saved_without_it_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let original = r#"{"good": {"file_id": "good", "file_name": "good.txt", "file_owner": "PROF",
        "file_timestamp": 1, "file_size": 0.1, "has_copy": "no"},
        "bad": {"file_name": "no id.txt"}}"#;
    std::fs::write(dir.path().join("metadata.json"), original).unwrap();
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .unwrap();
    // Saved before the start returns, not only at shutdown: a start after a crash would
    // otherwise find the entry again, and keep another copy aside each time.
    let saved = std::fs::read(dir.path().join("metadata.json")).unwrap();
    let saved = store::parse_index(&saved).expect("metadata.json parses");
    assert_eq!(saved.len(), 1, "{saved:?}");
    let kept: Vec<String> = all_files(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("metadata.json.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let aside = std::fs::read_to_string(dir.path().join(&kept[0])).unwrap();
    assert_eq!(aside, original);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_one_file_found_in_the_folder_are_each_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["a.txt", "b.txt", "c.txt"];
    for name in names {
        let path = dir.path().join(name);
        std::fs::write(&path, b"the same content, modified in the same second").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .unwrap();
    }
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .expect("node starts");
    eventually("every copy is indexed", Duration::from_secs(15), || {
        node.peer.files().len() == names.len()
    })
    .await;
    let mut indexed: Vec<String> = node.peer.files().into_iter().map(|f| f.file_name).collect();
    indexed.sort();
    assert_eq!(indexed, names);
    assert!(node.peer.files().iter().all(|f| f.has_copy));
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_refused_for_a_busy_port_leaves_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.json"), b"").unwrap();
    std::fs::write(dir.path().join("ours.txt"), b"ours").unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = NodeConfig {
        http_bind: busy.local_addr().unwrap(),
        ..NodeConfig::for_test("us", dir.path().to_path_buf())
    };
    let refused = Node::start(config).await.err().expect("the port is taken");
    assert!(
        format!("{refused:#}").contains("cannot listen"),
        "{refused:#}"
    );
    assert_eq!(all_files(dir.path()), ["metadata.json", "ours.txt"]);
}

#[test]
fn a_start_refused_for_a_busy_port_leaves_no_new_folder_behind() {
    let outside = tempfile::tempdir().unwrap();
    let storage = outside.path().join("storage_us");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_peer"))
        .args(["us", "127.0.0.1", &port, "0", "--bootstrap", "none"])
        .args(["--p2p-bind", "127.0.0.1", "--storage"])
        .arg(&storage)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the peer runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(!storage.exists(), "{:?}", all_files(&storage));
}

/// A `metadata.json` entry in our layout describing `meta`, held in `stored_as`.
fn held_entry(meta: &FileMeta, stored_as: &str) -> serde_json::Value {
    let value = |v: &Verbatim| serde_json::from_str::<serde_json::Value>(v.json()).unwrap();
    serde_json::json!({
        "file_id": meta.file_id,
        "file_name": meta.file_name,
        "file_size": value(&meta.file_size),
        "file_owner": meta.file_owner,
        "file_timestamp": value(&meta.file_timestamp),
        "has_copy": "yes",
        "peers_with_file": [],
        "stored_as": stored_as,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_entries_of_one_id_leave_it_and_its_owner_to_the_copy_that_hashes_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (content, meta) = names();
    std::fs::write(dir.path().join("a.txt"), b"edited since").unwrap();
    std::fs::write(dir.path().join("b.txt"), &content).unwrap();
    let metadata = serde_json::json!({
        "first": held_entry(&meta, "a.txt"),
        "second": held_entry(&meta, "b.txt"),
    });
    std::fs::write(dir.path().join("metadata.json"), metadata.to_string()).unwrap();
    for start in ["first", "second"] {
        let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
            .await
            .unwrap();
        eventually("both copies indexed", Duration::from_secs(10), || {
            let files = node.peer.files();
            files.len() == 2 && files.iter().all(|f| f.has_copy)
        })
        .await;
        let file = node.peer.file(&meta.file_id).unwrap();
        assert_eq!(file.file_owner, "PROF", "{start} start");
        node.shutdown().await.unwrap();
        let saved =
            store::parse_index(&std::fs::read(dir.path().join("metadata.json")).unwrap()).unwrap();
        let held_in = |name: &str| saved.iter().find(|e| e.stored_as.as_deref() == Some(name));
        assert_eq!(held_in("b.txt").unwrap().meta, meta, "{start} start");
        assert_eq!(
            held_in("a.txt").unwrap().meta.file_owner,
            "us",
            "{start} start"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_over_the_name_cap_is_left_out_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_, meta) = names();
    let long = FileMeta {
        file_id: "f".repeat(64),
        file_name: "n".repeat(backend::peer::Caps::default().max_name + 1),
        ..meta.clone()
    };
    let metadata = serde_json::json!({
        &meta.file_id: held_entry(&meta, "names.txt"),
        &long.file_id: held_entry(&long, "long.txt"),
    });
    std::fs::write(dir.path().join("metadata.json"), metadata.to_string()).unwrap();
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .unwrap();
    assert!(node.peer.file(&meta.file_id).is_some());
    assert!(node.peer.file(&long.file_id).is_none());
    let kept = all_files(dir.path());
    assert!(
        kept.iter().any(|n| n.starts_with("metadata.json.corrupt-")),
        "{kept:?}"
    );
    node.shutdown().await.unwrap();
}

/// A Python peer's folder: the class network's `metadata.json`, and the fixture `copies`.
fn python_folder(copies: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let metadata = fixture("class-network-metadata.json");
    std::fs::write(dir.path().join("metadata.json"), metadata).unwrap();
    for name in copies {
        std::fs::write(dir.path().join(name), fixture(name)).unwrap();
    }
    dir
}

/// Saves `owner`'s DELETE of `file_id` in `store`'s folder, as a run that obeyed it left it.
fn remember_delete(store: &Store, file_id: &str, owner: &str) {
    let tombstone = store::tombstones::Tombstone {
        file_id: file_id.to_string(),
        owner: owner.to_string(),
        expires: u64::MAX,
        held: true,
    };
    store.save_tombstones(&[tombstone]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_peers_folder_is_taken_over_with_each_copy_under_the_id_its_content_has() {
    // The Python peer lists shahs8's names.txt as held, and PROF's names.txt and bitcoin.pdf
    // as not held; the copies in its folder are PROF's.
    let dir = python_folder(&["names.txt", "bitcoin.pdf"]);
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .unwrap();
    let held = |prefix: &str| {
        let id = node.peer.resolve(prefix).pop();
        id.and_then(|id| node.peer.file(&id))
            .is_some_and(|f| f.has_copy && f.file_owner == "PROF")
    };
    eventually("PROF's two files are held", Duration::from_secs(15), || {
        held("ec51d2db09c6") && held("477182823f9d")
    })
    .await;
    let shahs8 = node.peer.resolve("9ae9c20e3e60").pop().unwrap();
    assert!(!node.peer.file(&shahs8).unwrap().has_copy);
    let log = node.peer.snapshot().log;
    assert!(
        log.iter()
            .any(|e| e.message.contains("Python peer's layout")),
        "{log:?}"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_whose_delete_was_saved_before_a_crash_is_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (content, meta) = names();
    {
        let (store, _, _) = Store::open(dir.path()).unwrap();
        let mut temp = store.temp_file().await.unwrap();
        temp.write(&content).await.unwrap();
        let stored_as = store.commit(temp, &meta).await.unwrap();
        let entry = store::IndexEntry {
            meta: meta.clone(),
            holders: Vec::new(),
            stored_as: Some(stored_as),
        };
        store.save(|| vec![entry.clone()]).unwrap();
        // Killed after the DELETE was saved, before the copy went.
        remember_delete(&store, &meta.file_id, &meta.file_owner);
    }
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .unwrap();
    eventually("the copy is gone", Duration::from_secs(15), || {
        !dir.path().join("names.txt").exists()
    })
    .await;
    let saved = store::parse_index(&std::fs::read(dir.path().join("metadata.json")).unwrap());
    assert_eq!(saved.expect("metadata.json parses"), []);
    assert!(node.peer.file(&meta.file_id).is_none());
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_found_copy_of_a_file_its_owner_deleted_is_removed_not_taken_for_ours() {
    // A Python peer's folder holding PROF's bitcoin.pdf, which PROF deleted before our start.
    let dir = python_folder(&["bitcoin.pdf"]);
    let bitcoin = "477182823f9d5d51587946a9d51431003014bb53169329ac50f39a194521aaf3";
    remember_delete(&Store::open(dir.path()).unwrap().0, bitcoin, "PROF");
    let node = Node::start(NodeConfig::for_test("us", dir.path().to_path_buf()))
        .await
        .unwrap();
    eventually(
        "the deleted file's copy is removed",
        Duration::from_secs(15),
        || !dir.path().join("bitcoin.pdf").exists(),
    )
    .await;
    assert!(node
        .peer
        .files()
        .iter()
        .all(|f| f.file_name != "bitcoin.pdf"));
    node.shutdown().await.unwrap();
}
