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
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(name))
        .unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .unwrap();
}

#[test]
fn rebuilds_the_index_from_the_folder_with_the_real_ids() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "bitcoin.pdf", 1749713822);
    place(dir.path(), "names.txt", 1749713836);
    let (_store, index, report) = Store::open(dir.path(), "PROF").unwrap();
    assert!(report.rebuilt);
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
    let (_store, index, report) = Store::open(dir.path(), "me").unwrap();
    let aside = report.corrupt_moved_to.expect("moved aside");
    assert_eq!(std::fs::read(aside).unwrap(), b"{ not json");
    assert_eq!(index.len(), 1);
}

#[test]
fn python_metadata_loads_and_saves_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(fixture("class-network-metadata.json")).unwrap();
    std::fs::write(dir.path().join(METADATA), &original).unwrap();
    let (store, index, report) = Store::open(dir.path(), "me").unwrap();
    assert!(!report.rebuilt);
    assert_eq!(index.len(), 22);
    // No copies are in the folder, so none is claimed.
    assert!(index.iter().all(|e| e.stored_as.is_none()));
    let elden = index
        .iter()
        .find(|e| e.meta.file_id.starts_with("1c1c5194"))
        .unwrap();
    assert_eq!(elden.meta.file_timestamp.json(), "1750034796.9022326");
    assert_eq!(elden.meta.file_size.json(), "922");

    store.save(|| index.clone()).unwrap();
    let (_store, again, _) = Store::open(dir.path(), "me").unwrap();
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

#[tokio::test]
async fn same_names_both_survive_and_hostile_names_stay_inside() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path(), "me").unwrap();
    let mut names = Vec::new();
    for (content, name) in [
        (&b"one"[..], "../../x"),
        (b"two", "../../x"),
        (b"three", "/etc/passwd"),
    ] {
        let mut temp = store.temp_file().await.unwrap();
        temp.write(content).await.unwrap();
        let id = temp.file_id(&Verbatim::integer(1));
        names.push(store.commit(temp, name, &id).await.unwrap());
    }
    assert_eq!(names[0], "_.._x");
    assert_ne!(names[0], names[1]);
    assert_eq!(names[2], "_etc_passwd");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(on_disk, expected);
    assert_eq!(std::fs::read(dir.path().join(&names[1])).unwrap(), b"two");
}

#[tokio::test]
async fn a_dropped_temp_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = Store::open(dir.path(), "me").unwrap();
    let mut temp = store.temp_file().await.unwrap();
    temp.write(b"partial").await.unwrap();
    drop(temp);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
