//! The storage folder and `metadata.json`: the only code that touches the disk.
//!
//! Invariants: every write is atomic (a hidden temporary file in the folder, renamed into place
//! only when complete and, for received files, verified); a stored file is never overwritten
//! (two files with the same name both survive under different names); names from the network
//! never become paths (see [`names`]); a corrupt `metadata.json` is renamed aside, never lost.

mod names;
pub mod tombstones;

use crate::protocol::{FileMeta, IdHasher, Verbatim};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

const METADATA: &str = "metadata.json";
/// Prefix of temporary files; hidden, so a rescan never mistakes them for content.
const TEMP_PREFIX: &str = ".tmp-";
/// The log file's name (hidden for the same reason).
pub const LOG_FILE: &str = ".peer.log";

/// One file of the index as it is persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The wire description, values verbatim.
    pub meta: FileMeta,
    /// Peers recorded as holding a copy.
    pub holders: Vec<String>,
    /// Our copy's name in the storage folder, if we hold one.
    pub stored_as: Option<String>,
}

/// `metadata.json`'s entry layout, a superset of the Python peers' (`has_copy`,
/// `peers_with_file`), so their files load too.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    file_name: String,
    file_size: Verbatim,
    file_id: String,
    file_owner: String,
    file_timestamp: Verbatim,
    #[serde(with = "yes_no")]
    has_copy: bool,
    #[serde(default)]
    peers_with_file: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored_as: Option<String>,
}

/// `has_copy` is `"yes"`/`"no"` in the Python layout; accept booleans too.
mod yes_no {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *v { "yes" } else { "no" })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum YesNo {
            Bool(bool),
            Text(String),
        }
        Ok(match YesNo::deserialize(d)? {
            YesNo::Bool(b) => b,
            YesNo::Text(t) => t.eq_ignore_ascii_case("yes") || t.eq_ignore_ascii_case("true"),
        })
    }
}

/// What opening the folder found, besides the index.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Where a corrupt `metadata.json` was moved.
    pub corrupt_moved_to: Option<PathBuf>,
    /// The index was rebuilt by scanning the folder.
    pub rebuilt: bool,
    /// Files found in the folder but not in the index, now added as ours.
    pub adopted: usize,
}

/// The storage folder. Cheap to share behind an `Arc`; methods are safe to call concurrently.
pub struct Store {
    dir: PathBuf,
    /// Serialises choosing a free name and renaming into it, so two commits never collide.
    naming: Mutex<()>,
    /// Serialises writes of `metadata.json`: a background save still running when its task
    /// was stopped and the final save at shutdown share one temporary file.
    saving: Mutex<()>,
}

/// A file being received or imported: written to a hidden temporary file and hashed on the way.
/// Dropped without [`Store::commit`], it is deleted.
pub struct TempFile {
    path: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    hasher: IdHasher,
    len: u64,
    committed: bool,
}

impl TempFile {
    /// Appends content.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.file.write_all(bytes).await
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of what was written, announced with `timestamp`.
    pub fn file_id(&self, timestamp: &Verbatim) -> String {
        self.hasher.clone().finish(timestamp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Store {
    /// Opens (creating) the folder and loads the index: from `metadata.json`, or by scanning the
    /// folder when it is absent or unreadable. Files present but unknown are adopted as owned
    /// by `owner`; entries whose copy vanished lose `stored_as`.
    pub fn open(dir: &Path, owner: &str) -> io::Result<(Store, Vec<IndexEntry>, OpenReport)> {
        std::fs::create_dir_all(dir)?;
        let store = Store {
            dir: dir.to_path_buf(),
            naming: Mutex::new(()),
            saving: Mutex::new(()),
        };
        let mut report = OpenReport::default();
        store.remove_leftover_temp_files()?;
        let mut index = match std::fs::read(dir.join(METADATA)) {
            Ok(bytes) => match parse_index(&bytes) {
                Some(index) => index,
                None => {
                    let aside = dir.join(format!("{METADATA}.corrupt-{}", unix_now()));
                    std::fs::rename(dir.join(METADATA), &aside)?;
                    report.corrupt_moved_to = Some(aside);
                    report.rebuilt = true;
                    Vec::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                report.rebuilt = true;
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let present = store.content_names()?;
        let mut claimed: Vec<String> = Vec::new();
        for entry in &mut index {
            if entry.stored_as.as_deref() == Some("") {
                // The Python layout has no `stored_as`: its copies sit under their plain names.
                entry.stored_as = Some(names::sanitize(&entry.meta.file_name));
            }
            // A copy must exist, and one file backs one entry only.
            entry.stored_as = entry
                .stored_as
                .take()
                .filter(|name| present.contains(name) && !claimed.contains(name));
            claimed.extend(entry.stored_as.clone());
        }
        for name in present {
            if !claimed.contains(&name) {
                index.push(store.adopt(&name, owner)?);
                report.adopted += 1;
            }
        }
        Ok((store, index, report))
    }

    /// Names of the content files in the folder (not hidden, not metadata).
    fn content_names(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with(METADATA) || !entry.file_type()?.is_file()
            {
                continue;
            }
            out.push(name);
        }
        out.sort();
        Ok(out)
    }

    fn remove_leftover_temp_files(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Indexes a file found in the folder: owned by us, timestamp = its integer mtime.
    fn adopt(&self, name: &str, owner: &str) -> io::Result<IndexEntry> {
        let path = self.dir.join(name);
        let mtime = std::fs::metadata(&path)?
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let timestamp = Verbatim::integer(mtime);
        let mut hasher = IdHasher::default();
        let mut file = std::fs::File::open(&path)?;
        let mut buf = vec![0; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok(IndexEntry {
            meta: FileMeta {
                file_id: hasher.finish(&timestamp),
                file_name: name.to_string(),
                file_size: size_in_mb(len),
                file_owner: owner.to_string(),
                file_timestamp: timestamp,
            },
            holders: Vec::new(),
            stored_as: Some(name.to_string()),
        })
    }

    /// Writes the index that `snapshot` gives to `metadata.json` atomically. One save at a
    /// time, and the snapshot is taken once it is this save's turn, so an older index never
    /// overwrites a newer one.
    pub fn save(&self, snapshot: impl FnOnce() -> Vec<IndexEntry>) -> io::Result<()> {
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        let index = snapshot();
        let map: BTreeMap<&str, StoredEntry> = index
            .iter()
            .map(|entry| {
                (
                    entry.meta.file_id.as_str(),
                    StoredEntry::from(entry.clone()),
                )
            })
            .collect();
        let json = serde_json::to_vec_pretty(&map).map_err(io::Error::other)?;
        let temp = self.dir.join(format!("{TEMP_PREFIX}{METADATA}"));
        {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&json)?;
            file.sync_all()?;
        }
        std::fs::rename(&temp, self.dir.join(METADATA))
    }

    /// Starts a temporary file for incoming content.
    pub async fn temp_file(&self) -> io::Result<TempFile> {
        let path = self
            .dir
            .join(format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(TempFile {
            path,
            file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            hasher: IdHasher::default(),
            len: 0,
            committed: false,
        })
    }

    /// Moves a complete temporary file into place under a safe, unused name derived from
    /// `file_name`; returns that name.
    pub async fn commit(
        &self,
        mut temp: TempFile,
        file_name: &str,
        file_id: &str,
    ) -> io::Result<String> {
        temp.file.flush().await?;
        temp.file.get_ref().sync_all().await?;
        let _naming = self.naming.lock().unwrap_or_else(|e| e.into_inner());
        let clean = names::sanitize(file_name);
        let name = names::candidates(&clean, file_id)
            .find(|name| !self.dir.join(name).exists())
            .expect("the candidates never end");
        std::fs::rename(&temp.path, self.dir.join(&name))?;
        temp.committed = true;
        Ok(name)
    }

    /// Copies a file from outside the folder into it (for `push`), as owned by `owner` with
    /// timestamp now; returns its entry.
    pub async fn import(&self, source: &Path, owner: &str) -> io::Result<IndexEntry> {
        let mut input = tokio::fs::File::open(source).await?;
        if !input.metadata().await?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let file_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut temp = self.temp_file().await?;
        let mut buf = vec![0; 256 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut input, &mut buf).await?;
            if n == 0 {
                break;
            }
            temp.write(&buf[..n]).await?;
        }
        self.commit_owned(temp, &file_name, owner).await
    }

    /// Commits content written by us (an import or an upload) as a new file owned by `owner`,
    /// timestamped now.
    pub async fn commit_owned(
        &self,
        temp: TempFile,
        file_name: &str,
        owner: &str,
    ) -> io::Result<IndexEntry> {
        let timestamp = Verbatim::integer(unix_now());
        let meta = FileMeta {
            file_id: temp.file_id(&timestamp),
            file_name: file_name.to_string(),
            file_size: size_in_mb(temp.len()),
            file_owner: owner.to_string(),
            file_timestamp: timestamp,
        };
        let stored_as = self.commit(temp, file_name, &meta.file_id).await?;
        Ok(IndexEntry {
            meta,
            holders: Vec::new(),
            stored_as: Some(stored_as),
        })
    }

    /// Opens a stored copy for reading; returns the file and its length.
    pub async fn open_file(&self, stored_as: &str) -> io::Result<(tokio::fs::File, u64)> {
        let file = tokio::fs::File::open(self.dir.join(stored_as)).await?;
        let len = file.metadata().await?.len();
        Ok((file, len))
    }

    /// Deletes a stored copy.
    pub fn remove(&self, stored_as: &str) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(stored_as)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The entries of a `metadata.json` (ours or the Python peers' layout); `None` when the bytes
/// are not one.
pub fn parse_index(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    let map: BTreeMap<String, StoredEntry> = serde_json::from_slice(bytes).ok()?;
    Some(map.into_values().map(IndexEntry::from).collect())
}

/// The canonical `file_size`: bytes / 1048576 as an unrounded float.
pub fn size_in_mb(bytes: u64) -> Verbatim {
    Verbatim::float(bytes as f64 / 1048576.0)
}

impl From<StoredEntry> for IndexEntry {
    fn from(e: StoredEntry) -> Self {
        IndexEntry {
            meta: FileMeta {
                file_id: e.file_id,
                file_name: e.file_name,
                file_size: e.file_size,
                file_owner: e.file_owner,
                file_timestamp: e.file_timestamp,
            },
            holders: e.peers_with_file,
            stored_as: if e.has_copy {
                e.stored_as.or(Some(String::new()))
            } else {
                None
            },
        }
    }
}

impl From<IndexEntry> for StoredEntry {
    fn from(e: IndexEntry) -> Self {
        StoredEntry {
            file_name: e.meta.file_name,
            file_size: e.meta.file_size,
            file_id: e.meta.file_id,
            file_owner: e.meta.file_owner,
            file_timestamp: e.meta.file_timestamp,
            has_copy: e.stored_as.is_some(),
            peers_with_file: e.holders,
            stored_as: e.stored_as,
        }
    }
}

#[cfg(test)]
mod tests;
