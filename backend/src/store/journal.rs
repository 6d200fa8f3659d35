//! The commit journal: one small hidden file per file landing in the storage folder. It is
//! written and synced before the content is renamed into place, and deleted only once a saved
//! `metadata.json` lists the entry. After a crash, the journals left behind say which content
//! files landed since the last save and under which id, so the start-up scan never takes them
//! for unknown files (which it would adopt as ours, under a new id).

use super::{IndexEntry, StoredEntry};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix of journal files (hidden, so reserved: see `names::is_reserved`).
pub const PREFIX: &str = ".commit-";

/// Whether `name` is a journal's: [`PREFIX`] then the random suffix [`write`] gives it. A
/// Python peer's folder may hold content named `.commit-notes.txt`: that is not ours to read
/// or delete.
pub fn is_journal(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .is_some_and(super::names::is_random_suffix)
}

/// What a journal file holds.
#[derive(Serialize, Deserialize)]
struct Record {
    entry: StoredEntry,
    /// The content's length, checked at replay: a file of another length under the same name
    /// is not the one that landed.
    len: u64,
}

/// A complete journal found in the folder.
pub struct Found {
    pub path: PathBuf,
    pub entry: IndexEntry,
    pub len: u64,
}

/// Writes and syncs the journal of `entry` (whose `stored_as` is set); returns its path.
pub fn write(dir: &Path, entry: &IndexEntry, len: u64) -> io::Result<PathBuf> {
    let record = Record {
        entry: StoredEntry::from(entry.clone()),
        len,
    };
    let json = serde_json::to_vec(&record).map_err(io::Error::other)?;
    let path = dir.join(format!("{PREFIX}{:016x}", rand::random::<u64>()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let written = file.write_all(&json).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// Every journal in `dir` (named as [`is_journal`] says; other files are left alone). A
/// journal cut short by a crash never parses (a JSON object is only complete at its last
/// byte); it is deleted, since the content it announced was never renamed into place. One
/// that cannot be read at all is an error: it may protect a file that would otherwise be
/// taken for one of ours.
pub fn read_all(dir: &Path) -> io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if !is_journal(&name) || !item.file_type()?.is_file() {
            continue;
        }
        let path = item.path();
        let bytes = std::fs::read(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
        })?;
        match serde_json::from_slice::<Record>(&bytes).ok() {
            Some(record) => found.push(Found {
                path,
                entry: IndexEntry::from(record.entry),
                len: record.len,
            }),
            None => remove(&path)?,
        }
    }
    Ok(found)
}

/// Deletes a journal; one already gone is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
