//! Reading a storage folder from outside, as a crash left it: which stage the round's file
//! had reached, what `metadata.json` lists, which temporary files are there.

use anyhow::{Context, Result};
use backend::store;
use std::fs;
use std::path::Path;

/// How far the round's file had got in the killed peer's folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// No trace of it yet.
    NotStarted,
    /// Content arriving in a temporary file.
    Writing,
    /// Its commit journal written, the content not yet renamed into place.
    Journaled,
    /// In place under its name, not yet in `metadata.json`.
    Landed,
    /// Listed in `metadata.json`.
    Saved,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::NotStarted => "not started",
            Stage::Writing => "writing",
            Stage::Journaled => "journaled",
            Stage::Landed => "landed, unsaved",
            Stage::Saved => "saved",
        }
    }
}

/// The stage the file `name` had reached in a killed peer's folder.
pub fn stage(dir: &Path, name: &str) -> Stage {
    if held(dir, name) {
        return Stage::Saved;
    }
    let names = names_in(dir).unwrap_or_default();
    for journal in names
        .iter()
        .filter(|n| n.starts_with(store::JOURNAL_PREFIX))
    {
        let Some(stored_as) = journaled(&dir.join(journal), name) else {
            continue;
        };
        return if dir.join(stored_as).exists() {
            Stage::Landed
        } else {
            Stage::Journaled
        };
    }
    // Rounds run one at a time: content nobody lists is this round's file.
    let index = fs::read(dir.join("metadata.json"))
        .ok()
        .and_then(|bytes| store::parse_index(&bytes))
        .unwrap_or_default();
    let listed = |n: &String| index.iter().any(|e| e.stored_as.as_ref() == Some(n));
    if names.iter().any(|n| !store::is_reserved(n) && !listed(n)) {
        return Stage::Landed;
    }
    let metadata_temp = format!("{}metadata.json", store::TEMP_PREFIX);
    if names
        .iter()
        .any(|n| n.starts_with(store::TEMP_PREFIX) && !n.starts_with(&metadata_temp))
    {
        Stage::Writing
    } else {
        Stage::NotStarted
    }
}

/// The stored name a journal gives to the file `name`, if it is that file's journal.
fn journaled(path: &Path, name: &str) -> Option<String> {
    let record: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let entry = record.get("entry")?;
    if entry.get("file_name")?.as_str()? != name {
        return None;
    }
    Some(entry.get("stored_as")?.as_str()?.to_string())
}

/// Whether the folder's `metadata.json` lists `name` as held.
pub fn held(dir: &Path, name: &str) -> bool {
    fs::read(dir.join("metadata.json"))
        .ok()
        .and_then(|bytes| store::parse_index(&bytes))
        .is_some_and(|index| {
            index
                .iter()
                .any(|e| e.meta.file_name == name && e.stored_as.is_some())
        })
}

pub fn temp_files(dir: &Path) -> Result<Vec<String>> {
    Ok(names_in(dir)?
        .into_iter()
        .filter(|n| n.starts_with(store::TEMP_PREFIX))
        .collect())
}

pub fn names_in(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}
