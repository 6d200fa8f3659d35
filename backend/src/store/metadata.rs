//! The layout of `metadata.json`: our entries, a superset of the Python peers' layout, so
//! their files load too. Values from the wire are kept verbatim.

use crate::protocol::{FileMeta, Verbatim};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
pub(super) struct StoredEntry {
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

/// The entries of a `metadata.json` (ours or the Python peers' layout); `None` when the bytes
/// are not one.
pub fn parse_index(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    let map: BTreeMap<String, StoredEntry> = serde_json::from_slice(bytes).ok()?;
    Some(map.into_values().map(IndexEntry::from).collect())
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
