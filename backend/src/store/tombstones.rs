//! The remembered DELETEs on disk: a hidden `.tombstones.json` in the storage folder, written
//! whole (temporary file, fsync, rename) and loaded at start. `metadata.json` keeps the Python
//! peers' layout; tombstones live beside it so that layout never changes.

use super::Store;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

pub(super) const TOMBSTONES: &str = ".tombstones.json";

/// `owner` deleted `file_id`; remembered until `expires`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The deleted file.
    pub file_id: String,
    /// The owner whose DELETE was obeyed.
    pub owner: String,
    /// Unix seconds.
    pub expires: u64,
    /// Whether the DELETE removed a copy we held, or we deleted the file ourselves: such
    /// tombstones are forgotten last when there are too many (absent in older files).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

impl Store {
    /// The saved tombstones not yet expired at `now` (Unix seconds); none when there is no
    /// file. An unreadable file is renamed aside (its new path is returned) and none are
    /// loaded. An error names the file at fault.
    pub fn load_tombstones(&self, now: u64) -> io::Result<(Vec<Tombstone>, Option<PathBuf>)> {
        let path = self.dir().join(TOMBSTONES);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
            Err(e) => return Err(super::failed(format!("cannot read {}", path.display()))(e)),
        };
        match serde_json::from_slice::<Vec<Tombstone>>(&bytes) {
            Ok(all) => Ok((all.into_iter().filter(|t| t.expires > now).collect(), None)),
            Err(_) => {
                let aside = self
                    .dir()
                    .join(format!("{TOMBSTONES}.corrupt-{}", super::unix_now()));
                std::fs::rename(&path, &aside).map_err(super::failed(format!(
                    "cannot move {} to {}",
                    path.display(),
                    aside.display()
                )))?;
                Ok((Vec::new(), Some(aside)))
            }
        }
    }

    /// Replaces the saved tombstones with `tombstones`, atomically and durably.
    pub fn save_tombstones(&self, tombstones: &[Tombstone]) -> io::Result<()> {
        let json = serde_json::to_vec(tombstones).map_err(io::Error::other)?;
        self.replace_durably(TOMBSTONES, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tombstone(id: &str, expires: u64) -> Tombstone {
        Tombstone {
            file_id: id.into(),
            owner: "PROF".into(),
            expires,
            held: false,
        }
    }

    #[test]
    fn a_file_of_an_older_version_loads_and_held_tombstones_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        let older = br#"[{"file_id":"f","owner":"PROF","expires":300}]"#;
        std::fs::write(dir.path().join(TOMBSTONES), older).unwrap();
        assert_eq!(store.load_tombstones(0).unwrap().0, [tombstone("f", 300)]);
        let held = Tombstone {
            held: true,
            ..tombstone("g", 300)
        };
        store.save_tombstones(std::slice::from_ref(&held)).unwrap();
        assert_eq!(store.load_tombstones(0).unwrap().0, [held]);
        let saved = std::fs::read_to_string(dir.path().join(TOMBSTONES)).unwrap();
        assert!(saved.contains(r#""held":true"#), "{saved}");
    }

    #[test]
    fn tombstones_round_trip_without_the_expired() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        store
            .save_tombstones(&[tombstone("old", 100), tombstone("new", 300)])
            .unwrap();
        let (loaded, aside) = store.load_tombstones(200).unwrap();
        assert_eq!(loaded, [tombstone("new", 300)]);
        assert_eq!(aside, None);
    }

    #[test]
    fn no_tombstone_file_is_no_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_tombstones(0).unwrap(), (Vec::new(), None));
    }

    #[test]
    fn a_corrupt_tombstone_file_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join(TOMBSTONES), b"{not json").unwrap();
        let (loaded, aside) = store.load_tombstones(0).unwrap();
        assert!(loaded.is_empty());
        let aside = aside.expect("moved aside");
        assert_eq!(std::fs::read(aside).unwrap(), b"{not json");
        assert!(!dir.path().join(TOMBSTONES).exists());
    }

    #[test]
    fn a_tombstone_file_that_cannot_be_read_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join(TOMBSTONES)).unwrap();
        let e = store.load_tombstones(0).unwrap_err().to_string();
        let path = dir.path().join(TOMBSTONES).display().to_string();
        assert!(e.contains(&path), "{e}");
    }

    #[test]
    fn the_tombstone_file_is_hidden_from_the_content_scan() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path()).unwrap();
        store.save_tombstones(&[tombstone("f", 300)]).unwrap();
        drop(store);
        let (_, index, report) = Store::open(dir.path()).unwrap();
        assert!(report.to_adopt.is_empty());
        assert!(index.is_empty());
    }
}
