use super::*;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a fixture into `dir` with the given mtime.
fn place(dir: &Path, name: &str, mtime: u64) {
    std::fs::copy(fixture(name), dir.join(name)).unwrap();
    set_mtime(dir, name, mtime);
}

/// Sets `name`'s modification time `secs` seconds after the epoch.
fn set_mtime(dir: &Path, name: &str, secs: u64) {
    set_modified(dir, name, UNIX_EPOCH + Duration::from_secs(secs));
}

/// Sets `name`'s modification time.
fn set_modified(dir: &Path, name: &str, time: std::time::SystemTime) {
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(name))
        .unwrap();
    file.set_modified(time).unwrap();
}

#[tokio::test]
async fn adopts_files_found_in_the_folder_with_the_real_ids() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "bitcoin.pdf", 1749713822);
    place(dir.path(), "names.txt", 1749713836);
    let (store, index, report) = Store::open(dir.path()).unwrap();
    assert!(report.rebuilt);
    assert!(index.is_empty());
    let mut index = Vec::new();
    for name in &report.to_adopt {
        index.push(
            store
                .adopt(name, "PROF", Vec::new(), |_| false)
                .await
                .unwrap(),
        );
    }
    let ids: Vec<(&str, &str)> = index
        .iter()
        .map(|e| (e.meta.file_name.as_str(), e.meta.file_id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (
                "bitcoin.pdf",
                "477182823f9d5d51587946a9d51431003014bb53169329ac50f39a194521aaf3"
            ),
            (
                "names.txt",
                "ec51d2db09c604ea76a5891229095f9ecb258ad18a48ff657161ec95b6b82b58"
            ),
        ]
    );
    assert_eq!(index[0].meta.file_size.json(), "0.17575454711914062");
    assert_eq!(index[0].meta.file_owner, "PROF");
}

#[test]
fn corrupt_metadata_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(METADATA), b"{ not json").unwrap();
    place(dir.path(), "names.txt", 1749713836);
    let (_store, index, report) = Store::open(dir.path()).unwrap();
    let aside = report.corrupt_moved_to.expect("moved aside");
    assert_eq!(std::fs::read(aside).unwrap(), b"{ not json");
    assert!(index.is_empty());
    assert_eq!(report.to_adopt, ["names.txt"]);
}

#[test]
fn odd_entries_load_and_those_without_id_or_timestamp_are_left_out_with_the_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    let odd = r#"{
        "a": {"file_id": "a", "file_name": 42, "file_owner": null, "has_copy": 1,
              "peers_with_file": null, "file_timestamp": 1750034796},
        "b": {"file_id": "b", "file_name": "b.txt", "file_owner": "PROF", "has_copy": null,
              "file_size": null, "file_timestamp": "Sun Jun 15 2025", "peers_with_file": ["x", 3]},
        "c": {"file_name": "no id.txt", "has_copy": "yes", "file_timestamp": 1},
        "d": "not an entry",
        "e": {"file_id": "e", "file_name": "no timestamp.txt", "has_copy": "yes"}
    }"#;
    let bytes = [&b"\xef\xbb\xbf"[..], odd.as_bytes()].concat(); // a BOM, as some editors write
    std::fs::write(dir.path().join(METADATA), &bytes).unwrap();
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(!report.rebuilt);
    let a = entry(&index, "a");
    assert_eq!(
        (a.meta.file_name.as_str(), a.meta.file_owner.as_str()),
        ("42", "")
    );
    assert_eq!(a.meta.file_size.json(), "0");
    assert_eq!(a.holders, Vec::<String>::new());
    assert!(
        a.stored_as.is_none(),
        "held, but its copy is not in the folder"
    );
    assert_eq!(report.lost, 1);
    let b = entry(&index, "b");
    assert_eq!(b.meta.file_timestamp.json(), "\"Sun Jun 15 2025\"");
    assert_eq!(b.meta.file_size.json(), "null");
    assert_eq!(b.holders, ["x"]);
    assert!(b.stored_as.is_none());
    assert_eq!(index.len(), 2);
    let (skipped, aside) = report.skipped.expect("three left out");
    assert_eq!(skipped, 3);
    assert_eq!(std::fs::read(aside).unwrap(), bytes);
}

#[test]
fn python_metadata_loads_and_saves_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(fixture("class-network-metadata.json")).unwrap();
    std::fs::write(dir.path().join(METADATA), &original).unwrap();
    let (store, index, report) = Store::open(dir.path()).unwrap();
    assert!(!report.rebuilt);
    assert_eq!(index.len(), 22);
    let kept = report.python_kept.expect("the Python peer's file is kept");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), original);
    // No copies are in the folder, so none is claimed.
    assert!(index.iter().all(|e| e.stored_as.is_none()));
    let elden = index
        .iter()
        .find(|e| e.meta.file_id.starts_with("1c1c5194"))
        .unwrap();
    assert_eq!(elden.meta.file_timestamp.json(), "1750034796.9022326");
    assert_eq!(elden.meta.file_size.json(), "922");

    store.save(|| index.clone()).unwrap();
    drop(store);
    let (_store, again, _) = Store::open(dir.path()).unwrap();
    assert_eq!(again, index);
    // Every foreign value is written back exactly as it was captured.
    let saved = std::fs::read_to_string(dir.path().join(METADATA)).unwrap();
    for token in [
        "2.8e-05",
        "1744169352.0",
        "1.239776611328125e-05",
        "1750034796.9022326",
    ] {
        assert!(original.contains(token) && saved.contains(token), "{token}");
    }
}

/// A Python peer's `metadata.json` entry for `content`, held, under `name`.
fn python_entry(content: &[u8], name: &str, timestamp: &str) -> (String, serde_json::Value) {
    let id = crate::protocol::file_id(content, &Verbatim::parse(timestamp).unwrap());
    let entry = serde_json::json!({
        "file_id": id,
        "file_name": name,
        "file_owner": "Starscourge Radahn",
        "file_timestamp": serde_json::from_str::<serde_json::Value>(timestamp).unwrap(),
        "file_size": 0.0009,
        "has_copy": "yes",
        "peers_with_file": ["nanday"],
    });
    (id, entry)
}

#[tokio::test]
async fn a_python_copy_that_two_entries_name_backs_the_one_its_content_hashes_to() {
    let dir = tempfile::tempdir().unwrap();
    let (first, first_entry) = python_entry(b"first", "EldenRing.txt", "1750034796.5");
    let (second, second_entry) = python_entry(b"second", "EldenRing.txt", "1750035094.25");
    let metadata = serde_json::json!({ &first: first_entry, &second: second_entry });
    std::fs::write(dir.path().join(METADATA), metadata.to_string()).unwrap();
    // The Python peer stored the second file over the first.
    std::fs::write(dir.path().join("EldenRing.txt"), b"second").unwrap();
    let (store, index, report) = Store::open(dir.path()).unwrap();
    assert!(index.iter().all(|e| e.stored_as.is_none()), "{index:?}");
    assert_eq!(report.lost, 0);
    assert_eq!(report.to_adopt, ["EldenRing.txt"]);
    let fits = report.candidates["EldenRing.txt"].clone();
    let adopted = store
        .adopt("EldenRing.txt", "me", fits, |_| false)
        .await
        .unwrap();
    assert_eq!(adopted.meta.file_id, second);
    assert_eq!(adopted.meta.file_owner, "Starscourge Radahn");
    assert_eq!(adopted.stored_as.as_deref(), Some("EldenRing.txt"));
}

/// What start-up makes of the file `name` found in the folder: the entry of the candidate
/// its content fits, else a new one of ours.
async fn adopted(store: &Store, report: &OpenReport, name: &str) -> IndexEntry {
    let fits = report.candidates.get(name).cloned().unwrap_or_default();
    store.adopt(name, "me", fits, |_| false).await.unwrap()
}

#[tokio::test]
async fn a_python_copy_is_found_under_its_name_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let (id, draft) = python_entry(b"draft", "notes: draft.txt", "1750034796");
    let metadata = serde_json::json!({ &id: draft });
    std::fs::write(dir.path().join(METADATA), metadata.to_string()).unwrap();
    std::fs::write(dir.path().join("notes: draft.txt"), b"draft").unwrap();
    let (store, _, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.to_adopt, ["notes: draft.txt"]);
    let found = adopted(&store, &report, "notes: draft.txt").await;
    assert_eq!(found.meta.file_id, id);
    assert_eq!(found.stored_as.as_deref(), Some("notes: draft.txt"));
}

#[tokio::test]
async fn a_python_copy_that_is_not_what_its_entry_says_is_not_taken_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (id, draft) = python_entry(b"draft", "draft.txt", "1750034796");
    write_metadata(dir.path(), vec![(id.clone(), draft)]);
    std::fs::write(dir.path().join("draft.txt"), b"edited since").unwrap();
    let (store, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(entry(&index, &id).stored_as, None);
    assert_eq!(report.to_adopt, ["draft.txt"]);
    let found = adopted(&store, &report, "draft.txt").await;
    assert_ne!(found.meta.file_id, id);
    assert_eq!(found.meta.file_owner, "me");
}

#[tokio::test]
async fn a_file_found_under_the_name_of_an_entry_not_held_is_taken_for_it_by_its_content() {
    let dir = tempfile::tempdir().unwrap();
    // The Python peer lists another peer's file of that name as held, and PROF's as not
    // held; the file in the folder is PROF's.
    let (prof, mut not_held) = python_entry(b"PROF's", "names.txt", "1749713836");
    let (other, held) = python_entry(b"another", "names.txt", "1750034796");
    not_held["has_copy"] = "no".into();
    write_metadata(dir.path(), vec![(prof.clone(), not_held), (other, held)]);
    std::fs::write(dir.path().join("names.txt"), b"PROF's").unwrap();
    let (store, _, report) = Store::open(dir.path()).unwrap();
    let found = adopted(&store, &report, "names.txt").await;
    assert_eq!(found.meta.file_id, prof);
}

#[tokio::test]
async fn same_names_both_survive_and_hostile_names_stay_inside() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut names = Vec::new();
    for (content, name) in [
        (&b"one"[..], "../../x"),
        (b"two", "../../x"),
        (b"three", "/etc/passwd"),
    ] {
        names.push(land(&store, content, name, "alice").await.0);
    }
    assert_eq!(names[0], "_.._x");
    assert_ne!(names[0], names[1]);
    assert_eq!(names[2], "_etc_passwd");
    let on_disk: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(on_disk, expected);
    assert_eq!(std::fs::read(dir.path().join(&names[1])).unwrap(), b"two");
}

#[tokio::test]
async fn a_dropped_temp_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut temp = store.temp_file().await.unwrap();
    temp.write(b"partial").await.unwrap();
    drop(temp);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn pieces_of_every_size_written_both_ways_land_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let content: Vec<u8> = (0..9 * pipeline::PIECE + 777)
        .map(|i| (i * 131 + i / 4099) as u8)
        .collect();
    let mut temp = store.temp_file().await.unwrap();
    let sizes = [
        1,
        pipeline::PIECE,
        4095,
        pipeline::PIECE / 2 + 1,
        3 * pipeline::PIECE,
    ];
    let (mut rest, mut placed) = (&content[..], Piece::new());
    for (i, size) in sizes.iter().cycle().enumerate() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at((*size).min(rest.len()));
        if i % 2 == 0 {
            temp.write(piece).await.unwrap();
        } else {
            placed.buf().extend_from_slice(piece);
            temp.write_piece(&mut placed).await.unwrap();
        }
        rest = after;
    }
    let timestamp = Verbatim::integer(1749713822);
    assert_eq!(
        temp.file_id(&timestamp).await.unwrap(),
        crate::protocol::file_id(&content, &timestamp)
    );
    assert_eq!(temp.len(), content.len() as u64);
    let meta = FileMeta {
        file_id: crate::protocol::file_id(&content, &timestamp),
        file_name: "big.bin".to_string(),
        file_size: size_in_mb(content.len() as u64),
        file_owner: "PROF".to_string(),
        file_timestamp: timestamp,
    };
    let stored_as = store.commit(temp, &meta).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join(stored_as)).unwrap(), content);
}

#[tokio::test]
async fn a_large_piece_placed_for_its_offset_is_handed_on_without_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut temp = store.temp_file().await.unwrap();
    // Made by the caller, not placed: copied, and a placed piece is left in its place.
    let mut piece = Piece::new();
    piece.buf().extend_from_slice(&[7; pipeline::PIECE / 2 + 1]);
    temp.write_piece(&mut piece).await.unwrap();
    for _ in 0..2 {
        piece.buf().extend_from_slice(&[7; pipeline::PIECE / 2 + 1]);
        let buffer = piece.content().as_ptr();
        temp.write_piece(&mut piece).await.unwrap();
        assert_ne!(piece.content().as_ptr(), buffer);
    }
}

/// Commits `content` as a verified copy of a file named `name` owned by `owner`; returns the
/// stored name and the description.
async fn land(store: &Store, content: &[u8], name: &str, owner: &str) -> (String, FileMeta) {
    let mut temp = store.temp_file().await.unwrap();
    temp.write(content).await.unwrap();
    let timestamp = Verbatim::integer(1749713822);
    let meta = FileMeta {
        file_id: temp.file_id(&timestamp).await.unwrap(),
        file_name: name.to_string(),
        file_size: size_in_mb(content.len() as u64),
        file_owner: owner.to_string(),
        file_timestamp: timestamp,
    };
    let stored_as = store.commit(temp, &meta).await.unwrap();
    (stored_as, meta)
}

/// The index entry of a held copy, as a save lists it.
fn held_entry(meta: FileMeta, stored_as: String) -> IndexEntry {
    IndexEntry {
        meta,
        holders: Vec::new(),
        stored_as: Some(stored_as),
    }
}

/// Every name in the folder, hidden ones included, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn journals(dir: &Path) -> usize {
    listing(dir)
        .iter()
        .filter(|n| n.starts_with(journal::PREFIX))
        .count()
}

/// The entry for `file_id`, after a restart.
fn entry<'a>(index: &'a [IndexEntry], file_id: &str) -> &'a IndexEntry {
    index
        .iter()
        .find(|e| e.meta.file_id == file_id)
        .expect("indexed")
}

#[tokio::test]
async fn a_received_file_keeps_its_id_across_a_crash_before_any_save() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"pushed to us", "notes.txt", "alice").await;
    drop(store); // killed: metadata.json was never written
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
    let kept = entry(&index, &meta.file_id);
    assert_eq!(kept.meta, meta);
    assert_eq!(kept.stored_as.as_deref(), Some(stored_as.as_str()));
}

#[tokio::test]
async fn our_new_file_keeps_its_id_across_a_crash_before_any_save() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut temp = store.temp_file().await.unwrap();
    temp.write(b"uploaded").await.unwrap();
    let ours = store
        .commit_owned(temp, "mine.txt", "me", |_| false)
        .await
        .unwrap();
    drop(store);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(report.to_adopt.is_empty());
    assert_eq!(index, [ours]);
}

#[tokio::test]
async fn our_new_file_waits_for_the_next_second_when_the_id_of_this_one_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut temp = store.temp_file().await.unwrap();
    temp.write(b"uploaded").await.unwrap();
    let refused = std::cell::RefCell::new(Vec::new());
    let started = unix_now();
    let ours = store
        .commit_owned(temp, "mine.txt", "me", |id| {
            let mut refused = refused.borrow_mut();
            refused.push(id.to_string());
            refused.len() == 1
        })
        .await
        .unwrap();
    let refused = refused.into_inner();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(ours.meta.file_id, refused[1]);
    assert_ne!(refused[0], refused[1]);
    let timestamp: u64 = ours.meta.file_timestamp.json().parse().unwrap();
    assert!(timestamp > started, "{timestamp} after {started}");
}

#[tokio::test]
async fn our_new_file_is_refused_when_the_ids_of_the_next_seconds_are_taken_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut temp = store.temp_file().await.unwrap();
    temp.write(b"uploaded").await.unwrap();
    let refused = store.commit_owned(temp, "mine.txt", "me", |_| true).await;
    assert_eq!(
        refused.map(|_| ()).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    let left = listing(dir.path());
    assert!(
        !left
            .iter()
            .any(|n| n.starts_with(TEMP_PREFIX) || n == "mine.txt"),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_crash_before_the_rename_leaves_neither_file_nor_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    drop(store);
    // The folder as the crash left it: journal written, content still under its temporary name.
    std::fs::rename(
        dir.path().join(&stored_as),
        dir.path().join(".tmp-0000000000000001"),
    )
    .unwrap();
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(index.iter().all(|e| e.meta.file_id != meta.file_id));
    assert!(report.to_adopt.is_empty());
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[tokio::test]
async fn a_journal_cut_short_by_a_crash_is_deleted_with_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, _) = land(&store, b"content", "notes.txt", "alice").await;
    drop(store);
    std::fs::rename(
        dir.path().join(&stored_as),
        dir.path().join(".tmp-0000000000000001"),
    )
    .unwrap();
    let journal = dir.path().join(
        listing(dir.path())
            .into_iter()
            .find(|n| n.starts_with(journal::PREFIX))
            .unwrap(),
    );
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..bytes.len() / 2]).unwrap();
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(index.is_empty());
    assert!(report.to_adopt.is_empty());
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[tokio::test]
async fn a_save_listing_a_landed_file_deletes_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    store.save(Vec::new).unwrap();
    assert_eq!(journals(dir.path()), 1, "a save without the entry keeps it");
    let listed = held_entry(meta, stored_as);
    store.save(|| vec![listed]).unwrap();
    assert_eq!(journals(dir.path()), 0);
}

#[tokio::test]
async fn a_crash_between_the_save_and_the_journal_deletion_keeps_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    let listed = held_entry(meta, stored_as);
    let journal = dir.path().join(
        listing(dir.path())
            .into_iter()
            .find(|n| n.starts_with(journal::PREFIX))
            .unwrap(),
    );
    let kept = std::fs::read(&journal).unwrap();
    store.save(|| vec![listed.clone()]).unwrap();
    drop(store);
    std::fs::write(&journal, kept).unwrap();
    let (store, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(index, [listed]);
    assert!(report.to_adopt.is_empty());
    store.save(|| index.clone()).unwrap();
    assert_eq!(
        journals(dir.path()),
        0,
        "the next save lists it and deletes the journal"
    );
}

#[tokio::test]
async fn a_journal_wins_over_an_older_entry_that_names_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (old_name, old) = land(&store, b"old", "notes.txt", "alice").await;
    let saved = held_entry(old.clone(), old_name.clone());
    store.save(|| vec![saved]).unwrap();
    store.queue_removal(&old_name); // its owner deleted it; no save since
    store.remove_now(&old_name).unwrap();
    let (new_name, new) = land(&store, b"new", "notes.txt", "bob").await;
    assert_eq!(new_name, old_name, "the freed name is reused");
    drop(store);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(entry(&index, &old.file_id).stored_as, None);
    assert_eq!(entry(&index, &new.file_id).stored_as, Some(new_name));
    assert!(report.to_adopt.is_empty());
}

#[tokio::test]
async fn an_older_duplicate_copy_is_removed_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (first, meta) = land(&store, b"twice", "notes.txt", "alice").await;
    let saved = held_entry(meta.clone(), first.clone());
    store.save(|| vec![saved]).unwrap();
    // A second copy replaced the first, and the crash came before the first was removed.
    let (second, _) = land(&store, b"twice", "notes.txt", "alice").await;
    drop(store);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(entry(&index, &meta.file_id).stored_as, Some(second.clone()));
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
    assert!(!dir.path().join(first).exists());
}

#[tokio::test]
async fn a_name_freed_and_taken_by_another_file_keeps_that_file_in_any_journal_order() {
    // Journal names are random, so the folder is read in another order each time.
    for _ in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        let (name, x) = land(&store, b"x", "notes.txt", "alice").await;
        let saved = held_entry(x.clone(), name.clone());
        store.save(|| vec![saved]).unwrap();
        // Deleted, then no save: metadata.json still lists x under the name.
        store.queue_removal(&name);
        store.remove_now(&name).unwrap();
        let (y_name, y) = land(&store, b"y", "notes.txt", "bob").await;
        assert_eq!(y_name, name, "the freed name is taken");
        let (x_again, _) = land(&store, b"x", "notes.txt", "carol").await;
        drop(store); // killed before any save
        let (_, index, report) = Store::open(dir.path()).unwrap();
        assert_eq!(entry(&index, &y.file_id).stored_as.as_ref(), Some(&name));
        assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), b"y");
        assert_eq!(entry(&index, &x.file_id).stored_as, Some(x_again.clone()));
        assert_eq!(std::fs::read(dir.path().join(&x_again)).unwrap(), b"x");
        assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
    }
}

#[tokio::test]
async fn two_journals_of_one_file_keep_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (first, meta) = land(&store, b"twice", "notes.txt", "alice").await;
    let (second, _) = land(&store, b"twice", "notes.txt", "alice").await;
    drop(store); // killed before any save, the second not yet refused
    let (store, index, report) = Store::open(dir.path()).unwrap();
    let kept = entry(&index, &meta.file_id).stored_as.clone().unwrap();
    assert!([&first, &second].contains(&&kept));
    let copies: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|n| !names::is_reserved(n))
        .collect();
    assert_eq!(copies, [kept]);
    assert_eq!(journals(dir.path()), 1);
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
    store.save(|| index.clone()).unwrap();
    assert_eq!(journals(dir.path()), 0, "the save lists the one kept");
}

#[test]
fn folders_named_like_journals_or_temporary_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        format!("{}0000000000000001", journal::PREFIX),
        format!("{TEMP_PREFIX}0001"),
    ] {
        std::fs::create_dir(dir.path().join(&name)).unwrap();
        std::fs::write(dir.path().join(&name).join("inside"), b"x").unwrap();
    }
    let before = listing(dir.path());
    Store::open(dir.path()).unwrap();
    assert_eq!(listing(dir.path()), before);
}

#[tokio::test]
async fn a_removed_file_leaves_no_journal_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, _) = land(&store, b"content", "notes.txt", "alice").await;
    store.queue_removal(&stored_as);
    store.remove_now(&stored_as).unwrap();
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[tokio::test]
async fn a_save_deletes_the_files_queued_for_removal_before_it_drops_their_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (kept, kept_meta) = land(&store, b"kept", "kept.txt", "alice").await;
    let (gone, _) = land(&store, b"gone", "gone.txt", "alice").await;
    let listed = held_entry(kept_meta, kept.clone());
    // The deletion queued, its task not run yet: were the index saved without the file
    // while the file stayed, a crash would let the next start adopt it as a new file.
    store.queue_removal(&gone);
    store.save(|| vec![listed]).unwrap();
    assert_eq!(listing(dir.path()), [kept.as_str(), "metadata.json"]);
    drop(store);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(index.len(), 1);
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
}

#[tokio::test]
async fn a_name_queued_for_removal_is_not_given_to_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (first, first_meta) = land(&store, b"first", "notes.txt", "alice").await;
    // Saved, so only the queue keeps its name from being taken again.
    let listed = held_entry(first_meta, first.clone());
    store.save(|| vec![listed]).unwrap();
    store.queue_removal(&first);
    std::fs::remove_file(dir.path().join(&first)).unwrap();
    let (second, _) = land(&store, b"second", "notes.txt", "alice").await;
    assert_ne!(first, second);
    store.save(Vec::new).unwrap();
    assert!(dir.path().join(&second).exists());
}

#[test]
fn files_put_in_the_folder_are_listed_for_adoption_not_indexed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "names.txt", 1749713836);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(index.is_empty());
    assert_eq!(report.to_adopt, ["names.txt"]);
}

#[test]
fn a_second_corrupt_metadata_does_not_overwrite_the_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(METADATA), b"first").unwrap();
    let (_, _, first) = Store::open(dir.path()).unwrap();
    std::fs::write(dir.path().join(METADATA), b"second").unwrap();
    let (_, _, second) = Store::open(dir.path()).unwrap();
    let (first, second) = (
        first.corrupt_moved_to.unwrap(),
        second.corrupt_moved_to.unwrap(),
    );
    assert_ne!(first, second);
    assert_eq!(std::fs::read(first).unwrap(), b"first");
    assert_eq!(std::fs::read(second).unwrap(), b"second");
}

/// A file received under `name` (one that looks like ours) survives a save and a restart:
/// still held, under a name the scan keeps, with its bytes.
async fn check_survives_a_restart(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let content = format!("the file called {name}");
    let (stored_as, meta) = land(&store, content.as_bytes(), name, "alice").await;
    let listed = held_entry(meta.clone(), stored_as.clone());
    store.save(|| vec![listed]).unwrap();
    drop(store);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert!(report.to_adopt.is_empty(), "{name}: {:?}", report.to_adopt);
    assert_eq!(
        entry(&index, &meta.file_id).stored_as.as_deref(),
        Some(stored_as.as_str()),
        "{name} is still held"
    );
    assert_eq!(
        std::fs::read(dir.path().join(&stored_as)).unwrap(),
        content.as_bytes(),
        "{name}"
    );
}

#[tokio::test]
async fn a_file_named_metadata_json_survives_a_restart() {
    check_survives_a_restart("metadata.json").await;
}

#[tokio::test]
async fn a_file_named_metadata_json_txt_survives_a_restart() {
    check_survives_a_restart("metadata.json.txt").await;
}

#[tokio::test]
async fn a_file_named_metadata_jsonx_survives_a_restart() {
    check_survives_a_restart("metadata.jsonx").await;
}

#[tokio::test]
async fn a_file_named_metadata_json_bak_survives_a_restart() {
    check_survives_a_restart("metadata.json.bak").await;
}

#[tokio::test]
async fn a_file_named_like_a_corrupt_metadata_aside_survives_a_restart() {
    check_survives_a_restart("metadata.json.corrupt-1749713822").await;
}

#[tokio::test]
async fn a_file_named_like_a_temporary_file_survives_a_restart() {
    check_survives_a_restart(".tmp-0123456789abcdef").await;
}

#[tokio::test]
async fn a_file_named_like_the_temporary_metadata_survives_a_restart() {
    check_survives_a_restart(".tmp-metadata.json").await;
}

#[tokio::test]
async fn a_file_named_like_a_journal_survives_a_restart() {
    check_survives_a_restart(".commit-0123456789abcdef").await;
}

#[tokio::test]
async fn a_file_named_like_the_log_survives_a_restart() {
    check_survives_a_restart(".peer.log").await;
}

#[tokio::test]
async fn the_time_spent_hashing_writing_and_syncing_content_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    for step in Step::ALL {
        assert_eq!(store.spent().seconds(step), 0.0, "{step:?}");
    }
    let mut temp = store.temp_file().await.unwrap();
    temp.write(&vec![7; 3 * PIECE + 10]).await.unwrap();
    store
        .commit_owned(temp, "big.bin", "me", |_| false)
        .await
        .unwrap();
    for step in Step::ALL {
        assert!(store.spent().seconds(step) > 0.0, "{step:?}");
    }
}

#[tokio::test]
async fn an_entry_whose_copy_is_gone_is_reported_lost_and_kept_unheld() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    let listed = held_entry(meta.clone(), stored_as.clone());
    store.save(|| vec![listed]).unwrap();
    drop(store);
    std::fs::remove_file(dir.path().join(&stored_as)).unwrap();
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.lost, 1);
    assert_eq!(entry(&index, &meta.file_id).stored_as, None);
}

#[test]
fn a_removal_that_fails_stops_the_save_and_stays_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    // A directory cannot be removed as a file, whoever we are.
    std::fs::create_dir(dir.path().join("stuck")).unwrap();
    store.queue_removal("stuck");
    assert!(store.save(Vec::new).is_err());
    assert!(!dir.path().join(METADATA).exists(), "no index without it");
    std::fs::remove_dir(dir.path().join("stuck")).unwrap();
    store.save(Vec::new).unwrap();
    assert!(dir.path().join(METADATA).exists());
    assert!(lock(&store.inner.removing).is_empty());
}

#[test]
fn a_save_that_fails_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    // A file cannot be renamed over a folder that holds something.
    std::fs::create_dir_all(dir.path().join(METADATA).join("in the way")).unwrap();
    assert!(store.save(Vec::new).is_err());
    let left = listing(dir.path());
    assert!(!left.iter().any(|n| n.starts_with(TEMP_PREFIX)), "{left:?}");
}

/// An entry for a file known but not held.
fn unheld_entry(file_id: &str) -> IndexEntry {
    IndexEntry {
        meta: FileMeta {
            file_id: file_id.into(),
            file_name: format!("{file_id}.txt"),
            file_size: Verbatim::float(0.001),
            file_owner: "PROF".into(),
            file_timestamp: Verbatim::integer(1749713822),
        },
        holders: vec!["PROF".into()],
        stored_as: None,
    }
}

/// `metadata.json`'s inode: every write renames a new file over it.
fn metadata_inode(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir.join(METADATA)).unwrap().ino()
}

#[test]
fn a_save_of_the_index_last_written_leaves_metadata_json_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let one = vec![unheld_entry("a")];
    store.save(|| one.clone()).unwrap();
    let written = metadata_inode(dir.path());
    store.save(|| one.clone()).unwrap();
    assert_eq!(metadata_inode(dir.path()), written, "not rewritten");
    assert_eq!((store.saves(), store.saves_unchanged()), ((1, 0), 1));
    let two = vec![unheld_entry("a"), unheld_entry("b")];
    store.save(|| two.clone()).unwrap();
    assert_ne!(metadata_inode(dir.path()), written, "a change is written");
    assert_eq!((store.saves(), store.saves_unchanged()), ((2, 0), 1));
    drop(store);
    let (_, index, _) = Store::open(dir.path()).unwrap();
    assert_eq!(index.len(), 2);
}

#[test]
fn after_a_failed_save_the_index_is_written_even_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let one = vec![unheld_entry("a")];
    store.save(|| one.clone()).unwrap();
    // The failed save may have left anything in place of the index last written.
    std::fs::remove_file(dir.path().join(METADATA)).unwrap();
    std::fs::create_dir_all(dir.path().join(METADATA).join("in the way")).unwrap();
    assert!(store.save(|| vec![unheld_entry("b")]).is_err());
    std::fs::remove_dir_all(dir.path().join(METADATA)).unwrap();
    store.save(|| one.clone()).unwrap();
    assert_eq!(store.saves(), (2, 1));
    drop(store);
    let (_, index, _) = Store::open(dir.path()).unwrap();
    assert_eq!(index, one);
}

#[test]
fn a_save_of_the_deletes_that_fails_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join(tombstones::TOMBSTONES).join("in the way")).unwrap();
    assert!(store.save_tombstones(&[]).is_err());
    let left = listing(dir.path());
    assert!(!left.iter().any(|n| n.starts_with(TEMP_PREFIX)), "{left:?}");
}

#[tokio::test]
async fn importing_a_fifo_or_a_folder_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(&dir.path().join("storage")).unwrap();
    let fifo = dir.path().join("fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    for source in [fifo.as_path(), dir.path()] {
        // Opening the FIFO would wait for a writer: the timeout tells a hang from a refusal.
        let imported = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.import(source, "alice", |_| false),
        )
        .await
        .expect("refused, not stuck");
        let e = imported.expect_err("not a regular file");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{source:?}: {e}");
    }
}

#[test]
fn a_folder_opened_by_a_store_cannot_be_opened_by_another_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    // A temporary file of a transfer in flight, which a second store would delete.
    std::fs::write(dir.path().join(".tmp-0123456789abcdef"), b"arriving").unwrap();
    let second = Store::open(dir.path()).err().expect("refused");
    assert!(second.to_string().contains("in use"), "{second}");
    assert!(dir.path().join(".tmp-0123456789abcdef").exists());
    store.release();
    assert!(Store::open(dir.path()).is_ok());
}

/// What `work` logged at WARN or above, as text, with what it returned.
fn warnings_of<T>(work: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, work);
    let log = String::from_utf8(lock(&captured.0).clone()).unwrap();
    (out, log)
}

/// Writes a `metadata.json` of `entries` (key, entry) into `dir`; returns its bytes.
fn write_metadata(dir: &Path, entries: Vec<(String, serde_json::Value)>) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> = entries.into_iter().collect();
    let bytes = serde_json::to_vec(&map).unwrap();
    std::fs::write(dir.join(METADATA), &bytes).unwrap();
    bytes
}

#[test]
fn files_named_almost_like_journals_or_temporary_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = [
        ".commit-notes.txt",
        ".commit-00ff",
        ".tmp-draft.txt",
        ".tmp-metadata.json",
        ".tmp-0123456789ABCDEF",
    ];
    for name in theirs {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    let (_, index, report) = Store::open(dir.path()).unwrap();
    for name in theirs {
        let kept = std::fs::read_to_string(dir.path().join(name));
        assert_eq!(kept.ok().as_deref(), Some(name));
    }
    assert!(index.is_empty());
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
}

#[test]
fn our_leftover_temporary_files_and_cut_journals_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        ".tmp-0123456789abcdef",
        ".tmp-metadata.json-0123456789abcdef",
        ".tmp-.tombstones.json-0123456789abcdef",
        ".commit-0123456789abcdef",
    ] {
        std::fs::write(dir.path().join(name), b"{\"entry\":").unwrap();
    }
    Store::open(dir.path()).unwrap();
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[tokio::test]
async fn the_temporary_files_and_journals_we_make_are_named_as_start_up_expects() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let temp = store.temp_file().await.unwrap();
    let name = temp.path.file_name().unwrap().to_str().unwrap();
    assert!(names::is_temp(name), "{name}");
    let journal = journal::write(dir.path(), &unheld_entry("f"), 0).unwrap();
    let name = journal.file_name().unwrap().to_str().unwrap();
    assert!(journal::is_journal(name), "{name}");
}

#[tokio::test]
async fn python_copies_named_like_journals_or_temporary_files_stay_held() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    let mut held = Vec::new();
    for name in [".commit-notes.txt", ".tmp-draft.txt"] {
        let (id, python) = python_entry(name.as_bytes(), name, "1750034796");
        std::fs::write(dir.path().join(name), name).unwrap();
        entries.push((id.clone(), python));
        held.push((id, name));
    }
    write_metadata(dir.path(), entries);
    let (store, _, report) = Store::open(dir.path()).unwrap();
    for (id, name) in held {
        let found = adopted(&store, &report, name).await;
        assert_eq!(
            (found.meta.file_id, found.stored_as.as_deref()),
            (id, Some(name))
        );
        let kept = std::fs::read_to_string(dir.path().join(name));
        assert_eq!(kept.ok().as_deref(), Some(name));
    }
    assert_eq!(report.lost, 0);
}

#[tokio::test]
async fn a_hidden_python_copy_stays_held_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (id, python) = python_entry(b"SECRET=1", ".env", "1750034796");
    std::fs::write(dir.path().join(".env"), b"SECRET=1").unwrap();
    write_metadata(dir.path(), vec![(id.clone(), python)]);
    let (store, _, report) = Store::open(dir.path()).unwrap();
    let found = adopted(&store, &report, ".env").await;
    assert_eq!(found.stored_as.as_deref(), Some(".env"));
    assert_eq!(report.lost, 0);
    store.save(|| vec![found.clone()]).unwrap();
    drop(store);
    let (_, again, report) = Store::open(dir.path()).unwrap();
    assert_eq!(entry(&again, &id).stored_as.as_deref(), Some(".env"));
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
}

#[test]
fn an_entry_held_in_one_of_our_own_files_is_left_unheld_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LOG_FILE), b"our log").unwrap();
    let (id, python) = python_entry(b"our log", LOG_FILE, "1750034796");
    write_metadata(dir.path(), vec![(id.clone(), python)]);
    let ((_, index, _), log) = warnings_of(|| Store::open(dir.path()).unwrap());
    assert_eq!(entry(&index, &id).stored_as, None);
    assert!(log.contains(&id) && log.contains(LOG_FILE), "{log}");
    assert_eq!(
        std::fs::read(dir.path().join(LOG_FILE)).unwrap(),
        b"our log"
    );
}

/// A `metadata.json` entry of ours for `meta`, held in `stored_as`.
fn our_entry(meta: &FileMeta, stored_as: &str) -> serde_json::Value {
    let entry = held_entry(meta.clone(), stored_as.to_string());
    serde_json::to_value(StoredEntry::from(entry)).unwrap()
}

/// The description of `content` as alice's `notes.txt`.
fn notes(content: &[u8]) -> FileMeta {
    let timestamp = Verbatim::integer(1749713822);
    FileMeta {
        file_id: crate::protocol::file_id(content, &timestamp),
        file_name: "notes.txt".into(),
        file_size: size_in_mb(content.len() as u64),
        file_owner: "alice".into(),
        file_timestamp: timestamp,
    }
}

#[tokio::test]
async fn entries_of_one_id_holding_two_copies_leave_it_to_the_copy_that_hashes_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let meta = notes(b"right");
    std::fs::write(dir.path().join("a.txt"), b"wrong").unwrap();
    std::fs::write(dir.path().join("b.txt"), b"right").unwrap();
    write_metadata(
        dir.path(),
        vec![
            ("first".into(), our_entry(&meta, "a.txt")),
            ("second".into(), our_entry(&meta, "b.txt")),
        ],
    );
    let ((store, index, report), log) = warnings_of(|| Store::open(dir.path()).unwrap());
    assert!(log.contains(&meta.file_id), "{log}");
    assert_eq!(index.len(), 1, "{index:?}");
    assert_eq!(index[0].stored_as, None, "told by content, after the start");
    assert_eq!(report.to_adopt, ["a.txt", "b.txt"]);
    let right = adopted(&store, &report, "b.txt").await.meta;
    assert_eq!(
        (right.file_id, right.file_owner),
        (meta.file_id.clone(), meta.file_owner)
    );
    let wrong = adopted(&store, &report, "a.txt").await;
    assert_ne!(wrong.meta.file_id, meta.file_id);
    assert_eq!(wrong.meta.file_owner, "me");
}

#[test]
fn entries_of_one_id_keep_the_one_whose_copy_is_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let meta = notes(b"right");
    std::fs::write(dir.path().join("here.txt"), b"right").unwrap();
    write_metadata(
        dir.path(),
        vec![
            ("first".into(), our_entry(&meta, "gone.txt")),
            ("second".into(), our_entry(&meta, "here.txt")),
        ],
    );
    let ((_, index, report), log) = warnings_of(|| Store::open(dir.path()).unwrap());
    assert!(log.contains(&meta.file_id), "{log}");
    assert_eq!(index.len(), 1, "{index:?}");
    assert_eq!(index[0].stored_as.as_deref(), Some("here.txt"));
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
}

#[test]
fn entries_over_the_network_caps_are_left_out_with_a_warning_and_the_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    let caps = EntryCaps {
        max_name: 16,
        max_field: 64,
    };
    let (fits, at_the_caps) = python_entry(b"fits", "sixteen-bytes.md", "1750034796");
    let (long_name, named) = python_entry(b"name", "seventeen-bytes.m", "1750034796");
    let (long_owner, mut owned) = python_entry(b"owner", "owner.txt", "1750034796");
    owned["file_owner"] = "o".repeat(65).into();
    let (long_time, mut timed) = python_entry(b"time", "time.txt", "1750034796");
    timed["file_timestamp"] = "t".repeat(63).into(); // 65 bytes as JSON text
    std::fs::write(dir.path().join("seventeen-bytes.m"), b"name").unwrap();
    let bytes = write_metadata(
        dir.path(),
        vec![
            (fits.clone(), at_the_caps),
            (long_name.clone(), named),
            (long_owner.clone(), owned),
            (long_time.clone(), timed),
        ],
    );
    let ((_, index, report), log) =
        warnings_of(|| Store::open_with_caps(dir.path(), caps).unwrap());
    let ids: Vec<&str> = index.iter().map(|e| e.meta.file_id.as_str()).collect();
    assert_eq!(ids, [fits.as_str()]);
    let (skipped, aside) = report.skipped.expect("three left out");
    assert_eq!(skipped, 3);
    assert_eq!(std::fs::read(aside).unwrap(), bytes);
    for (id, why) in [
        (&long_name, "file_name is 17 bytes long (at most 16"),
        (&long_owner, "file_owner is 65 bytes long (at most 64"),
        (&long_time, "file_timestamp is 65 bytes long (at most 64"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(id) && l.contains(why)),
            "{log}"
        );
    }
    assert!(
        !log.contains(&"o".repeat(65)),
        "never the text itself: {log}"
    );
    assert_eq!(report.to_adopt, ["seventeen-bytes.m"], "its copy is found");
}

#[test]
fn a_metadata_json_that_cannot_be_read_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(METADATA)).unwrap();
    let e = Store::open(dir.path()).err().expect("refused").to_string();
    let path = dir.path().join(METADATA).display().to_string();
    assert!(e.contains(&path), "{e}");
}

#[tokio::test]
async fn a_copy_edited_while_the_peer_was_stopped_is_hashed_again_and_taken_as_ours() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    store
        .save(|| vec![held_entry(meta.clone(), stored_as.clone())])
        .unwrap();
    drop(store);
    // Edited in place: the same length, another content.
    std::fs::write(dir.path().join(&stored_as), b"CONTENT").unwrap();
    let (store, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(entry(&index, &meta.file_id).stored_as, None);
    assert_eq!(report.to_adopt, std::slice::from_ref(&stored_as));
    assert_eq!(report.changed, 1);
    let found = adopted(&store, &report, &stored_as).await;
    assert_ne!(found.meta.file_id, meta.file_id);
    assert_eq!(found.meta.file_owner, "me");
}

#[tokio::test]
async fn a_copy_only_touched_keeps_its_id_once_hashed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    store
        .save(|| vec![held_entry(meta.clone(), stored_as.clone())])
        .unwrap();
    drop(store);
    set_mtime(dir.path(), &stored_as, 1_000_000);
    let (store, _, report) = Store::open(dir.path()).unwrap();
    let found = adopted(&store, &report, &stored_as).await;
    assert_eq!(found.meta, meta);
    // Hashed, it is known as it is now: the next start takes it without hashing.
    store.save(|| vec![found.clone()]).unwrap();
    drop(store);
    let (_, index, report) = Store::open(dir.path()).unwrap();
    assert_eq!(index, [found]);
    assert!(report.to_adopt.is_empty());
}

#[tokio::test]
async fn a_copy_touched_between_two_times_before_1970_is_hashed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, meta) = land(&store, b"content", "notes.txt", "alice").await;
    let old = |secs_before| {
        set_modified(
            dir.path(),
            &stored_as,
            UNIX_EPOCH - Duration::from_secs(secs_before),
        );
    };
    old(1_000_000);
    // Known as it is now, when it was hashed: adopted again here.
    let known = adopted(&store, &OpenReport::default(), &stored_as).await;
    store
        .save(|| vec![held_entry(meta.clone(), stored_as.clone())])
        .unwrap();
    drop(store);
    assert_eq!(
        known.meta.file_timestamp.json(),
        "0",
        "no timestamp before 1970"
    );
    old(2_000_000);
    let (_, _, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.to_adopt, std::slice::from_ref(&stored_as));
}

#[tokio::test]
async fn a_copy_edited_while_the_peer_runs_is_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let (stored_as, _) = land(&store, b"content", "notes.txt", "alice").await;
    assert!(store.open_file(&stored_as).await.is_ok());
    std::fs::write(dir.path().join(&stored_as), b"content, and more").unwrap();
    let opened = store.open_file(&stored_as).await;
    assert_eq!(
        opened.err().map(|e| e.kind()),
        Some(io::ErrorKind::InvalidData)
    );
}

#[tokio::test]
async fn a_metadata_json_cut_short_keeps_the_entries_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path()).unwrap();
    let mut index = Vec::new();
    for (content, name) in [
        (&b"one"[..], "a.txt"),
        (b"two", "b.txt"),
        (b"three", "c.txt"),
    ] {
        let (stored_as, meta) = land(&store, content, name, "alice").await;
        index.push(held_entry(meta, stored_as));
    }
    index.sort_by(|a, b| a.meta.file_id.cmp(&b.meta.file_id));
    store.save(|| index.clone()).unwrap();
    drop(store);
    let saved = std::fs::read(dir.path().join(METADATA)).unwrap();
    // Cut in the middle of the last entry.
    let last = String::from_utf8_lossy(&saved)
        .rfind(&index[2].meta.file_id)
        .unwrap();
    std::fs::write(dir.path().join(METADATA), &saved[..last + 20]).unwrap();
    let (_, loaded, report) = Store::open(dir.path()).unwrap();
    assert_eq!(loaded, index[..2]);
    let (read, aside) = report.cut_short.expect("cut short");
    assert_eq!(read, 2);
    assert_eq!(std::fs::read(aside).unwrap(), &saved[..last + 20]);
    assert!(report.corrupt_moved_to.is_none());
    assert_eq!(report.to_adopt, [index[2].stored_as.clone().unwrap()]);
}

#[tokio::test]
async fn a_hidden_file_is_never_taken_for_a_new_file_of_ours() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), b"SECRET=1").unwrap();
    // A file named so, learned from gossip: no reason to look at ours.
    let mut learned = unheld_entry("learned");
    learned.meta.file_name = ".env".into();
    // A Python peer's entry that says it holds `.env`, for other content.
    let (id, python) = python_entry(b"other content", ".env", "1750034796");
    write_metadata(dir.path(), vec![(id, python)]);
    let (store, _, report) = Store::open(dir.path()).unwrap();
    assert_eq!(
        report.to_adopt,
        [".env"],
        "named by an entry that says it is held"
    );
    let fits = report.candidates[".env"].clone();
    let refused = store.adopt(".env", "me", fits, |_| false).await;
    assert!(refused.is_err(), "{refused:?}");
    drop(store);
    let unheld = serde_json::to_value(StoredEntry::from(learned)).unwrap();
    write_metadata(dir.path(), vec![("learned".into(), unheld)]);
    let (_, _, report) = Store::open(dir.path()).unwrap();
    assert!(report.to_adopt.is_empty(), "{:?}", report.to_adopt);
}
